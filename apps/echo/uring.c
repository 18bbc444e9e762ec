/* uring: the kernel does both phases; we are told when it is over.
 *
 * What it shows: the Proactor. Every other multiplexing model asks the
 * kernel "which sockets are ready?" and then copies the data itself, one
 * recv() and one send() per client per round, each a system call. Here the
 * program hands the kernel whole jobs -- "accept on this socket, for as long
 * as clients come", "receive on this one, into any buffer of this group,
 * each time data arrives", "send these bytes" -- and collects completions.
 * With io_uring the jobs and the completions travel through two rings of
 * memory shared with the kernel, so one io_uring_enter() per loop round
 * submits every job prepared since the last one and waits for the next
 * completions: at 1,000 busy clients, one system call does the work of
 * hundreds of recv()/send() pairs. The library's proactor (proactor.h) does
 * the ring; this file is the server's logic only.
 *
 * The techniques, each a line of this file:
 *   - multishot accept: one submitted accept yields a new connection per
 *     completion, with no resubmission (on_accept returns IOM_REARM);
 *   - multishot recv into provided buffers: one recv per connection for its
 *     whole life; the kernel picks a buffer from the group only when data
 *     arrives, so 10,000 idle clients hold no buffer at all (recv_start);
 *   - no copy: the echo is sent from the very buffer the data landed in,
 *     and the buffer goes back to the group when the send completes
 *     (on_recv queues it, on_send puts it back);
 *   - order: one send in flight per connection; the buffers waiting behind
 *     it form a queue threaded through next_buf[] (push, send_next);
 *   - with --threads N, N rings, each with its own listening socket on the
 *     same port (SO_REUSEPORT): the kernel spreads the connections.
 *
 * Pitfalls, and where this file handles them:
 *   - a client that sends and never reads: its sends never complete, so its
 *     buffers never come back. Above ECHO_MAX_PENDING queued we stop its
 *     recv (return IOM_DONE) and restart it when the queue drains
 *     (on_send), so one client cannot take the whole group;
 *   - the group runs dry anyway (many slow clients): the proactor pauses the
 *     recvs (ENOBUFS is not an error) until buffers come back;
 *   - closing a socket does not end io_uring requests on it (they hold the
 *     file): the close op cancels them first, and a connection is freed only
 *     after every op of it had its final callback (conn_maybe_free);
 *   - accept at the fd limit (EMFILE) ends the multishot accept: a timeout
 *     op waits ACCEPT_PAUSE_MS before accepting again (on_accept);
 *   - SIGPIPE: sends use MSG_NOSIGNAL (the library does);
 *   - SIGINT/SIGTERM: the stop pipe (echo.h) is watched by the loop, which
 *     the ring wakes for; then the accept is cancelled and every connection
 *     closed, and run() returns 0 once the last op has ended.
 *
 * Without io_uring (an old kernel, seccomp, kernel.io_uring_disabled) or with
 * IOM_PROACTOR=emulated, the same file runs on the emulation: the same
 * callbacks, made from epoll readiness and non-blocking calls.
 *
 * What it skips: idle timeouts, zero-copy send (SEND_ZC), registered files
 * and buffers, incremental buffer consumption.
 *
 * Try it:  iomux-echo --model uring --port 7000 &  nc 127.0.0.1 7000
 *          (Linux 5.19+; 6.1+ for every feature; IOM_URING_OFF=multishot,
 *          bufring,defer,batch turns features off, to see what each buys)
 */
#define _GNU_SOURCE
#include "echo.h"

#include "iomux/error.h"
#include "iomux/loop.h"
#include "iomux/proactor.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define NBUFS 4096    /* per ring: NBUFS * BUF_SIZE = 16 MiB at most */
#define BUF_SIZE 4096
#define ACCEPT_PAUSE_MS 100

typedef struct ring ring;

/* One client: created at accept, freed when its last op has ended. */
typedef struct conn {
  ring *r;
  int fd;
  iom_op recv, send, close;
  int head, tail;    /* buffers to echo, oldest first (-1: none) */
  size_t queued;     /* bytes in them */
  uint8_t recv_on, sending, eof, closing, closed;
  struct conn *prev, *next; /* every client, to close them all on stop */
} conn;

/* One ring (one thread). */
struct ring {
  const echo_opts *opts;
  iom_loop *loop;
  iom_proactor *p;
  iom_bufgroup *g;
  iom_op accept, pause;
  iom_io *stop_io;
  int listen_fd, accepting, pausing, stopping, nconns, status;
  int16_t *next_buf;  /* per buffer id: the next one in its conn's queue */
  uint32_t *len;      /* per buffer id: the bytes in it */
  conn *all;
  pthread_t thread;
};

static int on_recv(iom_op *op, int res);
static int on_send(iom_op *op, int res);
static int on_close(iom_op *op, int res);

/* ---- one client ---- */

static void recv_start(conn *c) {
  iom_prep_recv_group(&c->recv, c->fd, c->r->g, IOM_MULTISHOT, on_recv, c);
  c->recv_on = iom_proactor_submit(c->r->p, &c->recv) == 0;
}

