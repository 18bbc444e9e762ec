/* iomux-bench: the server's side of a run, from /proc, for `load` and
 * `chat` alike: its samples at the window's edges, the figures they give,
 * and how the reports print them (text, JSON, CSV).
 *
 * Server CPU comes from /proc/PID/stat (utime + stime, all threads). Context
 * switches are per thread in Linux, so they are summed over
 * /proc/PID/task/TID/status; each one is the server going to sleep or being
 * pushed off the CPU, which is what "wake-ups per message" counts. Memory is
 * VmHWM (the peak) and VmRSS from /proc/PID/status. */
#ifndef IOMUX_BENCH_SERVER_H
#define IOMUX_BENCH_SERVER_H

#include <stdint.h>
#include <stdio.h>

/* What /proc says about the server at one moment. Plain data: `load`
 * sends it through a pipe as it is. */
typedef struct server_sample {
  int ok;
  double user_s, sys_s;      /* CPU time so far, all threads */
  uint64_t ctxsw, nvctxsw;   /* context switches so far, all threads */
  uint64_t hwm_kib, rss_kib; /* peak and current resident set */
} server_sample;

/* Read /proc/PID/stat, /proc/PID/status and the threads' context switches.
 * Returns 0 or a negative errno (-ENOENT: no such process). Any thread. */
int server_sample_read(int pid, server_sample *out);
/* server_sample_read's error in words ("no such process" for -ENOENT). */
const char *server_sample_strerror(int err);

/* The server over the measured window, as the reports show it. */
typedef struct server_figures {
  int pid;               /* 0: no server named, nothing to show */
  int known;             /* both edges of the window were sampled */
  double user_s, sys_s;  /* CPU in the window */
  double per_cpu_s;      /* units of work per server CPU-second */
  uint64_t switches;     /* context switches in the window */
  uint64_t hwm_kib, rss_kib; /* at the window's end */
  double rss_per;        /* RSS grown since `base`, bytes per client */
} server_figures;

/* The figures of server `pid` (0: none) from its samples before the run
 * (base) and at the window's start and end: `work` units of work done in
 * the window (messages, deliveries), `clients` connections or clients
 * (RSS per client: 0 if none, or base was not read). */
void server_figures_of(int pid, const server_sample *base,
                       const server_sample *start, const server_sample *end,
                       uint64_t work, uint64_t clients, server_figures *f);

/* A figure per unit of the mode's work that only the mode can compute
 * (messages per CPU-second, wake-ups per message), for all three formats. */
typedef struct server_rate {
  const char *key;   /* JSON key */
  const char *csv;   /* CSV column */
  const char *words; /* in the text, after the number */
  double value;
  int text_decimals, decimals; /* in the text; in JSON and CSV */
} server_rate;

/* How the mode names what it measures, for the server's part of the
 * report: its rates, and what RSS is counted per. */
typedef struct server_report {
  const server_rate *rates;
  int nrates;
  const char *per;     /* text: RSS "bytes per connection" */
  const char *per_key; /* JSON "rss_per_conn_bytes", CSV "server_" + it */
} server_report;

/* The text lines ("  server      pid ...") over a window of window_s
 * seconds: nothing without a pid, one line if the figures are unknown. */
void server_text(const server_figures *f, const server_report *how,
                 double window_s, FILE *to);

/* The JSON value: an object with pid, CPU, the rates and RSS, or null. */
void server_json(const server_figures *f, const server_report *how,
                 FILE *to);

/* The CSV header columns, and a row's values (empty if not known); each
 * column with a comma before it. */
void server_csv_head(const server_report *how, FILE *to);
void server_csv(const server_figures *f, const server_report *how, FILE *to);

#endif
