/* iomux-chat: the IRC side. What arrives is parsed into prefix, command
 * and parameters (the "Modern IRC" message format) and shown as a person
 * would want to read it; what is typed becomes commands.
 *
 * The protocol a client must keep to:
 *   - register with NICK and USER; a 433 (nick in use) before the 001
 *     welcome means: pick another (we append '_') and try again;
 *   - answer every PING with a PONG carrying the same token, or be dropped;
 *   - keep lines under 512 bytes with their CRLF: longer text is sent as
 *     several PRIVMSGs, cut between UTF-8 characters (say);
 *   - servers do not echo our own PRIVMSG back: we show it ourselves.
 * In --plain mode none of this applies: lines go out and come in as they
 * are.
 */
#define _GNU_SOURCE
#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PARAMS 15
#define SAY_CHUNK 400 /* text bytes per PRIVMSG: room for the relay prefix */

typedef struct irc_msg {
  char *nick; /* the prefix up to '!' (a server name has none); "" if none */
  char *cmd;
  int argc;
  char *argv[MAX_PARAMS];
} irc_msg;

/* Split a line in place. Returns 0, or -1 if there is no command. */
static int parse(char *line, irc_msg *m) {
  memset(m, 0, sizeof *m);
  m->nick = "";
  if (*line == '@') { /* IRCv3 message tags: not used here */
    line = strchr(line, ' ');
    if (!line)
      return -1;
    while (*line == ' ')
      line++;
  }
  if (*line == ':') {
    m->nick = ++line;
    line += strcspn(line, " ");
    if (*line)
      *line++ = '\0';
    m->nick[strcspn(m->nick, "!@")] = '\0';
  }
  while (*line == ' ')
    line++;
  if (!*line)
    return -1;
  m->cmd = line;
  line += strcspn(line, " ");
  while (*line) {
    *line++ = '\0';
    while (*line == ' ')
      line++;
    if (!*line || m->argc == MAX_PARAMS)
      break;
    if (*line == ':') {
      m->argv[m->argc++] = line + 1;
      break;
    }
    m->argv[m->argc++] = line;
    line += strcspn(line, " ");
  }
  return 0;
}

static const char *arg(const irc_msg *m, int i) {
  return i < m->argc ? m->argv[i] : "";
}

static int is_me(const chat *c, const char *nick) {
  return strcasecmp(nick, c->nick) == 0;
}

static int is_channel(const char *s) { return s[0] && strchr("#&+!", s[0]); }

/* ---- the channels we are in -------------------------------------------------- */

static void joined_add(chat *c, const char *chan) {
  int free_slot = -1;
  for (int i = 0; i < CHAT_CHANNELS; i++) {
    if (!strcasecmp(c->joined[i], chan))
      return;
    if (!c->joined[i][0] && free_slot < 0)
      free_slot = i;
  }
  if (free_slot >= 0)
    snprintf(c->joined[free_slot], CHAT_NAME, "%s", chan);
}

/* Forget chan; if it was the current one, another joined channel (if any)
 * becomes current. */
static void joined_remove(chat *c, const char *chan) {
  for (int i = 0; i < CHAT_CHANNELS; i++)
    if (!strcasecmp(c->joined[i], chan))
      c->joined[i][0] = '\0';
  if (strcasecmp(c->channel, chan))
    return;
  c->channel[0] = '\0';
  for (int i = 0; i < CHAT_CHANNELS; i++)
    if (c->joined[i][0]) {
      snprintf(c->channel, CHAT_NAME, "%s", c->joined[i]);
      chat_show(c, "-!- now talking in %s", c->channel);
      return;
    }
}

/* ---- what arrives ------------------------------------------------------------- */

/* PRIVMSG and NOTICE: to a channel, to us, or CTCP (\1ACTION ...\1). */
static void on_message(chat *c, irc_msg *m) {
  const char *to = arg(m, 0);
  char *text = (char *)arg(m, 1);
  int notice = m->cmd[0] == 'N' || m->cmd[0] == 'n';
  const char *where = is_channel(to) ? to : "";
  const char *sp = *where ? " " : "";
  if (text[0] == '\1') {
    text++;
    text[strcspn(text, "\1")] = '\0';
    if (!strncmp(text, "ACTION ", 7))
      chat_show(c, "%s%s* %s %s", where, sp, m->nick, text + 7);
    else
      chat_show(c, "-!- CTCP %s from %s%s%s", text, m->nick, sp, where);
  } else if (notice && !*m->nick) {
    chat_show(c, "-!- %s", text);
  } else if (notice) {
    chat_show(c, "%s%s-%s- %s", where, sp, m->nick, text);
  } else if (*where) {
    chat_show(c, "%s <%s> %s", where, m->nick, text);
  } else {
    chat_show(c, "*%s* %s", m->nick, text);
  }
}

