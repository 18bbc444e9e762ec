/* iomux-chatd: case-insensitive name tables (nicknames, channels).
 *
 * IRC compares names under a case mapping, announced in ISUPPORT; this is
 * CASEMAPPING=rfc1459: ASCII letters, and []\~ as the upper case of {}|^
 * (Scandinavian letters on old keyboards). The table is open addressing
 * with linear probing and backward-shift deletion (no tombstones): lookups,
 * inserts and deletes are O(1) on average, and a slot is 24 bytes.
 */
#ifndef IOMUX_CHAT_NAMES_H
#define IOMUX_CHAT_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* rfc1459 lower case of one byte, and the comparisons built on it. */
unsigned char chat_lower(unsigned char c);
int chat_casecmp(const char *a, const char *b);
/* Glob match under the same case mapping: '*' any run, '?' one byte. */
int chat_match(const char *glob, const char *s);

typedef struct chat_name_slot {
  const char *key; /* NULL: empty. Points into the named object. */
  void *val;
  uint32_t hash;
} chat_name_slot;

typedef struct chat_names {
  chat_name_slot *slots;
  size_t mask; /* slots - 1; the slot count is a power of two */
  size_t count;
} chat_names;

/* An empty table (allocates nothing until the first add). */
void chat_names_init(chat_names *t);
void chat_names_fini(chat_names *t);

/* The value named `name` (any case), or NULL. */
void *chat_names_get(const chat_names *t, const char *name);

/* Add `key` -> val. The key is not copied: it must stay unchanged while it
 * is in the table (delete it before changing it). The name must not be in
 * the table yet. Returns 0 or -ENOMEM. */
int chat_names_add(chat_names *t, const char *key, void *val);

/* Remove `name` (any case); nothing happens if it is not there. */
void chat_names_del(chat_names *t, const char *name);

/* Iterate: start with *pos = 0; returns the next value, or NULL at the end.
 * The table must not change during an iteration. */
void *chat_names_next(const chat_names *t, size_t *pos);

#endif
