/* chat_check irc.timeouts and irc.flood: the clocks of the server.
 *
 * irc.timeouts runs with --ping 1: a connection must register within a
 * second, and a client silent for a second gets PING, for two is dropped.
 * irc.flood runs with flood control on (the default): a burst of 20 lines,
 * then 4 a second; more than 8 KiB waiting is Excess Flood.
 */
#include "chat_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <regex.h>

static const char *const ping1[] = {"--ping", "1", NULL};

/* ---- irc.timeouts ------------------------------------------------------------------ */

static int registration_timeout(void) {
  chat_fx f;
  int ok = fx_start(&f, ping1, NULL);
  tc *c = ok ? tc_connect(f.srv.port, "silent", 0) : NULL;
  tc *d = ok ? tc_connect(f.srv.port, "nick-only", 0) : NULL;
  f.cl[f.n++] = c;
  f.cl[f.n++] = d;
  uint64_t t0 = now_ms();
  ok = ok && c && d && tc_send(d, "NICK halfway") &&
       tc_expect(c, "^ERROR :Registration timeout$", 3000) &&
       tc_expect_closed(c, 2000) &&
       tc_expect(d, "^ERROR :Registration timeout$", 3000) &&
       tc_expect_closed(d, 2000);
  if (ok && now_ms() - t0 < 900)
    ok = fail("dropped after %llu ms, before the second allowed",
              (unsigned long long)(now_ms() - t0));
  return fx_end(&f) && ok;
}

/* Wait on `a` for a line matching re, while `keep` stays alive by sending
 * (any bytes answer a PING) without being read. */
static int wait_keeping(tc *a, tc *keep, const char *re, int ms) {
  regex_t rx;
  regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
  uint64_t end = now_ms() + (uint64_t)ms;
  char line[1024];
  int found = 0, rc = 0;
  while (!found && now_ms() < end) {
    tc_send(keep, "PONG :alive");
    rc = tc_line(a, line, sizeof line, 250);
    if (rc == 1)
      found = regexec(&rx, line, 0, NULL, 0) == 0;
    else if (rc < 0)
      break;
  }
  regfree(&rx);
  return found ? 1 : fail("%s: no /%s/ within %d ms%s", a->name, re, ms,
                          rc < 0 ? " (closed)" : "");
}

static int ping_timeout(void) {
  chat_fx f;
  int ok = fx_start(&f, ping1, "quiet", "chatty", NULL);
  tc *q = f.cl[0], *c = f.cl[1];
  if (ok)
    q->auto_pong = 0;
  ok = ok && tc_join(q, "#p") && tc_join(c, "#p") &&
       wait_keeping(q, c, "^PING :chat.iomux$", 2500) &&
       wait_keeping(q, c, "^ERROR :Ping timeout: 2 seconds$", 2500) &&
       tc_expect_closed(q, 2000) &&
       tc_expect(c, "^:quiet![^ ]+ QUIT :Ping timeout: 2 seconds$", 2000);
  /* One that answers its PING stays. */
  ok = ok && tc_expect(c, "^PING :chat.iomux$", 2500) &&
       tc_expect_none(c, "^ERROR", 1500) && tc_send(c, "PING :still") &&
       tc_expect(c, "PONG chat.iomux :still$", 1000);
  return fx_end(&f) && ok;
}

const chat_case chat_irc_timeout_cases[] = {
    {"registration-timeout", registration_timeout},
    {"ping-timeout", ping_timeout},
    {NULL, NULL},
};

/* ---- irc.flood ------------------------------------------------------------------ */

/* PONGs that come within ms, checked in order from `first`. */
static int count_pongs(tc *c, int first, int ms) {
  char line[512], want[64];
  int n = first;
  uint64_t end = now_ms() + (uint64_t)ms;
  while (now_ms() < end &&
         tc_line(c, line, sizeof line, (int)(end - now_ms())) == 1) {
    snprintf(want, sizeof want, "PONG chat.iomux :%d", n);
    if (strstr(line, want))
      n++;
  }
  return n - first;
}

static char *lines_of(const char *fmt, int n, size_t *len) {
  char *buf = malloc((size_t)n * 64), *p = buf;
  for (int i = 0; buf && i < n; i++)
    p += sprintf(p, fmt, i);
  *len = (size_t)(p - buf);
  return buf;
}

/* 28 lines at once: the burst's 20 run at once (less the 2 of the
 * registration, plus what the bucket refilled since: 18-20), the rest at
 * 4 a second. */
static int pacing(void) {
  chat_fx f;
  int ok = fx_start(&f, NULL, "fast", NULL);
  size_t len;
  char *burst = lines_of("PING :%d\r\n", 28, &len);
  ok = ok && burst && tc_send_raw(f.cl[0], burst, len);
  int now = ok ? count_pongs(f.cl[0], 0, 150) : 0;
  if (ok && (now < 18 || now > 20))
    ok = fail("%d PONGs in the first 150 ms, not 18-20", now);
  int paced = ok ? count_pongs(f.cl[0], now, 500) : 0;
  if (ok && paced > 4)
    ok = fail("%d PONGs in the next 500 ms: not paced at 4/s", paced);
  int rest = ok ? count_pongs(f.cl[0], now + paced, 4000) : 0;
  if (ok && now + paced + rest != 28)
    ok = fail("%d PONGs of 28 within 4.65 s", now + paced + rest);
  free(burst);
  return fx_end(&f) && ok;
}

/* 10,000 lines at once: dropped for Excess Flood, the others told. */
static int excess_flood(void) {
  chat_fx f;
  int ok = fx_start(&f, NULL, "flooder", "victim", NULL);
  tc *a = f.cl[0], *b = f.cl[1];
  size_t len;
  char *flood = lines_of("PRIVMSG #f :line %d\r\n", 10000, &len);
  ok = ok && flood && tc_join(a, "#f") && tc_join(b, "#f") &&
       tc_send_raw(a, flood, len) &&
       tc_expect(a, "^ERROR :Excess Flood$", 3000) &&
       tc_expect(b, "^:flooder![^ ]+ QUIT :Excess Flood$", 3000);
  free(flood);
  tc *c = ok ? tc_irc(f.srv.port, "after") : NULL;
  f.cl[f.n++] = c;
  return fx_end(&f) && ok && c;
}

/* --flood off: no pacing at all. */
static int flood_off(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "fast", NULL);
  size_t len;
  char *burst = lines_of("PING :%d\r\n", 500, &len);
  ok = ok && burst && tc_send_raw(f.cl[0], burst, len);
  int n = ok ? count_pongs(f.cl[0], 0, 1000) : 0;
  if (ok && n != 500)
    ok = fail("%d PONGs of 500", n);
  free(burst);
  return fx_end(&f) && ok;
}

const chat_case chat_irc_flood_cases[] = {
    {"pacing", pacing},
    {"excess-flood", excess_flood},
    {"flood-off", flood_off},
    {NULL, NULL},
};
