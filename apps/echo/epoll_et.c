/* epoll-et: one thread waits for every client at once, with epoll(7),
 * edge-triggered (EPOLLET).
 *
 * What it shows: epoll's other mode. Phase 1 (waiting for data) happens in
 * epoll_wait(), as in the epoll model, but the kernel reports a socket when
 * its state changes (bytes arrived, room appeared), not while the state
 * holds. Each client is registered once with EPOLLIN | EPOLLOUT |
 * EPOLLRDHUP | EPOLLET (take) and never touched again: no epoll_ctl(MOD)
 * as interest changes, and EPOLLOUT can stay on because an edge-triggered
 * "writable" comes once per change, not on every call (in the level-
 * triggered model that is the busy-loop pitfall). Phase 2 (the copy) is
 * ours: recv()/send() on O_NONBLOCK sockets, one client at a time.
 *
 * This file calls epoll(7) itself rather than the iomux selector library
 * (the reactor model is the library's path), so every cost is in sight.
 *
 * The price of edges is that we must remember what the kernel told us once.
 * Each client keeps two flags: readable (an EPOLLIN edge came and recv() has
 * not said EAGAIN since) and writable (likewise for EPOLLOUT and send()).
 *
 * The classic ET pitfalls, and this file's answers:
 *   - the lost edge: read only part of what is there and no new report
 *     comes until the client sends again; if it is waiting for its echo, it
 *     never will, and the connection hangs. The textbook answer is to drain
 *     to EAGAIN on every event.
 *   - starvation: but a fast client refills its socket as fast as we drain
 *     it, and "drain to EAGAIN" then serves it forever while the others
 *     wait. So a client gets at most QUOTA bytes read per round (serve);
 *     if its socket may still hold bytes (readable, no EAGAIN yet) it goes
 *     on a ready list that the loop serves before it blocks again:
 *     epoll_wait() has timeout 0 while that list is not empty (wait_timeout),
 *     so new events are still collected every round, the others get their
 *     turn, and no edge is lost: the flag remembers it.
 *   - the paused client: a client that sends and never reads has its queue
 *     above ECHO_MAX_PENDING, so we stop reading it (wants_read) and it
 *     leaves the ready list, keeping its readable flag: the edge for the
 *     bytes still in its socket has passed and will not come again. The
 *     EPOLLOUT edge that lets its queue drain puts it back on the ready
 *     list (note_event), and serve() reads again from the remembered flag.
 *   - the owed EPOLLOUT edge: one comes only after send() has met a full
 *     socket. serve() ends with flush() whenever output waits and the socket
 *     is writable, so either the queue is empty or send() has said EAGAIN
 *     and the next edge is owed to us.
 *   - the listener is edge-triggered too: accept() runs until EAGAIN, but at
 *     most ACCEPT_BATCH per round; accept_ready remembers the rest.
 * And the pitfalls every multiplexing model shares:
 *   - "ready" is a hint: every socket is O_NONBLOCK, and a blocking one
 *     would hang everybody (and with ET, never reach EAGAIN);
 *   - EPOLLRDHUP (the client half-closed) and EPOLLHUP/EPOLLERR count as
 *     readable, and the latter two as writable, so recv()/send() meet the
 *     EOF or the error (note_event);
 *   - partial send(): the rest is queued (read_and_echo, flush);
 *   - half-close: recv() returns 0; we stop reading, send what is queued,
 *     then close (serve);
 *   - SIGPIPE: send(..., MSG_NOSIGNAL). A reset or EPIPE ends that client;
 *   - accept() at the fd limit (EMFILE): stop accepting until a client
 *     closes or 100 ms pass; accept_ready still says connections wait;
 *   - SIGINT/SIGTERM: the stop pipe is registered, so a stop wakes the wait;
 *   - freeing a client that a later entry still points at: events only set
 *     flags and fill the ready list; clients are served, and freed, after
 *     the whole batch is read (run_loop).
 *
 * What it skips: idle timeouts, and several threads sharing one epoll (where
 * EPOLLONESHOT or EPOLLEXCLUSIVE would come in).
 *
 * Try it:  iomux-echo --model epoll-et --port 7000 &  nc 127.0.0.1 7000
 */
