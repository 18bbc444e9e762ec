/* The walk (iom_loop_walk): every handle the app made, on one list.
 *
 * Each handle embeds a node (iom__walk_node) that is linked when the
 * handle is made and unlinked when it is freed, so keeping the list costs
 * nothing per event. Handles the library makes for its own use are
 * unlinked by the layer that made them (iom__*_hide), and the loop's own
 * wake-up watcher is never linked. The walk is list.h's removal-safe one,
 * so a callback may free any handle, the current one included.
 */
#include "loop_impl.h"

#include <errno.h>

void iom__loop_walk_add(iom_loop *loop, iom__walk_node *node,
                        iom_handle_type type, void *handle) {
  node->type = type;
  node->handle = handle;
  iom__list_push_back(&loop->walk, &node->link);
}

void iom__loop_walk_remove(iom__walk_node *node) {
  iom__list_remove(&node->link);
}

void iom__io_hide(iom_io *io) { iom__loop_walk_remove(&io->walk); }

void iom__timer_hide(iom_timer *timer) { iom__loop_walk_remove(&timer->walk); }

void iom__async_hide(iom_async *async) { iom__loop_walk_remove(&async->walk); }

int iom_loop_walk(iom_loop *loop, iom_walk_cb cb, void *data) {
  if (loop->walking)
    return -EBUSY; /* a nested walk would see only what the outer one saw */
  loop->walking = 1;
  iom__list rest, *node;
  iom__list_move(&loop->walk, &rest);
  while ((node = iom__list_walk_next(&loop->walk, &rest))) {
    iom__walk_node *w = iom__list_entry(node, iom__walk_node, link);
    cb(w->handle, w->type, data);
  }
  loop->walking = 0;
  return 0;
}

const char *iom_handle_type_name(iom_handle_type type) {
  switch (type) {
  case IOM_HANDLE_IO: return "io";
  case IOM_HANDLE_TIMER: return "timer";
  case IOM_HANDLE_SIGNAL: return "signal";
  case IOM_HANDLE_ASYNC: return "async";
  case IOM_HANDLE_STREAM: return "stream";
  case IOM_HANDLE_LISTENER: return "listener";
  }
  return "unknown";
}
