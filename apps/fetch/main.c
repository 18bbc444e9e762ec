/* iomux-fetch: many HTTP(S) downloads at once, on one thread.
 *
 * It starts from the classic "HTTP request through a non-blocking socket"
 * of the I/O-model texts, which fetches one page like this:
 *
 *     fd = socket(AF_INET, SOCK_STREAM, 0);
 *     fcntl(fd, F_SETFL, O_NONBLOCK);
 *     connect(fd, addr, len);          // -1, EINPROGRESS: do not wait
 *     select(fd + 1, NULL, &w, NULL, NULL);  // phase 1: wait for writable
 *     getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, ...);  // did it connect?
 *     send(fd, "GET / HTTP/1.0\r\nHost: h\r\n\r\n", ...);
 *     for (;;) {
 *       select(fd + 1, &r, NULL, NULL, NULL); // phase 1: wait for readable
 *       n = recv(fd, buf, sizeof buf, 0);     // phase 2: copy
 *       if (n == 0) break;                    // HTTP/1.0: the end is EOF
 *       write(1, buf, n);
 *     }
 *
 * The point of non-blocking is that nothing in it waits for one socket
 * alone, so the same loop can wait for thousands. This tool is that loop
 * grown up, and each step names the piece of iomux that does it:
 *   - many sockets in one wait: the selector and the loop (loop.h): every
 *     connect, send and recv above becomes a callback when its socket is
 *     ready, for every download at once;
 *   - the connect-then-writable dance, partial sends, EOF and resets: the
 *     stream layer (stream.h);
 *   - getaddrinfo() blocks, so names are resolved on worker threads
 *     (pool.h), and every address of a name is tried in turn;
 *   - HTTP/1.1 instead of 1.0: one connection carries many requests
 *     (keep-alive), so the end of a body is no longer EOF but
 *     Content-Length or chunks, found by an incremental parser that takes
 *     bytes in whatever pieces recv() returns (src/http/parse.c);
 *   - a cap on requests in flight (-j), per host and in all, the rest
 *     waiting in a queue: a server is not hit with 10,000 connects;
 *   - TLS (OpenSSL) as a filter between the socket and the parser;
 *   - timeouts on every wait (--connect-timeout, --max-time), which the
 *     classic code, waiting forever in select(), does not have;
 *   - bodies streamed to disk as they arrive, under a temporary name that
 *     is renamed only when the download is whole (fetch.c).
 * The HTTP client itself is the library's (include/iomux/http.h); this
 * file is options, fetch.c the downloads, report.c the output.
 *
 * Try it:  iomux-fetch -o /tmp/x https://example.com/ http://127.0.0.1:8080/a
 *          seq 1 100 | sed 's|^|http://127.0.0.1:8080/f|' | iomux-fetch -i - -j 50 -o /tmp/x
 */
#define _GNU_SOURCE
#include "fetch.h"

#include "common/cli.h"
#include "common/fdlimit.h"
#include "common/parse.h"
#include "iomux/error.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOOL "iomux-fetch" /* how its messages start */

static void usage(FILE *to) {
  fputs(
      "usage: iomux-fetch [options] URL...\n"
      "       iomux-fetch [options] -i FILE      (one URL a line; - for stdin)\n"
      "\n"
      "Download http:// and https:// URLs, many at once.\n"
      "\n"
      "  -i, --input-file FILE   read URLs from FILE ('-': stdin); blank lines\n"
      "                          and lines starting with # are skipped\n"
      "  -j, --jobs N            downloads in flight at once (default 16)\n"
      "  -o, --output-dir DIR    save each body in DIR, named from its URL\n"
      "                          (the path's last part; index.html if none)\n"
      "  -O, --output FILE       save the one URL's body in FILE ('-': stdout)\n"
      "      --discard           read bodies but keep nothing (benchmarks)\n"
      "  -L, --location          follow redirects (301 302 303 307 308)\n"
      "  -I, --head              send HEAD; with one URL, print the headers\n"
      "  -H, --header 'N: V'     add a request header (repeatable)\n"
      "  -m, --max-time SECS     give up on a download after SECS\n"
      "      --connect-timeout SECS  give up on a connect after SECS\n"
      "      --cacert FILE       trust the CAs in FILE (PEM) for https\n"
      "  -k, --insecure          do not verify https certificates\n"
      "      --json              a JSON object per URL on stdout: url, status,\n"
      "                          bytes, time, error\n"
      "  -s, --silent            no error lines, no summary\n"
      "  -h, --help              this text\n"
      "      --version           print the version\n"
      "\n"
      "Without -o or -O, one URL's body goes to stdout (with --json, nowhere).\n"
      "A file appears only when its download succeeded: it is written under a\n"
      "temporary name and renamed. A status of 400 and above is a failure.\n"
      "Exit status: 0 when every download succeeded, 1 when any failed, 2 for\n"
      "a usage error.\n",
      to);
}

static int add_url(fetch_opts *o, const char *url) {
  char **urls = realloc(o->urls, (o->nurls + 1) * sizeof *urls);
  if (!urls || !(urls[o->nurls] = strdup(url)))
    return -1;
  o->urls = urls;
  o->nurls++;
  return 0;
}

static int read_urls(fetch_opts *o, const char *path) {
  FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
  if (!f)
    return -errno;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int err = 0;
  while (!err && (n = getline(&line, &cap, f)) >= 0) {
    char *s = line;
    while (*s == ' ' || *s == '\t')
      s++;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
                     line[n - 1] == ' ' || line[n - 1] == '\t'))
      line[--n] = '\0';
    if (*s && *s != '#' && add_url(o, s) < 0)
      err = -ENOMEM;
  }
  free(line);
  if (f != stdin)
    fclose(f);
  return err;
}

