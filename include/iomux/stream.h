/* iomux: TCP listeners and buffered streams with back-pressure, and a line
 * framer for line protocols.
 *
 * A stream wraps a connected non-blocking socket on a loop:
 *   - reads are delivered to on_read as they arrive, from a buffer the loop
 *     shares among its streams (an idle stream holds no buffer at all);
 *   - a write is sent at once when nothing is queued; what the kernel does
 *     not take is queued and flushed as the socket drains (writev);
 *   - above the high-water mark on_pause_writing tells the producer to stop,
 *     and on_resume_writing, at the low-water mark, to go on;
 *   - every stream ends with exactly one on_close, always on a later loop
 *     turn (never from inside the call that failed or closed), after which
 *     the library frees it. A reset or broken pipe is such an ending, with
 *     its error; SIGPIPE is never raised.
 *
 * Stream states:  open --close()--> closing (flushing) --> closed: on_close
 *                   \--error/reset/abort()----------------> closed: on_close
 *
 * Threads: loop thread only. Sockets only (send/recv are used).
 */
#ifndef IOMUX_STREAM_H
#define IOMUX_STREAM_H

#include <stddef.h>
#include <sys/socket.h>

#include "iomux/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct iom_stream iom_stream;
typedef struct iom_listener iom_listener;

/* ---- streams -------------------------------------------------------------- */

/* The callbacks of a stream. Any may be NULL. The struct must outlive every
 * stream that uses it (a static const struct is the usual choice). */
typedef struct iom_stream_cbs {
  /* A connect (iom_stream_connect) succeeded; reading has started. */
  void (*on_connect)(iom_stream *s, void *data);
  /* len > 0 bytes arrived. `buf` is valid during the call only. */
  void (*on_read)(iom_stream *s, const char *buf, size_t len, void *data);
  /* The peer will send no more (it shut down its side). If NULL, the stream
   * closes after flushing what is queued; if set, the stream stays open
   * for writing until the app closes it. */
  void (*on_eof)(iom_stream *s, void *data);
  /* The write queue rose above the high-water mark: stop producing. */
  void (*on_pause_writing)(iom_stream *s, void *data);
  /* After a pause, the queue fell to the low-water mark: produce again. */
  void (*on_resume_writing)(iom_stream *s, void *data);
  /* The stream is over: err is 0 after close()/abort() or an EOF-close, or
   * the error that ended it (-ECONNRESET, -EPIPE, -ETIMEDOUT,
   * -ECONNREFUSED, -ENOMEM, ...). The stream is freed when this returns. */
  void (*on_close)(iom_stream *s, int err, void *data);
} iom_stream_cbs;

/* Wrap a connected socket. The stream owns `fd` from now on (even on
 * error: then it is closed) and sets it non-blocking. Reading starts at once
 * if cbs->on_read is set. Returns 0, -EBADF, -ENOMEM. */
int iom_stream_new(iom_loop *loop, int fd, const iom_stream_cbs *cbs,
                   void *data, iom_stream **out);

/* Connect to a numeric address (host "127.0.0.1" or "::1", not a name:
 * resolve names on the pool, pool.h) without blocking. on_connect follows on
 * success; on failure or after timeout_ms (<= 0: no timeout), on_close with
 * the error (-ECONNREFUSED, -ETIMEDOUT, ...). Returns 0 and the stream in
 * *out, or -EINVAL (host, port), -ENOMEM, -EMFILE, ...: then no callback
 * runs. */
int iom_stream_connect(iom_loop *loop, const char *host, int port,
                       int timeout_ms, const iom_stream_cbs *cbs, void *data,
                       iom_stream **out);

/* The same, to a socket address. */
int iom_stream_connect_addr(iom_loop *loop, const struct sockaddr *addr,
                            socklen_t addrlen, int timeout_ms,
                            const iom_stream_cbs *cbs, void *data,
                            iom_stream **out);

/* Queue `len` bytes. Sends at once when nothing is queued; copies only what
 * the kernel did not take, so `buf` is free again when this returns.
 * Returns 0; -EPIPE once the stream is closing or over; -ENOMEM (the
 * stream then fails with -ENOMEM). Errors of the connection itself come
 * later, through on_close. */
int iom_stream_write(iom_stream *s, const void *buf, size_t len);

/* Queue `len` bytes without copying. Returns 0 if they were all sent now
 * (`buf` is free again, `done` will not run); 1 if queued: `buf` must stay
 * untouched until done(ctx, status) runs, with status 0 once written or a
 * negative errno if the stream ended first; <0 as iom_stream_write (done
 * will not run). */
int iom_stream_write_ref(iom_stream *s, const void *buf, size_t len,
                         void (*done)(void *ctx, int status), void *ctx);

/* Hold this stream's writes: write and write_ref queue them and nothing is
 * sent, until iom_stream_uncork sends them all in one writev. For a
 * producer that writes many pieces to many streams (a chat broadcast: one
 * system call per recipient per flush, not one per message; an HTTP head
 * and body in one segment). Water marks apply as usual. close and shutdown
 * uncork. Nothing happens on a closing or failed stream. */
void iom_stream_cork(iom_stream *s);

