/* The proactor, over real loopback sockets and a real child process. Run
 * once per proactor backend: argv[1] is "uring" or "emulated" (exit 77 when
 * io_uring cannot be set up here). */
#define _GNU_SOURCE
#include "iomux/error.h"
#include "iomux/loop.h"
#include "iomux/pool.h"
#include "iomux/proactor.h"
#include "suite.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static iom_proactor_kind kind;
static const char *kind_name;

typedef struct env {
  iom_loop *loop;
  iom_proactor *p;
} env;

static void env_open(env *e) {
  assert_int_equal(iom_loop_new(IOM_DEFAULT, &e->loop), 0);
  assert_int_equal(iom_proactor_new(e->loop, kind, &e->p), 0);
  assert_string_equal(iom_proactor_backend(e->p), kind_name);
}

/* Everything must be over: no op in flight, the loop has nothing alive. */
static void env_close(env *e) {
  assert_int_equal(iom_loop_run(e->loop, IOM_RUN_DEFAULT), 0);
  assert_int_equal(iom_proactor_inflight(e->p), 0);
  assert_int_equal(iom_proactor_free(e->p), 0);
  assert_int_equal(iom_loop_free(e->loop), 0);
}

/* Run until cond(arg) or ~10 s. */
static void run_until(env *e, int (*cond)(void *), void *arg) {
  uint64_t start = tu_now_ms();
  while (!cond(arg) && tu_now_ms() - start < 10000)
    assert_true(iom_loop_run(e->loop, IOM_RUN_ONCE) >= 0);
  assert_true(cond(arg));
}

static unsigned char pattern(size_t i) {
  return (unsigned char)(i * 131 + (i >> 13));
}

