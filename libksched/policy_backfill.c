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
 * A machine is a worker index.  Each select starts the tasks that fit on
 * the free workers, in order, and builds the profile (backfill_view.c,
 * plan.c) only for the first that does not.  What each policy keeps
 * between calls, and why easy needs nothing more, is in docs/policies.md
 * ("Rigid jobs").
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backfill.h"
#include "policy_backfill.h"

#define FOREVER KSCHED__PLAN_FOREVER

/* A conservative reservation: start and worker indices. */
struct resv {
	int64_t start; /* -1: to be re-made */
	uint64_t gen;  /* the last select that saw the task queued */
	uint32_t k;
	uint32_t w[];
};

/* ---- state and options --------------------------------------------------- */

static void
bflog(const struct ksched__bf *bf, int level, const char *msg)
{
	if (bf->host && bf->host->log)
		bf->host->log(bf->host->ctx, level, msg);
}

/* Read only the options this policy has: the others stay "not used" and
 * the loader warns about them. */
static int
bf_options(struct ksched__bf *bf, const struct ksched_host *h)
{
	bool fs = bf->kind == KSCHED__BF_FCFS || bf->kind == KSCHED__BF_SJF;
	const char *s;

	s = fs && h && h->config ? h->config(h->ctx, "skip") : NULL;
	if (s) {
		if (strcmp(s, "0") && strcmp(s, "1")) {
			bflog(bf, 3,
			      "option skip must be 0 (stop at the first "
			      "task that does not fit) or 1 (try the "
			      "others)");
			return -1;
		}
		bf->skip = s[0] == '1';
	}
	s = bf->kind == KSCHED__BF_EASY && h && h->config
		? h->config(h->ctx, "reserve")
		: NULL;
	if (s) {
		if (strcmp(s, "machine") && strcmp(s, "count")) {
			bflog(bf, 3,
			      "option reserve must be machine (the "
			      "head reserves given machines, as "
			      "batsched) or count (a number of them)");
			return -1;
		}
		bf->count = s[0] == 'c';
	}
	return 0;
}

static int
bf_new(const struct ksched_host *h, void **state, enum ksched__bf_kind kind)
{
	struct ksched__bf *bf = ksched__calloc(1, sizeof(*bf));

	if (!bf)
		return -1;
	bf->host = h;
	bf->kind = kind;
	bf->ended = true; /* the first select walks the whole queue */
	ksched__plan_init(&bf->plan);
	ksched__u64map_init(&bf->live);
	ksched__u64map_init(&bf->resv);
	if (bf_options(bf, h)) {
		ksched__free(bf);
		return -1;
	}
	*state = bf;
	return 0;
}

static void
bf_destroy(void *state)
{
	struct ksched__bf *bf = state;

	if (!bf)
		return;
	ksched__plan_free(&bf->plan);
	ksched__bf_free_maps(bf);
	ksched__free(bf->wc);
	ksched__free(bf->gone);
	ksched__free(bf->mark);
	ksched__free(bf->pos);
	ksched__free(bf->ids);
	ksched__free(bf->mv);
	ksched__free(bf->known);
	ksched__free(bf->usable);
	ksched__free(bf->pick);
	ksched__free(bf->parts);
	ksched__free(bf->fw);
	ksched__free(bf->order);
	ksched__free(bf->keys);
	ksched__free(bf);
}

static int
fcfs_create(const struct ksched_host *h, void **state)
{
	return bf_new(h, state, KSCHED__BF_FCFS);
}

static int
sjf_create(const struct ksched_host *h, void **state)
{
	return bf_new(h, state, KSCHED__BF_SJF);
}

static int
easy_create(const struct ksched_host *h, void **state)
{
	return bf_new(h, state, KSCHED__BF_EASY);
}

static int
cons_create(const struct ksched_host *h, void **state)
{
	return bf_new(h, state, KSCHED__BF_CONS);
}

static void
bf_event(void *state, const struct ksched_policy_event *ev)
{
	ksched__bf_event(state, ev);
}

/* ---- fcfs and sjf -------------------------------------------------------- */

