/*
 * libksched - the scheduling core (see include/ksched/sched.h).
 *
 * Memory: a `tinfo` per live task the core has seen (submitted here, or
 * met in a dispatch scan), holding what placement needs without decoding
 * the spec again: its cache key, requests, timeout, and while it runs its
 * worker, lease token and deadline.  Maps: id -> tinfo (all), id -> tinfo
 * (running), first 8 key bytes -> primary tinfo (single flight), follower
 * id -> primary tinfo.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "sched_int.h"

#include "ksched/sched.h"

void
ksched_sched_config_init(struct ksched_sched_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->lease_ms = 60000;
	cfg->lease_grace_ms = 30000;
	cfg->scan_max = 4096;
}

static uint64_t
key64(const struct ksched_key *k)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | k->bytes[i];
	return v ? v : 1;
}

/* ---- tinfo ------------------------------------------------------------- */

static void
tinfo_free(struct tinfo *t)
{
	if (!t)
		return;
	ksched__free(t->kind);
	ksched__free(t->user);
	ksched__free(t->reason);
	ksched__free(t->sel);
	ksched__free(t->lab);
	ksched__free(t->gw);
	ksched__free(t->gdone);
	ksched__free(t->res0);
	ksched__free(t->fl);
	ksched__free(t);
}

/* Copy n key/value pairs into one block: the views, then the strings. */
static int
copy_pairs(const ksched_task *spec, size_t n,
	   const char *(*key)(const ksched_task *, size_t),
	   const char *(*val)(const ksched_task *, size_t),
	   struct ksched_label_view **out, size_t *nout)
{
	size_t bytes = n * sizeof(**out);
	struct ksched_label_view *v;
	char *p;

	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		bytes += strlen(key(spec, i)) + strlen(val(spec, i)) + 2;
	v = ksched__malloc(bytes);
	if (!v)
		return -1;
	p = (char *)(v + n);
	for (size_t i = 0; i < n; i++) {
		v[i].key = strcpy(p, key(spec, i));
		p += strlen(p) + 1;
		v[i].value = strcpy(p, val(spec, i));
		p += strlen(p) + 1;
	}
	*out = v;
	*nout = n;
	return 0;
}

static int
copy_selector(struct tinfo *t, const ksched_task *spec)
{
	return copy_pairs(spec, ksched_task_selectorc(spec),
			  ksched_task_selector_key, ksched_task_selector_value,
			  &t->sel, &t->nsel) ||
	       copy_pairs(spec, ksched_task_labelc(spec),
			  ksched_task_label_key, ksched_task_label_value,
			  &t->lab, &t->nlab);
}

static struct tinfo *
tinfo_new(uint64_t id, const ksched_task *spec, int64_t submitted)
{
	struct tinfo *t = ksched__calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->kind = ksched__strdup(ksched_task_kind(spec));
	t->user = ksched__strdup(ksched_task_user(spec));
	if (!t->kind || !t->user || copy_selector(t, spec)) {
		ksched__free(t->kind);
		ksched__free(t->user);
		ksched__free(t->sel);
		ksched__free(t);
		return NULL;
	}
	t->id = id;
	ksched_task_cache_key(spec, &t->key);
	t->need.cpu_milli = ksched_task_cpu_milli(spec);
	t->need.mem_mb = ksched_task_mem_mb(spec);
	t->need.gpus = ksched_task_gpus(spec);
	t->need.slots = 1;
	t->timeout_ms = ksched_task_timeout_ms(spec);
	t->ttl_ms = ksched_task_cache_ttl_ms(spec);
	t->no_cache = ksched_task_no_cache(spec);
	t->prio = ksched_task_priority(spec);
	t->nodes = ksched_task_nodes(spec);
	t->est_ms = ksched_task_est_runtime_ms(spec);
	t->submitted = submitted;
	t->worker = -1;
	return t;
}

/* The tinfo of id, loading it from the queue when not known yet. */
ksched_err
ksched__sched_tinfo_get(ksched_sched *s, uint64_t id, struct tinfo **out)
{
	struct tinfo *t = ksched__u64map_get(&s->tasks, id);
	struct ksched_task_info info;
	ksched_task *spec;
	ksched_err e;

	if (t) {
		*out = t;
		return KSCHED_OK;
	}
	e = ksched_queue_get(s->q, id, &info, &spec);
	if (e)
		return e;
	t = tinfo_new(id, spec, info.submitted);
	ksched_task_free(spec);
	if (!t || ksched__u64map_put(&s->tasks, id, t) != 0) {
		tinfo_free(t);
		return KSCHED_ENOMEM;
	}
	*out = t;
	return KSCHED_OK;
}

/* Forget what t kept as a running gang (its parts' workers and results). */
static void
gang_forget(struct tinfo *t)
{
	ksched__free(t->gw);
	ksched__free(t->gdone);
	ksched__free(t->res0);
	t->gw = NULL;
	t->gdone = NULL;
	t->res0 = NULL;
	t->ngseen = 0;
	t->ngdone = 0;
}

