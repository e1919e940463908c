/*
 * libksched - what the rigid-job policies (policy_backfill.c) see of the
 * cluster in one select: the machines, the running parts and the profile
 * (plan.h), rebuilt from the view; and what they keep from the events:
 * each running task's parts (from TASK_STARTED events, so that a host
 * listing a gang once in the running view is planned right too) and the
 * parts that ended since the last select.
 *
 * Most selects of a lightly loaded cluster need no profile: while the
 * tasks in order fit on the view's free workers, they start there
 * (ksched__bf_start_free), and the profile is built only for the first
 * task that does not.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backfill.h"

#define FOREVER KSCHED__PLAN_FOREVER

int
ksched__bf_grow(void *pp, size_t *cap, size_t n, size_t sz)
{
	void **p = pp, *q;
	size_t c = *cap;

	if (n <= c)
		return 0;
	c = n < 16 ? 16 : n * 2;
	if (!(q = ksched__realloc(*p, c * sz)))
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

int64_t
ksched__bf_walltime(const struct ksched_task_view *t)
{
	if (t->timeout_ms > 0)
		return t->timeout_ms;
	if (t->est_runtime_ms > 0)
		return t->est_runtime_ms;
	return FOREVER;
}

static bool
sane(const struct ksched_task_view *t)
{
	return ksched__policy_task_sane(t) &&
	       t->nodes <= (int64_t)KSCHED__BF_MAX_INDEX;
}

static int64_t
pos0(int64_t x)
{
	return x > 0 ? x : 0;
}

static bool
fits(const struct ksched_resources *room, const struct ksched_resources *need)
{
	return need->cpu_milli <= room->cpu_milli &&
	       need->mem_mb <= room->mem_mb && need->gpus <= room->gpus &&
	       need->slots <= room->slots;
}

/* ---- events -------------------------------------------------------------- */

/* Remember a worker's capacity (machines seen only through running parts
 * need it). */
static void
cache_worker(struct ksched__bf *bf, const struct ksched_worker_view *w,
	     bool known)
{
	size_t n = bf->nwc;

	if (w->index >= KSCHED__BF_MAX_INDEX)
		return;
	if (w->index >= n) {
		if (!known ||
		    ksched__bf_grow(&bf->wc, &bf->nwc, (size_t)w->index + 1,
				    sizeof(*bf->wc)))
			return;
		memset(bf->wc + n, 0, (bf->nwc - n) * sizeof(*bf->wc));
	}
	bf->wc[w->index].cap = w->capacity;
	bf->wc[w->index].known = known;
}

/* Add the worker of a TASK_STARTED to the task's live parts. */
static void
live_started(struct ksched__bf *bf, const struct ksched_policy_event *ev)
{
	uint64_t id = ev->task->id;
	struct ksched__bf_live *l = ksched__u64map_get(&bf->live, id);
	uint32_t worker = ev->worker->index;

	for (uint32_t i = 0; l && i < l->n; i++)
		if (l->w[i] == worker)
			return;
	if (!l || l->n == l->cap) {
		uint32_t cap = l ? l->cap * 2 : 4;
		struct ksched__bf_live *nl =
		    ksched__realloc(l, sizeof(*l) + cap * sizeof(l->w[0]));
		if (!nl)
			return;
		if (!l)
			nl->n = 0;
		nl->cap = cap;
		if (ksched__u64map_put(&bf->live, id, nl)) {
			ksched__u64map_del(&bf->live, id);
			ksched__free(nl);
			return;
		}
		l = nl;
	}
	l->stamp = bf->gen;
	l->end = ksched__plan_end(ev->now, ksched__bf_walltime(ev->task));
	l->need = ksched__policy_part_need(ev->task);
	l->w[l->n++] = worker;
}

/* A task ended: its parts go to the list of those ended since the last
 * select (conservative plans arrivals it did not see with them). */
