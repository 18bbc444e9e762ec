/* io watchers: an fd, the events wanted, a callback.
 *
 * Interest changes go to the selector at once (one epoll_ctl each); a change
 * that leaves the events as they are costs nothing. During dispatch each
 * ready watcher holds a slot in loop->pending, and stopping it voids that
 * slot (libev's clear_pending): so a callback may stop or free any watcher,
 * and a new watcher on a reused fd never inherits an event found for the
 * old one.
 */
#include "loop_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>

void iom__io_init(iom_loop *loop, iom_io *io, int fd, iom_io_cb cb,
                  void *data) {
  io->loop = loop;
  io->fd = fd;
  io->events = 0;
  io->pending = -1;
  io->keeps_alive = 1;
  io->cb = cb;
  io->data = data;
}

void iom__io_fini(iom_io *io) { iom_io_stop(io); }

int iom_io_new(iom_loop *loop, int fd, iom_io_cb cb, void *data,
               iom_io **out) {
  if (fd < 0)
    return -EBADF;
  iom_io *io = iom__malloc(sizeof *io);
  if (!io)
    return -ENOMEM;
  iom__io_init(loop, io, fd, cb, data);
  loop->handles++;
  *out = io;
  return 0;
}

void iom_io_free(iom_io *io) {
  if (!io)
    return;
  iom__io_fini(io);
  io->loop->handles--;
  iom__free(io);
}

int iom_io_start(iom_io *io, unsigned events) {
  if (events == 0 || (events & ~(IOM_READ | IOM_WRITE)))
    return -EINVAL;
  if (events == io->events)
    return 0;
  iom_selector *sel = io->loop->sel;
  int err = io->events ? iom_selector_modify(sel, io->fd, events, io)
                       : iom_selector_register(sel, io->fd, events, io);
  if (err < 0)
    return err;
  if (!io->events && io->keeps_alive)
    io->loop->active++;
  io->events = events;
  return 0;
}

void iom_io_stop(iom_io *io) {
  if (!io->events)
    return;
  iom_selector_unregister(io->loop->sel, io->fd);
  if (io->keeps_alive)
    io->loop->active--;
  io->events = 0;
  if (io->pending >= 0) {
    io->loop->pending[io->pending].io = NULL;
    io->pending = -1;
  }
}

int iom_io_fd(const iom_io *io) { return io->fd; }

unsigned iom_io_events(const iom_io *io) { return io->events; }

void iom__io_dispatch(iom_loop *loop, int nready) {
  for (int i = 0; i < nready; i++) {
    iom_io *io = loop->ready[i].key->data;
    loop->pending[i].io = io;
    loop->pending[i].events = loop->ready[i].events;
    io->pending = i;
  }
  for (int i = 0; i < nready; i++) {
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
