/* iomux-chatd --proto irc: the server's state, shared by the irc_*.c files.
 *
 *   irc_server.c      the server: clients come and go, lines in, flood
 *                     control, the sweep (pings, timeouts), drops
 *   irc_dispatch.c    one parsed line to its command's function
 *   irc_send.c        replies, numerics, lines to many clients
 *   irc_channel.c     channels and their members
 *   irc_cmd_reg.c     CAP PASS NICK USER PING PONG QUIT, the welcome
 *   irc_cmd_chan.c    JOIN PART TOPIC NAMES LIST KICK INVITE
 *   irc_cmd_mode.c    MODE, for channels and users
 *   irc_cmd_msg.c     PRIVMSG NOTICE AWAY
 *   irc_cmd_query.c   WHO WHOIS USERHOST ISON LUSERS MOTD VERSION
 *
 * A client's life: ACTIVE (on srv->clients; registered or not) ->
 * DROPPING (irc_drop: also on srv->dropping, waiting for the reap, which
 * runs as a deferred call; a drop changes no list a caller may be walking,
 * so it is safe anywhere, even in a loop over a channel's members or over
 * srv->clients) -> GONE (reaped: off every list and table, its stream
 * closing) -> freed in the stream's on_close. A stream that ends by itself
 * (EOF, reset) skips the reap: on_close detaches and frees at once.
 */
#ifndef IOMUX_CHAT_IRC_H
#define IOMUX_CHAT_IRC_H

#include "chatd.h"
#include "conn.h"
#include "irc_parse.h"
#include "names.h"
#include "sendq.h"

#include <stdint.h>
#include <time.h>

/* Limits, announced in ISUPPORT (irc_cmd_reg.c). */
#define IRC_LINE 512 /* a message, CR LF included */
#define IRC_NICKLEN 30
#define IRC_USERLEN 10
#define IRC_REALLEN 50
#define IRC_CHANNELLEN 50
#define IRC_TOPICLEN 390
#define IRC_AWAYLEN 200
#define IRC_KICKLEN 255
#define IRC_KEYLEN 23
#define IRC_CHANLIMIT 50 /* channels per client */
#define IRC_MAXTARGETS 4 /* PRIVMSG/NOTICE targets per command */
#define IRC_MODES 4      /* mode changes with a parameter per MODE */
#define IRC_INVITES 16   /* pending invitations per channel */
#define IRC_VERSION "iomux-chatd-0.1"

/* Channel modes (no list modes: CHANMODES=,k,l,imnt). */
enum { IRC_CMODE_I = 1, IRC_CMODE_M = 2, IRC_CMODE_N = 4, IRC_CMODE_T = 8 };

enum irc_phase { IRC_ACTIVE, IRC_DROPPING, IRC_GONE };

typedef struct irc_server irc_server;
typedef struct irc_client irc_client;
typedef struct irc_channel irc_channel;
typedef struct chat_net chat_net; /* --cluster (cluster.h), or NULL */

/* A client in a channel: in the channel's member array and on the client's
 * list of channels. */
typedef struct irc_member {
  irc_channel *chan;
  irc_client *cl;
  struct irc_member *next; /* the client's next channel */
  uint32_t slot;           /* index in chan->members */
  unsigned op : 1;
} irc_member;

struct irc_channel {
  irc_server *srv;
  irc_member **members;
  uint32_t nmembers, cap;
  unsigned modes;
  uint32_t limit; /* +l, 0 when unset */
  char *key;      /* +k, NULL when unset */
  char *topic, *topic_by;
  time_t topic_at, created;
  char *invites[IRC_INVITES]; /* nicks invited (+i), oldest first */
  char name[];
};

struct irc_client {
  chat_out out; /* the output side (sendq.h) */
  irc_server *srv;
  iom_lines *lines;
  struct irc_client *prev, *next; /* on srv->clients, until reaped */
  struct irc_client *drop_next;   /* on srv->dropping, once dropped */
  irc_member *chans;
  char *quit;    /* the reason, once dropped */
  char *away;    /* the away message, NULL when here */
  char *backlog; /* flood control: lines waiting (read paused), NULL */
  uint32_t backlog_len, backlog_cap;
  void *wait;    /* --cluster: a question in flight; lines wait meanwhile */
  void *answer;  /* --cluster: an answer fetched for the line running */
  uint32_t mark;        /* irc_send_common: already sent this one */
  uint64_t connected;   /* loop time (ms) the connection came */
  uint64_t last_read;   /* loop time of the last bytes from it */
  uint64_t last_msg;    /* loop time of its last PRIVMSG/NOTICE (idle) */
  uint64_t flood_clock; /* flood control: when its lines are paid for */
  time_t signon;
  uint8_t nchans;
  unsigned phase : 2;
  unsigned registered : 1;
  unsigned cap_wait : 1; /* CAP LS/REQ came: registration waits for END */
  unsigned pinged : 1;   /* a PING is out, unanswered */
  unsigned invisible : 1;
  char nick[IRC_NICKLEN + 1];  /* "" until NICK */
  char user[IRC_USERLEN + 2];  /* "~" + the USER name; "" until USER */
  char host[CHAT_HOST_MAX];
  char real[IRC_REALLEN + 1];
};

