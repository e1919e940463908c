/*
 * Unit tests for the worker runtime: executors without a network
 * (libksched/worker_exec.c), the public API, and the protocol against a
 * fake master (REP0 + SURVEYOR0 on ipc:// in a temp dir) in the test itself.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ksched_task *
mk_task(const char *kind, const char *payload)
{
	ksched_task *t;

	assert_int_equal(ksched_task_new(&t), KSCHED_OK);
	assert_int_equal(ksched_task_set_kind(t, kind), KSCHED_OK);
	if (payload)
		assert_int_equal(
		    ksched_task_set_payload(t, payload, strlen(payload)),
		    KSCHED_OK);
	return t;
}

static ksched_task *
mk_exec(size_t argc, const char *const *argv)
{
	ksched_task *t = mk_task("exec", NULL);

	assert_int_equal(ksched_task_set_argv(t, argc, argv), KSCHED_OK);
	return t;
}

/* Run t with the exec executor; the caller clears r. */
static void
run_exec(ksched_task *t, struct ksched__result *r)
{
	memset(r, 0, sizeof(*r));
	ksched__exec_run(t, NULL, r);
	ksched_task_free(t);
}

static void
run_sim(const char *payload, struct ksched__result *r)
{
	ksched_task *t = mk_task("sim", payload);

	memset(r, 0, sizeof(*r));
	ksched__sim_run(t, NULL, r);
	ksched_task_free(t);
}

static void
assert_out(const struct ksched__result *r, const char *want)
{
	if (!r->ok)
		fail_msg("task failed: %s", r->error ? r->error : "?");
	assert_int_equal(r->len, strlen(want));
	assert_memory_equal(r->out, want, r->len);
}

/* --- exec -------------------------------------------------------------------
 */

static void
test_worker_exec_echo(void **state)
{
	const char *argv[] = {"/bin/echo", "hi"};
	struct ksched__result r;

	(void)state;
	run_exec(mk_exec(2, argv), &r);
	assert_out(&r, "hi\n");
	assert_null(r.error);
	assert_int_equal(r.exit_status, 0);
	ksched__result_clear(&r);
}

static void
test_worker_exec_stdin_from_payload(void **state)
{
	const char *argv[] = {"cat"}; /* found on PATH */
	size_t n = 300000;
	char *big = malloc(n + 1);
	ksched_task *t;
	struct ksched__result r;

	(void)state;
	t = mk_exec(1, argv);
	assert_int_equal(ksched_task_set_payload(t, "hello world", 11),
			 KSCHED_OK);
	run_exec(t, &r);
	assert_out(&r, "hello world");
	ksched__result_clear(&r);

	/* larger than a pipe buffer both ways: no deadlock */
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	big[n] = 0;
	t = mk_exec(1, argv);
	assert_int_equal(ksched_task_set_payload(t, big, n), KSCHED_OK);
	run_exec(t, &r);
	assert_out(&r, big);
	ksched__result_clear(&r);
	free(big);
}

static void
test_worker_exec_env(void **state)
{
	const char *argv[] = {"/bin/sh", "-c", "echo $FOO-$KS_OVR-$KS_KEEP"};
	ksched_task *t = mk_exec(3, argv);
	struct ksched__result r;

	(void)state;
	setenv("KS_OVR", "old", 1);
	setenv("KS_KEEP", "kept", 1);
	assert_int_equal(ksched_task_add_env(t, "FOO=bar"), KSCHED_OK);
	assert_int_equal(ksched_task_add_env(t, "KS_OVR=first"), KSCHED_OK);
	assert_int_equal(ksched_task_add_env(t, "KS_OVR=new"), KSCHED_OK);
	run_exec(t, &r);
	assert_out(&r, "bar-new-kept\n");
	ksched__result_clear(&r);
	unsetenv("KS_OVR");
	unsetenv("KS_KEEP");
}

static void
test_worker_exec_cwd(void **state)
{
	const char *argv[] = {"/bin/sh", "-c", "pwd -P"};
	char *dir = tu_tmpdir("wcwd");
	char real[PATH_MAX + 2];
	ksched_task *t = mk_exec(3, argv);
	struct ksched__result r;

	(void)state;
	assert_non_null(realpath(dir, real));
	strcat(real, "\n");
	assert_int_equal(ksched_task_set_cwd(t, dir), KSCHED_OK);
	run_exec(t, &r);
	assert_out(&r, real);
	ksched__result_clear(&r);

	t = mk_exec(3, argv);
	assert_int_equal(ksched_task_set_cwd(t, "/no/such/dir"), KSCHED_OK);
	run_exec(t, &r);
	assert_false(r.ok);
	assert_string_equal(r.error, "cannot change directory to "
				     "'/no/such/dir': No such file or "
				     "directory");
	ksched__result_clear(&r);
	tu_rmtree(dir);
}

