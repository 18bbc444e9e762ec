/* The io_uring proactor (liburing). Needs Linux 5.19 (cancel by fd for
 * close, multishot accept, buffer rings); later kernels add features, each
 * probed at run time and replaced when missing:
 *   multishot recv (6.0)        -> single-shot recvs the library re-arms
 *   multishot accept            -> the same, for accepts (IOM_URING_OFF only)
 *   buffer rings (5.19)         -> legacy provided buffers: giving one back
 *                                  is an SQE instead of a store
 *   SINGLE_ISSUER+DEFER_TASKRUN -> COOP_TASKRUN: completions are posted by
 *     (6.1)                        task work at any system call, not batched
 *                                  into our wait
 *   min-wait (6.12)             -> waiting for the first completion (see f)
 *
 * How it meets the loop: the loop waits here (iom__waiter), in one
 * io_uring_enter that submits everything prepared since the last one and
 * waits for a completion or the loop's timeout. The loop's own fds (timers
 * are the timeout; signals, async, pool, io watchers all go through the
 * selector) are watched by a one-shot poll on the epoll fd, re-armed after
 * each time it fires: one-shot, because the loop is level-triggered and a
 * multishot poll would not fire again for an fd the callbacks left ready.
 *
 * Kernel properties this file works around:
 *  a) user_data is the op's address; the low 2 bits (ops are at least
 *     4-aligned) carry a generation, so a cancel aimed at an op cannot hit
 *     its next life;
 *  b) a close leaves requests on the file pending (they hold the file, not
 *     the fd), so close = cancel-all-on-fd hard-linked to the close;
 *  c) a send the kernel takes in part is resubmitted by fd number: after a
 *     close of that fd, the number may name another socket. A per-fd close
 *     count (epochs) tells, and such a send ends with -ECANCELED;
 *  d) a multishot recv ends when the buffers run out (-ENOBUFS) or for other
 *     reasons (CQ overflow): the first parks (bufgroup.c), the second is
 *     re-armed by the library;
 *  e) the SQ may be full: submit what is there and take a slot again;
 *  f) a wait that returns at the first completion returns, on a busy
 *     server, with a handful: one io_uring_enter and one sleep per few
 *     messages. With many ops in flight the wait asks for a batch instead,
 *     one completion per 16 ops up to 64, and once 100 us have passed it
 *     settles for any (the kernel's min-wait). Few ops in flight (a lone
 *     connection) wait for one, as before, so no round trip waits for a
 *     batch that cannot come.
 */
#define _GNU_SOURCE
#include "proactor_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#define SQ_ENTRIES 4096
#define CQ_ENTRIES 16384
#define CQE_BATCH 256
#define MIN_WAIT_US 100 /* f) then any completion will do */
#define BATCH_PER 16    /* f) completions waited for: 1 per 16 ops in flight */
#define BATCH_MAX 64

#ifndef IORING_FEAT_MIN_TIMEOUT /* Linux 6.12; liburing 2.3 predates it */
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif

/* The ring's own requests: below any op's address. */
enum { TOKEN_IGNORE = 1, TOKEN_POLL = 2, TOKEN_MAX = 8 };
#define GEN_MASK 3u

typedef struct uring {
  struct io_uring ring;
  iom_proactor *p;
  int poll_fd;        /* the loop's epoll fd */
  int poll_armed, selector_ready;
  int defer, batch, min_wait, ring_registered;
  uint32_t *epochs;   /* per fd: closes started (c) */
  int nepochs;
  int next_bgid;
} uring;

typedef struct cqe_copy {
  uint64_t ud;
  int res;
  unsigned flags;
} cqe_copy;

static uring *ur_of(const iom_proactor *p) { return p->impl; }

static uint64_t token_of(const iom_op *op) {
  return (uint64_t)(uintptr_t)op | (op->priv.gen & GEN_MASK);
}

