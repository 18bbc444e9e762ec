/* The emulated proactor: completions made from readiness, on the loop.
 *
 * Each fd with ops in flight gets one io watcher (the loop allows one per
 * fd) and two FIFO queues: readers (accept, recv) and writers (send,
 * connect). When the fd is ready, the op at the head of the queue does its
 * non-blocking system call; if the kernel says EAGAIN it waits for the next
 * readiness, else it completes. A multishot op stays at the head and
 * completes once per readiness (accept: up to ACCEPT_BATCH), so one busy
 * socket cannot hold the loop: level-triggered readiness brings it back.
 *
 * Things to know:
 *  - a callback may close the fd or cancel anything, so after each one the
 *    fd's record is looked up again (by fd and serial number) before going
 *    on; a record is freed as soon as no op waits on its fd;
 *  - recv and send use MSG_DONTWAIT, so a blocking socket never blocks the
 *    loop; connect and accept cannot, so connect makes the fd non-blocking
 *    and accept expects a listener that is (or one nobody else accepts on);
 *  - an fd that also has an io watcher of the caller's on this loop cannot
 *    be used here: its ops fail with -EEXIST.
 */
#define _GNU_SOURCE /* accept4, MSG_NOSIGNAL */
#include "proactor_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BATCH 64

typedef struct efd {
  iom_io *io;
  iom_proactor *p;
  uint64_t serial; /* tells a record from a new one for a reused fd */
  iom__list readers, writers;
} efd;

typedef struct emu {
  efd **fds; /* indexed by fd */
  int cap;
  uint64_t serial;
} emu;

static emu *emu_of(const iom_proactor *p) { return p->impl; }

static efd *efd_find(iom_proactor *p, int fd) {
  emu *m = emu_of(p);
  return fd < m->cap ? m->fds[fd] : NULL;
}

static int still_there(iom_proactor *p, int fd, uint64_t serial) {
  efd *e = efd_find(p, fd);
  return e && e->serial == serial;
}

static void on_io(iom_io *io, unsigned events, void *data);

static efd *efd_get(iom_proactor *p, int fd) {
  emu *m = emu_of(p);
  efd *e = efd_find(p, fd);
  if (e)
    return e;
  if (fd >= m->cap) {
    void *fds = m->fds;
    if (iom__grow_zeroed(&fds, &m->cap, fd + 1, sizeof *m->fds, 64) < 0)
      return NULL;
    m->fds = fds;
  }
  if (!(e = iom__calloc(1, sizeof *e)))
    return NULL;
  if (iom_io_new(p->loop, fd, on_io, e, &e->io) < 0) {
    iom__free(e);
    return NULL;
  }
  iom__io_weak(e->io); /* the ops hold the loop */
  iom__io_hide(e->io);
  iom__list_init(&e->readers);
  iom__list_init(&e->writers);
  e->p = p;
  e->serial = ++m->serial;
  m->fds[fd] = e;
  return e;
}

static void fail_all(iom_proactor *p, iom__list *l, int err) {
  iom_op *op;
  while ((op = iom__op_first(l))) {
    iom__op_unlink(op);
    iom__complete_later(p, op, err);
  }
}

static void efd_drop(efd *e) {
  emu_of(e->p)->fds[iom_io_fd(e->io)] = NULL;
  iom_io_free(e->io);
  iom__free(e);
}

/* Watch what the queues need; drop the record when they are empty. A
 * watcher the loop refuses (another watcher on the fd, a closed fd) fails
 * the ops waiting on it. */
static void efd_update(efd *e) {
  unsigned want = (iom__list_empty(&e->readers) ? 0u : IOM_READ) |
                  (iom__list_empty(&e->writers) ? 0u : IOM_WRITE);
  int err = want ? iom_io_start(e->io, want) : 0;
  if (err < 0) {
    fail_all(e->p, &e->readers, err);
    fail_all(e->p, &e->writers, err);
  }
  if (!want || err < 0)
    efd_drop(e);
}

static iom__list *queue_of(efd *e, const iom_op *op) {
  return op->kind == IOM_OP_ACCEPT || op->kind == IOM_OP_RECV ? &e->readers
                                                              : &e->writers;
}

