/* iomux-bench compare: results.csv and results.json, every run of both
 * scenarios and the medians of every cell, for whoever wants to plot or
 * check the numbers themselves.
 *
 * A run's `conns` is its busy connections and `idle` the idle ones held
 * open beside them: 0 in the main scenario, the x axis of the --idle one.
 * Latency is given to the 3 significant digits its histogram supports.
 */
#include "compare.h"
#include "histogram.h"

#include "common/json.h"

#include <math.h>

static const char *status_name(int s) {
  return s == RUN_OK ? "ok" : s == RUN_NA ? "n/a" : s == RUN_UNSERVED
                                                         ? "unserved" : "error";
}

static void csv_text(const char *s, FILE *to) {
  fputc('"', to);
  for (; *s; s++)
    fprintf(to, *s == '"' ? "\"\"" : "%c", *s);
  fputc('"', to);
}

/* A number for CSV (empty) or JSON (null) when unknown. */
static void num(double v, int json, FILE *to) {
  if (isnan(v))
    fputs(json ? "null" : "", to);
  else
    fprintf(to, "%.6g", v);
}

static const char *const csv_header =
    "model,conns,rep,order,status,reason,window_s,messages,messages_per_s,"
    "bytes_per_s,p50_us,p90_us,p99_us,p99_9_us,max_us,server_user_s,"
    "server_sys_s,server_cpu_pct,messages_per_server_cpu_s,"
    "server_cpu_us_per_message,wakeups_per_message,server_rss_peak_kib,"
    "server_rss_per_conn_bytes,load_cpu_s,connected,mismatch,lost,stalled,"
    "connect_failed,wall_s,idle\n";

/* A run's busy and idle connections. */
static void conns_of(const cmp_data *d, const cmp_run *r, int *busy,
                     int *idle) {
  *busy = d->o->busy ? d->o->busy : d->o->conns[r->conns_i];
  *idle = d->o->busy ? d->o->conns[r->conns_i] : 0;
}

/* The figures of a run, in csv_header's order from window_s on. */
static int run_figures(const cmp_run *r, double *v) {
  int ok = r->status != RUN_NA, n = 0;
  double f[] = {r->window_s, r->messages, r->msg_s, r->bytes_s, r->p50_us,
                r->p90_us, r->p99_us, r->p999_us, r->max_us, r->srv_user_s,
                r->srv_sys_s, cmp_metric_of(r, M_CPU_PCT), r->per_cpu_s,
                cmp_metric_of(r, M_CPU_US), r->wakeups, r->rss_peak_kib,
                r->rss_per_conn, r->load_cpu_s, r->connected, r->mismatch,
                r->lost, r->stalled, r->connect_failed, r->wall_s};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    v[n++] = ok && (r->window_s > 0 || i + 1 == sizeof f / sizeof f[0])
                 ? f[i] : NAN;
  return n;
}

static void csv_rows(const cmp_data *d, FILE *to) {
  double v[32];
  int busy, idle;
  for (int i = 0; i < d->nruns; i++) {
    const cmp_run *r = &d->runs[i];
    conns_of(d, r, &busy, &idle);
    fprintf(to, "%s,%d,%d,%d,%s,", d->o->models[r->model].label, busy,
            r->rep + 1, r->order + 1, status_name(r->status));
    csv_text(r->why, to);
    int n = run_figures(r, v);
    for (int k = 0; k < n; k++) {
      fputc(',', to);
      num(v[k], 0, to);
    }
    fprintf(to, ",%d\n", idle);
  }
}

void cmp_write_csv(const cmp_data *d, FILE *to) {
  fputs(csv_header, to);
  csv_rows(d, to);
  if (d->idle)
    csv_rows(d->idle, to);
}

static void json_machine(const cmp_data *d, FILE *to) {
  const cmp_machine *mc = &d->machine;
  const cmp_opts *o = d->o;
  fprintf(to, "{\"tool\":\"iomux-bench compare\",\"command\":");
  app_json_string(o->command, to);
  fprintf(to, ",\n\"machine\":{\"cpu\":");
  app_json_string(mc->cpu, to);
  fprintf(to, ",\"kernel\":");
  app_json_string(mc->kernel, to);
  fprintf(to, ",\"date\":");
  app_json_string(mc->date, to);
  fprintf(to, ",\"cpus_online\":%ld,\"cpus_allowed\":%ld,\"fd_soft\":%ld,"
          "\"fd_hard\":%ld,\"loadavg\":", mc->cpus_online, mc->cpus_allowed,
          mc->fd_soft, mc->fd_hard);
  app_json_string(mc->loadavg, to);
  fprintf(to, ",\"cpu_server\":%d,\"cpu_load\":%d},\n", o->cpu_server,
          o->cpu_load);
  fprintf(to, "\"options\":{\"size\":%d,\"pipeline\":%d,\"duration_s\":%g,"
          "\"warmup_s\":%g,\"reps\":%d,\"conns\":[", o->size, o->pipeline,
          o->duration, o->warmup, o->reps);
  for (int ci = 0; ci < o->nconns; ci++)
    fprintf(to, "%s%d", ci ? "," : "", o->conns[ci]);
  fprintf(to, "],\"idle\":[");
  for (int ci = 0; ci < o->nidle; ci++)
    fprintf(to, "%s%d", ci ? "," : "", o->idle[ci]);
  fprintf(to, "],\"idle_busy\":%d,\"total_s\":%.1f,\"latency_digits\":%d,"
          "\"latency_error_pct\":%d},\n", o->nidle ? o->idle_busy : 0,
          d->total_s + (d->idle ? d->idle->total_s : 0), HIST_DIGITS,
          HIST_ERROR_PCT);
}

