/* include/iomux/hiredis.h: hiredis's async API on the iomux loop, against a
 * real redis-server that each case starts (a unix socket in a temporary
 * directory, or a free loopback port) and stops.
 *
 * Cases: replies of every type; 10,000 commands pipelined, replies in
 * order; pub/sub across two contexts; a refused connect; the server killed
 * with commands in flight; a stopped server (SIGSTOP) and the command
 * timeout; a connect that never completes and the connect timeout; a clean
 * disconnect; a context freed from its own reply callback; the attach's
 * errors. Every case ends with iom_loop_free() == 0 (nothing of the adapter
 * is left on the loop), and ASan builds check that nothing leaked.
 *
 * Skipped (77) when this build has no hiredis or redis-server is not
 * installed (scripts/deps.sh installs both).
 */
#define _GNU_SOURCE
#include "suite.h"
#include "testutil.h"

#include "iomux/loop.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(IOM_HAVE_HIREDIS)
#include "iomux/hiredis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a redis-server of the case's own ------------------------------------ */

typedef struct redis {
  pid_t pid;
  int port;          /* 0: unix socket only */
  char dir[64];      /* its temporary directory */
  char sock[128];    /* its unix socket */
} redis;

static redis srv;
static const char *redis_path;

static const char *find_redis(void) {
  static const char *const paths[] = {"/usr/bin/redis-server",
                                      "/usr/local/bin/redis-server",
                                      "/usr/sbin/redis-server"};
  const char *env = getenv("REDIS_SERVER");
  if (env && access(env, X_OK) == 0)
    return env;
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    if (access(paths[i], X_OK) == 0)
      return paths[i];
  return NULL;
}

/* A loopback port nobody listens on (bound, then released). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  close(fd);
  return ntohs(sin.sin_port);
}

/* Wait until the server answers PING (blocking hiredis, its own socket). */
static int redis_ready(const redis *r, int ms) {
  uint64_t end = tu_now_ms() + (uint64_t)ms;
  while (tu_now_ms() < end) {
    redisContext *c = redisConnectUnix(r->sock);
    redisReply *rep = c && !c->err ? redisCommand(c, "PING") : NULL;
    int ok = rep && rep->type == REDIS_REPLY_STATUS;
    if (rep)
      freeReplyObject(rep);
    redisFree(c);
    if (ok)
      return 1;
    usleep(20000);
  }
  return 0;
}

/* Start redis-server: a unix socket, and a TCP port if tcp is set. It dies
 * with the case's process (PR_SET_PDEATHSIG) even if a check fails. */
static void redis_start(redis *r, int tcp) {
  memset(r, 0, sizeof *r);
  snprintf(r->dir, sizeof r->dir, "/tmp/iomux-hiredis-XXXXXX");
  assert_non_null(mkdtemp(r->dir));
  snprintf(r->sock, sizeof r->sock, "%s/redis.sock", r->dir);
  r->port = tcp ? free_port() : 0;
  char port[16];
  snprintf(port, sizeof port, "%d", r->port);
  r->pid = fork();
  assert_true(r->pid >= 0);
  if (r->pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    execl(redis_path, redis_path, "--port", port, "--bind", "127.0.0.1",
          "--unixsocket", r->sock, "--save", "", "--appendonly", "no",
          "--dir", r->dir, "--daemonize", "no", (char *)NULL);
    _exit(127);
  }
  assert_true(redis_ready(r, 5000));
}

static void redis_kill(redis *r) {
  if (r->pid > 0) {
    kill(r->pid, SIGCONT);
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
  }
  if (r->dir[0]) {
    unlink(r->sock);
    char dump[128];
    snprintf(dump, sizeof dump, "%s/dump.rdb", r->dir);
    unlink(dump);
    rmdir(r->dir);
    r->dir[0] = '\0';
  }
}

static int setup_unix(void **state) {
  (void)state;
  redis_start(&srv, 0);
  return 0;
}

