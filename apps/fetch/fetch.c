/* iomux-fetch's downloads: at most -j requests in flight on one loop, each
 * body streamed to its file as it arrives.
 *
 * A file is written under a temporary name in the same directory
 * (".NAME.part-PID-N") and renamed to NAME only when the whole response
 * arrived with a status below 400: rename() is atomic, so after a failure
 * (a reset, a timeout, a short body, a full disk) no partial file is left
 * under either name. Files are opened when the response's head arrives, so
 * a request that fails before it creates nothing. A destination that is
 * not a regular file (-O /dev/null, a pipe) is written straight: renaming
 * over it would replace the device with a file.
 *
 * Disk writes are plain blocking write()s on the loop thread: the page
 * cache takes them at memory speed, and a body arrives a read buffer at a
 * time, so one write never holds the loop for long. A disk that stalls
 * would stall every download; the worker pool (pool.h) is where such
 * writes would go.
 */
#define _GNU_SOURCE
#include "fetch.h"

#include "common/clock.h"
#include "iomux/error.h"
#include "iomux/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct job {
  struct run *run;
  size_t index;
  iom_http_req *req;
  int fd;        /* the body's destination, -1 when it is not kept */
  char *tmp;     /* the temporary name, while it exists */
  char *final;   /* the name it gets on success */
  uint64_t start_ns;
  int status;
  uint64_t bytes;
  int write_err; /* a write to fd failed (the request was cancelled) */
} job;

typedef struct run {
  const fetch_opts *o;
  iom_loop *loop;
  iom_http_client *client;
  job *jobs;
  size_t next, inflight;
  fetch_totals t;
  iom_timer *tick;
  char **names; /* -o: file names given out, an open-addressing set */
  size_t nslots;
} run;

/* ---- file names ---------------------------------------------------------- */

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* Add name to the set; 0 if it was there already. */
static int claim(run *rn, const char *name) {
  size_t i = hash(name) % rn->nslots;
  for (; rn->names[i]; i = (i + 1) % rn->nslots)
    if (!strcmp(rn->names[i], name))
      return 0;
  rn->names[i] = strdup(name);
  return 1;
}

/* The file name a URL gets in -o DIR: the last segment of its path (no
 * query), "index.html" when that is empty, made unique in this run with a
 * ".1", ".2", ... suffix. */
static char *name_for(run *rn, const char *url) {
  const char *p = strstr(url, "://");
  p = p ? strchr(p + 3, '/') : NULL;
  char base[256] = "index.html";
  if (p) {
    size_t n = strcspn(p, "?#");
    const char *seg = p + n;
    while (seg > p && seg[-1] != '/')
      seg--;
    size_t len = (size_t)(p + n - seg);
    if (len > 0 && len < sizeof base - 16 && strncmp(seg, ".", len) &&
        strncmp(seg, "..", len > 2 ? len : 2)) {
      memcpy(base, seg, len);
      base[len] = '\0';
    }
  }
  char name[300];
  snprintf(name, sizeof name, "%s", base);
  for (int k = 1; !claim(rn, name); k++)
    snprintf(name, sizeof name, "%s.%d", base, k);
  char *path = NULL;
  if (asprintf(&path, "%s/%s", rn->o->dir, name) < 0)
    return NULL;
  return path;
}

/* The temporary name beside `final`. */
static char *tmp_for(const char *final, size_t index) {
  const char *slash = strrchr(final, '/');
  int dirlen = slash ? (int)(slash - final + 1) : 0;
  char *tmp = NULL;
  if (asprintf(&tmp, "%.*s.%s.part-%ld-%zu", dirlen, final,
               final + dirlen, (long)getpid(), index) < 0)
    return NULL;
  return tmp;
}

/* ---- a download ------------------------------------------------------------ */

static void start_more(run *rn);

static void print_head(const iom_http_response *resp) {
  printf("HTTP/%s %d %s\r\n", resp->version == 10 ? "1.0" : "1.1",
         resp->status, resp->reason);
  for (size_t i = 0; i < resp->nheaders; i++)
    printf("%s: %s\r\n", resp->headers[i].name, resp->headers[i].value);
  printf("\r\n");
}

