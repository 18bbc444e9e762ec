/* iomux-bench compare: the options, parsed strictly: a value is taken
 * whole or refused ("--reps 3x"), --reps must be odd so that the median
 * is one of the runs, --busy needs --idle; each refusal is one line that
 * names the option, what it wants and what it got, and points at --help.
 */
#define _GNU_SOURCE
#include "compare.h"

#include "common/cli.h"
#include "common/parse.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOOL "iomux-bench compare"

/* The most telling models, for --quick (and `make demo`): each of the five
 * I/O models, the library, and two anchors. */
const char cmp_quick_models[] = "blocking,threads,nonblocking,select,poll,"
                                "epoll,sigio,uring,reactor,libev,libuv";

/* The models the --idle scenario compares: the readiness models that
 * watch every connection from one thread, and the completion one. */
const char *const cmp_idle_models[CMP_NIDLE_MODELS] = {
    "select", "poll", "epoll", "reactor", "uring"};

static void usage(FILE *to) {
  fprintf(to,
      "usage: iomux-bench compare [--models all|M1,M2,...] [--conns N1,N2,...]\n"
      "         [--size B] [--pipeline K] [--duration S] [--warmup S]\n"
      "         [--reps N] [--idle M1,M2,... [--busy K]] [--out DIR]\n"
      "         [--echo PATH] [--anchors DIR] [--quick] [--version]\n"
      "\n"
      "Starts each echo server model, drives it with `iomux-bench load` at\n"
      "each connection count (server and load on different CPUs), and\n"
      "reports medians: a table here, and in DIR report.html, results.csv,\n"
      "results.json and SVG charts.\n"
      "\n"
      "  --models LIST  iomux-echo models (`iomux-echo --model list`) and\n"
      "                 anchors libuv, libev, libevent (default all: every\n"
      "                 model and each anchor that is built)\n"
      "  --conns LIST   connection counts (default 1,10,100,1000)\n"
      "  --size B       message size (default 64)\n"
      "  --pipeline K   messages in flight per connection (default 1)\n"
      "  --duration S   measured seconds per run (default 3)\n"
      "  --warmup S     seconds before measuring (default 1)\n"
      "  --reps N       runs per cell, odd, so that the median is one of them;\n"
      "                 the charts show the range of them all (default 3)\n"
      "  --idle LIST    also run the idle scenario: K busy connections among\n"
      "                 each of these counts of idle ones (e.g. 0,100,1000,\n"
      "                 10000), for those of %s, %s, %s, %s and %s\n"
      "                 in --models; select is not run past FD_SETSIZE\n"
      "  --busy K       the busy connections of --idle (default 10)\n"
      "  --out DIR      where the report goes (default report)\n"
      "  --echo PATH    iomux-echo (default: next to iomux-bench, then\n"
      "                 ../echo/ in the build tree)\n"
      "  --anchors DIR  where uv_echo, ev_echo, event_echo are (default:\n"
      "                 next to iomux-bench)\n"
      "  --quick        the demo: %s\n"
      "                 at 1,100,1000 connections, 2 s runs, 0.5 s warm-up,\n"
      "                 1 rep (options after it still apply)\n",
      cmp_idle_models[0], cmp_idle_models[1], cmp_idle_models[2], cmp_idle_models[3],
      cmp_idle_models[4], cmp_quick_models);
}

