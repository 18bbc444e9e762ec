/* The worker pool, with real threads: work runs on workers with every signal
 * blocked, done() on the loop thread exactly once, in FIFO start order;
 * cancellation; the loop kept alive (and iom_loop_free busy) by work in
 * flight and only by it; the thread count from iom_pool_init, the
 * environment or the default; every allocation failure; and a loop that
 * keeps running its timers while a worker blocks.
 *
 * Workers never call cmocka: they record what they saw and the loop thread
 * checks it after done(), which the pool orders after work(). */
#include "iomux/loop.h"
#include "iomux/pool.h"
#include "suite.h"
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static pthread_t main_thread;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

static iom_loop *loop_new(void) {
  iom_loop *loop = NULL;
  assert_int_equal(iom_loop_new(IOM_DEFAULT, &loop), 0);
  return loop;
}

/* Every test ends here: the loop frees cleanly and nothing leaked. */
static void loop_free(iom_loop *loop) {
  assert_int_equal(iom_loop_free(loop), 0);
  assert_int_equal(tu_alloc_live, 0);
}

static void assert_idle(iom_loop *loop) {
  iom_loop_stats st;
  iom_loop_stats_get(loop, &st);
  assert_int_equal(st.active, 0);
  assert_int_equal(st.handles, 0);
}

/* ---- a gate that workers wait at, opened by the test ----------------------- */

typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int open;
  int arrived; /* workers that reached the gate so far */
} gate;

static void gate_init(gate *g) {
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->open = 0;
  g->arrived = 0;
}

static void gate_destroy(gate *g) {
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
}

/* Worker side: announce, then wait for the test to open. */
static void gate_pass(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->arrived++;
  pthread_cond_broadcast(&g->cv);
  while (!g->open)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

/* Test side: wait until `n` workers are at the gate. The 30 s limit only
 * turns a hang (too few workers) into a failure. */
static void gate_wait_arrived(gate *g, int n) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 30;
  pthread_mutex_lock(&g->mu);
  int err = 0;
  while (g->arrived < n && err == 0)
    err = pthread_cond_timedwait(&g->cv, &g->mu, &deadline);
  int arrived = g->arrived;
  pthread_mutex_unlock(&g->mu);
  assert_true(arrived >= n);
}

static int gate_arrived(gate *g) {
  pthread_mutex_lock(&g->mu);
  int n = g->arrived;
  pthread_mutex_unlock(&g->mu);
  return n;
}

static void gate_open(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->open = 1;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

/* ---- a job that records everything ----------------------------------------- */

#define MAX_JOBS 1000

typedef struct run_log {
  atomic_int works;       /* work() calls, all jobs */
  int started[MAX_JOBS];  /* job indices in work() start order */
  atomic_int nstarted;
  int finished[MAX_JOBS]; /* job indices in done() order */
  int nfinished;
} run_log;

typedef struct job {
  int index;
  run_log *log;
  gate *gate;       /* if set, work() waits at it */
  pthread_t worker; /* who ran work() */
  int ran;          /* work() calls */
  int masked;       /* work() saw the signals it checks blocked */
  int done_calls;
  int status;
  int done_on_loop; /* done() ran on the loop (main) thread */
} job;

static void job_init(job *j, int index, run_log *log, gate *g) {
  memset(j, 0, sizeof *j);
  j->index = index;
  j->log = log;
  j->gate = g;
  j->status = 1; /* no done() yet */
}

static int all_signals_blocked(void) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2,
                             SIGPIPE, SIGCHLD, SIGALRM, SIGQUIT};
  sigset_t cur;
  pthread_sigmask(SIG_BLOCK, NULL, &cur);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigismember(&cur, sigs[i]) != 1)
      return 0;
  return 1;
}

static void job_work(void *data) {
  job *j = data;
  j->worker = pthread_self();
  j->masked = all_signals_blocked();
  j->ran++;
  int slot = atomic_fetch_add(&j->log->nstarted, 1);
  if (slot < MAX_JOBS)
    j->log->started[slot] = j->index;
  atomic_fetch_add(&j->log->works, 1);
  if (j->gate)
    gate_pass(j->gate);
}

static void job_done(int status, void *data) {
  job *j = data;
  j->done_calls++;
  j->status = status;
  j->done_on_loop = pthread_equal(pthread_self(), main_thread);
  if (j->log->nfinished < MAX_JOBS)
    j->log->finished[j->log->nfinished++] = j->index;
}

static void submit_job(iom_loop *loop, job *j, iom_work **req) {
  assert_int_equal(iom_pool_submit(loop, job_work, job_done, j, req), 0);
}