/* e) */
static struct io_uring_sqe *get_sqe(uring *u) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
  if (!sqe && io_uring_submit(&u->ring) >= 0)
    sqe = io_uring_get_sqe(&u->ring);
  return sqe;
}

static void flush_if_unbatched(uring *u) {
  if (!u->batch)
    io_uring_submit(&u->ring);
}

/* c) The op's first start notes its fd's close count; a restart (the rest
 * of a send, a re-arm, a parked recv) checks it. */
static int epoch_ok(uring *u, iom_op *op) {
  if (op->fd < 0)
    return 0;
  if (op->fd >= u->nepochs) {
    void *e = u->epochs;
    if (iom__grow_zeroed(&e, &u->nepochs, op->fd + 1, sizeof *u->epochs,
                         256) < 0)
      return -ENOMEM;
    u->epochs = e;
  }
  if (!op->priv.started) {
    op->priv.started = 1;
    op->priv.epoch = u->epochs[op->fd];
    return 0;
  }
  return op->priv.epoch == u->epochs[op->fd] ? 0 : -ECANCELED;
}

/* ---- preparing SQEs -------------------------------------------------------- */

static void prep_recv(uring *u, iom_op *op, struct io_uring_sqe *sqe) {
  if (!op->group) {
    io_uring_prep_recv(sqe, op->fd, op->buf, op->len, 0);
    return;
  }
  io_uring_prep_recv(sqe, op->fd, NULL, 0, 0); /* 0: the buffer's size */
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = (uint16_t)op->group->bgid;
  if ((op->flags & IOM_MULTISHOT) &&
      (u->p->features & IOM_PF_MULTISHOT_RECV))
    sqe->ioprio |= IORING_RECV_MULTISHOT;
}

static void prep_accept(uring *u, iom_op *op, struct io_uring_sqe *sqe) {
  int flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
  if ((op->flags & IOM_MULTISHOT) &&
      (u->p->features & IOM_PF_MULTISHOT_ACCEPT))
    io_uring_prep_multishot_accept(sqe, op->fd, NULL, NULL, flags);
  else
    io_uring_prep_accept(sqe, op->fd, NULL, NULL, flags);
}

static void prep_timeout(iom_op *op, struct io_uring_sqe *sqe) {
  op->priv.ts[0] = (int64_t)(op->timeout_ms / 1000);
  op->priv.ts[1] = (int64_t)(op->timeout_ms % 1000) * 1000000;
  io_uring_prep_timeout(sqe, (struct __kernel_timespec *)op->priv.ts, 0, 0);
}

static void prep_sqe(uring *u, iom_op *op, struct io_uring_sqe *sqe) {
  switch (op->kind) {
  case IOM_OP_ACCEPT: prep_accept(u, op, sqe); break;
  case IOM_OP_RECV: prep_recv(u, op, sqe); break;
  case IOM_OP_SEND:
    io_uring_prep_send(sqe, op->fd, (char *)op->buf + op->priv.sent,
                       op->len - op->priv.sent, MSG_NOSIGNAL);
    break;
  case IOM_OP_CONNECT:
    io_uring_prep_connect(sqe, op->fd, op->addr, op->addrlen);
    break;
  case IOM_OP_TIMEOUT: prep_timeout(op, sqe); break;
  case IOM_OP_CANCEL: io_uring_prep_cancel64(sqe, token_of(op->target), 0);
    break;
  default: io_uring_prep_close(sqe, op->fd); break;
  }
  io_uring_sqe_set_data64(sqe, token_of(op));
}

/* b) Two SQEs that must go in one submit, or the link breaks. */
static void start_close(uring *u, iom_op *op) {
  if (io_uring_sq_space_left(&u->ring) < 2)
    io_uring_submit(&u->ring);
  struct io_uring_sqe *cancel = get_sqe(u), *close;
  if (!cancel || !(close = get_sqe(u))) {
    if (cancel) { /* turn the taken slot into a no-op */
      io_uring_prep_nop(cancel);
      io_uring_sqe_set_data64(cancel, TOKEN_IGNORE);
    }
    iom__complete_later(u->p, op, -EBUSY);
    return;
  }
  u->epochs[op->fd]++;
  io_uring_prep_cancel_fd(cancel, op->fd, IORING_ASYNC_CANCEL_ALL);
  cancel->flags |= IOSQE_IO_HARDLINK;
  io_uring_sqe_set_data64(cancel, TOKEN_IGNORE);
  prep_sqe(u, op, close);
}

