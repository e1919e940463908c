/*
 * Unit tests for the rigid-job built-ins (libksched/policy_backfill.c):
 * fcfs, sjf, easy (machine-level and count-based reservations) and
 * conservative, on hand-built views, then a randomized property test in
 * virtual time (tests/rigidsim.h): every placement fits, fcfs never starts
 * a job before an earlier one, and no job starts later than the
 * reservation it was given (easy: when it became the head; conservative:
 * when it was first reserved).
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "ksched.h"
#include "ksched/policy.h"
#include "policy_backfill.h"
#include "policy_int.h"
#include "../rigidsim.h"
#include "../testutil.h"

#define MAXM 16
#define MAXQ 16
#define MAXR 32
#define MAXO 32

/* ---- a hand-built cluster of one-slot machines --------------------------- */

struct cl {
	int64_t now;
	struct ksched_worker_view all[MAXM], vw[MAXM];
	size_t nm;
	struct ksched_task_view q[MAXQ];
	size_t nq;
	struct ksched_running_view r[MAXR];
	size_t nr;
	struct ksched_placement out[MAXO];
	size_t n;
};

static void
cl_init(struct cl *c, size_t nm)
{
	memset(c, 0, sizeof(*c));
	c->nm = nm;
	for (size_t i = 0; i < nm; i++) {
		c->all[i].index = (uint32_t)i;
		c->all[i].id = "m";
		c->all[i].capacity =
		    (struct ksched_resources){1000, 1024, 0, 1};
		c->all[i].state = KSCHED_WORKER_ALIVE;
	}
}

/* Queue job id (in queue order: call in submission order). */
static void
cl_job(struct cl *c, uint64_t id, int64_t nodes, int64_t wall)
{
	struct ksched_task_view *t = &c->q[c->nq++];

	memset(t, 0, sizeof(*t));
	t->id = id;
	t->kind = "rigid";
	t->user = "";
	t->need = (struct ksched_resources){1000, 0, 0, 1};
	t->nodes = nodes;
	t->submitted = (int64_t)id;
	t->timeout_ms = wall;
	t->est_runtime_ms = wall;
}

/* Machine m runs task until end (listed in running if listed). */
static void
cl_busy(struct cl *c, uint32_t m, uint64_t task, int64_t end, bool listed)
{
	c->all[m].allocated = (struct ksched_resources){1000, 0, 0, 1};
	c->all[m].running = 1;
	if (listed)
		c->r[c->nr++] = (struct ksched_running_view){
		    task, m, {1000, 0, 0, 1}, 0, end, ""};
}

/* nm machines, 0 and 1 busy until 100 (tasks 90 and 91, listed). */
static void
cl_two_busy(struct cl *c, size_t nm)
{
	cl_init(c, nm);
	cl_busy(c, 0, 90, 100, true);
	cl_busy(c, 1, 91, 100, true);
}

static void
cl_place(ksched_policy *p, struct cl *c)
{
	struct ksched_select_view v = {c->now, c->q, c->nq, c->vw,
				       0,      c->r, c->nr};

	for (size_t i = 0; i < c->nm; i++)
		if (!c->all[i].allocated.slots)
			c->vw[v.nworkers++] = c->all[i];
	assert_int_equal(ksched_policy_place(p, &v, c->out, MAXO, &c->n),
			 KSCHED_OK);
}

/* The workers job got, ascending by rank, as a bit mask; 0 if none. */
static unsigned
on(const struct cl *c, uint64_t id)
{
	unsigned mask = 0;
	uint32_t rank = 0;

	for (size_t i = 0; i < c->n; i++) {
		if (c->out[i].task != id)
			continue;
		assert_int_equal(c->out[i].rank, rank++);
		assert_false(mask & 1u << c->out[i].worker);
		mask |= 1u << c->out[i].worker;
	}
	return mask;
}

static ksched_policy *
load(const char *spec)
{
	ksched_policy *p = NULL;
	char err[512];

	if (ksched_policy_load(spec, &p, err, sizeof(err)) != KSCHED_OK)
		fail_msg("load %s: %s", spec, err);
	return p;
}

static int64_t
reserved(const ksched_policy *p, uint64_t id)
{
	int64_t start = -1;

	return ksched__backfill_reserved(p, id, &start) ? start : -1;
}

/* ---- hand-built cases ---------------------------------------------------- */

