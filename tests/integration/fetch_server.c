/* fetch_server: an HTTP/1.1 server on iomux streams that misbehaves on
 * request, for the client's and iomux-fetch's tests.
 *
 *   fetch_server [--port P]
 * prints "port P stuck S" on stdout (S: a port whose backlog is full, so a
 * connect to it hangs: for connect timeouts), then serves until stdin ends
 * or SIGTERM. Every request is answered by its path:
 *   /ok/N         N bytes, Content-Length        /chunked/N   N bytes chunked
 *   /eof/N        N bytes, ended by closing       /stats       "accepted A"
 *   /redirect/N   302 to /redirect/N-1 (N=0: 200 "done")
 *   /loop         302 to itself                   /rel          302 "ok/7"
 *   /abs          302 to an absolute URL          /scheme-rel   302 "//h:p/ok/3"
 *   /see-other    303 to /ok/2 (any method)       /nocontent    204
 *   /badstatus    "HTTX/1.1 200 OK"               /bighead      70 KiB of headers
 *   /fold         an obs-fold header              /short        100 promised, 50 sent, close
 *   /badchunk     chunk size "zz"                 /overflow     a 20-digit chunk size
 *   /silent       nothing, ever                   /stall        head + 10 of 100 bytes, then nothing
 *   /reset        head + half the body, then RST  /drop-after   200, then close the kept-alive connection
 * A TLS ClientHello gets a plain-text 400 and a close (a handshake that
 * fails).
 * Bodies are the bytes 'a' + i % 26. HEAD gets the head only.
 */
#define _GNU_SOURCE
#include "iomux/loop.h"
#include "iomux/stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX 8192

typedef struct conn {
  char buf[REQ_MAX];
  size_t len;
  int port;
} conn;

static iom_loop *loop;
static int accepted, my_port;

static void body(iom_stream *s, size_t from, size_t n) {
  char chunk[4096];
  while (n > 0) {
    size_t k = n < sizeof chunk ? n : sizeof chunk;
    for (size_t i = 0; i < k; i++)
      chunk[i] = (char)('a' + (from + i) % 26);
    iom_stream_write(s, chunk, k);
    from += k;
    n -= k;
  }
}

