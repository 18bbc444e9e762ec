/* iomux-bench chat: a chat load generator for any IRC server, built on
 * iomux streams. This file is its clients: connect, register, join, and
 * check every line that arrives; chat_run.c runs the phases.
 *
 * N clients connect (at most CONNECT_WINDOW connecting or registering at
 * once, so a server's accept queue is never overrun), register (NICK,
 * USER; 433 -> another nick) and join one of C channels (client i joins
 * channel i % C). Clients 0..S-1 are also senders. Once every client is in
 * its channel, the senders send PRIVMSGs to their channel, open loop (a
 * total rate, paced by a timer) or closed loop (see chat_run.c).
 *
 * A message's text is "SENDER SEQ T_NS " and a body of letters that depends
 * on (SENDER, SEQ), cut to --size bytes (chat_msg.c). IRC servers do not
 * echo a message to its sender, so each message is owed to the other
 * members of the channel, and every one of them checks every PRIVMSG:
 *   corrupt     the text is not one of ours, its body is wrong, or its
 *               sender (the prefix nick must be the sender's), channel or
 *               sequence number (never sent) does not fit;
 *   duplicated  a message this receiver already had from that sender;
 *   reordered   a message older than one already received from that
 *               sender (each receiver keeps, per sender, the next number
 *               expected and a 64-message window of what came);
 *   lost        at the end, after the drain, each (receiver, sender) pair
 *               is owed every message the sender sent: what never came is
 *               lost.
 * Delivery latency is the receipt time minus T_NS, for every first receipt
 * in the measured window.
 */
#define _GNU_SOURCE
#include "chat_gen.h"
#include "common/clock.h"

#include "iomux/error.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Clients connecting or registering at once. A connect completes on our
 * side as soon as the kernel answers the SYN, before the server accepts;
 * only the server's 001 proves the accept. ngircd listens with a backlog of
 * 10: with more unaccepted connections than that the kernel drops the
 * handshake's last ACK, falls back to SYN cookies, and resets. */
#define CONNECT_WINDOW 8
#define CONNECT_TIMEOUT_MS 10000
#define MAX_LINE 8192

void chat_error(chat_gen *g, int kind, const char *fmt, ...) {
  chat_result *r = g->res;
  if (r->errors[kind]++ == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail[kind], sizeof r->detail[kind], fmt, ap);
    va_end(ap);
  }
}

static int is(const char *s, size_t len, const char *word) {
  return strlen(word) == len && !strncasecmp(s, word, len);
}

static void send_str(chat_client *c, const char *s) {
  if (c->s)
    iom_stream_write(c->s, s, strlen(s));
}

/* A setup step failed: count it and drop the client. */
static void client_fail(chat_client *c, const char *what, const char *line,
                        size_t len) {
  chat_error(c->g, CE_SETUP, "client %s: %s%s%.*s", c->nick, what,
             len ? ": " : "", (int)(len > 120 ? 120 : len), line);
  c->failed = 1;
  if (c->s)
    iom_stream_abort(c->s);
}

/* ---- sending ---------------------------------------------------------------- */

void chat_send_next(chat_gen *g, chat_client *c, uint64_t t_ns) {
  char line[CHAT_MAX_SIZE + 64];
  if (!c->s || c->state != S_READY)
    return;
  int ch = chat_channel(g, c->id);
  size_t n = (size_t)snprintf(line, sizeof line, "PRIVMSG %s :", g->chan[ch]);
  n += chat_text_build(line + n, g->o->size, c->id, c->seq, t_ns);
  line[n++] = '\r';
  line[n++] = '\n';
  if (iom_stream_write(c->s, line, n) < 0)
    return; /* the stream is ending: on_close says why */
  c->seq++;
  g->res->sent++;
  g->res->expected += (uint64_t)(chat_members(g, ch) - 1);
  if (g->phase == P_MEASURE)
    g->res->sent_window++;
}

/* ---- receiving: the check of one PRIVMSG ------------------------------------- */

static void corrupt(chat_gen *g, chat_client *r, const char *why,
                    const irc_line *m) {
  chat_error(g, CE_CORRUPT, "receiver %s: %s: '%.*s'", r->nick, why,
             (int)(m->text_len > 80 ? 80 : m->text_len), m->text);
}

