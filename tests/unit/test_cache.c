/* Unit tests for the result cache (libksched/cache.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ksched/cache.h"
#include "ksched/log.h"
#include "alloc.h"
#include "store.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

struct fx {
	char dir[64];
	ksched_store *s;
	ksched_cache *c;
};

static void
fx_open(struct fx *f)
{
	char err[256];

	assert_int_equal(ksched_store_open(f->dir, KSCHED_SYNC_NONE, &f->s, err,
					   sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched_cache_open(f->s, &f->c), KSCHED_OK);
	assert_non_null(f->c);
}

static void
fx_close(struct fx *f)
{
	ksched_cache_close(f->c);
	ksched_store_close(f->s);
	f->c = NULL;
	f->s = NULL;
}

static void
fx_reopen(struct fx *f)
{
	fx_close(f);
	fx_open(f);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/ksched-cache-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	fx_open(f);
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char path[128];

	ksched__alloc_fail_after(-1);
	ksched_log_set_sink(NULL, NULL, KSCHED_LOG_ERR);
	fx_close(f);
	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* --- helpers ------------------------------------------------------------ */

static struct ksched_key
key_n(unsigned n)
{
	struct ksched_key k;

	for (unsigned i = 0; i < sizeof(k.bytes); i++)
		k.bytes[i] = (uint8_t)(n * 31u + i * 7u + (n >> 8));
	k.bytes[0] = (uint8_t)n;
	k.bytes[1] = (uint8_t)(n >> 8);
	return k;
}

static uint64_t
esize(const char *kind, size_t vlen)
{
	return 16 + strlen(kind) + vlen;
}

static void
put_str(ksched_cache *c, unsigned n, const char *kind, const char *v,
	int64_t ttl, int64_t now)
{
	struct ksched_key k = key_n(n);

	assert_int_equal(ksched_cache_put(c, &k, kind, v, strlen(v), ttl, now),
			 KSCHED_OK);
}

static void
check_hit(ksched_cache *c, unsigned n, int64_t now, const char *v)
{
	struct ksched_key k = key_n(n);
	void *out = NULL;
	size_t len = 0;

	assert_int_equal(ksched_cache_get(c, &k, now, &out, &len), KSCHED_OK);
	assert_non_null(out);
	assert_int_equal(len, strlen(v));
	assert_memory_equal(out, v, len);
	ksched_free(out);
}

static void
check_miss(ksched_cache *c, unsigned n, int64_t now)
{
	struct ksched_key k = key_n(n);
	void *out = (void *)1;
	size_t len = 7;

	assert_int_equal(ksched_cache_get(c, &k, now, &out, &len),
			 KSCHED_ENOENT);
	assert_null(out);
	assert_int_equal(len, 0);
}

static struct ksched_cache_stats
stats(const ksched_cache *c)
{
	struct ksched_cache_stats st;

	ksched_cache_stats(c, &st);
	return st;
}

/* Records in the LMDB cache table, read behind the cache's back. */
static size_t
raw_count(ksched_store *s)
{
	MDB_txn *txn;
	MDB_stat st;

	assert_int_equal(ksched__store_read(s, &txn), KSCHED_OK);
	assert_int_equal(
	    mdb_stat(txn, ksched__store_dbi(s, KSCHED_DB_CACHE), &st), 0);
	ksched__store_read_end(s, txn);
	return st.ms_entries;
}

static bool
raw_has(ksched_store *s, unsigned n)
{
	struct ksched_key k = key_n(n);
	MDB_val mk = {sizeof(k.bytes), k.bytes}, mv;
	MDB_txn *txn;
	int rc;

	assert_int_equal(ksched__store_read(s, &txn), KSCHED_OK);
	rc = mdb_get(txn, ksched__store_dbi(s, KSCHED_DB_CACHE), &mk, &mv);
	ksched__store_read_end(s, txn);
	assert_true(rc == 0 || rc == MDB_NOTFOUND);
	return rc == 0;
}

struct raw_op {
	ksched_store *s;
	unsigned n;
	const void *val; /* NULL: delete */
	size_t len;
};

static int
raw_fn(MDB_txn *txn, void *arg)
{
	struct raw_op *op = arg;
	struct ksched_key k = key_n(op->n);
	MDB_val mk = {sizeof(k.bytes), k.bytes};
	MDB_val mv = {op->len, (void *)op->val};
	MDB_dbi dbi = ksched__store_dbi(op->s, KSCHED_DB_CACHE);

	if (!op->val)
		return ksched__lmdb_rc(mdb_del(txn, dbi, &mk, NULL));
	return ksched__lmdb_rc(mdb_put(txn, dbi, &mk, &mv, 0));
}

