/* Non-blocking connect with a timeout.
 *
 * connect() on a non-blocking socket returns EINPROGRESS; the socket turns
 * writable when the handshake is over, and SO_ERROR then says how it went.
 * A refusal found at once still reaches the app through on_close on a later
 * turn, like every other way a connection can fail.
 */
#include "stream_impl.h"

#include "../core/alloc_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void iom__stream_connected(iom_stream *s) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    err = errno;
  if (err) {
    iom__stream_fail(s, -err);
    return;
  }
  s->connecting = 0;
  iom_timer_free(s->connect_timer);
  s->connect_timer = NULL;
  s->reading = !s->closing && s->cbs->on_read;
  iom__stream_update(s);
  if (s->cbs->on_connect && !s->over)
    s->cbs->on_connect(s, s->data);
}

int iom_stream_connect_addr(iom_loop *loop, const struct sockaddr *addr,
                            socklen_t addrlen, int timeout_ms,
                            const iom_stream_cbs *cbs, void *data,
                            iom_stream **out) {
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  0);
  if (fd < 0)
    return -errno;
  iom_stream *s;
  int err = iom__stream_make(loop, fd, cbs, data, 1, timeout_ms, &s);
  if (err < 0) {
    close(fd);
    return err;
  }
  if (connect(fd, addr, addrlen) < 0 && errno != EINPROGRESS)
    iom__stream_fail(s, -errno);
  *out = s;
  return 0;
}

int iom_stream_connect(iom_loop *loop, const char *host, int port,
                       int timeout_ms, const iom_stream_cbs *cbs, void *data,
                       iom_stream **out) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  socklen_t len;
  if (!host || port < 1 || port > 65535)
    return -EINVAL;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    len = sizeof *in4;
  } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    len = sizeof *in6;
  } else {
    return -EINVAL;
  }
  return iom_stream_connect_addr(loop, (struct sockaddr *)&ss, len, timeout_ms,
                                 cbs, data, out);
}
