/*
 * libksched - the client: talk to a master's control socket.
 *
 * What kschedctl does, an application can do with these calls: submit task
 * specs, ask for their status and results, wait for them, cancel them, list
 * them, and read the master's workers, counters and result cache.
 *
 * A client holds one request/reply connection to the master (nng REQ,
 * dialled in the background: opening never waits for the master).  Each call
 * sends one or more requests and waits for their replies for at most the
 * client timeout (ksched_client_set_timeout(); wait adds its own timeout).
 * When nothing answers in time, because no master listens or it is stuck,
 * the call returns KSCHED_ENOTCONN.
 *
 * Errors: a call returns the master's error (e.g. KSCHED_EINVAL for a bad
 * task spec, KSCHED_ENOENT for an unknown task id) or a local one
 * (KSCHED_ENOTCONN, KSCHED_EPROTO for a reply that is malformed or does not
 * answer the request, KSCHED_ENOMEM).  ksched_client_last_error() then says
 * what went wrong in words.
 *
 * Calls that take many ids or tasks split them into requests of at most
 * KSCHED_CLIENT_CHUNK items, transparently; see each call for what that
 * means when a later request fails.
 *
 * Not thread safe: use a client from one thread at a time (open one client
 * per thread instead; they are cheap).
 */
#ifndef KSCHED_CLIENT_H
#define KSCHED_CLIENT_H

#include <stdbool.h>

#include "common.h"
#include "membership.h"
#include "queue.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ksched_client ksched_client;

/* The control URL used when neither the caller nor $KSCHED_CONTROL say. */
#define KSCHED_CLIENT_DEFAULT_URL "tcp://127.0.0.1:7700"
/* Environment variable naming the control URL. */
#define KSCHED_CLIENT_URL_ENV "KSCHED_CONTROL"
/* Default time a call waits for the master, in ms. */
#define KSCHED_CLIENT_TIMEOUT_MS 10000
/* Extra time a wait call allows beyond its own timeout, in ms. */
#define KSCHED_CLIENT_WAIT_GRACE_MS 5000
/* Most tasks or ids sent in one request. */
#define KSCHED_CLIENT_CHUNK 1000
/* Most tasks one list call returns. */
#define KSCHED_CLIENT_LIST_MAX 10000

/* What the master says about a task (strings are NUL terminated copies). */
struct ksched_task_status {
	uint64_t id;
	enum ksched_state state; /* a newer master's unknown state passes */
	int32_t priority;
	uint32_t attempts; /* leases so far */
	uint32_t retries;  /* retry budget */
	uint32_t flags;	   /* KSCHED_TASK_* */
	int64_t submitted; /* ms since the epoch */
	int64_t due;	   /* see struct ksched_task_info */
	bool cached;	   /* result served from the result cache */
	char kind[KSCHED_KIND_MAX + 1];
	char worker[KSCHED_WORKER_ID_MAX + 1]; /* "" if none */
	char last_error[KSCHED_ERROR_MAX + 1]; /* "" if none */
	char pending_reason[1024]; /* why a ready task waits, per worker */
};

/* The master's counters. */
struct ksched_stats {
	uint64_t counts[KSCHED_STATE_COUNT]; /* tasks per enum ksched_state */
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t cache_entries;
	uint64_t workers;
	uint64_t attached; /* single-flight attachments */
	uint64_t bad_messages;
	int64_t uptime_ms;
};

/*
 * ksched_client_open: a client of the master at url (e.g.
 * "tcp://host:7700" or "ipc:///run/ksched.ipc"); NULL means $KSCHED_CONTROL,
 * else KSCHED_CLIENT_DEFAULT_URL.  Does not wait for the master: the first
 * call does.  KSCHED_EINVAL for a URL that cannot be dialled (bad syntax,
 * unknown scheme).  The caller owns *out: ksched_client_close() it.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_client_open(const char *url,
							  ksched_client **out);

/* ksched_client_close: drop the connection and free c; NULL is a no-op. */
KSCHED_API void ksched_client_close(ksched_client *c);

/*
 * ksched_client_set_timeout: how long each request waits for its reply, in
 * ms (clamped to about 24 days); ms <= 0 restores KSCHED_CLIENT_TIMEOUT_MS.
 */
KSCHED_API void ksched_client_set_timeout(ksched_client *c, int64_t ms);

/*
 * ksched_client_last_error: why the last call failed: the master's message
 * (e.g. "task 3: field 'cpu' must be >= 0 (got -5)") or a local one (e.g.
 * "no answer from tcp://127.0.0.1:7700 within 10000 ms"); "" after a call
 * that succeeded.  Owned by c, valid until the next call on c.
 */
KSCHED_API const char *ksched_client_last_error(const ksched_client *c);

