/* Unit tests for the scheduling core: a fake clock, no network. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../testutil.h"
#include "ksched.h"
#include "ksched/sched.h"

struct fx {
	char *dir;
	ksched_store *st;
	ksched_queue *q;
	ksched_cache *c;
	ksched_sched *s;
	int64_t now;
};

static void
fx_open(struct fx *f)
{
	char err[256];

	assert_int_equal(ksched_store_open(f->dir, KSCHED_SYNC_NONE, &f->st,
					   err, sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched_queue_open(f->st, 5, &f->q), KSCHED_OK);
	assert_int_equal(ksched_cache_open(f->st, &f->c), KSCHED_OK);
	assert_int_equal(ksched_sched_new(f->q, f->c, NULL, f->now, &f->s),
			 KSCHED_OK);
}

static void
fx_close(struct fx *f)
{
	ksched_sched_free(f->s);
	ksched_cache_close(f->c);
	ksched_queue_close(f->q);
	ksched_store_close(f->st);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = tu_tmpdir("sched");
	f->now = 1000000;
	fx_open(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fx_close(f);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static ksched_task *
mk(const char *payload, int64_t cpu, int32_t prio)
{
	ksched_task *t;

	assert_int_equal(ksched_task_new(&t), 0);
	assert_int_equal(ksched_task_set_kind(t, "sim"), 0);
	assert_int_equal(ksched_task_set_payload(t, payload, strlen(payload)),
			 0);
	ksched_task_set_resources(t, cpu, 0, 0);
	ksched_task_set_priority(t, prio);
	return t;
}

static uint64_t
submit(struct fx *f, const char *payload, int64_t cpu, int32_t prio,
       bool *cached)
{
	ksched_task *t = mk(payload, cpu, prio);
	const ksched_task *ts[1] = {t};
	uint64_t id;
	bool c;

	assert_int_equal(ksched_sched_submit(f->s, ts, 1, f->now, &id, &c,
					     NULL, NULL, 0),
			 KSCHED_OK);
	ksched_task_free(t);
	if (cached)
		*cached = c;
	return id;
}

static uint32_t
join(struct fx *f, const char *id, int64_t cpu, int64_t slots)
{
	struct ksched_resources cap = {cpu, 1024, 0, slots};
	uint32_t w;

	assert_int_equal(ksched_sched_worker_join(f->s, id, &cap, f->now, &w),
			 0);
	return w;
}

/* Dispatch to the given workers, each asking for up to 100 tasks. */
static size_t
dispatch(struct fx *f, const uint32_t *ws, size_t nw,
	 struct ksched_assignment *out, size_t outmax)
{
	uint32_t max[8];
	size_t n;

	for (size_t i = 0; i < nw; i++)
		max[i] = 100;
	assert_int_equal(ksched_sched_dispatch(f->s, f->now, ws, max, nw, out,
					       outmax, &n),
			 0);
	return n;
}

static enum ksched_state
state_of(struct fx *f, uint64_t id, uint32_t *flags)
{
	struct ksched_task_info info;

	assert_int_equal(ksched_queue_get(f->q, id, &info, NULL), 0);
	if (flags)
		*flags = info.flags;
	return info.state;
}

static void
test_sched_run_then_cache_hit(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t w = join(f, "w1", 4000, 4), flags;
	bool cached;
	uint64_t id = submit(f, "x", 1000, 0, &cached);
	void *res;
	size_t len;

	assert_false(cached);
	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	assert_int_equal(a[0].id, id);
	assert_int_equal(ksched_sched_worker_of(f->s, id), w);
	assert_int_equal(ksched_sched_complete(f->s, id, a[0].token, f->now,
					       true, "42", 2, NULL),
			 0);
	assert_int_equal(state_of(f, id, &flags), KSCHED_STATE_SUCCEEDED);
	assert_int_equal(flags, 0);
	/* The same work again: served from the cache at submit. */
	uint64_t id2 = submit(f, "x", 500, 3, &cached);
	assert_true(cached);
	assert_int_equal(state_of(f, id2, &flags), KSCHED_STATE_SUCCEEDED);
	assert_true(flags & KSCHED_TASK_CACHED);
	assert_int_equal(ksched_queue_result(f->q, id2, &res, &len), 0);
	assert_memory_equal(res, "42", 2);
	ksched_free(res);
	assert_int_equal(dispatch(f, &w, 1, a, 4), 0);
}

/* An identical task submitted while the first runs waits for it. */
static void
test_sched_single_flight_running(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t w = join(f, "w1", 4000, 4), flags;
	uint64_t id = submit(f, "y", 100, 0, NULL);
	uint64_t id2, id3;
	void *res;
	size_t len;

	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	id2 = submit(f, "y", 100, 0, NULL);
	id3 = submit(f, "y", 100, 0, NULL);
	assert_int_equal(state_of(f, id2, &flags), KSCHED_STATE_LEASED);
	assert_true(flags & KSCHED_TASK_ATTACHED);
	assert_int_equal(ksched_sched_attached(f->s), 2);
	/* Nothing more to run. */
	assert_int_equal(dispatch(f, &w, 1, a + 1, 3), 0);
	assert_int_equal(ksched_sched_complete(f->s, id, a[0].token, f->now,
					       true, "r", 1, NULL),
			 0);
	assert_int_equal(state_of(f, id2, &flags), KSCHED_STATE_SUCCEEDED);
	assert_true(flags & KSCHED_TASK_CACHED);
	assert_int_equal(state_of(f, id3, NULL), KSCHED_STATE_SUCCEEDED);
	assert_int_equal(ksched_queue_result(f->q, id3, &res, &len), 0);
	assert_memory_equal(res, "r", 1);
	ksched_free(res);
	assert_int_equal(ksched_sched_attached(f->s), 0);
}

