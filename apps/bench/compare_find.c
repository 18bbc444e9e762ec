/* iomux-bench compare: the headline findings, one sentence each, computed
 * from the medians. Each tests one classic claim (DESIGN.md, "the lab")
 * and is written only when the cells it needs were measured and they tell
 * a difference, so a small comparison says less, never something untrue
 * or empty. Two figures differ when their medians are more than 5% apart
 * and, with several runs, their ranges do not overlap; a ratio that does
 * not differ is "level", never "1.0×". Every finding names its cells.
 *
 * First come the models that did not serve every client: that is the
 * strongest result a cell can give.
 */
#include "compare.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#define NOISE 1.05 /* medians closer than this are level */

typedef struct finder {
  const cmp_data *d; /* the scenario at hand */
  cmp_finding *out;
  int n, max;
  int said; /* the last say() found room: cite() adds to it */
} finder;

static void say(finder *f, int failure, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A new finding, if there is room. */
static void say(finder *f, int failure, const char *fmt, ...) {
  f->said = f->n < f->max;
  if (!f->said)
    return;
  cmp_finding *x = &f->out[f->n++];
  *x = (cmp_finding){.failure = failure};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->text, sizeof x->text, fmt, ap);
  va_end(ap);
}

static int index_of(const cmp_data *d, const char *label) {
  for (int mi = 0; mi < d->o->nmodels; mi++)
    if (strcmp(d->o->models[mi].label, label) == 0)
      return mi;
  return -1;
}

/* Name cell (label, ci) as a source of the last finding, once. */
static void cite(finder *f, const char *label, int ci) {
  if (!f->said)
    return;
  cmp_finding *x = &f->out[f->n - 1];
  char c[32], item[64];
  snprintf(item, sizeof item, "%s at %s", label,
           cmp_column(f->d->o, ci, c, sizeof c));
  size_t len = strlen(item);
  for (const char *at = x->cells; (at = strstr(at, item)); at++)
    if ((at == x->cells || at[-1] == ' ') && (!at[len] || at[len] == ';'))
      return;
  size_t used = strlen(x->cells);
  snprintf(x->cells + used, sizeof x->cells - used, "%s%s",
           used ? "; " : "", item);
}

static const cmp_cell *cell(const cmp_data *d, const char *label, int ci) {
  int mi = index_of(d, label);
  return mi < 0 || ci < 0 ? NULL : &d->cells[mi][ci];
}

/* The median of `label` at conns index ci, or NAN if not measured. */
static double med(const cmp_data *d, const char *label, int ci, cmp_metric m) {
  const cmp_cell *c = cell(d, label, ci);
  return c && c->status == RUN_OK ? c->med[m] : NAN;
}

/* Do a at ca and b at cb differ in m, beyond the noise? */
static int differs(const cmp_data *d, const char *a, int ca, const char *b,
                   int cb, cmp_metric m) {
  double x = med(d, a, ca, m), y = med(d, b, cb, m);
  if (!(x > 0 && y > 0) || fabs(log(x / y)) < log(NOISE))
    return 0;
  if (d->o->reps == 1)
    return 1;
  const cmp_cell *p = cell(d, a, ca), *q = cell(d, b, cb);
  return p->lo[m] > q->hi[m] || q->lo[m] > p->hi[m];
}

/* The largest (dir < 0) or smallest (dir > 0) connection count at which
 * both a and b were measured; -1 if none. */
static int shared(const cmp_data *d, const char *a, const char *b, int dir) {
  int n = d->o->nconns;
  for (int k = 0; k < n; k++) {
    int ci = dir > 0 ? k : n - 1 - k;
    if (!isnan(med(d, a, ci, M_MSG_S)) && !isnan(med(d, b, ci, M_MSG_S)))
      return ci;
  }
  return -1;
}

/* The first of these models that was measured at all. */
static const char *first_of(const cmp_data *d, const char *const *names) {
  for (; *names; names++)
    for (int k = 0; k < d->o->nconns; k++)
      if (!isnan(med(d, *names, k, M_MSG_S)))
        return *names;
  return NULL;
}

static const char *const sleepers[] = {"epoll", "poll", "select", "reactor",
                                       NULL};

