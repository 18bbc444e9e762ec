/* iomux-chat: what the loop (chat.c) and the IRC side (irc.c) share. */
#ifndef IOMUX_CHAT_CLIENT_H
#define IOMUX_CHAT_CLIENT_H

#include <stddef.h>

#define CHAT_NAME 64     /* a nick or a channel name, with its NUL */
#define CHAT_CHANNELS 16 /* channels remembered as joined */

typedef struct chat {
  int fd;    /* the connected socket */
  int plain; /* --plain: lines as they are, no IRC */
  int registered;          /* the server said 001 */
  int quitting;            /* QUIT sent: waiting for the server to close */
  char nick[CHAT_NAME];    /* ours, as the server knows it (or asked for) */
  char autojoin[CHAT_NAME];          /* the channel of the command line */
  char channel[CHAT_NAME];           /* where plain lines go; "" for none */
  char joined[CHAT_CHANNELS][CHAT_NAME];
  char *out;                /* bytes for the server not yet sent */
  size_t out_len, out_cap;
} chat;

/* ---- chat.c: the loop's services ------------------------------------------ */

/* Queue one protocol line for the server; "\r\n" is added. Lines are cut
 * at 510 bytes (the IRC limit with its CRLF). */
void chat_send(chat *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print one line to the terminal: "HH:MM " and the text, with control bytes
 * (colours, escape sequences a peer could use on our terminal) taken out. */
void chat_show(chat *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Leave: send QUIT (IRC) or "quit" (plain), then wait for the server to
 * close, 2 s at most. */
void chat_quit(chat *c, const char *why);

/* ---- irc.c: the protocol --------------------------------------------------- */

/* Right after connecting: NICK and USER (nothing in plain mode). */
void irc_register(chat *c);

/* One line from the server, without its line end; may be modified. */
void irc_incoming(chat *c, char *line);

/* One line typed by the user, without its newline; may be modified. */
void irc_typed(chat *c, char *line);

#endif
