/*
 * Internal: what policy.c (registry, loader, placement driver) and
 * policy_builtin.c (the built-in policies) share.
 */
#ifndef KSCHED_POLICY_INT_H
#define KSCHED_POLICY_INT_H

#include "ksched/policy.h"

/*
 * The built-in policy tables, NULL terminated.  policy.c registers them
 * through the same path as ksched_policy_register(), once, on first use of
 * the registry.  They are written against the public ops table only.
 */
extern const struct ksched_policy_ops *const ksched__policy_builtins[];

/* The rigid-job built-ins of policy_backfill.c. */
extern const struct ksched_policy_ops ksched__policy_fcfs;
extern const struct ksched_policy_ops ksched__policy_sjf;
extern const struct ksched_policy_ops ksched__policy_easy;
extern const struct ksched_policy_ops ksched__policy_conservative;

/* a += s * b, field by field (s is 1 or -1). */
void ksched__res_add(struct ksched_resources *a,
		     const struct ksched_resources *b, int s);

/* One part of t: its need with one slot. */
struct ksched_resources
ksched__policy_part_need(const struct ksched_task_view *t);

/* Whether t's gang size, needs and selector make sense. */
bool ksched__policy_task_sane(const struct ksched_task_view *t);

/* Whether w has every label t selects (shared with the built-ins). */
bool ksched__policy_labels_match(const struct ksched_task_view *t,
				 const struct ksched_worker_view *w);

/* The state create() made for p (tests of built-ins look inside). */
void *ksched__policy_state(const ksched_policy *p);

#endif
