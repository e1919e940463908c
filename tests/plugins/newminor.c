/* Test plugin: built for a newer minor version than this host knows. */
#include <stddef.h>

#include "ksched/policy.h"

KSCHED_API const struct ksched_policy_ops *ksched_policy_entry(void);

static const struct ksched_policy_ops ops = {
	.abi = KSCHED_POLICY_ABI + 1,
	.size = sizeof(struct ksched_policy_ops),
	.name = "newminor",
};

const struct ksched_policy_ops *
ksched_policy_entry(void)
{
	return &ops;
}