static void ur_start(iom_proactor *p, iom_op *op) {
  uring *u = ur_of(p);
  int err = epoch_ok(u, op);
  if (err < 0) {
    iom__complete_later(p, op, err);
    return;
  }
  if (op->kind == IOM_OP_CLOSE) {
    start_close(u, op);
  } else {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) {
      iom__complete_later(p, op, -EBUSY);
      return;
    }
    prep_sqe(u, op, sqe);
  }
  flush_if_unbatched(u);
}

static void ur_disarm(iom_proactor *p, iom_op *op) {
  uring *u = ur_of(p);
  struct io_uring_sqe *sqe = get_sqe(u);
  if (!sqe) { /* it stays armed; the caller's next IOM_DONE tries again */
    op->priv.disarm = 0;
    return;
  }
  io_uring_prep_cancel64(sqe, token_of(op), 0);
  io_uring_sqe_set_data64(sqe, TOKEN_IGNORE);
  flush_if_unbatched(u);
}

/* ---- completions ------------------------------------------------------------- */

/* A send's result. Returns 0 if the rest was resubmitted (no callback). */
static int send_result(uring *u, iom_op *op, int *res) {
  if (*res <= 0)
    return 1;
  op->priv.sent += (size_t)*res;
  if (op->priv.sent < op->len) {
    ur_start(u->p, op);
    return 0;
  }
  *res = (int)op->priv.sent;
  return 1;
}

/* A recv from a group. Returns 0 if it parked (d). */
static int group_recv_result(uring *u, iom_op *op, int res, unsigned flags) {
  if (res == -ENOBUFS) {
    iom__park(u->p, op);
    return 0;
  }
  if (flags & IORING_CQE_F_BUFFER) {
    unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
    if (res > 0)
      iom__take_buffer(op, id);
    else /* no data in it: straight back */
      u->p->ops->group_put(op->group, id);
  }
  return 1;
}

/* d) A multishot op that ended with a good result goes on. */
static int library_rearms(const iom_op *op, int res) {
  if (!(op->flags & IOM_MULTISHOT) || op->priv.disarm)
    return 0;
  return op->kind == IOM_OP_ACCEPT ? res >= 0 : res > 0;
}

static void handle(uring *u, const cqe_copy *c) {
  if (c->ud < TOKEN_MAX) {
    if (c->ud == TOKEN_POLL) { /* the loop's fds: poll them, re-arm */
      u->poll_armed = 0;
      u->selector_ready = 1;
    }
    return;
  }
  iom_op *op = (iom_op *)(uintptr_t)(c->ud & ~(uint64_t)GEN_MASK);
  int res = c->res;
  int more = (c->flags & IORING_CQE_F_MORE) ? IOM__ARMED : IOM__FINAL;
  if (op->kind == IOM_OP_SEND && !send_result(u, op, &res))
    return;
  if (op->kind == IOM_OP_RECV && op->group &&
      !group_recv_result(u, op, res, c->flags))
    return;
  if (op->kind == IOM_OP_TIMEOUT && res == -ETIME)
    res = 0;
  if (more == IOM__FINAL && library_rearms(op, res))
    more = IOM__REARM;
  iom__deliver(u->p, op, res, more);
}

/* The waiter's dispatch: every completion there is, in batches (the CQ
 * slots are freed before the callbacks run, so their submissions cannot
 * overwrite what we read), then parked recvs get their chance. */
