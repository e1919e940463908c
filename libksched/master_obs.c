/*
 * libksched - what the master shows over HTTP: its metrics (counters kept
 * by the core, the cache and the master, read at scrape time; histograms
 * observed where things happen), the attempts of recent tasks and a
 * history sampled every second.  Loop thread only.
 *
 * Memory is bounded: MASTER_ATTEMPTS_MAX attempts per task (the latest),
 * MASTER_ALOG_TASKS tasks (the oldest first forgotten), MASTER_HISTORY_N
 * samples.  The attempt log lives in memory: a restarted master knows the
 * attempts it saw since, and the counts the queue keeps.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "master_int.h"
#include "utf8.h"

#include "ksched/metrics.h"

struct alog {
	struct master_attempt a[MASTER_ATTEMPTS_MAX];
	size_t n;
};

enum {
	C_SUBMITTED,
	C_COMPLETED,
	C_FAILED,
	C_RETRIED,
	C_DEAD,
	C_CANCELED,
	C_CACHE_HITS,
	C_CACHE_MISSES,
	C_CACHE_EVICTIONS,
	C_REASSIGNED,
	C_EXPIRED,
	C_BAD,
	C_COUNT
};

struct master_obs {
	ksched_metrics *reg;
	ksched_metric *c[C_COUNT];
	ksched_metric *tasks, *workers, *alloc, *total, *entries, *uptime,
		*parked;
	ksched_metric *wait, *run, *dispatch, *commit;
	struct u64map alog; /* id -> struct alog */
	uint64_t order[MASTER_ALOG_TASKS];
	size_t head, count;
	struct master_sample hist[MASTER_HISTORY_N];
	size_t hhead, hcount;
	uint64_t last_completed, last_failed;
	struct event *sampler;
};

static const struct {
	const char *name, *help;
} counters[C_COUNT] = {
	{"ksched_tasks_submitted_total", "Tasks submitted."},
	{"ksched_tasks_completed_total", "Tasks that succeeded on a worker."},
	{"ksched_tasks_failed_total", "Failed attempts (retried or dead)."},
	{"ksched_tasks_retried_total", "Failed attempts that will run again."},
	{"ksched_tasks_dead_total", "Tasks that failed with no retries left."},
	{"ksched_tasks_canceled_total", "Tasks canceled."},
	{"ksched_cache_hits_total", "Result cache hits."},
	{"ksched_cache_misses_total", "Result cache misses."},
	{"ksched_cache_evictions_total", "Result cache entries evicted."},
	{"ksched_leases_reassigned_total",
	 "Leases taken back from workers that died, re-registered or let "
	 "them expire."},
	{"ksched_leases_expired_total", "Leases that ran out."},
	{"ksched_bad_messages_total",
	 "Malformed or unexpected messages received."},
};

/* Seconds; queue wait and run time span milliseconds to hours. */
static const double long_b[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,
				2.5,   5,     10,   30,   60,  300, 1800,
				3600};
/* A dispatch pass or a commit: tens of microseconds to a second. */
static const double short_b[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
				 0.0025,  0.005,  0.01,	   0.025,  0.05,
				 0.1,	  0.25,	  1};

double
ksched__master_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ksched_err
gauge(ksched_metrics *r, const char *name, const char *help,
      const char *label, ksched_metric **out)
{
	return ksched_metrics_add(r, KSCHED_METRIC_GAUGE, name, help, label,
				  out);
}

#define NB(a) (sizeof(a) / sizeof((a)[0]))

