/*
 * Integration test: the durable queue survives SIGKILL.
 *
 * A child process opens a store in strict sync mode and runs a random mix
 * of queue operations (push, lease, touch, complete, fail, cancel), either
 * one transaction per operation or in group-commit batches of 1..50.  Only
 * after the library acknowledged an operation (it returned KSCHED_OK; in a
 * batch, ksched_store_commit() returned KSCHED_OK) does the child write a
 * fixed-size record of it to a pipe.  The parent reads the records, kills
 * the child with SIGKILL at a random point, reopens the store and checks:
 *
 *   - ksched_queue_verify(): the indexes agree with the stored records;
 *   - every acknowledged change is there (pushes with their spec, leases
 *     with their token and deadline, completions with their result bytes,
 *     failures, cancels);
 *   - nothing is further along than the one operation (or batch) in flight
 *     at the kill could have taken it: a change may commit without its
 *     acknowledgement reaching the pipe, but never more than that;
 *   - the reopened queue works: a lease taken by the dead child can be
 *     completed with its token, new tasks can be pushed, leased and
 *     completed, and all of it survives one more reopen.
 *
 * Runs are reproducible: the base seed is fixed and may be overridden with
 * KSCHED_CRASH_SEED (decimal or 0x hex); each round prints its seed.
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>

#include "../testutil.h"
#include "ksched.h"

#define CRASH_SEED 0x6b73636865640001ull
#define SINGLE_ROUNDS 24    /* rounds of one transaction per operation */
#define SINGLE_KILL_MAX 400 /* acknowledged operations before the kill */
#define BATCH_ROUNDS 12	    /* rounds of group commits */
#define BATCH_KILL_MAX 1200
#define BATCH_MAX 50	   /* operations per group commit, at most */
#define KILL_POINTS_MIN 20 /* distinct kill points the issue asks for */
#define DELAY_MAX_US 3000  /* random delay between the kill point and kill */
#define LEASE_MS 1000000000LL
#define CHILD_ALARM_S 60    /* the child's safety net */
#define ACK_TIMEOUT_MS 5000 /* longest silence from the child (x tu_slow) */
#define PARENT_NOW 10000000000LL /* after anything the child used */

/* Records the child writes to the pipe. */
enum {
	OP_PUSH = 1,
	OP_LEASE,
	OP_TOUCH,
	OP_COMPLETE,
	OP_FAIL,
	OP_CANCEL,
	OP_INTENT, /* not an acknowledgement: size of the batch now starting */
	OP_ERROR,  /* the child hit an unexpected error and exits */
};

struct ack {
	uint32_t op;
	uint32_t attempt; /* lease, touch, complete, fail; error: source line */
	uint64_t id;
	uint64_t token;
	/* push: argv number; lease, touch: deadline; fail: new state;
	 * intent: batch size; error: the ksched_err (-1: unexpected id) */
	int64_t aux;
};

_Static_assert(sizeof(struct ack) == 32, "struct ack has padding");

/* ---- the child ---------------------------------------------------------- */

struct held {
	uint64_t id;
	uint64_t token;
	uint32_t attempt;
};

struct child {
	ksched_store *s;
	ksched_queue *q;
	int fd;
	uint64_t rng;
	int64_t now;
	uint64_t pushed;
	struct held *held;
	size_t nheld, capheld;
	bool batch;
	struct ack out[BATCH_MAX];
	size_t nout;
};

static void
child_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		p += n;
		len -= (size_t)n;
	}
}

static _Noreturn void
child_die(struct child *c, int line, int64_t err)
{
	struct ack a = {OP_ERROR, (uint32_t)line, 0, 0, err};

	child_write(c->fd, &a, sizeof(a));
	_exit(2);
}

#define CHILD_CHECK(c, expr)                                                   \
	do {                                                                   \
		ksched_err e_ = (expr);                                        \
		if (e_)                                                        \
			child_die((c), __LINE__, e_);                          \
	} while (0)

