/* A connection: opened address after address, a request sent, the
 * response parsed as it arrives, then kept idle for the next request of its
 * host or closed.
 *
 * Connect: the host's addresses are tried in turn, starting from the one
 * that worked last (happy-eyeballs-lite: no racing, but a refused or timed
 * out address costs one attempt and the next one is tried, IPv6 and IPv4
 * alternating as the lookup left them). Each attempt has the request's
 * connect timeout.
 *
 * Reading: bytes go from the stream (or the TLS filter, tls.c) to the
 * parser, and from the parser's callbacks to the request's, body bytes
 * without a copy. The response's head is kept in hbuf (bounded by the
 * parser's 64 KiB cap) and shown to on_response all at once. A callback may
 * cancel its own request or free the client: every parser callback checks
 * that the connection still has its request and stops the parser if not.
 *
 * Keep-alive: a connection whose response was complete, HTTP/1.1 and not
 * "Connection: close", with no byte past the response, goes to its host's
 * idle list with a timer. A server may close an idle connection just as we
 * send on it: a request that gets EOF or a reset before any byte of its
 * response, on a connection that had served one before, is sent again once
 * on a fresh connection (only for methods that are safe to repeat).
 *
 * The connection's memory is freed from its stream's on_close, the one
 * place every ending passes through.
 */
#include "http_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

static void on_connect(iom_stream *s, void *data);
static void on_read(iom_stream *s, const char *buf, size_t len, void *data);
static void on_eof(iom_stream *s, void *data);
static void on_close(iom_stream *s, int err, void *data);

static const iom_stream_cbs conn_cbs = {
    .on_connect = on_connect,
    .on_read = on_read,
    .on_eof = on_eof,
    .on_close = on_close,
};

static int p_status(void *data, int version, int status, const char *reason,
                    size_t reason_len);
static int p_header(void *data, int trailer, const char *name, size_t nlen,
                    const char *value, size_t vlen);
static int p_headers_done(void *data);
static int p_body(void *data, const char *buf, size_t len);

static const iom_http_parser_cbs parser_cbs = {
    .on_status = p_status,
    .on_header = p_header,
    .on_headers_done = p_headers_done,
    .on_body = p_body,
};

static void conn_free(http_conn *k) {
  iom_http_client *c = k->client;
  if (iom__list_linked(&k->link)) {
    iom__list_remove(&k->link);
    c->idle--;
  }
  iom__list_remove(&k->all);
  http_tls_free(k);
  iom_http_parser_free(k->parser);
  iom_timer_free(k->idle_timer);
  iom__free(k->hbuf);
  iom__free(k->hoff);
  iom__free(k->hdrs);
  iom__free(k);
  http_client_unref(c);
}

/* Take the request off the connection. */
static iom_http_req *detach(http_conn *k) {
  iom_http_req *r = k->req;
  k->req = NULL;
  if (r)
    r->conn = NULL;
  return r;
}

static void leave_idle(http_conn *k) {
  if (iom__list_linked(&k->link)) {
    iom__list_remove(&k->link);
    k->client->idle--;
  }
  if (k->idle_timer)
    iom_timer_stop(k->idle_timer);
}

/* Close after what is queued is sent (a response read to its end). */
static void conn_close(http_conn *k) {
  leave_idle(k);
  k->closing = 1;
  if (k->stream)
    iom_stream_close(k->stream);
}

void http_conn_abort(http_conn *k) {
  leave_idle(k);
  k->closing = 1;
  if (k->stream)
    iom_stream_abort(k->stream);
}

void http_conn_fail(http_conn *k, int err, const char *reason) {
  iom_http_req *r = detach(k);
  if (r)
    http_req_end(r, err, reason);
  http_conn_abort(k);
}

/* ---- connecting ------------------------------------------------------------ */

/* Start an attempt on the next address not tried. When none can even
 * start, the request fails and the connection is freed: the caller must
 * not touch k after a return value of -1. */
static int connect_next(http_conn *k) {
  http_host *h = k->host;
  int err = -EHOSTUNREACH;
  while (k->tried < h->naddrs) {
    k->addr = (h->good + k->tried++) % h->naddrs;
    int timeout = k->req ? k->req->connect_timeout_ms : 0;
    err = iom_stream_connect_addr(k->client->loop,
                                  (struct sockaddr *)&h->addrs[k->addr],
                                  h->addrlens[k->addr], timeout, &conn_cbs, k,
                                  &k->stream);
    if (err == 0) {
      iom__stream_hide(k->stream); /* the client's: not the app's to close */
      return 0;
    }
  }
  k->stream = NULL;
  iom_http_req *r = detach(k);
  if (r)
    http_req_end(r, err, "could not connect");
  conn_free(k);
  return -1;
}

