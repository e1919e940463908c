/*
 * libksched - the placement driver of policies (ksched_policy_place): the
 * policy's select, or compare + fit + filter + score, then checks of its
 * own.  Placement never trusts the policy: the driver checks state, fit,
 * labels and gang rules itself, on a local copy of the workers'
 * allocation.  See docs/policies.md.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "policy_int.h"

/* ---- placement ---------------------------------------------------------------- */

struct place {
	ksched_policy *p;
	const struct ksched_select_view *v;
	struct ksched_worker_view *ws; /* copies; allocation updated */
	struct ksched_placement *out;
	size_t outmax, n;
};

struct cand {
	size_t pos; /* in ws */
	uint32_t index;
	int score;
};

/* need fits in cap - used, every field, without overflow. */
static bool
fits(const struct ksched_resources *cap, const struct ksched_resources *used,
     const struct ksched_resources *need)
{
	return need->cpu_milli <= cap->cpu_milli - used->cpu_milli &&
	       need->mem_mb <= cap->mem_mb - used->mem_mb &&
	       need->gpus <= cap->gpus - used->gpus &&
	       need->slots <= cap->slots - used->slots;
}

void
ksched__res_add(struct ksched_resources *a, const struct ksched_resources *b,
		int s)
{
	a->cpu_milli += s * b->cpu_milli;
	a->mem_mb += s * b->mem_mb;
	a->gpus += s * b->gpus;
	a->slots += s * b->slots;
}

struct ksched_resources
ksched__policy_part_need(const struct ksched_task_view *t)
{
	struct ksched_resources r = t->need;

	r.slots = 1;
	return r;
}

bool
ksched__policy_task_sane(const struct ksched_task_view *t)
{
	return t->nodes >= 1 && t->need.cpu_milli >= 0 && t->need.mem_mb >= 0 &&
	       t->need.gpus >= 0 && (t->nselector == 0 || t->selector);
}

bool
ksched__policy_labels_match(const struct ksched_task_view *t,
			    const struct ksched_worker_view *w)
{
	for (size_t i = 0; i < t->nselector; i++) {
		const struct ksched_label_view *s = &t->selector[i];
		bool ok = false;

		for (size_t j = 0; !ok && j < w->nlabels && w->labels; j++)
			ok = s->key && w->labels[j].key &&
			     strcmp(s->key, w->labels[j].key) == 0 &&
			     strcmp(s->value ? s->value : "",
				    w->labels[j].value ? w->labels[j].value
						       : "") == 0;
		if (!ok)
			return false;
	}
	return true;
}

/* Whether one part of t may go on w now (state, fit, labels). */
static bool
worker_takes(const struct ksched_task_view *t,
	     const struct ksched_worker_view *w)
{
	struct ksched_resources need = ksched__policy_part_need(t);

	return w->state == KSCHED_WORKER_ALIVE &&
	       fits(&w->capacity, &w->allocated, &need) &&
	       ksched__policy_labels_match(t, w);
}

static void
take(struct place *pl, const struct ksched_task_view *t, size_t pos,
     uint32_t rank)
{
	struct ksched_resources need = ksched__policy_part_need(t);

	ksched__res_add(&pl->ws[pos].allocated, &need, 1);
	pl->ws[pos].running++;
	pl->out[pl->n].task = t->id;
	pl->out[pl->n].worker = pl->ws[pos].index;
	pl->out[pl->n].rank = rank;
	pl->n++;
}

/* Stable merge sort of queue positions with the policy's compare. */
static void
msort(struct place *pl, size_t *a, size_t *tmp, size_t n)
{
	const struct ksched_task_view *q = pl->v->queue;
	size_t h = n / 2, i = 0, j = h, k = 0;

	if (n < 2)
		return;
	msort(pl, a, tmp, h);
	msort(pl, a + h, tmp, n - h);
	while (i < h && j < n) {
		if (pl->p->ops.compare(pl->p->state, &q[a[j]], &q[a[i]]) < 0)
			tmp[k++] = a[j++];
		else
			tmp[k++] = a[i++];
	}
	while (i < h)
		tmp[k++] = a[i++];
	while (j < n)
		tmp[k++] = a[j++];
	memcpy(a, tmp, n * sizeof(*a));
}

static int
cand_cmp(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return a->index < b->index ? -1 : a->index > b->index;
}

static int
clamp_score(int s)
{
	return s < 0 ? 0 : s > KSCHED_SCORE_MAX ? KSCHED_SCORE_MAX : s;
}

/*
 * How many feasible workers a search for one part needs before it stops:
 * all of them (SIZE_MAX) for views of up to SAMPLE_MIN_VIEW workers or with
 * sample=0; otherwise, as kube-scheduler's percentageOfNodesToScore,
 * max(SAMPLE_MIN_FOUND, p% of the workers), p = max(5, 50 - workers / 125).
 */
