/*
 * libksched - rigid-job policies for HPC workloads, as built-ins written
 * against the public ops table (select and event hooks):
 *
 *   fcfs          queue order; stop at the first task that does not fit
 *   sjf           shortest walltime first, same blocking rule
 *   easy          EASY backfilling as batsched's easy_bf: the queue head
 *                 holds a machine-level reservation; reserve=count for the
 *                 classic count-based rule
 *   conservative  batsched's conservative_bf: every queued task holds a
 *                 reservation, compressed when a task ended
 *
 * A machine is a worker index; the machines are the workers in the view
 * plus those of running parts.  Each select rebuilds the profile (plan.h)
 * from the running parts, each planned until its expected end.  A gang's
 * parts are learnt from TASK_STARTED events, so a running view that lists
 * one entry per gang still occupies every machine of it.  What each policy
 * keeps between calls, and why easy needs nothing more, is in
 * docs/policies.md ("Rigid jobs").
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "plan.h"
#include "policy_backfill.h"
#include "policy_int.h"
#include "u64map.h"

#define FOREVER KSCHED__PLAN_FOREVER
#define MAX_INDEX (1u << 20) /* worker indices the policies track */
#define PRUNE_EVERY 256	     /* selects between sweeps of stale gangs */

enum bf_kind { BF_FCFS, BF_SJF, BF_EASY, BF_CONS };

/* A running gang's workers, from TASK_STARTED events. */
struct gang {
	uint64_t stamp; /* the last select that saw it run */
	uint32_t n, cap;
	uint32_t w[];
};

/* A conservative reservation: start and worker indices. */
struct resv {
	int64_t start; /* -1: to be re-made */
	uint64_t gen;  /* the last select that saw the task queued */
	uint32_t k;
	uint32_t w[];
};

struct wcache {
	struct ksched_resources cap;
	bool known;
};

/* One running part: machine position, planned end, need. */
struct part {
	uint64_t task;
	uint32_t m;
	int64_t end;
	struct ksched_resources need;
};

struct sjf_key {
	int64_t wall, submitted;
	uint64_t id;
	size_t pos;
};

struct bf {
	const struct ksched_host *host;
	enum bf_kind kind;
	bool count;  /* easy: reserve=count */
	bool skip;   /* fcfs, sjf: skip=1 */
	bool ended;  /* a task finished since the last select */
	uint64_t gen; /* selects so far */
	struct ksched__plan plan;
	struct u64map gangs; /* task -> struct gang */
	struct u64map resv;  /* conservative: task -> struct resv */
	struct wcache *wc;   /* by worker index */
	size_t nwc;
	/* scratch of one select, grown as needed */
	uint64_t *mark; /* by worker index: gen when a machine */
	uint32_t *pos;	/* by worker index: machine position */
	size_t nidx;
	uint32_t *ids; /* worker indices of the machines */
	const struct ksched_worker_view **mv; /* per machine, or NULL */
	struct ksched_resources *known;	      /* per machine: running */
	bool *usable;
	uint32_t *pick;
	size_t mscap;
	struct part *parts;
	size_t nparts, partscap;
	struct sjf_key *keys;
	size_t keyscap;
	/* easy: the head's reservation in the last select */
	bool have_head;
	uint64_t head;
	int64_t head_start;
};

/* One select: the view and the output. */
struct round {
	struct bf *bf;
	const struct ksched_select_view *v;
	struct ksched_placement *out;
	size_t outmax, n;
};

/* ---- helpers ------------------------------------------------------------ */

static void
bflog(const struct bf *bf, int level, const char *msg)
{
	if (bf->host && bf->host->log)
		bf->host->log(bf->host->ctx, level, msg);
}

/* Grow *p to hold n elements of size sz; -1 when out of memory. */
static int
grow(void *pp, size_t *cap, size_t n, size_t sz)
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

/* The walltime backfilling plans with: timeout, else estimate, else for
 * ever (unknown). */
static int64_t
walltime(const struct ksched_task_view *t)
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
	return ksched__policy_task_sane(t) && t->nodes <= (int64_t)MAX_INDEX;
}

static int64_t
pos0(int64_t x)
{
	return x > 0 ? x : 0;
}

/* ---- state, options, events --------------------------------------------- */

static int bf_options(struct bf *bf, const struct ksched_host *h);

