/*
 * easy - EASY backfilling (Lifka, 1995) as an out-of-tree libksched policy
 * plugin, through the whole-queue select hook.
 *
 * The rule, per scheduling round (the queue is in the core's order:
 * priority, then submission):
 *
 *  1. FCFS: start tasks from the front of the queue while they fit now.
 *  2. The first task that does not fit is the head.  It gets a
 *     reservation: the earliest time (the shadow time) at which enough
 *     workers will have room for it, found by releasing the running
 *     tasks' resources in order of their expected_end.  The reserved
 *     workers are the first `nodes` workers where it then fits.  Running
 *     tasks with no expected end are taken to end "at infinity": the head
 *     still gets its workers reserved, but no task counts as ending
 *     before that.  A head that would not fit even on empty workers can
 *     never run here: it is passed over and the next task becomes head.
 *  3. Backfill: every later task may start now, on workers where it fits
 *     now, if either
 *       a. it ends before the shadow time (now + its walltime <= shadow),
 *          its walltime being timeout_ms, else est_runtime_ms (with
 *          estimates=0, timeout_ms only); a task with neither is assumed
 *          to run for ever; or
 *       b. it does not take what the head needs: on a worker that is not
 *          reserved, or on a reserved one where the head still fits at
 *          the shadow time after this task's resources are taken away.
 *     Non-reserved workers are tried first, then by index.
 *
 * This is the resource-based form of EASY's "extra nodes": with one slot
 * per worker and tasks that take whole workers it is the classic
 * count-based rule.  Only the head is protected (that is EASY; conservative
 * backfilling reserves for every task).
 *
 * Options: estimates=0|1 (default 1).  Build: make; load:
 * ksched-master --policy ./easy.so:estimates=0
 * A plugin links nothing from libksched: only the header is used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ksched/policy.h>

KSCHED_API const struct ksched_policy_ops *ksched_policy_entry(void);

#define FOREVER INT64_MAX

struct easy {
	const struct ksched_host *host;
	int estimates;
};

/* What easy knows of a worker during one round. */
struct wk {
	const struct ksched_worker_view *v;
	struct ksched_resources free;	   /* now */
	struct ksched_resources at_shadow; /* at the head's shadow time */
	int reserved;
};

struct round {
	const struct easy *e;
	const struct ksched_select_view *view;
	struct wk *w;
	struct ksched_placement *out;
	size_t outmax, n;
	const struct ksched_task_view *head;
	int64_t shadow;
};

static int
easy_create(const struct ksched_host *host, void **state)
{
	const char *s = host->config(host->ctx, "estimates");
	struct easy *e;

	if (s && strcmp(s, "0") != 0 && strcmp(s, "1") != 0) {
		host->log(host->ctx, 3, "option estimates must be 0 or 1");
		return -1;
	}
	if (!(e = calloc(1, sizeof(*e))))
		return -1;
	e->host = host;
	e->estimates = !s || strcmp(s, "1") == 0;
	*state = e;
	return 0;
}

static void
easy_destroy(void *state)
{
	free(state);
}

/* ---- resources and labels (a plugin cannot call libksched) ---------------- */

static struct ksched_resources
part(const struct ksched_task_view *t)
{
	struct ksched_resources r = t->need;

	r.slots = 1;
	return r;
}

/* need fits in have (every field). */
static int
fits(const struct ksched_resources *have, const struct ksched_resources *need)
{
	return need->cpu_milli <= have->cpu_milli &&
	       need->mem_mb <= have->mem_mb && need->gpus <= have->gpus &&
	       need->slots <= have->slots;
}

static void
add(struct ksched_resources *a, const struct ksched_resources *b, int sign)
{
	a->cpu_milli += sign * b->cpu_milli;
	a->mem_mb += sign * b->mem_mb;
	a->gpus += sign * b->gpus;
	a->slots += sign * b->slots;
}

