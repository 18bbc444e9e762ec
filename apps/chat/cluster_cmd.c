/* iomux-chatd --cluster: the commands the network answers.
 *
 * A question is a Lua script on the command connection (cluster_dir.c)
 * and a request that remembers the client. While it is in flight the
 * client's further lines wait (c->wait; irc_server.c keeps them in the
 * flood backlog and stops reading), so the replies to one client come in
 * the order of its commands. A command with several items (JOIN #a,#b,
 * NAMES, KICK, PRIVMSG to several targets) hands what is left to the
 * request (`more`), which runs it once the answer is in.
 *
 * No answer (reply NULL: the link went down, or timed out) means "answer
 * locally": the command's local code runs, as it would without --cluster,
 * except NICK, which cannot be checked then: 437 (ERR_UNAVAILRESOURCE).
 * A client that leaves with a question in flight is forgotten (q->c
 * NULL); a claim or a join granted meanwhile is given back.
 */
#include "cluster_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct net_req net_req;
/* The answer (r NULL: none). Returns 0 when the request is done, 1 when
 * it goes on (it will call req_done itself). */
typedef int net_answer_fn(net_req *q, redisReply *r);

struct net_req {
  chat_net *net;
  irc_client *c; /* NULL once the client is gone */
  net_answer_fn *fn;
  int flag;
  char nick[IRC_NICKLEN + 1]; /* the asker's nick when it asked */
  /* Strings of the request's own (small, and there is one request per
   * client at most): */
  char *name;   /* the channel, nick or mask asked about; never NULL */
  char *arg;    /* a key, a reason, a channel, a line; or NULL */
  char *first;  /* no answer: the command again, run locally; or NULL */
  char *more;   /* the rest of the command, run next; or NULL */
  char *data;   /* what else an answer keeps (JOIN: members); or NULL */
  void *answer; /* MODE: the answer the command runs again with */
};

/* A copy of s into *slot ("" and NULL give NULL). 0, or -1 (memory). */
static int keep(char **slot, const char *s) {
  free(*slot);
  *slot = s && *s ? strdup(s) : NULL;
  return s && *s && !*slot ? -1 : 0;
}

static void req_free(net_req *q) {
  free(q->name);
  free(q->arg);
  free(q->first);
  free(q->more);
  free(q->data);
  free(q->answer);
  free(q);
}

/* ---- requests ----------------------------------------------------------------- */

const char *net_str(const redisReply *r, size_t i) {
  if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
    return "";
  const redisReply *e = r->element[i];
  return e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS
             ? e->str
             : "";
}

long long net_int(const redisReply *r, size_t i) {
  if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
    return -1;
  const redisReply *e = r->element[i];
  if (e->type == REDIS_REPLY_INTEGER)
    return e->integer;
  if (e->type == REDIS_REPLY_STRING)
    return strtoll(e->str, NULL, 10);
  return -1;
}

static chat_net *net_of(irc_client *c) {
  chat_net *net = c->srv->net;
  return net_link_up(net) ? net : NULL;
}

static net_req *req_new(irc_client *c, net_answer_fn *fn, const char *name,
                        const char *more) {
  net_req *q = calloc(1, sizeof *q);
  if (!q)
    return NULL;
  q->net = c->srv->net;
  q->c = c;
  q->fn = fn;
  snprintf(q->nick, sizeof q->nick, "%s", c->nick);
  q->name = strdup(name ? name : "");
  if (!q->name || keep(&q->more, more) < 0) {
    req_free(q);
    return NULL;
  }
  return q;
}

/* The answer is complete: the rest of the command, then the lines that
 * waited. */
static void req_done(net_req *q) {
  irc_client *c = q->c;
  if (c && c->wait == q) {
    c->wait = NULL;
    if (c->phase == IRC_ACTIVE && q->first)
      irc_dispatch(c, q->first, strlen(q->first));
    if (c->phase == IRC_ACTIVE && !c->wait && q->more) {
      c->answer = q->answer;
      irc_dispatch(c, q->more, strlen(q->more));
      c->answer = NULL;
    }
    irc_resume(c);
  }
  req_free(q);
}

