/*
 * Unit tests for the simulator's engine and outputs, on workloads built in
 * memory (ksched_sim_workload_new/_add): timing of starts and ends, gangs,
 * rejection, walltime kills, worker deaths and repairs, the metrics, and
 * byte-identical outputs from two runs.
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
#include <unistd.h>

#include "alloc.h"
#include "ksched/policy.h"
#include "ksched/sim.h"
#include "../testutil.h"

static struct ksched_sim_job
job(uint64_t id, int64_t submit_s, int64_t run_s, int64_t nodes)
{
	struct ksched_sim_job j;

	memset(&j, 0, sizeof(j));
	j.id = id;
	j.submit_ms = submit_s * 1000;
	j.run_ms = run_s * 1000;
	j.walltime_ms = run_s * 1000;
	j.nodes = nodes;
	j.need.cpu_milli = 1000;
	j.need.slots = 1;
	j.user = "";
	return j;
}

static ksched_sim_cluster *
cluster(const char *spec)
{
	ksched_sim_cluster *c;
	char err[256];

	assert_int_equal(ksched_sim_cluster_parse(spec, &c, err, sizeof(err)),
			 KSCHED_OK);
	return c;
}

static ksched_sim_result *
run(const ksched_sim_workload *w, const ksched_sim_cluster *c,
    const struct ksched_sim_opts *o)
{
	ksched_sim_result *r = NULL;
	char err[512];
	ksched_err e = ksched_sim_run(w, c, o, &r, err, sizeof(err));

	if (e)
		print_error("run: %s\n", err);
	assert_int_equal(e, KSCHED_OK);
	return r;
}

static void
opts(struct ksched_sim_opts *o, const char *policy)
{
	ksched_sim_opts_init(o);
	o->policy = policy;
}

/* Skip when a built-in policy is not registered in this build. */
static bool
have_policy(const char *name)
{
	ksched_policy *p;
	char err[256];

	if (ksched_policy_load(name, &p, err, sizeof(err)) != KSCHED_OK)
		return false;
	ksched_policy_free(p);
	return true;
}

/* ---- timing -------------------------------------------------------------- */

/* Two nodes, four 10 s jobs at 0: two start at 0, two at 10 s. */
static void
test_sim_two_waves(void **state)
{
	ksched_sim_workload *w;
	ksched_sim_cluster *c = cluster("2x(cpu=1)");
	struct ksched_sim_opts o;
	struct ksched_sim_metrics m;
	ksched_sim_result *r;

	(void)state;
	assert_int_equal(ksched_sim_workload_new("waves", 2, &w), KSCHED_OK);
	for (uint64_t i = 1; i <= 4; i++) {
		struct ksched_sim_job j = job(i, 0, 10, 1);
		assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	}
	opts(&o, "binpack");
	r = run(w, c, &o);
	for (size_t i = 0; i < 4; i++) {
		const struct ksched_sim_job_result *jr =
		    ksched_sim_result_job(r, i);
		assert_int_equal(jr->outcome, KSCHED_SIM_DONE);
		assert_int_equal(jr->start_ms, i < 2 ? 0 : 10000);
		assert_int_equal(jr->finish_ms, jr->start_ms + 10000);
	}
	ksched_sim_result_metrics(r, &m);
	assert_int_equal(m.done, 4);
	assert_true(m.makespan == 20.0);
	assert_true(m.mean_wait == 5.0);
	assert_true(m.max_wait == 10.0);
	assert_true(m.mean_slowdown == 1.5);
	assert_true(m.mean_bsld == 1.5);
	assert_true(m.utilization == 1.0);
	assert_true(m.fairness == 1.0);
	ksched_sim_result_free(r);
	ksched_sim_cluster_free(c);
	ksched_sim_workload_free(w);
}

/* A gang gets distinct nodes; a job bigger than the cluster is rejected
 * and the rest still run. */
