/*
 * The real ksched-master on ipc:// sockets in a temp dir, spoken to with
 * raw protobuf messages: a worker's registration, lease and completion; a
 * client's submit, status, wait and stats; and bad input on every socket
 * (random bytes, truncated and oversized messages, wrong requests), after
 * which the master must still serve.
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/protocol/survey0/respond.h>

#include "../testutil.h"
#include "cluster.h"
#include "ksched.h"
#include "proto.h"

struct fx {
	struct tc_cluster cl;
	pid_t master;
	nng_socket ctl, disp;
	const char *dead_after; /* missed surveys before a worker is dead */
};

static void
start_master(struct fx *f)
{
	const char *extra[] = {"--http", "none", "--heartbeat-interval", "200",
			       "--dead-after", f->dead_after, "--log-level",
			       "info", NULL};

	tc_start_master(&f->cl, extra, &f->master);
}

static nng_socket
dial_req(const char *url)
{
	nng_socket s;

	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO,
					   10000 * tu_slow()),
			 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 5000), 0);
	assert_int_equal(nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 64 << 20),
			 0);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	return s;
}

static int
setup_with(void **state, const char *dead_after)
{
	struct fx *f = calloc(1, sizeof(*f));

	/* The fake workers here answer no surveys: unless a test is about
	 * failure detection, give them a long time before they are dead. */
	f->dead_after = dead_after;
	tc_init(&f->cl, "master");
	start_master(f);
	f->ctl = dial_req(f->cl.ctl);
	f->disp = dial_req(f->cl.dsp);
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_with(state, "100");
}

static int
setup_fast_death(void **state)
{
	return setup_with(state, "5");
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	int st;

	nng_close(f->ctl);
	nng_close(f->disp);
	st = td_stop(f->master, 5000 * tu_slow());
	tc_remove(&f->cl);
	free(f);
	/* A clean stop exits 0. */
	return st == 0 ? 0 : -1;
}

/* Send raw bytes, return the decoded reply (or NULL on no reply). */
static Ksched__Reply *
raw(nng_socket s, const void *buf, size_t len)
{
	char err[256];
	void *rb;
	size_t rl;
	Ksched__Reply *rep;

	assert_int_equal(nng_send(s, (void *)buf, len, 0), 0);
	if (nng_recv(s, &rb, &rl, NNG_FLAG_ALLOC) != 0)
		return NULL;
	rep = ksched__proto_reply_decode(rb, rl, err, sizeof(err));
	nng_free(rb, rl);
	if (!rep)
		fail_msg("bad reply: %s", err);
	return rep;
}

static Ksched__Reply *
call(nng_socket s, Ksched__Request *req)
{
	size_t len;
	void *buf;
	Ksched__Reply *rep;

	req->version = KSCHED_PROTO_VERSION;
	buf = ksched__proto_pack(&req->base, &len);
	rep = raw(s, buf, len);
	free(buf);
	assert_non_null(rep);
	return rep;
}

static uint64_t
stat_count(struct fx *f, int what)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__StatsReq sr = KSCHED__STATS_REQ__INIT;
	Ksched__Reply *rep;
	uint64_t v;

	req.body_case = KSCHED__REQUEST__BODY_STATS;
	req.stats = &sr;
	rep = call(f->ctl, &req);
	assert_int_equal(rep->err, 0);
	v = what < 0 ? rep->stats->bad_messages
		     : rep->stats->counts[what];
	ksched__proto_reply_free(rep);
	return v;
}