/* Identical tasks still queued: only one is placed. */
static void
test_sched_single_flight_queued(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[8];
	uint32_t w = join(f, "w1", 8000, 8);
	uint64_t ids[5];

	for (int i = 0; i < 5; i++)
		ids[i] = submit(f, "z", 100, 0, NULL);
	assert_int_equal(dispatch(f, &w, 1, a, 8), 1);
	assert_int_equal(a[0].id, ids[0]);
	assert_int_equal(ksched_sched_complete(f->s, ids[0], a[0].token,
					       f->now, true, "ok", 2, NULL),
			 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(state_of(f, ids[i], NULL),
				 KSCHED_STATE_SUCCEEDED);
}

/* The original dies: the attached task runs itself. */
static void
test_sched_single_flight_primary_dead(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t w = join(f, "w1", 4000, 4);
	uint64_t id = submit(f, "d", 100, 0, NULL), id2;

	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	id2 = submit(f, "d", 100, 0, NULL);
	assert_int_equal(ksched_sched_complete(f->s, id, a[0].token, f->now,
					       false, NULL, 0, "exit 3"),
			 0);
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_DEAD);
	assert_int_equal(state_of(f, id2, NULL), KSCHED_STATE_READY);
	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	assert_int_equal(a[0].id, id2);
}

static void
test_sched_too_big_stays_pending_with_reason(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t ws[2] = {join(f, "small", 1000, 4), join(f, "mid", 2000, 4)};
	uint64_t big = submit(f, "big", 64000, 10, NULL);
	uint64_t ok = submit(f, "ok", 500, 0, NULL);
	const char *why;

	/* The big one does not block the small one behind it. */
	assert_int_equal(dispatch(f, ws, 2, a, 4), 1);
	assert_int_equal(a[0].id, ok);
	assert_int_equal(state_of(f, big, NULL), KSCHED_STATE_READY);
	why = ksched_sched_pending_reason(f->s, big);
	assert_non_null(why);
	assert_non_null(strstr(why, "no worker is large enough"));
	assert_non_null(strstr(why, "cpu=64000"));
}

static void
test_sched_least_loaded_never_overcommits(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[16];
	uint32_t ws[2] = {join(f, "a", 4000, 8), join(f, "b", 4000, 8)};
	int per[2] = {0, 0};
	char p[16];
	size_t n;
	struct ksched_worker_status st;

	for (int i = 0; i < 10; i++) {
		snprintf(p, sizeof(p), "t%d", i);
		submit(f, p, 1000, 0, NULL);
	}
	n = dispatch(f, ws, 2, a, 16);
	assert_int_equal(n, 8); /* 4 CPUs each, 1 CPU per task */
	for (size_t i = 0; i < n; i++)
		per[a[i].worker == ws[0] ? 0 : 1]++;
	assert_int_equal(per[0], 4);
	assert_int_equal(per[1], 4);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ksched_members_status(
					 ksched_sched_members(f->s), ws[i], &st),
				 0);
		assert_true(st.allocated.cpu_milli <= st.capacity.cpu_milli);
		assert_int_equal(st.running, 4);
	}
	/* One finishes: exactly one more fits. */
	assert_int_equal(ksched_sched_complete(f->s, a[0].id, a[0].token,
					       f->now, true, "", 0, NULL),
			 0);
	assert_int_equal(dispatch(f, ws, 2, a, 16), 1);
}

static void
test_sched_priority_order(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t w = join(f, "w", 1000, 1);
	uint64_t lo = submit(f, "lo", 1000, 0, NULL);
	uint64_t hi = submit(f, "hi", 1000, 9, NULL);

	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	assert_int_equal(a[0].id, hi);
	assert_int_equal(ksched_sched_complete(f->s, hi, a[0].token, f->now,
					       true, "", 0, NULL),
			 0);
	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	assert_int_equal(a[0].id, lo);
}

static void
test_sched_worker_leave_requeues(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t w1 = join(f, "w1", 1000, 1), w2;
	uint64_t id = submit(f, "l", 1000, 0, NULL);
	struct ksched_task_info info;

	assert_int_equal(dispatch(f, &w1, 1, a, 4), 1);
	assert_int_equal(ksched_sched_worker_leave(f->s, w1, f->now), 0);
	assert_int_equal(ksched_queue_get(f->q, id, &info, NULL), 0);
	assert_int_equal(info.state, KSCHED_STATE_READY);
	assert_int_equal(info.attempts, 0);
	/* The old holder's report is refused. */
	assert_int_equal(ksched_sched_complete(f->s, id, a[0].token, f->now,
					       true, "", 0, NULL),
			 KSCHED_ESTALE);
	w2 = join(f, "w2", 1000, 1);
	assert_int_equal(dispatch(f, &w2, 1, a, 4), 1);
	assert_int_equal(a[0].id, id);
	assert_int_equal(a[0].worker, w2);
}

