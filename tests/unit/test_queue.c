/* Unit tests for the durable queue. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../testutil.h"
#include "alloc.h"
#include "ksched.h"

struct fx {
	char *dir;
	ksched_store *s;
	ksched_queue *q;
};

static void
fx_open(struct fx *f)
{
	char err[256];

	assert_int_equal(ksched_store_open(f->dir, KSCHED_SYNC_NONE, &f->s,
					   err, sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched_queue_open(f->s, 42, &f->q), KSCHED_OK);
}

static void
fx_close(struct fx *f)
{
	ksched_queue_close(f->q);
	ksched_store_close(f->s);
	f->q = NULL;
	f->s = NULL;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = tu_tmpdir("queue");
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
mk(int32_t prio)
{
	ksched_task *t;
	const char *argv[] = {"/bin/true"};

	assert_int_equal(ksched_task_new(&t), KSCHED_OK);
	assert_int_equal(ksched_task_set_argv(t, 1, argv), KSCHED_OK);
	ksched_task_set_priority(t, prio);
	return t;
}

static uint64_t
push(struct fx *f, int32_t prio, int64_t now)
{
	ksched_task *t = mk(prio);
	uint64_t id = 0;

	assert_int_equal(ksched_queue_push(f->q, t, now, &id, NULL, 0),
			 KSCHED_OK);
	ksched_task_free(t);
	return id;
}

static void
verify(struct fx *f)
{
	char err[256] = "";
	ksched_err e = ksched_queue_verify(f->q, err, sizeof(err));

	if (e)
		fail_msg("verify: %s", err);
}

static void
test_queue_push_lease_complete(void **state)
{
	struct fx *f = *state;
	struct ksched_lease l[4];
	struct ksched_task_info info;
	uint64_t c[KSCHED_STATE_COUNT];
	uint64_t id = push(f, 0, 1000);
	void *res;
	size_t n, len;

	assert_true(id > 0);
	assert_int_equal(ksched_queue_lease(f->q, 1000, 500, 4, l, &n),
			 KSCHED_OK);
	assert_int_equal(n, 1);
	assert_int_equal(l[0].id, id);
	assert_int_equal(l[0].attempt, 1);
	assert_int_equal(l[0].deadline, 1500);
	assert_true(l[0].token != 0);
	assert_int_equal(ksched_queue_complete(f->q, id, l[0].token, 1200,
					       "42", 2),
			 KSCHED_OK);
	assert_int_equal(ksched_queue_get(f->q, id, &info, NULL), KSCHED_OK);
	assert_int_equal(info.state, KSCHED_STATE_SUCCEEDED);
	assert_int_equal(info.due, 1200);
	assert_int_equal(info.submitted, 1000);
	assert_int_equal(ksched_queue_result(f->q, id, &res, &len), KSCHED_OK);
	assert_int_equal(len, 2);
	assert_memory_equal(res, "42", 2);
	ksched_free(res);
	ksched_queue_counts(f->q, c);
	assert_int_equal(c[KSCHED_STATE_SUCCEEDED], 1);
	assert_int_equal(c[KSCHED_STATE_READY], 0);
	verify(f);
}

static void
test_queue_order_priority_then_fifo(void **state)
{
	struct fx *f = *state;
	int32_t prios[] = {0, 5, 0, 5, -3, 9};
	uint64_t ids[6];
	struct ksched_lease l[6];
	size_t n;

	for (int i = 0; i < 6; i++)
		ids[i] = push(f, prios[i], 10);
	assert_int_equal(ksched_queue_lease(f->q, 10, 100, 6, l, &n),
			 KSCHED_OK);
	assert_int_equal(n, 6);
	assert_int_equal(l[0].id, ids[5]); /* 9 */
	assert_int_equal(l[1].id, ids[1]); /* 5, first */
	assert_int_equal(l[2].id, ids[3]); /* 5, second */
	assert_int_equal(l[3].id, ids[0]); /* 0, first */
	assert_int_equal(l[4].id, ids[2]);
	assert_int_equal(l[5].id, ids[4]); /* -3 */
	verify(f);
}

