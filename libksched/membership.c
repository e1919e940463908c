/* libksched - membership: the worker table. */
#include <string.h>

#include "alloc.h"
#include "ksched/membership.h"

/*
 * A worker slot.  Its labels live in one allocation: nlabels key pointers,
 * then nlabels value pointers, then the strings they point at.
 */
struct member {
	bool used;
	struct ksched_worker_status st;
	char **labels; /* NULL when nlabels is 0 */
	size_t nlabels;
};

struct ksched_members {
	struct member *v;
	uint32_t n, cap, count;
};

static const char *const wstate_names[KSCHED_WORKER_STATE_COUNT] = {
	"alive", "suspect", "dead", "draining"};

const char *
ksched_worker_state_name(enum ksched_worker_state st)
{
	return (unsigned)st < KSCHED_WORKER_STATE_COUNT ? wstate_names[st]
							: "unknown";
}

bool
ksched_resources_fit(const struct ksched_resources *cap,
		     const struct ksched_resources *used,
		     const struct ksched_resources *need)
{
	return used->cpu_milli + need->cpu_milli <= cap->cpu_milli &&
	       used->mem_mb + need->mem_mb <= cap->mem_mb &&
	       used->gpus + need->gpus <= cap->gpus &&
	       used->slots + need->slots <= cap->slots;
}

ksched_err
ksched_members_new(ksched_members **out)
{
	*out = ksched__calloc(1, sizeof(**out));
	return *out ? KSCHED_OK : KSCHED_ENOMEM;
}

void
ksched_members_free(ksched_members *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; i < m->n; i++)
		ksched__free(m->v[i].labels);
	ksched__free(m->v);
	ksched__free(m);
}

ksched_err
ksched_members_find(const ksched_members *m, const char *id, uint32_t *index)
{
	for (uint32_t i = 0; i < m->n; i++) {
		if (m->v[i].used && strcmp(m->v[i].st.id, id) == 0) {
			*index = i;
			return KSCHED_OK;
		}
	}
	return KSCHED_ENOENT;
}

ksched_err
ksched_members_join(ksched_members *m, const char *id,
		    const struct ksched_resources *cap, int64_t now,
		    uint32_t *index)
{
	uint32_t i;

	if (!id || !*id || strlen(id) > KSCHED_WORKER_ID_MAX || !cap)
		return KSCHED_EINVAL;
	if (ksched_members_find(m, id, &i) == KSCHED_OK) {
		ksched__free(m->v[i].labels); /* a re-join starts afresh */
	} else {
		for (i = 0; i < m->n && m->v[i].used; i++)
			;
		if (i == m->cap) {
			uint32_t nc = m->cap ? m->cap * 2 : 16;
			struct member *v = ksched__realloc(m->v, nc * sizeof(*v));
			if (!v)
				return KSCHED_ENOMEM;
			m->v = v;
			m->cap = nc;
		}
		if (i == m->n)
			m->n++;
		m->count++;
	}
	memset(&m->v[i], 0, sizeof(m->v[i]));
	m->v[i].used = true;
	strcpy(m->v[i].st.id, id);
	m->v[i].st.capacity = *cap;
	m->v[i].st.last_seen = now;
	*index = i;
	return KSCHED_OK;
}

ksched_err
ksched_members_leave(ksched_members *m, uint32_t index)
{
	if (!ksched_members_exists(m, index))
		return KSCHED_ENOENT;
	m->v[index].used = false;
	ksched__free(m->v[index].labels);
	m->v[index].labels = NULL;
	m->v[index].nlabels = 0;
	m->count--;
	while (m->n && !m->v[m->n - 1].used)
		m->n--;
	return KSCHED_OK;
}

uint32_t
ksched_members_count(const ksched_members *m)
{
	return m->count;
}

uint32_t
ksched_members_capacity(const ksched_members *m)
{
	return m->n;
}

bool
ksched_members_exists(const ksched_members *m, uint32_t index)
{
	return index < m->n && m->v[index].used;
}

