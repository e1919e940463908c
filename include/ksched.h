/*
 * libksched - a small, embeddable distributed task scheduler.
 * This header includes every public module header.
 */
#ifndef KSCHED_H
#define KSCHED_H

#include "ksched/common.h"
#include "ksched/log.h"
#include "ksched/task.h"
#include "ksched/store.h"
#include "ksched/queue.h"
#include "ksched/cache.h"
#include "ksched/membership.h"
#include "ksched/sched.h"
#include "ksched/master.h"
#include "ksched/client.h"
#include "ksched/worker.h"
#include "ksched/policy.h"
#include "ksched/sim.h"
#include "ksched/metrics.h"

#endif /* KSCHED_H */