static void
test_sim_gang_and_reject(void **state)
{
	ksched_sim_workload *w;
	ksched_sim_cluster *c = cluster("4x(cpu=1)");
	struct ksched_sim_opts o;
	struct ksched_sim_metrics m;
	struct ksched_sim_job a = job(1, 0, 5, 3), b = job(2, 1, 5, 5);
	const struct ksched_sim_job_result *jr;
	ksched_sim_result *r;

	(void)state;
	assert_int_equal(ksched_sim_workload_new("gang", 4, &w), KSCHED_OK);
	assert_int_equal(ksched_sim_workload_add(w, &a), KSCHED_OK);
	assert_int_equal(ksched_sim_workload_add(w, &b), KSCHED_OK);
	opts(&o, "spread");
	r = run(w, c, &o);
	jr = ksched_sim_result_job(r, 0);
	assert_int_equal(jr->outcome, KSCHED_SIM_DONE);
	assert_non_null(jr->nodes);
	assert_true(jr->nodes[0] != jr->nodes[1] &&
		    jr->nodes[1] != jr->nodes[2] &&
		    jr->nodes[0] != jr->nodes[2]);
	jr = ksched_sim_result_job(r, 1);
	assert_int_equal(jr->outcome, KSCHED_SIM_REJECTED);
	assert_non_null(jr->reason);
	assert_non_null(strstr(jr->reason, "larger than the cluster"));
	ksched_sim_result_metrics(r, &m);
	assert_int_equal(m.rejected, 1);
	assert_int_equal(m.done, 1);
	ksched_sim_result_free(r);
	ksched_sim_cluster_free(c);
	ksched_sim_workload_free(w);
}

/* A job running past its walltime is killed there (success 0), unless
 * kills are off. */
static void
test_sim_walltime_kill(void **state)
{
	ksched_sim_workload *w;
	ksched_sim_cluster *c = cluster("1x(cpu=1)");
	struct ksched_sim_opts o;
	struct ksched_sim_job j = job(1, 0, 20, 1);
	ksched_sim_result *r;

	(void)state;
	j.walltime_ms = 10000;
	assert_int_equal(ksched_sim_workload_new("kill", 1, &w), KSCHED_OK);
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	opts(&o, "binpack");
	r = run(w, c, &o);
	assert_int_equal(ksched_sim_result_job(r, 0)->outcome,
			 KSCHED_SIM_KILLED);
	assert_int_equal(ksched_sim_result_job(r, 0)->finish_ms, 10000);
	ksched_sim_result_free(r);
	o.kill_at_walltime = false;
	r = run(w, c, &o);
	assert_int_equal(ksched_sim_result_job(r, 0)->outcome, KSCHED_SIM_DONE);
	assert_int_equal(ksched_sim_result_job(r, 0)->finish_ms, 20000);
	ksched_sim_result_free(r);
	ksched_sim_cluster_free(c);
	ksched_sim_workload_free(w);
}

/* A killed gang frees every part's node; the next gang runs there. */
static void
test_sim_walltime_kill_gang(void **state)
{
	ksched_sim_workload *w;
	ksched_sim_cluster *c = cluster("2x(cpu=1)");
	struct ksched_sim_opts o;
	struct ksched_sim_job a = job(1, 0, 20, 2), b = job(2, 0, 5, 2);
	ksched_sim_result *r;

	(void)state;
	a.walltime_ms = 10000;
	assert_int_equal(ksched_sim_workload_new("gangkill", 2, &w), KSCHED_OK);
	assert_int_equal(ksched_sim_workload_add(w, &a), KSCHED_OK);
	assert_int_equal(ksched_sim_workload_add(w, &b), KSCHED_OK);
	opts(&o, "binpack");
	r = run(w, c, &o);
	assert_int_equal(ksched_sim_result_job(r, 0)->outcome,
			 KSCHED_SIM_KILLED);
	assert_int_equal(ksched_sim_result_job(r, 0)->finish_ms, 10000);
	assert_int_equal(ksched_sim_result_job(r, 1)->outcome, KSCHED_SIM_DONE);
	assert_int_equal(ksched_sim_result_job(r, 1)->start_ms, 10000);
	ksched_sim_result_free(r);
	ksched_sim_cluster_free(c);
	ksched_sim_workload_free(w);
}

/* A worker death re-queues its job (the master's path); the repaired
 * worker runs it again from the start. */