/*
 * ksched_client_submit: submit n (>= 1) tasks (copied: encoded at once);
 * ids[0..n) gets their ids, cached (may be NULL) whether each was answered
 * from the result cache at once.  Every task is validated first: if any is
 * invalid nothing is sent and the call fails with KSCHED_EINVAL, the message
 * naming the task's index and field.  More than KSCHED_CLIENT_CHUNK tasks
 * go in several requests, each all or nothing; if one fails, the tasks of
 * the requests before it are submitted (their ids set) and ids of the rest
 * are 0.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_client_submit(ksched_client *c, const ksched_task *const *tasks,
		     size_t n, uint64_t *ids, bool *cached);

/*
 * ksched_client_status: the status of n tasks into out[0..n), in order.
 * KSCHED_ENOENT if any id is unknown (message "task ID: not found").
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_client_status(ksched_client *c, const uint64_t *ids, size_t n,
		     struct ksched_task_status *out);

/*
 * ksched_client_result: the status (st, may be NULL) and the result bytes of
 * task id.  When the task has a result, *out gets a copy (never NULL, even
 * for an empty result; free it with ksched_free()) and *len its length;
 * otherwise (not finished, failed, canceled) *out is NULL and *len 0: st
 * says why.  out and len may both be NULL to ask for the status only.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_client_result(ksched_client *c, uint64_t id,
		     struct ksched_task_status *st, void **out, size_t *len);

/*
 * ksched_client_wait: wait until the n tasks ids (or, with all, every task
 * the master has; ids and n are then ignored) are final, or timeout_ms
 * (>= 0; 0 only asks) has passed.  *remaining (may be NULL) gets how many
 * are not final yet: 0 means all are.  Returns KSCHED_OK in both cases;
 * read their states with ksched_client_status().  The reply is awaited for
 * timeout_ms + KSCHED_CLIENT_WAIT_GRACE_MS.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_client_wait(ksched_client *c,
							  const uint64_t *ids,
							  size_t n, bool all,
							  int64_t timeout_ms,
							  uint64_t *remaining);

/*
 * ksched_client_cancel: cancel n tasks.  errs (may be NULL) gets the outcome
 * per id: KSCHED_OK, KSCHED_ENOENT (unknown) or KSCHED_ESTATE (already
 * final).  Returns KSCHED_OK if every one was canceled, else the first
 * failing id's error (message "task ID: ..."), or the call's own error.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_client_cancel(ksched_client *c,
							    const uint64_t *ids,
							    size_t n,
							    ksched_err *errs);

/*
 * ksched_client_retry: give n DEAD tasks a fresh retry budget (they are
 * ready again).  errs as for ksched_client_cancel(): KSCHED_ESTATE for a
 * task that is not dead.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_client_retry(ksched_client *c,
							   const uint64_t *ids,
							   size_t n,
							   ksched_err *errs);

/*
 * ksched_client_drain: the master gives worker no new work; it finishes
 * what it runs and may then exit.  *running (may be NULL) gets how many
 * tasks it was running.  KSCHED_ENOENT for an unknown worker.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_client_drain(ksched_client *c, const char *worker, uint32_t *running);

/*
 * ksched_client_list: tasks in state st with ids after cursor (0 to start),
 * in id order: up to limit (1..KSCHED_CLIENT_LIST_MAX) into out, *n how
 * many.  *next (may be NULL) gets the cursor of the next page, 0 at the end.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_client_list(
    ksched_client *c, enum ksched_state st, uint64_t cursor, size_t limit,
    struct ksched_task_status *out, size_t *n, uint64_t *next);

/*
 * ksched_client_workers: a snapshot of every worker the master knows: *out
 * (free with ksched_free(); NULL when *n is 0) gets *n entries.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_client_workers(
    ksched_client *c, struct ksched_worker_status **out, size_t *n);

/* ksched_client_stats: the master's counters into out. */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_client_stats(ksched_client *c, struct ksched_stats *out);

/*
 * ksched_client_cache_invalidate: remove result cache entries: the one of
 * key, or every one of kind, or with all every entry; exactly one of the
 * three must be given (else KSCHED_EINVAL).  *removed (may be NULL) gets
 * how many went.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_client_cache_invalidate(ksched_client *c, const struct ksched_key *key,
			       const char *kind, bool all, uint64_t *removed);

/*
 * ksched_client_parse_task: a task spec from one JSON object of len bytes
 * (a line of a kschedctl tasks file), starting from a copy of defaults
 * (NULL: ksched_task_new()'s).  Fields, all optional:
 *   "kind", "payload", "cwd", "user", "salt": strings;
 *   "argv": ["prog", "arg", ...];  "env": {"K": "V"} or ["K=V", ...];
 *   "labels": {"K": "V"};  "selector": {"K": "V"} (worker labels the
 *   task requires);  "no_cache": true or false;
 *   "priority", "cpu" (millicores), "mem" (MB), "gpus", "nodes",
 *   "retries", "backoff" (ms): integers;
 *   "timeout", "ttl": seconds (may have a fraction).
 * env, labels and selector add to those of defaults; the others replace.
 * An unknown field, a wrong type or bad JSON gives KSCHED_EINVAL and a
 * message in err (NUL terminated, truncated to errlen), e.g. "field 'cpu'
 * must be an integer".  The spec is not validated: ksched_task_validate()
 * it.  The caller owns *out (ksched_task_free()).
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_client_parse_task(
    const char *json, size_t len, const ksched_task *defaults,
    ksched_task **out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_CLIENT_H */
