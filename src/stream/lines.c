/* The line framer: split a byte stream into lines of bounded length.
 *
 * Complete lines are handed out straight from the caller's buffer; only the
 * unfinished tail is copied, into a buffer that grows as that line does and
 * is freed as soon as the line is complete. A line longer than the maximum
 * is reported once and skipped up to its newline, so a peer that sends
 * megabytes without a newline costs at most max_line bytes here.
 */
#include "iomux/stream.h"

#include "../core/alloc_internal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

struct iom_lines {
  size_t max;
  char *buf;    /* the unfinished line, NULL when there is none */
  int len, cap;
  int skipping; /* inside an overlong line: drop up to the next newline */
};

int iom_lines_new(size_t max_line, iom_lines **out) {
  if (max_line == 0 || max_line >= INT_MAX / 2)
    return -EINVAL;
  iom_lines *lf = iom__calloc(1, sizeof *lf);
  if (!lf)
    return -ENOMEM;
  lf->max = max_line;
  *out = lf;
  return 0;
}

static void drop_held(iom_lines *lf) {
  iom__free(lf->buf);
  lf->buf = NULL;
  lf->len = lf->cap = 0;
}

void iom_lines_free(iom_lines *lf) {
  if (!lf)
    return;
  drop_held(lf);
  iom__free(lf);
}

size_t iom_lines_pending(const iom_lines *lf) { return (size_t)lf->len; }

/* One line, its newline cut off: without a final \r, or refused if long. */
static int deliver(const iom_lines *lf, const char *line, size_t n,
                   iom_line_cb cb, void *data) {
  if (n > 0 && line[n - 1] == '\r')
    n--;
  return n > lf->max ? cb(data, NULL, 0, -EMSGSIZE) : cb(data, line, n, 0);
}

/* Append to the held line. The +1 leaves room for a \r before the newline.
 * Returns 0, 1 when the line is now too long (dropped), or -ENOMEM. */
static int hold(iom_lines *lf, const char *p, size_t n) {
  if ((size_t)lf->len + n > lf->max + 1) {
    drop_held(lf);
    return 1;
  }
  void *buf = lf->buf;
  if (iom__grow(&buf, &lf->cap, lf->len + (int)n, 1, 64) < 0)
    return -ENOMEM;
  lf->buf = buf;
  memcpy(lf->buf + lf->len, p, n);
  lf->len += (int)n;
  return 0;
}

static int partial_line(iom_lines *lf, const char *p, size_t n,
                        iom_line_cb cb, void *data) {
  if (lf->skipping)
    return 0;
  int rc = hold(lf, p, n);
  if (rc != 1)
    return rc;
  lf->skipping = 1;
  return cb(data, NULL, 0, -EMSGSIZE);
}

static int complete_line(iom_lines *lf, const char *p, size_t n,
                         iom_line_cb cb, void *data) {
  if (lf->skipping) {
    lf->skipping = 0;
    return 0;
  }
  if (lf->len == 0)
    return deliver(lf, p, n, cb, data);
  int rc = hold(lf, p, n);
  if (rc == 1)
    return cb(data, NULL, 0, -EMSGSIZE);
  if (rc < 0)
    return rc;
  char *line = lf->buf;
  size_t len = (size_t)lf->len;
  lf->buf = NULL;
  lf->len = lf->cap = 0;
  rc = deliver(lf, line, len, cb, data);
  iom__free(line);
  return rc;
}

int iom_lines_feed(iom_lines *lf, const char *buf, size_t len, iom_line_cb cb,
                   void *data) {
  const char *end = buf + len;
  while (buf < end) {
    const char *nl = memchr(buf, '\n', (size_t)(end - buf));
    size_t piece = (size_t)((nl ? nl : end) - buf);
    int rc = nl ? complete_line(lf, buf, piece, cb, data)
                : partial_line(lf, buf, piece, cb, data);
    if (rc != 0)
      return rc;
    buf += piece + (nl != NULL);
  }
  return 0;
}
