/*
 * Unit tests for the client (libksched/client.c) and kschedctl.
 *
 * A fake master in this process (a REP socket on ipc:// in a temporary
 * directory, served by one thread) answers every request type with canned
 * replies, or with an error, a reply of the wrong type, garbage or silence,
 * and records the raw bytes of what it received.
 *
 * kschedctl is run as a child process: BUILD/bin/kschedctl next to this
 * binary (BUILD/tests/test_client); its tests are skipped if it is absent.
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "ksched/client.h"
#include "alloc.h"
#include "proto.h"

#include "../testutil.h"

#define FAKE_ID_BASE 100
#define NOT_FOUND_ID 404

/* ---- the fake master ----------------------------------------------------- */

enum fmode { FM_OK, FM_ERROR, FM_WRONG_BODY, FM_GARBAGE, FM_SILENT };

struct fake {
	char *dir;
	char url[600];
	nng_socket sock;
	pthread_t thr;
	pthread_mutex_t mu;
	enum fmode mode; /* how to answer */
	int fail_at;	 /* if > 0: only request number fail_at errs */
	int err;	 /* FM_ERROR: the error and message */
	char msg[200];
	int nreq;   /* requests received */
	void *last; /* raw bytes of the last one (malloc) */
	size_t last_len;
	uint64_t next_id; /* submit: the next id handed out */
};

static struct fake F;
static char ctl_path[PATH_MAX];

/* The canned status of task id: its state is id % 6. */
static void
fake_status(uint64_t id, Ksched__TaskStatus *t)
{
	ksched__task_status__init(t);
	t->id = id;
	t->state = (uint32_t)(id % KSCHED_STATE_COUNT);
	t->priority = -(int32_t)id;
	t->attempts = 2;
	t->retries = 3;
	t->submitted = 1700000000000LL + (int64_t)id;
	t->due = 5;
	t->last_error = t->state == KSCHED_STATE_DEAD ? "exit status 1" : "";
	t->cached = t->state == KSCHED_STATE_SUCCEEDED;
	t->flags = t->cached ? KSCHED_TASK_CACHED : 0;
	t->worker = "w1";
	t->kind = "exec";
	t->pending_reason =
	    t->state == KSCHED_STATE_READY ? "no worker fits" : "";
}

/* Storage for the pieces of one reply. */
struct scratch {
	Ksched__SubmitRep submit;
	Ksched__StatusRep status;
	Ksched__ResultRep result;
	Ksched__WaitRep wait;
	Ksched__CancelRep cancel;
	Ksched__ListRep list;
	Ksched__WorkersRep workers;
	Ksched__StatsRep stats;
	Ksched__CacheRep cache;
	Ksched__TaskStatus ts[1000], *tsp[1000];
	uint64_t ids[1000];
	protobuf_c_boolean cached[1000];
	int32_t errs[1000];
	Ksched__WorkerStatus ws[2], *wsp[2];
	Ksched__Resources res[4];
	uint64_t counts[KSCHED_STATE_COUNT];
};

static void
fake_statuses(struct scratch *s, const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n && i < 1000; i++) {
		fake_status(ids[i], &s->ts[i]);
		s->tsp[i] = &s->ts[i];
	}
}

static bool
has_unknown(const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == NOT_FOUND_ID)
			return true;
	return false;
}

static void
fake_submit(struct fake *f, const Ksched__SubmitReq *q, struct scratch *s,
	    Ksched__Reply *r)
{
	ksched__submit_rep__init(&s->submit);
	for (size_t i = 0; i < q->n_tasks && i < 1000; i++) {
		s->ids[i] = f->next_id++;
		s->cached[i] = i % 2;
	}
	s->submit.n_ids = s->submit.n_cached = q->n_tasks;
	s->submit.ids = s->ids;
	s->submit.cached = s->cached;
	r->submit = &s->submit;
}

static void
fake_tasks(const Ksched__Request *q, struct scratch *s, Ksched__Reply *r)
{
	size_t n = q->status ? q->status->n_ids : 0;

	if (q->body_case == KSCHED__REQUEST__BODY_STATUS) {
		ksched__status_rep__init(&s->status);
		fake_statuses(s, q->status->ids, n);
		s->status.n_tasks = n;
		s->status.tasks = s->tsp;
		r->status = &s->status;
	} else if (q->body_case == KSCHED__REQUEST__BODY_RESULT) {
		ksched__result_rep__init(&s->result);
		fake_status(q->result->id, &s->ts[0]);
		s->result.status = &s->ts[0];
		s->result.has_result = s->ts[0].state == KSCHED_STATE_SUCCEEDED;
		s->result.result.data = (uint8_t *)"out\0put";
		s->result.result.len = s->result.has_result ? 7 : 0;
		r->result = &s->result;
	} else if (q->body_case == KSCHED__REQUEST__BODY_WAIT) {
		ksched__wait_rep__init(&s->wait);
		for (size_t i = 0; i < q->wait->n_ids; i++)
			s->wait.remaining += q->wait->ids[i] % 6 < 3;
		s->wait.remaining += q->wait->all ? 7 : 0;
		r->wait = &s->wait;
	} else if (q->body_case == KSCHED__REQUEST__BODY_CANCEL) {
		ksched__cancel_rep__init(&s->cancel);
		for (size_t i = 0; i < q->cancel->n_ids && i < 1000; i++)
			s->errs[i] =
			    q->cancel->ids[i] == NOT_FOUND_ID ? KSCHED_ENOENT
			    : q->cancel->ids[i] % 6 >= 3      ? KSCHED_ESTATE
							      : 0;
		s->cancel.n_errs = q->cancel->n_ids;
		s->cancel.errs = s->errs;
		r->cancel = &s->cancel;
	}
}

/* Descending from this cursor, the fake acts as a master older than
 * ListReq.desc: it ignores the field and lists in id order. */
#define OLD_MASTER_CURSOR 500

/* Newest first: ids below cursor (0: below 10), up to 3 of them. */
static void
fake_list_desc(const Ksched__ListReq *q, struct scratch *s, Ksched__Reply *r)
{
	uint64_t top = q->cursor ? q->cursor : 10;
	size_t n = 0;

	ksched__list_rep__init(&s->list);
	for (uint64_t id = top - 1; id >= 1 && n < 3 && n < q->limit; id--) {
		fake_status(id, &s->ts[n]);
		s->ts[n].state = q->state;
		s->tsp[n] = &s->ts[n];
		n++;
	}
	s->list.n_tasks = n;
	s->list.tasks = s->tsp;
	s->list.next = n && s->ts[n - 1].id > 1 ? s->ts[n - 1].id : 0;
	s->list.desc = true;
	r->list = &s->list;
}

static void
fake_list(const Ksched__ListReq *q, struct scratch *s, Ksched__Reply *r)
{
	size_t n = q->limit < 3 ? q->limit : 3;

	if (q->desc && q->cursor != OLD_MASTER_CURSOR) {
		fake_list_desc(q, s, r);
		return;
	}
	ksched__list_rep__init(&s->list);
	for (size_t i = 0; i < n; i++) {
		fake_status(q->cursor + 1 + i, &s->ts[i]);
		s->ts[i].state = q->state;
		s->tsp[i] = &s->ts[i];
	}
	s->list.n_tasks = n;
	s->list.tasks = s->tsp;
	s->list.next = q->cursor + n < 9 ? q->cursor + n : 0;
	r->list = &s->list;
}

