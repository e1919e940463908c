/*
 * libksched - the result cache.
 *
 * Entries live in the store's "cache" table: key (16 bytes) -> record.  A
 * record is, little endian: magic (u8), version (u8), created_ms (i64),
 * expires_ms (i64, 0 = never), seq (u64: the write order, which rebuilds
 * recency at open), kind length (u16), the kind bytes, the value bytes.
 *
 * In memory an index (open addressing, linear probing, backward-shift
 * deletion) holds per entry its size, expiry, kind hash and recency, threaded
 * on an intrusive LRU list (most recent at the head; links are slot numbers).
 *
 * Every change runs as a store write function: LMDB first, then memory once
 * every LMDB call of the function has succeeded.  When a transaction is
 * aborted the store calls cache_reload(), which brings the index back to what
 * LMDB holds in place: no allocation, and the entries that survive keep their
 * in-memory recency.  Counters that a transaction changes (evictions,
 * expirations) are pending until it commits and forgotten if it aborts.
 */
#include <stdbool.h>
#include <string.h>

#include <xxhash.h>

#include "ksched/cache.h"
#include "alloc.h"
#include "log.h"
#include "store.h"

#define KEY_LEN 16
#define REC_MAGIC 0xcau
#define REC_VERSION 1u
#define REC_HDR 28 /* magic, version, created, expires, seq, kind length */
#define NIL UINT32_MAX
#define INDEX_MIN 16u
#define INDEX_MAX (1u << 30)

struct centry {
	unsigned char key[KEY_LEN];
	uint64_t size;	     /* key + kind + value bytes; 0 = empty slot */
	int64_t expires;     /* 0 = never */
	uint64_t kind_hash;  /* XXH3_64bits of the kind */
	uint64_t put_seq;    /* seq of the last write (stored) */
	uint64_t hit_seq;    /* seq of the last hit (memory only) */
	uint32_t prev, next; /* LRU neighbours (slots), NIL at the ends */
};

struct ksched_cache {
	ksched_store *s;
	MDB_dbi dbi;
	struct centry *ent;
	uint32_t cap;	     /* slots: 0 or a power of two */
	uint32_t count;	     /* entries */
	uint32_t head, tail; /* most and least recently used */
	uint64_t bytes;
	uint64_t max_bytes; /* 0 = no cap */
	uint64_t seq;	    /* last sequence number given to a write or hit */
	uint64_t hits, misses, expirations, evictions;
	uint64_t pend_exp, pend_evict; /* in the uncommitted transaction */
	ksched_err broken; /* the last reload failed: the index is empty */
};

/* A parsed record; pointers borrow the LMDB value. */
struct crec {
	int64_t created;
	int64_t expires;
	uint64_t seq;
	const char *kind;
	size_t kind_len;
	const unsigned char *val;
	size_t val_len;
};

/* --- records ------------------------------------------------------------ */

static bool
rec_bad(const MDB_val *k, const MDB_val *v, const char *why)
{
	const unsigned char *p = k->mv_size == KEY_LEN ? k->mv_data : NULL;

	KLOG(KSCHED_LOG_ERR,
	     "msg=\"corrupt cache record\" key=%016llx%016llx size=%zu "
	     "problem=\"%s\"",
	     p ? (unsigned long long)ksched__get_be64(p) : 0,
	     p ? (unsigned long long)ksched__get_be64(p + 8) : 0, v->mv_size,
	     why);
	return false;
}

/* Parse and check a stored record; false (logged) if it is corrupt. */
static bool
rec_parse(const MDB_val *k, const MDB_val *v, struct crec *r)
{
	const unsigned char *p = v->mv_data;

	if (k->mv_size != KEY_LEN)
		return rec_bad(k, v, "key is not 16 bytes");
	if (v->mv_size < REC_HDR)
		return rec_bad(k, v, "record too short");
	if (p[0] != REC_MAGIC || p[1] != REC_VERSION)
		return rec_bad(k, v, "bad magic or version");
	r->created = (int64_t)ksched__get_le64(p + 2);
	r->expires = (int64_t)ksched__get_le64(p + 10);
	r->seq = ksched__get_le64(p + 18);
	r->kind_len = (size_t)p[26] | (size_t)p[27] << 8;
	if (r->kind_len > KSCHED_KIND_MAX || r->kind_len > v->mv_size - REC_HDR)
		return rec_bad(k, v, "bad kind length");
	r->kind = (const char *)p + REC_HDR;
	if (memchr(r->kind, 0, r->kind_len))
		return rec_bad(k, v, "NUL in kind");
	r->val = p + REC_HDR + r->kind_len;
	r->val_len = v->mv_size - REC_HDR - r->kind_len;
	if (r->val_len > KSCHED_CACHE_VALUE_MAX)
		return rec_bad(k, v, "value too large");
	return true;
}

