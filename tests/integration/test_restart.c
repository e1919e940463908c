/*
 * Leases across a master restart, with the real daemons on ipc:// sockets:
 * a master killed -9 and started again on its data gives back, once the
 * workers had their chance to report (the adoption window), the leases
 * nobody claims, and adopts a gang whose parts all report.
 * Heartbeats every 300 ms, dead after 6 missed: the window is
 * 2 s + (6 + 1) * 300 ms, some room for a loaded machine.
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
	const char *extra[] = {"--http", "none", "--heartbeat-interval", "300",
			       "--dead-after", "6", "--log-level", "info",
			       NULL};

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

	tc_init(&f->cl, "restart");
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

/* A shell task of `nodes` parts, no retry; $D in script is the test's
 * directory. */
static uint64_t
sh_task(struct fx *f, const char *script, int64_t nodes)
{
	char env[700];
	const char *argv[3] = {"/bin/sh", "-c", script};
	ksched_task *t;
	uint64_t id;

	snprintf(env, sizeof(env), "D=%s", f->cl.dir);
	assert_int_equal(ksched_task_new(&t), 0);
	assert_int_equal(ksched_task_set_argv(t, 3, argv), 0);
	assert_int_equal(ksched_task_add_env(t, env), 0);
	ksched_task_set_resources(t, 100, 10, 0);
	ksched_task_set_nodes(t, nodes);
	ksched_task_set_retry(t, 0, 100, 200);
	ksched_task_set_cache(t, true, 0);
	assert_int_equal(ksched_client_submit(f->c,
					      (const ksched_task *const *)&t,
					      1, &id, NULL),
			 KSCHED_OK);
	ksched_task_free(t);
	return id;
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

/* Whether the master's log has a line containing what. */
static bool
master_logged(struct fx *f, const char *what)
{
	char p[700], line[1024];
	bool found = false;
	FILE *fp;

	snprintf(p, sizeof(p), "%s/master.log", f->cl.dir);
	fp = fopen(p, "r");
	while (fp && !found && fgets(line, sizeof(line), fp))
		found = strstr(line, what) != NULL;
	if (fp)
		fclose(fp);
	return found;
}

/* Kill the process whose PID the task wrote into file name (an orphan of
 * a worker killed -9). */
static void
kill_pidfile(struct fx *f, const char *name)
{
	char p[700];
	long pid = -1;
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", f->cl.dir, name);
	fp = fopen(p, "r");
	if (fp) {
		if (fscanf(fp, "%ld", &pid) != 1)
			pid = -1;
		fclose(fp);
	}
	if (pid > 1)
		kill((pid_t)pid, SIGKILL);
}

/*
 * The master and the worker holding a lease are both killed -9; the
 * master comes back: nobody reports the lease, so it goes back when the
 * window closes (about 4.1 s), not when it runs out (60 s), and the
 * attempt is not counted (the task has no retry left to spend).
 */
static void
test_restart_dead_holder_retried_in_window(void **state)
{
	struct fx *f = *state;
	uint64_t id = sh_task(f,
			      "echo x >> $D/lost.runs; "
			      "[ $(wc -l < $D/lost.runs) -ge 2 ] || "
			      "{ echo $$ > $D/lost.pid; exec sleep 60; }",
			      1);
	struct ksched_task_status st = tc_wait_state(f->c, id, KSCHED_STATE_LEASED,
						  10000);
	int w = st.worker[1] - '0';
	int64_t t0, ms;

	assert_true(w >= 0 && w < NW);
	tc_wait_path(&f->cl, "lost.pid");
	td_kill(f->master);
	td_kill(f->workers[w]);
	f->workers[w] = 0;
	kill_pidfile(f, "lost.pid");
	t0 = td_now_ms();
	start_master(f);
	st = tc_wait_state(f->c, id, KSCHED_STATE_SUCCEEDED, 20000);
	ms = td_now_ms() - t0;
	print_message("lease of a dead holder retried %lld ms after the "
		      "master restarted\n",
		      (long long)ms);
	assert_true(ms < 30000);
	assert_int_equal(count_lines(f, "lost.runs"), 2);
	assert_int_equal(st.attempts, 1);
	assert_true(master_logged(f, "handed back\" count=1 adopted=0"));
}

/*
 * A gang of 2 on the 2 workers survives a master restart: both parts
 * report their ranks, the gang is adopted and completes once, with its
 * first attempt.
 */
static void
test_restart_gang_adopted(void **state)
{
	struct fx *f = *state;
	uint64_t id = sh_task(f,
			      "echo x >> $D/gang.$KSCHED_RANK; sleep 10; "
			      "echo r$KSCHED_RANK",
			      2);
	struct ksched_task_status st;

	tc_wait_state(f->c, id, KSCHED_STATE_LEASED, 10000);
	tc_wait_path(&f->cl, "gang.0");
	tc_wait_path(&f->cl, "gang.1");
	td_kill(f->master);
	start_master(f);
	st = tc_wait_state(f->c, id, KSCHED_STATE_SUCCEEDED, 30000);
	assert_int_equal(count_lines(f, "gang.0"), 1);
	assert_int_equal(count_lines(f, "gang.1"), 1);
	assert_int_equal(st.attempts, 1);
	assert_true(master_logged(f, "gang adopted"));
	assert_true(master_logged(f, "handed back\" count=0 adopted=1"));
}

/*
 * A gang part that ends while the master is down sends its completion
 * when the master is back: with the other part's heartbeat, the gang is
 * adopted and completes once.
 */
static void
test_restart_gang_part_ended_meanwhile(void **state)
{
	struct fx *f = *state;
	uint64_t id = sh_task(f,
			      "echo x >> $D/ug.$KSCHED_RANK; "
			      "if [ $KSCHED_RANK = 1 ]; then i=0; "
			      "while [ ! -e $D/go ] && [ $i -lt 400 ]; do "
			      "sleep 0.05; i=$((i+1)); done; "
			      "echo d > $D/ug.done; else sleep 10; fi",
			      2);
	struct ksched_task_status st;
	char go[700];
	FILE *fp;

	tc_wait_state(f->c, id, KSCHED_STATE_LEASED, 10000);
	tc_wait_path(&f->cl, "ug.0");
	tc_wait_path(&f->cl, "ug.1");
	td_kill(f->master);
	snprintf(go, sizeof(go), "%s/go", f->cl.dir);
	fp = fopen(go, "w");
	assert_non_null(fp);
	fclose(fp);
	tc_wait_path(&f->cl, "ug.done");
	start_master(f);
	st = tc_wait_state(f->c, id, KSCHED_STATE_SUCCEEDED, 30000);
	assert_int_equal(count_lines(f, "ug.0"), 1);
	assert_int_equal(count_lines(f, "ug.1"), 1);
	assert_int_equal(st.attempts, 1);
	assert_true(master_logged(f, "parts=2 done=1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(n) cmocka_unit_test_setup_teardown(n, setup, teardown)
		T(test_restart_dead_holder_retried_in_window),
		T(test_restart_gang_adopted),
		T(test_restart_gang_part_ended_meanwhile),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
