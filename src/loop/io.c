/* io watchers: an fd, the events wanted, a callback.
 *
 * Interest changes are batched (libuv's watcher queue): start and stop only
 * record what the watcher wants (events) and queue it when that differs
 * from what the selector holds (kevents); the queue goes to the selector
 * just before the loop waits. So a change and its undo within one turn (a
 * stream that pauses and resumes, stops reading and starts again) cost no
 * system call, and two changes to one watcher cost one. Dispatch masks each
 * event with what the watcher wants now, so a stop takes effect at once even
 * though the kernel hears of it later.
 *
 * Two cases are not batched:
 *  - the first registration of a watcher goes to the selector at once, so
 *    iom_io_start still returns its errors (-EBADF, select's -EINVAL for an
 *    fd over FD_SETSIZE, ...);
 *  - freeing a watcher removes its registration at once (the selector's key
 *    points at it). A watcher that was stopped and whose fd was closed and
 *    reused by a new watcher in the same turn is removed when the new one
 *    registers.
 * A change the kernel refuses at the wait (an fd closed while watched) is
 * reported to the callback as ready for what the watcher wants, so its own
 * read or write meets the error, as the selector reports errors.
 *
 * During dispatch each ready watcher holds a slot in loop->pending, and
 * stopping it voids that slot (libev's clear_pending): so a callback may
 * stop or free any watcher, and a new watcher on a reused fd never inherits
 * an event found for the old one.
 */
#include "loop_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>

void iom__io_init(iom_loop *loop, iom_io *io, int fd, iom_io_cb cb,
                  void *data) {
  *io = (iom_io){.loop = loop, .fd = fd, .pending = -1, .keeps_alive = 1,
                 .cb = cb, .data = data};
}

/* Take the watcher off the selector now (it is being freed or replaced). */
static void io_unregister(iom_io *io) {
  iom__list_remove(&io->change);
  if (io->kevents)
    iom_selector_unregister(io->loop->sel, io->fd);
  io->kevents = 0;
}

void iom__io_fini(iom_io *io) {
  iom_io_stop(io);
  io_unregister(io);
}

int iom_io_new(iom_loop *loop, int fd, iom_io_cb cb, void *data,
               iom_io **out) {
  if (fd < 0)
    return -EBADF;
  iom_io *io = iom__malloc(sizeof *io);
  if (!io)
    return -ENOMEM;
  iom__io_init(loop, io, fd, cb, data);
  iom__loop_walk_add(loop, &io->walk, IOM_HANDLE_IO, io);
  loop->handles++;
  *out = io;
  return 0;
}

void iom_io_free(iom_io *io) {
  if (!io)
    return;
  iom__io_fini(io);
  iom__loop_walk_remove(&io->walk);
  io->loop->handles--;
  iom__free(io);
}

void iom__io_weak(iom_io *io) { io->keeps_alive = 0; }

/* Queue the watcher for the next flush if the kernel lacks its interest,
 * or take it off the queue if a later change undid the earlier one. */
static void mark_changed(iom_io *io) {
  int queued = iom__list_linked(&io->change);
  if (io->events != io->kevents && !queued)
    iom__list_push_back(&io->loop->changes, &io->change);
  else if (io->events == io->kevents && queued)
    iom__list_remove(&io->change);
}

/* The fd is still registered for a watcher that was stopped this turn (its
 * removal waits for the flush) and was then closed: take that registration
 * away so the new watcher can have the fd. -EEXIST if the fd belongs to a
 * watcher that still wants it. */
static int claim_fd(iom_loop *loop, int fd) {
  const iom_key *key;
  if (iom_selector_get_key(loop->sel, fd, &key) < 0)
    return 0;
  iom_io *old = key->data;
  if (old->events)
    return -EEXIST;
  io_unregister(old);
  return 0;
}

static int io_register(iom_io *io, unsigned events) {
  iom_selector *sel = io->loop->sel;
  int err = iom_selector_register(sel, io->fd, events, io);
  if (err == -EEXIST && (err = claim_fd(io->loop, io->fd)) == 0)
    err = iom_selector_register(sel, io->fd, events, io);
  if (err == 0)
    io->kevents = events;
  return err;
}

int iom_io_start(iom_io *io, unsigned events) {
  if (events == 0 || (events & ~(IOM_READ | IOM_WRITE)))
    return -EINVAL;
  if (events == io->events)
    return 0;
  if (!io->kevents) {
    int err = io_register(io, events);
    if (err < 0)
      return err;
  }
  if (!io->events && io->keeps_alive)
    io->loop->active++;
  io->events = events;
  mark_changed(io);
  return 0;
}

void iom_io_stop(iom_io *io) {
  if (!io->events)
    return;
  if (io->keeps_alive)
    io->loop->active--;
  io->events = 0;
  mark_changed(io);
  if (io->pending >= 0) {
    io->loop->pending[io->pending].io = NULL;
    io->pending = -1;
  }
}

int iom_io_fd(const iom_io *io) { return io->fd; }

unsigned iom_io_events(const iom_io *io) { return io->events; }

/* Bring the kernel's interest in line with one watcher. Returns 0, or -1 if
 * the kernel refused the change: the watcher is then unregistered, and the
 * caller reports it ready for what it wants. */
static int apply_change(iom_io *io) {
  iom_selector *sel = io->loop->sel;
  if (!io->events) {
    io_unregister(io);
    return 0;
  }
  int err = io->kevents ? iom_selector_modify(sel, io->fd, io->events, io)
                        : iom_selector_register(sel, io->fd, io->events, io);
  if (err == 0) {
    io->kevents = io->events;
    return 0;
  }
  io_unregister(io);
  return -1;
}

void iom__io_flush_changes(iom_loop *loop) {
  iom__list refused;
  iom__list_init(&refused);
  iom__list *node;
  while ((node = iom__list_pop(&loop->changes))) {
    iom_io *io = iom__list_entry(node, iom_io, change);
    if (apply_change(io) < 0)
      iom__list_push_back(&refused, &io->change);
  }
  /* Kept queued: they are retried at the next flush, and dispatch reports
   * them ready meanwhile. */
  iom__list_move(&refused, &loop->changes);
}

/* Fill pending[] from the selector's results, then from the watchers whose
 * change the kernel refused (as far as room allows). Returns the count. */
static int collect(iom_loop *loop, int nready) {
  for (int i = 0; i < nready; i++) {
    iom_io *io = loop->ready[i].key->data;
    loop->pending[i] = (iom__pending){io, loop->ready[i].events};
    io->pending = i;
  }
  iom__list *node = loop->changes.next;
  for (; node != &loop->changes && nready < IOM__READY_MAX;
       node = node->next) {
    iom_io *io = iom__list_entry(node, iom_io, change);
    if (io->kevents || io->pending >= 0)
      continue;
    loop->pending[nready] = (iom__pending){io, io->events};
    io->pending = nready++;
  }
  return nready;
}

void iom__io_dispatch(iom_loop *loop, int nready) {
  int n = collect(loop, nready);
  for (int i = 0; i < n; i++) {
    iom_io *io = loop->pending[i].io;
    if (!io)
      continue;
    io->pending = -1;
    /* The callbacks before this one may have changed what it wants. */
    unsigned events = loop->pending[i].events & io->events;
    if (events)
      io->cb(io, events, io->data);
  }
}
