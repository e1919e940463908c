/* Test plugin: the abi field lacks the "ks" magic. */
#include <stddef.h>

#include "ksched/policy.h"

KSCHED_API const struct ksched_policy_ops *ksched_policy_entry(void);

static const struct ksched_policy_ops ops = {
	.abi = 0x12340000u | KSCHED_POLICY_ABI_MINOR,
	.size = sizeof(struct ksched_policy_ops),
	.name = "badmagic",
};

const struct ksched_policy_ops *
ksched_policy_entry(void)
{
	return &ops;
}
