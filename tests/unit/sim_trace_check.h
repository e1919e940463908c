/*
 * Checks shared by the simulator's trace tests: load a file that must
 * load (or fail with a given message), and compare a job or a node.
 * Header-only; include after <cmocka.h> and ksched/sim.h.
 */
#ifndef KSCHED_SIM_TRACE_CHECK_H
#define KSCHED_SIM_TRACE_CHECK_H

#include <string.h>

static inline ksched_sim_workload *
load_ok(const char *path, const struct ksched_sim_load_opts *o)
{
	ksched_sim_workload *w = NULL;
	char err[512] = "";

	if (ksched_sim_workload_load(path, o, &w, err, sizeof(err)) !=
	    KSCHED_OK)
		fail_msg("%s: %s", path, err);
	return w;
}

/* Load must fail with e and an err holding says; returns nothing. */
static inline void
load_fails(const char *path, const struct ksched_sim_load_opts *o,
	   ksched_err want, const char *says)
{
	ksched_sim_workload *w = (ksched_sim_workload *)&w;
	char err[512] = "";
	ksched_err e = ksched_sim_workload_load(path, o, &w, err, sizeof(err));

	if (e != want || !strstr(err, says))
		fail_msg("%s: got %d \"%s\", want %d \"%s\"", path, e, err,
			 want, says);
	assert_null(w);
}

/*
 * Job i of w, checked: id, then submit, run and walltime (ms) and nodes,
 * each skipped when -1.
 */
static inline const struct ksched_sim_job *
job_is(const ksched_sim_workload *w, size_t i, int64_t id, int64_t submit,
       int64_t run, int64_t wall, int64_t nodes)
{
	const struct ksched_sim_job *j = ksched_sim_workload_job(w, i);

	assert_non_null(j);
	if (id >= 0)
		assert_int_equal(j->id, id);
	if (submit >= 0)
		assert_int_equal(j->submit_ms, submit);
	if (run >= 0)
		assert_int_equal(j->run_ms, run);
	if (wall >= 0)
		assert_int_equal(j->walltime_ms, wall);
	if (nodes >= 0)
		assert_int_equal(j->nodes, nodes);
	return j;
}

/* Node i of c, checked: id, then capacities (each skipped when -1). */
static inline const struct ksched_sim_node *
node_is(const ksched_sim_cluster *c, size_t i, const char *id, int64_t cpu,
	int64_t mem, int64_t gpus, int64_t slots)
{
	const struct ksched_sim_node *n = ksched_sim_cluster_node(c, i);

	assert_non_null(n);
	assert_string_equal(n->id, id);
	if (cpu >= 0)
		assert_int_equal(n->cap.cpu_milli, cpu);
	if (mem >= 0)
		assert_int_equal(n->cap.mem_mb, mem);
	if (gpus >= 0)
		assert_int_equal(n->cap.gpus, gpus);
	if (slots >= 0)
		assert_int_equal(n->cap.slots, slots);
	return n;
}

#endif
