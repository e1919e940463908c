/*
 * Benchmark of the placement driver (ksched_policy_place, libksched/
 * policy.c) with each built-in policy, on fake views and no daemons:
 * placements per second with 10,000 queued tasks at 100, 1,000 and 5,000
 * workers.  Figures for docs/benchmarks.md.
 *
 *   bench_policy                 the full run (under a minute on 2 cores)
 *   bench_policy --quick         2,000 tasks, 1 run: a smoke run
 *   bench_policy --tasks N --reps R --slots S --workers W --policy NAME
 *                --mode one|windowed     (for profiling one case)
 *
 * Two ways of calling the driver:
 *
 *   one call   the whole queue in one view, outmax = the queue length;
 *   windowed   as the master calls it (libksched/sched_place.c): S free
 *              slots asked per call (outmax = S) and a queue window of
 *              64 + 8 * S ready tasks (the master's scan_len), repeated
 *              until the queue is empty; per-call costs show here.
 *
 * Every run starts from an empty cluster with a freshly loaded policy;
 * after each call the placements are checked (the task was in the view,
 * placed once, on a worker of the view, where it fits), applied to the
 * workers' allocation as the master does, and given to the policy as
 * TASK_STARTED events.  Both are timed: they are part of a placement.
 * Tasks a fully considered window left unplaced fit nowhere (allocation
 * only grows during a run), so they leave the queue instead of being shown
 * again.
 *
 * Each figure is the median of the runs, by wall clock and by CPU time of
 * the process (the machine may be shared).  Targets are PASS or MISS
 * lines; a miss does not fail the run, a driver error or a wrong placement
 * does (exit 1).
 */
#define _XOPEN_SOURCE 700
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../testutil.h"
#include "bench.h"
#include "ksched.h"

#define NUSERS 16
#define HEADROOM 1.3 /* cluster capacity over the queue's total need */
#define MAX_REPS 15

/* Targets (see docs/benchmarks.md): placements/s at 5,000 workers. */
#define TARGET_RATE 20000.0
#define AIM_RATE 40000.0
#define TARGET_WORKERS 5000

static const size_t worker_counts[] = {100, 1000, 5000};
#define NWCOUNTS (sizeof(worker_counts) / sizeof(worker_counts[0]))

static const char *const policies[] = {
    "least_loaded", "binpack", "spread", "round_robin", "priority", "fair",
};
#define NPOLICIES (sizeof(policies) / sizeof(policies[0]))

enum mode { ONE_CALL, WINDOWED, NMODES };

static const char *const mode_names[] = {"one call", "windowed"};

struct cfg {
	size_t ntasks;
	int reps;
	size_t slots;		 /* windowed: placements asked per call */
	size_t only_workers;	 /* 0: all of worker_counts */
	const char *only_policy; /* NULL: all */
	int only_mode;		 /* -1: both */
};

/* The queue (in queue order) and a cluster of nw workers. */
struct cluster {
	struct ksched_task_view *tasks; /* tasks[i].id == i + 1 */
	size_t ntasks;
	struct ksched_worker_view *base; /* empty cluster */
	struct ksched_worker_view *ws;	 /* this run's allocation */
	char (*ids)[24];
	size_t nw;
};

/* What a run needs besides the cluster, allocated once. */
struct scratch {
	size_t *pending; /* unplaced task positions, queue order */
	struct ksched_task_view *window;
	struct ksched_placement *out;
	uint32_t *seen; /* per task: the call that showed it, 0 none */
	bool *placed;
};

struct result {
	double wall, cpu; /* seconds */
	size_t placed, calls;
};

/* Medians over the runs of one cell. */
struct cell {
	double wall_rate, cpu_rate; /* placements/s */
	double calls, placed;
	bool done;
};

static char user_names[NUSERS][16];
static const int64_t now_ms = 1700000000000;

/* ---- helpers ------------------------------------------------------------- */

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "bench_policy: %s: %s\n", what, why);
	exit(1);
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		die("calloc", "out of memory");
	return p;
}

static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *
loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");

	snprintf(buf, len, "unknown");
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, " ")] = 0;
		fclose(f);
	}
	return buf;
}

/* ---- the fake cluster ---------------------------------------------------- */

static int64_t
rnd(uint64_t *seed, int64_t lo, int64_t hi) /* lo..hi inclusive */
{
	return lo + (int64_t)(tu_rand(seed) % (uint64_t)(hi - lo + 1));
}

/* Queue order, as the ready index gives it: priority, then submission. */
static int
cmp_queue(const void *x, const void *y)
{
	const struct ksched_task_view *a = x, *b = y;

	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	return (a->submitted > b->submitted) - (a->submitted < b->submitted);
}

