/* iomux: an HTTP/1.1 client on the loop.
 *
 * Three parts, usable apart:
 *   - the response parser (iom_http_parser): incremental, no I/O; it
 *     allocates only to hold a line cut by the end of a buffer (at most
 *     IOM_HTTP_MAX_HEADER, kept for reuse); bytes may arrive in any split.
 *     The client drives it, and so can a fuzzer or a test;
 *   - URLs (iom_http_url): parse http:// and https:// URLs and resolve a
 *     reference (a redirect's Location) against a base;
 *   - the client (iom_http_client): requests over iomux streams, with a
 *     per-host keep-alive pool, per-host and global concurrency limits (the
 *     requests beyond wait in a queue), names resolved on the worker pool
 *     (pool.h), IPv4 and IPv6 (the next address is tried when one fails),
 *     connect and total timeouts, redirects, cancel, and HTTPS through
 *     OpenSSL when the library was built with it.
 *
 * A request's life:
 *
 *   iom_http_request --> queued --> resolving --> connecting --> sent
 *        --> on_response --> on_body ... --> on_done(0)
 *   any state --error, timeout, iom_http_cancel--> on_done(-errno)
 *
 * Every request that iom_http_request accepted ends with exactly one
 * on_done, always on a later loop turn than the call that ended it; if
 * iom_http_request fails, no callback runs. The request's memory is the
 * library's and is released when on_done returns.
 *
 * Errors are negative errno values; where errno is too coarse (every
 * malformed response is -EPROTO) iom_http_req_reason() says what was wrong
 * ("bad chunk size").
 *
 * Threads: loop thread only. The parser and URL functions touch no global
 * state: any thread, one object per thread at a time.
 */
#ifndef IOMUX_HTTP_H
#define IOMUX_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "iomux/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the response parser ------------------------------------------------- */

/* The largest status line + header block (and trailer block) accepted. */
#define IOM_HTTP_MAX_HEADER (64 * 1024)

typedef struct iom_http_parser iom_http_parser;

/* What the parser reports. Every callback may be NULL; each returns 0 to go
 * on or nonzero to stop iom_http_parser_feed at once (it then returns
 * -ECANCELED). Strings are not NUL-terminated and are valid during the
 * call only. */
typedef struct iom_http_parser_cbs {
  /* The status line of the final response (1xx responses are skipped
   * whole). version is 10 or 11. */
  int (*on_status)(void *data, int version, int status, const char *reason,
                   size_t reason_len);
  /* One header (trailer 0) or trailer field (trailer 1), white space
   * trimmed from the value. */
  int (*on_header)(void *data, int trailer, const char *name,
                   size_t name_len, const char *value, size_t value_len);
  /* The header block is over; the body (if any) follows. */
  int (*on_headers_done)(void *data);
  /* Body bytes, de-chunked, in order. */
  int (*on_body)(void *data, const char *buf, size_t len);
  /* The response is complete. */
  int (*on_done)(void *data);
} iom_http_parser_cbs;

/* How the body is delimited (known once the headers are done). */
typedef enum iom_http_framing {
  IOM_HTTP_NO_BODY = 0,  /* HEAD, 204, 304, Content-Length: 0 */
  IOM_HTTP_LENGTH = 1,   /* Content-Length */
  IOM_HTTP_CHUNKED = 2,  /* Transfer-Encoding: chunked */
  IOM_HTTP_UNTIL_EOF = 3 /* neither: the body ends when the connection does */
} iom_http_framing;

/* A parser for one response at a time. Returns 0 and sets *out, or
 * -ENOMEM. */
int iom_http_parser_new(const iom_http_parser_cbs *cbs, void *data,
                        iom_http_parser **out);

/* Get ready for the next response; head != 0 if it answers a HEAD request
 * (no body whatever the headers say). Keeps the callbacks. */
void iom_http_parser_reset(iom_http_parser *p, int head);

/* Parse `len` more bytes. Returns the bytes used: all of them, or fewer
 * when the response completed inside the buffer (what follows is not this
 * response's); or -EPROTO (malformed: iom_http_parser_reason says how),
 * -EMSGSIZE (header or trailer block over IOM_HTTP_MAX_HEADER), -ECANCELED
 * (a callback stopped it). After an error the parser stays failed until
 * reset. Calling it on a complete response returns 0. */
