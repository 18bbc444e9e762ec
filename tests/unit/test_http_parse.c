/* The HTTP response parser and URLs, without I/O.
 *
 * Every response is fed whole, split in two at every point, and one byte
 * at a time; the events (status, fields, end of head, body bytes, end) must
 * be the same each way, and equal to what the case expects. Bad responses
 * must fail with their error and reason at every split too. */
#include "iomux/http.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- a recorder of parser events ------------------------------------------ */

typedef struct rec {
  char log[8192]; /* S, H, T, D, E lines */
  size_t loglen;
  char *body;
  size_t bodylen, bodycap;
  int stop_at_body; /* return nonzero from on_body */
} rec;

static void logf_(rec *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(r->log + r->loglen, sizeof r->log - r->loglen, fmt, ap);
  va_end(ap);
  if (n > 0 && r->loglen + (size_t)n < sizeof r->log)
    r->loglen += (size_t)n;
}

static int on_status(void *d, int version, int status, const char *reason,
                     size_t n) {
  logf_(d, "S%d %d %.*s\n", version, status, (int)n, reason);
  return 0;
}

static int on_header(void *d, int trailer, const char *name, size_t nlen,
                     const char *value, size_t vlen) {
  logf_(d, "%c %.*s=%.*s\n", trailer ? 'T' : 'H', (int)nlen, name, (int)vlen,
        value);
  return 0;
}

static int on_headers_done(void *d) {
  logf_(d, "D\n");
  return 0;
}

static int on_body(void *d, const char *buf, size_t len) {
  rec *r = d;
  if (r->bodylen + len > r->bodycap) {
    r->bodycap = (r->bodylen + len) * 2;
    r->body = realloc(r->body, r->bodycap);
    assert_non_null(r->body);
  }
  memcpy(r->body + r->bodylen, buf, len);
  r->bodylen += len;
  return r->stop_at_body;
}

static int on_done(void *d) {
  logf_(d, "E\n");
  return 0;
}

static const iom_http_parser_cbs cbs = {on_status, on_header, on_headers_done,
                                        on_body, on_done};

/* The outcome of feeding `msg` in pieces at the cut points `cuts` (n of
 * them, increasing; a cut at every byte when every == 1). */
typedef struct outcome {
  rec r;
  long err;   /* 0, or the error feed or eof returned */
  size_t used; /* bytes used in total */
  const char *reason;
  int done, keep_alive, framing;
} outcome;

static void run(const char *msg, size_t len, int head, int eof, size_t cut,
                int every, outcome *o) {
  iom_http_parser *p;
  memset(o, 0, sizeof *o);
  assert_int_equal(iom_http_parser_new(&cbs, &o->r, &p), 0);
  iom_http_parser_reset(p, head);
  size_t off = 0;
  while (off < len) {
    size_t n = every ? 1 : (off < cut ? cut - off : len - off);
    long used = iom_http_parser_feed(p, msg + off, n);
    if (used < 0) {
      o->err = used;
      break;
    }
    o->used += (size_t)used;
    if ((size_t)used < n || iom_http_parser_done(p))
      break; /* the response ended inside this piece */
    off += n;
  }
  if (!o->err && eof && !iom_http_parser_done(p))
    o->err = iom_http_parser_eof(p);
  o->reason = iom_http_parser_reason(p);
  o->done = iom_http_parser_done(p);
  o->keep_alive = o->done ? iom_http_parser_keep_alive(p) : -1;
  o->framing = (int)iom_http_parser_framing(p);
  iom_http_parser_free(p);
}

static void same(const outcome *a, const outcome *b, size_t cut) {
  if (a->err != b->err || strcmp(a->r.log, b->r.log) ||
      a->r.bodylen != b->r.bodylen ||
      (a->r.bodylen && memcmp(a->r.body, b->r.body, a->r.bodylen)) ||
      a->done != b->done || (!a->err && a->used != b->used)) {
    fail_msg("split at %zu differs: err %ld vs %ld, used %zu vs %zu\n"
             "log:\n%s---\nvs:\n%s---",
             cut, b->err, a->err, b->used, a->used, b->r.log, a->r.log);
  }
}

static void free_outcome(outcome *o) { free(o->r.body); }

/* Feed msg whole, at every split, and byte by byte: all the same. The
 * whole-feed outcome is left in *whole. */
