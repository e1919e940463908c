/*
 * libksched - the simulator's engine (see include/ksched/sim.h): a
 * discrete-event loop in virtual time that drives the real scheduling core
 * (sched, over a queue and a cache in a private LMDB store) with simulated
 * workers.
 *
 * Events: job ends, worker deaths and repairs live in a binary heap ordered
 * by (time, type, id); arrivals come from the workload, already sorted by
 * (submit, id).  Everything due at one time is one batch: ends first, then
 * deaths, repairs and arrivals, then a single dispatch over every live
 * worker with a free slot.  Nothing reads a clock: the same inputs give the
 * same run.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "sim_int.h"
#include "u64map.h"

#include "ksched/cache.h"
#include "ksched/policy.h"
#include "ksched/queue.h"
#include "ksched/sched.h"
#include "ksched/store.h"

/* Leases in virtual time must never run out before the job ends: the
 * engine ends or kills every job itself, so leases are made longer than
 * any run (a century). */
#define SIM_LEASE_MS (100LL * 365 * 24 * 3600 * 1000)
/* Core calls per LMDB write transaction (durability is not needed). */
#define SIM_TXN_OPS 32768
/* Tasks per submit call. */
#define SIM_SUBMIT_MAX 1024
/* Batches between progress reports. */
#define SIM_PROGRESS_EVERY 4096

enum ev_type { EV_END = 0, EV_FAIL = 1, EV_REPAIR = 2 };

struct ev {
	int64_t t;
	uint32_t type;
	uint64_t id;	/* job index, or node index */
	uint64_t token; /* EV_END: the lease it ends */
};

enum jstate { J_WAIT = 0, J_QUEUED, J_RUNNING, J_ENDED, J_REJECTED };

struct sjob {
	uint64_t tid;	/* the core's task id */
	uint64_t token; /* current lease, 0 when not running */
	uint32_t placed; /* parts placed in this attempt */
	uint32_t rpos;	 /* position in run.running */
	uint8_t state;
};

struct snode {
	int64_t member; /* index in the core's worker table; -1 when dead */
	int64_t free;	/* free slots */
};

/* A distinct node capacity and how many nodes have it. */
struct capgroup {
	struct ksched_resources cap;
	int64_t count;
};

struct run {
	const ksched_sim_workload *w;
	const ksched_sim_cluster *c;
	struct ksched_sim_opts o;
	struct ksched_sim_result *res;
	char dir[4096];
	ksched_store *st;
	ksched_queue *q;
	ksched_cache *ca;
	ksched_policy *pol;
	ksched_sched *s;
	bool scan_all;
	size_t scan_max; /* the core's */
	struct sjob *jobs;
	size_t njobs, next_arrival, ended, queued, nrunning, busy;
	uint32_t *running; /* job indexes */
	struct snode *nodes;
	size_t nnodes;
	int64_t *m2n; /* member index -> node, -1 */
	size_t nm2n;
	uint64_t *freebits; /* live nodes with a free slot */
	uint32_t *wk, *mx;
	struct ksched_assignment *out;
	size_t outcap;
	struct capgroup *caps;
	size_t ncaps;
	struct u64map tid2job; /* core task id -> job index + 1 */
	struct ev *heap;
	size_t nheap, capheap, repairs;
	int64_t next_tick;
	uint64_t rng;
	size_t ops;
	ksched_task **sub;
	size_t *subjob;
	uint64_t *subids;
	char *err;
	size_t errlen;
};

/* ---- event heap ------------------------------------------------------------ */

static bool
ev_less(const struct ev *a, const struct ev *b)
{
	if (a->t != b->t)
		return a->t < b->t;
	if (a->type != b->type)
		return a->type < b->type;
	return a->id < b->id;
}

