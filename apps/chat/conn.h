/* iomux-chatd: helpers for a freshly accepted connection. */
#ifndef IOMUX_CHAT_CONN_H
#define IOMUX_CHAT_CONN_H

#include <netinet/in.h>
#include <stddef.h>

/* Room for an address in text (IPv6 at most) and for "[host]:port". */
#define CHAT_HOST_MAX INET6_ADDRSTRLEN
#define CHAT_ADDR_MAX (INET6_ADDRSTRLEN + 8)

/* The peer's numeric address and port ("unknown" and 0 if it is gone). */
void chat_peer(int fd, char *host, size_t size, int *port);

/* Send `line` if the socket takes it at once, then close `fd`. For the
 * connections past --max-clients. */
void chat_refuse(int fd, const char *line);

#endif
