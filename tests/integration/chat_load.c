/* chat_check load, slow-reader: many clients at once, and one that never
 * reads among busy ones.
 *
 * load:        1,000 clients in one channel, 10 of them sending 50
 *              messages each as fast as they can: every message reaches
 *              every other member exactly once, in order per sender,
 *              checked by each receiver.
 * idle:        1,000 registered clients that do nothing cost the server
 *              at most 2 KiB each (--idle-limit; VmRSS growth; not
 *              judged in sanitizer builds).
 * slow-reader: a member that never reads (a 4 KiB receive buffer) while 20
 *              others chat: it is dropped with SendQ exceeded, the others
 *              lose nothing, and the server's VmRSS stays under 32 MB.
 *
 * The clients here are a group read with one poll() (a "crowd"), each line
 * handed to a callback; the harness's one-client helpers register them.
 */
#include "chat_harness.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- a crowd of clients, read together ---------------------------------------- */

typedef struct member {
  tc *c;
  int nick;       /* it is u<nick> */
  int joined;     /* its 366 for the channel came */
  int *next_seq;  /* per sender: the sequence number expected next */
  int received;   /* messages counted */
  int bad;        /* lines that were wrong (reported once) */
  int quits;      /* QUIT lines seen */
  char quit[200]; /* the last of them */
} member;

typedef struct crowd {
  member *m;
  int n, senders;
  struct pollfd *pfd;
  char chan[32];
  int join; /* joined is its 366 for chan; else its end of MOTD */
} crowd;

static int crowd_new(crowd *cr, int n, int senders, const char *chan) {
  cr->m = calloc((size_t)n, sizeof *cr->m);
  cr->pfd = calloc((size_t)n, sizeof *cr->pfd);
  cr->n = n;
  cr->senders = senders;
  snprintf(cr->chan, sizeof cr->chan, "%s", chan);
  for (int i = 0; cr->m && i < n; i++)
    cr->m[i].next_seq = calloc((size_t)senders, sizeof(int));
  return cr->m && cr->pfd ? 1 : fail("out of memory");
}

static void crowd_free(crowd *cr) {
  for (int i = 0; cr->m && i < cr->n; i++) {
    tc_free(cr->m[i].c);
    free(cr->m[i].next_seq);
  }
  free(cr->m);
  free(cr->pfd);
}

/* One line for member i: the end of its JOIN, a message, or a QUIT. A
 * message is "PRIVMSG #chan :S<sender> <seq> ..." */
static void crowd_line(crowd *cr, int i, const char *line) {
  member *m = &cr->m[i];
  char want[64];
  if (cr->join)
    snprintf(want, sizeof want, " 366 u%d %s ", m->nick, cr->chan);
  else
    snprintf(want, sizeof want, " 422 u%d ", m->nick);
  if (strstr(line, want)) {
    m->joined = 1;
    return;
  }
  if (strstr(line, " QUIT ")) {
    m->quits++;
    snprintf(m->quit, sizeof m->quit, "%.199s", line);
    return;
  }
  const char *p = strstr(line, " PRIVMSG ");
  int s, seq;
  if (!p || !(p = strstr(p, " :S")) || sscanf(p + 3, "%d %d", &s, &seq) != 2)
    return;
  if (s < 0 || s >= cr->senders || s == i || seq != m->next_seq[s]) {
    if (!m->bad++)
      fail("u%d: got \"%.80s\", expected S%d's message %d", i, line, s,
           s >= 0 && s < cr->senders ? m->next_seq[s] : -1);
    return;
  }
  m->next_seq[s]++;
  m->received++;
}

/* Read what has come, for up to ms; done(cr) ends it early. Returns 1 if
 * done() said so. */
