/* iomux-bench compare: what its files share.
 *
 *   compare.c         the models, the scenarios, the runs in order
 *   compare_opts.c    the options
 *   compare_run.c     one run: start a server, drive it, stop it
 *   compare_report.c  medians, the machine, the table, the files
 *   compare_data.c    results.csv and results.json
 *   compare_html.c    report.html: findings, charts, tables, the machine
 *   compare_find.c    the headline findings, computed from the medians
 *   compare_svg.c     the charts, SVG written by hand
 *   compare_look.c    each model's colour and marker in the charts
 *   compare_idle.c    the idle connections of the --idle scenario
 */
#ifndef IOMUX_BENCH_COMPARE_H
#define IOMUX_BENCH_COMPARE_H

#include <limits.h>
#include <stdio.h>

#define CMP_MAX_MODELS 32
#define CMP_MAX_CONNS 16
#define CMP_MAX_REPS 99

/* A server in the comparison: an iomux-echo model or an anchor. */
typedef struct cmp_model {
  char label[32];      /* as shown: "epoll", "libuv" */
  char arg[32];        /* iomux-echo --model ARG; "" for an anchor */
  char path[PATH_MAX]; /* the server's binary */
  int at_a_time;       /* 0: any number; K: serves K connections at once */
  int max_conns;       /* 0: no limit of its own; else the most it takes */
  const char *limit;   /* why max_conns, in words */
} cmp_model;

/* The options, and one scenario: the main one, where every connection is
 * busy, or the --idle one, where `busy` connections carry the load and
 * conns[] counts the idle ones beside them (its own copy of the options,
 * with the models that scenario compares). */
typedef struct cmp_opts {
  cmp_model models[CMP_MAX_MODELS];
  int nmodels;
  int conns[CMP_MAX_CONNS], nconns; /* the x axis */
  int busy;                          /* 0, or the --idle scenario's K */
  int idle[CMP_MAX_CONNS], nidle;    /* --idle (nidle 0: not asked for) */
  int idle_busy;                     /* --busy */
  int size, pipeline, reps;
  double duration, warmup; /* seconds */
  const char *out;         /* the report's directory */
  char self[PATH_MAX];     /* iomux-bench itself: the load mode is run */
  int cpu_server, cpu_load; /* -1: not pinned (fewer than 2 CPUs) */
  char command[1024];       /* the command line, for the report */
} cmp_opts;

/* RUN_UNSERVED: the model ran but did not serve every client (stalled,
 * refused or dropped connections, no wrong byte): a finding, not a fault.
 * RUN_ERROR: anything else that went wrong, such as a wrong byte or a
 * server that crashed. RUN_NA: not run, the model cannot take that many. */
enum { RUN_OK, RUN_ERROR, RUN_NA, RUN_UNSERVED };

/* The options that only choose the servers. */
typedef struct cmp_args {
  const char *models, *echo, *anchors;
  int busy_given;
} cmp_args;

/* compare_opts.c: the --quick models; the --idle scenario's. */
extern const char cmp_quick_models[];
#define CMP_NIDLE_MODELS 5
extern const char *const cmp_idle_models[CMP_NIDLE_MODELS];

/* Parse the options into o and a. Returns -1 to go on, or an exit status
 * (0 after --help, 2 after a one-line complaint on stderr). */
int cmp_parse(int argc, char **argv, cmp_opts *o, cmp_args *a);

/* Say what is wrong with the command line, in one line that points at
 * --help. Returns 2, the exit status for it. */
int cmp_bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One run of one model at one connection count. */
typedef struct cmp_run {
  int model, conns_i, rep; /* indexes into cmp_opts; rep from 0 */
  int order;               /* its place in its round (order rotates) */
  int status;
  char tag[32];  /* for the table: "n/a: 1 at a time", "error: stalled" */
  char why[320]; /* the reason, in full */
  double wall_s; /* the whole run: start, drive, stop */
  /* From the load mode's JSON (zero when it did not say). */
  double window_s, messages, msg_s, bytes_s, connected, load_cpu_s;
  double p50_us, p90_us, p99_us, p999_us, max_us;
  double mismatch, lost, stalled, connect_failed;
  double unserved; /* clients not served: stalled + lost + connect_failed */
  int server; /* the server figures below are known */
  double srv_user_s, srv_sys_s, per_cpu_s, wakeups, rss_peak_kib;
  double rss_per_conn; /* bytes */
} cmp_run;

/* The figures that get a median, a chart or a column. */
typedef enum cmp_metric {
  M_MSG_S,     /* messages per second */
  M_PER_CPU,   /* messages per server CPU-second */
  M_CPU_US,    /* server CPU-microseconds per message */
  M_CPU_PCT,   /* server CPU, % of one CPU */
  M_P50_US,    /* median latency */
  M_P99_US,    /* 99th percentile latency */
  M_WAKEUPS,   /* server context switches per message */
  M_RSS_CONN,  /* server RSS growth per connection, bytes */
  M_LOAD_PCT,  /* the load generator's CPU, % of one CPU */
  M_COUNT
} cmp_metric;

/* The runs of one (model, conns) cell, summed up. */
typedef struct cmp_cell {
  int status;          /* RUN_OK if any run was; else RUN_UNSERVED if any
                          run was, else RUN_ERROR or RUN_NA */
  int ok, failed;      /* runs that were ok, and that were not */
  int unserved_runs;   /* of the failed: those that left clients unserved */
  double unserved;     /* ... the median count of such clients */
  char tag[32];        /* the n/a or first failure tag */
  char why[320];       /* ... and its reason */
  double med[M_COUNT]; /* medians over the runs that were ok */
  double lo[M_COUNT], hi[M_COUNT]; /* their smallest and largest */
} cmp_cell;

