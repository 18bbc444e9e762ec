/* select: one thread waits for every client at once, with select(2).
 *
 * What it shows: I/O multiplexing, the oldest way. Phase 1 (waiting for
 * data) happens in one place for all clients: select() sleeps until a socket
 * in the read set has bytes (or EOF) or a socket in the write set has room.
 * Phase 2 (the copy) is still ours: one recv() per readable socket, the
 * echo sent at once, and while a recv() or send() copies, every other client
 * waits. The copies never wait for the network, though: every socket is
 * O_NONBLOCK, so the wait happens only in select().
 *
 * This file calls select(2) itself rather than the iomux selector library
 * (the reactor model is the library's path), so every cost is in sight:
 *   - an fd_set is a bitmap of FD_SETSIZE (1024) bits indexed by fd number;
 *     select() overwrites it with its answer, so both sets are rebuilt from
 *     the connection table before every call (build_sets);
 *   - the kernel scans every fd from 0 up to the highest one passed on each
 *     call, and our loop scans them all again to find the ready ones
 *     (serve_ready): the cost grows with the highest fd watched, not with
 *     the number of clients ready. That is the cost epoll removes.
 *
 * Classic pitfalls, and where this file handles them:
 *   - FD_SET() on an fd >= FD_SETSIZE writes past the bitmap: silent memory
 *     corruption, not an error. Such a connection is refused (take);
 *   - "ready" is a hint: a socket select() reported can still say EAGAIN,
 *     and a blocking one would then hang everybody. All are O_NONBLOCK;
 *   - asking for writability while nothing is queued makes select() return
 *     at once, forever: a busy loop. A socket is in the write set only
 *     while its output waits (build_sets);
 *   - a client that sends and never reads: what the kernel will not take is
 *     queued; above ECHO_MAX_PENDING its fd leaves the read set until the
 *     queue drains (build_sets), so its memory stays bounded and the others
 *     are served meanwhile;
 *   - partial send(), half-close (stop reading, send what is queued, then
 *     close), SIGPIPE, and the order and bound of the queue: echo_queue.c,
 *     shared by every non-blocking model (echo_queue_serve);
 *   - accept() at the fd limit (EMFILE) fails while the listener stays
 *     readable: watching it would spin. It leaves the read set until a
 *     client closes or 100 ms pass (accept_some, run_loop);
 *   - a flood of connects: at most ACCEPT_BATCH accepts per wake-up, so the
 *     clients already connected are served in between;
 *   - SIGINT/SIGTERM: the stop pipe is in the read set, so a stop wakes
 *     select() even when no client does.
 *
 * What it skips: idle timeouts, and more than FD_SETSIZE fds (use poll or
 * epoll: that limit is why they exist).
 *
 * Try it:  iomux-echo --model select --port 7000 &  nc 127.0.0.1 7000
 */
#include "echo.h"
#include "echo_queue.h"

#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (16 * 1024) /* one recv() per ready client per wake-up */
#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100

/* One client: created at accept, freed at close. */
typedef struct conn {
  int fd;
  echo_queue q; /* its output, and whether it has said EOF */
} conn;

typedef struct server {
  const echo_opts *opts;
  int listen_fd;
  conn *conns[FD_SETSIZE]; /* by fd: select() cannot watch more anyway */
  int max_fd;              /* highest fd in conns[], -1 when none */
  int nconns;
  long long paused_until; /* accept paused (EMFILE) until then; 0: not */
  char in[READ_SIZE];     /* every recv() lands here: one thread, one buffer */
} server;

/* ---- the connection table ---- */

static void drop(server *s, conn *c) {
  s->conns[c->fd] = NULL;
  while (s->max_fd >= 0 && !s->conns[s->max_fd])
    s->max_fd--;
  close(c->fd);
  echo_queue_free(&c->q);
  free(c);
  s->nconns--;
  s->paused_until = 0; /* an fd is free again: try accepting */
}

static void take(server *s, int fd) {
  if (fd >= FD_SETSIZE) { /* FD_SET(fd) would write past the bitmap */
    fprintf(stderr,
            "iomux-echo: select: fd %d >= FD_SETSIZE (%d): connection "
            "refused\n",
            fd, FD_SETSIZE);
    close(fd);
    return;
  }
  conn *c = s->nconns < s->opts->max_conns ? calloc(1, sizeof *c) : NULL;
  if (!c) { /* over --max-conns, or out of memory */
    close(fd);
    return;
  }
  c->fd = fd;
  s->conns[fd] = c;
  if (fd > s->max_fd)
    s->max_fd = fd;
  s->nconns++;
}

