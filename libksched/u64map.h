/*
 * Internal: an open-addressing hash map from a non-zero u64 key to a
 * pointer (linear probing, backward-shift deletion, keys hashed with XXH3).
 */
#ifndef KSCHED_U64MAP_H
#define KSCHED_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map_slot {
	uint64_t key; /* 0 = empty */
	void *val;
};

struct u64map {
	struct u64map_slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

void ksched__u64map_init(struct u64map *m);
void ksched__u64map_free(struct u64map *m); /* values are not freed */
void *ksched__u64map_get(const struct u64map *m, uint64_t key);
/* Insert or replace; -1 on ENOMEM (nothing changed). */
int ksched__u64map_put(struct u64map *m, uint64_t key, void *val);
/* Remove; returns the value or NULL. */
void *ksched__u64map_del(struct u64map *m, uint64_t key);

/* Iterate: for (size_t i = 0; i < m->cap; i++) if (m->slots[i].key) ... */

#endif
