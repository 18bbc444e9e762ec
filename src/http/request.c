/* A request's life: made and queued, given a connection, redirected, timed
 * out, cancelled, ended.
 *
 * http_req_end is the one way out. It detaches the request from whatever
 * holds it (a queue, a lookup, a connection: a connection with a response
 * half read is aborted), frees its slot for the next request, and schedules
 * `finish`, a deferred call that runs on_done and frees the request on a
 * later turn. So on_done never runs inside iom_http_cancel or inside the
 * library's own stack, and a request that ends twice (a timeout and a reset
 * in the same turn) ends once.
 */
#include "http_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void finish(void *arg);

static void on_timeout(iom_timer *t, void *data) {
  (void)t;
  http_req_end(data, -ETIMEDOUT, "the request timed out");
}

static int token_ok(const char *s) {
  if (!*s)
    return 0;
  for (; *s; s++)
    if (*s <= 0x20 || *s >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *s))
      return 0;
  return 1;
}

static int field_ok(const char *s) {
  for (; *s; s++)
    if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
      return 0;
  return 1;
}

/* The caller's headers as "Name: value\r\n" lines. */
static int format_extra(iom_http_req *r, const iom_http_request_opts *o) {
  size_t n = 0;
  for (size_t i = 0; i < o->nheaders; i++) {
    const iom_http_header *hd = &o->headers[i];
    if (!hd->name || !hd->value || !token_ok(hd->name) || !field_ok(hd->value))
      return -EINVAL;
    n += strlen(hd->name) + strlen(hd->value) + 4;
  }
  if (!n)
    return 0;
  char *p = r->extra = iom__malloc(n + 1);
  if (!p)
    return -ENOMEM;
  for (size_t i = 0; i < o->nheaders; i++) {
    const iom_http_header *hd = &o->headers[i];
    p += sprintf(p, "%s: %s\r\n", hd->name, hd->value);
    if (!iom__http_casecmp(hd->name, strlen(hd->name), "host"))
      r->no_host = 1;
    if (!iom__http_casecmp(hd->name, strlen(hd->name), "user-agent"))
      r->no_agent = 1;
  }
  r->extra_len = n;
  return 0;
}

static void req_free(iom_http_req *r) {
  iom_timer_free(r->timer);
  iom_http_url_clear(&r->url);
  iom__free(r->urltext);
  iom__free(r->method);
  iom__free(r->extra);
  iom__free(r->body);
  iom__free(r->location);
  iom__free(r);
}

/* The URL in r->url: its text, its host. */
static int set_url(iom_http_req *r) {
  if (r->url.tls && !iom_http_tls_available())
    return -EPROTONOSUPPORT;
  int n = iom_http_url_format(&r->url, NULL, 0);
  char *text = iom__malloc((size_t)n + 1);
  if (!text)
    return -ENOMEM;
  iom_http_url_format(&r->url, text, (size_t)n + 1);
  iom__free(r->urltext);
  r->urltext = text;
  r->host = http_host_get(r->client, &r->url);
  return r->host ? 0 : -ENOMEM;
}

static int req_fill(iom_http_req *r, const iom_http_request_opts *o) {
  const char *method = o->method ? o->method : "GET";
  int err = iom_http_url_parse(o->url, &r->url);
  if (err < 0 || !token_ok(method))
    return err < 0 ? err : -EINVAL;
  if ((err = format_extra(r, o)) < 0 || (err = set_url(r)) < 0)
    return err;
  if (!(r->method = http_strdup(method)))
    return -ENOMEM;
  r->head = !strcmp(method, "HEAD");
  if (o->body_len) {
    if (!(r->body = iom__malloc(o->body_len)))
      return -ENOMEM;
    memcpy(r->body, o->body, o->body_len);
    r->body_len = o->body_len;
  }
  if (o->timeout_ms > 0) {
    err = iom_timer_new(r->client->loop, on_timeout, r, &r->timer);
    if (err < 0)
      return err;
    iom__timer_hide(r->timer);
    iom_timer_start(r->timer, (uint64_t)o->timeout_ms, 0);
  }
  return 0;
}

int iom_http_request(iom_http_client *c, const iom_http_request_opts *o,
                     const iom_http_req_cbs *cbs, void *data,
                     iom_http_req **out) {
  static const iom_http_req_cbs no_cbs;
  if (!o || !o->url || c->freeing)
    return -EINVAL;
  iom_http_req *r = iom__calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->client = c;
  r->cbs = cbs ? cbs : &no_cbs;
  r->data = data;
  r->reason = "";
  r->follow = o->follow_redirects;
  r->max_redirects = o->max_redirects > 0 ? o->max_redirects : 10;
  r->connect_timeout_ms = o->connect_timeout_ms;
  r->timeout_ms = o->timeout_ms;
  iom__defer_init(&r->finish, finish, r);
  int err = req_fill(r, o);
  if (err < 0) {
    req_free(r);
    return err;
  }
  c->refs++;
  iom__list_push_back(&c->reqs, &r->all);
  if (out)
    *out = r;
  http_slot_wanted(r);
  return 0;
}

