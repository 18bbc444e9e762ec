/* chat_check irc.register, irc.channels, irc.messages, irc.queries: the IRC
 * commands doing what clients rely on. Error numerics are chat_irc_errors.c;
 * timeouts and flood control chat_irc_limits.c. */
#include "chat_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define T 2000 /* ms for anything that should come at once */

/* ---- irc.register --------------------------------------------------------------- */

static int welcome(void) {
  chat_fx f;
  if (!fx_start(&f, chat_irc_args, NULL)) {
    fx_end(&f);
    return 0;
  }
  tc *c = tc_connect(f.srv.port, "alice", 0);
  f.cl[f.n++] = c;
  int ok = c && tc_send(c, "NICK alice") && tc_send(c, "USER al 0 * :Alice A");
  ok = ok && tc_expect(c, "^:chat.iomux 001 alice :.* alice!~al@127.0.0.1$", T);
  ok = ok && tc_expect(c, "^:chat.iomux 002 alice :Your host is chat.iomux", T);
  ok = ok && tc_expect(c, "^:chat.iomux 003 alice :", T);
  ok = ok && tc_expect(c, "^:chat.iomux 004 alice chat.iomux [^ ]+ i iklmnot klo", T);
  char line[600];
  ok = ok && tc_expect_get(c, "^:chat.iomux 005 alice ", T, line, sizeof line);
  const char *want[] = {" CASEMAPPING=rfc1459 ", " CHANTYPES=# ",
                        " PREFIX=(o)@", " CHANMODES=,k,l,imnt ", " NICKLEN=30 ",
                        " CHANNELLEN=50 "};
  for (size_t i = 0; ok && i < sizeof want / sizeof want[0]; i++)
    if (!strstr(line, want[i]))
      ok = fail("005 lacks %s: %s", want[i], line);
  ok = ok && tc_expect(c, "^:chat.iomux 005 alice .*TOPICLEN=", T);
  ok = ok && tc_expect(c, " 251 alice :There are 1 users", T) &&
       tc_expect(c, " 252 alice ", T) && tc_expect(c, " 253 alice ", T) &&
       tc_expect(c, " 254 alice ", T) && tc_expect(c, " 255 alice ", T) &&
       tc_expect(c, " 422 alice :MOTD File is missing", T);
  return fx_end(&f) && ok;
}

static int motd(void) {
  char path[] = "/tmp/chat_motd_XXXXXX";
  int fd = mkstemp(path);
  int ok = fd >= 0 && write(fd, "first line\nsecond line\n", 23) == 23;
  close(fd);
  const char *const args[] = {"--motd", path, NULL};
  chat_fx f;
  ok = ok && fx_start(&f, args, NULL);
  tc *c = ok ? tc_connect(f.srv.port, "m", 0) : NULL;
  f.cl[f.n++] = c;
  ok = ok && c && tc_send(c, "USER m 0 * :m") && tc_send(c, "NICK m") &&
       tc_expect(c, " 375 m :- chat.iomux Message of the day", T) &&
       tc_expect(c, " 372 m :- first line$", T) &&
       tc_expect(c, " 372 m :- second line$", T) && tc_expect(c, " 376 m ", T);
  ok &= fx_end(&f);
  unlink(path);
  return ok;
}

/* CAP LS holds registration until CAP END; REQ is refused (no caps). */
static int cap(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, NULL);
  tc *c = ok ? tc_connect(f.srv.port, "capper", 0) : NULL;
  f.cl[f.n++] = c;
  ok = ok && c && tc_send(c, "CAP LS 302") &&
       tc_expect(c, "^:chat.iomux CAP \\* LS :$", T) &&
       tc_send(c, "NICK capper") && tc_send(c, "USER c 0 * :c") &&
       tc_expect_none(c, " 001 ", 300) &&
       tc_send(c, "CAP REQ :multi-prefix") &&
       tc_expect(c, "^:chat.iomux CAP capper NAK :multi-prefix$", T) &&
       tc_send(c, "CAP END") && tc_expect(c, " 001 capper ", T) &&
       tc_send(c, "CAP LIST") && tc_expect(c, " CAP capper LIST :$", T);
  return fx_end(&f) && ok;
}

