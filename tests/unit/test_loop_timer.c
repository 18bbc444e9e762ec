/* The loop's timers (loop.h): one-shot and repeating, equal deadlines in
 * start order, missed ticks skipped, a 10,000-timer heap with cancels, the
 * lag stats and iom_loop_update_time, and timers freeing or restarting timers
 * from their callbacks. Run once per selector backend: the backend's name is
 * the first argument. */
#define _GNU_SOURCE
#include "iomux/loop.h"
#include "looputil.h"
#include "suite.h"
#include "testutil.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- callbacks that free or restart timers ------------------------------- */

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

/* ---- one-shot, repeating, order, heap, lag ------------------------------- */

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

static const suite_case cases[] = {
    SUITE_CASE(test_timer_frees_other_due_timer),
    SUITE_CASE(test_timer_restart_zero_once_per_iteration),
    SUITE_CASE(test_timer_oneshot),
    SUITE_CASE(test_timer_repeat),
    SUITE_CASE(test_timer_equal_timeouts_fire_in_start_order),
    SUITE_CASE(test_timer_repeat_skips_missed_ticks),
    SUITE_CASE(test_timer_heap_stress),
    SUITE_CASE(test_stats_timer_lag),
    SUITE_CASE(test_loop_update_time),
};

int main(int argc, char **argv) {
  return SUITE_MAIN_PER_BACKEND(argc, argv, "loop_timer", cases);
}
