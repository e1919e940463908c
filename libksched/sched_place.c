/*
 * libksched - dispatch: the ready tasks the parked workers can take are
 * shown to the policy (include/ksched/policy.h), and its placements are
 * carried out: leased, allocated, remembered as running.
 */
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "alloc.h"
#include "log.h"
#include "sched_int.h"
#include "utf8.h"

/* ---- dispatch ----------------------------------------------------------- */

/* The first selector label of t that worker i lacks, or -1. */
static ssize_t
label_missing(ksched_sched *s, uint32_t i, const struct tinfo *t)
{
	const char *const *k, *const *v;
	size_t n = ksched_members_labels(s->members, i, &k, &v);

	for (size_t a = 0; a < t->nsel; a++) {
		bool found = false;
		for (size_t b = 0; b < n && !found; b++)
			found = !strcmp(k[b], t->sel[a].key) &&
				!strcmp(v[b], t->sel[a].value);
		if (!found)
			return (ssize_t)a;
	}
	return -1;
}

/* Whether worker i has every label t selects. */
static bool
labels_match(ksched_sched *s, uint32_t i, const struct tinfo *t)
{
	return label_missing(s, i, t) < 0;
}

/* Why t was placed on none of the workers asking for work. */
static void
explain(ksched_sched *s, struct tinfo *t)
{
	struct ksched_resources zero = {0, 0, 0, 0};
	struct ksched_worker_status w;
	char why[160];
	uint32_t nw = ksched_members_capacity(s->members);
	bool labelled = false;

	for (uint32_t i = 0; i < nw; i++) {
		if (ksched_members_status(s->members, i, &w) != KSCHED_OK ||
		    !labels_match(s, i, t))
			continue;
		labelled = true;
		if (ksched_resources_fit(&w.capacity, &zero, &t->need)) {
			ksched__sched_set_reason(
				t, "waiting for a worker with free capacity");
			return;
		}
	}
	if (!ksched_members_count(s->members))
		snprintf(why, sizeof(why), "no workers registered");
	else if (!labelled)
		snprintf(why, sizeof(why),
			 "no worker has the labels it selects (%s=%s%s)",
			 t->sel[0].key, t->sel[0].value,
			 t->nsel > 1 ? ", ..." : "");
	else
		snprintf(why, sizeof(why),
			 "no worker is large enough: needs cpu=%lld mem=%lld "
			 "gpus=%lld",
			 (long long)t->need.cpu_milli,
			 (long long)t->need.mem_mb, (long long)t->need.gpus);
	ksched__utf8_trim(why); /* a label may be cut inside a character */
	ksched__sched_set_reason(t, why);
}

/* Append "NAME: needs N, free F" for each resource short on w. */
static void
why_short(const struct ksched_worker_status *w, const struct tinfo *t,
	  bool empty, char *out, size_t len)
{
	static const char *names[] = {"cpu", "mem", "gpus", "slots"};
	const int64_t need[] = {t->need.cpu_milli, t->need.mem_mb,
				t->need.gpus, t->need.slots};
	const int64_t cap[] = {w->capacity.cpu_milli, w->capacity.mem_mb,
			       w->capacity.gpus, w->capacity.slots};
	const int64_t used[] = {w->allocated.cpu_milli, w->allocated.mem_mb,
				w->allocated.gpus, w->allocated.slots};
	size_t o = 0;

	out[0] = 0;
	for (int r = 0; r < 4 && o < len; r++) {
		int64_t have = empty ? cap[r] : cap[r] - used[r];
		int k;
		if (need[r] <= have)
			continue;
		k = snprintf(out + o, len - o, "%s%s: needs %lld, %s %lld",
			     o ? ", " : "", names[r], (long long)need[r],
			     empty ? "has" : "free", (long long)have);
		o += k > 0 ? (size_t)k : 0;
	}
}

/* Why t does not go to worker i now, into out. */
static void
why_not(ksched_sched *s, uint32_t i, const struct ksched_worker_status *w,
	const struct tinfo *t, char *out, size_t len)
{
	struct ksched_resources zero = {0, 0, 0, 0};
	ssize_t l = label_missing(s, i, t);

	if (w->state != KSCHED_WORKER_ALIVE)
		snprintf(out, len, "not alive (%s)",
			 ksched_worker_state_name(w->state));
	else if (l >= 0)
		snprintf(out, len, "labels: lacks %s=%s", t->sel[l].key,
			 t->sel[l].value);
	else if (!ksched_resources_fit(&w->capacity, &zero, &t->need))
		why_short(w, t, true, out, len);
	else if (!ksched_resources_fit(&w->capacity, &w->allocated, &t->need))
		why_short(w, t, false, out, len);
	else
		snprintf(out, len,
			 "fits: the policy chose otherwise or the worker did "
			 "not ask for work");
	ksched__utf8_trim(out); /* a label may be cut inside a character */
}