static int ur_dispatch(void *ctx) {
  uring *u = ctx;
  cqe_copy batch[CQE_BATCH];
  u->selector_ready = 0;
  for (int round = 0; round < CQ_ENTRIES / CQE_BATCH; round++) {
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
      batch[n] = (cqe_copy){cqe->user_data, cqe->res, cqe->flags};
      if (++n == CQE_BATCH)
        break;
    }
    if (n == 0)
      break;
    io_uring_cq_advance(&u->ring, n);
    for (unsigned i = 0; i < n; i++)
      handle(u, &batch[i]);
  }
  iom__groups_kick(u->p);
  return u->selector_ready;
}

/* The loop's fds: a one-shot poll on the epoll fd (see the top). */
static void arm_poll(uring *u) {
  if (u->poll_armed)
    return;
  struct io_uring_sqe *sqe = get_sqe(u);
  if (!sqe)
    return;
  io_uring_prep_poll_add(sqe, u->poll_fd, POLLIN);
  io_uring_sqe_set_data64(sqe, TOKEN_POLL);
  u->poll_armed = 1;
}

/* f) Publish the prepared SQEs as io_uring_submit() would (liburing 2.3
 * has no call that submits and waits with a min-wait). The SQ array maps
 * slot i to SQE i, as liburing sets it up. Returns how many wait. */
static unsigned flush_sq(struct io_uring *r) {
  unsigned tail = r->sq.sqe_tail;
  if (r->sq.sqe_head != tail) {
    r->sq.sqe_head = tail;
    __atomic_store_n(r->sq.ktail, tail, __ATOMIC_RELEASE);
  }
  return tail - __atomic_load_n(r->sq.khead, __ATOMIC_ACQUIRE);
}

static struct __kernel_timespec ts_of_ms(int ms) {
  return (struct __kernel_timespec){.tv_sec = ms / 1000,
                                    .tv_nsec = (ms % 1000) * 1000000LL};
}

/* f) Submit, and wait for `want` completions, or at least one once
 * MIN_WAIT_US have passed, or the loop's timeout. */
static int wait_batch(uring *u, unsigned want, int timeout_ms) {
  struct __kernel_timespec ts = ts_of_ms(timeout_ms);
  struct io_uring_getevents_arg arg = {
      .sigmask_sz = _NSIG / 8,
      .pad = MIN_WAIT_US, /* min_wait_usec in kernels that have it */
      .ts = timeout_ms > 0 ? (uint64_t)(uintptr_t)&ts : 0,
  };
  unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
  int fd = u->ring.ring_fd;
  if (u->ring_registered) {
    fd = u->ring.enter_ring_fd;
    flags |= IORING_ENTER_REGISTERED_RING;
  }
  return io_uring_enter2((unsigned)fd, flush_sq(&u->ring), want, flags,
                         (sigset_t *)&arg, sizeof arg);
}

/* f) One completion per BATCH_PER ops in flight, 1 to BATCH_MAX. */
static unsigned batch_want(const uring *u) {
  unsigned want = (unsigned)u->p->inflight / BATCH_PER;
  return want < 1 ? 1 : want > BATCH_MAX ? BATCH_MAX : want;
}

/* The waiter's wait: one io_uring_enter submits and waits. */
static int ur_wait(void *ctx, int timeout_ms) {
  uring *u = ctx;
  struct io_uring_cqe *cqe;
  int ret;
  unsigned want = u->min_wait ? batch_want(u) : 1;
  arm_poll(u);
  if (timeout_ms != 0 && want > 1) {
    ret = wait_batch(u, want, timeout_ms);
  } else if (timeout_ms == 0) {
    ret = u->defer ? io_uring_submit_and_get_events(&u->ring)
                   : io_uring_submit(&u->ring);
  } else if (timeout_ms < 0) {
    ret = io_uring_submit_and_wait(&u->ring, 1);
  } else {
    struct __kernel_timespec ts = ts_of_ms(timeout_ms);
    ret = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
  }
  /* Timed out, interrupted by a signal (its callback comes through the
   * selector), or the CQ is backed up (dispatch empties it): all fine. */
  if (ret >= 0 || ret == -ETIME || ret == -EINTR || ret == -EAGAIN ||
      ret == -EBUSY)
    return 0;
  return ret;
}

