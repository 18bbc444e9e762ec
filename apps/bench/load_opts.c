/* iomux-bench load: options, and where to connect (bench_addr.c: loopback
 * only, unless --allow-remote). */
#define _GNU_SOURCE
#include "bench_addr.h"
#include "load.h"

#include "common/cli.h"
#include "common/parse.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>

#define TOOL "iomux-bench load" /* how its messages start */
#define MAX_CONNS 1000000
#define MAX_SIZE (1 << 20)
#define MAX_SECONDS 86400.0 /* --duration, --warmup: a day at most */
#define MAX_IN_FLIGHT (64 << 20) /* bytes in flight per connection */

static void usage(FILE *to) {
  fprintf(to,
      "usage: iomux-bench load --port P [--host H] [--conns N] [--size B]\n"
      "         [--pipeline K] [--duration S] [--warmup S] [--upper]\n"
      "         [--server-pid PID] [--json | --csv] [--allow-remote] "
      "[--procs N]\n"
      "       iomux-bench load --help | --version\n"
      "\n"
      "Closed-loop load on a TCP echo server: each connection keeps K\n"
      "messages of B bytes in flight and sends one more whenever one has\n"
      "come back whole. Every byte is checked. Reports messages/s, bytes/s\n"
      "and latency over the window after the warm-up, and the errors:\n"
      "mismatch, lost (closed or reset early), stalled (no progress for\n"
      "2 s, or no echo at all in the run), connect failed. Exit status 1\n"
      "if there was any.\n"
      "\n"
      "  --host H          server address (default 127.0.0.1; loopback "
      "only)\n"
      "  --port P          server port (required)\n"
      "  --conns N         connections (default 100)\n"
      "  --size B          message size in bytes (default 64)\n"
      "  --pipeline K      messages in flight per connection (default 1)\n"
      "  --duration S      measured seconds, fractions allowed (default 5)\n"
      "  --warmup S        seconds before measuring (default 1)\n"
      "  --upper           expect the echo uppercased (iomux-echo --upper)\n"
      "  --server-pid PID  also report the server's CPU, wake-ups and memory\n"
      "  --json, --csv     one JSON object, or a CSV header and row\n"
      "  --allow-remote    allow a non-loopback address\n"
      "  --procs N         split the connections over N processes (for\n"
      "                    over ~10,000, or when one CPU is not enough)\n"
      "  --version         print the version\n"
      "\n"
      "Exit status 2: a usage error (a bad option or value, or no such\n"
      "server process).\n");
}

/* One option with a value; returns -1 if the value is bad. */
static int set_value(load_opts *o, int c, const char *arg) {
  switch (c) {
  case 'H': o->host = arg; return 0;
  case 'd': return app_parse_double(arg, 0.001, MAX_SECONDS, &o->duration);
  case 'w': return app_parse_double(arg, 0.0, MAX_SECONDS, &o->warmup);
  case 'p': return app_parse_int(arg, 1, 65535, &o->port);
  case 'n': return app_parse_int(arg, 1, MAX_CONNS, &o->conns);
  case 's': return app_parse_int(arg, 1, MAX_SIZE, &o->size);
  case 'k': return app_parse_int(arg, 1, 65536, &o->pipeline);
  case 'P': return app_parse_int(arg, 1, LOAD_MAX_PROCS, &o->procs);
  case 'S': return app_parse_int(arg, 1, 1 << 30, &o->server_pid);
  }
  return 0;
}

static int check(load_opts *o) {
  const char *why = NULL;
  if (!o->port)
    why = "--port is required";
  else if (o->procs > o->conns)
    why = "--procs must not exceed --conns";
  else if ((long)o->size * o->pipeline > MAX_IN_FLIGHT)
    why = "--size times --pipeline must stay within 64 MiB";
  if (why)
    return app_usage_error(TOOL, "%s", why);
  if (o->server_pid && kill(o->server_pid, 0) < 0 && errno == ESRCH)
    return app_usage_error(TOOL, "--server-pid %d: no such process",
                           o->server_pid);
  return bench_resolve("load", o->host, o->port, o->allow_remote, &o->addr,
                       &o->addrlen);
}

int load_parse(int argc, char **argv, load_opts *o) {
  static const struct option longs[] = {
      {"host", required_argument, 0, 'H'},
      {"port", required_argument, 0, 'p'},
      {"conns", required_argument, 0, 'n'},
      {"size", required_argument, 0, 's'},
      {"pipeline", required_argument, 0, 'k'},
      {"duration", required_argument, 0, 'd'},
      {"warmup", required_argument, 0, 'w'},
      {"upper", no_argument, 0, 'u'},
      {"server-pid", required_argument, 0, 'S'},
      {"json", no_argument, 0, 'j'},
      {"csv", no_argument, 0, 'c'},
      {"allow-remote", no_argument, 0, 'r'},
      {"procs", required_argument, 0, 'P'},
      {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},
      {0, 0, 0, 0}};
  *o = (load_opts){.host = "127.0.0.1", .conns = 100, .size = 64,
                   .pipeline = 1, .procs = 1, .duration = 5, .warmup = 1};
  int c, i = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":", longs, &i)) != -1) {
    switch (c) {
    case 'u': o->upper = 1; break;
    case 'j':
    case 'c':
      if (bench_format_option(TOOL, &o->format,
                              c == 'j' ? BENCH_JSON : BENCH_CSV))
        return 2;
      break;
    case 'r': o->allow_remote = 1; break;
    case 'h': usage(stdout); return 0;
    case 'V': return app_version("iomux-bench");
    case ':':
    case '?': return app_option_error(TOOL, c, argv);
    default:
      if (set_value(o, c, optarg) < 0)
        return app_bad_value(TOOL, longs[i].name, optarg);
    }
  }
  if (app_no_operands(TOOL, argc, argv))
    return 2;
  return check(o);
}
