/*
 * Fault tolerance with the real daemons on ipc:// sockets: cancel reaching
 * a running task, timeouts, dead letter and retry, drain, a worker stopped
 * or killed mid-task, and a master killed and restarted on its data.
 * Heartbeats every 200 ms so failures are detected within a second.
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

#define NW 2

struct fx {
	struct tc_cluster cl;
	pid_t master, workers[NW];
	ksched_client *c;
};

static void
start_master(struct fx *f)
{
	const char *extra[] = {"--http", "none", "--heartbeat-interval", "200",
			       "--log-level", "info", NULL};

	tc_start_master(&f->cl, extra, &f->master);
}

static void
start_worker(struct fx *f, int i)
{
	char id[32];
	const char *extra[] = {"--cpu", "4000", "--mem", "4096", "--slots", "2",
			       "--log-level", "info", NULL};

	snprintf(id, sizeof(id), "w%d", i);
	tc_start_worker(&f->cl, id, extra, &f->workers[i]);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	tc_init(&f->cl, "faults");
	start_master(f);
	for (int i = 0; i < NW; i++)
		start_worker(f, i);
	assert_int_equal(ksched_client_open(f->cl.ctl, &f->c), KSCHED_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	(void)tc_down(&f->cl, f->c, f->master, f->workers, NW, 15000);
	free(f);
	return 0;
}

/* A shell task; $D in script is the test's directory. */
static uint64_t
sh_task(struct fx *f, const char *script, int64_t timeout_ms, int retries)
{
	char env[700];
	const char *argv[3] = {"/bin/sh", "-c", script};
	ksched_task *t;

	snprintf(env, sizeof(env), "D=%s", f->cl.dir);
	assert_int_equal(ksched_task_new(&t), 0);
	assert_int_equal(ksched_task_set_argv(t, 3, argv), 0);
	assert_int_equal(ksched_task_add_env(t, env), 0);
	ksched_task_set_resources(t, 100, 10, 0);
	ksched_task_set_timeout_ms(t, timeout_ms);
	ksched_task_set_retry(t, retries, 100, 200);
	ksched_task_set_cache(t, true, 0);
	return tc_submit(f->c, t);
}

static long
read_long(struct fx *f, const char *name)
{
	char p[700];
	long v = -1;
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", f->cl.dir, name);
	fp = fopen(p, "r");
	if (fp) {
		if (fscanf(fp, "%ld", &v) != 1)
			v = -1;
		fclose(fp);
	}
	return v;
}

static int
count_lines(struct fx *f, const char *name)
{
	char p[700], line[64];
	int n = 0;
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", f->cl.dir, name);
	fp = fopen(p, "r");
	while (fp && fgets(line, sizeof(line), fp))
		n++;
	if (fp)
		fclose(fp);
	return n;
}

static bool
pid_gone(long pid, int ms)
{
	int64_t end = td_now_ms() + (int64_t)ms * tu_slow();

	while (kill((pid_t)pid, 0) == 0 && td_now_ms() < end)
		td_sleep_ms(20);
	return kill((pid_t)pid, 0) != 0;
}

static void
test_faults_cancel_stops_running_task(void **state)
{
	struct fx *f = *state;
	uint64_t id = sh_task(f, "echo $$ > $D/cancel.pid; exec sleep 60", 0,
			      0);
	long pid;

	tc_wait_state(f->c, id, KSCHED_STATE_LEASED, 10000);
	tc_wait_path(&f->cl, "cancel.pid");
	pid = read_long(f, "cancel.pid");
	assert_true(pid > 0);
	assert_int_equal(ksched_client_cancel(f->c, &id, 1, NULL), KSCHED_OK);
	assert_true(pid_gone(pid, 5000));
	assert_int_equal(tc_status(f->c, id).state, KSCHED_STATE_CANCELED);
}

static void
test_faults_timeout_then_dead_then_retry(void **state)
{
	struct fx *f = *state;
	/* Runs past its 500 ms timeout the first time, quick afterwards. */
	uint64_t id = sh_task(f,
			      "if [ -e $D/slow.done ]; then echo ok; else "
			      ": > $D/slow.done; sleep 30; fi",
			      500, 0);
	struct ksched_task_status st = tc_wait_state(f->c, id, KSCHED_STATE_DEAD,
						  15000);
	struct ksched_task_status list[8];
	uint64_t next;
	size_t n;
	bool listed = false;

	print_message("dead: %s\n", st.last_error);
	assert_non_null(strstr(st.last_error, "timed out"));
	/* The dead letter list shows it with its error. */
	assert_int_equal(ksched_client_list(f->c, KSCHED_STATE_DEAD, 0, 8,
					    list, &n, &next),
			 KSCHED_OK);
	for (size_t i = 0; i < n; i++)
		listed |= list[i].id == id && list[i].last_error[0];
	assert_true(listed);
	assert_int_equal(ksched_client_retry(f->c, &id, 1, NULL), KSCHED_OK);
	st = tc_wait_state(f->c, id, KSCHED_STATE_SUCCEEDED, 10000);
	assert_int_equal(st.attempts, 1); /* a fresh budget */
}

static void
test_faults_retries_with_backoff(void **state)
{
	struct fx *f = *state;
	/* Fails twice, then succeeds: 2 retries are enough. */
	uint64_t id = sh_task(f,
			      "echo x >> $D/flaky.runs; "
			      "[ $(wc -l < $D/flaky.runs) -ge 3 ]",
			      0, 2);
	struct ksched_task_status st = tc_wait_state(f->c, id,
						  KSCHED_STATE_SUCCEEDED, 10000);

	assert_int_equal(st.attempts, 3);
	assert_int_equal(count_lines(f, "flaky.runs"), 3);
}

