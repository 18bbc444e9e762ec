/* pool: a fixed pool of blocking workers.
 *
 * What it shows: the thread-per-connection model with the thread count
 * capped up front, as many servers do to bound memory. N workers (--threads,
 * default 4) all block in accept() on the one listening socket; the kernel
 * hands each new connection to one of them (Linux wakes a single blocked
 * acceptor, so there is no thundering herd). That worker then serves its
 * client to the end exactly as blocking.c does: blocked in recv() while
 * waiting for data (phase 1), recv() copying it (phase 2), blocked in send()
 * until the kernel takes the echo. Then it goes back to accept().
 *
 * The price, and the lesson: a worker belongs to its client for the whole
 * connection, busy or not. An idle client (connected, sending nothing) holds
 * a worker asleep in recv(); a client that never reads holds one asleep in
 * send(). N such clients take every worker, and everyone else waits in the
 * listen backlog, unserved, however idle the CPU: the classic blocking-pool
 * starvation. The fix is not more workers but not blocking on one client
 * (the multiplexing models). --max-conns is moot here: at most N clients
 * are served at once, the rest queue in the kernel.
 *
 * Pitfalls handled here:
 *   - signals: run() blocks SIGINT/SIGTERM before creating the workers, so
 *     they inherit the mask and never run the stop handler; the main thread
 *     then waits in sigsuspend(), which unblocks them and sleeps in one
 *     atomic step, so a stop cannot slip in between the check and the wait;
 *   - state the workers read is static, not on run()'s stack: on a stop
 *     run() returns 0 and the process exits while they still run;
 *   - partial send(), SIGPIPE (MSG_NOSIGNAL), resets, half-close and EINTR
 *     as in blocking.c, by the same loop (echo_blocking.c); EMFILE/ENFILE
 *     back off instead of spinning (echo_accept_failed()); a worker whose
 *     accept() fails for good wakes the main thread with SIGTERM, and run()
 *     returns 1.
 *
 * What it skips: growing or shrinking the pool, and joining the workers on
 * stop (exit ends them).
 *
 * Try it:  iomux-echo --model pool --threads 2 --port 7000 &
 *          nc 127.0.0.1 7000   (in three terminals: the third waits
 *                               until one of the first two quits)
 */
#include "echo.h"
#include "echo_blocking.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#define THREAD_STACK (64 * 1024) /* as in threads.c: 1,024 workers fit */

/* Shared with the workers, so static: they may outlive run(). */
static struct {
  int listen_fd;
  int upper;
  atomic_int failed; /* a worker's accept() failed for good */
} shared;

static void *worker(void *arg) {
  (void)arg;
  for (;;) {
    int fd = accept(shared.listen_fd, NULL, NULL);
    if (fd < 0) {
      int err = errno;
      if (echo_accept_failed(err) == 0)
        continue;
      echo_fail("accept", -err);
      atomic_store(&shared.failed, 1);
      kill(getpid(), SIGTERM); /* wake the main thread as a stop would */
      return NULL;
    }
    echo_serve_blocking(fd, shared.upper); /* the worker is this client's */
    close(fd);
  }
}

/* Start n detached workers; returns how many started (0: errno in *err). */
static int start_workers(int n, int *err) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, THREAD_STACK);
  int started = 0;
  for (int i = 0; i < n; i++) {
    pthread_t t;
    *err = pthread_create(&t, &attr, worker, NULL);
    started += *err == 0;
  }
  pthread_attr_destroy(&attr);
  return started;
}

static int run(const echo_opts *opts, int listen_fd) {
  int err = echo_catch_stop();
  if (err < 0)
    return echo_fail("signals", err);
  shared.listen_fd = listen_fd;
  shared.upper = opts->upper;
  sigset_t stop, old;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, &old); /* the workers inherit this */
  int n = opts->threads > 0 ? opts->threads : 4;
  int started = start_workers(n, &err);
  if (started == 0)
    return echo_fail("threads", -err);
  if (started < n)
    echo_fail("some threads", -err); /* serve with fewer */
  sigset_t wait = old; /* what sigsuspend() lets in: at least the stops */
  sigdelset(&wait, SIGINT);
  sigdelset(&wait, SIGTERM);
  while (!echo_stopping)
    sigsuspend(&wait); /* returns after the stop handler has run */
  return atomic_load(&shared.failed) ? 1 : 0;
}

static const echo_model model = {
    .name = "pool",
    .rank = 30,
    .run = run,
    .waits = "a fixed pool of N workers, each blocked in accept or recv",
    .copies = "blocked in recv/send, in the client's worker",
};
ECHO_REGISTER(model)
