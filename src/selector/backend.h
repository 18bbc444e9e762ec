/* The contract between selector.c and one backend file.
 *
 * selector.c owns the key table and does every check Python's selectors does
 * (validate, then duplicates, then the kernel, rolling back on failure). A
 * backend only translates registrations into its kernel interface and kernel
 * results into iom_ready pairs. Adding a backend is one file that defines an
 * iom__backend_ops and one line in selector.c's table.
 */
#ifndef IOMUX_SELECTOR_BACKEND_H
#define IOMUX_SELECTOR_BACKEND_H

#include "iomux/selector.h"
#include "selector_internal.h"

#include <stddef.h>

#define IOM__EVENTS (IOM_READ | IOM_WRITE)

/* One entry of the key table. `key.events == 0` marks a free slot. */
typedef struct iom__slot {
  iom_key key;
  int index; /* the backend's own use (poll: position in its pollfd array) */
} iom__slot;

typedef struct iom__backend_ops {
  iom_backend kind;
  const char *name;
  int max_fd; /* the highest fd the backend can watch */
  /* Set sel->impl up; return 0 or -errno (-ENOSYS: no such kernel support). */
  int (*init)(iom_selector *sel);
  void (*fini)(iom_selector *sel);
  /* Start watching slot->key.fd for `events`; key.events is still 0. */
  int (*add)(iom_selector *sel, iom__slot *slot, unsigned events);
  /* Change to `events`; key.events still holds the old ones. On error the
   * kernel state must be what it was. */
  int (*mod)(iom_selector *sel, iom__slot *slot, unsigned events);
  /* Stop watching; the fd may already be closed, so this cannot fail. */
  void (*del)(iom_selector *sel, iom__slot *slot);
  /* Wait up to timeout_ms (the kernel's own single wait: selector.c handles
   * EINTR and the total timeout) and fill out[0..n). Return the count or
   * -errno. */
  int (*wait)(iom_selector *sel, int timeout_ms, iom_ready *out, int n);
  /* The fd that becomes readable when the selector has events (epoll's own
   * fd), so another waiter can watch it; NULL when there is none. */
  int (*pollable_fd)(const iom_selector *sel);
} iom__backend_ops;

struct iom_selector {
  const iom__backend_ops *ops;
  void *impl;         /* the backend's state */
  iom__slot **pages;  /* key table: pages[fd >> SHIFT][fd & MASK] */
  int npages;
  int count;          /* registered keys */
};

#define IOM__PAGE_SHIFT 8
#define IOM__PAGE_SIZE (1 << IOM__PAGE_SHIFT)

/* The registered slot of `fd`, or NULL. */
static inline iom__slot *iom__slot_of(const iom_selector *sel, int fd) {
  int page = fd >> IOM__PAGE_SHIFT;
  if (fd < 0 || page >= sel->npages || !sel->pages[page])
    return NULL;
  iom__slot *slot = &sel->pages[page][fd & (IOM__PAGE_SIZE - 1)];
  return slot->key.events ? slot : NULL;
}

/* Turn a kernel's verdict into ready events, as Python does: an fd that is
 * readable, hung up or in error is ready for reading, one that is writable,
 * hung up or in error for writing; then keep only what the key asked for. */
static inline unsigned iom__ready_events(const iom__slot *slot, int readable,
                                         int writable, int failed) {
  unsigned ev = 0;
  if (readable || failed)
    ev |= IOM_READ;
  if (writable || failed)
    ev |= IOM_WRITE;
  return ev & slot->key.events;
}


extern const iom__backend_ops iom__select_ops;
extern const iom__backend_ops iom__poll_ops;
#if defined(__linux__)
extern const iom__backend_ops iom__epoll_ops;
#endif

#endif
