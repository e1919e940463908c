/*
 * Internal: what the rigid-job policies of policy_backfill.c (fcfs, sjf,
 * easy, conservative) show to tests.
 */
#ifndef KSCHED_POLICY_BACKFILL_H
#define KSCHED_POLICY_BACKFILL_H

#include <stdbool.h>
#include <stdint.h>

#include "ksched/policy.h"

/*
 * The reservation task holds after p's last select: for easy, only the
 * queue head (the priority job) has one; for conservative, every queued
 * task with a walltime.  *start gets its planned start (ms).  false if
 * none, or p is not one of these policies.
 */
bool ksched__backfill_reserved(const ksched_policy *p, uint64_t task,
			       int64_t *start);

#endif
