/*
 * libksched - scheduling policies: a versioned plugin ABI.
 *
 * A policy is a table of hooks in the spirit of the Kubernetes scheduling
 * framework: queue order (compare), filter (may this task go to this
 * worker), score (how good is it), a whole-queue select for policies that
 * must see the queue and the cluster at once (backfilling), and events for
 * stateful policies.  A NULL hook means "not implemented".  Built-in
 * policies are registered through the same table.
 *
 * A plugin is a shared object exporting one symbol:
 *
 *     const struct ksched_policy_ops *ksched_policy_entry(void);
 *
 * and links nothing from libksched: what it needs from the host (log,
 * clock, configuration) comes in the struct ksched_host given to create.
 *
 * Contract: hooks run on the scheduler's thread, must not block, and see
 * read-only views that are valid only during the call.  The core never
 * places a task where it does not fit, whatever a hook says: resource fit
 * is checked before filter, and after select.
 *
 * ABI rules: fields of every struct here are only ever appended.  The host
 * checks `abi` (magic and minor version) and `size`, then copies the table
 * into a zeroed struct of its own size, so hooks a plugin does not know of
 * read as NULL.  A test pins the offset of every field.
 */
#ifndef KSCHED_POLICY_H
#define KSCHED_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "membership.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KSCHED_POLICY_MAGIC 0x6b73u /* "ks" */
#define KSCHED_POLICY_ABI_MINOR 1u
/* The abi field: magic in the high 16 bits, minor in the low 16. */
#define KSCHED_POLICY_ABI                                                     \
	((uint32_t)KSCHED_POLICY_MAGIC << 16 | KSCHED_POLICY_ABI_MINOR)

#define KSCHED_SCORE_MAX 100 /* scores are 0..KSCHED_SCORE_MAX */

/* A label: key and value. */
struct ksched_label_view {
	const char *key;
	const char *value;
};

/* What a hook sees of a task. */
struct ksched_task_view {
	uint64_t id;
	int32_t priority;
	const char *kind;
	const char *user;		/* "" if none */
	struct ksched_resources need;	/* per part; slots is 1 */
	int64_t nodes;			/* gang size (parts), >= 1 */
	int64_t submitted;		/* ms */
	int64_t est_runtime_ms;		/* 0 if unknown */
	int64_t timeout_ms;		/* 0 if none (a walltime for backfill) */
	const struct ksched_label_view *selector; /* worker labels required */
	size_t nselector;
	const struct ksched_label_view *labels; /* the task's own labels */
	size_t nlabels;
};

/* What a hook sees of a worker. */
struct ksched_worker_view {
	uint32_t index; /* the worker's index in the core's table */
	const char *id;
	struct ksched_resources capacity;
	struct ksched_resources allocated;
	uint32_t running;
	double load; /* last reported 1-minute load average */
	enum ksched_worker_state state;
	const struct ksched_label_view *labels;
	size_t nlabels;
};

/* A task running now (for select): one entry per part, so a gang of k
 * parts is k entries with the same task id, one per worker. */
struct ksched_running_view {
	uint64_t task;
	uint32_t worker;	 /* index */
	struct ksched_resources need;
	int64_t started;	 /* ms */
	int64_t expected_end;	 /* ms: start + estimate or timeout; 0 if
				    unknown */
	const char *user;
};

/* Everything select sees. */
struct ksched_select_view {
	int64_t now;
	const struct ksched_task_view *queue; /* ready tasks, in queue order */
	size_t nqueue;
	const struct ksched_worker_view *workers; /* that may take work now */
	size_t nworkers;
	const struct ksched_running_view *running;
	size_t nrunning;
};

/* One placement decided by select: part `rank` of task on worker. */
struct ksched_placement {
	uint64_t task;
	uint32_t worker; /* index */
	uint32_t rank;	 /* 0..nodes-1 */
};

enum ksched_policy_event_type {
	KSCHED_EV_TASK_STARTED = 1,
	KSCHED_EV_TASK_FINISHED = 2, /* success, failure or cancel */
	KSCHED_EV_WORKER_JOINED = 3,
	KSCHED_EV_WORKER_LEFT = 4,
};

struct ksched_policy_event {
	enum ksched_policy_event_type type;
	int64_t now;
	const struct ksched_task_view *task;	 /* task events */
	const struct ksched_worker_view *worker; /* the worker involved */
	bool ok;				 /* TASK_FINISHED */
};

