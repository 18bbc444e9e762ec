/* iomux: a worker pool for blocking work.
 *
 * Some work cannot be made non-blocking (getaddrinfo, disk I/O on most
 * systems, a CPU-heavy step): run it on a worker thread and get the result
 * back on the loop thread, as asyncio's run_in_executor and libuv's
 * uv_queue_work do. Each loop has its own pool, started by the first submit.
 *
 * Threads: iom_pool_init, iom_pool_submit and iom_pool_cancel are for the
 * loop's thread. work() runs on a worker; done() runs on the loop thread.
 * Workers block every signal, so signal handlers never run on them.
 */
#ifndef IOMUX_POOL_H
#define IOMUX_POOL_H

#include "iomux/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct iom_work iom_work;

/* Runs on a worker thread. It must not touch the loop or its handles. */
typedef void (*iom_work_fn)(void *data);

/* Runs on the loop thread after work() returned (status 0), or instead of it
 * when the work was cancelled (status -ECANCELED). The request is freed after
 * done() returns. */
typedef void (*iom_done_fn)(int status, void *data);

/* Give the loop's pool `nthreads` workers (1 to 256) instead of the default:
 * the IOM_POOL_THREADS environment variable, else 4. Workers start lazily.
 * Returns 0; -EINVAL (nthreads); -EBUSY (the pool has already started). */
int iom_pool_init(iom_loop *loop, int nthreads);

/* Queue work(data) for a worker; done(status, data) follows on the loop
 * thread. Work runs in submission order (first in, first started). In-flight
 * work keeps the loop alive, and iom_loop_free() returns -EBUSY until every
 * done() has run. If `req` is not NULL it receives a handle for
 * iom_pool_cancel(), valid until done() returns.
 * Returns 0; -EINVAL (work or done NULL); -ENOMEM; or -EAGAIN if no worker
 * thread could be started. On error nothing is queued and done never runs. */
int iom_pool_submit(iom_loop *loop, iom_work_fn work, iom_done_fn done,
                    void *data, iom_work **req);

/* Cancel work that no worker has started: done() then runs with -ECANCELED
 * on a later iteration. Returns 0, or -EBUSY if the work is running or has
 * run (its done() still comes, with 0). */
int iom_pool_cancel(iom_work *req);

#ifdef __cplusplus
}
#endif

#endif
