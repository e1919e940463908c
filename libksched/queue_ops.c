/*
 * libksched - queue operations that change state.  Each runs as one
 * function inside a write transaction (store.h): refusals are decided
 * before anything changes; storage failures undo both LMDB and memory.
 */
#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "queue_int.h"
#include "task_int.h"

#include "ksched/task.h"

/* A record that memory says exists but LMDB lacks: corruption (abort). */
#define REC_ERR(rc) ((rc) < 0 && (rc) != MDB_NOTFOUND ? (rc) : MDB_CORRUPTED)

#define QUEUE_CHECK(q)                                                        \
	do {                                                                  \
		if ((q)->broken)                                              \
			return (q)->broken;                                   \
	} while (0)

/* The refusal for an id that is not live: ended (ESTATE) or unknown. */
static int
not_live(ksched_queue *q, MDB_txn *txn, uint64_t id)
{
	enum ksched_state st;
	struct qrec r;
	int rc = ksched__queue_find(q, txn, id, &st, &r);

	if (rc == 0)
		return KSCHED_ESTATE;
	return rc == KSCHED_ENOENT || rc > 0 ? rc : REC_ERR(rc);
}

/* ---- push -------------------------------------------------------------- */

struct push_ctx {
	ksched_queue *q;
	const ksched_task *const *tasks;
	size_t n;
	int64_t now;
	uint64_t *ids;
};

struct reserve_ctx {
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val *k;
	int rc;
};

/* Room for the encoded spec right in LMDB's page (no copy). */
static void *
reserve_spec(void *arg, size_t len)
{
	struct reserve_ctx *r = arg;
	MDB_val v = {len, NULL};

	r->rc = ksched__lmdb_rc(
		mdb_put(r->txn, r->dbi, r->k, &v, MDB_RESERVE | MDB_APPEND));
	return r->rc ? NULL : v.mv_data;
}

static int
push_one(ksched_queue *q, MDB_txn *txn, const ksched_task *t, int64_t now,
	 uint64_t *idp)
{
	unsigned char kb[QKEY_LEN], idb[8], vb[QREC_MAX];
	MDB_val k = {8, idb}, v;
	struct reserve_ctx rs = {txn, q->tasks, &k, 0};
	struct qrec r = {0};
	struct qent e = {0};
	int64_t nb = ksched_task_not_before(t);
	enum ksched_state st = nb > now ? KSCHED_STATE_PENDING
					: KSCHED_STATE_READY;
	size_t len;
	int rc;

	e.id = q->next_id++;
	ksched__put_be64(idb, e.id);
	if (ksched__task_pack(t, reserve_spec, &rs, &len))
		return rs.rc ? rs.rc : -ENOMEM;
	r.prio = ksched_task_priority(t);
	r.retries = (uint32_t)ksched_task_retries(t);
	r.backoff_base = (uint32_t)ksched_task_backoff_base_ms(t);
	r.backoff_max = (uint32_t)ksched_task_backoff_max_ms(t);
	r.submitted = now;
	r.due = st == KSCHED_STATE_PENDING ? nb : now;
	ksched__qkey(kb, st, e.id);
	k.mv_data = kb;
	k.mv_size = sizeof(kb);
	v.mv_data = vb;
	v.mv_size = ksched__qrec_encode(&r, vb);
	rc = mdb_put(txn, q->qstate, &k, &v,
		     st == KSCHED_STATE_READY ? MDB_APPEND : 0);
	if (rc)
		return ksched__lmdb_rc(rc);
	e.state = (uint8_t)st;
	e.prio = r.prio;
	e.due = r.due;
	if (ksched__qix_add(&q->ix, &e) != 0)
		return -ENOMEM;
	q->counts[st]++;
	q->dirty = true;
	if (idp)
		*idp = e.id;
	return 0;
}

