/* A deferred call (asyncio's call_soon) as a node that its owner embeds, so
 * a stream or a proactor schedules and cancels its own in O(1) with no
 * allocation. The queue is the loop's (loop_internal.h: iom__defer_*); this
 * is only the node, shared by every layer like the list it is made of. */
#ifndef IOMUX_CORE_DEFER_H
#define IOMUX_CORE_DEFER_H

#include "list.h"

typedef struct iom__defer {
  iom__list link; /* in the loop's queue; unlinked when not queued */
  void (*fn)(void *data);
  void *data;
  int pooled; /* made by iom_loop_call_soon: goes back to its free list */
} iom__defer;

#endif