static void
test_backfill_loads_and_refuses_bad_options(void **state)
{
	const char *good[] = {"fcfs",
			      "fcfs:skip=1",
			      "sjf",
			      "sjf:skip=0",
			      "easy",
			      "easy:reserve=count",
			      "easy:reserve=machine",
			      "conservative"};
	const char *bad[] = {"fcfs:skip=2", "sjf:skip=yes", "easy:reserve=all"};
	ksched_policy *p;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ksched_policy_free(load(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = NULL;
		assert_int_equal(
		    ksched_policy_load(bad[i], &p, err, sizeof(err)),
		    KSCHED_EINVAL);
		assert_null(p);
		assert_non_null(strstr(err, "create() failed"));
	}
}

/* 4 machines, 0 and 1 busy until 100; job 1 needs 3, job 2 needs 1. */
static void
blocked_cluster(struct cl *c)
{
	cl_two_busy(c, 4);
	cl_job(c, 1, 3, 50);
	cl_job(c, 2, 1, 10);
}

static void
test_backfill_fcfs_never_passes_a_waiting_job(void **state)
{
	ksched_policy *p;
	struct cl c;

	(void)state;
	blocked_cluster(&c);
	p = load("fcfs");
	cl_place(p, &c);
	assert_int_equal(c.n, 0); /* job 2 fits, but job 1 waits */
	ksched_policy_free(p);

	p = load("fcfs:skip=1");
	cl_place(p, &c);
	assert_int_equal(c.n, 1);
	assert_int_equal(on(&c, 2), 1u << 2);
	ksched_policy_free(p);

	/* sjf: job 2 is shorter, so it goes first; then job 1 blocks. */
	cl_job(&c, 3, 1, 20);
	p = load("sjf");
	cl_place(p, &c);
	assert_int_equal(c.n, 2);
	assert_int_equal(on(&c, 2), 1u << 2);
	assert_int_equal(on(&c, 3), 1u << 3);
	ksched_policy_free(p);
}

static void
test_backfill_takes_the_lowest_machine_ids(void **state)
{
	const char *pols[] = {"fcfs", "sjf", "easy", "easy:reserve=count",
			      "conservative"};
	struct cl c;

	(void)state;
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		ksched_policy *p = load(pols[i]);
		cl_init(&c, 8);
		cl_busy(&c, 1, 90, 100, true);
		cl_busy(&c, 3, 91, 100, true);
		cl_job(&c, 1, 3, 50);
		cl_job(&c, 2, 1, 50);
		cl_place(p, &c);
		assert_int_equal(on(&c, 1), 1u << 0 | 1u << 2 | 1u << 4);
		assert_int_equal(on(&c, 2), 1u << 5);
		ksched_policy_free(p);
	}
}

/*
 * 4 machines, 0 and 1 busy until 100, 2 and 3 free.  The head needs 3
 * for 50: machine-level, it reserves 0, 1, 2 (the lowest that are free at
 * 100); count-based, it needs 3 at 100 and 4 will be free: 1 spare.  A long
 * job of 1 then goes on 3 (the machine the head does not reserve) with
 * machine-level reservations, on 2 (the lowest free) with the count.
 */
static void
test_backfill_machine_and_count_reservations_differ(void **state)
{
	ksched_policy *p;
	struct cl c;

	(void)state;
	cl_two_busy(&c, 4);
	cl_job(&c, 1, 3, 50);
	cl_job(&c, 2, 1, 1000);
	cl_job(&c, 3, 1, 1000);

	p = load("easy");
	cl_place(p, &c);
	assert_int_equal(reserved(p, 1), 100);
	assert_int_equal(on(&c, 1), 0);
	assert_int_equal(on(&c, 2), 1u << 3);
	assert_int_equal(on(&c, 3), 0); /* would delay the head */
	ksched_policy_free(p);

	p = load("easy:reserve=count");
	cl_place(p, &c);
	assert_int_equal(reserved(p, 1), 100);
	assert_int_equal(on(&c, 2), 1u << 2);
	assert_int_equal(on(&c, 3), 0); /* no spare machine left */
	ksched_policy_free(p);
}

/*
 * 4 machines, 0 and 1 busy until 100.  The head needs all 4: reserved at
 * 100.  A job of 1 for 50 ends before and backfills; one for 200 would
 * delay the head and waits (easy), or is reserved after it (conservative).
 */
static void
test_backfill_easy_backfills_only_what_keeps_the_reservation(void **state)
{
	ksched_policy *p;
	struct cl c;

	(void)state;
	cl_two_busy(&c, 4);
	cl_job(&c, 1, 4, 100);
	cl_job(&c, 2, 1, 200);
	cl_job(&c, 3, 1, 50);
	cl_job(&c, 4, 1, 100); /* ends exactly at the reservation: fine */

	p = load("easy");
	cl_place(p, &c);
	assert_int_equal(reserved(p, 1), 100);
	assert_int_equal(on(&c, 2), 0);
	assert_int_equal(on(&c, 3), 1u << 2);
	assert_int_equal(on(&c, 4), 1u << 3);
	assert_int_equal(reserved(p, 2), -1); /* easy: only the head */
	ksched_policy_free(p);

	p = load("conservative");
	cl_place(p, &c);
	assert_int_equal(reserved(p, 1), 100);
	assert_int_equal(reserved(p, 2), 200);
	assert_int_equal(on(&c, 2), 0);
	assert_int_equal(on(&c, 3), 1u << 2);
	assert_int_equal(on(&c, 4), 1u << 3);
	ksched_policy_free(p);
}

/*
 * Conservative: every job keeps its place.  Machines 0, 1 busy until 100.
 * Job 1 (4 for 100) is reserved at 100, job 2 (2 for 300) at 200 on 0-1,
 * job 3 (1 for 150) cannot start now (it would run into job 1) and gets
 * 200 on machine 2; easy would have reserved only job 1.  When machine 0's
 * task ends early at 40, the queue is compressed and nobody moves later.
 */
