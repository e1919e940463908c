/*
 * libksched - the store: one LMDB environment in a data directory, shared
 * by the durable queue and the result cache.
 *
 * Durability: in KSCHED_SYNC_STRICT a change is reported successful only
 * after its transaction is committed and fsynced.  In KSCHED_SYNC_NONE
 * commits are not fsynced (MDB_NOSYNC): a crash of the machine (not of the
 * process) may lose recent changes.
 *
 * Group commit: every change between ksched_store_begin() and
 * ksched_store_commit() shares one transaction and one fsync.  Outside such
 * a batch, each queue or cache call commits by itself.  Inside a batch, a
 * change is durable only when ksched_store_commit() has returned KSCHED_OK:
 * acknowledge work to others only then.
 *
 * The map grows by itself when full while the disk has room, up to the
 * limit set with ksched_store_set_map_max().
 *
 * A store and the queue and cache opened on it are not thread safe: use
 * them from one thread.
 */
#ifndef KSCHED_STORE_H
#define KSCHED_STORE_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ksched_store ksched_store;

enum ksched_sync {
	KSCHED_SYNC_STRICT = 0, /* fsync every commit */
	KSCHED_SYNC_NONE = 1,	/* never fsync (MDB_NOSYNC) */
};

/* The on-disk format version this library reads and writes. */
#define KSCHED_STORE_FORMAT 1u

/*
 * ksched_store_open: open (creating if needed) the data directory dir.
 * A directory holding data of another format version is refused with
 * KSCHED_EVERSION; one holding corrupt data, or data that is not a libksched
 * store, with KSCHED_ECORRUPT.  In both cases nothing on disk is changed.
 * If err is not NULL, a message saying what was wrong is written into it.
 * The caller owns *out and closes it with ksched_store_close().
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_store_open(
	const char *dir, enum ksched_sync sync, ksched_store **out, char *err,
	size_t errlen);

/*
 * ksched_store_close: close the store.  An open batch is aborted.  Close
 * the queue and cache opened on it first.  NULL is a no-op.
 */
KSCHED_API void ksched_store_close(ksched_store *s);

/*
 * ksched_store_begin: open a batch (group commit).  Batches do not nest:
 * KSCHED_EBUSY if one is open.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_store_begin(ksched_store *s);

/*
 * ksched_store_commit: commit the open batch (one fsync in strict mode).
 * On failure every change made since ksched_store_begin() is undone, in
 * LMDB and in the in-memory indexes of the queue and cache, and the error is
 * returned (KSCHED_ENOSPC when the map could not grow).  KSCHED_ESTATE when
 * no batch is open.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_store_commit(ksched_store *s);

/* ksched_store_abort: undo every change since ksched_store_begin(). */
KSCHED_API void ksched_store_abort(ksched_store *s);

/* ksched_store_in_batch: whether a batch is open. */
KSCHED_API bool ksched_store_in_batch(const ksched_store *s);

/*
 * ksched_store_set_map_max: the largest size, in bytes, the LMDB map may
 * grow to (default 1 TiB; the disk's free space also limits growth).
 */
KSCHED_API void ksched_store_set_map_max(ksched_store *s, size_t bytes);

/* ksched_store_map_size: the current LMDB map size in bytes. */
KSCHED_API size_t ksched_store_map_size(const ksched_store *s);

/* ksched_store_sync_mode: the durability mode the store was opened with. */
KSCHED_API enum ksched_sync ksched_store_sync_mode(const ksched_store *s);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_STORE_H */
