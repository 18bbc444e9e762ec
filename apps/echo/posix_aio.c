/* posix-aio: POSIX asynchronous I/O, aio_read()/aio_write(), as glibc does it.
 *
 * What it shows: the fifth Unix I/O model, "asynchronous I/O", as POSIX
 * spells it. We hand over a request (an aiocb: fd, buffer, length) and get
 * it back when BOTH phases are over: the data has arrived (phase 1) and has
 * been copied into our buffer (phase 2), both out of our sight. Our one
 * thread never reads or writes a socket; it starts requests and waits for
 * completions, in aio_suspend().
 *
 * What glibc does underneath: no kernel AIO at all (Linux's io_submit AIO
 * is made for O_DIRECT files, and io_uring, which glibc does not use, came
 * much later). Each request runs as an ordinary blocking call, pread() or
 * pwrite() (a socket refuses them with ESPIPE) then read() or write(), on
 * one of glibc's own helper threads (sysdeps/pthread/aio_misc.c: a thread
 * per fd with a request, up to aio_init's aio_threads, default 20; requests
 * beyond that wait in a queue until a thread comes free). So POSIX AIO on
 * Linux sockets is asynchronous only in name: phase 2 is still a blocking
 * read, on someone else's thread, and phase 1 is that thread blocked in
 * it. This is the threads model with a request queue in front (`strace -f`
 * shows it; io_uring is the real thing).
 *
 * Hence aio_init() asks for max_conns + 1 threads (run): each connection
 * always has a read in flight, and an idle client's read holds its thread
 * until the client speaks. With 64 threads, 64 idle clients would leave
 * every other request queued for good (tried with 2 threads: a third
 * client's data sat unread until an idle one spoke). glibc starts threads
 * only when requests wait, so the cost is a thread per connection actually
 * open (1,000 clients: 1,000 small-stack threads, `ps -L` shows them).
 * aio_num only sizes glibc's first request table, which grows past it.
 *
 * Completion notification: SIGEV_NONE, then aio_suspend() on the list of
 * requests in flight, then aio_error()/aio_return() on each to see which
 * finished (serve, reap_conns). Chosen because it reads top to bottom in
 * one thread: SIGEV_SIGNAL would queue a real-time signal per completion
 * (and bring back sigio's queue overflow), SIGEV_THREAD would call us back
 * on yet another thread, with locks. The cost: the list is rebuilt every
 * round and scanned by us in O(n); glibc's aio_suspend looks each entry up
 * in a list sorted by fd (O(n) each, O(n^2) per call) and puts two arrays of
 * n entries on the stack.
 *
 * Per connection, exactly one request is in flight, alternating:
 *   aio_read(up to 16 KB) -> n > 0: aio_write(those n bytes), again for the
 *   rest after a short write -> all written: the next aio_read.
 *   n == 0 (the client shut down its side): everything read has already
 *   been written back, since a read only starts after the write completes,
 *   so close now.
 * That bounds memory with no pending-output counter: a client that sends
 * and never reads ends with its aio_write blocked in write() on a helper
 * thread; nothing more is read from it, so it costs one 16 KB buffer and
 * one thread, and the others go on.
 *
 * Accepting: there is no aio_accept. An accept thread blocks in accept()
 * and passes each new fd through a pipe, on which the main loop keeps an
 * aio_read in flight, so a new client arrives as one more completion
 * (acceptor, reap_accepts): the same thing glibc does for reads, done by
 * hand for accept.
 *
 * Classic pitfalls, and where this file handles them:
 *   - the aiocb and its buffer belong to glibc until the request completes:
 *     never reuse or free them before (conn_free waits);
 *   - aio_cancel() cannot cancel a request a helper thread is running
 *     (blocked in read): it answers AIO_NOTCANCELED. shutdown() wakes that
 *     read (0) or write (EPIPE); then wait for the request and take
 *     aio_return() before close() and free() (conn_free). Closing first
 *     would leave a thread reading an fd number accept() may hand out again;
 *   - sockets stay blocking: on an O_NONBLOCK one the helper's read() would
 *     fail at once with EAGAIN and we would busy-poll through glibc;
 *   - SIGPIPE: aio_write() calls write(), not send(MSG_NOSIGNAL). glibc's
 *     helper threads block every signal, so a write to a reset client fails
 *     with EPIPE and the SIGPIPE stays pending on that helper, harmless;
 *   - accept() at the fd limit (EMFILE): the accept thread sleeps 100 ms and
 *     retries, instead of spinning (acceptor);
 *   - SIGINT/SIGTERM: the accept thread blocks them, so they interrupt the
 *     main thread's aio_suspend() (EINTR); a stop landing between our check
 *     and the wait is seen at the 1 s timeout (serve). Then shutdown() of
 *     the listener wakes the accept thread (EINVAL) and shutdown() of each
 *     client its helper, before anything is freed (shut_down).
 *
 * What it skips: SIGEV_SIGNAL and SIGEV_THREAD notification; lio_listio()
 * (many requests in one call); a read and a write in flight at once on one
 * connection (one at a time is simpler, and bounded); idle timeouts.
 *
 * Try it:  iomux-echo --model posix-aio --port 7000 &  nc 127.0.0.1 7000
 *          (then `ps -L -p $!`: a thread per connected nc)
 */
