/* bad_irc: a tiny IRC server that breaks on purpose, for the bench.chat
 * test.
 *
 * Just enough IRC for `iomux-bench chat`: NICK/USER (001, or 433 for a nick
 * in use), JOIN of one channel per client (the JOIN to every member, then
 * 366), PRIVMSG to a channel (to every other member, with the sender's
 * prefix), PING/PONG, QUIT. Channel deliveries are counted across all
 * recipients, and delivery number --after (default 100):
 *   drop     is not sent;
 *   dup      is sent twice;
 *   reorder  is held back and sent after the next delivery from the same
 *            sender to the same recipient;
 *   corrupt  has one letter of its text changed;
 *   ok       nothing: a correct server.
 * Written with poll() and blocking writes, without iomux: the server that
 * tests the load generator must not share its code. Its command line and
 * listener are bad_echo's too (bad_server.c).
 *
 * usage: bad_irc --mode ok|drop|dup|reorder|corrupt [--after N] [--port P]
 * Listens on 127.0.0.1; port 0 (the default) prints the chosen one.
 */
#include "bad_server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 256
#define LINE 1024

enum mode { OK, DROP, DUP, REORDER, CORRUPT };

typedef struct client client;
struct client {
  int fd;
  char nick[32], chan[64];
  int has_user, registered;
  char in[8192];
  size_t in_len;
  char held[LINE]; /* reorder: the delivery held back, "" if none */
  const client *held_from; /* ... and its sender */
};

static client clients[MAX_CLIENTS];
static int nclients;
static int mode; /* enum mode: bad_main sets it */
static long after = 100, deliveries;

static void put(client *c, const char *s) {
  if (c->fd >= 0)
    bad_write_all(c->fd, s, strlen(s)); /* on failure its read side ends it */
}

static void putf(client *c, const char *fmt, const char *a, const char *b) {
  char line[LINE];
  snprintf(line, sizeof line, fmt, a, b);
  put(c, line);
}

/* One channel delivery, broken as the mode says when its number comes. */
static void deliver(client *to, const client *from, const char *line) {
  char copy[LINE];
  long k = ++deliveries;
  if (k != after || mode == OK) {
    put(to, line);
  } else if (mode == DUP) {
    put(to, line);
    put(to, line);
  } else if (mode == REORDER) {
    snprintf(to->held, sizeof to->held, "%s", line);
    to->held_from = from;
    return;
  } else if (mode == CORRUPT) {
    snprintf(copy, sizeof copy, "%s", line);
    size_t n = strlen(copy);
    if (n > 4)
      copy[n - 4] = copy[n - 4] == 'x' ? 'y' : 'x'; /* in the body */
    put(to, copy);
  } /* DROP: nothing */
  if (to->held[0] && to->held_from == from) {
    put(to, to->held);
    to->held[0] = '\0';
  }
}

static client *by_nick(const char *nick) {
  for (int i = 0; i < nclients; i++)
    if (!strcasecmp(clients[i].nick, nick))
      return &clients[i];
  return NULL;
}

static void welcome(client *c) {
  if (c->registered || !c->nick[0] || !c->has_user)
    return;
  c->registered = 1;
  putf(c, ":bad.irc 001 %s :Welcome, %s\r\n", c->nick, c->nick);
}

static void on_join(client *c, const char *chan) {
  char line[LINE];
  snprintf(c->chan, sizeof c->chan, "%s", chan);
  snprintf(line, sizeof line, ":%s!%s@127.0.0.1 JOIN :%s\r\n", c->nick,
           c->nick, chan);
  for (int i = 0; i < nclients; i++)
    if (!strcmp(clients[i].chan, chan))
      put(&clients[i], line);
  putf(c, ":bad.irc 366 %s %s :End of NAMES list\r\n", c->nick, chan);
}

static void on_privmsg(client *c, const char *target, const char *text) {
  char line[LINE];
  snprintf(line, sizeof line, ":%s!%s@127.0.0.1 PRIVMSG %s :%s\r\n",
           c->nick, c->nick, target, text);
  for (int i = 0; i < nclients; i++)
    if (&clients[i] != c && !strcmp(clients[i].chan, target))
      deliver(&clients[i], c, line);
}

/* One line, without its line end. Returns -1 to drop the client. */
static int command(client *c, char *line) {
  char *cmd = strtok(line, " "), *arg = strtok(NULL, " "), *text;
  if (!cmd)
    return 0;
  text = arg ? arg + strlen(arg) + 1 : NULL;
  if (text && *text == ':')
    text++;
  if (!strcasecmp(cmd, "NICK") && arg) {
    if (by_nick(arg) && by_nick(arg) != c)
      putf(c, ":bad.irc 433 * %s :Nickname in use%s\r\n", arg, "");
    else
      snprintf(c->nick, sizeof c->nick, "%s", arg);
    welcome(c);
  } else if (!strcasecmp(cmd, "USER")) {
    c->has_user = 1;
    welcome(c);
  } else if (!strcasecmp(cmd, "JOIN") && arg && c->registered) {
    on_join(c, arg);
  } else if (!strcasecmp(cmd, "PRIVMSG") && arg && text && c->registered) {
    on_privmsg(c, arg, text);
  } else if (!strcasecmp(cmd, "PING")) {
    putf(c, ":bad.irc PONG bad.irc :%s\r\n", arg ? arg : "", "");
  } else if (!strcasecmp(cmd, "QUIT")) {
    return -1;
  }
  return 0;
}

static void drop(int i) {
  close(clients[i].fd);
  clients[i] = clients[--nclients];
}

/* By fd, not by index: drop() moves clients around. */
static void on_readable(int fd) {
  for (int i = 0; i < nclients; i++) {
    client *c = &clients[i];
    if (c->fd != fd)
      continue;
    ssize_t n = read(fd, c->in + c->in_len, sizeof c->in - c->in_len - 1);
    if (n <= 0) {
      drop(i);
      return;
    }
    c->in_len += (size_t)n;
    char *nl;
    while ((nl = memchr(c->in, '\n', c->in_len))) {
      size_t len = (size_t)(nl - c->in) + 1;
      *nl = '\0';
      if (nl > c->in && nl[-1] == '\r')
        nl[-1] = '\0';
      int gone = command(c, c->in) < 0;
      memmove(c->in, c->in + len, c->in_len - len);
      c->in_len -= len;
      if (gone) {
        drop(i);
        return;
      }
    }
    if (c->in_len == sizeof c->in - 1)
      drop(i); /* a line too long */
    return;
  }
}

static void run(int lfd) {
  struct pollfd pfd[MAX_CLIENTS + 1];
  for (;;) {
    int n = 0;
    pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
    for (int i = 0; i < nclients; i++)
      pfd[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
    if (poll(pfd, (nfds_t)n, -1) < 0 && errno != EINTR)
      return;
    for (int k = 1; k < n; k++)
      if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
        on_readable(pfd[k].fd);
    if ((pfd[0].revents & POLLIN) && nclients < MAX_CLIENTS) {
      int fd = accept(lfd, NULL, NULL);
      if (fd >= 0)
        clients[nclients++] = (client){.fd = fd};
    }
  }
}

int main(int argc, char **argv) {
  static const char *const names[] = {"ok", "drop", "dup", "reorder",
                                      "corrupt"};
  int n = (int)(sizeof names / sizeof names[0]);
  return bad_main(argc, argv, "bad_irc", names, n, &mode, &after, run);
}
