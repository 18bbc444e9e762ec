/* chat_cluster directory, link: one network's answers from any node, and
 * the link's edges (see chat_cluster.c's top).
 *
 * directory: alice on node 0, bob on node 1, carol on node 2 (dave joins
 * on node 1): nick collisions across nodes (433, any case), NICK changes
 * freeing the old nick; NAMES, WHO, WHOIS, LIST, TOPIC from a node that
 * is not the user's; PRIVMSG to a remote nick (and 401); TOPIC, MODE +o
 * of a remote member (its op works on its own node), KICK of a remote
 * member, +i and INVITE across nodes, PART, QUIT: each line seen by the
 * members of every node, once.
 * link: a node started before Redis (437 until the link is up), SIGTERM of
 * a node (its users QUIT elsewhere, its nicks free), bad option values.
 */
#include "chat_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define T 5000

static int nick_collisions(void) {
  cluster k;
  int ok = cluster_up(&k, 3);
  tc *a = ok ? tc_irc(k.node[0].port, "alice") : NULL;
  tc *b = a ? tc_irc(k.node[1].port, "bob") : NULL;
  tc *x = b ? tc_connect(k.node[2].port, "x", 0) : NULL;
  ok = ok && x && tc_send(x, "NICK ALICE") &&
       tc_expect(x, " 433 \\* ALICE :Nickname is already in use", T) &&
       tc_send(x, "NICK Bob") && tc_expect(x, " 433 \\* Bob :", T) &&
       /* a registered user's change, across nodes */
       tc_send(b, "NICK alice") && tc_expect(b, " 433 bob alice :", T) &&
       tc_send(b, "NICK bobby") &&
       tc_expect(b, "^:bob!~bob@127.0.0.1 NICK :bobby$", T) &&
       /* the old nick is free, the new one taken, the case its own */
       tc_send(x, "NICK bobby") && tc_expect(x, " 433 \\* bobby ", T) &&
       tc_register(x, "bob") && tc_send(a, "NICK Alice") &&
       tc_expect(a, "^:alice![^ ]+ NICK :Alice$", T) &&
       tc_send(x, "WHOIS alice") && tc_expect(x, " 311 bob Alice ~alice ", T);
  /* two clients of one node claim one nick at the same moment: one gets
   * it, the other 433, and the nick is held (another node gets 433) */
  tc *t1 = ok ? tc_connect(k.node[0].port, "t1", 0) : NULL;
  tc *t2 = t1 ? tc_connect(k.node[0].port, "t2", 0) : NULL;
  ok = ok && t2 && tc_send(t1, "NICK twin\r\nUSER t 0 * :t") &&
       tc_send(t2, "NICK twin\r\nUSER t 0 * :t");
  if (ok) {
    char line[512];
    int won = 0, lost = 0;
    for (uint64_t end = now_ms() + T; now_ms() < end && won + lost < 2;) {
      for (int i = 0; i < 2; i++)
        if (tc_line(i ? t2 : t1, line, sizeof line, 20) == 1) {
          won += strstr(line, " 001 twin ") != NULL;
          lost += strstr(line, " 433 * twin ") != NULL;
        }
    }
    if (won != 1 || lost != 1)
      ok = fail("twin: %d welcomed, %d refused; expected 1 and 1", won, lost);
  }
  ok = ok && tc_send(b, "NICK twin") && tc_expect(b, " 433 bobby twin ", T);
  tc_free(t1);
  tc_free(t2);
  tc_free(a);
  tc_free(b);
  tc_free(x);
  return cluster_down(&k) && ok;
}

