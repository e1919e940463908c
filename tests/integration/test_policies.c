/*
 * The real master with a policy plugin (.so): tasks queued before any
 * worker exists run, on a one-slot worker, in the order the policy says.
 * The plugins are built by tests/plugins.mk into BUILD/plugins.
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

enum { N = 6 };
static const int64_t est[N] = {600, 100, 500, 200, 400, 300};

/* Run N tasks under policy; order[] gets the task numbers in run order. */
static void
run_order(const char *policy, int order[N])
{
	struct tc_cluster cl;
	char env[700], num[N][8], path[700];
	const char *margs[] = {"--http", "none", "--policy", policy, NULL};
	const char *wargs[] = {"--slots", "1", "--cpu", "1000", NULL};
	ksched_client *c;
	uint64_t ids[N];
	pid_t master, worker;
	FILE *f;

	tc_init(&cl, "policy");
	snprintf(env, sizeof(env), "D=%s", cl.dir);
	tc_start_master(&cl, margs, &master);
	assert_int_equal(ksched_client_open(cl.ctl, &c), KSCHED_OK);
	for (int i = 0; i < N; i++) {
		const char *argv[] = {"/bin/sh", "-c", "echo $N >> $D/order",
				      NULL};
		char nenv[16];
		ksched_task *t;
		snprintf(num[i], sizeof(num[i]), "%d", i);
		snprintf(nenv, sizeof(nenv), "N=%d", i);
		assert_int_equal(ksched_task_new(&t), 0);
		assert_int_equal(ksched_task_set_argv(t, 3, argv), 0);
		assert_int_equal(ksched_task_add_env(t, env), 0);
		assert_int_equal(ksched_task_add_env(t, nenv), 0);
		ksched_task_set_est_runtime_ms(t, est[i]);
		ksched_task_set_resources(t, 500, 0, 0);
		ids[i] = tc_submit(c, t);
	}
	/* Only now a worker: everything is queued when placement starts. */
	tc_start_worker(&cl, "w", wargs, &worker);
	tc_wait_all(c, ids, N, 20000);
	snprintf(path, sizeof(path), "%s/order", cl.dir);
	f = fopen(path, "r");
	assert_non_null(f);
	for (int i = 0; i < N; i++)
		assert_int_equal(fscanf(f, "%d", &order[i]), 1);
	fclose(f);
	ksched_client_close(c);
	assert_int_equal(tc_stop(master, &worker, 1, 10000), 0);
	tc_remove(&cl);
}

static void
plugin_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/../plugins/%s", td_bindir(), name);
}

/* Shortest job first, loaded from its .so: shortest estimate first. */
static void
test_policies_sjf_plugin_orders_by_estimate(void **state)
{
	char so[4400];
	int order[N];

	(void)state;
	plugin_path(so, sizeof(so), "sjf.so");
	if (access(so, R_OK) != 0) {
		print_message("skip: %s not built (make all builds it)\n", so);
		skip();
	}
	run_order(so, order);
	for (int i = 1; i < N; i++)
		assert_true(est[order[i - 1]] < est[order[i]]);
}

/* The default policy: priority (all 0 here), then submission order. */
static void
test_policies_default_is_fifo(void **state)
{
	int order[N];

	(void)state;
	run_order("least_loaded", order);
	for (int i = 0; i < N; i++)
		assert_int_equal(order[i], i);
}

/* A broken plugin stops the master at start with a clear message. */
static void
test_policies_broken_plugin_refused(void **state)
{
	char so[4400], log[700], line[512];
	char *dir = tu_tmpdir("policy");
	const char *args[] = {"--http", "none", "--data", dir, "--control", "ipc:///nonexistent/c",
			      "--policy", so, NULL};
	pid_t p;
	int st = 0;
	int64_t end = td_now_ms() + 10000 * tu_slow();
	FILE *f;
	bool said = false;

	(void)state;
	plugin_path(so, sizeof(so), "badmagic.so");
	snprintf(log, sizeof(log), "%s/log", dir);
	if (access(so, R_OK) != 0) {
		tu_rmtree(dir);
		skip();
	}
	p = td_start("ksched-master", log, args);
	while (waitpid(p, &st, WNOHANG) == 0 && td_now_ms() < end)
		td_sleep_ms(10);
	assert_true(td_now_ms() < end);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	f = fopen(log, "r");
	while (f && fgets(line, sizeof(line), f))
		said |= strstr(line, "badmagic.so") != NULL;
	if (f)
		fclose(f);
	assert_true(said);
	tu_rmtree(dir);
}

/* Workers with labels; tasks with a selector go only where they match. */
static void
test_policies_selector_routes_by_label(void **state)
{
	struct tc_cluster cl;
	const char *margs[] = {"--http", "none", NULL};
	const char *zones[2] = {"zone=a", "zone=b"}, *ids[2] = {"wa", "wb"};
	struct ksched_worker_status *ws;
	struct ksched_task_status st;
	pid_t master, w[2];
	ksched_client *c;
	uint64_t tid[6];
	size_t nw;

	(void)state;
	tc_init(&cl, "policy");
	tc_start_master(&cl, margs, &master);
	for (int i = 0; i < 2; i++) {
		const char *wargs[] = {"--label", zones[i], NULL};
		tc_start_worker(&cl, ids[i], wargs, &w[i]);
	}
	assert_int_equal(ksched_client_open(cl.ctl, &c), KSCHED_OK);
	for (int i = 0; i < 6; i++) {
		const char *argv[] = {"/bin/true"};
		char salt[8];
		ksched_task *t;
		snprintf(salt, sizeof(salt), "%d", i);
		assert_int_equal(ksched_task_new(&t), 0);
		assert_int_equal(ksched_task_set_argv(t, 1, argv), 0);
		assert_int_equal(ksched_task_set_salt(t, salt), 0);
		ksched_task_set_resources(t, 100, 0, 0);
		assert_int_equal(ksched_task_add_selector(t, "zone",
							  i < 5 ? "b" : "c"),
				 0);
		tid[i] = tc_submit(c, t);
	}
	tc_wait_all(c, tid, 5, 20000);
	assert_int_equal(ksched_client_workers(c, &ws, &nw), KSCHED_OK);
	for (size_t i = 0; i < nw; i++)
		assert_int_equal(ws[i].completed,
				 strcmp(ws[i].id, "wb") ? 0 : 5);
	ksched_free(ws);
	assert_int_equal(ksched_client_status(c, &tid[5], 1, &st), KSCHED_OK);
	assert_int_equal(st.state, KSCHED_STATE_READY);
	print_message("pending: %s\n", st.pending_reason);
	assert_non_null(strstr(st.pending_reason, "labels"));
	ksched_client_close(c);
	assert_int_equal(tc_stop(master, w, 2, 10000), 0);
	tc_remove(&cl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policies_sjf_plugin_orders_by_estimate),
		cmocka_unit_test(test_policies_default_is_fifo),
		cmocka_unit_test(test_policies_broken_plugin_refused),
		cmocka_unit_test(test_policies_selector_routes_by_label),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
