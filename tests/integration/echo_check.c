/* echo_check: the end-to-end test of one iomux-echo model.
 *
 *   echo_check --server PATH --model M [--upper] [--skip-never-reading]
 *              [--conns-1000 N] [--sequential] [--max-concurrent N]
 *              [--seed S]
 *
 * It starts the real server (`iomux-echo --model M --port 0`) as a child
 * process in its own process group, reads the port it prints, and talks to
 * it over 127.0.0.1 with plain non-blocking sockets and poll() in one
 * thread. Nothing on this side uses iomux, so a bug in the library cannot
 * hide the same bug in a model. Every byte that comes back is checked
 * against what was sent (ASCII-uppercased with --upper); the data are
 * random binary, 0-255, generated from the seed, so nothing is stored and
 * any run can be replayed with --seed.
 *
 * Each scenario is a classic way an echo server goes wrong:
 *   concurrent        50 clients, 1 B - 1 MB each in random-size writes,
 *                     pipelined (writing while reading); then half-close
 *                     and EOF. Lost, reordered or mixed-up bytes, partial
 *                     send() handled wrongly, one client starving others.
 *   half-close        shutdown(SHUT_WR) with 300 KB still in flight: the
 *                     server must echo all of it, then close.
 *   reset             clients that reset (SO_LINGER 0) while the server
 *                     still owes them data, once mid-stream and once after
 *                     a half-close (the server's socket in CLOSE_WAIT: its
 *                     next send() is EPIPE, so a missing MSG_NOSIGNAL
 *                     kills it with SIGPIPE); then a new client must still
 *                     get its echo.
 *   garbage-and-burst 10 MB of binary in one burst: buffers and partial
 *                     writes under pressure.
 *   never-reading     a client that sends and never reads (it offers
 *                     128 MB: the kernel's loopback buffers alone take
 *                     about 8), beside 20 that do round trips: they must
 *                     not stall, and the server's memory (VmRSS) must stay
 *                     under 64 MB.
 *   many              N connections open at once (1000 by default): no
 *                     fixed-size tables, no fd limits hit.
 *   stop              SIGTERM with idle clients connected: exit status 0
 *                     within 5 s, and no process left behind. (Also shown,
 *                     not checked: the server's CPU use while they idle.)
 *
 * Options: --sequential runs the 50 concurrent clients one at a time, and
 * --max-concurrent N at most N at a time (blocking serves one client at a
 * time, pool --threads); --skip-never-reading and --conns-1000 0 leave out
 * the scenarios those two cannot pass by design.
 *
 * Output: one line per scenario, "ok NAME (...)" or "FAIL NAME: why", then
 * "N passed, M failed". The exit status is the number of failures; 77 (the
 * CTest skip code) when the server has no model M. Every wait is bounded:
 * the scenarios share a 100 s budget and an alarm ends the program at
 * 115 s, so a server that hangs gives FAILs, not a stuck test.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUDGET_MS 100000 /* all scenarios together */
#define WATCHDOG_S 115   /* the last resort, if something blocks anyway */
#define RSS_LIMIT_KB (64 * 1024)
#define HOG_BYTES ((size_t)128 << 20)

static struct {
  const char *server, *model;
  int upper, skip_never_reading, many, max_concurrent;
  unsigned long long seed;
} opt = {.many = 1000};

static pid_t server_pid;
static int server_port, server_out = -1;
static int server_status = -1; /* the wait status, once it has exited */
static int passed, failed, skipped;
static uint64_t budget_end;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A deadline `ms` from now, but never past the shared budget. */
static uint64_t deadline_in(uint64_t ms) {
  uint64_t d = now_ms() + ms;
  return d < budget_end ? d : budget_end;
}

/* ---- data: random bytes that need not be stored ------------------------- */

static uint64_t mix(uint64_t x) { /* the splitmix64 finalizer */
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

static uint64_t rnd(uint64_t *state) {
  *state += 0x9e3779b97f4a7c15u;
  return mix(*state);
}

/* Byte i of a client's stream depends only on its seed and i, so the
 * sender and the checker agree without keeping a copy of what was sent. */
static void fill(uint64_t seed, size_t off, unsigned char *buf, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t at = off + i;
    uint64_t w = mix(seed ^ ((uint64_t)(at >> 3) * 0x9e3779b97f4a7c15u));
    for (unsigned b = at & 7; b < 8 && i < n; b++, i++)
      buf[i] = (unsigned char)(w >> (8 * b));
  }
}

/* What the server must send back for these bytes: --upper changes ASCII
 * letters and nothing else (no locale, no high bytes). */
static void expect(unsigned char *buf, size_t n) {
  if (!opt.upper)
    return;
  for (size_t i = 0; i < n; i++)
    if (buf[i] >= 'a' && buf[i] <= 'z')
      buf[i] = (unsigned char)(buf[i] - 'a' + 'A');
}

