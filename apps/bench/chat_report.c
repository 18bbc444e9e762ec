/* iomux-bench chat: the report, as text, JSON or CSV. The server's figures
 * come from /proc (bench_server.c) at the window's edges: CPU (user +
 * system, all threads) and resident memory; the latency and error pieces
 * are shared with `load` (bench_report.c). */
#include "chat.h"

#include "common/json.h"

const char *const chat_error_name[CE_KINDS] = {
    "lost", "duplicated", "reordered", "corrupt", "disconnected", "setup"};

static bench_errors errors_of(const chat_result *r) {
  return (bench_errors){.kinds = CE_KINDS, .names = chat_error_name,
                        .keys = chat_error_name, .count = r->errors,
                        .first = r->detail[0],
                        .first_size = sizeof r->detail[0]};
}

uint64_t chat_error_total(const chat_result *r) {
  bench_errors e = errors_of(r);
  return bench_errors_total(&e);
}

typedef struct summary {
  double window_s, sent_rate, deliv_rate;
  server_rate rate;
  bench_tail t; /* latency, errors, server; t.how points at rate */
} summary;

static void summarize(const chat_opts *o, const chat_result *r, summary *s) {
  *s = (summary){.window_s = (double)r->window_ns / 1e9};
  if (s->window_s > 0) {
    s->sent_rate = (double)r->sent_window / s->window_s;
    s->deliv_rate = (double)r->delivered_window / s->window_s;
  }
  bench_tail *t = &s->t;
  bench_latency_of(&r->latency, &t->lat);
  t->err = errors_of(r);
  server_figures_of(o->server_pid, &r->srv_base, &r->srv_start, &r->srv_end,
                    r->delivered_window, r->joined, &t->srv);
  s->rate = (server_rate){"deliveries_per_cpu_s",
                          "deliveries_per_server_cpu_s",
                          "deliveries per server CPU-second",
                          t->srv.per_cpu_s, 0, 1};
  t->how = (server_report){.rates = &s->rate, .nrates = 1, .per = "client",
                           .per_key = "rss_per_client_bytes"};
  t->load_cpu_s = r->load_cpu_s;
}

/* ---- text ------------------------------------------------------------------- */

static void text(const chat_opts *o, const chat_result *r, const summary *s,
                 FILE *to) {
  char how[64];
  if (o->closed)
    snprintf(how, sizeof how, "closed loop");
  else
    snprintf(how, sizeof how, "open loop at %g msg/s", o->rate);
  char ports[96];
  size_t n = 0;
  for (int i = 0; i < o->nports && n < sizeof ports; i++)
    n += (size_t)snprintf(ports + n, sizeof ports - n, "%s%d", i ? "+" : "",
                          o->ports[i]);
  fprintf(to, "iomux-bench chat: %s port%s %s, %d clients in %d channel%s, %d "
          "sender%s, %s, %d-byte texts\n", o->host, o->nports > 1 ? "s" : "",
          ports, o->clients,
          o->channels, o->channels > 1 ? "s" : "", o->senders,
          o->senders > 1 ? "s" : "", how, o->size);
  fprintf(to, "  setup       %llu of %d clients registered and joined in "
          "%.3f s\n", (unsigned long long)r->joined, o->clients,
          (double)r->setup_ms / 1000.0);
  fprintf(to, "  window      %.2f s after %.1f s of warm-up, every delivery "
          "checked\n", s->window_s, o->warmup);
  fprintf(to, "  sent        %.0f messages/s (%llu in the window, %llu in "
          "all)\n", s->sent_rate, (unsigned long long)r->sent_window,
          (unsigned long long)r->sent);
  fprintf(to, "  delivered   %.0f deliveries/s (%llu in the window; %llu of "
          "%llu owed in all)\n", s->deliv_rate,
          (unsigned long long)r->delivered_window,
          (unsigned long long)r->delivered, (unsigned long long)r->expected);
  bench_latency_text(&s->t.lat, to);
  if (o->nports > 1) {
    char a[32], b[32], c[32], d[32];
    fprintf(to, "  same server p50 %s  p99 %s;  across servers p50 %s  "
            "p99 %s\n",
            bench_duration(bench_percentile(&r->latency_same, 50), a, sizeof a),
            bench_duration(bench_percentile(&r->latency_same, 99), b, sizeof b),
            bench_duration(bench_percentile(&r->latency_across, 50), c, sizeof c),
            bench_duration(bench_percentile(&r->latency_across, 99), d, sizeof d));
  }
  if (r->self_echo)
    fprintf(to, "  note        the server echoed %llu messages to their "
            "sender (ignored)\n", (unsigned long long)r->self_echo);
  bench_errors_text(&s->t.err, to);
  fprintf(to, "  load        CPU %.2f s = %.0f%% of one CPU (the generator)\n",
          r->load_cpu_s,
          s->window_s > 0 ? 100.0 * r->load_cpu_s / s->window_s : 0.0);
  server_text(&s->t.srv, &s->t.how, s->window_s, to);
}