static int setup_tcp(void **state) {
  (void)state;
  redis_start(&srv, 1);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  redis_kill(&srv);
  return 0;
}

/* ---- helpers -------------------------------------------------------------- */

typedef struct conn_rec {
  int connects, connect_status;
  int disconnects, disconnect_status;
  char errstr[128];
} conn_rec;

static void on_connect(const redisAsyncContext *ac, int status) {
  conn_rec *r = ac->data;
  r->connects++;
  r->connect_status = status;
  if (status != REDIS_OK && ac->errstr)
    snprintf(r->errstr, sizeof r->errstr, "%s", ac->errstr);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  conn_rec *r = ac->data;
  r->disconnects++;
  r->disconnect_status = status;
  if (status != REDIS_OK && ac->errstr)
    snprintf(r->errstr, sizeof r->errstr, "%s", ac->errstr);
}

/* A context on the case's server (unix socket), attached, with callbacks. */
static redisAsyncContext *connect_unix(iom_loop *loop, conn_rec *r) {
  redisAsyncContext *ac = redisAsyncConnectUnix(srv.sock);
  assert_non_null(ac);
  assert_int_equal(ac->err, 0);
  assert_int_equal(iom_hiredis_attach(loop, ac), 0);
  ac->data = r;
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  return ac;
}

static redisAsyncContext *connect_tcp(iom_loop *loop, int port, conn_rec *r) {
  redisAsyncContext *ac = redisAsyncConnect("127.0.0.1", port);
  assert_non_null(ac);
  assert_int_equal(ac->err, 0);
  assert_int_equal(iom_hiredis_attach(loop, ac), 0);
  ac->data = r;
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  return ac;
}

static iom_loop *new_loop(void) {
  iom_loop *loop = NULL;
  assert_int_equal(iom_loop_new(IOM_DEFAULT, &loop), 0);
  return loop;
}

/* Run until *flag becomes nonzero, at most ms. */
static void run_until(iom_loop *loop, const int *flag, int ms) {
  uint64_t end = tu_now_ms() + (uint64_t)ms;
  while (!*flag && tu_now_ms() < end)
    if (iom_loop_run(loop, IOM_RUN_ONCE) == 0)
      break;
}

/* Run until nothing is left on the loop (every context gone), at most ms. */
static void run_out(iom_loop *loop, int ms) {
  uint64_t end = tu_now_ms() + (uint64_t)ms;
  while (tu_now_ms() < end && iom_loop_run(loop, IOM_RUN_ONCE) > 0)
    continue;
}

static void end_loop(iom_loop *loop) {
  run_out(loop, 5000);
  assert_int_equal(iom_loop_free(loop), 0);
}

/* A reply callback that records the reply in a slot of an array. */
typedef struct reply_log {
  int n, nulls;
  int type[16];
  long long integer[16];
  char str[16][64];
} reply_log;

static void on_reply(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  reply_log *log = data;
  redisReply *r = reply;
  if (!r) {
    log->nulls++;
    return;
  }
  if (log->n >= 16)
    return;
  log->type[log->n] = r->type;
  log->integer[log->n] = r->integer;
  if (r->str)
    snprintf(log->str[log->n], sizeof log->str[0], "%s", r->str);
  else if (r->type == REDIS_REPLY_ARRAY)
    snprintf(log->str[log->n], sizeof log->str[0], "%zu", r->elements);
  log->n++;
}

static void on_flag(iom_timer *t, void *data) {
  (void)t;
  *(int *)data = 1;
}

/* ---- commands and replies -------------------------------------------------- */

static int log_full(const reply_log *log, int n) { return log->n + log->nulls >= n; }

