/*
 * A real cluster on ipc:// sockets in a temp dir: ksched-master and four
 * ksched-worker processes, driven through the client API.
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../testutil.h"
#include "cluster.h"
#include "ksched.h"
#include "ksched/client.h"

#define NWORKERS 4

struct fx {
	struct tc_cluster cl;
	pid_t master, workers[NWORKERS];
	ksched_client *c;
};

static void
start_worker(struct fx *f, int i, const char *cpu, const char *slots)
{
	char id[32];
	const char *extra[] = {"--cpu", cpu, "--mem", "4096", "--slots", slots,
			       "--log-level", "info", NULL};

	snprintf(id, sizeof(id), "w%d", i);
	tc_start_worker(&f->cl, id, extra, &f->workers[i]);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *extra[] = {"--http", "none", "--sync", "none",
			       "--log-level", "info", NULL};

	tc_init(&f->cl, "cluster");
	tc_start_master(&f->cl, extra, &f->master);
	for (int i = 0; i < NWORKERS; i++)
		start_worker(f, i, i % 2 ? "4000" : "2000", i % 2 ? "4" : "2");
	assert_int_equal(ksched_client_open(f->cl.ctl, &f->c), KSCHED_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	int rc = tc_down(&f->cl, f->c, f->master, f->workers, NWORKERS, 10000);

	free(f);
	return rc;
}

static ksched_task *
exec_task(const char *a0, const char *a1, const char *a2)
{
	return tc_exec_task(a0, a1, a2, 500, 16);
}

static uint64_t
executions(struct fx *f)
{
	struct ksched_worker_status *ws;
	size_t n;
	uint64_t total = 0;

	assert_int_equal(ksched_client_workers(f->c, &ws, &n), KSCHED_OK);
	assert_int_equal(n, NWORKERS);
	for (size_t i = 0; i < n; i++)
		total += ws[i].completed + ws[i].failed;
	ksched_free(ws);
	return total;
}

/* 1,000 tasks over 4 workers, every result right; every worker used. */
static void
test_cluster_thousand_tasks_correct(void **state)
{
	struct fx *f = *state;
	enum { N = 1000 };
	ksched_task *ts[N];
	uint64_t ids[N];
	char arg[N][16];
	struct ksched_worker_status *ws;
	size_t nw;

	for (int i = 0; i < N; i++) {
		snprintf(arg[i], sizeof(arg[i]), "%d", i);
		ts[i] = exec_task("/bin/echo", arg[i], NULL);
	}
	assert_int_equal(ksched_client_submit(f->c,
					      (const ksched_task *const *)ts,
					      N, ids, NULL),
			 KSCHED_OK);
	tc_wait_all(f->c, ids, N, 120000);
	for (int i = 0; i < N; i++) {
		struct ksched_task_status st;
		char want[24];
		void *res;
		size_t len;
		assert_int_equal(ksched_client_result(f->c, ids[i], &st, &res,
						      &len),
				 KSCHED_OK);
		assert_int_equal(st.state, KSCHED_STATE_SUCCEEDED);
		snprintf(want, sizeof(want), "%d\n", i);
		assert_int_equal(len, strlen(want));
		assert_memory_equal(res, want, len);
		ksched_free(res);
		ksched_task_free(ts[i]);
	}
	assert_int_equal(ksched_client_workers(f->c, &ws, &nw), KSCHED_OK);
	for (size_t i = 0; i < nw; i++) {
		print_message("%s ran %llu\n", ws[i].id,
			      (unsigned long long)ws[i].completed);
		assert_true(ws[i].completed > 0);
		assert_int_equal(ws[i].running, 0);
		assert_int_equal(ws[i].allocated.cpu_milli, 0);
	}
	ksched_free(ws);
}

/* Duplicates are served from the cache: counted executions prove it. */
static void
test_cluster_duplicates_run_once(void **state)
{
	struct fx *f = *state;
	enum { DISTINCT = 20, N = 120 };
	ksched_task *ts[N];
	uint64_t ids[N], before = executions(f);
	char arg[DISTINCT][16];
	struct ksched_task_status st[N];
	int cached = 0;

	for (int i = 0; i < DISTINCT; i++)
		snprintf(arg[i], sizeof(arg[i]), "dup%d", i);
	for (int i = 0; i < N; i++)
		ts[i] = exec_task("/bin/echo", arg[i % DISTINCT], NULL);
	assert_int_equal(ksched_client_submit(f->c,
					      (const ksched_task *const *)ts,
					      N, ids, NULL),
			 KSCHED_OK);
	tc_wait_all(f->c, ids, N, 60000);
	assert_int_equal(ksched_client_status(f->c, ids, N, st), KSCHED_OK);
	for (int i = 0; i < N; i++) {
		assert_int_equal(st[i].state, KSCHED_STATE_SUCCEEDED);
		cached += st[i].cached;
		ksched_task_free(ts[i]);
	}
	print_message("executions %llu, cached %d\n",
		      (unsigned long long)(executions(f) - before), cached);
	assert_int_equal(executions(f) - before, DISTINCT);
	assert_int_equal(cached, N - DISTINCT);
	/* And again, all from the cache at submit. */
	ksched_task *t = exec_task("/bin/echo", "dup3", NULL);
	bool c;
	assert_int_equal(ksched_client_submit(f->c,
					      (const ksched_task *const *)&t,
					      1, ids, &c),
			 KSCHED_OK);
	assert_true(c);
	ksched_task_free(t);
	assert_int_equal(executions(f) - before, DISTINCT);
}

