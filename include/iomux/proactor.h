/* iomux: the Proactor, completion-based I/O.
 *
 * Where the loop (loop.h) says "this socket is ready, now you copy", the
 * proactor says "done: the kernel waited for the data *and* copied it". You
 * prepare an operation (accept, recv, send, connect, close, timeout,
 * cancel), submit it, and get a callback with the result once the whole job
 * is over. Two backends give the same behaviour:
 *   - "uring": io_uring (Linux 5.19+ for everything; older kernels lose
 *     features one by one, see iom_proactor_features). The loop then waits
 *     in the ring: one io_uring_enter per loop iteration submits every
 *     operation prepared since the last one and waits for completions, and
 *     the loop's own fds (timers, signals, async, pool, io watchers) keep
 *     working through it.
 *   - "emulated": the same API on the loop's readiness and non-blocking
 *     system calls, for systems without io_uring, or where it is refused
 *     (ENOSYS, EPERM: seccomp, kernel.io_uring_disabled).
 *
 * Operations are caller-allocated (iom_op, a struct of published size):
 * the library allocates nothing per operation. An operation's life:
 *
 *     iom_prep_*() --> iom_proactor_submit() --> in flight --> callback(s)
 *
 * The callback runs on the loop thread with `res`: a count (bytes, an fd)
 * or 0 on success, a negative errno on failure. A multishot operation
 * (accept, recv from a buffer group) calls back once per result with
 * op->more == 1 and stays armed; every operation ends with exactly one
 * callback with op->more == 0 (the final one). Never from inside
 * iom_proactor_submit(): a submit that fails returns the error and no
 * callback runs.
 *
 * The callback's return value re-arms (libxev):
 *   IOM_REARM  on a final callback: submit the same op again (its fields may
 *              have been changed in the callback); on a multishot one: stay
 *              armed.
 *   IOM_DONE   on a final callback: the op is the caller's again; on a
 *              multishot one: stop it. Results already on their way are
 *              still delivered (handle their data), then the final callback
 *              comes, with -ECANCELED if nothing else ended it.
 *
 * Ownership:
 *   - an iom_op belongs to the library from submit until its final callback
 *     is called; during and after that callback it is the caller's (to
 *     free, reuse, or re-arm by returning IOM_REARM). Do not touch its
 *     fields while it is in flight, except reading them in its callbacks;
 *   - a send's buffer and a recv's buffer (iom_prep_recv) are lent to the
 *     library until the final callback; a connect's address too;
 *   - a buffer group's buffers (iom_prep_recv_group) belong to the library
 *     until a recv callback hands one over (op->rbuf, op->buf_id, res bytes);
 *     it is then the caller's, to read or write in place, until it gives it
 *     back with iom_bufgroup_put(). The kernel picks the buffer only when
 *     data is there, so idle connections hold none;
 *   - fds stay the caller's: only a close operation closes one. Close an fd
 *     with ops in flight only that way (close(2) leaves them running: the
 *     kernel holds the file); once its last op has ended, close(2) is fine.
 *
 * Rules that keep the data in order and the memory safe:
 *   - one send in flight per socket: a send the kernel takes in part is
 *     finished by the library (it resubmits the rest) before its callback,
 *     and a second send in flight could land in between;
 *   - a close cancels every operation still in flight on its fd (each gets
 *     its final callback, -ECANCELED, possibly after the close's own); free
 *     a connection's memory once all of its ops had their final callback;
 *   - when a buffer group runs dry, a recv from it pauses (no callback, no
 *     error: the data waits in the kernel) and goes on once a buffer is put
 *     back. A client that sends and never reads must not be allowed to hold
 *     every buffer: stop its recv (return IOM_DONE) above a bound of yours.
 *
 * Threads: a proactor and its ops belong to the loop's thread. The uring
 * backend may use SINGLE_ISSUER, so make the proactor on that thread.
 * Errors are negative errno values (error.h); nothing here prints or exits.
 */
#ifndef IOMUX_PROACTOR_H
#define IOMUX_PROACTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "iomux/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct iom_proactor iom_proactor;
typedef struct iom_bufgroup iom_bufgroup;
typedef struct iom_op iom_op;

/* ---- the proactor -------------------------------------------------------- */

typedef enum iom_proactor_kind {
  IOM_PROACTOR_DEFAULT = 0,  /* uring if it works here, else emulated */
  IOM_PROACTOR_URING = 1,
  IOM_PROACTOR_EMULATED = 2,
} iom_proactor_kind;