/* Write (or with val NULL delete) a raw cache record for key n. */
static void
raw_put(ksched_store *s, unsigned n, const void *val, size_t len)
{
	struct raw_op op = {s, n, val, len};

	assert_int_equal(ksched__store_write(s, raw_fn, &op), KSCHED_OK);
}

static int log_errors;

static void
count_sink(void *arg, enum ksched_log_level level, const char *line)
{
	(void)arg;
	(void)line;
	if (level == KSCHED_LOG_ERR)
		log_errors++;
}

/* --- basic operations ------------------------------------------------ */

static void
test_cache_put_get_round_trip(void **state)
{
	struct fx *f = *state;
	struct ksched_key k = key_n(1);
	struct ksched_cache_stats st;
	void *out = NULL;
	size_t len = 99;

	put_str(f->c, 1, "exec", "hello", 0, 1000);
	check_hit(f->c, 1, 2000, "hello");
	assert_int_equal(ksched_cache_get(f->c, &k, 2000, NULL, NULL),
			 KSCHED_OK);
	assert_int_equal(ksched_cache_get(f->c, &k, 2000, NULL, &len),
			 KSCHED_OK);
	assert_int_equal(len, 5);

	/* An empty value is a value. */
	k = key_n(2);
	assert_int_equal(ksched_cache_put(f->c, &k, "sim", NULL, 0, 0, 1000),
			 KSCHED_OK);
	assert_int_equal(ksched_cache_get(f->c, &k, 1000, &out, &len),
			 KSCHED_OK);
	assert_non_null(out);
	assert_int_equal(len, 0);
	ksched_free(out);

	st = stats(f->c);
	assert_int_equal(st.hits, 4);
	assert_int_equal(st.misses, 0);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.bytes, esize("exec", 5) + esize("sim", 0));
	assert_int_equal(st.max_bytes, 0);
	assert_int_equal(raw_count(f->s), 2);
}

static void
test_cache_miss(void **state)
{
	struct fx *f = *state;
	struct ksched_cache_stats st;

	check_miss(f->c, 7, 0);
	put_str(f->c, 1, "exec", "x", 0, 0);
	check_miss(f->c, 7, 0);
	st = stats(f->c);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.hits, 0);
	assert_int_equal(st.expirations, 0);
}

static void
test_cache_bad_arguments(void **state)
{
	struct fx *f = *state;
	struct ksched_key k = key_n(1);
	char kind[KSCHED_KIND_MAX + 2];
	size_t n = 5;

	memset(kind, 'k', sizeof(kind) - 1);
	kind[sizeof(kind) - 1] = 0;
	assert_int_equal(ksched_cache_put(f->c, NULL, "exec", "x", 1, 0, 0),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_cache_put(f->c, &k, NULL, "x", 1, 0, 0),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_cache_put(f->c, &k, kind, "x", 1, 0, 0),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_cache_put(f->c, &k, "exec", NULL, 1, 0, 0),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_cache_put(f->c, &k, "exec", "x", 1, -1, 0),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_cache_put(f->c, &k, "exec", "x",
					  KSCHED_CACHE_VALUE_MAX + 1u, 0, 0),
			 KSCHED_ETOOBIG);
	assert_int_equal(ksched_cache_invalidate_kind(f->c, kind, &n),
			 KSCHED_EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(ksched_cache_get(f->c, NULL, 0, NULL, NULL),
			 KSCHED_EINVAL);

	/* The longest kind is fine. */
	kind[KSCHED_KIND_MAX] = 0;
	assert_int_equal(ksched_cache_put(f->c, &k, kind, "x", 1, 0, 0),
			 KSCHED_OK);
	assert_int_equal(stats(f->c).entries, 1);
	assert_int_equal(stats(f->c).bytes, esize(kind, 1));
	assert_int_equal(raw_count(f->s), 1);
}

static void
test_cache_ttl_expires_on_get(void **state)
{
	struct fx *f = *state;
	struct ksched_cache_stats st;

	put_str(f->c, 1, "exec", "soon gone", 100, 1000);
	put_str(f->c, 2, "exec", "forever", 0, 1000);
	check_hit(f->c, 1, 1099, "soon gone");
	check_miss(f->c, 1, 1100);
	st = stats(f->c);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.expirations, 1);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.bytes, esize("exec", 7));
	assert_false(raw_has(f->s, 1));
	assert_int_equal(raw_count(f->s), 1);

	/* Gone now: a plain miss, not another expiration. */
	check_miss(f->c, 1, 1100);
	assert_int_equal(stats(f->c).expirations, 1);
	assert_int_equal(stats(f->c).misses, 2);
	check_hit(f->c, 2, INT64_MAX, "forever");
}

