/* Streams, listeners and the line framer, over real loopback sockets and
 * real processes. Run once per selector backend (argv[1]). */
#define _GNU_SOURCE
#include "iomux/error.h"
#include "iomux/loop.h"
#include "iomux/stream.h"
#include "suite.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static iom_loop *new_loop(void) {
  iom_loop *loop;
  assert_int_equal(iom_loop_new(suite_backend, &loop), 0);
  return loop;
}

static unsigned char pattern(size_t i) {
  return (unsigned char)(i * 131 + (i >> 13));
}

/* A blocking client socket connected to 127.0.0.1:port. */
static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_true(fd >= 0);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  return fd;
}

/* A small send buffer makes most writes partial. (Shrinking the receive
 * buffer too would stall loopback TCP: with a 64 KiB MSS and a few KiB of
 * window, silly-window avoidance waits for persist timers.) */
static void shrink_buffers(int fd) {
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
}

/* ---- an echo server on the loop, with back-pressure ----------------------- */

typedef struct server {
  iom_loop *loop;
  iom_listener *listener;
  int accepted, closed, pauses, accept_errors, last_err;
  int small_buffers;
  size_t max_queued;
} server;

static void echo_read(iom_stream *s, const char *buf, size_t len, void *d) {
  server *srv = d;
  assert_int_equal(iom_stream_write(s, buf, len), 0);
  if (iom_stream_queued(s) > srv->max_queued)
    srv->max_queued = iom_stream_queued(s);
}

static void echo_pause(iom_stream *s, void *d) {
  ((server *)d)->pauses++;
  iom_stream_read_stop(s); /* the peer sends faster than it reads */
}

static void echo_resume(iom_stream *s, void *d) {
  (void)d;
  assert_int_equal(iom_stream_read_start(s), 0);
}

static void echo_close(iom_stream *s, int err, void *d) {
  (void)s;
  server *srv = d;
  srv->closed++;
  srv->last_err = err;
}

static const iom_stream_cbs echo_cbs = {
    .on_read = echo_read,
    .on_pause_writing = echo_pause,
    .on_resume_writing = echo_resume,
    .on_close = echo_close,
};

static void echo_accept(iom_listener *l, int fd, void *d) {
  (void)l;
  server *srv = d;
  if (fd < 0) {
    srv->accept_errors++;
    return;
  }
  if (srv->small_buffers)
    shrink_buffers(fd);
  iom_stream *s;
  assert_int_equal(iom_stream_new(srv->loop, fd, &echo_cbs, srv, &s), 0);
  srv->accepted++;
}

static void server_start(server *srv, iom_loop *loop) {
  memset(srv, 0, sizeof *srv);
  srv->loop = loop;
  assert_int_equal(iom_listener_new(loop, "127.0.0.1", 0, NULL, echo_accept,
                                    srv, &srv->listener),
                   0);
  assert_true(iom_listener_port(srv->listener) > 0);
}

/* ---- a client stream that pumps a pattern and checks the echo ------------- */

typedef struct client {
  server *srv; /* whose listener to free when done, or NULL */
  iom_stream *s;
  size_t total, sent, received, mismatches;
  int paused, pauses, connected, eof, closed, err;
  int shutdown_after; /* half-close once everything is sent */
  int wait_eof;       /* close on the peer's EOF, not on the last byte */
  char chunk[16384];
} client;

static void pump(client *c) {
  while (!c->paused && c->sent < c->total && c->s) {
    size_t n = c->total - c->sent;
    if (n > sizeof c->chunk)
      n = sizeof c->chunk;
    for (size_t i = 0; i < n; i++)
      c->chunk[i] = (char)pattern(c->sent + i);
    assert_int_equal(iom_stream_write(c->s, c->chunk, n), 0);
    c->sent += n;
  }
  if (c->sent == c->total && c->shutdown_after && c->s) {
    assert_int_equal(iom_stream_shutdown(c->s), 0);
    c->shutdown_after = 0;
  }
}

