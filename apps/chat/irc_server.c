/* iomux-chatd --proto irc: the server. Clients come and go here, their
 * bytes become lines, flood control paces them, one sweep timer finds the
 * silent ones, and drops are carried out (see irc.h for a client's life).
 *
 * Flood control is a token bucket kept as one number per client, the
 * classic ircd way: flood_clock runs ahead of the clock by FLOOD_LINE_MS
 * per line, and a line may run while it is less than FLOOD_BURST_MS ahead.
 * So a client gets a burst of 20 lines, then 4 a second. Lines beyond that
 * wait in a backlog (reading from the client stops, so TCP pushes back on
 * it), and the sweep runs them as the clock allows; a backlog past
 * FLOOD_BACKLOG bytes is a client that will not slow down: it is dropped
 * with "Excess Flood". --flood off turns it all off, for benchmarks.
 *
 * The sweep runs every SWEEP_MS over all clients: it runs waiting lines,
 * sends PING to a client silent for --ping seconds and drops it after as
 * many again ("Ping timeout"), and drops a connection that has not
 * registered within --ping seconds. One timer for all clients, not one
 * each; its cost, a pass over the client list four times a second, is
 * about a millisecond a second at 10,000 clients.
 */
#include "irc.h"

#include "cluster.h"

#include "iomux/error.h"
#include "iomux/stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_MS 250
#define FLOOD_LINE_MS 250   /* 4 lines a second... */
#define FLOOD_BURST_MS 5000 /* ...after a burst of 20 */
#define FLOOD_BACKLOG 8192  /* bytes of waiting lines before Excess Flood */
#define WAIT_BACKLOG (FLOOD_BACKLOG + 65536) /* ...waiting for the network */

static void reap(void *arg);

static void list_init(irc_client *head) { head->prev = head->next = head; }

static void list_unlink(irc_client *c) {
  c->prev->next = c->next;
  c->next->prev = c->prev;
}

static void list_append(irc_client *head, irc_client *c) {
  c->prev = head->prev;
  c->next = head;
  c->prev->next = c;
  head->prev = c;
}

irc_client *irc_find_user(irc_server *srv, const char *nick) {
  irc_client *c = chat_names_get(&srv->nicks, nick);
  return c && c->registered ? c : NULL;
}

/* ---- dropping ---------------------------------------------------------------- */

void irc_drop(irc_client *c, const char *reason) {
  if (c->phase != IRC_ACTIVE)
    return;
  irc_server *srv = c->srv;
  c->phase = IRC_DROPPING;
  c->quit = strdup(reason); /* NULL (out of memory): a generic reason */
  c->drop_next = srv->dropping;
  srv->dropping = c;
  if (!srv->reap_pending && iom_loop_call_soon(srv->loop, reap, srv) == 0)
    srv->reap_pending = 1; /* else the next sweep reaps */
}

/* Out of every table, the others told (QUIT), nothing left but the stream.
 * During a shutdown nobody is told: they are all leaving. */
static void detach(irc_client *c) {
  irc_server *srv = c->srv;
  const char *reason = c->quit ? c->quit : "Client exited";
  chat_msg *m = c->registered ? irc_msg_from(c, "QUIT :%s", reason) : NULL;
  if (m && !srv->shutting_down)
    irc_share_common(c, m, 0);
  net_user_gone(c, m); /* the other nodes' members see it even then */
  chat_msg_unref(m);
  irc_chan_leave_all(c);
  if (c->nick[0] && chat_names_get(&srv->nicks, c->nick) == c)
    chat_names_del(&srv->nicks, c->nick);
  if (c->registered) {
    srv->nusers--;
    srv->ninvisible -= c->invisible;
  }
  free(c->backlog);
  c->backlog = NULL;
  c->backlog_len = c->backlog_cap = 0;
  c->phase = IRC_GONE;
}

/* The deferred half of irc_drop: detach each dropped client, send it ERROR
 * and close. Detaching may drop more (a QUIT past someone's send queue):
 * they join the list and are reaped in this same pass. */