static void
test_cache_sweep(void **state)
{
	struct fx *f = *state;
	size_t n = 99;

	put_str(f->c, 1, "exec", "a", 10, 0);
	put_str(f->c, 2, "exec", "b", 20, 0);
	put_str(f->c, 3, "exec", "c", 0, 0);
	assert_int_equal(ksched_cache_sweep(f->c, 5, &n), KSCHED_OK);
	assert_int_equal(n, 0);
	assert_int_equal(ksched_cache_sweep(f->c, 15, &n), KSCHED_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ksched_cache_sweep(f->c, 1000, &n), KSCHED_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ksched_cache_sweep(f->c, 1000, NULL), KSCHED_OK);
	assert_int_equal(stats(f->c).expirations, 2);
	assert_int_equal(stats(f->c).entries, 1);
	assert_int_equal(stats(f->c).bytes, esize("exec", 1));
	assert_int_equal(raw_count(f->s), 1);
	assert_true(raw_has(f->s, 3));
	check_hit(f->c, 3, 1000, "c");
}

static void
test_cache_invalidate_key(void **state)
{
	struct fx *f = *state;
	struct ksched_key k = key_n(1);

	put_str(f->c, 1, "exec", "a", 0, 0);
	put_str(f->c, 2, "exec", "b", 0, 0);
	assert_int_equal(ksched_cache_invalidate(f->c, &k), KSCHED_OK);
	assert_int_equal(ksched_cache_invalidate(f->c, &k), KSCHED_ENOENT);
	assert_int_equal(stats(f->c).entries, 1);
	assert_int_equal(stats(f->c).bytes, esize("exec", 1));
	assert_int_equal(raw_count(f->s), 1);
	check_miss(f->c, 1, 0);
	check_hit(f->c, 2, 0, "b");
}

static void
test_cache_invalidate_kind(void **state)
{
	struct fx *f = *state;
	size_t n = 99;

	for (unsigned i = 0; i < 30; i++)
		put_str(f->c, i, i % 3 ? "exec" : "sim", "value", 0, 0);
	assert_int_equal(ksched_cache_invalidate_kind(f->c, "exec", &n),
			 KSCHED_OK);
	assert_int_equal(n, 20);
	assert_int_equal(ksched_cache_invalidate_kind(f->c, "exe", &n),
			 KSCHED_OK);
	assert_int_equal(n, 0);
	assert_int_equal(ksched_cache_invalidate_kind(f->c, "exec", NULL),
			 KSCHED_OK);
	assert_int_equal(stats(f->c).entries, 10);
	assert_int_equal(stats(f->c).bytes, 10 * esize("sim", 5));
	assert_int_equal(raw_count(f->s), 10);
	for (unsigned i = 0; i < 30; i++) {
		if (i % 3)
			check_miss(f->c, i, 0);
		else
			check_hit(f->c, i, 0, "value");
	}
}

static void
test_cache_invalidate_all(void **state)
{
	struct fx *f = *state;
	size_t n = 99;

	for (unsigned i = 0; i < 5; i++)
		put_str(f->c, i, "exec", "v", 0, 0);
	assert_int_equal(ksched_cache_invalidate_all(f->c, &n), KSCHED_OK);
	assert_int_equal(n, 5);
	assert_int_equal(stats(f->c).entries, 0);
	assert_int_equal(stats(f->c).bytes, 0);
	assert_int_equal(raw_count(f->s), 0);
	check_miss(f->c, 0, 0);
	put_str(f->c, 9, "exec", "again", 0, 0);
	check_hit(f->c, 9, 0, "again");
	assert_int_equal(ksched_cache_invalidate_all(f->c, NULL), KSCHED_OK);
	assert_int_equal(raw_count(f->s), 0);
}

static void
test_cache_replace_keeps_bytes_exact(void **state)
{
	struct fx *f = *state;
	size_t n = 99;

	put_str(f->c, 1, "exec", "aaaa", 0, 0);
	put_str(f->c, 2, "exec", "zz", 0, 0);
	assert_int_equal(stats(f->c).bytes,
			 esize("exec", 4) + esize("exec", 2));
	put_str(f->c, 1, "sim", "bbbbbbbbbb", 0, 0);
	assert_int_equal(stats(f->c).entries, 2);
	assert_int_equal(stats(f->c).bytes,
			 esize("sim", 10) + esize("exec", 2));
	put_str(f->c, 1, "sim", "c", 0, 0);
	assert_int_equal(stats(f->c).bytes, esize("sim", 1) + esize("exec", 2));
	assert_int_equal(raw_count(f->s), 2);
	check_hit(f->c, 1, 0, "c");

	/* The kind is the new one too. */
	assert_int_equal(ksched_cache_invalidate_kind(f->c, "exec", &n),
			 KSCHED_OK);
	assert_int_equal(n, 1);
	check_hit(f->c, 1, 0, "c");
	assert_int_equal(stats(f->c).bytes, esize("sim", 1));
}