static void
test_backfill_conservative_delays_no_reservation(void **state)
{
	ksched_policy *p = load("conservative");
	struct ksched_task_view tv = {.id = 90};
	struct ksched_policy_event ev = {KSCHED_EV_TASK_FINISHED, 40, &tv, NULL,
					 true};
	struct cl c;

	(void)state;
	cl_two_busy(&c, 4);
	cl_job(&c, 1, 4, 100);
	cl_job(&c, 2, 2, 300);
	cl_job(&c, 3, 1, 150);
	cl_place(p, &c);
	assert_int_equal(c.n, 0);
	assert_int_equal(reserved(p, 1), 100);
	assert_int_equal(reserved(p, 2), 200);
	assert_int_equal(reserved(p, 3), 200);

	/* Machine 0 frees at 40: job 3 (150) still cannot go before 100
	 * without delaying job 1, so the plan stays as it was. */
	c.now = 40;
	c.all[0].allocated = (struct ksched_resources){0, 0, 0, 0};
	c.r[0] = c.r[--c.nr];
	ev.worker = &c.all[0];
	ksched_policy_event(p, &ev);
	cl_place(p, &c);
	assert_int_equal(c.n, 0);
	assert_true(reserved(p, 1) <= 100);
	assert_true(reserved(p, 2) <= 200);
	assert_true(reserved(p, 3) <= 200);
	ksched_policy_free(p);
}

static void
test_backfill_gangs_on_distinct_machines(void **state)
{
	const char *pols[] = {"fcfs", "sjf", "easy", "easy:reserve=count",
			      "conservative"};
	struct cl c;

	(void)state;
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		ksched_policy *p = load(pols[i]);
		cl_init(&c, 6);
		cl_busy(&c, 2, 90, 100, true);
		cl_job(&c, 1, 3, 10);
		cl_job(&c, 2, 2, 10);
		cl_place(p, &c);
		assert_int_equal(c.n, 5);
		assert_int_equal(on(&c, 1), 1u << 0 | 1u << 1 | 1u << 3);
		assert_int_equal(on(&c, 2), 1u << 4 | 1u << 5);
		ksched_policy_free(p);
	}
}

/*
 * The core lists a running gang once (on its first part's worker) and its
 * other machines, full, are in no view: the policy learns them from the
 * TASK_STARTED events.  Gang 50 runs on 0-2 until 100; the head needs all
 * 4 machines, so a long job may not take machine 3.
 */
static void
test_backfill_gang_machines_learnt_from_events(void **state)
{
	const char *pols[] = {"easy", "conservative"};
	struct ksched_task_view tv = {.id = 50, .nodes = 3};
	struct cl c;

	(void)state;
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		ksched_policy *p = load(pols[i]);
		cl_init(&c, 4);
		cl_busy(&c, 0, 50, 100, true);
		cl_busy(&c, 1, 50, 100, false);
		cl_busy(&c, 2, 50, 100, false);
		for (uint32_t m = 0; m < 3; m++) {
			struct ksched_policy_event ev = {
			    KSCHED_EV_TASK_STARTED, 0, &tv, &c.all[m], true};
			ksched_policy_event(p, &ev);
		}
		cl_job(&c, 1, 4, 10);
		cl_job(&c, 2, 1, 500);
		cl_place(p, &c);
		assert_int_equal(reserved(p, 1), 100);
		assert_int_equal(c.n, 0);
		ksched_policy_free(p);
	}
}

/* Many selects later (with and without a profile built), the gang's
 * machines are still known. */
static void
test_backfill_gang_machines_kept_over_many_selects(void **state)
{
	struct ksched_task_view tv = {.id = 50, .nodes = 4};
	ksched_policy *p = load("easy");
	struct cl c;

	(void)state;
	cl_init(&c, 8);
	cl_busy(&c, 0, 50, 1000000, true);
	for (uint32_t m = 1; m < 4; m++)
		cl_busy(&c, m, 50, 1000000, false);
	for (uint32_t m = 0; m < 4; m++) {
		struct ksched_policy_event ev = {KSCHED_EV_TASK_STARTED, 0, &tv,
						 &c.all[m], true};
		ksched_policy_event(p, &ev);
	}
	for (int i = 0; i < 1500; i++) {
		c.nq = 0;
		cl_job(&c, 1, i % 5 ? 1 : 5, 10); /* 5 needs the profile */
		cl_place(p, &c);
	}
	c.nq = 0;
	cl_job(&c, 1, 8, 10);
	cl_job(&c, 2, 1, 5000000);
	cl_place(p, &c);
	assert_int_equal(reserved(p, 1), 1000000);
	assert_int_equal(c.n, 0);
	ksched_policy_free(p);
}

/* A job no machine set can hold is passed over, not a blocker. */
static void
test_backfill_too_large_job_is_passed_over(void **state)
{
	const char *pols[] = {"fcfs", "sjf", "easy", "conservative"};
	struct cl c;

	(void)state;
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		ksched_policy *p = load(pols[i]);
		cl_init(&c, 3);
		cl_job(&c, 1, 4, 10);
		cl_job(&c, 2, 1, 10);
		cl_place(p, &c);
		assert_int_equal(on(&c, 2), 1u << 0);
		ksched_policy_free(p);
	}
}

/* Conservative never reserves a job without a walltime; easy plans it
 * as running for ever. */
