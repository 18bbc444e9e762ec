/* iomux-bench compare: every I/O model under the same load, side by side.
 *
 * For each connection count and each model, a server is started fresh
 * (iomux-echo --model M, or an anchor on libuv/libev/libevent), driven by
 * the load mode for a warm-up and a measured window, and stopped; all of it
 * `--reps` times, and the report gives medians. Within a round the models
 * run one after another at the same connection count, so they meet the
 * same weather on a noisy machine, and the order rotates each round (and
 * each connection count) so that no model always goes first or last.
 *
 * The server runs on one CPU and the load on another when there are two:
 * the load then measures the server rather than competing with it, and the
 * server's CPU time (from /proc, by the load mode) is its own.
 *
 * Models that cannot take a connection count are marked, not run: blocking
 * serves one client at a time and pool (default) four, so more would
 * leave the rest waiting in the backlog and the load would report them
 * stalled after minutes of nothing; select refuses fds past FD_SETSIZE.
 *
 * With --idle, a second scenario follows: K busy connections among M idle
 * ones, for the models of cmp_idle_models, with M on the x axis.
 *
 * compare_opts.c reads the options, compare_run.c runs one cell,
 * compare_report.c writes the report.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "compare.h"

#include "common/clock.h"
#include "common/fdlimit.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The anchors: a label and the binary that serves it (anchors/README.md). */
static const struct {
  const char *label, *binary;
} anchors[] = {{"libuv", "uv_echo"}, {"libev", "ev_echo"},
               {"libevent", "event_echo"}};
#define NANCHORS (sizeof anchors / sizeof anchors[0])

/* What each model can take, from its own file's header comment. */
static const struct {
  const char *model;
  int at_a_time, max_conns;
  const char *limit;
} limits[] = {
    {"blocking", 1, 0, NULL},
    {"pool", 4, 0, NULL}, /* pool.c: --threads, default 4 */
    /* select.c refuses fds >= FD_SETSIZE; the listener, the stop pipe and
     * stdio take the first few. */
    {"select", 0, FD_SETSIZE - 24, "fds past FD_SETSIZE (1024)"},
};

/* ---- the servers ---------------------------------------------------------- */

static int executable(const char *path) { return access(path, X_OK) == 0; }

/* dir/name into out, if it fits and is an executable file. */
static int program(char *out, size_t cap, const char *dir, const char *name) {
  int n = snprintf(out, cap, "%s/%s", dir, name);
  return n > 0 && (size_t)n < cap && executable(out) ? 0 : -1;
}

/* The directory iomux-bench runs from, and itself, from /proc/self/exe. */
static int find_self(cmp_opts *o, char *dir, size_t cap) {
  ssize_t n = readlink("/proc/self/exe", o->self, sizeof o->self - 1);
  if (n <= 0)
    return -1;
  o->self[n] = '\0';
  snprintf(dir, cap, "%s", o->self);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  return 0;
}

static int find_echo(const char *given, const char *dir, char *out,
                     size_t cap) {
  if (given) {
    snprintf(out, cap, "%s", given);
    return executable(out) ? 0 : -1;
  }
  if (program(out, cap, dir, "iomux-echo") == 0)
    return 0;
  return program(out, cap, dir, "../echo/iomux-echo");
}