static void conn_close(conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  iom_prep_close(&c->close, c->fd, on_close, c);
  if (iom_proactor_submit(c->r->p, &c->close) < 0) {
    close(c->fd); /* cannot happen with a fresh op; be safe anyway */
    c->closed = 1;
  }
}

/* Free it once no op of it can call back any more. */
static void conn_maybe_free(conn *c) {
  if (!c->closed || c->recv_on || c->sending)
    return;
  ring *r = c->r;
  for (int id = c->head; id >= 0; id = r->next_buf[id])
    iom_bufgroup_put(r->g, (unsigned)id);
  *(c->prev ? &c->prev->next : &r->all) = c->next;
  if (c->next)
    c->next->prev = c->prev;
  r->nconns--;
  free(c);
}

static void push(conn *c, unsigned id, int len) {
  ring *r = c->r;
  r->next_buf[id] = -1;
  r->len[id] = (uint32_t)len;
  if (c->tail >= 0)
    r->next_buf[c->tail] = (int16_t)id;
  else
    c->head = (int)id;
  c->tail = (int)id;
  c->queued += (size_t)len;
}

/* One send in flight per client, from the buffer the data came in. */
static void send_next(conn *c) {
  if (c->sending || c->head < 0 || c->closing)
    return;
  ring *r = c->r;
  iom_prep_send(&c->send, c->fd, iom_bufgroup_buf(r->g, (unsigned)c->head),
                r->len[c->head], on_send, c);
  c->sending = iom_proactor_submit(r->p, &c->send) == 0;
}

static int on_recv(iom_op *op, int res) {
  conn *c = op->data;
  if (res > 0) { /* the kernel picked op->buf_id and filled res bytes */
    echo_transform(op->rbuf, (size_t)res, c->r->opts->upper);
    push(c, op->buf_id, res);
    send_next(c);
  }
  if (op->more) /* armed still: stop it if the client does not read */
    return c->queued > ECHO_MAX_PENDING ? IOM_DONE : IOM_REARM;
  c->recv_on = 0;
  c->eof |= res == 0;
  if ((res < 0 && res != -ECANCELED) || (c->eof && !c->sending))
    conn_close(c); /* an error, or EOF with everything echoed */
  conn_maybe_free(c);
  return IOM_DONE;
}

static int on_send(iom_op *op, int res) {
  conn *c = op->data;
  ring *r = c->r;
  unsigned id = (unsigned)c->head;
  c->sending = 0;
  c->head = r->next_buf[id];
  if (c->head < 0)
    c->tail = -1;
  c->queued -= r->len[id];
  iom_bufgroup_put(r->g, id); /* the echo is out: recycle the buffer */
  if (res < 0) {
    if (res != -ECANCELED)
      conn_close(c); /* a reset or a broken pipe: it left */
    conn_maybe_free(c);
    return IOM_DONE;
  }
  send_next(c);
  if (!c->recv_on && !c->eof && !c->closing &&
      c->queued <= ECHO_MAX_PENDING / 2)
    recv_start(c); /* it caught up: read it again */
  if (c->eof && !c->sending)
    conn_close(c);
  return IOM_DONE;
}

static int on_close(iom_op *op, int res) {
  (void)res;
  conn *c = op->data;
  c->closed = 1;
  conn_maybe_free(c);
  return IOM_DONE;
}

static void take(ring *r, int fd) {
  conn *c = r->nconns < r->opts->max_conns ? calloc(1, sizeof *c) : NULL;
  if (!c) {
    close(fd); /* over --max-conns, or out of memory */
    return;
  }
  *c = (conn){.r = r, .fd = fd, .head = -1, .tail = -1, .next = r->all};
  if (r->all)
    r->all->prev = c;
  r->all = c;
  r->nconns++;
  recv_start(c);
  if (!c->recv_on) {
    c->eof = 1;
    conn_close(c);
  }
}

/* ---- accepting ---- */

static int on_accept(iom_op *op, int res);

static void accept_start(ring *r) {
  iom_prep_accept(&r->accept, r->listen_fd, IOM_MULTISHOT, on_accept, r);
  r->accepting = iom_proactor_submit(r->p, &r->accept) == 0;
}

static int on_pause_over(iom_op *op, int res) {
  (void)res;
  ring *r = op->data;
  r->pausing = 0;
  if (!r->stopping)
    accept_start(r);
  return IOM_DONE;
}

static int on_accept(iom_op *op, int res) {
  ring *r = op->data;
  if (res >= 0)
    take(r, res);
  if (op->more)
    return IOM_REARM; /* still armed: the next client comes by itself */
  r->accepting = 0;
  if (r->stopping || res == -ECANCELED)
    return IOM_DONE;
  if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
    echo_fail("uring: accept paused", res);
    iom_prep_timeout(&r->pause, ACCEPT_PAUSE_MS, on_pause_over, r);
    r->pausing = iom_proactor_submit(r->p, &r->pause) == 0;
    return IOM_DONE;
  }
  r->accepting = 1; /* ECONNABORTED and the like: that one is gone */
  return IOM_REARM;
}

/* ---- stopping: cancel the accept, close every client, let the ops end ---- */

