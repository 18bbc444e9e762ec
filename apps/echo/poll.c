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
 *     queue drains (wants_read), so its memory stays bounded and the others
 *     are served meanwhile;
 *   - POLLHUP and POLLERR come whether asked for or not: they are treated
 *     as readable and writable, so the recv()/send() that follows meets the
 *     error and the client is closed (serve_ready);
 *   - partial send(): the rest is queued and sent when the socket has room
 *     (read_and_echo, flush);
 *   - half-close: recv() returns 0 when the client shuts down its sending
 *     side; we stop reading, send what is queued, then close (serve);
 *   - SIGPIPE: send(..., MSG_NOSIGNAL). A reset or EPIPE ends that client;
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
#define _GNU_SOURCE /* accept4 */
#include "echo.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (16 * 1024) /* one recv() per ready client per wake-up */
#define QUEUE_MAX (ECHO_MAX_PENDING + READ_SIZE)
#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100
#define STOP 0       /* pfds[STOP]: the stop pipe */
#define LISTENER 1   /* pfds[LISTENER]: the listening socket */
#define FIRST_CONN 2 /* pfds[FIRST_CONN ..]: the clients */
#define POLL_FAIL (POLLERR | POLLHUP | POLLNVAL) /* reported unasked */

/* One client: created at accept, freed at close. */
typedef struct conn {
  int fd;
  int eof;   /* the client shut down its sending side: read no more */
  char *out; /* bytes to echo that the kernel has not taken: [head, len) */
  size_t head, len, cap;
} conn;

typedef struct server {
  const echo_opts *opts;
  struct pollfd *pfds;    /* what poll() watches, dense */
  conn **conns;           /* conns[i] is the client of pfds[i] */
  nfds_t n, cap;          /* entries used, entries allocated */
  long long paused_until; /* accept paused (EMFILE) until then; 0: not */
} server;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ---- one client's bytes: the same few functions in every model file ---- */

static size_t pending(const conn *c) { return c->len - c->head; }

/* Reading stops above the mark and after EOF; writing only while queued. */
static int wants_read(const conn *c) {
  return !c->eof && pending(c) <= ECHO_MAX_PENDING;
}
static int wants_write(const conn *c) { return pending(c) > 0; }

static int would_block(void) {
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

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

/* Phase 2, outbound: send what is queued until done or the socket is full.
 * Returns -1 when the client is gone. */
static int flush(conn *c) {
  while (pending(c) > 0) {
    ssize_t n = send(c->fd, c->out + c->head, pending(c), MSG_NOSIGNAL);
    if (n < 0)
      return would_block() ? 0 : -1; /* EPIPE, ECONNRESET: it left */
    c->head += (size_t)n;
  }
  free(c->out); /* drained: an idle client costs only its struct */
  c->out = NULL;
  c->head = c->len = c->cap = 0;
  return 0;
}

/* Phase 2, inbound: one recv(), echoed at once when nothing waits before
 * it (order!); what the kernel will not take is queued. */
static int read_and_echo(conn *c, int upper) {
  static char buf[READ_SIZE]; /* one thread: one buffer for all clients */
  ssize_t n = recv(c->fd, buf, sizeof buf, 0);
  if (n == 0)
    c->eof = 1;
  if (n <= 0)
    return n == 0 || would_block() ? 0 : -1;
  echo_transform(buf, (size_t)n, upper);
  size_t sent = 0;
  if (pending(c) == 0) {
    ssize_t k = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (k < 0 && !would_block())
      return -1;
    sent = k > 0 ? (size_t)k : 0;
  }
  return queue(c, buf + sent, (size_t)n - sent);
}

/* One client poll() reported. Returns -1 when it is finished: gone, or
 * half-closed with everything echoed. */
static int serve(conn *c, int readable, int writable, int upper) {
  if (writable && flush(c) < 0)
    return -1;
  if (readable && wants_read(c) && read_and_echo(c, upper) < 0)
    return -1;
  return c->eof && pending(c) == 0 ? -1 : 0;
}

/* ---- the array ---- */

/* What to ask poll() about c: never 0 for a live client (see serve). */
static short interest(const conn *c) {
  return (short)((wants_read(c) ? POLLIN : 0) | (wants_write(c) ? POLLOUT : 0));
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
  free(c->out);
  free(c);
  s->n--;
  s->pfds[i] = s->pfds[s->n];
  s->conns[i] = s->conns[s->n];
  s->paused_until = 0; /* an fd is free again: try accepting */
}

/* The listener is readable: accept until EAGAIN, at most ACCEPT_BATCH. */
static void accept_some(server *s) {
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd =
        accept4(s->pfds[LISTENER].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      take(s, fd);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
               errno == ENOMEM) {
      /* The connection stays queued, so the listener stays readable. */
      echo_fail("poll: accept paused", -errno);
      s->paused_until = now_ms() + ACCEPT_PAUSE_MS;
      return;
    } /* else ECONNABORTED, EINTR, EPROTO, EPERM: that one is gone, go on */
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
    if (serve(c, re & (POLLIN | POLL_FAIL), re & (POLLOUT | POLL_FAIL),
              s->opts->upper) < 0)
      drop(s, i);
    else
      s->pfds[i].events = interest(c); /* the only per-client update */
  }
}

/* While accepting is paused, the listener asks for nothing and poll() must
 * still wake up when the pause ends. Returns poll()'s timeout. */
static int pause_timeout(server *s) {
  if (s->paused_until && now_ms() >= s->paused_until)
    s->paused_until = 0;
  s->pfds[LISTENER].events = s->paused_until ? 0 : POLLIN;
  if (!s->paused_until)
    return -1; /* wait as long as it takes */
  long long ms = s->paused_until - now_ms();
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
