/*
 * libksched - the master's side of the workers: register, lease requests
 * (parked until work fits), completions, heartbeats, failure detection and
 * the dispatch that answers parked requests.
 */
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "alloc.h"
#include "log.h"
#include "master_ops.h"

/* ---- sessions --------------------------------------------------------- */

static ksched_err
session_new(struct ksched_master *m, uint32_t index, uint64_t *session)
{
	uint64_t in[3] = {index, (uint64_t)ksched_now_ms(), ++m->survey_seq};

	if (index >= m->nsessions) {
		size_t n = index + 16;
		uint64_t *v = ksched__realloc(m->sessions, n * sizeof(*v));
		if (!v)
			return KSCHED_ENOMEM;
		memset(v + m->nsessions, 0,
		       (n - m->nsessions) * sizeof(*v));
		m->sessions = v;
		m->nsessions = n;
	}
	*session = XXH3_64bits_withSeed(in, sizeof(in), m->cfg.seed) | 1;
	m->sessions[index] = *session;
	return KSCHED_OK;
}

/* The worker index of (id, session), or -1: the worker must register. */
static int64_t
session_find(struct ksched_master *m, const char *id, uint64_t session)
{
	uint32_t i;

	if (ksched_members_find(ksched_sched_members(m->s), id, &i) ||
	    i >= m->nsessions || m->sessions[i] != session || !session)
		return -1;
	return i;
}

static void
reply_unknown(struct mctx *x)
{
	ksched__master_reply_err(x, KSCHED_ESTALE,
				 "unknown session: register again");
}

/* ---- requests ----------------------------------------------------------- */

static ksched_err
set_labels(struct ksched_master *m, uint32_t index,
	   const Ksched__RegisterReq *r)
{
	const char **k = ksched__calloc(r->n_labels, sizeof(*k));
	const char **v = ksched__calloc(r->n_labels, sizeof(*v));
	ksched_err e = k && v ? KSCHED_OK : KSCHED_ENOMEM;

	for (size_t i = 0; !e && i < r->n_labels; i++) {
		if (!r->labels[i]) {
			e = KSCHED_EPROTO;
			break;
		}
		k[i] = r->labels[i]->key;
		v[i] = r->labels[i]->value;
	}
	if (!e)
		e = ksched_members_set_labels(ksched_sched_members(m->s), index,
					      k, v, r->n_labels);
	ksched__free(k);
	ksched__free(v);
	return e;
}

static void
op_register(struct ksched_master *m, struct mctx *x, Ksched__RegisterReq *r,
	    int64_t now)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__RegisterRep body = KSCHED__REGISTER_REP__INIT;
	struct ksched_resources cap = {r->capacity->cpu_milli,
				       r->capacity->mem_mb,
				       r->capacity->gpus, r->capacity->slots};
	uint32_t index;
	ksched_err e;

	if (cap.slots < 1) {
		ksched__master_reply_err(x, KSCHED_EINVAL,
					 "register: slots must be >= 1");
		return;
	}
	e = ksched_sched_worker_join(m->s, r->worker, &cap, now, &index);
	if (!e && r->n_labels)
		e = set_labels(m, index, r);
	if (!e)
		e = session_new(m, index, &body.session);
	if (e) {
		ksched__master_reply_err(x, e, NULL);
		return;
	}
	KLOG(KSCHED_LOG_NOTICE,
	     "msg=\"worker joined\" worker=%s cpu=%lld mem=%lld gpus=%lld "
	     "slots=%lld",
	     r->worker, (long long)cap.cpu_milli, (long long)cap.mem_mb,
	     (long long)cap.gpus, (long long)cap.slots);
	body.heartbeat_ms = m->cfg.heartbeat_ms;
	rep.body_case = KSCHED__REPLY__BODY_REG;
	rep.reg = &body;
	ksched__master_reply(x, &rep);
	m->changed = true;
}

