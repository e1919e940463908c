/* libksched - queue reads: get, result, list, verify. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "queue_int.h"

#include "ksched/task.h"

static ksched_err
get_spec(ksched_queue *q, MDB_txn *txn, uint64_t id, ksched_task **spec)
{
	unsigned char idb[8];
	MDB_val k = {8, idb}, v;
	ksched_err e;
	int rc;

	ksched__put_be64(idb, id);
	rc = mdb_get(txn, q->tasks, &k, &v);
	if (rc)
		return rc == MDB_NOTFOUND ? KSCHED_ECORRUPT
					  : ksched__store_err(ksched__lmdb_rc(rc));
	e = ksched_task_decode(v.mv_data, v.mv_size, spec);
	if (e == KSCHED_EPROTO)
		return KSCHED_ECORRUPT;
	if (!e)
		ksched_task_set_id(*spec, id);
	return e;
}

ksched_err
ksched_queue_get(ksched_queue *q, uint64_t id, struct ksched_task_info *info,
		 ksched_task **spec)
{
	enum ksched_state st;
	struct qrec r;
	MDB_txn *txn;
	ksched_err e;
	int rc;

	if (spec)
		*spec = NULL;
	if (q->broken)
		return q->broken;
	e = ksched__store_read(q->s, &txn);
	if (e)
		return e;
	rc = ksched__queue_find(q, txn, id, &st, &r);
	e = rc == MDB_NOTFOUND ? KSCHED_ECORRUPT : ksched__store_err(rc);
	if (!e && info) {
		info->id = id;
		info->state = st;
		info->priority = r.prio;
		info->attempts = r.attempts;
		info->retries = r.retries;
		info->submitted = r.submitted;
		info->due = r.due;
		info->token = r.token;
		info->flags = r.flags;
		memcpy(info->last_error, r.err, (size_t)r.errlen + 1);
	}
	if (!e && spec)
		e = get_spec(q, txn, id, spec);
	ksched__store_read_end(q->s, txn);
	return e;
}

ksched_err
ksched_queue_result(ksched_queue *q, uint64_t id, void **out, size_t *len)
{
	unsigned char idb[8];
	MDB_val k = {8, idb}, v;
	MDB_txn *txn;
	ksched_err e;
	int rc;

	*out = NULL;
	*len = 0;
	e = ksched__store_read(q->s, &txn);
	if (e)
		return e;
	ksched__put_be64(idb, id);
	rc = mdb_get(txn, q->results, &k, &v);
	e = ksched__store_err(ksched__lmdb_rc(rc));
	if (!e && v.mv_size) {
		*out = ksched__memdup(v.mv_data, v.mv_size);
		if (!*out)
			e = KSCHED_ENOMEM;
		else
			*len = v.mv_size;
	}
	ksched__store_read_end(q->s, txn);
	return e;
}

/*
 * Put the cursor on the first key of state st to list, or return
 * MDB_NOTFOUND.  Keys are the state's prefix byte then the big-endian id,
 * so byte order is (state, id) order.  Ascending starts at the first key at
 * or after (st, cursor + 1).  Descending starts at the last key before (st,
 * cursor), or before the next state's prefix when cursor is 0: seek the
 * first key at or after that bound and step back once (to the last key when
 * nothing lies after it).  A key of another state ends the walk.
 */
static int
list_seek(MDB_cursor *cur, enum ksched_state st, uint64_t cursor, bool desc,
	  MDB_val *k, MDB_val *v)
{
	unsigned char kb[QKEY_LEN];
	int rc;

	k->mv_size = sizeof(kb);
	k->mv_data = kb;
	if (!desc) {
		ksched__qkey(kb, st, cursor + 1);
		return mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	}
	ksched__qkey(kb, st, cursor ? cursor : UINT64_MAX);
	rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		return mdb_cursor_get(cur, k, v, MDB_LAST);
	/* With cursor 0 the bound (st, UINT64_MAX) itself is listed. */
	if (rc == 0 && cursor == 0 && k->mv_size == sizeof(kb) &&
	    memcmp(k->mv_data, kb, sizeof(kb)) == 0)
		return 0;
	return rc ? rc : mdb_cursor_get(cur, k, v, MDB_PREV);
}

