/* reactor: the echo server on the library's production path.
 *
 * What it shows: the Reactor pattern as a C server would ship it. The loop
 * waits for readiness on every socket at once (epoll by default, or
 * IOM_BACKEND=poll|select) and calls back; streams read into the loop's
 * shared buffer, send at once, and queue only what the kernel refuses. A
 * client that sends and never reads fills its queue to the high-water mark;
 * the stream then pauses reading from it, so its memory stays bounded while
 * the others are served. SIGINT and SIGTERM are loop callbacks, not handlers.
 * With --threads N, N loops on N threads each accept on their own socket,
 * bound to the same port with SO_REUSEPORT: the kernel spreads connections.
 *
 * Try it:  iomux-echo --model reactor --port 7000 &  nc 127.0.0.1 7000
 */
#include "echo.h"

#include "iomux/error.h"
#include "iomux/loop.h"
#include "iomux/stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct reactor {
  const echo_opts *opts;
  iom_loop *loop;
  iom_listener *listener;
  iom_signal *sigint, *sigterm;
  int listen_fd; /* < 0: open one on the same port with SO_REUSEPORT */
  int port;
  int conns;
  int status;
  pthread_t thread;
} reactor;

static void on_read(iom_stream *s, const char *buf, size_t len, void *data) {
  reactor *r = data;
  if (!r->opts->upper) {
    iom_stream_write(s, buf, len);
    return;
  }
  char upper[4096];
  for (size_t done = 0; done < len;) {
    size_t n = len - done < sizeof upper ? len - done : sizeof upper;
    for (size_t i = 0; i < n; i++)
      upper[i] = buf[done + i];
    echo_transform(upper, n, 1);
    iom_stream_write(s, upper, n);
    done += n;
  }
}

/* The client reads slower than it sends: stop reading it until it catches
 * up, instead of queueing without end. */
static void on_pause(iom_stream *s, void *data) {
  (void)data;
  iom_stream_read_stop(s);
}

static void on_resume(iom_stream *s, void *data) {
  (void)data;
  iom_stream_read_start(s);
}

static void on_close(iom_stream *s, int err, void *data) {
  (void)s;
  (void)err; /* a reset or a broken pipe is just how this client left */
  ((reactor *)data)->conns--;
}

static const iom_stream_cbs echo_cbs = {
    .on_read = on_read,
    .on_pause_writing = on_pause,
    .on_resume_writing = on_resume,
    .on_close = on_close,
};

static void on_accept(iom_listener *l, int fd, void *data) {
  (void)l;
  reactor *r = data;
  if (fd < 0) {
    fprintf(stderr, "iomux-echo: accept paused: %s\n", iom_strerror(fd));
    return;
  }
  if (r->conns >= r->opts->max_conns) {
    close(fd);
    return;
  }
  iom_stream *s;
  if (iom_stream_new(r->loop, fd, &echo_cbs, r, &s) == 0)
    r->conns++;
}

static void on_stop(iom_signal *sig, int signo, void *data) {
  (void)sig;
  (void)signo;
  iom_loop_stop(((reactor *)data)->loop);
}

static int setup(reactor *r) {
  int err = iom_loop_new(IOM_DEFAULT, &r->loop);
  if (err < 0)
    return echo_fail("loop", err);
  if (r->listen_fd >= 0)
    err = iom_listener_adopt(r->loop, r->listen_fd, NULL, on_accept, r,
                             &r->listener);
  else
    err = iom_listener_new(r->loop, r->opts->host, r->port,
                           &(iom_listen_opts){.reuseport = 1}, on_accept, r,
                           &r->listener);
  if (err < 0)
    return echo_fail("listen", err);
  if ((err = iom_signal_new(r->loop, on_stop, r, &r->sigint)) < 0 ||
      (err = iom_signal_new(r->loop, on_stop, r, &r->sigterm)) < 0 ||
      (err = iom_signal_start(r->sigint, SIGINT)) < 0 ||
      (err = iom_signal_start(r->sigterm, SIGTERM)) < 0)
    return echo_fail("signals", err);
  if (echo_stopping) /* a stop came before the watchers were in place */
    iom_loop_stop(r->loop);
  return 0;
}

static void *serve(void *arg) {
  reactor *r = arg;
  r->status = setup(r);
  if (r->status == 0) {
    int err = iom_loop_run(r->loop, IOM_RUN_DEFAULT);
    if (err < 0)
      r->status = echo_fail("loop", err);
  }
  return NULL;
}

static int run(const echo_opts *opts, int listen_fd) {
  int n = opts->threads > 0 ? opts->threads : 1;
  reactor *loops = calloc((size_t)n, sizeof *loops);
  if (!loops)
    return echo_fail("start", -ENOMEM);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  getsockname(listen_fd, (struct sockaddr *)&ss, &len);
  int port = ntohs(((struct sockaddr_in *)&ss)->sin_port); /* same for v6 */
  for (int i = 0; i < n; i++)
    loops[i] = (reactor){.opts = opts, .listen_fd = i ? -1 : listen_fd,
                         .port = port};
  /* Every loop watches SIGINT and SIGTERM: whichever thread the kernel
   * picks for the handler, it wakes all of them. */
  for (int i = 1; i < n; i++)
    pthread_create(&loops[i].thread, NULL, serve, &loops[i]);
  serve(&loops[0]);
  int status = loops[0].status;
  for (int i = 1; i < n; i++) {
    pthread_join(loops[i].thread, NULL);
    status |= loops[i].status;
  }
  free(loops);
  return status;
}

static const echo_model model = {
    .name = "reactor",
    .rank = 100,
    .run = run,
    .waits = "the iomux loop (epoll by default) for all sockets, callbacks",
    .copies = "blocked in recv/send inside the callbacks; queued on EAGAIN",
    .reuseport = 1,
};
ECHO_REGISTER(model)