/* ---- the server process ------------------------------------------------- */

static void describe_status(int st, char *out, size_t len) {
  if (WIFEXITED(st))
    snprintf(out, len, "exited with status %d", WEXITSTATUS(st));
  else if (WIFSIGNALED(st))
    snprintf(out, len, "killed by signal %d (%s)", WTERMSIG(st),
             strsignal(WTERMSIG(st)));
  else
    snprintf(out, len, "wait status 0x%x", st);
}

/* Has the server exited? Reaps it the first time. */
static int server_gone(void) {
  int st;
  if (server_status < 0 && waitpid(server_pid, &st, WNOHANG) == server_pid)
    server_status = st;
  return server_status >= 0;
}

/* Starts argv as a child in its own process group, its stdout a pipe. The
 * test ignores SIGPIPE; the server gets the default back, so a model that
 * forgets MSG_NOSIGNAL dies here as it would anywhere. */
static pid_t spawn(char *const argv[], int *out) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(p[1], STDOUT_FILENO) < 0)
      _exit(127);
    execv(argv[0], argv);
    fprintf(stderr, "echo_check: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    return -1;
  }
  setpgid(pid, pid); /* both sides, so no race with our kill(-pid) */
  *out = p[0];
  return pid;
}

/* Reads what `fd` gives until EOF, `stop_at_newline`, or `ms` pass. */
static size_t read_output(int fd, char *buf, size_t len, int stop_at_newline,
                          int ms) {
  size_t got = 0;
  uint64_t end = now_ms() + (uint64_t)ms;
  while (got + 1 < len && now_ms() < end) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)(end - now_ms())) <= 0)
      continue;
    ssize_t n = read(fd, buf + got, len - 1 - got);
    if (n <= 0 && !(n < 0 && errno == EINTR))
      break;
    got += n > 0 ? (size_t)n : 0;
    buf[got] = '\0';
    if (stop_at_newline && memchr(buf, '\n', got))
      break;
  }
  buf[got] = '\0';
  return got;
}

/* Does this server binary have the model? (`--model list`, one a line.)
 * 1 yes, 0 no, -1 if the server cannot even list its models. */
static int server_has_model(void) {
  char *argv[] = {(char *)opt.server, "--model", "list", NULL};
  char out[4096], *line, *save;
  int fd, st;
  pid_t pid = spawn(argv, &fd);
  if (pid < 0)
    return -1;
  size_t n = read_output(fd, out, sizeof out, 0, 10000);
  close(fd);
  kill(-pid, SIGKILL); /* normally long gone */
  waitpid(pid, &st, 0);
  if (n == 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return -1;
  for (line = strtok_r(out, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save))
    if (strcmp(line, opt.model) == 0)
      return 1;
  return 0;
}

static int start_server(void) {
  char *argv[] = {(char *)opt.server, "--model", (char *)opt.model,
                  "--port", "0", opt.upper ? "--upper" : NULL, NULL};
  char line[64];
  server_pid = spawn(argv, &server_out);
  if (server_pid < 0) {
    fprintf(stderr, "echo_check: cannot start %s\n", opt.server);
    return -1;
  }
  read_output(server_out, line, sizeof line, 1, 10000);
  server_port = atoi(line);
  if (server_port <= 0 || server_port > 65535) {
    printf("FAIL start: no port line from the server (got \"%s\")\n", line);
    return -1;
  }
  return 0;
}

/* The resident set of the server, from /proc/PID/status; -1 if gone. */
static long server_rss_kb(void) {
  char path[64], line[256];
  long kb = -1;
  snprintf(path, sizeof path, "/proc/%d/status", (int)server_pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &kb) == 1)
      break;
  fclose(f);
  return kb;
}

/* CPU seconds the server has used (user + system), from /proc/PID/stat. */
static double server_cpu_s(void) {
  char path[64], buf[1024], *rp;
  unsigned long ut = 0, st = 0;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)server_pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  if ((rp = strrchr(buf, ')')))
    sscanf(rp + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
           &ut, &st);
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- clients ------------------------------------------------------------- */

enum { C_IDLE, C_CONNECTING, C_OPEN, C_DONE, C_FAILED };
enum { SHUT_NEVER, SHUT_AFTER_SEND, SHUT_AFTER_ECHO };

typedef struct client {
  int fd, state;
  uint64_t seed; /* of the data */
  uint64_t rng;  /* of the write sizes */
  size_t total;  /* bytes to send */
  size_t sent, got;
  size_t limit; /* send no further than this yet */
  size_t step;  /* > 0: round trips of `step` bytes, each awaited */
  int shut_when, shut;
  int hog;       /* never reads; the run does not wait for it... */
  int wait_sent; /* ...unless this is set: then until all is sent */
  int burst;     /* writes as much as the kernel takes, not random sizes */
  int rcvbuf;    /* > 0: SO_RCVBUF, so the server's output backs up soon */
  char why[160];
} client;

