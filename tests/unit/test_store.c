/* Unit tests for the store: formats, corrupt data, growth, full map. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "../testutil.h"
#include "ksched.h"
#include "store.h"

static uint64_t
file_hash(const char *dir, const char *name)
{
	char path[600];
	char buf[65536];
	XXH3_state_t *st = XXH3_createState();
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	XXH3_64bits_reset(st);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		XXH3_64bits_update(st, buf, (size_t)n);
	close(fd);
	uint64_t h = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return h;
}

static void
write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static ksched_task *
mk_task(size_t payload)
{
	ksched_task *t;
	const char *argv[] = {"/bin/true"};
	char *p = calloc(1, payload ? payload : 1);

	assert_int_equal(ksched_task_new(&t), KSCHED_OK);
	assert_int_equal(ksched_task_set_argv(t, 1, argv), KSCHED_OK);
	assert_int_equal(ksched_task_set_payload(t, p, payload), KSCHED_OK);
	free(p);
	return t;
}

static void
test_store_create_and_reopen(void **state)
{
	char *dir = tu_tmpdir("store");
	char err[256];
	ksched_store *s;

	(void)state;
	assert_int_equal(ksched_store_open(dir, KSCHED_SYNC_STRICT, &s, err,
					   sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched_store_sync_mode(s), KSCHED_SYNC_STRICT);
	assert_false(ksched_store_in_batch(s));
	assert_int_equal(ksched_store_commit(s), KSCHED_ESTATE);
	ksched_store_close(s);
	assert_int_equal(ksched_store_open(dir, KSCHED_SYNC_NONE, &s, err,
					   sizeof(err)),
			 KSCHED_OK);
	ksched_store_close(s);
	ksched_store_close(NULL);
	tu_rmtree(dir);
}

static void
test_store_bad_arguments(void **state)
{
	char err[256];
	ksched_store *s = (ksched_store *)1;

	(void)state;
	assert_int_equal(ksched_store_open("", KSCHED_SYNC_NONE, &s, err,
					   sizeof(err)),
			 KSCHED_EINVAL);
	assert_null(s);
	assert_int_equal(ksched_store_open("/tmp", (enum ksched_sync)7, &s,
					   err, sizeof(err)),
			 KSCHED_EINVAL);
	assert_int_not_equal(ksched_store_open("/proc/nope/ksched",
					       KSCHED_SYNC_NONE, &s, err,
					       sizeof(err)),
			     KSCHED_OK);
	assert_non_null(strstr(err, "/proc/nope/ksched"));
}

/* Garbage where data.mdb should be: refused, and the file untouched. */
static void
test_store_corrupt_file_refused_untouched(void **state)
{
	char *dir = tu_tmpdir("store");
	char err[256], junk[16384];
	uint64_t seed = 3, before;
	ksched_store *s;

	(void)state;
	for (size_t i = 0; i < sizeof(junk); i += 8) {
		uint64_t r = tu_rand(&seed);
		memcpy(junk + i, &r, 8);
	}
	write_file(dir, "data.mdb", junk, sizeof(junk));
	before = file_hash(dir, "data.mdb");
	assert_int_equal(ksched_store_open(dir, KSCHED_SYNC_STRICT, &s, err,
					   sizeof(err)),
			 KSCHED_ECORRUPT);
	assert_null(s);
	assert_non_null(strstr(err, dir));
	assert_int_equal(file_hash(dir, "data.mdb"), before);
	tu_rmtree(dir);
}

/* A valid LMDB file that is not ours: refused, untouched. */
static void
test_store_foreign_lmdb_refused(void **state)
{
	char *dir = tu_tmpdir("store");
	char err[256];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {3, "abc"}, v = {3, "def"};
	ksched_store *s;
	uint64_t before;

	(void)state;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	before = file_hash(dir, "data.mdb");
	assert_int_equal(ksched_store_open(dir, KSCHED_SYNC_STRICT, &s, err,
					   sizeof(err)),
			 KSCHED_ECORRUPT);
	assert_non_null(strstr(err, "not a libksched store"));
	assert_int_equal(file_hash(dir, "data.mdb"), before);
	tu_rmtree(dir);
}

/* An LMDB file with no tables yet (a crash during the very first open) is
 * initialised, not refused. */
