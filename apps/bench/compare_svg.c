/* iomux-bench compare: the charts, SVG written by hand.
 *
 * One chart per figure, against connection count on a log scale (idle
 * connections in the --idle scenario, where 0 sits one step left of the
 * first count), one line per model through its medians, a marker on every
 * measured point and, with several runs, a bar from the smallest to the
 * largest of them. A cell that was not run or failed breaks the line
 * rather than being drawn as zero; a model that left clients unserved gets
 * a cross on the foot of the chart at that count. The y axis goes
 * logarithmic when the values span more than LOG_SPAN times (models differ
 * by orders of magnitude in CPU per message), in decades; memory always,
 * in powers of two so the ticks read 1 KiB, 4 KiB, 16 KiB, since one
 * server that grows 16 MiB per connection would flatten all the others.
 * How each model is drawn is compare_look.c's. The legend is sorted by
 * each line's right-most value, so it reads top to bottom like the lines
 * do. In the --idle scenario's CPU chart, the span where epoll overtakes
 * select is shaded.
 *
 * No dependency: any browser shows these, and report.html inlines them.
 */
#include "compare.h"
#include "histogram.h"

#include <math.h>
#include <string.h>

#define W 720
#define H 472
#define PL 84.0  /* the plot area: left, right, top, bottom */
#define PR 560.0
#define PT 62.0
#define PB 362.0
#define LOG_SPAN 8.0
#define CMP_STR2(x) #x
#define CMP_STR(x) CMP_STR2(x)
#define FONT "system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"

typedef struct axis {
  double lo, hi;
  int log;     /* 0 linear, 10 decades, 2 powers of two */
  double zero; /* on a log x axis: where 0 is drawn */
  double ticks[24];
  int nticks;
} axis;

typedef struct spec {
  cmp_metric m;
  const char *file, *title, *better, *yname;
} spec;

static const spec main_specs[] = {
    {M_MSG_S, "throughput.svg", "Messages per second", "higher is better",
     "messages/s"},
    {M_P99_US, "latency.svg", "99th-percentile round trip",
     "lower is better", "p99 latency"},
    {M_CPU_US, "cpu.svg", "Server CPU time per message", "lower is better",
     "server CPU per message"},
    {M_RSS_CONN, "memory.svg", "Server memory per connection",
     "lower is better", "RSS growth per connection"},
};
static const spec idle_specs[] = {
    {M_CPU_US, "idle-cpu.svg", "Server CPU per message, few busy among idle",
     "lower is better", "server CPU per message"},
    {M_MSG_S, "idle-throughput.svg", "Messages per second, few busy among "
     "idle", "higher is better", "messages/s"},
};
static const cmp_metric main_metrics[] = {M_MSG_S, M_P99_US, M_CPU_US,
                                          M_RSS_CONN};
static const cmp_metric idle_metrics[] = {M_CPU_US, M_MSG_S};

int cmp_charts(const cmp_data *d, const cmp_metric **which) {
  *which = d->o->busy ? idle_metrics : main_metrics;
  return d->o->busy ? 2 : 4;
}

static const spec *spec_of(const cmp_data *d, cmp_metric m) {
  const spec *s = d->o->busy ? idle_specs : main_specs;
  int n = d->o->busy ? 2 : 4;
  for (int i = 0; i < n; i++)
    if (s[i].m == m)
      return &s[i];
  return &s[0];
}

const char *cmp_chart_file(const cmp_data *d, cmp_metric m) {
  return spec_of(d, m)->file;
}

/* ---- scales --------------------------------------------------------------- */

/* Where v falls between p0 and p1 on axis a. */
static double at(const axis *a, double v, double p0, double p1) {
  if (a->log && v <= 0)
    v = a->zero;
  double t = a->log ? (log(v) - log(a->lo)) / (log(a->hi) - log(a->lo))
                    : (v - a->lo) / (a->hi - a->lo);
  return p0 + t * (p1 - p0);
}