static unsigned char wbuf[1 << 20], rbuf[1 << 16], ebuf[1 << 16];
static uint64_t scenario_rng;

static void client_init(client *c, size_t total, int shut_when) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->seed = rnd(&scenario_rng);
  c->rng = rnd(&scenario_rng);
  c->total = c->limit = total;
  c->shut_when = shut_when;
}

static void client_end(client *c, int state, const char *fmt, ...) {
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
  }
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->state = state;
}

static void client_connect(client *c) {
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)server_port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    client_end(c, C_FAILED, "socket: %s", strerror(errno));
    return;
  }
  if (c->rcvbuf > 0)
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &c->rcvbuf, sizeof c->rcvbuf);
  if (c->step)
    c->limit = c->step < c->total ? c->step : c->total;
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) == 0)
    c->state = C_OPEN;
  else if (errno == EINPROGRESS)
    c->state = C_CONNECTING;
  else
    client_end(c, C_FAILED, "connect: %s", strerror(errno));
}

static void client_connected(client *c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err)
    client_end(c, C_FAILED, "connect: %s", strerror(err));
  else
    c->state = C_OPEN;
}

/* Random sizes, from a few bytes to 256 KiB, so the server sees reads of
 * every size and our writes end anywhere. */
static size_t write_size(client *c) {
  static const size_t caps[] = {16, 1024, 16384, 262144};
  size_t room = c->limit - c->sent, n = sizeof wbuf;
  if (!c->burst) {
    size_t cap = caps[rnd(&c->rng) % 4];
    n = 1 + rnd(&c->rng) % cap;
  }
  return n < room ? n : room;
}

