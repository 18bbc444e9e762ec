/* iomux-bench compare: one run. Start the server, read its port, run
 * `iomux-bench load ... --json --server-pid PID` against it, SIGTERM the
 * server and require it to exit, then read the load's JSON.
 *
 * The load mode runs as its own process (exec of iomux-bench itself) rather
 * than in-process: a generator that crashes, hangs or exhausts fds costs one
 * run, not the comparison, and the server figures it samples from /proc
 * are the same either way. Every wait is bounded: the port within
 * PORT_WAIT_MS, the load within duration + warm-up + LOAD_GRACE_S, the exit
 * after SIGTERM within STOP_WAIT_MS; past that the child is killed and the
 * run is an error with the reason.
 *
 * Output of the children goes to unlinked temporary files, not pipes: a
 * server that prints a line per refused connection must never block on a
 * full pipe nobody reads. Only the port comes through a pipe, since we must
 * see it as soon as it is printed.
 */
#define _GNU_SOURCE
#include "compare.h"

#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PORT_WAIT_MS 5000
#define STOP_WAIT_MS 5000
#define LOAD_GRACE_S 15.0
#define ECHO_MAX_CONNS 10000 /* iomux-echo --max-conns, by default */

typedef struct child {
  pid_t pid;
  FILE *out, *err; /* its stdout and stderr, unlinked files */
} child;

static void fail(cmp_run *r, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Mark r as an error. The first reason names it (the tag); a later one,
 * such as a server that then ignored SIGTERM, is added to the words. An
 * error after clients went unserved (the server then crashed) wins the
 * tag: the run is an error. */
static void fail(cmp_run *r, const char *tag, const char *fmt, ...) {
  size_t len = 0;
  if (r->status != RUN_OK) {
    len = strlen(r->why);
    len += (size_t)snprintf(r->why + len, sizeof r->why - len, "; then: ");
  }
  if (r->status != RUN_ERROR)
    snprintf(r->tag, sizeof r->tag, "error: %s", tag);
  r->status = RUN_ERROR;
  if (len >= sizeof r->why)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->why + len, sizeof r->why - len, fmt, ap);
  va_end(ap);
}

/* An unlinked temporary file that children do not inherit by accident. */
static FILE *scratch_file(void) {
  FILE *f = tmpfile();
  if (f)
    fcntl(fileno(f), F_SETFD, FD_CLOEXEC);
  return f;
}

/* The last non-empty line of f (what a failing program said last). */
static void last_line(FILE *f, char *buf, size_t cap) {
  char line[512];
  buf[0] = '\0';
  if (!f || fseek(f, 0, SEEK_SET) < 0)
    return;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0] && snprintf(buf, cap, "%s", line) >= (int)cap)
      memcpy(buf + cap - 4, "...", 4); /* cut: say so */
  }
}

static void pin(int cpu) {
  if (cpu < 0)
    return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set); /* best effort: unpinned is ok */
}

/* Fork and exec argv on `cpu`, stdout to out_fd, stderr to err_fd, stdin
 * from /dev/null. Returns the pid, or -1. */
