/* What the layers above the loop inside the library (stream, pool) need from
 * it beyond the public API. */
#ifndef IOMUX_LOOP_INTERNAL_H
#define IOMUX_LOOP_INTERNAL_H

#include "iomux/loop.h"

/* Count something that keeps the loop alive and makes iom_loop_free() return
 * -EBUSY (pool work in flight), and stop counting it. Loop thread only. */
void iom__loop_hold(iom_loop *loop);
void iom__loop_release(iom_loop *loop);

/* Attach an extension object (the pool) to the loop: `fini(ext)` runs when
 * the loop is freed. One per slot; returns the current object of the slot. */
typedef enum iom__loop_ext {
  IOM__EXT_POOL = 0,   /* pool.c: the worker pool */
  IOM__EXT_STREAM = 1, /* stream: the read buffer the loop's streams share */
  IOM__EXT_COUNT
} iom__loop_ext;
void *iom__loop_ext_get(const iom_loop *loop, iom__loop_ext slot);
void iom__loop_ext_set(iom_loop *loop, iom__loop_ext slot, void *ext,
                       void (*fini)(void *ext));

#endif
