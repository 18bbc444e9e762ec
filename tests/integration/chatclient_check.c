/* chatclient_check: the end-to-end test of iomux-chat, the terminal client.
 *
 *   chatclient_check --client PATH --ngircd PATH
 *   chatclient_check --client PATH --chatd PATH [--plain]
 *
 * It starts a real IRC server on a free loopback port: ngircd with a config
 * generated in a temp dir (ngircd -n -f CONF), or iomux-chatd (--port P,
 * and --proto plain with --plain). Then it drives iomux-chat through pipes,
 * typing into its stdin and reading its stdout, while a scripted peer on a
 * raw socket (plain blocking socket code, nothing from iomux) sits in the
 * same channel. Checked, each step with a deadline:
 *   usage       --help exits 0; a bad option or missing arguments exit 2
 *               with one line on stderr;
 *   register    the client's nick is taken (by the peer): it registers as
 *               nick_ (433 handling) and joins the channel of its command
 *               line; the peer sees the JOIN;
 *   talk        a typed line reaches the peer as PRIVMSG to the channel;
 *               the peer's PRIVMSG, CTCP ACTION, private message and
 *               NOTICE appear on the client's stdout with time (HH:MM)
 *               and sender, and the escape sequence the peer slipped into
 *               one does not;
 *   commands    /me, /msg, /names, /nick, /part, /join do what they say;
 *   ping        the server PINGs after a silence (ngircd: 5 s, its least;
 *               iomux-chatd --ping 2: 2 s) and drops a client that does not
 *               answer as long after: the client is still there;
 *   quit        /quit MSG: the peer sees QUIT with MSG, the client exits 0;
 *   eof         a second client whose stdin ends: it sends QUIT and exits 0;
 *   plain       (--plain) lines go both ways as they are; EOF leaves.
 * Output: "ok NAME" or "FAIL NAME: why" per step, then a count. Exit 0 if
 * all passed, 1 otherwise, 77 (skipped) if the server program is missing.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STEP_MS 5000 /* the deadline of one expected line */
#define CHANNEL "#iomux"

static const char *client_path, *ngircd_path, *chatd_path;
static int plain_mode;
static int port, passed, failed;
static pid_t server_pid = -1;
static char tmpdir[64];

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int result(const char *name, int ok, const char *fmt, ...) {
  if (ok) {
    passed++;
    printf("ok   %s\n", name);
  } else {
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    failed++;
    printf("FAIL %s: %s\n", name, why);
  }
  fflush(stdout);
  return ok;
}

/* ---- processes ------------------------------------------------------------ */

/* Run argv with stdin/stdout/stderr on the given fds (-1: /dev/null), in
 * its own process group. */
static pid_t spawn(char *const argv[], int in, int out, int err) {
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  setpgid(0, 0);
  int null = open("/dev/null", O_RDWR);
  dup2(in >= 0 ? in : null, 0);
  dup2(out >= 0 ? out : null, 1);
  dup2(err >= 0 ? err : null, 2);
  execv(argv[0], argv);
  _exit(127);
}

/* Wait up to ms for pid; returns its wait status, or -1 if still running. */
static int wait_for(pid_t pid, int ms) {
  uint64_t end = now_ms() + (uint64_t)ms;
  int st;
  do {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return st;
    if (r < 0)
      return -2;
    sleep_ms(20);
  } while (now_ms() < end);
  return -1;
}

static void stop(pid_t pid) {
  if (pid <= 0)
    return;
  kill(pid, SIGTERM);
  if (wait_for(pid, 2000) == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0)
    return -1;
  close(fd);
  return ntohs(a.sin_port);
}

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
    return fd;
  if (fd >= 0)
    close(fd);
  return -1;
}

static int write_ngircd_conf(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  /* PingTimeout/PongTimeout 5 s (the least ngircd takes): the ping step
   * sees the client answer. */
  fprintf(f, "[Global]\n  Name = irc.test.local\n  Info = chatclient_check\n"
          "  Listen = 127.0.0.1\n  Ports = %d\n  MotdPhrase = test\n"
          "  AdminInfo1 = test\n  AdminInfo2 = test\n  AdminEMail = t@t\n"
          "[Limits]\n  MaxConnectionsIP = 0\n  MaxPenaltyTime = 0\n"
          "  PingTimeout = 5\n  PongTimeout = 5\n"
          "[Options]\n  DNS = no\n  Ident = no\n  PAM = no\n", port);
  return fclose(f);
}