static int
push_fn(MDB_txn *txn, void *arg)
{
	struct push_ctx *c = arg;
	int rc = 0;

	/* Size the index once for the whole batch. */
	if (c->n > 1 && ksched__qix_reserve(&c->q->ix, (uint32_t)c->n))
		return KSCHED_ENOMEM; /* nothing changed yet */
	for (size_t i = 0; i < c->n && !rc; i++)
		rc = push_one(c->q, txn, c->tasks[i], c->now,
			      c->ids ? &c->ids[i] : NULL);
	return rc;
}

ksched_err
ksched_queue_push_batch(ksched_queue *q, const ksched_task *const *tasks,
			size_t n, int64_t now, uint64_t *ids, size_t *bad,
			char *err, size_t errlen)
{
	struct push_ctx c = {q, tasks, n, now, ids};
	ksched_err e;

	QUEUE_CHECK(q);
	if (!tasks && n)
		return KSCHED_EINVAL;
	for (size_t i = 0; i < n; i++) {
		e = tasks[i] ? ksched_task_validate(tasks[i], err, errlen)
			     : KSCHED_EINVAL;
		if (e) {
			if (bad)
				*bad = i;
			return e;
		}
	}
	if (!n)
		return KSCHED_OK;
	return ksched__store_write(q->s, push_fn, &c);
}

ksched_err
ksched_queue_push(ksched_queue *q, const ksched_task *t, int64_t now,
		  uint64_t *id, char *err, size_t errlen)
{
	return ksched_queue_push_batch(q, &t, 1, now, id, NULL, err, errlen);
}

/* ---- promote, lease, touch ---------------------------------------------- */

/* Move e (live) to state `to` with due, in LMDB and in memory. */
static int
move_live(ksched_queue *q, MDB_txn *txn, struct qent *e, enum ksched_state to,
	  struct qrec *r)
{
	int rc = ksched__queue_rec_move(q, txn, e->id,
					(enum ksched_state)e->state, to, r);

	if (rc)
		return rc;
	e->attempts = r->attempts;
	e->token = r->token;
	if (ksched_state_is_final(to))
		ksched__qix_del(&q->ix, e);
	else
		ksched__qix_move(&q->ix, e, (uint8_t)to, r->due);
	return 0;
}

static int
promote_due(ksched_queue *q, MDB_txn *txn, int64_t now, size_t *n)
{
	struct qent *e;
	struct qrec r;
	int rc;

	while ((e = ksched__qix_top(&q->ix, QIX_PENDING)) && e->due <= now) {
		rc = ksched__queue_rec_get(q, txn, KSCHED_STATE_PENDING, e->id,
					   &r);
		if (!rc)
			rc = move_live(q, txn, e, KSCHED_STATE_READY, &r);
		if (rc)
			return REC_ERR(rc);
		(*n)++;
	}
	return 0;
}

struct lease_ctx {
	ksched_queue *q;
	int64_t now, lease_ms;
	size_t max;
	uint64_t id; /* 0: from the head */
	struct ksched_lease *out;
	size_t n;
};

static int
lease_entry(struct lease_ctx *c, MDB_txn *txn, struct qent *e)
{
	struct ksched_lease *l = &c->out[c->n];
	struct qrec r;
	int rc = ksched__queue_rec_get(c->q, txn, KSCHED_STATE_READY, e->id, &r);

	if (rc)
		return REC_ERR(rc);
	r.attempts++;
	r.token = ksched__queue_token(c->q, e->id);
	r.due = c->now + c->lease_ms;
	l->id = e->id;
	rc = move_live(c->q, txn, e, KSCHED_STATE_LEASED, &r);
	if (rc)
		return rc;
	l->attempt = r.attempts;
	l->token = r.token;
	l->deadline = r.due;
	c->n++;
	return 0;
}

