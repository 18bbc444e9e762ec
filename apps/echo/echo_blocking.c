/* echo_blocking: one conversation held with blocking calls. The why is in
 * echo_blocking.h. */
#include "echo_blocking.h"

#include "echo.h"

#include <errno.h>
#include <sys/socket.h>
#include <time.h>

/* Give the kernel all of buf, however many calls it takes. Returns 0, or -1
 * when the client is gone or a stop was requested. */
static int send_all(int fd, const char *buf, size_t len) {
  while (len > 0 && !echo_stopping) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue; /* the loop condition tells a stop from a stray signal */
    if (n < 0)
      return -1; /* EPIPE, ECONNRESET, ...: the client left */
    buf += n;    /* partial send: the rest goes in the next call */
    len -= (size_t)n;
  }
  return echo_stopping ? -1 : 0;
}

int echo_serve_blocking(int fd, int upper) {
  char buf[16384];
  while (!echo_stopping) {
    ssize_t n = recv(fd, buf, sizeof buf, 0); /* phases 1 and 2 */
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0)
      return 0; /* the client shut down its side: all is echoed */
    if (n < 0)
      return -1; /* reset or error */
    echo_transform(buf, (size_t)n, upper);
    if (send_all(fd, buf, (size_t)n) < 0)
      return -1;
  }
  return -1;
}

int echo_accept_failed(int err) {
  struct timespec nap = {0, 100 * 1000 * 1000};
  switch (err) {
  case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
    /* Out of descriptors or memory. The connection stays in the backlog,
     * so retrying now fails again at once; give a client time to leave. */
    nanosleep(&nap, NULL);
    return 0;
  case EBADF: case EINVAL: case ENOTSOCK: case EFAULT:
    return -1;
  default:
    /* EINTR, ECONNABORTED (the client left before we took it), and the
     * network errors of the new connection that Linux reports from accept
     * (EPROTO, ENETDOWN, EHOSTUNREACH, ...): accept(2) says retry. */
    return 0;
  }
}
