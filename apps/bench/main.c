/* iomux-bench: the lab. Each mode measures one claim of the I/O-model texts
 * on this machine. */
#include "bench.h"
#include "fetch.h"

#include "common/cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *what;
} modes[] = {
    {"selector", bench_selector,
     "ns per wake-up with N idle fds registered, per backend"},
    {"load", bench_load,
     "closed-loop load on an echo server: msg/s, latency, server CPU"},
    {"compare", bench_compare,
     "every echo model under the same load: a table, report, charts"},
    {"chat", bench_chat,
     "chat load on an IRC server: deliveries/s, latency, loss, server CPU"},
    {"fetch", bench_fetch,
     "iomux-fetch vs curl --parallel, wget2, aria2c and wrk on nginx"},
};
#define NMODES (sizeof modes / sizeof modes[0])

static void usage(FILE *to) {
  fprintf(to, "usage: iomux-bench MODE [options]   (MODE --help for its "
              "options)\n"
              "       iomux-bench --help | --version\n\nmodes:\n");
  for (size_t i = 0; i < NMODES; i++)
    fprintf(to, "  %-10s %s\n", modes[i].name, modes[i].what);
}

int main(int argc, char **argv) {
  if (argc < 2)
    return app_usage_error("iomux-bench", "a MODE is needed");
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version"))
    return app_version("iomux-bench");
  for (size_t i = 0; i < NMODES; i++)
    if (!strcmp(argv[1], modes[i].name))
      return modes[i].run(argc - 1, argv + 1);
  return app_usage_error("iomux-bench", "unknown %s '%s'",
                         argv[1][0] == '-' ? "option" : "mode", argv[1]);
}
