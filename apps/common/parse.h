/* apps/common: numbers given on the command line.
 *
 * Each takes all of `s` or nothing: an empty string, characters after the
 * number, or a value outside [lo, hi] is refused, and *out is left as it
 * was, so the caller can name the option and the bad value. Leading white
 * space and a sign are accepted, as strtol()/strtod() accept them. */
#ifndef IOMUX_APP_PARSE_H
#define IOMUX_APP_PARSE_H

/* A decimal whole number in [lo, hi]. Returns 0 and sets *out, or -1.
 * Any thread. */
int app_parse_long(const char *s, long lo, long hi, long *out);

/* The same, for an int (ports, counts). Returns 0 and sets *out, or -1.
 * Any thread. */
int app_parse_int(const char *s, int lo, int hi, int *out);

/* A size in bytes: a whole number, optionally followed by k or m (KiB,
 * MiB; either case), in [lo, hi] once multiplied. Returns 0 and sets *out,
 * or -1. Any thread. */
int app_parse_bytes(const char *s, long lo, long hi, long *out);

/* A number in strtod() syntax ("2", "0.5", "1e3") in [lo, hi]; NaN is
 * refused. Returns 0 and sets *out, or -1. Any thread. */
int app_parse_double(const char *s, double lo, double hi, double *out);

#endif
