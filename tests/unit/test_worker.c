/*
 * Unit tests for the worker runtime: executors without a network
 * (libksched/worker_exec.c), handlers and the public API.  The protocol,
 * against a fake master, is tested in test_worker_proto.c.
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "ksched/log.h"
#include "ksched/worker.h"
#include "alloc.h"
#include "utf8.h"
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

/* Bytes that are not UTF-8, and a tail cut inside a character. */
static void
test_worker_exec_stderr_tail_is_utf8(void **state)
{
	const char *bad[] = {"/bin/sh", "-c", "printf '\\351\\351' >&2; exit 2"};
	/* U+00E9, 4090 'x', U+00E9 "ok": the 4095 bytes kept start inside
	 * the first character. */
	static const char cut[] =
	    "printf '\\303\\251' >&2; head -c 4090 /dev/zero | tr '\\0' x "
	    ">&2; printf '\\303\\251ok' >&2; exit 1";
	const char *argv[] = {"/bin/sh", "-c", cut};
	struct ksched__result r;

	(void)state;
	run_exec(mk_exec(3, bad), &r);
	assert_false(r.ok);
	assert_string_equal(r.error, "exit status 2: ??");
	ksched__result_clear(&r);
	run_exec(mk_exec(3, argv), &r);
	assert_false(r.ok);
	assert_true(ksched__utf8_valid(r.error));
	assert_memory_equal(r.error, "exit status 1: xxx", 18);
	assert_string_equal(r.error + strlen(r.error) - 4, "\xc3\xa9ok");
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

/* Shared by sim and ksched-worker's pi handler: pinned, bit for bit. */
static void
test_worker_pi_estimate(void **state)
{
	atomic_bool stop;
	double pi = -1;
	char buf[32];

	(void)state;
	assert_true(ksched__pi_estimate(42, 200000, NULL, &pi));
	snprintf(buf, sizeof(buf), "%.6f", pi);
	assert_string_equal(buf, "3.142500");
	assert_true(ksched__pi_estimate(1, 1000000, NULL, &pi));
	snprintf(buf, sizeof(buf), "%.6f", pi);
	assert_string_equal(buf, "3.138764");
	assert_true(ksched__pi_estimate(7, 0, NULL, &pi));
	assert_true(pi == 0);
	atomic_init(&stop, true);
	pi = -1;
	assert_false(ksched__pi_estimate(1, 1u << 21, &stop, &pi));
	assert_true(pi == -1);
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

/* The task's timeout bounds simulated work too. */
static void
test_worker_sim_timeout(void **state)
{
	const char *pl = "{\"sleep_ms\": 5000}";
	ksched_task *t = mk_task("sim", pl);
	struct ksched__result r;
	int64_t t0 = ksched__mono_ms();

	(void)state;
	ksched_task_set_timeout_ms(t, 100);
	memset(&r, 0, sizeof(r));
	ksched__sim_run(t, NULL, &r);
	assert_false(r.ok);
	assert_string_equal(r.error, "timed out after 100 ms");
	assert_true(ksched__mono_ms() - t0 < 2000);
	ksched__result_clear(&r);
	ksched_task_set_timeout_ms(t, 10000);
	ksched_task_free(t);
	t = mk_task("sim", "{\"sleep_ms\": 20}");
	ksched_task_set_timeout_ms(t, 10000);
	ksched__sim_run(t, NULL, &r);
	assert_true(r.ok);
	ksched__result_clear(&r);
	ksched_task_free(t);
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

/* GET path from 127.0.0.1:port over a raw socket: the whole reply. */
static void
http_get(const char *hostport, const char *path, char *out, size_t len)
{
	struct sockaddr_in sa = {0};
	struct timeval tv = {5, 0};
	char req[256];
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(strchr(hostport, ':') + 1));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		 path);
	assert_true(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	while (got + 1 < len && (n = read(fd, out + got, len - got - 1)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(fd);
}

/* --http: /metrics on a port picked at start, gone at stop. */
static void
test_worker_http_metrics(void **state)
{
	struct ksched_resources cap = {1000, 100, 0, 3};
	char url[128], page[16384];
	ksched_worker *w;

	(void)state;
	assert_int_equal(ksched_worker_new("w-http", &w), KSCHED_OK);
	assert_int_equal(ksched_worker_set_http(w, "nonsense"), KSCHED_EINVAL);
	assert_int_equal(ksched_worker_set_http(w, "127.0.0.1:"),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_worker_set_http(w, "127.0.0.1:0"), KSCHED_OK);
	assert_int_equal(ksched_worker_set_capacity(w, &cap), KSCHED_OK);
	/* No master listens there: the worker only keeps dialling. */
	snprintf(url, sizeof(url), "ipc:///tmp/ksched-none-%ld",
		 (long)getpid());
	assert_int_equal(ksched_worker_set_master(w, url, url), KSCHED_OK);
	assert_string_equal(ksched_worker_http_addr(w), "");
	assert_int_equal(ksched_worker_start(w), KSCHED_OK);
	assert_non_null(strstr(ksched_worker_http_addr(w), "127.0.0.1:"));
	assert_int_equal(ksched_worker_set_http(w, "none"), KSCHED_ESTATE);
	http_get(ksched_worker_http_addr(w), "/metrics", page, sizeof(page));
	assert_non_null(strstr(page, "HTTP/1.1 200"));
	assert_non_null(strstr(page, "text/plain; version=0.0.4"));
	assert_non_null(strstr(page, "\nksched_worker_slots 3\n"));
	assert_non_null(strstr(page, "\nksched_worker_registered 0\n"));
	assert_non_null(strstr(page, "ksched_worker_run_seconds_count 0\n"));
	http_get(ksched_worker_http_addr(w), "/other", page, sizeof(page));
	assert_non_null(strstr(page, "HTTP/1.1 404"));
	assert_int_equal(ksched_worker_stop(w), KSCHED_OK);
	assert_string_equal(ksched_worker_http_addr(w), "");
	ksched_worker_free(w);
}

/* Connect to "HOST:PORT" ([v6] or v4); -1 when the family is missing. */
static int
http_connect(const char *hostport)
{
	struct sockaddr_storage ss = {0};
	struct timeval tv = {5, 0};
	const char *colon = strrchr(hostport, ':');
	char host[64];
	int port = atoi(colon + 1), fd;
	socklen_t sl;

	if (hostport[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport - 2),
			 hostport + 1);
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET6, host, &a->sin6_addr), 1);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport),
			 hostport);
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET, host, &a->sin_addr), 1);
		sl = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
	return fd;
}

