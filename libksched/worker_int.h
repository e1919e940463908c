/*
 * Internal: the worker runtime shared between worker.c (API, configuration,
 * executor pool, start and stop), worker_net.c (the dispatch and heartbeat
 * threads) and worker_exec.c (executors).  The executors know nothing of
 * the network and are tested on their own.
 */
#ifndef KSCHED_WORKER_INT_H
#define KSCHED_WORKER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "ksched/worker.h"

#define KSCHED__EXEC_OUT_MAX (1u << 20) /* stdout bytes kept */
#define KSCHED__EXEC_ERR_TAIL 4096u	/* stderr bytes kept (the last) */
#define KSCHED__EXEC_KILL_GRACE_MS 2000 /* SIGTERM to SIGKILL */
#define KSCHED__EXEC_DRAIN_MS 2000	/* pipes kept open after exit */

/*
 * The outcome of one task.  out and error are owned by the result
 * (allocated with ksched__malloc, or malloc by a handler: both are freed
 * with ksched__free) and released by ksched__result_clear().
 */
struct ksched__result {
	bool ok;
	int32_t exit_status; /* exit code, 128 + signal, 127, or -1 */
	void *out;
	size_t len;
	char *error; /* NULL when ok */
	bool released; /* handed back unfinished (stop): not an attempt */
};

/* ksched__result_clear: free what r holds and zero it. */
void ksched__result_clear(struct ksched__result *r);

/*
 * ksched__result_fail: make r a failure with exit status st and a message
 * formatted from fmt (if that allocation fails the message is NULL; the
 * sender then says "out of memory").  Frees any output r held.
 */
void ksched__result_fail(struct ksched__result *r, int32_t st, const char *fmt,
			 ...) __attribute__((format(printf, 3, 4)));

/*
 * Executors: run task t and fill r (zeroed by the caller).  cancel is
 * polled: once it reads true the task is ended early (exec kills its
 * process group) and fails with "canceled: worker stopping".  They block
 * SIGPIPE on the calling thread while they run.
 */
void ksched__exec_run(const ksched_task *t, const atomic_bool *cancel,
		      struct ksched__result *r);
void ksched__sim_run(const ksched_task *t, const atomic_bool *cancel,
		     struct ksched__result *r);

/*
 * ksched__pi_estimate: a Monte Carlo estimate of pi from samples points
 * drawn with splitmix64 from seed (so a seed gives one answer, bit for bit)
 * into *pi (0 when samples is 0).  cancel may be NULL; once it reads true
 * the estimate stops early and returns false, *pi untouched.  Used by the
 * sim executor and the reference daemon's `pi` handler.
 */
bool ksched__pi_estimate(uint64_t seed, uint64_t samples,
			 const atomic_bool *cancel, double *pi);

/*
 * ksched__worker_run: run t with the executor or handler of w for its kind
 * (handlers are read-only while w runs, so no lock is taken).
 */
void ksched__worker_run(ksched_worker *w, const ksched_task *t,
			const atomic_bool *cancel, struct ksched__result *r);

/* --- the worker object ------------------------------------------------- */

struct ksched__handler {
	char *kind;
	ksched_handler_fn fn;
	void *arg;
};

struct ksched__label {
	char *key;
	char *value;
};

/*
 * An assignment, from its lease to the delivery of its completion: queued
 * (w->qhead), running (a slot's job), then pending (w->pending) or in
 * flight (an rpc's batch).  task is freed once it has run.
 */
struct ksched__job {
	struct ksched__job *next;
	uint64_t id;
	uint64_t token;
	uint32_t attempt;
	uint32_t rank;	   /* part of a gang task */
	ksched_task *task; /* NULL when the spec did not decode */
	char *bad;	   /* why it did not decode */
	struct ksched_resources need;
	int64_t run_ms;
	struct ksched__result r;
};

/* ksched__job_free: free j and what it holds; NULL is a no-op. */
void ksched__job_free(struct ksched__job *j);

