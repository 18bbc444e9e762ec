/* iomux-bench chat: options, and where to connect (bench_addr.c: loopback
 * only, unless --allow-remote, as with `load`). */
#define _GNU_SOURCE
#include "bench_addr.h"
#include "chat.h"
#include "common/cli.h"
#include "common/parse.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef IOM_NGIRCD_CONF /* set by CMake: apps/bench/ngircd/ngircd.conf */
#define IOM_NGIRCD_CONF "apps/bench/ngircd/ngircd.conf"
#endif

#define TOOL "iomux-bench chat" /* how its messages start */
#define MAX_TRACKS 50000000L /* receiver x sender pairs: 16 bytes each */

static void usage(FILE *to) {
  fprintf(to,
      "usage: iomux-bench chat (--port P[,P...] [--host H] | --spawn "
      "ngircd)\n"
      "         [--clients N] [--channels C] [--senders S]\n"
      "         (--rate R | --closed) [--size B] [--duration S] [--warmup S]\n"
      "         [--drain S] [--setup-timeout S] [--server-pid PID[,PID...]]\n"
      "         [--json | --csv] [--allow-remote]\n"
      "         [--ngircd PATH] [--ngircd-conf PATH] [--server-cpu N] "
      "[--load-cpu N]\n"
      "       iomux-bench chat --help | --version\n"
      "\n"
      "Chat load on an IRC server: N clients register and join C channels\n"
      "(client i joins channel i %% C); clients 0..S-1 send PRIVMSGs to their\n"
      "channel, R messages/s in total (open loop) or, with --closed, each\n"
      "its next message as soon as a designated receiver (the next member\n"
      "of its channel) has its previous one. Every member checks every\n"
      "message (sender, channel, sequence, body). Reports deliveries/s and\n"
      "delivery latency over the window after the warm-up, and the errors:\n"
      "lost, duplicated, reordered, corrupt, disconnected, setup. Exit status\n"
      "1 if there was any.\n"
      "\n"
      "  --host H           server address (default 127.0.0.1; loopback "
      "only)\n"
      "  --port P[,P...]    server port; with several (up to %d: the nodes\n"
      "                     of one network, chatd --cluster), client i\n"
      "                     connects to the (i %% n)-th, and latency is also\n"
      "                     given for receivers on the sender's server and on\n"
      "                     another\n"
      "  --clients N        clients (default 100)\n"
      "  --channels C       channels (default 1; at least 2 clients each)\n"
      "  --senders S        senders among the clients (default 10)\n"
      "  --rate R           messages per second, all senders together\n"
      "  --closed           closed loop: one message in flight per sender\n"
      "  --size B           message text bytes, %d-%d (default 64)\n"
      "  --duration S       measured seconds (default 5)\n"
      "  --warmup S         seconds of sending before measuring (default 1)\n"
      "  --drain S          after the window, how long to wait for messages\n"
      "                     still owed before they count as lost (default 5)\n"
      "  --setup-timeout S  for all clients to join (default 60)\n"
      "  --server-pid PID[,PID...]  also report the server's CPU and memory\n"
      "                     (with several: summed, e.g. the nodes and Redis)\n"
      "  --json, --csv      one JSON object, or a CSV header and row\n"
      "  --allow-remote     allow a non-loopback address\n"
      "  --spawn ngircd     start ngircd for the run (temp dir, free port,\n"
      "                     --ngircd-conf), pinned to --server-cpu (default\n"
      "                     0) while the load runs on --load-cpu (default 1;\n"
      "                     -1: no pinning), and stop it afterwards\n"
      "  --ngircd PATH      the ngircd program (default: ngircd on PATH, or\n"
      "                     /usr/sbin/ngircd)\n"
      "  --ngircd-conf PATH its config, without Ports (default:\n"
      "                     %s)\n"
      "  --version          print the version\n"
      "\n"
      "Exit status 2: a usage error (a bad option or value, or no such\n"
      "server process).\n",
      CHAT_MAX_PORTS, CHAT_MIN_SIZE, CHAT_MAX_SIZE, IOM_NGIRCD_CONF);
}

/* A comma list of whole numbers in [lo, hi], at most max of them. */
static int parse_list(const char *arg, long lo, long hi, int *out, int max,
                      int *n) {
  char buf[256];
  *n = 0;
  if (snprintf(buf, sizeof buf, "%s", arg) >= (int)sizeof buf)
    return -1;
  for (char *save = NULL, *p = strtok_r(buf, ",", &save); p;
       p = strtok_r(NULL, ",", &save)) {
    long v;
    if (*n == max || app_parse_long(p, lo, hi, &v) < 0)
      return -1;
    out[(*n)++] = (int)v;
  }
  return *n > 0 ? 0 : -1;
}

