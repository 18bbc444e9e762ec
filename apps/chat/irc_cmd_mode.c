/* iomux-chatd --proto irc: MODE, for channels (+i +k +l +m +n +o +t) and
 * for the client itself (+i).
 *
 * A channel change is applied letter by letter; what took effect is
 * gathered into one MODE line for every member ("+o-k bob"), the way
 * servers tell it. Letters that need a parameter take the next one; at
 * most IRC_MODES of them per command.
 */
#include "irc.h"

#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The effective change, as it will be announced. */
typedef struct mode_change {
  char modes[64];
  size_t nmodes;
  char dir; /* the sign last written to modes */
  char args[IRC_LINE];
  size_t nargs;
  char ops[IRC_LINE]; /* --cluster: "+nick,-nick", the +o/-o that took */
  size_t nops;
} mode_change;



static void record(mode_change *mc, char dir, char mode, const char *arg) {
  if (mc->nmodes + 3 > sizeof mc->modes)
    return;
  if (mc->dir != dir)
    mc->modes[mc->nmodes++] = mc->dir = dir;
  mc->modes[mc->nmodes++] = mode;
  mc->modes[mc->nmodes] = '\0';
  if (arg && mc->nargs + strlen(arg) + 2 < sizeof mc->args)
    mc->nargs += (size_t)snprintf(mc->args + mc->nargs,
                                  sizeof mc->args - mc->nargs, " %s", arg);
}

static void record_op(mode_change *mc, char dir, const char *nick) {
  if (mc->nops + strlen(nick) + 3 < sizeof mc->ops)
    mc->nops += (size_t)snprintf(mc->ops + mc->nops, sizeof mc->ops - mc->nops,
                                 "%s%c%s", mc->nops ? "," : "", dir, nick);
  record(mc, dir, 'o', nick);
}

/* ---- channel modes ---------------------------------------------------------------- */

/* A nick not here (--cluster): the network's answer, fetched before this
 * MODE ran (net_mode_ops). Its op flag is that node's. */
static void mode_op_elsewhere(irc_client *c, irc_channel *ch, char dir,
                              const char *nick, mode_change *mc) {
  char name[IRC_NICKLEN + 1];
  int rc = net_member_elsewhere(c, nick, name, sizeof name);
  if (rc > 0)
    record_op(mc, dir, name);
  else if (rc == 0)
    irc_reply(c, "441", "%s %s :They aren't on that channel", name, ch->name);
  else
    irc_reply(c, "401", "%s :No such nick/channel", nick);
}

static void mode_op(irc_client *c, irc_channel *ch, char dir, const char *nick,
                    mode_change *mc) {
  irc_client *t = irc_find_user(c->srv, nick);
  irc_member *tm = t ? irc_chan_member(ch, t) : NULL;
  if (!t && c->answer)
    mode_op_elsewhere(c, ch, dir, nick, mc);
  else if (!t)
    irc_reply(c, "401", "%s :No such nick/channel", nick);
  else if (!tm)
    irc_reply(c, "441", "%s %s :They aren't on that channel", t->nick,
              ch->name);
  else if (tm->op != (dir == '+')) {
    tm->op = dir == '+';
    record_op(mc, dir, t->nick);
  }
}

static void mode_key(irc_client *c, irc_channel *ch, char dir, const char *key,
                     mode_change *mc) {
  if (dir == '-') {
    if (ch->key) {
      record(mc, '-', 'k', ch->key);
      free(ch->key);
      ch->key = NULL;
    }
    return;
  }
  if (!*key || strlen(key) > IRC_KEYLEN || strcspn(key, " ,:") != strlen(key)) {
    irc_reply(c, "525", "%s :Key is not well-formed", ch->name);
    return;
  }
  char *copy = strdup(key);
  if (!copy)
    return;
  free(ch->key);
  ch->key = copy;
  record(mc, '+', 'k', key);
}

static void mode_limit(irc_channel *ch, char dir, const char *arg,
                       mode_change *mc) {
  long n = dir == '+' ? strtol(arg, NULL, 10) : 0;
  if (dir == '+' && (n <= 0 || n > 1000000))
    return;
  if ((uint32_t)n == ch->limit)
    return;
  ch->limit = (uint32_t)n;
  record(mc, dir, 'l', dir == '+' ? arg : NULL);
}

static unsigned flag_of(char mode) {
  switch (mode) {
  case 'i': return IRC_CMODE_I;
  case 'm': return IRC_CMODE_M;
  case 'n': return IRC_CMODE_N;
  case 't': return IRC_CMODE_T;
  default: return 0;
  }
}

