/* iomux-chatd: shared lines, held (corked) output, the send-queue cap,
 * lingering closes (see sendq.h).
 *
 * Why hold output at all: a broadcast to 1,000 members is 1,000 sends, and
 * messages arrive one per wake-up, so without holding every delivery is a
 * system call of its own. With flushes --batch-ms apart, every message that
 * comes in meanwhile rides in the same writev: the system calls per delivery
 * fall by the number of messages per batch, for at most that much latency.
 * Only a busy server pays it: output after a quiet spell (the last flush
 * longer than --batch-ms ago) is flushed at the end of the loop turn.
 *
 * Why the cap is checked at a client's first write after a flush, against
 * what is queued then: writes to a held stream all queue, so between
 * flushes the queue holds bytes the kernel has not been offered yet, and a
 * busy batch (a JOIN storm, a benchmark's burst) would look like a slow
 * client. After a flush what is still queued is exactly what the client
 * did not take. A client that never reads is refused at most one batch
 * after its queue passed the cap: memory stays at the cap plus one batch.
 */
#include "sendq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINGER_MS 1000 /* a closing client has this long to take its bytes */
#define BATCH_LINES 8  /* lines per held client that bring the flush forward */
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

static void unlink_out(chat_out *o) {
  o->prev->next = o->next;
  o->next->prev = o->prev;
  o->prev = o->next = NULL;
}

static void link_out(chat_out *head, chat_out *o) {
  o->prev = head->prev;
  o->next = head;
  o->prev->next = o;
  head->prev = o;
}

/* Uncork every held stream: each sends what it was given since its first
 * write of the batch in one writev. */
static void on_flush(iom_timer *t, void *data) {
  (void)t;
  chat_sendq *q = data;
  q->last_flush = iom_loop_now(q->loop);
  q->nheld = 0;
  q->lines = 0;
  q->soon = 0;
  while (q->held.next != &q->held) {
    chat_out *o = q->held.next;
    unlink_out(o);
    o->held = 0;
    iom_stream_uncork(o->s);
  }
}

/* At most one flush per batch_ms, and none later than it need be: a write
 * after a quiet spell is flushed at the end of this loop turn, a write
 * within batch_ms of the last flush waits for the next flush slot. */
static uint64_t flush_delay(const chat_sendq *q) {
  uint64_t now = iom_loop_now(q->loop), slot = q->last_flush + q->batch_ms;
  return q->last_flush && slot > now ? slot - now : 0;
}

/* Before each write: at the first of a batch, the cap check (see the top
 * of this file), the cork, and the flush to come. */
static int begin_write(chat_sendq *q, chat_out *o) {
  if (o->closing)
    return -EPIPE;
  if (o->held)
    return 0;
  if (iom_stream_queued(o->s) > q->cap)
    return -ENOBUFS;
  o->held = 1;
  iom_stream_cork(o->s);
  link_out(&q->held, o);
  q->nheld++;
  if (!iom_timer_active(q->flush))
    iom_timer_start(q->flush, flush_delay(q), 0);
  return 0;
}

/* A line was queued for a held client. Once the held clients have
 * BATCH_LINES each on average, one more line would save at most an eighth
 * of a system call per client, while every line waits: the flush comes at
 * the end of this loop turn instead of at its slot. (A burst, or a closed
 * loop of senders waiting for their lines, is then not held for the slot.) */
static void held_line(chat_sendq *q) {
  if (++q->lines >= (uint64_t)BATCH_LINES * q->nheld && !q->soon) {
    q->soon = 1;
    iom_timer_start(q->flush, 0, 0);
  }
}

int chat_out_write(chat_sendq *q, chat_out *o, const char *buf, size_t len) {
  int err = begin_write(q, o);
  if (err < 0)
    return err;
  if (iom_stream_write(o->s, buf, len) < 0)
    return -EPIPE;
  held_line(q);
  return 0;
}

/* The shared write: the recipient's queue points at m's bytes, and m lives
 * until the last queue has sent them (msg_done). Held, nothing is sent
 * here: the bytes leave in the recipient's one writev at the flush. */
int chat_out_share(chat_sendq *q, chat_out *o, chat_msg *m) {
  int err = begin_write(q, o);
  if (err < 0)
    return err;
  m->refs++;
  int rc = iom_stream_write_ref(o->s, m->bytes, m->len, msg_done, m);
  if (rc <= 0)
    m->refs--; /* sent at once, or refused: done will not run */
  if (rc < 0)
    return -EPIPE;
  held_line(q);
  return 0;
}

/* ---- closing --------------------------------------------------------------- */

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
  if (o->held) { /* the close sends what was held */
    unlink_out(o);
    o->held = 0;
    q->nheld--;
  }
  iom_stream_close(o->s);
  /* Deadlines are all LINGER_MS from now: the list stays in order. */
  o->deadline = iom_loop_now(q->loop) + LINGER_MS;
  link_out(&q->closing, o);
  if (!iom_timer_active(q->linger))
    iom_timer_start(q->linger, LINGER_MS, 0);
}

void chat_out_closed(chat_sendq *q, chat_out *o) {
  if (o->next)
    unlink_out(o); /* from the held list or the closing list */
  q->nheld -= o->held;
  o->held = 0;
  if (q->closing.next == &q->closing)
    iom_timer_stop(q->linger);
}

int chat_sendq_init(chat_sendq *q, iom_loop *loop, size_t cap,
                    unsigned batch_ms) {
  *q = (chat_sendq){.loop = loop, .cap = cap, .batch_ms = batch_ms};
  q->held.prev = q->held.next = &q->held;
  q->closing.prev = q->closing.next = &q->closing;
  int err = iom_timer_new(loop, on_flush, q, &q->flush);
  if (err == 0 && (err = iom_timer_new(loop, on_linger, q, &q->linger)) < 0)
    iom_timer_free(q->flush);
  return err;
}

void chat_sendq_fini(chat_sendq *q) {
  iom_timer_free(q->flush);
  iom_timer_free(q->linger);
  q->flush = q->linger = NULL;
}
