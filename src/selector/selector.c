/* The selector: the key table and the semantics every backend shares.
 *
 * Keys live in a two-level table indexed by fd: pages of IOM__PAGE_SIZE slots,
 * allocated when the first fd of that range is registered. Lookup is O(1),
 * and a key's address never changes (growing the page directory moves only
 * page pointers), so a key handed out stays valid while the selector lives.
 */
#include "backend.h"

#include "../core/alloc_internal.h"
#include "../core/clock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Best first: IOM_DEFAULT takes the first one whose init succeeds. */
static const iom__backend_ops *const backends[] = {
#if defined(__linux__)
    &iom__epoll_ops,
#endif
    &iom__poll_ops,
    &iom__select_ops,
};
#define NBACKENDS ((int)(sizeof backends / sizeof backends[0]))

static const iom__backend_ops *find_backend(iom_backend kind) {
  for (int i = 0; i < NBACKENDS; i++)
    if (backends[i]->kind == kind)
      return backends[i];
  return NULL;
}

/* Every kind the enum names, built here or not (index = iom_backend). */
static const char *const kind_names[] = {"default", "select", "poll", "epoll",
                                         "kqueue"};
#define NKINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

const char *iom_backend_name(iom_backend kind) {
  return (int)kind >= 0 && (int)kind < NKINDS ? kind_names[kind] : NULL;
}

/* A kind the enum names but this build has no backend for (kqueue, or
 * epoll off Linux): -ENOSYS rather than -EINVAL. */
static int open_kind(iom_backend kind, iom_selector **out);

static int open_backend(const iom__backend_ops *ops, iom_selector **out) {
  iom_selector *sel = iom__calloc(1, sizeof *sel);
  if (!sel)
    return -ENOMEM;
  sel->ops = ops;
  int err = ops->init(sel);
  if (err < 0) {
    iom__free(sel);
    return err;
  }
  *out = sel;
  return 0;
}

/* IOM_BACKEND=name chooses the default; an unknown name is an error rather
 * than a silent fallback, so a typo in a test or demo shows. */
static int open_default(iom_selector **out) {
  const char *want = getenv("IOM_BACKEND");
  if (want && *want) {
    for (int k = IOM_SELECT; k < NKINDS; k++)
      if (strcmp(kind_names[k], want) == 0)
        return open_kind((iom_backend)k, out);
    return -EINVAL;
  }
  int err = -ENOSYS;
  for (int i = 0; i < NBACKENDS; i++) {
    err = open_backend(backends[i], out);
    if (err != -ENOSYS)
      return err;
  }
  return err;
}

static int open_kind(iom_backend kind, iom_selector **out) {
  const iom__backend_ops *ops = find_backend(kind);
  if (ops)
    return open_backend(ops, out);
  return (int)kind > IOM_DEFAULT && (int)kind < NKINDS ? -ENOSYS : -EINVAL;
}

int iom_selector_new(iom_backend kind, iom_selector **out) {
  if (!out)
    return -EINVAL;
  return kind == IOM_DEFAULT ? open_default(out) : open_kind(kind, out);
}

void iom_selector_free(iom_selector *sel) {
  if (!sel)
    return;
  sel->ops->fini(sel);
  for (int i = 0; i < sel->npages; i++)
    iom__free(sel->pages[i]);
  iom__free(sel->pages);
  iom__free(sel);
}

iom_backend iom_selector_backend(const iom_selector *sel) {
  return sel->ops->kind;
}

const char *iom_selector_name(const iom_selector *sel) {
  return sel->ops->name;
}

int iom_selector_count(const iom_selector *sel) { return sel->count; }

int iom__selector_fd(const iom_selector *sel) {
  return sel->ops->pollable_fd ? sel->ops->pollable_fd(sel) : -1;
}

static int valid_events(unsigned events) {
  return events != 0 && (events & ~IOM__EVENTS) == 0;
}

