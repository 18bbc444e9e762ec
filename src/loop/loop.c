/* The loop: its life, one iteration, the run modes, deferred calls.
 *
 * An iteration (libuv's order, trimmed to what iomux has):
 *   1. read the clock; run due timers;
 *   2. run the deferred calls queued before this point;
 *   3. hand the io interest changes of this turn to the selector (io.c),
 *      then wait in it: no longer than the next timer, not at all if
 *      there are deferred calls, the loop is stopping, nothing is alive,
 *      mode is NOWAIT, or mode is ONCE and steps 1-2 ran callbacks (with
 *      a proactor on io_uring the loop waits in its ring instead, and polls
 *      the selector only when the ring says its fd is ready: iom__waiter);
 *   4. read the clock; run the io callbacks of what is ready (the wake fd
 *      among them: async sends and caught signals);
 *   5. run due timers (so RUN_ONCE that woke for a timer runs it).
 * A timer started during an iteration waits for the next one.
 */
#include "loop_impl.h"

#include "../core/alloc_internal.h"
#include "../core/clock.h"
#include "../selector/selector_internal.h"

#include <errno.h>
#include <string.h>

int iom_loop_new(iom_backend backend, iom_loop **out) {
  iom_loop *loop = iom__calloc(1, sizeof *loop);
  if (!loop)
    return -ENOMEM;
  int err = iom_selector_new(backend, &loop->sel);
  if (err < 0)
    goto free_loop;
  iom__list_init(&loop->deferred);
  iom__list_init(&loop->defer_free);
  iom__list_init(&loop->changes);
  iom__list_init(&loop->asyncs);
  iom__list_init(&loop->signals);
  iom__list_init(&loop->walk);
  err = iom__wake_open(loop);
  if (err < 0)
    goto free_selector;
  loop->now = iom__now_ns();
  *out = loop;
  return 0;

free_selector:
  iom_selector_free(loop->sel);
free_loop:
  iom__free(loop);
  return err;
}

int iom_loop_free(iom_loop *loop) {
  if (!loop)
    return 0;
  if (loop->handles > 0 || loop->running)
    return -EBUSY;
  for (int i = 0; i < IOM__EXT_COUNT; i++)
    if (loop->ext[i])
      loop->ext_fini[i](loop->ext[i]);
  iom__wake_close(loop);
  iom__list *node;
  while ((node = iom__list_pop(&loop->deferred))) {
    iom__defer *d = iom__list_entry(node, iom__defer, link);
    if (d->pooled)
      iom__free(d);
  }
  while ((node = iom__list_pop(&loop->defer_free)))
    iom__free(iom__list_entry(node, iom__defer, link));
  iom__free(loop->heap);
  iom_selector_free(loop->sel);
  iom__free(loop);
  return 0;
}

/* ---- deferred calls ------------------------------------------------------- */

void iom__defer_init(iom__defer *node, void (*fn)(void *data), void *data) {
  *node = (iom__defer){.fn = fn, .data = data};
}

void iom__defer_schedule(iom_loop *loop, iom__defer *node) {
  if (iom__list_linked(&node->link))
    return;
  iom__list_push_back(&loop->deferred, &node->link);
  loop->ndeferred++;
}

/* Unlink a queued node; one of iom_loop_call_soon's goes back to the spares. */
static void defer_take(iom_loop *loop, iom__defer *node) {
  iom__list_remove(&node->link);
  loop->ndeferred--;
  if (node->pooled)
    iom__list_push_back(&loop->defer_free, &node->link);
}

void iom__defer_cancel(iom_loop *loop, iom__defer *node) {
  if (iom__list_linked(&node->link))
    defer_take(loop, node);
}

int iom_loop_call_soon(iom_loop *loop, void (*fn)(void *data), void *data) {
  iom__list *spare = iom__list_pop(&loop->defer_free);
  iom__defer *node = spare ? iom__list_entry(spare, iom__defer, link)
                           : iom__malloc(sizeof *node);
  if (!node)
    return -ENOMEM;
  iom__defer_init(node, fn, data);
  node->pooled = 1;
  iom__defer_schedule(loop, node);
  return 0;
}

/* Run the calls queued so far; the ones they queue wait for the next
 * iteration. The batch is moved to a local queue first, so a call may
 * cancel any other, in the batch or not. */
static void run_deferred(iom_loop *loop) {
  if (loop->ndeferred == 0)
    return;
  iom__list batch, *link;
  iom__list_move(&loop->deferred, &batch);
  while ((link = batch.next) != &batch) {
    iom__defer *node = iom__list_entry(link, iom__defer, link);
    void (*fn)(void *) = node->fn;
    void *data = node->data;
    defer_take(loop, node);
    loop->ran++;
    fn(data);
  }
}