/* ksched__mono_ms: a monotonic clock in milliseconds. */
int64_t ksched__mono_ms(void);

/* One executor thread. */
struct ksched__slot {
	ksched_worker *w;
	pthread_t th;
	bool started;
	atomic_bool cancel;
	struct ksched__job *job; /* running now, under w->mu */
};

struct ksched__net; /* the dispatch sockets and requests (worker_net.c) */
struct ksched__whttp; /* the optional HTTP server (worker_http.c) */

struct ksched_worker {
	/* configuration: set while stopped, read-only while running */
	char *id;
	char *dispatch_url;
	char *heartbeat_url;
	struct ksched_resources cap;
	struct ksched__label *labels;
	size_t nlabels;
	struct ksched__handler *handlers;
	size_t nhandlers;

	/* everything below is under mu while running */
	pthread_mutex_t mu;
	pthread_cond_t cv_disp; /* the dispatch thread waits on it */
	pthread_cond_t cv_exec; /* executors wait on it */
	pthread_cond_t cv_idle; /* stop waits on it for tasks to end */
	bool running;		/* between start and stop */
	bool stopping;		/* no more leases */
	bool exec_quit;		/* executors leave */
	bool exec_done;		/* executors joined: flush and leave */
	bool handback;		/* stopping: what is cut short is released */
	bool draining;		/* the master gives no more work */
	atomic_bool quit;	/* the heartbeat thread leaves */

	struct ksched__job *qhead, *qtail; /* leased, not started */
	size_t queued;
	struct ksched__slot *slots;
	size_t nslots;
	size_t busy;				    /* slots running a job */
	struct ksched__job *pending, *pending_tail; /* not yet delivered */

	bool registered;
	uint64_t session;
	uint64_t gen; /* registrations done in this run */
	struct ksched_worker_stats st;

	struct ksched__net *net;
	char *http_addr;	    /* NULL: no HTTP server */
	struct ksched__whttp *wh;   /* the server while running */
	char http_bound[64];
	pthread_t disp_th;
	pthread_t hb_th;
	bool disp_started, hb_started;
};

/* --- shared by worker.c and worker_net.c ------------------------------- */

/*
 * ksched__worker_wait: wait on cv (with w->mu held) until it is signalled
 * or the monotonic clock reaches until (ms, as ksched__mono_ms); cv must
 * use CLOCK_MONOTONIC.
 */
void ksched__worker_wait(ksched_worker *w, pthread_cond_t *cv, int64_t until);

/*
 * ksched__worker_net_open: open w->net: the dispatch REQ socket with its
 * two contexts and the heartbeat respondent, both dialled (without
 * waiting) to w's master URLs.  On failure what was opened stays for
 * ksched__worker_net_close().
 */
ksched_err ksched__worker_net_open(ksched_worker *w);

/*
 * ksched__worker_net_close: after the threads: stop the requests, put the
 * completions they carried back on w->pending, close the sockets and free
 * w->net.  A no-op without w->net.
 */
void ksched__worker_net_close(ksched_worker *w);

/*
 * ksched__worker_net_flush: the executors are joined (under w->mu): the
 * dispatch thread has a bounded time from now to deliver what is pending.
 * A no-op without w->net.
 */
void ksched__worker_net_flush(ksched_worker *w);

/*
 * Thread bodies, arg is w, started by ksched_worker_start() with every
 * signal blocked.  The dispatch thread registers, leases and sends
 * completions until stopping and flushed (w->exec_done); the heartbeat
 * thread answers the master's surveys until w->quit.
 */
void *ksched__worker_dispatch_main(void *arg);

/*
 * worker_http.c: start the HTTP server when w->http_addr is set (before
 * the other threads), stop it (after them); observe a task's run time
 * (under w->mu).
 */
ksched_err ksched__worker_http_start(ksched_worker *w);
void ksched__worker_http_stop(ksched_worker *w);
void ksched__worker_http_observe(ksched_worker *w, int64_t run_ms);
void *ksched__worker_hb_main(void *arg);

#endif