static void
live_finished(struct ksched__bf *bf, uint64_t id)
{
	struct ksched__bf_live *l = ksched__u64map_del(&bf->live, id);

	bf->ended = true;
	if (!l)
		return;
	if (bf->ngone + l->n <= KSCHED__BF_MAX_INDEX &&
	    !ksched__bf_grow(&bf->gone, &bf->gonecap, bf->ngone + l->n,
			     sizeof(*bf->gone)))
		for (uint32_t i = 0; i < l->n; i++)
			bf->gone[bf->ngone++] = (struct ksched__bf_part){
			    id, l->w[i], 0, l->end, l->need};
	ksched__free(l);
}

void
ksched__bf_event(struct ksched__bf *bf, const struct ksched_policy_event *ev)
{
	if (ev->worker)
		cache_worker(bf, ev->worker, ev->type != KSCHED_EV_WORKER_LEFT);
	if (!ev->task || !ev->task->id)
		return;
	if (ev->type == KSCHED_EV_TASK_STARTED && ev->worker)
		live_started(bf, ev);
	else if (ev->type == KSCHED_EV_TASK_FINISHED)
		live_finished(bf, ev->task->id);
}

static void
free_map(struct u64map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			ksched__free(m->slots[i].val);
	ksched__u64map_free(m);
}

void
ksched__bf_free_maps(struct ksched__bf *bf)
{
	free_map(&bf->live);
	free_map(&bf->resv);
}

/*
 * Forget running tasks whose FINISHED never came: right after a build,
 * every task of the running view has this select's stamp (plan_running),
 * and tasks started by this select have no record yet.  Every
 * PRUNE_EVERY builds, so the sweep of the map costs little.
 */
#define PRUNE_EVERY 256

static void
prune(struct ksched__bf *bf)
{
	struct u64map *m = &bf->live;

	if (++bf->builds % PRUNE_EVERY)
		return;
	for (size_t i = 0; i < m->cap;) {
		struct ksched__bf_live *l = m->slots[i].val;
		if (m->slots[i].key && l->stamp != bf->gen) {
			/* Deletion shifts a later slot here: look again. */
			ksched__free(ksched__u64map_del(m, m->slots[i].key));
			continue;
		}
		i++;
	}
}

/* ---- starts without a profile -------------------------------------------- */

static int grow_machines(struct ksched__bf *bf, size_t n);

static int
cmp_free(const void *x, const void *y)
{
	const struct ksched__bf_free *a = x, *b = y;

	return a->w->index < b->w->index ? -1 : a->w->index > b->w->index;
}

/* The view's workers by index, with their room now. */
static int
free_workers(struct ksched__bf *bf, const struct ksched_select_view *v)
{
	bool sorted = true;

	if (ksched__bf_grow(&bf->fw, &bf->fwcap, v->nworkers + 1,
			    sizeof(*bf->fw)) ||
	    grow_machines(bf, v->nworkers + 1))
		return -1;
	bf->nfw = v->nworkers;
	for (size_t i = 0; i < v->nworkers; i++) {
		bf->fw[i].w = &v->workers[i];
		bf->fw[i].free = v->workers[i].capacity;
		ksched__res_add(&bf->fw[i].free, &v->workers[i].allocated, -1);
		sorted &= !i || v->workers[i - 1].index < v->workers[i].index;
	}
	if (!sorted)
		qsort(bf->fw, bf->nfw, sizeof(*bf->fw), cmp_free);
	return 0;
}

/* The lowest-index free workers for t's parts into pick; false if fewer
 * than nodes. */
static bool
free_fit(struct ksched__bf *bf, const struct ksched_task_view *t)
{
	struct ksched_resources need = ksched__policy_part_need(t);
	size_t k = (size_t)t->nodes, got = 0;

	if (k > bf->nfw)
		return false;
	for (size_t j = 0; j < bf->nfw && got < k; j++) {
		const struct ksched_worker_view *w = bf->fw[j].w;
		if (w->state == KSCHED_WORKER_ALIVE &&
		    fits(&bf->fw[j].free, &need) &&
		    (!t->nselector || ksched__policy_labels_match(t, w)))
			bf->pick[got++] = (uint32_t)j;
	}
	return got == k;
}

/* Start t on the free workers in pick; remember its parts for the
 * profile.  false if out is full. */
