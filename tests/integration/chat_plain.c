/* chat_check plain: the classic group chat (iomux-chatd --proto plain). */
#include "chat_harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const plain_args[] = {"--proto", "plain", NULL};

/* Three clients, all accepted: the last one's line reached the others. */
static int three(chat_srv *s, tc **a, tc **b, tc **c) {
  *a = tc_connect(s->port, "a", 0);
  *b = tc_connect(s->port, "b", 0);
  *c = tc_connect(s->port, "c", 0);
  if (!*a || !*b || !*c)
    return 0;
  char addr[64], re[128];
  tc_addr(*c, addr, sizeof addr);
  snprintf(re, sizeof re, "^<%s> hello from c$", addr);
  return tc_send(*c, "hello from c") && tc_expect(*a, re, 2000) &&
         tc_expect(*b, re, 2000);
}

static void end(tc *a, tc *b, tc *c) {
  tc_free(a);
  tc_free(b);
  tc_free(c);
}

static int broadcast(void) {
  chat_srv s;
  tc *a = NULL, *b = NULL, *c = NULL;
  if (!srv_start(&s, 0, plain_args))
    return 0;
  int ok = three(&s, &a, &b, &c);
  char addr[64], re[160];
  if (ok) {
    tc_addr(a, addr, sizeof addr);
    ok &= tc_expect_none(c, NULL, 200); /* not to the sender */
    /* Two lines in one write, then one in two pieces. */
    ok &= tc_send_raw(a, "one\ntwo\r\nthr", 12);
    sleep_ms(50);
    ok &= tc_send_raw(a, "ee\n", 3);
    for (int i = 0; i < 2 && ok; i++) {
      tc *to = i ? c : b;
      snprintf(re, sizeof re, "^<%s> one$", addr);
      ok &= tc_expect(to, re, 2000);
      snprintf(re, sizeof re, "^<%s> two$", addr);
      ok &= tc_expect(to, re, 2000);
      snprintf(re, sizeof re, "^<%s> three$", addr);
      ok &= tc_expect(to, re, 2000);
    }
    ok &= tc_expect_none(a, NULL, 100);
  }
  ok &= srv_stop(&s, SIGTERM, 3000);
  end(a, b, c);
  return ok;
}

/* `quit` closes that client (what follows it is not sent); so does EOF. */
static int quit_and_eof(void) {
  chat_srv s;
  tc *a = NULL, *b = NULL, *c = NULL;
  if (!srv_start(&s, 0, plain_args))
    return 0;
  int ok = three(&s, &a, &b, &c);
  if (ok) {
    ok &= tc_send_raw(a, "quit\nlost\n", 10) && tc_expect_closed(a, 2000);
    ok &= tc_expect_none(b, "lost", 200);
    shutdown(b->fd, SHUT_WR);
    ok &= tc_expect_closed(b, 2000);
    ok &= tc_send(c, "still here") && tc_expect_none(c, NULL, 200);
  }
  ok &= srv_stop(&s, SIGTERM, 3000);
  end(a, b, c);
  return ok;
}

