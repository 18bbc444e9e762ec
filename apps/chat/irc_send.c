/* iomux-chatd --proto irc: what the server says, to one client or to many.
 *
 * Replies to one client are copied into its queue (chat_out_write); a line
 * for many is formatted once into a chat_msg and shared (irc_share, and the
 * channel broadcast in irc_channel.c). Either way a client past its send
 * queue is dropped, through irc_drop, which is safe in the middle of a loop
 * over channel members: the drop happens later, in the reap.
 */
#include "irc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *irc_nick(const irc_client *c) { return c->nick[0] ? c->nick : "*"; }

/* buf holds n formatted bytes (vsnprintf's count, maybe more than it
 * kept); cut to a message and send. buf has IRC_LINE bytes. */
static void send_line(irc_client *c, char *buf, int n) {
  size_t len = n < 0 ? 0 : (size_t)n;
  if (len > IRC_LINE - 2)
    len = IRC_LINE - 2;
  buf[len] = '\r';
  buf[len + 1] = '\n';
  if (chat_out_write(&c->srv->q, &c->out, buf, len + 2) == -ENOBUFS)
    irc_drop(c, "SendQ exceeded");
}

void irc_send(irc_client *c, const char *fmt, ...) {
  char buf[IRC_LINE];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, IRC_LINE - 1, fmt, ap);
  va_end(ap);
  send_line(c, buf, n);
}

void irc_reply(irc_client *c, const char *numeric, const char *fmt, ...) {
  char buf[IRC_LINE];
  int k = snprintf(buf, IRC_LINE - 1, ":%s %s %s ", c->srv->opts->name,
                   numeric, irc_nick(c));
  if (k < 0 || k >= IRC_LINE - 1) {
    send_line(c, buf, k);
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + k, (size_t)(IRC_LINE - 1 - k), fmt, ap);
  va_end(ap);
  send_line(c, buf, n < 0 ? k : k + n);
}

chat_msg *irc_msg_from(const irc_client *from, const char *fmt, ...) {
  char rest[IRC_LINE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rest, sizeof rest, fmt, ap);
  va_end(ap);
  return chat_msg_new(IRC_LINE, "\r\n", ":%s!%s@%s %s", from->nick,
                      from->user, from->host, rest);
}

void irc_share(irc_client *to, chat_msg *m) {
  if (m && chat_out_share(&to->srv->q, &to->out, m) == -ENOBUFS)
    irc_drop(to, "SendQ exceeded");
}

/* Once each (m may be NULL, out of memory: then nobody gets it): a client in three of c's channels gets one QUIT, not three.
 * The mark is a number fresh for each call, so nothing needs clearing. */
void irc_share_common(irc_client *c, chat_msg *m, int self) {
  uint32_t mark = ++c->srv->mark;
  c->mark = mark;
  if (self)
    irc_share(c, m);
  for (irc_member *my = c->chans; my; my = my->next) {
    irc_channel *ch = my->chan;
    for (uint32_t i = 0; i < ch->nmembers; i++) {
      irc_client *to = ch->members[i]->cl;
      if (to->mark != mark) {
        to->mark = mark;
        irc_share(to, m);
      }
    }
  }
}
