/* iomux-chatd --cluster: the directory in Redis, its keys (the scripts
 * that change them are in cluster_lua.c).
 *
 * Keys (names lower-cased, rfc1459; one Redis, one database):
 *
 *   chat:nodes          hash   node id -> its origin (id/incarnation)
 *   chat:hb:<node>      string the node's heartbeat, TTL 3 s, renewed 1/s
 *   chat:nn:<node>      set    the nicks the node holds
 *   chat:users          set    every nick
 *   chat:user:<nick>    hash   node srv nick user host real signon reg inv
 *                              away (srv: the node's --name)
 *   chat:uc:<nick>      set    the user's channels
 *   chat:chans          set    every channel
 *   chat:chan:<chan>    hash   name created modes limit key topic tby tat
 *   chat:mb:<chan>      hash   member nick -> "@Nick" (op) or "Nick"
 *   chat:inv:<chan>     set    nicks invited (+i)
 *
 * Every change that must be atomic is a Lua script (Redis runs each alone):
 * a nick claim (433 when another node holds it), a join (the +i +k +l
 * checks and the first member's op), the cleanup of a dead node (its users
 * leave every channel, their QUITs are published, exactly once: the first
 * node whose reaper sees the expired heartbeat does it all, and the node
 * is no longer listed for the next). The scripts name their keys at run
 * time (no KEYS[]): fine on one Redis, not on Redis Cluster.
 *
 * Writes that follow a local event (a part, a topic, a mode) are fire and
 * forget, in order on the command connection. While the link is down they
 * are dropped: after the reconnect, NODE_CLAIM clears this node's entries
 * and the announce writes its whole local state again (every user,
 * channel and membership of this node).
 */
#include "cluster_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- running the scripts (cluster_lua.c) --------------------------------------- */

int net_eval(chat_net *net, enum net_script s, redisCallbackFn *fn,
             void *data, int argc, const char **argv) {
  const char *stack[64 + 3], **all = stack;
  if (argc + 3 > (int)(sizeof stack / sizeof stack[0]) &&
      !(all = malloc(((size_t)argc + 3) * sizeof *all)))
    return -1;
  int sha = net->sha[s][0] != '\0';
  all[0] = sha ? "EVALSHA" : "EVAL";
  all[1] = sha ? net->sha[s] : net_scripts[s];
  all[2] = "0";
  for (int i = 0; i < argc; i++)
    all[3 + i] = argv[i];
  int rc = net_command(net, fn, data, argc + 3, all, NULL);
  if (all != stack)
    free(all);
  return rc;
}

static void on_loaded(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  redisReply *r = reply;
  char *sha = data;
  if (r && r->type == REDIS_REPLY_STRING && r->len == 40)
    memcpy(sha, r->str, 41);
}

/* The SHA1s do not change (they are the scripts'), but a restarted Redis
 * has forgotten the scripts: each new connection loads them again, before
 * anything else, so an EVALSHA behind them always finds its script. */
void net_dir_load(chat_net *net) {
  for (int i = 0; i < NET_SCRIPTS; i++) {
    const char *argv[] = {"SCRIPT", "LOAD", net_scripts[i]};
    if (net->cmd)
      redisAsyncCommandArgv(net->cmd, on_loaded, net->sha[i], 3, argv, NULL);
  }
}

typedef struct id_claim {
  chat_net *net;
  void (*done)(chat_net *net, const char *holder);
} id_claim;

static void on_id(redisAsyncContext *ac, void *reply, void *data) {
  id_claim *a = data;
  redisReply *r = reply;
  if (r && a->net->cmd == ac) {
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
      a->done(a->net, NULL);
    else if (r->type == REDIS_REPLY_STRING)
      a->done(a->net, r->str);
    else
      a->done(a->net, r->type == REDIS_REPLY_ERROR ? r->str : "?");
  }
  free(a);
}

/* Before the link counts as up: the script text itself (EVAL), since the
 * loads may not have been answered yet. */
void net_dir_claim_node(chat_net *net,
                        void (*done)(chat_net *net, const char *holder)) {
  char ttl[16];
  snprintf(ttl, sizeof ttl, "%d", NET_HEARTBEAT_MS);
  const char *argv[] = {"EVAL", net_scripts[NET_NODE_CLAIM], "0", net->node,
                        net->origin, ttl};
  id_claim *a = malloc(sizeof *a);
  if (!a)
    return;
  *a = (id_claim){net, done};
  if (!net->cmd ||
      redisAsyncCommandArgv(net->cmd, on_id, a, 6, argv, NULL) != REDIS_OK)
    free(a);
}

/* ---- writes after local events ---------------------------------------------- */

static void lower(char *dst, const char *src) {
  net_lower(dst, NET_NAME_MAX + 1, src);
}