static int listen_any(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(fd, 1024), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

static void small_sndbuf(int fd) {
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
}

/* ---- an echo server on the proactor (the uring model's shape) ------------- */

#define NBUF 64
#define BUFSZ 16384
#define HOLD_MAX (128 * 1024)

typedef struct esrv {
  env *e;
  iom_bufgroup *g;
  int lfd, port;
  iom_op accept;
  int accepting, accepted, closed, errors, small_buffers, recv_pauses;
  size_t max_held;
} esrv;

typedef struct sconn {
  esrv *s;
  int fd;
  iom_op recv, send, close;
  uint16_t q[NBUF]; /* buffer ids to echo, in order */
  uint32_t qlen[NBUF];
  unsigned qhead, qn;
  size_t held;
  int recv_on, sending, eof, closing, close_done;
} sconn;

static int on_srecv(iom_op *op, int res);
static int on_ssend(iom_op *op, int res);
static int on_sclose(iom_op *op, int res);

static void srecv_start(sconn *c) {
  iom_prep_recv_group(&c->recv, c->fd, c->s->g, IOM_MULTISHOT, on_srecv, c);
  assert_int_equal(iom_proactor_submit(c->s->e->p, &c->recv), 0);
  c->recv_on = 1;
}

static void sconn_close(sconn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  iom_prep_close(&c->close, c->fd, on_sclose, c);
  assert_int_equal(iom_proactor_submit(c->s->e->p, &c->close), 0);
}

/* Free once every op of the connection had its final callback. */
static void sconn_maybe_free(sconn *c) {
  if (!c->close_done || c->recv_on || c->sending)
    return;
  for (; c->qn > 0; c->qn--, c->qhead = (c->qhead + 1) % NBUF)
    iom_bufgroup_put(c->s->g, c->q[c->qhead]);
  c->s->closed++;
  free(c);
}

static void ssend_next(sconn *c) {
  if (c->sending || c->qn == 0 || c->closing)
    return;
  unsigned id = c->q[c->qhead];
  iom_prep_send(&c->send, c->fd, iom_bufgroup_buf(c->s->g, id),
                c->qlen[c->qhead], on_ssend, c);
  assert_int_equal(iom_proactor_submit(c->s->e->p, &c->send), 0);
  c->sending = 1;
}

static int on_srecv(iom_op *op, int res) {
  sconn *c = op->data;
  int stop = 0;
  if (res > 0) {
    assert_non_null(op->rbuf);
    assert_true(c->qn < NBUF);
    unsigned tail = (c->qhead + c->qn++) % NBUF;
    c->q[tail] = (uint16_t)op->buf_id;
    c->qlen[tail] = (uint32_t)res;
    c->held += (size_t)res;
    if (c->held > c->s->max_held)
      c->s->max_held = c->held;
    ssend_next(c);
    stop = c->held > HOLD_MAX; /* a slow reader: stop taking its data */
    c->s->recv_pauses += stop && op->more;
  }
  assert_int_not_equal(res, -ENOBUFS); /* an empty group pauses, silently */
  if (op->more)
    return stop ? IOM_DONE : IOM_REARM;
  c->recv_on = 0;
  if (res == 0)
    c->eof = 1;
  if ((res < 0 && res != -ECANCELED) || (c->eof && c->qn == 0))
    sconn_close(c);
  sconn_maybe_free(c);
  return IOM_DONE;
}

static int on_ssend(iom_op *op, int res) {
  sconn *c = op->data;
  c->sending = 0;
  unsigned id = c->q[c->qhead];
  size_t len = c->qlen[c->qhead];
  c->qhead = (c->qhead + 1) % NBUF;
  c->qn--;
  c->held -= len;
  iom_bufgroup_put(c->s->g, id);
  if (res < 0) {
    if (res != -ECANCELED)
      sconn_close(c);
    sconn_maybe_free(c);
    return IOM_DONE;
  }
  assert_int_equal(res, (int)len); /* partial sends are finished for us */
  ssend_next(c);
  if (!c->recv_on && !c->eof && !c->closing && c->held <= HOLD_MAX / 2)
    srecv_start(c);
  if (c->eof && c->qn == 0 && !c->sending)
    sconn_close(c);
  return IOM_DONE;
}

static int on_sclose(iom_op *op, int res) {
  sconn *c = op->data;
  assert_int_equal(res, 0);
  c->close_done = 1;
  sconn_maybe_free(c);
  return IOM_DONE;
}

static int on_saccept(iom_op *op, int res) {
  esrv *s = op->data;
  if (res >= 0) {
    sconn *c = calloc(1, sizeof *c);
    c->s = s;
    c->fd = res;
    if (s->small_buffers)
      small_sndbuf(res);
    srecv_start(c);
    s->accepted++;
  } else if (res != -ECANCELED) {
    s->errors++;
  }
  if (op->more)
    return IOM_REARM;
  s->accepting = 0; /* IOM_REARM here would accept again */
  return IOM_DONE;
}

static void esrv_start(esrv *s, env *e) {
  memset(s, 0, sizeof *s);
  s->e = e;
  assert_int_equal(iom_bufgroup_new(e->p, NBUF, BUFSZ, &s->g), 0);
  s->lfd = listen_any(&s->port);
  iom_prep_accept(&s->accept, s->lfd, IOM_MULTISHOT, on_saccept, s);
  assert_int_equal(iom_proactor_submit(e->p, &s->accept), 0);
  s->accepting = 1;
}

static int on_ignore(iom_op *op, int res) {
  (void)res;
  free(op);
  return IOM_DONE;
}

static int not_accepting(void *arg) { return !((esrv *)arg)->accepting; }

/* Cancel the accept, wait for its end, free the group. */
static void esrv_stop(esrv *s) {
  iom_op *cancel = malloc(sizeof *cancel);
  iom_prep_cancel(cancel, &s->accept, on_ignore, NULL);
  assert_int_equal(iom_proactor_submit(s->e->p, cancel), 0);
  run_until(s->e, not_accepting, s);
  close(s->lfd);
  assert_int_equal(s->accepted, s->closed);
  assert_int_equal(iom_bufgroup_available(s->g), NBUF);
  assert_int_equal(iom_bufgroup_free(s->g), 0);
}

/* ---- a client on the proactor: one send of everything, recvs that check --- */

typedef struct eclient {
  env *e;
  int fd;
  iom_op conn, send, recv, close;
  struct sockaddr_in sa;
  unsigned char *out, in[65536];
  size_t total, received, mismatches;
  int send_res, connected, eof, closed, recv_err;
} eclient;

static int on_crecv(iom_op *op, int res) {
  eclient *c = op->data;
  if (res <= 0) {
    c->eof = res == 0;
    c->recv_err = res;
    return IOM_DONE;
  }
  for (int i = 0; i < res; i++)
    c->mismatches += c->in[i] != pattern(c->received + (size_t)i);
  c->received += (size_t)res;
  return IOM_REARM; /* the same op, the same buffer, again */
}

static int on_csend(iom_op *op, int res) {
  eclient *c = op->data;
  c->send_res = res;
  if (res == (int)c->total)
    shutdown(c->fd, SHUT_WR); /* the server closes after echoing it all */
  return IOM_DONE;
}

static int on_cconnect(iom_op *op, int res) {
  eclient *c = op->data;
  assert_int_equal(res, 0);
  c->connected = 1;
  iom_prep_send(&c->send, c->fd, c->out, c->total, on_csend, c);
  iom_prep_recv(&c->recv, c->fd, c->in, sizeof c->in, on_crecv, c);
  assert_int_equal(iom_proactor_submit(c->e->p, &c->send), 0);
  assert_int_equal(iom_proactor_submit(c->e->p, &c->recv), 0);
  return IOM_DONE;
}

static void eclient_start(eclient *c, env *e, int port, size_t total) {
  memset(c, 0, sizeof *c);
  c->e = e;
  c->total = total;
  c->out = malloc(total);
  for (size_t i = 0; i < total; i++)
    c->out[i] = pattern(i);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  small_sndbuf(c->fd);
  c->sa = (struct sockaddr_in){.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  iom_prep_connect(&c->conn, c->fd, (struct sockaddr *)&c->sa, sizeof c->sa,
                   on_cconnect, c);
  assert_int_equal(iom_proactor_submit(e->p, &c->conn), 0);
}

static int client_over(void *arg) {
  eclient *c = arg;
  return c->eof || c->recv_err < 0;
}

static int srv_all_closed(void *arg) {
  esrv *s = arg;
  return s->accepted > 0 && s->closed == s->accepted;
}

/* `total` bytes in ONE send through 4 KiB send buffers on both sides: the
 * kernel takes it in pieces and the library resubmits the rest; the server
 * echoes from the buffers the kernel picked. Every byte comes back. */
static void echo_through(size_t total) {
  env e;
  esrv s;
  eclient c;
  env_open(&e);
  esrv_start(&s, &e);
  s.small_buffers = 1;
  eclient_start(&c, &e, s.port, total);
  run_until(&e, client_over, &c);
  assert_int_equal(c.send_res, (int)total);
  assert_int_equal(c.received, total);
  assert_int_equal(c.mismatches, 0);
  assert_int_equal(c.recv_err, 0);
  close(c.fd);
  run_until(&e, srv_all_closed, &s);
  assert_int_equal(s.errors, 0);
  assert_true(s.max_held > 0);
  esrv_stop(&s);
  free(c.out);
  env_close(&e);
}

static void test_echo_10mb_partial_sends(void **state) {
  (void)state;
  echo_through(10u << 20);
}

/* ---- 1,000 connections from a child process ------------------------------- */

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    _exit(2);
  return fd;
}

/* Connect n clients, send a different 32-byte message on each, check each
 * echo, close them all. The exit status says how it went. */
static void many_clients(int port, int n) {
  int *fds = malloc(sizeof(int) * (size_t)n);
  char msg[64], got[32];
  for (int i = 0; i < n; i++)
    fds[i] = dial(port);
  for (int i = 0; i < n; i++) {
    snprintf(msg, sizeof msg, "c%08d says hello world!!!!!!", i);
    if (write(fds[i], msg, 32) != 32)
      _exit(3);
  }
  for (int i = 0; i < n; i++) {
    snprintf(msg, sizeof msg, "c%08d says hello world!!!!!!", i);
    if (recv(fds[i], got, 32, MSG_WAITALL) != 32 || memcmp(got, msg, 32))
      _exit(4);
  }
  for (int i = 0; i < n; i++)
    close(fds[i]);
  _exit(0);
}

static int srv_closed_1000(void *arg) { return ((esrv *)arg)->closed == 1000; }

static void test_1000_connections(void **state) {
  (void)state;
  if (tu_raise_nofile(2300) < 2300)
    skip();
  env e;
  esrv s;
  env_open(&e);
  esrv_start(&s, &e);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    many_clients(s.port, 1000);
  run_until(&e, srv_closed_1000, &s);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(s.accepted, 1000);
  assert_int_equal(s.errors, 0);
  esrv_stop(&s);
  env_close(&e);
}

/* ---- cancel ------------------------------------------------------------------ */

typedef struct rec {
  int calls, res, more, finals;
  size_t bytes;
} rec;

static int on_rec(iom_op *op, int res) {
  rec *r = op->data;
  r->calls++;
  r->res = res;
  r->more = op->more;
  r->finals += !op->more;
  if (res > 0 && op->rbuf) {
    r->bytes += (size_t)res;
    iom_bufgroup_put(op->group, op->buf_id);
  }
  return op->more ? IOM_REARM : IOM_DONE;
}

static int has_final(void *arg) { return ((rec *)arg)->finals > 0; }

/* Submit `target`, let it reach the kernel, cancel it: the target ends
 * with -ECANCELED, the cancel with 0. */
static void cancel_pending(env *e, iom_op *target, rec *tr) {
  rec cr = {0};
  iom_op cancel;
  assert_int_equal(iom_proactor_submit(e->p, target), 0);
  iom_loop_run(e->loop, IOM_RUN_NOWAIT);
  assert_int_equal(tr->calls, 0);
  iom_prep_cancel(&cancel, target, on_rec, &cr);
  assert_int_equal(iom_proactor_submit(e->p, &cancel), 0);
  assert_int_equal(cr.calls, 0); /* never from inside the submit */
  run_until(e, has_final, tr);
  run_until(e, has_final, &cr);
  assert_int_equal(tr->res, -ECANCELED);
  assert_int_equal(tr->more, 0);
  assert_int_equal(cr.res, 0);
  /* Over: cancelling it again finds nothing. */
  cr = (rec){0};
  iom_prep_cancel(&cancel, target, on_rec, &cr);
  assert_int_equal(iom_proactor_submit(e->p, &cancel), 0);
  run_until(e, has_final, &cr);
  assert_int_equal(cr.res, -ENOENT);
}

static void test_cancel_accept_and_recv(void **state) {
  (void)state;
  env e;
  env_open(&e);
  int port, lfd = listen_any(&port), sv[2];
  tu_tcp_pair(sv);
  iom_bufgroup *g;
  assert_int_equal(iom_bufgroup_new(e.p, 8, 4096, &g), 0);
  iom_op op;
  rec r = {0};
  iom_prep_accept(&op, lfd, IOM_MULTISHOT, on_rec, &r);
  cancel_pending(&e, &op, &r);
  r = (rec){0};
  iom_prep_accept(&op, lfd, 0, on_rec, &r);
  cancel_pending(&e, &op, &r);
  char buf[64];
  r = (rec){0};
  iom_prep_recv(&op, sv[1], buf, sizeof buf, on_rec, &r);
  cancel_pending(&e, &op, &r);
  r = (rec){0};
  iom_prep_recv_group(&op, sv[1], g, IOM_MULTISHOT, on_rec, &r);
  cancel_pending(&e, &op, &r);
  assert_int_equal(iom_bufgroup_free(g), 0);
  close(lfd);
  close(sv[0]);
  close(sv[1]);
  env_close(&e);
}

/* A multishot recv whose callback returns IOM_DONE stops: data already on
 * its way is still delivered, then one final -ECANCELED (or end). */
static int on_recv_once(iom_op *op, int res) {
  rec *r = op->data;
  r->calls++;
  r->finals += !op->more;
  r->res = res;
  if (res > 0) {
    r->bytes += (size_t)res;
    iom_bufgroup_put(op->group, op->buf_id);
  }
  return IOM_DONE;
}

static void test_multishot_done_stops(void **state) {
  (void)state;
  env e;
  env_open(&e);
  int sv[2];
  tu_tcp_pair(sv);
  iom_bufgroup *g;
  assert_int_equal(iom_bufgroup_new(e.p, 8, 4096, &g), 0);
  iom_op op;
  rec r = {0};
  iom_prep_recv_group(&op, sv[1], g, IOM_MULTISHOT, on_recv_once, &r);
  assert_int_equal(iom_proactor_submit(e.p, &op), 0);
  assert_int_equal(write(sv[0], "hello", 5), 5);
  run_until(&e, has_final, &r);
  assert_int_equal(r.bytes, 5);
  assert_int_equal(r.finals, 1);
  assert_true(r.res == -ECANCELED || r.res == 5);
  assert_int_equal(iom_proactor_inflight(e.p), 0);
  assert_int_equal(write(sv[0], "more", 4), 4); /* nobody reads it now */
  iom_loop_run(e.loop, IOM_RUN_NOWAIT);
  assert_int_equal(r.finals, 1);
  assert_int_equal(iom_bufgroup_free(g), 0);
  close(sv[0]);
  close(sv[1]);
  env_close(&e);
}

/* ---- timeouts, and the loop's own handles while the ring waits ------------ */

static void test_timeouts(void **state) {
  (void)state;
  env e;
  env_open(&e);
  iom_op t1, t2, cancel;
  rec r1 = {0}, r2 = {0}, rc = {0};
  uint64_t t0 = tu_now_ms();
  iom_prep_timeout(&t1, 50, on_rec, &r1);
  iom_prep_timeout(&t2, 10000, on_rec, &r2);
  assert_int_equal(iom_proactor_submit(e.p, &t1), 0);
  assert_int_equal(iom_proactor_submit(e.p, &t2), 0);
  assert_int_equal(iom_proactor_submit(e.p, &t1), -EBUSY);
  run_until(&e, has_final, &r1);
  assert_int_equal(r1.res, 0);
  assert_true(tu_now_ms() - t0 >= 50);
  assert_int_equal(r2.calls, 0);
  iom_prep_cancel(&cancel, &t2, on_rec, &rc);
  assert_int_equal(iom_proactor_submit(e.p, &cancel), 0);
  run_until(&e, has_final, &r2);
  assert_int_equal(r2.res, -ECANCELED);
  assert_true(tu_now_ms() - t0 < 5000);
  run_until(&e, has_final, &rc);
  assert_int_equal(rc.res, 0);
  env_close(&e);
}

typedef struct others {
  env *e;
  iom_timer *timer;
  iom_async *async;
  iom_signal *sig;
  int timer_ran, async_ran, signal_ran, work_done;
} others;

static void on_timer(iom_timer *t, void *d) {
  (void)t;
  ((others *)d)->timer_ran++;
}
static void on_async(iom_async *a, void *d) {
  (void)a;
  ((others *)d)->async_ran++;
}
static void on_signal(iom_signal *s, int signo, void *d) {
  (void)s;
  assert_int_equal(signo, SIGUSR1);
  ((others *)d)->signal_ran++;
}
static void work(void *d) { (void)d; usleep(20000); }
static void work_done(int status, void *d) {
  assert_int_equal(status, 0);
  ((others *)d)->work_done++;
}

static void *poke(void *arg) {
  others *o = arg;
  usleep(30000);
  iom_async_send(o->async);
  usleep(30000);
  kill(getpid(), SIGUSR1);
  return NULL;
}

static int all_others(void *arg) {
  others *o = arg;
  return o->timer_ran && o->async_ran && o->signal_ran && o->work_done;
}

/* With a recv pending in the proactor (the uring loop waits in the ring), a
 * timer, an async send from a thread, a signal and pool work all arrive. */
static void test_loop_handles_keep_working(void **state) {
  (void)state;
  env e;
  env_open(&e);
  others o = {.e = &e};
  int sv[2];
  tu_tcp_pair(sv);
  char buf[16];
  iom_op recv;
  rec r = {0};
  iom_prep_recv(&recv, sv[1], buf, sizeof buf, on_rec, &r);
  assert_int_equal(iom_proactor_submit(e.p, &recv), 0);
  assert_int_equal(iom_timer_new(e.loop, on_timer, &o, &o.timer), 0);
  assert_int_equal(iom_async_new(e.loop, on_async, &o, &o.async), 0);
  assert_int_equal(iom_signal_new(e.loop, on_signal, &o, &o.sig), 0);
  assert_int_equal(iom_signal_start(o.sig, SIGUSR1), 0);
  iom_timer_start(o.timer, 20, 0);
  assert_int_equal(iom_pool_submit(e.loop, work, work_done, &o, NULL), 0);
  pthread_t th;
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1); /* the signal lands on this thread */
  pthread_sigmask(SIG_BLOCK, &set, &old);
  pthread_create(&th, NULL, poke, &o);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  run_until(&e, all_others, &o);
  pthread_join(th, NULL);
  assert_int_equal(r.calls, 0);
  assert_int_equal(write(sv[0], "x", 1), 1);
  run_until(&e, has_final, &r);
  assert_int_equal(r.res, 1);
  iom_timer_free(o.timer);
  iom_async_free(o.async);
  iom_signal_free(o.sig);
  close(sv[0]);
  close(sv[1]);
  env_close(&e);
}

