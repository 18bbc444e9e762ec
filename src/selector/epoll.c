/* epoll(7) backend (Linux).
 *
 * The kernel keeps the interest list, so a wait costs O(ready fds), not
 * O(registered fds). Its quirks, and what this file does about them:
 *  a) epoll refuses regular files and directories with EPERM, where select
 *     and poll report them always ready. To behave like the other backends,
 *     such fds are kept in a side list here and reported ready on every
 *     wait (which then does not block).
 *  b) The interest list holds open file *descriptions*, not fd numbers: an fd
 *     closed while a dup of it lives stays in the set, and EPOLL_CTL_DEL on
 *     the closed number fails with EBADF. Unregister ignores that error (the
 *     caller cannot do anything about it); callers should unregister before
 *     closing, as with every backend.
 *  c) An event can name an fd that was unregistered since the kernel queued
 *     it; each event is looked up in the key table and dropped if stale.
 *  d) Hang-ups (EPOLLHUP) and errors (EPOLLERR) are always reported, whatever
 *     was asked for; they map to the registered events, as in Python.
 * Level-triggered only: edge-triggered use needs a different contract
 * (drain to EAGAIN), which the epoll-et model of iomux-echo shows with raw
 * syscalls.
 */
#include "backend.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Room for kernel events: starts at EPOLL_BATCH and grows, inside select,
 * to the caller's n (bounded by the registered fds), so one call returns
 * every ready fd the caller has room for, as Python's select does. A second
 * epoll_wait cannot fill the rest: level-triggered fds the first call
 * reported go back to the end of the kernel's ready list and would come
 * again. */
#define EPOLL_BATCH 1024

typedef struct epoll_state {
  int epfd;
  struct epoll_event *events;
  int events_cap;
  int *files; /* quirk (a): fds epoll refused, always ready */
  int nfiles, files_cap;
} epoll_state;

/* slot->index is -1 for fds in the kernel's set, else a position in files. */
#define IN_KERNEL (-1)

static uint32_t epoll_mask(unsigned events) {
  return ((events & IOM_READ) ? EPOLLIN : 0) |
         ((events & IOM_WRITE) ? EPOLLOUT : 0);
}

static int epoll_init(iom_selector *sel) {
  epoll_state *st = iom__malloc(sizeof *st);
  if (!st)
    return -ENOMEM;
  st->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (st->epfd < 0) {
    int err = -errno;
    iom__free(st);
    return err;
  }
  st->events = iom__malloc(EPOLL_BATCH * sizeof *st->events);
  if (!st->events) {
    close(st->epfd);
    iom__free(st);
    return -ENOMEM;
  }
  st->events_cap = EPOLL_BATCH;
  st->files = NULL;
  st->nfiles = st->files_cap = 0;
  sel->impl = st;
  return 0;
}

static void epoll_fini(iom_selector *sel) {
  epoll_state *st = sel->impl;
  close(st->epfd);
  iom__free(st->events);
  iom__free(st->files);
  iom__free(st);
}

static int ctl(epoll_state *st, int op, int fd, unsigned events) {
  struct epoll_event ev = {.events = epoll_mask(events), .data.fd = fd};
  return epoll_ctl(st->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static int add_file(epoll_state *st, iom__slot *slot) {
  void *files = st->files;
  if (iom__grow(&files, &st->files_cap, st->nfiles + 1, sizeof(int), 8) < 0)
    return -ENOMEM;
  st->files = files;
  st->files[st->nfiles] = slot->key.fd;
  slot->index = st->nfiles++;
  return 0;
}

static int epoll_add(iom_selector *sel, iom__slot *slot, unsigned events) {
  epoll_state *st = sel->impl;
  int err = ctl(st, EPOLL_CTL_ADD, slot->key.fd, events);
  if (err == -EPERM)
    return add_file(st, slot);
  slot->index = IN_KERNEL;
  return err;
}

static int epoll_mod(iom_selector *sel, iom__slot *slot, unsigned events) {
  if (slot->index != IN_KERNEL)
    return 0;
  return ctl(sel->impl, EPOLL_CTL_MOD, slot->key.fd, events);
}

static void epoll_del(iom_selector *sel, iom__slot *slot) {
  epoll_state *st = sel->impl;
  if (slot->index == IN_KERNEL) {
    ctl(st, EPOLL_CTL_DEL, slot->key.fd, 0); /* quirk (b): errors ignored */
    return;
  }
  int last = --st->nfiles;
  if (slot->index != last) {
    st->files[slot->index] = st->files[last];
    iom__slot_of(sel, st->files[last])->index = slot->index;
  }
}

/* Translate one batch of kernel events into out[]; returns how many. */
static int take_events(iom_selector *sel, int ready, iom_ready *out) {
  epoll_state *st = sel->impl;
  int got = 0;
  for (int i = 0; i < ready; i++) {
    iom__slot *slot = iom__slot_of(sel, st->events[i].data.fd);
    if (!slot || slot->index != IN_KERNEL) /* quirk (c) */
      continue;
    uint32_t ev = st->events[i].events;
    out[got].key = &slot->key;
    out[got].events = iom__ready_events(slot, ev & EPOLLIN, ev & EPOLLOUT,
                                        ev & (EPOLLHUP | EPOLLERR));
    if (out[got].events)
      got++;
  }
  return got;
}

/* How many events one epoll_wait may return: n, bounded by the fds in the
 * kernel's set; the buffer grows to that (keeping its size if memory is
 * short: the caller then gets fewer, never a failure). */
static int event_room(iom_selector *sel, int n) {
  epoll_state *st = sel->impl;
  int want = n < sel->count ? n : sel->count;
  if (want > st->events_cap) {
    void *events = st->events;
    if (iom__grow(&events, &st->events_cap, want, sizeof *st->events,
                  EPOLL_BATCH) == 0)
      st->events = events;
  }
  if (want < 1)
    want = 1;
  return want < st->events_cap ? want : st->events_cap;
}

static int epoll_wait_ready(iom_selector *sel, int timeout_ms, iom_ready *out,
                            int n) {
  epoll_state *st = sel->impl;
  if (st->nfiles > 0)
    timeout_ms = 0;
  int ready = epoll_wait(st->epfd, st->events, event_room(sel, n), timeout_ms);
  if (ready < 0)
    return -errno;
  int got = take_events(sel, ready, out);
  for (int i = 0; i < st->nfiles && got < n; i++) {
    iom__slot *slot = iom__slot_of(sel, st->files[i]);
    out[got].key = &slot->key;
    out[got++].events = slot->key.events;
  }
  return got;
}

static int epoll_pollable_fd(const iom_selector *sel) {
  return ((const epoll_state *)sel->impl)->epfd;
}

const iom__backend_ops iom__epoll_ops = {
    .kind = IOM_EPOLL,
    .name = "epoll",
    .max_fd = 0x7fffffff,
    .init = epoll_init,
    .fini = epoll_fini,
    .add = epoll_add,
    .mod = epoll_mod,
    .del = epoll_del,
    .wait = epoll_wait_ready,
    .pollable_fd = epoll_pollable_fd,
};
