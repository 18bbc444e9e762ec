/* iomux-echo: options, the listening socket, stop requests, and the model
 * table. The models themselves are one file each. */
#define _GNU_SOURCE
#include "echo.h"

#include "common/cli.h"
#include "common/parse.h"
#include "iomux/error.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_MODELS 32

static const echo_model *models[MAX_MODELS];
static int nmodels;

void echo_register(const echo_model *m) {
  if (nmodels < MAX_MODELS)
    models[nmodels++] = m;
}

static int by_rank(const void *a, const void *b) {
  return (*(const echo_model *const *)a)->rank -
         (*(const echo_model *const *)b)->rank;
}

static const echo_model *find_model(const char *name) {
  for (int i = 0; i < nmodels; i++)
    if (strcmp(models[i]->name, name) == 0)
      return models[i];
  return NULL;
}

void echo_transform(char *buf, size_t len, int on) {
  if (!on)
    return;
  for (size_t i = 0; i < len; i++)
    buf[i] = (char)toupper((unsigned char)buf[i]);
}

volatile sig_atomic_t echo_stopping;
int echo_stop_fd = -1;
static int stop_write_fd = -1;

static void on_stop(int sig) {
  (void)sig;
  int saved = errno;
  echo_stopping = 1;
  if (write(stop_write_fd, "s", 1) < 0) {
    /* the pipe already holds a byte: readable either way */
  }
  errno = saved;
}

int echo_catch_stop(void) {
  if (echo_stop_fd >= 0)
    return 0; /* already caught (main.c does it before printing the port) */
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
    return -errno;
  echo_stop_fd = p[0];
  stop_write_fd = p[1];
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop; /* no SA_RESTART: blocked calls return EINTR */
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
    return -errno;
  return 0;
}

void echo_block_stop_signals(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int echo_fail(const char *what, int err) {
  fprintf(stderr, "iomux-echo: %s: %s\n", what, iom_strerror(err));
  return 1;
}

int echo_accept(int listen_fd, const char *who) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0)
      return fd;
    switch (errno) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
      return -EAGAIN;
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case EINTR:
      continue; /* that connection is gone: take the next */
    default: {
      int err = -errno;
      char what[64];
      snprintf(what, sizeof what, "%s: accept paused", who);
      echo_fail(what, err);
      return err;
    }
    }
  }
}

/* A bound, listening, blocking socket with SO_REUSEADDR, and SO_REUSEPORT
 * only when asked: with it, a second server on a port in use would start
 * and silently take half the clients; without it, it fails here. */
static int open_listener(const echo_opts *o, int reuseport) {
  char service[8], where[300];
  snprintf(service, sizeof service, "%d", o->port);
  int v6 = strchr(o->host, ':') != NULL;
  snprintf(where, sizeof where, "listen on %s%s%s:%d", v6 ? "[" : "", o->host,
           v6 ? "]" : "", o->port);
  struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM},
                  *ai;
  int rc = getaddrinfo(o->host, service, &hints, &ai);
  if (rc != 0) {
    fprintf(stderr, "iomux-echo: %s: %s\n", o->host, gai_strerror(rc));
    return -1;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      (reuseport &&
       setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) ||
      bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN)) {
    echo_fail(where, -errno);
    if (fd >= 0)
      close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  return fd;
}

static int bound_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &len);
  return ntohs(ss.ss_family == AF_INET6
                   ? ((struct sockaddr_in6 *)&ss)->sin6_port
                   : ((struct sockaddr_in *)&ss)->sin_port);
}

static void list_models(FILE *to, int verbose) {
  for (int i = 0; i < nmodels; i++) {
    if (!verbose) {
      fprintf(to, "%s\n", models[i]->name);
      continue;
    }
    fprintf(to, "  %-12s waits: %s\n  %-12s copies: %s\n", models[i]->name,
            models[i]->waits, "", models[i]->copies);
  }
}