/* Start the server; 0, 77 (its program is missing) or 1. */
static int start_server(void) {
  char conf[128], log[128];
  const char *prog = ngircd_path ? ngircd_path : chatd_path;
  if (!prog || !*prog || access(prog, X_OK) != 0) {
    printf("skip: no server program (%s)\n", prog && *prog ? prog : "none");
    return 77;
  }
  snprintf(tmpdir, sizeof tmpdir, "/tmp/chatclient.XXXXXX");
  if (!mkdtemp(tmpdir) || (port = free_port()) < 0)
    return 1;
  chmod(tmpdir, 0755);
  snprintf(conf, sizeof conf, "%s/ngircd.conf", tmpdir);
  snprintf(log, sizeof log, "%s/server.log", tmpdir);
  int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  if (ngircd_path) {
    if (write_ngircd_conf(conf) < 0)
      return 1;
    char *argv[] = {(char *)ngircd_path, "-n", "-f", conf, NULL};
    server_pid = spawn(argv, -1, logfd, logfd);
  } else {
    char *argv[] = {(char *)chatd_path, "--port", portstr, "--proto",
                    plain_mode ? "plain" : "irc", "--ping", "2", NULL};
    server_pid = spawn(argv, -1, logfd, logfd);
  }
  close(logfd);
  for (int i = 0; i < 100; i++) { /* up to 5 s to listen */
    int fd = dial();
    if (fd >= 0) {
      close(fd);
      return 0;
    }
    if (wait_for(server_pid, 50) != -1)
      break;
  }
  printf("FAIL server did not start; its log (%s):\n", log);
  fflush(stdout);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "cat %s", log);
  if (system(cmd) != 0)
    printf("(no log)\n");
  return 1;
}

/* ---- a line reader, for the peer's socket and the client's stdout ---------- */

typedef struct reader {
  int fd;
  char buf[1 << 16];
  size_t len;
  int eof;
  int irc;       /* a peer socket: answer PINGs */
  int saw_esc;   /* some line held an ESC byte */
  char last[512]; /* the last line read, for diagnostics */
} reader;

/* Read one line (without its line end) into out, within the deadline.
 * Returns 1, or 0 on timeout or EOF. */
static int read_line(reader *r, char *out, size_t cap, uint64_t end) {
  for (;;) {
    char *nl = memchr(r->buf, '\n', r->len);
    if (nl) {
      size_t n = (size_t)(nl - r->buf), k = n;
      if (k && r->buf[k - 1] == '\r')
        k--;
      if (k >= cap)
        k = cap - 1;
      memcpy(out, r->buf, k);
      out[k] = '\0';
      memmove(r->buf, nl + 1, r->len - n - 1);
      r->len -= n + 1;
      snprintf(r->last, sizeof r->last, "%.500s", out);
      r->saw_esc |= memchr(out, 033, k) != NULL;
      return 1;
    }
    uint64_t now = now_ms();
    if (r->eof || now >= end || r->len == sizeof r->buf)
      return 0;
    struct pollfd p = {r->fd, POLLIN, 0};
    if (poll(&p, 1, (int)(end - now)) <= 0)
      continue;
    ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
    if (n <= 0)
      r->eof = 1;
    else
      r->len += (size_t)n;
  }
}

static void send_line(int fd, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 2, fmt, ap);
  va_end(ap);
  line[n++] = '\r';
  line[n++] = '\n';
  if (write(fd, line, (size_t)n) != n)
    fprintf(stderr, "chatclient_check: short write\n");
}

/* Wait for a line holding every one of the NULL-ended needles. With
 * stamped, it must also start with "HH:MM ". The peer answers PINGs on
 * the way. Returns 1 if found. */
