/* The loop's io watchers, continued: interest changes batched until the
 * wait (src/loop/io.c). Run once per selector backend (argv[1]).
 *
 * What the kernel holds is read from /proc/self/fdinfo of the loop's epoll
 * fd (one line per watched fd: "tfd: FD events: MASK ..."), so the epoll
 * cases see exactly when a change reaches the kernel. */
#define _GNU_SOURCE
#include "iomux/loop.h"
#include "looputil.h"
#include "suite.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* The process's one epoll fd (the loop's), or -1. */
static int find_epoll_fd(void) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int found = -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    char path[300], link[64];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n > 0) {
      link[n] = 0;
      if (strcmp(link, "anon_inode:[eventpoll]") == 0)
        found = atoi(e->d_name);
    }
  }
  closedir(d);
  return found;
}

/* The epoll events the kernel holds for `fd`, or -1 if it is not in the set. */
static int kernel_events(int epfd, int fd) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epfd);
  FILE *f = fopen(path, "re");
  assert_non_null(f);
  int events = -1, tfd;
  unsigned mask;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "tfd: %d events: %x", &tfd, &mask) == 2 && tfd == fd)
      events = (int)(mask & (EPOLLIN | EPOLLOUT));
  fclose(f);
  return events;
}

static void on_count(iom_io *io, unsigned events, void *data) {
  (void)io;
  unsigned *seen = data;
  *seen |= events;
}

/* A first start reaches the kernel at once; later changes only at the wait,
 * and a change undone within the turn never does. */
static void test_changes_wait_for_the_wait(void **state) {
  (void)state;
  if (suite_backend != IOM_EPOLL)
    skip();
  iom_loop *loop = loop_new();
  int epfd = find_epoll_fd();
  assert_true(epfd >= 0);
  int sv[2];
  tu_socketpair(sv);
  unsigned seen = 0;
  iom_io *io;
  assert_int_equal(iom_io_new(loop, sv[0], on_count, &seen, &io), 0);
  assert_int_equal(iom_io_start(io, IOM_READ), 0);
  assert_int_equal(kernel_events(epfd, sv[0]), EPOLLIN);
  /* A change and its undo: the kernel never hears of either. */
  assert_int_equal(iom_io_start(io, IOM_READ | IOM_WRITE), 0);
  assert_int_equal(iom_io_events(io), IOM_READ | IOM_WRITE);
  assert_int_equal(kernel_events(epfd, sv[0]), EPOLLIN);
  assert_int_equal(iom_io_start(io, IOM_READ), 0);
  iom_loop_run(loop, IOM_RUN_NOWAIT);
  assert_int_equal(kernel_events(epfd, sv[0]), EPOLLIN);
  assert_int_equal(seen, 0);
  /* A change that stands reaches the kernel at the wait, and the event the
   * wait finds is delivered in the same turn. */
  assert_int_equal(iom_io_start(io, IOM_READ | IOM_WRITE), 0);
  assert_int_equal(kernel_events(epfd, sv[0]), EPOLLIN);
  iom_loop_run(loop, IOM_RUN_NOWAIT);
  assert_int_equal(kernel_events(epfd, sv[0]), EPOLLIN | EPOLLOUT);
  assert_int_equal(seen, IOM_WRITE);
  /* A stop takes effect at once for dispatch, in the kernel at the wait. */
  iom_io_stop(io);
  assert_int_equal(kernel_events(epfd, sv[0]), EPOLLIN | EPOLLOUT);
  seen = 0;
  iom_loop_run(loop, IOM_RUN_NOWAIT);
  assert_int_equal(seen, 0);
  assert_int_equal(kernel_events(epfd, sv[0]), -1);
  /* Stop and start again within a turn: nothing for the kernel. */
  assert_int_equal(iom_io_start(io, IOM_WRITE), 0);
  iom_loop_run(loop, IOM_RUN_NOWAIT);
  iom_io_stop(io);
  assert_int_equal(iom_io_start(io, IOM_WRITE), 0);
  assert_int_equal(kernel_events(epfd, sv[0]), EPOLLOUT);
  /* Freeing takes it out of the kernel at once. */
  iom_io_free(io);
  assert_int_equal(kernel_events(epfd, sv[0]), -1);
  assert_int_equal(iom_loop_free(loop), 0);
  close(sv[0]);
  close(sv[1]);
}

