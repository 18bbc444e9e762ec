/* iomux-chatd --cluster: the link to Redis.
 *
 * Two hiredis contexts on the loop (include/iomux/hiredis.h): `cmd` for
 * commands (publications, directory writes and questions, in order) and
 * `sub` for subscriptions only (hiredis 0.14 could mix a reply up with a
 * message on a subscribed context). The link's life:
 *
 *   DOWN --connect--> CONNECTING --both connected (SELECT db)-->
 *   IDCHECK --the node id is ours (NODE_CLAIM)--> ANNOUNCING
 *   --the announce answered, the subscriptions confirmed--> UP
 *   any state --an error, a timeout, a NULL reply--> DOWN (retry later)
 *
 * The id check keeps two live processes from sharing a --node-id (each
 * would wipe the other's users): the id is taken only when no live
 * heartbeat of another process holds it, so a node restarted at once
 * waits (up to the heartbeat's 3 s) for its dead predecessor's to expire,
 * and its users are QUIT first ("node restarted"). While renewing its
 * heartbeat, a node that finds it expired (it was out of reach too long,
 * and may have been reaped) or taken goes through all of it again.
 *
 * The announce writes this node's whole state again (users, memberships,
 * channels) and subscribes every topic with local interest: after a Redis
 * restart (an empty Redis) or an outage the directory is whole again.
 * Commands go out from ANNOUNCING on (they queue behind the announce on
 * the same connection, so they apply after it); while DOWN nothing is sent
 * and nothing is queued: publications are dropped (counted), questions
 * are answered locally, and memory does not grow.
 *
 * Reconnects back off from NET_RETRY_MIN_MS, doubling to NET_RETRY_MAX_MS.
 * Users are told once when the link goes (a NOTICE) and once when it is
 * back. A timeout (a Redis that stopped answering) counts as a failure:
 * the adapter fails the command context after NET_COMMAND_MS without a
 * reply, and the heartbeat makes sure a command is always waiting.
 *
 * The tick (every NET_TICK_MS) renews this node's heartbeat key (TTL
 * NET_HEARTBEAT_MS) and, once the link has been up for NET_REAP_GRACE_MS,
 * runs the reaper (cluster_dir.c): nodes whose heartbeat expired leave the
 * directory and their users QUIT everywhere. The grace lets every live
 * node renew its heartbeat after a Redis that was stopped comes back.
 */
#define _GNU_SOURCE
#include "cluster_int.h"
#include "common/parse.h"

#include "iomux/hiredis.h"

#include <hiredis/sds.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void connect_now(chat_net *net);

int net_link_up(const chat_net *net) {
  return net && net->cmd && net->sub &&
         (net->state == NET_ANNOUNCING || net->state == NET_UP);
}

int net_up(const irc_server *srv) {
  return srv->net && srv->net->state == NET_UP;
}

int net_command(chat_net *net, redisCallbackFn *fn, void *data, int argc,
                const char **argv, const size_t *lens) {
  if (!net_link_up(net))
    return -1;
  if (redisAsyncCommandArgv(net->cmd, fn, data, argc, argv, lens) !=
      REDIS_OK)
    return -1;
  return 0;
}

void net_notice_all(chat_net *net, const char *text) {
  irc_server *srv = net->srv;
  for (irc_client *c = srv->clients.next; c != &srv->clients; c = c->next)
    if (c->registered && c->phase == IRC_ACTIVE)
      irc_send(c, ":%s NOTICE %s :*** %s", srv->opts->name, c->nick, text);
}

/* ---- up and down ----------------------------------------------------------------- */

static void say(const chat_net *net, const char *what, const char *why) {
  fprintf(stderr, "iomux-chatd: cluster %s: %s%s%s\n", net->node, what,
          why ? ": " : "", why ? why : "");
}