static void
test_store_blank_env_initialised(void **state)
{
	char *dir = tu_tmpdir("store");
	char err[256];
	MDB_env *env;
	MDB_txn *txn;
	ksched_store *s;
	ksched_queue *q;

	(void)state;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(ksched_store_open(dir, KSCHED_SYNC_STRICT, &s, err,
					   sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched_queue_open(s, 1, &q), KSCHED_OK);
	ksched_queue_close(q);
	ksched_store_close(s);
	tu_rmtree(dir);
}

/* Rewrite the format record with another version. */
static int
set_version_fn(MDB_txn *txn, void *arg)
{
	ksched_store *s = arg;
	MDB_val k = {6, "format"}, v;
	unsigned char buf[64];
	int rc = mdb_get(txn, ksched__store_dbi(s, KSCHED_DB_META), &k, &v);

	if (rc)
		return ksched__lmdb_rc(rc);
	memcpy(buf, v.mv_data, v.mv_size);
	ksched__put_le32(buf + v.mv_size - 4, 99);
	v.mv_data = buf;
	return ksched__lmdb_rc(
		mdb_put(txn, ksched__store_dbi(s, KSCHED_DB_META), &k, &v, 0));
}

static void
test_store_wrong_version_refused(void **state)
{
	char *dir = tu_tmpdir("store");
	char err[256];
	ksched_store *s;
	uint64_t before;

	(void)state;
	assert_int_equal(ksched_store_open(dir, KSCHED_SYNC_STRICT, &s, err,
					   sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched__store_write(s, set_version_fn, s), KSCHED_OK);
	ksched_store_close(s);
	before = file_hash(dir, "data.mdb");
	assert_int_equal(ksched_store_open(dir, KSCHED_SYNC_STRICT, &s, err,
					   sizeof(err)),
			 KSCHED_EVERSION);
	assert_non_null(strstr(err, "format version 99"));
	assert_int_equal(file_hash(dir, "data.mdb"), before);
	tu_rmtree(dir);
}

/* Truncated data file: refused. */
static void
test_store_truncated_file_refused(void **state)
{
	char *dir = tu_tmpdir("store");
	char err[256], path[600];
	ksched_store *s;

	(void)state;
	assert_int_equal(ksched_store_open(dir, KSCHED_SYNC_STRICT, &s, err,
					   sizeof(err)),
			 KSCHED_OK);
	ksched_store_close(s);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_int_equal(truncate(path, 100), 0);
	assert_int_not_equal(ksched_store_open(dir, KSCHED_SYNC_STRICT, &s,
					       err, sizeof(err)),
			     KSCHED_OK);
	assert_null(s);
	tu_rmtree(dir);
}

/* The map grows by itself past its initial 64 MiB. */
static void
test_store_map_grows(void **state)
{
	char *dir = tu_tmpdir("store");
	char err[256];
	ksched_store *s;
	ksched_queue *q;
	ksched_task *t = mk_task(64 << 10);
	const ksched_task *batch[50];
	size_t start;
	uint64_t c[KSCHED_STATE_COUNT];

	(void)state;
	assert_int_equal(ksched_store_open(dir, KSCHED_SYNC_NONE, &s, err,
					   sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched_queue_open(s, 1, &q), KSCHED_OK);
	start = ksched_store_map_size(s);
	for (int i = 0; i < 50; i++)
		batch[i] = t;
	/* 40 x 50 x 64 KiB = 125 MiB */
	for (int i = 0; i < 40; i++)
		assert_int_equal(ksched_queue_push_batch(q, batch, 50, 0, NULL,
							 NULL, NULL, 0),
				 KSCHED_OK);
	assert_true(ksched_store_map_size(s) > start);
	ksched_queue_counts(q, c);
	assert_int_equal(c[KSCHED_STATE_READY], 2000);
	assert_int_equal(ksched_queue_verify(q, err, sizeof(err)), KSCHED_OK);
	ksched_queue_close(q);
	ksched_store_close(s);
	ksched_task_free(t);
	tu_rmtree(dir);
}

/* With a map limit, a full store says ENOSPC and changes nothing. */
static void
test_store_full_map_enospc_no_change(void **state)
{
	char *dir = tu_tmpdir("store");
	char err[256];
	ksched_store *s;
	ksched_queue *q;
	ksched_task *t = mk_task(256 << 10);
	uint64_t c[KSCHED_STATE_COUNT], before;
	ksched_err e = KSCHED_OK;
	int pushed = 0;

	(void)state;
	assert_int_equal(ksched_store_open(dir, KSCHED_SYNC_NONE, &s, err,
					   sizeof(err)),
			 KSCHED_OK);
	ksched_store_set_map_max(s, ksched_store_map_size(s));
	assert_int_equal(ksched_queue_open(s, 1, &q), KSCHED_OK);
	for (int i = 0; i < 1000 && !e; i++) {
		e = ksched_queue_push(q, t, 0, NULL, NULL, 0);
		pushed += !e;
	}
	assert_int_equal(e, KSCHED_ENOSPC);
	assert_true(pushed > 100);
	ksched_queue_counts(q, c);
	before = c[KSCHED_STATE_READY];
	assert_int_equal(before, (uint64_t)pushed);
	assert_int_equal(ksched_queue_verify(q, err, sizeof(err)), KSCHED_OK);
	/* Leases still work (they need little room) ... */
	struct ksched_lease l;
	size_t n;
	assert_int_equal(ksched_queue_lease(q, 0, 10, 1, &l, &n), KSCHED_OK);
	assert_int_equal(ksched_queue_complete(q, l.id, l.token, 1, "k", 1),
			 KSCHED_OK);
	/* ... and raising the limit lets pushes go on. */
	ksched_store_set_map_max(s, (size_t)1 << 30);
	assert_int_equal(ksched_queue_push(q, t, 0, NULL, NULL, 0), KSCHED_OK);
	assert_int_equal(ksched_queue_verify(q, err, sizeof(err)), KSCHED_OK);
	ksched_queue_close(q);
	ksched_store_close(s);
	ksched_task_free(t);
	tu_rmtree(dir);
}

/* A batch that fills the map is undone whole: EAGAIN after growth. */
static void
test_store_batch_map_full_undone(void **state)
{
	char *dir = tu_tmpdir("store");
	char err[256];
	ksched_store *s;
	ksched_queue *q;
	ksched_task *t = mk_task(512 << 10);
	uint64_t c[KSCHED_STATE_COUNT];
	ksched_err e = KSCHED_OK, ce;
	int i;

	(void)state;
	assert_int_equal(ksched_store_open(dir, KSCHED_SYNC_NONE, &s, err,
					   sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched_queue_open(s, 1, &q), KSCHED_OK);
	assert_int_equal(ksched_store_begin(s), KSCHED_OK);
	for (i = 0; i < 400 && !e; i++)
		e = ksched_queue_push(q, t, 0, NULL, NULL, 0);
	assert_int_equal(e, KSCHED_EAGAIN);
	ce = ksched_store_commit(s);
	assert_int_equal(ce, KSCHED_EAGAIN);
	ksched_queue_counts(q, c);
	assert_int_equal(c[KSCHED_STATE_READY], 0);
	assert_int_equal(ksched_queue_verify(q, err, sizeof(err)), KSCHED_OK);
	/* The map has grown: the same batch now fits. */
	assert_int_equal(ksched_store_begin(s), KSCHED_OK);
	for (int j = 0; j < i - 1; j++)
		assert_int_equal(ksched_queue_push(q, t, 0, NULL, NULL, 0),
				 KSCHED_OK);
	assert_int_equal(ksched_store_commit(s), KSCHED_OK);
	ksched_queue_counts(q, c);
	assert_int_equal(c[KSCHED_STATE_READY], (uint64_t)(i - 1));
	ksched_queue_close(q);
	ksched_store_close(s);
	ksched_task_free(t);
	tu_rmtree(dir);
}

static void
test_store_strerror_all_values(void **state)
{
	(void)state;
	for (int e = 0; e <= KSCHED_ENOTCONN; e++) {
		const char *m = ksched_strerror((ksched_err)e);
		assert_non_null(m);
		assert_string_not_equal(m, "unknown error");
	}
	assert_string_equal(ksched_strerror((ksched_err)9999), "unknown error");
	assert_string_equal(ksched_version(), "0.1.0");
	assert_true(ksched_now_ms() > 1600000000000LL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_create_and_reopen),
		cmocka_unit_test(test_store_bad_arguments),
		cmocka_unit_test(test_store_corrupt_file_refused_untouched),
		cmocka_unit_test(test_store_foreign_lmdb_refused),
		cmocka_unit_test(test_store_blank_env_initialised),
		cmocka_unit_test(test_store_wrong_version_refused),
		cmocka_unit_test(test_store_truncated_file_refused),
		cmocka_unit_test(test_store_map_grows),
		cmocka_unit_test(test_store_full_map_enospc_no_change),
		cmocka_unit_test(test_store_batch_map_full_undone),
		cmocka_unit_test(test_store_strerror_all_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
