/*
 * libksched - the result cache, in the store's LMDB environment.
 *
 * Maps a 128-bit key (ksched_task_cache_key()) to result bytes, with a time
 * to live, invalidation by key, by kind or all, and a size cap enforced by
 * evicting the least recently used entries.  Recency is exact while the cache
 * is open; after a reopen it starts from the order of last writes.
 *
 * Times are milliseconds on the caller's clock (see ksched_now_ms()).
 * Writes follow the store's batching rules (ksched_store_begin()).
 */
#ifndef KSCHED_CACHE_H
#define KSCHED_CACHE_H

#include "store.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ksched_cache ksched_cache;

/* Largest value the cache stores. */
#define KSCHED_CACHE_VALUE_MAX (64u << 20)

struct ksched_cache_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t expirations;
	uint64_t evictions;
	uint64_t entries; /* entries stored now */
	uint64_t bytes;	  /* bytes of keys, kinds and values stored now */
	uint64_t max_bytes; /* the cap (0 = none) */
};

/*
 * ksched_cache_open: the cache in store s (one per store).  Loads the index
 * of entries; a corrupt entry makes it fail with KSCHED_ECORRUPT.  The
 * caller owns *out; close it with ksched_cache_close() before the store.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_cache_open(ksched_store *s,
							 ksched_cache **out);

/* ksched_cache_close: NULL is a no-op. */
KSCHED_API void ksched_cache_close(ksched_cache *c);

/*
 * ksched_cache_get: on a hit, *out (free with ksched_free()) and *len get a
 * copy of the value and the hit counter grows.  KSCHED_ENOENT on a miss;
 * an entry past its expiry counts as a miss and an expiration, and is
 * removed.  out may be NULL to test presence only.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_cache_get(ksched_cache *c, const struct ksched_key *key, int64_t now,
		 void **out, size_t *len);

/*
 * ksched_cache_put: store (or replace) key -> data.  kind is remembered for
 * invalidation by kind.  ttl_ms 0 means no expiry.  Values larger than
 * KSCHED_CACHE_VALUE_MAX, or than the cap, are refused with KSCHED_ETOOBIG.
 * Least recently used entries are evicted to stay under the cap.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_cache_put(ksched_cache *c, const struct ksched_key *key,
		 const char *kind, const void *data, size_t len,
		 int64_t ttl_ms, int64_t now);

/* ksched_cache_invalidate: remove one key; KSCHED_ENOENT if absent. */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_cache_invalidate(ksched_cache *c, const struct ksched_key *key);

/* ksched_cache_invalidate_kind: remove every entry of kind; *n (may be
 * NULL) gets how many. */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_cache_invalidate_kind(ksched_cache *c, const char *kind, size_t *n);

/* ksched_cache_invalidate_all: remove everything; *n (may be NULL). */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_cache_invalidate_all(ksched_cache *c, size_t *n);

/* ksched_cache_sweep: remove every entry expired at now; *n (may be NULL)
 * gets how many (they count as expirations). */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_cache_sweep(ksched_cache *c, int64_t now, size_t *n);

/*
 * ksched_cache_set_max_bytes: cap the bytes stored (0 = no cap, the
 * default); evicts least recently used entries at once if over.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_cache_set_max_bytes(ksched_cache *c, uint64_t max_bytes);

/* ksched_cache_stats: counters since open, and current sizes. */
KSCHED_API void ksched_cache_stats(const ksched_cache *c,
				   struct ksched_cache_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_CACHE_H */