static void assert_ran_ok(const job *j) {
  assert_int_equal(j->ran, 1);
  assert_int_equal(j->done_calls, 1);
  assert_int_equal(j->status, 0);
  assert_true(j->done_on_loop);
  assert_false(pthread_equal(j->worker, main_thread));
  assert_true(j->masked);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_thousand_jobs(void **state) {
  (void)state;
  /* The workers' mask must not be inherited from here for free. */
  assert_false(all_signals_blocked());
  static job jobs[MAX_JOBS];
  static run_log log;
  memset(&log, 0, sizeof log);
  iom_loop *loop = loop_new();
  for (int i = 0; i < MAX_JOBS; i++) {
    job_init(&jobs[i], i, &log, NULL);
    submit_job(loop, &jobs[i], NULL);
  }
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(atomic_load(&log.works), MAX_JOBS);
  assert_int_equal(log.nfinished, MAX_JOBS);
  for (int i = 0; i < MAX_JOBS; i++)
    assert_ran_ok(&jobs[i]);
  assert_idle(loop);
  loop_free(loop);
}

static void test_fifo_order(void **state) {
  (void)state;
  enum { N = 50 };
  static job jobs[N + 1];
  static run_log log;
  memset(&log, 0, sizeof log);
  gate g;
  gate_init(&g);
  iom_loop *loop = loop_new();
  assert_int_equal(iom_pool_init(loop, 1), 0);
  /* Hold the only worker so that all N are queued before any starts. */
  job_init(&jobs[N], -1, &log, &g);
  submit_job(loop, &jobs[N], NULL);
  gate_wait_arrived(&g, 1);
  for (int i = 0; i < N; i++) {
    job_init(&jobs[i], i, &log, NULL);
    submit_job(loop, &jobs[i], NULL);
  }
  gate_open(&g);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(atomic_load(&log.nstarted), N + 1);
  assert_int_equal(log.started[0], -1);
  for (int i = 0; i < N; i++) {
    assert_int_equal(log.started[i + 1], i);
    assert_int_equal(log.finished[i + 1], i);
    assert_ran_ok(&jobs[i]);
  }
  loop_free(loop);
  gate_destroy(&g);
}

static void test_cancel(void **state) {
  (void)state;
  enum { N = 10 };
  job jobs[N], blocker;
  iom_work *reqs[N], *blocker_req = NULL;
  run_log log;
  memset(&log, 0, sizeof log);
  gate g;
  gate_init(&g);
  iom_loop *loop = loop_new();
  assert_int_equal(iom_pool_init(loop, 1), 0);
  job_init(&blocker, 100, &log, &g);
  submit_job(loop, &blocker, &blocker_req);
  assert_non_null(blocker_req);
  gate_wait_arrived(&g, 1);
  for (int i = 0; i < N; i++) {
    job_init(&jobs[i], i, &log, NULL);
    submit_job(loop, &jobs[i], &reqs[i]);
  }
  for (int i = 1; i < N; i += 2)
    assert_int_equal(iom_pool_cancel(reqs[i]), 0);
  for (int i = 0; i < N; i++) /* done() waits for the loop, never inline */
    assert_int_equal(jobs[i].done_calls, 0);
  assert_int_equal(iom_pool_cancel(blocker_req), -EBUSY);
  assert_int_equal(iom_pool_cancel(reqs[3]), -EBUSY); /* already cancelled */
  assert_int_equal(iom_pool_cancel(NULL), -EINVAL);
  gate_open(&g);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_ran_ok(&blocker);
  for (int i = 0; i < N; i++) {
    if (i % 2) {
      assert_int_equal(jobs[i].ran, 0);
      assert_int_equal(jobs[i].done_calls, 1);
      assert_int_equal(jobs[i].status, -ECANCELED);
      assert_true(jobs[i].done_on_loop);
    } else {
      assert_ran_ok(&jobs[i]);
    }
  }
  /* Completion order: the cancelled ones, as cancelled, then the blocker,
   * then the rest as they ran. */
  static const int order[] = {1, 3, 5, 7, 9, 100, 0, 2, 4, 6, 8};
  assert_int_equal(log.nfinished, 11);
  for (int i = 0; i < 11; i++)
    assert_int_equal(log.finished[i], order[i]);
  assert_int_equal(atomic_load(&log.works), 6);
  loop_free(loop);
  gate_destroy(&g);
}

/* done() of the first job cancels a queued one, then lets the second go. */
typedef struct cancel_ctx {
  job first, second, third;
  iom_work *third_req;
  gate second_gate;
  int cancel_result;
} cancel_ctx;

static void first_done(int status, void *data) {
  cancel_ctx *c = data;
  job_done(status, &c->first);
  c->cancel_result = iom_pool_cancel(c->third_req);
  gate_open(&c->second_gate);
}

static void first_work(void *data) { job_work(&((cancel_ctx *)data)->first); }

static void test_cancel_from_done(void **state) {
  (void)state;
  cancel_ctx c;
  run_log log;
  memset(&log, 0, sizeof log);
  gate_init(&c.second_gate);
  c.cancel_result = 1;
  job_init(&c.first, 0, &log, NULL);
  job_init(&c.second, 1, &log, &c.second_gate);
  job_init(&c.third, 2, &log, NULL);
  iom_loop *loop = loop_new();
  assert_int_equal(iom_pool_init(loop, 1), 0);
  assert_int_equal(iom_pool_submit(loop, first_work, first_done, &c, NULL),
                   0);
  submit_job(loop, &c.second, NULL);
  submit_job(loop, &c.third, &c.third_req);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(c.cancel_result, 0);
  assert_ran_ok(&c.first);
  assert_ran_ok(&c.second);
  assert_int_equal(c.third.ran, 0);
  assert_int_equal(c.third.done_calls, 1);
  assert_int_equal(c.third.status, -ECANCELED);
  loop_free(loop);
  gate_destroy(&c.second_gate);
}

static void test_free_busy(void **state) {
  (void)state;
  run_log log;
  memset(&log, 0, sizeof log);
  job j;
  job_init(&j, 0, &log, NULL);
  iom_loop *loop = loop_new();
  assert_idle(loop);
  submit_job(loop, &j, NULL);
  iom_loop_stats st;
  iom_loop_stats_get(loop, &st);
  assert_int_equal(st.active, 1); /* the work; the pool's async is not counted */
  assert_int_equal(st.handles, 1);
  assert_int_equal(iom_loop_free(loop), -EBUSY);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_ran_ok(&j);
  assert_idle(loop);
  /* A started pool with nothing in flight keeps nothing alive. */
  assert_int_equal(iom_loop_run(loop, IOM_RUN_NOWAIT), 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  loop_free(loop);
}

static void noop_work(void *data) { (void)data; }

static void count_done(int status, void *data) {
  (void)status;
  ++*(int *)data;
}

static void test_argument_errors(void **state) {
  (void)state;
  int done_calls = 0;
  iom_loop *loop = loop_new();
  assert_int_equal(iom_pool_init(loop, 0), -EINVAL);
  assert_int_equal(iom_pool_init(loop, 257), -EINVAL);
  assert_int_equal(iom_pool_init(loop, -1), -EINVAL);
  assert_int_equal(iom_pool_init(loop, 256), 0);
  assert_int_equal(iom_pool_init(loop, 2), 0); /* not started: may change */
  assert_int_equal(iom_pool_submit(loop, NULL, count_done, &done_calls, NULL),
                   -EINVAL);
  assert_int_equal(iom_pool_submit(loop, noop_work, NULL, &done_calls, NULL),
                   -EINVAL);
  assert_idle(loop);
  assert_int_equal(
      iom_pool_submit(loop, noop_work, count_done, &done_calls, NULL), 0);
  assert_int_equal(iom_pool_init(loop, 2), -EBUSY);
  assert_int_equal(iom_pool_init(loop, 3), -EBUSY);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(done_calls, 1);
  assert_int_equal(iom_pool_init(loop, 3), -EBUSY); /* still started */
  loop_free(loop);

  /* A pool configured but never started costs nothing at free. */
  loop = loop_new();
  assert_int_equal(iom_pool_init(loop, 3), 0);
  loop_free(loop);
}

static void test_allocation_failures(void **state) {
  (void)state;
  int enomem_seen = 0, rounds = 0;
  for (long fail_at = 0; fail_at < 1000; fail_at++) {
    tu_alloc_reset(fail_at);
    iom_loop *loop = NULL;
    int err = iom_loop_new(IOM_DEFAULT, &loop);
    if (err < 0) {
      assert_int_equal(err, -ENOMEM);
      assert_int_equal(tu_alloc_live, 0);
      continue;
    }
    int done_calls = 0, submitted = 0;
    for (int k = 0; k < 2; k++) {
      err = iom_pool_submit(loop, noop_work, count_done, &done_calls, NULL);
      if (err == -ENOMEM)
        enomem_seen++;
      else
        assert_int_equal(err, 0);
      submitted += err == 0;
    }
    assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
    assert_int_equal(done_calls, submitted);
    int injected = tu_alloc_calls > fail_at;
    tu_alloc_reset(-1);
    loop_free(loop);
    rounds++;
    if (!injected)
      break;
  }
  tu_alloc_reset(-1);
  assert_true(enomem_seen >= 3); /* pool, thread table, async, request */
  assert_true(rounds > 3);
}

typedef struct responsive {
  iom_timer *timer;
  int ticks;
  int ticks_at_done;
  int done_status;
} responsive;

static void on_tick(iom_timer *t, void *data) {
  (void)t;
  ((responsive *)data)->ticks++;
}

static void sleep_work(void *data) {
  (void)data;
  sleep_ms(200);
}

static void sleep_done(int status, void *data) {
  responsive *r = data;
  r->ticks_at_done = r->ticks;
  r->done_status = status;
  iom_timer_stop(r->timer);
}

static void test_loop_stays_responsive(void **state) {
  (void)state;
  responsive r = {NULL, 0, -1, 1};
  iom_loop *loop = loop_new();
  assert_int_equal(iom_timer_new(loop, on_tick, &r, &r.timer), 0);
  iom_timer_start(r.timer, 10, 10);
  assert_int_equal(iom_pool_submit(loop, sleep_work, sleep_done, &r, NULL), 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(r.done_status, 0);
  assert_true(r.ticks_at_done > 1);
  assert_int_equal(r.ticks, r.ticks_at_done); /* stopped in done() */
  iom_timer_free(r.timer);
  loop_free(loop);
}

/* How many jobs the pool runs at once: submit one more than `expect`, wait
 * for `expect` to be inside work(), give the extra one time to (wrongly)
 * start, then let them all go. Fewer workers than `expect` fail the wait. */
static int concurrency(iom_loop *loop, int expect) {
  enum { MAXC = 8 };
  assert_true(expect < MAXC);
  static job jobs[MAXC];
  static run_log log;
  memset(&log, 0, sizeof log);
  gate g;
  gate_init(&g);
  for (int i = 0; i <= expect; i++) {
    job_init(&jobs[i], i, &log, &g);
    submit_job(loop, &jobs[i], NULL);
  }
  gate_wait_arrived(&g, expect);
  sleep_ms(100);
  int seen = gate_arrived(&g);
  gate_open(&g);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  for (int i = 0; i <= expect; i++)
    assert_ran_ok(&jobs[i]);
  gate_destroy(&g);
  return seen;
}

static void check_threads(const char *env, int init, int expect) {
  if (env)
    setenv("IOM_POOL_THREADS", env, 1);
  else
    unsetenv("IOM_POOL_THREADS");
  iom_loop *loop = loop_new();
  if (init)
    assert_int_equal(iom_pool_init(loop, init), 0);
  assert_int_equal(concurrency(loop, expect), expect);
  /* The started pool keeps its size. */
  assert_int_equal(concurrency(loop, expect), expect);
  loop_free(loop);
  unsetenv("IOM_POOL_THREADS");
}

static void test_thread_count(void **state) {
  (void)state;
  check_threads(NULL, 0, 4);
  check_threads(NULL, 1, 1);
  check_threads(NULL, 6, 6);
  check_threads("3", 0, 3);
  check_threads("1", 0, 1);
  check_threads("3", 5, 5); /* iom_pool_init wins */
  check_threads("0", 0, 4);
  check_threads("257", 0, 4);
  check_threads("2x", 0, 4);
  check_threads("many", 0, 4);
  check_threads("", 0, 4);
}

/* Each done() submits the next job: the loop must keep running for them. */
typedef struct chain {
  iom_loop *loop;
  int left, done_calls, last_status;
} chain;

static void chain_done(int status, void *data) {
  chain *c = data;
  c->done_calls++;
  c->last_status = status;
  if (--c->left > 0)
    assert_int_equal(
        iom_pool_submit(c->loop, noop_work, chain_done, c, NULL), 0);
}

static void test_submit_from_done(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  chain c = {loop, 100, 0, 1};
  assert_int_equal(iom_pool_submit(loop, noop_work, chain_done, &c, NULL), 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(c.done_calls, 100);
  assert_int_equal(c.last_status, 0);
  assert_idle(loop);
  loop_free(loop);
}

static const suite_case cases[] = {
    /* First: if the pool's async kept the loop alive, the others would hang
     * in iom_loop_run; this one fails on the count instead. */
    SUITE_CASE(test_free_busy),
    SUITE_CASE(test_thousand_jobs),
    SUITE_CASE(test_fifo_order),
    SUITE_CASE(test_cancel),
    SUITE_CASE(test_cancel_from_done),
    SUITE_CASE(test_argument_errors),
    SUITE_CASE(test_allocation_failures),
    SUITE_CASE(test_loop_stays_responsive),
    SUITE_CASE(test_thread_count),
    SUITE_CASE(test_submit_from_done),
};

int main(int argc, char **argv) {
  unsetenv("IOM_POOL_THREADS");
  tu_alloc_install();
  main_thread = pthread_self(); /* a fork's only thread has the same id */
  return SUITE_RUN("pool", cases, argc > 1 ? argv[1] : NULL);
}
