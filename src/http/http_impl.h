/* The HTTP layer's private state, shared by its files:
 *   parse.c    the response parser (no I/O)
 *   url.c      URLs and reference resolution
 *   client.c   the client: hosts, slots and queues, name lookups
 *   request.c  a request's life: start, redirect, timeout, cancel, end
 *   conn.c     a connection: connect (address after address), send, read
 *   tls.c      TLS as a filter over the stream (OpenSSL, memory BIOs)
 * The layer reaches the ones under it through public headers (stream.h,
 * pool.h, loop.h) and loop_internal.h's functions only.
 */
#ifndef IOMUX_HTTP_IMPL_H
#define IOMUX_HTTP_IMPL_H

#include "iomux/http.h"
#include "iomux/pool.h"
#include "iomux/stream.h"

#include "../core/list.h"
#include "../loop/loop_internal.h"
#include "../stream/stream_internal.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define HTTP_ADDRS_MAX 8 /* addresses of a host kept from getaddrinfo */

typedef struct http_conn http_conn;
typedef struct http_tls http_tls;

/* A (scheme, host, port): its addresses, idle connections, queue. Hosts
 * live as long as the client. */
typedef struct http_host {
  iom__list link;    /* in client->hosts */
  iom__list waiting; /* in client->waiting while `queue` is not empty */
  iom_http_client *client;
  char name[256];
  int port, tls;
  struct sockaddr_storage addrs[HTTP_ADDRS_MAX];
  socklen_t addrlens[HTTP_ADDRS_MAX];
  int naddrs;
  int good;          /* the address that last connected */
  int lookup_err;    /* the last lookup's error, 0 when it worked */
  int resolving;     /* a lookup is on the pool */
  uint64_t resolved_at;
  iom__list lookup_wait; /* requests (slot held) waiting for addresses */
  iom__list queue;       /* requests waiting for a slot */
  iom__list idle;        /* idle connections, most recent last */
  int active;            /* requests holding a slot of this host */
  void *session;         /* TLS: the last session, for resumption */
} http_host;

struct iom_http_client {
  iom_loop *loop;
  int refs;      /* the app's (until free), each request, connection,
                    lookup */
  int freeing;
  int pumping;   /* pump() is running */
  int max_per_host, max_total, idle_timeout_ms;
  char *user_agent;
  void *tls_ctx; /* SSL_CTX, or NULL */
  char *plain;   /* TLS: where decrypted bytes land */
  iom__list hosts;
  http_host *last_host; /* the one looked up last: most runs have one */
  iom__list waiting;    /* hosts with queued requests, round robin */
  iom__list reqs;       /* every request not yet freed */
  iom__list conns;      /* every connection not yet closed */
  int active, queued, idle;
  iom_http_client_stats stats;
};

enum {
  REQ_QUEUED,    /* waiting for a slot */
  REQ_LOOKUP,    /* slot held, waiting for addresses */
  REQ_CONNECT,   /* on a connection being opened */
  REQ_SENT,      /* on a connection, the response being read */
  REQ_ENDING     /* on_done scheduled */
};

struct iom_http_req {
  iom__list link; /* in host->queue or host->lookup_wait */
  iom__list all;  /* in client->reqs */
  iom_http_client *client;
  http_host *host;
  http_conn *conn;
  const iom_http_req_cbs *cbs;
  void *data;
  iom_http_url url;
  char *urltext;  /* the URL being fetched, as text */
  char *method;
  char *extra;    /* the caller's headers, formatted */
  size_t extra_len;
  char *body;
  size_t body_len;
  int head;       /* HEAD: no body in the response */
  int state;
  int slot;       /* holds a slot (host->active, client->active) */
  int follow, max_redirects, redirects;
  int connect_timeout_ms, timeout_ms;
  int no_host, no_agent; /* the caller gave Host / User-Agent */
  int retried;    /* resent once after a kept-alive connection died */
  int err;
  const char *reason;
  char reason_buf[160]; /* for a reason put together (TLS errors) */
  char *location; /* a redirect being followed */
  iom_timer *timer;
  iom__defer finish;
};

struct http_conn {
  iom__list link; /* in host->idle while idle */
  iom__list all;  /* in client->conns */
  http_host *host;
  iom_http_client *client;
  iom_stream *stream;
  iom_http_parser *parser;
  iom_http_req *req;
  http_tls *tls;
  iom_timer *idle_timer;
  int addr;        /* the address being tried */
  int tried;       /* addresses tried */
  int connected;
  int requests;    /* requests sent on it */
  int closing;     /* closed, or will close after this response */
  int redirect;    /* the response is a redirect being followed */
  /* The response's head: strings in hbuf, offsets in hoff. */
  char *hbuf;
  size_t hlen, hcap;
  size_t *hoff;
  size_t nh, ncap;
  int status, version;
  size_t reason_off;
  iom_http_header *hdrs; /* built from hoff for on_response */
  size_t hdrs_cap;
};

/* url.c */
char *http_strdup(const char *s); /* iom__malloc'd copy, or NULL */

/* parse.c */
int iom__http_casecmp(const char *a, size_t alen, const char *b);

/* client.c */
void http_client_unref(iom_http_client *c);
http_host *http_host_get(iom_http_client *c, const iom_http_url *u);
void http_slot_wanted(iom_http_req *r); /* take a slot now or queue */
void http_slot_release(iom_http_req *r);
void http_lookup(http_host *h, iom_http_req *r); /* r waits for addresses */

/* request.c */
void http_req_go(iom_http_req *r);  /* slot held: find a connection */
void http_req_end(iom_http_req *r, int err, const char *reason);
void http_req_redirect(iom_http_req *r);
void http_req_redirect_method(iom_http_req *r, int status);
int http_req_head(iom_http_req *r, char **out, size_t *len); /* the bytes */

/* conn.c */
void http_conn_open(http_host *h, iom_http_req *r);
void http_conn_send(http_conn *k, iom_http_req *r);
void http_conn_abort(http_conn *k);
void http_conn_input(http_conn *k, const char *buf, size_t len);
int http_conn_write(http_conn *k, const void *buf, size_t len);
void http_conn_ready(http_conn *k); /* connected (and TLS done): send */
void http_conn_fail(http_conn *k, int err, const char *reason);

/* tls.c: TLS as a filter between the stream and the parser. */
int http_tls_ctx_new(iom_http_client *c, const iom_http_client_opts *o);
void http_tls_ctx_free(iom_http_client *c);
int http_tls_start(http_conn *k);          /* after connect: handshake */
void http_tls_read(http_conn *k, const char *buf, size_t len);
int http_tls_write(http_conn *k, const void *buf, size_t len);
void http_tls_free(http_conn *k);
int http_tls_done(const http_conn *k);     /* the handshake is over */
void http_tls_session_free(http_host *h);

#endif
