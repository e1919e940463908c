/*
 * libksched - the LMDB environment: open/format checks, write transactions
 * with group commit, automatic map growth.
 */
#define _DEFAULT_SOURCE /* madvise */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "alloc.h"
#include "log.h"
#include "store.h"

#define STORE_MAGIC "ksched-store"
#define STORE_MAP_INITIAL ((size_t)64 << 20)
#define STORE_MAP_MAX_DEFAULT ((size_t)1 << 40)
#define STORE_SUBS_MAX 4
#define STORE_RETRIES 16

static const char *const db_names[KSCHED_DB_COUNT] = {
	[KSCHED_DB_META] = "meta",	 [KSCHED_DB_TASKS] = "tasks",
	[KSCHED_DB_QSTATE] = "qstate",	 [KSCHED_DB_RESULTS] = "results",
	[KSCHED_DB_CACHE] = "cache",
};

struct ksched_store {
	MDB_env *env;
	MDB_dbi dbi[KSCHED_DB_COUNT];
	MDB_txn *wtxn;	/* the open batch's transaction */
	MDB_txn *rtxn;	/* a reset read-only transaction kept for reuse */
	bool batch;	/* a batch is open */
	ksched_err batch_err; /* the batch was undone with this error */
	enum ksched_sync sync;
	size_t mapsize;
	size_t map_max;
	unsigned psize;
	char *dir;
	struct ksched_store_sub subs[STORE_SUBS_MAX];
	int nsubs;
};

ksched_err
ksched__store_err(int rc)
{
	if (rc >= 0)
		return (ksched_err)rc;
	switch (rc) {
	case MDB_MAP_FULL:
		return KSCHED_ENOSPC;
	case MDB_NOTFOUND:
		return KSCHED_ENOENT;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
		return KSCHED_ECORRUPT;
	case MDB_VERSION_MISMATCH:
		return KSCHED_EVERSION;
	case -ENOMEM:
		return KSCHED_ENOMEM;
	case -ENOSPC:
	case -EDQUOT:
		return KSCHED_ENOSPC;
	default:
		return KSCHED_EIO;
	}
}

int
ksched__lmdb_rc(int rc)
{
	return rc > 0 ? -rc : rc;
}

#define lmdb_rc ksched__lmdb_rc

static void errmsg(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
errmsg(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

MDB_dbi
ksched__store_dbi(const ksched_store *s, enum ksched_dbi which)
{
	return s->dbi[which];
}

static ksched_err
store_check_format(MDB_txn *txn, MDB_dbi meta, const char *dir, char *err,
		   size_t errlen)
{
	MDB_val k = {6, "format"}, v;
	const unsigned char *p;
	size_t ml = sizeof(STORE_MAGIC);
	uint32_t ver;

	if (mdb_get(txn, meta, &k, &v) != 0 || v.mv_size != ml + 4 ||
	    memcmp(v.mv_data, STORE_MAGIC, ml) != 0) {
		errmsg(err, errlen, "%s: %s", dir,
		       "not a libksched store (no format record); refusing to "
		       "touch it");
		return KSCHED_ECORRUPT;
	}
	p = (const unsigned char *)v.mv_data + ml;
	ver = ksched__get_le32(p);
	if (ver != KSCHED_STORE_FORMAT) {
		char what[96];
		snprintf(what, sizeof(what),
			 "format version %u, this library reads %u", ver,
			 KSCHED_STORE_FORMAT);
		errmsg(err, errlen, "%s: unsupported store: %s", dir, what);
		return KSCHED_EVERSION;
	}
	return KSCHED_OK;
}

/*
 * Whether the environment is still blank: LMDB wrote its header pages but
 * the transaction creating our tables never committed (a crash during the
 * very first open).  Only then may an existing file be initialised.
 */
static bool
store_is_blank(ksched_store *s)
{
	MDB_txn *txn;
	MDB_dbi main;
	MDB_stat st;
	bool blank = false;

	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return false;
	if (mdb_dbi_open(txn, NULL, 0, &main) == 0 &&
	    mdb_stat(txn, main, &st) == 0)
		blank = st.ms_entries == 0;
	mdb_txn_abort(txn);
	return blank;
}

/* Open the tables of an existing store (read only: nothing is written). */
static ksched_err
store_open_existing(ksched_store *s, char *err, size_t errlen)
{
	MDB_txn *txn;
	ksched_err e = KSCHED_OK;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	if (rc)
		return ksched__store_err(lmdb_rc(rc));
	for (int i = 0; i < KSCHED_DB_COUNT && !e; i++) {
		rc = mdb_dbi_open(txn, db_names[i], 0, &s->dbi[i]);
		if (rc == 0 && i == KSCHED_DB_META)
			e = store_check_format(txn, s->dbi[i], s->dir, err,
					       errlen);
		else if (rc) {
			errmsg(err, errlen, "%s: %s", s->dir,
			       "not a libksched store (missing tables); "
			       "refusing to touch it");
			e = KSCHED_ECORRUPT;
		}
	}
	if (e) {
		mdb_txn_abort(txn);
		return e;
	}
	return ksched__store_err(lmdb_rc(mdb_txn_commit(txn)));
}

static ksched_err
store_create(ksched_store *s)
{
	MDB_txn *txn;
	unsigned char rec[sizeof(STORE_MAGIC) + 4];
	MDB_val k = {6, "format"}, v = {sizeof(rec), rec};
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);

	if (rc)
		return ksched__store_err(lmdb_rc(rc));
	for (int i = 0; i < KSCHED_DB_COUNT && !rc; i++)
		rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]);
	memcpy(rec, STORE_MAGIC, sizeof(STORE_MAGIC));
	ksched__put_le32(rec + sizeof(STORE_MAGIC), KSCHED_STORE_FORMAT);
	if (!rc)
		rc = mdb_put(txn, s->dbi[KSCHED_DB_META], &k, &v, 0);
	if (rc) {
		mdb_txn_abort(txn);
		return ksched__store_err(lmdb_rc(rc));
	}
	return ksched__store_err(lmdb_rc(mdb_txn_commit(txn)));
}