/* A ratio that differs (never 1.0×): 0.71×, 1.05×, 3.2×, 15×. */
static const char *times(double r, char *buf, size_t cap) {
  snprintf(buf, cap, r >= 10 ? "%.0f×" : r >= 2 ? "%.1f×" : "%.2f×", r);
  return buf;
}

/* Column ci in a sentence: "1,000 connections", "100 idle". */
static const char *words(const cmp_data *d, int ci, char *buf, size_t cap) {
  char n[16];
  int v = d->o->conns[ci];
  snprintf(buf, cap, "%s %s", cmp_count(v, n, sizeof n),
           d->o->busy ? "idle" : v == 1 ? "connection" : "connections");
  return buf;
}

/* "1.8× the messages per second" for each of ms (one or two) in which a
 * differs from b at ci, into buf. Returns how many differ. */
static int ratios(const cmp_data *d, const char *a, const char *b, int ci,
                  const cmp_metric *ms, int n, char *buf, size_t cap) {
  static const char *const what[M_COUNT] = {
      [M_MSG_S] = "the messages per second",
      [M_PER_CPU] = "the messages per CPU-second",
      [M_CPU_US] = "the CPU time per message",
      [M_P99_US] = "the p99 latency",
      [M_WAKEUPS] = "the wake-ups per message"};
  int k = 0;
  buf[0] = '\0';
  for (int i = 0; i < n; i++) {
    char r[16];
    if (!differs(d, a, ci, b, ci, ms[i]))
      continue;
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s%s %s", k++ ? " and " : "",
             times(med(d, a, ci, ms[i]) / med(d, b, ci, ms[i]), r, sizeof r),
             what[ms[i]]);
  }
  return k;
}

/* ---- models that did not serve every client ------------------------------- */

static void unserved(finder *f) {
  const cmp_opts *o = f->d->o;
  char c[32], runs[64] = "";
  for (int mi = 0; mi < o->nmodels; mi++)
    for (int ci = 0; ci < o->nconns; ci++) {
      const cmp_cell *x = &f->d->cells[mi][ci];
      if (!x->unserved_runs)
        continue;
      if (o->reps > 1 && x->unserved_runs == o->reps)
        snprintf(runs, sizeof runs, " (in all %d runs; the words are one "
                 "run's)", o->reps);
      else if (o->reps > 1)
        snprintf(runs, sizeof runs, " (in %d of %d runs; the words are one "
                 "run's)", x->unserved_runs, o->reps);
      say(f, 1, "%s at %s%s: %s.", o->models[mi].label,
          words(f->d, ci, c, sizeof c), runs, x->why);
      cite(f, o->models[mi].label, ci);
    }
}

/* ---- the main scenario ---------------------------------------------------- */

/* The first two models at ci by m: highest first (dir > 0) or lowest. */
static void top_two(const cmp_data *d, int ci, cmp_metric m, int dir,
                    int *top) {
  top[0] = top[1] = -1;
  for (int mi = 0; mi < d->o->nmodels; mi++) {
    const cmp_cell *c = &d->cells[mi][ci];
    if (c->status != RUN_OK || isnan(c->med[m]))
      continue;
    double v = dir * c->med[m];
    if (top[0] < 0 || v > dir * d->cells[top[0]][ci].med[m])
      top[1] = top[0], top[0] = mi;
    else if (top[1] < 0 || v > dir * d->cells[top[1]][ci].med[m])
      top[1] = mi;
  }
}

/* "epoll (112k/s, 1.30× the next, reactor)" or "... level with reactor)". */
static int lead(const cmp_data *d, const int *top, int ci, cmp_metric m,
                char *buf, size_t cap) {
  const char *a = d->o->models[top[0]].label, *b = d->o->models[top[1]].label;
  char v[16], r[16];
  int ahead = differs(d, a, ci, b, ci, m);
  cmp_format(m, med(d, a, ci, m), v, sizeof v);
  const char *per = m == M_MSG_S ? "/s" : "";
  if (ahead)
    snprintf(buf, cap, "%s (%s%s, %s the next, %s)", a, v, per,
             times(med(d, a, ci, m) / med(d, b, ci, m), r, sizeof r), b);
  else
    snprintf(buf, cap, "%s (%s%s, level with %s)", a, v, per, b);
  return ahead;
}

