/* iomux-chatd --cluster: what the IRC server asks of the network.
 *
 * Several chatd processes behave as one IRC network through one Redis:
 * pub/sub carries what one node's users do to the others' (a channel's
 * lines on "chat:c:<channel>", a user's on "chat:u:<nick>"), and keys hold
 * the directory (nicks, channel members, topics, modes, user info, node
 * heartbeats). docs/chat.md, "Cluster mode", has the whole design.
 *
 * This is the narrow seam between the IRC server (irc_*.c) and the cluster
 * code (cluster*.c). Every function is a no-op without --cluster (srv->net
 * is NULL), and in a build without hiredis irc_nocluster.c provides them all
 * as no-ops. Two kinds:
 *
 *   - events (net_user_*, net_chan_*): something happened here, and has
 *     been delivered to this node's clients already; the network is told
 *     (a publish, a directory write), fire and forget;
 *   - questions (the int functions): the network answers them. They return
 *     1 when the network took the command over (the answer comes later, or
 *     has been given) and 0 when the local code should answer (no
 *     cluster, or the link to Redis is down: then answers are this node's
 *     own). A client with a question in flight reads no more lines until
 *     the answer (irc_server.c: c->wait), so its replies keep their order.
 */
#ifndef IOMUX_CHAT_CLUSTER_H
#define IOMUX_CHAT_CLUSTER_H

#include "irc.h"

/* Start the link (--cluster URL, --node-id). Waits up to a few seconds
 * for the first connection; a Redis that cannot be reached then is tried
 * again in the background (the node runs alone meanwhile). Returns 0, or a
 * negative errno with *what naming what failed (-EINVAL: the URL or the
 * node id; -ENOTSUP: a build without hiredis). */
int net_start(irc_server *srv, const char *url, const char *node_id,
              const char **what);
/* The server is shutting down, its clients gone: the network is told,
 * the link closes (at most a few seconds). */
void net_shutdown(irc_server *srv);
void net_free(irc_server *srv);

/* ---- events ----------------------------------------------------------------- */

/* c completed its registration (001 sent): its info goes to the
 * directory and its private messages are subscribed to. */
void net_user_registered(irc_client *c);
/* c leaves (QUIT, drop, EOF). `quit` is the QUIT line its channels'
 * members see (NULL if it never registered). */
void net_user_gone(irc_client *c, chat_msg *quit);
/* c was renamed from `old` (the claim came first, through net_nick); m is
 * the NICK line. */
void net_user_renamed(irc_client *c, const char *old, chat_msg *m);
/* c's AWAY message or +i changed. */
void net_user_info(irc_client *c);

/* A channel exists here now / not any more (its first / last local
 * member). */
void net_chan_new(irc_channel *ch);
void net_chan_gone(irc_channel *ch);
/* A line for the channel's members (PRIVMSG, NOTICE, JOIN, PART, INVITE
 * notice...), delivered here already. */
void net_chan_line(irc_channel *ch, chat_msg *m);
/* c parted ch (PART, JOIN 0); m is the PART line, delivered here. Call it
 * before the membership is gone. */
void net_chan_part(irc_channel *ch, irc_client *c, chat_msg *m);
/* The topic was set; m is the TOPIC line. */
void net_chan_topic(irc_channel *ch, chat_msg *m);
/* Modes changed (all of the channel's flags, key and limit are sent);
 * ops: "+nick,-nick" of the +o/-o that took effect ("" if none). */
void net_chan_mode(irc_channel *ch, chat_msg *m, const char *ops);
/* A member of this node was kicked out of ch by someone of this node;
 * call it before the membership is gone. */
void net_chan_kick(irc_channel *ch, irc_client *target, chat_msg *m);

/* ---- questions (1: the network has it, 0: answer locally) ------------------- */

/* NICK: claim the nick network-wide. Answer: 433, or the rename
 * (irc_nick_done). During an outage: 437 (no nick can be checked). */
int net_nick(irc_client *c, const char *nick);
/* JOIN of one channel; `more` is the rest of the command ("#b,#c k2,k3" or
 * NULL), run once this one is done. */
int net_join(irc_client *c, const char *name, const char *key,
             const char *more);
/* NAMES of one channel; `more` as for JOIN. */
int net_names(irc_client *c, const char *name, const char *more);
int net_who(irc_client *c, const char *mask);
int net_whois(irc_client *c, const char *nick);
int net_list(irc_client *c, const char *names);
/* TOPIC #chan for a channel not here: the topic (331/332/333), or, for
 * a TOPIC that sets one (set), 442 or 403. */
int net_topic_query(irc_client *c, const char *name, int set);
/* PRIVMSG/NOTICE to a nick that is not here, or to a channel that is not
 * here; `more` as for JOIN (the remaining targets). Returns 0 (answer
 * locally), 1 (the network took the rest of the command), or 2 (sent,
 * nothing to wait for: a NOTICE; go on with the next target). */
int net_message(irc_client *c, const char *cmd, const char *target,
                const char *text, int notice, const char *more);
/* KICK of a nick that is not a member here. */
int net_kick(irc_client *c, irc_channel *ch, const char *nick,
             const char *reason, const char *more);
/* INVITE of a nick that is not here. */
int net_invite(irc_client *c, const char *nick, irc_channel *ch);
/* MODE #chan +o/-o for a nick that is not a member here: is it one
 * elsewhere? The MODE command runs again once the answer is in. */
int net_mode_ops(irc_client *c, irc_channel *ch, const irc_msg *m);
/* The answer net_mode_ops fetched, while the MODE runs again: 1 a member
 * of the channel on another node, 0 a user but not a member, -1 no such
 * user. *name gets the nick as the network spells it. */
int net_member_elsewhere(irc_client *c, const char *nick, char *name,
                         size_t size);

/* ---- the client's side ---------------------------------------------------------- */

/* A client goes away with a question in flight: forget it. */
void net_client_gone(irc_client *c);
/* "*** ..." notices: is the network link up (for LUSERS and the like)? */
int net_up(const irc_server *srv);

#endif