/* Acknowledge now, or at the commit of the open batch. */
static void
child_ack(struct child *c, uint32_t op, uint32_t attempt, uint64_t id,
	  uint64_t token, int64_t aux)
{
	struct ack a = {op, attempt, id, token, aux};

	if (c->batch)
		c->out[c->nout++] = a;
	else
		child_write(c->fd, &a, sizeof(a));
}

static size_t
child_pick(struct child *c)
{
	return (size_t)(tu_rand(&c->rng) % c->nheld);
}

static void
child_drop(struct child *c, size_t i)
{
	c->held[i] = c->held[--c->nheld];
}

static void
child_push(struct child *c)
{
	char num[24];
	const char *argv[2] = {"/bin/echo", num};
	uint64_t id = 0, n = c->pushed + 1;
	ksched_task *t;
	ksched_err e;

	snprintf(num, sizeof(num), "%" PRIu64, n);
	CHILD_CHECK(c, ksched_task_new(&t));
	CHILD_CHECK(c, ksched_task_set_argv(t, 2, argv));
	ksched_task_set_priority(t, (int32_t)(tu_rand(&c->rng) % 5) - 2);
	ksched_task_set_retry(t, (int64_t)(tu_rand(&c->rng) % 3), 1, 4);
	if (tu_rand(&c->rng) % 8 == 0)
		ksched_task_set_not_before(
		    t, c->now + 1 + (int64_t)(tu_rand(&c->rng) % 10));
	e = ksched_queue_push(c->q, t, c->now, &id, NULL, 0);
	ksched_task_free(t);
	if (e)
		child_die(c, __LINE__, e);
	if (id != n)
		child_die(c, __LINE__, -1);
	c->pushed = n;
	child_ack(c, OP_PUSH, 0, id, 0, (int64_t)n);
}

static void
child_lease(struct child *c)
{
	struct ksched_lease l;
	size_t n;

	CHILD_CHECK(c, ksched_queue_lease(c->q, c->now, LEASE_MS, 1, &l, &n));
	if (!n)
		return;
	if (c->nheld == c->capheld) {
		size_t cap = c->capheld ? 2 * c->capheld : 64;
		struct held *p = realloc(c->held, cap * sizeof(*p));
		if (!p)
			child_die(c, __LINE__, KSCHED_ENOMEM);
		c->held = p;
		c->capheld = cap;
	}
	c->held[c->nheld++] = (struct held){l.id, l.token, l.attempt};
	child_ack(c, OP_LEASE, l.attempt, l.id, l.token, l.deadline);
}

static void
child_touch(struct child *c)
{
	struct held *h;
	int64_t dl;

	if (!c->nheld)
		return;
	h = &c->held[child_pick(c)];
	CHILD_CHECK(c, ksched_queue_touch(c->q, h->id, h->token, c->now,
					  LEASE_MS, &dl));
	child_ack(c, OP_TOUCH, h->attempt, h->id, h->token, dl);
}

static void
child_complete(struct child *c)
{
	char res[32];
	struct held h;
	size_t i;

	if (!c->nheld)
		return;
	i = child_pick(c);
	h = c->held[i];
	snprintf(res, sizeof(res), "r%" PRIu64, h.id);
	CHILD_CHECK(c, ksched_queue_complete(c->q, h.id, h.token, c->now, res,
					     strlen(res)));
	child_drop(c, i);
	child_ack(c, OP_COMPLETE, h.attempt, h.id, h.token, 0);
}

static void
child_fail(struct child *c)
{
	char msg[32];
	enum ksched_state st;
	struct held h;
	size_t i;

	if (!c->nheld)
		return;
	i = child_pick(c);
	h = c->held[i];
	snprintf(msg, sizeof(msg), "boom %" PRIu64, h.id);
	CHILD_CHECK(c,
		    ksched_queue_fail(c->q, h.id, h.token, c->now, msg, &st));
	child_drop(c, i);
	child_ack(c, OP_FAIL, h.attempt, h.id, h.token, st);
}

