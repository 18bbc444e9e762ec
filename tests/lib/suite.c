/* The shared main of the cmocka suites (suite.h): one process per case,
 * libuv's way, each with its own time limit.
 *
 * Why a process per case, not a watchdog thread in one process:
 *  - The cases own their process's signals. The selector's cases time a wait
 *    across two SIGALRMs from setitimer, the loop's install SIGUSR1/SIGUSR2
 *    handlers and send signals from other threads. The runner uses no signal
 *    at all: it waits for the case's exit and its output with poll(), so it
 *    cannot steal, delay or reorder a delivery. A watchdog thread could block
 *    every signal, but it would make every suite multi-threaded, and
 *    ThreadSanitizer stops checking a child forked from a multi-threaded
 *    process (the loop and stream cases fork helpers).
 *  - Sanitizers keep working, and better: each case is a fresh, single-
 *    threaded fork of the runner, so TSan checks it fully, and a leak or a
 *    race a sanitizer reports when a case's process exits (a non-zero exit
 *    after its checks passed) fails that case, not the whole program.
 *  - A hang is named and the rest still runs: the runner kills the case's
 *    process group (with the helpers it forked, which would otherwise keep
 *    CTest's output pipe open) and reports the case as failed.
 *  - Nothing leaks from one case into the next (allocator, signal
 *    dispositions, rlimits, environment, fds).
 *
 * Output stays cmocka's own: the runner is a plain cmocka group whose every
 * case forks; the child runs the real case as a one-case cmocka group that
 * prints TAP into a pipe. The runner turns the child's result line back into
 * cmocka's [ OK ] / [ SKIPPED ] / [ FAILED ] (with the assertion's message
 * and file:line), and passes every other line the case prints through.
 * Whatever the case writes to stderr goes straight out. */
#define _GNU_SOURCE
#include "suite.h"

#include "iomux/error.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

iom_backend suite_backend;

static double time_scale = 1.0;
static int show_times;
static int cases_hung;

/* After this many hangs, the rest of the cases are failed without being run:
 * a backend that hangs everything should not take CTest's whole timeout. */
enum { GIVE_UP_AFTER_HANGS = 3 };

/* ---- the child: one case, as a one-case cmocka group printing TAP -------- */

static void run_child(const suite_case *c, int out, int unused_end,
                      pid_t runner) {
  setpgid(0, 0); /* its own group, so the runner can end its helpers too */
#if defined(__linux__)
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* the runner killed: the case too */
  if (getppid() != runner)
    _exit(1);
#else
  (void)runner;
#endif
  close(unused_end);
  if (dup2(out, STDOUT_FILENO) < 0)
    _exit(1);
  close(out);
  unsetenv("CMOCKA_MESSAGE_OUTPUT"); /* the runner parses TAP */
  cmocka_set_message_output(CM_OUTPUT_TAP);
  cmocka_set_test_filter(NULL);
  const struct CMUnitTest one[1] = {
      {c->name, c->fn, c->setup, c->teardown, NULL}};
  /* exit(), not _exit(): sanitizers check for leaks at exit. */
  exit(_cmocka_run_group_tests(c->name, one, 1, NULL, NULL));
}

/* ---- the runner: read the child's stdout, a line at a time --------------- */

enum result { NONE, PASSED, SKIPPED, FAILED };

typedef struct relay {
  const char *name;
  enum result result;
  char line[4096];
  size_t len;
  char details[16384]; /* the failure's "# " lines, without the "# " */
  size_t dlen;
} relay;

static int is_line(const char *line, const char *head, const char *name) {
  size_t n = strlen(head);
  return strncmp(line, head, n) == 0 && strcmp(line + n, name) == 0;
}