static void
test_sched_lease_expiry_retries(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t w = join(f, "w", 1000, 1);
	ksched_task *t = mk("e", 1000, 0);
	const ksched_task *ts[1] = {t};
	uint64_t id;
	int64_t next;
	struct ksched_worker_status st;

	ksched_task_set_timeout_ms(t, 1000);
	ksched_task_set_retry(t, 1, 10, 10);
	assert_int_equal(ksched_sched_submit(f->s, ts, 1, f->now, &id, NULL,
					     NULL, NULL, 0),
			 0);
	ksched_task_free(t);
	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	/* timeout 1000 + grace 30000 */
	assert_int_equal(a[0].deadline, f->now + 31000);
	f->now += 31000;
	assert_int_equal(ksched_sched_tick(f->s, f->now, &next), 0);
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_PENDING);
	assert_int_equal(ksched_members_status(ksched_sched_members(f->s), w,
					       &st),
			 0);
	assert_int_equal(st.allocated.cpu_milli, 0);
	assert_true(next <= f->now + 10);
	f->now = next;
	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	assert_int_equal(a[0].attempt, 2);
}

static void
test_sched_heartbeat_renews_lease(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t w = join(f, "w", 1000, 1);
	uint64_t id = submit(f, "hb", 1000, 0, NULL);
	struct ksched_task_info info;

	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	f->now += 40000; /* past half of the 60 s lease */
	assert_int_equal(ksched_sched_worker_heartbeat(f->s, w, f->now, 0.5,
						       &id, 1),
			 0);
	assert_int_equal(ksched_queue_get(f->q, id, &info, NULL), 0);
	assert_int_equal(info.due, f->now + 60000);
	f->now += 30000;
	assert_int_equal(ksched_sched_tick(f->s, f->now, NULL), 0);
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_LEASED);
}

static void
test_sched_cancel_running(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t w = join(f, "w", 1000, 1);
	uint64_t id = submit(f, "c", 1000, 0, NULL);
	struct ksched_worker_status st;

	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	assert_int_equal(ksched_sched_cancel(f->s, id, f->now), 0);
	assert_int_equal(ksched_members_status(ksched_sched_members(f->s), w,
					       &st),
			 0);
	assert_int_equal(st.running, 0);
	assert_int_equal(ksched_sched_complete(f->s, id, a[0].token, f->now,
					       true, "", 0, NULL),
			 KSCHED_ESTALE);
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_CANCELED);
	assert_int_equal(ksched_sched_cancel(f->s, id, f->now), KSCHED_ESTATE);
}

/* A new core on the same data: attached tasks are handed back. */
static void
test_sched_restart_releases_attached(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t w = join(f, "w", 1000, 1);
	uint64_t id = submit(f, "r", 1000, 0, NULL), id2;

	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	id2 = submit(f, "r", 1000, 0, NULL);
	assert_int_equal(state_of(f, id2, NULL), KSCHED_STATE_LEASED);
	fx_close(f);
	fx_open(f);
	assert_int_equal(state_of(f, id2, NULL), KSCHED_STATE_READY);
	/* The lease from before the restart may still report. */
	assert_int_equal(ksched_sched_complete(f->s, id, a[0].token, f->now,
					       true, "v", 1, NULL),
			 0);
	/* ... and its result now serves the other at dispatch. */
	w = join(f, "w", 1000, 1);
	assert_int_equal(dispatch(f, &w, 1, a, 4), 0);
	assert_int_equal(state_of(f, id2, NULL), KSCHED_STATE_SUCCEEDED);
}

static void
test_sched_cancel_running_is_announced(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t w = join(f, "w", 1000, 2);
	uint64_t id = submit(f, "cr", 500, 0, NULL), ids[4];

	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	assert_int_equal(ksched_sched_cancel(f->s, id, f->now), 0);
	assert_int_equal(ksched_sched_cancels(f->s, ids, 4), 1);
	assert_int_equal(ids[0], id);
	/* Still running: still announced. */
	assert_int_equal(ksched_sched_worker_heartbeat(f->s, w, f->now, 0, &id,
						       1),
			 0);
	assert_int_equal(ksched_sched_cancels(f->s, ids, 4), 1);
	/* Stopped: forgotten. */
	assert_int_equal(ksched_sched_worker_heartbeat(f->s, w, f->now, 0,
						       NULL, 0),
			 0);
	assert_int_equal(ksched_sched_cancels(f->s, ids, 4), 0);
}

/* After a master restart, a worker reporting an old lease keeps it. */
static void
test_sched_adopts_reported_lease_after_restart(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	struct ksched_worker_status st;
	uint32_t w = join(f, "w", 1000, 2);
	uint64_t id = submit(f, "ad", 700, 0, NULL);

	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	fx_close(f);
	fx_open(f);
	w = join(f, "w", 1000, 2);
	assert_int_equal(ksched_sched_worker_heartbeat(f->s, w, f->now, 0, &id,
						       1),
			 0);
	assert_int_equal(ksched_sched_worker_of(f->s, id), w);
	assert_int_equal(ksched_members_status(ksched_sched_members(f->s), w,
					       &st),
			 0);
	assert_int_equal(st.allocated.cpu_milli, 700);
	/* Its lease still expires if the worker goes silent... but it
	 * reports in time: it completes with the old token. */
	assert_int_equal(ksched_sched_complete(f->s, id, a[0].token, f->now,
					       true, "x", 1, NULL),
			 0);
	assert_int_equal(ksched_members_status(ksched_sched_members(f->s), w,
					       &st),
			 0);
	assert_int_equal(st.allocated.cpu_milli, 0);
}

