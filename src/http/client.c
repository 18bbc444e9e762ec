/* The client: hosts, concurrency slots and their queues, name lookups.
 *
 * A request needs a slot to go on: one of its host's max_per_host and one
 * of the client's max_total. Without one it waits in its host's queue, and
 * the host waits in the client's `waiting` list. A slot that frees goes
 * first to its own host's queue, then round robin over the waiting hosts,
 * so one busy host cannot starve the others. Cost: O(1) per request plus
 * O(hosts waiting) when a host's queue is blocked by its own limit.
 *
 * Names are resolved with getaddrinfo on the loop's worker pool (pool.h),
 * once per host (kept for LOOKUP_TTL_MS); requests for a host being looked
 * up wait in its lookup_wait list. Addresses are kept in the order
 * getaddrinfo sorts them (RFC 6724), IPv6 and IPv4 interleaved, so a
 * failed family costs one attempt before the other is tried.
 *
 * The client's memory is counted: the app holds one reference until
 * iom_http_client_free, and each request, connection and lookup one more,
 * so nothing that a deferred call or a closing stream still points at is
 * freed under it.
 */
#define _GNU_SOURCE /* getaddrinfo's AI_ flags with POSIX */
#include "http_impl.h"

#include "../core/alloc_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define LOOKUP_TTL_MS 60000

int iom_http_client_new(iom_loop *loop, const iom_http_client_opts *opts,
                        iom_http_client **out) {
  static const iom_http_client_opts defaults;
  const iom_http_client_opts *o = opts ? opts : &defaults;
  iom_http_client *c = iom__calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  c->loop = loop;
  c->refs = 1;
  c->max_per_host = o->max_per_host > 0 ? o->max_per_host : 6;
  c->max_total = o->max_total > 0 ? o->max_total : 256;
  c->idle_timeout_ms = o->idle_timeout_ms > 0 ? o->idle_timeout_ms : 30000;
  c->user_agent = http_strdup(o->user_agent ? o->user_agent : "iomux/0.1");
  iom__list_init(&c->hosts);
  iom__list_init(&c->waiting);
  iom__list_init(&c->reqs);
  iom__list_init(&c->conns);
  int err = c->user_agent ? http_tls_ctx_new(c, o) : -ENOMEM;
  if (err < 0) {
    iom__free(c->user_agent);
    iom__free(c);
    return err;
  }
  iom__loop_handle_add(loop);
  *out = c;
  return 0;
}

static void client_destroy(iom_http_client *c) {
  iom__list *node;
  while ((node = iom__list_pop(&c->hosts))) {
    http_host *h = iom__list_entry(node, http_host, link);
    http_tls_session_free(h);
    iom__free(h);
  }
  http_tls_ctx_free(c);
  iom__loop_handle_del(c->loop);
  iom__free(c->plain);
  iom__free(c->user_agent);
  iom__free(c);
}

void http_client_unref(iom_http_client *c) {
  if (--c->refs == 0)
    client_destroy(c);
}

void iom_http_client_free(iom_http_client *c) {
  if (!c || c->freeing)
    return;
  c->freeing = 1;
  c->refs++; /* hold it while ending what it owns */
  iom__list_each(node, &c->reqs) {
    iom_http_req *r = iom__list_entry(node, iom_http_req, all);
    if (r->state != REQ_ENDING)
      http_req_end(r, -ECANCELED, "client freed");
  }
  iom__list_each(node, &c->conns)
      http_conn_abort(iom__list_entry(node, http_conn, all));
  c->refs--;
  http_client_unref(c); /* the app's reference */
}

int iom_http_tls_available(void) {
#ifdef IOM_HAVE_OPENSSL
  return 1;
#else
  return 0;
#endif
}

void iom_http_client_stats_get(const iom_http_client *c,
                               iom_http_client_stats *st) {
  *st = c->stats;
  st->active = c->active;
  st->queued = c->queued;
  st->idle = c->idle;
}

/* ---- hosts ----------------------------------------------------------------- */

static int host_is(const http_host *h, const iom_http_url *u) {
  return h->port == u->port && h->tls == u->tls && !strcmp(h->name, u->host);
}