static void on_line(relay *r, char *line) {
  if (r->result == NONE && strcmp(line, "1..1") == 0)
    return; /* TAP's plan */
  if (r->result == NONE && is_line(line, "ok 1 - ", r->name)) {
    r->result = PASSED;
    return;
  }
  if (r->result == NONE && is_line(line, "not ok 1 # SKIP ", r->name)) {
    r->result = SKIPPED;
    return;
  }
  if (r->result == NONE && is_line(line, "not ok 1 - ", r->name)) {
    r->result = FAILED;
    return;
  }
  if (r->result != NONE && (is_line(line, "# ok - ", r->name) ||
                            is_line(line, "# not ok - ", r->name)))
    return; /* the group's end */
  if (r->result == FAILED && strncmp(line, "# ", 2) == 0) {
    size_t n = strlen(line + 2);
    if (r->dlen + n + 2 <= sizeof r->details) {
      memcpy(r->details + r->dlen, line + 2, n);
      r->dlen += n;
      r->details[r->dlen++] = '\n';
      r->details[r->dlen] = '\0';
    }
    return;
  }
  printf("%s\n", line); /* the case's own output */
}

static void on_bytes(relay *r, const char *buf, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (buf[i] == '\n' || r->len == sizeof r->line - 1) {
      r->line[r->len] = '\0';
      on_line(r, r->line);
      r->len = 0;
      if (buf[i] == '\n')
        continue;
    }
    r->line[r->len++] = buf[i];
  }
}

/* Reads what is there (the fd is non-blocking); returns 0 at end of file. */
static int read_some(relay *r, int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      on_bytes(r, buf, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    return n == 0 ? 0 : 1;
  }
}

/* True once the child has exited; it stays a zombie (WNOWAIT), so its
 * process group cannot be reused before the runner has killed it. */
static int child_exited(pid_t pid) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

/* Relays the child's output until it exits or `deadline_ms` passes; then
 * kills its process group (helpers it left behind included) and reaps it.
 * Returns 1 if the deadline passed first. */
static int wait_child(relay *r, pid_t pid, int fd, uint64_t deadline_ms,
                      int *status) {
  int open = 1, late = 0;
  while (!child_exited(pid)) {
    uint64_t now = tu_now_ms();
    if (now >= deadline_ms) {
      late = 1;
      break;
    }
    int wait_ms = deadline_ms - now < 50 ? (int)(deadline_ms - now) : 50;
    if (open) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (poll(&p, 1, wait_ms) > 0)
        open = read_some(r, fd);
    } else {
      /* End of file: the child is exiting. */
      poll(NULL, 0, 1);
    }
  }
  kill(-pid, SIGKILL);
  while (waitpid(pid, status, 0) < 0 && errno == EINTR)
    ;
  if (open)
    read_some(r, fd); /* what was written before the end */
  if (r->len > 0) {
    r->line[r->len] = '\0';
    on_line(r, r->line);
    r->len = 0;
  }
  return late;
}

