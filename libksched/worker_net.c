/*
 * libksched - the worker's network side: the dispatch thread (register,
 * lease long-poll, completions) and the heartbeat respondent thread.
 *
 * The dispatch socket is one REQ0 socket with two contexts: `lease` carries
 * RegisterReq and the long-poll LeaseReq, `comp` carries CompleteReq, so a
 * finished task is reported at once even while a lease is parked.  nng
 * completes their aios on its own threads; the callbacks only store the
 * outcome and wake the dispatch thread, which owns all protocol state.
 * Everything shared between threads is under w->mu.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/protocol/survey0/respond.h>
#include <nng/supplemental/util/platform.h>

#include "alloc.h"
#include "nngclose.h"
#include "log.h"
#include "proto.h"
#include "worker_int.h"

#define WAIT_MS 1000 /* LeaseReq.wait_ms */
#define RPC_TIMEOUT_MS (WAIT_MS + 5000)
#define RESEND_MS 60000 /* NNG_OPT_REQ_RESENDTIME */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS KSCHED_PROTO_REDIAL_MAX_MS
#define FLUSH_MS 2000	/* completions after the executors are gone */
#define HB_POLL_MS 200	/* heartbeat recv timeout */
#define BATCH_MAX 1000u /* completions in one request */
#define BATCH_BYTES (32u << 20)

/* One request context: at most one request out at a time. */
struct rpc {
	ksched_worker *w;
	nng_ctx ctx;
	nng_aio *aio;
	bool open;
	bool busy; /* a request is out (under mu) */
	bool done; /* its outcome is in rv/reply (under mu) */
	bool recv; /* the aio is receiving (callback only) */
	int rv;
	nng_msg *reply;
	int kind;		   /* KSCHED__REQUEST__BODY_* */
	uint64_t gen;		   /* registration it was sent under */
	struct ksched__job *batch; /* completions it carries */
	size_t nbatch;
};

struct ksched__net {
	nng_socket disp;
	nng_socket hb;
	bool disp_open, hb_open;
	struct rpc lease, comp;
	int64_t retry_at;    /* no request before (mono ms) */
	int64_t backoff;     /* ms, 0 after a success */
	int64_t cancel_at;   /* stopping: next cancel of a parked lease */
	int64_t flush_until; /* stopping: give up delivering at */
};

static ksched_err
map_nng(int rv, const char *what, const char *url)
{
	KLOG(KSCHED_LOG_ERR, "msg=\"%s failed\" url=\"%s\" error=\"%s\"", what,
	     url ? url : "", nng_strerror(rv));
	switch (rv) {
	case NNG_ENOMEM:
		return KSCHED_ENOMEM;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP:
		return KSCHED_EINVAL;
	default:
		return KSCHED_EIO;
	}
}

/* --- completions carried by a request ----------------------------------- */

static void
backoff(struct ksched__net *n)
{
	n->backoff = n->backoff ? n->backoff * 2 : BACKOFF_MIN_MS;
	if (n->backoff > BACKOFF_MAX_MS)
		n->backoff = BACKOFF_MAX_MS;
	n->retry_at = ksched__mono_ms() + n->backoff;
}

static void
backoff_reset(struct ksched__net *n)
{
	n->backoff = 0;
	n->retry_at = 0;
}

/* Move the first pending completions (bounded in count and bytes) to r. */
static void
batch_take(ksched_worker *w, struct rpc *r)
{
	struct ksched__job **tail = &r->batch;
	size_t bytes = 0;

	r->nbatch = 0;
	while (w->pending && r->nbatch < BATCH_MAX) {
		struct ksched__job *j = w->pending;
		size_t sz =
		    j->r.len + 64 + (j->r.error ? strlen(j->r.error) : 0);

		if (r->nbatch && bytes + sz > BATCH_BYTES)
			break;
		w->pending = j->next;
		j->next = NULL;
		*tail = j;
		tail = &j->next;
		r->nbatch++;
		bytes += sz;
	}
	if (!w->pending)
		w->pending_tail = NULL;
}

/* Put r's completions back at the front of the pending list. */
static void
batch_requeue(ksched_worker *w, struct rpc *r)
{
	struct ksched__job *last = r->batch;

	if (!last)
		return;
	while (last->next)
		last = last->next;
	last->next = w->pending;
	if (!w->pending)
		w->pending_tail = last;
	w->pending = r->batch;
	r->batch = NULL;
	r->nbatch = 0;
}

