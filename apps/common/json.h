/* apps/common: JSON output. */
#ifndef IOMUX_APP_JSON_H
#define IOMUX_APP_JSON_H

#include <stdio.h>

/* Write `s` to `to` as a JSON string: in double quotes, with '"' and '\'
 * escaped by a backslash and every byte below 32 as \u00XX. Other bytes,
 * UTF-8 included, go as they are. Returns nothing: write errors stay in the
 * stream (ferror) for the caller to check, as with fputs. Any thread: stdio
 * locks the stream. */
void app_json_string(const char *s, FILE *to);

#endif
