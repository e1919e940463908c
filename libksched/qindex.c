/* libksched - the queue's in-memory indexes (hash + indexed heaps). */
#include <string.h>
#include <xxhash.h>

#include "alloc.h"
#include "ksched/queue.h"
#include "qindex.h"

static int
state_heap(uint8_t st)
{
	switch (st) {
	case KSCHED_STATE_PENDING:
		return QIX_PENDING;
	case KSCHED_STATE_READY:
		return QIX_READY;
	default:
		return QIX_LEASED;
	}
}

void
ksched__qix_init(struct qindex *ix)
{
	memset(ix, 0, sizeof(*ix));
}

void
ksched__qix_free(struct qindex *ix)
{
	ksched__free(ix->ents);
	ksched__free(ix->freelist);
	ksched__free(ix->slots);
	for (int h = 0; h < QIX_HEAPS; h++)
		ksched__free(ix->heap[h].v);
	memset(ix, 0, sizeof(*ix));
}

void
ksched__qix_clear(struct qindex *ix)
{
	ix->nents = 0;
	ix->nfree = 0;
	ix->used = 0;
	if (ix->slots)
		memset(ix->slots, 0, (size_t)ix->nslots * sizeof(uint32_t));
	for (int h = 0; h < QIX_HEAPS; h++)
		ix->heap[h].n = 0;
}

static uint32_t
hash_id(uint64_t id)
{
	return (uint32_t)XXH3_64bits(&id, sizeof(id));
}

struct qent *
ksched__qix_find(const struct qindex *ix, uint64_t id)
{
	uint32_t mask = ix->nslots - 1, i;

	if (!ix->nslots)
		return NULL;
	for (i = hash_id(id) & mask; ix->slots[i]; i = (i + 1) & mask) {
		struct qent *e = &ix->ents[ix->slots[i] - 1];
		if (e->id == id)
			return e;
	}
	return NULL;
}

static void
slot_insert(uint32_t *slots, uint32_t nslots, uint64_t id, uint32_t v)
{
	uint32_t mask = nslots - 1, i = hash_id(id) & mask;

	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = v;
}

static int
hash_grow(struct qindex *ix)
{
	uint32_t n = ix->nslots ? ix->nslots * 2 : 1024;
	uint32_t *slots = ksched__calloc(n, sizeof(uint32_t));

	if (!slots)
		return -1;
	for (uint32_t i = 0; i < ix->nslots; i++) {
		uint32_t v = ix->slots[i];
		if (v)
			slot_insert(slots, n, ix->ents[v - 1].id, v);
	}
	ksched__free(ix->slots);
	ix->slots = slots;
	ix->nslots = n;
	return 0;
}

/* Backward-shift deletion for linear probing. */
static void
hash_remove(struct qindex *ix, uint64_t id)
{
	uint32_t mask = ix->nslots - 1, i, j, k;

	for (i = hash_id(id) & mask; ix->slots[i]; i = (i + 1) & mask)
		if (ix->ents[ix->slots[i] - 1].id == id)
			break;
	if (!ix->slots[i])
		return;
	ix->slots[i] = 0;
	for (j = (i + 1) & mask; ix->slots[j]; j = (j + 1) & mask) {
		k = hash_id(ix->ents[ix->slots[j] - 1].id) & mask;
		/* Move j back to i unless its home k lies in (i, j]. */
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			ix->slots[i] = ix->slots[j];
			ix->slots[j] = 0;
			i = j;
		}
	}
}

static bool
heap_less(const struct qindex *ix, int h, uint32_t a, uint32_t b)
{
	const struct qent *x = &ix->ents[a], *y = &ix->ents[b];

	if (h == QIX_READY) {
		if (x->prio != y->prio)
			return x->prio > y->prio;
	} else if (x->due != y->due) {
		return x->due < y->due;
	}
	return x->id < y->id;
}

static void
heap_set(struct qindex *ix, struct qheap *hp, uint32_t pos, uint32_t v)
{
	hp->v[pos] = v;
	ix->ents[v].hpos = pos;
}

static void
heap_up(struct qindex *ix, int h, uint32_t pos)
{
	struct qheap *hp = &ix->heap[h];
	uint32_t v = hp->v[pos];

	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;
		if (!heap_less(ix, h, v, hp->v[parent]))
			break;
		heap_set(ix, hp, pos, hp->v[parent]);
		pos = parent;
	}
	heap_set(ix, hp, pos, v);
}

static void
heap_down(struct qindex *ix, int h, uint32_t pos)
{
	struct qheap *hp = &ix->heap[h];
	uint32_t v = hp->v[pos];

	for (;;) {
		uint32_t c = 2 * pos + 1;
		if (c >= hp->n)
			break;
		if (c + 1 < hp->n && heap_less(ix, h, hp->v[c + 1], hp->v[c]))
			c++;
		if (!heap_less(ix, h, hp->v[c], v))
			break;
		heap_set(ix, hp, pos, hp->v[c]);
		pos = c;
	}
	heap_set(ix, hp, pos, v);
}

static void
heap_push(struct qindex *ix, int h, uint32_t v)
{
	struct qheap *hp = &ix->heap[h];

	hp->v[hp->n] = v;
	ix->ents[v].hpos = hp->n;
	hp->n++;
	heap_up(ix, h, hp->n - 1);
}

