/*
 * A tiny virtual-time loop for rigid jobs, shared by the backfilling tests
 * and benchmark: machines of one slot, jobs of `nodes` parts (gangs) that
 * run `run` ms and plan with `wall` ms.  Each step ends the jobs due, takes
 * the arrivals due, calls the policy's select hook directly (so its raw
 * output is checked, not what the driver would let through), checks every
 * placement and applies it, sending the events the core sends.
 * Header-only; include after the system headers, cmocka not needed.
 */
#ifndef KSCHED_RIGIDSIM_H
#define KSCHED_RIGIDSIM_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksched/policy.h"
#include "policy_int.h"

struct rs_job {
	uint64_t id;
	int64_t submit, run, wall, nodes;
	int64_t start; /* -1 until started */
	int64_t resv;  /* the reservation recorded for it, -1 if none */
};

struct rs_part {
	size_t job;
	uint32_t worker;
};

struct rs {
	const struct ksched_policy_ops *ops;
	void *state;
	size_t nm;
	struct ksched_worker_view *w, *vw;
	struct rs_job *jobs;
	size_t nj, next, done;
	size_t *queue, nq;
	struct rs_part *parts;
	size_t nparts;
	struct ksched_running_view *rv;
	struct ksched_task_view *qv;
	struct ksched_placement *out;
	size_t outmax;
	bool gang_one_entry; /* list a gang once in running, as the core */
	bool like_core;	     /* no select without a queue and a free worker,
				as ksched_policy_place */
	int64_t now;
	size_t selects;
	char err[256];
};

static inline void
rs_init(struct rs *s, const struct ksched_policy_ops *ops, void *state,
	size_t nm, struct rs_job *jobs, size_t nj)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->state = state;
	s->nm = nm;
	s->jobs = jobs;
	s->nj = nj;
	s->w = calloc(nm, sizeof(*s->w));
	s->vw = calloc(nm, sizeof(*s->vw));
	s->queue = calloc(nj + 1, sizeof(*s->queue));
	s->parts = calloc(nm + 1, sizeof(*s->parts));
	s->rv = calloc(nm + 1, sizeof(*s->rv));
	s->qv = calloc(nj + 1, sizeof(*s->qv));
	s->outmax = nm;
	s->out = calloc(nm + 1, sizeof(*s->out));
	for (size_t i = 0; i < nm; i++) {
		s->w[i].index = (uint32_t)i;
		s->w[i].id = "m";
		s->w[i].capacity = (struct ksched_resources){1000, 1024, 0, 1};
		s->w[i].state = KSCHED_WORKER_ALIVE;
	}
	for (size_t i = 0; i < nj; i++)
		jobs[i].start = jobs[i].resv = -1;
}

