/* The loop's async wake-ups (loop.h): sends from eight threads at once,
 * coalescing and keep-alive, a re-send from the callback, freeing another
 * pending one, and sends from a signal handler (also while the loop waits).
 * Real threads. Run once per selector backend: the backend's name is the
 * first argument. */
#define _GNU_SOURCE
#include "iomux/loop.h"
#include "looputil.h"
#include "suite.h"
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { ASYNC_THREADS = 8, ASYNC_SENDS = 10000 };

typedef struct async_ctx {
  iom_loop *loop;
  iom_async *work, *done;
  pthread_t loop_thread;
  long calls;
  int off_thread, done_calls;
  atomic_int finished;
} async_ctx;

static void on_async_work(iom_async *a, void *data) {
  async_ctx *c = data;
  assert_ptr_equal(a, c->work);
  c->calls++;
  if (!pthread_equal(pthread_self(), c->loop_thread))
    c->off_thread++;
}

static void on_async_done(iom_async *a, void *data) {
  async_ctx *c = data;
  assert_ptr_equal(a, c->done);
  c->done_calls++;
  if (!pthread_equal(pthread_self(), c->loop_thread))
    c->off_thread++;
  iom_loop_stop(c->loop);
}

static void *async_sender(void *p) {
  async_ctx *c = p;
  for (int i = 0; i < ASYNC_SENDS; i++)
    iom_async_send(c->work);
  if (atomic_fetch_add(&c->finished, 1) == ASYNC_THREADS - 1)
    iom_async_send(c->done);
  return NULL;
}

