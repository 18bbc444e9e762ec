/* iomux-chatd --cluster: pub/sub, the wire format, delivery.
 *
 * Topics. A channel's lines go to "chat:c:<channel>", a user's private
 * lines to "chat:u:<nick>" (names lower-cased, rfc1459). A node subscribes
 * only to the topics it has local interest in: the channels with a member
 * here (or a JOIN on its way), the nicks of its registered users. Plus
 * "chat:ctl", always: control messages, and the anchor that keeps hiredis
 * 0.14's context in subscribed mode (it leaves that mode, and then asserts
 * on the next subscription's reply, when the count of subscriptions falls
 * to zero).
 *
 * A topic's subscription is a small state machine, one command in flight
 * at a time, so a quick leave-and-join never races its own replies:
 *
 *   OFF --interest--> SUBSCRIBING --confirmed--> ON
 *   ON --no interest--> UNSUBSCRIBING --confirmed--> OFF (or again)
 *
 * The wire format, one publication:
 *
 *   <origin> <seq> <type> <fields...>\n<the IRC line, CR LF included>
 *
 * origin is "<node id>/<incarnation>" (this process), seq counts its
 * publications. Types:
 *   M <chan>                       a line for a channel's members
 *   P <nick>                       a line for one user
 *   Q <chan>,<chan>,...            QUIT or NICK: for the members of all
 *                                  these channels, once each
 *   T <chan> <at> <by> :<topic>    a topic set (the line, then the state)
 *   O <chan> <modes> <limit> <key|*> <ops|*>   modes set (all of them)
 *   K <chan> <nick>                a kick: the line, then the member goes
 *   X gone <node>                  (on chat:ctl) a node left the network
 *
 * Exactly once, in order: a node delivers its own users' lines to its own
 * clients at once and skips its own publications when they come back
 * (origin). One node's publications reach a subscriber in the order they
 * were sent (one connection each way, Redis in between), so a publication
 * on several topics (Q) is a duplicate exactly when its seq is not above
 * the last one seen from its origin.
 */
#include "cluster_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_OFF, T_SUBSCRIBING, T_ON, T_UNSUBSCRIBING };

typedef struct net_waiter {
  void (*fn)(void *data, int ok);
  void *data;
  struct net_waiter *next;
} net_waiter;

struct net_topic {
  int refs;
  int state;
  net_waiter *waiters;
  char name[];
};

struct net_origin {
  char origin[NET_ORIGIN_MAX + 1];
  uint64_t seq;
};

#define ANCHOR "chat:ctl"
#define SUBSCRIBE_BATCH 256 /* topics per SUBSCRIBE at a reconnect */

void net_lower(char *dst, size_t size, const char *src) {
  size_t i = 0;
  for (; src[i] && i + 1 < size; i++)
    dst[i] = (char)chat_lower((unsigned char)src[i]);
  dst[i] = '\0';
}

void net_topic_chan(char *buf, size_t size, const char *chan) {
  char low[NET_NAME_MAX + 1];
  net_lower(low, sizeof low, chan);
  snprintf(buf, size, "chat:c:%s", low);
}

void net_topic_user(char *buf, size_t size, const char *nick) {
  char low[NET_NAME_MAX + 1];
  net_lower(low, sizeof low, nick);
  snprintf(buf, size, "chat:u:%s", low);
}

/* ---- subscriptions ---------------------------------------------------------------- */

static void on_sub(redisAsyncContext *ac, void *reply, void *data);

static int sub_ready(const chat_net *net) {
  return net->sub && net->sub_ready;
}

static void send_sub(chat_net *net, net_topic *t, const char *verb) {
  const char *argv[] = {verb, t->name};
  if (redisAsyncCommandArgv(net->sub, on_sub, net, 2, argv, NULL) == REDIS_OK)
    t->state = verb[0] == 'S' ? T_SUBSCRIBING : T_UNSUBSCRIBING;
}

static void run_waiters(net_topic *t, int ok) {
  net_waiter *w = t->waiters;
  t->waiters = NULL;
  while (w) {
    net_waiter *next = w->next;
    w->fn(w->data, ok);
    free(w);
    w = next;
  }
}

static void topic_drop(chat_net *net, net_topic *t) {
  chat_names_del(&net->topics, t->name);
  free(t);
}

