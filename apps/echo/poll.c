/* poll: one thread waits for every client at once, with poll(2).
 *
 * What it shows: I/O multiplexing without select()'s bitmap. Phase 1
 * (waiting for data) happens in one place for all clients: poll() sleeps
 * until some entry of an array of { fd, events, revents } is ready. Phase 2
 * (the copy) is ours: one recv() per readable socket, the echo sent at once,
 * and while a recv() or send() copies, every other client waits. The copies
 * never wait for the network: every socket is O_NONBLOCK.
 *
 * This file calls poll(2) itself rather than the iomux selector library
 * (the reactor model is the library's path), so every cost is in sight.
 * What poll fixes, next to select: no FD_SETSIZE limit (any fd number, as
 * many as the array holds), and the question (events) is kept apart from
 * the answer (revents), so the array is not rebuilt before each call; an
 * entry changes only when that client's interest does (serve_ready). What
 * it keeps: every call copies the whole array into the kernel, which polls
 * every entry, and our loop then scans every entry for revents: the cost
 * grows with the number of clients watched, not the number ready. That is
 * the cost epoll removes.
 *
 * The array is dense: pfds[0] is the stop pipe, pfds[1] the listener, then
 * one entry per client, with its state at the same index in conns[]. A
 * closed client's slot is filled by the last one (drop), so there are no
 * holes to skip; the scan runs from the end so each moved entry has been
 * served already.
 *
 * Classic pitfalls, and where this file handles them:
 *   - "ready" is a hint: a socket poll() reported can still say EAGAIN, and
 *     a blocking one would then hang everybody. All are O_NONBLOCK;
 *   - asking for POLLOUT while nothing is queued makes poll() return at
 *     once, forever: a busy loop. POLLOUT only while output waits (interest);
 *   - a client that sends and never reads: what the kernel will not take is
 *     queued; above ECHO_MAX_PENDING we stop asking for POLLIN until the
 *     queue drains (interest), so its memory stays bounded and the others
 *     are served meanwhile;
 *   - POLLHUP and POLLERR come whether asked for or not: they are treated
 *     as readable and writable, so the recv()/send() that follows meets the
 *     error and the client is closed (serve_ready);
 *   - partial send(), half-close (stop reading, send what is queued, then
 *     close), SIGPIPE, and the order and bound of the queue: echo_queue.c,
 *     shared by every non-blocking model (echo_queue_serve);
 *   - accept() at the fd limit (EMFILE) fails while the listener stays
 *     readable: watching it would spin. Its events go to 0 until a client
 *     closes or 100 ms pass (accept_some, run_loop);
 *   - a flood of connects: at most ACCEPT_BATCH accepts per wake-up;
 *   - SIGINT/SIGTERM: the stop pipe is in the array, so a stop wakes poll().
 *
 * What it skips: idle timeouts, and shrinking the arrays after a peak.
 *
 * Try it:  iomux-echo --model poll --port 7000 &  nc 127.0.0.1 7000
 */
#include "echo.h"
#include "echo_queue.h"

#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (16 * 1024) /* one recv() per ready client per wake-up */
#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100
#define STOP 0       /* pfds[STOP]: the stop pipe */
#define LISTENER 1   /* pfds[LISTENER]: the listening socket */
#define FIRST_CONN 2 /* pfds[FIRST_CONN ..]: the clients */
#define POLL_FAIL (POLLERR | POLLHUP | POLLNVAL) /* reported unasked */

/* One client: created at accept, freed at close. */
typedef struct conn {
  int fd;
  echo_queue q; /* its output, and whether it has said EOF */
} conn;

typedef struct server {
  const echo_opts *opts;
  struct pollfd *pfds;    /* what poll() watches, dense */
  conn **conns;           /* conns[i] is the client of pfds[i] */
  nfds_t n, cap;          /* entries used, entries allocated */
  long long paused_until; /* accept paused (EMFILE) until then; 0: not */
  char in[READ_SIZE];     /* every recv() lands here: one thread, one buffer */
} server;

/* ---- the array ---- */

/* What to ask poll() about c: never 0 for a live client (a client that
 * wants neither is done, and echo_queue_serve() said so). */
static short interest(const conn *c) {
  return (short)((echo_queue_wants_read(&c->q) ? POLLIN : 0) |
                 (echo_queue_wants_write(&c->q) ? POLLOUT : 0));
}