ksched_err
ksched_members_alloc(ksched_members *m, uint32_t index,
		     const struct ksched_resources *need)
{
	struct ksched_worker_status *w;

	if (!ksched_members_exists(m, index))
		return KSCHED_ENOENT;
	w = &m->v[index].st;
	if (!ksched_resources_fit(&w->capacity, &w->allocated, need))
		return KSCHED_ENOSPC;
	w->allocated.cpu_milli += need->cpu_milli;
	w->allocated.mem_mb += need->mem_mb;
	w->allocated.gpus += need->gpus;
	w->allocated.slots += need->slots;
	w->running++;
	return KSCHED_OK;
}

static int64_t
sub0(int64_t a, int64_t b)
{
	return a > b ? a - b : 0;
}

void
ksched_members_release(ksched_members *m, uint32_t index,
		       const struct ksched_resources *need,
		       enum ksched_outcome outcome)
{
	struct ksched_worker_status *w;

	if (!ksched_members_exists(m, index))
		return;
	w = &m->v[index].st;
	w->allocated.cpu_milli = sub0(w->allocated.cpu_milli, need->cpu_milli);
	w->allocated.mem_mb = sub0(w->allocated.mem_mb, need->mem_mb);
	w->allocated.gpus = sub0(w->allocated.gpus, need->gpus);
	w->allocated.slots = sub0(w->allocated.slots, need->slots);
	if (w->running)
		w->running--;
	if (outcome == KSCHED_OUTCOME_COMPLETED)
		w->completed++;
	else if (outcome == KSCHED_OUTCOME_FAILED)
		w->failed++;
}

void
ksched_members_seen(ksched_members *m, uint32_t index, int64_t now,
		    double load)
{
	if (!ksched_members_exists(m, index))
		return;
	m->v[index].st.last_seen = now;
	m->v[index].st.load = load;
}

void
ksched_members_set_state(ksched_members *m, uint32_t index,
			 enum ksched_worker_state st)
{
	if (ksched_members_exists(m, index))
		m->v[index].st.state = st;
}

ksched_err
ksched_members_status(const ksched_members *m, uint32_t index,
		      struct ksched_worker_status *out)
{
	if (!ksched_members_exists(m, index))
		return KSCHED_ENOENT;
	*out = m->v[index].st;
	return KSCHED_OK;
}

/* labels_copy: the one block of n labels (see struct member), or NULL. */
static char **
labels_copy(const char *const *keys, const char *const *values, size_t n)
{
	size_t size = 2 * n * sizeof(char *), len;
	char **v, *p;

	for (size_t i = 0; i < n; i++)
		size += strlen(keys[i]) + strlen(values[i]) + 2;
	if (!(v = ksched__malloc(size)))
		return NULL;
	p = (char *)(v + 2 * n);
	for (size_t i = 0; i < 2 * n; i++) {
		const char *s = i < n ? keys[i] : values[i - n];

		len = strlen(s) + 1;
		v[i] = memcpy(p, s, len);
		p += len;
	}
	return v;
}

ksched_err
ksched_members_set_labels(ksched_members *m, uint32_t index,
			  const char *const *keys, const char *const *values,
			  size_t n)
{
	char **v = NULL;

	if (!m || (n && (!keys || !values)))
		return KSCHED_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!keys[i] || !values[i])
			return KSCHED_EINVAL;
	if (!ksched_members_exists(m, index))
		return KSCHED_ENOENT;
	if (n > SIZE_MAX / (4 * sizeof(char *)))
		return KSCHED_ENOMEM;
	if (n && !(v = labels_copy(keys, values, n)))
		return KSCHED_ENOMEM;
	ksched__free(m->v[index].labels);
	m->v[index].labels = v;
	m->v[index].nlabels = n;
	return KSCHED_OK;
}

size_t
ksched_members_labels(const ksched_members *m, uint32_t index,
		      const char *const **keys, const char *const **values)
{
	const struct member *w;
	size_t n = 0;

	if (keys)
		*keys = NULL;
	if (values)
		*values = NULL;
	if (!m || !ksched_members_exists(m, index))
		return 0;
	w = &m->v[index];
	if ((n = w->nlabels) != 0) {
		if (keys)
			*keys = (const char *const *)w->labels;
		if (values)
			*values = (const char *const *)w->labels + n;
	}
	return n;
}