static void on_join(chat *c, irc_msg *m) {
  const char *chan = arg(m, 0);
  if (is_me(c, m->nick)) {
    joined_add(c, chan);
    snprintf(c->channel, CHAT_NAME, "%s", chan);
    chat_show(c, "--> you joined %s (lines you type go there now)", chan);
  } else {
    chat_show(c, "--> %s joined %s", m->nick, chan);
  }
}

static void on_part(chat *c, irc_msg *m) {
  const char *chan = arg(m, 0), *why = arg(m, 1);
  int me = is_me(c, m->nick);
  chat_show(c, "<-- %s left %s%s%s%s", me ? "you" : m->nick, chan,
            *why ? " (" : "", why, *why ? ")" : "");
  if (me)
    joined_remove(c, chan);
}

static void on_quit(chat *c, irc_msg *m) {
  const char *why = arg(m, 0);
  chat_show(c, "<-- %s quit%s%s%s", m->nick, *why ? " (" : "", why,
            *why ? ")" : "");
}

static void on_kick(chat *c, irc_msg *m) {
  const char *chan = arg(m, 0), *who = arg(m, 1), *why = arg(m, 2);
  int me = is_me(c, who);
  chat_show(c, "<-- %s kicked %s from %s (%s)", m->nick, me ? "you" : who,
            chan, why);
  if (me)
    joined_remove(c, chan);
}

static void on_nick(chat *c, irc_msg *m) {
  const char *to = arg(m, 0);
  if (is_me(c, m->nick)) {
    snprintf(c->nick, CHAT_NAME, "%s", to);
    chat_show(c, "-!- you are now known as %s", to);
  } else {
    chat_show(c, "-!- %s is now known as %s", m->nick, to);
  }
}

static void on_ping(chat *c, irc_msg *m) {
  chat_send(c, "PONG :%s", arg(m, 0));
}

static void on_topic(chat *c, irc_msg *m) {
  chat_show(c, "-!- %s set the topic of %s: %s", m->nick, arg(m, 0),
            arg(m, 1));
}

static void on_mode(chat *c, irc_msg *m) {
  char modes[256] = "";
  for (int i = 1; i < m->argc; i++) {
    strncat(modes, " ", sizeof modes - strlen(modes) - 1);
    strncat(modes, m->argv[i], sizeof modes - strlen(modes) - 1);
  }
  chat_show(c, "-!- mode %s%s by %s", arg(m, 0), modes, m->nick);
}

static void on_error(chat *c, irc_msg *m) {
  chat_show(c, "-!- server: %s", arg(m, 0));
}

/* 001: registered. Join the channel of the command line. */
static void on_welcome(chat *c, irc_msg *m) {
  c->registered = 1;
  snprintf(c->nick, CHAT_NAME, "%s", arg(m, 0)); /* as the server has it */
  chat_show(c, "-!- %s", arg(m, 1));
  if (c->autojoin[0])
    chat_send(c, "JOIN %s", c->autojoin);
}

/* 433: nick in use. Before registering we must pick another one. */
static void on_nick_in_use(chat *c, irc_msg *m) {
  chat_show(c, "-!- nick %s is in use", arg(m, 1));
  if (c->registered)
    return;
  size_t n = strlen(c->nick);
  if (n + 1 < CHAT_NAME) {
    c->nick[n] = '_';
    c->nick[n + 1] = '\0';
  }
  chat_send(c, "NICK %s", c->nick);
}

static void on_names(chat *c, irc_msg *m) { /* 353 me = #chan :names */
  chat_show(c, "-!- names %s: %s", arg(m, 2), arg(m, 3));
}

static void on_topic_is(chat *c, irc_msg *m) { /* 332 me #chan :topic */
  chat_show(c, "-!- topic of %s: %s", arg(m, 1), arg(m, 2));
}

/* Any other numeric: the parameters after our nick, the last one as text. */
static void on_numeric(chat *c, irc_msg *m) {
  char text[1024] = "";
  for (int i = 1; i < m->argc; i++) {
    if (i > 1)
      strncat(text, " ", sizeof text - strlen(text) - 1);
    strncat(text, m->argv[i], sizeof text - strlen(text) - 1);
  }
  chat_show(c, "-!- %s", text);
}

static void on_quiet(chat *c, irc_msg *m) {
  (void)c;
  (void)m;
}

static const struct {
  const char *cmd;
  void (*fn)(chat *c, irc_msg *m);
} handlers[] = {
    {"PRIVMSG", on_message}, {"NOTICE", on_message}, {"JOIN", on_join},
    {"PART", on_part},       {"QUIT", on_quit},      {"KICK", on_kick},
    {"NICK", on_nick},       {"PING", on_ping},      {"TOPIC", on_topic},
    {"MODE", on_mode},       {"ERROR", on_error},    {"001", on_welcome},
    {"433", on_nick_in_use}, {"353", on_names},      {"332", on_topic_is},
    {"366", on_quiet},       {"PONG", on_quiet},
};

