/* apps/common: numbers given on the command line. */
#include "common/parse.h"

#include <errno.h>
#include <stdlib.h>

int app_parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno == ERANGE || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

int app_parse_int(const char *s, int lo, int hi, int *out) {
  long v;
  if (app_parse_long(s, lo, hi, &v) < 0)
    return -1;
  *out = (int)v;
  return 0;
}

int app_parse_bytes(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10), unit = 1;
  if (end == s)
    return -1;
  if (*end == 'k' || *end == 'K')
    unit = 1024, end++;
  else if (*end == 'm' || *end == 'M')
    unit = 1024 * 1024, end++;
  if (*end != '\0' || errno == ERANGE || v < lo / unit ||
      v > hi / unit || v * unit < lo)
    return -1;
  *out = v * unit;
  return 0;
}

int app_parse_double(const char *s, double lo, double hi, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (*s == '\0' || *end != '\0' || !(v >= lo) || v > hi)
    return -1;
  *out = v;
  return 0;
}