/* One letter of a change. *arg is the next unused parameter's index. A
 * letter whose parameter is missing, or past the IRC_MODES-th, is ignored;
 * -k may come without its key. */
static void chan_letter(irc_client *c, irc_channel *ch, const irc_msg *m,
                        char dir, char mode, int *arg, mode_change *mc) {
  unsigned flag = flag_of(mode);
  if (flag) {
    if (((ch->modes & flag) != 0) != (dir == '+')) {
      ch->modes ^= flag;
      record(mc, dir, mode, NULL);
    }
    return;
  }
  if (mode != 'o' && mode != 'k' && mode != 'l') {
    irc_reply(c, "472", "%c :is unknown mode char to me", mode);
    return;
  }
  const char *param = NULL;
  if (mode != 'l' || dir == '+') {
    if (*arg < m->nparams && *arg - 2 < IRC_MODES)
      param = m->params[(*arg)++];
    else if (mode != 'k' || dir != '-')
      return;
  }
  if (mode == 'o')
    mode_op(c, ch, dir, param, mc);
  else if (mode == 'k')
    mode_key(c, ch, dir, param, mc);
  else
    mode_limit(ch, dir, param, mc);
}

static void chan_change(irc_client *c, irc_channel *ch, const irc_msg *m) {
  mode_change mc = {.dir = 0};
  char dir = '+';
  int arg = 2;
  for (const char *p = m->params[1]; *p; p++) {
    if (*p == '+' || *p == '-')
      dir = *p;
    else
      chan_letter(c, ch, m, dir, *p, &arg, &mc);
  }
  if (mc.nmodes == 0)
    return;
  chat_msg *msg = irc_msg_from(c, "MODE %s %s%s", ch->name, mc.modes, mc.args);
  irc_chan_send(ch, NULL, msg);
  net_chan_mode(ch, msg, mc.ops);
  chat_msg_unref(msg);
}

static void chan_mode(irc_client *c, irc_channel *ch, const irc_msg *m) {
  irc_member *my = irc_chan_member(ch, c);
  if (m->nparams < 2) {
    char modes[64];
    irc_chan_modes(ch, my != NULL, modes, sizeof modes);
    irc_reply(c, "324", "%s %s", ch->name, modes);
    irc_reply(c, "329", "%s %lld", ch->name, (long long)ch->created);
  } else if (!strcmp(m->params[1], "b") || !strcmp(m->params[1], "+b")) {
    irc_reply(c, "368", "%s :End of channel ban list", ch->name);
  } else if (!my || !my->op) {
    irc_reply(c, "482", "%s :You're not channel operator", ch->name);
  } else if (!c->answer && net_mode_ops(c, ch, m)) {
    return; /* +o/-o of nicks not here: asked the network, runs again */
  } else {
    chan_change(c, ch, m);
  }
}

/* ---- user modes ------------------------------------------------------------------- */

static void user_mode(irc_client *c, const irc_msg *m) {
  if (m->nparams < 2) {
    irc_reply(c, "221", "%s", c->invisible ? "+i" : "+");
    return;
  }
  char dir = '+', changed[8] = "";
  int unknown = 0;
  for (const char *p = m->params[1]; *p; p++) {
    if (*p == '+' || *p == '-')
      dir = *p;
    else if (*p != 'i')
      unknown = 1;
    else if (c->invisible != (dir == '+')) {
      c->invisible = dir == '+';
      c->srv->ninvisible += c->invisible ? 1 : -1;
      snprintf(changed, sizeof changed, "%ci", dir);
    }
  }
  if (unknown)
    irc_reply(c, "501", ":Unknown MODE flag");
  if (changed[0]) {
    irc_send(c, ":%s MODE %s :%s", c->nick, c->nick, changed);
    net_user_info(c);
  }
}

void irc_cmd_mode(irc_client *c, const irc_msg *m) {
  const char *target = m->params[0];
  if (target[0] == '#') {
    irc_channel *ch = irc_chan_find(c->srv, target);
    if (ch)
      chan_mode(c, ch, m);
    else
      irc_reply(c, "403", "%s :No such channel", target);
  } else if (chat_casecmp(target, c->nick) == 0) {
    user_mode(c, m);
  } else if (irc_find_user(c->srv, target)) {
    irc_reply(c, "502", ":Can't change mode for other users");
  } else {
    irc_reply(c, "401", "%s :No such nick/channel", target);
  }
}
