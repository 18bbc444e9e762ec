/* ev_echo: a TCP echo server on libev, the way libev users write one.
 *
 * A yardstick for iomux-bench. libev gives readiness and nothing more, so
 * the server does its own I/O: each client has a read watcher and a write
 * watcher on its non-blocking socket. A read (into one shared 64 KiB
 * buffer, the size iomux's streams read with) is written back at once;
 * what the kernel does not take goes into the client's pending-output
 * buffer, and the write watcher runs only while that buffer holds
 * something. The water marks are the iomux reactor model's: above 64 KiB
 * pending the client is not read from until it is down to 16 KiB.
 *
 * usage: ev_echo --port P   (0: pick a port and print it on one line)
 * Listens on 127.0.0.1; SIGINT or SIGTERM ends it with status 0.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (64 * 1024)
#define HIGH_WATER (64 * 1024)
#define LOW_WATER (16 * 1024)
#define ACCEPT_BATCH 64

typedef struct client {
  ev_io rio, wio; /* rio first: a watcher pointer is the client pointer */
  char *out;      /* pending output: out[off, len) */
  size_t off, len, cap;
} client;

static char buf[READ_SIZE];

static void client_free(struct ev_loop *loop, client *c) {
  ev_io_stop(loop, &c->rio);
  ev_io_stop(loop, &c->wio);
  close(c->rio.fd);
  free(c->out);
  free(c);
}

static int queue_output(client *c, const char *data, size_t n) {
  if (c->off > 0 && c->len + n > c->cap) { /* slide what is left down */
    memmove(c->out, c->out + c->off, c->len - c->off);
    c->len -= c->off;
    c->off = 0;
  }
  if (c->len + n > c->cap) {
    size_t cap = c->cap ? c->cap : 4096;
    while (cap < c->len + n)
      cap *= 2;
    char *out = realloc(c->out, cap);
    if (!out)
      return -1;
    c->out = out;
    c->cap = cap;
  }
  memcpy(c->out + c->len, data, n);
  c->len += n;
  return 0;
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  client *c = (client *)((char *)w - offsetof(client, wio));
  ssize_t n = send(w->fd, c->out + c->off, c->len - c->off, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      client_free(loop, c);
    return;
  }
  c->off += (size_t)n;
  if (c->off == c->len)
    ev_io_stop(loop, w);
  if (c->len - c->off <= LOW_WATER && !ev_is_active(&c->rio))
    ev_io_start(loop, &c->rio);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  client *c = (client *)w;
  ssize_t n = recv(w->fd, buf, sizeof buf, 0);
  if (n <= 0) {
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      client_free(loop, c);
    return;
  }
  ssize_t sent = 0;
  if (c->off == c->len) { /* nothing pending: try at once */
    c->off = c->len = 0;
    sent = send(w->fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      client_free(loop, c);
      return;
    }
    if (sent == n)
      return;
    if (sent < 0)
      sent = 0;
  }
  if (queue_output(c, buf + sent, (size_t)(n - sent)) < 0) {
    client_free(loop, c);
    return;
  }
  ev_io_start(loop, &c->wio);
  if (c->len - c->off > HIGH_WATER)
    ev_io_stop(loop, &c->rio);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return; /* EAGAIN, or out of fds: try again on the next event */
    client *c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      continue;
    }
    ev_io_init(&c->rio, on_read, fd, EV_READ);
    ev_io_init(&c->wio, on_write, fd, EV_WRITE);
    ev_io_start(loop, &c->rio);
  }
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) {
  (void)w;
  (void)revents;
  ev_break(loop, EVBREAK_ALL);
}

static int parse_port(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--port") == 0) {
    char *end;
    long port = strtol(argv[2], &end, 10);
    if (*argv[2] && !*end && port >= 0 && port <= 65535)
      return (int)port;
  }
  fprintf(stderr, "usage: %s --port P   (0: pick one and print it)\n",
          argv[0]);
  return -1;
}

/* A non-blocking listening socket on 127.0.0.1:port. */
static int listen_on(int port) {
  struct sockaddr_in addr = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(fd, (struct sockaddr *)&addr, sizeof addr) ||
      listen(fd, SOMAXCONN) || fcntl(fd, F_SETFL, O_NONBLOCK)) {
    perror("ev_echo: listen");
    return -1;
  }
  socklen_t len = sizeof addr;
  if (port == 0 && getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);
  }
  return fd;
}

int main(int argc, char **argv) {
  int port = parse_port(argc, argv);
  if (port < 0)
    return 2;
  int fd = listen_on(port);
  if (fd < 0)
    return 1;
  struct ev_loop *loop = EV_DEFAULT;
  ev_io accept_watcher;
  ev_signal sigint_watcher, sigterm_watcher;
  ev_io_init(&accept_watcher, on_accept, fd, EV_READ);
  ev_io_start(loop, &accept_watcher);
  ev_signal_init(&sigint_watcher, on_signal, SIGINT);
  ev_signal_init(&sigterm_watcher, on_signal, SIGTERM);
  ev_signal_start(loop, &sigint_watcher);
  ev_signal_start(loop, &sigterm_watcher);
  ev_run(loop, 0);
  return 0;
}
