/* iomux-bench compare: the charts, SVG written by hand.
 *
 * One chart per figure, against connection count on a log scale, one line
 * per model through its medians; a cell that was not run or failed breaks
 * the line rather than being drawn as zero. The y axis goes logarithmic
 * when the values span more than LOG_SPAN times (models differ by orders of
 * magnitude in CPU per message and memory per connection), in decades, or
 * in powers of two for bytes so the ticks read 1 KiB, 4 KiB, 16 KiB.
 * Colours are fixed per model name, so the same model has the same colour
 * in every chart and every report; the anchors are dashed, and the
 * library's own reactor is drawn thicker. The legend is sorted by each
 * line's right-most value, so it reads top to bottom like the lines do.
 *
 * No dependency: any browser shows these, and report.html inlines them.
 */
#include "compare.h"

#include <math.h>
#include <string.h>

#define W 720
#define H 420
#define PL 84.0  /* the plot area: left, right, top, bottom */
#define PR 560.0
#define PT 62.0
#define PB 362.0
#define LOG_SPAN 8.0
#define FONT "system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"

typedef struct axis {
  double lo, hi;
  int log;    /* 0 linear, 10 decades, 2 powers of two */
  double ticks[24];
  int nticks;
} axis;

static const struct {
  cmp_metric m;
  const char *file, *title, *better, *yname;
} specs[] = {
    {M_MSG_S, "throughput.svg", "Messages per second", "higher is better",
     "messages/s"},
    {M_P99_US, "latency.svg", "99th-percentile round trip",
     "lower is better", "p99 latency"},
    {M_CPU_US, "cpu.svg", "Server CPU time per message", "lower is better",
     "server CPU per message"},
    {M_RSS_CONN, "memory.svg", "Server memory per connection",
     "lower is better", "RSS growth per connection"},
};
#define NSPECS (sizeof specs / sizeof specs[0])

static int spec_of(cmp_metric m) {
  for (size_t i = 0; i < NSPECS; i++)
    if (specs[i].m == m)
      return (int)i;
  return 0;
}

const char *cmp_chart_file(cmp_metric m) { return specs[spec_of(m)].file; }

/* ---- colours -------------------------------------------------------------- */

static const struct {
  const char *label, *colour;
} colours[] = {
    {"blocking", "#9c755f"},  {"threads", "#f28e2b"},  {"pool", "#8c8c8c"},
    {"nonblocking", "#e15759"}, {"select", "#b6992d"}, {"poll", "#76b7b2"},
    {"epoll", "#4e79a7"},     {"epoll-et", "#86bcf0"}, {"sigio", "#ff9da7"},
    {"posix-aio", "#d37295"}, {"uring", "#8cd17d"},    {"reactor", "#2f8a3a"},
    {"libuv", "#b07aa1"},     {"libev", "#17606b"},    {"libevent", "#4b4b4b"},
};
static const char *const spare[] = {"#000000", "#7a5195", "#ef5675",
                                    "#ffa600", "#003f5c"};

static const char *colour_of(const cmp_model *m, int index) {
  for (size_t i = 0; i < sizeof colours / sizeof colours[0]; i++)
    if (strcmp(m->label, colours[i].label) == 0)
      return colours[i].colour;
  return spare[index % (int)(sizeof spare / sizeof spare[0])];
}

/* ---- scales --------------------------------------------------------------- */