/* Errors after which a completion is worth sending again. */
static bool
retryable(int32_t e)
{
	return e == KSCHED_EAGAIN || e == KSCHED_EBUSY || e == KSCHED_EIO ||
	       e == KSCHED_ENOSPC || e == KSCHED_ETIMEDOUT ||
	       e == KSCHED_ENOMEM;
}

/* The master's verdict on each completion of r's batch. */
static void
batch_settle(ksched_worker *w, struct rpc *r, const int32_t *errs, size_t n)
{
	struct ksched__job *keep = NULL, **kt = &keep, *j, *next;
	size_t i = 0;

	if (n != r->nbatch) {
		KLOG(KSCHED_LOG_WARN,
		     "msg=\"bad reply: %zu verdicts for %zu completions; "
		     "sending them again\"",
		     n, r->nbatch);
		batch_requeue(w, r);
		return;
	}
	for (j = r->batch; j; j = next, i++) {
		next = j->next;
		j->next = NULL;
		if (errs[i] && retryable(errs[i])) {
			*kt = j;
			kt = &j->next;
			continue;
		}
		if (errs[i])
			KLOG(errs[i] == KSCHED_ESTALE ? KSCHED_LOG_INFO
						      : KSCHED_LOG_WARN,
			     "msg=\"completion refused\" task=%" PRIu64
			     " error=\"%s\"",
			     j->id, ksched_strerror((ksched_err)errs[i]));
		ksched__job_free(j);
	}
	r->batch = keep;
	batch_requeue(w, r);
}

struct wire {
	Ksched__Completion *c;
	Ksched__Completion **p;
};

/* Wire views of r's completions (pointing into the jobs). */
static bool
wire_batch(const struct rpc *r, struct wire *wb)
{
	size_t i = 0;

	wb->c = ksched__calloc(r->nbatch, sizeof(*wb->c));
	wb->p = ksched__calloc(r->nbatch, sizeof(*wb->p));
	if (!wb->c || !wb->p) {
		ksched__free(wb->c);
		ksched__free(wb->p);
		return false;
	}
	for (const struct ksched__job *j = r->batch; j; j = j->next, i++) {
		Ksched__Completion *c = &wb->c[i];

		ksched__completion__init(c);
		c->id = j->id;
		c->token = j->token;
		c->ok = j->r.ok;
		c->result.data = j->r.out;
		c->result.len = j->r.len;
		c->error = j->r.error ? j->r.error
			   : j->r.ok  ? (char *)""
				      : (char *)"out of memory";
		c->exit_status = j->r.exit_status;
		c->run_ms = j->run_ms;
		c->released = j->r.released;
		c->rank = j->rank;
		wb->p[i] = c;
	}
	return true;
}

/* --- requests ------------------------------------------------------------- */

static void
rpc_cb(void *arg)
{
	struct rpc *r = arg;
	ksched_worker *w = r->w;
	int rv = nng_aio_result(r->aio);
	nng_msg *m = NULL;

	if (!r->recv && rv == 0) { /* sent: now wait for the reply */
		r->recv = true;
		nng_aio_set_timeout(r->aio, RPC_TIMEOUT_MS);
		nng_ctx_recv(r->ctx, r->aio);
		return;
	}
	m = nng_aio_get_msg(r->aio);
	if (m && (!r->recv || rv != 0)) { /* unsent: still ours */
		nng_msg_free(m);
		m = NULL;
	}
	nng_aio_set_msg(r->aio, NULL);
	pthread_mutex_lock(&w->mu);
	r->rv = rv;
	r->reply = m;
	r->done = true;
	pthread_cond_signal(&w->cv_disp);
	pthread_mutex_unlock(&w->mu);
}

