/* iomux-chatd --proto irc: registration and the connection's own commands:
 * CAP PASS NICK USER, the welcome (001-005, LUSERS, MOTD), PING PONG QUIT.
 *
 * Registration completes when both NICK and USER have come, unless the
 * client opened a capability negotiation (CAP LS or REQ): then it waits for
 * CAP END. This server offers no capabilities: LS lists none, REQ is NAKed.
 */
#include "irc.h"

#include "cluster.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- the welcome -------------------------------------------------------------- */

/* ISUPPORT, at most 13 tokens a line. The limits are irc.h's. */
#define STR_(x) #x
#define STR(x) STR_(x)
static const char *const isupport[] = {
    "AWAYLEN=" STR(IRC_AWAYLEN) " CASEMAPPING=rfc1459 CHANLIMIT=#:"
    STR(IRC_CHANLIMIT) " CHANMODES=,k,l,imnt CHANNELLEN=" STR(IRC_CHANNELLEN)
    " CHANTYPES=# KICKLEN=" STR(IRC_KICKLEN) " MODES=" STR(IRC_MODES)
    " NETWORK=iomux NICKLEN=" STR(IRC_NICKLEN) " PREFIX=(o)@",
    "TARGMAX=PRIVMSG:" STR(IRC_MAXTARGETS) ",NOTICE:" STR(IRC_MAXTARGETS)
    ",JOIN:,PART:,KICK:,NAMES:,LIST:,WHOIS:1 TOPICLEN=" STR(IRC_TOPICLEN)
    " USERLEN=" STR(IRC_USERLEN),
};

static void welcome(irc_client *c) {
  irc_server *srv = c->srv;
  const char *name = srv->opts->name;
  c->registered = 1;
  srv->nusers++;
  irc_reply(c, "001", ":Welcome to the iomux IRC network %s!%s@%s", c->nick,
            c->user, c->host);
  irc_reply(c, "002", ":Your host is %s, running version " IRC_VERSION, name);
  irc_reply(c, "003", ":This server was created %s", srv->created);
  irc_reply(c, "004", "%s " IRC_VERSION " i iklmnot klo", name);
  for (size_t i = 0; i < sizeof isupport / sizeof isupport[0]; i++)
    irc_reply(c, "005", "%s :are supported by this server", isupport[i]);
  irc_cmd_lusers(c, NULL);
  irc_cmd_motd(c, NULL);
  net_user_registered(c);
}

static void try_register(irc_client *c) {
  if (!c->registered && c->nick[0] && c->user[0] && !c->cap_wait)
    welcome(c);
}

/* ---- CAP, PASS ----------------------------------------------------------------- */

void irc_cmd_cap(irc_client *c, const irc_msg *m) {
  const char *sub = m->params[0];
  const char *name = c->srv->opts->name;
  if (!strcasecmp(sub, "LS")) {
    c->cap_wait = !c->registered;
    irc_send(c, ":%s CAP %s LS :", name, irc_nick(c));
  } else if (!strcasecmp(sub, "LIST")) {
    irc_send(c, ":%s CAP %s LIST :", name, irc_nick(c));
  } else if (!strcasecmp(sub, "REQ")) {
    c->cap_wait = !c->registered;
    irc_send(c, ":%s CAP %s NAK :%s", name, irc_nick(c),
             m->nparams > 1 ? m->params[1] : "");
  } else if (!strcasecmp(sub, "END")) {
    c->cap_wait = 0;
    try_register(c);
  } else {
    irc_reply(c, "410", "%s :Invalid CAP command", sub);
  }
}

/* No server password is configured: any is accepted. */
void irc_cmd_pass(irc_client *c, const irc_msg *m) {
  (void)m;
  if (c->registered)
    irc_reply(c, "462", ":You may not reregister");
}

/* ---- NICK, USER ---------------------------------------------------------------- */

static int nick_char(unsigned char ch, int first) {
  if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
      strchr("[]\\`_^{|}", ch))
    return ch != '\0';
  return !first && ((ch >= '0' && ch <= '9') || ch == '-');
}