static pid_t spawn(char *const argv[], int cpu, int out_fd, int err_fd) {
  pid_t parent = getpid();
  fflush(NULL);
  pid_t pid = fork();
  if (pid > 0)
    setpgid(pid, pid); /* as the child does: whichever runs first */
  if (pid != 0)
    return pid;
  /* Its own process group, so that a kill reaches all it starts; and if
   * compare dies (Ctrl-C, a CTest timeout), its children must not run on. */
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    _exit(127);
  pin(cpu);
  int in = open("/dev/null", O_RDONLY);
  if (in < 0 || dup2(in, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
    _exit(127);
  execv(argv[0], argv);
  dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

/* Wait up to ms for pid to end. Returns 0 with *status set, or -1. */
static int wait_for(pid_t pid, int ms, int *status) {
  double until = app_now_s() + ms / 1000.0;
  for (;;) {
    pid_t got = waitpid(pid, status, WNOHANG);
    if (got == pid)
      return 0;
    if (got < 0 && errno != EINTR) {
      *status = 0; /* not ours to wait for any more: nothing to wait on */
      return 0;
    }
    if (app_now_s() >= until)
      return -1;
    /* A nap, not a blocking wait: it keeps every wait bounded with no
     * signal handling, and 50 wake-ups a second is no load to measure. */
    struct timespec nap = {0, 20 * 1000 * 1000};
    nanosleep(&nap, NULL);
  }
}

/* Each child leads its own process group, so this also ends whatever it
 * started (a wrapper script's server, say). */
static void kill_and_reap(pid_t pid) {
  int status;
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL); /* in case it had not made its group yet */
  waitpid(pid, &status, 0);
}

static void status_words(int status, char *buf, size_t cap) {
  if (WIFSIGNALED(status))
    snprintf(buf, cap, "was killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  else
    snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
}

/* ---- the server ----------------------------------------------------------- */

/* Read the port line from fd within PORT_WAIT_MS. Returns it, 0 if the
 * time ran out, or -1 if the server closed its stdout (it exited). */
static int read_port(int fd) {
  char buf[32];
  size_t n = 0;
  double until = app_now_s() + PORT_WAIT_MS / 1000.0;
  while (n < sizeof buf - 1) {
    int left = (int)((until - app_now_s()) * 1000);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (left <= 0 || poll(&p, 1, left) <= 0)
      return 0;
    ssize_t got = read(fd, buf + n, 1);
    if (got <= 0)
      return -1;
    if (buf[n] == '\n')
      break;
    n++;
  }
  buf[n] = '\0';
  int port = atoi(buf);
  return port > 0 && port < 65536 ? port : 0;
}

/* Start m for `all` connections; on success c->pid is running and *port
 * is where it listens. *keep is the read end of its stdout pipe, kept open
 * while it runs so that a late write of its own does not kill it with
 * SIGPIPE. iomux-echo serves ECHO_MAX_CONNS at once unless told more: it
 * is told only when more are coming, since posix-aio sizes its threads by
 * it. */
static int server_start(const cmp_opts *o, const cmp_model *m, int all,
                        child *c, int *port, int *keep, cmp_run *r) {
  char *argv[10], max[16];
  int n = 0, p[2];
  argv[n++] = (char *)m->path;
  if (m->arg[0]) {
    argv[n++] = "--model";
    argv[n++] = (char *)m->arg;
  }
  if (m->arg[0] && all > ECHO_MAX_CONNS) {
    snprintf(max, sizeof max, "%d", all);
    argv[n++] = "--max-conns";
    argv[n++] = max;
  }
  argv[n++] = "--port";
  argv[n++] = "0";
  argv[n] = NULL;
  if (pipe2(p, O_CLOEXEC) < 0) {
    fail(r, "setup", "pipe: %s", strerror(errno));
    return -1;
  }
  c->pid = spawn(argv, o->cpu_server, p[1], fileno(c->err));
  close(p[1]);
  *keep = p[0];
  if (c->pid < 0) {
    fail(r, "setup", "fork: %s", strerror(errno));
    return -1;
  }
  if ((*port = read_port(p[0])) <= 0) {
    char said[256], how[96];
    int status;
    snprintf(how, sizeof how, "did not print its port within %d s",
             PORT_WAIT_MS / 1000);
    if (*port < 0 && wait_for(c->pid, 1000, &status) == 0)
      status_words(status, how, sizeof how);
    else
      kill_and_reap(c->pid);
    last_line(c->err, said, sizeof said);
    fail(r, "start", "the server %s%s%s", how, said[0] ? ": " : "", said);
    return -1;
  }
  return 0;
}

/* SIGTERM the server and require it to exit, with status 0, in time. */
static void server_stop(pid_t pid, FILE *err, cmp_run *r) {
  int status = 0;
  char said[256], how[96];
  if (waitpid(pid, &status, WNOHANG) == pid) {
    status_words(status, how, sizeof how);
    last_line(err, said, sizeof said);
    fail(r, "server died", "the server %s during the run%s%s", how,
         said[0] ? ": " : "", said);
    return;
  }
  kill(pid, SIGTERM);
  if (wait_for(pid, STOP_WAIT_MS, &status) < 0) {
    kill_and_reap(pid);
    fail(r, "no exit", "the server was still running %d s after SIGTERM "
         "(killed)", STOP_WAIT_MS / 1000);
    return;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    status_words(status, how, sizeof how);
    last_line(err, said, sizeof said);
    fail(r, "bad exit", "the server %s after SIGTERM%s%s", how,
         said[0] ? ": " : "", said);
  }
}

/* ---- the load's JSON ------------------------------------------------------ */

/* The number after "key": in the load's one-line JSON; 0 when absent. The
 * keys are unique with their quotes and colon, so a search is a parse. */
static double jnum(const char *js, const char *key) {
  char pat[48];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(js, pat);
  return p ? strtod(p + strlen(pat), NULL) : 0;
}

/* The first string of "first_errors":[...], unescaped enough to read. */
static void first_error(const char *js, char *buf, size_t cap) {
  const char *p = strstr(js, "\"first_errors\":[\"");
  size_t n = 0;
  buf[0] = '\0';
  if (!p)
    return;
  for (p += strlen("\"first_errors\":[\""); *p && *p != '"' && n + 1 < cap;
       p++)
    buf[n++] = *p == '\\' && p[1] ? *++p : *p;
  buf[n] = '\0';
}

static void parse_load(const char *js, cmp_run *r) {
  r->window_s = jnum(js, "window_s");
  r->messages = jnum(js, "messages");
  r->msg_s = jnum(js, "messages_per_s");
  r->bytes_s = jnum(js, "bytes_per_s");
  r->connected = jnum(js, "connected");
  r->load_cpu_s = jnum(js, "load_cpu_s");
  r->p50_us = jnum(js, "p50") / 1e3;
  r->p90_us = jnum(js, "p90") / 1e3;
  r->p99_us = jnum(js, "p99") / 1e3;
  r->p999_us = jnum(js, "p99_9") / 1e3;
  r->max_us = jnum(js, "max") / 1e3;
  r->mismatch = jnum(js, "mismatch");
  r->lost = jnum(js, "lost");
  r->stalled = jnum(js, "stalled");
  r->connect_failed = jnum(js, "connect_failed");
  r->server = strstr(js, "\"server\":{") != NULL;
  r->srv_user_s = jnum(js, "user_s");
  r->srv_sys_s = jnum(js, "sys_s");
  r->per_cpu_s = jnum(js, "messages_per_cpu_s");
  r->wakeups = jnum(js, "wakeups_per_message");
  r->rss_peak_kib = jnum(js, "rss_peak_kib");
  r->rss_per_conn = jnum(js, "rss_per_conn_bytes");
}

/* Append "N what" to the list in buf when n > 0; returns what, or tag. */
static const char *count(char *buf, size_t cap, double n, const char *what,
                         const char *tag) {
  char num[16];
  if (n <= 0)
    return tag;
  size_t len = strlen(buf);
  snprintf(buf + len, cap - len, "%s%s %s", len ? ", " : "",
           cmp_count(n, num, sizeof num), what);
  return tag ? tag : what;
}

/* The model did not serve every client, and sent no wrong byte: say how
 * many of how many, of each kind, and the first in words. */
static void unserved(cmp_run *r, int conns, const char *first, double run_s) {
  char n[16], of[16], kinds[96] = "";
  r->status = RUN_UNSERVED;
  r->unserved = r->stalled + r->lost + r->connect_failed;
  if (r->unserved > conns)
    r->unserved = conns; /* a stalled one may be cut off later too */
  count(kinds, sizeof kinds, r->stalled, "stalled", NULL);
  count(kinds, sizeof kinds, r->connect_failed, "failed to connect", NULL);
  count(kinds, sizeof kinds, r->lost, "cut off by the server", NULL);
  snprintf(r->tag, sizeof r->tag, "unserved %.0f/%d", r->unserved, conns);
  snprintf(r->why, sizeof r->why, "%s of %s client%s not served in the "
           "%.3g s run (%s%s%s)", cmp_count(r->unserved, n, sizeof n),
           cmp_count(conns, of, sizeof of), conns > 1 ? "s" : "", run_s,
           kinds, first[0] ? "; the first: " : "", first);
}

/* Why the load said no: the error counts and the first error in words. */
static void load_errors(const cmp_opts *o, int conns, const char *js,
                        cmp_run *r) {
  char counts[128] = "", first[200];
  const char *tag = NULL;
  first_error(js, first, sizeof first);
  if (r->mismatch == 0 && r->stalled + r->lost + r->connect_failed > 0) {
    unserved(r, conns, first, o->warmup + o->duration);
    return;
  }
  tag = count(counts, sizeof counts, r->mismatch, "mismatch", tag);
  tag = count(counts, sizeof counts, r->lost, "lost", tag);
  tag = count(counts, sizeof counts, r->stalled, "stalled", tag);
  tag = count(counts, sizeof counts, r->connect_failed, "connect", tag);
  fail(r, tag ? tag : "load", "load errors: %s%s%s",
       counts[0] ? counts : "none counted, but it failed",
       first[0] ? "; first: " : "", first);
}

/* ---- the load ------------------------------------------------------------- */

static void num_arg(char *buf, size_t cap, double v) {
  snprintf(buf, cap, "%g", v);
}

/* Run the load against port/pid, wait for it (bounded) and read its JSON
 * into r; fail() if there is none or it counted errors. */
static void run_load(const cmp_opts *o, int conns, int port, pid_t server,
                      cmp_run *r) {
  char a_port[16], a_conns[16], a_size[16], a_pipe[16], a_dur[32],
      a_warm[32], a_pid[16];
  snprintf(a_port, sizeof a_port, "%d", port);
  snprintf(a_conns, sizeof a_conns, "%d", conns);
  snprintf(a_size, sizeof a_size, "%d", o->size);
  snprintf(a_pipe, sizeof a_pipe, "%d", o->pipeline);
  num_arg(a_dur, sizeof a_dur, o->duration);
  num_arg(a_warm, sizeof a_warm, o->warmup);
  snprintf(a_pid, sizeof a_pid, "%d", (int)server);
  char *argv[] = {(char *)o->self, "load", "--port", a_port, "--conns",
                  a_conns, "--size", a_size, "--pipeline", a_pipe,
                  "--duration", a_dur, "--warmup", a_warm, "--json",
                  "--server-pid", a_pid, NULL};
  child c = {.out = scratch_file(), .err = scratch_file()};
  char *js = NULL;
  if (!c.out || !c.err) {
    fail(r, "setup", "temporary file: %s", strerror(errno));
    goto close_files;
  }
  c.pid = spawn(argv, o->cpu_load, fileno(c.out), fileno(c.err));
  if (c.pid < 0) {
    fail(r, "setup", "fork: %s", strerror(errno));
    goto close_files;
  }
  double limit = o->duration + o->warmup + LOAD_GRACE_S;
  int status;
  if (wait_for(c.pid, (int)(limit * 1000), &status) < 0) {
    kill_and_reap(c.pid);
    fail(r, "timeout", "the load did not finish within %.0f s (killed)",
         limit);
    goto close_files;
  }
  js = calloc(1, 16384);
  if (js && fseek(c.out, 0, SEEK_SET) == 0)
    js[fread(js, 1, 16383, c.out)] = '\0';
  if (!js || strncmp(js, "{\"host\":", 8) != 0) {
    char how[96], said[200];
    status_words(status, how, sizeof how);
    last_line(c.err, said, sizeof said);
    fail(r, "load", "the load printed no result (it %s)%s%s", how,
         said[0] ? ": " : "", said);
  } else {
    parse_load(js, r);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      load_errors(o, conns, js, r);
  }
close_files:
  free(js);
  if (c.out)
    fclose(c.out);
  if (c.err)
    fclose(c.err);
}

/* The load, against the server at port; in the --idle scenario against
 * `conns` idle connections held open meanwhile. */
static void drive(const cmp_opts *o, int conns, int port, pid_t server,
                  int **idle, cmp_run *r) {
  char why[200];
  if (!o->busy) {
    run_load(o, conns, port, server, r);
    return;
  }
  if (conns > 0 && !(*idle = cmp_idle_open(port, conns, why, sizeof why)))
    fail(r, "idle", "%s", why);
  else
    run_load(o, o->busy, port, server, r);
}

void cmp_run_one(const cmp_opts *o, const cmp_model *m, int conns,
                 cmp_run *r) {
  double t0 = app_now_s();
  child srv = {.err = scratch_file()};
  int port, keep = -1, *idle = NULL;
  r->status = RUN_OK;
  if (!srv.err) {
    fail(r, "setup", "temporary file: %s", strerror(errno));
    return;
  }
  if (server_start(o, m, conns + o->busy, &srv, &port, &keep, r) == 0) {
    drive(o, conns, port, srv.pid, &idle, r);
    server_stop(srv.pid, srv.err, r);
  }
  cmp_idle_close(idle, conns);
  if (r->status == RUN_OK && !r->server)
    fail(r, "no figures", "the load could not read the server's /proc "
         "figures");
  if (keep >= 0)
    close(keep);
  fclose(srv.err);
  r->wall_s = app_now_s() - t0;
}
