/* epoll: one thread waits for every client at once, with epoll(7),
 * level-triggered.
 *
 * What it shows: I/O multiplexing that scales with the clients that are
 * ready, not the clients watched. Phase 1 (waiting for data) happens in one
 * place for all clients: epoll_wait() sleeps until some registered socket is
 * ready and returns only the ready ones. Phase 2 (the copy) is ours: one
 * recv() per readable socket, the echo sent at once, and while a recv() or
 * send() copies, every other client waits. The copies never wait for the
 * network: every socket is O_NONBLOCK.
 *
 * This file calls epoll(7) itself rather than the iomux selector library
 * (the reactor model is the library's path), so every cost is in sight.
 * Where select and poll hand the kernel the whole list on every call, epoll
 * keeps the interest list in the kernel: a socket is registered once
 * (EPOLL_CTL_ADD in take), changed when what we want from it changes
 * (EPOLL_CTL_MOD in rearm, and only then: a system call per change), and
 * the kernel puts it on a ready list when its state changes. epoll_wait()
 * copies out that ready list and nothing else; each entry carries back the
 * pointer we registered (data.ptr), so finding the client costs nothing.
 *
 * Level-triggered (the default) means: as long as a socket is readable,
 * every epoll_wait() reports it again. So reading one chunk per wake-up is
 * safe (what is left is reported next time) and fair: a fast client gets
 * one recv() per round like everyone else. The epoll-et model shows the
 * edge-triggered alternative and its price.
 *
 * Classic pitfalls, and where this file handles them:
 *   - "ready" is a hint: a socket epoll reported can still say EAGAIN, and
 *     a blocking one would then hang everybody. All are O_NONBLOCK;
 *   - with level triggering, EPOLLOUT on a socket with nothing queued is
 *     reported on every call: a busy loop. EPOLLOUT only while output waits
 *     (interest, rearm);
 *   - a client that sends and never reads: what the kernel will not take is
 *     queued; above ECHO_MAX_PENDING we drop EPOLLIN until the queue drains
 *     (interest), so its memory stays bounded and the others are served;
 *   - EPOLLHUP and EPOLLERR come whether asked for or not: they are treated
 *     as readable and writable, so the recv()/send() that follows meets the
 *     error and the client is closed (serve_event);
 *   - freeing a client while later entries of the same batch point at it:
 *     a socket appears at most once per batch and only the client being
 *     served is ever freed, so no later entry is stale (serve_event);
 *   - close() removes the socket from the interest list by itself, because
 *     no other fd (dup, fork) shares its open file description here;
 *   - partial send(), half-close (stop reading, send what is queued, then
 *     close), SIGPIPE, and the order and bound of the queue: echo_queue.c,
 *     shared by every non-blocking model (echo_queue_serve);
 *   - accept() at the fd limit (EMFILE) fails while the listener stays
 *     readable, and level triggering would report it forever: its interest
 *     goes to 0 until a client closes or 100 ms pass (accept_some, run_loop);
 *   - a flood of connects: at most ACCEPT_BATCH accepts per wake-up;
 *   - SIGINT/SIGTERM: the stop pipe is registered, so a stop wakes the wait.
 *
 * What it skips: idle timeouts, EPOLLEXCLUSIVE and several threads.
 *
 * Try it:  iomux-echo --model epoll --port 7000 &  nc 127.0.0.1 7000
 */
#include "echo.h"
#include "echo_queue.h"

#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (16 * 1024) /* one recv() per ready client per wake-up */
#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100
#define MAX_EVENTS 256 /* per epoll_wait(); more ready ones wait a round */

/* One client: created at accept, freed at close. */
typedef struct conn {
  int fd;
  unsigned armed; /* the events the kernel has for it now */
  echo_queue q;   /* its output, and whether it has said EOF */
  struct conn *next, **pprev; /* every client, to close them all on stop */
} conn;

typedef struct server {
  const echo_opts *opts;
  int ep, listen_fd;
  int nconns;
  conn *all;
  long long paused_until; /* accept paused (EMFILE) until then; 0: not */
  int listening;          /* the listener's interest is EPOLLIN (not 0) */
  char in[READ_SIZE];     /* every recv() lands here: one thread, one buffer */
} server;

/* epoll hands data.ptr back untouched: a client's points at its conn, the
 * listener's and the stop pipe's at these two markers. */
static char listener_mark, stop_mark;

/* ---- registration ---- */

/* What to ask epoll about c: never 0 for a live client (a client that
 * wants neither is done, and echo_queue_serve() said so). */
static unsigned interest(const conn *c) {
  return (echo_queue_wants_read(&c->q) ? EPOLLIN : 0u) |
         (echo_queue_wants_write(&c->q) ? EPOLLOUT : 0u);
}

/* Tell the kernel what c wants now, if that changed: most rounds it has
 * not, and then this costs no system call. */
