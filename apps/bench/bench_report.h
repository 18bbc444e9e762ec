/* iomux-bench: what the `load` and `chat` reports share: the formats, the
 * latency line, the error listing, the end of the JSON object and CSV row
 * (latency, errors, the server: bench_server.h), and the generator's own
 * CPU. Each mode keeps its own header line, rates and columns; these
 * pieces print the rest the same way for both. */
#ifndef IOMUX_BENCH_REPORT_H
#define IOMUX_BENCH_REPORT_H

#include "bench_server.h"
#include "histogram.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum bench_format { BENCH_TEXT, BENCH_JSON, BENCH_CSV } bench_format;

/* The option --json or --csv (want) into *format; the other one given
 * before is a usage error of `tool`. Returns 0, or 2 (refused, said on
 * stderr: the exit status). */
int bench_format_option(const char *tool, bench_format *format,
                        bench_format want);

/* ---- latency ------------------------------------------------------------- */

/* The percentiles of a latency histogram, in ns (0 when it is empty). */
typedef struct bench_latency {
  uint64_t p50, p90, p99, p999, max;
  double mean;
} bench_latency;

/* Percentile p of h, rounded to the digits its resolution supports
 * (histogram.h: within 1%). */
uint64_t bench_percentile(const histogram *h, double p);

/* The percentiles of h, so rounded; the max as recorded. */
void bench_latency_of(const histogram *h, bench_latency *out);

/* A duration with 3 significant digits: "850 ns", "32.8 us", "1.25 ms". */
const char *bench_duration(uint64_t ns, char *buf, size_t cap);

/* "  latency     p50 1.20 ms  p90 ... (each within 1%)" and a newline. */
void bench_latency_text(const bench_latency *l, FILE *to);

/* ---- errors -------------------------------------------------------------- */

/* A mode's error counts by kind, and the first of each kind in words. */
typedef struct bench_errors {
  int kinds;
  const char *const *names; /* in the text: "connect failed" */
  const char *const *keys;  /* in JSON and CSV: "connect_failed" */
  const uint64_t *count;
  const char *first;  /* `kinds` strings ... */
  size_t first_size;  /* ... this many bytes apart */
} bench_errors;

uint64_t bench_errors_total(const bench_errors *e);

/* "  errors      none", or the counts and a line per kind that occurred. */
void bench_errors_text(const bench_errors *e, FILE *to);

/* ---- the end of a JSON object or CSV row --------------------------------- */

/* What both reports end their JSON object and CSV row with, in this order:
 * latency, errors, the server and (CSV only; JSON has it earlier) the
 * generator's CPU. */
typedef struct bench_tail {
  bench_latency lat;
  bench_errors err;
  server_figures srv;
  server_report how;
  double load_cpu_s;
} bench_tail;

/* From "latency_ns" to the object's closing brace and the newline. */
void bench_tail_json(const bench_tail *t, FILE *to);

/* The CSV columns from p50_ns to load_cpu_s, and a row's values, each with
 * a comma before it; then the newline. */
void bench_tail_csv_head(const bench_tail *t, FILE *to);
void bench_tail_csv(const bench_tail *t, FILE *to);

/* ---- the generator ------------------------------------------------------- */

/* This process's CPU seconds so far, user + system. */
double bench_own_cpu_s(void);

#endif
