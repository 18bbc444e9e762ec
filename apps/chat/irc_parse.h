/* iomux-chatd: one IRC line into prefix, command and parameters.
 *
 * A pure function: no I/O, no allocation, no server state, so the fuzzer
 * can drive it alone. The grammar (Modern IRC, "Messages"):
 *   [@tags SPACE] [:prefix SPACE] command *(SPACE param) [SPACE :trailing]
 * Tags (IRCv3) are skipped; runs of spaces count as one; the trailing
 * parameter may contain spaces or be empty. At most IRC_MAX_PARAMS
 * parameters: the last one takes the rest of the line.
 */
#ifndef IOMUX_CHAT_IRC_PARSE_H
#define IOMUX_CHAT_IRC_PARSE_H

#define IRC_MAX_PARAMS 15

typedef struct irc_msg {
  const char *prefix; /* without the ':', or NULL */
  const char *cmd;    /* as sent: compare without case */
  int nparams;
  const char *params[IRC_MAX_PARAMS];
} irc_msg;

/* Parse `line`, a NUL-terminated string without its line ending, in place
 * (spaces become NULs; the pointers in *m point into line). Returns 0, or
 * -1 if the line has no command (empty, or only tags and a prefix). */
int irc_parse(char *line, irc_msg *m);

#endif