static void say(iom_stream *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(iom_stream *s, const char *fmt, ...) {
  char out[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, sizeof out, fmt, ap);
  va_end(ap);
  iom_stream_write(s, out, (size_t)n);
}

static void reset(iom_stream *s) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(iom_stream_fd(s), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  iom_stream_abort(s);
}

static void redirect(iom_stream *s, int code, const char *to) {
  say(s, "HTTP/1.1 %d Moved\r\nLocation: %s\r\nContent-Length: 5\r\n\r\nmoved",
      code, to);
}

/* Answer one request. Returns 0 to keep reading requests, 1 when the
 * connection is done with (closed, stalled). */
static int answer(iom_stream *s, const char *method, const char *path) {
  int head = !strcmp(method, "HEAD");
  long n = 0;
  const char *arg = strrchr(path, '/');
  if (arg)
    n = atol(arg + 1);
  if (!strncmp(path, "/ok/", 4)) {
    say(s, "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n\r\n", n);
    if (!head)
      body(s, 0, (size_t)n);
  } else if (!strncmp(path, "/chunked/", 9)) {
    say(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (long off = 0; !head && off < n; off += 1000) {
      long k = n - off < 1000 ? n - off : 1000;
      say(s, "%lx\r\n", k);
      body(s, (size_t)off, (size_t)k);
      say(s, "\r\n");
    }
    if (!head)
      say(s, "0\r\nX-Trailer: yes\r\n\r\n");
  } else if (!strncmp(path, "/eof/", 5)) {
    say(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    if (!head)
      body(s, 0, (size_t)n);
    iom_stream_close(s);
    return 1;
  } else if (!strcmp(path, "/stats")) {
    char b[64];
    int k = snprintf(b, sizeof b, "accepted %d\n", accepted);
    say(s, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", k, b);
  } else if (!strncmp(path, "/redirect/", 10)) {
    char to[64];
    snprintf(to, sizeof to, "/redirect/%ld", n - 1);
    if (n > 0)
      redirect(s, 302, to);
    else
      say(s, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
  } else if (!strcmp(path, "/loop")) {
    redirect(s, 302, "/loop");
  } else if (!strcmp(path, "/rel")) {
    redirect(s, 301, "ok/7");
  } else if (!strcmp(path, "/abs")) {
    char to[96];
    snprintf(to, sizeof to, "http://127.0.0.1:%d/ok/4", my_port);
    redirect(s, 307, to);
  } else if (!strcmp(path, "/scheme-rel")) {
    char to[96];
    snprintf(to, sizeof to, "//127.0.0.1:%d/ok/3", my_port);
    redirect(s, 308, to);
  } else if (!strcmp(path, "/see-other")) {
    redirect(s, 303, "/ok/2");
  } else if (!strcmp(path, "/nocontent")) {
    say(s, "HTTP/1.1 204 No Content\r\n\r\n");
  } else if (!strcmp(path, "/badstatus")) {
    say(s, "HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  } else if (!strcmp(path, "/bighead")) {
    say(s, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 70; i++) {
      char line[1030];
      memset(line, 'v', sizeof line);
      memcpy(line, "X-Big: ", 7);
      memcpy(line + sizeof line - 2, "\r\n", 2);
      iom_stream_write(s, line, sizeof line);
    }
    say(s, "Content-Length: 0\r\n\r\n");
  } else if (!strcmp(path, "/fold")) {
    say(s, "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n");
  } else if (!strcmp(path, "/short")) {
    say(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    body(s, 0, 50);
    iom_stream_close(s);
    return 1;
  } else if (!strcmp(path, "/badchunk")) {
    say(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  } else if (!strcmp(path, "/overflow")) {
    say(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           "ffffffffffffffffffff\r\n");
  } else if (!strcmp(path, "/silent")) {
    return 1;
  } else if (!strcmp(path, "/stall")) {
    say(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    body(s, 0, 10);
    return 1;
  } else if (!strcmp(path, "/reset")) {
    say(s, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
    body(s, 0, 50000);
    reset(s);
    return 1;
  } else if (!strcmp(path, "/drop-after")) {
    say(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    iom_stream_close(s);
    return 1;
  } else {
    say(s, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  }
  return 0;
}

static void on_read(iom_stream *s, const char *buf, size_t len, void *data) {
  conn *c = data;
  if (c->len + len > REQ_MAX) {
    iom_stream_close(s);
    return;
  }
  memcpy(c->buf + c->len, buf, len);
  c->len += len;
  if (c->buf[0] == 0x16) { /* a TLS ClientHello: answer in plain text */
    say(s, "HTTP/1.1 400 This is not TLS\r\nContent-Length: 0\r\n\r\n");
    iom_stream_close(s);
    return;
  }
  char *end;
  while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4))) {
    char method[16], path[512];
    *end = '\0';
    if (sscanf(c->buf, "%15s %511s", method, path) != 2) {
      iom_stream_close(s);
      return;
    }
    size_t used = (size_t)(end + 4 - c->buf);
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    if (answer(s, method, path)) {
      iom_stream_read_stop(s);
      return;
    }
  }
}

static void on_close(iom_stream *s, int err, void *data) {
  (void)s;
  (void)err;
  free(data);
}

static const iom_stream_cbs cbs = {.on_read = on_read, .on_close = on_close};

static void on_accept(iom_listener *l, int fd, void *data) {
  (void)l;
  (void)data;
  if (fd < 0)
    return;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  conn *c = calloc(1, sizeof *c);
  iom_stream *s;
  if (!c || iom_stream_new(loop, fd, &cbs, c, &s) < 0) {
    free(c);
    return;
  }
  accepted++;
}

/* A port whose accept queue is full: a connect to it gets no answer. */
static int stuck_port(void) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) || listen(l, 0) ||
      getsockname(l, (struct sockaddr *)&sa, &len))
    return -1;
  for (int i = 0; i < 4; i++) { /* fill the queue */
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(c, (struct sockaddr *)&sa, sizeof sa);
  }
  return ntohs(sa.sin_port);
}

static void on_stdin(iom_io *io, unsigned ev, void *data) {
  (void)ev;
  (void)data;
  char b[256];
  if (read(0, b, sizeof b) <= 0) {
    iom_io_stop(io);
    iom_loop_stop(loop);
  }
}

static void on_term(iom_signal *sig, int signo, void *data) {
  (void)sig;
  (void)signo;
  (void)data;
  iom_loop_stop(loop);
}

int main(int argc, char **argv) {
  int port = argc > 2 && !strcmp(argv[1], "--port") ? atoi(argv[2]) : 0;
  iom_listener *l;
  iom_io *in;
  iom_signal *term;
  if (iom_loop_new(IOM_DEFAULT, &loop) ||
      iom_listener_new(loop, "127.0.0.1", port, NULL, on_accept, NULL, &l) ||
      iom_io_new(loop, 0, on_stdin, NULL, &in) || iom_io_start(in, IOM_READ) ||
      iom_signal_new(loop, on_term, NULL, &term) ||
      iom_signal_start(term, SIGTERM)) {
    fprintf(stderr, "fetch_server: cannot start\n");
    return 1;
  }
  my_port = iom_listener_port(l);
  printf("port %d stuck %d\n", my_port, stuck_port());
  fflush(stdout);
  iom_loop_run(loop, IOM_RUN_DEFAULT);
  return 0;
}