/* Forget t entirely (the task ended). */
void
ksched__sched_tinfo_drop(ksched_sched *s, struct tinfo *t)
{
	if (t->in_flight &&
	    ksched__u64map_get(&s->flight, key64(&t->key)) == t)
		ksched__u64map_del(&s->flight, key64(&t->key));
	ksched__u64map_del(&s->running, t->id);
	ksched__u64map_del(&s->tasks, t->id);
	tinfo_free(t);
}

void
ksched__sched_set_reason(struct tinfo *t, const char *why)
{
	if (t->reason && strcmp(t->reason, why) == 0)
		return;
	ksched__free(t->reason);
	t->reason = ksched__strdup(why);
}

void
ksched__sched_stop_running(ksched_sched *s, struct tinfo *t,
			   enum ksched_outcome how)
{
	uint32_t parts = t->gw ? (uint32_t)t->nodes : 1;

	if (t->worker < 0)
		return;
	for (uint32_t r = 0; r < parts; r++) {
		uint32_t w = t->gw ? t->gw[r] : (uint32_t)t->worker;
		if (w == KSCHED__PART_DONE)
			continue; /* ended while the master was down */
		ksched__sched_event(s, KSCHED_EV_TASK_FINISHED, t, w,
				    how == KSCHED_OUTCOME_COMPLETED, s->now);
		ksched_members_release(s->members, w, &t->need, how);
	}
	ksched__u64map_del(&s->running, t->id);
	gang_forget(t);
	t->worker = -1;
	t->token = 0;
}

/* ---- what the policy sees ----------------------------------------------- */

void
ksched__sched_task_view(const struct tinfo *t, struct ksched_task_view *v)
{
	memset(v, 0, sizeof(*v));
	v->id = t->id;
	v->priority = t->prio;
	v->kind = t->kind;
	v->user = t->user;
	v->need = t->need;
	v->nodes = t->nodes;
	v->submitted = t->submitted;
	v->est_runtime_ms = t->est_ms;
	v->timeout_ms = t->timeout_ms;
	v->selector = t->sel;
	v->nselector = t->nsel;
	v->labels = t->lab;
	v->nlabels = t->nlab;
}

bool
ksched__sched_worker_view(ksched_sched *s, uint32_t index,
			  struct ksched_worker_status *st,
			  struct ksched_worker_view *v)
{
	if (ksched_members_status(s->members, index, st))
		return false;
	memset(v, 0, sizeof(*v));
	v->index = index;
	v->id = st->id;
	v->capacity = st->capacity;
	v->allocated = st->allocated;
	v->running = st->running;
	v->load = st->load;
	v->state = st->state;
	return true;
}

void
ksched__sched_event(ksched_sched *s, enum ksched_policy_event_type type,
		    const struct tinfo *t, uint32_t worker, bool ok, int64_t now)
{
	struct ksched_policy_event ev = {.type = type, .now = now, .ok = ok};
	struct ksched_worker_status st;
	struct ksched_worker_view wv;
	struct ksched_task_view tv;

	if (t) {
		ksched__sched_task_view(t, &tv);
		ev.task = &tv;
	}
	if (ksched__sched_worker_view(s, worker, &st, &wv))
		ev.worker = &wv;
	ksched_policy_event(s->policy, &ev);
}

/* ---- life cycle -------------------------------------------------------- */

/*
 * Leases from an earlier run: attached ones have nobody to end them, give
 * them back; the others wait in `prior` for their holders to report them
 * within the adoption window (if there is one).
 */
static ksched_err
sort_old_leases(ksched_sched *s, int64_t now)
{
	uint64_t ids[256], cursor = 0, next;
	struct ksched_task_info info;
	size_t n;
	ksched_err e;

	do {
		e = ksched_queue_list(s->q, KSCHED_STATE_LEASED, cursor, 256,
				      ids, &n, &next);
		for (size_t i = 0; i < n && !e; i++) {
			e = ksched_queue_get(s->q, ids[i], &info, NULL);
			if (!e && (info.flags & KSCHED_TASK_ATTACHED))
				e = ksched_queue_release(s->q, ids[i],
							 info.token, now);
			else if (!e && s->cfg.adopt_window_ms > 0 &&
				 ksched__u64map_put(&s->prior, ids[i],
						    (void *)1))
				e = KSCHED_ENOMEM;
		}
		cursor = next;
	} while (!e && next);
	s->adopt_until = now + s->cfg.adopt_window_ms;
	s->adopting = s->prior.n > 0;
	return e;
}

