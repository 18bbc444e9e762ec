/* iomux-chatd --cluster: NAMES, LIST, TOPIC, WHO and WHOIS, answered for
 * the whole network from the directory in Redis (cluster_req.h: how a
 * question is asked; no answer: the local code answers).
 */
#include "cluster_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- NAMES, LIST, TOPIC -------------------------------------------------------- */

static int on_names(net_req *q, redisReply *r) {
  irc_client *c = q->c;
  if (!c)
    return 0;
  if (!r || r->type != REDIS_REPLY_ARRAY) {
    irc_channel *ch = irc_chan_find(c->srv, q->name);
    if (ch)
      irc_chan_names(c, ch);
    else
      irc_reply(c, "366", "%s :End of /NAMES list", q->name);
    return 0;
  }
  if (r->elements == 0) {
    irc_reply(c, "366", "%s :End of /NAMES list", q->name);
    return 0;
  }
  const char **names = malloc(r->elements * sizeof *names);
  if (!names)
    return 0;
  for (size_t i = 1; i < r->elements; i++)
    names[i - 1] = net_str(r, i);
  irc_names_reply(c, net_str(r, 0), names, r->elements - 1);
  free(names);
  return 0;
}

int net_names(irc_client *c, const char *name, const char *more) {
  chat_net *net = net_asking(c);
  if (!net || name[0] != '#')
    return 0;
  irc_channel *ch = irc_chan_find(c->srv, name);
  char lc[NET_NAME_MAX + 1];
  req_lower(lc, name);
  const char *argv[] = {lc, ch && irc_chan_member(ch, c) ? "1" : "0"};
  return net_ask(net_req_new(c, on_names, name, more), NET_NAMES, 2, argv);
}

static int on_list(net_req *q, redisReply *r) {
  irc_client *c = q->c;
  if (!c)
    return 0;
  irc_reply(c, "321", "Channel :Users  Name");
  for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 5 < r->elements;
       i += 6) {
    irc_channel tmp = {.modes = (unsigned)net_int(r, i + 2),
                       .limit = (uint32_t)net_int(r, i + 3),
                       .key = *net_str(r, i + 4) ? (char *)"*" : NULL};
    char modes[64];
    irc_chan_modes(&tmp, 0, modes, sizeof modes);
    irc_reply(c, "322", "%s %lld :[%s] %s", net_str(r, i), net_int(r, i + 1),
              modes, net_str(r, i + 5));
  }
  irc_reply(c, "323", ":End of /LIST");
  return 0;
}

int net_list(irc_client *c, const char *names) {
  chat_net *net = net_asking(c);
  if (!net)
    return 0;
  char list[IRC_LINE], lcs[IRC_MAX_PARAMS * 4][NET_NAME_MAX + 1];
  const char *argv[IRC_MAX_PARAMS * 4];
  int n = 0;
  snprintf(list, sizeof list, "%s", names ? names : "");
  for (char *p = strtok(list, ","); p && n < IRC_MAX_PARAMS * 4;
       p = strtok(NULL, ",")) {
    req_lower(lcs[n], p);
    argv[n] = lcs[n];
    n++;
  }
  if (names && n == 0)
    return 0;
  return net_ask(net_req_new(c, on_list, NULL, NULL), NET_LIST, n, argv);
}

static int on_chan_info(net_req *q, redisReply *r) {
  irc_client *c = q->c;
  if (!c)
    return 0;
  const char *name = r ? net_str(r, 0) : "";
  if (!*name)
    irc_reply(c, "403", "%s :No such channel", q->name);
  else if (q->flag) /* a TOPIC that sets: not a member (not here) */
    irc_reply(c, "442", "%s :You're not on that channel", name);
  else if (!*net_str(r, 1))
    irc_reply(c, "331", "%s :No topic is set", name);
  else {
    irc_reply(c, "332", "%s :%s", name, net_str(r, 1));
    irc_reply(c, "333", "%s %s %s", name, net_str(r, 2), net_str(r, 3));
  }
  return 0;
}

int net_topic_query(irc_client *c, const char *name, int set) {
  chat_net *net = net_asking(c);
  if (!net || name[0] != '#')
    return 0;
  char lc[NET_NAME_MAX + 1];
  req_lower(lc, name);
  const char *argv[] = {lc};
  net_req *q = net_req_new(c, on_chan_info, name, NULL);
  if (q)
    q->flag = set;
  return net_ask(q, NET_CHAN_INFO, 1, argv);
}

/* ---- WHO, WHOIS -------------------------------------------------------------------- */

#define WHO_MAX 500 /* replies to one wildcard WHO, at most */

static net_answer_fn on_whois_who;

/* 352 from a script's 7 fields: nick user host srv real away op-or-inv */
static void who_line(irc_client *c, const char *chan, const redisReply *r,
                     size_t i, int op) {
  irc_reply(c, "352", "%s %s %s %s %s %s%s :0 %s", chan, net_str(r, i + 1),
            net_str(r, i + 2), net_str(r, i + 3), net_str(r, i),
            *net_str(r, i + 5) ? "G" : "H", op ? "@" : "", net_str(r, i + 4));
}

