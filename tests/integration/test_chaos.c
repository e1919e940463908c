/*
 * Chaos: 5,000 short exec tasks on 4 workers, master in --sync strict,
 * while a random worker is killed (SIGKILL) and replaced by a new one about
 * every second and the master is killed (SIGKILL) and restarted on its data
 * twice.  Afterwards every task must be final, each success recorded once
 * with its right result, the master's counts must match its listings and
 * the stored records, and the attempts the queue counted must agree with the
 * executions the tasks recorded.  The figures are printed.
 *
 * Each task is `/bin/sh -c SCRIPT t N`.  The script first appends a line to
 * runs/N in the test's directory, so the lines of runs/N count the times
 * task N started.  Most tasks then print N, half of them at once, half
 * then sleeping 10 to 50 ms (a process start costs 5 to 10 ms of CPU on a
 * small VM: the test is CPU bound); 5% fail once on purpose (exit 1) and 3%
 * run past their timeout once (sleep 5 s with a 1 s timeout); both leave
 * mark/N on that first run and succeed on the next.  Every task has 5
 * retries, no cache and its own argv.
 *
 * Accounting (see protocol.md): a lease that ends in a completion, a
 * failure or an expiry counts an attempt; a lease handed back because its
 * worker was declared dead (or registered again) does not, though its task
 * may have started.  So, with X the lease expiries and R the leases handed
 * back (both from the master's log),
 *     attempts - X <= executions <= attempts + R.
 *
 * The master runs with 200 ms heartbeats, dead after 3 missed, and 5 s
 * leases for tasks without a timeout (renewed by heartbeats), so a lease
 * nobody holds after a master restart (granted, but the reply was lost)
 * comes back within seconds.  Tasks with a timeout hold their lease for the
 * timeout plus the core's fixed 30 s grace, so workers are not killed while
 * the master is down or before it has forgotten the last killed one: their
 * leases go back through failure detection, not by expiry.
 *
 * At the end the workers and the master get SIGTERM and must exit cleanly;
 * then the store is opened directly and verified.  The run fails if no task
 * ends for 45 s, or if they are not all final after 240 s (it takes 30 to
 * 60 s on 2 busy cores).  KSCHED_CHAOS_SEED=N changes the task mix and the
 * choice of victims; KSCHED_TEST_KEEP=1 keeps the directory and its logs.
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

#define NTASKS 5000
#define NW 4		     /* live workers */
#define SLOTS 8		     /* per worker (--slots) */
#define SLOTS_ARG "8"
#define RETRIES 5	     /* per task */
#define TASK_TIMEOUT_MS 1000 /* of the time-out-once tasks */
#define HB_MS 200	     /* master --heartbeat-interval */
#define HB_ARG "200"
#define KILL_EVERY_MS 1000 /* a worker killed about this often */
#define MASTER_KILLS 2
#define STALL_MS 45000 /* fail if no task ends for this long */
#define RUN_MS 240000  /* or if they are not all final by then */
#define CALL_MS 2000   /* client timeout while the master may be down */
#define DEFAULT_SEED "20261127"

enum kind { K_OK, K_FAIL_ONCE, K_TIMEOUT_ONCE, K_KINDS };

struct fx {
	struct tc_cluster cl;
	pid_t master;
	pid_t w[NW];
	char wid[NW][16]; /* ids of the live workers */
	int next_w;	  /* number of the next worker id */
	int worker_kills, master_kills;
	uint64_t seed;
	ksched_client *c;
	uint64_t ids[NTASKS];
	uint8_t kind[NTASKS];
	struct ksched_task_status st[NTASKS];
	int runs[NTASKS];
};

/* ---- daemons ------------------------------------------------------------- */

static void
start_master(struct fx *f)
{
	const char *extra[] = {"--http", "none", "--sync", "strict",
			       "--heartbeat-interval", HB_ARG, "--dead-after",
			       "3", "--lease", "5000", "--log-level", "info",
			       NULL};

	tc_start_master(&f->cl, extra, &f->master);
}

/* Start a worker with a new id in live slot i. */
static void
start_worker(struct fx *f, int i)
{
	const char *extra[] = {"--cpu", "8000", "--mem", "4096", "--slots",
			       SLOTS_ARG, "--log-level", "info", NULL};

	snprintf(f->wid[i], sizeof(f->wid[i]), "w%d", f->next_w++);
	tc_start_worker(&f->cl, f->wid[i], extra, &f->w[i]);
}