static int queries(void) {
  cluster k;
  int ok = cluster_up(&k, 3);
  tc *a = ok ? tc_irc(k.node[0].port, "alice") : NULL;
  tc *b = a ? tc_irc(k.node[1].port, "bob") : NULL;
  tc *c = b ? tc_irc(k.node[2].port, "carol") : NULL;
  ok = ok && c && tc_join(a, "#d") && tc_send(a, "AWAY :lunch") &&
       tc_expect(a, " 306 ", T) && tc_send(b, "JOIN #d") &&
       tc_expect(b, " 353 bob = #d :(@alice bob|bob @alice)$", T) &&
       tc_expect(b, " 366 bob #d ", T) &&
       tc_expect(a, "^:bob!~bob@127.0.0.1 JOIN #d$", T) &&
       /* carol, outside #d, on the third node */
       tc_send(c, "NAMES #d") &&
       tc_expect(c, " 353 carol = #d :(@alice bob|bob @alice)$", T) &&
       tc_expect(c, " 366 carol #d ", T) && tc_send(c, "WHOIS alice") &&
       tc_expect(c, " 311 carol alice ~alice 127.0.0.1 \\* :alice the tester",
                 T) &&
       tc_expect(c, " 319 carol alice :@#d$", T) &&
       tc_expect(c, " 312 carol alice [^ ]+ :.*node n0", T) &&
       tc_expect(c, " 301 carol alice :lunch$", T) &&
       tc_expect(c, " 318 carol alice ", T) && tc_send(c, "WHO #d") &&
       tc_expect(c, " 352 carol #d ~(alice|bob) 127.0.0.1 chat.iomux ", T) &&
       tc_expect(c, " 352 carol #d ~(alice|bob) 127.0.0.1 chat.iomux ", T) &&
       tc_expect(c, " 315 carol #d ", T) && tc_send(c, "WHO bob") &&
       tc_expect(c, " 352 carol \\* ~bob 127.0.0.1 chat.iomux bob H ", T) &&
       tc_expect(c, " 315 carol bob ", T) && tc_send(c, "WHO b*") &&
       tc_expect(c, " 352 carol \\* ~bob 127.0.0.1 chat.iomux bob H ", T) &&
       tc_send(a, "TOPIC #d :deep") &&
       tc_expect(b, "^:alice![^ ]+ TOPIC #d :deep$", T) &&
       tc_send(c, "LIST") && tc_expect(c, " 322 carol #d 2 :\\[\\+nt\\] deep$", T) &&
       tc_expect(c, " 323 carol ", T) && tc_send(c, "TOPIC #d") &&
       tc_expect(c, " 332 carol #d :deep$", T) &&
       tc_expect(c, " 333 carol #d alice!~alice@127.0.0.1 [0-9]+$", T) &&
       tc_send(c, "TOPIC #d :mine") && tc_expect(c, " 442 carol #d ", T) &&
       tc_send(c, "NAMES #nowhere") && tc_expect(c, " 366 carol #nowhere ", T) &&
       tc_send(c, "WHOIS nobody") && tc_expect(c, " 401 carol nobody ", T) &&
       tc_expect(c, " 318 carol nobody ", T) &&
       /* private messages across nodes; the away reply comes back */
       tc_send(c, "PRIVMSG alice :hi from n2") &&
       tc_expect(a, "^:carol!~carol@127.0.0.1 PRIVMSG alice :hi from n2$", T) &&
       tc_expect(c, " 301 carol alice :lunch$", T) &&
       tc_send(c, "PRIVMSG nobody,bob :two") &&
       tc_expect(c, " 401 carol nobody ", T) &&
       tc_expect(b, "^:carol![^ ]+ PRIVMSG bob :two$", T) &&
       tc_send(c, "NOTICE ALICE :psst") &&
       tc_expect(a, "^:carol![^ ]+ NOTICE alice :psst$", T) &&
       /* the replies kept their order: PING after all of it */
       tc_send(c, "PING :last") && tc_expect(c, " PONG [^ ]+ :last$", T);
  tc_free(a);
  tc_free(b);
  tc_free(c);
  return cluster_down(&k) && ok;
}

static int channel_events(void) {
  cluster k;
  int ok = cluster_up(&k, 3);
  tc *a = ok ? tc_irc(k.node[0].port, "alice") : NULL;
  tc *b = a ? tc_irc(k.node[1].port, "bob") : NULL;
  tc *c = b ? tc_irc(k.node[2].port, "carol") : NULL;
  tc *d = c ? tc_irc(k.node[1].port, "dave") : NULL;
  ok = ok && d && tc_join(a, "#e") && tc_join(b, "#e") && tc_join(c, "#e") &&
       tc_expect(a, " JOIN #e$", T) && tc_expect(a, "^:carol![^ ]+ JOIN #e$", T) &&
       /* +o of a member of another node: its node knows it is op now */
       tc_send(a, "MODE #e +o carol") &&
       tc_expect(b, "^:alice![^ ]+ MODE #e \\+o carol$", T) &&
       tc_expect(c, "^:alice![^ ]+ MODE #e \\+o carol$", T) &&
       tc_send(c, "TOPIC #e :carol's") &&
       tc_expect(a, "^:carol![^ ]+ TOPIC #e :carol's$", T) &&
       tc_send(a, "MODE #e +o nobody") && tc_expect(a, " 401 alice nobody ", T) &&
       tc_send(a, "MODE #e +o dave") &&
       tc_expect(a, " 441 alice dave #e :They aren't on that channel", T) &&
       /* KICK of a member of another node */
       tc_send(c, "KICK #e bob :out") &&
       tc_expect(b, "^:carol![^ ]+ KICK #e bob :out$", T) &&
       tc_expect(a, "^:carol![^ ]+ KICK #e bob :out$", T) &&
       tc_send(b, "PRIVMSG #e :still?") && tc_expect(b, " 404 bob #e ", T) &&
       tc_send(a, "NAMES #e") &&
       tc_expect(a, " 353 alice = #e :(@alice @carol|@carol @alice)$", T) &&
       /* +i and an invitation across nodes */
       tc_send(a, "MODE #e +i") && tc_expect(c, " MODE #e \\+i$", T) &&
       tc_send(d, "JOIN #e") && tc_expect(d, " 473 dave #e ", T) &&
       tc_send(c, "INVITE dave #e") && tc_expect(c, " 341 carol dave #e$", T) &&
       tc_expect(d, "^:carol![^ ]+ INVITE dave :#e$", T) &&
       tc_send(d, "JOIN #e") && tc_expect(d, " 366 dave #e ", T) &&
       tc_expect(a, "^:dave![^ ]+ JOIN #e$", T) &&
       /* PART, NICK, QUIT: once each, everywhere */
       tc_send(d, "PART #e :bye") &&
       tc_expect(c, "^:dave![^ ]+ PART #e :bye$", T) &&
       tc_send(c, "NICK caroline") &&
       tc_expect(a, "^:carol![^ ]+ NICK :caroline$", T) &&
       tc_send(c, "QUIT :done") &&
       tc_expect(a, "^:caroline![^ ]+ QUIT :Quit: done$", T) &&
       tc_expect_none(a, " (QUIT|NICK) ", 500);
  tc_free(a);
  tc_free(b);
  tc_free(c);
  tc_free(d);
  return cluster_down(&k) && ok;
}