ksched_err
ksched_sched_explain(ksched_sched *s, uint64_t id, char *reason,
		     size_t reasonlen, struct ksched_pending_why *out,
		     size_t max, size_t *n, size_t *total)
{
	const struct tinfo *t = ksched__u64map_get(&s->tasks, id);
	struct ksched_worker_status w;
	uint32_t nw = ksched_members_capacity(s->members);

	*n = *total = 0;
	if (reasonlen)
		reason[0] = 0;
	if (!t || t->worker >= 0)
		return KSCHED_ENOENT;
	if (t->reason && reasonlen)
		snprintf(reason, reasonlen, "%s", t->reason);
	for (uint32_t i = 0; i < nw; i++) {
		if (ksched_members_status(s->members, i, &w) != KSCHED_OK)
			continue;
		if (*n < max) {
			memcpy(out[*n].worker, w.id, sizeof(out[*n].worker));
			why_not(s, i, &w, t, out[*n].why, sizeof(out[*n].why));
			(*n)++;
		}
		(*total)++;
	}
	return KSCHED_OK;
}

/* Place t on worker w now: lease it, allocate, remember it runs. */
static ksched_err
place(ksched_sched *s, struct tinfo *t, uint32_t w, int64_t now,
      struct ksched_assignment *a)
{
	struct ksched_lease l;
	ksched_err e = ksched_members_alloc(s->members, w, &t->need);

	if (e)
		return e;
	e = ksched_queue_lease_id(s->q, t->id, now, ksched__sched_lease_for(s, t), &l);
	if (!e && ksched__u64map_put(&s->running, t->id, t) != 0) {
		/* Undone by the caller's batch abort if this fails too. */
		e = ksched_queue_release(s->q, t->id, l.token, now);
		e = e ? e : KSCHED_ENOMEM;
	}
	if (e || ksched__sched_flight_register(s, t) != 0) {
		ksched_members_release(s->members, w, &t->need,
				       KSCHED_OUTCOME_NONE);
		ksched__u64map_del(&s->running, t->id);
		return e ? e : KSCHED_ENOMEM;
	}
	t->worker = w;
	t->token = l.token;
	t->deadline = l.deadline;
	t->started = now;
	ksched__sched_event(s, KSCHED_EV_TASK_STARTED, t, w, true, now);
	ksched__free(t->reason);
	t->reason = NULL;
	a->id = t->id;
	a->attempt = l.attempt;
	a->token = l.token;
	a->deadline = l.deadline;
	a->worker = w;
	a->rank = 0;
	a->nodes = 1;
	s->st.assigned++;
	return KSCHED_OK;
}

/*
 * Place gang t, its parts on the workers in pl[0..k) (ranks 0..k-1 in
 * order, as the policy driver gives them): all parts or none.
 */
static ksched_err
place_gang(ksched_sched *s, struct tinfo *t, const struct ksched_placement *pl,
	   int64_t now, struct ksched_assignment *a)
{
	uint32_t k = (uint32_t)t->nodes, done = 0;
	struct ksched_lease l;
	ksched_err e = KSCHED_OK;

	t->gw = ksched__calloc(k, sizeof(*t->gw));
	t->gdone = ksched__calloc(k, 1);
	if (!t->gw || !t->gdone)
		e = KSCHED_ENOMEM;
	while (!e && done < k) {
		if (pl[done].task != t->id || pl[done].rank >= k) {
			e = KSCHED_EINVAL;
			break;
		}
		t->gw[pl[done].rank] = pl[done].worker;
		e = ksched_members_alloc(s->members, pl[done].worker, &t->need);
		if (!e)
			done++;
	}
	if (!e)
		e = ksched_queue_lease_id(s->q, t->id, now,
					  ksched__sched_lease_for(s, t), &l);
	if (!e && ksched__u64map_put(&s->running, t->id, t) != 0)
		e = KSCHED_ENOMEM;
	if (e) {
		/* Undo the parts allocated (a lease is undone with the
		 * batch, as for a single task). */
		for (uint32_t i = 0; i < done; i++)
			ksched_members_release(s->members, pl[i].worker,
					       &t->need, KSCHED_OUTCOME_NONE);
		ksched__free(t->gw);
		ksched__free(t->gdone);
		t->gw = NULL;
		t->gdone = NULL;
		return e;
	}
	t->worker = t->gw[0];
	t->token = l.token;
	t->deadline = l.deadline;
	t->started = now;
	ksched__free(t->reason);
	t->reason = NULL;
	for (uint32_t r = 0; r < k; r++) {
		a[r].id = t->id;
		a[r].attempt = l.attempt;
		a[r].token = l.token;
		a[r].deadline = l.deadline;
		a[r].worker = t->gw[r];
		a[r].rank = r;
		a[r].nodes = k;
		ksched__sched_event(s, KSCHED_EV_TASK_STARTED, t, t->gw[r],
				    true, now);
	}
	s->st.assigned++;
	return KSCHED_OK;
}