static void
test_sched_release_retry_drain(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	struct ksched_task_info info;
	uint32_t w1 = join(f, "w1", 1000, 1), w2 = join(f, "w2", 1000, 1);
	uint32_t ws[2] = {w1, w2};
	uint64_t id = submit(f, "rr", 1000, 0, NULL);

	/* w1 drains: everything goes to w2. */
	assert_int_equal(ksched_sched_worker_drain(f->s, w1), 0);
	assert_int_equal(dispatch(f, ws, 2, a, 4), 1);
	assert_int_equal(a[0].worker, w2);
	/* Handed back unfinished: not an attempt. */
	assert_int_equal(ksched_sched_release(f->s, id, a[0].token + 1, f->now),
			 KSCHED_ESTALE);
	assert_int_equal(ksched_sched_release(f->s, id, a[0].token, f->now),
			 0);
	assert_int_equal(ksched_queue_get(f->q, id, &info, NULL), 0);
	assert_int_equal(info.state, KSCHED_STATE_READY);
	assert_int_equal(info.attempts, 0);
	/* Fails for good (no retries), then is retried by hand. */
	assert_int_equal(dispatch(f, ws, 2, a, 4), 1);
	assert_int_equal(ksched_sched_complete(f->s, id, a[0].token, f->now,
					       false, NULL, 0, "boom"),
			 0);
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_DEAD);
	assert_int_equal(ksched_sched_retry(f->s, id, f->now), 0);
	assert_int_equal(ksched_sched_retry(f->s, id, f->now), KSCHED_ESTATE);
	assert_int_equal(dispatch(f, ws, 2, a, 4), 1);
	assert_int_equal(a[0].attempt, 1);
}

/* A task with a selector goes only where the labels match. */
static void
test_sched_selector_matches_labels(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[8];
	uint32_t ws[2] = {join(f, "a", 8000, 8), join(f, "b", 8000, 8)};
	const char *ka[] = {"zone"}, *va[] = {"a"}, *vb[] = {"b"};
	ksched_members *m = ksched_sched_members(f->s);
	const ksched_task *ts[1];
	ksched_task *t;
	uint64_t ids[4], none;
	size_t n;

	assert_int_equal(ksched_members_set_labels(m, ws[0], ka, va, 1), 0);
	assert_int_equal(ksched_members_set_labels(m, ws[1], ka, vb, 1), 0);
	for (int i = 0; i < 4; i++) {
		char p[16];
		snprintf(p, sizeof(p), "s%d", i);
		t = mk(p, 100, 0);
		assert_int_equal(ksched_task_add_selector(t, "zone", "b"), 0);
		ts[0] = t;
		assert_int_equal(ksched_sched_submit(f->s, ts, 1, f->now,
						     &ids[i], NULL, NULL, NULL,
						     0),
				 0);
		ksched_task_free(t);
	}
	t = mk("nowhere", 100, 0);
	assert_int_equal(ksched_task_add_selector(t, "zone", "c"), 0);
	ts[0] = t;
	assert_int_equal(ksched_sched_submit(f->s, ts, 1, f->now, &none, NULL,
					     NULL, NULL, 0),
			 0);
	ksched_task_free(t);
	n = dispatch(f, ws, 2, a, 8);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(a[i].worker, ws[1]);
	assert_int_equal(state_of(f, none, NULL), KSCHED_STATE_READY);
	assert_non_null(strstr(ksched_sched_pending_reason(f->s, none),
			       "no worker has the labels it selects (zone=c)"));
}

static uint64_t
submit_gang(struct fx *f, const char *payload, int64_t nodes, int retries)
{
	ksched_task *t = mk(payload, 1000, 0);
	const ksched_task *ts[1] = {t};
	uint64_t id;

	ksched_task_set_nodes(t, nodes);
	ksched_task_set_retry(t, retries, 10, 10);
	assert_int_equal(ksched_sched_submit(f->s, ts, 1, f->now, &id, NULL,
					     NULL, NULL, 0),
			 0);
	ksched_task_free(t);
	return id;
}

/* A gang runs on k distinct workers at once, and succeeds when all do. */
static void
test_sched_gang_all_or_nothing(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[8];
	uint32_t ws[3] = {join(f, "g0", 1000, 1), join(f, "g1", 1000, 1),
			  join(f, "g2", 1000, 1)};
	struct ksched_worker_status st;
	uint64_t big = submit_gang(f, "g4", 4, 0);
	uint64_t id = submit_gang(f, "g3", 3, 0);
	bool seen[3] = {false, false, false};
	void *res;
	size_t len;

	/* 4 parts cannot fit 3 workers: nothing of it is placed. */
	assert_int_equal(dispatch(f, ws, 3, a, 8), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(a[i].id, id);
		assert_int_equal(a[i].nodes, 3);
		assert_false(seen[a[i].rank]);
		seen[a[i].rank] = true;
		for (int j = 0; j < i; j++)
			assert_int_not_equal(a[i].worker, a[j].worker);
	}
	assert_int_equal(state_of(f, big, NULL), KSCHED_STATE_READY);
	/* Parts report one by one; the gang ends with the last. */
	for (int i = 0; i < 3; i++) {
		char r[8];
		snprintf(r, sizeof(r), "part%u", a[i].rank);
		assert_int_equal(ksched_sched_complete_part(
					 f->s, id, a[i].token, a[i].rank,
					 f->now, true, r, strlen(r), NULL),
				 0);
		assert_int_equal(state_of(f, id, NULL),
				 i < 2 ? KSCHED_STATE_LEASED
				       : KSCHED_STATE_SUCCEEDED);
	}
	assert_int_equal(ksched_queue_result(f->q, id, &res, &len), 0);
	assert_memory_equal(res, "part0", 5);
	ksched_free(res);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ksched_members_status(
					 ksched_sched_members(f->s), ws[i], &st),
				 0);
		assert_int_equal(st.allocated.slots, 0);
	}
}

