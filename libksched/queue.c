/*
 * libksched - the durable queue: task records in LMDB, indexes in memory.
 *
 * Tables (see store.h): `tasks` id -> TaskSpec; `qstate` (state prefix, id)
 * -> queue record; `results` id -> result bytes; `meta` "qcounts" -> counts.
 * The qstate key starts with the state so that the live states can be
 * loaded without reading finished tasks, and a state can be listed with a
 * range scan.  READY has the largest prefix, so a push appends.
 */
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "alloc.h"
#include "log.h"
#include "queue_int.h"

static const char *const state_names[KSCHED_STATE_COUNT] = {
	"pending", "ready", "leased", "succeeded", "dead", "canceled",
};

const char *
ksched_state_name(enum ksched_state st)
{
	return (unsigned)st < KSCHED_STATE_COUNT ? state_names[st] : "unknown";
}

ksched_err
ksched_state_parse(const char *name, enum ksched_state *out)
{
	for (int i = 0; name && i < KSCHED_STATE_COUNT; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum ksched_state)i;
			return KSCHED_OK;
		}
	}
	return KSCHED_EINVAL;
}

bool
ksched_state_is_final(enum ksched_state st)
{
	return st == KSCHED_STATE_SUCCEEDED || st == KSCHED_STATE_DEAD ||
	       st == KSCHED_STATE_CANCELED;
}

/* ---- keys and records ------------------------------------------------- */

/* Key prefixes: READY sorts last so that pushes append. */
static const unsigned char state_prefix[KSCHED_STATE_COUNT] = {
	[KSCHED_STATE_PENDING] = 0x10,	 [KSCHED_STATE_LEASED] = 0x20,
	[KSCHED_STATE_SUCCEEDED] = 0x30, [KSCHED_STATE_DEAD] = 0x40,
	[KSCHED_STATE_CANCELED] = 0x50,	 [KSCHED_STATE_READY] = 0x70,
};

void
ksched__qkey(unsigned char *kb, enum ksched_state st, uint64_t id)
{
	kb[0] = state_prefix[st];
	ksched__put_be64(kb + 1, id);
}

int
ksched__qkey_parse(const MDB_val *k, enum ksched_state *st, uint64_t *id)
{
	const unsigned char *p = k->mv_data;

	if (k->mv_size != QKEY_LEN)
		return -1;
	for (int i = 0; i < KSCHED_STATE_COUNT; i++) {
		if (state_prefix[i] == p[0]) {
			*st = (enum ksched_state)i;
			*id = ksched__get_be64(p + 1);
			return 0;
		}
	}
	return -1;
}

size_t
ksched__qrec_encode(const struct qrec *r, unsigned char *b)
{
	b[0] = QREC_VERSION;
	b[1] = r->flags;
	ksched__put_le32(b + 2, (uint32_t)r->prio);
	ksched__put_le32(b + 6, r->attempts);
	ksched__put_le32(b + 10, r->retries);
	ksched__put_le32(b + 14, r->backoff_base);
	ksched__put_le32(b + 18, r->backoff_max);
	ksched__put_le64(b + 22, (uint64_t)r->submitted);
	ksched__put_le64(b + 30, (uint64_t)r->due);
	ksched__put_le64(b + 38, r->token);
	b[46] = (unsigned char)r->errlen;
	b[47] = (unsigned char)(r->errlen >> 8);
	memcpy(b + QREC_FIXED, r->err, r->errlen);
	return QREC_FIXED + r->errlen;
}

