/* iomux-chatd --proto irc: channels and their members.
 *
 * A channel keeps its members in an array (a broadcast walks it in order,
 * no pointer chasing between members) and a membership records its slot,
 * so leaving is O(1): the last member moves into the hole. A client keeps
 * its memberships on a short list (at most IRC_CHANLIMIT).
 */
#include "irc.h"

#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int irc_chan_name_ok(const char *name) {
  size_t len = strlen(name);
  if (name[0] != '#' || len < 2 || len > IRC_CHANNELLEN)
    return 0;
  return strcspn(name, " ,\a") == len;
}

irc_channel *irc_chan_find(irc_server *srv, const char *name) {
  return chat_names_get(&srv->chans, name);
}

irc_channel *irc_chan_new(irc_server *srv, const char *name) {
  size_t len = strlen(name);
  irc_channel *ch = calloc(1, sizeof *ch + len + 1);
  if (!ch)
    return NULL;
  memcpy(ch->name, name, len + 1);
  ch->srv = srv;
  ch->modes = IRC_CMODE_N | IRC_CMODE_T;
  ch->created = time(NULL);
  if (chat_names_add(&srv->chans, ch->name, ch) < 0) {
    free(ch);
    return NULL;
  }
  net_chan_new(ch);
  return ch;
}

static void chan_free(irc_channel *ch) {
  net_chan_gone(ch);
  chat_names_del(&ch->srv->chans, ch->name);
  for (int i = 0; i < IRC_INVITES; i++)
    free(ch->invites[i]);
  free(ch->members);
  free(ch->key);
  free(ch->topic);
  free(ch->topic_by);
  free(ch);
}

irc_member *irc_chan_member(const irc_channel *ch, const irc_client *c) {
  for (irc_member *m = c->chans; m; m = m->next)
    if (m->chan == ch)
      return m;
  return NULL;
}

irc_member *irc_chan_join(irc_channel *ch, irc_client *c, int op) {
  if (ch->nmembers == ch->cap) {
    uint32_t cap = ch->cap ? ch->cap * 2 : 4;
    irc_member **more = realloc(ch->members, cap * sizeof *more);
    if (!more)
      return NULL;
    ch->members = more;
    ch->cap = cap;
  }
  irc_member *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  *m = (irc_member){.chan = ch, .cl = c, .next = c->chans,
                    .slot = ch->nmembers, .op = op != 0};
  ch->members[ch->nmembers++] = m;
  c->chans = m;
  c->nchans++;
  return m;
}

int irc_chan_leave(irc_member *m) {
  irc_channel *ch = m->chan;
  irc_client *c = m->cl;
  irc_member *last = ch->members[--ch->nmembers];
  ch->members[m->slot] = last;
  last->slot = m->slot;
  irc_member **p = &c->chans;
  while (*p != m)
    p = &(*p)->next;
  *p = m->next;
  c->nchans--;
  free(m);
  if (ch->nmembers > 0)
    return 0;
  chan_free(ch);
  return 1;
}

void irc_chan_leave_all(irc_client *c) {
  while (c->chans)
    irc_chan_leave(c->chans);
}

/* The broadcast: one shared message to every member (but the sender).
 * Each recipient's stream queues a reference to m's bytes; the first write
 * after a flush corks it, so all it gets until the next flush (at most
 * --batch-ms later: from this and other channels and senders) leaves in one
 * writev. A
 * message to 1,000 members costs 1,000 queue entries and no system call
 * here; a flush costs one writev per recipient, not one per message
 * (sendq.c). A member past its send queue is dropped later (reap),
 * so the array does not change under this loop. */
void irc_chan_send(irc_channel *ch, const irc_client *except, chat_msg *m) {
  if (!m)
    return;
  for (uint32_t i = 0; i < ch->nmembers; i++) {
    irc_client *to = ch->members[i]->cl;
    if (to != except)
      irc_share(to, m);
  }
}

