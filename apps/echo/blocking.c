/* blocking: the echo server as every first socket program writes it.
 *
 * What it shows: blocking I/O, one client at a time. The server blocks in
 * accept() until a client arrives, then in recv() until that client sends
 * something (phase 1, waiting for data, spent asleep in the kernel), and
 * recv() copies the bytes into our buffer before it returns (phase 2, the
 * copy, also in the call). send() blocks in turn until the kernel has taken
 * all we gave it. The code is the simplest of all the models: the state of
 * the conversation is just where the program is in serve().
 *
 * The price: while one client is connected, nobody else is served. A second
 * client's connection completes (the kernel accepts it into the listen
 * backlog), but its bytes are not echoed until the first client leaves; a
 * client that connects and never sends stops the whole server. A client
 * that sends a lot without reading deadlocks with us: we block in send()
 * because it does not read, it blocks in send() because we do not read. The
 * integration suite skips the never-reading test for this model.
 *
 * Pitfalls handled here:
 *   - partial send(): send_all() loops until every byte is taken;
 *   - SIGPIPE: send(..., MSG_NOSIGNAL), so a vanished client is an EPIPE
 *     from send(), not the death of the server;
 *   - a reset (ECONNRESET, EPIPE) or any other recv/send error ends that
 *     client only (serve() returns, run() accepts the next one);
 *   - half-close: recv() returning 0 means the client has sent everything
 *     (it may still be reading): all it sent is already echoed, so close;
 *   - EINTR: the stop handler is installed without SA_RESTART, so a blocked
 *     accept/recv/send returns EINTR; echo_stopping tells a stop request
 *     from any other interruption, which is simply retried;
 *   - accept errors: ECONNABORTED and the network errors Linux passes on
 *     are retried; EMFILE/ENFILE back off (accept_failed()), since the
 *     waiting connection would make accept() fail again at once.
 *
 * What it skips: serving two clients at once (that is what the other models
 * are for) and the check-then-block race: a signal that lands just after
 * the echo_stopping check and before accept()/recv() is entered is seen only
 * when that call next returns. Closing the window needs pselect/ppoll or a
 * self-pipe in a wait set, i.e. a multiplexing model.
 *
 * Try it:  iomux-echo --model blocking --port 7000 &  nc 127.0.0.1 7000
 *          (a second nc in another terminal waits until the first quits)
 */
#include "echo.h"

#include <errno.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Give the kernel all of buf, however many calls it takes. Returns 0, or -1
 * when the client is gone or a stop was requested. */
static int send_all(int fd, const char *buf, size_t len) {
  while (len > 0 && !echo_stopping) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue; /* the loop condition tells a stop from a stray signal */
    if (n < 0)
      return -1; /* EPIPE, ECONNRESET, ...: the client left */
    buf += n;    /* partial send: the rest goes in the next call */
    len -= (size_t)n;
  }
  return echo_stopping ? -1 : 0;
}

/* One whole conversation: echo until the client is done or gone. */
static void serve(int fd, int upper) {
  char buf[16384];
  while (!echo_stopping) {
    ssize_t n = recv(fd, buf, sizeof buf, 0); /* phases 1 and 2 */
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; /* 0: the client shut down its side; < 0: reset or error */
    echo_transform(buf, (size_t)n, upper);
    if (send_all(fd, buf, (size_t)n) < 0)
      return;
  }
}

/* accept() failed with err: returns 0 to try again, -1 if the listening
 * socket itself is unusable. */
static int accept_failed(int err) {
  struct timespec nap = {0, 100 * 1000 * 1000};
  switch (err) {
  case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
    /* Out of descriptors or memory. The connection stays in the backlog,
     * so retrying now fails again at once; give a client time to leave. */
    nanosleep(&nap, NULL);
    return 0;
  case EBADF: case EINVAL: case ENOTSOCK: case EFAULT:
    return -1;
  default:
    /* EINTR, ECONNABORTED (the client left before we took it), and the
     * network errors of the new connection that Linux reports from accept
     * (EPROTO, ENETDOWN, EHOSTUNREACH, ...): accept(2) says retry. */
    return 0;
  }
}

static int run(const echo_opts *opts, int listen_fd) {
  int err = echo_catch_stop();
  if (err < 0)
    return echo_fail("signals", err);
  while (!echo_stopping) {
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0) {
      err = errno;
      if (accept_failed(err) < 0)
        return echo_fail("accept", -err);
      continue;
    }
    serve(fd, opts->upper); /* everyone else waits in the backlog */
    close(fd);
  }
  return 0;
}

static const echo_model model = {
    .name = "blocking",
    .rank = 10,
    .run = run,
    .waits = "one client at a time, blocked in accept, then in recv",
    .copies = "blocked in recv/send, on the only thread",
};
ECHO_REGISTER(model)
