/* select(2) backend.
 *
 * The oldest interface and the most portable. What it costs and where it bites:
 *  - fd_set is a bitmap of FD_SETSIZE (1024) bits; FD_SET on a larger fd writes
 *    past it. The selector refuses such fds at register time (max_fd).
 *  - select() overwrites its sets, so each wait copies the master sets: the
 *    kernel and this file both scan every fd up to the highest one, whether
 *    it is busy or idle. That is the O(n) the lab measures.
 *  - An fd closed while still registered makes every select() fail with
 *    EBADF; the error goes to the caller (unregister before close).
 *  - Hang-ups and errors show as readable and writable; there is no separate
 *    report of them (the exception set means out-of-band data, unused here).
 */
#include "backend.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <sys/select.h>

typedef struct select_state {
  fd_set readers, writers; /* the registrations: copied before each wait */
  int max_fd;              /* highest registered fd, -1 when none */
  int next_fd;             /* where the next scan starts (round-robin) */
} select_state;

static int select_init(iom_selector *sel) {
  select_state *st = iom__calloc(1, sizeof *st);
  if (!st)
    return -ENOMEM;
  FD_ZERO(&st->readers);
  FD_ZERO(&st->writers);
  st->max_fd = -1;
  sel->impl = st;
  return 0;
}

static void select_fini(iom_selector *sel) { iom__free(sel->impl); }

static void set_interest(select_state *st, int fd, unsigned events) {
  if (events & IOM_READ)
    FD_SET(fd, &st->readers);
  else
    FD_CLR(fd, &st->readers);
  if (events & IOM_WRITE)
    FD_SET(fd, &st->writers);
  else
    FD_CLR(fd, &st->writers);
}

static int select_add(iom_selector *sel, iom__slot *slot, unsigned events) {
  select_state *st = sel->impl;
  set_interest(st, slot->key.fd, events);
  if (slot->key.fd > st->max_fd)
    st->max_fd = slot->key.fd;
  return 0;
}

static int select_mod(iom_selector *sel, iom__slot *slot, unsigned events) {
  set_interest(sel->impl, slot->key.fd, events);
  return 0;
}

static void select_del(iom_selector *sel, iom__slot *slot) {
  select_state *st = sel->impl;
  int fd = slot->key.fd;
  set_interest(st, fd, 0);
  if (fd == st->max_fd) {
    do
      st->max_fd--;
    while (st->max_fd >= 0 && !FD_ISSET(st->max_fd, &st->readers) &&
           !FD_ISSET(st->max_fd, &st->writers));
  }
}

static int select_wait(iom_selector *sel, int timeout_ms, iom_ready *out,
                       int n) {
  select_state *st = sel->impl;
  fd_set rd = st->readers, wr = st->writers;
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  int nfds = st->max_fd + 1;
  int ready = select(nfds, &rd, &wr, NULL, timeout_ms < 0 ? NULL : &tv);
  if (ready < 0)
    return -errno;
  int got = 0;
  int start = st->next_fd < nfds ? st->next_fd : 0;
  for (int i = 0; i < nfds && ready > 0; i++) {
    int fd = (start + i) % nfds;
    int r = FD_ISSET(fd, &rd), w = FD_ISSET(fd, &wr);
    if (!r && !w)
      continue;
    ready -= (r != 0) + (w != 0);
    iom__slot *slot = iom__slot_of(sel, fd);
    out[got].key = &slot->key;
    out[got].events = iom__ready_events(slot, r, w, 0);
    if (++got == n) {
      st->next_fd = fd + 1;
      break;
    }
  }
  return got;
}

const iom__backend_ops iom__select_ops = {
    .kind = IOM_SELECT,
    .name = "select",
    .max_fd = FD_SETSIZE - 1,
    .init = select_init,
    .fini = select_fini,
    .add = select_add,
    .mod = select_mod,
    .del = select_del,
    .wait = select_wait,
};