static void
test_backfill_unknown_walltime(void **state)
{
	ksched_policy *p;
	struct cl c;

	(void)state;
	cl_init(&c, 2);
	cl_busy(&c, 0, 90, 100, true);
	cl_job(&c, 1, 2, 0);
	cl_job(&c, 2, 1, 50);
	p = load("conservative");
	cl_place(p, &c);
	assert_int_equal(reserved(p, 1), -1);
	assert_int_equal(on(&c, 2), 1u << 1);
	ksched_policy_free(p);

	p = load("easy");
	cl_place(p, &c);
	assert_int_equal(reserved(p, 1), 100);
	assert_int_equal(on(&c, 2), 1u << 1); /* ends at 50 < 100 */
	ksched_policy_free(p);
}

/* A cluster that needs the profile: a blocked head, backfill, a gang. */
static void
busy_cluster(struct cl *c)
{
	cl_two_busy(c, 6);
	cl_job(c, 1, 6, 100);
	cl_job(c, 2, 1, 50);
	cl_job(c, 3, 2, 80);
	cl_job(c, 4, 1, 500);
}

/* Every allocation failing in turn: select fails cleanly (the driver
 * places nothing), and the next call with memory places as usual. */
static void
test_backfill_allocation_failures(void **state)
{
	const char *pols[] = {"fcfs", "sjf", "easy", "easy:reserve=count",
			      "conservative"};
	struct cl c, ref;

	(void)state;
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		ksched_policy *p = load(pols[i]);
		busy_cluster(&ref);
		cl_place(p, &ref);
		/* fcfs waits for the head; the others start 3 parts. */
		assert_int_equal(ref.n, i == 0 ? 0 : 3);
		ksched_policy_free(p);
		for (long n = 0; n < 60; n++) {
			struct ksched_select_view v;
			p = load(pols[i]);
			busy_cluster(&c);
			v = (struct ksched_select_view){c.now, c.q, c.nq, c.vw,
							0,     c.r, c.nr};
			for (size_t m = 0; m < c.nm; m++)
				if (!c.all[m].allocated.slots)
					c.vw[v.nworkers++] = c.all[m];
			ksched__alloc_fail_after(n);
			(void)ksched_policy_place(p, &v, c.out, MAXO, &c.n);
			ksched__alloc_fail_after(-1);
			cl_place(p, &c);
			assert_int_equal(c.n, ref.n);
			assert_memory_equal(c.out, ref.out,
					    ref.n * sizeof(ref.out[0]));
			ksched_policy_free(p);
		}
	}
}

/* Tasks that make no sense are passed over; the others still run. */
static void
test_backfill_bad_tasks_are_ignored(void **state)
{
	const char *pols[] = {"fcfs", "sjf", "easy", "conservative"};
	struct cl c;

	(void)state;
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		ksched_policy *p = load(pols[i]);
		cl_init(&c, 4);
		cl_job(&c, 1, 0, 10); /* no parts */
		cl_job(&c, 2, 1, 10);
		c.q[1].need.cpu_milli = -5;	     /* negative need */
		cl_job(&c, 3, (int64_t)1 << 40, 10); /* absurd gang */
		cl_job(&c, 4, 2, 10);
		cl_place(p, &c);
		assert_int_equal(c.n, 2);
		assert_int_equal(on(&c, 4), 1u << 0 | 1u << 1);
		ksched_policy_free(p);
	}
}

/* ---- multi-resource workers: raw select output checked ------------------- */

static const struct ksched_label_view gpu_label = {"kind", "gpu"};

/* Random workers (cpu, memory, slots, some labelled, some draining), some
 * of their room taken by running tasks, and a random queue. */
static void
random_cluster(struct cl *c, uint64_t *seed)
{
	size_t nm = 2 + tu_rand(seed) % (MAXM - 2);

	cl_init(c, nm);
	c->now = 1000;
	for (size_t m = 0; m < nm; m++) {
		struct ksched_worker_view *w = &c->all[m];
		int64_t slots = 1 + (int64_t)(tu_rand(seed) % 4);
		w->capacity = (struct ksched_resources){
		    1000 * slots, 512 * (1 + (int64_t)(tu_rand(seed) % 4)), 0,
		    slots};
		if (tu_rand(seed) % 4 == 0) {
			w->labels = &gpu_label;
			w->nlabels = 1;
		}
		if (tu_rand(seed) % 8 == 0)
			w->state = KSCHED_WORKER_DRAINING;
		for (int64_t k = 0; k < slots && c->nr < MAXR; k++) {
			if (tu_rand(seed) % 2)
				continue;
			w->allocated.cpu_milli += 700;
			w->allocated.mem_mb += 100;
			w->allocated.slots++;
			c->r[c->nr++] = (struct ksched_running_view){
			    900 + c->nr,
			    (uint32_t)m,
			    {700, 100, 0, 1},
			    0,
			    tu_rand(seed) % 3
				? 1000 + (int64_t)(tu_rand(seed) % 500)
				: 0,
			    ""};
		}
	}
	c->nq = 0;
	for (uint64_t id = 1; id <= 1 + tu_rand(seed) % (MAXQ - 1); id++) {
		cl_job(c, id, 1 + (int64_t)(tu_rand(seed) % 3),
		       (int64_t)(tu_rand(seed) % 400));
		c->q[c->nq - 1].need = (struct ksched_resources){
		    100 * (int64_t)(1 + tu_rand(seed) % 15),
		    64 * (int64_t)(tu_rand(seed) % 12), 0, 1};
		if (tu_rand(seed) % 5 == 0) {
			c->q[c->nq - 1].selector = &gpu_label;
			c->q[c->nq - 1].nselector = 1;
		}
	}
}