static ksched_err
list_walk(ksched_queue *q, enum ksched_state st, uint64_t cursor, bool desc,
	  size_t max, uint64_t *ids, size_t *n, uint64_t *next)
{
	MDB_val k, v;
	MDB_cursor *cur;
	MDB_txn *txn;
	ksched_err e;
	int rc;

	*n = 0;
	*next = 0;
	if ((unsigned)st >= KSCHED_STATE_COUNT || (max && !ids) ||
	    (!desc && cursor == UINT64_MAX))
		return KSCHED_EINVAL;
	e = ksched__store_read(q->s, &txn);
	if (e)
		return e;
	rc = mdb_cursor_open(txn, q->qstate, &cur);
	if (rc) {
		ksched__store_read_end(q->s, txn);
		return ksched__store_err(ksched__lmdb_rc(rc));
	}
	for (rc = list_seek(cur, st, cursor, desc, &k, &v); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, desc ? MDB_PREV : MDB_NEXT)) {
		enum ksched_state kst;
		uint64_t id;
		if (ksched__qkey_parse(&k, &kst, &id) != 0 || kst != st)
			break;
		if (*n == max) {
			*next = max ? ids[max - 1] : 0;
			break;
		}
		ids[(*n)++] = id;
	}
	mdb_cursor_close(cur);
	ksched__store_read_end(q->s, txn);
	return rc == 0 || rc == MDB_NOTFOUND
		       ? KSCHED_OK
		       : ksched__store_err(ksched__lmdb_rc(rc));
}

ksched_err
ksched_queue_list(ksched_queue *q, enum ksched_state st, uint64_t cursor,
		  size_t max, uint64_t *ids, size_t *n, uint64_t *next)
{
	return list_walk(q, st, cursor, false, max, ids, n, next);
}

ksched_err
ksched_queue_list_desc(ksched_queue *q, enum ksched_state st, uint64_t cursor,
		       size_t max, uint64_t *ids, size_t *n, uint64_t *next)
{
	return list_walk(q, st, cursor, true, max, ids, n, next);
}

/* ---- verify ------------------------------------------------------------- */

static ksched_err vfail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static ksched_err
vfail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return KSCHED_ECORRUPT;
}

static ksched_err
verify_record(ksched_queue *q, MDB_txn *txn, const MDB_val *k,
	      const MDB_val *v, uint64_t *seen, char *err, size_t errlen)
{
	enum ksched_state st;
	unsigned char idb[8];
	MDB_val tk = {8, idb}, tv;
	const struct qent *e;
	struct qrec r;
	uint64_t id;

	if (ksched__qkey_parse(k, &st, &id) != 0)
		return vfail(err, errlen, "qstate: malformed key");
	if (ksched__qrec_decode(v, &r) != 0)
		return vfail(err, errlen, "task %llu: malformed record",
			     (unsigned long long)id);
	ksched__put_be64(idb, id);
	if (mdb_get(txn, q->tasks, &tk, &tv) != 0)
		return vfail(err, errlen, "task %llu: state without spec",
			     (unsigned long long)id);
	seen[st]++;
	e = ksched__qix_find(&q->ix, id);
	if (ksched_state_is_final(st))
		return e ? vfail(err, errlen, "task %llu: ended but indexed",
				 (unsigned long long)id)
			 : KSCHED_OK;
	if (!e || e->state != st || e->prio != r.prio ||
	    e->attempts != r.attempts || e->token != r.token || e->due != r.due)
		return vfail(err, errlen,
			     "task %llu: index disagrees with record (%s)",
			     (unsigned long long)id, ksched_state_name(st));
	return KSCHED_OK;
}

ksched_err
ksched_queue_verify(ksched_queue *q, char *err, size_t errlen)
{
	uint64_t seen[KSCHED_STATE_COUNT] = {0}, live = 0;
	MDB_val k, v;
	MDB_cursor *cur;
	MDB_stat ts;
	MDB_txn *txn;
	ksched_err e;
	int rc;

	if (q->broken)
		return q->broken;
	e = ksched__store_read(q->s, &txn);
	if (e)
		return e;
	rc = mdb_cursor_open(txn, q->qstate, &cur);
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	     rc == 0 && !e; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		e = verify_record(q, txn, &k, &v, seen, err, errlen);
	mdb_cursor_close(cur);
	if (!e && rc != MDB_NOTFOUND)
		e = ksched__store_err(ksched__lmdb_rc(rc));
	if (!e && mdb_stat(txn, q->tasks, &ts) == 0) {
		uint64_t total = 0;
		for (int i = 0; i < KSCHED_STATE_COUNT; i++)
			total += seen[i];
		if (total != ts.ms_entries)
			e = vfail(err, errlen, "%llu specs but %llu states",
				  (unsigned long long)ts.ms_entries,
				  (unsigned long long)total);
	}
	for (int i = 0; i < KSCHED_STATE_COUNT && !e; i++) {
		if (seen[i] != q->counts[i])
			e = vfail(err, errlen, "count of %s is %llu, stored %llu",
				  ksched_state_name((enum ksched_state)i),
				  (unsigned long long)q->counts[i],
				  (unsigned long long)seen[i]);
		if (!ksched_state_is_final((enum ksched_state)i))
			live += seen[i];
	}
	if (!e && live != ksched__qix_count(&q->ix))
		e = vfail(err, errlen, "%u indexed but %llu live records",
			  ksched__qix_count(&q->ix), (unsigned long long)live);
	ksched__store_read_end(q->s, txn);
	return e;
}
