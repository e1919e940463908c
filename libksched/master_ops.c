/*
 * libksched - the master's control requests: submit, status, result, wait,
 * cancel, list, workers, stats, cache.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "master_ops.h"

/* A TaskStatus with room for its strings. */
struct status_buf {
	Ksched__TaskStatus ts;
	char kind[KSCHED_KIND_MAX + 1];
	char worker[KSCHED_WORKER_ID_MAX + 1];
	char error[KSCHED_ERROR_MAX + 1];
	char reason[1024];
};

/* Workers named in a status's pending reason (the JSON API names all). */
#define STATUS_WHY_MAX 8

/*
 * The pending reason of ready task id: the last dispatch's summary, then
 * "; WORKER: WHY" for the first workers, "; ... N more" for the rest.
 */
static void
pending_reason(struct ksched_master *m, uint64_t id, char *out, size_t len)
{
	struct ksched_pending_why why[STATUS_WHY_MAX];
	size_t n, total, o;
	int k;

	out[0] = 0;
	if (ksched_sched_explain(m->s, id, out, len, why, STATUS_WHY_MAX, &n,
				 &total) ||
	    !out[0])
		return; /* not looked at by a dispatch yet */
	o = strlen(out);
	for (size_t i = 0; i < n && o < len; i++) {
		k = snprintf(out + o, len - o, "; %s: %s", why[i].worker,
			     why[i].why);
		o += k > 0 ? (size_t)k : 0;
	}
	if (total > n && o < len)
		snprintf(out + o, len - o, "; ... %zu more", total - n);
}

static ksched_err
status_fill(struct ksched_master *m, uint64_t id, struct status_buf *b)
{
	struct ksched_task_info info;
	struct ksched_worker_status ws;
	ksched_task *spec = NULL;
	int64_t w;
	ksched_err e = ksched_queue_get(m->q, id, &info, &spec);

	if (e)
		return e;
	ksched__task_status__init(&b->ts);
	snprintf(b->kind, sizeof(b->kind), "%s", ksched_task_kind(spec));
	ksched_task_free(spec);
	memcpy(b->error, info.last_error, sizeof(b->error));
	b->worker[0] = b->reason[0] = 0;
	w = ksched_sched_worker_of(m->s, id);
	if (w >= 0 && !ksched_members_status(ksched_sched_members(m->s),
					     (uint32_t)w, &ws))
		memcpy(b->worker, ws.id, sizeof(b->worker));
	if (info.state == KSCHED_STATE_READY)
		pending_reason(m, id, b->reason, sizeof(b->reason));
	b->ts.id = id;
	b->ts.state = (uint32_t)info.state;
	b->ts.priority = info.priority;
	b->ts.attempts = info.attempts;
	b->ts.retries = info.retries;
	b->ts.submitted = info.submitted;
	b->ts.due = info.due;
	b->ts.flags = info.flags;
	b->ts.cached = (info.flags & KSCHED_TASK_CACHED) != 0;
	b->ts.kind = b->kind;
	b->ts.worker = b->worker;
	b->ts.last_error = b->error;
	b->ts.pending_reason = b->reason;
	return KSCHED_OK;
}

/* Statuses of ids into bufs/ptrs (n each); on error msg says which. */
static ksched_err
statuses(struct ksched_master *m, const uint64_t *ids, size_t n,
	 struct status_buf **bufs, Ksched__TaskStatus ***ptrs, char *msg,
	 size_t msglen)
{
	ksched_err e = KSCHED_OK;

	*bufs = ksched__calloc(n ? n : 1, sizeof(**bufs));
	*ptrs = ksched__calloc(n ? n : 1, sizeof(**ptrs));
	if (!*bufs || !*ptrs)
		e = KSCHED_ENOMEM;
	for (size_t i = 0; i < n && !e; i++) {
		e = status_fill(m, ids[i], &(*bufs)[i]);
		(*ptrs)[i] = &(*bufs)[i].ts;
		if (e)
			snprintf(msg, msglen, "task %llu: %s",
				 (unsigned long long)ids[i],
				 e == KSCHED_ENOENT ? "not found"
						    : ksched_strerror(e));
	}
	if (e) {
		ksched__free(*bufs);
		ksched__free(*ptrs);
		*bufs = NULL;
		*ptrs = NULL;
	}
	return e;
}