/* ---- JSON and CSV -------------------------------------------------------------- */

static void json(const chat_opts *o, const chat_result *r, const summary *s,
                 FILE *to) {
  fprintf(to, "{\"host\":");
  app_json_string(o->host, to);
  fprintf(to, ",\"port\":%d,\"clients\":%d,\"channels\":%d,\"senders\":%d,"
          "\"mode\":\"%s\",\"rate\":%g,\"size\":%d,\"warmup_s\":%g,"
          "\"duration_s\":%g,\"joined\":%llu,\"setup_s\":%.3f,"
          "\"window_s\":%.6f,\"sent\":%llu,\"sent_window\":%llu,"
          "\"sent_per_s\":%.1f,\"delivered\":%llu,\"delivered_window\":%llu,"
          "\"expected\":%llu,\"deliveries_per_s\":%.1f,\"self_echo\":%llu,"
          "\"load_cpu_s\":%.3f,",
          o->port, o->clients, o->channels, o->senders,
          o->closed ? "closed" : "open", o->rate, o->size, o->warmup,
          o->duration, (unsigned long long)r->joined,
          (double)r->setup_ms / 1000.0, s->window_s,
          (unsigned long long)r->sent, (unsigned long long)r->sent_window,
          s->sent_rate, (unsigned long long)r->delivered,
          (unsigned long long)r->delivered_window,
          (unsigned long long)r->expected, s->deliv_rate,
          (unsigned long long)r->self_echo, r->load_cpu_s);
  if (o->nports > 1)
    fprintf(to, "\"latency_same_server_ns\":{\"p50\":%llu,\"p99\":%llu},"
            "\"latency_across_servers_ns\":{\"p50\":%llu,\"p99\":%llu},",
            (unsigned long long)bench_percentile(&r->latency_same, 50),
            (unsigned long long)bench_percentile(&r->latency_same, 99),
            (unsigned long long)bench_percentile(&r->latency_across, 50),
            (unsigned long long)bench_percentile(&r->latency_across, 99));
  bench_tail_json(&s->t, to);
}

static void csv(const chat_opts *o, const chat_result *r, const summary *s,
                FILE *to) {
  fprintf(to, "host,port,clients,channels,senders,mode,rate,size,joined,"
          "setup_s,window_s,sent_window,sent_per_s,delivered_window,"
          "deliveries_per_s");
  bench_tail_csv_head(&s->t, to);
  fprintf(to, "%s,%d,%d,%d,%d,%s,%g,%d,%llu,%.3f,%.6f,%llu,%.1f,%llu,%.1f",
          o->host, o->port, o->clients, o->channels, o->senders,
          o->closed ? "closed" : "open", o->rate, o->size,
          (unsigned long long)r->joined, (double)r->setup_ms / 1000.0,
          s->window_s, (unsigned long long)r->sent_window, s->sent_rate,
          (unsigned long long)r->delivered_window, s->deliv_rate);
  bench_tail_csv(&s->t, to);
}

void chat_report(const chat_opts *o, const chat_result *r, FILE *to) {
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
