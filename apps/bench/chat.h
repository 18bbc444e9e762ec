/* iomux-bench chat: what the generator (chat.c), its checks (chat_msg.c),
 * options (chat_opts.c), report (chat_report.c) and the spawned server
 * (chat_spawn.c) share. */
#ifndef IOMUX_BENCH_CHAT_H
#define IOMUX_BENCH_CHAT_H

#include "bench_report.h"
#include "bench_server.h"
#include "histogram.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define CHAT_MAX_CLIENTS 200000
#define CHAT_MIN_SIZE 48 /* room for the header of the message text */
#define CHAT_MAX_SIZE 400
#define CHAT_MAX_PORTS 8 /* --port P1,P2,...: a network of several servers */
#define CHAT_MAX_PIDS 8  /* --server-pid A,B,...: their CPU, together */

typedef struct chat_opts {
  const char *host;
  int port;        /* the first of ports[] */
  int ports[CHAT_MAX_PORTS], nports; /* client i connects to ports[i % n] */
  int clients, channels, senders, size;
  double rate; /* messages/s in total; 0 with --closed */
  int closed;
  double duration, warmup, drain, setup_timeout; /* seconds */
  int server_pid; /* 0: none; else server_pids[0] */
  int server_pids[CHAT_MAX_PIDS], nserver_pids; /* summed in the report */
  bench_format format;
  int allow_remote;
  const char *spawn;       /* "ngircd", or NULL */
  const char *ngircd;      /* its program */
  const char *ngircd_conf; /* the config template */
  int server_cpu, load_cpu; /* --spawn pins them; -1: no pinning */
  struct sockaddr_storage addr; /* addrs[0] */
  socklen_t addrlen;
  struct sockaddr_storage addrs[CHAT_MAX_PORTS];
  socklen_t addrlens[CHAT_MAX_PORTS];
} chat_opts;

/* The kinds of error, each counted; any makes the exit status 1. */
enum {
  CE_LOST,       /* a receiver never got a message of its channel */
  CE_DUP,        /* ... got one twice */
  CE_REORDER,    /* ... got one after a later one of the same sender */
  CE_CORRUPT,    /* a PRIVMSG with a wrong sender, channel, or body */
  CE_DISCONNECT, /* the server closed or reset a client during the run */
  CE_SETUP,      /* a client could not connect, register or join */
  CE_KINDS
};

typedef struct chat_result {
  uint64_t joined;           /* clients that got into their channel */
  uint64_t setup_ms;         /* connect + register + join, all clients */
  uint64_t window_ns;        /* the measured window */
  uint64_t sent, sent_window;           /* messages; in the window */
  uint64_t delivered, delivered_window; /* first receipts; in the window */
  uint64_t expected;         /* deliveries owed: sent x (members - 1) */
  uint64_t self_echo;        /* own messages echoed back (ignored) */
  double load_cpu_s;         /* the generator's CPU in the window */
  uint64_t errors[CE_KINDS];
  char detail[CE_KINDS][200]; /* the first of each kind, in words */
  int setup_err;              /* < 0: the generator could not start */
  server_sample srv_base, srv_start, srv_end;
  histogram latency; /* ns from sending a message to one receipt */
  /* With several ports: the same, for a receiver on the sender's server
   * and on another one (a chatd --cluster network: across Redis). */
  histogram latency_same, latency_across;
} chat_result;

/* The servers' figures, summed over --server-pid's pids (chat_run.c):
 * 0, or the first error (then `out` is not ok). */
int chat_server_sample(const chat_opts *o, server_sample *out);

/* ---- the message text (chat_msg.c) ---------------------------------------- */

/* The text of message `seq` of sender `id`, intended at `t_ns`: "id seq
 * t_ns " then letters from a pattern that depends on (id, seq), up to
 * `size` bytes. Returns its length. */
size_t chat_text_build(char *dst, int size, uint32_t id, uint32_t seq,
                       uint64_t t_ns);

/* Parse and check a text: 0 and the three numbers, or -1 if it is not one
 * of ours, or has a wrong length or body. */
int chat_text_parse(const char *text, size_t len, int size, uint32_t *id,
                    uint32_t *seq, uint64_t *t_ns);

/* One IRC line, split: prefix nick, command, first parameter, and the
 * trailing text. Pointers into the line (not NUL-terminated). */
typedef struct irc_line {
  const char *nick, *cmd, *target, *text;
  size_t nick_len, cmd_len, target_len, text_len;
} irc_line;

/* Returns 0, or -1 if there is no command. */
int irc_split(const char *line, size_t len, irc_line *out);

/* ---- options, report, spawned server ------------------------------------------ */

/* Parse the options and resolve the address (chat_opts.c). Returns -1 to go
 * on, or an exit status (0 after --help, 2 on a bad option). */
int chat_parse(int argc, char **argv, chat_opts *o);

/* Print the result in o->format (chat_report.c). */
void chat_report(const chat_opts *o, const chat_result *r, FILE *to);

uint64_t chat_error_total(const chat_result *r);

/* The error names, for the report. */
extern const char *const chat_error_name[CE_KINDS];

/* A server started by --spawn (chat_spawn.c). */
typedef struct chat_server {
  int pid;
  char dir[64]; /* its temp dir: config and log */
} chat_server;

/* Start ngircd with o->ngircd_conf (and the port) in a temp dir, pinned to
 * o->server_cpu, and wait until it accepts connections; set o->port,
 * o->server_pid and o->addr. Returns 0 or -1 (said on stderr). */
int chat_spawn_ngircd(chat_opts *o, chat_server *srv);

/* Stop it (SIGTERM, then SIGKILL after 3 s) and remove its temp dir. With
 * keep_log, the log is printed to stderr first. */
void chat_spawn_stop(chat_server *srv, int keep_log);

#endif