static void
op_submit(struct ksched_master *m, struct mctx *x, Ksched__SubmitReq *r,
	  int64_t now)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__SubmitRep body = KSCHED__SUBMIT_REP__INIT;
	ksched_task **ts = ksched__calloc(r->n_tasks, sizeof(*ts));
	uint64_t *ids = ksched__calloc(r->n_tasks, sizeof(*ids));
	protobuf_c_boolean *cached = ksched__calloc(r->n_tasks, sizeof(*cached));
	bool *c = ksched__calloc(r->n_tasks, sizeof(*c));
	char err[320] = "", why[256] = "";
	size_t bad = 0;
	ksched_err e = ts && ids && cached && c ? KSCHED_OK : KSCHED_ENOMEM;

	for (size_t i = 0; i < r->n_tasks && !e; i++) {
		e = ksched_task_decode(r->tasks[i].data, r->tasks[i].len,
				       &ts[i]);
		if (e)
			snprintf(err, sizeof(err), "task %zu: malformed spec",
				 i);
	}
	if (!e) {
		e = ksched_sched_submit(m->s, (const ksched_task *const *)ts,
					r->n_tasks, now, ids, c, &bad, why,
					sizeof(why));
		if (e == KSCHED_EINVAL)
			snprintf(err, sizeof(err), "task %zu: %s", bad, why);
	}
	if (e) {
		ksched__master_reply_err(x, e, err[0] ? err : NULL);
	} else {
		for (size_t i = 0; i < r->n_tasks; i++)
			cached[i] = c[i];
		body.n_ids = body.n_cached = r->n_tasks;
		body.ids = ids;
		body.cached = cached;
		rep.body_case = KSCHED__REPLY__BODY_SUBMIT;
		rep.submit = &body;
		ksched__master_reply(x, &rep);
		m->changed = true;
	}
	for (size_t i = 0; ts && i < r->n_tasks; i++)
		ksched_task_free(ts[i]);
	ksched__free(ts);
	ksched__free(ids);
	ksched__free(cached);
	ksched__free(c);
}

static void
op_status(struct ksched_master *m, struct mctx *x, Ksched__StatusReq *r)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__StatusRep body = KSCHED__STATUS_REP__INIT;
	struct status_buf *bufs;
	Ksched__TaskStatus **ptrs;
	char msg[128] = "";
	ksched_err e = statuses(m, r->ids, r->n_ids, &bufs, &ptrs, msg,
				sizeof(msg));

	if (e) {
		ksched__master_reply_err(x, e, msg[0] ? msg : NULL);
		return;
	}
	body.n_tasks = r->n_ids;
	body.tasks = ptrs;
	rep.body_case = KSCHED__REPLY__BODY_STATUS;
	rep.status = &body;
	ksched__master_reply(x, &rep);
	ksched__free(bufs);
	ksched__free(ptrs);
}

static void
op_result(struct ksched_master *m, struct mctx *x, Ksched__ResultReq *r)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__ResultRep body = KSCHED__RESULT_REP__INIT;
	struct status_buf b;
	void *res = NULL;
	size_t len = 0;
	ksched_err e = status_fill(m, r->id, &b);

	if (e) {
		ksched__master_reply_err(x, e,
					 e == KSCHED_ENOENT ? "task not found"
							    : NULL);
		return;
	}
	e = ksched_queue_result(m->q, r->id, &res, &len);
	body.has_result = e == KSCHED_OK;
	body.result.data = res;
	body.result.len = len;
	body.status = &b.ts;
	rep.body_case = KSCHED__REPLY__BODY_RESULT;
	rep.result = &body;
	ksched__master_reply(x, &rep);
	ksched_free(res);
}

