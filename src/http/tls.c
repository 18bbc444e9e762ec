/* TLS for the HTTP client: OpenSSL as a filter between the stream and the
 * parser, over memory BIOs.
 *
 * Why memory BIOs over an iom_stream, and not SSL on the fd with
 * WANT_READ/WANT_WRITE turned into interest changes: the stream already
 * does everything a connection needs below TLS (the non-blocking connect
 * and its timeout, the write queue and partial writes, the single on_close
 * for every ending, resets, SIGPIPE), and https is the same code as http
 * with one filter more, not a second connection type with its own fd
 * watcher, its own write queue and its own "SSL_write must be retried with
 * the same buffer" rule. The price is one memcpy of the ciphertext each
 * way (kernel -> the loop's read buffer -> the read BIO; the write BIO ->
 * the socket, copied again only if the kernel does not take it), small
 * next to the cipher's own pass over the bytes. OpenSSL never sees the fd,
 * so it never blocks and never raises SIGPIPE.
 *
 * Flow: the stream's on_read puts ciphertext into rbio; SSL_do_handshake
 * or SSL_read run; whatever OpenSSL wants to send lands in wbio, which
 * flush() moves to the stream. WANT_READ just means "wait for the next
 * on_read"; WANT_WRITE cannot happen (a memory BIO takes everything).
 *
 * Verification is on by default: the chain against the system store (or
 * the client's ca_file) and the name (SSL_set1_host, or the IP address for
 * a numeric host). SNI is sent for names. Sessions are kept per host (the
 * newest ticket, from the new-session callback, since TLS 1.3 tickets come
 * after the handshake) and offered on the host's next connections.
 *
 * A close-delimited body over TLS ends at the transport's EOF as it does
 * in plain http, with or without close_notify (as curl and browsers
 * accept): a truncation there is indistinguishable, which is why servers
 * send Content-Length or chunked bodies.
 */
#include "http_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef IOM_HAVE_OPENSSL

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define PLAIN_SIZE 16384 /* one TLS record */

struct http_tls {
  SSL *ssl;
  BIO *rbio, *wbio;
  int done;   /* the handshake is over */
  int failed; /* a TLS error: the session is not to be resumed */
};

/* A new session ticket: keep it for the host's next connection. */
static int new_session(SSL *ssl, SSL_SESSION *sess) {
  http_conn *k = SSL_get_app_data(ssl);
    if (!k)
    return 0;
  if (k->host->session)
    SSL_SESSION_free(k->host->session);
  k->host->session = sess;
  return 1; /* the reference is ours */
}

int http_tls_ctx_new(iom_http_client *c, const iom_http_client_opts *o) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx)
    return -ENOMEM;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* idle: less memory */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                          SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, new_session);
  SSL_CTX_set_verify(ctx, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                     NULL);
  int ok = o->ca_file ? SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL)
                      : SSL_CTX_set_default_verify_paths(ctx);
  ERR_clear_error();
  if (ok != 1) {
    SSL_CTX_free(ctx);
    return o->ca_file && access(o->ca_file, R_OK) < 0 ? -ENOENT : -EINVAL;
  }
  c->tls_ctx = ctx;
  return 0;
}

void http_tls_ctx_free(iom_http_client *c) {
  SSL_CTX_free(c->tls_ctx);
  c->tls_ctx = NULL;
}

void http_tls_session_free(http_host *h) {
  if (h->session)
    SSL_SESSION_free(h->session);
  h->session = NULL;
}