static int
lease_fn(MDB_txn *txn, void *arg)
{
	struct lease_ctx *c = arg;
	size_t promoted = 0;
	struct qent *e = NULL;
	int rc;

	c->n = 0;
	if (c->id) {
		/* Refuse before changing anything (promotion changes). */
		e = ksched__qix_find(&c->q->ix, c->id);
		if (!e)
			return KSCHED_ENOENT;
		if (e->state == KSCHED_STATE_LEASED ||
		    (e->state == KSCHED_STATE_PENDING && e->due > c->now))
			return KSCHED_ESTATE;
	}
	rc = promote_due(c->q, txn, c->now, &promoted);
	if (c->id)
		return rc ? rc : lease_entry(c, txn, e);
	while (!rc && c->n < c->max &&
	       (e = ksched__qix_top(&c->q->ix, QIX_READY)))
		rc = lease_entry(c, txn, e);
	return rc;
}

ksched_err
ksched_queue_lease(ksched_queue *q, int64_t now, int64_t lease_ms, size_t max,
		   struct ksched_lease *out, size_t *n)
{
	struct lease_ctx c = {q, now, lease_ms, max, 0, out, 0};
	ksched_err e;

	QUEUE_CHECK(q);
	*n = 0;
	if (lease_ms <= 0 || (max && !out))
		return KSCHED_EINVAL;
	if (!max)
		return KSCHED_OK;
	e = ksched__store_write(q->s, lease_fn, &c);
	if (!e)
		*n = c.n;
	return e;
}

ksched_err
ksched_queue_lease_id(ksched_queue *q, uint64_t id, int64_t now,
		      int64_t lease_ms, struct ksched_lease *out)
{
	struct lease_ctx c = {q, now, lease_ms, 1, id, out, 0};
	struct qent *e;

	QUEUE_CHECK(q);
	if (lease_ms <= 0 || !out || !id)
		return KSCHED_EINVAL;
	/* A not-yet-promoted PENDING task may be due: let lease_fn see it. */
	e = ksched__qix_find(&q->ix, id);
	if (!e && !ksched_queue_get(q, id, NULL, NULL))
		return KSCHED_ESTATE;
	if (!e)
		return KSCHED_ENOENT;
	if (e->state == KSCHED_STATE_LEASED ||
	    (e->state == KSCHED_STATE_PENDING && e->due > now))
		return KSCHED_ESTATE;
	return ksched__store_write(q->s, lease_fn, &c);
}

/* The live entry leased under token, or a refusal. */
static int
leased_entry(ksched_queue *q, MDB_txn *txn, uint64_t id, uint64_t token,
	     struct qent **out)
{
	struct qent *e = ksched__qix_find(&q->ix, id);
	enum ksched_state st;
	struct qrec r;

	*out = e;
	if (e && e->state == KSCHED_STATE_LEASED && e->token == token && token)
		return 0;
	if (e)
		return KSCHED_ESTALE;
	/* Not live: ended (stale) or unknown. */
	if (!txn)
		return ksched_queue_get(q, id, NULL, NULL) == KSCHED_OK
			       ? KSCHED_ESTALE
			       : KSCHED_ENOENT;
	return ksched__queue_find(q, txn, id, &st, &r) == 0 ? KSCHED_ESTALE
							    : KSCHED_ENOENT;
}

struct touch_ctx {
	ksched_queue *q;
	struct qent *e;
	int64_t deadline;
};

static int
touch_fn(MDB_txn *txn, void *arg)
{
	struct touch_ctx *c = arg;
	struct qrec r;
	int rc = ksched__queue_rec_get(c->q, txn, KSCHED_STATE_LEASED,
				       c->e->id, &r);

	if (rc)
		return REC_ERR(rc);
	r.due = c->deadline;
	return move_live(c->q, txn, c->e, KSCHED_STATE_LEASED, &r);
}

ksched_err
ksched_queue_touch(ksched_queue *q, uint64_t id, uint64_t token, int64_t now,
		   int64_t lease_ms, int64_t *deadline)
{
	struct touch_ctx c = {q, NULL, now + lease_ms};
	ksched_err e;

	QUEUE_CHECK(q);
	if (lease_ms <= 0)
		return KSCHED_EINVAL;
	e = (ksched_err)leased_entry(q, NULL, id, token, &c.e);
	if (!e)
		e = ksched__store_write(q->s, touch_fn, &c);
	if (!e && deadline)
		*deadline = c.deadline;
	return e;
}

