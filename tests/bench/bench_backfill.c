/*
 * Benchmark of the rigid-job policies (fcfs, sjf, easy, easy:reserve=count,
 * conservative) on real SWF traces, in the virtual-time loop of
 * tests/rigidsim.h: jobs per second of simulated schedule, the policy's
 * select and events included, the core's bookkeeping not.  Figures for
 * docs/benchmarks.md.
 *
 *   bench_backfill                 the traces of ../shared/traces (NASA
 *                                  iPSC, 128 machines; HPC2N, 240)
 *   bench_backfill FILE.swf[.gz]   one trace (gzip -dc reads .gz)
 *   bench_backfill --quick         the first 3,000 jobs of each
 *
 * The loop is driven as the core drives the policy: select only when the
 * queue is not empty and a machine is free, a running gang listed once.
 * Jobs: size = allocated processors (field 5), one machine each; walltime
 * = requested time (field 9) when it is at least the run time, else the
 * run time; jobs with run time <= 0 or a size outside 1..machines are
 * dropped.  Each figure is the median of 3 runs, by CPU time of the
 * process (the loop is single-threaded; the machine may be shared).
 */
#define _XOPEN_SOURCE 700
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ksched/policy.h"
#include "policy_int.h"
#include "../rigidsim.h"
#include "bench.h"

#define RUNS 3

struct trace {
	char name[64];
	struct rs_job *jobs;
	size_t n, dropped;
	size_t machines;
};

/* CPU time of the process: the machine may be shared. */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static FILE *
open_trace(const char *path, bool *piped)
{
	size_t n = strlen(path);
	char cmd[1200];

	*piped = n > 3 && strcmp(path + n - 3, ".gz") == 0;
	if (!*piped)
		return fopen(path, "r");
	snprintf(cmd, sizeof(cmd), "gzip -dc '%s'", path);
	return popen(cmd, "r");
}

/* One SWF record into t (or counted as dropped). */
static void
swf_record(struct trace *t, const char *line, size_t max)
{
	double f[18];
	int k = sscanf(line,
		       "%lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf "
		       "%lf %lf %lf %lf %lf",
		       &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7],
		       &f[8], &f[9], &f[10], &f[11], &f[12], &f[13], &f[14],
		       &f[15], &f[16], &f[17]);
	int64_t run, wall, size;

	if (k < 9 || (max && t->n >= max))
		return;
	run = (int64_t)(f[3] * 1000);
	size = (int64_t)f[4];
	wall = f[8] * 1000 >= (double)run ? (int64_t)(f[8] * 1000) : run;
	if (run <= 0 || size <= 0 || (size_t)size > t->machines) {
		t->dropped++;
		return;
	}
	t->jobs[t->n++] = (struct rs_job){(uint64_t)f[0] + 1,
					  (int64_t)(f[1] * 1000),
					  run,
					  wall,
					  size,
					  -1,
					  -1};
}

/* Read an SWF trace; the machine count from MaxProcs (else MaxNodes). */
static int
load_swf(const char *path, size_t max, struct trace *t)
{
	bool piped;
	FILE *f = open_trace(path, &piped);
	char line[1024];
	size_t cap = 4096;
	long v;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s",
		 strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
	if (!f || !(t->jobs = malloc(cap * sizeof(*t->jobs)))) {
		fprintf(stderr, "bench_backfill: cannot read %s\n", path);
		if (f)
			piped ? pclose(f) : fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		if ((sscanf(line, "; MaxProcs: %ld", &v) == 1 ||
		     (!t->machines &&
		      sscanf(line, "; MaxNodes: %ld", &v) == 1)) &&
		    v > 0)
			t->machines = (size_t)v;
		if (line[0] == ';')
			continue;
		if (t->n == cap) {
			struct rs_job *j =
			    realloc(t->jobs, 2 * cap * sizeof(*j));
			if (!j)
				break;
			t->jobs = j;
			cap *= 2;
		}
		swf_record(t, line, max);
	}
	piped ? pclose(f) : fclose(f);
	if (!t->machines || !t->n) {
		fprintf(stderr, "bench_backfill: %s: no MaxProcs or no jobs\n",
			path);
		return -1;
	}
	qsort(t->jobs, t->n, sizeof(*t->jobs), rs_cmp_submit);
	return 0;
}

