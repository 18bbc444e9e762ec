/* iomux-chatd --proto irc: one line to its command.
 *
 * The line is copied (the parser writes into it) up to its first NUL or CR:
 * neither may be inside an IRC message, and relaying a lone CR would let a
 * client forge lines for clients that split on it. Then the command is
 * looked up in a sorted table, and the table's rules applied before the
 * command runs: may it come before registration, and how many parameters
 * does it need at least (461 otherwise). The commands check the rest.
 */
#include "irc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct irc_command {
  const char *name;
  irc_cmd_fn *fn;
  int min_params;
  int before_reg; /* allowed before registration */
} irc_command;

/* Sorted by name, for bsearch. */
static const irc_command commands[] = {
    {"AWAY", irc_cmd_away, 0, 0},         {"CAP", irc_cmd_cap, 1, 1},
    {"INVITE", irc_cmd_invite, 2, 0},     {"ISON", irc_cmd_ison, 1, 0},
    {"JOIN", irc_cmd_join, 1, 0},         {"KICK", irc_cmd_kick, 2, 0},
    {"LIST", irc_cmd_list, 0, 0},         {"LUSERS", irc_cmd_lusers, 0, 0},
    {"MODE", irc_cmd_mode, 1, 0},         {"MOTD", irc_cmd_motd, 0, 0},
    {"NAMES", irc_cmd_names, 0, 0},       {"NICK", irc_cmd_nick, 0, 1},
    {"NOTICE", irc_cmd_notice, 0, 0},     {"PART", irc_cmd_part, 1, 0},
    {"PASS", irc_cmd_pass, 1, 1},         {"PING", irc_cmd_ping, 0, 1},
    {"PONG", irc_cmd_pong, 0, 1},         {"PRIVMSG", irc_cmd_privmsg, 0, 0},
    {"QUIT", irc_cmd_quit, 0, 1},         {"TOPIC", irc_cmd_topic, 1, 0},
    {"USER", irc_cmd_user, 4, 1},         {"USERHOST", irc_cmd_userhost, 1, 0},
    {"VERSION", irc_cmd_version, 0, 0},   {"WHO", irc_cmd_who, 0, 0},
    {"WHOIS", irc_cmd_whois, 0, 0},
};

static int by_name(const void *key, const void *elem) {
  return strcasecmp(key, ((const irc_command *)elem)->name);
}

void irc_dispatch(irc_client *c, const char *line, size_t len) {
  char buf[IRC_LINE];
  size_t n = 0;
  while (n < len && n < sizeof buf - 1 && line[n] != '\0' && line[n] != '\r')
    n++;
  memcpy(buf, line, n);
  buf[n] = '\0';
  irc_msg m;
  if (irc_parse(buf, &m) < 0)
    return; /* an empty line: nothing to answer */
  const irc_command *cmd =
      bsearch(m.cmd, commands, sizeof commands / sizeof commands[0],
              sizeof commands[0], by_name);
  if (!cmd)
    irc_reply(c, "421", "%s :Unknown command", m.cmd);
  else if (!c->registered && !cmd->before_reg)
    irc_reply(c, "451", ":You have not registered");
  else if (m.nparams < cmd->min_params)
    irc_reply(c, "461", "%s :Not enough parameters", cmd->name);
  else
    cmd->fn(c, &m);
}