static void describe_status(int status, char *buf, size_t size) {
  if (WIFSIGNALED(status))
    snprintf(buf, size, "was killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  else
    snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
}

/* Reports a failed case as cmocka would have: the assertion's messages, then
 * its own file:line. */
static void report_failure(relay *r) {
  static char file[1024];
  int line = 0;
  if (r->dlen > 0) {
    r->details[r->dlen - 1] = '\0';
    char *last = strrchr(r->details, '\n');
    last = last ? last + 1 : r->details;
    char *colon = strstr(last, ": error: Failure!");
    char *sep = colon ? colon - 1 : NULL;
    while (sep && sep > last && *sep >= '0' && *sep <= '9')
      sep--;
    if (colon && sep > last && *sep == ':' && sep + 1 < colon &&
        (size_t)(sep - last) < sizeof file) {
      memcpy(file, last, (size_t)(sep - last));
      file[sep - last] = '\0';
      line = atoi(sep + 1);
      last[last == r->details ? 0 : -1] = '\0';
    }
  }
  if (line == 0) {
    strcpy(file, __FILE__);
    line = __LINE__;
  }
  if (r->details[0] != '\0') /* cmocka's own message-then-location form */
    _assert_true(0, r->details, file, line);
  _fail(file, line);
}

/* The cmocka test function of every case: runs the case in a child. */
static void run_case(void **state) {
  const suite_case *c = *state;
  if (cases_hung >= GIVE_UP_AFTER_HANGS)
    fail_msg("%s: not run: %d cases hung before it", c->name, cases_hung);
  unsigned limit_s = c->limit_s ? c->limit_s : SUITE_LIMIT_DEFAULT_S;
  uint64_t limit_ms = (uint64_t)(limit_s * 1000.0 * time_scale);

  int fds[2];
  assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t runner = getpid();
  uint64_t t0 = tu_now_ms();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    fail_msg("%s: fork: %s", c->name, strerror(errno));
  }
  if (pid == 0)
    run_child(c, fds[1], fds[0], runner);
  setpgid(pid, pid); /* the child does too: whichever runs first */
  close(fds[1]);
  fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);

  static relay r;
  memset(&r, 0, sizeof r);
  r.name = c->name;
  int status = 0;
  int late = wait_child(&r, pid, fds[0], t0 + limit_ms, &status);
  close(fds[0]);
  uint64_t took_ms = tu_now_ms() - t0;
  fflush(stdout);

  char how[128];
  describe_status(status, how, sizeof how);
  if (late) {
    cases_hung++;
    fail_msg("%s HUNG: still running after its limit of %.0f s; killed it "
             "(its output so far is above)",
             c->name, (double)limit_ms / 1000.0);
  }
  if (r.result == NONE)
    fail_msg("%s %s before it finished", c->name, how);
  if (r.result == FAILED)
    report_failure(&r);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("%s %s, after its checks %s (a sanitizer's report above?)",
             c->name, how, r.result == SKIPPED ? "were skipped" : "passed");
  if (show_times)
    print_message("time: %s %.3f s\n", c->name, (double)took_ms / 1000.0);
  else if (took_ms * 2 > limit_ms)
    print_message("note: %s took %.1f s, more than half its limit of %.0f s\n",
                  c->name, (double)took_ms / 1000.0, (double)limit_ms / 1000.0);
  if (r.result == SKIPPED)
    skip();
}

/* ---- the mains ---------------------------------------------------------- */

static void configure(void) {
  /* Line-buffered even into CTest's pipe: the runner's lines, the case's
   * relayed stdout and its direct stderr then come out in order. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  show_times = getenv("IOM_TEST_TIMES") != NULL;
  const char *scale = getenv("IOM_TEST_TIME_SCALE");
  if (scale) {
    char *end;
    double s = strtod(scale, &end);
    if (end != scale && *end == '\0' && s > 0)
      time_scale = s;
    else
      fprintf(stderr, "IOM_TEST_TIME_SCALE=%s: not a positive number\n", scale);
  }
}

int suite_run(const char *group, const suite_case *cases, size_t n,
              const char *only) {
  configure();
  const char *nofork = getenv("IOM_TEST_NOFORK");
  int in_process = nofork && strcmp(nofork, "") && strcmp(nofork, "0");
  struct CMUnitTest *tests = calloc(n, sizeof *tests);
  if (!tests) {
    fprintf(stderr, "%s: out of memory\n", group);
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    const suite_case *c = &cases[i];
    if (in_process)
      tests[i] =
          (struct CMUnitTest){c->name, c->fn, c->setup, c->teardown, NULL};
    else
      tests[i] = (struct CMUnitTest){c->name, run_case, NULL, NULL, (void *)c};
  }
  if (only)
    cmocka_set_test_filter(only);
  int failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
  free(tests);
  return failed;
}

int suite_main_per_backend(int argc, char **argv, const char *name,
                           const suite_case *cases, size_t n) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s select|poll|epoll [case-pattern]\n", argv[0]);
    return 2;
  }
  int kind = tu_backend_named(argv[1]);
  if (kind < 0) {
    fprintf(stderr, "%s: no backend is called that\n", argv[1]);
    return 2;
  }
  iom_selector *probe;
  int err = iom_selector_new((iom_backend)kind, &probe);
  if (err == -ENOSYS)
    return 77; /* the kernel (or this build) lacks this backend */
  if (err < 0) {
    fprintf(stderr, "%s: %s\n", argv[1], iom_strerror(err));
    return 2;
  }
  iom_selector_free(probe);
  suite_backend = (iom_backend)kind;

  static char group[128];
  snprintf(group, sizeof group, "%s.%s", name, argv[1]);
  return suite_run(group, cases, n, argc > 2 ? argv[2] : NULL);
}
