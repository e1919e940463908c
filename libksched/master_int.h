/*
 * Internal: the master's parts.  master_net.c owns the nng sockets and the
 * inbox (nng threads only move messages into it and wake the loop);
 * master.c owns the loop, the core and the request handlers.
 */
#ifndef KSCHED_MASTER_INT_H
#define KSCHED_MASTER_INT_H

#include <pthread.h>

#include <event2/event.h>
#include <nng/nng.h>

#include "proto.h"
#include "u64map.h"

#include "ksched/master.h"
#include "ksched/sched.h"

enum mctx_kind { MCTX_CONTROL, MCTX_DISPATCH, MCTX_SURVEY };
enum mctx_state { MCTX_RECV, MCTX_LOOP, MCTX_PARKED, MCTX_SEND, MCTX_DONE };

/* One nng context and its aio: a request in progress. */
struct mctx {
	struct ksched_master *m;
	enum mctx_kind kind;
	enum mctx_state state;
	nng_ctx ctx;
	nng_aio *aio;
	nng_msg *msg;	      /* the request, or a heartbeat */
	Ksched__Request *req; /* decoded, while parked */
	int64_t deadline;     /* parked until */
	uint32_t worker;      /* parked lease: worker index and max */
	uint32_t max;
	struct mctx *next;    /* inbox or parked list */
	int32_t *errs;	      /* parked lease: outcomes of its completions */
	size_t nerrs;
	nng_msg *out;	      /* the reply, sent after the commit */
	struct mctx *onext;   /* outbox */
};

struct ksched_master {
	struct ksched_master_config cfg;
	char *strs[6]; /* copies of cfg strings */
	ksched_store *store;
	ksched_queue *q;
	ksched_cache *c;
	ksched_sched *s;
	ksched_policy *policy;
	struct event_base *base;
	struct event *wake, *stop_ev, *hb_timer, *housekeeping, *death_timer;
	struct event *sigterm, *sigint;
	nng_socket control, dispatch, survey;
	struct mctx *ctxs;
	size_t nctxs;
	struct mctx survey_ctx;
	pthread_mutex_t lock; /* guards inbox, stopping */
	struct mctx *inbox, *inbox_tail;
	bool stopping;
	bool abandoned; /* a socket close hung: nng may still use m */
	struct mctx *parked_leases, *parked_waits;
	struct mctx *outbox, *outbox_tail;
	uint64_t *sessions; /* per worker index */
	size_t nsessions;
	uint64_t survey_seq;
#define MASTER_CANCELS_MAX 4096 /* cancels announced per survey */
	uint64_t cancel_buf[MASTER_CANCELS_MAX];
	int64_t started;
	uint64_t bad_messages;
	bool changed; /* something finished or arrived this turn */
	ksched_err run_err;
	struct master_obs *obs;	 /* metrics, attempts, history */
	struct evhttp *http;	 /* NULL when HTTP is off */
	char http_bound[96];	 /* "host:port" actually bound, or "" */
};

/* master_net.c */
ksched_err ksched__master_net_open(struct ksched_master *m, char *err,
				   size_t errlen);
void ksched__master_net_close(struct ksched_master *m);
/* Pop everything from the inbox (in arrival order). */
struct mctx *ksched__master_inbox_take(struct ksched_master *m);
/*
 * Queue a reply on x: it is sent by ksched__master_flush() after the turn's
 * commit (or replaced by an error if the commit failed).
 */
void ksched__master_reply(struct mctx *x, const Ksched__Reply *rep);
/* An empty reply of this protocol version. */
static inline Ksched__Reply
ksched__master_reply_init(void)
{
	Ksched__Reply rep = KSCHED__REPLY__INIT;

	rep.version = KSCHED_PROTO_VERSION;
	return rep;
}
/* Send every queued reply; commit_err != 0 turns them into errors. */
void ksched__master_flush(struct ksched_master *m, ksched_err commit_err);
/* Send an error reply. */
void ksched__master_reply_err(struct mctx *x, ksched_err e, const char *msg);
/* Start a heartbeat survey. */
void ksched__master_survey(struct ksched_master *m);
/* Drop the received message and receive again (no reply: survey). */
void ksched__master_rearm(struct mctx *x);

/* ---- master_obs.c: what the HTTP side shows (loop thread only) -------- */

enum master_outcome {
	MO_RUNNING,
	MO_OK,
	MO_FAILED,
	MO_EXPIRED,
	MO_LOST,
	MO_RELEASED
};

/* One attempt of a task, as the master saw it. */
struct master_attempt {
	uint32_t attempt;
	enum master_outcome outcome;
	int64_t started, ended; /* ms; ended 0 while running */
	char worker[KSCHED_WORKER_ID_MAX + 1];
	char error[96];
};

/* The attempts kept per task, and the tasks kept (oldest forgotten). */
#define MASTER_ATTEMPTS_MAX 8
#define MASTER_ALOG_TASKS 4096

/* One history sample (every second, the last 10 minutes). */
struct master_sample {
	int64_t t_ms;
	uint64_t ready, leased, pending;
	uint64_t completed, failed; /* in the interval before t_ms */
};
#define MASTER_HISTORY_MS 1000
#define MASTER_HISTORY_N 600

ksched_err ksched__master_obs_new(struct ksched_master *m);
void ksched__master_obs_free(struct ksched_master *m);
/* A placement was made (a gang's parts: rank 0 counts). */
void ksched__master_obs_placed(struct ksched_master *m,
			       const struct ksched_assignment *a,
			       int64_t now);
/* A report of (id, rank) was recorded; started is the attempt's start as
 * the core had it, or -1. */
void ksched__master_obs_report(struct ksched_master *m, uint64_t id,
			       uint32_t rank, int64_t started, bool ok,
			       bool released, const char *error, int64_t now);
/* Worker id was declared dead: its running attempts are lost. */
void ksched__master_obs_worker_lost(struct ksched_master *m, const char *id,
				    int64_t now);
/* Durations, in seconds: one dispatch pass, one store commit. */
void ksched__master_obs_dispatch(struct ksched_master *m, double s);
void ksched__master_obs_commit(struct ksched_master *m, double s);
/* The Prometheus text of the master's metrics (free with ksched_free). */
ksched_err ksched__master_obs_scrape(struct ksched_master *m, int64_t now,
				     char **out, size_t *len);
/* The attempts of task id, oldest first (borrowed, until the next turn). */
size_t ksched__master_attempts(struct ksched_master *m, uint64_t id,
			       const struct master_attempt **out);
/* The history samples, oldest first, into out (up to max); how many. */
size_t ksched__master_history(struct ksched_master *m,
			      struct master_sample *out, size_t max);
/* Seconds from a monotonic clock, for durations. */
double ksched__master_mono(void);

/* ---- master_http.c / master_api.c ------------------------------------- */

/* Listen on m->cfg.http_addr ("host:port"; port 0 picks one). */
ksched_err ksched__master_http_open(struct ksched_master *m, char *err,
				    size_t errlen);
void ksched__master_http_close(struct ksched_master *m);

struct evhttp_request;
/* Send a JSON body (stolen: freed here) or {"error": msg} with status. */
void ksched__http_json(struct evhttp_request *req, int status, char *body);
void ksched__http_error(struct evhttp_request *req, int status,
			const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The routes of master_api.c: path is the part after /api/v1. */
void ksched__master_api(struct ksched_master *m, struct evhttp_request *req,
			const char *path, const char *query);

/* master.c, called from master_net.c's loop wake-up */
void ksched__master_turn(struct ksched_master *m);

#endif