ksched_err
ksched_sched_new(ksched_queue *q, ksched_cache *c,
		 const struct ksched_sched_config *cfg, int64_t now,
		 ksched_sched **out)
{
	ksched_sched *s = ksched__calloc(1, sizeof(*s));
	ksched_err e;

	*out = NULL;
	if (!s)
		return KSCHED_ENOMEM;
	s->q = q;
	s->c = c;
	if (cfg)
		s->cfg = *cfg;
	else
		ksched_sched_config_init(&s->cfg);
	if (s->cfg.scan_max == 0 || s->cfg.lease_ms <= 0 ||
	    s->cfg.adopt_window_ms < 0) {
		ksched__free(s);
		return KSCHED_EINVAL;
	}
	s->policy = s->cfg.policy;
	if (!s->policy) {
		e = ksched_policy_load("least_loaded", &s->policy, NULL, 0);
		if (e) {
			ksched__free(s);
			return e;
		}
		s->own_policy = true;
	}
	ksched__u64map_init(&s->tasks);
	ksched__u64map_init(&s->running);
	ksched__u64map_init(&s->flight);
	ksched__u64map_init(&s->attached);
	ksched__u64map_init(&s->cancels);
	ksched__u64map_init(&s->prior);
	s->scan = ksched__calloc(s->cfg.scan_max, sizeof(*s->scan));
	e = s->scan ? ksched_members_new(&s->members) : KSCHED_ENOMEM;
	if (!e)
		e = sort_old_leases(s, now);
	if (e) {
		ksched_sched_free(s);
		return e;
	}
	*out = s;
	return KSCHED_OK;
}

void
ksched_sched_free(ksched_sched *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->tasks.cap; i++)
		if (s->tasks.slots[i].key)
			tinfo_free(s->tasks.slots[i].val);
	ksched__u64map_free(&s->tasks);
	ksched__u64map_free(&s->running);
	ksched__u64map_free(&s->flight);
	ksched__u64map_free(&s->attached);
	ksched__u64map_free(&s->cancels);
	ksched__u64map_free(&s->prior);
	ksched_members_free(s->members);
	ksched__free(s->scan);
	if (s->own_policy)
		ksched_policy_free(s->policy);
	ksched__free(s);
}

ksched_members *
ksched_sched_members(ksched_sched *s)
{
	return s->members;
}

void
ksched_sched_stats(const ksched_sched *s, struct ksched_sched_stats *out)
{
	*out = s->st;
}

size_t
ksched_sched_attached(const ksched_sched *s)
{
	return s->attached.n;
}

int64_t
ksched_sched_worker_of(const ksched_sched *s, uint64_t id)
{
	const struct tinfo *t = ksched__u64map_get(&s->running, id);

	return t ? t->worker : -1;
}

const char *
ksched_sched_pending_reason(const ksched_sched *s, uint64_t id)
{
	const struct tinfo *t = ksched__u64map_get(&s->tasks, id);

	return t && t->worker < 0 ? t->reason : NULL;
}

bool
ksched_sched_task_times(const ksched_sched *s, uint64_t id,
			int64_t *submitted, int64_t *started)
{
	const struct tinfo *t = ksched__u64map_get(&s->running, id);

	if (!t || t->worker < 0)
		return false;
	*submitted = t->submitted;
	*started = t->started;
	return true;
}


/* ---- single flight ------------------------------------------------------ */

/* The in-flight primary for t's key, if it is another live task. */
struct tinfo *
ksched__sched_flight_primary(ksched_sched *s, const struct tinfo *t)
{
	struct tinfo *p;

	if (t->no_cache)
		return NULL;
	p = ksched__u64map_get(&s->flight, key64(&t->key));
	if (!p || p == t || memcmp(&p->key, &t->key, sizeof(t->key)) != 0)
		return NULL;
	return p;
}

int
ksched__sched_flight_register(ksched_sched *s, struct tinfo *t)
{
	if (t->no_cache || ksched__u64map_get(&s->flight, key64(&t->key)))
		return 0;
	if (ksched__u64map_put(&s->flight, key64(&t->key), t) != 0)
		return -1;
	t->in_flight = true;
	return 0;
}

/* Attach task t (READY) to primary p. */
ksched_err
ksched__sched_attach(ksched_sched *s, struct tinfo *p, struct tinfo *t, int64_t now)
{
	struct follower f = {t->id, 0};
	ksched_err e;

	if (p->nfl == p->capfl) {
		size_t cap = p->capfl ? p->capfl * 2 : 4;
		struct follower *v = ksched__realloc(p->fl, cap * sizeof(*v));
		if (!v)
			return KSCHED_ENOMEM;
		p->fl = v;
		p->capfl = cap;
	}
	if (ksched__u64map_put(&s->attached, t->id, p) != 0)
		return KSCHED_ENOMEM;
	e = ksched_queue_attach(s->q, t->id, now, &f.token);
	if (e) {
		ksched__u64map_del(&s->attached, t->id);
		return e;
	}
	p->fl[p->nfl++] = f;
	s->st.attached++;
	ksched__sched_tinfo_drop(s, t);
	return KSCHED_OK;
}

/* p ended: its followers end with its result, or go back to READY. */
void
ksched__sched_resolve_followers(ksched_sched *s, struct tinfo *p, int64_t now, bool ok,
		  const void *result, size_t len)
{
	for (size_t i = 0; i < p->nfl; i++) {
		struct follower *f = &p->fl[i];
		ksched_err e = ok ? ksched_queue_finish_cached(s->q, f->id, now,
							       result, len)
				  : ksched_queue_release(s->q, f->id, f->token,
							 now);
		ksched__u64map_del(&s->attached, f->id);
		if (e && e != KSCHED_ESTATE && e != KSCHED_ESTALE)
			KLOG(KSCHED_LOG_WARN,
			     "msg=\"cannot resolve attached task\" task=%llu "
			     "error=\"%s\"",
			     (unsigned long long)f->id, ksched_strerror(e));
	}
	p->nfl = 0;
}

