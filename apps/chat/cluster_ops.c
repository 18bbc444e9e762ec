/* iomux-chatd --cluster: what a user does to users of other nodes:
 * PRIVMSG and NOTICE to a remote nick or to a channel not here, KICK of a
 * remote member, INVITE, and MODE +o/-o of a remote member (the MODE runs
 * again with the network's answer). cluster_req.h: how a question is
 * asked.
 */
#include "cluster_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRIVMSG, NOTICE ---------------------------------------------------------------- */

static int on_message(net_req *q, redisReply *r) {
  irc_client *c = q->c;
  if (!c || q->flag) /* gone, or a NOTICE: no answer to give */
    return 0;
  long long code = r ? (r->type == REDIS_REPLY_INTEGER ? r->integer
                                                       : net_int(r, 0))
                     : -1;
  if (q->name[0] == '#') {
    if (code == 401 || code < 0)
      irc_reply(c, "401", "%s :No such nick/channel", q->name);
    else if (code == 404)
      irc_reply(c, "404", "%s :Cannot send to channel", q->name);
  } else if (code != 1) {
    irc_reply(c, "401", "%s :No such nick/channel", q->name);
  } else if (*net_str(r, 2)) {
    irc_reply(c, "301", "%s :%s", net_str(r, 1), net_str(r, 2));
  }
  return 0;
}

int net_message(irc_client *c, const char *cmd, const char *target,
                const char *text, int notice, const char *more) {
  chat_net *net = net_asking(c);
  if (!net)
    return 0;
  char lname[NET_NAME_MAX + 1], head[NET_ORIGIN_MAX + NET_NAME_MAX + 48];
  char prefix[IRC_LINE], suffix[IRC_LINE];
  req_lower(lname, target);
  int chan = target[0] == '#';
  snprintf(head, sizeof head, "%s %llu %s %s\n", net->origin,
           (unsigned long long)++net->seq, chan ? "M" : "P",
           chan ? target : lname);
  int n = snprintf(prefix, sizeof prefix, ":%s!%s@%s %s ", c->nick, c->user,
                   c->host, cmd);
  /* the line is cut to IRC_LINE, with room for the longest nick */
  int room = IRC_LINE - 2 - n - (chan ? (int)strlen(target) : IRC_NICKLEN) - 2;
  if (room < 0)
    room = 0;
  snprintf(suffix, sizeof suffix, " :%.*s\r\n", room, text);
  net_req *q = net_req_new(c, on_message, target, more);
  if (!q)
    return 0;
  q->flag = notice;
  if (chan) {
    char payload[sizeof head + 2 * IRC_LINE];
    snprintf(payload, sizeof payload, "%s%s%s%s", head, prefix, target,
             suffix);
    const char *argv[] = {lname, payload};
    if (notice) {
      net_req_free(q);
      return net_eval(net, NET_CHANMSG, NULL, NULL, 2, argv) < 0 ? 0 : 2;
    }
    return net_ask(q, NET_CHANMSG, 2, argv);
  }
  const char *argv[] = {lname, head, prefix, suffix};
  if (notice) {
    net_req_free(q);
    return net_eval(net, NET_PRIVMSG, NULL, NULL, 4, argv) < 0 ? 0 : 2;
  }
  return net_ask(q, NET_PRIVMSG, 4, argv);
}

/* ---- KICK, INVITE ---------------------------------------------------------------------- */

static int on_kick(net_req *q, redisReply *r) {
  irc_client *c = q->c;
  long long code = r ? net_int(r, 0) : -1;
  if (!c)
    return 0;
  irc_channel *ch = irc_chan_find(c->srv, q->data ? q->data : "");
  if (code == 441) {
    irc_reply(c, "441", "%s %s :They aren't on that channel", net_str(r, 1),
              q->data ? q->data : "*");
  } else if (code != 0 || !ch) {
    irc_reply(c, "401", "%s :No such nick/channel", q->name);
  } else {
    chat_msg *msg = irc_msg_from(c, "KICK %s %s :%.*s", ch->name,
                                 net_str(r, 1), IRC_KICKLEN,
                                 q->arg ? q->arg : "");
    irc_chan_send(ch, NULL, msg);
    char topic[NET_NAME_MAX + 8], fields[IRC_LINE];
    net_topic_chan(topic, sizeof topic, ch->name);
    snprintf(fields, sizeof fields, "K %s %s", ch->name, net_str(r, 1));
    const char *topics[] = {topic};
    net_publish(q->net, topics, 1, fields, msg);
    chat_msg_unref(msg);
  }
  return 0;
}

int net_kick(irc_client *c, irc_channel *ch, const char *nick,
             const char *reason, const char *more) {
  chat_net *net = net_asking(c);
  if (!net)
    return 0;
  char lc[NET_NAME_MAX + 1], ln[NET_NAME_MAX + 1];
  req_lower(lc, ch->name);
  req_lower(ln, nick);
  net_req *q = net_req_new(c, on_kick, nick, more);
  if (!q || !(q->data = strdup(ch->name))) {
    if (q)
      net_req_free(q);
    return 0;
  }
  net_keep(&q->arg, reason);
  const char *argv[] = {lc, ln};
  return net_ask(q, NET_KICK, 2, argv);
}

