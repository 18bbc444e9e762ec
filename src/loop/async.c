/* Wake-ups: one fd per loop (an eventfd on Linux, a pipe elsewhere) that any
 * thread or signal handler can make readable, and the async handles that
 * ride on it.
 *
 * Coalescing: a sender marks its handle pending, then writes to the fd only
 * if the loop is not already armed to wake. The loop drains the fd, disarms,
 * and only then looks at the pending flags, so a send that lands after the
 * look re-arms and wakes the next wait: no send is ever lost, and a burst of
 * sends costs one write and one callback.
 */
#if defined(__linux__)
#define _GNU_SOURCE /* pipe2 */
#endif
#include "loop_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#endif

/* One pass over the asyncs: each pending one runs once. A send made from a
 * callback, even to itself, re-arms the wake-up and runs next iteration, so
 * an async that keeps re-sending cannot hold the loop. A callback may free
 * or make any async (list.h's walk). */
static void run_asyncs(iom_loop *loop) {
  iom__list rest, *node;
  iom__list_move(&loop->asyncs, &rest);
  while ((node = iom__list_walk_next(&loop->asyncs, &rest))) {
    iom_async *a = iom__list_entry(node, iom_async, link);
    if (atomic_exchange(&a->pending, 0))
      a->cb(a, a->data);
  }
}

static void on_wake(iom_io *io, unsigned events, void *data) {
  (void)io;
  (void)events;
  iom_loop *loop = data;
  char drain[64];
  while (read(loop->wake_fd, drain, sizeof drain) > 0)
    ;
  atomic_store(&loop->wake_armed, 0);
  iom__signals_dispatch(loop);
  run_asyncs(loop);
}

static int open_wake_fds(iom_loop *loop) {
#if defined(__linux__)
  loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->wake_fd < 0)
    return -errno;
  loop->wake_wfd = loop->wake_fd;
#else
  int fds[2];
  if (pipe(fds) < 0)
    return -errno;
  for (int i = 0; i < 2; i++) {
    fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    fcntl(fds[i], F_SETFD, FD_CLOEXEC);
  }
  loop->wake_fd = fds[0];
  loop->wake_wfd = fds[1];
#endif
  return 0;
}

static void close_wake_fds(iom_loop *loop) {
  if (loop->wake_wfd != loop->wake_fd)
    close(loop->wake_wfd);
  close(loop->wake_fd);
}

int iom__wake_open(iom_loop *loop) {
  int err = open_wake_fds(loop);
  if (err < 0)
    return err;
  iom__io_init(loop, &loop->wake_io, loop->wake_fd, on_wake, loop);
  loop->wake_io.keeps_alive = 0;
  err = iom_io_start(&loop->wake_io, IOM_READ);
  if (err < 0)
    close_wake_fds(loop);
  return err;
}

void iom__wake_close(iom_loop *loop) {
  iom__io_fini(&loop->wake_io);
  close_wake_fds(loop);
}

void iom__wake(iom_loop *loop) {
  if (atomic_exchange(&loop->wake_armed, 1))
    return;
  int saved = errno; /* this runs in signal handlers too */
#if defined(__linux__)
  uint64_t one = 1;
  ssize_t r = write(loop->wake_wfd, &one, sizeof one);
#else
  ssize_t r = write(loop->wake_wfd, "", 1);
#endif
  (void)r; /* a full pipe or counter already means "wake up" */
  errno = saved;
}

int iom_async_new(iom_loop *loop, iom_async_cb cb, void *data,
                  iom_async **out) {
  iom_async *a = iom__malloc(sizeof *a);
  if (!a)
    return -ENOMEM;
  a->loop = loop;
  atomic_init(&a->pending, 0);
  a->cb = cb;
  a->data = data;
  a->link = (iom__list){0};
  iom__list_push_back(&loop->asyncs, &a->link);
  iom__loop_walk_add(loop, &a->walk, IOM_HANDLE_ASYNC, a);
  loop->handles++;
  loop->active++;
  *out = a;
  return 0;
}

void iom_async_send(iom_async *a) {
  if (atomic_exchange(&a->pending, 1))
    return;
  iom__wake(a->loop);
}

void iom_async_free(iom_async *a) {
  if (!a)
    return;
  iom__list_remove(&a->link);
  iom__loop_walk_remove(&a->walk);
  a->loop->handles--;
  a->loop->active--;
  iom__free(a);
}