static size_t
sample_want(const ksched_policy *p, size_t nw)
{
	size_t pct, want;

	if (!p->sample || nw <= SAMPLE_MIN_VIEW)
		return SIZE_MAX;
	pct = nw / 125 >= 45 ? 5 : 50 - nw / 125;
	want = nw / 100 * pct + nw % 100 * pct / 100;
	return want < SAMPLE_MIN_FOUND ? SAMPLE_MIN_FOUND : want;
}

/*
 * One part (nodes == 1): state, fit, labels, filter and score in one pass,
 * keeping the best (highest score, ties to the lowest index).  A sampled
 * search starts where the previous one stopped and stops after `want`
 * feasible workers; a full one scans the view in order.
 */
static void
place_one(struct place *pl, const struct ksched_task_view *t)
{
	const struct ksched_policy_ops *o = &pl->p->ops;
	const struct ksched_resources need = ksched__policy_part_need(t);
	size_t nw = pl->v->nworkers, want = sample_want(pl->p, nw);
	size_t start = want == SIZE_MAX ? 0 : pl->p->next_start % nw;
	size_t found = 0, best = SIZE_MAX, i;
	uint32_t best_index = 0;
	int best_score = -1;

	for (i = 0; i < nw && found < want; i++) {
		size_t pos = start + i < nw ? start + i : start + i - nw;
		const struct ksched_worker_view *w = &pl->ws[pos];
		int s;

		if (w->state != KSCHED_WORKER_ALIVE ||
		    !fits(&w->capacity, &w->allocated, &need) ||
		    (t->nselector && !ksched__policy_labels_match(t, w)) ||
		    (o->filter && !o->filter(pl->p->state, t, w)))
			continue;
		found++;
		s = o->score ? clamp_score(o->score(pl->p->state, t, w)) : 0;
		if (s > best_score ||
		    (s == best_score && w->index < best_index)) {
			best = pos;
			best_score = s;
			best_index = w->index;
		}
	}
	if (want != SIZE_MAX)
		pl->p->next_start = (start + i) % nw;
	if (best != SIZE_MAX)
		take(pl, t, best, 0);
}

/* Place one task (all its parts) through filter and score, or skip it. */
static void
place_task(struct place *pl, const struct ksched_task_view *t,
	   struct cand *cand)
{
	const struct ksched_policy_ops *o = &pl->p->ops;
	size_t nc = 0, k = (size_t)t->nodes;

	if (!ksched__policy_task_sane(t) || t->nodes > (int64_t)pl->v->nworkers ||
	    k > pl->outmax - pl->n)
		return;
	if (k == 1) {
		place_one(pl, t);
		return;
	}
	/* A gang: every feasible worker, the k best. */
	for (size_t i = 0; i < pl->v->nworkers; i++) {
		const struct ksched_worker_view *w = &pl->ws[i];
		if (worker_takes(t, w) &&
		    (!o->filter || o->filter(pl->p->state, t, w))) {
			cand[nc].pos = i;
			cand[nc].index = w->index;
			cand[nc++].score = 0;
		}
	}
	if (nc < k)
		return;
	for (size_t i = 0; o->score && i < nc; i++)
		cand[i].score = clamp_score(
			o->score(pl->p->state, t, &pl->ws[cand[i].pos]));
	qsort(cand, nc, sizeof(*cand), cand_cmp);
	for (size_t i = 0; i < k; i++)
		take(pl, t, cand[i].pos, (uint32_t)i);
}

static ksched_err
place_hooks(struct place *pl)
{
	const struct ksched_select_view *v = pl->v;
	size_t *order = ksched__calloc(v->nqueue + 1, sizeof(*order));
	size_t *tmp = ksched__calloc(v->nqueue + 1, sizeof(*tmp));
	struct cand *cand = ksched__calloc(v->nworkers + 1, sizeof(*cand));
	ksched_err rc = KSCHED_ENOMEM;

	if (order && tmp && cand) {
		for (size_t i = 0; i < v->nqueue; i++)
			order[i] = i;
		if (pl->p->ops.compare)
			msort(pl, order, tmp, v->nqueue);
		for (size_t i = 0; i < v->nqueue && pl->n < pl->outmax; i++)
			place_task(pl, &v->queue[order[i]], cand);
		rc = KSCHED_OK;
	}
	ksched__free(order);
	ksched__free(tmp);
	ksched__free(cand);
	return rc;
}

/* ---- select and its validation ---------------------------------------------- */

static const struct ksched_task_view *
find_task(const struct ksched_select_view *v, uint64_t id)
{
	for (size_t i = 0; i < v->nqueue; i++)
		if (v->queue[i].id == id)
			return &v->queue[i];
	return NULL;
}

static ptrdiff_t
find_worker(const struct place *pl, uint32_t index)
{
	for (size_t i = 0; i < pl->v->nworkers; i++)
		if (pl->ws[i].index == index)
			return (ptrdiff_t)i;
	return -1;
}

