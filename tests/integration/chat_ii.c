/* chat_check ii: the suckless ii client (Debian package ii) registers,
 * joins a channel and talks with a scripted client.
 *
 * ii keeps its conversation in files: DIR/127.0.0.1/in is a FIFO for
 * commands ("/j #chan"), DIR/127.0.0.1/#chan/in one for lines to the
 * channel, and .../#chan/out the log of what it received. Skipped (77)
 * when ii is not installed.
 */
#define _GNU_SOURCE
#include "chat_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define II "/usr/bin/ii"

static pid_t start_ii(int port, const char *dir) {
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    execl(II, "ii", "-s", "127.0.0.1", "-p", portstr, "-n", "iibot", "-i",
          dir, (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* Write a line into one of ii's FIFOs, once ii has it open (up to 5 s). */
static int fifo_write(const char *path, const char *line) {
  uint64_t end = now_ms() + 5000;
  while (now_ms() < end) {
    int fd = open(path, O_WRONLY | O_NONBLOCK);
    if (fd >= 0) {
      ssize_t n = write(fd, line, strlen(line));
      close(fd);
      if (n == (ssize_t)strlen(line))
        return 1;
    }
    sleep_ms(50);
  }
  return fail("could not write to %s: %s", path, strerror(errno));
}

/* Does the file get a line containing `text` within ms? */
static int file_has(const char *path, const char *text, int ms) {
  uint64_t end = now_ms() + (uint64_t)ms;
  char buf[8192];
  while (now_ms() < end) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
      fclose(f);
    buf[n] = '\0';
    if (strstr(buf, text))
      return 1;
    sleep_ms(50);
  }
  return fail("%s: no \"%s\" within %d ms (it has: %s)", path, text, ms, buf);
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int talk(void) {
  if (access(II, X_OK) != 0)
    return 77;
  char dir[] = "/tmp/chat_ii_XXXXXX", path[256];
  if (!mkdtemp(dir))
    return fail("mkdtemp: %s", strerror(errno));
  chat_fx f;
  int ok = fx_start(&f, NULL, "human", NULL);
  tc *h = f.cl[0];
  pid_t ii = ok ? start_ii(f.srv.port, dir) : -1;
  ok = ok && ii > 0 && tc_join(h, "#iitest");
  snprintf(path, sizeof path, "%s/127.0.0.1/in", dir);
  ok = ok && fifo_write(path, "/j #iitest\n") &&
       tc_expect(h, "^:iibot![^ ]+ JOIN #iitest$", 5000) &&
       tc_send(h, "PRIVMSG #iitest :hello ii");
  snprintf(path, sizeof path, "%s/127.0.0.1/#iitest/out", dir);
  ok = ok && file_has(path, "<human> hello ii", 5000);
  snprintf(path, sizeof path, "%s/127.0.0.1/#iitest/in", dir);
  ok = ok && fifo_write(path, "hi from ii\n") &&
       tc_expect(h, "^:iibot![^ ]+ PRIVMSG #iitest :hi from ii$", 5000);
  if (ii > 0) {
    kill(-ii, SIGTERM);
    waitpid(ii, NULL, 0);
  }
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return fx_end(&f) && ok;
}

const chat_case chat_ii_cases[] = {
    {"register-join-talk", talk},
    {NULL, NULL},
};
