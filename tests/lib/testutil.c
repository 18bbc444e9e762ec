#define _GNU_SOURCE
#include "testutil.h"

#include "iomux/alloc.h"
#include "iomux/selector.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  perror(what);
  abort();
}

void tu_socketpair(int sv[2]) {
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
    die("socketpair");
}

void tu_tcp_pair(int sv[2]) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) ||
      listen(lfd, 1) || getsockname(lfd, (struct sockaddr *)&sa, &len))
    die("listen");
  sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&sa, sizeof sa))
    die("connect");
  sv[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (sv[1] < 0)
    die("accept");
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  close(lfd);
}

void tu_close_with_reset(int fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

size_t tu_fill(int fd) {
  static char chunk[65536];
  size_t total = 0;
  for (;;) {
    ssize_t n = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      total += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return total;
    die("fill");
  }
}

long tu_raise_nofile(long want) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < (rlim_t)want) {
    rl.rlim_cur = rl.rlim_max < (rlim_t)want ? rl.rlim_max : (rlim_t)want;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  return (long)rl.rlim_cur;
}

uint64_t tu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int tu_backend_named(const char *name) {
  for (int kind = 1; kind < 16; kind++) {
    const char *known = iom_backend_name((iom_backend)kind);
    if (known && strcmp(known, name) == 0)
      return kind;
  }
  return -1;
}

long tu_alloc_live, tu_alloc_calls, tu_alloc_fail_at = -1;
long long tu_alloc_bytes;

/* Every call is counted; the one numbered tu_alloc_fail_at fails. */
static int should_fail(void) { return tu_alloc_calls++ == tu_alloc_fail_at; }

/* Each block carries its size in front, so live bytes can be counted. */
typedef union header {
  size_t size;
  max_align_t align;
} header;

static void *count_malloc(size_t n) {
  if (should_fail())
    return NULL;
  header *h = malloc(sizeof *h + n);
  if (!h)
    return NULL;
  h->size = n;
  tu_alloc_live++;
  tu_alloc_bytes += (long long)n;
  return h + 1;
}

static void *count_calloc(size_t c, size_t n) {
  if (n && c > SIZE_MAX / n)
    return NULL;
  void *p = count_malloc(c * n);
  if (p)
    memset(p, 0, c * n);
  return p;
}

static void count_free(void *p) {
  if (!p)
    return;
  header *h = (header *)p - 1;
  tu_alloc_live--;
  tu_alloc_bytes -= (long long)h->size;
  free(h);
}

static void *count_realloc(void *old, size_t n) {
  if (!old)
    return count_malloc(n);
  if (should_fail())
    return NULL;
  header *h = (header *)old - 1;
  size_t was = h->size;
  h = realloc(h, sizeof *h + n);
  if (!h)
    return NULL;
  h->size = n;
  tu_alloc_bytes += (long long)n - (long long)was;
  return h + 1;
}

void tu_alloc_install(void) {
  iom_set_allocator(count_malloc, count_realloc, count_calloc, count_free);
}

void tu_alloc_reset(long fail_at) {
  tu_alloc_calls = 0;
  tu_alloc_fail_at = fail_at;
}