/* With many ops in flight the uring ring waits for a batch of completions
 * (IOM_PF_MIN_WAIT). It must still return for a single completion, for a
 * loop timer and for an async wake-up when nothing else comes. */
enum { IDLE_OPS = 256 }; /* enough for the largest batch */

static int got_bytes(void *arg) { return ((rec *)arg)->bytes > 0; }
static int is_set(void *arg) { return *(int *)arg; }

static void test_busy_ring_keeps_time(void **state) {
  (void)state;
  env e;
  env_open(&e);
  iom_op *idle = calloc(IDLE_OPS, sizeof *idle);
  rec ir = {0};
  for (int i = 0; i < IDLE_OPS; i++) {
    iom_prep_timeout(&idle[i], 60000, on_rec, &ir);
    assert_int_equal(iom_proactor_submit(e.p, &idle[i]), 0);
  }
  others o = {.e = &e};
  assert_int_equal(iom_timer_new(e.loop, on_timer, &o, &o.timer), 0);
  assert_int_equal(iom_async_new(e.loop, on_async, &o, &o.async), 0);
  uint64_t t0 = tu_now_ms();
  iom_timer_start(o.timer, 20, 0);
  run_until(&e, is_set, &o.timer_ran);
  assert_true(tu_now_ms() - t0 < 2000);
  iom_async_send(o.async);
  run_until(&e, is_set, &o.async_ran);

  int sv[2];
  tu_tcp_pair(sv);
  iom_bufgroup *g;
  assert_int_equal(iom_bufgroup_new(e.p, 8, 4096, &g), 0);
  iom_op recv;
  rec r = {0};
  iom_prep_recv_group(&recv, sv[1], g, IOM_MULTISHOT, on_rec, &r);
  assert_int_equal(iom_proactor_submit(e.p, &recv), 0);
  iom_loop_run(e.loop, IOM_RUN_NOWAIT);
  assert_int_equal(write(sv[0], "one", 3), 3);
  run_until(&e, got_bytes, &r); /* one completion is a batch too */
  assert_int_equal(r.bytes, 3);
  assert_int_equal(ir.calls, 0);

  iom_op close_op, cancel;
  rec cr = {0}, xr = {0};
  iom_prep_close(&close_op, sv[1], on_rec, &cr);
  assert_int_equal(iom_proactor_submit(e.p, &close_op), 0);
  for (int i = 0; i < IDLE_OPS; i++) {
    iom_prep_cancel(&cancel, &idle[i], on_rec, &xr);
    assert_int_equal(iom_proactor_submit(e.p, &cancel), 0);
    run_until(&e, has_final, &xr);
    xr = (rec){0};
  }
  run_until(&e, has_final, &cr);
  run_until(&e, has_final, &r);
  assert_int_equal(ir.finals, IDLE_OPS);
  assert_int_equal(iom_bufgroup_free(g), 0);
  iom_timer_free(o.timer);
  iom_async_free(o.async);
  close(sv[0]);
  free(idle);
  env_close(&e);
}