static void
child_cancel(struct child *c)
{
	uint64_t id;
	ksched_err e;

	if (!c->pushed)
		return;
	id = 1 + tu_rand(&c->rng) % c->pushed;
	e = ksched_queue_cancel(c->q, id, c->now);
	if (e == KSCHED_ESTATE)
		return; /* already ended: a refusal changes nothing */
	if (e)
		child_die(c, __LINE__, e);
	for (size_t i = 0; i < c->nheld; i++) {
		if (c->held[i].id == id) {
			child_drop(c, i);
			break;
		}
	}
	child_ack(c, OP_CANCEL, 0, id, 0, 0);
}

/* One random operation: it changes at most one task (and promotions). */
static void
child_step(struct child *c)
{
	uint64_t r = tu_rand(&c->rng) % 100;

	c->now += 1 + (int64_t)(tu_rand(&c->rng) % 3);
	if (r < 30)
		child_push(c);
	else if (r < 55)
		child_lease(c);
	else if (r < 62)
		child_touch(c);
	else if (r < 77)
		child_complete(c);
	else if (r < 89)
		child_fail(c);
	else
		child_cancel(c);
}

static _Noreturn void
child_main(const char *dir, uint64_t seed, bool batch, int fd)
{
	struct child c = {.fd = fd, .rng = seed, .now = 1000, .batch = batch};
	char err[256];

	alarm(CHILD_ALARM_S);
	CHILD_CHECK(&c, ksched_store_open(dir, KSCHED_SYNC_STRICT, &c.s, err,
					  sizeof(err)));
	CHILD_CHECK(&c, ksched_queue_open(c.s, seed, &c.q));
	for (;;) {
		struct ack intent = {OP_INTENT, 0, 0, 0, 0};
		if (!batch) {
			child_step(&c);
			continue;
		}
		intent.aux = 1 + (int64_t)(tu_rand(&c.rng) % BATCH_MAX);
		child_write(fd, &intent, sizeof(intent));
		CHILD_CHECK(&c, ksched_store_begin(c.s));
		c.nout = 0;
		for (int64_t i = 0; i < intent.aux; i++)
			child_step(&c);
		CHILD_CHECK(&c, ksched_store_commit(c.s));
		/* At most 50 records: one atomic write (<= PIPE_BUF). */
		child_write(fd, c.out, c.nout * sizeof(c.out[0]));
	}
}

/* ---- the parent: run a child, kill it ----------------------------------- */

struct run {
	uint64_t seed;
	bool batch;
	size_t kill_at;	  /* acknowledgements to read before the kill */
	long delay_us;	  /* then wait this long */
	struct ack *acks; /* acknowledgements, in order (no intents) */
	size_t nacks, capacks;
	int64_t inflight; /* changes that may have committed unacknowledged */
	bool child_error;
	struct ack error;
	char msg[256]; /* why the run failed */
};

static void
run_add(struct run *r, const struct ack *a)
{
	if (a->op == OP_INTENT) {
		r->inflight = a->aux;
		return;
	}
	if (a->op == OP_ERROR) {
		r->child_error = true;
		r->error = *a;
		return;
	}
	if (r->nacks == r->capacks) {
		r->capacks = r->capacks ? 2 * r->capacks : 1024;
		r->acks = realloc(r->acks, r->capacks * sizeof(*r->acks));
		if (!r->acks)
			abort();
	}
	r->acks[r->nacks++] = *a;
}

/* Read what is in the pipe; 0 at EOF, -1 on timeout or error, else 1. */
static int
run_read(struct run *r, int fd, unsigned char *buf, size_t *have)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;
	size_t off = 0;
	int rc;

	do
		rc = poll(&p, 1, ACK_TIMEOUT_MS * tu_slow());
	while (rc < 0 && errno == EINTR);
	if (rc <= 0) {
		snprintf(r->msg, sizeof(r->msg),
			 "child silent for %d ms (poll: %s)",
			 ACK_TIMEOUT_MS * tu_slow(),
			 rc ? strerror(errno) : "timeout");
		return -1;
	}
	do
		n = read(fd, buf + *have, 4096 - *have);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		snprintf(r->msg, sizeof(r->msg), "read: %s", strerror(errno));
		return -1;
	}
	if (n == 0)
		return 0;
	*have += (size_t)n;
	for (; *have - off >= sizeof(struct ack); off += sizeof(struct ack)) {
		struct ack a;
		memcpy(&a, buf + off, sizeof(a));
		run_add(r, &a);
	}
	memmove(buf, buf + off, *have - off);
	*have -= off;
	return 1;
}