/* How many of the wait's tasks are not final; ENOENT for an unknown id. */
static ksched_err
wait_remaining(struct ksched_master *m, const Ksched__WaitReq *r,
	       uint64_t *remaining)
{
	struct ksched_task_info info;
	uint64_t c[KSCHED_STATE_COUNT];

	*remaining = 0;
	if (r->all) {
		ksched_queue_counts(m->q, c);
		*remaining = c[KSCHED_STATE_PENDING] + c[KSCHED_STATE_READY] +
			     c[KSCHED_STATE_LEASED];
		return KSCHED_OK;
	}
	for (size_t i = 0; i < r->n_ids; i++) {
		ksched_err e = ksched_queue_get(m->q, r->ids[i], &info, NULL);
		if (e)
			return e;
		*remaining += !ksched_state_is_final(info.state);
	}
	return KSCHED_OK;
}

static void
wait_reply(struct ksched_master *m, struct mctx *x, uint64_t remaining)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__WaitRep body = KSCHED__WAIT_REP__INIT;
	Ksched__WaitReq *r = x->req->wait;
	struct status_buf *bufs = NULL;
	Ksched__TaskStatus **ptrs = NULL;
	char msg[128] = "";
	size_t n = r->all ? 0 : r->n_ids;
	ksched_err e = statuses(m, r->ids, n, &bufs, &ptrs, msg, sizeof(msg));

	if (e) {
		ksched__master_reply_err(x, e, msg[0] ? msg : NULL);
		return;
	}
	body.remaining = remaining;
	body.n_tasks = n;
	body.tasks = ptrs;
	rep.body_case = KSCHED__REPLY__BODY_WAIT;
	rep.wait = &body;
	ksched__master_reply(x, &rep);
	ksched__free(bufs);
	ksched__free(ptrs);
}

static int
op_wait(struct ksched_master *m, struct mctx *x, Ksched__Request *req,
	int64_t now)
{
	int64_t t = req->wait->timeout_ms;
	uint64_t remaining;
	ksched_err e = wait_remaining(m, req->wait, &remaining);

	x->req = req;
	if (e) {
		x->req = NULL;
		ksched__master_reply_err(x, e,
					 e == KSCHED_ENOENT ? "task not found"
							    : NULL);
		return MASTER_DONE;
	}
	if (remaining == 0 || t == 0) {
		wait_reply(m, x, remaining);
		x->req = NULL;
		return MASTER_DONE;
	}
	x->deadline = now + (t < m->cfg.max_wait_ms ? t : m->cfg.max_wait_ms);
	x->state = MCTX_PARKED;
	x->next = m->parked_waits;
	m->parked_waits = x;
	return MASTER_PARKED;
}

void
ksched__master_waits(struct ksched_master *m, int64_t now)
{
	struct mctx **pp = &m->parked_waits, *x;
	uint64_t remaining;

	while ((x = *pp)) {
		if (wait_remaining(m, x->req->wait, &remaining) != KSCHED_OK)
			remaining = 0;
		if (remaining && now < x->deadline) {
			pp = &x->next;
			continue;
		}
		*pp = x->next;
		wait_reply(m, x, remaining);
		ksched__proto_request_free(x->req);
		x->req = NULL;
	}
}

/* Cancel and retry: a verdict per id, in a reply body of the same shape. */
static void
op_ids(struct ksched_master *m, struct mctx *x, const uint64_t *ids,
       size_t n, bool retry, int64_t now)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__CancelRep cb = KSCHED__CANCEL_REP__INIT;
	Ksched__RetryRep rb = KSCHED__RETRY_REP__INIT;
	int32_t *errs = ksched__calloc(n ? n : 1, sizeof(*errs));

	if (!errs) {
		ksched__master_reply_err(x, KSCHED_ENOMEM, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++)
		errs[i] = (int32_t)(retry ? ksched_sched_retry(m->s, ids[i], now)
					  : ksched_sched_cancel(m->s, ids[i],
								now));
	cb.n_errs = rb.n_errs = n;
	cb.errs = rb.errs = errs;
	if (retry) {
		rep.body_case = KSCHED__REPLY__BODY_RETRY;
		rep.retry = &rb;
	} else {
		rep.body_case = KSCHED__REPLY__BODY_CANCEL;
		rep.cancel = &cb;
	}
	ksched__master_reply(x, &rep);
	ksched__free(errs);
	m->changed = true;
}