/* n tasks: cpu 100-4000 millicores, mem 64-8192 MB, 10% with 1-2 gpus,
 * priority 0-3, one of NUSERS users. */
static struct ksched_task_view *
make_tasks(size_t n)
{
	struct ksched_task_view *t = xcalloc(n, sizeof(*t));
	uint64_t seed = 42;

	for (int u = 0; u < NUSERS; u++)
		snprintf(user_names[u], sizeof(user_names[u]), "u%02d", u);
	for (size_t i = 0; i < n; i++) {
		t[i].priority = (int32_t)rnd(&seed, 0, 3);
		t[i].kind = "bench";
		t[i].user = user_names[rnd(&seed, 0, NUSERS - 1)];
		t[i].need.cpu_milli = rnd(&seed, 100, 4000);
		t[i].need.mem_mb = rnd(&seed, 64, 8192);
		t[i].need.gpus = rnd(&seed, 0, 9) == 0 ? rnd(&seed, 1, 2) : 0;
		t[i].need.slots = 1;
		t[i].nodes = 1;
		t[i].submitted = now_ms - (int64_t)(n - i);
	}
	qsort(t, n, sizeof(*t), cmp_queue);
	for (size_t i = 0; i < n; i++)
		t[i].id = i + 1;
	return t;
}

static int64_t
round_up(double v, int64_t unit, int64_t min)
{
	int64_t r = ((int64_t)v + unit - 1) / unit * unit;

	return r < min ? min : r;
}

/* nw workers of four sizes (weights 1, 2, 2, 3), every fourth (the large
 * ones) with gpus, together HEADROOM times what the queue needs; each at
 * least as large as the largest task.  Loads are random, up to its cores. */
static void
make_cluster(struct cluster *c, size_t nw)
{
	static const int weight[4] = {1, 2, 2, 3};
	double cpu = 0, mem = 0, gpus = 0, wsum = 0;
	size_t ngpu = 0;
	uint64_t seed = 7 + nw;

	for (size_t i = 0; i < c->ntasks; i++) {
		cpu += (double)c->tasks[i].need.cpu_milli;
		mem += (double)c->tasks[i].need.mem_mb;
		gpus += (double)c->tasks[i].need.gpus;
	}
	for (size_t i = 0; i < nw; i++) {
		wsum += weight[i % 4];
		ngpu += i % 4 == 3;
	}
	c->nw = nw;
	c->base = xcalloc(nw, sizeof(*c->base));
	c->ws = xcalloc(nw, sizeof(*c->ws));
	c->ids = xcalloc(nw, sizeof(*c->ids));
	for (size_t i = 0; i < nw; i++) {
		struct ksched_worker_view *w = &c->base[i];
		double f = HEADROOM * weight[i % 4] / wsum;

		snprintf(c->ids[i], sizeof(c->ids[i]), "w%05zu", i);
		w->index = (uint32_t)i;
		w->id = c->ids[i];
		w->capacity.cpu_milli = round_up(f * cpu, 1000, 4000);
		w->capacity.mem_mb = round_up(f * mem, 1024, 8192);
		w->capacity.slots = round_up(f * (double)c->ntasks, 1, 2);
		if (i % 4 == 3 && ngpu)
			w->capacity.gpus =
			    round_up(HEADROOM * gpus / (double)ngpu, 1, 2);
		w->load =
		    (double)rnd(&seed, 0, w->capacity.cpu_milli / 10) / 100.0;
		w->state = KSCHED_WORKER_ALIVE;
	}
}

static void
free_cluster(struct cluster *c)
{
	free(c->base);
	free(c->ws);
	free(c->ids);
	c->base = c->ws = NULL;
	c->ids = NULL;
}

/* ---- one run ------------------------------------------------------------- */

static ksched_policy *
load_policy(const char *name, const struct cluster *c)
{
	char err[512] = "";
	ksched_policy *p;
	ksched_err e = ksched_policy_load(name, &p, err, sizeof(err));

	if (e)
		die(name, err[0] ? err : ksched_strerror(e));
	/* Stateful policies (fair) learn the cluster from these. */
	for (size_t i = 0; i < c->nw; i++) {
		struct ksched_policy_event ev = {
		    .type = KSCHED_EV_WORKER_JOINED,
		    .now = now_ms,
		    .worker = &c->base[i],
		    .ok = true,
		};
		ksched_policy_event(p, &ev);
	}
	return p;
}