static void
test_queue_stale_token_refused(void **state)
{
	struct fx *f = *state;
	struct ksched_lease l1, l2;
	size_t n;
	uint64_t id = push(f, 0, 0);

	assert_int_equal(ksched_queue_lease(f->q, 0, 100, 1, &l1, &n), 0);
	/* Wrong token while leased. */
	assert_int_equal(ksched_queue_complete(f->q, id, l1.token + 1, 1, 0, 0),
			 KSCHED_ESTALE);
	/* The lease expires, the task is leased again: the old token is
	 * stale. */
	size_t rq, dead;
	assert_int_equal(ksched_queue_expire(f->q, 100, &rq, &dead), 0);
	assert_int_equal(rq, 0); /* retries 0: dead */
	assert_int_equal(dead, 1);
	assert_int_equal(ksched_queue_complete(f->q, id, l1.token, 101, 0, 0),
			 KSCHED_ESTALE);
	assert_int_equal(ksched_queue_retry(f->q, id, 102), KSCHED_OK);
	assert_int_equal(ksched_queue_lease(f->q, 102, 100, 1, &l2, &n), 0);
	assert_int_equal(n, 1);
	assert_int_not_equal(l1.token, l2.token);
	assert_int_equal(ksched_queue_complete(f->q, id, l1.token, 103, 0, 0),
			 KSCHED_ESTALE);
	assert_int_equal(ksched_queue_complete(f->q, id, l2.token, 103, 0, 0),
			 KSCHED_OK);
	/* A second completion with the same token: ended, stale. */
	assert_int_equal(ksched_queue_complete(f->q, id, l2.token, 104, 0, 0),
			 KSCHED_ESTALE);
	assert_int_equal(ksched_queue_complete(f->q, 999, 1, 104, 0, 0),
			 KSCHED_ENOENT);
	verify(f);
}