long iom_http_parser_feed(iom_http_parser *p, const char *buf, size_t len);

/* The connection ended (EOF). Returns 0 if that completes the response (a
 * body delimited by the end: on_done runs now) or if it was already
 * complete; -EPROTO if the response was cut short ("connection closed
 * before the end of the body", ...). */
int iom_http_parser_eof(iom_http_parser *p);

/* 1 once the response is complete, else 0. */
int iom_http_parser_done(const iom_http_parser *p);

/* Whether the connection may carry another request after this response:
 * HTTP/1.1, no "Connection: close", and a body not delimited by EOF. */
int iom_http_parser_keep_alive(const iom_http_parser *p);

/* The body's framing, and its Content-Length (-1 when none). */
iom_http_framing iom_http_parser_framing(const iom_http_parser *p);
int64_t iom_http_parser_content_length(const iom_http_parser *p);

/* Whether any byte of a response has been seen since the last reset. */
int iom_http_parser_started(const iom_http_parser *p);

/* Why the last error happened: a static string, "" when there was none. */
const char *iom_http_parser_reason(const iom_http_parser *p);

void iom_http_parser_free(iom_http_parser *p);

/* ---- URLs ----------------------------------------------------------------- */

/* The parts of an absolute http or https URL. host is without the brackets
 * of an IPv6 literal; target is the path and query ("/" when the URL has no
 * path), the fragment dropped. */
typedef struct iom_http_url {
  int tls;        /* https */
  int port;       /* explicit, or 80 / 443 */
  char host[256];
  char *target;   /* allocated: iom_http_url_clear frees it */
} iom_http_url;

/* Parse `s`. Returns 0 (free with iom_http_url_clear), -EINVAL (not an
 * http/https URL, no host, a bad port, a space or control character),
 * -ENAMETOOLONG (host over 255 bytes), -ENOMEM. On error *u needs no
 * clearing. */
int iom_http_url_parse(const char *s, iom_http_url *u);

/* Resolve `ref` (absolute, scheme-relative "//host/p", absolute-path
 * "/p", or relative "p", "../p", "?q") against `base` (RFC 3986, 5.2),
 * into *out. Returns as iom_http_url_parse. */
int iom_http_url_resolve(const iom_http_url *base, const char *ref,
                         iom_http_url *out);

/* Write the URL as text into buf (NUL-terminated, cut to size). Returns the
 * length it needs, as snprintf. */
int iom_http_url_format(const iom_http_url *u, char *buf, size_t size);

void iom_http_url_clear(iom_http_url *u);

/* ---- the client ----------------------------------------------------------- */

typedef struct iom_http_client iom_http_client;
typedef struct iom_http_req iom_http_req;

typedef struct iom_http_client_opts {
  int max_per_host;     /* requests in flight per host (scheme, host, port);
                           <= 0: 6 */
  int max_total;        /* requests in flight in all; <= 0: 256 */
  int idle_timeout_ms;  /* an idle keep-alive connection closes after it;
                           <= 0: 30,000 */
  const char *user_agent; /* NULL: "iomux/<version>" */
  /* TLS. Verification (chain against the system store, or ca_file, and the
   * host name) is on unless insecure is set. */
  const char *ca_file;  /* PEM file of trusted CAs instead of the system's */
  int insecure;         /* do not verify the server's certificate */
} iom_http_client_opts;

/* A client on `loop`. `opts` may be NULL. Returns 0 and sets *out;
 * -ENOMEM; -ENOENT (ca_file cannot be read) or -EINVAL (it holds no
 * certificate). A build without OpenSSL ignores the TLS options here and
 * refuses https in iom_http_request. */
int iom_http_client_new(iom_loop *loop, const iom_http_client_opts *opts,
                        iom_http_client **out);

/* Drop every request (no callback of theirs runs any more, on_done
 * neither) and close every connection. The memory goes once the
 * connections have closed, on later loop turns: run the loop until
 * iom_loop_run returns 0 before iom_loop_free. NULL is allowed. */
void iom_http_client_free(iom_http_client *c);

/* Whether the library was built with OpenSSL (https works). */
int iom_http_tls_available(void);

typedef struct iom_http_header {
  const char *name, *value; /* NUL-terminated */
} iom_http_header;