/* The listener is readable: accept until EAGAIN, at most ACCEPT_BATCH. */
static void accept_some(server *s) {
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd = echo_accept(s->listen_fd, "select");
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

/* select() overwrites its sets with the answer, so they are built afresh
 * before every call, by scanning every client. Returns nfds. */
static int build_sets(server *s, fd_set *rd, fd_set *wr) {
  FD_ZERO(rd);
  FD_ZERO(wr);
  FD_SET(echo_stop_fd, rd);
  int top = echo_stop_fd > s->max_fd ? echo_stop_fd : s->max_fd;
  if (!s->paused_until) {
    FD_SET(s->listen_fd, rd);
    top = s->listen_fd > top ? s->listen_fd : top;
  }
  for (int fd = 0; fd <= s->max_fd; fd++) {
    conn *c = s->conns[fd];
    if (c && echo_queue_wants_read(&c->q))
      FD_SET(fd, rd);
    if (c && echo_queue_wants_write(&c->q))
      FD_SET(fd, wr);
  }
  return top + 1; /* the kernel looks at fds 0 .. top, every call */
}

/* The second scan: which of 0 .. max_fd did select() mark? */
static void serve_ready(server *s, fd_set *rd, fd_set *wr) {
  for (int fd = 0; fd <= s->max_fd; fd++) {
    conn *c = s->conns[fd];
    if (c && echo_queue_serve(&c->q, fd, FD_ISSET(fd, rd), FD_ISSET(fd, wr),
                              s->in, sizeof s->in, s->opts->upper) < 0)
      drop(s, c);
  }
}

/* While accepting is paused, select() must still wake up when it ends. */
static struct timeval *pause_timeout(server *s, struct timeval *tv) {
  if (s->paused_until && app_now_ms() >= s->paused_until)
    s->paused_until = 0;
  if (!s->paused_until)
    return NULL; /* wait as long as it takes */
  long long ms = s->paused_until - app_now_ms();
  ms = ms > 0 ? ms : 0;
  tv->tv_sec = (time_t)(ms / 1000);
  tv->tv_usec = (suseconds_t)(ms % 1000 * 1000);
  return tv;
}

static int run_loop(server *s) {
  for (;;) {
    fd_set rd, wr;
    struct timeval tv, *timeout = pause_timeout(s, &tv);
    int nfds = build_sets(s, &rd, &wr);
    int n = select(nfds, &rd, &wr, NULL, timeout); /* phase 1, for all */
    if (echo_stopping)
      return 0;
    if (n < 0 && errno == EINTR)
      continue; /* the sets are undefined now: rebuild them */
    if (n < 0)
      return echo_fail("select", -errno);
    if (FD_ISSET(echo_stop_fd, &rd))
      return 0;
    serve_ready(s, &rd, &wr);
    if (FD_ISSET(s->listen_fd, &rd))
      accept_some(s); /* after the clients: no fd reused within a round */
  }
}

static int run(const echo_opts *opts, int listen_fd) {
  int err = echo_catch_stop();
  if (err < 0)
    return echo_fail("select: signals", err);
  if (listen_fd >= FD_SETSIZE || echo_stop_fd >= FD_SETSIZE)
    return echo_fail("select: listener", -EMFILE);
  int flags = fcntl(listen_fd, F_GETFL);
  if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return echo_fail("select: listener", -errno);
  server *s = calloc(1, sizeof *s);
  if (!s)
    return echo_fail("select", -ENOMEM);
  s->opts = opts;
  s->listen_fd = listen_fd;
  s->max_fd = -1;
  int status = run_loop(s);
  for (int fd = 0; fd <= s->max_fd; fd++)
    if (s->conns[fd])
      drop(s, s->conns[fd]);
  free(s);
  return status;
}

static const echo_model model = {
    .name = "select",
    .rank = 50,
    .run = run,
    .waits = "blocked in select() for all sockets; fd_sets rebuilt per call",
    .copies = "recv/send on the ready sockets (non-blocking, one at a time)",
};
ECHO_REGISTER(model)
