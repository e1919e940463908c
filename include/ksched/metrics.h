/*
 * libksched - metrics: counters, gauges and histograms with output in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * A registry holds metric families in the order they were added.  A family
 * has a name, a help line, a type and at most one label (for per-state
 * series such as ksched_tasks{state="ready"}); a histogram has fixed bucket
 * upper bounds chosen when it is added, and no label.
 *
 * Not thread safe: a registry is used from one thread (the master's and
 * the worker's event loops) or under the caller's lock.
 */
#ifndef KSCHED_METRICS_H
#define KSCHED_METRICS_H

#include <stddef.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ksched_metrics ksched_metrics;
typedef struct ksched_metric ksched_metric;

enum ksched_metric_type {
	KSCHED_METRIC_COUNTER = 0,
	KSCHED_METRIC_GAUGE = 1,
	KSCHED_METRIC_HISTOGRAM = 2,
};

/* Upper bounds of a histogram: at most this many (+Inf is implied). */
#define KSCHED_METRIC_BUCKETS_MAX 32

/* ksched_metrics_new: an empty registry; free it with ksched_metrics_free. */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_metrics_new(ksched_metrics **out);

/* ksched_metrics_free: the registry and its families; NULL is a no-op. */
KSCHED_API void ksched_metrics_free(ksched_metrics *r);

/*
 * ksched_metrics_add: a counter or gauge family.  name must match
 * [a-zA-Z_:][a-zA-Z0-9_:]* and be new in r; label (NULL for none) must
 * match [a-zA-Z_][a-zA-Z0-9_]*.  Strings are copied.  *out is borrowed: it
 * lives as long as r.  KSCHED_EINVAL for a bad name, KSCHED_EEXIST for a
 * name taken.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_metrics_add(ksched_metrics *r, enum ksched_metric_type type,
		   const char *name, const char *help, const char *label,
		   ksched_metric **out);

/*
 * ksched_metrics_add_histogram: a histogram family with n (1 to
 * KSCHED_METRIC_BUCKETS_MAX) finite, strictly increasing upper bounds.
 * Output has the buckets (le="..." and le="+Inf", cumulative), _sum and
 * _count.  Same rules as ksched_metrics_add otherwise.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_metrics_add_histogram(
	ksched_metrics *r, const char *name, const char *help,
	const double *bounds, size_t n, ksched_metric **out);

/*
 * ksched_metric_set: the value of the series with label value lv (NULL for
 * a family without a label; any bytes, escaped on output).  A series is
 * created on first use and then always written.  For a counter, set it
 * from a count kept elsewhere that only grows.  KSCHED_ENOMEM if a new
 * series cannot be made; KSCHED_EINVAL on a histogram.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_metric_set(ksched_metric *m,
							 const char *lv,
							 double v);

/* ksched_metric_add: add v (>= 0 for a counter) to a series, as set. */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_metric_add(ksched_metric *m,
							 const char *lv,
							 double v);

/*
 * ksched_metric_observe: count v in a histogram: in the first bucket with
 * v <= bound (and +Inf), and in _sum and _count.  No-op on a non-histogram.
 */
KSCHED_API void ksched_metric_observe(ksched_metric *m, double v);

/*
 * ksched_metric_value: the value of a counter or gauge series (0 if it
 * does not exist); a histogram's _count.
 */
KSCHED_API double ksched_metric_value(const ksched_metric *m, const char *lv);

/*
 * ksched_metrics_write: the text exposition of every family, in the order
 * they were added: "# HELP", "# TYPE", then the samples.  *out is NUL
 * terminated, *len its length without the NUL; free it with ksched_free.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_metrics_write(const ksched_metrics *r, char **out, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_METRICS_H */
