/*
 * Unit tests for the simulator's workloads and clusters: the in-memory
 * container, cluster specs, and the trace readers (small files written
 * here, and the real traces of ../shared/traces when they are there).
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "ksched/policy.h"
#include "ksched/sim.h"
#include "../testutil.h"

/* ---- the container ------------------------------------------------------ */

static struct ksched_sim_job
mkjob(uint64_t id, int64_t submit, const char *user)
{
	struct ksched_sim_job j;

	memset(&j, 0, sizeof(j));
	j.id = id;
	j.submit_ms = submit;
	j.run_ms = 1000;
	j.nodes = 1;
	j.need.cpu_milli = 1000;
	j.need.slots = 1;
	j.user = user;
	return j;
}

static void
test_sim_trace_workload_add_sorted(void **state)
{
	ksched_sim_workload *w;
	struct ksched_sim_job j;
	const struct ksched_sim_job *a, *b;

	(void)state;
	assert_int_equal(ksched_sim_workload_new("gen", 16, &w), KSCHED_OK);
	assert_string_equal(ksched_sim_workload_name(w), "gen");
	assert_int_equal(ksched_sim_workload_machines(w), 16);
	assert_int_equal(ksched_sim_workload_dropped(w), 0);
	j = mkjob(7, 500, "alice");
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	j = mkjob(3, 900, "bob");
	j.name = "job-three";
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	j = mkjob(5, 500, "alice"); /* same submit as 7: id breaks the tie */
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	j = mkjob(1, 100, NULL);
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	assert_int_equal(ksched_sim_workload_count(w), 4);
	assert_int_equal(ksched_sim_workload_job(w, 0)->id, 1);
	assert_int_equal(ksched_sim_workload_job(w, 1)->id, 5);
	assert_int_equal(ksched_sim_workload_job(w, 2)->id, 7);
	assert_int_equal(ksched_sim_workload_job(w, 3)->id, 3);
	assert_null(ksched_sim_workload_job(w, 4));
	/* Names default to the id; users are shared copies; none is "". */
	a = ksched_sim_workload_job(w, 1);
	b = ksched_sim_workload_job(w, 2);
	assert_string_equal(a->name, "5");
	assert_string_equal(ksched_sim_workload_job(w, 3)->name, "job-three");
	assert_string_equal(a->user, "alice");
	assert_ptr_equal(a->user, b->user);
	assert_string_equal(ksched_sim_workload_job(w, 0)->user, "");
	assert_string_equal(a->kind, "");
	assert_null(a->spec);

	/* Refused: a taken id, nodes < 1, run < 0; nothing changes. */
	j = mkjob(7, 1, "carol");
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_EINVAL);
	j = mkjob(8, 1, NULL);
	j.nodes = 0;
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_EINVAL);
	j = mkjob(8, 1, NULL);
	j.run_ms = -1;
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_EINVAL);
	assert_int_equal(ksched_sim_workload_count(w), 4);
	assert_int_equal(ksched_sim_workload_job(w, 0)->id, 1);
	ksched_sim_workload_free(w);
	ksched_sim_workload_free(NULL);
}

static void
test_sim_trace_workload_spec_copied(void **state)
{
	ksched_sim_workload *w;
	struct ksched_sim_job j = mkjob(UINT64_MAX, 0, "u");
	ksched_task *t;

	(void)state;
	assert_int_equal(ksched_task_new(&t), KSCHED_OK);
	assert_int_equal(ksched_task_set_kind(t, "render"), KSCHED_OK);
	j.spec = t;
	j.kind = "render";
	assert_int_equal(ksched_sim_workload_new(NULL, 0, &w), KSCHED_OK);
	assert_string_equal(ksched_sim_workload_name(w), "");
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	ksched_task_free(t); /* the workload holds its own copy */
	assert_non_null(ksched_sim_workload_job(w, 0)->spec);
	assert_string_equal(ksched_task_kind(ksched_sim_workload_job(w, 0)->spec),
			    "render");
	j.spec = NULL;
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_EINVAL);
	j.id = 0;
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	ksched_sim_workload_free(w);
	assert_int_equal(ksched_sim_workload_new("x", -1, &w), KSCHED_EINVAL);
	assert_null(w);
}

