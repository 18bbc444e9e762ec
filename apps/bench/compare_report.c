/* iomux-bench compare: medians, the machine, the terminal table, and the
 * files: results.csv and results.json (every run), the charts, and
 * report.html, which holds everything a reader needs in one file (the
 * charts are inlined, so it can be mailed or opened from anywhere).
 */
#define _GNU_SOURCE
#include "compare.h"

#include "common/json.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* ---- numbers -------------------------------------------------------------- */

/* v with 3 significant digits and a unit from `units`, each `step` times
 * the one before; `sep` goes between the number and the unit. */
static const char *scaled(double v, double step, const char *const *units,
                          int nunits, const char *sep, char *buf,
                          size_t cap) {
  int u = 0;
  while (u + 1 < nunits && fabs(v) >= step * 0.9995)
    v /= step, u++;
  if (fabs(v) >= 100 || v == 0)
    snprintf(buf, cap, "%.0f%s%s", v, sep, units[u]);
  else
    snprintf(buf, cap, "%.3g%s%s", v, sep, units[u]);
  return buf;
}

const char *cmp_si(double v, char *buf, size_t cap) {
  static const char *const u[] = {"", "k", "M", "G"};
  return scaled(v, 1000, u, 4, "", buf, cap);
}

const char *cmp_us(double us, char *buf, size_t cap) {
  static const char *const u[] = {"ns", "µs", "ms", "s"};
  if (us > 0 && us < 1)
    return scaled(us * 1000, 1000, u, 1, " ", buf, cap);
  return scaled(us, 1000, u + 1, 3, " ", buf, cap);
}

const char *cmp_bytes(double b, char *buf, size_t cap) {
  static const char *const u[] = {"B", "KiB", "MiB", "GiB"};
  return scaled(b, 1024, u, 4, " ", buf, cap);
}

const char *cmp_format(cmp_metric m, double v, char *buf, size_t cap) {
  switch (m) {
  case M_CPU_US: case M_P50_US: case M_P99_US:
    return cmp_us(v, buf, cap);
  case M_CPU_PCT: case M_LOAD_PCT:
    snprintf(buf, cap, "%.0f%%", v);
    return buf;
  case M_WAKEUPS:
    snprintf(buf, cap, "%.2f", v);
    return buf;
  case M_RSS_CONN:
    return cmp_bytes(v, buf, cap);
  default:
    return cmp_si(v, buf, cap);
  }
}

double cmp_metric_of(const cmp_run *r, cmp_metric m) {
  double cpu = r->srv_user_s + r->srv_sys_s;
  if (r->window_s <= 0)
    return NAN; /* not run, or the load said nothing */
  switch (m) {
  case M_MSG_S: return r->msg_s;
  case M_PER_CPU: return r->per_cpu_s;
  case M_CPU_US: return r->messages > 0 ? cpu * 1e6 / r->messages : NAN;
  case M_CPU_PCT: return 100 * cpu / r->window_s;
  case M_P50_US: return r->p50_us;
  case M_P99_US: return r->p99_us;
  case M_WAKEUPS: return r->wakeups;
  case M_RSS_CONN: return r->rss_per_conn;
  case M_LOAD_PCT: return 100 * r->load_cpu_s / r->window_s;
  default: return NAN;
  }
}

/* ---- medians -------------------------------------------------------------- */

