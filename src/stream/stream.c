/* Buffered streams: reading into the loop's shared buffer, the write queue,
 * water marks, half-close, close-after-flush, and the single on_close.
 *
 * The write path is asyncio's: with nothing queued, send at once and queue
 * only what the kernel did not take; watch for writability only while
 * something is queued. Reading stops after a short read (the socket is
 * most likely drained, and level-triggered readiness brings us back if not)
 * or after READ_ROUNDS full buffers, so one busy peer cannot hold the loop.
 *
 * A stream is freed only by its deferred `finish`, so during any callback of
 * this iteration its memory stays valid whatever the callback did; the
 * `over` flag says that nothing more may happen to it.
 */
#define _GNU_SOURCE /* MSG_NOSIGNAL */
#include "stream_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define READ_BUF_SIZE 65536
#define READ_ROUNDS 4 /* full buffers read per wake-up, at most */
#define IOV_BATCH 64
#define COPY_CHUNK 4096 /* least room of a copy chunk, so small writes share */
#define DEFAULT_HIGH (64 * 1024)
#define DEFAULT_LOW (16 * 1024)

#if !defined(MSG_NOSIGNAL)
#define MSG_NOSIGNAL 0 /* the BSDs: SO_NOSIGPIPE is set on the socket */
#endif

/* What a loop's streams share: the read buffer, and spare headers for
 * write_ref's queue entries, so a broadcast that queues one reference per
 * recipient per message allocates nothing once the spares have grown. The
 * spares are an array, not a list through the headers: taking one then
 * reads no header (a broadcast's headers are cold in cache by the time
 * they come back). */
#define SPARE_REFS_MAX 65536 /* 3.5 MiB of headers at most (56 bytes each) */

typedef struct shared {
  char buf[READ_BUF_SIZE];
  iom__chunk **spare; /* a stack */
  int nspare, cap;
} shared;

static void shared_free(void *arg) {
  shared *sh = arg;
  while (sh->nspare > 0)
    iom__free(sh->spare[--sh->nspare]);
  iom__free(sh->spare);
  iom__free(sh);
}

static shared *shared_of(iom_loop *loop) {
  shared *sh = iom__loop_ext_get(loop, IOM__EXT_STREAM);
  if (!sh && (sh = iom__malloc(sizeof *sh))) {
    sh->spare = NULL;
    sh->nspare = sh->cap = 0;
    iom__loop_ext_set(loop, IOM__EXT_STREAM, sh, shared_free);
  }
  return sh;
}

static iom__chunk *ref_alloc(iom_loop *loop) {
  shared *sh = iom__loop_ext_get(loop, IOM__EXT_STREAM);
  return sh->nspare > 0 ? sh->spare[--sh->nspare]
                        : iom__malloc(sizeof(iom__chunk));
}

/* Keep a reference's header for the next write_ref; 0 if there is no room
 * (the caller frees it). */
static int ref_keep(shared *sh, iom__chunk *c) {
  void *spare = sh->spare;
  if (sh->nspare == SPARE_REFS_MAX ||
      iom__grow(&spare, &sh->cap, sh->nspare + 1, sizeof *sh->spare, 64) < 0)
    return 0;
  sh->spare = spare;
  sh->spare[sh->nspare++] = c;
  return 1;
}

static void finish(void *arg);
static void on_io(iom_io *io, unsigned events, void *data);

static void on_connect_timeout(iom_timer *t, void *data) {
  (void)t;
  iom__stream_fail(data, -ETIMEDOUT);
}