/* One part failing fails the gang as a whole; the others are told. */
static void
test_sched_gang_part_failure(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[8];
	uint32_t ws[2] = {join(f, "h0", 1000, 1), join(f, "h1", 1000, 1)};
	uint64_t id = submit_gang(f, "h2", 2, 1), c[4];
	struct ksched_task_info info;

	assert_int_equal(dispatch(f, ws, 2, a, 8), 2);
	assert_int_equal(ksched_sched_complete_part(f->s, id, a[0].token,
						    a[0].rank, f->now, false,
						    NULL, 0, "boom"),
			 0);
	assert_int_equal(ksched_queue_get(f->q, id, &info, NULL), 0);
	assert_int_equal(info.state, KSCHED_STATE_PENDING);
	assert_int_equal(ksched_sched_cancels(f->s, c, 4), 1);
	assert_int_equal(c[0], id);
	/* The other part's late report is refused. */
	assert_int_equal(ksched_sched_complete_part(f->s, id, a[1].token,
						    a[1].rank, f->now, true,
						    "x", 1, NULL),
			 KSCHED_ESTALE);
	/* Retried as a whole. */
	f->now += 100;
	assert_int_equal(dispatch(f, ws, 2, a, 8), 2);
	assert_int_equal(a[0].attempt, 2);
}

/* Restart the core on the same store, with an adoption window of ms. */
static void
fx_restart(struct fx *f, int64_t ms)
{
	struct ksched_sched_config cfg;

	ksched_sched_free(f->s);
	ksched_sched_config_init(&cfg);
	cfg.adopt_window_ms = ms;
	assert_int_equal(ksched_sched_new(f->q, f->c, &cfg, f->now, &f->s),
			 KSCHED_OK);
}

static uint32_t
attempts_of(struct fx *f, uint64_t id)
{
	struct ksched_task_info info;

	assert_int_equal(ksched_queue_get(f->q, id, &info, NULL), 0);
	return info.attempts;
}

/* CPU allocated on worker w now. */
static int64_t
cpu_alloc(struct fx *f, uint32_t w)
{
	struct ksched_worker_status st;

	assert_int_equal(ksched_members_status(ksched_sched_members(f->s), w,
					       &st),
			 0);
	return st.allocated.cpu_milli;
}

static int64_t
tick(struct fx *f)
{
	int64_t next;

	assert_int_equal(ksched_sched_tick(f->s, f->now, &next), 0);
	return next;
}

/* A lease nobody reports after a restart goes back when the window
 * closes (not at its 60 s deadline), the attempt not counted; a reported
 * one is adopted and stays. */
static void
test_sched_restart_unreported_lease_goes_back(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t ws[2] = {join(f, "r0", 1000, 1), join(f, "r1", 1000, 1)};
	uint64_t lost = submit(f, "lost", 1000, 0, NULL);
	uint64_t kept = submit(f, "kept", 1000, 0, NULL);
	uint64_t ids[4];
	uint32_t w;

	assert_int_equal(dispatch(f, ws, 2, a, 4), 2);
	if (a[0].id != kept) { /* a[0]: kept's lease */
		struct ksched_assignment x = a[0];
		a[0] = a[1];
		a[1] = x;
	}
	assert_int_equal(attempts_of(f, lost), 1);
	f->now += 10;
	fx_restart(f, 3000);
	/* The window is the next thing tick must do. */
	assert_int_equal(tick(f), f->now + 3000);
	w = join(f, "r0", 1000, 1);
	f->now += 1000;
	assert_int_equal(ksched_sched_worker_heartbeat(f->s, w, f->now, 0,
						       &kept, 1),
			 0);
	assert_int_equal(ksched_sched_worker_of(f->s, kept), w);
	f->now += 1999;
	tick(f);
	assert_int_equal(state_of(f, lost, NULL), KSCHED_STATE_LEASED);
	f->now += 1;
	tick(f);
	assert_int_equal(state_of(f, lost, NULL), KSCHED_STATE_READY);
	assert_int_equal(attempts_of(f, lost), 0);
	assert_int_equal(state_of(f, kept, NULL), KSCHED_STATE_LEASED);
	assert_int_equal(ksched_sched_cancels(f->s, ids, 4), 0);
	/* A late report of the lost lease is refused; the adopted one
	 * completes with its old token. */
	assert_int_equal(ksched_sched_complete(f->s, lost, a[1].token, f->now,
					       true, "x", 1, NULL),
			 KSCHED_ESTALE);
	assert_int_equal(ksched_sched_complete(f->s, kept, a[0].token, f->now,
					       true, "k", 1, NULL),
			 0);
	/* The lost one runs again as its first attempt. */
	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	assert_int_equal(a[0].id, lost);
	assert_int_equal(a[0].attempt, 1);
}

/* Without a window (the default) old leases wait for their deadline. */
static void
test_sched_restart_no_window_keeps_lease(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t w = join(f, "n0", 1000, 1);
	uint64_t id = submit(f, "nw", 1000, 0, NULL);

	assert_int_equal(dispatch(f, &w, 1, a, 4), 1);
	fx_restart(f, 0);
	f->now += 10000;
	tick(f);
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_LEASED);
	/* Only its deadline ends it, as a failed attempt. */
	f->now = a[0].deadline;
	tick(f);
	assert_int_not_equal(state_of(f, id, NULL), KSCHED_STATE_LEASED);
	assert_int_equal(attempts_of(f, id), 1);
}

