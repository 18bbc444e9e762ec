/* bad_server: what the servers that break on purpose (bad_echo for
 * bench.load, bad_irc for bench.chat) share: their command line, their
 * listening socket, and a blocking write. Plain POSIX on purpose, without
 * iomux: the servers that test the load generators must not share their
 * code. */
#ifndef IOMUX_BAD_SERVER_H
#define IOMUX_BAD_SERVER_H

#include <stddef.h>

/* Parse "--mode M [--after N] [--port P]", option-value pairs in any order:
 * *mode gets M's index in modes[0..nmodes-1], *after and *port the numbers
 * if given (left as they are if not). Returns 0, or -1 after printing
 * "usage: PROG --mode a|b|... [--after N] [--port P]" on stderr when the
 * mode is missing or unknown or a value is missing. */
int bad_parse(int argc, char **argv, const char *prog,
              const char *const *modes, int nmodes, int *mode, long *after,
              int *port);

/* Ignore SIGPIPE, listen on 127.0.0.1:port (0: a free port) and print the
 * port on stdout, one line. Returns the listening fd, or -1 after
 * perror("PROG: listen"). */
int bad_listen(const char *prog, int port);

/* Write all of buf, across EINTR and partial writes. Returns 0, or -1 if
 * the peer is gone. */
int bad_write_all(int fd, const char *buf, size_t len);

#endif