int iom__stream_make(iom_loop *loop, int fd, const iom_stream_cbs *cbs,
                     void *data, int connecting, int timeout_ms,
                     iom_stream **out) {
  static const iom_stream_cbs no_cbs;
  if (!shared_of(loop))
    return -ENOMEM;
  iom_stream *s = iom__calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  int err = iom_io_new(loop, fd, on_io, s, &s->io);
  if (err == 0 && connecting && timeout_ms > 0 &&
      (err = iom_timer_new(loop, on_connect_timeout, s, &s->connect_timer)) < 0)
    iom_io_free(s->io);
  if (err < 0) {
    iom__free(s);
    return err;
  }
#if defined(SO_NOSIGPIPE)
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  s->loop = loop;
  s->fd = fd;
  iom__defer_init(&s->finish, finish, s);
  s->cbs = cbs ? cbs : &no_cbs;
  s->data = data;
  s->high = DEFAULT_HIGH;
  s->low = DEFAULT_LOW;
  s->connecting = connecting != 0;
  s->reading = !connecting && s->cbs->on_read;
  iom__loop_handle_add(loop);
  iom__loop_walk_add(loop, &s->walk, IOM_HANDLE_STREAM, s);
  iom__io_hide(s->io); /* the stream's own: the walk shows the stream */
  if (s->connect_timer) {
    iom__timer_hide(s->connect_timer);
    iom_timer_start(s->connect_timer, (uint64_t)timeout_ms, 0);
  }
  *out = s;
  iom__stream_update(s);
  return 0;
}

int iom_stream_new(iom_loop *loop, int fd, const iom_stream_cbs *cbs,
                   void *data, iom_stream **out) {
  if (fd < 0)
    return -EBADF;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 ||
      (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)) {
    int err = -errno;
    close(fd);
    return err;
  }
  int err = iom__stream_make(loop, fd, cbs, data, 0, 0, out);
  if (err < 0)
    close(fd);
  return err;
}

void iom__stream_update(iom_stream *s) {
  if (s->over)
    return;
  unsigned want = (s->reading ? IOM_READ : 0) |
                  ((s->head && !s->corked) || s->connecting ? IOM_WRITE : 0);
  if (!want) {
    iom_io_stop(s->io);
    return;
  }
  int err = iom_io_start(s->io, want);
  if (err < 0)
    iom__stream_fail(s, err);
}

void iom__stream_fail(iom_stream *s, int err) {
  if (s->over)
    return;
  s->over = 1;
  s->err = err;
  iom_io_stop(s->io);
  iom__defer_schedule(s->loop, &s->finish);
}

/* A written or dropped chunk: its done callback, then back to the spares
 * (a reference's header) or freed (a copy). */
static void chunk_complete(iom_loop *loop, iom__chunk *c, int status) {
  if (c->done)
    c->done(c->ctx, status);
  shared *sh = iom__loop_ext_get(loop, IOM__EXT_STREAM);
  if (c->cap != 0 || !ref_keep(sh, c))
    iom__free(c);
}

static void finish(void *arg) {
  iom_stream *s = arg;
  iom_loop *loop = s->loop;
  iom__chunk *c = s->head;
  s->head = s->tail = NULL;
  while (c) {
    iom__chunk *next = c->next;
    chunk_complete(loop, c, s->err < 0 ? s->err : -ECANCELED);
    c = next;
  }
  iom_timer_free(s->connect_timer);
  iom__loop_walk_remove(&s->walk);
  if (s->cbs->on_close)
    s->cbs->on_close(s, s->err, s->data);
  iom_io_free(s->io);
  close(s->fd);
  iom__loop_handle_del(loop);
  iom__free(s);
}

/* ---- reading -------------------------------------------------------------- */

static void peer_eof(iom_stream *s) {
  s->reading = 0;
  iom__stream_update(s);
  if (s->cbs->on_eof)
    s->cbs->on_eof(s, s->data);
  else
    iom_stream_close(s);
}

static void do_read(iom_stream *s) {
  char *buf = ((shared *)iom__loop_ext_get(s->loop, IOM__EXT_STREAM))->buf;
  int rounds = 0;
  while (s->reading && !s->over) {
    ssize_t n = recv(s->fd, buf, READ_BUF_SIZE, 0);
    if (n > 0) {
      s->cbs->on_read(s, buf, (size_t)n, s->data);
      if ((size_t)n < READ_BUF_SIZE || ++rounds == READ_ROUNDS)
        return;
    } else if (n == 0) {
      peer_eof(s);
      return;
    } else if (errno != EINTR) {
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        iom__stream_fail(s, -errno);
      return;
    }
  }
}

void iom_stream_read_stop(iom_stream *s) {
  s->reading = 0;
  iom__stream_update(s);
}

int iom_stream_read_start(iom_stream *s) {
  if (s->over || s->closing)
    return -EPIPE;
  s->reading = s->cbs->on_read != NULL;
  iom__stream_update(s);
  return 0;
}