static int
labels_match(const struct ksched_task_view *t,
	     const struct ksched_worker_view *w)
{
	for (size_t i = 0; i < t->nselector; i++) {
		int ok = 0;
		for (size_t j = 0; !ok && j < w->nlabels; j++)
			ok = strcmp(t->selector[i].key, w->labels[j].key) == 0 &&
			     strcmp(t->selector[i].value,
				    w->labels[j].value) == 0;
		if (!ok)
			return 0;
	}
	return 1;
}

static int
usable(const struct ksched_task_view *t, const struct wk *w)
{
	return w->v->state == KSCHED_WORKER_ALIVE && labels_match(t, w->v);
}

/* ---- the round ------------------------------------------------------------- */

static void
emit(struct round *r, const struct ksched_task_view *t, size_t wi,
     uint32_t rank, int long_running)
{
	struct ksched_resources need = part(t);

	add(&r->w[wi].free, &need, -1);
	if (long_running)
		add(&r->w[wi].at_shadow, &need, -1);
	r->out[r->n].task = t->id;
	r->out[r->n].worker = r->w[wi].v->index;
	r->out[r->n].rank = rank;
	r->n++;
}

/* When t would end if started now, or FOREVER if nobody knows. */
static int64_t
end_if_started(const struct round *r, const struct ksched_task_view *t)
{
	int64_t wall = t->timeout_ms;

	if (wall <= 0 && r->e->estimates)
		wall = t->est_runtime_ms;
	if (wall <= 0 || wall > FOREVER - r->view->now)
		return FOREVER;
	return r->view->now + wall;
}

/*
 * May part of t go on worker i now?  Before a head exists, any worker
 * where it fits; after, only under the backfill rule.
 */
static int
may_take(const struct round *r, const struct ksched_task_view *t, size_t i,
	 int ends_before_shadow)
{
	const struct wk *w = &r->w[i];
	struct ksched_resources need = part(t), both;

	if (!usable(t, w) || !fits(&w->free, &need))
		return 0;
	if (!r->head || ends_before_shadow || !w->reserved)
		return 1;
	both = part(r->head);
	add(&both, &need, 1);
	return fits(&w->at_shadow, &both);
}

/* Start t now on nodes distinct workers if the rules allow; 1 if done. */
static int
try_start(struct round *r, const struct ksched_task_view *t)
{
	size_t nw = r->view->nworkers, k = (size_t)t->nodes, got = 0;
	int64_t end = end_if_started(r, t);
	int before = r->head && r->shadow != FOREVER && end <= r->shadow;
	size_t *pick = malloc((k ? k : 1) * sizeof(*pick));

	if (!pick || t->nodes < 1 || k > nw) {
		free(pick);
		return 0;
	}
	/* Non-reserved workers first, then reserved ones. */
	for (int pass = 0; pass < 2 && got < k; pass++)
		for (size_t i = 0; i < nw && got < k; i++)
			if (r->w[i].reserved == pass && may_take(r, t, i, before))
				pick[got++] = i;
	if (got == k)
		for (size_t i = 0; i < k; i++)
			emit(r, t, pick[i], (uint32_t)i, r->head && !before);
	free(pick);
	return got == k;
}

static int
by_end(const void *x, const void *y)
{
	const struct ksched_running_view *a = *(const void *const *)x;
	const struct ksched_running_view *b = *(const void *const *)y;
	int64_t ea = a->expected_end > 0 ? a->expected_end : FOREVER;
	int64_t eb = b->expected_end > 0 ? b->expected_end : FOREVER;

	return ea < eb ? -1 : ea > eb;
}

static ptrdiff_t
worker_pos(const struct round *r, uint32_t index)
{
	for (size_t i = 0; i < r->view->nworkers; i++)
		if (r->w[i].v->index == index)
			return (ptrdiff_t)i;
	return -1;
}

/* Workers where the head fits at their at_shadow; reserve them if enough. */
static int
reserve_if_enough(struct round *r)
{
	struct ksched_resources need = part(r->head);
	size_t nw = r->view->nworkers, k = (size_t)r->head->nodes, got = 0;

	for (size_t i = 0; i < nw; i++)
		got += usable(r->head, &r->w[i]) &&
		       fits(&r->w[i].at_shadow, &need);
	if (got < k)
		return 0;
	for (size_t i = 0; i < nw && k; i++) {
		if (usable(r->head, &r->w[i]) &&
		    fits(&r->w[i].at_shadow, &need)) {
			r->w[i].reserved = 1;
			k--;
		}
	}
	return 1;
}