int net_claim_args(chat_net *net, irc_client *c, const char *nick,
                   const char *old, const char **argv, char bufs[][32]) {
  /* bufs: [0] ln, [1] old ln, [2] signon */
  lower(bufs[0], nick);
  if (old && *old)
    lower(bufs[1], old);
  else
    bufs[1][0] = '\0';
  snprintf(bufs[2], 32, "%lld", (long long)c->signon);
  argv[0] = bufs[0];
  argv[1] = net->node;
  argv[2] = nick;
  argv[3] = bufs[1];
  argv[4] = c->user[0] ? c->user : "~";
  argv[5] = c->host;
  argv[6] = c->real;
  argv[7] = bufs[2];
  argv[8] = c->registered ? "1" : "0";
  argv[9] = c->invisible ? "1" : "0";
  argv[10] = c->away ? c->away : "";
  argv[11] = c->srv->opts->name;
  return 12;
}

void net_dir_user(chat_net *net, irc_client *c) {
  const char *argv[12];
  char bufs[3][32];
  int n = net_claim_args(net, c, c->nick, c->nick, argv, bufs);
  net_eval(net, NET_CLAIM, NULL, NULL, n, argv);
}

void net_dir_release(chat_net *net, const char *nick) {
  char ln[NET_NAME_MAX + 1];
  lower(ln, nick);
  const char *argv[] = {ln, net->node};
  net_eval(net, NET_RELEASE, NULL, NULL, 2, argv);
}

void net_dir_part(chat_net *net, const char *chan, const char *nick) {
  char lc[NET_NAME_MAX + 1], ln[NET_NAME_MAX + 1];
  lower(lc, chan);
  lower(ln, nick);
  const char *argv[] = {lc, ln};
  net_eval(net, NET_PART, NULL, NULL, 2, argv);
}

void net_dir_topic(chat_net *net, irc_channel *ch) {
  char lc[NET_NAME_MAX + 1], at[32];
  lower(lc, ch->name);
  snprintf(at, sizeof at, "%lld", (long long)ch->topic_at);
  const char *argv[] = {lc, ch->topic ? ch->topic : "",
                        ch->topic_by ? ch->topic_by : "", at};
  net_eval(net, NET_TOPIC, NULL, NULL, 4, argv);
}

/* ops: "+nick,-nick" */
void net_dir_mode(chat_net *net, irc_channel *ch, const char *ops) {
  char lc[NET_NAME_MAX + 1], modes[16], limit[16], list[IRC_LINE];
  char lns[IRC_MODES * 2][NET_NAME_MAX + 1];
  const char *argv[4 + IRC_MODES * 4];
  lower(lc, ch->name);
  snprintf(modes, sizeof modes, "%u", ch->modes);
  snprintf(limit, sizeof limit, "%u", ch->limit);
  snprintf(list, sizeof list, "%s", ops);
  int n = 0;
  argv[n++] = lc;
  argv[n++] = modes;
  argv[n++] = limit;
  argv[n++] = ch->key ? ch->key : "";
  int k = 0;
  for (char *op = strtok(list, ","); op && k < IRC_MODES * 2;
       op = strtok(NULL, ","), k++) {
    lower(lns[k], op + 1);
    argv[n++] = lns[k];
    argv[n++] = op[0] == '+' ? "+" : "-";
  }
  net_eval(net, NET_MODE, NULL, NULL, n, argv);
}

/* ---- the announce ------------------------------------------------------------------ */

typedef struct announce {
  chat_net *net;
  void (*done)(chat_net *net);
} announce;

/* A claim of the announce came back 0: while the link was down another
 * node's user took the nick. The local one goes (as ircds do on a nick
 * collision). */
static void on_reclaim(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  char *nick = data;
  redisReply *r = reply;
  chat_net *net = NULL;
  (void)net;
  if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
    irc_server *srv = ((chat_net *)ac->data)->srv;
    irc_client *c = chat_names_get(&srv->nicks, nick);
    if (c)
      irc_drop(c, "Nick collision");
  }
  free(nick);
}

/* RESTORE_CHAN's answer: Redis's state of the channel (another node's,
 * if it came back first) becomes the local copy's. */
static void on_restored(redisAsyncContext *ac, void *reply, void *data) {
  char *name = data;
  redisReply *r = reply;
  irc_server *srv = ((chat_net *)ac->data)->srv;
  irc_channel *ch = irc_chan_find(srv, name);
  free(name);
  if (!ch || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 6)
    return;
  ch->modes = (unsigned)strtoul(net_str(r, 0), NULL, 10);
  ch->limit = (uint32_t)strtoul(net_str(r, 1), NULL, 10);
  free(ch->key);
  ch->key = *net_str(r, 2) ? strdup(net_str(r, 2)) : NULL;
  free(ch->topic);
  free(ch->topic_by);
  ch->topic = *net_str(r, 3) ? strdup(net_str(r, 3)) : NULL;
  ch->topic_by = ch->topic ? strdup(net_str(r, 4)) : NULL;
  ch->topic_at = (time_t)strtoll(net_str(r, 5), NULL, 10);
}