/* PASS is optional and accepted before registration; USER may come first. */
static int pass_and_order(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, NULL);
  tc *c = ok ? tc_connect(f.srv.port, "p", 0) : NULL;
  f.cl[f.n++] = c;
  ok = ok && c && tc_send(c, "PASS whatever") &&
       tc_send(c, "USER p 0 * :p") && tc_expect_none(c, " 001 ", 200) &&
       tc_send(c, "NICK p") && tc_expect(c, " 001 p ", T);
  return fx_end(&f) && ok;
}

/* Nicks collide without regard to case, rfc1459 style: [ is { upper. */
static int nick_case(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "al[x]", NULL);
  tc *c = ok ? tc_connect(f.srv.port, "other", 0) : NULL;
  f.cl[f.n++] = c;
  ok = ok && c && tc_send(c, "NICK AL{X}") &&
       tc_expect(c, "^:chat.iomux 433 \\* AL\\{X\\} :Nickname is already in use", T) &&
       tc_send(c, "NICK AL{Y}") && tc_send(c, "USER o 0 * :o") &&
       tc_expect(c, " 001 AL\\{Y\\} ", T);
  return fx_end(&f) && ok;
}

/* A nick change is echoed to the client and frees the old nick. */
static int nick_change(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", NULL);
  tc *a = f.cl[0];
  ok = ok && tc_send(a, "NICK Alice2") &&
       tc_expect(a, "^:alice!~alice@127.0.0.1 NICK :Alice2$", T) &&
       tc_send(a, "NICK alice2") && /* case only: its own nick */
       tc_expect(a, "^:Alice2!~alice@127.0.0.1 NICK :alice2$", T);
  tc *b = ok ? tc_connect(f.srv.port, "b", 0) : NULL;
  f.cl[f.n++] = b;
  ok = ok && b && tc_register(b, "alice");
  return fx_end(&f) && ok;
}

static int ping_pong(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", NULL);
  tc *a = f.cl[0];
  ok = ok && tc_send(a, "PING :token 1") &&
       tc_expect(a, "^:chat.iomux PONG chat.iomux :token 1$", T) &&
       tc_send(a, "PING bare") &&
       tc_expect(a, "^:chat.iomux PONG chat.iomux :bare$", T) &&
       tc_send(a, "PONG :chat.iomux") && tc_expect_none(a, NULL, 200);
  return fx_end(&f) && ok;
}

const chat_case chat_irc_reg_cases[] = {
    {"welcome", welcome},           {"motd", motd},
    {"cap", cap},                   {"pass-and-order", pass_and_order},
    {"nick-case", nick_case},       {"nick-change", nick_change},
    {"ping-pong", ping_pong},       {NULL, NULL},
};

/* ---- irc.channels ------------------------------------------------------------------ */

static int join_part(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", NULL);
  tc *a = f.cl[0], *b = f.cl[1];
  ok = ok && tc_send(a, "JOIN #c") &&
       tc_expect(a, "^:alice!~alice@127.0.0.1 JOIN #c$", T) &&
       tc_expect(a, "^:chat.iomux 353 alice = #c :@alice$", T) &&
       tc_expect(a, "^:chat.iomux 366 alice #c :", T) &&
       tc_send(b, "JOIN #C,#d") && /* any case; two at once */
       tc_expect(b, "^:bob!~bob@127.0.0.1 JOIN #c$", T) &&
       tc_expect(b, " 353 bob = #c :(@alice bob|bob @alice)$", T) &&
       tc_expect(b, " 366 bob #c ", T) &&
       tc_expect(b, "^:bob!~bob@127.0.0.1 JOIN #d$", T) &&
       tc_expect(b, " 366 bob #d ", T) &&
       tc_expect(a, "^:bob!~bob@127.0.0.1 JOIN #c$", T) &&
       tc_send(b, "PART #c :see you") &&
       tc_expect(a, "^:bob!~bob@127.0.0.1 PART #c :see you$", T) &&
       tc_expect(b, "^:bob!~bob@127.0.0.1 PART #c :see you$", T) &&
       tc_send(b, "JOIN #c") && tc_expect(a, " JOIN #c$", T) &&
       tc_send(b, "JOIN 0") && tc_expect(b, " PART #c$", T) &&
       tc_expect(b, " PART #d$", T) && tc_expect(a, "^:bob![^ ]+ PART #c$", T);
  return fx_end(&f) && ok;
}

