/* iomux-chatd: options, the console, stop signals, and the start.
 *
 * The protocols are plain.c and irc_*.c; this file only hands one of them
 * a loop, and ends the run when asked: `quit` on the console (stdin, when it
 * is a terminal or a pipe), SIGINT or SIGTERM. Either way every client gets
 * an ERROR line and up to a second to take what it is owed; then the
 * process frees everything and exits 0.
 */
#include "chatd.h"

#include "common/cli.h"
#include "common/parse.h"
#include "iomux/error.h"
#include "iomux/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONSOLE_LINE 256

typedef struct chatd {
  const chatd_proto *proto;
  void *srv;
  iom_loop *loop;
  iom_signal *sigint, *sigterm;
  iom_io *console;
  iom_lines *console_lines;
  int stopping;
} chatd;

/* ---- stopping --------------------------------------------------------------- */

/* Everything but the server goes quiet, so once the server's clients are
 * gone nothing keeps the loop running. */
static void stop(chatd *d) {
  if (d->stopping)
    return;
  d->stopping = 1;
  iom_signal_stop(d->sigint);
  iom_signal_stop(d->sigterm);
  iom_io_free(d->console);
  d->console = NULL;
  d->proto->shutdown(d->srv);
}

static void on_signal(iom_signal *sig, int signo, void *data) {
  (void)sig;
  (void)signo;
  stop(data);
}

/* ---- the console -------------------------------------------------------------- */

static int on_console_line(void *data, const char *line, size_t len, int err) {
  chatd *d = data;
  if (err < 0 || len == 0)
    return 0;
  if (len == 4 && memcmp(line, "quit", 4) == 0) {
    stop(d);
    return 1;
  }
  fprintf(stderr, "iomux-chatd: console: unknown command (try: quit)\n");
  return 0;
}

/* One read per wake-up, without O_NONBLOCK: stdin may be the user's
 * terminal, shared with the shell after we exit. At EOF the console goes
 * away, and on an error (EIO: put in the background of its terminal); the
 * server goes on. */
static void on_console(iom_io *io, unsigned events, void *data) {
  (void)events;
  chatd *d = data;
  char buf[CONSOLE_LINE];
  ssize_t n = read(iom_io_fd(io), buf, sizeof buf);
  if (n > 0) {
    iom_lines_feed(d->console_lines, buf, (size_t)n, on_console_line, d);
    return;
  }
  if (n < 0 && errno == EINTR)
    return;
  iom_io_free(d->console);
  d->console = NULL;
}

/* Is stdin a console: a terminal or a pipe (or a socket), not /dev/null,
 * a file or closed? Asked first thing, before any fd of ours exists. A
 * terminal counts only in the foreground (`iomux-chatd &` leaves the
 * keyboard to the shell), and SIGTTIN is ignored, so a server sent to the
 * background later gets EIO from the terminal instead of being stopped. */
static int console_wanted(void) {
  struct stat st;
  if (fstat(STDIN_FILENO, &st) < 0)
    return 0;
  if (isatty(STDIN_FILENO)) {
    signal(SIGTTIN, SIG_IGN);
    return tcgetpgrp(STDIN_FILENO) == getpgrp();
  }
  return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
}

/* Started with 0, 1 or 2 closed, the first socket would take its number
 * (and "listening on" would go to a client): put /dev/null there. */
static void open_std_fds(void) {
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
      return;
}

static int console_start(chatd *d) {
  int err = iom_lines_new(CONSOLE_LINE, &d->console_lines);
  if (err == 0)
    err = iom_io_new(d->loop, STDIN_FILENO, on_console, d, &d->console);
  if (err == 0)
    err = iom_io_start(d->console, IOM_READ);
  return err;
}

/* ---- options ------------------------------------------------------------------ */

