/*
 * libksched - the scheduling core: a pure state machine over the queue, the
 * result cache and the worker table.  No clock, socket or thread: the caller
 * passes time in and carries the decisions out (the master over the
 * network, the simulator in virtual time).
 *
 *   submit    -> cache hit: SUCCEEDED at once (flagged cached)
 *             -> an identical task (same cache key) is queued or running:
 *                attached to it (single flight), ends with its result
 *             -> queued
 *   dispatch  -> ready tasks, in priority then submission order (or the
 *                policy's order), placed by the policy on workers that
 *                asked for work and have room; a task placed nowhere is
 *                skipped and keeps a "pending reason"
 *   complete / fail / cancel / worker leave / tick (lease expiry)
 *
 * Changes follow the store's batching rules: wrap a turn of calls in
 * ksched_store_begin()/ksched_store_commit() for one fsync, and acknowledge
 * to others only after the commit.  Not thread safe.
 */
#ifndef KSCHED_SCHED_H
#define KSCHED_SCHED_H

#include "cache.h"
#include "membership.h"
#include "policy.h"
#include "queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ksched_sched ksched_sched;

struct ksched_sched_config {
	/* Lease of a task without a timeout, renewed by heartbeats
	 * (default 60000 ms). */
	int64_t lease_ms;
	/* Added to a task's timeout for its lease (default 30000 ms). */
	int64_t lease_grace_ms;
	/* Ready tasks looked at per dispatch (default 4096). */
	size_t scan_max;
	/* Who goes where (borrowed; must outlive the core).  NULL: the
	 * built-in "least_loaded". */
	ksched_policy *policy;
	/* Ready tasks looked at per dispatch at least (default 0: only
	 * 64 + 8 per slot asked).  Policies that must see the whole queue
	 * (backfilling) set it to scan_max, so a dispatch shows them every
	 * ready task up to that bound; always capped at scan_max. */
	size_t scan_min;
	/* After a restart: how long (ms from ksched_sched_new()) workers
	 * have to report the leases of the previous run they hold
	 * (ksched_sched_worker_heartbeat()).  Then every one nobody
	 * reported goes back to READY, the attempt not counted, and the
	 * parts of a gang only partly reported are told to stop.  0 (the
	 * default): such leases run out at their deadline. */
	int64_t adopt_window_ms;
};

/* One placement made by ksched_sched_dispatch(). */
struct ksched_assignment {
	uint64_t id;
	uint32_t attempt;
	uint64_t token;
	int64_t deadline;
	uint32_t worker; /* index in the worker table */
	uint32_t rank;	 /* part of a gang task (0..nodes-1) */
	uint32_t nodes;	 /* gang size; 1 for a plain task */
};

/* Counters since ksched_sched_new(). */
struct ksched_sched_stats {
	uint64_t submitted;
	uint64_t cached;   /* ended at once from the result cache */
	uint64_t attached; /* waited on an identical task */
	uint64_t assigned;
	uint64_t completed;
	uint64_t failed;   /* failed attempts (retried or dead) */
	uint64_t expired;  /* leases that ran out */
	uint64_t stale;	   /* reports refused for a stale token */
	uint64_t retried;  /* failed attempts that will run again */
	uint64_t dead;	   /* tasks that failed with no retries left */
	uint64_t canceled; /* tasks canceled */
	uint64_t reassigned; /* leases taken back from a worker that left,
			      * re-registered or let its lease expire */
};

/* Why a ready task does not go to one worker (ksched_sched_explain()). */
struct ksched_pending_why {
	char worker[KSCHED_WORKER_ID_MAX + 1];
	char why[128]; /* "cpu: needs 4000, free 1000", "not alive (dead)" */
};

/* ksched_sched_config_init: the defaults. */
KSCHED_API void ksched_sched_config_init(struct ksched_sched_config *cfg);

/*
 * ksched_sched_new: a core over queue q and cache c (borrowed: they must
 * outlive it).  cfg may be NULL for the defaults.  Leases left by a previous
 * run are not known to it: attached ones are handed back at once, the rest
 * are adopted when their holder reports them, and go back at the end of
 * cfg->adopt_window_ms if nobody did (at their deadline if it is 0).
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sched_new(ksched_queue *q, ksched_cache *c,
		 const struct ksched_sched_config *cfg, int64_t now,
		 ksched_sched **out);

/* ksched_sched_free: NULL is a no-op. */
KSCHED_API void ksched_sched_free(ksched_sched *s);

/* ksched_sched_members: the worker table (borrowed). */
KSCHED_API ksched_members *ksched_sched_members(ksched_sched *s);

/*
 * ksched_sched_submit: validate and add n tasks (all or none: on an invalid
 * one, *bad and err say which and why).  ids[i] gets each id, cached[i]
 * (may be NULL) whether it ended at once from the cache.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_sched_submit(
	ksched_sched *s, const ksched_task *const *tasks, size_t n,
	int64_t now, uint64_t *ids, bool *cached, size_t *bad, char *err,
	size_t errlen);

/*
 * ksched_sched_worker_join: a worker registers (again).  A worker that was
 * known under the same id gives its leases back first (they are READY
 * again, the attempts not counted).
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sched_worker_join(ksched_sched *s, const char *id,
			 const struct ksched_resources *cap, int64_t now,
			 uint32_t *index);

/* ksched_sched_worker_leave: the worker is gone; its leases go back. */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sched_worker_leave(ksched_sched *s, uint32_t index, int64_t now);

