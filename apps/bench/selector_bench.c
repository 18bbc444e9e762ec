/* iomux-bench selector: what one wake-up costs as registered fds grow.
 *
 * The classic claim: select and poll hand the kernel every registered fd on
 * every call and scan them all on the way back, so a wake-up costs O(fds
 * registered); epoll keeps the interest list in the kernel and costs
 * O(fds ready). Here N idle sockets are registered beside one pipe, a byte is
 * written to the pipe, and one select call is timed: the call that finds the
 * single ready fd among N+1. Median over repetitions, per backend.
 *
 * The pipe is opened after the idle sockets, so it is the last fd that select
 * and poll examine. Position matters: until the kernel has found one ready
 * fd it hangs a wait-queue entry on every fd it checks, in case it must
 * sleep. Last is the honest case for a busy server, where the one fd that
 * woke it is anywhere among many idle ones.
 */
#define _GNU_SOURCE
#include "bench.h"

#include "common/cli.h"
#include "common/clock.h"
#include "common/fdlimit.h"
#include "common/parse.h"
#include "iomux/error.h"
#include "iomux/selector.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#define TOOL "iomux-bench selector" /* how its messages start */
#define MAX_SIZES 16
#define MAX_REPS 99
#define REP_NS 20000000ull /* each repetition runs for at least 20 ms */

static const iom_backend all_backends[] = {
    IOM_SELECT,
    IOM_POLL,
#if defined(__linux__)
    IOM_EPOLL,
#endif
};
#define NBACKENDS (sizeof all_backends / sizeof all_backends[0])

typedef struct options {
  int sizes[MAX_SIZES], nsizes;
  int reps;
  int csv;
} options;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The idle fds: N/2 socket pairs, both ends registered, nothing ever sent. */
typedef struct fixture {
  iom_selector *sel;
  int *fds, nfds;
  int pipe[2];
} fixture;

static void fixture_close(fixture *fx) {
  iom_selector_free(fx->sel);
  for (int i = 0; i < fx->nfds; i++)
    close(fx->fds[i]);
  free(fx->fds);
  close(fx->pipe[0]);
  close(fx->pipe[1]);
}

static int fixture_open(fixture *fx, iom_backend kind, int n) {
  memset(fx, 0, sizeof *fx);
  fx->pipe[0] = fx->pipe[1] = -1;
  int err = iom_selector_new(kind, &fx->sel);
  if (err < 0)
    return err;
  fx->fds = calloc((size_t)n + 1, sizeof(int));
  if (!fx->fds)
    return -ENOMEM;
  while (fx->nfds < n) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
      return -errno;
    fx->fds[fx->nfds++] = sv[0];
    fx->fds[fx->nfds++] = sv[1];
  }
  if (pipe2(fx->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
    return -errno;
  for (int i = 0; i < fx->nfds; i++)
    if ((err = iom_selector_register(fx->sel, fx->fds[i], IOM_READ, NULL)) < 0)
      return err;
  return iom_selector_register(fx->sel, fx->pipe[0], IOM_READ, NULL);
}

/* One repetition: wake-ups until REP_NS has passed; mean ns per select. */
static int time_wakeups(fixture *fx, double *ns_per_call) {
  uint64_t spent = 0, calls = 0, start = app_now_ns();
  iom_ready out[4];
  char byte = 'w';
  while (app_now_ns() - start < REP_NS || calls < 20) {
    if (write(fx->pipe[1], &byte, 1) != 1)
      return -errno;
    uint64_t t0 = app_now_ns();
    int got = iom_selector_select(fx->sel, -1, out, 4);
    spent += app_now_ns() - t0;
    calls++;
    if (got != 1 || out[0].key->fd != fx->pipe[0])
      return got < 0 ? got : -EPROTO;
    if (read(fx->pipe[0], &byte, 1) != 1)
      return -errno;
  }
  *ns_per_call = (double)spent / (double)calls;
  return 0;
}

/* Median ns per wake-up for one backend at one size; <0 if it cannot run. */
static int measure(iom_backend kind, int n, int reps, double *median) {
  fixture fx;
  double runs[MAX_REPS];
  int err = fixture_open(&fx, kind, n);
  for (int r = 0; r < reps && err == 0; r++)
    err = time_wakeups(&fx, &runs[r]);
  fixture_close(&fx);
  if (err < 0)
    return err;
  qsort(runs, (size_t)reps, sizeof runs[0], cmp_double);
  *median = runs[reps / 2];
  return 0;
}

/* A comma list of idle fd counts, each 0-100000, at most MAX_SIZES. */
static int parse_sizes(const char *arg, options *o) {
  char buf[256];
  o->nsizes = 0;
  if (snprintf(buf, sizeof buf, "%s", arg) >= (int)sizeof buf)
    return -1;
  for (char *save = NULL, *p = strtok_r(buf, ",", &save); p;
       p = strtok_r(NULL, ",", &save))
    if (o->nsizes == MAX_SIZES ||
        app_parse_int(p, 0, 100000, &o->sizes[o->nsizes++]) < 0)
      return -1;
  return o->nsizes ? 0 : -1;
}

static void usage(FILE *to) {
  fprintf(to,
          "usage: iomux-bench selector [--sizes N,N,...] [--reps R] [--csv]\n"
          "       iomux-bench selector --help | --version\n"
          "\n"
          "Registers N idle sockets and one pipe with each selector backend,\n"
          "makes the pipe readable and times the select call that finds it.\n"
          "Prints ns per wake-up, the median of R repetitions of >= 20 ms.\n"
          "\n"
          "  --sizes LIST  idle fd counts, 0-100000 (default "
          "10,100,1000,10000)\n"
          "  --reps R      repetitions per cell, 1-%d (default 7)\n"
          "  --csv         backend,idle_fds,ns_per_wakeup rows instead of a "
          "table\n"
          "  --version     print the version\n",
          MAX_REPS);
}

static int parse(int argc, char **argv, options *o) {
  static const struct option longs[] = {{"sizes", required_argument, 0, 's'},
                                        {"reps", required_argument, 0, 'r'},
                                        {"csv", no_argument, 0, 'c'},
                                        {"help", no_argument, 0, 'h'},
                                        {"version", no_argument, 0, 'V'},
                                        {0, 0, 0, 0}};
  *o = (options){.sizes = {10, 100, 1000, 10000}, .nsizes = 4, .reps = 7};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
    switch (c) {
    case 's':
      if (parse_sizes(optarg, o) < 0)
        return app_bad_value(TOOL, "sizes", optarg);
      break;
    case 'r':
      if (app_parse_int(optarg, 1, MAX_REPS, &o->reps) < 0)
        return app_bad_value(TOOL, "reps", optarg);
      break;
    case 'c':
      o->csv = 1;
      break;
    case 'h':
      usage(stdout);
      return 0;
    case 'V':
      return app_version("iomux-bench");
    default:
      return app_option_error(TOOL, c, argv);
    }
  }
  return app_no_operands(TOOL, argc, argv) ? 2 : -1;
}

