/* bad_server: what the servers that break on purpose (bad_echo for
 * bench.load, bad_irc for bench.chat) share: their main (the command line
 * and the listening socket) and a blocking write. Each server brings its
 * mode names and its poll loop. Plain POSIX on purpose, without iomux: the
 * servers that test the load generators must not share their code. */
#ifndef IOMUX_BAD_SERVER_H
#define IOMUX_BAD_SERVER_H

#include <stddef.h>

/* The server's main. Parses "--mode M [--after N] [--port P]", option-
 * value pairs in any order: *mode gets M's index in modes[0..nmodes-1],
 * *after the number if given (left as it is if not). Then ignores SIGPIPE,
 * listens on 127.0.0.1:P (P 0 or not given: a free port), prints the port
 * on stdout, one line, and calls run(listening fd), which returns only if
 * poll() fails. Returns the exit status: 2 after printing "usage: PROG
 * --mode a|b|... [--after N] [--port P]" on stderr when the mode is
 * missing or unknown or a value is missing; 1 after perror("PROG:
 * listen"), or when run returns. */
int bad_main(int argc, char **argv, const char *prog,
             const char *const *modes, int nmodes, int *mode, long *after,
             void (*run)(int lfd));

/* Write all of buf, across EINTR and partial writes. Returns 0, or -1 if
 * the peer is gone. */
int bad_write_all(int fd, const char *buf, size_t len);

#endif