static void enqueue(iom_proactor *p, iom_op *op) {
  efd *e = efd_get(p, op->fd);
  if (!e) {
    iom__complete_later(p, op, -ENOMEM);
    return;
  }
  iom__op_push(queue_of(e, op), op);
  efd_update(e);
}

/* Take an armed op out of wherever it waits. */
static void unqueue(iom_proactor *p, iom_op *op) {
  if (op->kind == IOM_OP_TIMEOUT) {
    iom_timer_free(op->priv.aux);
    op->priv.aux = NULL;
    return;
  }
  efd *e = efd_find(p, op->fd);
  if (!e)
    return;
  iom__op_unlink(op);
  efd_update(e);
}

/* ---- the system calls ------------------------------------------------------ */

static int would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

static int do_accept(iom_op *op) {
  int fd = accept4(op->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return fd >= 0 ? fd : would_block(errno) ? -EAGAIN : -errno;
}

static int do_recv(iom_op *op) {
  iom_bufgroup *g = op->group;
  if (g && g->nfree == 0)
    return -ENOBUFS;
  unsigned id = g ? g->stack[--g->nfree] : 0;
  void *buf = g ? iom_bufgroup_buf(g, id) : op->buf;
  size_t len = g ? g->size : op->len;
  ssize_t n = recv(op->fd, buf, len, MSG_DONTWAIT);
  int res = n >= 0 ? (int)n : would_block(errno) ? -EAGAIN : -errno;
  if (g && res > 0)
    iom__take_buffer(op, id);
  else if (g)
    g->stack[g->nfree++] = (uint16_t)id;
  return res;
}

/* Send until done or EAGAIN; what went out is kept in priv.sent. */
static int do_send(iom_op *op) {
  const char *buf = op->buf;
  while (op->priv.sent < op->len) {
    ssize_t n = send(op->fd, buf + op->priv.sent, op->len - op->priv.sent,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return would_block(errno) ? -EAGAIN : -errno;
    op->priv.sent += (size_t)n;
  }
  return (int)op->len;
}

static int connect_result(iom_op *op) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    return -errno;
  return -err;
}

static int do_io(iom_op *op) {
  switch (op->kind) {
  case IOM_OP_ACCEPT: return do_accept(op);
  case IOM_OP_RECV: return do_recv(op);
  case IOM_OP_SEND: return do_send(op);
  default: return connect_result(op);
  }
}

/* ---- readiness -------------------------------------------------------------- */

/* Does this result leave a multishot op armed? */
static int stays_armed(const iom_op *op, int res) {
  if (!(op->flags & IOM_MULTISHOT) || op->priv.disarm)
    return 0;
  return op->kind == IOM_OP_ACCEPT ? res >= 0 : res > 0;
}

/* Run the head op of one queue. Returns 1 to run it (or the next) again,
 * 0 to wait for the next readiness; afterwards the record may be gone. */
static int serve_head(iom_proactor *p, iom__list *q, int round) {
  iom_op *op = iom__op_first(q);
  if (!op)
    return 0;
  int res = do_io(op);
  if (res == -EAGAIN)
    return 0;
  if (res == -ECONNABORTED && op->kind == IOM_OP_ACCEPT)
    return 1; /* that client left before we took it: take the next */
  if (res == -ENOBUFS && op->group) {
    iom__op_unlink(op);
    iom__park(p, op);
    return 1;
  }
  if (stays_armed(op, res)) {
    iom__deliver(p, op, res, IOM__ARMED);
    return op->kind == IOM_OP_ACCEPT && round < ACCEPT_BATCH;
  }
  iom__op_unlink(op);
  iom__deliver(p, op, res, IOM__FINAL);
  return 1; /* the next op in the queue may go too */
}

static void serve(iom_proactor *p, int fd, uint64_t serial, int writers) {
  for (int round = 0; still_there(p, fd, serial); round++) {
    efd *e = efd_find(p, fd);
    if (!serve_head(p, writers ? &e->writers : &e->readers, round))
      return;
  }
}

static void on_io(iom_io *io, unsigned events, void *data) {
  efd *e = data;
  iom_proactor *p = e->p;
  int fd = iom_io_fd(io);
  uint64_t serial = e->serial;
  if (events & IOM_WRITE)
    serve(p, fd, serial, 1);
  if ((events & IOM_READ) && still_there(p, fd, serial))
    serve(p, fd, serial, 0);
  if (still_there(p, fd, serial))
    efd_update(efd_find(p, fd));
}

/* ---- starting ops ------------------------------------------------------------ */

static void on_timer(iom_timer *t, void *data) {
  iom_op *op = data;
  iom_timer_free(t);
  op->priv.aux = NULL;
  iom__deliver(op->priv.p, op, 0, IOM__FINAL);
}

static void start_timeout(iom_proactor *p, iom_op *op) {
  iom_timer *t;
  if (iom_timer_new(p->loop, on_timer, op, &t) < 0) {
    iom__complete_later(p, op, -ENOMEM);
    return;
  }
  iom__timer_hide(t);
  op->priv.aux = t;
  iom_timer_start(t, op->timeout_ms, 0);
}

static void start_connect(iom_proactor *p, iom_op *op) {
  int flags = fcntl(op->fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK))
    fcntl(op->fd, F_SETFL, flags | O_NONBLOCK);
  if (connect(op->fd, op->addr, op->addrlen) == 0)
    iom__complete_later(p, op, 0);
  else if (errno == EINPROGRESS || errno == EAGAIN || errno == EINTR)
    enqueue(p, op); /* writable when it is over: SO_ERROR says how */
  else
    iom__complete_later(p, op, -errno);
}

