/*
 * Unit tests of the simulator's trace readers on the real traces of
 * ../shared/traces (or $KSCHED_TRACES): exact counts and a few exact
 * fields per trace.  Each test is skipped, saying why, when the folder is
 * absent.
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ksched/policy.h"
#include "ksched/sim.h"
#include "sim_trace_check.h"

/*
 * ../shared/traces next to the source tree, or $KSCHED_TRACES.  The test
 * runs from the source root (make's directory), and __FILE__ is relative
 * to it, or absolute.
 */
static const char *
traces_dir(void)
{
	static char dir[1024];
	const char *env = getenv("KSCHED_TRACES");
	const char *me = __FILE__, *tail = "tests/unit/test_sim_trace_real.c";
	size_t root =
	    strlen(me) >= strlen(tail) ? strlen(me) - strlen(tail) : 0;
	struct stat st;

	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	else
		snprintf(dir, sizeof(dir), "%.*s../shared/traces", (int)root,
			 me);
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? dir : NULL;
}

static char *
trace_path(const char *name)
{
	const char *dir = traces_dir();
	char *p;

	if (!dir) {
		print_message("traces folder not found (../shared/traces or "
			      "$KSCHED_TRACES): skipped\n");
		return NULL;
	}
	p = malloc(1200);
	snprintf(p, 1200, "%s/%s", dir, name);
	return p;
}

/* The test: the NASA trace parses all 18,239 jobs. */
static void
test_sim_trace_real_nasa(void **state)
{
	char *path = trace_path("NASA-iPSC-1993-3.1-cln.swf.gz");
	struct ksched_sim_load_opts o;
	ksched_sim_workload *w;
	const struct ksched_sim_job *j;
	size_t n;

	(void)state;
	if (!path)
		skip();
	w = load_ok(path, NULL);
	assert_string_equal(ksched_sim_workload_name(w),
			    "NASA-iPSC-1993-3.1-cln");
	assert_int_equal(ksched_sim_workload_machines(w), 128);
	assert_int_equal(ksched_sim_workload_count(w), 18066);
	assert_int_equal(ksched_sim_workload_dropped(w), 173);
	assert_int_equal(ksched_sim_workload_count(w) +
			     ksched_sim_workload_dropped(w),
			 18239);
	/* walltime: no requested time */
	j = job_is(w, 0, 1, -1, 1451000, 1451000, 128);
	assert_string_equal(j->user, "1");
	n = ksched_sim_workload_count(w);
	j = job_is(w, n - 1, 42264, 7948936000LL, 86000, -1, 128);
	assert_string_equal(j->user, "12");
	for (size_t i = 1; i < n; i++)
		assert_true(ksched_sim_workload_job(w, i - 1)->submit_ms <=
			    ksched_sim_workload_job(w, i)->submit_ms);
	ksched_sim_workload_free(w);

	/* Kept, the 173 zero-length records make all 18,239 jobs. */
	ksched_sim_load_opts_init(&o);
	o.drop_bad = false;
	w = load_ok(path, &o);
	assert_int_equal(ksched_sim_workload_count(w), 18239);
	assert_int_equal(ksched_sim_workload_dropped(w), 0);
	ksched_sim_workload_free(w);
	free(path);
}