/* ---- writing -------------------------------------------------------------- */

static void enqueue(iom_stream *s, iom__chunk *c) {
  c->next = NULL;
  if (s->tail)
    s->tail->next = c;
  else
    s->head = c;
  s->tail = c;
  s->queued += c->len;
}

/* Output was queued: watch for writability, unless corked (a corked
 * stream's interest is its reading alone, which a write does not change:
 * a broadcast to held streams then costs no watcher call per delivery). */
static void watch_queue(iom_stream *s) {
  if (!s->corked)
    iom__stream_update(s);
}

static void check_high(iom_stream *s) {
  if (!s->paused && s->queued > s->high) {
    s->paused = 1;
    if (s->cbs->on_pause_writing)
      s->cbs->on_pause_writing(s, s->data);
  }
}

/* Send, never raising SIGPIPE: send() for one buffer (the echo path: it
 * copies no msghdr in), sendmsg() for several. Returns the bytes the kernel
 * took (0 when it is full), or -1 once the stream has failed. */
static ssize_t send_iov(iom_stream *s, struct iovec *iov, int n) {
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
  for (;;) {
    ssize_t w = n == 1 ? send(s->fd, iov->iov_base, iov->iov_len,
                              MSG_NOSIGNAL)
                       : sendmsg(s->fd, &msg, MSG_NOSIGNAL);
    if (w >= 0)
      return w;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    iom__stream_fail(s, -errno);
    return -1;
  }
}

/* Send directly when nothing is queued (else the bytes must queue behind,
 * for order). Returns the bytes taken, or -1 once the stream has failed. */
static ssize_t send_now(iom_stream *s, const void *buf, size_t len) {
  if (s->head || s->connecting || s->corked)
    return 0;
  struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
  return send_iov(s, &iov, 1);
}

static int writable_state(const iom_stream *s) {
  return !s->over && !s->closing && !s->shut_wanted;
}

/* Append a copy of buf to the queue, into the tail's spare room first. */
static int queue_copy(iom_stream *s, const char *buf, size_t len) {
  iom__chunk *t = s->tail;
  if (t && t->cap > t->len) {
    size_t room = t->cap - t->len;
    size_t take = len < room ? len : room;
    memcpy(t->bytes + t->len, buf, take);
    t->len += take;
    s->queued += take;
    buf += take;
    len -= take;
  }
  if (len == 0)
    return 0;
  size_t cap = len > COPY_CHUNK ? len : COPY_CHUNK;
  iom__chunk *c = iom__malloc(sizeof *c + cap);
  if (!c)
    return -ENOMEM;
  *c = (iom__chunk){.base = c->bytes, .len = len, .cap = cap};
  memcpy(c->bytes, buf, len);
  enqueue(s, c);
  return 0;
}

int iom_stream_write(iom_stream *s, const void *buf, size_t len) {
  if (!writable_state(s))
    return -EPIPE;
  ssize_t sent = send_now(s, buf, len);
  if (sent < 0 || (size_t)sent == len)
    return 0;
  if (queue_copy(s, (const char *)buf + sent, len - (size_t)sent) < 0) {
    iom__stream_fail(s, -ENOMEM); /* bytes are lost: the stream cannot go on */
    return -ENOMEM;
  }
  watch_queue(s);
  check_high(s);
  return 0;
}

int iom_stream_write_ref(iom_stream *s, const void *buf, size_t len,
                         void (*done)(void *ctx, int status), void *ctx) {
  if (!writable_state(s))
    return -EPIPE;
  ssize_t sent = send_now(s, buf, len);
  if (sent < 0 || (size_t)sent == len)
    return 0;
  iom__chunk *c = ref_alloc(s->loop);
  if (!c) {
    iom__stream_fail(s, -ENOMEM);
    return -ENOMEM;
  }
  *c = (iom__chunk){.base = buf, .len = len, .off = (size_t)sent,
                    .done = done, .ctx = ctx};
  enqueue(s, c);
  s->queued -= (size_t)sent;
  watch_queue(s);
  check_high(s);
  return 1;
}