/* A gang whose parts are all reported after a restart runs on: its parts'
 * reports complete it once, with no new attempt. */
static void
test_sched_restart_gang_adopted_completes(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t ws[2] = {join(f, "ga", 1000, 1), join(f, "gb", 1000, 1)};
	uint64_t id = submit_gang(f, "ga2", 2, 1);
	uint32_t w[2], rank;
	void *res;
	size_t len;

	assert_int_equal(dispatch(f, ws, 2, a, 4), 2);
	fx_restart(f, 3000);
	w[0] = join(f, "ga", 1000, 1);
	w[1] = join(f, "gb", 1000, 1);
	/* A heartbeat without ranks (an old worker) adopts nothing. */
	assert_int_equal(ksched_sched_worker_heartbeat(f->s, w[0], f->now, 0,
						       &id, 1),
			 0);
	assert_int_equal(ksched_sched_worker_of(f->s, id), -1);
	for (int i = 0; i < 2; i++) {
		/* Workers were joined in the same order: same indexes. */
		rank = a[i].rank;
		assert_int_equal(ksched_sched_worker_heartbeat_ranks(
					 f->s, a[i].worker, f->now, 0, &id,
					 &rank, 1),
				 0);
		/* Reported twice: counted once. */
		assert_int_equal(ksched_sched_worker_heartbeat_ranks(
					 f->s, a[i].worker, f->now, 0, &id,
					 &rank, 1),
				 0);
		assert_int_equal(ksched_sched_worker_of(f->s, id) >= 0, i == 1);
	}
	assert_int_equal(cpu_alloc(f, w[0]) + cpu_alloc(f, w[1]), 2000);
	/* The window closing leaves an adopted gang alone. */
	f->now += 3000;
	tick(f);
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_LEASED);
	for (int i = 0; i < 2; i++)
		assert_int_equal(ksched_sched_complete_part(
					 f->s, id, a[i].token, a[i].rank,
					 f->now, true, a[i].rank ? "1" : "0",
					 1, NULL),
				 0);
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_SUCCEEDED);
	assert_int_equal(attempts_of(f, id), 1);
	assert_int_equal(ksched_queue_result(f->q, id, &res, &len), 0);
	assert_memory_equal(res, "0", 1);
	ksched_free(res);
	assert_int_equal(cpu_alloc(f, w[0]) + cpu_alloc(f, w[1]), 0);
}

/* A gang only half reported goes back when the window closes, uncounted,
 * and the part still running is told to stop; its report is refused. */
static void
test_sched_restart_gang_half_reported_goes_back(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4];
	uint32_t ws[2] = {join(f, "ha", 1000, 1), join(f, "hb", 1000, 1)};
	uint64_t id = submit_gang(f, "ha2", 2, 0), c[4];
	uint32_t w, rank;

	assert_int_equal(dispatch(f, ws, 2, a, 4), 2);
	fx_restart(f, 3000);
	w = join(f, "ha", 1000, 1);
	assert_int_equal(w, a[0].worker == ws[0] ? a[0].worker : a[1].worker);
	rank = a[0].worker == ws[0] ? a[0].rank : a[1].rank;
	assert_int_equal(ksched_sched_worker_heartbeat_ranks(f->s, w, f->now,
							     0, &id, &rank, 1),
			 0);
	assert_int_equal(ksched_sched_worker_of(f->s, id), -1);
	/* One part cannot end the gang. */
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_LEASED);
	f->now += 3000;
	tick(f);
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_READY);
	assert_int_equal(attempts_of(f, id), 0);
	assert_int_equal(ksched_sched_cancels(f->s, c, 4), 1);
	assert_int_equal(c[0], id);
	assert_int_equal(cpu_alloc(f, w), 0);
	/* The part stops: the cancel is forgotten. */
	assert_int_equal(ksched_sched_worker_heartbeat_ranks(f->s, w, f->now,
							     0, NULL, NULL, 0),
			 0);
	assert_int_equal(ksched_sched_cancels(f->s, c, 4), 0);
	/* Its report after the window is refused. */
	assert_int_equal(ksched_sched_complete_part(f->s, id, a[0].token,
						    a[0].rank, f->now, true,
						    "x", 1, NULL),
			 KSCHED_ESTALE);
	/* Its rank sent again late adopts nothing. */
	assert_int_equal(ksched_sched_worker_heartbeat_ranks(f->s, w, f->now,
							     0, &id, &rank, 1),
			 0);
	assert_int_equal(ksched_sched_worker_of(f->s, id), -1);
}

/* Parts that finished while the master was down report their completion
 * instead of a heartbeat: they count as reported.  One done and one
 * running: adopted, it ends with the running part; both done: it ends at
 * once.  Either way with part 0's result and the first attempt. */