static void
test_cluster_exec_failures_reported(void **state)
{
	struct fx *f = *state;
	ksched_task *ts[2] = {exec_task("/bin/sh", "-c",
					"echo oops >&2; exit 3"),
			      exec_task("/nonexistent/prog", NULL, NULL)};
	struct ksched_task_status st[2];
	uint64_t ids[2];

	assert_int_equal(ksched_client_submit(f->c,
					      (const ksched_task *const *)ts,
					      2, ids, NULL),
			 KSCHED_OK);
	tc_wait_all(f->c, ids, 2, 30000);
	assert_int_equal(ksched_client_status(f->c, ids, 2, st), KSCHED_OK);
	assert_int_equal(st[0].state, KSCHED_STATE_DEAD);
	assert_non_null(strstr(st[0].last_error, "exit status 3"));
	assert_non_null(strstr(st[0].last_error, "oops"));
	assert_int_equal(st[1].state, KSCHED_STATE_DEAD);
	assert_non_null(strstr(st[1].last_error, "/nonexistent/prog"));
	ksched_task_free(ts[0]);
	ksched_task_free(ts[1]);
}

static void
test_cluster_too_big_stays_pending(void **state)
{
	struct fx *f = *state;
	ksched_task *t = exec_task("/bin/true", NULL, NULL);
	struct ksched_task_status st;
	uint64_t id, remaining;
	int64_t end = td_now_ms() + 5000 * tu_slow();

	ksched_task_set_resources(t, 64000, 16, 0);
	id = tc_submit(f->c, t);
	assert_int_equal(ksched_client_wait(f->c, &id, 1, false, 1000,
					    &remaining),
			 KSCHED_OK);
	assert_int_equal(remaining, 1);
	do {
		assert_int_equal(ksched_client_status(f->c, &id, 1, &st),
				 KSCHED_OK);
	} while (!st.pending_reason[0] && td_now_ms() < end);
	assert_int_equal(st.state, KSCHED_STATE_READY);
	print_message("pending: %s\n", st.pending_reason);
	assert_non_null(strstr(st.pending_reason, "no worker is large enough"));
}

/* A gang of 3: all parts at once, on distinct workers, ranks 0..2. */
static void
test_cluster_gang_on_distinct_workers(void **state)
{
	struct fx *f = *state;
	char env[700], path[700], line[32];
	const char *argv[] = {"/bin/sh", "-c",
			      "echo $KSCHED_RANK/$KSCHED_NODES > "
			      "$D/gang.$KSCHED_RANK"};
	struct ksched_worker_status *ws;
	ksched_task *t;
	uint64_t id;
	size_t nw;
	uint64_t total = 0;

	snprintf(env, sizeof(env), "D=%s", f->cl.dir);
	assert_int_equal(ksched_task_new(&t), 0);
	assert_int_equal(ksched_task_set_argv(t, 3, argv), 0);
	assert_int_equal(ksched_task_add_env(t, env), 0);
	ksched_task_set_nodes(t, 3);
	ksched_task_set_resources(t, 500, 16, 0);
	id = tc_submit(f->c, t);
	tc_wait_all(f->c, &id, 1, 30000);
	for (int r = 0; r < 3; r++) {
		FILE *fp;
		char want[16];
		snprintf(path, sizeof(path), "%s/gang.%d", f->cl.dir, r);
		fp = fopen(path, "r");
		assert_non_null(fp);
		assert_non_null(fgets(line, sizeof(line), fp));
		fclose(fp);
		snprintf(want, sizeof(want), "%d/3\n", r);
		assert_string_equal(line, want);
	}
	assert_int_equal(ksched_client_workers(f->c, &ws, &nw), KSCHED_OK);
	for (size_t i = 0; i < nw; i++) {
		assert_true(ws[i].completed <= 1);
		total += ws[i].completed;
	}
	assert_int_equal(total, 3);
	ksched_free(ws);
}

/* Every program refuses bad flags with exit status 2. */
static void
test_cluster_bad_flags_exit_2(void **state)
{
	static const char *progs[] = {"ksched-master", "ksched-worker",
				      "kschedctl"};
	const char *bogus[] = {"--no-such-flag", NULL};
	int st;

	(void)state;
	for (int i = 0; i < 3; i++) {
		pid_t p = td_start(progs[i], NULL, bogus);
		int64_t end = td_now_ms() + 5000 * tu_slow();
		while (waitpid(p, &st, WNOHANG) == 0 && td_now_ms() < end)
			td_sleep_ms(10);
		if (td_now_ms() >= end) {
			td_kill(p);
			fail_msg("%s did not exit", progs[i]);
		}
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 2);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(n) cmocka_unit_test_setup_teardown(n, setup, teardown)
		T(test_cluster_thousand_tasks_correct),
		T(test_cluster_duplicates_run_once),
		T(test_cluster_exec_failures_reported),
		T(test_cluster_too_big_stays_pending),
		T(test_cluster_gang_on_distinct_workers),
		cmocka_unit_test(test_cluster_bad_flags_exit_2),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