/* What the core would refuse: raw placements must all be valid. */
static void
check_raw(const struct cl *c, const struct ksched_select_view *v, size_t n)
{
	struct ksched_resources used[MAXM];

	for (size_t m = 0; m < c->nm; m++)
		used[m] = c->all[m].allocated;
	for (size_t i = 0; i < n;) {
		const struct ksched_task_view *t = NULL;
		for (size_t q = 0; q < v->nqueue; q++)
			if (v->queue[q].id == c->out[i].task)
				t = &v->queue[q];
		assert_non_null(t);
		for (uint32_t r = 0; r < (uint32_t)t->nodes; r++, i++) {
			const struct ksched_placement *pl = &c->out[i];
			const struct ksched_worker_view *w;
			struct ksched_resources *u;
			assert_true(i < n && pl->task == t->id &&
				    pl->rank == r);
			assert_true(pl->worker < c->nm);
			w = &c->all[pl->worker];
			u = &used[pl->worker];
			assert_int_equal(w->state, KSCHED_WORKER_ALIVE);
			assert_true(!t->nselector || w->nlabels);
			for (uint32_t j = 0; j < r; j++)
				assert_int_not_equal(c->out[i - r + j].worker,
						     pl->worker);
			u->cpu_milli += t->need.cpu_milli;
			u->mem_mb += t->need.mem_mb;
			u->slots++;
			assert_true(u->cpu_milli <= w->capacity.cpu_milli &&
				    u->mem_mb <= w->capacity.mem_mb &&
				    u->slots <= w->capacity.slots);
		}
	}
}

static void
test_backfill_multi_resource_output_is_valid(void **state)
{
	const struct ksched_policy_ops *ops[] = {
	    &ksched__policy_fcfs, &ksched__policy_sjf, &ksched__policy_easy,
	    &ksched__policy_easy, &ksched__policy_conservative};
	const char *pols[] = {"fcfs:skip=1", "sjf", "easy",
			      "easy:reserve=count", "conservative"};
	uint64_t seed = 7;
	struct cl c;

	(void)state;
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		ksched_policy *p = load(pols[i]);
		size_t placed = 0;
		for (int round = 0; round < 400; round++) {
			struct ksched_select_view v;
			size_t n = 0, outmax;
			random_cluster(&c, &seed);
			v = (struct ksched_select_view){c.now, c.q, c.nq, c.vw,
							0,     c.r, c.nr};
			for (size_t m = 0; m < c.nm; m++)
				if (c.all[m].allocated.slots <
				    c.all[m].capacity.slots)
					c.vw[v.nworkers++] = c.all[m];
			outmax = 1 + tu_rand(&seed) % MAXO;
			assert_int_equal(ops[i]->select(ksched__policy_state(p),
							&v, c.out, outmax, &n),
					 0);
			assert_true(n <= outmax);
			check_raw(&c, &v, n);
			placed += n;
		}
		assert_true(placed > 400); /* not a vacuous check */
		ksched_policy_free(p);
	}
}

/* ---- randomized property test in virtual time ---------------------------- */

#define PROP_MACHINES 16
#define PROP_JOBS 160

/* Random rigid jobs: sizes skewed small, walltimes 10..1000 ms, arrivals
 * in bursts; run = walltime, or up to it when early is set. */
static void
random_jobs(uint64_t *seed, struct rs_job *jobs, size_t n, bool early)
{
	int64_t t = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t r = tu_rand(seed);
		jobs[i].id = i + 1;
		t += (int64_t)(r % 4 == 0 ? tu_rand(seed) % 200 : 0);
		jobs[i].submit = t;
		jobs[i].nodes =
		    (int64_t)(r >> 8) % 4 == 0
			? 1 + (int64_t)(tu_rand(seed) % PROP_MACHINES)
			: 1 + (int64_t)(tu_rand(seed) % 3);
		jobs[i].wall = 10 + (int64_t)(tu_rand(seed) % 991);
		jobs[i].run =
		    early
			? 1 + (int64_t)(tu_rand(seed) % (uint64_t)jobs[i].wall)
			: jobs[i].wall;
	}
}

struct prop {
	const ksched_policy *p;
	bool per_head; /* easy: record the head only */
};

/* After each select: remember the first reservation of each job. */
static void
record_reservations(struct rs *s, void *arg)
{
	const struct prop *pr = arg;

	for (size_t i = 0; i < s->nq; i++) {
		struct rs_job *jb = &s->jobs[s->queue[i]];
		int64_t st;
		if (jb->resv < 0 &&
		    ksched__backfill_reserved(pr->p, jb->id, &st)) {
			assert_true(st >= s->now);
			jb->resv = st;
		}
	}
}