static void
fake_workers(struct scratch *s, Ksched__Reply *r)
{
	static char *names[] = {"w1", "w2"};

	ksched__workers_rep__init(&s->workers);
	for (int i = 0; i < 2; i++) {
		ksched__worker_status__init(&s->ws[i]);
		ksched__resources__init(&s->res[2 * i]);
		ksched__resources__init(&s->res[2 * i + 1]);
		s->res[2 * i].cpu_milli = 4000;
		s->res[2 * i].mem_mb = 8192;
		s->res[2 * i].slots = 4;
		s->res[2 * i + 1].cpu_milli = 1000 * i;
		s->ws[i].id = names[i];
		s->ws[i].capacity = &s->res[2 * i];
		s->ws[i].allocated = &s->res[2 * i + 1];
		s->ws[i].state = (uint32_t)(i * KSCHED_WORKER_DRAINING);
		s->ws[i].running = (uint32_t)i;
		s->ws[i].load = 0.5 + i;
		s->ws[i].last_seen = 1700000000000LL;
		s->ws[i].completed = 10u + (unsigned)i;
		s->ws[i].failed = (unsigned)i;
		s->wsp[i] = &s->ws[i];
	}
	s->workers.n_workers = 2;
	s->workers.workers = s->wsp;
	r->workers = &s->workers;
}

static void
fake_misc(const Ksched__Request *q, struct scratch *s, Ksched__Reply *r)
{
	if (q->body_case == KSCHED__REQUEST__BODY_STATS) {
		ksched__stats_rep__init(&s->stats);
		for (int i = 0; i < KSCHED_STATE_COUNT; i++)
			s->counts[i] = (uint64_t)i + 1;
		s->stats.n_counts = KSCHED_STATE_COUNT;
		s->stats.counts = s->counts;
		s->stats.cache_hits = 10;
		s->stats.cache_misses = 11;
		s->stats.cache_entries = 12;
		s->stats.workers = 2;
		s->stats.attached = 3;
		s->stats.bad_messages = 4;
		s->stats.uptime_ms = 98765;
		r->stats = &s->stats;
	} else if (q->body_case == KSCHED__REQUEST__BODY_CACHE) {
		ksched__cache_rep__init(&s->cache);
		s->cache.removed = q->cache->key.len   ? 1
				   : q->cache->kind[0] ? 5
				   : q->cache->all     ? 42
						       : 0;
		r->cache = &s->cache;
	} else if (q->body_case == KSCHED__REQUEST__BODY_LIST) {
		fake_list(q->list, s, r);
	} else if (q->body_case == KSCHED__REQUEST__BODY_WORKERS) {
		fake_workers(s, r);
	}
}

/* A reply in the normal case: the body that answers the request. */
static void
fake_body(struct fake *f, const Ksched__Request *q, struct scratch *s,
	  Ksched__Reply *r)
{
	const Ksched__StatusReq *sq = q->status;

	r->body_case = (Ksched__Reply__BodyCase)q->body_case;
	if (q->body_case == KSCHED__REQUEST__BODY_SUBMIT) {
		fake_submit(f, q->submit, s, r);
	} else if (q->body_case == KSCHED__REQUEST__BODY_STATUS &&
		   has_unknown(sq->ids, sq->n_ids)) {
		r->body_case = KSCHED__REPLY__BODY__NOT_SET;
		r->err = KSCHED_ENOENT;
		r->msg = "task 404: not found";
	} else if (q->body_case >= KSCHED__REQUEST__BODY_STATUS &&
		   q->body_case <= KSCHED__REQUEST__BODY_CANCEL) {
		fake_tasks(q, s, r);
	} else {
		fake_misc(q, s, r);
	}
}

static void
fake_reply(struct fake *f, const Ksched__Request *q, enum fmode mode)
{
	static Ksched__StatsRep stats = KSCHED__STATS_REP__INIT;
	static Ksched__CacheRep cache = KSCHED__CACHE_REP__INIT;
	Ksched__Reply r = KSCHED__REPLY__INIT;
	struct scratch *s = calloc(1, sizeof(*s));
	size_t len;
	uint8_t *buf;

	r.version = KSCHED_PROTO_VERSION;
	if (mode == FM_ERROR || !q) {
		r.err = q ? f->err : KSCHED_EPROTO;
		r.msg = f->msg;
	} else if (mode == FM_WRONG_BODY) {
		bool st = q->body_case == KSCHED__REQUEST__BODY_STATS;

		r.body_case =
		    st ? KSCHED__REPLY__BODY_CACHE : KSCHED__REPLY__BODY_STATS;
		if (st)
			r.cache = &cache;
		else
			r.stats = &stats;
	} else {
		fake_body(f, q, s, &r);
	}
	len = ksched__reply__get_packed_size(&r);
	buf = malloc(len + 1);
	ksched__reply__pack(&r, buf);
	nng_send(f->sock, buf, len, 0);
	free(buf);
	free(s);
}

static void
fake_answer(struct fake *f, const void *buf, size_t len)
{
	Ksched__Request *q = ksched__request__unpack(NULL, len, buf);
	enum fmode mode;

	pthread_mutex_lock(&f->mu);
	free(f->last);
	f->last = malloc(len + 1);
	memcpy(f->last, buf, len);
	f->last_len = len;
	f->nreq++;
	mode =
	    f->fail_at ? (f->nreq == f->fail_at ? FM_ERROR : FM_OK) : f->mode;
	pthread_mutex_unlock(&f->mu);
	if (mode == FM_GARBAGE)
		nng_send(f->sock, "\xff\x01garbage", 9, 0);
	else if (mode != FM_SILENT)
		fake_reply(f, q, mode);
	if (q)
		ksched__request__free_unpacked(q, NULL);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	void *buf;
	size_t len;

	while (nng_recv(f->sock, &buf, &len, NNG_FLAG_ALLOC) == 0) {
		fake_answer(f, buf, len);
		nng_free(buf, len);
	}
	return NULL;
}

static int
fake_start(void **state)
{
	(void)state;
	memset(&F, 0, sizeof(F));
	F.dir = tu_tmpdir("client");
	F.next_id = FAKE_ID_BASE;
	snprintf(F.url, sizeof(F.url), "ipc://%s/c.ipc", F.dir);
	pthread_mutex_init(&F.mu, NULL);
	if (nng_rep0_open(&F.sock) || nng_listen(F.sock, F.url, NULL, 0))
		return -1;
	return pthread_create(&F.thr, NULL, fake_main, &F) ? -1 : 0;
}

static int
fake_stop(void **state)
{
	(void)state;
	nng_close(F.sock); /* wakes the thread's nng_recv */
	pthread_join(F.thr, NULL);
	pthread_mutex_destroy(&F.mu);
	free(F.last);
	tu_rmtree(F.dir);
	ksched__alloc_fail_after(-1);
	return 0;
}

