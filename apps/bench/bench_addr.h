/* iomux-bench: where `load` and `chat` connect.
 *
 * The target must be a loopback address (127.0.0.0/8, ::1) unless
 * --allow-remote says otherwise: a load generator pointed at someone else's
 * machine by a typo is a denial-of-service tool. */
#ifndef IOMUX_BENCH_ADDR_H
#define IOMUX_BENCH_ADDR_H

#include <sys/socket.h>

/* Resolve host:port (TCP) once, into *addr and *addrlen, and refuse a
 * non-loopback address unless allow_remote. On failure it says why on
 * stderr, as "iomux-bench MODE: ...". Returns -1 to go on, or 2 (the exit
 * status of a bad option), as the modes' option parsers do. */
int bench_resolve(const char *mode, const char *host, int port,
                  int allow_remote, struct sockaddr_storage *addr,
                  socklen_t *addrlen);

#endif