static int topic(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", NULL);
  tc *a = f.cl[0], *b = f.cl[1];
  ok = ok && tc_join(a, "#t") && tc_send(a, "TOPIC #t") &&
       tc_expect(a, " 331 alice #t :No topic is set", T) &&
       tc_send(a, "TOPIC #t :the topic") &&
       tc_expect(a, "^:alice!~alice@127.0.0.1 TOPIC #t :the topic$", T) &&
       tc_send(b, "JOIN #t") && tc_expect(b, " 332 bob #t :the topic$", T) &&
       tc_expect(b, " 333 bob #t alice!~alice@127.0.0.1 [0-9]+$", T) &&
       tc_expect(b, " 366 bob #t ", T) && tc_send(b, "TOPIC #t") &&
       tc_expect(b, " 332 bob #t :the topic$", T) &&
       tc_send(b, "TOPIC #t :mine") && /* +t: not an operator */
       tc_expect(b, " 482 bob #t :", T) && tc_send(a, "TOPIC #t :") &&
       tc_expect(b, "^:alice![^ ]+ TOPIC #t :$", T) && tc_send(b, "TOPIC #t") &&
       tc_expect(b, " 331 bob #t ", T);
  return fx_end(&f) && ok;
}

static int names_and_list(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", NULL);
  tc *a = f.cl[0], *b = f.cl[1];
  ok = ok && tc_join(a, "#n") && tc_join(b, "#n") &&
       tc_send(a, "TOPIC #n :about n") && tc_send(b, "NAMES #n") &&
       tc_expect(b, " 353 bob = #n :(@alice bob|bob @alice)$", T) &&
       tc_expect(b, " 366 bob #n :End of /NAMES list", T) &&
       tc_send(b, "NAMES #none") && tc_expect(b, " 366 bob #none :", T) &&
       tc_send(b, "LIST") && tc_expect(b, " 321 bob Channel :", T) &&
       tc_expect(b, " 322 bob #n 2 :\\[\\+nt\\] about n$", T) &&
       tc_expect(b, " 323 bob :End of /LIST", T) && tc_send(b, "LIST #n") &&
       tc_expect(b, " 322 bob #n 2 ", T) && tc_expect(b, " 323 bob ", T);
  return fx_end(&f) && ok;
}

static int kick(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", NULL);
  tc *a = f.cl[0], *b = f.cl[1];
  ok = ok && tc_join(a, "#k") && tc_join(b, "#k") &&
       tc_send(a, "KICK #k bob :behave") &&
       tc_expect(b, "^:alice!~alice@127.0.0.1 KICK #k bob :behave$", T) &&
       tc_expect(a, "^:alice![^ ]+ KICK #k bob :behave$", T) &&
       tc_send(b, "PRIVMSG #k :back?") && /* +n: outside now */
       tc_expect(b, " 404 bob #k :", T) && tc_expect_none(a, "back\\?", 200) &&
       tc_send(a, "KICK #k alice") && /* the last member: #k is gone */
       tc_expect(a, " KICK #k alice :alice$", T) && tc_send(a, "NAMES #k") &&
       tc_expect(a, " 366 alice #k ", T) && tc_expect_none(a, " 353 ", 100);
  return fx_end(&f) && ok;
}