/* Make a proactor on `loop`. DEFAULT tries io_uring and falls back to the
 * emulation if the ring cannot be set up (no io_uring in the kernel or the
 * build, EPERM, ENOMEM, a loop whose selector has no fd to watch from the
 * ring: select/poll) or the environment variable IOM_PROACTOR says
 * "emulated"; IOM_PROACTOR=uring makes DEFAULT act as URING.
 * For tests and experiments, IOM_URING_OFF turns uring features off, a
 * comma-separated list of: multishot, bufring (legacy provided buffers),
 * defer (no SINGLE_ISSUER/DEFER_TASKRUN), batch (one io_uring_enter per
 * operation), minwait (wait for the first completion, not a batch), ring
 * (setup fails with EPERM, as where io_uring is disabled).
 * A loop has at most one uring proactor: a second one is -EBUSY with
 * URING, emulated with DEFAULT.
 * Returns 0 and sets *out; -ENOMEM; with URING: -ENOSYS, -EPERM, -EBUSY,
 * -EOPNOTSUPP (the loop's selector is not epoll), or the ring's error. */
int iom_proactor_new(iom_loop *loop, iom_proactor_kind kind,
                     iom_proactor **out);

/* Free it. Returns 0, or -EBUSY (and frees nothing) while an op is in
 * flight or a buffer group exists. NULL is allowed. */
int iom_proactor_free(iom_proactor *p);

/* "uring" or "emulated". Static string. */
const char *iom_proactor_backend(const iom_proactor *p);

/* What the backend does natively (uring) rather than by emulation. */
#define IOM_PF_MULTISHOT_ACCEPT 0x01u /* one SQE, many accepts */
#define IOM_PF_MULTISHOT_RECV 0x02u   /* one SQE, many recvs */
#define IOM_PF_BUF_RING 0x04u   /* provided buffers given back without an SQE */
#define IOM_PF_PROVIDED_BUFS 0x08u /* the kernel picks recv buffers */
#define IOM_PF_SINGLE_ISSUER 0x10u
#define IOM_PF_DEFER_TASKRUN 0x20u /* completions run when we wait, batched */
#define IOM_PF_BATCHED 0x40u       /* one io_uring_enter per loop iteration */
#define IOM_PF_MIN_WAIT 0x80u /* a busy ring waits for a batch, 100 us */
unsigned iom_proactor_features(const iom_proactor *p);

/* Operations in flight (submitted, final callback not yet run). */
int iom_proactor_inflight(const iom_proactor *p);

/* ---- operations ---------------------------------------------------------- */

/* What a callback returns: see the top of this file. */
#define IOM_DONE 0
#define IOM_REARM 1

typedef int (*iom_op_cb)(iom_op *op, int res);

typedef enum iom_op_kind {
  IOM_OP_NONE = 0,
  IOM_OP_ACCEPT,
  IOM_OP_RECV,
  IOM_OP_SEND,
  IOM_OP_CONNECT,
  IOM_OP_CLOSE,
  IOM_OP_TIMEOUT,
  IOM_OP_CANCEL,
} iom_op_kind;

/* Flag for iom_prep_accept and iom_prep_recv_group. */
#define IOM_MULTISHOT 1u

/* The library's part of an op: do not touch. */
#ifndef IOM__LINK_DEFINED
#define IOM__LINK_DEFINED
struct iom__link {
  struct iom__link *prev, *next;
};
#endif
struct iom__op_priv {
  struct iom__link link; /* in the list the op waits in, per backend */
  iom_proactor *p;
  void *aux;           /* emulated: the timeout's timer */
  size_t sent;         /* send: bytes the kernel took so far */
  int64_t ts[2];       /* uring: the timeout as a kernel timespec */
  int res;             /* a result waiting in the completion queue */
  uint32_t epoch;      /* uring: its fd's close count when it started */
  uint8_t state, gen, disarm, started;
};

struct iom_op {
  /* Filled by iom_prep_*() (or by hand); read-only while in flight. */
  iom_op_kind kind;
  unsigned flags;            /* IOM_MULTISHOT */
  int fd;
  void *buf;                 /* recv into, send from (lent until final cb) */
  size_t len;
  iom_bufgroup *group;       /* recv: the group the kernel picks from */
  const struct sockaddr *addr; /* connect (lent until the final callback) */
  socklen_t addrlen;
  uint64_t timeout_ms;       /* timeout */
  iom_op *target;            /* cancel */
  iom_op_cb cb;
  void *data;                /* the caller's token, untouched */
  /* Set before each callback. */
  int more;                  /* 1: more callbacks follow; 0: the final one */
  void *rbuf;                /* recv from a group: the buffer with the data */
  unsigned buf_id;           /* ...and its id, for iom_bufgroup_put() */
  struct iom__op_priv priv;
};

