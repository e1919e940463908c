/*
 * Internal: the queue's in-memory indexes.  A slab of entries, a hash table
 * from id to entry, and three indexed binary heaps: READY (priority, then
 * id), PENDING (due, then id) and LEASED (deadline, then id).  An entry is
 * in at most one heap, chosen by its state.  Final tasks are not kept.
 */
#ifndef KSCHED_QINDEX_H
#define KSCHED_QINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QIX_NONE UINT32_MAX

struct qent {
	uint64_t id;
	uint64_t token;
	int64_t due;
	int32_t prio;
	uint32_t attempts;
	uint32_t hpos;	/* position in its heap */
	uint8_t state;	/* enum ksched_state, live states only */
};

struct qheap {
	uint32_t *v; /* entry indexes */
	uint32_t n, cap;
};

enum { QIX_PENDING = 0, QIX_READY = 1, QIX_LEASED = 2, QIX_HEAPS = 3 };

struct qindex {
	struct qent *ents;
	uint32_t nents, capents;
	uint32_t *freelist;
	uint32_t nfree, capfree;
	uint32_t *slots; /* hash: entry index + 1, 0 = empty */
	uint32_t nslots; /* power of two */
	uint32_t used;
	struct qheap heap[QIX_HEAPS];
};

void ksched__qix_init(struct qindex *ix);
void ksched__qix_free(struct qindex *ix);
void ksched__qix_clear(struct qindex *ix);

/* The entry for id, or NULL. */
struct qent *ksched__qix_find(const struct qindex *ix, uint64_t id);

/* Make room for extra more entries (so adds cannot fail); -1 on ENOMEM. */
int ksched__qix_reserve(struct qindex *ix, uint32_t extra);

/* Add an entry (state must be PENDING, READY or LEASED); -1 on ENOMEM. */
int ksched__qix_add(struct qindex *ix, const struct qent *e);

/* Remove e (from its heap and the hash). */
void ksched__qix_del(struct qindex *ix, struct qent *e);

/*
 * Move e to state st (a live state) with due: it leaves its heap and joins
 * the new one.  Never allocates once the heaps have room (they keep room
 * for every entry), so it cannot fail.
 */
void ksched__qix_move(struct qindex *ix, struct qent *e, uint8_t st,
		      int64_t due);

/* Re-sort e in its heap after its due changed. */
void ksched__qix_fix(struct qindex *ix, struct qent *e);

/* Top of heap h, or NULL. */
struct qent *ksched__qix_top(const struct qindex *ix, int h);

/* The first max READY ids in lease order, unchanged; -1 on ENOMEM. */
int ksched__qix_ready_scan(const struct qindex *ix, size_t max, uint64_t *ids,
			   size_t *n);

/* Number of live entries. */
static inline uint32_t
ksched__qix_count(const struct qindex *ix)
{
	return ix->used;
}

#endif
