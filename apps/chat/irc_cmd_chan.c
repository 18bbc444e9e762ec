/* iomux-chatd --proto irc: the channel commands, JOIN PART TOPIC NAMES LIST
 * KICK INVITE. */
#include "irc.h"

#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The next item of a comma list, cut in place; NULL at the end. */
static char *next_item(char **list) {
  char *item = *list;
  if (!item || !*item)
    return NULL;
  char *comma = strchr(item, ',');
  if (comma)
    *comma++ = '\0';
  *list = comma;
  return item;
}

/* A parameter's copy, for next_item to cut. */
static void copy_param(char *buf, const irc_msg *m, int i) {
  snprintf(buf, IRC_LINE, "%s", i < m->nparams ? m->params[i] : "");
}

/* --cluster: what is left of a command once one of its items went to the
 * network ("JOIN #b,#c k2"): it runs when the answer is in. "" if
 * nothing is left. */
static void rest_of(char *buf, const char *cmd, const char *items,
                    const char *more) {
  buf[0] = '\0';
  if (items && *items &&
      snprintf(buf, IRC_LINE, "%s %s%s%s", cmd, items, more ? " " : "",
               more ? more : "") >= IRC_LINE)
    buf[0] = '\0'; /* cannot be: it is part of a line that fit */
}

/* ---- JOIN, PART --------------------------------------------------------------- */

static int may_join(irc_client *c, irc_channel *ch, const char *key) {
  if ((ch->modes & IRC_CMODE_I) && !irc_chan_invited(ch, c, 0))
    irc_reply(c, "473", "%s :Cannot join channel (+i)", ch->name);
  else if (ch->key && (!key || strcmp(key, ch->key) != 0))
    irc_reply(c, "475", "%s :Cannot join channel (+k)", ch->name);
  else if (ch->limit && ch->nmembers >= ch->limit)
    irc_reply(c, "471", "%s :Cannot join channel (+l)", ch->name);
  else
    return 1;
  return 0;
}

/* Returns 1 when the network took it over (--cluster). */
static int join_one(irc_client *c, const char *name, const char *key,
                    const char *more) {
  irc_channel *ch = irc_chan_find(c->srv, name);
  if (!ch && !irc_chan_name_ok(name)) {
    irc_reply(c, "403", "%s :No such channel", name);
    return 0;
  }
  if (ch && irc_chan_member(ch, c))
    return 0;
  if (c->nchans >= IRC_CHANLIMIT) {
    irc_reply(c, "405", "%s :You have joined too many channels", name);
    return 0;
  }
  if (net_join(c, ch ? ch->name : name, key, more))
    return 1;
  if (ch && !may_join(c, ch, key))
    return 0;
  int created = !ch;
  if ((!ch && !(ch = irc_chan_new(c->srv, name))) ||
      !irc_chan_join(ch, c, created)) {
    irc_drop(c, "Out of memory"); /* (an empty new channel stays: harmless) */
    return 0;
  }
  irc_chan_invited(ch, c, 1);
  chat_msg *msg = irc_msg_from(c, "JOIN %s", ch->name);
  irc_chan_send(ch, NULL, msg);
  chat_msg_unref(msg);
  if (ch->topic) {
    irc_reply(c, "332", "%s :%s", ch->name, ch->topic);
    irc_reply(c, "333", "%s %s %lld", ch->name, ch->topic_by,
              (long long)ch->topic_at);
  }
  irc_chan_names(c, ch);
  return 0;
}

/* JOIN 0: part every channel, as if by PART. */
static void part_all(irc_client *c) {
  while (c->chans) {
    chat_msg *msg = irc_msg_from(c, "PART %s", c->chans->chan->name);
    irc_chan_send(c->chans->chan, NULL, msg);
    net_chan_part(c->chans->chan, c, msg);
    chat_msg_unref(msg);
    irc_chan_leave(c->chans);
  }
}

void irc_cmd_join(irc_client *c, const irc_msg *m) {
  if (strcmp(m->params[0], "0") == 0) {
    part_all(c);
    return;
  }
  char names[IRC_LINE], keys[IRC_LINE];
  copy_param(names, m, 0);
  copy_param(keys, m, 1);
  char *ns = names, *ks = keys, *name;
  while ((name = next_item(&ns)) && c->phase == IRC_ACTIVE) {
    const char *key = next_item(&ks);
    char more[IRC_LINE];
    rest_of(more, "JOIN", ns, ks);
    if (join_one(c, name, key, more))
      return;
  }
}

