/* iomux-bench compare: medians, the machine, the terminal table, and the
 * files: results.csv and results.json (every run: compare_data.c), the
 * charts, and report.html, which holds everything a reader needs in one
 * file (the charts are inlined, so it can be mailed or opened from
 * anywhere).
 */
#define _GNU_SOURCE
#include "compare.h"

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

const char *cmp_count(double v, char *buf, size_t cap) {
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%.0f", fabs(v)), k = 0;
  size_t at = 0;
  if (v < 0 && at + 1 < cap)
    buf[at++] = '-';
  for (int i = 0; i < n && at + 1 < cap; i++) {
    if (i && (n - i) % 3 == 0 && at + 1 < cap)
      buf[at++] = ',';
    buf[at++] = digits[k++];
  }
  buf[at] = '\0';
  return buf;
}

const char *cmp_column(const cmp_opts *o, int ci, char *buf, size_t cap) {
  char n[16];
  int v = o->conns[ci];
  snprintf(buf, cap, "%s %s", cmp_count(v, n, sizeof n),
           o->busy ? "idle" : v == 1 ? "conn" : "conns");
  return buf;
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

/* Which run's words a cell shows when none was ok: n/a first (it says why
 * it was not run), then unserved clients (what the model did), then an
 * error (the harness's or the server's fault, listed apart anyway). */
static int rank(int status) {
  return status == RUN_NA ? 3 : status == RUN_UNSERVED ? 2 : 1;
}

static void summarize_cell(cmp_data *d, int mi, int ci, cmp_cell *c) {
  double v[CMP_MAX_REPS], u[CMP_MAX_REPS];
  int shown = 0;
  *c = (cmp_cell){.status = RUN_OK};
  for (int i = 0; i < d->nruns; i++) {
    const cmp_run *r = &d->runs[i];
    if (r->model != mi || r->conns_i != ci)
      continue;
    if (r->status == RUN_OK) {
      c->ok++;
      continue;
    }
    c->failed += r->status != RUN_NA;
    if (r->status == RUN_UNSERVED && c->unserved_runs < CMP_MAX_REPS)
      u[c->unserved_runs++] = r->unserved;
    if (rank(r->status) > shown) {
      shown = rank(r->status);
      c->status = r->status;
      snprintf(c->tag, sizeof c->tag, "%s", r->tag);
      snprintf(c->why, sizeof c->why, "%s", r->why);
    }
  }
  c->unserved = median(u, c->unserved_runs);
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
    c->lo[m] = n ? v[0] : NAN; /* median() sorted them */
    c->hi[m] = n ? v[n - 1] : NAN;
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

/* The main scenario: messages/s | per server CPU-second; the --idle one:
 * server CPU per message | messages/s. */
static void cell_text(const cmp_opts *o, const cmp_cell *c, char *buf,
                      size_t cap) {
  char a[16], b[16];
  if (c->status != RUN_OK)
    snprintf(buf, cap, "%s", c->tag);
  else if (o->busy)
    snprintf(buf, cap, "%7s | %-6s%s", cmp_us(c->med[M_CPU_US], a, sizeof a),
             cmp_si(c->med[M_MSG_S], b, sizeof b), c->failed ? "*" : " ");
  else
    snprintf(buf, cap, "%6s | %-6s%s", cmp_si(c->med[M_MSG_S], a, sizeof a),
             cmp_si(c->med[M_PER_CPU], b, sizeof b), c->failed ? "*" : " ");
}

/* Bytes of s beyond its width in columns ("µ" is two bytes, one column),
 * for printf's widths, which count bytes. */
static int extra_bytes(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xc0) == 0x80;
  return n;
}

/* The runs of one status, each with its reason, under a heading. */
static void print_runs(const cmp_data *d, int status, const char *heading,
                       FILE *to) {
  char col[32];
  int header = 0;
  for (int i = 0; i < d->nruns; i++) {
    const cmp_run *r = &d->runs[i];
    if (r->status != status)
      continue;
    if (!header++)
      fprintf(to, "\n%s\n", heading);
    fprintf(to, "  %s, %s, rep %d: %s\n", d->o->models[r->model].label,
            cmp_column(d->o, r->conns_i, col, sizeof col), r->rep + 1,
            r->why);
  }
}

static void print_head(const cmp_data *d, FILE *to) {
  const cmp_opts *o = d->o;
  if (o->busy)
    fprintf(to, "\nthe idle scenario: %d busy connection%s among idle ones, "
            "as above\neach cell: server CPU per message | messages/s\n\n",
            o->busy, o->busy > 1 ? "s" : "");
  else
    fprintf(to, "\niomux-bench compare: %d-byte messages, pipeline %d, %g s "
            "measured after %g s of warm-up, median of %d run%s\neach cell: "
            "messages/s | messages per server CPU-second\n\n", o->size,
            o->pipeline, o->duration, o->warmup, o->reps,
            o->reps > 1 ? "s" : "");
}

void cmp_print_table(const cmp_data *d, FILE *to) {
  const cmp_opts *o = d->o;
  char text[64];
  print_head(d, to);
  fprintf(to, "%-11s", "model");
  for (int ci = 0; ci < o->nconns; ci++)
    fprintf(to, " %*s", COL, cmp_column(o, ci, text, sizeof text));
  fprintf(to, "\n");
  for (int mi = 0; mi < o->nmodels; mi++) {
    fprintf(to, "%-11s", o->models[mi].label);
    for (int ci = 0; ci < o->nconns; ci++) {
      cell_text(o, &d->cells[mi][ci], text, sizeof text);
      fprintf(to, " %*s", COL + extra_bytes(text), text);
    }
    fprintf(to, "\n");
  }
  int measured, bound = cmp_load_bound(d, &measured);
  if (bound && !o->busy)
    fprintf(to, "\nIn %d of %d cells the load generator used 90%% or more of "
            "its CPU: there msg/s is\nwhat load and server managed together; "
            "msg per server CPU-second compares the servers.\n", bound,
            measured);
  print_runs(d, RUN_UNSERVED, "runs where the model did not serve every "
             "client (a finding, not a fault):", to);
  print_runs(d, RUN_ERROR, "runs that failed (* in the table: the median is "
             "of the others):", to);
  fflush(to);
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
    cmp_write_csv(d, f);
  err |= !f || close_out(f, path) < 0;
  if ((f = open_out(d, "results.json", path, sizeof path)))
    cmp_write_json(d, f);
  err |= !f || close_out(f, path) < 0;
  for (const cmp_data *sc = d; sc; sc = sc == d ? d->idle : NULL) {
    const cmp_metric *which;
    int n = cmp_charts(sc, &which);
    for (int i = 0; i < n; i++) {
      if ((f = open_out(d, cmp_chart_file(sc, which[i]), path, sizeof path)))
        cmp_svg_chart(sc, which[i], f);
      err |= !f || close_out(f, path) < 0;
    }
  }
  if ((f = open_out(d, "report.html", path, sizeof path)))
    cmp_write_html(d, f);
  err |= !f || close_out(f, path) < 0;
  return err ? -1 : 0;
}