static void
test_faults_drain_finishes_then_worker_exits(void **state)
{
	struct fx *f = *state;
	uint64_t id = sh_task(f, "echo x > $D/drain.started; sleep 1; echo done",
			      0, 0);
	struct ksched_task_status st;
	uint32_t running = 0;
	int status, w;
	int64_t end;

	st = tc_wait_state(f->c, id, KSCHED_STATE_LEASED, 10000);
	tc_wait_path(&f->cl, "drain.started");
	w = st.worker[1] - '0';
	assert_int_equal(ksched_client_drain(f->c, st.worker, &running),
			 KSCHED_OK);
	assert_int_equal(running, 1);
	/* It finishes its task, then exits by itself. */
	tc_wait_state(f->c, id, KSCHED_STATE_SUCCEEDED, 10000);
	end = td_now_ms() + 10000 * tu_slow();
	while (waitpid(f->workers[w], &status, WNOHANG) == 0 &&
	       td_now_ms() < end)
		td_sleep_ms(20);
	assert_true(td_now_ms() < end);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	f->workers[w] = 0;
	/* New work goes to the other worker. */
	id = sh_task(f, "echo after", 0, 0);
	st = tc_wait_state(f->c, id, KSCHED_STATE_SUCCEEDED, 10000);
}

/* SIGTERM mid-task: the task is handed back, not failed, and runs again
 * elsewhere; its attempt is not counted. */
static void
test_faults_worker_sigterm_hands_back(void **state)
{
	struct fx *f = *state;
	uint64_t id = sh_task(f,
			      "echo x >> $D/term.runs; "
			      "[ $(wc -l < $D/term.runs) -ge 2 ] || sleep 60",
			      0, 0);
	struct ksched_task_status st = tc_wait_state(f->c, id, KSCHED_STATE_LEASED,
						  10000);
	int w = st.worker[1] - '0';

	tc_wait_path(&f->cl, "term.runs");
	assert_int_equal(td_stop(f->workers[w], 20000 * tu_slow()), 0);
	f->workers[w] = 0;
	st = tc_wait_state(f->c, id, KSCHED_STATE_SUCCEEDED, 15000);
	assert_int_equal(count_lines(f, "term.runs"), 2);
	assert_int_equal(st.attempts, 1);
}

/* kill -9 of a worker: its task is re-queued within a few heartbeats. */
static void
test_faults_worker_killed_task_requeued(void **state)
{
	struct fx *f = *state;
	uint64_t id = sh_task(f,
			      "echo x >> $D/kill.runs; "
			      "[ $(wc -l < $D/kill.runs) -ge 2 ] || sleep 60",
			      0, 1);
	struct ksched_task_status st = tc_wait_state(f->c, id, KSCHED_STATE_LEASED,
						  10000);
	int w = st.worker[1] - '0';
	int64_t t0;

	tc_wait_path(&f->cl, "kill.runs");
	t0 = td_now_ms();
	td_kill(f->workers[w]);
	f->workers[w] = 0;
	st = tc_wait_state(f->c, id, KSCHED_STATE_SUCCEEDED, 15000);
	print_message("killed worker's task done again after %lld ms\n",
		      (long long)(td_now_ms() - t0));
	assert_int_equal(count_lines(f, "kill.runs"), 2);
}

/* kill -9 of the master mid-task, restart on the same data: the running
 * task keeps its lease and is recorded once; nothing queued is lost. */
static void
test_faults_master_killed_and_restarted(void **state)
{
	struct fx *f = *state;
	uint64_t run = sh_task(f, "echo x >> $D/master.runs; sleep 2; echo r",
			       0, 0);
	uint64_t big[3];
	struct ksched_task_status st;

	tc_wait_state(f->c, run, KSCHED_STATE_LEASED, 10000);
	tc_wait_path(&f->cl, "master.runs");
	/* Tasks no worker can take: they must survive the crash queued. */
	for (int i = 0; i < 3; i++) {
		ksched_task *t;
		const char *argv[] = {"/bin/true"};
		assert_int_equal(ksched_task_new(&t), 0);
		assert_int_equal(ksched_task_set_argv(t, 1, argv), 0);
		ksched_task_set_resources(t, 64000, 0, 0);
		assert_int_equal(ksched_task_set_salt(t, i == 0   ? "a"
							 : i == 1 ? "b"
								  : "c"),
				 0);
		big[i] = tc_submit(f->c, t);
	}
	td_kill(f->master);
	start_master(f);
	st = tc_wait_state(f->c, run, KSCHED_STATE_SUCCEEDED, 20000);
	assert_int_equal(count_lines(f, "master.runs"), 1);
	assert_int_equal(st.attempts, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tc_status(f->c, big[i]).state,
				 KSCHED_STATE_READY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(n) cmocka_unit_test_setup_teardown(n, setup, teardown)
		T(test_faults_cancel_stops_running_task),
		T(test_faults_timeout_then_dead_then_retry),
		T(test_faults_retries_with_backoff),
		T(test_faults_drain_finishes_then_worker_exits),
		T(test_faults_worker_sigterm_hands_back),
		T(test_faults_worker_killed_task_requeued),
		T(test_faults_master_killed_and_restarted),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