static int
rec_write(ksched_cache *c, MDB_txn *txn, const unsigned char *key,
	  const struct crec *r)
{
	MDB_val k = {KEY_LEN, (void *)key};
	MDB_val v = {REC_HDR + r->kind_len + r->val_len, NULL};
	unsigned char *p;
	int rc = ksched__lmdb_rc(mdb_put(txn, c->dbi, &k, &v, MDB_RESERVE));

	if (rc)
		return rc;
	p = v.mv_data;
	p[0] = REC_MAGIC;
	p[1] = REC_VERSION;
	ksched__put_le64(p + 2, (uint64_t)r->created);
	ksched__put_le64(p + 10, (uint64_t)r->expires);
	ksched__put_le64(p + 18, r->seq);
	p[26] = (unsigned char)r->kind_len;
	p[27] = (unsigned char)(r->kind_len >> 8);
	memcpy(p + REC_HDR, r->kind, r->kind_len);
	if (r->val_len)
		memcpy(p + REC_HDR + r->kind_len, r->val, r->val_len);
	return 0;
}

static int
key_del(ksched_cache *c, MDB_txn *txn, const unsigned char *key)
{
	MDB_val k = {KEY_LEN, (void *)key};

	return ksched__lmdb_rc(mdb_del(txn, c->dbi, &k, NULL));
}

/* --- the index and its LRU list --------------------------------------- */

static bool
entry_expired(const struct centry *e, int64_t now)
{
	return e->expires != 0 && now >= e->expires;
}

static uint64_t
entry_recency(const struct centry *e)
{
	return e->hit_seq > e->put_seq ? e->hit_seq : e->put_seq;
}

/* The slot holding key, or the empty slot where it would go (cap > 0). */
static uint32_t
index_probe(const ksched_cache *c, const unsigned char *key)
{
	uint32_t mask = c->cap - 1;
	uint32_t i = (uint32_t)XXH3_64bits(key, KEY_LEN) & mask;

	while (c->ent[i].size && memcmp(c->ent[i].key, key, KEY_LEN) != 0)
		i = (i + 1) & mask;
	return i;
}

static uint32_t
index_find(const ksched_cache *c, const unsigned char *key)
{
	uint32_t i;

	if (!c->cap)
		return NIL;
	i = index_probe(c, key);
	return c->ent[i].size ? i : NIL;
}

static void
lru_unlink(ksched_cache *c, uint32_t i)
{
	struct centry *e = &c->ent[i];

	if (e->prev != NIL)
		c->ent[e->prev].next = e->next;
	else
		c->head = e->next;
	if (e->next != NIL)
		c->ent[e->next].prev = e->prev;
	else
		c->tail = e->prev;
}

static void
lru_push_head(ksched_cache *c, uint32_t i)
{
	c->ent[i].prev = NIL;
	c->ent[i].next = c->head;
	if (c->head != NIL)
		c->ent[c->head].prev = i;
	else
		c->tail = i;
	c->head = i;
}

/* Move the entry in slot from to the empty slot to, keeping its links. */
static void
slot_move(ksched_cache *c, uint32_t from, uint32_t to)
{
	struct centry *e = &c->ent[to];

	*e = c->ent[from];
	if (e->prev != NIL)
		c->ent[e->prev].next = to;
	else
		c->head = to;
	if (e->next != NIL)
		c->ent[e->next].prev = to;
	else
		c->tail = to;
}

