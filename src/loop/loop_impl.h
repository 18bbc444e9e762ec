/* The loop's private state, shared by the files of src/loop/ (and by the
 * stream layer, which embeds io watchers to save an allocation per
 * connection). Nothing outside the library sees these definitions. */
#ifndef IOMUX_LOOP_IMPL_H
#define IOMUX_LOOP_IMPL_H

#include "iomux/loop.h"
#include "loop_internal.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

/* Results taken from the selector per wait. */
#define IOM__READY_MAX 1024

struct iom_io {
  iom_loop *loop;
  int fd;
  unsigned events;  /* what the selector watches for; 0 when stopped */
  int pending;      /* index in loop->pending during dispatch, else -1 */
  int keeps_alive;  /* counts as active when started (not the wake fd) */
  iom_io_cb cb;
  void *data;
};

struct iom_timer {
  iom_loop *loop;
  uint64_t deadline;  /* ns, monotonic */
  uint64_t repeat;    /* ns, 0 for one-shot */
  uint64_t seq;       /* start order: the tie-break for equal deadlines */
  int heap_index;     /* -1 when stopped */
  iom_timer_cb cb;
  void *data;
};

struct iom_signal {
  iom_loop *loop;
  int signo;                     /* 0 when stopped */
  atomic_int caught;             /* set by the handler, taken by dispatch */
  iom_signal *next_global;       /* the process-wide list for signo */
  iom_signal *prev, *next;       /* this loop's started watchers */
  iom_signal_cb cb;
  void *data;
};

struct iom_async {
  iom_loop *loop;
  atomic_int pending;
  iom_async *prev, *next;
  iom_async_cb cb;
  void *data;
};

/* A deferred call: intrusive, so an owner (a stream) can embed one and
 * cancel it in O(1). Nodes made by iom_loop_call_soon come from a free list. */
typedef struct iom__defer {
  struct iom__defer *prev, *next; /* NULL when not queued */
  void (*fn)(void *data);
  void *data;
  int pooled; /* belongs to the loop's free list */
} iom__defer;

typedef struct iom__pending {
  iom_io *io; /* NULL once the watcher was stopped during dispatch */
  unsigned events;
} iom__pending;

/* Signal numbers 1..64 (NSIG is not POSIX; Linux has 64 signals, the BSDs
 * fewer). */
#define IOM__NSIG 65

struct iom_loop {
  iom_selector *sel;
  iom_ready ready[IOM__READY_MAX];
  iom__pending pending[IOM__READY_MAX];

  uint64_t now;      /* ns, cached per iteration */
  int running, stop;
  int handles;       /* objects made on this loop and not yet freed */
  int active;        /* what keeps iom_loop_run(DEFAULT) going */
  uint64_t iterations, waits, lag_last, lag_max;

  iom_timer **heap;  /* min-heap on (deadline, seq) */
  int nheap, heap_cap, ntimers;
  uint64_t timer_seq;
  uint64_t timer_limit; /* timers started from this seq on wait a turn */
  uint64_t ran;         /* timer and deferred callbacks run so far */

  iom__defer deferred; /* sentinel of the queue */
  iom__defer *defer_free;
  int ndeferred;

  /* Wake-ups from other threads and from signal handlers. */
  int wake_fd, wake_wfd; /* eventfd (both the same) or a pipe */
  atomic_int wake_armed;
  iom_io wake_io;
  iom_async asyncs;      /* sentinel of the list */
  iom_async *async_cursor;   /* the next async dispatch will visit */
  iom_signal signals;    /* sentinel of this loop's started watchers */
  iom_signal *signal_cursor; /* the next watcher dispatch will visit */

  iom__waiter waiter; /* proactor: waits instead of the selector if set */

  void *ext[IOM__EXT_COUNT];
  void (*ext_fini[IOM__EXT_COUNT])(void *ext);
};

/* Embedded io watchers (loop thread): as iom_io_new/_free without the
 * allocation. iom__io_init never fails. */
void iom__io_init(iom_loop *loop, iom_io *io, int fd, iom_io_cb cb,
                  void *data);
void iom__io_fini(iom_io *io);

/* Run the ready io callbacks of one wait. */
void iom__io_dispatch(iom_loop *loop, int nready);

/* Timers (timer.c): run the timers due by loop->now that were started
 * before this iteration (seq < loop->timer_limit). */
void iom__timers_run(iom_loop *loop);
/* Milliseconds until the next timer is due (rounded up), or -1 if none. */
int iom__timers_timeout(const iom_loop *loop);

/* Wake-ups (async.c): set up and tear down the wake fd and its watcher. */
int iom__wake_open(iom_loop *loop);
void iom__wake_close(iom_loop *loop);
/* Async-signal-safe: make the loop's next (or current) wait return. */
void iom__wake(iom_loop *loop);

/* Signals (signal.c): run the callbacks of signals caught since last time. */
void iom__signals_dispatch(iom_loop *loop);

/* Deferred calls (loop.c), for the stream layer's embedded nodes. */
void iom__defer_init(iom__defer *node, void (*fn)(void *data), void *data);
void iom__defer_schedule(iom_loop *loop, iom__defer *node);
void iom__defer_cancel(iom_loop *loop, iom__defer *node);

#endif