void irc_cmd_part(irc_client *c, const irc_msg *m) {
  char names[IRC_LINE];
  copy_param(names, m, 0);
  char *ns = names, *name;
  while ((name = next_item(&ns))) {
    irc_channel *ch = irc_chan_find(c->srv, name);
    irc_member *my = ch ? irc_chan_member(ch, c) : NULL;
    if (!ch) {
      irc_reply(c, "403", "%s :No such channel", name);
      continue;
    }
    if (!my) {
      irc_reply(c, "442", "%s :You're not on that channel", ch->name);
      continue;
    }
    chat_msg *msg = m->nparams > 1
                        ? irc_msg_from(c, "PART %s :%s", ch->name, m->params[1])
                        : irc_msg_from(c, "PART %s", ch->name);
    irc_chan_send(ch, NULL, msg);
    net_chan_part(ch, c, msg);
    chat_msg_unref(msg);
    irc_chan_leave(my);
  }
}

/* ---- TOPIC --------------------------------------------------------------------- */

static void topic_set(irc_client *c, irc_channel *ch, const char *text) {
  char by[IRC_LINE];
  snprintf(by, sizeof by, "%s!%s@%s", c->nick, c->user, c->host);
  free(ch->topic);
  free(ch->topic_by);
  ch->topic = *text ? strndup(text, IRC_TOPICLEN) : NULL;
  ch->topic_by = ch->topic ? strdup(by) : NULL;
  if (ch->topic && !ch->topic_by) { /* out of memory: no topic then */
    free(ch->topic);
    ch->topic = NULL;
  }
  ch->topic_at = time(NULL);
  chat_msg *msg = irc_msg_from(c, "TOPIC %s :%s", ch->name,
                               ch->topic ? ch->topic : "");
  irc_chan_send(ch, NULL, msg);
  net_chan_topic(ch, msg);
  chat_msg_unref(msg);
}

void irc_cmd_topic(irc_client *c, const irc_msg *m) {
  irc_channel *ch = irc_chan_find(c->srv, m->params[0]);
  if (!ch && net_topic_query(c, m->params[0], m->nparams >= 2))
    return; /* not here: the network knows */
  if (!ch) {
    irc_reply(c, "403", "%s :No such channel", m->params[0]);
    return;
  }
  irc_member *my = irc_chan_member(ch, c);
  if (m->nparams < 2) {
    if (!ch->topic) {
      irc_reply(c, "331", "%s :No topic is set", ch->name);
      return;
    }
    irc_reply(c, "332", "%s :%s", ch->name, ch->topic);
    irc_reply(c, "333", "%s %s %lld", ch->name, ch->topic_by,
              (long long)ch->topic_at);
  } else if (!my) {
    irc_reply(c, "442", "%s :You're not on that channel", ch->name);
  } else if ((ch->modes & IRC_CMODE_T) && !my->op) {
    irc_reply(c, "482", "%s :You're not channel operator", ch->name);
  } else {
    topic_set(c, ch, m->params[1]);
  }
}

/* ---- NAMES, LIST ------------------------------------------------------------------- */

/* NAMES without a channel lists none (Modern IRC allows it): on a big
 * server, every channel would be a flood. */
void irc_cmd_names(irc_client *c, const irc_msg *m) {
  if (m->nparams == 0) {
    irc_reply(c, "366", "* :End of /NAMES list");
    return;
  }
  char names[IRC_LINE];
  copy_param(names, m, 0);
  char *ns = names, *name;
  while ((name = next_item(&ns))) {
    char more[IRC_LINE];
    rest_of(more, "NAMES", ns, NULL);
    if (net_names(c, name, more))
      return; /* the whole network's members, later */
    irc_channel *ch = irc_chan_find(c->srv, name);
    if (ch)
      irc_chan_names(c, ch);
    else
      irc_reply(c, "366", "%s :End of /NAMES list", name);
  }
}

static void list_one(irc_client *c, irc_channel *ch) {
  char modes[64];
  irc_chan_modes(ch, 0, modes, sizeof modes);
  irc_reply(c, "322", "%s %u :[%s] %s", ch->name, ch->nmembers, modes,
            ch->topic ? ch->topic : "");
}

