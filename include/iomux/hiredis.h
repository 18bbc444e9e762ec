/* iomux: hiredis's asynchronous API on the iomux loop.
 *
 * The same shape as the adapters hiredis ships for ae, libev, libuv and
 * libevent (hiredis/adapters/): header-only, every function static, so
 * libiomux never links hiredis; only a program that includes this header
 * does.
 *
 *     redisAsyncContext *ac = redisAsyncConnect("127.0.0.1", 6379);
 *     if (ac == NULL || ac->err) ...                  (hiredis's own check)
 *     iom_hiredis_attach(loop, ac);                   (0 or -errno)
 *     iom_hiredis_set_timeout(ac, 1000, 2000);        (optional)
 *     redisAsyncSetConnectCallback(ac, on_connect);
 *     redisAsyncCommand(ac, on_reply, data, "GET %s", key);
 *     iom_loop_run(loop, IOM_RUN_DEFAULT);
 *
 * What it does: one iom_io watcher per context, watching what hiredis asks
 * for (its addRead / delRead / addWrite / delWrite hooks set the watcher's
 * interest to read, write or both; the loop's batched interest changes make
 * a change and its undo within one turn free), and one iom_timer per context
 * for the timeouts. Readiness calls redisAsyncHandleRead / HandleWrite, which
 * run the reply callbacks on the loop's thread. Write interest is on from
 * the attach, so the end of the connect is seen even before any command.
 *
 * Who owns what: the context stays hiredis's and the caller's; the adapter's
 * state (the watcher, the timer, a small struct) is the adapter's and goes
 * in hiredis's cleanup hook, which hiredis calls when the context ends
 * (redisAsyncFree, redisAsyncDisconnect once the replies are in, an error,
 * a timeout). Until then the watcher and the timer are handles of the loop:
 * iom_loop_free returns -EBUSY while a context is attached, so free or
 * disconnect every context, and run the loop until they are gone, first.
 * The socket is hiredis's: the adapter never closes it.
 *
 * Timeouts. hiredis 1.x asks its adapter for a timer (scheduleTimer) and
 * runs its own connect and command timeouts (redisOptions, or
 * redisAsyncSetTimeout); the adapter gives it one. hiredis 0.14 (Debian 12)
 * has no timeouts at all: a connect to a black hole or a command to a server
 * that stopped (SIGSTOP, a frozen VM) waits forever. iom_hiredis_set_timeout
 * adds them on both versions:
 *   - connect: not connected within connect_ms: the connect callback gets
 *     REDIS_ERR with errstr "Timeout", then the context is freed (as after
 *     any failed connect);
 *   - command: replies awaited and nothing read for command_ms: the context
 *     fails with errstr "Timeout": every pending reply callback gets NULL,
 *     the disconnect callback REDIS_ERR, then the context is freed.
 * A subscriber waiting for messages awaits no reply (hiredis keeps its
 * subscriptions apart from its replies): it never times out. Send it no
 * other command (with 0.14 a reply and a message could be mixed up); watch
 * the server through a second context.
 *
 * Threads: the loop's thread only, like the loop and like hiredis's async
 * API. Errors: negative errno values; nothing here prints.
 *
 * Versions: hiredis 0.14 and 1.x (HIREDIS_MAJOR). Tested with 0.14.1.
 */
#ifndef IOMUX_HIREDIS_H
#define IOMUX_HIREDIS_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "iomux/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The adapter's state, one per context (ac->ev.data). Private. */
typedef struct iom_hiredis_ev {
  redisAsyncContext *ac;
  iom_loop *loop;
  iom_io *io;
  iom_timer *timer;
  unsigned events;       /* the interest hiredis asked for */
  uint64_t connect_ms;   /* 0: no connect timeout */
  uint64_t command_ms;   /* 0: no command timeout (0.14: ours) */
  uint64_t attached_at;  /* loop time of the attach */
  uint64_t progress_at;  /* loop time of the last read, or of the first
                            command after an idle spell */
  const char *failed;    /* the socket could not be watched: this error */
  int in_callback;       /* inside iom_hiredis__io_cb / __timer_cb */
  int dead;              /* cleaned up meanwhile: free on the way out */
#if HIREDIS_MAJOR >= 1
  int hiredis_timer;     /* the timer runs hiredis's scheduleTimer */
#endif
} iom_hiredis_ev;

static void iom_hiredis__watch(iom_hiredis_ev *e, unsigned events) {
  e->events = events;
  if (events == 0) {
    iom_io_stop(e->io);
  } else if (iom_io_start(e->io, events) < 0 && !e->failed) {
    /* Out of memory, or a socket closed under hiredis: end the context on
     * the next turn, with this error (not from inside a hiredis hook). */
    e->failed = "iomux: cannot watch the socket";
    iom_timer_start(e->timer, 0, 0);
  }
}

/* Every hook is a no-op once cleanup has run: hiredis 1.x may still touch
 * its hooks while it frees the context. */