void http_tls_free(http_conn *k) {
  if (!k->tls)
    return;
  /* We close without close_notify (HTTP knows where the body ends), and
   * SSL_free marks the session of a connection not shut down as not
   * resumable: say the shutdown happened, unless TLS itself failed. */
  if (k->tls->done && !k->tls->failed)
    SSL_set_shutdown(k->tls->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(k->tls->ssl); /* and its BIOs */
  iom__free(k->tls);
  k->tls = NULL;
}

/* What OpenSSL wrote, to the socket. */
static int flush(http_conn *k) {
  char *p;
  long n = BIO_get_mem_data(k->tls->wbio, &p);
  if (n <= 0)
    return 0;
  int err = k->stream ? iom_stream_write(k->stream, p, (size_t)n) : -EPIPE;
  (void)BIO_reset(k->tls->wbio);
  return err;
}

/* Fail the connection with OpenSSL's word for what went wrong. */
static void tls_fail(http_conn *k, const char *what) {
  const char *why = NULL;
  k->tls->failed = 1;
  long v = SSL_get_verify_result(k->tls->ssl);
  if (v != X509_V_OK)
    why = X509_verify_cert_error_string(v);
  else if (ERR_peek_error())
    why = ERR_reason_error_string(ERR_peek_error());
  ERR_clear_error();
  const char *reason = what;
  if (k->req) {
    snprintf(k->req->reason_buf, sizeof k->req->reason_buf, "%s: %s", what,
             why ? why : "error");
    reason = k->req->reason_buf;
  }
  http_conn_fail(k, -EPROTO, reason);
}

/* Returns 1 once the handshake is over, 0 while it goes on, -1 on
 * failure. */
static int handshake(http_conn *k) {
  http_tls *t = k->tls;
  int rc = SSL_do_handshake(t->ssl);
  if (flush(k) < 0)
    return -1;
  if (rc == 1) {
    t->done = 1;
    k->client->stats.tls_handshakes++;
    if (SSL_session_reused(t->ssl))
      k->client->stats.tls_resumed++;
    http_conn_ready(k);
    return 1;
  }
  int e = SSL_get_error(t->ssl, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return 0;
  tls_fail(k, "TLS handshake failed");
  return -1;
}

int http_tls_start(http_conn *k) {
  const char *name = k->host->name;
  http_tls *t = iom__calloc(1, sizeof *t);
  SSL *ssl = t ? SSL_new(k->client->tls_ctx) : NULL;
  BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
  if (!ssl || !r || !w) {
    BIO_free(r);
    BIO_free(w);
    SSL_free(ssl);
    iom__free(t);
    http_conn_fail(k, -ENOMEM, "out of memory");
    return -ENOMEM;
  }
  BIO_set_mem_eof_return(r, -1); /* empty: "retry", not EOF */
  SSL_set_bio(ssl, r, w);
  t->ssl = ssl;
  t->rbio = r;
  t->wbio = w;
  k->tls = t;
  SSL_set_app_data(ssl, k);
  SSL_set_connect_state(ssl);
  unsigned char ip[16];
  int numeric = inet_pton(AF_INET, name, ip) == 1 ||
                inet_pton(AF_INET6, name, ip) == 1;
  if (!numeric)
    SSL_set_tlsext_host_name(ssl, name);
  if (numeric)
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
  else
    SSL_set1_host(ssl, name);
  if (k->host->session)
    SSL_set_session(ssl, k->host->session);
  return handshake(k) < 0 ? -EPROTO : 0;
}

void http_tls_read(http_conn *k, const char *buf, size_t len) {
  http_tls *t = k->tls;
  iom_http_client *c = k->client;
  if (BIO_write(t->rbio, buf, (int)len) != (int)len) {
    http_conn_fail(k, -ENOMEM, "out of memory");
    return;
  }
  if (!t->done && handshake(k) <= 0)
    return;
  if (!c->plain && !(c->plain = iom__malloc(PLAIN_SIZE))) {
    http_conn_fail(k, -ENOMEM, "out of memory");
    return;
  }
  while (!k->closing) {
    int n = SSL_read(t->ssl, c->plain, PLAIN_SIZE);
    if (n > 0) {
      http_conn_input(k, c->plain, (size_t)n);
      continue;
    }
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN)
      break; /* close_notify: the stream's EOF follows */
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      tls_fail(k, "TLS error");
      return;
    }
    break;
  }
  if (!k->closing && flush(k) < 0)
    http_conn_fail(k, -EPIPE, "could not send");
}

int http_tls_done(const http_conn *k) { return k->tls && k->tls->done; }

int http_tls_write(http_conn *k, const void *buf, size_t len) {
  if (SSL_write(k->tls->ssl, buf, (int)len) != (int)len) {
    ERR_clear_error();
    return -EPROTO;
  }
  return flush(k);
}

#else /* no OpenSSL: https is refused by iom_http_request */

int http_tls_ctx_new(iom_http_client *c, const iom_http_client_opts *o) {
  (void)c;
  (void)o;
  return 0;
}

void http_tls_ctx_free(iom_http_client *c) { (void)c; }

void http_tls_session_free(http_host *h) { (void)h; }

void http_tls_free(http_conn *k) { (void)k; }

int http_tls_done(const http_conn *k) {
  (void)k;
  return 0;
}

int http_tls_start(http_conn *k) {
  http_conn_fail(k, -EPROTONOSUPPORT, "https: built without OpenSSL");
  return -EPROTONOSUPPORT;
}

void http_tls_read(http_conn *k, const char *buf, size_t len) {
  (void)buf;
  (void)len;
  http_conn_fail(k, -EPROTONOSUPPORT, "https: built without OpenSSL");
}

int http_tls_write(http_conn *k, const void *buf, size_t len) {
  (void)k;
  (void)buf;
  (void)len;
  return -EPROTONOSUPPORT;
}

#endif
