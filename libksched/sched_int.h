/*
 * Internal: the scheduling core's state, shared by sched.c (submit,
 * reports, workers, tick) and sched_place.c (dispatch through a policy).
 *
 * Memory: a `tinfo` per live task the core has seen (submitted here, or
 * met in a dispatch scan), holding what placement needs without decoding
 * the spec again; while it runs, its worker, lease token and deadline.
 */
#ifndef KSCHED_SCHED_INT_H
#define KSCHED_SCHED_INT_H

#include "u64map.h"

#include "ksched/policy.h"
#include "ksched/sched.h"

struct follower {
	uint64_t id;
	uint64_t token;
};

/* tinfo.gw of a gang from before a restart being pieced together: a part
 * not reported yet, and a part that finished (it holds no resources). */
#define KSCHED__PART_NONE UINT32_MAX
#define KSCHED__PART_DONE (UINT32_MAX - 1)

struct tinfo {
	uint64_t id;
	struct ksched_key key;
	struct ksched_resources need;
	int64_t timeout_ms;
	int64_t ttl_ms;
	bool no_cache;
	bool in_flight; /* registered as the primary of its key */
	char *kind;
	char *user;   /* "" if none */
	char *reason; /* why not placed, or NULL */
	int32_t prio;
	int64_t nodes;
	int64_t submitted;
	int64_t est_ms;
	int64_t started; /* when placed */
	struct ksched_label_view *sel; /* selector; strings in one block */
	size_t nsel;
	struct ksched_label_view *lab; /* the task's labels, the same way */
	size_t nlab;
	uint32_t *gw;	/* a running gang: the worker of each part */
	uint8_t *gdone; /* a running gang: the parts that succeeded */
	uint32_t ngdone;
	uint32_t ngseen; /* a gang from before a restart: parts reported */
	void *res0;	/* a running gang: part 0's result */
	size_t res0len;
	int64_t worker; /* -1 when not running */
	uint64_t token;
	int64_t deadline;
	struct follower *fl;
	size_t nfl, capfl;
};

struct ksched_sched {
	ksched_queue *q;
	ksched_cache *c;
	ksched_members *members;
	struct ksched_sched_config cfg;
	struct u64map tasks;	/* id -> tinfo */
	struct u64map running;	/* id -> tinfo */
	struct u64map flight;	/* key64 -> primary tinfo */
	struct u64map attached; /* follower id -> primary tinfo */
	struct u64map cancels;	/* canceled while running: id -> worker+1 */
	struct u64map prior;	/* leases from before a restart, unreported */
	int64_t adopt_until;	/* until when they may be reported */
	bool adopting;		/* the window is open */
	uint64_t adopted;	/* leases of `prior` adopted so far */
	uint64_t *scan;
	struct ksched_sched_stats st;
	ksched_policy *policy;
	bool own_policy; /* loaded by the core (the default) */
	int64_t now;	 /* the time of the call in progress */
};


/* sched.c */
/* What a policy sees of t / of worker index (borrowed strings). */
void ksched__sched_task_view(const struct tinfo *t,
			     struct ksched_task_view *v);
bool ksched__sched_worker_view(ksched_sched *s, uint32_t index,
			       struct ksched_worker_status *st,
			       struct ksched_worker_view *v);
/* Tell the policy a task started or finished on its worker. */
void ksched__sched_event(ksched_sched *s, enum ksched_policy_event_type ev,
			 const struct tinfo *t, uint32_t worker, bool ok,
			 int64_t now);
ksched_err ksched__sched_tinfo_get(ksched_sched *s, uint64_t id,
				   struct tinfo **out);
void ksched__sched_tinfo_drop(ksched_sched *s, struct tinfo *t);
struct tinfo *ksched__sched_flight_primary(ksched_sched *s,
					   const struct tinfo *t);
int ksched__sched_flight_register(ksched_sched *s, struct tinfo *t);
ksched_err ksched__sched_attach(ksched_sched *s, struct tinfo *p,
				struct tinfo *t, int64_t now);
void ksched__sched_resolve_followers(ksched_sched *s, struct tinfo *p,
				     int64_t now, bool ok, const void *result,
				     size_t len);
void ksched__sched_set_reason(struct tinfo *t, const char *why);
void ksched__sched_stop_running(ksched_sched *s, struct tinfo *t,
				enum ksched_outcome how);
int64_t ksched__sched_lease_for(const ksched_sched *s, const struct tinfo *t);

#endif
