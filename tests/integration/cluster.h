/*
 * A real cluster for integration tests: a temp dir with the master's three
 * ipc:// sockets in it, ksched-master and ksched-worker started with the
 * flags every test gives them plus the test's own (a NULL-terminated array
 * appended to the defaults), the "http=HOST:PORT" of a ready file, exec
 * tasks submitted and waited for, and a teardown that stops every PID and
 * removes the dir (kept, and named, when KSCHED_TEST_KEEP is set).
 * Header-only; include after testutil.h and cmocka.h.
 */
#ifndef KSCHED_TEST_CLUSTER_H
#define KSCHED_TEST_CLUSTER_H

#include <ctype.h>

#include "daemon.h"
#include "ksched.h"

#define TC_PATH 600

struct tc_cluster {
	char *dir;		  /* tu_tmpdir's; tc_remove frees it */
	char ctl[TC_PATH];	  /* ipc:// URL of the control socket */
	char dsp[TC_PATH];	  /* ... of the dispatch socket */
	char hbt[TC_PATH];	  /* ... of the heartbeat socket */
	char ready[TC_PATH + 16]; /* the master's ready file */
	char log[TC_PATH + 16];	  /* the master's log (its stderr) */
};

/* A fresh dir named after tag, the socket URLs and the master's paths. */
static inline void
tc_init(struct tc_cluster *cl, const char *tag)
{
	cl->dir = tu_tmpdir(tag);
	snprintf(cl->ctl, sizeof(cl->ctl), "ipc://%s/c.ipc", cl->dir);
	snprintf(cl->dsp, sizeof(cl->dsp), "ipc://%s/d.ipc", cl->dir);
	snprintf(cl->hbt, sizeof(cl->hbt), "ipc://%s/h.ipc", cl->dir);
	snprintf(cl->ready, sizeof(cl->ready), "%s/master.ready", cl->dir);
	snprintf(cl->log, sizeof(cl->log), "%s/master.log", cl->dir);
}

/* args[n..] = extra (may be NULL), then NULL; args holds 64. */
static inline void
tc__append(const char **args, int n, const char *const *extra)
{
	while (extra && *extra && n < 63)
		args[n++] = *extra++;
	args[n] = NULL;
}

/*
 * Start ksched-master on cl's sockets, its store in DIR/data, with the
 * extra flags after the defaults; wait (bounded) for its ready file.  The
 * PID goes to *pid before the wait, so a teardown stops it even when the
 * wait fails the test.  The ready file is removed first: a restart on the
 * same dir waits for the new one.
 */
static inline void
tc_start_master(const struct tc_cluster *cl, const char *const *extra,
		pid_t *pid)
{
	char data[TC_PATH + 16];
	const char *args[64] = {
	    "--data", data,	     "--control", cl->ctl,	  "--dispatch",
	    cl->dsp,  "--heartbeat", cl->hbt,	  "--ready-file", cl->ready};

	snprintf(data, sizeof(data), "%s/data", cl->dir);
	tc__append(args, 10, extra);
	unlink(cl->ready);
	*pid = td_start("ksched-master", cl->log, args);
	if (td_wait_file(cl->ready, *pid, 10000 * tu_slow()))
		fail_msg("master did not start (log %s)", cl->log);
}

/* DIR/ID.SUFFIX into out: a worker's ready file or log. */
static inline void
tc_worker_path(const struct tc_cluster *cl, const char *id, const char *suffix,
	       char *out, size_t len)
{
	snprintf(out, len, "%s/%s.%s", cl->dir, id, suffix);
}

/*
 * Start ksched-worker id on cl's sockets (ready file DIR/ID.ready, log
 * DIR/ID.log) with the extra flags (its shape: --cpu, --mem, --slots,
 * --label ...) after the defaults; wait (bounded) until it has registered.
 * *pid as for tc_start_master.
 */
static inline void
tc_start_worker(const struct tc_cluster *cl, const char *id,
		const char *const *extra, pid_t *pid)
{
	char ready[TC_PATH + 64], log[TC_PATH + 64];
	const char *args[64] = {"--id",	       id,	"--dispatch",	cl->dsp,
				"--heartbeat", cl->hbt, "--ready-file", ready};

	tc_worker_path(cl, id, "ready", ready, sizeof(ready));
	tc_worker_path(cl, id, "log", log, sizeof(log));
	tc__append(args, 8, extra);
	unlink(ready);
	*pid = td_start("ksched-worker", log, args);
	if (td_wait_file(ready, *pid, 10000 * tu_slow()))
		fail_msg("worker %s did not register (log %s)", id, log);
}

/*
 * The HOST:PORT of "http=HOST:PORT" in a ready file (the master writes it
 * on a line of its own, a worker after a space) into out; -1 when there is
 * none.
 */
static inline int
tc_ready_http(const char *ready, char *out, size_t len)
{
	char buf[1024];
	FILE *fp = fopen(ready, "r");
	const char *p = buf;
	size_t n;

	if (!fp)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = 0;
	fclose(fp);
	while ((p = strstr(p, "http=")) && p != buf &&
	       !isspace((unsigned char)p[-1]))
		p++;
	if (!p)
		return -1;
	p += strlen("http=");
	snprintf(out, len, "%.*s", (int)strcspn(p, " \n"), p);
	return out[0] ? 0 : -1;
}