static void every_split(const char *msg, size_t len, int head, int eof,
                        outcome *whole) {
  run(msg, len, head, eof, len, 0, whole);
  for (size_t cut = 0; cut <= len; cut++) {
    outcome o;
    run(msg, len, head, eof, cut, 0, &o);
    same(whole, &o, cut);
    free_outcome(&o);
  }
  outcome o;
  run(msg, len, head, eof, 0, 1, &o);
  same(whole, &o, 1);
  free_outcome(&o);
}

/* ---- good responses --------------------------------------------------------- */

typedef struct good {
  const char *name, *msg;
  int head, eof;
  const char *log, *body;
  int keep_alive;
  iom_http_framing framing;
} good;

static const good goods[] = {
    {"content-length",
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello", 0, 0,
     "S11 200 OK\nH Content-Length=5\nH X-A=b\nD\nE\n", "hello", 1,
     IOM_HTTP_LENGTH},
    {"chunked with extensions and trailers",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n"
     "X-Sum: 42\r\n\r\n",
     0, 0, "S11 200 OK\nH Transfer-Encoding=chunked\nD\nT X-Sum=42\nE\n",
     "helloabcdefghijklmnopqrstuvwxyz", 1, IOM_HTTP_CHUNKED},
    {"chunked, bare LF line ends",
     "HTTP/1.1 200 OK\nTransfer-Encoding: gzip, chunked\n\n3\nabc\n0\n\n", 0,
     0, "S11 200 OK\nH Transfer-Encoding=gzip, chunked\nD\nE\n", "abc", 1,
     IOM_HTTP_CHUNKED},
    {"close-delimited",
     "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nuntil the end", 0, 1,
     "S11 200 OK\nH Server=x\nD\nE\n", "until the end", 0,
     IOM_HTTP_UNTIL_EOF},
    {"transfer-encoding not ending in chunked reads to EOF",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nzz", 0, 1,
     "S11 200 OK\nH Transfer-Encoding=chunked, gzip\nD\nE\n", "zz", 0,
     IOM_HTTP_UNTIL_EOF},
    {"HEAD ignores Content-Length",
     "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 1, 0,
     "S11 200 OK\nH Content-Length=1000\nD\nE\n", "", 1, IOM_HTTP_NO_BODY},
    {"204 has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
     0, 0, "S11 204 No Content\nH Content-Length=7\nD\nE\n", "", 1,
     IOM_HTTP_NO_BODY},
    {"304 has no body", "HTTP/1.1 304 Not Modified\r\n\r\n", 0, 0,
     "S11 304 Not Modified\nD\nE\n", "", 1, IOM_HTTP_NO_BODY},
    {"1xx skipped",
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n"
     "\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
     0, 0, "S11 200 OK\nH Content-Length=2\nD\nE\n", "ok", 1,
     IOM_HTTP_LENGTH},
    {"Content-Length 0", "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 0, 0,
     "S11 200 OK\nH content-length=0\nD\nE\n", "", 1, IOM_HTTP_NO_BODY},
    {"Connection: close",
     "HTTP/1.1 404 Not Found\r\nConnection: Close\r\nContent-Length: 1\r\n\r\n"
     "x",
     0, 0,
     "S11 404 Not Found\nH Connection=Close\nH Content-Length=1\nD\nE\n", "x",
     0, IOM_HTTP_LENGTH},
    {"HTTP/1.0 keep-alive",
     "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
     0, 0,
     "S10 200 OK\nH Connection=keep-alive\nH Content-Length=1\nD\nE\n", "x",
     1, IOM_HTTP_LENGTH},
    {"HTTP/1.0 without keep-alive",
     "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 0, 0,
     "S10 200 OK\nH Content-Length=1\nD\nE\n", "x", 0, IOM_HTTP_LENGTH},
    {"no reason, value white space trimmed, empty value",
     "HTTP/1.1 200\r\nA:  \t spaced \t \r\nB:\r\nContent-Length: 0\r\n\r\n",
     0, 0, "S11 200 \nH A=spaced\nH B=\nH Content-Length=0\nD\nE\n", "", 1,
     IOM_HTTP_NO_BODY},
    {"repeated equal Content-Length",
     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
     0, 0, "S11 200 OK\nH Content-Length=3\nH Content-Length=3\nD\nE\n",
     "abc", 1, IOM_HTTP_LENGTH},
    {"TE and CL: TE wins and the connection closes",
     "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n"
     "\r\n1\r\nz\r\n0\r\n\r\n",
     0, 0,
     "S11 200 OK\nH Content-Length=99\nH Transfer-Encoding=chunked\nD\nE\n",
     "z", 0, IOM_HTTP_CHUNKED},
};

