/* proactor_echo: an echo server on the proactor (include/iomux/proactor.h):
 * io_uring on Linux, emulated on the loop where io_uring is missing or
 * refused (or with IOM_PROACTOR=emulated in the environment).
 *
 * Instead of "this socket is readable, now read it", the kernel is handed
 * whole jobs and says when each is done. One multishot accept yields every
 * client. Each client has one operation, reused from its own callback:
 * receive into the client's buffer, send back what came, receive again,
 * and at EOF or an error close; the callback returns IOM_REARM to submit
 * the operation it has just prepared.
 *
 *   cc -o proactor_echo proactor_echo.c $(pkg-config --cflags --libs iomux)
 *   ./proactor_echo 7000 &  nc 127.0.0.1 7000
 */
#include <iomux/error.h>
#include <iomux/loop.h>
#include <iomux/proactor.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct client {
  iom_op op; /* one in flight at a time: recv, send or close */
  char buf[16384];
};

static iom_proactor *pro;

static int on_closed(iom_op *op, int res) {
  (void)res;
  free(op->data); /* the op is ours again once its final callback runs */
  return IOM_DONE;
}

static int on_io(iom_op *op, int res) {
  struct client *c = op->data;
  int fd = op->fd;
  if (res <= 0) /* EOF, or an error: a reset, a broken pipe */
    iom_prep_close(op, fd, on_closed, c);
  else if (op->kind == IOM_OP_RECV) /* res bytes came: send them back */
    iom_prep_send(op, fd, c->buf, (size_t)res, on_io, c);
  else /* all sent: receive again */
    iom_prep_recv(op, fd, c->buf, sizeof c->buf, on_io, c);
  return IOM_REARM;
}

static int on_accept(iom_op *op, int res) {
  if (res >= 0) {
    struct client *c = malloc(sizeof *c);
    if (c)
      iom_prep_recv(&c->op, res, c->buf, sizeof c->buf, on_io, c);
    if (!c || iom_proactor_submit(pro, &c->op) < 0) {
      free(c);
      close(res);
    }
  }
  if (op->more)
    return IOM_REARM; /* still armed: the next client comes by itself */
  fprintf(stderr, "accept: %s\n", iom_strerror(res)); /* EMFILE, ... */
  return IOM_DONE;
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
  static iom_op accept_op;
  int port = argc > 1 ? atoi(argv[1]) : 7000;
  int lfd = listen_on(&port);
  iom_loop *loop;
  int err;
  if ((err = iom_loop_new(IOM_DEFAULT, &loop)) < 0 ||
      (err = iom_proactor_new(loop, IOM_PROACTOR_DEFAULT, &pro)) < 0) {
    fprintf(stderr, "proactor: %s\n", iom_strerror(err));
    return 1;
  }
  iom_prep_accept(&accept_op, lfd, IOM_MULTISHOT, on_accept, NULL);
  if ((err = iom_proactor_submit(pro, &accept_op)) < 0) {
    fprintf(stderr, "accept: %s\n", iom_strerror(err));
    return 1;
  }
  printf("listening on 127.0.0.1:%d (%s)\n", port, iom_proactor_backend(pro));
  fflush(stdout);
  err = iom_loop_run(loop, IOM_RUN_DEFAULT); /* until accepting fails */
  if (err < 0)
    fprintf(stderr, "loop: %s\n", iom_strerror(err));
  return 1;
}
