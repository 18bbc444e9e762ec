/* The load generator's latency histogram (apps/bench/histogram.h): known
 * values in, percentiles out within 1% once rounded to the digits the
 * reports print; exact below 128 ns; merging adds; values past the range
 * keep an exact maximum; and the struct stays small. */
#include "histogram.h"
#include "suite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static histogram *new_hist(void) {
  histogram *h = malloc(sizeof *h);
  assert_non_null(h);
  hist_init(h);
  return h;
}

/* |got - want| <= 1% of want, with both printed when not. */
static void assert_within_1pct(uint64_t got, double want) {
  if (fabs((double)got - want) > want * HIST_ERROR_PCT / 100.0)
    fail_msg("got %llu, want %.0f within %d%%", (unsigned long long)got, want,
             HIST_ERROR_PCT);
}

static void test_empty(void **state) {
  (void)state;
  histogram *h = new_hist();
  assert_int_equal(hist_percentile(h, 50), 0);
  assert_int_equal(hist_percentile(h, 100), 0);
  assert_true(hist_mean(h) == 0.0);
  free(h);
}

static void test_small_values_exact(void **state) {
  (void)state;
  histogram *h = new_hist();
  for (uint64_t v = 1; v <= 100; v++)
    hist_record(h, v);
  assert_int_equal(hist_percentile(h, 1), 1);
  assert_int_equal(hist_percentile(h, 50), 50);
  assert_int_equal(hist_percentile(h, 99), 99);
  assert_int_equal(hist_percentile(h, 100), 100);
  assert_true(hist_mean(h) == 50.5);
  free(h);
}

/* 1..1,000,000 ns once each: the p-th percentile is p * 10,000. */
static void test_uniform(void **state) {
  (void)state;
  static const double ps[] = {1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};
  histogram *h = new_hist();
  for (uint64_t v = 1; v <= 1000000; v++)
    hist_record(h, v);
  for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
    uint64_t got = hist_percentile(h, ps[i]);
    assert_within_1pct(got, ps[i] * 10000);
    assert_within_1pct(hist_significant(got), ps[i] * 10000);
  }
  assert_int_equal(hist_percentile(h, 100), 1000000);
  free(h);
}

/* One value v among a smaller and a larger one: the median is v's bucket,
 * read without the min/max clamp. Every v from 1 ns to ~9 minutes, in
 * steps of 0.3%, so every stretch of every power of two is tried. */
static void test_error_bound_everywhere(void **state) {
  (void)state;
  histogram *h = new_hist();
  for (double x = 1; x < (double)(UINT64_C(1) << 39); x *= 1.003) {
    uint64_t v = (uint64_t)x;
    hist_init(h);
    hist_record(h, 0);
    hist_record(h, v);
    hist_record(h, UINT64_C(1) << 41);
    uint64_t got = hist_percentile(h, 50);
    assert_within_1pct(got, (double)v);
    assert_within_1pct(hist_significant(got), (double)v);
    if (fabs((double)got - (double)v) > (double)v / 256 + 0.5)
      fail_msg("%llu read as %llu: more than half a bucket off",
               (unsigned long long)v, (unsigned long long)got);
  }
  free(h);
}

/* The old 12.5% buckets read 29 and 31 us both as 32.8 us. */
static void test_neighbours_apart(void **state) {
  (void)state;
  histogram *h = new_hist();
  for (int i = 0; i < 50; i++)
    hist_record(h, 29000);
  for (int i = 0; i < 50; i++)
    hist_record(h, 31000);
  assert_int_equal(hist_significant(hist_percentile(h, 25)), 29000);
  assert_int_equal(hist_significant(hist_percentile(h, 75)), 31000);
  free(h);
}

static void test_constant_is_exact(void **state) {
  (void)state;
  histogram *h = new_hist();
  for (int i = 0; i < 1000; i++)
    hist_record(h, 32768);
  assert_int_equal(hist_percentile(h, 50), 32768);
  assert_int_equal(hist_percentile(h, 99.9), 32768);
  free(h);
}

static void test_merge_adds(void **state) {
  (void)state;
  histogram *a = new_hist(), *b = new_hist(), *all = new_hist();
  for (uint64_t v = 1000; v < 200000; v += 7) {
    hist_record(v % 2 ? a : b, v);
    hist_record(all, v);
  }
  hist_merge(a, b);
  assert_int_equal(a->count, all->count);
  assert_int_equal(a->min, all->min);
  assert_int_equal(a->max, all->max);
  for (double p = 1; p <= 100; p += 1.5)
    assert_int_equal(hist_percentile(a, p), hist_percentile(all, p));
  free(a), free(b), free(all);
}

/* Past 2^40 ns values share the last bucket; the maximum stays exact. */
static void test_beyond_range(void **state) {
  (void)state;
  histogram *h = new_hist();
  uint64_t huge = UINT64_C(1) << 50;
  hist_record(h, 1000);
  hist_record(h, huge);
  assert_int_equal(hist_percentile(h, 100), huge);
  assert_int_equal(h->max, huge);
  assert_within_1pct(hist_percentile(h, 50), 1000);
  free(h);
}

static void test_significant(void **state) {
  (void)state;
  assert_int_equal(hist_significant(0), 0);
  assert_int_equal(hist_significant(999), 999);
  assert_int_equal(hist_significant(32767), 32800);
  assert_int_equal(hist_significant(13631487), 13600000);
  assert_int_equal(hist_significant(99950), 100000);
  assert_int_equal(hist_significant(UINT64_MAX), UINT64_MAX);
}

/* Small enough to keep per process and to send through a pipe. */
static void test_small(void **state) {
  (void)state;
  assert_true(sizeof(histogram) <= 40 * 1024);
}

int main(int argc, char **argv) {
  static const suite_case cases[] = {
      SUITE_CASE(test_empty),
      SUITE_CASE(test_small_values_exact),
      SUITE_CASE(test_uniform),
      SUITE_CASE(test_error_bound_everywhere),
      SUITE_CASE(test_neighbours_apart),
      SUITE_CASE(test_constant_is_exact),
      SUITE_CASE(test_merge_adds),
      SUITE_CASE(test_beyond_range),
      SUITE_CASE(test_significant),
      SUITE_CASE(test_small),
  };
  return SUITE_RUN("histogram", cases, argc > 1 ? argv[1] : NULL);
}