/* Read until the end of the headers (bounded); all bytes read so far. */
static size_t
read_headers(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	buf[0] = 0;
	while (!strstr(buf, "\r\n\r\n") && got + 1 < len &&
	       (n = read(fd, buf + got, len - got - 1)) > 0) {
		got += (size_t)n;
		buf[got] = 0;
	}
	return got;
}

/* HEAD then GET on one connection: the HEAD has the length, no body. */
static void
head_then_get(const char *hostport, const char *path)
{
	char req[256], head[4096], get[16384];
	const char *cl, *body;
	size_t got, hlen;
	ssize_t n;
	int fd = http_connect(hostport);

	snprintf(req, sizeof(req), "HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n",
		 path);
	assert_true(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	got = read_headers(fd, head, sizeof(head));
	hlen = (size_t)(strstr(head, "\r\n\r\n") + 4 - head);
	/* A body would have come with the headers or right after them. */
	assert_int_equal(got, hlen);
	cl = strstr(head, "Content-Length: ");
	assert_non_null(cl);
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		 path);
	assert_true(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	got = 0;
	while (got + 1 < sizeof(get) &&
	       (n = read(fd, get + got, sizeof(get) - got - 1)) > 0)
		got += (size_t)n;
	get[got] = 0;
	close(fd);
	assert_memory_equal(get, "HTTP/1.1 ", 9);
	body = strstr(get, "\r\n\r\n");
	assert_non_null(body);
	body += 4;
	assert_int_equal(strtoul(cl + 16, NULL, 10), strlen(body));
}

/* HEAD gives the length and no body; the next request is clean. */
static void
test_worker_http_head(void **state)
{
	ksched_worker *w;
	char url[128];

	(void)state;
	assert_int_equal(ksched_worker_new("w-head", &w), KSCHED_OK);
	assert_int_equal(ksched_worker_set_http(w, "127.0.0.1:0"), KSCHED_OK);
	snprintf(url, sizeof(url), "ipc:///tmp/ksched-none-%ld",
		 (long)getpid());
	assert_int_equal(ksched_worker_set_master(w, url, url), KSCHED_OK);
	assert_int_equal(ksched_worker_start(w), KSCHED_OK);
	head_then_get(ksched_worker_http_addr(w), "/other");
	head_then_get(ksched_worker_http_addr(w), "/metrics");
	assert_int_equal(ksched_worker_stop(w), KSCHED_OK);
	ksched_worker_free(w);
}

/* --http [::1]:0 listens on IPv6 loopback and says so. */
static void
test_worker_http_ipv6(void **state)
{
	char url[128], page[16384];
	ksched_worker *w;
	ksched_err e;
	ssize_t n;
	size_t got = 0;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6,
				 .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	static const char req[] =
	    "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

	(void)state;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (fd >= 0)
			close(fd);
		fprintf(stderr, "no IPv6 loopback here: skipping\n");
		skip();
	}
	close(fd);
	assert_int_equal(ksched_worker_new("w-v6", &w), KSCHED_OK);
	assert_int_equal(ksched_worker_set_http(w, "[::1]:0"), KSCHED_OK);
	snprintf(url, sizeof(url), "ipc:///tmp/ksched-none-%ld",
		 (long)getpid());
	assert_int_equal(ksched_worker_set_master(w, url, url), KSCHED_OK);
	e = ksched_worker_start(w);
	assert_int_equal(e, KSCHED_OK);
	assert_memory_equal(ksched_worker_http_addr(w), "[::1]:", 6);
	fd = http_connect(ksched_worker_http_addr(w));
	assert_true(write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1);
	while (got + 1 < sizeof(page) &&
	       (n = read(fd, page + got, sizeof(page) - got - 1)) > 0)
		got += (size_t)n;
	page[got] = 0;
	close(fd);
	assert_non_null(strstr(page, "HTTP/1.1 200"));
	assert_int_equal(ksched_worker_stop(w), KSCHED_OK);
	ksched_worker_free(w);
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
	    T(test_worker_exec_stderr_tail_is_utf8),
	    T(test_worker_exec_killed_by_signal),
	    T(test_worker_exec_missing_binary),
	    T(test_worker_exec_output_cap),
	    T(test_worker_exec_timeout_kills_the_group),
	    T(test_worker_exec_term_ignored_gets_kill),
	    T(test_worker_exec_cancel),
	    T(test_worker_sim_noop),
	    T(test_worker_sim_pi_is_deterministic),
	    T(test_worker_pi_estimate),
	    T(test_worker_sim_work),
	    T(test_worker_sim_failures),
	    T(test_worker_sim_timeout),
	    T(test_worker_handlers),
	    T(test_worker_api_bad_arguments),
	    T(test_worker_http_metrics),
	    T(test_worker_http_head),
	    T(test_worker_http_ipv6),
	    T(test_worker_new_alloc_failure_walk),
	};

	return cmocka_run_group_tests(tests, setup_log, NULL);
}