/* Remove follower id from its primary's list. */
static void
detach(ksched_sched *s, uint64_t id)
{
	struct tinfo *p = ksched__u64map_del(&s->attached, id);

	for (size_t i = 0; p && i < p->nfl; i++) {
		if (p->fl[i].id == id) {
			p->fl[i] = p->fl[--p->nfl];
			return;
		}
	}
}

/* ---- submit ------------------------------------------------------------- */

/* Task id was just pushed: end it from the cache, attach it, or keep it. */
static ksched_err
place_new(ksched_sched *s, const ksched_task *spec, uint64_t id, int64_t now,
	  bool *cached)
{
	struct tinfo *t = tinfo_new(id, spec, now), *p;
	void *hit;
	size_t len;
	ksched_err e;

	*cached = false;
	if (!t)
		return KSCHED_ENOMEM;
	if (!t->no_cache &&
	    ksched_cache_get(s->c, &t->key, now, &hit, &len) == KSCHED_OK) {
		e = ksched_queue_finish_cached(s->q, id, now, hit, len);
		ksched_free(hit);
		tinfo_free(t);
		*cached = e == KSCHED_OK;
		s->st.cached += *cached;
		return e;
	}
	if (ksched__u64map_put(&s->tasks, id, t) != 0) {
		tinfo_free(t);
		return KSCHED_ENOMEM;
	}
	p = ksched_task_not_before(spec) > now ? NULL : ksched__sched_flight_primary(s, t);
	if (p)
		return ksched__sched_attach(s, p, t, now);
	return ksched__sched_flight_register(s, t) ? KSCHED_ENOMEM : KSCHED_OK;
}

ksched_err
ksched_sched_submit(ksched_sched *s, const ksched_task *const *tasks,
		    size_t n, int64_t now, uint64_t *ids, bool *cached,
		    size_t *bad, char *err, size_t errlen)
{
	ksched_err e = ksched_queue_push_batch(s->q, tasks, n, now, ids, bad,
					       err, errlen);

	s->now = now;

	for (size_t i = 0; i < n && !e; i++) {
		bool c;
		e = place_new(s, tasks[i], ids[i], now, &c);
		if (cached)
			cached[i] = c;
	}
	if (!e)
		s->st.submitted += n;
	return e;
}

/* ---- workers ------------------------------------------------------------ */

/* Cancels are announced until the worker no longer runs the task. */
static void
prune_cancels(ksched_sched *s, uint32_t index, const uint64_t *running,
	      size_t nrunning)
{
	size_t i = 0;

	while (i < s->cancels.cap) {
		struct u64map_slot *sl = &s->cancels.slots[i];
		bool still = false;
		if (!sl->key || (uintptr_t)sl->val != (uintptr_t)index + 1) {
			i++;
			continue;
		}
		for (size_t j = 0; j < nrunning && !still; j++)
			still = running[j] == sl->key;
		if (still)
			i++;
		else
			ksched__u64map_del(&s->cancels, sl->key);
	}
}


/* Give back every lease held by worker index. */
/* Whether worker index runs t (a part of it, for a gang). */
static bool
runs_on(const struct tinfo *t, uint32_t index)
{
	if (!t->gw)
		return t->worker == (int64_t)index;
	for (int64_t r = 0; r < t->nodes; r++)
		if (t->gw[r] == index)
			return true;
	return false;
}

/* The other parts of gang t must stop: announce it in the surveys. */
static void
cancel_parts(ksched_sched *s, const struct tinfo *t)
{
	if (t->gw && ksched__u64map_put(&s->cancels, t->id,
					(void *)(uintptr_t)(t->worker + 1)))
		KLOG(KSCHED_LOG_WARN, "msg=\"cannot track cancel\" task=%llu",
		     (unsigned long long)t->id);
}

static void
release_worker(ksched_sched *s, uint32_t index, int64_t now)
{
	size_t i = 0;

	while (i < s->running.cap) {
		struct tinfo *t = s->running.slots[i].val;
		if (!s->running.slots[i].key || !runs_on(t, index)) {
			i++;
			continue;
		}
		/* A gang loses a part: the whole gang goes back. */
		cancel_parts(s, t);
		if (ksched_queue_release(s->q, t->id, t->token, now))
			KLOG(KSCHED_LOG_WARN,
			     "msg=\"cannot hand back lease\" task=%llu",
			     (unsigned long long)t->id);
		else
			s->st.reassigned++;
		ksched__sched_stop_running(s, t, KSCHED_OUTCOME_NONE);
		/* Deletion may move a later slot into i: look at i again. */
	}
}

