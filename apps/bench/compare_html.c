/* iomux-bench compare: report.html, the page a reader opens first.
 *
 * Findings first (one sentence each, from compare_find.c, with the cells
 * each comes from), then the four charts inlined, then the table everyone
 * asks for (messages/s, tinted by how close each cell is to the best at
 * its connection count), then the --idle scenario if it ran, the other
 * figures, how it was measured, on what machine, and what failed. One
 * file with no external resource, so it opens from anywhere.
 */
#include "compare.h"
#include "histogram.h"

#include <math.h>
#include <string.h>

#define MAX_FINDINGS 24

static void esc(const char *s, FILE *to) {
  for (; *s; s++)
    switch (*s) {
    case '<': fputs("&lt;", to); break;
    case '>': fputs("&gt;", to); break;
    case '&': fputs("&amp;", to); break;
    case '"': fputs("&quot;", to); break;
    default: fputc(*s, to);
    }
}

static const char style[] =
    "body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Helvetica,Arial,"
    "sans-serif;color:#222;max-width:1180px;margin:2em auto;padding:0 1em}"
    "h1{font-size:1.7em;margin:0 0 .1em}h2{font-size:1.2em;margin-top:2em;"
    "border-bottom:1px solid #eee;padding-bottom:.2em}"
    ".sub{color:#666;margin:0 0 1.5em}"
    "ul.find{font-size:1.05em;padding-left:1.2em}ul.find li{margin:.4em 0}"
    ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax("
    "520px,1fr));gap:1em}"
    ".charts svg{width:100%;height:auto;border:1px solid #eee;"
    "border-radius:6px}"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums;"
    "margin:.5em 0 1em}"
    "th,td{padding:.35em .8em;text-align:right;border-bottom:1px solid #eee}"
    "th:first-child,td:first-child{text-align:left}th{font-weight:600}"
    "td small{display:block;color:#777}td.na{color:#aaa;font-size:.85em}"
    "td.err{color:#b03a2e;font-size:.85em}"
    "td.unserved{background:#fbe3d6;color:#8a3200;font-size:.85em}"
    "ul.find li.unserved{color:#8a3200}ul.find small{display:block;"
    "color:#888;font-size:.8em}"
    "pre{background:#f6f6f6;padding:.6em .8em;border-radius:4px;"
    "overflow-x:auto}code{background:#f6f6f6;padding:0 .25em}"
    "details summary{cursor:pointer;font-weight:600;margin:.6em 0}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1.2em}"
    "dt{color:#666}dd{margin:0}";

static void head(const cmp_data *d, FILE *to) {
  const cmp_machine *mc = &d->machine;
  fprintf(to, "<!doctype html>\n<html lang=\"en\"><head><meta charset="
          "\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width,"
          "initial-scale=1\">\n<title>iomux: the I/O models, measured</title>"
          "\n<style>%s</style></head>\n<body>\n", style);
  fprintf(to, "<h1>The I/O models, measured on this machine</h1>\n<p class="
          "\"sub\">");
  esc(mc->cpu, to);
  fprintf(to, " &middot; %ld CPUs &middot; ", mc->cpus_allowed);
  esc(mc->kernel, to);
  fprintf(to, " &middot; %s &middot; %d-byte echo, pipeline %d</p>\n",
          mc->date, d->o->size, d->o->pipeline);
}

static void findings(const cmp_data *d, FILE *to) {
  static cmp_finding found[MAX_FINDINGS];
  int n = cmp_findings(d, found, MAX_FINDINGS);
  fprintf(to, "<h2>What this run shows</h2>\n<ul class=\"find\">\n");
  for (int i = 0; i < n; i++) {
    fprintf(to, "<li%s>", found[i].failure ? " class=\"unserved\"" : "");
    esc(found[i].text, to);
    fprintf(to, "<small>from: ");
    esc(found[i].cells, to);
    fprintf(to, "</small></li>\n");
  }
  if (n == 0)
    fprintf(to, "<li>No two models differed by more than the noise in the "
            "cells compared, or too few were measured.</li>\n");
  fprintf(to, "</ul>\n<p class=\"sub\">Ratios between models are what "
          "carry over to other machines; absolute numbers depend on this "
          "one, and on whatever else it was running. Figures closer than "
          "5%%%s are called level.</p>\n", d->o->reps > 1 ? ", or whose "
          "ranges over the runs overlap," : "");
}

static void charts(const cmp_data *d, FILE *to) {
  const cmp_metric *which;
  int n = cmp_charts(d, &which);
  fprintf(to, "<div class=\"charts\">\n");
  for (int i = 0; i < n; i++)
    cmp_svg_chart(d, which[i], to);
  fprintf(to, "</div>\n");
}

static void table_head(const cmp_data *d, FILE *to) {
  char c[32];
  fprintf(to, "<table>\n<tr><th>model</th>");
  for (int ci = 0; ci < d->o->nconns; ci++)
    fprintf(to, "<th>%s</th>", cmp_column(d->o, ci, c, sizeof c));
  fprintf(to, "</tr>\n");
}

/* A cell that was not measured: greyed n/a, the clients it did not serve,
 * or the error, with the reason on hover. Returns 1 if it was one. */
static int not_measured(const cmp_cell *c, FILE *to) {
  static const char *const class[] = {
      [RUN_NA] = "na", [RUN_ERROR] = "err", [RUN_UNSERVED] = "unserved"};
  if (c->status == RUN_OK)
    return 0;
  fprintf(to, "<td class=\"%s\" title=\"", class[c->status]);
  esc(c->why, to);
  fprintf(to, "\">");
  esc(c->tag, to);
  fprintf(to, "</td>");
  return 1;
}

static double column_best(const cmp_data *d, int ci) {
  double best = 0;
  for (int mi = 0; mi < d->o->nmodels; mi++)
    if (d->cells[mi][ci].status == RUN_OK)
      best = fmax(best, d->cells[mi][ci].med[M_MSG_S]);
  return best;
}

static void main_table(const cmp_data *d, FILE *to) {
  char a[16], b[16];
  fprintf(to, "<h2>Messages per second</h2>\n<p>Each cell: messages echoed "
          "per second (median), and below it messages per second of server "
          "CPU time. The greener, the closer to the best at that connection "
          "count. A red cell: the model did not serve every client there "
          "(hover for how many).%s</p>\n", d->o->reps > 1 ? " * marks a cell "
          "where some runs failed or left clients unserved; the median is "
          "of the others." : "");
  table_head(d, to);
  for (int mi = 0; mi < d->o->nmodels; mi++) {
    fprintf(to, "<tr><td>");
    esc(d->o->models[mi].label, to);
    fprintf(to, "</td>");
    for (int ci = 0; ci < d->o->nconns; ci++) {
      const cmp_cell *c = &d->cells[mi][ci];
      if (not_measured(c, to))
        continue;
      double best = column_best(d, ci);
      double tint = best > 0 ? 0.45 * c->med[M_MSG_S] / best : 0;
      fprintf(to, "<td style=\"background:rgba(0,158,115,%.2f)\">%s%s"
              "<small>%s /CPU-s</small></td>", tint,
              cmp_si(c->med[M_MSG_S], a, sizeof a), c->failed ? " *" : "",
              cmp_si(c->med[M_PER_CPU], b, sizeof b));
    }
    fprintf(to, "</tr>\n");
  }
  fprintf(to, "</table>\n");
  int measured, bound = cmp_load_bound(d, &measured);
  if (bound)
    fprintf(to, "<p>In %d of %d measured cells the load generator used 90%% "
            "or more of its CPU. There messages per second is what load and "
            "server could do together, and messages per server CPU-second "
            "is the fairer comparison of the servers.</p>\n", bound,
            measured);
}

static void metric_table(const cmp_data *d, cmp_metric m, const char *title,
                         FILE *to) {
  char v[32];
  fprintf(to, "<h3>%s</h3>\n", title);
  table_head(d, to);
  for (int mi = 0; mi < d->o->nmodels; mi++) {
    fprintf(to, "<tr><td>");
    esc(d->o->models[mi].label, to);
    fprintf(to, "</td>");
    for (int ci = 0; ci < d->o->nconns; ci++) {
      const cmp_cell *c = &d->cells[mi][ci];
      if (!not_measured(c, to))
        fprintf(to, "<td>%s</td>", cmp_format(m, c->med[m], v, sizeof v));
    }
    fprintf(to, "</tr>\n");
  }
  fprintf(to, "</table>\n");
}

static void resolution(FILE *to) {
  fprintf(to, "<p class=\"sub\">Latency is recorded in a histogram of 128 "
          "linear sub-buckets per power of two (HdrHistogram's layout): "
          "each percentile is within %d%% of the true value, and is given "
          "to the %d significant digits that supports.</p>\n",
          HIST_ERROR_PCT, HIST_DIGITS);
}

static void more_tables(const cmp_data *d, FILE *to) {
  fprintf(to, "<h2>The other figures</h2>\n<details open><summary>Latency, "
          "server CPU, wake-ups and memory (medians)</summary>\n");
  resolution(to);
  metric_table(d, M_P50_US, "Median round trip (p50)", to);
  metric_table(d, M_P99_US, "99th-percentile round trip (p99)", to);
  metric_table(d, M_CPU_US, "Server CPU time per message", to);
  metric_table(d, M_CPU_PCT, "Server CPU busy (100% = one whole CPU)", to);
  metric_table(d, M_WAKEUPS, "Server context switches per message", to);
  metric_table(d, M_RSS_CONN, "Server RSS growth per connection", to);
  metric_table(d, M_LOAD_PCT, "Load generator CPU busy (100% = one whole "
               "CPU)", to);
  fprintf(to, "</details>\n");
}

/* The --idle scenario: what it tests, its charts and its tables. */
static void idle_section(const cmp_data *d, FILE *to) {
  const cmp_opts *o = d->o;
  fprintf(to, "<h2>Few busy connections among many idle ones</h2>\n<p>The "
          "classic claim: select and poll hand the kernel every watched fd "
          "on every call, so their cost grows with the idle connections; "
          "epoll is told once and returns only the ready ones, so with few, "
          "busy connections select is as good or better and with many idle "
          "ones epoll wins. Here %d connection%s carry the load as above, "
          "while the idle ones, each first made to echo one byte so that "
          "the server is surely watching it, stay silent. select is not run "
          "where it would need fds past FD_SETSIZE.</p>\n", o->busy,
          o->busy > 1 ? "s" : "");
  charts(d, to);
  metric_table(d, M_CPU_US, "Server CPU time per message", to);
  metric_table(d, M_MSG_S, "Messages per second", to);
  metric_table(d, M_P99_US, "99th-percentile round trip (p99)", to);
}

static void method(const cmp_data *d, FILE *to) {
  const cmp_opts *o = d->o;
  int runs = d->nruns + (d->idle ? d->idle->nruns : 0);
  double took = d->total_s + (d->idle ? d->idle->total_s : 0);
  fprintf(to, "<h2>How it was measured</h2>\n<pre>");
  esc(o->command, to);
  fprintf(to, "</pre>\n<p>For each connection count and each model a fresh "
          "server was started, driven by <code>iomux-bench load</code> (a "
          "closed loop: each connection sends a %d-byte message, waits for "
          "all of it to come back, checks every byte, sends the next; "
          "pipeline %d) for %g s of warm-up and %g s measured, then stopped "
          "with SIGTERM. Each cell ran %d time%s and shows the median; the "
          "order of the models rotated each round. ", o->size, o->pipeline,
          o->warmup, o->duration, o->reps, o->reps > 1 ? "s" : "");
  if (o->cpu_server >= 0)
    fprintf(to, "The server ran on CPU %d and the load on CPU %d, so server "
            "CPU time is the server's own. ", o->cpu_server, o->cpu_load);
  else
    fprintf(to, "With one CPU, server and load shared it. ");
  fprintf(to, "Server CPU, context switches and memory come from "
          "/proc/PID of the server over the measured window. A client that "
          "got no echo in the whole run, or none for 2 s (half the run if "
          "shorter), counts as stalled; one whose connect failed or that "
          "the server cut off counts too: such a model did not serve every "
          "client. All %d runs took %.0f s.</p>\n", runs, took);
}

static void machine(const cmp_data *d, FILE *to) {
  const cmp_machine *mc = &d->machine;
  fprintf(to, "<h2>The machine</h2>\n<dl><dt>CPU</dt><dd>");
  esc(mc->cpu, to);
  fprintf(to, "</dd><dt>CPUs</dt><dd>%ld online, %ld usable by this run</dd>"
          "<dt>kernel</dt><dd>", mc->cpus_online, mc->cpus_allowed);
  esc(mc->kernel, to);
  fprintf(to, "</dd><dt>open files</dt><dd>%ld (hard limit %ld)%s%s</dd>"
          "<dt>load average</dt><dd>%s at the start (a shared or busy "
          "machine makes every number noisier)</dd><dt>date</dt><dd>%s</dd>"
          "</dl>\n", mc->fd_soft, mc->fd_hard, mc->fd_note[0] ? "; " : "",
          mc->fd_note, mc->loadavg, mc->date);
}

/* Every run that was not ok, of one scenario; *n counts them all. */
static void failed_runs(const cmp_data *d, int *n, FILE *to) {
  static const char *const what[] = {
      [RUN_NA] = "not run", [RUN_ERROR] = "failed",
      [RUN_UNSERVED] = "clients not served"};
  char c[32];
  for (int i = 0; i < d->nruns; i++) {
    const cmp_run *r = &d->runs[i];
    if (r->status == RUN_OK)
      continue;
    if (!(*n)++)
      fprintf(to, "<h2>Not run, clients not served, and failures</h2>\n"
              "<ul>\n");
    fprintf(to, "<li><b>");
    esc(d->o->models[r->model].label, to);
    fprintf(to, "</b> at %s", cmp_column(d->o, r->conns_i, c, sizeof c));
    if (r->status != RUN_NA)
      fprintf(to, ", run %d", r->rep + 1);
    fprintf(to, ", %s: ", what[r->status]);
    esc(r->why, to);
    fprintf(to, "</li>\n");
  }
}

static void failures(const cmp_data *d, FILE *to) {
  int n = 0;
  failed_runs(d, &n, to);
  if (d->idle)
    failed_runs(d->idle, &n, to);
  if (n)
    fprintf(to, "</ul>\n");
}

/* Links to the data and to each chart's file. */
static void footer(const cmp_data *d, FILE *to) {
  fprintf(to, "<p class=\"sub\">Every run: <a href=\"results.csv\">results."
          "csv</a>, <a href=\"results.json\">results.json</a>. Charts:");
  for (const cmp_data *sc = d; sc; sc = sc == d ? d->idle : NULL) {
    const cmp_metric *which;
    int n = cmp_charts(sc, &which);
    for (int i = 0; i < n; i++)
      fprintf(to, " <a href=\"%s\">%s</a>", cmp_chart_file(sc, which[i]),
              cmp_chart_file(sc, which[i]));
  }
  fprintf(to, ". Made by <code>iomux-bench compare</code>.</p>\n"
          "</body></html>\n");
}

void cmp_write_html(const cmp_data *d, FILE *to) {
  head(d, to);
  findings(d, to);
  charts(d, to);
  main_table(d, to);
  if (d->idle)
    idle_section(d->idle, to);
  more_tables(d, to);
  method(d, to);
  machine(d, to);
  failures(d, to);
  footer(d, to);
}