#define _GNU_SOURCE /* accept4, EPOLLRDHUP */
#include "echo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (16 * 1024)
#define QUOTA (64 * 1024) /* read per client per round, then the others */
#define QUEUE_MAX (ECHO_MAX_PENDING + READ_SIZE)
#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100
#define MAX_EVENTS 256 /* per epoll_wait(); the kernel keeps the rest */

/* One client: created at accept, freed at close. */
typedef struct conn {
  int fd;
  int eof;      /* the client shut down its sending side: read no more */
  int readable; /* EPOLLIN edge seen, recv() has not said EAGAIN since */
  int writable; /* EPOLLOUT edge seen, send() has not said EAGAIN since */
  int on_ready; /* linked in the server's ready list */
  char *out;    /* bytes to echo that the kernel has not taken: [head, len) */
  size_t head, len, cap;
  struct conn *ready_next;    /* the ready list */
  struct conn *next, **pprev; /* every client, to close them all on stop */
} conn;

typedef struct server {
  const echo_opts *opts;
  int ep, listen_fd;
  int nconns;
  conn *all;
  conn *ready, **ready_tail; /* clients with work left, served in order */
  int accept_ready;       /* listener edge seen, accept() has not said EAGAIN */
  long long paused_until; /* accept paused (EMFILE) until then; 0: not */
} server;

/* epoll hands data.ptr back untouched: a client's points at its conn, the
 * listener's and the stop pipe's at these two markers. */
static char listener_mark, stop_mark;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ---- one client's bytes: the same few functions in every model file, ----
 * ---- plus the two flags that edge triggering needs                    ---- */

static size_t pending(const conn *c) { return c->len - c->head; }

/* Reading stops above the mark and after EOF. */
static int wants_read(const conn *c) {
  return !c->eof && pending(c) <= ECHO_MAX_PENDING;
}

/* EAGAIN: the socket is drained (or full); only a new edge changes that.
 * EINTR is not EAGAIN: the state is unknown, so the call is retried. */
static int at_eagain(void) { return errno == EAGAIN || errno == EWOULDBLOCK; }

/* Keep what the kernel would not take yet, after what already waits. Only
 * called after a read, and reads happen only while wants_read(), so the
 * queue never holds more than QUEUE_MAX bytes. */
static int queue(conn *c, const char *p, size_t n) {
  if (n == 0)
    return 0;
  if (c->len + n > c->cap && c->head > 0) { /* slide the rest to the front */
    memmove(c->out, c->out + c->head, pending(c));
    c->len -= c->head;
    c->head = 0;
  }
  if (c->len + n > c->cap) {
    size_t cap = c->cap ? c->cap : READ_SIZE;
    while (cap < c->len + n)
      cap *= 2;
    cap = cap < QUEUE_MAX ? cap : QUEUE_MAX;
    char *out = realloc(c->out, cap);
    if (!out)
      return -1;
    c->out = out;
    c->cap = cap;
  }
  memcpy(c->out + c->len, p, n);
  c->len += n;
  return 0;
}

/* Phase 2, outbound: send what is queued until done or EAGAIN. Returns -1
 * when the client is gone. */
static int flush(conn *c) {
  while (pending(c) > 0) {
    ssize_t n = send(c->fd, c->out + c->head, pending(c), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && at_eagain()) {
      c->writable = 0; /* full: the next EPOLLOUT edge is owed to us */
      return 0;
    }
    if (n < 0)
      return -1; /* EPIPE, ECONNRESET: it left */
    c->head += (size_t)n;
  }
  free(c->out); /* drained: an idle client costs only its struct */
  c->out = NULL;
  c->head = c->len = c->cap = 0;
  return 0;
}

