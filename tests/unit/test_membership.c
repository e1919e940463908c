/* Unit tests for the worker table. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "ksched/membership.h"

static void
test_membership_join_find_leave(void **state)
{
	struct ksched_resources cap = {4000, 8192, 1, 4};
	struct ksched_worker_status st;
	ksched_members *m;
	uint32_t a, b, c, x;

	(void)state;
	assert_int_equal(ksched_members_new(&m), 0);
	assert_int_equal(ksched_members_join(m, "a", &cap, 10, &a), 0);
	assert_int_equal(ksched_members_join(m, "b", &cap, 10, &b), 0);
	assert_int_not_equal(a, b);
	assert_int_equal(ksched_members_count(m), 2);
	assert_int_equal(ksched_members_find(m, "b", &x), 0);
	assert_int_equal(x, b);
	assert_int_equal(ksched_members_find(m, "zz", &x), KSCHED_ENOENT);
	assert_int_equal(ksched_members_leave(m, a), 0);
	assert_int_equal(ksched_members_leave(m, a), KSCHED_ENOENT);
	assert_false(ksched_members_exists(m, a));
	/* The free slot is reused. */
	assert_int_equal(ksched_members_join(m, "c", &cap, 20, &c), 0);
	assert_int_equal(c, a);
	assert_int_equal(ksched_members_status(m, c, &st), 0);
	assert_string_equal(st.id, "c");
	assert_int_equal(st.last_seen, 20);
	assert_int_equal(st.state, KSCHED_WORKER_ALIVE);
	/* Bad ids. */
	char longid[100];
	memset(longid, 'x', sizeof(longid) - 1);
	longid[99] = 0;
	assert_int_equal(ksched_members_join(m, longid, &cap, 0, &x),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_members_join(m, "", &cap, 0, &x),
			 KSCHED_EINVAL);
	ksched_members_free(m);
	ksched_members_free(NULL);
}

static void
test_membership_alloc_is_exact(void **state)
{
	struct ksched_resources cap = {2000, 1000, 1, 3};
	struct ksched_resources need = {1000, 400, 0, 1}, gpu = {0, 0, 1, 1};
	struct ksched_worker_status st;
	ksched_members *m;
	uint32_t w;

	(void)state;
	assert_int_equal(ksched_members_new(&m), 0);
	assert_int_equal(ksched_members_join(m, "w", &cap, 0, &w), 0);
	assert_int_equal(ksched_members_alloc(m, w, &need), 0);
	assert_int_equal(ksched_members_alloc(m, w, &need), 0);
	/* CPU is full now. */
	assert_int_equal(ksched_members_alloc(m, w, &need), KSCHED_ENOSPC);
	assert_int_equal(ksched_members_alloc(m, w, &gpu), 0);
	/* Slots are full now. */
	assert_int_equal(ksched_members_alloc(m, w, &gpu), KSCHED_ENOSPC);
	assert_int_equal(ksched_members_status(m, w, &st), 0);
	assert_int_equal(st.allocated.cpu_milli, 2000);
	assert_int_equal(st.allocated.mem_mb, 800);
	assert_int_equal(st.allocated.gpus, 1);
	assert_int_equal(st.running, 3);
	ksched_members_release(m, w, &need, KSCHED_OUTCOME_COMPLETED);
	ksched_members_release(m, w, &gpu, KSCHED_OUTCOME_FAILED);
	assert_int_equal(ksched_members_status(m, w, &st), 0);
	assert_int_equal(st.allocated.cpu_milli, 1000);
	assert_int_equal(st.allocated.gpus, 0);
	assert_int_equal(st.completed, 1);
	assert_int_equal(st.failed, 1);
	ksched_members_release(m, w, &need, KSCHED_OUTCOME_NONE);
	assert_int_equal(ksched_members_status(m, w, &st), 0);
	assert_int_equal(st.completed, 1);
	assert_int_equal(st.failed, 1);
	/* Releasing more than allocated never goes negative. */
	ksched_members_release(m, w, &need, KSCHED_OUTCOME_COMPLETED);
	ksched_members_release(m, w, &need, KSCHED_OUTCOME_COMPLETED);
	assert_int_equal(ksched_members_status(m, w, &st), 0);
	assert_int_equal(st.allocated.cpu_milli, 0);
	assert_int_equal(st.running, 0);
	ksched_members_seen(m, w, 99, 1.5);
	ksched_members_set_state(m, w, KSCHED_WORKER_DRAINING);
	assert_int_equal(ksched_members_status(m, w, &st), 0);
	assert_int_equal(st.last_seen, 99);
	assert_int_equal(st.state, KSCHED_WORKER_DRAINING);
	assert_string_equal(ksched_worker_state_name(st.state), "draining");
	ksched_members_free(m);
}