/* Print the end of a log (on failure, before the directory goes). */
static void
log_tail(const char *path, long bytes)
{
	FILE *fp = fopen(path, "r");
	char line[1024];

	if (!fp)
		return;
	if (fseek(fp, -bytes, SEEK_END) == 0 && fgets(line, sizeof(line), fp))
		; /* skip the partial first line */
	else
		rewind(fp);
	print_message("--- end of %s\n", path);
	while (fgets(line, sizeof(line), fp))
		print_message("    %s", line);
	fclose(fp);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char p[640];
	const char *s = getenv("KSCHED_CHAOS_SEED");

	tc_init(&f->cl, "chaos");
	f->seed = strtoull(s ? s : DEFAULT_SEED, NULL, 10);
	snprintf(p, sizeof(p), "%s/runs", f->cl.dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/mark", f->cl.dir);
	mkdir(p, 0755);
	*state = f;
	start_master(f);
	for (int i = 0; i < NW; i++)
		start_worker(f, i);
	assert_int_equal(ksched_client_open(f->cl.ctl, &f->c), KSCHED_OK);
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	(void)tc_down(&f->cl, f->c, f->master, f->w, NW, 15000);
	free(f);
	return 0;
}

/* ---- client calls that outlast a master restart -------------------------- */

/* Repeat call while the master cannot be reached, for at most ms. */
#define WITH_MASTER(e, ms, call)                                              \
	do {                                                                  \
		int64_t end_ = td_now_ms() + (int64_t)(ms) * tu_slow();       \
		while (((e) = (call)) == KSCHED_ENOTCONN &&                   \
		       td_now_ms() < end_)                                    \
			td_sleep_ms(50);                                      \
	} while (0)

static void
check_ok(struct fx *f, ksched_err e, const char *what)
{
	if (e)
		fail_msg("%s: %s (%s)", what, ksched_strerror(e),
			 ksched_client_last_error(f->c));
}

static bool
is_live(const struct fx *f, const char *id)
{
	for (int i = 0; i < NW; i++)
		if (f->w[i] > 0 && strcmp(f->wid[i], id) == 0)
			return true;
	return false;
}

/*
 * Whether the master lists no worker that was killed and, with all, every
 * live one.
 */
static bool
workers_settled(struct fx *f, bool all)
{
	struct ksched_worker_status *ws = NULL;
	size_t n = 0, live = 0;
	bool ok = true;

	if (ksched_client_workers(f->c, &ws, &n))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (is_live(f, ws[i].id))
			live++;
		else
			ok = false;
	}
	ksched_free(ws);
	return ok && (!all || live == NW);
}

/* ---- the tasks ----------------------------------------------------------- */

#define RUN_LINE "echo x >>\"$D/runs/$1\"; "
#define ONCE(what) "[ -e \"$D/mark/$1\" ] || { : >\"$D/mark/$1\"; " what "; }; "

static ksched_task *
make_task(struct fx *f, int n)
{
	char script[256], num[16], env[700];
	const char *argv[5] = {"/bin/sh", "-c", script, "t", num};
	uint64_t r = tu_rand(&f->seed) % 100;
	/* 1 to 5: sleep 10 to 50 ms; 0 or less (half of them): no sleep */
	int sleep_cs = (int)(tu_rand(&f->seed) % 10) - 4;
	ksched_task *t;

	f->kind[n] = r < 5 ? K_FAIL_ONCE : r < 8 ? K_TIMEOUT_ONCE : K_OK;
	if (f->kind[n] == K_FAIL_ONCE)
		snprintf(script, sizeof(script), "%s",
			 RUN_LINE ONCE("exit 1") "echo $1");
	else if (f->kind[n] == K_TIMEOUT_ONCE)
		snprintf(script, sizeof(script), "%s",
			 RUN_LINE ONCE("exec sleep 5") "echo $1");
	else if (sleep_cs > 0)
		snprintf(script, sizeof(script),
			 RUN_LINE "echo $1; exec sleep 0.0%d", sleep_cs);
	else
		snprintf(script, sizeof(script), "%s", RUN_LINE "echo $1");
	snprintf(num, sizeof(num), "%d", n);
	snprintf(env, sizeof(env), "D=%s", f->cl.dir);
	assert_int_equal(ksched_task_new(&t), KSCHED_OK);
	assert_int_equal(ksched_task_set_argv(t, 5, argv), KSCHED_OK);
	assert_int_equal(ksched_task_add_env(t, env), KSCHED_OK);
	ksched_task_set_resources(t, 100, 0, 0);
	ksched_task_set_retry(t, RETRIES, 50, 200);
	ksched_task_set_cache(t, true, 0);
	if (f->kind[n] == K_TIMEOUT_ONCE)
		ksched_task_set_timeout_ms(t, TASK_TIMEOUT_MS);
	return t;
}