typedef struct reuse {
  iom_io *old, *fresh;
  unsigned old_seen, fresh_seen;
} reuse;

static void on_old(iom_io *io, unsigned events, void *data) {
  (void)io;
  ((reuse *)data)->old_seen |= events;
}

static void on_fresh(iom_io *io, unsigned events, void *data) {
  (void)io;
  ((reuse *)data)->fresh_seen |= events;
}

/* A watcher stopped, its fd closed and the number reused by a new watcher,
 * all in one turn (the old registration still waits for the flush): the new
 * watcher gets the fd and its events, the old one nothing. */
static void test_stop_close_reuse_in_one_turn(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  reuse r = {0};
  int a[2], b[2];
  tu_socketpair(a);
  assert_int_equal(iom_io_new(loop, a[0], on_old, &r, &r.old), 0);
  assert_int_equal(iom_io_start(r.old, IOM_READ), 0);
  iom_loop_run(loop, IOM_RUN_NOWAIT);
  iom_io_stop(r.old);
  int number = a[0];
  close(a[0]);
  tu_socketpair(b);
  assert_int_equal(b[0], number);
  assert_int_equal(iom_io_new(loop, b[0], on_fresh, &r, &r.fresh), 0);
  assert_int_equal(iom_io_start(r.fresh, IOM_READ), 0);
  /* A watcher that still wants the fd keeps it. */
  iom_io *twin;
  assert_int_equal(iom_io_new(loop, b[0], on_fresh, &r, &twin), 0);
  assert_int_equal(iom_io_start(twin, IOM_READ), -EEXIST);
  iom_io_free(twin);
  assert_int_equal(write(b[1], "x", 1), 1);
  for (int i = 0; i < 10 && !r.fresh_seen; i++)
    iom_loop_run(loop, IOM_RUN_NOWAIT);
  assert_int_equal(r.fresh_seen, IOM_READ);
  assert_int_equal(r.old_seen, 0);
  iom_io_free(r.old);
  iom_io_free(r.fresh);
  assert_int_equal(iom_loop_free(loop), 0);
  close(a[1]);
  close(b[0]);
  close(b[1]);
}

/* An fd closed while watched, then a change: epoll refuses it at the wait
 * (EBADF) and the watcher is told it is ready, so its own I/O meets the
 * error instead of waiting forever. (poll reports the closed fd ready
 * itself; select fails the whole wait with EBADF, as api.md says.) */
static void test_refused_change_reported_ready(void **state) {
  (void)state;
  if (suite_backend == IOM_SELECT)
    skip();
  iom_loop *loop = loop_new();
  int sv[2];
  tu_socketpair(sv);
  unsigned seen = 0;
  iom_io *io;
  assert_int_equal(iom_io_new(loop, sv[0], on_count, &seen, &io), 0);
  assert_int_equal(iom_io_start(io, IOM_READ), 0);
  iom_loop_run(loop, IOM_RUN_NOWAIT);
  close(sv[0]);
  assert_int_equal(iom_io_start(io, IOM_READ | IOM_WRITE), 0);
  for (int i = 0; i < 10 && !seen; i++)
    iom_loop_run(loop, IOM_RUN_NOWAIT);
  assert_true(seen != 0);
  char c;
  assert_int_equal(read(iom_io_fd(io), &c, 1), -1);
  assert_int_equal(errno, EBADF);
  iom_io_free(io);
  assert_int_equal(iom_loop_free(loop), 0);
  close(sv[1]);
}

int main(int argc, char **argv) {
  static const suite_case cases[] = {
      SUITE_CASE(test_changes_wait_for_the_wait),
      SUITE_CASE(test_stop_close_reuse_in_one_turn),
      SUITE_CASE(test_refused_change_reported_ready),
  };
  return SUITE_MAIN_PER_BACKEND(argc, argv, "loop_io_batch", cases);
}