/* Record message seq of a sender in receiver r's track. Returns 1 if it is
 * the first receipt, 0 for a duplicate. */
static int track_seen(chat_gen *g, chat_client *r, chat_track *t,
                      const chat_client *from, uint32_t seq) {
  if (seq >= t->next) {
    uint32_t gap = seq - t->next + 1;
    t->seen = (gap >= 64 ? 0 : t->seen << gap) | 1;
    t->next = seq + 1;
    t->unique++;
    return 1;
  }
  uint32_t back = t->next - 1 - seq;
  if (back < 64 && (t->seen >> back & 1)) {
    chat_error(g, CE_DUP, "receiver %s: message %u of sender %s came twice",
               r->nick, seq, from->nick);
    return 0;
  }
  if (back < 64)
    t->seen |= (uint64_t)1 << back;
  chat_error(g, CE_REORDER, "receiver %s: message %u of sender %s came "
             "after message %u", r->nick, seq, from->nick, t->next - 1);
  t->unique++;
  return 1;
}

static void on_privmsg(chat_gen *g, chat_client *r, const irc_line *m) {
  uint64_t now = g->read_ns;
  uint32_t id, seq;
  uint64_t t;
  int ch = chat_channel(g, r->id);
  if (!is(m->target, m->target_len, g->chan[ch])) {
    corrupt(g, r, "a PRIVMSG not to its channel", m);
    return;
  }
  if (chat_text_parse(m->text, m->text_len, g->o->size, &id, &seq, &t) < 0) {
    corrupt(g, r, "not a message of this run, or its body is wrong", m);
    return;
  }
  if (id >= (uint32_t)g->o->senders || chat_channel(g, id) != ch) {
    corrupt(g, r, "a sender who does not send to this channel", m);
    return;
  }
  chat_client *from = &g->c[id];
  if (!is(m->nick, m->nick_len, from->nick)) {
    corrupt(g, r, "the text of one sender under another's nick", m);
    return;
  }
  if (seq >= from->seq) {
    corrupt(g, r, "a sequence number not sent yet", m);
    return;
  }
  if (id == r->id) {
    g->res->self_echo++; /* a server that echoes: not owed, not counted */
    return;
  }
  chat_track *tr = &r->from[id / (uint32_t)g->o->channels];
  if (!track_seen(g, r, tr, from, seq))
    return;
  g->res->delivered++;
  if (g->phase == P_MEASURE) {
    g->res->delivered_window++;
    uint64_t sent = g->base_ns + t, lat = now > sent ? now - sent : 0;
    hist_record(&g->res->latency, lat);
    uint32_t n = (uint32_t)g->o->nports;
    if (n > 1)
      hist_record(id % n == r->id % n ? &g->res->latency_same
                                      : &g->res->latency_across, lat);
  }
  /* Closed loop: the designated receiver has the sender's latest. */
  if (g->o->closed && seq + 1 == from->seq &&
      chat_designated(g, id) == r->id &&
      (g->phase == P_WARMUP || g->phase == P_MEASURE))
    chat_send_next(g, from, app_now_ns() - g->base_ns);
}

/* ---- receiving: setup -------------------------------------------------------- */

static void send_nick(chat_client *c) {
  char line[64];
  snprintf(line, sizeof line, "NICK %s\r\n", c->nick);
  send_str(c, line);
}

static void setup_line(chat_gen *g, chat_client *c, const irc_line *m,
                       const char *line, size_t len) {
  if (is(m->cmd, m->cmd_len, "001")) { /* welcome: registered */
    if (c->state != S_REGISTERING)
      return;
    c->state = S_JOINING;
    g->inflight--;
    char join[64];
    snprintf(join, sizeof join, "JOIN %s\r\n",
             g->chan[chat_channel(g, c->id)]);
    send_str(c, join);
    chat_connect_more(g);
  } else if (is(m->cmd, m->cmd_len, "433") && c->state == S_REGISTERING) {
    if ((size_t)c->nick_len + 1 >= sizeof c->nick) {
      client_fail(c, "no free nick", m->text, m->text_len);
      return;
    }
    c->nick[c->nick_len++] = '_'; /* nick in use: one more try */
    c->nick[c->nick_len] = '\0';
    send_nick(c);
  } else if (is(m->cmd, m->cmd_len, "JOIN") && c->state == S_JOINING &&
             is(m->nick, m->nick_len, c->nick)) {
    c->state = S_READY;
    g->ready++;
    chat_setup_check(g);
  } else if (m->cmd_len == 3 && m->cmd[0] >= '4' && m->cmd[0] <= '5' &&
             !is(m->cmd, 3, "422") && !is(m->cmd, 3, "433")) {
    client_fail(c, "refused", line, len);
  }
}

