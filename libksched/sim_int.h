/*
 * Internal: the result of a simulator run, shared by sim.c (the engine)
 * and sim_report.c (metrics and outputs).
 */
#ifndef KSCHED_SIM_INT_H
#define KSCHED_SIM_INT_H

#include "u64map.h"

#include "ksched/cache.h"
#include "ksched/policy.h"
#include "ksched/queue.h"
#include "ksched/sched.h"
#include "ksched/sim.h"
#include "ksched/store.h"

struct ksched_sim_result {
	const ksched_sim_workload *w; /* borrowed */
	char *policy;
	size_t njobs;
	struct ksched_sim_job_result *jobs; /* one per workload job */
	uint32_t *parts; /* the nodes of every job's parts, by rank */
	char **reasons;	 /* rejection messages, owned */
	size_t nreasons;
	struct ksched_sim_metrics m;
	size_t nodes;  /* in the cluster */
	int64_t slots; /* of every node together */
	int64_t cpu_milli;
	/* The timeline: after each batch that changed them, the jobs
	 * waiting and the slots busy. */
	int64_t *tl_t;
	uint32_t *tl_queue;
	uint32_t *tl_busy;
	size_t ntl, captl;
};

/* ---- the engine's state (sim.c runs it, sim_run.c sets it up) ------------ */

/* Leases in virtual time must never run out before the job ends: the
 * engine ends or kills every job itself, so leases are made longer than
 * any run (a century). */
#define SIM_LEASE_MS (100LL * 365 * 24 * 3600 * 1000)
/* Core calls per LMDB write transaction (durability is not needed). */
#define SIM_TXN_OPS 32768
/* Tasks per submit call. */
#define SIM_SUBMIT_MAX 1024
/* Batches between progress reports. */
#define SIM_PROGRESS_EVERY 4096

enum ev_type { EV_END = 0, EV_FAIL = 1, EV_REPAIR = 2 };

struct ev {
	int64_t t;
	uint32_t type;
	uint64_t id;	/* job index, or node index */
	uint64_t token; /* EV_END: the lease it ends */
};

enum jstate { J_WAIT = 0, J_QUEUED, J_RUNNING, J_ENDED, J_REJECTED };

struct sjob {
	uint64_t tid;	 /* the core's task id */
	uint64_t token;	 /* current lease, 0 when not running */
	uint32_t placed; /* parts placed in this attempt */
	uint32_t rpos;	 /* position in run.running */
	uint8_t state;
};

struct snode {
	int64_t member; /* index in the core's worker table; -1 when dead */
	int64_t free;	/* free slots */
};

/* A distinct node capacity and how many nodes have it. */
struct capgroup {
	struct ksched_resources cap;
	int64_t count;
};

struct run {
	const ksched_sim_workload *w;
	const ksched_sim_cluster *c;
	struct ksched_sim_opts o;
	struct ksched_sim_result *res;
	char dir[4096];
	ksched_store *st;
	ksched_queue *q;
	ksched_cache *ca;
	ksched_policy *pol;
	ksched_sched *s;
	bool scan_all;
	size_t scan_max; /* the core's */
	struct sjob *jobs;
	size_t njobs, next_arrival, ended, queued, nrunning, busy;
	uint32_t *running; /* job indexes */
	struct snode *nodes;
	size_t nnodes;
	int64_t *m2n; /* member index -> node, -1 */
	size_t nm2n;
	uint64_t *freebits; /* live nodes with a free slot */
	uint32_t *wk, *mx;
	struct ksched_assignment *out;
	size_t outcap;
	struct capgroup *caps;
	size_t ncaps;
	struct u64map tid2job; /* core task id -> job index + 1 */
	struct ev *heap;
	size_t nheap, capheap, repairs;
	int64_t next_tick;
	uint64_t rng;
	size_t ops;
	ksched_task **sub;
	size_t *subjob;
	uint64_t *subids;
	char *err;
	size_t errlen;
};

/* sim.c: the event loop, from the workers' join to the last event. */
ksched_err ksched__sim_simulate(struct run *r);

/* sim_run.c: the run's error message (err of ksched_sim_run). */
void ksched__sim_set_err(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* sim_report.c: fill r->m from r->jobs. */
void ksched__sim_metrics(struct ksched_sim_result *r);

#endif
