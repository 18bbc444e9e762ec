/* chat_check garbage: what a server meets on the open Internet. Binary
 * bytes, NUL, lone CR and invalid UTF-8; 10 MB without a newline; 10,000
 * lines in one write; resets in the middle of a broadcast; clients that
 * half-close or stop in the middle of a line. After each, two new clients
 * must still register and talk (still_serving). */
#include "chat_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define T 2000

/* Two fresh clients register, join, and one hears the other. */
static int still_serving(int port) {
  tc *a = tc_irc(port, "fresh1"), *b = tc_irc(port, "fresh2");
  int ok = a && b && tc_join(a, "#fresh") && tc_join(b, "#fresh") &&
           tc_send(a, "PRIVMSG #fresh :all good") &&
           tc_expect(b, "^:fresh1![^ ]+ PRIVMSG #fresh :all good$", T);
  tc_free(a);
  tc_free(b);
  return ok || fail("the server no longer serves new clients");
}

static char *lines_of(const char *fmt, int n, size_t *len) {
  char *buf = malloc((size_t)n * 64), *p = buf;
  for (int i = 0; buf && i < n; i++)
    p += sprintf(p, fmt, i);
  *len = (size_t)(p - buf);
  return buf;
}

/* NUL and CR end a message; invalid UTF-8 is passed on as bytes; random
 * binary is just lines of junk. */
static int odd_bytes(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", NULL);
  tc *a = f.cl[0], *b = f.cl[1];
  ok = ok && tc_join(a, "#g") && tc_join(b, "#g") &&
       tc_send_raw(a, "PRIVMSG #g :a\0b\r\n", 17) &&
       tc_expect(b, "^:alice![^ ]+ PRIVMSG #g :a$", T) &&
       tc_send(a, "PRIVMSG #g :x\ry") &&
       tc_expect(b, "^:alice![^ ]+ PRIVMSG #g :x$", T) &&
       tc_send(a, "PRIVMSG #g :\xff\xfe\xc3\x28 bad") &&
       tc_expect(b, "PRIVMSG #g :\xff\xfe\xc3\\( bad$", T) &&
       tc_send(a, "NICK \xff") && tc_expect(a, " 432 alice ", T);
  tc *junk = ok ? tc_connect(f.srv.port, "junk", 0) : NULL;
  f.cl[f.n++] = junk;
  unsigned x = 2463534242u; /* xorshift32: the same junk every run */
  static unsigned char bin[65536];
  for (size_t i = 0; i < sizeof bin; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    bin[i] = (unsigned char)x;
  }
  ok = ok && junk && tc_send_raw(junk, bin, sizeof bin) &&
       tc_send_raw(junk, bin, sizeof bin) && tc_send(a, "PING :alive") &&
       tc_expect(a, "PONG chat.iomux :alive$", T) && still_serving(f.srv.port);
  return fx_end(&f) && ok;
}

/* 10 MB without a newline: one 417, nothing held, then lines again. */
static int ten_megabytes(void) {
  chat_fx f;
  int ok = fx_start(&f, NULL, NULL);
  tc *c = ok ? tc_connect(f.srv.port, "big", 0) : NULL;
  f.cl[f.n++] = c;
  char *big = malloc(1 << 20);
  if (big)
    memset(big, 'A', 1 << 20);
  for (int i = 0; ok && c && big && i < 10; i++)
    ok = tc_send_raw(c, big, 1 << 20);
  long kb = srv_rss_kb(&f.srv);
  ok = ok && c && big && tc_send_raw(c, "\r\nPING :alive\r\n", 15) &&
       tc_expect(c, " 417 \\* :Input line was too long$", T) &&
       tc_expect(c, "PONG chat.iomux :alive$", T) &&
       tc_expect_none(c, NULL, 100);
  if (ok && kb > chat_rss_limit_kb)
    ok = fail("VmRSS %ld KiB after 10 MB without a newline", kb);
  free(big);
  ok = ok && still_serving(f.srv.port);
  return fx_end(&f) && ok;
}

/* 10,000 lines in one write: with flood control, Excess Flood. */
static int ten_thousand_lines(void) {
  chat_fx f;
  int ok = fx_start(&f, NULL, "many", "reader", NULL);
  size_t len;
  char *buf = lines_of("PRIVMSG #g :line %d\r\n", 10000, &len);
  ok = ok && buf && tc_join(f.cl[0], "#g") && tc_join(f.cl[1], "#g") &&
       tc_send_raw(f.cl[0], buf, len) &&
       tc_expect(f.cl[0], "^ERROR :Excess Flood$", 3000) &&
       tc_expect(f.cl[1], "^:many![^ ]+ QUIT :Excess Flood$", 3000) &&
       still_serving(f.srv.port);
  free(buf);
  return fx_end(&f) && ok;
}

