/*
 * Unit tests for the simulator's workloads and clusters: the in-memory
 * container, cluster specs, and the trace readers on small files written
 * here (test_sim_trace_real.c reads the real traces).
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "alloc.h"
#include "ksched/policy.h"
#include "ksched/sim.h"
#include "../testutil.h"
#include "sim_trace_check.h"

/* ---- the container ------------------------------------------------------- */

static struct ksched_sim_job
mkjob(uint64_t id, int64_t submit, const char *user)
{
	struct ksched_sim_job j;

	memset(&j, 0, sizeof(j));
	j.id = id;
	j.submit_ms = submit;
	j.run_ms = 1000;
	j.nodes = 1;
	j.need.cpu_milli = 1000;
	j.need.slots = 1;
	j.user = user;
	return j;
}

static void
test_sim_trace_workload_add_sorted(void **state)
{
	ksched_sim_workload *w;
	struct ksched_sim_job j;
	const struct ksched_sim_job *a, *b;

	(void)state;
	assert_int_equal(ksched_sim_workload_new("gen", 16, &w), KSCHED_OK);
	assert_string_equal(ksched_sim_workload_name(w), "gen");
	assert_int_equal(ksched_sim_workload_machines(w), 16);
	assert_int_equal(ksched_sim_workload_dropped(w), 0);
	j = mkjob(7, 500, "alice");
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	j = mkjob(3, 900, "bob");
	j.name = "job-three";
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	j = mkjob(5, 500, "alice"); /* same submit as 7: id breaks the tie */
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	j = mkjob(1, 100, NULL);
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	assert_int_equal(ksched_sim_workload_count(w), 4);
	assert_int_equal(ksched_sim_workload_job(w, 0)->id, 1);
	assert_int_equal(ksched_sim_workload_job(w, 1)->id, 5);
	assert_int_equal(ksched_sim_workload_job(w, 2)->id, 7);
	assert_int_equal(ksched_sim_workload_job(w, 3)->id, 3);
	assert_null(ksched_sim_workload_job(w, 4));
	/* Names default to the id; users are shared copies; none is "". */
	a = ksched_sim_workload_job(w, 1);
	b = ksched_sim_workload_job(w, 2);
	assert_string_equal(a->name, "5");
	assert_string_equal(ksched_sim_workload_job(w, 3)->name, "job-three");
	assert_string_equal(a->user, "alice");
	assert_ptr_equal(a->user, b->user);
	assert_string_equal(ksched_sim_workload_job(w, 0)->user, "");
	assert_string_equal(a->kind, "");
	assert_null(a->spec);

	/* Refused: a taken id, nodes < 1, run < 0; nothing changes. */
	j = mkjob(7, 1, "carol");
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_EINVAL);
	j = mkjob(8, 1, NULL);
	j.nodes = 0;
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_EINVAL);
	j = mkjob(8, 1, NULL);
	j.run_ms = -1;
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_EINVAL);
	assert_int_equal(ksched_sim_workload_count(w), 4);
	assert_int_equal(ksched_sim_workload_job(w, 0)->id, 1);
	ksched_sim_workload_free(w);
	ksched_sim_workload_free(NULL);
}

static void
test_sim_trace_workload_spec_copied(void **state)
{
	ksched_sim_workload *w;
	struct ksched_sim_job j = mkjob(UINT64_MAX, 0, "u");
	ksched_task *t;

	(void)state;
	assert_int_equal(ksched_task_new(&t), KSCHED_OK);
	assert_int_equal(ksched_task_set_kind(t, "render"), KSCHED_OK);
	j.spec = t;
	j.kind = "render";
	assert_int_equal(ksched_sim_workload_new(NULL, 0, &w), KSCHED_OK);
	assert_string_equal(ksched_sim_workload_name(w), "");
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	ksched_task_free(t); /* the workload holds its own copy */
	assert_non_null(ksched_sim_workload_job(w, 0)->spec);
	assert_string_equal(
	    ksched_task_kind(ksched_sim_workload_job(w, 0)->spec), "render");
	j.spec = NULL;
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_EINVAL);
	j.id = 0;
	assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	ksched_sim_workload_free(w);
	assert_int_equal(ksched_sim_workload_new("x", -1, &w), KSCHED_EINVAL);
	assert_null(w);
}

/* A generated workload of 200,000 jobs: in order it is appends, and the
 * id check stays a hash lookup. */
static void
test_sim_trace_workload_many(void **state)
{
	ksched_sim_workload *w;
	uint64_t seed = 42;

	(void)state;
	assert_int_equal(ksched_sim_workload_new("many", 0, &w), KSCHED_OK);
	for (uint64_t i = 0; i < 200000; i++) {
		char user[16];
		struct ksched_sim_job j;

		snprintf(user, sizeof(user), "u%u",
			 (unsigned)(tu_rand(&seed) % 50));
		j = mkjob(i + 1, (int64_t)i * 10, user);
		assert_int_equal(ksched_sim_workload_add(w, &j), KSCHED_OK);
	}
	assert_int_equal(ksched_sim_workload_count(w), 200000);
	for (size_t i = 1; i < 200000; i++)
		assert_true(ksched_sim_workload_job(w, i - 1)->submit_ms <
			    ksched_sim_workload_job(w, i)->submit_ms);
	ksched_sim_workload_free(w);
}