static void
test_sim_failure_and_repair(void **state)
{
	ksched_sim_workload *w;
	ksched_sim_cluster *c = cluster("1x(cpu=1)");
	struct ksched_sim_opts o;
	struct ksched_sim_failure f = {50000, 0};
	struct ksched_sim_job j = job(1, 0, 100, 1);
	struct ksched_sim_metrics m;
	const struct ksched_sim_job_result *jr;
	ksched_sim_result *r;

	(void)state;
	assert_int_equal(ksched_sim_workload_new("fail", 1, &w), KSCHED_OK);
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	opts(&o, "binpack");
	o.failures = &f;
	o.nfailures = 1;
	o.repair_ms = 10000;
	r = run(w, c, &o);
	jr = ksched_sim_result_job(r, 0);
	assert_int_equal(jr->outcome, KSCHED_SIM_DONE);
	assert_int_equal(jr->restarts, 1);
	assert_int_equal(jr->start_ms, 60000);
	assert_int_equal(jr->finish_ms, 160000);
	ksched_sim_result_metrics(r, &m);
	assert_int_equal(m.restarts, 1);
	ksched_sim_result_free(r);
	/* Never repaired: the job never ends, and the run still stops. */
	o.repair_ms = 0;
	r = run(w, c, &o);
	assert_int_equal(ksched_sim_result_job(r, 0)->outcome,
			 KSCHED_SIM_UNFINISHED);
	ksched_sim_result_free(r);
	ksched_sim_cluster_free(c);
	ksched_sim_workload_free(w);
}

/*
 * Deaths faster than the job (100,000 an hour on one node, repaired after
 * a second, a 10 s job): the job loses every start, is given up after
 * max_restarts of them, and the run ends.
 */
static void
test_sim_restart_cap(void **state)
{
	static const uint32_t caps[] = {0, 3};
	ksched_sim_workload *w;
	ksched_sim_cluster *c = cluster("1x(cpu=1)");
	struct ksched_sim_opts o;
	struct ksched_sim_job j = job(1, 0, 10, 1), k = job(2, 5, 1, 1);
	struct ksched_sim_metrics m;
	const struct ksched_sim_job_result *jr;
	ksched_sim_result *r;

	(void)state;
	assert_int_equal(ksched_sim_workload_new("storm", 2, &w), KSCHED_OK);
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	assert_int_equal(ksched_sim_workload_add(w, &k), KSCHED_OK);
	for (size_t i = 0; i < 2; i++) {
		opts(&o, "fcfs");
		o.fail_rate = 100000;
		o.repair_ms = 1000;
		o.seed = 7;
		o.max_restarts = caps[i];
		r = run(w, c, &o);
		jr = ksched_sim_result_job(r, 0);
		assert_int_equal(jr->outcome, KSCHED_SIM_UNFINISHED);
		assert_int_equal(jr->restarts, caps[i] ? caps[i]
						       : KSCHED_SIM_RESTARTS_DEFAULT);
		assert_int_equal(jr->finish_ms, -1);
		ksched_sim_result_metrics(r, &m);
		assert_int_equal(m.jobs, 2);
		assert_int_equal(m.unfinished + m.done, 2);
		ksched_sim_result_free(r);
	}
	ksched_sim_cluster_free(c);
	ksched_sim_workload_free(w);
}

static void
test_sim_bad_options(void **state)
{
	ksched_sim_workload *w;
	ksched_sim_cluster *c = cluster("2x(cpu=1)");
	struct ksched_sim_opts o;
	struct ksched_sim_failure f = {1000, 7};
	ksched_sim_result *r = NULL;
	char err[512];

	(void)state;
	assert_int_equal(ksched_sim_workload_new("bad", 2, &w), KSCHED_OK);
	opts(&o, "binpack");
	o.failures = &f;
	o.nfailures = 1;
	assert_int_equal(ksched_sim_run(w, c, &o, &r, err, sizeof(err)),
			 KSCHED_EINVAL);
	assert_null(r);
	assert_non_null(strstr(err, "node 7"));
	opts(&o, "no_such_policy");
	assert_int_not_equal(ksched_sim_run(w, c, &o, &r, err, sizeof(err)),
			     KSCHED_OK);
	assert_null(r);
	assert_non_null(strstr(err, "no_such_policy"));
	opts(&o, "fcfs");
	o.fail_rate = 1e308;
	assert_int_equal(ksched_sim_run(w, c, &o, &r, err, sizeof(err)),
			 KSCHED_EINVAL);
	assert_null(r);
	assert_non_null(strstr(err, "more than 3600000"));
	ksched_sim_cluster_free(c);
	ksched_sim_workload_free(w);
}