/* Whether h lies in the cyclic range (i, j]. */
static bool
cyclic_in(uint32_t i, uint32_t h, uint32_t j)
{
	return i <= j ? i < h && h <= j : i < h || h <= j;
}

/* Remove slot i; later entries of its cluster may move (backward shift). */
static void
index_remove(ksched_cache *c, uint32_t i)
{
	uint32_t mask = c->cap - 1, j = i, home;

	lru_unlink(c, i);
	c->count--;
	c->bytes -= c->ent[i].size;
	for (;;) {
		j = (j + 1) & mask;
		if (!c->ent[j].size)
			break;
		home = (uint32_t)XXH3_64bits(c->ent[j].key, KEY_LEN) & mask;
		if (cyclic_in(i, home, j))
			continue;
		slot_move(c, j, i);
		i = j;
	}
	c->ent[i].size = 0;
}

static void
index_clear(ksched_cache *c)
{
	if (c->ent)
		memset(c->ent, 0, (size_t)c->cap * sizeof(*c->ent));
	c->count = 0;
	c->bytes = 0;
	c->head = c->tail = NIL;
}

/* Make room for one more entry (the index never shrinks). */
static ksched_err
index_reserve(ksched_cache *c)
{
	struct centry *old = c->ent;
	uint32_t cap = c->cap ? c->cap : INDEX_MIN, i, j;

	while ((uint64_t)(c->count + 1) * 4 > (uint64_t)cap * 3) {
		if (cap >= INDEX_MAX)
			return KSCHED_ENOMEM;
		cap *= 2;
	}
	if (cap == c->cap)
		return KSCHED_OK;
	c->ent = ksched__calloc(cap, sizeof(*c->ent));
	if (!c->ent) {
		c->ent = old;
		return KSCHED_ENOMEM;
	}
	i = c->tail;
	c->cap = cap;
	c->head = c->tail = NIL;
	for (; i != NIL; i = old[i].prev) { /* oldest first keeps the order */
		j = index_probe(c, old[i].key);
		c->ent[j] = old[i];
		lru_push_head(c, j);
	}
	ksched__free(old);
	return KSCHED_OK;
}

/* Insert or update key from r (room made), as the most recently used. */
static void
index_set(ksched_cache *c, const unsigned char *key, const struct crec *r)
{
	uint32_t i = index_probe(c, key);
	struct centry *e = &c->ent[i];

	if (e->size) {
		lru_unlink(c, i);
		c->bytes -= e->size;
	} else {
		memcpy(e->key, key, KEY_LEN);
		e->hit_seq = 0;
		c->count++;
	}
	e->size = KEY_LEN + r->kind_len + r->val_len;
	e->expires = r->expires;
	e->kind_hash = XXH3_64bits(r->kind, r->kind_len);
	e->put_seq = r->seq;
	c->bytes += e->size;
	lru_push_head(c, i);
}

static uint32_t
lru_merge(ksched_cache *c, uint32_t a, uint32_t b)
{
	uint32_t head = NIL, *link = &head, *src;

	while (a != NIL && b != NIL) {
		src = entry_recency(&c->ent[a]) >= entry_recency(&c->ent[b])
			  ? &a
			  : &b;
		*link = *src;
		link = &c->ent[*src].next;
		*src = *link;
	}
	*link = a != NIL ? a : b;
	return head;
}

/* Merge sort the n-long list at head (by next), most recent first. */
static uint32_t
lru_msort(ksched_cache *c, uint32_t head, uint32_t n)
{
	uint32_t mid = head, b;

	if (n < 2)
		return head;
	for (uint32_t k = 1; k < n / 2; k++)
		mid = c->ent[mid].next;
	b = c->ent[mid].next;
	c->ent[mid].next = NIL;
	head = lru_msort(c, head, n / 2);
	b = lru_msort(c, b, n - n / 2);
	return lru_merge(c, head, b);
}

static void
lru_sort(ksched_cache *c)
{
	uint32_t prev = NIL;

	c->head = lru_msort(c, c->head, c->count);
	for (uint32_t i = c->head; i != NIL; i = c->ent[i].next) {
		c->ent[i].prev = prev;
		prev = i;
	}
	c->tail = prev;
}