static ksched_err
store_env_open(ksched_store *s, size_t file_size, char *err, size_t errlen)
{
	unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
	MDB_stat st;
	int rc, dead;

	if (s->sync == KSCHED_SYNC_NONE)
		flags |= MDB_NOSYNC;
	s->mapsize = STORE_MAP_INITIAL;
	while (s->mapsize < file_size * 2)
		s->mapsize *= 2;
	rc = mdb_env_create(&s->env);
	if (!rc)
		rc = mdb_env_set_maxdbs(s->env, KSCHED_DB_COUNT + 2);
	if (!rc)
		rc = mdb_env_set_mapsize(s->env, s->mapsize);
	if (!rc)
		rc = mdb_env_open(s->env, s->dir, flags, 0600);
	if (rc) {
		KLOG(KSCHED_LOG_ERR, "msg=\"store open failed\" dir=%s lmdb=\"%s\"",
		     s->dir, mdb_strerror(rc));
		errmsg(err, errlen, "%s: cannot open store: %s", s->dir,
		       mdb_strerror(rc));
		return rc == MDB_INVALID || rc == MDB_CORRUPTED
			       ? KSCHED_ECORRUPT
			       : ksched__store_err(lmdb_rc(rc));
	}
	mdb_reader_check(s->env, &dead);
	mdb_env_stat(s->env, &st);
	s->psize = st.ms_psize;
	return KSCHED_OK;
}

ksched_err
ksched_store_open(const char *dir, enum ksched_sync sync, ksched_store **out,
		  char *err, size_t errlen)
{
	ksched_store *s;
	char path[4096];
	struct stat sb;
	size_t file_size = 0;
	ksched_err e;

	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (!dir || !*dir ||
	    (sync != KSCHED_SYNC_STRICT && sync != KSCHED_SYNC_NONE))
		return KSCHED_EINVAL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		errmsg(err, errlen, "%s: cannot create directory: %s", dir,
		       strerror(errno));
		return errno == ENOSPC ? KSCHED_ENOSPC : KSCHED_EIO;
	}
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (stat(path, &sb) == 0)
		file_size = (size_t)sb.st_size;
	s = ksched__calloc(1, sizeof(*s));
	if (!s || !(s->dir = ksched__strdup(dir))) {
		ksched__free(s);
		return KSCHED_ENOMEM;
	}
	s->sync = sync;
	s->map_max = STORE_MAP_MAX_DEFAULT;
	e = store_env_open(s, file_size, err, errlen);
	if (!e)
		e = file_size && !store_is_blank(s)
			    ? store_open_existing(s, err, errlen)
			    : store_create(s);
	if (e) {
		if (err && errlen && !err[0])
			errmsg(err, errlen, "%s: cannot open store: %s", dir,
			       ksched_strerror(e));
		ksched_store_close(s);
		return e;
	}
	*out = s;
	return KSCHED_OK;
}

