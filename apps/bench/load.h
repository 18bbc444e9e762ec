/* iomux-bench load: what the generator (load.c) and its report
 * (load_report.c) share. */
#ifndef IOMUX_BENCH_LOAD_H
#define IOMUX_BENCH_LOAD_H

#include "bench_report.h"
#include "bench_server.h"
#include "histogram.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define LOAD_MAX_PROCS 256

typedef struct load_opts {
  const char *host;
  int port;
  int conns, size, pipeline, procs;
  double duration, warmup; /* seconds */
  int upper, allow_remote;
  int server_pid; /* 0: none */
  bench_format format;
  struct sockaddr_storage addr; /* host:port, resolved */
  socklen_t addrlen;
} load_opts;

/* The kinds of error, each counted and each making the exit status 1. */
enum { ERR_MISMATCH, ERR_LOST, ERR_STALLED, ERR_CONNECT, ERR_KINDS };

/* The result of one process; merged across processes. Plain data, sent
 * through a pipe as it is. */
typedef struct load_result {
  uint64_t messages, bytes; /* echoed back within the measured window */
  uint64_t window_ns;       /* the measured window's length */
  uint64_t connected;       /* connections that were open at some point */
  double load_cpu_s;        /* CPU the generator used in the window */
  uint64_t errors[ERR_KINDS];
  char detail[ERR_KINDS][160]; /* the first of each kind, in words */
  int setup_err;               /* < 0: the process could not start */
  server_sample srv_base, srv_start, srv_end; /* before connecting; window */
  histogram latency; /* ns from sending a message to its last byte back */
} load_result;

/* The messages (load_msg.c). Message `seq` of connection `id` is a 16-byte
 * header, the id and the sequence number in hex, then letters and digits
 * from a pattern whose start depends on both, so that no two neighbouring
 * messages look alike; cut to the message size. */
typedef struct payload {
  size_t size;
  int upper;          /* check against the uppercased bytes */
  char *lower, *caps; /* the pattern, as sent and uppercased */
} payload;

int payload_init(payload *p, int size, int upper); /* 0 or -ENOMEM */
void payload_free(payload *p);

/* Write message (id, seq) into dst (p->size bytes). */
void payload_build(const payload *p, uint32_t id, uint64_t seq, char *dst);

/* Check m bytes that came back at offset `off` of message (id, seq).
 * Returns -1 if they are right, else the index of the first wrong byte,
 * with the byte expected there in *expected. */
long payload_check(const payload *p, uint32_t id, uint64_t seq, size_t off,
                   const char *buf, size_t m, char *expected);

/* Parse the options and resolve the address (load_opts.c). Returns -1 to go
 * on, or an exit status (0 after --help, 2 on a bad option). */
int load_parse(int argc, char **argv, load_opts *o);

/* Print the result in o->format to `to`. */
void load_report(const load_opts *o, const load_result *r, FILE *to);

/* The sum of all error counts. */
uint64_t load_error_total(const load_result *r);

#endif
