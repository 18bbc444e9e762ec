/* The loop's walk (loop.h: iom_loop_walk): it hands the callback every
 * handle the app made, of every type, and none the library made for its own
 * use (a stream's watcher, a listener's retry timer, a connect timer, the
 * pool's wake-up); a callback may close or free any handle, the one it is
 * given included; a walk that closes everything at shutdown lets the run
 * end and the loop be freed, with nothing leaked (the ASan build checks).
 * Real loopback sockets. Run once per selector backend (argv[1]). */
#define _GNU_SOURCE
#include "iomux/loop.h"
#include "iomux/pool.h"
#include "iomux/stream.h"
#include "looputil.h"
#include "suite.h"
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>

#define NCLIENTS 3

/* A listener, NCLIENTS connected stream pairs, timers (one started, one
 * not), an io watcher, a started signal watcher and an async. */
typedef struct world {
  iom_loop *loop;
  iom_listener *listener;
  iom_stream *clients[NCLIENTS];
  iom_timer *ticking, *idle;
  iom_io *io;
  iom_signal *sig;
  iom_async *async;
  int sv[2];
  int accepted, connected, closed;
  int seen[IOM_HANDLE_LISTENER + 1]; /* visits per type */
} world;

static void on_close(iom_stream *s, int err, void *data) {
  (void)s;
  assert_int_equal(err, 0);
  ((world *)data)->closed++;
}

static void on_connect(iom_stream *s, void *data) {
  (void)s;
  ((world *)data)->connected++;
}

static const iom_stream_cbs cbs = {.on_connect = on_connect,
                                   .on_close = on_close};

static void on_accept(iom_listener *l, int fd, void *data) {
  (void)l;
  world *w = data;
  iom_stream *s;
  assert_true(fd >= 0);
  assert_int_equal(iom_stream_new(w->loop, fd, &cbs, w, &s), 0);
  w->accepted++;
}

static void on_tick(iom_timer *t, void *data) {
  (void)t;
  (void)data;
}

static void on_io(iom_io *io, unsigned events, void *data) {
  (void)io;
  (void)events;
  (void)data;
}

static void on_sig(iom_signal *s, int signo, void *data) {
  (void)s;
  (void)signo;
  (void)data;
}

static void on_async(iom_async *a, void *data) {
  (void)a;
  (void)data;
}

/* Make the world and run until every client is connected and accepted. */
static void world_make(world *w) {
  memset(w, 0, sizeof *w);
  w->loop = loop_new();
  assert_int_equal(iom_listener_new(w->loop, "127.0.0.1", 0, NULL, on_accept,
                                    w, &w->listener),
                   0);
  int port = iom_listener_port(w->listener);
  for (int i = 0; i < NCLIENTS; i++) /* a timeout: a connect timer each */
    assert_int_equal(iom_stream_connect(w->loop, "127.0.0.1", port, 10000,
                                        &cbs, w, &w->clients[i]),
                     0);
  assert_int_equal(iom_timer_new(w->loop, on_tick, w, &w->ticking), 0);
  iom_timer_start(w->ticking, 3600 * 1000, 3600 * 1000);
  assert_int_equal(iom_timer_new(w->loop, on_tick, w, &w->idle), 0);
  tu_socketpair(w->sv);
  assert_int_equal(iom_io_new(w->loop, w->sv[0], on_io, w, &w->io), 0);
  assert_int_equal(iom_io_start(w->io, IOM_READ), 0);
  assert_int_equal(iom_signal_new(w->loop, on_sig, w, &w->sig), 0);
  assert_int_equal(iom_signal_start(w->sig, SIGUSR2), 0);
  assert_int_equal(iom_async_new(w->loop, on_async, w, &w->async), 0);
  uint64_t until = tu_now_ms() + 5000;
  while ((w->connected < NCLIENTS || w->accepted < NCLIENTS) &&
         tu_now_ms() < until)
    assert_int_equal(iom_loop_run(w->loop, IOM_RUN_ONCE), 1);
  assert_int_equal(w->connected, NCLIENTS);
  assert_int_equal(w->accepted, NCLIENTS);
}