static int invite(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", NULL);
  tc *a = f.cl[0], *b = f.cl[1];
  ok = ok && tc_join(a, "#i") && tc_send(a, "MODE #i +i") &&
       tc_expect(a, "^:alice![^ ]+ MODE #i \\+i$", T) && tc_send(b, "JOIN #i") &&
       tc_expect(b, " 473 bob #i :Cannot join channel \\(\\+i\\)", T) &&
       tc_send(a, "INVITE bob #i") && tc_expect(a, " 341 alice bob #i$", T) &&
       tc_expect(b, "^:alice!~alice@127.0.0.1 INVITE bob :#i$", T) &&
       tc_send(b, "JOIN #i") && tc_expect(b, " 366 bob #i ", T) &&
       tc_send(b, "PART #i") && tc_send(b, "JOIN #i") && /* used up */
       tc_expect(b, " 473 bob #i ", T);
  return fx_end(&f) && ok;
}

static int channel_modes(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", "carol", NULL);
  tc *a = f.cl[0], *b = f.cl[1], *c = f.cl[2];
  ok = ok && tc_join(a, "#m") && tc_send(a, "MODE #m") &&
       tc_expect(a, " 324 alice #m \\+nt$", T) &&
       tc_expect(a, " 329 alice #m [0-9]+$", T) &&
       tc_send(a, "MODE #m +kl sesame 2") &&
       tc_expect(a, "^:alice![^ ]+ MODE #m \\+kl sesame 2$", T) &&
       tc_send(b, "JOIN #m") && tc_expect(b, " 475 bob #m ", T) &&
       tc_send(b, "JOIN #m sesame") && tc_expect(b, " 366 bob #m ", T) &&
       tc_send(c, "JOIN #m sesame") && tc_expect(c, " 471 carol #m ", T) &&
       tc_send(a, "MODE #m -l+o bob") &&
       tc_expect(b, "^:alice![^ ]+ MODE #m -l\\+o bob$", T) &&
       tc_send(b, "TOPIC #m :bob can") && tc_expect(a, " TOPIC #m :bob can$", T) &&
       tc_send(b, "MODE #m -k+m *") &&
       tc_expect(a, "^:bob![^ ]+ MODE #m -k\\+m sesame$", T) &&
       tc_send(c, "JOIN #m") && tc_expect(c, " 366 carol #m ", T) &&
       tc_send(c, "PRIVMSG #m :muted?") && tc_expect(c, " 404 carol #m ", T) &&
       tc_send(a, "MODE #m -mn") && tc_expect(c, " MODE #m -mn$", T) &&
       tc_send(c, "PART #m") && tc_send(c, "PRIVMSG #m :from outside") &&
       tc_expect(a, "^:carol![^ ]+ PRIVMSG #m :from outside$", T) &&
       tc_send(c, "MODE #m +t") && tc_expect(c, " 482 carol #m ", T);
  return fx_end(&f) && ok;
}

static int user_modes(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", NULL);
  tc *a = f.cl[0];
  ok = ok && tc_send(a, "MODE alice +i") &&
       tc_expect(a, "^:alice MODE alice :\\+i$", T) && tc_send(a, "MODE alice") &&
       tc_expect(a, " 221 alice \\+i$", T) && tc_send(a, "MODE alice -i") &&
       tc_expect(a, "^:alice MODE alice :-i$", T) && tc_send(a, "MODE bob +i") &&
       tc_expect(a, " 502 alice :", T) && tc_send(a, "MODE alice +z") &&
       tc_expect(a, " 501 alice :", T);
  return fx_end(&f) && ok;
}

const chat_case chat_irc_chan_cases[] = {
    {"join-part", join_part},         {"topic", topic},
    {"names-and-list", names_and_list}, {"kick", kick},
    {"invite", invite},               {"channel-modes", channel_modes},
    {"user-modes", user_modes},       {NULL, NULL},
};

/* ---- irc.messages ---------------------------------------------------------------- */

