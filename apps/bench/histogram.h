/* iomux-bench: a latency histogram with log buckets, HdrHistogram-like.
 *
 * Values (nanoseconds) below 8 have a bucket each; above, every power of two
 * is split into 8 sub-buckets, so a value is known to within 12.5% with 496
 * fixed buckets for the whole uint64 range. Recording is O(1) and never
 * allocates; histograms of several processes merge by adding buckets. The
 * struct is plain data: it may be sent through a pipe as it is.
 */
#ifndef IOMUX_BENCH_HISTOGRAM_H
#define IOMUX_BENCH_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 3
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (HIST_SUB + (64 - HIST_SUB_BITS) * HIST_SUB)

typedef struct histogram {
  uint64_t count, sum, min, max;
  uint64_t buckets[HIST_BUCKETS];
} histogram;

void hist_init(histogram *h);
void hist_record(histogram *h, uint64_t value);

/* Add `from` into `into`. */
void hist_merge(histogram *into, const histogram *from);

/* The value at percentile p (0-100]: the highest value of the bucket that
 * holds it, never above the largest value recorded. 0 when empty. */
uint64_t hist_percentile(const histogram *h, double p);

/* The mean, 0 when empty. */
double hist_mean(const histogram *h);

#endif