static int by_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  if (n == 0)
    return NAN;
  qsort(v, (size_t)n, sizeof *v, by_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void summarize_cell(cmp_data *d, int mi, int ci, cmp_cell *c) {
  double v[CMP_MAX_REPS];
  *c = (cmp_cell){.status = RUN_ERROR};
  for (int i = 0; i < d->nruns; i++) {
    const cmp_run *r = &d->runs[i];
    if (r->model != mi || r->conns_i != ci)
      continue;
    if (r->status == RUN_OK) {
      c->ok++;
      continue;
    }
    c->failed += r->status == RUN_ERROR;
    if (!c->tag[0] || r->status == RUN_NA) {
      snprintf(c->tag, sizeof c->tag, "%s", r->tag);
      snprintf(c->why, sizeof c->why, "%s", r->why);
    }
    if (r->status == RUN_NA)
      c->status = RUN_NA;
  }
  if (c->ok)
    c->status = RUN_OK;
  for (int m = 0; m < M_COUNT; m++) {
    int n = 0;
    for (int i = 0; i < d->nruns; i++) {
      const cmp_run *r = &d->runs[i];
      double x = cmp_metric_of(r, (cmp_metric)m);
      if (r->model == mi && r->conns_i == ci && r->status == RUN_OK &&
          !isnan(x) && n < CMP_MAX_REPS)
        v[n++] = x;
    }
    c->med[m] = median(v, n);
  }
}

int cmp_load_bound(const cmp_data *d, int *measured) {
  int n = 0;
  *measured = 0;
  for (int mi = 0; mi < d->o->nmodels; mi++)
    for (int ci = 0; ci < d->o->nconns; ci++) {
      const cmp_cell *c = &d->cells[mi][ci];
      *measured += c->status == RUN_OK;
      n += c->status == RUN_OK && c->med[M_LOAD_PCT] >= 90;
    }
  return n;
}

void cmp_summarize(cmp_data *d) {
  for (int mi = 0; mi < d->o->nmodels; mi++)
    for (int ci = 0; ci < d->o->nconns; ci++)
      summarize_cell(d, mi, ci, &d->cells[mi][ci]);
}

/* ---- the machine ---------------------------------------------------------- */

/* The value of the first "key<tab>: value" line of a /proc file. */
static void proc_field(const char *path, const char *key, char *buf,
                       size_t cap) {
  char line[512];
  FILE *f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (strncmp(line, key, strlen(key)) != 0 || !colon)
      continue;
    colon += 1 + (colon[1] == ' ');
    colon[strcspn(colon, "\n")] = '\0';
    snprintf(buf, cap, "%s", colon);
    break;
  }
  if (f)
    fclose(f);
}

static void load_average(char *buf, size_t cap) {
  double a = 0, b = 0, c = 0;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f && fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
    snprintf(buf, cap, "%.2f %.2f %.2f", a, b, c);
  else
    snprintf(buf, cap, "?");
  if (f)
    fclose(f);
}

void cmp_machine_read(cmp_machine *mc) {
  struct utsname u;
  struct rlimit rl;
  cpu_set_t set;
  time_t now = time(NULL);
  snprintf(mc->cpu, sizeof mc->cpu, "unknown CPU");
  proc_field("/proc/cpuinfo", "model name", mc->cpu, sizeof mc->cpu);
  load_average(mc->loadavg, sizeof mc->loadavg);
  if (uname(&u) == 0)
    snprintf(mc->kernel, sizeof mc->kernel, "%s %s %s", u.sysname, u.release,
             u.machine);
  mc->cpus_online = sysconf(_SC_NPROCESSORS_ONLN);
  mc->cpus_allowed = sched_getaffinity(0, sizeof set, &set) == 0
                         ? CPU_COUNT(&set) : mc->cpus_online;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    mc->fd_soft = (long)rl.rlim_cur;
    mc->fd_hard = (long)rl.rlim_max;
  }
  strftime(mc->date, sizeof mc->date, "%Y-%m-%d %H:%M %Z", localtime(&now));
}

/* ---- the terminal table --------------------------------------------------- */

#define COL 19

static void cell_text(const cmp_cell *c, char *buf, size_t cap) {
  char a[16], b[16];
  if (c->status != RUN_OK) {
    snprintf(buf, cap, "%s", c->tag);
    return;
  }
  snprintf(buf, cap, "%6s | %-6s%s", cmp_si(c->med[M_MSG_S], a, sizeof a),
           cmp_si(c->med[M_PER_CPU], b, sizeof b), c->failed ? "*" : " ");
}

