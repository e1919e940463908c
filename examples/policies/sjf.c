/*
 * sjf - shortest job first, as an out-of-tree libksched policy plugin.
 *
 * Queue order: the task's est_runtime_ms, shortest first; tasks without an
 * estimate (0) go last; ties by priority (higher first), then submission
 * time, then id.  Placement is left to the core's default (the first
 * worker, by index, where the task fits): SJF is only a queue order, so
 * the plugin sets compare and nothing else.
 *
 * Build: make (see README.md); load: ksched-master --policy ./sjf.so
 * A plugin links nothing from libksched: only the header is used.
 */
#include <ksched/policy.h>

KSCHED_API const struct ksched_policy_ops *ksched_policy_entry(void);

/* Unknown runtimes sort after every known one. */
static int64_t
runtime_key(const struct ksched_task_view *t)
{
	return t->est_runtime_ms > 0 ? t->est_runtime_ms : INT64_MAX;
}

static int
sjf_compare(void *state, const struct ksched_task_view *a,
	    const struct ksched_task_view *b)
{
	int64_t ra = runtime_key(a), rb = runtime_key(b);

	(void)state;
	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	if (a->submitted != b->submitted)
		return a->submitted < b->submitted ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static const struct ksched_policy_ops sjf_ops = {
	.abi = KSCHED_POLICY_ABI,
	.size = sizeof(struct ksched_policy_ops),
	.name = "sjf_example", /* "sjf" is the built-in */
	.compare = sjf_compare,
};

/* The one symbol a plugin exports. */
const struct ksched_policy_ops *
ksched_policy_entry(void)
{
	return &sjf_ops;
}
