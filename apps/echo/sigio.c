/* sigio: signal-driven I/O, done right.
 *
 * What it shows: the fourth Unix I/O model. Every socket (the listener and
 * each client) is O_NONBLOCK | O_ASYNC and owned by this process
 * (F_SETOWN), so the kernel sends us a signal when the socket's state
 * changes. Phase 1 (waiting for data) is sigwaitinfo(): we sleep until a
 * signal names a socket that became ready. Phase 2 (the copy) is ours, as
 * with select or epoll: non-blocking recv()/send() on that socket, in the
 * main loop. No signal handler runs at all: the I/O signals are blocked and
 * taken synchronously, one siginfo at a time, so sigwaitinfo() is this
 * model's select() and the work happens in plain code, not in a handler.
 *
 * What F_SETSIG adds over plain SIGIO: plain SIGIO says "some socket
 * changed", with no fd, and is not queued: a server must then try every
 * socket, which is select() without the bitmap. F_SETSIG asks for a
 * real-time signal instead (SIGRTMIN+1 here), and real-time signals queue,
 * one per event, each carrying si_fd (which socket) and si_band (what
 * changed: POLLIN, POLLOUT, POLLERR, POLLHUP).
 *
 * Why signal-driven I/O is rarely used for TCP: a TCP socket raises a signal
 * for almost every state change: each arriving segment, the ACKs that free
 * send space after an EAGAIN, the connect, the FIN, an RST, each error. A
 * busy server takes a system call and a siginfo copy per event, and the
 * queue is a small per-user resource (RLIMIT_SIGPENDING, `ulimit -i`) that
 * overflows under load. It fits UDP better: one datagram, one signal.
 * epoll does the same job with a ready list the kernel keeps per socket.
 *
 * Classic pitfalls, and where this file handles them:
 *   - a signal tells of an edge, not a level: after one, drain the socket to
 *     EAGAIN (conn_read, accept_all), or the rest waits for a signal that
 *     may never come;
 *   - a socket is silent until its state changes: bytes that arrived before
 *     O_ASYNC was set raise nothing. A new connection is serviced right
 *     away (conn_open), and the listener is drained at start (run);
 *   - queue overflow: when the real-time signal cannot be queued, the kernel
 *     sends plain SIGIO instead, with no si_fd: some event is lost and we do
 *     not know which. The only safe answer is to try every socket (sweep),
 *     in O(n), like select. SIGIO sorts before the real-time signals, so
 *     sigwaitinfo() hands it over first;
 *   - a client that sends and never reads: what the kernel will not take is
 *     queued; above ECHO_MAX_PENDING we stop reading it (conn_read). Its
 *     later POLLIN signals are then ignored, so when its output drains we
 *     must resume reading ourselves: no new signal may come (conn_service);
 *   - writability: there is no interest to switch on and off. A POLLOUT
 *     signal comes only after a send() hit EAGAIN (the kernel's NOSPACE
 *     flag), so only while output waits: no write-interest busy loop. But
 *     then output may wait only behind an EAGAIN: after a partial send()
 *     the rest is sent at once, until done or EAGAIN (conn_read);
 *   - partial send(), half-close, SIGPIPE, and the order and bound of the
 *     queue: echo_queue.c, shared by every non-blocking model;
 *   - stale signals: a queued signal may name an fd closed since, or reused
 *     by a newer client. Every action is non-blocking, so a stale signal
 *     costs at most one EAGAIN (dispatch);
 *   - SIGINT/SIGTERM are blocked too and taken by the same sigwaitinfo(), so
 *     this file needs no echo_catch_stop() and no handler (serve). Their
 *     action is reset to SIG_DFL, in case we inherited SIG_IGN, which may
 *     discard a signal even while it is blocked (take_signals);
 *   - accept() at the fd limit (EMFILE): the waiting client raises no new
 *     signal, so we retry when sigtimedwait() times out, every 100 ms.
 *
 * What it skips: fairness. A client is drained to EAGAIN per signal, so one
 * that sends and reads as fast as we echo can hold the loop; a ready list
 * with a budget per turn fixes that. Also threads (F_SETOWN_EX can aim the
 * signals at one thread) and idle timeouts.
 *
 * Try it:  iomux-echo --model sigio --port 7000 &  nc 127.0.0.1 7000
 *          (ulimit -i 16 first forces queue overflows and the SIGIO sweep)
 */
