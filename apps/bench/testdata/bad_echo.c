/* bad_echo: an echo server that breaks on purpose, for the bench.load test.
 *
 * It echoes every connection faithfully except the first one accepted,
 * which, once it has sent --after bytes (default 1000):
 *   flip   gets byte number N echoed with one bit changed, then the rest;
 *   stall  is neither read nor written again (but stays open);
 *   close  is closed;
 *   ok     nothing: a correct echo server;
 * or, with late, is first served --after milliseconds after its accept (a
 * server slow to accept), then faithfully.
 * Written with poll() and blocking writes, on purpose without iomux: the
 * server that tests the load generator must not share its code. Its
 * command line and listener are bad_irc's too (bad_server.c).
 *
 * usage: bad_echo --mode ok|flip|stall|close|late [--after N] [--port P]
 * Listens on 127.0.0.1; port 0 (the default) prints the chosen one.
 */
#include "bad_server.h"
#include "common/clock.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 256

enum mode { OK, FLIP, STALL, CLOSE, LATE };

typedef struct client {
  int fd;
  long seen;  /* bytes received so far */
  int victim; /* the first connection: the one that is broken */
  int stalled;
  long accepted_ms;
} client;

static client clients[MAX_CLIENTS];
static int nclients, accepted;
static int mode; /* enum mode: bad_main sets it */
static long after = 1000;

/* late: the victim is not served before --after ms since its accept. */
static int waiting(const client *c) {
  return mode == LATE && c->victim && app_now_ms() - c->accepted_ms < after;
}

static void drop(int i) {
  close(clients[i].fd);
  clients[i] = clients[--nclients];
}

/* Echo what came in, breaking the victim. Returns -1 to drop the client. */
static int serve(client *c, char *buf, long n) {
  long seen = c->seen, cut = after - seen; /* victim's bytes left before */
  c->seen += n;
  if (!c->victim || mode == OK || mode == LATE || cut >= n)
    return bad_write_all(c->fd, buf, (size_t)n);
  if (mode == FLIP) {
    if (cut >= 0)
      buf[cut] ^= 0x01;
    return bad_write_all(c->fd, buf, (size_t)n);
  }
  if (cut > 0 && bad_write_all(c->fd, buf, (size_t)cut) < 0)
    return -1;
  if (mode == CLOSE)
    return -1;
  c->stalled = 1;
  return 0;
}

/* By fd, not by index: drop() moves clients around. */
static void on_readable(int fd) {
  static char buf[65536];
  for (int i = 0; i < nclients; i++) {
    if (clients[i].fd != fd)
      continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0 || serve(&clients[i], buf, n) < 0)
      drop(i);
    return;
  }
}

static void on_accept(int lfd) {
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0)
    return;
  if (nclients == MAX_CLIENTS) {
    close(fd);
    return;
  }
  clients[nclients++] = (client){
      .fd = fd, .victim = accepted++ == 0, .accepted_ms = app_now_ms()};
}

static void run(int lfd) {
  struct pollfd pfd[MAX_CLIENTS + 1];
  int who[MAX_CLIENTS + 1];
  for (;;) {
    int n = 0, timeout = -1;
    pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
    for (int i = 0; i < nclients; i++) {
      if (waiting(&clients[i]))
        timeout = 10;
      else if (!clients[i].stalled) {
        who[n] = clients[i].fd;
        pfd[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
      }
    }
    if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
      return;
    for (int k = 1; k < n; k++)
      if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
        on_readable(who[k]);
    if (pfd[0].revents & POLLIN)
      on_accept(lfd);
  }
}

int main(int argc, char **argv) {
  static const char *const names[] = {"ok", "flip", "stall", "close", "late"};
  int n = (int)(sizeof names / sizeof names[0]);
  return bad_main(argc, argv, "bad_echo", names, n, &mode, &after, run);
}