/* Everything waiting on the fd ends (-ECANCELED), before the close's own
 * result. */
static void start_close(iom_proactor *p, iom_op *op) {
  efd *e = efd_find(p, op->fd);
  if (e) {
    fail_all(p, &e->readers, -ECANCELED);
    fail_all(p, &e->writers, -ECANCELED);
    efd_drop(e);
  }
  iom__complete_later(p, op, close(op->fd) < 0 ? -errno : 0);
}

/* The common part already answered for parked, queued and idle targets:
 * this one waits in a queue or a timer. */
static void start_cancel(iom_proactor *p, iom_op *op) {
  iom_op *t = op->target;
  unqueue(p, t);
  iom__complete_later(p, t, -ECANCELED);
  iom__complete_later(p, op, 0);
}

static void emu_start(iom_proactor *p, iom_op *op) {
  switch (op->kind) {
  case IOM_OP_TIMEOUT: start_timeout(p, op); break;
  case IOM_OP_CONNECT: start_connect(p, op); break;
  case IOM_OP_CLOSE: start_close(p, op); break;
  case IOM_OP_CANCEL: start_cancel(p, op); break;
  default: enqueue(p, op); break;
  }
}

static void emu_disarm(iom_proactor *p, iom_op *op) {
  unqueue(p, op);
  iom__complete_later(p, op, -ECANCELED);
}

/* ---- buffer groups: a stack of free ids -------------------------------------- */

static int emu_group_init(iom_bufgroup *g) {
  g->stack = iom__malloc(g->count * sizeof *g->stack);
  if (!g->stack)
    return -ENOMEM;
  for (unsigned i = 0; i < g->count; i++) /* id 0 on top */
    g->stack[i] = (uint16_t)(g->count - 1 - i);
  g->nfree = g->count;
  return 0;
}

static void emu_group_fini(iom_bufgroup *g) { iom__free(g->stack); }

static void emu_group_put(iom_bufgroup *g, unsigned id) {
  g->stack[g->nfree++] = (uint16_t)id;
}

/* ---- life ---------------------------------------------------------------------- */

static int emu_init(iom_proactor *p) {
  emu *m = iom__calloc(1, sizeof *m);
  if (!m)
    return -ENOMEM;
  p->impl = m;
  return 0;
}

static void emu_fini(iom_proactor *p) {
  emu *m = emu_of(p);
  iom__free(m->fds); /* every record went with its last op */
  iom__free(m);
}

const iom__proactor_ops iom__emulated_ops = {
    .name = "emulated",
    .init = emu_init,
    .fini = emu_fini,
    .start = emu_start,
    .disarm = emu_disarm,
    .group_init = emu_group_init,
    .group_fini = emu_group_fini,
    .group_put = emu_group_put,
};