void http_conn_open(http_host *h, iom_http_req *r) {
  iom_http_client *c = h->client;
  http_conn *k = iom__calloc(1, sizeof *k);
  if (!k || iom_http_parser_new(&parser_cbs, k, &k->parser) < 0) {
    iom__free(k);
    http_req_end(r, -ENOMEM, "out of memory");
    return;
  }
  k->host = h;
  k->client = c;
  c->refs++;
  iom__list_push_back(&c->conns, &k->all);
  k->req = r;
  r->conn = k;
  r->state = REQ_CONNECT;
  connect_next(k);
}

static void on_connect(iom_stream *s, void *data) {
  http_conn *k = data;
  int one = 1;
  setsockopt(iom_stream_fd(s), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  k->connected = 1;
  k->host->good = k->addr;
  k->client->stats.connections++;
  if (k->host->tls)
    http_tls_start(k); /* http_conn_ready follows the handshake */
  else
    http_conn_ready(k);
}

/* ---- sending ---------------------------------------------------------------- */

int http_conn_write(http_conn *k, const void *buf, size_t len) {
  if (k->tls)
    return http_tls_write(k, buf, len);
  return iom_stream_write(k->stream, buf, len);
}

static void send_request(http_conn *k) {
  iom_http_req *r = k->req;
  char *head;
  size_t len;
  r->state = REQ_SENT;
  k->requests++;
  k->redirect = 0;
  k->hlen = k->nh = 0;
  iom_http_parser_reset(k->parser, r->head);
  int err = http_req_head(r, &head, &len);
  if (err < 0) {
    http_conn_fail(k, err, "out of memory");
    return;
  }
  if (r->body_len && !k->tls)
    iom_stream_cork(k->stream); /* the head and body in one writev */
  err = http_conn_write(k, head, len);
  iom__free(head);
  if (err == 0 && r->body_len)
    err = http_conn_write(k, r->body, r->body_len);
  iom_stream_uncork(k->stream);
  if (err < 0)
    http_conn_fail(k, err, "could not send the request");
}

void http_conn_ready(http_conn *k) {
  if (k->req)
    send_request(k);
  else
    conn_close(k);
}

/* An idle connection takes a request. */
void http_conn_send(http_conn *k, iom_http_req *r) {
  leave_idle(k);
  k->req = r;
  r->conn = k;
  send_request(k);
}

/* ---- the response ----------------------------------------------------------- */

static void on_idle_timeout(iom_timer *t, void *data) {
  (void)t;
  conn_close(data);
}

static void go_idle(http_conn *k) {
  iom_http_client *c = k->client;
  if (!k->idle_timer) {
    if (iom_timer_new(c->loop, on_idle_timeout, k, &k->idle_timer) < 0) {
      conn_close(k);
      return;
    }
    iom__timer_hide(k->idle_timer);
  }
  iom__list_push_back(&k->host->idle, &k->link);
  c->idle++;
  iom_timer_start(k->idle_timer, (uint64_t)c->idle_timeout_ms, 0);
}

/* The response is complete; `extra` bytes followed it. */
static void response_done(http_conn *k, int extra) {
  iom_http_req *r = detach(k);
  if (!extra && !k->closing && !k->client->freeing &&
      iom_http_parser_keep_alive(k->parser))
    go_idle(k);
  else
    conn_close(k);
  if (k->redirect)
    http_req_redirect(r);
  else
    http_req_end(r, 0, "");
}

void http_conn_input(http_conn *k, const char *buf, size_t len) {
  if (!k->req) {
    conn_close(k); /* bytes nobody asked for: the connection is unusable */
    return;
  }
  long used = iom_http_parser_feed(k->parser, buf, len);
  if (used < 0) {
    if (k->req)
      http_conn_fail(k, (int)used, iom_http_parser_reason(k->parser));
    return;
  }
  if (k->req && iom_http_parser_done(k->parser))
    response_done(k, (size_t)used < len);
}

static void on_read(iom_stream *s, const char *buf, size_t len, void *data) {
  (void)s;
  http_conn *k = data;
  if (k->tls)
    http_tls_read(k, buf, len);
  else
    http_conn_input(k, buf, len);
}

/* A request that met the end of a kept-alive connection before any byte of
 * its response goes again, once, on a new connection. */
static int retry(http_conn *k) {
  iom_http_req *r = k->req;
  if (!r || r->retried || k->requests < 2 ||
      iom_http_parser_started(k->parser) || k->client->freeing ||
      (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")))
    return 0;
  detach(k);
  r->retried = 1;
  http_lookup(k->host, r);
  return 1;
}

static void on_eof(iom_stream *s, void *data) {
  http_conn *k = data;
  if (k->req && !retry(k)) {
    int err = iom_http_parser_eof(k->parser);
    if (k->tls && !http_tls_done(k))
      http_conn_fail(k, -EPROTO, "TLS handshake failed: connection closed");
    else if (err < 0)
      http_conn_fail(k, err, iom_http_parser_reason(k->parser));
    else if (k->req)
      response_done(k, 0);
  }
  k->closing = 1;
  leave_idle(k);
  iom_stream_close(s);
}

static void on_close(iom_stream *s, int err, void *data) {
  (void)s;
  http_conn *k = data;
  k->stream = NULL;
  if (k->req && !k->connected) {
    if (k->tried < k->host->naddrs && !k->client->freeing) {
      connect_next(k);
      return;
    }
    iom_http_req *r = detach(k);
    http_req_end(r, err ? err : -ECONNREFUSED,
                 err == -ETIMEDOUT ? "connect timed out" : "could not connect");
  } else if (k->req && !retry(k)) {
    http_req_end(detach(k), err ? err : -ECONNRESET,
                 "connection closed during the response");
  }
  conn_free(k);
}

/* ---- parser callbacks -------------------------------------------------------- */

/* Append n bytes and a NUL to hbuf. Returns the offset, or -1. */
static long hbuf_add(http_conn *k, const char *s, size_t n) {
  if (k->hlen + n + 1 > k->hcap) {
    size_t cap = k->hcap ? k->hcap : 1024;
    while (cap < k->hlen + n + 1)
      cap *= 2;
    char *b = iom__malloc(cap);
    if (!b)
      return -1;
    if (k->hlen)
      memcpy(b, k->hbuf, k->hlen);
    iom__free(k->hbuf);
    k->hbuf = b;
    k->hcap = cap;
  }
  long off = (long)k->hlen;
  memcpy(k->hbuf + k->hlen, s, n);
  k->hbuf[k->hlen + n] = '\0';
  k->hlen += n + 1;
  return off;
}

static int p_status(void *data, int version, int status, const char *reason,
                    size_t reason_len) {
  http_conn *k = data;
  if (!k->req)
    return 1;
  k->status = status;
  k->version = version;
  long off = hbuf_add(k, reason, reason_len);
  k->reason_off = (size_t)off;
  return off < 0;
}

static int p_header(void *data, int trailer, const char *name, size_t nlen,
                    const char *value, size_t vlen) {
  http_conn *k = data;
  if (!k->req)
    return 1;
  if (trailer)
    return 0;
  if (k->nh == k->ncap) {
    size_t cap = k->ncap ? k->ncap * 2 : 16;
    size_t *o = iom__malloc(cap * sizeof *o);
    if (!o)
      return 1;
    if (k->nh)
      memcpy(o, k->hoff, k->nh * sizeof *o);
    iom__free(k->hoff);
    k->hoff = o;
    k->ncap = cap;
  }
  long off = hbuf_add(k, name, nlen);
  if (off < 0 || hbuf_add(k, value, vlen) < 0)
    return 1;
  k->hoff[k->nh++] = (size_t)off;
  return 0;
}

static int build_headers(http_conn *k) {
  if (k->nh > k->hdrs_cap) {
    iom_http_header *h = iom__malloc(k->nh * sizeof *h);
    if (!h)
      return -1;
    iom__free(k->hdrs);
    k->hdrs = h;
    k->hdrs_cap = k->nh;
  }
  for (size_t i = 0; i < k->nh; i++) {
    k->hdrs[i].name = k->hbuf + k->hoff[i];
    k->hdrs[i].value = k->hdrs[i].name + strlen(k->hdrs[i].name) + 1;
  }
  return 0;
}

const char *iom_http_response_header(const iom_http_response *resp,
                                     const char *name) {
  for (size_t i = 0; i < resp->nheaders; i++)
    if (!iom__http_casecmp(resp->headers[i].name,
                           strlen(resp->headers[i].name), name))
      return resp->headers[i].value;
  return NULL;
}

static int is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 ||
         status == 308;
}

static int p_headers_done(void *data) {
  http_conn *k = data;
  iom_http_req *r = k->req;
  if (!r || build_headers(k) < 0)
    return 1;
  iom_http_response resp = {
      .status = k->status,
      .version = k->version,
      .reason = k->hbuf + k->reason_off,
      .headers = k->hdrs,
      .nheaders = k->nh,
      .content_length = iom_http_parser_content_length(k->parser),
      .url = r->urltext,
  };
  const char *loc = iom_http_response_header(&resp, "location");
  if (r->follow && is_redirect(k->status) && loc) {
    size_t n = strlen(loc) + 1;
    iom__free(r->location);
    if (!(r->location = iom__malloc(n)))
      return 1;
    memcpy(r->location, loc, n);
    http_req_redirect_method(r, k->status);
    k->redirect = 1;
    return 0;
  }
  if (r->cbs->on_response)
    r->cbs->on_response(r, &resp, r->data);
  return k->req == NULL;
}

static int p_body(void *data, const char *buf, size_t len) {
  http_conn *k = data;
  iom_http_req *r = k->req;
  if (!r)
    return 1;
  if (!k->redirect && r->cbs->on_body)
    r->cbs->on_body(r, buf, len, r->data);
  return k->req == NULL;
}
