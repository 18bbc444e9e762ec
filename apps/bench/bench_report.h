/* iomux-bench: what the `load` and `chat` reports share: the formats, the
 * latency line, the error listing, and the generator's own CPU. Each mode
 * keeps its own header line, rates and columns; these pieces print the
 * rest the same way for both. */
#ifndef IOMUX_BENCH_REPORT_H
#define IOMUX_BENCH_REPORT_H

#include "histogram.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum bench_format { BENCH_TEXT, BENCH_JSON, BENCH_CSV } bench_format;

/* ---- latency --------------------------------------------------------------- */

/* The percentiles of a latency histogram, in ns (0 when it is empty). */
typedef struct bench_latency {
  uint64_t p50, p90, p99, p999, max;
  double mean;
} bench_latency;

void bench_latency_of(const histogram *h, bench_latency *out);

/* "  latency     p50 1.2 ms  p90 ..." and a newline. */
void bench_latency_text(const bench_latency *l, FILE *to);

/* "\"latency_ns\":{\"p50\":...,\"mean\":...}" */
void bench_latency_json(const bench_latency *l, FILE *to);

/* The CSV columns p50_ns ... max_ns, and a row's values; each with a comma
 * before it. */
void bench_latency_csv_head(FILE *to);
void bench_latency_csv(const bench_latency *l, FILE *to);

/* ---- errors ---------------------------------------------------------------- */

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

/* "\"errors\":{...},\"first_errors\":[...]" */
void bench_errors_json(const bench_errors *e, FILE *to);

/* The CSV columns (the keys), and a row's counts; each with a comma before
 * it. */
void bench_errors_csv_head(const bench_errors *e, FILE *to);
void bench_errors_csv(const bench_errors *e, FILE *to);

/* ---- the generator --------------------------------------------------------- */

/* This process's CPU seconds so far, user + system. */
double bench_own_cpu_s(void);

#endif
