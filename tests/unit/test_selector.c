/* The selector conformance suite: Python's selectors semantics, checked with
 * real sockets. The same tests run once per backend: the backend's name is
 * the first argument (CTest registers one run each). */
#define _GNU_SOURCE
#include "iomux/error.h"
#include "iomux/selector.h"
#include "suite.h"
#include "testutil.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

static int setup(void **state) {
  iom_selector *sel;
  assert_int_equal(iom_selector_new(suite_backend, &sel), 0);
  *state = sel;
  return 0;
}

static int teardown(void **state) {
  iom_selector_free(*state);
  return 0;
}

/* select() with room for 16 results; returns the count. */
static int wait_ready(iom_selector *sel, int timeout_ms, iom_ready *out) {
  return iom_selector_select(sel, timeout_ms, out, 16);
}

static void test_identity(void **state) {
  iom_selector *sel = *state;
  assert_int_equal(iom_selector_backend(sel), suite_backend);
  assert_string_equal(iom_selector_name(sel), iom_backend_name(suite_backend));
  assert_int_equal(iom_selector_count(sel), 0);
}

static void test_register_errors(void **state) {
  iom_selector *sel = *state;
  int sv[2];
  tu_socketpair(sv);
  int marker;
  assert_int_equal(iom_selector_register(sel, -1, IOM_READ, NULL), -EBADF);
  assert_int_equal(iom_selector_register(sel, sv[0], 0, NULL), -EINVAL);
  assert_int_equal(iom_selector_register(sel, sv[0], 4, NULL), -EINVAL);
  assert_int_equal(iom_selector_register(sel, sv[0], IOM_READ | 8, NULL),
                   -EINVAL);
  assert_int_equal(iom_selector_count(sel), 0);
  assert_int_equal(iom_selector_register(sel, sv[0], IOM_READ, &marker), 0);
  assert_int_equal(iom_selector_register(sel, sv[0], IOM_WRITE, NULL), -EEXIST);
  const iom_key *key;
  assert_int_equal(iom_selector_get_key(sel, sv[0], &key), 0);
  assert_int_equal(key->events, IOM_READ); /* the failed call changed nothing */
  assert_ptr_equal(key->data, &marker);
  assert_int_equal(iom_selector_count(sel), 1);
  close(sv[0]);
  close(sv[1]);
}

static void test_unknown_fd(void **state) {
  iom_selector *sel = *state;
  const iom_key *key;
  assert_int_equal(iom_selector_get_key(sel, 5, &key), -ENOENT);
  assert_int_equal(iom_selector_get_key(sel, 100000, &key), -ENOENT);
  assert_int_equal(iom_selector_get_key(sel, -3, &key), -ENOENT);
  assert_int_equal(iom_selector_modify(sel, 5, IOM_READ, NULL), -ENOENT);
  assert_int_equal(iom_selector_unregister(sel, 5), -ENOENT);
  assert_int_equal(iom_selector_unregister(sel, -1), -ENOENT);
  int sv[2];
  tu_socketpair(sv);
  assert_int_equal(iom_selector_register(sel, sv[0], IOM_READ, NULL), 0);
  assert_int_equal(iom_selector_unregister(sel, sv[0]), 0);
  assert_int_equal(iom_selector_unregister(sel, sv[0]), -ENOENT);
  assert_int_equal(iom_selector_get_key(sel, sv[0], &key), -ENOENT);
  close(sv[0]);
  close(sv[1]);
}

static void test_read_ready(void **state) {
  iom_selector *sel = *state;
  int sv[2], marker;
  iom_ready out[16];
  tu_socketpair(sv);
  assert_int_equal(iom_selector_register(sel, sv[0], IOM_READ, &marker), 0);
  assert_int_equal(wait_ready(sel, 0, out), 0);
  assert_int_equal(write(sv[1], "x", 1), 1);
  assert_int_equal(wait_ready(sel, 1000, out), 1);
  assert_int_equal(out[0].key->fd, sv[0]);
  assert_int_equal(out[0].events, IOM_READ);
  assert_ptr_equal(out[0].key->data, &marker);
  char c;
  assert_int_equal(read(sv[0], &c, 1), 1);
  assert_int_equal(wait_ready(sel, 0, out), 0);
  close(sv[0]);
  close(sv[1]);
}

