/* The HTTP/1.1 response parser: incremental, no I/O.
 *
 * Bytes come in any split. Lines (the status line, header and trailer
 * fields, chunk-size lines) are taken straight from the caller's buffer
 * when they are whole in it; only a line cut by the end of a buffer is
 * copied, into `line`, until its end arrives. Body bytes are never copied:
 * on_body gets pointers into the caller's buffer. So a parser costs its
 * struct, plus a line buffer (allocated the first time a line is split,
 * at most IOM_HTTP_MAX_HEADER) kept for the next response.
 *
 * What it refuses, each with a reason (RFC 9112 where it has a word):
 *   - a status line that is not "HTTP/1.x DDD[ reason]";
 *   - obs-fold (a field line starting with white space: 5.2 says a client
 *     may refuse it; folding is how header smuggling hides);
 *   - a field name with white space before the colon, or control bytes;
 *   - a header block (or trailer block) over IOM_HTTP_MAX_HEADER;
 *   - a Content-Length that is not digits, or two that differ;
 *   - a chunk size that is not hex or overflows 63 bits, a chunk not
 *     followed by CRLF;
 *   - a 101 (we never ask to switch protocols).
 * 1xx interim responses are skipped whole; HEAD, 204 and 304 have no body;
 * Transfer-Encoding wins over Content-Length (6.3), and one that does not
 * end in "chunked" means the body runs to the end of the connection.
 */
#include "iomux/http.h"

#include "http_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define CHUNK_LINE_MAX 4096 /* a chunk-size line, extensions included */

enum {
  S_STATUS,     /* the status line */
  S_HEADER,     /* header fields until the empty line */
  S_BODY,       /* Content-Length bytes */
  S_EOF_BODY,   /* everything until the connection ends */
  S_CHUNK_SIZE, /* a chunk-size line */
  S_CHUNK_DATA,
  S_CHUNK_CR,   /* the CRLF after a chunk's data */
  S_CHUNK_LF,
  S_TRAILER,    /* trailer fields until the empty line */
  S_DONE,
  S_ERROR
};

struct iom_http_parser {
  const iom_http_parser_cbs *cbs;
  void *data;
  int state;
  int head;    /* answers a HEAD request */
  int version; /* 10 or 11 */
  int status;
  int framing;
  int64_t clen;   /* Content-Length, -1 when none */
  int64_t remain; /* body or chunk bytes still to come */
  size_t block;   /* bytes of the current header or trailer block */
  unsigned conn_close : 1, conn_keep : 1, chunked : 1, te_seen : 1,
      started : 1, done_told : 1;
  int err;
  const char *reason;
  char *line; /* an unfinished line */
  size_t line_len, line_cap;
};

static const iom_http_parser_cbs no_cbs;

int iom_http_parser_new(const iom_http_parser_cbs *cbs, void *data,
                        iom_http_parser **out) {
  iom_http_parser *p = iom__calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  p->cbs = cbs ? cbs : &no_cbs;
  p->data = data;
  iom_http_parser_reset(p, 0);
  *out = p;
  return 0;
}

void iom_http_parser_free(iom_http_parser *p) {
  if (!p)
    return;
  iom__free(p->line);
  iom__free(p);
}

/* The part of the state that a 1xx response resets too. */
static void reset_message(iom_http_parser *p) {
  p->state = S_STATUS;
  p->version = 0;
  p->status = 0;
  p->framing = IOM_HTTP_NO_BODY;
  p->clen = -1;
  p->remain = 0;
  p->block = 0;
  p->conn_close = p->conn_keep = p->chunked = p->te_seen = 0;
}

void iom_http_parser_reset(iom_http_parser *p, int head) {
  reset_message(p);
  p->head = head != 0;
  p->started = 0;
  p->done_told = 0;
  p->err = 0;
  p->reason = "";
  p->line_len = 0;
}

static long fail(iom_http_parser *p, int err, const char *reason) {
  p->state = S_ERROR;
  p->err = err;
  p->reason = reason;
  return err;
}

#define CALL(p, cb, ...)                                                       \
  ((p)->cbs->cb && (p)->cbs->cb((p)->data, __VA_ARGS__))
#define CALL0(p, cb) ((p)->cbs->cb && (p)->cbs->cb((p)->data))

/* ---- lines ---------------------------------------------------------------- */

