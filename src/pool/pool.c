/* The worker pool: blocking work on threads, completions on the loop thread.
 *
 * A request's path:
 *   1. iom_pool_submit (loop thread) holds the loop and appends the request
 *      to the queue;
 *   2. a worker takes it from the head and runs work();
 *   3. the worker appends it to the done list and sends the pool's async;
 *   4. on_done (loop thread) takes the whole done list, calls done() in
 *      completion order, releases the loop once per request, and recycles
 *      the request.
 * iom_pool_cancel takes a request that is still queued straight to step 3,
 * with -ECANCELED. The pool object is attached to the loop by the first
 * iom_pool_init or submit; its threads and async start with the first
 * submit; iom_loop_free tears it all down, and it refuses while any request
 * is held, so the queue and done list are empty by then.
 *
 * Two locks: `lock` guards the queue, the request states and the shutdown
 * flag; `done_lock` guards the done list, so publishing a result never
 * contends with submits and with workers taking from the queue, and the
 * loop thread holds it only long enough to detach the list.
 */
#include "iomux/pool.h"

#include "../core/alloc_internal.h"
#include "../core/list.h"
#include "../loop/loop_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#define POOL_THREADS_MAX 256
#define POOL_THREADS_DEFAULT 4
/* Finished requests kept for reuse: a steady stream of submits allocates
 * nothing, while a burst does not pin its peak memory until the loop dies. */
#define POOL_CACHE_MAX 64

enum { REQ_QUEUED, REQ_TAKEN };

struct iom_work {
  iom__list link; /* in the queue, the done list or the cache */
  struct iom__pool *pool;
  iom_work_fn work;
  iom_done_fn done;
  void *data;
  int status; /* loop thread only: set at submit, or by cancel */
  int state;  /* under pool->lock: whether cancel may still take it back */
};

typedef struct iom__pool {
  iom_loop *loop;
  int nthreads;        /* asked for by iom_pool_init; 0: decide at start */
  int nstarted;        /* workers running; 0 until the pool starts */
  pthread_t *threads;
  iom_async *async;

  pthread_mutex_t lock;
  pthread_cond_t cond; /* work queued, or shutdown */
  iom__list queue;
  int shutdown;

  pthread_mutex_t done_lock;
  iom__list done;

  iom__list cache; /* loop thread only */
  int ncache;
} iom__pool;

/* ---- requests (loop thread) ---------------------------------------------- */

static iom_work *req_of(iom__list *node) {
  return node ? iom__list_entry(node, iom_work, link) : NULL;
}

static iom_work *req_alloc(iom__pool *p) {
  iom_work *req = req_of(iom__list_pop(&p->cache));
  if (req) {
    p->ncache--;
    return req;
  }
  return iom__malloc(sizeof *req);
}

static void req_recycle(iom__pool *p, iom_work *req) {
  if (p->ncache >= POOL_CACHE_MAX) {
    iom__free(req);
    return;
  }
  iom__list_push_back(&p->cache, &req->link);
  p->ncache++;
}

/* ---- completions ----------------------------------------------------------- */

/* Any thread. The request belongs to the loop thread again as soon as the
 * lock is dropped (on_done may already be freeing it), so only the pool is
 * touched after that. */
static void finish(iom__pool *p, iom_work *req) {
  pthread_mutex_lock(&p->done_lock);
  iom__list_push_back(&p->done, &req->link);
  pthread_mutex_unlock(&p->done_lock);
  iom_async_send(p->async);
}

/* The pool's async callback. The list is detached first, so done() may
 * submit or cancel freely: what that finishes waits for the next call. */
static void on_done(iom_async *async, void *data) {
  (void)async;
  iom__pool *p = data;
  iom__list batch;
  pthread_mutex_lock(&p->done_lock);
  iom__list_move(&p->done, &batch);
  pthread_mutex_unlock(&p->done_lock);
  iom_work *req;
  while ((req = req_of(iom__list_pop(&batch)))) {
    req->done(req->status, req->data);
    iom__loop_release(p->loop);
    req_recycle(p, req);
  }
}

/* ---- workers --------------------------------------------------------------- */

/* Blocks until there is work, or returns NULL at shutdown. */
static iom_work *queue_take(iom__pool *p) {
  pthread_mutex_lock(&p->lock);
  while (iom__list_empty(&p->queue) && !p->shutdown)
    pthread_cond_wait(&p->cond, &p->lock);
  iom_work *req = req_of(iom__list_pop(&p->queue));
  if (req) {
    req->state = REQ_TAKEN;
  }
  pthread_mutex_unlock(&p->lock);
  return req;
}

static void *worker_main(void *arg) {
  /* Born with every signal blocked already (spawn_workers); blocking here
   * too keeps pool.h's promise from resting on the creator alone. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  iom__pool *p = arg;
  iom_work *req;
  while ((req = queue_take(p)) != NULL) {
    req->work(req->data);
    finish(p, req);
  }
  return NULL;
}

/* ---- starting and stopping ------------------------------------------------ */

static int threads_from_env(void) {
  const char *s = getenv("IOM_POOL_THREADS");
  if (!s || !*s)
    return POOL_THREADS_DEFAULT;
  char *end;
  long n = strtol(s, &end, 10);
  if (*end != '\0' || n < 1 || n > POOL_THREADS_MAX)
    return POOL_THREADS_DEFAULT;
  return (int)n;
}

/* Start up to `n` workers; returns how many started. Threads inherit the
 * creator's signal mask, so masking around pthread_create leaves no moment
 * in which a new worker could take a signal. */
static int spawn_workers(iom__pool *p, int n) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int started = 0;
  while (started < n &&
         pthread_create(&p->threads[started], NULL, worker_main, p) == 0)
    started++;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return started;
}

