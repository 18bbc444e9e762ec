/* chat_cluster: iomux-chatd --cluster, end to end (see chat_cluster.h).
 *
 * Usage: chat_cluster --server PATH [--redis PATH] [--sanitized] GROUP
 * Groups (one CTest test each):
 *   load       three nodes, 300 clients in 10 channels: every message to
 *              every member once, in order per sender
 *   directory  nick collisions (433), NAMES WHO WHOIS LIST TOPIC across
 *              nodes, messages to remote nicks, TOPIC MODE KICK INVITE
 *              PART QUIT NICK seen everywhere
 *   node-death kill -9 of a node: its users QUIT everywhere, once each,
 *              within the stated time; their nicks are free again
 *   redis-restart  Redis killed and restarted during traffic: the users
 *              are told, local delivery goes on, the documented loss and
 *              nothing else, the network whole again
 *   redis-freeze   Redis stopped (SIGSTOP) and continued: the timeout,
 *              the recovery, nobody taken for dead
 *   link       a node started before Redis, a node's SIGTERM, bad URLs
 * Exit 77 (skipped) without redis-server.
 */
#define _GNU_SOURCE
#include "chat_cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WATCHDOG_S 58

const char *redis_server_path;

/* What the watchdog kills: the nodes (each in its own process group) and
 * redis (it would die with us anyway: PR_SET_PDEATHSIG). */
static volatile pid_t kids[32];

static void remember(pid_t pid) {
  for (int i = 0; i < 32; i++)
    if (kids[i] <= 0 || kill(kids[i], 0) < 0) {
      kids[i] = pid;
      return;
    }
}
long chat_rss_limit_kb = 32 * 1024;
int chat_sanitized;

/* ---- redis ------------------------------------------------------------------- */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
      getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  return ntohs(sin.sin_port);
}

/* PING answered within ms? (a raw socket: RESP inline commands) */
static int redis_answers(int port, int ms) {
  uint64_t end = now_ms() + (uint64_t)ms;
  while (now_ms() < end) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[64] = "";
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
             write(fd, "PING\r\n", 6) == 6 && read(fd, buf, sizeof buf - 1) > 0 &&
             strncmp(buf, "+PONG", 5) == 0;
    if (fd >= 0)
      close(fd);
    if (ok)
      return 1;
    sleep_ms(20);
  }
  return 0;
}

static int redis_spawn(cluster *k) {
  char port[16];
  snprintf(port, sizeof port, "%d", k->port);
  pid_t pid = fork();
  if (pid < 0)
    return fail("fork: %s", strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    execl(redis_server_path, redis_server_path, "--port", port, "--bind",
          "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", k->dir,
          "--daemonize", "no", (char *)NULL);
    _exit(127);
  }
  k->redis = pid;
  remember(pid);
  if (!redis_answers(k->port, 5000))
    return fail("redis-server on port %d did not answer within 5 s",
                k->port);
  return 1;
}

int redis_up(cluster *k) {
  snprintf(k->dir, sizeof k->dir, "/tmp/iomux-cluster-XXXXXX");
  if (!mkdtemp(k->dir))
    return fail("mkdtemp: %s", strerror(errno));
  k->port = free_port();
  return k->port > 0 ? redis_spawn(k) : fail("no free port");
}

int redis_restart(cluster *k) { return redis_spawn(k); }

void redis_kill(cluster *k) {
  if (k->redis > 0) {
    kill(k->redis, SIGCONT);
    kill(k->redis, SIGKILL);
    waitpid(k->redis, NULL, 0);
    k->redis = 0;
  }
}

void redis_freeze(cluster *k, int frozen) {
  if (k->redis > 0)
    kill(k->redis, frozen ? SIGSTOP : SIGCONT);
}

/* ---- nodes ------------------------------------------------------------------------ */

int node_up(cluster *k, int i, const char *const *extra) {
  char url[64], id[16];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", k->port);
  snprintf(id, sizeof id, "n%d", i);
  const char *args[32] = {"--flood", "off", "--cluster", url, "--node-id", id};
  int n = 6;
  for (; extra && *extra && n < 31; extra++)
    args[n++] = *extra;
  args[n] = NULL;
  if (i >= k->nodes)
    k->nodes = i + 1;
  int ok = srv_start(&k->node[i], 0, args);
  if (ok)
    remember(k->node[i].pid);
  return ok;
}

int cluster_up(cluster *k, int n) {
  memset(k, 0, sizeof *k);
  for (int i = 0; i < NODES_MAX; i++)
    k->node[i].pid = -1;
  if (!redis_up(k))
    return 0;
  for (int i = 0; i < n; i++)
    if (!node_up(k, i, NULL))
      return 0;
  return 1;
}