static void
test_sim_trace_workload_alloc_failure(void **state)
{
	int ok = 0;

	(void)state;
	for (long n = 0; n < 200 && !ok; n++) {
		ksched_sim_workload *w = NULL;
		ksched_err e;

		ksched__alloc_fail_after(n);
		e = ksched_sim_workload_new("f", 0, &w);
		for (uint64_t i = 0; e == KSCHED_OK && i < 300; i++) {
			struct ksched_sim_job j =
			    mkjob(i, 300 - (int64_t)i, i % 2 ? "a" : "b");

			e = ksched_sim_workload_add(w, &j);
			if (e == KSCHED_OK)
				continue;
			assert_int_equal(e, KSCHED_ENOMEM);
			assert_int_equal(ksched_sim_workload_count(w), i);
		}
		ksched__alloc_fail_after(-1);
		if (e == KSCHED_OK) {
			assert_int_equal(ksched_sim_workload_count(w), 300);
			ok = 1;
		} else {
			assert_int_equal(e, KSCHED_ENOMEM);
		}
		ksched_sim_workload_free(w);
	}
	assert_true(ok);
}

/* ---- cluster specs --------------------------------------------------------
 */

static void
test_sim_trace_cluster_parse(void **state)
{
	ksched_sim_cluster *c;
	const struct ksched_sim_node *n;
	char err[256];

	(void)state;
	assert_int_equal(
	    ksched_sim_cluster_parse("32x(cpu=1)", &c, err, sizeof(err)),
	    KSCHED_OK);
	assert_int_equal(ksched_sim_cluster_count(c), 32);
	n = node_is(c, 31, "n31", 1000, 0, 0, 1);
	assert_int_equal(n->nlabels, 0);
	assert_null(ksched_sim_cluster_node(c, 32));
	ksched_sim_cluster_free(c);

	assert_int_equal(
	    ksched_sim_cluster_parse(" 120x(cpu=2, mem=1024) + "
				     "4X(cpu=8,gpus=1,label.gpu=v100,"
				     "label.zone=b)+1x(cpu=0.5)+"
				     "2x(cpu_milli=2500,slots=10)",
				     &c, err, sizeof(err)),
	    KSCHED_OK);
	assert_int_equal(ksched_sim_cluster_count(c), 127);
	node_is(c, 0, "n0", 2000, 1024, 0, 2);
	n = node_is(c, 123, "n123", 8000, 0, 1, 8);
	assert_int_equal(n->nlabels, 2);
	assert_string_equal(n->labels[0].key, "gpu");
	assert_string_equal(n->labels[0].value, "v100");
	assert_string_equal(n->labels[1].key, "zone");
	node_is(c, 124, "n124", 500, 0, 0, 1);
	node_is(c, 126, "n126", 2500, 0, 0, 10);
	ksched_sim_cluster_free(c);
	ksched_sim_cluster_free(NULL);
}

static void
test_sim_trace_cluster_parse_errors(void **state)
{
	static const struct {
		const char *spec, *says;
	} bad[] = {
	    {"", "expected COUNTx"},
	    {"32", "expected COUNTx"},
	    {"x(cpu=1)", "expected COUNTx"},
	    {"0x(cpu=1)", "'count' must be an integer from 1"},
	    {"32x cpu=1", "expected '('"},
	    {"32x(cpu=1", "expected ',' or ')'"},
	    {"32x(cpu)", "expected '='"},
	    {"32x(cpu=)", "expected a value"},
	    {"32x(cpu=-1)", "'cpu' must be a number of cores"},
	    {"32x(cpu=abc)", "'cpu' must be a number of cores"},
	    {"32x(cpu=nan)", "'cpu' must be a number of cores"},
	    {"32x(cpu=1,cpu_milli=5)", "cpu given twice"},
	    {"32x(mem=1.5)", "'mem' must be an integer"},
	    {"32x(gpus=100)", "'gpus' must be an integer from 0 to 64"},
	    {"32x(slots=0)", "'slots' must be an integer from 1"},
	    {"32x(cores=4)", "unknown key 'cores'"},
	    {"32x(label.=a)", "unknown key 'label.'"},
	    {"32x(label.a=1,label.a=2)", "label given twice"},
	    {"32x(cpu=1)+", "group 2: expected COUNTx"},
	    {"32x(cpu=1) 4x(cpu=1)", "expected '+' or the end"},
	    {"99999999999x(cpu=1)", "'count' must be an integer"},
	    {"1000000x(cpu=1)+1000000x(cpu=1)", "more than"},
	    {"1x(label.a="
	     "0123456789012345678901234567890123456789012345678901234"
	     "5678901234567)",
	     "at most 63 bytes"},
	};
	ksched_sim_cluster *c = (ksched_sim_cluster *)&c;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		assert_int_equal(
		    ksched_sim_cluster_parse(bad[i].spec, &c, err, sizeof(err)),
		    KSCHED_EINVAL);
		assert_null(c);
		if (!strstr(err, bad[i].says))
			fail_msg("spec \"%s\": got \"%s\", want \"%s\"",
				 bad[i].spec, err, bad[i].says);
	}
	assert_int_equal(ksched_sim_cluster_parse(NULL, &c, err, sizeof(err)),
			 KSCHED_EINVAL);
}

/* Random specs from the grammar's own characters: an error or a
 * cluster, never a crash (ASan checks the reads). */
