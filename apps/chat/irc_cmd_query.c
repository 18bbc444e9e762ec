/* iomux-chatd --proto irc: questions about users and the server: WHO
 * WHOIS USERHOST ISON LUSERS MOTD VERSION.
 *
 * Who may see whom: a +i (invisible) user shows only to clients that share
 * a channel with it (and to itself), as in every server.
 */
#include "irc.h"

#include "cluster.h"

#include <stdio.h>
#include <string.h>

#define WHO_MAX 500 /* replies to one wildcard WHO, at most */

/* Mark everyone who shares a channel with c (and c): then t is visible to c
 * if t->mark == the returned mark or t is not invisible. */
static uint32_t mark_neighbours(irc_client *c) {
  uint32_t mark = ++c->srv->mark;
  c->mark = mark;
  for (irc_member *my = c->chans; my; my = my->next)
    for (uint32_t i = 0; i < my->chan->nmembers; i++)
      my->chan->members[i]->cl->mark = mark;
  return mark;
}

/* ---- WHO ------------------------------------------------------------------------- */

static void who_line(irc_client *c, const char *chan, irc_client *t, int op) {
  irc_reply(c, "352", "%s %s %s %s %s %s%s :0 %s", chan, t->user, t->host,
            c->srv->opts->name, t->nick, t->away ? "G" : "H", op ? "@" : "",
            t->real);
}

static void who_channel(irc_client *c, irc_channel *ch) {
  int inside = irc_chan_member(ch, c) != NULL;
  for (uint32_t i = 0; i < ch->nmembers; i++) {
    irc_member *m = ch->members[i];
    if (inside || !m->cl->invisible)
      who_line(c, ch->name, m->cl, m->op);
  }
}

/* A mask with wildcards: nicks, user names and hosts that match it. */
static void who_mask(irc_client *c, const char *mask) {
  uint32_t mark = mark_neighbours(c);
  int n = 0;
  irc_server *srv = c->srv;
  for (irc_client *t = srv->clients.next; t != &srv->clients && n < WHO_MAX;
       t = t->next) {
    if (!t->registered || (t->invisible && t->mark != mark))
      continue;
    if (chat_match(mask, t->nick) || chat_match(mask, t->user) ||
        chat_match(mask, t->host)) {
      who_line(c, "*", t, 0);
      n++;
    }
  }
}

void irc_cmd_who(irc_client *c, const irc_msg *m) {
  const char *mask = m->nparams > 0 && *m->params[0] ? m->params[0] : "*";
  irc_client *t;
  irc_channel *ch;
  if (net_who(c, mask))
    return; /* --cluster: the whole network's answer, later */
  if (mask[0] == '#') {
    if ((ch = irc_chan_find(c->srv, mask)))
      who_channel(c, ch);
  } else if (strpbrk(mask, "*?")) {
    who_mask(c, mask);
  } else if ((t = irc_find_user(c->srv, mask))) {
    who_line(c, "*", t, 0);
  }
  irc_reply(c, "315", "%s :End of /WHO list", mask);
}

/* ---- WHOIS ------------------------------------------------------------------------- */

/* 319: the channels, in as many lines as they take. */
static void whois_channels(irc_client *c, irc_client *t) {
  char list[IRC_LINE];
  size_t len = 0, room = IRC_LINE - 2 - 64 - 2 * IRC_NICKLEN;
  for (irc_member *m = t->chans; m; m = m->next) {
    size_t need = strlen(m->chan->name) + 2;
    if (len > 0 && len + need > room) {
      irc_reply(c, "319", "%s :%.*s", t->nick, (int)len - 1, list);
      len = 0;
    }
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s ",
                            m->op ? "@" : "", m->chan->name);
  }
  if (len > 0)
    irc_reply(c, "319", "%s :%.*s", t->nick, (int)len - 1, list);
}

/* WHOIS [server] nick: the last parameter is the nick (the first of a
 * comma list). */
