/* The loop's private state, shared by the files of src/loop/ only. The
 * layers above reach the loop through loop_internal.h's functions. */
#ifndef IOMUX_LOOP_IMPL_H
#define IOMUX_LOOP_IMPL_H

#include "iomux/loop.h"
#include "loop_internal.h"

#include "../core/list.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

/* Results taken from the selector per wait. */
#define IOM__READY_MAX 1024

struct iom_io {
  iom_loop *loop;
  int fd;
  unsigned events;  /* what the watcher wants; 0 when stopped */
  unsigned kevents; /* what the selector holds: differs until the next wait */
  int pending;      /* index in loop->pending during dispatch, else -1 */
  int keeps_alive;  /* counts as active when started (not the wake fd) */
  iom__list change; /* in loop->changes while events != kevents */
  iom__walk_node walk;
  iom_io_cb cb;
  void *data;
};

struct iom_timer {
  iom_loop *loop;
  uint64_t deadline;  /* ns, monotonic */
  uint64_t repeat;    /* ns, 0 for one-shot */
  uint64_t seq;       /* start order: the tie-break for equal deadlines */
  int heap_index;     /* -1 when stopped */
  iom__walk_node walk;
  iom_timer_cb cb;
  void *data;
};

struct iom_signal {
  iom_loop *loop;
  int signo;                     /* 0 when stopped */
  atomic_int caught;             /* set by the handler, taken by dispatch */
  iom_signal *next_global;       /* the process-wide list for signo */
  iom__list link;                /* in loop->signals while started */
  iom__walk_node walk;
  iom_signal_cb cb;
  void *data;
};

struct iom_async {
  iom_loop *loop;
  atomic_int pending;
  iom__list link; /* in loop->asyncs */
  iom__walk_node walk;
  iom_async_cb cb;
  void *data;
};

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

  iom__list deferred;   /* iom__defer nodes, in call order */
  iom__list defer_free; /* spare nodes for iom_loop_call_soon */
  int ndeferred;

  iom__list changes;    /* io watchers whose interest the kernel lacks */

  iom__list walk;       /* iom__walk_node: the handles iom_loop_walk visits */
  int walking;          /* iom_loop_walk is running */

  /* Wake-ups from other threads and from signal handlers. */
  int wake_fd, wake_wfd; /* eventfd (both the same) or a pipe */
  atomic_int wake_armed;
  iom_io wake_io;
  iom__list asyncs;      /* every async of this loop */
  iom__list signals;     /* this loop's started signal watchers */

  iom__waiter waiter; /* proactor: waits instead of the selector if set */

  void *ext[IOM__EXT_COUNT];
  void (*ext_fini[IOM__EXT_COUNT])(void *ext);
};

/* The loop's own embedded io watcher (the wake fd): as iom_io_new/_free
 * without the allocation. iom__io_init never fails. */
void iom__io_init(iom_loop *loop, iom_io *io, int fd, iom_io_cb cb,
                  void *data);
void iom__io_fini(iom_io *io);

/* Hand the interest changes made since the last wait to the selector
 * (io.c); called just before each wait. */
void iom__io_flush_changes(iom_loop *loop);

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

#endif