/* The host of u, made if new; NULL when out of memory. O(hosts) the first
 * time a host comes after another. */
http_host *http_host_get(iom_http_client *c, const iom_http_url *u) {
  if (c->last_host && host_is(c->last_host, u))
    return c->last_host;
  iom__list_each(node, &c->hosts) {
    http_host *h = iom__list_entry(node, http_host, link);
    if (host_is(h, u))
      return c->last_host = h;
  }
  http_host *h = iom__calloc(1, sizeof *h);
  if (!h)
    return NULL;
  h->client = c;
  memcpy(h->name, u->host, sizeof h->name);
  h->port = u->port;
  h->tls = u->tls;
  iom__list_init(&h->lookup_wait);
  iom__list_init(&h->queue);
  iom__list_init(&h->idle);
  iom__list_push_back(&c->hosts, &h->link);
  return c->last_host = h;
}

/* ---- slots ----------------------------------------------------------------- */

static int host_has_room(const http_host *h) {
  return h->active < h->client->max_per_host;
}

static void take_slot(iom_http_req *r) {
  r->slot = 1;
  r->host->active++;
  r->client->active++;
}

void http_slot_wanted(iom_http_req *r) {
  http_host *h = r->host;
  iom_http_client *c = r->client;
  if (host_has_room(h) && c->active < c->max_total &&
      iom__list_empty(&h->queue)) {
    take_slot(r);
    http_req_go(r);
    return;
  }
  r->state = REQ_QUEUED;
  iom__list_push_back(&h->queue, &r->link);
  c->queued++;
  if (!iom__list_linked(&h->waiting))
    iom__list_push_back(&c->waiting, &h->waiting);
}

/* Give a free slot to the head of h's queue. Returns 1 if one went. */
static int serve_host(http_host *h) {
  iom__list *node = iom__list_pop(&h->queue);
  if (!node)
    return 0;
  h->client->queued--;
  if (iom__list_empty(&h->queue))
    iom__list_remove(&h->waiting);
  iom_http_req *r = iom__list_entry(node, iom_http_req, link);
  take_slot(r);
  http_req_go(r);
  return 1;
}

/* Hand out the free slots: the host's own queue first, then the waiting
 * hosts in turn (a host served goes to the back of the list). A request
 * that ends at once while this runs (a socket refused) frees its slot
 * inside; `pumping` keeps that from recursing, and the loops here see the
 * slot again on their next check. */
static void pump(iom_http_client *c, http_host *own) {
  if (c->freeing || c->pumping)
    return;
  c->pumping = 1;
  while (own && c->active < c->max_total && host_has_room(own) &&
         serve_host(own))
    ;
  while (c->active < c->max_total) {
    http_host *found = NULL;
    iom__list_each(node, &c->waiting) {
      http_host *h = iom__list_entry(node, http_host, waiting);
      if (host_has_room(h)) {
        found = h;
        break;
      }
    }
    if (!found)
      break;
    iom__list_remove(&found->waiting);
    serve_host(found);
    if (!iom__list_empty(&found->queue) && !iom__list_linked(&found->waiting))
      iom__list_push_back(&c->waiting, &found->waiting);
  }
  c->pumping = 0;
}

void http_slot_release(iom_http_req *r) {
  if (r->state == REQ_QUEUED && iom__list_linked(&r->link)) {
    iom__list_remove(&r->link);
    r->client->queued--;
    if (iom__list_empty(&r->host->queue))
      iom__list_remove(&r->host->waiting);
  }
  if (r->state == REQ_LOOKUP)
    iom__list_remove(&r->link);
  if (!r->slot)
    return;
  r->slot = 0;
  r->host->active--;
  r->client->active--;
  pump(r->client, r->host);
}

/* ---- name lookups on the pool ---------------------------------------------- */

typedef struct lookup {
  http_host *host;
  char name[256];
  char port[8];
  struct sockaddr_storage addrs[HTTP_ADDRS_MAX];
  socklen_t addrlens[HTTP_ADDRS_MAX];
  int naddrs;
  int err;
} lookup;