static void
wrong(const char *policy, const struct ksched_placement *pl, const char *why)
{
	char what[160];

	snprintf(what, sizeof(what), "%s placed task %llu on worker %u", policy,
		 (unsigned long long)pl->task, (unsigned)pl->worker);
	die(what, why);
}

/* Check and carry out the n placements of call number call. */
static void
apply(ksched_policy *p, struct cluster *c, struct scratch *s, uint32_t call,
      size_t n)
{
	const char *name = ksched_policy_name(p);

	for (size_t j = 0; j < n; j++) {
		const struct ksched_placement *pl = &s->out[j];
		struct ksched_policy_event ev = {
		    .type = KSCHED_EV_TASK_STARTED, .now = now_ms, .ok = true};
		const struct ksched_task_view *t;
		struct ksched_worker_view *w;

		if (pl->task == 0 || pl->task > c->ntasks ||
		    s->seen[pl->task - 1] != call)
			wrong(name, pl, "task not in the view");
		if (pl->worker >= c->nw || pl->rank != 0)
			wrong(name, pl, "worker not in the view, or rank != 0");
		t = &c->tasks[pl->task - 1];
		w = &c->ws[pl->worker];
		if (s->placed[pl->task - 1])
			wrong(name, pl, "task placed twice");
		if (!ksched_resources_fit(&w->capacity, &w->allocated,
					  &t->need))
			wrong(name, pl, "task does not fit there");
		s->placed[pl->task - 1] = true;
		w->allocated.cpu_milli += t->need.cpu_milli;
		w->allocated.mem_mb += t->need.mem_mb;
		w->allocated.gpus += t->need.gpus;
		w->allocated.slots += 1;
		w->running++;
		ev.task = t;
		ev.worker = w;
		ksched_policy_event(p, &ev);
	}
}

/* Place the whole queue on an empty cluster in calls of mode. */
static void
run_once(const char *policy, struct cluster *c, struct scratch *s,
	 enum mode mode, const struct cfg *cf, struct result *r)
{
	ksched_policy *p = load_policy(policy, c);
	size_t npending = c->ntasks;
	double w0, c0;

	memcpy(c->ws, c->base, c->nw * sizeof(*c->ws));
	memset(s->seen, 0, c->ntasks * sizeof(*s->seen));
	memset(s->placed, 0, c->ntasks * sizeof(*s->placed));
	for (size_t i = 0; i < c->ntasks; i++)
		s->pending[i] = i;
	memset(r, 0, sizeof(*r));
	w0 = clock_s(CLOCK_MONOTONIC);
	c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	while (npending) {
		size_t outmax = mode == ONE_CALL ? npending : cf->slots;
		size_t nwin = mode == ONE_CALL ? npending : 64 + 8 * cf->slots;
		uint32_t call = (uint32_t)++r->calls;
		struct ksched_select_view v;
		size_t n = 0, k = 0;
		ksched_err e;

		nwin = nwin < npending ? nwin : npending;
		for (size_t i = 0; i < nwin; i++) {
			s->window[i] = c->tasks[s->pending[i]];
			s->seen[s->pending[i]] = call;
		}
		v = (struct ksched_select_view){.now = now_ms,
						.queue = s->window,
						.nqueue = nwin,
						.workers = c->ws,
						.nworkers = c->nw};
		if ((e = ksched_policy_place(p, &v, s->out, outmax, &n)))
			die(policy, ksched_strerror(e));
		if (n > outmax)
			die(policy, "more placements than outmax");
		apply(p, c, s, call, n);
		r->placed += n;
		/* Keep what is unplaced; a window considered whole (fewer
		 * placements than asked) leaves only tasks that fit
		 * nowhere, now or later. */
		for (size_t i = 0; i < npending; i++) {
			size_t t = s->pending[i];
			if (s->placed[t] || (n < outmax && i < nwin))
				continue;
			s->pending[k++] = t;
		}
		npending = k;
	}
	r->cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	r->wall = clock_s(CLOCK_MONOTONIC) - w0;
	ksched_policy_free(p);
}

static void
measure(const char *policy, struct cluster *c, struct scratch *s,
	enum mode mode, const struct cfg *cf, struct cell *cell)
{
	double wall[MAX_REPS], cpu[MAX_REPS], calls[MAX_REPS], placed[MAX_REPS];

	for (int i = 0; i < cf->reps; i++) {
		struct result r;
		run_once(policy, c, s, mode, cf, &r);
		wall[i] = (double)r.placed / r.wall;
		cpu[i] = (double)r.placed / (r.cpu > 0 ? r.cpu : 1e-9);
		calls[i] = (double)r.calls;
		placed[i] = (double)r.placed;
	}
	cell->wall_rate = median(wall, cf->reps);
	cell->cpu_rate = median(cpu, cf->reps);
	cell->calls = median(calls, cf->reps);
	cell->placed = median(placed, cf->reps);
	cell->done = true;
}

