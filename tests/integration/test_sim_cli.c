/*
 * End-to-end tests of ksched-sim: the real program on generated traces
 * (determinism, exit codes) and on the real traces of ../shared/traces
 * (skipped with a message when absent): the NASA log parses whole, FCFS
 * starts jobs in order, EASY never starts the head job later than its
 * reservation, EASY and conservative beat FCFS on medium_late and start
 * its jobs when batsched did, the openb pods run with binpack and spread.
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../testutil.h"
#include "daemon.h"

/* ---- helpers ------------------------------------------------------------- */

/* Run ksched-sim with args (NULL-terminated), stderr to log; its exit
 * status, or -1 if it had to be killed after timeout_ms. */
static int
sim(const char *log, int timeout_ms, const char *const *args)
{
	pid_t pid = td_start("ksched-sim", log, args);
	int64_t end = td_now_ms() + (int64_t)timeout_ms * tu_slow();
	int status;

	while (td_now_ms() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		td_sleep_ms(20);
	}
	td_kill(pid);
	return -1;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	buf[n] = 0;
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static void
join(char *buf, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
		abort();
}

/* ROOT/../shared/traces/NAME, ROOT from this program's path
 * (ROOT/build/tests/NAME); NULL when absent. */
static const char *
trace(const char *name, char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = 0;
	if ((size_t)snprintf(buf, len, "%s/../shared/traces/%s",
			     dirname(dirname(dirname(exe))), name) >= len)
		return NULL;
	return access(buf, R_OK) == 0 ? buf : NULL;
}

#define NEED_TRACE(var, name)                                                  \
	char var##_buf[PATH_MAX + 64];                                         \
	const char *var = trace(name, var##_buf, sizeof(var##_buf));           \
	if (!var) {                                                            \
		print_message("skipped: ../shared/traces/%s is absent\n",      \
			      name);                                           \
		skip();                                                        \
	}

/* A small SWF trace: n jobs on 16 processors, in dir/name. */
static void
write_swf(const char *path, size_t n, uint64_t seed)
{
	FILE *f = fopen(path, "w");
	long t = 0;

	assert_non_null(f);
	fprintf(f, "; MaxProcs: 16\n");
	for (size_t i = 0; i < n; i++) {
		long run = 1 + (long)(tu_rand(&seed) % 300);
		long size = 1 + (long)(tu_rand(&seed) % 8);
		long req = run + (long)(tu_rand(&seed) % 200);
		t += (long)(tu_rand(&seed) % 40);
		fprintf(f,
			"%zu %ld -1 %ld %ld -1 -1 %ld %ld -1 1 %ld 1 1 1 1 "
			"-1 -1\n",
			i + 1, t, run, size, size, req,
			(long)(tu_rand(&seed) % 5) + 1);
	}
	fclose(f);
}

/* One CSV row of jobs.csv, split in place (no quoted fields here). */
struct row {
	long id;
	double submit, req, start, finish;
	long size;
	int success;
};

static size_t
read_jobs(const char *path, struct row **out)
{
	char *buf = slurp(path, NULL), *save = NULL, *line;
	size_t n = 0, cap = 1024;
	struct row *r = malloc(cap * sizeof(*r));

	assert_non_null(buf);
	line = strtok_r(buf, "\n", &save); /* the header */
	assert_non_null(line);
	assert_int_equal(strncmp(line, "job_id,workload_name,", 21), 0);
	while ((line = strtok_r(NULL, "\n", &save))) {
		char *f[13], *s2 = NULL, *p = line;
		int k = 0;
		for (char *c = strtok_r(p, ",", &s2); c && k < 13;
		     c = strtok_r(NULL, ",", &s2))
			f[k++] = c;
		assert_true(k >= 12);
		if (n == cap)
			r = realloc(r, (cap *= 2) * sizeof(*r));
		r[n].id = atol(f[0]);
		r[n].submit = atof(f[2]);
		r[n].size = atol(f[3]);
		r[n].req = atof(f[4]);
		r[n].success = atoi(f[5]);
		r[n].start = atof(f[6]);
		r[n].finish = atof(f[8]);
		n++;
	}
	free(buf);
	*out = r;
	return n;
}

static json_t *
report_run(json_t *doc, const char *policy)
{
	json_t *runs = json_object_get(doc, "runs"), *v;
	size_t i;

	json_array_foreach(runs, i, v)
	{
		if (!strcmp(json_string_value(json_object_get(v, "policy")),
			    policy))
			return v;
	}
	fail_msg("no run of %s in the report", policy);
	return NULL;
}

static double
metric(json_t *run, const char *name)
{
	json_t *v = json_object_get(run, name);

	assert_non_null(v);
	return json_number_value(v);
}

/* ---- command line -------------------------------------------------------- */

static void
test_sim_cli_bad_flags_exit_2(void **state)
{
	char *dir = tu_tmpdir("simcli");
	char log[PATH_MAX], swf[PATH_MAX], *text;
	const char *a1[] = {"--trace", "x.swf", "--bogus", NULL};
	const char *a2[] = {"--cluster", "4x(cpu=1)", NULL};
	const char *a3[] = {"--trace", swf, "--fail", "soon:0", NULL};
	const char *a4[] = {"--trace", swf, "--cluster", "4x(cpu=", NULL};
	const char *a5[] = {"--trace", swf, "--fail", "10:n99", NULL};
	const char *a6[] = {"--trace", swf, "--compare", "fcfs,nope", NULL};

	(void)state;
	join(log, sizeof(log), dir, "err.log");
	join(swf, sizeof(swf), dir, "t.swf");
	write_swf(swf, 10, 1);
	assert_int_equal(sim(log, 10000, a1), 2);
	assert_int_equal(sim(log, 10000, a2), 2);
	assert_int_equal(sim(log, 10000, a3), 2);
	assert_int_equal(sim(log, 10000, a4), 2);
	assert_int_equal(sim(log, 10000, a5), 2);
	assert_int_equal(sim(log, 10000, a6), 2);
	text = slurp(log, NULL);
	assert_non_null(strstr(text, "--trace FILE is required"));
	assert_non_null(strstr(text, "not a time in seconds"));
	assert_non_null(strstr(text, "no node 'n99'"));
	assert_non_null(strstr(text, "--policy nope: "));
	free(text);
	tu_rmtree(dir);
}

static void
test_sim_cli_bad_trace_exit_1(void **state)
{
	char *dir = tu_tmpdir("simcli");
	char log[PATH_MAX], swf[PATH_MAX], *text;
	const char *a[] = {"--trace", swf, "--keep-bad", NULL};
	const char *b[] = {"--trace", log, NULL}; /* does not exist yet */
	FILE *f;

	(void)state;
	join(log, sizeof(log), dir, "none.swf");
	assert_int_equal(sim(NULL, 10000, b), 1);
	join(log, sizeof(log), dir, "err.log");
	join(swf, sizeof(swf), dir, "bad.swf");
	f = fopen(swf, "w");
	assert_non_null(f);
	fprintf(f, "1 0 -1 10 4 -1 -1 4 20 -1 1 1 1 1 1 1 -1 -1\n"
		   "2 5 -1 ten 4 -1 -1 4 20 -1 1 1 1 1 1 1 -1 -1\n");
	fclose(f);
	assert_int_equal(sim(log, 10000, a), 1);
	text = slurp(log, NULL);
	assert_non_null(strstr(text, "ksched-sim: "));
	assert_non_null(strstr(text, "2")); /* names the line */
	free(text);
	tu_rmtree(dir);
}

/* A trace that declares more machines than a cluster may have: the
 * error speaks of the trace and suggests --cluster, not of a spec the
 * user never gave; with --cluster the same trace runs. */
static void
test_sim_cli_too_many_machines(void **state)
{
	char *dir = tu_tmpdir("simcli");
	char log[PATH_MAX], swf[PATH_MAX], *text;
	const char *a[] = {"--trace", swf, "--quiet", NULL};
	const char *b[] = {"--trace", swf, "--cluster", "4x(cpu=1)",
			   "--quiet", NULL};
	FILE *f;

	(void)state;
	join(log, sizeof(log), dir, "err.log");
	join(swf, sizeof(swf), dir, "big.swf");
	f = fopen(swf, "w");
	assert_non_null(f);
	fprintf(f, "; MaxProcs: 2000000\n"
		   "1 0 -1 10 1 -1 -1 1 20 -1 1 1 1 1 1 1 -1 -1\n");
	fclose(f);
	assert_int_equal(sim(log, 10000, a), 2);
	text = slurp(log, NULL);
	assert_non_null(strstr(text, "declares 2000000 machines, more than "
				     "the 1048576 nodes"));
	assert_non_null(strstr(text, "--cluster"));
	assert_null(strstr(text, "cluster spec"));
	free(text);
	assert_int_equal(sim(log, 10000, b), 0);
	tu_rmtree(dir);
}

/* Two runs of the same input give the same bytes (no trace needed). */
static void
test_sim_cli_deterministic(void **state)
{
	char *dir = tu_tmpdir("simcli");
	char swf[PATH_MAX], out[2][3][PATH_MAX], *a, *b;
	const char *names[3] = {"r.json", "j.csv", "p.svg"};
	size_t na, nb;

	(void)state;
	join(swf, sizeof(swf), dir, "gen.swf");
	write_swf(swf, 3000, 9);
	for (int k = 0; k < 2; k++) {
		char sub[PATH_MAX];
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%d", dir, k) >=
		    sizeof(sub))
			abort();
		assert_int_equal(mkdir(sub, 0755), 0);
		for (int i = 0; i < 3; i++)
			join(out[k][i], sizeof(out[k][i]), sub, names[i]);
		const char *args[] = {
		    "--trace",	   swf,	      "--policy", "binpack", "--report",
		    out[k][0],	   "--jobs",  out[k][1],  "--plot",  out[k][2],
		    "--fail-rate", "0.5",     "--repair", "300",     "--seed",
		    "3",	   "--quiet", NULL};
		assert_int_equal(sim(NULL, 60000, args), 0);
	}
	for (int i = 0; i < 3; i++) {
		a = slurp(out[0][i], &na);
		b = slurp(out[1][i], &nb);
		assert_non_null(a);
		assert_true(na > 100);
		assert_int_equal(na, nb);
		assert_memory_equal(a, b, na);
		free(a);
		free(b);
	}
	tu_rmtree(dir);
}

/*
 * Deaths far faster than the job (100,000 an hour on one node, repaired
 * after 1 s, a 10 s job): the run still ends, quickly, with the job given
 * up as unfinished after --max-restarts lost starts; an absurd rate is a
 * command-line error.
 */
static void
test_sim_cli_failure_storm_ends(void **state)
{
	char *dir = tu_tmpdir("simcli");
	char swf[PATH_MAX], rep[PATH_MAX], log[PATH_MAX], *text;
	const char *a[] = {"--trace",	   swf,	      "--cluster", "1x(cpu=1)",
			   "--fail-rate", "100000", "--repair",  "1",
			   "--max-restarts", "7",   "--report",  rep,
			   "--quiet",	   NULL};
	const char *b[] = {"--trace", swf, "--fail-rate", "1e308", NULL};
	const char *c[] = {"--trace", swf, "--max-restarts", "0", NULL};
	json_t *doc, *run;
	int64_t t0;
	FILE *f;

	(void)state;
	join(swf, sizeof(swf), dir, "one.swf");
	join(rep, sizeof(rep), dir, "r.json");
	join(log, sizeof(log), dir, "err.log");
	f = fopen(swf, "w");
	assert_non_null(f);
	fprintf(f, "1 0 -1 10 1 -1 -1 1 20 -1 1 1 1 1 1 1 -1 -1\n");
	fclose(f);
	t0 = td_now_ms();
	assert_int_equal(sim(log, 20000, a), 0);
	assert_true(td_now_ms() - t0 < 10000 * tu_slow());
	doc = json_load_file(rep, 0, NULL);
	assert_non_null(doc);
	run = report_run(doc, "fcfs");
	assert_int_equal((int)metric(run, "unfinished"), 1);
	assert_int_equal((int)metric(run, "done"), 0);
	assert_int_equal((int)metric(run, "restarts"), 7);
	json_decref(doc);
	assert_int_equal(sim(log, 10000, b), 2);
	assert_int_equal(sim(log, 10000, c), 2);
	text = slurp(log, NULL);
	assert_non_null(strstr(text, "--fail-rate: at most 3600000"));
	assert_non_null(strstr(text, "--max-restarts: expected 1..1000000"));
	free(text);
	tu_rmtree(dir);
}

/* ---- real traces --------------------------------------------------------- */

static void
test_sim_cli_nasa_all_jobs_fcfs_in_order(void **state)
{
	NEED_TRACE(nasa, "NASA-iPSC-1993-3.1-cln.swf.gz");
	char *dir = tu_tmpdir("simcli");
	char csv[PATH_MAX];
	char rep[PATH_MAX];
	const char *args[] = {"--trace", nasa, "--policy", "fcfs",
			      "--jobs",	 csv,  "--report", rep,
			      "--quiet", NULL};
	json_error_t je;
	json_t *doc;
	struct row *r;
	size_t n;

	(void)state;
	join(csv, sizeof(csv), dir, "jobs.csv");
	join(rep, sizeof(rep), dir, "r.json");
	assert_int_equal(sim(NULL, 120000, args), 0);
	/* Every record is read: run, or dropped as bad (run time <= 0). */
	doc = json_load_file(rep, 0, &je);
	assert_non_null(doc);
	n = read_jobs(csv, &r);
	assert_int_equal(n, (size_t)metric(doc, "jobs"));
	assert_int_equal(n + (size_t)metric(doc, "dropped"), 18239);
	assert_int_equal((size_t)metric(report_run(doc, "fcfs"), "done"), n);
	json_decref(doc);
	/* FCFS: no job starts before one submitted earlier. */
	for (size_t i = 1; i < n; i++)
		assert_true(r[i].start >= r[i - 1].start);
	free(r);
	tu_rmtree(dir);
}

/*
 * When job j becomes the head of the queue (every earlier job started),
 * its reservation is the first time enough nodes are free if every running
 * job holds its nodes to start + requested time.  Backfilling must never
 * start it later than that.
 */
static void
check_head_not_delayed(const struct row *r, size_t n, long nodes)
{
	double head_since = 0;
	size_t checked = 0;

	for (size_t j = 0; j < n; j++) {
		double t = r[j].submit > head_since ? r[j].submit : head_since;
		double resv = t;
		if (!r[j].success && r[j].start < 0)
			continue; /* rejected */
		for (;;) {
			long busy = 0;
			double next = -1;
			for (size_t i = 0; i < n; i++) {
				double end = r[i].start + r[i].req;
				if (i == j || r[i].start < 0 ||
				    r[i].start > t || r[i].finish <= t ||
				    end <= resv)
					continue;
				busy += r[i].size;
				if (next < 0 || end < next)
					next = end;
			}
			if (nodes - busy >= r[j].size || next < 0)
				break;
			resv = next;
		}
		if (r[j].start > resv + 1e-6)
			fail_msg("job %zu (size %ld) head at %.3f, reserved "
				 "%.3f, started %.3f",
				 j, r[j].size, t, resv, r[j].start);
		checked++;
		if (r[j].start > head_since)
			head_since = r[j].start;
	}
	assert_true(checked > 100);
}

static void
test_sim_cli_medium_late_backfilling(void **state)
{
	NEED_TRACE(ml, "batsim-medium_late/medium_late.json");
	char *dir = tu_tmpdir("simcli");
	char rep[PATH_MAX], csv[PATH_MAX], f[PATH_MAX];
	const char *args[] = {
	    "--trace",	ml,  "--compare", "fcfs,easy,conservative",
	    "--report", rep, "--jobs",	  csv,
	    "--quiet",	NULL};
	json_error_t je;
	json_t *doc;
	double fcfs, easy, cons;
	struct row *r;
	size_t n;

	(void)state;
	join(rep, sizeof(rep), dir, "r.json");
	join(csv, sizeof(csv), dir, "jobs.csv");
	assert_int_equal(sim(NULL, 120000, args), 0);
	doc = json_load_file(rep, 0, &je);
	assert_non_null(doc);
	fcfs = metric(report_run(doc, "fcfs"), "mean_waiting_time");
	easy = metric(report_run(doc, "easy"), "mean_waiting_time");
	cons = metric(report_run(doc, "conservative"), "mean_waiting_time");
	print_message("medium_late mean wait: fcfs %.1f easy %.1f "
		      "conservative %.1f\n",
		      fcfs, easy, cons);
	assert_true(easy < fcfs);
	assert_true(cons < fcfs);
	json_decref(doc);
	/* EASY: only the head holds a reservation, so it can be checked
	 * from jobs.csv alone.  (Under conservative every queued job holds
	 * one, and a later job may rightly start first in a hole it had
	 * reserved; POL's unit tests check those reservations.) */
	join(f, sizeof(f), dir, "jobs.easy.csv");
	n = read_jobs(f, &r);
	assert_true(n >= 800);
	check_head_not_delayed(r, n, 32);
	free(r);
	tu_rmtree(dir);
}

/*
 * Start times of some medium_late jobs under batsched, from Batsim's
 * published outputs (oar-team/evalys,
 * examples/batsim_outputs/medium_late/{easy,conservative}/out_jobs.csv):
 * jobs that waited, where easy and conservative differ.  ksched-sim
 * reads times to the millisecond, hence the 1 ms tolerance.
 */
struct published {
	const char *policy;
	long id;
	double start;
};

static const struct published batsched_starts[] = {
    {"easy", 19, 309.043478},		{"easy", 22, 334.368387},
    {"easy", 37, 511.250387},		{"easy", 54, 720.068295},
    {"easy", 112, 1653.556016},		{"easy", 115, 1679.461016},
    {"easy", 126, 1967.595085},		{"easy", 456, 6349.592907},
    {"easy", 616, 8387.429232},		{"easy", 672, 9023.185467},
    {"easy", 799, 10759.738951},	{"conservative", 115, 1690.800570},
    {"conservative", 119, 1569.095051}, {"conservative", 129, 1698.313686},
    {"conservative", 143, 1926.888280}, {"conservative", 177, 2372.866556},
    {"conservative", 226, 3024.104166}, {"conservative", 514, 7028.586504},
    {"conservative", 616, 8389.861873}, {"conservative", 627, 8505.089410},
    {"conservative", 672, 9042.519505},
};

static void
test_sim_cli_medium_late_matches_batsched(void **state)
{
	NEED_TRACE(ml, "batsim-medium_late/medium_late.json");
	char *dir = tu_tmpdir("simcli");
	char csv[PATH_MAX], f[PATH_MAX];
	const char *args[] = {"--trace", ml,  "--compare", "easy,conservative",
			      "--jobs",	 csv, "--quiet",   NULL};
	size_t nb = sizeof(batsched_starts) / sizeof(batsched_starts[0]);

	(void)state;
	join(csv, sizeof(csv), dir, "jobs.csv");
	assert_int_equal(sim(NULL, 120000, args), 0);
	for (int k = 0; k < 2; k++) {
		const char *pol = k ? "conservative" : "easy";
		struct row *r;
		size_t n, checked = 0;
		snprintf(f, sizeof(f), "%s/jobs.%s.csv", dir, pol);
		n = read_jobs(f, &r);
		for (size_t i = 0; i < nb; i++) {
			const struct published *b = &batsched_starts[i];
			size_t j = 0;
			if (strcmp(b->policy, pol))
				continue;
			while (j < n && r[j].id != b->id)
				j++;
			assert_true(j < n);
			if (r[j].start < b->start - 0.001 ||
			    r[j].start > b->start + 0.001)
				fail_msg("%s: job %ld starts at %.3f, batsched "
					 "%.6f",
					 pol, b->id, r[j].start, b->start);
			checked++;
		}
		assert_true(checked >= 10);
		free(r);
	}
	tu_rmtree(dir);
}

static void
test_sim_cli_openb_binpack_spread(void **state)
{
	NEED_TRACE(pods, "alibaba-openb/openb_pod_list_default.csv");
	NEED_TRACE(nodes, "alibaba-openb/openb_node_list_all_node.csv");
	char *dir = tu_tmpdir("simcli");
	char rep[PATH_MAX];
	const char *args[] = {
	    "--trace",	      pods,	  "--nodes", nodes,	"--compare",
	    "binpack,spread", "--report", rep,	     "--quiet", NULL};
	json_error_t je;
	json_t *doc;

	(void)state;
	join(rep, sizeof(rep), dir, "r.json");
	assert_int_equal(sim(NULL, 120000, args), 0);
	doc = json_load_file(rep, 0, &je);
	assert_non_null(doc);
	assert_true(metric(report_run(doc, "binpack"), "done") > 1000);
	assert_true(metric(report_run(doc, "spread"), "done") > 1000);
	json_decref(doc);
	tu_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sim_cli_bad_flags_exit_2),
	    cmocka_unit_test(test_sim_cli_bad_trace_exit_1),
	    cmocka_unit_test(test_sim_cli_too_many_machines),
	    cmocka_unit_test(test_sim_cli_deterministic),
	    cmocka_unit_test(test_sim_cli_failure_storm_ends),
	    cmocka_unit_test(test_sim_cli_nasa_all_jobs_fcfs_in_order),
	    cmocka_unit_test(test_sim_cli_medium_late_backfilling),
	    cmocka_unit_test(test_sim_cli_medium_late_matches_batsched),
	    cmocka_unit_test(test_sim_cli_openb_binpack_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
