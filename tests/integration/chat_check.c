/* chat_check: the end-to-end tests of iomux-chatd.
 *
 *   chat_check --server PATH [--sanitized] GROUP
 *
 * Each GROUP is one CTest test (chat.GROUP), a list of cases; each case
 * starts its own server (iomux-chatd --port 0 ...) and talks to it over
 * 127.0.0.1 with scripted raw-socket clients (chat_harness.h). Output: "ok
 * CASE" or "FAIL CASE" with what was wrong, then a summary; the exit status
 * is the number of failed cases, 77 for a case that cannot run here (ii not
 * installed). An alarm ends a run that hangs anyway, at 55 s.
 *
 * --sanitized (the server was built with ASan/UBSan): memory bounds are
 * loosened (ASan's shadow and quarantine), per-client memory not judged.
 */
#include "chat_harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WATCHDOG_S 55

long chat_rss_limit_kb = 32 * 1024;
long chat_idle_limit_bytes = 2048;
int chat_sanitized;

static const chat_group groups[] = {
    {"plain", chat_plain_cases},
    {"irc.register", chat_irc_reg_cases},
    {"irc.channels", chat_irc_chan_cases},
    {"irc.messages", chat_irc_msg_cases},
    {"irc.queries", chat_irc_query_cases},
    {"irc.errors", chat_irc_error_cases},
    {"irc.timeouts", chat_irc_timeout_cases},
    {"irc.flood", chat_irc_flood_cases},
    {"load", chat_load_cases},
    {"slow-reader", chat_slow_cases},
    {"garbage", chat_garbage_cases},
    {"ii", chat_ii_cases},
};

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL chat_check: watchdog: still running\n";
  if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0) {
    /* nothing more to do */
  }
  _exit(99);
}

static int usage(void) {
  fprintf(stderr, "usage: chat_check --server PATH [--sanitized] "
                  "[--idle-limit BYTES] GROUP\n"
                  "groups:");
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
    fprintf(stderr, " %s", groups[i].name);
  fprintf(stderr, "\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *name = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--server") && i + 1 < argc)
      chat_server_path = argv[++i];
    else if (!strcmp(argv[i], "--sanitized"))
      chat_sanitized = 1, chat_rss_limit_kb = 512 * 1024;
    else if (!strcmp(argv[i], "--idle-limit") && i + 1 < argc)
      chat_idle_limit_bytes = atol(argv[++i]);
    else if (!name)
      name = argv[i];
    else
      return usage();
  }
  const chat_group *g = NULL;
  for (size_t i = 0; name && i < sizeof groups / sizeof groups[0]; i++)
    if (!strcmp(groups[i].name, name))
      g = &groups[i];
  if (!chat_server_path || !g)
    return usage();
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  alarm(WATCHDOG_S);
  setvbuf(stdout, NULL, _IOLBF, 0);
  int failed = 0, passed = 0;
  for (const chat_case *c = g->cases; c->name; c++) {
    uint64_t t0 = now_ms();
    int rc = c->run();
    if (rc == 77) {
      printf("skip %s\n", c->name);
      return 77;
    }
    printf("%s %s (%llu ms)\n", rc ? "ok" : "FAIL", c->name,
           (unsigned long long)(now_ms() - t0));
    rc ? passed++ : failed++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed;
}
