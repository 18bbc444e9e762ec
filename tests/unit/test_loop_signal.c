/* The loop's signal watchers (loop.h): signals sent from another thread and
 * by kill() while the loop waits, several watchers on several loops, the
 * previous disposition restored, errors, coalescing, and watchers freed,
 * restarted or started while a delivery is dispatched. Real signals, real
 * threads. Run once per selector backend: the backend's name is the first
 * argument. */
#define _GNU_SOURCE
#include "iomux/loop.h"
#include "looputil.h"
#include "suite.h"
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct sig_rec {
  iom_signal *sig;
  int calls;
  int signo;
  int off_thread;
  pthread_t loop_thread;
} sig_rec;

static void on_sig_rec(iom_signal *s, int signo, void *data) {
  sig_rec *r = data;
  assert_ptr_equal(s, r->sig);
  r->calls++;
  r->signo = signo;
  if (!pthread_equal(pthread_self(), r->loop_thread))
    r->off_thread++;
}

typedef struct sig_seen {
  sig_rec rec;
  sig_sender *sender;
} sig_seen;

static void on_sig_seen(iom_signal *s, int signo, void *data) {
  sig_seen *x = data;
  on_sig_rec(s, signo, &x->rec);
  atomic_store(&x->sender->seen, 1);
}

static void test_signal_from_another_thread(void **state) {
  (void)state;
  if (UNDER_TSAN && suite_backend == IOM_SELECT)
    skip(); /* see UNDER_TSAN */
  struct sigaction before, after;
  sigaction(SIGUSR1, NULL, &before);
  for (int use_kill = 0; use_kill < 2; use_kill++) {
    iom_loop *loop = loop_new();
    sig_sender snd;
    memset(&snd, 0, sizeof snd);
    snd.target = pthread_self();
    snd.signo = SIGUSR1;
    snd.use_kill = use_kill;
    snd.delay_ms = 50;
    atomic_init(&snd.seen, 0);
    int barks = 0;
    assert_int_equal(iom_async_new(loop, on_watchdog, &barks, &snd.watchdog),
                     0);
    sig_seen x = {{NULL, 0, 0, 0, pthread_self()}, &snd};
    assert_int_equal(iom_signal_new(loop, on_sig_seen, &x, &x.rec.sig), 0);
    assert_int_equal(iom_signal_start(x.rec.sig, SIGUSR1), 0);
    assert_int_equal(stats_of(loop).active, 2);
    pthread_t th;
    uint64_t t0 = tu_now_ms();
    assert_int_equal(pthread_create(&th, NULL, send_signal_later, &snd), 0);
    for (int i = 0; i < 5 && x.rec.calls == 0 && barks == 0; i++)
      assert_int_equal(iom_loop_run(loop, IOM_RUN_ONCE), 1);
    pthread_join(th, NULL);
    assert_int_equal(barks, 0); /* woken by the signal, not the watchdog */
    assert_int_equal(x.rec.calls, 1);
    assert_int_equal(x.rec.signo, SIGUSR1);
    assert_int_equal(x.rec.off_thread, 0);
    assert_true(tu_now_ms() >= t0 + 50);
    assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
    assert_int_equal(x.rec.calls, 1);
    iom_signal_free(x.rec.sig);
    iom_async_free(snd.watchdog);
    assert_int_equal(stats_of(loop).active, 0);
    assert_int_equal(iom_loop_free(loop), 0);
  }
  sigaction(SIGUSR1, NULL, &after);
  assert_ptr_equal((void *)after.sa_handler, (void *)before.sa_handler);
}