static void
submit_all(struct fx *f)
{
	ksched_task **ts = calloc(NTASKS, sizeof(*ts));
	int nk[K_KINDS] = {0};

	assert_non_null(ts);
	for (int i = 0; i < NTASKS; i++) {
		ts[i] = make_task(f, i);
		nk[f->kind[i]]++;
	}
	ksched_client_set_timeout(f->c, 30000);
	check_ok(f,
		 ksched_client_submit(f->c, (const ksched_task *const *)ts,
				      NTASKS, f->ids, NULL),
		 "submit");
	ksched_client_set_timeout(f->c, CALL_MS);
	for (int i = 0; i < NTASKS; i++) {
		assert_true(f->ids[i] != 0);
		ksched_task_free(ts[i]);
	}
	free(ts);
	print_message("chaos: %d tasks: %d plain (half 0 ms, half 10 to 50 "
		      "ms), %d fail once, %d time out once; %d retries each; "
		      "seed %s\n",
		      NTASKS, nk[K_OK], nk[K_FAIL_ONCE], nk[K_TIMEOUT_ONCE],
		      RETRIES,
		      getenv("KSCHED_CHAOS_SEED") ? getenv("KSCHED_CHAOS_SEED")
						  : DEFAULT_SEED);
}

/* Every submitted task is known (nothing acknowledged was lost). */
static void
check_all_known(struct fx *f, const char *when)
{
	ksched_err e;

	WITH_MASTER(e, 20000,
		    ksched_client_status(f->c, f->ids, NTASKS, f->st));
	if (e)
		fail_msg("%s: status of the %d tasks: %s (%s)", when, NTASKS,
			 ksched_strerror(e), ksched_client_last_error(f->c));
}

/* ---- chaos --------------------------------------------------------------- */

static void
replace_worker(struct fx *f, int i)
{
	td_kill(f->w[i]);
	f->w[i] = 0;
	f->worker_kills++;
	start_worker(f, i);
}

/* Say whether the master answers, and what every side logged last. */
static void
fail_unsettled(struct fx *f)
{
	struct ksched_stats s;
	ksched_err e = ksched_client_stats(f->c, &s);

	print_message("chaos: the master %s (%s)\n",
		      e ? "does not answer" : "answers",
		      e ? ksched_client_last_error(f->c) : "stats ok");
	log_tail(f->cl.log, 4096);
	for (int i = 0; i < NW; i++) {
		char p[700];
		snprintf(p, sizeof(p), "%s/%s.log", f->cl.dir, f->wid[i]);
		log_tail(p, 1024);
	}
	fail_msg("workers did not register again within 15 s of master "
		 "restart %d",
		 f->master_kills);
}

static void
restart_master(struct fx *f)
{
	int64_t end = td_now_ms() + 5000 * tu_slow();

	/* The killed workers' leases go back by failure detection first. */
	while (!workers_settled(f, false) && td_now_ms() < end)
		td_sleep_ms(20);
	if (!workers_settled(f, false)) {
		log_tail(f->cl.log, 4096);
		fail_msg("the master still lists a killed worker after 5 s");
	}
	td_kill(f->master);
	f->master = 0;
	f->master_kills++;
	start_master(f);
	/* Every live worker registers again; its first heartbeats let the
	 * new master adopt the leases it holds. */
	end = td_now_ms() + 15000 * tu_slow();
	while (!workers_settled(f, true) && td_now_ms() < end)
		td_sleep_ms(20);
	if (!workers_settled(f, true))
		fail_unsettled(f);
	td_sleep_ms(3 * HB_MS);
	check_all_known(f, "after a master restart");
}