/* One entry per fd, with the union of what is ready. */
static void test_union_once(void **state) {
  iom_selector *sel = *state;
  int sv[2];
  iom_ready out[16];
  tu_socketpair(sv);
  assert_int_equal(iom_selector_register(sel, sv[0], IOM_WRITE, NULL), 0);
  assert_int_equal(wait_ready(sel, 1000, out), 1);
  assert_int_equal(out[0].events, IOM_WRITE);
  assert_int_equal(write(sv[1], "x", 1), 1);
  assert_int_equal(iom_selector_modify(sel, sv[0], IOM_READ | IOM_WRITE, NULL),
                   0);
  assert_int_equal(wait_ready(sel, 1000, out), 1);
  assert_int_equal(out[0].key->fd, sv[0]);
  assert_int_equal(out[0].events, IOM_READ | IOM_WRITE);
  close(sv[0]);
  close(sv[1]);
}

static void test_modify(void **state) {
  iom_selector *sel = *state;
  int sv[2], a, b;
  iom_ready out[16];
  const iom_key *key;
  tu_socketpair(sv);
  assert_int_equal(iom_selector_register(sel, sv[0], IOM_READ, &a), 0);
  assert_int_equal(iom_selector_modify(sel, sv[0], 0, &b), -EINVAL);
  assert_int_equal(iom_selector_modify(sel, sv[0], 7, &b), -EINVAL);
  assert_int_equal(iom_selector_get_key(sel, sv[0], &key), 0);
  assert_int_equal(key->events, IOM_READ);
  assert_ptr_equal(key->data, &a);
  /* Data alone. */
  assert_int_equal(iom_selector_modify(sel, sv[0], IOM_READ, &b), 0);
  assert_ptr_equal(key->data, &b);
  /* Events: writable now reported, readable no longer asked for. */
  assert_int_equal(write(sv[1], "x", 1), 1);
  assert_int_equal(iom_selector_modify(sel, sv[0], IOM_WRITE, &a), 0);
  assert_int_equal(wait_ready(sel, 1000, out), 1);
  assert_int_equal(out[0].events, IOM_WRITE);
  assert_ptr_equal(out[0].key->data, &a);
  assert_int_equal(iom_selector_count(sel), 1);
  close(sv[0]);
  close(sv[1]);
}

static void test_iterate_keys(void **state) {
  iom_selector *sel = *state;
  int pairs[4][2];
  for (int i = 0; i < 4; i++) {
    tu_socketpair(pairs[i]);
    assert_int_equal(
        iom_selector_register(sel, pairs[i][0], IOM_READ, pairs[i]), 0);
  }
  int seen = 0, last = -1;
  for (const iom_key *k = iom_selector_next_key(sel, NULL); k;
       k = iom_selector_next_key(sel, k)) {
    assert_true(k->fd > last);
    last = k->fd;
    assert_int_equal(*(int *)k->data, k->fd);
    seen++;
    assert_int_equal(iom_selector_unregister(sel, k->fd), 0);
  }
  assert_int_equal(seen, 4);
  assert_int_equal(iom_selector_count(sel), 0);
  assert_null(iom_selector_next_key(sel, NULL));
  for (int i = 0; i < 4; i++) {
    close(pairs[i][0]);
    close(pairs[i][1]);
  }
}

static void test_timeout_polls_and_waits(void **state) {
  iom_selector *sel = *state;
  int sv[2];
  iom_ready out[16];
  tu_socketpair(sv);
  assert_int_equal(iom_selector_register(sel, sv[0], IOM_READ, NULL), 0);
  uint64_t t0 = tu_now_ms();
  assert_int_equal(wait_ready(sel, 0, out), 0);
  assert_int_equal(wait_ready(sel, 120, out), 0);
  assert_true(tu_now_ms() - t0 >= 120);
  assert_int_equal(iom_selector_select(sel, 0, NULL, 4), -EINVAL);
  assert_int_equal(iom_selector_select(sel, 0, out, 0), -EINVAL);
  close(sv[0]);
  close(sv[1]);
}

static volatile sig_atomic_t alarms;
static int alarm_wakes_fd = -1; /* written on the second alarm, if set */

static void on_alarm(int sig) {
  (void)sig;
  if (++alarms == 2 && alarm_wakes_fd >= 0) {
    ssize_t r = write(alarm_wakes_fd, "!", 1);
    (void)r;
  }
}