static void
test_worker_exec_exit_status_and_stderr(void **state)
{
	const char *argv[] = {
	    "/bin/sh", "-c", "echo out; echo first >&2; echo oops >&2; exit 3"};
	struct ksched__result r;

	(void)state;
	run_exec(mk_exec(3, argv), &r);
	assert_false(r.ok);
	assert_int_equal(r.exit_status, 3);
	assert_string_equal(r.error, "exit status 3: first\noops");
	ksched__result_clear(&r);
}

static void
test_worker_exec_stderr_tail_is_the_last_4k(void **state)
{
	/* 10000 'x' then "END" on stderr: only the last 4096 bytes kept */
	static const char script[] =
	    "head -c 10000 /dev/zero | tr '\\0' x >&2; echo END >&2; exit 1";
	const char *argv[] = {"/bin/sh", "-c", script};
	struct ksched__result r;
	size_t n;

	(void)state;
	run_exec(mk_exec(3, argv), &r);
	assert_false(r.ok);
	n = strlen(r.error);
	assert_true(n < 4096 + 32);
	assert_true(n > 4000);
	assert_string_equal(r.error + n - 4, "xEND");
	assert_memory_equal(r.error, "exit status 1: xxx", 18);
	ksched__result_clear(&r);
}

static void
test_worker_exec_killed_by_signal(void **state)
{
	const char *argv[] = {"/bin/sh", "-c", "kill -9 $$"};
	struct ksched__result r;

	(void)state;
	run_exec(mk_exec(3, argv), &r);
	assert_false(r.ok);
	assert_string_equal(r.error, "killed by signal 9");
	assert_int_equal(r.exit_status, 128 + 9);
	ksched__result_clear(&r);
}

static void
test_worker_exec_missing_binary(void **state)
{
	const char *argv[] = {"/no/such/program", "x"};
	const char *argv2[] = {"no-such-program-on-path"};
	struct ksched__result r;

	(void)state;
	run_exec(mk_exec(2, argv), &r);
	assert_false(r.ok);
	assert_int_equal(r.exit_status, 127);
	assert_string_equal(r.error, "cannot execute '/no/such/program': "
				     "No such file or directory");
	ksched__result_clear(&r);
	run_exec(mk_exec(1, argv2), &r);
	assert_false(r.ok);
	assert_int_equal(r.exit_status, 127);
	ksched__result_clear(&r);
	run_exec(mk_task("exec", NULL), &r);
	assert_false(r.ok);
	assert_string_equal(r.error, "exec: the task has no argv");
	ksched__result_clear(&r);
}

static void
test_worker_exec_output_cap(void **state)
{
	const char *argv[] = {"/bin/sh", "-c",
			      "head -c 3000000 /dev/zero; echo done >&2"};
	struct ksched__result r;

	(void)state;
	run_exec(mk_exec(3, argv), &r);
	assert_true(r.ok);
	assert_int_equal(r.len, KSCHED__EXEC_OUT_MAX);
	ksched__result_clear(&r);
}

/* Members of process group pgid that are not zombies. */
static int
live_in_group(pid_t pgid)
{
	DIR *d;
	struct dirent *e;
	int n = 0;

	if (kill(-pgid, 0) != 0 && errno == ESRCH)
		return 0;
	assert_non_null(d = opendir("/proc"));
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[512], st, *p;
		int ppid, pgrp;
		size_t k;
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		k = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[k] = 0;
		if ((p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%c %d %d", &st, &ppid, &pgrp) == 3 &&
		    pgrp == pgid && st != 'Z' && st != 'X')
			n++;
	}
	closedir(d);
	return n;
}

static pid_t
read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	int pid = 0;

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	return (pid_t)pid;
}

static void
test_worker_exec_timeout_kills_the_group(void **state)
{
	char *dir = tu_tmpdir("wto");
	char script[600], pidf[520];
	const char *argv[] = {"/bin/sh", "-c", script};
	ksched_task *t;
	struct ksched__result r;
	int64_t t0 = now_ms();
	pid_t pgid;
	int live = -1;

	(void)state;
	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	snprintf(script, sizeof(script), "echo $$ > %s; sleep 30 & sleep 30",
		 pidf);
	t = mk_exec(3, argv);
	ksched_task_set_timeout_ms(t, 300);
	run_exec(t, &r);
	assert_true(now_ms() - t0 < 5000);
	assert_false(r.ok);
	assert_string_equal(r.error, "timed out after 300 ms");
	pgid = read_pid(pidf);
	assert_true(pgid > 1);
	for (int i = 0; i < 200 && live; i++) {
		live = live_in_group(pgid);
		if (live)
			nng_msleep(10);
	}
	assert_int_equal(live, 0);
	ksched__result_clear(&r);
	tu_rmtree(dir);
}

