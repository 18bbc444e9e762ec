/* iomux-bench load: the server's side from /proc, and the report.
 *
 * Server CPU comes from /proc/PID/stat (utime + stime, all threads). Context
 * switches are per thread in Linux, so they are summed over
 * /proc/PID/task/TID/status; each one is the server going to sleep or being
 * pushed off the CPU, which is what "wake-ups per message" counts. Memory is
 * VmHWM (the peak) and VmRSS from /proc/PID/status.
 */
#define _GNU_SOURCE
#include "load.h"

#include "common/json.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -errno;
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
  return 0;
}

/* The number after "key:" in a /proc status text; 0 if absent. */
static uint64_t status_field(const char *text, const char *key) {
  const char *p = strstr(text, key);
  return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static int read_cpu(int pid, server_sample *s) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int err = read_file(path, buf, sizeof buf);
  if (err < 0)
    return err;
  const char *p = strrchr(buf, ')'); /* the name may hold spaces */
  unsigned long long ut = 0, st = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
                   "%llu", &ut, &st) != 2)
    return -EPROTO;
  double tick = (double)sysconf(_SC_CLK_TCK);
  s->user_s = (double)ut / tick;
  s->sys_s = (double)st / tick;
  return 0;
}

static void read_switches(int pid, server_sample *s) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR *d = opendir(path);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char file[sizeof path + 256 + 8];
    snprintf(file, sizeof file, "%s/%s/status", path, e->d_name);
    if (read_file(file, buf, sizeof buf) == 0) {
      s->ctxsw += status_field(buf, "\nvoluntary_ctxt_switches:");
      s->nvctxsw += status_field(buf, "\nnonvoluntary_ctxt_switches:");
    }
  }
  if (d)
    closedir(d);
}

int server_sample_read(int pid, server_sample *out) {
  char path[64], buf[4096];
  *out = (server_sample){0};
  int err = read_cpu(pid, out);
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  if (err < 0 || (err = read_file(path, buf, sizeof buf)) < 0)
    return err;
  out->hwm_kib = status_field(buf, "\nVmHWM:");
  out->rss_kib = status_field(buf, "\nVmRSS:");
  read_switches(pid, out);
  out->ok = 1;
  return 0;
}

uint64_t load_error_total(const load_result *r) {
  uint64_t n = 0;
  for (int k = 0; k < ERR_KINDS; k++)
    n += r->errors[k];
  return n;
}

/* ---- the numbers, once, for every format ----------------------------------- */

typedef struct summary {
  double window_s, msg_rate, byte_rate;
  uint64_t p50, p90, p99, p999, max;
  int server; /* the server figures below are known */
  double user_s, sys_s, per_cpu_s, wakeups, rss_per_conn;
  uint64_t hwm_kib, rss_kib;
} summary;

static void summarize(const load_opts *o, const load_result *r, summary *s) {
  const histogram *h = &r->latency;
  *s = (summary){.window_s = (double)r->window_ns / 1e9};
  if (s->window_s > 0) {
    s->msg_rate = (double)r->messages / s->window_s;
    s->byte_rate = (double)r->bytes / s->window_s;
  }
  s->p50 = hist_percentile(h, 50), s->p90 = hist_percentile(h, 90);
  s->p99 = hist_percentile(h, 99), s->p999 = hist_percentile(h, 99.9);
  s->max = h->count ? h->max : 0;
  const server_sample *a = &r->srv_start, *b = &r->srv_end;
  s->server = o->server_pid && a->ok && b->ok;
  if (!s->server)
    return;
  s->user_s = b->user_s - a->user_s;
  s->sys_s = b->sys_s - a->sys_s;
  double cpu = s->user_s + s->sys_s;
  s->per_cpu_s = cpu > 0 ? (double)r->messages / cpu : 0;
  s->wakeups = r->messages ? (double)(b->ctxsw + b->nvctxsw - a->ctxsw -
                                      a->nvctxsw) / (double)r->messages
                           : 0;
  s->hwm_kib = b->hwm_kib;
  s->rss_kib = b->rss_kib;
  if (r->connected && r->srv_base.ok)
    s->rss_per_conn = ((double)b->rss_kib - (double)r->srv_base.rss_kib) *
                      1024.0 / (double)r->connected;
}

