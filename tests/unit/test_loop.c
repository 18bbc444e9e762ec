/* The loop's test suite (layer 2, loop.h): run modes, io watchers, callbacks
 * that start, stop and free handles under the loop's feet, timers, signals,
 * async wake-ups from other threads, deferred calls, allocation failure and
 * stats. Real sockets, real threads, real signals. The same tests run once per
 * selector backend: the backend's name is the first argument.
 *
 * Timing: only lower bounds ("not before its deadline") are asserted; the
 * upper bounds that exist are seconds, and most checks count callbacks or
 * read the loop's stats instead of the clock. */
#define _GNU_SOURCE
#include "iomux/alloc.h"
#include "iomux/error.h"
#include "iomux/loop.h"
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

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

static iom_backend backend;

/* ---- helpers ------------------------------------------------------------- */

static iom_loop *loop_new(void) {
  iom_loop *loop = NULL;
  assert_int_equal(iom_loop_new(backend, &loop), 0);
  assert_non_null(loop);
  return loop;
}

static iom_loop_stats stats_of(const iom_loop *loop) {
  iom_loop_stats s;
  memset(&s, 0xa5, sizeof s);
  iom_loop_stats_get(loop, &s);
  return s;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000,
                        .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

static void close_pair(int sv[2]) {
  close(sv[0]);
  close(sv[1]);
}

static void put_byte(int fd, char c) { assert_int_equal(write(fd, &c, 1), 1); }

/* Read everything there is; returns the byte count. */
static size_t drain(int fd) {
  char buf[65536];
  size_t total = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    total += (size_t)n;
  return total;
}

/* A counting io callback. */
typedef struct io_rec {
  iom_io *io;
  int calls;
  unsigned last, all;
  uint64_t at_ms;
} io_rec;

static void on_io_count(iom_io *io, unsigned events, void *data) {
  io_rec *r = data;
  assert_ptr_equal(io, r->io);
  assert_int_not_equal(events, 0);
  assert_int_equal(events & ~iom_io_events(io), 0); /* only what it wants */
  r->calls++;
  r->last = events;
  r->all |= events;
  r->at_ms = tu_now_ms();
}

static void on_timer_count(iom_timer *t, void *data) {
  (void)t;
  (*(int *)data)++;
}

static void on_async_count(iom_async *a, void *data) {
  (void)a;
  (*(int *)data)++;
}

static void on_signal_count(iom_signal *s, int signo, void *data) {
  (void)s;
  assert_int_equal(signo, SIGUSR1);
  (*(int *)data)++;
}

static void on_deferred_count(void *data) { (*(int *)data)++; }

/* ---- scenarios that hang when broken: run each in a child process -------- */

/* A check inside a child process: cmocka's asserts must not run there. */
#define CHILD_CHECK(cond)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__,       \
              #cond);                                                          \
      return 1;                                                                \
    }                                                                          \
  } while (0)

typedef struct scenario {
  const char *name;
  int (*fn)(void);
} scenario;

/* Run every scenario in its own child, all at once, and give them `limit_ms`
 * in total (a passing one takes milliseconds: the limit only catches a loop
 * that blocks forever). Fails if any failed a check or had to be killed. */
static void run_in_children(const scenario *sc, int n, unsigned limit_ms) {
  pid_t pid[16];
  int status[16], done[16] = {0};
  assert_true(n <= 16);
  fflush(stdout);
  fflush(stderr);
  for (int i = 0; i < n; i++) {
    pid[i] = fork();
    assert_true(pid[i] >= 0);
    if (pid[i] == 0) {
      alarm(limit_ms / 1000 + 5); /* never outlive the parent for long */
      _exit(sc[i].fn());
    }
  }
  uint64_t deadline = tu_now_ms() + limit_ms;
  int left = n;
  while (left > 0 && tu_now_ms() < deadline) {
    for (int i = 0; i < n; i++)
      if (!done[i] && waitpid(pid[i], &status[i], WNOHANG) == pid[i]) {
        done[i] = 1;
        left--;
      }
    if (left > 0)
      sleep_ms(5);
  }
  int failed = 0;
  for (int i = 0; i < n; i++) {
    if (!done[i]) {
      kill(pid[i], SIGKILL);
      waitpid(pid[i], &status[i], 0);
      print_error("%s: still inside iom_loop_run after %u ms (blocked "
                  "forever)\n",
                  sc[i].name, limit_ms);
      failed++;
    } else if (!WIFEXITED(status[i]) || WEXITSTATUS(status[i]) != 0) {
      print_error("%s: failed (status %#x)\n", sc[i].name, status[i]);
      failed++;
    }
  }
  assert_int_equal(failed, 0);
}

static int sc_default_no_handles(void) {
  iom_loop *loop;
  CHILD_CHECK(iom_loop_new(backend, &loop) == 0);
  CHILD_CHECK(iom_loop_run(loop, IOM_RUN_DEFAULT) == 0);
  CHILD_CHECK(iom_loop_free(loop) == 0);
  return 0;
}

static int sc_default_stopped_watcher(void) {
  iom_loop *loop;
  int sv[2], calls = 0;
  tu_socketpair(sv);
  CHILD_CHECK(iom_loop_new(backend, &loop) == 0);
  iom_io *io;
  CHILD_CHECK(iom_io_new(loop, sv[0], NULL, &calls, &io) == 0);
  CHILD_CHECK(iom_loop_run(loop, IOM_RUN_DEFAULT) == 0); /* exists, inactive */
  iom_io_free(io);
  CHILD_CHECK(iom_loop_free(loop) == 0);
  return 0;
}

static int sc_once_nothing_active(void) {
  iom_loop *loop;
  CHILD_CHECK(iom_loop_new(backend, &loop) == 0);
  CHILD_CHECK(iom_loop_run(loop, IOM_RUN_ONCE) == 0);
  CHILD_CHECK(iom_loop_free(loop) == 0);
  return 0;
}

/* The only handle: a one-shot timer already due when the run starts. */
static int sc_default_timer_due_at_start(void) {
  iom_loop *loop;
  iom_timer *t;
  int fired = 0;
  CHILD_CHECK(iom_loop_new(backend, &loop) == 0);
  CHILD_CHECK(iom_timer_new(loop, on_timer_count, &fired, &t) == 0);
  iom_timer_start(t, 0, 0);
  sleep_ms(2);
  CHILD_CHECK(iom_loop_run(loop, IOM_RUN_DEFAULT) == 0);
  CHILD_CHECK(fired == 1);
  iom_timer_free(t);
  CHILD_CHECK(iom_loop_free(loop) == 0);
  return 0;
}

typedef struct chain {
  iom_loop *loop;
  int ran, len;
} chain;

static void chain_step(void *data) {
  chain *c = data;
  if (++c->ran < c->len)
    iom_loop_call_soon(c->loop, chain_step, c);
}

/* No handle at all: only deferred calls keep the loop alive. */
static int sc_default_deferred_chain(void) {
  iom_loop *loop;
  CHILD_CHECK(iom_loop_new(backend, &loop) == 0);
  chain c = {loop, 0, 3};
  CHILD_CHECK(iom_loop_call_soon(loop, chain_step, &c) == 0);
  CHILD_CHECK(iom_loop_run(loop, IOM_RUN_DEFAULT) == 0);
  CHILD_CHECK(c.ran == 3);
  CHILD_CHECK(iom_loop_free(loop) == 0);
  return 0;
}

static void free_io_cb(iom_timer *t, void *data) {
  (void)t;
  iom_io **io = data;
  iom_io_free(*io);
  *io = NULL;
}

/* A timer due at the start of the iteration frees the last active watcher
 * (an idle socket): nothing is left that could end the wait. */
static int sc_default_last_watcher_freed_by_timer(void) {
  iom_loop *loop;
  iom_timer *t;
  iom_io *io;
  int sv[2];
  tu_socketpair(sv);
  CHILD_CHECK(iom_loop_new(backend, &loop) == 0);
  CHILD_CHECK(iom_io_new(loop, sv[0], NULL, NULL, &io) == 0);
  CHILD_CHECK(iom_io_start(io, IOM_READ) == 0);
  CHILD_CHECK(iom_timer_new(loop, free_io_cb, &io, &t) == 0);
  iom_timer_start(t, 0, 0);
  sleep_ms(2);
  CHILD_CHECK(iom_loop_run(loop, IOM_RUN_DEFAULT) == 0);
  CHILD_CHECK(io == NULL);
  iom_timer_free(t);
  CHILD_CHECK(iom_loop_free(loop) == 0);
  return 0;
}

/* RUN_ONCE, an idle watcher keeps the loop alive, and the iteration already
 * ran a deferred call (or a due timer) before its wait. */
static int sc_once_after_deferred_call(void) {
  iom_loop *loop;
  iom_io *io;
  int sv[2], n = 0;
  tu_socketpair(sv);
  CHILD_CHECK(iom_loop_new(backend, &loop) == 0);
  CHILD_CHECK(iom_io_new(loop, sv[0], NULL, NULL, &io) == 0);
  CHILD_CHECK(iom_io_start(io, IOM_READ) == 0);
  CHILD_CHECK(iom_loop_call_soon(loop, on_deferred_count, &n) == 0);
  CHILD_CHECK(iom_loop_run(loop, IOM_RUN_ONCE) == 1);
  CHILD_CHECK(n == 1);
  iom_io_free(io);
  CHILD_CHECK(iom_loop_free(loop) == 0);
  return 0;
}

static int sc_once_after_due_timer(void) {
  iom_loop *loop;
  iom_io *io;
  iom_timer *t;
  int sv[2], n = 0;
  tu_socketpair(sv);
  CHILD_CHECK(iom_loop_new(backend, &loop) == 0);
  CHILD_CHECK(iom_io_new(loop, sv[0], NULL, NULL, &io) == 0);
  CHILD_CHECK(iom_io_start(io, IOM_READ) == 0);
  CHILD_CHECK(iom_timer_new(loop, on_timer_count, &n, &t) == 0);
  iom_timer_start(t, 0, 0);
  sleep_ms(2);
  CHILD_CHECK(iom_loop_run(loop, IOM_RUN_ONCE) == 1);
  CHILD_CHECK(n == 1);
  iom_timer_free(t);
  iom_io_free(io);
  CHILD_CHECK(iom_loop_free(loop) == 0);
  return 0;
}

/* "RUN_ONCE: one iteration, waiting for at least one event": once the
 * iteration has run a callback, it must not then block on idle fds. */
static void test_once_returns_after_work_done(void **state) {
  (void)state;
  static const scenario sc[] = {
      {"RUN_ONCE after a deferred call, idle watcher",
       sc_once_after_deferred_call},
      {"RUN_ONCE after a due timer, idle watcher", sc_once_after_due_timer},
  };
  run_in_children(sc, (int)(sizeof sc / sizeof sc[0]), 3000);
}

/* RUN_DEFAULT "until no handle is active", RUN_ONCE with nothing that could
 * ever wake it: both must return, not block in the selector forever. */
static void test_run_returns_when_nothing_active(void **state) {
  (void)state;
  static const scenario sc[] = {
      {"RUN_DEFAULT, no handle", sc_default_no_handles},
      {"RUN_DEFAULT, one stopped io watcher", sc_default_stopped_watcher},
      {"RUN_ONCE, nothing active", sc_once_nothing_active},
      {"RUN_DEFAULT, only a timer due at start", sc_default_timer_due_at_start},
      {"RUN_DEFAULT, only deferred calls", sc_default_deferred_chain},
      {"RUN_DEFAULT, timer frees the last watcher",
       sc_default_last_watcher_freed_by_timer},
  };
  run_in_children(sc, (int)(sizeof sc / sizeof sc[0]), 3000);
}

/* ---- 1. run modes -------------------------------------------------------- */

static void test_backend_name(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  assert_string_equal(iom_loop_backend_name(loop), iom_backend_name(backend));
  assert_int_equal(iom_loop_free(loop), 0);
  assert_int_equal(iom_loop_free(NULL), 0);
}

static void test_nowait_returns_at_once(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2];
  tu_socketpair(sv);
  io_rec r = {0};
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, &r, &r.io), 0);
  assert_int_equal(iom_io_start(r.io, IOM_READ), 0);

  iom_loop_stats s0 = stats_of(loop);
  uint64_t t0 = tu_now_ms();
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_true(tu_now_ms() - t0 < 5000);
  iom_loop_stats s1 = stats_of(loop);
  assert_int_equal(r.calls, 0);
  assert_int_equal(s1.waits, s0.waits); /* it never blocked */
  assert_int_equal(s1.iterations, s0.iterations + 1);

  put_byte(sv[1], 'x');
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.last, IOM_READ);
  assert_int_equal(stats_of(loop).waits, s0.waits);

  iom_io_free(r.io);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

typedef struct delayed_write {
  int fd;
  unsigned delay_ms;
} delayed_write;

static void *delayed_writer(void *p) {
  delayed_write *d = p;
  sleep_ms(d->delay_ms);
  char c = 'w';
  if (write(d->fd, &c, 1) != 1)
    abort();
  return NULL;
}