static void print_errors(const cmp_data *d, FILE *to) {
  int header = 0;
  for (int i = 0; i < d->nruns; i++) {
    const cmp_run *r = &d->runs[i];
    if (r->status != RUN_ERROR)
      continue;
    if (!header++)
      fprintf(to, "\nruns that failed (* in the table: the median is of the "
              "others):\n");
    int n = d->o->conns[r->conns_i];
    fprintf(to, "  %s, %d conn%s, rep %d: %s\n", d->o->models[r->model].label,
            n, n > 1 ? "s" : "", r->rep + 1, r->why);
  }
}

void cmp_print_table(const cmp_data *d, FILE *to) {
  const cmp_opts *o = d->o;
  char text[64];
  fprintf(to, "\niomux-bench compare: %d-byte messages, pipeline %d, %g s "
          "measured after %g s of warm-up, median of %d run%s\n", o->size,
          o->pipeline, o->duration, o->warmup, o->reps, o->reps > 1 ? "s" : "");
  fprintf(to, "each cell: messages/s | messages per server CPU-second\n\n");
  fprintf(to, "%-11s", "model");
  for (int ci = 0; ci < o->nconns; ci++) {
    snprintf(text, sizeof text, "%d conn%s", o->conns[ci],
             o->conns[ci] > 1 ? "s" : "");
    fprintf(to, " %*s", COL, text);
  }
  fprintf(to, "\n");
  for (int mi = 0; mi < o->nmodels; mi++) {
    fprintf(to, "%-11s", o->models[mi].label);
    for (int ci = 0; ci < o->nconns; ci++) {
      cell_text(&d->cells[mi][ci], text, sizeof text);
      fprintf(to, " %*s", COL, text);
    }
    fprintf(to, "\n");
  }
  int measured, bound = cmp_load_bound(d, &measured);
  if (bound)
    fprintf(to, "\nIn %d of %d cells the load generator used 90%% or more of "
            "its CPU: there msg/s is\nwhat load and server managed together; "
            "msg per server CPU-second compares the servers.\n", bound,
            measured);
  print_errors(d, to);
  fflush(to);
}

/* ---- CSV and JSON: every run ---------------------------------------------- */