static int on_cancelled(iom_op *op, int res) {
  (void)res;
  free(op);
  return IOM_DONE;
}

static void cancel(ring *r, iom_op *target) {
  iom_op *op = malloc(sizeof *op);
  if (!op)
    return;
  iom_prep_cancel(op, target, on_cancelled, NULL);
  if (iom_proactor_submit(r->p, op) < 0)
    free(op);
}

static void stop(ring *r) {
  if (r->stopping)
    return;
  r->stopping = 1;
  iom_io_free(r->stop_io); /* the loop ends when the last op has */
  r->stop_io = NULL;
  if (r->accepting)
    cancel(r, &r->accept);
  if (r->pausing)
    cancel(r, &r->pause);
  for (conn *c = r->all; c; c = c->next)
    conn_close(c);
}

static void on_stop(iom_io *io, unsigned events, void *data) {
  (void)io;
  (void)events;
  stop(data);
}

/* ---- one ring per thread ---- */

/* Another socket on the listener's address, for another ring. */
static int listen_again(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int one = 1;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
    return -errno;
  int s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
      bind(s, (struct sockaddr *)&ss, len) || listen(s, SOMAXCONN)) {
    int err = -errno;
    if (s >= 0)
      close(s);
    return err;
  }
  return s;
}

static int setup(ring *r) {
  int err;
  int flags = fcntl(r->listen_fd, F_GETFL); /* the emulation needs it */
  fcntl(r->listen_fd, F_SETFL, flags | O_NONBLOCK);
  r->next_buf = calloc(NBUFS, sizeof *r->next_buf);
  r->len = calloc(NBUFS, sizeof *r->len);
  if (!r->next_buf || !r->len)
    return echo_fail("uring", -ENOMEM);
  if ((err = iom_loop_new(IOM_DEFAULT, &r->loop)) < 0)
    return echo_fail("uring: loop", err);
  if ((err = iom_proactor_new(r->loop, IOM_PROACTOR_DEFAULT, &r->p)) < 0)
    return echo_fail("uring: proactor", err);
  if ((err = iom_bufgroup_new(r->p, NBUFS, BUF_SIZE, &r->g)) < 0)
    return echo_fail("uring: buffers", err);
  if ((err = iom_io_new(r->loop, echo_stop_fd, on_stop, r, &r->stop_io)) < 0 ||
      (err = iom_io_start(r->stop_io, IOM_READ)) < 0)
    return echo_fail("uring: stop", err);
  accept_start(r);
  if (!r->accepting)
    return echo_fail("uring: accept", -EINVAL);
  if (echo_stopping) /* a stop came before the watcher was in place */
    stop(r);
  return 0;
}

static void teardown(ring *r) {
  if (r->loop && r->status != 0) { /* failed half-way: drop what is left */
    iom_io_free(r->stop_io);
    r->stop_io = NULL;
    if (r->accepting)
      cancel(r, &r->accept);
  }
  if (r->loop)
    iom_loop_run(r->loop, IOM_RUN_DEFAULT); /* the last ops end */
  if (iom_bufgroup_free(r->g) < 0 || iom_proactor_free(r->p) < 0 ||
      iom_loop_free(r->loop) < 0)
    r->status = echo_fail("uring: teardown", -EBUSY);
  free(r->next_buf);
  free(r->len);
  close(r->listen_fd);
}

static void *serve(void *arg) {
  ring *r = arg;
  r->status = setup(r);
  if (r->status == 0) {
    int err = iom_loop_run(r->loop, IOM_RUN_DEFAULT);
    if (err < 0)
      r->status = echo_fail("uring: loop", err);
  }
  teardown(r);
  return NULL;
}

static void *serve_blocked(void *arg) {
  echo_block_stop_signals(); /* the main thread takes SIGINT/SIGTERM */
  return serve(arg);
}

static int run(const echo_opts *opts, int listen_fd) {
  int n = opts->threads > 0 ? opts->threads : 1;
  ring *rings = calloc((size_t)n, sizeof *rings);
  if (!rings)
    return echo_fail("uring", -ENOMEM);
  int status = 0;
  for (int i = 0; i < n; i++) {
    rings[i] = (ring){.opts = opts, .listen_fd = listen_fd};
    if (i > 0 && (rings[i].listen_fd = listen_again(listen_fd)) < 0) {
      status = echo_fail("uring: listen", rings[i].listen_fd);
      n = i; /* serve with the rings we have */
      break;
    }
  }
  for (int i = 1; i < n; i++)
    pthread_create(&rings[i].thread, NULL, serve_blocked, &rings[i]);
  serve(&rings[0]);
  status |= rings[0].status;
  for (int i = 1; i < n; i++) {
    pthread_join(rings[i].thread, NULL);
    status |= rings[i].status;
  }
  free(rings);
  return status;
}

static const echo_model model = {
    .name = "uring",
    .rank = 97,
    .run = run,
    .waits = "io_uring: one io_uring_enter submits every job and waits",
    .copies = "done by the kernel: multishot recv into provided buffers",
    .reuseport = 1,
};
ECHO_REGISTER(model)
