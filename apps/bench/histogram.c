/* iomux-bench: log-bucket latency histogram (see histogram.h). */
#include "histogram.h"

#include <string.h>

#define HIST_TOP ((UINT64_C(1) << HIST_RANGE_BITS) - 1)

/* Bucket of v: v itself below HIST_SUB; otherwise HIST_SUB sub-buckets per
 * power of two, picked by the HIST_SUB_BITS bits under the leading one. */
static unsigned bucket_of(uint64_t v) {
  if (v < HIST_SUB)
    return (unsigned)v;
  if (v > HIST_TOP)
    v = HIST_TOP;
  unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS */
  unsigned shift = e - HIST_SUB_BITS;
  unsigned sub = (unsigned)(v >> shift) & (HIST_SUB - 1);
  return HIST_SUB + shift * HIST_SUB + sub;
}

/* The middle of bucket i: at most half a bucket, 1/256 of its lowest
 * value, from anything in it. */
static uint64_t bucket_middle(unsigned i) {
  if (i < HIST_SUB)
    return i;
  unsigned shift = (i - HIST_SUB) / HIST_SUB;
  uint64_t sub = (i - HIST_SUB) % HIST_SUB;
  return ((HIST_SUB + sub) << shift) + (((uint64_t)1 << shift) >> 1);
}

void hist_init(histogram *h) {
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

void hist_record(histogram *h, uint64_t value) {
  h->buckets[bucket_of(value)]++;
  h->count++;
  h->sum += value;
  if (value < h->min)
    h->min = value;
  if (value > h->max)
    h->max = value;
}

void hist_merge(histogram *into, const histogram *from) {
  for (unsigned i = 0; i < HIST_BUCKETS; i++)
    into->buckets[i] += from->buckets[i];
  into->count += from->count;
  into->sum += from->sum;
  if (from->min < into->min)
    into->min = from->min;
  if (from->max > into->max)
    into->max = from->max;
}

uint64_t hist_percentile(const histogram *h, double p) {
  if (h->count == 0)
    return 0;
  uint64_t rank = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
  if (rank < 1)
    rank = 1;
  if (rank > h->count)
    rank = h->count;
  uint64_t seen = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= rank) {
      if (i == HIST_BUCKETS - 1) /* everything past the range: no middle */
        return h->max;
      uint64_t mid = bucket_middle(i);
      return mid > h->max ? h->max : mid < h->min ? h->min : mid;
    }
  }
  return h->max;
}

uint64_t hist_significant(uint64_t v) {
  uint64_t unit = 1, limit = 1;
  for (int i = 0; i < HIST_DIGITS; i++)
    limit *= 10;
  while (v / unit >= limit)
    unit *= 10;
  if (v > UINT64_MAX - unit / 2)
    return v; /* beyond any duration: nothing to round */
  return (v + unit / 2) / unit * unit;
}

double hist_mean(const histogram *h) {
  return h->count ? (double)h->sum / (double)h->count : 0.0;
}
