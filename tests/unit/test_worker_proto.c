/*
 * Unit tests for the worker's protocol (libksched/worker_net.c): a real
 * ksched_worker against a fake master (REP0 + SURVEYOR0 on ipc:// in a temp
 * dir) in the test itself.  The executors and the rest of the API are
 * tested in test_worker.c.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/survey0/survey.h>
#include <nng/supplemental/util/platform.h>

#include "ksched/log.h"
#include "ksched/worker.h"
#include "alloc.h"
#include "proto.h"
#include "worker_int.h"

#include "../testutil.h"

#define T(f) cmocka_unit_test(f)

/* --- the protocol, against a fake master -------------------------------- */

#define MAXID 64

struct fake {
	char *dir;
	char durl[600], hurl[600];
	nng_socket rep, surv;
	uint64_t session; /* the current one */
	int registrations;
	uint64_t next_id; /* ids handed out: 1.. */
	int to_hand;	  /* tasks still to hand out */
	int seen[MAXID];  /* completions received per id */
	int ok;		  /* ... of which ok with a pi result */
	int refuse_id;	  /* answer ESTALE to its first completion */
	int retry_id;	  /* answer EAGAIN to its first completion */
	int tasks_held;	  /* handed out, no completion yet */
};

static Ksched__Request *
fake_recv(struct fake *f)
{
	char err[256];
	nng_msg *m;
	Ksched__Request *q;
	int rv = nng_recvmsg(f->rep, &m, 0);

	if (rv)
		fail_msg("fake master: no request: %s", nng_strerror(rv));
	q = ksched__proto_request_decode(nng_msg_body(m), nng_msg_len(m), err,
					 sizeof(err));
	nng_msg_free(m);
	if (!q)
		fail_msg("fake master: bad request: %s", err);
	return q;
}

static void
fake_reply(struct fake *f, Ksched__Reply *rep)
{
	size_t len;
	void *buf;

	rep->version = KSCHED_PROTO_VERSION;
	buf = ksched__proto_pack(&rep->base, &len);
	assert_non_null(buf);
	assert_int_equal(nng_send(f->rep, buf, len, 0), 0);
	ksched__free(buf);
}

static void
fake_collect(struct fake *f, Ksched__Completion **d, size_t n, int32_t *errs)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t id = d[i]->id;

		assert_true(id > 0 && id < MAXID);
		assert_int_equal(d[i]->token, id * 7);
		errs[i] = 0;
		if ((int)id == f->refuse_id && !f->seen[id])
			errs[i] = KSCHED_ESTALE;
		if ((int)id == f->retry_id && !f->seen[id])
			errs[i] = KSCHED_EAGAIN;
		if (!f->seen[id]++) {
			f->tasks_held--;
			if (d[i]->ok && d[i]->result.len > 6 &&
			    !memcmp(d[i]->result.data, "{\"pi\":", 6))
				f->ok++;
		}
	}
}

/* The encoded spec of sim task id (free with ksched_free). */
static void
sim_spec(uint64_t id, void **buf, size_t *len)
{
	char payload[64];
	ksched_task *t;

	snprintf(payload, sizeof(payload),
		 "{\"pi_samples\": 1000, \"seed\": %d}", (int)id);
	assert_int_equal(ksched_task_new(&t), KSCHED_OK);
	assert_int_equal(ksched_task_set_kind(t, "sim"), KSCHED_OK);
	assert_int_equal(ksched_task_set_payload(t, payload, strlen(payload)),
			 KSCHED_OK);
	assert_int_equal(ksched_task_encode(t, buf, len), KSCHED_OK);
	ksched_task_free(t);
}

/* Up to max sim tasks into a (spec buffers freed by fake_serve). */
static size_t
fake_tasks(struct fake *f, uint32_t max, Ksched__Assignment *a,
	   Ksched__Assignment **ap)
{
	size_t n = 0;

	while (f->to_hand > 0 && n < max) {
		void *buf;
		size_t len;
		uint64_t id = ++f->next_id;

		sim_spec(id, &buf, &len);
		ksched__assignment__init(&a[n]);
		a[n].id = id;
		a[n].attempt = 1;
		a[n].token = id * 7;
		a[n].spec.data = buf;
		a[n].spec.len = len;
		ap[n] = &a[n];
		n++;
		f->to_hand--;
		f->tasks_held++;
	}
	return n;
}

static void
fake_lease(struct fake *f, Ksched__LeaseReq *lq, Ksched__Reply *rep)
{
	static Ksched__LeaseRep lr;
	static Ksched__Assignment a[4], *ap[4];
	static int32_t errs[MAXID];

	assert_string_equal(lq->worker, "w1");
	assert_int_equal(lq->session, f->session);
	assert_true(lq->max >= 1 && lq->max <= 2);
	assert_true(lq->wait_ms > 0);
	assert_true(lq->n_done < MAXID);
	ksched__lease_rep__init(&lr);
	fake_collect(f, lq->done, lq->n_done, errs);
	lr.n_done_errs = lq->n_done;
	lr.done_errs = errs;
	lr.tasks = ap;
	lr.n_tasks = fake_tasks(f, lq->max, a, ap);
	if (!lr.n_tasks && !lq->n_done)
		nng_msleep(50); /* a short park */
	rep->body_case = KSCHED__REPLY__BODY_LEASE;
	rep->lease = &lr;
}