static void on_answer(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  net_req *q = data;
  if (!q->fn(q, reply))
    req_done(q);
}

/* Send the question; 1 if it is on its way (the client waits), 0 if not
 * (the link is down: answer locally; q is freed). */
static int ask(net_req *q, enum net_script s, int argc, const char **argv) {
  if (!q)
    return 0;
  if (net_eval(q->net, s, on_answer, q, argc, argv) < 0) {
    req_free(q);
    return 0;
  }
  q->c->wait = q;
  return 1;
}

void net_client_gone(irc_client *c) {
  net_req *q = c->wait;
  if (q)
    q->c = NULL;
  c->wait = NULL;
}

static void lower(char *dst, const char *src) {
  net_lower(dst, NET_NAME_MAX + 1, src);
}

/* ---- NICK --------------------------------------------------------------------- */

/* One claim per nick in flight from this node: two local clients asking
 * for the same nick at once would both be granted (a node may claim again
 * what it holds: a case change, the announce), and a claim given back
 * after its client left could take the nick from the other. The second
 * gets 433 at once. */
static int on_claim(net_req *q, redisReply *r) {
  irc_client *c = q->c;
  int granted = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  if (chat_names_get(&q->net->claims, q->name) == q)
    chat_names_del(&q->net->claims, q->name);
  if (!c) {
    if (granted) /* the client went meanwhile: give the nick back */
      net_dir_release(q->net, q->name);
  } else if (!r) {
    irc_reply(c, "437", "%s :Nick/channel is temporarily unavailable",
              q->name);
  } else if (!granted) {
    irc_reply(c, "433", "%s :Nickname is already in use", q->name);
  } else {
    irc_nick_done(c, q->name);
  }
  return 0;
}

int net_nick(irc_client *c, const char *nick) {
  chat_net *net = c->srv->net;
  if (!net)
    return 0;
  if (!net_link_up(net)) {
    irc_reply(c, "437", "%s :Nick/channel is temporarily unavailable", nick);
    return 1;
  }
  if (chat_names_get(&net->claims, nick)) {
    irc_reply(c, "433", "%s :Nickname is already in use", nick);
    return 1;
  }
  net_req *q = req_new(c, on_claim, nick, NULL);
  const char *argv[12];
  char bufs[3][32];
  int n = net_claim_args(net, c, nick, c->nick, argv, bufs);
  if (ask(q, NET_CLAIM, n, argv)) {
    chat_names_add(&net->claims, q->name, q); /* (no memory: no guard) */
    return 1;
  }
  irc_reply(c, "437", "%s :Nick/channel is temporarily unavailable", nick);
  return 1;
}

/* ---- JOIN --------------------------------------------------------------------- */

/* The local half of a join the network granted: the channel here (made
 * from Redis's state if it is new here), the member, the JOIN to the
 * members everywhere, the topic, the names. q->data holds the state:
 * fields separated by '\n': op name created modes limit key topic tby tat,
 * then the members. */