static void client_write(client *c) {
  for (int i = 0; i < 8 && c->sent < c->limit; i++) {
    size_t n = write_size(c);
    fill(c->seed, c->sent, wbuf, n);
    ssize_t w = send(c->fd, wbuf, n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    if (w < 0) {
      client_end(c, C_FAILED, "send after %zu of %zu bytes: %s", c->sent,
                 c->total, strerror(errno));
      return;
    }
    c->sent += (size_t)w;
  }
  if (c->sent == c->total && c->shut_when == SHUT_AFTER_SEND && !c->shut) {
    shutdown(c->fd, SHUT_WR);
    c->shut = 1;
  }
}

/* Checks `n` echoed bytes in rbuf against what was sent at c->got. */
static int client_check(client *c, size_t n) {
  if (c->got + n > c->sent) {
    client_end(c, C_FAILED, "%zu bytes back but only %zu sent", c->got + n,
               c->sent);
    return -1;
  }
  fill(c->seed, c->got, ebuf, n);
  expect(ebuf, n);
  if (memcmp(rbuf, ebuf, n) != 0) {
    size_t i = 0;
    while (rbuf[i] == ebuf[i])
      i++;
    client_end(c, C_FAILED, "byte %zu of %zu: got 0x%02x, want 0x%02x",
               c->got + i, c->total, rbuf[i], ebuf[i]);
    return -1;
  }
  c->got += n;
  if (c->step && c->got == c->sent) /* round trip done: the next one */
    c->limit = c->total - c->sent < c->step ? c->total : c->sent + c->step;
  return 0;
}

/* After the last byte: done, or half-close and wait for the EOF. */
static void client_all_back(client *c) {
  if (c->shut_when == SHUT_NEVER) {
    client_end(c, C_DONE, NULL);
  } else if (!c->shut) {
    shutdown(c->fd, SHUT_WR);
    c->shut = 1;
  }
}

static void client_read(client *c) {
  for (int i = 0; i < 16 && c->state == C_OPEN; i++) {
    ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    if (n < 0) {
      client_end(c, C_FAILED, "recv after %zu of %zu bytes back: %s", c->got,
                 c->total, strerror(errno));
    } else if (n == 0) {
      if (c->got < c->total)
        client_end(c, C_FAILED, "EOF after %zu of %zu bytes back (%zu sent)",
                   c->got, c->total, c->sent);
      else
        client_end(c, C_DONE, NULL);
    } else if (client_check(c, (size_t)n) == 0 && c->got == c->total) {
      client_all_back(c);
    }
  }
}

/* ---- running clients together: one poll() over all of them ------------- */

typedef struct run {
  client *c;
  size_t n;
  size_t max_active; /* clients connected at once; the rest wait their turn */
  int hold;          /* no client writes before all are connected */
  uint64_t deadline;
  long peak_rss_kb; /* sampled every 100 ms while it runs */
  size_t next;      /* the next client to connect */
  size_t connected, active, unfinished;
} run;

static void tally(run *r) {
  r->connected = r->active = r->unfinished = 0;
  for (size_t i = 0; i < r->n; i++) {
    client *c = &r->c[i];
    r->connected += c->state >= C_OPEN && c->state <= C_DONE;
    r->active += c->state == C_CONNECTING || c->state == C_OPEN;
    if (c->state < C_DONE &&
        (!c->hog || (c->wait_sent && c->sent < c->total)))
      r->unfinished++;
  }
}

static size_t poll_set(run *r, struct pollfd *pfd, size_t *who) {
  size_t np = 0;
  int may_write = !r->hold || r->connected == r->n;
  for (size_t i = 0; i < r->n; i++) {
    client *c = &r->c[i];
    short ev = 0;
    if (c->state == C_CONNECTING)
      ev = POLLOUT;
    if (c->state == C_OPEN && !c->hog)
      ev |= POLLIN;
    if (c->state == C_OPEN && may_write && c->sent < c->limit)
      ev |= POLLOUT;
    if (c->state == C_CONNECTING || c->state == C_OPEN) {
      pfd[np] = (struct pollfd){.fd = c->fd, .events = ev};
      who[np++] = i;
    }
  }
  return np;
}

static void dispatch(run *r, struct pollfd *pfd, size_t np, size_t *who) {
  for (size_t k = 0; k < np; k++) {
    client *c = &r->c[who[k]];
    short re = pfd[k].revents;
    if (!re)
      continue;
    if (c->state == C_CONNECTING) {
      client_connected(c);
      continue;
    }
    /* POLLHUP/POLLERR: recv or send reports what happened. A hog does
     * not read, so it ends here, or poll() would report it forever. */
    if (c->hog && (re & (POLLHUP | POLLERR)) && !(re & POLLOUT))
      client_end(c, C_FAILED, "the server closed it");
    if (!c->hog && (re & (POLLIN | POLLHUP | POLLERR)))
      client_read(c);
    if (c->state == C_OPEN && (re & (POLLOUT | POLLERR)) &&
        c->sent < c->limit)
      client_write(c);
  }
}

static void time_out(run *r) {
  for (size_t i = 0; i < r->n; i++) {
    client *c = &r->c[i];
    if (c->hog || c->state >= C_DONE)
      continue;
    client_end(c, C_FAILED, "timed out%s: sent %zu of %zu, %zu back%s",
               c->state == C_IDLE         ? " before its turn"
               : c->state == C_CONNECTING ? " connecting"
                                          : "",
               c->sent, c->total, c->got, c->shut ? ", no EOF" : "");
  }
}

/* Runs the clients until every one (but the hogs) is done or failed, or
 * the deadline. Returns the number that failed, hogs not counted: the
 * scenario judges those. */
static size_t run_clients(run *r) {
  struct pollfd *pfd = calloc(r->n, sizeof *pfd);
  size_t *who = calloc(r->n, sizeof *who), fails = 0;
  uint64_t next_rss = 0;
  for (;;) {
    tally(r);
    while (r->next < r->n && r->active < r->max_active) {
      client *c = &r->c[r->next++];
      client_connect(c);
      r->active += c->state == C_CONNECTING || c->state == C_OPEN;
      r->unfinished += c->state < C_DONE && !c->hog;
    }
    if (r->unfinished == 0)
      break;
    uint64_t now = now_ms();
    if (now >= next_rss) {
      long kb = server_rss_kb();
      r->peak_rss_kb = kb > r->peak_rss_kb ? kb : r->peak_rss_kb;
      next_rss = now + 100;
    }
    if (now >= r->deadline) {
      time_out(r);
      break;
    }
    size_t np = poll_set(r, pfd, who);
    int wait = r->deadline - now < 100 ? (int)(r->deadline - now) : 100;
    if (poll(pfd, np, wait) > 0)
      dispatch(r, pfd, np, who);
  }
  free(pfd);
  free(who);
  for (size_t i = 0; i < r->n; i++)
    fails += r->c[i].state == C_FAILED && !r->c[i].hog;
  return fails;
}

/* "client 3 of 50: why (and 4 more)" for the first failure. */
static void first_failure(run *r, size_t fails, char *why, size_t len) {
  for (size_t i = 0; i < r->n; i++) {
    if (r->c[i].state != C_FAILED || r->c[i].hog)
      continue;
    int k = snprintf(why, len, "client %zu of %zu: %s", i + 1, r->n,
                     r->c[i].why);
    if (fails > 1 && k > 0 && (size_t)k < len)
      snprintf(why + k, len - (size_t)k, " (and %zu more)", fails - 1);
    return;
  }
}

static int run_and_report(run *r, char *why, size_t len) {
  size_t fails = run_clients(r);
  if (fails)
    first_failure(r, fails, why, len);
  return fails ? -1 : 0;
}

static double megabytes(client *c, size_t n) {
  size_t sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += c[i].total;
  return (double)sum / (1 << 20);
}

/* ---- scenarios ---------------------------------------------------------- */

/* Each returns 0 or -1 and fills `msg`: the details, or why it failed. */
typedef int scenario_fn(char *msg, size_t len);

static int concurrent(char *msg, size_t len) {
  enum { N = 50 };
  client c[N];
  for (size_t i = 0; i < N; i++) {
    /* Half shut down as soon as all is sent, with the echo in flight; half
     * only once all has come back. Both must then read EOF. */
    client_init(&c[i], 1 + rnd(&scenario_rng) % (1 << 20),
                i % 2 ? SHUT_AFTER_SEND : SHUT_AFTER_ECHO);
  }
  size_t at_once = opt.max_concurrent > 0 ? (size_t)opt.max_concurrent : N;
  run r = {.c = c, .n = N, .max_active = at_once,
           .deadline = deadline_in(30000)};
  if (run_and_report(&r, msg, len) < 0)
    return -1;
  snprintf(msg, len, "%d clients, %.1f MB, %zu at once", N, megabytes(c, N),
           at_once < N ? at_once : (size_t)N);
  return 0;
}

static int half_close(char *msg, size_t len) {
  client c;
  client_init(&c, 300 * 1024, SHUT_AFTER_SEND);
  run r = {.c = &c, .n = 1, .max_active = 1, .deadline = deadline_in(10000)};
  if (run_and_report(&r, msg, len) < 0)
    return -1;
  snprintf(msg, len, "300 KB, then EOF");
  return 0;
}

static void reset_now(client *c) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  client_end(c, C_DONE, NULL); /* close() sends the RST */
}

