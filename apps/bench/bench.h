/* iomux-bench: the modes, each in its own file. */
#ifndef IOMUX_BENCH_H
#define IOMUX_BENCH_H

/* `iomux-bench selector`: the cost of one wake-up against registered fds. */
int bench_selector(int argc, char **argv);

/* `iomux-bench load`: closed-loop load on an echo server, every byte
 * checked; throughput, latency, errors, and the server's CPU and memory. */
int bench_load(int argc, char **argv);

/* `iomux-bench compare`: start each echo model (and the libuv, libev and
 * libevent anchors), drive it with the load mode at several connection
 * counts, and write a report: table, CSV, JSON, SVG charts, report.html. */
int bench_compare(int argc, char **argv);

/* `iomux-bench chat`: clients in channels of an IRC server, senders at a
 * rate or in a closed loop; every delivery checked; deliveries/s, latency,
 * loss, and the server's CPU and memory. */
int bench_chat(int argc, char **argv);

#endif
