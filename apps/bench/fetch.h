/* iomux-bench fetch: iomux-fetch against curl --parallel, wget2 and
 * aria2c on a local nginx, and nginx's ceiling with wrk (fetch.c runs
 * fetch_bench.sh, which does the work). */
#ifndef IOMUX_BENCH_FETCH_H
#define IOMUX_BENCH_FETCH_H

int bench_fetch(int argc, char **argv);

#endif
