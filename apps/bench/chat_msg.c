/* iomux-bench chat: the message text, made and checked, and the split of
 * an IRC line. Both run once per delivery (a million times a second at
 * full load), so they parse by hand, without sscanf or copies. */
#include "chat.h"

#include <string.h>

static size_t put_u64(char *dst, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    dst[i] = tmp[n - 1 - i];
  return n;
}

/* Letter j of the body of (id, seq). */
static char body_at(uint32_t id, uint32_t seq, size_t j) {
  return (char)('a' + (id * 7u + seq + j) % 26u);
}

size_t chat_text_build(char *dst, int size, uint32_t id, uint32_t seq,
                       uint64_t t_ns) {
  size_t n = put_u64(dst, id);
  dst[n++] = ' ';
  n += put_u64(dst + n, seq);
  dst[n++] = ' ';
  n += put_u64(dst + n, t_ns);
  dst[n++] = ' ';
  for (size_t j = 0; n < (size_t)size; j++)
    dst[n++] = body_at(id, seq, j);
  return n;
}

/* A decimal number ending in a space; advances *p past the space. */
static int get_u64(const char **p, const char *end, uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;
  if (s == end || *s < '0' || *s > '9')
    return -1;
  while (s < end && *s >= '0' && *s <= '9') {
    if (v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(*s++ - '0');
  }
  if (s == end || *s != ' ')
    return -1;
  *p = s + 1;
  *out = v;
  return 0;
}

int chat_text_parse(const char *text, size_t len, int size, uint32_t *id,
                    uint32_t *seq, uint64_t *t_ns) {
  const char *p = text, *end = text + len;
  uint64_t a, b, t;
  if (len != (size_t)size || get_u64(&p, end, &a) < 0 ||
      get_u64(&p, end, &b) < 0 || get_u64(&p, end, &t) < 0 ||
      a > UINT32_MAX || b > UINT32_MAX)
    return -1;
  char want = body_at((uint32_t)a, (uint32_t)b, 0);
  for (; p < end; p++, want = want == 'z' ? 'a' : (char)(want + 1))
    if (*p != want)
      return -1;
  *id = (uint32_t)a;
  *seq = (uint32_t)b;
  *t_ns = t;
  return 0;
}

/* [":" prefix " "] command [" " target] [... " :" text]. The nick is the
 * prefix up to '!'; the text is the trailing parameter, or the last
 * middle one. */
int irc_split(const char *line, size_t len, irc_line *out) {
  const char *p = line, *end = line + len;
  memset(out, 0, sizeof *out);
  if (p < end && *p == ':') {
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp)
      return -1;
    const char *bang = memchr(p, '!', (size_t)(sp - p));
    out->nick = p + 1;
    out->nick_len = (size_t)((bang ? bang : sp) - out->nick);
    p = sp + 1;
  }
  while (p < end && *p == ' ')
    p++;
  if (p == end)
    return -1;
  out->cmd = p;
  while (p < end && *p != ' ')
    p++;
  out->cmd_len = (size_t)(p - out->cmd);
  while (p < end && *p == ' ')
    p++;
  if (p < end && *p != ':') {
    out->target = p;
    while (p < end && *p != ' ')
      p++;
    out->target_len = (size_t)(p - out->target);
    out->text = out->target; /* the last parameter, until a later one */
    out->text_len = out->target_len;
  }
  while (p < end) {
    while (p < end && *p == ' ')
      p++;
    if (p < end && *p == ':') {
      out->text = p + 1;
      out->text_len = (size_t)(end - p - 1);
      break;
    }
    if (p == end)
      break;
    out->text = p;
    while (p < end && *p != ' ')
      p++;
    out->text_len = (size_t)(p - out->text);
  }
  return 0;
}