/* ---- complete, fail, expire ------------------------------------------- */

struct end_ctx {
	ksched_queue *q;
	uint64_t id, token;
	int64_t now;
	const void *result;
	size_t len;
	const char *error;
	enum ksched_state state; /* out: the new state */
	size_t requeued, dead;	 /* expire */
};

static int
complete_fn(MDB_txn *txn, void *arg)
{
	struct end_ctx *c = arg;
	unsigned char idb[8];
	MDB_val k = {8, idb}, v = {c->len, (void *)c->result};
	struct qent *e;
	struct qrec r;
	int rc = leased_entry(c->q, txn, c->id, c->token, &e);

	if (rc)
		return rc;
	rc = ksched__queue_rec_get(c->q, txn, KSCHED_STATE_LEASED, c->id, &r);
	if (rc)
		return REC_ERR(rc);
	ksched__put_be64(idb, c->id);
	rc = ksched__lmdb_rc(mdb_put(txn, c->q->results, &k, &v, 0));
	if (rc)
		return rc;
	r.due = c->now;
	r.token = 0;
	return move_live(c->q, txn, e, KSCHED_STATE_SUCCEEDED, &r);
}

ksched_err
ksched_queue_complete(ksched_queue *q, uint64_t id, uint64_t token,
		      int64_t now, const void *result, size_t len)
{
	struct end_ctx c = {.q = q, .id = id, .token = token, .now = now,
			    .result = result, .len = len};

	QUEUE_CHECK(q);
	if (len && !result)
		return KSCHED_EINVAL;
	if (len > 0xffffffffu)
		return KSCHED_ETOOBIG;
	return ksched__store_write(q->s, complete_fn, &c);
}

/* Fail the leased attempt of e: back off and retry, or DEAD. */
static int
fail_entry(struct end_ctx *c, MDB_txn *txn, struct qent *e)
{
	struct qrec r;
	enum ksched_state to;
	int rc = ksched__queue_rec_get(c->q, txn, KSCHED_STATE_LEASED, e->id,
				       &r);

	if (rc)
		return REC_ERR(rc);
	ksched__qrec_set_error(&r, c->error);
	r.token = 0;
	if (r.attempts <= r.retries) {
		to = KSCHED_STATE_PENDING;
		r.due = c->now + ksched__queue_backoff(c->q, e->id, &r);
		c->requeued++;
	} else {
		to = KSCHED_STATE_DEAD;
		r.due = c->now;
		c->dead++;
	}
	KLOG(to == KSCHED_STATE_DEAD ? KSCHED_LOG_NOTICE : KSCHED_LOG_INFO,
	     "msg=\"task %s\" task=%llu attempt=%u error=\"%s\"",
	     to == KSCHED_STATE_DEAD ? "dead" : "will retry",
	     (unsigned long long)e->id, r.attempts, r.err);
	c->state = to;
	return move_live(c->q, txn, e, to, &r);
}

static int
fail_fn(MDB_txn *txn, void *arg)
{
	struct end_ctx *c = arg;
	struct qent *e;
	int rc = leased_entry(c->q, txn, c->id, c->token, &e);

	return rc ? rc : fail_entry(c, txn, e);
}

ksched_err
ksched_queue_fail(ksched_queue *q, uint64_t id, uint64_t token, int64_t now,
		  const char *error, enum ksched_state *state)
{
	struct end_ctx c = {.q = q, .id = id, .token = token, .now = now,
			    .error = error};
	ksched_err e;

	QUEUE_CHECK(q);
	e = ksched__store_write(q->s, fail_fn, &c);
	if (!e && state)
		*state = c.state;
	return e;
}

static int
expire_fn(MDB_txn *txn, void *arg)
{
	struct end_ctx *c = arg;
	struct qent *e;
	int rc = 0;

	c->requeued = c->dead = 0;
	while (!rc && (e = ksched__qix_top(&c->q->ix, QIX_LEASED)) &&
	       e->due <= c->now)
		rc = fail_entry(c, txn, e);
	return rc;
}