static ksched_err
heap_push(struct run *r, struct ev e)
{
	size_t i;

	if (r->nheap == r->capheap) {
		size_t nc = r->capheap ? 2 * r->capheap : 1024;
		struct ev *n = ksched__realloc(r->heap, nc * sizeof(*n));
		if (!n)
			return KSCHED_ENOMEM;
		r->heap = n;
		r->capheap = nc;
	}
	i = r->nheap++;
	while (i && ev_less(&e, &r->heap[(i - 1) / 2])) {
		r->heap[i] = r->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	r->heap[i] = e;
	return KSCHED_OK;
}

static struct ev
heap_pop(struct run *r)
{
	struct ev top = r->heap[0], last = r->heap[--r->nheap];
	size_t i = 0, n = r->nheap;

	for (;;) {
		size_t k = 2 * i + 1;
		if (k >= n)
			break;
		if (k + 1 < n && ev_less(&r->heap[k + 1], &r->heap[k]))
			k++;
		if (!ev_less(&r->heap[k], &last))
			break;
		r->heap[i] = r->heap[k];
		i = k;
	}
	if (n)
		r->heap[i] = last;
	return top;
}

/* ---- helpers -------------------------------------------------------------- */

static void set_err(struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
set_err(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->err || !r->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
}

/* splitmix64: a small seeded generator (never rand()). */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1]. */
static double
rng_unit(uint64_t *s)
{
	return ((double)(rng_next(s) >> 11) + 1.0) / 9007199254740992.0;
}

static void
free_bit(struct run *r, size_t node, bool on)
{
	uint64_t m = 1ULL << (node & 63);

	if (on)
		r->freebits[node >> 6] |= m;
	else
		r->freebits[node >> 6] &= ~m;
}

static void
node_free_add(struct run *r, size_t node, int64_t d)
{
	struct snode *n = &r->nodes[node];

	if (n->member < 0)
		return;
	n->free += d;
	free_bit(r, node, n->free > 0);
}

/* One more core call; commit the store's batch now and then. */
static ksched_err
op_done(struct run *r, size_t n)
{
	ksched_err e;

	r->ops += n;
	if (r->ops < SIM_TXN_OPS)
		return KSCHED_OK;
	r->ops = 0;
	if ((e = ksched_store_commit(r->st)))
		return e;
	return ksched_store_begin(r->st);
}

static void
timeline(struct run *r, int64_t now)
{
	struct ksched_sim_result *s = r->res;
	size_t n = s->ntl;

	if (!r->o.timeline)
		return;
	if (n && s->tl_queue[n - 1] == r->queued &&
	    s->tl_busy[n - 1] == r->busy)
		return;
	if (n && s->tl_t[n - 1] == now)
		n--; /* the batch changed its own sample: keep the last */
	if (n == s->captl) {
		size_t nc = s->captl ? 2 * s->captl : 1024;
		int64_t *t = ksched__realloc(s->tl_t, nc * sizeof(*t));
		uint32_t *q, *b;
		if (t)
			s->tl_t = t;
		q = t ? ksched__realloc(s->tl_queue, nc * sizeof(*q)) : NULL;
		if (q)
			s->tl_queue = q;
		b = q ? ksched__realloc(s->tl_busy, nc * sizeof(*b)) : NULL;
		if (!b)
			return; /* the plot loses points, the run goes on */
		s->tl_busy = b;
		s->captl = nc;
	}
	s->tl_t[n] = now;
	s->tl_queue[n] = (uint32_t)r->queued;
	s->tl_busy[n] = (uint32_t)r->busy;
	s->ntl = n + 1;
}

/* ---- workers -------------------------------------------------------------- */

static ksched_err
node_join(struct run *r, size_t i, int64_t now)
{
	const struct ksched_sim_node *nd = ksched_sim_cluster_node(r->c, i);
	const char *keys[KSCHED_LABELS_MAX], *vals[KSCHED_LABELS_MAX];
	size_t nl = nd->nlabels < KSCHED_LABELS_MAX ? nd->nlabels
						    : KSCHED_LABELS_MAX;
	uint32_t m;
	ksched_err e = ksched_sched_worker_join(r->s, nd->id, &nd->cap, now, &m);

	if (e)
		return e;
	for (size_t k = 0; k < nl; k++) {
		keys[k] = nd->labels[k].key;
		vals[k] = nd->labels[k].value;
	}
	if (nl && (e = ksched_members_set_labels(ksched_sched_members(r->s),
						 m, keys, vals, nl)))
		return e;
	if (m >= r->nm2n) {
		size_t nc = 2 * (size_t)m + 16;
		int64_t *n = ksched__realloc(r->m2n, nc * sizeof(*n));
		if (!n)
			return KSCHED_ENOMEM;
		for (size_t k = r->nm2n; k < nc; k++)
			n[k] = -1;
		r->m2n = n;
		r->nm2n = nc;
	}
	r->m2n[m] = (int64_t)i;
	r->nodes[i].member = m;
	r->nodes[i].free = nd->cap.slots;
	free_bit(r, i, nd->cap.slots > 0);
	return op_done(r, 1);
}

static void
running_del(struct run *r, size_t j)
{
	uint32_t last = r->running[--r->nrunning];

	r->running[r->jobs[j].rpos] = last;
	r->jobs[last].rpos = r->jobs[j].rpos;
}

/* Schedule the next random death after now (none once every job ended). */
static ksched_err
next_random_death(struct run *r, int64_t now)
{
	double gap;
	struct ev e = {0, EV_FAIL, UINT64_MAX, 0};

	if (r->o.fail_rate <= 0 || r->ended >= r->njobs)
		return KSCHED_OK;
	gap = -log(rng_unit(&r->rng)) * 3600000.0 / r->o.fail_rate;
	e.t = now + (gap < 1 ? 1 : (int64_t)gap);
	return heap_push(r, e);
}

/* A random death: the node drawn among the live ones. */
static int64_t
pick_live_node(struct run *r)
{
	size_t live = 0, k;

	for (size_t i = 0; i < r->nnodes; i++)
		live += r->nodes[i].member >= 0;
	if (!live)
		return -1;
	k = (size_t)(rng_next(&r->rng) % live);
	for (size_t i = 0; i < r->nnodes; i++)
		if (r->nodes[i].member >= 0 && k-- == 0)
			return (int64_t)i;
	return -1;
}

/*
 * Worker node dies: the core hands its leases back (as the master does for
 * a lost worker: READY again, the attempt not counted); every job with a
 * part on it waits again, its other parts' slots are free.
 */
static ksched_err
node_die(struct run *r, int64_t node, int64_t now)
{
	struct snode *n;
	ksched_err e;
	size_t i = 0;

	if (node < 0 || (n = &r->nodes[node])->member < 0)
		return KSCHED_OK;
	if ((e = ksched_sched_worker_leave(r->s, (uint32_t)n->member, now)))
		return e;
	r->m2n[n->member] = -1;
	n->member = -1;
	n->free = 0;
	free_bit(r, (size_t)node, false);
	while (i < r->nrunning) {
		size_t j = r->running[i];
		const struct ksched_sim_job *jb = ksched_sim_workload_job(r->w, j);
		struct ksched_sim_job_result *jr = &r->res->jobs[j];
		bool hit = false;
		for (int64_t k = 0; k < jb->nodes && !hit; k++)
			hit = jr->nodes[k] == (uint32_t)node;
		if (!hit) {
			i++;
			continue;
		}
		for (int64_t k = 0; k < jb->nodes; k++)
			node_free_add(r, jr->nodes[k], 1);
		running_del(r, j); /* moves another job into i */
		r->jobs[j].state = J_QUEUED;
		r->jobs[j].token = 0;
		r->jobs[j].placed = 0;
		r->queued++;
		r->busy -= (size_t)jb->nodes;
		jr->restarts++;
		jr->start_ms = -1;
	}
	if (r->o.repair_ms > 0) {
		struct ev ev = {now + r->o.repair_ms, EV_REPAIR, (uint64_t)node,
				0};
		if ((e = heap_push(r, ev)))
			return e;
		r->repairs++;
	}
	return op_done(r, 1);
}

/* ---- jobs ------------------------------------------------------------------ */

/* Whether some jobs.nodes distinct nodes can each hold one part of j. */
static bool
can_ever_fit(const struct run *r, const struct ksched_sim_job *j)
{
	struct ksched_resources zero = {0, 0, 0, 0}, need = j->need;
	int64_t n = 0;

	need.slots = 1;
	for (size_t i = 0; i < r->ncaps && n < j->nodes; i++)
		if (ksched_resources_fit(&r->caps[i].cap, &zero, &need))
			n += r->caps[i].count;
	return n >= j->nodes;
}

static ksched_err
reject(struct run *r, size_t j, const char *why)
{
	struct ksched_sim_result *s = r->res;
	char **n = ksched__realloc(s->reasons,
				   (s->nreasons + 1) * sizeof(*n));
	char *copy = ksched__strdup(why);

	if (n)
		s->reasons = n;
	if (!n || !copy) {
		ksched__free(copy);
		return KSCHED_ENOMEM;
	}
	s->reasons[s->nreasons++] = copy;
	s->jobs[j].outcome = KSCHED_SIM_REJECTED;
	s->jobs[j].reason = copy;
	r->jobs[j].state = J_REJECTED;
	r->ended++;
	return KSCHED_OK;
}

/* The core's task for job j: kind "sim" (or the trace's own spec),
 * never cached (identical jobs must not be single-flighted), no retry (a
 * kill is final), planned with the walltime. */
static ksched_err
make_task(const struct ksched_sim_job *j, ksched_task **out)
{
	ksched_task *t;
	int64_t wt = j->walltime_ms;
	ksched_err e = j->spec ? ksched_task_dup(j->spec, &t)
			       : ksched_task_new(&t);

	if (e)
		return e;
	if (!j->spec)
		e = ksched_task_set_kind(t, j->kind && *j->kind ? j->kind
								  : "sim");
	if (!e && j->user && *j->user)
		e = ksched_task_set_user(t, j->user);
	if (wt > KSCHED_DURATION_MAX)
		wt = KSCHED_DURATION_MAX; /* plans see at most the core's limit */
	ksched_task_set_resources(t, j->need.cpu_milli, j->need.mem_mb,
				  j->need.gpus);
	ksched_task_set_nodes(t, j->nodes);
	ksched_task_set_priority(t, j->priority);
	ksched_task_set_timeout_ms(t, wt);
	ksched_task_set_est_runtime_ms(t, wt);
	ksched_task_set_retry(t, 0, 1000, 60000);
	ksched_task_set_cache(t, true, 0);
	ksched_task_set_not_before(t, 0);
	if (e) {
		ksched_task_free(t);
		return e;
	}
	*out = t;
	return KSCHED_OK;
}

static ksched_err
submit_pending(struct run *r, size_t n, int64_t now)
{
	size_t bad = 0;
	char why[512];
	ksched_err e;

	if (!n)
		return KSCHED_OK;
	e = ksched_sched_submit(r->s, (const ksched_task *const *)r->sub, n,
				now, r->subids, NULL, &bad, why, sizeof(why));
	for (size_t i = 0; i < n; i++)
		ksched_task_free(r->sub[i]);
	if (e) {
		set_err(r, "simulator: submit of job %s failed: %s",
			ksched_sim_workload_job(r->w, r->subjob[bad])->name,
			why);
		return e;
	}
	for (size_t i = 0; i < n && !e; i++) {
		size_t j = r->subjob[i];
		r->jobs[j].tid = r->subids[i];
		r->jobs[j].state = J_QUEUED;
		r->queued++;
		if (ksched__u64map_put(&r->tid2job, r->subids[i],
				       (void *)(uintptr_t)(j + 1)))
			e = KSCHED_ENOMEM;
	}
	return e ? e : op_done(r, n);
}

/* Every job submitted at now: rejected at once if it can never fit or is
 * invalid, else submitted (in chunks). */
static ksched_err
arrivals(struct run *r, int64_t now)
{
	size_t n = 0;
	char why[512];
	ksched_err e = KSCHED_OK;

	while (!e && r->next_arrival < r->njobs) {
		size_t j = r->next_arrival;
		const struct ksched_sim_job *jb = ksched_sim_workload_job(r->w, j);
		ksched_task *t;
		if (jb->submit_ms != now)
			break;
		r->next_arrival++;
		if (!can_ever_fit(r, jb)) {
			snprintf(why, sizeof(why),
				 "needs %lld nodes of cpu=%lld mem=%lld "
				 "gpus=%lld: larger than the cluster",
				 (long long)jb->nodes,
				 (long long)jb->need.cpu_milli,
				 (long long)jb->need.mem_mb,
				 (long long)jb->need.gpus);
			e = reject(r, j, why);
			continue;
		}
		if ((e = make_task(jb, &t)))
			break;
		if (ksched_task_validate(t, why, sizeof(why))) {
			ksched_task_free(t);
			e = reject(r, j, why);
			continue;
		}
		r->sub[n] = t;
		r->subjob[n++] = j;
		if (n == SIM_SUBMIT_MAX) {
			e = submit_pending(r, n, now);
			n = 0;
		}
	}
	if (e) {
		for (size_t i = 0; i < n; i++)
			ksched_task_free(r->sub[i]);
		return e;
	}
	return submit_pending(r, n, now);
}

/* Job j's last part is placed: it runs until its end or its kill. */
static ksched_err
job_started(struct run *r, size_t j, int64_t now)
{
	const struct ksched_sim_job *jb = ksched_sim_workload_job(r->w, j);
	struct sjob *s = &r->jobs[j];
	int64_t d = jb->run_ms;
	struct ev e = {0, EV_END, j, s->token};

	if (r->o.kill_at_walltime && jb->walltime_ms > 0 &&
	    d > jb->walltime_ms)
		d = jb->walltime_ms;
	e.t = now + d;
	s->state = J_RUNNING;
	s->rpos = (uint32_t)r->nrunning;
	r->running[r->nrunning++] = (uint32_t)j;
	r->queued--;
	r->busy += (size_t)jb->nodes;
	r->res->jobs[j].start_ms = now;
	return heap_push(r, e);
}

/* The end of job j's run (or its kill): every part reports to the core. */
static ksched_err
job_end(struct run *r, const struct ev *ev)
{
	size_t j = (size_t)ev->id;
	const struct ksched_sim_job *jb = ksched_sim_workload_job(r->w, j);
	struct sjob *s = &r->jobs[j];
	struct ksched_sim_job_result *jr = &r->res->jobs[j];
	bool ok = !(r->o.kill_at_walltime && jb->walltime_ms > 0 &&
		    jb->run_ms > jb->walltime_ms);

	if (s->state != J_RUNNING || s->token != ev->token)
		return KSCHED_OK; /* a start lost to a worker death */
	for (int64_t k = 0; k < jb->nodes; k++) {
		ksched_err e = ksched_sched_complete_part(
			r->s, s->tid, s->token, (uint32_t)k, ev->t, ok, NULL,
			0, ok ? NULL : "killed at its walltime");
		/* A failed part stops the gang: the others are stale. */
		if (e && !(e == KSCHED_ESTALE && !ok && k > 0))
			return e;
		node_free_add(r, jr->nodes[k], 1);
	}
	running_del(r, j);
	s->state = J_ENDED;
	s->token = 0;
	r->busy -= (size_t)jb->nodes;
	r->ended++;
	jr->finish_ms = ev->t;
	jr->outcome = ok ? KSCHED_SIM_DONE : KSCHED_SIM_KILLED;
	return op_done(r, (size_t)jb->nodes);
}

/* ---- dispatch ----------------------------------------------------------- */

static ksched_err
take(struct run *r, const struct ksched_assignment *a, int64_t now)
{
	size_t j = (size_t)(uintptr_t)ksched__u64map_get(&r->tid2job, a->id);
	int64_t node = a->worker < r->nm2n ? r->m2n[a->worker] : -1;
	uint32_t *parts;

	if (!j-- || node < 0 || a->rank >= (uint32_t)ksched_sim_workload_job(
						      r->w, j)->nodes)
		return KSCHED_ECORRUPT; /* the core placed what we never gave */
	/* jobs[j].nodes points into parts: write through parts. */
	parts = r->res->parts + (r->res->jobs[j].nodes - r->res->parts);
	parts[a->rank] = (uint32_t)node;
	r->jobs[j].token = a->token;
	node_free_add(r, (size_t)node, -1);
	if (++r->jobs[j].placed < a->nodes)
		return KSCHED_OK;
	r->jobs[j].placed = 0;
	return job_started(r, j, now);
}

/* Whether the last dispatch showed the policy every ready task (the
 * core's window: scan_min, or 64 + 8 per slot asked, up to scan_max). */
static bool
saw_all(const struct run *r, size_t asked, size_t ready)
{
	size_t win = 64 + 8 * asked;

	if (r->scan_all)
		return true;
	if (win < r->o.scan)
		win = r->o.scan;
	if (win > r->scan_max)
		win = r->scan_max;
	return win >= ready;
}

/*
 * Offer every live worker with a free slot (in node order) to the core.
 * When the policy saw every ready task it is consulted once; with a
 * partial window, again while it places something and tasks it did not
 * see remain.
 */
static ksched_err
dispatch(struct run *r, int64_t now)
{
	for (;;) {
		size_t nw = 0, n = 0, total = 0, ready = r->queued;
		ksched_err e;
		for (size_t b = 0; b < (r->nnodes + 63) / 64; b++) {
			uint64_t bits = r->freebits[b];
			while (bits) {
				size_t i = b * 64 + (size_t)__builtin_ctzll(bits);
				bits &= bits - 1;
				r->wk[nw] = (uint32_t)r->nodes[i].member;
				r->mx[nw++] = (uint32_t)r->nodes[i].free;
				total += (size_t)r->nodes[i].free;
			}
		}
		if (!nw || !r->queued)
			return KSCHED_OK;
		if (total > r->outcap)
			total = r->outcap;
		e = ksched_sched_dispatch(r->s, now, r->wk, r->mx, nw, r->out,
					  total, &n);
		for (size_t i = 0; i < n && !e; i++)
			e = take(r, &r->out[i], now);
		if (!e)
			e = op_done(r, n + 1);
		if (e || !n || !r->queued ||
		    (n < total && saw_all(r, total, ready)))
			return e;
	}
}

/* ---- setup ------------------------------------------------------------------ */

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Placement-only built-ins look at a window of the queue; anything else
 * (fcfs, sjf, backfilling, plugins) sees it whole. */
static bool
wants_whole_queue(const char *name)
{
	static const char *const partial[] = {
		"binpack", "spread", "least_loaded", "round_robin", "priority",
		"fair",
	};

	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++)
		if (!strcmp(name, partial[i]))
			return false;
	return true;
}