/* Pack req and send it on r; drops w->mu around the send. */
static void
rpc_send(ksched_worker *w, struct rpc *r, Ksched__Request *req)
{
	size_t len = protobuf_c_message_get_packed_size(&req->base);
	nng_msg *m = NULL;
	int rv =
	    len > KSCHED_PROTO_MSG_MAX ? NNG_EMSGSIZE : nng_msg_alloc(&m, len);

	if (rv) {
		KLOG(KSCHED_LOG_ERR,
		     "msg=\"cannot build a request\" "
		     "error=\"%s\"",
		     nng_strerror(rv));
		batch_requeue(w, r);
		backoff(w->net);
		return;
	}
	protobuf_c_message_pack(&req->base, nng_msg_body(m));
	r->busy = true;
	r->done = false;
	r->recv = false;
	r->rv = 0;
	r->kind = (int)req->body_case;
	r->gen = w->gen;
	nng_aio_set_msg(r->aio, m);
	nng_aio_set_timeout(r->aio, RPC_TIMEOUT_MS);
	pthread_mutex_unlock(&w->mu);
	nng_ctx_send(r->ctx, r->aio);
	pthread_mutex_lock(&w->mu);
}

static void
rpc_register(ksched_worker *w)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__RegisterReq rr = KSCHED__REGISTER_REQ__INIT;
	Ksched__Resources cap = KSCHED__RESOURCES__INIT;
	Ksched__Label lab[KSCHED_LABELS_MAX], *lp[KSCHED_LABELS_MAX];

	cap.cpu_milli = w->cap.cpu_milli;
	cap.mem_mb = w->cap.mem_mb;
	cap.gpus = w->cap.gpus;
	cap.slots = (int64_t)w->nslots;
	for (size_t i = 0; i < w->nlabels; i++) {
		ksched__label__init(&lab[i]);
		lab[i].key = w->labels[i].key;
		lab[i].value = w->labels[i].value;
		lp[i] = &lab[i];
	}
	rr.worker = w->id;
	rr.capacity = &cap;
	rr.n_labels = w->nlabels;
	rr.labels = lp;
	req.version = KSCHED_PROTO_VERSION;
	req.body_case = KSCHED__REQUEST__BODY_REG;
	req.reg = &rr;
	KLOG(KSCHED_LOG_INFO, "msg=\"registering\" worker=%s url=\"%s\"", w->id,
	     w->dispatch_url);
	rpc_send(w, &w->net->lease, &req);
}

/* A LeaseReq (r is the lease context) or a CompleteReq, with completions. */
static void
rpc_carry(ksched_worker *w, struct rpc *r, uint32_t max)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__LeaseReq lr = KSCHED__LEASE_REQ__INIT;
	Ksched__CompleteReq cr = KSCHED__COMPLETE_REQ__INIT;
	struct wire wb;

	batch_take(w, r);
	if (!wire_batch(r, &wb)) {
		batch_requeue(w, r);
		backoff(w->net);
		return;
	}
	req.version = KSCHED_PROTO_VERSION;
	if (r == &w->net->lease) {
		lr.worker = w->id;
		lr.session = w->session;
		lr.max = max;
		lr.wait_ms = WAIT_MS;
		lr.n_done = r->nbatch;
		lr.done = wb.p;
		req.body_case = KSCHED__REQUEST__BODY_LEASE;
		req.lease = &lr;
	} else {
		cr.worker = w->id;
		cr.session = w->session;
		cr.n_done = r->nbatch;
		cr.done = wb.p;
		req.body_case = KSCHED__REQUEST__BODY_COMPLETE;
		req.complete = &cr;
	}
	rpc_send(w, r, &req);
	ksched__free(wb.c);
	ksched__free(wb.p);
}

/* --- replies -------------------------------------------------------------- */

static bool
job_known(const ksched_worker *w, uint64_t id, uint64_t token)
{
	const struct ksched__job *lists[2] = {w->qhead, w->pending};

	for (int l = 0; l < 2; l++)
		for (const struct ksched__job *j = lists[l]; j; j = j->next)
			if (j->id == id && j->token == token)
				return true;
	for (size_t i = 0; i < w->nslots; i++) {
		const struct ksched__job *j = w->slots[i].job;

		if (j && j->id == id && j->token == token)
			return true;
	}
	return false;
}

