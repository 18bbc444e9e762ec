/* apps/common: the open-file limit. */
#include "common/fdlimit.h"

#include <errno.h>
#include <sys/resource.h>

int app_raise_fd_limit(long need, long *was, long *now) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return -errno;
  long before = (long)rl.rlim_cur;
  int raised = 0;
  if (before < need) {
    rl.rlim_cur = rl.rlim_max;
    raised = setrlimit(RLIMIT_NOFILE, &rl) == 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) /* what is in force, either way */
      rl.rlim_cur = raised ? rl.rlim_max : (rlim_t)before;
  }
  if (was)
    *was = before;
  if (now)
    *now = (long)rl.rlim_cur;
  return raised;
}
