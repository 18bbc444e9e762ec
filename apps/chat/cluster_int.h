/* iomux-chatd --cluster: what the cluster*.c files share (cluster.h is the
 * IRC server's side).
 *
 *   cluster.c       the link: the URL, two hiredis contexts on the loop
 *                   (commands; subscriptions), reconnects with backoff, the
 *                   heartbeat, dead nodes' cleanup, the announce after a
 *                   (re)connect, the outage notices, the shutdown
 *   cluster_bus.c   pub/sub: subscriptions with local interest, publishing,
 *                   the wire format, duplicates, delivery to local clients
 *   cluster_dir.c   the directory in Redis: keys, writes, the announce,
 *                   the heartbeat and the reaper
 *   cluster_lua.c   its Lua scripts (claim, release, join, part, topic,
 *                   modes, kick, invite, node claim and leave, reap...)
 *   cluster_events.c  local events told to the network
 *   cluster_cmd.c   the IRC commands the network answers: the requests
 *                   (cluster_req.h), NICK and JOIN
 *   cluster_query.c NAMES LIST TOPIC WHO WHOIS for the whole network
 *   cluster_ops.c   messages to remote nicks, KICK, INVITE, MODE +o
 */
#ifndef IOMUX_CHAT_CLUSTER_INT_H
#define IOMUX_CHAT_CLUSTER_INT_H

#include "cluster.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <stdint.h>

/* Times (docs/chat.md states them). */
#define NET_TICK_MS 1000       /* heartbeat renewal, dead-node scan */
#define NET_HEARTBEAT_MS 3000  /* a heartbeat key's TTL */
#define NET_REAP_GRACE_MS 3000 /* connected this long before reaping others */
#define NET_CONNECT_MS 1000    /* connect timeout */
#define NET_COMMAND_MS 2000    /* no reply for this long: the link is down */
#define NET_RETRY_MIN_MS 200   /* reconnect backoff: from this... */
#define NET_RETRY_MAX_MS 2000  /* ...doubling up to this */
#define NET_OBUF_MAX (16u << 20) /* unsent bytes before the link is cut */

#define NET_ID_MAX 48 /* a node id */
#define NET_ORIGIN_MAX 72 /* "<node id>/<incarnation>" */
#define NET_NAME_MAX 64  /* a nick or channel name, lower-cased */

enum net_state {
  NET_DOWN, NET_CONNECTING, NET_IDCHECK, NET_ANNOUNCING, NET_UP
};

/* The Lua scripts (cluster_dir.c), by name. Each (re)connect loads them
 * (SCRIPT LOAD, before any other command), and once their SHA1s are known
 * net_eval sends EVALSHA: 40 bytes instead of the script's few hundred. */
enum net_script {
  NET_CLAIM, NET_RELEASE, NET_NODE_CLAIM, NET_NODE_LEAVE, NET_BEAT,
  NET_REAP, NET_JOIN, NET_PART,
  NET_TOPIC, NET_MODE, NET_KICK, NET_INVITE, NET_PRIVMSG, NET_CHANMSG,
  NET_NAMES, NET_WHO_CHAN, NET_WHO_ALL, NET_WHOIS, NET_LIST, NET_CHAN_INFO,
  NET_MEMBERS_OF, NET_RESTORE_CHAN, NET_SCRIPTS
};


typedef struct net_topic net_topic;
typedef struct net_origin net_origin;

struct chat_net {
  irc_server *srv;
  iom_loop *loop;
  char host[256];
  char unix_path[256]; /* redis:///path/to/sock (or unix:), else "" */
  int port, db;
  char node[NET_ID_MAX + 1];       /* --node-id */
  char origin[NET_ORIGIN_MAX + 1]; /* node/incarnation: this process */
  uint64_t seq;                    /* of our publications */

  redisAsyncContext *cmd, *sub; /* NULL when not connected */
  int cmd_ready, sub_ready;     /* connected (and SELECTed) */
  enum net_state state;
  int outage_told;       /* users were told the link is down */
  int said_unreachable;  /* "cannot reach Redis" said (once per outage) */
  int shutting_down;
  uint64_t up_since;     /* loop time the link came up */
  uint64_t backoff_ms;
  iom_timer *tick, *retry, *idcheck;
  int said_id_held;      /* "node id in use" said (once per attempt) */
  uint64_t dropped;      /* publications dropped while down */
  char sha[NET_SCRIPTS][41]; /* the scripts' SHA1s, once Redis told them */

  /* cluster_bus.c */
  chat_names topics;     /* net_topic by name */
  chat_names claims;     /* cluster_cmd.c: nicks being claimed from here */
  net_origin *origins;   /* the last seq seen per origin */
  size_t norigins, corigins;
};