static void
job_decode(struct ksched__job *j, const Ksched__Assignment *a)
{
	char err[128];
	ksched_err e = ksched_task_decode(a->spec.data, a->spec.len, &j->task);

	if (e != KSCHED_OK) {
		snprintf(err, sizeof(err), "%s (%zu bytes)", ksched_strerror(e),
			 a->spec.len);
		j->bad = ksched__strdup(err);
		KLOG(KSCHED_LOG_WARN,
		     "msg=\"bad task spec\" task=%" PRIu64 " error=\"%s\"",
		     a->id, err);
		return;
	}
	j->need.cpu_milli = ksched_task_cpu_milli(j->task);
	j->need.mem_mb = ksched_task_mem_mb(j->task);
	j->need.gpus = ksched_task_gpus(j->task);
	j->need.slots = 1;
	if (a->nodes > 1) {
		/* A part of a gang: it learns its rank and the gang's size. */
		char rank[40], nodes[40];
		snprintf(rank, sizeof(rank), "KSCHED_RANK=%u", a->rank);
		snprintf(nodes, sizeof(nodes), "KSCHED_NODES=%u", a->nodes);
		if (ksched_task_add_env(j->task, rank) ||
		    ksched_task_add_env(j->task, nodes)) {
			ksched_task_free(j->task);
			j->task = NULL;
			j->bad = ksched__strdup("out of memory");
		}
	}
}

static void
job_add(ksched_worker *w, const Ksched__Assignment *a)
{
	struct ksched__job *j;

	if (!a || !a->id) {
		KLOG(KSCHED_LOG_WARN, "msg=\"bad reply: assignment without "
				      "a task id\"");
		return;
	}
	if (w->stopping || job_known(w, a->id, a->token) ||
	    !(j = ksched__calloc(1, sizeof(*j)))) {
		KLOG(KSCHED_LOG_NOTICE,
		     "msg=\"assignment left to its lease\" task=%" PRIu64
		     " reason=%s",
		     a->id, w->stopping ? "stopping" : "duplicate_or_nomem");
		return;
	}
	j->id = a->id;
	j->token = a->token;
	j->attempt = a->attempt;
	j->rank = a->rank;
	job_decode(j, a);
	if (w->qtail)
		w->qtail->next = j;
	else
		w->qhead = j;
	w->qtail = j;
	w->queued++;
	pthread_cond_signal(&w->cv_exec);
}

static void
on_register(ksched_worker *w, const Ksched__RegisterRep *rr)
{
	w->registered = true;
	w->session = rr->session;
	w->gen++;
	w->st.registrations++;
	backoff_reset(w->net);
	KLOG(KSCHED_LOG_NOTICE,
	     "msg=\"registered\" worker=%s session=%" PRIu64
	     " heartbeat_ms=%" PRId64,
	     w->id, rr->session, rr->heartbeat_ms);
}

static void
on_lease(ksched_worker *w, struct rpc *r, const Ksched__LeaseRep *lr)
{
	batch_settle(w, r, lr->done_errs, lr->n_done_errs);
	for (size_t i = 0; i < lr->n_tasks; i++)
		job_add(w, lr->tasks[i]);
	if (lr->drain && !w->draining) {
		KLOG(KSCHED_LOG_NOTICE,
		     "msg=\"draining: asking for no more work\" worker=%s",
		     w->id);
		w->draining = w->st.draining = true;
	}
	backoff_reset(w->net);
	if (!lr->n_tasks) /* never spin on a master that does not park */
		w->net->retry_at = ksched__mono_ms() + 10;
}

static void
on_error(ksched_worker *w, struct rpc *r, const Ksched__Reply *rep)
{
	batch_requeue(w, r);
	if (rep->err == KSCHED_ESTALE && strstr(rep->msg, "session") &&
	    r->kind != KSCHED__REQUEST__BODY_REG) {
		if (r->gen == w->gen && w->registered) {
			w->registered = false;
			KLOG(KSCHED_LOG_NOTICE,
			     "msg=\"the master forgot our session; "
			     "registering again\" worker=%s",
			     w->id);
		}
		return;
	}
	KLOG(KSCHED_LOG_WARN,
	     "msg=\"the master refused a request\" err=%d error=\"%s\"",
	     (int)rep->err, rep->msg);
	backoff(w->net);
}

static void
on_failure(ksched_worker *w, struct rpc *r, int rv)
{
	batch_requeue(w, r);
	if (rv == NNG_ECANCELED || rv == NNG_ECLOSED)
		return; /* stopping */
	if (rv == NNG_ETIMEDOUT && r->gen == w->gen && w->registered) {
		w->registered = false;
		KLOG(KSCHED_LOG_WARN,
		     "msg=\"no answer from the master; "
		     "registering again\" worker=%s",
		     w->id);
	} else {
		KLOG(KSCHED_LOG_INFO, "msg=\"request failed\" error=\"%s\"",
		     nng_strerror(rv));
	}
	backoff(w->net);
}

