/* iomux-bench: the server's side of a run, from /proc (bench_server.h). */
#define _GNU_SOURCE
#include "bench_server.h"

#include "iomux/error.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the samples --------------------------------------------------------- */

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

const char *server_sample_strerror(int err) {
  return err == -ENOENT ? "no such process" : iom_strerror(err);
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

/* ---- the figures --------------------------------------------------------- */

void server_figures_of(int pid, const server_sample *base,
                       const server_sample *start, const server_sample *end,
                       uint64_t work, uint64_t clients, server_figures *f) {
  const server_sample *a = start, *b = end;
  *f = (server_figures){.pid = pid, .known = pid && a->ok && b->ok};
  if (!f->known)
    return;
  f->user_s = b->user_s - a->user_s;
  f->sys_s = b->sys_s - a->sys_s;
  double cpu = f->user_s + f->sys_s;
  f->per_cpu_s = cpu > 0 ? (double)work / cpu : 0;
  f->switches = b->ctxsw + b->nvctxsw - a->ctxsw - a->nvctxsw;
  f->hwm_kib = b->hwm_kib;
  f->rss_kib = b->rss_kib;
  if (clients && base->ok)
    f->rss_per = ((double)b->rss_kib - (double)base->rss_kib) * 1024.0 /
                 (double)clients;
}

/* ---- text, JSON, CSV ----------------------------------------------------- */

void server_text(const server_figures *f, const server_report *how,
                 double window_s, FILE *to) {
  if (!f->pid)
    return;
  if (!f->known) {
    fprintf(to, "  server      pid %d: no /proc figures (did it exit?)\n",
            f->pid);
    return;
  }
  double cpu = f->user_s + f->sys_s;
  fprintf(to, "  server      pid %d: CPU %.2f s user + %.2f s sys = %.0f%% "
          "of one CPU\n", f->pid, f->user_s, f->sys_s,
          window_s > 0 ? 100.0 * cpu / window_s : 0.0);
  fprintf(to, "              ");
  for (int i = 0; i < how->nrates; i++)
    fprintf(to, "%s%.*f %s", i ? ", " : "", how->rates[i].text_decimals,
            how->rates[i].value, how->rates[i].words);
  fprintf(to, "\n");
  fprintf(to, "              RSS peak %.1f MiB, now %.1f MiB, %.0f bytes per "
          "%s\n", (double)f->hwm_kib / 1024.0,
          (double)f->rss_kib / 1024.0, f->rss_per, how->per);
}

void server_json(const server_figures *f, const server_report *how,
                 FILE *to) {
  if (!f->known) {
    fprintf(to, "null");
    return;
  }
  fprintf(to, "{\"pid\":%d,\"user_s\":%.3f,\"sys_s\":%.3f,", f->pid,
          f->user_s, f->sys_s);
  for (int i = 0; i < how->nrates; i++)
    fprintf(to, "\"%s\":%.*f,", how->rates[i].key, how->rates[i].decimals,
            how->rates[i].value);
  fprintf(to, "\"rss_peak_kib\":%llu,\"rss_kib\":%llu,\"%s\":%.0f}",
          (unsigned long long)f->hwm_kib, (unsigned long long)f->rss_kib,
          how->per_key, f->rss_per);
}

void server_csv_head(const server_report *how, FILE *to) {
  fprintf(to, ",server_user_s,server_sys_s");
  for (int i = 0; i < how->nrates; i++)
    fprintf(to, ",%s", how->rates[i].csv);
  fprintf(to, ",server_rss_peak_kib,server_%s", how->per_key);
}

void server_csv(const server_figures *f, const server_report *how, FILE *to) {
  if (!f->known) { /* the columns, empty */
    fprintf(to, ",,");
    for (int i = 0; i < how->nrates; i++)
      fputc(',', to);
    fprintf(to, ",,");
    return;
  }
  fprintf(to, ",%.3f,%.3f", f->user_s, f->sys_s);
  for (int i = 0; i < how->nrates; i++)
    fprintf(to, ",%.*f", how->rates[i].decimals, how->rates[i].value);
  fprintf(to, ",%llu,%.0f", (unsigned long long)f->hwm_kib, f->rss_per);
}