static void test_async_from_threads(void **state) {
  (void)state;
  async_ctx c;
  memset(&c, 0, sizeof c);
  c.loop = loop_new();
  c.loop_thread = pthread_self();
  atomic_init(&c.finished, 0);
  assert_int_equal(iom_async_new(c.loop, on_async_work, &c, &c.work), 0);
  assert_int_equal(iom_async_new(c.loop, on_async_done, &c, &c.done), 0);
  assert_int_equal(stats_of(c.loop).active, 2);
  pthread_t th[ASYNC_THREADS];
  for (int i = 0; i < ASYNC_THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, async_sender, &c), 0);
  assert_int_equal(iom_loop_run(c.loop, IOM_RUN_DEFAULT), 1);
  for (int i = 0; i < ASYNC_THREADS; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(c.done_calls, 1);
  /* Run until nothing is pending any more. */
  int quiet = 0;
  for (int i = 0; i < 20 && quiet < 2; i++) {
    long before = c.calls;
    assert_int_equal(iom_loop_run(c.loop, IOM_RUN_NOWAIT), 1);
    quiet = c.calls == before ? quiet + 1 : 0;
  }
  assert_int_equal(quiet, 2);
  assert_true(c.calls >= 1);
  assert_true(c.calls <= (long)ASYNC_THREADS * ASYNC_SENDS);
  assert_int_equal(c.off_thread, 0);
  assert_int_equal(c.done_calls, 1);
  /* One more send: exactly one more callback. */
  long before = c.calls;
  iom_async_send(c.work);
  assert_int_equal(iom_loop_run(c.loop, IOM_RUN_ONCE), 1);
  assert_int_equal(c.calls, before + 1);
  assert_int_equal(iom_loop_run(c.loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(c.calls, before + 1);
  assert_int_equal(c.done_calls, 1);

  iom_async_free(c.work);
  iom_async_free(c.done);
  assert_int_equal(iom_loop_run(c.loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(iom_loop_free(c.loop), 0);
}

static void test_async_coalesce_and_keep_alive(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int n = 0, m = 0;
  iom_async *a, *b;
  assert_int_equal(iom_async_new(loop, on_async_count, &n, &a), 0);
  assert_int_equal(stats_of(loop).active, 1);
  assert_int_equal(stats_of(loop).handles, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1); /* keeps alive */
  assert_int_equal(n, 0);
  iom_async_send(a);
  iom_async_send(a);
  iom_async_send(a);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(n, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(n, 1);
  /* Two handles, each its own callback. */
  assert_int_equal(iom_async_new(loop, on_async_count, &m, &b), 0);
  iom_async_send(b);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(n, 1);
  assert_int_equal(m, 1);
  iom_async_send(a);
  iom_async_send(b);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(n, 2);
  assert_int_equal(m, 2);
  iom_async_free(a);
  iom_async_free(b);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* An async that sends itself again from its callback runs once per
 * iteration: it cannot hold the loop, and the re-send is not lost. */
typedef struct resender {
  iom_async *a;
  int calls, limit;
} resender;

static void on_resend(iom_async *a, void *data) {
  resender *r = data;
  assert_ptr_equal(a, r->a);
  if (++r->calls < r->limit)
    iom_async_send(a);
}

static void test_async_resend_from_callback(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  resender r = {NULL, 0, 1000};
  assert_int_equal(iom_async_new(loop, on_resend, &r, &r.a), 0);
  iom_async_send(r.a);
  for (int i = 1; i <= 5; i++) {
    assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
    assert_int_equal(r.calls, i);
  }
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(r.calls, 6);
  iom_async_free(r.a);
  assert_int_equal(iom_loop_free(loop), 0);
}

typedef struct apair {
  iom_async *a[2];
  int calls[2], first;
} apair;

static void on_apair(iom_async *a, void *data) {
  apair *p = data;
  int me = a == p->a[0] ? 0 : 1;
  assert_ptr_equal(a, p->a[me]);
  p->calls[me]++;
  if (p->first < 0) {
    p->first = me;
    iom_async_free(p->a[!me]);
    p->a[!me] = NULL;
  }
}

static void test_async_free_other_pending(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  apair p = {{NULL, NULL}, {0, 0}, -1};
  assert_int_equal(iom_async_new(loop, on_apair, &p, &p.a[0]), 0);
  assert_int_equal(iom_async_new(loop, on_apair, &p, &p.a[1]), 0);
  iom_async_send(p.a[1]);
  iom_async_send(p.a[0]);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_true(p.first == 0 || p.first == 1);
  assert_int_equal(p.calls[p.first], 1);
  assert_int_equal(p.calls[!p.first], 0);
  assert_int_equal(stats_of(loop).handles, 1);
  iom_async_free(p.a[p.first]);
  assert_int_equal(iom_loop_free(loop), 0);
}

static iom_async *usr2_async;
static void usr2_sends(int signo) {
  (void)signo;
  iom_async_send(usr2_async);
}

static void test_async_send_from_signal_handler(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int n = 0;
  assert_int_equal(iom_async_new(loop, on_async_count, &n, &usr2_async), 0);
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = usr2_sends;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGUSR2, &sa, &old), 0);
  raise(SIGUSR2);
  raise(SIGUSR2);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
  assert_int_equal(n, 1);
  /* From a signal another thread sends to this one while the loop waits. */
  if (!(UNDER_TSAN && suite_backend == IOM_SELECT)) { /* see UNDER_TSAN */
    sig_sender snd;
    memset(&snd, 0, sizeof snd);
    snd.target = pthread_self();
    snd.signo = SIGUSR2;
    snd.delay_ms = 30;
    atomic_init(&snd.seen, 0);
    int barks = 0;
    assert_int_equal(iom_async_new(loop, on_watchdog, &barks, &snd.watchdog),
                     0);
    uint64_t t0 = tu_now_ms();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_signal_later, &snd), 0);
    for (int i = 0; i < 5 && n == 1 && barks == 0; i++)
      assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
    atomic_store(&snd.seen, 1);
    pthread_join(th, NULL);
    assert_int_equal(barks, 0);
    assert_int_equal(n, 2);
    assert_true(tu_now_ms() >= t0 + 30);
    iom_async_free(snd.watchdog);
  }
  sigaction(SIGUSR2, &old, NULL);
  iom_async_free(usr2_async);
  usr2_async = NULL;
  assert_int_equal(iom_loop_free(loop), 0);
}

static const suite_case cases[] = {
    SUITE_CASE(test_async_from_threads),
    SUITE_CASE(test_async_coalesce_and_keep_alive),
    SUITE_CASE(test_async_resend_from_callback),
    SUITE_CASE(test_async_free_other_pending),
    SUITE_CASE(test_async_send_from_signal_handler),
};

int main(int argc, char **argv) {
  return SUITE_MAIN_PER_BACKEND(argc, argv, "loop_async", cases);
}