static bool
free_emit(struct ksched__bf_round *r, const struct ksched_task_view *t)
{
	struct ksched__bf *bf = r->bf;
	struct ksched_resources need = ksched__policy_part_need(t);
	int64_t end = ksched__plan_end(r->v->now, ksched__bf_walltime(t));
	size_t k = (size_t)t->nodes;

	if (k > r->outmax - r->n ||
	    ksched__bf_grow(&bf->parts, &bf->partscap, bf->nparts + k,
			    sizeof(*bf->parts)))
		return false;
	for (size_t i = 0; i < k; i++) {
		struct ksched__bf_free *f = &bf->fw[bf->pick[i]];
		ksched__res_add(&f->free, &need, -1);
		bf->parts[bf->nparts++] =
		    (struct ksched__bf_part){t->id, f->w->index, 0, end, need};
		r->out[r->n++] =
		    (struct ksched_placement){t->id, f->w->index, (uint32_t)i};
	}
	return true;
}

size_t
ksched__bf_start_free(struct ksched__bf_round *r, bool skip_nowall)
{
	struct ksched__bf *bf = r->bf;
	const struct ksched_select_view *v = r->v;
	size_t i;

	bf->nparts = 0; /* the parts started here, until the build */
	if (free_workers(bf, v))
		return 0;
	for (i = 0; i < v->nqueue; i++) {
		const struct ksched_task_view *t = &v->queue[r->order[i]];
		if (skip_nowall && ksched__bf_walltime(t) == FOREVER)
			continue;
		if (!sane(t) || !free_fit(bf, t) || !free_emit(r, t))
			break;
	}
	return i;
}

/* ---- the machines -------------------------------------------------------- */

/* Grow the arrays indexed by worker index to hold index. */
static int
grow_index(struct ksched__bf *bf, uint32_t index)
{
	size_t n = (size_t)index * 2 + 16;
	uint64_t *mark;
	uint32_t *pos;

	if (index < bf->nidx)
		return 0;
	if (!(mark = ksched__realloc(bf->mark, n * sizeof(*mark))))
		return -1;
	bf->mark = mark;
	if (!(pos = ksched__realloc(bf->pos, n * sizeof(*pos))))
		return -1;
	bf->pos = pos;
	memset(mark + bf->nidx, 0, (n - bf->nidx) * sizeof(*mark));
	bf->nidx = n;
	return 0;
}

/* Grow the arrays kept per machine to hold n machines. */
static int
grow_machines(struct ksched__bf *bf, size_t n)
{
	size_t c = n * 2 + 16;
	void *a, *b, *d, *e, *f;

	if (n <= bf->mscap)
		return 0;
	a = ksched__realloc(bf->ids, c * sizeof(*bf->ids));
	if (a)
		bf->ids = a;
	b = ksched__realloc(bf->mv, c * sizeof(*bf->mv));
	if (b)
		bf->mv = b;
	d = ksched__realloc(bf->known, c * sizeof(*bf->known));
	if (d)
		bf->known = d;
	e = ksched__realloc(bf->usable, c * sizeof(*bf->usable));
	if (e)
		bf->usable = e;
	f = ksched__realloc(bf->pick, c * sizeof(*bf->pick));
	if (f)
		bf->pick = f;
	if (!a || !b || !d || !e || !f)
		return -1;
	bf->mscap = c;
	return 0;
}

static int
note_machine(struct ksched__bf *bf, uint32_t index, size_t *nids, uint32_t *max)
{
	if (index >= KSCHED__BF_MAX_INDEX)
		return 0; /* beyond what is tracked: not a machine */
	if (grow_index(bf, index))
		return -1;
	if (bf->mark[index] == bf->gen)
		return 0;
	if (grow_machines(bf, *nids + 1))
		return -1;
	bf->mark[index] = bf->gen;
	bf->ids[(*nids)++] = index;
	*max = index > *max ? index : *max;
	return 0;
}

static int
cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

bool
ksched__bf_is_machine(const struct ksched__bf *bf, uint32_t index)
{
	return index < bf->nidx && bf->mark[index] == bf->gen;
}

/* Every worker of the view, of a running part, of a running gang, in
 * index order (a scan of the marks when indices are dense, else a sort). */
