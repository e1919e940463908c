/*
 * Internal: the queue's record formats and what queue.c shares with
 * queue_ops.c and queue_read.c.
 *
 * qstate key: one state prefix byte, then the id (u64 big endian).
 * qstate record (little endian):
 *   0 version u8 | 1 flags u8 (KSCHED_TASK_*) | 2 priority i32 | 6 attempts u32 |
 *   10 retries u32 | 14 backoff_base u32 | 18 backoff_max u32 |
 *   22 submitted i64 | 30 due i64 | 38 token u64 | 46 error length u16 |
 *   48 error bytes
 */
#ifndef KSCHED_QUEUE_INT_H
#define KSCHED_QUEUE_INT_H

#include "qindex.h"
#include "store.h"

#include "ksched/queue.h"

#define QKEY_LEN 9
#define QREC_VERSION 1
#define QREC_FIXED 48
#define QREC_MAX (QREC_FIXED + KSCHED_ERROR_MAX)

struct qrec {
	uint8_t flags;
	int32_t prio;
	uint32_t attempts;
	uint32_t retries;
	uint32_t backoff_base;
	uint32_t backoff_max;
	int64_t submitted;
	int64_t due;
	uint64_t token;
	uint16_t errlen;
	char err[KSCHED_ERROR_MAX + 1];
};

struct ksched_queue {
	ksched_store *s;
	MDB_dbi tasks, qstate, results, meta;
	struct qindex ix;
	uint64_t counts[KSCHED_STATE_COUNT];
	uint64_t next_id;
	uint64_t seed;
	uint64_t tokctr;
	bool dirty;	   /* counts changed in the open transaction */
	ksched_err broken; /* set when memory could not be rebuilt */
};

void ksched__qkey(unsigned char *kb, enum ksched_state st, uint64_t id);
/* 0, or -1 when k is not a well-formed qstate key. */
int ksched__qkey_parse(const MDB_val *k, enum ksched_state *st, uint64_t *id);
size_t ksched__qrec_encode(const struct qrec *r, unsigned char *buf);
/* 0, or -1 when v is not a well-formed record. */
int ksched__qrec_decode(const MDB_val *v, struct qrec *r);
void ksched__qrec_set_error(struct qrec *r, const char *msg);

/* Run inside a write transaction; LMDB-style return codes (store.h). */
int ksched__queue_rec_move(ksched_queue *q, MDB_txn *txn, uint64_t id,
			   enum ksched_state from, enum ksched_state to,
			   const struct qrec *r);
int ksched__queue_rec_get(ksched_queue *q, MDB_txn *txn, enum ksched_state st,
			  uint64_t id, struct qrec *r);
int ksched__queue_find(ksched_queue *q, MDB_txn *txn, uint64_t id,
		       enum ksched_state *st, struct qrec *r);
uint64_t ksched__queue_token(ksched_queue *q, uint64_t id);
int64_t ksched__queue_backoff(const ksched_queue *q, uint64_t id,
			      const struct qrec *r);

#endif