/* --- selections: expired entries (sweep) or entries of a kind ---------- */

struct sel_op {
	ksched_cache *c;
	int64_t now;	  /* sweep: entries expired at now */
	const char *kind; /* invalidate_kind; NULL for a sweep */
	size_t kind_len;
	uint64_t kind_hash;
	size_t n;
};

/* Whether op (NULL = everything) may select e; kinds are confirmed later. */
static bool
sel_match(const struct sel_op *op, const struct centry *e)
{
	if (!op)
		return true;
	if (op->kind)
		return e->kind_hash == op->kind_hash;
	return entry_expired(e, op->now);
}

/* Drop from the index the entries op selects whose key is not in LMDB. */
static int
index_prune(ksched_cache *c, MDB_txn *txn, const struct sel_op *op)
{
	MDB_val k, v;
	uint32_t i = 0;
	int rc;

	while (i < c->cap) {
		if (!c->ent[i].size || !sel_match(op, &c->ent[i])) {
			i++;
			continue;
		}
		k.mv_size = KEY_LEN;
		k.mv_data = c->ent[i].key;
		rc = mdb_get(txn, c->dbi, &k, &v);
		if (rc == MDB_NOTFOUND)
			index_remove(c, i); /* slot i now holds another */
		else if (rc)
			return ksched__lmdb_rc(rc);
		else
			i++;
	}
	return 0;
}

/* 1 if the stored kind of e is op's (the hash may collide), else 0. */
static int
kind_confirm(ksched_cache *c, MDB_txn *txn, const struct centry *e,
	     const struct sel_op *op)
{
	MDB_val k = {KEY_LEN, (void *)e->key}, v;
	struct crec r;
	int rc = ksched__lmdb_rc(mdb_get(txn, c->dbi, &k, &v));

	if (rc)
		return rc;
	if (!rec_parse(&k, &v, &r))
		return MDB_CORRUPTED;
	return r.kind_len == op->kind_len &&
	       memcmp(r.kind, op->kind, r.kind_len) == 0;
}

static int
select_fn(MDB_txn *txn, void *arg)
{
	struct sel_op *op = arg;
	ksched_cache *c = op->c;
	size_t n = 0;
	int rc;

	for (uint32_t i = 0; i < c->cap; i++) {
		if (!c->ent[i].size || !sel_match(op, &c->ent[i]))
			continue;
		rc = op->kind ? kind_confirm(c, txn, &c->ent[i], op) : 1;
		if (rc == 1) {
			rc = key_del(c, txn, c->ent[i].key);
			n++;
		}
		if (rc)
			return rc;
	}
	rc = index_prune(c, txn, op);
	if (rc)
		return rc;
	op->n = n;
	if (!op->kind)
		c->pend_exp += n;
	return 0;
}

/* --- loading and reloading ------------------------------------------- */

/* Add or refresh every record of the table in the index. */
static ksched_err
load_scan(ksched_cache *c, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_cursor_op op = MDB_FIRST;
	MDB_val k, v;
	struct crec r;
	ksched_err e = KSCHED_OK;
	int rc = ksched__lmdb_rc(mdb_cursor_open(txn, c->dbi, &cur));

	if (rc)
		return ksched__store_err(rc);
	while (!e && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (!rec_parse(&k, &v, &r))
			e = KSCHED_ECORRUPT;
		else if (index_find(c, k.mv_data) != NIL ||
			 !(e = index_reserve(c)))
			index_set(c, k.mv_data, &r);
		if (!e && r.seq > c->seq)
			c->seq = r.seq;
	}
	mdb_cursor_close(cur);
	if (!e && rc != MDB_NOTFOUND)
		e = ksched__store_err(ksched__lmdb_rc(rc));
	return e;
}

/* Make the index match the table; on failure it is left empty. */
static ksched_err
cache_load(ksched_cache *c)
{
	MDB_txn *txn;
	ksched_err e = ksched__store_read(c->s, &txn);

	if (e) {
		index_clear(c);
		return e;
	}
	e = ksched__store_err(index_prune(c, txn, NULL));
	if (!e)
		e = load_scan(c, txn);
	ksched__store_read_end(c->s, txn);
	if (e) {
		index_clear(c);
		return e;
	}
	lru_sort(c);
	return KSCHED_OK;
}