/* Two SIGALRMs, `every_ms` apart, each interrupting the wait (no SA_RESTART). */
static void arm_alarms(int every_ms) {
  struct sigaction sa = {.sa_handler = on_alarm};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  alarms = 0;
  struct itimerval it = {{0, every_ms * 1000}, {0, every_ms * 1000}};
  setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm_alarms(void) {
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  signal(SIGALRM, SIG_DFL);
  alarm_wakes_fd = -1;
}

/* EINTR neither ends the wait early nor restarts the full timeout. The
 * bounds are loose (the machine is shared): restarting after each of the two
 * signals would take 150 + 150 + 400 ms, far over the upper bound. */
static void test_timeout_is_total_across_signals(void **state) {
  iom_selector *sel = *state;
  int sv[2];
  iom_ready out[16];
  tu_socketpair(sv);
  assert_int_equal(iom_selector_register(sel, sv[0], IOM_READ, NULL), 0);
  arm_alarms(150);
  uint64_t t0 = tu_now_ms();
  int got = wait_ready(sel, 400, out);
  uint64_t took = tu_now_ms() - t0;
  disarm_alarms();
  assert_int_equal(got, 0);
  assert_true(alarms >= 2);
  assert_true(took >= 400);
  assert_true(took < 650);
  close(sv[0]);
  close(sv[1]);
}

/* A wait without timeout survives signals and returns what became ready. */
static void test_forever_survives_signals(void **state) {
  iom_selector *sel = *state;
  int sv[2];
  iom_ready out[16];
  tu_socketpair(sv);
  assert_int_equal(iom_selector_register(sel, sv[0], IOM_READ, NULL), 0);
  alarm_wakes_fd = sv[1];
  arm_alarms(50);
  int got = wait_ready(sel, -1, out);
  disarm_alarms();
  assert_int_equal(got, 1);
  assert_int_equal(out[0].key->fd, sv[0]);
  assert_true(alarms >= 2);
  close(sv[0]);
  close(sv[1]);
}

static void test_hangup_is_readable(void **state) {
  iom_selector *sel = *state;
  int sv[2];
  iom_ready out[16];
  tu_socketpair(sv);
  assert_int_equal(iom_selector_register(sel, sv[0], IOM_READ, NULL), 0);
  close(sv[1]);
  assert_int_equal(wait_ready(sel, 1000, out), 1);
  assert_int_equal(out[0].events, IOM_READ);
  char c;
  assert_int_equal(read(sv[0], &c, 1), 0);
  close(sv[0]);
}

static void test_reset_is_readable(void **state) {
  iom_selector *sel = *state;
  int sv[2];
  iom_ready out[16];
  tu_tcp_pair(sv);
  assert_int_equal(iom_selector_register(sel, sv[1], IOM_READ, NULL), 0);
  assert_int_equal(wait_ready(sel, 0, out), 0);
  tu_close_with_reset(sv[0]);
  assert_int_equal(wait_ready(sel, 1000, out), 1);
  assert_int_equal(out[0].events, IOM_READ);
  char c;
  assert_int_equal(recv(sv[1], &c, 1, 0), -1);
  assert_int_equal(errno, ECONNRESET);
  close(sv[1]);
}

/* A writer blocked on a full buffer learns of the reset through IOM_WRITE. */
static void test_reset_is_writable(void **state) {
  iom_selector *sel = *state;
  int sv[2];
  iom_ready out[16];
  tu_tcp_pair(sv);
  tu_fill(sv[1]);
  assert_int_equal(iom_selector_register(sel, sv[1], IOM_WRITE, NULL), 0);
  assert_int_equal(wait_ready(sel, 0, out), 0);
  tu_close_with_reset(sv[0]);
  assert_int_equal(wait_ready(sel, 1000, out), 1);
  assert_int_equal(out[0].events, IOM_WRITE);
  assert_int_equal(send(sv[1], "x", 1, MSG_NOSIGNAL), -1);
  assert_true(errno == ECONNRESET || errno == EPIPE);
  close(sv[1]);
}

static void test_unregister_after_close_and_reuse(void **state) {
  iom_selector *sel = *state;
  int sv[2], again[2];
  iom_ready out[16];
  tu_socketpair(sv);
  int fd = sv[0];
  assert_int_equal(iom_selector_register(sel, fd, IOM_READ, NULL), 0);
  close(sv[0]);
  close(sv[1]);
  assert_int_equal(iom_selector_unregister(sel, fd), 0);
  tu_socketpair(again); /* takes the lowest free numbers: the same ones */
  assert_int_equal(again[0], fd);
  assert_int_equal(iom_selector_register(sel, fd, IOM_READ, again), 0);
  assert_int_equal(wait_ready(sel, 0, out), 0);
  assert_int_equal(write(again[1], "y", 1), 1);
  assert_int_equal(wait_ready(sel, 1000, out), 1);
  assert_int_equal(out[0].key->fd, fd);
  assert_ptr_equal(out[0].key->data, again);
  close(again[0]);
  close(again[1]);
}

/* Regular files are always ready, on every backend (epoll says EPERM). */
static void test_regular_file_always_ready(void **state) {
  iom_selector *sel = *state;
  iom_ready out[16];
  FILE *f = tmpfile();
  assert_non_null(f);
  int fd = fileno(f), sv[2];
  tu_socketpair(sv);
  assert_int_equal(iom_selector_register(sel, sv[0], IOM_READ, NULL), 0);
  assert_int_equal(iom_selector_register(sel, fd, IOM_READ | IOM_WRITE, f), 0);
  assert_int_equal(wait_ready(sel, -1, out), 1);
  assert_int_equal(out[0].key->fd, fd);
  assert_int_equal(out[0].events, IOM_READ | IOM_WRITE);
  assert_int_equal(iom_selector_modify(sel, fd, IOM_WRITE, f), 0);
  assert_int_equal(wait_ready(sel, -1, out), 1);
  assert_int_equal(out[0].events, IOM_WRITE);
  assert_int_equal(iom_selector_unregister(sel, fd), 0);
  assert_int_equal(wait_ready(sel, 0, out), 0);
  fclose(f);
  close(sv[0]);
  close(sv[1]);
}

static void test_fd_limits(void **state) {
  iom_selector *sel = *state;
  iom_ready out[16];
  int sv[2];
  if (tu_raise_nofile(10200) < 10200)
    skip();
  tu_socketpair(sv);
  int high = suite_backend == IOM_SELECT ? FD_SETSIZE - 1 : 10100;
  assert_int_equal(dup2(sv[0], high), high);
  assert_int_equal(iom_selector_register(sel, high, IOM_READ, NULL), 0);
  if (suite_backend == IOM_SELECT) {
    assert_int_equal(dup2(sv[0], FD_SETSIZE), FD_SETSIZE);
    assert_int_equal(iom_selector_register(sel, FD_SETSIZE, IOM_READ, NULL),
                     -EINVAL);
    close(FD_SETSIZE);
  }
  assert_int_equal(write(sv[1], "z", 1), 1);
  assert_int_equal(wait_ready(sel, 1000, out), 1);
  assert_int_equal(out[0].key->fd, high);
  assert_int_equal(iom_selector_unregister(sel, high), 0);
  close(high);
  close(sv[0]);
  close(sv[1]);
}

/* Thousands of idle fds, three busy ones: exactly the busy ones come back. */
static void test_many_fds(void **state) {
  iom_selector *sel = *state;
  enum { PAIRS_MAX = 5000 };
  static int pairs[PAIRS_MAX][2];
  if (tu_raise_nofile(2 * PAIRS_MAX + 64) < 2 * PAIRS_MAX + 64)
    skip();
  int npairs = suite_backend == IOM_SELECT ? (FD_SETSIZE - 16) / 2 : PAIRS_MAX;
  for (int i = 0; i < npairs; i++) {
    tu_socketpair(pairs[i]);
    for (int end = 0; end < 2; end++)
      assert_int_equal(
          iom_selector_register(sel, pairs[i][end], IOM_READ, pairs[i]), 0);
  }
  assert_int_equal(iom_selector_count(sel), 2 * npairs);
  int busy[3] = {0, npairs / 2, npairs - 1};
  for (int i = 0; i < 3; i++)
    assert_int_equal(write(pairs[busy[i]][1], "b", 1), 1);
  iom_ready out[16];
  int got = wait_ready(sel, 1000, out);
  assert_int_equal(got, 3);
  int found = 0;
  for (int i = 0; i < got; i++) {
    assert_int_equal(out[i].events, IOM_READ);
    for (int b = 0; b < 3; b++)
      found += out[i].key->fd == pairs[busy[b]][0];
  }
  assert_int_equal(found, 3);
  for (int i = 0; i < npairs; i++) {
    for (int end = 0; end < 2; end++) {
      assert_int_equal(iom_selector_unregister(sel, pairs[i][end]), 0);
      close(pairs[i][end]);
    }
  }
  assert_int_equal(iom_selector_count(sel), 0);
}

/* More ready fds than one kernel batch (epoll's array starts at 1,024):
 * select returns every one the caller has room for, each once, as Python's
 * does. select(2) cannot hold that many fds, so it runs the same check on
 * what FD_SETSIZE allows. */
static void test_all_ready_returned(void **state) {
  iom_selector *sel = *state;
  enum { PAIRS_MAX = 1100 };
  static int pairs[PAIRS_MAX][2];
  if (tu_raise_nofile(2 * PAIRS_MAX + 64) < 2 * PAIRS_MAX + 64)
    skip();
  int npairs = suite_backend == IOM_SELECT ? (FD_SETSIZE - 16) / 2 : PAIRS_MAX;
  for (int i = 0; i < npairs; i++) {
    tu_socketpair(pairs[i]);
    assert_int_equal(write(pairs[i][1], "r", 1), 1);
    assert_int_equal(
        iom_selector_register(sel, pairs[i][0], IOM_READ, pairs[i]), 0);
  }
  static iom_ready out[2 * PAIRS_MAX];
  int got = iom_selector_select(sel, 1000, out, 2 * npairs);
  assert_int_equal(got, npairs);
  static char seen[PAIRS_MAX];
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < got; i++) {
    int *pair = out[i].key->data;
    int index = (int)((pair - &pairs[0][0]) / 2);
    assert_int_equal(out[i].events, IOM_READ);
    assert_int_equal(seen[index], 0);
    seen[index] = 1;
  }
  /* With less room than ready fds, exactly that many. */
  assert_int_equal(iom_selector_select(sel, 1000, out, npairs - 7), npairs - 7);
  for (int i = 0; i < npairs; i++) {
    assert_int_equal(iom_selector_unregister(sel, pairs[i][0]), 0);
    close(pairs[i][0]);
    close(pairs[i][1]);
  }
}