/* `iomux-echo --model list`, one name a line, into buf. */
static int list_models(const char *echo, char *buf, size_t cap) {
  int p[2], status;
  if (pipe(p) < 0)
    return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    execl(echo, echo, "--model", "list", (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  size_t n = 0;
  ssize_t got;
  while (n + 1 < cap && (got = read(p[0], buf + n, cap - 1 - n)) > 0)
    n += (size_t)got;
  buf[n] = '\0';
  close(p[0]);
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0)
    return -1;
  return 0;
}

/* Is `name` a line of `list`? */
static int listed(const char *list, const char *name) {
  size_t len = strlen(name);
  for (const char *p = list; (p = strstr(p, name)); p += len)
    if ((p == list || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\0'))
      return 1;
  return 0;
}

static void add_model(cmp_opts *o, const char *label, const char *arg,
                      const char *path) {
  for (int i = 0; i < o->nmodels; i++)
    if (strcmp(o->models[i].label, label) == 0)
      return; /* named twice: run once */
  if (o->nmodels == CMP_MAX_MODELS)
    return;
  cmp_model *m = &o->models[o->nmodels++];
  *m = (cmp_model){0};
  snprintf(m->label, sizeof m->label, "%s", label);
  snprintf(m->arg, sizeof m->arg, "%s", arg);
  snprintf(m->path, sizeof m->path, "%s", path);
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
    if (strcmp(arg, limits[i].model) == 0) {
      m->at_a_time = limits[i].at_a_time;
      m->max_conns = limits[i].max_conns;
      m->limit = limits[i].limit;
    }
}

/* Add one named model. Returns 0, or -1 if it is unknown or missing; a
 * preset (`soft`) only notes a missing one. */
static int add_named(cmp_opts *o, const char *name, const char *list,
                     const char *echo, const char *adir, int soft) {
  for (size_t i = 0; i < NANCHORS; i++) {
    if (strcmp(name, anchors[i].label) != 0)
      continue;
    char path[PATH_MAX];
    if (program(path, sizeof path, adir, anchors[i].binary) == 0) {
      add_model(o, name, "", path);
      return 0;
    }
    fprintf(stderr, "iomux-bench compare: %s: no %s in %s (scripts/deps.sh "
            "bench installs the library; then rebuild)%s\n", name,
            anchors[i].binary, adir, soft ? ": left out" : "");
    return soft ? 0 : -1;
  }
  if (listed(list, name)) {
    add_model(o, name, name, echo);
    return 0;
  }
  fprintf(stderr, "iomux-bench compare: unknown model '%s'%s\n", name,
          soft ? ": left out" : " (iomux-echo --model list; or libuv, libev, "
                                "libevent)");
  return soft ? 0 : -1;
}

static int pick_models(cmp_opts *o, const cmp_args *a, const char *list,
                       const char *echo, const char *adir) {
  if (strcmp(a->models, "all") == 0) {
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", list);
    for (char *s = NULL, *t = strtok_r(copy, "\n", &s); t;
         t = strtok_r(NULL, "\n", &s))
      add_model(o, t, t, echo);
    for (size_t i = 0; i < NANCHORS; i++) {
      char path[PATH_MAX];
      if (program(path, sizeof path, adir, anchors[i].binary) == 0)
        add_model(o, anchors[i].label, "", path);
    }
    return o->nmodels ? 0 : -1;
  }
  char copy[1024];
  snprintf(copy, sizeof copy, "%s", a->models);
  int soft = a->models == cmp_quick_models;
  for (char *s = NULL, *t = strtok_r(copy, ",", &s); t;
       t = strtok_r(NULL, ",", &s))
    if (add_named(o, t, list, echo, adir, soft) < 0)
      return -1;
  if (o->nmodels == 0)
    fprintf(stderr, "iomux-bench compare: --models names no model to run\n");
  return o->nmodels ? 0 : -1;
}

static int find_servers(cmp_opts *o, const cmp_args *a) {
  char dir[PATH_MAX], echo[PATH_MAX], list[4096];
  if (find_self(o, dir, sizeof dir) < 0) {
    fprintf(stderr, "iomux-bench compare: /proc/self/exe: %s\n",
            strerror(errno));
    return -1;
  }
  if (find_echo(a->echo, dir, echo, sizeof echo) < 0 ||
      list_models(echo, list, sizeof list) < 0) {
    fprintf(stderr, "iomux-bench compare: no working iomux-echo at %s "
            "(--echo PATH)\n", a->echo ? a->echo : "the usual places");
    return -1;
  }
  return pick_models(o, a, list, echo, a->anchors ? a->anchors : dir);
}

/* ---- the machine ---------------------------------------------------------- */

/* Server on the first CPU we may use, load on the second. */
static void pick_cpus(cmp_opts *o) {
  cpu_set_t set;
  o->cpu_server = o->cpu_load = -1;
  if (sched_getaffinity(0, sizeof set, &set) < 0 || CPU_COUNT(&set) < 2)
    return;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &set))
      continue;
    if (o->cpu_server < 0)
      o->cpu_server = cpu;
    else if (o->cpu_load < 0)
      o->cpu_load = cpu;
  }
}

/* The most fds a server needs: the largest count, and the busy ones of
 * the --idle scenario beside its idle ones. */