static int expect(reader *r, int stamped, ...) {
  uint64_t end = now_ms() + STEP_MS;
  char line[1024];
  while (read_line(r, line, sizeof line, end)) {
    if (r->irc && !strncmp(line, "PING ", 5)) {
      send_line(r->fd, "PONG %s", line + 5);
      continue;
    }
    va_list ap;
    va_start(ap, stamped);
    int all = 1;
    for (const char *s; (s = va_arg(ap, const char *));)
      all = all && strstr(line, s);
    va_end(ap);
    if (stamped)
      all = all && strlen(line) > 6 && line[0] >= '0' && line[0] <= '9' &&
            line[1] >= '0' && line[1] <= '9' && line[2] == ':' &&
            line[3] >= '0' && line[3] <= '9' && line[4] >= '0' &&
            line[4] <= '9' && line[5] == ' ';
    if (all)
      return 1;
  }
  return 0;
}

/* Let ms pass, answering the server's PINGs (the peer must not be the one
 * dropped for silence). */
static void idle(reader *r, int ms) {
  uint64_t end = now_ms() + (uint64_t)ms;
  char line[1024];
  while (now_ms() < end && !r->eof)
    if (read_line(r, line, sizeof line, end) && !strncmp(line, "PING ", 5))
      send_line(r->fd, "PONG %s", line + 5);
}

/* ---- the client ----------------------------------------------------------- */

typedef struct client {
  pid_t pid;
  int in; /* its stdin, ours to write */
  reader out;
} client;

static int client_start(client *c, const char *nick, int plain) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
    return -1;
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  char *argv[8];
  int n = 0;
  argv[n++] = (char *)client_path;
  if (plain)
    argv[n++] = "--plain";
  argv[n++] = "127.0.0.1";
  argv[n++] = portstr;
  argv[n++] = (char *)nick;
  argv[n++] = CHANNEL;
  argv[n] = NULL;
  c->pid = spawn(argv, in[0], out[1], 2);
  close(in[0]);
  close(out[1]);
  c->in = in[1];
  memset(&c->out, 0, sizeof c->out);
  c->out.fd = out[0];
  return 0;
}

static void type(client *c, const char *line) {
  size_t n = strlen(line);
  if (write(c->in, line, n) != (ssize_t)n || write(c->in, "\n", 1) != 1)
    fprintf(stderr, "chatclient_check: cannot type into the client\n");
}

static void client_end(client *c) {
  if (c->in >= 0)
    close(c->in);
  c->in = -1;
  stop(c->pid);
  c->pid = -1;
  close(c->out.fd);
}

/* ---- the peer ----------------------------------------------------------------- */

/* Connect, register as `nick`, join the channel. */
static int peer_start(reader *p, const char *nick) {
  memset(p, 0, sizeof *p);
  p->irc = 1;
  if ((p->fd = dial()) < 0)
    return 0;
  send_line(p->fd, "NICK %s", nick);
  send_line(p->fd, "USER %s 0 * :test peer", nick);
  send_line(p->fd, "JOIN %s", CHANNEL);
  return expect(p, 0, " 366 ", CHANNEL, (char *)NULL); /* end of names */
}

/* ---- scenarios ---------------------------------------------------------------- */