/* ---- running -------------------------------------------------------------- */

static int alive(const iom_loop *loop) {
  return loop->active > 0 || loop->ndeferred > 0;
}

/* How long step 3 may block. Not at all when nothing is left to wait for
 * (the deferred calls just run may have closed the last handle), nor in
 * RUN_ONCE when steps 1-2 already ran callbacks: that was the event. The
 * clock is read again first, so a long callback does not lengthen the wait
 * for the next timer. */
static int wait_timeout(iom_loop *loop, iom_run_mode mode, uint64_t ran) {
  if (mode == IOM_RUN_NOWAIT || loop->stop || loop->ndeferred > 0 ||
      !alive(loop) || (mode == IOM_RUN_ONCE && loop->ran != ran))
    return 0;
  loop->now = iom__now_ns();
  return iom__timers_timeout(loop);
}

/* Step 3 with a waiter (the proactor's ring): wait there, run the
 * completions, and poll the selector, without waiting, only if its fd was
 * ready. Returns the selector's count or -errno. */
static int wait_in_waiter(iom_loop *loop, int timeout) {
  iom__waiter *w = &loop->waiter;
  int err = w->wait(w->ctx, timeout);
  if (err < 0)
    return err;
  loop->now = iom__now_ns();
  if (!w->dispatch(w->ctx))
    return 0;
  return iom_selector_select(loop->sel, 0, loop->ready, IOM__READY_MAX);
}

static int iterate(iom_loop *loop, iom_run_mode mode) {
  uint64_t ran = loop->ran;
  loop->timer_limit = loop->timer_seq;
  loop->now = iom__now_ns();
  iom__timers_run(loop);
  run_deferred(loop);
  int timeout = wait_timeout(loop, mode, ran);
  if (timeout != 0)
    loop->waits++;
  iom__io_flush_changes(loop);
  int nready = loop->waiter.wait
                   ? wait_in_waiter(loop, timeout)
                   : iom_selector_select(loop->sel, timeout, loop->ready,
                                         IOM__READY_MAX);
  if (nready < 0)
    return nready;
  loop->now = iom__now_ns();
  iom__io_dispatch(loop, nready);
  iom__timers_run(loop);
  loop->iterations++;
  return 0;
}

int iom_loop_run(iom_loop *loop, iom_run_mode mode) {
  if (loop->running)
    return -EBUSY;
  loop->running = 1;
  int err = 0;
  do {
    err = iterate(loop, mode);
  } while (err == 0 && mode == IOM_RUN_DEFAULT && !loop->stop && alive(loop));
  loop->running = 0;
  loop->stop = 0;
  return err < 0 ? err : alive(loop);
}

void iom_loop_stop(iom_loop *loop) { loop->stop = 1; }

uint64_t iom_loop_now(const iom_loop *loop) { return loop->now / 1000000u; }

void iom_loop_update_time(iom_loop *loop) { loop->now = iom__now_ns(); }

const char *iom_loop_backend_name(const iom_loop *loop) {
  return iom_selector_name(loop->sel);
}

void iom_loop_stats_get(const iom_loop *loop, iom_loop_stats *stats) {
  stats->iterations = loop->iterations;
  stats->waits = loop->waits;
  stats->active = loop->active;
  stats->handles = loop->handles;
  stats->lag_last_ns = loop->lag_last;
  stats->lag_max_ns = loop->lag_max;
}

/* ---- for the layers above ------------------------------------------------- */

void iom__loop_handle_add(iom_loop *loop) { loop->handles++; }

void iom__loop_handle_del(iom_loop *loop) { loop->handles--; }

void iom__loop_hold(iom_loop *loop) {
  loop->handles++;
  loop->active++;
}

void iom__loop_release(iom_loop *loop) {
  loop->handles--;
  loop->active--;
}

void *iom__loop_ext_get(const iom_loop *loop, iom__loop_ext slot) {
  return loop->ext[slot];
}

void iom__loop_ext_set(iom_loop *loop, iom__loop_ext slot, void *ext,
                       void (*fini)(void *ext)) {
  loop->ext[slot] = ext;
  loop->ext_fini[slot] = fini;
}

int iom__loop_set_waiter(iom_loop *loop, const iom__waiter *waiter) {
  if (waiter && loop->waiter.wait)
    return -EBUSY;
  if (waiter)
    loop->handles++;
  else if (loop->waiter.wait)
    loop->handles--;
  loop->waiter = waiter ? *waiter : (iom__waiter){0};
  return 0;
}

int iom__loop_poll_fd(const iom_loop *loop) {
  return iom__selector_fd(loop->sel);
}
