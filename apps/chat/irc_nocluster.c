/* iomux-chatd built without hiredis: no --cluster (main.c refuses the
 * option), and every call of the IRC server into the network (cluster.h)
 * is a no-op or "answer locally". Named irc_*.c so that the builds that
 * take the IRC files alone (tests/fuzz/build.sh) link it too. */
#include "cluster.h"

#include <errno.h>

int net_start(irc_server *srv, const char *url, const char *node_id,
              const char **what) {
  (void)srv, (void)url, (void)node_id;
  *what = "--cluster";
  return -ENOTSUP;
}
void net_shutdown(irc_server *srv) { (void)srv; }
void net_free(irc_server *srv) { (void)srv; }

void net_user_registered(irc_client *c) { (void)c; }
void net_user_gone(irc_client *c, chat_msg *quit) { (void)c, (void)quit; }
void net_user_renamed(irc_client *c, const char *old, chat_msg *m) {
  (void)c, (void)old, (void)m;
}
void net_user_info(irc_client *c) { (void)c; }
void net_chan_new(irc_channel *ch) { (void)ch; }
void net_chan_gone(irc_channel *ch) { (void)ch; }
void net_chan_line(irc_channel *ch, chat_msg *m) { (void)ch, (void)m; }
void net_chan_part(irc_channel *ch, irc_client *c, chat_msg *m) {
  (void)ch, (void)c, (void)m;
}
void net_chan_topic(irc_channel *ch, chat_msg *m) { (void)ch, (void)m; }
void net_chan_mode(irc_channel *ch, chat_msg *m, const char *ops) {
  (void)ch, (void)m, (void)ops;
}
void net_chan_kick(irc_channel *ch, irc_client *target, chat_msg *m) {
  (void)ch, (void)target, (void)m;
}

int net_nick(irc_client *c, const char *nick) {
  (void)c, (void)nick;
  return 0;
}
int net_join(irc_client *c, const char *name, const char *key,
             const char *more) {
  (void)c, (void)name, (void)key, (void)more;
  return 0;
}
int net_names(irc_client *c, const char *name, const char *more) {
  (void)c, (void)name, (void)more;
  return 0;
}
int net_who(irc_client *c, const char *mask) {
  (void)c, (void)mask;
  return 0;
}
int net_whois(irc_client *c, const char *nick) {
  (void)c, (void)nick;
  return 0;
}
int net_list(irc_client *c, const char *names) {
  (void)c, (void)names;
  return 0;
}
int net_topic_query(irc_client *c, const char *name, int set) {
  (void)c, (void)name, (void)set;
  return 0;
}
int net_message(irc_client *c, const char *cmd, const char *target,
                const char *text, int notice, const char *more) {
  (void)c, (void)cmd, (void)target, (void)text, (void)notice, (void)more;
  return 0;
}
int net_kick(irc_client *c, irc_channel *ch, const char *nick,
             const char *reason, const char *more) {
  (void)c, (void)ch, (void)nick, (void)reason, (void)more;
  return 0;
}
int net_invite(irc_client *c, const char *nick, irc_channel *ch) {
  (void)c, (void)nick, (void)ch;
  return 0;
}
int net_mode_ops(irc_client *c, irc_channel *ch, const irc_msg *m) {
  (void)c, (void)ch, (void)m;
  return 0;
}
int net_member_elsewhere(irc_client *c, const char *nick, char *name,
                         size_t size) {
  (void)c, (void)nick, (void)name, (void)size;
  return -1;
}
void net_client_gone(irc_client *c) { (void)c; }
int net_up(const irc_server *srv) {
  (void)srv;
  return 0;
}