/* ... and without it, all of them, in order. */
static int ten_thousand_unpaced(void) {
  chat_fx f;
  const char *const args[] = {"--flood", "off", "--sendq", "1m", NULL};
  int ok = fx_start(&f, args, "many", "reader", NULL);
  size_t len;
  char *buf = lines_of("PRIVMSG #g :line %d\r\n", 10000, &len);
  char line[256], want[64];
  ok = ok && buf && tc_join(f.cl[0], "#g") && tc_join(f.cl[1], "#g") &&
       tc_send_raw(f.cl[0], buf, len);
  for (int i = 0; ok && i < 10000; i++) {
    snprintf(want, sizeof want, " PRIVMSG #g :line %d", i);
    if (tc_line(f.cl[1], line, sizeof line, 5000) != 1 || !strstr(line, want))
      ok = fail("line %d: got \"%s\"", i, line);
  }
  free(buf);
  return fx_end(&f) && ok;
}

/* Half the channel resets while a broadcast is on its way to it. */
static int resets_mid_broadcast(void) {
  enum { N = 30, MSGS = 200 };
  chat_fx f;
  tc *m[N] = {0};
  int ok = fx_start(&f, chat_irc_args, "sender", NULL);
  for (int i = 0; ok && i < N; i++) {
    char nick[16];
    snprintf(nick, sizeof nick, "r%d", i);
    ok = (m[i] = tc_irc(f.srv.port, nick)) && tc_join(m[i], "#r");
  }
  size_t len;
  char *buf = lines_of("PRIVMSG #r :msg %d\r\n", MSGS, &len);
  ok = ok && buf && tc_join(f.cl[0], "#r") && tc_send_raw(f.cl[0], buf, len);
  for (int i = 0; ok && i < N; i += 2) {
    tc_reset(m[i]);
    m[i] = NULL;
  }
  /* The others get every message in order, and a QUIT for each reset. */
  char line[256], want[64];
  for (int i = 1; ok && i < N; i += 2) {
    int k = 0, quits = 0;
    uint64_t end = now_ms() + 5000;
    while (ok && (k < MSGS || quits < N / 2) && now_ms() < end &&
           tc_line(m[i], line, sizeof line, 100) >= 0) {
      snprintf(want, sizeof want, " PRIVMSG #r :msg %d", k);
      if (strstr(line, " QUIT :"))
        quits++;
      else if (strstr(line, " PRIVMSG "))
        ok = strstr(line, want) ? (k++, 1) : fail("r%d: got %s", i, line);
    }
    if (ok && (k != MSGS || quits != N / 2))
      ok = fail("r%d: %d of %d messages, %d of %d QUITs", i, k, MSGS, quits,
                N / 2);
  }
  ok = ok && still_serving(f.srv.port);
  for (int i = 0; i < N; i++)
    tc_free(m[i]);
  free(buf);
  return fx_end(&f) && ok;
}

/* A half-close is a quit; a line left unfinished is never relayed. */
static int half_open(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "half", "stuck", "bob", NULL);
  tc *h = f.cl[0], *s = f.cl[1], *b = f.cl[2];
  ok = ok && tc_join(h, "#h") && tc_join(s, "#h") && tc_join(b, "#h") &&
       tc_send_raw(s, "PRIVMSG #h :never finished", 26);
  if (ok)
    shutdown(h->fd, SHUT_WR);
  ok = ok && tc_expect(b, "^:half![^ ]+ QUIT :Remote host closed the connection$", T) &&
       tc_expect_closed(h, T) && tc_expect_none(b, "never finished", 300) &&
       still_serving(f.srv.port);
  return fx_end(&f) && ok;
}

const chat_case chat_garbage_cases[] = {
    {"odd-bytes", odd_bytes},
    {"10mb-without-newline", ten_megabytes},
    {"10000-lines-flood", ten_thousand_lines},
    {"10000-lines-unpaced", ten_thousand_unpaced},
    {"resets-mid-broadcast", resets_mid_broadcast},
    {"half-open", half_open},
    {NULL, NULL},
};