/* Record completions; errs[i] gets each outcome. */
static void
completions(struct ksched_master *m, Ksched__Completion **done, size_t n,
	    int32_t *errs, int64_t now)
{
	for (size_t i = 0; i < n; i++) {
		Ksched__Completion *c = done[i];
		int64_t sub, start;
		bool running = ksched_sched_task_times(m->s, c->id, &sub,
						       &start);
		ksched_err e =
			c->released
				? ksched_sched_release(m->s, c->id, c->token, now)
				: ksched_sched_complete_part(
					  m->s, c->id, c->token, c->rank, now,
					  c->ok, c->result.data, c->result.len,
					  c->error[0] ? c->error : NULL);
		if (!e)
			ksched__master_obs_report(m, c->id, c->rank,
						  running ? start : -1, c->ok,
						  c->released, c->error, now);
		if (e && e != KSCHED_ESTALE)
			KLOG(KSCHED_LOG_WARN,
			     "msg=\"completion not recorded\" task=%llu "
			     "error=\"%s\"",
			     (unsigned long long)c->id, ksched_strerror(e));
		errs[i] = (int32_t)e;
	}
	if (n)
		m->changed = true;
}

static void
seen(struct ksched_master *m, uint32_t index, int64_t now)
{
	struct ksched_worker_status st;
	ksched_members *mem = ksched_sched_members(m->s);

	if (!ksched_members_status(mem, index, &st)) {
		ksched_members_seen(mem, index, now, st.load);
		if (st.state == KSCHED_WORKER_SUSPECT) {
			KLOG(KSCHED_LOG_NOTICE,
			     "msg=\"worker back\" worker=%s silent_ms=%lld",
			     st.id, (long long)(now - st.last_seen));
			ksched_members_set_state(mem, index,
						 KSCHED_WORKER_ALIVE);
		}
	}
}

static void
op_complete(struct ksched_master *m, struct mctx *x, Ksched__CompleteReq *r,
	    int64_t now)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__CompleteRep body = KSCHED__COMPLETE_REP__INIT;
	int64_t w = session_find(m, r->worker, r->session);
	int32_t *errs;

	if (w < 0) {
		reply_unknown(x);
		return;
	}
	seen(m, (uint32_t)w, now);
	errs = ksched__calloc(r->n_done ? r->n_done : 1, sizeof(*errs));
	if (!errs) {
		ksched__master_reply_err(x, KSCHED_ENOMEM, NULL);
		return;
	}
	completions(m, r->done, r->n_done, errs, now);
	body.n_errs = r->n_done;
	body.errs = errs;
	rep.body_case = KSCHED__REPLY__BODY_COMPLETE;
	rep.complete = &body;
	ksched__master_reply(x, &rep);
	ksched__free(errs);
}

static bool
draining(struct ksched_master *m, uint32_t index)
{
	struct ksched_worker_status st;

	return !ksched_members_status(ksched_sched_members(m->s), index,
				      &st) &&
	       st.state == KSCHED_WORKER_DRAINING;
}

