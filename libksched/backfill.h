/*
 * Internal: what the rigid-job policies share between policy_backfill.c
 * (the policies: fcfs, sjf, easy, conservative) and backfill_view.c (the
 * machines, the running parts and the profile of one select, and the
 * events that keep track of running parts).
 */
#ifndef KSCHED_BACKFILL_H
#define KSCHED_BACKFILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan.h"
#include "policy_int.h"
#include "u64map.h"

#define KSCHED__BF_MAX_INDEX (1u << 20) /* worker indices tracked */

enum ksched__bf_kind {
	KSCHED__BF_FCFS,
	KSCHED__BF_SJF,
	KSCHED__BF_EASY,
	KSCHED__BF_CONS
};

/* A running task's parts, from TASK_STARTED events: its workers, planned
 * end (start + walltime) and need per part. */
struct ksched__bf_live {
	uint64_t stamp; /* the last select that saw it (pruning) */
	int64_t end;
	struct ksched_resources need;
	uint32_t n, cap;
	uint32_t w[];
};

/* One part on a machine: task, worker index, machine position (in this
 * select), planned end, need. */
struct ksched__bf_part {
	uint64_t task;
	uint32_t index, m;
	int64_t end;
	struct ksched_resources need;
};

struct ksched__bf_wcache {
	struct ksched_resources cap;
	bool known;
};

/* A free worker of the view, for starts that need no profile. */
struct ksched__bf_free {
	const struct ksched_worker_view *w;
	struct ksched_resources free;
};

struct ksched__bf_sjf_key {
	int64_t wall, submitted;
	uint64_t id;
	size_t pos;
};

struct ksched__bf {
	const struct ksched_host *host;
	enum ksched__bf_kind kind;
	bool count;	 /* easy: reserve=count */
	bool skip;	 /* fcfs, sjf: skip=1 */
	bool ended;	 /* a task finished since the last select */
	uint64_t gen;	 /* selects so far */
	uint64_t builds; /* profiles built so far */
	struct ksched__plan plan;
	struct u64map live; /* task -> struct ksched__bf_live */
	struct u64map resv; /* conservative: task -> its reservation */
	struct ksched__bf_wcache *wc; /* by worker index */
	size_t nwc;
	struct ksched__bf_part *gone; /* parts ended since the last select */
	size_t ngone, gonecap;
	/* scratch of one select, grown as needed */
	uint64_t *mark; /* by worker index: gen when a machine */
	uint32_t *pos;	/* by worker index: machine position */
	size_t nidx;
	uint32_t *ids; /* worker indices of the machines */
	const struct ksched_worker_view **mv; /* per machine, or NULL */
	struct ksched_resources *known;	      /* per machine: running */
	bool *usable;
	uint32_t *pick;
	size_t mscap;
	struct ksched__bf_part *parts;
	size_t nparts, partscap;
	struct ksched__bf_free *fw; /* the view's workers, by index */
	size_t nfw, fwcap;
	uint32_t *started; /* workers of the tasks started before the build */
	size_t nstarted, startedcap;
	size_t *order; /* queue positions in the policy's order */
	size_t ordercap;
	struct ksched__bf_sjf_key *keys;
	size_t keyscap;
	/* easy: the head's reservation in the last select */
	bool have_head;
	uint64_t head;
	int64_t head_start;
};

/* One select: the view, the output, the queue order. */
struct ksched__bf_round {
	struct ksched__bf *bf;
	const struct ksched_select_view *v;
	struct ksched_placement *out;
	size_t outmax, n;
	const size_t *order; /* positions in v->queue */
};

/* Grow *pp to hold n elements of size sz; -1 when out of memory. */
int ksched__bf_grow(void *pp, size_t *cap, size_t n, size_t sz);

/* The walltime backfilling plans with: timeout, else estimate, else
 * KSCHED__PLAN_FOREVER (unknown). */
int64_t ksched__bf_walltime(const struct ksched_task_view *t);

/* Task events: live parts, ended flag, capacities. */
void ksched__bf_event(struct ksched__bf *bf,
		      const struct ksched_policy_event *ev);
void ksched__bf_free_maps(struct ksched__bf *bf);

/*
 * Start tasks in r->order from position `from` while each fits now on the
 * view's free workers (the lowest indices), with no profile: the first
 * fit of a task in a plan of running parts only, when it begins now.
 * skip_nowall passes over tasks without a walltime.  Returns the position
 * of the first task that does not fit now (or the queue length).
 */
size_t ksched__bf_start_free(struct ksched__bf_round *r, bool skip_nowall);

/* Build this select's profile (machines, running parts, and the tasks
 * ksched__bf_start_free started).  -1 when out of memory. */
int ksched__bf_build(struct ksched__bf_round *r);

bool ksched__bf_is_machine(const struct ksched__bf *bf, uint32_t index);

/* Whether t is sane and enough machines could ever hold it; fills
 * bf->usable for it. */
bool ksched__bf_plannable(struct ksched__bf *bf,
			  const struct ksched_task_view *t);

/* First fit of t in the plan into bf->pick: the start, or -1.  before as
 * for ksched__plan_first_fit (-1: now or never). */
int64_t ksched__bf_first_fit(struct ksched__bf *bf,
			     const struct ksched_task_view *t, int64_t before);

/* Start t now on bf->pick; false if out is full. */
bool ksched__bf_emit(struct ksched__bf_round *r,
		     const struct ksched_task_view *t);

#endif