ksched_err
ksched_sched_worker_join(ksched_sched *s, const char *id,
			 const struct ksched_resources *cap, int64_t now,
			 uint32_t *index)
{
	uint32_t old;
	ksched_err e;

	s->now = now;
	if (ksched_members_find(s->members, id, &old) == KSCHED_OK) {
		KLOG(KSCHED_LOG_NOTICE, "msg=\"worker re-registered\" worker=%s",
		     id);
		release_worker(s, old, now);
	}
	e = ksched_members_join(s->members, id, cap, now, index);
	if (!e)
		ksched__sched_event(s, KSCHED_EV_WORKER_JOINED, NULL, *index,
				    true, now);
	return e;
}

ksched_err
ksched_sched_worker_leave(ksched_sched *s, uint32_t index, int64_t now)
{
	s->now = now;
	if (!ksched_members_exists(s->members, index))
		return KSCHED_ENOENT;
	release_worker(s, index, now);
	prune_cancels(s, index, NULL, 0);
	ksched__sched_event(s, KSCHED_EV_WORKER_LEFT, NULL, index, false, now);
	return ksched_members_leave(s->members, index);
}


int64_t
ksched__sched_lease_for(const ksched_sched *s, const struct tinfo *t)
{
	return t->timeout_ms > 0 ? t->timeout_ms + s->cfg.lease_grace_ms
				 : s->cfg.lease_ms;
}

#define NO_PART KSCHED__PART_NONE
#define DONE_PART KSCHED__PART_DONE

/* The first worker still running a part of gang t, or NO_PART. */
static uint32_t
first_worker(const struct tinfo *t)
{
	for (int64_t r = 0; r < t->nodes; r++)
		if (t->gw[r] < DONE_PART)
			return t->gw[r];
	return NO_PART;
}

/* Give the resources of gang t's parts 0..k back. */
static void
release_parts(ksched_sched *s, const struct tinfo *t, uint32_t k)
{
	for (uint32_t r = 0; r < k; r++)
		if (t->gw[r] < DONE_PART)
			ksched_members_release(s->members, t->gw[r], &t->need,
					       KSCHED_OUTCOME_NONE);
}

/*
 * Whether a part of gang t may be pieced back now: a lease from before the
 * restart, within the window.  Makes the table of its parts if needed.
 */
static bool
gang_table(ksched_sched *s, struct tinfo *t)
{
	uint32_t k = (uint32_t)t->nodes;

	if (!ksched__u64map_get(&s->prior, t->id) || s->now >= s->adopt_until)
		return false;
	if (t->gw)
		return true;
	t->gw = ksched__malloc(k * sizeof(*t->gw));
	t->gdone = ksched__calloc(k, 1);
	if (!t->gw || !t->gdone) {
		ksched__free(t->gw);
		ksched__free(t->gdone);
		t->gw = NULL;
		t->gdone = NULL;
		return false;
	}
	for (uint32_t r = 0; r < k; r++)
		t->gw[r] = NO_PART;
	t->ngseen = 0;
	t->ngdone = 0;
	return true;
}

/*
 * Every part of gang t (leased before the restart, per info) is known: it
 * runs again as if placed here, resources counted on each running part's
 * worker, reports accepted.  False if it cannot (no room any more: the
 * window's end hands it back).  If every part ended already, nothing runs
 * and the caller completes the gang.
 */
static bool
gang_whole(ksched_sched *s, struct tinfo *t, const struct ksched_task_info *info)
{
	uint32_t k = (uint32_t)t->nodes, w = first_worker(t), r;

	for (r = 0; r < k; r++)
		if (t->gw[r] < DONE_PART &&
		    ksched_members_alloc(s->members, t->gw[r], &t->need))
			break;
	if (r < k ||
	    (w != NO_PART && ksched__u64map_put(&s->running, t->id, t))) {
		release_parts(s, t, r);
		return false;
	}
	if (ksched__u64map_del(&s->prior, t->id))
		s->adopted++;
	KLOG(KSCHED_LOG_NOTICE,
	     "msg=\"gang adopted\" task=%llu parts=%u done=%u",
	     (unsigned long long)t->id, k, t->ngdone);
	if (w == NO_PART)
		return true;
	t->worker = w;
	t->token = info->token;
	t->deadline = info->due;
	if (ksched__sched_flight_register(s, t))
		KLOG(KSCHED_LOG_WARN, "msg=\"cannot track key\" task=%llu",
		     (unsigned long long)t->id);
	return true;
}

/* Part `rank` of gang t, leased before the restart, runs on worker index. */
static void
adopt_part(ksched_sched *s, struct tinfo *t, uint32_t index, uint32_t rank,
	   const struct ksched_task_info *info)
{
	if (rank >= (uint32_t)t->nodes || !gang_table(s, t) ||
	    t->gw[rank] != NO_PART)
		return;
	t->gw[rank] = index;
	if (++t->ngseen == (uint32_t)t->nodes)
		gang_whole(s, t, info);
}

/*
 * A worker reports a lease the core does not know: one from before a
 * restart of the master.  Adopt it, so it keeps its lease and its
 * resources are counted, instead of expiring while it runs.
 */
