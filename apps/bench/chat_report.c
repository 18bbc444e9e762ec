/* iomux-bench chat: the report, as text, JSON or CSV. The server's figures
 * come from /proc (load_report.c: server_sample_read) at the window's
 * edges: CPU (user + system, all threads) and resident memory. */
#include "chat.h"

#include <string.h>

const char *const chat_error_name[CE_KINDS] = {
    "lost", "duplicated", "reordered", "corrupt", "disconnected", "setup"};

uint64_t chat_error_total(const chat_result *r) {
  uint64_t n = 0;
  for (int k = 0; k < CE_KINDS; k++)
    n += r->errors[k];
  return n;
}

typedef struct summary {
  double window_s, sent_rate, deliv_rate;
  uint64_t p50, p90, p99, p999, max;
  uint64_t same[2], across[2]; /* p50, p99 (several ports) */
  int server; /* the server figures are known */
  double user_s, sys_s, per_cpu_s, rss_per_client;
  uint64_t hwm_kib, rss_kib;
} summary;

static void summarize(const chat_opts *o, const chat_result *r, summary *s) {
  const histogram *h = &r->latency;
  *s = (summary){.window_s = (double)r->window_ns / 1e9};
  if (s->window_s > 0) {
    s->sent_rate = (double)r->sent_window / s->window_s;
    s->deliv_rate = (double)r->delivered_window / s->window_s;
  }
  s->p50 = hist_percentile(h, 50), s->p90 = hist_percentile(h, 90);
  s->p99 = hist_percentile(h, 99), s->p999 = hist_percentile(h, 99.9);
  s->max = h->count ? h->max : 0;
  s->same[0] = hist_percentile(&r->latency_same, 50);
  s->same[1] = hist_percentile(&r->latency_same, 99);
  s->across[0] = hist_percentile(&r->latency_across, 50);
  s->across[1] = hist_percentile(&r->latency_across, 99);
  const server_sample *a = &r->srv_start, *b = &r->srv_end;
  s->server = o->server_pid && a->ok && b->ok;
  if (!s->server)
    return;
  s->user_s = b->user_s - a->user_s;
  s->sys_s = b->sys_s - a->sys_s;
  double cpu = s->user_s + s->sys_s;
  s->per_cpu_s = cpu > 0 ? (double)r->delivered_window / cpu : 0;
  s->hwm_kib = b->hwm_kib;
  s->rss_kib = b->rss_kib;
  if (r->joined && r->srv_base.ok)
    s->rss_per_client = ((double)b->rss_kib - (double)r->srv_base.rss_kib) *
                        1024.0 / (double)r->joined;
}

static const char *duration(uint64_t ns, char *buf, size_t cap) {
  if (ns < 1000)
    snprintf(buf, cap, "%llu ns", (unsigned long long)ns);
  else if (ns < 1000000)
    snprintf(buf, cap, "%.1f us", (double)ns / 1e3);
  else if (ns < 1000000000)
    snprintf(buf, cap, "%.2f ms", (double)ns / 1e6);
  else
    snprintf(buf, cap, "%.2f s", (double)ns / 1e9);
  return buf;
}

/* ---- text ------------------------------------------------------------------- */

static void text_errors(const chat_result *r, FILE *to) {
  if (!chat_error_total(r)) {
    fprintf(to, "  errors      none\n");
    return;
  }
  fprintf(to, "  errors      ");
  for (int k = 0; k < CE_KINDS; k++)
    fprintf(to, "%s%s %llu", k ? ", " : "", chat_error_name[k],
            (unsigned long long)r->errors[k]);
  fprintf(to, "\n");
  for (int k = 0; k < CE_KINDS; k++)
    if (r->errors[k])
      fprintf(to, "    first %s: %s\n", chat_error_name[k], r->detail[k]);
}

/* "123" or "123+456+789" (--server-pid with several). */
static const char *pids(const chat_opts *o, char *buf, size_t size) {
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; i < o->nserver_pids && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%d", i ? "+" : "",
                          o->server_pids[i]);
  return buf;
}

static void text_server(const chat_opts *o, const summary *s, FILE *to) {
  char who[128];
  if (!o->server_pid)
    return;
  if (!s->server) {
    fprintf(to, "  server      pid %s: no /proc figures (did it exit?)\n",
            pids(o, who, sizeof who));
    return;
  }
  double cpu = s->user_s + s->sys_s;
  fprintf(to, "  server      pid %s: CPU %.2f s user + %.2f s sys = %.0f%% "
          "of one CPU\n", pids(o, who, sizeof who), s->user_s, s->sys_s,
          s->window_s > 0 ? 100.0 * cpu / s->window_s : 0.0);
  fprintf(to, "              %.0f deliveries per server CPU-second\n",
          s->per_cpu_s);
  fprintf(to, "              RSS peak %.1f MiB, now %.1f MiB, %.0f bytes per "
          "client\n", (double)s->hwm_kib / 1024.0,
          (double)s->rss_kib / 1024.0, s->rss_per_client);
}

static void text(const chat_opts *o, const chat_result *r, const summary *s,
                 FILE *to) {
  char a[32], b[32], c[32], d[32], e[32], how[64];
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
  fprintf(to, "  latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
          duration(s->p50, a, sizeof a), duration(s->p90, b, sizeof b),
          duration(s->p99, c, sizeof c), duration(s->p999, d, sizeof d),
          duration(s->max, e, sizeof e));
  if (o->nports > 1)
    fprintf(to, "  same server p50 %s  p99 %s;  across servers p50 %s  p99 "
            "%s\n", duration(s->same[0], a, sizeof a),
            duration(s->same[1], b, sizeof b),
            duration(s->across[0], c, sizeof c),
            duration(s->across[1], d, sizeof d));
  if (r->self_echo)
    fprintf(to, "  note        the server echoed %llu messages to their "
            "sender (ignored)\n", (unsigned long long)r->self_echo);
  text_errors(r, to);
  fprintf(to, "  load        CPU %.2f s = %.0f%% of one CPU (the generator)\n",
          r->load_cpu_s,
          s->window_s > 0 ? 100.0 * r->load_cpu_s / s->window_s : 0.0);
  text_server(o, s, to);
}