/* One option with a value; returns -1 if the value is bad. */
static int set_value(chat_opts *o, int c, const char *arg) {
  long v = 0;
  int bad = 0;
  switch (c) {
  case 'H': o->host = arg; return 0;
  case 'x': o->spawn = arg; return strcmp(arg, "ngircd") ? -1 : 0;
  case 'g': o->ngircd = arg; return 0;
  case 'f': o->ngircd_conf = arg; return 0;
  case 'd': return app_parse_double(arg, 0.001, 86400, &o->duration);
  case 'w': return app_parse_double(arg, 0, 86400, &o->warmup);
  case 'D': return app_parse_double(arg, 0, 3600, &o->drain);
  case 'T': return app_parse_double(arg, 0.1, 3600, &o->setup_timeout);
  case 'r': return app_parse_double(arg, 0.01, 1e7, &o->rate);
  case 'p':
    bad = parse_list(arg, 1, 65535, o->ports, CHAT_MAX_PORTS, &o->nports);
    o->port = o->ports[0];
    break;
  case 'n': bad = app_parse_long(arg, 2, CHAT_MAX_CLIENTS, &v);
    o->clients = (int)v; break;
  case 'C': bad = app_parse_long(arg, 1, CHAT_MAX_CLIENTS, &v);
    o->channels = (int)v; break;
  case 's': bad = app_parse_long(arg, 1, CHAT_MAX_CLIENTS, &v);
    o->senders = (int)v; break;
  case 'B': bad = app_parse_long(arg, CHAT_MIN_SIZE, CHAT_MAX_SIZE, &v);
    o->size = (int)v; break;
  case 'S':
    bad = parse_list(arg, 1, 1L << 30, o->server_pids, CHAT_MAX_PIDS,
                     &o->nserver_pids);
    o->server_pid = o->server_pids[0];
    break;
  case 'u': bad = app_parse_long(arg, -1, 4095, &v); o->server_cpu = (int)v;
    break;
  case 'l': bad = app_parse_long(arg, -1, 4095, &v); o->load_cpu = (int)v; break;
  }
  return bad;
}

/* The ngircd program: --ngircd, else the first on PATH, else /usr/sbin. */
static const char *find_ngircd(void) {
  static char found[512];
  const char *path = getenv("PATH");
  while (path && *path) {
    size_t n = strcspn(path, ":");
    snprintf(found, sizeof found, "%.*s/ngircd", (int)n, path);
    if (n && access(found, X_OK) == 0)
      return found;
    path += n + (path[n] == ':');
  }
  return "/usr/sbin/ngircd";
}

static const char *check(chat_opts *o) {
  long channels = o->channels, per = o->clients / o->channels;
  if (!o->spawn && !o->port)
    return "--port (or --spawn ngircd) is required";
  if ((o->rate > 0) == o->closed)
    return "exactly one of --rate R and --closed is required";
  if (o->senders > o->clients)
    return "--senders must not exceed --clients";
  if (per < 2)
    return "each channel needs at least 2 clients (--clients >= 2 x "
           "--channels)";
  if ((long)o->clients * ((o->senders + channels - 1) / channels) >
      MAX_TRACKS)
    return "too many receiver x sender pairs (clients x senders per "
           "channel must stay within 50 million)";
  return NULL;
}

/* Each --server-pid names a running process. Returns 0, or 2 (said). */
static int check_pids(const chat_opts *o) {
  for (int k = 0; k < o->nserver_pids; k++)
    if (kill(o->server_pids[k], 0) < 0 && errno == ESRCH)
      return app_usage_error(TOOL, "--server-pid %d: no such process",
                             o->server_pids[k]);
  return 0;
}

int chat_parse(int argc, char **argv, chat_opts *o) {
  static const struct option longs[] = {
      {"host", required_argument, 0, 'H'},
      {"port", required_argument, 0, 'p'},
      {"clients", required_argument, 0, 'n'},
      {"channels", required_argument, 0, 'C'},
      {"senders", required_argument, 0, 's'},
      {"rate", required_argument, 0, 'r'},
      {"closed", no_argument, 0, 'c'},
      {"size", required_argument, 0, 'B'},
      {"duration", required_argument, 0, 'd'},
      {"warmup", required_argument, 0, 'w'},
      {"drain", required_argument, 0, 'D'},
      {"setup-timeout", required_argument, 0, 'T'},
      {"server-pid", required_argument, 0, 'S'},
      {"json", no_argument, 0, 'j'},
      {"csv", no_argument, 0, 'v'},
      {"allow-remote", no_argument, 0, 'a'},
      {"spawn", required_argument, 0, 'x'},
      {"ngircd", required_argument, 0, 'g'},
      {"ngircd-conf", required_argument, 0, 'f'},
      {"server-cpu", required_argument, 0, 'u'},
      {"load-cpu", required_argument, 0, 'l'},
      {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},
      {0, 0, 0, 0}};
  *o = (chat_opts){.host = "127.0.0.1", .clients = 100, .channels = 1,
                   .senders = 10, .size = 64, .duration = 5, .warmup = 1,
                   .drain = 5, .setup_timeout = 60,
                   .ngircd_conf = IOM_NGIRCD_CONF, .server_cpu = 0,
                   .load_cpu = 1};
  int c, i = 0;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":", longs, &i)) != -1) {
    switch (c) {
    case 'c': o->closed = 1; break;
    case 'j':
    case 'v':
      if (bench_format_option(TOOL, &o->format,
                              c == 'j' ? BENCH_JSON : BENCH_CSV))
        return 2;
      break;
    case 'a': o->allow_remote = 1; break;
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
  const char *why = check(o);
  if (why)
    return app_usage_error(TOOL, "%s", why);
  if (check_pids(o))
    return 2;
  if (o->spawn) {
    o->host = "127.0.0.1";
    if (!o->ngircd)
      o->ngircd = find_ngircd();
    return -1; /* the address is known once the server runs */
  }
  for (int k = 0; k < o->nports; k++) {
    int rc = bench_resolve("chat", o->host, o->ports[k], o->allow_remote,
                           &o->addrs[k], &o->addrlens[k]);
    if (rc >= 0)
      return rc;
  }
  o->addr = o->addrs[0];
  o->addrlen = o->addrlens[0];
  return -1;
}
