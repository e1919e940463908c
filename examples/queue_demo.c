/*
 * queue_demo: the durable queue and the result cache, in one process.
 *
 * Pushes Monte Carlo estimates of pi as tasks (some of them duplicates),
 * then plays the worker: leases tasks in batches, serves a task from the
 * result cache when an identical one already ran, computes it otherwise,
 * and completes it.  Prints what happened.
 *
 *   queue_demo [DATA_DIR] [TASKS]
 *
 * Build out of tree: cc queue_demo.c $(pkg-config --cflags --libs libksched)
 */
#define _XOPEN_SOURCE 700
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ksched.h>

#define CHECK(call)                                                           \
	do {                                                                  \
		ksched_err e_ = (call);                                       \
		if (e_ != KSCHED_OK) {                                        \
			fprintf(stderr, "queue_demo: %s: %s\n", #call,        \
				ksched_strerror(e_));                         \
			exit(1);                                              \
		}                                                             \
	} while (0)

/* Estimate pi from `samples` points of a xorshift stream seeded by seed. */
static double
estimate_pi(uint64_t seed, long samples)
{
	uint64_t x = seed * 2654435761u + 1;
	long inside = 0;

	for (long i = 0; i < samples; i++) {
		double a, b;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		a = (double)(x >> 11) / 9007199254740992.0;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b = (double)(x >> 11) / 9007199254740992.0;
		inside += a * a + b * b <= 1.0;
	}
	return 4.0 * (double)inside / (double)samples;
}

static ksched_task *
pi_task(int seed)
{
	ksched_task *t;
	char payload[64];

	CHECK(ksched_task_new(&t));
	CHECK(ksched_task_set_kind(t, "pi"));
	snprintf(payload, sizeof(payload), "seed=%d samples=200000", seed);
	CHECK(ksched_task_set_payload(t, payload, strlen(payload)));
	ksched_task_set_priority(t, seed % 3);
	return t;
}

/* Run one leased task: from the cache if possible, else compute it. */
static int
run_task(ksched_queue *q, ksched_cache *c, const struct ksched_lease *l,
	 int64_t now)
{
	struct ksched_key key;
	ksched_task *spec;
	char out[64];
	void *hit;
	size_t len;
	int seed = 0;
	long samples = 0;

	CHECK(ksched_queue_get(q, l->id, NULL, &spec));
	ksched_task_cache_key(spec, &key);
	if (ksched_cache_get(c, &key, now, &hit, &len) == KSCHED_OK) {
		CHECK(ksched_queue_complete(q, l->id, l->token, now, hit, len));
		ksched_free(hit);
		ksched_task_free(spec);
		return 1;
	}
	sscanf(ksched_task_payload(spec, &len), "seed=%d samples=%ld", &seed,
	       &samples);
	snprintf(out, sizeof(out), "%.6f",
		 estimate_pi((uint64_t)seed, samples));
	CHECK(ksched_cache_put(c, &key, ksched_task_kind(spec), out,
			       strlen(out), 0, now));
	CHECK(ksched_queue_complete(q, l->id, l->token, now, out,
				    strlen(out)));
	ksched_task_free(spec);
	return 0;
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/ksched-demo-XXXXXX", err[256];
	const char *dir = argc > 1 ? argv[1] : mkdtemp(tmpl);
	int ntasks = argc > 2 ? atoi(argv[2]) : 300;
	struct ksched_lease leases[64];
	struct ksched_cache_stats cs;
	uint64_t counts[KSCHED_STATE_COUNT];
	ksched_store *s;
	ksched_queue *q;
	ksched_cache *c;
	int64_t t0 = ksched_now_ms();
	int hits = 0, ran = 0;
	size_t n;

	if (!dir || ntasks <= 0) {
		fprintf(stderr, "usage: queue_demo [DATA_DIR] [TASKS]\n");
		return 2;
	}
	if (ksched_store_open(dir, KSCHED_SYNC_STRICT, &s, err, sizeof(err))) {
		fprintf(stderr, "queue_demo: %s\n", err);
		return 1;
	}
	CHECK(ksched_queue_open(s, (uint64_t)t0, &q));
	CHECK(ksched_cache_open(s, &c));

	/* Submit: one transaction, one fsync.  Seeds repeat: duplicates. */
	ksched_task **ts = calloc((size_t)ntasks, sizeof(*ts));
	for (int i = 0; i < ntasks; i++)
		ts[i] = pi_task(i % (ntasks / 3 + 1));
	CHECK(ksched_queue_push_batch(q, (const ksched_task *const *)ts,
				      (size_t)ntasks, ksched_now_ms(), NULL,
				      NULL, err, sizeof(err)));
	for (int i = 0; i < ntasks; i++)
		ksched_task_free(ts[i]);
	free(ts);
	printf("submitted %d pi tasks to %s\n", ntasks, dir);

	/* Work: lease up to 64 at a time; complete them in one batch. */
	for (;;) {
		int64_t now = ksched_now_ms();
		CHECK(ksched_queue_lease(q, now, 30000, 64, leases, &n));
		if (n == 0)
			break;
		CHECK(ksched_store_begin(s));
		for (size_t i = 0; i < n; i++) {
			int hit = run_task(q, c, &leases[i], now);
			hits += hit;
			ran += !hit;
		}
		CHECK(ksched_store_commit(s));
		ksched_queue_counts(q, counts);
		if (isatty(STDOUT_FILENO)) {
			printf("\rdone %" PRIu64 "/%d",
			       counts[KSCHED_STATE_SUCCEEDED], ntasks);
			fflush(stdout);
		}
	}
	ksched_queue_counts(q, counts);
	ksched_cache_stats(c, &cs);
	printf("\n\nsummary\n");
	printf("  tasks succeeded   %" PRIu64 "\n",
	       counts[KSCHED_STATE_SUCCEEDED]);
	printf("  computed          %d\n", ran);
	printf("  served from cache %d (cache hits %" PRIu64
	       ", misses %" PRIu64 ", entries %" PRIu64 ")\n",
	       hits, cs.hits, cs.misses, cs.entries);
	printf("  wall time         %" PRId64 " ms\n", ksched_now_ms() - t0);

	ksched_cache_close(c);
	ksched_queue_close(q);
	ksched_store_close(s);
	return counts[KSCHED_STATE_SUCCEEDED] == (uint64_t)ntasks ? 0 : 1;
}