/* --- the size cap ---------------------------------------------------- */

static void
test_cache_cap_evicts_least_recently_used(void **state)
{
	struct fx *f = *state;
	char v[151];
	struct ksched_cache_stats st;

	memset(v, 'v', 150);
	v[100] = 0;
	assert_int_equal(
	    ksched_cache_set_max_bytes(f->c, 3 * esize("exec", 100)),
	    KSCHED_OK);
	put_str(f->c, 'A', "exec", v, 0, 0);
	put_str(f->c, 'B', "exec", v, 0, 0);
	put_str(f->c, 'C', "exec", v, 0, 0);
	check_hit(f->c, 'A', 0, v);
	put_str(f->c, 'D', "exec", v, 0, 0);
	st = stats(f->c);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.bytes, 3 * esize("exec", 100));
	assert_int_equal(st.max_bytes, 3 * esize("exec", 100));
	assert_false(raw_has(f->s, 'B'));
	assert_int_equal(raw_count(f->s), 3);
	check_miss(f->c, 'B', 0);
	check_hit(f->c, 'A', 0, v);
	check_hit(f->c, 'C', 0, v);
	check_hit(f->c, 'D', 0, v);

	/* Order now D C A.  Growing A, the oldest, evicts C, not A. */
	v[100] = 'v';
	put_str(f->c, 'A', "exec", v, 0, 0);
	st = stats(f->c);
	assert_int_equal(st.evictions, 2);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.bytes, esize("exec", 150) + esize("exec", 100));
	assert_false(raw_has(f->s, 'C'));
	assert_true(raw_has(f->s, 'A'));
	assert_true(raw_has(f->s, 'D'));
	check_hit(f->c, 'A', 0, v);
}

static void
test_cache_set_max_bytes_evicts_at_once(void **state)
{
	struct fx *f = *state;

	for (unsigned i = 0; i < 4; i++)
		put_str(f->c, i, "exec", "0123456789", 0, 0);
	check_hit(f->c, 0, 0, "0123456789"); /* order: 0 3 2 1 */
	assert_int_equal(
	    ksched_cache_set_max_bytes(f->c, 2 * esize("exec", 10)), KSCHED_OK);
	assert_int_equal(stats(f->c).evictions, 2);
	assert_int_equal(stats(f->c).entries, 2);
	assert_int_equal(raw_count(f->s), 2);
	assert_true(raw_has(f->s, 0));
	assert_true(raw_has(f->s, 3));

	/* Lifting the cap evicts nothing. */
	assert_int_equal(ksched_cache_set_max_bytes(f->c, 0), KSCHED_OK);
	for (unsigned i = 10; i < 20; i++)
		put_str(f->c, i, "exec", "0123456789", 0, 0);
	assert_int_equal(stats(f->c).entries, 12);
	assert_int_equal(stats(f->c).evictions, 2);
}

static void
test_cache_value_over_cap_is_too_big(void **state)
{
	struct fx *f = *state;
	struct ksched_key k = key_n(1);
	char v[300];

	memset(v, 'x', sizeof(v));
	put_str(f->c, 2, "exec", "small", 0, 0);
	assert_int_equal(ksched_cache_set_max_bytes(f->c, 200), KSCHED_OK);
	assert_int_equal(ksched_cache_put(f->c, &k, "exec", v, sizeof(v), 0, 0),
			 KSCHED_ETOOBIG);
	/* Key and kind count too: this one is 1 byte over. */
	assert_int_equal(ksched_cache_put(f->c, &k, "exec", v,
					  200 - esize("exec", 0) + 1, 0, 0),
			 KSCHED_ETOOBIG);
	assert_int_equal(stats(f->c).entries, 1);
	assert_int_equal(stats(f->c).evictions, 0);
	assert_int_equal(raw_count(f->s), 1);
	assert_false(raw_has(f->s, 1));

	/* Exactly the cap fits, evicting the rest. */
	assert_int_equal(
	    ksched_cache_put(f->c, &k, "exec", v, 200 - esize("exec", 0), 0, 0),
	    KSCHED_OK);
	assert_int_equal(stats(f->c).bytes, 200);
	assert_int_equal(stats(f->c).entries, 1);
	assert_int_equal(stats(f->c).evictions, 1);
	assert_int_equal(raw_count(f->s), 1);
}