static void test_commands(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  conn_rec cr = {0};
  redisAsyncContext *ac = connect_unix(loop, &cr);
  reply_log log = {0};
  redisAsyncCommand(ac, on_reply, &log, "SET %s %b", "k", "v\0x", (size_t)3);
  redisAsyncCommand(ac, on_reply, &log, "GET k");
  redisAsyncCommand(ac, on_reply, &log, "INCRBY n %d", 41);
  redisAsyncCommand(ac, on_reply, &log, "GET missing");
  redisAsyncCommand(ac, on_reply, &log, "RPUSH l a b c");
  redisAsyncCommand(ac, on_reply, &log, "LRANGE l 0 -1");
  redisAsyncCommand(ac, on_reply, &log, "NOSUCHCOMMAND");
  uint64_t end = tu_now_ms() + 5000;
  while (!log_full(&log, 7) && tu_now_ms() < end)
    iom_loop_run(loop, IOM_RUN_ONCE);
  assert_int_equal(cr.connects, 1);
  assert_int_equal(cr.connect_status, REDIS_OK);
  assert_int_equal(log.n, 7);
  assert_int_equal(log.nulls, 0);
  assert_int_equal(log.type[0], REDIS_REPLY_STATUS);
  assert_string_equal(log.str[0], "OK");
  assert_int_equal(log.type[1], REDIS_REPLY_STRING);
  assert_string_equal(log.str[1], "v"); /* "v\0x": 3 bytes, printed to NUL */
  assert_int_equal(log.type[2], REDIS_REPLY_INTEGER);
  assert_int_equal(log.integer[2], 41);
  assert_int_equal(log.type[3], REDIS_REPLY_NIL);
  assert_int_equal(log.integer[4], 3);
  assert_int_equal(log.type[5], REDIS_REPLY_ARRAY);
  assert_string_equal(log.str[5], "3");
  assert_int_equal(log.type[6], REDIS_REPLY_ERROR);
  redisAsyncDisconnect(ac);
  end_loop(loop);
  assert_int_equal(cr.disconnects, 1);
  assert_int_equal(cr.disconnect_status, REDIS_OK);
}

/* The same over TCP, through the loopback port. */
static void test_commands_tcp(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  conn_rec cr = {0};
  redisAsyncContext *ac = connect_tcp(loop, srv.port, &cr);
  reply_log log = {0};
  redisAsyncCommand(ac, on_reply, &log, "PING");
  run_until(loop, &log.n, 5000);
  assert_int_equal(log.n, 1);
  assert_string_equal(log.str[0], "PONG");
  redisAsyncDisconnect(ac);
  end_loop(loop);
  assert_int_equal(cr.disconnects, 1);
}

/* ---- pipelining -------------------------------------------------------------- */

enum { PIPELINED = 10000 };

typedef struct pipe_rec {
  long long next; /* the INCR value expected next */
  int bad, done;
} pipe_rec;

static void on_incr(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  pipe_rec *p = data;
  redisReply *r = reply;
  if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != p->next)
    p->bad++;
  p->next++;
  if (p->next > PIPELINED)
    p->done = 1;
}

/* 10,000 commands queued in one go, before the loop runs: they leave in
 * big writes, and the replies come back in order. */
static void test_pipeline(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  conn_rec cr = {0};
  redisAsyncContext *ac = connect_unix(loop, &cr);
  pipe_rec p = {.next = 1};
  for (int i = 0; i < PIPELINED; i++)
    assert_int_equal(redisAsyncCommand(ac, on_incr, &p, "INCR counter"),
                     REDIS_OK);
  run_until(loop, &p.done, 20000);
  assert_int_equal(p.bad, 0);
  assert_int_equal(p.next, PIPELINED + 1);
  iom_loop_stats st;
  iom_loop_stats_get(loop, &st);
  print_message("    %d replies in %llu loop iterations\n", PIPELINED,
                (unsigned long long)st.iterations);
  redisAsyncDisconnect(ac);
  end_loop(loop);
}

/* ---- pub/sub ------------------------------------------------------------------- */

typedef struct sub_rec {
  int subscribed, messages, bad, unsubscribed;
  redisAsyncContext *pub;
  reply_log *pub_log;
} sub_rec;