/* The port of a ready file's http= address, or -1. */
static inline int
tc_ready_port(const char *ready)
{
	char addr[256];
	const char *colon;

	if (tc_ready_http(ready, addr, sizeof(addr)))
		return -1;
	colon = strrchr(addr, ':');
	return colon ? atoi(colon + 1) : -1;
}

/*
 * Stop, by PID, each of the n workers that has one (a PID of 0 or less is
 * one the test already stopped), each given worker_ms, then the master
 * (when it has a PID) given 10 s; both scaled by tu_slow().  0 when every
 * one exited cleanly, else -1.
 */
static inline int
tc_stop(pid_t master, const pid_t *workers, int n, int worker_ms)
{
	int bad = 0;

	for (int i = 0; i < n; i++)
		if (workers[i] > 0)
			bad |= td_stop(workers[i], worker_ms * tu_slow()) != 0;
	if (master > 0)
		bad |= td_stop(master, 10000 * tu_slow()) != 0;
	return bad ? -1 : 0;
}

/* Remove cl's dir, or keep it (saying where) when KSCHED_TEST_KEEP is set. */
static inline void
tc_remove(struct tc_cluster *cl)
{
	if (getenv("KSCHED_TEST_KEEP")) {
		fprintf(stderr, "kept %s\n", cl->dir);
		free(cl->dir);
	} else {
		tu_rmtree(cl->dir);
	}
	cl->dir = NULL;
}

/*
 * A fixture's end: close the client c (NULL for none), stop the daemons as
 * tc_stop does, then tc_remove.  What tc_stop returns.
 */
static inline int
tc_down(struct tc_cluster *cl, ksched_client *c, pid_t master,
	const pid_t *workers, int n, int worker_ms)
{
	int rc;

	ksched_client_close(c);
	rc = tc_stop(master, workers, n, worker_ms);
	tc_remove(cl);
	return rc;
}

/* An exec task: argv a0 [a1 [a2]], cpu_milli and mem_mb; the caller frees. */
static inline ksched_task *
tc_exec_task(const char *a0, const char *a1, const char *a2, int64_t cpu,
	     int64_t mem)
{
	const char *argv[3] = {a0, a1, a2};
	int argc = a2 ? 3 : a1 ? 2 : 1;
	ksched_task *t;

	assert_int_equal(ksched_task_new(&t), KSCHED_OK);
	assert_int_equal(ksched_task_set_argv(t, argc, argv), KSCHED_OK);
	ksched_task_set_resources(t, cpu, mem, 0);
	return t;
}

/* Submit the one task t, then free it; its id. */
static inline uint64_t
tc_submit(ksched_client *c, ksched_task *t)
{
	const ksched_task *one = t;
	uint64_t id = 0;

	assert_int_equal(ksched_client_submit(c, &one, 1, &id, NULL),
			 KSCHED_OK);
	ksched_task_free(t);
	return id;
}

/* Wait (bounded by timeout_ms, scaled) until the n tasks are final. */
static inline void
tc_wait_all(ksched_client *c, const uint64_t *ids, size_t n, int timeout_ms)
{
	uint64_t remaining = 1;
	int64_t end = td_now_ms() + (int64_t)timeout_ms * tu_slow();

	while (remaining && td_now_ms() < end)
		assert_int_equal(
		    ksched_client_wait(c, ids, n, false, 1000, &remaining),
		    KSCHED_OK);
	if (remaining)
		fail_msg("%llu of %zu tasks not done in time",
			 (unsigned long long)remaining, n);
}

/* The status of task id (asserting the request succeeds). */
static inline struct ksched_task_status
tc_status(ksched_client *c, uint64_t id)
{
	struct ksched_task_status st;

	assert_int_equal(ksched_client_status(c, &id, 1, &st), KSCHED_OK);
	return st;
}

/* Wait (bounded by ms, scaled) until task id is in state want; its
 * status. */
static inline struct ksched_task_status
tc_wait_state(ksched_client *c, uint64_t id, enum ksched_state want, int ms)
{
	int64_t end = td_now_ms() + (int64_t)ms * tu_slow();
	struct ksched_task_status st;

	do {
		st = tc_status(c, id);
		if (st.state == want)
			return st;
		td_sleep_ms(20);
	} while (td_now_ms() < end);
	fail_msg("task %llu is %s, not %s (error: %s)",
		 (unsigned long long)id, ksched_state_name(st.state),
		 ksched_state_name(want), st.last_error);
	return st;
}

/* Wait (bounded) until file name in the cluster's dir exists, not empty. */
static inline void
tc_wait_path(const struct tc_cluster *cl, const char *name)
{
	char p[TC_PATH + 100];

	snprintf(p, sizeof(p), "%s/%s", cl->dir, name);
	if (td_wait_file(p, 0, 10000 * tu_slow()))
		fail_msg("%s never appeared", p);
}

#endif