static void
adopt(ksched_sched *s, uint32_t index, uint64_t id, const uint32_t *rank)
{
	struct ksched_task_info info;
	struct tinfo *t;

	if (ksched__u64map_get(&s->cancels, id) ||
	    ksched_queue_get(s->q, id, &info, NULL) ||
	    info.state != KSCHED_STATE_LEASED ||
	    (info.flags & KSCHED_TASK_ATTACHED) || ksched__sched_tinfo_get(s, id, &t))
		return;
	if (t->nodes > 1) {
		/* A part without its rank cannot be placed in its gang. */
		if (rank)
			adopt_part(s, t, index, *rank, &info);
		return;
	}
	if (t->worker >= 0 ||
	    ksched_members_alloc(s->members, index, &t->need) ||
	    ksched__u64map_put(&s->running, id, t)) {
		if (t->worker < 0)
			ksched_members_release(s->members, index, &t->need,
					       KSCHED_OUTCOME_NONE);
		return;
	}
	t->worker = index;
	t->token = info.token;
	t->deadline = info.due;
	if (ksched__u64map_del(&s->prior, id))
		s->adopted++;
	if (ksched__sched_flight_register(s, t))
		KLOG(KSCHED_LOG_WARN, "msg=\"cannot track key\" task=%llu",
		     (unsigned long long)id);
	KLOG(KSCHED_LOG_NOTICE, "msg=\"lease adopted\" task=%llu worker=%u",
	     (unsigned long long)id, index);
}

ksched_err
ksched_sched_worker_heartbeat_ranks(ksched_sched *s, uint32_t index,
				    int64_t now, double load,
				    const uint64_t *running,
				    const uint32_t *ranks, size_t nrunning)
{
	ksched_err e = KSCHED_OK;

	s->now = now;

	if (!ksched_members_exists(s->members, index))
		return KSCHED_ENOENT;
	ksched_members_seen(s->members, index, now, load);
	prune_cancels(s, index, running, nrunning);
	for (size_t i = 0; i < nrunning && !e; i++) {
		struct tinfo *t = ksched__u64map_get(&s->running, running[i]);
		int64_t lease;
		if (!t) {
			adopt(s, index, running[i], ranks ? &ranks[i] : NULL);
			continue;
		}
		if (!runs_on(t, index) || t->timeout_ms > 0)
			continue;
		/* Renew once half the lease is gone. */
		lease = ksched__sched_lease_for(s, t);
		if (t->deadline - now > lease / 2)
			continue;
		e = ksched_queue_touch(s->q, t->id, t->token, now, lease,
				       &t->deadline);
		if (e == KSCHED_ESTALE)
			e = KSCHED_OK;
	}
	return e;
}

ksched_err
ksched_sched_worker_heartbeat(ksched_sched *s, uint32_t index, int64_t now,
			      double load, const uint64_t *running,
			      size_t nrunning)
{
	return ksched_sched_worker_heartbeat_ranks(s, index, now, load,
						   running, NULL, nrunning);
}

/*
 * Stop piecing gang t together: forget the parts reported, and tell their
 * workers to stop them.
 */
static void
drop_parts(ksched_sched *s, struct tinfo *t)
{
	uint32_t w;

	if (!t->gw || t->worker >= 0)
		return;
	w = first_worker(t);
	if (w != NO_PART &&
	    ksched__u64map_put(&s->cancels, t->id, (void *)(uintptr_t)(w + 1)))
		KLOG(KSCHED_LOG_WARN, "msg=\"cannot track cancel\" task=%llu",
		     (unsigned long long)t->id);
	gang_forget(t);
}

/* Hand back prior lease id if nobody adopted it; true if it went back. */
static bool
hand_back_prior(ksched_sched *s, uint64_t id, int64_t now)
{
	struct tinfo *t = ksched__u64map_get(&s->tasks, id);
	struct ksched_task_info info;

	if (t && t->worker >= 0)
		return false; /* adopted, or placed again since */
	if (t)
		drop_parts(s, t);
	if (ksched_queue_get(s->q, id, &info, NULL) ||
	    info.state != KSCHED_STATE_LEASED ||
	    (info.flags & KSCHED_TASK_ATTACHED))
		return false;
	if (ksched_queue_release(s->q, id, info.token, now)) {
		KLOG(KSCHED_LOG_WARN, "msg=\"cannot hand back lease\" task=%llu",
		     (unsigned long long)id);
		return false;
	}
	s->st.reassigned++;
	return true;
}

/*
 * The adoption window closed: every lease from before the restart that no
 * worker reported goes back to READY, the attempt not counted (its holder
 * is as good as dead).
 */
static void
close_adoption(ksched_sched *s, int64_t now)
{
	uint64_t back = 0;

	for (size_t i = 0; i < s->prior.cap; i++)
		if (s->prior.slots[i].key &&
		    hand_back_prior(s, s->prior.slots[i].key, now))
			back++;
	ksched__u64map_free(&s->prior);
	ksched__u64map_init(&s->prior);
	s->adopting = false;
	KLOG(KSCHED_LOG_NOTICE,
	     "msg=\"unreported leases from before the restart handed back\" "
	     "count=%llu adopted=%llu",
	     (unsigned long long)back, (unsigned long long)s->adopted);
}