/* Room for N idle fds, stdio and the pipe (select: below FD_SETSIZE). */
static int fits(iom_backend kind, int n, long fd_limit) {
  if (n + 16 > fd_limit)
    return 0;
  return kind != IOM_SELECT || n + 16 < FD_SETSIZE;
}

static void print_header(const options *o, long fd_limit) {
  struct utsname u;
  uname(&u);
  printf("iomux-bench selector: one wake-up among N idle fds + 1 ready pipe\n");
  printf("machine: %s %s, %ld CPUs, fd limit %ld (raised to the hard limit)\n",
         u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN), fd_limit);
  printf("ns per select call, median of %d runs\n\n", o->reps);
  printf("%-8s", "backend");
  for (int i = 0; i < o->nsizes; i++) {
    char label[16];
    snprintf(label, sizeof label, "N=%d", o->sizes[i] & ~1);
    printf(" %10s", label);
  }
  printf("\n");
}

int bench_selector(int argc, char **argv) {
  options o;
  int rc = parse(argc, argv, &o);
  if (rc >= 0)
    return rc;
  long fd_limit = 1024; /* if the limit cannot even be read */
  app_raise_fd_limit(LONG_MAX, NULL, &fd_limit);
  if (o.csv)
    printf("backend,idle_fds,ns_per_wakeup\n");
  else
    print_header(&o, fd_limit);
  for (size_t b = 0; b < NBACKENDS; b++) {
    const char *name = iom_backend_name(all_backends[b]);
    if (!o.csv)
      printf("%-8s", name);
    for (int i = 0; i < o.nsizes; i++) {
      double ns;
      int n = o.sizes[i] & ~1; /* whole socket pairs */
      if (!fits(all_backends[b], n, fd_limit)) {
        if (!o.csv)
          printf(" %10s", "-");
        continue;
      }
      int err = measure(all_backends[b], n, o.reps, &ns);
      if (err < 0) {
        fprintf(stderr, "\niomux-bench selector: %s at N=%d: %s\n", name, n,
                iom_strerror(err));
        return 1;
      }
      if (o.csv)
        printf("%s,%d,%.0f\n", name, n, ns);
      else
        printf(" %10.0f", ns);
      fflush(stdout);
    }
    if (!o.csv)
      printf("\n");
  }
  if (!o.csv)
    printf("\n-: more fds than the backend can watch (select: FD_SETSIZE = "
           "%d) or than the fd limit allows\n",
           FD_SETSIZE);
  return 0;
}
