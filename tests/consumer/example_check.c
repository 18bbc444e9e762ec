/* example_check: run one of the programs in examples/ and check every byte.
 *
 *   example_check echo PROG   PROG is an echo server. Started as `PROG 0`,
 *                             it prints "listening on 127.0.0.1:PORT ...";
 *                             four clients then each send 1 MiB of
 *                             pseudo-random bytes in writes of random size,
 *                             reading while they write, half-close, and must
 *                             get back every byte in order, then EOF. The
 *                             server is then sent SIGTERM: it must exit 0
 *                             or die of that signal.
 *   example_check http PROG   PROG downloads a URL to stdout. Started as
 *                             `PROG http://127.0.0.1:PORT/file`, against a
 *                             server here that answers one GET with a body
 *                             of 300,000 pseudo-random bytes, its stdout
 *                             must be that body and its exit status 0.
 *
 * Nothing here uses iomux, so a bug in the library cannot hide itself.
 * Prints what went wrong and exits 1; an alarm ends a stuck run at 30 s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define NCLIENTS 4
#define ECHO_BYTES (1 << 20)
#define HTTP_BYTES 300000
#define STALL_MS 10000

static pid_t child = -1;

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("example_check: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (child > 0)
    kill(child, SIGKILL);
  exit(1);
}

static uint64_t rnd(uint64_t *s) { /* xorshift64 */
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static char *random_bytes(size_t n, uint64_t seed) {
  char *b = malloc(n);
  if (!b)
    fail("out of memory");
  for (size_t i = 0; i < n; i++)
    b[i] = (char)rnd(&seed);
  return b;
}