static double nice_step(double raw) {
  double mag = pow(10, floor(log10(raw))), norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

static void add_tick(axis *a, double v) {
  double slack = (a->hi - a->lo) * 1e-6;
  if (a->nticks < (int)(sizeof a->ticks / sizeof a->ticks[0]) &&
      v >= a->lo - slack && v <= a->hi + slack)
    a->ticks[a->nticks++] = v;
}

/* The nearest of 1, 2, 5 x 10^k below (up = 0) or above (up = 1) v. */
static double one_two_five(double v, int up) {
  double mag = pow(10, floor(log10(v))), steps[] = {1, 2, 5, 10};
  if (up) {
    for (int i = 0; i < 4; i++)
      if (steps[i] * mag >= v * 0.999)
        return steps[i] * mag;
    return 10 * mag;
  }
  for (int i = 3; i >= 0; i--)
    if (steps[i] * mag <= v * 1.001)
      return steps[i] * mag;
  return mag;
}

/* Log scale in decades, cut at 1-2-5 steps so no decade is left empty;
 * the 2s and 5s get ticks too when there are few decades. */
static void decades(axis *a, double min, double max) {
  a->log = 10;
  a->lo = one_two_five(min, 0);
  a->hi = one_two_five(max, 1);
  if (a->hi <= a->lo)
    a->hi = a->lo * 10;
  int few = log10(a->hi / a->lo) <= 2.5;
  for (double v = pow(10, floor(log10(a->lo))); v <= a->hi * 1.001; v *= 10) {
    add_tick(a, v);
    if (few)
      add_tick(a, 2 * v), add_tick(a, 5 * v);
  }
  /* Label the ends too, unless a tick is already near: a scale without a
   * label at its foot reads as if it started at the first label. */
  int near_lo = 0, near_hi = 0;
  for (int i = 0; i < a->nticks; i++) {
    near_lo |= a->ticks[i] < a->lo * 1.6;
    near_hi |= a->ticks[i] > a->hi / 1.6;
  }
  if (!near_lo)
    add_tick(a, a->lo);
  if (!near_hi)
    add_tick(a, a->hi);
}

static void powers_of_two(axis *a, double min, double max) {
  int e0 = (int)floor(log2(min)), e1 = (int)ceil(log2(max));
  int step = (e1 - e0 + 6) / 7;
  step = step < 1 ? 1 : step;
  e0 -= ((e0 % step) + step) % step;
  if (e1 <= e0)
    e1 = e0 + step;
  a->log = 2;
  a->lo = ldexp(1, e0);
  a->hi = ldexp(1, e0 + (e1 - e0 + step - 1) / step * step);
  for (int e = e0; ldexp(1, e) <= a->hi; e += step)
    add_tick(a, ldexp(1, e));
}

/* Linear from 0 (or below, if a value is), in about five steps of 1, 2 or
 * 5 x 10^k; of KiB or MiB for bytes, so the ticks read 20 KiB, not 19.5. */
static void linear(axis *a, double min, double max, int bytes) {
  a->lo = min < 0 ? min : 0;
  double raw = (max - a->lo) / 5 > 0 ? (max - a->lo) / 5 : 1;
  double unit = !bytes || raw < 1024 ? 1 : raw < 1024 * 1024 ? 1024
                                                             : 1024 * 1024;
  double step = nice_step(raw / unit) * unit;
  a->lo = floor(a->lo / step) * step;
  a->hi = ceil(max / step) * step;
  if (a->hi <= a->lo)
    a->hi = a->lo + step;
  for (double v = a->lo; v <= a->hi + step / 2; v += step)
    add_tick(a, v);
}

/* The range of the medians and, with several runs, of their spread. */
static void y_axis(const cmp_data *d, cmp_metric m, axis *a) {
  double min = INFINITY, max = -INFINITY, minpos = INFINITY;
  for (int mi = 0; mi < d->o->nmodels; mi++)
    for (int ci = 0; ci < d->o->nconns; ci++) {
      const cmp_cell *c = &d->cells[mi][ci];
      double v[] = {c->med[m], c->lo[m], c->hi[m]};
      for (int k = 0; k < 3; k++) {
        if (isnan(v[k]))
          continue;
        min = fmin(min, v[k]), max = fmax(max, v[k]);
        if (v[k] > 0)
          minpos = fmin(minpos, v[k]);
      }
    }
  *a = (axis){0};
  if (!isfinite(max)) {
    linear(a, 0, 1, 0);
    return;
  }
  if (m == M_RSS_CONN && isfinite(minpos))
    powers_of_two(a, minpos, max);
  else if (min > 0 && max / min > LOG_SPAN)
    decades(a, minpos, max);
  else
    linear(a, min, max, m == M_RSS_CONN);
}

static void x_axis(const cmp_opts *o, axis *a) {
  int first = o->conns[0] == 0 && o->nconns > 1 ? o->conns[1] : 1;
  *a = (axis){.log = 10, .zero = first / 10.0, .lo = o->conns[0],
              .hi = o->conns[o->nconns - 1]};
  if (a->lo <= 0)
    a->lo = a->zero;
  if (a->hi <= a->lo)
    a->lo /= 2, a->hi = a->lo * 4;
  /* A margin of 5% of the span each side, so end points clear the axes. */
  double pad = pow(a->hi / a->lo, 0.05);
  a->lo /= pad, a->hi *= pad;
  for (int ci = 0; ci < o->nconns; ci++)
    a->ticks[a->nticks++] = o->conns[ci];
}

/* ---- drawing -------------------------------------------------------------- */

static void text_escaped(const char *s, FILE *to) {
  for (; *s; s++)
    if (*s == '<')
      fputs("&lt;", to);
    else if (*s == '>')
      fputs("&gt;", to);
    else if (*s == '&')
      fputs("&amp;", to);
    else
      fputc(*s, to);
}

static void frame(const cmp_data *d, const spec *sp, const axis *y,
                  FILE *to) {
  const cmp_opts *o = d->o;
  fprintf(to, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d "
          "%d\" width=\"%d\" height=\"%d\" font-family=\"%s\" "
          "font-size=\"12\" fill=\"#333\">\n", W, H, W, H, FONT);
  fprintf(to, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, H);
  fprintf(to, "<text x=\"%g\" y=\"24\" font-size=\"16\" font-weight=\"600\" "
          "fill=\"#111\">%s</text>\n", PL, sp->title);
  fprintf(to, "<text x=\"%g\" y=\"43\" fill=\"#777\">", PL);
  if (o->busy)
    fprintf(to, "%d busy connection%s; ", o->busy, o->busy > 1 ? "s" : "");
  fprintf(to, "%d-byte messages, pipeline %d; median of %d run%s%s; %s"
          "</text>\n", o->size, o->pipeline, o->reps, o->reps > 1 ? "s" : "",
          o->reps > 1 ? ", bars: their range" : "", sp->better);
  fprintf(to, "<text transform=\"translate(18 %g) rotate(-90)\" "
          "text-anchor=\"middle\" fill=\"#555\">%s%s</text>\n",
          (PT + PB) / 2, sp->yname, y->log ? " (log scale)" : "");
  fprintf(to, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" "
          "fill=\"#555\">%s (log scale)</text>\n", (PL + PR) / 2, PB + 40,
          o->busy ? "idle connections beside the busy ones" : "connections");
}

static void grid(cmp_metric m, const axis *x, const axis *y, FILE *to) {
  char label[32];
  fprintf(to, "<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n");
  for (int i = 0; i < y->nticks; i++) {
    double py = at(y, y->ticks[i], PB, PT);
    fprintf(to, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\"/>\n", PL,
            py, PR, py);
  }
  for (int i = 0; i < x->nticks; i++) {
    double px = at(x, x->ticks[i], PL, PR);
    fprintf(to, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\"/>\n", px,
            PT, px, PB);
  }
  fprintf(to, "</g>\n<g fill=\"#555\">\n");
  for (int i = 0; i < y->nticks; i++)
    fprintf(to, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
            PL - 8, at(y, y->ticks[i], PB, PT) + 4,
            cmp_format(m, y->ticks[i], label, sizeof label));
  for (int i = 0; i < x->nticks; i++)
    fprintf(to, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%s</text>\n",
            at(x, x->ticks[i], PL, PR), PB + 18,
            cmp_si(x->ticks[i], label, sizeof label));
  fprintf(to, "</g>\n<path d=\"M%g %gV%gH%g\" fill=\"none\" stroke=\"#999\"/>"
          "\n", PL, PT, PB, PR);
}

/* Can v be drawn on axis y? */
static int drawable(const axis *y, double v) {
  return !isnan(v) && !(y->log && v <= 0);
}

/* How many points model mi has on this chart. */
static int points(const cmp_data *d, cmp_metric m, int mi, const axis *y) {
  int n = 0;
  for (int ci = 0; ci < d->o->nconns; ci++)
    n += drawable(y, d->cells[mi][ci].med[m]);
  return n;
}

/* A bar from the smallest to the largest run, with caps. */
static void whisker(const cmp_look *l, double px, double lo, double hi,
                    FILE *to) {
  fprintf(to, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fh6M%.1f %.1fh6\" "
          "stroke=\"%s\" stroke-width=\"1.2\" fill=\"none\"/>\n", px, lo, hi,
          px - 3, lo, px - 3, hi, l->colour);
}

/* A cross on the foot of the chart: clients were not served here. */
static void unserved_mark(const cmp_data *d, int mi, int ci, const cmp_look *l,
                          double px, FILE *to) {
  char c[32];
  double py = PB - 8;
  fprintf(to, "<g><title>");
  text_escaped(d->o->models[mi].label, to);
  fprintf(to, " at %s: ", cmp_column(d->o, ci, c, sizeof c));
  text_escaped(d->cells[mi][ci].why, to);
  fprintf(to, "</title><path d=\"M%.1f %.1fl10 10m0 -10l-10 10\" stroke=\"%s\" "
          "stroke-width=\"2.5\" fill=\"none\"/></g>\n", px - 5, py - 5,
          l->colour);
}

/* One model's line (broken where a cell has no value), its spread, its
 * markers, and a cross where it left clients unserved. */
static void series(const cmp_data *d, cmp_metric m, int mi, const axis *x,
                   const axis *y, FILE *to) {
  const cmp_opts *o = d->o;
  cmp_look l = cmp_look_of(&o->models[mi], mi);
  int pen = 0;
  fprintf(to, "<g>\n<path fill=\"none\" stroke-linejoin=\"round\" ");
  cmp_look_line(&l, to);
  fprintf(to, " d=\"");
  for (int ci = 0; ci < o->nconns; ci++) {
    double v = d->cells[mi][ci].med[m];
    if (!drawable(y, v)) {
      pen = 0;
      continue;
    }
    fprintf(to, "%c%.1f %.1f", pen ? 'L' : 'M', at(x, o->conns[ci], PL, PR),
            at(y, v, PB, PT));
    pen = 1;
  }
  fprintf(to, "\"/>\n");
  /* A model measured at one count only (blocking) gets a bigger marker,
   * so it shows even where other lines cross the same spot. */
  double r = points(d, m, mi, y) == 1 ? 5.5 : 4;
  for (int ci = 0; ci < o->nconns; ci++) {
    const cmp_cell *c = &d->cells[mi][ci];
    double px = at(x, o->conns[ci], PL, PR);
    if (c->status == RUN_UNSERVED)
      unserved_mark(d, mi, ci, &l, px, to);
    if (!drawable(y, c->med[m]))
      continue;
    if (o->reps > 1 && c->hi[m] > c->lo[m] && drawable(y, c->lo[m]))
      whisker(&l, px, at(y, c->lo[m], PB, PT), at(y, c->hi[m], PB, PT), to);
    cmp_look_marker(&l, px, at(y, c->med[m], PB, PT), r, to);
  }
  fprintf(to, "</g>\n");
}

/* In the --idle scenario's CPU chart: where epoll overtakes select (or
 * poll), shaded and named. */
static void crossover_band(const cmp_data *d, const axis *x, FILE *to) {
  static const char *const scanners[] = {"select", "poll"};
  int level, wins;
  for (int i = 0; i < 2; i++) {
    if (!cmp_crossover(d, scanners[i], &level, &wins))
      continue;
    double x0 = at(x, d->o->conns[level], PL, PR);
    double x1 = at(x, d->o->conns[wins], PL, PR);
    fprintf(to, "<rect x=\"%.1f\" y=\"%g\" width=\"%.1f\" height=\"%g\" "
            "fill=\"#0072B2\" opacity=\"0.08\"/>\n<text x=\"%.1f\" y=\"%g\" "
            "text-anchor=\"middle\" font-size=\"11\" fill=\"#0072B2\">epoll "
            "overtakes %s</text>\n", x0, PT, x1 - x0, PB - PT, (x0 + x1) / 2,
            PT - 4, scanners[i]);
    return;
  }
}

/* The value a model's line ends on (NAN if it has none). */
static double last_value(const cmp_data *d, cmp_metric m, int mi) {
  for (int ci = d->o->nconns - 1; ci >= 0; ci--)
    if (!isnan(d->cells[mi][ci].med[m]))
      return d->cells[mi][ci].med[m];
  return NAN;
}

static int any_unserved(const cmp_data *d, int mi) {
  for (int ci = 0; ci < d->o->nconns; ci++)
    if (d->cells[mi][ci].status == RUN_UNSERVED)
      return 1;
  return 0;
}

static void legend(const cmp_data *d, cmp_metric m, FILE *to) {
  int order[CMP_MAX_MODELS], n = d->o->nmodels;
  for (int i = 0; i < n; i++)
    order[i] = i;
  for (int i = 1; i < n; i++) /* insertion sort, highest last value first */
    for (int j = i; j > 0; j--) {
      double a = last_value(d, m, order[j - 1]), b = last_value(d, m, order[j]);
      if (!(isnan(a) && !isnan(b)) && !(b > a))
        break;
      int t = order[j];
      order[j] = order[j - 1], order[j - 1] = t;
    }
  double row = n > 15 ? (PB - PT) / n : 20;
  for (int i = 0; i < n; i++) {
    const cmp_model *mod = &d->o->models[order[i]];
    cmp_look l = cmp_look_of(mod, order[i]);
    double py = PT + 6 + i * row;
    int none = isnan(last_value(d, m, order[i]));
    fprintf(to, "<g%s><line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" ",
            none ? " opacity=\"0.45\"" : "", PR + 18, py, PR + 48, py);
    cmp_look_line(&l, to);
    fprintf(to, "/>\n");
    cmp_look_marker(&l, PR + 33, py, 4, to);
    fprintf(to, "<text x=\"%g\" y=\"%.1f\">", PR + 56, py + 4);
    text_escaped(mod->label, to);
    fprintf(to, "%s%s</text></g>\n", any_unserved(d, order[i]) ? " ✕" : "",
            none ? " (no data)" : "");
  }
}

/* What the marks mean, under the chart, a line each. */
static void notes(const cmp_data *d, cmp_metric m, const axis *y, FILE *to) {
  char lines[3][120];
  int n = 0, crosses = 0, hidden = 0;
  for (int mi = 0; mi < d->o->nmodels; mi++) {
    crosses |= any_unserved(d, mi);
    for (int ci = 0; ci < d->o->nconns; ci++)
      hidden |= y->log && d->cells[mi][ci].med[m] <= 0;
  }
  snprintf(lines[n++], sizeof lines[0], "Solid lines, filled markers: "
           "iomux-echo models; dashed, hollow: other libraries (anchors).");
  snprintf(lines[n++], sizeof lines[0], "%s and a shape per model.%s%s",
           cmp_palette_name, m == M_P99_US ? " Each latency within "
                                             CMP_STR(HIST_ERROR_PCT) "%." : "",
           hidden ? " Values of 0 or less are left out (log scale)." : "");
  if (crosses)
    snprintf(lines[n++], sizeof lines[0], "✕ on the axis: the model did not "
             "serve every client there (see the findings).");
  fprintf(to, "<g fill=\"#777\" font-size=\"11\">\n");
  for (int i = 0; i < n; i++)
    fprintf(to, "<text x=\"%g\" y=\"%g\">%s</text>\n", PL, PB + 62 + 15 * i,
            lines[i]);
  fprintf(to, "</g>\n");
}

void cmp_svg_chart(const cmp_data *d, cmp_metric m, FILE *to) {
  axis x, y;
  const spec *sp = spec_of(d, m);
  x_axis(d->o, &x);
  y_axis(d, m, &y);
  frame(d, sp, &y, to);
  if (d->o->busy && m == M_CPU_US)
    crossover_band(d, &x, to);
  grid(m, &x, &y, to);
  for (int pass = 0; pass < 2; pass++) /* lone points last: on top */
    for (int mi = 0; mi < d->o->nmodels; mi++)
      if ((points(d, m, mi, &y) == 1) == pass)
        series(d, m, mi, &x, &y, to);
  legend(d, m, to);
  notes(d, m, &y, to);
  fprintf(to, "</svg>\n");
}