/* The names after "reason", as in the CSV header. */
static const char *const keys[] = {
    "window_s", "messages", "messages_per_s", "bytes_per_s", "p50_us",
    "p90_us", "p99_us", "p99_9_us", "max_us", "server_user_s",
    "server_sys_s", "server_cpu_pct", "messages_per_server_cpu_s",
    "server_cpu_us_per_message", "wakeups_per_message",
    "server_rss_peak_kib", "server_rss_per_conn_bytes", "load_cpu_s",
    "connected", "mismatch", "lost", "stalled", "connect_failed", "wall_s"};

static void json_runs(const cmp_data *d, int *n, FILE *to) {
  double v[32];
  int busy, idle;
  for (int i = 0; i < d->nruns; i++) {
    const cmp_run *r = &d->runs[i];
    conns_of(d, r, &busy, &idle);
    fprintf(to, "%s{\"model\":", (*n)++ ? ",\n" : "");
    app_json_string(d->o->models[r->model].label, to);
    fprintf(to, ",\"conns\":%d,\"idle\":%d,\"rep\":%d,\"order\":%d,"
            "\"status\":\"%s\",\"reason\":", busy, idle, r->rep + 1,
            r->order + 1, status_name(r->status));
    app_json_string(r->why, to);
    int nv = run_figures(r, v);
    for (int k = 0; k < nv; k++) {
      fprintf(to, ",\"%s\":", keys[k]);
      num(v[k], 1, to);
    }
    fputc('}', to);
  }
}

static const char *const metric_key[M_COUNT] = {
    "messages_per_s", "messages_per_server_cpu_s", "server_cpu_us_per_message",
    "server_cpu_pct", "p50_us", "p99_us", "wakeups_per_message",
    "server_rss_per_conn_bytes", "load_cpu_pct"};

/* Each cell: its status, the median of each metric, and with more than
 * one run the smallest and largest ("_min", "_max"). */
static void json_medians(const cmp_data *d, const char *name, FILE *to) {
  const cmp_opts *o = d->o;
  int n = 0;
  fprintf(to, "\"%s\":[\n", name);
  for (int mi = 0; mi < o->nmodels; mi++)
    for (int ci = 0; ci < o->nconns; ci++) {
      const cmp_cell *c = &d->cells[mi][ci];
      fprintf(to, "%s{\"model\":", n++ ? ",\n" : "");
      app_json_string(o->models[mi].label, to);
      fprintf(to, ",\"conns\":%d,\"idle\":%d,\"status\":\"%s\","
              "\"ok_runs\":%d,\"failed_runs\":%d,\"unserved_runs\":%d,"
              "\"unserved_clients\":", o->busy ? o->busy : o->conns[ci],
              o->busy ? o->conns[ci] : 0, status_name(c->status), c->ok,
              c->failed, c->unserved_runs);
      num(c->unserved, 1, to);
      fprintf(to, ",\"reason\":");
      app_json_string(c->status == RUN_OK ? "" : c->why, to);
      for (int m = 0; m < M_COUNT; m++) {
        fprintf(to, ",\"%s\":", metric_key[m]);
        num(c->med[m], 1, to);
        if (o->reps > 1) {
          fprintf(to, ",\"%s_min\":", metric_key[m]);
          num(c->lo[m], 1, to);
          fprintf(to, ",\"%s_max\":", metric_key[m]);
          num(c->hi[m], 1, to);
        }
      }
      fputc('}', to);
    }
  fprintf(to, "]");
}

void cmp_write_json(const cmp_data *d, FILE *to) {
  int n = 0;
  json_machine(d, to);
  fprintf(to, "\"runs\":[\n");
  json_runs(d, &n, to);
  if (d->idle)
    json_runs(d->idle, &n, to);
  fprintf(to, "],\n");
  json_medians(d, "medians", to);
  if (d->idle) {
    fprintf(to, ",\n");
    json_medians(d->idle, "idle_medians", to);
  }
  fprintf(to, "}\n");
}
