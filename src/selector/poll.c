/* poll(2) backend.
 *
 * No FD_SETSIZE limit, but the same O(n) shape as select: the whole pollfd
 * array crosses into the kernel on every wait and is scanned on the way out.
 * Details this file handles:
 *  - the array is kept dense: unregister moves the last entry into the hole
 *    and updates that fd's slot->index, so add and remove are O(1);
 *  - POLLHUP, POLLERR and POLLNVAL (an fd closed while registered) are
 *    reported as ready for the registered events, as Python does, so the
 *    caller's read or write returns the EOF or the error;
 *  - when more fds are ready than the caller has room for, the next scan
 *    starts where this one stopped, so no fd starves.
 */
#include "backend.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <poll.h>

typedef struct poll_state {
  struct pollfd *fds;
  int nfds, cap;
  int next; /* where the next scan starts (round-robin) */
} poll_state;

static short poll_mask(unsigned events) {
  return (short)(((events & IOM_READ) ? POLLIN : 0) |
                 ((events & IOM_WRITE) ? POLLOUT : 0));
}

static int poll_init(iom_selector *sel) {
  sel->impl = iom__calloc(1, sizeof(poll_state));
  return sel->impl ? 0 : -ENOMEM;
}

static void poll_fini(iom_selector *sel) {
  poll_state *st = sel->impl;
  iom__free(st->fds);
  iom__free(st);
}

static int poll_add(iom_selector *sel, iom__slot *slot, unsigned events) {
  poll_state *st = sel->impl;
  void *fds = st->fds;
  if (iom__grow(&fds, &st->cap, st->nfds + 1, sizeof *st->fds, 64) < 0)
    return -ENOMEM;
  st->fds = fds;
  st->fds[st->nfds] =
      (struct pollfd){.fd = slot->key.fd, .events = poll_mask(events)};
  slot->index = st->nfds++;
  return 0;
}

static int poll_mod(iom_selector *sel, iom__slot *slot, unsigned events) {
  poll_state *st = sel->impl;
  st->fds[slot->index].events = poll_mask(events);
  return 0;
}

static void poll_del(iom_selector *sel, iom__slot *slot) {
  poll_state *st = sel->impl;
  int last = --st->nfds;
  if (slot->index != last) {
    st->fds[slot->index] = st->fds[last];
    iom__slot_of(sel, st->fds[last].fd)->index = slot->index;
  }
}

static int poll_wait(iom_selector *sel, int timeout_ms, iom_ready *out,
                     int n) {
  poll_state *st = sel->impl;
  int ready = poll(st->fds, (nfds_t)st->nfds, timeout_ms);
  if (ready < 0)
    return -errno;
  int got = 0;
  int start = st->next < st->nfds ? st->next : 0;
  for (int i = 0; i < st->nfds && ready > 0; i++) {
    int at = (start + i) % st->nfds;
    short rev = st->fds[at].revents;
    if (!rev)
      continue;
    ready--;
    iom__slot *slot = iom__slot_of(sel, st->fds[at].fd);
    out[got].key = &slot->key;
    out[got].events = iom__ready_events(slot, rev & POLLIN, rev & POLLOUT,
                                        rev & (POLLHUP | POLLERR | POLLNVAL));
    if (++got == n) {
      st->next = at + 1;
      break;
    }
  }
  return got;
}

const iom__backend_ops iom__poll_ops = {
    .kind = IOM_POLL,
    .name = "poll",
    .max_fd = 0x7fffffff,
    .init = poll_init,
    .fini = poll_fini,
    .add = poll_add,
    .mod = poll_mod,
    .del = poll_del,
    .wait = poll_wait,
};