static void
op_list(struct ksched_master *m, struct mctx *x, Ksched__ListReq *r)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__ListRep body = KSCHED__LIST_REP__INIT;
	size_t limit = r->limit ? r->limit : 100, n = 0;
	uint64_t *ids = ksched__calloc(limit, sizeof(*ids)), next = 0;
	struct status_buf *bufs = NULL;
	Ksched__TaskStatus **ptrs = NULL;
	char msg[128] = "";
	ksched_err e = ids ? KSCHED_OK : KSCHED_ENOMEM;

	if (!e && r->state >= KSCHED_STATE_COUNT)
		e = KSCHED_EINVAL;
	if (!e)
		e = ksched_queue_list(m->q, (enum ksched_state)r->state,
				      r->cursor, limit, ids, &n, &next);
	if (!e)
		e = statuses(m, ids, n, &bufs, &ptrs, msg, sizeof(msg));
	if (e) {
		ksched__master_reply_err(x, e, msg[0] ? msg : NULL);
	} else {
		body.n_tasks = n;
		body.tasks = ptrs;
		body.next = next;
		rep.body_case = KSCHED__REPLY__BODY_LIST;
		rep.list = &body;
		ksched__master_reply(x, &rep);
	}
	ksched__free(ids);
	ksched__free(bufs);
	ksched__free(ptrs);
}

static void
resources_pb(Ksched__Resources *pb, const struct ksched_resources *r)
{
	ksched__resources__init(pb);
	pb->cpu_milli = r->cpu_milli;
	pb->mem_mb = r->mem_mb;
	pb->gpus = r->gpus;
	pb->slots = r->slots;
}

struct worker_buf {
	Ksched__WorkerStatus ws;
	Ksched__Resources cap, alloc;
	struct ksched_worker_status st;
};

static void
op_workers(struct ksched_master *m, struct mctx *x)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__WorkersRep body = KSCHED__WORKERS_REP__INIT;
	ksched_members *mem = ksched_sched_members(m->s);
	uint32_t cap = ksched_members_capacity(mem);
	struct worker_buf *b = ksched__calloc(cap ? cap : 1, sizeof(*b));
	Ksched__WorkerStatus **p = ksched__calloc(cap ? cap : 1, sizeof(*p));
	size_t n = 0;

	if (!b || !p) {
		ksched__master_reply_err(x, KSCHED_ENOMEM, NULL);
		goto out;
	}
	for (uint32_t i = 0; i < cap; i++) {
		struct worker_buf *w = &b[n];
		if (ksched_members_status(mem, i, &w->st))
			continue;
		ksched__worker_status__init(&w->ws);
		resources_pb(&w->cap, &w->st.capacity);
		resources_pb(&w->alloc, &w->st.allocated);
		w->ws.id = w->st.id;
		w->ws.capacity = &w->cap;
		w->ws.allocated = &w->alloc;
		w->ws.state = (uint32_t)w->st.state;
		w->ws.running = w->st.running;
		w->ws.load = w->st.load;
		w->ws.last_seen = w->st.last_seen;
		w->ws.completed = w->st.completed;
		w->ws.failed = w->st.failed;
		p[n++] = &w->ws;
	}
	body.n_workers = n;
	body.workers = p;
	rep.body_case = KSCHED__REPLY__BODY_WORKERS;
	rep.workers = &body;
	ksched__master_reply(x, &rep);
out:
	ksched__free(b);
	ksched__free(p);
}

static void
op_stats(struct ksched_master *m, struct mctx *x, int64_t now)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__StatsRep body = KSCHED__STATS_REP__INIT;
	uint64_t counts[KSCHED_STATE_COUNT];
	struct ksched_cache_stats cs;

	ksched_queue_counts(m->q, counts);
	ksched_cache_stats(m->c, &cs);
	body.n_counts = KSCHED_STATE_COUNT;
	body.counts = counts;
	body.cache_hits = cs.hits;
	body.cache_misses = cs.misses;
	body.cache_entries = cs.entries;
	body.workers = ksched_members_count(ksched_sched_members(m->s));
	body.attached = ksched_sched_attached(m->s);
	body.bad_messages = m->bad_messages;
	body.uptime_ms = now - m->started;
	rep.body_case = KSCHED__REPLY__BODY_STATS;
	rep.stats = &body;
	ksched__master_reply(x, &rep);
}