static void announce_chan(chat_net *net, irc_channel *ch) {
  size_t n = 9 + 2 * (size_t)ch->nmembers;
  const char **argv = malloc(n * sizeof *argv);
  char (*vals)[IRC_NICKLEN + 2] = malloc(ch->nmembers * sizeof *vals + 1);
  char (*lns)[NET_NAME_MAX + 1] = malloc(ch->nmembers * sizeof *lns + 1);
  char *name = strdup(ch->name);
  char lc[NET_NAME_MAX + 1], created[32], modes[16], limit[16], at[32];
  if (!argv || !vals || !lns || !name)
    goto out;
  lower(lc, ch->name);
  snprintf(created, sizeof created, "%lld", (long long)ch->created);
  snprintf(modes, sizeof modes, "%u", ch->modes);
  snprintf(limit, sizeof limit, "%u", ch->limit);
  snprintf(at, sizeof at, "%lld", (long long)ch->topic_at);
  const char *fixed[] = {lc, ch->name, created, modes, limit,
                         ch->key ? ch->key : "", ch->topic ? ch->topic : "",
                         ch->topic_by ? ch->topic_by : "", at};
  memcpy(argv, fixed, sizeof fixed);
  size_t k = 9;
  for (uint32_t i = 0; i < ch->nmembers; i++) {
    irc_member *m = ch->members[i];
    lower(lns[i], m->cl->nick);
    snprintf(vals[i], sizeof vals[i], "%s%s", m->op ? "@" : "", m->cl->nick);
    argv[k++] = lns[i];
    argv[k++] = vals[i];
  }
  if (net_eval(net, NET_RESTORE_CHAN, on_restored, name, (int)k, argv) == 0)
    name = NULL;
out:
  free(name);
  free(argv);
  free(vals);
  free(lns);
}

static void on_announced(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  announce *a = data;
  if (reply && a->net->cmd == ac)
    a->done(a->net);
  free(a);
}

void net_dir_announce(chat_net *net, void (*done)(chat_net *net)) {
  irc_server *srv = net->srv;
  for (irc_client *c = srv->clients.next; c != &srv->clients; c = c->next) {
    if (!c->nick[0] || c->phase != IRC_ACTIVE)
      continue;
    const char *argv[12];
    char bufs[3][32];
    int n = net_claim_args(net, c, c->nick, "", argv, bufs);
    char *nick = strdup(c->nick);
    if (nick && net_eval(net, NET_CLAIM, on_reclaim, nick, n, argv) < 0)
      free(nick);
  }
  size_t pos = 0;
  irc_channel *ch;
  while ((ch = chat_names_next(&srv->chans, &pos)))
    announce_chan(net, ch);
  announce *a = malloc(sizeof *a);
  const char *ping[] = {"PING"};
  if (a) {
    *a = (announce){net, done};
    if (net_command(net, on_announced, a, 1, ping, NULL) < 0)
      free(a);
  }
}

/* ---- the tick, the leave ------------------------------------------------------------ */

static void on_reaped(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  chat_net *net = data;
  redisReply *r = reply;
  if (!r || r->type != REDIS_REPLY_ARRAY)
    return;
  for (size_t i = 0; i < r->elements; i++) {
    fprintf(stderr, "iomux-chatd: cluster %s: node %s lost (heartbeat "
                    "expired): its users have quit\n",
            net->node, net_str(r, i));
    net_bus_forget_node(net, net_str(r, i));
  }
}

/* The heartbeat's answer: anything but "renewed" means this node's place
 * in the directory is not certain any more: it goes through the whole
 * (re)connect, which claims the id again and announces everything. */
static void on_beat(redisAsyncContext *ac, void *reply, void *data) {
  chat_net *net = data;
  redisReply *r = reply;
  if (!r || net->cmd != ac || r->type != REDIS_REPLY_INTEGER ||
      r->integer == 1)
    return;
  fprintf(stderr, "iomux-chatd: cluster %s: %s: connecting again\n",
          net->node,
          r->integer == 0 ? "the heartbeat had expired (Redis was out of "
                            "reach too long: this node may have been reaped)"
                          : "another process has taken this node id");
  net_link_lost(net, NULL);
}

void net_dir_tick(chat_net *net, int reap) {
  char ttl[16];
  snprintf(ttl, sizeof ttl, "%d", NET_HEARTBEAT_MS);
  const char *beat[] = {net->node, net->origin, ttl};
  net_eval(net, NET_BEAT, on_beat, net, 3, beat);
  if (reap) {
    const char *argv[] = {net->node};
    net_eval(net, NET_REAP, on_reaped, net, 1, argv);
  }
}

void net_dir_leave(chat_net *net) {
  const char *argv[] = {net->node, net->origin};
  net_eval(net, NET_NODE_LEAVE, NULL, NULL, 2, argv);
}