void irc_cmd_whois(irc_client *c, const irc_msg *m) {
  if (m->nparams == 0 || !*m->params[m->nparams - 1]) {
    irc_reply(c, "431", ":No nickname given");
    return;
  }
  char nick[IRC_LINE];
  snprintf(nick, sizeof nick, "%s", m->params[m->nparams - 1]);
  nick[strcspn(nick, ",")] = '\0';
  irc_client *t = irc_find_user(c->srv, nick);
  if (!t && net_whois(c, nick))
    return; /* --cluster: a user of another node, perhaps */
  if (!t) {
    irc_reply(c, "401", "%s :No such nick/channel", nick);
    irc_reply(c, "318", "%s :End of /WHOIS list", nick);
    return;
  }
  uint64_t now = iom_loop_now(c->srv->loop);
  uint64_t since = t->last_msg ? t->last_msg : t->connected;
  irc_reply(c, "311", "%s %s %s * :%s", t->nick, t->user, t->host, t->real);
  whois_channels(c, t);
  irc_reply(c, "312", "%s %s :iomux chat server", t->nick,
            c->srv->opts->name);
  if (t->away)
    irc_reply(c, "301", "%s :%s", t->nick, t->away);
  irc_reply(c, "317", "%s %llu %lld :seconds idle, signon time", t->nick,
            (unsigned long long)((now - since) / 1000), (long long)t->signon);
  irc_reply(c, "318", "%s :End of /WHOIS list", t->nick);
}

/* ---- USERHOST, ISON ------------------------------------------------------------------ */

void irc_cmd_userhost(irc_client *c, const irc_msg *m) {
  char list[IRC_LINE];
  size_t len = 0;
  for (int i = 0; i < m->nparams && i < 5; i++) {
    irc_client *t = irc_find_user(c->srv, m->params[i]);
    if (t)
      len += (size_t)snprintf(list + len, sizeof list - len, "%s%s=%c%s@%s",
                              len ? " " : "", t->nick, t->away ? '-' : '+',
                              t->user, t->host);
  }
  list[len] = '\0';
  irc_reply(c, "302", ":%s", list);
}

/* ISON nick nick ...: the nicks may also come as one parameter. */
void irc_cmd_ison(irc_client *c, const irc_msg *m) {
  char list[IRC_LINE], names[IRC_LINE];
  size_t len = 0;
  for (int i = 0; i < m->nparams; i++) {
    snprintf(names, sizeof names, "%s", m->params[i]);
    for (char *n = strtok(names, " "); n; n = strtok(NULL, " ")) {
      irc_client *t = irc_find_user(c->srv, n);
      if (t && len + strlen(t->nick) + 2 < sizeof list)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                len ? " " : "", t->nick);
    }
  }
  list[len] = '\0';
  irc_reply(c, "303", ":%s", list);
}

/* ---- LUSERS, MOTD, VERSION ------------------------------------------------------------- */

void irc_cmd_lusers(irc_client *c, const irc_msg *m) {
  (void)m;
  irc_server *srv = c->srv;
  irc_reply(c, "251", ":There are %d users and %d invisible on 1 servers",
            srv->nusers - srv->ninvisible, srv->ninvisible);
  irc_reply(c, "252", "0 :operator(s) online");
  irc_reply(c, "253", "%d :unknown connection(s)", srv->nclients - srv->nusers);
  irc_reply(c, "254", "%zu :channels formed", srv->chans.count);
  irc_reply(c, "255", ":I have %d clients and 0 servers", srv->nusers);
}

void irc_cmd_motd(irc_client *c, const irc_msg *m) {
  (void)m;
  irc_server *srv = c->srv;
  if (!srv->opts->motd) {
    irc_reply(c, "422", ":MOTD File is missing");
    return;
  }
  irc_reply(c, "375", ":- %s Message of the day - ", srv->opts->name);
  for (int i = 0; i < srv->nmotd; i++)
    irc_reply(c, "372", ":- %s", srv->motd[i]);
  irc_reply(c, "376", ":End of /MOTD command.");
}

void irc_cmd_version(irc_client *c, const irc_msg *m) {
  (void)m;
  irc_reply(c, "351", IRC_VERSION " %s :iomux chat server",
            c->srv->opts->name);
}