/* No interest, nothing in flight, nobody waiting: forget it. */
static void topic_settle(chat_net *net, net_topic *t) {
  if (t->refs == 0 && t->state == T_OFF && !t->waiters)
    topic_drop(net, t);
}

void net_bus_ref(chat_net *net, const char *name) {
  net_topic *t = chat_names_get(&net->topics, name);
  if (!t) {
    size_t len = strlen(name);
    if (!(t = calloc(1, sizeof *t + len + 1)))
      return; /* out of memory: no subscription, the node misses it */
    memcpy(t->name, name, len + 1);
    if (chat_names_add(&net->topics, t->name, t) < 0) {
      free(t);
      return;
    }
  }
  if (++t->refs == 1 && t->state == T_OFF && sub_ready(net))
    send_sub(net, t, "SUBSCRIBE");
}

void net_bus_unref(chat_net *net, const char *name) {
  net_topic *t = chat_names_get(&net->topics, name);
  if (!t || t->refs == 0)
    return;
  if (--t->refs > 0)
    return;
  if (t->state == T_ON && sub_ready(net))
    send_sub(net, t, "UNSUBSCRIBE");
  topic_settle(net, t);
}

int net_bus_when_subscribed(chat_net *net, const char *name,
                            void (*fn)(void *data, int ok), void *data) {
  net_topic *t = chat_names_get(&net->topics, name);
  if (t && t->state == T_ON) {
    fn(data, 1);
    return 0;
  }
  net_waiter *w = malloc(sizeof *w);
  if (!t || !w) {
    free(w);
    return -1;
  }
  *w = (net_waiter){fn, data, t->waiters};
  t->waiters = w;
  return 0;
}

/* A confirmation: the topic's next step. */
static void confirmed(chat_net *net, const char *kind, const char *name) {
  net_topic *t = chat_names_get(&net->topics, name);
  if (!t)
    return;
  if (!strcmp(kind, "subscribe")) {
    t->state = T_ON;
    run_waiters(t, 1);
    if (t->refs == 0 && t->state == T_ON && sub_ready(net))
      send_sub(net, t, "UNSUBSCRIBE");
  } else {
    t->state = T_OFF;
    if (t->refs > 0 && sub_ready(net))
      send_sub(net, t, "SUBSCRIBE");
  }
  topic_settle(net, t);
}

void net_bus_link_up(chat_net *net) {
  const char *argv[SUBSCRIBE_BATCH + 1] = {"SUBSCRIBE"};
  int n = 1;
  size_t pos = 0;
  net_topic *t, *anchor = chat_names_get(&net->topics, ANCHOR);
  while ((t = chat_names_next(&net->topics, &pos))) {
    if (t == anchor || t->refs == 0 || t->state != T_OFF)
      continue;
    t->state = T_SUBSCRIBING;
    argv[n++] = t->name;
    if (n == SUBSCRIBE_BATCH + 1) {
      redisAsyncCommandArgv(net->sub, on_sub, net, n, argv, NULL);
      n = 1;
    }
  }
  if (n > 1)
    redisAsyncCommandArgv(net->sub, on_sub, net, n, argv, NULL);
  if (anchor)
    send_sub(net, anchor, "SUBSCRIBE"); /* last: its confirmation is all's */
}

void net_bus_link_down(chat_net *net) {
  net_topic *gone[64];
  size_t pos = 0;
  int more = 1;
  net_topic *t;
  while ((t = chat_names_next(&net->topics, &pos))) {
    t->state = T_OFF;
  }
  /* Waiters may start or end interest: run them outside the walk. */
  do {
    int n = 0;
    pos = 0;
    while (n < 64 && (t = chat_names_next(&net->topics, &pos)))
      if (t->waiters)
        gone[n++] = t;
    more = n == 64;
    for (int i = 0; i < n; i++)
      run_waiters(gone[i], 0);
  } while (more);
  do {
    int n = 0;
    pos = 0;
    while (n < 64 && (t = chat_names_next(&net->topics, &pos)))
      if (t->refs == 0 && !t->waiters)
        gone[n++] = t;
    more = n == 64;
    for (int i = 0; i < n; i++)
      topic_drop(net, gone[i]);
  } while (more);
}

