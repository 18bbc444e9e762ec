/* iomux-fetch's output: a JSON object per URL (--json), a line per failure,
 * the progress line on a terminal, and the summary. */
#include "fetch.h"

#include "common/clock.h"
#include "common/json.h"

#include <stdio.h>

void report_result(const fetch_opts *o, const fetch_result *r) {
  if (o->json) {
    fputs("{\"url\":", stdout);
    app_json_string(r->url, stdout);
    printf(",\"status\":%d,\"bytes\":%llu,\"time\":%.6f,\"error\":", r->status,
           (unsigned long long)r->bytes, r->seconds);
    if (r->err || r->status >= 400)
      app_json_string(r->reason, stdout);
    else
      fputs("null", stdout);
    fputs("}\n", stdout);
  }
  if ((r->err || r->status >= 400) && !o->quiet)
    fprintf(stderr, "%siomux-fetch: %s: %s%s\n", o->progress ? "\r" : "",
            r->url, r->reason, o->progress ? "\033[K" : "");
}

static void human(double bytes, char *buf, size_t size) {
  const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    u++;
  }
  snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
}

void report_progress(const fetch_totals *t, int final) {
  char got[32], rate[32];
  double secs = app_now_s() - t->started;
  human((double)t->bytes, got, sizeof got);
  human(secs > 0 ? (double)t->bytes / secs : 0, rate, sizeof rate);
  fprintf(stderr, "\r%zu/%zu done, %zu failed, %s, %s/s\033[K%s", t->done,
          t->total, t->failed, got, rate, final ? "\n" : "");
}

void report_summary(const fetch_opts *o, const fetch_totals *t) {
  if (o->quiet)
    return;
  char got[32], rate[32];
  double secs = app_now_s() - t->started;
  human((double)t->bytes, got, sizeof got);
  human(secs > 0 ? (double)t->bytes / secs : 0, rate, sizeof rate);
  fprintf(stderr,
          "iomux-fetch: %zu of %zu succeeded, %zu failed; %s in %.3f s "
          "(%s/s, %.0f requests/s)\n",
          t->done - t->failed, t->total, t->failed, got, secs, rate,
          secs > 0 ? (double)t->done / secs : 0);
}