static void reap(void *arg) {
  irc_server *srv = arg;
  srv->reap_pending = 0;
  while (srv->dropping) {
    irc_client *c = srv->dropping;
    srv->dropping = c->drop_next;
    list_unlink(c);
    detach(c);
    char line[IRC_LINE];
    snprintf(line, sizeof line - 2, "ERROR :%s",
             c->quit ? c->quit : "Client exited");
    strcat(line, "\r\n");
    chat_out_close(&srv->q, &c->out, line);
  }
}

/* ---- reading ------------------------------------------------------------------- */

/* May a line run now? (See the top of this file.) */
static int flood_ok(irc_client *c) {
  if (!c->srv->opts->flood)
    return 1;
  uint64_t now = iom_loop_now(c->srv->loop);
  if (c->flood_clock < now)
    c->flood_clock = now;
  if (c->flood_clock - now >= FLOOD_BURST_MS)
    return 0;
  c->flood_clock += FLOOD_LINE_MS;
  return 1;
}

/* Lines wait here while the client floods, or (--cluster) while it waits
 * for the network's answer. Past FLOOD_BACKLOG a flooder is dropped; a
 * client that only waits may have sent one read's worth meanwhile (reading
 * stops as soon as lines wait, so that is the most it can be). */
static void backlog_add(irc_client *c, const char *line, size_t len) {
  size_t cap = c->wait || c->backlog_cap > FLOOD_BACKLOG ? WAIT_BACKLOG
                                                         : FLOOD_BACKLOG;
  if (len + 1 > cap - c->backlog_len) {
    irc_drop(c, "Excess Flood");
    return;
  }
  if (c->backlog_len + len + 1 > c->backlog_cap) {
    uint32_t want = c->backlog_cap ? c->backlog_cap * 2 : FLOOD_BACKLOG;
    while (want < c->backlog_len + len + 1)
      want *= 2;
    char *more = realloc(c->backlog, want > cap ? cap : want);
    if (!more) {
      irc_drop(c, "Out of memory");
      return;
    }
    c->backlog = more;
    c->backlog_cap = want > cap ? (uint32_t)cap : want;
  }
  memcpy(c->backlog + c->backlog_len, line, len);
  c->backlog[c->backlog_len + len] = '\n';
  c->backlog_len += (uint32_t)len + 1;
}

/* Run waiting lines while the bucket allows (and no answer from the
 * network is awaited, --cluster); once none wait, read again. */
static void backlog_run(irc_client *c) {
  size_t off = 0; /* lines before it have run; one memmove at the end */
  while (off < c->backlog_len && c->phase == IRC_ACTIVE && !c->wait &&
         flood_ok(c)) {
    char *line = c->backlog + off;
    char *nl = memchr(line, '\n', c->backlog_len - off);
    off += (size_t)(nl - line) + 1;
    irc_dispatch(c, line, (size_t)(nl - line));
  }
  c->backlog_len -= (uint32_t)off;
  if (off > 0 && c->backlog_len > 0)
    memmove(c->backlog, c->backlog + off, c->backlog_len);
  if (c->backlog_len == 0 && c->phase == IRC_ACTIVE) {
    free(c->backlog);
    c->backlog = NULL;
    c->backlog_cap = 0;
    iom_stream_read_start(c->out.s);
  }
}

void irc_resume(irc_client *c) {
  if (c->phase == IRC_ACTIVE && !c->wait && c->backlog)
    backlog_run(c);
}

static int on_line(void *data, const char *line, size_t len, int err) {
  irc_client *c = data;
  if (c->phase != IRC_ACTIVE)
    return 1;
  if (err < 0)
    irc_reply(c, "417", ":Input line was too long");
  else if (!c->backlog && !c->wait && flood_ok(c))
    irc_dispatch(c, line, len);
  else
    backlog_add(c, line, len);
  return c->phase != IRC_ACTIVE;
}