static void
test_worker_exec_term_ignored_gets_kill(void **state)
{
	const char *argv[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30"};
	ksched_task *t = mk_exec(3, argv);
	struct ksched__result r;
	int64_t t0 = now_ms();

	(void)state;
	ksched_task_set_timeout_ms(t, 100);
	run_exec(t, &r);
	assert_true(now_ms() - t0 >= 100 + KSCHED__EXEC_KILL_GRACE_MS - 50);
	assert_true(now_ms() - t0 < 10000);
	assert_string_equal(r.error, "timed out after 100 ms");
	ksched__result_clear(&r);
}

static void *
cancel_later(void *arg)
{
	nng_msleep(200);
	atomic_store((atomic_bool *)arg, true);
	return NULL;
}

static void
test_worker_exec_cancel(void **state)
{
	const char *argv[] = {"/bin/sleep", "30"};
	ksched_task *t = mk_exec(2, argv);
	struct ksched__result r = {0};
	atomic_bool cancel;
	pthread_t th;
	int64_t t0 = now_ms();

	(void)state;
	atomic_init(&cancel, false);
	assert_int_equal(pthread_create(&th, NULL, cancel_later, &cancel), 0);
	ksched__exec_run(t, &cancel, &r);
	pthread_join(th, NULL);
	assert_true(now_ms() - t0 < 5000);
	assert_false(r.ok);
	assert_string_equal(r.error, "canceled: worker stopping");
	ksched__result_clear(&r);
	ksched_task_free(t);
}

/* --- sim -------------------------------------------------------------------
 */

static void
test_worker_sim_noop(void **state)
{
	struct ksched__result r;

	(void)state;
	run_sim(NULL, &r);
	assert_out(&r, "{\"ok\":true}");
	ksched__result_clear(&r);
	run_sim("{}", &r);
	assert_out(&r, "{\"ok\":true}");
	ksched__result_clear(&r);
}

static void
test_worker_sim_pi_is_deterministic(void **state)
{
	struct ksched__result a, b;
	double pi = 0;

	(void)state;
	run_sim("{\"pi_samples\": 200000, \"seed\": 42}", &a);
	run_sim("{\"pi_samples\": 200000, \"seed\": 42}", &b);
	assert_true(a.ok);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.out, b.out, a.len);
	assert_int_equal(sscanf(a.out, "{\"pi\":%lf", &pi), 1);
	assert_true(pi > 3.10 && pi < 3.18);
	assert_non_null(strstr(a.out, "\"samples\":200000}"));
	ksched__result_clear(&a);
	ksched__result_clear(&b);
}

static void
test_worker_sim_work(void **state)
{
	struct ksched__result r;
	int64_t t0 = now_ms();

	(void)state;
	run_sim("{\"cpu_ms\": 20, \"mem_mb\": 4, \"sleep_ms\": 50}", &r);
	assert_true(now_ms() - t0 >= 50);
	assert_out(&r, "{\"ok\":true}");
	ksched__result_clear(&r);
}

static void
test_worker_sim_failures(void **state)
{
	struct ksched__result r;

	(void)state;
	run_sim("{\"fail\": true}", &r);
	assert_false(r.ok);
	assert_string_equal(r.error, "simulated failure");
	ksched__result_clear(&r);
	run_sim("{\"exit\": 7}", &r);
	assert_false(r.ok);
	assert_int_equal(r.exit_status, 7);
	assert_string_equal(r.error, "exit status 7");
	ksched__result_clear(&r);
	run_sim("{\"cpu_ms\": ", &r);
	assert_false(r.ok);
	assert_memory_equal(r.error, "sim: bad payload: ", 18);
	assert_true(strlen(r.error) > 18);
	ksched__result_clear(&r);
	run_sim("[1, 2]", &r);
	assert_string_equal(r.error, "sim: bad payload: not a JSON object");
	ksched__result_clear(&r);
	run_sim("{\"cpu_ms\": -1}", &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.error, "'cpu_ms'"));
	ksched__result_clear(&r);
}

/* --- handlers and the API ------------------------------------------------ */

