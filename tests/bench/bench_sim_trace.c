/*
 * Benchmark: loading workload traces.  Writes a JSON lines workload of N
 * jobs (1,000,000; --quick: 100,000), bare and with a task object on
 * every line, into a temporary directory and loads each once in a child
 * process, reporting the load time and the child's peak RSS.  Also loads
 * the NASA SWF log when ../shared/traces (or $KSCHED_TRACES) has it.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ksched/sim.h"
#include "../testutil.h"
#include "bench.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
write_jsonl(const char *path, long n, int with_task)
{
	uint64_t seed = 1;
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(1);
	}
	for (long i = 0; i < n; i++) {
		unsigned run = (unsigned)(tu_rand(&seed) % 1000) + 1;

		if (with_task)
			fprintf(
			    f,
			    "{\"at\": %ld, \"run\": %u, \"task\": {\"cpu\": "
			    "%u, \"user\": \"u%u\"}}\n",
			    i, run, 500u << (tu_rand(&seed) % 3),
			    (unsigned)(tu_rand(&seed) % 100));
		else
			fprintf(f, "{\"at\": %ld, \"run\": %u}\n", i, run);
	}
	fclose(f);
}

/* Load path in a child; print jobs, seconds and the child's peak RSS. */
static int
measure(const char *label, const char *path)
{
	struct rusage ru;
	int fd[2], status;
	double secs = 0;
	size_t jobs = 0;
	char buf[32];
	pid_t pid;

	if (pipe(fd) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		ksched_sim_workload *w;
		char err[512];
		double t0 = now_s();
		ksched_err e =
		    ksched_sim_workload_load(path, NULL, &w, err, sizeof(err));
		double t = now_s() - t0;
		size_t n = e == KSCHED_OK ? ksched_sim_workload_count(w) : 0;

		if (e != KSCHED_OK)
			fprintf(stderr, "%s\n", err);
		if (write(fd[1], &t, sizeof(t)) != sizeof(t) ||
		    write(fd[1], &n, sizeof(n)) != sizeof(n))
			_exit(1);
		_exit(e == KSCHED_OK ? 0 : 1);
	}
	close(fd[1]);
	if (read(fd[0], &secs, sizeof(secs)) != sizeof(secs) ||
	    read(fd[0], &jobs, sizeof(jobs)) != sizeof(jobs))
		secs = -1;
	close(fd[0]);
	if (pid < 0 || wait4(pid, &status, 0, &ru) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0 || secs < 0)
		return -1;
	printf("  %-34s %10s jobs  %7.3f s  peak RSS %5ld MB\n", label,
	       fmt_count((double)jobs, buf, sizeof(buf)), secs,
	       ru.ru_maxrss / 1024);
	return 0;
}

int
main(int argc, char **argv)
{
	long n = argc > 1 && strcmp(argv[1], "--quick") == 0 ? 100000 : 1000000;
	char *dir = tu_tmpdir("bench-trace"), path[600], label[64], nbuf[32];
	const char *traces = getenv("KSCHED_TRACES");
	struct stat st;
	int rc = 0;

	printf("bench_sim_trace: loading workloads (one load each, in a "
	       "child)\n");
	snprintf(path, sizeof(path), "%s/bare.jsonl", dir);
	write_jsonl(path, n, 0);
	snprintf(label, sizeof(label), "JSON lines, bare, %s",
		 fmt_count((double)n, nbuf, sizeof(nbuf)));
	rc |= measure(label, path);
	snprintf(path, sizeof(path), "%s/task.jsonl", dir);
	write_jsonl(path, n, 1);
	snprintf(label, sizeof(label), "JSON lines, with task, %s",
		 fmt_count((double)n, nbuf, sizeof(nbuf)));
	rc |= measure(label, path);
	snprintf(path, sizeof(path), "%s/NASA-iPSC-1993-3.1-cln.swf.gz",
		 traces && *traces ? traces : "../shared/traces");
	if (stat(path, &st) == 0)
		rc |= measure("NASA iPSC/860 SWF (gzip)", path);
	else
		printf("  NASA SWF: %s absent, skipped\n", path);
	tu_rmtree(dir);
	return rc ? 1 : 0;
}