/* The slot for `fd`, allocating its page if needed; NULL when out of memory. */
static iom__slot *slot_for(iom_selector *sel, int fd) {
  int page = fd >> IOM__PAGE_SHIFT;
  if (page >= sel->npages) {
    void *dir = sel->pages;
    if (iom__grow_zeroed(&dir, &sel->npages, page + 1, sizeof *sel->pages,
                         4) < 0)
      return NULL;
    sel->pages = dir;
  }
  if (!sel->pages[page]) {
    sel->pages[page] = iom__calloc(IOM__PAGE_SIZE, sizeof(iom__slot));
    if (!sel->pages[page])
      return NULL;
  }
  return &sel->pages[page][fd & (IOM__PAGE_SIZE - 1)];
}

int iom_selector_register(iom_selector *sel, int fd, unsigned events,
                          void *data) {
  if (fd < 0)
    return -EBADF;
  if (!valid_events(events) || fd > sel->ops->max_fd)
    return -EINVAL;
  if (iom__slot_of(sel, fd))
    return -EEXIST;
  iom__slot *slot = slot_for(sel, fd);
  if (!slot)
    return -ENOMEM;
  slot->key.fd = fd;
  slot->key.data = data;
  int err = sel->ops->add(sel, slot, events);
  if (err < 0)
    return err;
  slot->key.events = events;
  sel->count++;
  return 0;
}

int iom_selector_unregister(iom_selector *sel, int fd) {
  iom__slot *slot = iom__slot_of(sel, fd);
  if (!slot)
    return -ENOENT;
  sel->ops->del(sel, slot);
  slot->key.events = 0;
  slot->key.data = NULL;
  sel->count--;
  return 0;
}

int iom_selector_modify(iom_selector *sel, int fd, unsigned events,
                        void *data) {
  iom__slot *slot = iom__slot_of(sel, fd);
  if (!slot)
    return -ENOENT;
  if (!valid_events(events))
    return -EINVAL;
  if (events != slot->key.events) {
    int err = sel->ops->mod(sel, slot, events);
    if (err < 0)
      return err;
    slot->key.events = events;
  }
  slot->key.data = data;
  return 0;
}

int iom_selector_get_key(const iom_selector *sel, int fd,
                         const iom_key **key) {
  const iom__slot *slot = iom__slot_of(sel, fd);
  if (!slot)
    return -ENOENT;
  *key = &slot->key;
  return 0;
}

const iom_key *iom_selector_next_key(const iom_selector *sel,
                                     const iom_key *prev) {
  int fd = prev ? prev->fd + 1 : 0;
  while (fd >= 0 && (fd >> IOM__PAGE_SHIFT) < sel->npages) {
    if (!sel->pages[fd >> IOM__PAGE_SHIFT]) {
      fd = ((fd >> IOM__PAGE_SHIFT) + 1) << IOM__PAGE_SHIFT;
      continue;
    }
    const iom__slot *slot = iom__slot_of(sel, fd);
    if (slot)
      return &slot->key;
    fd++;
  }
  return NULL;
}

/* Milliseconds from now until `deadline`, rounded up so a wait never ends
 * before it; 0 once it has passed. */
static int ms_until(uint64_t deadline) {
  uint64_t now = iom__now_ns();
  if (now >= deadline)
    return 0;
  return (int)((deadline - now + 999999) / 1000000);
}

int iom_selector_select(iom_selector *sel, int timeout_ms, iom_ready *out,
                        int n) {
  if (!out || n < 1)
    return -EINVAL;
  uint64_t deadline = 0;
  if (timeout_ms > 0)
    deadline = iom__now_ns() + (uint64_t)timeout_ms * 1000000u;
  for (;;) {
    int got = sel->ops->wait(sel, timeout_ms, out, n);
    if (got > 0 || (got < 0 && got != -EINTR))
      return got;
    /* Interrupted, or woken with nothing to report (epoll: only stale
     * events): forever stays forever, and a finite wait goes on with what
     * is left of it (PEP 475), so it never ends early. */
    if (timeout_ms == 0)
      return 0;
    if (timeout_ms > 0) {
      timeout_ms = ms_until(deadline);
      if (timeout_ms == 0)
        return 0;
    }
  }
}