static void
test_sched_restart_gang_parts_done_meanwhile(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[8];
	uint32_t ws[2] = {join(f, "da", 2000, 2), join(f, "db", 2000, 2)};
	uint64_t one = submit_gang(f, "d1", 2, 0);
	uint64_t both = submit_gang(f, "d2", 2, 0);
	struct ksched_assignment *p = a, *q = a + 2; /* one's, both's */
	uint32_t w, rank;
	void *res;
	size_t len;

	assert_int_equal(dispatch(f, ws, 2, a, 8), 4);
	if (a[0].id != one) {
		p = a + 2;
		q = a;
	}
	fx_restart(f, 3000);
	w = join(f, "da", 2000, 2);
	join(f, "db", 2000, 2);
	/* one: the part of rank 1 is done, rank 0 still runs. */
	struct ksched_assignment *r0 = p[0].rank == 0 ? &p[0] : &p[1];
	struct ksched_assignment *r1 = p[0].rank == 0 ? &p[1] : &p[0];
	assert_int_equal(ksched_sched_complete_part(f->s, one, r1->token, 1,
						    f->now, true, "b", 1,
						    NULL),
			 0);
	/* ... reported twice: refused. */
	assert_int_equal(ksched_sched_complete_part(f->s, one, r1->token, 1,
						    f->now, true, "b", 1,
						    NULL),
			 KSCHED_ESTALE);
	rank = 0;
	assert_int_equal(ksched_sched_worker_heartbeat_ranks(
				 f->s, r0->worker, f->now, 0, &one, &rank, 1),
			 0);
	assert_int_equal(ksched_sched_worker_of(f->s, one), r0->worker);
	/* Only the running part holds resources. */
	assert_int_equal(cpu_alloc(f, r0->worker), 1000);
	assert_int_equal(cpu_alloc(f, r1->worker), 0);
	assert_int_equal(ksched_sched_complete_part(f->s, one, r0->token, 0,
						    f->now, true, "a", 1,
						    NULL),
			 0);
	assert_int_equal(state_of(f, one, NULL), KSCHED_STATE_SUCCEEDED);
	assert_int_equal(attempts_of(f, one), 1);
	assert_int_equal(ksched_queue_result(f->q, one, &res, &len), 0);
	assert_memory_equal(res, "a", 1);
	ksched_free(res);
	assert_int_equal(cpu_alloc(f, r0->worker), 0);
	/* both: two completions end it without a heartbeat; a bad token
	 * is refused first. */
	assert_int_equal(ksched_sched_complete_part(f->s, both, q[0].token + 1,
						    q[0].rank, f->now, true,
						    "x", 1, NULL),
			 KSCHED_ESTALE);
	for (int i = 0; i < 2; i++)
		assert_int_equal(ksched_sched_complete_part(
					 f->s, both, q[i].token, q[i].rank,
					 f->now, true, q[i].rank ? "1" : "0",
					 1, NULL),
				 0);
	assert_int_equal(state_of(f, both, NULL), KSCHED_STATE_SUCCEEDED);
	assert_int_equal(ksched_queue_result(f->q, both, &res, &len), 0);
	assert_memory_equal(res, "0", 1);
	ksched_free(res);
	assert_int_equal(cpu_alloc(f, w), 0);
}

/* A part done within the window of a gang that goes back anyway is
 * forgotten: the next attempt needs every part again, with its own
 * result. */