/* One line from the server. Returns nonzero to stop the framer (the
 * stream was aborted). */
static int on_line(void *data, const char *line, size_t len, int err) {
  chat_client *c = data;
  chat_gen *g = c->g;
  irc_line m;
  if (err < 0 || irc_split(line, len, &m) < 0)
    return 0; /* over-long or empty lines: nothing of ours */
  if (is(m.cmd, m.cmd_len, "PRIVMSG")) {
    if (c->state == S_READY)
      on_privmsg(g, c, &m);
  } else if (is(m.cmd, m.cmd_len, "PING")) {
    char pong[600];
    snprintf(pong, sizeof pong, "PONG :%.*s\r\n", (int)m.text_len, m.text);
    send_str(c, pong);
  } else if (c->state < S_READY) {
    setup_line(g, c, &m, line, len);
  }
  return c->failed;
}

static void on_read(iom_stream *s, const char *buf, size_t len, void *data) {
  (void)s;
  chat_client *c = data;
  c->g->read_ns = app_now_ns(); /* when these lines arrived, for all of them */
  if (iom_lines_feed(c->lf, buf, len, on_line, c) == -ENOMEM)
    client_fail(c, "out of memory", "", 0);
}

/* TCP_NODELAY: a sender's small PRIVMSGs must not wait for Nagle. */
static void on_connect(iom_stream *s, void *data) {
  chat_client *c = data;
  char line[96];
  int one = 1;
  setsockopt(iom_stream_fd(s), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->state = S_REGISTERING;
  send_nick(c);
  snprintf(line, sizeof line, "USER %s 0 * :iomux-bench chat\r\n", c->nick);
  send_str(c, line);
}

static void on_close(iom_stream *s, int err, void *data) {
  (void)s;
  chat_client *c = data;
  chat_gen *g = c->g;
  int was = c->state;
  c->state = S_OVER;
  c->s = NULL;
  iom_lines_free(c->lf);
  c->lf = NULL;
  g->over++;
  if (was == S_CONNECTING || was == S_REGISTERING)
    g->inflight--;
  if (g->phase != P_DONE && !c->failed) {
    const char *why = err ? iom_strerror(err) : "closed by the server";
    if (was < S_READY)
      chat_error(g, CE_SETUP, "client %s: %s before joining", c->nick, why);
    else
      chat_error(g, CE_DISCONNECT, "client %s: %s during the run", c->nick,
                 why);
  }
  if (g->phase == P_SETUP)
    chat_connect_more(g);
}

static const iom_stream_cbs chat_cbs = {
    .on_connect = on_connect,
    .on_read = on_read,
    .on_close = on_close,
};

static void connect_one(chat_gen *g, chat_client *c) {
  const chat_opts *o = g->o;
  int err = iom_lines_new(MAX_LINE, &c->lf);
  if (err == 0)
    err = iom_stream_connect_addr(
        g->loop, (const struct sockaddr *)&o->addrs[c->id % (uint32_t)o->nports],
        o->addrlens[c->id % (uint32_t)o->nports], CONNECT_TIMEOUT_MS,
        &chat_cbs, c, &c->s);
  if (err < 0) {
    iom_lines_free(c->lf);
    c->lf = NULL;
    c->state = S_OVER;
    g->over++;
    chat_error(g, CE_SETUP, "client %s: %s", c->nick, iom_strerror(err));
    return;
  }
  c->state = S_CONNECTING;
  g->inflight++;
}

void chat_connect_more(chat_gen *g) {
  while (g->phase == P_SETUP && g->inflight < CONNECT_WINDOW &&
         g->next < g->o->clients)
    connect_one(g, &g->c[g->next++]);
  chat_setup_check(g); /* a connect may have failed at once */
}
