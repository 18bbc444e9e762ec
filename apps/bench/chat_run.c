/* iomux-bench chat: the phases of a run, and the mode's entry point.
 *
 *   setup -> warm-up -> measured window -> drain -> done
 *
 * Setup: every client connects, registers and joins (chat.c); any that
 * cannot is an error and the run stops there, since a channel with a
 * missing member would count its messages as lost. Then the senders start:
 *
 *   --rate R   open loop: R messages/s in total, whatever the server does.
 *              A timer ticks every 1-10 ms and issues every message due by
 *              then (message k is due at start + k/R), taking the senders
 *              in turn. A message carries the time it was due, not the
 *              time it left: if the generator or the server falls behind,
 *              the lag is in the latency (no coordinated omission).
 *   --closed   closed loop: each sender has one message in flight. IRC
 *              servers do not echo a message to its sender, so a sender
 *              cannot see its own message arrive; instead, the member of
 *              its channel that joined right after it (wrapping round to
 *              the first) is its designated receiver, and the sender sends
 *              its next message the moment that receiver has the previous
 *              one. The other members are not waited for: a server that
 *              serves recipients in turn lets them lag, and their latency
 *              shows it.
 *
 * Only the window counts towards throughput and latency; errors count in
 * every phase. After the window no new message is sent, and the drain
 * waits (--drain seconds at most) until every message owed has arrived;
 * what has not arrived by then is lost.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "chat_gen.h"
#include "common/clock.h"
#include "common/fdlimit.h"

#include "iomux/error.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static uint64_t ms_of(double s) { return (uint64_t)(s * 1000.0 + 0.5); }

int chat_server_sample(const chat_opts *o, server_sample *out) {
  *out = (server_sample){.ok = 0};
  for (int i = 0; i < o->nserver_pids; i++) {
    server_sample one;
    int err = server_sample_read(o->server_pids[i], &one);
    if (err < 0)
      return err;
    if (!one.ok)
      return 0;
    out->user_s += one.user_s;
    out->sys_s += one.sys_s;
    out->ctxsw += one.ctxsw;
    out->nvctxsw += one.nvctxsw;
    out->hwm_kib += one.hwm_kib;
    out->rss_kib += one.rss_kib;
  }
  out->ok = o->nserver_pids > 0;
  return 0;
}

static void sample_server(chat_gen *g, server_sample *into) {
  if (g->o->server_pid > 0)
    chat_server_sample(g->o, into);
}

/* ---- the end ------------------------------------------------------------------ */

/* Every (receiver, sender) pair is owed every message the sender sent. */
static void count_lost(chat_gen *g) {
  uint32_t c = (uint32_t)g->o->channels;
  for (uint32_t r = 0; r < (uint32_t)g->o->clients; r++) {
    chat_client *rc = &g->c[r];
    int ns = chat_senders_in(g, chat_channel(g, r));
    for (int k = 0; k < ns; k++) {
      uint32_t s = (uint32_t)k * c + r % c;
      chat_track *t = &rc->from[k];
      uint32_t owed = g->c[s].seq;
      if (s == r || owed <= t->unique)
        continue;
      uint64_t missing = owed - t->unique;
      if (g->res->errors[CE_LOST] == 0)
        snprintf(g->res->detail[CE_LOST], sizeof g->res->detail[CE_LOST],
                 "receiver %s: %llu of the %u messages of sender %s never "
                 "came (next expected: %u)", rc->nick,
                 (unsigned long long)missing, owed, g->c[s].nick, t->next);
      g->res->errors[CE_LOST] += missing;
    }
  }
}

static void finish(chat_gen *g) {
  if (g->phase == P_DONE)
    return;
  if (g->phase != P_SETUP)
    count_lost(g);
  g->phase = P_DONE;
  iom_timer **timers[] = {&g->pace, &g->warm, &g->window,
                          &g->drain, &g->setup, &g->progress};
  for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
    iom_timer_free(*timers[i]);
    *timers[i] = NULL;
  }
  if (isatty(STDERR_FILENO))
    fprintf(stderr, "\r\033[K");
  for (int i = 0; i < g->o->clients; i++)
    if (g->c[i].s)
      iom_stream_abort(g->c[i].s);
}

