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
 * the IOM_POOL_THREADS environment variable (read when the pool starts;
 * ignored unless 1 to 256), else 4. Workers start with the first submit.
 * Returns 0; -EINVAL (nthreads); -EBUSY (the pool has already started);
 * -ENOMEM. */
int iom_pool_init(iom_loop *loop, int nthreads);

/* Queue work(data) for a worker; done(status, data) follows on the loop
 * thread. Work runs in submission order (first in, first started). In-flight
 * work keeps the loop alive, and iom_loop_free() returns -EBUSY until every
 * done() has run. If `req` is not NULL it receives a handle for
 * iom_pool_cancel(), valid until done() returns.
 * Returns 0; -EINVAL (work or done NULL); -ENOMEM; or -EAGAIN if no worker
 * thread could be started (the next submit tries again; if only some start,
 * the pool runs with those). On error nothing is queued and done never
 * runs. */
int iom_pool_submit(iom_loop *loop, iom_work_fn work, iom_done_fn done,
                    void *data, iom_work **req);

/* Cancel work that no worker has started: done() then runs with -ECANCELED,
 * called by the loop after this returns (never from inside it). Returns 0;
 * -EBUSY if the work is running, has run (its done() still comes, with 0)
 * or was already cancelled; -EINVAL (req NULL). */
int iom_pool_cancel(iom_work *req);

#ifdef __cplusplus
}
#endif

#endif
