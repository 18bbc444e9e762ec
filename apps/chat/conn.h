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

/* Set up a client's socket:
 *   - the kernel's send buffer held to `sndbuf` (SO_SNDBUF; the kernel
 *     doubles it and caps it at net.core.wmem_max). Without it, the
 *     kernel's autotuning lets a client that never reads take up to
 *     tcp_wmem's maximum (4 MB) of kernel memory before the server's own
 *     send queue even starts to fill; with it, such a client is cut off
 *     at about --sendq in the server and twice that in the kernel;
 *   - with `nodelay` (--nodelay on), TCP_NODELAY. With Nagle's algorithm
 *     (the default, as in ngircd) a flush's small segment waits while the
 *     client has not acknowledged the previous one, which a client may
 *     delay by up to 40 ms: the kernel then sends several flushes as one
 *     segment. That costs the server less CPU per delivery and the client
 *     up to 40 ms of latency under load (docs/io-models.md, "Group chat").
 * Either may fail (a Unix socket has no Nagle); nothing depends on it. */
void chat_socket_setup(int fd, size_t sndbuf, int nodelay);

/* Send `line` if the socket takes it at once, then close `fd`. For the
 * connections past --max-clients. */
void chat_refuse(int fd, const char *line);

#endif