static uint64_t
submit_one(struct fx *f, const char *payload, Ksched__Reply **out)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__SubmitReq sr = KSCHED__SUBMIT_REQ__INIT;
	ProtobufCBinaryData spec;
	ksched_task *t;
	Ksched__Reply *rep;
	uint64_t id;

	assert_int_equal(ksched_task_new(&t), 0);
	assert_int_equal(ksched_task_set_kind(t, "sim"), 0);
	assert_int_equal(ksched_task_set_payload(t, payload, strlen(payload)),
			 0);
	assert_int_equal(ksched_task_encode(t, (void **)&spec.data, &spec.len),
			 0);
	ksched_task_free(t);
	sr.n_tasks = 1;
	sr.tasks = &spec;
	req.body_case = KSCHED__REQUEST__BODY_SUBMIT;
	req.submit = &sr;
	rep = call(f->ctl, &req);
	free(spec.data);
	if (out) {
		*out = rep;
		return 0;
	}
	assert_int_equal(rep->err, 0);
	assert_int_equal(rep->submit->n_ids, 1);
	id = rep->submit->ids[0];
	ksched__proto_reply_free(rep);
	return id;
}

static uint64_t
do_register(struct fx *f, const char *id)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__RegisterReq rr = KSCHED__REGISTER_REQ__INIT;
	Ksched__Resources cap = KSCHED__RESOURCES__INIT;
	Ksched__Reply *rep;
	uint64_t session;

	cap.cpu_milli = 4000;
	cap.mem_mb = 1024;
	cap.slots = 4;
	rr.worker = (char *)id;
	rr.capacity = &cap;
	req.body_case = KSCHED__REQUEST__BODY_REG;
	req.reg = &rr;
	rep = call(f->disp, &req);
	assert_int_equal(rep->err, 0);
	assert_int_equal(rep->body_case, KSCHED__REPLY__BODY_REG);
	session = rep->reg->session;
	assert_int_equal(rep->reg->heartbeat_ms, 200);
	ksched__proto_reply_free(rep);
	return session;
}

static Ksched__Reply *
lease(struct fx *f, const char *w, uint64_t session, uint32_t max,
      Ksched__Completion **done, size_t ndone)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__LeaseReq lr = KSCHED__LEASE_REQ__INIT;

	lr.worker = (char *)w;
	lr.session = session;
	lr.max = max;
	lr.wait_ms = 2000;
	lr.n_done = ndone;
	lr.done = done;
	req.body_case = KSCHED__REQUEST__BODY_LEASE;
	req.lease = &lr;
	return call(f->disp, &req);
}

static void
test_master_submit_lease_complete(void **state)
{
	struct fx *f = *state;
	uint64_t session = do_register(f, "w1");
	uint64_t id = submit_one(f, "{}", NULL);
	Ksched__Reply *rep = lease(f, "w1", session, 4, NULL, 0);
	Ksched__Completion c = KSCHED__COMPLETION__INIT, *cp = &c;
	ksched_task *spec;

	assert_int_equal(rep->err, 0);
	assert_int_equal(rep->lease->n_tasks, 1);
	assert_int_equal(rep->lease->tasks[0]->id, id);
	assert_int_equal(rep->lease->tasks[0]->attempt, 1);
	assert_int_equal(ksched_task_decode(rep->lease->tasks[0]->spec.data,
					    rep->lease->tasks[0]->spec.len,
					    &spec),
			 0);
	assert_string_equal(ksched_task_kind(spec), "sim");
	ksched_task_free(spec);
	c.id = id;
	c.token = rep->lease->tasks[0]->token;
	c.ok = 1;
	c.result.data = (uint8_t *)"done";
	c.result.len = 4;
	ksched__proto_reply_free(rep);
	/* The completion rides on the next (empty) lease request. */
	rep = lease(f, "w1", session, 4, &cp, 1);
	assert_int_equal(rep->err, 0);
	assert_int_equal(rep->lease->n_done_errs, 1);
	assert_int_equal(rep->lease->done_errs[0], 0);
	assert_int_equal(rep->lease->n_tasks, 0);
	ksched__proto_reply_free(rep);
	assert_int_equal(stat_count(f, KSCHED_STATE_SUCCEEDED), 1);
	/* A second report of the same lease is refused. */
	rep = lease(f, "w1", session, 0, &cp, 1);
	assert_int_equal(rep->lease->done_errs[0], KSCHED_ESTALE);
	ksched__proto_reply_free(rep);
	/* The same work again is served from the cache. */
	submit_one(f, "{}", &rep);
	assert_int_equal(rep->err, 0);
	assert_true(rep->submit->cached[0]);
	ksched__proto_reply_free(rep);
	/* Unknown session: register again. */
	rep = lease(f, "w1", session + 1, 1, NULL, 0);
	assert_int_equal(rep->err, KSCHED_ESTALE);
	assert_non_null(strstr(rep->msg, "register"));
	ksched__proto_reply_free(rep);
}