/* A generated workload of 200,000 jobs: in order it is appends, and the
 * id check stays a hash lookup. */
static void
test_sim_trace_workload_many(void **state)
{
	ksched_sim_workload *w;
	uint64_t seed = 42;

	(void)state;
	assert_int_equal(ksched_sim_workload_new("many", 0, &w), KSCHED_OK);
	for (uint64_t i = 0; i < 200000; i++) {
		char user[16];
		struct ksched_sim_job j;

		snprintf(user, sizeof(user), "u%u",
			 (unsigned)(tu_rand(&seed) % 50));
		j = mkjob(i + 1, (int64_t)i * 10, user);
		assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	}
	assert_int_equal(ksched_sim_workload_count(w), 200000);
	for (size_t i = 1; i < 200000; i++)
		assert_true(ksched_sim_workload_job(w, i - 1)->submit_ms <
			    ksched_sim_workload_job(w, i)->submit_ms);
	ksched_sim_workload_free(w);
}

static void
test_sim_trace_workload_alloc_failure(void **state)
{
	int ok = 0;

	(void)state;
	for (long n = 0; n < 200 && !ok; n++) {
		ksched_sim_workload *w = NULL;
		ksched_err e;

		ksched__alloc_fail_after(n);
		e = ksched_sim_workload_new("f", 0, &w);
		for (uint64_t i = 0; e == KSCHED_OK && i < 300; i++) {
			struct ksched_sim_job j = mkjob(i, 300 - (int64_t)i,
							i % 2 ? "a" : "b");

			e = ksched_sim_workload_add(w, &j);
			if (e == KSCHED_OK)
				continue;
			assert_int_equal(e, KSCHED_ENOMEM);
			assert_int_equal(ksched_sim_workload_count(w), i);
		}
		ksched__alloc_fail_after(-1);
		if (e == KSCHED_OK) {
			assert_int_equal(ksched_sim_workload_count(w), 300);
			ok = 1;
		} else {
			assert_int_equal(e, KSCHED_ENOMEM);
		}
		ksched_sim_workload_free(w);
	}
	assert_true(ok);
}

/* ---- cluster specs -------------------------------------------------------- */

