/* iomux-bench compare: the idle connections of the --idle scenario.
 *
 * The claim under test is about a server that watches many connections of
 * which few are busy, so every idle connection must really be watched: it
 * sends one byte and counts only once that byte has come back (accepted,
 * registered, served once). Then it stays silent until the run is over.
 * They are opened in batches with plain poll(): this is the harness, not a
 * subject of the measurement, and it takes no CPU while the load runs.
 */
#define _GNU_SOURCE
#include "compare.h"

#include "common/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 256
#define BATCH_WAIT_MS 10000

enum { CONNECTING, ECHOING, DONE };

/* Start a connection into *fd. Returns 0 or -errno. */
static int start(const struct sockaddr_in *to, int *fd, int *state) {
  *fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (*fd < 0)
    return -errno;
  if (connect(*fd, (const struct sockaddr *)to, sizeof *to) == 0) {
    *state = ECHOING;
    return send(*fd, "i", 1, MSG_NOSIGNAL) == 1 ? 0 : -errno;
  }
  *state = CONNECTING;
  return errno == EINPROGRESS ? 0 : -errno;
}

/* One step of a connection that poll() reported. Returns 0 or -errno
 * (-ECONNRESET for a close by the server). */
static int step(int fd, int *state) {
  if (*state == CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
      return -errno;
    if (err)
      return -err;
    *state = ECHOING;
    return send(fd, "i", 1, MSG_NOSIGNAL) == 1 ? 0 : -errno;
  }
  char c;
  ssize_t n = recv(fd, &c, 1, 0);
  if (n == 1 && c == 'i') {
    *state = DONE;
    return 0;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  return n < 0 ? -errno : n == 0 ? -ECONNRESET : -EPROTO;
}

/* Connections first .. first+m-1 of n, all the way to their echo. */
static int open_batch(const struct sockaddr_in *to, int *fds, int first,
                      int m, int n, char *why, size_t cap) {
  int state[BATCH], at[BATCH], err = 0, bad = 0;
  struct pollfd p[BATCH];
  for (bad = 0; bad < m; bad++)
    if ((err = start(to, &fds[first + bad], &state[bad])) < 0)
      break;
  double until = app_now_s() + BATCH_WAIT_MS / 1000.0;
  while (err == 0) {
    int waiting = 0;
    for (int k = 0; k < m; k++)
      if (state[k] != DONE) {
        at[waiting] = k;
        p[waiting++] = (struct pollfd){
            .fd = fds[first + k],
            .events = state[k] == CONNECTING ? POLLOUT : POLLIN};
      }
    if (waiting == 0)
      return 0;
    int wait = (int)((until - app_now_s()) * 1000);
    if (wait <= 0 || poll(p, (nfds_t)waiting, wait) == 0) {
      snprintf(why, cap, "idle connection %d of %d: no echo of its byte "
               "within %d s", first + at[0] + 1, n, BATCH_WAIT_MS / 1000);
      return -1;
    }
    for (int i = 0; i < waiting && err == 0; i++)
      if (p[i].revents)
        err = step(fds[first + (bad = at[i])], &state[at[i]]);
  }
  snprintf(why, cap, "idle connection %d of %d: %s", first + bad + 1, n,
           strerror(-err));
  return -1;
}

int *cmp_idle_open(int port, int n, char *why, size_t cap) {
  struct sockaddr_in to = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int *fds = malloc((size_t)(n > 0 ? n : 1) * sizeof *fds);
  if (!fds) {
    snprintf(why, cap, "no memory for %d idle connections", n);
    return NULL;
  }
  for (int i = 0; i < n; i++)
    fds[i] = -1;
  for (int first = 0; first < n; first += BATCH) {
    int m = n - first < BATCH ? n - first : BATCH;
    if (open_batch(&to, fds, first, m, n, why, cap) < 0) {
      cmp_idle_close(fds, n);
      return NULL;
    }
  }
  return fds;
}

void cmp_idle_close(int *fds, int n) {
  for (int i = 0; fds && i < n; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  free(fds);
}