void net_link_lost(chat_net *net, const redisAsyncContext *ac) {
  if (ac && ac == net->cmd)
    net->cmd = NULL;
  if (ac && ac == net->sub)
    net->sub = NULL;
  if (net->shutting_down)
    return; /* each context finishes its own clean disconnect */
  if (net->state == NET_DOWN)
    return;
  int was_up = net->state == NET_UP;
  char why[160] = "";
  if (ac && ac->errstr)
    snprintf(why, sizeof why, "%s", ac->errstr);
  net->state = NET_DOWN;
  net->cmd_ready = net->sub_ready = 0;
  redisAsyncContext *a = net->cmd, *b = net->sub;
  net->cmd = net->sub = NULL;
  if (a)
    redisAsyncFree(a); /* its pending callbacks get NULL: answered locally */
  if (b)
    redisAsyncFree(b);
  net_bus_link_down(net);
  if (was_up) {
    say(net, "link to Redis lost", why[0] ? why : NULL);
    net_notice_all(net, "The network link is down: messages to and from "
                        "users on other servers are lost until it is back; "
                        "this server goes on");
    net->outage_told = 1;
  }
  iom_timer_start(net->retry, net->backoff_ms, 0);
  net->backoff_ms *= 2;
  if (net->backoff_ms > NET_RETRY_MAX_MS)
    net->backoff_ms = NET_RETRY_MAX_MS;
}

/* Both halves of "up": the announce answered (cmd_ready 2), and the
 * subscription anchor, subscribed last, after every topic, confirmed
 * (sub_ready 2). */
static void maybe_up(chat_net *net) {
  if (net->state != NET_ANNOUNCING || net->cmd_ready != 2 ||
      net->sub_ready != 2)
    return;
  net->state = NET_UP;
  net->up_since = iom_loop_now(net->loop);
  net->backoff_ms = NET_RETRY_MIN_MS;
  net->said_unreachable = 0;
  if (net->dropped) {
    char why[96];
    snprintf(why, sizeof why, "%llu publications dropped while it was down",
             (unsigned long long)net->dropped);
    say(net, "link to Redis up", why);
    net->dropped = 0;
  } else {
    say(net, "link to Redis up", NULL);
  }
  if (net->outage_told) {
    net_notice_all(net, "The network link is back");
    net->outage_told = 0;
  }
}

static void on_announced(chat_net *net) {
  net->cmd_ready = 2; /* 2: announced */
  maybe_up(net);
}

static void on_anchored(void *data, int ok) {
  chat_net *net = data;
  if (!ok)
    return;
  net->sub_ready = 2;
  maybe_up(net);
}

static void start_announce(chat_net *net) {
  net->state = NET_ANNOUNCING;
  net_bus_link_up(net);
  if (net_bus_when_subscribed(net, "chat:ctl", on_anchored, net) < 0) {
    net_link_lost(net, NULL);
    return;
  }
  net_dir_announce(net, on_announced);
}

/* The id: ours (announce), or held by a live process (a restart of this
 * node before its predecessor's heartbeat expired, or two nodes given one
 * --node-id by mistake): try again every second, saying so once. */
static void on_id(chat_net *net, const char *holder) {
  if (net->state != NET_IDCHECK)
    return;
  if (!holder) {
    net->said_id_held = 0;
    start_announce(net);
    return;
  }
  if (!net->said_id_held++) {
    char why[160];
    snprintf(why, sizeof why, "held by %s; trying again every second",
             holder);
    say(net, "node id in use", why);
  }
  iom_timer_start(net->idcheck, 1000, 0);
}

static void on_idcheck(iom_timer *t, void *data) {
  (void)t;
  chat_net *net = data;
  if (net->state == NET_IDCHECK)
    net_dir_claim_node(net, on_id);
}

static void start_idcheck(chat_net *net) {
  net->state = NET_IDCHECK;
  net_dir_load(net);
  net_dir_claim_node(net, on_id);
}

static void on_select(redisAsyncContext *ac, void *reply, void *data) {
  chat_net *net = data;
  redisReply *r = reply;
  if (!r || r->type == REDIS_REPLY_ERROR) {
    if (r)
      say(net, "SELECT", r->str);
    net_link_lost(net, ac);
    return;
  }
  if (ac == net->cmd)
    net->cmd_ready = 1;
  else
    net->sub_ready = 1;
  if (net->cmd_ready && net->sub_ready && net->state == NET_CONNECTING)
    start_idcheck(net);
}

