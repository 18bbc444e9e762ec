/* chat_check irc.errors: every error numeric the server gives a client that
 * got something wrong, one step each: who sends what, and the reply. */
#include "chat_harness.h"

#include <stdio.h>
#include <string.h>

enum { A, B, C }; /* alice (op of #c), bob (registered, outside), C: unregistered */

typedef struct step {
  int who;
  const char *send;
  const char *expect;
} step;

static const step steps[] = {
    {A, "PRIVMSG nobody :x", " 401 alice nobody :No such nick/channel$"},
    {A, "PART #nochan", " 403 alice #nochan :No such channel$"},
    {A, "JOIN nochan", " 403 alice nochan :No such channel$"},
    {B, "PRIVMSG #c :x", " 404 bob #c :Cannot send to channel$"},
    {A, "PRIVMSG bob,bob,bob,bob,bob :x", " 407 alice bob :Too many targets$"},
    {A, "PING", " 409 alice :No origin specified$"},
    {A, "CAP FOO", " 410 alice FOO :Invalid CAP command$"},
    {A, "PRIVMSG", " 411 alice :No recipient given \\(PRIVMSG\\)$"},
    {A, "PRIVMSG bob", " 412 alice :No text to send$"},
    {A, "PRIVMSG bob :", " 412 alice :No text to send$"},
    {A, "FOOBAR x y", " 421 alice FOOBAR :Unknown command$"},
    {A, "NICK", " 431 alice :No nickname given$"},
    {A, "NICK 9lives", " 432 alice 9lives :Erroneous nickname$"},
    {A, "NICK a!b", " 432 alice a!b :Erroneous nickname$"},
    {A, "NICK abcdefghijabcdefghijabcdefghijX", " 432 alice abcdefghij"},
    {A, "NICK BOB", " 433 alice BOB :Nickname is already in use$"},
    {A, "KICK #c bob", " 441 alice bob #c :They aren't on that channel$"},
    {B, "PART #c", " 442 bob #c :You're not on that channel$"},
    {B, "TOPIC #c :x", " 442 bob #c :You're not on that channel$"},
    {A, "INVITE alice #c", " 443 alice alice #c :is already on channel$"},
    {C, "JOIN #c", " 451 \\* :You have not registered$"},
    {C, "PRIVMSG alice :x", " 451 \\* :You have not registered$"},
    {A, "JOIN", " 461 alice JOIN :Not enough parameters$"},
    {C, "USER x 0", " 461 \\* USER :Not enough parameters$"},
    {A, "USER a b c d", " 462 alice :You may not reregister$"},
    {A, "PASS x", " 462 alice :You may not reregister$"},
    {A, "MODE #c +l 1", "^:alice![^ ]+ MODE #c \\+l 1$"},
    {B, "JOIN #c", " 471 bob #c :Cannot join channel \\(\\+l\\)$"},
    {A, "MODE #c -l+z", " 472 alice z :is unknown mode char to me$"},
    {A, "MODE #c +i", "^:alice![^ ]+ MODE #c \\+i$"},
    {B, "JOIN #c", " 473 bob #c :Cannot join channel \\(\\+i\\)$"},
    {A, "MODE #c -i+k key", "^:alice![^ ]+ MODE #c -i\\+k key$"},
    {B, "JOIN #c", " 475 bob #c :Cannot join channel \\(\\+k\\)$"},
    {B, "JOIN #c wrong", " 475 bob #c :"},
    {B, "JOIN #c key", " 366 bob #c :"},
    {B, "MODE #c +t", " 482 bob #c :You're not channel operator$"},
    {B, "KICK #c alice", " 482 bob #c :You're not channel operator$"},
    {B, "MODE bob +x", " 501 bob :Unknown MODE flag$"},
    {B, "MODE alice +i", " 502 bob :Can't change mode for other users$"},
    {A, "MODE #nochan", " 403 alice #nochan :No such channel$"},
    {A, "WHOIS", " 431 alice :No nickname given$"},
};

static int numerics(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", NULL);
  tc *c = ok ? tc_connect(f.srv.port, "unregistered", 0) : NULL;
  f.cl[f.n++] = c;
  ok = ok && c && tc_join(f.cl[A], "#c");
  for (size_t i = 0; ok && i < sizeof steps / sizeof steps[0]; i++) {
    const step *s = &steps[i];
    ok = tc_send(f.cl[s->who], "%s", s->send) &&
         tc_expect(f.cl[s->who], s->expect, 2000);
    if (!ok)
      fail("at step %zu: %s", i, s->send);
  }
  return fx_end(&f) && ok;
}

/* 417: a line over 512 bytes is refused, and the rest up to its newline
 * is dropped: the next line works. */
static int too_long(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", NULL);
  tc *a = f.cl[0], *b = f.cl[1];
  char line[700];
  memset(line, 'x', sizeof line);
  memcpy(line, "PRIVMSG bob :", 13);
  memcpy(line + sizeof line - 2, "\r\n", 2);
  ok = ok && tc_send_raw(a, line, sizeof line) &&
       tc_expect(a, " 417 alice :Input line was too long$", 2000) &&
       tc_expect_none(b, "xxx", 200);
  /* 510 bytes and CR LF: the longest line that is accepted. */
  memset(line, 'y', 510);
  memcpy(line, "PRIVMSG bob :", 13);
  memcpy(line + 510, "\r\n", 2);
  ok = ok && tc_send_raw(a, line, 512) && tc_expect(b, " PRIVMSG bob :yyy", 2000);
  return fx_end(&f) && ok;
}

/* 405: one channel over CHANLIMIT. */
static int too_many_channels(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", NULL);
  tc *a = f.cl[0];
  for (int i = 0; ok && i < 50; i++)
    ok = tc_send(a, "JOIN #ch%d", i);
  ok = ok && tc_expect(a, " 366 alice #ch49 ", 5000) && tc_send(a, "JOIN #ch50") &&
       tc_expect(a, " 405 alice #ch50 :You have joined too many channels$", 2000);
  return fx_end(&f) && ok;
}

const chat_case chat_irc_error_cases[] = {
    {"numerics", numerics},
    {"417-too-long", too_long},
    {"405-too-many-channels", too_many_channels},
    {NULL, NULL},
};