void irc_feed(irc_client *c, const char *buf, size_t len) {
  if (c->phase != IRC_ACTIVE)
    return;
  c->last_read = iom_loop_now(c->srv->loop);
  c->pinged = 0;
  if (iom_lines_feed(c->lines, buf, len, on_line, c) < 0)
    irc_drop(c, "Out of memory");
  if (c->backlog && c->phase == IRC_ACTIVE)
    iom_stream_read_stop(c->out.s);
}

/* ---- connections ------------------------------------------------------------- */

static void on_read(iom_stream *s, const char *buf, size_t len, void *data) {
  (void)s;
  irc_feed(data, buf, len);
}

/* The stream is over. A client still in the tables leaves them now (the
 * stream can take no ERROR any more). */
static void on_close(iom_stream *s, int err, void *data) {
  (void)s;
  irc_client *c = data;
  irc_server *srv = c->srv;
  chat_out_closed(&srv->q, &c->out);
  c->out.closing = 1; /* nothing may be written to it from here on */
  if (c->phase == IRC_DROPPING) { /* ended before its reap */
    irc_client **p = &srv->dropping;
    while (*p != c)
      p = &(*p)->drop_next;
    *p = c->drop_next;
  }
  net_client_gone(c);
  if (c->phase != IRC_GONE) {
    list_unlink(c);
    char reason[128] = "Remote host closed the connection";
    if (err)
      snprintf(reason, sizeof reason, "Connection error: %s",
               iom_strerror(err));
    if (!c->quit)
      c->quit = strdup(reason);
    detach(c);
  }
  srv->nclients--;
  iom_lines_free(c->lines);
  free(c->quit);
  free(c->away);
  free(c);
}

static const iom_stream_cbs client_cbs = {
    .on_read = on_read,
    .on_close = on_close,
};

irc_client *irc_client_new(irc_server *srv, int fd) {
  irc_client *c = calloc(1, sizeof *c);
  if (!c || iom_lines_new(IRC_LINE - 2, &c->lines) < 0) {
    free(c);
    chat_refuse(fd, "ERROR :Out of memory\r\n");
    return NULL;
  }
  int port;
  chat_peer(fd, c->host, sizeof c->host, &port);
  chat_socket_setup(fd, srv->q.cap, srv->opts->nodelay);
  c->srv = srv;
  c->connected = c->last_read = iom_loop_now(srv->loop);
  c->signon = time(NULL);
  if (iom_stream_new(srv->loop, fd, &client_cbs, c, &c->out.s) < 0) {
    iom_lines_free(c->lines);
    free(c);
    return NULL;
  }
  list_append(&srv->clients, c);
  srv->nclients++;
  return c;
}

static void on_accept(iom_listener *l, int fd, void *data) {
  (void)l;
  irc_server *srv = data;
  if (fd < 0)
    return; /* out of fds: the listener pauses and retries by itself */
  if (srv->nclients >= srv->opts->max_clients)
    chat_refuse(fd, "ERROR :Too many clients\r\n");
  else
    irc_client_new(srv, fd);
}

/* ---- the sweep ------------------------------------------------------------------ */

static void sweep_client(irc_client *c, uint64_t now, uint64_t ping_ms) {
  if (c->phase != IRC_ACTIVE)
    return;
  if (c->backlog || c->wait)
    c->last_read = now; /* not silent: it is we who are not reading */
  if (c->backlog)
    backlog_run(c);
  if (c->phase != IRC_ACTIVE)
    return;
  char reason[64];
  uint64_t idle = now - c->last_read;
  if (!c->registered) {
    if (now - c->connected >= ping_ms)
      irc_drop(c, "Registration timeout");
  } else if (c->pinged && idle >= 2 * ping_ms) {
    snprintf(reason, sizeof reason, "Ping timeout: %llu seconds",
             (unsigned long long)(idle / 1000));
    irc_drop(c, reason);
  } else if (!c->pinged && idle >= ping_ms) {
    irc_send(c, "PING :%s", c->srv->opts->name);
    c->pinged = 1;
  }
}

