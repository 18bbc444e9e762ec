/* apps/common: the monotonic clock. */
#include "common/clock.h"

#include <time.h>

uint64_t app_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail with these arguments */
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t app_now_ms(void) {
  return (int64_t)(app_now_ns() / 1000000u);
}

double app_now_s(void) {
  return (double)app_now_ns() / 1e9;
}
