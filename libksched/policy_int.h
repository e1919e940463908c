/*
 * Internal: what policy.c (registry, loader), policy_place.c (placement
 * driver) and the built-in policies share.
 */
#ifndef KSCHED_POLICY_INT_H
#define KSCHED_POLICY_INT_H

#include "ksched/policy.h"

#define NAME_MAX_LEN 32 /* [a-z0-9_]{1,32} */
#define OPT_MAX 32	/* key=value options in a spec */
/* Sampling (docs/policies.md): views of more than SAMPLE_MIN_VIEW workers
 * stop after max(SAMPLE_MIN_FOUND, p% of the workers) feasible ones. */
#define SAMPLE_MIN_VIEW 1000
#define SAMPLE_MIN_FOUND 100

/* A key=value option given after the policy's name. */
struct opt {
	const char *key, *value; /* into optbuf */
	bool used;
};

/* A loaded policy (policy.c loads it, policy_place.c places with it). */
struct ksched_policy {
	struct ksched_policy_ops ops; /* zeroed host-side copy */
	char name[NAME_MAX_LEN + 1];
	void *state;
	void *dl; /* NULL for a registered policy */
	struct ksched_policy *next_live;
	struct ksched_host host;
	int64_t now; /* of the last place/event call */
	char *optbuf;
	struct opt opts[OPT_MAX];
	size_t nopts;
	bool sample;	   /* option sample (1 unless sample=0) */
	size_t next_start; /* where the next sampled search starts */
};


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