void
ksched_store_close(ksched_store *s)
{
	if (!s)
		return;
	if (s->wtxn)
		mdb_txn_abort(s->wtxn);
	if (s->rtxn)
		mdb_txn_abort(s->rtxn);
	if (s->env)
		mdb_env_close(s->env);
	ksched__free(s->dir);
	ksched__free(s);
}

void
ksched_store_set_map_max(ksched_store *s, size_t bytes)
{
	s->map_max = bytes;
}

size_t
ksched_store_map_size(const ksched_store *s)
{
	return s->mapsize;
}

enum ksched_sync
ksched_store_sync_mode(const ksched_store *s)
{
	return s->sync;
}

bool
ksched_store_in_batch(const ksched_store *s)
{
	return s->batch;
}

/* Double the map (no transaction may be open). 0 or MDB_MAP_FULL. */
static int
store_grow(ksched_store *s)
{
	size_t want = s->mapsize * 2;
	struct statvfs vfs;

	if (want > s->map_max)
		want = s->map_max;
	if (want <= s->mapsize)
		return MDB_MAP_FULL;
	if (statvfs(s->dir, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < want - s->mapsize) {
		KLOG(KSCHED_LOG_WARN,
		     "msg=\"store full: disk has no room to grow\" dir=%s",
		     s->dir);
		return MDB_MAP_FULL;
	}
	if (s->rtxn) {
		mdb_txn_abort(s->rtxn);
		s->rtxn = NULL;
	}
	if (mdb_env_set_mapsize(s->env, want) != 0)
		return MDB_MAP_FULL;
	KLOG(KSCHED_LOG_INFO, "msg=\"store map grown\" dir=%s bytes=%zu",
	     s->dir, want);
	s->mapsize = want;
	return 0;
}

/* Grow ahead of time when the map is more than 3/4 used. */
static void
store_maybe_grow(ksched_store *s)
{
	MDB_envinfo info;

	if (mdb_env_info(s->env, &info) != 0)
		return;
	if ((size_t)(info.me_last_pgno + 1) * s->psize > s->mapsize / 4 * 3)
		(void)store_grow(s);
}

static void
store_reload(ksched_store *s)
{
	for (int i = 0; i < s->nsubs; i++)
		if (s->subs[i].reload)
			s->subs[i].reload(s->subs[i].arg);
}

static int
store_pre_commit(ksched_store *s, MDB_txn *txn)
{
	int rc = 0;

	for (int i = 0; i < s->nsubs && !rc; i++)
		if (s->subs[i].pre_commit)
			rc = s->subs[i].pre_commit(s->subs[i].arg, txn);
	return rc;
}

static void
store_post_commit(ksched_store *s)
{
	for (int i = 0; i < s->nsubs; i++)
		if (s->subs[i].post_commit)
			s->subs[i].post_commit(s->subs[i].arg);
}

/* Commit txn with the hooks; on failure memory is reloaded. */
static int
store_commit_txn(ksched_store *s, MDB_txn *txn)
{
	int rc = store_pre_commit(s, txn);

	if (rc) {
		mdb_txn_abort(txn);
	} else {
		rc = lmdb_rc(mdb_txn_commit(txn));
		if (!rc) {
			store_post_commit(s);
			return 0;
		}
	}
	KLOG(KSCHED_LOG_WARN, "msg=\"commit failed\" dir=%s error=\"%s\"",
	     s->dir, rc < 0 ? mdb_strerror(rc) : ksched_strerror(rc));
	store_reload(s);
	return rc;
}

static ksched_err
store_write_batch(ksched_store *s, ksched_store_fn fn, void *arg)
{
	int rc;

	if (s->batch_err)
		return s->batch_err;
	rc = fn(s->wtxn, arg);
	if (rc <= 0 && rc != 0) {
		/* An LMDB failure poisons the batch: undo it all. */
		mdb_txn_abort(s->wtxn);
		s->wtxn = NULL;
		store_reload(s);
		s->batch_err = ksched__store_err(rc);
		if (rc == MDB_MAP_FULL && store_grow(s) == 0)
			s->batch_err = KSCHED_EAGAIN;
		return s->batch_err;
	}
	return ksched__store_err(rc);
}

ksched_err
ksched__store_write(ksched_store *s, ksched_store_fn fn, void *arg)
{
	MDB_txn *txn;
	int rc;

	if (s->batch)
		return store_write_batch(s, fn, arg);
	for (int attempt = 0; attempt < STORE_RETRIES; attempt++) {
		store_maybe_grow(s);
		rc = lmdb_rc(mdb_txn_begin(s->env, NULL, 0, &txn));
		if (rc)
			return ksched__store_err(rc);
		rc = fn(txn, arg);
		if (rc > 0) {
			/* A refusal: fn changed nothing. */
			mdb_txn_abort(txn);
			return (ksched_err)rc;
		}
		if (rc == 0)
			rc = store_commit_txn(s, txn);
		else {
			mdb_txn_abort(txn);
			store_reload(s);
		}
		if (rc == 0)
			return KSCHED_OK;
		if (rc != MDB_MAP_FULL || store_grow(s) != 0)
			return ksched__store_err(rc);
	}
	return KSCHED_ENOSPC;
}

ksched_err
ksched_store_begin(ksched_store *s)
{
	int rc;

	if (s->batch)
		return KSCHED_EBUSY;
	store_maybe_grow(s);
	rc = lmdb_rc(mdb_txn_begin(s->env, NULL, 0, &s->wtxn));
	if (rc)
		return ksched__store_err(rc);
	s->batch = true;
	s->batch_err = KSCHED_OK;
	return KSCHED_OK;
}

ksched_err
ksched_store_commit(ksched_store *s)
{
	MDB_txn *txn = s->wtxn;
	ksched_err e;
	int rc;

	if (!s->batch)
		return KSCHED_ESTATE;
	s->batch = false;
	s->wtxn = NULL;
	if (s->batch_err) {
		e = s->batch_err;
		s->batch_err = KSCHED_OK;
		return e;
	}
	rc = store_commit_txn(s, txn);
	if (rc == MDB_MAP_FULL && store_grow(s) == 0)
		return KSCHED_EAGAIN;
	return ksched__store_err(rc);
}

void
ksched_store_abort(ksched_store *s)
{
	if (!s->batch)
		return;
	s->batch = false;
	if (s->wtxn) {
		mdb_txn_abort(s->wtxn);
		s->wtxn = NULL;
		store_reload(s);
	}
	s->batch_err = KSCHED_OK;
}

ksched_err
ksched__store_read(ksched_store *s, MDB_txn **txn)
{
	int rc;

	if (s->wtxn) {
		*txn = s->wtxn;
		return KSCHED_OK;
	}
	if (s->rtxn) {
		rc = mdb_txn_renew(s->rtxn);
		if (rc == 0) {
			*txn = s->rtxn;
			s->rtxn = NULL;
			return KSCHED_OK;
		}
		mdb_txn_abort(s->rtxn);
		s->rtxn = NULL;
	}
	rc = lmdb_rc(mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn));
	return ksched__store_err(rc);
}