static int on_invite(net_req *q, redisReply *r) {
  irc_client *c = q->c;
  long long code = r ? net_int(r, 0) : -1;
  if (!c)
    return 0;
  const char *chan = q->arg ? q->arg : "";
  if (code == 443) {
    irc_reply(c, "443", "%s %s :is already on channel", net_str(r, 1), chan);
  } else if (code != 0) {
    irc_reply(c, "401", "%s :No such nick/channel", q->name);
  } else {
    const char *nick = net_str(r, 1);
    irc_reply(c, "341", "%s %s", nick, chan);
    chat_msg *msg = irc_msg_from(c, "INVITE %s :%s", nick, chan);
    irc_client *t = irc_find_user(c->srv, nick);
    if (t) {
      irc_share(t, msg);
    } else {
      char topic[NET_NAME_MAX + 8], fields[NET_NAME_MAX + 8], ln[64];
      req_lower(ln, nick);
      net_topic_user(topic, sizeof topic, nick);
      snprintf(fields, sizeof fields, "P %s", ln);
      const char *topics[] = {topic};
      net_publish(q->net, topics, 1, fields, msg);
    }
    chat_msg_unref(msg);
    if (*net_str(r, 2))
      irc_reply(c, "301", "%s :%s", nick, net_str(r, 2));
  }
  return 0;
}

int net_invite(irc_client *c, const char *nick, irc_channel *ch) {
  chat_net *net = net_asking(c);
  if (!net)
    return 0;
  char lc[NET_NAME_MAX + 1], ln[NET_NAME_MAX + 1];
  req_lower(lc, ch->name);
  req_lower(ln, nick);
  net_req *q = net_req_new(c, on_invite, nick, NULL);
  if (q)
    net_keep(&q->arg, ch->name);
  const char *argv[] = {lc, ln};
  return net_ask(q, NET_INVITE, 2, argv);
}

/* ---- MODE +o/-o of nicks not here -------------------------------------------------------- */

/* The answer: "nick\tvalue\n" per nick asked (value: the network's
 * spelling if a member, "!Nick" if a user elsewhere, "" if none). */
static int on_members(net_req *q, redisReply *r) {
  if (!q->c || !r || r->type != REDIS_REPLY_ARRAY) {
    /* no answer: the MODE runs locally, once (an empty answer) */
    if (q->c && (q->answer = strdup("")))
      net_keep(&q->more, q->arg);
    return 0;
  }
  size_t len = 1;
  for (size_t i = 0; i < r->elements; i++)
    len += strlen(net_str(r, i)) + 2 * NET_NAME_MAX + 4;
  char *a = malloc(len), *names = q->data;
  if (!a)
    return 0;
  size_t k = 0;
  a[0] = '\0';
  char *save = NULL;
  char *nick = names ? strtok_r(names, " ", &save) : NULL;
  for (size_t i = 0; i < r->elements && nick; i++) {
    k += (size_t)snprintf(a + k, len - k, "%s\t%s\n", nick, net_str(r, i));
    nick = strtok_r(NULL, " ", &save);
  }
  q->answer = a;
  net_keep(&q->more, q->arg);
  return 0;
}

int net_mode_ops(irc_client *c, irc_channel *ch, const irc_msg *m) {
  chat_net *net = net_asking(c);
  if (!net || m->nparams < 3)
    return 0;
  /* the +o/-o letters' nicks that are not members here */
  char nicks[IRC_LINE] = "", lns[IRC_MODES][NET_NAME_MAX + 1];
  const char *argv[1 + IRC_MODES];
  char lc[NET_NAME_MAX + 1];
  req_lower(lc, ch->name);
  argv[0] = lc;
  int n = 1, arg = 2;
  size_t len = 0;
  for (const char *p = m->params[1]; *p; p++) {
    if (*p == '+' || *p == '-')
      continue;
    int takes = *p == 'o' || *p == 'k' || *p == 'l';
    if (!takes || arg >= m->nparams || arg - 2 >= IRC_MODES)
      continue;
    const char *param = m->params[arg++];
    if (*p != 'o' || irc_find_user(c->srv, param) || n > IRC_MODES)
      continue;
    req_lower(lns[n - 1], param);
    argv[n] = lns[n - 1];
    n++;
    len += (size_t)snprintf(nicks + len, sizeof nicks - len, "%s%s",
                            len ? " " : "", param);
  }
  if (n == 1)
    return 0;
  net_req *q = net_req_new(c, on_members, ch->name, NULL);
  if (!q || !(q->data = strdup(nicks))) {
    if (q)
      net_req_free(q);
    return 0;
  }
  /* the MODE line again, to run once the answer is in */
  char line[IRC_LINE];
  len = (size_t)snprintf(line, sizeof line, "MODE");
  for (int i = 0; i < m->nparams && len < sizeof line; i++)
    len += (size_t)snprintf(line + len, sizeof line - len, " %s%s",
                            i == m->nparams - 1 ? ":" : "", m->params[i]);
  if (net_keep(&q->arg, line) < 0) {
    net_req_free(q);
    return 0;
  }
  if (net_ask(q, NET_MEMBERS_OF, n, argv))
    return 1;
  return 0;
}

int net_member_elsewhere(irc_client *c, const char *nick, char *name,
                         size_t size) {
  snprintf(name, size, "%s", nick);
  const char *a = c->answer;
  while (a && *a) {
    const char *tab = strchr(a, '\t'), *nl = strchr(a, '\n');
    if (!tab || !nl)
      break;
    char asked[IRC_LINE];
    snprintf(asked, sizeof asked, "%.*s", (int)(tab - a), a);
    if (!chat_casecmp(asked, nick)) {
      const char *v = tab + 1;
      int vlen = (int)(nl - v);
      if (vlen == 0)
        return -1;
      if (*v == '!') {
        snprintf(name, size, "%.*s", vlen - 1, v + 1);
        return 0;
      }
      snprintf(name, size, "%.*s", vlen, v);
      return 1;
    }
    a = nl + 1;
  }
  return -1;
}