static int run_capture(char *const argv[], char *err, size_t cap,
                       int *nlines) {
  int e[2], o[2];
  if (pipe(e) < 0 || pipe(o) < 0)
    return -1;
  pid_t pid = spawn(argv, -1, o[1], e[1]);
  close(e[1]);
  close(o[1]);
  ssize_t n = 0, k;
  while ((k = read(e[0], err + n, cap - 1 - (size_t)n)) > 0)
    n += k;
  err[n] = '\0';
  char sink[4096];
  while (read(o[0], sink, sizeof sink) > 0)
    ;
  close(e[0]);
  close(o[0]);
  *nlines = 0;
  for (ssize_t i = 0; i < n; i++)
    *nlines += err[i] == '\n';
  int st = wait_for(pid, 5000);
  return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void usage_checks(void) {
  char err[4096];
  int lines;
  char *help[] = {(char *)client_path, "--help", NULL};
  int rc = run_capture(help, err, sizeof err, &lines);
  result("usage: --help exits 0", rc == 0, "exit %d", rc);
  char *bad[] = {(char *)client_path, "--bogus", "h", "1", "n", NULL};
  rc = run_capture(bad, err, sizeof err, &lines);
  result("usage: a bad option exits 2 with one line", rc == 2 && lines == 1,
         "exit %d, %d lines: %s", rc, lines, err);
  char *few[] = {(char *)client_path, "127.0.0.1", NULL};
  rc = run_capture(few, err, sizeof err, &lines);
  result("usage: missing arguments exit 2 with one line",
         rc == 2 && lines == 1, "exit %d, %d lines: %s", rc, lines, err);
}

#define PEER_SEES(step, ...)                                                  \
  result(step, expect(&peer, 0, __VA_ARGS__, (char *)NULL),                   \
         "the peer did not see it (last line: %s)", peer.last)
#define CLIENT_SHOWS(step, ...)                                               \
  result(step, expect(&cl.out, 1, __VA_ARGS__, (char *)NULL),                 \
         "not on the client's stdout (last line: %s)", cl.out.last)

/* The conversation: the peer takes the nick "peer" first, so the client,
 * started as "peer" too, must become "peer_". */
static void conversation(void) {
  reader peer;
  client cl;
  if (!result("peer registers and joins", peer_start(&peer, "peer"),
              "no end of NAMES (last line: %s)", peer.last))
    return;
  if (client_start(&cl, "peer", 0) < 0)
    return;
  CLIENT_SHOWS("register: nick in use (433) -> peer_, joins", "you joined",
               CHANNEL);
  PEER_SEES("register: the peer sees the JOIN of peer_", ":peer_!", "JOIN");

  type(&cl, "hello from the client");
  PEER_SEES("talk: typed line -> PRIVMSG to the channel", ":peer_!",
            "PRIVMSG " CHANNEL " :hello from the client");
  send_line(peer.fd, "PRIVMSG %s :hello from the peer", CHANNEL);
  CLIENT_SHOWS("talk: channel message shown with time and sender",
               CHANNEL " <peer> hello from the peer");
  send_line(peer.fd, "PRIVMSG %s :\1ACTION dances\1", CHANNEL);
  CLIENT_SHOWS("talk: CTCP ACTION shown as an action", "* peer dances");
  send_line(peer.fd, "PRIVMSG peer_ :\033[2Jsecret \0334,5words");
  CLIENT_SHOWS("talk: private message shown", "*peer* ", "secret");
  send_line(peer.fd, "NOTICE peer_ :a notice");
  CLIENT_SHOWS("talk: NOTICE shown", "-peer- a notice");
  result("talk: no escape byte reaches the terminal", !cl.out.saw_esc,
         "an ESC byte was printed");

  type(&cl, "/me waves");
  PEER_SEES("commands: /me -> CTCP ACTION",
            "PRIVMSG " CHANNEL " :\1ACTION waves\1");
  type(&cl, "/msg peer psst");
  PEER_SEES("commands: /msg -> private PRIVMSG", "PRIVMSG peer :psst");
  type(&cl, "/names");
  CLIENT_SHOWS("commands: /names lists the peer", "names " CHANNEL, "peer");
  type(&cl, "/nick chatter");
  PEER_SEES("commands: /nick, the peer sees NICK", ":peer_!", "NICK",
            "chatter");
  CLIENT_SHOWS("commands: /nick, the client says so",
               "you are now known as chatter");

  {
    /* ngircd PINGs a connection silent for 5 s and drops it 5 s later
     * (its minimums); iomux-chatd --ping 2, after 2 s and 2 s. The peer,
     * silent as long, gets its PING about when the client does (a little
     * later: it spoke last): after that PING, 9 s more (ngircd) or 4 s. */
    uint64_t end = now_ms() + 10000;
    char line[1024] = "";
    while (read_line(&peer, line, sizeof line, end) &&
           strncmp(line, "PING ", 5))
      ;
    result("ping: the server PINGs the peer", !strncmp(line, "PING ", 5),
           "no PING in 10 s (last line: %s)", peer.last);
    send_line(peer.fd, "PONG %s", line + 5);
    idle(&peer, ngircd_path ? 9000 : 4000);
    type(&cl, "still here");
    PEER_SEES("ping: the client answered the server's PINGs", ":chatter!",
              ":still here");
  }

  type(&cl, "/part");
  PEER_SEES("commands: /part", ":chatter!", "PART " CHANNEL);
  type(&cl, "/join " CHANNEL);
  PEER_SEES("commands: /join", ":chatter!", "JOIN");
  type(&cl, "/quit see you");
  PEER_SEES("quit: the peer sees QUIT with the message", ":chatter!", "QUIT",
            "see you");
  int st = wait_for(cl.pid, 3000);
  result("quit: the client exits 0", st >= 0 && WIFEXITED(st) &&
         WEXITSTATUS(st) == 0, "wait status %d", st);
  if (st >= 0)
    cl.pid = -1;
  client_end(&cl);

  /* Stdin EOF: QUIT is sent, the client exits 0 after the server closes. */
  client eofer;
  if (client_start(&eofer, "eofer", 0) < 0)
    return;
  PEER_SEES("eof: second client joins", ":eofer!", "JOIN");
  close(eofer.in);
  eofer.in = -1;
  PEER_SEES("eof: stdin closed -> the peer sees QUIT", ":eofer!", "QUIT");
  st = wait_for(eofer.pid, 3000);
  result("eof: the client exits 0", st >= 0 && WIFEXITED(st) &&
         WEXITSTATUS(st) == 0, "wait status %d", st);
  if (st >= 0)
    eofer.pid = -1;
  client_end(&eofer);
  close(peer.fd);
}

/* --plain against iomux-chatd --proto plain: lines as they are. */
static void plain_conversation(void) {
  reader peer = {.fd = dial()};
  client cl;
  if (!result("plain: peer connects", peer.fd >= 0, "cannot connect") ||
      client_start(&cl, "ignored", 1) < 0)
    return;
  CLIENT_SHOWS("plain: client connected", "connected to");
  sleep_ms(300); /* the server has accepted the client */
  send_line(peer.fd, "hello plain");
  CLIENT_SHOWS("plain: peer's line shown with time", "hello plain");
  type(&cl, "from the client");
  PEER_SEES("plain: typed line reaches the peer", "from the client");
  close(cl.in);
  cl.in = -1;
  int st = wait_for(cl.pid, 3000);
  result("plain: stdin EOF -> the client exits 0", st >= 0 &&
         WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %d", st);
  if (st >= 0)
    cl.pid = -1;
  client_end(&cl);
  close(peer.fd);
}

static void cleanup(void) {
  stop(server_pid);
  server_pid = -1;
  if (tmpdir[0]) {
    char path[128];
    snprintf(path, sizeof path, "%s/ngircd.conf", tmpdir);
    unlink(path);
    snprintf(path, sizeof path, "%s/server.log", tmpdir);
    if (!failed)
      unlink(path);
    else
      printf("server log kept: %s\n", path);
    rmdir(tmpdir);
  }
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL chatclient_check: out of time (90 s)\n";
  if (write(1, msg, sizeof msg - 1) < 0) {
    /* nothing more to do */
  }
  if (server_pid > 0)
    kill(server_pid, SIGKILL);
  _exit(1);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--client") && next)
      client_path = argv[++i];
    else if (!strcmp(argv[i], "--ngircd") && next)
      ngircd_path = argv[++i];
    else if (!strcmp(argv[i], "--chatd") && next)
      chatd_path = argv[++i];
    else if (!strcmp(argv[i], "--plain"))
      plain_mode = 1;
    else {
      fprintf(stderr, "usage: chatclient_check --client PATH (--ngircd PATH "
              "| --chatd PATH [--plain])\n");
      return 2;
    }
  }
  if (!client_path || (!ngircd_path == !chatd_path)) {
    fprintf(stderr, "chatclient_check: --client and one server needed\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  alarm(90);
  usage_checks();
  int rc = start_server();
  if (rc != 0)
    return rc;
  if (plain_mode)
    plain_conversation();
  else
    conversation();
  cleanup();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
