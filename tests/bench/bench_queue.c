/*
 * Benchmark of the durable queue and the result cache, against a raw LMDB
 * loop run in the same process, plus the peak RSS of a process holding
 * 1,000,000 queued tasks.  Figures for docs/benchmarks.md.
 *
 *   bench_queue            the full run (under a minute on 2 cores)
 *   bench_queue --quick    a much smaller smoke run
 *
 * Every throughput is the median of several runs, each in a fresh store in
 * a fresh directory under $TMPDIR (or /tmp).  Targets are reported as PASS
 * or MISS lines; a miss does not fail the run, an API error does (exit 1).
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "../testutil.h"
#include "bench.h"
#include "ksched.h"

#define BATCH 1000
#define LEASE_MS 60000
#define RESULT "hello\n"
#define RESULT_LEN 6

/* Targets (see docs/benchmarks.md). */
#define TARGET_PUSH_RATIO 0.40
#define TARGET_LC_RATE 300000.0
#define TARGET_RSS_MB 256.0

struct cfg {
	bool quick;
	int reps;
	size_t n_strict1; /* tasks at batch 1, strict: every commit fsyncs */
	size_t n_none1;	  /* tasks at batch 1, none */
	size_t n_batch;	  /* tasks at batch 1000 */
	size_t n_cache;	  /* cache entries (put) */
	size_t n_gets;	  /* cache gets */
	size_t n_rss;	  /* queued tasks held by the RSS children */
};

/* One queue configuration: sync mode and batch size, medians of reps. */
struct row {
	enum ksched_sync sync;
	size_t batch;
	size_t n;
	double raw, push, lc; /* per second */
};

/* What an RSS child reports. */
struct rss {
	long maxrss_kb, anon_kb, file_kb;
	double secs;
};

static char *base_dir; /* every store of the run lives under it */
static unsigned run_seq;
static const int64_t now_ms = 1700000000000; /* the queue never reads clocks */

/* --- helpers ------------------------------------------------------------ */

static void
cleanup(void)
{
	tu_rmtree(base_dir);
	base_dir = NULL;
}

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "bench_queue: %s: %s\n", what, why);
	exit(1);
}

