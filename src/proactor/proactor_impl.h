/* The proactor's private state, shared by proactor.c (what both backends
 * do the same way: checking ops, the completion queue, re-arming, buffer
 * groups' bookkeeping) and one file per backend (uring.c, emulated.c), each
 * of which defines an iom__proactor_ops (Redis ae's shape). */
#ifndef IOMUX_PROACTOR_IMPL_H
#define IOMUX_PROACTOR_IMPL_H

#include "iomux/proactor.h"

#include "../core/list.h"
#include "../loop/loop_internal.h"

/* op->priv.state */
enum {
  IOM__OP_IDLE = 0, /* the caller's */
  IOM__OP_ARMED,    /* with the backend (kernel, fd queue, timer) */
  IOM__OP_PARKED,   /* a recv waiting for its group to have a buffer */
  IOM__OP_QUEUED,   /* its final result waits in p->done */
};

/* How a result is delivered (iom__deliver's `more`). */
enum {
  IOM__FINAL = 0,  /* the op is over */
  IOM__ARMED = 1,  /* a multishot op the backend keeps armed */
  IOM__REARM = 2,  /* a multishot op done with single shots: the library
                      submits the next one unless the callback says stop */
};

/* Ops wait in core/list.h lists through op->priv.link. */
static inline iom_op *iom__op_of(iom__list *node) {
  return iom__list_entry(node, iom_op, priv.link);
}

/* The first op of a list, or NULL. */
static inline iom_op *iom__op_first(iom__list *l) {
  return iom__list_empty(l) ? NULL : iom__op_of(l->next);
}

static inline void iom__op_push(iom__list *l, iom_op *op) {
  iom__list_push_back(l, &op->priv.link);
}

static inline void iom__op_unlink(iom_op *op) {
  iom__list_remove(&op->priv.link);
}

typedef struct iom__proactor_ops {
  const char *name;
  int (*init)(iom_proactor *p);
  void (*fini)(iom_proactor *p);
  /* Hand a checked op (state ARMED) to the backend. Never fails: an error
   * completes the op through iom__complete_later. Also restarts parked
   * recvs and library re-arms. */
  void (*start)(iom_proactor *p, iom_op *op);
  /* Stop a multishot op the callback returned IOM_DONE for; its final
   * callback follows. */
  void (*disarm)(iom_proactor *p, iom_op *op);
  int (*group_init)(iom_bufgroup *g);
  void (*group_fini)(iom_bufgroup *g);
  /* Give buffer id back to where recvs pick from. */
  void (*group_put)(iom_bufgroup *g, unsigned id);
} iom__proactor_ops;

extern const iom__proactor_ops iom__emulated_ops;
#if defined(IOM_HAVE_LIBURING)
extern const iom__proactor_ops iom__uring_ops;
#endif

struct iom_proactor {
  iom_loop *loop;
  const iom__proactor_ops *ops;
  void *impl;            /* the backend's state */
  unsigned features;     /* IOM_PF_* */
  int inflight;          /* ops submitted, final callback not yet run */
  int ngroups;
  iom__list groups;      /* every group, for a close to find parked recvs */
  iom__list done;        /* final results to deliver on the next turn */
  iom__defer drain;      /* the loop's deferred call that delivers them */
};

struct iom_bufgroup {
  iom_proactor *p;
  char *base;            /* count * size bytes */
  size_t size;
  unsigned count, out;   /* out: handed to the caller, not yet put back */
  int users;             /* recvs in flight that pick from it */
  iom__list parked;      /* recvs paused until a buffer comes back */
  iom__list link;        /* in p->groups */
  /* emulated: the free buffers' ids, a stack */
  uint16_t *stack;
  unsigned nfree;
  /* uring: the buffer ring (or legacy provided buffers) */
  void *br;
  unsigned mask;
  int bgid;
};

/* Deliver one result: set op->more, call back, act on the return value
 * (re-arm, disarm, or nothing). A FINAL result makes the op the caller's
 * before the callback runs. */
void iom__deliver(iom_proactor *p, iom_op *op, int res, int more);

/* Queue a final result, delivered on a later turn of the loop (so never from
 * inside the call that produced it). */
void iom__complete_later(iom_proactor *p, iom_op *op, int res);

/* A recv found its group empty: park it (no callback) until a buffer is put
 * back. If the op was asked to stop meanwhile, it ends with -ECANCELED. */
void iom__park(iom_proactor *p, iom_op *op);

/* Restart parked recvs, one per buffer the library holds (uring calls it
 * after each batch of completions: a buffer may have come back between the
 * kernel's ENOBUFS and our reading of it). */
void iom__groups_kick(iom_proactor *p);

/* The buffer a recv got: hand it to the caller through op->rbuf/buf_id. */
void iom__take_buffer(iom_op *op, unsigned id);

/* Backend selection for tests and experiments: is `word` in the
 * comma-separated list IOM_URING_OFF? */
int iom__uring_off(const char *word);

#endif