/* --- persistence and transactions --------------------------------------- */

static void
test_cache_persists_across_reopen(void **state)
{
	struct fx *f = *state;
	uint64_t bytes;

	put_str(f->c, 'A', "exec", "aaaa", 0, 0);
	put_str(f->c, 'B', "exec", "bbbb", 0, 0);
	put_str(f->c, 'C', "exec", "cccc", 0, 0);
	put_str(f->c, 'T', "exec", "tttt", 500, 1000); /* expires at 1500 */
	check_hit(f->c, 'A', 0, "aaaa"); /* a hit: not kept over reopen */
	put_str(f->c, 'B', "exec", "BBBB", 0, 0); /* a write: kept */
	bytes = stats(f->c).bytes;
	fx_reopen(f);

	assert_int_equal(stats(f->c).entries, 4);
	assert_int_equal(stats(f->c).bytes, bytes);
	assert_int_equal(stats(f->c).hits, 0); /* counters since open */
	/* Write order: A C T B.  Keep two: A and C go, oldest first. */
	assert_int_equal(ksched_cache_set_max_bytes(f->c, 3 * esize("exec", 4)),
			 KSCHED_OK);
	assert_false(raw_has(f->s, 'A'));
	assert_true(raw_has(f->s, 'C'));
	assert_int_equal(ksched_cache_set_max_bytes(f->c, 2 * esize("exec", 4)),
			 KSCHED_OK);
	assert_false(raw_has(f->s, 'C'));
	assert_int_equal(stats(f->c).evictions, 2);
	check_hit(f->c, 'B', 0, "BBBB");
	check_hit(f->c, 'T', 1499, "tttt");
	check_miss(f->c, 'T', 1500);
	assert_int_equal(stats(f->c).expirations, 1);
}

static void
test_cache_batch_abort_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct ksched_key x = key_n('X');
	struct ksched_cache_stats before, st;

	put_str(f->c, 'X', "exec", "kept", 0, 0);
	before = stats(f->c);
	assert_int_equal(ksched_store_begin(f->s), KSCHED_OK);
	for (unsigned i = 0; i < 50; i++)
		put_str(f->c, i, "sim", "batched", 0, 0);
	put_str(f->c, 'X', "sim", "changed", 0, 0);
	check_hit(f->c, 7, 0, "batched"); /* reads see the batch */
	assert_int_equal(stats(f->c).entries, 51);
	assert_int_equal(ksched_cache_invalidate(f->c, &x), KSCHED_OK);
	ksched_store_abort(f->s);

	st = stats(f->c);
	assert_int_equal(st.entries, before.entries);
	assert_int_equal(st.bytes, before.bytes);
	assert_int_equal(raw_count(f->s), 1);
	for (unsigned i = 0; i < 50; i++)
		assert_false(raw_has(f->s, i));
	check_miss(f->c, 7, 0);
	check_hit(f->c, 'X', 0, "kept");
	fx_reopen(f);
	assert_int_equal(stats(f->c).entries, 1);
	check_hit(f->c, 'X', 0, "kept");
}

static void
test_cache_batch_abort_restores_evictions(void **state)
{
	struct fx *f = *state;

	assert_int_equal(ksched_cache_set_max_bytes(f->c, 3 * esize("exec", 1)),
			 KSCHED_OK);
	put_str(f->c, 'A', "exec", "a", 0, 0);
	put_str(f->c, 'B', "exec", "b", 0, 0);
	put_str(f->c, 'C', "exec", "c", 0, 0);
	check_hit(f->c, 'A', 0, "a"); /* recency: A C B */

	assert_int_equal(ksched_store_begin(f->s), KSCHED_OK);
	put_str(f->c, 'D', "exec", "d", 0, 0); /* evicts B */
	put_str(f->c, 'E', "exec", "e", 0, 0); /* evicts C */
	assert_int_equal(stats(f->c).evictions, 2);
	assert_false(raw_has(f->s, 'B'));
	ksched_store_abort(f->s);

	assert_int_equal(stats(f->c).evictions, 0);
	assert_int_equal(stats(f->c).entries, 3);
	assert_int_equal(raw_count(f->s), 3);
	/* The hit on A survived the abort: B is still the oldest. */
	put_str(f->c, 'F', "exec", "f", 0, 0);
	assert_false(raw_has(f->s, 'B'));
	assert_true(raw_has(f->s, 'A'));
	assert_true(raw_has(f->s, 'C'));
	assert_int_equal(stats(f->c).evictions, 1);

	/* A committed batch counts its evictions. */
	assert_int_equal(ksched_store_begin(f->s), KSCHED_OK);
	put_str(f->c, 'G', "exec", "g", 0, 0);
	assert_int_equal(ksched_store_commit(f->s), KSCHED_OK);
	assert_int_equal(stats(f->c).evictions, 2);
	assert_true(raw_has(f->s, 'G'));
	assert_int_equal(raw_count(f->s), 3);
}

