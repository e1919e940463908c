/* Test plugin: a valid table, but no ksched_policy_entry symbol. */
#include "ksched/policy.h"

KSCHED_API const struct ksched_policy_ops *ksched_policy_entry_v2(void);

static const struct ksched_policy_ops ops = {
	.abi = KSCHED_POLICY_ABI,
	.size = sizeof(struct ksched_policy_ops),
	.name = "noentry",
};

const struct ksched_policy_ops *
ksched_policy_entry_v2(void)
{
	return &ops;
}