static void
test_sim_trace_cluster_parse_random(void **state)
{
	static const char alphabet[] = "0123456789xX()=,+. cpu_millmemgpus"
				       "slotslabel.";
	uint64_t seed = 3;
	char spec[48], err[256];

	(void)state;
	for (int round = 0; round < 2000; round++) {
		size_t n = tu_rand(&seed) % (sizeof(spec) - 1);
		ksched_sim_cluster *c = NULL;
		ksched_err e;

		for (size_t i = 0; i < n; i++)
			spec[i] =
			    alphabet[tu_rand(&seed) % (sizeof(alphabet) - 1)];
		spec[n] = '\0';
		e = ksched_sim_cluster_parse(spec, &c, err, sizeof(err));
		if (e == KSCHED_OK)
			ksched_sim_cluster_free(c);
		else
			assert_int_equal(e, KSCHED_EINVAL);
	}
}

static void
test_sim_trace_cluster_alloc_failure(void **state)
{
	int ok = 0;

	(void)state;
	for (long n = 0; n < 100 && !ok; n++) {
		ksched_sim_cluster *c;
		ksched_err e;

		ksched__alloc_fail_after(n);
		e = ksched_sim_cluster_parse(
		    "3x(cpu=1,label.a=b)+2x(cpu=4,label.a=c)", &c, NULL, 0);
		ksched__alloc_fail_after(-1);
		if (e == KSCHED_OK) {
			assert_int_equal(ksched_sim_cluster_count(c), 5);
			ksched_sim_cluster_free(c);
			ok = 1;
		} else {
			assert_int_equal(e, KSCHED_ENOMEM);
			assert_null(c);
		}
	}
	assert_true(ok);
}

/* ---- trace readers on small files -----------------------------------------
 */

/* Write text to dir/name and return the path (static buffer per call
 * site is not enough: the caller gets a malloc'd string). */