/*
 * Find the head's shadow time: release running tasks in order of their
 * expected end until it fits.  0 if it never can (it is then no head).
 */
static int
make_reservation(struct round *r, const struct ksched_running_view **run)
{
	const struct ksched_select_view *v = r->view;
	size_t i = 0;

	for (size_t w = 0; w < v->nworkers; w++)
		r->w[w].at_shadow = r->w[w].free;
	qsort(run, v->nrunning, sizeof(*run), by_end);
	while (i < v->nrunning) {
		int64_t t = run[i]->expected_end > 0 ? run[i]->expected_end
						     : FOREVER;
		/* Release everything ending at t. */
		for (; i < v->nrunning; i++) {
			int64_t e = run[i]->expected_end > 0
					    ? run[i]->expected_end
					    : FOREVER;
			ptrdiff_t w = worker_pos(r, run[i]->worker);
			struct ksched_resources need = run[i]->need;
			if (e != t)
				break;
			need.slots = 1;
			if (w >= 0)
				add(&r->w[w].at_shadow, &need, 1);
		}
		if (reserve_if_enough(r)) {
			r->shadow = t < v->now ? v->now : t;
			return 1;
		}
	}
	return 0;
}

static int
easy_select(void *state, const struct ksched_select_view *view,
	    struct ksched_placement *out, size_t outmax, size_t *n)
{
	struct round r = {state, view, NULL, out, outmax, 0, NULL, FOREVER};
	const struct ksched_running_view **run;
	size_t q = 0;

	*n = 0;
	r.w = calloc(view->nworkers + 1, sizeof(*r.w));
	run = calloc(view->nrunning + 1, sizeof(*run));
	if (!r.w || !run) {
		free(r.w);
		free(run);
		return -1;
	}
	for (size_t i = 0; i < view->nworkers; i++) {
		r.w[i].v = &view->workers[i];
		r.w[i].free = view->workers[i].capacity;
		add(&r.w[i].free, &view->workers[i].allocated, -1);
	}
	for (size_t i = 0; i < view->nrunning; i++)
		run[i] = &view->running[i];
	/* 1 and 2: FCFS until a task that does not fit becomes the head. */
	for (; q < view->nqueue && !r.head; q++) {
		const struct ksched_task_view *t = &view->queue[q];
		if (r.n + (size_t)(t->nodes > 0 ? t->nodes : 1) > outmax)
			break;
		if (try_start(&r, t))
			continue;
		r.head = t;
		if (!make_reservation(&r, run))
			r.head = NULL; /* can never fit: pass it over */
	}
	/* 3: backfill behind the head. */
	for (; r.head && q < view->nqueue && r.n < outmax; q++) {
		const struct ksched_task_view *t = &view->queue[q];
		if (t->nodes > 0 && r.n + (size_t)t->nodes <= outmax)
			try_start(&r, t);
	}
	if (r.head && r.e->host->log) {
		char line[128];
		snprintf(line, sizeof(line),
			 "head task %llu reserved, shadow %lld ms from now",
			 (unsigned long long)r.head->id,
			 r.shadow == FOREVER ? -1LL
					     : (long long)(r.shadow - view->now));
		r.e->host->log(r.e->host->ctx, 7, line);
	}
	free(r.w);
	free(run);
	*n = r.n;
	return 0;
}

static const struct ksched_policy_ops easy_ops = {
	.abi = KSCHED_POLICY_ABI,
	.size = sizeof(struct ksched_policy_ops),
	.name = "easy_example", /* "easy" is the built-in */
	.create = easy_create,
	.destroy = easy_destroy,
	.select = easy_select,
};

/* The one symbol a plugin exports. */
const struct ksched_policy_ops *
ksched_policy_entry(void)
{
	return &easy_ops;
}