/* A parked lease request is answered as soon as a task is submitted. */
static void
test_master_parked_lease_wakes_on_submit(void **state)
{
	struct fx *f = *state;
	uint64_t session = do_register(f, "w2");
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__LeaseReq lr = KSCHED__LEASE_REQ__INIT;
	size_t len;
	void *buf, *rb;
	size_t rl;
	char err[128];
	int64_t t0;
	Ksched__Reply *rep;

	lr.worker = (char *)"w2";
	lr.session = session;
	lr.max = 1;
	lr.wait_ms = 20000;
	req.version = 1;
	req.body_case = KSCHED__REQUEST__BODY_LEASE;
	req.lease = &lr;
	buf = ksched__proto_pack(&req.base, &len);
	assert_int_equal(nng_send(f->disp, buf, len, 0), 0);
	free(buf);
	td_sleep_ms(100);
	t0 = td_now_ms();
	uint64_t id = submit_one(f, "{\"n\":1}", NULL);
	assert_int_equal(nng_recv(f->disp, &rb, &rl, NNG_FLAG_ALLOC), 0);
	rep = ksched__proto_reply_decode(rb, rl, err, sizeof(err));
	nng_free(rb, rl);
	assert_non_null(rep);
	assert_int_equal(rep->lease->n_tasks, 1);
	assert_int_equal(rep->lease->tasks[0]->id, id);
	/* Well before the 20 s long-poll ran out. */
	assert_true(td_now_ms() - t0 < 5000 * tu_slow());
	ksched__proto_reply_free(rep);
}

static void
test_master_invalid_spec_rejected(void **state)
{
	struct fx *f = *state;
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__SubmitReq sr = KSCHED__SUBMIT_REQ__INIT;
	ProtobufCBinaryData spec;
	ksched_task *t;
	Ksched__Reply *rep;

	assert_int_equal(ksched_task_new(&t), 0); /* exec without argv */
	assert_int_equal(ksched_task_encode(t, (void **)&spec.data, &spec.len),
			 0);
	ksched_task_free(t);
	sr.n_tasks = 1;
	sr.tasks = &spec;
	req.body_case = KSCHED__REQUEST__BODY_SUBMIT;
	req.submit = &sr;
	rep = call(f->ctl, &req);
	free(spec.data);
	assert_int_equal(rep->err, KSCHED_EINVAL);
	assert_non_null(strstr(rep->msg, "task 0"));
	assert_non_null(strstr(rep->msg, "argv"));
	ksched__proto_reply_free(rep);
	assert_int_equal(stat_count(f, KSCHED_STATE_READY), 0);
}