/* Who led at the largest connection count, and by how much. */
static void leaders(finder *f) {
  const cmp_data *d = f->d;
  int ci = d->o->nconns - 1, fast[2], lean[2];
  char c[32], a[96], b[96];
  top_two(d, ci, M_MSG_S, 1, fast);
  top_two(d, ci, M_CPU_US, -1, lean);
  if (fast[1] < 0 || lean[1] < 0)
    return;
  int ahead = lead(d, fast, ci, M_MSG_S, a, sizeof a);
  ahead |= lead(d, lean, ci, M_CPU_US, b, sizeof b);
  if (!ahead)
    return; /* ties at the top say nothing */
  say(f, 0, "At %s the most messages per second came from %s, the least "
      "server CPU per message from %s.", words(d, ci, c, sizeof c), a, b);
  for (int i = 0; i < 2; i++) {
    cite(f, d->o->models[fast[i]].label, ci);
    cite(f, d->o->models[lean[i]].label, ci);
  }
}

/* Busy polling: the non-blocking server never sleeps. */
static void busy_polling(finder *f) {
  static const cmp_metric ms[] = {M_MSG_S, M_CPU_US};
  const char *ref = first_of(f->d, sleepers);
  int ci = ref ? shared(f->d, "nonblocking", ref, 1) : -1;
  if (ci < 0 || !differs(f->d, "nonblocking", ci, ref, ci, M_CPU_PCT))
    return;
  char c[32], rs[160];
  double pct = med(f->d, "nonblocking", ci, M_CPU_PCT);
  int n = ratios(f->d, "nonblocking", ref, ci, ms, 2, rs, sizeof rs);
  say(f, 0, "%sat %s nonblocking kept the server's CPU %.0f%% busy against "
      "%.0f%% for %s%s%s%s.", pct >= 90 ? "Busy polling burns a CPU: "
                                        : "Busy polling: ",
      words(f->d, ci, c, sizeof c), pct, med(f->d, ref, ci, M_CPU_PCT), ref,
      n ? ", with " : "", rs, n ? " of it" : "");
  cite(f, "nonblocking", ci), cite(f, ref, ci);
}

/* A thread per connection against one thread multiplexing them all. */
static void threads_vs_multiplexing(finder *f) {
  static const cmp_metric ms[] = {M_MSG_S, M_CPU_US};
  const char *ref = first_of(f->d, sleepers);
  int ci = ref ? shared(f->d, ref, "threads", -1) : -1;
  if (ci < 0)
    return;
  char c[32], rs[160], mem[120] = "", m1[16], m2[16];
  int n = ratios(f->d, ref, "threads", ci, ms, 2, rs, sizeof rs);
  if (differs(f->d, ref, ci, "threads", ci, M_RSS_CONN))
    snprintf(mem, sizeof mem, "each connection grew its memory (RSS) by %s "
             "against %s for threads",
             cmp_bytes(med(f->d, ref, ci, M_RSS_CONN), m1, sizeof m1),
             cmp_bytes(med(f->d, "threads", ci, M_RSS_CONN), m2, sizeof m2));
  if (!n && !mem[0])
    return;
  say(f, 0, "At %s %s had %s%s%s%s.", words(f->d, ci, c, sizeof c), ref, rs,
      n ? " of threads" : "", n && mem[0] ? ", and " : "", mem);
  cite(f, ref, ci), cite(f, "threads", ci);
}

/* select and poll scan every fd on every call; epoll only the ready. */
static void scans_vs_epoll(finder *f, const char *scanner) {
  const cmp_data *d = f->d;
  int hi = shared(d, "epoll", scanner, -1), lo = shared(d, "epoll", scanner, 1);
  if (hi < 0 || lo == hi)
    return;
  int dh = differs(d, "epoll", hi, scanner, hi, M_PER_CPU);
  int dl = differs(d, "epoll", lo, scanner, lo, M_PER_CPU);
  if (!dh && !dl)
    return;
  char c1[32], c2[32], r1[16], r2[16];
  double rh = med(d, "epoll", hi, M_PER_CPU) / med(d, scanner, hi, M_PER_CPU);
  double rl = med(d, "epoll", lo, M_PER_CPU) / med(d, scanner, lo, M_PER_CPU);
  say(f, 0, "Messages per CPU-second, epoll against %s: %s at %s, %s at %s.",
      scanner, dl ? times(rl, r1, sizeof r1) : "level",
      words(d, lo, c1, sizeof c1), dh ? times(rh, r2, sizeof r2) : "level",
      words(d, hi, c2, sizeof c2));
  cite(f, "epoll", lo), cite(f, scanner, lo);
  cite(f, "epoll", hi), cite(f, scanner, hi);
}