static void join_here(net_req *q) {
  irc_client *c = q->c;
  char *f[9], *p = q->data;
  for (int i = 0; i < 9; i++) {
    f[i] = p;
    p += strcspn(p, "\n");
    if (*p)
      *p++ = '\0';
  }
  irc_channel *ch = irc_chan_find(c->srv, f[1]);
  int fresh = !ch;
  if (!ch && !(ch = irc_chan_new(c->srv, f[1]))) {
    irc_drop(c, "Out of memory");
    return;
  }
  if (fresh) {
    ch->created = (time_t)strtoll(f[2], NULL, 10);
    ch->modes = (unsigned)strtoul(f[3], NULL, 10);
    ch->limit = (uint32_t)strtoul(f[4], NULL, 10);
    ch->key = *f[5] ? strdup(f[5]) : NULL;
    ch->topic = *f[6] ? strndup(f[6], IRC_TOPICLEN) : NULL;
    ch->topic_by = ch->topic ? strdup(f[7]) : NULL;
    ch->topic_at = (time_t)strtoll(f[8], NULL, 10);
  }
  if (!irc_chan_member(ch, c) && !irc_chan_join(ch, c, f[0][0] == '1')) {
    irc_drop(c, "Out of memory");
    return;
  }
  chat_msg *msg = irc_msg_from(c, "JOIN %s", ch->name);
  irc_chan_send(ch, NULL, msg);
  net_chan_line(ch, msg);
  chat_msg_unref(msg);
  if (ch->topic) {
    irc_reply(c, "332", "%s :%s", ch->name, ch->topic);
    irc_reply(c, "333", "%s %s %lld", ch->name, ch->topic_by,
              (long long)ch->topic_at);
  }
  /* the members, as the script listed them (this one included) */
  size_t n = 0, cap = 64;
  const char **names = malloc(cap * sizeof *names);
  for (char *m = strtok(p, "\n"); m && names; m = strtok(NULL, "\n")) {
    if (n == cap) {
      const char **more = realloc(names, 2 * cap * sizeof *more);
      if (!more)
        break;
      names = more;
      cap *= 2;
    }
    names[n++] = m;
  }
  if (names)
    irc_names_reply(c, ch->name, names, n);
  else
    irc_chan_names(c, ch);
  free(names);
}

/* The channel's topic is subscribed (or the link went: ok 0): messages
 * sent to the channel from now on reach c. Now c is in. */
static void on_join_subscribed(void *data, int ok) {
  (void)ok;
  net_req *q = data;
  chat_net *net = q->net;
  char topic[NET_NAME_MAX + 8];
  net_topic_chan(topic, sizeof topic, q->name);
  if (q->c && q->c->phase == IRC_ACTIVE)
    join_here(q);
  else if (q->data) /* gone meanwhile: the membership goes back */
    net_dir_part(net, q->name, q->nick);
  net_bus_unref(net, topic); /* the channel here holds its own now */
  req_done(q);
}

static int on_joined(net_req *q, redisReply *r) {
  char topic[NET_NAME_MAX + 8];
  net_topic_chan(topic, sizeof topic, q->name);
  long long code = r ? net_int(r, 0) : -1;
  irc_client *c = q->c;
  if (code != 0) {
    if (c && code < 0) /* no answer: this node's own join (local code) */
    {
      char line[IRC_LINE];
      snprintf(line, sizeof line, "JOIN %.200s %.200s", q->name,
               q->arg ? q->arg : "");
      keep(&q->first, line);
    }
    if (c && code > 0) {
      const char *why = code == 473   ? "+i"
                        : code == 475 ? "+k"
                                      : "+l";
      irc_reply(c, code == 473 ? "473" : code == 475 ? "475" : "471",
                "%s :Cannot join channel (%s)", q->name, why);
    }
    net_bus_unref(q->net, topic);
    return 0;
  }
  /* Keep the state for join_here, and wait for the subscription. */
  size_t len = 64;
  const redisReply *members = r->elements > 10 ? r->element[10] : NULL;
  for (size_t i = 2; i < 10; i++)
    len += strlen(net_str(r, i)) + 1;
  for (size_t i = 0; members && i < members->elements; i++)
    len += strlen(net_str(members, i)) + 1;
  if (!(q->data = malloc(len))) {
    net_bus_unref(q->net, topic);
    return 0;
  }
  size_t k = (size_t)snprintf(q->data, len, "%lld\n", net_int(r, 1));
  for (size_t i = 2; i < 10; i++)
    k += (size_t)snprintf(q->data + k, len - k, "%s\n", net_str(r, i));
  for (size_t i = 0; members && i < members->elements; i++)
    k += (size_t)snprintf(q->data + k, len - k, "%s\n", net_str(members, i));
  if (net_bus_when_subscribed(q->net, topic, on_join_subscribed, q) < 0)
    on_join_subscribed(q, 0);
  return 1;
}

