/* iomux-chatd --proto irc: PRIVMSG and NOTICE (to channels and nicks, up to
 * IRC_MAXTARGETS targets each), and AWAY.
 *
 * NOTICE is PRIVMSG that never gets an automatic reply: no error numerics,
 * no away message (so two bots cannot loop on each other).
 */
#include "irc.h"

#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Both return 1 when the network took the rest of the command over
 * (--cluster: a target not here; `more` runs once it is done). */
static int to_channel(irc_client *c, const char *cmd, const char *name,
                      const char *text, int notice, const char *more) {
  irc_channel *ch = irc_chan_find(c->srv, name);
  int rc = ch ? 0 : net_message(c, cmd, name, text, notice, more);
  if (rc)
    return rc == 1;
  if (!ch) {
    if (!notice)
      irc_reply(c, "401", "%s :No such nick/channel", name);
    return 0;
  }
  irc_member *my = irc_chan_member(ch, c);
  if ((!my && (ch->modes & IRC_CMODE_N)) ||
      ((ch->modes & IRC_CMODE_M) && !(my && my->op))) {
    if (!notice)
      irc_reply(c, "404", "%s :Cannot send to channel", ch->name);
    return 0;
  }
  chat_msg *msg = irc_msg_from(c, "%s %s :%s", cmd, ch->name, text);
  irc_chan_send(ch, c, msg);
  net_chan_line(ch, msg);
  chat_msg_unref(msg);
  return 0;
}

static int to_user(irc_client *c, const char *cmd, const char *nick,
                   const char *text, int notice, const char *more) {
  irc_client *t = irc_find_user(c->srv, nick);
  int rc = t ? 0 : net_message(c, cmd, nick, text, notice, more);
  if (rc)
    return rc == 1;
  if (!t) {
    if (!notice)
      irc_reply(c, "401", "%s :No such nick/channel", nick);
    return 0;
  }
  chat_msg *msg = irc_msg_from(c, "%s %s :%s", cmd, t->nick, text);
  irc_share(t, msg);
  chat_msg_unref(msg);
  if (t->away && !notice)
    irc_reply(c, "301", "%s :%s", t->nick, t->away);
  return 0;
}

static void message(irc_client *c, const irc_msg *m, const char *cmd,
                    int notice) {
  if (m->nparams < 1 || !*m->params[0]) {
    if (!notice)
      irc_reply(c, "411", ":No recipient given (%s)", cmd);
    return;
  }
  if (m->nparams < 2 || !*m->params[1]) {
    if (!notice)
      irc_reply(c, "412", ":No text to send");
    return;
  }
  c->last_msg = iom_loop_now(c->srv->loop);
  char targets[IRC_LINE];
  snprintf(targets, sizeof targets, "%s", m->params[0]);
  int n = 0;
  for (char *t = targets, *next; t && *t; t = next) {
    next = strchr(t, ',');
    if (next)
      *next++ = '\0';
    char more[IRC_LINE] = "";
    if (next && *next)
      snprintf(more, sizeof more, "%s %s :%s", cmd, next, m->params[1]);
    if (++n > IRC_MAXTARGETS) {
      if (!notice)
        irc_reply(c, "407", "%s :Too many targets", t);
    } else if (t[0] == '#') {
      if (to_channel(c, cmd, t, m->params[1], notice, more))
        return;
    } else if (to_user(c, cmd, t, m->params[1], notice, more)) {
      return;
    }
  }
}

void irc_cmd_privmsg(irc_client *c, const irc_msg *m) {
  message(c, m, "PRIVMSG", 0);
}

void irc_cmd_notice(irc_client *c, const irc_msg *m) {
  message(c, m, "NOTICE", 1);
}

void irc_cmd_away(irc_client *c, const irc_msg *m) {
  free(c->away);
  c->away = NULL;
  if (m->nparams > 0 && *m->params[0])
    c->away = strndup(m->params[0], IRC_AWAYLEN);
  net_user_info(c);
  if (c->away)
    irc_reply(c, "306", ":You have been marked as being away");
  else
    irc_reply(c, "305", ":You are no longer marked as being away");
}