static void on_message(redisAsyncContext *ac, void *reply, void *data) {
  sub_rec *s = data;
  redisReply *r = reply;
  (void)ac;
  if (!r)
    return;
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
    s->bad++;
    return;
  }
  const char *kind = r->element[0]->str;
  if (!strcmp(kind, "subscribe")) {
    s->subscribed++;
    /* Subscribed: now the other context publishes. */
    for (int i = 0; i < 100; i++)
      redisAsyncCommand(s->pub, NULL, NULL, "PUBLISH news m%d", i);
    redisAsyncCommand(s->pub, on_reply, s->pub_log, "PUBLISH news last");
  } else if (!strcmp(kind, "message")) {
    char want[16];
    snprintf(want, sizeof want, "m%d", s->messages);
    if (s->messages == 100)
      snprintf(want, sizeof want, "last");
    if (strcmp(r->element[1]->str, "news") || strcmp(r->element[2]->str, want))
      s->bad++;
    s->messages++;
    if (s->messages == 101)
      redisAsyncCommand(ac, on_message, s, "UNSUBSCRIBE news");
  } else if (!strcmp(kind, "unsubscribe")) {
    s->unsubscribed++;
  }
}

static void test_pubsub(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  conn_rec cs = {0}, cp = {0};
  redisAsyncContext *sub = connect_unix(loop, &cs);
  redisAsyncContext *pub = connect_unix(loop, &cp);
  reply_log pub_log = {0};
  sub_rec s = {.pub = pub, .pub_log = &pub_log};
  redisAsyncCommand(sub, on_message, &s, "SUBSCRIBE news");
  run_until(loop, &s.unsubscribed, 5000);
  assert_int_equal(s.subscribed, 1);
  assert_int_equal(s.messages, 101);
  assert_int_equal(s.bad, 0);
  assert_int_equal(s.unsubscribed, 1);
  assert_int_equal(pub_log.n, 1);
  assert_int_equal(pub_log.integer[0], 1); /* one subscriber got it */
  redisAsyncDisconnect(sub);
  redisAsyncDisconnect(pub);
  end_loop(loop);
  assert_int_equal(cs.disconnects, 1);
  assert_int_equal(cp.disconnects, 1);
}

/* ---- failures ------------------------------------------------------------------- */

/* Nobody listens on the port: the connect callback gets REDIS_ERR
 * (Connection refused), the pending command's callback NULL, and the
 * context is gone from the loop. */
static void test_connect_refused(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  conn_rec cr = {0};
  redisAsyncContext *ac = connect_tcp(loop, free_port(), &cr);
  reply_log log = {0};
  redisAsyncCommand(ac, on_reply, &log, "PING");
  run_until(loop, &cr.connects, 5000);
  assert_int_equal(cr.connects, 1);
  assert_int_equal(cr.connect_status, REDIS_ERR);
  assert_non_null(strstr(cr.errstr, "refused"));
  assert_int_equal(log.nulls, 1);
  assert_int_equal(cr.disconnects, 0); /* it never connected */
  end_loop(loop);
}

/* A context whose connect failed at once (a unix socket that is not there)
 * is refused by the attach: the caller frees it, no callback comes. A
 * context attached already is refused too. */
static void test_attach_errors(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  redisAsyncContext *bad = redisAsyncConnectUnix("/nonexistent/redis.sock");
  assert_non_null(bad);
  assert_true(bad->err != 0);
  assert_int_equal(iom_hiredis_attach(loop, bad), -ENOTCONN);
  redisAsyncFree(bad);
  conn_rec cr = {0};
  redisAsyncContext *ac = connect_unix(loop, &cr);
  assert_int_equal(iom_hiredis_attach(loop, ac), -EEXIST);
  redisAsyncContext *other = redisAsyncConnectUnix(srv.sock);
  assert_int_equal(iom_hiredis_set_timeout(other, 100, 100), -EINVAL);
  redisAsyncFree(other);
  /* freed before it connected: no callback, nothing left */
  redisAsyncFree(ac);
  assert_int_equal(cr.connects, 0);
  end_loop(loop);
}

