/* bad_server: the skeleton of the misbehaving test servers (bad_server.h). */
#include "bad_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void usage(const char *prog, const char *const *modes, int nmodes) {
  fprintf(stderr, "usage: %s --mode ", prog);
  for (int m = 0; m < nmodes; m++)
    fprintf(stderr, "%s%s", m ? "|" : "", modes[m]);
  fprintf(stderr, " [--after N] [--port P]\n");
}

static int parse(int argc, char **argv, const char *prog,
                 const char *const *modes, int nmodes, int *mode,
                 long *after, int *port) {
  int have_mode = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--port") == 0) {
      *port = atoi(argv[i + 1]);
    } else if (strcmp(argv[i], "--after") == 0) {
      *after = atol(argv[i + 1]);
    } else if (strcmp(argv[i], "--mode") == 0) {
      for (int m = 0; m < nmodes; m++)
        if (strcmp(argv[i + 1], modes[m]) == 0)
          *mode = m, have_mode = 1;
    }
  }
  if (have_mode && argc % 2 == 1)
    return 0;
  usage(prog, modes, nmodes);
  return -1;
}

static int listen_on(const char *prog, int port) {
  int one = 1;
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_in addr = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 128) ||
      getsockname(lfd, (struct sockaddr *)&addr, &len)) {
    char what[64];
    snprintf(what, sizeof what, "%s: listen", prog);
    perror(what);
    return -1;
  }
  printf("%d\n", ntohs(addr.sin_port));
  fflush(stdout);
  return lfd;
}

int bad_main(int argc, char **argv, const char *prog,
             const char *const *modes, int nmodes, int *mode, long *after,
             void (*run)(int lfd)) {
  int port = 0;
  if (parse(argc, argv, prog, modes, nmodes, mode, after, &port) < 0)
    return 2;
  int lfd = listen_on(prog, port);
  if (lfd < 0)
    return 1;
  run(lfd);
  return 1;
}

int bad_write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}
