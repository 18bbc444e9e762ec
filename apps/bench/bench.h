/* iomux-bench: the modes, each in its own file. */
#ifndef IOMUX_BENCH_H
#define IOMUX_BENCH_H

/* `iomux-bench selector`: the cost of one wake-up against registered fds. */
int bench_selector(int argc, char **argv);

#endif