static void test_good(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
    const good *g = &goods[i];
    outcome o;
    every_split(g->msg, strlen(g->msg), g->head, g->eof, &o);
    if (o.err || strcmp(o.r.log, g->log) || o.r.bodylen != strlen(g->body) ||
        memcmp(o.r.body ? o.r.body : "", g->body, o.r.bodylen) ||
        o.keep_alive != g->keep_alive || o.framing != (int)g->framing ||
        !o.done || o.used != strlen(g->msg))
      fail_msg("case '%s': err %ld (%s), done %d, keep %d, framing %d, used "
               "%zu\nlog:\n%s",
               g->name, o.err, o.reason, o.done, o.keep_alive, o.framing,
               o.used, o.r.log);
    free_outcome(&o);
  }
}

/* ---- bad responses ---------------------------------------------------------- */

typedef struct bad {
  const char *msg;
  int eof;
  long err;
  const char *reason; /* a substring */
} bad;

static const bad bads[] = {
    {"HTTX/1.1 200 OK\r\n\r\n", 0, -EPROTO, "bad status line"},
    {"HTTP/1.1 20 OK\r\n\r\n", 0, -EPROTO, "bad status line"},
    {"HTTP/1.1 2000 OK\r\n\r\n", 0, -EPROTO, "bad status line"},
    {"HTTP/2.0 200 OK\r\n\r\n", 0, -EPROTO, "bad status line"},
    {"HTTP/1.1 099 Low\r\n\r\n", 0, -EPROTO, "bad status code"},
    {"\r\nHTTP/1.1 200 OK\r\n\r\n", 0, -EPROTO, "bad status line"},
    {"HTTP/1.1 101 Switching Protocols\r\n\r\n", 0, -EPROTO, "101"},
    {"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", 0, -EPROTO, "obs-fold"},
    {"HTTP/1.1 200 OK\r\nA : b\r\n\r\n", 0, -EPROTO, "bad header line"},
    {"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 0, -EPROTO, "bad header line"},
    {"HTTP/1.1 200 OK\r\n: empty\r\n\r\n", 0, -EPROTO, "bad header line"},
    {"HTTP/1.1 200 OK\r\nA: b\001c\r\n\r\n", 0, -EPROTO, "control"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 0, -EPROTO,
     "bad Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, -EPROTO,
     "bad Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", 0,
     -EPROTO, "bad Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0,
     -EPROTO, "conflicting Content-Length"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, -EPROTO,
     "bad chunk size"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 0, -EPROTO,
     "bad chunk size"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\n", 0, -EPROTO,
     "bad chunk size"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "10000000000000000\r\n",
     0, -EPROTO, "chunk size overflows"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "ffffffffffffffffffffffff\r\n",
     0, -EPROTO, "chunk size overflows"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 0,
     -EPROTO, "not followed by CRLF"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
     "bad trailer\r\n\r\n",
     0, -EPROTO, "bad header line"},
    /* cut short: the connection ends */
    {"", 1, -EPROTO, "before the response"},
    {"HTTP/1.1 200 OK\r\nContent-Le", 1, -EPROTO, "in the headers"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 1, -EPROTO,
     "before the end of the body"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 1,
     -EPROTO, "before the end of the body"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", 1, -EPROTO,
     "before the end of the body"},
};

static void test_bad(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
    const bad *b = &bads[i];
    outcome o;
    every_split(b->msg, strlen(b->msg), 0, b->eof, &o);
    if (o.err != b->err || !strstr(o.reason, b->reason))
      fail_msg("bad case %zu: got %ld '%s', want %ld '%s'", i, o.err,
               o.reason, b->err, b->reason);
    free_outcome(&o);
  }
}

/* A header block just under the cap passes; one byte over fails, at every
 * split (64 KiB: byte by byte is enough, whole splits on a sample). */
