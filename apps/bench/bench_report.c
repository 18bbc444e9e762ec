/* iomux-bench: the pieces of the `load` and `chat` reports (bench_report.h). */
#include "bench_report.h"

#include "common/cli.h"
#include "common/json.h"

#include <sys/resource.h>

int bench_format_option(const char *tool, bench_format *format,
                        bench_format want) {
  if (*format != BENCH_TEXT && *format != want)
    return app_usage_error(tool, "--json and --csv do not go together");
  *format = want;
  return 0;
}

/* ---- latency ------------------------------------------------------------- */

uint64_t bench_percentile(const histogram *h, double p) {
  return hist_significant(hist_percentile(h, p));
}

void bench_latency_of(const histogram *h, bench_latency *out) {
  out->p50 = bench_percentile(h, 50), out->p90 = bench_percentile(h, 90);
  out->p99 = bench_percentile(h, 99), out->p999 = bench_percentile(h, 99.9);
  out->max = h->count ? h->max : 0;
  out->mean = hist_mean(h);
}

const char *bench_duration(uint64_t ns, char *buf, size_t cap) {
  static const char *const units[] = {"ns", "us", "ms", "s"};
  double v = (double)ns;
  int u = 0;
  while (u < 3 && v >= 999.5)
    v /= 1000, u++;
  int decimals = u == 0 || v >= 99.95 ? 0 : v >= 9.995 ? 1 : 2;
  snprintf(buf, cap, "%.*f %s", decimals, v, units[u]);
  return buf;
}

void bench_latency_text(const bench_latency *l, FILE *to) {
  char a[32], b[32], c[32], d[32], e[32];
  fprintf(to, "  latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  "
          "(each within %d%%)\n", bench_duration(l->p50, a, sizeof a),
          bench_duration(l->p90, b, sizeof b),
          bench_duration(l->p99, c, sizeof c),
          bench_duration(l->p999, d, sizeof d),
          bench_duration(l->max, e, sizeof e), HIST_ERROR_PCT);
}

/* "latency_ns":{"p50":...,"mean":...} */
static void bench_latency_json(const bench_latency *l, FILE *to) {
  fprintf(to, "\"latency_ns\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,"
          "\"p99_9\":%llu,\"max\":%llu,\"mean\":%.0f}",
          (unsigned long long)l->p50, (unsigned long long)l->p90,
          (unsigned long long)l->p99, (unsigned long long)l->p999,
          (unsigned long long)l->max, l->mean);
}

/* CSV pieces: each column with a comma before it. */
static void bench_latency_csv_head(FILE *to) {
  fprintf(to, ",p50_ns,p90_ns,p99_ns,p99_9_ns,max_ns");
}

static void bench_latency_csv(const bench_latency *l, FILE *to) {
  fprintf(to, ",%llu,%llu,%llu,%llu,%llu", (unsigned long long)l->p50,
          (unsigned long long)l->p90, (unsigned long long)l->p99,
          (unsigned long long)l->p999, (unsigned long long)l->max);
}

/* ---- errors -------------------------------------------------------------- */

static const char *first(const bench_errors *e, int k) {
  return e->first + (size_t)k * e->first_size;
}

uint64_t bench_errors_total(const bench_errors *e) {
  uint64_t n = 0;
  for (int k = 0; k < e->kinds; k++)
    n += e->count[k];
  return n;
}

void bench_errors_text(const bench_errors *e, FILE *to) {
  if (!bench_errors_total(e)) {
    fprintf(to, "  errors      none\n");
    return;
  }
  fprintf(to, "  errors      ");
  for (int k = 0; k < e->kinds; k++)
    fprintf(to, "%s%s %llu", k ? ", " : "", e->names[k],
            (unsigned long long)e->count[k]);
  fprintf(to, "\n");
  for (int k = 0; k < e->kinds; k++)
    if (e->count[k])
      fprintf(to, "    first %s: %s\n", e->names[k], first(e, k));
}

/* "errors":{...},"first_errors":[...] */
static void bench_errors_json(const bench_errors *e, FILE *to) {
  fprintf(to, "\"errors\":{");
  for (int k = 0; k < e->kinds; k++)
    fprintf(to, "%s\"%s\":%llu", k ? "," : "", e->keys[k],
            (unsigned long long)e->count[k]);
  fprintf(to, "},\"first_errors\":[");
  for (int k = 0, n = 0; k < e->kinds; k++)
    if (e->count[k]) {
      if (n++)
        fputc(',', to);
      app_json_string(first(e, k), to);
    }
  fprintf(to, "]");
}

static void bench_errors_csv_head(const bench_errors *e, FILE *to) {
  for (int k = 0; k < e->kinds; k++)
    fprintf(to, ",%s", e->keys[k]);
}

static void bench_errors_csv(const bench_errors *e, FILE *to) {
  for (int k = 0; k < e->kinds; k++)
    fprintf(to, ",%llu", (unsigned long long)e->count[k]);
}

/* ---- the end of a JSON object or CSV row --------------------------------- */

void bench_tail_json(const bench_tail *t, FILE *to) {
  bench_latency_json(&t->lat, to);
  fputc(',', to);
  bench_errors_json(&t->err, to);
  fprintf(to, ",\"server\":");
  server_json(&t->srv, &t->how, to);
  fprintf(to, "}\n");
}

void bench_tail_csv_head(const bench_tail *t, FILE *to) {
  bench_latency_csv_head(to);
  bench_errors_csv_head(&t->err, to);
  server_csv_head(&t->how, to);
  fprintf(to, ",load_cpu_s\n");
}

void bench_tail_csv(const bench_tail *t, FILE *to) {
  bench_latency_csv(&t->lat, to);
  bench_errors_csv(&t->err, to);
  server_csv(&t->srv, &t->how, to);
  fprintf(to, ",%.3f\n", t->load_cpu_s);
}

/* ---- the generator ------------------------------------------------------- */

double bench_own_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