static void
test_sched_restart_gang_done_part_forgotten(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[4], *r0, *r1;
	uint64_t id = submit_gang(f, "fg2", 2, 0);
	uint32_t ws[2];
	void *res;
	size_t len;

	ws[0] = join(f, "fa", 1000, 1);
	ws[1] = join(f, "fb", 1000, 1);
	assert_int_equal(dispatch(f, ws, 2, a, 4), 2);
	r0 = a[0].rank == 0 ? &a[0] : &a[1];
	fx_restart(f, 3000);
	ws[0] = join(f, "fa", 1000, 1);
	ws[1] = join(f, "fb", 1000, 1);
	assert_int_equal(ksched_sched_complete_part(f->s, id, r0->token, 0,
						    f->now, true, "old", 3,
						    NULL),
			 0);
	f->now += 3000;
	tick(f);
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_READY);
	assert_int_equal(dispatch(f, ws, 2, a, 4), 2);
	r0 = a[0].rank == 0 ? &a[0] : &a[1];
	r1 = a[0].rank == 0 ? &a[1] : &a[0];
	assert_int_equal(r0->attempt, 1);
	assert_int_equal(ksched_sched_complete_part(f->s, id, r1->token, 1,
						    f->now, true, "b", 1,
						    NULL),
			 0);
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_LEASED);
	assert_int_equal(ksched_sched_complete_part(f->s, id, r0->token, 0,
						    f->now, true, "new", 3,
						    NULL),
			 0);
	assert_int_equal(state_of(f, id, NULL), KSCHED_STATE_SUCCEEDED);
	assert_int_equal(ksched_queue_result(f->q, id, &res, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(res, "new", 3);
	ksched_free(res);
}

/* A policy of the test's own: a task labelled pool=X goes to worker X. */
static bool
pool_filter(void *state, const struct ksched_task_view *t,
	    const struct ksched_worker_view *w)
{
	(void)state;
	for (size_t i = 0; i < t->nlabels; i++)
		if (!strcmp(t->labels[i].key, "pool"))
			return !strcmp(t->labels[i].value, w->id);
	return true;
}

static int
pool_create(const struct ksched_host *host, void **state)
{
	(void)host;
	*state = NULL;
	return 0;
}

/* The core shows the policy the task's labels; the policy decides. */
static void
test_sched_policy_sees_task_labels(void **state)
{
	struct fx *f = *state;
	static const struct ksched_policy_ops ops = {
		.abi = KSCHED_POLICY_ABI,
		.size = sizeof(struct ksched_policy_ops),
		.name = "test_pool",
		.create = pool_create,
		.filter = pool_filter,
	};
	struct ksched_sched_config cfg;
	struct ksched_assignment a[8];
	ksched_policy *p;
	uint32_t ws[2];
	ksched_err e = ksched_policy_register(&ops);

	assert_true(e == KSCHED_OK || e == KSCHED_EEXIST);
	assert_int_equal(ksched_policy_load("test_pool", &p, NULL, 0), 0);
	ksched_sched_free(f->s);
	ksched_sched_config_init(&cfg);
	cfg.policy = p;
	assert_int_equal(ksched_sched_new(f->q, f->c, &cfg, f->now, &f->s), 0);
	ws[0] = join(f, "x", 8000, 8);
	ws[1] = join(f, "y", 8000, 8);
	for (int i = 0; i < 4; i++) {
		char pl[16];
		ksched_task *t;
		const ksched_task *ts[1];
		uint64_t id;
		snprintf(pl, sizeof(pl), "p%d", i);
		t = mk(pl, 100, 0);
		assert_int_equal(ksched_task_add_label(t, "pool", "y"), 0);
		ts[0] = t;
		assert_int_equal(ksched_sched_submit(f->s, ts, 1, f->now, &id,
						     NULL, NULL, NULL, 0),
				 0);
		ksched_task_free(t);
	}
	assert_int_equal(dispatch(f, ws, 2, a, 8), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(a[i].worker, ws[1]);
	/* The core must not outlive its policy: free it first. */
	ksched_sched_free(f->s);
	ksched_policy_free(p);
	assert_int_equal(ksched_sched_new(f->q, f->c, NULL, f->now, &f->s), 0);
}

/* Per worker, why a ready task is not placed; the counters that go with
 * reassignment and cancel. */
static void
test_sched_explain_per_worker(void **state)
{
	struct fx *f = *state;
	struct ksched_assignment a[8];
	uint32_t ws[3] = {join(f, "small", 1000, 4), join(f, "busy", 4000, 4),
			  join(f, "gone", 8000, 4)};
	struct ksched_pending_why why[4];
	struct ksched_sched_stats st;
	char reason[256];
	size_t n, total;
	uint64_t filler, id;
	int64_t sub, start;

	filler = submit(f, "filler", 3000, 9, NULL);
	assert_int_equal(dispatch(f, &ws[1], 1, a, 8), 1);
	assert_int_equal(a[0].id, filler);
	assert_true(ksched_sched_task_times(f->s, filler, &sub, &start));
	assert_int_equal(sub, f->now);
	assert_int_equal(start, f->now);
	ksched_members_set_state(ksched_sched_members(f->s), ws[2],
				 KSCHED_WORKER_SUSPECT);
	id = submit(f, "wide", 2000, 0, NULL);
	assert_false(ksched_sched_task_times(f->s, id, &sub, &start));
	assert_int_equal(dispatch(f, ws, 2, a, 8), 0);
	assert_int_equal(ksched_sched_explain(f->s, id, reason, sizeof(reason),
					      why, 4, &n, &total),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(total, 3);
	assert_string_equal(reason, "waiting for a worker with free capacity");
	assert_string_equal(why[0].worker, "small");
	assert_string_equal(why[0].why, "cpu: needs 2000, has 1000");
	assert_string_equal(why[1].worker, "busy");
	assert_string_equal(why[1].why, "cpu: needs 2000, free 1000");
	assert_string_equal(why[2].worker, "gone");
	assert_string_equal(why[2].why, "not alive (suspect)");
	/* max bounds what is written, not the count. */
	assert_int_equal(ksched_sched_explain(f->s, id, reason, sizeof(reason),
					      why, 1, &n, &total),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(total, 3);
	/* A running task has no explanation. */
	assert_int_equal(ksched_sched_explain(f->s, filler, reason,
					      sizeof(reason), why, 4, &n,
					      &total),
			 KSCHED_ENOENT);
	assert_int_equal(ksched_sched_explain(f->s, 999999, reason,
					      sizeof(reason), why, 4, &n,
					      &total),
			 KSCHED_ENOENT);
	/* The busy worker leaves: its lease is reassigned; cancel counts. */
	assert_int_equal(ksched_sched_worker_leave(f->s, ws[1], f->now), 0);
	assert_int_equal(ksched_sched_cancel(f->s, id, f->now), 0);
	ksched_sched_stats(f->s, &st);
	assert_int_equal(st.reassigned, 1);
	assert_int_equal(st.canceled, 1);
	assert_int_equal(st.dead, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_sched_run_then_cache_hit),
		T(test_sched_single_flight_running),
		T(test_sched_single_flight_queued),
		T(test_sched_single_flight_primary_dead),
		T(test_sched_too_big_stays_pending_with_reason),
		T(test_sched_least_loaded_never_overcommits),
		T(test_sched_priority_order),
		T(test_sched_worker_leave_requeues),
		T(test_sched_lease_expiry_retries),
		T(test_sched_heartbeat_renews_lease),
		T(test_sched_cancel_running),
		T(test_sched_restart_releases_attached),
		T(test_sched_cancel_running_is_announced),
		T(test_sched_adopts_reported_lease_after_restart),
		T(test_sched_release_retry_drain),
		T(test_sched_selector_matches_labels),
		T(test_sched_gang_all_or_nothing),
		T(test_sched_gang_part_failure),
		T(test_sched_restart_unreported_lease_goes_back),
		T(test_sched_restart_no_window_keeps_lease),
		T(test_sched_restart_gang_adopted_completes),
		T(test_sched_restart_gang_half_reported_goes_back),
		T(test_sched_restart_gang_parts_done_meanwhile),
		T(test_sched_restart_gang_done_part_forgotten),
		T(test_sched_policy_sees_task_labels),
		T(test_sched_explain_per_worker),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