static void
test_sim_trace_real_hpc2n(void **state)
{
	char *path = trace_path("HPC2N-2002-2.2-alea-subset.swf");
	struct ksched_sim_load_opts o;
	ksched_sim_workload *w;
	const struct ksched_sim_job *j;

	(void)state;
	if (!path)
		skip();
	w = load_ok(path, NULL);
	assert_int_equal(ksched_sim_workload_machines(w), 240);
	assert_int_equal(ksched_sim_workload_count(w), 3145);
	assert_int_equal(ksched_sim_workload_dropped(w), 25);
	j = job_is(w, 0, 1, -1, 31405000, 37980000, 30);
	j = job_is(w, ksched_sim_workload_count(w) - 1, 7183, 4950011000LL,
		   129000, 1800000, 50);
	assert_string_equal(j->user, "8");
	ksched_sim_workload_free(w);
	/* Job 15 ran past its request (86462 s > 86400 s). */
	ksched_sim_load_opts_init(&o);
	o.swf_estimate = KSCHED_SWF_EST_BATSIM;
	o.batsim_delay = true;
	w = load_ok(path, &o);
	for (size_t i = 0; i < ksched_sim_workload_count(w); i++) {
		j = ksched_sim_workload_job(w, i);
		if (j->id != 15)
			continue;
		assert_int_equal(j->run_ms, 86463000);
		assert_int_equal(j->walltime_ms, 2 * 86462000);
	}
	ksched_sim_workload_free(w);
	ksched_sim_load_opts_init(&o);
	o.drop_bad = false;
	load_fails(path, &o, KSCHED_EINVAL,
		   "line 34: field 4 (run time): unknown (-1)");
	free(path);
}

static void
test_sim_trace_real_batsim(void **state)
{
	char *path = trace_path("batsim-medium_late/medium_late.json");
	ksched_sim_workload *w;

	(void)state;
	if (!path)
		skip();
	w = load_ok(path, NULL);
	assert_string_equal(ksched_sim_workload_name(w), "medium_late");
	assert_int_equal(ksched_sim_workload_machines(w), 32);
	assert_int_equal(ksched_sim_workload_count(w), 801);
	/* id 3: 4 x ft.B.4 at 38.8 s */
	job_is(w, 3, 3, 38836, 35932, 96000, 4);
	/* the sentinel */
	job_is(w, 800, 424242, 16000000, -1, -1, -1);
	ksched_sim_workload_free(w);
	free(path);
}

static void
test_sim_trace_real_openb(void **state)
{
	char *path = trace_path("alibaba-openb/openb_pod_list_default.csv");
	char *npath = trace_path("alibaba-openb/openb_node_list_all_node.csv");
	ksched_sim_workload *w;
	ksched_sim_cluster *c;
	const struct ksched_sim_job *j;
	char err[512];
	size_t models = 0;

	(void)state;
	if (!path || !npath) {
		free(path);
		free(npath);
		skip();
	}
	w = load_ok(path, NULL);
	assert_int_equal(ksched_sim_workload_count(w), 8152);
	assert_int_equal(ksched_sim_workload_dropped(w), 0);
	j = job_is(w, 1, -1, 427061000LL, (12902960LL - 427061) * 1000, -1, -1);
	assert_string_equal(j->name, "openb-pod-0001");
	assert_int_equal(j->need.cpu_milli, 6000);
	assert_int_equal(j->need.mem_mb, 12288);
	assert_int_equal(j->need.gpus, 1);
	j = ksched_sim_workload_job(w, 8151);
	assert_string_equal(j->name, "openb-pod-8151");
	assert_int_equal(j->run_ms, 30000); /* 12901792 - 12901762 */
	ksched_sim_workload_free(w);

	assert_int_equal(ksched_sim_cluster_load(npath, &c, err, sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched_sim_cluster_count(c), 1523);
	node_is(c, 0, "openb-node-0000", 32000, 262144, 0, 32);
	node_is(c, 1522, "openb-node-1522", 96000, 393216, 8, 96);
	for (size_t i = 0; i < 1523; i++)
		models += ksched_sim_cluster_node(c, i)->nlabels;
	assert_int_equal(models, 1523 - 310); /* 310 have no model */
	ksched_sim_cluster_free(c);
	free(path);
	free(npath);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sim_trace_real_nasa),
	    cmocka_unit_test(test_sim_trace_real_hpc2n),
	    cmocka_unit_test(test_sim_trace_real_batsim),
	    cmocka_unit_test(test_sim_trace_real_openb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
