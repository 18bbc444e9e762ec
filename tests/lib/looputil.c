/* The loop suites' shared helpers (looputil.h). */
#define _GNU_SOURCE
#include "looputil.h"

#include "suite.h"
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

iom_loop *loop_new(void) {
  iom_loop *loop = NULL;
  assert_int_equal(iom_loop_new(suite_backend, &loop), 0);
  assert_non_null(loop);
  return loop;
}

iom_loop_stats stats_of(const iom_loop *loop) {
  iom_loop_stats s;
  memset(&s, 0xa5, sizeof s);
  iom_loop_stats_get(loop, &s);
  return s;
}

void sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000,
                        .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

void close_pair(int sv[2]) {
  close(sv[0]);
  close(sv[1]);
}

void put_byte(int fd, char c) { assert_int_equal(write(fd, &c, 1), 1); }

size_t drain(int fd) {
  char buf[65536];
  size_t total = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    total += (size_t)n;
  return total;
}

void on_io_count(iom_io *io, unsigned events, void *data) {
  io_rec *r = data;
  assert_ptr_equal(io, r->io);
  assert_int_not_equal(events, 0);
  assert_int_equal(events & ~iom_io_events(io), 0); /* only what it wants */
  r->calls++;
  r->last = events;
  r->all |= events;
  r->at_ms = tu_now_ms();
}

void on_async_count(iom_async *a, void *data) {
  (void)a;
  (*(int *)data)++;
}

void on_signal_count(iom_signal *s, int signo, void *data) {
  (void)s;
  assert_int_equal(signo, SIGUSR1);
  (*(int *)data)++;
}

void on_deferred_count(void *data) { (*(int *)data)++; }

void *send_signal_later(void *p) {
  sig_sender *s = p;
  sleep_ms(s->delay_ms);
  if (s->use_kill)
    kill(getpid(), s->signo);
  else
    pthread_kill(s->target, s->signo);
  for (int i = 0; i < 300 && !atomic_load(&s->seen); i++)
    sleep_ms(10);
  if (!atomic_load(&s->seen))
    iom_async_send(s->watchdog);
  return NULL;
}

void on_watchdog(iom_async *a, void *data) {
  (void)a;
  (*(int *)data)++;
}