static void async_free_uncounted(iom__pool *p) {
  iom__loop_hold(p->loop); /* balance the release made in pool_start */
  iom_async_free(p->async);
  p->async = NULL;
}

static int pool_start(iom__pool *p) {
  int n = p->nthreads > 0 ? p->nthreads : threads_from_env();
  p->threads = iom__calloc((size_t)n, sizeof *p->threads);
  if (!p->threads)
    return -ENOMEM;
  int err = iom_async_new(p->loop, on_done, p, &p->async);
  if (err < 0)
    goto free_threads;
  /* Uncount the async: only requests in flight keep the loop alive. */
  iom__loop_release(p->loop);
  iom__async_hide(p->async);
  p->nstarted = spawn_workers(p, n);
  if (p->nstarted > 0)
    return 0;
  err = -EAGAIN;
  async_free_uncounted(p);
free_threads:
  iom__free(p->threads);
  p->threads = NULL;
  return err;
}

/* Called by iom_loop_free, which guarantees no request is held. */
static void pool_fini(void *ext) {
  iom__pool *p = ext;
  if (p->nstarted > 0) {
    pthread_mutex_lock(&p->lock);
    p->shutdown = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nstarted; i++)
      pthread_join(p->threads[i], NULL);
    /* Only now: a worker may still have been inside iom_async_send. */
    async_free_uncounted(p);
  }
  iom__free(p->threads);
  iom_work *req;
  while ((req = req_of(iom__list_pop(&p->cache))))
    iom__free(req);
  pthread_cond_destroy(&p->cond);
  pthread_mutex_destroy(&p->done_lock);
  pthread_mutex_destroy(&p->lock);
  iom__free(p);
}

static int sync_init(iom__pool *p) {
  int err = pthread_mutex_init(&p->lock, NULL);
  if (err)
    return -err;
  if ((err = pthread_mutex_init(&p->done_lock, NULL)) != 0)
    goto destroy_lock;
  if ((err = pthread_cond_init(&p->cond, NULL)) != 0)
    goto destroy_done_lock;
  return 0;

destroy_done_lock:
  pthread_mutex_destroy(&p->done_lock);
destroy_lock:
  pthread_mutex_destroy(&p->lock);
  return -err;
}

/* The loop's pool, made and attached on first use (not started). */
static int pool_get(iom_loop *loop, iom__pool **out) {
  iom__pool *p = iom__loop_ext_get(loop, IOM__EXT_POOL);
  if (!p) {
    p = iom__calloc(1, sizeof *p);
    if (!p)
      return -ENOMEM;
    int err = sync_init(p);
    if (err < 0) {
      iom__free(p);
      return err;
    }
    p->loop = loop;
    iom__list_init(&p->queue);
    iom__list_init(&p->done);
    iom__list_init(&p->cache);
    iom__loop_ext_set(loop, IOM__EXT_POOL, p, pool_fini);
  }
  *out = p;
  return 0;
}

/* ---- public API ------------------------------------------------------------ */

int iom_pool_init(iom_loop *loop, int nthreads) {
  if (!loop || nthreads < 1 || nthreads > POOL_THREADS_MAX)
    return -EINVAL;
  iom__pool *p;
  int err = pool_get(loop, &p);
  if (err < 0)
    return err;
  if (p->nstarted > 0)
    return -EBUSY;
  p->nthreads = nthreads;
  return 0;
}

int iom_pool_submit(iom_loop *loop, iom_work_fn work, iom_done_fn done,
                    void *data, iom_work **out) {
  if (!loop || !work || !done)
    return -EINVAL;
  iom__pool *p;
  int err = pool_get(loop, &p);
  if (err < 0)
    return err;
  iom_work *req = req_alloc(p);
  if (!req)
    return -ENOMEM;
  if (p->nstarted == 0 && (err = pool_start(p)) < 0) {
    req_recycle(p, req);
    return err;
  }
  req->pool = p;
  req->work = work;
  req->done = done;
  req->data = data;
  req->status = 0;
  req->state = REQ_QUEUED;
  /* Held before a worker can see it, so on_done's release always follows. */
  iom__loop_hold(loop);
  pthread_mutex_lock(&p->lock);
  iom__list_push_back(&p->queue, &req->link);
  pthread_cond_signal(&p->cond);
  pthread_mutex_unlock(&p->lock);
  if (out)
    *out = req;
  return 0;
}

int iom_pool_cancel(iom_work *req) {
  if (!req)
    return -EINVAL;
  iom__pool *p = req->pool;
  pthread_mutex_lock(&p->lock);
  if (req->state != REQ_QUEUED) {
    pthread_mutex_unlock(&p->lock);
    return -EBUSY;
  }
  iom__list_remove(&req->link);
  req->state = REQ_TAKEN;
  pthread_mutex_unlock(&p->lock);
  req->status = -ECANCELED;
  /* Through the done list, not a direct call: done() must not run inside
   * iom_pool_cancel, and must keep its place in completion order. */
  finish(p, req);
  return 0;
}