/* ---- endings: reset, close with ops in flight ----------------------------- */

typedef struct victim {
  iom_bufgroup *g;
  iom_op recv, send, close;
  char *big;
  int refs, recv_res, send_res, close_res, freed_by_callback;
  int *freed;
} victim;

static void victim_unref(victim *v) {
  if (--v->refs > 0)
    return;
  *v->freed = 1;
  free(v->big);
  free(v);
}

static int on_vrecv(iom_op *op, int res) {
  victim *v = op->data;
  if (res > 0) {
    iom_bufgroup_put(op->group, op->buf_id);
    return IOM_REARM;
  }
  if (op->more)
    return IOM_REARM;
  v->recv_res = res;
  victim_unref(v);
  return IOM_DONE;
}

static int on_vsend(iom_op *op, int res) {
  victim *v = op->data;
  v->send_res = res;
  victim_unref(v);
  return IOM_DONE;
}

static int on_vclose(iom_op *op, int res) {
  victim *v = op->data;
  v->close_res = res;
  victim_unref(v);
  return IOM_DONE;
}

/* A connection with a multishot recv and an 8 MB send in flight (its peer
 * does not read), on malloc'd memory. */
static victim *victim_new(env *e, iom_bufgroup *g, int fd, int *freed) {
  victim *v = calloc(1, sizeof *v);
  v->g = g;
  v->freed = freed;
  v->big = calloc(1, 8u << 20);
  iom_prep_recv_group(&v->recv, fd, g, IOM_MULTISHOT, on_vrecv, v);
  iom_prep_send(&v->send, fd, v->big, 8u << 20, on_vsend, v);
  assert_int_equal(iom_proactor_submit(e->p, &v->recv), 0);
  assert_int_equal(iom_proactor_submit(e->p, &v->send), 0);
  v->refs = 2;
  for (int i = 0; i < 5; i++) /* let both reach the kernel and block */
    iom_loop_run(e->loop, IOM_RUN_NOWAIT);
  assert_int_equal(v->refs, 2);
  return v;
}