static void
test_queue_fail_backoff_then_dead(void **state)
{
	struct fx *f = *state;
	ksched_task *t = mk(0);
	struct ksched_lease l;
	struct ksched_task_info info;
	enum ksched_state st;
	uint64_t id;
	size_t n;
	int64_t now = 1000;

	ksched_task_set_retry(t, 2, 100, 150);
	assert_int_equal(ksched_queue_push(f->q, t, now, &id, NULL, 0), 0);
	ksched_task_free(t);
	/* attempt 1 fails: backoff 100 -> between 50 and 100 */
	assert_int_equal(ksched_queue_lease(f->q, now, 10, 1, &l, &n), 0);
	assert_int_equal(ksched_queue_fail(f->q, id, l.token, now, "boom", &st),
			 0);
	assert_int_equal(st, KSCHED_STATE_PENDING);
	assert_int_equal(ksched_queue_get(f->q, id, &info, NULL), 0);
	assert_true(info.due >= now + 50 && info.due <= now + 100);
	assert_string_equal(info.last_error, "boom");
	assert_int_equal(ksched_queue_next_due(f->q), info.due);
	/* Not ready before its time. */
	assert_int_equal(ksched_queue_lease(f->q, info.due - 1, 10, 1, &l, &n),
			 0);
	assert_int_equal(n, 0);
	now = info.due;
	assert_int_equal(ksched_queue_lease(f->q, now, 10, 1, &l, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(l.attempt, 2);
	/* attempt 2 fails: backoff 200 capped at 150 -> 75..150 */
	assert_int_equal(ksched_queue_fail(f->q, id, l.token, now, "boom2", &st),
			 0);
	assert_int_equal(ksched_queue_get(f->q, id, &info, NULL), 0);
	assert_true(info.due >= now + 75 && info.due <= now + 150);
	now = info.due;
	assert_int_equal(ksched_queue_lease(f->q, now, 10, 1, &l, &n), 0);
	assert_int_equal(l.attempt, 3);
	assert_int_equal(ksched_queue_fail(f->q, id, l.token, now, NULL, &st),
			 0);
	assert_int_equal(st, KSCHED_STATE_DEAD);
	assert_int_equal(ksched_queue_get(f->q, id, &info, NULL), 0);
	assert_int_equal(info.state, KSCHED_STATE_DEAD);
	assert_int_equal(info.attempts, 3);
	verify(f);
}

static void
test_queue_delayed_not_before(void **state)
{
	struct fx *f = *state;
	ksched_task *t = mk(0);
	struct ksched_lease l;
	size_t n;
	uint64_t id, c[KSCHED_STATE_COUNT];

	ksched_task_set_not_before(t, 5000);
	assert_int_equal(ksched_queue_push(f->q, t, 1000, &id, NULL, 0), 0);
	ksched_task_free(t);
	ksched_queue_counts(f->q, c);
	assert_int_equal(c[KSCHED_STATE_PENDING], 1);
	assert_int_equal(ksched_queue_next_due(f->q), 5000);
	assert_int_equal(ksched_queue_lease(f->q, 4999, 10, 1, &l, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ksched_queue_lease_id(f->q, id, 4999, 10, &l),
			 KSCHED_ESTATE);
	assert_int_equal(ksched_queue_promote(f->q, 5000, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ksched_queue_lease_id(f->q, id, 5000, 10, &l), 0);
	assert_int_equal(l.id, id);
	assert_int_equal(ksched_queue_next_due(f->q), 5010);
	verify(f);
}

static void
test_queue_touch_extends_lease(void **state)
{
	struct fx *f = *state;
	struct ksched_lease l;
	int64_t dl;
	size_t n, rq;
	uint64_t id = push(f, 0, 0);

	assert_int_equal(ksched_queue_lease(f->q, 0, 100, 1, &l, &n), 0);
	assert_int_equal(ksched_queue_touch(f->q, id, l.token, 90, 100, &dl),
			 0);
	assert_int_equal(dl, 190);
	assert_int_equal(ksched_queue_expire(f->q, 150, &rq, NULL), 0);
	assert_int_equal(rq, 0);
	assert_int_equal(ksched_queue_touch(f->q, id, 7, 90, 100, &dl),
			 KSCHED_ESTALE);
	assert_int_equal(ksched_queue_complete(f->q, id, l.token, 160, 0, 0),
			 0);
	verify(f);
}

static void
test_queue_cancel_states(void **state)
{
	struct fx *f = *state;
	struct ksched_lease l;
	size_t n;
	uint64_t a = push(f, 0, 0), b = push(f, 0, 0);

	assert_int_equal(ksched_queue_lease(f->q, 0, 100, 1, &l, &n), 0);
	assert_int_equal(l.id, a);
	assert_int_equal(ksched_queue_cancel(f->q, a, 1), 0);
	assert_int_equal(ksched_queue_cancel(f->q, b, 1), 0);
	assert_int_equal(ksched_queue_cancel(f->q, b, 1), KSCHED_ESTATE);
	assert_int_equal(ksched_queue_cancel(f->q, 12345, 1), KSCHED_ENOENT);
	/* The holder of a canceled lease is refused. */
	assert_int_equal(ksched_queue_complete(f->q, a, l.token, 2, 0, 0),
			 KSCHED_ESTALE);
	assert_int_equal(ksched_queue_retry(f->q, a, 3), KSCHED_ESTATE);
	verify(f);
}

static void
test_queue_list_with_cursor(void **state)
{
	struct fx *f = *state;
	uint64_t ids[10], got[4], next, all[10];
	size_t n, total = 0;
	uint64_t cur = 0;

	for (int i = 0; i < 10; i++)
		ids[i] = push(f, i % 3, 0);
	do {
		assert_int_equal(ksched_queue_list(f->q, KSCHED_STATE_READY,
						   cur, 4, got, &n, &next),
				 0);
		memcpy(all + total, got, n * sizeof(got[0]));
		total += n;
		cur = next;
	} while (next && total < 10);
	assert_int_equal(total, 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(all[i], ids[i]);
	assert_int_equal(ksched_queue_list(f->q, KSCHED_STATE_DEAD, 0, 4, got,
					   &n, &next),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(next, 0);
}

/* Pages of ksched_queue_list_desc of page size per, from cursor 0: every
 * id of state st once, in strictly decreasing order, into all. */
static size_t
list_desc_all(struct fx *f, enum ksched_state st, size_t per, uint64_t *all,
	      size_t cap)
{
	uint64_t got[16], next, cur = 0;
	size_t n, total = 0;

	assert_true(per <= 16);
	for (int pages = 0; pages < 64; pages++) {
		assert_int_equal(ksched_queue_list_desc(f->q, st, cur, per,
							got, &n, &next),
				 KSCHED_OK);
		assert_true(total + n <= cap);
		for (size_t i = 0; i < n; i++) {
			if (total)
				assert_true(got[i] < all[total - 1]);
			all[total++] = got[i];
		}
		if (!next)
			return total;
		assert_int_equal(n, per);
		assert_int_equal(next, got[n - 1]);
		cur = next;
	}
	fail_msg("list_desc: no last page after 64 pages");
	return 0;
}

static void
test_queue_list_desc_pages(void **state)
{
	struct fx *f = *state;
	uint64_t ids[20], all[20], asc[20], next;
	size_t n, nready = 0, nsucc = 0;
	struct ksched_lease l;

	/* Ids 1..20; every third succeeds, every fifth is canceled, so
	 * SUCCEEDED has states on both sides of its keys and READY (whose
	 * keys sort last) ends the table. */
	for (int i = 0; i < 20; i++)
		ids[i] = push(f, i % 4, 0);
	for (int i = 0; i < 20; i++) {
		if (i % 3 == 0) {
			assert_int_equal(ksched_queue_lease_id(f->q, ids[i], 1,
							       1000, &l),
					 KSCHED_OK);
			assert_int_equal(ksched_queue_complete(f->q, ids[i],
							       l.token, 2,
							       NULL, 0),
					 KSCHED_OK);
		} else if (i % 5 == 0) {
			assert_int_equal(ksched_queue_cancel(f->q, ids[i], 2),
					 KSCHED_OK);
		}
	}
	for (enum ksched_state st = 0; st < KSCHED_STATE_COUNT; st++) {
		size_t want;
		assert_int_equal(ksched_queue_list(f->q, st, 0, 20, asc, &want,
						   &next),
				 KSCHED_OK);
		for (size_t per = 1; per <= 16; per += 3) {
			n = list_desc_all(f, st, per, all, 20);
			assert_int_equal(n, want);
			for (size_t i = 0; i < n; i++)
				assert_int_equal(all[i], asc[n - 1 - i]);
		}
		if (st == KSCHED_STATE_READY)
			nready = want;
		if (st == KSCHED_STATE_SUCCEEDED)
			nsucc = want;
	}
	assert_int_equal(nsucc, 7);
	assert_int_equal(nready, 20 - 7 - 2);
	/* A page exactly as long as the state has no next cursor. */
	assert_int_equal(ksched_queue_list_desc(f->q, KSCHED_STATE_SUCCEEDED,
						0, nsucc, all, &n, &next),
			 KSCHED_OK);
	assert_int_equal(n, nsucc);
	assert_int_equal(next, 0);
	assert_int_equal(all[0], ids[18]);
	verify(f);
}

static void
test_queue_list_desc_bounds(void **state)
{
	struct fx *f = *state;
	uint64_t ids[6], got[8], next = 99;
	size_t n = 99;
	struct ksched_lease l;

	/* Empty table, then an empty state between non-empty ones. */
	assert_int_equal(ksched_queue_list_desc(f->q, KSCHED_STATE_READY, 0, 8,
						got, &n, &next),
			 KSCHED_OK);
	assert_int_equal(n, 0);
	assert_int_equal(next, 0);
	for (int i = 0; i < 6; i++)
		ids[i] = push(f, 0, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ksched_queue_lease_id(f->q, ids[i], 1, 1000,
						       &l),
				 KSCHED_OK);
		assert_int_equal(ksched_queue_complete(f->q, ids[i], l.token, 2,
						       NULL, 0),
				 KSCHED_OK);
	}
	assert_int_equal(ksched_queue_list_desc(f->q, KSCHED_STATE_LEASED, 0, 8,
						got, &n, &next),
			 KSCHED_OK);
	assert_int_equal(n, 0);
	assert_int_equal(ksched_queue_list_desc(f->q, KSCHED_STATE_DEAD, 0, 8,
						got, &n, &next),
			 KSCHED_OK);
	assert_int_equal(n, 0);
	/* Cursors at the boundaries of READY (ids[3..5]): at its lowest id
	 * nothing is left; one above, that id only; past its highest (or
	 * UINT64_MAX), all of it; never an id of SUCCEEDED below. */
	assert_int_equal(ksched_queue_list_desc(f->q, KSCHED_STATE_READY,
						ids[3], 8, got, &n, &next),
			 KSCHED_OK);
	assert_int_equal(n, 0);
	assert_int_equal(next, 0);
	assert_int_equal(ksched_queue_list_desc(f->q, KSCHED_STATE_READY,
						ids[3] + 1, 8, got, &n, &next),
			 KSCHED_OK);
	assert_int_equal(n, 1);
	assert_int_equal(got[0], ids[3]);
	assert_int_equal(next, 0);
	assert_int_equal(ksched_queue_list_desc(f->q, KSCHED_STATE_READY,
						UINT64_MAX, 8, got, &n, &next),
			 KSCHED_OK);
	assert_int_equal(n, 3);
	assert_int_equal(got[0], ids[5]);
	/* SUCCEEDED (ids[0..2]) from a cursor above every id stops at its
	 * own keys: READY's lie after them, nothing lies before. */
	assert_int_equal(ksched_queue_list_desc(f->q, KSCHED_STATE_SUCCEEDED,
						ids[5] + 100, 2, got, &n,
						&next),
			 KSCHED_OK);
	assert_int_equal(n, 2);
	assert_int_equal(got[0], ids[2]);
	assert_int_equal(got[1], ids[1]);
	assert_int_equal(next, ids[1]);
	assert_int_equal(ksched_queue_list_desc(f->q, KSCHED_STATE_SUCCEEDED,
						next, 2, got, &n, &next),
			 KSCHED_OK);
	assert_int_equal(n, 1);
	assert_int_equal(got[0], ids[0]);
	assert_int_equal(next, 0);
	/* max 0 lists nothing and gives no cursor. */
	assert_int_equal(ksched_queue_list_desc(f->q, KSCHED_STATE_READY, 0, 0,
						NULL, &n, &next),
			 KSCHED_OK);
	assert_int_equal(n, 0);
	assert_int_equal(next, 0);
	/* Bad arguments. */
	assert_int_equal(ksched_queue_list_desc(f->q, KSCHED_STATE_COUNT, 0, 8,
						got, &n, &next),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_queue_list_desc(f->q, (enum ksched_state)-1, 0,
						8, got, &n, &next),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_queue_list_desc(f->q, KSCHED_STATE_READY, 0, 8,
						NULL, &n, &next),
			 KSCHED_EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(next, 0);
	verify(f);
}

static void
test_queue_reopen_rebuilds_indexes(void **state)
{
	struct fx *f = *state;
	struct ksched_lease l[3];
	uint64_t c1[KSCHED_STATE_COUNT], c2[KSCHED_STATE_COUNT];
	uint64_t id;
	size_t n;

	for (int i = 0; i < 20; i++)
		push(f, i % 4, 0);
	assert_int_equal(ksched_queue_lease(f->q, 0, 100, 3, l, &n), 0);
	assert_int_equal(ksched_queue_complete(f->q, l[0].id, l[0].token, 1,
					       "x", 1),
			 0);
	assert_int_equal(ksched_queue_fail(f->q, l[1].id, l[1].token, 1, "e",
					   NULL),
			 0);
	ksched_queue_counts(f->q, c1);
	fx_close(f);
	fx_open(f);
	ksched_queue_counts(f->q, c2);
	assert_memory_equal(c1, c2, sizeof(c1));
	verify(f);
	/* The lease survived with its token. */
	assert_int_equal(ksched_queue_complete(f->q, l[2].id, l[2].token, 2, 0,
					       0),
			 0);
	/* Ids keep growing. */
	id = push(f, 0, 3);
	assert_int_equal(id, 21);
	/* Order is kept: the next lease is a priority-3 task. */
	assert_int_equal(ksched_queue_lease(f->q, 3, 100, 1, l, &n), 0);
	struct ksched_task_info info;
	assert_int_equal(ksched_queue_get(f->q, l[0].id, &info, NULL), 0);
	assert_int_equal(info.priority, 3);
	verify(f);
}

static void
test_queue_get_spec_round_trip(void **state)
{
	struct fx *f = *state;
	ksched_task *t = mk(7), *back;
	uint64_t id;

	assert_int_equal(ksched_task_add_label(t, "zone", "a"), 0);
	ksched_task_set_resources(t, 1500, 256, 1);
	assert_int_equal(ksched_queue_push(f->q, t, 0, &id, NULL, 0), 0);
	assert_int_equal(ksched_queue_get(f->q, id, NULL, &back), 0);
	assert_int_equal(ksched_task_id(back), id);
	assert_int_equal(ksched_task_priority(back), 7);
	assert_int_equal(ksched_task_cpu_milli(back), 1500);
	assert_string_equal(ksched_task_label(back, "zone"), "a");
	assert_string_equal(ksched_task_arg(back, 0), "/bin/true");
	ksched_task_free(back);
	ksched_task_free(t);
	assert_int_equal(ksched_queue_get(f->q, 77, NULL, NULL), KSCHED_ENOENT);
}

static void
test_queue_invalid_spec_changes_nothing(void **state)
{
	struct fx *f = *state;
	ksched_task *ts[3] = {mk(0), mk(0), mk(0)};
	uint64_t c[KSCHED_STATE_COUNT], ids[3];
	char err[256];
	size_t bad = 99;

	ksched_task_set_resources(ts[1], -5, 0, 0);
	assert_int_equal(ksched_queue_push_batch(f->q,
						 (const ksched_task *const *)ts,
						 3, 0, ids, &bad, err,
						 sizeof(err)),
			 KSCHED_EINVAL);
	assert_int_equal(bad, 1);
	assert_non_null(strstr(err, "'cpu'"));
	assert_non_null(strstr(err, "-5"));
	ksched_queue_counts(f->q, c);
	for (int i = 0; i < KSCHED_STATE_COUNT; i++)
		assert_int_equal(c[i], 0);
	for (int i = 0; i < 3; i++)
		ksched_task_free(ts[i]);
	verify(f);
}

static void
test_queue_batch_abort_undoes_memory(void **state)
{
	struct fx *f = *state;
	uint64_t c[KSCHED_STATE_COUNT];
	struct ksched_lease l;
	size_t n;
	uint64_t a = push(f, 0, 0);

	assert_int_equal(ksched_store_begin(f->s), 0);
	push(f, 1, 0);
	push(f, 2, 0);
	assert_int_equal(ksched_queue_lease(f->q, 0, 10, 1, &l, &n), 0);
	ksched_store_abort(f->s);
	ksched_queue_counts(f->q, c);
	assert_int_equal(c[KSCHED_STATE_READY], 1);
	assert_int_equal(c[KSCHED_STATE_LEASED], 0);
	verify(f);
	/* Committed batch: group commit of pushes and a completion. */
	assert_int_equal(ksched_store_begin(f->s), 0);
	assert_int_equal(ksched_store_begin(f->s), KSCHED_EBUSY);
	assert_int_equal(ksched_queue_lease(f->q, 0, 10, 1, &l, &n), 0);
	assert_int_equal(l.id, a);
	assert_int_equal(ksched_queue_complete(f->q, a, l.token, 1, "r", 1), 0);
	uint64_t b = push(f, 0, 0);
	assert_int_equal(b, a + 1); /* the aborted ids are reused */
	assert_int_equal(ksched_store_commit(f->s), 0);
	fx_close(f);
	fx_open(f);
	ksched_queue_counts(f->q, c);
	assert_int_equal(c[KSCHED_STATE_SUCCEEDED], 1);
	assert_int_equal(c[KSCHED_STATE_READY], 1);
	verify(f);
}

/* Random operations against a simple model; verify after each step. */
static void
test_queue_random_ops_match_model(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 7, live_tok[200] = {0}, live_id[200] = {0};
	int nlive = 0;
	int64_t now = 0;

	for (int step = 0; step < 3000; step++) {
		uint64_t r = tu_rand(&seed) % 10;
		now += (int64_t)(tu_rand(&seed) % 5);
		if (r < 4) {
			push(f, (int32_t)(tu_rand(&seed) % 5), now);
		} else if (r < 6 && nlive < 200) {
			struct ksched_lease l;
			size_t n;
			assert_int_equal(ksched_queue_lease(f->q, now, 20, 1,
							    &l, &n),
					 0);
			if (n) {
				live_id[nlive] = l.id;
				live_tok[nlive++] = l.token;
			}
		} else if (r < 8 && nlive) {
			int i = (int)(tu_rand(&seed) % (uint64_t)nlive);
			ksched_err e = (r == 6)
				? ksched_queue_complete(f->q, live_id[i],
							live_tok[i], now, 0, 0)
				: ksched_queue_fail(f->q, live_id[i],
						    live_tok[i], now, "x",
						    NULL);
			/* It may have expired meanwhile. */
			assert_true(e == KSCHED_OK || e == KSCHED_ESTALE);
			live_id[i] = live_id[--nlive];
			live_tok[i] = live_tok[nlive];
		} else if (r == 8) {
			assert_int_equal(ksched_queue_expire(f->q, now, NULL,
							     NULL),
					 0);
		} else {
			ksched_err e = ksched_queue_cancel(
				f->q, 1 + tu_rand(&seed) % (uint64_t)(step + 1),
				now);
			assert_true(e == KSCHED_OK || e == KSCHED_ESTATE ||
				    e == KSCHED_ENOENT);
		}
		if (step % 100 == 0)
			verify(f);
	}
	verify(f);
}

static void
test_queue_alloc_failure_walk(void **state)
{
	struct fx *f = *state;
	struct ksched_lease l[2];
	uint64_t c[KSCHED_STATE_COUNT];
	size_t n;
	ksched_err e = KSCHED_ENOMEM;

	/* Fill the index to a growth boundary so pushes must allocate. */
	for (int i = 0; i < 1023; i++)
		push(f, 0, 0);
	for (long k = 0; k < 200 && e; k++) {
		ksched_task *t = mk(0);
		ksched__alloc_fail_after(k);
		e = ksched_queue_push(f->q, t, 0, NULL, NULL, 0);
		ksched__alloc_fail_after(-1);
		ksched_task_free(t);
		assert_true(e == KSCHED_OK || e == KSCHED_ENOMEM);
		ksched_queue_counts(f->q, c);
		assert_int_equal(c[KSCHED_STATE_READY], e ? 1023 : 1024);
		verify(f);
	}
	assert_int_equal(e, KSCHED_OK);
	e = KSCHED_ENOMEM;
	for (long k = 0; k < 200 && e; k++) {
		ksched__alloc_fail_after(k);
		e = ksched_queue_lease(f->q, 0, 10, 2, l, &n);
		ksched__alloc_fail_after(-1);
		assert_true(e == KSCHED_OK || e == KSCHED_ENOMEM);
		verify(f);
	}
	assert_int_equal(e, KSCHED_OK);
	assert_int_equal(n, 2);
}

static void
test_queue_ready_scan_matches_lease_order(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 11, scan[300];
	struct ksched_lease l[300];
	size_t n, m;

	for (int i = 0; i < 300; i++)
		push(f, (int32_t)(tu_rand(&seed) % 7), 0);
	assert_int_equal(ksched_queue_ready_scan(f->q, 300, scan, &n), 0);
	assert_int_equal(n, 300);
	/* A partial scan is a prefix of the full one. */
	uint64_t part[17];
	assert_int_equal(ksched_queue_ready_scan(f->q, 17, part, &m), 0);
	assert_int_equal(m, 17);
	assert_memory_equal(part, scan, sizeof(part));
	assert_int_equal(ksched_queue_lease(f->q, 0, 10, 300, l, &m), 0);
	assert_int_equal(m, 300);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(scan[i], l[i].id);
	assert_int_equal(ksched_queue_ready_scan(f->q, 5, scan, &n), 0);
	assert_int_equal(n, 0);
}

static void
test_queue_attach_release_finish_cached(void **state)
{
	struct fx *f = *state;
	struct ksched_task_info info;
	struct ksched_lease l;
	uint64_t a = push(f, 0, 0), b = push(f, 0, 0), tok;
	size_t n, rq;
	void *res;

	/* b waits on a: attached, no attempt, never expires. */
	assert_int_equal(ksched_queue_attach(f->q, b, 0, &tok), 0);
	assert_int_equal(ksched_queue_get(f->q, b, &info, NULL), 0);
	assert_int_equal(info.state, KSCHED_STATE_LEASED);
	assert_int_equal(info.attempts, 0);
	assert_true(info.flags & KSCHED_TASK_ATTACHED);
	assert_int_equal(ksched_queue_attach(f->q, b, 0, &tok), KSCHED_ESTATE);
	assert_int_equal(ksched_queue_expire(f->q, INT64_MAX - 1, &rq, NULL),
			 0);
	assert_int_equal(rq, 0);
	/* a is leased and its lease handed back: the attempt is not
	 * counted. */
	assert_int_equal(ksched_queue_lease(f->q, 0, 10, 1, &l, &n), 0);
	assert_int_equal(l.id, a);
	assert_int_equal(ksched_queue_release(f->q, a, l.token + 1, 1),
			 KSCHED_ESTALE);
	assert_int_equal(ksched_queue_release(f->q, a, l.token, 1), 0);
	assert_int_equal(ksched_queue_get(f->q, a, &info, NULL), 0);
	assert_int_equal(info.state, KSCHED_STATE_READY);
	assert_int_equal(info.attempts, 0);
	/* b ends from the cache; a too, while READY. */
	assert_int_equal(ksched_queue_finish_cached(f->q, b, 5, "pi", 2), 0);
	assert_int_equal(ksched_queue_finish_cached(f->q, a, 5, "pi", 2), 0);
	assert_int_equal(ksched_queue_finish_cached(f->q, a, 5, "pi", 2),
			 KSCHED_ESTATE);
	assert_int_equal(ksched_queue_finish_cached(f->q, 999, 5, "pi", 2),
			 KSCHED_ENOENT);
	assert_int_equal(ksched_queue_get(f->q, b, &info, NULL), 0);
	assert_int_equal(info.state, KSCHED_STATE_SUCCEEDED);
	assert_int_equal(info.flags, KSCHED_TASK_CACHED);
	assert_int_equal(ksched_queue_result(f->q, b, &res, &n), 0);
	assert_memory_equal(res, "pi", 2);
	ksched_free(res);
	/* The attached lease's token is now stale. */
	assert_int_equal(ksched_queue_complete(f->q, b, tok, 6, 0, 0),
			 KSCHED_ESTALE);
	verify(f);
	fx_close(f);
	fx_open(f);
	verify(f);
}

/* Same seed, reopened: a new lease never reuses an old token. */
static void
test_queue_tokens_unique_across_reopen(void **state)
{
	struct fx *f = *state;
	struct ksched_lease l1, l2;
	uint64_t id = push(f, 0, 0);
	size_t n;

	assert_int_equal(ksched_queue_lease(f->q, 0, 10, 1, &l1, &n), 0);
	assert_int_equal(ksched_queue_release(f->q, id, l1.token, 1), 0);
	fx_close(f);
	fx_open(f); /* the fixture always uses seed 42 */
	assert_int_equal(ksched_queue_lease(f->q, 2, 10, 1, &l2, &n), 0);
	assert_int_equal(l2.id, id);
	assert_int_not_equal(l1.token, l2.token);
	assert_int_equal(ksched_queue_complete(f->q, id, l1.token, 3, 0, 0),
			 KSCHED_ESTALE);
	assert_int_equal(ksched_queue_complete(f->q, id, l2.token, 3, 0, 0), 0);
}

static void
test_queue_state_names(void **state)
{
	enum ksched_state st;

	(void)state;
	for (int i = 0; i < KSCHED_STATE_COUNT; i++) {
		assert_int_equal(ksched_state_parse(ksched_state_name(
							    (enum ksched_state)i),
						    &st),
				 0);
		assert_int_equal(st, i);
	}
	assert_int_equal(ksched_state_parse("bogus", &st), KSCHED_EINVAL);
	assert_string_equal(ksched_state_name((enum ksched_state)99),
			    "unknown");
	assert_true(ksched_state_is_final(KSCHED_STATE_DEAD));
	assert_false(ksched_state_is_final(KSCHED_STATE_LEASED));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_queue_push_lease_complete),
		T(test_queue_order_priority_then_fifo),
		T(test_queue_stale_token_refused),
		T(test_queue_fail_backoff_then_dead),
		T(test_queue_delayed_not_before),
		T(test_queue_touch_extends_lease),
		T(test_queue_cancel_states),
		T(test_queue_list_with_cursor),
		T(test_queue_list_desc_pages),
		T(test_queue_list_desc_bounds),
		T(test_queue_reopen_rebuilds_indexes),
		T(test_queue_get_spec_round_trip),
		T(test_queue_invalid_spec_changes_nothing),
		T(test_queue_batch_abort_undoes_memory),
		T(test_queue_random_ops_match_model),
		T(test_queue_alloc_failure_walk),
		T(test_queue_ready_scan_matches_lease_order),
		T(test_queue_attach_release_finish_cached),
		T(test_queue_tokens_unique_across_reopen),
		cmocka_unit_test(test_queue_state_names),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
