/* Unit tests for the metrics registry and its text exposition. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "ksched/metrics.h"

static char *
text(ksched_metrics *r)
{
	char *out;
	size_t len;

	assert_int_equal(ksched_metrics_write(r, &out, &len), 0);
	assert_int_equal(strlen(out), len);
	return out;
}

/* The whole output of a small registry, byte for byte. */
static void
test_metrics_exact_text(void **state)
{
	static const double b[] = {0.01, 0.1, 1};
	ksched_metrics *r;
	ksched_metric *c, *g, *h;
	char *out;

	(void)state;
	assert_int_equal(ksched_metrics_new(&r), 0);
	out = text(r);
	assert_string_equal(out, "");
	ksched_free(out);
	assert_int_equal(ksched_metrics_add(r, KSCHED_METRIC_COUNTER,
					    "ks_done_total", "Tasks done.",
					    NULL, &c),
			 0);
	assert_int_equal(ksched_metrics_add(r, KSCHED_METRIC_GAUGE, "ks_tasks",
					    "Tasks per state.", "state", &g),
			 0);
	assert_int_equal(ksched_metrics_add_histogram(r, "ks_wait_seconds",
						      "Wait.", b, 3, &h),
			 0);
	assert_int_equal(ksched_metric_add(c, NULL, 2), 0);
	assert_int_equal(ksched_metric_add(c, NULL, 1), 0);
	assert_int_equal(ksched_metric_set(g, "ready", 4), 0);
	assert_int_equal(ksched_metric_set(g, "leased", 0.5), 0);
	assert_int_equal(ksched_metric_add(g, "ready", -1), 0);
	ksched_metric_observe(h, 0.005);
	ksched_metric_observe(h, 0.1); /* on an edge: in le="0.1" */
	ksched_metric_observe(h, 7);
	out = text(r);
	assert_string_equal(out,
			    "# HELP ks_done_total Tasks done.\n"
			    "# TYPE ks_done_total counter\n"
			    "ks_done_total 3\n"
			    "# HELP ks_tasks Tasks per state.\n"
			    "# TYPE ks_tasks gauge\n"
			    "ks_tasks{state=\"ready\"} 3\n"
			    "ks_tasks{state=\"leased\"} 0.5\n"
			    "# HELP ks_wait_seconds Wait.\n"
			    "# TYPE ks_wait_seconds histogram\n"
			    "ks_wait_seconds_bucket{le=\"0.01\"} 1\n"
			    "ks_wait_seconds_bucket{le=\"0.1\"} 2\n"
			    "ks_wait_seconds_bucket{le=\"1\"} 2\n"
			    "ks_wait_seconds_bucket{le=\"+Inf\"} 3\n"
			    "ks_wait_seconds_sum 7.105\n"
			    "ks_wait_seconds_count 3\n");
	ksched_free(out);
	assert_true(ksched_metric_value(c, NULL) == 3);
	assert_true(ksched_metric_value(g, "ready") == 3);
	assert_true(ksched_metric_value(g, "none") == 0);
	assert_true(ksched_metric_value(h, NULL) == 3);
	ksched_metrics_free(r);
	ksched_metrics_free(NULL);
}

/* Bucket edges: v <= bound goes in that bucket; counts are cumulative. */
static void
test_metrics_bucket_edges(void **state)
{
	static const double b[] = {1, 2};
	ksched_metrics *r;
	ksched_metric *h;
	char *out;

	(void)state;
	assert_int_equal(ksched_metrics_new(&r), 0);
	assert_int_equal(ksched_metrics_add_histogram(r, "h", "", b, 2, &h),
			 0);
	ksched_metric_observe(h, -5);
	ksched_metric_observe(h, 1);
	ksched_metric_observe(h, nextafter(1, 2));
	ksched_metric_observe(h, 2);
	ksched_metric_observe(h, INFINITY);
	ksched_metric_observe(h, NAN); /* ignored */
	out = text(r);
	assert_non_null(strstr(out, "h_bucket{le=\"1\"} 2\n"
				    "h_bucket{le=\"2\"} 4\n"
				    "h_bucket{le=\"+Inf\"} 5\n"
				    "h_sum +Inf\nh_count 5\n"));
	ksched_free(out);
	ksched_metrics_free(r);
}