/* Send what was held since iom_stream_cork, now; what the kernel does not
 * take stays queued and goes as the socket drains. The done callbacks of
 * write_ref buffers that left, and on_resume_writing, may run before this
 * returns. Nothing happens on a stream that is not corked. */
void iom_stream_uncork(iom_stream *s);

/* Bytes queued and not yet taken by the kernel. */
size_t iom_stream_queued(const iom_stream *s);

/* Set the water marks (bytes; low <= high). Defaults: 64 KiB and 16 KiB.
 * Returns 0 or -EINVAL. */
int iom_stream_set_water(iom_stream *s, size_t high, size_t low);

/* Stop or restart on_read (back-pressure on the peer: the kernel's buffers
 * fill and TCP tells it to wait). Reading is started by default. */
void iom_stream_read_stop(iom_stream *s);
int iom_stream_read_start(iom_stream *s);

/* Half-close: once the queue is flushed, shut the sending side (the peer
 * reads EOF); reading goes on. Returns 0 or -EPIPE. */
int iom_stream_shutdown(iom_stream *s);

/* Stop reading, flush what is queued, close; on_close(0) follows. Calling
 * it again, or on a failed stream, does nothing. */
void iom_stream_close(iom_stream *s);

/* Close now, dropping the queue (write_ref callbacks get -ECANCELED);
 * on_close(0) follows on a later turn. */
void iom_stream_abort(iom_stream *s);

int iom_stream_fd(const iom_stream *s);
void *iom_stream_data(const iom_stream *s);
void iom_stream_set_data(iom_stream *s, void *data);

/* ---- listeners ------------------------------------------------------------ */

/* A new connection: fd >= 0 is a connected socket, non-blocking and
 * close-on-exec, now the callback's (wrap it with iom_stream_new or close
 * it). fd < 0 is a negative errno telling that accepting has paused for a
 * while because the process or system ran out of something (-EMFILE,
 * -ENFILE, -ENOBUFS, -ENOMEM); the listener retries by itself, backing off
 * from 10 ms to 1 s, and goes on as soon as it can. */
typedef void (*iom_accept_cb)(iom_listener *l, int fd, void *data);

typedef struct iom_listen_opts {
  int backlog;      /* <= 0: the system maximum (net.core.somaxconn) */
  int reuseport;    /* SO_REUSEPORT: several listeners share the port */
  int accept_batch; /* max accepts per wake-up, for fairness; <= 0: 64 */
} iom_listen_opts;

/* Listen on host:port (IPv4 or IPv6 address or name, NULL for all IPv4
 * addresses; port 0 picks a free port: see iom_listener_port) with
 * SO_REUSEADDR. `opts` may be NULL. Returns 0, -EINVAL (host), -EADDRINUSE,
 * -EACCES, -ENOMEM, -EMFILE, ... */
int iom_listener_new(iom_loop *loop, const char *host, int port,
                     const iom_listen_opts *opts, iom_accept_cb cb, void *data,
                     iom_listener **out);

/* Accept on `fd`, a socket the caller has bound and put in listening state
 * (inherited, or shared between loops with SO_REUSEPORT). The listener owns
 * it from now on and makes it non-blocking. opts->backlog and ->reuseport
 * are not used. Returns 0, -EBADF, -ENOTSOCK, -ENOMEM. */
int iom_listener_adopt(iom_loop *loop, int fd, const iom_listen_opts *opts,
                       iom_accept_cb cb, void *data, iom_listener **out);

/* The port being listened on (the chosen one after port 0). */
int iom_listener_port(const iom_listener *l);
int iom_listener_fd(const iom_listener *l);

/* Stop accepting and close the listening socket, at once (the port is free
 * when this returns); safe from inside the accept callback. The memory goes
 * on the loop's next turn, like a stream's: until then the listener counts
 * as a handle (iom_loop_free: -EBUSY). NULL is allowed. */
void iom_listener_free(iom_listener *l);

/* ---- line framer ---------------------------------------------------------- */

typedef struct iom_lines iom_lines;

/* One line, without its "\n" or "\r\n"; or, with err == -EMSGSIZE and
 * line NULL, word that a line longer than the maximum was dropped (the
 * framer skips to the next newline and goes on). Return nonzero to stop
 * iom_lines_feed (for instance after closing the stream). Do not free the
 * framer from here. */
typedef int (*iom_line_cb)(void *data, const char *line, size_t len, int err);

/* A framer for lines of at most max_line bytes (without the newline).
 * Returns 0, -EINVAL (max_line 0 or 1 GiB and over), -ENOMEM. */
int iom_lines_new(size_t max_line, iom_lines **out);

/* Split `len` bytes into lines and call cb for each complete one, in order.
 * Complete lines are passed straight from `buf`; only an unfinished line is
 * copied, into a buffer held until the line completes (never more than
 * max_line bytes). Returns 0, the callback's nonzero value, or -ENOMEM. */
int iom_lines_feed(iom_lines *lf, const char *buf, size_t len, iom_line_cb cb,
                   void *data);

/* Bytes held of an unfinished line. */
size_t iom_lines_pending(const iom_lines *lf);

void iom_lines_free(iom_lines *lf);

#ifdef __cplusplus
}
#endif

#endif