static void on_drain_check(iom_timer *t, void *data) {
  (void)t;
  chat_gen *g = data;
  if (g->res->delivered >= g->res->expected || (uint64_t)app_now_ms() >= g->drain_end_ms)
    finish(g);
}

static void on_window_end(iom_timer *t, void *data) {
  (void)t;
  chat_gen *g = data;
  g->res->window_ns = app_now_ns() - g->window_start_ns;
  g->res->load_cpu_s += bench_own_cpu_s();
  sample_server(g, &g->res->srv_end);
  g->phase = P_DRAIN;
  iom_timer_stop(g->pace);
  g->drain_end_ms = (uint64_t)app_now_ms() + ms_of(g->o->drain);
  iom_timer_start(g->drain, 10, 10);
}

static void on_warm(iom_timer *t, void *data) {
  (void)t;
  chat_gen *g = data;
  g->phase = P_MEASURE;
  sample_server(g, &g->res->srv_start);
  g->res->load_cpu_s = -bench_own_cpu_s();
  g->window_start_ns = app_now_ns();
  iom_timer_start(g->window, ms_of(g->o->duration), 0);
}

/* ---- sending ------------------------------------------------------------------ */

/* Open loop: issue every message due by now, the senders in turn. */
static void on_pace(iom_timer *t, void *data) {
  (void)t;
  chat_gen *g = data;
  uint64_t now = app_now_ns(), S = (uint64_t)g->o->senders;
  double rate = g->o->rate;
  uint64_t due = (uint64_t)((double)(now - g->send_start_ns) * rate / 1e9) + 1;
  for (; g->issued < due; g->issued++) {
    uint64_t at = g->send_start_ns +
                  (uint64_t)((double)g->issued * 1e9 / rate);
    chat_send_next(g, &g->c[g->issued % S], at - g->base_ns);
  }
}

static void on_progress(iom_timer *t, void *data) {
  (void)t;
  chat_gen *g = data;
  chat_result *r = g->res;
  fprintf(stderr, "\r%-7s %8llu sent/s %10llu deliveries/s  errors %llu"
          "\033[K", g->phase == P_MEASURE ? "measure" : "warm-up",
          (unsigned long long)(r->sent - g->last_sent),
          (unsigned long long)(r->delivered - g->last_delivered),
          (unsigned long long)chat_error_total(r));
  g->last_sent = r->sent;
  g->last_delivered = r->delivered;
}

static void on_setup_timeout(iom_timer *t, void *data) {
  (void)t;
  chat_gen *g = data;
  chat_error(g, CE_SETUP, "after %.0f s, %d of %d clients were in their "
             "channel (--setup-timeout)", g->o->setup_timeout, g->ready,
             g->o->clients);
  finish(g);
}

void chat_all_ready(chat_gen *g) {
  const chat_opts *o = g->o;
  g->res->joined = (uint64_t)g->ready;
  g->res->setup_ms = (uint64_t)app_now_ms() - g->setup_start_ms;
  iom_timer_stop(g->setup);
  g->phase = P_WARMUP;
  g->send_start_ns = app_now_ns();
  if (isatty(STDERR_FILENO))
    iom_timer_start(g->progress, 1000, 1000);
  iom_timer_start(g->warm, ms_of(o->warmup), 0);
  if (o->closed) {
    for (int i = 0; i < o->senders; i++)
      chat_send_next(g, &g->c[i], app_now_ns() - g->base_ns);
  } else {
    uint64_t tick = (uint64_t)(1000.0 / o->rate);
    tick = tick < 1 ? 1 : tick > 10 ? 10 : tick;
    iom_timer_start(g->pace, 0, tick);
  }
}

void chat_setup_check(chat_gen *g) {
  if (g->phase != P_SETUP || g->ready + g->over < g->o->clients)
    return;
  if (g->ready == g->o->clients)
    chat_all_ready(g);
  else
    finish(g); /* the errors say who could not join */
}

/* ---- one run ------------------------------------------------------------------ */