/* The library's reactor against the libraries people know. */
static void reactor_vs_anchors(finder *f) {
  static const char *const libs[] = {"libuv", "libev", "libevent"};
  /* CPU per message first: on a shared machine it is the steadier one. */
  static const cmp_metric ms[] = {M_CPU_US, M_MSG_S};
  char parts[360] = "", c[32], rs[160];
  int ci = -1, n = 0, named[3] = {0};
  for (size_t i = 0; i < 3 && ci < 0; i++)
    ci = shared(f->d, "reactor", libs[i], -1);
  for (size_t i = 0; i < 3 && ci >= 0; i++) {
    if (isnan(med(f->d, libs[i], ci, M_MSG_S)) ||
        !ratios(f->d, "reactor", libs[i], ci, ms, 2, rs, sizeof rs))
      continue;
    size_t len = strlen(parts);
    snprintf(parts + len, sizeof parts - len, "%s%s of %s", n++ ? "; " : "",
             rs, libs[i]);
    named[i] = 1;
  }
  if (!n)
    return;
  say(f, 0, "At %s the iomux reactor had %s.", words(f->d, ci, c, sizeof c),
      parts);
  cite(f, "reactor", ci);
  for (size_t i = 0; i < 3; i++)
    if (named[i])
      cite(f, libs[i], ci);
}

/* glibc's POSIX AIO runs each request on a helper thread: its wake-ups
 * per message should look like the threads model's, not epoll's. */
static void aio_is_threads(finder *f) {
  int ci = shared(f->d, "posix-aio", "threads", -1);
  double aio = med(f->d, "posix-aio", ci, M_WAKEUPS);
  double thr = med(f->d, "threads", ci, M_WAKEUPS);
  double ep = med(f->d, "epoll", ci, M_WAKEUPS);
  if (ci < 0 || isnan(ep) || aio <= 0 || thr <= 0 || ep <= 0 ||
      !differs(f->d, "posix-aio", ci, "epoll", ci, M_WAKEUPS))
    return;
  char c[32];
  int like = fabs(log(aio / thr)) < fabs(log(aio / ep));
  say(f, 0, "At %s posix-aio woke the server %.3g times per message, threads "
      "%.3g and epoll %.2g%s", words(f->d, ci, c, sizeof c), aio, thr, ep,
      like ? ": glibc's AIO behaves like the threads it is built on."
           : ".");
  cite(f, "posix-aio", ci), cite(f, "threads", ci), cite(f, "epoll", ci);
}

/* ---- the idle scenario ---------------------------------------------------- */

int cmp_crossover(const cmp_data *d, const char *scanner, int *level,
                  int *wins) {
  *level = *wins = -1;
  for (int ci = 0; ci < d->o->nconns; ci++) {
    if (isnan(med(d, scanner, ci, M_CPU_US)) ||
        isnan(med(d, "epoll", ci, M_CPU_US)))
      continue;
    int epoll_ahead = med(d, "epoll", ci, M_CPU_US) <
                          med(d, scanner, ci, M_CPU_US) &&
                      differs(d, "epoll", ci, scanner, ci, M_CPU_US);
    if (!epoll_ahead)
      *level = ci, *wins = -1; /* a later win must hold from here on */
    else if (*wins < 0)
      *wins = ci;
  }
  return *level >= 0 && *wins > *level;
}

/* The claim: with few busy connections select is as good as epoll or
 * better; with many idle ones epoll wins. "Level" is within the noise. */
