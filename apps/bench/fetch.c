/* iomux-bench fetch: starting nginx pinned to one CPU, making 10,000 files
 * and a big one, running each client pinned to the other CPU and timing it
 * is a shell's job: fetch_bench.sh does it, with the iomux-fetch built
 * beside this program (or $IOMUX_FETCH). This only hands over. */
#include "fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bench_fetch(int argc, char **argv) {
  const char *fetch = getenv("IOMUX_FETCH");
  char **args = calloc((size_t)argc + 3, sizeof *args);
  if (!args)
    return 1;
  args[0] = "bash";
  args[1] = IOM_FETCH_BENCH_SCRIPT;
  args[2] = (char *)(fetch ? fetch : IOM_FETCH_BIN);
  for (int i = 1; i < argc; i++)
    args[i + 2] = argv[i];
  execvp("bash", args);
  perror("iomux-bench fetch: bash");
  free(args);
  return 1;
}
