/* URLs: http and https only, and reference resolution (RFC 3986, 5.2) for
 * redirects. Userinfo ("user@host") is refused: we never send credentials
 * found in a URL. Bytes are kept as given (no percent-decoding): the target
 * goes on the wire as the URL spelled it.
 */
#include "iomux/http.h"

#include "http_impl.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int prefix_nocase(const char *s, const char *pre) {
  for (; *pre; s++, pre++)
    if (lower((unsigned char)*s) != *pre)
      return 0;
  return 1;
}

static char *dup_range(const char *s, size_t n) {
  char *d = iom__malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

char *http_strdup(const char *s) { return dup_range(s, strlen(s)); }

/* No white space or control bytes anywhere. */
static int clean(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || *s == 0x7f)
      return 0;
  return 1;
}

static int parse_port(const char *s, size_t n, int *port) {
  int v = 0;
  if (n == 0 || n > 5)
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -EINVAL;
    v = v * 10 + (s[i] - '0');
  }
  if (v < 1 || v > 65535)
    return -EINVAL;
  *port = v;
  return 0;
}

/* host[:port] or [v6][:port], n bytes of it. */
static int parse_authority(const char *a, size_t n, iom_http_url *u) {
  const char *host = a, *port = NULL;
  size_t hlen = n;
  if (memchr(a, '@', n))
    return -EINVAL;
  if (n && a[0] == '[') {
    const char *close = memchr(a, ']', n);
    if (!close)
      return -EINVAL;
    host = a + 1;
    hlen = (size_t)(close - host);
    if (close + 1 < a + n) {
      if (close[1] != ':')
        return -EINVAL;
      port = close + 2;
    }
    if (!memchr(host, ':', hlen))
      return -EINVAL;
  } else {
    const char *colon = memchr(a, ':', n);
    if (colon) {
      hlen = (size_t)(colon - a);
      port = colon + 1;
    }
  }
  if (hlen == 0)
    return -EINVAL;
  if (hlen >= sizeof u->host)
    return -ENAMETOOLONG;
  for (size_t i = 0; i < hlen; i++)
    u->host[i] = (char)lower((unsigned char)host[i]);
  u->host[hlen] = '\0';
  if (port && port < a + n)
    return parse_port(port, (size_t)(a + n - port), &u->port);
  return 0;
}

int iom_http_url_parse(const char *s, iom_http_url *u) {
  memset(u, 0, sizeof *u);
  if (!s || !clean(s))
    return -EINVAL;
  if (prefix_nocase(s, "https://")) {
    u->tls = 1;
    s += 8;
  } else if (prefix_nocase(s, "http://")) {
    s += 7;
  } else {
    return -EINVAL;
  }
  u->port = u->tls ? 443 : 80;
  size_t alen = strcspn(s, "/?#");
  int err = parse_authority(s, alen, u);
  if (err < 0)
    return err;
  const char *t = s + alen;
  size_t tlen = strcspn(t, "#");
  int slash = t[0] != '/';
  u->target = iom__malloc(tlen + 2);
  if (!u->target)
    return -ENOMEM;
  u->target[0] = '/';
  memcpy(u->target + slash, t, tlen);
  u->target[tlen + slash] = '\0';
  return 0;
}

void iom_http_url_clear(iom_http_url *u) {
  iom__free(u->target);
  u->target = NULL;
}

int iom_http_url_format(const iom_http_url *u, char *buf, size_t size) {
  int v6 = strchr(u->host, ':') != NULL;
  char port[8] = "";
  if (u->port != (u->tls ? 443 : 80))
    snprintf(port, sizeof port, ":%d", u->port);
  return snprintf(buf, size, "%s://%s%s%s%s%s", u->tls ? "https" : "http",
                  v6 ? "[" : "", u->host, v6 ? "]" : "", port,
                  u->target ? u->target : "/");
}

/* ---- resolution ------------------------------------------------------------ */

/* RFC 3986 5.2.4 on a path that starts with '/', written to out (room for
 * strlen(path) + 2). */
static void remove_dots(const char *path, char *out) {
  size_t o = 0;
  const char *p = path;
  while (*p == '/') {
    const char *seg = p + 1;
    size_t n = strcspn(seg, "/");
    int last = seg[n] == '\0';
    if (n == 1 && seg[0] == '.') {
      if (last)
        out[o++] = '/';
    } else if (n == 2 && seg[0] == '.' && seg[1] == '.') {
      while (o > 0 && out[--o] != '/')
        ;
      if (last)
        out[o++] = '/';
    } else {
      out[o++] = '/';
      memcpy(out + o, seg, n);
      o += n;
    }
    p = seg + n;
  }
  if (o == 0)
    out[o++] = '/';
  out[o] = '\0';
}

static int has_scheme(const char *r) {
  size_t n = strspn(r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789+-.");
  return n > 0 && r[n] == ':' && ((r[0] | 32) >= 'a' && (r[0] | 32) <= 'z');
}

/* base's authority with `target` (path + query, made here from parts). */
static int with_target(const iom_http_url *base, const char *path,
                       size_t plen, const char *query, iom_http_url *out) {
  size_t qlen = strlen(query);
  char *merged = iom__malloc(plen + 1);
  char *t = iom__malloc(plen + qlen + 3);
  if (!merged || !t) {
    iom__free(merged);
    iom__free(t);
    return -ENOMEM;
  }
  memcpy(merged, path, plen);
  merged[plen] = '\0';
  remove_dots(merged, t);
  iom__free(merged);
  memcpy(t + strlen(t), query, qlen + 1);
  *out = *base;
  out->target = t;
  return 0;
}

int iom_http_url_resolve(const iom_http_url *base, const char *ref,
                         iom_http_url *out) {
  memset(out, 0, sizeof *out);
  if (!ref || !clean(ref))
    return -EINVAL;
  if (has_scheme(ref))
    return iom_http_url_parse(ref, out);
  size_t rlen = strcspn(ref, "#");
  char *r = dup_range(ref, rlen);
  if (!r)
    return -ENOMEM;
  int err;
  const char *btarget = base->target ? base->target : "/";
  size_t bpath = strcspn(btarget, "?");
  if (r[0] == '/' && r[1] == '/') {
    char *abs = iom__malloc(rlen + 8);
    err = -ENOMEM;
    if (abs) {
      snprintf(abs, rlen + 8, "%s:%s", base->tls ? "https" : "http", r);
      err = iom_http_url_parse(abs, out);
      iom__free(abs);
    }
  } else if (r[0] == '/') {
    size_t plen = strcspn(r, "?");
    err = with_target(base, r, plen, r + plen, out);
  } else if (r[0] == '?' || r[0] == '\0') {
    err = with_target(base, btarget, bpath, r[0] ? r : btarget + bpath, out);
  } else {
    /* Merge: the base path up to its last '/', then the reference. */
    size_t dir = bpath;
    while (dir > 0 && btarget[dir - 1] != '/')
      dir--;
    size_t plen = strcspn(r, "?");
    char *m = iom__malloc(dir + plen + 2);
    err = -ENOMEM;
    if (m) {
      memcpy(m, btarget, dir);
      memcpy(m + dir, r, plen);
      err = with_target(base, m, dir + plen, r + plen, out);
      iom__free(m);
    }
  }
  iom__free(r);
  return err;
}
