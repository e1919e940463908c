/*
 * libksched - the simulator's workload: a list of jobs sorted by (submit,
 * id), with their strings in an arena.
 *
 * A million jobs must fit easily, so a job holds pointers only: names are
 * copied into large chunks (no malloc per job), users and kinds are
 * interned (a trace has a few hundred users and kinds for millions of
 * jobs), and only JSON lines jobs carry a full task spec.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "alloc.h"
#include "sim_trace_int.h"
#include "u64map.h"

#define CHUNK_MIN (64u << 10)

ksched_err
ksched__sim_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return KSCHED_EINVAL;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return KSCHED_EINVAL;
}

/* ---- strings ------------------------------------------------------------- */

const char *
ksched__sim_strdup(struct sim_strings *s, const char *str, size_t len)
{
	struct sim_chunk *c = s->chunks;
	char *p;

	if (!str || len == 0)
		return "";
	if (!c || c->cap - c->used < len + 1) {
		size_t cap = len + 1 > CHUNK_MIN ? len + 1 : CHUNK_MIN;

		c = ksched__malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = s->chunks;
		s->chunks = c;
	}
	p = c->data + c->used;
	memcpy(p, str, len);
	p[len] = '\0';
	c->used += len + 1;
	return p;
}

/* Double the intern table, rehashing what it holds. */
static int
intern_grow(struct sim_strings *s)
{
	size_t cap = s->tabcap ? s->tabcap * 2 : 64;
	const char **tab = ksched__calloc(cap, sizeof(*tab));

	if (!tab)
		return -1;
	for (size_t i = 0; i < s->tabcap; i++) {
		const char *str = s->tab[i];
		size_t j;

		if (!str)
			continue;
		j = XXH3_64bits(str, strlen(str)) & (cap - 1);
		while (tab[j])
			j = (j + 1) & (cap - 1);
		tab[j] = str;
	}
	ksched__free(s->tab);
	s->tab = tab;
	s->tabcap = cap;
	return 0;
}

const char *
ksched__sim_intern(struct sim_strings *s, const char *str)
{
	size_t len, j;
	const char *p;

	if (!str || !*str)
		return "";
	if (2 * (s->tabn + 1) > s->tabcap && intern_grow(s) != 0)
		return NULL;
	len = strlen(str);
	j = XXH3_64bits(str, len) & (s->tabcap - 1);
	for (; s->tab[j]; j = (j + 1) & (s->tabcap - 1))
		if (strcmp(s->tab[j], str) == 0)
			return s->tab[j];
	p = ksched__sim_strdup(s, str, len);
	if (!p)
		return NULL;
	s->tab[j] = p;
	s->tabn++;
	return p;
}

void
ksched__sim_strings_free(struct sim_strings *s)
{
	struct sim_chunk *c = s->chunks, *next;

	for (; c; c = next) {
		next = c->next;
		ksched__free(c);
	}
	ksched__free(s->tab);
	memset(s, 0, sizeof(*s));
}

/* ---- the container ------------------------------------------------------- */

void
ksched_sim_load_opts_init(struct ksched_sim_load_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->format = KSCHED_SIM_FORMAT_AUTO;
	o->swf_size = KSCHED_SWF_SIZE_ALLOCATED;
	o->swf_estimate = KSCHED_SWF_EST_REQUESTED;
	o->drop_bad = true;
}

ksched_err
ksched_sim_workload_new(const char *name, int64_t machines,
			ksched_sim_workload **out)
{
	ksched_sim_workload *w;

	*out = NULL;
	if (machines < 0)
		return KSCHED_EINVAL;
	w = ksched__calloc(1, sizeof(*w));
	if (!w)
		return KSCHED_ENOMEM;
	w->machines = machines;
	w->name = ksched__sim_strdup(&w->str, name, name ? strlen(name) : 0);
	if (!w->name) {
		ksched__free(w);
		return KSCHED_ENOMEM;
	}
	*out = w;
	return KSCHED_OK;
}

void
ksched_sim_workload_free(ksched_sim_workload *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		ksched_task_free((ksched_task *)w->jobs[i].spec);
	ksched__free(w->jobs);
	ksched__u64map_free(&w->ids);
	ksched__sim_strings_free(&w->str);
	ksched__free(w);
}

size_t
ksched_sim_workload_count(const ksched_sim_workload *w)
{
	return w ? w->n : 0;
}

const struct ksched_sim_job *
ksched_sim_workload_job(const ksched_sim_workload *w, size_t i)
{
	return w && i < w->n ? &w->jobs[i] : NULL;
}

const char *
ksched_sim_workload_name(const ksched_sim_workload *w)
{
	return w ? w->name : "";
}

size_t
ksched_sim_workload_dropped(const ksched_sim_workload *w)
{
	return w ? w->dropped : 0;
}

int64_t
ksched_sim_workload_machines(const ksched_sim_workload *w)
{
	return w ? w->machines : 0;
}

static int
job_cmp(const struct ksched_sim_job *a, const struct ksched_sim_job *b)
{
	if (a->submit_ms != b->submit_ms)
		return a->submit_ms < b->submit_ms ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return 0;
}

static int
job_qcmp(const void *a, const void *b)
{
	return job_cmp(a, b);
}

static int
id_qcmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Fill *dst from job with copied strings.  Every job gets a name (its id
 * in decimal when the caller gave none), so reports can always print one.
 */