/* ---- buffer groups ------------------------------------------------------------ */

static int ring_group_init(uring *u, iom_bufgroup *g) {
  size_t bytes = g->count * sizeof(struct io_uring_buf);
  struct io_uring_buf_ring *br = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                                      MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (br == MAP_FAILED)
    return -ENOMEM;
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br,
                                 .ring_entries = g->count,
                                 .bgid = (uint16_t)g->bgid};
  int err = io_uring_register_buf_ring(&u->ring, &reg, 0);
  if (err < 0) {
    munmap(br, bytes);
    return err;
  }
  io_uring_buf_ring_init(br);
  for (unsigned i = 0; i < g->count; i++)
    io_uring_buf_ring_add(br, iom_bufgroup_buf(g, i), (unsigned)g->size,
                          (unsigned short)i, (int)g->mask, (int)i);
  io_uring_buf_ring_advance(br, (int)g->count);
  g->br = br;
  return 0;
}

/* Legacy provided buffers: handed over by an SQE that goes with the next
 * submit, ahead of any recv that could pick from them. */
static int provide(uring *u, iom_bufgroup *g, unsigned id, unsigned nr) {
  struct io_uring_sqe *sqe = get_sqe(u);
  if (!sqe)
    return -EBUSY;
  io_uring_prep_provide_buffers(sqe, iom_bufgroup_buf(g, id), (int)g->size,
                                (int)nr, g->bgid, (int)id);
  io_uring_sqe_set_data64(sqe, TOKEN_IGNORE);
  return 0;
}

static int ur_group_init(iom_bufgroup *g) {
  uring *u = ur_of(g->p);
  if (u->next_bgid > 65535)
    return -ENOSPC;
  g->bgid = u->next_bgid++;
  g->mask = g->count - 1;
  if (g->p->features & IOM_PF_BUF_RING)
    return ring_group_init(u, g);
  return provide(u, g, 0, g->count);
}

static void ur_group_fini(iom_bufgroup *g) {
  uring *u = ur_of(g->p);
  if (g->br) {
    io_uring_unregister_buf_ring(&u->ring, g->bgid);
    munmap(g->br, g->count * sizeof(struct io_uring_buf));
    return;
  }
  /* No recv picks from it any more (users == 0), so the kernel will not
   * touch the memory before this removal is submitted. */
  struct io_uring_sqe *sqe = get_sqe(u);
  if (sqe) {
    io_uring_prep_remove_buffers(sqe, (int)g->count, g->bgid);
    io_uring_sqe_set_data64(sqe, TOKEN_IGNORE);
  }
}

static void ur_group_put(iom_bufgroup *g, unsigned id) {
  if (!g->br) {
    provide(ur_of(g->p), g, id, 1);
    return;
  }
  io_uring_buf_ring_add(g->br, iom_bufgroup_buf(g, id), (unsigned)g->size,
                        (unsigned short)id, (int)g->mask, 0);
  io_uring_buf_ring_advance(g->br, 1);
}

/* ---- setting up: probe, then take the best the kernel has ------------------------ */