static ksched_err
setup_caps(struct run *r)
{
	r->caps = ksched__calloc(r->nnodes, sizeof(*r->caps));
	if (!r->caps)
		return KSCHED_ENOMEM;
	for (size_t i = 0; i < r->nnodes; i++) {
		const struct ksched_resources *c =
			&ksched_sim_cluster_node(r->c, i)->cap;
		size_t k = 0;
		while (k < r->ncaps && memcmp(&r->caps[k].cap, c, sizeof(*c)))
			k++;
		if (k == r->ncaps)
			r->caps[r->ncaps++].cap = *c;
		r->caps[k].count++;
		r->res->slots += c->slots;
		r->res->cpu_milli += c->cpu_milli;
	}
	return KSCHED_OK;
}

static ksched_err
setup_arrays(struct run *r)
{
	struct ksched_sim_result *s = r->res;
	size_t parts = 0;

	for (size_t j = 0; j < r->njobs; j++)
		parts += (size_t)ksched_sim_workload_job(r->w, j)->nodes;
	r->outcap = (size_t)s->slots;
	r->jobs = ksched__calloc(r->njobs + 1, sizeof(*r->jobs));
	r->running = ksched__calloc(r->njobs + 1, sizeof(*r->running));
	r->nodes = ksched__calloc(r->nnodes, sizeof(*r->nodes));
	r->freebits = ksched__calloc((r->nnodes + 63) / 64, sizeof(uint64_t));
	r->wk = ksched__calloc(r->nnodes, sizeof(*r->wk));
	r->mx = ksched__calloc(r->nnodes, sizeof(*r->mx));
	r->out = ksched__calloc(r->outcap + 1, sizeof(*r->out));
	r->sub = ksched__calloc(SIM_SUBMIT_MAX, sizeof(*r->sub));
	r->subjob = ksched__calloc(SIM_SUBMIT_MAX, sizeof(*r->subjob));
	r->subids = ksched__calloc(SIM_SUBMIT_MAX, sizeof(*r->subids));
	s->jobs = ksched__calloc(r->njobs + 1, sizeof(*s->jobs));
	s->parts = ksched__calloc(parts + 1, sizeof(*s->parts));
	if (!r->jobs || !r->running || !r->nodes || !r->freebits || !r->wk ||
	    !r->mx || !r->out || !r->sub || !r->subjob || !r->subids ||
	    !s->jobs || !s->parts)
		return KSCHED_ENOMEM;
	parts = 0;
	for (size_t j = 0; j < r->njobs; j++) {
		s->jobs[j].start_ms = -1;
		s->jobs[j].finish_ms = -1;
		s->jobs[j].outcome = KSCHED_SIM_UNFINISHED;
		s->jobs[j].nodes = s->parts + parts;
		parts += (size_t)ksched_sim_workload_job(r->w, j)->nodes;
	}
	for (size_t i = 0; i < r->nnodes; i++)
		r->nodes[i].member = -1;
	return KSCHED_OK;
}