static void
fake_set(enum fmode mode, int err, const char *msg)
{
	pthread_mutex_lock(&F.mu);
	F.mode = mode;
	F.err = err;
	snprintf(F.msg, sizeof(F.msg), "%s", msg ? msg : "");
	pthread_mutex_unlock(&F.mu);
}

/* The last request the fake received, decoded (free_unpacked it). */
static Ksched__Request *
last_request(void)
{
	Ksched__Request *q;

	pthread_mutex_lock(&F.mu);
	q = F.last ? ksched__request__unpack(NULL, F.last_len, F.last) : NULL;
	pthread_mutex_unlock(&F.mu);
	assert_non_null(q);
	assert_int_equal(q->version, KSCHED_PROTO_VERSION);
	return q;
}

static int
requests(void)
{
	int n;

	pthread_mutex_lock(&F.mu);
	n = F.nreq;
	pthread_mutex_unlock(&F.mu);
	return n;
}

static ksched_client *
client(void)
{
	ksched_client *c = NULL;

	assert_int_equal(ksched_client_open(F.url, &c), KSCHED_OK);
	ksched_client_set_timeout(c, 5000 * tu_slow());
	return c;
}

/*
 * Close a client after one round trip: nng 1.5.2 may leak the half-made
 * connection of a socket closed while its first dial is in progress.
 */
static void
close_used(ksched_client *c)
{
	struct ksched_stats s;

	assert_int_equal(ksched_client_stats(c, &s), KSCHED_OK);
	ksched_client_close(c);
}

static ksched_task *
exec_task(const char *arg, int64_t cpu)
{
	const char *argv[] = {"/bin/echo", arg};
	ksched_task *t = NULL;

	assert_int_equal(ksched_task_new(&t), KSCHED_OK);
	assert_int_equal(ksched_task_set_argv(t, 2, argv), KSCHED_OK);
	assert_int_equal(ksched_task_add_label(t, "team", "infra"), KSCHED_OK);
	assert_int_equal(ksched_task_add_env(t, "A=1"), KSCHED_OK);
	ksched_task_set_priority(t, 7);
	ksched_task_set_resources(t, cpu, 64, 0);
	ksched_task_set_retry(t, 2, 100, 1000);
	return t;
}

/* ---- open, submit ----------------------------------------------------------
 */

static void
test_client_open_url(void **state)
{
	ksched_client *c = NULL;

	(void)state;
	assert_int_equal(ksched_client_open("nosuch://x", &c), KSCHED_EINVAL);
	assert_null(c);
	setenv(KSCHED_CLIENT_URL_ENV, F.url, 1);
	assert_int_equal(ksched_client_open(NULL, &c), KSCHED_OK);
	unsetenv(KSCHED_CLIENT_URL_ENV);
	assert_int_equal(ksched_client_stats(c, &(struct ksched_stats){0}),
			 KSCHED_OK);
	assert_string_equal(ksched_client_last_error(c), "");
	ksched_client_close(c);
	ksched_client_close(NULL);
}

static void
test_client_submit_encodes_specs(void **state)
{
	ksched_task *t[3] = {exec_task("a", 100), exec_task("b", 200),
			     exec_task("c", 300)};
	ksched_client *c = client();
	uint64_t ids[3];
	bool cached[3];
	Ksched__Request *q;

	(void)state;
	assert_int_equal(ksched_client_submit(c, (const ksched_task *const *)t,
					      3, ids, cached),
			 KSCHED_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ids[i], FAKE_ID_BASE + i);
		assert_int_equal(cached[i], i % 2);
	}
	q = last_request();
	assert_int_equal(q->body_case, KSCHED__REQUEST__BODY_SUBMIT);
	assert_int_equal(q->submit->n_tasks, 3);
	for (int i = 0; i < 3; i++) {
		ksched_task *d = NULL;
		void *enc;
		size_t len;

		assert_int_equal(ksched_task_decode(q->submit->tasks[i].data,
						    q->submit->tasks[i].len,
						    &d),
				 KSCHED_OK);
		assert_string_equal(ksched_task_kind(d), "exec");
		assert_int_equal(ksched_task_argc(d), 2);
		assert_string_equal(ksched_task_arg(d, 0), "/bin/echo");
		assert_string_equal(ksched_task_label(d, "team"), "infra");
		assert_int_equal(ksched_task_cpu_milli(d), 100 * (i + 1));
		assert_int_equal(ksched_task_priority(d), 7);
		assert_int_equal(ksched_task_encode(t[i], &enc, &len),
				 KSCHED_OK);
		assert_int_equal(len, q->submit->tasks[i].len);
		assert_memory_equal(enc, q->submit->tasks[i].data, len);
		ksched_free(enc);
		ksched_task_free(d);
	}
	ksched__request__free_unpacked(q, NULL);
	/* cached may be NULL */
	assert_int_equal(ksched_client_submit(c, (const ksched_task *const *)t,
					      1, ids, NULL),
			 KSCHED_OK);
	assert_int_equal(ids[0], FAKE_ID_BASE + 3);
	for (int i = 0; i < 3; i++)
		ksched_task_free(t[i]);
	ksched_client_close(c);
}

static void
test_client_submit_chunks(void **state)
{
	enum { N = 2 * KSCHED_CLIENT_CHUNK + 500 };
	ksched_task *t = exec_task("x", 100);
	const ksched_task **v = calloc(N, sizeof(*v));
	uint64_t *ids = calloc(N, sizeof(*ids));
	ksched_client *c = client();
	Ksched__Request *q;

	(void)state;
	for (int i = 0; i < N; i++)
		v[i] = t;
	assert_int_equal(ksched_client_submit(c, v, N, ids, NULL), KSCHED_OK);
	assert_int_equal(requests(), 3);
	for (int i = 0; i < N; i++)
		assert_int_equal(ids[i], FAKE_ID_BASE + i);
	q = last_request();
	assert_int_equal(q->submit->n_tasks, 500);
	ksched__request__free_unpacked(q, NULL);

	/* The master refuses the second request: the first stays. */
	pthread_mutex_lock(&F.mu);
	F.fail_at = 5;
	F.err = KSCHED_EINVAL;
	snprintf(F.msg, sizeof(F.msg), "task 3: field 'cpu' is wrong");
	pthread_mutex_unlock(&F.mu);
	assert_int_equal(ksched_client_submit(c, v, N, ids, NULL),
			 KSCHED_EINVAL);
	assert_string_equal(ksched_client_last_error(c),
			    "task 1003: field 'cpu' is wrong");
	assert_int_equal(ids[0], FAKE_ID_BASE + N);
	assert_int_equal(ids[KSCHED_CLIENT_CHUNK - 1],
			 FAKE_ID_BASE + N + KSCHED_CLIENT_CHUNK - 1);
	assert_int_equal(ids[KSCHED_CLIENT_CHUNK], 0);
	assert_int_equal(ids[N - 1], 0);
	ksched_task_free(t);
	free(v);
	free(ids);
	ksched_client_close(c);
}