/* IPv6 and IPv4 taken in turn from getaddrinfo's order. */
static void interleave(lookup *l, struct addrinfo *list) {
  struct addrinfo *v6 = list, *v4 = list;
  int turn6 = list && list->ai_family == AF_INET6;
  while (l->naddrs < HTTP_ADDRS_MAX) {
    while (v6 && v6->ai_family != AF_INET6)
      v6 = v6->ai_next;
    while (v4 && v4->ai_family != AF_INET)
      v4 = v4->ai_next;
    struct addrinfo **pick = turn6 ? (v6 ? &v6 : &v4) : (v4 ? &v4 : &v6);
    if (!*pick)
      return;
    memcpy(&l->addrs[l->naddrs], (*pick)->ai_addr, (*pick)->ai_addrlen);
    l->addrlens[l->naddrs++] = (*pick)->ai_addrlen;
    *pick = (*pick)->ai_next;
    turn6 = !turn6;
  }
}

/* On a worker thread: touches only the lookup. */
static void lookup_work(void *data) {
  lookup *l = data;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(l->name, l->port, &hints, &res);
  if (rc == EAI_MEMORY)
    l->err = -ENOMEM;
  else if (rc != 0)
    l->err = -EHOSTUNREACH;
  else
    interleave(l, res);
  if (res)
    freeaddrinfo(res);
  if (!l->err && l->naddrs == 0)
    l->err = -EHOSTUNREACH;
}

static void lookup_done(int status, void *data) {
  lookup *l = data;
  http_host *h = l->host;
  iom_http_client *c = h->client;
  h->resolving = 0;
  h->lookup_err = status < 0 ? status : l->err;
  if (!h->lookup_err) {
    memcpy(h->addrs, l->addrs, sizeof h->addrs);
    memcpy(h->addrlens, l->addrlens, sizeof h->addrlens);
    h->naddrs = l->naddrs;
    h->good = 0;
    h->resolved_at = iom_loop_now(c->loop);
  }
  iom__free(l);
  iom__list *node;
  while ((node = iom__list_pop(&h->lookup_wait))) {
    iom_http_req *r = iom__list_entry(node, iom_http_req, link);
    if (h->lookup_err)
      http_req_end(r, h->lookup_err, "could not resolve host");
    else
      http_conn_open(h, r);
  }
  http_client_unref(c);
}

/* A numeric host needs no lookup: its one address, now. */
static int numeric(http_host *h) {
  struct sockaddr_in *in4 = (struct sockaddr_in *)&h->addrs[0];
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&h->addrs[0];
  memset(&h->addrs[0], 0, sizeof h->addrs[0]);
  if (inet_pton(AF_INET, h->name, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)h->port);
    h->addrlens[0] = sizeof *in4;
  } else if (inet_pton(AF_INET6, h->name, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)h->port);
    h->addrlens[0] = sizeof *in6;
  } else {
    return 0;
  }
  h->naddrs = 1;
  h->resolved_at = UINT64_MAX / 2; /* never stale */
  return 1;
}

/* r holds a slot and needs h's addresses: connect now if they are known and
 * fresh, else wait for a lookup (starting one if none runs). */
void http_lookup(http_host *h, iom_http_req *r) {
  iom_http_client *c = h->client;
  uint64_t now = iom_loop_now(c->loop);
  if ((h->naddrs && now - h->resolved_at < LOOKUP_TTL_MS) || numeric(h)) {
    http_conn_open(h, r);
    return;
  }
  r->state = REQ_LOOKUP;
  iom__list_push_back(&h->lookup_wait, &r->link);
  if (h->resolving)
    return;
  lookup *l = iom__calloc(1, sizeof *l);
  int err = -ENOMEM;
  if (l) {
    l->host = h;
    memcpy(l->name, h->name, sizeof l->name);
    snprintf(l->port, sizeof l->port, "%d", h->port);
    err = iom_pool_submit(c->loop, lookup_work, lookup_done, l, NULL);
  }
  if (err < 0) {
    iom__free(l);
    iom__list_remove(&r->link);
    http_req_end(r, err, "could not start the name lookup");
    return;
  }
  h->resolving = 1;
  c->refs++;
  c->stats.lookups++;
}