static const unsigned char rec_ok_hdr[28] = {
    0xca, 1,		       /* magic, version */
    0,	  0, 0, 0, 0, 0, 0, 0, /* created */
    0,	  0, 0, 0, 0, 0, 0, 0, /* expires */
    1,	  0, 0, 0, 0, 0, 0, 0, /* seq */
    4,	  0,		       /* kind length */
};

static void
test_cache_corrupt_record_fails_open(void **state)
{
	struct fx *f = *state;
	unsigned char rec[40];
	ksched_cache *c2 = (ksched_cache *)1;
	struct {
		size_t len;
		int byte; /* index to change, or -1 */
		unsigned char val;
	} bad[] = {
	    {3, -1, 0},	   /* too short */
	    {27, -1, 0},   /* header cut */
	    {32, 0, 0x00}, /* bad magic */
	    {32, 1, 9},	   /* unknown version */
	    {32, 26, 65},  /* kind longer than KSCHED_KIND_MAX */
	    {31, -1, 0},   /* kind longer than the record */
	    {32, 29, 0},   /* NUL in the kind */
	};

	ksched_log_set_sink(count_sink, NULL, KSCHED_LOG_ERR);
	ksched_cache_close(f->c);
	f->c = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(rec, rec_ok_hdr, sizeof(rec_ok_hdr));
		memcpy(rec + 28, "exec", 4);
		if (bad[i].byte >= 0)
			rec[bad[i].byte] = bad[i].val;
		log_errors = 0;
		raw_put(f->s, 1, rec, bad[i].len);
		assert_int_equal(ksched_cache_open(f->s, &c2), KSCHED_ECORRUPT);
		assert_null(c2);
		assert_int_equal(log_errors, 1);
	}
	/* The same record, whole, loads. */
	memcpy(rec, rec_ok_hdr, sizeof(rec_ok_hdr));
	memcpy(rec + 28, "execVAL", 7);
	raw_put(f->s, 1, rec, 35);
	assert_int_equal(ksched_cache_open(f->s, &f->c), KSCHED_OK);
	check_hit(f->c, 1, 0, "VAL");
	assert_int_equal(stats(f->c).bytes, esize("exec", 3));
}

static void
test_cache_reload_of_corrupt_record_empties_index(void **state)
{
	struct fx *f = *state;
	struct ksched_key k = key_n(2);

	put_str(f->c, 1, "exec", "one", 0, 0);
	raw_put(f->s, 9, "bad", 3); /* behind the cache's back */
	ksched_log_set_sink(count_sink, NULL, KSCHED_LOG_ERR);
	log_errors = 0;

	/* An aborted batch makes the cache reload from LMDB. */
	assert_int_equal(ksched_store_begin(f->s), KSCHED_OK);
	put_str(f->c, 2, "exec", "two", 0, 0);
	ksched_store_abort(f->s);
	assert_true(log_errors >= 1);
	assert_int_equal(stats(f->c).entries, 0);
	assert_int_equal(stats(f->c).bytes, 0);
	assert_int_equal(ksched_cache_get(f->c, &k, 0, NULL, NULL),
			 KSCHED_ECORRUPT);
	assert_int_equal(ksched_cache_put(f->c, &k, "exec", "x", 1, 0, 0),
			 KSCHED_ECORRUPT);

	/* Invalidating everything repairs it. */
	assert_int_equal(ksched_cache_invalidate_all(f->c, NULL), KSCHED_OK);
	assert_int_equal(raw_count(f->s), 0);
	put_str(f->c, 2, "exec", "two", 0, 0);
	check_hit(f->c, 2, 0, "two");
}