static int add_header(fetch_opts *o, const char *arg) {
  const char *colon = strchr(arg, ':');
  if (!colon || colon == arg)
    return -1;
  iom_http_header *h =
      realloc(o->headers, (o->nheaders + 1) * sizeof *o->headers);
  if (!h)
    return -1;
  o->headers = h;
  const char *v = colon + 1;
  while (*v == ' ' || *v == '\t')
    v++;
  h[o->nheaders].name = strndup(arg, (size_t)(colon - arg));
  h[o->nheaders].value = strdup(v);
  o->nheaders++;
  return 0;
}

enum {
  OPT_CONNECT_TIMEOUT = 256,
  OPT_CACERT,
  OPT_JSON,
  OPT_DISCARD,
  OPT_VERSION
};

/* Returns 0, or an exit status (2: usage; 0 after --help). */
static int parse_args(int argc, char **argv, fetch_opts *o, int *done) {
  static const struct option longs[] = {
      {"input-file", required_argument, NULL, 'i'},
      {"jobs", required_argument, NULL, 'j'},
      {"output-dir", required_argument, NULL, 'o'},
      {"output", required_argument, NULL, 'O'},
      {"discard", no_argument, NULL, OPT_DISCARD},
      {"location", no_argument, NULL, 'L'},
      {"head", no_argument, NULL, 'I'},
      {"header", required_argument, NULL, 'H'},
      {"max-time", required_argument, NULL, 'm'},
      {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
      {"cacert", required_argument, NULL, OPT_CACERT},
      {"insecure", no_argument, NULL, 'k'},
      {"json", no_argument, NULL, OPT_JSON},
      {"silent", no_argument, NULL, 's'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0},
  };
  int c, err;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":i:j:o:O:LIH:m:ksh", longs, NULL)) !=
         -1) {
    switch (c) {
    case 'i':
      if ((err = read_urls(o, optarg)) < 0) {
        fprintf(stderr, "iomux-fetch: %s: %s\n", optarg, iom_strerror(err));
        return 2;
      }
      break;
    case 'j':
      if (app_parse_int(optarg, 1, 100000, &o->jobs))
        return app_usage_error(TOOL, "bad -j '%s' (1 to 100000)", optarg);
      break;
    case 'o':
      o->dir = optarg;
      break;
    case 'O':
      o->out = optarg;
      break;
    case OPT_DISCARD:
      o->discard = 1;
      break;
    case 'L':
      o->follow = 1;
      break;
    case 'I':
      o->head = 1;
      break;
    case 'H':
      if (add_header(o, optarg))
        return app_usage_error(TOOL, "bad header '%s' (want 'Name: value')",
                               optarg);
      break;
    case 'm':
      if (app_parse_double(optarg, 0.001, 1e6, &o->max_time))
        return app_usage_error(TOOL, "bad --max-time '%s'", optarg);
      break;
    case OPT_CONNECT_TIMEOUT:
      if (app_parse_double(optarg, 0.001, 1e6, &o->connect_timeout))
        return app_usage_error(TOOL, "bad --connect-timeout '%s'", optarg);
      break;
    case OPT_CACERT:
      o->cacert = optarg;
      break;
    case 'k':
      o->insecure = 1;
      break;
    case OPT_JSON:
      o->json = 1;
      break;
    case 's':
      o->quiet = 1;
      break;
    case 'h':
      usage(stdout);
      *done = 1;
      return 0;
    case OPT_VERSION:
      *done = 1;
      return app_version(TOOL);
    default:
      return app_option_error(TOOL, c, argv);
    }
  }
  for (int i = optind; i < argc; i++)
    if (add_url(o, argv[i]) < 0)
      return app_usage_error(TOOL, "out of memory");
  if (o->nurls == 0)
    return app_usage_error(TOOL, "no URL given");
  if (o->dir && o->out)
    return app_usage_error(TOOL, "-o and -O do not go together");
  if (o->out && o->nurls > 1)
    return app_usage_error(TOOL,
                           "-O takes one URL (use -o DIR for several)");
  if (!o->dir && !o->out && !o->discard && !o->json && !o->head &&
      o->nurls > 1)
    return app_usage_error(TOOL, "several URLs need -o DIR (or --discard)");
  if (o->dir && access(o->dir, W_OK) < 0) {
    fprintf(stderr, "iomux-fetch: %s: %s\n", o->dir, strerror(errno));
    return 2;
  }
  return 0;
}

int main(int argc, char **argv) {
  fetch_opts o = {.jobs = 16};
  int done = 0;
  int rc = parse_args(argc, argv, &o, &done);
  if (rc || done)
    return rc;
  o.progress = isatty(STDERR_FILENO) && !o.quiet;
  /* Each download may hold a socket (plus a file): raise the soft limit. */
  app_raise_fd_limit((long)o.jobs * 2 + 64, NULL, NULL);
  rc = fetch_run(&o);
  if (rc < 0) {
    fprintf(stderr, "iomux-fetch: %s\n", iom_strerror(rc));
    rc = 1;
  }
  for (size_t i = 0; i < o.nurls; i++)
    free(o.urls[i]);
  free(o.urls);
  for (size_t i = 0; i < o.nheaders; i++) {
    free((char *)o.headers[i].name);
    free((char *)o.headers[i].value);
  }
  free(o.headers);
  return rc;
}
