/* blocking: the echo server as every first socket program writes it.
 *
 * What it shows: blocking I/O, one client at a time. The server blocks in
 * accept() until a client arrives, then in recv() until that client sends
 * something (phase 1, waiting for data, spent asleep in the kernel), and
 * recv() copies the bytes into our buffer before it returns (phase 2, the
 * copy, also in the call). send() blocks in turn until the kernel has taken
 * all we gave it. The code is the simplest of all the models: the state of
 * the conversation is just where the program is in its loop
 * (echo_serve_blocking(), in echo_blocking.c: threads and pool run the
 * same loop, on other threads).
 *
 * The price: while one client is connected, nobody else is served. A second
 * client's connection completes (the kernel accepts it into the listen
 * backlog), but its bytes are not echoed until the first client leaves; a
 * client that connects and never sends stops the whole server. A client
 * that sends a lot without reading deadlocks with us: we block in send()
 * because it does not read, it blocks in send() because we do not read. The
 * integration suite skips the never-reading test for this model.
 *
 * Pitfalls handled here and in echo_blocking.c:
 *   - partial send(): send_all() (echo_blocking.c) loops until every byte
 *     is taken;
 *   - SIGPIPE: send(..., MSG_NOSIGNAL), so a vanished client is an EPIPE
 *     from send(), not the death of the server;
 *   - a reset (ECONNRESET, EPIPE) or any other recv/send error ends that
 *     client only (echo_serve_blocking() returns, run() accepts the next);
 *   - half-close: recv() returning 0 means the client has sent everything
 *     (it may still be reading): all it sent is already echoed, so close;
 *   - EINTR: the stop handler is installed without SA_RESTART, so a blocked
 *     accept/recv/send returns EINTR; echo_stopping tells a stop request
 *     from any other interruption, which is simply retried;
 *   - accept errors: ECONNABORTED and the network errors Linux passes on
 *     are retried; EMFILE/ENFILE back off (echo_accept_failed()), since the
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
#include "echo_blocking.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static int run(const echo_opts *opts, int listen_fd) {
  int err = echo_catch_stop();
  if (err < 0)
    return echo_fail("signals", err);
  while (!echo_stopping) {
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0) {
      err = errno;
      if (echo_accept_failed(err) < 0)
        return echo_fail("accept", -err);
      continue;
    }
    echo_serve_blocking(fd, opts->upper); /* the others wait in the backlog */
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