static int
bf_new(const struct ksched_host *h, void **state, enum bf_kind kind)
{
	struct bf *bf = ksched__calloc(1, sizeof(*bf));

	if (!bf)
		return -1;
	bf->host = h;
	bf->kind = kind;
	bf->ended = true; /* the first select walks the whole queue */
	ksched__plan_init(&bf->plan);
	ksched__u64map_init(&bf->gangs);
	ksched__u64map_init(&bf->resv);
	if (bf_options(bf, h)) {
		ksched__free(bf);
		return -1;
	}
	*state = bf;
	return 0;
}

static int
bf_options(struct bf *bf, const struct ksched_host *h)
{
	enum bf_kind kind = bf->kind;
	bool fs = kind == BF_FCFS || kind == BF_SJF;
	const char *s;

	/* Read only the options this policy has: the others stay "not
	 * used" and the loader warns about them. */
	s = fs && h && h->config ? h->config(h->ctx, "skip") : NULL;
	if (s) {
		if (strcmp(s, "0") && strcmp(s, "1")) {
			bflog(bf, 3, "option skip must be 0 (stop at the first "
				     "task that does not fit) or 1 (try the "
				     "others)");
			return -1;
		}
		bf->skip = s[0] == '1';
	}
	s = kind == BF_EASY && h && h->config ? h->config(h->ctx, "reserve")
					       : NULL;
	if (s) {
		if (strcmp(s, "machine") && strcmp(s, "count")) {
			bflog(bf, 3, "option reserve must be machine (the "
				     "head reserves given machines, as "
				     "batsched) or count (a number of them)");
			return -1;
		}
		bf->count = s[0] == 'c';
	}
	return 0;
}

static void
free_map(struct u64map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			ksched__free(m->slots[i].val);
	ksched__u64map_free(m);
}

static void
bf_destroy(void *state)
{
	struct bf *bf = state;

	if (!bf)
		return;
	ksched__plan_free(&bf->plan);
	free_map(&bf->gangs);
	free_map(&bf->resv);
	ksched__free(bf->wc);
	ksched__free(bf->mark);
	ksched__free(bf->pos);
	ksched__free(bf->ids);
	ksched__free(bf->mv);
	ksched__free(bf->known);
	ksched__free(bf->usable);
	ksched__free(bf->pick);
	ksched__free(bf->parts);
	ksched__free(bf->keys);
	ksched__free(bf);
}

static int
fcfs_create(const struct ksched_host *h, void **state)
{
	return bf_new(h, state, BF_FCFS);
}

static int
sjf_create(const struct ksched_host *h, void **state)
{
	return bf_new(h, state, BF_SJF);
}

static int
easy_create(const struct ksched_host *h, void **state)
{
	return bf_new(h, state, BF_EASY);
}

static int
cons_create(const struct ksched_host *h, void **state)
{
	return bf_new(h, state, BF_CONS);
}

/* Remember a worker's capacity (machines seen only through running parts
 * need it). */
static void
cache_worker(struct bf *bf, const struct ksched_worker_view *w, bool known)
{
	size_t n = bf->nwc;

	if (w->index >= MAX_INDEX)
		return;
	if (w->index >= n) {
		if (!known || grow(&bf->wc, &bf->nwc, (size_t)w->index + 1,
				   sizeof(*bf->wc)))
			return;
		memset(bf->wc + n, 0, (bf->nwc - n) * sizeof(*bf->wc));
	}
	bf->wc[w->index].cap = w->capacity;
	bf->wc[w->index].known = known;
}

/* Add worker to task's gang record. */
static void
gang_started(struct bf *bf, uint64_t task, uint32_t worker)
{
	struct gang *g = ksched__u64map_get(&bf->gangs, task);

	for (uint32_t i = 0; g && i < g->n; i++)
		if (g->w[i] == worker)
			return;
	if (!g || g->n == g->cap) {
		uint32_t cap = g ? g->cap * 2 : 4;
		struct gang *ng = ksched__realloc(g, sizeof(*g) +
							     cap * sizeof(g->w[0]));
		if (!ng)
			return;
		if (!g)
			ng->n = 0;
		ng->cap = cap;
		if (ksched__u64map_put(&bf->gangs, task, ng)) {
			ksched__u64map_del(&bf->gangs, task);
			ksched__free(ng);
			return;
		}
		g = ng;
	}
	g->stamp = bf->gen;
	g->w[g->n++] = worker;
}

