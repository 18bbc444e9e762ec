/* selector_echo: an echo server on the selector (include/iomux/selector.h),
 * Python's `selectors` in C.
 *
 * Each registration carries a `struct handler` as its data: the function
 * to call when its fd is ready. The listening socket's handler accepts; a
 * client's handler, the first member of its `struct client`, echoes. A
 * client whose echo the kernel does not take at once is watched for
 * IOM_WRITE only, so it is not read again until the rest is sent.
 *
 *   cc -o selector_echo selector_echo.c $(pkg-config --cflags --libs iomux)
 *   ./selector_echo 7000 &  nc 127.0.0.1 7000
 */
#include <iomux/error.h>
#include <iomux/selector.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct handler {
  void (*on_ready)(struct handler *h, int fd, unsigned events);
};

struct client {
  struct handler h; /* first: the registration's data points here */
  char buf[16384];
  size_t len, sent; /* buf[sent..len) is still to echo */
};

static iom_selector *sel;

static void client_close(struct client *c, int fd) {
  iom_selector_unregister(sel, fd);
  close(fd);
  free(c);
}

static void on_client(struct handler *h, int fd, unsigned events) {
  struct client *c = (struct client *)h;
  (void)events;
  if (c->sent == c->len) { /* all echoed: read more */
    ssize_t n = recv(fd, c->buf, sizeof c->buf, 0);
    if (n <= 0) {
      if (n == 0 || errno != EAGAIN)
        client_close(c, fd); /* EOF or error */
      return;
    }
    c->len = (size_t)n;
    c->sent = 0;
  }
  ssize_t n = send(fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);
  if (n < 0 && errno != EAGAIN) {
    client_close(c, fd);
    return;
  }
  if (n > 0)
    c->sent += (size_t)n;
  /* Wait to write the rest, or to read again. */
  iom_selector_modify(sel, fd, c->sent < c->len ? IOM_WRITE : IOM_READ, h);
}

static void on_accept(struct handler *h, int fd, unsigned events) {
  (void)h;
  (void)events;
  int cfd = accept(fd, NULL, NULL);
  if (cfd < 0)
    return; /* EAGAIN, or a client that left before we took it */
  struct client *c = calloc(1, sizeof *c);
  if (!c || fcntl(cfd, F_SETFL, O_NONBLOCK) < 0 ||
      iom_selector_register(sel, cfd, IOM_READ, &c->h) < 0) {
    free(c);
    close(cfd);
    return;
  }
  c->h.on_ready = on_client;
}

/* A non-blocking listening socket on 127.0.0.1:*port (0: any free port);
 * sets *port to the port it got. */
static int listen_on(int *port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(*port)};
  socklen_t len = sizeof a;
  int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, SOMAXCONN) ||
      fcntl(fd, F_SETFL, O_NONBLOCK) ||
      getsockname(fd, (struct sockaddr *)&a, &len)) {
    perror("listen");
    exit(1);
  }
  *port = ntohs(a.sin_port);
  return fd;
}

int main(int argc, char **argv) {
  static struct handler acceptor = {on_accept};
  int port = argc > 1 ? atoi(argv[1]) : 7000;
  int lfd = listen_on(&port);
  int err = iom_selector_new(IOM_DEFAULT, &sel);
  if (err < 0 ||
      (err = iom_selector_register(sel, lfd, IOM_READ, &acceptor)) < 0) {
    fprintf(stderr, "selector: %s\n", iom_strerror(err));
    return 1;
  }
  printf("listening on 127.0.0.1:%d (%s)\n", port, iom_selector_name(sel));
  fflush(stdout);
  for (;;) {
    iom_ready ready[64];
    int n = iom_selector_select(sel, -1, ready, 64); /* -1: no timeout */
    if (n < 0) {
      fprintf(stderr, "select: %s\n", iom_strerror(n));
      return 1;
    }
    for (int i = 0; i < n; i++) {
      struct handler *h = ready[i].key->data; /* what was registered */
      h->on_ready(h, ready[i].key->fd, ready[i].events);
    }
  }
}