/* The server dies (SIGKILL) while replies are awaited: every pending
 * callback gets NULL, the disconnect callback REDIS_ERR, the loop ends with
 * nothing left, and (ASan) nothing leaks. */
typedef struct kill_rec {
  int started;
  reply_log log;
} kill_rec;

static void on_sleep_started(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  kill_rec *k = data;
  if (reply) {
    k->started = 1;
    kill(srv.pid, SIGKILL); /* BLPOP is waiting: kill the server now */
  }
}

static void test_server_killed(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  conn_rec cr = {0};
  redisAsyncContext *ac = connect_unix(loop, &cr);
  kill_rec k = {0};
  redisAsyncCommand(ac, on_sleep_started, &k, "PING");
  redisAsyncCommand(ac, on_reply, &k.log, "BLPOP nothing 5");
  for (int i = 0; i < 10; i++)
    redisAsyncCommand(ac, on_reply, &k.log, "INCR x");
  run_until(loop, &cr.disconnects, 5000);
  assert_int_equal(k.started, 1);
  assert_int_equal(cr.disconnects, 1);
  assert_int_equal(cr.disconnect_status, REDIS_ERR);
  assert_int_equal(k.log.nulls, 11);
  assert_int_equal(k.log.n, 0);
  waitpid(srv.pid, NULL, 0);
  srv.pid = 0;
  end_loop(loop);
}

/* The server stops (SIGSTOP) and answers nothing: after the command timeout
 * the adapter's timer fails the context ("Timeout"); the callbacks get
 * NULL, the disconnect callback REDIS_ERR. Not earlier than the timeout. */
static void test_command_timeout(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  conn_rec cr = {0};
  redisAsyncContext *ac = connect_unix(loop, &cr);
  assert_int_equal(iom_hiredis_set_timeout(ac, 1000, 300), 0);
  reply_log log = {0};
  redisAsyncCommand(ac, on_reply, &log, "PING");
  run_until(loop, &log.n, 5000);
  assert_int_equal(log.n, 1); /* connected and answering */
  /* idle for longer than the timeout: no command waits, nothing fails */
  iom_timer *t;
  int idle_over = 0;
  assert_int_equal(iom_timer_new(loop, on_flag, &idle_over, &t), 0);
  iom_timer_start(t, 600, 0);
  run_until(loop, &idle_over, 5000);
  iom_timer_free(t);
  assert_int_equal(cr.disconnects, 0);
  kill(srv.pid, SIGSTOP);
  uint64_t t0 = tu_now_ms();
  redisAsyncCommand(ac, on_reply, &log, "PING");
  redisAsyncCommand(ac, on_reply, &log, "PING");
  run_until(loop, &cr.disconnects, 5000);
  uint64_t took = tu_now_ms() - t0;
  print_message("    timed out after %llu ms (timeout 300 ms)\n",
                (unsigned long long)took);
  assert_int_equal(cr.disconnects, 1);
  assert_int_equal(cr.disconnect_status, REDIS_ERR);
  assert_string_equal(cr.errstr, "Timeout");
  assert_int_equal(log.nulls, 2);
  assert_true(took >= 300);
  assert_true(took < 3000);
  end_loop(loop);
}

/* A listener that never accepts, its queue full: a new connect stays in
 * SYN_SENT. The connect timeout ends it: the connect callback gets
 * REDIS_ERR ("Timeout"), the queued command's callback NULL. */