static void test_once_blocks_until_fd_ready(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2];
  tu_socketpair(sv);
  io_rec r = {0};
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, &r, &r.io), 0);
  assert_int_equal(iom_io_start(r.io, IOM_READ), 0);

  /* Written before: RUN_ONCE returns with the callback done. */
  put_byte(sv[1], 'a');
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(r.calls, 1);
  assert_int_equal(drain(sv[0]), 1);

  /* Written by another thread 100 ms later: RUN_ONCE waits for it. */
  delayed_write d = {sv[1], 100};
  pthread_t th;
  uint64_t t0 = tu_now_ms();
  iom_loop_stats s0 = stats_of(loop);
  assert_int_equal(pthread_create(&th, NULL, delayed_writer, &d), 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(r.calls, 2);
  assert_int_equal(r.last, IOM_READ);
  assert_true(r.at_ms >= t0 + 100);
  assert_int_equal(stats_of(loop).waits, s0.waits + 1);
  assert_int_equal(stats_of(loop).iterations, s0.iterations + 1);
  pthread_join(th, NULL);
  char c = 0;
  assert_int_equal(read(sv[0], &c, 1), 1);
  assert_int_equal(c, 'w');

  iom_io_free(r.io);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

typedef struct timer_writes {
  int fd;
  int fired;
  uint64_t at_ms;
} timer_writes;

static void on_timer_write(iom_timer *t, void *data) {
  (void)t;
  timer_writes *w = data;
  w->fired++;
  w->at_ms = tu_now_ms();
  put_byte(w->fd, 't');
}

/* A timer callback writes the byte: RUN_ONCE wakes for the timer and runs it
 * ("RUN_ONCE that woke for a timer runs it"); the fd is ready next. */
static void test_once_fd_written_by_timer(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2];
  tu_socketpair(sv);
  io_rec r = {0};
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, &r, &r.io), 0);
  assert_int_equal(iom_io_start(r.io, IOM_READ), 0);
  timer_writes w = {sv[1], 0, 0};
  iom_timer *t;
  assert_int_equal(iom_timer_new(loop, on_timer_write, &w, &t), 0);
  uint64_t t0 = tu_now_ms();
  iom_timer_start(t, 50, 0);

  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(w.fired, 1);
  assert_true(w.at_ms >= t0 + 50);
  for (int i = 0; i < 3 && r.calls == 0; i++)
    assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.last, IOM_READ);
  assert_true(r.at_ms >= w.at_ms);
  assert_int_equal(w.fired, 1);
  assert_int_equal(iom_timer_active(t), 0);

  iom_timer_free(t);
  iom_io_free(r.io);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

typedef struct stopper {
  iom_loop *loop;
  iom_io *io;
  int calls, stop_at;
} stopper;

static void on_io_stop_at(iom_io *io, unsigned events, void *data) {
  stopper *s = data;
  assert_ptr_equal(io, s->io);
  assert_int_equal(events, IOM_READ);
  if (++s->calls == s->stop_at)
    iom_loop_stop(s->loop);
}

static void test_stop_from_callback(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2];
  tu_socketpair(sv);
  stopper s = {loop, NULL, 0, 3};
  assert_int_equal(iom_io_new(loop, sv[0], on_io_stop_at, &s, &s.io), 0);
  assert_int_equal(iom_io_start(s.io, IOM_READ), 0);
  put_byte(sv[1], 'x'); /* never read: ready every iteration */

  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 1); /* still active */
  assert_int_equal(s.calls, 3);
  assert_int_equal(stats_of(loop).iterations, 3);
  /* The stop was for that run only. */
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(s.calls, 4);
  s.stop_at = 6;
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 1);
  assert_int_equal(s.calls, 6);
  assert_int_equal(stats_of(loop).iterations, 6);

  iom_io_free(s.io);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

typedef struct reentry {
  iom_loop *loop;
  int calls;
  int run_rc[3][2];
  int free_rc;
} reentry;

static void try_reenter(reentry *e) {
  static const iom_run_mode modes[3] = {IOM_RUN_DEFAULT, IOM_RUN_ONCE,
                                        IOM_RUN_NOWAIT};
  e->calls++;
  for (int rep = 0; rep < 2; rep++)
    for (int m = 0; m < 3; m++)
      e->run_rc[m][rep] = iom_loop_run(e->loop, modes[m]);
  e->free_rc = iom_loop_free(e->loop);
}

static void check_reentry(const reentry *e) {
  assert_int_equal(e->calls, 1);
  for (int m = 0; m < 3; m++)
    for (int rep = 0; rep < 2; rep++)
      assert_int_equal(e->run_rc[m][rep], -EBUSY);
  assert_int_equal(e->free_rc, -EBUSY);
}

static void reenter_io(iom_io *io, unsigned ev, void *data) {
  (void)ev;
  iom_io_stop(io);
  try_reenter(data);
}
static void reenter_timer(iom_timer *t, void *data) {
  (void)t;
  try_reenter(data);
}
static void reenter_deferred(void *data) { try_reenter(data); }
static void reenter_async(iom_async *a, void *data) {
  (void)a;
  try_reenter(data);
}

static void test_run_from_callback_is_busy(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2];
  tu_socketpair(sv);
  reentry e_io = {loop, 0, {{0}}, 0}, e_timer = e_io, e_defer = e_io,
          e_async = e_io;
  iom_io *io;
  iom_timer *t;
  iom_async *a;
  assert_int_equal(iom_io_new(loop, sv[0], reenter_io, &e_io, &io), 0);
  assert_int_equal(iom_io_start(io, IOM_WRITE), 0);
  assert_int_equal(iom_timer_new(loop, reenter_timer, &e_timer, &t), 0);
  iom_timer_start(t, 0, 0);
  assert_int_equal(iom_async_new(loop, reenter_async, &e_async, &a), 0);
  iom_async_send(a);
  assert_int_equal(iom_loop_call_soon(loop, reenter_deferred, &e_defer), 0);

  sleep_ms(1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1); /* the async */
  check_reentry(&e_io);
  check_reentry(&e_timer);
  check_reentry(&e_defer);
  check_reentry(&e_async);
  /* The refused calls left the loop as it was: it still runs. */
  iom_async_send(a);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(e_async.calls, 2);

  iom_async_free(a);
  iom_timer_free(t);
  iom_io_free(io);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

static void test_free_busy_while_handles_exist(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2], n = 0;
  tu_socketpair(sv);
  iom_io *io;
  iom_timer *t;
  iom_signal *sig;
  iom_async *a;

  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, NULL, &io), 0);
  assert_int_equal(stats_of(loop).handles, 1);
  assert_int_equal(stats_of(loop).active, 0);
  assert_int_equal(iom_loop_free(loop), -EBUSY); /* stopped, but it exists */
  iom_io_free(io);

  assert_int_equal(iom_timer_new(loop, on_timer_count, &n, &t), 0);
  assert_int_equal(iom_loop_free(loop), -EBUSY);
  iom_timer_free(t);

  assert_int_equal(iom_signal_new(loop, on_signal_count, &n, &sig), 0);
  assert_int_equal(iom_loop_free(loop), -EBUSY);
  iom_signal_free(sig);

  assert_int_equal(iom_async_new(loop, on_async_count, &n, &a), 0);
  assert_int_equal(iom_loop_free(loop), -EBUSY);
  /* -EBUSY freed nothing: the loop works. */
  iom_async_send(a);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(n, 1);
  iom_async_free(a);

  assert_int_equal(stats_of(loop).handles, 0);
  iom_io_free(NULL);
  iom_timer_free(NULL);
  iom_signal_free(NULL);
  iom_async_free(NULL);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

/* The select backend refuses a closed fd at wait time: run reports the error
 * and the loop stays usable. */
static void test_selector_error_leaves_loop_usable(void **state) {
  (void)state;
  if (backend != IOM_SELECT)
    skip(); /* poll reports it as ready, epoll forgets the fd */
  iom_loop *loop = loop_new();
  int sv[2], sv2[2];
  tu_socketpair(sv);
  tu_socketpair(sv2);
  io_rec r = {0}, r2 = {0};
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, &r, &r.io), 0);
  assert_int_equal(iom_io_start(r.io, IOM_READ), 0);
  assert_int_equal(iom_io_new(loop, sv2[0], on_io_count, &r2, &r2.io), 0);
  assert_int_equal(iom_io_start(r2.io, IOM_READ), 0);
  close(sv[0]); /* without freeing the watcher first: a caller's bug */
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), -EBADF);
  iom_io_free(r.io);
  put_byte(sv2[1], 'x');
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r2.calls, 1);
  assert_int_equal(r.calls, 0);
  iom_io_free(r2.io);
  assert_int_equal(iom_loop_free(loop), 0);
  close(sv[1]);
  close_pair(sv2);
}

/* ---- 2. io watchers ------------------------------------------------------ */

static void test_io_read_ready(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2];
  tu_socketpair(sv);
  io_rec r = {0};
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, &r, &r.io), 0);
  assert_int_equal(iom_io_fd(r.io), sv[0]);
  assert_int_equal(iom_io_events(r.io), 0);
  assert_int_equal(iom_io_start(r.io, IOM_READ), 0);
  assert_int_equal(iom_io_events(r.io), IOM_READ);

  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r.calls, 0);
  assert_int_equal(write(sv[1], "hello", 5), 5);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.last, IOM_READ);
  /* Level-triggered: still unread, so called again. */
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r.calls, 2);
  char buf[8];
  assert_int_equal(read(sv[0], buf, sizeof buf), 5);
  assert_memory_equal(buf, "hello", 5);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r.calls, 2);

  iom_io_free(r.io);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

static void test_io_write_ready(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2];
  tu_socketpair(sv);
  io_rec r = {0};
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, &r, &r.io), 0);
  assert_int_equal(iom_io_start(r.io, IOM_WRITE), 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.last, IOM_WRITE);

  size_t filled = tu_fill(sv[0]);
  assert_true(filled > 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r.calls, 1); /* full: not writable */

  assert_int_equal(drain(sv[1]), filled);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(r.calls, 2);
  assert_int_equal(r.last, IOM_WRITE);

  iom_io_free(r.io);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

static void test_io_change_events(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2];
  tu_socketpair(sv);
  io_rec r = {0};
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, &r, &r.io), 0);
  assert_int_equal(iom_io_start(r.io, IOM_READ), 0);
  assert_int_equal(stats_of(loop).active, 1);
  put_byte(sv[1], 'x');

  assert_int_equal(iom_io_start(r.io, IOM_READ | IOM_WRITE), 0);
  assert_int_equal(iom_io_events(r.io), IOM_READ | IOM_WRITE);
  assert_int_equal(stats_of(loop).active, 1); /* counted once */
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.last, IOM_READ | IOM_WRITE);

  /* Readable still, but only writability is wanted now. */
  assert_int_equal(iom_io_start(r.io, IOM_WRITE), 0);
  assert_int_equal(iom_io_events(r.io), IOM_WRITE);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r.calls, 2);
  assert_int_equal(r.last, IOM_WRITE);

  assert_int_equal(iom_io_start(r.io, IOM_READ), 0);
  assert_int_equal(iom_io_start(r.io, IOM_READ), 0); /* same: no change */
  assert_int_equal(iom_io_events(r.io), IOM_READ);
  assert_int_equal(stats_of(loop).active, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r.calls, 3);
  assert_int_equal(r.last, IOM_READ);

  iom_io_free(r.io);
  assert_int_equal(stats_of(loop).active, 0);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