void net_bus_init(chat_net *net) {
  chat_names_init(&net->topics);
  net_bus_ref(net, ANCHOR);
}

void net_bus_fini(chat_net *net) {
  size_t pos = 0;
  net_topic *t;
  while ((t = chat_names_next(&net->topics, &pos))) {
    net_waiter *w = t->waiters;
    while (w) {
      net_waiter *next = w->next;
      free(w);
      w = next;
    }
    free(t);
  }
  chat_names_fini(&net->topics);
  free(net->origins);
  net->origins = NULL;
  net->norigins = net->corigins = 0;
}

/* ---- duplicates --------------------------------------------------------------------- */

/* Is seq new from this origin? Remembers it. A handful of origins (one per
 * live node process): a linear search. */
static int fresh(chat_net *net, const char *origin, uint64_t seq) {
  for (size_t i = 0; i < net->norigins; i++) {
    if (strcmp(net->origins[i].origin, origin))
      continue;
    if (seq <= net->origins[i].seq)
      return 0;
    net->origins[i].seq = seq;
    return 1;
  }
  if (net->norigins == net->corigins) {
    size_t cap = net->corigins ? net->corigins * 2 : 8;
    net_origin *more = realloc(net->origins, cap * sizeof *more);
    if (!more)
      return 1; /* out of memory: a rare duplicate QUIT at worst */
    net->origins = more;
    net->corigins = cap;
  }
  net_origin *o = &net->origins[net->norigins++];
  snprintf(o->origin, sizeof o->origin, "%s", origin);
  o->seq = seq;
  return 1;
}

void net_bus_forget_node(chat_net *net, const char *node) {
  size_t len = strlen(node);
  for (size_t i = 0; i < net->norigins;) {
    if (!strncmp(net->origins[i].origin, node, len) &&
        net->origins[i].origin[len] == '/')
      net->origins[i] = net->origins[--net->norigins];
    else
      i++;
  }
}

/* ---- publishing ---------------------------------------------------------------------- */

void net_publish(chat_net *net, const char *const *topics, int ntopics,
                 const char *fields, const chat_msg *line) {
  if (!net_link_up(net) || !line) {
    net->dropped++;
    return;
  }
  char head[4096];
  int n = snprintf(head, sizeof head, "%s %llu %s\n", net->origin,
                   (unsigned long long)++net->seq, fields);
  if (n < 0 || (size_t)n >= sizeof head)
    return;
  size_t len = (size_t)n + line->len;
  char stack[4096 + 1024], *payload = stack;
  if (len > sizeof stack && !(payload = malloc(len)))
    return;
  memcpy(payload, head, (size_t)n);
  memcpy(payload + n, line->bytes, line->len);
  for (int i = 0; i < ntopics; i++) {
    const char *argv[] = {"PUBLISH", topics[i], payload};
    size_t lens[] = {7, strlen(topics[i]), len};
    redisAsyncCommandArgv(net->cmd, NULL, NULL, 3, argv, lens);
  }
  if (payload != stack)
    free(payload);
}

/* ---- delivery ------------------------------------------------------------------------- */

/* Split the header into at most max fields; a field starting with ':'
 * takes the rest (without the ':'). Returns the count. */
static int split(char *head, char **f, int max) {
  int n = 0;
  char *p = head;
  while (*p && n < max) {
    while (*p == ' ')
      p++;
    if (!*p)
      break;
    if (*p == ':') {
      f[n++] = p + 1;
      break;
    }
    f[n++] = p;
    p += strcspn(p, " ");
    if (*p)
      *p++ = '\0';
  }
  return n;
}

static void to_channels(irc_server *srv, char *list, chat_msg *m) {
  uint32_t mark = ++srv->mark;
  for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
    irc_channel *ch = irc_chan_find(srv, name);
    for (uint32_t i = 0; ch && i < ch->nmembers; i++) {
      irc_client *to = ch->members[i]->cl;
      if (to->mark != mark) {
        to->mark = mark;
        irc_share(to, m);
      }
    }
  }
}

static void apply_topic(irc_channel *ch, char **f, int n) {
  if (n < 4)
    return;
  free(ch->topic);
  free(ch->topic_by);
  ch->topic = *f[3] ? strndup(f[3], IRC_TOPICLEN) : NULL;
  ch->topic_by = ch->topic ? strdup(f[2]) : NULL;
  ch->topic_at = (time_t)strtoll(f[1], NULL, 10);
}