static void count(void *handle, iom_handle_type type, void *data) {
  world *w = data;
  assert_non_null(handle);
  assert_true(type >= IOM_HANDLE_IO && type <= IOM_HANDLE_LISTENER);
  w->seen[type]++;
}

/* Closes or frees each handle by its type: a shutdown without a list. */
static void close_any(void *handle, iom_handle_type type, void *data) {
  count(handle, type, data);
  switch (type) {
  case IOM_HANDLE_IO: iom_io_free(handle); break;
  case IOM_HANDLE_TIMER: iom_timer_free(handle); break;
  case IOM_HANDLE_SIGNAL: iom_signal_free(handle); break;
  case IOM_HANDLE_ASYNC: iom_async_free(handle); break;
  case IOM_HANDLE_STREAM: iom_stream_close(handle); break;
  case IOM_HANDLE_LISTENER: iom_listener_free(handle); break;
  }
}

static void assert_seen(const world *w, int io, int timers, int signals,
                        int asyncs, int streams, int listeners) {
  assert_int_equal(w->seen[IOM_HANDLE_IO], io);
  assert_int_equal(w->seen[IOM_HANDLE_TIMER], timers);
  assert_int_equal(w->seen[IOM_HANDLE_SIGNAL], signals);
  assert_int_equal(w->seen[IOM_HANDLE_ASYNC], asyncs);
  assert_int_equal(w->seen[IOM_HANDLE_STREAM], streams);
  assert_int_equal(w->seen[IOM_HANDLE_LISTENER], listeners);
}

/* Each of the app's handles once; the streams' and listener's own watchers
 * and timers (12 of them here) not at all. */
