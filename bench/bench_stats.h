/*
 * bench_stats: latency percentiles and key=value output for the driver.
 *
 * Percentiles are nearest-rank over every recorded sample (no histogram
 * buckets, no sampling): with at most a few hundred thousand samples per run
 * a sort is cheap, and the p99 is exact.
 *
 * Threads: stateless; callers own the arrays.
 */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stddef.h>

struct bench_summary {
	size_t count;
	double p50, p90, p99, max, mean; /* milliseconds; 0 when count is 0 */
};

/*
 * Summarises the samples v[0..n-1] (milliseconds), skipping NaNs (requests
 * that were never sent or failed). Sorts v in place.
 */
struct bench_summary bench_summarise(double *v, size_t n);

/* Prints "<prefix>_count=..", "<prefix>_p50_ms=..", ... one per line, on stdout. */
void bench_print_summary(const char *prefix, const struct bench_summary *s);

/* One "key=value" line on stdout; the value with printf formatting. */
void bench_kv(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