/* Find the next line in buf. Returns 1 with *line (without its CRLF or LF)
 * when one is complete, *used set to the bytes it took from buf; 0 when
 * buf ended first (all of it was kept, *used = len); or an error. `cap` is
 * the most a line may hold, `*count` the bytes charged to the block. */
static long take_line(iom_http_parser *p, const char *buf, size_t len,
                      size_t cap, size_t *count, size_t *used,
                      const char **line, size_t *line_len) {
  const char *nl = memchr(buf, '\n', len);
  size_t n = nl ? (size_t)(nl - buf) + 1 : len;
  *used = n;
  *count += n;
  if (*count > cap)
    return cap == CHUNK_LINE_MAX
               ? fail(p, -EPROTO, "chunk-size line too long")
               : fail(p, -EMSGSIZE, "header block over 64 KiB");
  if (nl && p->line_len == 0) {
    *line = buf;
    *line_len = n - 1;
  } else {
    if (p->line_len + n > p->line_cap) {
      size_t want = p->line_cap ? p->line_cap : 256;
      while (want < p->line_len + n)
        want *= 2;
      char *bigger = iom__malloc(want);
      if (!bigger)
        return fail(p, -ENOMEM, "out of memory");
      if (p->line_len)
        memcpy(bigger, p->line, p->line_len);
      iom__free(p->line);
      p->line = bigger;
      p->line_cap = want;
    }
    memcpy(p->line + p->line_len, buf, n);
    p->line_len += n;
    if (!nl)
      return 0;
    *line = p->line;
    *line_len = p->line_len - 1;
    p->line_len = 0; /* the caller uses the line before the next take */
  }
  if (*line_len > 0 && (*line)[*line_len - 1] == '\r')
    (*line_len)--;
  return 1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int iom__http_casecmp(const char *a, size_t alen, const char *b) {
  size_t blen = strlen(b);
  if (alen != blen)
    return 1;
  for (size_t i = 0; i < alen; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
      return 1;
  return 0;
}

/* Whether the comma-separated list v holds `token` (case ignored); *last
 * is set to whether the last element is it. */
static int list_has(const char *v, size_t n, const char *token, int *last) {
  int found = 0;
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    size_t start = i;
    while (i < n && v[i] != ',')
      i++;
    size_t end = i;
    while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
      end--;
    if (end == start)
      continue;
    int is = iom__http_casecmp(v + start, end - start, token) == 0;
    found |= is;
    if (last)
      *last = is;
  }
  return found;
}

/* ---- the status line and fields ------------------------------------------- */

static long status_line(iom_http_parser *p, const char *l, size_t n) {
  if (n < 12 || memcmp(l, "HTTP/1.", 7) || (l[7] != '0' && l[7] != '1') ||
      l[8] != ' ' || !is_digit(l[9]) || !is_digit(l[10]) ||
      !is_digit(l[11]) || (n > 12 && l[12] != ' '))
    return fail(p, -EPROTO, "bad status line");
  p->version = l[7] == '1' ? 11 : 10;
  p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
  if (p->status < 100 || p->status > 599)
    return fail(p, -EPROTO, "bad status code");
  if (p->status == 101)
    return fail(p, -EPROTO, "unexpected 101 Switching Protocols");
  for (size_t i = 13; i < n; i++)
    if ((unsigned char)l[i] < 0x20 && l[i] != '\t')
      return fail(p, -EPROTO, "bad status line");
  p->state = S_HEADER;
  if (p->status >= 200) {
    const char *reason = n > 13 ? l + 13 : "";
    if (CALL(p, on_status, p->version, p->status, reason, n > 13 ? n - 13 : 0))
      return fail(p, -ECANCELED, "stopped by a callback");
  }
  return 0;
}

static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static long content_length(iom_http_parser *p, const char *v, size_t n) {
  int64_t x = 0;
  if (n == 0)
    return fail(p, -EPROTO, "bad Content-Length");
  for (size_t i = 0; i < n; i++) {
    if (!is_digit(v[i]) || x > (INT64_MAX - 9) / 10)
      return fail(p, -EPROTO, "bad Content-Length");
    x = x * 10 + (v[i] - '0');
  }
  if (p->clen >= 0 && p->clen != x)
    return fail(p, -EPROTO, "conflicting Content-Length");
  p->clen = x;
  return 0;
}

/* A field of the header (trailer 0) or trailer block. */
static long field_line(iom_http_parser *p, const char *l, size_t n,
                       int trailer) {
  if (l[0] == ' ' || l[0] == '\t')
    return fail(p, -EPROTO, "obs-fold header line");
  size_t colon = 0;
  while (colon < n && is_tchar((unsigned char)l[colon]))
    colon++;
  if (colon == 0 || colon == n || l[colon] != ':')
    return fail(p, -EPROTO, "bad header line");
  size_t v = colon + 1, end = n;
  while (v < end && (l[v] == ' ' || l[v] == '\t'))
    v++;
  while (end > v && (l[end - 1] == ' ' || l[end - 1] == '\t'))
    end--;
  for (size_t i = v; i < end; i++) {
    unsigned char c = (unsigned char)l[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return fail(p, -EPROTO, "control character in a header");
  }
  if (p->status < 200)
    return 0; /* a 1xx's fields are dropped with it */
  if (!trailer) {
    long err = 0;
    if (iom__http_casecmp(l, colon, "content-length") == 0)
      err = content_length(p, l + v, end - v);
    else if (iom__http_casecmp(l, colon, "transfer-encoding") == 0) {
      int last = 0;
      p->te_seen = 1;
      list_has(l + v, end - v, "chunked", &last);
      p->chunked = last != 0;
    } else if (iom__http_casecmp(l, colon, "connection") == 0) {
      p->conn_close |= list_has(l + v, end - v, "close", NULL);
      p->conn_keep |= list_has(l + v, end - v, "keep-alive", NULL);
    }
    if (err < 0)
      return err;
  }
  if (CALL(p, on_header, trailer, l, colon, l + v, end - v))
    return fail(p, -ECANCELED, "stopped by a callback");
  return 0;
}

/* on_done itself is called by feed (or eof) once the bytes of the response
 * are all used, so it may reset or free nothing under our feet. */
static long complete(iom_http_parser *p) {
  p->state = S_DONE;
  return 0;
}

/* The empty line after the header fields: choose the framing (RFC 9112,
 * 6.3) and move on. */
static long headers_done(iom_http_parser *p) {
  if (p->status < 200) {
    reset_message(p); /* 100 Continue, 103 Early Hints: skipped */
    return 0;
  }
  if (CALL0(p, on_headers_done))
    return fail(p, -ECANCELED, "stopped by a callback");
  if (p->head || p->status == 204 || p->status == 304)
    p->framing = IOM_HTTP_NO_BODY;
  else if (p->te_seen)
    p->framing = p->chunked ? IOM_HTTP_CHUNKED : IOM_HTTP_UNTIL_EOF;
  else if (p->clen >= 0)
    p->framing = p->clen ? IOM_HTTP_LENGTH : IOM_HTTP_NO_BODY;
  else
    p->framing = IOM_HTTP_UNTIL_EOF;
  switch (p->framing) {
  case IOM_HTTP_LENGTH:
    p->remain = p->clen;
    p->state = S_BODY;
    return 0;
  case IOM_HTTP_CHUNKED:
    p->state = S_CHUNK_SIZE;
    p->block = 0;
    return 0;
  case IOM_HTTP_UNTIL_EOF:
    p->state = S_EOF_BODY;
    return 0;
  default:
    return complete(p);
  }
}

/* ---- chunks --------------------------------------------------------------- */

static int hex_value(char c) {
  if (is_digit(c))
    return c - '0';
  c = (char)lower((unsigned char)c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static long chunk_size(iom_http_parser *p, const char *l, size_t n) {
  int64_t size = 0;
  size_t i = 0;
  for (; i < n && hex_value(l[i]) >= 0; i++) {
    if (size > (INT64_MAX >> 4))
      return fail(p, -EPROTO, "chunk size overflows");
    size = size * 16 + hex_value(l[i]);
  }
  if (i == 0 || (i < n && l[i] != ';' && l[i] != ' ' && l[i] != '\t'))
    return fail(p, -EPROTO, "bad chunk size");
  p->block = 0;
  if (size == 0) {
    p->state = S_TRAILER;
    return 0;
  }
  p->remain = size;
  p->state = S_CHUNK_DATA;
  return 0;
}

/* ---- feeding -------------------------------------------------------------- */

/* A line-shaped state: take one line and act on it. Returns the bytes
 * used, or an error. */
static long line_state(iom_http_parser *p, const char *buf, size_t len) {
  const char *l = NULL;
  size_t n = 0, used;
  int chunk = p->state == S_CHUNK_SIZE;
  long r = take_line(p, buf, len, chunk ? CHUNK_LINE_MAX : IOM_HTTP_MAX_HEADER,
                     &p->block, &used, &l, &n);
  if (r <= 0)
    return r < 0 ? r : (long)used;
  switch (p->state) {
  case S_STATUS:
    r = status_line(p, l, n);
    break;
  case S_CHUNK_SIZE:
    r = chunk_size(p, l, n);
    break;
  case S_HEADER:
    r = n == 0 ? headers_done(p) : field_line(p, l, n, 0);
    break;
  default: /* S_TRAILER */
    r = n == 0 ? complete(p) : field_line(p, l, n, 1);
  }
  return r < 0 ? r : (long)used;
}

static long body_state(iom_http_parser *p, const char *buf, size_t len) {
  size_t n = len;
  if (p->state != S_EOF_BODY && (uint64_t)p->remain < n)
    n = (size_t)p->remain;
  if (CALL(p, on_body, buf, n))
    return fail(p, -ECANCELED, "stopped by a callback");
  if (p->state == S_EOF_BODY)
    return (long)n;
  p->remain -= (int64_t)n;
  if (p->remain == 0) {
    if (p->state == S_CHUNK_DATA)
      p->state = S_CHUNK_CR;
    else
      complete(p);
  }
  return (long)n;
}

long iom_http_parser_feed(iom_http_parser *p, const char *buf, size_t len) {
  size_t off = 0;
  if (p->state == S_ERROR)
    return p->err;
  if (len)
    p->started = 1;
  while (off < len && p->state != S_DONE) {
    long r;
    switch (p->state) {
    case S_BODY:
    case S_EOF_BODY:
    case S_CHUNK_DATA:
      r = body_state(p, buf + off, len - off);
      break;
    case S_CHUNK_CR:
      if (buf[off] == '\r') {
        p->state = S_CHUNK_LF;
        r = 1;
        break;
      }
      /* A bare LF is taken as CRLF, as for every line. */
      /* fall through */
    case S_CHUNK_LF:
      if (buf[off] != '\n')
        return fail(p, -EPROTO, "chunk data not followed by CRLF");
      p->state = S_CHUNK_SIZE;
      r = 1;
      break;
    default:
      r = line_state(p, buf + off, len - off);
    }
    if (r < 0)
      return r;
    off += (size_t)r;
  }
  if (p->state == S_DONE && !p->done_told) {
    p->done_told = 1;
    if (CALL0(p, on_done))
      return fail(p, -ECANCELED, "stopped by a callback");
  }
  return (long)off;
}

int iom_http_parser_eof(iom_http_parser *p) {
  switch (p->state) {
  case S_DONE:
    return 0;
  case S_ERROR:
    return p->err;
  case S_EOF_BODY:
    p->state = S_DONE;
    p->done_told = 1;
    (void)CALL0(p, on_done); /* nothing is left to stop */
    return 0;
  case S_STATUS:
    if (!p->started)
      return (int)fail(p, -EPROTO, "connection closed before the response");
    /* fall through */
  case S_HEADER:
    return (int)fail(p, -EPROTO, "connection closed in the headers");
  default:
    return (int)fail(p, -EPROTO,
                     "connection closed before the end of the body");
  }
}

int iom_http_parser_done(const iom_http_parser *p) {
  return p->state == S_DONE;
}

int iom_http_parser_keep_alive(const iom_http_parser *p) {
  if (p->framing == IOM_HTTP_UNTIL_EOF || p->conn_close ||
      (p->te_seen && p->clen >= 0))
    return 0;
  return p->version == 11 || p->conn_keep;
}

iom_http_framing iom_http_parser_framing(const iom_http_parser *p) {
  return (iom_http_framing)p->framing;
}

int64_t iom_http_parser_content_length(const iom_http_parser *p) {
  return p->te_seen ? -1 : p->clen;
}

int iom_http_parser_started(const iom_http_parser *p) { return p->started; }

const char *iom_http_parser_reason(const iom_http_parser *p) {
  return p->reason;
}