const chat_case cluster_dir_cases[] = {
    {"nick-collisions", nick_collisions},
    {"queries-across-nodes", queries},
    {"channel-events-across-nodes", channel_events},
    {NULL, NULL},
};

/* ---- the link ---------------------------------------------------------------- */

/* A node whose Redis is not there yet: it listens, answers NICK with 437,
 * and joins the network once Redis comes. */
static int before_redis(void) {
  cluster k;
  memset(&k, 0, sizeof k);
  for (int i = 0; i < NODES_MAX; i++)
    k.node[i].pid = -1;
  int ok = redis_up(&k);
  redis_kill(&k); /* its port, nobody on it */
  ok = ok && node_up(&k, 0, NULL);
  tc *a = ok ? tc_connect(k.node[0].port, "alice", 0) : NULL;
  ok = ok && a && tc_send(a, "NICK alice") &&
       tc_expect(a, " 437 \\* alice :Nick/channel is temporarily unavailable",
                 T) &&
       redis_restart(&k);
  ok = ok && tc_send(a, "USER a 0 * :a");
  int in = 0;
  uint64_t t0 = now_ms();
  while (ok && !in && now_ms() - t0 < 10000) {
    char line[512];
    tc_send(a, "NICK alice"); /* 437 until the link is up, then 001 */
    for (uint64_t end = now_ms() + 300; !in && now_ms() < end;)
      if (tc_line(a, line, sizeof line, 50) == 1)
        in = strstr(line, " 001 alice ") != NULL;
  }
  printf("  registered %llu ms after Redis came\n",
         (unsigned long long)(now_ms() - t0));
  ok = ok && (in || fail("alice could not register within 10 s")) &&
       node_up(&k, 1, NULL);
  tc *b = ok ? tc_connect(k.node[1].port, "bob", 0) : NULL;
  ok = ok && b && tc_send(b, "NICK alice") && tc_expect(b, " 433 ", T);
  tc_free(a);
  tc_free(b);
  return cluster_down(&k) && ok;
}

/* SIGTERM of a node: its users QUIT on the others ("Server shutting
 * down"), it exits 0, and their nicks are free. */
static int node_sigterm(void) {
  cluster k;
  int ok = cluster_up(&k, 2);
  tc *a = ok ? tc_irc(k.node[0].port, "alice") : NULL;
  tc *b = a ? tc_irc(k.node[1].port, "bob") : NULL;
  ok = ok && b && tc_join(a, "#s") && tc_join(b, "#s") &&
       srv_stop(&k.node[1], SIGTERM, 5000) &&
       tc_expect(a, "^:bob!~bob@127.0.0.1 QUIT :Server shutting down$", T);
  tc *c = ok ? tc_irc(k.node[0].port, "bob") : NULL;
  ok = ok && c && tc_send(c, "NAMES #s") &&
       tc_expect(c, " 353 bob = #s :@alice$", T);
  tc_free(a);
  tc_free(b);
  tc_free(c);
  return cluster_down(&k) && ok;
}

/* The exit status of iomux-chatd with these options, and its stderr's
 * first line. */
