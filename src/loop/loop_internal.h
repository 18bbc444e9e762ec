/* What the layers above the loop inside the library (stream, pool,
 * proactor) need from it beyond the public API: functions only. The loop's
 * structs stay in loop_impl.h, which no other folder includes
 * (scripts/check-layers.sh fails the build's tests if one does). */
#ifndef IOMUX_LOOP_INTERNAL_H
#define IOMUX_LOOP_INTERNAL_H

#include "iomux/loop.h"

#include "../core/defer.h"

/* Count an object of another layer (a stream, listener, proactor) as a
 * handle of the loop, so iom_loop_free() returns -EBUSY while it exists,
 * and stop counting it. Loop thread only. */
void iom__loop_handle_add(iom_loop *loop);
void iom__loop_handle_del(iom_loop *loop);

/* A handle's place in the loop's walk (iom_loop_walk), embedded in it:
 * linked while the app may be handed the handle. */
typedef struct iom__walk_node {
  iom__list link;
  iom_handle_type type;
  void *handle;
} iom__walk_node;

/* Put a handle of a layer above (a stream, a listener) in the walk, and take
 * it out once the app may no longer use it; removing an unlinked node does
 * nothing. Loop thread only. */
void iom__loop_walk_add(iom_loop *loop, iom__walk_node *node,
                        iom_handle_type type, void *handle);
void iom__loop_walk_remove(iom__walk_node *node);

/* Keep a handle a layer made for its own use (a stream's io watcher, a
 * request's timer) out of the walk, so the app is never handed it to free.
 * Call right after making it. Loop thread only. */
void iom__io_hide(iom_io *io);
void iom__timer_hide(iom_timer *timer);
void iom__async_hide(iom_async *async);

/* An io watcher that does not keep iom_loop_run(DEFAULT) going by itself
 * (libuv's unref): the proactor's fd watchers, whose ops hold the loop. Call
 * before starting it. */
void iom__io_weak(iom_io *io);

/* Deferred calls with a node the caller embeds (core/defer.h): scheduling a
 * queued node or cancelling an unqueued one does nothing. fn runs on the
 * loop's next turn, before it waits. Loop thread only. */
void iom__defer_init(iom__defer *node, void (*fn)(void *data), void *data);
void iom__defer_schedule(iom_loop *loop, iom__defer *node);
void iom__defer_cancel(iom_loop *loop, iom__defer *node);

/* Count something that keeps the loop alive and makes iom_loop_free() return
 * -EBUSY (pool work in flight), and stop counting it. Loop thread only. */
void iom__loop_hold(iom_loop *loop);
void iom__loop_release(iom_loop *loop);

/* Attach an extension object (the pool) to the loop: `fini(ext)` runs when
 * the loop is freed. One per slot; returns the current object of the slot. */
typedef enum iom__loop_ext {
  IOM__EXT_POOL = 0,   /* pool.c: the worker pool */
  IOM__EXT_STREAM = 1, /* stream: the read buffer the loop's streams share */
  IOM__EXT_COUNT
} iom__loop_ext;
void *iom__loop_ext_get(const iom_loop *loop, iom__loop_ext slot);
void iom__loop_ext_set(iom_loop *loop, iom__loop_ext slot, void *ext,
                       void (*fini)(void *ext));

/* A waiter takes over step 3 of an iteration (the proactor's io_uring: the
 * loop waits in the ring, so one io_uring_enter both submits the batch and
 * waits). The selector is then polled only when its own fd (see
 * iom__loop_poll_fd) is ready, which the waiter watches from the ring.
 *   wait(ctx, timeout_ms): block up to timeout_ms (-1: no limit, 0: not at
 *     all) for completions; 0 or -errno (returned by iom_loop_run).
 *   dispatch(ctx): after the clock was read, run the completions' callbacks;
 *     return 1 if the selector's fd was ready (it is then polled without
 *     waiting and its callbacks run), 0 if not.
 * An installed waiter counts as a handle (iom_loop_free: -EBUSY) but does not
 * keep the loop alive by itself. One per loop: -EBUSY if one is installed.
 * iom__loop_set_waiter(loop, NULL) removes it. Loop thread only. */
typedef struct iom__waiter {
  int (*wait)(void *ctx, int timeout_ms);
  int (*dispatch)(void *ctx);
  void *ctx;
} iom__waiter;
int iom__loop_set_waiter(iom_loop *loop, const iom__waiter *waiter);

/* The fd that is readable when the loop's selector has something to report
 * (the epoll fd), or -1 when the backend has none (select, poll). */
int iom__loop_poll_fd(const iom_loop *loop);

#endif