static int
collect_machines(struct ksched__bf *bf, const struct ksched_select_view *v,
		 size_t *nm)
{
	size_t n = 0;
	uint32_t max = 0;

	if (grow_machines(bf, 1))
		return -1;
	for (size_t i = 0; i < v->nworkers; i++)
		if (note_machine(bf, v->workers[i].index, &n, &max))
			return -1;
	for (size_t i = 0; i < v->nrunning; i++) {
		const struct ksched__bf_live *l =
		    ksched__u64map_get(&bf->live, v->running[i].task);
		if (note_machine(bf, v->running[i].worker, &n, &max))
			return -1;
		for (uint32_t j = 0; l && j < l->n; j++)
			if (note_machine(bf, l->w[j], &n, &max))
				return -1;
	}
	if (n && (size_t)max < 4 * n + 64) {
		size_t k = 0;
		for (uint32_t ix = 0; ix <= max; ix++)
			if (bf->mark[ix] == bf->gen)
				bf->ids[k++] = ix;
	} else if (n) {
		qsort(bf->ids, n, sizeof(*bf->ids), cmp_u32);
	}
	for (size_t m = 0; m < n; m++) {
		bf->pos[bf->ids[m]] = (uint32_t)m;
		bf->mv[m] = NULL;
		memset(&bf->known[m], 0, sizeof(bf->known[m]));
	}
	for (size_t i = 0; i < v->nworkers; i++)
		if (v->workers[i].index < KSCHED__BF_MAX_INDEX)
			bf->mv[bf->pos[v->workers[i].index]] = &v->workers[i];
	*nm = n;
	return 0;
}

/* ---- the profile --------------------------------------------------------- */

/* Plan one running part on worker index until end (known: it is part of
 * the view's allocation). */
static int
plan_part(struct ksched__bf *bf, int64_t now, uint32_t index, int64_t end,
	  const struct ksched_resources *need, bool known)
{
	uint32_t m;

	if (!ksched__bf_is_machine(bf, index))
		return 0;
	m = bf->pos[index];
	if (known)
		ksched__res_add(&bf->known[m], need, 1);
	return ksched__plan_add(&bf->plan, now, end, &m, 1, need, 1);
}

static bool
has_worker(const struct ksched__bf_live *l, uint32_t w)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (l->w[i] == w)
			return true;
	return false;
}

/*
 * The running parts, each once, with their planned ends (an unknown end
 * is for ever, one already past is "any moment now"): the view's entries,
 * and the other workers of their tasks from TASK_STARTED events.
 */
static int
plan_running(struct ksched__bf *bf, const struct ksched_select_view *v)
{
	for (size_t i = 0; i < v->nrunning; i++) {
		const struct ksched_running_view *r = &v->running[i];
		struct ksched__bf_live *l =
		    ksched__u64map_get(&bf->live, r->task);
		struct ksched_resources need = r->need;
		int64_t end = r->expected_end <= 0	  ? FOREVER
			      : r->expected_end <= v->now ? v->now + 1
							  : r->expected_end;

		need.slots = 1;
		if (l && l->stamp != bf->gen) {
			l->stamp = bf->gen;
			for (uint32_t j = 0; j < l->n; j++)
				if (plan_part(bf, v->now, l->w[j], end, &need,
					      true))
					return -1;
		}
		if ((!l || !has_worker(l, r->worker)) &&
		    plan_part(bf, v->now, r->worker, end, &need, true))
			return -1;
	}
	return 0;
}