ksched_err
ksched_queue_expire(ksched_queue *q, int64_t now, size_t *requeued,
		    size_t *dead)
{
	struct end_ctx c = {.q = q, .now = now, .error = "lease expired"};
	const struct qent *top;
	ksched_err e = KSCHED_OK;

	QUEUE_CHECK(q);
	top = ksched__qix_top(&q->ix, QIX_LEASED);
	if (top && top->due <= now)
		e = ksched__store_write(q->s, expire_fn, &c);
	if (requeued)
		*requeued = e ? 0 : c.requeued;
	if (dead)
		*dead = e ? 0 : c.dead;
	return e;
}

struct promote_ctx {
	ksched_queue *q;
	int64_t now;
	size_t n;
};

static int
promote_fn(MDB_txn *txn, void *arg)
{
	struct promote_ctx *c = arg;

	c->n = 0;
	return promote_due(c->q, txn, c->now, &c->n);
}

ksched_err
ksched_queue_promote(ksched_queue *q, int64_t now, size_t *n)
{
	struct promote_ctx c = {q, now, 0};
	const struct qent *top;
	ksched_err e = KSCHED_OK;

	QUEUE_CHECK(q);
	top = ksched__qix_top(&q->ix, QIX_PENDING);
	if (top && top->due <= now)
		e = ksched__store_write(q->s, promote_fn, &c);
	if (n)
		*n = e ? 0 : c.n;
	return e;
}

/* ---- cancel, retry ------------------------------------------------------ */

struct cancel_ctx {
	ksched_queue *q;
	uint64_t id;
	int64_t now;
	bool retry;
};

static int
cancel_fn(MDB_txn *txn, void *arg)
{
	struct cancel_ctx *c = arg;
	struct qent *e = ksched__qix_find(&c->q->ix, c->id);
	struct qrec r;
	int rc;

	if (!e)
		return not_live(c->q, txn, c->id);
	rc = ksched__queue_rec_get(c->q, txn, (enum ksched_state)e->state,
				   c->id, &r);
	if (rc)
		return REC_ERR(rc);
	r.token = 0;
	r.due = c->now;
	return move_live(c->q, txn, e, KSCHED_STATE_CANCELED, &r);
}

ksched_err
ksched_queue_cancel(ksched_queue *q, uint64_t id, int64_t now)
{
	struct cancel_ctx c = {q, id, now, false};

	QUEUE_CHECK(q);
	return ksched__store_write(q->s, cancel_fn, &c);
}

static int
retry_fn(MDB_txn *txn, void *arg)
{
	struct cancel_ctx *c = arg;
	struct qent e = {0};
	struct qrec r;
	int rc = ksched__queue_rec_get(c->q, txn, KSCHED_STATE_DEAD, c->id, &r);

	if (rc == MDB_NOTFOUND)
		return not_live(c->q, txn, c->id);
	if (rc)
		return REC_ERR(rc);
	r.attempts = 0;
	r.token = 0;
	r.due = c->now;
	rc = ksched__queue_rec_move(c->q, txn, c->id, KSCHED_STATE_DEAD,
				    KSCHED_STATE_READY, &r);
	if (rc)
		return rc;
	e.id = c->id;
	e.state = KSCHED_STATE_READY;
	e.prio = r.prio;
	e.due = r.due;
	return ksched__qix_add(&c->q->ix, &e) ? -ENOMEM : 0;
}

ksched_err
ksched_queue_retry(ksched_queue *q, uint64_t id, int64_t now)
{
	struct cancel_ctx c = {q, id, now, true};

	QUEUE_CHECK(q);
	return ksched__store_write(q->s, retry_fn, &c);
}

/* ---- single flight, release, scan --------------------------------------- */

ksched_err
ksched_queue_ready_scan(ksched_queue *q, size_t max, uint64_t *ids, size_t *n)
{
	QUEUE_CHECK(q);
	*n = 0;
	if (max && !ids)
		return KSCHED_EINVAL;
	return ksched__qix_ready_scan(&q->ix, max, ids, n) ? KSCHED_ENOMEM
							   : KSCHED_OK;
}