static void
fail_run(struct fx *f, const char *why, const struct ksched_stats *s)
{
	log_tail(f->cl.log, 6000);
	fail_msg("%s: pending %llu ready %llu leased %llu succeeded %llu "
		 "dead %llu canceled %llu (worker kills %d, master kills %d)",
		 why, (unsigned long long)s->counts[KSCHED_STATE_PENDING],
		 (unsigned long long)s->counts[KSCHED_STATE_READY],
		 (unsigned long long)s->counts[KSCHED_STATE_LEASED],
		 (unsigned long long)s->counts[KSCHED_STATE_SUCCEEDED],
		 (unsigned long long)s->counts[KSCHED_STATE_DEAD],
		 (unsigned long long)s->counts[KSCHED_STATE_CANCELED],
		 f->worker_kills, f->master_kills);
}

static uint64_t
finals(const struct ksched_stats *s)
{
	return s->counts[KSCHED_STATE_SUCCEEDED] +
	       s->counts[KSCHED_STATE_DEAD] +
	       s->counts[KSCHED_STATE_CANCELED];
}

/* Kill and replace workers, twice the master, until every task is final. */
static void
run_chaos(struct fx *f)
{
	int64_t t0 = td_now_ms(), end = t0 + (int64_t)RUN_MS * tu_slow();
	int64_t next_kill = t0 + KILL_EVERY_MS, moved = t0;
	uint64_t last = 0;
	struct ksched_stats s;

	memset(&s, 0, sizeof(s));
	for (;;) {
		ksched_err e = ksched_client_stats(f->c, &s);
		if (!e && finals(&s) != last) {
			last = finals(&s);
			moved = td_now_ms();
		}
		if (td_now_ms() - moved >= (int64_t)STALL_MS * tu_slow())
			fail_run(f, "no task ended for 45 s", &s);
		if (td_now_ms() >= end)
			fail_run(f, "not all tasks final after 240 s", &s);
		if (!td_alive(f->master))
			fail_run(f, "the master exited by itself", &s);
		for (int i = 0; i < NW; i++)
			if (!td_alive(f->w[i]))
				fail_run(f, "a worker exited by itself", &s);
		if (e == KSCHED_ENOTCONN) {
			td_sleep_ms(50);
			continue;
		}
		check_ok(f, e, "stats");
		if (finals(&s) == NTASKS)
			break;
		/* The master dies after 30% and after 60% of the tasks. */
		if (f->master_kills < MASTER_KILLS &&
		    finals(&s) * 10 >= (uint64_t)NTASKS * 3 *
					   (uint64_t)(f->master_kills + 1)) {
			print_message("chaos: killing the master at %.1f s, "
				      "%llu of %d tasks final\n",
				      (double)(td_now_ms() - t0) / 1000,
				      (unsigned long long)finals(&s), NTASKS);
			restart_master(f);
			next_kill = td_now_ms() + KILL_EVERY_MS;
			continue;
		}
		if (td_now_ms() >= next_kill) {
			replace_worker(f, (int)(tu_rand(&f->seed) % NW));
			next_kill = td_now_ms() + KILL_EVERY_MS - 200 +
				    (int64_t)(tu_rand(&f->seed) % 400);
		}
		td_sleep_ms(50);
	}
	print_message("chaos: all %d tasks final after %.1f s; %d workers "
		      "killed and replaced, master killed %d times\n",
		      NTASKS, (double)(td_now_ms() - t0) / 1000,
		      f->worker_kills, f->master_kills);
	assert_int_equal(f->master_kills, MASTER_KILLS);
}

/* ---- checks -------------------------------------------------------------- */

struct idx {
	uint64_t id;
	int n;
};

