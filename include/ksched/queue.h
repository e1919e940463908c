/*
 * libksched - the durable task queue, in the store's LMDB environment.
 *
 * Every task has a state:
 *
 *   push -> PENDING (until not-before) -> READY -> LEASED -> SUCCEEDED
 *                                           ^         |
 *                 PENDING (retry backoff) <-+---------+ fail / lease expired
 *                                                     +-> DEAD (no retries left)
 *   cancel: PENDING, READY or LEASED -> CANCELED
 *
 * READY tasks are handed out by priority (higher first), then submission
 * order.  A lease has a deadline and a token; complete, fail and touch must
 * present the token of the current lease, so a late answer from an earlier
 * lease holder is refused (KSCHED_ESTALE).
 *
 * Every operation is O(log n) (list is O(log n + k)): in-memory indexes are
 * rebuilt from LMDB when the queue is opened.  Changes follow the store's
 * batching rules: outside a ksched_store_begin()/ksched_store_commit() batch
 * each call commits (and in strict mode fsyncs) before it returns.
 *
 * Times are milliseconds on the caller's clock; the queue never reads one.
 * Not thread safe: use a queue from one thread.
 */
#ifndef KSCHED_QUEUE_H
#define KSCHED_QUEUE_H

#include "store.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ksched_queue ksched_queue;

/* Task states.  Values are stored on disk: only ever appended. */
enum ksched_state {
	KSCHED_STATE_PENDING = 0,   /* waiting for not-before or a retry */
	KSCHED_STATE_READY = 1,	    /* may be leased */
	KSCHED_STATE_LEASED = 2,    /* handed out under a lease */
	KSCHED_STATE_SUCCEEDED = 3, /* final: completed */
	KSCHED_STATE_DEAD = 4,	    /* final: failed with no retries left */
	KSCHED_STATE_CANCELED = 5,  /* final: canceled */
	KSCHED_STATE_COUNT = 6
};

/* ksched_state_name: "pending", "ready", ...; static string or "unknown". */
KSCHED_API const char *ksched_state_name(enum ksched_state st);

/* ksched_state_parse: the state named name; KSCHED_EINVAL if none. */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_state_parse(const char *name, enum ksched_state *out);

/* ksched_state_is_final: SUCCEEDED, DEAD or CANCELED. */
KSCHED_API bool ksched_state_is_final(enum ksched_state st);

/* A lease handed out by ksched_queue_lease(). */
struct ksched_lease {
	uint64_t id;
	uint32_t attempt;  /* 1 for the first lease of the task */
	uint64_t token;	   /* present it to complete, fail and touch */
	int64_t deadline;  /* ms; the lease expires after it */
};

#define KSCHED_ERROR_MAX 255 /* bytes of a stored error message */

/* Task flags (struct ksched_task_info.flags). */
#define KSCHED_TASK_CACHED 0x1u	  /* result served from the result cache */
#define KSCHED_TASK_ATTACHED 0x2u /* leased to wait on an identical task */

/* What ksched_queue_get() tells about a task. */
struct ksched_task_info {
	uint64_t id;
	enum ksched_state state;
	int32_t priority;
	uint32_t attempts;  /* leases so far */
	uint32_t retries;   /* retry budget (attempts allowed = retries+1) */
	int64_t submitted;  /* ms */
	/* PENDING: when it becomes READY; LEASED: the lease deadline;
	 * final states: when it ended. */
	int64_t due;
	uint64_t token;	    /* current lease token (LEASED) or 0 */
	uint32_t flags;	    /* KSCHED_TASK_* */
	char last_error[KSCHED_ERROR_MAX + 1]; /* "" if none */
};

/*
 * ksched_queue_open: the queue in store s (one per store).  Rebuilds the
 * in-memory indexes from LMDB; KSCHED_ECORRUPT if a record is malformed.
 * The caller owns *out; close it with ksched_queue_close() before the
 * store.  seed (any value) drives backoff jitter and lease tokens; give the
 * same seed for reproducible runs, or ksched_now_ms() otherwise.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_open(ksched_store *s, uint64_t seed, ksched_queue **out);

/* ksched_queue_close: NULL is a no-op. */
KSCHED_API void ksched_queue_close(ksched_queue *q);