void
ksched__store_read_end(ksched_store *s, MDB_txn *txn)
{
	if (!txn || txn == s->wtxn)
		return;
	if (s->rtxn) {
		mdb_txn_abort(txn);
		return;
	}
	mdb_txn_reset(txn);
	s->rtxn = txn;
}

int
ksched__store_subscribe(ksched_store *s, const struct ksched_store_sub *sub)
{
	if (s->nsubs == STORE_SUBS_MAX)
		return -1;
	s->subs[s->nsubs++] = *sub;
	return 0;
}

void
ksched__store_unsubscribe(ksched_store *s, void *arg)
{
	for (int i = 0; i < s->nsubs; i++) {
		if (s->subs[i].arg == arg) {
			s->subs[i] = s->subs[--s->nsubs];
			return;
		}
	}
}

/*
 * The address range of our data.mdb mapping, from /proc/self/maps (LMDB
 * does not tell where it mapped the file).  0 when found.
 */
static int
map_range(const ksched_store *s, uintptr_t *lo, uintptr_t *hi)
{
	char want[4096], line[4352];
	FILE *f;
	int rc = -1;

	if (!realpath(s->dir, want) ||
	    strlen(want) + sizeof("/data.mdb") > sizeof(want))
		return -1;
	strcat(want, "/data.mdb");
	f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	while (rc && fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');
		unsigned long a, b;
		if (!path)
			continue;
		path[strcspn(path, "\n")] = 0;
		if (strcmp(path, want) == 0 &&
		    sscanf(line, "%lx-%lx", &a, &b) == 2) {
			*lo = a;
			*hi = b;
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

void
ksched__store_drop_pages(ksched_store *s)
{
	uintptr_t lo, hi;

	/* The map is read-only and file backed (no MDB_WRITEMAP): dropping
	 * our page table entries loses nothing; pages come back on use. */
	if (map_range(s, &lo, &hi) == 0)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}
