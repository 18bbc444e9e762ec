/* iomux-chatd: group chat over the iomux Reactor, two protocols.
 *
 * main.c parses the options, makes the loop, watches the console and the
 * stop signals, and starts one protocol's server: plain.c (the classic
 * teaching example, nc as the client) or irc_*.c (the IRC client protocol,
 * for real clients). sendq.c is the output side both share.
 */
#ifndef IOMUX_CHATD_H
#define IOMUX_CHATD_H

#include "iomux/loop.h"

#include <stddef.h>

typedef struct chatd_opts {
  const char *host;
  int port;
  const char *name;  /* --name: the server's name in IRC replies */
  int max_clients;
  size_t sendq;      /* --sendq: bytes a client may leave unread */
  int ping;          /* --ping: seconds of silence before PING, and again
                        before the drop; also the time to register */
  const char *motd;  /* --motd: a file, or NULL */
  int flood;         /* --flood on: per-client line rate limit */
  unsigned batch_ms; /* --batch-ms: how long output may be held */
  int nodelay;       /* --nodelay on: TCP_NODELAY on client sockets */
  const char *cluster; /* --cluster redis://HOST:PORT[/db], or NULL */
  const char *node_id; /* --node-id, or NULL (host name and pid) */
} chatd_opts;

/* One protocol's server. start() listens and returns the server and the
 * port, or a negative errno and in *what the thing that failed (the
 * address, the MOTD file, ...); it prints nothing. shutdown() sends ERROR to every client and closes them (each gets
 * at most a second to take what it is owed), after which the loop has
 * nothing left to run; free() releases what is left once the loop is done. */
typedef struct chatd_proto {
  int default_port;
  int (*start)(iom_loop *loop, const chatd_opts *opts, void **srv,
               int *port, const char **what);
  void (*shutdown)(void *srv);
  void (*free)(void *srv);
} chatd_proto;

extern const chatd_proto chatd_plain, chatd_irc;

#endif