static void
test_client_submit_invalid_sends_nothing(void **state)
{
	ksched_task *t[3] = {exec_task("a", 100), exec_task("b", 100),
			     exec_task("c", -5)};
	ksched_client *c = client();
	uint64_t ids[3] = {1, 2, 3};

	(void)state;
	assert_int_equal(ksched_client_submit(c, (const ksched_task *const *)t,
					      3, ids, NULL),
			 KSCHED_EINVAL);
	assert_non_null(strstr(ksched_client_last_error(c), "task 2: "));
	assert_non_null(strstr(ksched_client_last_error(c), "'cpu'"));
	assert_int_equal(requests(), 0);
	assert_int_equal(ids[0], 0);
	assert_int_equal(ksched_client_submit(c, NULL, 0, ids, NULL),
			 KSCHED_EINVAL);
	for (int i = 0; i < 3; i++)
		ksched_task_free(t[i]);
	close_used(c);
}

/* ---- status, result, wait, cancel -----------------------------------------
 */

static void
test_client_status(void **state)
{
	const uint64_t ids[] = {6, 1, 3, 4};
	struct ksched_task_status st[4];
	ksched_client *c = client();
	Ksched__Request *q;

	(void)state;
	assert_int_equal(ksched_client_status(c, ids, 4, st), KSCHED_OK);
	q = last_request();
	assert_int_equal(q->body_case, KSCHED__REQUEST__BODY_STATUS);
	assert_int_equal(q->status->n_ids, 4);
	assert_memory_equal(q->status->ids, ids, sizeof(ids));
	ksched__request__free_unpacked(q, NULL);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(st[i].id, ids[i]);
		assert_int_equal(st[i].state, ids[i] % 6);
		assert_int_equal(st[i].priority, -(int32_t)ids[i]);
		assert_int_equal(st[i].attempts, 2);
		assert_int_equal(st[i].retries, 3);
		assert_int_equal(st[i].submitted, 1700000000000LL + ids[i]);
		assert_int_equal(st[i].due, 5);
		assert_string_equal(st[i].kind, "exec");
		assert_string_equal(st[i].worker, "w1");
	}
	assert_string_equal(st[0].pending_reason, "");
	assert_string_equal(st[1].pending_reason, "no worker fits");
	assert_true(st[2].cached);
	assert_int_equal(st[2].flags, KSCHED_TASK_CACHED);
	assert_false(st[3].cached);
	assert_string_equal(st[3].last_error, "exit status 1");
	ksched_client_close(c);
}

static void
test_client_status_not_found(void **state)
{
	const uint64_t ids[] = {1, NOT_FOUND_ID};
	struct ksched_task_status st[2];
	ksched_client *c = client();

	(void)state;
	assert_int_equal(ksched_client_status(c, ids, 2, st), KSCHED_ENOENT);
	assert_string_equal(ksched_client_last_error(c), "task 404: not found");
	ksched_client_close(c);
}

static void
test_client_result(void **state)
{
	struct ksched_task_status st;
	ksched_client *c = client();
	Ksched__Request *q;
	void *out = NULL;
	size_t len = 99;

	(void)state;
	assert_int_equal(ksched_client_result(c, 9, &st, &out, &len),
			 KSCHED_OK);
	q = last_request();
	assert_int_equal(q->body_case, KSCHED__REQUEST__BODY_RESULT);
	assert_int_equal(q->result->id, 9);
	ksched__request__free_unpacked(q, NULL);
	assert_int_equal(st.state, KSCHED_STATE_SUCCEEDED);
	assert_int_equal(len, 7);
	assert_memory_equal(out, "out\0put", 7);
	ksched_free(out);
	/* a dead task has no result; the status says why */
	assert_int_equal(ksched_client_result(c, 10, &st, &out, &len),
			 KSCHED_OK);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(st.state, KSCHED_STATE_DEAD);
	assert_string_equal(st.last_error, "exit status 1");
	assert_int_equal(ksched_client_result(c, 10, NULL, NULL, NULL),
			 KSCHED_OK);
	ksched_client_close(c);
}

static void
test_client_wait(void **state)
{
	const uint64_t ids[] = {1, 2, 3, 4, 6};
	ksched_client *c = client();
	Ksched__Request *q;
	uint64_t remaining = 99;

	(void)state;
	assert_int_equal(ksched_client_wait(c, ids, 5, false, 1234, &remaining),
			 KSCHED_OK);
	assert_int_equal(remaining, 3); /* 1, 2 and 6 are not final */
	q = last_request();
	assert_int_equal(q->body_case, KSCHED__REQUEST__BODY_WAIT);
	assert_int_equal(q->wait->n_ids, 5);
	assert_false(q->wait->all);
	assert_true(q->wait->timeout_ms > 1000 && q->wait->timeout_ms <= 1234);
	ksched__request__free_unpacked(q, NULL);
	assert_int_equal(ksched_client_wait(c, NULL, 0, true, 0, &remaining),
			 KSCHED_OK);
	assert_int_equal(remaining, 7);
	q = last_request();
	assert_true(q->wait->all);
	assert_int_equal(q->wait->n_ids, 0);
	assert_int_equal(q->wait->timeout_ms, 0);
	ksched__request__free_unpacked(q, NULL);
	assert_int_equal(ksched_client_wait(c, ids, 5, false, -1, &remaining),
			 KSCHED_EINVAL);
	ksched_client_close(c);
}

static void
test_client_cancel(void **state)
{
	const uint64_t ids[] = {1, 3, NOT_FOUND_ID};
	ksched_err errs[3];
	ksched_client *c = client();
	Ksched__Request *q;

	(void)state;
	assert_int_equal(ksched_client_cancel(c, ids, 1, errs), KSCHED_OK);
	assert_int_equal(errs[0], KSCHED_OK);
	assert_int_equal(ksched_client_cancel(c, ids, 3, errs), KSCHED_ESTATE);
	assert_int_equal(errs[0], KSCHED_OK);
	assert_int_equal(errs[1], KSCHED_ESTATE);
	assert_int_equal(errs[2], KSCHED_ENOENT);
	assert_non_null(strstr(ksched_client_last_error(c), "task 3: "));
	q = last_request();
	assert_int_equal(q->body_case, KSCHED__REQUEST__BODY_CANCEL);
	assert_memory_equal(q->cancel->ids, ids, sizeof(ids));
	ksched__request__free_unpacked(q, NULL);
	assert_int_equal(ksched_client_cancel(c, ids + 2, 1, NULL),
			 KSCHED_ENOENT);
	ksched_client_close(c);
}

/* ---- list, workers, stats, cache ------------------------------------------
 */

