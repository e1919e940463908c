/* Test plugin: the size field is shorter than minor 1's table. */
#include <stddef.h>

#include "ksched/policy.h"

KSCHED_API const struct ksched_policy_ops *ksched_policy_entry(void);

static const struct ksched_policy_ops ops = {
	.abi = KSCHED_POLICY_ABI,
	.size = offsetof(struct ksched_policy_ops, select),
	.name = "shortsize",
};

const struct ksched_policy_ops *
ksched_policy_entry(void)
{
	return &ops;
}
