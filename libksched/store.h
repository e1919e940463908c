/*
 * Internal store interface shared by queue.c and cache.c.
 *
 * A module's write operation is a function run inside a write transaction by
 * ksched__store_write().  Outside a batch it gets its own transaction, which
 * is committed at once; if the map fills up, the transaction is aborted, the
 * map is grown and the operation is run again, so an operation must do all
 * its work (LMDB and memory) inside fn.  Memory changes are undone by the
 * subscribers' `reload` hook whenever a transaction is aborted.
 */
#ifndef KSCHED_STORE_INTERNAL_H
#define KSCHED_STORE_INTERNAL_H

#include <lmdb.h>

#include "ksched/store.h"

enum ksched_dbi {
	KSCHED_DB_META = 0, /* "format" -> magic+version; counters */
	KSCHED_DB_TASKS,    /* id (u64 BE) -> TaskSpec protobuf */
	KSCHED_DB_QSTATE,   /* state (u8) + id (u64 BE) -> queue record */
	KSCHED_DB_RESULTS,  /* id (u64 BE) -> result bytes */
	KSCHED_DB_CACHE,    /* key (16 bytes) -> cache record */
	KSCHED_DB_COUNT
};

struct ksched_store_sub {
	/* Called before a transaction commits (e.g. to write counters). */
	int (*pre_commit)(void *arg, MDB_txn *txn);
	/* Called after a transaction was aborted: rebuild memory from LMDB. */
	void (*reload)(void *arg);
	/* Called after a transaction committed. */
	void (*post_commit)(void *arg);
	void *arg;
};

typedef int (*ksched_store_fn)(MDB_txn *txn, void *arg);

MDB_dbi ksched__store_dbi(const ksched_store *s, enum ksched_dbi which);

/*
 * Run fn(txn, arg) in a write transaction (see the header comment).  fn
 * returns an LMDB or ksched status: 0 success, MDB_* (negative) codes, or a
 * positive ksched_err; any failure aborts the transaction (or poisons the
 * open batch).  Returns the mapped ksched_err.
 */
ksched_err ksched__store_write(ksched_store *s, ksched_store_fn fn, void *arg);

/*
 * A read transaction: the open batch's write transaction when there is one
 * (so reads see the batch's changes), else a reset-and-renewed read-only
 * transaction.  Pair with ksched__store_read_end().
 */
ksched_err ksched__store_read(ksched_store *s, MDB_txn **txn);
void ksched__store_read_end(ksched_store *s, MDB_txn *txn);

/*
 * Let go of the map pages this process has touched, so a full scan (index
 * rebuild) does not leave the whole file resident: they are still in the
 * page cache and come back on use.
 */
void ksched__store_drop_pages(ksched_store *s);

int ksched__store_subscribe(ksched_store *s, const struct ksched_store_sub *sub);
void ksched__store_unsubscribe(ksched_store *s, void *arg);

/*
 * LMDB returns both MDB_* codes (negative) and errno values (positive);
 * this makes errno values negative so positive means ksched_err.
 */
int ksched__lmdb_rc(int rc);

/* Map an LMDB return code to a ksched_err (positive codes pass through). */
ksched_err ksched__store_err(int rc);

/* Big-endian and little-endian helpers for keys and records. */
static inline void
ksched__put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static inline uint64_t
ksched__get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline void
ksched__put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static inline uint64_t
ksched__get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline void
ksched__put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static inline uint32_t
ksched__get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

#endif