static void
test_client_list(void **state)
{
	struct ksched_task_status out[10];
	ksched_client *c = client();
	Ksched__Request *q;
	size_t n = 99;
	uint64_t next = 99;

	(void)state;
	assert_int_equal(
	    ksched_client_list(c, KSCHED_STATE_READY, 4, 10, out, &n, &next),
	    KSCHED_OK);
	q = last_request();
	assert_int_equal(q->body_case, KSCHED__REQUEST__BODY_LIST);
	assert_int_equal(q->list->state, KSCHED_STATE_READY);
	assert_int_equal(q->list->cursor, 4);
	assert_int_equal(q->list->limit, 10);
	ksched__request__free_unpacked(q, NULL);
	assert_int_equal(n, 3);
	assert_int_equal(next, 7);
	assert_int_equal(out[0].id, 5);
	assert_int_equal(out[2].state, KSCHED_STATE_READY);
	/* the last page has no next cursor */
	assert_int_equal(
	    ksched_client_list(c, KSCHED_STATE_DEAD, 7, 2, out, &n, &next),
	    KSCHED_OK);
	assert_int_equal(n, 2);
	assert_int_equal(next, 0);
	assert_int_equal(
	    ksched_client_list(c, KSCHED_STATE_COUNT, 0, 1, out, &n, NULL),
	    KSCHED_EINVAL);
	assert_int_equal(
	    ksched_client_list(c, KSCHED_STATE_READY, 0, 0, out, &n, NULL),
	    KSCHED_EINVAL);
	assert_int_equal(ksched_client_list(c, KSCHED_STATE_READY, 0,
					    KSCHED_CLIENT_LIST_MAX + 1, out, &n,
					    NULL),
			 KSCHED_EINVAL);
	ksched_client_close(c);
}

static void
test_client_list_desc(void **state)
{
	struct ksched_task_status out[10];
	ksched_client *c = client();
	Ksched__Request *q;
	uint64_t next = 0, seen = 10;
	size_t n, total = 0;

	(void)state;
	/* Pages newest first: 9, 8, 7 | 6, 5, 4 | 3, 2, 1 and no cursor. */
	for (int page = 0; page < 5; page++) {
		assert_int_equal(ksched_client_list_desc(c, KSCHED_STATE_DEAD,
							 next, 10, out, &n,
							 &next),
				 KSCHED_OK);
		q = last_request();
		assert_int_equal(q->body_case, KSCHED__REQUEST__BODY_LIST);
		assert_true(q->list->desc);
		assert_int_equal(q->list->state, KSCHED_STATE_DEAD);
		ksched__request__free_unpacked(q, NULL);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(out[i].id, seen - 1);
			seen = out[i].id;
		}
		total += n;
		if (!next)
			break;
	}
	assert_int_equal(total, 9);
	/* The ascending call does not ask for desc. */
	assert_int_equal(
	    ksched_client_list(c, KSCHED_STATE_READY, 0, 2, out, &n, &next),
	    KSCHED_OK);
	q = last_request();
	assert_false(q->list->desc);
	ksched__request__free_unpacked(q, NULL);
	/* A master that ignores the field: an error, not the oldest. */
	n = 99;
	assert_int_equal(ksched_client_list_desc(c, KSCHED_STATE_READY,
						 OLD_MASTER_CURSOR, 10, out,
						 &n, &next),
			 KSCHED_EPROTO);
	assert_int_equal(n, 0);
	assert_non_null(strstr(ksched_client_last_error(c), "newest first"));
	assert_int_equal(ksched_client_list_desc(c, KSCHED_STATE_COUNT, 0, 1,
						 out, &n, NULL),
			 KSCHED_EINVAL);
	ksched_client_close(c);
}

static void
test_client_workers(void **state)
{
	struct ksched_worker_status *w = NULL;
	ksched_client *c = client();
	size_t n = 0;

	(void)state;
	assert_int_equal(ksched_client_workers(c, &w, &n), KSCHED_OK);
	assert_int_equal(n, 2);
	assert_string_equal(w[0].id, "w1");
	assert_string_equal(w[1].id, "w2");
	assert_int_equal(w[0].capacity.cpu_milli, 4000);
	assert_int_equal(w[0].capacity.mem_mb, 8192);
	assert_int_equal(w[0].capacity.slots, 4);
	assert_int_equal(w[1].allocated.cpu_milli, 1000);
	assert_int_equal(w[0].state, KSCHED_WORKER_ALIVE);
	assert_int_equal(w[1].state, KSCHED_WORKER_DRAINING);
	assert_int_equal(w[1].running, 1);
	assert_true(w[1].load > 1.49 && w[1].load < 1.51);
	assert_int_equal(w[1].completed, 11);
	assert_int_equal(w[1].failed, 1);
	ksched_free(w);
	ksched_client_close(c);
}

static void
test_client_stats(void **state)
{
	struct ksched_stats s;
	ksched_client *c = client();
	Ksched__Request *q;

	(void)state;
	assert_int_equal(ksched_client_stats(c, &s), KSCHED_OK);
	q = last_request();
	assert_int_equal(q->body_case, KSCHED__REQUEST__BODY_STATS);
	ksched__request__free_unpacked(q, NULL);
	for (int i = 0; i < KSCHED_STATE_COUNT; i++)
		assert_int_equal(s.counts[i], i + 1);
	assert_int_equal(s.cache_hits, 10);
	assert_int_equal(s.cache_misses, 11);
	assert_int_equal(s.cache_entries, 12);
	assert_int_equal(s.workers, 2);
	assert_int_equal(s.attached, 3);
	assert_int_equal(s.bad_messages, 4);
	assert_int_equal(s.uptime_ms, 98765);
	ksched_client_close(c);
}

static void
test_client_cache_invalidate(void **state)
{
	struct ksched_key key;
	ksched_client *c = client();
	Ksched__Request *q;
	uint64_t removed = 0;

	(void)state;
	for (int i = 0; i < 16; i++)
		key.bytes[i] = (uint8_t)(i * 7);
	assert_int_equal(
	    ksched_client_cache_invalidate(c, &key, NULL, false, &removed),
	    KSCHED_OK);
	assert_int_equal(removed, 1);
	q = last_request();
	assert_int_equal(q->body_case, KSCHED__REQUEST__BODY_CACHE);
	assert_int_equal(q->cache->key.len, 16);
	assert_memory_equal(q->cache->key.data, key.bytes, 16);
	ksched__request__free_unpacked(q, NULL);
	assert_int_equal(
	    ksched_client_cache_invalidate(c, NULL, "sim", false, &removed),
	    KSCHED_OK);
	assert_int_equal(removed, 5);
	q = last_request();
	assert_string_equal(q->cache->kind, "sim");
	assert_int_equal(q->cache->key.len, 0);
	ksched__request__free_unpacked(q, NULL);
	assert_int_equal(
	    ksched_client_cache_invalidate(c, NULL, NULL, true, &removed),
	    KSCHED_OK);
	assert_int_equal(removed, 42);
	assert_int_equal(
	    ksched_client_cache_invalidate(c, NULL, NULL, false, &removed),
	    KSCHED_EINVAL);
	assert_int_equal(
	    ksched_client_cache_invalidate(c, &key, "sim", false, NULL),
	    KSCHED_EINVAL);
	assert_int_equal(requests(), 3);
	ksched_client_close(c);
}