static const struct ksched_policy_ops *
ops_of(const char *spec)
{
	if (!strncmp(spec, "easy", 4))
		return &ksched__policy_easy;
	if (!strcmp(spec, "conservative"))
		return &ksched__policy_conservative;
	if (!strncmp(spec, "sjf", 3))
		return &ksched__policy_sjf;
	return &ksched__policy_fcfs;
}

/* One run: seconds of wall clock, mean wait (s) and selects. */
static int
run_once(const struct trace *t, const char *spec, double *secs, double *wait,
	 size_t *selects)
{
	struct rs_job *jobs = malloc(t->n * sizeof(*jobs));
	ksched_policy *p = NULL;
	char err[512];
	double t0, sum = 0;
	struct rs s;
	int rc = -1;

	if (!jobs || ksched_policy_load(spec, &p, err, sizeof(err))) {
		fprintf(stderr, "bench_backfill: %s: %s\n", spec, err);
		free(jobs);
		return -1;
	}
	memcpy(jobs, t->jobs, t->n * sizeof(*jobs));
	rs_init(&s, ops_of(spec), ksched__policy_state(p), t->machines, jobs,
		t->n);
	s.like_core = s.gang_one_entry = true;
	t0 = now_s();
	if (rs_run(&s, 40 * t->n, NULL, NULL) == 0) {
		*secs = now_s() - t0;
		for (size_t i = 0; i < t->n; i++)
			sum += (double)(jobs[i].start - jobs[i].submit);
		*wait = sum / (double)t->n / 1000.0;
		*selects = s.selects;
		rc = 0;
	} else {
		fprintf(stderr, "bench_backfill: %s on %s: %s\n", spec, t->name,
			s.err);
	}
	rs_free(&s);
	ksched_policy_free(p);
	free(jobs);
	return rc;
}

static int
bench_trace(const struct trace *t)
{
	const char *pols[] = {"fcfs", "sjf", "easy", "easy:reserve=count",
			      "conservative"};
	char b1[32], b2[32];

	printf("\n%s: %zu jobs (%zu dropped), %zu machines\n", t->name, t->n,
	       t->dropped, t->machines);
	printf("  %-20s %12s %10s %10s %12s\n", "policy", "jobs/s", "selects",
	       "cpu (s)", "mean wait s");
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		double secs[RUNS], wait = 0, med;
		size_t sel = 0;
		for (int r = 0; r < RUNS; r++)
			if (run_once(t, pols[i], &secs[r], &wait, &sel))
				return -1;
		med = median(secs, RUNS);
		printf("  %-20s %12s %10s %10.3f %12.1f\n", pols[i],
		       fmt_count((double)t->n / med, b1, sizeof(b1)),
		       fmt_count((double)sel, b2, sizeof(b2)), med, wait);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *defaults[] = {
	    "../shared/traces/NASA-iPSC-1993-3.1-cln.swf.gz",
	    "../shared/traces/HPC2N-2002-2.2-alea-subset.swf"};
	const char *const *paths = defaults;
	size_t max = 0, n = 2;
	int status = 0;

	if (argc > 1 && !strcmp(argv[1], "--quick")) {
		max = 3000;
		argc--;
		argv++;
	}
	if (argc > 1) {
		paths = (const char *const *)argv + 1;
		n = (size_t)argc - 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct trace t;
		if (paths == defaults && access(paths[i], R_OK) != 0) {
			printf("skip: %s not found\n", paths[i]);
			continue;
		}
		if (load_swf(paths[i], max, &t) || bench_trace(&t))
			status = 1;
		free(t.jobs);
	}
	return status;
}
