/* iomux-bench: a latency histogram with log buckets, HdrHistogram-like.
 *
 * Values (nanoseconds) below 128 have a bucket each; above, every power of
 * two is split into 128 linear sub-buckets, so a bucket is at most 1/128 of
 * its lowest value wide. A percentile is the middle of its bucket: within
 * 0.4% of the true value, and within 1% once rounded to the 3 significant
 * digits that this supports (hist_significant). Values from 2^40 ns (18
 * minutes) on share the last bucket; min and max stay exact.
 *
 * 4,352 buckets, 34 KiB. Recording is O(1) (a count-leading-zeros and a
 * shift) and never allocates; histograms of several processes merge by
 * adding buckets. The struct is plain data: it may be sent through a pipe
 * as it is.
 */
#ifndef IOMUX_BENCH_HISTOGRAM_H
#define IOMUX_BENCH_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_RANGE_BITS 40
#define HIST_BUCKETS (HIST_SUB + (HIST_RANGE_BITS - HIST_SUB_BITS) * HIST_SUB)
/* The significant digits a percentile is given to, and the bound on its
 * relative error once rounded to them, for reports to state. */
#define HIST_DIGITS 3
#define HIST_ERROR_PCT 1

typedef struct histogram {
  uint64_t count, sum, min, max;
  uint64_t buckets[HIST_BUCKETS];
} histogram;

void hist_init(histogram *h);
void hist_record(histogram *h, uint64_t value);

/* Add `from` into `into`. */
void hist_merge(histogram *into, const histogram *from);

/* The value at percentile p (0-100]: the middle of the bucket that holds
 * it, kept within the smallest and largest values recorded. 0 when empty.
 * Full precision: round with hist_significant before printing. */
uint64_t hist_percentile(const histogram *h, double p);

/* v rounded to HIST_DIGITS significant digits: 32767 -> 32800. */
uint64_t hist_significant(uint64_t v);

/* The mean, 0 when empty. */
double hist_mean(const histogram *h);

#endif
