/* Error names and messages: one table gives both iom_err_name() and
 * iom_strerror(), so a new code is added in one place. A message must be
 * true wherever the code comes from: the library's own uses (EEXIST: an fd
 * registered twice; ENOENT: an fd not registered, an op not in flight, a CA
 * file that cannot be read) and the system's errors it passes on (ENOENT
 * from open() or a Unix socket's path). */
#define _GNU_SOURCE /* strerrordesc_np, strerrorname_np */
#include "iomux/error.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* glibc 2.32+ names every errno with thread-safe static strings; elsewhere
 * a code outside the table below is "unknown". */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
#define IOM_SYSTEM_TEXT(err) strerrordesc_np(err)
#define IOM_SYSTEM_NAME(err) strerrorname_np(err)
#else
#define IOM_SYSTEM_TEXT(err) NULL
#define IOM_SYSTEM_NAME(err) NULL
#endif

#define IOM_ERRNO_MAP(X)                                                      \
  X(EPERM, "operation not permitted")                                       \
  X(ENOENT, "not found (no such entry or file)")                            \
  X(EINTR, "interrupted by a signal")                                       \
  X(EIO, "input/output error")                                              \
  X(EBADF, "bad file descriptor")                                           \
  X(EAGAIN, "resource temporarily unavailable (try again)")                 \
  X(ENOMEM, "out of memory")                                                \
  X(EACCES, "permission denied")                                            \
  X(EFAULT, "bad address")                                                  \
  X(EBUSY, "resource busy")                                                 \
  X(EEXIST, "already registered")                                           \
  X(EINVAL, "invalid argument")                                             \
  X(ENFILE, "too many open files in the system")                            \
  X(EMFILE, "too many open files in this process")                          \
  X(ENOSPC, "no space left (kernel limit reached)")                         \
  X(EPIPE, "broken pipe (the peer closed)")                                 \
  X(ERANGE, "result out of range")                                          \
  X(ENOSYS, "not supported by this system")                                 \
  X(ENOTSOCK, "not a socket")                                               \
  X(EMSGSIZE, "message too long")                                           \
  X(EPROTO, "protocol error")                                               \
  X(ENOTSUP, "operation not supported")                                     \
  X(EAFNOSUPPORT, "address family not supported")                           \
  X(EADDRINUSE, "address already in use")                                   \
  X(EADDRNOTAVAIL, "address not available")                                 \
  X(ENETUNREACH, "network unreachable")                                     \
  X(ECONNABORTED, "connection aborted")                                     \
  X(ECONNRESET, "connection reset by peer")                                 \
  X(ENOBUFS, "no buffer space available")                                   \
  X(EISCONN, "already connected")                                           \
  X(ENOTCONN, "not connected")                                              \
  X(ETIMEDOUT, "timed out")                                                 \
  X(ECONNREFUSED, "connection refused")                                     \
  X(EHOSTUNREACH, "host unreachable")                                       \
  X(EALREADY, "operation already in progress")                              \
  X(EINPROGRESS, "operation in progress")                                   \
  X(ECANCELED, "operation canceled")

static int positive(int err) { return err < 0 ? -err : err; }

static const char *or_default(const char *s, const char *fallback) {
  return s ? s : fallback;
}

const char *iom_strerror(int err) {
  switch (positive(err)) {
  case 0:
    return "success";
#define IOM_MESSAGE_CASE(code, text)                                          \
  case code:                                                                 \
    return text;
    IOM_ERRNO_MAP(IOM_MESSAGE_CASE)
#undef IOM_MESSAGE_CASE
  default:
    return or_default(IOM_SYSTEM_TEXT(positive(err)), "unknown error");
  }
}

const char *iom_err_name(int err) {
  switch (positive(err)) {
  case 0:
    return "OK";
#define IOM_NAME_CASE(code, text)                                             \
  case code:                                                                 \
    return #code;
    IOM_ERRNO_MAP(IOM_NAME_CASE)
#undef IOM_NAME_CASE
  default:
    return or_default(IOM_SYSTEM_NAME(positive(err)), "UNKNOWN");
  }
}