/* Start prog with one argument, its stdout into the returned pipe. */
static int spawn(const char *prog, const char *arg) {
  int p[2];
  if (pipe(p) < 0)
    fail("pipe: %s", strerror(errno));
  if ((child = fork()) < 0)
    fail("fork: %s", strerror(errno));
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the check */
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    execl(prog, prog, arg, (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  return p[0];
}

/* Reap the child: 0 if it exited 0 (or, with sig, died of sig). */
static int reap(int sig) {
  int st;
  if (waitpid(child, &st, 0) < 0)
    fail("waitpid: %s", strerror(errno));
  child = -1;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
    return 0;
  if (sig && WIFSIGNALED(st) && WTERMSIG(st) == sig)
    return 0;
  if (WIFSIGNALED(st))
    fprintf(stderr, "example_check: killed by signal %d\n", WTERMSIG(st));
  else
    fprintf(stderr, "example_check: exit status %d\n", WEXITSTATUS(st));
  return -1;
}

typedef struct client {
  int fd;
  const char *data;
  size_t sent, got;
  int eof;
} client;

static void check_echo(const char *prog) {
  int out = spawn(prog, "0");
  char line[256];
  size_t len = 0;
  while (len < sizeof line - 1 && read(out, line + len, 1) == 1 &&
         line[len] != '\n')
    len++;
  line[len] = '\0';
  int port;
  if (sscanf(line, "listening on 127.0.0.1:%d", &port) != 1)
    fail("%s printed \"%s\", not \"listening on 127.0.0.1:PORT\"", prog, line);
  printf("%s\n", line);

  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  client c[NCLIENTS];
  uint64_t sizes = 42;
  for (int i = 0; i < NCLIENTS; i++) {
    c[i] = (client){.fd = socket(AF_INET, SOCK_STREAM, 0),
                    .data = random_bytes(ECHO_BYTES, (uint64_t)i + 1)};
    if (c[i].fd < 0 || connect(c[i].fd, (struct sockaddr *)&a, sizeof a) < 0)
      fail("connect to port %d: %s", port, strerror(errno));
    fcntl(c[i].fd, F_SETFL, O_NONBLOCK);
  }
  for (int left = NCLIENTS; left > 0;) {
    struct pollfd pfd[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++)
      pfd[i] = (struct pollfd){
          .fd = c[i].eof ? -1 : c[i].fd,
          .events = POLLIN | (c[i].sent < ECHO_BYTES ? POLLOUT : 0)};
    int n = poll(pfd, NCLIENTS, STALL_MS);
    if (n <= 0)
      fail("no progress for %d ms", STALL_MS);
    for (int i = 0; i < NCLIENTS; i++) {
      client *k = &c[i];
      if (pfd[i].revents & POLLOUT) {
        size_t want = 1 + rnd(&sizes) % 65536;
        if (want > ECHO_BYTES - k->sent)
          want = ECHO_BYTES - k->sent;
        ssize_t w = send(k->fd, k->data + k->sent, want, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN)
          fail("client %d: send: %s", i, strerror(errno));
        k->sent += w > 0 ? (size_t)w : 0;
        if (k->sent == ECHO_BYTES)
          shutdown(k->fd, SHUT_WR);
      }
      if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[65536];
        ssize_t r = recv(k->fd, buf, sizeof buf, 0);
        if (r < 0 && errno != EAGAIN)
          fail("client %d: recv: %s", i, strerror(errno));
        if (r == 0) {
          if (k->got != ECHO_BYTES)
            fail("client %d: EOF after %zu of %d bytes", i, k->got, ECHO_BYTES);
          k->eof = 1;
          left--;
        }
        if (r > 0 && (k->got + (size_t)r > k->sent ||
                      memcmp(buf, k->data + k->got, (size_t)r) != 0))
          fail("client %d: wrong bytes at offset %zu", i, k->got);
        k->got += r > 0 ? (size_t)r : 0;
      }
    }
  }
  for (int i = 0; i < NCLIENTS; i++) {
    close(c[i].fd);
    free((char *)c[i].data);
  }
  kill(child, SIGTERM);
  if (reap(SIGTERM) < 0)
    fail("%s did not stop cleanly", prog);
  printf("ok: %d clients, %d bytes each, echoed and closed\n", NCLIENTS,
         ECHO_BYTES);
}

static void check_http(const char *prog) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t alen = sizeof a;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 ||
      listen(lfd, 1) < 0 || getsockname(lfd, (struct sockaddr *)&a, &alen))
    fail("listen: %s", strerror(errno));
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/file", ntohs(a.sin_port));
  int out = spawn(prog, url);
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0)
    fail("accept: %s", strerror(errno));

  char req[8192];
  size_t rlen = 0;
  while (!memmem(req, rlen, "\r\n\r\n", 4)) {
    ssize_t r = recv(fd, req + rlen, sizeof req - rlen, 0);
    if (r <= 0)
      fail("the request ended before its head did");
    rlen += (size_t)r;
  }
  static const char first[] = "GET /file HTTP/1.1\r\n";
  if (rlen < sizeof first - 1 || memcmp(req, first, sizeof first - 1))
    fail("request line: \"%.*s\"", (int)strcspn(req, "\r"), req);

  char *body = random_bytes(HTTP_BYTES, 7);
  char head[128];
  int hlen = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n\r\n",
                      HTTP_BYTES);
  if (send(fd, head, (size_t)hlen, MSG_NOSIGNAL) != hlen)
    fail("send: %s", strerror(errno));
  /* Send the body while reading what the program writes, so neither side
   * waits for the other with full buffers. */
  char *got = malloc(HTTP_BYTES + 1);
  if (!got)
    fail("out of memory");
  size_t sent = 0, glen = 0;
  fcntl(fd, F_SETFL, O_NONBLOCK);
  for (int open = 1; open;) {
    struct pollfd pfd[2] = {
        {.fd = out, .events = POLLIN},
        {.fd = sent < HTTP_BYTES ? fd : -1, .events = POLLOUT}};
    if (poll(pfd, 2, STALL_MS) <= 0)
      fail("no progress for %d ms", STALL_MS);
    if (pfd[1].revents) {
      ssize_t w = send(fd, body + sent, HTTP_BYTES - sent, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN)
        fail("send: %s", strerror(errno));
      sent += w > 0 ? (size_t)w : 0;
    }
    if (pfd[0].revents) {
      ssize_t r = read(out, got + glen, HTTP_BYTES + 1 - glen);
      if (r < 0)
        fail("read: %s", strerror(errno));
      open = r > 0;
      glen += (size_t)r;
      if (glen > HTTP_BYTES)
        fail("more output than the body");
    }
  }
  close(fd);
  close(lfd);
  if (reap(0) < 0)
    fail("%s failed", prog);
  if (glen != HTTP_BYTES || memcmp(got, body, HTTP_BYTES) != 0)
    fail("the output (%zu bytes) is not the body (%d bytes)", glen, HTTP_BYTES);
  free(got);
  free(body);
  printf("ok: %d body bytes written as received\n", HTTP_BYTES);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: example_check echo|http PROG\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  alarm(30);
  if (!strcmp(argv[1], "echo"))
    check_echo(argv[2]);
  else if (!strcmp(argv[1], "http"))
    check_http(argv[2]);
  else
    fail("unknown check \"%s\"", argv[1]);
  return 0;
}