static int
idx_cmp(const void *a, const void *b)
{
	const struct idx *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Task number of id, or -1. */
static int
task_of(const struct idx *ix, uint64_t id)
{
	struct idx key = {id, 0};
	const struct idx *hit = bsearch(&key, ix, NTASKS, sizeof(*ix),
					idx_cmp);

	return hit ? hit->n : -1;
}

/* Every task final; successes carry "N\n"; the dead used their budget. */
static void
check_statuses(struct fx *f, uint64_t per[KSCHED_STATE_COUNT])
{
	check_all_known(f, "at the end");
	for (int i = 0; i < NTASKS; i++) {
		struct ksched_task_status *st = &f->st[i];
		char want[16];
		void *res = NULL;
		size_t len = 0;
		ksched_err e;

		assert_int_equal(st->id, f->ids[i]);
		if (!ksched_state_is_final(st->state))
			fail_msg("task %d (id %llu) is %s at the end", i,
				 (unsigned long long)st->id,
				 ksched_state_name(st->state));
		per[st->state]++;
		assert_false(st->cached);
		assert_int_equal(st->flags & KSCHED_TASK_CACHED, 0);
		assert_int_equal(st->retries, RETRIES);
		WITH_MASTER(e, 20000,
			    ksched_client_result(f->c, st->id, NULL, &res,
						 &len));
		check_ok(f, e, "result");
		if (st->state == KSCHED_STATE_SUCCEEDED) {
			snprintf(want, sizeof(want), "%d\n", i);
			if (!res || len != strlen(want) ||
			    memcmp(res, want, len) != 0)
				fail_msg("task %d: result '%.*s', want '%d\\n'",
					 i, res ? (int)len : 0,
					 res ? (const char *)res : "", i);
			assert_in_range(st->attempts, 1, RETRIES + 1);
		} else if (st->state == KSCHED_STATE_DEAD) {
			print_message("chaos: task %d (kind %d) dead after %u "
				      "attempts: %s\n",
				      i, f->kind[i], st->attempts,
				      st->last_error);
			assert_null(res);
			assert_int_equal(st->attempts, RETRIES + 1);
			assert_true(st->last_error[0] != 0);
		} else {
			fail_msg("task %d was canceled; nobody canceled it", i);
		}
		ksched_free(res);
	}
}

/* Each task listed in exactly one state, the one its status gives, and
 * the master's counters equal those totals. */
static void
check_lists(struct fx *f, const uint64_t per[KSCHED_STATE_COUNT])
{
	struct idx *ix = calloc(NTASKS, sizeof(*ix));
	struct ksched_task_status *page = calloc(KSCHED_CLIENT_LIST_MAX,
						 sizeof(*page));
	int *seen = calloc(NTASKS, sizeof(*seen));
	uint64_t listed[KSCHED_STATE_COUNT] = {0};
	struct ksched_stats s;
	ksched_err e;

	assert_true(ix && page && seen);
	for (int i = 0; i < NTASKS; i++)
		ix[i] = (struct idx){f->ids[i], i};
	qsort(ix, NTASKS, sizeof(*ix), idx_cmp);
	for (int i = 1; i < NTASKS; i++)
		assert_true(ix[i].id != ix[i - 1].id);
	for (int st = 0; st < KSCHED_STATE_COUNT; st++) {
		uint64_t cursor = 0, next;
		do {
			size_t n = 0;
			WITH_MASTER(e, 20000,
				    ksched_client_list(f->c,
						       (enum ksched_state)st,
						       cursor,
						       KSCHED_CLIENT_LIST_MAX,
						       page, &n, &next));
			check_ok(f, e, "list");
			for (size_t k = 0; k < n; k++) {
				int t = task_of(ix, page[k].id);
				if (t < 0)
					fail_msg("listed id %llu was never "
						 "submitted",
						 (unsigned long long)
							 page[k].id);
				assert_int_equal(page[k].state, st);
				assert_int_equal(f->st[t].state, st);
				seen[t]++;
				listed[st]++;
			}
			cursor = next;
		} while (cursor);
	}
	for (int i = 0; i < NTASKS; i++)
		if (seen[i] != 1)
			fail_msg("task %d listed %d times", i, seen[i]);
	WITH_MASTER(e, 20000, ksched_client_stats(f->c, &s));
	check_ok(f, e, "stats");
	for (int st = 0; st < KSCHED_STATE_COUNT; st++) {
		if (s.counts[st] != per[st] || listed[st] != per[st])
			fail_msg("%s: stats say %llu, lists %llu, "
				 "statuses %llu",
				 ksched_state_name((enum ksched_state)st),
				 (unsigned long long)s.counts[st],
				 (unsigned long long)listed[st],
				 (unsigned long long)per[st]);
	}
	print_message("chaos: master counts = listings = statuses: "
		      "succeeded %llu, dead %llu, canceled %llu, others 0\n",
		      (unsigned long long)per[KSCHED_STATE_SUCCEEDED],
		      (unsigned long long)per[KSCHED_STATE_DEAD],
		      (unsigned long long)per[KSCHED_STATE_CANCELED]);
	free(ix);
	free(page);
	free(seen);
}

/* Executions started, from runs/N (read once no worker is left). */
static uint64_t
count_runs(struct fx *f)
{
	uint64_t total = 0;

	for (int i = 0; i < NTASKS; i++) {
		char p[700];
		FILE *fp;
		int ch;

		snprintf(p, sizeof(p), "%s/runs/%d", f->cl.dir, i);
		f->runs[i] = 0;
		fp = fopen(p, "r");
		while (fp && (ch = getc(fp)) != EOF)
			f->runs[i] += ch == '\n';
		if (fp)
			fclose(fp);
		total += (uint64_t)f->runs[i];
	}
	return total;
}

/* What the master's log says: lease expiries, leases handed back when a
 * worker was declared dead, and registrations that hand leases back. */
struct mlog {
	uint64_t expired, released, deaths, reregistered, adopted;
};

static void
read_master_log(struct fx *f, struct mlog *ml)
{
	FILE *fp = fopen(f->cl.log, "r");
	char *line = NULL;
	size_t cap = 0;

	memset(ml, 0, sizeof(*ml));
	assert_non_null(fp);
	while (getline(&line, &cap, fp) > 0) {
		const char *p;
		if (strstr(line, "error=\"lease expired\""))
			ml->expired++;
		if (strstr(line, "msg=\"worker dead\"") &&
		    (p = strstr(line, " tasks="))) {
			ml->deaths++;
			ml->released += strtoull(p + 7, NULL, 10);
		}
		if (strstr(line, "msg=\"worker re-registered\""))
			ml->reregistered++;
		if (strstr(line, "msg=\"lease adopted\""))
			ml->adopted++;
	}
	free(line);
	fclose(fp);
}

/* After the master stopped: its store agrees with what it told us. */
static void
check_store(struct fx *f, const uint64_t per[KSCHED_STATE_COUNT])
{
	char data[640], err[256] = "";
	uint64_t counts[KSCHED_STATE_COUNT];
	ksched_store *s;
	ksched_queue *q;

	snprintf(data, sizeof(data), "%s/data", f->cl.dir);
	if (ksched_store_open(data, KSCHED_SYNC_NONE, &s, err, sizeof(err)))
		fail_msg("cannot open the store: %s", err);
	assert_int_equal(ksched_queue_open(s, 1, &q), KSCHED_OK);
	if (ksched_queue_verify(q, err, sizeof(err)))
		fail_msg("stored records disagree: %s", err);
	ksched_queue_counts(q, counts);
	for (int st = 0; st < KSCHED_STATE_COUNT; st++)
		assert_int_equal(counts[st], per[st]);
	for (int i = 0; i < NTASKS; i++) {
		struct ksched_task_info info;
		void *res = NULL;
		size_t len = 0;
		ksched_err e;

		assert_int_equal(ksched_queue_get(q, f->ids[i], &info, NULL),
				 KSCHED_OK);
		assert_int_equal(info.state, f->st[i].state);
		assert_int_equal(info.attempts, f->st[i].attempts);
		e = ksched_queue_result(q, f->ids[i], &res, &len);
		if (info.state == KSCHED_STATE_SUCCEEDED) {
			char want[16];
			snprintf(want, sizeof(want), "%d\n", i);
			assert_int_equal(e, KSCHED_OK);
			assert_int_equal(len, strlen(want));
			assert_memory_equal(res, want, len);
		} else {
			assert_int_equal(e, KSCHED_ENOENT);
		}
		ksched_free(res);
	}
	ksched_queue_close(q);
	ksched_store_close(s);
	print_message("chaos: stored records verified, counts equal the "
		      "master's\n");
}

static void
check_accounting(struct fx *f, const uint64_t per[KSCHED_STATE_COUNT])
{
	uint64_t attempts = 0, execs = count_runs(f), lo, hi, handed_back;
	struct mlog ml;

	read_master_log(f, &ml);
	for (int i = 0; i < NTASKS; i++) {
		attempts += f->st[i].attempts;
		if (f->st[i].state != KSCHED_STATE_SUCCEEDED)
			continue;
		/* The recorded result came from a run; the tasks that fail
		 * or time out once succeed on a later one. */
		if (f->runs[i] < (f->kind[i] == K_OK ? 1 : 2))
			fail_msg("task %d (kind %d) succeeded after %d runs", i,
				 f->kind[i], f->runs[i]);
	}
	handed_back = ml.released + ml.reregistered * SLOTS;
	lo = attempts > ml.expired ? attempts - ml.expired : 0;
	hi = attempts + handed_back;
	print_message("chaos: attempts counted %llu, executions started "
		      "%llu (runs/*), worker kills %d\n",
		      (unsigned long long)attempts, (unsigned long long)execs,
		      f->worker_kills);
	print_message("chaos: master log: %llu workers declared dead, "
		      "handing back %llu leases; %llu re-registrations; "
		      "%llu leases adopted; %llu lease expiries\n",
		      (unsigned long long)ml.deaths,
		      (unsigned long long)ml.released,
		      (unsigned long long)ml.reregistered,
		      (unsigned long long)ml.adopted,
		      (unsigned long long)ml.expired);
	print_message("chaos: attempts - expiries <= executions <= attempts "
		      "+ handed back: %llu <= %llu <= %llu\n",
		      (unsigned long long)lo, (unsigned long long)execs,
		      (unsigned long long)hi);
	assert_true(execs >= per[KSCHED_STATE_SUCCEEDED]);
	assert_true(lo <= execs);
	assert_true(execs <= hi);
	/* Dead workers: at least each one killed while it was registered. */
	assert_true(ml.deaths >= (uint64_t)f->worker_kills);
	/* A task fails at most once by design; dying takes RETRIES more
	 * failures, which here can only be lease expiries. */
	assert_true(per[KSCHED_STATE_DEAD] * RETRIES <= ml.expired);
}

/*
 * SIGTERM every live worker at once, wait (bounded) for each, SIGKILL the
 * ones still there.  Returns how many did not exit with status 0.
 */
static int
stop_workers(struct fx *f)
{
	int64_t end;
	int bad = 0;

	for (int i = 0; i < NW; i++)
		kill(f->w[i], SIGTERM);
	end = td_now_ms() + 15000 * tu_slow();
	for (int i = 0; i < NW; i++) {
		int status = -1;
		pid_t r = 0;
		while (td_now_ms() < end &&
		       (r = waitpid(f->w[i], &status, WNOHANG)) == 0)
			td_sleep_ms(10);
		if (r != f->w[i]) {
			td_kill(f->w[i]);
			status = -1;
		}
		if (status != 0) {
			print_message("chaos: worker %s did not exit within "
				      "15 s of SIGTERM (status %d): see its "
				      "log\n",
				      f->wid[i], status);
			bad++;
		}
		f->w[i] = 0;
	}
	return bad;
}

static void
test_chaos_kills_lose_nothing(void **state)
{
	struct fx *f = *state;
	uint64_t per[KSCHED_STATE_COUNT] = {0};
	int64_t t0 = td_now_ms(), t1;
	int unclean;

	submit_all(f);
	print_message("chaos: submitted in %.1f s\n",
		      (double)(td_now_ms() - t0) / 1000);
	run_chaos(f);
	t1 = td_now_ms();
	/* Every killed worker declared dead (for the log's figures). */
	for (int64_t end = td_now_ms() + 5000 * tu_slow();
	     !workers_settled(f, true) && td_now_ms() < end;)
		td_sleep_ms(20);
	check_statuses(f, per);
	check_lists(f, per);
	/* Stop the workers before counting runs: a worker declared dead by
	 * mistake could still start a stale job. */
	unclean = stop_workers(f);
	check_accounting(f, per);
	if (td_stop(f->master, 10000 * tu_slow()) != 0) {
		print_message("chaos: the master did not exit within 10 s of "
			      "SIGTERM\n");
		unclean++;
	}
	f->master = 0;
	check_store(f, per);
	print_message("chaos: %.1f s in all, %.1f s of it for the checks "
		      "and the stops\n",
		      (double)(td_now_ms() - t0) / 1000,
		      (double)(td_now_ms() - t1) / 1000);
	/* Checked last, so that every figure above is printed first. */
	if (unclean)
		fail_msg("%d daemon(s) did not stop cleanly on SIGTERM",
			 unclean);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chaos_kills_lose_nothing,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