#define CHECK(call)                                                            \
	do {                                                                   \
		ksched_err e_ = (call);                                        \
		if (e_)                                                        \
			die(#call, ksched_strerror(e_));                       \
	} while (0)

#define MDB_CHECK(call)                                                        \
	do {                                                                   \
		int rc_ = (call);                                              \
		if (rc_)                                                       \
			die(#call, mdb_strerror(rc_));                         \
	} while (0)

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A fresh path (not yet created) under base_dir; free with run_done(). */
static char *
run_dir(void)
{
	char *p = malloc(600);

	if (!p)
		die("malloc", strerror(ENOMEM));
	snprintf(p, 600, "%s/run-%u", base_dir, ++run_seq);
	return p;
}

static void
run_done(char *dir)
{
	tu_rmtree(dir);
}

static const char *
sync_name(enum ksched_sync sync)
{
	return sync == KSCHED_SYNC_STRICT ? "strict" : "none";
}

/* The task every benchmark pushes: small and realistic. */
static ksched_task *
bench_task(void)
{
	static const char *const argv[] = {"/bin/echo", "hello"};
	ksched_task *t;

	CHECK(ksched_task_new(&t));
	CHECK(ksched_task_set_kind(t, KSCHED_KIND_EXEC));
	CHECK(ksched_task_set_argv(t, 2, argv));
	CHECK(ksched_task_add_env(t, "LANG=C.UTF-8"));
	CHECK(ksched_task_add_label(t, "team", "bench"));
	CHECK(ksched_task_validate(t, NULL, 0));
	return t;
}

static void
open_queue(const char *dir, enum ksched_sync sync, ksched_store **s,
	   ksched_queue **q)
{
	char err[256] = "";
	ksched_err e = ksched_store_open(dir, sync, s, err, sizeof(err));

	if (e)
		die("ksched_store_open", err[0] ? err : ksched_strerror(e));
	CHECK(ksched_queue_open(*s, 1, q));
}

static void
close_queue(ksched_store *s, ksched_queue *q)
{
	ksched_queue_close(q);
	ksched_store_close(s);
}

/* Push n copies of t in batches of BATCH (n a multiple, or smaller). */
static void
push_batches(ksched_queue *q, const ksched_task *t, size_t n)
{
	const ksched_task *tasks[BATCH];

	for (size_t i = 0; i < BATCH; i++)
		tasks[i] = t;
	for (size_t i = 0; i < n; i += BATCH) {
		size_t k = n - i < BATCH ? n - i : BATCH;
		CHECK(ksched_queue_push_batch(q, tasks, k, now_ms, NULL, NULL,
					      NULL, 0));
	}
}

static void
expect_count(ksched_queue *q, enum ksched_state st, size_t n)
{
	uint64_t c[KSCHED_STATE_COUNT];

	ksched_queue_counts(q, c);
	if (c[st] != n)
		die("ksched_queue_counts", "unexpected number of tasks");
}

/* --- raw LMDB ------------------------------------------------------------ */

/*
 * n puts of val (8-byte big-endian increasing keys, flags 0) into a fresh
 * environment, batch puts per transaction; puts per second.
 */
static double
raw_run(enum ksched_sync sync, size_t n, size_t batch, const void *val,
	size_t len)
{
	unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
	char *dir = run_dir();
	unsigned char kb[8];
	MDB_val k = {sizeof(kb), kb}, v = {len, (void *)val};
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	double t0, t1;

	if (sync == KSCHED_SYNC_NONE)
		flags |= MDB_NOSYNC;
	if (mkdir(dir, 0700) != 0)
		die(dir, strerror(errno));
	MDB_CHECK(mdb_env_create(&env));
	MDB_CHECK(mdb_env_set_mapsize(env, (size_t)1 << 32));
	MDB_CHECK(mdb_env_open(env, dir, flags, 0600));
	MDB_CHECK(mdb_txn_begin(env, NULL, 0, &txn));
	MDB_CHECK(mdb_dbi_open(txn, NULL, 0, &dbi));
	MDB_CHECK(mdb_txn_commit(txn));
	t0 = mono();
	for (size_t i = 0; i < n; i += batch) {
		MDB_CHECK(mdb_txn_begin(env, NULL, 0, &txn));
		for (size_t j = i; j < i + batch && j < n; j++) {
			uint64_t id = j + 1;
			for (int b = 0; b < 8; b++)
				kb[b] = (unsigned char)(id >> (56 - 8 * b));
			MDB_CHECK(mdb_put(txn, dbi, &k, &v, 0));
		}
		MDB_CHECK(mdb_txn_commit(txn));
	}
	t1 = mono();
	mdb_env_close(env);
	run_done(dir);
	return (double)n / (t1 - t0);
}

/* --- queue ---------------------------------------------------------------- */

/* Push n tasks, batch per call; tasks per second. */
static double
push_run(enum ksched_sync sync, size_t n, size_t batch, const ksched_task *t)
{
	const ksched_task *tasks[BATCH];
	char *dir = run_dir();
	ksched_store *s;
	ksched_queue *q;
	double t0, t1;

	for (size_t i = 0; i < BATCH; i++)
		tasks[i] = t;
	open_queue(dir, sync, &s, &q);
	t0 = mono();
	for (size_t i = 0; i < n; i += batch) {
		size_t k = n - i < batch ? n - i : batch;
		if (batch == 1)
			CHECK(ksched_queue_push(q, t, now_ms, NULL, NULL, 0));
		else
			CHECK(ksched_queue_push_batch(q, tasks, k, now_ms, NULL,
						      NULL, NULL, 0));
	}
	t1 = mono();
	expect_count(q, KSCHED_STATE_READY, n);
	close_queue(s, q);
	run_done(dir);
	return (double)n / (t1 - t0);
}

/* Lease up to batch tasks and complete them: the completes in one batch. */
static size_t
lease_complete(ksched_store *s, ksched_queue *q, size_t batch,
	       struct ksched_lease *ls)
{
	size_t got;

	CHECK(ksched_queue_lease(q, now_ms, LEASE_MS, batch, ls, &got));
	if (!got)
		die("ksched_queue_lease", "no READY task left");
	if (batch > 1)
		CHECK(ksched_store_begin(s));
	for (size_t j = 0; j < got; j++)
		CHECK(ksched_queue_complete(q, ls[j].id, ls[j].token, now_ms,
					    RESULT, RESULT_LEN));
	if (batch > 1)
		CHECK(ksched_store_commit(s));
	return got;
}

/* Lease and complete n queued tasks (pushed first, untimed); tasks/s. */
static double
lc_run(enum ksched_sync sync, size_t n, size_t batch, const ksched_task *t)
{
	struct ksched_lease *ls = calloc(BATCH, sizeof(*ls));
	char *dir = run_dir();
	ksched_store *s;
	ksched_queue *q;
	size_t done = 0;
	double t0, t1;

	if (!ls)
		die("calloc", strerror(ENOMEM));
	open_queue(dir, sync, &s, &q);
	push_batches(q, t, n);
	t0 = mono();
	while (done < n)
		done += lease_complete(s, q, batch, ls);
	t1 = mono();
	expect_count(q, KSCHED_STATE_SUCCEEDED, n);
	close_queue(s, q);
	run_done(dir);
	free(ls);
	return (double)n / (t1 - t0);
}

/* Measure one configuration: raw, push and lease+complete, interleaved. */
static void
measure_row(const struct cfg *cf, struct row *r, const ksched_task *t,
	    const void *enc, size_t enclen)
{
	double raw[8], push[8], lc[8];

	for (int i = 0; i < cf->reps; i++) {
		raw[i] = raw_run(r->sync, r->n, r->batch, enc, enclen);
		push[i] = push_run(r->sync, r->n, r->batch, t);
		lc[i] = lc_run(r->sync, r->n, r->batch, t);
	}
	r->raw = median(raw, cf->reps);
	r->push = median(push, cf->reps);
	r->lc = median(lc, cf->reps);
}

static void
print_row(const char *op, const struct row *r, double ours)
{
	char label[64], a[32], b[32];

	snprintf(label, sizeof(label), "%s %s batch=%zu:", op,
		 sync_name(r->sync), r->batch);
	printf("%-36s %11s tasks/s  raw lmdb %11s puts/s  ratio %.2f\n", label,
	       fmt_count(ours, a, sizeof(a)), fmt_count(r->raw, b, sizeof(b)),
	       ours / r->raw);
}

/* --- cache ------------------------------------------------------------- */

static void
cache_key(uint64_t i, struct ksched_key *k)
{
	uint64_t s = i, a = tu_rand(&s), b = tu_rand(&s);

	memcpy(k->bytes, &a, 8);
	memcpy(k->bytes + 8, &b, 8);
}

static void
open_cache(const char *dir, enum ksched_sync sync, ksched_store **s,
	   ksched_cache **c)
{
	char err[256] = "";
	ksched_err e = ksched_store_open(dir, sync, s, err, sizeof(err));

	if (e)
		die("ksched_store_open", err[0] ? err : ksched_strerror(e));
	CHECK(ksched_cache_open(*s, c));
}

/* Put entries 0 to n - 1, batch per transaction. */
static void
cache_fill(ksched_store *s, ksched_cache *c, size_t n, size_t batch)
{
	struct ksched_key k;

	for (size_t i = 0; i < n; i++) {
		if (batch > 1 && i % batch == 0)
			CHECK(ksched_store_begin(s));
		cache_key(i, &k);
		CHECK(ksched_cache_put(c, &k, KSCHED_KIND_EXEC, RESULT,
				       RESULT_LEN, 0, now_ms));
		if (batch > 1 && (i % batch == batch - 1 || i + 1 == n))
			CHECK(ksched_store_commit(s));
	}
}

/* Put n new entries, batch per transaction; puts per second. */
static double
cache_put_run(enum ksched_sync sync, size_t n, size_t batch)
{
	char *dir = run_dir();
	ksched_store *s;
	ksched_cache *c;
	double t0, t1;

	open_cache(dir, sync, &s, &c);
	t0 = mono();
	cache_fill(s, c, n, batch);
	t1 = mono();
	ksched_cache_close(c);
	ksched_store_close(s);
	run_done(dir);
	return (double)n / (t1 - t0);
}

/* Gets that hit, at random among n entries (copying the value); gets/s. */
static double
cache_get_run(size_t n, size_t gets)
{
	char *dir = run_dir();
	struct ksched_cache_stats st;
	struct ksched_key k;
	ksched_store *s;
	ksched_cache *c;
	uint64_t seed = 7;
	double t0, t1;

	open_cache(dir, KSCHED_SYNC_NONE, &s, &c);
	cache_fill(s, c, n, BATCH);
	t0 = mono();
	for (size_t i = 0; i < gets; i++) {
		void *v;
		size_t len;
		cache_key(tu_rand(&seed) % n, &k);
		CHECK(ksched_cache_get(c, &k, now_ms, &v, &len));
		ksched_free(v);
	}
	t1 = mono();
	ksched_cache_stats(c, &st);
	if (st.hits != gets)
		die("ksched_cache_get", "expected every get to hit");
	ksched_cache_close(c);
	ksched_store_close(s);
	run_done(dir);
	return (double)gets / (t1 - t0);
}

static void
print_cache(const char *what, double v)
{
	char a[32];

	printf("%-36s %11s ops/s\n", what, fmt_count(v, a, sizeof(a)));
}

static void
bench_cache(const struct cfg *cf)
{
	static const struct {
		enum ksched_sync sync;
		size_t batch;
	} puts[] = {
	    {KSCHED_SYNC_NONE, 1},
	    {KSCHED_SYNC_NONE, BATCH},
	    {KSCHED_SYNC_STRICT, 1},
	    {KSCHED_SYNC_STRICT, BATCH},
	};
	double v[8];
	char what[64];

	for (int i = 0; i < cf->reps; i++)
		v[i] = cache_get_run(cf->n_cache, cf->n_gets);
	snprintf(what, sizeof(what),
		 "cache get hit (%zu entries):", cf->n_cache);
	print_cache(what, median(v, cf->reps));
	for (size_t p = 0; p < sizeof(puts) / sizeof(puts[0]); p++) {
		bool slow =
		    puts[p].sync == KSCHED_SYNC_STRICT && puts[p].batch == 1;
		size_t n = slow ? cf->n_strict1 : cf->n_cache;
		for (int i = 0; i < cf->reps; i++)
			v[i] = cache_put_run(puts[p].sync, n, puts[p].batch);
		snprintf(what, sizeof(what),
			 "cache put %s batch=%zu:", sync_name(puts[p].sync),
			 puts[p].batch);
		print_cache(what, median(v, cf->reps));
	}
}

/* --- peak RSS: children exec'd afresh, so they inherit nothing -------- */

static long
status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	size_t fl = strlen(field);
	char line[256];
	long v = -1;

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			v = strtol(line + fl + 1, NULL, 10);
			break;
		}
	}
	if (f)
		fclose(f);
	return v;
}