static void usage(FILE *to) {
  fprintf(to,
      "usage: iomux-chatd [--host H] [--port P] [--proto irc|plain]\n"
      "                   [--name SERVER] [--max-clients N] [--sendq BYTES]\n"
      "                   [--ping SECONDS] [--motd FILE] [--flood on|off]\n"
      "                   [--batch-ms MS] [--nodelay on|off]\n"
      "                   [--cluster redis://HOST:PORT[/DB] [--node-id ID]]\n"
      "       iomux-chatd --help | --version\n"
      "\n"
      "A group chat server. --proto irc (the default) speaks the IRC client\n"
      "protocol (WeeChat, ii, irssi, nc, ...); --proto plain is the\n"
      "classic example: each line goes to every other client as\n"
      "\"<host:port> line\", and `quit` leaves (nc is the client).\n"
      "\n"
      "  --host H          address to listen on (default 127.0.0.1)\n"
      "  --port P          port (default 6667 irc, 7711 plain; 0 picks one)\n"
      "  --proto irc|plain the protocol (default irc)\n"
      "  --name SERVER     the server's name in IRC replies (default "
      "chat.iomux;\n"
      "                    at most 63 bytes, no space or :!@,)\n"
      "  --max-clients N   clients at once (default 10000); more are told\n"
      "                    ERROR and closed\n"
      "  --sendq BYTES     what a client may leave unread (default 65536,\n"
      "                    at least 1024; k and m suffixes); past it:\n"
      "                    ERROR :SendQ exceeded\n"
      "  --ping SECONDS    irc: silence before PING, and again before the\n"
      "                    drop (Ping timeout); also the time allowed to\n"
      "                    register (default 120)\n"
      "  --motd FILE       irc: the message of the day (default: none, 422)\n"
      "  --flood on|off    irc: a burst of 20 lines, then 4 lines/s; excess\n"
      "                    lines wait, past 8 KiB waiting: Excess Flood\n"
      "                    (default on; off for benchmarks)\n"
      "  --batch-ms MS     flush clients' output at most once per MS ms, so\n"
      "                    all a client is sent meanwhile leaves in one\n"
      "                    system call; output after a quiet spell leaves\n"
      "                    at the end of the loop turn (default 10; 0: at\n"
      "                    the end of every loop turn)\n"
      "  --nodelay on|off  TCP_NODELAY on client sockets: each flush leaves\n"
      "                    at once, where Nagle's algorithm may hold it up\n"
      "                    to 40 ms for the client's ACK and merge it with\n"
      "                    the next; less latency under load, more CPU per\n"
      "                    delivery (default off, as in ngircd)\n"
      "  --cluster URL     irc: one network with the other chatd processes\n"
      "                    on this Redis (redis://HOST:PORT[/DB], or\n"
      "                    unix:PATH[?db=N]): users, channels and messages\n"
      "                    are shared through it (docs/chat-cluster.md)"
#ifndef IOM_HAVE_HIREDIS
      "\n                    (not in this build: it has no hiredis)"
#endif
      "\n"
      "  --node-id ID      this node's name in the network (default: the\n"
      "                    host name and the pid; [A-Za-z0-9._-], 48 at "
      "most)\n"
      "  --version         print the version\n"
      "\n"
      "It prints \"iomux-chatd: listening on HOST:PORT\" once it listens.\n"
      "`quit` on stdin (a terminal in the foreground, or a pipe), SIGINT or\n"
      "SIGTERM: every client gets ERROR and up to a second to take its data;\n"
      "exit status 0. Exit status 2: a usage error.\n");
}

static int bad(const char *opt, const char *value) {
  return app_bad_value("iomux-chatd", opt, value);
}

/* One option. Returns -1 to go on, else an exit status. */
static int option(int c, const char *arg, char **argv, chatd_opts *o,
                  const chatd_proto **proto) {
  long v;
  switch (c) {
  case 'H': o->host = arg; return -1;
  case 'n':
    if (!*arg || strlen(arg) > 63 || strpbrk(arg, " :!@,"))
      return bad("name", arg);
    o->name = arg;
    return -1;
  case 'M': o->motd = arg; return -1;
  case 'p':
    if (app_parse_long(arg, 0, 65535, &v) < 0)
      return bad("port", arg);
    o->port = (int)v;
    return -1;
  case 'P':
    if (strcmp(arg, "irc") && strcmp(arg, "plain"))
      return bad("proto", arg);
    *proto = arg[0] == 'i' ? &chatd_irc : &chatd_plain;
    return -1;
  case 'c':
    if (app_parse_long(arg, 1, 1000000, &v) < 0)
      return bad("max-clients", arg);
    o->max_clients = (int)v;
    return -1;
  case 'q':
    if (app_parse_bytes(arg, 1024, 1L << 30, &v) < 0)
      return bad("sendq", arg);
    o->sendq = (size_t)v;
    return -1;
  case 'i':
    if (app_parse_long(arg, 1, 86400, &v) < 0)
      return bad("ping", arg);
    o->ping = (int)v;
    return -1;
  case 'f':
    if (strcmp(arg, "on") && strcmp(arg, "off"))
      return bad("flood", arg);
    o->flood = arg[1] == 'n';
    return -1;
  case 'D':
    if (strcmp(arg, "on") && strcmp(arg, "off"))
      return bad("nodelay", arg);
    o->nodelay = arg[1] == 'n';
    return -1;
  case 'b':
    if (app_parse_long(arg, 0, 1000, &v) < 0)
      return bad("batch-ms", arg);
    o->batch_ms = (unsigned)v;
    return -1;
  case 'C':
#ifdef IOM_HAVE_HIREDIS
    o->cluster = arg;
    return -1;
#else
    return app_usage_error("iomux-chatd", "--cluster: this iomux-chatd was "
                           "built without hiredis (no cluster support)");
#endif
  case 'N': o->node_id = arg; return -1;
  case 'h': usage(stdout); return 0;
  case 'V': return app_version("iomux-chatd");
  default: return app_option_error("iomux-chatd", c, argv); /* ':', '?' */
  }
}