/* Try to end t from the cache: true when it did. */
static bool
serve_cached(ksched_sched *s, struct tinfo *t, int64_t now)
{
	void *hit;
	size_t len;
	ksched_err e;

	if (t->no_cache ||
	    ksched_cache_get(s->c, &t->key, now, &hit, &len) != KSCHED_OK)
		return false;
	e = ksched_queue_finish_cached(s->q, t->id, now, hit, len);
	if (!e) {
		ksched__sched_resolve_followers(s, t, now, true, hit, len);
		ksched__sched_tinfo_drop(s, t);
		s->st.cached++;
	}
	ksched_free(hit);
	return e == KSCHED_OK;
}

static size_t
scan_len(const ksched_sched *s, uint64_t total)
{
	uint64_t n = 64 + 8 * total;

	if (n < s->cfg.scan_min)
		n = s->cfg.scan_min;
	return n < s->cfg.scan_max ? (size_t)n : s->cfg.scan_max;
}

/* The views of one dispatch, and the tasks behind the queue views. */
struct round {
	struct ksched_task_view *tv;
	struct tinfo **ti;
	size_t nt;
	struct ksched_worker_view *wv;
	struct ksched_worker_status *ws;
	size_t nw;
	struct ksched_running_view *rv;
	size_t nr, rvcap;
	struct ksched_placement *pl;
	struct ksched_label_view *lv; /* the workers' labels */
};

static void
round_free(struct round *r)
{
	ksched__free(r->tv);
	ksched__free(r->ti);
	ksched__free(r->wv);
	ksched__free(r->ws);
	ksched__free(r->rv);
	ksched__free(r->pl);
	ksched__free(r->lv);
}

static ksched_err
round_alloc(ksched_sched *s, struct round *r, size_t nscan, size_t nworkers,
	    size_t outmax)
{
	size_t nrun = s->running.n;

	r->tv = ksched__calloc(nscan + 1, sizeof(*r->tv));
	r->ti = ksched__calloc(nscan + 1, sizeof(*r->ti));
	r->wv = ksched__calloc(nworkers + 1, sizeof(*r->wv));
	r->ws = ksched__calloc(nworkers + 1, sizeof(*r->ws));
	r->rv = ksched__calloc(nrun + 1, sizeof(*r->rv));
	r->rvcap = nrun + 1;
	r->pl = ksched__calloc(outmax + 1, sizeof(*r->pl));
	return r->tv && r->ti && r->wv && r->ws && r->rv && r->pl
		       ? KSCHED_OK
		       : KSCHED_ENOMEM;
}

/* The queue views: scanned tasks that are neither attached now nor
 * served from the cache. */
static ksched_err
round_tasks(ksched_sched *s, struct round *r, size_t m, int64_t now)
{
	ksched_err e = KSCHED_OK;

	for (size_t i = 0; i < m && !e; i++) {
		struct tinfo *t, *p;
		if ((e = ksched__sched_tinfo_get(s, s->scan[i], &t)))
			break;
		if ((p = ksched__sched_flight_primary(s, t))) {
			e = ksched__sched_attach(s, p, t, now);
			continue;
		}
		ksched__sched_task_view(t, &r->tv[r->nt]);
		r->ti[r->nt++] = t;
	}
	return e;
}

/* The worker views: the listed workers, each capped at what it asked,
 * with their labels. */
static ksched_err
round_workers(ksched_sched *s, struct round *r, const uint32_t *workers,
	      const uint32_t *max, size_t nworkers)
{
	size_t nl = 0, k = 0;
	const char *const *keys, *const *vals;

	for (size_t i = 0; i < nworkers; i++)
		nl += ksched_members_labels(s->members, workers[i], NULL, NULL);
	if (nl && !(r->lv = ksched__calloc(nl, sizeof(*r->lv))))
		return KSCHED_ENOMEM;
	for (size_t i = 0; i < nworkers; i++) {
		struct ksched_worker_view *v = &r->wv[r->nw];
		size_t n;
		if (!max[i] ||
		    !ksched__sched_worker_view(s, workers[i], &r->ws[r->nw], v))
			continue;
		if (v->allocated.slots + (int64_t)max[i] < v->capacity.slots)
			v->capacity.slots = v->allocated.slots + max[i];
		n = ksched_members_labels(s->members, workers[i], &keys, &vals);
		v->labels = n ? &r->lv[k] : NULL;
		v->nlabels = n;
		for (size_t j = 0; j < n; j++, k++) {
			r->lv[k].key = keys[j];
			r->lv[k].value = vals[j];
		}
		r->nw++;
	}
	return KSCHED_OK;
}

