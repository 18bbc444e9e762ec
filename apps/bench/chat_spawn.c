/* iomux-bench chat --spawn ngircd: a server for the run, started and
 * stopped here, so one command measures it.
 *
 * The config is the template (apps/bench/ngircd/ngircd.conf: the limits
 * relaxed for loopback load) with a second [Global] section appended for
 * the address and a free port (ngircd lets a later assignment win). It
 * runs in the foreground (-n) in a temp dir that holds the config and its
 * log, pinned to --server-cpu with sched_setaffinity (what taskset -c
 * does), while the caller pins the load to --load-cpu: the two do not
 * share a CPU, so the server's CPU time is its own work.
 */
#define _GNU_SOURCE
#include "chat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int free_port(void) {
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

/* The template, then [Global] with our address and port. */
static int write_conf(const chat_opts *o, const char *path, int port) {
  FILE *in = fopen(o->ngircd_conf, "r"), *out = fopen(path, "w");
  char buf[4096];
  size_t n;
  int err = in && out ? 0 : -1;
  if (!in)
    fprintf(stderr, "iomux-bench chat: %s: %s (--ngircd-conf)\n",
            o->ngircd_conf, strerror(errno));
  while (err == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
    if (fwrite(buf, 1, n, out) != n)
      err = -1;
  if (out && fprintf(out, "\n# added by iomux-bench chat --spawn\n[Global]\n"
                     "  Listen = 127.0.0.1\n  Ports = %d\n", port) < 0)
    err = -1;
  if (in)
    fclose(in);
  if (out && fclose(out) != 0)
    err = -1;
  return err;
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

static int can_connect(const struct sockaddr_in *a) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;
  ok = fd >= 0 && connect(fd, (const struct sockaddr *)a, sizeof *a) == 0;
  if (fd >= 0)
    close(fd);
  return ok;
}

static int start(chat_opts *o, chat_server *srv, const char *conf,
                 const char *log) {
  int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (logfd < 0)
    return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    if (o->server_cpu >= 0)
      pin(o->server_cpu);
    setpgid(0, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    execl(o->ngircd, o->ngircd, "-n", "-f", conf, (char *)NULL);
    fprintf(stderr, "exec %s: %s\n", o->ngircd, strerror(errno));
    _exit(127);
  }
  close(logfd);
  if (pid < 0)
    return -1;
  srv->pid = (int)pid;
  return 0;
}

int chat_spawn_ngircd(chat_opts *o, chat_server *srv) {
  char conf[128], log[128];
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (access(o->ngircd, X_OK) != 0) {
    fprintf(stderr, "iomux-bench chat: no ngircd at %s (--ngircd; Debian: "
            "apt-get install ngircd)\n", o->ngircd);
    return -1;
  }
  if (cpus < 2 || o->server_cpu >= cpus || o->load_cpu >= cpus) {
    if (o->server_cpu >= 0 || o->load_cpu >= 0)
      fprintf(stderr, "iomux-bench chat: %ld CPUs: server and load not "
              "pinned\n", cpus);
    o->server_cpu = o->load_cpu = -1;
  }
  snprintf(srv->dir, sizeof srv->dir, "/tmp/iomux-chat-ngircd.XXXXXX");
  int port = free_port();
  if (!mkdtemp(srv->dir) || port < 0) {
    fprintf(stderr, "iomux-bench chat: temp dir or port: %s\n",
            strerror(errno));
    return -1;
  }
  chmod(srv->dir, 0755); /* ngircd, started as root, runs as nobody */
  snprintf(conf, sizeof conf, "%s/ngircd.conf", srv->dir);
  snprintf(log, sizeof log, "%s/ngircd.log", srv->dir);
  if (write_conf(o, conf, port) < 0 || start(o, srv, conf, log) < 0) {
    chat_spawn_stop(srv, 0);
    return -1;
  }
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (int i = 0; i < 200; i++) { /* 10 s */
    if (can_connect(&a)) {
      o->port = o->ports[0] = port;
      o->nports = 1;
      o->server_pid = o->server_pids[0] = srv->pid;
      o->nserver_pids = 1;
      memcpy(&o->addr, &a, sizeof a);
      o->addrlen = sizeof a;
      o->addrs[0] = o->addr;
      o->addrlens[0] = o->addrlen;
      return 0;
    }
    if (waitpid(srv->pid, NULL, WNOHANG) == srv->pid) {
      srv->pid = 0;
      break;
    }
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
  }
  fprintf(stderr, "iomux-bench chat: ngircd did not start listening\n");
  chat_spawn_stop(srv, 1);
  return -1;
}

/* A log line about one connection coming or going, as ngircd writes
 * several for every client: not news. */
static int routine(const char *line) {
  static const char *const words[] = {
      "Accepted connection", "registered (connection", "closed (in:",
      "Shutting down connection", "Broken pipe", "Connection reset"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strstr(line, words[i]))
      return 1;
  return 0;
}

/* The last 20 lines ngircd logged, besides the routine ones, before it was
 * told to stop. */
static void print_log(const char *path) {
  FILE *f = fopen(path, "r");
  char line[512];
  long n = 0, end = -1;
  while (f && fgets(line, sizeof line, f)) {
    if (routine(line))
      continue;
    if (end < 0 && strstr(line, "Got signal"))
      end = n;
    n++;
  }
  if (end < 0)
    end = n;
  fprintf(stderr, "iomux-bench chat: the end of ngircd's log before it "
          "was stopped:\n");
  if (f)
    rewind(f);
  for (long k = 0; f && k < end && fgets(line, sizeof line, f);) {
    if (routine(line))
      continue;
    if (k++ >= end - 20)
      fprintf(stderr, "  %s", line);
  }
  if (f)
    fclose(f);
}

void chat_spawn_stop(chat_server *srv, int keep_log) {
  char path[160];
  if (srv->pid > 0) {
    kill(srv->pid, SIGTERM);
    int i = 0;
    while (waitpid(srv->pid, NULL, WNOHANG) == 0 && i++ < 60) {
      struct timespec ts = {0, 50 * 1000000L};
      nanosleep(&ts, NULL);
    }
    if (i > 60) {
      kill(srv->pid, SIGKILL);
      waitpid(srv->pid, NULL, 0);
    }
    srv->pid = 0;
  }
  if (!srv->dir[0])
    return;
  snprintf(path, sizeof path, "%s/ngircd.log", srv->dir);
  if (keep_log)
    print_log(path);
  unlink(path);
  snprintf(path, sizeof path, "%s/ngircd.conf", srv->dir);
  unlink(path);
  rmdir(srv->dir);
  srv->dir[0] = '\0';
}
