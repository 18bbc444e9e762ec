/* iomux-chatd: case-insensitive name tables (see names.h). */
#include "names.h"

#include <errno.h>
#include <stdlib.h>

#define MIN_SLOTS 16

unsigned char chat_lower(unsigned char c) {
  /* A-Z [ \ ] ^ are 65-94; a-z { | } ~ are 32 above them. */
  return c >= 'A' && c <= '^' ? (unsigned char)(c + 32) : c;
}

int chat_casecmp(const char *a, const char *b) {
  const unsigned char *p = (const unsigned char *)a;
  const unsigned char *q = (const unsigned char *)b;
  while (*p && chat_lower(*p) == chat_lower(*q))
    p++, q++;
  return chat_lower(*p) - chat_lower(*q);
}

int chat_match(const char *glob, const char *s) {
  const char *star = NULL, *resume = NULL;
  while (*s) {
    if (*glob == '*') {
      star = ++glob;
      resume = s;
    } else if (*glob == '?' || (*glob && chat_lower((unsigned char)*glob) ==
                                             chat_lower((unsigned char)*s))) {
      glob++, s++;
    } else if (star) {
      glob = star;
      s = ++resume;
    } else {
      return 0;
    }
  }
  while (*glob == '*')
    glob++;
  return *glob == '\0';
}

/* FNV-1a over the lower-cased bytes. */
static uint32_t hash(const char *name) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    h = (h ^ chat_lower(*p)) * 16777619u;
  return h;
}

void chat_names_init(chat_names *t) { *t = (chat_names){0}; }

void chat_names_fini(chat_names *t) {
  free(t->slots);
  chat_names_init(t);
}

static size_t find(const chat_names *t, const char *name, uint32_t h) {
  size_t i = h & t->mask;
  while (t->slots[i].key &&
         (t->slots[i].hash != h || chat_casecmp(t->slots[i].key, name) != 0))
    i = (i + 1) & t->mask;
  return i;
}

void *chat_names_get(const chat_names *t, const char *name) {
  if (!t->slots)
    return NULL;
  return t->slots[find(t, name, hash(name))].val;
}

/* Keep the load at most 1/2 (probe runs stay short). */
static int grow(chat_names *t) {
  size_t n = t->slots ? (t->mask + 1) * 2 : MIN_SLOTS;
  chat_name_slot *slots = calloc(n, sizeof *slots);
  if (!slots)
    return -ENOMEM;
  chat_names old = *t;
  t->slots = slots;
  t->mask = n - 1;
  for (size_t i = 0; old.slots && i <= old.mask; i++)
    if (old.slots[i].key)
      t->slots[find(t, old.slots[i].key, old.slots[i].hash)] = old.slots[i];
  free(old.slots);
  return 0;
}

int chat_names_add(chat_names *t, const char *key, void *val) {
  if ((!t->slots || (t->count + 1) * 2 > t->mask + 1) && grow(t) < 0)
    return -ENOMEM;
  uint32_t h = hash(key);
  t->slots[find(t, key, h)] = (chat_name_slot){key, val, h};
  t->count++;
  return 0;
}

/* Backward-shift deletion: move later entries of the probe run into the
 * hole when their home slot allows, so lookups never need tombstones. */
void chat_names_del(chat_names *t, const char *name) {
  if (!t->slots)
    return;
  size_t hole = find(t, name, hash(name));
  if (!t->slots[hole].key)
    return;
  t->count--;
  for (size_t i = (hole + 1) & t->mask; t->slots[i].key;
       i = (i + 1) & t->mask) {
    size_t home = t->slots[i].hash & t->mask;
    /* Movable if home is not in (hole, i], cyclically. */
    if (((i - home) & t->mask) >= ((i - hole) & t->mask)) {
      t->slots[hole] = t->slots[i];
      hole = i;
    }
  }
  t->slots[hole] = (chat_name_slot){0};
}

void *chat_names_next(const chat_names *t, size_t *pos) {
  while (t->slots && *pos <= t->mask) {
    chat_name_slot *s = &t->slots[(*pos)++];
    if (s->key)
      return s->val;
  }
  return NULL;
}