/* ---- output -------------------------------------------------------------- */

static void
print_table(const char *title, struct cell cells[][NWCOUNTS], int what,
	    size_t ntasks)
{
	char buf[32], head[48];

	printf("\n%s\n%-14s", title, "policy");
	for (size_t j = 0; j < NWCOUNTS; j++) {
		snprintf(head, sizeof(head), "%s workers",
			 fmt_count((double)worker_counts[j], buf, sizeof(buf)));
		printf("%16s", head);
	}
	printf("\n");
	for (size_t i = 0; i < NPOLICIES; i++) {
		bool any = false;
		for (size_t j = 0; j < NWCOUNTS; j++)
			any |= cells[i][j].done;
		if (!any)
			continue;
		printf("%-14s", policies[i]);
		for (size_t j = 0; j < NWCOUNTS; j++) {
			const struct cell *x = &cells[i][j];
			double v = what == 0   ? x->wall_rate
				   : what == 1 ? x->cpu_rate
				   : what == 2
				       ? 100.0 * x->placed / (double)ntasks
				       : x->calls;
			if (!x->done)
				printf("%16s", "-");
			else if (what == 2)
				printf("%15.1f%%", v);
			else
				printf("%16s", fmt_count(v, buf, sizeof(buf)));
		}
		printf("\n");
	}
}

static void
verdict(const char *policy, enum mode mode, const struct cell *x)
{
	char a[32], b[32], c[32], w[32];

	if (!x->done)
		return;
	printf("%s %-12s %-8s at %s workers >= %s placements/s: %s/s "
	       "wall (%s/s CPU)%s\n",
	       x->wall_rate >= TARGET_RATE ? "PASS" : "MISS", policy,
	       mode_names[mode], fmt_count(TARGET_WORKERS, w, sizeof(w)),
	       fmt_count(TARGET_RATE, a, sizeof(a)),
	       fmt_count(x->wall_rate, b, sizeof(b)),
	       fmt_count(x->cpu_rate, c, sizeof(c)),
	       x->wall_rate >= AIM_RATE ? ", aim 40,000 met" : "");
}

static void
usage(void)
{
	printf("usage: bench_policy [--quick] [--tasks N] [--reps R] "
	       "[--slots S]\n"
	       "                    [--workers W] [--policy NAME] "
	       "[--mode one|windowed]\n"
	       "  --quick       2,000 tasks, 1 run (a smoke run)\n"
	       "  --tasks N     queued tasks (default 10,000)\n"
	       "  --reps R      runs per figure, median taken (default 3)\n"
	       "  --slots S     windowed: placements asked per call "
	       "(default 256;\n"
	       "                the window is 64 + 8 * S tasks)\n"
	       "  --workers W   only this worker count (100, 1000 or 5000)\n"
	       "  --policy NAME only this built-in policy\n"
	       "  --mode M      only one call (one) or windowed calls "
	       "(windowed)\n");
}

/* Whether nw is one of worker_counts, or name one of policies. */
static bool
known(size_t nw, const char *name)
{
	for (size_t i = 0; nw && i < NWCOUNTS; i++)
		if (worker_counts[i] == nw)
			return true;
	for (size_t i = 0; name && i < NPOLICIES; i++)
		if (strcmp(policies[i], name) == 0)
			return true;
	return false;
}