#define _GNU_SOURCE /* F_SETSIG, si_fd, accept4 */
#include "echo.h"
#include "echo_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (16 * 1024)
#define ACCEPT_RETRY_NS (100 * 1000 * 1000)
#define ALL_EVENTS (POLLIN | POLLOUT | POLLERR | POLLHUP)

/* One client: created at accept, freed at close. */
typedef struct conn {
  int fd;
  int reading;  /* 0 while output is above ECHO_MAX_PENDING, and after EOF */
  echo_queue q; /* echoed bytes the kernel has not taken, and EOF */
} conn;

typedef struct server {
  const echo_opts *opts;
  int listen_fd;
  int iosig;     /* the real-time signal F_SETSIG asks for */
  conn **by_fd;  /* si_fd -> connection, grown on demand */
  int cap;
  int nconns;
  int accept_paused; /* EMFILE and friends: retry on a timer */
} server;

/* The three fcntl()s of this model: signals for this fd go to this process,
 * as `sig` (with si_fd and si_band), and start now. */
static int make_async(int fd, int sig) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETOWN, getpid()) < 0 ||
      fcntl(fd, F_SETSIG, sig) < 0 ||
      fcntl(fd, F_SETFL, flags | O_NONBLOCK | O_ASYNC) < 0)
    return -errno;
  return 0;
}

/* ---- Input: drain to EAGAIN, because a signal is an edge ---- */

static int conn_read(const echo_opts *opts, conn *c) {
  char buf[READ_SIZE];
  while (c->reading) {
    ssize_t n = echo_queue_read(&c->q, c->fd, buf, sizeof buf, opts->upper);
    /* A partial send() queued the rest: send it until done or EAGAIN, so
     * a POLLOUT signal is owed to us. */
    if (n < 0 || (!c->q.full && echo_queue_flush(&c->q, c->fd) < 0))
      return -1; /* ECONNRESET and friends: this client is gone */
    /* Above the mark, stop (conn_service resumes); at EOF, stop for good:
     * echo what is queued, then close. */
    c->reading = echo_queue_wants_read(&c->q);
    if (n == 0)
      return 0; /* EAGAIN (or EOF): drained */
  }
  return 0;
}

/* ---- Connections ---- */

static void conn_close(server *s, conn *c) {
  s->by_fd[c->fd] = NULL;
  close(c->fd); /* signals still queued for this fd are now stale */
  echo_queue_free(&c->q);
  free(c);
  s->nconns--;
}

/* Does what `band` (si_band: the events this signal reports) asks. */
static void conn_service(server *s, conn *c, long band) {
  int rc = 0;
  if (band & (POLLOUT | POLLERR | POLLHUP))
    rc = echo_queue_flush(&c->q, c->fd);
  /* The output drained: read again now. The bytes that arrived while we
   * were not reading raised their signals back then, and no new one may
   * come. */
  if (rc == 0 && !c->reading && !c->q.eof && echo_queue_pending(&c->q) == 0) {
    c->reading = 1;
    band |= POLLIN;
  }
  if (rc == 0 && c->reading && (band & (POLLIN | POLLERR | POLLHUP)))
    rc = conn_read(s->opts, c);
  if (rc < 0 || echo_queue_done(&c->q))
    conn_close(s, c);
}

static int grow_table(server *s, int fd) {
  if (fd < s->cap)
    return 0;
  int cap = s->cap ? s->cap : 64;
  while (cap <= fd)
    cap *= 2;
  conn **t = realloc(s->by_fd, (size_t)cap * sizeof *t);
  if (!t)
    return -1;
  memset(t + s->cap, 0, (size_t)(cap - s->cap) * sizeof *t);
  s->by_fd = t;
  s->cap = cap;
  return 0;
}

static void conn_open(server *s, int fd) {
  conn *c = NULL;
  if (s->nconns >= s->opts->max_conns || grow_table(s, fd) < 0 ||
      make_async(fd, s->iosig) < 0 || !(c = calloc(1, sizeof *c))) {
    close(fd); /* over --max-conns, or out of memory */
    return;
  }
  c->fd = fd;
  c->reading = 1;
  s->by_fd[fd] = c;
  s->nconns++;
  /* Bytes that came before O_ASYNC was set raised no signal: look now. */
  conn_service(s, c, ALL_EVENTS);
}