static void
test_membership_alloc_failure(void **state)
{
	struct ksched_resources cap = {1, 1, 1, 1};
	ksched_members *m;
	uint32_t w;
	ksched_err e = KSCHED_ENOMEM;

	(void)state;
	ksched__alloc_fail_after(0);
	assert_int_equal(ksched_members_new(&m), KSCHED_ENOMEM);
	ksched__alloc_fail_after(-1);
	assert_int_equal(ksched_members_new(&m), 0);
	for (long k = 0; e; k++) {
		ksched__alloc_fail_after(k);
		e = ksched_members_join(m, "w", &cap, 0, &w);
		ksched__alloc_fail_after(-1);
		assert_true(e == KSCHED_OK || e == KSCHED_ENOMEM);
		assert_int_equal(ksched_members_count(m), e ? 0 : 1);
	}
	ksched_members_free(m);
}

/* Expect worker w to have exactly the n labels k[i] = v[i]. */
static void
expect_labels(const ksched_members *m, uint32_t w, const char *const *k,
	      const char *const *v, size_t n)
{
	const char *const *gk, *const *gv;

	assert_int_equal(ksched_members_labels(m, w, &gk, &gv), n);
	if (n == 0) {
		assert_null(gk);
		assert_null(gv);
	}
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(gk[i], k[i]);
		assert_string_equal(gv[i], v[i]);
	}
}