size_t
ksched_sched_cancels(const ksched_sched *s, uint64_t *ids, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < s->cancels.cap && n < max; i++)
		if (s->cancels.slots[i].key)
			ids[n++] = s->cancels.slots[i].key;
	return n;
}

ksched_err
ksched_sched_worker_drain(ksched_sched *s, uint32_t index)
{
	if (!ksched_members_exists(s->members, index))
		return KSCHED_ENOENT;
	ksched_members_set_state(s->members, index, KSCHED_WORKER_DRAINING);
	return KSCHED_OK;
}

/* ---- reports -------------------------------------------------------------- */

/* A task ended for good (success, dead, canceled): forget it. */
static void
ended(ksched_sched *s, struct tinfo *t, int64_t now, bool ok,
      const void *result, size_t len)
{
	ksched__sched_stop_running(s, t, ok ? KSCHED_OUTCOME_COMPLETED : KSCHED_OUTCOME_FAILED);
	ksched__sched_resolve_followers(s, t, now, ok, result, len);
	ksched__sched_tinfo_drop(s, t);
}

static ksched_err
report_ok(ksched_sched *s, struct tinfo *t, uint64_t token, int64_t now,
	  const void *result, size_t len)
{
	ksched_err e = ksched_queue_complete(s->q, t->id, token, now, result,
					     len);

	if (e)
		return e;
	if (!t->no_cache) {
		ksched_err ce = ksched_cache_put(s->c, &t->key, t->kind, result,
						 len, t->ttl_ms, now);
		if (ce && ce != KSCHED_ETOOBIG)
			return ce;
	}
	s->st.completed++;
	ended(s, t, now, true, result, len);
	return KSCHED_OK;
}

static ksched_err
report_fail(ksched_sched *s, struct tinfo *t, uint64_t token, int64_t now,
	    const char *error)
{
	enum ksched_state st;
	ksched_err e = ksched_queue_fail(s->q, t->id, token, now, error, &st);

	if (e)
		return e;
	s->st.failed++;
	if (st == KSCHED_STATE_DEAD)
		s->st.dead++;
	else
		s->st.retried++;
	if (st == KSCHED_STATE_DEAD)
		ended(s, t, now, false, NULL, 0);
	else
		ksched__sched_stop_running(s, t, KSCHED_OUTCOME_FAILED);
	return KSCHED_OK;
}

/* Record that part `rank` of gang t succeeded (part 0 with the result). */
static ksched_err
gang_mark_done(struct tinfo *t, uint32_t rank, const void *result, size_t len)
{
	if (rank >= (uint32_t)t->nodes)
		return KSCHED_EINVAL;
	if (t->gdone[rank])
		return KSCHED_ESTALE; /* reported already */
	if (rank == 0 && len) {
		t->res0 = ksched__memdup(result, len);
		if (!t->res0)
			return KSCHED_ENOMEM;
		t->res0len = len;
	}
	t->gdone[rank] = 1;
	t->ngdone++;
	return KSCHED_OK;
}

/* Every part of gang t succeeded: so did the gang, with part 0's result. */
static ksched_err
gang_finish(ksched_sched *s, struct tinfo *t, uint64_t token, int64_t now)
{
	/* report_ok frees res0 (stop_running): keep it alive meanwhile. */
	void *res = t->res0;
	size_t rlen = t->res0len;
	ksched_err e;

	t->res0 = NULL;
	e = report_ok(s, t, token, now, res, rlen);
	ksched__free(res);
	return e;
}

/* A part of running gang t succeeded: the gang succeeds with the last. */
static ksched_err
gang_part_ok(ksched_sched *s, struct tinfo *t, uint64_t token, uint32_t rank,
	     int64_t now, const void *result, size_t len)
{
	ksched_err e = gang_mark_done(t, rank, result, len);

	if (e || t->ngdone < (uint32_t)t->nodes)
		return e;
	return gang_finish(s, t, token, now);
}

/*
 * A part of gang t, leased before the restart and not adopted yet,
 * succeeded (it may have ended while the master was down): it counts as
 * reported, done and holding nothing.
 */
static ksched_err
gang_part_back_ok(ksched_sched *s, struct tinfo *t, uint64_t token,
		  uint32_t rank, int64_t now, const void *result, size_t len)
{
	struct ksched_task_info info;
	ksched_err e;

	if (ksched_queue_get(s->q, t->id, &info, NULL) ||
	    info.state != KSCHED_STATE_LEASED || info.token != token ||
	    !gang_table(s, t))
		return KSCHED_ESTALE;
	e = gang_mark_done(t, rank, result, len);
	if (e)
		return e;
	if (t->gw[rank] == NO_PART)
		t->ngseen++;
	t->gw[rank] = DONE_PART;
	if (t->ngseen < (uint32_t)t->nodes || !gang_whole(s, t, &info) ||
	    t->ngdone < (uint32_t)t->nodes)
		return KSCHED_OK;
	return gang_finish(s, t, token, now);
}