static char *big_head(size_t total) {
  const char *start = "HTTP/1.1 200 OK\r\n";
  const char *end = "Content-Length: 0\r\n\r\n";
  char *m = malloc(total + 1);
  size_t off = strlen(start);
  memcpy(m, start, off);
  while (off < total - strlen(end)) {
    size_t left = total - strlen(end) - off;
    size_t line = left > 1000 ? 1000 : left;
    if (line < 6) { /* too short for "X: v\r\n": pad the previous line */
      memmove(m + off - 2 + line, m + off - 2, 2);
      memset(m + off - 2, 'v', line);
      off += line;
      break;
    }
    memcpy(m + off, "X: ", 3);
    memset(m + off + 3, 'v', line - 5);
    memcpy(m + off + line - 2, "\r\n", 2);
    off += line;
  }
  memcpy(m + off, end, strlen(end));
  m[total] = '\0';
  return m;
}

static void test_header_cap(void **state) {
  (void)state;
  char *ok = big_head(IOM_HTTP_MAX_HEADER);
  char *over = big_head(IOM_HTTP_MAX_HEADER + 1);
  outcome o;
  for (size_t cut = 0; cut <= IOM_HTTP_MAX_HEADER; cut += 4093) {
    run(ok, strlen(ok), 0, 0, cut, 0, &o);
    assert_int_equal(o.err, 0);
    assert_true(o.done);
    free_outcome(&o);
    run(over, strlen(over), 0, 0, cut, 0, &o);
    assert_int_equal(o.err, -EMSGSIZE);
    free_outcome(&o);
  }
  run(over, strlen(over), 0, 0, 0, 1, &o);
  assert_int_equal(o.err, -EMSGSIZE);
  free_outcome(&o);
  /* Trailers have the same cap. */
  size_t n = IOM_HTTP_MAX_HEADER + 100;
  char *t = malloc(n + 200);
  int k = sprintf(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "0\r\nX: ");
  memset(t + k, 'v', n);
  strcpy(t + k + n, "\r\n\r\n");
  run(t, strlen(t), 0, 0, strlen(t) / 2, 0, &o);
  assert_int_equal(o.err, -EMSGSIZE);
  free_outcome(&o);
  free(t);
  free(ok);
  free(over);
}

/* A response followed by the next one's bytes: feed stops at the end of
 * the first; after a reset the rest parses as the second. */
static void test_leftover_and_reset(void **state) {
  (void)state;
  const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 "
                    "201 Created\r\nContent-Length: 1\r\n\r\nc";
  rec r = {0};
  iom_http_parser *p;
  assert_int_equal(iom_http_parser_new(&cbs, &r, &p), 0);
  long used = iom_http_parser_feed(p, two, strlen(two));
  assert_int_equal(used, 40);
  assert_true(iom_http_parser_done(p));
  assert_int_equal(iom_http_parser_feed(p, two + used, 5), 0);
  iom_http_parser_reset(p, 0);
  assert_int_equal(iom_http_parser_feed(p, two + used, strlen(two) - 40),
                   (long)strlen(two) - 40);
  assert_string_equal(r.log, "S11 200 OK\nH Content-Length=2\nD\nE\n"
                             "S11 201 Created\nH Content-Length=1\nD\nE\n");
  assert_int_equal(r.bodylen, 3);
  assert_memory_equal(r.body, "abc", 3);
  assert_int_equal(iom_http_parser_content_length(p), 1);
  iom_http_parser_free(p);
  free(r.body);
}

/* A callback that returns nonzero stops the parser at once. */
static void test_callback_stops(void **state) {
  (void)state;
  const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
  rec r = {0};
  r.stop_at_body = 1;
  iom_http_parser *p;
  assert_int_equal(iom_http_parser_new(&cbs, &r, &p), 0);
  assert_int_equal(iom_http_parser_feed(p, m, strlen(m)), -ECANCELED);
  assert_int_equal(iom_http_parser_feed(p, "x", 1), -ECANCELED);
  assert_false(iom_http_parser_done(p));
  assert_int_equal(iom_http_parser_eof(p), -ECANCELED);
  iom_http_parser_free(p);
  free(r.body);
}

/* ---- URLs -------------------------------------------------------------------- */

static void check_url(const char *s, int tls, const char *host, int port,
                      const char *target) {
  iom_http_url u;
  int err = iom_http_url_parse(s, &u);
  if (err)
    fail_msg("'%s': %d", s, err);
  assert_int_equal(u.tls, tls);
  assert_string_equal(u.host, host);
  assert_int_equal(u.port, port);
  assert_string_equal(u.target, target);
  iom_http_url_clear(&u);
}