static ksched_err
registry(struct master_obs *o)
{
	ksched_metrics *r;
	ksched_err e = ksched_metrics_new(&o->reg);

	r = o->reg;
	for (int i = 0; i < C_COUNT && !e; i++)
		e = ksched_metrics_add(r, KSCHED_METRIC_COUNTER,
				       counters[i].name, counters[i].help,
				       NULL, &o->c[i]);
	if (!e)
		e = gauge(r, "ksched_tasks", "Tasks per state.", "state",
			  &o->tasks);
	if (!e)
		e = gauge(r, "ksched_workers", "Workers per state.", "state",
			  &o->workers);
	if (!e)
		e = gauge(r, "ksched_resources_allocated",
			  "Resources allocated to running tasks, over all "
			  "workers.",
			  "resource", &o->alloc);
	if (!e)
		e = gauge(r, "ksched_resources_capacity",
			  "Resources of the registered workers.", "resource",
			  &o->total);
	if (!e)
		e = gauge(r, "ksched_cache_entries",
			  "Entries in the result cache.", NULL, &o->entries);
	if (!e)
		e = gauge(r, "ksched_lease_requests_parked",
			  "Worker lease requests waiting for work.", NULL,
			  &o->parked);
	if (!e)
		e = gauge(r, "ksched_uptime_seconds",
			  "Seconds since the master started.", NULL,
			  &o->uptime);
	if (!e)
		e = ksched_metrics_add_histogram(
			r, "ksched_queue_wait_seconds",
			"From submission to the start of an attempt.", long_b,
			NB(long_b), &o->wait);
	if (!e)
		e = ksched_metrics_add_histogram(
			r, "ksched_run_seconds",
			"From the start of an attempt to its report.", long_b,
			NB(long_b), &o->run);
	if (!e)
		e = ksched_metrics_add_histogram(
			r, "ksched_dispatch_seconds",
			"Scheduling latency: one dispatch pass.", short_b,
			NB(short_b), &o->dispatch);
	if (!e)
		e = ksched_metrics_add_histogram(
			r, "ksched_store_commit_seconds",
			"One LMDB commit (a turn's group commit).", short_b,
			NB(short_b), &o->commit);
	return e;
}

/* ---- history --------------------------------------------------------------- */

static void
sample_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ksched_master *m = arg;
	struct master_obs *o = m->obs;
	struct master_sample *s = &o->hist[o->hhead];
	struct ksched_sched_stats st;
	uint64_t c[KSCHED_STATE_COUNT];

	(void)fd;
	(void)what;
	ksched_queue_counts(m->q, c);
	ksched_sched_stats(m->s, &st);
	s->t_ms = ksched_now_ms();
	s->ready = c[KSCHED_STATE_READY];
	s->leased = c[KSCHED_STATE_LEASED];
	s->pending = c[KSCHED_STATE_PENDING];
	/* The core restarts its counts if it is rebuilt after a failed
	 * commit: count from zero then. */
	s->completed = st.completed >= o->last_completed
			       ? st.completed - o->last_completed
			       : st.completed;
	s->failed = st.failed >= o->last_failed ? st.failed - o->last_failed
						: st.failed;
	o->last_completed = st.completed;
	o->last_failed = st.failed;
	o->hhead = (o->hhead + 1) % MASTER_HISTORY_N;
	if (o->hcount < MASTER_HISTORY_N)
		o->hcount++;
}

size_t
ksched__master_history(struct ksched_master *m, struct master_sample *out,
		       size_t max)
{
	struct master_obs *o = m->obs;
	size_t n = o->hcount < max ? o->hcount : max;
	size_t first = (o->hhead + MASTER_HISTORY_N - n) % MASTER_HISTORY_N;

	for (size_t i = 0; i < n; i++)
		out[i] = o->hist[(first + i) % MASTER_HISTORY_N];
	return n;
}

/* ---- life cycle ------------------------------------------------------------- */

ksched_err
ksched__master_obs_new(struct ksched_master *m)
{
	struct timeval tv = {MASTER_HISTORY_MS / 1000,
			     (MASTER_HISTORY_MS % 1000) * 1000};
	struct master_obs *o = ksched__calloc(1, sizeof(*o));
	ksched_err e;

	if (!o)
		return KSCHED_ENOMEM;
	m->obs = o;
	ksched__u64map_init(&o->alog);
	e = registry(o);
	if (!e) {
		o->sampler = event_new(m->base, -1, EV_PERSIST, sample_cb, m);
		if (!o->sampler || event_add(o->sampler, &tv))
			e = KSCHED_ENOMEM;
	}
	return e;
}