/* Host services for plugins (a plugin links nothing from libksched). */
struct ksched_host {
	uint32_t size; /* sizeof(struct ksched_host) of the host */
	void *ctx;
	/* Log a line at a syslog level (3 err .. 7 debug). */
	void (*log)(void *ctx, int level, const char *msg);
	/* The scheduler's clock, in ms (virtual time in the simulator). */
	int64_t (*now)(void *ctx);
	/* The value of a configuration key given after the policy name
	 * ("binpack:cpu_weight=2,mem_weight=1"), or NULL. */
	const char *(*config)(void *ctx, const char *key);
};

struct ksched_policy_ops {
	uint32_t abi;	  /* KSCHED_POLICY_ABI */
	uint32_t size;	  /* sizeof(struct ksched_policy_ops) as built */
	const char *name; /* [a-z0-9_]+, unique among loaded policies */

	/* Set up; *state is passed to every hook.  0 on success. */
	int (*create)(const struct ksched_host *host, void **state);
	void (*destroy)(void *state);

	/* Queue order: < 0 when a goes before b.  NULL: priority, then
	 * submission order. */
	int (*compare)(void *state, const struct ksched_task_view *a,
		       const struct ksched_task_view *b);
	/* May task go to worker (resources already fit)?  NULL: yes. */
	bool (*filter)(void *state, const struct ksched_task_view *task,
		       const struct ksched_worker_view *worker);
	/* How good is worker for task, 0..KSCHED_SCORE_MAX (clamped).  The
	 * highest wins; ties go to the lowest index.  NULL: all equal.  On
	 * views of more than 1,000 workers the driver scores a rotating
	 * sample of the workers that fit (see docs/policies.md; option
	 * sample=0 turns it off). */
	int (*score)(void *state, const struct ksched_task_view *task,
		     const struct ksched_worker_view *worker);
	/* Whole-queue placement: fill out[0..*n) (at most outmax).  When set,
	 * compare, filter and score are not used for placement.  Placements
	 * that do not fit, or break a gang's all-or-nothing rule, are
	 * dropped by the core. */
	int (*select)(void *state, const struct ksched_select_view *view,
		      struct ksched_placement *out, size_t outmax, size_t *n);
	/* Something happened (stateful policies). */
	void (*event)(void *state, const struct ksched_policy_event *ev);
};

/* The one symbol a plugin exports. */
typedef const struct ksched_policy_ops *(*ksched_policy_entry_fn)(void);
#define KSCHED_POLICY_ENTRY "ksched_policy_entry"

/* ---- the host side (libksched) ------------------------------------------ */

typedef struct ksched_policy ksched_policy;

/*
 * ksched_policy_register: make a policy table available by its name (the
 * built-ins are registered this way; an embedding program may add its
 * own).  The table is copied.  KSCHED_EEXIST for a name already taken,
 * KSCHED_EINVAL for a bad abi, size or name.
 */
KSCHED_API ksched_err
ksched_policy_register(const struct ksched_policy_ops *ops);

/*
 * ksched_policy_load: "NAME[:key=value,...]" for a registered policy, or
 * "PATH.so[:key=value,...]" for a plugin (dlopen RTLD_NOW|RTLD_LOCAL, then
 * ksched_policy_entry).  Checks magic, minor version and size, copies the
 * table into a zeroed host-side one, calls create.  Any failure is undone
 * and explained in err: missing symbol, wrong ABI, newer minor version,
 * short size, name clash, create failed, unknown policy.  The caller owns
 * *out (ksched_policy_free()).
 */
KSCHED_API ksched_err ksched_policy_load(const char *spec,
					 ksched_policy **out, char *err,
					 size_t errlen);

/* ksched_policy_free: destroy, dlclose; NULL is a no-op. */
KSCHED_API void ksched_policy_free(ksched_policy *p);

/* ksched_policy_name: the policy's name; owned by p. */
KSCHED_API const char *ksched_policy_name(const ksched_policy *p);

/*
 * ksched_policy_place: decide placements for the ready tasks in view
 * (through select, or compare + fit + filter + score).  Never places a task
 * where it does not fit (allocation is tracked across the placements made
 * in this call), never on a worker that is not ALIVE, only on workers whose
 * labels match the task's selector, and places gang tasks (nodes = k) on k
 * distinct workers or not at all.  out gets at most outmax placements, *n
 * how many (a gang of k counts k).
 */
KSCHED_API ksched_err
ksched_policy_place(ksched_policy *p, const struct ksched_select_view *view,
		    struct ksched_placement *out, size_t outmax, size_t *n);

/* ksched_policy_event: pass an event to the policy's event hook. */
KSCHED_API void ksched_policy_event(ksched_policy *p,
				    const struct ksched_policy_event *ev);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_POLICY_H */