/* ---- text ----------------------------------------------------------------- */

static const char *duration(uint64_t ns, char *buf, size_t cap) {
  if (ns < 1000)
    snprintf(buf, cap, "%llu ns", (unsigned long long)ns);
  else if (ns < 1000000)
    snprintf(buf, cap, "%.1f us", (double)ns / 1e3);
  else if (ns < 1000000000)
    snprintf(buf, cap, "%.2f ms", (double)ns / 1e6);
  else
    snprintf(buf, cap, "%.2f s", (double)ns / 1e9);
  return buf;
}

static const char *const kind_name[ERR_KINDS] = {
    "mismatch", "lost", "stalled", "connect failed"};

static void text_errors(const load_result *r, FILE *to) {
  if (!load_error_total(r)) {
    fprintf(to, "  errors      none\n");
    return;
  }
  fprintf(to, "  errors      ");
  for (int k = 0; k < ERR_KINDS; k++)
    fprintf(to, "%s%s %llu", k ? ", " : "", kind_name[k],
            (unsigned long long)r->errors[k]);
  fprintf(to, "\n");
  for (int k = 0; k < ERR_KINDS; k++)
    if (r->errors[k])
      fprintf(to, "    first %s: %s\n", kind_name[k], r->detail[k]);
}

static void text_server(const load_opts *o, const summary *s, FILE *to) {
  if (!o->server_pid)
    return;
  if (!s->server) {
    fprintf(to, "  server      pid %d: no /proc figures (did it exit?)\n",
            o->server_pid);
    return;
  }
  double cpu = s->user_s + s->sys_s;
  fprintf(to, "  server      pid %d: CPU %.2f s user + %.2f s sys = %.0f%% "
          "of one CPU\n", o->server_pid, s->user_s, s->sys_s,
          s->window_s > 0 ? 100.0 * cpu / s->window_s : 0.0);
  fprintf(to, "              %.0f messages per CPU-second, %.3f wake-ups per "
          "message\n", s->per_cpu_s, s->wakeups);
  fprintf(to, "              RSS peak %.1f MiB, now %.1f MiB, %.0f bytes per "
          "connection\n", (double)s->hwm_kib / 1024.0,
          (double)s->rss_kib / 1024.0, s->rss_per_conn);
}

static void text(const load_opts *o, const load_result *r, const summary *s,
                 FILE *to) {
  char a[32], b[32], c[32], d[32], e[32];
  fprintf(to, "iomux-bench load: %s port %d, %d connections (%llu opened) in "
          "%d process%s, %d-byte messages, pipeline %d%s\n", o->host, o->port,
          o->conns, (unsigned long long)r->connected, o->procs,
          o->procs > 1 ? "es" : "", o->size, o->pipeline,
          o->upper ? ", uppercased" : "");
  fprintf(to, "  window      %.2f s after %.1f s of warm-up, every byte "
          "checked\n", s->window_s, o->warmup);
  fprintf(to, "  throughput  %.0f messages/s, %.2f MB/s (%llu messages)\n",
          s->msg_rate, s->byte_rate / 1e6, (unsigned long long)r->messages);
  fprintf(to, "  latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
          duration(s->p50, a, sizeof a), duration(s->p90, b, sizeof b),
          duration(s->p99, c, sizeof c), duration(s->p999, d, sizeof d),
          duration(s->max, e, sizeof e));
  text_errors(r, to);
  fprintf(to, "  load        CPU %.2f s = %.0f%% of one CPU (the generator, "
          "%d process%s)\n", r->load_cpu_s,
          s->window_s > 0 ? 100.0 * r->load_cpu_s / s->window_s : 0.0,
          o->procs, o->procs > 1 ? "es" : "");
  text_server(o, s, to);
}

/* ---- JSON and CSV --------------------------------------------------------- */