int net_join(irc_client *c, const char *name, const char *key,
             const char *more) {
  chat_net *net = net_of(c);
  if (!net)
    return 0;
  char lc[NET_NAME_MAX + 1], ln[NET_NAME_MAX + 1], now[32];
  char topic[NET_NAME_MAX + 8];
  lower(lc, name);
  lower(ln, c->nick);
  snprintf(now, sizeof now, "%lld", (long long)time(NULL));
  net_req *q = req_new(c, on_joined, name, more);
  if (!q)
    return 0;
  if (keep(&q->arg, key) < 0) {
    req_free(q);
    return 0;
  }
  const char *argv[] = {lc, ln, c->nick, name, key ? key : "", now};
  net_topic_chan(topic, sizeof topic, name);
  net_bus_ref(net, topic); /* subscribe now, while the script runs */
  if (ask(q, NET_JOIN, 6, argv))
    return 1;
  net_bus_unref(net, topic);
  return 0;
}

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
  chat_net *net = net_of(c);
  if (!net || name[0] != '#')
    return 0;
  irc_channel *ch = irc_chan_find(c->srv, name);
  char lc[NET_NAME_MAX + 1];
  lower(lc, name);
  const char *argv[] = {lc, ch && irc_chan_member(ch, c) ? "1" : "0"};
  return ask(req_new(c, on_names, name, more), NET_NAMES, 2, argv);
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
  chat_net *net = net_of(c);
  if (!net)
    return 0;
  char list[IRC_LINE], lcs[IRC_MAX_PARAMS * 4][NET_NAME_MAX + 1];
  const char *argv[IRC_MAX_PARAMS * 4];
  int n = 0;
  snprintf(list, sizeof list, "%s", names ? names : "");
  for (char *p = strtok(list, ","); p && n < IRC_MAX_PARAMS * 4;
       p = strtok(NULL, ",")) {
    lower(lcs[n], p);
    argv[n] = lcs[n];
    n++;
  }
  if (names && n == 0)
    return 0;
  return ask(req_new(c, on_list, NULL, NULL), NET_LIST, n, argv);
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
  chat_net *net = net_of(c);
  if (!net || name[0] != '#')
    return 0;
  char lc[NET_NAME_MAX + 1];
  lower(lc, name);
  const char *argv[] = {lc};
  net_req *q = req_new(c, on_chan_info, name, NULL);
  if (q)
    q->flag = set;
  return ask(q, NET_CHAN_INFO, 1, argv);
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
  chat_net *net = net_of(c);
  if (!net)
    return 0;
  if (mask[0] == '#') {
    irc_channel *ch = irc_chan_find(c->srv, mask);
    char lc[NET_NAME_MAX + 1];
    lower(lc, mask);
    const char *argv[] = {lc, ch && irc_chan_member(ch, c) ? "1" : "0"};
    return ask(req_new(c, on_who, mask, NULL), NET_WHO_CHAN, 2, argv);
  }
  if (!strpbrk(mask, "*?")) { /* one nick: here, or elsewhere (WHOIS) */
    if (irc_find_user(c->srv, mask))
      return 0;
    char ln[NET_NAME_MAX + 1];
    lower(ln, mask);
    const char *argv[] = {ln};
    net_req *q = req_new(c, on_whois_who, mask, NULL);
    return ask(q, NET_WHOIS, 1, argv);
  }
  return ask(req_new(c, on_who, mask, NULL), NET_WHO_ALL, 0, NULL);
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
  chat_net *net = net_of(c);
  if (!net)
    return 0;
  char ln[NET_NAME_MAX + 1];
  lower(ln, nick);
  const char *argv[] = {ln};
  return ask(req_new(c, on_whois, nick, NULL), NET_WHOIS, 1, argv);
}

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
  chat_net *net = net_of(c);
  if (!net)
    return 0;
  char lname[NET_NAME_MAX + 1], head[NET_ORIGIN_MAX + NET_NAME_MAX + 48];
  char prefix[IRC_LINE], suffix[IRC_LINE];
  lower(lname, target);
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
  net_req *q = req_new(c, on_message, target, more);
  if (!q)
    return 0;
  q->flag = notice;
  if (chan) {
    char payload[sizeof head + 2 * IRC_LINE];
    snprintf(payload, sizeof payload, "%s%s%s%s", head, prefix, target,
             suffix);
    const char *argv[] = {lname, payload};
    if (notice) {
      req_free(q);
      return net_eval(net, NET_CHANMSG, NULL, NULL, 2, argv) < 0 ? 0 : 2;
    }
    return ask(q, NET_CHANMSG, 2, argv);
  }
  const char *argv[] = {lname, head, prefix, suffix};
  if (notice) {
    req_free(q);
    return net_eval(net, NET_PRIVMSG, NULL, NULL, 4, argv) < 0 ? 0 : 2;
  }
  return ask(q, NET_PRIVMSG, 4, argv);
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
  chat_net *net = net_of(c);
  if (!net)
    return 0;
  char lc[NET_NAME_MAX + 1], ln[NET_NAME_MAX + 1];
  lower(lc, ch->name);
  lower(ln, nick);
  net_req *q = req_new(c, on_kick, nick, more);
  if (!q || !(q->data = strdup(ch->name))) {
    if (q)
      req_free(q);
    return 0;
  }
  keep(&q->arg, reason);
  const char *argv[] = {lc, ln};
  return ask(q, NET_KICK, 2, argv);
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
      lower(ln, nick);
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
  chat_net *net = net_of(c);
  if (!net)
    return 0;
  char lc[NET_NAME_MAX + 1], ln[NET_NAME_MAX + 1];
  lower(lc, ch->name);
  lower(ln, nick);
  net_req *q = req_new(c, on_invite, nick, NULL);
  if (q)
    keep(&q->arg, ch->name);
  const char *argv[] = {lc, ln};
  return ask(q, NET_INVITE, 2, argv);
}

