/* iomux-bench fetch: starting nginx pinned to one CPU, making 10,000 files
 * and a big one, running each client pinned to the other CPU and timing it
 * is a shell's job: fetch_bench.sh does it, with the iomux-fetch built
 * beside this program (or $IOMUX_FETCH). This checks the options, so they
 * are refused as every other mode refuses them, and hands over. */
#include "fetch.h"

#include "common/cli.h"
#include "common/parse.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define TOOL "iomux-bench fetch" /* how its messages start */

/* The script's options that take a number, and the numbers allowed. */
static const struct {
  const char *flag;
  long lo, hi;
} numbers[] = {
    {"--reps", 1, 99},
    {"--files", 1, 1000000},
    {"--conc", 1, 100000},
    {"--big-mib", 1, 65536},
};
#define NNUMBERS (int)(sizeof numbers / sizeof numbers[0])

int bench_fetch(int argc, char **argv) {
  static const struct option longs[] = {
      {"reps", required_argument, 0, 0},  {"files", required_argument, 0, 1},
      {"conc", required_argument, 0, 2},  {"big-mib", required_argument, 0, 3},
      {"quick", no_argument, 0, 'q'},     {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},   {0, 0, 0, 0}};
  char *values[NNUMBERS] = {0};
  int quick = 0, help = 0, c;
  long v;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
    if (c >= 0 && c < NNUMBERS) {
      if (app_parse_long(optarg, numbers[c].lo, numbers[c].hi, &v) < 0)
        return app_bad_value(TOOL, numbers[c].flag + 2, optarg);
      values[c] = optarg;
      continue;
    }
    switch (c) {
    case 'q': quick = 1; break;
    case 'h': help = 1; break;
    case 'V': return app_version("iomux-bench");
    default: return app_option_error(TOOL, c, argv);
    }
  }
  if (app_no_operands(TOOL, argc, argv))
    return 2;
  /* The script reads "--name value" in order, so it gets each option once
   * in that form: --quick first, so a number given with it wins. */
  const char *fetch = getenv("IOMUX_FETCH");
  char *args[4 + 2 * NNUMBERS + 1] = {"bash", IOM_FETCH_BENCH_SCRIPT,
                                      (char *)(fetch ? fetch : IOM_FETCH_BIN)};
  int n = 3;
  if (help || quick)
    args[n++] = help ? "--help" : "--quick";
  for (int i = 0; i < NNUMBERS && !help; i++)
    if (values[i]) {
      args[n++] = (char *)numbers[i].flag;
      args[n++] = values[i];
    }
  execvp("bash", args);
  perror(TOOL ": bash");
  return 1;
}