static void crossover(finder *f, const char *scanner) {
  const cmp_data *d = f->d;
  int level, wins;
  char c1[32], c2[32], a[16], b[16], x[16], y[16];
  cmp_crossover(d, scanner, &level, &wins);
  if (level < 0 && wins < 0)
    return;
  const cmp_model *m = &d->o->models[index_of(d, scanner)];
  char limit[120] = "";
  for (int ci = 0; ci < d->o->nconns && m->max_conns; ci++)
    if (!limit[0] && cell(d, scanner, ci)->status == RUN_NA)
      snprintf(limit, sizeof limit, "; %s was not run from %s on: %s",
               scanner, words(d, ci, c1, sizeof c1), m->limit);
  if (level >= 0 && wins > level) {
    say(f, 0, "With %d busy connections, %s was level with epoll or ahead "
        "%s %s (%s of server CPU per message against %s); from %s on "
        "epoll needed less (%s against %s)%s.", d->o->busy, scanner,
        level == shared(d, scanner, "epoll", 1) ? "at" : "up to",
        words(d, level, c1, sizeof c1),
        cmp_us(med(d, scanner, level, M_CPU_US), a, sizeof a),
        cmp_us(med(d, "epoll", level, M_CPU_US), b, sizeof b),
        words(d, wins, c2, sizeof c2),
        cmp_us(med(d, "epoll", wins, M_CPU_US), x, sizeof x),
        cmp_us(med(d, scanner, wins, M_CPU_US), y, sizeof y), limit);
    cite(f, scanner, level), cite(f, "epoll", level);
    cite(f, scanner, wins), cite(f, "epoll", wins);
  } else if (wins >= 0) {
    say(f, 0, "With %d busy connections, epoll needed less server CPU per "
        "message than %s at every idle count measured, from %s (%s against "
        "%s)%s.", d->o->busy, scanner, words(d, wins, c1, sizeof c1),
        cmp_us(med(d, "epoll", wins, M_CPU_US), a, sizeof a),
        cmp_us(med(d, scanner, wins, M_CPU_US), b, sizeof b), limit);
    cite(f, scanner, wins), cite(f, "epoll", wins);
  } else {
    say(f, 0, "With %d busy connections, %s was level with epoll or ahead "
        "at every idle count measured, up to %s (%s of server CPU per "
        "message against %s)%s.", d->o->busy, scanner,
        words(d, level, c1, sizeof c1),
        cmp_us(med(d, scanner, level, M_CPU_US), a, sizeof a),
        cmp_us(med(d, "epoll", level, M_CPU_US), b, sizeof b), limit);
    cite(f, scanner, level), cite(f, "epoll", level);
  }
}

/* How each model's CPU per message grew from the fewest idle connections
 * to the most it was measured at: the scans grow, epoll should not. */
static void growth(finder *f) {
  const cmp_data *d = f->d;
  char parts[300] = "", r[16], c[32];
  int n = 0, grew = 0, lo[CMP_MAX_MODELS], hi[CMP_MAX_MODELS];
  for (int mi = 0; mi < d->o->nmodels; mi++) {
    const char *label = d->o->models[mi].label;
    lo[mi] = shared(d, label, label, 1), hi[mi] = shared(d, label, label, -1);
    if (lo[mi] < 0 || hi[mi] == lo[mi])
      continue;
    int up = differs(d, label, hi[mi], label, lo[mi], M_CPU_US);
    grew |= up;
    size_t len = strlen(parts);
    snprintf(parts + len, sizeof parts - len, "%s%s %s (to %s)",
             n++ ? ", " : "", label,
             up ? times(med(d, label, hi[mi], M_CPU_US) /
                            med(d, label, lo[mi], M_CPU_US), r, sizeof r)
                : "level",
             words(d, hi[mi], c, sizeof c));
  }
  if (!grew)
    return;
  say(f, 0, "Server CPU per message from %s on, with %d busy connections: "
      "%s.", words(d, 0, c, sizeof c), d->o->busy, parts);
  for (int mi = 0; mi < d->o->nmodels; mi++)
    if (lo[mi] >= 0 && hi[mi] != lo[mi]) {
      cite(f, d->o->models[mi].label, lo[mi]);
      cite(f, d->o->models[mi].label, hi[mi]);
    }
}

int cmp_findings(const cmp_data *d, cmp_finding *out, int max) {
  finder f = {.d = d, .out = out, .max = max};
  unserved(&f);
  if (d->idle) {
    f.d = d->idle;
    unserved(&f);
    f.d = d;
  }
  leaders(&f);
  busy_polling(&f);
  threads_vs_multiplexing(&f);
  scans_vs_epoll(&f, "select");
  scans_vs_epoll(&f, "poll");
  reactor_vs_anchors(&f);
  aio_is_threads(&f);
  if (d->idle) {
    f.d = d->idle;
    crossover(&f, "select");
    crossover(&f, "poll");
    growth(&f);
  }
  return f.n;
}