/*
 * The dispatch window (ksched_sched_config.scan_min through opts.scan): a
 * small job behind 300 that cannot start waits with binpack's default
 * window (64 + 8 per free slot), and starts at once when the policy sees
 * the whole queue.
 */
static void
test_sim_scan_window(void **state)
{
	ksched_sim_workload *w;
	ksched_sim_cluster *c = cluster("1x(cpu=1)+1x(cpu=4)");
	struct ksched_sim_opts o;
	ksched_sim_result *r;
	struct ksched_sim_job j = job(1, 0, 100, 1);

	(void)state;
	assert_int_equal(ksched_sim_workload_new("scan", 2, &w), KSCHED_OK);
	j.need.cpu_milli = 4000; /* holds the big node for 100 s */
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	for (uint64_t i = 2; i <= 301; i++) {
		j = job(i, 1, 10, 1);
		j.need.cpu_milli = 4000; /* wait for the big node */
		assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	}
	j = job(302, 1, 10, 1); /* fits the small node, free all along */
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	opts(&o, "binpack");
	r = run(w, c, &o);
	assert_true(ksched_sim_result_job(r, 301)->start_ms > 1000);
	ksched_sim_result_free(r);
	o.scan = 1000;
	r = run(w, c, &o);
	assert_int_equal(ksched_sim_result_job(r, 301)->start_ms, 1000);
	assert_int_equal(ksched_sim_result_job(r, 301)->nodes[0], 0);
	ksched_sim_result_free(r);
	ksched_sim_cluster_free(c);
	ksched_sim_workload_free(w);
}

/* ---- determinism --------------------------------------------------------- */

/* A synthetic workload: gangs of 1-4 parts, random run times, some users,
 * some overrunning their walltime. */
static ksched_sim_workload *
synthetic(size_t n, uint64_t seed)
{
	static const char *const users[] = {"ann", "bob", "cy", "dee"};
	ksched_sim_workload *w;
	int64_t t = 0;

	assert_int_equal(ksched_sim_workload_new("synthetic", 16, &w),
			 KSCHED_OK);
	for (size_t i = 0; i < n; i++) {
		struct ksched_sim_job j;
		t += (int64_t)(tu_rand(&seed) % 20);
		j = job(i + 1, t, 1 + (int64_t)(tu_rand(&seed) % 120),
			1 + (int64_t)(tu_rand(&seed) % 4));
		j.walltime_ms =
		    j.run_ms + (int64_t)(tu_rand(&seed) % 60000) - 5000;
		if (j.walltime_ms < 1000)
			j.walltime_ms = 1000;
		j.user = users[tu_rand(&seed) % 4];
		assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	}
	return w;
}

/* Everything a run writes, in one buffer. */
static char *
outputs(const ksched_sim_result *r, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	assert_non_null(f);
	assert_int_equal(ksched_sim_jobs_csv(r, f), KSCHED_OK);
	assert_int_equal(ksched_sim_report_json(&r, 1, f), KSCHED_OK);
	assert_int_equal(ksched_sim_plot_svg(r, f), KSCHED_OK);
	assert_int_equal(ksched_sim_table(&r, 1, NULL, f), KSCHED_OK);
	fclose(f);
	return buf;
}