static int grow(server *s) {
  if (s->n < s->cap)
    return 0;
  nfds_t cap = s->cap * 2;
  struct pollfd *pfds = realloc(s->pfds, cap * sizeof *pfds);
  if (!pfds)
    return -1;
  s->pfds = pfds;
  conn **conns = realloc(s->conns, cap * sizeof *conns);
  if (!conns)
    return -1; /* pfds is merely roomier than needed */
  s->conns = conns;
  s->cap = cap;
  return 0;
}

static void take(server *s, int fd) {
  conn *c = NULL;
  if (s->n - FIRST_CONN < (nfds_t)s->opts->max_conns && grow(s) == 0)
    c = calloc(1, sizeof *c);
  if (!c) { /* over --max-conns, or out of memory */
    close(fd);
    return;
  }
  c->fd = fd;
  s->conns[s->n] = c;
  s->pfds[s->n] = (struct pollfd){.fd = fd, .events = POLLIN};
  s->n++;
}

/* Close the client in slot i; the last entry moves into the hole. */
static void drop(server *s, nfds_t i) {
  conn *c = s->conns[i];
  close(c->fd);
  echo_queue_free(&c->q);
  free(c);
  s->n--;
  s->pfds[i] = s->pfds[s->n];
  s->conns[i] = s->conns[s->n];
  s->paused_until = 0; /* an fd is free again: try accepting */
}

/* The listener is readable: accept until EAGAIN, at most ACCEPT_BATCH. */
static void accept_some(server *s) {
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd = echo_accept(s->pfds[LISTENER].fd, "poll");
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

/* The scan poll() makes us do: every entry, for its revents. From the end,
 * so the entry drop() moves into slot i has already been served. */
static void serve_ready(server *s) {
  for (nfds_t i = s->n; i-- > FIRST_CONN;) {
    short re = s->pfds[i].revents;
    if (!re)
      continue;
    conn *c = s->conns[i];
    if (echo_queue_serve(&c->q, c->fd, re & (POLLIN | POLL_FAIL),
                         re & (POLLOUT | POLL_FAIL), s->in, sizeof s->in,
                         s->opts->upper) < 0)
      drop(s, i);
    else
      s->pfds[i].events = interest(c); /* the only per-client update */
  }
}

/* While accepting is paused, the listener asks for nothing and poll() must
 * still wake up when the pause ends. Returns poll()'s timeout. */
static int pause_timeout(server *s) {
  if (s->paused_until && app_now_ms() >= s->paused_until)
    s->paused_until = 0;
  s->pfds[LISTENER].events = s->paused_until ? 0 : POLLIN;
  if (!s->paused_until)
    return -1; /* wait as long as it takes */
  long long ms = s->paused_until - app_now_ms();
  return ms > 0 ? (int)ms : 0;
}

static int run_loop(server *s) {
  for (;;) {
    int timeout = pause_timeout(s);
    int n = poll(s->pfds, s->n, timeout); /* phase 1, for all */
    if (echo_stopping)
      return 0;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return echo_fail("poll", -errno);
    if (s->pfds[STOP].revents)
      return 0;
    serve_ready(s);
    if (s->pfds[LISTENER].revents & POLLIN)
      accept_some(s); /* new entries start with revents 0 */
  }
}

static int run(const echo_opts *opts, int listen_fd) {
  int err = echo_catch_stop();
  if (err < 0)
    return echo_fail("poll: signals", err);
  int flags = fcntl(listen_fd, F_GETFL);
  if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return echo_fail("poll: listener", -errno);
  server s = {.opts = opts, .n = FIRST_CONN, .cap = 64};
  s.pfds = malloc(s.cap * sizeof *s.pfds);
  s.conns = malloc(s.cap * sizeof *s.conns);
  int status = 1;
  if (!s.pfds || !s.conns) {
    echo_fail("poll", -ENOMEM);
  } else {
    s.pfds[STOP] = (struct pollfd){.fd = echo_stop_fd, .events = POLLIN};
    s.pfds[LISTENER] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
    status = run_loop(&s);
    while (s.n > FIRST_CONN)
      drop(&s, s.n - 1);
  }
  free(s.pfds);
  free(s.conns);
  return status;
}

static const echo_model model = {
    .name = "poll",
    .rank = 60,
    .run = run,
    .waits = "blocked in poll() on one array of all sockets, scanned per call",
    .copies = "recv/send on the ready sockets (non-blocking, one at a time)",
};
ECHO_REGISTER(model)