static void iom_hiredis__add_read(void *data) {
  iom_hiredis_ev *e = (iom_hiredis_ev *)data;
  if (e && !(e->events & IOM_READ))
    iom_hiredis__watch(e, e->events | IOM_READ);
}

static void iom_hiredis__del_read(void *data) {
  iom_hiredis_ev *e = (iom_hiredis_ev *)data;
  if (e && (e->events & IOM_READ))
    iom_hiredis__watch(e, e->events & ~(unsigned)IOM_READ);
}

/* hiredis adds write interest whenever a command is queued: that is when a
 * command timeout starts counting, if none was counting (0.14; 1.x counts
 * its own through scheduleTimer). */
static void iom_hiredis__add_write(void *data) {
  iom_hiredis_ev *e = (iom_hiredis_ev *)data;
  if (e == NULL)
    return;
#if HIREDIS_MAJOR < 1
  if (e->command_ms && !iom_timer_active(e->timer) &&
      (e->ac->c.flags & REDIS_CONNECTED)) {
    e->progress_at = iom_loop_now(e->loop);
    iom_timer_start(e->timer, e->command_ms, 0);
  }
#endif
  if (!(e->events & IOM_WRITE))
    iom_hiredis__watch(e, e->events | IOM_WRITE);
}

static void iom_hiredis__del_write(void *data) {
  iom_hiredis_ev *e = (iom_hiredis_ev *)data;
  if (e && (e->events & IOM_WRITE))
    iom_hiredis__watch(e, e->events & ~(unsigned)IOM_WRITE);
}

/* hiredis is done with the context. The handles go now (freeing a handle
 * from its own callback is allowed); the struct waits if one of ours is on
 * the stack. */
static void iom_hiredis__cleanup(void *data) {
  iom_hiredis_ev *e = (iom_hiredis_ev *)data;
  if (e == NULL)
    return;
  iom_io_free(e->io);
  iom_timer_free(e->timer);
  e->io = NULL;
  e->timer = NULL;
  e->ac->ev.data = NULL; /* later hook calls see NULL */
  if (e->in_callback)
    e->dead = 1;
  else
    free(e);
}

static void iom_hiredis__io_cb(iom_io *io, unsigned events, void *data) {
  iom_hiredis_ev *e = (iom_hiredis_ev *)data;
  (void)io;
  e->in_callback = 1;
  if (events & IOM_READ) {
    e->progress_at = iom_loop_now(e->loop);
    redisAsyncHandleRead(e->ac);
  }
  /* The read may have ended the context (an error, the last reply of a
   * disconnect): then cleanup has run and e->dead is set. */
  if (!e->dead && (events & IOM_WRITE))
    redisAsyncHandleWrite(e->ac);
#if HIREDIS_MAJOR < 1
  /* Commands queued before the connect ended start counting now. */
  if (!e->dead && e->command_ms && e->ac->replies.head != NULL &&
      !iom_timer_active(e->timer)) {
    e->progress_at = iom_loop_now(e->loop);
    iom_timer_start(e->timer, e->command_ms, 0);
  }
#endif
  e->in_callback = 0;
  if (e->dead)
    free(e);
}

/* ---- timeouts ------------------------------------------------------------ */

