/* echo_queue: one client's bytes in a non-blocking model.
 *
 * select, poll, epoll, epoll-et, sigio and nonblocking differ in how they
 * learn that a socket is ready; what they then do with its bytes is the
 * same, and it is here. Why it is written this way:
 *   - order: an echo is sent at once only when nothing waits before it;
 *     otherwise it goes behind what is queued, so every byte comes back in
 *     the order it came (echo_queue_read);
 *   - the common case costs what it must: one recv(), one send() of the same
 *     buffer, no copy and no allocation. Only what the kernel will not take
 *     (a partial send(), or EAGAIN) is copied into the queue, and
 *     echo_queue_flush() sends it when the socket has room;
 *   - bounded memory: a client that sends and never reads fills its queue.
 *     Above ECHO_MAX_PENDING it is not read any more (echo_queue_wants_read),
 *     so its bytes wait in the kernel (whose full buffer then blocks the
 *     client's own send()), the others are served meanwhile, and a queue
 *     never holds more than ECHO_MAX_PENDING plus one read. A drained queue
 *     frees its buffer: an idle client costs only its struct;
 *   - write interest only while output is queued (echo_queue_wants_write):
 *     a level-triggered wait asked for "writable" with nothing to send
 *     answers at once, forever, and the loop spins;
 *   - SIGPIPE: every send() is MSG_NOSIGNAL, so a client that left is EPIPE
 *     or ECONNRESET, a -1 here, and the model closes that client only;
 *   - EINTR is retried; EAGAIN ends the call. A send() that meets EAGAIN
 *     sets `full`: the kernel now owes a "writable" report. The models told
 *     of edges (epoll-et, sigio) need to know that; the others ignore it.
 *
 * The sockets must be O_NONBLOCK. A zeroed echo_queue is an empty one; each
 * is used by one thread at a time, and echo_queue_free() releases it. */
#ifndef IOMUX_ECHO_QUEUE_H
#define IOMUX_ECHO_QUEUE_H

#include "echo.h"

#include <stddef.h>
#include <sys/types.h>

typedef struct echo_queue {
  char *out; /* echoed bytes the kernel has not taken: out[head, len) */
  size_t head, len, cap;
  int eof;  /* recv() said 0: the client sends no more */
  int full; /* the last send() said EAGAIN; a model told of edges clears it
             * when the kernel reports room again */
} echo_queue;

static inline size_t echo_queue_pending(const echo_queue *q) {
  return q->len - q->head;
}

/* Reading stops above ECHO_MAX_PENDING and after EOF. */
static inline int echo_queue_wants_read(const echo_queue *q) {
  return !q->eof && echo_queue_pending(q) <= ECHO_MAX_PENDING;
}

/* Writable matters only while something waits to be sent. */
static inline int echo_queue_wants_write(const echo_queue *q) {
  return echo_queue_pending(q) > 0;
}

/* Half-closed with everything echoed: the client can be closed. */
static inline int echo_queue_done(const echo_queue *q) {
  return q->eof && echo_queue_pending(q) == 0;
}

/* Outbound: send what is queued until it is all gone (then the buffer is
 * freed) or the socket is full (EAGAIN: sets full). Returns 0, or -1 when
 * the client is gone. With nothing queued it makes no system call. */
int echo_queue_flush(echo_queue *q, int fd);

/* Inbound, one step: one recv() of up to `size` bytes into `buf` (the
 * caller's, shared by all its clients), --upper applied, then sent at once
 * when nothing is queued; what the kernel does not take is queued. Call it
 * only while echo_queue_wants_read(). Returns the bytes read; 0 at EOF
 * (sets eof) or when recv() said EAGAIN (eof stays 0); -1 when the client
 * is gone or memory ran out. `size` is part of the bound: the queue holds
 * at most ECHO_MAX_PENDING + size bytes. */
ssize_t echo_queue_read(echo_queue *q, int fd, char *buf, size_t size,
                        int upper);

/* One turn for a client the wait reported: flush if `writable`, then one
 * read step if `readable` and the queue wants to read. Returns -1 when the
 * client is finished (gone, or echo_queue_done()), else 0. */
int echo_queue_serve(echo_queue *q, int fd, int readable, int writable,
                     char *buf, size_t size, int upper);

/* Release what the queue holds; it is empty (and zeroed) afterwards. */
void echo_queue_free(echo_queue *q);

#endif