/* Act on the outcome of r's request (under w->mu). */
static void
rpc_finish(ksched_worker *w, struct rpc *r)
{
	char err[256] = "unexpected reply";
	nng_msg *m = r->reply;
	Ksched__Reply *rep;
	int k = r->kind;

	r->reply = NULL;
	r->done = false;
	r->busy = false;
	if (r->rv) {
		on_failure(w, r, r->rv);
		return;
	}
	rep = ksched__proto_reply_decode(nng_msg_body(m), nng_msg_len(m), err,
					 sizeof(err));
	nng_msg_free(m);
	if (rep && rep->err)
		on_error(w, r, rep);
	else if (rep && k == KSCHED__REQUEST__BODY_REG && rep->reg &&
		 rep->body_case == KSCHED__REPLY__BODY_REG)
		on_register(w, rep->reg);
	else if (rep && k == KSCHED__REQUEST__BODY_LEASE && rep->lease &&
		 rep->body_case == KSCHED__REPLY__BODY_LEASE)
		on_lease(w, r, rep->lease);
	else if (rep && k == KSCHED__REQUEST__BODY_COMPLETE && rep->complete &&
		 rep->body_case == KSCHED__REPLY__BODY_COMPLETE) {
		batch_settle(w, r, rep->complete->errs, rep->complete->n_errs);
		backoff_reset(w->net);
	} else {
		KLOG(KSCHED_LOG_WARN,
		     "msg=\"bad reply from the master; "
		     "retrying\" error=\"%s\"",
		     err);
		batch_requeue(w, r);
		backoff(w->net);
	}
	ksched__proto_reply_free(rep);
}

/* --- the dispatch thread ------------------------------------------------ */

static uint32_t
free_slots(const ksched_worker *w)
{
	size_t used = w->busy + w->queued;

	return used >= w->nslots ? 0 : (uint32_t)(w->nslots - used);
}

/* Start what can start; true if w->mu was dropped meanwhile. */
static bool
dispatch_step(ksched_worker *w)
{
	struct ksched__net *n = w->net;
	int64_t now = ksched__mono_ms();

	if (w->stopping && n->lease.busy && !n->lease.done &&
	    now >= n->cancel_at) { /* give up the parked lease */
		n->cancel_at = now + 100;
		pthread_mutex_unlock(&w->mu);
		nng_aio_cancel(n->lease.aio);
		pthread_mutex_lock(&w->mu);
		return true;
	}
	if (now < n->retry_at)
		return false;
	if (!n->lease.busy && !w->registered && (!w->stopping || w->pending))
		rpc_register(w);
	else if (!n->lease.busy && w->registered && !w->stopping &&
		 !w->draining && free_slots(w))
		rpc_carry(w, &n->lease, free_slots(w));
	else if (!n->comp.busy && w->registered && w->pending)
		rpc_carry(w, &n->comp, 0);
	else
		return false;
	return true;
}

/* Stopping, the executors gone: leave once delivered or out of time. */
static bool
dispatch_over(ksched_worker *w)
{
	struct ksched__net *n = w->net;

	if (!w->exec_done)
		return false;
	if (!w->pending && !n->comp.busy && !n->lease.nbatch)
		return true;
	return ksched__mono_ms() >= n->flush_until;
}

void *
ksched__worker_dispatch_main(void *arg)
{
	ksched_worker *w = arg;
	struct ksched__net *n = w->net;

	pthread_mutex_lock(&w->mu);
	while (!dispatch_over(w)) {
		int64_t now = ksched__mono_ms();
		int64_t at = now + (w->stopping ? 100 : 1000);

		if (n->lease.done) {
			rpc_finish(w, &n->lease);
		} else if (n->comp.done) {
			rpc_finish(w, &n->comp);
		} else if (!dispatch_step(w)) {
			if (n->retry_at > now && n->retry_at < at)
				at = n->retry_at;
			ksched__worker_wait(w, &w->cv_disp, at);
		}
	}
	pthread_mutex_unlock(&w->mu);
	nng_aio_stop(n->lease.aio);
	nng_aio_stop(n->comp.aio);
	return NULL;
}