#if HIREDIS_MAJOR >= 1
static void iom_hiredis__schedule(void *data, struct timeval tv) {
  iom_hiredis_ev *e = (iom_hiredis_ev *)data;
  if (e == NULL)
    return;
  e->hiredis_timer = 1;
  iom_timer_start(e->timer,
                  (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000, 0);
}
#endif

static void iom_hiredis__set_error(redisAsyncContext *ac, const char *why) {
  if (!ac->c.err) {
    ac->c.err = REDIS_ERR_IO;
    snprintf(ac->c.errstr, sizeof ac->c.errstr, "%s", why);
  }
  ac->err = ac->c.err;
  ac->errstr = ac->c.errstr;
}

/* A connected context fails with `why`, as on a read error: hiredis checks
 * c->err first thing when it reads, so the read below ends the context
 * (every pending callback gets NULL, the disconnect callback REDIS_ERR,
 * then the context is freed). */
static void iom_hiredis__fail_commands(iom_hiredis_ev *e, const char *why) {
  iom_hiredis__set_error(e->ac, why);
  redisAsyncHandleRead(e->ac);
}

/* The connect fails with `why`: as hiredis does when a connect fails, the
 * connect callback gets REDIS_ERR and the context is freed (pending command
 * callbacks get NULL; no disconnect callback: it never connected). */
static void iom_hiredis__fail_connect(iom_hiredis_ev *e, const char *why) {
  redisAsyncContext *ac = e->ac;
  iom_hiredis__set_error(ac, why);
#if HIREDIS_MAJOR >= 1
  redisAsyncHandleTimeout(ac);
#else
  if (ac->onConnect)
    ac->onConnect(ac, REDIS_ERR);
  redisAsyncFree(ac);
#endif
}

/* One timer per context: hiredis's (1.x), a failed watch, the connect
 * timeout, or (0.14) the command timeout, checked lazily: reads only note
 * the time, and the timer, when it fires, starts again for what is left. */
static void iom_hiredis__timer_cb(iom_timer *t, void *data) {
  iom_hiredis_ev *e = (iom_hiredis_ev *)data;
  redisAsyncContext *ac = e->ac;
  int connected = (ac->c.flags & REDIS_CONNECTED) != 0;
  uint64_t now = iom_loop_now(e->loop);
  e->in_callback = 1;
  if (e->failed) {
    if (connected)
      iom_hiredis__fail_commands(e, e->failed);
    else
      iom_hiredis__fail_connect(e, e->failed);
#if HIREDIS_MAJOR >= 1
  } else if (e->hiredis_timer) {
    e->hiredis_timer = 0;
    redisAsyncHandleTimeout(ac);
#endif
  } else if (!connected) {
    if (e->connect_ms && now - e->attached_at >= e->connect_ms)
      iom_hiredis__fail_connect(e, "Timeout");
    else if (e->connect_ms)
      iom_timer_start(t, e->attached_at + e->connect_ms - now, 0);
#if HIREDIS_MAJOR < 1
  } else if (ac->replies.head != NULL && e->command_ms) {
    if (now - e->progress_at >= e->command_ms)
      iom_hiredis__fail_commands(e, "Timeout");
    else
      iom_timer_start(t, e->progress_at + e->command_ms - now, 0);
#endif
  } /* else idle: the next command starts the count again */
  e->in_callback = 0;
  if (e->dead)
    free(e);
}

/* ---- the public part ----------------------------------------------------- */

/* Run `ac` on `loop`. Call it right after redisAsyncConnect*, before the
 * first command. Returns 0; -EEXIST (the context is attached to an event
 * library already); -ENOTCONN (the connect failed at once, ac->err is set:
 * free the context with redisAsyncFree, no callback will come); -ENOMEM;
 * -EBADF. On error nothing is attached. */
static int iom_hiredis_attach(iom_loop *loop, redisAsyncContext *ac) {
  if (ac->ev.data != NULL)
    return -EEXIST;
  if (ac->err || ac->c.fd < 0)
    return -ENOTCONN;
  iom_hiredis_ev *e = (iom_hiredis_ev *)calloc(1, sizeof *e);
  if (e == NULL)
    return -ENOMEM;
  int err = iom_io_new(loop, ac->c.fd, iom_hiredis__io_cb, e, &e->io);
  if (err == 0)
    err = iom_timer_new(loop, iom_hiredis__timer_cb, e, &e->timer);
  if (err == 0)
    err = iom_io_start(e->io, IOM_WRITE); /* the connect's end */
  if (err < 0) {
    iom_io_free(e->io);
    iom_timer_free(e->timer);
    free(e);
    return err;
  }
  e->ac = ac;
  e->loop = loop;
  e->events = IOM_WRITE;
  e->attached_at = e->progress_at = iom_loop_now(loop);
  ac->ev.data = e;
  ac->ev.addRead = iom_hiredis__add_read;
  ac->ev.delRead = iom_hiredis__del_read;
  ac->ev.addWrite = iom_hiredis__add_write;
  ac->ev.delWrite = iom_hiredis__del_write;
  ac->ev.cleanup = iom_hiredis__cleanup;
#if HIREDIS_MAJOR >= 1
  ac->ev.scheduleTimer = iom_hiredis__schedule;
#endif
  return 0;
}

/* Connect and command timeouts in milliseconds (0: none), as described at
 * the top. Call it after iom_hiredis_attach, before the connect ends (right
 * after the attach) for the connect timeout to count. With hiredis 1.x the
 * command timeout is hiredis's own (redisAsyncSetTimeout), and its option
 * timeouts work as well. Returns 0, or -EINVAL (not attached here). */
static int iom_hiredis_set_timeout(redisAsyncContext *ac, uint64_t connect_ms,
                                   uint64_t command_ms) {
  iom_hiredis_ev *e = (iom_hiredis_ev *)ac->ev.data;
  if (e == NULL || ac->ev.cleanup != iom_hiredis__cleanup)
    return -EINVAL;
  e->connect_ms = connect_ms;
  e->command_ms = command_ms;
#if HIREDIS_MAJOR >= 1
  if (command_ms) {
    struct timeval tv = {(time_t)(command_ms / 1000),
                         (suseconds_t)(command_ms % 1000) * 1000};
    redisAsyncSetTimeout(ac, tv);
  }
#endif
  if (connect_ms && !(ac->c.flags & REDIS_CONNECTED)) {
    uint64_t spent = iom_loop_now(e->loop) - e->attached_at;
    iom_timer_start(e->timer, spent < connect_ms ? connect_ms - spent : 0, 0);
  }
  return 0;
}

#ifdef __cplusplus
}
#endif

#endif