static void
cache_reload(void *arg)
{
	ksched_cache *c = arg;

	c->pend_exp = 0;
	c->pend_evict = 0;
	c->broken = cache_load(c);
	if (c->broken)
		KLOG(KSCHED_LOG_ERR,
		     "msg=\"cache reload failed; cache unusable until it "
		     "loads or is invalidated\" error=\"%s\"",
		     ksched_strerror(c->broken));
}

static void
cache_post_commit(void *arg)
{
	ksched_cache *c = arg;

	c->evictions += c->pend_evict;
	c->expirations += c->pend_exp;
	c->pend_evict = 0;
	c->pend_exp = 0;
}

/* OK, or the error of a failed reload (which is retried). */
static ksched_err
cache_ready(ksched_cache *c)
{
	if (c->broken)
		c->broken = cache_load(c);
	return c->broken;
}

ksched_err
ksched_cache_open(ksched_store *s, ksched_cache **out)
{
	struct ksched_store_sub sub = {NULL, cache_reload, cache_post_commit,
				       NULL};
	ksched_cache *c;
	ksched_err e;

	if (!out)
		return KSCHED_EINVAL;
	*out = NULL;
	if (!s)
		return KSCHED_EINVAL;
	c = ksched__calloc(1, sizeof(*c));
	if (!c)
		return KSCHED_ENOMEM;
	c->s = s;
	c->dbi = ksched__store_dbi(s, KSCHED_DB_CACHE);
	c->head = c->tail = NIL;
	e = cache_load(c);
	sub.arg = c;
	if (!e && ksched__store_subscribe(s, &sub) != 0)
		e = KSCHED_EBUSY;
	if (e) {
		ksched__free(c->ent);
		ksched__free(c);
		return e;
	}
	*out = c;
	return KSCHED_OK;
}

void
ksched_cache_close(ksched_cache *c)
{
	if (!c)
		return;
	ksched__store_unsubscribe(c->s, c);
	ksched__free(c->ent);
	ksched__free(c);
}

/* --- eviction ----------------------------------------------------------- */

/*
 * Delete from LMDB, least recently used first and sparing skip, the entries
 * to bring bytes down to max (0 = no cap); *n gets how many.  Memory is
 * untouched: evict_mem() then removes the same entries.
 */
static int
evict_lmdb(ksched_cache *c, MDB_txn *txn, const unsigned char *skip,
	   uint64_t max, uint64_t bytes, size_t *n)
{
	uint32_t i = c->tail;
	int rc;

	*n = 0;
	for (; max && bytes > max && i != NIL; i = c->ent[i].prev) {
		if (skip && memcmp(c->ent[i].key, skip, KEY_LEN) == 0)
			continue;
		rc = key_del(c, txn, c->ent[i].key);
		if (rc)
			return rc;
		bytes -= c->ent[i].size;
		++*n;
	}
	return 0;
}

static void
evict_mem(ksched_cache *c, const unsigned char *skip, size_t n)
{
	uint32_t i;

	c->pend_evict += n;
	while (n--) {
		i = c->tail;
		if (skip && memcmp(c->ent[i].key, skip, KEY_LEN) == 0)
			i = c->ent[i].prev;
		index_remove(c, i);
	}
}

struct max_op {
	ksched_cache *c;
	uint64_t max;
};

static int
max_fn(MDB_txn *txn, void *arg)
{
	struct max_op *op = arg;
	size_t n;
	int rc = evict_lmdb(op->c, txn, NULL, op->max, op->c->bytes, &n);

	if (rc)
		return rc;
	evict_mem(op->c, NULL, n);
	op->c->max_bytes = op->max;
	return 0;
}

ksched_err
ksched_cache_set_max_bytes(ksched_cache *c, uint64_t max_bytes)
{
	struct max_op op = {c, max_bytes};
	ksched_err e;

	if (!c)
		return KSCHED_EINVAL;
	if ((e = cache_ready(c)))
		return e;
	if (!max_bytes || c->bytes <= max_bytes) {
		c->max_bytes = max_bytes;
		return KSCHED_OK;
	}
	return ksched__store_write(c->s, max_fn, &op);
}