static void
parse_args(int argc, char **argv, struct cfg *cf)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		long n = v ? strtol(v, NULL, 10) : 0;

		if (strcmp(a, "--quick") == 0) {
			cf->ntasks = 2000;
			cf->reps = 1;
			continue;
		}
		if (strcmp(a, "--help") == 0) {
			usage();
			exit(0);
		}
		if (!v) {
			usage();
			exit(2);
		}
		i++;
		if (strcmp(a, "--tasks") == 0 && n > 0 && n <= 10000000)
			cf->ntasks = (size_t)n;
		else if (strcmp(a, "--reps") == 0 && n > 0 && n <= MAX_REPS)
			cf->reps = (int)n;
		else if (strcmp(a, "--slots") == 0 && n > 0 && n <= 100000)
			cf->slots = (size_t)n;
		else if (strcmp(a, "--workers") == 0 && n > 0)
			cf->only_workers = (size_t)n;
		else if (strcmp(a, "--policy") == 0)
			cf->only_policy = v;
		else if (strcmp(a, "--mode") == 0 && strcmp(v, "one") == 0)
			cf->only_mode = ONE_CALL;
		else if (strcmp(a, "--mode") == 0 && strcmp(v, "windowed") == 0)
			cf->only_mode = WINDOWED;
		else {
			fprintf(stderr, "bench_policy: bad option %s %s\n", a,
				v);
			usage();
			exit(2);
		}
	}
	if ((cf->only_workers && !known(cf->only_workers, NULL)) ||
	    (cf->only_policy && !known(0, cf->only_policy))) {
		fprintf(stderr, "bench_policy: --workers must be 100, 1000 or "
				"5000, --policy a built-in policy\n");
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	struct cfg cf = {10000, 3, 256, 0, NULL, -1};
	static struct cell cells[NMODES][NPOLICIES][NWCOUNTS];
	struct cluster c = {0};
	struct scratch s;
	char la[32], n1[32], n2[32], n3[32];
	double t0 = clock_s(CLOCK_MONOTONIC);

	parse_args(argc, argv, &cf);
	c.ntasks = cf.ntasks;
	c.tasks = make_tasks(cf.ntasks);
	s.pending = xcalloc(cf.ntasks, sizeof(*s.pending));
	s.window = xcalloc(cf.ntasks, sizeof(*s.window));
	s.out = xcalloc(cf.ntasks, sizeof(*s.out));
	s.seen = xcalloc(cf.ntasks, sizeof(*s.seen));
	s.placed = xcalloc(cf.ntasks, sizeof(*s.placed));

	printf("bench_policy: ksched_policy_place with each built-in policy, "
	       "fake views, no daemons\n");
	printf("queue: %s tasks, cpu 100-4000 millicores, mem 64-8192 MB, "
	       "10%% with 1-2 gpus,\n       priority 0-3, %d users; "
	       "cluster: %.1fx the queue's need, 4 worker sizes\n",
	       fmt_count((double)cf.ntasks, n1, sizeof(n1)), NUSERS, HEADROOM);
	printf("one call: outmax = the queue; windowed: outmax %s, window "
	       "64 + 8 x %zu = %s tasks per call\n",
	       fmt_count((double)cf.slots, n2, sizeof(n2)), cf.slots,
	       fmt_count((double)(64 + 8 * cf.slots), n3, sizeof(n3)));
	printf("each figure: median of %d run%s, placements/s; load average "
	       "at start %s\n",
	       cf.reps, cf.reps > 1 ? "s" : "", loadavg(la, sizeof(la)));
	fflush(stdout);

	for (size_t j = 0; j < NWCOUNTS; j++) {
		if (cf.only_workers && cf.only_workers != worker_counts[j])
			continue;
		make_cluster(&c, worker_counts[j]);
		for (size_t i = 0; i < NPOLICIES; i++) {
			if (cf.only_policy &&
			    strcmp(cf.only_policy, policies[i]) != 0)
				continue;
			for (int m = 0; m < NMODES; m++) {
				if (cf.only_mode >= 0 && cf.only_mode != m)
					continue;
				measure(policies[i], &c, &s, (enum mode)m, &cf,
					&cells[m][i][j]);
			}
		}
		free_cluster(&c);
	}

	for (int m = 0; m < NMODES; m++) {
		char title[160];
		snprintf(title, sizeof(title), "%s: placements/s, wall clock",
			 mode_names[m]);
		print_table(title, cells[m], 0, cf.ntasks);
		snprintf(title, sizeof(title),
			 "%s: placements/s, CPU time of the process",
			 mode_names[m]);
		print_table(title, cells[m], 1, cf.ntasks);
		snprintf(title, sizeof(title), "%s: tasks placed",
			 mode_names[m]);
		print_table(title, cells[m], 2, cf.ntasks);
		if (m == WINDOWED) {
			snprintf(title, sizeof(title), "%s: calls per run",
				 mode_names[m]);
			print_table(title, cells[m], 3, cf.ntasks);
		}
	}
	printf("\n");
	for (int m = 0; m < NMODES; m++)
		for (size_t i = 0; i < 2; i++)
			for (size_t j = 0; j < NWCOUNTS; j++)
				if (worker_counts[j] == TARGET_WORKERS)
					verdict(policies[i], (enum mode)m,
						&cells[m][i][j]);
	printf("load average at end %s; %.0f s in all\n",
	       loadavg(la, sizeof(la)), clock_s(CLOCK_MONOTONIC) - t0);

	free(c.tasks);
	free(s.pending);
	free(s.window);
	free(s.out);
	free(s.seen);
	free(s.placed);
	return 0;
}