/* ---- bad replies, no master
 * -------------------------------------------------- */

static void
test_client_error_reply(void **state)
{
	struct ksched_stats s;
	uint64_t removed;
	ksched_client *c = client();

	(void)state;
	fake_set(FM_ERROR, KSCHED_ESTATE, "the cache is closed");
	assert_int_equal(ksched_client_stats(c, &s), KSCHED_ESTATE);
	assert_string_equal(ksched_client_last_error(c), "the cache is closed");
	fake_set(FM_ERROR, KSCHED_ENOSPC, NULL); /* no message */
	assert_int_equal(
	    ksched_client_cache_invalidate(c, NULL, NULL, true, &removed),
	    KSCHED_ENOSPC);
	assert_string_equal(ksched_client_last_error(c),
			    ksched_strerror(KSCHED_ENOSPC));
	fake_set(FM_ERROR, -3, "negative");
	assert_int_equal(ksched_client_stats(c, &s), KSCHED_EPROTO);
	fake_set(FM_OK, 0, NULL);
	assert_int_equal(ksched_client_stats(c, &s), KSCHED_OK);
	assert_string_equal(ksched_client_last_error(c), "");
	ksched_client_close(c);
}

static void
test_client_wrong_body(void **state)
{
	const uint64_t ids[] = {1};
	struct ksched_task_status st;
	struct ksched_stats s;
	uint64_t ids_out[1];
	ksched_task *t = exec_task("a", 1);
	ksched_client *c = client();

	(void)state;
	fake_set(FM_WRONG_BODY, 0, NULL);
	assert_int_equal(ksched_client_stats(c, &s), KSCHED_EPROTO);
	assert_int_equal(ksched_client_status(c, ids, 1, &st), KSCHED_EPROTO);
	assert_int_equal(
	    ksched_client_submit(c, (const ksched_task **)&t, 1, ids_out, NULL),
	    KSCHED_EPROTO);
	assert_int_equal(ksched_client_result(c, 1, &st, NULL, NULL),
			 KSCHED_EPROTO);
	assert_true(strlen(ksched_client_last_error(c)) > 0);
	ksched_task_free(t);
	ksched_client_close(c);
}

static void
test_client_garbage_reply(void **state)
{
	const uint64_t ids[] = {1, 2};
	struct ksched_task_status st[2];
	struct ksched_stats s;
	ksched_client *c = client();

	(void)state;
	fake_set(FM_GARBAGE, 0, NULL);
	assert_int_equal(ksched_client_stats(c, &s), KSCHED_EPROTO);
	assert_non_null(strstr(ksched_client_last_error(c), "bad reply"));
	assert_int_equal(ksched_client_status(c, ids, 2, st), KSCHED_EPROTO);
	fake_set(FM_OK, 0, NULL); /* the socket still works */
	assert_int_equal(ksched_client_status(c, ids, 2, st), KSCHED_OK);
	ksched_client_close(c);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Nothing answers: KSCHED_ENOTCONN, within the timeout. */
static void
expect_enotconn(const char *url, bool wait)
{
	ksched_client *c = NULL;
	struct ksched_stats s;
	int64_t t0, ms;
	uint64_t rem;

	assert_int_equal(ksched_client_open(url, &c), KSCHED_OK);
	ksched_client_set_timeout(c, 300);
	t0 = mono_ms();
	assert_int_equal(ksched_client_stats(c, &s), KSCHED_ENOTCONN);
	ms = mono_ms() - t0;
	assert_true(ms >= 250 && ms < 300 + 700 * tu_slow());
	assert_non_null(strstr(ksched_client_last_error(c), url));
	/* a wait allows its own timeout plus the grace */
	if (!wait) {
		ksched_client_close(c);
		return;
	}
	t0 = mono_ms();
	assert_int_equal(ksched_client_wait(c, NULL, 0, true, 0, &rem),
			 KSCHED_ENOTCONN);
	ms = mono_ms() - t0;
	assert_true(ms >= KSCHED_CLIENT_WAIT_GRACE_MS - 50);
	assert_true(ms < KSCHED_CLIENT_WAIT_GRACE_MS + 700 * tu_slow());
	ksched_client_close(c);
}

static void
test_client_no_master(void **state)
{
	char url[700];

	(void)state;
	snprintf(url, sizeof(url), "ipc://%s/none.ipc", F.dir);
	expect_enotconn(url, true);
}

static void
test_client_silent_master(void **state)
{
	(void)state;
	fake_set(FM_SILENT, 0, NULL);
	expect_enotconn(F.url, false);
	assert_true(requests() >= 1);
}

/* Every allocation of a call failing in turn: an error, never a crash. */
static void
test_client_alloc_failures(void **state)
{
	const uint64_t ids[] = {1, 2, 3};
	struct ksched_task_status st[3];
	ksched_task *t = exec_task("a", 100);
	ksched_client *c = client();
	uint64_t out[1];
	void *res;
	size_t len;
	ksched_err e;
	bool ok = false;

	(void)state;
	for (long n = 0; n < 200 && !ok; n++) {
		ksched__alloc_fail_after(n);
		e = ksched_client_submit(c, (const ksched_task **)&t, 1, out,
					 NULL);
		if (!e)
			e = ksched_client_status(c, ids, 3, st);
		if (!e)
			e = ksched_client_result(c, 3, st, &res, &len);
		ksched__alloc_fail_after(-1);
		if (!e)
			ksched_free(res);
		ok = !e;
		assert_true(!e || e == KSCHED_ENOMEM || e == KSCHED_EPROTO);
	}
	assert_true(ok);
	ksched_task_free(t);
	ksched_client_close(c);
	/* open itself */
	for (long n = 0; n < 5; n++) {
		ksched__alloc_fail_after(n);
		e = ksched_client_open(F.url, &c);
		ksched__alloc_fail_after(-1);
		if (!e)
			close_used(c);
	}
}

/* ---- tasks from JSON --------------------------------------------------------
 */

static ksched_task *
parse(const char *js, const ksched_task *defaults, char *err, size_t len)
{
	ksched_task *t = NULL;

	err[0] = 0;
	if (ksched_client_parse_task(js, strlen(js), defaults, &t, err, len))
		assert_null(t);
	return t;
}

static void
test_client_parse_task(void **state)
{
	char err[256];
	ksched_task *t, *d;
	size_t plen;

	(void)state;
	t = parse("{\"kind\":\"exec\",\"argv\":[\"/bin/echo\",\"hi\"],"
		  "\"env\":{\"A\":\"1\"},\"payload\":\"p\\u0000q\","
		  "\"priority\":-3,\"cpu\":250,\"mem\":64,\"gpus\":1,"
		  "\"timeout\":1.5,\"retries\":4,\"backoff\":200,"
		  "\"ttl\":60,\"labels\":{\"team\":\"infra\"},"
		  "\"cwd\":\"/tmp\",\"nodes\":2}",
		  NULL, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(ksched_task_validate(t, err, sizeof(err)), KSCHED_OK);
	assert_string_equal(ksched_task_arg(t, 1), "hi");
	assert_string_equal(ksched_task_env(t, 0), "A=1");
	assert_memory_equal(ksched_task_payload(t, &plen), "p\0q", 3);
	assert_int_equal(plen, 3);
	assert_int_equal(ksched_task_priority(t), -3);
	assert_int_equal(ksched_task_cpu_milli(t), 250);
	assert_int_equal(ksched_task_mem_mb(t), 64);
	assert_int_equal(ksched_task_gpus(t), 1);
	assert_int_equal(ksched_task_timeout_ms(t), 1500);
	assert_int_equal(ksched_task_retries(t), 4);
	assert_int_equal(ksched_task_backoff_base_ms(t), 200);
	assert_int_equal(ksched_task_cache_ttl_ms(t), 60000);
	assert_string_equal(ksched_task_label(t, "team"), "infra");
	assert_string_equal(ksched_task_cwd(t), "/tmp");
	assert_int_equal(ksched_task_nodes(t), 2);
	/* defaults: the line adds env and replaces the rest */
	d = parse("{\"env\":[\"B=2\"],\"cpu\":10,\"no_cache\":true}", t, err,
		  sizeof(err));
	assert_non_null(d);
	assert_int_equal(ksched_task_envc(d), 2);
	assert_int_equal(ksched_task_cpu_milli(d), 10);
	assert_true(ksched_task_no_cache(d));
	assert_int_equal(ksched_task_priority(d), -3);
	ksched_task_free(d);
	ksched_task_free(t);
}

static void
test_client_parse_task_errors(void **state)
{
	static const struct {
		const char *js, *want;
	} bad[] = {
	    {"{\"cpu\":\"x\"}", "field 'cpu' must be an integer"},
	    {"{\"cpu\":1.5}", "field 'cpu' must be an integer"},
	    {"{\"timeout\":\"1\"}", "field 'timeout' must be a number"},
	    {"{\"priority\":3000000000}", "field 'priority' out of range"},
	    {"{\"nope\":1}", "unknown field 'nope'"},
	    {"{\"argv\":\"ls\"}", "field 'argv' must be an array"},
	    {"{\"argv\":[1]}", "field 'argv': entry 0 must be a string"},
	    {"{\"env\":[\"NOEQUALS\"]}", "field 'env': entry 0"},
	    {"{\"labels\":[]}", "field 'labels' must be an object"},
	    {"{\"no_cache\":1}", "field 'no_cache' must be true or false"},
	    {"{\"kind\":\"a\",\"kind\":\"b\"}", "bad JSON"},
	    {"[1]", "not a JSON object"},
	    {"{\"cpu\":", "bad JSON"},
	    {"", "bad JSON"},
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(parse(bad[i].js, NULL, err, sizeof(err)));
		if (!strstr(err, bad[i].want))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].js, err,
				 bad[i].want);
	}
}

