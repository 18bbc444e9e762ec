/* Buffer groups: the buffers a recv's data lands in when the kernel picks
 * (provided buffers). The memory and the count of buffers handed to the
 * caller live here; where the free ones wait is the backend's (uring: a
 * buffer ring the kernel reads; emulated: a stack of ids).
 *
 * A recv that finds the group empty parks here instead of failing: the data
 * stays in the socket, and the recv restarts when a buffer comes back. One
 * parked recv restarts per free buffer, so a burst of puts does not send a
 * thousand recvs after one buffer.
 */
#include "proactor_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>

int iom_bufgroup_new(iom_proactor *p, unsigned count, size_t size,
                     iom_bufgroup **out) {
  if (count == 0 || count > 32768 || (count & (count - 1)) || size == 0 ||
      size > (1u << 20))
    return -EINVAL;
  iom_bufgroup *g = iom__calloc(1, sizeof *g);
  if (!g)
    return -ENOMEM;
  g->p = p;
  g->count = count;
  g->size = size;
  g->base = iom__malloc(count * size);
  int err = g->base ? p->ops->group_init(g) : -ENOMEM;
  if (err < 0) {
    iom__free(g->base);
    iom__free(g);
    return err;
  }
  iom__list_init(&g->parked);
  iom__list_push_back(&p->groups, &g->link);
  p->ngroups++;
  *out = g;
  return 0;
}

int iom_bufgroup_free(iom_bufgroup *g) {
  if (!g)
    return 0;
  if (g->out > 0 || g->users > 0)
    return -EBUSY;
  iom_proactor *p = g->p;
  p->ops->group_fini(g);
  iom__list_remove(&g->link);
  p->ngroups--;
  iom__free(g->base);
  iom__free(g);
  return 0;
}

void *iom_bufgroup_buf(const iom_bufgroup *g, unsigned id) {
  return id < g->count ? g->base + (size_t)id * g->size : NULL;
}

size_t iom_bufgroup_size(const iom_bufgroup *g) { return g->size; }

unsigned iom_bufgroup_available(const iom_bufgroup *g) {
  return g->count - g->out;
}

void iom__take_buffer(iom_op *op, unsigned id) {
  op->rbuf = iom_bufgroup_buf(op->group, id);
  op->buf_id = id;
  op->group->out++;
}

void iom__park(iom_proactor *p, iom_op *op) {
  if (op->priv.disarm) { /* it was asked to stop: this is its end */
    iom__complete_later(p, op, -ECANCELED);
    return;
  }
  op->priv.state = IOM__OP_PARKED;
  iom__op_push(&op->group->parked, op);
}

static void kick(iom_bufgroup *g) {
  unsigned n = g->count - g->out;
  iom_op *op;
  while (n-- > 0 && (op = iom__op_first(&g->parked))) {
    iom__op_unlink(op);
    op->priv.state = IOM__OP_ARMED;
    g->p->ops->start(g->p, op);
  }
}

void iom__groups_kick(iom_proactor *p) {
  iom__list_each(node, &p->groups) {
    iom_bufgroup *g = iom__list_entry(node, iom_bufgroup, link);
    if (!iom__list_empty(&g->parked))
      kick(g);
  }
}

void iom_bufgroup_put(iom_bufgroup *g, unsigned id) {
  if (id >= g->count || g->out == 0)
    return; /* not one of ours: ignore rather than corrupt the ring */
  g->out--;
  g->p->ops->group_put(g, id);
  if (!iom__list_empty(&g->parked))
    kick(g);
}