/* Phase 2, inbound: one recv(), echoed at once when nothing waits before
 * it (order!) and the socket has room; the rest is queued. Returns the
 * bytes read (0 at EAGAIN, which clears readable, or EOF), -1 when the
 * client is gone. */
static ssize_t read_and_echo(conn *c, int upper) {
  static char buf[READ_SIZE]; /* one thread: one buffer for all clients */
  ssize_t n = recv(c->fd, buf, sizeof buf, 0);
  if (n < 0 && at_eagain())
    c->readable = 0;
  if (n == 0)
    c->eof = 1;
  if (n <= 0)
    return n == 0 || at_eagain() || errno == EINTR ? 0 : -1;
  echo_transform(buf, (size_t)n, upper);
  size_t sent = 0;
  if (pending(c) == 0 && c->writable) {
    ssize_t k = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (k < 0 && at_eagain())
      c->writable = 0;
    else if (k < 0 && errno != EINTR)
      return -1;
    sent = k > 0 ? (size_t)k : 0;
  }
  return queue(c, buf + sent, (size_t)n - sent) < 0 ? -1 : n;
}

/* ---- the ready list ---- */

static void make_ready(server *s, conn *c) {
  if (c->on_ready)
    return;
  c->on_ready = 1;
  c->ready_next = NULL;
  *s->ready_tail = c;
  s->ready_tail = &c->ready_next;
}

/* One turn for c: flush, read at most QUOTA, flush. Returns -1 when it is
 * finished: gone, or half-closed with everything echoed. */
static int serve(server *s, conn *c) {
  if (c->writable && flush(c) < 0) /* a paused client resumes reading here */
    return -1;
  size_t quota = QUOTA;
  while (c->readable && wants_read(c) && quota > 0) {
    ssize_t n = read_and_echo(c, s->opts->upper);
    if (n < 0)
      return -1;
    quota -= (size_t)n < quota ? (size_t)n : quota;
  }
  if (c->writable && flush(c) < 0) /* a partial send queued the rest */
    return -1;
  if (c->eof && pending(c) == 0)
    return -1;
  if (c->readable && wants_read(c))
    make_ready(s, c); /* quota spent, bytes may be left: no edge will say */
  return 0;
}

static void drop(server *s, conn *c) {
  close(c->fd); /* also leaves the interest list */
  *c->pprev = c->next;
  if (c->next)
    c->next->pprev = c->pprev;
  free(c->out);
  free(c);
  s->nconns--;
  s->paused_until = 0; /* an fd is free again: try accepting */
}

/* Everyone on the ready list gets one turn, in order. Whoever still has
 * work joins a fresh list, served after the next epoll_wait(). */
static void serve_ready(server *s) {
  conn *c = s->ready;
  s->ready = NULL;
  s->ready_tail = &s->ready;
  while (c) {
    conn *next = c->ready_next;
    c->on_ready = 0;
    if (serve(s, c) < 0)
      drop(s, c); /* only c: `next` and the rest are untouched */
    c = next;
  }
}

/* ---- accepting ---- */

/* Registered once, for everything, edge-triggered: no epoll_ctl after this.
 * The ADD reports the socket's current state as its first edge. */
static void take(server *s, int fd) {
  conn *c = s->nconns < s->opts->max_conns ? calloc(1, sizeof *c) : NULL;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                           .data.ptr = c};
  if (!c || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    free(c); /* over --max-conns, or out of memory */
    close(fd);
    return;
  }
  c->fd = fd;
  c->writable = 1; /* a new socket has room; EAGAIN will say otherwise */
  c->next = s->all;
  c->pprev = &s->all;
  if (s->all)
    s->all->pprev = &c->next;
  s->all = c;
  s->nconns++;
}

/* The listener had an edge: accept until EAGAIN, but at most ACCEPT_BATCH
 * per round; accept_ready stays set while connections may be left. */