/* ---- kschedctl
 * ---------------------------------------------------------------- */

struct run {
	int status; /* exit code, or -1 */
	char out[1 << 16];
	char err[1 << 14];
};

static void
drain(int fd, char *buf, size_t cap, size_t *len, bool *open)
{
	ssize_t r = read(fd, buf + *len, cap - 1 - *len);

	if (r > 0)
		*len += (size_t)r;
	else if (*len + 1 < cap) /* EOF or error */
		*open = false;
	buf[*len] = 0;
}

/* Run kschedctl with args (NULL-terminated), bounded in time. */
static void
run_ctl(struct run *r, const char *const *args)
{
	char *argv[32] = {ctl_path};
	int po[2], pe[2], st = 0, n = 1;
	int64_t end = mono_ms() + 15000 * tu_slow();
	size_t lo = 0, le = 0;
	bool oo = true, oe = true;
	pid_t pid;

	while (args[n - 1] && n < 31) {
		argv[n] = (char *)args[n - 1];
		n++;
	}
	assert_int_equal(pipe(po), 0);
	assert_int_equal(pipe(pe), 0);
	if ((pid = fork()) == 0) {
		int nul = open("/dev/null", O_RDONLY);

		dup2(nul, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]), close(pe[0]), close(po[1]), close(pe[1]);
		execv(ctl_path, argv);
		_exit(127);
	}
	assert_true(pid > 0);
	close(po[1]);
	close(pe[1]);
	while ((oo || oe) && mono_ms() < end) {
		struct pollfd p[2] = {{oo ? po[0] : -1, POLLIN, 0},
				      {oe ? pe[0] : -1, POLLIN, 0}};

		if (poll(p, 2, 100) <= 0)
			continue;
		if (p[0].revents)
			drain(po[0], r->out, sizeof(r->out), &lo, &oo);
		if (p[1].revents)
			drain(pe[0], r->err, sizeof(r->err), &le, &oe);
	}
	r->out[lo] = r->err[le] = 0;
	if (oo || oe)
		kill(pid, SIGKILL); /* ran past its time */
	close(po[0]);
	close(pe[0]);
	waitpid(pid, &st, 0);
	r->status = (oo || oe) || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

#define RUN(r, ...) run_ctl((r), (const char *const[]){__VA_ARGS__, NULL})

static struct run *
ctl_setup(void)
{
	if (access(ctl_path, X_OK) != 0) {
		print_message("kschedctl not built at %s: skipping\n",
			      ctl_path);
		skip();
	}
	return calloc(1, sizeof(struct run));
}

static void
expect_usage(struct run *r, int status)
{
	if (r->status != status)
		fail_msg("exit %d, want %d; stderr: %s", r->status, status,
			 r->err);
	assert_non_null(strstr(r->err, "usage"));
	assert_non_null(strstr(r->err, "kschedctl: "));
}

static void
test_client_ctl_usage_errors(void **state)
{
	struct run *r = ctl_setup();

	(void)state;
	RUN(r, "--bogus");
	expect_usage(r, 2);
	RUN(r, "frobnicate");
	expect_usage(r, 2);
	assert_non_null(strstr(r->err, "unknown command 'frobnicate'"));
	RUN(r, "status");
	expect_usage(r, 2);
	assert_non_null(strstr(r->err, "missing task id"));
	RUN(r, "status", "12x");
	expect_usage(r, 2);
	RUN(r, "result", "1", "2");
	expect_usage(r, 2);
	RUN(r, "submit", "--cpu", "lots", "--", "/bin/true");
	expect_usage(r, 2);
	assert_non_null(strstr(r->err, "--cpu"));
	RUN(r, "submit", "--priority");
	expect_usage(r, 2);
	RUN(r, "submit", "--cpu", "-5", "--", "/bin/true");
	expect_usage(r, 2);
	assert_non_null(strstr(r->err, "'cpu'"));
	RUN(r, "wait");
	expect_usage(r, 2);
	RUN(r, "list", "--state", "sleepy");
	expect_usage(r, 2);
	RUN(r, "cache", "invalidate", "--all", "--kind", "x");
	expect_usage(r, 2);
	RUN(r, "--timeout", "soon", "stats");
	expect_usage(r, 2);
	run_ctl(r, (const char *const[]){NULL});
	expect_usage(r, 2);
	free(r);
}