static void accept_all(server *s) {
  for (;;) {
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      conn_open(s, fd);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      s->accept_paused = 0;
      return;
    } else if (errno != EINTR && errno != ECONNABORTED) {
      /* EMFILE, ENFILE, ENOBUFS...: the client waits in the backlog and
       * will raise no new signal; serve() retries every 100 ms. */
      if (!s->accept_paused)
        echo_fail("accept paused", -errno);
      s->accept_paused = 1;
      return;
    }
  }
}

/* ---- The loop ---- */

/* SIGIO means the real-time queue overflowed and events were lost, we do
 * not know which: try every socket. Stale or not, each try is one EAGAIN. */
static void sweep(server *s) {
  accept_all(s);
  for (int fd = 0; fd < s->cap; fd++)
    if (s->by_fd[fd])
      conn_service(s, s->by_fd[fd], ALL_EVENTS);
}

static void dispatch(server *s, const siginfo_t *si) {
  /* si_code POLL_IN..POLL_HUP: the kernel's "this fd changed" (a kill()
   * of the same signal would carry SI_USER and no si_fd). */
  if (si->si_signo != s->iosig || si->si_code < POLL_IN ||
      si->si_code > POLL_HUP) {
    sweep(s);
    return;
  }
  int fd = si->si_fd;
  if (fd == s->listen_fd)
    accept_all(s);
  else if (fd >= 0 && fd < s->cap && s->by_fd[fd])
    conn_service(s, s->by_fd[fd], si->si_band);
  /* else: a stale signal for an fd closed since */
}

static int serve(server *s, const sigset_t *set) {
  for (;;) {
    siginfo_t si;
    struct timespec retry = {0, ACCEPT_RETRY_NS};
    int sig = s->accept_paused ? sigtimedwait(set, &si, &retry)
                               : sigwaitinfo(set, &si);
    if (sig == SIGINT || sig == SIGTERM)
      return 0;
    if (sig > 0)
      dispatch(s, &si);
    else if (errno == EAGAIN) /* the timeout: try accepting again */
      accept_all(s);
    else if (errno != EINTR)
      return echo_fail("sigwaitinfo", -errno);
  }
}

/* Block the signals we take with sigwaitinfo(): blocked, they stay pending
 * (the real-time ones queue) until we ask for them. */
static int take_signals(int iosig, sigset_t *set) {
  int sigs[] = {iosig, SIGIO, SIGINT, SIGTERM};
  sigemptyset(set);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaddset(set, sigs[i]);
  if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
    return -errno;
  /* SIG_DFL, never SIG_IGN: an ignored signal may be discarded even while
   * blocked, and a shell script's background job starts with SIGINT
   * ignored. The default action never runs: the signals stay blocked. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &dfl, NULL) < 0)
      return -errno;
  return 0;
}

static int run(const echo_opts *opts, int listen_fd) {
  server s = {.opts = opts, .listen_fd = listen_fd, .iosig = SIGRTMIN + 1};
  sigset_t set;
  int err = take_signals(s.iosig, &set);
  if (err < 0)
    return echo_fail("signals", err);
  if ((err = make_async(listen_fd, s.iosig)) < 0)
    return echo_fail("listener", err);
  accept_all(&s); /* clients that connected before O_ASYNC raised nothing */
  /* A stop that came before the signals were blocked went to main.c's
   * handler (echo_catch_stop), not to our sigwaitinfo. */
  int status = echo_stopping ? 0 : serve(&s, &set);
  for (int fd = 0; fd < s.cap; fd++)
    if (s.by_fd[fd])
      conn_close(&s, s.by_fd[fd]);
  free(s.by_fd);
  return status;
}

static const echo_model model = {
    .name = "sigio",
    .rank = 90,
    .run = run,
    .waits = "a real-time signal per ready fd (F_SETSIG), taken with "
             "sigwaitinfo",
    .copies = "non-blocking recv/send, drained to EAGAIN per signal",
};
ECHO_REGISTER(model)
