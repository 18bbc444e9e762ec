/* chat_harness: the server process and scripted clients (see the header). */
#define _GNU_SOURCE
#include "chat_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *chat_server_path;

uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sleep_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    continue;
}

int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("  FAIL ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  return 0;
}

long raise_nofile(long want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return -1;
  if ((long)rl.rlim_cur < want) {
    rl.rlim_cur = (long)rl.rlim_max < want ? rl.rlim_max : (rlim_t)want;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  return (long)rl.rlim_cur;
}

/* ---- the server ------------------------------------------------------------- */

static void child(int out, int in, const char *const *args) {
  setpgid(0, 0);
  signal(SIGPIPE, SIG_DFL);
  dup2(out, STDOUT_FILENO);
  if (in >= 0) {
    dup2(in, STDIN_FILENO);
  } else {
    int null = open("/dev/null", O_RDONLY);
    dup2(null, STDIN_FILENO);
  }
  const char *argv[64] = {chat_server_path, "--port", "0"};
  int n = 3;
  for (; args && *args && n < 63; args++)
    argv[n++] = *args;
  argv[n] = NULL;
  execv(chat_server_path, (char *const *)argv);
  fprintf(stderr, "chat_check: exec %s: %s\n", chat_server_path,
          strerror(errno));
  _exit(127);
}

/* The "listening on HOST:PORT" line, within 10 s. */
static int read_port(int fd) {
  char buf[256];
  size_t got = 0;
  uint64_t end = now_ms() + 10000;
  while (got + 1 < sizeof buf && now_ms() < end) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)(end - now_ms())) <= 0)
      continue;
    ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
    if (n <= 0)
      break;
    got += (size_t)n;
    buf[got] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl) {
      *nl = '\0';
      char *colon = strrchr(buf, ':');
      if (strstr(buf, "iomux-chatd: listening on ") == buf && colon)
        return atoi(colon + 1);
      return fail("server said \"%s\", not its port", buf);
    }
  }
  return fail("no port line from the server within 10 s");
}

int srv_start(chat_srv *srv, int console, const char *const *args) {
  int out[2], in[2] = {-1, -1};
  *srv = (chat_srv){.pid = -1, .console = -1, .status = -1};
  if (pipe2(out, O_CLOEXEC) < 0 || (console && pipe2(in, O_CLOEXEC) < 0))
    return fail("pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid == 0)
    child(out[1], in[0], args);
  close(out[1]);
  if (in[0] >= 0)
    close(in[0]);
  if (pid < 0)
    return fail("fork: %s", strerror(errno));
  setpgid(pid, pid);
  srv->pid = pid;
  srv->console = in[1];
  srv->port = read_port(out[0]);
  close(out[0]);
  if (srv->port <= 0) {
    srv_kill(srv);
    return 0;
  }
  return 1;
}

int srv_wait_exit(chat_srv *srv, int ms) {
  uint64_t end = now_ms() + (uint64_t)ms;
  while (srv->status < 0) {
    int st;
    if (waitpid(srv->pid, &st, WNOHANG) == srv->pid) {
      srv->status = st;
      break;
    }
    if (now_ms() >= end)
      return fail("the server did not exit within %d ms", ms);
    usleep(5000);
  }
  if (WIFEXITED(srv->status) && WEXITSTATUS(srv->status) == 0)
    return 1;
  if (WIFSIGNALED(srv->status))
    return fail("the server died of signal %d (%s)", WTERMSIG(srv->status),
                strsignal(WTERMSIG(srv->status)));
  return fail("the server exited with status %d", WEXITSTATUS(srv->status));
}

int srv_stop(chat_srv *srv, int sig, int ms) {
  if (srv->pid <= 0)
    return fail("no server to stop");
  if (srv->status < 0)
    kill(srv->pid, sig);
  int ok = srv_wait_exit(srv, ms);
  srv_kill(srv);
  return ok;
}

void srv_kill(chat_srv *srv) {
  if (srv->pid > 0) {
    kill(-srv->pid, SIGKILL);
    if (srv->status < 0)
      waitpid(srv->pid, &srv->status, 0);
  }
  if (srv->console >= 0)
    close(srv->console);
  srv->console = -1;
  srv->pid = -1;
}

long srv_rss_kb(const chat_srv *srv) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)srv->pid);
  FILE *f = fopen(path, "r");
  long kb = -1;
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &kb) == 1)
      break;
  fclose(f);
  return kb;
}

