/* nonblocking: every socket O_NONBLOCK, one thread, busy polling.
 *
 * What it shows: non-blocking I/O without any readiness API. Every socket is
 * put in O_NONBLOCK mode, so accept/recv/send never sleep: when there is
 * nothing to do they fail at once with EAGAIN. One thread loops forever over
 * the listening socket and every connection, trying each in turn. Phase 1
 * (waiting for data) is therefore not a wait at all but this loop asking
 * every socket again and again; phase 2 (the copy) still happens inside a
 * recv() that returns data, synchronously, with the thread blocked for the
 * copy.
 *
 * It works, for any number of clients, on one thread. But it never sleeps:
 * with no clients at all it spins on accept() -> EAGAIN and takes a whole
 * CPU (watch it in `top`; the lab measures it), and each pass costs a
 * system call per connection whether or not anything happened. select, poll
 * and epoll exist to let the kernel say which sockets are ready instead.
 *
 * Pitfalls handled here:
 *   - accepted sockets do not inherit O_NONBLOCK from the listening socket
 *     on Linux: accept_clients() sets it on each one;
 *   - EMFILE/ENFILE: the waiting connection would make every accept() fail
 *     again, so accepting pauses for 100 ms (the loop still serves the
 *     others); connections over --max-conns are closed at once;
 *   - stop: echo_stopping is checked on every pass; everything is closed
 *     and freed before run() returns 0.
 * And in echo_queue.c, which every non-blocking model shares (this file
 * only decides when to use it: on every pass, for every client):
 *   - partial send() and EAGAIN on send: what the kernel will not take now
 *     is kept in the connection's queue and retried on each pass before
 *     anything new is read (serve_pass()), so the order of bytes is kept;
 *   - a client that sends and never reads: while its queue is above
 *     ECHO_MAX_PENDING we stop calling recv() on it, so its data waits in
 *     the kernel (which, its buffer full, makes the client's own send()
 *     block) and our memory stays bounded while the others are served;
 *   - SIGPIPE: send(..., MSG_NOSIGNAL); a reset or any other error closes
 *     that connection only;
 *   - half-close: recv() returning 0 marks the connection; it is closed
 *     once everything it sent has been echoed.
 *
 * What it skips: any way to sleep until something happens (that would be
 * another model), and fairness beyond one recv() per connection per pass.
 *
 * Try it:  iomux-echo --model nonblocking --port 7000 &  nc 127.0.0.1 7000
 *          (and `top`: one CPU at 100% even while nobody is connected)
 */
#include "echo.h"
#include "echo_queue.h"

#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct conn {
  int fd;
  echo_queue q; /* echo the kernel has not taken yet, and EOF */
} conn;

typedef struct server {
  const echo_opts *opts;
  int listen_fd;
  conn **conns; /* allocated as clients come, freed as they leave */
  int nconns, cap;
  long long accept_after; /* after EMFILE: not before this time (ms) */
  char buf[65536];        /* every recv() lands here first */
} server;

static int set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* ---- one connection ----------------------------------------------------- */

/* One pass over one client: send what waits, then one recv() (never
 * waits), echoed at once. Returns 1 when it is finished: gone, failed, or
 * shut down with everything echoed. */
static int serve_pass(server *s, conn *c) {
  return echo_queue_serve(&c->q, c->fd, 1, 1, s->buf, sizeof s->buf,
                          s->opts->upper) < 0;
}

/* ---- the connection table ----------------------------------------------- */

static int add_conn(server *s, int fd) {
  if (s->nconns == s->cap) {
    int cap = s->cap ? 2 * s->cap : 16;
    conn **conns = realloc(s->conns, (size_t)cap * sizeof *conns);
    if (!conns)
      return -1;
    s->conns = conns;
    s->cap = cap;
  }
  conn *c = calloc(1, sizeof *c);
  if (!c)
    return -1;
  c->fd = fd;
  s->conns[s->nconns++] = c;
  return 0;
}

/* Close conns[i]; the last connection moves into slot i. */
static void close_conn(server *s, int i) {
  conn *c = s->conns[i];
  close(c->fd);
  echo_queue_free(&c->q);
  free(c);
  s->conns[i] = s->conns[--s->nconns];
}

/* accept() failed with err: returns 0 to go on, or -err if the listening
 * socket itself is unusable. */
static int accept_failed(server *s, int err, long long now) {
  switch (err) {
  case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
    /* Out of descriptors or memory. The connection stays in the backlog,
     * so every accept() would fail again at once: pause accepting. */
    s->accept_after = now + 100; /* ms */
    return 0;
  case EBADF: case EINVAL: case ENOTSOCK: case EFAULT:
    return -err;
  default:
    /* EAGAIN: nobody waiting. EINTR, ECONNABORTED and the new connection's
     * network errors that Linux reports from accept: next pass. */
    return 0;
  }
}

/* Take every client waiting in the backlog. Returns 0 or -errno. */
static int accept_clients(server *s) {
  long long now = app_now_ms();
  if (now < s->accept_after)
    return 0; /* paused after EMFILE */
  for (;;) {
    int fd = accept(s->listen_fd, NULL, NULL); /* never waits */
    if (fd < 0)
      return accept_failed(s, errno, now);
    /* Linux: an accepted socket does not inherit O_NONBLOCK. */
    if (s->nconns >= s->opts->max_conns || set_nonblocking(fd) < 0 ||
        add_conn(s, fd) < 0)
      close(fd);
  }
}

/* ---- the loop ----------------------------------------------------------- */

static int run(const echo_opts *opts, int listen_fd) {
  int err = echo_catch_stop();
  if (err < 0)
    return echo_fail("signals", err);
  server *s = calloc(1, sizeof *s);
  if (!s)
    return echo_fail("start", -ENOMEM);
  s->opts = opts;
  s->listen_fd = listen_fd;
  int status = 0;
  if (set_nonblocking(listen_fd) < 0)
    status = echo_fail("listen", -errno);
  while (!echo_stopping && status == 0) { /* no wait anywhere: it spins */
    if ((err = accept_clients(s)) < 0)
      status = echo_fail("accept", err);
    for (int i = 0; i < s->nconns;) {
      if (serve_pass(s, s->conns[i]))
        close_conn(s, i); /* slot i now holds the last one: do it next */
      else
        i++;
    }
  }
  while (s->nconns > 0)
    close_conn(s, s->nconns - 1);
  free(s->conns);
  free(s);
  return status;
}

static const echo_model model = {
    .name = "nonblocking",
    .rank = 40,
    .run = run,
    .waits = "retries every socket on EAGAIN: busy polling, burns a CPU",
    .copies = "blocked in the recv/send that succeeds; EAGAIN otherwise",
};
ECHO_REGISTER(model)