/* The response, as on_response sees it. Valid during that call only. */
typedef struct iom_http_response {
  int status;                    /* 200, 404, ... */
  int version;                   /* 10 or 11 */
  const char *reason;            /* "OK" */
  const iom_http_header *headers;
  size_t nheaders;
  int64_t content_length;        /* -1 when the response has none */
  const char *url;               /* the URL answered (after redirects) */
} iom_http_response;

/* The first header named `name` (ASCII case ignored), or NULL. */
const char *iom_http_response_header(const iom_http_response *r,
                                     const char *name);

/* The callbacks of a request. Any may be NULL. The struct must outlive the
 * request (a static const struct is the usual choice). */
typedef struct iom_http_req_cbs {
  /* The final response's status and headers (redirects followed are not
   * shown). */
  void (*on_response)(iom_http_req *req, const iom_http_response *resp,
                      void *data);
  /* Body bytes as they arrive, never the whole body at once. `buf` is
   * valid during the call only. */
  void (*on_body)(iom_http_req *req, const char *buf, size_t len,
                  void *data);
  /* The end: err 0 once the whole response arrived, else -ETIMEDOUT,
   * -ECONNREFUSED, -ECONNRESET, -EPROTO (see iom_http_req_reason),
   * -EMSGSIZE, -ELOOP (too many redirects), -ECANCELED (iom_http_cancel),
   * -EHOSTUNREACH (the name did not resolve), -EPROTONOSUPPORT, ... The
   * request is freed when this returns. */
  void (*on_done)(iom_http_req *req, int err, void *data);
} iom_http_req_cbs;

typedef struct iom_http_request_opts {
  const char *method;            /* NULL: "GET" */
  const char *url;               /* absolute http:// or https:// URL */
  const iom_http_header *headers; /* extra request headers (a Host or
                                     User-Agent given here replaces ours) */
  size_t nheaders;
  const void *body;              /* copied as needed: free on return */
  size_t body_len;
  int follow_redirects;          /* 301/302/303/307/308 */
  int max_redirects;             /* <= 0: 10 */
  int connect_timeout_ms;        /* per address tried; <= 0: none */
  int timeout_ms;                /* the whole request; <= 0: none */
} iom_http_request_opts;

/* Start a request. Every string and buffer in `o` is copied: free on
 * return. Returns 0 and, if out is not NULL, the request in *out (valid
 * until on_done returns); -EINVAL (a bad URL or method: no callback runs);
 * -EPROTONOSUPPORT (https in a build without OpenSSL); -ENOMEM. */
int iom_http_request(iom_http_client *c, const iom_http_request_opts *o,
                     const iom_http_req_cbs *cbs, void *data,
                     iom_http_req **out);

/* GET `url`, redirects followed, no timeouts: iom_http_request's
 * shorthand. */
int iom_http_get(iom_http_client *c, const char *url,
                 const iom_http_req_cbs *cbs, void *data, iom_http_req **out);

/* Cancel: no more callbacks but on_done(-ECANCELED), on a later turn. The
 * connection it was using is closed (a half-read response cannot be
 * reused). Cancelling a request that is already ending does nothing. */
void iom_http_cancel(iom_http_req *req);

/* Why the request failed, in words, where its error code is too coarse
 * ("bad chunk size", "bad status line", "TLS: certificate verify failed");
 * "" when there is nothing to add. Valid until on_done returns. */
const char *iom_http_req_reason(const iom_http_req *req);

void *iom_http_req_data(const iom_http_req *req);

typedef struct iom_http_client_stats {
  uint64_t requests;      /* requests completed (any outcome) */
  uint64_t connections;   /* connections opened (connect attempts that
                             succeeded) */
  uint64_t reused;        /* requests sent on a kept-alive connection */
  uint64_t tls_handshakes;
  uint64_t tls_resumed;   /* handshakes that resumed a session */
  uint64_t lookups;       /* names resolved on the pool */
  int active;             /* requests holding a slot now */
  int queued;             /* requests waiting for one */
  int idle;               /* idle connections kept */
} iom_http_client_stats;

void iom_http_client_stats_get(const iom_http_client *c,
                               iom_http_client_stats *st);

#ifdef __cplusplus
}
#endif

#endif