/* Where this job's body goes, opened now that a response came. */
static int open_output(job *j) {
  const fetch_opts *o = j->run->o;
  if (o->discard || o->head || (o->json && !o->dir && !o->out))
    return 0;
  if (!o->dir && (!o->out || !strcmp(o->out, "-"))) {
    j->fd = STDOUT_FILENO;
    return 0;
  }
  const char *url = o->urls[j->index];
  j->final = o->dir ? name_for(j->run, url) : strdup(o->out);
  if (!j->final)
    return -ENOMEM;
  struct stat st;
  if (stat(j->final, &st) == 0 && !S_ISREG(st.st_mode)) {
    /* A device or a pipe (-O /dev/null): written straight, never renamed
     * over (that would replace the device with a file). */
    j->fd = open(j->final, O_WRONLY | O_CLOEXEC);
    return j->fd < 0 ? -errno : 0;
  }
  j->tmp = tmp_for(j->final, j->index);
  if (!j->tmp)
    return -ENOMEM;
  j->fd = open(j->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (j->fd < 0) {
    int err = -errno;
    free(j->tmp);
    j->tmp = NULL;
    return err;
  }
  return 0;
}

static void on_response(iom_http_req *req, const iom_http_response *resp,
                        void *data) {
  job *j = data;
  j->status = resp->status;
  if (j->run->o->head && j->run->o->nurls == 1 && !j->run->o->json)
    print_head(resp);
  if (resp->status >= 400)
    return; /* counted as a failure; the body is read and dropped */
  int err = open_output(j);
  if (err < 0) {
    j->write_err = err;
    iom_http_cancel(req);
  }
}

static void on_body(iom_http_req *req, const char *buf, size_t len,
                    void *data) {
  job *j = data;
  j->bytes += len;
  j->run->t.bytes += len;
  while (j->fd >= 0 && len > 0) {
    ssize_t w = write(j->fd, buf, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      j->write_err = -errno;
      iom_http_cancel(req);
      return;
    }
    buf += w;
    len -= (size_t)w;
  }
}

/* Close the output; keep it (rename) only if everything went well.
 * Returns 0 or the error that spoiled it. */
static int close_output(job *j, int ok) {
  int err = 0;
  if (j->fd > STDOUT_FILENO && close(j->fd) < 0 && ok)
    err = -errno;
  j->fd = -1;
  if (j->tmp) {
    if (ok && !err && rename(j->tmp, j->final) < 0)
      err = -errno;
    if (!ok || err)
      unlink(j->tmp);
  }
  free(j->tmp);
  free(j->final);
  j->tmp = j->final = NULL;
  return err;
}

static void on_done(iom_http_req *req, int err, void *data) {
  job *j = data;
  run *rn = j->run;
  fetch_result r = {.url = rn->o->urls[j->index],
                    .status = j->status,
                    .bytes = j->bytes,
                    .seconds = (double)(app_now_ns() - j->start_ns) / 1e9,
                    .err = err,
                    .reason = iom_http_req_reason(req)};
  char why[256];
  if (j->write_err)
    r.err = j->write_err;
  int close_err = close_output(j, !r.err && j->status < 400);
  if (close_err)
    r.err = close_err;
  if (r.err) {
    snprintf(why, sizeof why, "%s%s%s", iom_strerror(r.err),
             *r.reason && r.err == err ? ": " : "",
             r.err == err ? r.reason : "");
    r.reason = why;
  } else if (j->status >= 400) {
    snprintf(why, sizeof why, "HTTP %d", j->status);
    r.reason = why;
  }
  report_result(rn->o, &r);
  rn->t.done++;
  if (r.err || j->status >= 400)
    rn->t.failed++;
  rn->inflight--;
  start_more(rn);
}

static const iom_http_req_cbs req_cbs = {
    .on_response = on_response,
    .on_body = on_body,
    .on_done = on_done,
};

static void start_job(run *rn, size_t i) {
  const fetch_opts *o = rn->o;
  job *j = &rn->jobs[i];
  j->run = rn;
  j->index = i;
  j->fd = -1;
  j->start_ns = app_now_ns();
  iom_http_request_opts ro = {
      .method = o->head ? "HEAD" : "GET",
      .url = o->urls[i],
      .headers = o->headers,
      .nheaders = o->nheaders,
      .follow_redirects = o->follow,
      .connect_timeout_ms = (int)(o->connect_timeout * 1000),
      .timeout_ms = (int)(o->max_time * 1000),
  };
  int err = iom_http_request(rn->client, &ro, &req_cbs, j, &j->req);
  if (err < 0) {
    fetch_result r = {.url = o->urls[i], .err = err};
    char why[128];
    snprintf(why, sizeof why, "%s%s", iom_strerror(err),
             err == -EINVAL            ? " (bad URL)"
             : err == -EPROTONOSUPPORT ? " (https: built without OpenSSL)"
                                       : "");
    r.reason = why;
    report_result(o, &r);
    rn->t.done++;
    rn->t.failed++;
    return;
  }
  rn->inflight++;
}

static void start_more(run *rn) {
  while (rn->inflight < (size_t)rn->o->jobs && rn->next < rn->o->nurls)
    start_job(rn, rn->next++);
  if (rn->inflight == 0 && rn->next == rn->o->nurls && rn->client) {
    iom_http_client_free(rn->client); /* its sockets close on later turns */
    rn->client = NULL;
    iom_timer_stop(rn->tick);
  }
}

static void on_tick(iom_timer *t, void *data) {
  (void)t;
  report_progress(&((run *)data)->t, 0);
}

/* ---- the run ------------------------------------------------------------------ */

int fetch_run(const fetch_opts *o) {
  run rn = {.o = o};
  iom_http_client_opts co = {
      .max_per_host = o->jobs,
      .max_total = o->jobs,
      .user_agent = "iomux-fetch/0.1",
      .ca_file = o->cacert,
      .insecure = o->insecure,
  };
  int err = iom_loop_new(IOM_DEFAULT, &rn.loop);
  if (err < 0)
    return err;
  rn.jobs = calloc(o->nurls ? o->nurls : 1, sizeof *rn.jobs);
  rn.nslots = o->nurls * 2 + 1;
  rn.names = calloc(rn.nslots, sizeof *rn.names);
  if (!rn.jobs || !rn.names)
    err = -ENOMEM;
  if (!err)
    err = iom_http_client_new(rn.loop, &co, &rn.client);
  if (!err)
    err = iom_timer_new(rn.loop, on_tick, &rn, &rn.tick);
  if (!err) {
    rn.t.total = o->nurls;
    rn.t.started = app_now_s();
    if (o->progress)
      iom_timer_start(rn.tick, 200, 200);
    start_more(&rn);
    while (iom_loop_run(rn.loop, IOM_RUN_DEFAULT) > 0)
      ;
    if (o->progress)
      report_progress(&rn.t, 1);
    report_summary(o, &rn.t);
  }
  iom_http_client_free(rn.client);
  iom_timer_free(rn.tick);
  while (iom_loop_run(rn.loop, IOM_RUN_DEFAULT) > 0)
    ;
  iom_loop_free(rn.loop);
  for (size_t i = 0; i < rn.nslots && rn.names; i++)
    free(rn.names[i]);
  free(rn.names);
  free(rn.jobs);
  if (err < 0)
    return err;
  return rn.t.failed ? 1 : 0;
}
