/* iomux-bench: where `load` and `chat` connect (bench_addr.h). */
#define _GNU_SOURCE
#include "bench_addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static int is_loopback(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(a))
    return a->s6_addr[12] == 127;
  return IN6_IS_ADDR_LOOPBACK(a);
}

int bench_resolve(const char *mode, const char *host, int port,
                  int allow_remote, struct sockaddr_storage *addr,
                  socklen_t *addrlen) {
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
  int rc = getaddrinfo(host, service, &hints, &ai);
  if (rc != 0) {
    fprintf(stderr, "iomux-bench %s: %s: %s\n", mode, host, gai_strerror(rc));
    return 2;
  }
  memcpy(addr, ai->ai_addr, ai->ai_addrlen);
  *addrlen = ai->ai_addrlen;
  freeaddrinfo(ai);
  if (!allow_remote && !is_loopback(addr)) {
    fprintf(stderr, "iomux-bench %s: refusing to load %s: not a loopback "
            "address (127.0.0.0/8, ::1); load aimed at another machine by "
            "mistake is an attack on it. If it is yours: --allow-remote\n",
            mode, host);
    return 2;
  }
  return -1;
}