ksched_err
ksched_sched_complete_part(ksched_sched *s, uint64_t id, uint64_t token,
			   uint32_t rank, int64_t now, bool ok,
			   const void *result, size_t len, const char *error)
{
	struct tinfo *t = ksched__u64map_get(&s->tasks, id);
	bool loaded = false;
	ksched_err e;

	s->now = now;
	if (t && t->worker >= 0 && t->token != token) {
		s->st.stale++;
		return KSCHED_ESTALE;
	}
	if (!t) {
		/* A lease from before a restart, or a stale report. */
		e = ksched__sched_tinfo_get(s, id, &t);
		if (e)
			return e;
		loaded = true;
	}
	if (t->nodes > 1 && t->worker < 0 && ok) {
		/* A part of a gang from before the restart (being pieced
		 * together), or a stale report: one part cannot end a gang
		 * nobody adopted. */
		e = ksched__u64map_get(&s->prior, id)
			    ? gang_part_back_ok(s, t, token, rank, now, result,
						len)
			    : KSCHED_ESTALE;
		if (e == KSCHED_ESTALE)
			s->st.stale++;
		if (e && loaded && !t->gw)
			ksched__sched_tinfo_drop(s, t);
		return e;
	}
	if (t->gw && t->worker < 0) {
		drop_parts(s, t);
		return report_fail(s, t, token, now, error);
	}
	if (t->gw) {
		if (ok)
			return gang_part_ok(s, t, token, rank, now, result,
					    len);
		cancel_parts(s, t);
		return report_fail(s, t, token, now, error);
	}
	e = ok ? report_ok(s, t, token, now, result, len)
	       : report_fail(s, t, token, now, error);
	if (e == KSCHED_ESTALE)
		s->st.stale++;
	if (e && loaded)
		ksched__sched_tinfo_drop(s, t);
	return e;
}

ksched_err
ksched_sched_complete(ksched_sched *s, uint64_t id, uint64_t token,
		      int64_t now, bool ok, const void *result, size_t len,
		      const char *error)
{
	return ksched_sched_complete_part(s, id, token, 0, now, ok, result,
					  len, error);
}

ksched_err
ksched_sched_cancel(ksched_sched *s, uint64_t id, int64_t now)
{
	struct tinfo *t;
	ksched_err e = ksched_queue_cancel(s->q, id, now);

	s->now = now;

	if (e)
		return e;
	s->st.canceled++;
	if (ksched__u64map_get(&s->attached, id))
		detach(s, id);
	t = ksched__u64map_get(&s->tasks, id);
	/* Its worker is told to stop it (ksched_sched_cancels()). */
	if (t && t->worker >= 0 &&
	    ksched__u64map_put(&s->cancels, id,
			       (void *)(uintptr_t)(t->worker + 1)))
		KLOG(KSCHED_LOG_WARN, "msg=\"cannot track cancel\" task=%llu",
		     (unsigned long long)id);
	if (t) {
		drop_parts(s, t);
		ended(s, t, now, false, NULL, 0);
	}
	return KSCHED_OK;
}

ksched_err
ksched_sched_retry(ksched_sched *s, uint64_t id, int64_t now)
{
	ksched_err e = ksched_queue_retry(s->q, id, now);

	if (!e)
		KLOG(KSCHED_LOG_NOTICE, "msg=\"task retried by hand\" task=%llu",
		     (unsigned long long)id);
	return e;
}

ksched_err
ksched_sched_release(ksched_sched *s, uint64_t id, uint64_t token,
		     int64_t now)
{
	struct tinfo *t = ksched__u64map_get(&s->running, id);
	ksched_err e;

	s->now = now;

	if (t && t->token != token)
		return KSCHED_ESTALE;
	e = ksched_queue_release(s->q, id, token, now);
	if (!e && t) {
		cancel_parts(s, t);
		ksched__sched_stop_running(s, t, KSCHED_OUTCOME_NONE);
	}
	return e;
}

ksched_err
ksched_sched_tick(ksched_sched *s, int64_t now, int64_t *next)
{
	ksched_err e = ksched_queue_promote(s->q, now, NULL);
	size_t i = 0;

	s->now = now;

	while (!e && i < s->running.cap) {
		struct tinfo *t = s->running.slots[i].val;
		if (!s->running.slots[i].key || t->deadline > now) {
			i++;
			continue;
		}
		KLOG(KSCHED_LOG_NOTICE,
		     "msg=\"lease expired\" task=%llu worker=%lld",
		     (unsigned long long)t->id, (long long)t->worker);
		s->st.expired++;
		s->st.reassigned++;
		e = report_fail(s, t, t->token, now, "lease expired");
		if (e == KSCHED_ESTALE) {
			ksched__sched_stop_running(s, t, KSCHED_OUTCOME_FAILED);
			e = KSCHED_OK;
		}
		/* t left the running map: slot i holds another entry. */
	}
	if (!e && s->adopting && now >= s->adopt_until)
		close_adoption(s, now);
	if (!e)
		e = ksched_queue_expire(s->q, now, NULL, NULL);
	if (next) {
		*next = ksched_queue_next_due(s->q);
		if (s->adopting && s->adopt_until < *next)
			*next = s->adopt_until;
	}
	return e;
}