int
ksched__qrec_decode(const MDB_val *v, struct qrec *r)
{
	const unsigned char *b = v->mv_data;

	if (v->mv_size < QREC_FIXED || b[0] != QREC_VERSION)
		return -1;
	r->flags = b[1];
	r->prio = (int32_t)ksched__get_le32(b + 2);
	r->attempts = ksched__get_le32(b + 6);
	r->retries = ksched__get_le32(b + 10);
	r->backoff_base = ksched__get_le32(b + 14);
	r->backoff_max = ksched__get_le32(b + 18);
	r->submitted = (int64_t)ksched__get_le64(b + 22);
	r->due = (int64_t)ksched__get_le64(b + 30);
	r->token = ksched__get_le64(b + 38);
	r->errlen = (uint16_t)(b[46] | b[47] << 8);
	if (r->errlen > KSCHED_ERROR_MAX ||
	    v->mv_size != (size_t)QREC_FIXED + r->errlen)
		return -1;
	memcpy(r->err, b + QREC_FIXED, r->errlen);
	r->err[r->errlen] = 0;
	return 0;
}

void
ksched__qrec_set_error(struct qrec *r, const char *msg)
{
	size_t n = msg ? strlen(msg) : 0;

	if (n > KSCHED_ERROR_MAX)
		n = KSCHED_ERROR_MAX;
	memcpy(r->err, msg ? msg : "", n);
	r->err[n] = 0;
	r->errlen = (uint16_t)n;
}

/* ---- counters --------------------------------------------------------- */

static void
count_move(ksched_queue *q, int from, int to)
{
	if (from >= 0)
		q->counts[from]--;
	if (to >= 0)
		q->counts[to]++;
	q->dirty = true;
}

/* meta "qcounts": tasks per state, then the lease token counter. */
#define QCOUNTS_LEN (8 * (KSCHED_STATE_COUNT + 1))

static int
queue_pre_commit(void *arg, MDB_txn *txn)
{
	ksched_queue *q = arg;
	unsigned char buf[QCOUNTS_LEN];
	MDB_val k = {7, "qcounts"}, v = {sizeof(buf), buf};

	if (!q->dirty)
		return 0;
	for (int i = 0; i < KSCHED_STATE_COUNT; i++)
		ksched__put_le64(buf + 8 * i, q->counts[i]);
	ksched__put_le64(buf + 8 * KSCHED_STATE_COUNT, q->tokctr);
	return ksched__lmdb_rc(mdb_put(txn, q->meta, &k, &v, 0));
}

static void
queue_post_commit(void *arg)
{
	((ksched_queue *)arg)->dirty = false;
}

/* ---- loading ----------------------------------------------------------- */

static int
load_live(ksched_queue *q, MDB_txn *txn, enum ksched_state st)
{
	unsigned char kb[QKEY_LEN];
	MDB_cursor *cur;
	MDB_val k, v;
	struct qrec r;
	int rc;

	ksched__qkey(kb, st, 0);
	k.mv_size = sizeof(kb);
	k.mv_data = kb;
	rc = ksched__lmdb_rc(mdb_cursor_open(txn, q->qstate, &cur));
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct qent e = {0};
		enum ksched_state kst;
		if (ksched__qkey_parse(&k, &kst, &e.id) != 0 || kst != st)
			break;
		if (ksched__qrec_decode(&v, &r) != 0) {
			rc = KSCHED_ECORRUPT;
			break;
		}
		e.state = (uint8_t)st;
		e.prio = r.prio;
		e.attempts = r.attempts;
		e.due = r.due;
		e.token = r.token;
		if (ksched__qix_add(&q->ix, &e) != 0) {
			rc = KSCHED_ENOMEM;
			break;
		}
		if (++q->counts[st] % 65536 == 0)
			ksched__store_drop_pages(q->s);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : ksched__lmdb_rc(rc);
}

