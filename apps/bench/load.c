/* iomux-bench load: a closed-loop TCP load generator, built on iomux.
 *
 * Each connection keeps K messages of B bytes in flight: it sends K, and
 * sends one more each time a whole message has come back. Every byte that
 * comes back is checked against what was sent (uppercased with --upper), so
 * a server that drops, reorders, mixes up or corrupts bytes is caught, not
 * just measured (load_msg.c makes and checks the messages).
 *
 * Phases: connect (in batches of 100, with a timeout) -> warm-up -> the
 * measured window -> done. Only the window counts towards throughput and
 * latency; errors count in every phase:
 *   mismatch        a byte differs from the one expected
 *   lost            the server closed or reset a connection before the end
 *   stalled         a connection made no progress for 2 s (or half of a
 *                   shorter run) while this process kept running, or got
 *                   no echo at all in the whole run
 *   connect failed  refused, timed out, or no fd for it
 *
 * With --procs N, N forked workers share the connections; each connects,
 * says so through its pipe, waits until all have, then all start together.
 * Their results come back through the pipes and merge (histograms add).
 * Worker 0 samples the server's /proc entries at the window's edges.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "load.h"

#include "common/clock.h"
#include "common/fdlimit.h"
#include "iomux/error.h"
#include "iomux/loop.h"
#include "iomux/stream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONNECT_BATCH 100
#define CONNECT_TIMEOUT_MS 5000
#define STALL_MS 2000
#define SCRATCH (64 * 1024)

enum phase { CONNECTING, READY, WARMUP, MEASURE, DONE };
enum conn_state { C_IDLE, C_CONNECTING, C_OPEN, C_OVER };

typedef struct worker worker;

typedef struct conn {
  worker *w;
  iom_stream *s;
  uint32_t id;
  uint8_t state, stalled, failed;
  uint64_t send_seq, recv_seq; /* next message to send, to receive */
  size_t recv_off;             /* bytes of message recv_seq received */
  uint64_t last_ms;            /* when the last byte came back */
  uint64_t *sent_ns;           /* K slots: when message seq%K was sent */
} conn;

struct worker {
  const load_opts *o;
  load_result *res;
  int index, n, first_id;
  iom_loop *loop;
  conn *conns;
  uint64_t *slots;
  payload pay;
  char *scratch;           /* room to build messages in */
  int next, pending, open; /* connect queue, in flight, open */
  enum phase phase;
  iom_timer *warm_timer, *window_timer, *check_timer, *progress_timer;
  iom_io *go_io;
  int ready_fd, go_fd, said_ready;
  uint64_t window_start, stall_ms, check_period, check_due, check_base;
  uint64_t all_messages, last_messages; /* every phase, for progress */
  uint64_t started_ms;
};

static uint64_t ms_of(double seconds) {
  return (uint64_t)(seconds * 1000.0 + 0.5);
}

/* Count an error; keep the words of the first of its kind. */
static void error_at(worker *w, int kind, const char *fmt, ...) {
  load_result *r = w->res;
  if (r->errors[kind]++ == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail[kind], sizeof r->detail[kind], fmt, ap);
    va_end(ap);
  }
}

/* ---- the closed loop ------------------------------------------------------ */

/* Send `count` new messages, packed into as few writes as the scratch
 * buffer allows. */
static void send_messages(worker *w, conn *c, int count, uint64_t t) {
  size_t size = (size_t)w->o->size, k = (size_t)w->o->pipeline;
  size_t per_write = SCRATCH / size ? SCRATCH / size : 1;
  while (count > 0 && c->state == C_OPEN) {
    size_t batch = (size_t)count < per_write ? (size_t)count : per_write;
    for (size_t i = 0; i < batch; i++) {
      c->sent_ns[c->send_seq % k] = t;
      payload_build(&w->pay, c->id, c->send_seq++, w->scratch + i * size);
    }
    if (iom_stream_write(c->s, w->scratch, batch * size) < 0)
      return; /* the stream is ending: on_close tells how */
    count -= (int)batch;
  }
}

