/* Helpers shared by the tests: real sockets on loopback, fd limits, clocks,
 * and an allocator that counts and fails on request. */
#ifndef IOMUX_TESTUTIL_H
#define IOMUX_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A connected AF_UNIX stream pair, both ends non-blocking and close-on-exec. */
void tu_socketpair(int sv[2]);

/* A connected TCP pair over 127.0.0.1: sv[0] the client, sv[1] the accepted
 * end; both non-blocking. */
void tu_tcp_pair(int sv[2]);

/* Make the peer's close send a RST (SO_LINGER 0), then close it. */
void tu_close_with_reset(int fd);

/* Write until the kernel refuses (EAGAIN); returns the bytes written. */
size_t tu_fill(int fd);

/* Raise the soft RLIMIT_NOFILE to at least `want` (up to the hard limit).
 * Returns the new soft limit. */
long tu_raise_nofile(long want);

uint64_t tu_now_ms(void);

/* The backend named `name` ("select", "poll", "epoll"); -1 if none is. */
int tu_backend_named(const char *name);

/* The counting allocator: install with tu_alloc_install(), before any iomux
 * object exists. Counts live blocks, live bytes and calls; when
 * tu_alloc_fail_at >= 0, the call with that number (0-based, counted from
 * the last tu_alloc_reset) fails. */
extern long tu_alloc_live, tu_alloc_calls, tu_alloc_fail_at;
extern long long tu_alloc_bytes;
void tu_alloc_install(void);
void tu_alloc_reset(long fail_at);

#endif