static void client_connect(iom_stream *s, void *d) {
  client *c = d;
  c->connected = 1;
  if (c->srv && c->srv->small_buffers)
    shrink_buffers(iom_stream_fd(s));
  pump(c);
}

static void client_read(iom_stream *s, const char *buf, size_t len, void *d) {
  client *c = d;
  for (size_t i = 0; i < len; i++)
    c->mismatches += (unsigned char)buf[i] != pattern(c->received + i);
  c->received += len;
  if (c->received == c->total && !c->wait_eof)
    iom_stream_close(s);
}

static void client_eof(iom_stream *s, void *d) {
  client *c = d;
  c->eof = 1;
  iom_stream_close(s);
}

static void client_pause(iom_stream *s, void *d) {
  (void)s;
  client *c = d;
  c->paused = 1;
  c->pauses++;
}

static void client_resume(iom_stream *s, void *d) {
  (void)s;
  client *c = d;
  c->paused = 0;
  pump(c);
}

static void client_close(iom_stream *s, int err, void *d) {
  (void)s;
  client *c = d;
  c->closed++;
  c->err = err;
  c->s = NULL;
  if (c->srv) {
    iom_listener_free(c->srv->listener);
    c->srv->listener = NULL;
  }
}

static const iom_stream_cbs client_cbs = {
    .on_connect = client_connect,
    .on_read = client_read,
    .on_pause_writing = client_pause,
    .on_resume_writing = client_resume,
    .on_close = client_close,
};

static const iom_stream_cbs half_close_cbs = {
    .on_connect = client_connect,
    .on_read = client_read,
    .on_eof = client_eof,
    .on_close = client_close,
};

static void start_client(client *c, iom_loop *loop, server *srv, size_t total,
                         const iom_stream_cbs *cbs) {
  memset(c, 0, sizeof *c);
  c->srv = srv;
  c->total = total;
  assert_int_equal(iom_stream_connect(loop, "127.0.0.1",
                                      iom_listener_port(srv->listener), 5000,
                                      cbs, c, &c->s),
                   0);
}

/* 10 MB through 4 KiB kernel send buffers on both sides: writes are partial,
 * both ends queue and pause, every byte comes back in order. */