static void on_sweep(iom_timer *t, void *data) {
  (void)t;
  irc_server *srv = data;
  uint64_t now = iom_loop_now(srv->loop);
  uint64_t ping_ms = (uint64_t)srv->opts->ping * 1000;
  /* Nothing leaves the list before the reap, at the end. */
  for (irc_client *c = srv->clients.next, *next; c != &srv->clients; c = next) {
    next = c->next;
    sweep_client(c, now, ping_ms);
  }
  reap(srv); /* now, not a turn later (and if call_soon failed) */
}

/* ---- the server ------------------------------------------------------------------ */

/* The MOTD, read once at the start: lines, their line endings cut. */
static int load_motd(irc_server *srv, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -errno;
  char line[400];
  int err = 0;
  while (!err && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    char **more = realloc(srv->motd, (size_t)(srv->nmotd + 1) * sizeof *more);
    if (!more || !(more[srv->nmotd] = strdup(line)))
      err = -ENOMEM;
    if (more)
      srv->motd = more;
    if (!err)
      srv->nmotd++;
  }
  fclose(f);
  return err;
}

int irc_server_new(iom_loop *loop, const chatd_opts *opts, irc_server **out) {
  irc_server *srv = calloc(1, sizeof *srv);
  if (!srv)
    return -ENOMEM;
  *out = srv;
  srv->loop = loop;
  srv->opts = opts;
  list_init(&srv->clients);
  chat_names_init(&srv->nicks);
  chat_names_init(&srv->chans);
  time_t now = time(NULL);
  strftime(srv->created, sizeof srv->created, "%a %b %d %Y at %H:%M:%S UTC",
           gmtime(&now));
  int err = chat_sendq_init(&srv->q, loop, opts->sendq, opts->batch_ms);
  if (err == 0)
    err = iom_timer_new(loop, on_sweep, srv, &srv->sweep);
  if (err == 0)
    iom_timer_start(srv->sweep, SWEEP_MS, SWEEP_MS);
  return err;
}

/* Every client gets ERROR and is closed; the others are not told. */
void irc_server_shutdown(irc_server *srv) {
  srv->shutting_down = 1;
  iom_listener_free(srv->listener);
  srv->listener = NULL;
  iom_timer_stop(srv->sweep);
  for (irc_client *c = srv->clients.next; c != &srv->clients; c = c->next)
    irc_drop(c, "Server shutting down");
  reap(srv);
  net_shutdown(srv); /* after the QUITs: the network is told, then left */
}

void irc_server_free(irc_server *srv) {
  net_free(srv);
  iom_listener_free(srv->listener);
  iom_timer_free(srv->sweep);
  chat_sendq_fini(&srv->q);
  chat_names_fini(&srv->nicks);
  chat_names_fini(&srv->chans);
  for (int i = 0; i < srv->nmotd; i++)
    free(srv->motd[i]);
  free(srv->motd);
  free(srv);
}

static int irc_start(iom_loop *loop, const chatd_opts *opts, void **out,
                     int *port, const char **what) {
  irc_server *srv = NULL;
  int err = irc_server_new(loop, opts, &srv);
  *out = srv;
  if (err == 0 && opts->motd && (err = load_motd(srv, opts->motd)) < 0)
    *what = opts->motd;
  if (err == 0 && opts->cluster)
    err = net_start(srv, opts->cluster, opts->node_id, what);
  if (err == 0 && (err = iom_listener_new(loop, opts->host, opts->port, NULL,
                                          on_accept, srv,
                                          &srv->listener)) < 0)
    *what = opts->host;
  if (err == 0)
    *port = iom_listener_port(srv->listener);
  return err;
}

static void irc_shutdown(void *srv) { irc_server_shutdown(srv); }

static void irc_free(void *srv) {
  if (srv)
    irc_server_free(srv);
}

const chatd_proto chatd_irc = {
    .default_port = 6667,
    .start = irc_start,
    .shutdown = irc_shutdown,
    .free = irc_free,
};