static int setup_ring(uring *u, unsigned *features) {
  static const unsigned tries[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      0,
  };
  struct io_uring_params prm;
  int err = -EINVAL;
  for (int i = iom__uring_off("defer") ? 1 : 0; i < 3 && err == -EINVAL; i++) {
    memset(&prm, 0, sizeof prm);
    prm.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | tries[i];
    prm.cq_entries = CQ_ENTRIES;
    err = io_uring_queue_init_params(SQ_ENTRIES, &u->ring, &prm);
  }
  if (err < 0)
    return err;
  unsigned need = IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL |
                  IORING_FEAT_EXT_ARG;
  if ((prm.features & need) != need) {
    io_uring_queue_exit(&u->ring);
    return -ENOSYS;
  }
  if (prm.flags & IORING_SETUP_DEFER_TASKRUN) {
    u->defer = 1;
    *features |= IOM_PF_SINGLE_ISSUER | IOM_PF_DEFER_TASKRUN;
  }
  /* saves an fd lookup per enter */
  u->ring_registered = io_uring_register_ring_fd(&u->ring) == 1;
  if ((prm.features & IORING_FEAT_MIN_TIMEOUT) && u->defer &&
      !iom__uring_off("minwait")) {
    u->min_wait = 1;
    *features |= IOM_PF_MIN_WAIT;
  }
  return 0;
}

/* Registering a one-entry buffer ring tells whether the kernel has them. */
static int probe_buf_ring(uring *u) {
  void *br = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                  MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (br == MAP_FAILED)
    return 0;
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br,
                                 .ring_entries = 1, .bgid = 0};
  int ok = io_uring_register_buf_ring(&u->ring, &reg, 0) == 0;
  if (ok)
    io_uring_unregister_buf_ring(&u->ring, 0);
  munmap(br, 4096);
  return ok;
}

/* Opcodes stand for the flags no probe reports: SOCKET came with multishot
 * accept and cancel-by-fd (5.19), SEND_ZC with multishot recv (6.0). */
static int probe(uring *u, unsigned *features) {
  struct io_uring_probe *pr = io_uring_get_probe_ring(&u->ring);
  if (!pr)
    return -ENOSYS;
  int base = io_uring_opcode_supported(pr, IORING_OP_SOCKET);
  int recv_ms = io_uring_opcode_supported(pr, IORING_OP_SEND_ZC);
  io_uring_free_probe(pr);
  if (!base)
    return -ENOSYS;
  *features |= IOM_PF_PROVIDED_BUFS;
  if (!iom__uring_off("multishot"))
    *features |= IOM_PF_MULTISHOT_ACCEPT | (recv_ms ? IOM_PF_MULTISHOT_RECV : 0);
  if (!iom__uring_off("bufring") && probe_buf_ring(u))
    *features |= IOM_PF_BUF_RING;
  if (!iom__uring_off("batch")) {
    *features |= IOM_PF_BATCHED;
    u->batch = 1;
  }
  return 0;
}

static int ur_open(iom_proactor *p, uring *u) {
  if (iom__uring_off("ring")) /* as under seccomp or io_uring_disabled */
    return -EPERM;
  u->p = p;
  u->next_bgid = 1;
  u->poll_fd = iom__loop_poll_fd(p->loop);
  if (u->poll_fd < 0)
    return -EOPNOTSUPP;
  int err = setup_ring(u, &p->features);
  if (err < 0)
    return err;
  iom__waiter w = {ur_wait, ur_dispatch, u};
  if ((err = probe(u, &p->features)) < 0 ||
      (err = iom__loop_set_waiter(p->loop, &w)) < 0)
    io_uring_queue_exit(&u->ring);
  return err;
}

static int ur_init(iom_proactor *p) {
  uring *u = iom__calloc(1, sizeof *u);
  if (!u)
    return -ENOMEM;
  int err = ur_open(p, u);
  if (err < 0) {
    iom__free(u);
    p->features = 0;
    return err;
  }
  p->impl = u;
  return 0;
}

static void ur_fini(iom_proactor *p) {
  uring *u = ur_of(p);
  iom__loop_set_waiter(p->loop, NULL);
  io_uring_queue_exit(&u->ring); /* also ends the poll on the epoll fd */
  iom__free(u->epochs);
  iom__free(u);
}

const iom__proactor_ops iom__uring_ops = {
    .name = "uring",
    .init = ur_init,
    .fini = ur_fini,
    .start = ur_start,
    .disarm = ur_disarm,
    .group_init = ur_group_init,
    .group_fini = ur_group_fini,
    .group_put = ur_group_put,
};