static void
heap_remove(struct qindex *ix, int h, uint32_t pos)
{
	struct qheap *hp = &ix->heap[h];

	hp->n--;
	if (pos == hp->n)
		return;
	heap_set(ix, hp, pos, hp->v[hp->n]);
	heap_up(ix, h, pos);
	heap_down(ix, h, ix->ents[hp->v[pos]].hpos);
}

static int
grow_u32(uint32_t **v, uint32_t *cap, uint32_t need)
{
	uint32_t c = *cap ? *cap : 1024;
	uint32_t *nv;

	while (c < need)
		c *= 2;
	if (c == *cap)
		return 0;
	nv = ksched__realloc(*v, (size_t)c * sizeof(*nv));
	if (!nv)
		return -1;
	*v = nv;
	*cap = c;
	return 0;
}

/* Make room for `extra` more entries everywhere; -1 on ENOMEM. */
int
ksched__qix_reserve(struct qindex *ix, uint32_t extra)
{
	uint32_t need = ix->used + extra, nents = ix->nents + extra;

	while ((uint64_t)need * 2 > ix->nslots)
		if (hash_grow(ix) != 0)
			return -1;
	for (int h = 0; h < QIX_HEAPS; h++)
		if (grow_u32(&ix->heap[h].v, &ix->heap[h].cap, need))
			return -1;
	if (nents > ix->capents) {
		uint32_t cap = ix->capents ? ix->capents : 1024;
		struct qent *e;
		while (cap < nents)
			cap *= 2;
		e = ksched__realloc(ix->ents, (size_t)cap * sizeof(*e));
		if (!e)
			return -1;
		ix->ents = e;
		ix->capents = cap;
	}
	return grow_u32(&ix->freelist, &ix->capfree, ix->capents);
}

int
ksched__qix_add(struct qindex *ix, const struct qent *e)
{
	uint32_t v;

	if (ksched__qix_reserve(ix, 1) != 0)
		return -1;
	v = ix->nfree ? ix->freelist[--ix->nfree] : ix->nents++;
	ix->ents[v] = *e;
	slot_insert(ix->slots, ix->nslots, e->id, v + 1);
	ix->used++;
	heap_push(ix, state_heap(e->state), v);
	return 0;
}

void
ksched__qix_del(struct qindex *ix, struct qent *e)
{
	uint32_t v = (uint32_t)(e - ix->ents);

	heap_remove(ix, state_heap(e->state), e->hpos);
	hash_remove(ix, e->id);
	ix->freelist[ix->nfree++] = v;
	ix->used--;
}

void
ksched__qix_move(struct qindex *ix, struct qent *e, uint8_t st, int64_t due)
{
	uint32_t v = (uint32_t)(e - ix->ents);

	heap_remove(ix, state_heap(e->state), e->hpos);
	e->state = st;
	e->due = due;
	heap_push(ix, state_heap(st), v);
}

void
ksched__qix_fix(struct qindex *ix, struct qent *e)
{
	int h = state_heap(e->state);

	heap_up(ix, h, e->hpos);
	heap_down(ix, h, e->hpos);
}

struct qent *
ksched__qix_top(const struct qindex *ix, int h)
{
	const struct qheap *hp = &ix->heap[h];

	return hp->n ? &ix->ents[hp->v[0]] : NULL;
}

/*
 * The first max READY entries in heap order, without popping: a small
 * auxiliary heap of candidate positions (the root, then the children of
 * each entry taken).  O(max log max).
 */
static bool
pos_less(const struct qindex *ix, uint32_t a, uint32_t b)
{
	const struct qheap *hp = &ix->heap[QIX_READY];

	return heap_less(ix, QIX_READY, hp->v[a], hp->v[b]);
}

static void
aux_push(const struct qindex *ix, uint32_t *aux, uint32_t *n, uint32_t pos)
{
	uint32_t i = (*n)++;

	while (i > 0 && pos_less(ix, pos, aux[(i - 1) / 2])) {
		aux[i] = aux[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	aux[i] = pos;
}

static uint32_t
aux_pop(const struct qindex *ix, uint32_t *aux, uint32_t *n)
{
	uint32_t top = aux[0], last = aux[--(*n)], i = 0;

	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && pos_less(ix, aux[c + 1], aux[c]))
			c++;
		if (!pos_less(ix, aux[c], last))
			break;
		aux[i] = aux[c];
		i = c;
	}
	if (*n)
		aux[i] = last;
	return top;
}

int
ksched__qix_ready_scan(const struct qindex *ix, size_t max, uint64_t *ids,
		       size_t *n)
{
	const struct qheap *hp = &ix->heap[QIX_READY];
	uint32_t *aux, naux = 0;

	*n = 0;
	if (!hp->n || !max)
		return 0;
	if (max > hp->n)
		max = hp->n;
	aux = ksched__malloc((2 * max + 1) * sizeof(*aux));
	if (!aux)
		return -1;
	aux_push(ix, aux, &naux, 0);
	while (*n < max && naux) {
		uint32_t pos = aux_pop(ix, aux, &naux);
		ids[(*n)++] = ix->ents[hp->v[pos]].id;
		if (2 * pos + 1 < hp->n)
			aux_push(ix, aux, &naux, 2 * pos + 1);
		if (2 * pos + 2 < hp->n)
			aux_push(ix, aux, &naux, 2 * pos + 2);
	}
	ksched__free(aux);
	return 0;
}