static void
run_property(const char *spec, uint64_t seed, bool early, bool one_entry)
{
	struct rs_job jobs[PROP_JOBS];
	ksched_policy *p = load(spec);
	const struct ksched_policy_ops *ops =
	    strncmp(spec, "easy", 4) == 0	? &ksched__policy_easy
	    : strcmp(spec, "conservative") == 0 ? &ksched__policy_conservative
	    : strncmp(spec, "sjf", 3) == 0	? &ksched__policy_sjf
						: &ksched__policy_fcfs;
	struct prop pr = {p, true};
	size_t resv = 0;
	uint64_t seed0 = seed;
	struct rs s;

	random_jobs(&seed, jobs, PROP_JOBS, early);
	rs_init(&s, ops, ksched__policy_state(p), PROP_MACHINES, jobs,
		PROP_JOBS);
	s.gang_one_entry = one_entry;
	if (rs_run(&s, 20 * PROP_JOBS, record_reservations, &pr))
		fail_msg("%s seed %" PRIu64 ": %s", spec, seed0, s.err);
	for (size_t i = 0; i < PROP_JOBS; i++) {
		if (jobs[i].resv >= 0) {
			resv++;
			if (jobs[i].start > jobs[i].resv)
				fail_msg("%s seed %" PRIu64 ": job %" PRIu64
					 " reserved at %" PRId64
					 ", started at %" PRId64,
					 spec, seed0, jobs[i].id, jobs[i].resv,
					 jobs[i].start);
		}
		/* fcfs: never before an earlier job (queue order = id). */
		if (!strcmp(spec, "fcfs") && i)
			assert_true(jobs[i - 1].start <= jobs[i].start);
	}
	if (!strcmp(spec, "easy") || !strcmp(spec, "conservative"))
		assert_true(resv > 0); /* the property was exercised */
	rs_free(&s);
	ksched_policy_free(p);
}

static void
test_backfill_property_reservations_hold(void **state)
{
	const char *pols[] = {"fcfs", "sjf", "easy", "easy:reserve=count",
			      "conservative"};

	(void)state;
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++)
		for (uint64_t seed = 1; seed <= 12; seed++)
			run_property(pols[i], seed, seed % 2 == 0,
				     seed % 3 == 0);
}

/* Run spec over jobs; starts in start[]. */
static void
run_starts(const char *spec, struct rs_job *jobs, size_t n, size_t machines,
	   bool like_core, int64_t *start)
{
	ksched_policy *p = load(spec);
	struct rs s;

	rs_init(&s,
		!strcmp(spec, "easy") ? &ksched__policy_easy
				      : &ksched__policy_conservative,
		ksched__policy_state(p), machines, jobs, n);
	s.gang_one_entry = like_core;
	s.like_core = like_core;
	if (rs_run(&s, 20 * n, NULL, NULL))
		fail_msg("%s: %s", spec, s.err);
	for (size_t i = 0; i < n; i++)
		start[i] = jobs[i].start;
	rs_free(&s);
	ksched_policy_free(p);
}

/*
 * The core calls select only when a worker has room, and lists a gang
 * once: batsched is called at every arrival.  Both must give the same
 * schedule (conservative reserves the arrivals it did not see then).
 */
static void
test_backfill_skipped_selects_change_nothing(void **state)
{
	const char *pols[] = {"easy", "conservative"};
	struct rs_job jobs[PROP_JOBS];
	int64_t a[PROP_JOBS], b[PROP_JOBS];

	(void)state;
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		for (uint64_t seed = 100; seed < 112; seed++) {
			uint64_t sd = seed;
			random_jobs(&sd, jobs, PROP_JOBS, seed % 2 == 0);
			run_starts(pols[i], jobs, PROP_JOBS, PROP_MACHINES,
				   false, a);
			run_starts(pols[i], jobs, PROP_JOBS, PROP_MACHINES,
				   true, b);
			for (size_t j = 0; j < PROP_JOBS; j++)
				if (a[j] != b[j])
					fail_msg(
					    "%s seed %" PRIu64 ": job %zu "
					    "starts at %" PRId64 " or %" PRId64,
					    pols[i], seed, j + 1, a[j], b[j]);
		}
	}
}

/* ---- batsched's published schedule of medium_late ------------------------ */

#define ML_JOBS 801
#define ML_MACHINES 32

/*
 * Start times (s) of jobs of Batsim's medium_late workload under batsched,
 * from the published outputs (oar-team/evalys,
 * examples/batsim_outputs/medium_late/{easy,conservative}/out_jobs.csv):
 * most of the jobs that waited in the parts compared, a few that did not.
 */
struct ml_start {
	int id;
	double start;
};

static const struct ml_start ml_easy[] = {
    {0, 0.0},
    {1, 4.709164},
    {19, 309.043478},
    {21, 270.509164},
    {22, 334.368387},
    {23, 334.948478},
    {26, 334.948478},
    {36, 475.318387},
    {37, 511.250387},
    {38, 515.243387},
    {40, 595.953387},
    {41, 511.250387},
    {44, 605.520387},
    {45, 595.953387},
    {48, 625.478478},
    {54, 720.068295},
    {57, 736.491063},
    {88, 1174.379016},
    {91, 1183.946016},
    {100, 1363.026016},
    {104, 1373.910198},
    {109, 1441.471001},
    {111, 1511.999499},
    {112, 1653.556016},
    {113, 1679.461016},
    {115, 1679.461016},
    {118, 1569.095051},
    {125, 1657.318638},
    {126, 1967.595085},
    {127, 1721.035051},
    {456, 6349.592907},
    {507, 7028.586504},
    {514, 7016.592555},
    {516, 7116.276504},
    {520, 7119.093960},
    {613, 8411.744776},
    {616, 8387.429232},
    {627, 8496.153462},
    {672, 9023.185467},
    {297, 4175.866323},
    {796, 10731.816083},
    {797, 10731.816083},
    {798, 10735.974260},
    {799, 10759.738951},
};

