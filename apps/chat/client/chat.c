/* iomux-chat: a terminal IRC client that waits on the keyboard and the
 * server at once, with one selector and no threads.
 *
 * What it shows: "one selector, two fds". A chat client has two sources of
 * input and cannot know which will speak next: the user may type, or the
 * server may send a line from someone else. Blocking in read() on either
 * one would freeze the other: a client stuck in fgets() would miss the
 * server's PING and be dropped; one stuck in recv() would not see the user
 * type. So phase 1 (waiting for data) happens in one place for both:
 * iom_selector_select() (include/iomux/selector.h) sleeps until the
 * keyboard (fd 0), the socket, or both are ready, and says which. Phase 2
 * (the copy) is one read() on the fd that is ready, which therefore never
 * waits. This is the select()-based client every networking text shows,
 * written on the iomux selector, so the same file runs on select, poll or
 * epoll (IOM_BACKEND=poll iomux-chat ...).
 *
 * Classic pitfalls, and where this file handles them:
 *   - a read() may return half a line, or ten lines: both fds go through a
 *     line buffer and only whole lines are acted on (take_lines);
 *   - a write the kernel takes only in part: the rest waits in c->out and
 *     the socket is watched for IOM_WRITE only while something waits, since
 *     an empty socket is always writable and would wake us forever (flush,
 *     watch);
 *   - a paste (or a file piped in) faster than the server reads: above
 *     OUT_HIGH queued bytes the keyboard is not watched until the queue
 *     drains, so memory stays bounded (watch);
 *   - stdin is not made O_NONBLOCK: that flag lives on the open file, which
 *     a terminal shares with the shell, and the shell would then see EAGAIN
 *     after we exit. One read() per readiness report cannot block anyway;
 *   - SIGPIPE when the server has gone: send() with MSG_NOSIGNAL (flush);
 *   - the server closing or resetting: read() returns 0 or an error; after
 *     our QUIT that is the expected end (exit 0), otherwise it is news
 *     (exit 1) (read_server);
 *   - stdin EOF (Ctrl-D, or the end of a pipe): QUIT is sent and the loop
 *     waits for the server to close, 2 s at most (chat_quit, run);
 *   - a peer sending escape sequences to our terminal: every incoming line
 *     is printed without control bytes (chat_show).
 * The IRC side (registering, PING/PONG, formatting what arrives, the
 * /commands) is in irc.c; this file is the loop.
 *
 * What it skips: a line editor (typed text and incoming lines share the
 * terminal, as with nc), TLS, SASL, IRCv3 capabilities, CTCP replies, DCC,
 * reconnecting. The name lookup and the connect block, before the loop
 * starts, when there is nothing else to wait for.
 *
 * Try it:  iomux-chatd --port 6667 &   (or any IRC server: ngircd, ...)
 *          iomux-chat 127.0.0.1 6667 alice '#lobby'
 *   and in another terminal  iomux-chat 127.0.0.1 6667 bob '#lobby'
 * With --plain, lines go out and come in as they are (iomux-chatd --proto
 * plain, the classic group chat whose client is nc).
 */
#define _GNU_SOURCE
#include "chat.h"
#include "common/cli.h"
#include "common/clock.h"
#include "common/parse.h"

#include "iomux/error.h"
#include "iomux/selector.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_IN 8192    /* the longest line kept from the server */
#define LINE_MAX_KEYS 4096  /* ... and from the keyboard */
#define OUT_HIGH (64 * 1024) /* queued bytes above which typing is paused */
#define QUIT_WAIT_MS 2000   /* how long to wait for the server after QUIT */

/* A line buffer: bytes up to the next newline wait here. */
typedef struct linebuf {
  char *buf;
  size_t len, cap;
  int skipping; /* the line was too long: drop bytes up to its newline */
} linebuf;

static uint64_t quit_deadline; /* monotonic ms; 0 while not quitting */

/* ---- output: the queue to the server, the terminal ------------------------ */

static int out_append(chat *c, const char *p, size_t n) {
  if (c->out_len + n > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 1024;
    while (cap < c->out_len + n)
      cap *= 2;
    char *b = realloc(c->out, cap);
    if (!b)
      return -ENOMEM;
    c->out = b;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, p, n);
  c->out_len += n;
  return 0;
}

void chat_send(chat *c, const char *fmt, ...) {
  char line[LINE_MAX_KEYS + 2];
  /* IRC: 510 bytes and CRLF at most, or the server refuses the line */
  size_t max = c->plain ? LINE_MAX_KEYS : 510;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n > max)
    n = (int)max;
  if (!c->plain)
    line[n++] = '\r';
  line[n++] = '\n';
  if (out_append(c, line, (size_t)n) < 0)
    chat_show(c, "-!- out of memory: a line to the server was dropped");
}

/* Print s[0..n) without control bytes. mIRC colour codes (^C and up to two
 * digits, a comma and two more) go with their digits. */