/* O <chan> <modes> <limit> <key|*> <ops|*>: ops is "+nick,-nick". */
static void apply_modes(irc_channel *ch, char **f, int n) {
  if (n < 5)
    return;
  ch->modes = (unsigned)strtoul(f[1], NULL, 10);
  ch->limit = (uint32_t)strtoul(f[2], NULL, 10);
  free(ch->key);
  ch->key = strcmp(f[3], "*") ? strdup(f[3]) : NULL;
  if (!strcmp(f[4], "*"))
    return;
  for (char *op = strtok(f[4], ","); op; op = strtok(NULL, ",")) {
    irc_client *t = irc_find_user(ch->srv, op + 1);
    irc_member *tm = t ? irc_chan_member(ch, t) : NULL;
    if (tm)
      tm->op = op[0] == '+';
  }
}

static void apply_kick(irc_channel *ch, const char *nick) {
  irc_client *t = irc_find_user(ch->srv, nick);
  irc_member *tm = t ? irc_chan_member(ch, t) : NULL;
  if (tm) /* the kicker's node has updated the directory */
    irc_chan_leave(tm);
}

static void deliver(chat_net *net, char **f, int n, chat_msg *m) {
  irc_server *srv = net->srv;
  const char *type = f[0];
  irc_channel *ch = n > 1 ? irc_chan_find(srv, f[1]) : NULL;
  irc_client *to;
  switch (type[0]) {
  case 'M':
    if (ch)
      irc_chan_send(ch, NULL, m);
    break;
  case 'P':
    if (n > 1 && (to = irc_find_user(srv, f[1])))
      irc_share(to, m);
    break;
  case 'Q':
    if (n > 1)
      to_channels(srv, f[1], m);
    break;
  case 'T':
    if (ch) {
      apply_topic(ch, f + 1, n - 1);
      irc_chan_send(ch, NULL, m);
    }
    break;
  case 'O':
    if (ch) {
      apply_modes(ch, f + 1, n - 1);
      irc_chan_send(ch, NULL, m);
    }
    break;
  case 'K':
    if (ch && n > 2) {
      irc_chan_send(ch, NULL, m);
      apply_kick(ch, f[2]);
    }
    break;
  case 'X':
    if (n > 2 && !strcmp(f[1], "gone"))
      net_bus_forget_node(net, f[2]);
    break;
  }
}

static void on_message(chat_net *net, const char *payload, size_t len) {
  const char *nl = memchr(payload, '\n', len);
  char head[4096];
  if (!nl || (size_t)(nl - payload) >= sizeof head)
    return;
  memcpy(head, payload, (size_t)(nl - payload));
  head[nl - payload] = '\0';
  char *f[10];
  int n = split(head, f, 10);
  if (n < 3 || !strcmp(f[0], net->origin))
    return; /* malformed, or ours: delivered here already */
  uint64_t seq = strtoull(f[1], NULL, 10);
  if (strcmp(f[0], "-") && !fresh(net, f[0], seq))
    return; /* a Q seen on another topic already */
  const char *line = nl + 1;
  size_t line_len = len - (size_t)(line - payload);
  chat_msg *m = line_len ? chat_msg_raw(line, line_len) : NULL;
  if (line_len && !m)
    return;
  deliver(net, f + 2, n - 2, m);
  chat_msg_unref(m);
}

/* The subscription context's one callback: confirmations and messages. */
static void on_sub(redisAsyncContext *ac, void *reply, void *data) {
  (void)ac;
  chat_net *net = data;
  redisReply *r = reply;
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
      r->element[0]->type != REDIS_REPLY_STRING ||
      r->element[1]->type != REDIS_REPLY_STRING)
    return; /* NULL: the link is going; net_link_lost does the rest */
  const char *kind = r->element[0]->str;
  if (!strcmp(kind, "message") && r->element[2]->type == REDIS_REPLY_STRING)
    on_message(net, r->element[2]->str, r->element[2]->len);
  else if (!strcmp(kind, "subscribe") || !strcmp(kind, "unsubscribe"))
    confirmed(net, kind, r->element[1]->str);
}
