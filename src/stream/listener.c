/* Listeners: bind, listen, and an accept loop that is fair and survives
 * running out of file descriptors.
 *
 * Each wake-up accepts until EAGAIN or accept_batch connections, so a flood
 * of connects cannot starve the streams already open. Errors that belong to
 * one half-made connection (ECONNABORTED, EPROTO, EPERM from a firewall)
 * are skipped. When the process or system is out of fds or memory (EMFILE,
 * ENFILE, ENOBUFS, ENOMEM), the pending connection cannot be taken, the
 * socket stays readable, and a level-triggered loop would spin: instead the
 * listener stops watching, tells the app once, and retries on a timer that
 * backs off from 10 ms to 1 s, resetting after the next success.
 *
 * Lifecycle, the streams' own: iom_listener_free closes the socket at once
 * (the port is free again when it returns) and marks the listener `over`;
 * its memory goes in a deferred `finish` on the loop's next turn, so an
 * accept loop that called the app back never touches freed memory.
 */
#define _GNU_SOURCE /* accept4 */
#include "stream_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 1000
#define DEFAULT_BATCH 64

struct iom_listener {
  iom_loop *loop;
  iom_io *io;
  int fd;
  iom_timer *retry;
  iom__defer finish; /* frees the listener on a later turn */
  iom__walk_node walk; /* in the loop's walk until freed by the app */
  iom_accept_cb cb;
  void *data;
  int port;
  int batch;
  int backoff_ms;
  int over; /* freed by the app: nothing more happens */
};

static void finish(void *arg) {
  iom_listener *l = arg;
  iom__loop_handle_del(l->loop);
  iom__free(l);
}

/* Hand `fd` (or an error) to the app. Returns 0 if the listener survived. */
static int deliver(iom_listener *l, int fd) {
  l->cb(l, fd, l->data);
  return l->over ? -1 : 0;
}

static int pause_accepting(iom_listener *l, int err) {
  iom_io_stop(l->io);
  iom_timer_start(l->retry, (uint64_t)l->backoff_ms, 0);
  l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                     : l->backoff_ms * 2;
  return deliver(l, err);
}

static void on_retry(iom_timer *t, void *data) {
  (void)t;
  iom_listener *l = data;
  if (iom_io_start(l->io, IOM_READ) < 0)
    iom_timer_start(l->retry, (uint64_t)l->backoff_ms, 0);
}

static void on_acceptable(iom_io *io, unsigned events, void *data) {
  (void)io;
  (void)events;
  iom_listener *l = data;
  for (int i = 0; i < l->batch; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      l->backoff_ms = BACKOFF_MIN_MS;
      if (deliver(l, fd) < 0 || !iom_io_events(l->io))
        return;
      continue;
    }
    switch (errno) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
      return;
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
      continue;
    default: /* EMFILE, ENFILE, ENOBUFS, ENOMEM and the unexpected */
      pause_accepting(l, -errno);
      return;
    }
  }
}

static int system_backlog(void) {
  int backlog = SOMAXCONN;
  FILE *f = fopen("/proc/sys/net/core/somaxconn", "re");
  if (f) {
    if (fscanf(f, "%d", &backlog) != 1 || backlog <= 0)
      backlog = SOMAXCONN;
    fclose(f);
  }
  return backlog;
}

static int gai_errno(int rc) {
  if (rc == EAI_SYSTEM)
    return -errno;
  return rc == EAI_MEMORY ? -ENOMEM : -EINVAL;
}

/* A bound, listening socket for host:port, or -errno. */
static int open_socket(const char *host, int port, const iom_listen_opts *o) {
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM},
                  *ai;
  if (!host)
    hints.ai_family = AF_INET;
  int rc = getaddrinfo(host, service, &hints, &ai);
  if (rc != 0)
    return gai_errno(rc);
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  ai->ai_protocol);
  int one = 1, err = 0;
  if (fd < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      (o->reuseport &&
       setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
      bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
      listen(fd, o->backlog > 0 ? o->backlog : system_backlog()) < 0)
    err = -errno;
  freeaddrinfo(ai);
  if (err && fd >= 0)
    close(fd);
  return err ? err : fd;
}

/* The port a bound socket listens on; -errno if it is not one. */
static int bound_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
    return -errno;
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  if (ss.ss_family == AF_INET)
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return 0;
}

static int make_listener(iom_loop *loop, int fd, const iom_listen_opts *o,
                         iom_accept_cb cb, void *data, iom_listener **out) {
  int port = bound_port(fd);
  if (port < 0)
    return port;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return -errno;
  iom_listener *l = iom__calloc(1, sizeof *l);
  if (!l)
    return -ENOMEM;
  int err = iom_timer_new(loop, on_retry, l, &l->retry);
  if (err < 0)
    goto free_listener;
  if ((err = iom_io_new(loop, fd, on_acceptable, l, &l->io)) < 0)
    goto free_timer;
  if ((err = iom_io_start(l->io, IOM_READ)) < 0)
    goto free_io;
  l->loop = loop;
  l->fd = fd;
  iom__defer_init(&l->finish, finish, l);
  l->cb = cb;
  l->data = data;
  l->port = port;
  l->batch = o && o->accept_batch > 0 ? o->accept_batch : DEFAULT_BATCH;
  l->backoff_ms = BACKOFF_MIN_MS;
  iom__loop_handle_add(loop);
  iom__loop_walk_add(loop, &l->walk, IOM_HANDLE_LISTENER, l);
  iom__io_hide(l->io); /* the listener's own: the walk shows the listener */
  iom__timer_hide(l->retry);
  *out = l;
  return 0;

free_io:
  iom_io_free(l->io);
free_timer:
  iom_timer_free(l->retry);
free_listener:
  iom__free(l);
  return err;
}

int iom_listener_new(iom_loop *loop, const char *host, int port,
                     const iom_listen_opts *opts, iom_accept_cb cb, void *data,
                     iom_listener **out) {
  static const iom_listen_opts defaults;
  if (port < 0 || port > 65535 || !cb)
    return -EINVAL;
  int fd = open_socket(host, port, opts ? opts : &defaults);
  if (fd < 0)
    return fd;
  int err = make_listener(loop, fd, opts, cb, data, out);
  if (err < 0)
    close(fd);
  return err;
}

int iom_listener_adopt(iom_loop *loop, int fd, const iom_listen_opts *opts,
                       iom_accept_cb cb, void *data, iom_listener **out) {
  if (fd < 0)
    return -EBADF;
  if (!cb)
    return -EINVAL;
  return make_listener(loop, fd, opts, cb, data, out);
}

int iom_listener_port(const iom_listener *l) { return l->port; }

int iom_listener_fd(const iom_listener *l) { return l->fd; }

void iom_listener_free(iom_listener *l) {
  if (!l || l->over)
    return;
  l->over = 1;
  iom__loop_walk_remove(&l->walk);
  iom_io_free(l->io);
  iom_timer_free(l->retry);
  close(l->fd);
  iom__defer_schedule(l->loop, &l->finish);
}
