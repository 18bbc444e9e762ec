/* iomux-chatd: what both protocols do with a new connection before it is a
 * client: name its peer, or turn it away. */
#include "conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void chat_peer(int fd, char *host, size_t size, int *port) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  snprintf(host, size, "unknown");
  *port = 0;
  if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
    return;
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &sin->sin_addr, host, (socklen_t)size);
    *port = ntohs(sin->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, host, (socklen_t)size);
    *port = ntohs(sin6->sin6_port);
  }
}

void chat_socket_setup(int fd, size_t sndbuf, int nodelay) {
  int size = sndbuf > (1 << 30) ? 1 << 30 : (int)sndbuf, one = 1;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  if (nodelay)
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* The socket is new and its buffer empty: one send() takes the line, or
 * the client never sees it; either way it is closed. */
void chat_refuse(int fd, const char *line) {
  if (send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    /* gone already: nothing to tell */
  }
  close(fd);
}