static ksched_err
h_upper(void *arg, const ksched_task *task, void **out, size_t *len, char *err,
	size_t errlen)
{
	size_t n;
	const char *p = ksched_task_payload(task, &n);
	char *o = malloc(n ? n : 1);

	(void)err;
	(void)errlen;
	(*(int *)arg)++;
	for (size_t i = 0; i < n; i++)
		o[i] = (char)toupper((unsigned char)p[i]);
	*out = o;
	*len = n;
	return KSCHED_OK;
}

static ksched_err
h_fail(void *arg, const ksched_task *task, void **out, size_t *len, char *err,
       size_t errlen)
{
	(void)arg;
	(void)task;
	(void)len;
	*out = malloc(3); /* freed by the worker even on failure */
	snprintf(err, errlen, "handler says no");
	return KSCHED_EINVAL;
}

static void
test_worker_handlers(void **state)
{
	ksched_worker *w;
	ksched_task *t;
	struct ksched__result r = {0};
	int calls = 0;

	(void)state;
	assert_int_equal(ksched_worker_new("w-h", &w), KSCHED_OK);
	assert_int_equal(ksched_worker_handle(w, "upper", h_upper, &calls),
			 KSCHED_OK);
	assert_int_equal(ksched_worker_handle(w, "nope", h_fail, NULL),
			 KSCHED_OK);
	t = mk_task("upper", "abc");
	ksched__worker_run(w, t, NULL, &r);
	ksched_task_free(t);
	assert_int_equal(calls, 1);
	assert_out(&r, "ABC");
	ksched__result_clear(&r);

	t = mk_task("nope", "x");
	ksched__worker_run(w, t, NULL, &r);
	ksched_task_free(t);
	assert_false(r.ok);
	assert_string_equal(r.error, "handler says no");
	ksched__result_clear(&r);

	t = mk_task("mystery", "x");
	ksched__worker_run(w, t, NULL, &r);
	ksched_task_free(t);
	assert_false(r.ok);
	assert_string_equal(r.error, "no handler for kind 'mystery'");
	ksched__result_clear(&r);

	t = mk_task("sim", NULL); /* built-ins dispatch through it too */
	ksched__worker_run(w, t, NULL, &r);
	ksched_task_free(t);
	assert_out(&r, "{\"ok\":true}");
	ksched__result_clear(&r);
	ksched_worker_free(w);
}

static void
test_worker_api_bad_arguments(void **state)
{
	struct ksched_resources cap = {1000, 100, 0, 0};
	char long_id[80];
	ksched_worker *w = NULL;

	(void)state;
	memset(long_id, 'a', 65);
	long_id[65] = 0;
	assert_int_equal(ksched_worker_new("", &w), KSCHED_EINVAL);
	assert_int_equal(ksched_worker_new("a b", &w), KSCHED_EINVAL);
	assert_int_equal(ksched_worker_new(long_id, &w), KSCHED_EINVAL);
	assert_null(w);
	long_id[64] = 0;
	assert_int_equal(ksched_worker_new(long_id, &w), KSCHED_OK);
	assert_int_equal(ksched_worker_set_capacity(w, &cap), KSCHED_EINVAL);
	cap.slots = 2;
	cap.cpu_milli = -1;
	assert_int_equal(ksched_worker_set_capacity(w, &cap), KSCHED_EINVAL);
	cap.cpu_milli = 1000;
	assert_int_equal(ksched_worker_set_capacity(w, &cap), KSCHED_OK);
	assert_int_equal(ksched_worker_handle(w, "exec", h_fail, NULL),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_worker_handle(w, "bad kind", h_fail, NULL),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_worker_add_label(w, "zone", "a"), KSCHED_OK);
	assert_int_equal(ksched_worker_add_label(w, "zone", "b"), KSCHED_OK);
	assert_int_equal(ksched_worker_add_label(w, "", "b"), KSCHED_EINVAL);
	assert_int_equal(ksched_worker_set_master(w, "", NULL), KSCHED_EINVAL);
	assert_int_equal(ksched_worker_stop(w), KSCHED_ESTATE);
	assert_int_equal(ksched_worker_set_master(w, "bogus://x", NULL),
			 KSCHED_OK);
	assert_int_equal(ksched_worker_start(w), KSCHED_EINVAL);
	ksched_worker_free(w);
	ksched_worker_free(NULL);
}

static void
test_worker_new_alloc_failure_walk(void **state)
{
	(void)state;
	for (long n = 0; n < 10; n++) {
		ksched_worker *w = NULL;
		ksched_err e;

		ksched__alloc_fail_after(n);
		e = ksched_worker_new("w", &w);
		ksched__alloc_fail_after(-1);
		if (e == KSCHED_OK) {
			ksched_worker_free(w);
			return;
		}
		assert_int_equal(e, KSCHED_ENOMEM);
		assert_null(w);
	}
	fail_msg("ksched_worker_new never succeeded");
}

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

