/* libFuzzer target: the HTTP response parser and URL resolution.
 *
 * The first byte chooses how the input is cut into pieces (the parser must
 * give the same events for every split, so the target also feeds the same
 * bytes whole and compares) and whether the response answers a HEAD; the
 * rest is the response. The input's first line, taken as a Location, is
 * also resolved against a fixed base URL. Any crash, leak, sanitizer
 * report, or a difference between the split and whole runs is a bug.
 *
 * Build and run: tests/fuzz/http/run.sh fuzz SECONDS (clang needed). */
#include "iomux/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct sum {
  uint64_t hash; /* of every event, in order */
  size_t body;
} sum;

static void mix(sum *s, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    s->hash = (s->hash ^ b[i]) * 1099511628211ull;
}

static int on_status(void *d, int v, int st, const char *r, size_t n) {
  int x[2] = {v, st};
  mix(d, x, sizeof x);
  mix(d, r, n);
  return 0;
}
static int on_header(void *d, int t, const char *k, size_t kn, const char *v,
                     size_t vn) {
  mix(d, &t, sizeof t);
  mix(d, k, kn);
  mix(d, "=", 1);
  mix(d, v, vn);
  return 0;
}
static int on_headers_done(void *d) {
  mix(d, "D", 1);
  return 0;
}
static int on_body(void *d, const char *b, size_t n) {
  mix(d, b, n);
  ((sum *)d)->body += n;
  return 0;
}
static int on_done(void *d) {
  mix(d, "E", 1);
  return 0;
}
static const iom_http_parser_cbs cbs = {on_status, on_header, on_headers_done,
                                        on_body, on_done};

/* Feed buf in pieces of `step` bytes (0: whole); then EOF. Returns the
 * outcome's fingerprint. */
static uint64_t parse(const char *buf, size_t len, size_t step, int head) {
  sum s = {1469598103934665603ull, 0};
  iom_http_parser *p;
  if (iom_http_parser_new(&cbs, &s, &p))
    abort();
  iom_http_parser_reset(p, head);
  size_t off = 0;
  long err = 0;
  while (off < len) {
    size_t n = step && step < len - off ? step : len - off;
    long used = iom_http_parser_feed(p, buf + off, n);
    if (used < 0) {
      err = used;
      break;
    }
    if ((size_t)used > n)
      abort();
    off += (size_t)used;
    if ((size_t)used < n) {
      if (!iom_http_parser_done(p))
        abort(); /* only a complete response leaves bytes unused */
      break;
    }
  }
  if (!err)
    err = iom_http_parser_eof(p);
  mix(&s, &err, sizeof err);
  if (!err)
    mix(&s, &off, sizeof off); /* after an error: how far each feed got */
  int done = iom_http_parser_done(p);
  mix(&s, &done, sizeof done);
  if (err && !*iom_http_parser_reason(p))
    abort(); /* every error says why */
  iom_http_parser_free(p);
  return s.hash;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t step = data[0] & 0x3f;
  int head = (data[0] & 0x40) != 0;
  const char *buf = (const char *)data + 1;
  size_t len = size - 1;
  if (parse(buf, len, 0, head) != parse(buf, len, step, head))
    abort(); /* a split changed the result */

  /* The first line as a Location. */
  size_t n = 0;
  while (n < len && n < 512 && buf[n] != '\n' && buf[n] != '\0')
    n++;
  char loc[513];
  memcpy(loc, buf, n);
  loc[n] = '\0';
  iom_http_url base, out;
  if (iom_http_url_parse("https://example.com:8443/a/b/c?q=1", &base))
    abort();
  if (iom_http_url_resolve(&base, loc, &out) == 0) {
    char text[2048];
    iom_http_url_format(&out, text, sizeof text);
    if (out.target[0] != '/')
      abort();
    iom_http_url_clear(&out);
  }
  iom_http_url_clear(&base);
  return 0;
}