static int privmsg(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", "carol", NULL);
  tc *a = f.cl[0], *b = f.cl[1], *c = f.cl[2];
  ok = ok && tc_join(a, "#p") && tc_join(b, "#p") &&
       tc_send(a, "PRIVMSG #p :hello channel") &&
       tc_expect(b, "^:alice!~alice@127.0.0.1 PRIVMSG #p :hello channel$", T) &&
       tc_expect_none(a, "hello channel", 200) &&
       tc_send(a, "PRIVMSG carol :psst") &&
       tc_expect(c, "^:alice!~alice@127.0.0.1 PRIVMSG carol :psst$", T) &&
       tc_send(c, "PRIVMSG ALICE,bob,#p :to all three") &&
       tc_expect(a, "^:carol![^ ]+ PRIVMSG alice :to all three$", T) &&
       tc_expect(b, "^:carol![^ ]+ PRIVMSG bob :to all three$", T) &&
       tc_send(a, "PRIVMSG #p no colon") && /* one word: the text */
       tc_expect(b, " PRIVMSG #p :no$", T) &&
       tc_send(a, "NOTICE #p :a notice") &&
       tc_expect(b, "^:alice![^ ]+ NOTICE #p :a notice$", T) &&
       tc_send(a, "NOTICE nobody :x") && tc_send(a, "NOTICE #nochan :x") &&
       tc_send(a, "NOTICE") && tc_expect_none(a, NULL, 200);
  return fx_end(&f) && ok;
}

static int away(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", NULL);
  tc *a = f.cl[0], *b = f.cl[1];
  ok = ok && tc_send(b, "AWAY :at lunch") &&
       tc_expect(b, " 306 bob :You have been marked as being away", T) &&
       tc_send(a, "PRIVMSG bob :there?") &&
       tc_expect(a, " 301 alice bob :at lunch$", T) &&
       tc_expect(b, " PRIVMSG bob :there\\?$", T) &&
       tc_send(a, "NOTICE bob :no auto reply") &&
       tc_expect_none(a, " 301 ", 200) && tc_send(a, "WHO bob") &&
       tc_expect(a, " 352 alice \\* ~bob 127.0.0.1 chat.iomux bob G :0 ", T) &&
       tc_send(b, "AWAY") && tc_expect(b, " 305 bob :", T) &&
       tc_send(a, "PRIVMSG bob :back?") && tc_expect_none(a, " 301 ", 200);
  return fx_end(&f) && ok;
}

/* Three share two channels: QUIT and NICK reach each of the others once. */
static int relayed_once(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", "carol", "dave", NULL);
  tc *a = f.cl[0], *b = f.cl[1], *c = f.cl[2], *d = f.cl[3];
  for (int i = 0; ok && i < 3; i++)
    ok = tc_join(f.cl[i], "#one") && tc_join(f.cl[i], "#two");
  ok = ok && tc_send(c, "NICK carla") &&
       tc_expect(c, "^:carol![^ ]+ NICK :carla$", T) &&
       tc_expect(a, "^:carol!~carol@127.0.0.1 NICK :carla$", T) &&
       tc_expect(b, "^:carol![^ ]+ NICK :carla$", T) &&
       tc_expect_none(a, " NICK ", 200) && tc_expect_none(b, " NICK ", 0) &&
       tc_expect_none(c, " NICK ", 0) && tc_expect_none(d, NULL, 0) &&
       tc_send(c, "QUIT :bye now") &&
       tc_expect(c, "^ERROR :Quit: bye now$", T) && tc_expect_closed(c, T) &&
       tc_expect(a, "^:carla!~carol@127.0.0.1 QUIT :Quit: bye now$", T) &&
       tc_expect(b, "^:carla![^ ]+ QUIT :Quit: bye now$", T) &&
       tc_expect_none(a, " QUIT ", 200) && tc_expect_none(b, " QUIT ", 0) &&
       tc_expect_none(d, NULL, 0);
  /* A client that just closes is a QUIT too, once. */
  if (ok)
    shutdown(b->fd, SHUT_WR);
  ok = ok && tc_expect(a, "^:bob![^ ]+ QUIT :", T) &&
       tc_expect_none(a, " QUIT ", 200);
  return fx_end(&f) && ok;
}

