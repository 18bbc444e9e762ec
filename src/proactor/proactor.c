/* The proactor's shared half: choosing a backend, checking ops, delivering
 * results and acting on the callback's re-arm return, the completion queue.
 *
 * Every result reaches the caller through iom__deliver(), from one of two
 * places: the backend's own dispatch (uring: a CQE; emulated: a ready fd or
 * a timer), or the completion queue, a deferred call of the loop that
 * delivers the results produced inside a call (a cancel that found its
 * target parked, a close's victims, an error at start). So a callback never
 * runs from inside iom_proactor_submit(), and ordering within the queue is
 * the order the results were produced.
 *
 * An op holds the loop (iom__loop_hold) from submit until its final
 * callback: in-flight I/O keeps iom_loop_run(DEFAULT) going, and the loop
 * refuses to be freed under it.
 */
#include "proactor_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- preparing ------------------------------------------------------------ */

static void prep(iom_op *op, iom_op_kind kind, int fd, iom_op_cb cb,
                 void *data) {
  memset(op, 0, sizeof *op);
  op->kind = kind;
  op->fd = fd;
  op->cb = cb;
  op->data = data;
}

void iom_prep_accept(iom_op *op, int fd, unsigned flags, iom_op_cb cb,
                     void *data) {
  prep(op, IOM_OP_ACCEPT, fd, cb, data);
  op->flags = flags;
}

void iom_prep_recv(iom_op *op, int fd, void *buf, size_t len, iom_op_cb cb,
                   void *data) {
  prep(op, IOM_OP_RECV, fd, cb, data);
  op->buf = buf;
  op->len = len;
}

void iom_prep_recv_group(iom_op *op, int fd, iom_bufgroup *g, unsigned flags,
                         iom_op_cb cb, void *data) {
  prep(op, IOM_OP_RECV, fd, cb, data);
  op->group = g;
  op->flags = flags;
}

void iom_prep_send(iom_op *op, int fd, const void *buf, size_t len,
                   iom_op_cb cb, void *data) {
  prep(op, IOM_OP_SEND, fd, cb, data);
  op->buf = (void *)buf; /* only read from, as the header says */
  op->len = len;
}

void iom_prep_connect(iom_op *op, int fd, const struct sockaddr *addr,
                      socklen_t addrlen, iom_op_cb cb, void *data) {
  prep(op, IOM_OP_CONNECT, fd, cb, data);
  op->addr = addr;
  op->addrlen = addrlen;
}

void iom_prep_close(iom_op *op, int fd, iom_op_cb cb, void *data) {
  prep(op, IOM_OP_CLOSE, fd, cb, data);
}

void iom_prep_timeout(iom_op *op, uint64_t ms, iom_op_cb cb, void *data) {
  prep(op, IOM_OP_TIMEOUT, -1, cb, data);
  op->timeout_ms = ms;
}

void iom_prep_cancel(iom_op *op, iom_op *target, iom_op_cb cb, void *data) {
  prep(op, IOM_OP_CANCEL, -1, cb, data);
  op->target = target;
}

/* ---- the proactor --------------------------------------------------------- */

int iom__uring_off(const char *word) {
  const char *list = getenv("IOM_URING_OFF");
  size_t n = strlen(word);
  for (const char *s = list; s && *s;) {
    size_t len = strcspn(s, ",");
    if (len == n && strncmp(s, word, n) == 0)
      return 1;
    s += len + (s[len] == ',');
  }
  return 0;
}

static void drain(void *arg);

static int open_backend(iom_proactor *p, const iom__proactor_ops *ops) {
  p->ops = ops;
  p->features = 0;
  return ops->init(p);
}

/* IOM_PROACTOR overrides DEFAULT; an unknown value is an error, so a typo
 * in a test or a demo shows rather than silently picking a backend. */
static int kind_from_env(iom_proactor_kind *kind) {
  const char *env = getenv("IOM_PROACTOR");
  if (*kind != IOM_PROACTOR_DEFAULT || !env || !*env)
    return 0;
  if (strcmp(env, "uring") == 0)
    *kind = IOM_PROACTOR_URING;
  else if (strcmp(env, "emulated") == 0)
    *kind = IOM_PROACTOR_EMULATED;
  else
    return -EINVAL;
  return 0;
}