/* ---- clients ------------------------------------------------------------------ */

tc *tc_connect(int port, const char *name, int rcvbuf) {
  tc *c = calloc(1, sizeof *c);
  if (!c) {
    fail("%s: out of memory", name);
    return NULL;
  }
  snprintf(c->name, sizeof c->name, "%s", name);
  c->auto_pong = 1;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (rcvbuf > 0)
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
    fail("%s: connect to port %d: %s", name, port, strerror(errno));
    tc_free(c);
    return NULL;
  }
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  return c;
}

void tc_free(tc *c) {
  if (!c)
    return;
  if (c->fd >= 0)
    close(c->fd);
  free(c);
}

void tc_addr(const tc *c, char *buf, size_t size) {
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  getsockname(c->fd, (struct sockaddr *)&sin, &len);
  snprintf(buf, size, "127.0.0.1:%d", ntohs(sin.sin_port));
}

void tc_reset(tc *c) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  tc_free(c);
}

int tc_send_raw(tc *c, const void *buf, size_t len) {
  const char *p = buf;
  uint64_t end = now_ms() + 10000;
  while (len > 0) {
    ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
    } else if (n < 0 && errno == EAGAIN && now_ms() < end) {
      struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
      poll(&pf, 1, 100);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return fail("%s: send: %s", c->name,
                  n < 0 ? strerror(errno) : "timed out");
    }
  }
  return 1;
}

int tc_send(tc *c, const char *fmt, ...) {
  char line[8192];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 2, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n > sizeof line - 3)
    return fail("%s: line too long for tc_send", c->name);
  memcpy(line + n, "\r\n", 2);
  return tc_send_raw(c, line, (size_t)n + 2);
}

/* Take one complete line out of buf, if there is one. */
static int take_line(tc *c, char *line, size_t size) {
  char *nl = memchr(c->buf, '\n', c->len);
  if (!nl)
    return 0;
  size_t n = (size_t)(nl - c->buf), keep = n;
  if (keep > 0 && c->buf[keep - 1] == '\r')
    keep--;
  if (keep >= size)
    keep = size - 1;
  memcpy(line, c->buf, keep);
  line[keep] = '\0';
  c->len -= n + 1;
  memmove(c->buf, nl + 1, c->len);
  return 1;
}

int tc_line(tc *c, char *line, size_t size, int ms) {
  uint64_t end = now_ms() + (uint64_t)(ms > 0 ? ms : 0);
  for (;;) {
    if (take_line(c, line, size)) {
      if (c->auto_pong && strncmp(line, "PING ", 5) == 0)
        tc_send(c, "PONG %s", line + 5);
      return 1;
    }
    if (c->eof)
      return -1;
    if (c->len == sizeof c->buf) /* a line longer than the buffer */
      c->len = 0;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n > 0) {
      c->len += (size_t)n;
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      c->eof = 1;
      continue;
    }
    uint64_t now = now_ms();
    if (now >= end)
      return 0;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    poll(&p, 1, (int)(end - now));
  }
}

/* What came instead, for a failure message: the last few lines. */
typedef struct seen {
  char lines[6][200];
  int n;
} seen;

static void see(seen *s, const char *line) {
  if (s->n == 6) {
    memmove(s->lines[0], s->lines[1], sizeof s->lines[0] * 5);
    s->n = 5;
  }
  size_t n = strnlen(line, sizeof s->lines[0] - 1);
  memcpy(s->lines[s->n], line, n);
  s->lines[s->n++][n] = '\0';
}

static void show(const seen *s) {
  if (s->n == 0)
    printf("       (nothing came)\n");
  for (int i = 0; i < s->n; i++)
    printf("       got: %s\n", s->lines[i]);
}

