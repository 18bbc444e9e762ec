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
 * not said EAGAIN since), and its queue's `full`, the other way round (a
 * send() said EAGAIN and no EPOLLOUT edge has come since: the queue sets
 * it, note_event clears it).
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
 *     above ECHO_MAX_PENDING, so we stop reading it (echo_queue_wants_read)
 *     and it leaves the ready list, keeping its readable flag: the edge for
 *     the bytes still in its socket has passed and will not come again. The
 *     EPOLLOUT edge that lets its queue drain puts it back on the ready
 *     list (note_event), and serve() reads again from the remembered flag.
 *   - the owed EPOLLOUT edge: one comes only after send() has met a full
 *     socket. A read step sends once and queues what a partial send() left,
 *     so serve() ends with echo_queue_flush() whenever output waits and the
 *     socket is not known to be full: either the queue is empty or send()
 *     has said EAGAIN and the next edge is owed to us.
 *   - the listener is edge-triggered too: accept() runs until EAGAIN, but at
 *     most ACCEPT_BATCH per round; accept_ready remembers the rest.
 * And the pitfalls every multiplexing model shares:
 *   - "ready" is a hint: every socket is O_NONBLOCK, and a blocking one
 *     would hang everybody (and with ET, never reach EAGAIN);
 *   - EPOLLRDHUP (the client half-closed) and EPOLLHUP/EPOLLERR count as
 *     readable, and the latter two as writable, so recv()/send() meet the
 *     EOF or the error (note_event);
 *   - partial send(), half-close (stop reading, send what is queued, then
 *     close), SIGPIPE, and the order and bound of the queue: echo_queue.c,
 *     shared by every non-blocking model (the read step and flush in serve);
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
#define _GNU_SOURCE /* EPOLLRDHUP */
#include "echo.h"
#include "echo_queue.h"

#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (16 * 1024) /* one recv(); QUOTA allows several a round */
#define QUOTA (64 * 1024) /* read per client per round, then the others */
#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100
#define MAX_EVENTS 256 /* per epoll_wait(); the kernel keeps the rest */

/* One client: created at accept, freed at close. */
typedef struct conn {
  int fd;
  int readable; /* EPOLLIN edge seen, recv() has not said EAGAIN since */
  int on_ready; /* linked in the server's ready list */
  echo_queue q; /* its output, EOF, and q.full: send() said EAGAIN and no
                 * EPOLLOUT edge has come since (a new socket has room) */
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
  char in[READ_SIZE];     /* every recv() lands here: one thread, one buffer */
} server;

/* epoll hands data.ptr back untouched: a client's points at its conn, the
 * listener's and the stop pipe's at these two markers. */
static char listener_mark, stop_mark;

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
  echo_queue *q = &c->q;
  /* Room came: send the queue (a paused client resumes reading here). */
  if (!q->full && echo_queue_flush(q, c->fd) < 0)
    return -1;
  size_t quota = QUOTA;
  while (c->readable && echo_queue_wants_read(q) && quota > 0) {
    ssize_t n = echo_queue_read(q, c->fd, s->in, sizeof s->in, s->opts->upper);
    if (n < 0)
      return -1;
    if (n == 0 && !q->eof)
      c->readable = 0; /* EAGAIN: drained; the next EPOLLIN edge will say */
    quota -= (size_t)n < quota ? (size_t)n : quota;
  }
  /* A partial send() queued the rest: send it until done or EAGAIN, so the
   * next EPOLLOUT edge is owed to us. */
  if (!q->full && echo_queue_flush(q, c->fd) < 0)
    return -1;
  if (echo_queue_done(q))
    return -1;
  if (c->readable && echo_queue_wants_read(q))
    make_ready(s, c); /* quota spent, bytes may be left: no edge will say */
  return 0;
}

static void drop(server *s, conn *c) {
  close(c->fd); /* also leaves the interest list */
  *c->pprev = c->next;
  if (c->next)
    c->next->pprev = c->pprev;
  echo_queue_free(&c->q);
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
  c->fd = fd; /* c->q.full is 0: a new socket has room */
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
    int fd = echo_accept(s->listen_fd, "epoll-et");
    if (fd >= 0) {
      take(s, fd);
      continue;
    }
    if (fd == -EAGAIN)
      s->accept_ready = 0; /* the next connection brings a new edge */
    else /* out of fds: the listener stays ready, wait */
      s->paused_until = app_now_ms() + ACCEPT_PAUSE_MS;
    return;
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
    c->q.full = 0; /* room: a paused client's way back to the ready list */
  make_ready(s, c);
  return 0;
}

/* Block only when nothing is left to do; while clients are on the ready
 * list (or connections wait), just collect new edges and go on. */
static int wait_timeout(server *s) {
  if (s->paused_until && app_now_ms() >= s->paused_until)
    s->paused_until = 0;
  if (s->ready || (s->accept_ready && !s->paused_until))
    return 0;
  if (!s->paused_until)
    return -1; /* wait as long as it takes */
  long long ms = s->paused_until - app_now_ms();
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
