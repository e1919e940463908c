/*
 * Internal: what policy.c (registry, loader, placement driver) and
 * policy_builtin.c (the built-in policies) share.
 */
#ifndef KSCHED_POLICY_INT_H
#define KSCHED_POLICY_INT_H

#include "ksched/policy.h"

/*
 * The built-in policy tables, NULL terminated.  policy.c registers them
 * through the same path as ksched_policy_register(), once, on first use of
 * the registry.  They are written against the public ops table only.
 */
extern const struct ksched_policy_ops *const ksched__policy_builtins[];

#endif