static int run_status(const char *const *args, char *err, size_t size) {
  int pipefd[2];
  if (pipe(pipefd) < 0)
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], STDERR_FILENO);
    int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    const char *argv[16] = {chat_server_path};
    int n = 1;
    for (; *args && n < 15; args++)
      argv[n++] = *args;
    argv[n] = NULL;
    execv(chat_server_path, (char *const *)argv);
    _exit(127);
  }
  close(pipefd[1]);
  ssize_t n = read(pipefd[0], err, size - 1);
  err[n > 0 ? n : 0] = '\0';
  err[strcspn(err, "\n")] = '\0';
  close(pipefd[0]);
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int bad_options(void) {
  static const char *const bad_url[] = {"--port", "0", "--cluster",
                                        "http://127.0.0.1:1", NULL};
  static const char *const bad_id[] = {"--port", "0", "--cluster",
                                       "redis://127.0.0.1:1", "--node-id",
                                       "a b", NULL};
  static const char *const plain[] = {"--port", "0", "--proto", "plain",
                                      "--cluster", "redis://127.0.0.1:1",
                                      NULL};
  /* Numbers in the URL are whole and in range, or the URL is refused. */
  static const char *const bad_numbers[] = {
      "redis://127.0.0.1:+80", "redis://127.0.0.1:6379x", "redis://h:0",
      "redis://127.0.0.1:1/-1", "redis://127.0.0.1:1/2x",
      "unix:/tmp/r.sock?db=", "unix:/tmp/r.sock?db=-1", NULL};
  char err[512];
  int ok = 1, rc;
  if ((rc = run_status(bad_url, err, sizeof err)) == 0 || !strstr(err, "http"))
    ok = fail("--cluster http://...: exit %d, \"%s\"", rc, err);
  for (int i = 0; bad_numbers[i]; i++) {
    const char *const args[] = {"--port", "0", "--cluster", bad_numbers[i],
                                NULL};
    if ((rc = run_status(args, err, sizeof err)) == 0 ||
        !strstr(err, bad_numbers[i]))
      ok = fail("--cluster %s: exit %d, \"%s\"", bad_numbers[i], rc, err);
  }
  if ((rc = run_status(bad_id, err, sizeof err)) == 0 || !strstr(err, "a b"))
    ok = fail("--node-id 'a b': exit %d, \"%s\"", rc, err);
  if ((rc = run_status(plain, err, sizeof err)) != 2)
    ok = fail("--proto plain --cluster: exit %d, \"%s\"", rc, err);
  return ok;
}

/* A node killed and started again at once under its id: it waits for its
 * predecessor's heartbeat to expire, the predecessor's users QUIT
 * elsewhere (once: "node restarted" or "node lost"), and it serves again.
 * A second live process given an id in use waits, and harms nobody. */
static int node_id_reused(void) {
  cluster k;
  int ok = cluster_up(&k, 2);
  tc *a = ok ? tc_irc(k.node[0].port, "alice") : NULL;
  tc *b = a ? tc_irc(k.node[1].port, "bob") : NULL;
  ok = ok && b && tc_join(a, "#r") && tc_join(b, "#r") &&
       tc_expect(a, "^:bob![^ ]+ JOIN #r$", T);
  srv_kill(&k.node[1]);
  uint64_t t0 = now_ms();
  ok = ok && node_up(&k, 1, NULL) &&
       tc_expect(a, "^:bob!~bob@127.0.0.1 QUIT :node (restarted|lost) \\(n1\\)$",
                 6000);
  printf("  bob's QUIT %llu ms after n1 was killed and started again\n",
         (unsigned long long)(now_ms() - t0));
  ok = ok && tc_expect_none(a, " QUIT ", 1000);
  tc *b2 = ok ? tc_irc(k.node[1].port, "bob") : NULL;
  ok = ok && b2 && tc_join(b2, "#r") &&
       tc_expect(a, "^:bob![^ ]+ JOIN #r$", T);
  /* a third process claiming to be n0, while n0 lives */
  chat_srv dup;
  static const char *const dup_args[] = {"--node-id", "n0", NULL};
  char url[64];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", k.port);
  const char *args[] = {"--flood", "off", "--cluster", url, dup_args[0],
                        dup_args[1], NULL};
  ok = ok && srv_start(&dup, 0, args);
  tc *d = ok ? tc_connect(dup.port, "d", 0) : NULL;
  ok = ok && d && tc_send(d, "NICK zed") && tc_expect(d, " 437 \\* zed ", T) &&
       tc_send(b2, "NAMES #r") &&
       tc_expect(b2, " 353 bob = #r :(@alice bob|bob @alice)$", T);
  if (dup.pid > 0)
    srv_kill(&dup);
  tc_free(d);
  tc_free(a);
  tc_free(b);
  tc_free(b2);
  return cluster_down(&k) && ok;
}

const chat_case cluster_link_cases[] = {
    {"node-started-before-redis", before_redis},
    {"node-id-reused", node_id_reused},
    {"node-sigterm", node_sigterm},
    {"bad-options", bad_options},
    {NULL, NULL},
};