static int
cmp_sjf(const void *x, const void *y)
{
	const struct ksched__bf_sjf_key *a = x, *b = y;

	if (a->wall != b->wall)
		return a->wall < b->wall ? -1 : 1;
	if (a->submitted != b->submitted)
		return a->submitted < b->submitted ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* The queue in the policy's order into bf->order: as given, or (sjf)
 * shortest walltime first. */
static int
queue_order(struct ksched__bf *bf, const struct ksched_select_view *v)
{
	size_t nq = v->nqueue;

	if (ksched__bf_grow(&bf->order, &bf->ordercap, nq + 1,
			    sizeof(*bf->order)))
		return -1;
	for (size_t i = 0; i < nq; i++)
		bf->order[i] = i;
	if (bf->kind != KSCHED__BF_SJF || nq < 2)
		return 0;
	if (ksched__bf_grow(&bf->keys, &bf->keyscap, nq, sizeof(*bf->keys)))
		return -1;
	for (size_t i = 0; i < nq; i++)
		bf->keys[i] = (struct ksched__bf_sjf_key){
		    ksched__bf_walltime(&v->queue[i]), v->queue[i].submitted,
		    v->queue[i].id, i};
	qsort(bf->keys, nq, sizeof(*bf->keys), cmp_sjf);
	for (size_t i = 0; i < nq; i++)
		bf->order[i] = bf->keys[i].pos;
	return 0;
}

/* The task at position i of the policy's order. */
static const struct ksched_task_view *
nth(const struct ksched__bf_round *r, size_t i)
{
	return &r->v->queue[r->order[i]];
}

/* fcfs and sjf after the first task that does not fit on a free worker:
 * it may be one that can never run here (passed over). */
static int
fcfs_round(struct ksched__bf_round *r, size_t from)
{
	struct ksched__bf *bf = r->bf;

	for (size_t i = from; i < r->v->nqueue; i++) {
		const struct ksched_task_view *t = nth(r, i);
		if (!ksched__bf_plannable(bf, t))
			continue; /* can never run here: passed over */
		if (ksched__bf_first_fit(bf, t, -1) == r->v->now &&
		    ksched__bf_emit(r, t))
			continue;
		if (!bf->skip || r->n == r->outmax)
			break;
	}
	return 0;
}

/* ---- easy ---------------------------------------------------------------- */

/*
 * Count-based reservation: the earliest slice where k usable machines
 * have room for a part of the head at that instant (the running parts only
 * end, so it stays so), and how many machines are spare then.
 */
static int64_t
count_shadow(struct ksched__bf *bf, const struct ksched_task_view *t,
	     size_t *extra)
{
	const struct ksched__plan *p = &bf->plan;
	struct ksched_resources need = ksched__policy_part_need(t);
	size_t k = (size_t)t->nodes;

	for (size_t s = 0; s < p->ns; s++) {
		size_t cnt = 0;
		for (size_t m = 0; m < p->nm; m++)
			cnt +=
			    bf->usable[m] && ksched__plan_fits(p, s, m, &need);
		if (cnt >= k) {
			*extra = cnt - k;
			return p->t[s];
		}
	}
	return -1;
}

/*
 * The head, from position from: start queue tasks while the first fits
 * now; the first that does not gets the reservation (machines, or a
 * shadow time and spare count).  Returns the position after the head.
 */
static size_t
easy_head(struct ksched__bf_round *r, size_t from, int64_t *shadow,
	  size_t *extra)
{
	struct ksched__bf *bf = r->bf;
	const struct ksched_select_view *v = r->v;
	size_t i;

	for (i = from; i < v->nqueue; i++) {
		const struct ksched_task_view *t = nth(r, i);
		struct ksched_resources need = ksched__policy_part_need(t);
		int64_t wall = ksched__bf_walltime(t), at;

		if (!ksched__bf_plannable(bf, t))
			continue;
		at = ksched__bf_first_fit(bf, t, bf->count ? -1 : FOREVER);
		if (at == v->now) {
			if (!ksched__bf_emit(r, t))
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
easy_round(struct ksched__bf_round *r, size_t from)
{
	struct ksched__bf *bf = r->bf;
	const struct ksched_select_view *v = r->v;
	int64_t shadow = FOREVER;
	size_t extra = 0;

	for (size_t i = easy_head(r, from, &shadow, &extra); i < v->nqueue;
	     i++) {
		const struct ksched_task_view *t = nth(r, i);
		if (r->n == r->outmax)
			break;
		if (!ksched__bf_plannable(bf, t) ||
		    ksched__bf_first_fit(bf, t, -1) != v->now)
			continue;
		if (bf->count &&
		    ksched__plan_end(v->now, ksched__bf_walltime(t)) > shadow) {
			if ((size_t)t->nodes > extra)
				continue;
			if (ksched__bf_emit(r, t))
				extra -= (size_t)t->nodes;
			continue;
		}
		ksched__bf_emit(r, t);
	}
	return 0;
}

/* ---- conservative -------------------------------------------------------- */

/* r's machines as positions in pick; false if one is gone. */
static bool
resv_positions(struct ksched__bf *bf, const struct resv *rv)
{
	if (rv->k > bf->plan.nm)
		return false;
	for (uint32_t i = 0; i < rv->k; i++) {
		if (!ksched__bf_is_machine(bf, rv->w[i]))
			return false;
		bf->pick[i] = bf->pos[rv->w[i]];
	}
	return true;
}

/* Put the kept reservations of queued tasks back in the plan; *stale when
 * the queue must be walked (one is due, missed, or lost a machine). */
static int
cons_restore(struct ksched__bf_round *r, bool *stale)
{
	struct ksched__bf *bf = r->bf;
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
		if (ksched__plan_add(
			&bf->plan, rv->start,
			ksched__plan_end(rv->start, ksched__bf_walltime(t)),
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
 * start it if that is now and may_start. */
static int
cons_place(struct ksched__bf_round *r, const struct ksched_task_view *t,
	   bool may_start)
{
	struct ksched__bf *bf = r->bf;
	struct resv *rv = ksched__u64map_get(&bf->resv, t->id);
	struct ksched_resources need = ksched__policy_part_need(t);
	int64_t wall = ksched__bf_walltime(t), at, before = FOREVER;
	size_t k = (size_t)t->nodes;

	if (rv && rv->k != k) { /* the task changed shape: start over */
		ksched__free(ksched__u64map_del(&bf->resv, t->id));
		rv = NULL;
	}
	/* Its old place is free once it is taken out: search no later. */
	if (rv && rv->start >= 0 && resv_positions(bf, rv)) {
		if (ksched__plan_add(&bf->plan, rv->start,
				     ksched__plan_end(rv->start, wall),
				     bf->pick, rv->k, &need, -1))
			return -1;
		before = rv->start;
	}
	if ((at = ksched__bf_first_fit(bf, t, before)) < 0) {
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
	if (may_start && at == r->v->now && ksched__bf_emit(r, t))
		return 0;
	return ksched__plan_add(&bf->plan, at, ksched__plan_end(at, wall),
				bf->pick, k, &need, 1);
}

/* Plan (sign 1) or unplan (-1) the parts that ended since the last
 * select, until their planned ends. */
static int
gone_apply(struct ksched__bf_round *r, int sign)
{
	struct ksched__bf *bf = r->bf;

	for (size_t i = 0; i < bf->ngone; i++) {
		const struct ksched__bf_part *pt = &bf->gone[i];
		uint32_t m;
		if (pt->end <= r->v->now ||
		    !ksched__bf_is_machine(bf, pt->index))
			continue;
		m = bf->pos[pt->index];
		if (ksched__plan_add(&bf->plan, r->v->now, pt->end, &m, 1,
				     &pt->need, sign))
			return -1;
	}
	return 0;
}

/* A task conservative plans: with a walltime, and able to run here. */
static bool
cons_plannable(struct ksched__bf *bf, const struct ksched_task_view *t)
{
	return ksched__bf_walltime(t) != FOREVER && ksched__bf_plannable(bf, t);
}

/* Queued before now and never reserved: it came while select was not
 * called (the core calls it only when a worker has room). */
static bool
deferred(struct ksched__bf_round *r, const struct ksched_task_view *t)
{
	return t->submitted < r->v->now &&
	       !ksched__u64map_get(&r->bf->resv, t->id) &&
	       cons_plannable(r->bf, t);
}

/*
 * batsched reserves a job when it arrives.  Those that came while select
 * was not called are reserved now, in queue order, in the plan as it was
 * before this call's ends (with the tasks that ended since the last
 * select still planned), as they would have been on arrival; the walk
 * that follows then compresses them with the rest.
 */
static int
cons_deferred(struct ksched__bf_round *r)
{
	const struct ksched_select_view *v = r->v;
	size_t i = 0;

	while (i < v->nqueue && !deferred(r, &v->queue[i]))
		i++;
	if (i == v->nqueue)
		return 0;
	if (gone_apply(r, 1))
		return -1;
	for (; i < v->nqueue; i++)
		if (deferred(r, &v->queue[i]) &&
		    cons_place(r, &v->queue[i], false))
			return -1;
	return gone_apply(r, -1);
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
cons_round(struct ksched__bf_round *r, size_t from)
{
	struct ksched__bf *bf = r->bf;
	const struct ksched_select_view *v = r->v;
	bool compress = bf->ended;

	if (cons_restore(r, &compress) || (compress && cons_deferred(r)))
		return -1;
	for (size_t i = from; i < v->nqueue; i++) {
		const struct ksched_task_view *t = &v->queue[i];
		if (!cons_plannable(bf, t) ||
		    (!compress && ksched__u64map_get(&bf->resv, t->id)))
			continue;
		if (cons_place(r, t, true))
			return -1;
	}
	return 0;
}

/* ---- select -------------------------------------------------------------- */

/*
 * Whether the tasks that fit on free workers may start before the profile
 * is built: always but for conservative with reservations kept or with
 * arrivals it did not see (those need the plan first).
 */
static bool
starts_first(const struct ksched__bf *bf, const struct ksched_select_view *v)
{
	if (bf->kind != KSCHED__BF_CONS)
		return true;
	if (bf->resv.n)
		return false;
	for (size_t i = 0; i < v->nqueue; i++)
		if (v->queue[i].submitted < v->now)
			return false;
	return true;
}

static int
bf_round(struct ksched__bf_round *r)
{
	struct ksched__bf *bf = r->bf;
	size_t from = 0;

	bf->nparts = 0;
	if (queue_order(bf, r->v))
		return -1;
	r->order = bf->order;
	if (starts_first(bf, r->v))
		from = ksched__bf_start_free(r, bf->kind == KSCHED__BF_CONS);
	if (from == r->v->nqueue || r->n == r->outmax)
		return 0;
	if (ksched__bf_build(r))
		return -1;
	switch (bf->kind) {
	case KSCHED__BF_EASY:
		return easy_round(r, from);
	case KSCHED__BF_CONS:
		return cons_round(r, from);
	default:
		return fcfs_round(r, from);
	}
}

static int
bf_select(void *state, const struct ksched_select_view *v,
	  struct ksched_placement *out, size_t outmax, size_t *n)
{
	struct ksched__bf *bf = state;
	struct ksched__bf_round r = {bf, v, out, outmax, 0, NULL};
	int rc;

	*n = 0;
	bf->gen++;
	bf->have_head = false;
	rc = bf_round(&r);
	bf->ended = false;
	bf->ngone = 0;
	if (rc) {
		bflog(bf, 3, "out of memory planning the schedule");
		return -1;
	}
	*n = r.n;
	return 0;
}

bool
ksched__backfill_reserved(const ksched_policy *p, uint64_t task, int64_t *start)
{
	const char *name = ksched_policy_name(p);
	struct ksched__bf *bf = ksched__policy_state(p);
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

#define BF_OPS(nm, mk)                                                         \
	{                                                                      \
		.abi = KSCHED_POLICY_ABI,                                      \
		.size = sizeof(struct ksched_policy_ops), .name = nm,          \
		.create = mk, .destroy = bf_destroy, .select = bf_select,      \
		.event = bf_event,                                             \
	}

const struct ksched_policy_ops ksched__policy_fcfs =
    BF_OPS("fcfs", fcfs_create);
const struct ksched_policy_ops ksched__policy_sjf = BF_OPS("sjf", sjf_create);
const struct ksched_policy_ops ksched__policy_easy =
    BF_OPS("easy", easy_create);
const struct ksched_policy_ops ksched__policy_conservative =
    BF_OPS("conservative", cons_create);