/* --- put ------------------------------------------------------------------ */

struct put_op {
	ksched_cache *c;
	const unsigned char *key;
	struct crec r;
};

static int
put_fn(MDB_txn *txn, void *arg)
{
	struct put_op *op = arg;
	ksched_cache *c = op->c;
	uint32_t i = index_find(c, op->key);
	uint64_t bytes = c->bytes + KEY_LEN + op->r.kind_len + op->r.val_len;
	size_t n = 0;
	int rc;

	if (i != NIL)
		bytes -= c->ent[i].size;
	else if (index_reserve(c))
		return KSCHED_ENOMEM; /* a refusal: nothing changed */
	op->r.seq = c->seq + 1;
	rc = rec_write(c, txn, op->key, &op->r);
	if (!rc)
		rc = evict_lmdb(c, txn, op->key, c->max_bytes, bytes, &n);
	if (rc)
		return rc;
	c->seq = op->r.seq;
	evict_mem(c, op->key, n);
	index_set(c, op->key, &op->r);
	return 0;
}

static int64_t
expiry(int64_t now, int64_t ttl_ms)
{
	if (!ttl_ms)
		return 0;
	if (now > 0 && ttl_ms > INT64_MAX - now)
		return INT64_MAX;
	return now + ttl_ms;
}

ksched_err
ksched_cache_put(ksched_cache *c, const struct ksched_key *key,
		 const char *kind, const void *data, size_t len, int64_t ttl_ms,
		 int64_t now)
{
	struct put_op op = {c, NULL, {0}};
	size_t kl;
	ksched_err e;

	if (!c || !key || !kind || (!data && len) || ttl_ms < 0)
		return KSCHED_EINVAL;
	kl = strnlen(kind, KSCHED_KIND_MAX + 1);
	if (kl > KSCHED_KIND_MAX)
		return KSCHED_EINVAL;
	if (len > KSCHED_CACHE_VALUE_MAX ||
	    (c->max_bytes && KEY_LEN + kl + len > c->max_bytes))
		return KSCHED_ETOOBIG;
	if ((e = cache_ready(c)))
		return e;
	op.key = key->bytes;
	op.r.created = now;
	op.r.expires = expiry(now, ttl_ms);
	op.r.kind = kind;
	op.r.kind_len = kl;
	op.r.val = data;
	op.r.val_len = len;
	return ksched__store_write(c->s, put_fn, &op);
}

/* --- get, invalidate ---------------------------------------------------- */

struct key_op {
	ksched_cache *c;
	const unsigned char *key;
	bool expired; /* the removal is an expiration */
};

static int
del_fn(MDB_txn *txn, void *arg)
{
	struct key_op *op = arg;
	uint32_t i = index_find(op->c, op->key);
	int rc;

	if (i == NIL)
		return KSCHED_ENOENT;
	rc = key_del(op->c, txn, op->key);
	if (rc)
		return rc;
	index_remove(op->c, i);
	if (op->expired)
		op->c->pend_exp++;
	return 0;
}

/* Copy the stored value of key (in the index) to *out and *len. */
static ksched_err
value_copy(ksched_cache *c, const unsigned char *key, void **out, size_t *len)
{
	MDB_txn *txn;
	MDB_val k = {KEY_LEN, (void *)key}, v;
	struct crec r;
	void *p = NULL;
	ksched_err e = ksched__store_read(c->s, &txn);
	int rc;

	if (e)
		return e;
	rc = ksched__lmdb_rc(mdb_get(txn, c->dbi, &k, &v));
	if (rc) /* not found: the index is wrong, not the caller */
		e = ksched__store_err(rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc);
	else if (!rec_parse(&k, &v, &r))
		e = KSCHED_ECORRUPT;
	else if (out && !(p = ksched__malloc(r.val_len)))
		e = KSCHED_ENOMEM;
	else if (out && r.val_len)
		memcpy(p, r.val, r.val_len);
	ksched__store_read_end(c->s, txn);
	if (e)
		return e;
	if (out)
		*out = p;
	if (len)
		*len = r.val_len;
	return KSCHED_OK;
}