static void on_connect(const redisAsyncContext *cac, int status) {
  redisAsyncContext *ac = (redisAsyncContext *)cac;
  chat_net *net = ac->data;
  if (status != REDIS_OK) {
    if (net->state == NET_CONNECTING && !net->outage_told &&
        !net->said_unreachable++)
      say(net, "cannot reach Redis", ac->errstr);
    net_link_lost(net, ac); /* hiredis frees ac after this */
    return;
  }
  char db[16];
  snprintf(db, sizeof db, "%d", net->db);
  const char *argv[] = {"SELECT", db};
  if (redisAsyncCommandArgv(ac, on_select, net, 2, argv, NULL) != REDIS_OK)
    net_link_lost(net, ac);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  (void)status;
  net_link_lost(ac->data, ac);
}

static redisAsyncContext *open_context(chat_net *net) {
  redisAsyncContext *ac = net->unix_path[0]
                              ? redisAsyncConnectUnix(net->unix_path)
                              : redisAsyncConnect(net->host, net->port);
  if (!ac)
    return NULL;
  if (iom_hiredis_attach(net->loop, ac) < 0) {
    say(net, "cannot reach Redis", ac->errstr ? ac->errstr : "attach");
    redisAsyncFree(ac);
    return NULL;
  }
  iom_hiredis_set_timeout(ac, NET_CONNECT_MS, NET_COMMAND_MS);
  ac->data = net;
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  return ac;
}

static void connect_now(chat_net *net) {
  net->state = NET_CONNECTING;
  net->cmd_ready = net->sub_ready = 0;
  net->cmd = open_context(net);
  net->sub = net->cmd ? open_context(net) : NULL;
  if (!net->cmd || !net->sub)
    net_link_lost(net, NULL);
}

static void on_retry(iom_timer *t, void *data) {
  (void)t;
  chat_net *net = data;
  if (net->state == NET_DOWN && !net->shutting_down)
    connect_now(net);
}

/* A Redis that takes no more bytes (stopped, or slower than us) must not
 * make our output buffer grow without bound: past NET_OBUF_MAX the link is
 * cut (the timeout would cut it too, a little later). */
static void on_tick(iom_timer *t, void *data) {
  (void)t;
  chat_net *net = data;
  if (net->cmd && sdslen(net->cmd->c.obuf) > NET_OBUF_MAX) {
    net_link_lost(net, NULL);
    return;
  }
  if (net->state != NET_UP)
    return;
  uint64_t now = iom_loop_now(net->loop);
  net_dir_tick(net, now - net->up_since >= NET_REAP_GRACE_MS);
}

/* ---- start and end ------------------------------------------------------------- */

/* s[0..len) as a number in [lo, hi]: digits only (no sign, no space). */
static int url_number(const char *s, size_t len, int lo, int hi, int *out) {
  char buf[16];
  if (len == 0 || len >= sizeof buf || strspn(s, "0123456789") < len)
    return -EINVAL;
  memcpy(buf, s, len);
  buf[len] = '\0';
  return app_parse_int(buf, lo, hi, out) < 0 ? -EINVAL : 0;
}

/* redis://HOST[:PORT][/DB] or unix:PATH[?db=N] (also redis:///PATH). */
static int parse_url(chat_net *net, const char *url) {
  net->port = 6379;
  net->db = 0;
  const char *p;
  if (!strncmp(url, "unix:", 5) || !strncmp(url, "redis:///", 9)) {
    p = url + (url[0] == 'u' ? 5 : 8);
    size_t len = strcspn(p, "?");
    if (len == 0 || len >= sizeof net->unix_path)
      return -EINVAL;
    memcpy(net->unix_path, p, len);
    if (!p[len])
      return 0;
    if (strncmp(p + len, "?db=", 4))
      return -EINVAL;
    return url_number(p + len + 4, strlen(p + len + 4), 0, 100000, &net->db);
  }
  if (strncmp(url, "redis://", 8))
    return -EINVAL;
  p = url + 8;
  size_t hlen = strcspn(p, ":/");
  if (p[0] == '[') /* [v6 address] */
    hlen = strcspn(p, "]") + 1;
  if (hlen == 0 || hlen >= sizeof net->host)
    return -EINVAL;
  if (p[0] == '[')
    snprintf(net->host, sizeof net->host, "%.*s", (int)hlen - 2, p + 1);
  else
    snprintf(net->host, sizeof net->host, "%.*s", (int)hlen, p);
  p += hlen;
  if (*p == ':') {
    size_t len = strcspn(p + 1, "/");
    if (url_number(p + 1, len, 1, 65535, &net->port) < 0)
      return -EINVAL;
    p += 1 + len;
  }
  if (*p == '/' && p[1])
    return url_number(p + 1, strlen(p + 1), 0, 100000, &net->db);
  return *p && strcmp(p, "/") ? -EINVAL : 0;
}