int iom_http_get(iom_http_client *c, const char *url,
                 const iom_http_req_cbs *cbs, void *data, iom_http_req **out) {
  iom_http_request_opts o = {.url = url, .follow_redirects = 1};
  return iom_http_request(c, &o, cbs, data, out);
}

/* r holds a slot: an idle connection of its host if one is kept, else a
 * new one (after a lookup if needed). */
void http_req_go(iom_http_req *r) {
  http_host *h = r->host;
  iom__list *node = iom__list_pop(&h->idle);
  if (node) {
    http_conn *k = iom__list_entry(node, http_conn, link);
    r->client->idle--;
    r->client->stats.reused++;
    http_conn_send(k, r);
    return;
  }
  http_lookup(h, r);
}

void http_req_end(iom_http_req *r, int err, const char *reason) {
  if (r->state == REQ_ENDING)
    return;
  http_slot_release(r);
  r->state = REQ_ENDING;
  r->err = err;
  r->reason = err ? reason : "";
  iom_timer_free(r->timer);
  r->timer = NULL;
  http_conn *k = r->conn;
  r->conn = NULL;
  if (k) {
    k->req = NULL;
    http_conn_abort(k);
  }
  iom__defer_schedule(r->client->loop, &r->finish);
}

static void finish(void *arg) {
  iom_http_req *r = arg;
  iom_http_client *c = r->client;
  c->stats.requests++;
  iom__list_remove(&r->all);
  if (!c->freeing && r->cbs->on_done)
    r->cbs->on_done(r, r->err, r->data);
  req_free(r);
  http_client_unref(c);
}

void iom_http_cancel(iom_http_req *r) {
  http_req_end(r, -ECANCELED, "cancelled");
}

const char *iom_http_req_reason(const iom_http_req *r) { return r->reason; }

void *iom_http_req_data(const iom_http_req *r) { return r->data; }

/* ---- redirects ------------------------------------------------------------- */

/* The response was a redirect and its body is over (the connection is
 * back in the pool or closing): go again at the Location, from the
 * queue, for the new host may differ. */
void http_req_redirect(iom_http_req *r) {
  iom_http_url next;
  char *loc = r->location;
  r->location = NULL;
  r->conn = NULL;
  if (++r->redirects > r->max_redirects) {
    iom__free(loc);
    http_req_end(r, -ELOOP, "too many redirects");
    return;
  }
  int err = iom_http_url_resolve(&r->url, loc, &next);
  iom__free(loc);
  if (err < 0) {
    http_req_end(r, err, "bad Location in a redirect");
    return;
  }
  iom_http_url_clear(&r->url);
  r->url = next;
  if ((err = set_url(r)) < 0) {
    http_req_end(r, err, err == -EPROTONOSUPPORT
                             ? "redirect to https: built without OpenSSL"
                             : "out of memory");
    return;
  }
  http_slot_release(r);
  http_slot_wanted(r);
}

/* 303, and 301/302 after a POST, become a GET without a body (what
 * browsers and curl do). */
void http_req_redirect_method(iom_http_req *r, int status) {
  if (status == 303 || ((status == 301 || status == 302) &&
                        !strcmp(r->method, "POST"))) {
    if (strcmp(r->method, "HEAD")) {
      char *get = http_strdup("GET");
      if (get) {
        iom__free(r->method);
        r->method = get;
      }
    }
    iom__free(r->body);
    r->body = NULL;
    r->body_len = 0;
  }
}

/* ---- the request's bytes ---------------------------------------------------- */

/* The request line and headers, in *out (a buffer the caller frees). */
int http_req_head(iom_http_req *r, char **out, size_t *len) {
  const char *agent = r->client->user_agent;
  size_t cap = strlen(r->method) + strlen(r->url.target) + strlen(agent) +
               strlen(r->url.host) + r->extra_len + 128;
  char *p = iom__malloc(cap);
  if (!p)
    return -ENOMEM;
  int n = snprintf(p, cap, "%s %s HTTP/1.1\r\n", r->method, r->url.target);
  if (!r->no_host) {
    int v6 = strchr(r->url.host, ':') != NULL;
    n += snprintf(p + n, cap - (size_t)n, "Host: %s%s%s", v6 ? "[" : "",
                  r->url.host, v6 ? "]" : "");
    if (r->url.port != (r->url.tls ? 443 : 80))
      n += snprintf(p + n, cap - (size_t)n, ":%d", r->url.port);
    n += snprintf(p + n, cap - (size_t)n, "\r\n");
  }
  if (!r->no_agent)
    n += snprintf(p + n, cap - (size_t)n, "User-Agent: %s\r\n", agent);
  n += snprintf(p + n, cap - (size_t)n, "Accept: */*\r\n");
  if (r->body_len || !strcmp(r->method, "POST") || !strcmp(r->method, "PUT"))
    n += snprintf(p + n, cap - (size_t)n, "Content-Length: %zu\r\n",
                  r->body_len);
  memcpy(p + n, r->extra ? r->extra : "", r->extra_len);
  n += (int)r->extra_len;
  memcpy(p + n, "\r\n", 2);
  *out = p;
  *len = (size_t)n + 2;
  return 0;
}