/* Label values and help lines are escaped as the format says. */
static void
test_metrics_escaping(void **state)
{
	ksched_metrics *r;
	ksched_metric *g;
	char *out;

	(void)state;
	assert_int_equal(ksched_metrics_new(&r), 0);
	assert_int_equal(ksched_metrics_add(r, KSCHED_METRIC_GAUGE, "g",
					    "a \\ b\nc \"q\"", "w", &g),
			 0);
	assert_int_equal(ksched_metric_set(g, "x\"y\\z\nw", 1), 0);
	out = text(r);
	assert_string_equal(out, "# HELP g a \\\\ b\\nc \"q\"\n"
				 "# TYPE g gauge\n"
				 "g{w=\"x\\\"y\\\\z\\nw\"} 1\n");
	ksched_free(out);
	ksched_metrics_free(r);
}

/* Bad names, bounds and uses are refused and change nothing. */
static void
test_metrics_bad_input(void **state)
{
	static const double up[] = {1, 1}, inf[] = {1, INFINITY};
	ksched_metrics *r;
	ksched_metric *m, *c;
	char *out;

	(void)state;
	assert_int_equal(ksched_metrics_new(&r), 0);
	assert_int_equal(ksched_metrics_add(r, KSCHED_METRIC_GAUGE, "9x", "",
					    NULL, &m),
			 KSCHED_EINVAL);
	assert_null(m);
	assert_int_equal(ksched_metrics_add(r, KSCHED_METRIC_GAUGE, "a-b", "",
					    NULL, &m),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_metrics_add(r, KSCHED_METRIC_GAUGE, "a", "",
					    "l:x", &m),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_metrics_add(r, KSCHED_METRIC_GAUGE, "a", "",
					    "le", &m),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_metrics_add(r, KSCHED_METRIC_HISTOGRAM, "a",
					    "", NULL, &m),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_metrics_add_histogram(r, "h", "", up, 2, &m),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_metrics_add_histogram(r, "h", "", inf, 2, &m),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_metrics_add_histogram(r, "h", "", up, 0, &m),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_metrics_add(r, KSCHED_METRIC_COUNTER, "a:b_c",
					    "", NULL, &c),
			 0);
	assert_int_equal(ksched_metrics_add(r, KSCHED_METRIC_GAUGE, "a:b_c",
					    "", NULL, &m),
			 KSCHED_EEXIST);
	assert_int_equal(ksched_metric_add(c, NULL, -1), KSCHED_EINVAL);
	assert_int_equal(ksched_metric_add(c, NULL, NAN), KSCHED_EINVAL);
	out = text(r);
	assert_string_equal(out, "# HELP a:b_c \n# TYPE a:b_c counter\n");
	ksched_free(out);
	ksched_metrics_free(r);
}

/* Every allocation failure is reported and leaves a usable registry. */
static void
test_metrics_alloc_failure(void **state)
{
	static const double b[] = {1};
	int ok = 0;

	(void)state;
	for (long n = 0; n < 40 && !ok; n++) {
		ksched_metrics *r = NULL;
		ksched_metric *g = NULL, *h = NULL;
		char *out = NULL;
		size_t len;
		ksched_err e;

		ksched__alloc_fail_after(n);
		e = ksched_metrics_new(&r);
		if (!e)
			e = ksched_metrics_add(r, KSCHED_METRIC_GAUGE, "g", "",
					       "s", &g);
		if (!e)
			e = ksched_metrics_add_histogram(r, "h", "", b, 1, &h);
		if (!e)
			e = ksched_metric_set(g, "a", 1);
		if (!e)
			e = ksched_metrics_write(r, &out, &len);
		ksched__alloc_fail_after(-1);
		if (!e) {
			assert_non_null(strstr(out, "g{s=\"a\"} 1\n"));
			ok = 1;
		} else {
			assert_int_equal(e, KSCHED_ENOMEM);
			assert_null(out);
		}
		ksched_free(out);
		ksched_metrics_free(r);
	}
	assert_true(ok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_exact_text),
		cmocka_unit_test(test_metrics_bucket_edges),
		cmocka_unit_test(test_metrics_escaping),
		cmocka_unit_test(test_metrics_bad_input),
		cmocka_unit_test(test_metrics_alloc_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
