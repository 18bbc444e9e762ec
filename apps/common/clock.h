/* apps/common: the monotonic clock, for deadlines, pauses, latencies and
 * run times in the apps.
 *
 * CLOCK_MONOTONIC never jumps when the wall clock is set (NTP, date -s), so
 * the difference of two readings is a true duration. Its zero is arbitrary
 * (boot, on Linux): subtract and compare readings, never print one. All
 * three read the same clock, so their readings may be mixed after scaling:
 * app_now_ms() is exactly app_now_ns() / 1,000,000, rounded down. Each is
 * one clock_gettime(), which Linux serves without a system call (vDSO). */
#ifndef IOMUX_APP_CLOCK_H
#define IOMUX_APP_CLOCK_H

#include <stdint.h>

/* Returns now in nanoseconds: for latencies and measured windows. Any
 * thread. */
uint64_t app_now_ns(void);

/* Returns now in milliseconds: for deadlines and pauses. Signed, so
 * `deadline - app_now_ms()` goes below zero when overdue instead of
 * wrapping. Any thread. */
int64_t app_now_ms(void);

/* Returns now in seconds, with nanosecond resolution: for run times and
 * reports. Any thread. */
double app_now_s(void);

#endif