static void test_connect_timeout(void **state) {
  (void)state;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
  assert_int_equal(listen(lfd, 0), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
  /* fill the accept queue (backlog 0 holds one) */
  int fill[4];
  for (int i = 0; i < 4; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fill[i], (struct sockaddr *)&sin, sizeof sin);
  }
  usleep(100000);
  iom_loop *loop = new_loop();
  conn_rec cr = {0};
  redisAsyncContext *ac = connect_tcp(loop, ntohs(sin.sin_port), &cr);
  assert_int_equal(iom_hiredis_set_timeout(ac, 300, 300), 0);
  reply_log log = {0};
  redisAsyncCommand(ac, on_reply, &log, "PING");
  uint64_t t0 = tu_now_ms();
  run_until(loop, &cr.connects, 5000);
  uint64_t took = tu_now_ms() - t0;
  print_message("    connect failed after %llu ms (timeout 300 ms)\n",
                (unsigned long long)took);
  assert_int_equal(cr.connects, 1);
  assert_int_equal(cr.connect_status, REDIS_ERR);
  assert_string_equal(cr.errstr, "Timeout");
  assert_int_equal(log.nulls, 1);
  assert_true(took >= 250); /* counted from the attach, just before */
  end_loop(loop);
  for (int i = 0; i < 4; i++)
    close(fill[i]);
  close(lfd);
}

/* ---- endings ------------------------------------------------------------------- */

/* redisAsyncDisconnect with replies still due: they all come, then the
 * disconnect callback (REDIS_OK), then the context is gone. */
static void test_clean_disconnect(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  conn_rec cr = {0};
  redisAsyncContext *ac = connect_unix(loop, &cr);
  reply_log log = {0};
  for (int i = 0; i < 5; i++)
    redisAsyncCommand(ac, on_reply, &log, "INCR y");
  redisAsyncDisconnect(ac);
  /* refused after the disconnect began */
  assert_int_equal(redisAsyncCommand(ac, on_reply, &log, "PING"), REDIS_ERR);
  end_loop(loop);
  assert_int_equal(log.n, 5);
  assert_int_equal(log.integer[4], 5);
  assert_int_equal(cr.disconnects, 1);
  assert_int_equal(cr.disconnect_status, REDIS_OK);
}

/* Freed from its own reply callback: hiredis finishes the callback, then
 * frees; the other pending callbacks get NULL. */
static void on_reply_free(redisAsyncContext *ac, void *reply, void *data) {
  on_reply(ac, reply, data);
  if (reply)
    redisAsyncFree(ac);
}

static void test_free_in_callback(void **state) {
  (void)state;
  iom_loop *loop = new_loop();
  conn_rec cr = {0};
  redisAsyncContext *ac = connect_unix(loop, &cr);
  reply_log log = {0};
  redisAsyncCommand(ac, on_reply_free, &log, "PING");
  redisAsyncCommand(ac, on_reply, &log, "PING");
  end_loop(loop);
  assert_int_equal(log.n, 1);
  assert_int_equal(log.nulls, 1);
  assert_int_equal(cr.disconnects, 1);
  assert_int_equal(cr.disconnect_status, REDIS_OK); /* freed on purpose */
}

static const suite_case cases[] = {
    SUITE_CASE_FIXTURES(test_commands, setup_unix, teardown),
    SUITE_CASE_FIXTURES(test_commands_tcp, setup_tcp, teardown),
    SUITE_CASE_FIXTURES(test_pipeline, setup_unix, teardown),
    SUITE_CASE_FIXTURES(test_pubsub, setup_unix, teardown),
    SUITE_CASE(test_connect_refused),
    SUITE_CASE_FIXTURES(test_attach_errors, setup_unix, teardown),
    SUITE_CASE_FIXTURES(test_server_killed, setup_unix, teardown),
    SUITE_CASE_FIXTURES(test_command_timeout, setup_unix, teardown),
    SUITE_CASE(test_connect_timeout),
    SUITE_CASE_FIXTURES(test_clean_disconnect, setup_unix, teardown),
    SUITE_CASE_FIXTURES(test_free_in_callback, setup_unix, teardown),
};

int main(int argc, char **argv) {
  redis_path = find_redis();
  if (!redis_path) {
    fprintf(stderr, "test_hiredis: redis-server not found: skipped\n");
    return 77;
  }
  signal(SIGPIPE, SIG_IGN);
  return SUITE_RUN("hiredis", cases, argc > 1 ? argv[1] : NULL);
}

#else /* no hiredis in this build */

int main(void) {
  fprintf(stderr, "test_hiredis: built without hiredis: skipped\n");
  return 77;
}

#endif
