/*
 * libksched - the worker runtime.
 *
 * A worker registers with a master, asks it for tasks (a long-poll lease),
 * runs them on `slots` executor threads and reports their completions.  It
 * also answers the master's heartbeat surveys.  Three kinds of task run:
 *
 *   exec  argv[0] with argv, env, cwd; stdin = the payload; result = stdout
 *         (capped at 1 MiB); in its own process group, killed on timeout;
 *         what argv[0] leaves running in its group is killed when it exits.
 *   sim   a simulated computation described by a JSON payload:
 *         {"cpu_ms", "mem_mb", "sleep_ms", "pi_samples", "seed", "fail",
 *         "exit"}, every key optional; an empty payload is a no-op.
 *   other kinds run a handler registered with ksched_worker_handle(); a kind
 *   with no handler fails with "no handler for kind 'X'".
 *
 * Threads: ksched_worker_start() starts a dispatch thread (network), one
 * executor thread per slot and a heartbeat thread; they block every signal.
 * Configure a worker (set_master, set_capacity, add_label, handle) before
 * starting it: those calls return KSCHED_ESTATE while it runs.  Apart from
 * ksched_worker_stats(), which any thread may call at any time, a worker is
 * driven from one thread at a time.
 *
 * Errors are reported through the log (ksched_log_set_sink()); a worker
 * keeps retrying a master that is down or misbehaves, it never gives up.
 */
#ifndef KSCHED_WORKER_H
#define KSCHED_WORKER_H

#include <stdbool.h>

#include "common.h"
#include "membership.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ksched_worker ksched_worker;

/* Defaults used when ksched_worker_set_master() is not called. */
#define KSCHED_WORKER_DISPATCH_URL "tcp://127.0.0.1:7701"
#define KSCHED_WORKER_HEARTBEAT_URL "tcp://127.0.0.1:7702"
#define KSCHED_WORKER_SLOTS_MAX 1024 /* executor threads */

/*
 * A handler computes the result of one task of the kind it was registered
 * for.  On success it sets *out to a buffer allocated with malloc() (the
 * worker frees it; NULL is allowed when *len is 0) and *len to its size,
 * and returns KSCHED_OK.  On failure it writes a NUL-terminated message of
 * at most errlen bytes into err and returns any other value (the worker
 * frees *out if it was set).  task is borrowed for the call.  Handlers run on
 * executor threads, several at once when slots > 1, so they must be thread
 * safe.  A handler cannot be interrupted: ksched_worker_stop() waits for it.
 */
typedef ksched_err (*ksched_handler_fn)(void *arg, const ksched_task *task,
					void **out, size_t *len, char *err,
					size_t errlen);

/*
 * ksched_worker_new: a stopped worker named id (1..64 bytes, no spaces,
 * quotes, backslashes or control characters), with the default URLs and a
 * capacity of every CPU (1000 millicores each), the physical memory, no
 * GPUs and one slot per CPU.  The caller owns *out and frees it with
 * ksched_worker_free().  KSCHED_EINVAL on a bad id.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_worker_new(const char *id,
							 ksched_worker **out);

/* ksched_worker_free: stop w if it runs, then free it; NULL is a no-op. */
KSCHED_API void ksched_worker_free(ksched_worker *w);

/*
 * ksched_worker_set_master: the master's dispatch (REQ/REP) and heartbeat
 * (SURVEYOR/RESPONDENT) URLs, e.g. "tcp://10.0.0.5:7701"; either may be
 * NULL to keep its current value.  The strings are copied.  The URLs are
 * checked by ksched_worker_start().
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_worker_set_master(
    ksched_worker *w, const char *dispatch_url, const char *heartbeat_url);

/*
 * ksched_worker_set_capacity: what the worker offers: cpu_milli, mem_mb and
 * gpus >= 0, slots 1..KSCHED_WORKER_SLOTS_MAX (one executor thread each).
 * KSCHED_EINVAL otherwise.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_worker_set_capacity(
    ksched_worker *w, const struct ksched_resources *cap);

/*
 * ksched_worker_add_label: a label the master may match tasks against
 * (1..KSCHED_LABEL_LEN_MAX bytes each, at most KSCHED_LABELS_MAX labels;
 * a key given twice takes the last value).  Copied.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_worker_add_label(ksched_worker *w, const char *key, const char *value);

/*
 * ksched_worker_handle: run tasks of kind (a valid kind name other than
 * "exec" and "sim") with fn(arg, ...).  Registering a kind again replaces
 * its handler.  arg is borrowed: it must outlive the worker's run.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_worker_handle(
    ksched_worker *w, const char *kind, ksched_handler_fn fn, void *arg);

/*
 * ksched_worker_start: open the sockets, dial the master (in the
 * background: the master need not be up yet) and start the threads; returns
 * at once.  KSCHED_EINVAL for a URL nng cannot use, KSCHED_ESTATE if
 * already running, KSCHED_ENOMEM, KSCHED_EIO if a thread cannot be created.
 * On failure nothing is left running.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_worker_start(ksched_worker *w);

/*
 * ksched_worker_stop: stop asking for work, wait up to 5 s for running
 * tasks, then kill the process groups of exec tasks still running (sim tasks
 * stop early; handlers are waited for) and report those as failed, deliver
 * what completions it can within about 2 s, and join the threads.  Tasks
 * leased but not yet started are dropped: the master re-queues them when
 * their lease expires.  KSCHED_ESTATE if not running.  The worker may be
 * started again afterwards.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_worker_stop(ksched_worker *w);

/* Counters since ksched_worker_new(). */
struct ksched_worker_stats {
	uint64_t executed; /* tasks run to an end */
	uint64_t succeeded;
	uint64_t failed;
	uint64_t running;	/* tasks running now */
	uint64_t registrations; /* successful registrations */
	bool registered;	/* holds a session with the master now */
	bool draining;		/* the master drains it: no more work comes */
	uint64_t heartbeats;	/* heartbeat surveys answered */
};

/* ksched_worker_stats: a consistent snapshot; thread safe. */
KSCHED_API void ksched_worker_stats(ksched_worker *w,
				    struct ksched_worker_stats *out);

/*
 * ksched_worker_set_http: serve GET /metrics (Prometheus text) on addr,
 * "HOST:PORT" (port 0 picks one), from ksched_worker_start() on, on a
 * thread of its own; NULL or "none" turns it off (the default).  Only
 * while stopped (KSCHED_ESTATE otherwise); KSCHED_EINVAL for an address
 * without a port.  Start fails if it cannot listen.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_worker_set_http(ksched_worker *w, const char *addr);

/*
 * ksched_worker_http_addr: "HOST:PORT" the server listens on while
 * running, else "".  Borrowed: valid until the worker stops.
 */
KSCHED_API const char *ksched_worker_http_addr(const ksched_worker *w);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_WORKER_H */