int irc_chan_invited(irc_channel *ch, const irc_client *c, int take) {
  for (int i = 0; i < IRC_INVITES && ch->invites[i]; i++) {
    if (chat_casecmp(ch->invites[i], c->nick) != 0)
      continue;
    if (take) {
      free(ch->invites[i]);
      memmove(&ch->invites[i], &ch->invites[i + 1],
              (size_t)(IRC_INVITES - 1 - i) * sizeof ch->invites[0]);
      ch->invites[IRC_INVITES - 1] = NULL;
    }
    return 1;
  }
  return 0;
}

/* The oldest invitation goes when the list is full. */
void irc_chan_invite(irc_channel *ch, const irc_client *c) {
  if (irc_chan_invited(ch, c, 0))
    return;
  char *nick = strdup(c->nick);
  if (!nick)
    return;
  int n = 0;
  while (n < IRC_INVITES && ch->invites[n])
    n++;
  if (n == IRC_INVITES) {
    free(ch->invites[0]);
    memmove(&ch->invites[0], &ch->invites[1],
            (IRC_INVITES - 1) * sizeof ch->invites[0]);
    n--;
  }
  ch->invites[n] = nick;
}

void irc_chan_modes(const irc_channel *ch, int show_key, char *buf,
                    size_t size) {
  char flags[8], *p = flags;
  *p++ = '+';
  if (ch->modes & IRC_CMODE_I)
    *p++ = 'i';
  if (ch->key)
    *p++ = 'k';
  if (ch->limit)
    *p++ = 'l';
  if (ch->modes & IRC_CMODE_M)
    *p++ = 'm';
  if (ch->modes & IRC_CMODE_N)
    *p++ = 'n';
  if (ch->modes & IRC_CMODE_T)
    *p++ = 't';
  *p = '\0';
  int n = snprintf(buf, size, "%s", flags);
  if (ch->key && n >= 0 && (size_t)n < size)
    n += snprintf(buf + n, size - (size_t)n, " %s",
                  show_key ? ch->key : "*");
  if (ch->limit && n >= 0 && (size_t)n < size)
    snprintf(buf + n, size - (size_t)n, " %u", ch->limit);
}

/* 353s, as many as the names need, then the 366. Members who are +i are
 * left out for a client outside the channel. */
typedef struct names_out {
  irc_client *c;
  const char *chan;
  size_t room, len;
  char list[IRC_LINE];
} names_out;

static void names_start(names_out *o, irc_client *c, const char *chan) {
  o->c = c;
  o->chan = chan;
  o->room = IRC_LINE - 2 - strlen(c->srv->opts->name) - strlen(irc_nick(c)) -
            strlen(chan) - 16;
  o->len = 0;
}

static void names_add(names_out *o, const char *op, const char *nick) {
  size_t need = strlen(nick) + 2; /* as before: room for "@" and " " */
  if (o->len > 0 && o->len + need > o->room) {
    irc_reply(o->c, "353", "= %s :%.*s", o->chan, (int)o->len - 1, o->list);
    o->len = 0;
  }
  o->len += (size_t)snprintf(o->list + o->len, sizeof o->list - o->len,
                             "%s%.*s ", op, IRC_NICKLEN, nick);
}

static void names_end(names_out *o) {
  if (o->len > 0)
    irc_reply(o->c, "353", "= %s :%.*s", o->chan, (int)o->len - 1, o->list);
  irc_reply(o->c, "366", "%s :End of /NAMES list", o->chan);
}

void irc_chan_names(irc_client *c, irc_channel *ch) {
  int inside = irc_chan_member(ch, c) != NULL;
  names_out o;
  names_start(&o, c, ch->name);
  for (uint32_t i = 0; i < ch->nmembers; i++) {
    irc_member *m = ch->members[i];
    if (inside || !m->cl->invisible)
      names_add(&o, m->op ? "@" : "", m->cl->nick);
  }
  names_end(&o);
}

void irc_names_reply(irc_client *c, const char *chan, const char *const *names,
                     size_t n) {
  names_out o;
  names_start(&o, c, chan);
  for (size_t i = 0; i < n; i++)
    if (names[i][0])
      names_add(&o, "", names[i]);
  names_end(&o);
}
