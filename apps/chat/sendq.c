/* iomux-chatd: shared lines, corked turns, the send-queue cap, lingering
 * closes (see sendq.h).
 *
 * Why the cap is checked at a client's first write of a turn, against what
 * is queued then: writes to a corked stream all queue, so during a turn the
 * queue holds bytes the kernel has not even been offered yet, and a busy
 * turn (a JOIN storm, a benchmark's burst) would look like a slow client.
 * At the first write of the next turn the previous turn's writev has run,
 * so what is still queued is exactly what the client did not take. A
 * client that never reads is refused at most one turn after its queue
 * passed the cap: memory stays at the cap plus one turn of writes.
 */
#include "sendq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINGER_MS 1000 /* a closing client has this long to take its bytes */
#define MSG_MAX 8192   /* the longest message chat_msg_new formats */

chat_msg *chat_msg_new(size_t max, const char *eol, const char *fmt, ...) {
  char text[MSG_MAX];
  size_t eol_len = strlen(eol);
  if (max > sizeof text)
    max = sizeof text;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  size_t len = (size_t)n < max - eol_len ? (size_t)n : max - eol_len;
  chat_msg *m = malloc(sizeof *m + len + eol_len);
  if (!m)
    return NULL;
  m->refs = 1;
  m->len = (unsigned)(len + eol_len);
  memcpy(m->bytes, text, len);
  memcpy(m->bytes + len, eol, eol_len);
  return m;
}

chat_msg *chat_msg_raw(const char *bytes, size_t len) {
  chat_msg *m = malloc(sizeof *m + len);
  if (!m)
    return NULL;
  m->refs = 1;
  m->len = (unsigned)len;
  memcpy(m->bytes, bytes, len);
  return m;
}

void chat_msg_unref(chat_msg *m) {
  if (m && --m->refs == 0)
    free(m);
}

/* write_ref's done callback: the stream has sent, or dropped, its copy. */
static void msg_done(void *ctx, int status) {
  (void)status;
  chat_msg_unref(ctx);
}

/* ---- writing --------------------------------------------------------------- */

static uint64_t loop_turn(iom_loop *loop) {
  iom_loop_stats st;
  iom_loop_stats_get(loop, &st);
  return st.iterations + 1; /* 0 stays "never written to" */
}

/* Before each write: at the first of a turn, the cap check (see the top of
 * this file) and the cork. */
static int begin_write(chat_sendq *q, chat_out *o) {
  if (o->closing)
    return -EPIPE;
  uint64_t turn = loop_turn(q->loop);
  if (o->turn == turn)
    return 0;
  if (iom_stream_queued(o->s) > q->cap)
    return -ENOBUFS;
  o->turn = turn;
  iom_stream_cork(o->s);
  return 0;
}

int chat_out_write(chat_sendq *q, chat_out *o, const char *buf, size_t len) {
  int err = begin_write(q, o);
  if (err < 0)
    return err;
  return iom_stream_write(o->s, buf, len) < 0 ? -EPIPE : 0;
}

/* The shared write: the recipient's queue points at m's bytes, and m lives
 * until the last queue has sent them (msg_done). Corked, nothing is sent
 * here: the bytes leave in the recipient's one writev for this turn. */
int chat_out_share(chat_sendq *q, chat_out *o, chat_msg *m) {
  int err = begin_write(q, o);
  if (err < 0)
    return err;
  m->refs++;
  int rc = iom_stream_write_ref(o->s, m->bytes, m->len, msg_done, m);
  if (rc <= 0)
    m->refs--; /* sent at once, or refused: done will not run */
  return rc < 0 ? -EPIPE : 0;
}

/* ---- closing --------------------------------------------------------------- */

static void unlink_out(chat_out *o) {
  o->prev->next = o->next;
  o->next->prev = o->prev;
  o->prev = o->next = NULL;
}

/* Abort the closes past their deadline; wait for the next one. */
static void on_linger(iom_timer *t, void *data) {
  chat_sendq *q = data;
  uint64_t now = iom_loop_now(q->loop);
  while (q->closing.next != &q->closing && q->closing.next->deadline <= now) {
    chat_out *o = q->closing.next;
    unlink_out(o);
    iom_stream_abort(o->s);
  }
  if (q->closing.next != &q->closing)
    iom_timer_start(t, q->closing.next->deadline - now, 0);
}

void chat_out_close(chat_sendq *q, chat_out *o, const char *last) {
  if (o->closing)
    return;
  if (last)
    iom_stream_write(o->s, last, strlen(last));
  o->closing = 1;
  iom_stream_close(o->s);
  /* Deadlines are all LINGER_MS from now: the list stays in order. */
  o->deadline = iom_loop_now(q->loop) + LINGER_MS;
  o->prev = q->closing.prev;
  o->next = &q->closing;
  o->prev->next = o;
  q->closing.prev = o;
  if (!iom_timer_active(q->linger))
    iom_timer_start(q->linger, LINGER_MS, 0);
}

void chat_out_closed(chat_sendq *q, chat_out *o) {
  if (o->next)
    unlink_out(o);
  if (q->closing.next == &q->closing)
    iom_timer_stop(q->linger);
}

int chat_sendq_init(chat_sendq *q, iom_loop *loop, size_t cap) {
  *q = (chat_sendq){.loop = loop, .cap = cap};
  q->closing.prev = q->closing.next = &q->closing;
  return iom_timer_new(loop, on_linger, q, &q->linger);
}

void chat_sendq_fini(chat_sendq *q) {
  iom_timer_free(q->linger);
  q->linger = NULL;
}