static void
test_membership_labels(void **state)
{
	struct ksched_resources cap = {1000, 1000, 0, 1};
	char kbuf[16] = "zone", vbuf[16] = "eu-1";
	const char *k[] = {kbuf, "disk", "empty"}, *v[] = {vbuf, "ssd", ""};
	const char *k2[] = {"gpu"}, *v2[] = {"a100"}, *nul[] = {NULL};
	const char *const *gk, *const *gv;
	ksched_members *m;
	uint32_t a, b, c;

	(void)state;
	assert_int_equal(ksched_members_new(&m), 0);
	assert_int_equal(ksched_members_join(m, "a", &cap, 0, &a), 0);
	assert_int_equal(ksched_members_join(m, "b", &cap, 0, &b), 0);
	expect_labels(m, a, NULL, NULL, 0); /* none at join */
	assert_int_equal(ksched_members_set_labels(m, a, k, v, 3), 0);
	strcpy(kbuf, "changed"); /* copied */
	strcpy(vbuf, "changed");
	k[0] = "zone";
	v[0] = "eu-1";
	expect_labels(m, a, k, v, 3);
	expect_labels(m, b, NULL, NULL, 0);
	/* either out-parameter may be NULL */
	assert_int_equal(ksched_members_labels(m, a, NULL, &gv), 3);
	assert_string_equal(gv[1], "ssd");
	assert_int_equal(ksched_members_labels(m, a, &gk, NULL), 3);
	assert_string_equal(gk[1], "disk");
	/* other workers' changes leave a's arrays in place */
	assert_int_equal(ksched_members_set_labels(m, b, k2, v2, 1), 0);
	for (int i = 0; i < 40; i++) { /* grows the table */
		char id[16];
		uint32_t x;

		snprintf(id, sizeof(id), "w%d", i);
		assert_int_equal(ksched_members_join(m, id, &cap, 0, &x), 0);
	}
	assert_string_equal(gk[1], "disk");
	expect_labels(m, b, k2, v2, 1);
	/* replace, then clear */
	assert_int_equal(ksched_members_set_labels(m, a, k2, v2, 1), 0);
	expect_labels(m, a, k2, v2, 1);
	assert_int_equal(ksched_members_set_labels(m, a, NULL, NULL, 0), 0);
	expect_labels(m, a, NULL, NULL, 0);
	/* bad arguments change nothing */
	assert_int_equal(ksched_members_set_labels(m, b, nul, v2, 1),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_members_set_labels(m, b, k2, nul, 1),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_members_set_labels(m, b, NULL, v2, 1),
			 KSCHED_EINVAL);
	expect_labels(m, b, k2, v2, 1);
	/* unknown workers */
	assert_int_equal(ksched_members_set_labels(m, 9999, k, v, 3),
			 KSCHED_ENOENT);
	expect_labels(m, 9999, NULL, NULL, 0);
	/* a re-join under the same id starts with none */
	assert_int_equal(ksched_members_join(m, "b", &cap, 5, &c), 0);
	assert_int_equal(c, b);
	expect_labels(m, b, NULL, NULL, 0);
	/* leave frees them; a new worker in the slot has none */
	assert_int_equal(ksched_members_set_labels(m, a, k, v, 3), 0);
	assert_int_equal(ksched_members_leave(m, a), 0);
	expect_labels(m, a, NULL, NULL, 0);
	assert_int_equal(ksched_members_set_labels(m, a, k, v, 3),
			 KSCHED_ENOENT);
	assert_int_equal(ksched_members_join(m, "c", &cap, 0, &c), 0);
	assert_int_equal(c, a);
	expect_labels(m, c, NULL, NULL, 0);
	/* free frees the labels still set (ASan checks for leaks) */
	assert_int_equal(ksched_members_set_labels(m, c, k, v, 3), 0);
	ksched_members_free(m);
}

/* On ENOMEM set_labels changes nothing. */
static void
test_membership_labels_alloc_failure(void **state)
{
	struct ksched_resources cap = {1, 1, 1, 1};
	const char *k[] = {"zone", "disk"}, *v[] = {"eu-1", "ssd"};
	const char *k2[] = {"gpu"}, *v2[] = {"a100"};
	ksched_members *m;
	uint32_t w;
	ksched_err e = KSCHED_ENOMEM;
	long n;

	(void)state;
	assert_int_equal(ksched_members_new(&m), 0);
	assert_int_equal(ksched_members_join(m, "w", &cap, 0, &w), 0);
	assert_int_equal(ksched_members_set_labels(m, w, k, v, 2), 0);
	for (n = 0; e; n++) {
		ksched__alloc_fail_after(n);
		e = ksched_members_set_labels(m, w, k2, v2, 1);
		ksched__alloc_fail_after(-1);
		assert_true(e == KSCHED_OK || e == KSCHED_ENOMEM);
		if (e)
			expect_labels(m, w, k, v, 2);
	}
	assert_true(n >= 2); /* it failed at least once */
	expect_labels(m, w, k2, v2, 1);
	/* clearing never allocates */
	ksched__alloc_fail_after(0);
	e = ksched_members_set_labels(m, w, NULL, NULL, 0);
	ksched__alloc_fail_after(-1);
	assert_int_equal(e, KSCHED_OK);
	expect_labels(m, w, NULL, NULL, 0);
	ksched_members_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_membership_join_find_leave),
		cmocka_unit_test(test_membership_alloc_is_exact),
		cmocka_unit_test(test_membership_alloc_failure),
		cmocka_unit_test(test_membership_labels),
		cmocka_unit_test(test_membership_labels_alloc_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