/* Closing a connection with a recv and a send in flight: each gets its
 * final callback, the close too; the memory goes in the last one (ASan
 * watches), and the fd is closed. */
static void test_close_with_ops_in_flight(void **state) {
  (void)state;
  env e;
  env_open(&e);
  iom_bufgroup *g;
  assert_int_equal(iom_bufgroup_new(e.p, 8, 4096, &g), 0);
  int sv[2], freed = 0;
  tu_tcp_pair(sv);
  victim *v = victim_new(&e, g, sv[1], &freed);
  iom_prep_close(&v->close, sv[1], on_vclose, v);
  v->refs++;
  assert_int_equal(iom_proactor_submit(e.p, &v->close), 0);
  run_until(&e, is_set, &freed);
  assert_int_equal(fcntl(sv[1], F_GETFD), -1); /* closed */
  assert_int_equal(iom_proactor_inflight(e.p), 0);
  assert_int_equal(iom_bufgroup_available(g), 8);
  assert_int_equal(iom_bufgroup_free(g), 0);
  close(sv[0]);
  env_close(&e);
}

/* The peer resets with a recv and a send in flight: both end with the
 * error (a reset, a broken pipe, or end of stream for the recv). */
static void test_peer_reset_in_flight(void **state) {
  (void)state;
  env e;
  env_open(&e);
  iom_bufgroup *g;
  assert_int_equal(iom_bufgroup_new(e.p, 8, 4096, &g), 0);
  int sv[2], freed = 0;
  tu_tcp_pair(sv);
  victim *v = victim_new(&e, g, sv[1], &freed);
  v->refs++; /* hold it until the results are read */
  tu_close_with_reset(sv[0]);
  uint64_t t0 = tu_now_ms();
  while (v->refs > 1 && tu_now_ms() - t0 < 10000)
    assert_true(iom_loop_run(e.loop, IOM_RUN_ONCE) >= 0);
  int rres = v->recv_res, sres = v->send_res;
  victim_unref(v);
  assert_int_equal(freed, 1);
  assert_true(rres == -ECONNRESET || rres == 0);
  assert_true(sres == -ECONNRESET || sres == -EPIPE);
  close(sv[1]);
  assert_int_equal(iom_bufgroup_free(g), 0);
  env_close(&e);
}

