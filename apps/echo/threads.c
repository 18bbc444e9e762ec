/* threads: blocking I/O, one thread per connection.
 *
 * What it shows: the classic way to serve many clients with blocking calls.
 * The main thread blocks in accept(); each client gets a detached thread of
 * its own that blocks in recv() until its client sends (phase 1, waiting,
 * asleep in the kernel) and lets recv() copy the bytes before it returns
 * (phase 2, in the same call), then blocks in send() until the kernel has
 * taken them. Each thread's code is the blocking model's, unchanged: the
 * kernel's scheduler does the multiplexing. A client that idles or never
 * reads parks only its own thread; the others go on.
 *
 * The price is a thread per client: a stack, a kernel task, a context
 * switch for each wake-up. Threads are created with a 64 KiB stack
 * (pthread_attr_setstacksize) instead of the usual 8 MiB, so 1,000 or more
 * connections cost tens of MiB of address space, not gigabytes; the 16 KiB
 * buffer in echo_serve_blocking() is the only big thing on it. Past some
 * thousands of threads the memory and the scheduler are what stop it (the
 * C10K problem); the lab measures where.
 *
 * Pitfalls handled here:
 *   - --max-conns: a connection over the cap is closed at once (not kept
 *     waiting). The client sees EOF right away instead of a connection that
 *     silently hangs, the main thread stays in accept() where a stop reaches
 *     it, and it matches what the multiplexing models do;
 *   - signals: threads are created with SIGINT/SIGTERM blocked (spawn()), so
 *     a stop always interrupts the main thread's accept() with EINTR; a
 *     thread that blocked them itself, as its first act, would leave a
 *     moment in which the handler could run on it and leave accept() asleep;
 *   - state a detached thread reads is static, not on run()'s stack: on a
 *     stop run() returns 0 and the process exits while threads still run;
 *   - partial send(), SIGPIPE (MSG_NOSIGNAL), resets, half-close and EINTR
 *     as in blocking.c, by the same loop (echo_blocking.c); EMFILE/ENFILE
 *     back off instead of spinning (echo_accept_failed());
 *   - pthread_create() failing (thread or memory limit) closes that client.
 *
 * What it skips: joining threads on stop (exit ends them), and a guard
 * against the check-then-block race in the main thread (see blocking.c).
 *
 * Try it:  iomux-echo --model threads --port 7000 &  nc 127.0.0.1 7000
 *          (several nc at once all echo; `ps -T` shows a thread each)
 */
#include "echo.h"
#include "echo_blocking.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#define THREAD_STACK (64 * 1024)

/* Shared with the threads, so static: they may outlive run(). */
static struct {
  int upper;
  atomic_int conns; /* threads serving a client now */
} shared;

/* The body of one connection's thread: the blocking model's loop. */
static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  echo_serve_blocking(fd, shared.upper);
  close(fd);
  atomic_fetch_sub(&shared.conns, 1);
  return NULL;
}

/* Start a detached thread for fd. It is born with the stop signals blocked
 * (a new thread inherits its creator's mask), so only the main thread ever
 * runs the stop handler. Returns 0 or a negative errno. */
static int spawn(const pthread_attr_t *attr, int fd) {
  sigset_t stop, old;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, &old);
  pthread_t t;
  int err = pthread_create(&t, attr, serve, (void *)(intptr_t)fd);
  pthread_sigmask(SIG_SETMASK, &old, NULL); /* a pending stop runs here */
  return -err;
}

/* Take one client and give it a thread. Returns -1 on a fatal error. */
static int accept_one(const echo_opts *opts, int listen_fd,
                      const pthread_attr_t *attr) {
  int fd = accept(listen_fd, NULL, NULL);
  if (fd < 0) {
    int err = errno;
    if (echo_accept_failed(err) == 0)
      return 0;
    echo_fail("accept", -err);
    return -1;
  }
  /* Only this thread adds, so the check and the add cannot race. */
  if (atomic_load(&shared.conns) >= opts->max_conns) {
    close(fd);
    return 0;
  }
  atomic_fetch_add(&shared.conns, 1);
  int err = spawn(attr, fd);
  if (err < 0) {
    echo_fail("thread", err);
    atomic_fetch_sub(&shared.conns, 1);
    close(fd);
  }
  return 0;
}

static int run(const echo_opts *opts, int listen_fd) {
  int err = echo_catch_stop();
  if (err < 0)
    return echo_fail("signals", err);
  shared.upper = opts->upper;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, THREAD_STACK);
  int status = 0;
  while (!echo_stopping && status == 0)
    status = accept_one(opts, listen_fd, &attr) < 0;
  pthread_attr_destroy(&attr);
  return status; /* the process exits: that closes sockets and ends threads */
}

static const echo_model model = {
    .name = "threads",
    .rank = 20,
    .run = run,
    .waits = "a thread per connection, each blocked in recv",
    .copies = "blocked in recv/send, in the connection's own thread",
};
ECHO_REGISTER(model)
