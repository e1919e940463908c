/* Unit tests for the worker table. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_membership_join_find_leave),
		cmocka_unit_test(test_membership_alloc_is_exact),
		cmocka_unit_test(test_membership_alloc_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
