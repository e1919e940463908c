/*
 * Internal: the result of a simulator run, shared by sim.c (the engine)
 * and sim_report.c (metrics and outputs).
 */
#ifndef KSCHED_SIM_INT_H
#define KSCHED_SIM_INT_H

#include "ksched/sim.h"

struct ksched_sim_result {
	const ksched_sim_workload *w; /* borrowed */
	char *policy;
	size_t njobs;
	struct ksched_sim_job_result *jobs; /* one per workload job */
	uint32_t *parts;  /* the nodes of every job's parts, by rank */
	char **reasons;	  /* rejection messages, owned */
	size_t nreasons;
	struct ksched_sim_metrics m;
	size_t nodes;	  /* in the cluster */
	int64_t slots;	  /* of every node together */
	int64_t cpu_milli;
	/* The timeline: after each batch that changed them, the jobs
	 * waiting and the slots busy. */
	int64_t *tl_t;
	uint32_t *tl_queue;
	uint32_t *tl_busy;
	size_t ntl, captl;
};

/* sim_report.c: fill r->m from r->jobs. */
void ksched__sim_metrics(struct ksched_sim_result *r);

#endif