typedef struct cmp_machine {
  char cpu[128], kernel[200], date[64];
  long cpus_online, cpus_allowed;
  long fd_soft, fd_hard;
  char loadavg[64]; /* /proc/loadavg when the comparison started */
  char fd_note[160]; /* what compare did to the fd limit, if anything */
} cmp_machine;

typedef struct cmp_data {
  const cmp_opts *o;
  cmp_machine machine;
  cmp_run *runs;
  int nruns;
  double total_s; /* wall time of all the runs */
  cmp_cell cells[CMP_MAX_MODELS][CMP_MAX_CONNS];
  const struct cmp_data *idle; /* the --idle scenario, or NULL */
} cmp_data;

/* A finding: one sentence, and the cells it comes from ("threads at
 * 1,000", "epoll at 1,000 idle"). */
typedef struct cmp_finding {
  char text[400];
  char cells[200];
  int failure; /* a model that did not serve its clients */
} cmp_finding;

/* compare_run.c: run model m at `conns` connections (idle ones beside
 * o->busy busy ones in the --idle scenario) into r (whose model, conns_i
 * and rep are set). Never fails the comparison: whatever goes wrong is
 * r->status = RUN_ERROR or RUN_UNSERVED with the reason in r->tag and
 * r->why. */
void cmp_run_one(const cmp_opts *o, const cmp_model *m, int conns,
                 cmp_run *r);

/* compare_idle.c: open n connections to 127.0.0.1:port and have each echo
 * one byte, so that the server has accepted and is watching every one;
 * then they stay silent. Returns the fds (cmp_idle_close them), or NULL
 * with the reason in why (all that were opened are closed). */
int *cmp_idle_open(int port, int n, char *why, size_t cap);
void cmp_idle_close(int *fds, int n);

/* compare_report.c */
double cmp_metric_of(const cmp_run *r, cmp_metric m);
void cmp_machine_read(cmp_machine *mc);
void cmp_summarize(cmp_data *d); /* fills d->cells */
void cmp_print_table(const cmp_data *d, FILE *to);
/* compare_data.c: results.csv and results.json, both scenarios. */
void cmp_write_csv(const cmp_data *d, FILE *to);
void cmp_write_json(const cmp_data *d, FILE *to);
/* results.csv, results.json, the charts and report.html in o->out.
 * Returns 0, or -1 after saying on stderr what could not be written. */
int cmp_write_report(const cmp_data *d);

/* compare_find.c: up to `max` findings, computed from the medians; only
 * those the data supports and that tell a difference. Returns how many. */
int cmp_findings(const cmp_data *d, cmp_finding *out, int max);

/* Where, in the --idle scenario, epoll overtakes `scanner` in server CPU
 * per message: *level is the last idle count index at which scanner was
 * as good or better, *wins the first from which epoll needed less at every
 * count after; -1 where there is none. Returns 1 when both are found. */
int cmp_crossover(const cmp_data *d, const char *scanner, int *level,
                  int *wins);

/* Numbers as people read them: "172k", "1.25M", "950". */
const char *cmp_si(double v, char *buf, size_t cap);
/* A duration given in microseconds: "850 µs", "1.2 ms". */
const char *cmp_us(double us, char *buf, size_t cap);
/* A size given in bytes: "820 B", "9.5 KiB". */
const char *cmp_bytes(double b, char *buf, size_t cap);
/* A value of metric m in the unit people read it in. */
const char *cmp_format(cmp_metric m, double v, char *buf, size_t cap);
/* Whole numbers with thousands separated: "10,000". */
const char *cmp_count(double v, char *buf, size_t cap);
/* Column i of a scenario as a head: "1,000 conns", "1,000 idle". */
const char *cmp_column(const cmp_opts *o, int ci, char *buf, size_t cap);

/* How many measured cells had the load generator CPU-bound (>= 90% of its
 * CPU): there msg/s is the pair's limit, not the server's alone. */
int cmp_load_bound(const cmp_data *d, int *measured);

/* compare_html.c: report.html, self-contained (the charts inlined). */
void cmp_write_html(const cmp_data *d, FILE *to);

/* compare_svg.c: the chart of metric m against connection count (idle
 * connections in the --idle scenario), one line per model, as a standalone
 * SVG document (also fit to inline in HTML). */
void cmp_svg_chart(const cmp_data *d, cmp_metric m, FILE *to);
/* The chart's file name ("throughput.svg", "idle-cpu.svg"). */
const char *cmp_chart_file(const cmp_data *d, cmp_metric m);
/* The metrics charted, in order; returns how many. */
int cmp_charts(const cmp_data *d, const cmp_metric **which);

/* compare_look.c: how model mi is drawn, the same in every chart. */
typedef enum cmp_shape { SH_CIRCLE, SH_SQUARE, SH_TRIANGLE, SH_DIAMOND,
                         SH_TRIANGLE_DOWN, SH_COUNT } cmp_shape;
typedef struct cmp_look {
  const char *colour;
  cmp_shape shape;
  int anchor; /* another library: dashed line, hollow marker */
  double width;
} cmp_look;
cmp_look cmp_look_of(const cmp_model *m, int mi);
/* The line's stroke attributes, and a marker centred at (x, y). */
void cmp_look_line(const cmp_look *l, FILE *to);
void cmp_look_marker(const cmp_look *l, double x, double y, double r,
                     FILE *to);
/* The word for the palette, for the legend's note. */
extern const char cmp_palette_name[];

#endif