/* Capacities, and what is in use now that no running part explains. */
static int
plan_machines(struct ksched__bf *bf, const struct ksched_select_view *v)
{
	struct ksched__plan *p = &bf->plan;

	for (size_t m = 0; m < p->nm; m++) {
		const struct ksched_worker_view *w = bf->mv[m];
		uint32_t ix = bf->ids[m], mm = (uint32_t)m;
		struct ksched_resources x = bf->known[m];
		int64_t until = FOREVER;

		p->index[m] = ix;
		if (w)
			p->cap[m] = w->capacity;
		else if (ix < bf->nwc && bf->wc[ix].known)
			p->cap[m] = bf->wc[ix].cap;
		else
			p->cap[m] = x; /* full while its parts run */
		if (w) {
			/* Allocated but not running here: busy for ever. */
			x.cpu_milli = w->allocated.cpu_milli - x.cpu_milli;
			x.mem_mb = w->allocated.mem_mb - x.mem_mb;
			x.gpus = w->allocated.gpus - x.gpus;
			x.slots = w->allocated.slots - x.slots;
		} else {
			/* Not in the view: it takes nothing now, whatever
			 * room the plan thinks it has. */
			x = p->cap[m];
			ksched__res_add(&x, &bf->known[m], -1);
			until = v->now + 1;
		}
		x = (struct ksched_resources){pos0(x.cpu_milli), pos0(x.mem_mb),
					      pos0(x.gpus), pos0(x.slots)};
		if ((x.cpu_milli || x.mem_mb || x.gpus || x.slots) &&
		    ksched__plan_add(p, v->now, until, &mm, 1, &x, 1))
			return -1;
	}
	return 0;
}

int
ksched__bf_build(struct ksched__bf_round *r)
{
	struct ksched__bf *bf = r->bf;
	const struct ksched_select_view *v = r->v;
	size_t nm;

	if (collect_machines(bf, v, &nm) ||
	    ksched__plan_reset(&bf->plan, v->now, nm) || plan_running(bf, v) ||
	    plan_machines(bf, v))
		return -1;
	prune(bf);
	/* What ksched__bf_start_free started in this select. */
	for (size_t i = 0; i < bf->nparts; i++) {
		const struct ksched__bf_part *pt = &bf->parts[i];
		if (plan_part(bf, v->now, pt->index, pt->end, &pt->need, false))
			return -1;
	}
	return 0;
}

/* ---- placing tasks in the profile ---------------------------------------- */

/* Which machines could ever take a part of t; how many. */
static size_t
usable_for(struct ksched__bf *bf, const struct ksched_task_view *t)
{
	const struct ksched__plan *p = &bf->plan;
	struct ksched_resources need = ksched__policy_part_need(t);
	size_t n = 0;

	for (size_t m = 0; m < p->nm; m++) {
		const struct ksched_worker_view *w = bf->mv[m];
		bool ok = fits(&p->cap[m], &need);
		/* Machines seen only through running parts are assumed to
		 * match (their labels are not in the view). */
		if (ok && w)
			ok = w->state == KSCHED_WORKER_ALIVE &&
			     (!t->nselector ||
			      ksched__policy_labels_match(t, w));
		bf->usable[m] = ok;
		n += ok;
	}
	return n;
}

bool
ksched__bf_plannable(struct ksched__bf *bf, const struct ksched_task_view *t)
{
	return sane(t) && usable_for(bf, t) >= (size_t)t->nodes;
}

int64_t
ksched__bf_first_fit(struct ksched__bf *bf, const struct ksched_task_view *t,
		     int64_t before)
{
	struct ksched_resources need = ksched__policy_part_need(t);
	int64_t wall = ksched__bf_walltime(t);

	/* fcfs and sjf only ask "free now": one slice decides. */
	if (bf->kind == KSCHED__BF_FCFS || bf->kind == KSCHED__BF_SJF)
		wall = 1;
	return ksched__plan_first_fit(&bf->plan, &need, (size_t)t->nodes, wall,
				      bf->usable, before, bf->pick);
}

bool
ksched__bf_emit(struct ksched__bf_round *r, const struct ksched_task_view *t)
{
	struct ksched__bf *bf = r->bf;
	struct ksched_resources need = ksched__policy_part_need(t);
	size_t k = (size_t)t->nodes;

	if (k > r->outmax - r->n ||
	    ksched__plan_add(
		&bf->plan, r->v->now,
		ksched__plan_end(r->v->now, ksched__bf_walltime(t)), bf->pick,
		k, &need, 1))
		return false;
	for (size_t i = 0; i < k; i++)
		r->out[r->n++] = (struct ksched_placement){
		    t->id, bf->plan.index[bf->pick[i]], (uint32_t)i};
	return true;
}
