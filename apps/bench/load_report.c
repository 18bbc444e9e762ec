/* iomux-bench load: the report, as text, JSON or CSV. The server's figures
 * come from /proc (bench_server.c) at the window's edges; the latency and
 * error pieces are shared with `chat` (bench_report.c). */
#include "load.h"

#include "common/json.h"

static const char *const kind_name[ERR_KINDS] = {
    "mismatch", "lost", "stalled", "connect failed"};
static const char *const kind_key[ERR_KINDS] = {
    "mismatch", "lost", "stalled", "connect_failed"};

static bench_errors errors_of(const load_result *r) {
  return (bench_errors){.kinds = ERR_KINDS, .names = kind_name,
                        .keys = kind_key, .count = r->errors,
                        .first = r->detail[0],
                        .first_size = sizeof r->detail[0]};
}

uint64_t load_error_total(const load_result *r) {
  bench_errors e = errors_of(r);
  return bench_errors_total(&e);
}

/* ---- the numbers, once, for every format ----------------------------------- */

typedef struct summary {
  double window_s, msg_rate, byte_rate;
  double wakeups; /* server context switches per message */
  server_rate rates[2];
  bench_tail t; /* latency, errors, server; t.how points at rates */
} summary;

static void summarize(const load_opts *o, const load_result *r, summary *s) {
  *s = (summary){.window_s = (double)r->window_ns / 1e9};
  if (s->window_s > 0) {
    s->msg_rate = (double)r->messages / s->window_s;
    s->byte_rate = (double)r->bytes / s->window_s;
  }
  bench_tail *t = &s->t;
  bench_latency_of(&r->latency, &t->lat);
  t->err = errors_of(r);
  server_figures_of(o->server_pid, &r->srv_base, &r->srv_start, &r->srv_end,
                    r->messages, r->connected, &t->srv);
  if (t->srv.known && r->messages)
    s->wakeups = (double)t->srv.switches / (double)r->messages;
  s->rates[0] = (server_rate){"messages_per_cpu_s",
                              "messages_per_server_cpu_s",
                              "messages per CPU-second", t->srv.per_cpu_s,
                              0, 1};
  s->rates[1] = (server_rate){"wakeups_per_message", "wakeups_per_message",
                              "wake-ups per message", s->wakeups, 3, 4};
  t->how = (server_report){.rates = s->rates, .nrates = 2,
                           .per = "connection",
                           .per_key = "rss_per_conn_bytes"};
  t->load_cpu_s = r->load_cpu_s;
}

/* ---- text ----------------------------------------------------------------- */

static void text(const load_opts *o, const load_result *r, const summary *s,
                 FILE *to) {
  fprintf(to, "iomux-bench load: %s port %d, %d connections (%llu opened) in "
          "%d process%s, %d-byte messages, pipeline %d%s\n", o->host, o->port,
          o->conns, (unsigned long long)r->connected, o->procs,
          o->procs > 1 ? "es" : "", o->size, o->pipeline,
          o->upper ? ", uppercased" : "");
  fprintf(to, "  window      %.2f s after %.1f s of warm-up, every byte "
          "checked\n", s->window_s, o->warmup);
  fprintf(to, "  throughput  %.0f messages/s, %.2f MB/s (%llu messages)\n",
          s->msg_rate, s->byte_rate / 1e6, (unsigned long long)r->messages);
  bench_latency_text(&s->t.lat, to);
  bench_errors_text(&s->t.err, to);
  fprintf(to, "  load        CPU %.2f s = %.0f%% of one CPU (the generator, "
          "%d process%s)\n", r->load_cpu_s,
          s->window_s > 0 ? 100.0 * r->load_cpu_s / s->window_s : 0.0,
          o->procs, o->procs > 1 ? "es" : "");
  server_text(&s->t.srv, &s->t.how, s->window_s, to);
}

/* ---- JSON and CSV --------------------------------------------------------- */

static void json(const load_opts *o, const load_result *r, const summary *s,
                 FILE *to) {
  fprintf(to, "{\"host\":");
  app_json_string(o->host, to);
  fprintf(to, ",\"port\":%d,\"conns\":%d,\"connected\":%llu,\"size\":%d,"
          "\"pipeline\":%d,\"procs\":%d,\"upper\":%s,\"warmup_s\":%g,"
          "\"duration_s\":%g,\"window_s\":%.6f,\"messages\":%llu,"
          "\"bytes\":%llu,\"messages_per_s\":%.1f,\"bytes_per_s\":%.1f,"
          "\"load_cpu_s\":%.3f,",
          o->port, o->conns, (unsigned long long)r->connected, o->size,
          o->pipeline, o->procs, o->upper ? "true" : "false", o->warmup,
          o->duration, s->window_s, (unsigned long long)r->messages,
          (unsigned long long)r->bytes, s->msg_rate, s->byte_rate,
          r->load_cpu_s);
  bench_tail_json(&s->t, to);
}

static void csv(const load_opts *o, const load_result *r, const summary *s,
                FILE *to) {
  fprintf(to, "host,port,conns,connected,size,pipeline,procs,window_s,"
          "messages,messages_per_s,bytes_per_s");
  bench_tail_csv_head(&s->t, to);
  fprintf(to, "%s,%d,%d,%llu,%d,%d,%d,%.6f,%llu,%.1f,%.1f", o->host, o->port,
          o->conns, (unsigned long long)r->connected, o->size, o->pipeline,
          o->procs, s->window_s, (unsigned long long)r->messages, s->msg_rate,
          s->byte_rate);
  bench_tail_csv(&s->t, to);
}

void load_report(const load_opts *o, const load_result *r, FILE *to) {
  summary s;
  summarize(o, r, &s);
  if (o->format == BENCH_JSON)
    json(o, r, &s, to);
  else if (o->format == BENCH_CSV)
    csv(o, r, &s, to);
  else
    text(o, r, &s, to);
  fflush(to);
}
