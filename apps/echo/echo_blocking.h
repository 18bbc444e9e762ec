/* echo_blocking: one conversation held with blocking calls, shared by the
 * blocking, threads and pool models. They differ only in who runs it: the
 * only thread, a thread per client, or a worker of a fixed pool. blocking.c
 * explains the model and lists the pitfalls handled here: partial send(),
 * SIGPIPE, resets, half-close, EINTR versus a stop request (a thread that
 * blocks the stop signals never sees EINTR, and sees echo_stopping only as
 * the process exits), and accept() failures that would repeat at once. */
#ifndef IOMUX_ECHO_BLOCKING_H
#define IOMUX_ECHO_BLOCKING_H

/* Echo on the blocking socket fd (with --upper if `upper`) until the client
 * is done or gone, or a stop is requested. Returns 0 when the client shut
 * down its side, -1 when it is gone or a stop came. Does not close fd.
 * Thread-safe: the buffer is on the caller's stack (16 KiB of it). */
int echo_serve_blocking(int fd, int upper);

/* accept() failed with err (a positive errno). Out of descriptors or memory
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM): sleeps 100 ms, since the connection
 * stays in the backlog and retrying at once fails again at once, then
 * returns 0. EBADF, EINVAL, ENOTSOCK, EFAULT: the listening socket itself
 * is unusable, returns -1. Anything else (EINTR, ECONNABORTED, the new
 * connection's network errors): returns 0, try again. */
int echo_accept_failed(int err);

#endif