static void
test_cache_map_grows_for_large_values(void **state)
{
	struct fx *f = *state;
	const unsigned count = 100;
	unsigned char *buf = malloc(MIB);
	struct ksched_key k;
	void *out;
	size_t len;

	assert_non_null(buf);
	assert_int_equal(ksched_store_map_size(f->s), (size_t)64 << 20);
	for (unsigned i = 0; i < count; i++) {
		memset(buf, (int)i, MIB);
		buf[0] = (unsigned char)~i;
		k = key_n(i);
		assert_int_equal(
		    ksched_cache_put(f->c, &k, "exec", buf, MIB, 0, 0),
		    KSCHED_OK);
	}
	free(buf);
	assert_true(ksched_store_map_size(f->s) > ((size_t)64 << 20));
	assert_int_equal(stats(f->c).entries, count);
	assert_int_equal(stats(f->c).bytes, count * esize("exec", MIB));
	for (unsigned i = 0; i < count; i++) {
		k = key_n(i);
		assert_int_equal(ksched_cache_get(f->c, &k, 0, &out, &len),
				 KSCHED_OK);
		assert_int_equal(len, MIB);
		buf = out;
		assert_int_equal(buf[0], (unsigned char)~i);
		assert_int_equal(buf[1], (unsigned char)i);
		assert_int_equal(buf[MIB - 1], (unsigned char)i);
		assert_int_equal(buf[MIB / 2 + 3], (unsigned char)i);
		ksched_free(out);
	}
}

/* Random puts, invalidations and gets on many keys against a model. */
static void
test_cache_many_keys_match_a_model(void **state)
{
	struct fx *f = *state;
	enum { NKEYS = 600, NOPS = 6000 };
	static unsigned char ver[NKEYS]; /* 0 = absent, else value version */
	uint64_t bytes = 0, entries = 0, rnd = 12345;
	struct ksched_key k;
	char v[8];
	unsigned i;

	memset(ver, 0, sizeof(ver));
	for (int op = 0; op < NOPS; op++) {
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		i = (unsigned)(rnd >> 33) % NKEYS;
		k = key_n(i);
		if ((rnd >> 20) % 3 == 0) {
			assert_int_equal(ksched_cache_invalidate(f->c, &k),
					 ver[i] ? KSCHED_OK : KSCHED_ENOENT);
			bytes -= ver[i] ? esize("exec", ver[i] % 7) : 0;
			entries -= ver[i] ? 1 : 0;
			ver[i] = 0;
			continue;
		}
		bytes -= ver[i] ? esize("exec", ver[i] % 7) : 0;
		entries += ver[i] ? 0 : 1;
		ver[i] = (unsigned char)(ver[i] % 250 + 1);
		memset(v, 'a' + ver[i] % 26, sizeof(v));
		assert_int_equal(
		    ksched_cache_put(f->c, &k, "exec", v, ver[i] % 7, 0, 0),
		    KSCHED_OK);
		bytes += esize("exec", ver[i] % 7);
	}
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(stats(f->c).entries, entries);
		assert_int_equal(stats(f->c).bytes, bytes);
		assert_int_equal(raw_count(f->s), entries);
		for (i = 0; i < NKEYS; i++) {
			memset(v, 'a' + ver[i] % 26, sizeof(v));
			v[ver[i] % 7] = 0;
			if (ver[i])
				check_hit(f->c, i, 0, v);
			else
				check_miss(f->c, i, 0);
		}
		fx_reopen(f);
	}
}

/* --- allocation failures ---------------------------------------------- */

static void
assert_same_state(const struct ksched_cache_stats *a,
		  const struct ksched_cache_stats *b)
{
	assert_int_equal(a->hits, b->hits);
	assert_int_equal(a->misses, b->misses);
	assert_int_equal(a->expirations, b->expirations);
	assert_int_equal(a->evictions, b->evictions);
	assert_int_equal(a->entries, b->entries);
	assert_int_equal(a->bytes, b->bytes);
	assert_int_equal(a->max_bytes, b->max_bytes);
}

/* Put key n with the n-th allocation failing, for n = 0.. until it works. */
static long
put_alloc_walk(struct fx *f, unsigned key)
{
	struct ksched_key k = key_n(key);
	struct ksched_cache_stats before = stats(f->c), st;
	size_t raw = raw_count(f->s);
	ksched_err e;
	long n;

	for (n = 0;; n++) {
		ksched__alloc_fail_after(n);
		e = ksched_cache_put(f->c, &k, "exec", "01234567", 8, 0, 0);
		ksched__alloc_fail_after(-1);
		if (e == KSCHED_OK)
			break;
		assert_int_equal(e, KSCHED_ENOMEM);
		st = stats(f->c);
		assert_same_state(&before, &st);
		assert_int_equal(raw_count(f->s), raw);
		assert_false(raw_has(f->s, key));
	}
	return n;
}