void irc_incoming(chat *c, char *line) {
  if (c->plain) {
    chat_show(c, "%s", line);
    return;
  }
  irc_msg m;
  if (parse(line, &m) < 0)
    return;
  for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
    if (!strcasecmp(m.cmd, handlers[i].cmd)) {
      handlers[i].fn(c, &m);
      return;
    }
  if (strlen(m.cmd) == 3 && strspn(m.cmd, "0123456789") == 3)
    on_numeric(c, &m);
  else
    chat_show(c, "-!- %s %s %s", m.nick, m.cmd, arg(&m, m.argc - 1));
}

void irc_register(chat *c) {
  if (c->plain)
    return;
  chat_send(c, "NICK %s", c->nick);
  chat_send(c, "USER %s 0 * :iomux-chat", c->nick);
}

/* ---- what is typed ------------------------------------------------------------- */

/* PRIVMSG text to target, in pieces that fit a line; each cut falls
 * before a UTF-8 lead byte, never inside a character. ctcp wraps each
 * piece as \1ACTION ...\1. */
static void say(chat *c, const char *target, const char *text, int action) {
  size_t len = strlen(text);
  do {
    size_t n = len < SAY_CHUNK ? len : SAY_CHUNK;
    while (n < len && n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
      n--;
    if (action)
      chat_send(c, "PRIVMSG %s :\1ACTION %.*s\1", target, (int)n, text);
    else
      chat_send(c, "PRIVMSG %s :%.*s", target, (int)n, text);
    text += n;
    len -= n;
  } while (len > 0);
}

/* The next word of *s (cut in place), or "" at the end. */
static char *word(char **s) {
  char *p = *s;
  while (*p == ' ')
    p++;
  char *w = p;
  p += strcspn(p, " ");
  if (*p)
    *p++ = '\0';
  while (*p == ' ')
    p++;
  *s = p;
  return w;
}

static void help(chat *c) {
  static const char *const lines[] = {
      "commands: text goes to the current channel (//text sends /text)",
      "  /join #chan       join, and make it the current channel",
      "  /part [#chan] [reason]   leave (default: the current channel)",
      "  /msg NICK TEXT    private message",
      "  /me ACTION        an action in the current channel",
      "  /nick NEW         change nick",
      "  /names [#chan]    who is in the channel",
      "  /quote LINE       send LINE to the server as it is",
      "  /quit [MESSAGE]   leave (so does end of input, Ctrl-D)",
  };
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
    chat_show(c, "-!- %s", lines[i]);
}

/* Text for the current channel, shown as the others will see it. */
static void to_channel(chat *c, const char *text, int action) {
  if (!c->channel[0]) {
    chat_show(c, "-!- not in a channel: /join #channel first");
    return;
  }
  say(c, c->channel, text, action);
  if (action)
    chat_show(c, "%s * %s %s", c->channel, c->nick, text);
  else
    chat_show(c, "%s <%s> %s", c->channel, c->nick, text);
}

static void command(chat *c, char *cmd, char *rest) {
  if (!strcasecmp(cmd, "join")) {
    char *chan = word(&rest);
    if (*chan)
      chat_send(c, "JOIN %s%s%s", chan, *rest ? " " : "", rest);
    else
      chat_show(c, "-!- usage: /join #channel");
  } else if (!strcasecmp(cmd, "part")) {
    char *chan = is_channel(rest) ? word(&rest) : c->channel;
    if (*chan)
      chat_send(c, "PART %s :%s", chan, *rest ? rest : "leaving");
    else
      chat_show(c, "-!- not in a channel");
  } else if (!strcasecmp(cmd, "msg")) {
    char *to = word(&rest);
    if (!*to || !*rest) {
      chat_show(c, "-!- usage: /msg NICK TEXT");
      return;
    }
    say(c, to, rest, 0);
    chat_show(c, "-> *%s* %s", to, rest);
  } else if (!strcasecmp(cmd, "me")) {
    to_channel(c, rest, 1);
  } else if (!strcasecmp(cmd, "nick")) {
    char *nick = word(&rest);
    if (*nick)
      chat_send(c, "NICK %s", nick);
    else
      chat_show(c, "-!- usage: /nick NEW");
  } else if (!strcasecmp(cmd, "names")) {
    char *chan = *rest ? word(&rest) : c->channel;
    chat_send(c, "NAMES%s%s", *chan ? " " : "", chan);
  } else if (!strcasecmp(cmd, "quote")) {
    chat_send(c, "%s", rest);
  } else if (!strcasecmp(cmd, "quit")) {
    chat_quit(c, rest);
  } else if (!strcasecmp(cmd, "help")) {
    help(c);
  } else {
    chat_show(c, "-!- unknown command /%s (/help lists them)", cmd);
  }
}

void irc_typed(chat *c, char *line) {
  if (c->plain) {
    chat_send(c, "%s", line);
    return;
  }
  if (!*line)
    return;
  if (line[0] == '/' && line[1] != '/') {
    char *rest = line + 1, *cmd = word(&rest);
    command(c, cmd, rest);
  } else {
    to_channel(c, line[0] == '/' ? line + 1 : line, 0);
  }
}