static void mismatch(worker *w, conn *c, const char *buf, long at,
                     char expected) {
  unsigned char got = (unsigned char)buf[at];
  error_at(w, ERR_MISMATCH,
           "connection %u, message %llu, byte %zu: expected 0x%02x '%c', "
           "got 0x%02x '%c'",
           c->id, (unsigned long long)c->recv_seq, c->recv_off + (size_t)at,
           (unsigned char)expected, expected, got,
           got >= 32 && got < 127 ? got : '?');
  c->failed = 1; /* the rest of this stream can not be trusted */
  iom_stream_abort(c->s);
}

static void message_back(worker *w, conn *c, uint64_t t) {
  uint64_t sent = c->sent_ns[c->recv_seq % (uint64_t)w->o->pipeline];
  if (w->phase == MEASURE) {
    hist_record(&w->res->latency, t - sent);
    w->res->messages++;
  }
  w->all_messages++;
  c->recv_seq++;
  c->recv_off = 0;
}

static void on_read(iom_stream *s, const char *buf, size_t len, void *data) {
  (void)s;
  conn *c = data;
  worker *w = c->w;
  size_t size = (size_t)w->o->size;
  uint64_t t = app_now_ns();
  int back = 0;
  c->last_ms = t / 1000000u;
  for (size_t done = 0; done < len;) {
    size_t m = len - done < size - c->recv_off ? len - done
                                                : size - c->recv_off;
    char expected;
    long at = payload_check(&w->pay, c->id, c->recv_seq, c->recv_off,
                            buf + done, m, &expected);
    if (at >= 0) {
      mismatch(w, c, buf + done, at, expected);
      return;
    }
    done += m;
    c->recv_off += m;
    if (c->recv_off == size) {
      message_back(w, c, t);
      back++;
    }
  }
  if (w->phase == MEASURE)
    w->res->bytes += len;
  if (back && w->phase != DONE)
    send_messages(w, c, back, t);
}

static void connect_more(worker *w);

/* TCP_NODELAY: the generator writes whole messages and must not hold any
 * back for Nagle's algorithm; the server keeps its own setting. */