static void
test_sim_trace_cluster_parse(void **state)
{
	ksched_sim_cluster *c;
	const struct ksched_sim_node *n;
	char err[256];

	(void)state;
	assert_int_equal(ksched_sim_cluster_parse("32x(cpu=1)", &c, err,
						  sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched_sim_cluster_count(c), 32);
	n = ksched_sim_cluster_node(c, 31);
	assert_string_equal(n->id, "n31");
	assert_int_equal(n->cap.cpu_milli, 1000);
	assert_int_equal(n->cap.mem_mb, 0);
	assert_int_equal(n->cap.gpus, 0);
	assert_int_equal(n->cap.slots, 1);
	assert_int_equal(n->nlabels, 0);
	assert_null(ksched_sim_cluster_node(c, 32));
	ksched_sim_cluster_free(c);

	assert_int_equal(
		ksched_sim_cluster_parse(" 120x(cpu=2, mem=1024) + "
					 "4X(cpu=8,gpus=1,label.gpu=v100,"
					 "label.zone=b)+1x(cpu=0.5)+"
					 "2x(cpu_milli=2500,slots=10)",
					 &c, err, sizeof(err)),
		KSCHED_OK);
	assert_int_equal(ksched_sim_cluster_count(c), 127);
	n = ksched_sim_cluster_node(c, 0);
	assert_int_equal(n->cap.cpu_milli, 2000);
	assert_int_equal(n->cap.mem_mb, 1024);
	assert_int_equal(n->cap.slots, 2);
	n = ksched_sim_cluster_node(c, 123);
	assert_string_equal(n->id, "n123");
	assert_int_equal(n->cap.cpu_milli, 8000);
	assert_int_equal(n->cap.gpus, 1);
	assert_int_equal(n->cap.slots, 8);
	assert_int_equal(n->nlabels, 2);
	assert_string_equal(n->labels[0].key, "gpu");
	assert_string_equal(n->labels[0].value, "v100");
	assert_string_equal(n->labels[1].key, "zone");
	n = ksched_sim_cluster_node(c, 124);
	assert_int_equal(n->cap.cpu_milli, 500);
	assert_int_equal(n->cap.slots, 1);
	n = ksched_sim_cluster_node(c, 126);
	assert_int_equal(n->cap.cpu_milli, 2500);
	assert_int_equal(n->cap.slots, 10);
	ksched_sim_cluster_free(c);
	ksched_sim_cluster_free(NULL);
}

static void
test_sim_trace_cluster_parse_errors(void **state)
{
	static const struct {
		const char *spec, *says;
	} bad[] = {
		{"", "expected COUNTx"},
		{"32", "expected COUNTx"},
		{"x(cpu=1)", "expected COUNTx"},
		{"0x(cpu=1)", "'count' must be an integer from 1"},
		{"32x cpu=1", "expected '('"},
		{"32x(cpu=1", "expected ',' or ')'"},
		{"32x(cpu)", "expected '='"},
		{"32x(cpu=)", "expected a value"},
		{"32x(cpu=-1)", "'cpu' must be a number of cores"},
		{"32x(cpu=abc)", "'cpu' must be a number of cores"},
		{"32x(cpu=nan)", "'cpu' must be a number of cores"},
		{"32x(cpu=1,cpu_milli=5)", "cpu given twice"},
		{"32x(mem=1.5)", "'mem' must be an integer"},
		{"32x(gpus=100)", "'gpus' must be an integer from 0 to 64"},
		{"32x(slots=0)", "'slots' must be an integer from 1"},
		{"32x(cores=4)", "unknown key 'cores'"},
		{"32x(label.=a)", "unknown key 'label.'"},
		{"32x(label.a=1,label.a=2)", "label given twice"},
		{"32x(cpu=1)+", "group 2: expected COUNTx"},
		{"32x(cpu=1) 4x(cpu=1)", "expected '+' or the end"},
		{"99999999999x(cpu=1)", "'count' must be an integer"},
		{"1000000x(cpu=1)+1000000x(cpu=1)", "more than"},
	};
	ksched_sim_cluster *c = (ksched_sim_cluster *)&c;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		assert_int_equal(ksched_sim_cluster_parse(bad[i].spec, &c, err,
							  sizeof(err)),
				 KSCHED_EINVAL);
		assert_null(c);
		if (!strstr(err, bad[i].says))
			fail_msg("spec \"%s\": got \"%s\", want \"%s\"",
				 bad[i].spec, err, bad[i].says);
	}
	assert_int_equal(ksched_sim_cluster_parse(NULL, &c, err, sizeof(err)),
			 KSCHED_EINVAL);
}

static void
test_sim_trace_cluster_alloc_failure(void **state)
{
	int ok = 0;

	(void)state;
	for (long n = 0; n < 100 && !ok; n++) {
		ksched_sim_cluster *c;
		ksched_err e;

		ksched__alloc_fail_after(n);
		e = ksched_sim_cluster_parse(
			"3x(cpu=1,label.a=b)+2x(cpu=4,label.a=c)", &c, NULL, 0);
		ksched__alloc_fail_after(-1);
		if (e == KSCHED_OK) {
			assert_int_equal(ksched_sim_cluster_count(c), 5);
			ksched_sim_cluster_free(c);
			ok = 1;
		} else {
			assert_int_equal(e, KSCHED_ENOMEM);
			assert_null(c);
		}
	}
	assert_true(ok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_trace_workload_add_sorted),
		cmocka_unit_test(test_sim_trace_workload_spec_copied),
		cmocka_unit_test(test_sim_trace_workload_many),
		cmocka_unit_test(test_sim_trace_workload_alloc_failure),
		cmocka_unit_test(test_sim_trace_cluster_parse),
		cmocka_unit_test(test_sim_trace_cluster_parse_errors),
		cmocka_unit_test(test_sim_trace_cluster_alloc_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