static void accept_some(server *s) {
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      take(s, fd);
    } else if (at_eagain()) {
      s->accept_ready = 0; /* the next connection brings a new edge */
      return;
    } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
               errno == ENOMEM) {
      echo_fail("epoll-et: accept paused", -errno);
      s->paused_until = now_ms() + ACCEPT_PAUSE_MS;
      return;
    } /* else ECONNABORTED, EINTR, EPROTO, EPERM: that one is gone, go on */
  }
}

/* ---- the loop ---- */

/* One entry of the batch: remember the edge, queue the client. Nothing is
 * served (or freed) here. Returns 1 when a stop was requested. */
static int note_event(server *s, const struct epoll_event *ev) {
  if (ev->data.ptr == &stop_mark)
    return 1;
  if (ev->data.ptr == &listener_mark) {
    s->accept_ready = 1;
    return 0;
  }
  conn *c = ev->data.ptr;
  unsigned fail = EPOLLERR | EPOLLHUP;
  if (ev->events & (EPOLLIN | EPOLLRDHUP | fail))
    c->readable = 1;
  if (ev->events & (EPOLLOUT | fail))
    c->writable = 1; /* a paused client's way back to the ready list */
  make_ready(s, c);
  return 0;
}

/* Block only when nothing is left to do; while clients are on the ready
 * list (or connections wait), just collect new edges and go on. */
static int wait_timeout(server *s) {
  if (s->paused_until && now_ms() >= s->paused_until)
    s->paused_until = 0;
  if (s->ready || (s->accept_ready && !s->paused_until))
    return 0;
  if (!s->paused_until)
    return -1; /* wait as long as it takes */
  long long ms = s->paused_until - now_ms();
  return ms > 0 ? (int)ms : 0;
}

static int run_loop(server *s) {
  struct epoll_event evs[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(s->ep, evs, MAX_EVENTS, wait_timeout(s)); /* phase 1 */
    if (echo_stopping)
      return 0;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return echo_fail("epoll_wait", -errno);
    for (int i = 0; i < n; i++)
      if (note_event(s, &evs[i]))
        return 0;
    if (s->accept_ready && !s->paused_until)
      accept_some(s);
    serve_ready(s);
  }
}

static int setup(server *s) {
  int flags = fcntl(s->listen_fd, F_GETFL);
  if (flags < 0 || fcntl(s->listen_fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return echo_fail("epoll-et: listener", -errno);
  s->ep = epoll_create1(EPOLL_CLOEXEC);
  if (s->ep < 0)
    return echo_fail("epoll_create1", -errno);
  /* The stop pipe is level-triggered: its first report ends the loop. */
  struct epoll_event stop = {.events = EPOLLIN, .data.ptr = &stop_mark};
  struct epoll_event lis = {.events = EPOLLIN | EPOLLET,
                            .data.ptr = &listener_mark};
  if (epoll_ctl(s->ep, EPOLL_CTL_ADD, echo_stop_fd, &stop) < 0 ||
      epoll_ctl(s->ep, EPOLL_CTL_ADD, s->listen_fd, &lis) < 0)
    return echo_fail("epoll_ctl", -errno);
  s->accept_ready = 1; /* connections may have queued before the ADD */
  return 0;
}

static int run(const echo_opts *opts, int listen_fd) {
  int err = echo_catch_stop();
  if (err < 0)
    return echo_fail("epoll-et: signals", err);
  server s = {.opts = opts, .ep = -1, .listen_fd = listen_fd};
  s.ready_tail = &s.ready;
  int status = setup(&s);
  if (status == 0)
    status = run_loop(&s);
  while (s.all)
    drop(&s, s.all);
  if (s.ep >= 0)
    close(s.ep);
  return status;
}

static const echo_model model = {
    .name = "epoll-et",
    .rank = 80,
    .run = run,
    .waits = "epoll_wait(), edge-triggered: drains to EAGAIN, a quota a turn",
    .copies = "recv/send on the ready sockets (non-blocking, one at a time)",
};
ECHO_REGISTER(model)