/* A client that sends 200 KB, never reads, and resets: the server still
 * owes it data, and its next send() fails with ECONNRESET. */
static int reset_midstream(char *msg, size_t len) {
  client rude;
  client_init(&rude, 200 * 1024, SHUT_NEVER);
  rude.hog = rude.wait_sent = 1; /* sends all, reads nothing */
  rude.rcvbuf = 4096;
  run r = {.c = &rude, .n = 1, .max_active = 1, .deadline = deadline_in(5000)};
  run_clients(&r);
  if (rude.state != C_OPEN) {
    snprintf(msg, len, "the resetting client: %s",
             rude.state == C_FAILED ? rude.why : "not connected in 5 s");
    client_end(&rude, C_FAILED, NULL);
    return -1;
  }
  reset_now(&rude);
  snprintf(msg, len, "reset after %zu KB unread", rude.sent / 1024);
  return 0;
}

/* The server's end of our connection, from /proc/net/tcp (loopback: it is
 * on this host): its TCP state and its send queue (bytes the server has
 * sent that we have not yet received). Returns -1 if not found. */
static int server_end(int fd, unsigned *state, unsigned long *txq) {
  struct sockaddr_in me;
  socklen_t len = sizeof me;
  char line[512];
  int found = -1;
  if (getsockname(fd, (struct sockaddr *)&me, &len) < 0)
    return -1;
  FILE *f = fopen("/proc/net/tcp", "r");
  while (f && found < 0 && fgets(line, sizeof line, f)) {
    unsigned lport, rport;
    if (sscanf(line, " %*d: %*x:%x %*x:%x %x %lx", &lport, &rport, state,
               txq) == 4 &&
        lport == (unsigned)server_port && rport == ntohs(me.sin_port))
      found = 0;
  }
  if (f)
    fclose(f);
  return found;
}

/* After our half-close: lets our last bytes and the FIN into the server,
 * reading (64 KB) only when they stop moving, so the server stays blocked
 * in send(). Returns 0 once the FIN is acknowledged (FIN_WAIT2), -1 on a
 * timeout or an error (in c->why). */
static int let_fin_in(client *c, uint64_t deadline) {
  int last = -1, still = 0;
  while (now_ms() < deadline && c->state == C_OPEN) {
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    int unsent = 0;
    if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
        ti.tcpi_state == TCP_FIN_WAIT2)
      return 0;
    ioctl(c->fd, SIOCOUTQNSD, &unsent);
    usleep(1000);
    if (unsent != last || ++still < 5) {
      still = unsent != last ? 0 : still;
      last = unsent;
      continue;
    }
    still = 0;
    ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
      client_end(c, C_FAILED, "%s after %zu of %zu bytes back",
                 n == 0 ? "EOF" : strerror(errno), c->got, c->total);
    else if (n > 0)
      client_check(c, (size_t)n);
  }
  if (c->state == C_OPEN)
    client_end(c, C_FAILED, "our FIN not acknowledged in time");
  return -1;
}