static void
bf_event(void *state, const struct ksched_policy_event *ev)
{
	struct bf *bf = state;

	if (ev->worker)
		cache_worker(bf, ev->worker,
			     ev->type != KSCHED_EV_WORKER_LEFT);
	if (!ev->task || !ev->task->id)
		return;
	if (ev->type == KSCHED_EV_TASK_STARTED && ev->worker)
		gang_started(bf, ev->task->id, ev->worker->index);
	if (ev->type == KSCHED_EV_TASK_FINISHED) {
		bf->ended = true;
		ksched__free(ksched__u64map_del(&bf->gangs, ev->task->id));
	}
}

/* Forget gangs no select saw running for a while (a lost FINISHED). */
static void
prune_gangs(struct bf *bf)
{
	struct u64map *m = &bf->gangs;

	for (size_t i = 0; i < m->cap;) {
		struct gang *g = m->slots[i].val;
		if (m->slots[i].key && g->stamp + 2 < bf->gen) {
			/* Deletion shifts a later slot here: look again. */
			ksched__free(ksched__u64map_del(m, m->slots[i].key));
			continue;
		}
		i++;
	}
}

/* ---- the machines and the profile ----------------------------------------- */

/* Grow the arrays indexed by worker index to hold index. */
static int
grow_index(struct bf *bf, uint32_t index)
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
grow_machines(struct bf *bf, size_t n)
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
note_machine(struct bf *bf, uint32_t index, size_t *nids)
{
	if (index >= MAX_INDEX)
		return 0; /* beyond what is tracked: not a machine */
	if (grow_index(bf, index))
		return -1;
	if (bf->mark[index] == bf->gen)
		return 0;
	if (grow_machines(bf, *nids + 1))
		return -1;
	bf->mark[index] = bf->gen;
	bf->ids[(*nids)++] = index;
	return 0;
}

static int
cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

static int
cmp_part(const void *x, const void *y)
{
	const struct part *a = x, *b = y;

	if (a->task != b->task)
		return a->task < b->task ? -1 : 1;
	return a->m < b->m ? -1 : a->m > b->m;
}

static bool
is_machine(const struct bf *bf, uint32_t index)
{
	return index < bf->nidx && bf->mark[index] == bf->gen;
}

/* Every worker of the view, of a running part, of a running gang. */
static int
collect_machines(struct bf *bf, const struct ksched_select_view *v,
		 size_t *nm)
{
	size_t n = 0;

	if (grow_machines(bf, 1))
		return -1;
	for (size_t i = 0; i < v->nworkers; i++)
		if (note_machine(bf, v->workers[i].index, &n))
			return -1;
	for (size_t i = 0; i < v->nrunning; i++) {
		const struct gang *g = ksched__u64map_get(&bf->gangs,
							  v->running[i].task);
		if (note_machine(bf, v->running[i].worker, &n))
			return -1;
		for (uint32_t j = 0; g && j < g->n; j++)
			if (note_machine(bf, g->w[j], &n))
				return -1;
	}
	qsort(bf->ids, n, sizeof(*bf->ids), cmp_u32);
	for (size_t m = 0; m < n; m++) {
		bf->pos[bf->ids[m]] = (uint32_t)m;
		bf->mv[m] = NULL;
		memset(&bf->known[m], 0, sizeof(bf->known[m]));
	}
	for (size_t i = 0; i < v->nworkers; i++)
		if (v->workers[i].index < MAX_INDEX)
			bf->mv[bf->pos[v->workers[i].index]] = &v->workers[i];
	*nm = n;
	return 0;
}

static int
add_part(struct bf *bf, uint64_t task, uint32_t index, int64_t end,
	 const struct ksched_resources *need)
{
	if (!is_machine(bf, index))
		return 0;
	if (grow(&bf->parts, &bf->partscap, bf->nparts + 1, sizeof(*bf->parts)))
		return -1;
	bf->parts[bf->nparts++] =
		(struct part){task, bf->pos[index], end, *need};
	return 0;
}

/* The running parts (each gang part once), with their planned ends: an
 * unknown end is for ever, one already past is "any moment now". */