/* A node id: 1-48 of [A-Za-z0-9._-]; default: the host name and the pid. */
static int set_node(chat_net *net, const char *id) {
  if (!id) {
    char host[64] = "node";
    gethostname(host, sizeof host - 1);
    host[strcspn(host, ".")] = '\0';
    snprintf(net->node, sizeof net->node, "%.30s-%d", host, (int)getpid());
  } else {
    size_t len = strlen(id);
    if (len == 0 || len > NET_ID_MAX ||
        strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789._-") != len)
      return -EINVAL;
    memcpy(net->node, id, len + 1);
  }
  for (char *p = net->node; *p; p++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789._-", *p))
      *p = '_';
  /* The incarnation: this process, told apart from an earlier one with
   * the same id (its publications, its leftovers in the directory). */
  unsigned long long inc = 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, &inc, sizeof inc) != (ssize_t)sizeof inc)
    inc = (unsigned long long)iom_loop_now(net->srv->loop) ^
          ((unsigned long long)getpid() << 32);
  if (fd >= 0)
    close(fd);
  snprintf(net->origin, sizeof net->origin, "%s/%016llx", net->node, inc);
  return 0;
}

int net_start(irc_server *srv, const char *url, const char *node_id,
              const char **what) {
  chat_net *net = calloc(1, sizeof *net);
  if (!net)
    return -ENOMEM;
  net->srv = srv;
  net->loop = srv->loop;
  srv->net = net;
  net->backoff_ms = NET_RETRY_MIN_MS;
  net_bus_init(net);
  chat_names_init(&net->claims);
  int err = parse_url(net, url);
  if (err < 0) {
    *what = url;
    return err;
  }
  if ((err = set_node(net, node_id)) < 0) {
    *what = node_id;
    return err;
  }
  if ((err = iom_timer_new(net->loop, on_tick, net, &net->tick)) < 0 ||
      (err = iom_timer_new(net->loop, on_retry, net, &net->retry)) < 0 ||
      (err = iom_timer_new(net->loop, on_idcheck, net, &net->idcheck)) < 0) {
    *what = "cluster";
    return err;
  }
  iom_timer_start(net->tick, NET_TICK_MS, NET_TICK_MS);
  /* The first connection, before the server listens: a client that comes
   * at once finds the network there. The loop is not running yet, so it
   * may run here. */
  connect_now(net);
  uint64_t end = iom_loop_now(net->loop) + 3000;
  while (net->state != NET_UP && net->state != NET_DOWN &&
         iom_loop_now(net->loop) < end)
    iom_loop_run(net->loop, IOM_RUN_ONCE);
  if (net->state != NET_UP)
    say(net, "starting without the network", "retrying in the background");
  return 0;
}

/* Both contexts go now (their pending callbacks get NULL). */
static void free_contexts(chat_net *net) {
  redisAsyncContext *a = net->cmd, *b = net->sub;
  net->cmd = net->sub = NULL;
  net->state = NET_DOWN;
  if (a)
    redisAsyncFree(a);
  if (b)
    redisAsyncFree(b);
}

void net_shutdown(irc_server *srv) {
  chat_net *net = srv->net;
  if (!net || net->shutting_down)
    return;
  net->shutting_down = 1;
  iom_timer_stop(net->tick);
  iom_timer_stop(net->retry);
  iom_timer_stop(net->idcheck);
  if (net_link_up(net)) {
    net_dir_leave(net);
    redisAsyncDisconnect(net->cmd); /* after the last reply */
    redisAsyncDisconnect(net->sub);
  } else {
    free_contexts(net);
  }
}

void net_free(irc_server *srv) {
  chat_net *net = srv->net;
  if (!net)
    return;
  net->shutting_down = 1;
  free_contexts(net);
  net_bus_link_down(net);
  iom_timer_free(net->tick);
  iom_timer_free(net->retry);
  iom_timer_free(net->idcheck);
  net_bus_fini(net);
  chat_names_fini(&net->claims); /* (empty: every claim got its answer) */
  srv->net = NULL;
  free(net);
}