static void test_url_parse(void **state) {
  (void)state;
  check_url("http://example.com", 0, "example.com", 80, "/");
  check_url("HTTPS://Example.COM:8443/a/b?x=1#frag", 1, "example.com", 8443,
            "/a/b?x=1");
  check_url("http://[::1]:8080/p", 0, "::1", 8080, "/p");
  check_url("https://[2001:db8::1]", 1, "2001:db8::1", 443, "/");
  check_url("http://h?q", 0, "h", 80, "/?q");
  check_url("http://h:/x", 0, "h", 80, "/x");
  const char *refused[] = {"ftp://h/",       "http://",      "http:///x",
                       "http://h:0/",    "http://h:65536", "http://h:8x/",
                       "http://u@h/",    "http://h/a b", "http://[::1/",
                       "http://[h]/",    "example.com/", "http://h/\n"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    iom_http_url u;
    if (iom_http_url_parse(refused[i], &u) != -EINVAL)
      fail_msg("'%s' was accepted", refused[i]);
  }
  char longhost[400] = "http://";
  memset(longhost + 7, 'a', 300);
  iom_http_url u;
  assert_int_equal(iom_http_url_parse(longhost, &u), -ENAMETOOLONG);
  char buf[64];
  assert_int_equal(iom_http_url_parse("https://[::1]:444/x", &u), 0);
  iom_http_url_format(&u, buf, sizeof buf);
  assert_string_equal(buf, "https://[::1]:444/x");
  iom_http_url_clear(&u);
}

static void check_resolve(const char *base, const char *ref,
                          const char *want) {
  iom_http_url b, r;
  char buf[256];
  assert_int_equal(iom_http_url_parse(base, &b), 0);
  int err = iom_http_url_resolve(&b, ref, &r);
  if (err)
    fail_msg("'%s' on '%s': %d", ref, base, err);
  iom_http_url_format(&r, buf, sizeof buf);
  if (strcmp(buf, want))
    fail_msg("'%s' on '%s': got '%s', want '%s'", ref, base, buf, want);
  iom_http_url_clear(&b);
  iom_http_url_clear(&r);
}

/* RFC 3986 5.4's normal examples (those an http base can have), and the
 * three shapes a Location takes. */
static void test_url_resolve(void **state) {
  (void)state;
  const char *base = "http://a/b/c/d;p?q";
  struct {
    const char *ref, *want;
  } ex[] = {
      {"g", "http://a/b/c/g"},        {"./g", "http://a/b/c/g"},
      {"g/", "http://a/b/c/g/"},      {"/g", "http://a/g"},
      {"//g", "http://g/"},           {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},    {"#s", "http://a/b/c/d;p?q"},
      {"g#s", "http://a/b/c/g"},      {";x", "http://a/b/c/;x"},
      {"", "http://a/b/c/d;p?q"},     {".", "http://a/b/c/"},
      {"./", "http://a/b/c/"},        {"..", "http://a/b/"},
      {"../", "http://a/b/"},         {"../g", "http://a/b/g"},
      {"../..", "http://a/"},         {"../../g", "http://a/g"},
      {"../../../g", "http://a/g"},   {"/./g", "http://a/g"},
      {"/../g", "http://a/g"},        {"g.", "http://a/b/c/g."},
      {"./../g", "http://a/b/g"},     {"g/./h", "http://a/b/c/g/h"},
      {"g/../h", "http://a/b/c/h"},   {"https://x:1/y", "https://x:1/y"},
  };
  for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++)
    check_resolve(base, ex[i].ref, ex[i].want);
  check_resolve("https://h:8443/a/b", "//other/p", "https://other/p");
  check_resolve("https://h:8443/a/b", "/abs?x", "https://h:8443/abs?x");
  iom_http_url b, r;
  assert_int_equal(iom_http_url_parse(base, &b), 0);
  assert_int_equal(iom_http_url_resolve(&b, "ftp://x/", &r), -EINVAL);
  assert_int_equal(iom_http_url_resolve(&b, "a b", &r), -EINVAL);
  iom_http_url_clear(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good),
      cmocka_unit_test(test_bad),
      cmocka_unit_test(test_header_cap),
      cmocka_unit_test(test_leftover_and_reset),
      cmocka_unit_test(test_callback_stops),
      cmocka_unit_test(test_url_parse),
      cmocka_unit_test(test_url_resolve),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
