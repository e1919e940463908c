/*
 * libksched - membership: the table of workers a master knows, with their
 * capacity, what is allocated on them, their labels and their state.
 *
 * Pure data structure: no clock, socket or thread; times are passed in.
 * Not thread safe.
 */
#ifndef KSCHED_MEMBERSHIP_H
#define KSCHED_MEMBERSHIP_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Resources of a worker, or requested by a task. */
struct ksched_resources {
	int64_t cpu_milli;
	int64_t mem_mb;
	int64_t gpus;
	int64_t slots; /* concurrent tasks (a task takes one) */
};

enum ksched_worker_state {
	KSCHED_WORKER_ALIVE = 0,
	KSCHED_WORKER_SUSPECT = 1, /* missed heartbeats */
	KSCHED_WORKER_DEAD = 2,
	KSCHED_WORKER_DRAINING = 3, /* takes no new work */
	KSCHED_WORKER_STATE_COUNT = 4
};

#define KSCHED_WORKER_ID_MAX 64 /* bytes in a worker id */

/* A snapshot of one worker (strings are copies, NUL terminated). */
struct ksched_worker_status {
	char id[KSCHED_WORKER_ID_MAX + 1];
	struct ksched_resources capacity;
	struct ksched_resources allocated;
	enum ksched_worker_state state;
	uint32_t running;
	double load;	   /* last reported load (1-minute loadavg) */
	int64_t last_seen; /* ms */
	uint64_t completed;
	uint64_t failed;
};

/* ksched_worker_state_name: "alive", "suspect", "dead", "draining". */
KSCHED_API const char *ksched_worker_state_name(enum ksched_worker_state st);

/* ksched_resources_fit: whether need fits in cap - used (every field). */
KSCHED_API bool ksched_resources_fit(const struct ksched_resources *cap,
				     const struct ksched_resources *used,
				     const struct ksched_resources *need);

typedef struct ksched_members ksched_members;

/* ksched_members_new: an empty table; the caller frees it. */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_members_new(ksched_members **out);

/* ksched_members_free: NULL is a no-op. */
KSCHED_API void ksched_members_free(ksched_members *m);

/*
 * ksched_members_join: add worker id (or replace one of the same id, which
 * starts over with nothing allocated) with capacity cap, ALIVE, seen at
 * now.  *index gets its slot, stable until it leaves.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_members_join(ksched_members *m, const char *id,
		    const struct ksched_resources *cap, int64_t now,
		    uint32_t *index);

/* ksched_members_leave: remove worker index; KSCHED_ENOENT if none. */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_members_leave(ksched_members *m, uint32_t index);

/* ksched_members_find: the index of worker id; KSCHED_ENOENT if none. */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_members_find(const ksched_members *m, const char *id,
		    uint32_t *index);

/* ksched_members_count: workers in the table; _capacity: slots to scan. */
KSCHED_API uint32_t ksched_members_count(const ksched_members *m);
KSCHED_API uint32_t ksched_members_capacity(const ksched_members *m);

/* ksched_members_exists: whether slot index holds a worker. */
KSCHED_API bool ksched_members_exists(const ksched_members *m,
				      uint32_t index);

/* How a task left a worker, for its counters. */
enum ksched_outcome {
	KSCHED_OUTCOME_NONE = 0,      /* handed back or moved: not counted */
	KSCHED_OUTCOME_COMPLETED = 1,
	KSCHED_OUTCOME_FAILED = 2,
};

/*
 * ksched_members_alloc / _release: add or take back need to or from the
 * allocation of worker index (one slot per call).  alloc refuses with
 * KSCHED_ENOSPC what does not fit; release never goes below zero and
 * counts the outcome.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_members_alloc(ksched_members *m, uint32_t index,
		     const struct ksched_resources *need);
KSCHED_API void ksched_members_release(ksched_members *m, uint32_t index,
				       const struct ksched_resources *need,
				       enum ksched_outcome outcome);

/* ksched_members_seen: a heartbeat from worker index at now. */
KSCHED_API void ksched_members_seen(ksched_members *m, uint32_t index,
				    int64_t now, double load);

/* ksched_members_set_state: change the state of worker index. */
KSCHED_API void ksched_members_set_state(ksched_members *m, uint32_t index,
					 enum ksched_worker_state st);

/*
 * ksched_members_set_labels: give worker index the n labels keys[i] =
 * values[i] (copied), replacing any it had; n 0 removes them.  Labels are
 * not checked beyond being non-NULL (KSCHED_EINVAL otherwise).
 * KSCHED_ENOENT if there is no worker index; on KSCHED_ENOMEM nothing
 * changes.  A worker starts with no labels at join (also when it re-joins
 * under the same id) and loses them when it leaves.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_members_set_labels(ksched_members *m, uint32_t index,
			  const char *const *keys, const char *const *values,
			  size_t n);

/*
 * ksched_members_labels: the labels of worker index: returns how many
 * (0 when it has none or there is no worker index) and points *keys and
 * *values (either may be NULL) at borrowed arrays of that many strings
 * (NULL when 0), in the order given.  They stay valid until the next
 * ksched_members_set_labels(), _join() or _leave() of that worker, or
 * ksched_members_free(); other workers' changes do not move them.
 */
KSCHED_API size_t ksched_members_labels(const ksched_members *m,
					uint32_t index,
					const char *const **keys,
					const char *const **values);

/* ksched_members_status: a snapshot of worker index into out. */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_members_status(const ksched_members *m, uint32_t index,
		      struct ksched_worker_status *out);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_MEMBERSHIP_H */
