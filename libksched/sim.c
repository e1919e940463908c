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
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "sim_int.h"

/* ---- event heap ---------------------------------------------------------- */

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

/* ---- helpers ------------------------------------------------------------- */

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

/* ---- workers ------------------------------------------------------------- */

static ksched_err
node_join(struct run *r, size_t i, int64_t now)
{
	const struct ksched_sim_node *nd = ksched_sim_cluster_node(r->c, i);
	const char *keys[KSCHED_LABELS_MAX], *vals[KSCHED_LABELS_MAX];
	size_t nl =
	    nd->nlabels < KSCHED_LABELS_MAX ? nd->nlabels : KSCHED_LABELS_MAX;
	uint32_t m;
	ksched_err e =
	    ksched_sched_worker_join(r->s, nd->id, &nd->cap, now, &m);

	if (e)
		return e;
	for (size_t k = 0; k < nl; k++) {
		keys[k] = nd->labels[k].key;
		vals[k] = nd->labels[k].value;
	}
	if (nl && (e = ksched_members_set_labels(ksched_sched_members(r->s), m,
						 keys, vals, nl)))
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

/* Job j lost its start max_restarts times: cancel it in the core and
 * count it as ended (unfinished), so that deaths faster than the jobs
 * cannot keep a run going for ever. */
static ksched_err
give_up(struct run *r, size_t j, int64_t now)
{
	ksched_err e = ksched_sched_cancel(r->s, r->jobs[j].tid, now);

	if (e)
		return e;
	r->jobs[j].state = J_ENDED;
	r->queued--;
	r->ended++;
	return op_done(r, 1);
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
		const struct ksched_sim_job *jb =
		    ksched_sim_workload_job(r->w, j);
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
		if (jr->restarts >= r->o.max_restarts &&
		    (e = give_up(r, j, now)))
			return e;
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

/* ---- jobs ---------------------------------------------------------------- */

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
	char **n = ksched__realloc(s->reasons, (s->nreasons + 1) * sizeof(*n));
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
	ksched_err e =
	    j->spec ? ksched_task_dup(j->spec, &t) : ksched_task_new(&t);

	if (e)
		return e;
	if (!j->spec)
		e = ksched_task_set_kind(t,
					 j->kind && *j->kind ? j->kind : "sim");
	if (!e && j->user && *j->user)
		e = ksched_task_set_user(t, j->user);
	if (wt > KSCHED_DURATION_MAX)
		wt = KSCHED_DURATION_MAX; /* plans see at most the core's limit
					   */
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
		ksched__sim_set_err(
		    r, "simulator: submit of job %s failed: %s",
		    ksched_sim_workload_job(r->w, r->subjob[bad])->name, why);
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
		const struct ksched_sim_job *jb =
		    ksched_sim_workload_job(r->w, j);
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

	if (r->o.kill_at_walltime && jb->walltime_ms > 0 && d > jb->walltime_ms)
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
		    r->s, s->tid, s->token, (uint32_t)k, ev->t, ok, NULL, 0,
		    ok ? NULL : "killed at its walltime");
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

/* ---- dispatch ------------------------------------------------------------ */

static ksched_err
take(struct run *r, const struct ksched_assignment *a, int64_t now)
{
	size_t j = (size_t)(uintptr_t)ksched__u64map_get(&r->tid2job, a->id);
	int64_t node = a->worker < r->nm2n ? r->m2n[a->worker] : -1;
	uint32_t *parts;

	if (!j-- || node < 0 ||
	    a->rank >= (uint32_t)ksched_sim_workload_job(r->w, j)->nodes)
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
				size_t i =
				    b * 64 + (size_t)__builtin_ctzll(bits);
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

/* ---- the loop ------------------------------------------------------------ */

/* The next batch's time, or INT64_MAX when nothing can happen any more. */
static int64_t
next_time(const struct run *r)
{
	int64_t t = INT64_MAX;

	if (r->nheap)
		t = r->heap[0].t;
	if (r->next_arrival < r->njobs) {
		int64_t a =
		    ksched_sim_workload_job(r->w, r->next_arrival)->submit_ms;
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

ksched_err
ksched__sim_simulate(struct run *r)
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
