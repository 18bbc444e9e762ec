/* chat_harness: drive the real iomux-chatd with scripted raw-socket
 * clients, for chat_check's scenarios.
 *
 * The server runs as a child in its own process group (stdin a pipe or
 * /dev/null); its port comes from the line it prints. Clients are plain
 * blocking-free sockets and poll(): nothing here uses iomux, so a library
 * bug cannot hide the same bug in the server.
 *
 * Expectations are POSIX extended regular expressions matched against one
 * line (without its CR LF). `tc_expect` skips lines that do not match until
 * one does or time runs out; on failure it prints what came instead. Every
 * check prints "  FAIL client: ..." and returns 0, so a case reads as a
 * list of conditions:   ok &= tc_expect(a, " 001 alice ", 1000);
 */
#ifndef CHAT_HARNESS_H
#define CHAT_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the server ------------------------------------------------------------ */

typedef struct chat_srv {
  pid_t pid;
  int port;
  int console; /* write end of its stdin, or -1 (stdin was /dev/null) */
  int status;  /* wait status once it exited, else -1 */
} chat_srv;

extern const char *chat_server_path; /* set by main from --server */

/* Start iomux-chatd --port 0 plus args (NULL-terminated). With console,
 * its stdin is a pipe (srv->console); else /dev/null. Returns 1, or 0 with
 * a FAIL line. */
int srv_start(chat_srv *srv, int console, const char *const *args);

/* Send sig and wait up to ms for the exit: 1 if it exited with status 0
 * (else a FAIL line). Kills the process group in any case. */
int srv_stop(chat_srv *srv, int sig, int ms);

/* Wait up to ms for an exit (without signalling): 1 if it exited 0. */
int srv_wait_exit(chat_srv *srv, int ms);

/* Kill it, whatever state it is in (end of a failed case). */
void srv_kill(chat_srv *srv);

/* VmRSS in KiB, -1 if gone. */
long srv_rss_kb(const chat_srv *srv);

/* ---- clients ------------------------------------------------------------------- */

typedef struct tc {
  int fd;
  char name[32];
  int auto_pong; /* answer PING while waiting (irc clients: on) */
  int eof;       /* the server closed (or reset) the connection */
  size_t len;    /* unread bytes in buf */
  char buf[1 << 16];
} tc;

uint64_t now_ms(void);
void sleep_ms(int ms);

/* Connect to 127.0.0.1:port. rcvbuf > 0 sets SO_RCVBUF first (a slow
 * reader's small window). NULL (and a FAIL line) on failure. */
tc *tc_connect(int port, const char *name, int rcvbuf);
void tc_free(tc *c);
/* "127.0.0.1:port" of the client's end, as the server names it. */
void tc_addr(const tc *c, char *buf, size_t size);
/* Close with a reset (SO_LINGER 0) instead of a FIN. */
void tc_reset(tc *c);

/* Send a line (printf-formatted; "\r\n" added) or raw bytes. 1 or 0. */
int tc_send(tc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tc_send_raw(tc *c, const void *buf, size_t len);

/* The next line within ms: 1 (line filled, NUL-terminated), 0 timeout, -1
 * the connection ended. */
int tc_line(tc *c, char *line, size_t size, int ms);

/* A line matching re within ms (other lines are skipped): 1, else FAIL. */
int tc_expect(tc *c, const char *re, int ms);
/* Like tc_expect, and the line is copied out. */
int tc_expect_get(tc *c, const char *re, int ms, char *line, size_t size);
/* No line matching re (NULL: no line at all) within ms: 1, else FAIL.
 * The lines read meanwhile are used up: expect what must come first. */
int tc_expect_none(tc *c, const char *re, int ms);
/* The server closes the connection within ms (lines before are skipped). */
int tc_expect_closed(tc *c, int ms);

/* IRC: NICK + USER, then the welcome up to the end of the MOTD. */
int tc_register(tc *c, const char *nick);
/* IRC: connect and register in one. */
tc *tc_irc(int port, const char *nick);
/* IRC: JOIN and wait for the end of the names list. */
int tc_join(tc *c, const char *chan);

/* ---- IRC fixtures --------------------------------------------------------------- */

/* A server and up to 8 registered clients, cl[i] named by the i-th nick. */
typedef struct chat_fx {
  chat_srv srv;
  tc *cl[8];
  int n;
} chat_fx;

/* The functional cases' server: flood control off, so a script's bursts
 * are not paced (chat.irc.flood tests the pacing). */
extern const char *const chat_irc_args[];

/* Start the server with args and register the nicks (NULL-terminated). */
int fx_start(chat_fx *f, const char *const *args, ...);
/* SIGTERM: 1 if it exited 0 within 3 s. Frees the clients. */
int fx_end(chat_fx *f);

/* ---- the scenario runner ------------------------------------------------------- */

/* A case returns 1 when every check passed. A group is what one CTest test
 * runs: chat_check --server PATH GROUP. */
typedef struct chat_case {
  const char *name;
  int (*run)(void);
} chat_case;

typedef struct chat_group {
  const char *name;
  const chat_case *cases;
} chat_group;

/* The groups, one array per file, each ending with {NULL, NULL}. */
extern const chat_case chat_plain_cases[], chat_irc_reg_cases[],
    chat_irc_chan_cases[], chat_irc_msg_cases[], chat_irc_query_cases[],
    chat_irc_error_cases[], chat_irc_timeout_cases[], chat_irc_flood_cases[],
    chat_load_cases[], chat_slow_cases[], chat_garbage_cases[],
    chat_ii_cases[];

/* The server's VmRSS bound under load: 32 MB, 512 MB with --sanitized. */
extern long chat_rss_limit_kb;
/* --sanitized: the server was built with sanitizers. */
extern int chat_sanitized;
/* The idle-memory bound per registered client (--idle-limit; 2 KiB, the
 * issue's goal for one node). */
extern long chat_idle_limit_bytes;

/* A FAIL line, for checks the helpers do not cover. Returns 0. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Raise RLIMIT_NOFILE's soft limit towards `want`; the new limit. */
long raise_nofile(long want);

#endif