int cluster_down(cluster *k) {
  int ok = 1;
  for (int i = 0; i < k->nodes; i++)
    if (k->node[i].pid > 0 && k->node[i].status < 0)
      kill(k->node[i].pid, SIGTERM);
  for (int i = 0; i < k->nodes; i++) {
    if (k->node[i].pid <= 0)
      continue;
    if (k->node[i].status < 0)
      ok &= srv_wait_exit(&k->node[i], 8000);
    srv_kill(&k->node[i]);
  }
  redis_kill(k);
  if (k->dir[0]) {
    char dump[128];
    snprintf(dump, sizeof dump, "%s/dump.rdb", k->dir);
    unlink(dump);
    rmdir(k->dir);
    k->dir[0] = '\0';
  }
  return ok;
}

/* ---- the crowd ------------------------------------------------------------------------ */

int crowd_expect_n;

int crowd_new(crowd *cr, int n) {
  memset(cr, 0, sizeof *cr);
  cr->p = calloc((size_t)n, sizeof *cr->p);
  cr->pfd = calloc((size_t)n, sizeof *cr->pfd);
  cr->n = n;
  for (int i = 0; cr->p && i < n; i++) {
    cr->p[i].id = i;
    cr->p[i].seen = calloc((size_t)n, sizeof(uint64_t));
    cr->p[i].last = malloc((size_t)n * sizeof(int));
    cr->p[i].quit_of = calloc((size_t)n, 1);
    if (!cr->p[i].seen || !cr->p[i].last || !cr->p[i].quit_of)
      return fail("out of memory");
    for (int j = 0; j < n; j++)
      cr->p[i].last[j] = -1;
  }
  return cr->p && cr->pfd ? 1 : fail("out of memory");
}

void crowd_free(crowd *cr) {
  for (int i = 0; cr->p && i < cr->n; i++) {
    tc_free(cr->p[i].c);
    free(cr->p[i].seen);
    free(cr->p[i].last);
    free(cr->p[i].quit_of);
  }
  free(cr->p);
  free(cr->pfd);
  memset(cr, 0, sizeof *cr);
}

/* One line for peer p. */
static void crowd_line(crowd *cr, peer *p, const char *line) {
  if (strstr(line, " 366 ")) {
    p->joins++;
    return;
  }
  if (strstr(line, " NOTICE ") && strstr(line, ":*** The network link is")) {
    if (strstr(line, "is down"))
      p->down++;
    else if (strstr(line, "is back"))
      p->back++;
    return;
  }
  if (strstr(line, " QUIT ")) {
    int who;
    p->quits++;
    snprintf(p->quit, sizeof p->quit, "%.255s", line);
    if (sscanf(line, ":u%d!", &who) == 1 && who >= 0 && who < cr->n &&
        p->quit_of[who] < 255)
      p->quit_of[who]++;
    return;
  }
  const char *m = strstr(line, " PRIVMSG ");
  int s, seq;
  if (!m || !(m = strstr(m, " :S")) || sscanf(m + 3, "%d %d", &s, &seq) != 2)
    return;
  if (s < 0 || s >= cr->n || seq < 0 || seq >= 64 || s == p->id ||
      seq <= p->last[s]) {
    if (!p->bad++)
      fail("u%d: \"%.100s\" is a duplicate, out of order or not for it "
           "(last from S%d: %d)", p->id, line, s,
           s >= 0 && s < cr->n ? p->last[s] : -2);
    return;
  }
  p->last[s] = seq;
  p->seen[s] |= (uint64_t)1 << seq;
  p->got++;
}

int crowd_pump(crowd *cr, int ms, int (*done)(const crowd *cr)) {
  uint64_t end = now_ms() + (uint64_t)ms;
  char line[2048];
  while (!(done && done(cr)) && now_ms() < end) {
    int n = 0;
    for (int i = 0; i < cr->n; i++)
      if (cr->p[i].c)
        cr->pfd[n++] = (struct pollfd){.fd = cr->p[i].c->fd, .events = POLLIN};
    if (poll(cr->pfd, (nfds_t)n, 50) <= 0)
      continue;
    for (int i = 0; i < cr->n; i++) {
      peer *p = &cr->p[i];
      if (!p->c)
        continue;
      while (tc_line(p->c, line, sizeof line, 0) == 1)
        crowd_line(cr, p, line);
    }
  }
  return done ? done(cr) : 1;
}

static int want_joins;