/* Do a and b share a channel (here)? */
static int shares_channel(irc_client *a, irc_client *b) {
  for (irc_member *my = a->chans; my; my = my->next)
    if (irc_chan_member(my->chan, b))
      return 1;
  return 0;
}

static int on_who(net_req *q, redisReply *r) {
  irc_client *c = q->c;
  if (!c)
    return 0;
  if (r && r->type == REDIS_REPLY_ARRAY) {
    if (q->name[0] == '#') {
      for (size_t i = 1; i + 6 < r->elements; i += 7)
        who_line(c, net_str(r, 0), r, i, *net_str(r, i + 6) == '@');
    } else {
      int n = 0;
      for (size_t i = 0; i + 6 < r->elements && n < WHO_MAX; i += 7) {
        irc_client *t = irc_find_user(c->srv, net_str(r, i));
        if (t ? t->invisible && t != c && !shares_channel(c, t)
              : *net_str(r, i + 6) == '1')
          continue; /* +i: only to those who share a channel (here) */
        if (chat_match(q->name, net_str(r, i)) ||
            chat_match(q->name, net_str(r, i + 1)) ||
            chat_match(q->name, net_str(r, i + 2))) {
          who_line(c, "*", r, i, 0);
          n++;
        }
      }
    }
  }
  irc_reply(c, "315", "%s :End of /WHO list", q->name);
  return 0;
}

int net_who(irc_client *c, const char *mask) {
  chat_net *net = net_asking(c);
  if (!net)
    return 0;
  if (mask[0] == '#') {
    irc_channel *ch = irc_chan_find(c->srv, mask);
    char lc[NET_NAME_MAX + 1];
    req_lower(lc, mask);
    const char *argv[] = {lc, ch && irc_chan_member(ch, c) ? "1" : "0"};
    return net_ask(net_req_new(c, on_who, mask, NULL), NET_WHO_CHAN, 2, argv);
  }
  if (!strpbrk(mask, "*?")) { /* one nick: here, or elsewhere (WHOIS) */
    if (irc_find_user(c->srv, mask))
      return 0;
    char ln[NET_NAME_MAX + 1];
    req_lower(ln, mask);
    const char *argv[] = {ln};
    net_req *q = net_req_new(c, on_whois_who, mask, NULL);
    return net_ask(q, NET_WHOIS, 1, argv);
  }
  return net_ask(net_req_new(c, on_who, mask, NULL), NET_WHO_ALL, 0, NULL);
}

/* WHO nick, for a nick of another node: WHOIS's fields as one 352. */
static int on_whois_who(net_req *q, redisReply *r) {
  irc_client *c = q->c;
  if (!c)
    return 0;
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 8)
    irc_reply(c, "352", "* %s %s %s %s %s :0 %s", net_str(r, 1),
              net_str(r, 2), net_str(r, 7), net_str(r, 0),
              *net_str(r, 5) ? "G" : "H", net_str(r, 4));
  irc_reply(c, "315", "%s :End of /WHO list", q->name);
  return 0;
}

static int on_whois(net_req *q, redisReply *r) {
  irc_client *c = q->c;
  if (!c)
    return 0;
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 8) {
    irc_reply(c, "401", "%s :No such nick/channel", q->name);
    irc_reply(c, "318", "%s :End of /WHOIS list", q->name);
    return 0;
  }
  const char *nick = net_str(r, 0);
  irc_reply(c, "311", "%s %s %s * :%s", nick, net_str(r, 1), net_str(r, 2),
            net_str(r, 4));
  char list[IRC_LINE];
  size_t len = 0, room = IRC_LINE - 2 - 64 - 2 * IRC_NICKLEN;
  for (size_t i = 8; i < r->elements; i++) {
    const char *chan = net_str(r, i);
    if (len > 0 && len + strlen(chan) + 1 > room) {
      irc_reply(c, "319", "%s :%.*s", nick, (int)len - 1, list);
      len = 0;
    }
    len += (size_t)snprintf(list + len, sizeof list - len, "%s ", chan);
  }
  if (len > 0)
    irc_reply(c, "319", "%s :%.*s", nick, (int)len - 1, list);
  irc_reply(c, "312", "%s %s :iomux chat server (node %s)", nick,
            net_str(r, 7), net_str(r, 3));
  if (*net_str(r, 5))
    irc_reply(c, "301", "%s :%s", nick, net_str(r, 5));
  irc_reply(c, "317", "%s 0 %s :seconds idle, signon time", nick,
            net_str(r, 6));
  irc_reply(c, "318", "%s :End of /WHOIS list", nick);
  return 0;
}

int net_whois(irc_client *c, const char *nick) {
  chat_net *net = net_asking(c);
  if (!net)
    return 0;
  char ln[NET_NAME_MAX + 1];
  req_lower(ln, nick);
  const char *argv[] = {ln};
  return net_ask(net_req_new(c, on_whois, nick, NULL), NET_WHOIS, 1, argv);
}