static void json(const load_opts *o, const load_result *r, const summary *s,
                 FILE *to) {
  fprintf(to, "{\"host\":");
  app_json_string(o->host, to);
  fprintf(to, ",\"port\":%d,\"conns\":%d,\"connected\":%llu,\"size\":%d,"
          "\"pipeline\":%d,\"procs\":%d,\"upper\":%s,\"warmup_s\":%g,"
          "\"duration_s\":%g,\"window_s\":%.6f,\"messages\":%llu,"
          "\"bytes\":%llu,\"messages_per_s\":%.1f,\"bytes_per_s\":%.1f,"
          "\"load_cpu_s\":%.3f,",
          o->port, o->conns, (unsigned long long)r->connected, o->size,
          o->pipeline, o->procs, o->upper ? "true" : "false", o->warmup,
          o->duration, s->window_s, (unsigned long long)r->messages,
          (unsigned long long)r->bytes, s->msg_rate, s->byte_rate,
          r->load_cpu_s);
  fprintf(to, "\"latency_ns\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,"
          "\"p99_9\":%llu,\"max\":%llu,\"mean\":%.0f},\"errors\":{",
          (unsigned long long)s->p50, (unsigned long long)s->p90,
          (unsigned long long)s->p99, (unsigned long long)s->p999,
          (unsigned long long)s->max, hist_mean(&r->latency));
  for (int k = 0; k < ERR_KINDS; k++)
    fprintf(to, "%s\"%s\":%llu", k ? "," : "",
            k == ERR_CONNECT ? "connect_failed" : kind_name[k],
            (unsigned long long)r->errors[k]);
  fprintf(to, "},\"first_errors\":[");
  for (int k = 0, n = 0; k < ERR_KINDS; k++)
    if (r->errors[k]) {
      fprintf(to, n++ ? "," : "");
      app_json_string(r->detail[k], to);
    }
  fprintf(to, "],\"server\":");
  if (!s->server)
    fprintf(to, "null}\n");
  else
    fprintf(to, "{\"pid\":%d,\"user_s\":%.3f,\"sys_s\":%.3f,"
            "\"messages_per_cpu_s\":%.1f,\"wakeups_per_message\":%.4f,"
            "\"rss_peak_kib\":%llu,\"rss_kib\":%llu,"
            "\"rss_per_conn_bytes\":%.0f}}\n", o->server_pid, s->user_s,
            s->sys_s, s->per_cpu_s, s->wakeups,
            (unsigned long long)s->hwm_kib, (unsigned long long)s->rss_kib,
            s->rss_per_conn);
}

static void csv(const load_opts *o, const load_result *r, const summary *s,
                FILE *to) {
  fprintf(to, "host,port,conns,connected,size,pipeline,procs,window_s,"
          "messages,messages_per_s,bytes_per_s,p50_ns,p90_ns,p99_ns,"
          "p99_9_ns,max_ns,mismatch,lost,stalled,connect_failed,"
          "server_user_s,server_sys_s,messages_per_server_cpu_s,"
          "wakeups_per_message,server_rss_peak_kib,"
          "server_rss_per_conn_bytes,load_cpu_s\n");
  fprintf(to, "%s,%d,%d,%llu,%d,%d,%d,%.6f,%llu,%.1f,%.1f,%llu,%llu,%llu,"
          "%llu,%llu", o->host, o->port, o->conns,
          (unsigned long long)r->connected, o->size, o->pipeline, o->procs,
          s->window_s, (unsigned long long)r->messages, s->msg_rate,
          s->byte_rate, (unsigned long long)s->p50,
          (unsigned long long)s->p90, (unsigned long long)s->p99,
          (unsigned long long)s->p999, (unsigned long long)s->max);
  for (int k = 0; k < ERR_KINDS; k++)
    fprintf(to, ",%llu", (unsigned long long)r->errors[k]);
  if (s->server)
    fprintf(to, ",%.3f,%.3f,%.1f,%.4f,%llu,%.0f", s->user_s, s->sys_s,
            s->per_cpu_s, s->wakeups, (unsigned long long)s->hwm_kib,
            s->rss_per_conn);
  else
    fprintf(to, ",,,,,,");
  fprintf(to, ",%.3f\n", r->load_cpu_s);
}

void load_report(const load_opts *o, const load_result *r, FILE *to) {
  summary s;
  summarize(o, r, &s);
  if (o->format == LOAD_JSON)
    json(o, r, &s, to);
  else if (o->format == LOAD_CSV)
    csv(o, r, &s, to);
  else
    text(o, r, &s, to);
  fflush(to);
}
