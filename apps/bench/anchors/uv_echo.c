/* uv_echo: a TCP echo server on libuv, the way its best users write one.
 *
 * A yardstick for iomux-bench. The allocation callback hands every read the
 * same 64 KiB buffer (the size iomux's streams read with), which is safe
 * because a read's bytes are either written or copied before the callback
 * returns. The echo goes out with uv_try_write first, as Node.js's stream
 * layer does: only what the kernel refuses is copied into a write request
 * and given to uv_write, so the usual round costs a read and a write and
 * no allocation or interest change. The water marks are the iomux reactor
 * model's: a client whose queued output passes 64 KiB is not read from
 * until the queue is down to 16 KiB, so a client that never reads cannot
 * grow memory without bound.
 *
 * usage: uv_echo --port P   (0: pick a port and print it on one line)
 * Listens on 127.0.0.1; SIGINT or SIGTERM ends it with status 0.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define READ_SIZE (64 * 1024)
#define HIGH_WATER (64 * 1024)
#define LOW_WATER (16 * 1024)

typedef struct client {
  uv_tcp_t tcp; /* first: a handle pointer is the client pointer */
  int paused;   /* reading stopped until the queue drains */
} client;

/* What the kernel did not take at once, and the request that writes it. */
typedef struct pending {
  uv_write_t req;
  char data[];
} pending;

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigint_watcher, sigterm_watcher;
static char read_buf[READ_SIZE];

static void alloc_buffer(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)handle;
  (void)suggested;
  *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_close(uv_handle_t *handle) { free(handle); }

static void close_client(client *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void echo_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void echo_written(uv_write_t *req, int status) {
  client *c = (client *)req->handle;
  free(req);
  if (status < 0) { /* the peer is gone, or the handle is closing */
    close_client(c);
    return;
  }
  if (c->paused && c->tcp.write_queue_size <= LOW_WATER) {
    c->paused = 0;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_buffer, echo_read);
  }
}

/* Queue what uv_try_write left; it must be copied, since read_buf is reused
 * by the next read. */
static int queue_rest(client *c, const char *data, size_t len) {
  pending *p = malloc(sizeof *p + len);
  if (!p)
    return UV_ENOMEM;
  memcpy(p->data, data, len);
  uv_buf_t b = uv_buf_init(p->data, (unsigned)len);
  int err = uv_write(&p->req, (uv_stream_t *)&c->tcp, &b, 1, echo_written);
  if (err < 0)
    free(p);
  return err;
}

static void echo_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  client *c = (client *)stream;
  if (nread <= 0) { /* 0: nothing after all; < 0: EOF or error */
    if (nread < 0)
      close_client(c);
    return;
  }
  /* uv_try_write refuses (UV_EAGAIN) while earlier output is queued, so
   * the bytes stay in order. */
  uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
  int sent = uv_try_write(stream, &out, 1);
  if (sent == UV_EAGAIN)
    sent = 0;
  if (sent < 0 ||
      (sent < nread && queue_rest(c, buf->base + sent, (size_t)(nread - sent)))) {
    close_client(c);
    return;
  }
  if (stream->write_queue_size > HIGH_WATER) {
    c->paused = 1;
    uv_read_stop(stream);
  }
}

static void on_new_connection(uv_stream_t *srv, int status) {
  if (status < 0)
    return;
  client *c = malloc(sizeof *c);
  if (!c)
    return;
  uv_tcp_init(loop, &c->tcp);
  c->paused = 0;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) == 0)
    uv_read_start((uv_stream_t *)&c->tcp, alloc_buffer, echo_read);
  else
    close_client(c);
}

static void on_signal(uv_signal_t *handle, int signum) {
  (void)handle;
  (void)signum;
  uv_stop(loop);
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

static int print_port(void) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len) != 0)
    return -1;
  printf("%d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
  return fflush(stdout);
}

int main(int argc, char **argv) {
  int port = parse_port(argc, argv), err;
  if (port < 0)
    return 2;
  signal(SIGPIPE, SIG_IGN); /* libuv leaves SIGPIPE alone; servers do this */
  loop = uv_default_loop();
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_init(loop, &server);
  /* uv_tcp_bind sets SO_REUSEADDR. */
  if ((err = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0)) ||
      (err = uv_listen((uv_stream_t *)&server, SOMAXCONN,
                       on_new_connection))) {
    fprintf(stderr, "uv_echo: listen: %s\n", uv_strerror(err));
    return 1;
  }
  if (port == 0 && print_port() != 0)
    return 1;
  uv_signal_init(loop, &sigint_watcher);
  uv_signal_init(loop, &sigterm_watcher);
  uv_signal_start(&sigint_watcher, on_signal, SIGINT);
  uv_signal_start(&sigterm_watcher, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
