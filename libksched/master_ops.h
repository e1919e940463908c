/* Internal: the master's request handlers (master_ops.c, master_work.c). */
#ifndef KSCHED_MASTER_OPS_H
#define KSCHED_MASTER_OPS_H

#include "master_int.h"

enum { MASTER_DONE = 0, MASTER_PARKED = 1 };

/* Handle a decoded request; MASTER_PARKED when x waits (keeps req). */
int ksched__master_op(struct ksched_master *m, struct mctx *x,
		      Ksched__Request *req, int64_t now);
/* A heartbeat answer arrived. */
void ksched__master_heartbeat(struct ksched_master *m, nng_msg *msg,
			      int64_t now);
/* End of a turn: leases, failure detection, parked requests, dispatch. */
void ksched__master_housekeeping(struct ksched_master *m, int64_t now);
/* How long after the core starts workers have to report the leases they
 * hold from before (ksched_sched_config.adopt_window_ms). */
int64_t ksched__master_adopt_window(const struct ksched_master *m);
/* The turn's commit failed: rebuild the core from what is stored. */
void ksched__master_fail_turn(struct ksched_master *m, ksched_err e);
/* Free parked requests (shutdown). */
void ksched__master_drop_parked(struct ksched_master *m);

/* master_ops.c: control requests (clients) */
int ksched__master_control(struct ksched_master *m, struct mctx *x,
			   Ksched__Request *req, int64_t now);
/* Answer the parked waits that are done or due. */
void ksched__master_waits(struct ksched_master *m, int64_t now);

#endif