static int gen_open(chat_gen *g) {
  const chat_opts *o = g->o;
  size_t n = (size_t)o->clients, ntracks = 0;
  int err = iom_loop_new(IOM_DEFAULT, &g->loop);
  if (err < 0)
    return err;
  for (int ch = 0; ch < o->channels; ch++)
    ntracks += (size_t)chat_members(g, ch) * (size_t)chat_senders_in(g, ch);
  g->c = calloc(n, sizeof *g->c);
  g->tracks = calloc(ntracks ? ntracks : 1, sizeof *g->tracks);
  g->chan = calloc((size_t)o->channels, sizeof *g->chan);
  if (!g->c || !g->tracks || !g->chan)
    return -ENOMEM;
  g->tag[0] = (char)('a' + getpid() % 26);
  g->tag[1] = (char)('a' + (getpid() / 26 + (int)time(NULL)) % 26);
  for (int ch = 0; ch < o->channels; ch++)
    snprintf(g->chan[ch], sizeof g->chan[ch], "#bench-%s-%d", g->tag, ch);
  chat_track *t = g->tracks;
  for (uint32_t i = 0; i < n; i++) {
    chat_client *c = &g->c[i];
    *c = (chat_client){.g = g, .id = i, .from = t};
    c->nick_len = (uint8_t)snprintf(c->nick, sizeof c->nick, "b%s%u",
                                    g->tag, i);
    t += chat_senders_in(g, chat_channel(g, i));
  }
  iom_timer **timers[] = {&g->pace, &g->warm, &g->window,
                          &g->drain, &g->setup, &g->progress};
  iom_timer_cb cbs[] = {on_pace, on_warm, on_window_end,
                        on_drain_check, on_setup_timeout, on_progress};
  for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++)
    if ((err = iom_timer_new(g->loop, cbs[i], g, timers[i])) < 0)
      return err;
  return 0;
}

static void gen_close(chat_gen *g) {
  iom_timer **timers[] = {&g->pace, &g->warm, &g->window,
                          &g->drain, &g->setup, &g->progress};
  for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++)
    iom_timer_free(*timers[i]);
  if (iom_loop_free(g->loop) == 0) { /* -EBUSY: streams still hold it */
    free(g->c);
    free(g->tracks);
  }
  free(g->chan);
}

static void gen_run(const chat_opts *o, chat_result *res) {
  chat_gen g = {.o = o, .res = res};
  int err = gen_open(&g);
  if (err == 0) {
    g.base_ns = app_now_ns();
    g.setup_start_ms = (uint64_t)app_now_ms();
    iom_timer_start(g.setup, ms_of(o->setup_timeout), 0);
    chat_connect_more(&g);
    err = iom_loop_run(g.loop, IOM_RUN_DEFAULT);
  }
  if (err < 0)
    res->setup_err = err;
  gen_close(&g);
}

/* ---- the mode ------------------------------------------------------------------ */

static void raise_fd_limit(int clients) {
  long need = clients + 64L, now = 0;
  if (app_raise_fd_limit(need, NULL, &now) >= 0 && now > 0 && now < need)
    fprintf(stderr, "iomux-bench chat: warning: %ld fds are allowed and %ld "
            "are needed; raise the hard limit (ulimit -Hn)\n",
            now, need);
}

static void pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) < 0)
    fprintf(stderr, "iomux-bench chat: cannot pin the load to CPU %d: %s\n",
            cpu, strerror(errno));
}

int bench_chat(int argc, char **argv) {
  chat_opts o;
  chat_server srv = {0};
  int rc = chat_parse(argc, argv, &o);
  if (rc >= 0)
    return rc;
  raise_fd_limit(o.clients);
  if (o.spawn && chat_spawn_ngircd(&o, &srv) < 0)
    return 1;
  if (o.spawn && o.load_cpu >= 0)
    pin_self(o.load_cpu);
  chat_result *r = calloc(1, sizeof *r);
  if (!r)
    return 1;
  hist_init(&r->latency);
  hist_init(&r->latency_same);
  hist_init(&r->latency_across);
  int err = o.server_pid ? chat_server_sample(&o, &r->srv_base) : 0;
  if (err < 0) {
    fprintf(stderr, "iomux-bench chat: --server-pid %d: %s\n", o.server_pid,
            server_sample_strerror(err));
    rc = 2;
  } else {
    gen_run(&o, r);
    if (r->setup_err < 0)
      fprintf(stderr, "iomux-bench chat: %s\n", iom_strerror(r->setup_err));
    chat_report(&o, r, stdout);
    rc = chat_error_total(r) || r->setup_err < 0 ? 1 : 0;
  }
  if (o.spawn)
    chat_spawn_stop(&srv, rc != 0);
  free(r);
  return rc;
}