/* More ready fds than room for results: every one is reported in turn. */
static void test_round_robin(void **state) {
  iom_selector *sel = *state;
  int pairs[3][2];
  for (int i = 0; i < 3; i++) {
    tu_socketpair(pairs[i]);
    assert_int_equal(iom_selector_register(sel, pairs[i][0], IOM_READ, NULL),
                     0);
    assert_int_equal(write(pairs[i][1], "r", 1), 1);
  }
  int seen[3] = {0, 0, 0};
  for (int round = 0; round < 3; round++) {
    iom_ready one;
    assert_int_equal(iom_selector_select(sel, 1000, &one, 1), 1);
    for (int i = 0; i < 3; i++)
      seen[i] += one.key->fd == pairs[i][0];
  }
  for (int i = 0; i < 3; i++) {
    assert_int_equal(seen[i], 1);
    close(pairs[i][0]);
    close(pairs[i][1]);
  }
}

/* select() allocates nothing; running out of memory anywhere leaves the
 * selector as it was and leaks nothing. */
static void test_allocation(void **state) {
  (void)state;
  int pairs[200][2];
  for (int i = 0; i < 200; i++)
    tu_socketpair(pairs[i]);
  tu_alloc_install();
  for (long fail_at = 0;; fail_at++) {
    tu_alloc_reset(fail_at);
    iom_selector *sel;
    int err = iom_selector_new(suite_backend, &sel);
    if (err == -ENOMEM) {
      assert_int_equal(tu_alloc_live, 0);
      continue;
    }
    assert_int_equal(err, 0);
    int registered = 0;
    for (int i = 0; i < 200; i++) {
      err = iom_selector_register(sel, pairs[i][0], IOM_READ, NULL);
      const iom_key *key;
      if (err == -ENOMEM) {
        assert_int_equal(iom_selector_get_key(sel, pairs[i][0], &key), -ENOENT);
        continue;
      }
      assert_int_equal(err, 0);
      registered++;
    }
    assert_int_equal(iom_selector_count(sel), registered);
    long calls = tu_alloc_calls;
    iom_ready out[16];
    for (int i = 0; i < 50; i++)
      assert_true(iom_selector_select(sel, 0, out, 16) >= 0);
    assert_int_equal(tu_alloc_calls, calls);
    iom_selector_free(sel);
    assert_int_equal(tu_alloc_live, 0);
    if (fail_at >= calls) /* no failure was injected: every site tried */
      break;
  }
  tu_alloc_reset(-1);
  for (int i = 0; i < 200; i++) {
    close(pairs[i][0]);
    close(pairs[i][1]);
  }
}