void
ksched__master_obs_free(struct ksched_master *m)
{
	struct master_obs *o = m->obs;

	if (!o)
		return;
	if (o->sampler)
		event_free(o->sampler);
	for (size_t i = 0; i < o->alog.cap; i++)
		if (o->alog.slots[i].key)
			ksched__free(o->alog.slots[i].val);
	ksched__u64map_free(&o->alog);
	ksched_metrics_free(o->reg);
	ksched__free(o);
	m->obs = NULL;
}

/* ---- attempt log ------------------------------------------------------------ */

/* The log of id, made (forgetting the oldest task if full) when make. */
static struct alog *
alog_get(struct master_obs *o, uint64_t id, bool make)
{
	struct alog *l = ksched__u64map_get(&o->alog, id);
	size_t slot;

	if (l || !make)
		return l;
	l = ksched__calloc(1, sizeof(*l));
	if (!l || ksched__u64map_put(&o->alog, id, l)) {
		ksched__free(l);
		return NULL;
	}
	if (o->count == MASTER_ALOG_TASKS) {
		slot = o->head;
		ksched__free(ksched__u64map_del(&o->alog, o->order[slot]));
		o->head = (o->head + 1) % MASTER_ALOG_TASKS;
	} else {
		slot = (o->head + o->count++) % MASTER_ALOG_TASKS;
	}
	o->order[slot] = id;
	return l;
}

size_t
ksched__master_attempts(struct ksched_master *m, uint64_t id,
			const struct master_attempt **out)
{
	struct alog *l = alog_get(m->obs, id, false);

	*out = l ? l->a : NULL;
	return l ? l->n : 0;
}

void
ksched__master_obs_placed(struct ksched_master *m,
			  const struct ksched_assignment *a, int64_t now)
{
	struct master_obs *o = m->obs;
	struct ksched_worker_status ws;
	struct master_attempt *at;
	int64_t sub, start;
	struct alog *l;

	if (a->rank != 0)
		return;
	if (ksched_sched_task_times(m->s, a->id, &sub, &start))
		ksched_metric_observe(o->wait, (double)(start - sub) / 1000);
	if (!(l = alog_get(o, a->id, true)))
		return;
	if (l->n == MASTER_ATTEMPTS_MAX) {
		memmove(l->a, l->a + 1, (l->n - 1) * sizeof(l->a[0]));
		l->n--;
	}
	at = &l->a[l->n++];
	memset(at, 0, sizeof(*at));
	at->attempt = a->attempt;
	at->outcome = MO_RUNNING;
	at->started = now;
	if (!ksched_members_status(ksched_sched_members(m->s), a->worker, &ws))
		memcpy(at->worker, ws.id, sizeof(at->worker));
}

void
ksched__master_obs_report(struct ksched_master *m, uint64_t id,
			  uint32_t rank, int64_t started, bool ok,
			  bool released, const char *error, int64_t now)
{
	struct alog *l = alog_get(m->obs, id, false);

	if (rank != 0)
		return;
	if (started >= 0 && !released)
		ksched_metric_observe(m->obs->run,
				      (double)(now - started) / 1000);
	for (size_t i = l ? l->n : 0; i-- > 0;) {
		struct master_attempt *at = &l->a[i];
		if (at->outcome != MO_RUNNING)
			continue;
		at->outcome = released ? MO_RELEASED : ok ? MO_OK : MO_FAILED;
		at->ended = now;
		snprintf(at->error, sizeof(at->error), "%s",
			 error && !ok ? error : "");
		ksched__utf8_trim(at->error); /* cut on a character */
		break;
	}
}