static long fds_needed(const cmp_opts *o) {
  long need = o->conns[o->nconns - 1];
  if (o->nidle && o->idle[o->nidle - 1] + o->idle_busy > need)
    need = o->idle[o->nidle - 1] + o->idle_busy;
  return need + 64;
}

/* The servers inherit our open-file limit (and we hold the idle
 * connections): raise it to the hard limit when the largest connection
 * count needs more (a fresh machine's soft limit is often 1024), and say
 * so. */
static void raise_fd_limit(const cmp_opts *o, cmp_machine *mc) {
  long need = fds_needed(o), was, now;
  int raised = app_raise_fd_limit(need, &was, &now);
  if (raised < 0 || was >= need)
    return;
  if (raised)
    snprintf(mc->fd_note, sizeof mc->fd_note, "raised from %ld to the hard "
             "limit, %ld, for the servers", was, now);
  if (now < need)
    fprintf(stderr, "iomux-bench compare: warning: the servers may open only "
            "%ld fds and %ld connections need about %ld\n",
            now, need - 64, need);
}

static void keep_command(cmp_opts *o, int argc, char **argv) {
  size_t n = 0;
  n += (size_t)snprintf(o->command, sizeof o->command, "iomux-bench");
  for (int i = 0; i < argc && n < sizeof o->command; i++)
    n += (size_t)snprintf(o->command + n, sizeof o->command - n, " %s",
                          argv[i]);
}

/* ---- the scenarios -------------------------------------------------------- */

/* The --idle scenario into io: the options of o, the idle models among
 * those picked, the idle counts as its axis. Returns how many models. */
static int idle_scenario(const cmp_opts *o, cmp_opts *io) {
  *io = *o;
  io->nmodels = 0;
  for (int mi = 0; mi < o->nmodels; mi++)
    for (size_t k = 0; k < CMP_NIDLE_MODELS; k++)
      if (strcmp(o->models[mi].arg, cmp_idle_models[k]) == 0)
        io->models[io->nmodels++] = o->models[mi];
  memcpy(io->conns, o->idle, sizeof io->conns);
  io->nconns = o->nidle;
  io->busy = o->idle_busy;
  io->nidle = 0;
  return io->nmodels;
}

/* Can model m take `conns` connections (and the busy ones of the --idle
 * scenario)? If not, mark r and return 0. */
static int can_take(const cmp_opts *o, const cmp_model *m, int conns,
                    cmp_run *r) {
  int all = conns + o->busy;
  if (m->at_a_time && all > m->at_a_time) {
    snprintf(r->tag, sizeof r->tag, "n/a: %d at a time", m->at_a_time);
    snprintf(r->why, sizeof r->why, "n/a (serves %d at a time): the other "
             "connections would wait in the listen backlog, unserved",
             m->at_a_time);
  } else if (m->max_conns && all > m->max_conns) {
    snprintf(r->tag, sizeof r->tag, "n/a: FD_SETSIZE");
    snprintf(r->why, sizeof r->why, "n/a: %s", m->limit);
  } else {
    return 1;
  }
  r->status = RUN_NA;
  return 0;
}

static int runs_to_do(const cmp_opts *o) {
  int n = 0;
  cmp_run probe;
  for (int mi = 0; mi < o->nmodels; mi++)
    for (int ci = 0; ci < o->nconns; ci++)
      n += can_take(o, &o->models[mi], o->conns[ci], &probe);
  return n * o->reps;
}

static void progress(const cmp_opts *o, const cmp_run *r, int done,
                     int total) {
  char a[16], b[16], where[48];
  int n = o->conns[r->conns_i];
  if (o->busy)
    snprintf(where, sizeof where, "%5d idle + %d busy", n, o->busy);
  else
    snprintf(where, sizeof where, "%5d conn%s", n, n > 1 ? "s" : " ");
  fprintf(stderr, "[%3d/%d] %-11s %s rep %d/%d  ", done, total,
          o->models[r->model].label, where, r->rep + 1, o->reps);
  if (r->status == RUN_OK)
    fprintf(stderr, "%7s msg/s  %7s msg/CPU-s  (%.1f s)\n",
            cmp_si(r->msg_s, a, sizeof a), cmp_si(r->per_cpu_s, b, sizeof b),
            r->wall_s);
  else
    fprintf(stderr, "%s: %s\n", r->tag, r->why);
}