static int choose_backend(iom_proactor *p, iom_proactor_kind kind) {
  int err = -ENOSYS;
#if defined(IOM_HAVE_LIBURING)
  if (kind != IOM_PROACTOR_EMULATED) {
    err = open_backend(p, &iom__uring_ops);
    if (err == 0 || kind == IOM_PROACTOR_URING)
      return err;
  }
#endif
  if (kind == IOM_PROACTOR_URING)
    return err;
  return open_backend(p, &iom__emulated_ops);
}

int iom_proactor_new(iom_loop *loop, iom_proactor_kind kind,
                     iom_proactor **out) {
  if (kind < IOM_PROACTOR_DEFAULT || kind > IOM_PROACTOR_EMULATED)
    return -EINVAL;
  int err = kind_from_env(&kind);
  if (err < 0)
    return err;
  iom_proactor *p = iom__calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  p->loop = loop;
  iom__list_init(&p->groups);
  iom__list_init(&p->done);
  iom__defer_init(&p->drain, drain, p);
  err = choose_backend(p, kind);
  if (err < 0) {
    iom__free(p);
    return err;
  }
  iom__loop_handle_add(loop); /* the loop may not go before its proactor */
  *out = p;
  return 0;
}

int iom_proactor_free(iom_proactor *p) {
  if (!p)
    return 0;
  if (p->inflight > 0 || p->ngroups > 0)
    return -EBUSY;
  iom__defer_cancel(p->loop, &p->drain);
  p->ops->fini(p);
  iom__loop_handle_del(p->loop);
  iom__free(p);
  return 0;
}

const char *iom_proactor_backend(const iom_proactor *p) {
  return p->ops->name;
}

unsigned iom_proactor_features(const iom_proactor *p) { return p->features; }

int iom_proactor_inflight(const iom_proactor *p) { return p->inflight; }

/* ---- submitting ----------------------------------------------------------- */

static int check_flags(const iom_op *op, int multishot_ok) {
  return (op->flags & ~(multishot_ok ? IOM_MULTISHOT : 0u)) ? -EINVAL : 0;
}

static int check(const iom_proactor *p, const iom_op *op) {
  if (op->priv.state != IOM__OP_IDLE)
    return -EBUSY;
  if (!op->cb)
    return -EINVAL;
  switch (op->kind) {
  case IOM_OP_ACCEPT:
    return op->fd < 0 ? -EBADF : check_flags(op, 1);
  case IOM_OP_RECV:
    if (op->fd < 0)
      return -EBADF;
    if (op->len > INT_MAX) /* results are ints */
      return -EINVAL;
    if (op->group)
      return op->group->p != p ? -EINVAL : check_flags(op, 1);
    return !op->buf && op->len ? -EINVAL : check_flags(op, 0);
  case IOM_OP_SEND:
    if (op->fd < 0)
      return -EBADF;
    if (op->len > INT_MAX)
      return -EINVAL;
    return !op->buf && op->len ? -EINVAL : check_flags(op, 0);
  case IOM_OP_CONNECT:
    if (op->fd < 0)
      return -EBADF;
    return !op->addr || op->addrlen == 0 ? -EINVAL : check_flags(op, 0);
  case IOM_OP_CLOSE:
    return op->fd < 0 ? -EBADF : check_flags(op, 0);
  case IOM_OP_TIMEOUT:
    return check_flags(op, 0);
  case IOM_OP_CANCEL:
    return !op->target || op->target == op ? -EINVAL : check_flags(op, 0);
  default:
    return -EINVAL;
  }
}

/* The op becomes the library's. */
static void arm(iom_proactor *p, iom_op *op) {
  op->priv.state = IOM__OP_ARMED;
  op->priv.p = p;
  op->priv.sent = 0;
  op->priv.disarm = 0;
  op->priv.started = 0;
  op->priv.gen++;
  op->more = 0;
  op->rbuf = NULL;
  if (op->kind == IOM_OP_RECV && op->group)
    op->group->users++;
  p->inflight++;
  iom__loop_hold(p->loop);
}

