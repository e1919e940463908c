/*
 * Internal: a machine-level schedule profile for the backfilling policies
 * (policy_backfill.c), the equivalent of batsched's Schedule.
 *
 * Time from `now` on is cut into slices; slice s is [t[s], t[s+1]) and the
 * last one never ends.  For every slice and machine the profile holds what
 * is planned there (running task parts until their expected end, and
 * reservations).  A part fits a machine over an interval when its need
 * fits in the machine's capacity minus what is planned there in every
 * slice the interval touches; with one slot per machine that is batsched's
 * "the machine is free".  Machines are kept in ascending worker index, so
 * "the first k that fit" are the lowest ids.
 *
 * Rows are allocated once and reused from call to call: a reset costs one
 * row clear, a split one row copy and a pointer move.
 */
#ifndef KSCHED_PLAN_H
#define KSCHED_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ksched/membership.h"

#define KSCHED__PLAN_FOREVER INT64_MAX

struct ksched__plan {
	size_t nm;		       /* machines */
	uint32_t *index;	       /* worker index of each, ascending */
	struct ksched_resources *cap;  /* capacity of each */
	size_t mcap;		       /* machines the arrays hold */
	int64_t *t;		       /* slice starts, ascending */
	struct ksched_resources **row; /* row[s][m]: planned in slice s */
	size_t ns, scap;	       /* slices; rows allocated (or NULL) */
	size_t rowlen;		       /* machines each allocated row holds */
	int64_t *fu;		       /* first fit scratch, per machine */
	uint32_t *um;		       /* first fit scratch: usable ones */
};

void ksched__plan_init(struct ksched__plan *p);
void ksched__plan_free(struct ksched__plan *p);

/*
 * Start over at now with nm machines, nothing planned.  The caller then
 * fills index[0..nm) (ascending) and cap[0..nm).  -1 when out of memory.
 */
int ksched__plan_reset(struct ksched__plan *p, int64_t now, size_t nm);

/*
 * Plan (sign 1) or unplan (sign -1) need on machines m[0..k) (positions)
 * over [start, end); end KSCHED__PLAN_FOREVER for ever, start before the
 * first slice counts from it.  -1 when out of memory (nothing changed).
 */
int ksched__plan_add(struct ksched__plan *p, int64_t start, int64_t end,
		     const uint32_t *m, size_t k,
		     const struct ksched_resources *need, int sign);

/*
 * First fit: the earliest slice start t at which k machines among those
 * with usable[m] fit need over [t, t + wall) (wall KSCHED__PLAN_FOREVER:
 * for ever), and the lowest k of them in out[0..k) (positions).  before
 * bounds the search when the caller knows a place at or before it exists
 * (KSCHED__PLAN_FOREVER: none known; -1: try now only).  Returns t, or -1
 * when there is none.
 */
int64_t ksched__plan_first_fit(struct ksched__plan *p,
			       const struct ksched_resources *need, size_t k,
			       int64_t wall, const bool *usable, int64_t before,
			       uint32_t *out);

/* start + wall, or KSCHED__PLAN_FOREVER if wall is or that overflows. */
int64_t ksched__plan_end(int64_t start, int64_t wall);

/* Whether need fits machine m in slice s. */
bool ksched__plan_fits(const struct ksched__plan *p, size_t s, size_t m,
		       const struct ksched_resources *need);

#endif