/* ---- an empty buffer group pauses, it does not fail ----------------------- */

typedef struct hoarder {
  iom_bufgroup *g;
  unsigned char got[65536];
  unsigned held[4];
  int nheld, calls, errors, finals, give_back;
  size_t received;
} hoarder;

static int on_hoard(iom_op *op, int res) {
  hoarder *h = op->data;
  h->calls++;
  h->finals += !op->more;
  if (res < 0) {
    h->errors += res != -ECANCELED;
    return IOM_DONE;
  }
  assert_true(h->received + (size_t)res <= sizeof h->got);
  memcpy(h->got + h->received, op->rbuf, (size_t)res);
  h->received += (size_t)res;
  if (h->give_back)
    iom_bufgroup_put(h->g, op->buf_id);
  else
    h->held[h->nheld++] = op->buf_id; /* keep it: the group runs dry */
  return IOM_REARM;
}

static int on_tick(iom_op *op, int res) {
  (void)res;
  *(int *)op->data = 1;
  return IOM_DONE;
}

static int got_all(void *arg) {
  return ((hoarder *)arg)->received == sizeof ((hoarder *)arg)->got;
}

/* Four 1 KiB buffers, 64 KiB waiting: four recvs, then silence (no -ENOBUFS
 * reaches the caller), and once the buffers come back, the rest in order. */