static ksched_err
setup_core(struct run *r)
{
	struct ksched_sched_config cfg;
	const char *tmp = r->o.tmpdir ? r->o.tmpdir : getenv("TMPDIR");
	char why[512] = "";
	ksched_err e;

	snprintf(r->dir, sizeof(r->dir), "%s/ksched-sim-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(r->dir)) {
		r->dir[0] = 0;
		set_err(r, "simulator: cannot make a temporary directory in %s",
			tmp && *tmp ? tmp : "/tmp");
		return KSCHED_EIO;
	}
	e = ksched_store_open(r->dir, KSCHED_SYNC_NONE, &r->st, why,
			      sizeof(why));
	if (e) {
		set_err(r, "simulator: store: %s", why);
		return e;
	}
	if (!(e = ksched_queue_open(r->st, 1, &r->q)))
		e = ksched_cache_open(r->st, &r->ca);
	if (!e && (e = ksched_policy_load(r->o.policy, &r->pol, why,
					   sizeof(why))))
		set_err(r, "simulator: policy %s: %s", r->o.policy, why);
	if (e)
		return e;
	ksched_sched_config_init(&cfg);
	cfg.lease_ms = SIM_LEASE_MS;
	cfg.lease_grace_ms = SIM_LEASE_MS;
	cfg.policy = r->pol;
	r->scan_all = r->o.scan == 0 &&
		      wants_whole_queue(ksched_policy_name(r->pol));
	if (r->scan_all || r->o.scan > cfg.scan_max) {
		size_t n = r->scan_all ? r->njobs : r->o.scan;
		cfg.scan_max = n > cfg.scan_max ? n : cfg.scan_max;
	}
	cfg.scan_min = r->scan_all ? cfg.scan_max : r->o.scan;
	r->scan_max = cfg.scan_max;
	return ksched_sched_new(r->q, r->ca, &cfg, 0, &r->s);
}