static void
test_cache_put_alloc_failure_walk(void **state)
{
	struct fx *f = *state;

	/* The first put allocates the index. */
	assert_int_equal(put_alloc_walk(f, 0), 1);
	/* 12 entries fill 16 slots to 3/4; the 13th grows the index and,
	 * with a cap of 12 entries, evicts entry 0. */
	for (unsigned i = 1; i < 12; i++)
		put_str(f->c, i, "exec", "01234567", 0, 0);
	assert_int_equal(
	    ksched_cache_set_max_bytes(f->c, 12 * esize("exec", 8)), KSCHED_OK);
	assert_int_equal(put_alloc_walk(f, 12), 1);
	assert_int_equal(stats(f->c).entries, 12);
	assert_int_equal(stats(f->c).evictions, 1);
	assert_false(raw_has(f->s, 0));
	for (unsigned i = 1; i <= 12; i++)
		check_hit(f->c, i, 0, "01234567");
	/* Replacing needs no allocation. */
	assert_int_equal(put_alloc_walk(f, 5), 0);
}

static void
test_cache_get_alloc_failure_walk(void **state)
{
	struct fx *f = *state;
	struct ksched_key a = key_n('A'), b = key_n('B');
	struct ksched_cache_stats before, st;
	void *out;
	size_t len;
	ksched_err e;
	long n;

	assert_int_equal(ksched_cache_set_max_bytes(f->c, 2 * esize("exec", 1)),
			 KSCHED_OK);
	put_str(f->c, 'A', "exec", "a", 0, 0);
	put_str(f->c, 'B', "exec", "b", 0, 0);
	before = stats(f->c);
	for (n = 0;; n++) {
		out = (void *)1;
		ksched__alloc_fail_after(n);
		e = ksched_cache_get(f->c, &a, 0, &out, &len);
		ksched__alloc_fail_after(-1);
		if (e == KSCHED_OK)
			break;
		assert_int_equal(e, KSCHED_ENOMEM);
		assert_null(out);
		st = stats(f->c);
		assert_same_state(&before, &st);
	}
	assert_int_equal(n, 1);
	assert_int_equal(len, 1);
	ksched_free(out);
	assert_int_equal(stats(f->c).hits, 1);

	/* Recency is now A B; a failed get of B leaves it so. */
	ksched__alloc_fail_after(0);
	assert_int_equal(ksched_cache_get(f->c, &b, 0, &out, &len),
			 KSCHED_ENOMEM);
	ksched__alloc_fail_after(-1);
	put_str(f->c, 'C', "exec", "c", 0, 0);
	assert_false(raw_has(f->s, 'B'));
	assert_true(raw_has(f->s, 'A'));
}

static void
test_cache_open_alloc_failure_walk(void **state)
{
	struct fx *f = *state;
	ksched_cache *c;
	ksched_err e;
	long n;

	for (unsigned i = 0; i < 40; i++)
		put_str(f->c, i, "exec", "v", 0, 0);
	ksched_cache_close(f->c);
	f->c = NULL;
	for (n = 0;; n++) {
		c = (ksched_cache *)1;
		ksched__alloc_fail_after(n);
		e = ksched_cache_open(f->s, &c);
		ksched__alloc_fail_after(-1);
		if (e == KSCHED_OK)
			break;
		assert_int_equal(e, KSCHED_ENOMEM);
		assert_null(c);
	}
	assert_int_equal(n, 4); /* the cache, the index at 16, 32, 64 */
	f->c = c;
	assert_int_equal(stats(c).entries, 40);
	for (unsigned i = 0; i < 40; i++)
		check_hit(c, i, 0, "v");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_cache_put_get_round_trip),
	    T(test_cache_miss),
	    T(test_cache_bad_arguments),
	    T(test_cache_ttl_expires_on_get),
	    T(test_cache_sweep),
	    T(test_cache_invalidate_key),
	    T(test_cache_invalidate_kind),
	    T(test_cache_invalidate_all),
	    T(test_cache_replace_keeps_bytes_exact),
	    T(test_cache_cap_evicts_least_recently_used),
	    T(test_cache_set_max_bytes_evicts_at_once),
	    T(test_cache_value_over_cap_is_too_big),
	    T(test_cache_persists_across_reopen),
	    T(test_cache_batch_abort_leaves_nothing),
	    T(test_cache_batch_abort_restores_evictions),
	    T(test_cache_corrupt_record_fails_open),
	    T(test_cache_reload_of_corrupt_record_empties_index),
	    T(test_cache_map_grows_for_large_values),
	    T(test_cache_many_keys_match_a_model),
	    T(test_cache_put_alloc_failure_walk),
	    T(test_cache_get_alloc_failure_walk),
	    T(test_cache_open_alloc_failure_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
