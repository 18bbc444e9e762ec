/* iomux-fetch: what main.c (options, the teaching comment) hands to
 * fetch.c (the downloads) and report.c (progress, JSON, summary). */
#ifndef IOMUX_FETCH_H
#define IOMUX_FETCH_H

#include "iomux/http.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fetch_opts {
  char **urls;
  size_t nurls;
  int jobs;                /* -j */
  const char *dir;         /* -o DIR */
  const char *out;         /* -O FILE ("-": stdout) */
  int discard;             /* --discard: read bodies, keep nothing */
  int follow;              /* -L */
  int head;                /* -I */
  double max_time;         /* --max-time, seconds; 0: none */
  double connect_timeout;  /* --connect-timeout, seconds; 0: none */
  iom_http_header *headers; /* -H */
  size_t nheaders;
  int json;                /* --json */
  const char *cacert;      /* --cacert */
  int insecure;            /* -k */
  int progress;            /* a progress line on stderr */
  int quiet;               /* -s: no summary, no per-error lines */
} fetch_opts;

/* One URL's outcome, for the JSON line and the summary. */
typedef struct fetch_result {
  const char *url;
  int status;        /* 0 when no response came */
  uint64_t bytes;    /* body bytes received */
  double seconds;
  int err;           /* 0, or a negative errno */
  const char *reason; /* words for err, or "HTTP 404" */
} fetch_result;

typedef struct fetch_totals {
  size_t done, failed, total;
  uint64_t bytes;
  double started; /* app_now_s() at the start */
} fetch_totals;

/* Run every download. Returns 0 when all succeeded, 1 when any failed, or
 * a negative errno when the run could not start. */
int fetch_run(const fetch_opts *o);

/* report.c */
void report_result(const fetch_opts *o, const fetch_result *r);
void report_progress(const fetch_totals *t, int final);
void report_summary(const fetch_opts *o, const fetch_totals *t);

#endif