/* Where v falls between p0 and p1 on axis a. */
static double at(const axis *a, double v, double p0, double p1) {
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

static void y_axis(const cmp_data *d, cmp_metric m, axis *a) {
  double min = INFINITY, max = -INFINITY, minpos = INFINITY;
  for (int mi = 0; mi < d->o->nmodels; mi++)
    for (int ci = 0; ci < d->o->nconns; ci++) {
      double v = d->cells[mi][ci].med[m];
      if (isnan(v))
        continue;
      min = fmin(min, v), max = fmax(max, v);
      if (v > 0)
        minpos = fmin(minpos, v);
    }
  *a = (axis){0};
  if (!isfinite(max)) {
    linear(a, 0, 1, 0);
    return;
  }
  if (min > 0 && max / min > LOG_SPAN) {
    if (m == M_RSS_CONN)
      powers_of_two(a, minpos, max);
    else
      decades(a, minpos, max);
    return;
  }
  linear(a, min, max, m == M_RSS_CONN);
}

static void x_axis(const cmp_opts *o, axis *a) {
  *a = (axis){.log = 10, .lo = o->conns[0], .hi = o->conns[o->nconns - 1]};
  if (a->hi <= a->lo)
    a->lo /= 2, a->hi *= 2;
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

static void frame(const cmp_data *d, int spec, const axis *y, FILE *to) {
  const cmp_opts *o = d->o;
  fprintf(to, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d "
          "%d\" width=\"%d\" height=\"%d\" font-family=\"%s\" "
          "font-size=\"12\" fill=\"#333\">\n", W, H, W, H, FONT);
  fprintf(to, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, H);
  fprintf(to, "<text x=\"%g\" y=\"24\" font-size=\"16\" font-weight=\"600\" "
          "fill=\"#111\">%s</text>\n", PL, specs[spec].title);
  fprintf(to, "<text x=\"%g\" y=\"43\" fill=\"#777\">%d-byte messages, "
          "pipeline %d, median of %d run%s; %s</text>\n", PL, o->size,
          o->pipeline, o->reps, o->reps > 1 ? "s" : "", specs[spec].better);
  fprintf(to, "<text transform=\"translate(18 %g) rotate(-90)\" "
          "text-anchor=\"middle\" fill=\"#555\">%s%s</text>\n",
          (PT + PB) / 2, specs[spec].yname, y->log ? " (log scale)" : "");
  fprintf(to, "<text x=\"%g\" y=\"%d\" text-anchor=\"middle\" "
          "fill=\"#555\">connections (log scale)</text>\n", (PL + PR) / 2,
          H - 22);
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

static void line_style(const cmp_model *mod, int mi, FILE *to) {
  fprintf(to, "stroke=\"%s\" stroke-width=\"%s\"%s", colour_of(mod, mi),
          strcmp(mod->label, "reactor") == 0 ? "3" : "2",
          mod->arg[0] ? "" : " stroke-dasharray=\"6 3\"");
}

/* How many points model mi has on this chart. */
static int points(const cmp_data *d, cmp_metric m, int mi, const axis *y) {
  int n = 0;
  for (int ci = 0; ci < d->o->nconns; ci++) {
    double v = d->cells[mi][ci].med[m];
    n += !isnan(v) && !(y->log && v <= 0);
  }
  return n;
}

/* One model's line (broken where a cell has no value) and its points. */
static void series(const cmp_data *d, cmp_metric m, int mi, const axis *x,
                   const axis *y, FILE *to) {
  const cmp_opts *o = d->o;
  int pen = 0;
  fprintf(to, "<g>\n<path fill=\"none\" stroke-linejoin=\"round\" ");
  line_style(&o->models[mi], mi, to);
  fprintf(to, " d=\"");
  for (int ci = 0; ci < o->nconns; ci++) {
    double v = d->cells[mi][ci].med[m];
    if (isnan(v) || (y->log && v <= 0)) {
      pen = 0;
      continue;
    }
    fprintf(to, "%c%.1f %.1f", pen ? 'L' : 'M', at(x, o->conns[ci], PL, PR),
            at(y, v, PB, PT));
    pen = 1;
  }
  fprintf(to, "\"/>\n");
  /* A model measured at one count only (blocking) is a ring, so it shows
   * even where other lines cross the same spot. */
  int lone = points(d, m, mi, y) == 1;
  for (int ci = 0; ci < o->nconns; ci++) {
    double v = d->cells[mi][ci].med[m];
    if (isnan(v) || (y->log && v <= 0))
      continue;
    fprintf(to, "<circle cx=\"%.1f\" cy=\"%.1f\" ", at(x, o->conns[ci], PL,
            PR), at(y, v, PB, PT));
    if (lone)
      fprintf(to, "r=\"5.5\" fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\""
              "/>\n", colour_of(&o->models[mi], mi));
    else
      fprintf(to, "r=\"3.5\" fill=\"%s\" stroke=\"#fff\"/>\n",
              colour_of(&o->models[mi], mi));
  }
  fprintf(to, "</g>\n");
}

/* The value a model's line ends on (NAN if it has none). */
static double last_value(const cmp_data *d, cmp_metric m, int mi) {
  for (int ci = d->o->nconns - 1; ci >= 0; ci--)
    if (!isnan(d->cells[mi][ci].med[m]))
      return d->cells[mi][ci].med[m];
  return NAN;
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
    double py = PT + 6 + i * row;
    int none = isnan(last_value(d, m, order[i]));
    fprintf(to, "<g%s><line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" ",
            none ? " opacity=\"0.4\"" : "", PR + 22, py, PR + 46, py);
    line_style(mod, order[i], to);
    fprintf(to, "/><circle cx=\"%g\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>"
            "<text x=\"%g\" y=\"%.1f\">", PR + 34, py,
            colour_of(mod, order[i]), PR + 54, py + 4);
    text_escaped(mod->label, to);
    fprintf(to, "%s</text></g>\n", none ? " (no data)" : "");
  }
}

void cmp_svg_chart(const cmp_data *d, cmp_metric m, FILE *to) {
  axis x, y;
  int spec = spec_of(m);
  x_axis(d->o, &x);
  y_axis(d, m, &y);
  frame(d, spec, &y, to);
  grid(m, &x, &y, to);
  for (int pass = 0; pass < 2; pass++) /* lone points last: on top */
    for (int mi = 0; mi < d->o->nmodels; mi++)
      if ((points(d, m, mi, &y) == 1) == pass)
        series(d, m, mi, &x, &y, to);
  legend(d, m, to);
  fprintf(to, "</svg>\n");
}