static const struct ml_start ml_conservative[] = {
    {112, 1653.556016}, {113, 1679.461016},  {115, 1690.800570},
    {117, 1653.556016}, {118, 1559.885043},  {119, 1569.095051},
    {121, 1679.461016}, {124, 1653.556016},  {125, 1679.461016},
    {126, 1969.991016}, {127, 1711.825043},  {128, 1711.825043},
    {129, 1698.313686}, {130, 1963.225016},  {136, 1971.742016},
    {138, 1999.157016}, {142, 1886.885085},  {143, 1926.888280},
    {146, 1963.225016}, {147, 1967.595085},  {156, 2078.948932},
    {158, 2109.756016}, {163, 2174.508932},  {177, 2372.866556},
    {185, 2502.200580}, {200, 2666.360688},  {203, 2770.558658},
    {207, 2772.888658}, {226, 3024.104166},  {230, 3072.904166},
    {456, 6349.592907}, {507, 7028.586504},  {514, 7028.586504},
    {516, 7116.276504}, {520, 7119.093960},  {613, 8411.744776},
    {616, 8389.861873}, {627, 8505.089410},  {672, 9042.519505},
    {19, 309.043478},	{796, 10731.816083}, {798, 10735.974260},
};

/* The workload in microseconds (the policies do not mind the unit), ids
 * shifted by one (0 is no task id); 0 if the trace is absent. */
static size_t
ml_load(struct rs_job *jobs)
{
	const char *dir = getenv("KSCHED_TRACES");
	char path[1024];
	json_t *root, *arr, *prof, *j;
	json_error_t e;
	size_t i, n = 0;

	snprintf(path, sizeof(path), "%s/batsim-medium_late/medium_late.json",
		 dir ? dir : "../shared/traces");
	if (access(path, R_OK) != 0)
		return 0;
	if (!(root = json_load_file(path, 0, &e)))
		fail_msg("%s:%d: %s", path, e.line, e.text);
	arr = json_object_get(root, "jobs");
	prof = json_object_get(root, "profiles");
	assert_int_equal(json_array_size(arr), ML_JOBS);
	json_array_foreach(arr, i, j)
	{
		json_t *p = json_object_get(
		    prof, json_string_value(json_object_get(j, "profile")));
		jobs[n++] = (struct rs_job){
		    (uint64_t)json_integer_value(json_object_get(j, "id")) + 1,
		    llround(json_number_value(json_object_get(j, "subtime")) *
			    1e6),
		    llround(json_number_value(json_object_get(p, "delay")) *
			    1e6),
		    llround(json_number_value(json_object_get(j, "walltime")) *
			    1e6),
		    json_integer_value(json_object_get(j, "res")),
		    -1,
		    -1};
	}
	json_decref(root);
	qsort(jobs, n, sizeof(*jobs), rs_cmp_submit);
	return n;
}

static void
ml_check(const char *spec, const struct ml_start *want, size_t nwant,
	 struct rs_job *jobs, size_t n)
{
	int64_t start[ML_JOBS];

	run_starts(spec, jobs, n, ML_MACHINES, true, start);
	for (size_t i = 0; i < nwant; i++) {
		size_t j = 0;
		while (j < n && jobs[j].id != (uint64_t)want[i].id + 1)
			j++;
		assert_true(j < n);
		if (llabs(start[j] - llround(want[i].start * 1e6)) > 2)
			fail_msg("%s: job %d starts at %.6f, batsched %.6f",
				 spec, want[i].id, (double)start[j] / 1e6,
				 want[i].start);
	}
}

/* Both policies, driven as the core drives them, reproduce batsched. */
static void
test_backfill_medium_late_matches_batsched(void **state)
{
	static struct rs_job jobs[ML_JOBS];
	size_t n = ml_load(jobs);

	(void)state;
	if (!n) {
		print_message("skip: ../shared/traces/batsim-medium_late not "
			      "found (set KSCHED_TRACES to the traces "
			      "directory)\n");
		skip();
	}
	ml_check("easy", ml_easy, sizeof(ml_easy) / sizeof(ml_easy[0]), jobs,
		 n);
	ml_check("conservative", ml_conservative,
		 sizeof(ml_conservative) / sizeof(ml_conservative[0]), jobs, n);
}

/* ---- through the scheduling core ----------------------------------------- */

struct core {
	char *dir;
	ksched_store *st;
	ksched_queue *q;
	ksched_cache *c;
	ksched_sched *s;
	ksched_policy *p;
	int64_t now;
};

