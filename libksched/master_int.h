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
	char *strs[5]; /* copies of cfg strings */
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

/* master.c, called from master_net.c's loop wake-up */
void ksched__master_turn(struct ksched_master *m);

#endif