/* bench_queue --rss-child push|open DIR N: report on stdout, one line. */
static int
rss_child(const char *mode, const char *dir, size_t n)
{
	ksched_task *t = bench_task();
	struct rusage ru;
	ksched_store *s;
	ksched_queue *q;
	double t0 = mono(), t1;

	open_queue(dir, KSCHED_SYNC_NONE, &s, &q);
	if (strcmp(mode, "push") == 0)
		push_batches(q, t, n);
	t1 = mono();
	expect_count(q, KSCHED_STATE_READY, n);
	getrusage(RUSAGE_SELF, &ru);
	printf("maxrss_kb=%ld anon_kb=%ld file_kb=%ld secs=%.6f\n",
	       ru.ru_maxrss, status_kb("RssAnon"), status_kb("RssFile"),
	       t1 - t0);
	close_queue(s, q);
	ksched_task_free(t);
	return 0;
}

static void
rss_exec(const char *argv0, const char *mode, const char *dir, size_t n)
{
	char nb[32];
	char *args[] = {
	    (char *)argv0, "--rss-child", (char *)mode, (char *)dir, nb, NULL};

	snprintf(nb, sizeof(nb), "%zu", n);
	execv("/proc/self/exe", args);
	execv(argv0, args);
	fprintf(stderr, "bench_queue: exec %s: %s\n", argv0, strerror(errno));
	_exit(127);
}