static int parse(int argc, char **argv, chatd_opts *o,
                 const chatd_proto **proto) {
  static const struct option longs[] = {
      {"host", required_argument, 0, 'H'},
      {"port", required_argument, 0, 'p'},
      {"proto", required_argument, 0, 'P'},
      {"name", required_argument, 0, 'n'},
      {"max-clients", required_argument, 0, 'c'},
      {"sendq", required_argument, 0, 'q'},
      {"ping", required_argument, 0, 'i'},
      {"motd", required_argument, 0, 'M'},
      {"flood", required_argument, 0, 'f'},
      {"batch-ms", required_argument, 0, 'b'},
      {"nodelay", required_argument, 0, 'D'},
      {"cluster", required_argument, 0, 'C'},
      {"node-id", required_argument, 0, 'N'},
      {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},
      {0, 0, 0, 0}};
  *o = (chatd_opts){.host = "127.0.0.1", .port = -1, .name = "chat.iomux",
                    .max_clients = 10000, .sendq = 65536, .ping = 120,
                    .flood = 1, .batch_ms = 10};
  *proto = &chatd_irc;
  int c;
  opterr = 0; /* our own one-line messages */
  while ((c = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
    int rc = option(c, optarg, argv, o, proto);
    if (rc >= 0)
      return rc;
  }
  if (app_no_operands("iomux-chatd", argc, argv))
    return 2;
  if (o->port < 0)
    o->port = (*proto)->default_port;
  if ((o->cluster || o->node_id) && *proto != &chatd_irc)
    return app_usage_error("iomux-chatd",
                           "--cluster and --node-id are for --proto irc");
  return -1;
}

/* ---- the run -------------------------------------------------------------- */

static int fail(const char *what, int err) {
  fprintf(stderr, "iomux-chatd: %s: %s\n", what, iom_strerror(err));
  return 1;
}

/* Signals first: a script that reads the port and sends SIGTERM at once
 * must get a clean exit. */
static int start(chatd *d, const chatd_opts *o, int console) {
  int err = iom_loop_new(IOM_DEFAULT, &d->loop);
  if (err < 0)
    return fail("loop", err);
  if ((err = iom_signal_new(d->loop, on_signal, d, &d->sigint)) < 0 ||
      (err = iom_signal_new(d->loop, on_signal, d, &d->sigterm)) < 0 ||
      (err = iom_signal_start(d->sigint, SIGINT)) < 0 ||
      (err = iom_signal_start(d->sigterm, SIGTERM)) < 0)
    return fail("signals", err);
  int port;
  const char *what = "start";
  if ((err = d->proto->start(d->loop, o, &d->srv, &port, &what)) < 0)
    return fail(what, err);
  if (console && (err = console_start(d)) < 0)
    return fail("console", err);
  printf("iomux-chatd: listening on %s:%d\n", o->host, port);
  fflush(stdout);
  return 0;
}

static void cleanup(chatd *d) {
  if (d->srv)
    d->proto->free(d->srv);
  iom_io_free(d->console);
  iom_lines_free(d->console_lines);
  iom_signal_free(d->sigint);
  iom_signal_free(d->sigterm);
  if (d->loop && iom_loop_free(d->loop) < 0)
    fprintf(stderr, "iomux-chatd: loop: handles left at exit\n");
}

int main(int argc, char **argv) {
  int console = console_wanted();
  open_std_fds();
  chatd_opts o;
  chatd d = {0};
  int rc = parse(argc, argv, &o, &d.proto);
  if (rc >= 0)
    return rc;
  rc = start(&d, &o, console);
  if (rc == 0) {
    int err = iom_loop_run(d.loop, IOM_RUN_DEFAULT);
    if (err < 0)
      rc = fail("loop", err);
  }
  cleanup(&d);
  return rc;
}
