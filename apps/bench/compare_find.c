/* iomux-bench compare: the headline findings, one sentence each, computed
 * from the medians. Each tests one classic claim (DESIGN.md, "the lab")
 * and is written only when the cells it needs were measured, so a
 * comparison of two models says less, never something untrue. The words
 * follow the numbers: "burns a CPU" only when the busy-polling server did
 * use most of one.
 */
#include "compare.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

typedef struct finder {
  const cmp_data *d;
  char (*out)[400];
  int n, max;
} finder;

static void say(finder *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(finder *f, const char *fmt, ...) {
  if (f->n == f->max)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->out[f->n++], sizeof f->out[0], fmt, ap);
  va_end(ap);
}

static int index_of(const cmp_data *d, const char *label) {
  for (int mi = 0; mi < d->o->nmodels; mi++)
    if (strcmp(d->o->models[mi].label, label) == 0)
      return mi;
  return -1;
}

/* The median of `label` at conns index ci, or NAN if not measured. */
static double med(const cmp_data *d, const char *label, int ci, cmp_metric m) {
  int mi = index_of(d, label);
  if (mi < 0 || ci < 0 || d->cells[mi][ci].status != RUN_OK)
    return NAN;
  return d->cells[mi][ci].med[m];
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

/* The first of these models that was measured at ci (any ci if ci < 0). */
static const char *first_of(const cmp_data *d, const char *const *names,
                            int ci) {
  for (; *names; names++)
    for (int k = 0; k < d->o->nconns; k++)
      if ((ci < 0 || k == ci) && !isnan(med(d, *names, k, M_MSG_S)))
        return *names;
  return NULL;
}

static const char *const sleepers[] = {"epoll", "poll", "select", "reactor",
                                       NULL};

static const char *times(double r, char *buf, size_t cap) {
  snprintf(buf, cap, r >= 10 ? "%.0f×" : r >= 1 ? "%.1f×" : "%.2f×", r);
  return buf;
}

static const char *conns_words(const cmp_data *d, int ci, char *buf,
                               size_t cap) {
  int n = d->o->conns[ci];
  snprintf(buf, cap, "%d connection%s", n, n > 1 ? "s" : "");
  return buf;
}

/* Busy polling: the non-blocking server never sleeps. */
static void busy_polling(finder *f) {
  const char *ref = first_of(f->d, sleepers, -1);
  int ci = ref ? shared(f->d, "nonblocking", ref, 1) : -1;
  if (ci < 0)
    return;
  char c[32], r1[16], r2[16];
  double pct = med(f->d, "nonblocking", ci, M_CPU_PCT);
  say(f, "%sat %s nonblocking kept the server's CPU %.0f%% busy against "
      "%.0f%% for %s; it answered %s as many messages per second, at %s "
      "%s's CPU time per message.",
      pct >= 90 ? "Busy polling burns a CPU: " : "Busy polling: ",
      conns_words(f->d, ci, c, sizeof c), pct, med(f->d, ref, ci, M_CPU_PCT),
      ref,
      times(med(f->d, "nonblocking", ci, M_MSG_S) / med(f->d, ref, ci, M_MSG_S),
            r1, sizeof r1),
      times(med(f->d, "nonblocking", ci, M_CPU_US) /
                med(f->d, ref, ci, M_CPU_US), r2, sizeof r2), ref);
}

/* A thread per connection against one thread multiplexing them all. */
static void threads_vs_multiplexing(finder *f) {
  const char *ref = first_of(f->d, sleepers, -1);
  int ci = ref ? shared(f->d, ref, "threads", -1) : -1;
  if (ci < 0)
    return;
  char c[32], a[16], b[16], m1[16], m2[16];
  say(f, "At %s %s served %s the messages per second of threads, at %s its "
      "CPU time per message; each connection grew %s's memory (RSS) by %s "
      "and threads' by %s.", conns_words(f->d, ci, c, sizeof c), ref,
      times(med(f->d, ref, ci, M_MSG_S) / med(f->d, "threads", ci, M_MSG_S),
            a, sizeof a),
      times(med(f->d, ref, ci, M_CPU_US) /
                med(f->d, "threads", ci, M_CPU_US), b, sizeof b),
      ref, cmp_bytes(med(f->d, ref, ci, M_RSS_CONN), m1, sizeof m1),
      cmp_bytes(med(f->d, "threads", ci, M_RSS_CONN), m2, sizeof m2));
}

/* select and poll scan every fd on every call; epoll only the ready. */
static void scans_vs_epoll(finder *f, const char *scanner) {
  int hi = shared(f->d, "epoll", scanner, -1);
  int lo = shared(f->d, "epoll", scanner, 1);
  if (hi < 0 || lo == hi)
    return;
  char c1[32], c2[32], r1[16], r2[16];
  say(f, "epoll served %s with %s the messages per CPU-second of %s "
      "(%s at %s).", conns_words(f->d, hi, c1, sizeof c1),
      times(med(f->d, "epoll", hi, M_PER_CPU) /
                med(f->d, scanner, hi, M_PER_CPU), r1, sizeof r1),
      scanner,
      times(med(f->d, "epoll", lo, M_PER_CPU) /
                med(f->d, scanner, lo, M_PER_CPU), r2, sizeof r2),
      conns_words(f->d, lo, c2, sizeof c2));
}

/* The library's reactor against the libraries people know. */
static void reactor_vs_anchors(finder *f) {
  static const char *const libs[] = {"libuv", "libev", "libevent"};
  char names[64] = "", rates[64] = "", cpus[64] = "", c[32], a[16], b[16];
  int ci = -1, n = 0;
  for (size_t i = 0; i < 3 && ci < 0; i++)
    ci = shared(f->d, "reactor", libs[i], -1);
  for (size_t i = 0; i < 3 && ci >= 0; i++) {
    if (isnan(med(f->d, libs[i], ci, M_MSG_S)))
      continue;
    const char *sep = n++ ? " / " : "";
    size_t len = strlen(names);
    snprintf(names + len, sizeof names - len, "%s%s", sep, libs[i]);
    len = strlen(rates);
    snprintf(rates + len, sizeof rates - len, "%s%s", sep,
             times(med(f->d, "reactor", ci, M_MSG_S) /
                       med(f->d, libs[i], ci, M_MSG_S), a, sizeof a));
    len = strlen(cpus);
    snprintf(cpus + len, sizeof cpus - len, "%s%s", sep,
             times(med(f->d, "reactor", ci, M_CPU_US) /
                       med(f->d, libs[i], ci, M_CPU_US), b, sizeof b));
  }
  if (n)
    say(f, "At %s the iomux reactor served %s the messages per second of "
        "%s, at %s their CPU time per message.",
        conns_words(f->d, ci, c, sizeof c), rates, names, cpus);
}

/* Who led at the largest connection count. */
static void leaders(finder *f) {
  const cmp_data *d = f->d;
  int ci = d->o->nconns - 1, fast = -1, lean = -1;
  for (int mi = 0; mi < d->o->nmodels; mi++) {
    const cmp_cell *c = &d->cells[mi][ci];
    if (c->status != RUN_OK)
      continue;
    if (fast < 0 || c->med[M_MSG_S] > d->cells[fast][ci].med[M_MSG_S])
      fast = mi;
    if (lean < 0 || c->med[M_CPU_US] < d->cells[lean][ci].med[M_CPU_US])
      lean = mi;
  }
  if (fast < 0 || d->o->nmodels < 2)
    return;
  char c[32], a[16], b[16];
  say(f, "At %s the most messages per second came from %s (%s/s), the "
      "least server CPU per message from %s (%s).",
      conns_words(d, ci, c, sizeof c), d->o->models[fast].label,
      cmp_si(d->cells[fast][ci].med[M_MSG_S], a, sizeof a),
      d->o->models[lean].label,
      cmp_us(d->cells[lean][ci].med[M_CPU_US], b, sizeof b));
}

/* glibc's POSIX AIO runs each request on a helper thread: its wake-ups
 * per message should look like the threads model's, not epoll's. */
static void aio_is_threads(finder *f) {
  int ci = shared(f->d, "posix-aio", "threads", -1);
  double aio = med(f->d, "posix-aio", ci, M_WAKEUPS);
  double thr = med(f->d, "threads", ci, M_WAKEUPS);
  double ep = med(f->d, "epoll", ci, M_WAKEUPS);
  if (ci < 0 || isnan(ep) || aio <= 0 || thr <= 0 || ep <= 0)
    return;
  char c[32];
  int like = fabs(log(aio / thr)) < fabs(log(aio / ep));
  say(f, "At %s posix-aio woke the server %.3g times per message, threads "
      "%.3g and epoll %.2g%s", conns_words(f->d, ci, c, sizeof c), aio, thr,
      ep, like ? ": glibc's AIO behaves like the threads it is built on."
               : ".");
}

int cmp_findings(const cmp_data *d, char (*out)[400], int max) {
  finder f = {.d = d, .out = out, .max = max};
  leaders(&f);
  busy_polling(&f);
  threads_vs_multiplexing(&f);
  scans_vs_epoll(&f, "select");
  scans_vs_epoll(&f, "poll");
  reactor_vs_anchors(&f);
  aio_is_threads(&f);
  return f.n;
}