static ksched_err
job_copy(ksched_sim_workload *w, struct ksched_sim_job *dst,
	 const struct ksched_sim_job *job, char *err, size_t errlen)
{
	char idbuf[32];
	const char *name = job->name;

	if (job->nodes < 1)
		return ksched__sim_err(err, errlen,
				       "job %" PRIu64 ": nodes must be >= 1 "
				       "(got %" PRId64 ")",
				       job->id, job->nodes);
	if (job->run_ms < 0)
		return ksched__sim_err(err, errlen,
				       "job %" PRIu64 ": run time must be >= 0 "
				       "(got %" PRId64 " ms)",
				       job->id, job->run_ms);
	if (!name || !*name) {
		snprintf(idbuf, sizeof(idbuf), "%" PRIu64, job->id);
		name = idbuf;
	}
	*dst = *job;
	dst->spec = NULL;
	dst->name = ksched__sim_strdup(&w->str, name, strlen(name));
	dst->user = ksched__sim_intern(&w->str, job->user);
	dst->kind = ksched__sim_intern(&w->str, job->kind);
	if (!dst->name || !dst->user || !dst->kind)
		return KSCHED_ENOMEM;
	return KSCHED_OK;
}

/* Room for one more job. */
static ksched_err
jobs_reserve(ksched_sim_workload *w)
{
	struct ksched_sim_job *v;
	size_t cap;

	if (w->n < w->cap)
		return KSCHED_OK;
	cap = w->cap ? w->cap * 2 : 256;
	v = ksched__realloc(w->jobs, cap * sizeof(*v));
	if (!v)
		return KSCHED_ENOMEM;
	w->jobs = v;
	w->cap = cap;
	return KSCHED_OK;
}

ksched_err
ksched__sim_put(ksched_sim_workload *w, const struct ksched_sim_job *job,
		ksched_task *spec, char *err, size_t errlen)
{
	ksched_err e = jobs_reserve(w);

	if (e == KSCHED_OK)
		e = job_copy(w, &w->jobs[w->n], job, err, errlen);
	if (e != KSCHED_OK)
		return e;
	w->jobs[w->n++].spec = spec;
	return KSCHED_OK;
}

ksched_err
ksched__sim_finish(ksched_sim_workload *w, char *err, size_t errlen)
{
	uint64_t *ids;
	size_t i;

	if (w->n < 2)
		return KSCHED_OK;
	ids = ksched__malloc(w->n * sizeof(*ids));
	if (!ids)
		return KSCHED_ENOMEM;
	for (i = 0; i < w->n; i++)
		ids[i] = w->jobs[i].id;
	qsort(ids, w->n, sizeof(*ids), id_qcmp);
	for (i = 1; i < w->n && ids[i] != ids[i - 1]; i++)
		;
	if (i < w->n) {
		uint64_t dup = ids[i];

		ksched__free(ids);
		return ksched__sim_err(err, errlen,
				       "job id %" PRIu64 " appears twice", dup);
	}
	ksched__free(ids);
	qsort(w->jobs, w->n, sizeof(*w->jobs), job_qcmp);
	return KSCHED_OK;
}

static int
id_mark(ksched_sim_workload *w, uint64_t id)
{
	if (id == UINT64_MAX) {
		w->max_id_taken = true;
		return 0;
	}
	return ksched__u64map_put(&w->ids, id + 1, w);
}

/* Whether id is taken, through a map built on the first call. */
static ksched_err
id_taken(ksched_sim_workload *w, uint64_t id, bool *taken)
{
	if (!w->ids_built) {
		for (size_t i = 0; i < w->n; i++) {
			if (id_mark(w, w->jobs[i].id) != 0) {
				ksched__u64map_free(&w->ids);
				ksched__u64map_init(&w->ids);
				w->max_id_taken = false;
				return KSCHED_ENOMEM;
			}
		}
		w->ids_built = true;
	}
	*taken = id == UINT64_MAX ? w->max_id_taken
				  : ksched__u64map_get(&w->ids, id + 1) != NULL;
	return KSCHED_OK;
}

ksched_err
ksched_sim_workload_add(ksched_sim_workload *w,
			const struct ksched_sim_job *job)
{
	struct ksched_sim_job j;
	ksched_task *spec = NULL;
	bool taken = false;
	size_t lo, hi;
	ksched_err e;

	if (!w || !job)
		return KSCHED_EINVAL;
	e = id_taken(w, job->id, &taken);
	if (e == KSCHED_OK && taken)
		e = KSCHED_EINVAL;
	if (e == KSCHED_OK)
		e = jobs_reserve(w);
	if (e == KSCHED_OK)
		e = job_copy(w, &j, job, NULL, 0);
	if (e == KSCHED_OK && job->spec)
		e = ksched_task_dup(job->spec, &spec);
	if (e == KSCHED_OK && id_mark(w, job->id) != 0)
		e = KSCHED_ENOMEM;
	if (e != KSCHED_OK) {
		ksched_task_free(spec);
		return e;
	}
	j.spec = spec;
	/* Generated workloads come in order: then this is an append. */
	lo = 0;
	hi = w->n;
	if (w->n && job_cmp(&w->jobs[w->n - 1], &j) > 0) {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (job_cmp(&w->jobs[mid], &j) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(&w->jobs[lo + 1], &w->jobs[lo],
			(w->n - lo) * sizeof(*w->jobs));
	} else {
		lo = w->n;
	}
	w->jobs[lo] = j;
	w->n++;
	return KSCHED_OK;
}