/* ---- cluster.c --------------------------------------------------------------- */

/* Is the link up (commands may be sent)? */
int net_link_up(const chat_net *net);
/* A context failed (an error, a timeout, a NULL reply): the link is down,
 * both contexts go, a reconnect is scheduled. Idempotent. */
void net_link_lost(chat_net *net, const redisAsyncContext *ac);
/* Send a command on the command context (argv form). Returns 0 or -1 (the
 * link is down: fn will not run). fn may be NULL. */
int net_command(chat_net *net, redisCallbackFn *fn, void *data, int argc,
                const char **argv, const size_t *lens);
/* A NOTICE from the server to every registered local user. */
void net_notice_all(chat_net *net, const char *text);

/* ---- cluster_bus.c ------------------------------------------------------------ */

void net_bus_init(chat_net *net);
void net_bus_fini(chat_net *net);
/* Local interest in a topic ("chat:c:#x", "chat:u:nick"): +1 or -1. The
 * topic is subscribed to while its count is positive. */
void net_bus_ref(chat_net *net, const char *topic);
void net_bus_unref(chat_net *net, const char *topic);
/* Call fn(data, ok) once the topic is subscribed (ok 1), or the link went
 * down first (ok 0); at once if it is subscribed now. The topic must have
 * a reference. Returns 0, or -1 (out of memory; fn will not run). */
int net_bus_when_subscribed(chat_net *net, const char *topic,
                            void (*fn)(void *data, int ok), void *data);
/* The subscription context is new: subscribe every topic with interest. */
void net_bus_link_up(chat_net *net);
/* The link is gone: every topic is unsubscribed, waiters get ok 0. */
void net_bus_link_down(chat_net *net);
/* A node is gone (its origins are forgotten). */
void net_bus_forget_node(chat_net *net, const char *node);

/* Publish: header fields (space-separated, no spaces inside, the last one
 * may start with ':' and hold spaces), then the IRC line (CR LF included).
 * Dropped (counted) while the link is down. One PUBLISH per topic. */
void net_publish(chat_net *net, const char *const *topics, int ntopics,
                 const char *fields, const chat_msg *line);

/* Topic names. */
void net_topic_chan(char *buf, size_t size, const char *chan);
void net_topic_user(char *buf, size_t size, const char *nick);
/* rfc1459 lower case, for keys and topics. */
void net_lower(char *dst, size_t size, const char *src);

/* ---- cluster_dir.c -------------------------------------------------------------- */

/* The scripts' text (cluster_lua.c). */
extern const char *const net_scripts[NET_SCRIPTS];
/* EVAL(SHA) script with no KEYS and these arguments. Returns 0 or -1
 * (link down: fn will not run). */
int net_eval(chat_net *net, enum net_script s, redisCallbackFn *fn,
             void *data, int argc, const char **argv);
/* SCRIPT LOAD every script: first thing on a new command connection. */
void net_dir_load(chat_net *net);
/* Take this node's id (NODE_CLAIM): done(net, NULL) once it is ours, or
 * done(net, holder) while a live process (or an error) holds it. */
void net_dir_claim_node(chat_net *net,
                        void (*done)(chat_net *net, const char *holder));

/* Directory writes, fire and forget (dropped while the link is down: the
 * announce after the reconnect writes the whole local state again). */
void net_dir_user(chat_net *net, irc_client *c);      /* info fields */
void net_dir_release(chat_net *net, const char *nick); /* a nick goes */
void net_dir_part(chat_net *net, const char *chan, const char *nick);
void net_dir_topic(chat_net *net, irc_channel *ch);
void net_dir_mode(chat_net *net, irc_channel *ch, const char *ops);
/* The announce (after the id is ours): this node's users and channels,
 * all of them. done(net) runs after the last reply. */
void net_dir_announce(chat_net *net, void (*done)(chat_net *net));
/* One tick: renew the heartbeat; reap dead nodes (if reap). */
void net_dir_tick(chat_net *net, int reap);
/* The shutdown: everything of this node leaves the directory. */
void net_dir_leave(chat_net *net);
/* The claim's 12 arguments for c under `nick` (also the announce's). */
int net_claim_args(chat_net *net, irc_client *c, const char *nick,
                   const char *old, const char **argv, char bufs[][32]);

/* ---- cluster_cmd.c ------------------------------------------------------------------ */

/* A reply's string element i (or "" if missing or not a string); its
 * integer (a string is read as one; -1 if missing). */
const char *net_str(const redisReply *r, size_t i);
long long net_int(const redisReply *r, size_t i);

#endif