static int crowd_pump(crowd *cr, int ms, int (*done)(const crowd *cr)) {
  uint64_t end = now_ms() + (uint64_t)ms;
  char line[1024];
  while (!done(cr) && now_ms() < end) {
    for (int i = 0; i < cr->n; i++)
      cr->pfd[i] = (struct pollfd){.fd = cr->m[i].c->fd, .events = POLLIN};
    if (poll(cr->pfd, (nfds_t)cr->n, 100) <= 0)
      continue;
    for (int i = 0; i < cr->n; i++) {
      if (!(cr->pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      while (tc_line(cr->m[i].c, line, sizeof line, 0) == 1)
        crowd_line(cr, i, line);
    }
  }
  return done(cr);
}

static int all_joined(const crowd *cr) {
  for (int i = 0; i < cr->n; i++)
    if (!cr->m[i].joined)
      return 0;
  return 1;
}

/* Connect n clients u0..u(n-1) (nicks from `first`), register them, and
 * with join set have them join the crowd's channel; wait until they are
 * in (their 366, or their 422 without join). */
static int crowd_start(crowd *cr, int port, int first, int join) {
  for (int i = 0; i < cr->n; i++) {
    char nick[16];
    snprintf(nick, sizeof nick, "u%d", first + i);
    cr->m[i].nick = first + i;
    if (!(cr->m[i].c = tc_connect(port, nick, 0)) ||
        !tc_send(cr->m[i].c, "NICK u%d\r\nUSER u 0 * :crowd%s%s", first + i,
                 join ? "\r\nJOIN " : "", join ? cr->chan : ""))
      return 0;
  }
  cr->join = join;
  if (crowd_pump(cr, 20000, all_joined))
    return 1;
  int n = 0;
  for (int i = 0; i < cr->n; i++)
    n += cr->m[i].joined;
  return fail("%d of %d clients %s within 20 s", n, cr->n,
              join ? "joined" : "registered");
}

static int crowd_join(crowd *cr, int port) { return crowd_start(cr, port, 0, 1); }

static int per_sender; /* messages each sender sends */

static int all_received(const crowd *cr) {
  for (int i = 0; i < cr->n; i++) {
    int want = per_sender * (cr->senders - (i < cr->senders));
    if (cr->m[i].received < want && !cr->m[i].bad)
      return 0;
  }
  return 1;
}

/* Everyone got exactly what was sent, nothing wrong, and `quits` QUITs. */
static int crowd_check(const crowd *cr, int quits) {
  int ok = 1;
  for (int i = 0; i < cr->n && ok; i++) {
    const member *m = &cr->m[i];
    int want = per_sender * (cr->senders - (i < cr->senders));
    if (m->bad || m->received != want || m->quits != quits)
      ok = fail("u%d: %d of %d messages, %d wrong, %d QUITs seen (%s)", i,
                m->received, want, m->bad, m->quits, m->quit);
  }
  return ok;
}

static int all_quit_seen(const crowd *cr) {
  for (int i = 0; i < cr->n; i++)
    if (!cr->m[i].quits)
      return 0;
  return 1;
}

/* ---- load ----------------------------------------------------------------------- */

static int thousand(void) {
  enum { N = 1000, SENDERS = 10, MSGS = 50 };
  if (raise_nofile(N + 100) < N + 100)
    return fail("RLIMIT_NOFILE cannot reach %d", N + 100);
  chat_srv s;
  crowd cr = {0};
  const char *const args[] = {"--flood", "off", NULL};
  if (!srv_start(&s, 0, args))
    return 0;
  per_sender = MSGS;
  uint64_t t0 = now_ms();
  int ok = crowd_new(&cr, N, SENDERS, "#load") && crowd_join(&cr, s.port);
  uint64_t t1 = now_ms();
  for (int k = 0; ok && k < SENDERS; k++) {
    char burst[MSGS * 48], *p = burst;
    for (int q = 0; q < MSGS; q++)
      p += sprintf(p, "PRIVMSG #load :S%d %d\r\n", k, q);
    ok = tc_send_raw(cr.m[k].c, burst, (size_t)(p - burst));
  }
  ok = ok && (crowd_pump(&cr, 20000, all_received) || 1) &&
       crowd_check(&cr, 0);
  printf("  %d clients joined in %llu ms; %d deliveries in %llu ms\n", N,
         (unsigned long long)(t1 - t0), N * SENDERS * MSGS - SENDERS * MSGS,
         (unsigned long long)(now_ms() - t1));
  ok &= srv_stop(&s, SIGTERM, 5000);
  crowd_free(&cr);
  return ok;
}

/* Registered and idle: what each costs, measured after a warm-up (the
 * loop's shared read buffer, the first tables). */
static int idle_memory(void) {
  enum { WARM = 20, N = 1000 };
  if (raise_nofile(N + WARM + 100) < N + WARM + 100)
    return fail("RLIMIT_NOFILE cannot reach %d", N + WARM + 100);
  chat_srv s;
  crowd warm = {0}, cr = {0};
  if (!srv_start(&s, 0, NULL))
    return 0;
  int ok = crowd_new(&warm, WARM, 0, "#warm") && crowd_join(&warm, s.port);
  long before = srv_rss_kb(&s);
  ok = ok && crowd_new(&cr, N, 0, "") && crowd_start(&cr, s.port, WARM, 0);
  long after = srv_rss_kb(&s);
  long per = (after - before) * 1024 / N;
  printf("  server VmRSS %ld KiB with %d clients, %ld KiB with %d more: "
         "%ld bytes each\n", before, WARM, after, N, per);
  if (ok && !chat_sanitized && per > chat_idle_limit_bytes)
    ok = fail("%ld bytes per idle registered client, over %ld", per,
              chat_idle_limit_bytes);
  ok &= srv_stop(&s, SIGTERM, 5000);
  crowd_free(&warm);
  crowd_free(&cr);
  return ok;
}

const chat_case chat_load_cases[] = {
    {"1000-clients-10-senders", thousand},
    {"idle-memory", idle_memory},
    {NULL, NULL},
};

/* ---- slow-reader ------------------------------------------------------------------ */

/* 20 chatters send rounds of lines (~300 bytes each); between rounds they
 * read until everyone has everything so far. The slow one just sits. */
static int chat_rounds(crowd *cr, const chat_srv *s, long *peak_kb) {
  enum { ROUNDS = 30, LINES = 10 };
  static const char pad[] =
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
  int ok = 1;
  for (int r = 0; ok && r < ROUNDS; r++) {
    for (int k = 0; ok && k < cr->n; k++)
      for (int q = 0; ok && q < LINES; q++)
        ok = tc_send(cr->m[k].c, "PRIVMSG #slow :S%d %d %s", k,
                     r * LINES + q, pad);
    per_sender = (r + 1) * LINES;
    ok = ok && (crowd_pump(cr, 10000, all_received) ||
                fail("round %d: not everything arrived within 10 s", r));
    long kb = srv_rss_kb(s);
    if (kb > *peak_kb)
      *peak_kb = kb;
  }
  return ok;
}

static int never_reads(void) {
  chat_srv s;
  crowd cr = {0};
  const char *const args[] = {"--flood", "off", NULL};
  if (!srv_start(&s, 0, args))
    return 0;
  long before = srv_rss_kb(&s), peak = before;
  tc *slow = tc_connect(s.port, "slow", 4096);
  int ok = slow && tc_register(slow, "slow") && tc_join(slow, "#slow") &&
           crowd_new(&cr, 20, 20, "#slow") && crowd_join(&cr, s.port) &&
           chat_rounds(&cr, &s, &peak);
  /* The others were told, once: the only QUIT any of them saw. */
  ok = ok && (crowd_pump(&cr, 3000, all_quit_seen) || 1) &&
       crowd_check(&cr, 1);
  for (int i = 0; ok && i < cr.n; i++)
    if (!strstr(cr.m[i].quit, ":slow!") ||
        !strstr(cr.m[i].quit, " QUIT :SendQ exceeded"))
      ok = fail("u%d saw: %s", i, cr.m[i].quit);
  ok = ok && tc_expect_closed(slow, 5000);
  printf("  server VmRSS %ld KiB before, peak %ld KiB (bound %ld KiB)\n",
         before, peak, chat_rss_limit_kb);
  if (ok && peak > chat_rss_limit_kb)
    ok = fail("VmRSS peaked at %ld KiB, over %ld", peak, chat_rss_limit_kb);
  ok &= srv_stop(&s, SIGTERM, 5000);
  tc_free(slow);
  crowd_free(&cr);
  return ok;
}

/* SIGTERM while a client that does not read still has hundreds of KB
 * queued: it gets its second, no more; the exit is clean. 2 MB go its
 * way: with --sendq 1m the kernel takes about 1.4 MB (SO_SNDBUF 1 MB,
 * doubled, less its overhead), the server holds the rest, under the cap. */
static int shutdown_with_full_queue(void) {
  const char *const args[] = {"--flood", "off", "--sendq", "1m", NULL};
  chat_fx f;
  int ok = fx_start(&f, args, "talker", NULL);
  tc *slow = ok ? tc_connect(f.srv.port, "slow", 4096) : NULL;
  f.cl[f.n++] = slow;
  ok = ok && slow && tc_register(slow, "slow") && tc_join(slow, "#full") &&
       tc_join(f.cl[0], "#full");
  for (int i = 0; ok && i < 6000; i++)
    ok = tc_send(f.cl[0], "PRIVMSG #full :%04d %0300d", i, 0);
  ok = ok && tc_send(f.cl[0], "PING :sent") &&
       tc_expect(f.cl[0], "PONG chat.iomux :sent$", 5000);
  uint64_t t0 = now_ms();
  ok = ok && srv_stop(&f.srv, SIGTERM, 3000);
  uint64_t took = now_ms() - t0;
  printf("  exit %llu ms after SIGTERM\n", (unsigned long long)took);
  if (ok && took < 900)
    ok = fail("exited after %llu ms: the slow client's queue was not "
              "given its second", (unsigned long long)took);
  fx_end(&f);
  return ok;
}

const chat_case chat_slow_cases[] = {
    {"never-reads", never_reads},
    {"shutdown-with-full-queue", shutdown_with_full_queue},
    {NULL, NULL},
};