static int
load_meta(ksched_queue *q, MDB_txn *txn)
{
	MDB_val k = {7, "qcounts"}, v;
	MDB_cursor *cur;
	int rc = mdb_get(txn, q->meta, &k, &v);

	if (rc == 0) {
		if (v.mv_size != QCOUNTS_LEN)
			return KSCHED_ECORRUPT;
		for (int i = 0; i < KSCHED_STATE_COUNT; i++)
			if (ksched_state_is_final((enum ksched_state)i))
				q->counts[i] = ksched__get_le64(
					(unsigned char *)v.mv_data + 8 * i);
		q->tokctr = ksched__get_le64((unsigned char *)v.mv_data +
					     8 * KSCHED_STATE_COUNT);
	} else if (rc != MDB_NOTFOUND) {
		return ksched__lmdb_rc(rc);
	}
	q->next_id = 1;
	rc = ksched__lmdb_rc(mdb_cursor_open(txn, q->tasks, &cur));
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8)
		q->next_id = ksched__get_be64(k.mv_data) + 1;
	else if (rc == 0)
		rc = KSCHED_ECORRUPT;
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : ksched__lmdb_rc(rc);
}

static ksched_err
queue_load(ksched_queue *q)
{
	MDB_txn *txn;
	ksched_err e = ksched__store_read(q->s, &txn);
	int rc = 0;

	if (e)
		return e;
	ksched__qix_clear(&q->ix);
	memset(q->counts, 0, sizeof(q->counts));
	q->dirty = false;
	rc = load_live(q, txn, KSCHED_STATE_PENDING);
	if (!rc)
		rc = load_live(q, txn, KSCHED_STATE_READY);
	if (!rc)
		rc = load_live(q, txn, KSCHED_STATE_LEASED);
	if (!rc)
		rc = load_meta(q, txn);
	ksched__store_read_end(q->s, txn);
	ksched__store_drop_pages(q->s);
	return ksched__store_err(rc);
}

static void
queue_reload(void *arg)
{
	ksched_queue *q = arg;
	ksched_err e = queue_load(q);

	q->broken = e;
	if (e)
		KLOG(KSCHED_LOG_ERR,
		     "msg=\"queue index rebuild failed\" error=\"%s\"",
		     ksched_strerror(e));
}

ksched_err
ksched_queue_open(ksched_store *s, uint64_t seed, ksched_queue **out)
{
	struct ksched_store_sub sub = {queue_pre_commit, queue_reload,
				       queue_post_commit, NULL};
	ksched_queue *q;
	ksched_err e;

	*out = NULL;
	if (ksched_store_in_batch(s))
		return KSCHED_EBUSY;
	q = ksched__calloc(1, sizeof(*q));
	if (!q)
		return KSCHED_ENOMEM;
	q->s = s;
	q->seed = seed;
	q->tasks = ksched__store_dbi(s, KSCHED_DB_TASKS);
	q->qstate = ksched__store_dbi(s, KSCHED_DB_QSTATE);
	q->results = ksched__store_dbi(s, KSCHED_DB_RESULTS);
	q->meta = ksched__store_dbi(s, KSCHED_DB_META);
	ksched__qix_init(&q->ix);
	e = queue_load(q);
	sub.arg = q;
	if (!e && ksched__store_subscribe(s, &sub) != 0)
		e = KSCHED_EBUSY;
	if (e) {
		ksched__qix_free(&q->ix);
		ksched__free(q);
		return e;
	}
	KLOG(KSCHED_LOG_INFO,
	     "msg=\"queue opened\" pending=%llu ready=%llu leased=%llu",
	     (unsigned long long)q->counts[KSCHED_STATE_PENDING],
	     (unsigned long long)q->counts[KSCHED_STATE_READY],
	     (unsigned long long)q->counts[KSCHED_STATE_LEASED]);
	*out = q;
	return KSCHED_OK;
}

void
ksched_queue_close(ksched_queue *q)
{
	if (!q)
		return;
	ksched__store_unsubscribe(q->s, q);
	ksched__qix_free(&q->ix);
	ksched__free(q);
}

void
ksched_queue_counts(const ksched_queue *q, uint64_t counts[KSCHED_STATE_COUNT])
{
	memcpy(counts, q->counts, sizeof(q->counts));
}

