/* The loop's io watchers (loop.h): readiness for reading and writing,
 * changing and stopping interest, the errors start refuses, hang-up and reset
 * as readable, and callbacks that free, stop or retarget other watchers
 * already reported ready in the same iteration (including the stale event of
 * a closed fd whose number a new watcher took). Real sockets. Run once per
 * selector backend: the backend's name is the first argument. */
#define _GNU_SOURCE
#include "iomux/loop.h"
#include "looputil.h"
#include "suite.h"
#include "testutil.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

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
  if (suite_backend == IOM_SELECT) {
    tu_raise_nofile(FD_SETSIZE + 64);
    refused = dup2(sv[1], FD_SETSIZE + 8);
    want = -EINVAL;
  }
#if defined(__linux__)
  if (suite_backend == IOM_EPOLL) {
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
    if (suite_backend == IOM_SELECT)
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

/* ---- callbacks that change other ready watchers -------------------------- */

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

static const suite_case cases[] = {
    SUITE_CASE(test_io_read_ready),
    SUITE_CASE(test_io_write_ready),
    SUITE_CASE(test_io_change_events),
    SUITE_CASE(test_io_stop_and_start_again),
    SUITE_CASE(test_io_errors),
    SUITE_CASE(test_io_hangup_is_read),
    SUITE_CASE(test_free_other_ready_watcher),
    SUITE_CASE(test_stop_other_ready_watcher),
    SUITE_CASE(test_change_other_events_in_dispatch),
    SUITE_CASE(test_stale_event_on_reused_fd),
    SUITE_CASE(test_free_last_watcher_ends_default),
};

int main(int argc, char **argv) {
  return SUITE_MAIN_PER_BACKEND(argc, argv, "loop_io", cases);
}