struct irc_server {
  iom_loop *loop;
  const chatd_opts *opts;
  chat_net *net; /* --cluster, else NULL */
  iom_listener *listener;
  iom_timer *sweep;
  chat_sendq q;
  chat_names nicks, chans;
  irc_client clients;           /* list head */
  irc_client *dropping;         /* waiting for the reap, newest first */
  int nclients;                 /* connections */
  int nusers, ninvisible;       /* registered; of them +i */
  uint32_t mark;
  char **motd;
  int nmotd;
  char created[64];
  unsigned reap_pending : 1, shutting_down : 1;
};

/* ---- irc_server.c ----------------------------------------------------------- */

/* Drop a client (reason: the QUIT the others see, and the ERROR it gets).
 * Deferred: the client goes on existing, and keeps its place in every
 * list, channel and table, until the reap. Doing it again does nothing. */
void irc_drop(irc_client *c, const char *reason);

/* Bytes from a client, as the stream delivers them (the fuzzer's seam). */
void irc_feed(irc_client *c, const char *buf, size_t len);

/* A new client on a connected socket. Returns it, or NULL (fd closed). */
irc_client *irc_client_new(irc_server *srv, int fd);

/* The server without a listener (the fuzzer's), and its end. */
int irc_server_new(iom_loop *loop, const chatd_opts *opts, irc_server **out);
void irc_server_shutdown(irc_server *srv);
void irc_server_free(irc_server *srv);

/* A registered client by nick (any case), or NULL. */
irc_client *irc_find_user(irc_server *srv, const char *nick);

/* --cluster: the question c waited for is answered (c->wait is NULL
 * again): run the lines that waited (flood control still applies), and
 * read again once none wait. */
void irc_resume(irc_client *c);

/* ---- irc_cmd_reg.c (for the cluster) ------------------------------------------ */

/* The network granted c the nick (net_nick): rename, maybe register. */
void irc_nick_done(irc_client *c, const char *nick);

/* ---- irc_dispatch.c ----------------------------------------------------------- */

/* One line (no line ending, at most IRC_LINE bytes): parse, run. */
void irc_dispatch(irc_client *c, const char *line, size_t len);

/* ---- irc_send.c ---------------------------------------------------------------- */

/* A line to one client: printf-formatted, "\r\n" added, cut at IRC_LINE. */
void irc_send(irc_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* ":server NUMERIC nick " + the rest ("*" for the nick before there is
 * one). */
void irc_reply(irc_client *c, const char *numeric, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A shared line ":nick!user@host " + the rest, for irc_share_*. */
chat_msg *irc_msg_from(const irc_client *from, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A shared line to one client; a client past its send queue is dropped. */
void irc_share(irc_client *to, chat_msg *m);
/* To everyone who shares a channel with c, once each; to c too if self. */
void irc_share_common(irc_client *c, chat_msg *m, int self);
/* The nick a reply addresses: the client's, or "*" before it has one. */
const char *irc_nick(const irc_client *c);

/* ---- irc_channel.c ----------------------------------------------------------- */

int irc_chan_name_ok(const char *name);
irc_channel *irc_chan_find(irc_server *srv, const char *name);
/* A new, empty channel; NULL when out of memory. */
irc_channel *irc_chan_new(irc_server *srv, const char *name);
/* c's membership of ch, or NULL. */
irc_member *irc_chan_member(const irc_channel *ch, const irc_client *c);
/* Add c to ch. Returns the membership or NULL (out of memory). */
irc_member *irc_chan_join(irc_channel *ch, irc_client *c, int op);
/* Remove a member; the channel goes when it is empty: then it returns 1. */
int irc_chan_leave(irc_member *m);
/* Leave every channel, silently (the caller has told the others). */
void irc_chan_leave_all(irc_client *c);
/* To every member but `except` (NULL: all). */
void irc_chan_send(irc_channel *ch, const irc_client *except, chat_msg *m);
/* Is c invited to ch (+i)? Forget the invitation if take is set. */
int irc_chan_invited(irc_channel *ch, const irc_client *c, int take);
void irc_chan_invite(irc_channel *ch, const irc_client *c);
/* "+ntk key" into buf; the key only if show_key. */
void irc_chan_modes(const irc_channel *ch, int show_key, char *buf,
                    size_t size);
/* NAMES of one channel to c (353s and the 366). */
void irc_chan_names(irc_client *c, irc_channel *ch);
/* 353s for `n` names ("@nick" or "nick"), then the 366: for NAMES
 * answers that come from elsewhere (the network). */
void irc_names_reply(irc_client *c, const char *chan, const char *const *names,
                     size_t n);

/* ---- commands (irc_cmd_*.c) ----------------------------------------------- */

typedef void irc_cmd_fn(irc_client *c, const irc_msg *m);
irc_cmd_fn irc_cmd_cap, irc_cmd_pass, irc_cmd_nick, irc_cmd_user,
    irc_cmd_ping, irc_cmd_pong, irc_cmd_quit, irc_cmd_join, irc_cmd_part,
    irc_cmd_topic, irc_cmd_names, irc_cmd_list, irc_cmd_kick,
    irc_cmd_invite, irc_cmd_mode, irc_cmd_privmsg, irc_cmd_notice,
    irc_cmd_away, irc_cmd_who, irc_cmd_whois, irc_cmd_userhost,
    irc_cmd_ison, irc_cmd_lusers, irc_cmd_motd, irc_cmd_version;
/* LUSERS and MOTD are also part of the welcome: they do not read m, which
 * may be NULL. */

#endif
