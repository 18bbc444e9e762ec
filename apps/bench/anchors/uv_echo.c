/* uv_echo: a TCP echo server on libuv, the way libuv's own guide writes it.
 *
 * A yardstick for iomux-bench: uv_read_start with an allocation callback
 * that hands out a buffer of the suggested size (64 KiB, the size iomux's
 * streams read with), and for every read a uv_write with its own request
 * that carries the buffer and frees both when the write completes (libuv
 * tries the write at once and queues only what the kernel refuses). One
 * addition to the guide's example, the water marks of the iomux reactor
 * model: a client whose queued output passes 64 KiB is not read from until
 * the queue is down to 16 KiB, so a client that never reads cannot grow
 * memory without bound.
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

#define HIGH_WATER (64 * 1024)
#define LOW_WATER (16 * 1024)

typedef struct write_req {
  uv_write_t req;
  uv_buf_t buf;
} write_req;

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigint_watcher, sigterm_watcher;

static void alloc_buffer(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)handle;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

static void on_close(uv_handle_t *handle) { free(handle); }

static void echo_read(uv_stream_t *client, ssize_t nread, const uv_buf_t *buf);

static void echo_write(uv_write_t *req, int status) {
  write_req *wr = (write_req *)req;
  uv_stream_t *client = req->handle;
  free(wr->buf.base);
  free(wr);
  if (status == 0 && client->data && client->write_queue_size <= LOW_WATER &&
      !uv_is_closing((uv_handle_t *)client)) {
    client->data = NULL; /* drained: read again */
    uv_read_start(client, alloc_buffer, echo_read);
  }
}

static void echo_read(uv_stream_t *client, ssize_t nread, const uv_buf_t *buf) {
  if (nread > 0) {
    write_req *wr = malloc(sizeof *wr);
    if (!wr) {
      free(buf->base);
      uv_close((uv_handle_t *)client, on_close);
      return;
    }
    wr->buf = uv_buf_init(buf->base, (unsigned)nread);
    uv_write(&wr->req, client, &wr->buf, 1, echo_write);
    if (client->write_queue_size > HIGH_WATER) {
      client->data = client; /* paused */
      uv_read_stop(client);
    }
    return;
  }
  if (nread < 0 && !uv_is_closing((uv_handle_t *)client))
    uv_close((uv_handle_t *)client, on_close); /* EOF or error */
  free(buf->base);
}

static void on_new_connection(uv_stream_t *srv, int status) {
  if (status < 0)
    return;
  uv_tcp_t *client = malloc(sizeof *client);
  if (!client)
    return;
  uv_tcp_init(loop, client);
  client->data = NULL;
  if (uv_accept(srv, (uv_stream_t *)client) == 0)
    uv_read_start((uv_stream_t *)client, alloc_buffer, echo_read);
  else
    uv_close((uv_handle_t *)client, on_close);
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