static void test_echo_10mb_partial_writes(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  server srv;
  client c;
  server_start(&srv, loop);
  srv.small_buffers = 1;
  start_client(&c, loop, &srv, 10u << 20, &client_cbs);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(c.connected, 1);
  assert_int_equal(c.received, c.total);
  assert_int_equal(c.mismatches, 0);
  assert_int_equal(c.closed, 1);
  assert_int_equal(c.err, 0);
  assert_int_equal(srv.closed, 1);
  assert_int_equal(srv.last_err, 0);
  /* Both sides had writes the kernel took only in part, and the client's
   * queue crossed its high-water mark. */
  assert_true(srv.max_queued > 0);
  assert_true(c.pauses > 0);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* The client shuts its side after sending: the server (no on_eof) echoes
 * everything, then closes; the client sees all bytes and then EOF. */
static void test_half_close(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  server srv;
  client c;
  server_start(&srv, loop);
  start_client(&c, loop, &srv, 300000, &half_close_cbs);
  c.shutdown_after = c.wait_eof = 1;
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(c.received, c.total);
  assert_int_equal(c.mismatches, 0);
  assert_int_equal(c.eof, 1);
  assert_int_equal(c.err, 0);
  assert_int_equal(srv.closed, 1);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* ---- a producer and a peer that never reads ------------------------------- */

typedef struct producer {
  iom_loop *loop;
  iom_stream *s;
  size_t produced, max_queued;
  int paused, closed, err;
  char chunk[16384];
} producer;

static void produce(producer *p) {
  while (p->s && !p->paused && p->produced < (100u << 20)) {
    assert_int_equal(iom_stream_write(p->s, p->chunk, sizeof p->chunk), 0);
    p->produced += sizeof p->chunk;
    if (iom_stream_queued(p->s) > p->max_queued)
      p->max_queued = iom_stream_queued(p->s);
  }
}

static void producer_pause(iom_stream *s, void *d) {
  (void)s;
  ((producer *)d)->paused = 1;
}

static void producer_resume(iom_stream *s, void *d) {
  (void)s;
  producer *p = d;
  p->paused = 0;
  produce(p);
}

static void producer_close(iom_stream *s, int err, void *d) {
  (void)s;
  producer *p = d;
  p->closed++;
  p->err = err;
  p->s = NULL;
}

static const iom_stream_cbs producer_cbs = {
    .on_pause_writing = producer_pause,
    .on_resume_writing = producer_resume,
    .on_close = producer_close,
};

/* A producer stream to `fd` (the server end of a connection), started. */
static void start_producer(producer *p, iom_loop *loop, int fd) {
  memset(p, 0, sizeof *p);
  p->loop = loop;
  assert_int_equal(iom_stream_new(loop, fd, &producer_cbs, p, &p->s), 0);
  produce(p);
}

/* Run the loop without blocking until cond(arg) or ~5 s of tries. */
static void run_until(iom_loop *loop, int (*cond)(void *), void *arg) {
  uint64_t start = tu_now_ms();
  while (!cond(arg) && tu_now_ms() - start < 5000)
    iom_loop_run(loop, IOM_RUN_ONCE);
  assert_true(cond(arg));
}

static int is_paused(void *arg) { return ((producer *)arg)->paused; }
static int client_done(void *arg) { return ((client *)arg)->closed; }
static int producer_closed(void *arg) { return ((producer *)arg)->closed; }

/* The peer never reads and the server would write 100 MB: the queue stops at
 * the high-water mark plus one chunk, and another connection is served
 * meanwhile. */
static void test_never_reading_peer(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  server srv;
  server_start(&srv, loop);
  int sv[2];
  tu_tcp_pair(sv);
  producer p;
  start_producer(&p, loop, sv[1]);
  run_until(loop, is_paused, &p);
  size_t at_pause = p.produced;
  client c;
  start_client(&c, loop, &srv, 100000, &client_cbs);
  run_until(loop, client_done, &c);
  assert_int_equal(c.received, c.total);
  assert_int_equal(c.mismatches, 0);
  assert_int_equal(p.produced, at_pause); /* still paused: nothing grew */
  assert_true(p.max_queued <= 64 * 1024 + sizeof p.chunk);
  assert_true(p.produced < (100u << 20));
  iom_stream_abort(p.s);
  run_until(loop, producer_closed, &p);
  assert_int_equal(p.err, 0);
  close(sv[0]);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* The peer resets while the server is in the middle of writing: one
 * on_close with the error, no SIGPIPE (its default action is left on). */
static void test_reset_mid_write(void **state) {
  (void)state;
  struct sigaction sa;
  sigaction(SIGPIPE, NULL, &sa);
  assert_ptr_equal(sa.sa_handler, SIG_DFL);
  iom_loop *loop = new_loop();
  int sv[2];
  tu_tcp_pair(sv);
  producer p;
  start_producer(&p, loop, sv[1]);
  run_until(loop, is_paused, &p);
  char some[1000];
  assert_true(read(sv[0], some, sizeof some) > 0);
  tu_close_with_reset(sv[0]);
  assert_int_equal(iom_stream_write(p.s, "x", 1), 0); /* queued: no error yet */
  run_until(loop, producer_closed, &p);
  assert_int_equal(p.closed, 1);
  assert_true(p.err == -ECONNRESET || p.err == -EPIPE);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(p.closed, 1);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* ---- write_ref ------------------------------------------------------------- */

typedef struct ref_done {
  int calls, status;
} ref_done;

static void on_ref_done(void *ctx, int status) {
  ref_done *r = ctx;
  r->calls++;
  r->status = status;
}

static void test_write_ref(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  int sv[2];
  tu_tcp_pair(sv);
  producer p;
  memset(&p, 0, sizeof p);
  assert_int_equal(iom_stream_new(loop, sv[1], &producer_cbs, &p, &p.s), 0);
  ref_done small = {0, 1}, big = {0, 1};
  assert_int_equal(iom_stream_write_ref(p.s, "hello", 5, on_ref_done, &small),
                   0);
  char got[5];
  assert_int_equal(recv(sv[0], got, 5, MSG_WAITALL), 5);
  assert_memory_equal(got, "hello", 5);
  size_t n = 32u << 20;
  char *huge = calloc(1, n);
  assert_int_equal(iom_stream_write_ref(p.s, huge, n, on_ref_done, &big), 1);
  assert_true(iom_stream_queued(p.s) > 0);
  assert_int_equal(p.paused, 1);
  iom_stream_abort(p.s);
  assert_int_equal(iom_stream_write(p.s, "x", 1), -EPIPE);
  assert_int_equal(big.calls, 0); /* never from inside the call */
  run_until(loop, producer_closed, &p);
  assert_int_equal(small.calls, 0);
  assert_int_equal(big.calls, 1);
  assert_int_equal(big.status, -ECANCELED);
  free(huge);
  close(sv[0]);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* A corked stream sends nothing, across loop turns, until uncork sends it
 * all in order; write_ref buffers come back done(0); close and shutdown
 * uncork; a stream aborted while corked drops the held bytes. */
static void test_cork(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  int sv[2];
  tu_tcp_pair(sv);
  producer p;
  memset(&p, 0, sizeof p);
  assert_int_equal(iom_stream_new(loop, sv[1], &producer_cbs, &p, &p.s), 0);
  ref_done shared = {0, 1};
  for (int round = 0; round < 3; round++) {
    iom_stream_cork(p.s);
    iom_stream_cork(p.s); /* twice is once */
    assert_int_equal(iom_stream_write(p.s, "ab", 2), 0);
    assert_int_equal(
        iom_stream_write_ref(p.s, "cde", 3, on_ref_done, &shared), 1);
    assert_int_equal(iom_stream_write(p.s, "f\n", 2), 0);
    assert_int_equal(iom_stream_queued(p.s), 7);
    assert_true(iom_loop_run(loop, IOM_RUN_NOWAIT) >= 0);
    assert_true(iom_loop_run(loop, IOM_RUN_NOWAIT) >= 0);
    char none;
    assert_int_equal(recv(sv[0], &none, 1, MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(shared.calls, round);
    iom_stream_uncork(p.s);
    iom_stream_uncork(p.s); /* twice is once */
    assert_int_equal(iom_stream_queued(p.s), 0);
    assert_int_equal(shared.calls, round + 1);
    assert_int_equal(shared.status, 0);
    char got[7];
    assert_int_equal(recv(sv[0], got, 7, MSG_WAITALL), 7);
    assert_memory_equal(got, "abcdef\n", 7);
  }
  /* Uncorked, a write goes at once again. */
  assert_int_equal(iom_stream_write(p.s, "now", 3), 0);
  char now[3];
  assert_int_equal(recv(sv[0], now, 3, MSG_WAITALL), 3);
  iom_stream_cork(p.s);
  assert_int_equal(iom_stream_write(p.s, "bye", 3), 0);
  iom_stream_close(p.s);
  run_until(loop, producer_closed, &p);
  assert_int_equal(p.err, 0);
  char bye[4];
  assert_int_equal(recv(sv[0], bye, 4, MSG_WAITALL), 3);
  assert_memory_equal(bye, "bye", 3);
  close(sv[0]);
  /* Shutdown uncorks too: the peer gets the bytes, then EOF. */
  tu_tcp_pair(sv);
  memset(&p, 0, sizeof p);
  assert_int_equal(iom_stream_new(loop, sv[1], &producer_cbs, &p, &p.s), 0);
  iom_stream_cork(p.s);
  assert_int_equal(iom_stream_write(p.s, "last", 4), 0);
  assert_int_equal(iom_stream_shutdown(p.s), 0);
  char last[5];
  for (int i = 0; i < 100 && iom_stream_queued(p.s); i++)
    iom_loop_run(loop, IOM_RUN_NOWAIT);
  assert_int_equal(recv(sv[0], last, 5, MSG_WAITALL), 4);
  assert_memory_equal(last, "last", 4);
  iom_stream_abort(p.s);
  run_until(loop, producer_closed, &p);
  close(sv[0]);
  /* Held bytes of a stream that is aborted: write_ref gets -ECANCELED. */
  tu_tcp_pair(sv);
  memset(&p, 0, sizeof p);
  assert_int_equal(iom_stream_new(loop, sv[1], &producer_cbs, &p, &p.s), 0);
  ref_done dropped = {0, 1};
  iom_stream_cork(p.s);
  assert_int_equal(iom_stream_write_ref(p.s, "x", 1, on_ref_done, &dropped),
                   1);
  iom_stream_abort(p.s);
  run_until(loop, producer_closed, &p);
  assert_int_equal(dropped.calls, 1);
  assert_int_equal(dropped.status, -ECANCELED);
  char x;
  assert_int_equal(recv(sv[0], &x, 1, 0), 0);
  close(sv[0]);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* ---- connect ---------------------------------------------------------------- */

static void test_connect_refused(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  close(fd); /* nobody listens on that port now */
  client c;
  memset(&c, 0, sizeof c);
  assert_int_equal(iom_stream_connect(loop, "127.0.0.1", ntohs(sa.sin_port),
                                      2000, &client_cbs, &c, &c.s),
                   0);
  assert_int_equal(c.closed, 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(c.connected, 0);
  assert_int_equal(c.closed, 1);
  assert_int_equal(c.err, -ECONNREFUSED);
  assert_int_equal(iom_stream_connect(loop, "localhost", 80, 0, &client_cbs,
                                      &c, &c.s),
                   -EINVAL); /* names are resolved elsewhere */
  assert_int_equal(iom_loop_free(loop), 0);
}

/* A listener whose accept queue is full drops new SYNs: connect hangs until
 * the timeout. */
static void test_connect_timeout(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(lfd, 0), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
  int fillers[8];
  for (int i = 0; i < 8; i++) {
    fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fillers[i], (struct sockaddr *)&sa, sizeof sa);
  }
  usleep(100000);
  client c;
  memset(&c, 0, sizeof c);
  uint64_t t0 = tu_now_ms();
  assert_int_equal(iom_stream_connect(loop, "127.0.0.1", ntohs(sa.sin_port),
                                      300, &client_cbs, &c, &c.s),
                   0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(c.closed, 1);
  assert_int_equal(c.connected, 0);
  assert_int_equal(c.err, -ETIMEDOUT);
  assert_true(tu_now_ms() - t0 >= 300);
  for (int i = 0; i < 8; i++)
    close(fillers[i]);
  close(lfd);
  assert_int_equal(iom_loop_free(loop), 0);
}

static void test_ipv6_listener(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  server srv;
  memset(&srv, 0, sizeof srv);
  srv.loop = loop;
  int err = iom_listener_new(loop, "::1", 0, NULL, echo_accept, &srv,
                             &srv.listener);
  if (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT) {
    assert_int_equal(iom_loop_free(loop), 0);
    skip();
  }
  assert_int_equal(err, 0);
  client c;
  memset(&c, 0, sizeof c);
  c.srv = &srv;
  c.total = 5000;
  assert_int_equal(iom_stream_connect(loop, "::1",
                                      iom_listener_port(srv.listener), 2000,
                                      &client_cbs, &c, &c.s),
                   0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(c.received, 5000);
  assert_int_equal(c.mismatches, 0);
  assert_int_equal(iom_listener_new(loop, "no such host.invalid", 0, NULL,
                                    echo_accept, &srv, &srv.listener),
                   -EINVAL);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* ---- EMFILE: a server child with a low fd limit ---------------------------- */

/* The child's control channel: 's' asks for the loop's iteration count,
 * 'q' for a clean exit. */
typedef struct emfile_child {
  iom_loop *loop;
  server srv;
  int ctl;
  iom_io *ctl_io;
} emfile_child;

static void child_control(iom_io *io, unsigned events, void *d) {
  (void)events;
  emfile_child *ch = d;
  char cmd;
  if (read(ch->ctl, &cmd, 1) != 1 || cmd == 'q') {
    iom_io_free(io);
    iom_loop_stop(ch->loop);
    return;
  }
  iom_loop_stats st;
  iom_loop_stats_get(ch->loop, &st);
  long long reply[2] = {(long long)st.iterations, ch->srv.accept_errors};
  if (write(ch->ctl, reply, sizeof reply) != sizeof reply)
    _exit(3);
}

static void emfile_server(int ctl) {
  struct rlimit rl = {64, 64};
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
    _exit(2);
  emfile_child ch = {.ctl = ctl};
  if (iom_loop_new(suite_backend, &ch.loop) < 0)
    _exit(2);
  server_start(&ch.srv, ch.loop);
  int port = iom_listener_port(ch.srv.listener);
  if (write(ctl, &port, sizeof port) != sizeof port ||
      iom_io_new(ch.loop, ctl, child_control, &ch, &ch.ctl_io) < 0 ||
      iom_io_start(ch.ctl_io, IOM_READ) < 0)
    _exit(2);
  iom_loop_run(ch.loop, IOM_RUN_DEFAULT);
  _exit(0);
}

static long long ask_iterations(int ctl, long long *accept_errors) {
  long long reply[2];
  assert_int_equal(write(ctl, "s", 1), 1);
  assert_int_equal(recv(ctl, reply, sizeof reply, MSG_WAITALL), sizeof reply);
  *accept_errors = reply[1];
  return reply[0];
}

static void expect_echo(int fd, const char *msg) {
  size_t n = strlen(msg);
  char got[64];
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  assert_int_equal(write(fd, msg, n), (ssize_t)n);
  assert_int_equal(recv(fd, got, n, MSG_WAITALL), (ssize_t)n);
  assert_memory_equal(got, msg, n);
}

/* 200 clients against a server that can hold about 60 fds: it keeps serving
 * the ones it has, does not spin while it cannot accept, and takes the rest
 * once fds are freed. */
static void test_emfile_survival(void **state) {
  (void)state;
  enum { CLIENTS = 200 };
  int ctl[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(ctl[0]);
    emfile_server(ctl[1]);
  }
  close(ctl[1]);
  int port;
  assert_int_equal(recv(ctl[0], &port, sizeof port, MSG_WAITALL), sizeof port);
  int clients[CLIENTS];
  for (int i = 0; i < CLIENTS; i++)
    clients[i] = dial(port); /* the kernel completes them into the backlog */
  expect_echo(clients[0], "first");
  long long errors, before = ask_iterations(ctl[0], &errors);
  usleep(1000000);
  long long after = ask_iterations(ctl[0], &errors);
  assert_true(errors >= 1);         /* it did run out of fds */
  assert_true(after - before < 500); /* ...and waited, not spun */
  expect_echo(clients[1], "still served");
  /* Leave 50 clients, fewer than the fds the server may hold. */
  for (int i = 0; i < CLIENTS - 50; i++)
    close(clients[i]);
  expect_echo(clients[CLIENTS - 1], "last one in");
  assert_int_equal(write(ctl[0], "q", 1), 1);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (int i = CLIENTS - 50; i < CLIENTS; i++)
    close(clients[i]);
  close(ctl[0]);
}

/* ---- memory of idle connections -------------------------------------------- */

typedef struct idle_server {
  iom_loop *loop;
  int accepted, closed, target;
  long long baseline;
} idle_server;

static void idle_read(iom_stream *s, const char *b, size_t n, void *d) {
  (void)s, (void)b, (void)n, (void)d;
  fail_msg("idle connections send nothing");
}

static void idle_close(iom_stream *s, int err, void *d) {
  (void)s, (void)err;
  ((idle_server *)d)->closed++;
}

static const iom_stream_cbs idle_cbs = {.on_read = idle_read,
                                        .on_eof = NULL,
                                        .on_close = idle_close};

static void idle_accept(iom_listener *l, int fd, void *d) {
  (void)l;
  idle_server *is = d;
  assert_true(fd >= 0);
  iom_stream *s;
  assert_int_equal(iom_stream_new(is->loop, fd, &idle_cbs, is, &s), 0);
  if (++is->accepted == 1)
    is->baseline = tu_alloc_bytes; /* the shared read buffer exists now */
  if (is->accepted == is->target)
    iom_loop_stop(is->loop);
}

static void idle_clients(int port, int n, int hold) {
  int *fds = malloc(sizeof(int) * (size_t)n);
  for (int i = 0; i < n; i++)
    fds[i] = dial(port);
  char c;
  if (read(hold, &c, 1) < 0) /* until the parent is done measuring */
    _exit(1);
  _exit(0);
}

/* 10,000 accepted, registered, idle streams: at most 512 bytes each. */
static void test_idle_memory(void **state) {
  (void)state;
  int target = suite_backend == IOM_SELECT ? 900 : 10000;
  if (tu_raise_nofile(target + 200) < target + 200)
    skip();
  iom_loop *loop = new_loop();
  idle_server is = {.loop = loop, .target = target};
  iom_listener *l;
  assert_int_equal(
      iom_listener_new(loop, "127.0.0.1", 0, NULL, idle_accept, &is, &l), 0);
  int hold[2];
  assert_int_equal(pipe(hold), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(hold[1]);
    idle_clients(iom_listener_port(l), target, hold[0]);
  }
  close(hold[0]);
  iom_loop_run(loop, IOM_RUN_DEFAULT);
  assert_int_equal(is.accepted, target);
  long long per_conn = (tu_alloc_bytes - is.baseline) / (target - 1);
  print_message("idle connection: %lld bytes of user-space memory each "
                "(%d connections, %s)\n",
                per_conn, target, iom_loop_backend_name(loop));
  assert_true(per_conn <= 512);
  iom_listener_free(l);
  close(hold[1]); /* the clients exit; every stream sees EOF and closes */
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(is.closed, target);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* ---- the line framer ------------------------------------------------------- */

typedef struct lines_seen {
  char text[4096];
  int lines, too_long, stop_after;
} lines_seen;

static int on_line(void *d, const char *line, size_t len, int err) {
  lines_seen *ls = d;
  if (err) {
    assert_int_equal(err, -EMSGSIZE);
    assert_null(line);
    ls->too_long++;
    strcat(ls->text, "<long>|");
  } else {
    strncat(ls->text, line, len);
    strcat(ls->text, "|");
    ls->lines++;
  }
  return ls->stop_after && ls->lines + ls->too_long == ls->stop_after;
}

static void test_lines(void **state) {
  (void)state;
  iom_lines *lf;
  lines_seen ls = {0};
  assert_int_equal(iom_lines_new(0, &lf), -EINVAL);
  assert_int_equal(iom_lines_new(8, &lf), 0);
  const char *in = "one\r\ntwo\nthr";
  assert_int_equal(iom_lines_feed(lf, in, strlen(in), on_line, &ls), 0);
  assert_int_equal(iom_lines_pending(lf), 3);
  in = "ee\n\nexactly8\r\n123456789\nok\n";
  assert_int_equal(iom_lines_feed(lf, in, strlen(in), on_line, &ls), 0);
  assert_string_equal(ls.text, "one|two|three||exactly8|<long>|ok|");
  /* A long line split across feeds is reported once, then skipped. */
  memset(&ls, 0, sizeof ls);
  assert_int_equal(iom_lines_feed(lf, "abcdef", 6, on_line, &ls), 0);
  assert_int_equal(iom_lines_feed(lf, "ghijkl", 6, on_line, &ls), 0);
  assert_int_equal(iom_lines_pending(lf), 0);
  assert_int_equal(iom_lines_feed(lf, "mnop\nq\n", 7, on_line, &ls), 0);
  assert_string_equal(ls.text, "<long>|q|");
  /* 10 MB without a newline holds nothing, then the next line works. */
  memset(&ls, 0, sizeof ls);
  static char flood[1 << 20];
  memset(flood, 'x', sizeof flood);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(iom_lines_feed(lf, flood, sizeof flood, on_line, &ls), 0);
    assert_true(iom_lines_pending(lf) <= 9);
  }
  assert_int_equal(iom_lines_feed(lf, "\nfine\n", 6, on_line, &ls), 0);
  assert_string_equal(ls.text, "<long>|fine|");
  /* A nonzero return stops the feed. */
  memset(&ls, 0, sizeof ls);
  ls.stop_after = 1;
  assert_int_equal(iom_lines_feed(lf, "a\nb\n", 4, on_line, &ls), 1);
  assert_string_equal(ls.text, "a|");
  iom_lines_free(lf);
}

/* ---- running out of memory ------------------------------------------------- */

/* Each call that allocates either works or says -ENOMEM, and nothing leaks. */
static void test_allocation_failures(void **state) {
  (void)state;
  for (long fail_at = 0;; fail_at++) {
    long live = tu_alloc_live;
    tu_alloc_reset(fail_at);
    iom_loop *loop;
    if (iom_loop_new(suite_backend, &loop) == -ENOMEM) {
      assert_int_equal(tu_alloc_live, live);
      continue;
    }
    server srv;
    memset(&srv, 0, sizeof srv);
    srv.loop = loop;
    int err = iom_listener_new(loop, "127.0.0.1", 0, NULL, echo_accept, &srv,
                               &srv.listener);
    assert_true(err == 0 || err == -ENOMEM);
    int sv[2];
    tu_tcp_pair(sv);
    producer p;
    memset(&p, 0, sizeof p);
    err = iom_stream_new(loop, sv[1], &producer_cbs, &p, &p.s);
    assert_true(err == 0 || err == -ENOMEM);
    if (err == 0) {
      char block[100000] = {0};
      err = iom_stream_write(p.s, block, sizeof block);
      assert_true(err == 0 || err == -ENOMEM);
      iom_stream_abort(p.s);
    }
    iom_lines *lf;
    if (iom_lines_new(100, &lf) == 0) {
      lines_seen ls = {0};
      err = iom_lines_feed(lf, "partial", 7, on_line, &ls);
      assert_true(err == 0 || err == -ENOMEM);
      iom_lines_free(lf);
    }
    iom_listener_free(srv.listener);
    assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
    close(sv[0]);
    long calls = tu_alloc_calls;
    assert_int_equal(iom_loop_free(loop), 0);
    assert_int_equal(tu_alloc_live, live);
    if (fail_at >= calls)
      break;
  }
  tu_alloc_reset(-1);
}

static const suite_case cases[] = {
    SUITE_CASE_LIMIT(test_echo_10mb_partial_writes, 60), /* CPU-bound */
    SUITE_CASE(test_half_close),
    SUITE_CASE(test_never_reading_peer),
    SUITE_CASE(test_reset_mid_write),
    SUITE_CASE(test_write_ref),
    SUITE_CASE(test_cork),
    SUITE_CASE(test_connect_refused),
    SUITE_CASE(test_connect_timeout),
    SUITE_CASE(test_ipv6_listener),
    SUITE_CASE(test_emfile_survival),
    SUITE_CASE(test_idle_memory),
    SUITE_CASE(test_lines),
    SUITE_CASE(test_allocation_failures),
};

int main(int argc, char **argv) {
  tu_alloc_install(); /* the cases count and fail the library's allocations */
  return SUITE_MAIN_PER_BACKEND(argc, argv, "stream", cases);
}
