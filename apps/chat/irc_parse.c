/* iomux-chatd: the IRC line parser (see irc_parse.h). */
#include "irc_parse.h"

#include <stddef.h>

static char *skip_spaces(char *p) {
  while (*p == ' ')
    p++;
  return p;
}

/* Cut the word at p; return where the next one starts. */
static char *cut_word(char *p) {
  while (*p && *p != ' ')
    p++;
  if (*p)
    *p++ = '\0';
  return skip_spaces(p);
}

int irc_parse(char *line, irc_msg *m) {
  m->prefix = m->cmd = NULL;
  m->nparams = 0;
  char *p = skip_spaces(line);
  if (*p == '@')
    p = cut_word(p);
  if (*p == ':') {
    m->prefix = p + 1;
    p = cut_word(p);
  }
  if (!*p)
    return -1;
  m->cmd = p;
  p = cut_word(p);
  while (*p && m->nparams < IRC_MAX_PARAMS) {
    if (*p == ':' || m->nparams == IRC_MAX_PARAMS - 1) {
      m->params[m->nparams++] = p + (*p == ':');
      break;
    }
    m->params[m->nparams++] = p;
    p = cut_word(p);
  }
  return 0;
}