static void
op_cache(struct ksched_master *m, struct mctx *x, Ksched__CacheReq *r)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__CacheRep body = KSCHED__CACHE_REP__INIT;
	struct ksched_key key;
	size_t n = 0;
	ksched_err e;

	if (r->all) {
		e = ksched_cache_invalidate_all(m->c, &n);
	} else if (r->kind[0]) {
		e = ksched_cache_invalidate_kind(m->c, r->kind, &n);
	} else if (r->key.len == sizeof(key.bytes)) {
		memcpy(key.bytes, r->key.data, sizeof(key.bytes));
		e = ksched_cache_invalidate(m->c, &key);
		n = e == KSCHED_OK;
		if (e == KSCHED_ENOENT)
			e = KSCHED_OK;
	} else {
		e = KSCHED_EINVAL;
	}
	if (e) {
		ksched__master_reply_err(x, e,
					 e == KSCHED_EINVAL
						 ? "cache: give a 16-byte key, "
						   "a kind or all"
						 : NULL);
		return;
	}
	body.removed = n;
	rep.body_case = KSCHED__REPLY__BODY_CACHE;
	rep.cache = &body;
	ksched__master_reply(x, &rep);
}

static void
op_drain(struct ksched_master *m, struct mctx *x, Ksched__DrainReq *r)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__DrainRep body = KSCHED__DRAIN_REP__INIT;
	ksched_members *mem = ksched_sched_members(m->s);
	struct ksched_worker_status st;
	uint32_t i;

	if (ksched_members_find(mem, r->worker, &i) ||
	    ksched_sched_worker_drain(m->s, i) ||
	    ksched_members_status(mem, i, &st)) {
		ksched__master_reply_err(x, KSCHED_ENOENT, "no such worker");
		return;
	}
	KLOG(KSCHED_LOG_NOTICE, "msg=\"worker draining\" worker=%s running=%u",
	     st.id, st.running);
	body.running = st.running;
	rep.body_case = KSCHED__REPLY__BODY_DRAIN;
	rep.drain = &body;
	ksched__master_reply(x, &rep);
	m->changed = true;
}

int
ksched__master_control(struct ksched_master *m, struct mctx *x,
		       Ksched__Request *req, int64_t now)
{
	switch (req->body_case) {
	case KSCHED__REQUEST__BODY_SUBMIT:
		op_submit(m, x, req->submit, now);
		break;
	case KSCHED__REQUEST__BODY_STATUS:
		op_status(m, x, req->status);
		break;
	case KSCHED__REQUEST__BODY_RESULT:
		op_result(m, x, req->result);
		break;
	case KSCHED__REQUEST__BODY_WAIT:
		return op_wait(m, x, req, now);
	case KSCHED__REQUEST__BODY_CANCEL:
		op_ids(m, x, req->cancel->ids, req->cancel->n_ids, false, now);
		break;
	case KSCHED__REQUEST__BODY_LIST:
		op_list(m, x, req->list);
		break;
	case KSCHED__REQUEST__BODY_WORKERS:
		op_workers(m, x);
		break;
	case KSCHED__REQUEST__BODY_STATS:
		op_stats(m, x, now);
		break;
	case KSCHED__REQUEST__BODY_CACHE:
		op_cache(m, x, req->cache);
		break;
	case KSCHED__REQUEST__BODY_RETRY:
		op_ids(m, x, req->retry->ids, req->retry->n_ids, true, now);
		break;
	case KSCHED__REQUEST__BODY_DRAIN:
		op_drain(m, x, req->drain);
		break;
	default:
		m->bad_messages++;
		ksched__master_reply_err(x, KSCHED_EPROTO,
					 "not a control request");
	}
	return MASTER_DONE;
}