static void test_walk_visits_the_apps_handles(void **state) {
  (void)state;
  world w;
  world_make(&w);
  assert_int_equal(iom_loop_walk(w.loop, count, &w), 0);
  assert_seen(&w, 1, 2, 1, 1, 2 * NCLIENTS, 1);

  memset(w.seen, 0, sizeof w.seen);
  assert_int_equal(iom_loop_walk(w.loop, close_any, &w), 0);
  assert_seen(&w, 1, 2, 1, 1, 2 * NCLIENTS, 1);
  assert_int_equal(iom_loop_run(w.loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(w.closed, 2 * NCLIENTS);
  assert_int_equal(stats_of(w.loop).handles, 0);
  assert_int_equal(iom_loop_free(w.loop), 0);
  close_pair(w.sv);
}

/* A stream being closed is visited until its on_close; a freed listener is
 * not visited at all. */
static void test_walk_after_close(void **state) {
  (void)state;
  world w;
  world_make(&w);
  iom_stream_close(w.clients[0]);
  iom_listener_free(w.listener);
  assert_int_equal(iom_loop_walk(w.loop, count, &w), 0);
  assert_seen(&w, 1, 2, 1, 1, 2 * NCLIENTS, 0);
  assert_int_equal(iom_loop_run(w.loop, IOM_RUN_NOWAIT), 1);
  assert_true(w.closed >= 1); /* the client, and maybe its peer on EOF */

  memset(w.seen, 0, sizeof w.seen);
  assert_int_equal(iom_loop_walk(w.loop, close_any, &w), 0);
  assert_int_equal(w.seen[IOM_HANDLE_STREAM], 2 * NCLIENTS - w.closed);
  assert_int_equal(iom_loop_run(w.loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(w.closed, 2 * NCLIENTS);
  assert_int_equal(iom_loop_free(w.loop), 0);
  close_pair(w.sv);
}

/* The first visit frees every other timer: none of them is visited. */
typedef struct many {
  iom_timer *timers[8];
  int visits;
} many;

static void free_all(void *handle, iom_handle_type type, void *data) {
  many *m = data;
  assert_int_equal(type, IOM_HANDLE_TIMER);
  m->visits++;
  for (int i = 0; i < 8; i++)
    if (m->timers[i] != handle)
      iom_timer_free(m->timers[i]);
  iom_timer_free(handle);
}

static void test_walk_callback_frees_others(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  many m = {0};
  for (int i = 0; i < 8; i++) {
    assert_int_equal(iom_timer_new(loop, on_tick, NULL, &m.timers[i]), 0);
    iom_timer_start(m.timers[i], 1000, 0);
  }
  assert_int_equal(iom_loop_walk(loop, free_all, &m), 0);
  assert_int_equal(m.visits, 1);
  assert_int_equal(stats_of(loop).handles, 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* A handle made during the walk waits for the next one; a walk inside a
 * walk is refused. */
typedef struct grow {
  iom_loop *loop;
  iom_timer *made;
  int visits, nested;
} grow;

static void make_one(void *handle, iom_handle_type type, void *data) {
  (void)handle;
  (void)type;
  grow *g = data;
  g->visits++;
  g->nested = iom_loop_walk(g->loop, make_one, g);
  if (!g->made)
    assert_int_equal(iom_timer_new(g->loop, on_tick, NULL, &g->made), 0);
}

static void test_walk_made_during_and_nested(void **state) {
  (void)state;
  grow g = {.loop = loop_new()};
  iom_timer *t;
  assert_int_equal(iom_timer_new(g.loop, on_tick, NULL, &t), 0);
  assert_int_equal(iom_loop_walk(g.loop, make_one, &g), 0);
  assert_int_equal(g.visits, 1);
  assert_int_equal(g.nested, -EBUSY);
  g.visits = 0;
  assert_int_equal(iom_loop_walk(g.loop, make_one, &g), 0);
  assert_int_equal(g.visits, 2);
  iom_timer_free(t);
  iom_timer_free(g.made);
  assert_int_equal(iom_loop_free(g.loop), 0);
}

/* The pool's wake-up (an async the pool makes on the loop) is not the
 * app's: not visited while work is in flight, nor after. */
static void work(void *data) { (void)data; }

static void done(int status, void *data) {
  assert_int_equal(status, 0);
  (*(int *)data)++;
}

static void test_walk_skips_the_pools_handles(void **state) {
  (void)state;
  iom_loop *loop = loop_new();
  int finished = 0;
  world w = {0};
  assert_int_equal(iom_pool_submit(loop, work, done, &finished, NULL), 0);
  assert_int_equal(iom_loop_walk(loop, count, &w), 0);
  assert_int_equal(iom_loop_run(loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(finished, 1);
  assert_int_equal(iom_loop_walk(loop, count, &w), 0);
  assert_seen(&w, 0, 0, 0, 0, 0, 0);
  assert_int_equal(iom_loop_free(loop), 0);
}

static void test_handle_type_names(void **state) {
  (void)state;
  assert_string_equal(iom_handle_type_name(IOM_HANDLE_IO), "io");
  assert_string_equal(iom_handle_type_name(IOM_HANDLE_TIMER), "timer");
  assert_string_equal(iom_handle_type_name(IOM_HANDLE_SIGNAL), "signal");
  assert_string_equal(iom_handle_type_name(IOM_HANDLE_ASYNC), "async");
  assert_string_equal(iom_handle_type_name(IOM_HANDLE_STREAM), "stream");
  assert_string_equal(iom_handle_type_name(IOM_HANDLE_LISTENER), "listener");
  assert_string_equal(iom_handle_type_name((iom_handle_type)0), "unknown");
}

static const suite_case cases[] = {
    SUITE_CASE(test_walk_visits_the_apps_handles),
    SUITE_CASE(test_walk_after_close),
    SUITE_CASE(test_walk_callback_frees_others),
    SUITE_CASE(test_walk_made_during_and_nested),
    SUITE_CASE(test_walk_skips_the_pools_handles),
    SUITE_CASE(test_handle_type_names),
};

int main(int argc, char **argv) {
  return SUITE_MAIN_PER_BACKEND(argc, argv, "loop_walk", cases);
}