ksched_err
ksched_cache_get(ksched_cache *c, const struct ksched_key *key, int64_t now,
		 void **out, size_t *len)
{
	struct key_op op = {c, NULL, true};
	uint32_t i;
	ksched_err e;

	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!c || !key)
		return KSCHED_EINVAL;
	if ((e = cache_ready(c)))
		return e;
	op.key = key->bytes;
	i = index_find(c, op.key);
	if (i != NIL && entry_expired(&c->ent[i], now)) {
		if ((e = ksched__store_write(c->s, del_fn, &op)))
			return e;
		i = NIL;
	}
	if (i == NIL) {
		c->misses++;
		return KSCHED_ENOENT;
	}
	if ((out || len) && (e = value_copy(c, op.key, out, len)))
		return e;
	c->hits++;
	c->ent[i].hit_seq = ++c->seq;
	lru_unlink(c, i);
	lru_push_head(c, i);
	return KSCHED_OK;
}

ksched_err
ksched_cache_invalidate(ksched_cache *c, const struct ksched_key *key)
{
	struct key_op op = {c, NULL, false};
	ksched_err e;

	if (!c || !key)
		return KSCHED_EINVAL;
	if ((e = cache_ready(c)))
		return e;
	op.key = key->bytes;
	return ksched__store_write(c->s, del_fn, &op);
}

/* Run a selection; *n (may be NULL) gets how many entries it removed. */
static ksched_err
cache_select(ksched_cache *c, struct sel_op *op, size_t *n)
{
	ksched_err e = cache_ready(c);

	if (!e)
		e = ksched__store_write(c->s, select_fn, op);
	if (n)
		*n = e ? 0 : op->n;
	return e;
}

ksched_err
ksched_cache_invalidate_kind(ksched_cache *c, const char *kind, size_t *n)
{
	struct sel_op op = {c, 0, kind, 0, 0, 0};

	if (n)
		*n = 0;
	if (!c || !kind)
		return KSCHED_EINVAL;
	op.kind_len = strnlen(kind, KSCHED_KIND_MAX + 1);
	if (op.kind_len > KSCHED_KIND_MAX)
		return KSCHED_EINVAL;
	op.kind_hash = XXH3_64bits(kind, op.kind_len);
	return cache_select(c, &op, n);
}

ksched_err
ksched_cache_sweep(ksched_cache *c, int64_t now, size_t *n)
{
	struct sel_op op = {c, now, NULL, 0, 0, 0};

	if (n)
		*n = 0;
	if (!c)
		return KSCHED_EINVAL;
	return cache_select(c, &op, n);
}

struct all_op {
	ksched_cache *c;
	size_t n;
};

static int
drop_fn(MDB_txn *txn, void *arg)
{
	struct all_op *op = arg;
	MDB_stat st;
	int rc = ksched__lmdb_rc(mdb_stat(txn, op->c->dbi, &st));

	if (!rc)
		rc = ksched__lmdb_rc(mdb_drop(txn, op->c->dbi, 0));
	if (rc)
		return rc;
	op->n = st.ms_entries;
	index_clear(op->c);
	op->c->broken = KSCHED_OK; /* empty table, empty index */
	return 0;
}

ksched_err
ksched_cache_invalidate_all(ksched_cache *c, size_t *n)
{
	struct all_op op = {c, 0};
	ksched_err e;

	if (n)
		*n = 0;
	if (!c)
		return KSCHED_EINVAL;
	e = ksched__store_write(c->s, drop_fn, &op);
	if (!e && n)
		*n = op.n;
	return e;
}

void
ksched_cache_stats(const ksched_cache *c, struct ksched_cache_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!c)
		return;
	out->hits = c->hits;
	out->misses = c->misses;
	out->expirations = c->expirations + c->pend_exp;
	out->evictions = c->evictions + c->pend_evict;
	out->entries = c->count;
	out->bytes = c->bytes;
	out->max_bytes = c->max_bytes;
}