static void usage(FILE *to) {
  fprintf(to,
          "usage: iomux-echo --model M [--host H] [--port P] [--upper]\n"
          "                  [--max-conns N] [--threads N] [--reuseport]\n"
          "       iomux-echo --model list | --help | --version\n"
          "\n"
          "Echoes every byte each client sends, in order, under one I/O "
          "model.\n"
          "Once it listens it prints the port on stdout, one line.\n"
          "\n"
          "  --model M      the I/O model (below); --model list prints the "
          "names\n"
          "  --host H       address to listen on (default 127.0.0.1)\n"
          "  --port P       port (default 7000; 0 picks a free one)\n"
          "  --upper        ASCII-uppercase what is echoed\n"
          "  --max-conns N  connections served at once (default 10000)\n"
          "  --threads N    workers (pool), loops (reactor), rings (uring); "
          "default 4 for pool, 1 otherwise\n"
          "  --reuseport    share the port with other sockets (SO_REUSEPORT);\n"
          "                 set by itself for reactor and uring with "
          "--threads > 1,\n"
          "                 which listen once per thread. Without it a port "
          "in use\n"
          "                 is an error\n"
          "  --version      print the version\n"
          "\nSIGINT or SIGTERM ends it, with exit status 0. Exit status 2: a "
          "usage error.\n\nmodels:\n");
  list_models(to, 1);
}

/* Returns -1 to go on, else an exit status. */
static int parse(int argc, char **argv, echo_opts *o, const char **model) {
  enum { OPT_REUSEPORT = 256, OPT_VERSION };
  static const struct option longs[] = {
      {"model", required_argument, 0, 'm'}, {"host", required_argument, 0, 'H'},
      {"port", required_argument, 0, 'p'},  {"upper", no_argument, 0, 'u'},
      {"max-conns", required_argument, 0, 'c'},
      {"threads", required_argument, 0, 't'},
      {"reuseport", no_argument, 0, OPT_REUSEPORT},
      {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, OPT_VERSION},
      {0, 0, 0, 0}};
  *o = (echo_opts){.host = "127.0.0.1", .port = 7000, .max_conns = 10000};
  int c, i = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":m:H:p:uc:t:h", longs, &i)) != -1) {
    int bad = 0;
    switch (c) {
    case 'm': *model = optarg; break;
    case 'H': o->host = optarg; break;
    case 'p': bad = app_parse_int(optarg, 0, 65535, &o->port); break;
    case 'u': o->upper = 1; break;
    case 'c': bad = app_parse_int(optarg, 1, 1000000, &o->max_conns); break;
    case 't': bad = app_parse_int(optarg, 1, 1024, &o->threads); break;
    case OPT_REUSEPORT: o->reuseport = 1; break;
    case 'h': usage(stdout); return 0;
    case OPT_VERSION: return app_version("iomux-echo");
    default: return app_option_error("iomux-echo", c, argv);
    }
    if (bad)
      return app_bad_value("iomux-echo",
                           c == 'p' ? "port" : c == 'c' ? "max-conns"
                                                        : "threads",
                           optarg);
  }
  if (app_no_operands("iomux-echo", argc, argv))
    return 2;
  if (!*model)
    return app_usage_error("iomux-echo", "--model is required");
  return -1;
}

int main(int argc, char **argv) {
  qsort(models, (size_t)nmodels, sizeof models[0], by_rank);
  echo_opts o;
  const char *name = NULL;
  int rc = parse(argc, argv, &o, &name);
  if (rc >= 0)
    return rc;
  if (strcmp(name, "list") == 0) {
    list_models(stdout, 0);
    return 0;
  }
  const echo_model *m = find_model(name);
  if (!m)
    return app_usage_error("iomux-echo", "unknown model '%s' (--model list "
                           "names them)", name);
  int fd = open_listener(&o, o.reuseport || (m->reuseport && o.threads > 1));
  if (fd < 0)
    return 1;
  /* Catch stop requests before saying where we listen: a script that reads
   * the port and sends SIGTERM at once must get a clean exit. Models that
   * take signals their own way replace this handler. */
  int err = echo_catch_stop();
  if (err < 0)
    return echo_fail("signals", err);
  printf("%d\n", bound_port(fd));
  fflush(stdout);
  return m->run(&o, fd);
}