static void
determinism(const char *policy, double fail_rate)
{
	ksched_sim_workload *w = synthetic(2000, 42);
	ksched_sim_cluster *c = cluster("16x(cpu=1)");
	struct ksched_sim_opts o;
	ksched_sim_result *r1, *r2;
	char *b1, *b2;
	size_t n1, n2;

	opts(&o, policy);
	o.timeline = true;
	o.fail_rate = fail_rate;
	o.repair_ms = 600000;
	o.seed = 7;
	r1 = run(w, c, &o);
	r2 = run(w, c, &o);
	b1 = outputs(r1, &n1);
	b2 = outputs(r2, &n2);
	assert_true(n1 > 2000 * 40);
	assert_int_equal(n1, n2);
	assert_memory_equal(b1, b2, n1);
	free(b1);
	free(b2);
	ksched_sim_result_free(r1);
	ksched_sim_result_free(r2);
	ksched_sim_cluster_free(c);
	ksched_sim_workload_free(w);
}

static void
test_sim_deterministic_synthetic(void **state)
{
	(void)state;
	determinism("binpack", 0);
	determinism("binpack", 2.0); /* with seeded random deaths */
	if (have_policy("easy"))
		determinism("easy", 0);
}

/*
 * Every allocation failing in turn: the run either completes or fails
 * with an error and a message, leaking nothing (ASan checks) and leaving
 * no temporary store behind.
 */
static void
test_sim_alloc_failures(void **state)
{
	ksched_sim_workload *w = synthetic(20, 5);
	ksched_sim_cluster *c = cluster("4x(cpu=1)");
	struct ksched_sim_opts o;
	struct ksched_sim_failure f = {30000, 1};
	char *dir = tu_tmpdir("simalloc");
	bool done = false;
	long n;

	(void)state;
	opts(&o, "easy");
	o.timeline = true;
	o.failures = &f;
	o.nfailures = 1;
	o.repair_ms = 10000;
	o.tmpdir = dir;
	for (n = 0; n < 20000 && !done; n++) {
		ksched_sim_result *r = NULL;
		char err[512] = "";
		ksched_err e;
		ksched__alloc_fail_after(n);
		e = ksched_sim_run(w, c, &o, &r, err, sizeof(err));
		ksched__alloc_fail_after(-1);
		if (e == KSCHED_OK) {
			done = true;
			ksched_sim_result_free(r);
			continue;
		}
		assert_null(r);
		assert_true(err[0] != 0);
		assert_int_equal(rmdir(dir), 0); /* empty: nothing left */
		assert_int_equal(mkdir(dir, 0700), 0);
	}
	assert_true(done);
	print_message("allocation failures walked: %ld\n", n - 1);
	assert_true(n > 50); /* the walk went through many allocations */
	tu_rmtree(dir);
	ksched_sim_cluster_free(c);
	ksched_sim_workload_free(w);
}

/* ---- FCFS ---------------------------------------------------------------- */

/* FCFS never starts a job before one submitted earlier. */
static void
test_sim_fcfs_in_order(void **state)
{
	ksched_sim_workload *w;
	ksched_sim_cluster *c;
	struct ksched_sim_opts o;
	ksched_sim_result *r;
	int64_t last = -1;

	(void)state;
	if (!have_policy("fcfs"))
		skip();
	c = cluster("16x(cpu=1)");
	w = synthetic(1000, 3);
	opts(&o, "fcfs");
	r = run(w, c, &o);
	for (size_t i = 0; i < ksched_sim_workload_count(w); i++) {
		const struct ksched_sim_job_result *jr =
		    ksched_sim_result_job(r, i);
		assert_true(jr->start_ms >= last);
		last = jr->start_ms;
	}
	ksched_sim_result_free(r);
	ksched_sim_cluster_free(c);
	ksched_sim_workload_free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sim_two_waves),
	    cmocka_unit_test(test_sim_gang_and_reject),
	    cmocka_unit_test(test_sim_walltime_kill),
	    cmocka_unit_test(test_sim_walltime_kill_gang),
	    cmocka_unit_test(test_sim_failure_and_repair),
	    cmocka_unit_test(test_sim_restart_cap),
	    cmocka_unit_test(test_sim_bad_options),
	    cmocka_unit_test(test_sim_scan_window),
	    cmocka_unit_test(test_sim_deterministic_synthetic),
	    cmocka_unit_test(test_sim_alloc_failures),
	    cmocka_unit_test(test_sim_fcfs_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