static void
teardown(struct run *r)
{
	if (r->st && ksched_store_in_batch(r->st))
		ksched_store_abort(r->st);
	ksched_sched_free(r->s);
	ksched_policy_free(r->pol);
	ksched_cache_close(r->ca);
	ksched_queue_close(r->q);
	ksched_store_close(r->st);
	if (r->dir[0])
		nftw(r->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	ksched__u64map_free(&r->tid2job);
	ksched__free(r->jobs);
	ksched__free(r->running);
	ksched__free(r->nodes);
	ksched__free(r->m2n);
	ksched__free(r->freebits);
	ksched__free(r->wk);
	ksched__free(r->mx);
	ksched__free(r->out);
	ksched__free(r->caps);
	ksched__free(r->heap);
	ksched__free(r->sub);
	ksched__free(r->subjob);
	ksched__free(r->subids);
}

/* ---- the loop ------------------------------------------------------------ */

/* The next batch's time, or INT64_MAX when nothing can happen any more. */
static int64_t
next_time(const struct run *r)
{
	int64_t t = INT64_MAX;

	if (r->nheap)
		t = r->heap[0].t;
	if (r->next_arrival < r->njobs) {
		int64_t a = ksched_sim_workload_job(r->w, r->next_arrival)
				    ->submit_ms;
		t = a < t ? a : t;
	}
	if (r->next_tick < SIM_LEASE_MS / 2 && r->next_tick < t)
		t = r->next_tick;
	/* Only random deaths left: nothing will start or end again. */
	if (!r->nrunning && !r->repairs && r->next_arrival >= r->njobs &&
	    r->next_tick >= SIM_LEASE_MS / 2)
		return INT64_MAX;
	return t;
}

static ksched_err
batch(struct run *r, int64_t now)
{
	ksched_err e = KSCHED_OK;

	while (!e && r->nheap && r->heap[0].t == now) {
		struct ev ev = heap_pop(r);
		if (ev.type == EV_END) {
			e = job_end(r, &ev);
		} else if (ev.type == EV_FAIL && ev.id == UINT64_MAX) {
			e = node_die(r, pick_live_node(r), now);
			if (!e)
				e = next_random_death(r, now);
		} else if (ev.type == EV_FAIL) {
			e = node_die(r, (int64_t)ev.id, now);
		} else {
			r->repairs--;
			if (r->nodes[ev.id].member < 0)
				e = node_join(r, (size_t)ev.id, now);
		}
	}
	if (!e)
		e = arrivals(r, now);
	if (!e && now >= r->next_tick)
		e = ksched_sched_tick(r->s, now, &r->next_tick);
	if (!e)
		e = dispatch(r, now);
	timeline(r, now);
	return e;
}

static ksched_err
simulate(struct run *r)
{
	ksched_err e = KSCHED_OK;
	int64_t now;

	for (size_t i = 0; i < r->nnodes && !e; i++)
		e = node_join(r, i, 0);
	for (size_t i = 0; i < r->o.nfailures && !e; i++) {
		struct ev ev = {r->o.failures[i].at_ms, EV_FAIL,
				r->o.failures[i].node, 0};
		e = heap_push(r, ev);
	}
	if (!e)
		e = next_random_death(r, 0);
	while (!e && (now = next_time(r)) != INT64_MAX) {
		e = batch(r, now);
		if (++r->res->m.batches % SIM_PROGRESS_EVERY == 0 &&
		    r->o.progress)
			r->o.progress(r->o.progress_arg, r->ended, r->njobs);
	}
	if (!e)
		e = ksched_store_commit(r->st);
	return e;
}

/* ---- API ------------------------------------------------------------------ */

void
ksched_sim_opts_init(struct ksched_sim_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->policy = "fcfs";
	o->kill_at_walltime = true;
}

static ksched_err
check_opts(struct run *r)
{
	if (!r->nnodes) {
		set_err(r, "simulator: the cluster has no nodes");
		return KSCHED_EINVAL;
	}
	for (size_t i = 0; i < r->o.nfailures; i++) {
		if (r->o.failures[i].node < r->nnodes &&
		    r->o.failures[i].at_ms >= 0)
			continue;
		set_err(r,
			"simulator: failure of node %u at %lld ms: the "
			"cluster has nodes 0..%zu and times start at 0",
			r->o.failures[i].node,
			(long long)r->o.failures[i].at_ms, r->nnodes - 1);
		return KSCHED_EINVAL;
	}
	if (r->o.fail_rate < 0 || r->o.repair_ms < 0 ||
	    !isfinite(r->o.fail_rate)) {
		set_err(r, "simulator: fail rate and repair time must be "
			   ">= 0");
		return KSCHED_EINVAL;
	}
	return KSCHED_OK;
}

ksched_err
ksched_sim_run(const ksched_sim_workload *w, const ksched_sim_cluster *c,
	       const struct ksched_sim_opts *opts, ksched_sim_result **out,
	       char *err, size_t errlen)
{
	struct run r;
	ksched_err e;

	memset(&r, 0, sizeof(r));
	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (opts)
		r.o = *opts;
	else
		ksched_sim_opts_init(&r.o);
	if (!r.o.policy)
		r.o.policy = "fcfs";
	r.w = w;
	r.c = c;
	r.err = err;
	r.errlen = errlen;
	r.njobs = ksched_sim_workload_count(w);
	r.nnodes = ksched_sim_cluster_count(c);
	r.rng = r.o.seed;
	ksched__u64map_init(&r.tid2job);
	if ((e = check_opts(&r)))
		return e;
	if (!(r.res = ksched__calloc(1, sizeof(*r.res))))
		return KSCHED_ENOMEM;
	r.res->w = w;
	r.res->njobs = r.njobs;
	r.res->nodes = r.nnodes;
	e = setup_caps(&r);
	if (!e)
		e = setup_arrays(&r);
	if (!e)
		e = setup_core(&r);
	if (!e && (e = ksched_store_begin(r.st)) == KSCHED_OK)
		e = simulate(&r);
	if (!e && !(r.res->policy = ksched__strdup(ksched_policy_name(r.pol))))
		e = KSCHED_ENOMEM;
	if (e && err && errlen && !err[0])
		snprintf(err, errlen, "simulator: %s", ksched_strerror(e));
	teardown(&r);
	if (e) {
		ksched_sim_result_free(r.res);
		return e;
	}
	ksched__sim_metrics(r.res);
	*out = r.res;
	return KSCHED_OK;
}

void
ksched_sim_result_free(ksched_sim_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nreasons; i++)
		ksched__free(r->reasons[i]);
	ksched__free(r->reasons);
	ksched__free(r->policy);
	ksched__free(r->jobs);
	ksched__free(r->parts);
	ksched__free(r->tl_t);
	ksched__free(r->tl_queue);
	ksched__free(r->tl_busy);
	ksched__free(r);
}

const char *
ksched_sim_result_policy(const ksched_sim_result *r)
{
	return r->policy;
}

void
ksched_sim_result_metrics(const ksched_sim_result *r,
			  struct ksched_sim_metrics *out)
{
	*out = r->m;
}

const struct ksched_sim_job_result *
ksched_sim_result_job(const ksched_sim_result *r, size_t i)
{
	return i < r->njobs ? &r->jobs[i] : NULL;
}