static int
collect_parts(struct bf *bf, const struct ksched_select_view *v)
{
	size_t k = 0;

	bf->nparts = 0;
	for (size_t i = 0; i < v->nrunning; i++) {
		const struct ksched_running_view *r = &v->running[i];
		struct gang *g = ksched__u64map_get(&bf->gangs, r->task);
		struct ksched_resources need = r->need;
		int64_t end = r->expected_end <= 0	 ? FOREVER
			      : r->expected_end <= v->now ? v->now + 1
							 : r->expected_end;

		need.slots = 1;
		if (add_part(bf, r->task, r->worker, end, &need))
			return -1;
		if (g)
			g->stamp = bf->gen;
		for (uint32_t j = 0; g && j < g->n; j++)
			if (add_part(bf, r->task, g->w[j], end, &need))
				return -1;
	}
	qsort(bf->parts, bf->nparts, sizeof(*bf->parts), cmp_part);
	for (size_t i = 0; i < bf->nparts; i++)
		if (!k || cmp_part(&bf->parts[k - 1], &bf->parts[i]))
			bf->parts[k++] = bf->parts[i];
	bf->nparts = k;
	return 0;
}

/* Capacities, and what is in use now that no running part explains. */
static int
plan_machines(struct bf *bf, const struct ksched_select_view *v)
{
	struct ksched__plan *p = &bf->plan;

	for (size_t m = 0; m < p->nm; m++) {
		const struct ksched_worker_view *w = bf->mv[m];
		uint32_t ix = bf->ids[m];
		struct ksched_resources x = bf->known[m];

		p->index[m] = ix;
		if (w)
			p->cap[m] = w->capacity;
		else if (ix < bf->nwc && bf->wc[ix].known)
			p->cap[m] = bf->wc[ix].cap;
		else
			p->cap[m] = x; /* full while its parts run */
		if (w) {
			/* Allocated but not running here: busy for ever. */
			x.cpu_milli = pos0(w->allocated.cpu_milli - x.cpu_milli);
			x.mem_mb = pos0(w->allocated.mem_mb - x.mem_mb);
			x.gpus = pos0(w->allocated.gpus - x.gpus);
			x.slots = pos0(w->allocated.slots - x.slots);
			if ((x.cpu_milli || x.mem_mb || x.gpus || x.slots) &&
			    ksched__plan_add(p, v->now, FOREVER, (uint32_t[]){(
						     uint32_t)m},
					     1, &x, 1))
				return -1;
			continue;
		}
		/* Not in the view: it takes nothing now, whatever room the
		 * plan thinks it has. */
		x = p->cap[m];
		ksched__res_add(&x, &bf->known[m], -1);
		x.cpu_milli = pos0(x.cpu_milli);
		x.mem_mb = pos0(x.mem_mb);
		x.gpus = pos0(x.gpus);
		x.slots = pos0(x.slots);
		if ((x.cpu_milli || x.mem_mb || x.gpus || x.slots) &&
		    ksched__plan_add(p, v->now, v->now + 1,
				     (uint32_t[]){(uint32_t)m}, 1, &x, 1))
			return -1;
	}
	return 0;
}

/* The profile of what runs now, on every machine in sight. */
static int
build(struct bf *bf, const struct ksched_select_view *v)
{
	size_t nm;

	if (collect_machines(bf, v, &nm) ||
	    ksched__plan_reset(&bf->plan, v->now, nm) || collect_parts(bf, v))
		return -1;
	for (size_t i = 0; i < bf->nparts; i++) {
		const struct part *pt = &bf->parts[i];
		ksched__res_add(&bf->known[pt->m], &pt->need, 1);
		if (ksched__plan_add(&bf->plan, v->now, pt->end, &pt->m, 1,
				     &pt->need, 1))
			return -1;
	}
	return plan_machines(bf, v);
}

