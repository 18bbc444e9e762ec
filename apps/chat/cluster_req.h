/* iomux-chatd --cluster: a question to the network (cluster_cmd.c), for
 * the files of the commands it answers: cluster_cmd.c (NICK, JOIN),
 * cluster_query.c (NAMES LIST TOPIC WHO WHOIS), cluster_ops.c (messages
 * to remote targets, KICK, INVITE, MODE +o).
 *
 * A request remembers the client (NULL once it has gone) and what the
 * command still has to do. net_ask sends its script and makes the client
 * wait (c->wait); the answer function runs with the reply (NULL: no
 * answer, answer locally) and returns 0 when the request is done, or 1
 * when it goes on and will call net_req_done itself. net_req_done runs
 * `first` and `more` (the rest of the command), then the lines that
 * waited, and frees the request.
 */
#ifndef IOMUX_CHAT_CLUSTER_REQ_H
#define IOMUX_CHAT_CLUSTER_REQ_H

#include "cluster_int.h"

typedef struct net_req net_req;
/* The answer (r NULL: none). Returns 0 when the request is done, 1 when
 * it goes on (it will call net_req_done itself). */
typedef int net_answer_fn(net_req *q, redisReply *r);

struct net_req {
  chat_net *net;
  irc_client *c; /* NULL once the client is gone */
  net_answer_fn *fn;
  int flag;
  char nick[IRC_NICKLEN + 1]; /* the asker's nick when it asked */
  /* Strings of the request's own (small, and there is one request per
   * client at most): */
  char *name;   /* the channel, nick or mask asked about; never NULL */
  char *arg;    /* a key, a reason, a channel, a line; or NULL */
  char *first;  /* no answer: the command again, run locally; or NULL */
  char *more;   /* the rest of the command, run next; or NULL */
  char *data;   /* what else an answer keeps (JOIN: members); or NULL */
  void *answer; /* MODE: the answer the command runs again with */
};

/* A copy of s into *slot ("" and NULL give NULL). 0, or -1 (memory). */
int net_keep(char **slot, const char *s);
/* A request of c's about `name` (copied), with the rest of its command
 * (`more`, may be NULL). NULL when out of memory. */
net_req *net_req_new(irc_client *c, net_answer_fn *fn, const char *name,
                     const char *more);
void net_req_free(net_req *q);
/* The answer is complete: see the top. */
void net_req_done(net_req *q);
/* Send script s; 1 if it is on its way (the client waits), 0 if not (the
 * link is down: answer locally; q is freed). q may be NULL (then 0). */
int net_ask(net_req *q, enum net_script s, int argc, const char **argv);
/* c's node's link if it is up (a question may be asked), else NULL. */
chat_net *net_asking(irc_client *c);

static inline void req_lower(char *dst, const char *src) {
  net_lower(dst, NET_NAME_MAX + 1, src);
}

#endif
