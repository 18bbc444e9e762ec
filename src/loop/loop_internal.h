/* What the layers above the loop inside the library (stream, pool) need from
 * it beyond the public API. */
#ifndef IOMUX_LOOP_INTERNAL_H
#define IOMUX_LOOP_INTERNAL_H

#include "iomux/loop.h"

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
