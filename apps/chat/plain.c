/* plain: the classic multiplexed group chat, on the iomux Reactor.
 *
 * What it shows: one thread serving every client at once. The loop waits on
 * all the sockets together (epoll by default) and calls back when one has
 * something; each line a client sends goes to every other client as
 * "<host:port> line"; a client that sends `quit`, or closes, leaves. It is
 * the group-chat server of the classic I/O-model texts (and of antirez's
 * smallchat), with the parts they skip done properly.
 *
 * Classic pitfalls, and where this file handles them:
 *   (a) a read is not a line: a line can come in pieces, or many in one
 *       read. iom_lines joins and splits them (on_read), and drops a line
 *       longer than PLAIN_MAX_LINE without holding more than that.
 *   (b) one slow client stalls everyone: a blocking send to a client that
 *       does not read would stop the whole server. Streams queue what the
 *       kernel refuses instead, and a queue past --sendq gets the client
 *       dropped with "ERROR :SendQ exceeded" (broadcast).
 *   (c) a copy and a system call per recipient per message: the line is
 *       formatted once and shared by every queue (chat_msg), and a client's
 *       lines between two flushes (--batch-ms apart) leave in one writev
 *       (sendq.c; broadcast).
 *   (d) a client that leaves in the middle of a broadcast: a stream is
 *       freed only on a later turn (on_close), never under the loop that is
 *       writing to it.
 * What it skips: nicknames, rooms, any command but quit, flood control
 * (--proto irc has all of those).
 *
 * Try it:  iomux-chatd --proto plain --port 7711
 *          nc 127.0.0.1 7711        (in two or more terminals)
 */
#include "chatd.h"
#include "conn.h"
#include "sendq.h"

#include "iomux/stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLAIN_MAX_LINE 4096

typedef struct client {
  chat_out out;
  iom_lines *lines;
  struct plain *srv;
  struct client *prev, *next;
  char addr[CHAT_ADDR_MAX]; /* "host:port", as the others see it */
} client;

typedef struct plain {
  iom_loop *loop;
  iom_listener *listener;
  chat_sendq q;
  client clients; /* list head */
  int nclients, max_clients;
  int nodelay; /* --nodelay on */
} plain;

/* ---- broadcast ------------------------------------------------------------ */

/* One line to every other client. The text is formatted once into a shared
 * chat_msg; each recipient's queue holds a reference, not a copy. The first
 * write to a recipient after a flush corks its stream, so however many
 * lines it gets until the next flush (sendq.c), they leave in one
 * writev: one system call per recipient per flush, not one per message. */
static void broadcast(plain *srv, client *from, const char *line, size_t len) {
  chat_msg *m = chat_msg_new(PLAIN_MAX_LINE + CHAT_ADDR_MAX + 4, "\n",
                             "<%s> %.*s", from->addr, (int)len, line);
  if (!m)
    return;
  for (client *c = srv->clients.next; c != &srv->clients; c = c->next) {
    if (c == from || c->out.closing)
      continue;
    if (chat_out_share(&srv->q, &c->out, m) == -ENOBUFS)
      chat_out_close(&srv->q, &c->out, "ERROR :SendQ exceeded\n");
  }
  chat_msg_unref(m);
}

/* ---- one client ------------------------------------------------------------- */

static int on_line(void *data, const char *line, size_t len, int err) {
  client *c = data;
  if (err < 0)
    return 0; /* too long: the framer dropped it */
  if (len == 4 && memcmp(line, "quit", 4) == 0) {
    chat_out_close(&c->srv->q, &c->out, NULL);
    return 1; /* the rest of this read is not for us any more */
  }
  broadcast(c->srv, c, line, len);
  return 0;
}

static void on_read(iom_stream *s, const char *buf, size_t len, void *data) {
  (void)s;
  client *c = data;
  if (!c->out.closing && iom_lines_feed(c->lines, buf, len, on_line, c) < 0)
    chat_out_close(&c->srv->q, &c->out, NULL); /* out of memory */
}

/* EOF (on_eof unset: the stream closes itself), a reset, or our close. */
static void on_close(iom_stream *s, int err, void *data) {
  (void)s;
  (void)err;
  client *c = data;
  chat_out_closed(&c->srv->q, &c->out);
  c->prev->next = c->next;
  c->next->prev = c->prev;
  c->srv->nclients--;
  iom_lines_free(c->lines);
  free(c);
}

static const iom_stream_cbs client_cbs = {
    .on_read = on_read,
    .on_close = on_close,
};

static void on_accept(iom_listener *l, int fd, void *data) {
  (void)l;
  plain *srv = data;
  if (fd < 0)
    return; /* out of fds: the listener pauses and retries by itself */
  if (srv->nclients >= srv->max_clients) {
    chat_refuse(fd, "ERROR :Too many clients\n");
    return;
  }
  client *c = calloc(1, sizeof *c);
  if (!c || iom_lines_new(PLAIN_MAX_LINE, &c->lines) < 0) {
    free(c);
    chat_refuse(fd, "ERROR :Out of memory\n");
    return;
  }
  char host[CHAT_HOST_MAX];
  int port;
  chat_peer(fd, host, sizeof host, &port);
  chat_socket_setup(fd, srv->q.cap, srv->nodelay);
  snprintf(c->addr, sizeof c->addr, strchr(host, ':') ? "[%s]:%d" : "%s:%d",
           host, port);
  c->srv = srv;
  if (iom_stream_new(srv->loop, fd, &client_cbs, c, &c->out.s) < 0) {
    iom_lines_free(c->lines);
    free(c);
    return;
  }
  c->prev = srv->clients.prev;
  c->next = &srv->clients;
  c->prev->next = c;
  srv->clients.prev = c;
  srv->nclients++;
}

/* ---- the server ---------------------------------------------------------------- */

static int plain_start(iom_loop *loop, const chatd_opts *o, void **out,
                       int *port, const char **what) {
  plain *srv = calloc(1, sizeof *srv);
  if (!srv)
    return -ENOMEM;
  srv->loop = loop;
  srv->max_clients = o->max_clients;
  srv->nodelay = o->nodelay;
  srv->clients.prev = srv->clients.next = &srv->clients;
  int err = chat_sendq_init(&srv->q, loop, o->sendq, o->batch_ms);
  if (err == 0) {
    *what = o->host;
    err = iom_listener_new(loop, o->host, o->port, NULL, on_accept, srv,
                           &srv->listener);
  }
  *out = srv; /* free() takes it, also after a failure */
  if (err == 0)
    *port = iom_listener_port(srv->listener);
  return err;
}

static void plain_shutdown(void *arg) {
  plain *srv = arg;
  iom_listener_free(srv->listener);
  srv->listener = NULL;
  for (client *c = srv->clients.next; c != &srv->clients; c = c->next)
    chat_out_close(&srv->q, &c->out, "ERROR :Server shutting down\n");
}

static void plain_free(void *arg) {
  plain *srv = arg;
  iom_listener_free(srv->listener);
  chat_sendq_fini(&srv->q);
  free(srv);
}

const chatd_proto chatd_plain = {
    .default_port = 7711,
    .start = plain_start,
    .shutdown = plain_shutdown,
    .free = plain_free,
};