static void pause_on_empty_group(void) {
  env e;
  env_open(&e);
  hoarder *h = calloc(1, sizeof *h);
  assert_int_equal(iom_bufgroup_new(e.p, 4, 1024, &h->g), 0);
  int sv[2];
  tu_tcp_pair(sv);
  unsigned char out[65536];
  for (size_t i = 0; i < sizeof out; i++)
    out[i] = pattern(i);
  assert_int_equal(write(sv[0], out, sizeof out), (ssize_t)sizeof out);
  iom_op recv, tick;
  iom_prep_recv_group(&recv, sv[1], h->g, IOM_MULTISHOT, on_hoard, h);
  assert_int_equal(iom_proactor_submit(e.p, &recv), 0);
  int ticked = 0;
  iom_prep_timeout(&tick, 100, on_tick, &ticked);
  assert_int_equal(iom_proactor_submit(e.p, &tick), 0);
  run_until(&e, is_set, &ticked);
  assert_int_equal(h->nheld, 4);
  assert_int_equal(h->received, 4096);
  assert_int_equal(h->errors, 0);
  assert_int_equal(h->finals, 0);
  assert_int_equal(iom_bufgroup_available(h->g), 0);
  assert_int_equal(iom_proactor_inflight(e.p), 1); /* paused, still armed */
  h->give_back = 1;
  for (int i = 0; i < 4; i++)
    iom_bufgroup_put(h->g, h->held[i]);
  run_until(&e, got_all, h);
  assert_memory_equal(h->got, out, sizeof out);
  assert_int_equal(h->errors, 0);
  iom_op close_op;
  rec r = {0};
  iom_prep_close(&close_op, sv[1], on_rec, &r);
  assert_int_equal(iom_proactor_submit(e.p, &close_op), 0);
  run_until(&e, has_final, &r);
  assert_int_equal(r.res, 0);
  iom_loop_run(e.loop, IOM_RUN_DEFAULT);
  assert_int_equal(h->finals, 1);
  assert_int_equal(iom_bufgroup_free(h->g), 0);
  close(sv[0]);
  free(h);
  env_close(&e);
}

static void test_empty_group_pauses(void **state) {
  (void)state;
  pause_on_empty_group();
}

/* ---- connect, errors, backend choice --------------------------------------- */

static void test_connect(void **state) {
  (void)state;
  env e;
  env_open(&e);
  int port, lfd = listen_any(&port);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  iom_op op;
  rec r = {0};
  iom_prep_connect(&op, fd, (struct sockaddr *)&sa, sizeof sa, on_rec, &r);
  assert_int_equal(iom_proactor_submit(e.p, &op), 0);
  run_until(&e, has_final, &r);
  assert_int_equal(r.res, 0);
  close(fd);
  close(lfd); /* nobody listens there now */
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  r = (rec){0};
  iom_prep_connect(&op, fd, (struct sockaddr *)&sa, sizeof sa, on_rec, &r);
  assert_int_equal(iom_proactor_submit(e.p, &op), 0);
  run_until(&e, has_final, &r);
  assert_int_equal(r.res, -ECONNREFUSED);
  close(fd);
  env_close(&e);
}

static void test_submit_errors(void **state) {
  (void)state;
  env e;
  env_open(&e);
  iom_bufgroup *g;
  assert_int_equal(iom_bufgroup_new(e.p, 3, 4096, &g), -EINVAL);
  assert_int_equal(iom_bufgroup_new(e.p, 0, 4096, &g), -EINVAL);
  assert_int_equal(iom_bufgroup_new(e.p, 4, 0, &g), -EINVAL);
  assert_int_equal(iom_bufgroup_new(e.p, 4, 4096, &g), 0);
  int sv[2];
  tu_tcp_pair(sv);
  char buf[8];
  iom_op op;
  rec r = {0};
  iom_prep_recv(&op, -1, buf, sizeof buf, on_rec, &r);
  assert_int_equal(iom_proactor_submit(e.p, &op), -EBADF);
  iom_prep_recv(&op, sv[1], buf, sizeof buf, on_rec, &r);
  op.flags = IOM_MULTISHOT; /* multishot needs a buffer group */
  assert_int_equal(iom_proactor_submit(e.p, &op), -EINVAL);
  iom_prep_send(&op, sv[1], NULL, 5, on_rec, &r);
  assert_int_equal(iom_proactor_submit(e.p, &op), -EINVAL);
  iom_prep_cancel(&op, NULL, on_rec, &r);
  assert_int_equal(iom_proactor_submit(e.p, &op), -EINVAL);
  iom_prep_timeout(&op, 10, NULL, &r);
  assert_int_equal(iom_proactor_submit(e.p, &op), -EINVAL);
  assert_int_equal(r.calls, 0);
  /* Busy: an op in flight, a group in use, a proactor with both. */
  iom_prep_recv_group(&op, sv[1], g, IOM_MULTISHOT, on_rec, &r);
  assert_int_equal(iom_proactor_submit(e.p, &op), 0);
  assert_int_equal(iom_proactor_submit(e.p, &op), -EBUSY);
  assert_int_equal(iom_bufgroup_free(g), -EBUSY);
  assert_int_equal(iom_proactor_free(e.p), -EBUSY);
  assert_int_equal(iom_loop_free(e.loop), -EBUSY);
  iom_op close_op;
  rec rc = {0};
  iom_prep_close(&close_op, sv[1], on_rec, &rc);
  assert_int_equal(iom_proactor_submit(e.p, &close_op), 0);
  run_until(&e, has_final, &r);
  assert_int_equal(r.res, -ECANCELED);
  run_until(&e, has_final, &rc);
  assert_int_equal(iom_bufgroup_free(g), 0);
  close(sv[0]);
  env_close(&e);
}

