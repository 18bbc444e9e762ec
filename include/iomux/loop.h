/* iomux: the event loop (the Reactor).
 *
 * One loop runs on one thread and turns readiness into callbacks: fd watchers
 * (io), one-shot and repeating timers, POSIX signals, wake-ups from other
 * threads (async) and deferred calls. It sits on a selector (selector.h), any
 * backend.
 *
 * Handles (iom_io, iom_timer, iom_signal, iom_async) are allocated by the
 * library with _new and released with _free. A handle's life:
 *
 *     _new --> stopped <--> started --> _free
 *
 * Any callback may start, stop or free any handle, including the one whose
 * callback is running and ones already found ready in the same iteration:
 * a stopped or freed handle gets no further callback, ever, and an fd
 * reused by a new watcher never receives an event meant for the old one.
 * iom_loop_walk() visits every handle that exists (to close them all at
 * shutdown, say).
 *
 * Threads: everything here is for the loop's thread only, except
 * iom_async_send(), which any thread (or a signal handler) may call. To stop
 * a loop from another thread, send an async whose callback stops it.
 *
 * Errors are negative errno values (error.h); nothing here prints or exits.
 */
#ifndef IOMUX_LOOP_H
#define IOMUX_LOOP_H

#include <stdint.h>

#include "iomux/selector.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct iom_loop iom_loop;
typedef struct iom_io iom_io;
typedef struct iom_timer iom_timer;
typedef struct iom_signal iom_signal;
typedef struct iom_async iom_async;

/* ---- the loop ------------------------------------------------------------ */

/* Create a loop over a selector of the given backend (IOM_DEFAULT: the best).
 * Returns 0 and sets *out; -ENOMEM, -EMFILE, or the selector's error. */
int iom_loop_new(iom_backend backend, iom_loop **out);

/* Free the loop. Returns 0, or -EBUSY (and frees nothing) while any handle
 * made on it still exists: free every handle first. NULL is allowed. */
int iom_loop_free(iom_loop *loop);

typedef enum iom_run_mode {
  IOM_RUN_DEFAULT = 0, /* until no handle is active, or iom_loop_stop() */
  IOM_RUN_ONCE = 1,    /* one iteration, waiting for at least one event */
  IOM_RUN_NOWAIT = 2,  /* one iteration, without waiting */
} iom_run_mode;

/* Run the loop. An iteration: run due timers, run deferred calls, wait for
 * fds (no longer than the next timer), run their callbacks, run due timers.
 * A timer runs at most once per iteration, even if restarted with timeout 0
 * from its callback. RUN_ONCE does not wait when timers or deferred calls
 * already ran in the iteration.
 * Returns 1 if active handles remain, 0 if none, or a negative errno if the
 * selector failed (the loop is still usable). Not reentrant: calling it from
 * a callback returns -EBUSY. Active means: a started io watcher, timer or
 * signal watcher, an async handle, a pending deferred call, or (pool.h) work
 * in flight. */
int iom_loop_run(iom_loop *loop, iom_run_mode mode);

/* Make iom_loop_run() return after the current iteration. Called outside
 * a run, it makes the next run do one iteration without waiting. */
void iom_loop_stop(iom_loop *loop);

/* The loop's time in milliseconds on the monotonic clock, cached: read at
 * the start of each iteration and again after each wait, so callbacks do
 * not pay for a clock read (iom_loop_update_time reads it on demand). */
uint64_t iom_loop_now(const iom_loop *loop);

/* Read the clock again (for a callback that ran long). */
void iom_loop_update_time(iom_loop *loop);

/* The selector backend in use ("epoll", ...). Static string. */
const char *iom_loop_backend_name(const iom_loop *loop);

typedef struct iom_loop_stats {
  uint64_t iterations;   /* completed loop iterations */
  uint64_t waits;        /* selector waits that blocked (timeout != 0) */
  int active;            /* handles keeping the loop alive (see run); pending
                            deferred calls keep it alive too, uncounted */
  int handles;           /* handles that exist, started or not */
  uint64_t lag_last_ns;  /* how late the last timer ran after its deadline */
  uint64_t lag_max_ns;   /* the worst such delay since the loop was made */
} iom_loop_stats;

/* Fill *stats. O(1). */
void iom_loop_stats_get(const iom_loop *loop, iom_loop_stats *stats);

/* Run fn(data) on the loop thread at the start of the next iteration, after
 * due timers; calls run in the order they were made. A call made from a
 * deferred call runs in the iteration after. Returns 0 or -ENOMEM (fn will
 * not run). Amortised: no allocation once the queue has grown. */
int iom_loop_call_soon(iom_loop *loop, void (*fn)(void *data), void *data);

/* ---- io watchers ---------------------------------------------------------- */

/* Called with the ready events (IOM_READ and/or IOM_WRITE, only ones the
 * watcher wants). A hang-up or an error is reported as ready, so the read or
 * write the callback does sees it. */
typedef void (*iom_io_cb)(iom_io *io, unsigned events, void *data);

/* A watcher for `fd`, stopped. The fd stays the caller's: the loop never
 * closes it. Returns 0, -EBADF (fd < 0), -ENOMEM. */
int iom_io_new(iom_loop *loop, int fd, iom_io_cb cb, void *data,
               iom_io **out);

