/* The HTTP client against a real server on loopback: fetch_server (built
 * beside this program, tests/integration/fetch_server.c), started as a
 * child process. The API's promises: bodies byte for byte, keep-alive
 * reuse, the concurrency limits, cancel and its later on_done, timeouts on
 * time, a retry after a kept-alive connection died, errors per request
 * while the others go on, and a client freed with requests in flight. */
#define _GNU_SOURCE
#include "iomux/error.h"
#include "iomux/http.h"
#include "iomux/loop.h"
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static int port, stuck;
static pid_t server;
static int server_in = -1;

static int start_server(void **state) {
  (void)state;
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 64);
  if (n < 0)
    return -1;
  path[n] = '\0';
  strcpy(strrchr(path, '/') + 1, "integration/fetch_server");
  int in[2], out[2];
  if (access(path, X_OK) || pipe(in) || pipe(out))
    return -1;
  server = fork();
  if (server == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    execl(path, path, (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  server_in = in[1];
  char line[64] = "";
  FILE *f = fdopen(out[0], "r");
  if (!fgets(line, sizeof line, f) ||
      sscanf(line, "port %d stuck %d", &port, &stuck) != 2)
    return -1;
  fclose(f);
  return 0;
}

static int stop_server(void **state) {
  (void)state;
  close(server_in); /* its stdin ends: it stops */
  waitpid(server, NULL, 0);
  return 0;
}

/* ---- a request's record --------------------------------------------------- */

typedef struct got {
  int done, err, status;
  size_t bytes;
  int bad_byte;     /* a body byte that is not 'a' + i % 26 */
  char reason[128];
  uint64_t at_ms;   /* when on_done ran */
  int in_cancel;    /* set around iom_http_cancel: on_done must not run */
  iom_http_client *client;
  int max_active;   /* the most requests in flight seen */
} got;

static void g_response(iom_http_req *req, const iom_http_response *resp,
                       void *data) {
  (void)req;
  got *g = data;
  g->status = resp->status;
  iom_http_client_stats st;
  iom_http_client_stats_get(g->client, &st);
  if (st.active > g->max_active)
    g->max_active = st.active;
}

static void g_body(iom_http_req *req, const char *buf, size_t len,
                   void *data) {
  (void)req;
  got *g = data;
  for (size_t i = 0; i < len; i++)
    if (buf[i] != (char)('a' + (g->bytes + i) % 26))
      g->bad_byte = 1;
  g->bytes += len;
}

static void g_done(iom_http_req *req, int err, void *data) {
  got *g = data;
  assert_false(g->in_cancel);
  g->done++;
  g->err = err;
  snprintf(g->reason, sizeof g->reason, "%s", iom_http_req_reason(req));
  g->at_ms = tu_now_ms();
}

static const iom_http_req_cbs g_cbs = {g_response, g_body, g_done};

static iom_loop *loop;
static iom_http_client *client;

static void make(const iom_http_client_opts *o) {
  assert_int_equal(iom_loop_new(IOM_DEFAULT, &loop), 0);
  assert_int_equal(iom_http_client_new(loop, o, &client), 0);
}

static void teardown(void) {
  iom_http_client_free(client);
  while (iom_loop_run(loop, IOM_RUN_DEFAULT) > 0)
    ;
  assert_int_equal(iom_loop_free(loop), 0); /* nothing left behind */
}

static iom_http_req *get(got *g, const char *path, int timeout_ms) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  iom_http_request_opts o = {.url = url, .timeout_ms = timeout_ms,
                             .follow_redirects = 1};
  iom_http_req *r;
  memset(g, 0, sizeof *g);
  g->client = client;
  assert_int_equal(iom_http_request(client, &o, &g_cbs, g, &r), 0);
  return r;
}

static void run_until(got *g, int n) {
  for (int i = 0; i < n; i++)
    while (!g[i].done)
      assert_true(iom_loop_run(loop, IOM_RUN_ONCE) >= 0);
}

/* ---- cases ------------------------------------------------------------------ */

/* Bodies of every framing arrive whole; one connection serves them all. */
static void test_bodies_and_reuse(void **state) {
  (void)state;
  iom_http_client_opts o = {.max_per_host = 1};
  make(&o);
  const char *paths[] = {"/ok/0",        "/ok/1",         "/ok/100000",
                         "/chunked/3333", "/redirect/2",   "/ok/70000"};
  size_t want[] = {0, 1, 100000, 3333, 4, 70000};
  got g[6];
  for (int i = 0; i < 6; i++)
    get(&g[i], paths[i], 5000);
  run_until(g, 6);
  for (int i = 0; i < 6; i++) {
    if (g[i].err)
      fail_msg("%s: %s (%s)", paths[i], iom_strerror(g[i].err), g[i].reason);
    assert_int_equal(g[i].status, 200);
    if (i != 4) {
      assert_int_equal(g[i].bytes, want[i]);
      assert_false(g[i].bad_byte);
    }
  }
  iom_http_client_stats st;
  iom_http_client_stats_get(client, &st);
  assert_int_equal(st.connections, 1);
  assert_int_equal(st.reused, 7); /* 8 requests (2 redirects) on one */
  assert_int_equal(st.requests, 6);
  teardown();
}

/* max_per_host holds: 12 requests, never more than 3 in flight. */
static void test_limits(void **state) {
  (void)state;
  iom_http_client_opts o = {.max_per_host = 3, .max_total = 100};
  make(&o);
  got g[12];
  for (int i = 0; i < 12; i++)
    get(&g[i], "/ok/5000", 5000);
  iom_http_client_stats st;
  iom_http_client_stats_get(client, &st);
  assert_int_equal(st.active, 3);
  assert_int_equal(st.queued, 9);
  run_until(g, 12);
  for (int i = 0; i < 12; i++) {
    assert_int_equal(g[i].err, 0);
    assert_true(g[i].max_active <= 3);
  }
  iom_http_client_stats_get(client, &st);
  assert_true(st.connections <= 3);
  assert_int_equal(st.idle, (int)st.connections);
  teardown();
}

/* Cancel: on_done(-ECANCELED) on a later turn, for a request in flight
 * and one still queued; the others go on. */
static void test_cancel(void **state) {
  (void)state;
  iom_http_client_opts o = {.max_per_host = 1};
  make(&o);
  got g[3];
  iom_http_req *silent = get(&g[0], "/silent", 0);
  iom_http_req *queued = get(&g[1], "/ok/10", 0);
  for (int i = 0; i < 5; i++)
    iom_loop_run(loop, IOM_RUN_NOWAIT);
  g[0].in_cancel = g[1].in_cancel = 1;
  iom_http_cancel(queued);
  iom_http_cancel(silent);
  iom_http_cancel(silent); /* twice: one on_done */
  g[0].in_cancel = g[1].in_cancel = 0;
  get(&g[2], "/ok/10", 0);
  run_until(g, 3);
  assert_int_equal(g[0].err, -ECANCELED);
  assert_int_equal(g[0].done, 1);
  assert_int_equal(g[1].err, -ECANCELED);
  assert_int_equal(g[2].err, 0);
  assert_int_equal(g[2].bytes, 10);
  teardown();
}

/* A total timeout fires on time: not early, not much late. */
static void test_timeouts(void **state) {
  (void)state;
  make(NULL);
  got g[3];
  uint64_t t0 = tu_now_ms();
  get(&g[0], "/silent", 300);
  get(&g[1], "/stall", 400);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", stuck);
  iom_http_request_opts o = {.url = url, .connect_timeout_ms = 200};
  memset(&g[2], 0, sizeof g[2]);
  g[2].client = client;
  assert_int_equal(iom_http_request(client, &o, &g_cbs, &g[2], NULL), 0);
  run_until(g, 3);
  assert_int_equal(g[0].err, -ETIMEDOUT);
  assert_int_equal(g[1].err, -ETIMEDOUT);
  assert_int_equal(g[2].err, -ETIMEDOUT);
  assert_string_equal(g[2].reason, "connect timed out");
  uint64_t want[] = {300, 400, 200};
  for (int i = 0; i < 3; i++) {
    uint64_t took = g[i].at_ms - t0;
    if (took < want[i] || took > want[i] + 250)
      fail_msg("timeout %d: %llu ms for %llu", i, (unsigned long long)took,
               (unsigned long long)want[i]);
  }
  teardown();
}

/* Each bad response is its request's error; the good ones beside it
 * succeed. */
static void test_errors_beside_success(void **state) {
  (void)state;
  make(NULL);
  struct {
    const char *path;
    int err;
    const char *reason;
  } cases[] = {
      {"/badstatus", -EPROTO, "bad status line"},
      {"/bighead", -EMSGSIZE, "64 KiB"},
      {"/fold", -EPROTO, "obs-fold"},
      {"/short", -EPROTO, "before the end of the body"},
      {"/badchunk", -EPROTO, "bad chunk size"},
      {"/overflow", -EPROTO, "chunk size overflows"},
      {"/reset", -ECONNRESET, ""},
      {"/loop", -ELOOP, "too many redirects"},
      {"/ok/3000", 0, ""},
      {"/eof/3000", 0, ""},
      {"/chunked/10", 0, ""},
  };
  enum { N = sizeof cases / sizeof cases[0] };
  got g[N];
  for (int i = 0; i < N; i++)
    get(&g[i], cases[i].path, 5000);
  run_until(g, N);
  for (int i = 0; i < N; i++)
    if (g[i].err != cases[i].err || !strstr(g[i].reason, cases[i].reason))
      fail_msg("%s: %d '%s', want %d '%s'", cases[i].path, g[i].err,
               g[i].reason, cases[i].err, cases[i].reason);
  assert_int_equal(g[9].bytes, 3000);
  assert_false(g[9].bad_byte);
  teardown();
}

/* The server closes a kept-alive connection after its response: the next
 * request on it meets EOF before any byte and is sent again, once. */
static void test_retry_after_drop(void **state) {
  (void)state;
  iom_http_client_opts o = {.max_per_host = 1};
  make(&o);
  got g[2];
  get(&g[0], "/drop-after", 0);
  run_until(g, 1);
  get(&g[1], "/ok/5", 0);
  run_until(&g[1], 1);
  assert_int_equal(g[1].err, 0);
  assert_int_equal(g[1].bytes, 5);
  teardown();
}

/* A bad URL is refused at once, with no callback; https to a server that
 * does not speak TLS fails in the handshake, with a reason. */
static void test_bad_url_and_tls(void **state) {
  (void)state;
  make(NULL);
  got g;
  memset(&g, 0, sizeof g);
  const char *bad[] = {"ftp://x/", "http://", "http://h:99999/", "nonsense"};
  for (size_t i = 0; i < 4; i++) {
    iom_http_request_opts o = {.url = bad[i]};
    assert_int_equal(iom_http_request(client, &o, &g_cbs, &g, NULL), -EINVAL);
  }
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d/ok/1", port);
  iom_http_request_opts o = {.url = url};
  g.client = client;
  int rc = iom_http_request(client, &o, &g_cbs, &g, NULL);
  if (!iom_http_tls_available()) {
    assert_int_equal(rc, -EPROTONOSUPPORT);
  } else {
    assert_int_equal(rc, 0);
    run_until(&g, 1);
    assert_int_equal(g.err, -EPROTO);
    assert_non_null(strstr(g.reason, "TLS handshake failed"));
  }
  teardown();
}

/* Freed with requests in flight (connecting, waiting, queued): no
 * callback runs, and the loop ends clean. */
static void test_free_in_flight(void **state) {
  (void)state;
  iom_http_client_opts o = {.max_per_host = 2};
  make(&o);
  got g[4];
  get(&g[0], "/silent", 0);
  get(&g[1], "/stall", 0);
  get(&g[2], "/ok/1", 0);
  get(&g[3], "/ok/2", 0);
  for (int i = 0; i < 20; i++)
    iom_loop_run(loop, IOM_RUN_NOWAIT);
  teardown();
  for (int i = 0; i < 4; i++)
    assert_int_equal(g[i].done, 0);
}

/* An idle connection closes after idle_timeout_ms; the next request opens
 * a new one. */
static void test_idle_timeout(void **state) {
  (void)state;
  iom_http_client_opts o = {.idle_timeout_ms = 100};
  make(&o);
  got g[2];
  get(&g[0], "/ok/1", 0);
  run_until(g, 1);
  iom_http_client_stats st;
  iom_http_client_stats_get(client, &st);
  assert_int_equal(st.idle, 1);
  uint64_t t0 = tu_now_ms();
  while (tu_now_ms() - t0 < 250)
    iom_loop_run(loop, IOM_RUN_NOWAIT);
  iom_http_client_stats_get(client, &st);
  assert_int_equal(st.idle, 0);
  get(&g[1], "/ok/2", 0);
  run_until(&g[1], 1);
  iom_http_client_stats_get(client, &st);
  assert_int_equal(st.connections, 2);
  assert_int_equal(st.reused, 0);
  teardown();
}

/* A name, resolved on the pool. Where "localhost" gives ::1 first (nothing
 * listens there), the refusal must lead to 127.0.0.1; where it gives only
 * 127.0.0.1 this checks the lookup alone. */
static void test_name_and_next_address(void **state) {
  (void)state;
  make(NULL);
  got g;
  char url[64];
  snprintf(url, sizeof url, "http://localhost:%d/ok/6", port);
  memset(&g, 0, sizeof g);
  g.client = client;
  assert_int_equal(iom_http_get(client, url, &g_cbs, &g, NULL), 0);
  run_until(&g, 1);
  assert_int_equal(g.err, 0);
  assert_int_equal(g.bytes, 6);
  iom_http_client_stats st;
  iom_http_client_stats_get(client, &st);
  assert_int_equal(st.lookups, 1);
  teardown();
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bodies_and_reuse),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_cancel),
      cmocka_unit_test(test_timeouts),
      cmocka_unit_test(test_errors_beside_success),
      cmocka_unit_test(test_retry_after_drop),
      cmocka_unit_test(test_bad_url_and_tls),
      cmocka_unit_test(test_free_in_flight),
      cmocka_unit_test(test_idle_timeout),
      cmocka_unit_test(test_name_and_next_address),
  };
  alarm(60);
  return cmocka_run_group_tests(tests, start_server, stop_server);
}