static void
core_open(struct core *k, const char *policy)
{
	struct ksched_sched_config cfg;
	char err[256];

	memset(k, 0, sizeof(*k));
	k->dir = tu_tmpdir("backfill");
	k->now = 1000000;
	k->p = load(policy);
	assert_int_equal(ksched_store_open(k->dir, KSCHED_SYNC_NONE, &k->st,
					   err, sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched_queue_open(k->st, 5, &k->q), KSCHED_OK);
	assert_int_equal(ksched_cache_open(k->st, &k->c), KSCHED_OK);
	ksched_sched_config_init(&cfg);
	cfg.policy = k->p;
	assert_int_equal(ksched_sched_new(k->q, k->c, &cfg, k->now, &k->s),
			 KSCHED_OK);
}

static void
core_close(struct core *k)
{
	ksched_sched_free(k->s); /* before its policy */
	ksched_policy_free(k->p);
	ksched_cache_close(k->c);
	ksched_queue_close(k->q);
	ksched_store_close(k->st);
	tu_rmtree(k->dir);
}

/* A rigid job: nodes parts of one core for walltime ms. */
static uint64_t
core_submit(struct core *k, const char *name, int64_t nodes, int64_t wall)
{
	ksched_task *t;
	const ksched_task *ts[1];
	uint64_t id;

	assert_int_equal(ksched_task_new(&t), 0);
	assert_int_equal(ksched_task_set_kind(t, "sim"), 0);
	assert_int_equal(ksched_task_set_payload(t, name, strlen(name)), 0);
	ksched_task_set_resources(t, 1000, 0, 0);
	ksched_task_set_nodes(t, nodes);
	ksched_task_set_timeout_ms(t, wall);
	ksched_task_set_est_runtime_ms(t, wall);
	ts[0] = t;
	k->now++; /* distinct submission times: queue order */
	assert_int_equal(
	    ksched_sched_submit(k->s, ts, 1, k->now, &id, NULL, NULL, NULL, 0),
	    KSCHED_OK);
	ksched_task_free(t);
	return id;
}

static size_t
core_dispatch(struct core *k, const uint32_t *ws, size_t nw,
	      struct ksched_assignment *out)
{
	uint32_t max[8] = {1, 1, 1, 1, 1, 1, 1, 1};
	size_t n;

	assert_int_equal(
	    ksched_sched_dispatch(k->s, k->now, ws, max, nw, out, 8, &n),
	    KSCHED_OK);
	return n;
}

/*
 * easy through the core, which lists a running gang once and leaves its
 * full workers out of the view: 4 one-slot workers, a gang of 2 runs on
 * 0-1 for 1,000 ms.  The head needs 3 for 100 ms: it reserves 0, 1, 2 at
 * 1,000 (not 1, 2, 3 now: worker 1 is busy, as only the gang's events
 * say).  So a long job may take worker 3, and a short one worker 2.
 */
static void
test_backfill_easy_through_the_core(void **state)
{
	struct ksched_assignment a[8];
	struct ksched_resources cap = {1000, 1024, 0, 1};
	uint32_t ws[4];
	uint64_t gang, head, lng, shrt;
	struct core k;

	(void)state;
	core_open(&k, "easy");
	for (int i = 0; i < 4; i++) {
		char id[32];
		snprintf(id, sizeof(id), "n%d", i);
		assert_int_equal(
		    ksched_sched_worker_join(k.s, id, &cap, k.now, &ws[i]),
		    KSCHED_OK);
	}
	gang = core_submit(&k, "gang", 2, 1000);
	assert_int_equal(core_dispatch(&k, ws, 4, a), 2);
	assert_true(a[0].id == gang && a[1].id == gang);
	head = core_submit(&k, "head", 3, 100);
	lng = core_submit(&k, "long", 1, 5000);
	shrt = core_submit(&k, "short", 1, 500);
	assert_int_equal(core_dispatch(&k, ws + 2, 2, a), 2);
	assert_true(ksched_sched_worker_of(k.s, head) < 0);
	assert_int_equal(ksched_sched_worker_of(k.s, lng), ws[3]);
	assert_int_equal(ksched_sched_worker_of(k.s, shrt), ws[2]);
	core_close(&k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_backfill_loads_and_refuses_bad_options),
	    cmocka_unit_test(test_backfill_fcfs_never_passes_a_waiting_job),
	    cmocka_unit_test(test_backfill_takes_the_lowest_machine_ids),
	    cmocka_unit_test(
		test_backfill_machine_and_count_reservations_differ),
	    cmocka_unit_test(
		test_backfill_easy_backfills_only_what_keeps_the_reservation),
	    cmocka_unit_test(test_backfill_conservative_delays_no_reservation),
	    cmocka_unit_test(test_backfill_gangs_on_distinct_machines),
	    cmocka_unit_test(test_backfill_gang_machines_learnt_from_events),
	    cmocka_unit_test(
		test_backfill_gang_machines_kept_over_many_selects),
	    cmocka_unit_test(test_backfill_too_large_job_is_passed_over),
	    cmocka_unit_test(test_backfill_unknown_walltime),
	    cmocka_unit_test(test_backfill_allocation_failures),
	    cmocka_unit_test(test_backfill_bad_tasks_are_ignored),
	    cmocka_unit_test(test_backfill_multi_resource_output_is_valid),
	    cmocka_unit_test(test_backfill_property_reservations_hold),
	    cmocka_unit_test(test_backfill_skipped_selects_change_nothing),
	    cmocka_unit_test(test_backfill_medium_late_matches_batsched),
	    cmocka_unit_test(test_backfill_easy_through_the_core),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