/* Up to max sim tasks into a (spec buffers freed by fake_free_tasks). */
static size_t
fake_tasks(struct fake *f, uint32_t max, Ksched__Assignment *a,
	   Ksched__Assignment **ap)
{
	size_t n = 0;

	while (f->to_hand > 0 && n < max) {
		char payload[64];
		ksched_task *t;
		void *buf;
		size_t len;
		uint64_t id = ++f->next_id;

		snprintf(payload, sizeof(payload),
			 "{\"pi_samples\": 1000, \"seed\": %d}", (int)id);
		t = mk_task("sim", payload);
		assert_int_equal(ksched_task_encode(t, &buf, &len), KSCHED_OK);
		ksched_task_free(t);
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

static void
test_worker_protocol_with_fake_master(void **state)
{
	struct ksched_resources cap = {2000, 512, 0, 2};
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
	assert_int_equal(ksched_worker_new("w1", &w), KSCHED_OK);
	assert_int_equal(ksched_worker_set_master(w, f.durl, f.hurl),
			 KSCHED_OK);
	assert_int_equal(ksched_worker_set_capacity(w, &cap), KSCHED_OK);
	assert_int_equal(ksched_worker_add_label(w, "zone", "z1"), KSCHED_OK);
	assert_int_equal(ksched_worker_start(w), KSCHED_OK);

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

	t0 = now_ms();
	assert_int_equal(ksched_worker_stop(w), KSCHED_OK);
	assert_true(now_ms() - t0 < 3000 * tu_slow());
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
	struct ksched_resources cap = {2000, 512, 0, 2};
	struct fake f;
	ksched_worker *w;
	Ksched__Request *q;
	int64_t t0;

	(void)state;
	fake_open(&f);
	nng_close(f.rep); /* no master yet (and no peer: safe to close) */
	assert_int_equal(ksched_worker_new("w1", &w), KSCHED_OK);
	assert_int_equal(ksched_worker_set_master(w, f.durl, f.hurl),
			 KSCHED_OK);
	assert_int_equal(ksched_worker_set_capacity(w, &cap), KSCHED_OK);
	assert_int_equal(ksched_worker_add_label(w, "zone", "z1"), KSCHED_OK);
	assert_int_equal(ksched_worker_start(w), KSCHED_OK);
	nng_msleep(300);
	assert_int_equal(nng_rep0_open(&f.rep), 0);
	assert_int_equal(
	    nng_socket_set_ms(f.rep, NNG_OPT_RECVTIMEO, 5000 * tu_slow()), 0);
	assert_int_equal(nng_listen(f.rep, f.durl, NULL, 0), 0);
	assert_int_equal(fake_serve(&f), KSCHED__REQUEST__BODY_REG);
	q = fake_recv(&f); /* a lease, left parked */
	assert_int_equal(q->body_case, KSCHED__REQUEST__BODY_LEASE);
	ksched__proto_request_free(q);
	t0 = now_ms();
	assert_int_equal(ksched_worker_stop(w), KSCHED_OK);
	assert_true(now_ms() - t0 < 3000 * tu_slow());
	ksched_worker_free(w);
	fake_close(&f);
}

static int
setup_log(void **state)
{
	(void)state;
	if (getenv("KSCHED_TEST_LOG"))
		ksched_log_set_sink(ksched_log_stderr, NULL, KSCHED_LOG_DEBUG);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_worker_exec_echo),
	    T(test_worker_exec_stdin_from_payload),
	    T(test_worker_exec_env),
	    T(test_worker_exec_cwd),
	    T(test_worker_exec_exit_status_and_stderr),
	    T(test_worker_exec_stderr_tail_is_the_last_4k),
	    T(test_worker_exec_killed_by_signal),
	    T(test_worker_exec_missing_binary),
	    T(test_worker_exec_output_cap),
	    T(test_worker_exec_timeout_kills_the_group),
	    T(test_worker_exec_term_ignored_gets_kill),
	    T(test_worker_exec_cancel),
	    T(test_worker_sim_noop),
	    T(test_worker_sim_pi_is_deterministic),
	    T(test_worker_sim_work),
	    T(test_worker_sim_failures),
	    T(test_worker_handlers),
	    T(test_worker_api_bad_arguments),
	    T(test_worker_new_alloc_failure_walk),
	    T(test_worker_protocol_with_fake_master),
	    T(test_worker_waits_for_the_master),
	};

	return cmocka_run_group_tests(tests, setup_log, NULL);
}
