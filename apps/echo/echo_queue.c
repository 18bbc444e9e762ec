/* echo_queue: one client's bytes in a non-blocking model. The why is in
 * echo_queue.h. */
#include "echo_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define FIRST_CAP (16 * 1024) /* a queue's first buffer, doubled as needed */

/* The socket is drained (recv) or full (send): only the kernel changes
 * that. EINTR is not this: the state is unknown, so the call is retried. */
static int at_eagain(void) { return errno == EAGAIN || errno == EWOULDBLOCK; }

/* Keep what the kernel would not take yet, after what already waits. Only
 * called from a read step, and those happen only while wants_read(), so the
 * queue never needs more than `max` (ECHO_MAX_PENDING + one read) bytes and
 * its buffer stops growing there. */
static int queue(echo_queue *q, const char *p, size_t n, size_t max) {
  if (n == 0)
    return 0;
  if (q->len + n > q->cap && q->head > 0) { /* slide the rest to the front */
    memmove(q->out, q->out + q->head, echo_queue_pending(q));
    q->len -= q->head;
    q->head = 0;
  }
  if (q->len + n > q->cap) {
    size_t cap = q->cap ? q->cap : FIRST_CAP;
    while (cap < q->len + n)
      cap *= 2;
    if (cap > max && max >= q->len + n)
      cap = max;
    char *out = realloc(q->out, cap);
    if (!out)
      return -1;
    q->out = out;
    q->cap = cap;
  }
  memcpy(q->out + q->len, p, n);
  q->len += n;
  return 0;
}

int echo_queue_flush(echo_queue *q, int fd) {
  while (echo_queue_pending(q) > 0) {
    ssize_t n =
        send(fd, q->out + q->head, echo_queue_pending(q), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && at_eagain()) {
      q->full = 1; /* the rest waits for room */
      return 0;
    }
    if (n < 0)
      return -1; /* EPIPE, ECONNRESET: it left */
    q->head += (size_t)n;
    q->full = 0;
  }
  free(q->out); /* drained: an idle client costs only its struct */
  q->out = NULL;
  q->head = q->len = q->cap = 0;
  return 0;
}

ssize_t echo_queue_read(echo_queue *q, int fd, char *buf, size_t size,
                        int upper) {
  ssize_t n;
  do
    n = recv(fd, buf, size, 0);
  while (n < 0 && errno == EINTR);
  if (n == 0)
    q->eof = 1;
  if (n <= 0)
    return n == 0 || at_eagain() ? 0 : -1;
  echo_transform(buf, (size_t)n, upper);
  size_t sent = 0;
  if (echo_queue_pending(q) == 0) { /* nothing before it: send now (order!) */
    ssize_t k = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (k < 0 && !at_eagain() && errno != EINTR)
      return -1;
    q->full = k < 0 && at_eagain();
    sent = k > 0 ? (size_t)k : 0;
  }
  if (queue(q, buf + sent, (size_t)n - sent, ECHO_MAX_PENDING + size) < 0)
    return -1;
  return n;
}

int echo_queue_serve(echo_queue *q, int fd, int readable, int writable,
                     char *buf, size_t size, int upper) {
  if (writable && echo_queue_flush(q, fd) < 0)
    return -1;
  if (readable && echo_queue_wants_read(q) &&
      echo_queue_read(q, fd, buf, size, upper) < 0)
    return -1;
  return echo_queue_done(q) ? -1 : 0;
}

void echo_queue_free(echo_queue *q) {
  free(q->out);
  *q = (echo_queue){0};
}
