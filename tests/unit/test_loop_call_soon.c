/* The loop's deferred calls (loop.h, asyncio's call_soon): order, calls
 * queued by calls, their place after due timers, iom_loop_free refused from
 * one, and no allocation once the queue has grown. Run once per selector
 * backend: the backend's name is the first argument. */
#define _GNU_SOURCE
#include "iomux/alloc.h"
#include "iomux/loop.h"
#include "looputil.h"
#include "suite.h"
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>

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

static const suite_case cases[] = {
    SUITE_CASE(test_call_soon_order_and_nesting),
    SUITE_CASE(test_free_loop_from_deferred_call),
    SUITE_CASE(test_call_soon_no_allocation_once_grown),
};

int main(int argc, char **argv) {
  return SUITE_MAIN_PER_BACKEND(argc, argv, "loop_call_soon", cases);
}
