/* iomux-chatd: what the server sends, for both protocols.
 *
 * Three things every chat server needs on its output side:
 *   - shared lines: a line meant for many clients (a channel message, a
 *     QUIT) is formatted once into a reference-counted chat_msg, and every
 *     recipient's stream queues a reference to the same bytes;
 *   - batching: the first write to a client after a flush corks its
 *     stream, and the next flush uncorks every held stream, so everything
 *     a client was sent in between leaves in one writev. Flushes are at
 *     least --batch-ms apart, but one runs on the loop's next turn, before
 *     it waits, when its slot has passed (output after a quiet spell) or
 *     when the held clients have 8 lines each on average (a burst);
 *   - a send-queue cap: a client that does not read cannot hold more than
 *     the cap (plus one batch's writes) of the server's memory; past it the
 *     write is refused and the caller drops the client. (The kernel's
 *     send buffer is held to the cap as well: chat_socket_setup, conn.h.)
 * And the end of a connection: the last line (ERROR ...), a graceful close,
 * and an abort if the client has not taken its bytes within a second.
 */
#ifndef IOMUX_CHAT_SENDQ_H
#define IOMUX_CHAT_SENDQ_H

#include "iomux/loop.h"
#include "iomux/stream.h"

#include <stddef.h>
#include <stdint.h>

/* One line shared by many queues; freed when the last reference goes. */
typedef struct chat_msg {
  unsigned refs;
  unsigned len;
  char bytes[];
} chat_msg;

/* A message of at most `max` bytes, printf-formatted and truncated to fit,
 * ending with `eol` ("\r\n" or "\n"; kept even when truncated). One
 * reference, the caller's. NULL when out of memory. */
chat_msg *chat_msg_new(size_t max, const char *eol, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A message of exactly these bytes (a line that came formatted already:
 * a publication from another node). One reference; NULL when out of
 * memory. */
chat_msg *chat_msg_raw(const char *bytes, size_t len);
void chat_msg_unref(chat_msg *m);

/* The output side of one client, embedded in the client's struct. */
typedef struct chat_out {
  iom_stream *s;
  uint64_t deadline;            /* while closing: abort at this time (ms) */
  struct chat_out *prev, *next; /* on the held list, or (closing) the
                                   closing list */
  unsigned held : 1;            /* corked until the next flush */
  unsigned closing : 1;         /* chat_out_close() was called */
} chat_out;

/* Server-wide: the cap, the held streams, the clients that are closing. */
typedef struct chat_sendq {
  iom_loop *loop;
  size_t cap;
  unsigned batch_ms;
  uint64_t last_flush; /* loop time (ms) of the last flush; 0: none yet */
  unsigned nheld;      /* clients on the held list */
  uint64_t lines;      /* lines queued for them since the last flush */
  unsigned soon : 1;   /* the flush is brought forward to this turn */
  iom_timer *flush;  /* uncorks every held stream */
  iom_timer *linger; /* aborts closes that outlive their deadline */
  chat_out held;     /* list head */
  chat_out closing;  /* list head, oldest first */
} chat_sendq;

/* The cap in bytes; batch_ms: the least time between flushes (0: flush on
 * every loop turn that wrote). */
int chat_sendq_init(chat_sendq *q, iom_loop *loop, size_t cap,
                    unsigned batch_ms);
/* Frees the timers. Every stream must be over (their on_close ran). */
void chat_sendq_fini(chat_sendq *q);

/* Queue bytes (copied) or a shared message (referenced) for `o`.
 * Returns 0; -ENOBUFS when the client's queue is over the cap (nothing was
 * queued: drop the client); -EPIPE once it is closing. */
int chat_out_write(chat_sendq *q, chat_out *o, const char *buf, size_t len);
int chat_out_share(chat_sendq *q, chat_out *o, chat_msg *m);

/* Send `last` (may be NULL; not counted against the cap), flush, close.
 * If the client has not taken everything within a second, the stream is
 * aborted. on_close follows either way; it must call chat_out_closed(). */
void chat_out_close(chat_sendq *q, chat_out *o, const char *last);

/* From the stream's on_close: forget `o`. */
void chat_out_closed(chat_sendq *q, chat_out *o);

#endif