static void test_signal_several_watchers(void **state) {
  (void)state;
  iom_loop *l1 = loop_new(), *l2 = loop_new();
  pthread_t me = pthread_self();
  sig_rec a = {NULL, 0, 0, 0, me}, b = a, c = a;
  assert_int_equal(iom_signal_new(l1, on_sig_rec, &a, &a.sig), 0);
  assert_int_equal(iom_signal_new(l1, on_sig_rec, &b, &b.sig), 0);
  assert_int_equal(iom_signal_new(l2, on_sig_rec, &c, &c.sig), 0);
  assert_int_equal(iom_signal_start(a.sig, SIGUSR1), 0);
  assert_int_equal(iom_signal_start(b.sig, SIGUSR1), 0);
  assert_int_equal(iom_signal_start(c.sig, SIGUSR1), 0);
  raise(SIGUSR1);
  assert_int_equal(iom_loop_run(l1, IOM_RUN_NOWAIT), 1);
  assert_int_equal(a.calls, 1);
  assert_int_equal(b.calls, 1);
  assert_int_equal(c.calls, 0);
  assert_int_equal(iom_loop_run(l2, IOM_RUN_NOWAIT), 1);
  assert_int_equal(c.calls, 1);
  /* Stop one: the others still get it. */
  iom_signal_stop(a.sig);
  raise(SIGUSR1);
  assert_int_equal(iom_loop_run(l1, IOM_RUN_NOWAIT), 1);
  assert_int_equal(iom_loop_run(l2, IOM_RUN_NOWAIT), 1);
  assert_int_equal(a.calls, 1);
  assert_int_equal(b.calls, 2);
  assert_int_equal(c.calls, 2);
  iom_signal_free(a.sig);
  iom_signal_free(b.sig);
  iom_signal_free(c.sig);
  assert_int_equal(iom_loop_free(l1), 0);
  assert_int_equal(iom_loop_free(l2), 0);
}

static volatile sig_atomic_t own_usr1_hits;
static void own_usr1(int signo) {
  (void)signo;
  own_usr1_hits++;
}

