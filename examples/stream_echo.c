/* stream_echo: an echo server on the loop and streams (include/iomux/loop.h,
 * include/iomux/stream.h), the library's production path.
 *
 * The listener accepts; each client becomes a stream whose on_read writes
 * the bytes back. What the kernel does not take is queued by the stream;
 * a client that sends and never reads fills its queue to the high-water
 * mark, and on_pause stops reading it until the queue drains. SIGINT and
 * SIGTERM stop the loop: signal watchers are loop callbacks, not handlers.
 *
 *   cc -o stream_echo stream_echo.c $(pkg-config --cflags --libs iomux)
 *   ./stream_echo 7000 &  nc 127.0.0.1 7000
 */
#include <iomux/error.h>
#include <iomux/loop.h>
#include <iomux/stream.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static void on_read(iom_stream *s, const char *buf, size_t len, void *data) {
  (void)data;
  iom_stream_write(s, buf, len); /* an error ends the stream: on_close */
}

static void on_pause(iom_stream *s, void *data) {
  (void)data;
  iom_stream_read_stop(s);
}

static void on_resume(iom_stream *s, void *data) {
  (void)data;
  iom_stream_read_start(s);
}

/* on_eof is NULL: at the client's EOF the stream flushes, then closes. */
static const iom_stream_cbs echo_cbs = {
    .on_read = on_read,
    .on_pause_writing = on_pause,
    .on_resume_writing = on_resume,
};

static void on_accept(iom_listener *l, int fd, void *data) {
  iom_stream *s;
  (void)l;
  if (fd < 0) /* out of fds: the listener retries by itself */
    fprintf(stderr, "accept paused: %s\n", iom_strerror(fd));
  else
    iom_stream_new(data, fd, &echo_cbs, NULL, &s); /* data: the loop */
}

static void on_stop(iom_signal *sig, int signo, void *data) {
  (void)sig;
  (void)signo;
  iom_loop_stop(data);
}

int main(int argc, char **argv) {
  iom_loop *loop;
  iom_listener *l;
  iom_signal *sigint, *sigterm;
  int port = argc > 1 ? atoi(argv[1]) : 7000;
  int err;
  if ((err = iom_loop_new(IOM_DEFAULT, &loop)) < 0 ||
      (err = iom_listener_new(loop, "127.0.0.1", port, NULL, on_accept, loop,
                              &l)) < 0 ||
      (err = iom_signal_new(loop, on_stop, loop, &sigint)) < 0 ||
      (err = iom_signal_new(loop, on_stop, loop, &sigterm)) < 0 ||
      (err = iom_signal_start(sigint, SIGINT)) < 0 ||
      (err = iom_signal_start(sigterm, SIGTERM)) < 0) {
    fprintf(stderr, "stream_echo: %s\n", iom_strerror(err));
    return 1;
  }
  printf("listening on 127.0.0.1:%d (%s)\n", iom_listener_port(l),
         iom_loop_backend_name(loop));
  fflush(stdout);
  err = iom_loop_run(loop, IOM_RUN_DEFAULT); /* until SIGINT or SIGTERM */
  /* Stop accepting, and serve the clients still connected until they
   * leave. A second signal ends the process: with its watchers freed, the
   * signal has its default action again. */
  iom_listener_free(l);
  iom_signal_free(sigint);
  iom_signal_free(sigterm);
  if (err >= 0)
    err = iom_loop_run(loop, IOM_RUN_DEFAULT);
  if (err < 0)
    fprintf(stderr, "loop: %s\n", iom_strerror(err));
  iom_loop_free(loop);
  return err < 0;
}