static void
drop(const struct place *pl, uint64_t task, const char *why)
{
	KLOG(KSCHED_LOG_DEBUG,
	     "msg=\"placement dropped\" policy=%s task=%" PRIu64
	     " reason=\"%s\"",
	     pl->p->name, task, why);
}

/* Why the group g[0..k) (one task, sorted by rank) is refused, or NULL. */
static const char *
check_group(const struct place *pl, const struct ksched_task_view *t,
	    const struct ksched_placement *g, size_t k, ptrdiff_t *pos)
{
	if (!t)
		return "task not in the queue";
	if (!ksched__policy_task_sane(t) || (int64_t)k != t->nodes)
		return "gang needs every rank exactly once";
	for (size_t i = 0; i < k; i++) {
		if (g[i].rank != i)
			return "gang ranks not 0..nodes-1";
		if ((pos[i] = find_worker(pl, g[i].worker)) < 0)
			return "worker not in the view";
		for (size_t j = 0; j < i; j++)
			if (pos[j] == pos[i])
				return "gang parts on one worker";
	}
	return NULL;
}

/* Accept the group g[0..k) whole, or drop it whole. */
static void
accept_group(struct place *pl, const struct ksched_placement *g, size_t k,
	     ptrdiff_t *pos)
{
	const struct ksched_task_view *t = find_task(pl->v, g[0].task);
	const char *why = check_group(pl, t, g, k, pos);
	size_t i;

	if (why) {
		drop(pl, g[0].task, why);
		return;
	}
	for (i = 0; i < k; i++) {
		if (!worker_takes(t, &pl->ws[pos[i]]))
			break;
		take(pl, t, (size_t)pos[i], (uint32_t)i);
	}
	if (i == k)
		return;
	/* Undo the parts taken: all or nothing. */
	for (size_t j = 0; j < i; j++) {
		struct ksched_resources need = ksched__policy_part_need(t);
		ksched__res_add(&pl->ws[pos[j]].allocated, &need, -1);
		pl->ws[pos[j]].running--;
		pl->n--;
	}
	drop(pl, t->id, "does not fit, worker not alive or labels differ");
}

/* Call select, then keep what passes, task by task in order of first
 * appearance, each task's parts sorted by rank. */
static ksched_err
place_select(struct place *pl)
{
	size_t m = 0, max = pl->outmax;
	struct ksched_placement *raw = ksched__calloc(max, sizeof(*raw));
	struct ksched_placement *g = ksched__calloc(max, sizeof(*g));
	ptrdiff_t *pos = ksched__calloc(max, sizeof(*pos));
	bool *done = ksched__calloc(max, sizeof(*done));
	ksched_err rc = KSCHED_ENOMEM;
	int src;

	if (!raw || !g || !pos || !done)
		goto out;
	rc = KSCHED_OK;
	if ((src = pl->p->ops.select(pl->p->state, pl->v, raw, max, &m))) {
		KLOG(KSCHED_LOG_WARN,
		     "msg=\"policy select failed\" policy=%s rc=%d", pl->p->name,
		     src);
		m = 0;
	}
	if (m > max) {
		KLOG(KSCHED_LOG_WARN,
		     "msg=\"policy select overran its output\" policy=%s "
		     "n=%zu outmax=%zu",
		     pl->p->name, m, max);
		m = max;
	}
	for (size_t i = 0; i < m; i++) {
		size_t k = 0, q;
		if (done[i])
			continue;
		for (size_t j = i; j < m; j++) {
			if (done[j] || raw[j].task != raw[i].task)
				continue;
			done[j] = true;
			for (q = k++; q > 0 && g[q - 1].rank > raw[j].rank; q--)
				g[q] = g[q - 1];
			g[q] = raw[j];
		}
		accept_group(pl, g, k, pos);
	}
out:
	ksched__free(raw);
	ksched__free(g);
	ksched__free(pos);
	ksched__free(done);
	return rc;
}

ksched_err
ksched_policy_place(ksched_policy *p, const struct ksched_select_view *view,
		    struct ksched_placement *out, size_t outmax, size_t *n)
{
	struct place pl;
	ksched_err rc;

	if (n)
		*n = 0;
	if (!p || !view || !n || (outmax && !out) ||
	    (view->nqueue && !view->queue) ||
	    (view->nworkers && !view->workers) ||
	    (view->nrunning && !view->running))
		return KSCHED_EINVAL;
	p->now = view->now;
	if (!outmax || !view->nqueue || !view->nworkers)
		return KSCHED_OK;
	memset(&pl, 0, sizeof(pl));
	pl.p = p;
	pl.v = view;
	pl.out = out;
	pl.outmax = outmax;
	pl.ws = ksched__memdup(view->workers,
			       view->nworkers * sizeof(*view->workers));
	if (!pl.ws)
		return KSCHED_ENOMEM;
	rc = p->ops.select ? place_select(&pl) : place_hooks(&pl);
	ksched__free(pl.ws);
	*n = rc == KSCHED_OK ? pl.n : 0;
	return rc;
}