static void test_io_stop_and_start_again(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2];
  tu_socketpair(sv);
  io_rec r = {0};
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, &r, &r.io), 0);
  assert_int_equal(iom_io_start(r.io, IOM_READ), 0);
  put_byte(sv[1], 'x');
  iom_io_stop(r.io);
  assert_int_equal(iom_io_events(r.io), 0);
  assert_int_equal(stats_of(loop).active, 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(r.calls, 0);
  iom_io_stop(r.io); /* stopping a stopped watcher does nothing */
  assert_int_equal(stats_of(loop).active, 0);
  assert_int_equal(stats_of(loop).handles, 1);

  assert_int_equal(iom_io_start(r.io, IOM_READ), 0);
  assert_int_equal(stats_of(loop).active, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.last, IOM_READ);
  /* Several rounds. */
  for (int i = 0; i < 5; i++) {
    iom_io_stop(r.io);
    assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
    assert_int_equal(iom_io_start(r.io, IOM_READ), 0);
    assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  }
  assert_int_equal(r.calls, 6);

  iom_io_free(r.io);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

static void test_io_errors(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2];
  tu_socketpair(sv);
  iom_io *io = NULL;
  assert_int_equal(iom_io_new(loop, -1, on_io_count, NULL, &io), -EBADF);
  assert_null(io);
  assert_int_equal(stats_of(loop).handles, 0);

  io_rec r1 = {0}, r2 = {0};
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, &r1, &r1.io), 0);
  static const unsigned bad[] = {0, 4, 8, IOM_READ | 4, IOM_WRITE | 16, ~0u};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(iom_io_start(r1.io, bad[i]), -EINVAL);
    assert_int_equal(iom_io_events(r1.io), 0);
  }
  assert_int_equal(stats_of(loop).active, 0);
  assert_int_equal(iom_io_start(r1.io, IOM_READ), 0);
  assert_int_equal(iom_io_start(r1.io, 0), -EINVAL); /* keeps READ */
  assert_int_equal(iom_io_start(r1.io, IOM_READ | 4), -EINVAL);
  assert_int_equal(iom_io_events(r1.io), IOM_READ);

  /* A second watcher on the same fd. */
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, &r2, &r2.io), 0);
  assert_int_equal(iom_io_start(r2.io, IOM_READ), -EEXIST);
  assert_int_equal(iom_io_start(r2.io, IOM_WRITE), -EEXIST);
  assert_int_equal(iom_io_events(r2.io), 0);
  assert_int_equal(stats_of(loop).active, 1);
  assert_int_equal(stats_of(loop).handles, 2);
  put_byte(sv[1], 'x');
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r1.calls, 1);
  assert_int_equal(r2.calls, 0);
  /* Once the first lets go, the second may have it. */
  iom_io_stop(r1.io);
  assert_int_equal(iom_io_start(r2.io, IOM_READ), 0);
  assert_int_equal(iom_io_start(r1.io, IOM_READ), -EEXIST);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r1.calls, 1);
  assert_int_equal(r2.calls, 1);

  /* The kernel's (or backend's) refusal leaves the watcher stopped. */
  int refused = -1, want = 0;
  if (backend == IOM_SELECT) {
    tu_raise_nofile(FD_SETSIZE + 64);
    refused = dup2(sv[1], FD_SETSIZE + 8);
    want = -EINVAL;
  }
#if defined(__linux__)
  if (backend == IOM_EPOLL) {
    int tmp[2];
    tu_socketpair(tmp);
    close_pair(tmp);
    refused = tmp[0]; /* closed, and no fd made since */
    want = -EBADF;
  }
#endif
  if (refused >= 0) {
    io_rec r3 = {0};
    assert_int_equal(iom_io_new(loop, refused, on_io_count, &r3, &r3.io), 0);
    assert_int_equal(iom_io_start(r3.io, IOM_READ), want);
    assert_int_equal(iom_io_events(r3.io), 0);
    assert_int_equal(stats_of(loop).active, 1);
    iom_io_free(r3.io);
    if (backend == IOM_SELECT)
      close(refused);
  }

  iom_io_free(r1.io);
  iom_io_free(r2.io);
  assert_int_equal(stats_of(loop).handles, 0);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

static void test_io_hangup_is_read(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2], tcp[2];
  tu_socketpair(sv);
  tu_tcp_pair(tcp);
  io_rec r = {0}, rt = {0};
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, &r, &r.io), 0);
  assert_int_equal(iom_io_start(r.io, IOM_READ), 0);
  assert_int_equal(iom_io_new(loop, tcp[0], on_io_count, &rt, &rt.io), 0);
  assert_int_equal(iom_io_start(rt.io, IOM_READ), 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(r.calls + rt.calls, 0);

  close(sv[1]);
  tu_close_with_reset(tcp[1]);
  for (int i = 0; i < 10 && (r.calls == 0 || rt.calls == 0); i++)
    assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_true(r.calls >= 1);
  assert_int_equal(r.all, IOM_READ);
  char c;
  assert_int_equal(read(sv[0], &c, 1), 0); /* EOF */
  assert_true(rt.calls >= 1);
  assert_int_equal(rt.all, IOM_READ);
  assert_int_equal(read(tcp[0], &c, 1), -1);
  assert_int_equal(errno, ECONNRESET);

  iom_io_free(r.io);
  iom_io_free(rt.io);
  assert_int_equal(iom_loop_free(loop), 0);
  close(sv[0]);
  close(tcp[0]);
}

/* ---- 3. re-entrancy ------------------------------------------------------ */

static void on_io_free_self(iom_io *io, unsigned ev, void *data) {
  (void)ev;
  (*(int *)data)++;
  iom_io_free(io);
}

static void on_timer_free_self(iom_timer *t, void *data) {
  (*(int *)data)++;
  iom_timer_free(t);
}

static void on_signal_free_self(iom_signal *s, int signo, void *data) {
  (void)signo;
  (*(int *)data)++;
  iom_signal_free(s);
}

static void on_async_free_self(iom_async *a, void *data) {
  (*(int *)data)++;
  iom_async_free(a);
}

/* (a) and (e): each kind frees itself from its own callback; the io watcher
 * is the last active handle, so RUN_DEFAULT then returns 0. */
