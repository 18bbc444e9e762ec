/* The loop's run modes and lifecycle (loop.h): RUN_DEFAULT, RUN_ONCE and
 * RUN_NOWAIT (including the runs that must return instead of blocking
 * forever, each in a child process), stop, run and free refused from inside
 * a callback, handles of every kind freed from their own callbacks and from
 * each other's, allocation failure at every site, and the stats counters.
 * Run once per selector backend: the backend's name is the first argument. */
#define _GNU_SOURCE
#include "iomux/alloc.h"
#include "iomux/loop.h"
#include "looputil.h"
#include "suite.h"
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_timer_count(iom_timer *t, void *data) {
  (void)t;
  (*(int *)data)++;
}

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
  CHILD_CHECK(iom_loop_new(suite_backend, &loop) == 0);
  CHILD_CHECK(iom_loop_run(loop, IOM_RUN_DEFAULT) == 0);
  CHILD_CHECK(iom_loop_free(loop) == 0);
  return 0;
}

static int sc_default_stopped_watcher(void) {
  iom_loop *loop;
  int sv[2], calls = 0;
  tu_socketpair(sv);
  CHILD_CHECK(iom_loop_new(suite_backend, &loop) == 0);
  iom_io *io;
  CHILD_CHECK(iom_io_new(loop, sv[0], NULL, &calls, &io) == 0);
  CHILD_CHECK(iom_loop_run(loop, IOM_RUN_DEFAULT) == 0); /* exists, inactive */
  iom_io_free(io);
  CHILD_CHECK(iom_loop_free(loop) == 0);
  return 0;
}

static int sc_once_nothing_active(void) {
  iom_loop *loop;
  CHILD_CHECK(iom_loop_new(suite_backend, &loop) == 0);
  CHILD_CHECK(iom_loop_run(loop, IOM_RUN_ONCE) == 0);
  CHILD_CHECK(iom_loop_free(loop) == 0);
  return 0;
}

/* The only handle: a one-shot timer already due when the run starts. */
static int sc_default_timer_due_at_start(void) {
  iom_loop *loop;
  iom_timer *t;
  int fired = 0;
  CHILD_CHECK(iom_loop_new(suite_backend, &loop) == 0);
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
  CHILD_CHECK(iom_loop_new(suite_backend, &loop) == 0);
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
  CHILD_CHECK(iom_loop_new(suite_backend, &loop) == 0);
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
  CHILD_CHECK(iom_loop_new(suite_backend, &loop) == 0);
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
  CHILD_CHECK(iom_loop_new(suite_backend, &loop) == 0);
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

/* ---- run modes ----------------------------------------------------------- */

static void test_backend_name(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  assert_string_equal(iom_loop_backend_name(loop),
                      iom_backend_name(suite_backend));
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
  if (suite_backend != IOM_SELECT)
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

/* ---- re-entrancy --------------------------------------------------------- */

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

/* ---- allocation failure -------------------------------------------------- */

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
    int err = iom_loop_new(suite_backend, &loop);
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

/* ---- stats --------------------------------------------------------------- */

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

static const suite_case cases[] = {
    SUITE_CASE(test_backend_name),
    SUITE_CASE(test_nowait_returns_at_once),
    SUITE_CASE(test_once_blocks_until_fd_ready),
    SUITE_CASE(test_once_fd_written_by_timer),
    SUITE_CASE(test_stop_from_callback),
    SUITE_CASE(test_run_from_callback_is_busy),
    SUITE_CASE(test_free_busy_while_handles_exist),
    SUITE_CASE(test_selector_error_leaves_loop_usable),
    SUITE_CASE(test_run_returns_when_nothing_active),
    SUITE_CASE(test_once_returns_after_work_done),
    SUITE_CASE(test_free_self_in_callback),
    SUITE_CASE(test_cross_kind_free_in_dispatch),
    SUITE_CASE(test_allocation_failures),
    SUITE_CASE(test_stats_counts),
};

int main(int argc, char **argv) {
  return SUITE_MAIN_PER_BACKEND(argc, argv, "loop_run", cases);
}
