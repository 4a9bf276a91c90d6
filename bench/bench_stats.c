#include "bench_stats.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least p of the samples at or below it. */
static double rank(const double *sorted, size_t n, double p)
{
	size_t k = (size_t)ceil(p * (double)n);
	if (k == 0)
		k = 1;
	if (k > n)
		k = n;
	return sorted[k - 1];
}

struct bench_summary bench_summarise(double *v, size_t n)
{
	struct bench_summary s = {0};
	size_t kept = 0;
	double sum = 0;

	/* Move the NaNs out, then sort what is left. */
	for (size_t i = 0; i < n; i++) {
		if (!isnan(v[i]))
			v[kept++] = v[i];
	}
	if (kept == 0)
		return s;
	qsort(v, kept, sizeof(v[0]), compare_double);
	for (size_t i = 0; i < kept; i++)
		sum += v[i];
	s.count = kept;
	s.p50 = rank(v, kept, 0.50);
	s.p90 = rank(v, kept, 0.90);
	s.p99 = rank(v, kept, 0.99);
	s.max = v[kept - 1];
	s.mean = sum / (double)kept;
	return s;
}

void bench_kv(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%s=", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

void bench_print_summary(const char *prefix, const struct bench_summary *s)
{
	char key[128];

	snprintf(key, sizeof(key), "%s_count", prefix);
	bench_kv(key, "%zu", s->count);
	snprintf(key, sizeof(key), "%s_p50_ms", prefix);
	bench_kv(key, "%.3f", s->p50);
	snprintf(key, sizeof(key), "%s_p90_ms", prefix);
	bench_kv(key, "%.3f", s->p90);
	snprintf(key, sizeof(key), "%s_p99_ms", prefix);
	bench_kv(key, "%.3f", s->p99);
	snprintf(key, sizeof(key), "%s_max_ms", prefix);
	bench_kv(key, "%.3f", s->max);
	snprintf(key, sizeof(key), "%s_mean_ms", prefix);
	bench_kv(key, "%.3f", s->mean);
}