/* Every round: each connection count, each model in a rotated order.
 * `done` and `total` count the runs of both scenarios, for the progress. */
static int run_all(cmp_data *d, int *done, int total) {
  const cmp_opts *o = d->o;
  int cap = o->nmodels * o->nconns * o->reps;
  d->runs = calloc((size_t)cap, sizeof *d->runs);
  if (!d->runs)
    return -1;
  double t0 = app_now_s();
  for (int rep = 0; rep < o->reps; rep++)
    for (int ci = 0; ci < o->nconns; ci++)
      for (int k = 0; k < o->nmodels; k++) {
        cmp_run *r = &d->runs[d->nruns];
        int mi = (k + rep + ci) % o->nmodels;
        *r = (cmp_run){.model = mi, .conns_i = ci, .rep = rep, .order = k};
        if (!can_take(o, &o->models[mi], o->conns[ci], r)) {
          d->nruns += rep == 0; /* once per cell: it was not run */
          continue;
        }
        cmp_run_one(o, &o->models[mi], o->conns[ci], r);
        d->nruns++;
        progress(o, r, ++*done, total);
      }
  d->total_s = app_now_s() - t0;
  return 0;
}

static void announce(const cmp_data *d, int total) {
  const cmp_opts *o = d->o;
  fprintf(stderr, "iomux-bench compare: %d models x %d connection counts x "
          "%d rep%s", o->nmodels, o->nconns, o->reps, o->reps > 1 ? "s" : "");
  if (d->idle)
    fprintf(stderr, ", and %d models x %d idle counts with %d busy",
            d->idle->o->nmodels, d->idle->o->nconns, d->idle->o->busy);
  fprintf(stderr, " = %d runs, about %.0f s; ", total,
          total * (o->duration + o->warmup + 0.6));
  if (o->cpu_server >= 0)
    fprintf(stderr, "server on CPU %d, load on CPU %d\n", o->cpu_server,
            o->cpu_load);
  else
    fprintf(stderr, "one CPU: server and load share it\n");
  if (d->machine.fd_note[0])
    fprintf(stderr, "iomux-bench compare: open-file limit %s\n",
            d->machine.fd_note);
}

static int any_ok(const cmp_data *d) {
  for (int i = 0; i < d->nruns; i++)
    if (d->runs[i].status == RUN_OK)
      return 1;
  return 0;
}

int bench_compare(int argc, char **argv) {
  /* Big (paths, cells): static keeps them off the stack. */
  static cmp_opts o, io;
  static cmp_data d, idle;
  cmp_args a;
  int rc = cmp_parse(argc, argv, &o, &a);
  if (rc >= 0)
    return rc;
  if (find_servers(&o, &a) < 0)
    return 2;
  keep_command(&o, argc, argv);
  pick_cpus(&o);
  if (o.nidle && idle_scenario(&o, &io) == 0)
    return cmp_bad_usage("--idle compares %s, %s, %s, %s and %s: --models has "
                     "none of them", cmp_idle_models[0], cmp_idle_models[1],
                     cmp_idle_models[2], cmp_idle_models[3], cmp_idle_models[4]);
  d.o = &o;
  idle.o = &io;
  d.idle = o.nidle ? &idle : NULL;
  raise_fd_limit(&o, &d.machine);
  cmp_machine_read(&d.machine);
  idle.machine = d.machine;
  int total = runs_to_do(&o) + (d.idle ? runs_to_do(&io) : 0), done = 0;
  announce(&d, total);
  if (run_all(&d, &done, total) < 0 ||
      (d.idle && run_all(&idle, &done, total) < 0))
    return 1;
  cmp_summarize(&d);
  if (d.idle)
    cmp_summarize(&idle);
  cmp_print_table(&d, stdout);
  if (d.idle)
    cmp_print_table(&idle, stdout);
  rc = cmp_write_report(&d);
  if (rc == 0)
    printf("\nreport: %s/report.html (open it in a browser)\n"
           "charts: %s/*.svg\n"
           "data:   %s/results.csv, %s/results.json (every run)\n",
           o.out, o.out, o.out, o.out);
  int ok = rc == 0 && (any_ok(&d) || (d.idle && any_ok(&idle)));
  free(d.runs);
  free(idle.runs);
  return ok ? 0 : 1;
}