int tc_expect_get(tc *c, const char *re, int ms, char *out, size_t size) {
  regex_t rx;
  if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
    return fail("%s: bad regex /%s/", c->name, re);
  uint64_t end = now_ms() + (uint64_t)ms;
  char line[8192];
  seen s = {.n = 0};
  int rc;
  while ((rc = tc_line(c, line, sizeof line,
                       (int)(end > now_ms() ? end - now_ms() : 0))) == 1) {
    if (regexec(&rx, line, 0, NULL, 0) == 0) {
      regfree(&rx);
      if (out)
        snprintf(out, size, "%s", line);
      return 1;
    }
    see(&s, line);
  }
  regfree(&rx);
  fail("%s: expected /%s/ within %d ms; %s", c->name, re, ms,
       rc < 0 ? "the connection ended" : "timed out");
  show(&s);
  return 0;
}

int tc_expect(tc *c, const char *re, int ms) {
  return tc_expect_get(c, re, ms, NULL, 0);
}

int tc_expect_none(tc *c, const char *re, int ms) {
  regex_t rx;
  if (re && regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
    return fail("%s: bad regex /%s/", c->name, re);
  uint64_t end = now_ms() + (uint64_t)ms;
  char line[8192];
  int ok = 1;
  while (ok && tc_line(c, line, sizeof line,
                       (int)(end > now_ms() ? end - now_ms() : 0)) == 1)
    if (!re || regexec(&rx, line, 0, NULL, 0) == 0)
      ok = fail("%s: expected no line%s%s%s within %d ms, got: %s", c->name,
                re ? " matching /" : "", re ? re : "", re ? "/" : "", ms,
                line);
  if (re)
    regfree(&rx);
  return ok;
}

int tc_expect_closed(tc *c, int ms) {
  uint64_t end = now_ms() + (uint64_t)ms;
  char line[8192];
  seen s = {.n = 0};
  int rc;
  while ((rc = tc_line(c, line, sizeof line,
                       (int)(end > now_ms() ? end - now_ms() : 0))) == 1)
    see(&s, line);
  if (rc < 0)
    return 1;
  fail("%s: expected the server to close within %d ms", c->name, ms);
  show(&s);
  return 0;
}

/* `s` with the regex metacharacters escaped. */
static void re_quote(const char *s, char *out, size_t size) {
  size_t n = 0;
  for (; *s && n + 3 < size; s++) {
    if (strchr("\\^$.[]|()*+?{}", *s))
      out[n++] = '\\';
    out[n++] = *s;
  }
  out[n] = '\0';
}

int tc_register(tc *c, const char *nick) {
  char re[160], quoted[100];
  re_quote(nick, quoted, sizeof quoted);
  snprintf(re, sizeof re, "^:[^ ]+ 001 %s ", quoted);
  return tc_send(c, "NICK %s", nick) &&
         tc_send(c, "USER %s 0 * :%s the tester", nick, nick) &&
         tc_expect(c, re, 5000) && tc_expect(c, " (376|422) ", 5000);
}

tc *tc_irc(int port, const char *nick) {
  tc *c = tc_connect(port, nick, 0);
  if (c && !tc_register(c, nick)) {
    tc_free(c);
    return NULL;
  }
  return c;
}

int tc_join(tc *c, const char *chan) {
  char re[160], quoted[100];
  re_quote(chan, quoted, sizeof quoted);
  snprintf(re, sizeof re, " 366 [^ ]+ %s ", quoted);
  return tc_send(c, "JOIN %s", chan) && tc_expect(c, re, 5000);
}

/* ---- IRC fixtures ------------------------------------------------------------- */

const char *const chat_irc_args[] = {"--flood", "off", NULL};

int fx_start(chat_fx *f, const char *const *args, ...) {
  memset(f, 0, sizeof *f);
  if (!srv_start(&f->srv, 0, args))
    return 0;
  va_list ap;
  va_start(ap, args);
  const char *nick;
  int ok = 1;
  while (ok && f->n < 8 && (nick = va_arg(ap, const char *))) {
    f->cl[f->n] = tc_irc(f->srv.port, nick);
    ok = f->cl[f->n++] != NULL;
  }
  va_end(ap);
  return ok;
}

int fx_end(chat_fx *f) {
  int ok = f->srv.pid > 0 ? srv_stop(&f->srv, SIGTERM, 3000) : 0;
  for (int i = 0; i < f->n; i++)
    tc_free(f->cl[i]);
  f->n = 0;
  return ok;
}