/* Take `n` written bytes off the queue; finished chunks move to `done`. */
static void consume(iom_stream *s, size_t n, iom__chunk **done) {
  s->queued -= n;
  while (n > 0) {
    iom__chunk *c = s->head;
    size_t avail = c->len - c->off;
    if (n < avail) {
      c->off += n;
      return;
    }
    n -= avail;
    s->head = c->next;
    if (!s->head)
      s->tail = NULL;
    c->next = *done;
    *done = c;
  }
}

/* writev the queue until it is empty or the kernel is full. Returns 0, or
 * -1 if the stream failed. */
static int flush_queue(iom_stream *s, iom__chunk **done) {
  while (s->head) {
    struct iovec iov[IOV_BATCH];
    size_t total = 0;
    int n = 0;
    for (iom__chunk *c = s->head; c && n < IOV_BATCH; c = c->next, n++) {
      iov[n].iov_base = (char *)c->base + c->off;
      iov[n].iov_len = c->len - c->off;
      total += iov[n].iov_len;
    }
    ssize_t w = send_iov(s, iov, n);
    if (w <= 0)
      return (int)w;
    consume(s, (size_t)w, done);
    if ((size_t)w < total)
      return 0;
  }
  return 0;
}

/* The queue is empty: carry out a pending shutdown or close. */
static void drained(iom_stream *s) {
  if (s->shut_wanted && shutdown(s->fd, SHUT_WR) < 0 && errno != ENOTCONN)
    iom__stream_fail(s, -errno);
  if (s->closing)
    iom__stream_fail(s, 0);
}

static void do_write(iom_stream *s) {
  iom__chunk *done = NULL;
  if (flush_queue(s, &done) == 0) {
    if (!s->head)
      drained(s);
    iom__stream_update(s);
  }
  /* Callbacks last: they may write, close or abort this stream. */
  while (done) {
    iom__chunk *next = done->next;
    chunk_complete(s->loop, done, 0);
    done = next;
  }
  if (s->paused && !s->over && s->queued <= s->low) {
    s->paused = 0;
    if (s->cbs->on_resume_writing)
      s->cbs->on_resume_writing(s, s->data);
  }
}

/* Corking: writes queue, nothing is sent and writability is not watched,
 * until uncork sends them all in one writev. */
void iom_stream_cork(iom_stream *s) {
  if (!s->over && !s->closing)
    s->corked = 1;
}

void iom_stream_uncork(iom_stream *s) {
  if (!s->corked)
    return;
  s->corked = 0;
  if (s->head && !s->connecting && !s->over)
    do_write(s);
}

size_t iom_stream_queued(const iom_stream *s) { return s->queued; }

int iom_stream_set_water(iom_stream *s, size_t high, size_t low) {
  if (low > high)
    return -EINVAL;
  s->high = high;
  s->low = low;
  check_high(s);
  return 0;
}

/* ---- ending --------------------------------------------------------------- */

int iom_stream_shutdown(iom_stream *s) {
  if (!writable_state(s))
    return -EPIPE;
  s->shut_wanted = 1;
  s->corked = 0;
  if (!s->head && !s->connecting)
    drained(s);
  else
    iom__stream_update(s);
  return 0;
}

void iom_stream_close(iom_stream *s) {
  if (s->over || s->closing)
    return;
  s->closing = 1;
  s->reading = 0;
  s->corked = 0; /* what was held goes out before the close */
  if (s->connecting || !s->head)
    iom__stream_fail(s, 0);
  else
    iom__stream_update(s);
}

void iom_stream_abort(iom_stream *s) { iom__stream_fail(s, 0); }

void iom__stream_hide(iom_stream *s) { iom__loop_walk_remove(&s->walk); }

int iom_stream_fd(const iom_stream *s) { return s->fd; }

void *iom_stream_data(const iom_stream *s) { return s->data; }

void iom_stream_set_data(iom_stream *s, void *data) { s->data = data; }

/* ---- events --------------------------------------------------------------- */

static void on_io(iom_io *io, unsigned events, void *data) {
  (void)io;
  iom_stream *s = data;
  if (s->connecting) {
    iom__stream_connected(s);
    return;
  }
  if (events & IOM_WRITE)
    do_write(s);
  if ((events & IOM_READ) && !s->over)
    do_read(s);
}