static void test_signal_disposition_restored(void **state) {
  (void)state;
  struct sigaction orig, mine, cur;
  sigaction(SIGUSR1, NULL, &orig);
  memset(&mine, 0, sizeof mine);
  mine.sa_handler = own_usr1;
  sigemptyset(&mine.sa_mask);
  assert_int_equal(sigaction(SIGUSR1, &mine, NULL), 0);

  iom_loop *loop = loop_new();
  int n1 = 0, n2 = 0;
  iom_signal *s1, *s2;
  assert_int_equal(iom_signal_new(loop, on_signal_count, &n1, &s1), 0);
  assert_int_equal(iom_signal_new(loop, on_signal_count, &n2, &s2), 0);
  sigaction(SIGUSR1, NULL, &cur);
  assert_ptr_equal((void *)cur.sa_handler, (void *)own_usr1); /* new: no */
  assert_int_equal(iom_signal_start(s1, SIGUSR1), 0);
  sigaction(SIGUSR1, NULL, &cur);
  assert_ptr_not_equal((void *)cur.sa_handler, (void *)own_usr1);
  assert_int_equal(iom_signal_start(s2, SIGUSR1), 0);
  /* No other signal was touched. */
  struct sigaction usr2;
  sigaction(SIGUSR2, NULL, &usr2);
  assert_ptr_equal((void *)usr2.sa_handler, (void *)SIG_DFL);

  own_usr1_hits = 0;
  raise(SIGUSR1);
  assert_int_equal(own_usr1_hits, 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(n1, 1);
  assert_int_equal(n2, 1);

  iom_signal_stop(s1);
  sigaction(SIGUSR1, NULL, &cur);
  assert_ptr_not_equal((void *)cur.sa_handler, (void *)own_usr1); /* s2 on */
  iom_signal_stop(s2);
  sigaction(SIGUSR1, NULL, &cur);
  assert_ptr_equal((void *)cur.sa_handler, (void *)own_usr1);
  raise(SIGUSR1);
  assert_int_equal(own_usr1_hits, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(n1 + n2, 2);

  /* Again, ending with a free instead of a stop. */
  assert_int_equal(iom_signal_start(s1, SIGUSR1), 0);
  iom_signal_free(s1);
  sigaction(SIGUSR1, NULL, &cur);
  assert_ptr_equal((void *)cur.sa_handler, (void *)own_usr1);

  iom_signal_free(s2);
  assert_int_equal(iom_loop_free(loop), 0);
  sigaction(SIGUSR1, &orig, NULL);
}

static void test_signal_errors(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int n = 0;
  iom_signal *s;
  assert_int_equal(iom_signal_new(loop, on_signal_count, &n, &s), 0);
  static const int bad[] = {SIGKILL, SIGSTOP, 0, -1, 65, 1000};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(iom_signal_start(s, bad[i]), -EINVAL);
  assert_int_equal(stats_of(loop).active, 0);
  assert_int_equal(iom_signal_start(s, SIGUSR1), 0);
  assert_int_equal(iom_signal_start(s, SIGUSR2), -EBUSY);
  assert_int_equal(iom_signal_start(s, SIGKILL), -EINVAL);
  assert_int_equal(iom_signal_start(s, SIGUSR1), 0); /* the same: fine */
  assert_int_equal(stats_of(loop).active, 1);
  struct sigaction usr2;
  sigaction(SIGUSR2, NULL, &usr2);
  assert_ptr_equal((void *)usr2.sa_handler, (void *)SIG_DFL);
  iom_signal_stop(s);
  iom_signal_stop(s);
  assert_int_equal(stats_of(loop).active, 0);
  assert_int_equal(iom_signal_start(s, SIGUSR2), 0);
  iom_signal_stop(s);
  sigaction(SIGUSR2, NULL, &usr2);
  assert_ptr_equal((void *)usr2.sa_handler, (void *)SIG_DFL);
  iom_signal_free(s);
  assert_int_equal(iom_loop_free(loop), 0);
}

typedef struct raiser {
  int raises;
} raiser;

static void on_timer_raise(iom_timer *t, void *data) {
  (void)t;
  raiser *r = data;
  for (int i = 0; i < r->raises; i++)
    raise(SIGUSR1);
}

static void test_signal_coalesced(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int n = 0;
  iom_signal *s;
  assert_int_equal(iom_signal_new(loop, on_signal_count, &n, &s), 0);
  assert_int_equal(iom_signal_start(s, SIGUSR1), 0);
  /* Raised twice before the loop runs. */
  raise(SIGUSR1);
  raise(SIGUSR1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(n, 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(n, 1);
  /* Raised twice from inside a callback. */
  raiser r = {2};
  iom_timer *t;
  assert_int_equal(iom_timer_new(loop, on_timer_raise, &r, &t), 0);
  iom_timer_start(t, 0, 0);
  sleep_ms(1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_int_equal(n, 2);
  iom_timer_free(t);
  iom_signal_free(s);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* Two watchers of one signal: the first to run frees the other. */
typedef struct sigpair {
  iom_signal *s[2];
  int calls[2], first;
} sigpair;

static void on_sigpair(iom_signal *s, int signo, void *data) {
  (void)signo;
  sigpair *p = data;
  int me = s == p->s[0] ? 0 : 1;
  assert_ptr_equal(s, p->s[me]);
  p->calls[me]++;
  if (p->first < 0) {
    p->first = me;
    iom_signal_free(p->s[!me]);
    p->s[!me] = NULL;
  }
}

static void test_signal_free_other_in_dispatch(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  sigpair p = {{NULL, NULL}, {0, 0}, -1};
  assert_int_equal(iom_signal_new(loop, on_sigpair, &p, &p.s[0]), 0);
  assert_int_equal(iom_signal_new(loop, on_sigpair, &p, &p.s[1]), 0);
  assert_int_equal(iom_signal_start(p.s[0], SIGUSR1), 0);
  assert_int_equal(iom_signal_start(p.s[1], SIGUSR1), 0);
  raise(SIGUSR1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  assert_true(p.first == 0 || p.first == 1);
  assert_int_equal(p.calls[p.first], 1);
  assert_int_equal(p.calls[!p.first], 0);
  iom_signal_free(p.s[p.first]);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* One delivery, one callback per watcher: a watcher that stops and restarts
 * itself (or starts a new watcher) from its callback is not called again for
 * the same delivery. */
typedef struct sigrestart {
  iom_signal *s[3];
  int calls[3];
  iom_loop *loop;
} sigrestart;

static void on_sigrestart(iom_signal *s, int signo, void *data) {
  sigrestart *r = data;
  int me = s == r->s[0] ? 0 : s == r->s[1] ? 1 : 2;
  r->calls[me]++;
  if (me == 0 && r->calls[0] == 1) {
    iom_signal_stop(s);
    assert_int_equal(iom_signal_start(s, signo), 0);
    assert_int_equal(iom_signal_start(r->s[2], signo), 0);
  }
}

static void test_signal_restart_in_dispatch(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  sigrestart r;
  memset(&r, 0, sizeof r);
  r.loop = loop;
  for (int i = 0; i < 3; i++)
    assert_int_equal(iom_signal_new(loop, on_sigrestart, &r, &r.s[i]), 0);
  assert_int_equal(iom_signal_start(r.s[0], SIGUSR1), 0);
  assert_int_equal(iom_signal_start(r.s[1], SIGUSR1), 0);
  raise(SIGUSR1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  for (int i = 0; i < 3; i++)
    iom_signal_free(r.s[i]);
  assert_int_equal(iom_loop_free(loop), 0);
  if (r.calls[0] != 1 || r.calls[2] != 0)
    print_error("one SIGUSR1: restarted watcher called %d times, watcher "
                "started during dispatch called %d times\n",
                r.calls[0], r.calls[2]);
  assert_int_equal(r.calls[1], 1);
  assert_int_equal(r.calls[0], 1);
  assert_int_equal(r.calls[2], 0);
}

/* A delivery caught for a watcher that is stopped before the loop gets to
 * it is not handed to a watcher started afterwards (as an fd reused by a new
 * watcher never receives an event meant for the old one). */
static void test_signal_not_delivered_to_later_watcher(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int old_calls = 0, new_calls = 0;
  iom_signal *old_w, *new_w;
  assert_int_equal(iom_signal_new(loop, on_signal_count, &old_calls, &old_w),
                   0);
  assert_int_equal(iom_signal_new(loop, on_signal_count, &new_calls, &new_w),
                   0);
  assert_int_equal(iom_signal_start(old_w, SIGUSR1), 0);
  raise(SIGUSR1); /* caught, not yet dispatched */
  iom_signal_stop(old_w);
  assert_int_equal(iom_signal_start(new_w, SIGUSR1), 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  int stale = new_calls;
  /* Its own deliveries do reach it. */
  raise(SIGUSR1);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 1);
  int own = new_calls - stale;
  iom_signal_free(old_w);
  iom_signal_free(new_w);
  assert_int_equal(iom_loop_free(loop), 0);
  assert_int_equal(old_calls, 0);
  if (stale != 0)
    print_error("a SIGUSR1 raised before the watcher started reached it\n");
  assert_int_equal(stale, 0);
  assert_int_equal(own, 1);
}

static const suite_case cases[] = {
    SUITE_CASE(test_signal_from_another_thread),
    SUITE_CASE(test_signal_several_watchers),
    SUITE_CASE(test_signal_disposition_restored),
    SUITE_CASE(test_signal_errors),
    SUITE_CASE(test_signal_coalesced),
    SUITE_CASE(test_signal_free_other_in_dispatch),
    SUITE_CASE(test_signal_restart_in_dispatch),
    SUITE_CASE(test_signal_not_delivered_to_later_watcher),
};

int main(int argc, char **argv) {
  return SUITE_MAIN_PER_BACKEND(argc, argv, "loop_signal", cases);
}