static int by_int(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

/* "1,10,100" -> sorted, without duplicates, each in [lo, 1000000]. */
static int parse_counts(const char *s, int lo, int *out, int *n) {
  char item[16];
  *n = 0;
  for (const char *p = s;; p++) {
    size_t len = strcspn(p, ",");
    if (len == 0 || len >= sizeof item || *n == CMP_MAX_CONNS)
      return -1;
    memcpy(item, p, len);
    item[len] = '\0';
    if (app_parse_int(item, lo, 1000000, &out[*n]) < 0)
      return -1;
    (*n)++;
    p += len;
    if (*p == '\0')
      break;
  }
  qsort(out, (size_t)*n, sizeof out[0], by_int);
  int k = 1;
  for (int i = 1; i < *n; i++)
    if (out[i] != out[k - 1])
      out[k++] = out[i];
  *n = k;
  return 0;
}

/* Set option c from arg. Returns NULL, or what the value should be. */
static const char *set_option(int c, const char *arg, cmp_opts *o,
                              cmp_args *a) {
  switch (c) {
  case 'm': a->models = arg; return NULL;
  case 'e': a->echo = arg; return NULL;
  case 'a': a->anchors = arg; return NULL;
  case 'o': o->out = arg; return NULL;
  case 'c':
    return parse_counts(arg, 1, o->conns, &o->nconns) < 0
               ? "whole numbers from 1 to 1000000, like 1,10,100" : NULL;
  case 'i':
    return parse_counts(arg, 0, o->idle, &o->nidle) < 0
               ? "whole numbers from 0 to 1000000, like 0,100,1000" : NULL;
  case 'd':
    return app_parse_double(arg, 0.001, 3600, &o->duration) < 0
               ? "seconds, from 0.001 to 3600" : NULL;
  case 'w':
    return app_parse_double(arg, 0, 3600, &o->warmup) < 0
               ? "seconds, from 0 to 3600" : NULL;
  case 's':
    return app_parse_int(arg, 1, 1 << 20, &o->size) < 0
               ? "a whole number of bytes from 1 to 1048576" : NULL;
  case 'k':
    return app_parse_int(arg, 1, 65536, &o->pipeline) < 0
               ? "a whole number from 1 to 65536" : NULL;
  case 'b':
    a->busy_given = 1;
    return app_parse_int(arg, 1, 10000, &o->idle_busy) < 0
               ? "a whole number from 1 to 10000" : NULL;
  case 'r':
    if (app_parse_int(arg, 1, CMP_MAX_REPS, &o->reps) < 0 || o->reps % 2 == 0)
      return "an odd whole number from 1 to 99, so that the median is one "
             "of the runs";
    return NULL;
  }
  return "no value"; /* not reached: every option is a case */
}

static void defaults(cmp_opts *o, cmp_args *a, int quick) {
  *a = (cmp_args){.models = quick ? cmp_quick_models : "all"};
  o->size = 64;
  o->pipeline = 1;
  o->duration = quick ? 2 : 3;
  o->warmup = quick ? 0.5 : 1;
  o->reps = quick ? 1 : 3;
  o->idle_busy = 10;
  o->out = "report";
  parse_counts(quick ? "1,100,1000" : "1,10,100,1000", 1, o->conns,
               &o->nconns);
}

int cmp_bad_usage(const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return app_usage_error(TOOL, "%s", what);
}

int cmp_parse(int argc, char **argv, cmp_opts *o, cmp_args *a) {
  static const struct option longs[] = {
      {"models", required_argument, 0, 'm'},
      {"conns", required_argument, 0, 'c'},
      {"size", required_argument, 0, 's'},
      {"pipeline", required_argument, 0, 'k'},
      {"duration", required_argument, 0, 'd'},
      {"warmup", required_argument, 0, 'w'},
      {"reps", required_argument, 0, 'r'},
      {"idle", required_argument, 0, 'i'},
      {"busy", required_argument, 0, 'b'},
      {"out", required_argument, 0, 'o'},
      {"echo", required_argument, 0, 'e'},
      {"anchors", required_argument, 0, 'a'},
      {"quick", no_argument, 0, 'q'},
      {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},
      {0, 0, 0, 0}};
  int quick = 0, c, i;
  for (i = 1; i < argc; i++) /* --quick is a preset: later options win */
    quick |= strcmp(argv[i], "--quick") == 0;
  defaults(o, a, quick);
  opterr = 0; /* our own words, one line */
  while ((c = getopt_long(argc, argv, ":", longs, &i)) != -1) {
    const char *want;
    if (c == 'h') {
      usage(stdout);
      return 0;
    }
    if (c == 'V')
      return app_version("iomux-bench");
    if (c == '?' || c == ':')
      return app_option_error(TOOL, c, argv);
    if (c != 'q' && (want = set_option(c, optarg, o, a)))
      return cmp_bad_usage("--%s wants %s, not '%s'", longs[i].name, want,
                           optarg);
  }
  if (optind < argc)
    return app_no_operands(TOOL, argc, argv);
  if (a->busy_given && o->nidle == 0)
    return cmp_bad_usage("--busy goes with --idle");
  return -1;
}