#define _GNU_SOURCE /* aio_init, accept4, pipe2 */
#include "echo.h"

#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (16 * 1024)
#define ACCEPT_BATCH 64 /* new fds taken from the pipe per completion */
#define ACCEPT_RETRY_NS (100 * 1000 * 1000)

/* One client: created when its fd comes out of the pipe, freed at close. */
typedef struct conn {
  struct aiocb cb;  /* the one request in flight: a read, then a write... */
  int writing;      /* cb is an aio_write (else an aio_read) */
  size_t len, done; /* the echo being written: its length, bytes written */
  char buf[READ_SIZE];
} conn;

typedef struct server {
  const echo_opts *opts;
  int listen_fd;
  int pipe_r, pipe_w;      /* accept thread -> new fds -> main loop */
  struct aiocb accept_cb;  /* the aio_read on pipe_r */
  int new_fds[ACCEPT_BATCH];
  pthread_t acceptor;
  conn **conns;            /* dense, in no order: a slot per connection */
  int nconns, cap;
  const struct aiocb **list; /* for aio_suspend: cap + 1 entries */
} server;

/* Starts a request on `cb`: 0, or -1 with errno (EAGAIN: glibc is out of
 * memory or threads). SIGEV_NONE: we will ask, nobody tells us. */
static int submit(struct aiocb *cb, int fd, void *buf, size_t len,
                  int is_write) {
  memset(cb, 0, sizeof *cb);
  cb->aio_fildes = fd;
  cb->aio_buf = buf;
  cb->aio_nbytes = len;
  cb->aio_sigevent.sigev_notify = SIGEV_NONE;
  return is_write ? aio_write(cb) : aio_read(cb);
}

/* Waits until `cb` is no longer in progress; takes its result. */
static ssize_t wait_request(struct aiocb *cb) {
  const struct aiocb *one[1] = {cb};
  while (aio_error(cb) == EINPROGRESS)
    aio_suspend(one, 1, NULL); /* EINTR: a second stop signal; wait on */
  return aio_return(cb);
}

/* ---- Connections ---- */

/* The next request of the cycle: the rest of the echo, or the next read. */
static int conn_next(conn *c) {
  c->writing = c->done < c->len;
  if (c->writing)
    return submit(&c->cb, c->cb.aio_fildes, c->buf + c->done,
                  c->len - c->done, 1);
  return submit(&c->cb, c->cb.aio_fildes, c->buf, sizeof c->buf, 0);
}

/* A request of `c` completed: start the next one (0), or -1 to close. */
static int conn_complete(const server *s, conn *c) {
  ssize_t n = aio_return(&c->cb); /* -1: aio_error() said why */
  if (n < 0)
    return -1; /* ECONNRESET, EPIPE...: this client is gone */
  if (c->writing) {
    if (n == 0)
      return -1; /* cannot happen on a socket; never loop on it */
    c->done += (size_t)n;
  } else {
    if (n == 0)
      return -1; /* half-close, and all of it was echoed already */
    echo_transform(c->buf, (size_t)n, s->opts->upper);
    c->len = (size_t)n;
    c->done = 0;
  }
  return conn_next(c);
}

/* Only when glibc is done with cb and buf may they go. */
static void conn_free(conn *c) {
  int fd = c->cb.aio_fildes;
  if (aio_error(&c->cb) == EINPROGRESS) {
    if (aio_cancel(fd, &c->cb) == AIO_NOTCANCELED)
      shutdown(fd, SHUT_RDWR); /* wakes the helper blocked in read/write */
    wait_request(&c->cb);
  }
  close(fd);
  free(c);
}

static int grow(server *s) {
  int cap = s->cap ? s->cap * 2 : 64;
  conn **conns = realloc(s->conns, (size_t)cap * sizeof *conns);
  if (!conns)
    return -1;
  s->conns = conns;
  const struct aiocb **list =
      realloc(s->list, ((size_t)cap + 1) * sizeof *list);
  if (!list)
    return -1;
  s->list = list;
  s->cap = cap;
  return 0;
}

static void conn_add(server *s, int fd) {
  conn *c = NULL;
  if (s->nconns >= s->opts->max_conns ||
      (s->nconns == s->cap && grow(s) < 0) || !(c = calloc(1, sizeof *c))) {
    close(fd); /* over --max-conns, or out of memory */
    return;
  }
  c->cb.aio_fildes = fd;
  if (conn_next(c) < 0) { /* the first read */
    echo_fail("aio_read", -errno);
    close(fd);
    free(c);
    return;
  }
  s->conns[s->nconns++] = c;
}

/* ---- Accepting: a thread, a pipe, and one more completion ---- */

