/* iomux-chatd --cluster: the commands the network answers, and the
 * requests they are (cluster_req.h); here NICK and JOIN.
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
#include "cluster_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A copy of s into *slot ("" and NULL give NULL). 0, or -1 (memory). */
int net_keep(char **slot, const char *s) {
  free(*slot);
  *slot = s && *s ? strdup(s) : NULL;
  return s && *s && !*slot ? -1 : 0;
}

void net_req_free(net_req *q) {
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

chat_net *net_asking(irc_client *c) {
  chat_net *net = c->srv->net;
  return net_link_up(net) ? net : NULL;
}

net_req *net_req_new(irc_client *c, net_answer_fn *fn, const char *name,
                     const char *more) {
  net_req *q = calloc(1, sizeof *q);
  if (!q)
    return NULL;
  q->net = c->srv->net;
  q->c = c;
  q->fn = fn;
  snprintf(q->nick, sizeof q->nick, "%s", c->nick);
  q->name = strdup(name ? name : "");
  if (!q->name || net_keep(&q->more, more) < 0) {
    net_req_free(q);
    return NULL;
  }
  return q;
}

/* The answer is complete: the rest of the command, then the lines that
 * waited. */
void net_req_done(net_req *q) {
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
  net_req_free(q);
}

static void on_answer(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  net_req *q = data;
  if (!q->fn(q, reply))
    net_req_done(q);
}

/* Send the question; 1 if it is on its way (the client waits), 0 if not
 * (the link is down: answer locally; q is freed). */
int net_ask(net_req *q, enum net_script s, int argc, const char **argv) {
  if (!q)
    return 0;
  if (net_eval(q->net, s, on_answer, q, argc, argv) < 0) {
    net_req_free(q);
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
  net_req *q = net_req_new(c, on_claim, nick, NULL);
  const char *argv[12];
  char bufs[3][32];
  int n = net_claim_args(net, c, nick, c->nick, argv, bufs);
  if (net_ask(q, NET_CLAIM, n, argv)) {
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
  net_req_done(q);
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
      net_keep(&q->first, line);
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
  chat_net *net = net_asking(c);
  if (!net)
    return 0;
  char lc[NET_NAME_MAX + 1], ln[NET_NAME_MAX + 1], now[32];
  char topic[NET_NAME_MAX + 8];
  req_lower(lc, name);
  req_lower(ln, c->nick);
  snprintf(now, sizeof now, "%lld", (long long)time(NULL));
  net_req *q = net_req_new(c, on_joined, name, more);
  if (!q)
    return 0;
  if (net_keep(&q->arg, key) < 0) {
    net_req_free(q);
    return 0;
  }
  const char *argv[] = {lc, ln, c->nick, name, key ? key : "", now};
  net_topic_chan(topic, sizeof topic, name);
  net_bus_ref(net, topic); /* subscribe now, while the script runs */
  if (net_ask(q, NET_JOIN, 6, argv))
    return 1;
  net_bus_unref(net, topic);
  return 0;
}