static void
kill_and_reap(pid_t pid, int *status)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

/*
 * Fork a child on dir, read its acknowledgements until r->kill_at of them,
 * wait r->delay_us, SIGKILL it, reap it and read what it wrote before it
 * died.  The child is dead and reaped when this returns; -1 and r->msg on
 * failure.
 */
static int
run_child(struct run *r, const char *dir)
{
	unsigned char buf[4096];
	size_t have = 0;
	int fds[2], status = 0, rc = 1;
	pid_t pid;

	if (pipe(fds) != 0) {
		snprintf(r->msg, sizeof(r->msg), "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(r->msg, sizeof(r->msg), "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(dir, r->seed, r->batch, fds[1]);
	}
	close(fds[1]);
	while (rc > 0 && r->nacks < r->kill_at && !r->child_error)
		rc = run_read(r, fds[0], buf, &have);
	if (rc > 0 && r->delay_us > 0) {
		struct timespec ts = {0, r->delay_us * 1000L};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	kill_and_reap(pid, &status);
	/* Records written before the kill were acknowledged too. */
	while (rc > 0)
		rc = run_read(r, fds[0], buf, &have);
	close(fds[0]);
	/* A trailing partial record (have != 0) is discarded. */
	if (r->child_error) {
		snprintf(r->msg, sizeof(r->msg),
			 "child failed at line %u: %s (%lld)", r->error.attempt,
			 r->error.aux < 0
			     ? "unexpected task id"
			     : ksched_strerror((ksched_err)r->error.aux),
			 (long long)r->error.aux);
		return -1;
	}
	if (rc < 0)
		return -1;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		snprintf(r->msg, sizeof(r->msg),
			 "child ended by itself (status 0x%x) after %zu "
			 "acknowledgements",
			 (unsigned)status, r->nacks);
		return -1;
	}
	return 0;
}

/* ---- the parent: what must be on disk ----------------------------------- */

/* The last acknowledged state of a task; PENDING stands for PENDING or
 * READY (a lease promotes due tasks without saying so). */
struct mtask {
	uint8_t st;
	uint32_t attempts;
	uint64_t token;
	int64_t deadline;
};

struct model {
	struct mtask *t; /* indexed by id; t[0] unused */
	uint64_t pushed;
	size_t counts[OP_CANCEL + 1];
};

static bool
model_is(const struct model *m, uint64_t id, uint8_t st)
{
	return id >= 1 && id <= m->pushed && m->t[id].st == st;
}

/* Replay the acknowledgements; they come from one sequential client, so
 * any inconsistency is a bug of the test itself. */
static void
model_build(struct model *m, const struct run *r)
{
	m->t = calloc(r->nacks + 2, sizeof(*m->t));
	assert_non_null(m->t);
	m->pushed = 0;
	memset(m->counts, 0, sizeof(m->counts));
	for (size_t i = 0; i < r->nacks; i++) {
		const struct ack *a = &r->acks[i];
		struct mtask *t = &m->t[a->id <= m->pushed ? a->id : 0];

		if (a->op < OP_PUSH || a->op > OP_CANCEL)
			fail_msg("unknown record op %u", a->op);
		m->counts[a->op]++;
		switch (a->op) {
		case OP_PUSH:
			assert_int_equal(a->id, m->pushed + 1);
			assert_int_equal(a->aux, a->id);
			t = &m->t[++m->pushed];
			t->st = KSCHED_STATE_PENDING;
			break;
		case OP_LEASE:
			assert_true(model_is(m, a->id, KSCHED_STATE_PENDING));
			assert_int_equal(a->attempt, t->attempts + 1);
			t->st = KSCHED_STATE_LEASED;
			t->attempts = a->attempt;
			t->token = a->token;
			t->deadline = a->aux;
			break;
		case OP_TOUCH:
			assert_true(model_is(m, a->id, KSCHED_STATE_LEASED));
			assert_int_equal(a->token, t->token);
			t->deadline = a->aux;
			break;
		case OP_COMPLETE:
		case OP_FAIL:
			assert_true(model_is(m, a->id, KSCHED_STATE_LEASED));
			assert_int_equal(a->token, t->token);
			t->st = a->op == OP_COMPLETE ? KSCHED_STATE_SUCCEEDED
				: a->aux == KSCHED_STATE_DEAD
				    ? KSCHED_STATE_DEAD
				    : KSCHED_STATE_PENDING;
			t->token = 0;
			break;
		case OP_CANCEL:
			assert_true(a->id >= 1 && a->id <= m->pushed);
			assert_false(t->st == KSCHED_STATE_SUCCEEDED ||
				     t->st == KSCHED_STATE_DEAD ||
				     t->st == KSCHED_STATE_CANCELED);
			t->st = KSCHED_STATE_CANCELED;
			t->token = 0;
			break;
		}
	}
}

static bool
waiting(enum ksched_state st)
{
	return st == KSCHED_STATE_PENDING || st == KSCHED_STATE_READY;
}

/* Fails the test unless the stored spec is the one the child pushed. */
static void
check_spec(const ksched_task *spec, uint64_t id)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, id);
	assert_int_equal(ksched_task_argc(spec), 2);
	assert_string_equal(ksched_task_arg(spec, 0), "/bin/echo");
	assert_string_equal(ksched_task_arg(spec, 1), num);
	assert_string_equal(ksched_task_kind(spec), KSCHED_KIND_EXEC);
}