/* Which machines could ever take a part of t; how many. */
static size_t
usable_for(struct bf *bf, const struct ksched_task_view *t)
{
	const struct ksched__plan *p = &bf->plan;
	struct ksched_resources need = ksched__policy_part_need(t);
	size_t n = 0;

	for (size_t m = 0; m < p->nm; m++) {
		const struct ksched_worker_view *w = bf->mv[m];
		const struct ksched_resources *c = &p->cap[m];
		bool ok = need.cpu_milli <= c->cpu_milli &&
			  need.mem_mb <= c->mem_mb && need.gpus <= c->gpus &&
			  need.slots <= c->slots;
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

/* Whether t is worth planning: sane, and enough machines could take it
 * (batsched rejects a job larger than the machine). */
static bool
plannable(struct bf *bf, const struct ksched_task_view *t)
{
	return sane(t) && usable_for(bf, t) >= (size_t)t->nodes;
}

/* Start t now on the machines in pick (ascending = ranks); false if out
 * is full. */
static bool
emit(struct round *r, const struct ksched_task_view *t)
{
	struct bf *bf = r->bf;
	struct ksched_resources need = ksched__policy_part_need(t);
	size_t k = (size_t)t->nodes;

	if (k > r->outmax - r->n ||
	    ksched__plan_add(&bf->plan, r->v->now,
			     ksched__plan_end(r->v->now, walltime(t)), bf->pick, k,
			     &need, 1))
		return false;
	for (size_t i = 0; i < k; i++)
		r->out[r->n++] = (struct ksched_placement){
			t->id, bf->plan.index[bf->pick[i]], (uint32_t)i};
	return true;
}

/* First fit of t in the plan (now_only: now or never); -1 if none. */
static int64_t
first_fit(struct bf *bf, const struct ksched_task_view *t, bool now_only)
{
	struct ksched_resources need = ksched__policy_part_need(t);
	int64_t wall = walltime(t);

	/* fcfs and sjf only ask "free now": one slice decides. */
	if (bf->kind == BF_FCFS || bf->kind == BF_SJF)
		wall = 1;
	return ksched__plan_first_fit(&bf->plan, &need, (size_t)t->nodes,
				      wall, bf->usable, now_only, bf->pick);
}

/* ---- fcfs and sjf ------------------------------------------------------------ */

static int
cmp_sjf(const void *x, const void *y)
{
	const struct sjf_key *a = x, *b = y;

	if (a->wall != b->wall)
		return a->wall < b->wall ? -1 : 1;
	if (a->submitted != b->submitted)
		return a->submitted < b->submitted ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static int
fcfs_round(struct round *r)
{
	struct bf *bf = r->bf;
	const struct ksched_select_view *v = r->v;

	if (grow(&bf->keys, &bf->keyscap, v->nqueue, sizeof(*bf->keys)))
		return -1;
	for (size_t i = 0; i < v->nqueue; i++)
		bf->keys[i] = (struct sjf_key){walltime(&v->queue[i]),
					       v->queue[i].submitted,
					       v->queue[i].id, i};
	if (bf->kind == BF_SJF)
		qsort(bf->keys, v->nqueue, sizeof(*bf->keys), cmp_sjf);
	for (size_t i = 0; i < v->nqueue; i++) {
		const struct ksched_task_view *t = &v->queue[bf->keys[i].pos];
		if (!plannable(bf, t))
			continue; /* can never run here: passed over */
		if (first_fit(bf, t, true) == v->now && emit(r, t))
			continue;
		if (!bf->skip || r->n == r->outmax)
			break;
	}
	return 0;
}

/* ---- easy ---------------------------------------------------------------------- */

/*
 * Count-based reservation: the earliest slice where k usable machines
 * have room for a part of the head at that instant (the running parts only
 * end, so it stays so), and how many machines are spare then.
 */
static int64_t
count_shadow(struct bf *bf, const struct ksched_task_view *t, size_t *extra)
{
	const struct ksched__plan *p = &bf->plan;
	struct ksched_resources need = ksched__policy_part_need(t);
	size_t k = (size_t)t->nodes;

	for (size_t s = 0; s < p->ns; s++) {
		size_t cnt = 0;
		for (size_t m = 0; m < p->nm; m++)
			cnt += bf->usable[m] &&
			       ksched__plan_fits(p, s, m, &need);
		if (cnt >= k) {
			*extra = cnt - k;
			return p->t[s];
		}
	}
	return -1;
}

/*
 * The head: start queue tasks while the first fits now; the first that
 * does not gets the reservation (machines, or a shadow time and spare
 * count).  Returns the queue position after the head.
 */
static size_t
easy_head(struct round *r, int64_t *shadow, size_t *extra)
{
	struct bf *bf = r->bf;
	const struct ksched_select_view *v = r->v;
	size_t i;

	for (i = 0; i < v->nqueue; i++) {
		const struct ksched_task_view *t = &v->queue[i];
		struct ksched_resources need = ksched__policy_part_need(t);
		int64_t wall = walltime(t), at;

		if (!plannable(bf, t))
			continue;
		at = bf->count ? first_fit(bf, t, true)
			       : first_fit(bf, t, false);
		if (at == v->now) {
			if (!emit(r, t))
				return v->nqueue; /* out is full */
			continue;
		}
		if (bf->count)
			at = count_shadow(bf, t, extra);
		if (at < 0)
			continue; /* never fits: passed over */
		if (!bf->count &&
		    ksched__plan_add(&bf->plan, at, ksched__plan_end(at, wall),
				     bf->pick, (size_t)t->nodes, &need, 1))
			return v->nqueue;
		bf->have_head = true;
		bf->head = t->id;
		bf->head_start = at;
		*shadow = at;
		return i + 1;
	}
	return i;
}

/*
 * batsched's easy_bf, recomputed from the view at each call: the head is
 * placed first fit (started while it can), then every later task is tried
 * in order and started if its first fit begins now.  Equivalent to the
 * stateful original for queue-order (FCFS) queues: see docs/policies.md.
 */
static int
easy_round(struct round *r)
{
	struct bf *bf = r->bf;
	const struct ksched_select_view *v = r->v;
	int64_t shadow = FOREVER;
	size_t extra = 0;

	bf->have_head = false;
	for (size_t i = easy_head(r, &shadow, &extra); i < v->nqueue; i++) {
		const struct ksched_task_view *t = &v->queue[i];
		if (r->n == r->outmax)
			break;
		if (!plannable(bf, t) || first_fit(bf, t, true) != v->now)
			continue;
		if (bf->count &&
		    ksched__plan_end(v->now, walltime(t)) > shadow) {
			if ((size_t)t->nodes > extra)
				continue;
			if (emit(r, t))
				extra -= (size_t)t->nodes;
			continue;
		}
		emit(r, t);
	}
	return 0;
}

/* ---- conservative ----------------------------------------------------------------- */

/* r's machines as positions in pick; false if one is gone. */
static bool
resv_positions(struct bf *bf, const struct resv *rv)
{
	if (rv->k > bf->plan.nm)
		return false;
	for (uint32_t i = 0; i < rv->k; i++) {
		if (!is_machine(bf, rv->w[i]))
			return false;
		bf->pick[i] = bf->pos[rv->w[i]];
	}
	return true;
}

/* Put the kept reservations of queued tasks back in the plan; *stale when
 * the queue must be walked (one is due, missed, or lost a machine). */
static int
cons_restore(struct round *r, bool *stale)
{
	struct bf *bf = r->bf;
	const struct ksched_select_view *v = r->v;

	for (size_t i = 0; i < v->nqueue; i++) {
		const struct ksched_task_view *t = &v->queue[i];
		struct resv *rv = ksched__u64map_get(&bf->resv, t->id);
		struct ksched_resources need = ksched__policy_part_need(t);

		if (!rv)
			continue;
		rv->gen = bf->gen;
		if (rv->start < v->now || rv->k != (uint32_t)t->nodes ||
		    !resv_positions(bf, rv)) {
			/* Missed (the core did not start it) or a machine
			 * left: re-made from scratch. */
			rv->start = -1;
			*stale = true;
			continue;
		}
		/* Due now: it keeps its place and the walk starts it. */
		*stale |= rv->start == v->now;
		if (ksched__plan_add(&bf->plan, rv->start,
				     ksched__plan_end(rv->start, walltime(t)),
				     bf->pick, rv->k, &need, 1))
			return -1;
	}
	/* Tasks no longer queued (started, cancelled) lose theirs. */
	for (size_t i = 0; i < bf->resv.cap;) {
		struct resv *rv = bf->resv.slots[i].val;
		if (bf->resv.slots[i].key && rv->gen != bf->gen) {
			ksched__free(ksched__u64map_del(&bf->resv,
							bf->resv.slots[i].key));
			continue;
		}
		i++;
	}
	return 0;
}

/* Re-make t's reservation first fit (taking its old one out first);
 * start it if that is now. */
static int
cons_place(struct round *r, const struct ksched_task_view *t)
{
	struct bf *bf = r->bf;
	struct resv *rv = ksched__u64map_get(&bf->resv, t->id);
	struct ksched_resources need = ksched__policy_part_need(t);
	int64_t wall = walltime(t), at;
	size_t k = (size_t)t->nodes;

	if (rv && rv->start >= 0 && resv_positions(bf, rv) &&
	    ksched__plan_add(&bf->plan, rv->start, ksched__plan_end(rv->start, wall),
			     bf->pick, rv->k, &need, -1))
		return -1;
	if ((at = first_fit(bf, t, false)) < 0) {
		ksched__free(ksched__u64map_del(&bf->resv, t->id));
		return 0; /* never fits */
	}
	if (!rv) {
		if (!(rv = ksched__malloc(sizeof(*rv) + k * sizeof(rv->w[0]))))
			return -1;
		if (ksched__u64map_put(&bf->resv, t->id, rv)) {
			ksched__free(rv);
			return -1;
		}
		rv->k = (uint32_t)k;
	}
	rv->gen = bf->gen;
	rv->start = at;
	for (size_t i = 0; i < k; i++)
		rv->w[i] = bf->plan.index[bf->pick[i]];
	if (at == r->v->now && emit(r, t))
		return 0;
	return ksched__plan_add(&bf->plan, at, ksched__plan_end(at, wall), bf->pick,
				k, &need, 1);
}

/*
 * batsched's conservative_bf.  Kept between calls: every queued task's
 * reservation (start, workers).  When a task ended since the last call
 * (or a kept reservation is due or lost a machine), the whole queue is
 * compressed in order, each task re-placed with the later ones still
 * holding theirs, so none moves later; otherwise only new tasks are placed.
 * Tasks without a walltime are never reserved or started.
 */
static int
cons_round(struct round *r)
{
	struct bf *bf = r->bf;
	const struct ksched_select_view *v = r->v;
	bool compress = bf->ended;

	if (cons_restore(r, &compress))
		return -1;
	for (size_t i = 0; i < v->nqueue; i++) {
		const struct ksched_task_view *t = &v->queue[i];
		if (walltime(t) == FOREVER || !plannable(bf, t) ||
		    (!compress && ksched__u64map_get(&bf->resv, t->id)))
			continue;
		if (cons_place(r, t))
			return -1;
	}
	return 0;
}

/* ---- select ---------------------------------------------------------------------- */

static int
bf_select(void *state, const struct ksched_select_view *v,
	  struct ksched_placement *out, size_t outmax, size_t *n)
{
	struct bf *bf = state;
	struct round r = {bf, v, out, outmax, 0};
	int rc;

	*n = 0;
	bf->gen++;
	if (build(bf, v)) {
		bflog(bf, 3, "out of memory building the schedule profile");
		return -1;
	}
	switch (bf->kind) {
	case BF_EASY:
		rc = easy_round(&r);
		break;
	case BF_CONS:
		rc = cons_round(&r);
		break;
	default:
		rc = fcfs_round(&r);
		break;
	}
	if (bf->gen % PRUNE_EVERY == 0)
		prune_gangs(bf);
	if (rc) {
		bflog(bf, 3, "out of memory planning reservations");
		return -1;
	}
	bf->ended = false;
	*n = r.n;
	return 0;
}

bool
ksched__backfill_reserved(const ksched_policy *p, uint64_t task,
			  int64_t *start)
{
	const char *name = ksched_policy_name(p);
	struct bf *bf = ksched__policy_state(p);
	const struct resv *rv;

	if (!name || !bf)
		return false;
	if (!strcmp(name, "easy") && bf->have_head && bf->head == task) {
		*start = bf->head_start;
		return true;
	}
	if (!strcmp(name, "conservative") &&
	    (rv = ksched__u64map_get(&bf->resv, task)) && rv->start >= 0) {
		*start = rv->start;
		return true;
	}
	return false;
}

#define BF_OPS(nm, mk)                                                       \
	{                                                                     \
		.abi = KSCHED_POLICY_ABI,                                     \
		.size = sizeof(struct ksched_policy_ops), .name = nm,         \
		.create = mk, .destroy = bf_destroy, .select = bf_select,     \
		.event = bf_event,                                            \
	}

const struct ksched_policy_ops ksched__policy_fcfs = BF_OPS("fcfs",
							     fcfs_create);
const struct ksched_policy_ops ksched__policy_sjf = BF_OPS("sjf", sjf_create);
const struct ksched_policy_ops ksched__policy_easy = BF_OPS("easy",
							     easy_create);
const struct ksched_policy_ops ksched__policy_conservative =
	BF_OPS("conservative", cons_create);
