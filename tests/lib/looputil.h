/* What the loop's suites (tests/unit/test_loop_*.c, one per feature) share:
 * a loop on the suite's backend, its stats, counting callbacks, and a thread
 * that sends a signal later.
 *
 * Timing, in every loop suite: only lower bounds ("not before its deadline")
 * are asserted; the upper bounds that exist are seconds, and most checks count
 * callbacks or read the loop's stats instead of the clock. */
#ifndef IOMUX_LOOPUTIL_H
#define IOMUX_LOOPUTIL_H

#include "iomux/loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ThreadSanitizer runs an asynchronous signal's handler only at its own safe
 * points; a thread blocked in select() (GCC 12's libtsan) never reaches one,
 * so a signal sent to a loop waiting in the select backend is never handled
 * there. Plain and ASan builds have no such delay. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

/* A new loop on the suite's backend (suite_backend); fails the case if it
 * cannot be made. */
iom_loop *loop_new(void);

/* The loop's stats, from a poisoned struct: a field left unset shows. */
iom_loop_stats stats_of(const iom_loop *loop);

void sleep_ms(unsigned ms);
void close_pair(int sv[2]);
void put_byte(int fd, char c);

/* Read everything there is; returns the byte count. */
size_t drain(int fd);

/* A counting io callback. */
typedef struct io_rec {
  iom_io *io;
  int calls;
  unsigned last, all;
  uint64_t at_ms;
} io_rec;

/* Checks it is r->io, with events it asked for, and records them. */
void on_io_count(iom_io *io, unsigned events, void *data);

/* These count their calls in the int `data` points at; the signal one also
 * checks that the signal is SIGUSR1. */
void on_async_count(iom_async *a, void *data);
void on_signal_count(iom_signal *s, int signo, void *data);
void on_deferred_count(void *data);

/* The order callbacks ran in, by the ids they write. */
typedef struct order_ctx {
  int order[256];
  int n;
} order_ctx;

/* Sends a signal to the loop's thread (pthread_kill) or to the process
 * (kill) after a delay; if the loop has not seen it 3 s later, wakes the loop
 * with an async so a broken delivery fails the test instead of hanging it. */
typedef struct sig_sender {
  pthread_t target;
  int signo, use_kill;
  unsigned delay_ms;
  atomic_int seen;
  iom_async *watchdog;
} sig_sender;

/* The sending thread's body: pthread_create(&th, NULL, send_signal_later,
 * &sender). */
void *send_signal_later(void *p);

/* The watchdog async's callback: counts its calls in the int at `data`. */
void on_watchdog(iom_async *a, void *data);

#endif