/* The classic SIGPIPE: the client half-closes, so the server's socket is
 * in CLOSE_WAIT, then resets while the server still has data to echo.
 * There the server's next send() fails with EPIPE, which raises SIGPIPE
 * unless it sends with MSG_NOSIGNAL. First the client sends without
 * reading, for 300 ms: every buffer on the way fills and the server blocks
 * in send(). Then it half-closes, lets the FIN in (let_fin_in) and resets,
 * if the server's end is in CLOSE_WAIT and the server still owes us bytes
 * it has not handed to its kernel: what we sent, less what came back, is
 * in our receive queue, in the server's send queue, or still owed. (If it
 * owes nothing, it has no send() left to make: try again.) Returns 1 if
 * caught, 0 if not, -1 on an echo error. */
static int reset_in_close_wait(char *msg, size_t len) {
  client c;
  client_init(&c, 64 << 20, SHUT_NEVER);
  c.hog = c.wait_sent = c.burst = 1;
  c.rcvbuf = 256 * 1024; /* fixed: an autotuned one would hold the echo */
  run r = {.c = &c, .n = 1, .max_active = 1, .deadline = deadline_in(300)};
  run_clients(&r);
  if (c.state == C_OPEN) {
    c.total = c.limit = c.sent;
    c.shut = shutdown(c.fd, SHUT_WR) == 0;
    let_fin_in(&c, deadline_in(5000));
  }
  if (c.state != C_OPEN) {
    snprintf(msg, len, "the half-closing client: %s",
             c.state == C_FAILED ? c.why : "not connected");
    client_end(&c, C_FAILED, NULL);
    return -1;
  }
  unsigned state = 0;
  unsigned long txq = 0;
  int inq = 0;
  ioctl(c.fd, SIOCINQ, &inq);
  long owed = (long)(c.sent - c.got) - inq;
  int caught = server_end(c.fd, &state, &txq) == 0 &&
               state == 8 /* TCP_CLOSE_WAIT */ && (owed -= (long)txq) > 0;
  reset_now(&c);
  if (caught) {
    size_t k = strlen(msg);
    snprintf(msg + k, len - k, ", reset in CLOSE_WAIT owing %ld KB",
             owed / 1024);
  }
  return caught;
}

static int reset(char *msg, size_t len) {
  if (reset_midstream(msg, len) < 0)
    return -1;
  int caught = 0;
  for (int try = 0; try < 8 && !caught; try++)
    if ((caught = reset_in_close_wait(msg, len)) < 0)
      return -1;
  if (!caught) { /* timing; not the server's fault */
    size_t k = strlen(msg);
    snprintf(msg + k, len - k, ", CLOSE_WAIT not caught in 8 tries");
  }
  usleep(50000); /* the server's send() meets the reset (and maybe SIGPIPE) */
  client next;
  client_init(&next, 64 * 1024, SHUT_AFTER_SEND);
  run r = {.c = &next, .n = 1, .max_active = 1,
           .deadline = deadline_in(10000)};
  char why[256];
  if (run_and_report(&r, why, sizeof why) < 0) {
    snprintf(msg, len, "the next client: %s", why);
    return -1;
  }
  size_t k = strlen(msg);
  snprintf(msg + k, len - k, "; then 64 KB echoed");
  return 0;
}

static int burst(char *msg, size_t len) {
  client c;
  client_init(&c, 10 << 20, SHUT_AFTER_SEND);
  c.burst = 1;
  run r = {.c = &c, .n = 1, .max_active = 1, .deadline = deadline_in(20000)};
  uint64_t t = now_ms();
  if (run_and_report(&r, msg, len) < 0)
    return -1;
  snprintf(msg, len, "10 MB in %.2f s", (double)(now_ms() - t) / 1000);
  return 0;
}

/* The hog offers far more than the 64 MB limit (8 MB would fit in the
 * loopback buffers alone): a server that never stops reading it takes it
 * all into memory and fails; one that stops reading blocks it early. */
static int never_reading(char *msg, size_t len) {
  enum { N = 21, TRIPS = 20, TRIP = 1024 };
  client c[N];
  client_init(&c[0], HOG_BYTES, SHUT_NEVER);
  c[0].hog = c[0].wait_sent = c[0].burst = 1;
  c[0].rcvbuf = 16384;
  for (size_t i = 1; i < N; i++) {
    client_init(&c[i], TRIPS * TRIP, SHUT_NEVER);
    c[i].step = TRIP;
  }
  long before = server_rss_kb();
  /* The hog alone first, until the server's back-pressure stops it. */
  run r = {.c = c, .n = 1, .max_active = 1, .deadline = deadline_in(1500)};
  run_clients(&r);
  if (c[0].state != C_OPEN) {
    snprintf(msg, len, "the never-reading client: %s",
             c[0].state == C_FAILED ? c[0].why : "not connected");
    client_end(&c[0], C_FAILED, NULL);
    return -1;
  }
  c[0].wait_sent = 0; /* it goes on writing when it can, beside the others */
  r.n = N;
  r.max_active = N;
  r.deadline = deadline_in(20000);
  uint64_t t = now_ms();
  size_t fails = run_clients(&r);
  long rss = server_rss_kb();
  long peak = rss > r.peak_rss_kb ? rss : r.peak_rss_kb;
  size_t hog_sent = c[0].sent;
  int hog_dropped = c[0].state == C_FAILED; /* noted, not a failure */
  client_end(&c[0], C_DONE, NULL);
  if (fails) {
    first_failure(&r, fails, msg, len);
    return -1;
  }
  snprintf(msg, len,
           "%d clients x %d round trips in %.2f s; the never-reading one "
           "got %.1f MB in%s; server VmRSS %.1f MB before, peak %.1f MB%s",
           N - 1, TRIPS, (double)(now_ms() - t) / 1000,
           (double)hog_sent / (1 << 20),
           hog_dropped ? " (then the server dropped it)" : "",
           (double)before / 1024,
           (double)peak / 1024, peak < RSS_LIMIT_KB ? "" : " > 64 MB limit");
  return peak < RSS_LIMIT_KB ? 0 : -1;
}

