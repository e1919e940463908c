/* Test plugin: create fails (after allocating, which it must undo). */
#include <stddef.h>
#include <stdlib.h>

#include "ksched/policy.h"

KSCHED_API const struct ksched_policy_ops *ksched_policy_entry(void);

static int
create(const struct ksched_host *host, void **state)
{
	void *p = malloc(64);

	(void)state;
	host->log(host->ctx, 3, "createfail: refusing to start");
	free(p);
	return -1;
}

static void
destroy(void *state)
{
	(void)state;
	abort(); /* never called: create failed */
}

static const struct ksched_policy_ops ops = {
	.abi = KSCHED_POLICY_ABI,
	.size = sizeof(struct ksched_policy_ops),
	.name = "createfail",
	.create = create,
	.destroy = destroy,
};

const struct ksched_policy_ops *
ksched_policy_entry(void)
{
	return &ops;
}