static void
check_result(ksched_queue *q, uint64_t id, const char *want)
{
	void *res = NULL;
	size_t len = 0;
	ksched_err e = ksched_queue_result(q, id, &res, &len);

	if (e)
		fail_msg("task %" PRIu64 ": succeeded but no result: %s", id,
			 ksched_strerror(e));
	if (len != strlen(want) || memcmp(res, want, len) != 0)
		fail_msg("task %" PRIu64 ": result is \"%.*s\", want \"%s\"",
			 id, (int)len, res ? (const char *)res : "", want);
	ksched_free(res);
}

/*
 * Check task id against its last acknowledged state m (NULL: never
 * acknowledged).  Returns whether it is further along than m, which only
 * the operation or batch in flight at the kill may explain.
 */
static bool
check_task(ksched_queue *q, uint64_t id, const struct mtask *m)
{
	struct ksched_task_info in;
	ksched_task *spec = NULL;
	char want[32];
	ksched_err e = ksched_queue_get(q, id, &in, &spec);
	bool ahead;

	if (e)
		fail_msg("task %" PRIu64 ": %s after the crash: %s", id,
			 m ? "acknowledged push lost" : "unreadable",
			 ksched_strerror(e));
	check_spec(spec, id);
	ksched_task_free(spec);
	if ((in.state == KSCHED_STATE_LEASED) != (in.token != 0))
		fail_msg("task %" PRIu64 ": %s with token %" PRIx64, id,
			 ksched_state_name(in.state), in.token);
	if (in.state == KSCHED_STATE_SUCCEEDED) {
		snprintf(want, sizeof(want), "r%" PRIu64, id);
		check_result(q, id, want);
	}
	snprintf(want, sizeof(want), "boom %" PRIu64, id);
	if ((waiting(in.state) || in.state == KSCHED_STATE_DEAD) &&
	    strcmp(in.last_error, in.attempts ? want : "") != 0)
		fail_msg("task %" PRIu64 ": %s after %u attempts with error "
			 "\"%s\"",
			 id, ksched_state_name(in.state), in.attempts,
			 in.last_error);
	if (!m)
		return true; /* pushed, unacknowledged: any state will do */
	switch (m->st) {
	case KSCHED_STATE_PENDING:
		if (waiting(in.state) && in.attempts == m->attempts)
			return false;
		ahead = in.attempts > m->attempts ||
			(in.attempts == m->attempts &&
			 in.state == KSCHED_STATE_CANCELED);
		break;
	case KSCHED_STATE_LEASED:
		if (in.state == KSCHED_STATE_LEASED &&
		    in.attempts == m->attempts) {
			/* A later deadline: an unacknowledged touch. */
			if (in.token != m->token || in.due < m->deadline)
				fail_msg("task %" PRIu64
					 ": lease token %" PRIx64
					 " deadline %" PRId64
					 ", acknowledged %" PRIx64 " %" PRId64,
					 id, in.token, in.due, m->token,
					 m->deadline);
			return in.due != m->deadline;
		}
		ahead = in.attempts > m->attempts ||
			(in.attempts == m->attempts &&
			 in.state != KSCHED_STATE_LEASED);
		break;
	default: /* final */
		if (in.state == m->st && in.attempts == m->attempts)
			return false;
		ahead = false;
		break;
	}
	if (!ahead)
		fail_msg("task %" PRIu64
			 ": %s with %u attempts, but %s with %u "
			 "attempts was acknowledged",
			 id, ksched_state_name(in.state), in.attempts,
			 m->st == KSCHED_STATE_PENDING
			     ? "pending/ready"
			     : ksched_state_name((enum ksched_state)m->st),
			 m->attempts);
	return true;
}

