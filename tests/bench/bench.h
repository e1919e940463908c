/*
 * Shared helpers of the benchmarks: number formatting and medians.
 * Header-only; include after the system headers.
 */
#ifndef KSCHED_BENCH_H
#define KSCHED_BENCH_H

#include <stdio.h>
#include <stdlib.h>

/* v with thousands separators, no decimals. */
static inline const char *
fmt_count(double v, char *buf, size_t len)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%.0f", v);
	size_t o = 0;

	for (int i = 0; i < n && o + 2 < len; i++) {
		if (i > 0 && tmp[i - 1] != '-' && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

static inline int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v). */
static inline double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