void irc_cmd_list(irc_client *c, const irc_msg *m) {
  if (net_list(c, m->nparams > 0 ? m->params[0] : NULL))
    return;
  irc_reply(c, "321", "Channel :Users  Name");
  if (m->nparams > 0) {
    char names[IRC_LINE];
    copy_param(names, m, 0);
    char *ns = names, *name;
    irc_channel *ch;
    while ((name = next_item(&ns)))
      if ((ch = irc_chan_find(c->srv, name)))
        list_one(c, ch);
  } else {
    size_t pos = 0;
    irc_channel *ch;
    while ((ch = chat_names_next(&c->srv->chans, &pos)))
      list_one(c, ch);
  }
  irc_reply(c, "323", ":End of /LIST");
}

/* ---- KICK, INVITE ------------------------------------------------------------------ */

/* Returns 1 when the channel is gone (its last member kicked), 2 when
 * the network took the kick over (a nick not here, --cluster). */
static int kick_one(irc_client *c, irc_channel *ch, const char *nick,
                    const char *reason, const char *more) {
  irc_client *t = irc_find_user(c->srv, nick);
  irc_member *tm = t ? irc_chan_member(ch, t) : NULL;
  if (!t && net_kick(c, ch, nick, reason, more))
    return 2;
  if (!t) {
    irc_reply(c, "401", "%s :No such nick/channel", nick);
    return 0;
  }
  if (!tm) {
    irc_reply(c, "441", "%s %s :They aren't on that channel", t->nick,
              ch->name);
    return 0;
  }
  chat_msg *msg = irc_msg_from(c, "KICK %s %s :%.*s", ch->name, t->nick,
                               IRC_KICKLEN, reason);
  irc_chan_send(ch, NULL, msg);
  net_chan_kick(ch, t, msg);
  chat_msg_unref(msg);
  return irc_chan_leave(tm);
}

void irc_cmd_kick(irc_client *c, const irc_msg *m) {
  irc_channel *ch = irc_chan_find(c->srv, m->params[0]);
  irc_member *my = ch ? irc_chan_member(ch, c) : NULL;
  if (!ch) {
    irc_reply(c, "403", "%s :No such channel", m->params[0]);
    return;
  }
  if (!my || !my->op) {
    irc_reply(c, my ? "482" : "442", "%s :%s", ch->name,
              my ? "You're not channel operator" : "You're not on that channel");
    return;
  }
  const char *reason = m->nparams > 2 && *m->params[2] ? m->params[2] : c->nick;
  char nicks[IRC_LINE];
  copy_param(nicks, m, 1);
  char *ns = nicks, *nick;
  while ((nick = next_item(&ns))) {
    char more[IRC_LINE], rest[IRC_LINE];
    snprintf(rest, sizeof rest, ":%s", reason);
    rest_of(more, "KICK", ns, rest);
    if (more[0]) /* "KICK #chan nicks :reason" */
      snprintf(more, sizeof more, "KICK %s %s :%s", ch->name, ns, reason);
    if (kick_one(c, ch, nick, reason, more))
      return; /* the channel is gone, or the network has the rest */
  }
}

/* INVITE nick #channel: the channel must exist and the inviter be on it
 * (an operator, if it is +i). */
void irc_cmd_invite(irc_client *c, const irc_msg *m) {
  irc_client *t = irc_find_user(c->srv, m->params[0]);
  irc_channel *ch = irc_chan_find(c->srv, m->params[1]);
  irc_member *my = ch ? irc_chan_member(ch, c) : NULL;
  if (my && (!(ch->modes & IRC_CMODE_I) || my->op) &&
      net_invite(c, m->params[0], ch))
    return; /* --cluster: the invitation is the network's (JOIN checks it) */
  if (!t)
    irc_reply(c, "401", "%s :No such nick/channel", m->params[0]);
  else if (!ch)
    irc_reply(c, "403", "%s :No such channel", m->params[1]);
  else if (!my)
    irc_reply(c, "442", "%s :You're not on that channel", ch->name);
  else if ((ch->modes & IRC_CMODE_I) && !my->op)
    irc_reply(c, "482", "%s :You're not channel operator", ch->name);
  else if (irc_chan_member(ch, t))
    irc_reply(c, "443", "%s %s :is already on channel", t->nick, ch->name);
  else {
    irc_chan_invite(ch, t);
    irc_reply(c, "341", "%s %s", t->nick, ch->name);
    chat_msg *msg = irc_msg_from(c, "INVITE %s :%s", t->nick, ch->name);
    irc_share(t, msg);
    chat_msg_unref(msg);
    if (t->away)
      irc_reply(c, "301", "%s :%s", t->nick, t->away);
  }
}
