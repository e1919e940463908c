/*
 * bench_sim - how fast the simulator replays workloads: jobs simulated per
 * second on the NASA iPSC/860 trace (fcfs and easy, 128 nodes), and a
 * generated 1,000,000-task workload on 10,000 workers: wall time
 * and peak RSS (getrusage), with fcfs ($BENCH_SIM_POLICY to change it).
 * --quick: 100,000 tasks on 1,000 workers.
 *
 * The generated workload is an SWF-like one: arrivals and run times in
 * whole seconds (run 60-600 s, one node each), arriving at a rate that
 * keeps the cluster about 95% busy.  The NASA trace is read from
 * ../shared/traces next to the source tree; that part is skipped when it
 * is absent.  Targets are reported as PASS or MISS lines (a miss does not
 * fail the run): 100,000 jobs/s on NASA; the 1,000,000-task run under 30 s
 * and 1 GB of RSS.
 */
#define _XOPEN_SOURCE 700
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ksched/policy.h"
#include "ksched/sim.h"
#include "bench.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
peak_rss_mb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024;
}

/* ROOT/../shared/traces/NAME, ROOT from this program's path
 * (ROOT/build/bench/bench_sim). */
static const char *
trace_path(const char *name)
{
	static char path[PATH_MAX + 128];
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = 0;
	snprintf(path, sizeof(path), "%s/../shared/traces/%s",
		 dirname(dirname(dirname(exe))), name);
	return access(path, R_OK) == 0 ? path : NULL;
}

static void
target(bool met, const char *what, const char *got)
{
	printf("%s %s: %s\n", met ? "PASS" : "MISS", what, got);
}

/* Run policy on w over cluster; *jps and *secs get the speed. */
static int
run_one(const ksched_sim_workload *w, const char *cluster, const char *policy,
	const char *label, double *jps, double *secs)
{
	ksched_sim_cluster *c;
	ksched_sim_result *r;
	struct ksched_sim_opts o;
	struct ksched_sim_metrics m;
	char err[512], a[32], b[32];
	double t0, dt;
	size_t n = ksched_sim_workload_count(w);

	if (ksched_sim_cluster_parse(cluster, &c, err, sizeof(err))) {
		fprintf(stderr, "bench_sim: %s\n", err);
		return 1;
	}
	ksched_sim_opts_init(&o);
	o.policy = policy;
	t0 = now_s();
	if (ksched_sim_run(w, c, &o, &r, err, sizeof(err))) {
		fprintf(stderr, "bench_sim: %s\n", err);
		ksched_sim_cluster_free(c);
		return 1;
	}
	dt = now_s() - t0;
	ksched_sim_result_metrics(r, &m);
	printf("%-34s %-6s %9s jobs %8.2f s %11s jobs/s  batches %s  "
	       "util %.1f%%  mean wait %.1f s  peak RSS %ld MB\n",
	       label, policy, fmt_count((double)n, a, sizeof(a)), dt,
	       fmt_count((double)n / dt, b, sizeof(b)),
	       fmt_count((double)m.batches, err, sizeof(err)),
	       m.utilization * 100, m.mean_wait, peak_rss_mb());
	*jps = (double)n / dt;
	*secs = dt;
	ksched_sim_result_free(r);
	ksched_sim_cluster_free(c);
	return 0;
}

static int
nasa(void)
{
	const char *p = trace_path("NASA-iPSC-1993-3.1-cln.swf.gz");
	ksched_sim_workload *w;
	char err[512];
	int rc = 0;

	if (!p) {
		printf("NASA trace: skipped (../shared/traces absent)\n");
		return 0;
	}
	if (ksched_sim_workload_load(p, NULL, &w, err, sizeof(err))) {
		fprintf(stderr, "bench_sim: %s\n", err);
		return 1;
	}
	for (int i = 0; i < 2 && !rc; i++) {
		const char *pol = i ? "easy" : "fcfs";
		char what[64], got[64];
		double jps = 0, dt;
		rc = run_one(w, "128x(cpu=1)", pol, "NASA iPSC/860 (128 nodes)",
			     &jps, &dt);
		snprintf(what, sizeof(what), "NASA with %s, >= 100,000 jobs/s",
			 pol);
		snprintf(got, sizeof(got), "%.0f jobs/s", jps);
		if (!rc)
			target(jps >= 100000, what, got);
	}
	ksched_sim_workload_free(w);
	return rc;
}

/* n one-node jobs for `workers` workers, about 95% load. */
static ksched_sim_workload *
generated(size_t n, int64_t workers)
{
	ksched_sim_workload *w;
	uint64_t seed = 1;
	double t = 0, rate = 0.95 * (double)workers / 330.0; /* jobs/s */

	if (ksched_sim_workload_new("generated", workers, &w))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct ksched_sim_job j;
		uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		memset(&j, 0, sizeof(j));
		t += 1.0 / rate;
		j.id = i + 1;
		j.submit_ms = (int64_t)t * 1000;
		j.run_ms = (60 + (int64_t)(z % 541)) * 1000;
		j.walltime_ms = 2 * j.run_ms;
		j.nodes = 1;
		j.need.cpu_milli = 1000;
		j.need.slots = 1;
		j.user = "";
		if (ksched_sim_workload_add(w, &j)) {
			ksched_sim_workload_free(w);
			return NULL;
		}
	}
	return w;
}

int
main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	size_t n = quick ? 100000 : 1000000;
	int64_t workers = quick ? 1000 : 10000;
	const char *policy = getenv("BENCH_SIM_POLICY");
	char cluster[64], label[64], a[32];
	ksched_sim_workload *w;
	double t0, jps = 0, dt = 0;
	int rc = nasa();

	if (!policy)
		policy = "fcfs";
	t0 = now_s();
	if (!(w = generated(n, workers))) {
		fprintf(stderr, "bench_sim: cannot build the workload\n");
		return 1;
	}
	printf("generated %s tasks in %.2f s\n",
	       fmt_count((double)n, a, sizeof(a)), now_s() - t0);
	snprintf(cluster, sizeof(cluster), "%lldx(cpu=1)", (long long)workers);
	snprintf(label, sizeof(label), "generated (%lld workers)",
		 (long long)workers);
	if (!rc && !(rc = run_one(w, cluster, policy, label, &jps, &dt))) {
		char got[64];
		snprintf(got, sizeof(got), "%.2f s, peak RSS %ld MB", dt,
			 peak_rss_mb());
		target(dt < 30 && peak_rss_mb() < 1024,
		       quick ? "100,000 tasks on 1,000 workers, < 30 s and "
			       "< 1 GB"
			     : "1,000,000 tasks on 10,000 workers, < 30 s "
			       "and < 1 GB",
		       got);
	}
	ksched_sim_workload_free(w);
	return rc;
}