/* ...and the caller's again. */
static void retire(iom_proactor *p, iom_op *op) {
  op->priv.state = IOM__OP_IDLE;
  if (op->kind == IOM_OP_RECV && op->group)
    op->group->users--;
  p->inflight--;
  iom__loop_release(p->loop);
}

/* A cancel the backend need not see: its target is parked, queued or not
 * in flight. Returns 1 if handled here. */
static int cancel_here(iom_proactor *p, iom_op *op) {
  iom_op *t = op->target;
  if (t->priv.state == IOM__OP_PARKED) {
    iom__op_unlink(t);
    iom__complete_later(p, t, -ECANCELED);
    iom__complete_later(p, op, 0);
    return 1;
  }
  if (t->priv.state != IOM__OP_ARMED || t->priv.p != p) {
    iom__complete_later(p, op, -ENOENT); /* over, or its result is queued */
    return 1;
  }
  t->priv.disarm = 1; /* a library re-arm must not bring it back */
  return 0;
}

/* A close cancels the recvs parked on its fd here; the backend cancels the
 * ones it holds. */
static void cancel_parked_on(iom_proactor *p, int fd) {
  iom__list_each(node, &p->groups) {
    iom_bufgroup *g = iom__list_entry(node, iom_bufgroup, link);
    iom__list rest, *link;
    iom__list_move(&g->parked, &rest);
    while ((link = iom__list_walk_next(&g->parked, &rest))) {
      iom_op *op = iom__op_of(link);
      if (op->fd == fd) {
        iom__op_unlink(op);
        iom__complete_later(p, op, -ECANCELED);
      }
    }
  }
}

int iom_proactor_submit(iom_proactor *p, iom_op *op) {
  int err = check(p, op);
  if (err < 0)
    return err;
  arm(p, op);
  if (op->kind == IOM_OP_CANCEL && cancel_here(p, op))
    return 0;
  if (op->kind == IOM_OP_CLOSE)
    cancel_parked_on(p, op->fd);
  p->ops->start(p, op);
  return 0;
}

/* ---- delivering ------------------------------------------------------------ */

void iom__complete_later(iom_proactor *p, iom_op *op, int res) {
  op->priv.state = IOM__OP_QUEUED;
  op->priv.res = res;
  iom__op_push(&p->done, op);
  iom__defer_schedule(p->loop, &p->drain);
}

/* The deferred call: deliver the results queued so far; ones queued by
 * these callbacks wait for the next turn (as the loop's own deferred calls
 * do), so a callback that keeps failing a re-arm cannot hold the loop. */
static void drain(void *arg) {
  iom_proactor *p = arg;
  iom__list batch;
  iom__list_move(&p->done, &batch);
  iom_op *op;
  while ((op = iom__op_first(&batch))) {
    iom__op_unlink(op);
    iom__deliver(p, op, op->priv.res, IOM__FINAL);
  }
}

/* The callback returned IOM_REARM on its final result: the op goes again.
 * If it no longer passes the checks, the error is its next final result. */
static void resubmit(iom_proactor *p, iom_op *op) {
  int err = iom_proactor_submit(p, op);
  if (err < 0) {
    arm(p, op);
    iom__complete_later(p, op, err);
  }
}

void iom__deliver(iom_proactor *p, iom_op *op, int res, int more) {
  op->more = more != IOM__FINAL;
  if (more == IOM__FINAL)
    retire(p, op);
  int again = op->cb(op, res) == IOM_REARM;
  if (more == IOM__FINAL) {
    if (again)
      resubmit(p, op);
    return; /* else the op may be gone already: touch nothing */
  }
  if (op->priv.state != IOM__OP_ARMED)
    return; /* the callback cancelled or closed it: its end is queued */
  if (more == IOM__ARMED) {
    if (!again && !op->priv.disarm) {
      op->priv.disarm = 1;
      p->ops->disarm(p, op);
    }
    return;
  }
  if (again && !op->priv.disarm)
    p->ops->start(p, op);
  else
    iom__complete_later(p, op, -ECANCELED);
}