const chat_case chat_irc_msg_cases[] = {
    {"privmsg-notice", privmsg},
    {"away", away},
    {"quit-nick-relayed-once", relayed_once},
    {NULL, NULL},
};

/* ---- irc.queries ------------------------------------------------------------------- */

static int who(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", "hidden", NULL);
  tc *a = f.cl[0], *b = f.cl[1], *h = f.cl[2];
  ok = ok && tc_join(a, "#w") && tc_join(b, "#w") && tc_send(b, "WHO #w") &&
       tc_expect(b, " 352 bob #w ~(alice|bob) 127.0.0.1 chat.iomux (alice H@|bob H) :0 ", T) &&
       tc_expect(b, " 352 bob #w ~(alice|bob) ", T) &&
       tc_expect(b, " 315 bob #w :End of /WHO list", T) &&
       tc_send(h, "MODE hidden +i") && tc_expect(h, " MODE hidden :\\+i", T) &&
       tc_send(b, "WHO h*") && tc_expect(b, " 315 bob h\\* ", T) &&
       tc_send(b, "WHO a*") && tc_expect(b, " 352 bob \\* ~alice ", T) &&
       tc_expect(b, " 315 bob a\\* ", T) && tc_join(h, "#w") &&
       tc_send(b, "WHO h*") && tc_expect(b, " 352 bob \\* ~hidden ", T);
  return fx_end(&f) && ok;
}

static int whois(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", NULL);
  tc *a = f.cl[0], *b = f.cl[1];
  ok = ok && tc_join(b, "#x") && tc_join(b, "#y") && tc_send(a, "WHOIS BOB") &&
       tc_expect(a, " 311 alice bob ~bob 127.0.0.1 \\* :bob the tester$", T) &&
       tc_expect(a, " 319 alice bob :(@#x @#y|@#y @#x)$", T) &&
       tc_expect(a, " 312 alice bob chat.iomux :", T) &&
       tc_expect(a, " 317 alice bob [0-9]+ [0-9]+ :seconds idle", T) &&
       tc_expect(a, " 318 alice bob :End of /WHOIS list", T) &&
       tc_send(a, "WHOIS chat.iomux bob") && tc_expect(a, " 311 alice bob ", T) &&
       tc_send(a, "WHOIS nobody") && tc_expect(a, " 401 alice nobody :", T) &&
       tc_expect(a, " 318 alice nobody :", T);
  return fx_end(&f) && ok;
}

static int small_queries(void) {
  chat_fx f;
  int ok = fx_start(&f, chat_irc_args, "alice", "bob", NULL);
  tc *a = f.cl[0], *b = f.cl[1];
  ok = ok && tc_send(b, "AWAY :out") && tc_send(a, "USERHOST bob alice x") &&
       tc_expect(a, " 302 alice :bob=-~bob@127.0.0.1 alice=\\+~alice@127.0.0.1$", T) &&
       tc_send(a, "ISON bob nobody ALICE") &&
       tc_expect(a, " 303 alice :bob alice$", T) && tc_send(a, "ISON :bob x") &&
       tc_expect(a, " 303 alice :bob$", T) && tc_join(a, "#l") &&
       tc_send(a, "LUSERS") &&
       tc_expect(a, " 251 alice :There are 2 users and 0 invisible", T) &&
       tc_expect(a, " 254 alice 1 :channels formed", T) &&
       tc_expect(a, " 255 alice :I have 2 clients", T) && tc_send(a, "MOTD") &&
       tc_expect(a, " 422 alice ", T) && tc_send(a, "VERSION") &&
       tc_expect(a, " 351 alice iomux-chatd", T);
  return fx_end(&f) && ok;
}

const chat_case chat_irc_query_cases[] = {
    {"who", who},
    {"whois", whois},
    {"userhost-ison-lusers", small_queries},
    {NULL, NULL},
};