/* --- the heartbeat thread ----------------------------------------------- */

static int64_t
left(int64_t have, int64_t used)
{
	return have > used ? have - used : 0;
}

/* Fill hb from w (under w->mu); returns the id array it points to. */
static uint64_t *
hb_fill(ksched_worker *w, Ksched__Heartbeat *hb, Ksched__Resources *fr)
{
	size_t cap = w->nslots + w->queued;
	uint64_t *ids = ksched__calloc(cap ? cap : 1,
				       sizeof(*ids) + sizeof(uint32_t));
	uint32_t *ranks = ids ? (uint32_t *)(ids + (cap ? cap : 1)) : NULL;
	struct ksched_resources used = {0, 0, 0, 0};
	const struct ksched__job *j;
	size_t n = 0;

	for (size_t i = 0; i <= w->nslots; i++) {
		j = i < w->nslots ? w->slots[i].job : w->qhead;
		for (; j; j = i < w->nslots ? NULL : j->next) {
			if (ids) {
				ranks[n] = j->rank;
				ids[n++] = j->id;
			}
			used.cpu_milli += j->need.cpu_milli;
			used.mem_mb += j->need.mem_mb;
			used.gpus += j->need.gpus;
		}
	}
	hb->session = w->registered ? w->session : 0;
	hb->n_running = n;
	hb->running = ids;
	hb->n_running_rank = n;
	hb->running_rank = ranks;
	fr->cpu_milli = left(w->cap.cpu_milli, used.cpu_milli);
	fr->mem_mb = left(w->cap.mem_mb, used.mem_mb);
	fr->gpus = left(w->cap.gpus, used.gpus);
	fr->slots = free_slots(w);
	return ids;
}

/*
 * The master canceled these tasks: stop the ones running (their process
 * groups are killed) and drop the ones not started.  Under w->mu.
 */
static void
cancel_jobs(ksched_worker *w, const uint64_t *ids, size_t n)
{
	struct ksched__job **pp;

	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < w->nslots; k++) {
			struct ksched__slot *sl = &w->slots[k];
			if (sl->job && sl->job->id == ids[i] &&
			    !atomic_load(&sl->cancel)) {
				KLOG(KSCHED_LOG_NOTICE,
				     "msg=\"stopping canceled task\" task=%" PRIu64,
				     ids[i]);
				atomic_store(&sl->cancel, true);
			}
		}
		for (pp = &w->qhead; *pp;) {
			struct ksched__job *j = *pp;
			if (j->id != ids[i]) {
				pp = &j->next;
				continue;
			}
			*pp = j->next;
			w->queued--;
			ksched__job_free(j);
		}
		w->qtail = NULL;
		for (struct ksched__job *j = w->qhead; j; j = j->next)
			w->qtail = j;
	}
}

static void
hb_answer(ksched_worker *w, nng_socket s, nng_msg *m)
{
	Ksched__Heartbeat hb = KSCHED__HEARTBEAT__INIT;
	Ksched__Resources fr = KSCHED__RESOURCES__INIT;
	Ksched__Survey *sv;
	double load = 0;
	uint64_t *ids;
	char err[128];

	sv = ksched__proto_survey_decode(nng_msg_body(m), nng_msg_len(m), err,
					 sizeof(err));
	nng_msg_free(m);
	if (!sv) {
		KLOG(KSCHED_LOG_DEBUG,
		     "msg=\"malformed survey ignored\" "
		     "error=\"%s\"",
		     err);
		return;
	}
	hb.version = KSCHED_PROTO_VERSION;
	hb.seq = sv->seq;
	hb.worker = w->id;
	hb.free = &fr;
	if (sv->n_cancel) {
		pthread_mutex_lock(&w->mu);
		cancel_jobs(w, sv->cancel, sv->n_cancel);
		pthread_mutex_unlock(&w->mu);
	}
	ksched__proto_survey_free(sv);
	if (getloadavg(&load, 1) == 1)
		hb.load = load;
	pthread_mutex_lock(&w->mu);
	ids = hb_fill(w, &hb, &fr);
	w->st.heartbeats++;
	pthread_mutex_unlock(&w->mu);
	if (nng_msg_alloc(&m, ksched__heartbeat__get_packed_size(&hb)) == 0) {
		ksched__heartbeat__pack(&hb, nng_msg_body(m));
		if (nng_sendmsg(s, m, 0) != 0)
			nng_msg_free(m);
	}
	ksched__free(ids);
}