static void put_clean(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == 3) {
      int d = 0;
      while (d < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')
        i++, d++;
      if (d && i + 2 < n && s[i + 1] == ',' && s[i + 2] >= '0' &&
          s[i + 2] <= '9') {
        i += 2;
        if (i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')
          i++;
      }
    } else if (ch >= 32 && ch != 127) {
      putchar(ch);
    } else if (ch == '\t') {
      putchar(' ');
    }
  }
}

void chat_show(chat *c, const char *fmt, ...) {
  (void)c;
  char text[4096], stamp[8];
  time_t t = time(NULL);
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(stamp, sizeof stamp, "%H:%M", &tm);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof text)
    n = (int)sizeof text - 1;
  printf("%s ", stamp);
  put_clean(text, (size_t)n);
  putchar('\n');
  fflush(stdout);
}

void chat_quit(chat *c, const char *why) {
  if (c->quitting)
    return;
  if (c->plain)
    chat_send(c, "quit");
  else
    chat_send(c, "QUIT :%s", why && *why ? why : "iomux-chat");
  c->quitting = 1;
  quit_deadline = (uint64_t)app_now_ms() + QUIT_WAIT_MS;
}

/* Send what the kernel takes now. Returns 0, or -1 if the connection is
 * gone (the reason has been shown). */
static int flush(chat *c) {
  size_t done = 0;
  while (done < c->out_len) {
    ssize_t n = send(c->fd, c->out + done, c->out_len - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (n < 0) {
      if (!c->quitting)
        chat_show(c, "-!- connection lost: %s", strerror(errno));
      return -1;
    }
    done += (size_t)n;
  }
  memmove(c->out, c->out + done, c->out_len - done);
  c->out_len -= done;
  /* After QUIT, once it is out, say we will send nothing more: a server
   * that ignores QUIT still sees the end of the stream and closes. */
  if (c->quitting && c->out_len == 0)
    shutdown(c->fd, SHUT_WR);
  return 0;
}

/* ---- input: whole lines ---------------------------------------------------- */

/* Append n bytes and hand each complete line (without "\n" or "\r\n") to
 * fn. A line longer than max is dropped up to its newline. */
static void take_lines(chat *c, linebuf *lb, size_t max, const char *p,
                       size_t n, void (*fn)(chat *, char *)) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') {
      if (!lb->skipping) {
        if (lb->len && lb->buf[lb->len - 1] == '\r')
          lb->len--;
        lb->buf[lb->len] = '\0';
        fn(c, lb->buf);
      }
      lb->len = 0;
      lb->skipping = 0;
    } else if (lb->skipping) {
      continue;
    } else if (lb->len == max) {
      lb->skipping = 1;
      chat_show(c, "-!- a line longer than %zu bytes was dropped", max);
    } else {
      lb->buf[lb->len++] = p[i];
    }
  }
}

/* The server spoke. Returns 0, or 1 when the connection has ended. */
static int read_server(chat *c, linebuf *lb) {
  char buf[16384];
  ssize_t n = read(c->fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  if (n > 0) {
    take_lines(c, lb, LINE_MAX_IN, buf, (size_t)n, irc_incoming);
    return 0;
  }
  if (!c->quitting)
    chat_show(c, "-!- %s", n == 0 ? "the server closed the connection"
                                   : strerror(errno));
  return 1;
}

/* The user typed (or the pipe gave) something. Returns 1 at EOF. */
static int read_keys(chat *c, linebuf *lb) {
  char buf[4096];
  ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return 0;
  if (n <= 0)
    return 1;
  take_lines(c, lb, LINE_MAX_KEYS, buf, (size_t)n, irc_typed);
  return 0;
}

/* ---- the loop -------------------------------------------------------------- */

/* Tell the selector what we wait for now: the socket always for reading
 * and for writing only while bytes wait; the keyboard unless it ended, we
 * are leaving, or the queue to the server is too long. */
static int watch(iom_selector *sel, chat *c, int keys_open) {
  unsigned ev = IOM_READ | (c->out_len ? IOM_WRITE : 0);
  const iom_key *k;
  int err = 0;
  /* Only on a change: with epoll, each modify is a system call. */
  if (iom_selector_get_key(sel, c->fd, &k) == 0 && k->events != ev)
    err = iom_selector_modify(sel, c->fd, ev, NULL);
  int want_keys = keys_open && !c->quitting && c->out_len < OUT_HIGH;
  int have_keys = iom_selector_get_key(sel, STDIN_FILENO, &k) == 0;
  if (err == 0 && want_keys && !have_keys)
    err = iom_selector_register(sel, STDIN_FILENO, IOM_READ, NULL);
  else if (!want_keys && have_keys)
    iom_selector_unregister(sel, STDIN_FILENO);
  return err;
}

/* Returns the exit status: 0 after a quit the server saw through, 1 if the
 * connection was lost. */
static int run(iom_selector *sel, chat *c) {
  linebuf from_server = {malloc(LINE_MAX_IN + 1), 0, LINE_MAX_IN, 0};
  linebuf from_keys = {malloc(LINE_MAX_KEYS + 1), 0, LINE_MAX_KEYS, 0};
  int keys_open = 1, status = -1;
  if (!from_server.buf || !from_keys.buf)
    status = 1;
  while (status < 0) {
    int err = watch(sel, c, keys_open);
    int timeout = -1;
    if (c->quitting) {
      uint64_t now = (uint64_t)app_now_ms();
      timeout = now >= quit_deadline ? 0 : (int)(quit_deadline - now);
    }
    iom_ready ready[2];
    int n = err < 0 ? err : iom_selector_select(sel, timeout, ready, 2);
    if (n < 0) {
      chat_show(c, "-!- selector: %s", iom_strerror(n));
      status = 1;
    } else if (n == 0 && c->quitting) {
      status = 0; /* the server did not close in time: leave anyway */
    }
    for (int i = 0; i < n && status < 0; i++) {
      if (ready[i].key->fd == STDIN_FILENO) {
        if (read_keys(c, &from_keys)) {
          keys_open = 0;
          chat_quit(c, NULL);
        }
        continue;
      }
      if ((ready[i].events & IOM_READ) && read_server(c, &from_server))
        status = c->quitting ? 0 : 1;
      else if (c->out_len && flush(c) < 0)
        status = c->quitting ? 0 : 1;
    }
  }
  free(from_server.buf);
  free(from_keys.buf);
  return status;
}

/* ---- start ------------------------------------------------------------------ */

static int dial(const char *host, const char *port) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "iomux-chat: %s: %s\n", host, gai_strerror(rc));
    return -1;
  }
  int fd = -1, err = 0;
  for (ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0)
    fprintf(stderr, "iomux-chat: cannot connect to %s port %s: %s\n", host,
            port, strerror(err ? err : EHOSTUNREACH));
  else
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static void usage(FILE *to) {
  fprintf(to,
      "usage: iomux-chat [--plain] HOST PORT NICK [#channel]\n"
      "       iomux-chat --help | --version\n\n"
      "A terminal IRC client: lines you type go to the current channel;\n"
      "/join #c, /part [#c], /msg NICK TEXT, /nick NEW, /me ACTION,\n"
      "/names [#c], /quote RAW, /quit [MESSAGE], /help. End of input (Ctrl-D)\n"
      "quits. --plain: send and show lines as they are (iomux-chatd --proto\n"
      "plain, the classic group chat); NICK and #channel are then unused.\n"
      "Exit status 2: a usage error.\n");
}