static void
test_client_ctl_help(void **state)
{
	struct run *r = ctl_setup();

	(void)state;
	RUN(r, "--help");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "usage: kschedctl"));
	assert_non_null(strstr(r->out, "Exit status"));
	RUN(r, "submit", "--help");
	assert_int_equal(r->status, 0);
	free(r);
}

static void
test_client_ctl_no_master(void **state)
{
	struct run *r = ctl_setup();
	char url[700];

	(void)state;
	snprintf(url, sizeof(url), "ipc://%s/none.ipc", F.dir);
	RUN(r, "--control", url, "--timeout", "300", "stats");
	assert_int_equal(r->status, 3);
	assert_non_null(strstr(r->err, "kschedctl: stats: cannot reach"));
	RUN(r, "--timeout", "300", "submit", "--control", url, "--",
	    "/bin/true");
	assert_int_equal(r->status, 3);
	free(r);
}

static void
test_client_ctl_submit_file_bad_line(void **state)
{
	struct run *r = ctl_setup();
	char path[700];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/t.jsonl", F.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"argv\":[\"/bin/true\"]}\n\n{\"cpu\":\"many\"}\n", f);
	fclose(f);
	RUN(r, "--control", F.url, "submit", "--file", path);
	expect_usage(r, 2);
	assert_non_null(strstr(r->err, "t.jsonl:3: field 'cpu'"));
	assert_int_equal(requests(), 0);
	/* good lines only: one request, one id a line */
	f = fopen(path, "w");
	fputs("{\"argv\":[\"/bin/true\"]}\n{\"kind\":\"sim\","
	      "\"payload\":\"{}\"}\n",
	      f);
	fclose(f);
	RUN(r, "--control", F.url, "submit", "--file", path);
	assert_int_equal(r->status, 0);
	assert_string_equal(r->out, "100\n101\n");
	assert_int_equal(requests(), 1);
	free(r);
}

static void
test_client_ctl_submit_echo(void **state)
{
	struct run *r = ctl_setup();
	Ksched__Request *q;
	ksched_task *t = NULL;

	(void)state;
	RUN(r, "--control", F.url, "submit", "--priority", "5", "--label",
	    "team=infra", "--", "/bin/echo", "hi");
	if (r->status != 0)
		fail_msg("exit %d: %s", r->status, r->err);
	assert_string_equal(r->out, "100\n");
	q = last_request();
	assert_int_equal(q->body_case, KSCHED__REQUEST__BODY_SUBMIT);
	assert_int_equal(q->submit->n_tasks, 1);
	assert_int_equal(ksched_task_decode(q->submit->tasks[0].data,
					    q->submit->tasks[0].len, &t),
			 KSCHED_OK);
	assert_string_equal(ksched_task_kind(t), "exec");
	assert_int_equal(ksched_task_argc(t), 2);
	assert_string_equal(ksched_task_arg(t, 0), "/bin/echo");
	assert_string_equal(ksched_task_arg(t, 1), "hi");
	assert_int_equal(ksched_task_priority(t), 5);
	assert_string_equal(ksched_task_label(t, "team"), "infra");
	ksched_task_free(t);
	ksched__request__free_unpacked(q, NULL);
	free(r);
}

static void
test_client_ctl_stats_json(void **state)
{
	struct run *r = ctl_setup();
	json_error_t je;
	json_t *j;

	(void)state;
	RUN(r, "--control", F.url, "stats", "--json");
	if (r->status != 0)
		fail_msg("exit %d: %s", r->status, r->err);
	j = json_loads(r->out, 0, &je);
	if (!j)
		fail_msg("bad JSON (%s): %s", je.text, r->out);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(j, "counts"), "pending")),
			 1);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(j, "counts"), "canceled")),
			 6);
	assert_int_equal(json_integer_value(json_object_get(j, "cache_hits")),
			 10);
	assert_int_equal(json_integer_value(json_object_get(j, "uptime_ms")),
			 98765);
	json_decref(j);
	free(r);
}

static void
test_client_ctl_tasks(void **state)
{
	struct run *r = ctl_setup();

	(void)state;
	RUN(r, "--control", F.url, "status", "3", "4");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "ID"));
	assert_non_null(strstr(r->out, "succeeded"));
	assert_non_null(strstr(r->out, "exit status 1"));
	RUN(r, "--control", F.url, "status", "404");
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "kschedctl: status: task 404: not "
				       "found"));
	RUN(r, "--control", F.url, "result", "3");
	assert_int_equal(r->status, 0);
	assert_memory_equal(r->out, "out", 4); /* "out\0put" */
	RUN(r, "--control", F.url, "result", "4");
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "exit status 1"));
	RUN(r, "--control", F.url, "wait", "3", "4", "--timeout-s", "0");
	assert_int_equal(r->status, 1); /* 4 is dead */
	RUN(r, "--control", F.url, "--json", "wait", "3", "9");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "\"succeeded\": 2"));
	RUN(r, "--control", F.url, "cancel", "1", "404");
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->out, "1 canceled"));
	assert_non_null(strstr(r->err, "task 404"));
	RUN(r, "--control", F.url, "list", "--state", "ready", "--limit", "2");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "ready"));
	RUN(r, "--control", F.url, "workers");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "draining"));
	RUN(r, "--control", F.url, "cache", "invalidate", "--kind", "sim");
	assert_int_equal(r->status, 0);
	assert_string_equal(r->out, "removed 5\n");
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fake_start, fake_stop)
	    T(test_client_open_url),
	    T(test_client_submit_encodes_specs),
	    T(test_client_submit_chunks),
	    T(test_client_submit_invalid_sends_nothing),
	    T(test_client_status),
	    T(test_client_status_not_found),
	    T(test_client_result),
	    T(test_client_wait),
	    T(test_client_cancel),
	    T(test_client_list),
	    T(test_client_list_desc),
	    T(test_client_workers),
	    T(test_client_stats),
	    T(test_client_cache_invalidate),
	    T(test_client_error_reply),
	    T(test_client_wrong_body),
	    T(test_client_garbage_reply),
	    T(test_client_no_master),
	    T(test_client_silent_master),
	    T(test_client_alloc_failures),
	    T(test_client_parse_task),
	    T(test_client_parse_task_errors),
	    T(test_client_ctl_usage_errors),
	    T(test_client_ctl_help),
	    T(test_client_ctl_no_master),
	    T(test_client_ctl_submit_file_bad_line),
	    T(test_client_ctl_submit_echo),
	    T(test_client_ctl_stats_json),
	    T(test_client_ctl_tasks),
#undef T
	};
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	/* BUILD/tests/test_client -> BUILD/bin/kschedctl */
	exe[n > 0 ? n : 0] = 0;
	snprintf(ctl_path, sizeof(ctl_path), "%s/bin/kschedctl",
		 dirname(dirname(exe)));
	signal(SIGPIPE, SIG_IGN);
	n = cmocka_run_group_tests(tests, NULL, NULL);
	nng_fini(); /* reap what nng still tears down, for the leak checker */
	return (int)n;
}