/* Watch for `events` (IOM_READ | IOM_WRITE); on a started watcher, change
 * them. Level-triggered: the callback runs every iteration while the fd is
 * ready. Returns 0; -EINVAL (events); -EEXIST (another watcher of this loop
 * has the fd); -ENOMEM; or the kernel's refusal (-EBADF, ...), in which case
 * the watcher keeps its previous state. */
int iom_io_start(iom_io *io, unsigned events);

/* Stop watching. No callback after this returns, even if the fd was already
 * found ready in this iteration. Stopping a stopped watcher does nothing. */
void iom_io_stop(iom_io *io);

/* Stop and free. Call it before closing the fd. NULL is allowed. */
void iom_io_free(iom_io *io);

int iom_io_fd(const iom_io *io);
/* The events being watched, 0 when stopped. */
unsigned iom_io_events(const iom_io *io);

/* ---- timers --------------------------------------------------------------- */

typedef void (*iom_timer_cb)(iom_timer *timer, void *data);

/* A stopped timer. Returns 0 or -ENOMEM. Starting it never allocates. */
int iom_timer_new(iom_loop *loop, iom_timer_cb cb, void *data,
                  iom_timer **out);

/* Fire after `timeout_ms` and then, if repeat_ms > 0, every repeat_ms.
 * Restarts a started timer. The deadline counts from the moment of this call
 * (the clock is read, not the loop's cached time), and a timer never fires
 * before it. Timers with equal deadlines fire in the order they were
 * started. A repeating timer keeps its rate without drift; ticks missed while
 * the loop was blocked are skipped, not run in a burst (the next deadline is
 * the first one still in the future). O(log timers). */
void iom_timer_start(iom_timer *timer, uint64_t timeout_ms,
                     uint64_t repeat_ms);

/* Stop; no callback after this returns. O(log timers). */
void iom_timer_stop(iom_timer *timer);

/* Stop and free. NULL is allowed. */
void iom_timer_free(iom_timer *timer);

int iom_timer_active(const iom_timer *timer);

/* ---- signals -------------------------------------------------------------- */

typedef void (*iom_signal_cb)(iom_signal *sig, int signo, void *data);

/* A stopped signal watcher. Returns 0 or -ENOMEM. */
int iom_signal_new(iom_loop *loop, iom_signal_cb cb, void *data,
                   iom_signal **out);

/* Deliver `signo` to the callback, on the loop thread. Several watchers, on
 * one loop or several, may watch one signal: each is called. The process's
 * handler for signo is installed when the first watcher starts and the
 * previous disposition restored when the last one stops; iomux touches no
 * other signal. Deliveries that arrive before the loop gets to them are
 * coalesced into one callback. Returns 0; -EINVAL (signo that cannot be
 * caught: SIGKILL, SIGSTOP, out of range); -EBUSY (started on another
 * signal: stop it first). */
int iom_signal_start(iom_signal *sig, int signo);

void iom_signal_stop(iom_signal *sig);

/* Stop and free. NULL is allowed. */
void iom_signal_free(iom_signal *sig);

/* ---- async wake-ups ------------------------------------------------------- */

typedef void (*iom_async_cb)(iom_async *async, void *data);

/* A wake-up handle: any thread calls iom_async_send(), the loop thread runs
 * the callback. It keeps the loop alive until freed. Returns 0 or -ENOMEM. */
int iom_async_new(iom_loop *loop, iom_async_cb cb, void *data,
                  iom_async **out);

/* Wake the loop and run the callback once on its thread. Safe from any
 * thread and from signal handlers. Sends that arrive before the callback runs
 * are coalesced into one call. Allocates nothing; never blocks. */
void iom_async_send(iom_async *async);

/* Free (loop thread). No other thread may be sending on it any more. */
void iom_async_free(iom_async *async);

/* ---- walking the handles -------------------------------------------------- */

/* What iom_loop_walk() hands its callback. The last two are stream.h's. */
typedef enum iom_handle_type {
  IOM_HANDLE_IO = 1,   /* iom_io */
  IOM_HANDLE_TIMER,    /* iom_timer */
  IOM_HANDLE_SIGNAL,   /* iom_signal */
  IOM_HANDLE_ASYNC,    /* iom_async */
  IOM_HANDLE_STREAM,   /* iom_stream */
  IOM_HANDLE_LISTENER, /* iom_listener */
} iom_handle_type;

/* `handle` is an object of the type `type` names. */
typedef void (*iom_walk_cb)(void *handle, iom_handle_type type, void *data);

/* Call cb once for each handle made on this loop by the application and not
 * yet freed (libuv's uv_walk), started or not: io watchers, timers, signal
 * watchers, asyncs, listeners until iom_listener_free, and streams until
 * their on_close has run (one already closing too: closing it again does
 * nothing). Not visited: what the library makes for its own use (a
 * stream's watcher, a listener's retry timer, an HTTP request's timer, the
 * pool's wake-up), nor proactors, pools and HTTP clients, which have their
 * own free. So at shutdown a callback can close every stream and listener
 * and free every timer without the app keeping a list. It may close or free
 * any handle, the one it is given included: one freed before its turn is
 * not visited, nor one made during the walk. No order is promised.
 * Returns 0, or -EBUSY when called from a walk's callback. */
int iom_loop_walk(iom_loop *loop, iom_walk_cb cb, void *data);

/* "io", "timer", "signal", "async", "stream", "listener"; "unknown" for
 * anything else. Static string. */
const char *iom_handle_type_name(iom_handle_type type);

#ifdef __cplusplus
}
#endif

#endif