/* Parse the command line into c; returns -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv, chat *c, const char **host,
                      const char **port) {
  static const char tool[] = "iomux-chat";
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--version")) {
      return app_version(tool);
    } else if (!strcmp(argv[i], "--plain")) {
      c->plain = 1;
    } else if (!strcmp(argv[i], "--")) {
      i++;
      break;
    } else {
      return app_usage_error(tool, "unknown option '%s'", argv[i]);
    }
  }
  int left = argc - i, p;
  if (left < 3)
    return app_usage_error(tool, "HOST, PORT and NICK are needed");
  if (left > 4)
    return app_usage_error(tool, "unexpected argument '%s'", argv[i + 4]);
  if (app_parse_int(argv[i + 1], 1, 65535, &p) < 0)
    return app_usage_error(tool, "bad PORT '%s' (a number from 1 to 65535)",
                           argv[i + 1]);
  const char *nick = argv[i + 2], *chan = left == 4 ? argv[i + 3] : "";
  if (!*nick || strlen(nick) >= CHAT_NAME || strpbrk(nick, " :,\r\n"))
    return app_usage_error(tool, "bad NICK '%s' (one word, shorter than 64 "
                           "bytes)", nick);
  if (strlen(chan) >= CHAT_NAME || strpbrk(chan, " ,\r\n") ||
      (*chan && !strchr("#&+!", *chan)))
    return app_usage_error(tool, "bad #channel '%s' (one word, starting "
                           "with # & + or !)", chan);
  *host = argv[i];
  *port = argv[i + 1];
  strcpy(c->nick, nick);
  strcpy(c->autojoin, chan);
  return -1;
}

int main(int argc, char **argv) {
  chat c = {.fd = -1};
  const char *host = NULL, *port = NULL;
  int rc = parse_args(argc, argv, &c, &host, &port);
  if (rc >= 0)
    return rc;
  iom_selector *sel;
  int err = iom_selector_new(IOM_DEFAULT, &sel);
  if (err < 0) {
    fprintf(stderr, "iomux-chat: selector: %s\n", iom_strerror(err));
    return 1;
  }
  c.fd = dial(host, port);
  if (c.fd < 0 || (err = iom_selector_register(sel, c.fd, IOM_READ, NULL)) < 0) {
    if (c.fd >= 0)
      fprintf(stderr, "iomux-chat: selector: %s\n", iom_strerror(err));
    iom_selector_free(sel);
    return 1;
  }
  chat_show(&c, "-!- connected to %s port %s (%s, %s selector)", host, port,
            c.plain ? "plain lines" : "IRC", iom_selector_name(sel));
  irc_register(&c);
  rc = run(sel, &c);
  iom_selector_free(sel);
  close(c.fd);
  free(c.out);
  return rc;
}