/* ---- rounds -------------------------------------------------------------- */

struct fx {
	char *dir;
	ksched_store *s;
	ksched_queue *q;
	struct run run;
	struct model model;
};

static void
fx_open(struct fx *f, uint64_t seed)
{
	char err[256] = "";
	ksched_err e = ksched_store_open(f->dir, KSCHED_SYNC_STRICT, &f->s, err,
					 sizeof(err));

	if (e)
		fail_msg("reopen after the crash: %s: %s", ksched_strerror(e),
			 err);
	e = ksched_queue_open(f->s, seed, &f->q);
	if (e)
		fail_msg("queue open after the crash: %s", ksched_strerror(e));
}

static void
fx_close(struct fx *f)
{
	ksched_queue_close(f->q);
	ksched_store_close(f->s);
	f->q = NULL;
	f->s = NULL;
}

static void
fx_verify(struct fx *f, const char *when)
{
	char err[512] = "";
	ksched_err e = ksched_queue_verify(f->q, err, sizeof(err));

	if (e)
		fail_msg("verify %s: %s: %s", when, ksched_strerror(e), err);
}

static void
fx_reset(struct fx *f)
{
	fx_close(f);
	tu_rmtree(f->dir);
	f->dir = NULL;
	free(f->run.acks);
	free(f->model.t);
	memset(&f->run, 0, sizeof(f->run));
	memset(&f->model, 0, sizeof(f->model));
}

static int
setup(void **state)
{
	*state = calloc(1, sizeof(struct fx));
	return *state ? 0 : -1;
}

static int
teardown(void **state)
{
	fx_reset(*state);
	free(*state);
	return 0;
}

static uint64_t
base_seed(void)
{
	const char *s = getenv("KSCHED_CRASH_SEED");

	return s && *s ? strtoull(s, NULL, 0) : CRASH_SEED;
}

/*
 * After the checks, keep using the reopened queue: finish a lease the dead
 * child held (its token must still work), push, lease and complete a new
 * task, and see all of it survive one more reopen.
 */