/* Garbage of every kind on every socket: the master stays up. */
static void
test_master_survives_bad_input(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 99, before = stat_count(f, -1);
	unsigned char buf[4096];
	Ksched__Reply *rep;
	nng_socket resp;
	nng_socket socks[2] = {f->ctl, f->disp};
	int answered = 0;

	for (int i = 0; i < 200; i++) {
		size_t len = 1 + tu_rand(&seed) % sizeof(buf);
		for (size_t j = 0; j < len; j++)
			buf[j] = (unsigned char)tu_rand(&seed);
		rep = raw(socks[i % 2], buf, len);
		if (rep) {
			assert_int_not_equal(rep->err, 0);
			answered++;
			ksched__proto_reply_free(rep);
		}
	}
	assert_true(answered > 150);
	/* Truncations of a valid request. */
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__StatsReq sr = KSCHED__STATS_REQ__INIT;
	size_t len;
	void *ok;
	req.version = 1;
	req.body_case = KSCHED__REQUEST__BODY_STATS;
	req.stats = &sr;
	ok = ksched__proto_pack(&req.base, &len);
	for (size_t cut = 0; cut < len; cut++) {
		rep = raw(f->ctl, ok, cut);
		assert_non_null(rep);
		ksched__proto_reply_free(rep);
	}
	free(ok);
	/* Wrong version, wrong socket. */
	req.version = 7;
	ok = ksched__proto_pack(&req.base, &len);
	rep = raw(f->ctl, ok, len);
	free(ok);
	assert_non_null(rep);
	assert_int_equal(rep->err, KSCHED_EPROTO);
	assert_non_null(strstr(rep->msg, "version"));
	ksched__proto_reply_free(rep);
	req.version = 1;
	rep = call(f->disp, &req);
	assert_int_equal(rep->err, KSCHED_EPROTO);
	ksched__proto_reply_free(rep);
	/* Oversized: 65 MiB; nng drops it, the master stays. */
	{
		nng_socket big = dial_req(f->cl.ctl);
		size_t n = (size_t)65 << 20;
		void *huge = calloc(1, n);
		nng_socket_set_ms(big, NNG_OPT_RECVTIMEO, 500);
		nng_send(big, huge, n, 0);
		free(huge);
		nng_close(big);
	}
	/* Garbage heartbeats. */
	assert_int_equal(nng_respondent0_open(&resp), 0);
	assert_int_equal(nng_dial(resp, f->cl.hbt, NULL, 0), 0);
	nng_socket_set_ms(resp, NNG_OPT_RECVTIMEO, 2000 * tu_slow());
	for (int i = 0; i < 5; i++) {
		void *sv;
		size_t svl;
		if (nng_recv(resp, &sv, &svl, NNG_FLAG_ALLOC) != 0)
			continue;
		nng_free(sv, svl);
		for (size_t j = 0; j < 64; j++)
			buf[j] = (unsigned char)tu_rand(&seed);
		nng_send(resp, buf, 64, 0);
	}
	nng_close(resp);
	td_sleep_ms(300);
	assert_true(td_alive(f->master));
	assert_true(stat_count(f, -1) > before + 150);
	/* Still serving real work. */
	uint64_t session = do_register(f, "w3");
	uint64_t id = submit_one(f, "{\"after\":1}", NULL);
	rep = lease(f, "w3", session, 1, NULL, 0);
	assert_int_equal(rep->lease->n_tasks, 1);
	assert_int_equal(rep->lease->tasks[0]->id, id);
	ksched__proto_reply_free(rep);
}

/* A worker that stops answering surveys is declared dead and its lease
 * goes back to the queue. */
static void
test_master_dead_worker_requeued(void **state)
{
	struct fx *f = *state;
	uint64_t session = do_register(f, "silent");
	uint64_t id = submit_one(f, "{\"d\":1}", NULL);
	Ksched__Reply *rep = lease(f, "silent", session, 1, NULL, 0);
	int64_t end = td_now_ms() + 10000 * tu_slow();
	uint64_t ready = 0;

	assert_int_equal(rep->lease->n_tasks, 1);
	assert_int_equal(rep->lease->tasks[0]->id, id);
	ksched__proto_reply_free(rep);
	/* Heartbeat every 200 ms, dead after 5 missed: ~1 s. */
	while (td_now_ms() < end &&
	       (ready = stat_count(f, KSCHED_STATE_READY)) == 0)
		td_sleep_ms(100);
	assert_int_equal(ready, 1);
	rep = lease(f, "silent", session, 1, NULL, 0);
	assert_int_equal(rep->err, KSCHED_ESTALE);
	ksched__proto_reply_free(rep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(n) cmocka_unit_test_setup_teardown(n, setup, teardown)
		T(test_master_submit_lease_complete),
		T(test_master_parked_lease_wakes_on_submit),
		T(test_master_invalid_spec_rejected),
		T(test_master_survives_bad_input),
		cmocka_unit_test_setup_teardown(
			test_master_dead_worker_requeued, setup_fast_death,
			teardown),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