/*
 * ksched_queue_push: validate t (KSCHED_EINVAL, message in err if not NULL)
 * and add it; *id (may be NULL) gets its new id.  The task is copied.  A
 * task whose not-before is after now starts PENDING, else READY.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_push(ksched_queue *q, const ksched_task *t, int64_t now,
		  uint64_t *id, char *err, size_t errlen);

/*
 * ksched_queue_push_batch: push n tasks in one transaction (one fsync):
 * all or none.  ids (may be NULL) gets n ids.  If any task is invalid
 * nothing is pushed, *bad (may be NULL) gets its index and err the message.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_queue_push_batch(
	ksched_queue *q, const ksched_task *const *tasks, size_t n,
	int64_t now, uint64_t *ids, size_t *bad, char *err, size_t errlen);

/*
 * ksched_queue_lease: first makes due PENDING tasks READY, then leases up to
 * max READY tasks in order for lease_ms (> 0); out[0..*n) gets the leases.
 * *n == 0 when none is ready.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_lease(ksched_queue *q, int64_t now, int64_t lease_ms,
		   size_t max, struct ksched_lease *out, size_t *n);

/*
 * ksched_queue_lease_id: lease one READY task chosen by the caller (a
 * policy); KSCHED_ESTATE if it is not READY, KSCHED_ENOENT if unknown.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_lease_id(ksched_queue *q, uint64_t id, int64_t now,
		      int64_t lease_ms, struct ksched_lease *out);

/*
 * ksched_queue_ready_scan: up to max READY ids in the order lease would hand
 * them out, without changing anything (for a scheduler that places tasks
 * itself with ksched_queue_lease_id()).  O(max log max).
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_ready_scan(ksched_queue *q, size_t max, uint64_t *ids,
			size_t *n);

/*
 * ksched_queue_attach: lease a READY (or due PENDING) task without an
 * attempt and without a deadline, flagged KSCHED_TASK_ATTACHED: it waits for
 * an identical task (single flight).  End it with
 * ksched_queue_finish_cached() or give it back with ksched_queue_release().
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_attach(ksched_queue *q, uint64_t id, int64_t now,
		    uint64_t *token);

/*
 * ksched_queue_release: give a lease back without failing it: the task is
 * READY again and the attempt is not counted (a drained worker handing work
 * back, an attached task whose original failed).  Tokens as for complete.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_release(ksched_queue *q, uint64_t id, uint64_t token,
		     int64_t now);

/*
 * ksched_queue_finish_cached: a task that has not ended (any of PENDING,
 * READY, LEASED) succeeds at once with result bytes taken from the cache;
 * it is flagged KSCHED_TASK_CACHED.  A holder of its lease is refused
 * afterwards.  KSCHED_ESTATE if it has ended.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_finish_cached(ksched_queue *q, uint64_t id, int64_t now,
			   const void *result, size_t len);

/* ksched_queue_touch: extend a lease to now + lease_ms. */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_touch(ksched_queue *q, uint64_t id, uint64_t token, int64_t now,
		   int64_t lease_ms, int64_t *deadline);

/*
 * ksched_queue_complete: record success and the result bytes (copied; len
 * may be 0).  KSCHED_ESTALE if token is not the current lease's (the task
 * was re-leased, canceled or already ended), KSCHED_ENOENT if no such task.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_complete(ksched_queue *q, uint64_t id, uint64_t token,
		      int64_t now, const void *result, size_t len);

/*
 * ksched_queue_fail: the attempt failed with message error (may be NULL;
 * truncated to KSCHED_ERROR_MAX).  With retries left the task goes PENDING
 * for an exponential backoff with jitter (base * 2^(attempt-1), capped at
 * the task's max, then between half and all of it); else DEAD.  *state (may
 * be NULL) gets the new state.  Tokens are checked as for complete.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_fail(ksched_queue *q, uint64_t id, uint64_t token, int64_t now,
		  const char *error, enum ksched_state *state);

/*
 * ksched_queue_cancel: cancel a task that has not ended (a LEASED one's
 * holder will be refused when it reports).  KSCHED_ESTATE if it has ended.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_queue_cancel(ksched_queue *q,
							   uint64_t id,
							   int64_t now);

/*
 * ksched_queue_retry: give a DEAD task a fresh retry budget (attempts back
 * to 0) and make it READY.  KSCHED_ESTATE unless it is DEAD.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_queue_retry(ksched_queue *q,
							  uint64_t id,
							  int64_t now);

/*
 * ksched_queue_expire: every lease whose deadline is before or at now is
 * failed with the error "lease expired" (same retry rules as fail).
 * *requeued and *dead (may be NULL) get how many went each way.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_expire(ksched_queue *q, int64_t now, size_t *requeued,
		    size_t *dead);

/* ksched_queue_promote: make PENDING tasks due at now READY; *n may be
 * NULL. */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_promote(ksched_queue *q, int64_t now, size_t *n);

/*
 * ksched_queue_next_due: the earliest time at which promote or expire has
 * work (a not-before, a backoff end or a lease deadline); INT64_MAX if none.
 */
KSCHED_API int64_t ksched_queue_next_due(const ksched_queue *q);

/*
 * ksched_queue_get: what is known of task id; spec (may be NULL) gets a
 * copy of its spec, owned by the caller (ksched_task_free()).
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_get(ksched_queue *q, uint64_t id, struct ksched_task_info *info,
		 ksched_task **spec);

/*
 * ksched_queue_result: the result bytes of a SUCCEEDED task: *out (free
 * with ksched_free(); NULL when len is 0) and *len.  KSCHED_ENOENT if the
 * task has no recorded result.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_result(ksched_queue *q, uint64_t id, void **out, size_t *len);

/*
 * ksched_queue_list: ids of tasks in state st, in id order, starting after
 * cursor (0 to start); up to max ids into ids, *n how many.  *next gets the
 * cursor for the following page, or 0 when there is none.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_list(ksched_queue *q, enum ksched_state st, uint64_t cursor,
		  size_t max, uint64_t *ids, size_t *n, uint64_t *next);

/*
 * ksched_queue_list_desc: as ksched_queue_list, newest first: ids of tasks
 * in state st in descending id order, strictly below cursor (0 to start
 * from the newest); up to max ids into ids, *n how many.  *next gets the
 * cursor for the following page (the last id given), or 0 when there is
 * none.  Ids grow with submission, so this is newest first.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_list_desc(ksched_queue *q, enum ksched_state st, uint64_t cursor,
		       size_t max, uint64_t *ids, size_t *n, uint64_t *next);

/* ksched_queue_counts: tasks per state (indexed by enum ksched_state). */
KSCHED_API void ksched_queue_counts(const ksched_queue *q,
				    uint64_t counts[KSCHED_STATE_COUNT]);

/*
 * ksched_queue_verify: check that the in-memory indexes and counters agree
 * with the stored records (a full scan: for tests and fsck-like tools).
 * KSCHED_ECORRUPT, with a message in err, on the first disagreement.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_queue_verify(ksched_queue *q, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_QUEUE_H */
