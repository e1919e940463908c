/*
 * cluster_demo: the client side of `make demo`.  Submits Monte Carlo
 * estimates of pi to a running master (as `pi` handler tasks and `sim`
 * tasks, a third of them duplicates), shows progress, then prints a
 * summary: tasks per worker, cache hits, wall time, task latency.
 *
 *   cluster_demo CONTROL_URL [TASKS]
 */
#define _XOPEN_SOURCE 700
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ksched.h>
#include <ksched/client.h>

static void
die(ksched_client *c, const char *what, ksched_err e)
{
	fprintf(stderr, "cluster_demo: %s: %s%s%s\n", what, ksched_strerror(e),
		c && *ksched_client_last_error(c) ? ": " : "",
		c ? ksched_client_last_error(c) : "");
	exit(e == KSCHED_ENOTCONN ? 3 : 1);
}

static ksched_task *
pi_task(int i, int distinct)
{
	int seed = i % distinct;
	char payload[96];
	ksched_task *t;
	ksched_err e = ksched_task_new(&t);

	if (!e && seed % 4 == 0) {
		/* A simulated computation: the worker's `sim` executor. */
		snprintf(payload, sizeof(payload),
			 "{\"pi_samples\":400000,\"seed\":%d,\"cpu_ms\":5}",
			 seed);
		e = ksched_task_set_kind(t, KSCHED_KIND_SIM);
	} else if (!e) {
		snprintf(payload, sizeof(payload), "samples=400000 seed=%d",
			 seed);
		e = ksched_task_set_kind(t, "pi");
	}
	if (!e)
		e = ksched_task_set_payload(t, payload, strlen(payload));
	if (e)
		die(NULL, "task", e);
	ksched_task_set_resources(t, 250 + 250 * (seed % 3), 16, 0);
	ksched_task_set_priority(t, seed % 3);
	return t;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void
summary(ksched_client *c, const uint64_t *ids, int n, int64_t wall)
{
	struct ksched_task_status *st = calloc((size_t)n, sizeof(*st));
	int64_t *lat = calloc((size_t)n, sizeof(*lat));
	struct ksched_worker_status *ws;
	size_t nw;
	int ok = 0, cached = 0;
	ksched_err e;

	if (!st || !lat)
		die(c, "memory", KSCHED_ENOMEM);
	e = ksched_client_status(c, ids, (size_t)n, st);
	if (e)
		die(c, "status", e);
	for (int i = 0; i < n; i++) {
		ok += st[i].state == KSCHED_STATE_SUCCEEDED;
		cached += st[i].cached;
		lat[i] = st[i].due - st[i].submitted;
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
	printf("\nsummary\n");
	printf("  tasks               %d submitted, %d succeeded\n", n, ok);
	printf("  served from cache   %d (identical work ran once)\n",
	       cached);
	printf("  wall time           %" PRId64 " ms\n", wall);
	printf("  task latency        p50 %" PRId64 " ms, p99 %" PRId64
	       " ms (submit to result)\n",
	       lat[n / 2], lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]);
	e = ksched_client_workers(c, &ws, &nw);
	if (e)
		die(c, "workers", e);
	printf("  tasks per worker\n");
	for (size_t i = 0; i < nw; i++)
		printf("    %-12s %5" PRIu64 " ran   (cpu %" PRId64
		       "m, %" PRId64 " slots)\n",
		       ws[i].id, ws[i].completed, ws[i].capacity.cpu_milli,
		       ws[i].capacity.slots);
	ksched_free(ws);
	free(st);
	free(lat);
	if (ok != n)
		exit(1);
}

int
main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 300, distinct;
	ksched_task **ts;
	uint64_t *ids, remaining = 1;
	ksched_client *c;
	int64_t t0;
	ksched_err e;

	if (argc < 2 || n <= 0) {
		fprintf(stderr, "usage: cluster_demo CONTROL_URL [TASKS]\n");
		return 2;
	}
	distinct = n * 2 / 3 + 1;
	e = ksched_client_open(argv[1], &c);
	if (e)
		die(NULL, "open", e);
	ts = calloc((size_t)n, sizeof(*ts));
	ids = calloc((size_t)n, sizeof(*ids));
	for (int i = 0; i < n; i++)
		ts[i] = pi_task(i, distinct);
	t0 = ksched_now_ms();
	e = ksched_client_submit(c, (const ksched_task *const *)ts, (size_t)n,
				 ids, NULL);
	if (e)
		die(c, "submit", e);
	printf("submitted %d pi tasks (%d distinct)\n", n, distinct);
	while (remaining) {
		e = ksched_client_wait(c, ids, (size_t)n, false, 500,
				       &remaining);
		if (e)
			die(c, "wait", e);
		printf(isatty(1) ? "\rdone %" PRIu64 "/%d " : "done %" PRIu64
								"/%d\n",
		       (uint64_t)n - remaining, n);
		fflush(stdout);
	}
	summary(c, ids, n, ksched_now_ms() - t0);
	for (int i = 0; i < n; i++)
		ksched_task_free(ts[i]);
	free(ts);
	free(ids);
	ksched_client_close(c);
	return 0;
}