int64_t
ksched_queue_next_due(const ksched_queue *q)
{
	const struct qent *p = ksched__qix_top(&q->ix, QIX_PENDING);
	const struct qent *l = ksched__qix_top(&q->ix, QIX_LEASED);
	int64_t due = INT64_MAX;

	if (p)
		due = p->due;
	if (l && l->due < due)
		due = l->due;
	return due;
}

/* ---- record transitions (run inside a write transaction) --------------- */

/* Move id's record from state `from` to `to`, rewriting it as r. */
int
ksched__queue_rec_move(ksched_queue *q, MDB_txn *txn, uint64_t id, enum ksched_state from,
	 enum ksched_state to, const struct qrec *r)
{
	unsigned char kb[QKEY_LEN], vb[QREC_MAX];
	MDB_val k = {sizeof(kb), kb}, v;
	int rc = 0;

	if (from != to) {
		ksched__qkey(kb, from, id);
		rc = ksched__lmdb_rc(mdb_del(txn, q->qstate, &k, NULL));
		if (rc)
			return rc;
	}
	ksched__qkey(kb, to, id);
	v.mv_data = vb;
	v.mv_size = ksched__qrec_encode(r, vb);
	rc = ksched__lmdb_rc(mdb_put(txn, q->qstate, &k, &v, 0));
	if (!rc && from != to)
		count_move(q, (int)from, (int)to);
	return rc;
}

int
ksched__queue_rec_get(ksched_queue *q, MDB_txn *txn, enum ksched_state st, uint64_t id,
	struct qrec *r)
{
	unsigned char kb[QKEY_LEN];
	MDB_val k = {sizeof(kb), kb}, v;
	int rc;

	ksched__qkey(kb, st, id);
	rc = mdb_get(txn, q->qstate, &k, &v);
	if (rc)
		return ksched__lmdb_rc(rc);
	return ksched__qrec_decode(&v, r) ? KSCHED_ECORRUPT : 0;
}

/* Find the state of id: from memory if live, else among final records. */
int
ksched__queue_find(ksched_queue *q, MDB_txn *txn, uint64_t id, enum ksched_state *st,
	   struct qrec *r)
{
	static const enum ksched_state finals[] = {KSCHED_STATE_SUCCEEDED,
						   KSCHED_STATE_DEAD,
						   KSCHED_STATE_CANCELED};
	struct qent *e = ksched__qix_find(&q->ix, id);
	int rc;

	if (e) {
		*st = (enum ksched_state)e->state;
		return ksched__queue_rec_get(q, txn, *st, id, r);
	}
	for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++) {
		rc = ksched__queue_rec_get(q, txn, finals[i], id, r);
		if (rc != MDB_NOTFOUND) {
			*st = finals[i];
			return rc;
		}
	}
	return KSCHED_ENOENT;
}

static uint64_t
mix(const ksched_queue *q, uint64_t a, uint64_t b)
{
	uint64_t in[2] = {a, b};

	return XXH3_64bits_withSeed(in, sizeof(in), q->seed);
}

uint64_t
ksched__queue_token(ksched_queue *q, uint64_t id)
{
	uint64_t t;

	/* The counter is stored with the counts, so tokens never repeat
	 * across reopens. */
	q->dirty = true;
	t = mix(q, id, ++q->tokctr);

	return t ? t : 1;
}

/* Backoff before attempt `attempts`+1: base*2^(attempts-1), capped, then
 * equal jitter (between half and all of it). */
int64_t
ksched__queue_backoff(const ksched_queue *q, uint64_t id, const struct qrec *r)
{
	uint64_t d = r->backoff_base;
	uint32_t n = r->attempts ? r->attempts - 1 : 0;

	for (uint32_t i = 0; i < n && d < r->backoff_max; i++)
		d *= 2;
	if (d > r->backoff_max)
		d = r->backoff_max;
	if (d < 2)
		return (int64_t)d;
	return (int64_t)(d / 2 + mix(q, id, r->attempts) % (d - d / 2 + 1));
}
