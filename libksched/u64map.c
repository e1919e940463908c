/* libksched - u64 -> pointer hash map. */
#include <string.h>
#include <xxhash.h>

#include "alloc.h"
#include "u64map.h"

static size_t
home(const struct u64map *m, uint64_t key)
{
	return (size_t)XXH3_64bits(&key, sizeof(key)) & (m->cap - 1);
}

void
ksched__u64map_init(struct u64map *m)
{
	memset(m, 0, sizeof(*m));
}

void
ksched__u64map_free(struct u64map *m)
{
	ksched__free(m->slots);
	memset(m, 0, sizeof(*m));
}

void *
ksched__u64map_get(const struct u64map *m, uint64_t key)
{
	if (!m->cap || !key)
		return NULL;
	for (size_t i = home(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].key == key)
			return m->slots[i].val;
		if (!m->slots[i].key)
			return NULL;
	}
}

static void
insert(struct u64map *m, uint64_t key, void *val)
{
	size_t i = home(m, key);

	while (m->slots[i].key && m->slots[i].key != key)
		i = (i + 1) & (m->cap - 1);
	if (!m->slots[i].key)
		m->n++;
	m->slots[i].key = key;
	m->slots[i].val = val;
}

static int
grow(struct u64map *m)
{
	struct u64map old = *m;

	m->cap = old.cap ? old.cap * 2 : 64;
	m->slots = ksched__calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		*m = old;
		return -1;
	}
	m->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].key)
			insert(m, old.slots[i].key, old.slots[i].val);
	ksched__free(old.slots);
	return 0;
}

int
ksched__u64map_put(struct u64map *m, uint64_t key, void *val)
{
	if (!key)
		return -1;
	if ((m->n + 1) * 2 > m->cap && grow(m) != 0)
		return -1;
	insert(m, key, val);
	return 0;
}

void *
ksched__u64map_del(struct u64map *m, uint64_t key)
{
	size_t mask = m->cap - 1, i, j;
	void *val;

	if (!m->cap || !key)
		return NULL;
	for (i = home(m, key); m->slots[i].key != key; i = (i + 1) & mask)
		if (!m->slots[i].key)
			return NULL;
	val = m->slots[i].val;
	m->slots[i].key = 0;
	m->slots[i].val = NULL;
	m->n--;
	for (j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
		size_t k = home(m, m->slots[j].key);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			m->slots[i] = m->slots[j];
			m->slots[j].key = 0;
			m->slots[j].val = NULL;
			i = j;
		}
	}
	return val;
}