/* Answer a lease request with its tasks (maybe none). */
static void
lease_reply(struct ksched_master *m, struct mctx *x,
	    const struct ksched_assignment *a, size_t n)
{
	Ksched__Reply rep = ksched__master_reply_init();
	Ksched__LeaseRep body = KSCHED__LEASE_REP__INIT;
	Ksched__Assignment *as = ksched__calloc(n ? n : 1, sizeof(*as));
	Ksched__Assignment **ap = ksched__calloc(n ? n : 1, sizeof(*ap));
	size_t k = 0;

	for (size_t i = 0; as && ap && i < n; i++) {
		ksched_task *spec;
		void *buf;
		size_t len;
		if (ksched_queue_get(m->q, a[i].id, NULL, &spec))
			continue;
		if (ksched_task_encode(spec, &buf, &len)) {
			ksched_task_free(spec);
			continue;
		}
		ksched_task_free(spec);
		ksched__assignment__init(&as[k]);
		as[k].id = a[i].id;
		as[k].attempt = a[i].attempt;
		as[k].token = a[i].token;
		as[k].deadline = a[i].deadline;
		as[k].rank = a[i].rank;
		as[k].nodes = a[i].nodes;
		as[k].spec.data = buf;
		as[k].spec.len = len;
		ap[k] = &as[k];
		k++;
	}
	body.n_tasks = k;
	body.tasks = ap;
	/* The completions were recorded when the request arrived. */
	body.drain = draining(m, x->worker);
	body.n_done_errs = x->nerrs;
	body.done_errs = x->errs;
	rep.body_case = KSCHED__REPLY__BODY_LEASE;
	rep.lease = &body;
	ksched__master_reply(x, &rep);
	for (size_t i = 0; i < k; i++)
		ksched__free(as[i].spec.data);
	ksched__free(as);
	ksched__free(ap);
	ksched__free(x->errs);
	x->errs = NULL;
	x->nerrs = 0;
	ksched__proto_request_free(x->req);
	x->req = NULL;
}

static int
op_lease(struct ksched_master *m, struct mctx *x, Ksched__Request *req,
	 int64_t now)
{
	Ksched__LeaseReq *r = req->lease;
	int64_t w = session_find(m, r->worker, r->session);
	int64_t wait = r->wait_ms < m->cfg.max_wait_ms ? r->wait_ms
						       : m->cfg.max_wait_ms;

	if (w < 0) {
		reply_unknown(x);
		return MASTER_DONE;
	}
	seen(m, (uint32_t)w, now);
	x->errs = ksched__calloc(r->n_done ? r->n_done : 1, sizeof(int32_t));
	if (!x->errs) {
		ksched__master_reply_err(x, KSCHED_ENOMEM, NULL);
		return MASTER_DONE;
	}
	x->nerrs = r->n_done;
	completions(m, r->done, r->n_done, x->errs, now);
	x->req = req;
	x->worker = (uint32_t)w;
	x->max = r->max;
	x->deadline = now + wait;
	x->state = MCTX_PARKED;
	x->next = m->parked_leases;
	m->parked_leases = x;
	/* Answered by the dispatch at the end of the turn (at once when
	 * work is ready, or when max is 0, or at its deadline). */
	return MASTER_PARKED;
}

int
ksched__master_op(struct ksched_master *m, struct mctx *x,
		  Ksched__Request *req, int64_t now)
{
	bool dispatch = x->kind == MCTX_DISPATCH;

	switch (req->body_case) {
	case KSCHED__REQUEST__BODY_REG:
		if (!dispatch)
			break;
		op_register(m, x, req->reg, now);
		return MASTER_DONE;
	case KSCHED__REQUEST__BODY_LEASE:
		if (!dispatch)
			break;
		return op_lease(m, x, req, now);
	case KSCHED__REQUEST__BODY_COMPLETE:
		if (!dispatch)
			break;
		op_complete(m, x, req->complete, now);
		return MASTER_DONE;
	default:
		if (!dispatch)
			return ksched__master_control(m, x, req, now);
	}
	m->bad_messages++;
	ksched__master_reply_err(x, KSCHED_EPROTO,
				 dispatch ? "not a worker request"
					  : "not a control request");
	return MASTER_DONE;
}

/* ---- heartbeats and failure detection ------------------------------------ */

void
ksched__master_heartbeat(struct ksched_master *m, nng_msg *msg, int64_t now)
{
	char err[128];
	Ksched__Heartbeat *hb = ksched__proto_heartbeat_decode(
		nng_msg_body(msg), nng_msg_len(msg), err, sizeof(err));
	int64_t w;

	if (!hb) {
		m->bad_messages++;
		KLOG(KSCHED_LOG_WARN, "msg=\"bad heartbeat\" reason=\"%s\"", err);
		return;
	}
	w = session_find(m, hb->worker, hb->session);
	if (w >= 0) {
		seen(m, (uint32_t)w, now);
		/* Ranks count only if there is one per task. */
		const uint32_t *ranks =
			hb->n_running_rank == hb->n_running ? hb->running_rank
							    : NULL;
		if (ksched_sched_worker_heartbeat_ranks(m->s, (uint32_t)w, now,
							hb->load, hb->running,
							ranks, hb->n_running))
			KLOG(KSCHED_LOG_WARN,
			     "msg=\"cannot renew leases\" worker=%s",
			     hb->worker);
	}
	ksched__proto_heartbeat_free(hb);
}