static void
use_after_crash(struct fx *f, uint64_t total, uint64_t seed)
{
	struct ksched_task_info in;
	struct ksched_lease l;
	const char *argv[2] = {"/bin/echo", ""};
	char num[24];
	ksched_task *t;
	uint64_t held = 0, id = 0;
	int64_t now = PARENT_NOW;
	size_t n;

	for (uint64_t i = 1; i <= f->model.pushed && !held; i++) {
		if (f->model.t[i].st == KSCHED_STATE_LEASED &&
		    ksched_queue_get(f->q, i, &in, NULL) == KSCHED_OK &&
		    in.state == KSCHED_STATE_LEASED &&
		    in.token == f->model.t[i].token)
			held = i;
	}
	if (held) {
		snprintf(num, sizeof(num), "r%" PRIu64, held);
		assert_int_equal(ksched_queue_complete(f->q, held,
						       f->model.t[held].token,
						       now, num, strlen(num)),
				 KSCHED_OK);
	}
	snprintf(num, sizeof(num), "%" PRIu64, total + 1);
	argv[1] = num;
	assert_int_equal(ksched_task_new(&t), KSCHED_OK);
	assert_int_equal(ksched_task_set_argv(t, 2, argv), KSCHED_OK);
	ksched_task_set_priority(t, KSCHED_PRIORITY_MAX);
	assert_int_equal(ksched_queue_push(f->q, t, now, &id, NULL, 0),
			 KSCHED_OK);
	ksched_task_free(t);
	assert_int_equal(id, total + 1);
	assert_int_equal(ksched_queue_lease(f->q, now, 1000, 1, &l, &n),
			 KSCHED_OK);
	assert_int_equal(n, 1);
	assert_int_equal(l.id, id);
	snprintf(num, sizeof(num), "r%" PRIu64, id);
	assert_int_equal(
	    ksched_queue_complete(f->q, id, l.token, now + 1, num, strlen(num)),
	    KSCHED_OK);
	fx_verify(f, "after using the reopened queue");
	fx_close(f);
	fx_open(f, seed);
	fx_verify(f, "after a second reopen");
	assert_int_equal(ksched_queue_get(f->q, id, &in, NULL), KSCHED_OK);
	assert_int_equal(in.state, KSCHED_STATE_SUCCEEDED);
	check_result(f->q, id, num);
	if (held) {
		assert_int_equal(ksched_queue_get(f->q, held, &in, NULL),
				 KSCHED_OK);
		assert_int_equal(in.state, KSCHED_STATE_SUCCEEDED);
		snprintf(num, sizeof(num), "r%" PRIu64, held);
		check_result(f->q, held, num);
	}
}

/*
 * One round: run a child, kill it after kill_at acknowledgements (plus a
 * random delay), then check the store.  Returns the number of acknowledged
 * operations at the kill (the kill point).
 */