static void test_free_self_in_callback(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2], n_io = 0, n_t1 = 0, n_t2 = 0, n_sig = 0, n_as = 0;
  tu_socketpair(sv);
  iom_io *io;
  iom_timer *t1, *t2;
  iom_signal *sig;
  iom_async *a;
  assert_int_equal(iom_timer_new(loop, on_timer_free_self, &n_t1, &t1), 0);
  assert_int_equal(iom_timer_new(loop, on_timer_free_self, &n_t2, &t2), 0);
  iom_timer_start(t1, 0, 0);
  iom_timer_start(t2, 0, 5); /* repeating */
  assert_int_equal(iom_signal_new(loop, on_signal_free_self, &n_sig, &sig), 0);
  assert_int_equal(iom_signal_start(sig, SIGUSR1), 0);
  assert_int_equal(iom_async_new(loop, on_async_free_self, &n_as, &a), 0);
  raise(SIGUSR1);
  iom_async_send(a);
  sleep_ms(1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(n_t1, 1);
  assert_int_equal(n_t2, 1);
  assert_int_equal(n_sig, 1);
  assert_int_equal(n_as, 1);
  assert_int_equal(stats_of(loop).handles, 0);

  assert_int_equal(iom_io_new(loop, sv[0], on_io_free_self, &n_io, &io), 0);
  assert_int_equal(iom_io_start(io, IOM_READ), 0);
  put_byte(sv[1], 'x');
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(n_io, 1);
  assert_int_equal(stats_of(loop).handles, 0);
  assert_int_equal(stats_of(loop).active, 0);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

/* Two watchers both ready in one iteration; the first callback to run frees
 * (or stops) the other. */
typedef struct pair_ctx {
  iom_loop *loop;
  iom_io *io[2];
  int sv[2][2];
  int calls[2];
  int first; /* which one ran first, -1 before */
  int mode;  /* 0 free, 1 stop */
} pair_ctx;

static void on_pair(iom_io *io, unsigned ev, void *data) {
  pair_ctx *p = data;
  assert_int_equal(ev, IOM_READ);
  int me = io == p->io[0] ? 0 : 1;
  assert_ptr_equal(io, p->io[me]);
  p->calls[me]++;
  if (p->first >= 0)
    return;
  p->first = me;
  if (p->mode == 0) {
    iom_io_free(p->io[!me]);
    p->io[!me] = NULL;
  } else {
    iom_io_stop(p->io[!me]);
  }
}

static void pair_setup(pair_ctx *p, int mode) {
  memset(p, 0, sizeof *p);
  p->loop = loop_new();
  p->first = -1;
  p->mode = mode;
  for (int i = 0; i < 2; i++) {
    tu_socketpair(p->sv[i]);
    assert_int_equal(iom_io_new(p->loop, p->sv[i][0], on_pair, p, &p->io[i]),
                     0);
    assert_int_equal(iom_io_start(p->io[i], IOM_READ), 0);
    put_byte(p->sv[i][1], 'x');
  }
}

static void test_free_other_ready_watcher(void **state) {
  (void)state;
  pair_ctx p;
  pair_setup(&p, 0);
  assert_int_equal(iom_loop_run(p.loop, IOM_RUN_NOWAIT), 1);
  assert_true(p.first == 0 || p.first == 1);
  int me = p.first;
  assert_int_equal(p.calls[me], 1);
  assert_int_equal(p.calls[!me], 0);
  assert_null(p.io[!me]);
  assert_int_equal(stats_of(p.loop).handles, 1);
  for (int i = 0; i < 3; i++)
    assert_int_equal(iom_loop_run(p.loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(p.calls[me], 4);
  assert_int_equal(p.calls[!me], 0);
  iom_io_free(p.io[me]);
  assert_int_equal(iom_loop_free(p.loop), 0);
  close_pair(p.sv[0]);
  close_pair(p.sv[1]);
}

static void test_stop_other_ready_watcher(void **state) {
  (void)state;
  pair_ctx p;
  pair_setup(&p, 1);
  assert_int_equal(iom_loop_run(p.loop, IOM_RUN_NOWAIT), 1);
  assert_true(p.first == 0 || p.first == 1);
  int me = p.first;
  assert_int_equal(p.calls[me], 1);
  assert_int_equal(p.calls[!me], 0);
  assert_int_equal(iom_io_events(p.io[!me]), 0);
  assert_int_equal(stats_of(p.loop).active, 1);
  assert_int_equal(iom_loop_run(p.loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(p.calls[!me], 0);
  /* Started again, it is called again. */
  assert_int_equal(iom_io_start(p.io[!me], IOM_READ), 0);
  assert_int_equal(iom_loop_run(p.loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(p.calls[me], 3);
  assert_int_equal(p.calls[!me], 1);
  iom_io_free(p.io[0]);
  iom_io_free(p.io[1]);
  assert_int_equal(iom_loop_free(p.loop), 0);
  close_pair(p.sv[0]);
  close_pair(p.sv[1]);
}

/* Both ready for reading; the first callback makes the other want only
 * writability: the other's pending READ is not delivered ("only ones the
 * watcher wants"), and it gets WRITE from the next iteration on. */
typedef struct retarget_ctx {
  io_rec rec[2];
  int first;
} retarget_ctx;

static void on_retarget(iom_io *io, unsigned events, void *data) {
  retarget_ctx *x = data;
  int me = io == x->rec[0].io ? 0 : 1;
  on_io_count(io, events, &x->rec[me]); /* checks events against the wish */
  if (x->first < 0) {
    x->first = me;
    assert_int_equal(iom_io_start(x->rec[!me].io, IOM_WRITE), 0);
  }
}

static void test_change_other_events_in_dispatch(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  retarget_ctx x;
  memset(&x, 0, sizeof x);
  x.first = -1;
  int sv[2][2];
  for (int i = 0; i < 2; i++) {
    tu_socketpair(sv[i]);
    assert_int_equal(iom_io_new(loop, sv[i][0], on_retarget, &x, &x.rec[i].io),
                     0);
    assert_int_equal(iom_io_start(x.rec[i].io, IOM_READ), 0);
    put_byte(sv[i][1], 'x');
  }
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_true(x.first == 0 || x.first == 1);
  int me = x.first;
  assert_int_equal(x.rec[me].calls, 1);
  assert_int_equal(x.rec[!me].calls, 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(x.rec[!me].calls, 1);
  assert_int_equal(x.rec[!me].last, IOM_WRITE);
  for (int i = 0; i < 2; i++) {
    iom_io_free(x.rec[i].io);
    close_pair(sv[i]);
  }
  assert_int_equal(iom_loop_free(loop), 0);
}

/* (d) A and B ready; the first to run frees the other, closes its fd, makes a
 * new socketpair with an end on the same fd number and watches it with C.
 * The event found for the old fd must not reach C. */
typedef struct reuse_ctx {
  iom_loop *loop;
  iom_io *ab[2], *c;
  int sv[2][2], csv[2];
  int calls[2], c_calls;
  int first, old_fd, c_fd;
} reuse_ctx;

static void on_reuse(iom_io *io, unsigned ev, void *data) {
  reuse_ctx *x = data;
  if (x->c && io == x->c) {
    x->c_calls++;
    return;
  }
  assert_int_equal(ev, IOM_READ);
  int me = io == x->ab[0] ? 0 : 1;
  assert_ptr_equal(io, x->ab[me]);
  x->calls[me]++;
  if (x->first >= 0)
    return;
  x->first = me;
  int other = !me;
  x->old_fd = x->sv[other][0];
  iom_io_free(x->ab[other]);
  x->ab[other] = NULL;
  close_pair(x->sv[other]);
  tu_socketpair(x->csv);
  /* The lowest free numbers come first, so an end normally lands on old_fd;
   * if a lower number was free, move it there. */
  if (x->csv[0] != x->old_fd && x->csv[1] != x->old_fd) {
    assert_int_equal(dup2(x->csv[0], x->old_fd), x->old_fd);
    close(x->csv[0]);
    x->csv[0] = x->old_fd;
  }
  x->c_fd = x->old_fd;
  assert_int_equal(iom_io_new(x->loop, x->c_fd, on_reuse, x, &x->c), 0);
  assert_int_equal(iom_io_start(x->c, IOM_READ), 0);
}

static void test_stale_event_on_reused_fd(void **state) {
  (void)state;
  reuse_ctx x;
  memset(&x, 0, sizeof x);
  x.loop = loop_new();
  x.first = -1;
  for (int i = 0; i < 2; i++) {
    tu_socketpair(x.sv[i]);
    assert_int_equal(iom_io_new(x.loop, x.sv[i][0], on_reuse, &x, &x.ab[i]), 0);
    assert_int_equal(iom_io_start(x.ab[i], IOM_READ), 0);
    put_byte(x.sv[i][1], 'x');
  }
  assert_int_equal(iom_loop_run(x.loop, IOM_RUN_NOWAIT), 1);
  assert_true(x.first == 0 || x.first == 1);
  int me = x.first;
  assert_non_null(x.c);
  assert_int_equal(iom_io_fd(x.c), x.old_fd);
  assert_int_equal(x.calls[me], 1);
  assert_int_equal(x.calls[!me], 0);
  assert_int_equal(x.c_calls, 0); /* the old fd's event was not C's */
  /* The new fd has no data: C stays quiet until it does. */
  assert_int_equal(iom_loop_run(x.loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(x.c_calls, 0);
  assert_int_equal(x.calls[me], 2);
  int peer = x.csv[0] == x.c_fd ? x.csv[1] : x.csv[0];
  put_byte(peer, 'y');
  assert_int_equal(iom_loop_run(x.loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(x.c_calls, 1);

  iom_io_free(x.c);
  iom_io_free(x.ab[me]);
  assert_int_equal(iom_loop_free(x.loop), 0);
  close_pair(x.sv[me]);
  close_pair(x.csv);
}

/* An io callback frees the loop's last other active watcher, then itself is
 * stopped: RUN_DEFAULT returns 0 after that iteration. */
typedef struct last_ctx {
  iom_io *a, *b;
  int calls;
} last_ctx;

static void on_free_both(iom_io *io, unsigned ev, void *data) {
  (void)ev;
  last_ctx *l = data;
  l->calls++;
  iom_io *other = io == l->a ? l->b : l->a;
  iom_io_free(other);
  iom_io_free(io);
  l->a = l->b = NULL;
}

static void test_free_last_watcher_ends_default(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int sv[2], sv2[2];
  tu_socketpair(sv);
  tu_socketpair(sv2);
  last_ctx l = {NULL, NULL, 0};
  assert_int_equal(iom_io_new(loop, sv[0], on_free_both, &l, &l.a), 0);
  assert_int_equal(iom_io_start(l.a, IOM_READ), 0);
  assert_int_equal(iom_io_new(loop, sv2[0], on_free_both, &l, &l.b), 0);
  assert_int_equal(iom_io_start(l.b, IOM_WRITE), 0);
  put_byte(sv[1], 'x');
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(l.calls, 1);
  assert_int_equal(stats_of(loop).handles, 0);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
  close_pair(sv2);
}

/* (f) Two due timers: the first to fire frees the other. */
typedef struct tpair {
  iom_timer *t[2];
  int calls[2], first;
} tpair;

static void on_tpair(iom_timer *t, void *data) {
  tpair *p = data;
  int me = t == p->t[0] ? 0 : 1;
  assert_ptr_equal(t, p->t[me]);
  p->calls[me]++;
  if (p->first < 0) {
    p->first = me;
    iom_timer_free(p->t[!me]);
    p->t[!me] = NULL;
  }
}

static void test_timer_frees_other_due_timer(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  tpair p = {{NULL, NULL}, {0, 0}, -1};
  assert_int_equal(iom_timer_new(loop, on_tpair, &p, &p.t[0]), 0);
  assert_int_equal(iom_timer_new(loop, on_tpair, &p, &p.t[1]), 0);
  iom_timer_start(p.t[0], 0, 0);
  iom_timer_start(p.t[1], 0, 0);
  sleep_ms(2); /* both due */
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(p.first, 0); /* start order */
  assert_int_equal(p.calls[0], 1);
  assert_int_equal(p.calls[1], 0);
  assert_int_equal(stats_of(loop).handles, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(p.calls[1], 0);

  /* Repeating ones too. */
  iom_timer_start(p.t[0], 0, 1);
  assert_int_equal(iom_timer_new(loop, on_tpair, &p, &p.t[1]), 0);
  iom_timer_start(p.t[1], 0, 1);
  p.first = -1;
  p.calls[0] = p.calls[1] = 0;
  sleep_ms(2);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(p.first, 0);
  assert_int_equal(p.calls[1], 0);
  iom_timer_free(p.t[0]);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* (g) A timer restarting itself with timeout 0 from its callback does not
 * run again in the same iteration. */
typedef struct restarter {
  iom_timer *t;
  int calls, limit;
  uint64_t last_iter;
  iom_loop *loop;
  int same_iter;
} restarter;

static void on_restart_zero(iom_timer *t, void *data) {
  restarter *r = data;
  uint64_t it = stats_of(r->loop).iterations;
  if (r->calls > 0 && it == r->last_iter)
    r->same_iter++;
  r->last_iter = it;
  r->calls++;
  if (r->calls < r->limit)
    iom_timer_start(t, 0, 0);
}

static void test_timer_restart_zero_once_per_iteration(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  restarter r = {NULL, 0, 1000000, 0, loop, 0};
  assert_int_equal(iom_timer_new(loop, on_restart_zero, &r, &r.t), 0);
  iom_timer_start(r.t, 0, 0);
  sleep_ms(1);
  int per_run[20];
  for (int i = 0; i < 10; i++) {
    int before = r.calls;
    assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
    per_run[i] = r.calls - before;
  }
  for (int i = 0; i < 10; i++) {
    int before = r.calls;
    assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
    per_run[10 + i] = r.calls - before;
  }
  iom_timer_free(r.t);
  assert_int_equal(iom_loop_free(loop), 0);
  int bad = 0;
  for (int i = 0; i < 20; i++)
    bad += per_run[i] != 1;
  if (bad)
    print_error("%d of 20 runs called it twice or more (run 0, NOWAIT: %d "
                "calls; run 10, ONCE: %d calls)\n",
                bad, per_run[0], per_run[10]);
  for (int i = 0; i < 20; i++)
    assert_int_equal(per_run[i], 1);
  assert_int_equal(r.same_iter, 0);
}

/* Cross-kind: a signal watcher (woken through the wake fd) and an io watcher
 * both ready; an async and an io watcher both ready. The first callback to
 * run frees the other handle. */
typedef struct cross_ctx {
  iom_io *io;
  iom_signal *sig;
  iom_async *as;
  int io_calls, sig_calls, as_calls;
  int first; /* 0 io, 1 other */
} cross_ctx;

static void on_cross_io(iom_io *io, unsigned ev, void *data) {
  (void)ev;
  cross_ctx *c = data;
  assert_ptr_equal(io, c->io);
  c->io_calls++;
  if (c->first < 0) {
    c->first = 0;
    iom_signal_free(c->sig);
    c->sig = NULL;
    iom_async_free(c->as);
    c->as = NULL;
  }
}

static void on_cross_sig(iom_signal *s, int signo, void *data) {
  cross_ctx *c = data;
  assert_ptr_equal(s, c->sig);
  assert_int_equal(signo, SIGUSR1);
  c->sig_calls++;
  if (c->first < 0) {
    c->first = 1;
    iom_io_free(c->io);
    c->io = NULL;
  }
}

static void on_cross_async(iom_async *a, void *data) {
  cross_ctx *c = data;
  assert_ptr_equal(a, c->as);
  c->as_calls++;
  if (c->first < 0) {
    c->first = 1;
    iom_io_free(c->io);
    c->io = NULL;
  }
}

static void test_cross_kind_free_in_dispatch(void **state) {
  (void)state;
  for (int kind = 0; kind < 2; kind++) {
    iom_loop *loop = loop_new();
    int sv[2];
    tu_socketpair(sv);
    cross_ctx c;
    memset(&c, 0, sizeof c);
    c.first = -1;
    assert_int_equal(iom_io_new(loop, sv[0], on_cross_io, &c, &c.io), 0);
    assert_int_equal(iom_io_start(c.io, IOM_READ), 0);
    put_byte(sv[1], 'x');
    if (kind == 0) {
      assert_int_equal(iom_signal_new(loop, on_cross_sig, &c, &c.sig), 0);
      assert_int_equal(iom_signal_start(c.sig, SIGUSR1), 0);
      raise(SIGUSR1);
    } else {
      assert_int_equal(iom_async_new(loop, on_cross_async, &c, &c.as), 0);
      iom_async_send(c.as);
    }
    assert_true(iom_loop_run(loop, IOM_RUN_NOWAIT) >= 0);
    assert_true(c.first == 0 || c.first == 1);
    if (c.first == 0) {
      assert_int_equal(c.io_calls, 1);
      assert_int_equal(c.sig_calls + c.as_calls, 0);
    } else {
      assert_int_equal(c.io_calls, 0);
      assert_int_equal(c.sig_calls + c.as_calls, 1);
    }
    assert_true(iom_loop_run(loop, IOM_RUN_NOWAIT) >= 0);
    if (c.first == 1)
      assert_int_equal(c.io_calls, 0);
    else
      assert_int_equal(c.sig_calls + c.as_calls, 0);
    iom_io_free(c.io);
    iom_signal_free(c.sig);
    iom_async_free(c.as);
    assert_int_equal(stats_of(loop).handles, 0);
    assert_int_equal(iom_loop_free(loop), 0);
    close_pair(sv);
  }
}

/* ---- 4. timers ----------------------------------------------------------- */

typedef struct oneshot {
  iom_loop *loop;
  int calls;
  uint64_t at_ns, loop_now_ms;
  int active_in_cb;
} oneshot;

static void on_oneshot(iom_timer *t, void *data) {
  oneshot *o = data;
  o->calls++;
  o->at_ns = now_ns();
  o->loop_now_ms = iom_loop_now(o->loop);
  o->active_in_cb = iom_timer_active(t);
}

static void test_timer_oneshot(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  oneshot o = {loop, 0, 0, 0, -1};
  iom_timer *t;
  assert_int_equal(iom_timer_new(loop, on_oneshot, &o, &t), 0);
  assert_int_equal(iom_timer_active(t), 0);
  assert_int_equal(stats_of(loop).active, 0);
  uint64_t t0_ms = tu_now_ms(), t0 = now_ns();
  iom_timer_start(t, 60, 0);
  assert_int_equal(iom_timer_active(t), 1);
  assert_int_equal(stats_of(loop).active, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(o.calls, 1);
  assert_true(o.at_ns - t0 >= 60 * 1000000ull);
  assert_true(o.loop_now_ms >= t0_ms + 60);
  assert_int_equal(o.active_in_cb, 0);
  assert_int_equal(iom_timer_active(t), 0);
  assert_int_equal(stats_of(loop).active, 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(o.calls, 1);

  /* Restarting a started timer replaces its deadline. */
  iom_timer_start(t, 100000, 0);
  t0 = now_ns();
  iom_timer_start(t, 30, 0);
  assert_int_equal(stats_of(loop).active, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(o.calls, 2);
  assert_true(o.at_ns - t0 >= 30 * 1000000ull);

  /* Stopped before its deadline: never fires. */
  iom_timer_start(t, 10, 0);
  iom_timer_stop(t);
  iom_timer_stop(t);
  assert_int_equal(iom_timer_active(t), 0);
  assert_int_equal(stats_of(loop).active, 0);
  sleep_ms(20);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(o.calls, 2);

  /* The largest timeouts saturate instead of wrapping into the past. */
  iom_timer_start(t, UINT64_MAX, UINT64_MAX);
  assert_int_equal(iom_timer_active(t), 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  iom_timer_start(t, UINT64_MAX / 1000, 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(o.calls, 2);
  iom_timer_stop(t);

  iom_timer_free(t);
  assert_int_equal(iom_loop_free(loop), 0);
}

typedef struct repeat_ctx {
  iom_timer *t;
  int calls, stop_at;
  uint64_t at[16];
} repeat_ctx;

static void on_repeat(iom_timer *t, void *data) {
  repeat_ctx *r = data;
  assert_ptr_equal(t, r->t);
  assert_int_equal(iom_timer_active(t), 1); /* a repeating timer stays on */
  r->at[r->calls++] = now_ns();
  if (r->calls == r->stop_at)
    iom_timer_stop(t);
}

static void test_timer_repeat(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  repeat_ctx r = {NULL, 0, 5, {0}};
  assert_int_equal(iom_timer_new(loop, on_repeat, &r, &r.t), 0);
  uint64_t t0 = now_ns();
  iom_timer_start(r.t, 10, 20);
  for (int i = 0; i < 50 && r.calls < 5; i++)
    assert_true(iom_loop_run(loop, IOM_RUN_ONCE) >= 0);
  assert_int_equal(r.calls, 5);
  assert_int_equal(iom_timer_active(r.t), 0);
  /* Never early: tick k is due at start + 10 + 20k at the soonest. */
  for (int k = 0; k < 5; k++)
    assert_true(r.at[k] - t0 >= (10 + 20ull * (uint64_t)k) * 1000000ull);
  sleep_ms(50);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(r.calls, 5);
  iom_timer_free(r.t);
  assert_int_equal(iom_loop_free(loop), 0);
}

typedef struct order_ctx {
  int order[256];
  int n;
} order_ctx;

typedef struct order_item {
  order_ctx *ctx;
  int id;
  iom_timer *t;
} order_item;

static void on_order_timer(iom_timer *t, void *data) {
  order_item *it = data;
  assert_ptr_equal(t, it->t);
  it->ctx->order[it->ctx->n++] = it->id;
}

static void test_timer_equal_timeouts_fire_in_start_order(void **state) {
  (void)state;
  enum { N = 100 };
  iom_loop *loop = loop_new();
  order_ctx ctx = {{0}, 0};
  order_item items[N];
  for (int i = 0; i < N; i++) {
    items[i] = (order_item){&ctx, i, NULL};
    assert_int_equal(
        iom_timer_new(loop, on_order_timer, &items[i], &items[i].t), 0);
  }
  for (int i = 0; i < N; i++)
    iom_timer_start(items[i].t, 20, 0);
  for (int i = 0; i < 100 && ctx.n < N; i++)
    assert_true(iom_loop_run(loop, IOM_RUN_ONCE) >= 0);
  assert_int_equal(ctx.n, N);
  for (int i = 0; i < N; i++)
    assert_int_equal(ctx.order[i], i);

  /* Restarted in reverse order: they fire in the new order. */
  ctx.n = 0;
  for (int i = 0; i < N; i++)
    iom_timer_start(items[i].t, 1000, 0);
  for (int i = N - 1; i >= 0; i--)
    iom_timer_start(items[i].t, 20, 0);
  assert_int_equal(stats_of(loop).active, N);
  for (int i = 0; i < 100 && ctx.n < N; i++)
    assert_true(iom_loop_run(loop, IOM_RUN_ONCE) >= 0);
  assert_int_equal(ctx.n, N);
  for (int i = 0; i < N; i++)
    assert_int_equal(ctx.order[i], N - 1 - i);

  /* Different timeouts: the shorter one first, whatever the start order. */
  ctx.n = 0;
  iom_timer_start(items[0].t, 40, 0);
  iom_timer_start(items[1].t, 10, 0);
  iom_timer_start(items[2].t, 25, 0);
  for (int i = 0; i < 20 && ctx.n < 3; i++)
    assert_true(iom_loop_run(loop, IOM_RUN_ONCE) >= 0);
  assert_int_equal(ctx.n, 3);
  assert_int_equal(ctx.order[0], 1);
  assert_int_equal(ctx.order[1], 2);
  assert_int_equal(ctx.order[2], 0);

  for (int i = 0; i < N; i++)
    iom_timer_free(items[i].t);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* A repeating timer blocked for six periods (it sleeps in its own callback)
 * skips the missed ticks: no burst of callbacks afterwards. */
typedef struct skip_ctx {
  int calls, block_at;
  unsigned period;
  uint64_t at[32], block_end;
} skip_ctx;

static void on_skip(iom_timer *t, void *data) {
  (void)t;
  skip_ctx *s = data;
  s->at[s->calls++] = now_ns();
  if (s->calls == s->block_at) {
    sleep_ms(6 * s->period);
    s->block_end = now_ns();
  }
}

static void test_timer_repeat_skips_missed_ticks(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  skip_ctx s = {0, 2, 30, {0}, 0};
  iom_timer *t;
  assert_int_equal(iom_timer_new(loop, on_skip, &s, &t), 0);
  iom_timer_start(t, s.period, s.period);
  const int after = 4; /* calls to watch after the block */
  for (int i = 0; i < 100 && s.calls < s.block_at + after; i++)
    assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(s.calls, s.block_at + after);
  /* The j-th call after the block: at most one overdue call (two if the
   * loop's clock was stale), then one per period boundary crossed. A burst
   * would put the six missed ticks right at block_end. */
  uint64_t p = s.period * 1000000ull;
  for (int j = 1; j <= after; j++) {
    uint64_t at = s.at[s.block_at + j - 1];
    assert_true(at >= s.block_end);
    uint64_t allowed = 2 + (at - s.block_end) / p;
    if ((uint64_t)j > allowed)
      print_error("call %d after the block came %.1f ms after it\n", j,
                  (double)(at - s.block_end) / 1e6);
    assert_true((uint64_t)j <= allowed);
  }
  iom_timer_free(t);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* 10,000 timers with random timeouts, most cancelled in random order (some
 * from inside callbacks while the rest fire): the heap stays consistent. */
enum { HEAP_N = 10000, HEAP_CANCEL_FIRST = 7000, HEAP_CANCEL_LATER = 1000 };

typedef struct heap_ctx {
  iom_timer *t[HEAP_N];
  uint64_t lo[HEAP_N], hi[HEAP_N]; /* bounds of each deadline, ns */
  unsigned char state[HEAP_N];     /* 0 pending, 1 cancelled, 2 fired */
  int perm[HEAP_N];
  int later, nlater; /* perm[later .. later+nlater) cancelled by callbacks */
  int fired, cancelled_in_cb;
  uint64_t max_lo;
  int early, out_of_order, bad_state, bad_active;
} heap_ctx;

static heap_ctx *heap_g;

static void on_heap_timer(iom_timer *t, void *data) {
  heap_ctx *h = heap_g;
  int i = (int)(intptr_t)data;
  uint64_t now = now_ns();
  if (t != h->t[i] || h->state[i] != 0)
    h->bad_state++;
  if (iom_timer_active(t))
    h->bad_active++;
  if (now < h->lo[i])
    h->early++;
  if (h->max_lo > h->hi[i]) /* an earlier-fired one had a later deadline */
    h->out_of_order++;
  if (h->lo[i] > h->max_lo)
    h->max_lo = h->lo[i];
  h->state[i] = 2;
  h->fired++;
  /* Cancel one more that has not fired yet. */
  while (h->nlater > 0) {
    int j = h->perm[h->later + --h->nlater];
    if (h->state[j] != 0)
      continue;
    iom_timer_stop(h->t[j]);
    if (iom_timer_active(h->t[j]))
      h->bad_active++;
    h->state[j] = 1;
    h->cancelled_in_cb++;
    break;
  }
}

static void test_timer_heap_stress(void **state) {
  (void)state;
  heap_ctx *h = calloc(1, sizeof *h);
  assert_non_null(h);
  heap_g = h;
  iom_loop *loop = loop_new();
  srand(12345);
  for (int i = 0; i < HEAP_N; i++)
    assert_int_equal(
        iom_timer_new(loop, on_heap_timer, (void *)(intptr_t)i, &h->t[i]), 0);
  assert_int_equal(stats_of(loop).handles, HEAP_N);
  for (int i = 0; i < HEAP_N; i++) {
    uint64_t ms = (uint64_t)(rand() % 250);
    h->lo[i] = now_ns() + ms * 1000000u;
    iom_timer_start(h->t[i], ms, 0);
    h->hi[i] = now_ns() + ms * 1000000u;
  }
  assert_int_equal(stats_of(loop).active, HEAP_N);
  for (int i = 0; i < HEAP_N; i++)
    assert_int_equal(iom_timer_active(h->t[i]), 1);

  for (int i = 0; i < HEAP_N; i++)
    h->perm[i] = i;
  for (int i = HEAP_N - 1; i > 0; i--) {
    int j = rand() % (i + 1);
    int tmp = h->perm[i];
    h->perm[i] = h->perm[j];
    h->perm[j] = tmp;
  }
  for (int k = 0; k < HEAP_CANCEL_FIRST; k++) {
    int i = h->perm[k];
    iom_timer_stop(h->t[i]);
    h->state[i] = 1;
    assert_int_equal(iom_timer_active(h->t[i]), 0);
  }
  assert_int_equal(stats_of(loop).active, HEAP_N - HEAP_CANCEL_FIRST);
  for (int k = HEAP_CANCEL_FIRST; k < HEAP_N; k++)
    assert_int_equal(iom_timer_active(h->t[h->perm[k]]), 1);
  h->later = HEAP_CANCEL_FIRST;
  h->nlater = HEAP_CANCEL_LATER;

  for (int i = 0; i < 100000 && stats_of(loop).active > 0; i++)
    assert_true(iom_loop_run(loop, IOM_RUN_ONCE) >= 0);
  assert_int_equal(stats_of(loop).active, 0);
  assert_int_equal(h->early, 0);
  assert_int_equal(h->out_of_order, 0);
  assert_int_equal(h->bad_state, 0);
  assert_int_equal(h->bad_active, 0);
  int fired = 0, cancelled = 0;
  for (int i = 0; i < HEAP_N; i++) {
    assert_int_equal(iom_timer_active(h->t[i]), 0);
    fired += h->state[i] == 2;
    cancelled += h->state[i] == 1;
  }
  assert_int_equal(fired, h->fired);
  assert_int_equal(fired + cancelled, HEAP_N);
  assert_int_equal(cancelled, HEAP_CANCEL_FIRST + h->cancelled_in_cb);
  assert_true(h->cancelled_in_cb > 0);
  assert_true(fired >= HEAP_N - HEAP_CANCEL_FIRST - HEAP_CANCEL_LATER);

  for (int i = 0; i < HEAP_N; i++)
    iom_timer_free(h->t[i]);
  assert_int_equal(stats_of(loop).handles, 0);
  assert_int_equal(iom_loop_free(loop), 0);
  heap_g = NULL;
  free(h);
}

typedef struct lag_ctx {
  int a_calls, b_calls;
  unsigned block_ms;
} lag_ctx;

static void on_lag_blocker(iom_timer *t, void *data) {
  (void)t;
  lag_ctx *l = data;
  l->a_calls++;
  sleep_ms(l->block_ms);
}

static void on_lag_victim(iom_timer *t, void *data) {
  (void)t;
  ((lag_ctx *)data)->b_calls++;
}

static void test_stats_timer_lag(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  iom_loop_stats s = stats_of(loop);
  assert_int_equal(s.lag_last_ns, 0);
  assert_int_equal(s.lag_max_ns, 0);
  lag_ctx l = {0, 0, 60};
  iom_timer *a, *b;
  assert_int_equal(iom_timer_new(loop, on_lag_blocker, &l, &a), 0);
  assert_int_equal(iom_timer_new(loop, on_lag_victim, &l, &b), 0);
  iom_timer_start(a, 0, 0);
  iom_timer_start(b, 10, 0); /* due while a blocks the loop */
  for (int i = 0; i < 10 && l.b_calls == 0; i++)
    assert_true(iom_loop_run(loop, IOM_RUN_ONCE) >= 0);
  assert_int_equal(l.a_calls, 1);
  assert_int_equal(l.b_calls, 1);
  s = stats_of(loop);
  /* b ran at least 60 - 10 ms after its deadline. */
  assert_true(s.lag_last_ns >= 40 * 1000000ull);
  assert_true(s.lag_max_ns >= s.lag_last_ns);
  uint64_t max = s.lag_max_ns;
  /* An on-time timer afterwards: the worst stays. */
  iom_timer_start(b, 5, 0);
  for (int i = 0; i < 10 && l.b_calls == 1; i++)
    assert_true(iom_loop_run(loop, IOM_RUN_ONCE) >= 0);
  assert_int_equal(l.b_calls, 2);
  s = stats_of(loop);
  assert_true(s.lag_max_ns >= max);
  assert_true(s.lag_max_ns >= s.lag_last_ns);
  iom_timer_free(a);
  iom_timer_free(b);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* iom_loop_update_time: a callback that ran long reads the clock again, and
 * a timer that became due meanwhile runs in the same timer pass, before the
 * io callbacks of that iteration (by the stale clock it would not be due). */
typedef struct update_ctx {
  iom_loop *loop;
  uint64_t before_ms, after_ms;
  int victim_calls, victim_calls_seen_by_io, io_calls;
} update_ctx;

static void on_update_blocker(iom_timer *t, void *data) {
  (void)t;
  update_ctx *u = data;
  u->before_ms = iom_loop_now(u->loop);
  sleep_ms(40);
  assert_int_equal(iom_loop_now(u->loop), u->before_ms); /* cached */
  iom_loop_update_time(u->loop);
  u->after_ms = iom_loop_now(u->loop);
}

static void on_update_victim(iom_timer *t, void *data) {
  (void)t;
  ((update_ctx *)data)->victim_calls++;
}

static void on_update_io(iom_io *io, unsigned ev, void *data) {
  (void)ev;
  update_ctx *u = data;
  if (u->io_calls++ == 0)
    u->victim_calls_seen_by_io = u->victim_calls;
  iom_io_stop(io);
}

static void test_loop_update_time(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  update_ctx u = {loop, 0, 0, 0, -1, 0};
  int sv[2];
  tu_socketpair(sv);
  iom_io *io;
  iom_timer *a, *b;
  assert_int_equal(iom_io_new(loop, sv[0], on_update_io, &u, &io), 0);
  assert_int_equal(iom_io_start(io, IOM_WRITE), 0); /* ready at once */
  assert_int_equal(iom_timer_new(loop, on_update_blocker, &u, &a), 0);
  assert_int_equal(iom_timer_new(loop, on_update_victim, &u, &b), 0);
  uint64_t t0 = tu_now_ms();
  iom_timer_start(a, 0, 0);
  iom_timer_start(b, 10, 0);
  sleep_ms(1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_true(u.before_ms >= t0);
  assert_true(u.after_ms >= u.before_ms + 40);
  assert_true(iom_loop_now(loop) >= u.after_ms);
  assert_int_equal(u.io_calls, 1);
  assert_int_equal(u.victim_calls, 1);
  assert_int_equal(u.victim_calls_seen_by_io, 1);
  iom_io_free(io);
  iom_timer_free(a);
  iom_timer_free(b);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

/* ---- 5. signals ---------------------------------------------------------- */

typedef struct sig_rec {
  iom_signal *sig;
  int calls;
  int signo;
  int off_thread;
  pthread_t loop_thread;
} sig_rec;

static void on_sig_rec(iom_signal *s, int signo, void *data) {
  sig_rec *r = data;
  assert_ptr_equal(s, r->sig);
  r->calls++;
  r->signo = signo;
  if (!pthread_equal(pthread_self(), r->loop_thread))
    r->off_thread++;
}

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

static void *send_signal_later(void *p) {
  sig_sender *s = p;
  sleep_ms(s->delay_ms);
  if (s->use_kill)
    kill(getpid(), s->signo);
  else
    pthread_kill(s->target, s->signo);
  for (int i = 0; i < 300 && !atomic_load(&s->seen); i++)
    sleep_ms(10);
  if (!atomic_load(&s->seen))
    iom_async_send(s->watchdog);
  return NULL;
}

static void on_watchdog(iom_async *a, void *data) {
  (void)a;
  (*(int *)data)++;
}

typedef struct sig_seen {
  sig_rec rec;
  sig_sender *sender;
} sig_seen;

static void on_sig_seen(iom_signal *s, int signo, void *data) {
  sig_seen *x = data;
  on_sig_rec(s, signo, &x->rec);
  atomic_store(&x->sender->seen, 1);
}

static void test_signal_from_another_thread(void **state) {
  (void)state;
  if (UNDER_TSAN && backend == IOM_SELECT)
    skip(); /* see UNDER_TSAN */
  struct sigaction before, after;
  sigaction(SIGUSR1, NULL, &before);
  for (int use_kill = 0; use_kill < 2; use_kill++) {
    iom_loop *loop = loop_new();
    sig_sender snd;
    memset(&snd, 0, sizeof snd);
    snd.target = pthread_self();
    snd.signo = SIGUSR1;
    snd.use_kill = use_kill;
    snd.delay_ms = 50;
    atomic_init(&snd.seen, 0);
    int barks = 0;
    assert_int_equal(iom_async_new(loop, on_watchdog, &barks, &snd.watchdog),
                     0);
    sig_seen x = {{NULL, 0, 0, 0, pthread_self()}, &snd};
    assert_int_equal(iom_signal_new(loop, on_sig_seen, &x, &x.rec.sig), 0);
    assert_int_equal(iom_signal_start(x.rec.sig, SIGUSR1), 0);
    assert_int_equal(stats_of(loop).active, 2);
    pthread_t th;
    uint64_t t0 = tu_now_ms();
    assert_int_equal(pthread_create(&th, NULL, send_signal_later, &snd), 0);
    for (int i = 0; i < 5 && x.rec.calls == 0 && barks == 0; i++)
      assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
    pthread_join(th, NULL);
    assert_int_equal(barks, 0); /* woken by the signal, not the watchdog */
    assert_int_equal(x.rec.calls, 1);
    assert_int_equal(x.rec.signo, SIGUSR1);
    assert_int_equal(x.rec.off_thread, 0);
    assert_true(tu_now_ms() >= t0 + 50);
    assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
    assert_int_equal(x.rec.calls, 1);
    iom_signal_free(x.rec.sig);
    iom_async_free(snd.watchdog);
    assert_int_equal(stats_of(loop).active, 0);
    assert_int_equal(iom_loop_free(loop), 0);
  }
  sigaction(SIGUSR1, NULL, &after);
  assert_ptr_equal((void *)after.sa_handler, (void *)before.sa_handler);
}

static void test_signal_several_watchers(void **state) {
  (void)state;
  iom_loop *l1 = loop_new(), *l2 = loop_new();
  pthread_t me = pthread_self();
  sig_rec a = {NULL, 0, 0, 0, me}, b = a, c = a;
  assert_int_equal(iom_signal_new(l1, on_sig_rec, &a, &a.sig), 0);
  assert_int_equal(iom_signal_new(l1, on_sig_rec, &b, &b.sig), 0);
  assert_int_equal(iom_signal_new(l2, on_sig_rec, &c, &c.sig), 0);
  assert_int_equal(iom_signal_start(a.sig, SIGUSR1), 0);
  assert_int_equal(iom_signal_start(b.sig, SIGUSR1), 0);
  assert_int_equal(iom_signal_start(c.sig, SIGUSR1), 0);
  raise(SIGUSR1);
  assert_int_equal(iom_loop_run(l1, IOM_RUN_NOWAIT), 1);
  assert_int_equal(a.calls, 1);
  assert_int_equal(b.calls, 1);
  assert_int_equal(c.calls, 0);
  assert_int_equal(iom_loop_run(l2, IOM_RUN_NOWAIT), 1);
  assert_int_equal(c.calls, 1);
  /* Stop one: the others still get it. */
  iom_signal_stop(a.sig);
  raise(SIGUSR1);
  assert_int_equal(iom_loop_run(l1, IOM_RUN_NOWAIT), 1);
  assert_int_equal(iom_loop_run(l2, IOM_RUN_NOWAIT), 1);
  assert_int_equal(a.calls, 1);
  assert_int_equal(b.calls, 2);
  assert_int_equal(c.calls, 2);
  iom_signal_free(a.sig);
  iom_signal_free(b.sig);
  iom_signal_free(c.sig);
  assert_int_equal(iom_loop_free(l1), 0);
  assert_int_equal(iom_loop_free(l2), 0);
}

static volatile sig_atomic_t own_usr1_hits;
static void own_usr1(int signo) {
  (void)signo;
  own_usr1_hits++;
}

static void test_signal_disposition_restored(void **state) {
  (void)state;
  struct sigaction orig, mine, cur;
  sigaction(SIGUSR1, NULL, &orig);
  memset(&mine, 0, sizeof mine);
  mine.sa_handler = own_usr1;
  sigemptyset(&mine.sa_mask);
  assert_int_equal(sigaction(SIGUSR1, &mine, NULL), 0);

  iom_loop *loop = loop_new();
  int n1 = 0, n2 = 0;
  iom_signal *s1, *s2;
  assert_int_equal(iom_signal_new(loop, on_signal_count, &n1, &s1), 0);
  assert_int_equal(iom_signal_new(loop, on_signal_count, &n2, &s2), 0);
  sigaction(SIGUSR1, NULL, &cur);
  assert_ptr_equal((void *)cur.sa_handler, (void *)own_usr1); /* new: no */
  assert_int_equal(iom_signal_start(s1, SIGUSR1), 0);
  sigaction(SIGUSR1, NULL, &cur);
  assert_ptr_not_equal((void *)cur.sa_handler, (void *)own_usr1);
  assert_int_equal(iom_signal_start(s2, SIGUSR1), 0);
  /* No other signal was touched. */
  struct sigaction usr2;
  sigaction(SIGUSR2, NULL, &usr2);
  assert_ptr_equal((void *)usr2.sa_handler, (void *)SIG_DFL);

  own_usr1_hits = 0;
  raise(SIGUSR1);
  assert_int_equal(own_usr1_hits, 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(n1, 1);
  assert_int_equal(n2, 1);

  iom_signal_stop(s1);
  sigaction(SIGUSR1, NULL, &cur);
  assert_ptr_not_equal((void *)cur.sa_handler, (void *)own_usr1); /* s2 on */
  iom_signal_stop(s2);
  sigaction(SIGUSR1, NULL, &cur);
  assert_ptr_equal((void *)cur.sa_handler, (void *)own_usr1);
  raise(SIGUSR1);
  assert_int_equal(own_usr1_hits, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(n1 + n2, 2);

  /* Again, ending with a free instead of a stop. */
  assert_int_equal(iom_signal_start(s1, SIGUSR1), 0);
  iom_signal_free(s1);
  sigaction(SIGUSR1, NULL, &cur);
  assert_ptr_equal((void *)cur.sa_handler, (void *)own_usr1);

  iom_signal_free(s2);
  assert_int_equal(iom_loop_free(loop), 0);
  sigaction(SIGUSR1, &orig, NULL);
}

static void test_signal_errors(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int n = 0;
  iom_signal *s;
  assert_int_equal(iom_signal_new(loop, on_signal_count, &n, &s), 0);
  static const int bad[] = {SIGKILL, SIGSTOP, 0, -1, 65, 1000};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(iom_signal_start(s, bad[i]), -EINVAL);
  assert_int_equal(stats_of(loop).active, 0);
  assert_int_equal(iom_signal_start(s, SIGUSR1), 0);
  assert_int_equal(iom_signal_start(s, SIGUSR2), -EBUSY);
  assert_int_equal(iom_signal_start(s, SIGKILL), -EINVAL);
  assert_int_equal(iom_signal_start(s, SIGUSR1), 0); /* the same: fine */
  assert_int_equal(stats_of(loop).active, 1);
  struct sigaction usr2;
  sigaction(SIGUSR2, NULL, &usr2);
  assert_ptr_equal((void *)usr2.sa_handler, (void *)SIG_DFL);
  iom_signal_stop(s);
  iom_signal_stop(s);
  assert_int_equal(stats_of(loop).active, 0);
  assert_int_equal(iom_signal_start(s, SIGUSR2), 0);
  iom_signal_stop(s);
  sigaction(SIGUSR2, NULL, &usr2);
  assert_ptr_equal((void *)usr2.sa_handler, (void *)SIG_DFL);
  iom_signal_free(s);
  assert_int_equal(iom_loop_free(loop), 0);
}

typedef struct raiser {
  int raises;
} raiser;

static void on_timer_raise(iom_timer *t, void *data) {
  (void)t;
  raiser *r = data;
  for (int i = 0; i < r->raises; i++)
    raise(SIGUSR1);
}

static void test_signal_coalesced(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int n = 0;
  iom_signal *s;
  assert_int_equal(iom_signal_new(loop, on_signal_count, &n, &s), 0);
  assert_int_equal(iom_signal_start(s, SIGUSR1), 0);
  /* Raised twice before the loop runs. */
  raise(SIGUSR1);
  raise(SIGUSR1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(n, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(n, 1);
  /* Raised twice from inside a callback. */
  raiser r = {2};
  iom_timer *t;
  assert_int_equal(iom_timer_new(loop, on_timer_raise, &r, &t), 0);
  iom_timer_start(t, 0, 0);
  sleep_ms(1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(n, 2);
  iom_timer_free(t);
  iom_signal_free(s);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* Two watchers of one signal: the first to run frees the other. */
typedef struct sigpair {
  iom_signal *s[2];
  int calls[2], first;
} sigpair;

static void on_sigpair(iom_signal *s, int signo, void *data) {
  (void)signo;
  sigpair *p = data;
  int me = s == p->s[0] ? 0 : 1;
  assert_ptr_equal(s, p->s[me]);
  p->calls[me]++;
  if (p->first < 0) {
    p->first = me;
    iom_signal_free(p->s[!me]);
    p->s[!me] = NULL;
  }
}

static void test_signal_free_other_in_dispatch(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  sigpair p = {{NULL, NULL}, {0, 0}, -1};
  assert_int_equal(iom_signal_new(loop, on_sigpair, &p, &p.s[0]), 0);
  assert_int_equal(iom_signal_new(loop, on_sigpair, &p, &p.s[1]), 0);
  assert_int_equal(iom_signal_start(p.s[0], SIGUSR1), 0);
  assert_int_equal(iom_signal_start(p.s[1], SIGUSR1), 0);
  raise(SIGUSR1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_true(p.first == 0 || p.first == 1);
  assert_int_equal(p.calls[p.first], 1);
  assert_int_equal(p.calls[!p.first], 0);
  iom_signal_free(p.s[p.first]);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* One delivery, one callback per watcher: a watcher that stops and restarts
 * itself (or starts a new watcher) from its callback is not called again for
 * the same delivery. */
typedef struct sigrestart {
  iom_signal *s[3];
  int calls[3];
  iom_loop *loop;
} sigrestart;

static void on_sigrestart(iom_signal *s, int signo, void *data) {
  sigrestart *r = data;
  int me = s == r->s[0] ? 0 : s == r->s[1] ? 1 : 2;
  r->calls[me]++;
  if (me == 0 && r->calls[0] == 1) {
    iom_signal_stop(s);
    assert_int_equal(iom_signal_start(s, signo), 0);
    assert_int_equal(iom_signal_start(r->s[2], signo), 0);
  }
}

static void test_signal_restart_in_dispatch(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  sigrestart r;
  memset(&r, 0, sizeof r);
  r.loop = loop;
  for (int i = 0; i < 3; i++)
    assert_int_equal(iom_signal_new(loop, on_sigrestart, &r, &r.s[i]), 0);
  assert_int_equal(iom_signal_start(r.s[0], SIGUSR1), 0);
  assert_int_equal(iom_signal_start(r.s[1], SIGUSR1), 0);
  raise(SIGUSR1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  for (int i = 0; i < 3; i++)
    iom_signal_free(r.s[i]);
  assert_int_equal(iom_loop_free(loop), 0);
  if (r.calls[0] != 1 || r.calls[2] != 0)
    print_error("one SIGUSR1: restarted watcher called %d times, watcher "
                "started during dispatch called %d times\n",
                r.calls[0], r.calls[2]);
  assert_int_equal(r.calls[1], 1);
  assert_int_equal(r.calls[0], 1);
  assert_int_equal(r.calls[2], 0);
}

/* A delivery caught for a watcher that is stopped before the loop gets to
 * it is not handed to a watcher started afterwards (as an fd reused by a new
 * watcher never receives an event meant for the old one). */
static void test_signal_not_delivered_to_later_watcher(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int old_calls = 0, new_calls = 0;
  iom_signal *old_w, *new_w;
  assert_int_equal(iom_signal_new(loop, on_signal_count, &old_calls, &old_w),
                   0);
  assert_int_equal(iom_signal_new(loop, on_signal_count, &new_calls, &new_w),
                   0);
  assert_int_equal(iom_signal_start(old_w, SIGUSR1), 0);
  raise(SIGUSR1); /* caught, not yet dispatched */
  iom_signal_stop(old_w);
  assert_int_equal(iom_signal_start(new_w, SIGUSR1), 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  int stale = new_calls;
  /* Its own deliveries do reach it. */
  raise(SIGUSR1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  int own = new_calls - stale;
  iom_signal_free(old_w);
  iom_signal_free(new_w);
  assert_int_equal(iom_loop_free(loop), 0);
  assert_int_equal(old_calls, 0);
  if (stale != 0)
    print_error("a SIGUSR1 raised before the watcher started reached it\n");
  assert_int_equal(stale, 0);
  assert_int_equal(own, 1);
}

/* ---- 6. async ------------------------------------------------------------ */

enum { ASYNC_THREADS = 8, ASYNC_SENDS = 10000 };

typedef struct async_ctx {
  iom_loop *loop;
  iom_async *work, *done;
  pthread_t loop_thread;
  long calls;
  int off_thread, done_calls;
  atomic_int finished;
} async_ctx;

static void on_async_work(iom_async *a, void *data) {
  async_ctx *c = data;
  assert_ptr_equal(a, c->work);
  c->calls++;
  if (!pthread_equal(pthread_self(), c->loop_thread))
    c->off_thread++;
}

static void on_async_done(iom_async *a, void *data) {
  async_ctx *c = data;
  assert_ptr_equal(a, c->done);
  c->done_calls++;
  if (!pthread_equal(pthread_self(), c->loop_thread))
    c->off_thread++;
  iom_loop_stop(c->loop);
}

static void *async_sender(void *p) {
  async_ctx *c = p;
  for (int i = 0; i < ASYNC_SENDS; i++)
    iom_async_send(c->work);
  if (atomic_fetch_add(&c->finished, 1) == ASYNC_THREADS - 1)
    iom_async_send(c->done);
  return NULL;
}

static void test_async_from_threads(void **state) {
  (void)state;
  async_ctx c;
  memset(&c, 0, sizeof c);
  c.loop = loop_new();
  c.loop_thread = pthread_self();
  atomic_init(&c.finished, 0);
  assert_int_equal(iom_async_new(c.loop, on_async_work, &c, &c.work), 0);
  assert_int_equal(iom_async_new(c.loop, on_async_done, &c, &c.done), 0);
  assert_int_equal(stats_of(c.loop).active, 2);
  pthread_t th[ASYNC_THREADS];
  for (int i = 0; i < ASYNC_THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, async_sender, &c), 0);
  assert_int_equal(iom_loop_run(c.loop, IOM_RUN_DEFAULT), 1);
  for (int i = 0; i < ASYNC_THREADS; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(c.done_calls, 1);
  /* Run until nothing is pending any more. */
  int quiet = 0;
  for (int i = 0; i < 20 && quiet < 2; i++) {
    long before = c.calls;
    assert_int_equal(iom_loop_run(c.loop, IOM_RUN_NOWAIT), 1);
    quiet = c.calls == before ? quiet + 1 : 0;
  }
  assert_int_equal(quiet, 2);
  assert_true(c.calls >= 1);
  assert_true(c.calls <= (long)ASYNC_THREADS * ASYNC_SENDS);
  assert_int_equal(c.off_thread, 0);
  assert_int_equal(c.done_calls, 1);
  /* One more send: exactly one more callback. */
  long before = c.calls;
  iom_async_send(c.work);
  assert_int_equal(iom_loop_run(c.loop, IOM_RUN_ONCE), 1);
  assert_int_equal(c.calls, before + 1);
  assert_int_equal(iom_loop_run(c.loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(c.calls, before + 1);
  assert_int_equal(c.done_calls, 1);

  iom_async_free(c.work);
  iom_async_free(c.done);
  assert_int_equal(iom_loop_run(c.loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(iom_loop_free(c.loop), 0);
}

static void test_async_coalesce_and_keep_alive(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int n = 0, m = 0;
  iom_async *a, *b;
  assert_int_equal(iom_async_new(loop, on_async_count, &n, &a), 0);
  assert_int_equal(stats_of(loop).active, 1);
  assert_int_equal(stats_of(loop).handles, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1); /* keeps alive */
  assert_int_equal(n, 0);
  iom_async_send(a);
  iom_async_send(a);
  iom_async_send(a);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(n, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(n, 1);
  /* Two handles, each its own callback. */
  assert_int_equal(iom_async_new(loop, on_async_count, &m, &b), 0);
  iom_async_send(b);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(n, 1);
  assert_int_equal(m, 1);
  iom_async_send(a);
  iom_async_send(b);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(n, 2);
  assert_int_equal(m, 2);
  iom_async_free(a);
  iom_async_free(b);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* An async that sends itself again from its callback runs once per
 * iteration: it cannot hold the loop, and the re-send is not lost. */
typedef struct resender {
  iom_async *a;
  int calls, limit;
} resender;

static void on_resend(iom_async *a, void *data) {
  resender *r = data;
  assert_ptr_equal(a, r->a);
  if (++r->calls < r->limit)
    iom_async_send(a);
}

static void test_async_resend_from_callback(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  resender r = {NULL, 0, 1000};
  assert_int_equal(iom_async_new(loop, on_resend, &r, &r.a), 0);
  iom_async_send(r.a);
  for (int i = 1; i <= 5; i++) {
    assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
    assert_int_equal(r.calls, i);
  }
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(r.calls, 6);
  iom_async_free(r.a);
  assert_int_equal(iom_loop_free(loop), 0);
}

typedef struct apair {
  iom_async *a[2];
  int calls[2], first;
} apair;

static void on_apair(iom_async *a, void *data) {
  apair *p = data;
  int me = a == p->a[0] ? 0 : 1;
  assert_ptr_equal(a, p->a[me]);
  p->calls[me]++;
  if (p->first < 0) {
    p->first = me;
    iom_async_free(p->a[!me]);
    p->a[!me] = NULL;
  }
}

static void test_async_free_other_pending(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  apair p = {{NULL, NULL}, {0, 0}, -1};
  assert_int_equal(iom_async_new(loop, on_apair, &p, &p.a[0]), 0);
  assert_int_equal(iom_async_new(loop, on_apair, &p, &p.a[1]), 0);
  iom_async_send(p.a[1]);
  iom_async_send(p.a[0]);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_true(p.first == 0 || p.first == 1);
  assert_int_equal(p.calls[p.first], 1);
  assert_int_equal(p.calls[!p.first], 0);
  assert_int_equal(stats_of(loop).handles, 1);
  iom_async_free(p.a[p.first]);
  assert_int_equal(iom_loop_free(loop), 0);
}

static iom_async *usr2_async;
static void usr2_sends(int signo) {
  (void)signo;
  iom_async_send(usr2_async);
}

static void test_async_send_from_signal_handler(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int n = 0;
  assert_int_equal(iom_async_new(loop, on_async_count, &n, &usr2_async), 0);
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = usr2_sends;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGUSR2, &sa, &old), 0);
  raise(SIGUSR2);
  raise(SIGUSR2);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(n, 1);
  /* From a signal another thread sends to this one while the loop waits. */
  if (!(UNDER_TSAN && backend == IOM_SELECT)) { /* see UNDER_TSAN */
    sig_sender snd;
    memset(&snd, 0, sizeof snd);
    snd.target = pthread_self();
    snd.signo = SIGUSR2;
    snd.delay_ms = 30;
    atomic_init(&snd.seen, 0);
    int barks = 0;
    assert_int_equal(iom_async_new(loop, on_watchdog, &barks, &snd.watchdog),
                     0);
    uint64_t t0 = tu_now_ms();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_signal_later, &snd), 0);
    for (int i = 0; i < 5 && n == 1 && barks == 0; i++)
      assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
    atomic_store(&snd.seen, 1);
    pthread_join(th, NULL);
    assert_int_equal(barks, 0);
    assert_int_equal(n, 2);
    assert_true(tu_now_ms() >= t0 + 30);
    iom_async_free(snd.watchdog);
  }
  sigaction(SIGUSR2, &old, NULL);
  iom_async_free(usr2_async);
  usr2_async = NULL;
  assert_int_equal(iom_loop_free(loop), 0);
}

/* ---- 7. deferred calls --------------------------------------------------- */

typedef struct defer_item {
  order_ctx *ctx;
  int id;
  iom_loop *loop;
  struct defer_item *then; /* scheduled from this one's call, if set */
} defer_item;

static void on_defer_item(void *data) {
  defer_item *d = data;
  d->ctx->order[d->ctx->n++] = d->id;
  if (d->then)
    assert_int_equal(iom_loop_call_soon(d->loop, on_defer_item, d->then), 0);
}

static void on_timer_order(iom_timer *t, void *data) {
  (void)t;
  order_ctx *c = data;
  c->order[c->n++] = 100;
}

static void test_call_soon_order_and_nesting(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  order_ctx ctx = {{0}, 0};
  defer_item items[8];
  for (int i = 0; i < 8; i++)
    items[i] = (defer_item){&ctx, i, loop, NULL};
  items[1].then = &items[6];
  items[6].then = &items[7];
  for (int i = 0; i < 6; i++)
    assert_int_equal(iom_loop_call_soon(loop, on_defer_item, &items[i]), 0);
  assert_int_equal(ctx.n, 0); /* never at once */
  assert_int_equal(stats_of(loop).handles, 0);

  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1); /* 6 pending */
  assert_int_equal(ctx.n, 6);
  for (int i = 0; i < 6; i++)
    assert_int_equal(ctx.order[i], i);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1); /* 7 pending */
  assert_int_equal(ctx.n, 7);
  assert_int_equal(ctx.order[6], 6);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(ctx.n, 8);
  assert_int_equal(ctx.order[7], 7);

  /* After due timers. */
  ctx.n = 0;
  iom_timer *t;
  assert_int_equal(iom_timer_new(loop, on_timer_order, &ctx, &t), 0);
  iom_timer_start(t, 0, 0);
  assert_int_equal(iom_loop_call_soon(loop, on_defer_item, &items[0]), 0);
  sleep_ms(1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(ctx.n, 2);
  assert_int_equal(ctx.order[0], 100);
  assert_int_equal(ctx.order[1], 0);

  /* A call queued by a deferred call keeps the wait from blocking: RUN_ONCE
   * with an idle watcher returns without a blocking wait. */
  int sv[2];
  tu_socketpair(sv);
  iom_io *io;
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, NULL, &io), 0);
  assert_int_equal(iom_io_start(io, IOM_READ), 0);
  ctx.n = 0;
  items[2].then = &items[3];
  assert_int_equal(iom_loop_call_soon(loop, on_defer_item, &items[2]), 0);
  iom_loop_stats s0 = stats_of(loop);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(ctx.n, 1);
  assert_int_equal(stats_of(loop).waits, s0.waits);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(ctx.n, 2);
  assert_int_equal(ctx.order[1], 3);
  iom_io_free(io);
  iom_timer_free(t);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

/* iom_loop_free from a deferred call, on a loop with no handle at all:
 * refused, since the loop is running. */
typedef struct free_in_defer {
  iom_loop *loop;
  int rc, calls;
} free_in_defer;

static void on_defer_free_loop(void *data) {
  free_in_defer *f = data;
  f->calls++;
  f->rc = iom_loop_free(f->loop);
}

static void test_free_loop_from_deferred_call(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  free_in_defer f = {loop, 0, 0};
  assert_int_equal(iom_loop_call_soon(loop, on_defer_free_loop, &f), 0);
  assert_int_equal(stats_of(loop).handles, 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(f.calls, 1);
  assert_int_equal(f.rc, -EBUSY);
  assert_int_equal(iom_loop_free(loop), 0);
}

static void test_call_soon_no_allocation_once_grown(void **state) {
  (void)state;
  tu_alloc_install();
  tu_alloc_reset(-1);
  iom_loop *loop = loop_new();
  int n = 0;
  for (int i = 0; i < 16; i++)
    assert_int_equal(iom_loop_call_soon(loop, on_deferred_count, &n), 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(n, 16);
  long calls = tu_alloc_calls;
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 16; i++)
      assert_int_equal(iom_loop_call_soon(loop, on_deferred_count, &n), 0);
    assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  }
  assert_int_equal(n, 64);
  assert_int_equal(tu_alloc_calls, calls);
  /* Pending calls at free time are dropped, not leaked. */
  for (int i = 0; i < 20; i++)
    assert_int_equal(iom_loop_call_soon(loop, on_deferred_count, &n), 0);
  assert_int_equal(iom_loop_free(loop), 0);
  assert_int_equal(n, 64);
  assert_int_equal(tu_alloc_live, 0);
  iom_set_allocator(malloc, realloc, calloc, free);
}

/* ---- 8. allocation failure ----------------------------------------------- */

typedef struct alloc_round {
  int io_calls, timer_calls, sig_calls, async_calls, deferred_calls;
} alloc_round;

static void on_alloc_io(iom_io *io, unsigned ev, void *data) {
  (void)io;
  (void)ev;
  ((alloc_round *)data)->io_calls++;
}
static void on_alloc_timer(iom_timer *t, void *data) {
  (void)t;
  ((alloc_round *)data)->timer_calls++;
}
static void on_alloc_sig(iom_signal *s, int signo, void *data) {
  (void)s;
  (void)signo;
  ((alloc_round *)data)->sig_calls++;
}
static void on_alloc_async(iom_async *a, void *data) {
  (void)a;
  ((alloc_round *)data)->async_calls++;
}
static void on_alloc_deferred(void *data) {
  ((alloc_round *)data)->deferred_calls++;
}

static int ok_or_nomem(int rc) { return rc == 0 || rc == -ENOMEM; }

static void test_allocation_failures(void **state) {
  (void)state;
  int sv[2];
  tu_socketpair(sv);
  put_byte(sv[1], 'x');
  tu_alloc_install();
  int rounds = 0, failures_seen = 0;
  for (long fail_at = 0;; fail_at++) {
    tu_alloc_reset(fail_at);
    alloc_round r = {0};
    iom_loop *loop = NULL;
    int err = iom_loop_new(backend, &loop);
    rounds++;
    if (err < 0) {
      assert_int_equal(err, -ENOMEM);
      assert_int_equal(tu_alloc_live, 0);
      failures_seen++;
      continue;
    }
    iom_io *io = NULL;
    iom_timer *t = NULL;
    iom_signal *sig = NULL;
    iom_async *a = NULL;
    int io_started = 0, sig_started = 0, deferred = 0;

    err = iom_io_new(loop, sv[0], on_alloc_io, &r, &io);
    assert_true(ok_or_nomem(err));
    if (err == 0) {
      err = iom_io_start(io, IOM_READ);
      assert_true(ok_or_nomem(err));
      io_started = err == 0;
      if (err < 0)
        assert_int_equal(iom_io_events(io), 0);
    } else {
      io = NULL;
    }
    err = iom_timer_new(loop, on_alloc_timer, &r, &t);
    assert_true(ok_or_nomem(err));
    if (err == 0)
      iom_timer_start(t, 0, 0);
    else
      t = NULL;
    err = iom_signal_new(loop, on_alloc_sig, &r, &sig);
    assert_true(ok_or_nomem(err));
    if (err == 0) {
      assert_int_equal(iom_signal_start(sig, SIGUSR1), 0);
      sig_started = 1;
    } else {
      sig = NULL;
    }
    err = iom_async_new(loop, on_alloc_async, &r, &a);
    assert_true(ok_or_nomem(err));
    if (err == 0)
      iom_async_send(a);
    else
      a = NULL;
    for (int i = 0; i < 6; i++) {
      err = iom_loop_call_soon(loop, on_alloc_deferred, &r);
      assert_true(ok_or_nomem(err));
      deferred += err == 0;
    }
    if (sig_started)
      raise(SIGUSR1);
    iom_loop_stats st = stats_of(loop);
    assert_int_equal(st.handles, !!io + !!t + !!sig + !!a);
    assert_int_equal(st.active, io_started + !!t + sig_started + !!a);

    sleep_ms(t ? 1 : 0);
    int rc = iom_loop_run(loop, IOM_RUN_NOWAIT);
    assert_true(rc == 0 || rc == 1);
    assert_int_equal(r.io_calls, io_started);
    assert_int_equal(r.timer_calls, t ? 1 : 0);
    assert_int_equal(r.sig_calls, sig_started);
    assert_int_equal(r.async_calls, a ? 1 : 0);
    assert_int_equal(r.deferred_calls, deferred);
    /* The free list now holds the nodes: more calls reuse them. */
    for (int i = 0; i < deferred; i++)
      assert_int_equal(iom_loop_call_soon(loop, on_alloc_deferred, &r), 0);
    rc = iom_loop_run(loop, IOM_RUN_NOWAIT);
    assert_true(rc == 0 || rc == 1);
    assert_int_equal(r.deferred_calls, 2 * deferred);

    iom_io_free(io);
    iom_timer_free(t);
    iom_signal_free(sig);
    iom_async_free(a);
    assert_int_equal(iom_loop_free(loop), 0);
    assert_int_equal(tu_alloc_live, 0);
    if (fail_at >= tu_alloc_calls) /* no failure was injected */
      break;
    failures_seen++;
  }
  tu_alloc_reset(-1);
  iom_set_allocator(malloc, realloc, calloc, free);
  assert_true(rounds > 5);
  assert_true(failures_seen > 0);
  close_pair(sv);
}

/* ---- 9. stats ------------------------------------------------------------ */

static void test_stats_counts(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  iom_loop_stats s = stats_of(loop);
  assert_int_equal(s.iterations, 0);
  assert_int_equal(s.waits, 0);
  assert_int_equal(s.active, 0);
  assert_int_equal(s.handles, 0);
  assert_int_equal(s.lag_last_ns, 0);
  assert_int_equal(s.lag_max_ns, 0);

  int sv[2], n = 0;
  tu_socketpair(sv);
  io_rec r = {0};
  iom_io *io;
  iom_timer *t;
  iom_signal *sig;
  iom_async *a;
  assert_int_equal(iom_io_new(loop, sv[0], on_io_count, &r, &io), 0);
  r.io = io;
  assert_int_equal(iom_timer_new(loop, on_timer_count, &n, &t), 0);
  assert_int_equal(iom_signal_new(loop, on_signal_count, &n, &sig), 0);
  s = stats_of(loop);
  assert_int_equal(s.handles, 3);
  assert_int_equal(s.active, 0);
  assert_int_equal(iom_async_new(loop, on_async_count, &n, &a), 0);
  s = stats_of(loop);
  assert_int_equal(s.handles, 4);
  assert_int_equal(s.active, 1); /* an async is active while it exists */

  assert_int_equal(iom_io_start(io, IOM_READ), 0);
  iom_timer_start(t, 100000, 0);
  assert_int_equal(iom_signal_start(sig, SIGUSR1), 0);
  s = stats_of(loop);
  assert_int_equal(s.active, 4);
  assert_int_equal(s.handles, 4);

  for (uint64_t i = 1; i <= 3; i++) {
    assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
    s = stats_of(loop);
    assert_int_equal(s.iterations, i);
    assert_int_equal(s.waits, 0);
  }
  put_byte(sv[1], 'x');
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  s = stats_of(loop);
  assert_int_equal(s.iterations, 4);
  assert_int_equal(s.waits, 1);
  assert_int_equal(r.calls, 1);

  iom_io_stop(io);
  iom_timer_stop(t);
  s = stats_of(loop);
  assert_int_equal(s.active, 2);
  iom_signal_stop(sig);
  s = stats_of(loop);
  assert_int_equal(s.active, 1);
  assert_int_equal(s.handles, 4);
  iom_io_free(io);
  iom_timer_free(t);
  s = stats_of(loop);
  assert_int_equal(s.handles, 2);
  iom_signal_free(sig);
  iom_async_free(a);
  s = stats_of(loop);
  assert_int_equal(s.handles, 0);
  assert_int_equal(s.active, 0);
  /* Freeing started handles takes them out of both counts. */
  assert_int_equal(iom_timer_new(loop, on_timer_count, &n, &t), 0);
  iom_timer_start(t, 100000, 0);
  assert_int_equal(stats_of(loop).active, 1);
  iom_timer_free(t);
  s = stats_of(loop);
  assert_int_equal(s.handles, 0);
  assert_int_equal(s.active, 0);
  assert_int_equal(s.iterations, 4);
  assert_int_equal(iom_loop_free(loop), 0);
  close_pair(sv);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s select|poll|epoll\n", argv[0]);
    return 2;
  }
  iom_loop *probe;
  setenv("IOM_BACKEND", argv[1], 1);
  int err = iom_loop_new(IOM_DEFAULT, &probe);
  unsetenv("IOM_BACKEND");
  if (err == -ENOSYS)
    return 77; /* the kernel lacks this backend */
  if (err < 0) {
    fprintf(stderr, "%s: %s\n", argv[1], iom_strerror(err));
    return 2;
  }
  const char *name = iom_loop_backend_name(probe);
  if (strcmp(name, argv[1]) != 0) {
    fprintf(stderr, "asked for %s, got %s\n", argv[1], name);
    return 2;
  }
  backend = !strcmp(name, "select") ? IOM_SELECT
            : !strcmp(name, "poll") ? IOM_POLL
                                    : IOM_DEFAULT;
#if defined(__linux__)
  if (!strcmp(name, "epoll"))
    backend = IOM_EPOLL;
#endif
  iom_loop_free(probe);
  if (backend == IOM_DEFAULT) {
    fprintf(stderr, "%s: not a backend this test knows\n", name);
    return 2;
  }

  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backend_name),
      cmocka_unit_test(test_nowait_returns_at_once),
      cmocka_unit_test(test_once_blocks_until_fd_ready),
      cmocka_unit_test(test_once_fd_written_by_timer),
      cmocka_unit_test(test_stop_from_callback),
      cmocka_unit_test(test_run_from_callback_is_busy),
      cmocka_unit_test(test_free_busy_while_handles_exist),
      cmocka_unit_test(test_selector_error_leaves_loop_usable),
      cmocka_unit_test(test_run_returns_when_nothing_active),
      cmocka_unit_test(test_once_returns_after_work_done),
      cmocka_unit_test(test_io_read_ready),
      cmocka_unit_test(test_io_write_ready),
      cmocka_unit_test(test_io_change_events),
      cmocka_unit_test(test_io_stop_and_start_again),
      cmocka_unit_test(test_io_errors),
      cmocka_unit_test(test_io_hangup_is_read),
      cmocka_unit_test(test_free_self_in_callback),
      cmocka_unit_test(test_free_other_ready_watcher),
      cmocka_unit_test(test_stop_other_ready_watcher),
      cmocka_unit_test(test_change_other_events_in_dispatch),
      cmocka_unit_test(test_stale_event_on_reused_fd),
      cmocka_unit_test(test_free_last_watcher_ends_default),
      cmocka_unit_test(test_timer_frees_other_due_timer),
      cmocka_unit_test(test_timer_restart_zero_once_per_iteration),
      cmocka_unit_test(test_cross_kind_free_in_dispatch),
      cmocka_unit_test(test_timer_oneshot),
      cmocka_unit_test(test_timer_repeat),
      cmocka_unit_test(test_timer_equal_timeouts_fire_in_start_order),
      cmocka_unit_test(test_timer_repeat_skips_missed_ticks),
      cmocka_unit_test(test_timer_heap_stress),
      cmocka_unit_test(test_stats_timer_lag),
      cmocka_unit_test(test_loop_update_time),
      cmocka_unit_test(test_signal_from_another_thread),
      cmocka_unit_test(test_signal_several_watchers),
      cmocka_unit_test(test_signal_disposition_restored),
      cmocka_unit_test(test_signal_errors),
      cmocka_unit_test(test_signal_coalesced),
      cmocka_unit_test(test_signal_free_other_in_dispatch),
      cmocka_unit_test(test_signal_restart_in_dispatch),
      cmocka_unit_test(test_signal_not_delivered_to_later_watcher),
      cmocka_unit_test(test_async_from_threads),
      cmocka_unit_test(test_async_coalesce_and_keep_alive),
      cmocka_unit_test(test_async_resend_from_callback),
      cmocka_unit_test(test_async_free_other_pending),
      cmocka_unit_test(test_async_send_from_signal_handler),
      cmocka_unit_test(test_call_soon_order_and_nesting),
      cmocka_unit_test(test_free_loop_from_deferred_call),
      cmocka_unit_test(test_call_soon_no_allocation_once_grown),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_stats_counts),
  };
  return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