static int many(char *msg, size_t len) {
  size_t n = (size_t)opt.many;
  client *c = calloc(n, sizeof *c);
  if (!c) {
    snprintf(msg, len, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    client_init(&c[i], 100, SHUT_NEVER);
  run r = {.c = c, .n = n, .max_active = n, .hold = 1,
           .deadline = deadline_in(60000)};
  int rc = run_and_report(&r, msg, len);
  if (rc == 0)
    snprintf(msg, len, "%zu connections open at once, 100 B each", n);
  free(c);
  return rc;
}

/* Reaps what the server left to us (we are the subreaper) and finds what
 * is still alive in its process group; kills it all. Returns the count. */
static int leftovers(char *what, size_t len) {
  int count = 0, st;
  pid_t pid;
  what[0] = '\0';
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
    if (count++ == 0)
      snprintf(what, len, "pid %d (already exited)", (int)pid);
  DIR *d = opendir("/proc");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char path[300], buf[512], *lp, *rp;
    int ppid, pgrp;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (!(lp = strchr(buf, '(')) || !(rp = strrchr(buf, ')')) ||
        sscanf(rp + 1, " %*c %d %d", &ppid, &pgrp) != 2)
      continue;
    if (pgrp == server_pid || ppid == getpid())
      if (count++ == 0)
        snprintf(what, len, "pid %.16s %.*s", e->d_name, (int)(rp - lp + 1),
                 lp);
  }
  if (d)
    closedir(d);
  kill(-server_pid, SIGKILL);
  while (waitpid(-1, &st, WNOHANG) > 0)
    ;
  return count;
}

/* SIGTERM with two idle clients connected, so a model blocked in recv or
 * accept must still notice. */
static int stop(char *msg, size_t len) {
  client idle[2];
  char how[128], left[256];
  for (int i = 0; i < 2; i++) {
    client_init(&idle[i], 0, SHUT_NEVER);
    idle[i].hog = 1;
    client_connect(&idle[i]);
  }
  /* For the report only: a server that spins while its clients idle (the
   * write-interest busy loop) shows here. nonblocking spins by design. */
  double cpu = server_cpu_s();
  usleep(500000);
  cpu = (server_cpu_s() - cpu) / 0.5 * 100;
  uint64_t t = now_ms();
  if (server_gone()) {
    describe_status(server_status, how, sizeof how);
    snprintf(msg, len, "the server was already gone: %s", how);
  } else {
    kill(server_pid, SIGTERM);
    while (!server_gone() && now_ms() - t < 5000)
      usleep(5000);
    if (!server_gone()) {
      kill(-server_pid, SIGKILL);
      waitpid(server_pid, &server_status, 0);
      snprintf(msg, len, "still running 5 s after SIGTERM");
    } else {
      describe_status(server_status, how, sizeof how);
      snprintf(msg, len, "idle CPU %.0f%%; %s %.2f s after SIGTERM", cpu,
               how, (double)(now_ms() - t) / 1000);
    }
  }
  for (int i = 0; i < 2; i++)
    client_end(&idle[i], C_DONE, NULL);
  int n = leftovers(left, sizeof left);
  if (n) {
    size_t k = strlen(msg);
    snprintf(msg + k, len - k, "; %d process(es) left behind: %s", n, left);
  }
  int clean = WIFEXITED(server_status) && WEXITSTATUS(server_status) == 0;
  return clean && now_ms() - t < 5000 && n == 0 ? 0 : -1;
}

/* ---- main --------------------------------------------------------------- */

static void scenario(const char *name, scenario_fn *fn, const char *skip) {
  char msg[512] = "", how[128];
  static uint64_t index;
  scenario_rng = opt.seed + 0x1000 * ++index; /* independent of the others */
  if (skip) {
    printf("skip %s (%s)\n", name, skip);
    skipped++;
    return;
  }
  uint64_t t = now_ms();
  int rc = -1;
  if (server_gone()) {
    describe_status(server_status, how, sizeof how);
    snprintf(msg, sizeof msg, "the server is gone (%s)", how);
  } else if (t >= budget_end) {
    snprintf(msg, sizeof msg, "no time left (all scenarios: %d s)",
             BUDGET_MS / 1000);
  } else if ((rc = fn(msg, sizeof msg)) < 0 && fn != stop && server_gone()) {
    describe_status(server_status, how, sizeof how);
    size_t k = strlen(msg);
    snprintf(msg + k, sizeof msg - k, "; the server died: %s", how);
  }
  double s = (double)(now_ms() - t) / 1000;
  if (rc == 0) {
    printf("ok %s (%.2f s: %s)\n", name, s, msg);
    passed++;
  } else {
    printf("FAIL %s: %s (after %.2f s)\n", name, msg, s);
    failed++;
  }
}

static void watchdog(int sig) {
  static const char text[] = "FAIL watchdog: still running after "
                             "115 s; server killed\n";
  (void)sig;
  if (write(STDOUT_FILENO, text, sizeof text - 1) < 0) {
    /* nothing more to do */
  }
  if (server_pid > 0)
    kill(-server_pid, SIGKILL);
  _exit(failed + 1);
}

static void usage(FILE *to) {
  fprintf(to, "usage: echo_check --server PATH --model M [--upper]\n"
              "                  [--skip-never-reading] [--conns-1000 N]\n"
              "                  [--sequential] [--max-concurrent N] "
              "[--seed S]\n");
}

static int parse(int argc, char **argv) {
  static const struct option longs[] = {
      {"server", required_argument, 0, 's'},
      {"model", required_argument, 0, 'm'},
      {"upper", no_argument, 0, 'u'},
      {"skip-never-reading", no_argument, 0, 'n'},
      {"conns-1000", required_argument, 0, 'c'},
      {"sequential", no_argument, 0, 'q'},
      {"max-concurrent", required_argument, 0, 'x'},
      {"seed", required_argument, 0, 'S'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int ch;
  opt.seed = (unsigned long long)time(NULL) ^
             ((unsigned long long)getpid() << 32);
  while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (ch) {
    case 's': opt.server = optarg; break;
    case 'm': opt.model = optarg; break;
    case 'u': opt.upper = 1; break;
    case 'n': opt.skip_never_reading = 1; break;
    case 'c': opt.many = atoi(optarg); break;
    case 'q': opt.max_concurrent = 1; break;
    case 'x': opt.max_concurrent = atoi(optarg); break;
    case 'S': opt.seed = strtoull(optarg, NULL, 0); break;
    case 'h': usage(stdout); exit(0);
    default: return -1;
    }
  }
  if (!opt.server || !opt.model || optind < argc || opt.many < 0 ||
      opt.max_concurrent < 0) {
    usage(stderr);
    return -1;
  }
  return 0;
}

/* Room for --conns-1000 on both sides: the server inherits the limit.
 * Returns the limit now in force. */
static long raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
}

int main(int argc, char **argv) {
  if (parse(argc, argv) < 0)
    return 2;
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_CHILD_SUBREAPER, 1); /* the server's orphans come to us */
  long nofile = raise_nofile();
  char too_few[64] = "";
  if (opt.many > 0 && nofile < opt.many + 64) /* 64: ours, the server's own */
    snprintf(too_few, sizeof too_few, "RLIMIT_NOFILE %ld is too low", nofile);
  int has = server_has_model();
  if (has < 0) {
    printf("FAIL start: '%s --model list' did not work\n", opt.server);
    return 1;
  }
  if (has == 0) {
    printf("skip: %s has no model '%s'\n", opt.server, opt.model);
    return 77;
  }
  printf("echo_check: model %s%s, seed %llu (--seed to replay)\n", opt.model,
         opt.upper ? " --upper" : "", opt.seed);
  signal(SIGALRM, watchdog);
  alarm(WATCHDOG_S);
  if (start_server() < 0) {
    char left[256];
    leftovers(left, sizeof left);
    printf("0 passed, 1 failed\n");
    return 1;
  }
  budget_end = now_ms() + BUDGET_MS;
  scenario("concurrent", concurrent, NULL);
  scenario("half-close", half_close, NULL);
  scenario("reset", reset, NULL);
  scenario("garbage-and-burst", burst, NULL);
  scenario("never-reading", never_reading,
           opt.skip_never_reading ? "--skip-never-reading" : NULL);
  scenario("many", many,
           !opt.many ? "--conns-1000 0" : too_few[0] ? too_few : NULL);
  budget_end = now_ms() + 10000; /* stop gets its own time */
  scenario("stop", stop, NULL);
  printf("%d passed, %d failed", passed, failed);
  printf(skipped ? ", %d skipped\n" : "\n", skipped);
  return failed;
}