/* DEFAULT takes io_uring when it can be set up, and the emulation when it
 * cannot: IOM_URING_OFF=ring makes the setup fail as under seccomp or
 * kernel.io_uring_disabled; a loop on poll has no fd for the ring to watch. */
static void test_backend_choice(void **state) {
  (void)state;
  iom_loop *loop;
  iom_proactor *p;
  assert_int_equal(iom_loop_new(IOM_DEFAULT, &loop), 0);
  setenv("IOM_URING_OFF", "ring", 1);
  assert_int_equal(iom_proactor_new(loop, IOM_PROACTOR_DEFAULT, &p), 0);
  assert_string_equal(iom_proactor_backend(p), "emulated");
  assert_int_equal(iom_proactor_free(p), 0);
  int err = iom_proactor_new(loop, IOM_PROACTOR_URING, &p);
  assert_true(err == -EPERM || err == -ENOSYS);
  unsetenv("IOM_URING_OFF");
  setenv("IOM_PROACTOR", "emulated", 1);
  assert_int_equal(iom_proactor_new(loop, IOM_PROACTOR_DEFAULT, &p), 0);
  assert_string_equal(iom_proactor_backend(p), "emulated");
  assert_int_equal(iom_proactor_free(p), 0);
  setenv("IOM_PROACTOR", "bogus", 1);
  assert_int_equal(iom_proactor_new(loop, IOM_PROACTOR_DEFAULT, &p), -EINVAL);
  unsetenv("IOM_PROACTOR");
  assert_int_equal(iom_loop_free(loop), 0);
  assert_int_equal(iom_loop_new(IOM_POLL, &loop), 0);
  assert_int_equal(iom_proactor_new(loop, IOM_PROACTOR_DEFAULT, &p), 0);
  assert_string_equal(iom_proactor_backend(p), "emulated");
  assert_int_equal(iom_proactor_free(p), 0);
  err = iom_proactor_new(loop, IOM_PROACTOR_URING, &p);
  assert_true(err == -EOPNOTSUPP || err == -ENOSYS);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* uring only: the fallbacks for missing features, switched on by hand, run
 * the echo and the pause again. */
static void test_uring_fallbacks(void **state) {
  (void)state;
  if (kind != IOM_PROACTOR_URING)
    skip();
  setenv("IOM_URING_OFF", "multishot,bufring,defer,batch,minwait", 1);
  env e;
  env_open(&e);
  unsigned f = iom_proactor_features(e.p);
  assert_int_equal(f & (IOM_PF_MULTISHOT_ACCEPT | IOM_PF_MULTISHOT_RECV |
                        IOM_PF_BUF_RING | IOM_PF_DEFER_TASKRUN |
                        IOM_PF_BATCHED | IOM_PF_MIN_WAIT),
                   0);
  env_close(&e);
  echo_through(1u << 20);
  pause_on_empty_group();
  unsetenv("IOM_URING_OFF");
  env_open(&e);
  print_message("uring features here: 0x%x\n", iom_proactor_features(e.p));
  env_close(&e);
}

static const suite_case cases[] = {
    SUITE_CASE_LIMIT(test_echo_10mb_partial_sends, 60), /* CPU-bound */
    SUITE_CASE(test_1000_connections),
    SUITE_CASE(test_cancel_accept_and_recv),
    SUITE_CASE(test_multishot_done_stops),
    SUITE_CASE(test_timeouts),
    SUITE_CASE(test_loop_handles_keep_working),
    SUITE_CASE(test_busy_ring_keeps_time),
    SUITE_CASE(test_close_with_ops_in_flight),
    SUITE_CASE(test_peer_reset_in_flight),
    SUITE_CASE(test_empty_group_pauses),
    SUITE_CASE(test_connect),
    SUITE_CASE(test_submit_errors),
    SUITE_CASE(test_backend_choice),
    SUITE_CASE(test_uring_fallbacks),
};

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3 ||
      (strcmp(argv[1], "uring") && strcmp(argv[1], "emulated"))) {
    fprintf(stderr, "usage: %s uring|emulated [case-pattern]\n", argv[0]);
    return 2;
  }
  kind_name = argv[1];
  kind = strcmp(argv[1], "uring") == 0 ? IOM_PROACTOR_URING
                                       : IOM_PROACTOR_EMULATED;
  unsetenv("IOM_PROACTOR");
  unsetenv("IOM_URING_OFF");
  iom_loop *loop;
  iom_proactor *p;
  if (iom_loop_new(IOM_DEFAULT, &loop) < 0)
    return 1;
  int err = iom_proactor_new(loop, kind, &p);
  if (err < 0) {
    fprintf(stderr, "proactor %s: %s: skipped\n", argv[1], iom_strerror(err));
    return 77;
  }
  iom_proactor_free(p);
  iom_loop_free(loop);
  signal(SIGPIPE, SIG_DFL);
  static char group[32];
  snprintf(group, sizeof group, "proactor.%s", kind_name);
  return SUITE_RUN(group, cases, argc > 2 ? argv[2] : NULL);
}
