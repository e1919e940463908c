/*
 * libksched - the built-in policies, written against the public ops table
 * (include/ksched/policy.h) exactly as a plugin would be, and registered
 * through the same path (policy.c).  Their options come from host->config
 * and are read in create; a bad value makes create fail with a log line.
 *
 *   round_robin   workers in turn (a cursor)
 *   priority      strict priority, FIFO within one; ageing_ms=N
 *   least_loaded  lowest reported load and allocation (the default)
 *   binpack       most allocated first
 *   spread        least allocated first
 *   fair          dominant resource fairness across users
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "policy_int.h"

#define OPS_HEAD(nm)                                                          \
	.abi = KSCHED_POLICY_ABI, .size = sizeof(struct ksched_policy_ops),   \
	.name = nm

/* ---- helpers ---------------------------------------------------------------- */

static void
hlog(const struct ksched_host *h, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
hlog(const struct ksched_host *h, int level, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!h || !h->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	h->log(h->ctx, level, line);
}

/* Option key as an integer in [min, max], def if absent; -1 if bad. */
static int
cfg_long(const struct ksched_host *h, const char *key, long def, long min,
	 long max, long *out)
{
	const char *s = h && h->config ? h->config(h->ctx, key) : NULL;
	char *end;
	long v;

	*out = def;
	if (!s)
		return 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || v < min || v > max) {
		hlog(h, 3, "option %s must be an integer from %ld to %ld (got "
			   "'%s')",
		     key, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static double
frac(int64_t used, int64_t cap)
{
	double f;

	if (cap <= 0)
		return 0;
	f = (double)used / (double)cap;
	return f < 0 ? 0 : f > 1 ? 1 : f;
}

static int
to_score(double x) /* x in 0..1 */
{
	int s = (int)(x * KSCHED_SCORE_MAX + 0.5);

	return s < 0 ? 0 : s > KSCHED_SCORE_MAX ? KSCHED_SCORE_MAX : s;
}

static int
cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

/* Priority (higher first), then submission, then id. */
static int
cmp_fifo(const struct ksched_task_view *a, const struct ksched_task_view *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	if (a->submitted != b->submitted)
		return cmp_i64(a->submitted, b->submitted);
	return a->id < b->id ? -1 : a->id > b->id;
}

/* ---- allocation weights: binpack, spread, least_loaded ------------------------ */

struct weights {
	long cpu, mem, slot, gpu, load;
};

static int
weights_create(const struct ksched_host *h, void **state)
{
	struct weights *w = ksched__calloc(1, sizeof(*w));

	if (!w)
		return -1;
	if (cfg_long(h, "cpu_weight", 1, 0, 1000, &w->cpu) ||
	    cfg_long(h, "mem_weight", 1, 0, 1000, &w->mem) ||
	    cfg_long(h, "slot_weight", 1, 0, 1000, &w->slot) ||
	    cfg_long(h, "gpu_weight", 1, 0, 1000, &w->gpu) ||
	    cfg_long(h, "load_weight", 1, 0, 1000, &w->load)) {
		ksched__free(w);
		return -1;
	}
	if (w->cpu + w->mem + w->slot == 0)
		w->cpu = w->mem = w->slot = 1;
	*state = w;
	return 0;
}

static void
weights_destroy(void *state)
{
	ksched__free(state);
}

/*
 * The weighted allocation fraction of worker, with task on it if given: the
 * weighted mean over CPU, memory, slots and, if gpus and the worker has
 * GPUs, GPUs (idle GPUs make a GPU worker look emptier to binpack, so
 * tasks that need none fill the other workers first).
 */
static double
alloc_frac(const struct weights *wt, const struct ksched_worker_view *w,
	   const struct ksched_task_view *t, bool gpus)
{
	struct ksched_resources a = w->allocated;
	long wsum = wt->cpu + wt->mem + wt->slot;
	double sum;

	if (t) {
		a.cpu_milli += t->need.cpu_milli;
		a.mem_mb += t->need.mem_mb;
		a.gpus += t->need.gpus;
		a.slots += 1;
	}
	sum = (double)wt->cpu * frac(a.cpu_milli, w->capacity.cpu_milli) +
	      (double)wt->mem * frac(a.mem_mb, w->capacity.mem_mb) +
	      (double)wt->slot * frac(a.slots, w->capacity.slots);
	if (gpus && w->capacity.gpus > 0 && wt->gpu > 0) {
		sum += (double)wt->gpu * frac(a.gpus, w->capacity.gpus);
		wsum += wt->gpu;
	}
	return sum / (double)wsum;
}

/* A task that needs no GPU scores a GPU worker one point lower, so that
 * among equals it goes where it leaves no GPU stranded. */
static int
gpu_keep_free(const struct ksched_task_view *t,
	      const struct ksched_worker_view *w, int s)
{
	return t->need.gpus == 0 && w->capacity.gpus > 0 && s > 0 ? s - 1 : s;
}

static int
binpack_score(void *state, const struct ksched_task_view *t,
	      const struct ksched_worker_view *w)
{
	return gpu_keep_free(t, w, to_score(alloc_frac(state, w, t, true)));
}

static int
spread_score(void *state, const struct ksched_task_view *t,
	     const struct ksched_worker_view *w)
{
	return gpu_keep_free(t, w, to_score(1 - alloc_frac(state, w, t, true)));
}

/* Lower load per core and lower allocation score higher. */
static int
least_loaded_score(void *state, const struct ksched_task_view *t,
		   const struct ksched_worker_view *w)
{
	const struct weights *wt = state;
	double cores = (double)w->capacity.cpu_milli / 1000.0;
	double lf = w->load / (cores < 1 ? 1 : cores);
	double af = alloc_frac(wt, w, NULL, false);
	long tw = wt->load + 1;

	(void)t;
	lf = lf < 0 ? 0 : lf > 1 ? 1 : lf;
	return to_score(1 - ((double)wt->load * lf + af) / (double)tw);
}

static const struct ksched_policy_ops binpack_ops = {
	OPS_HEAD("binpack"),
	.create = weights_create,
	.destroy = weights_destroy,
	.score = binpack_score,
};

static const struct ksched_policy_ops spread_ops = {
	OPS_HEAD("spread"),
	.create = weights_create,
	.destroy = weights_destroy,
	.score = spread_score,
};

static const struct ksched_policy_ops least_loaded_ops = {
	OPS_HEAD("least_loaded"),
	.create = weights_create,
	.destroy = weights_destroy,
	.score = least_loaded_score,
};

/* ---- round_robin ------------------------------------------------------------- */

/*
 * The cursor is the index of the last worker used.  score is highest for the
 * first index after it, wrapping: workers after the cursor score 51..100,
 * those at or before it 0..50, each side falling with the distance from the
 * cursor (floored), so the best score's lowest index (the driver's tie rule)
 * is always the next worker in turn, however many workers there are.  The
 * table has no hook telling a policy where the driver put a task, so the
 * cursor moves to the best-scored worker of a task when scoring of the next
 * task begins (the driver always takes the best), and to the worker of a
 * TASK_STARTED event for that task (the truth, and for gangs the last
 * part).
 */
#define RR_HALF (KSCHED_SCORE_MAX / 2)

struct rr {
	bool have;	   /* a cursor exists */
	uint32_t cursor;
	bool pending;	   /* a task is being scored */
	uint64_t task;
	uint32_t best;
	int best_score;
	bool started; /* a TASK_STARTED came for the pending task */
};

static int
rr_create(const struct ksched_host *h, void **state)
{
	(void)h;
	return (*state = ksched__calloc(1, sizeof(struct rr))) ? 0 : -1;
}

static void
rr_commit(struct rr *rr)
{
	if (rr->pending && rr->best_score >= 0) {
		rr->cursor = rr->best;
		rr->have = true;
	}
	rr->pending = false;
}

/* How far past the cursor index is, wrapping (0: the next one). */
static uint64_t
rr_distance(const struct rr *rr, uint32_t index)
{
	if (!rr->have)
		return index;
	if (index > rr->cursor)
		return index - rr->cursor - 1u;
	return (uint64_t)UINT32_MAX + 1u + index; /* after every index above */
}

static int
rr_distance_score(const struct rr *rr, uint32_t index)
{
	uint64_t d = rr_distance(rr, index);

	if (d <= UINT32_MAX) /* after the cursor: 100 down to 51 */
		return KSCHED_SCORE_MAX -
		       (int)(d < RR_HALF - 1 ? d : RR_HALF - 1);
	return RR_HALF - (int)(index < RR_HALF ? index : RR_HALF);
}

static int
rr_score(void *state, const struct ksched_task_view *t,
	 const struct ksched_worker_view *w)
{
	struct rr *rr = state;
	int s;

	if (!rr->pending || rr->task != t->id) {
		rr_commit(rr);
		rr->pending = true;
		rr->task = t->id;
		rr->best_score = -1;
		rr->started = false;
	}
	s = rr_distance_score(rr, w->index);
	if (!rr->started &&
	    (s > rr->best_score ||
	     (s == rr->best_score && w->index < rr->best))) {
		rr->best_score = s;
		rr->best = w->index;
	}
	return s;
}

static void
rr_event(void *state, const struct ksched_policy_event *ev)
{
	struct rr *rr = state;

	if (ev->type != KSCHED_EV_TASK_STARTED || !ev->task || !ev->worker)
		return;
	if (rr->pending && rr->task == ev->task->id) {
		/* The part furthest along (a gang has several); the next
		 * task commits it. */
		uint32_t wi = ev->worker->index;
		if (!rr->started ||
		    rr_distance(rr, wi) > rr_distance(rr, rr->best)) {
			rr->best = wi;
			rr->best_score = rr_distance_score(rr, wi);
		}
		rr->started = true;
	} else if (!rr->pending) {
		rr->cursor = ev->worker->index;
		rr->have = true;
	}
}

static const struct ksched_policy_ops round_robin_ops = {
	OPS_HEAD("round_robin"),
	.create = rr_create,
	.destroy = weights_destroy,
	.score = rr_score,
	.event = rr_event,
};

/* ---- priority --------------------------------------------------------------- */

struct prio {
	const struct ksched_host *host;
	long ageing_ms; /* 0: none */
};

static int
prio_create(const struct ksched_host *h, void **state)
{
	struct prio *p = ksched__calloc(1, sizeof(*p));

	if (!p)
		return -1;
	p->host = h;
	if (cfg_long(h, "ageing_ms", 0, 0, 1000L * 3600 * 24 * 365,
		     &p->ageing_ms)) {
		ksched__free(p);
		return -1;
	}
	*state = p;
	return 0;
}

/* Priority plus one per ageing_ms waited. */
static int64_t
prio_effective(const struct prio *p, const struct ksched_task_view *t,
	       int64_t now)
{
	int64_t waited = now - t->submitted;

	if (!p->ageing_ms || waited <= 0)
		return t->priority;
	return (int64_t)t->priority + waited / p->ageing_ms;
}

static int
prio_compare(void *state, const struct ksched_task_view *a,
	     const struct ksched_task_view *b)
{
	const struct prio *p = state;
	int64_t now = p->ageing_ms ? p->host->now(p->host->ctx) : 0;
	int64_t ea = prio_effective(p, a, now), eb = prio_effective(p, b, now);

	if (ea != eb)
		return ea > eb ? -1 : 1;
	if (a->submitted != b->submitted)
		return cmp_i64(a->submitted, b->submitted);
	return a->id < b->id ? -1 : a->id > b->id;
}

static const struct ksched_policy_ops priority_ops = {
	OPS_HEAD("priority"),
	.create = prio_create,
	.destroy = weights_destroy,
	.compare = prio_compare,
};

/* ---- fair: dominant resource fairness ------------------------------------------ */

struct fuser {
	char *name; /* NULL: empty slot */
	struct ksched_resources alloc;
};

struct fworker {
	bool present;
	struct ksched_resources cap;
};

struct fair {
	struct fuser *users; /* open addressing, power of two */
	size_t cap, n;
	struct fworker *workers; /* by worker index */
	size_t nworkers;
	struct ksched_resources total;
};

#define FAIR_MAX_WORKER_INDEX (1u << 20)

static size_t
str_hash(const char *s)
{
	size_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static struct fuser *
fair_find(const struct fair *f, const char *name)
{
	size_t i = str_hash(name) & (f->cap - 1);

	while (f->users[i].name && strcmp(f->users[i].name, name) != 0)
		i = (i + 1) & (f->cap - 1);
	return &f->users[i];
}

static int
fair_grow(struct fair *f)
{
	struct fair g = *f;

	g.cap = f->cap * 2;
	if (!(g.users = ksched__calloc(g.cap, sizeof(*g.users))))
		return -1;
	for (size_t i = 0; i < f->cap; i++)
		if (f->users[i].name)
			*fair_find(&g, f->users[i].name) = f->users[i];
	ksched__free(f->users);
	*f = g;
	return 0;
}

/* The user's entry, added if new; NULL when out of memory. */
static struct fuser *
fair_user(struct fair *f, const char *name)
{
	struct fuser *u;

	if ((f->n + 1) * 2 > f->cap && fair_grow(f))
		return NULL;
	u = fair_find(f, name);
	if (!u->name) {
		if (!(u->name = ksched__strdup(name)))
			return NULL;
		f->n++;
	}
	return u;
}

static int
fair_create(const struct ksched_host *h, void **state)
{
	struct fair *f = ksched__calloc(1, sizeof(*f));

	(void)h;
	if (!f || !(f->users = ksched__calloc(16, sizeof(*f->users)))) {
		ksched__free(f);
		return -1;
	}
	f->cap = 16;
	*state = f;
	return 0;
}

static void
fair_destroy(void *state)
{
	struct fair *f = state;

	for (size_t i = 0; i < f->cap; i++)
		ksched__free(f->users[i].name);
	ksched__free(f->users);
	ksched__free(f->workers);
	ksched__free(f);
}

static void
res_move(struct ksched_resources *a, const struct ksched_resources *b, int s)
{
	a->cpu_milli += s * b->cpu_milli;
	a->mem_mb += s * b->mem_mb;
	a->gpus += s * b->gpus;
	if (a->cpu_milli < 0)
		a->cpu_milli = 0;
	if (a->mem_mb < 0)
		a->mem_mb = 0;
	if (a->gpus < 0)
		a->gpus = 0;
}

/* Count worker w into the cluster total (join) or out of it (leave). */
static void
fair_worker(struct fair *f, const struct ksched_worker_view *w, bool join)
{
	struct fworker *fw;

	if (w->index >= FAIR_MAX_WORKER_INDEX)
		return;
	if (w->index >= f->nworkers) {
		size_t n = (size_t)w->index * 2 + 8;
		struct fworker *v;
		if (!join || !(v = ksched__realloc(f->workers, n * sizeof(*v))))
			return;
		memset(v + f->nworkers, 0, (n - f->nworkers) * sizeof(*v));
		f->workers = v;
		f->nworkers = n;
	}
	fw = &f->workers[w->index];
	if (fw->present)
		res_move(&f->total, &fw->cap, -1);
	fw->present = join;
	fw->cap = w->capacity;
	if (join)
		res_move(&f->total, &fw->cap, 1);
}

static void
fair_event(void *state, const struct ksched_policy_event *ev)
{
	struct fair *f = state;
	struct fuser *u;

	switch (ev->type) {
	case KSCHED_EV_WORKER_JOINED:
	case KSCHED_EV_WORKER_LEFT:
		if (ev->worker)
			fair_worker(f, ev->worker,
				    ev->type == KSCHED_EV_WORKER_JOINED);
		break;
	case KSCHED_EV_TASK_STARTED:
	case KSCHED_EV_TASK_FINISHED:
		/* A worker seen first here counts in the total too. */
		if (ev->worker && (ev->worker->index >= f->nworkers ||
				   !f->workers[ev->worker->index].present))
			fair_worker(f, ev->worker, true);
		if (!ev->task || !(u = fair_user(f, ev->task->user
							    ? ev->task->user
							    : "")))
			break;
		res_move(&u->alloc, &ev->task->need,
			 ev->type == KSCHED_EV_TASK_STARTED ? 1 : -1);
		break;
	}
}

/* The user's dominant share: max over cpu, mem, gpus of alloc / total. */
static double
fair_share(const struct fair *f, const char *user)
{
	const struct fuser *u = fair_find(f, user ? user : "");
	double s = 0, x;

	if (!u->name)
		return 0;
	if ((x = frac(u->alloc.cpu_milli, f->total.cpu_milli)) > s)
		s = x;
	if ((x = frac(u->alloc.mem_mb, f->total.mem_mb)) > s)
		s = x;
	if ((x = frac(u->alloc.gpus, f->total.gpus)) > s)
		s = x;
	return s;
}

static int
fair_compare(void *state, const struct ksched_task_view *a,
	     const struct ksched_task_view *b)
{
	const struct fair *f = state;
	double sa = fair_share(f, a->user), sb = fair_share(f, b->user);

	if (sa != sb)
		return sa < sb ? -1 : 1;
	return cmp_fifo(a, b);
}

static const struct ksched_policy_ops fair_ops = {
	OPS_HEAD("fair"),
	.create = fair_create,
	.destroy = fair_destroy,
	.compare = fair_compare,
	.event = fair_event,
};

const struct ksched_policy_ops *const ksched__policy_builtins[] = {
	&least_loaded_ops, &round_robin_ops, &priority_ops, &binpack_ops,
	&spread_ops,	   &fair_ops,	     &ksched__policy_fcfs,
	&ksched__policy_sjf, &ksched__policy_easy, &ksched__policy_conservative,
	NULL,
};