static void
rss_spawn(const char *argv0, const char *mode, const char *dir, size_t n,
	  struct rss *out)
{
	char buf[256];
	size_t len = 0;
	ssize_t r;
	int fd[2], status;
	pid_t pid;

	fflush(stdout);
	if (pipe(fd) != 0 || (pid = fork()) < 0)
		die("fork", strerror(errno));
	if (pid == 0) {
		close(fd[0]);
		if (dup2(fd[1], STDOUT_FILENO) < 0)
			_exit(127);
		rss_exec(argv0, mode, dir, n);
	}
	close(fd[1]);
	while ((r = read(fd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = 0;
	close(fd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		die("rss child", "failed");
	if (sscanf(buf, "maxrss_kb=%ld anon_kb=%ld file_kb=%ld secs=%lf",
		   &out->maxrss_kb, &out->anon_kb, &out->file_kb,
		   &out->secs) != 4)
		die("rss child", "unexpected report");
}

static double
mb(long kb)
{
	return (double)kb / 1024.0;
}

/* Returns the peak of both children in MB. */
static double
bench_rss(const struct cfg *cf, const char *argv0)
{
	char *dir = run_dir();
	char path[700], a[32], b[32];
	struct rss push, open;
	struct stat sb;

	rss_spawn(argv0, "push", dir, cf->n_rss, &push);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (stat(path, &sb) != 0)
		die(path, strerror(errno));
	rss_spawn(argv0, "open", dir, cf->n_rss, &open);
	run_done(dir);
	printf("push %s tasks (none, batch=%d): %s tasks/s, data.mdb %.1f MB\n",
	       fmt_count((double)cf->n_rss, a, sizeof(a)), BATCH,
	       fmt_count((double)cf->n_rss / push.secs, b, sizeof(b)),
	       mb((long)(sb.st_size / 1024)));
	printf("peak RSS after pushing them:    %7.1f MB "
	       "(at exit: anon %.1f MB, file-backed %.1f MB)\n",
	       mb(push.maxrss_kb), mb(push.anon_kb), mb(push.file_kb));
	printf("peak RSS after reopening them:  %7.1f MB "
	       "(at exit: anon %.1f MB, file-backed %.1f MB)\n",
	       mb(open.maxrss_kb), mb(open.anon_kb), mb(open.file_kb));
	printf("reopen (rebuild the indexes):   %7.3f s\n", open.secs);
	return mb(push.maxrss_kb > open.maxrss_kb ? push.maxrss_kb
						  : open.maxrss_kb);
}

/* --- main ---------------------------------------------------------------- */

static void
target(const char *what, const char *got, bool met)
{
	printf("%s %s: %s\n", met ? "PASS" : "MISS", what, got);
}

static void
targets(const struct cfg *cf, const struct row *strict1000,
	const struct row *none1000, double rss_mb)
{
	char got[96], a[32];
	double ratio = strict1000->push / strict1000->raw;

	printf("\n");
	snprintf(got, sizeof(got), "%.2f", ratio);
	target("push strict batch=1000 >= 0.40 x raw lmdb (strict, batch=1000)",
	       got, ratio >= TARGET_PUSH_RATIO);
	snprintf(got, sizeof(got), "%s tasks/s",
		 fmt_count(none1000->lc, a, sizeof(a)));
	target("lease+complete none batch=1000 >= 300,000 tasks/s", got,
	       none1000->lc >= TARGET_LC_RATE);
	if (cf->quick) {
		printf("SKIP peak RSS with 1,000,000 queued tasks <= 256 MB: "
		       "--quick holds only %zu\n",
		       cf->n_rss);
		return;
	}
	snprintf(got, sizeof(got), "%.1f MB", rss_mb);
	target("peak RSS with 1,000,000 queued tasks <= 256 MB", got,
	       rss_mb <= TARGET_RSS_MB);
}

static void
bench_queue(const struct cfg *cf, struct row *rows, size_t nrows)
{
	ksched_task *t = bench_task();
	void *enc;
	size_t enclen;

	CHECK(ksched_task_encode(t, &enc, &enclen));
	printf("task: kind exec, argv {/bin/echo, hello}, 1 env, 1 label: "
	       "%zu bytes encoded (raw lmdb puts records of that size)\n",
	       enclen);
	printf("each figure: median of %d runs, fresh store each\n\n",
	       cf->reps);
	for (size_t i = 0; i < nrows; i++)
		measure_row(cf, &rows[i], t, enc, enclen);
	for (size_t i = 0; i < nrows; i++)
		print_row("push", &rows[i], rows[i].push);
	for (size_t i = 0; i < nrows; i++)
		print_row("lease+complete", &rows[i], rows[i].lc);
	ksched_free(enc);
	ksched_task_free(t);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: bench_queue [--quick]\n"
		   "  --quick   a much smaller smoke run\n"
		   "Stores go in fresh directories under $TMPDIR (or /tmp).\n");
}

int
main(int argc, char **argv)
{
	static const struct cfg full = {
	    .reps = 3,
	    .n_strict1 = 2000,
	    .n_none1 = 50000,
	    .n_batch = 500000,
	    .n_cache = 100000,
	    .n_gets = 1000000,
	    .n_rss = 1000000,
	};
	static const struct cfg quick = {
	    .quick = true,
	    .reps = 1,
	    .n_strict1 = 200,
	    .n_none1 = 2000,
	    .n_batch = 10000,
	    .n_cache = 5000,
	    .n_gets = 50000,
	    .n_rss = 100000,
	};
	struct cfg cf = full;
	struct row rows[] = {
	    {.sync = KSCHED_SYNC_STRICT, .batch = 1},
	    {.sync = KSCHED_SYNC_STRICT, .batch = BATCH},
	    {.sync = KSCHED_SYNC_NONE, .batch = 1},
	    {.sync = KSCHED_SYNC_NONE, .batch = BATCH},
	};
	bool help = argc == 2 && strcmp(argv[1], "--help") == 0;
	double rss_mb;

	if (argc == 5 && strcmp(argv[1], "--rss-child") == 0)
		return rss_child(argv[2], argv[3], strtoull(argv[4], NULL, 10));
	if (argc == 2 && strcmp(argv[1], "--quick") == 0) {
		cf = quick;
	} else if (argc != 1) {
		usage(help ? stdout : stderr);
		return help ? 0 : 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	rows[0].n = cf.n_strict1;
	rows[1].n = cf.n_batch;
	rows[2].n = cf.n_none1;
	rows[3].n = cf.n_batch;
	base_dir = tu_tmpdir("bench");
	atexit(cleanup);
	printf("bench_queue: libksched %s, lmdb %s\n", ksched_version(),
	       mdb_version(NULL, NULL, NULL));
	bench_queue(&cf, rows, sizeof(rows) / sizeof(rows[0]));
	printf("\n");
	bench_cache(&cf);
	printf("\n");
	rss_mb = bench_rss(&cf, argv[0]);
	targets(&cf, &rows[1], &rows[3], rss_mb);
	return 0;
}