static char *
write_file(const char *dir, const char *name, const char *text)
{
	char *path = malloc(600);
	FILE *f;

	snprintf(path, 600, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* A file that must not load, and what its error must say. */
struct bad_file {
	const char *text, *says;
};

/* Each of bad, written as dir/name, fails with KSCHED_EINVAL. */
static void
check_bad_files(const char *name, const struct bad_file *bad, size_t n)
{
	char *dir = tu_tmpdir("bad");

	for (size_t i = 0; i < n; i++) {
		char *path = write_file(dir, name, bad[i].text);

		load_fails(path, NULL, KSCHED_EINVAL, bad[i].says);
		free(path);
	}
	tu_rmtree(dir);
}

static const char swf_small[] =
    "; Version: 2.2\n"
    "; MaxNodes: 64\n"
    ";   MaxProcs: 128\n"
    "\n"
    "    2   100 -1  50  4 -1 -1  8  200 -1 1  7 1 -1 -1 -1 -1 -1\n"
    "    1   100 -1  30 -1 -1 -1  2   -1 -1 1 -1 1 -1 -1 -1 -1 -1\n"
    "    3    50 -1 0.4  1 10.5 -1 1   10 -1 1  7 1 -1 -1 -1 -1 -1\n"
    "    4   200 -1   0  1 -1 -1  1   10 -1 0  8 1 -1 -1 -1 -1 -1\n"
    "    5   300 -1  -1  1 -1 -1  1   10 -1 0  8 1 -1 -1 -1 -1 -1\n"
    "    6   400 -1  10  0 -1 -1  0   10 -1 0  8 1 -1 -1 -1 -1 -1\n"
    "    7  -10 -1  10  1 -1 -1  1   10 -1 0  8 1 -1 -1 -1 -1 -1\n";

static void
test_sim_trace_swf_options(void **state)
{
	char *dir = tu_tmpdir("swf"), *path;
	struct ksched_sim_load_opts o;
	ksched_sim_workload *w;
	const struct ksched_sim_job *j;

	(void)state;
	path = write_file(dir, "small.swf", swf_small);
	w = load_ok(path, NULL);
	assert_string_equal(ksched_sim_workload_name(w), "small");
	assert_int_equal(ksched_sim_workload_machines(w), 128);
	/* 4 (run 0), 5 (run -1), 6 (size 0), 7 (submit < 0) dropped. */
	assert_int_equal(ksched_sim_workload_count(w), 3);
	assert_int_equal(ksched_sim_workload_dropped(w), 4);
	j = job_is(w, 0, 3, 50000, 400, 10000, -1);
	assert_string_equal(j->user, "7");
	/* Submit 100: id 1 before 2; allocated size unknown: the requested
	 * one; no requested time: the run time. */
	j = job_is(w, 1, 1, -1, -1, 30000, 2);
	assert_string_equal(j->user, "");
	assert_int_equal(j->need.cpu_milli, 1000);
	assert_int_equal(j->need.slots, 1);
	assert_int_equal(j->need.mem_mb, 0);
	j = job_is(w, 2, 2, -1, 50000, 200000, 4);
	assert_string_equal(j->name, "2");
	assert_ptr_equal(j->user, ksched_sim_workload_job(w, 0)->user);
	ksched_sim_workload_free(w);

	/* Requested size, Batsim's estimate and delay. */
	ksched_sim_load_opts_init(&o);
	o.swf_size = KSCHED_SWF_SIZE_REQUESTED;
	o.swf_estimate = KSCHED_SWF_EST_BATSIM;
	o.batsim_delay = true;
	w = load_ok(path, &o);
	/* run floor(0.4) + 1 s, walltime max(0.8, 10) s */
	j = job_is(w, 0, -1, -1, 1000, 10000, -1);
	j = job_is(w, 2, -1, -1, 51000, 200000, 8);
	ksched_sim_workload_free(w);

	/* The larger size, exact estimates, at most two jobs. */
	o.swf_size = KSCHED_SWF_SIZE_MAX;
	o.swf_estimate = KSCHED_SWF_EST_EXACT;
	o.batsim_delay = false;
	o.max_jobs = 2;
	w = load_ok(path, &o);
	assert_int_equal(ksched_sim_workload_count(w), 2);
	j = job_is(w, 1, 2, -1, -1, 50000, 8);
	ksched_sim_workload_free(w);

	/* Without drop_bad the first bad record is an error naming it... */
	ksched_sim_load_opts_init(&o);
	o.drop_bad = false;
	load_fails(path, &o, KSCHED_EINVAL,
		   "line 9: field 4 (run time): unknown (-1)");
	free(path);
	/* ...but a zero run time loads as a job that ends as it starts. */
	path = write_file(dir, "zero.swf",
			  "1 0 -1 0 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n");
	w = load_ok(path, &o);
	assert_int_equal(ksched_sim_workload_count(w), 1);
	assert_int_equal(ksched_sim_workload_job(w, 0)->run_ms, 0);
	assert_int_equal(ksched_sim_workload_machines(w), 0);
	ksched_sim_workload_free(w);
	free(path);
	tu_rmtree(dir);
}

static void
test_sim_trace_swf_errors(void **state)
{
	static const struct bad_file bad[] = {
	    {"; x\n1 0 -1 abc 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n",
	     "line 2: field 4 (run time): not a number (\"abc\")"},
	    {"1 0 -1 5 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1\n",
	     "line 1: 17 fields (SWF has 18)"},
	    {"1 0 -1 5 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1 9\n",
	     "line 1: over 18 fields"},
	    {"-3 0 -1 5 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n",
	     "line 1: field 1 (job number): not a whole number"},
	    {"1.5 0 -1 5 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n",
	     "field 1 (job number)"},
	    {"1 1e300 -1 5 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n",
	     "line 1: a time out of range"},
	    {"1 0 -1 5 1e12 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n", "too large"},
	    {"1 0 -1 5 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n"
	     "1 9 -1 5 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n",
	     "job id 1 appears twice"},
	    {"1 0 -1 5 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 nan\n",
	     "field 18 (think time): not a number"},
	};

	(void)state;
	check_bad_files("bad.swf", bad, sizeof(bad) / sizeof(*bad));
	load_fails("no/such/file.swf", NULL, KSCHED_ENOENT, "cannot open");
}

/* A file with a NUL byte is not a trace; nor is an endless line. */
static void
test_sim_trace_binary_input(void **state)
{
	char *dir = tu_tmpdir("binary"), path[600], blanks[1024];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/nul.swf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fwrite("; x\n1 0 -1 5\0 1 -1\n2 0 -1 5 1 -1\n", 1, 33, f);
	fclose(f);
	load_fails(path, NULL, KSCHED_EINVAL, "line 2: a NUL byte");
	snprintf(path, sizeof(path), "%s/long.jsonl", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	memset(blanks, ' ', sizeof(blanks));
	for (int i = 0; i < (17 << 10); i++) /* 17 MB of blanks */
		fwrite(blanks, 1, sizeof(blanks), f);
	fclose(f);
	load_fails(path, NULL, KSCHED_EINVAL, "line 1: line longer than 16 MB");
	tu_rmtree(dir);
}

/* gzip is read through zlib: the same records, compressed. */
static void
test_sim_trace_swf_gzip(void **state)
{
	char *dir = tu_tmpdir("swfgz"), path[600];
	ksched_sim_workload *w;
	gzFile gz;

	(void)state;
	snprintf(path, sizeof(path), "%s/small.swf.gz", dir);
	gz = gzopen(path, "wb");
	assert_non_null(gz);
	assert_int_equal(gzputs(gz, swf_small), (int)strlen(swf_small));
	assert_int_equal(gzclose(gz), Z_OK);
	w = load_ok(path, NULL);
	assert_string_equal(ksched_sim_workload_name(w), "small");
	assert_int_equal(ksched_sim_workload_count(w), 3);
	assert_int_equal(ksched_sim_workload_dropped(w), 4);
	ksched_sim_workload_free(w);

	/* A truncated gzip file is corrupt, not a short trace. */
	assert_int_equal(truncate(path, 30), 0);
	w = (ksched_sim_workload *)&w;
	{
		char err[256];
		ksched_err e =
		    ksched_sim_workload_load(path, NULL, &w, err, sizeof(err));

		assert_true(e == KSCHED_ECORRUPT || e == KSCHED_EINVAL);
		assert_null(w);
	}
	tu_rmtree(dir);
}

static void
test_sim_trace_batsim(void **state)
{
	static const char text[] =
	    "{\"nb_res\": 8, \"jobs\": [\n"
	    " {\"id\": \"w0!3\", \"subtime\": 1.5, \"res\": 2,"
	    "  \"walltime\": 100, \"profile\": \"d\"},\n"
	    " {\"id\": 9, \"subtime\": 0, \"res\": 1, \"walltime\": -1,"
	    "  \"profile\": \"e\"},\n"
	    " {\"id\": \"17\", \"subtime\": 0.25, \"res\": 4,"
	    "  \"profile\": \"d\"}],\n"
	    " \"profiles\": {\"d\": {\"type\": \"delay\", \"delay\": 10.5},"
	    "  \"e\": {\"type\": \"delay\", \"delay\": 0}}}\n";
	char *dir = tu_tmpdir("batsim"), *path;
	ksched_sim_workload *w;
	const struct ksched_sim_job *j;

	(void)state;
	path = write_file(dir, "wl.json", text);
	w = load_ok(path, NULL);
	assert_string_equal(ksched_sim_workload_name(w), "wl");
	assert_int_equal(ksched_sim_workload_machines(w), 8);
	assert_int_equal(ksched_sim_workload_count(w), 3);
	j = job_is(w, 0, 9, -1, 0, 0, -1);
	j = job_is(w, 1, 17, 250, -1, 0, 4);
	assert_string_equal(j->name, "17");
	/* "w0!3" is not a number: its id is its position */
	j = job_is(w, 2, 1, 1500, 10500, 100000, 2);
	assert_string_equal(j->name, "w0!3");
	assert_int_equal(j->need.cpu_milli, 1000);
	assert_int_equal(j->need.slots, 1);
	ksched_sim_workload_free(w);
	free(path);
	tu_rmtree(dir);
}

static void
test_sim_trace_batsim_errors(void **state)
{
	static const struct bad_file bad[] = {
	    {"{\"jobs\": [", "line 1, column"},
	    {"[1, 2]", "no 'jobs' array"},
	    {"{\"nb_res\": -1, \"jobs\": []}", "'nb_res' must be"},
	    {"{\"jobs\": [{}]}", "'profiles' must be an object"},
	    {"{\"jobs\": [7], \"profiles\": {}}", "jobs[0]: not an object"},
	    {"{\"jobs\": [{\"id\": 1.5}], \"profiles\": {}}",
	     "jobs[0]: field 'id'"},
	    {"{\"jobs\": [{\"id\": 1, \"subtime\": -2}], \"profiles\": {}}",
	     "jobs[0]: field 'subtime'"},
	    {"{\"jobs\": [{\"id\": 1, \"subtime\": 0, \"res\": 0}],"
	     " \"profiles\": {}}",
	     "jobs[0]: field 'res' must be an integer >= 1"},
	    {"{\"jobs\": [{\"id\": 1, \"subtime\": 0, \"res\": 1,"
	     " \"profile\": \"p\"}], \"profiles\": {}}",
	     "jobs[0]: no profile \"p\""},
	    {"{\"jobs\": [{\"id\": 1, \"subtime\": 0, \"res\": 1,"
	     " \"profile\": \"p\"}], \"profiles\": {\"p\": {\"type\":"
	     " \"parallel_homogeneous\", \"cpu\": 1e9}}}",
	     "has type \"parallel_homogeneous\": only \"delay\""},
	    {"{\"jobs\": [{\"id\": 1, \"subtime\": 0, \"res\": 1,"
	     " \"profile\": \"p\"}], \"profiles\": {\"p\": {\"type\":"
	     " \"delay\"}}}",
	     "field 'delay' must be"},
	    {"{\"jobs\": [{\"id\": 1, \"subtime\": 0, \"res\": 1,"
	     " \"profile\": \"p\"}, {\"id\": \"1\", \"subtime\": 0,"
	     " \"res\": 1, \"profile\": \"p\"}], \"profiles\": {\"p\":"
	     " {\"type\": \"delay\", \"delay\": 1}}}",
	     "job id 1 appears twice"},
	};

	(void)state;
	check_bad_files("bad.json", bad, sizeof(bad) / sizeof(*bad));
}

static void
test_sim_trace_openb(void **state)
{
	static const char text[] =
	    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,"
	    "pod_phase,creation_time,deletion_time,scheduled_time\n"
	    "p0,12000,16384,1,1000,,LS,Running,0,100,10\n"
	    "p1,3000,512,0,0,,BE,Pending,5,65,\n"
	    "p2,1000,1,2,460,V100,LS,Running,7,,7\n";
	char *dir = tu_tmpdir("openb"), *path;
	struct ksched_sim_load_opts o;
	ksched_sim_workload *w;
	const struct ksched_sim_job *j;

	(void)state;
	path = write_file(dir, "pods.csv", text);
	w = load_ok(path, NULL);
	assert_int_equal(ksched_sim_workload_count(w), 2);
	assert_int_equal(ksched_sim_workload_dropped(w), 1);
	/* run: deletion - scheduled */
	j = job_is(w, 0, 1, 0, 90000, -1, 1);
	assert_string_equal(j->name, "p0");
	assert_int_equal(j->need.cpu_milli, 12000);
	assert_int_equal(j->need.mem_mb, 16384);
	assert_int_equal(j->need.gpus, 1);
	j = ksched_sim_workload_job(w, 1);
	assert_string_equal(j->name, "p1");
	assert_int_equal(j->run_ms, 60000); /* never scheduled: - creation */
	ksched_sim_workload_free(w);
	ksched_sim_load_opts_init(&o);
	o.drop_bad = false;
	load_fails(path, &o, KSCHED_EINVAL, "line 4: no deletion_time");
	free(path);

	path = write_file(dir, "pods2.csv", "name,cpu_milli\np0,1\n");
	load_fails(path, NULL, KSCHED_EINVAL, "line 1: no column 'memory_mib'");
	free(path);
	path = write_file(dir, "pods3.csv",
			  "name,cpu_milli,memory_mib,num_gpu,creation_time,"
			  "deletion_time,scheduled_time\np0,-1,1,0,0,1,0\n");
	load_fails(path, NULL, KSCHED_EINVAL,
		   "line 2: field 'cpu_milli': not an integer >= 0");
	free(path);
	path = write_file(dir, "pods4.csv",
			  "name,cpu_milli,memory_mib,num_gpu,creation_time,"
			  "deletion_time,scheduled_time\np0,1,1\n");
	load_fails(path, NULL, KSCHED_EINVAL, "line 2: 3 fields, no 'num_gpu'");
	free(path);
	tu_rmtree(dir);
}

static void
test_sim_trace_jsonl(void **state)
{
	static const char text[] =
	    "{\"at\": 2, \"run\": 30, \"walltime\": 60, \"task\": {\"kind\":"
	    " \"render\", \"cpu\": 2000, \"mem\": 512, \"gpus\": 1,"
	    " \"nodes\": 2, \"priority\": 5, \"user\": \"ann\"}}\n"
	    "\n"
	    "{\"at\": 1.5, \"run\": 0.25}\n"
	    "{\"at\": 3, \"run\": 1, \"id\": 100, \"name\": \"last\","
	    " \"task\": {\"timeout\": 9, \"user\": \"ann\"}}\n";
	char *dir = tu_tmpdir("jsonl"), *path;
	ksched_sim_workload *w;
	const struct ksched_sim_job *j;

	(void)state;
	path = write_file(dir, "w.jsonl", text);
	w = load_ok(path, NULL);
	assert_int_equal(ksched_sim_workload_count(w), 3);
	/* the bare job */
	j = job_is(w, 0, 2, 1500, 250, 0, 1);
	assert_int_equal(j->need.cpu_milli, 1000);
	assert_null(j->spec);
	j = job_is(w, 1, 1, 2000, 30000, 60000, 2);
	assert_int_equal(j->need.cpu_milli, 2000);
	assert_int_equal(j->need.mem_mb, 512);
	assert_int_equal(j->need.gpus, 1);
	assert_int_equal(j->need.slots, 1);
	assert_int_equal(j->priority, 5);
	assert_string_equal(j->user, "ann");
	assert_string_equal(j->kind, "render");
	assert_non_null(j->spec);
	assert_string_equal(ksched_task_kind(j->spec), "render");
	/* walltime: the task's timeout */
	j = job_is(w, 2, 100, -1, -1, 9000, -1);
	assert_string_equal(j->name, "last");
	assert_string_equal(j->kind, "sim"); /* the default kind */
	assert_ptr_equal(j->user, ksched_sim_workload_job(w, 1)->user);
	ksched_sim_workload_free(w);
	free(path);
	tu_rmtree(dir);
}

static void
test_sim_trace_jsonl_errors(void **state)
{
	static const struct bad_file bad[] = {
	    {"{\"at\": 1, \"run\": 1}\n{\"at\": 1,", "line 2, column"},
	    {"[1]\n", "line 1: not a JSON object"},
	    {"{\"run\": 1}\n", "line 1: field 'at' must be"},
	    {"{\"at\": 1, \"run\": -1}\n", "line 1: field 'run' must be"},
	    {"{\"at\": 1, \"run\": 1, \"walltime\": \"x\"}\n",
	     "field 'walltime' must be"},
	    {"{\"at\": 1, \"run\": 1, \"cpu\": 3}\n",
	     "line 1: unknown field 'cpu'"},
	    {"{\"at\": 1, \"run\": 1, \"task\": 3}\n",
	     "field 'task' must be an object"},
	    {"{\"at\": 1, \"run\": 1, \"task\": {\"cpu\": \"x\"}}\n",
	     "line 1: task: field 'cpu' must be an integer"},
	    {"{\"at\": 1, \"run\": 1, \"task\": {\"cpu\": -5}}\n",
	     "line 1: task: task spec: field 'cpu'"},
	    {"{\"at\": 1, \"run\": 1, \"task\": {\"bogus\": 1}}\n",
	     "line 1: task:"},
	    {"{\"at\": 1, \"run\": 1, \"task\": {\"kind\": \"exec\"}}\n",
	     "line 1: task: task spec: field 'argv' must not be empty"},
	    {"{\"at\": 1, \"run\": 1, \"id\": -4}\n", "field 'id' must be"},
	    {"{\"at\": 1, \"run\": 1, \"name\": 4}\n", "field 'name' must be"},
	    {"{\"at\": 1, \"run\": 1, \"id\": 2}\n{\"at\": 1, \"run\": 1}\n",
	     "job id 2 appears twice"},
	};

	(void)state;
	check_bad_files("bad.jsonl", bad, sizeof(bad) / sizeof(*bad));
}

/* Without a known extension the first line decides. */
static void
test_sim_trace_detect(void **state)
{
	static const struct {
		const char *text;
		size_t count;
	} files[] = {
	    {"; MaxProcs: 4\n1 0 -1 5 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 "
	     "-1\n",
	     1},
	    {"\n  {\"at\": 0, \"run\": 1}\n{\"at\": 0, \"run\": 1}\n", 2},
	    {"{\n \"jobs\": [], \"profiles\": {}}\n", 0},
	    {"name,cpu_milli,memory_mib,num_gpu,creation_time,"
	     "deletion_time,scheduled_time\np,1,1,0,0,1,0\n",
	     1},
	};
	char *dir = tu_tmpdir("detect");
	struct ksched_sim_load_opts o;

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		char *path = write_file(dir, "trace.txt", files[i].text);
		ksched_sim_workload *w = load_ok(path, NULL);

		assert_int_equal(ksched_sim_workload_count(w), files[i].count);
		assert_string_equal(ksched_sim_workload_name(w), "trace.txt");
		ksched_sim_workload_free(w);
		free(path);
	}
	{
		char *path = write_file(dir, "what", "hello\n");

		load_fails(path, NULL, KSCHED_EINVAL,
			   "cannot tell the trace format");
		/* An explicit format wins over the name. */
		ksched_sim_load_opts_init(&o);
		o.format = KSCHED_SIM_FORMAT_SWF;
		load_fails(path, &o, KSCHED_EINVAL, "line 1: 1 fields");
		o.format = (enum ksched_sim_format)99;
		load_fails(path, &o, KSCHED_EINVAL, "unknown format");
		free(path);
	}
	tu_rmtree(dir);
}

/* Damaged files (cut short, bytes flipped) give an error or a workload,
 * never a crash; ASan checks the reads. */
static void
test_sim_trace_damaged_input(void **state)
{
	static const char *const samples[] = {
	    swf_small,
	    "{\"nb_res\": 2, \"jobs\": [{\"id\": 1, \"subtime\": 0, \"res\":"
	    " 1, \"profile\": \"p\"}], \"profiles\": {\"p\": {\"type\":"
	    " \"delay\", \"delay\": 1}}}",
	    "name,cpu_milli,memory_mib,num_gpu,creation_time,"
	    "deletion_time,scheduled_time\np,1,1,0,0,1,0\nq,2,2,1,3,9,\n",
	    "{\"at\": 1, \"run\": 2, \"task\": {\"cpu\": 10}}\n{\"at\": 0, "
	    "\"run\": 1}\n",
	};
	static const char *const names[] = {"d.swf", "d.json", "d.csv",
					    "d.jsonl"};
	char *dir = tu_tmpdir("damaged"), buf[2048];
	uint64_t seed = 7;

	(void)state;
	for (int round = 0; round < 400; round++) {
		size_t k = round % 4, n = strlen(samples[k]);
		ksched_sim_workload *w = NULL;
		char *path, err[256];
		ksched_err e;

		memcpy(buf, samples[k], n + 1);
		if (round % 3 == 0)
			buf[tu_rand(&seed) % n] = '\0';
		for (int f = 0; f < 3; f++)
			buf[tu_rand(&seed) % n] =
			    "0-9\n{}[],\":; ax.e"[tu_rand(&seed) % 17];
		path = write_file(dir, names[k], buf);
		e = ksched_sim_workload_load(path, NULL, &w, err, sizeof(err));
		if (e == KSCHED_OK)
			ksched_sim_workload_free(w);
		else
			assert_null(w);
		free(path);
	}
	tu_rmtree(dir);
}

static void
test_sim_trace_load_alloc_failure(void **state)
{
	char *dir = tu_tmpdir("loadfail"), *paths[3];
	long n;

	(void)state;
	paths[0] = write_file(dir, "a.swf", swf_small);
	paths[1] =
	    write_file(dir, "b.jsonl",
		       "{\"at\": 1, \"run\": 2, \"task\": {\"cpu\": "
		       "10, \"user\": \"u\"}}\n{\"at\": 0, \"run\": 1}\n");
	paths[2] = write_file(dir, "c.nodes",
			      "# racks\n2x(cpu=4,label.rack=a)\n"
			      "1x(cpu=8,label.rack=b)\n");
	for (int k = 0; k < 2; k++) {
		int ok = 0;

		for (n = 0; n < 400 && !ok; n++) {
			ksched_sim_workload *w = NULL;
			ksched_err e;

			ksched__alloc_fail_after(n);
			e = ksched_sim_workload_load(paths[k], NULL, &w, NULL,
						     0);
			ksched__alloc_fail_after(-1);
			if (e == KSCHED_OK) {
				assert_int_equal(ksched_sim_workload_count(w),
						 k ? 2 : 3);
				ksched_sim_workload_free(w);
				ok = 1;
			} else {
				assert_null(w);
			}
		}
		assert_true(ok);
	}
	for (n = 0; n < 400; n++) {
		ksched_sim_cluster *c = NULL;
		ksched_err e;

		ksched__alloc_fail_after(n);
		e = ksched_sim_cluster_load(paths[2], &c, NULL, 0);
		ksched__alloc_fail_after(-1);
		if (e == KSCHED_OK) {
			assert_int_equal(ksched_sim_cluster_count(c), 3);
			ksched_sim_cluster_free(c);
			break;
		}
		assert_int_equal(e, KSCHED_ENOMEM);
		assert_null(c);
	}
	assert_true(n < 400);
	for (int k = 0; k < 3; k++)
		free(paths[k]);
	tu_rmtree(dir);
}

static void
cluster_load_fails(const char *dir, const char *name, const char *text,
		   const char *want)
{
	char *path = write_file(dir, name, text), err[512];
	ksched_sim_cluster *c = (ksched_sim_cluster *)&c;

	assert_int_equal(ksched_sim_cluster_load(path, &c, err, sizeof(err)),
			 KSCHED_EINVAL);
	assert_null(c);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not say \"%s\"", err, want);
	free(path);
}

/* Node rows are bounded like a spec's, so that sums cannot overflow. */
static void
cluster_load_limits(const char *dir)
{
	static const char *const rows[] = {
	    "a,9223372036854775807,1,0\nb,9223372036854775807,1,0\n",
	    "a,1000,1,0\nb,1000001,1,0\n",
	    "a,1000,16777217,0\n",
	    "a,1000,1,65\n",
	};
	static const char *const want[] = {"line 2: cpu_milli", "line 3",
					   "line 2", "line 2"};
	char text[256];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(text, sizeof(text), "sn,cpu_milli,memory_mib,gpu\n%s",
			 rows[i]);
		cluster_load_fails(dir, "big.csv", text, want[i]);
	}
}