/* ---- MODE +o/-o of nicks not here -------------------------------------------------------- */

/* The answer: "nick\tvalue\n" per nick asked (value: the network's
 * spelling if a member, "!Nick" if a user elsewhere, "" if none). */
static int on_members(net_req *q, redisReply *r) {
  if (!q->c || !r || r->type != REDIS_REPLY_ARRAY) {
    /* no answer: the MODE runs locally, once (an empty answer) */
    if (q->c && (q->answer = strdup("")))
      keep(&q->more, q->arg);
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
  keep(&q->more, q->arg);
  return 0;
}

int net_mode_ops(irc_client *c, irc_channel *ch, const irc_msg *m) {
  chat_net *net = net_of(c);
  if (!net || m->nparams < 3)
    return 0;
  /* the +o/-o letters' nicks that are not members here */
  char nicks[IRC_LINE] = "", lns[IRC_MODES][NET_NAME_MAX + 1];
  const char *argv[1 + IRC_MODES];
  char lc[NET_NAME_MAX + 1];
  lower(lc, ch->name);
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
    lower(lns[n - 1], param);
    argv[n] = lns[n - 1];
    n++;
    len += (size_t)snprintf(nicks + len, sizeof nicks - len, "%s%s",
                            len ? " " : "", param);
  }
  if (n == 1)
    return 0;
  net_req *q = req_new(c, on_members, ch->name, NULL);
  if (!q || !(q->data = strdup(nicks))) {
    if (q)
      req_free(q);
    return 0;
  }
  /* the MODE line again, to run once the answer is in */
  char line[IRC_LINE];
  len = (size_t)snprintf(line, sizeof line, "MODE");
  for (int i = 0; i < m->nparams && len < sizeof line; i++)
    len += (size_t)snprintf(line + len, sizeof line - len, " %s%s",
                            i == m->nparams - 1 ? ":" : "", m->params[i]);
  if (keep(&q->arg, line) < 0) {
    req_free(q);
    return 0;
  }
  if (ask(q, NET_MEMBERS_OF, n, argv))
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