struct flag_ctx {
	ksched_queue *q;
	uint64_t id, token;
	int64_t now;
	const void *result;
	size_t len;
};

static int
attach_fn(MDB_txn *txn, void *arg)
{
	struct flag_ctx *c = arg;
	struct qent *e = ksched__qix_find(&c->q->ix, c->id);
	struct qrec r;
	int rc;

	if (!e)
		return not_live(c->q, txn, c->id);
	if (e->state == KSCHED_STATE_LEASED ||
	    (e->state == KSCHED_STATE_PENDING && e->due > c->now))
		return KSCHED_ESTATE;
	rc = ksched__queue_rec_get(c->q, txn, (enum ksched_state)e->state,
				   c->id, &r);
	if (rc)
		return REC_ERR(rc);
	r.flags |= KSCHED_TASK_ATTACHED;
	r.token = ksched__queue_token(c->q, c->id);
	r.due = INT64_MAX;
	c->token = r.token;
	return move_live(c->q, txn, e, KSCHED_STATE_LEASED, &r);
}

ksched_err
ksched_queue_attach(ksched_queue *q, uint64_t id, int64_t now,
		    uint64_t *token)
{
	struct flag_ctx c = {.q = q, .id = id, .now = now};
	ksched_err e;

	QUEUE_CHECK(q);
	e = ksched__store_write(q->s, attach_fn, &c);
	if (!e && token)
		*token = c.token;
	return e;
}

static int
release_fn(MDB_txn *txn, void *arg)
{
	struct flag_ctx *c = arg;
	struct qent *e;
	struct qrec r;
	int rc = leased_entry(c->q, txn, c->id, c->token, &e);

	if (rc)
		return rc;
	rc = ksched__queue_rec_get(c->q, txn, KSCHED_STATE_LEASED, c->id, &r);
	if (rc)
		return REC_ERR(rc);
	if (!(r.flags & KSCHED_TASK_ATTACHED) && r.attempts)
		r.attempts--;
	r.flags &= (uint8_t)~KSCHED_TASK_ATTACHED;
	r.token = 0;
	r.due = c->now;
	return move_live(c->q, txn, e, KSCHED_STATE_READY, &r);
}

ksched_err
ksched_queue_release(ksched_queue *q, uint64_t id, uint64_t token,
		     int64_t now)
{
	struct flag_ctx c = {.q = q, .id = id, .token = token, .now = now};

	QUEUE_CHECK(q);
	return ksched__store_write(q->s, release_fn, &c);
}

static int
finish_cached_fn(MDB_txn *txn, void *arg)
{
	struct flag_ctx *c = arg;
	struct qent *e = ksched__qix_find(&c->q->ix, c->id);
	unsigned char idb[8];
	MDB_val k = {8, idb}, v = {c->len, (void *)c->result};
	struct qrec r;
	int rc;

	if (!e)
		return not_live(c->q, txn, c->id);
	rc = ksched__queue_rec_get(c->q, txn, (enum ksched_state)e->state,
				   c->id, &r);
	if (rc)
		return REC_ERR(rc);
	ksched__put_be64(idb, c->id);
	rc = ksched__lmdb_rc(mdb_put(txn, c->q->results, &k, &v, 0));
	if (rc)
		return rc;
	r.flags = (uint8_t)((r.flags & ~KSCHED_TASK_ATTACHED) |
			    KSCHED_TASK_CACHED);
	r.token = 0;
	r.due = c->now;
	return move_live(c->q, txn, e, KSCHED_STATE_SUCCEEDED, &r);
}

ksched_err
ksched_queue_finish_cached(ksched_queue *q, uint64_t id, int64_t now,
			   const void *result, size_t len)
{
	struct flag_ctx c = {.q = q, .id = id, .now = now, .result = result,
			     .len = len};

	QUEUE_CHECK(q);
	if (len && !result)
		return KSCHED_EINVAL;
	return ksched__store_write(q->s, finish_cached_fn, &c);
}