/* One running entry per part: a gang of k is k entries (the array,
 * sized for one per task, grows when gangs run). */
static ksched_err
round_running(ksched_sched *s, struct round *r)
{
	for (size_t i = 0; i < s->running.cap; i++) {
		const struct tinfo *t = s->running.slots[i].val;
		size_t parts;
		int64_t d;
		if (!s->running.slots[i].key || t->worker < 0)
			continue; /* an empty slot keeps a stale value */
		d = t->est_ms ? t->est_ms : t->timeout_ms;
		parts = t->gw ? (size_t)t->nodes : 1;
		if (r->nr + parts > r->rvcap) {
			size_t cap = 2 * (r->nr + parts);
			void *p = ksched__realloc(r->rv, cap * sizeof(*r->rv));
			if (!p)
				return KSCHED_ENOMEM;
			r->rv = p;
			r->rvcap = cap;
		}
		for (size_t k = 0; k < parts; k++) {
			struct ksched_running_view *v;
			/* A part that ended while the master was down, or one
			 * not reported yet, runs nowhere. */
			if (t->gw && t->gw[k] >= KSCHED__PART_DONE)
				continue;
			v = &r->rv[r->nr++];
			v->task = t->id;
			v->worker = t->gw ? t->gw[k] : (uint32_t)t->worker;
			v->need = t->need;
			v->started = t->started;
			v->expected_end = d ? t->started + d : 0;
			v->user = t->user;
		}
	}
	return KSCHED_OK;
}

ksched_err
ksched_sched_dispatch(ksched_sched *s, int64_t now, const uint32_t *workers,
		      const uint32_t *max, size_t nworkers,
		      struct ksched_assignment *out, size_t outmax, size_t *n)
{
	struct round r = {0};
	uint64_t total = 0;
	size_t m = 0, np = 0;
	ksched_err e;

	*n = 0;
	s->now = now;
	for (size_t i = 0; i < nworkers; i++)
		total += max[i];
	e = ksched_queue_promote(s->q, now, NULL);
	if (e || !total || !outmax)
		return e;
	/* Look at enough ready tasks to fill what was asked, with room to
	 * skip those that fit nowhere, but not the whole window each turn. */
	e = ksched_queue_ready_scan(s->q, scan_len(s, total), s->scan, &m);
	if (!e)
		e = round_alloc(s, &r, m, nworkers, outmax);
	if (!e)
		e = round_tasks(s, &r, m, now);
	if (!e && r.nt) {
		struct ksched_select_view v = {now, r.tv, r.nt, r.wv, 0,
					       r.rv, 0};
		e = round_workers(s, &r, workers, max, nworkers);
		if (!e)
			e = round_running(s, &r);
		v.nworkers = r.nw;
		v.running = r.rv; /* round_running may have moved it */
		v.nrunning = r.nr;
		if (!e)
			e = ksched_policy_place(s->policy, &v, r.pl, outmax,
						&np);
	}
	for (size_t i = 0; i < np && !e; i++) {
		struct tinfo *t = ksched__u64map_get(&s->tasks, r.pl[i].task);
		size_t k = t && t->nodes > 1 ? (size_t)t->nodes : 1;
		if (t && k > 1) {
			/* A gang's parts come together, ranks in order. */
			if (i + k > np || *n + k > outmax || t->worker >= 0)
				break;
			e = place_gang(s, t, &r.pl[i], now, &out[*n]);
			if (!e)
				*n += k;
			else if (e == KSCHED_EINVAL || e == KSCHED_ENOSPC)
				e = KSCHED_OK; /* not placed this time */
			i += k - 1;
			continue;
		}
		if (!t || t->worker >= 0 || serve_cached(s, t, now))
			continue;
		e = place(s, t, r.pl[i].worker, now, &out[*n]);
		if (!e)
			(*n)++;
	}
	/* Placed nowhere: say why (a task served from the cache is gone). */
	for (size_t i = 0; i < r.nt && !e; i++) {
		struct tinfo *t = ksched__u64map_get(&s->tasks, r.tv[i].id);
		if (t && t->worker < 0)
			explain(s, t);
	}
	round_free(&r);
	return e;
}