/* qsort order of jobs: submission, then id. */
static inline int
rs_cmp_submit(const void *x, const void *y)
{
	const struct rs_job *a = x, *b = y;

	if (a->submit != b->submit)
		return a->submit < b->submit ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static inline void
rs_free(struct rs *s)
{
	free(s->w);
	free(s->vw);
	free(s->queue);
	free(s->parts);
	free(s->rv);
	free(s->qv);
	free(s->out);
}

static inline void
rs_task_view(const struct rs *s, size_t j, struct ksched_task_view *t)
{
	const struct rs_job *jb = &s->jobs[j];

	memset(t, 0, sizeof(*t));
	t->id = jb->id;
	t->kind = "rigid";
	t->user = "";
	t->need = (struct ksched_resources){1000, 0, 0, 1};
	t->nodes = jb->nodes;
	t->submitted = jb->submit;
	t->est_runtime_ms = jb->wall;
	t->timeout_ms = jb->wall;
}

static inline void
rs_event(struct rs *s, enum ksched_policy_event_type type, size_t j,
	 uint32_t worker)
{
	struct ksched_task_view t;
	struct ksched_policy_event ev = {type, s->now, &t, &s->w[worker], true};

	rs_task_view(s, j, &t);
	s->ops->event(s->state, &ev);
}

/* End every job due now (all parts at once, as the core does). */
static inline void
rs_finish_due(struct rs *s)
{
	for (size_t i = 0; i < s->nparts;) {
		struct rs_job *jb = &s->jobs[s->parts[i].job];
		if (jb->start + jb->run > s->now) {
			i++;
			continue;
		}
		s->w[s->parts[i].worker].allocated =
		    (struct ksched_resources){0, 0, 0, 0};
		s->w[s->parts[i].worker].running = 0;
		rs_event(s, KSCHED_EV_TASK_FINISHED, s->parts[i].job,
			 s->parts[i].worker);
		s->parts[i] = s->parts[--s->nparts];
	}
}

/* The view: queue in order, workers with room, running parts. */
static inline struct ksched_select_view
rs_view(struct rs *s)
{
	struct ksched_select_view v = {s->now, s->qv, s->nq, s->vw,
				       0,      s->rv, 0};

	for (size_t i = 0; i < s->nq; i++)
		rs_task_view(s, s->queue[i], &s->qv[i]);
	for (size_t i = 0; i < s->nm; i++)
		if (s->w[i].allocated.slots < s->w[i].capacity.slots)
			s->vw[v.nworkers++] = s->w[i];
	for (size_t i = 0; i < s->nparts; i++) {
		const struct rs_part *pt = &s->parts[i];
		const struct rs_job *jb = &s->jobs[pt->job];
		bool listed = false;
		for (size_t k = 0; s->gang_one_entry && k < v.nrunning; k++)
			listed |= s->rv[k].task == jb->id;
		if (listed)
			continue;
		s->rv[v.nrunning++] = (struct ksched_running_view){
		    jb->id,    pt->worker,	     {1000, 0, 0, 1},
		    jb->start, jb->start + jb->wall, ""};
	}
	return v;
}

static inline size_t
rs_queued(const struct rs *s, uint64_t id)
{
	for (size_t i = 0; i < s->nq; i++)
		if (s->jobs[s->queue[i]].id == id)
			return i;
	return SIZE_MAX;
}

/* Check placement out[i..i+k) of one job and start it; -1 with err. */
static inline int
rs_start(struct rs *s, size_t i, size_t *k)
{
	size_t q = rs_queued(s, s->out[i].task), j;
	struct rs_job *jb;

	if (q == SIZE_MAX) {
		snprintf(s->err, sizeof(s->err),
			 "t=%" PRId64 " task %" PRIu64 " placed but not queued",
			 s->now, s->out[i].task);
		return -1;
	}
	j = s->queue[q];
	jb = &s->jobs[j];
	*k = (size_t)jb->nodes;
	for (size_t r = 0; r < *k; r++) {
		const struct ksched_placement *pl = &s->out[i + r];
		if (i + r >= s->outmax || pl->task != jb->id || pl->rank != r ||
		    pl->worker >= s->nm ||
		    s->w[pl->worker].allocated.slots != 0) {
			snprintf(s->err, sizeof(s->err),
				 "t=%" PRId64 " job %" PRIu64 " part %zu: bad "
				 "placement (rank, worker or a busy machine)",
				 s->now, jb->id, r);
			return -1;
		}
		s->w[pl->worker].allocated =
		    (struct ksched_resources){1000, 0, 0, 1};
		s->w[pl->worker].running = 1;
		s->parts[s->nparts++] = (struct rs_part){j, pl->worker};
	}
	jb->start = s->now;
	for (size_t r = 0; r < *k; r++)
		rs_event(s, KSCHED_EV_TASK_STARTED, j, s->out[i + r].worker);
	memmove(&s->queue[q], &s->queue[q + 1],
		(s->nq - q - 1) * sizeof(*s->queue));
	s->nq--;
	return 0;
}

/* The next time something happens: an arrival or an end; -1 if none. */
static inline int64_t
rs_next_time(const struct rs *s)
{
	int64_t t = s->next < s->nj ? s->jobs[s->next].submit : -1;

	for (size_t i = 0; i < s->nparts; i++) {
		const struct rs_job *jb = &s->jobs[s->parts[i].job];
		if (t < 0 || jb->start + jb->run < t)
			t = jb->start + jb->run;
	}
	return t;
}

/*
 * One batch at time now: ends, then arrivals, then one select.  The
 * optional hook runs after the select with the queue as it was shown.
 */
static inline int
rs_step(struct rs *s, void (*after)(struct rs *, void *), void *arg)
{
	struct ksched_select_view v;
	size_t n = 0;

	rs_finish_due(s);
	while (s->next < s->nj && s->jobs[s->next].submit <= s->now)
		s->queue[s->nq++] = s->next++;
	v = rs_view(s);
	if (s->like_core && (!v.nqueue || !v.nworkers))
		return 0;
	if (s->ops->select(s->state, &v, s->out, s->outmax, &n) != 0) {
		snprintf(s->err, sizeof(s->err), "select failed");
		return -1;
	}
	s->selects++;
	if (after)
		after(s, arg);
	for (size_t i = 0, k = 0; i < n; i += k) {
		if (rs_start(s, i, &k))
			return -1;
		s->done++;
	}
	return 0;
}

/* Run until every job started and ended, at most max_steps batches. */
static inline int
rs_run(struct rs *s, size_t max_steps, void (*after)(struct rs *, void *),
       void *arg)
{
	for (size_t step = 0; step < max_steps; step++) {
		int64_t t = rs_next_time(s);
		if (t < 0)
			break;
		s->now = t > s->now ? t : s->now;
		if (rs_step(s, after, arg))
			return -1;
	}
	if (s->done != s->nj || s->nparts) {
		snprintf(s->err, sizeof(s->err),
			 "%zu of %zu jobs started, %zu parts still running",
			 s->done, s->nj, s->nparts);
		return -1;
	}
	return 0;
}

#endif