static int rearm(server *s, conn *c) {
  unsigned want = interest(c);
  if (want == c->armed)
    return 0;
  struct epoll_event ev = {.events = want, .data.ptr = c};
  if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
    return -1;
  c->armed = want;
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

static void take(server *s, int fd) {
  conn *c = s->nconns < s->opts->max_conns ? calloc(1, sizeof *c) : NULL;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (!c || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    free(c); /* over --max-conns, or out of memory */
    close(fd);
    return;
  }
  c->fd = fd;
  c->armed = EPOLLIN;
  c->next = s->all;
  c->pprev = &s->all;
  if (s->all)
    s->all->pprev = &c->next;
  s->all = c;
  s->nconns++;
}

/* The listener's interest: EPOLLIN, or 0 while accepting is paused. */
static void listen_for(server *s, int on) {
  if (on == s->listening)
    return;
  struct epoll_event ev = {.events = on ? EPOLLIN : 0u,
                           .data.ptr = &listener_mark};
  if (epoll_ctl(s->ep, EPOLL_CTL_MOD, s->listen_fd, &ev) == 0)
    s->listening = on;
}

/* The listener is readable: accept until EAGAIN, at most ACCEPT_BATCH. */
static void accept_some(server *s) {
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd = echo_accept(s->listen_fd, "epoll");
    if (fd >= 0) {
      take(s, fd);
      continue;
    }
    if (fd != -EAGAIN) /* out of fds: the listener stays ready, wait */
      s->paused_until = app_now_ms() + ACCEPT_PAUSE_MS;
    return;
  }
}

/* ---- the loop ---- */

/* One entry of the batch. Returns 1 when a stop was requested. */
static int serve_event(server *s, const struct epoll_event *ev) {
  if (ev->data.ptr == &stop_mark)
    return 1;
  if (ev->data.ptr == &listener_mark) {
    accept_some(s); /* new clients are not in this batch */
    return 0;
  }
  conn *c = ev->data.ptr;
  unsigned fail = EPOLLERR | EPOLLHUP;
  if (echo_queue_serve(&c->q, c->fd, ev->events & (EPOLLIN | fail),
                       ev->events & (EPOLLOUT | fail), s->in, sizeof s->in,
                       s->opts->upper) < 0 ||
      rearm(s, c) < 0)
    drop(s, c); /* only this client: no later entry can point at it */
  return 0;
}

/* While accepting is paused the listener asks for nothing, and the wait
 * must still end when the pause does. Returns epoll_wait()'s timeout. */
static int pause_timeout(server *s) {
  if (s->paused_until && app_now_ms() >= s->paused_until)
    s->paused_until = 0;
  listen_for(s, !s->paused_until);
  if (!s->paused_until)
    return -1; /* wait as long as it takes */
  long long ms = s->paused_until - app_now_ms();
  return ms > 0 ? (int)ms : 0;
}

static int run_loop(server *s) {
  struct epoll_event evs[MAX_EVENTS];
  for (;;) {
    int timeout = pause_timeout(s);
    int n = epoll_wait(s->ep, evs, MAX_EVENTS, timeout); /* phase 1 */
    if (echo_stopping)
      return 0;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return echo_fail("epoll_wait", -errno);
    for (int i = 0; i < n; i++) /* only the ready ones: no scan */
      if (serve_event(s, &evs[i]))
        return 0;
  }
}

static int setup(server *s) {
  int flags = fcntl(s->listen_fd, F_GETFL);
  if (flags < 0 || fcntl(s->listen_fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return echo_fail("epoll: listener", -errno);
  s->ep = epoll_create1(EPOLL_CLOEXEC);
  if (s->ep < 0)
    return echo_fail("epoll_create1", -errno);
  struct epoll_event stop = {.events = EPOLLIN, .data.ptr = &stop_mark};
  struct epoll_event lis = {.events = EPOLLIN, .data.ptr = &listener_mark};
  if (epoll_ctl(s->ep, EPOLL_CTL_ADD, echo_stop_fd, &stop) < 0 ||
      epoll_ctl(s->ep, EPOLL_CTL_ADD, s->listen_fd, &lis) < 0)
    return echo_fail("epoll_ctl", -errno);
  s->listening = 1;
  return 0;
}

static int run(const echo_opts *opts, int listen_fd) {
  int err = echo_catch_stop();
  if (err < 0)
    return echo_fail("epoll: signals", err);
  server s = {.opts = opts, .ep = -1, .listen_fd = listen_fd};
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
    .name = "epoll",
    .rank = 70,
    .run = run,
    .waits = "blocked in epoll_wait(), level-triggered; gets only ready fds",
    .copies = "recv/send on the ready sockets (non-blocking, one at a time)",
};
ECHO_REGISTER(model)