static void test_environment_override(void **state) {
  (void)state;
  iom_selector *sel;
  setenv("IOM_BACKEND", iom_backend_name(suite_backend), 1);
  assert_int_equal(iom_selector_new(IOM_DEFAULT, &sel), 0);
  assert_int_equal(iom_selector_backend(sel), suite_backend);
  iom_selector_free(sel);
  setenv("IOM_BACKEND", "no-such-backend", 1);
  assert_int_equal(iom_selector_new(IOM_DEFAULT, &sel), -EINVAL);
  unsetenv("IOM_BACKEND");
  assert_int_equal(iom_selector_new(IOM_DEFAULT, &sel), 0);
#if defined(__linux__)
  assert_string_equal(iom_selector_name(sel), "epoll");
#endif
  iom_selector_free(sel);
  assert_int_equal(iom_selector_new((iom_backend)99, &sel), -EINVAL);
  assert_null(iom_backend_name((iom_backend)99));
}

/* kqueue is named in the enum on every system but has no backend here:
 * asking for it, by kind or by IOM_BACKEND, is -ENOSYS, as the header says,
 * not -EINVAL. */
static void test_kqueue_not_built(void **state) {
  (void)state;
  iom_selector *sel = NULL;
  assert_string_equal(iom_backend_name(IOM_KQUEUE), "kqueue");
  assert_int_equal(iom_selector_new(IOM_KQUEUE, &sel), -ENOSYS);
  setenv("IOM_BACKEND", "kqueue", 1);
  assert_int_equal(iom_selector_new(IOM_DEFAULT, &sel), -ENOSYS);
  unsetenv("IOM_BACKEND");
  assert_null(sel);
}