/* More columns than the loader reads: a clear error naming the line, not
 * a read past the field array (17 and 40 columns, header and row). */
static void
cluster_load_wide(const char *dir)
{
	static const int ncols[] = {17, 40};
	char text[2048], want[64];
	size_t n;

	for (size_t i = 0; i < 2; i++) {
		for (int row = 0; row < 2; row++) {
			n = (size_t)snprintf(text, sizeof(text), "%s",
					     "sn,cpu_milli,memory_mib,gpu");
			for (int k = 4; k < (row ? 4 : ncols[i]); k++)
				n += (size_t)snprintf(text + n,
						      sizeof(text) - n,
						      ",x%d", k);
			n += (size_t)snprintf(text + n, sizeof(text) - n,
					      "\na,1000,1,0");
			for (int k = 4; k < (row ? ncols[i] : 4); k++)
				n += (size_t)snprintf(text + n,
						      sizeof(text) - n, ",v");
			snprintf(text + n, sizeof(text) - n, "\n");
			snprintf(want, sizeof(want),
				 "line %d: more than 16 columns", row + 1);
			cluster_load_fails(dir, "wide.csv", text, want);
		}
	}
}

static void
test_sim_trace_cluster_load(void **state)
{
	char *dir = tu_tmpdir("nodes"), *path, err[512];
	ksched_sim_cluster *c;
	const struct ksched_sim_node *n;

	(void)state;
	path = write_file(dir, "c.nodes",
			  "# two racks\n\n2x(cpu=4, label.rack=a)  # small\n"
			  "1x(cpu=16,mem=65536,gpus=2,label.rack=b)\n");
	assert_int_equal(ksched_sim_cluster_load(path, &c, err, sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched_sim_cluster_count(c), 3);
	n = node_is(c, 2, "n2", 16000, 65536, 2, 16);
	assert_string_equal(n->labels[0].value, "b");
	ksched_sim_cluster_free(c);
	free(path);

	path = write_file(dir, "bad.nodes", "2x(cpu=4)\n\n3x(cpu=x)\n");
	assert_int_equal(ksched_sim_cluster_load(path, &c, err, sizeof(err)),
			 KSCHED_EINVAL);
	assert_null(c);
	assert_non_null(strstr(err, "line 3: cluster spec: group 1: 'cpu'"));
	free(path);
	path = write_file(dir, "empty.nodes", "# nothing\n");
	assert_int_equal(ksched_sim_cluster_load(path, &c, err, sizeof(err)),
			 KSCHED_EINVAL);
	assert_non_null(strstr(err, "no nodes"));
	free(path);
	path = write_file(dir, "n.csv",
			  "sn,cpu_milli,memory_mib,gpu,model\n"
			  "a,32000,262144,0,\nb,96000,393216,8,G2\n");
	assert_int_equal(ksched_sim_cluster_load(path, &c, err, sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(ksched_sim_cluster_count(c), 2);
	n = node_is(c, 1, "b", 96000, 393216, 8, 96);
	assert_int_equal(n->nlabels, 1);
	assert_string_equal(n->labels[0].key, "model");
	assert_string_equal(n->labels[0].value, "G2");
	assert_int_equal(ksched_sim_cluster_node(c, 0)->nlabels, 0);
	ksched_sim_cluster_free(c);
	free(path);
	path = write_file(dir, "n2.csv",
			  "sn,cpu_milli,memory_mib,gpu\n"
			  "a,32000,-5,0\n");
	assert_int_equal(ksched_sim_cluster_load(path, &c, err, sizeof(err)),
			 KSCHED_EINVAL);
	assert_non_null(strstr(err, "line 2: cpu_milli, memory_mib and gpu"));
	free(path);
	cluster_load_limits(dir);
	cluster_load_wide(dir);
	assert_int_equal(
	    ksched_sim_cluster_load("no/such.nodes", &c, err, sizeof(err)),
	    KSCHED_ENOENT);
	tu_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sim_trace_workload_add_sorted),
	    cmocka_unit_test(test_sim_trace_workload_spec_copied),
	    cmocka_unit_test(test_sim_trace_workload_many),
	    cmocka_unit_test(test_sim_trace_workload_alloc_failure),
	    cmocka_unit_test(test_sim_trace_cluster_parse),
	    cmocka_unit_test(test_sim_trace_cluster_parse_errors),
	    cmocka_unit_test(test_sim_trace_cluster_parse_random),
	    cmocka_unit_test(test_sim_trace_cluster_alloc_failure),
	    cmocka_unit_test(test_sim_trace_swf_options),
	    cmocka_unit_test(test_sim_trace_swf_errors),
	    cmocka_unit_test(test_sim_trace_swf_gzip),
	    cmocka_unit_test(test_sim_trace_binary_input),
	    cmocka_unit_test(test_sim_trace_batsim),
	    cmocka_unit_test(test_sim_trace_batsim_errors),
	    cmocka_unit_test(test_sim_trace_openb),
	    cmocka_unit_test(test_sim_trace_jsonl),
	    cmocka_unit_test(test_sim_trace_jsonl_errors),
	    cmocka_unit_test(test_sim_trace_detect),
	    cmocka_unit_test(test_sim_trace_damaged_input),
	    cmocka_unit_test(test_sim_trace_load_alloc_failure),
	    cmocka_unit_test(test_sim_trace_cluster_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
