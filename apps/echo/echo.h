/* iomux-echo: one echo protocol, served under every I/O model.
 *
 * main.c parses the options, opens the listening socket and hands it to one
 * model. Each model is one file that shows that model and nothing else. */
#ifndef IOMUX_ECHO_H
#define IOMUX_ECHO_H

#include <signal.h>
#include <stddef.h>

typedef struct echo_opts {
  const char *host;
  int port;
  int upper;     /* --upper: ASCII-uppercase what is echoed */
  int max_conns; /* --max-conns: the most connections served at once */
  int threads;   /* --threads: workers (pool), loops (reactor), rings (uring) */
  int reuseport; /* --reuseport: SO_REUSEPORT on the listening socket */
} echo_opts;

/* Output a multiplexing model may hold for one client before it stops
 * reading from it: a client that sends and never reads costs this much. */
#define ECHO_MAX_PENDING (256 * 1024)

typedef struct echo_model {
  const char *name;
  int rank; /* place in --help and --model list: the order of DESIGN.md */
  /* Serve on `listen_fd` (bound, listening, blocking) until a stop is
   * requested; return the exit status. */
  int (*run)(const echo_opts *opts, int listen_fd);
  const char *waits;  /* phase 1: how it waits for data */
  const char *copies; /* phase 2: how the data is copied */
  /* With --threads N > 1, run() opens N - 1 more listening sockets on the
   * port (SO_REUSEPORT), so main.c sets SO_REUSEPORT on the first too. */
  int reuseport;
} echo_model;

/* --upper in place; `on` says whether to do anything. */
void echo_transform(char *buf, size_t len, int on);

/* Stop requests (SIGINT, SIGTERM). main.c calls echo_catch_stop() before
 * run(): it installs a handler without SA_RESTART, so a blocked call returns
 * EINTR; the handler sets echo_stopping and makes echo_stop_fd readable, so
 * a multiplexing model can wait for it too. Calling it again does nothing.
 * A model that takes the signals another way must check echo_stopping once
 * its own way is in place (a signal may have come before). */
extern volatile sig_atomic_t echo_stopping;
extern int echo_stop_fd;
int echo_catch_stop(void);

/* Block SIGINT and SIGTERM in the calling thread (for worker threads, so the
 * main thread is the one interrupted). */
void echo_block_stop_signals(void);

/* One accept4() on a non-blocking listener, the new socket non-blocking and
 * close-on-exec. Errors that belong to one half-made connection
 * (ECONNABORTED, EPROTO, EPERM, EINTR) are skipped. Returns the fd; -EAGAIN
 * when no connection waits; or the error (-EMFILE, -ENFILE, -ENOBUFS,
 * -ENOMEM, ...) when the process or system is out of something, reported as
 * "iomux-echo: <who>: accept paused": the connection stays queued and the
 * listener stays ready, so the caller must stop accepting for a while. */
int echo_accept(int listen_fd, const char *who);

/* Report a failure the way every model does: "iomux-echo: what: error". */
int echo_fail(const char *what, int err);

/* Each model file registers itself, so adding a model is adding a file:
 *   static const echo_model model = {...};
 *   ECHO_REGISTER(model)                                                  */
void echo_register(const echo_model *m);
#define ECHO_REGISTER(m)                                                      \
  __attribute__((constructor)) static void echo_register_##m(void) {         \
    echo_register(&m);                                                       \
  }

#endif
