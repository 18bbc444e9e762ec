/* iomux-chatd --cluster: what happens here, told to the network.
 *
 * Each event has been delivered to this node's clients already (at once,
 * by the IRC code); here it is published for the other nodes' members
 * (cluster_bus.c: the wire format) and written to the directory
 * (cluster_dir.c), both fire and forget, in order on the command
 * connection. Subscriptions follow local interest: a channel's topic
 * while the channel exists here, a user's while the user is registered
 * here.
 */
#include "cluster_int.h"

#include <stdio.h>
#include <string.h>

#define TOPIC_MAX (NET_NAME_MAX + 8)

/* ---- users ------------------------------------------------------------------- */

void net_user_registered(irc_client *c) {
  chat_net *net = c->srv->net;
  if (!net)
    return;
  char topic[TOPIC_MAX];
  net_topic_user(topic, sizeof topic, c->nick);
  net_bus_ref(net, topic);
  net_dir_user(net, c); /* reg 1, the info WHOIS shows */
}

/* A QUIT or a NICK: once to every member of c's channels, on every node.
 * One publication per channel (a node that has several of them gets
 * copies, and delivers the first: see duplicates in cluster_bus.c). */
static void to_common(chat_net *net, irc_client *c, chat_msg *m) {
  const char *topics[IRC_CHANLIMIT];
  char names[IRC_CHANLIMIT][TOPIC_MAX];
  char fields[IRC_CHANLIMIT * (IRC_CHANNELLEN + 1) + 8] = "Q ";
  size_t len = 2;
  int n = 0;
  for (irc_member *my = c->chans; my && n < IRC_CHANLIMIT; my = my->next) {
    net_topic_chan(names[n], sizeof names[n], my->chan->name);
    topics[n] = names[n];
    len += (size_t)snprintf(fields + len, sizeof fields - len, "%s%s",
                            n ? "," : "", my->chan->name);
    n++;
  }
  if (n > 0)
    net_publish(net, topics, n, fields, m);
}

void net_user_gone(irc_client *c, chat_msg *quit) {
  chat_net *net = c->srv->net;
  if (!net)
    return;
  net_client_gone(c);
  if (c->registered && quit)
    to_common(net, c, quit);
  if (c->registered) {
    char topic[TOPIC_MAX];
    net_topic_user(topic, sizeof topic, c->nick);
    net_bus_unref(net, topic);
  }
  if (c->nick[0] && chat_names_get(&c->srv->nicks, c->nick) == c)
    net_dir_release(net, c->nick); /* its memberships go with it */
}

void net_user_renamed(irc_client *c, const char *old, chat_msg *m) {
  chat_net *net = c->srv->net;
  if (!net)
    return;
  if (m)
    to_common(net, c, m);
  char topic[TOPIC_MAX];
  net_topic_user(topic, sizeof topic, c->nick);
  net_bus_ref(net, topic);
  net_topic_user(topic, sizeof topic, old);
  net_bus_unref(net, topic);
  /* the directory moved with the claim (NET_CLAIM's rename) */
}

void net_user_info(irc_client *c) {
  chat_net *net = c->srv->net;
  if (net && c->registered)
    net_dir_user(net, c);
}

/* ---- channels ------------------------------------------------------------------- */

void net_chan_new(irc_channel *ch) {
  chat_net *net = ch->srv->net;
  if (!net)
    return;
  char topic[TOPIC_MAX];
  net_topic_chan(topic, sizeof topic, ch->name);
  net_bus_ref(net, topic);
}

void net_chan_gone(irc_channel *ch) {
  chat_net *net = ch->srv->net;
  if (!net)
    return;
  char topic[TOPIC_MAX];
  net_topic_chan(topic, sizeof topic, ch->name);
  net_bus_unref(net, topic);
}

/* One publication on the channel's topic: "<type> <chan><rest>". */
static void to_chan(chat_net *net, irc_channel *ch, const char *type,
                    const char *rest, chat_msg *m) {
  char topic[TOPIC_MAX], fields[IRC_LINE + 128];
  net_topic_chan(topic, sizeof topic, ch->name);
  snprintf(fields, sizeof fields, "%s %s%s", type, ch->name, rest);
  const char *topics[] = {topic};
  net_publish(net, topics, 1, fields, m);
}

void net_chan_line(irc_channel *ch, chat_msg *m) {
  chat_net *net = ch->srv->net;
  if (net)
    to_chan(net, ch, "M", "", m);
}

void net_chan_part(irc_channel *ch, irc_client *c, chat_msg *m) {
  chat_net *net = ch->srv->net;
  if (!net)
    return;
  to_chan(net, ch, "M", "", m);
  net_dir_part(net, ch->name, c->nick);
}

void net_chan_topic(irc_channel *ch, chat_msg *m) {
  chat_net *net = ch->srv->net;
  if (!net)
    return;
  char rest[IRC_LINE + 96];
  snprintf(rest, sizeof rest, " %lld %s :%s", (long long)ch->topic_at,
           ch->topic_by ? ch->topic_by : "*", ch->topic ? ch->topic : "");
  to_chan(net, ch, "T", rest, m);
  net_dir_topic(net, ch);
}

void net_chan_mode(irc_channel *ch, chat_msg *m, const char *ops) {
  chat_net *net = ch->srv->net;
  if (!net)
    return;
  char rest[IRC_LINE + 64];
  snprintf(rest, sizeof rest, " %u %u %s %s", ch->modes, ch->limit,
           ch->key ? ch->key : "*", ops && *ops ? ops : "*");
  to_chan(net, ch, "O", rest, m);
  net_dir_mode(net, ch, ops ? ops : "");
}

void net_chan_kick(irc_channel *ch, irc_client *target, chat_msg *m) {
  chat_net *net = ch->srv->net;
  if (!net)
    return;
  char rest[IRC_NICKLEN + 2];
  snprintf(rest, sizeof rest, " %s", target->nick);
  to_chan(net, ch, "K", rest, m);
  net_dir_part(net, ch->name, target->nick);
}
