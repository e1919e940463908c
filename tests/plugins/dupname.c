/* Test plugin: its name clashes with the built-in "binpack". */
#include <stddef.h>

#include "ksched/policy.h"

KSCHED_API const struct ksched_policy_ops *ksched_policy_entry(void);

static const struct ksched_policy_ops ops = {
	.abi = KSCHED_POLICY_ABI,
	.size = sizeof(struct ksched_policy_ops),
	.name = "binpack",
};

const struct ksched_policy_ops *
ksched_policy_entry(void)
{
	return &ops;
}
