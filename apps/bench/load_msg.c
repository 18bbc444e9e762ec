/* iomux-bench load: the messages, made and checked (see load.h). */
#include "load.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16    /* 8 hex digits of connection id, 8 of sequence number */
#define SHIFTS 64 /* starts of the body in the pattern */

static void header(uint32_t id, uint64_t seq, int upper, char out[HDR]) {
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  for (int i = 0; i < 8; i++) {
    out[7 - i] = digits[(id >> (4 * i)) & 15];
    out[15 - i] = digits[(seq >> (4 * i)) & 15];
  }
}

/* Byte i (>= HDR) of message (id, seq) is body(...)[i]. */
static const char *body(const payload *p, uint32_t id, uint64_t seq,
                        int upper) {
  return (upper ? p->caps : p->lower) + (id * 7u + seq) % SHIFTS;
}

/* Letters and digits, mostly lowercase so that --upper changes them. */
int payload_init(payload *p, int size, int upper) {
  static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  size_t len = (size_t)size + SHIFTS;
  *p = (payload){.size = (size_t)size, .upper = upper};
  p->lower = malloc(len);
  p->caps = malloc(len);
  if (!p->lower || !p->caps)
    return -ENOMEM;
  uint32_t x = 2463534242u; /* xorshift32: the same bytes every run */
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    char c = set[x % (sizeof set - 1)];
    p->lower[i] = c;
    p->caps[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
  }
  return 0;
}

void payload_free(payload *p) {
  free(p->lower);
  free(p->caps);
  p->lower = p->caps = NULL;
}

void payload_build(const payload *p, uint32_t id, uint64_t seq, char *dst) {
  char h[HDR];
  header(id, seq, 0, h);
  memcpy(dst, h, p->size < HDR ? p->size : HDR);
  if (p->size > HDR)
    memcpy(dst + HDR, body(p, id, seq, 0) + HDR, p->size - HDR);
}

long payload_check(const payload *p, uint32_t id, uint64_t seq, size_t off,
                   const char *buf, size_t m, char *expected) {
  size_t i = 0;
  if (off < HDR) {
    char h[HDR];
    header(id, seq, p->upper, h);
    for (; i < m && off + i < HDR; i++)
      if (buf[i] != h[off + i])
        return *expected = h[off + i], (long)i;
  }
  const char *b = body(p, id, seq, p->upper) + off;
  if (i < m && memcmp(buf + i, b + i, m - i) != 0)
    for (; i < m; i++)
      if (buf[i] != b[i])
        return *expected = b[i], (long)i;
  return -1;
}
