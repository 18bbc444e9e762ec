/* iomux: the selector, Python's `selectors` module in C.
 *
 * Register file descriptors with the events they wait for and an opaque data
 * pointer; iom_selector_select() waits and returns (key, ready events) pairs.
 * One API over several kernel interfaces (backends): select, poll, epoll
 * (kqueue where the platform has it). All of them behave the same way, down
 * to the errors:
 *
 *   register an fd twice              -EEXIST  (Python: KeyError)
 *   modify/unregister/get_key unknown -ENOENT  (Python: KeyError)
 *   events 0 or with unknown bits     -EINVAL  (Python: ValueError)
 *   negative fd                       -EBADF
 *   select backend, fd >= FD_SETSIZE  -EINVAL  (never an out-of-bounds FD_SET)
 *
 * A peer's hang-up or an error on the fd is reported as ready for the events
 * the fd was registered for, so the caller's next read or write sees the EOF
 * or the error. Each fd appears at most once per select call, with the union
 * of its ready events. Regular files and directories are always ready, on
 * every backend (POSIX select/poll semantics; epoll refuses them with EPERM,
 * so the epoll backend keeps them aside and reports them itself).
 *
 * Threads: a selector belongs to one thread at a time; nothing here is
 * thread-safe. To wake a thread blocked in select, write to an fd it watches.
 */
#ifndef IOMUX_SELECTOR_H
#define IOMUX_SELECTOR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Events, the same values as Python's selectors.EVENT_READ / EVENT_WRITE. */
#define IOM_READ  1u
#define IOM_WRITE 2u

/* Backends. IOM_DEFAULT picks the best one this system has at run time
 * (epoll, then poll, then select), unless the environment variable
 * IOM_BACKEND names one ("select", "poll", "epoll"). Every kind is named on
 * every system so portable code compiles; one this build lacks gives
 * -ENOSYS from iom_selector_new: epoll off Linux, and kqueue everywhere
 * (reserved: no kqueue backend is written until a BSD can test it). */
typedef enum iom_backend {
  IOM_DEFAULT = 0,
  IOM_SELECT = 1,
  IOM_POLL = 2,
  IOM_EPOLL = 3,
  IOM_KQUEUE = 4,
} iom_backend;

/* A registration, as Python's SelectorKey (fd, events, data). Owned by the
 * selector: read it, never write it. A key's address is stable for the
 * selector's lifetime; after unregister its `events` is 0. */
typedef struct iom_key {
  int fd;
  unsigned events;
  void *data;
} iom_key;

/* One result of iom_selector_select(): the key, and which of its registered
 * events are ready (never 0, never outside key->events at the time). */
typedef struct iom_ready {
  const iom_key *key;
  unsigned events;
} iom_ready;

typedef struct iom_selector iom_selector;

/* Create a selector of the given backend in *out.
 * Returns 0; -EINVAL for a kind outside the enum or an IOM_BACKEND value that
 * names none; -ENOSYS for a kind (or IOM_BACKEND name) this build or kernel
 * lacks (kqueue; epoll off Linux); -ENOMEM; or the
 * errno of the backend's setup (-EMFILE, ...). *out is set only on success. */
int iom_selector_new(iom_backend kind, iom_selector **out);

/* Close the backend and free the selector and its keys. Registered fds are
 * not closed: they belong to the caller. NULL is allowed. */
void iom_selector_free(iom_selector *sel);

/* The backend in use: IOM_SELECT, IOM_POLL, ... (never IOM_DEFAULT). */
iom_backend iom_selector_backend(const iom_selector *sel);

/* Its name: "select", "poll", "epoll" or "kqueue". Static string. */
const char *iom_selector_name(const iom_selector *sel);

/* The name of a backend kind ("default" for IOM_DEFAULT), built here or not;
 * NULL for a value outside the enum. */
const char *iom_backend_name(iom_backend kind);

/* Watch `fd` for `events` (IOM_READ | IOM_WRITE); `data` comes back in the key.
 * Returns 0; -EBADF (fd < 0, or the kernel says so), -EINVAL (events),
 * -EEXIST (already registered), -ENOMEM, or the kernel's error. On error
 * nothing is registered. */
int iom_selector_register(iom_selector *sel, int fd, unsigned events,
                          void *data);

/* Stop watching `fd`. Works when the caller has already closed it.
 * Returns 0 or -ENOENT (not registered; also for fd < 0). */
int iom_selector_unregister(iom_selector *sel, int fd);

/* Change the events and data of a registered fd. Returns 0; -ENOENT, -EINVAL,
 * or the kernel's error, in which case the key is unchanged. */
int iom_selector_modify(iom_selector *sel, int fd, unsigned events,
                        void *data);

/* Find the key of `fd` in O(1): sets *key and returns 0, or returns -ENOENT. */
int iom_selector_get_key(const iom_selector *sel, int fd, const iom_key **key);

/* Number of registered fds. */
int iom_selector_count(const iom_selector *sel);

/* Iterate over all keys in fd order (Python's get_map()): pass NULL for the
 * first key, then the previous key; NULL at the end. Registering fds during
 * the iteration may or may not show them; unregistering the key just
 * returned is allowed. O(highest fd) for a whole pass. */
const iom_key *iom_selector_next_key(const iom_selector *sel,
                                     const iom_key *prev);

/* Wait until at least one registered fd is ready, or the timeout passes, and
 * fill out[0..n) with (key, ready events) pairs.
 *   timeout_ms < 0: wait forever; 0: poll, do not block; > 0: wait that many
 *   milliseconds in total (signals interrupting the wait do not return early
 *   and do not restart the full timeout).
 * Returns the number of pairs (0 on timeout); -EINVAL if out is NULL or n < 1;
 * or the kernel's error (select backend: -EBADF if a registered fd was closed
 * without being unregistered). Allocates nothing. More than n ready fds are
 * reported over the following calls, round-robin. */
int iom_selector_select(iom_selector *sel, int timeout_ms, iom_ready *out,
                        int n);

#ifdef __cplusplus
}
#endif

#endif