/* Serve one request as a master would; returns its body case. */
static int
fake_serve(struct fake *f)
{
	Ksched__Request *q = fake_recv(f);
	Ksched__Reply rep = KSCHED__REPLY__INIT;
	Ksched__RegisterRep rr = KSCHED__REGISTER_REP__INIT;
	Ksched__CompleteRep cr = KSCHED__COMPLETE_REP__INIT;
	int32_t errs[MAXID];
	int kind = q->body_case;

	if (kind == KSCHED__REQUEST__BODY_REG) {
		assert_string_equal(q->reg->worker, "w1");
		assert_int_equal(q->reg->capacity->slots, 2);
		assert_int_equal(q->reg->capacity->cpu_milli, 2000);
		assert_int_equal(q->reg->n_labels, 1);
		f->session = 100 + (uint64_t)++f->registrations;
		rr.session = f->session;
		rr.heartbeat_ms = 1000;
		rep.body_case = KSCHED__REPLY__BODY_REG;
		rep.reg = &rr;
	} else if (kind == KSCHED__REQUEST__BODY_LEASE) {
		fake_lease(f, q->lease, &rep);
	} else {
		assert_int_equal(kind, KSCHED__REQUEST__BODY_COMPLETE);
		assert_true(q->complete->n_done < MAXID);
		fake_collect(f, q->complete->done, q->complete->n_done, errs);
		cr.n_errs = q->complete->n_done;
		cr.errs = errs;
		rep.body_case = KSCHED__REPLY__BODY_COMPLETE;
		rep.complete = &cr;
	}
	fake_reply(f, &rep);
	if (kind == KSCHED__REQUEST__BODY_LEASE)
		for (size_t i = 0; i < rep.lease->n_tasks; i++)
			ksched_free(rep.lease->tasks[i]->spec.data);
	ksched__proto_request_free(q);
	return kind;
}

static int
unique_seen(const struct fake *f)
{
	int n = 0;

	for (int i = 0; i < MAXID; i++)
		n += f->seen[i] > 0;
	return n;
}

static void
fake_open(struct fake *f)
{
	int tmo = 5000 * tu_slow();

	memset(f, 0, sizeof(*f));
	f->dir = tu_tmpdir("wproto");
	snprintf(f->durl, sizeof(f->durl), "ipc://%s/d.ipc", f->dir);
	snprintf(f->hurl, sizeof(f->hurl), "ipc://%s/h.ipc", f->dir);
	assert_int_equal(nng_rep0_open(&f->rep), 0);
	assert_int_equal(nng_socket_set_ms(f->rep, NNG_OPT_RECVTIMEO, tmo), 0);
	assert_int_equal(nng_listen(f->rep, f->durl, NULL, 0), 0);
	assert_int_equal(nng_surveyor0_open(&f->surv), 0);
	assert_int_equal(
	    nng_socket_set_ms(f->surv, NNG_OPT_SURVEYOR_SURVEYTIME, 500), 0);
	assert_int_equal(nng_listen(f->surv, f->hurl, NULL, 0), 0);
}

static void
fake_close(struct fake *f)
{
	nng_close(f->rep);
	nng_close(f->surv);
	tu_rmtree(f->dir);
}

/* Survey until a heartbeat from w1 comes back; check it. */
static void
fake_heartbeat(struct fake *f)
{
	for (int i = 0; i < 20 * tu_slow(); i++) {
		Ksched__Survey sv = KSCHED__SURVEY__INIT;
		Ksched__Heartbeat *hb;
		nng_msg *m;
		size_t len;
		void *buf;

		sv.version = KSCHED_PROTO_VERSION;
		sv.seq = 77 + (uint64_t)i;
		buf = ksched__proto_pack(&sv.base, &len);
		assert_int_equal(nng_send(f->surv, buf, len, 0), 0);
		ksched__free(buf);
		if (nng_recvmsg(f->surv, &m, 0) != 0)
			continue;
		hb = ksched__proto_heartbeat_decode(nng_msg_body(m),
						    nng_msg_len(m), NULL, 0);
		nng_msg_free(m);
		assert_non_null(hb);
		assert_string_equal(hb->worker, "w1");
		assert_int_equal(hb->seq, 77 + (uint64_t)i);
		assert_int_equal(hb->session, f->session);
		assert_non_null(hb->free);
		assert_true(hb->free->slots >= 0 && hb->free->slots <= 2);
		ksched__proto_heartbeat_free(hb);
		return;
	}
	fail_msg("no heartbeat");
}