static int all_joined(const crowd *cr) {
  for (int i = 0; i < cr->n; i++)
    if (cr->p[i].c && cr->p[i].joins < want_joins)
      return 0;
  return 1;
}

int crowd_start(crowd *cr, const cluster *k,
                const char *(*joins)(int id, int k), int nchans) {
  for (int i = 0; i < cr->n; i++) {
    peer *p = &cr->p[i];
    char nick[16];
    snprintf(nick, sizeof nick, "u%d", i);
    p->node = i % k->nodes;
    if (!(p->c = tc_connect(k->node[p->node].port, nick, 0)) ||
        !tc_send(p->c, "NICK u%d\r\nUSER u 0 * :crowd", i))
      return 0;
    for (int j = 0; joins && j < nchans; j++)
      if (!tc_send(p->c, "JOIN %s", joins(i, j)))
        return 0;
    if (!joins || nchans == 0)
      if (!tc_send(p->c, "NAMES #none")) /* a 366 ends the welcome */
        return 0;
  }
  want_joins = joins && nchans ? nchans : 1;
  if (crowd_pump(cr, chat_sanitized ? 40000 : 20000, all_joined))
    return 1;
  int n = 0;
  for (int i = 0; i < cr->n; i++)
    n += cr->p[i].joins >= want_joins;
  return fail("%d of %d clients joined within 20 s", n, cr->n);
}

int peer_say(peer *p, const char *chan, int from, int to) {
  char burst[64 * 48], *b = burst;
  for (int q = from; q < to; q++)
    b += sprintf(b, "PRIVMSG %s :S%d %d\r\n", chan, p->id, q);
  return tc_send_raw(p->c, burst, (size_t)(b - burst));
}

int crowd_got_all(const crowd *cr) {
  for (int i = 0; i < cr->n; i++)
    if (cr->p[i].c && cr->p[i].got < crowd_expect_n && !cr->p[i].bad)
      return 0;
  return 1;
}

/* ---- main -------------------------------------------------------------------------- */

static const chat_group groups[] = {
    {"load", cluster_load_cases},
    {"directory", cluster_dir_cases},
    {"node-death", cluster_death_cases},
    {"redis-restart", cluster_restart_cases},
    {"redis-freeze", cluster_freeze_cases},
    {"link", cluster_link_cases},
};

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL chat_cluster: watchdog: still running\n";
  if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0) {
    /* nothing more to do */
  }
  for (int i = 0; i < 32; i++)
    if (kids[i] > 0)
      kill(-kids[i], SIGKILL), kill(kids[i], SIGKILL);
  _exit(99);
}

static int usage(void) {
  fprintf(stderr, "usage: chat_cluster --server PATH [--redis PATH] "
                  "[--sanitized] GROUP\ngroups:");
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
    fprintf(stderr, " %s", groups[i].name);
  fprintf(stderr, "\n");
  return 2;
}

static const char *find_redis(void) {
  static const char *const paths[] = {"/usr/bin/redis-server",
                                      "/usr/local/bin/redis-server",
                                      "/usr/sbin/redis-server"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    if (access(paths[i], X_OK) == 0)
      return paths[i];
  return NULL;
}

int main(int argc, char **argv) {
  const char *name = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--server") && i + 1 < argc)
      chat_server_path = argv[++i];
    else if (!strcmp(argv[i], "--redis") && i + 1 < argc)
      redis_server_path = argv[++i];
    else if (!strcmp(argv[i], "--sanitized"))
      chat_sanitized = 1, chat_rss_limit_kb = 512 * 1024;
    else if (!name)
      name = argv[i];
    else
      return usage();
  }
  const chat_group *g = NULL;
  for (size_t i = 0; name && i < sizeof groups / sizeof groups[0]; i++)
    if (!strcmp(groups[i].name, name))
      g = &groups[i];
  if (!chat_server_path || !g)
    return usage();
  if (!redis_server_path || access(redis_server_path, X_OK) != 0)
    redis_server_path = find_redis();
  if (!redis_server_path) {
    printf("skip: redis-server not found (scripts/deps.sh installs it)\n");
    return 77;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  alarm(WATCHDOG_S);
  setvbuf(stdout, NULL, _IOLBF, 0);
  raise_nofile(4096);
  int failed = 0, passed = 0;
  for (const chat_case *c = g->cases; c->name; c++) {
    uint64_t t0 = now_ms();
    int rc = c->run();
    printf("%s %s (%llu ms)\n", rc ? "ok" : "FAIL", c->name,
           (unsigned long long)(now_ms() - t0));
    rc ? passed++ : failed++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed;
}