/* ---- JSON and CSV -------------------------------------------------------------- */

static void json_string(const char *s, FILE *to) {
  fputc('"', to);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fprintf(to, "\\%c", *s);
    else if ((unsigned char)*s < 32)
      fprintf(to, "\\u%04x", *s);
    else
      fputc(*s, to);
  }
  fputc('"', to);
}

static void json(const chat_opts *o, const chat_result *r, const summary *s,
                 FILE *to) {
  fprintf(to, "{\"host\":");
  json_string(o->host, to);
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
  fprintf(to, "\"latency_ns\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,"
          "\"p99_9\":%llu,\"max\":%llu,\"mean\":%.0f},\"errors\":{",
          (unsigned long long)s->p50, (unsigned long long)s->p90,
          (unsigned long long)s->p99, (unsigned long long)s->p999,
          (unsigned long long)s->max, hist_mean(&r->latency));
  for (int k = 0; k < CE_KINDS; k++)
    fprintf(to, "%s\"%s\":%llu", k ? "," : "", chat_error_name[k],
            (unsigned long long)r->errors[k]);
  fprintf(to, "},\"ports\":%d", o->nports);
  if (o->nports > 1)
    fprintf(to, ",\"latency_same_server_ns\":{\"p50\":%llu,\"p99\":%llu},"
            "\"latency_across_servers_ns\":{\"p50\":%llu,\"p99\":%llu}",
            (unsigned long long)s->same[0], (unsigned long long)s->same[1],
            (unsigned long long)s->across[0],
            (unsigned long long)s->across[1]);
  fprintf(to, ",\"first_errors\":[");
  for (int k = 0, n = 0; k < CE_KINDS; k++)
    if (r->errors[k]) {
      fprintf(to, n++ ? "," : "");
      json_string(r->detail[k], to);
    }
  fprintf(to, "],\"server\":");
  if (!s->server)
    fprintf(to, "null}\n");
  else
    fprintf(to, "{\"pid\":%d,\"pids\":%d,\"user_s\":%.3f,\"sys_s\":%.3f,"
            "\"deliveries_per_cpu_s\":%.1f,\"rss_peak_kib\":%llu,"
            "\"rss_kib\":%llu,\"rss_per_client_bytes\":%.0f}}\n",
            o->server_pid, o->nserver_pids, s->user_s, s->sys_s,
            s->per_cpu_s, (unsigned long long)s->hwm_kib,
            (unsigned long long)s->rss_kib, s->rss_per_client);
}

static void csv(const chat_opts *o, const chat_result *r, const summary *s,
                FILE *to) {
  fprintf(to, "host,port,clients,channels,senders,mode,rate,size,joined,"
          "setup_s,window_s,sent_window,sent_per_s,delivered_window,"
          "deliveries_per_s,p50_ns,p90_ns,p99_ns,p99_9_ns,max_ns");
  for (int k = 0; k < CE_KINDS; k++)
    fprintf(to, ",%s", chat_error_name[k]);
  fprintf(to, ",server_user_s,server_sys_s,deliveries_per_server_cpu_s,"
          "server_rss_peak_kib,server_rss_per_client_bytes,load_cpu_s,"
          "same_p50_ns,same_p99_ns,across_p50_ns,across_p99_ns\n");
  fprintf(to, "%s,%d,%d,%d,%d,%s,%g,%d,%llu,%.3f,%.6f,%llu,%.1f,%llu,%.1f,"
          "%llu,%llu,%llu,%llu,%llu", o->host, o->port, o->clients,
          o->channels, o->senders, o->closed ? "closed" : "open", o->rate,
          o->size, (unsigned long long)r->joined,
          (double)r->setup_ms / 1000.0, s->window_s,
          (unsigned long long)r->sent_window, s->sent_rate,
          (unsigned long long)r->delivered_window, s->deliv_rate,
          (unsigned long long)s->p50, (unsigned long long)s->p90,
          (unsigned long long)s->p99, (unsigned long long)s->p999,
          (unsigned long long)s->max);
  for (int k = 0; k < CE_KINDS; k++)
    fprintf(to, ",%llu", (unsigned long long)r->errors[k]);
  if (s->server)
    fprintf(to, ",%.3f,%.3f,%.1f,%llu,%.0f", s->user_s, s->sys_s,
            s->per_cpu_s, (unsigned long long)s->hwm_kib, s->rss_per_client);
  else
    fprintf(to, ",,,,,");
  fprintf(to, ",%.3f", r->load_cpu_s);
  if (o->nports > 1)
    fprintf(to, ",%llu,%llu,%llu,%llu\n", (unsigned long long)s->same[0],
            (unsigned long long)s->same[1], (unsigned long long)s->across[0],
            (unsigned long long)s->across[1]);
  else
    fprintf(to, ",,,,\n");
}

void chat_report(const chat_opts *o, const chat_result *r, FILE *to) {
  summary s;
  summarize(o, r, &s);
  if (o->format == LOAD_JSON)
    json(o, r, &s, to);
  else if (o->format == LOAD_CSV)
    csv(o, r, &s, to);
  else
    text(o, r, &s, to);
  fflush(to);
}