/* Reply to and forget the parked lease requests of worker index. */
static void
unpark_worker(struct ksched_master *m, uint32_t index)
{
	struct mctx **pp = &m->parked_leases, *x;

	while ((x = *pp)) {
		if (x->worker != index) {
			pp = &x->next;
			continue;
		}
		*pp = x->next;
		ksched__free(x->errs);
		x->errs = NULL;
		ksched__proto_request_free(x->req);
		x->req = NULL;
		reply_unknown(x);
	}
}

/*
 * Suspect and dead workers.  Returns the next time a worker could be
 * declared dead, so a timer makes the turn that does it on time (not up to
 * a housekeeping tick late).
 */
static int64_t
detect_failures(struct ksched_master *m, int64_t now)
{
	ksched_members *mem = ksched_sched_members(m->s);
	struct ksched_worker_status st;
	int64_t hb = m->cfg.heartbeat_ms, next = INT64_MAX;

	for (uint32_t i = 0; i < ksched_members_capacity(mem); i++) {
		int64_t missed, at;
		if (ksched_members_status(mem, i, &st))
			continue;
		missed = (now - st.last_seen) / hb;
		at = st.last_seen + m->cfg.dead_after * hb;
		if (missed < m->cfg.dead_after && at < next)
			next = at;
		if (missed >= m->cfg.dead_after) {
			KLOG(KSCHED_LOG_WARN,
			     "msg=\"worker dead\" worker=%s tasks=%u "
			     "silent_ms=%lld",
			     st.id, st.running,
			     (long long)(now - st.last_seen));
			unpark_worker(m, i);
			ksched__master_obs_worker_lost(m, st.id, now);
			if (i < m->nsessions)
				m->sessions[i] = 0;
			if (ksched_sched_worker_leave(m->s, i, now) == 0)
				m->changed = true;
		} else if (missed >= m->cfg.suspect_after &&
			   st.state == KSCHED_WORKER_ALIVE) {
			KLOG(KSCHED_LOG_NOTICE,
			     "msg=\"worker suspect\" worker=%s silent_ms=%lld",
			     st.id, (long long)(now - st.last_seen));
			ksched_members_set_state(mem, i,
						 KSCHED_WORKER_SUSPECT);
		}
	}
	return next;
}

/* ---- dispatch to parked lease requests ----------------------------------- */

static void
dispatch_parked(struct ksched_master *m, int64_t now)
{
	size_t np = 0, n = 0, total = 0;
	struct mctx *x, **px = NULL, **pp;
	uint32_t *ws = NULL, *max = NULL;
	struct ksched_assignment *a = NULL, *mine;

	for (x = m->parked_leases; x; x = x->next) {
		np++;
		total += x->max;
	}
	if (!np)
		return;
	px = ksched__calloc(np, sizeof(*px));
	ws = ksched__calloc(np, sizeof(*ws));
	max = ksched__calloc(np, sizeof(*max));
	a = ksched__calloc(total ? total : 1, sizeof(*a));
	if (px && ws && max && a) {
		size_t i = 0;
		for (x = m->parked_leases; x; x = x->next, i++) {
			px[i] = x;
			ws[i] = x->worker;
			max[i] = x->max;
		}
		double t0 = ksched__master_mono();
		if (ksched_sched_dispatch(m->s, now, ws, max, np, a, total,
					  &n))
			n = 0;
		ksched__master_obs_dispatch(m, ksched__master_mono() - t0);
		for (size_t j = 0; j < n; j++)
			ksched__master_obs_placed(m, &a[j], now);
	}
	/* Answer every request that got work, or is due, or asked none. */
	mine = ksched__calloc(n ? n : 1, sizeof(*mine));
	for (size_t i = 0; px && mine && i < np; i++) {
		size_t k = 0;
		x = px[i];
		for (size_t j = 0; j < n; j++) {
			if (a[j].worker == x->worker && a[j].id) {
				mine[k++] = a[j];
				a[j].id = 0; /* taken */
			}
		}
		if (k == 0 && x->max && now < x->deadline &&
		    !draining(m, x->worker))
			continue;
		for (pp = &m->parked_leases; *pp != x; pp = &(*pp)->next)
			;
		*pp = x->next;
		lease_reply(m, x, mine, k);
	}
	ksched__free(mine);
	ksched__free(px);
	ksched__free(ws);
	ksched__free(max);
	ksched__free(a);
}

