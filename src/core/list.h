/* An intrusive doubly linked list: circular, with a sentinel head, so adding
 * and removing are O(1) and need no allocation (libuv's queue.h shape).
 *
 * A node knows nothing of its list: it can be removed without the head, and
 * a removed node has next == NULL, which is how "am I queued?" is asked.
 * A node is in at most one list at a time.
 */
#ifndef IOMUX_CORE_LIST_H
#define IOMUX_CORE_LIST_H

#include <stddef.h>

/* The node type is also declared, with the same guard, in the public
 * proactor.h, whose caller-allocated ops carry one. */
#ifndef IOM__LINK_DEFINED
#define IOM__LINK_DEFINED
struct iom__link {
  struct iom__link *prev, *next;
};
#endif
typedef struct iom__link iom__list;

/* The struct of type `type` whose member `member` is at `node`. */
#define iom__list_entry(node, type, member)                                    \
  ((type *)(void *)((char *)(node) - offsetof(type, member)))

static inline void iom__list_init(iom__list *head) {
  head->prev = head->next = head;
}

static inline int iom__list_empty(const iom__list *head) {
  return head->next == head;
}

/* Whether `node` is in some list. */
static inline int iom__list_linked(const iom__list *node) {
  return node->next != NULL;
}

static inline void iom__list_push_back(iom__list *head, iom__list *node) {
  node->next = head;
  node->prev = head->prev;
  node->prev->next = node;
  head->prev = node;
}

/* Unlink `node` from whatever list holds it; a no-op if it is in none. */
static inline void iom__list_remove(iom__list *node) {
  if (!node->next)
    return;
  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->prev = node->next = NULL;
}

/* The first node, unlinked, or NULL when the list is empty. */
static inline iom__list *iom__list_pop(iom__list *head) {
  if (iom__list_empty(head))
    return NULL;
  iom__list *node = head->next;
  iom__list_remove(node);
  return node;
}

/* Move every node of `from` to the empty list `to`; `from` is left empty. */
static inline void iom__list_move(iom__list *from, iom__list *to) {
  if (iom__list_empty(from)) {
    iom__list_init(to);
    return;
  }
  to->next = from->next;
  to->prev = from->prev;
  to->next->prev = to->prev->next = to;
  iom__list_init(from);
}

/* Visit each node in order; the visit must not remove any (for that, the
 * walk below). */
#define iom__list_each(node, head)                                             \
  for (iom__list *node = (head)->next; node != (head); node = node->next)

/* A walk over `head` that survives anything the visit does to the list:
 * removing the node being visited or any other, adding nodes (those are not
 * visited). Start with iom__list_move(head, &rest); then each call moves the
 * next unvisited node from `rest` back to the end of `head` and returns it,
 * or returns NULL when none is left:
 *
 *   iom__list rest, *node;
 *   iom__list_move(&loop->asyncs, &rest);
 *   while ((node = iom__list_walk_next(&loop->asyncs, &rest)))
 *     visit(iom__list_entry(node, iom_async, link));
 *
 * The walk must run to its end (no break), or the rest is lost. */
static inline iom__list *iom__list_walk_next(iom__list *head, iom__list *rest) {
  iom__list *node = iom__list_pop(rest);
  if (node)
    iom__list_push_back(head, node);
  return node;
}

#endif