static void on_connect(iom_stream *s, void *data) {
  conn *c = data;
  worker *w = c->w;
  int one = 1;
  setsockopt(iom_stream_fd(s), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->state = C_OPEN;
  c->last_ms = app_now_ms();
  w->pending--;
  w->open++;
  w->res->connected++;
  send_messages(w, c, w->o->pipeline, app_now_ns());
  connect_more(w);
}

static void on_close(iom_stream *s, int err, void *data) {
  (void)s;
  conn *c = data;
  worker *w = c->w;
  int was = c->state;
  c->state = C_OVER;
  c->s = NULL;
  if (was == C_CONNECTING) {
    w->pending--;
    if (w->phase != DONE)
      error_at(w, ERR_CONNECT, "connection %u: %s", c->id,
               iom_strerror(err ? err : -ECONNABORTED));
    connect_more(w);
    return;
  }
  w->open--;
  if (w->phase == DONE || c->failed)
    return;
  if (err)
    error_at(w, ERR_LOST, "connection %u: %s after %llu messages", c->id,
             iom_strerror(err), (unsigned long long)c->recv_seq);
  else
    error_at(w, ERR_LOST, "connection %u: closed by the server after %llu "
             "messages", c->id, (unsigned long long)c->recv_seq);
}

static const iom_stream_cbs load_cbs = {
    .on_connect = on_connect,
    .on_read = on_read,
    .on_close = on_close,
};

/* ---- phases --------------------------------------------------------------- */

static void begin_warmup(worker *w);

static void connect_one(worker *w, conn *c) {
  const load_opts *o = w->o;
  int err = iom_stream_connect_addr(w->loop, (const struct sockaddr *)&o->addr,
                                    o->addrlen, CONNECT_TIMEOUT_MS, &load_cbs,
                                    c, &c->s);
  if (err < 0) {
    c->state = C_OVER;
    error_at(w, ERR_CONNECT, "connection %u: %s", c->id, iom_strerror(err));
    return;
  }
  c->state = C_CONNECTING;
  w->pending++;
}

static void on_go(iom_io *io, unsigned events, void *data) {
  (void)events;
  (void)io;
  worker *w = data;
  iom_io_free(w->go_io);
  w->go_io = NULL;
  begin_warmup(w);
}

/* Every connection has been tried. Alone: go on. One of several: tell the
 * parent, and go on when it closes the go pipe (when all are ready). */
static void all_tried(worker *w) {
  w->phase = READY;
  if (w->ready_fd < 0) {
    begin_warmup(w);
    return;
  }
  w->said_ready = write(w->ready_fd, "R", 1) == 1;
  if (iom_io_new(w->loop, w->go_fd, on_go, w, &w->go_io) < 0 ||
      iom_io_start(w->go_io, IOM_READ) < 0)
    begin_warmup(w); /* cannot wait: start now rather than never */
}

/* Start the next batch once the current one has settled. */
static void connect_more(worker *w) {
  while (w->pending == 0 && w->phase == CONNECTING) {
    if (w->next == w->n) {
      all_tried(w);
      return;
    }
    int end = w->next + CONNECT_BATCH < w->n ? w->next + CONNECT_BATCH : w->n;
    while (w->next < end)
      connect_one(w, &w->conns[w->next++]);
  }
}

/* A connection still waiting for its first echo may be waiting to be
 * accepted (a thread-per-connection server under load accepts slowly):
 * that one is judged at the end of the run (at_end), not by the clock. */
static void check_stalls(worker *w, uint64_t t, int at_end) {
  for (int i = 0; i < w->n; i++) {
    conn *c = &w->conns[i];
    uint64_t last = c->last_ms > w->check_base ? c->last_ms : w->check_base;
    int first = c->recv_seq == 0 && c->recv_off == 0;
    if (c->state != C_OPEN || c->stalled || c->failed ||
        (first ? !at_end : t - last < w->stall_ms))
      continue;
    c->stalled = 1;
    if (first)
      error_at(w, ERR_STALLED, "connection %u: no echo in the whole run",
               c->id);
    else
      error_at(w, ERR_STALLED, "connection %u: nothing back for %llu ms, "
               "after %llu messages", c->id,
               (unsigned long long)(t - c->last_ms),
               (unsigned long long)c->recv_seq);
  }
}

/* A check that runs much later than due means this process was not
 * running (descheduled, stopped): the server is not to blame for that
 * time, so the clock restarts for everyone. */
static void on_check(iom_timer *t, void *data) {
  (void)t;
  worker *w = data;
  uint64_t now = app_now_ms();
  if (now > w->check_due + w->stall_ms / 2)
    w->check_base = now;
  w->check_due = now + w->check_period;
  check_stalls(w, now, 0);
}

static void on_progress(iom_timer *t, void *data) {
  (void)t;
  worker *w = data;
  uint64_t r = w->all_messages - w->last_messages, e = load_error_total(w->res);
  w->last_messages = w->all_messages;
  fprintf(stderr, "\r%6.1f s  %-7s %10llu msg/s  open %d/%d  errors %llu\033[K",
          (double)(app_now_ms() - w->started_ms) / 1000.0,
          w->phase == MEASURE ? "measure" : "warm-up", (unsigned long long)r,
          w->open, w->n, (unsigned long long)e);
}

static void finish(worker *w) {
  check_stalls(w, app_now_ms(), 1);
  w->phase = DONE;
  iom_timer_free(w->check_timer);
  iom_timer_free(w->progress_timer);
  iom_timer_free(w->warm_timer);
  iom_timer_free(w->window_timer);
  w->check_timer = w->progress_timer = NULL;
  w->warm_timer = w->window_timer = NULL;
  if (w->started_ms && isatty(STDERR_FILENO) && w->index == 0)
    fprintf(stderr, "\r\033[K");
  for (int i = 0; i < w->n; i++)
    if (w->conns[i].s)
      iom_stream_abort(w->conns[i].s);
}

static void sample_server(worker *w, server_sample *into) {
  if (w->index == 0 && w->o->server_pid > 0)
    server_sample_read(w->o->server_pid, into);
}

static void on_window_end(iom_timer *t, void *data) {
  (void)t;
  worker *w = data;
  w->res->window_ns = app_now_ns() - w->window_start;
  w->res->load_cpu_s += bench_own_cpu_s();
  sample_server(w, &w->res->srv_end);
  finish(w);
}

static void on_warm(iom_timer *t, void *data) {
  (void)t;
  worker *w = data;
  w->phase = MEASURE;
  sample_server(w, &w->res->srv_start);
  w->res->load_cpu_s = -bench_own_cpu_s();
  w->window_start = app_now_ns();
  iom_timer_start(w->window_timer, ms_of(w->o->duration), 0);
}

static void begin_warmup(worker *w) {
  const load_opts *o = w->o;
  double run = o->warmup + o->duration;
  w->phase = WARMUP;
  w->started_ms = app_now_ms();
  if (w->open == 0) { /* nothing connected: nothing to measure */
    finish(w);
    return;
  }
  w->stall_ms = run * 500.0 < STALL_MS ? (uint64_t)(run * 500.0) : STALL_MS;
  if (w->stall_ms < 200)
    w->stall_ms = 200;
  w->check_period = w->stall_ms / 4;
  w->check_base = w->started_ms;
  w->check_due = w->started_ms + w->check_period;
  if (iom_timer_new(w->loop, on_check, w, &w->check_timer) == 0)
    iom_timer_start(w->check_timer, w->check_period, w->check_period);
  if (w->index == 0 && isatty(STDERR_FILENO) &&
      iom_timer_new(w->loop, on_progress, w, &w->progress_timer) == 0)
    iom_timer_start(w->progress_timer, 1000, 1000);
  if (iom_timer_new(w->loop, on_warm, w, &w->warm_timer) < 0 ||
      iom_timer_new(w->loop, on_window_end, w, &w->window_timer) < 0) {
    finish(w);
    return;
  }
  iom_timer_start(w->warm_timer, ms_of(o->warmup), 0);
}

/* ---- one worker ----------------------------------------------------------- */

static int worker_open(worker *w) {
  const load_opts *o = w->o;
  size_t k = (size_t)o->pipeline, size = (size_t)o->size;
  int err = iom_loop_new(IOM_DEFAULT, &w->loop);
  if (err < 0)
    return err;
  w->conns = calloc((size_t)w->n ? (size_t)w->n : 1, sizeof *w->conns);
  w->slots = calloc((size_t)w->n * k + 1, sizeof *w->slots);
  w->scratch = malloc(size > SCRATCH ? size : SCRATCH);
  if (!w->conns || !w->slots || !w->scratch)
    return -ENOMEM;
  if ((err = payload_init(&w->pay, o->size, o->upper)) < 0)
    return err;
  for (int i = 0; i < w->n; i++)
    w->conns[i] = (conn){.w = w, .id = (uint32_t)(w->first_id + i),
                         .sent_ns = w->slots + (size_t)i * k};
  return 0;
}

static void worker_close(worker *w) {
  if (iom_loop_free(w->loop) == 0) { /* -EBUSY after a loop failure */
    free(w->conns);
    free(w->slots);
  }
  free(w->scratch);
  payload_free(&w->pay);
}

/* Connect, warm up, measure, into w->res. */
static void worker_run(worker *w) {
  int err = worker_open(w);
  if (err == 0) {
    connect_more(w);
    err = iom_loop_run(w->loop, IOM_RUN_DEFAULT);
  }
  if (err < 0)
    w->res->setup_err = err;
  worker_close(w);
}

/* ---- several processes ---------------------------------------------------- */

static int io_full(int fd, void *buf, size_t len, int writing) {
  for (size_t done = 0; done < len;) {
    ssize_t n = writing ? write(fd, (char *)buf + done, len - done)
                        : read(fd, (char *)buf + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    done += (size_t)n;
  }
  return 0;
}

static void merge(load_result *into, const load_result *from) {
  into->messages += from->messages;
  into->bytes += from->bytes;
  into->window_ns += from->window_ns; /* divided by the count at the end */
  into->connected += from->connected;
  into->load_cpu_s += from->load_cpu_s;
  for (int k = 0; k < ERR_KINDS; k++) {
    if (!into->errors[k])
      memcpy(into->detail[k], from->detail[k], sizeof into->detail[k]);
    into->errors[k] += from->errors[k];
  }
  if (from->setup_err < 0)
    into->setup_err = from->setup_err;
  hist_merge(&into->latency, &from->latency);
}

static void worker_init(worker *w, const load_opts *o, load_result *res,
                        int index) {
  int share = o->conns / o->procs, extra = o->conns % o->procs;
  *w = (worker){.o = o, .res = res, .index = index, .ready_fd = -1,
                .go_fd = -1};
  w->n = share + (index < extra);
  w->first_id = index * share + (index < extra ? index : extra);
}

static _Noreturn void child(const load_opts *o, int index, int out, int go) {
  load_result *res = calloc(1, sizeof *res);
  worker w;
  if (!res)
    _exit(1);
  hist_init(&res->latency);
  worker_init(&w, o, res, index);
  w.ready_fd = out;
  w.go_fd = go;
  worker_run(&w);
  if (!w.said_ready && write(out, "R", 1) != 1)
    _exit(1);
  _exit(io_full(out, res, sizeof *res, 1) < 0);
}

/* Fork the workers; all ready -> close the go pipe; collect and merge. */
static int run_procs(const load_opts *o, load_result *total) {
  int go[2], fds[LOAD_MAX_PROCS], got = 0;
  pid_t pids[LOAD_MAX_PROCS];
  if (pipe(go) < 0)
    return -errno;
  fflush(NULL);
  for (int i = 0; i < o->procs; i++) {
    int p[2];
    if (pipe(p) < 0 || (pids[i] = fork()) < 0)
      return -errno; /* children started so far see EOF and end */
    if (pids[i] == 0) {
      close(go[1]);
      close(p[0]);
      for (int j = 0; j < i; j++)
        close(fds[j]);
      child(o, i, p[1], go[0]);
    }
    close(p[1]);
    fds[i] = p[0];
  }
  close(go[0]);
  char byte;
  for (int i = 0; i < o->procs; i++)
    io_full(fds[i], &byte, 1, 0);
  close(go[1]); /* all connected: go */
  load_result *r = malloc(sizeof *r);
  for (int i = 0; r && i < o->procs; i++) {
    if (io_full(fds[i], r, sizeof *r, 0) == 0) {
      if (i == 0) {
        total->srv_start = r->srv_start;
        total->srv_end = r->srv_end;
      }
      merge(total, r);
      got++;
    }
    close(fds[i]);
    waitpid(pids[i], NULL, 0);
  }
  free(r);
  if (got)
    total->window_ns /= (uint64_t)got;
  return got == o->procs ? 0 : -ECHILD;
}

/* ---- the mode ------------------------------------------------------------- */

static void raise_fd_limit(const load_opts *o) {
  long need = (o->conns + o->procs - 1) / o->procs + 64, was, now;
  int raised = app_raise_fd_limit(need, &was, &now);
  if (raised < 0 || was >= need)
    return;
  if (raised && now != was)
    fprintf(stderr, "iomux-bench load: raised the open-file limit from %ld "
            "to the hard limit, %ld\n", was, now);
  if (now < need)
    fprintf(stderr, "iomux-bench load: warning: %ld fds per process are "
            "allowed and %ld are needed; connections past that will fail "
            "(raise the hard limit, or use --procs)\n",
            now, need);
}

int bench_load(int argc, char **argv) {
  load_opts o;
  int rc = load_parse(argc, argv, &o);
  if (rc >= 0)
    return rc;
  server_sample base = {0};
  int err = o.server_pid ? server_sample_read(o.server_pid, &base) : 0;
  if (err < 0) {
    fprintf(stderr, "iomux-bench load: --server-pid %d: %s\n", o.server_pid,
            server_sample_strerror(err));
    return 2;
  }
  raise_fd_limit(&o);
  load_result *r = calloc(1, sizeof *r);
  if (!r)
    return 1;
  hist_init(&r->latency);
  if (o.procs > 1) {
    err = run_procs(&o, r);
  } else {
    worker w;
    worker_init(&w, &o, r, 0);
    worker_run(&w);
  }
  r->srv_base = base;
  if (err < 0 || r->setup_err < 0)
    fprintf(stderr, "iomux-bench load: %s\n",
            err < 0 ? "a worker process failed" : iom_strerror(r->setup_err));
  load_report(&o, r, stdout);
  rc = load_error_total(r) || err < 0 || r->setup_err < 0 ? 1 : 0;
  free(r);
  return rc;
}