void
ksched__master_housekeeping(struct ksched_master *m, int64_t now)
{
	int64_t next;

	if (ksched_sched_tick(m->s, now, NULL))
		KLOG(KSCHED_LOG_WARN, "msg=\"tick failed\"");
	next = detect_failures(m, now);
	if (next != INT64_MAX) {
		int64_t d = next > now ? next - now : 0;
		struct timeval tv = {d / 1000, (d % 1000) * 1000};
		evtimer_add(m->death_timer, &tv);
	}
	dispatch_parked(m, now);
	ksched__master_waits(m, now);
	m->changed = false;
}

void
ksched__master_drop_parked(struct ksched_master *m)
{
	struct mctx *lists[2] = {m->parked_leases, m->parked_waits}, *x;

	for (int i = 0; i < 2; i++) {
		for (x = lists[i]; x; x = x->next) {
			ksched__proto_request_free(x->req);
			x->req = NULL;
			ksched__free(x->errs);
			x->errs = NULL;
		}
	}
	m->parked_leases = m->parked_waits = NULL;
}

/*
 * A live worker dials the master again within KSCHED_PROTO_REDIAL_MAX_MS
 * of its coming back (its sockets back off up to that), re-registers (its
 * pending request is answered "unknown session") and reports its running
 * tasks at the next survey; a worker silent for dead_after intervals is
 * declared dead anyway.  So after that redial bound plus dead_after + 1
 * intervals a lease nobody reported has a holder as good as dead.
 */
int64_t
ksched__master_adopt_window(const struct ksched_master *m)
{
	return KSCHED_PROTO_REDIAL_MAX_MS +
	       (int64_t)(m->cfg.dead_after + 1) * m->cfg.heartbeat_ms;
}

void
ksched__master_fail_turn(struct ksched_master *m, ksched_err e)
{
	struct ksched_sched_config sc;
	ksched_sched *s;

	/* The store undid the turn; the core's memory must follow: start it
	 * again from what is stored, and make workers register again. */
	ksched_sched_config_init(&sc);
	sc.lease_ms = m->cfg.lease_ms;
	sc.policy = m->policy;
	sc.adopt_window_ms = ksched__master_adopt_window(m);
	if (ksched_sched_new(m->q, m->c, &sc, ksched_now_ms(), &s)) {
		KLOG(KSCHED_LOG_ERR, "msg=\"cannot rebuild the core\"");
		m->run_err = e;
		event_base_loopbreak(m->base);
		return;
	}
	ksched_sched_free(m->s);
	m->s = s;
	memset(m->sessions, 0, m->nsessions * sizeof(*m->sessions));
	for (struct mctx *x = m->parked_leases; x; x = x->next) {
		ksched__free(x->errs);
		x->errs = NULL;
		ksched__proto_request_free(x->req);
		x->req = NULL;
		reply_unknown(x);
	}
	m->parked_leases = NULL;
}