static size_t
crash_round(struct fx *f, int round, uint64_t seed, bool batch, size_t kill_at)
{
	struct run *r = &f->run;
	uint64_t rng = seed, c[KSCHED_STATE_COUNT], total = 0;
	size_t ahead = 0;

	f->dir = tu_tmpdir("crash");
	r->seed = seed;
	r->batch = batch;
	r->inflight = 1;
	r->kill_at = kill_at;
	r->delay_us =
	    tu_rand(&rng) % 4 ? (long)(tu_rand(&rng) % (DELAY_MAX_US + 1)) : 0;
	if (run_child(r, f->dir) != 0)
		fail_msg("round %d (seed 0x%" PRIx64 "): %s", round, seed,
			 r->msg);
	model_build(&f->model, r);

	/* Another seed than the child's, as a restarted daemon would have. */
	fx_open(f, seed ^ 0x5eed);
	fx_verify(f, "after the crash");
	ksched_queue_counts(f->q, c);
	for (int i = 0; i < KSCHED_STATE_COUNT; i++)
		total += c[i];
	if (total < f->model.pushed ||
	    total > f->model.pushed + (uint64_t)r->inflight)
		fail_msg("round %d (seed 0x%" PRIx64 "): %" PRIu64
			 " tasks stored, %" PRIu64 " pushes acknowledged, "
			 "at most %" PRId64 " more in flight",
			 round, seed, total, f->model.pushed, r->inflight);
	for (uint64_t id = 1; id <= total; id++)
		ahead += check_task(
		    f->q, id, id <= f->model.pushed ? &f->model.t[id] : NULL);
	assert_int_equal(ksched_queue_get(f->q, total + 1, NULL, NULL),
			 KSCHED_ENOENT);
	if (ahead > (size_t)r->inflight)
		fail_msg("round %d (seed 0x%" PRIx64 "): %zu tasks ahead of "
			 "their acknowledged state, at most %" PRId64
			 " in flight",
			 round, seed, ahead, r->inflight);
	print_message("round %2d seed 0x%016" PRIx64 " %s: killed after %4zu "
		      "acks (+%4ld us): %3zu push %3zu lease %3zu complete "
		      "%3zu fail %3zu cancel; stored %3" PRIu64
		      " tasks (%" PRIu64 " ready %" PRIu64 " leased %" PRIu64
		      " succeeded %" PRIu64 " dead %" PRIu64
		      " canceled), %zu ahead\n",
		      round, seed, batch ? "batch " : "single", r->nacks,
		      r->delay_us, f->model.counts[OP_PUSH],
		      f->model.counts[OP_LEASE], f->model.counts[OP_COMPLETE],
		      f->model.counts[OP_FAIL], f->model.counts[OP_CANCEL],
		      total, c[KSCHED_STATE_PENDING] + c[KSCHED_STATE_READY],
		      c[KSCHED_STATE_LEASED], c[KSCHED_STATE_SUCCEEDED],
		      c[KSCHED_STATE_DEAD], c[KSCHED_STATE_CANCELED], ahead);
	use_after_crash(f, total, seed ^ 0x5eed);
	return r->nacks;
}

/*
 * Kill points are random, one in each of `rounds` equal slices of
 * 1..kill_max taken in a random order, so that they differ even when the
 * child runs a few acknowledgements ahead of the parent's reading.
 */
static void
crash_rounds(struct fx *f, uint64_t seed, int rounds, bool batch,
	     size_t kill_max)
{
	size_t points[SINGLE_ROUNDS + BATCH_ROUNDS];
	size_t span = kill_max / (size_t)rounds;
	int slice[SINGLE_ROUNDS + BATCH_ROUNDS];
	int distinct = 0;

	assert_true(rounds <= SINGLE_ROUNDS + BATCH_ROUNDS && span > 0);
	for (int i = 0; i < rounds; i++)
		slice[i] = i;
	for (int i = rounds - 1; i > 0; i--) {
		int j = (int)(tu_rand(&seed) % (uint64_t)(i + 1));
		int t = slice[i];
		slice[i] = slice[j];
		slice[j] = t;
	}
	for (int i = 0; i < rounds; i++) {
		size_t at = (size_t)slice[i] * span + 1 +
			    (size_t)(tu_rand(&seed) % span);
		size_t p = crash_round(f, i, tu_rand(&seed), batch, at);
		bool seen = false;
		for (int j = 0; j < distinct; j++)
			seen = seen || points[j] == p;
		if (!seen)
			points[distinct++] = p;
		fx_reset(f);
	}
	print_message("%s: %d rounds, %d distinct kill points, all "
		      "acknowledged changes found\n",
		      batch ? "batches" : "single ops", rounds, distinct);
	if (!batch)
		assert_true(distinct >= KILL_POINTS_MIN);
}

static void
test_queue_crash_sigkill_rounds(void **state)
{
	crash_rounds(*state, base_seed(), SINGLE_ROUNDS, false,
		     SINGLE_KILL_MAX);
}

static void
test_queue_crash_batches(void **state)
{
	crash_rounds(*state, base_seed() ^ 0xba7c4ull, BATCH_ROUNDS, true,
		     BATCH_KILL_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_queue_crash_sigkill_rounds,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_crash_batches, setup,
					    teardown),
	};

	print_message("base seed 0x%016" PRIx64 " (KSCHED_CRASH_SEED)\n",
		      base_seed());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