void *
ksched__worker_hb_main(void *arg)
{
	ksched_worker *w = arg;
	nng_socket s = w->net->hb;

	while (!atomic_load(&w->quit)) {
		nng_msg *m;
		int rv = nng_recvmsg(s, &m, 0);

		if (rv == 0)
			hb_answer(w, s, m);
		else if (rv == NNG_ECLOSED)
			break;
		else if (rv != NNG_ETIMEDOUT)
			nng_msleep(HB_POLL_MS);
	}
	return NULL;
}

/* --- sockets -------------------------------------------------------------- */

static ksched_err
rpc_open(ksched_worker *w, struct rpc *r, nng_socket s)
{
	int rv;

	r->w = w;
	if ((rv = nng_ctx_open(&r->ctx, s)) != 0)
		return map_nng(rv, "nng_ctx_open", NULL);
	r->open = true;
	nng_ctx_set_ms(r->ctx, NNG_OPT_REQ_RESENDTIME, RESEND_MS);
	if ((rv = nng_aio_alloc(&r->aio, rpc_cb, r)) != 0)
		return map_nng(rv, "nng_aio_alloc", NULL);
	return KSCHED_OK;
}

/* After the threads: stop the aio, drop its reply, requeue its batch. */
static void
rpc_close(ksched_worker *w, struct rpc *r)
{
	if (r->aio)
		nng_aio_stop(r->aio);
	if (r->reply)
		nng_msg_free(r->reply);
	r->reply = NULL;
	batch_requeue(w, r);
	if (r->aio)
		nng_aio_free(r->aio);
	if (r->open)
		nng_ctx_close(r->ctx);
	r->aio = NULL;
	r->open = false;
}

static ksched_err
sock_dial(nng_socket s, const char *url)
{
	int rv;

	nng_socket_set_ms(s, NNG_OPT_RECONNMINT, BACKOFF_MIN_MS);
	nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, BACKOFF_MAX_MS);
	rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK);
	return rv ? map_nng(rv, "nng_dial", url) : KSCHED_OK;
}

ksched_err
ksched__worker_net_open(ksched_worker *w)
{
	struct ksched__net *n = ksched__calloc(1, sizeof(*n));
	ksched_err e;
	int rv;

	if (!(w->net = n))
		return KSCHED_ENOMEM;
	if ((rv = nng_req0_open(&n->disp)) != 0)
		return map_nng(rv, "nng_req0_open", NULL);
	n->disp_open = true;
	nng_socket_set_ms(n->disp, NNG_OPT_REQ_RESENDTIME, RESEND_MS);
	if ((e = rpc_open(w, &n->lease, n->disp)) != KSCHED_OK ||
	    (e = rpc_open(w, &n->comp, n->disp)) != KSCHED_OK)
		return e;
	if ((rv = nng_respondent0_open(&n->hb)) != 0)
		return map_nng(rv, "nng_respondent0_open", NULL);
	n->hb_open = true;
	nng_socket_set_ms(n->hb, NNG_OPT_RECVTIMEO, HB_POLL_MS);
	nng_socket_set_ms(n->hb, NNG_OPT_SENDTIMEO, 1000);
	if ((e = sock_dial(n->disp, w->dispatch_url)) != KSCHED_OK)
		return e;
	return sock_dial(n->hb, w->heartbeat_url);
}

void
ksched__worker_net_close(ksched_worker *w)
{
	struct ksched__net *n = w->net;
	nng_socket socks[2];
	size_t ns = 0;

	if (!n)
		return;
	rpc_close(w, &n->lease);
	rpc_close(w, &n->comp);
	if (n->disp_open)
		socks[ns++] = n->disp;
	if (n->hb_open)
		socks[ns++] = n->hb;
	/* Everything the worker had to say is delivered by now. */
	(void)ksched__nng_close_bounded(socks, ns);
	ksched__free(n);
	w->net = NULL;
}

void
ksched__worker_net_flush(ksched_worker *w)
{
	if (w->net)
		w->net->flush_until = ksched__mono_ms() + FLUSH_MS;
}