static int nick_ok(const char *nick) {
  size_t len = strlen(nick);
  if (len == 0 || len > IRC_NICKLEN || !nick_char((unsigned char)nick[0], 1))
    return 0;
  for (size_t i = 1; i < len; i++)
    if (!nick_char((unsigned char)nick[i], 0))
      return 0;
  return 1;
}

/* Tell everyone who shares a channel (and the client), then rename. */
static void rename_to(irc_client *c, const char *nick) {
  irc_server *srv = c->srv;
  chat_msg *msg = NULL;
  char old[IRC_NICKLEN + 1];
  if (c->registered) {
    msg = irc_msg_from(c, "NICK :%s", nick);
    irc_share_common(c, msg, 1);
  }
  snprintf(old, sizeof old, "%s", c->nick);
  if (c->nick[0])
    chat_names_del(&srv->nicks, c->nick);
  snprintf(c->nick, sizeof c->nick, "%s", nick);
  if (chat_names_add(&srv->nicks, c->nick, c) < 0) {
    c->nick[0] = '\0';
    irc_drop(c, "Out of memory");
  } else if (c->registered) {
    net_user_renamed(c, old, msg);
  }
  chat_msg_unref(msg);
}

void irc_nick_done(irc_client *c, const char *nick) {
  irc_client *other = chat_names_get(&c->srv->nicks, nick);
  if (other && other != c) { /* (the claims of one node do not overlap) */
    irc_reply(c, "433", "%s :Nickname is already in use", nick);
    return;
  }
  if (strcmp(c->nick, nick) == 0)
    return;
  rename_to(c, nick);
  try_register(c);
}

void irc_cmd_nick(irc_client *c, const irc_msg *m) {
  const char *nick = m->nparams > 0 ? m->params[0] : "";
  if (!*nick) {
    irc_reply(c, "431", ":No nickname given");
    return;
  }
  if (!nick_ok(nick)) {
    irc_reply(c, "432", "%s :Erroneous nickname", nick);
    return;
  }
  irc_client *other = chat_names_get(&c->srv->nicks, nick);
  if (other && other != c) {
    irc_reply(c, "433", "%s :Nickname is already in use", nick);
    return;
  }
  if (strcmp(c->nick, nick) == 0)
    return;
  if (net_nick(c, nick)) /* --cluster: the network's answer comes later */
    return;
  rename_to(c, nick);
  try_register(c);
}

/* USER name mode unused :real name. The name gets "~" (no ident check)
 * and keeps only printable bytes that cannot confuse nick!user@host. */
void irc_cmd_user(irc_client *c, const irc_msg *m) {
  if (c->registered) {
    irc_reply(c, "462", ":You may not reregister");
    return;
  }
  size_t n = 0;
  c->user[n++] = '~';
  for (const char *p = m->params[0]; *p && n <= IRC_USERLEN; p++)
    if (*p > ' ' && *p < 127 && *p != '@' && *p != '!')
      c->user[n++] = *p;
  if (n == 1)
    memcpy(c->user + 1, "user", 5), n = 5;
  c->user[n] = '\0';
  snprintf(c->real, sizeof c->real, "%s", m->params[3]);
  try_register(c);
}

/* ---- PING, PONG, QUIT ------------------------------------------------------------- */

void irc_cmd_ping(irc_client *c, const irc_msg *m) {
  if (m->nparams < 1 || !*m->params[0]) {
    irc_reply(c, "409", ":No origin specified");
    return;
  }
  const char *name = c->srv->opts->name;
  irc_send(c, ":%s PONG %s :%s", name, name, m->params[0]);
}

/* Any bytes from the client answer a PING (irc_feed); PONG needs nothing
 * more. */
void irc_cmd_pong(irc_client *c, const irc_msg *m) {
  (void)c;
  (void)m;
}

/* The reason the others see is prefixed, so a client cannot make its
 * leaving look like the server's doing ("Ping timeout"). */
void irc_cmd_quit(irc_client *c, const irc_msg *m) {
  char reason[IRC_LINE];
  if (m->nparams > 0 && *m->params[0])
    snprintf(reason, sizeof reason, "Quit: %s", m->params[0]);
  else
    snprintf(reason, sizeof reason, "Client Quit");
  irc_drop(c, reason);
}