/* A line longer than 4096 bytes is dropped; the next one goes through. */
static int long_line(void) {
  chat_srv s;
  tc *a = NULL, *b = NULL, *c = NULL;
  if (!srv_start(&s, 0, plain_args))
    return 0;
  int ok = three(&s, &a, &b, &c);
  if (ok) {
    static char big[10000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\n';
    ok &= tc_send_raw(a, big, sizeof big) && tc_send(a, "short");
    ok &= tc_expect(b, "> short$", 2000) && tc_expect_none(b, "xxxx", 100);
  }
  ok &= srv_stop(&s, SIGTERM, 3000);
  end(a, b, c);
  return ok;
}

static int too_many(void) {
  chat_srv s;
  const char *const args[] = {"--proto", "plain", "--max-clients", "2", NULL};
  if (!srv_start(&s, 0, args))
    return 0;
  tc *a = tc_connect(s.port, "a", 0), *b = tc_connect(s.port, "b", 0);
  tc *c = tc_connect(s.port, "c", 0);
  int ok = a && b && c && tc_expect(c, "^ERROR :Too many clients$", 2000) &&
           tc_expect_closed(c, 2000);
  ok &= srv_stop(&s, SIGTERM, 3000);
  end(a, b, c);
  return ok;
}

/* `quit` on the console, or SIGTERM: ERROR to every client, exit 0. */
static int stop_by(int console) {
  chat_srv s;
  tc *a = NULL, *b = NULL, *c = NULL;
  if (!srv_start(&s, console, plain_args))
    return 0;
  int ok = three(&s, &a, &b, &c);
  if (console)
    ok &= write(s.console, "help\nquit\n", 10) == 10;
  else
    kill(s.pid, SIGTERM);
  for (int i = 0; i < 3 && ok; i++) {
    tc *t = i == 0 ? a : i == 1 ? b : c;
    ok &= tc_expect(t, "^ERROR :Server shutting down$", 3000) &&
          tc_expect_closed(t, 3000);
  }
  ok &= srv_wait_exit(&s, 3000);
  srv_kill(&s);
  end(a, b, c);
  return ok;
}

static int console_quit(void) { return stop_by(1); }
static int sigterm(void) { return stop_by(0); }

/* Flushes are --batch-ms apart: a line right after a flush waits for the
 * next slot; a line after a quiet spell, or a burst of 8 lines per held
 * client, leaves at once. Checked against bounds that hold whatever the
 * machine's load: the first flush came after t0, so a held line cannot
 * arrive before t0 + 1000 ms; a line held for a slot would take 1000 ms,
 * a line not held far less. */
static int batch_slot(void) {
  /* --nodelay on: the timing below is the server's own, not Nagle's. */
  const char *const args[] = {"--proto", "plain", "--batch-ms", "1000",
                              "--nodelay", "on", NULL};
  chat_srv s;
  tc *a = NULL, *b = NULL, *c = NULL;
  if (!srv_start(&s, 0, args))
    return 0;
  uint64_t t0 = now_ms();
  int ok = three(&s, &a, &b, &c); /* c's line: the first flush */
  char addr[64], re[160];
  if (ok) {
    tc_addr(a, addr, sizeof addr);
    snprintf(re, sizeof re, "^<%s> next$", addr);
    ok = tc_send(a, "next") && tc_expect(b, re, 3000);
    uint64_t t1 = now_ms();
    if (ok && t1 < t0 + 990)
      ok = fail("a line %llu ms after the first flush was not held for the "
                "1000 ms slot", (unsigned long long)(t1 - t0));
    sleep_ms(1200); /* a quiet spell longer than the slot */
    snprintf(re, sizeof re, "^<%s> lone$", addr);
    uint64_t t2 = now_ms();
    ok = ok && tc_send(a, "lone") && tc_expect(b, re, 3000);
    if (ok && now_ms() >= t2 + 900)
      ok = fail("a line after a quiet spell was held (%llu ms)",
                (unsigned long long)(now_ms() - t2));
    /* Within the slot of lone's flush: 16 lines to two held clients. */
    char burst[16 * 4 + 1];
    for (int i = 0; i < 16; i++)
      snprintf(burst + i * 4, sizeof burst - (size_t)i * 4, "b%02d\n", i);
    snprintf(re, sizeof re, "^<%s> b15$", addr);
    ok = ok && tc_send_raw(a, burst, 16 * 4) && tc_expect(b, re, 3000);
    if (ok && now_ms() >= t2 + 900)
      ok = fail("a burst of 8 lines per client was held for the slot "
                "(%llu ms)", (unsigned long long)(now_ms() - t2));
  }
  ok &= srv_stop(&s, SIGTERM, 3000);
  end(a, b, c);
  return ok;
}

const chat_case chat_plain_cases[] = {
    {"broadcast", broadcast},
    {"batch-slot", batch_slot},
    {"quit-and-eof", quit_and_eof},
    {"long-line", long_line},
    {"too-many", too_many},
    {"console-quit", console_quit},
    {"sigterm", sigterm},
    {NULL, NULL},
};