/* Preparing only fills the struct (no system call, no allocation). */

/* Accept connections on listening socket `fd`: res is a new fd
 * (non-blocking, close-on-exec) or -errno. IOM_MULTISHOT: one callback per
 * connection, armed until an error (the final callback, e.g. -EMFILE: back
 * off before re-arming) or a cancel. The emulation needs a non-blocking
 * listener when other threads or processes accept on it too. */
void iom_prep_accept(iom_op *op, int fd, unsigned flags, iom_op_cb cb,
                     void *data);

/* Receive up to len bytes into buf: res is the count, 0 at end of stream,
 * or -errno. */
void iom_prep_recv(iom_op *op, int fd, void *buf, size_t len, iom_op_cb cb,
                   void *data);

/* Receive into a buffer the kernel picks from `g` when data arrives:
 * op->rbuf / op->buf_id name it (res > 0 bytes; yours until
 * iom_bufgroup_put). IOM_MULTISHOT: one callback per arrival, armed until
 * end of stream (res 0, final), an error or a cancel. An empty group pauses
 * the recv (see the top of this file). */
void iom_prep_recv_group(iom_op *op, int fd, iom_bufgroup *g, unsigned flags,
                         iom_op_cb cb, void *data);

/* Send all len bytes (partial sends are resubmitted by the library): res is
 * len, or -errno (-EPIPE, -ECONNRESET, ...; SIGPIPE is never raised). */
void iom_prep_send(iom_op *op, int fd, const void *buf, size_t len,
                   iom_op_cb cb, void *data);

/* Connect socket `fd` to addr: res is 0 or -errno (-ECONNREFUSED, ...).
 * The emulation makes fd non-blocking (io_uring does not need it). */
void iom_prep_connect(iom_op *op, int fd, const struct sockaddr *addr,
                      socklen_t addrlen, iom_op_cb cb, void *data);

/* Cancel every op in flight on fd, then close it: res 0 or -errno. */
void iom_prep_close(iom_op *op, int fd, iom_op_cb cb, void *data);

/* Complete after ms milliseconds: res 0, or -ECANCELED if cancelled. */
void iom_prep_timeout(iom_op *op, uint64_t ms, iom_op_cb cb, void *data);

/* Cancel `target`: res 0 (it will get its final callback, -ECANCELED),
 * -ENOENT (not in flight), -EALREADY (too late to stop). */
void iom_prep_cancel(iom_op *op, iom_op *target, iom_op_cb cb, void *data);

/* Submit a prepared op. It reaches the kernel at the loop's next wait,
 * together with every other op submitted meanwhile. Returns 0; -EBUSY (the
 * op is already in flight); -EINVAL (bad kind, flags, fd, or a multishot /
 * group use the op does not allow); -ENOMEM. On error no callback runs. */
int iom_proactor_submit(iom_proactor *p, iom_op *op);

/* ---- buffer groups (provided buffers) ------------------------------------ */

/* `count` buffers of `size` bytes each, allocated by the library, for
 * iom_prep_recv_group. count: a power of two, 1..32768; size: 1..1 MiB.
 * All start with the library. Returns 0; -EINVAL; -ENOMEM; the kernel's
 * error. */
int iom_bufgroup_new(iom_proactor *p, unsigned count, size_t size,
                     iom_bufgroup **out);

/* Free it. Returns 0, or -EBUSY while a buffer is out (not put back) or a
 * recv from it is in flight. NULL is allowed. */
int iom_bufgroup_free(iom_bufgroup *g);

/* Give buffer `id` back (it was handed over by a recv callback). A recv
 * paused on the empty group goes on. No system call. */
void iom_bufgroup_put(iom_bufgroup *g, unsigned id);

/* The buffer with that id, and the size of each. */
void *iom_bufgroup_buf(const iom_bufgroup *g, unsigned id);
size_t iom_bufgroup_size(const iom_bufgroup *g);

/* Buffers with the library (not handed over). */
unsigned iom_bufgroup_available(const iom_bufgroup *g);

#ifdef __cplusplus
}
#endif

#endif