static void *acceptor(void *arg) {
  server *s = arg;
  int paused = 0;
  echo_block_stop_signals(); /* the main thread is the one interrupted */
  for (;;) {
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC); /* blocking */
    if (fd >= 0) {
      paused = 0;
      /* The pipe is full only if the main loop is 16,384 clients behind:
       * shed this one rather than block. */
      if (write(s->pipe_w, &fd, sizeof fd) != (ssize_t)sizeof fd)
        close(fd);
    } else if (errno == EINVAL) {
      return NULL; /* shut_down() shut the listener: our cue to end */
    } else if (errno != EINTR && errno != ECONNABORTED) {
      /* EMFILE, ENFILE...: the client waits in the backlog; spinning on
       * accept() would not help it. */
      if (!paused)
        echo_fail("accept paused", -errno);
      paused = 1;
      nanosleep(&(struct timespec){0, ACCEPT_RETRY_NS}, NULL);
    }
  }
}

/* The pipe read completed: whole ints, since each write of one is atomic
 * (it is smaller than PIPE_BUF) and the buffer holds a whole number. */
static int reap_accepts(server *s) {
  if (aio_error(&s->accept_cb) == EINPROGRESS)
    return 0;
  int err = aio_error(&s->accept_cb);
  ssize_t n = aio_return(&s->accept_cb);
  if (n <= 0)
    return echo_fail("accept pipe", n < 0 ? -err : -EPIPE);
  for (size_t i = 0; i < (size_t)n / sizeof(int); i++)
    conn_add(s, s->new_fds[i]);
  if (submit(&s->accept_cb, s->pipe_r, s->new_fds, sizeof s->new_fds, 0) < 0)
    return echo_fail("aio_read", -errno);
  return 0;
}

/* ---- The loop ---- */

static void reap_conns(server *s) {
  for (int i = 0; i < s->nconns;) {
    conn *c = s->conns[i];
    if (aio_error(&c->cb) == EINPROGRESS || conn_complete(s, c) == 0) {
      i++;
      continue;
    }
    conn_free(c); /* nothing in flight: the request just ended */
    s->conns[i] = s->conns[--s->nconns];
  }
}

static int serve(server *s) {
  while (!echo_stopping) {
    int n = 0;
    s->list[n++] = &s->accept_cb;
    for (int i = 0; i < s->nconns; i++)
      s->list[n++] = &s->conns[i]->cb;
    /* The timeout only bounds the race of a stop signal that lands just
     * before we sleep; completions and EINTR wake us otherwise. */
    struct timespec second = {1, 0};
    if (aio_suspend(s->list, n, &second) < 0 && errno != EAGAIN &&
        errno != EINTR)
      return echo_fail("aio_suspend", -errno);
    if (reap_accepts(s) != 0)
      return 1;
    reap_conns(s);
  }
  return 0;
}

/* The accept thread first, so nothing writes to the pipe any more; then
 * every request, each waited for before its memory goes. shutdown() is
 * how to wake a thread blocked on a socket: accept() fails with EINVAL,
 * read() returns 0, write() fails with EPIPE. */
static void shut_down(server *s) {
  shutdown(s->listen_fd, SHUT_RD);
  pthread_join(s->acceptor, NULL);
  close(s->pipe_w); /* the helper blocked reading the pipe gets EOF */
  wait_request(&s->accept_cb);
  close(s->pipe_r);
  for (int i = 0; i < s->nconns; i++)
    conn_free(s->conns[i]);
  free(s->conns);
  free(s->list);
}

static int start(server *s) {
  int p[2];
  /* The read end blocking (glibc's helper waits in read), the write end
   * not (the accept thread never blocks on a full pipe). */
  if (pipe2(p, O_CLOEXEC) < 0 || fcntl(p[1], F_SETFL, O_NONBLOCK) < 0)
    return echo_fail("pipe", -errno);
  s->pipe_r = p[0];
  s->pipe_w = p[1];
  if (grow(s) < 0)
    return echo_fail("start", -ENOMEM);
  if (submit(&s->accept_cb, s->pipe_r, s->new_fds, sizeof s->new_fds, 0) < 0)
    return echo_fail("aio_read", -errno);
  int err = pthread_create(&s->acceptor, NULL, acceptor, s);
  if (err != 0) {
    close(s->pipe_w); /* s is about to go: let that read end first */
    wait_request(&s->accept_cb);
    return echo_fail("accept thread", -err);
  }
  return 0;
}

static int run(const echo_opts *opts, int listen_fd) {
  server s = {.opts = opts, .listen_fd = listen_fd};
  int err = echo_catch_stop();
  if (err < 0)
    return echo_fail("signals", err);
  /* Before the first request, or glibc ignores it. A thread per connection
   * plus one for the pipe: see the header. */
  struct aioinit init = {0};
  init.aio_threads = opts->max_conns + 1;
  init.aio_num = init.aio_threads < 2048 ? init.aio_threads : 2048;
  init.aio_idle_time = 1; /* seconds an idle helper waits before exiting */
  aio_init(&init);
  if (start(&s) != 0)
    return 1; /* the process exits: nothing else to undo */
  int status = serve(&s);
  shut_down(&s);
  return status;
}

static const echo_model model = {
    .name = "posix-aio",
    .rank = 95,
    .run = run,
    .waits = "aio_suspend on aio_read/aio_write completions (SIGEV_NONE)",
    .copies = "done for us: blocking read/write on glibc's helper threads",
};
ECHO_REGISTER(model)