/*
 * ksched_sched_worker_heartbeat: the worker answered a survey, running the
 * listed tasks: their leases are renewed.  A listed lease the core does not
 * know (granted before the master restarted) is adopted: it keeps its lease
 * and its resources are counted on this worker.  A gang is adopted once
 * every part was reported (with its rank: see _ranks below) within the
 * adoption window.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sched_worker_heartbeat(ksched_sched *s, uint32_t index, int64_t now,
			      double load, const uint64_t *running,
			      size_t nrunning);

/*
 * ksched_sched_worker_heartbeat_ranks: the same, with ranks[i] the gang
 * rank of running[i] (0 for a plain task).  ranks may be NULL (a worker
 * that does not send them): then no part of a gang is adopted.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_sched_worker_heartbeat_ranks(
	ksched_sched *s, uint32_t index, int64_t now, double load,
	const uint64_t *running, const uint32_t *ranks, size_t nrunning);

/*
 * ksched_sched_dispatch: place ready tasks on the workers listed (indexes
 * into the worker table), each taking at most max[i] more tasks.  Up to
 * outmax placements go to out, *n how many.  Tasks served from the cache or
 * attached on the way end or wait without a placement.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_sched_dispatch(
	ksched_sched *s, int64_t now, const uint32_t *workers,
	const uint32_t *max, size_t nworkers, struct ksched_assignment *out,
	size_t outmax, size_t *n);

/*
 * ksched_sched_complete: the holder of lease (id, token) reports: ok with
 * the result bytes, or a failure with error (retried after backoff while
 * the budget lasts).  The worker's resources are freed.  KSCHED_ESTALE if
 * the lease is no longer current.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sched_complete(ksched_sched *s, uint64_t id, uint64_t token,
		      int64_t now, bool ok, const void *result, size_t len,
		      const char *error);

/*
 * ksched_sched_complete_part: the report of part `rank` of a gang task
 * (nodes = k): the gang succeeds, with part 0's result, once every part
 * succeeded; any part failing fails the whole gang (retried as a whole) and
 * the other parts are told to stop.  For a plain task rank is 0 and this is
 * ksched_sched_complete().
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_sched_complete_part(
	ksched_sched *s, uint64_t id, uint64_t token, uint32_t rank,
	int64_t now, bool ok, const void *result, size_t len,
	const char *error);

/*
 * ksched_sched_release: the holder of lease (id, token) hands it back
 * unfinished (it drains or stops): the task is ready again and the attempt
 * is not counted.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sched_release(ksched_sched *s, uint64_t id, uint64_t token,
		     int64_t now);

/* ksched_sched_retry: a DEAD task gets a fresh retry budget. */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_sched_retry(ksched_sched *s,
							  uint64_t id,
							  int64_t now);

/*
 * ksched_sched_worker_drain: give worker index no new work (its state is
 * KSCHED_WORKER_DRAINING until it registers again).
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sched_worker_drain(ksched_sched *s, uint32_t index);

/*
 * ksched_sched_cancels: tasks canceled while running whose workers still
 * report them: up to max ids; returns how many.  The master tells the
 * workers to stop them.
 */
KSCHED_API size_t ksched_sched_cancels(const ksched_sched *s, uint64_t *ids,
				       size_t max);

/* ksched_sched_cancel: cancel a task that has not ended. */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_sched_cancel(ksched_sched *s,
							   uint64_t id,
							   int64_t now);

/*
 * ksched_sched_tick: expire leases past their deadline, make due tasks
 * ready.  *next (may be NULL) gets when there will be work for tick again
 * (INT64_MAX if none).
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_sched_tick(ksched_sched *s,
							 int64_t now,
							 int64_t *next);

/*
 * ksched_sched_worker_of: the worker index running task id, or -1.
 * ksched_sched_pending_reason: why ready task id was not placed at the last
 * dispatch, or NULL (borrowed: valid until the next call on s).
 */
KSCHED_API int64_t ksched_sched_worker_of(const ksched_sched *s, uint64_t id);
KSCHED_API const char *ksched_sched_pending_reason(const ksched_sched *s,
						   uint64_t id);

/*
 * ksched_sched_explain: why ready task id is not placed: the summary of
 * the last dispatch into reason (may be "" if no dispatch looked at it
 * yet), and for each worker in the table (up to max of them into out, *n
 * how many, *total how many workers there are) what keeps the task off it
 * now: not alive, a label it lacks, too small, which resource is short, or
 * nothing (then the policy chose otherwise, or the worker did not ask for
 * work).  KSCHED_ENOENT if id is not a ready task the core knows.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sched_explain(ksched_sched *s, uint64_t id, char *reason,
		     size_t reasonlen, struct ksched_pending_why *out,
		     size_t max, size_t *n, size_t *total);

/*
 * ksched_sched_task_times: for a running task, when it was submitted and
 * when its current attempt was placed (ms); false if it does not run.
 */
KSCHED_API bool ksched_sched_task_times(const ksched_sched *s, uint64_t id,
					int64_t *submitted, int64_t *started);

/* ksched_sched_stats: counters since ksched_sched_new(). */
KSCHED_API void ksched_sched_stats(const ksched_sched *s,
				   struct ksched_sched_stats *out);

/* ksched_sched_attached: tasks waiting on an identical one now. */
KSCHED_API size_t ksched_sched_attached(const ksched_sched *s);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_SCHED_H */