static void test_error_names(void **state) {
  (void)state;
  assert_string_equal(iom_err_name(-EEXIST), "EEXIST");
  assert_string_equal(iom_err_name(ENOENT), "ENOENT");
  assert_string_equal(iom_strerror(-EEXIST), "already registered");
  assert_string_equal(iom_strerror(0), "success");
  assert_string_equal(iom_strerror(-99999), "unknown error");
  assert_string_equal(iom_err_name(-99999), "UNKNOWN");
  /* Codes outside iomux's own list still get a name from the system. */
  assert_string_not_equal(iom_strerror(-ELOOP), "unknown error");
}

static const suite_case cases[] = {
    SUITE_CASE_FIXTURES(test_identity, setup, teardown),
    SUITE_CASE_FIXTURES(test_register_errors, setup, teardown),
    SUITE_CASE_FIXTURES(test_unknown_fd, setup, teardown),
    SUITE_CASE_FIXTURES(test_read_ready, setup, teardown),
    SUITE_CASE_FIXTURES(test_union_once, setup, teardown),
    SUITE_CASE_FIXTURES(test_modify, setup, teardown),
    SUITE_CASE_FIXTURES(test_iterate_keys, setup, teardown),
    SUITE_CASE_FIXTURES(test_timeout_polls_and_waits, setup, teardown),
    SUITE_CASE_FIXTURES(test_timeout_is_total_across_signals, setup, teardown),
    SUITE_CASE_FIXTURES(test_forever_survives_signals, setup, teardown),
    SUITE_CASE_FIXTURES(test_hangup_is_readable, setup, teardown),
    SUITE_CASE_FIXTURES(test_reset_is_readable, setup, teardown),
    SUITE_CASE_FIXTURES(test_reset_is_writable, setup, teardown),
    SUITE_CASE_FIXTURES(test_unregister_after_close_and_reuse, setup, teardown),
    SUITE_CASE_FIXTURES(test_regular_file_always_ready, setup, teardown),
    SUITE_CASE_FIXTURES(test_fd_limits, setup, teardown),
    SUITE_CASE_FIXTURES(test_many_fds, setup, teardown),
    SUITE_CASE_FIXTURES(test_all_ready_returned, setup, teardown),
    SUITE_CASE_FIXTURES(test_round_robin, setup, teardown),
    SUITE_CASE(test_allocation),
    SUITE_CASE(test_environment_override),
    SUITE_CASE(test_error_names),
    SUITE_CASE(test_kqueue_not_built),
};

int main(int argc, char **argv) {
  return SUITE_MAIN_PER_BACKEND(argc, argv, "selector", cases);
}
