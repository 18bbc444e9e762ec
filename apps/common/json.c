/* apps/common: JSON output. */
#include "common/json.h"

void app_json_string(const char *s, FILE *to) {
  fputc('"', to);
  for (; *s; s++)
    if (*s == '"' || *s == '\\')
      fprintf(to, "\\%c", *s);
    else if ((unsigned char)*s < 32)
      fprintf(to, "\\u%04x", (unsigned)(unsigned char)*s);
    else
      fputc(*s, to);
  fputc('"', to);
}