static void
serve_until_done(struct fake *f, int want)
{
	for (int i = 0; i < 500 && unique_seen(f) < want; i++)
		fake_serve(f);
	assert_int_equal(unique_seen(f), want);
}

/* Worker w1 (2 slots, 2000m cpu, zone=z1) started against f. */
static ksched_worker *
fake_worker(const struct fake *f)
{
	struct ksched_resources cap = {2000, 512, 0, 2};
	ksched_worker *w;

	assert_int_equal(ksched_worker_new("w1", &w), KSCHED_OK);
	assert_int_equal(ksched_worker_set_master(w, f->durl, f->hurl),
			 KSCHED_OK);
	assert_int_equal(ksched_worker_set_capacity(w, &cap), KSCHED_OK);
	assert_int_equal(ksched_worker_add_label(w, "zone", "z1"), KSCHED_OK);
	assert_int_equal(ksched_worker_start(w), KSCHED_OK);
	return w;
}

static void
test_worker_protocol_with_fake_master(void **state)
{
	struct ksched_worker_stats st;
	struct fake f;
	ksched_worker *w;
	Ksched__Request *q;
	Ksched__Reply rep = KSCHED__REPLY__INIT;
	int64_t t0;

	(void)state;
	fake_open(&f);
	f.refuse_id = 3;
	f.retry_id = 4;
	w = fake_worker(&f);

	/* register first, then five tasks over leases */
	assert_int_equal(fake_serve(&f), KSCHED__REQUEST__BODY_REG);
	f.to_hand = 5;
	serve_until_done(&f, 5);
	assert_int_equal(f.ok, 5);
	assert_int_equal(f.seen[3], 1); /* refused as stale: dropped */
	for (int i = 0; i < 50 && f.seen[4] < 2; i++)
		fake_serve(&f); /* EAGAIN: sent again */
	assert_int_equal(f.seen[4], 2);

	fake_heartbeat(&f);

	/* the master forgets the session: the worker registers again */
	q = fake_recv(&f);
	ksched__proto_request_free(q);
	rep.err = KSCHED_ESTALE;
	rep.msg = "unknown session";
	fake_reply(&f, &rep);
	for (int i = 0; i < 20 && f.registrations < 2; i++)
		fake_serve(&f);
	assert_int_equal(f.registrations, 2);

	/* garbage as a reply: it survives and keeps going */
	q = fake_recv(&f);
	ksched__proto_request_free(q);
	assert_int_equal(nng_send(f.rep, "\xff\xff\xff garbage", 12, 0), 0);
	f.to_hand = 1;
	serve_until_done(&f, 6);
	assert_int_equal(f.ok, 6);

	ksched_worker_stats(w, &st);
	assert_int_equal(st.executed, 6);
	assert_int_equal(st.succeeded, 6);
	assert_int_equal(st.failed, 0);
	assert_true(st.registrations >= 2);
	assert_true(st.registered);

	t0 = ksched__mono_ms();
	assert_int_equal(ksched_worker_stop(w), KSCHED_OK);
	assert_true(ksched__mono_ms() - t0 < 3000 * tu_slow());
	ksched_worker_stats(w, &st);
	assert_false(st.registered);
	ksched_worker_free(w);
	fake_close(&f);
}

/*
 * The master comes up after the worker; the stop is quick with a lease
 * parked.  (The fake closes its sockets only after the worker stopped:
 * nng 1.5.2 can hang in nng_close() on a socket whose peer has a request
 * in flight, nng issue #1543.)
 */
static void
test_worker_waits_for_the_master(void **state)
{
	struct fake f;
	ksched_worker *w;
	Ksched__Request *q;
	int64_t t0;

	(void)state;
	fake_open(&f);
	nng_close(f.rep); /* no master yet (and no peer: safe to close) */
	w = fake_worker(&f);
	nng_msleep(300);
	assert_int_equal(nng_rep0_open(&f.rep), 0);
	assert_int_equal(
	    nng_socket_set_ms(f.rep, NNG_OPT_RECVTIMEO, 5000 * tu_slow()), 0);
	assert_int_equal(nng_listen(f.rep, f.durl, NULL, 0), 0);
	assert_int_equal(fake_serve(&f), KSCHED__REQUEST__BODY_REG);
	q = fake_recv(&f); /* a lease, left parked */
	assert_int_equal(q->body_case, KSCHED__REQUEST__BODY_LEASE);
	ksched__proto_request_free(q);
	t0 = ksched__mono_ms();
	assert_int_equal(ksched_worker_stop(w), KSCHED_OK);
	assert_true(ksched__mono_ms() - t0 < 3000 * tu_slow());
	ksched_worker_free(w);
	fake_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_worker_protocol_with_fake_master),
	    T(test_worker_waits_for_the_master),
	};

	if (getenv("KSCHED_TEST_LOG"))
		ksched_log_set_sink(ksched_log_stderr, NULL, KSCHED_LOG_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