void
ksched__master_obs_worker_lost(struct ksched_master *m, const char *id,
			       int64_t now)
{
	struct master_obs *o = m->obs;

	for (size_t i = 0; i < o->alog.cap; i++) {
		struct alog *l = o->alog.slots[i].val;
		if (!o->alog.slots[i].key)
			continue;
		for (size_t k = 0; k < l->n; k++) {
			if (l->a[k].outcome == MO_RUNNING &&
			    !strcmp(l->a[k].worker, id)) {
				l->a[k].outcome = MO_LOST;
				l->a[k].ended = now;
			}
		}
	}
}

void
ksched__master_obs_dispatch(struct ksched_master *m, double s)
{
	ksched_metric_observe(m->obs->dispatch, s);
}

void
ksched__master_obs_commit(struct ksched_master *m, double s)
{
	ksched_metric_observe(m->obs->commit, s);
}

/* ---- scrape ------------------------------------------------------------------ */

static ksched_err
workers_gauges(struct ksched_master *m)
{
	static const char *res[] = {"cpu_milli", "mem_mb", "gpus", "slots"};
	struct master_obs *o = m->obs;
	ksched_members *mem = ksched_sched_members(m->s);
	struct ksched_worker_status st;
	double per[4] = {0}, alloc[4] = {0}, total[4] = {0};
	ksched_err e = KSCHED_OK;

	for (uint32_t i = 0; i < ksched_members_capacity(mem); i++) {
		if (ksched_members_status(mem, i, &st))
			continue;
		if ((unsigned)st.state < 4)
			per[st.state]++;
		alloc[0] += (double)st.allocated.cpu_milli;
		alloc[1] += (double)st.allocated.mem_mb;
		alloc[2] += (double)st.allocated.gpus;
		alloc[3] += (double)st.allocated.slots;
		total[0] += (double)st.capacity.cpu_milli;
		total[1] += (double)st.capacity.mem_mb;
		total[2] += (double)st.capacity.gpus;
		total[3] += (double)st.capacity.slots;
	}
	for (int s = 0; s < 4 && !e; s++)
		e = ksched_metric_set(
			o->workers,
			ksched_worker_state_name((enum ksched_worker_state)s),
			per[s]);
	for (int r = 0; r < 4 && !e; r++) {
		e = ksched_metric_set(o->alloc, res[r], alloc[r]);
		if (!e)
			e = ksched_metric_set(o->total, res[r], total[r]);
	}
	return e;
}

ksched_err
ksched__master_obs_scrape(struct ksched_master *m, int64_t now, char **out,
			  size_t *len)
{
	struct master_obs *o = m->obs;
	struct ksched_sched_stats st;
	struct ksched_cache_stats cs;
	uint64_t c[KSCHED_STATE_COUNT];
	size_t parked = 0;
	ksched_err e = KSCHED_OK;

	ksched_sched_stats(m->s, &st);
	ksched_cache_stats(m->c, &cs);
	ksched_queue_counts(m->q, c);
	const uint64_t v[C_COUNT] = {
		st.submitted,  st.completed, st.failed,	  st.retried,
		st.dead,       st.canceled,  cs.hits,	  cs.misses,
		cs.evictions,  st.reassigned, st.expired, m->bad_messages};
	for (int i = 0; i < C_COUNT && !e; i++)
		e = ksched_metric_set(o->c[i], NULL, (double)v[i]);
	for (int s = 0; s < KSCHED_STATE_COUNT && !e; s++)
		e = ksched_metric_set(o->tasks,
				      ksched_state_name((enum ksched_state)s),
				      (double)c[s]);
	for (struct mctx *x = m->parked_leases; x; x = x->next)
		parked++;
	if (!e)
		e = workers_gauges(m);
	if (!e)
		e = ksched_metric_set(o->entries, NULL, (double)cs.entries);
	if (!e)
		e = ksched_metric_set(o->parked, NULL, (double)parked);
	if (!e)
		e = ksched_metric_set(o->uptime, NULL,
				      (double)(now - m->started) / 1000);
	if (!e)
		e = ksched_metrics_write(o->reg, out, len);
	return e;
}