static const char *status_name(int s) {
  return s == RUN_OK ? "ok" : s == RUN_NA ? "n/a" : "error";
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
    "connect_failed,wall_s\n";

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

static void write_csv(const cmp_data *d, FILE *to) {
  double v[32];
  fputs(csv_header, to);
  for (int i = 0; i < d->nruns; i++) {
    const cmp_run *r = &d->runs[i];
    fprintf(to, "%s,%d,%d,%d,%s,", d->o->models[r->model].label,
            d->o->conns[r->conns_i], r->rep + 1, r->order + 1,
            status_name(r->status));
    csv_text(r->why, to);
    int n = run_figures(r, v);
    for (int k = 0; k < n; k++) {
      fputc(',', to);
      num(v[k], 0, to);
    }
    fputc('\n', to);
  }
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
  fprintf(to, "],\"total_s\":%.1f},\n", d->total_s);
}

static void json_runs(const cmp_data *d, FILE *to) {
  /* The names after "reason", as in the CSV header. */
  static const char *const keys[] = {
      "window_s", "messages", "messages_per_s", "bytes_per_s", "p50_us",
      "p90_us", "p99_us", "p99_9_us", "max_us", "server_user_s",
      "server_sys_s", "server_cpu_pct", "messages_per_server_cpu_s",
      "server_cpu_us_per_message", "wakeups_per_message",
      "server_rss_peak_kib", "server_rss_per_conn_bytes", "load_cpu_s",
      "connected", "mismatch", "lost", "stalled", "connect_failed", "wall_s"};
  double v[32];
  fprintf(to, "\"runs\":[\n");
  for (int i = 0; i < d->nruns; i++) {
    const cmp_run *r = &d->runs[i];
    fprintf(to, "%s{\"model\":", i ? ",\n" : "");
    app_json_string(d->o->models[r->model].label, to);
    fprintf(to, ",\"conns\":%d,\"rep\":%d,\"order\":%d,\"status\":\"%s\","
            "\"reason\":", d->o->conns[r->conns_i], r->rep + 1, r->order + 1,
            status_name(r->status));
    app_json_string(r->why, to);
    int n = run_figures(r, v);
    for (int k = 0; k < n; k++) {
      fprintf(to, ",\"%s\":", keys[k]);
      num(v[k], 1, to);
    }
    fputc('}', to);
  }
  fprintf(to, "],\n");
}

static const char *const metric_key[M_COUNT] = {
    "messages_per_s", "messages_per_server_cpu_s", "server_cpu_us_per_message",
    "server_cpu_pct", "p50_us", "p99_us", "wakeups_per_message",
    "server_rss_per_conn_bytes", "load_cpu_pct"};

static void json_medians(const cmp_data *d, FILE *to) {
  int n = 0;
  fprintf(to, "\"medians\":[\n");
  for (int mi = 0; mi < d->o->nmodels; mi++)
    for (int ci = 0; ci < d->o->nconns; ci++) {
      const cmp_cell *c = &d->cells[mi][ci];
      fprintf(to, "%s{\"model\":", n++ ? ",\n" : "");
      app_json_string(d->o->models[mi].label, to);
      fprintf(to, ",\"conns\":%d,\"status\":\"%s\",\"ok_runs\":%d,"
              "\"failed_runs\":%d,\"reason\":", d->o->conns[ci],
              status_name(c->status), c->ok, c->failed);
      app_json_string(c->status == RUN_OK ? "" : c->why, to);
      for (int m = 0; m < M_COUNT; m++) {
        fprintf(to, ",\"%s\":", metric_key[m]);
        num(c->med[m], 1, to);
      }
      fputc('}', to);
    }
  fprintf(to, "]}\n");
}

static void write_json(const cmp_data *d, FILE *to) {
  json_machine(d, to);
  json_runs(d, to);
  json_medians(d, to);
}

/* ---- the files ------------------------------------------------------------ */

static int mkdir_p(const char *dir) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s", dir);
  for (char *p = path + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      if (mkdir(path, 0777) < 0 && errno != EEXIST)
        return -1;
      *p = '/';
    }
  return mkdir(path, 0777) < 0 && errno != EEXIST ? -1 : 0;
}

static FILE *open_out(const cmp_data *d, const char *name, char *path,
                      size_t cap) {
  snprintf(path, cap, "%s/%s", d->o->out, name);
  FILE *f = fopen(path, "w");
  if (!f)
    fprintf(stderr, "iomux-bench compare: %s: %s\n", path, strerror(errno));
  return f;
}

static int close_out(FILE *f, const char *path) {
  if (fclose(f) == 0)
    return 0;
  fprintf(stderr, "iomux-bench compare: %s: %s\n", path, strerror(errno));
  return -1;
}

static const cmp_metric charts[] = {M_MSG_S, M_P99_US, M_CPU_US, M_RSS_CONN};

int cmp_write_report(const cmp_data *d) {
  char path[PATH_MAX];
  FILE *f;
  int err = 0;
  if (mkdir_p(d->o->out) < 0) {
    fprintf(stderr, "iomux-bench compare: %s: %s\n", d->o->out,
            strerror(errno));
    return -1;
  }
  if ((f = open_out(d, "results.csv", path, sizeof path)))
    write_csv(d, f);
  err |= !f || close_out(f, path) < 0;
  if ((f = open_out(d, "results.json", path, sizeof path)))
    write_json(d, f);
  err |= !f || close_out(f, path) < 0;
  for (size_t i = 0; i < sizeof charts / sizeof charts[0]; i++) {
    if ((f = open_out(d, cmp_chart_file(charts[i]), path, sizeof path)))
      cmp_svg_chart(d, charts[i], f);
    err |= !f || close_out(f, path) < 0;
  }
  if ((f = open_out(d, "report.html", path, sizeof path)))
    cmp_write_html(d, f);
  err |= !f || close_out(f, path) < 0;
  return err ? -1 : 0;
}
