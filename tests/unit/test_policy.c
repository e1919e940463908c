/*
 * Unit tests for policies: the registry, the plugin loader (with the
 * deliberately broken plugins of tests/plugins/), the placement driver, and
 * each built-in's defining property on fake views, without daemons.
 *
 * Plugins are found next to this binary: BUILD/tests/test_policy ->
 * BUILD/plugins/NAME.so (built by tests/plugins.mk); tests that need them
 * skip when they are absent.
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "ksched/log.h"
#include "ksched/policy.h"
#include "../testutil.h"

#define MAXW 16
#define MAXQ 64
#define MAXR 256
#define MAXO 64

static char plugdir[PATH_MAX];
static bool have_plugins;

/* ---- log capture ------------------------------------------------------------- */

static char logbuf[16384];

static void
capture(void *arg, enum ksched_log_level level, const char *line)
{
	size_t n = strlen(logbuf);

	(void)arg;
	(void)level;
	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", line);
}

static void
log_reset(void)
{
	logbuf[0] = 0;
	ksched_log_set_sink(capture, NULL, KSCHED_LOG_DEBUG);
}

/* ---- a fake cluster ------------------------------------------------------------ */

struct sim {
	struct ksched_worker_view w[MAXW];
	size_t nw;
	struct ksched_task_view q[MAXQ];
	size_t nq;
	struct ksched_running_view r[MAXR];
	struct ksched_task_view rt[MAXR]; /* the task of each running part */
	size_t nr;
	int64_t now;
	struct ksched_placement out[MAXO];
	size_t n;
};

static const struct ksched_resources zero_res;

static void
add_worker(struct sim *s, int64_t cpu, int64_t mem, int64_t gpus,
	   int64_t slots)
{
	struct ksched_worker_view *w = &s->w[s->nw];

	memset(w, 0, sizeof(*w));
	w->index = (uint32_t)s->nw;
	w->id = "w";
	w->capacity = (struct ksched_resources){cpu, mem, gpus, slots};
	w->state = KSCHED_WORKER_ALIVE;
	s->nw++;
}

static struct ksched_task_view *
add_task(struct sim *s, uint64_t id, int32_t prio, int64_t cpu, int64_t mem,
	 int64_t nodes)
{
	struct ksched_task_view *t = &s->q[s->nq++];

	memset(t, 0, sizeof(*t));
	t->id = id;
	t->priority = prio;
	t->kind = "k";
	t->user = "";
	t->need = (struct ksched_resources){cpu, mem, 0, 1};
	t->nodes = nodes;
	t->submitted = (int64_t)id;
	return t;
}

static struct ksched_select_view
view_of(const struct sim *s)
{
	struct ksched_select_view v = {s->now, s->q, s->nq, s->w, s->nw,
				       s->r, s->nr};
	return v;
}

static void
sim_place(ksched_policy *p, struct sim *s, size_t outmax)
{
	struct ksched_select_view v = view_of(s);

	assert_true(outmax <= MAXO);
	assert_int_equal(ksched_policy_place(p, &v, s->out, outmax, &s->n),
			 KSCHED_OK);
	assert_true(s->n <= outmax);
}

static const struct ksched_task_view *
queued(const struct sim *s, uint64_t id)
{
	for (size_t i = 0; i < s->nq; i++)
		if (s->q[i].id == id)
			return &s->q[i];
	return NULL;
}

/* Start what was placed: allocate, record running, send TASK_STARTED. */
static void
sim_apply(struct sim *s, ksched_policy *p)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct ksched_task_view *t = queued(s, s->out[i].task);
		struct ksched_worker_view *w = &s->w[s->out[i].worker];
		struct ksched_resources need = t->need;
		struct ksched_policy_event ev = {KSCHED_EV_TASK_STARTED, s->now,
						 t, w, false};
		assert_non_null(t);
		assert_true(s->nr < MAXR);
		need.slots = 1;
		w->allocated.cpu_milli += need.cpu_milli;
		w->allocated.mem_mb += need.mem_mb;
		w->allocated.gpus += need.gpus;
		w->allocated.slots += 1;
		w->running++;
		s->rt[s->nr] = *t;
		s->r[s->nr] = (struct ksched_running_view){
			t->id, w->index, need, s->now,
			t->timeout_ms ? s->now + t->timeout_ms : 0, t->user};
		s->nr++;
		if (p)
			ksched_policy_event(p, &ev);
	}
	for (size_t i = 0; i < s->n; i++) {
		for (size_t j = 0; j < s->nq; j++) {
			if (s->q[j].id == s->out[i].task) {
				s->q[j] = s->q[--s->nq];
				break;
			}
		}
	}
	/* Keep queue order (ids ascend with submission in these tests). */
	for (size_t i = 1; i < s->nq; i++)
		for (size_t j = i; j > 0 && s->q[j - 1].id > s->q[j].id; j--) {
			struct ksched_task_view t = s->q[j];
			s->q[j] = s->q[j - 1];
			s->q[j - 1] = t;
		}
}

/* Finish running part i: release, send TASK_FINISHED. */
static void
sim_finish(struct sim *s, ksched_policy *p, size_t i)
{
	struct ksched_worker_view *w = &s->w[s->r[i].worker];
	struct ksched_policy_event ev = {KSCHED_EV_TASK_FINISHED, s->now,
					 &s->rt[i], w, true};

	w->allocated.cpu_milli -= s->r[i].need.cpu_milli;
	w->allocated.mem_mb -= s->r[i].need.mem_mb;
	w->allocated.gpus -= s->r[i].need.gpus;
	w->allocated.slots -= 1;
	w->running--;
	if (p)
		ksched_policy_event(p, &ev);
	s->r[i] = s->r[s->nr - 1];
	s->rt[i] = s->rt[s->nr - 1];
	s->nr--;
}

static void
join_all(struct sim *s, ksched_policy *p)
{
	for (size_t i = 0; i < s->nw; i++) {
		struct ksched_policy_event ev = {KSCHED_EV_WORKER_JOINED, s->now,
						 NULL, &s->w[i], false};
		ksched_policy_event(p, &ev);
	}
}

static ksched_policy *
load(const char *spec)
{
	ksched_policy *p = NULL;
	char err[512];

	if (ksched_policy_load(spec, &p, err, sizeof(err)) != KSCHED_OK)
		fail_msg("load %s: %s", spec, err);
	assert_non_null(p);
	return p;
}

static size_t
count_on(const struct sim *s, uint32_t worker)
{
	size_t c = 0;

	for (size_t i = 0; i < s->n; i++)
		c += s->out[i].worker == worker;
	return c;
}

static bool
labels_ok(const struct ksched_task_view *t, const struct ksched_worker_view *w)
{
	for (size_t i = 0; i < t->nselector; i++) {
		bool ok = false;
		for (size_t j = 0; j < w->nlabels; j++)
			ok |= strcmp(t->selector[i].key, w->labels[j].key) == 0 &&
			      strcmp(t->selector[i].value, w->labels[j].value) ==
				      0;
		if (!ok)
			return false;
	}
	return true;
}

/*
 * Every rule the driver promises: placements of queued tasks on ALIVE
 * workers of the view whose labels match, nothing over capacity, gangs
 * whole on distinct workers, no task twice.
 */
static void
check_valid(const struct sim *s, size_t outmax)
{
	struct ksched_resources used[MAXW];

	assert_true(s->n <= outmax);
	for (size_t i = 0; i < s->nw; i++)
		used[i] = s->w[i].allocated;
	for (size_t i = 0; i < s->n; i++) {
		const struct ksched_placement *pl = &s->out[i];
		const struct ksched_task_view *t = queued(s, pl->task);
		size_t parts = 0;
		assert_non_null(t);
		assert_true(pl->worker < s->nw);
		assert_int_equal(s->w[pl->worker].state, KSCHED_WORKER_ALIVE);
		assert_true(labels_ok(t, &s->w[pl->worker]));
		used[pl->worker].cpu_milli += t->need.cpu_milli;
		used[pl->worker].mem_mb += t->need.mem_mb;
		used[pl->worker].gpus += t->need.gpus;
		used[pl->worker].slots += 1;
		for (size_t j = 0; j < s->n; j++) {
			if (s->out[j].task != pl->task)
				continue;
			parts++;
			if (j != i) {
				assert_int_not_equal(s->out[j].rank, pl->rank);
				assert_int_not_equal(s->out[j].worker,
						     pl->worker);
			}
		}
		assert_int_equal(parts, t->nodes);
		assert_true(pl->rank < t->nodes);
	}
	for (size_t i = 0; i < s->nw; i++) {
		const struct ksched_resources *c = &s->w[i].capacity;
		if (used[i].cpu_milli == s->w[i].allocated.cpu_milli &&
		    used[i].slots == s->w[i].allocated.slots)
			continue; /* nothing placed here */
		assert_true(used[i].cpu_milli <= c->cpu_milli);
		assert_true(used[i].mem_mb <= c->mem_mb);
		assert_true(used[i].gpus <= c->gpus);
		assert_true(used[i].slots <= c->slots);
	}
}

/* ---- the ABI ------------------------------------------------------------------- */

#define PIN(T, f, off) assert_int_equal(offsetof(struct T, f), off)
#define PINSIZE(T, sz) assert_int_equal(sizeof(struct T), sz)

static void
test_policy_abi_is_pinned(void **state)
{
	(void)state;
	if (sizeof(void *) != 8 || sizeof(size_t) != 8 || sizeof(int) != 4)
		skip(); /* the offsets below are those of LP64 */
	assert_int_equal(KSCHED_POLICY_ABI, 0x6b730001u);
	PIN(ksched_policy_ops, abi, 0);
	PIN(ksched_policy_ops, size, 4);
	PIN(ksched_policy_ops, name, 8);
	PIN(ksched_policy_ops, create, 16);
	PIN(ksched_policy_ops, destroy, 24);
	PIN(ksched_policy_ops, compare, 32);
	PIN(ksched_policy_ops, filter, 40);
	PIN(ksched_policy_ops, score, 48);
	PIN(ksched_policy_ops, select, 56);
	PIN(ksched_policy_ops, event, 64);
	PINSIZE(ksched_policy_ops, 72);
	PIN(ksched_resources, cpu_milli, 0);
	PIN(ksched_resources, mem_mb, 8);
	PIN(ksched_resources, gpus, 16);
	PIN(ksched_resources, slots, 24);
	PINSIZE(ksched_resources, 32);
	PIN(ksched_label_view, key, 0);
	PIN(ksched_label_view, value, 8);
	PINSIZE(ksched_label_view, 16);
	PIN(ksched_task_view, id, 0);
	PIN(ksched_task_view, priority, 8);
	PIN(ksched_task_view, kind, 16);
	PIN(ksched_task_view, user, 24);
	PIN(ksched_task_view, need, 32);
	PIN(ksched_task_view, nodes, 64);
	PIN(ksched_task_view, submitted, 72);
	PIN(ksched_task_view, est_runtime_ms, 80);
	PIN(ksched_task_view, timeout_ms, 88);
	PIN(ksched_task_view, selector, 96);
	PIN(ksched_task_view, nselector, 104);
	PIN(ksched_task_view, labels, 112);
	PIN(ksched_task_view, nlabels, 120);
	PINSIZE(ksched_task_view, 128);
	PIN(ksched_worker_view, index, 0);
	PIN(ksched_worker_view, id, 8);
	PIN(ksched_worker_view, capacity, 16);
	PIN(ksched_worker_view, allocated, 48);
	PIN(ksched_worker_view, running, 80);
	PIN(ksched_worker_view, load, 88);
	PIN(ksched_worker_view, state, 96);
	PIN(ksched_worker_view, labels, 104);
	PIN(ksched_worker_view, nlabels, 112);
	PINSIZE(ksched_worker_view, 120);
	PIN(ksched_running_view, task, 0);
	PIN(ksched_running_view, worker, 8);
	PIN(ksched_running_view, need, 16);
	PIN(ksched_running_view, started, 48);
	PIN(ksched_running_view, expected_end, 56);
	PIN(ksched_running_view, user, 64);
	PINSIZE(ksched_running_view, 72);
	PIN(ksched_select_view, now, 0);
	PIN(ksched_select_view, queue, 8);
	PIN(ksched_select_view, nqueue, 16);
	PIN(ksched_select_view, workers, 24);
	PIN(ksched_select_view, nworkers, 32);
	PIN(ksched_select_view, running, 40);
	PIN(ksched_select_view, nrunning, 48);
	PINSIZE(ksched_select_view, 56);
	PIN(ksched_placement, task, 0);
	PIN(ksched_placement, worker, 8);
	PIN(ksched_placement, rank, 12);
	PINSIZE(ksched_placement, 16);
	PIN(ksched_policy_event, type, 0);
	PIN(ksched_policy_event, now, 8);
	PIN(ksched_policy_event, task, 16);
	PIN(ksched_policy_event, worker, 24);
	PIN(ksched_policy_event, ok, 32);
	PINSIZE(ksched_policy_event, 40);
	PIN(ksched_host, size, 0);
	PIN(ksched_host, ctx, 8);
	PIN(ksched_host, log, 16);
	PIN(ksched_host, now, 24);
	PIN(ksched_host, config, 32);
	PINSIZE(ksched_host, 40);
	assert_int_equal(KSCHED_EV_TASK_STARTED, 1);
	assert_int_equal(KSCHED_EV_TASK_FINISHED, 2);
	assert_int_equal(KSCHED_EV_WORKER_JOINED, 3);
	assert_int_equal(KSCHED_EV_WORKER_LEFT, 4);
	assert_int_equal(KSCHED_WORKER_ALIVE, 0);
}

/* ---- registry and loading ---------------------------------------------------------- */

static const char *cfg_x, *cfg_y, *cfg_z;
static int64_t seen_now;
static const struct ksched_host *cfg_host;

static int
cfg_create(const struct ksched_host *h, void **state)
{
	(void)state;
	cfg_host = h;
	cfg_x = h->config(h->ctx, "x");
	cfg_y = h->config(h->ctx, "y");
	cfg_z = h->config(h->ctx, "z");
	assert_int_equal(h->size, sizeof(struct ksched_host));
	return 0;
}

static int
cfg_score(void *state, const struct ksched_task_view *t,
	  const struct ksched_worker_view *w)
{
	(void)state;
	(void)t;
	seen_now = cfg_host->now(cfg_host->ctx);
	/* Out of range on purpose: the driver clamps. */
	return w->index == 2 ? 1000 : w->index == 1 ? -5 : 0;
}

static bool
cfg_filter(void *state, const struct ksched_task_view *t,
	   const struct ksched_worker_view *w)
{
	(void)state;
	(void)t;
	return w->index != 2 || cfg_z == NULL;
}

static const struct ksched_policy_ops cfg_ops = {
	.abi = KSCHED_POLICY_ABI,
	.size = sizeof(struct ksched_policy_ops),
	.name = "testcfg",
	.create = cfg_create,
	.filter = cfg_filter,
	.score = cfg_score,
};

static void
test_policy_register_refuses_duplicates_and_bad_tables(void **state)
{
	struct ksched_policy_ops o = cfg_ops;
	char name[40];

	(void)state;
	assert_int_equal(ksched_policy_register(NULL), KSCHED_EINVAL);
	o.name = "binpack";
	assert_int_equal(ksched_policy_register(&o), KSCHED_EEXIST);
	o.name = "test_reg";
	o.abi = 0x12340001u;
	assert_int_equal(ksched_policy_register(&o), KSCHED_EINVAL);
	o.abi = KSCHED_POLICY_ABI + 1;
	assert_int_equal(ksched_policy_register(&o), KSCHED_EINVAL);
	o.abi = KSCHED_POLICY_ABI - 1; /* minor 0 */
	assert_int_equal(ksched_policy_register(&o), KSCHED_EINVAL);
	o.abi = KSCHED_POLICY_ABI;
	o.size = offsetof(struct ksched_policy_ops, event);
	assert_int_equal(ksched_policy_register(&o), KSCHED_EINVAL);
	o.size = sizeof(o);
	const char *bad[] = {"", "Bad", "a-b", "a b", "é", NULL};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.name = bad[i];
		assert_int_equal(ksched_policy_register(&o), KSCHED_EINVAL);
	}
	memset(name, 'a', 33);
	name[33] = 0;
	o.name = name;
	assert_int_equal(ksched_policy_register(&o), KSCHED_EINVAL);
	name[32] = 0; /* 32 is the longest allowed */
	assert_int_equal(ksched_policy_register(&o), KSCHED_OK);
	/* The table is copied: the caller's name buffer may change. */
	memset(name, 'b', 32);
	assert_int_equal(ksched_policy_register(&o), KSCHED_OK);
	assert_int_equal(ksched_policy_register(&o), KSCHED_EEXIST);
	ksched_policy *p = load("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_string_equal(ksched_policy_name(p),
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	ksched_policy_free(p);
	/* Registered by the group setup. */
	assert_int_equal(ksched_policy_register(&cfg_ops), KSCHED_EEXIST);
}

static void
test_policy_load_builtins_and_errors(void **state)
{
	const char *names[] = {"round_robin", "priority", "least_loaded",
			       "binpack",     "spread",	  "fair"};
	ksched_policy *p;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		p = load(names[i]);
		assert_string_equal(ksched_policy_name(p), names[i]);
		ksched_policy_free(p);
	}
	ksched_policy_free(NULL);
	assert_null(ksched_policy_name(NULL));
	p = (ksched_policy *)&p;
	assert_int_equal(ksched_policy_load("nope", &p, err, sizeof(err)),
			 KSCHED_ENOENT);
	assert_null(p);
	assert_non_null(strstr(err, "unknown policy"));
	assert_non_null(strstr(err, "least_loaded")); /* lists the known */
	assert_int_equal(ksched_policy_load("", &p, err, sizeof(err)),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_policy_load(NULL, &p, err, sizeof(err)),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_policy_load("binpack:x", &p, err, sizeof(err)),
			 KSCHED_EINVAL);
	assert_non_null(strstr(err, "option 'x' must be key=value"));
	assert_int_equal(
		ksched_policy_load("binpack:x=1,x=2", &p, err, sizeof(err)),
		KSCHED_EINVAL);
	assert_non_null(strstr(err, "given twice"));
	assert_int_equal(
		ksched_policy_load("binpack:x=1,,y=2", &p, err, sizeof(err)),
		KSCHED_EINVAL);
	assert_int_equal(
		ksched_policy_load("priority:ageing_ms=soon", &p, err, 0),
		KSCHED_EINVAL);
	log_reset();
	assert_int_equal(
		ksched_policy_load("binpack:cpu_weight=-1", &p, err, sizeof(err)),
		KSCHED_EINVAL);
	assert_non_null(strstr(err, "create() failed"));
	assert_non_null(strstr(logbuf, "cpu_weight must be an integer"));
	assert_int_equal(ksched_policy_load("/no/such/file.so", &p, err,
					    sizeof(err)),
			 KSCHED_ENOENT);
	assert_non_null(strstr(err, "/no/such/file.so"));
	assert_null(p);
	ksched_log_set_sink(NULL, NULL, KSCHED_LOG_ERR);
}

static void
test_policy_config_reaches_create(void **state)
{
	struct sim s = {.now = 1234};
	ksched_policy *p;

	(void)state;
	p = load("testcfg:x=1,y=two words");
	assert_string_equal(cfg_x, "1");
	assert_string_equal(cfg_y, "two words");
	assert_null(cfg_z);
	/* now() is the now of the last call; scores clamp; filter works. */
	for (int i = 0; i < 3; i++)
		add_worker(&s, 4000, 4096, 0, 4);
	add_task(&s, 1, 0, 100, 100, 1);
	sim_place(p, &s, 4);
	assert_int_equal(seen_now, 1234);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.out[0].worker, 2); /* 1000 clamps to 100 */
	ksched_policy_free(p);
	p = load("testcfg:z=");
	assert_string_equal(cfg_z, "");
	sim_place(p, &s, 4);
	assert_int_equal(s.out[0].worker, 0); /* 2 filtered, 1 clamps to 0 */
	ksched_policy_free(p);
	/* Options a built-in does not read reach it, and are reported. */
	log_reset();
	p = load("binpack:x=1,y=2");
	assert_non_null(strstr(logbuf, "option not used\" policy=binpack "
				       "option=x"));
	assert_non_null(strstr(logbuf, "option=y"));
	ksched_policy_free(p);
	log_reset();
	p = load("binpack:cpu_weight=2,mem_weight=1");
	assert_null(strstr(logbuf, "not used"));
	ksched_policy_free(p);
	/* Values may hold '/' and ':'. */
	p = load("testcfg:x=/a/b:c,y=./d.so");
	assert_string_equal(cfg_x, "/a/b:c");
	assert_string_equal(cfg_y, "./d.so");
	ksched_policy_free(p);
	ksched_log_set_sink(NULL, NULL, KSCHED_LOG_ERR);
}

/* ---- plugins --------------------------------------------------------------------- */

static const struct ksched_policy_ops rogue_ops;
static const struct ksched_policy_ops count_ops;

/* Register the test policies; find the plugins. */
static int
setup(void **state)
{
	char exe[PATH_MAX], good[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	if (ksched_policy_register(&cfg_ops) != KSCHED_OK ||
	    ksched_policy_register(&rogue_ops) != KSCHED_OK ||
	    ksched_policy_register(&count_ops) != KSCHED_OK)
		return -1;
	if (n <= 0)
		return 0;
	exe[n] = 0;
	/* BUILD/tests/test_policy -> BUILD/plugins */
	snprintf(plugdir, sizeof(plugdir), "%s/plugins",
		 dirname(dirname(exe)));
	snprintf(good, sizeof(good), "%s/good.so", plugdir);
	have_plugins = access(good, R_OK) == 0;
	return 0;
}

static void
need_plugins(void)
{
	if (!have_plugins) {
		print_message("plugins not built in %s: make %s/good.so (see "
			      "tests/plugins.mk)\n",
			      plugdir, plugdir);
		skip();
	}
}

static ksched_err
load_plugin(const char *file, const char *opts, ksched_policy **p, char *err,
	    size_t errlen)
{
	char spec[PATH_MAX + 64];

	snprintf(spec, sizeof(spec), "%s/%s%s", plugdir, file, opts);
	return ksched_policy_load(spec, p, err, errlen);
}

static void
test_policy_loader_refuses_broken_plugins(void **state)
{
	static const struct {
		const char *file;
		ksched_err rc;
		const char *msg;
	} cases[] = {
		{"noentry.so", KSCHED_EINVAL, "no symbol 'ksched_policy_entry'"},
		{"badmagic.so", KSCHED_EINVAL, "not a ksched policy table"},
		{"newminor.so", KSCHED_EVERSION,
		 "plugin wants ABI 1.2, this host has 1.1"},
		{"shortsize.so", KSCHED_EINVAL, "needs at least 72"},
		{"createfail.so", KSCHED_EINVAL, "create() failed"},
		{"dupname.so", KSCHED_EEXIST, "'binpack' clashes"},
		{"missing.so", KSCHED_ENOENT, "no such file"},
	};
	char err[512];

	(void)state;
	need_plugins();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ksched_policy *p = (ksched_policy *)&p;
		/* Twice: a failed load leaves nothing behind. */
		for (int k = 0; k < 2; k++) {
			assert_int_equal(load_plugin(cases[i].file, "", &p, err,
						     sizeof(err)),
					 cases[i].rc);
			assert_null(p);
			if (!strstr(err, cases[i].msg) ||
			    !strstr(err, cases[i].file))
				fail_msg("%s: got \"%s\"", cases[i].file, err);
		}
	}
}

static void
test_policy_good_plugin_loads_and_places(void **state)
{
	struct sim s = {0};
	ksched_policy *p, *p2, *p3;
	char err[512], cwd[PATH_MAX], *tmp, path[PATH_MAX + 32], cmd[3 * PATH_MAX];

	(void)state;
	need_plugins();
	log_reset();
	assert_int_equal(load_plugin("good.so", "", &p, err, sizeof(err)),
			 KSCHED_OK);
	assert_string_equal(ksched_policy_name(p), "testgood");
	assert_non_null(strstr(logbuf, "policy=testgood msg=\"testgood "
				       "created\""));
	for (int i = 0; i < 4; i++)
		add_worker(&s, 1000, 1000, 0, 1);
	add_task(&s, 1, 0, 500, 10, 1);
	add_task(&s, 2, 0, 500, 10, 2);
	sim_place(p, &s, 8);
	check_valid(&s, 8);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.out[0].worker, 3); /* the plugin's score */
	sim_apply(&s, p);
	/* The same file again shares its handle: allowed. */
	assert_int_equal(load_plugin("good.so", ":answer=42", &p2, err,
				     sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(load_plugin("good.so", ":answer=41", &p3, err,
				     sizeof(err)),
			 KSCHED_EINVAL);
	assert_non_null(strstr(logbuf, "answer must be 42"));
	/* Another file with the same name, while the first is loaded: no. */
	tmp = tu_tmpdir("policy");
	snprintf(path, sizeof(path), "%s/other.so", tmp);
	snprintf(cmd, sizeof(cmd), "cp '%s/good.so' '%s'", plugdir, path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(ksched_policy_load(path, &p3, err, sizeof(err)),
			 KSCHED_EEXIST);
	ksched_policy_free(p);
	assert_int_equal(ksched_policy_load(path, &p3, err, sizeof(err)),
			 KSCHED_EEXIST); /* p2 still holds the name */
	ksched_policy_free(p2);
	assert_int_equal(ksched_policy_load(path, &p3, err, sizeof(err)),
			 KSCHED_OK);
	ksched_policy_free(p3);
	/* Paths may hold ':' too, and options '/'. */
	snprintf(path, sizeof(path), "%s/a:b", tmp);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(cmd, sizeof(cmd), "cp '%s/good.so' '%s/a:b/x'", plugdir, tmp);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/a:b/x:answer=42,dir=/x", tmp);
	assert_int_equal(ksched_policy_load(path, &p3, err, sizeof(err)),
			 KSCHED_OK);
	ksched_policy_free(p3);
	/* A bare "x.so" is a file in the current directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmp), 0);
	assert_int_equal(ksched_policy_load("other.so:answer=42", &p3, err,
					    sizeof(err)),
			 KSCHED_OK);
	assert_int_equal(chdir(cwd), 0);
	ksched_policy_free(p3);
	tu_rmtree(tmp);
	ksched_log_set_sink(NULL, NULL, KSCHED_LOG_ERR);
}

/* Every allocation failing in turn: an error, never a leak or a crash. */
static void
test_policy_alloc_failure_paths(void **state)
{
	const char *specs[] = {"binpack:cpu_weight=2", "fair", "priority",
			       "round_robin", "PLUGIN"};
	char err[512], spec[PATH_MAX + 32];
	struct sim s = {0};

	(void)state;
	for (int i = 0; i < 3; i++)
		add_worker(&s, 4000, 4096, 0, 4);
	add_task(&s, 1, 0, 100, 100, 1);
	add_task(&s, 2, 0, 100, 100, 2);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		bool done = false;
		snprintf(spec, sizeof(spec), "%s", specs[i]);
		if (strcmp(spec, "PLUGIN") == 0) {
			if (!have_plugins)
				continue;
			snprintf(spec, sizeof(spec), "%s/good.so:answer=42",
				 plugdir);
		}
		for (long n = 0; !done && n < 100; n++) {
			ksched_policy *p = NULL;
			ksched_err rc;
			ksched__alloc_fail_after(n);
			rc = ksched_policy_load(spec, &p, err, sizeof(err));
			ksched__alloc_fail_after(-1);
			if (rc != KSCHED_OK) {
				assert_true(rc == KSCHED_ENOMEM ||
					    rc == KSCHED_EINVAL);
				assert_null(p);
				continue;
			}
			/* Now placement, failing in turn. */
			for (long m = 0; !done; m++) {
				struct ksched_select_view v = view_of(&s);
				ksched__alloc_fail_after(m);
				rc = ksched_policy_place(p, &v, s.out, 8, &s.n);
				ksched__alloc_fail_after(-1);
				if (rc == KSCHED_OK) {
					assert_int_equal(s.n, 3);
					done = true;
				} else {
					assert_int_equal(rc, KSCHED_ENOMEM);
					assert_int_equal(s.n, 0);
				}
			}
			ksched_policy_free(p);
		}
		assert_true(done);
	}
}

static const struct ksched_policy_ops thr_ops[4] = {
	{.abi = KSCHED_POLICY_ABI,
	 .size = sizeof(struct ksched_policy_ops),
	 .name = "thr0"},
	{.abi = KSCHED_POLICY_ABI,
	 .size = sizeof(struct ksched_policy_ops),
	 .name = "thr1"},
	{.abi = KSCHED_POLICY_ABI,
	 .size = sizeof(struct ksched_policy_ops),
	 .name = "thr2"},
	{.abi = KSCHED_POLICY_ABI,
	 .size = sizeof(struct ksched_policy_ops),
	 .name = "thr3"},
};

static void *
load_loop(void *arg)
{
	const struct ksched_policy_ops *o = arg;
	char spec[PATH_MAX + 32];
	long bad = 0;

	if (ksched_policy_register(o) != KSCHED_OK)
		bad++;
	for (int i = 0; i < 200; i++) {
		ksched_policy *p;
		snprintf(spec, sizeof(spec), "%s/good.so", plugdir);
		const char *specs[] = {o->name, "fair", "binpack:cpu_weight=3",
				       have_plugins ? spec : "spread"};
		if (ksched_policy_load(specs[i % 4], &p, NULL, 0) != KSCHED_OK)
			bad++;
		ksched_policy_free(p);
	}
	return (void *)bad;
}

/* Registry and loader from several threads at once (TSan-clean). */
static void
test_policy_load_is_thread_safe(void **state)
{
	pthread_t th[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, load_loop,
						(void *)&thr_ops[i]),
				 0);
	for (int i = 0; i < 4; i++) {
		void *bad;
		assert_int_equal(pthread_join(th[i], &bad), 0);
		assert_null(bad);
	}
}

/* ---- the driver: gangs, labels, outmax, select validation ------------------------ */

static void
test_policy_gangs_are_all_or_nothing(void **state)
{
	struct sim s = {0};
	ksched_policy *p = load("spread");

	(void)state;
	for (int i = 0; i < 3; i++)
		add_worker(&s, 1000, 1000, 0, 2);
	add_task(&s, 1, 0, 100, 10, 4); /* more parts than workers */
	add_task(&s, 2, 0, 100, 10, 3);
	sim_place(p, &s, 16);
	check_valid(&s, 16);
	assert_int_equal(s.n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(s.out[i].task, 2);
	/* Fits on one worker only: not placed at all. */
	s.nq = 0;
	s.w[0].allocated.cpu_milli = 1000;
	s.w[1].allocated.cpu_milli = 950;
	add_task(&s, 3, 0, 100, 10, 2);
	add_task(&s, 4, 0, 100, 10, 1);
	sim_place(p, &s, 16);
	check_valid(&s, 16);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.out[0].task, 4);
	assert_int_equal(s.out[0].worker, 2);
	/* A gang crossing outmax is not placed; a single after it is. */
	s.w[0].allocated = zero_res;
	s.w[1].allocated = zero_res;
	s.nq = 0;
	add_task(&s, 5, 0, 100, 10, 3);
	add_task(&s, 6, 0, 100, 10, 1);
	sim_place(p, &s, 2);
	check_valid(&s, 2);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.out[0].task, 6);
	ksched_policy_free(p);
}

static void
test_policy_selector_labels_respected(void **state)
{
	static const struct ksched_label_view gpu[] = {{"gpu", "a100"},
						       {"zone", "x"}};
	static const struct ksched_label_view cpu[] = {{"zone", "x"}};
	static const struct ksched_label_view want[] = {{"gpu", "a100"}};
	static const struct ksched_label_view wrong[] = {{"gpu", "h100"}};
	static const struct ksched_label_view both[] = {{"zone", "x"},
							{"gpu", "a100"}};
	const char *pols[] = {"least_loaded", "round_robin", "binpack",
			      "spread", "priority", "fair"};
	struct sim s = {0};

	(void)state;
	for (int i = 0; i < 4; i++)
		add_worker(&s, 8000, 8192, 0, 8);
	s.w[0].labels = cpu;
	s.w[0].nlabels = 1;
	s.w[2].labels = gpu;
	s.w[2].nlabels = 2;
	for (size_t k = 0; k < sizeof(pols) / sizeof(pols[0]); k++) {
		ksched_policy *p = load(pols[k]);
		struct ksched_task_view *t;
		s.nq = 0;
		t = add_task(&s, 1, 0, 100, 10, 1);
		t->selector = want;
		t->nselector = 1;
		t = add_task(&s, 2, 0, 100, 10, 1);
		t->selector = both;
		t->nselector = 2;
		t = add_task(&s, 3, 0, 100, 10, 1);
		t->selector = wrong;
		t->nselector = 1;
		t = add_task(&s, 4, 0, 100, 10, 2); /* one match only */
		t->selector = want;
		t->nselector = 1;
		t = add_task(&s, 5, 0, 100, 10, 1);
		t->selector = cpu;
		t->nselector = 1;
		sim_place(p, &s, 16);
		check_valid(&s, 16);
		assert_int_equal(s.n, 3);
		for (size_t i = 0; i < s.n; i++) {
			if (s.out[i].task == 5)
				assert_true(s.out[i].worker == 0 ||
					    s.out[i].worker == 2);
			else
				assert_int_equal(s.out[i].worker, 2);
		}
		ksched_policy_free(p);
	}
}

/* A select hook that returns garbage mixed with good placements. */
static uint64_t rogue_seed;

static int
rogue_select(void *state, const struct ksched_select_view *v,
	     struct ksched_placement *out, size_t outmax, size_t *n)
{
	size_t k = 0, want = tu_rand(&rogue_seed) % (outmax + 4);

	(void)state;
	while (k < want && k < outmax && v->nqueue && v->nworkers) {
		const struct ksched_task_view *t =
			&v->queue[tu_rand(&rogue_seed) % v->nqueue];
		uint64_t r = tu_rand(&rogue_seed) % 8;
		uint32_t w0 = (uint32_t)(tu_rand(&rogue_seed) % v->nworkers);
		for (int64_t j = 0; j < t->nodes && k < outmax; j++) {
			struct ksched_placement *pl = &out[k++];
			pl->task = r == 0 ? t->id + 1000 : t->id;
			pl->worker = r == 1 ? 999
				     : r == 2 ? w0
					      : (uint32_t)((w0 + (uint64_t)j) %
							   v->nworkers);
			pl->rank = r == 3 ? 0 : (uint32_t)j;
			if (r == 4)
				break; /* half a gang */
		}
	}
	*n = tu_rand(&rogue_seed) % 5 == 0 ? outmax + 3 : k;
	return tu_rand(&rogue_seed) % 20 == 0 ? -1 : 0;
}

static const struct ksched_policy_ops rogue_ops = {
	.abi = KSCHED_POLICY_ABI,
	.size = sizeof(struct ksched_policy_ops),
	.name = "testrogue",
	.select = rogue_select,
};

/* A random cluster: some workers not alive, labels, gangs, selectors. */
static void
random_sim(struct sim *s, uint64_t *seed)
{
	static const struct ksched_label_view za[] = {{"zone", "a"}};
	static const struct ksched_label_view zb[] = {{"zone", "b"}};
	static const char *users[] = {"alice", "bob", "carol", ""};

	memset(s, 0, sizeof(*s));
	s->now = 100000 + (int64_t)(tu_rand(seed) % 1000);
	s->nw = 1 + tu_rand(seed) % 8;
	for (size_t i = 0; i < s->nw; i++) {
		struct ksched_worker_view *w = &s->w[i];
		w->index = (uint32_t)i;
		w->id = "w";
		w->capacity.cpu_milli = 1000 * (int64_t)(1 + tu_rand(seed) % 8);
		w->capacity.mem_mb = 1024 * (int64_t)(1 + tu_rand(seed) % 16);
		w->capacity.gpus = (int64_t)(tu_rand(seed) % 3);
		w->capacity.slots = (int64_t)(1 + tu_rand(seed) % 6);
		w->allocated.cpu_milli = (int64_t)(tu_rand(seed) %
					(uint64_t)(w->capacity.cpu_milli + 1));
		w->allocated.mem_mb = (int64_t)(tu_rand(seed) %
					(uint64_t)(w->capacity.mem_mb + 1));
		w->allocated.slots = (int64_t)(tu_rand(seed) %
					(uint64_t)w->capacity.slots);
		w->load = (double)(tu_rand(seed) % 800) / 100.0;
		w->state = tu_rand(seed) % 10 < 7
				   ? KSCHED_WORKER_ALIVE
				   : (enum ksched_worker_state)(1 + tu_rand(seed) % 3);
		if (tu_rand(seed) % 2) {
			w->labels = tu_rand(seed) % 2 ? za : zb;
			w->nlabels = 1;
		}
	}
	s->nq = tu_rand(seed) % 30;
	for (size_t i = 0; i < s->nq; i++) {
		struct ksched_task_view *t = &s->q[i];
		memset(t, 0, sizeof(*t));
		t->id = i + 1;
		t->priority = (int32_t)(tu_rand(seed) % 4);
		t->kind = "k";
		t->user = users[tu_rand(seed) % 4];
		t->need.cpu_milli = (int64_t)(tu_rand(seed) % 4001);
		t->need.mem_mb = (int64_t)(tu_rand(seed) % 8193);
		t->need.gpus = tu_rand(seed) % 5 == 0;
		t->need.slots = 1;
		t->nodes = tu_rand(seed) % 5 == 0 ? 2 + (int64_t)(tu_rand(seed) % 3)
						  : 1;
		t->submitted = (int64_t)(tu_rand(seed) % 100000);
		t->est_runtime_ms = (int64_t)(tu_rand(seed) % 3) * 1000;
		t->timeout_ms = (int64_t)(tu_rand(seed) % 3) * 2000;
		if (tu_rand(seed) % 5 == 0) {
			t->selector = za;
			t->nselector = 1;
		}
	}
	s->nr = tu_rand(seed) % 10;
	for (size_t i = 0; i < s->nr; i++) {
		struct ksched_running_view *r = &s->r[i];
		r->task = 1000 + i;
		r->worker = (uint32_t)(tu_rand(seed) % s->nw);
		r->need.cpu_milli = (int64_t)(tu_rand(seed) % 2000);
		r->need.mem_mb = (int64_t)(tu_rand(seed) % 2048);
		r->need.slots = 1;
		r->started = s->now - 10;
		r->expected_end = tu_rand(seed) % 3 ? s->now + (int64_t)(
						      tu_rand(seed) % 10000)
						    : 0;
		r->user = users[tu_rand(seed) % 4];
	}
}

static void
test_policy_never_overcommits(void **state)
{
	const char *pols[] = {"least_loaded", "round_robin", "priority:ageing_ms=10",
			      "binpack",      "spread",	     "fair",
			      "testrogue",    "testcfg",     "PLUGIN:good",
			      "PLUGIN:sjf",   "PLUGIN:easy"};
	char spec[PATH_MAX + 32];
	uint64_t seed = 42;

	(void)state;
	rogue_seed = 7;
	for (size_t k = 0; k < sizeof(pols) / sizeof(pols[0]); k++) {
		ksched_policy *p;
		snprintf(spec, sizeof(spec), "%s", pols[k]);
		if (strncmp(spec, "PLUGIN:", 7) == 0) {
			snprintf(spec, sizeof(spec), "%s/%s.so", plugdir,
				 pols[k] + 7);
			if (access(spec, R_OK) != 0)
				continue;
		}
		p = load(spec);
		for (int round = 0; round < 300; round++) {
			struct sim s;
			size_t outmax;
			random_sim(&s, &seed);
			outmax = 1 + tu_rand(&seed) % MAXO;
			join_all(&s, p);
			sim_place(p, &s, outmax);
			check_valid(&s, outmax);
			sim_apply(&s, p);
		}
		ksched_policy_free(p);
	}
}

static void
test_policy_select_output_is_validated(void **state)
{
	struct sim s = {0};
	ksched_policy *p;
	size_t placed = 0;

	(void)state;
	p = load("testrogue");
	for (int i = 0; i < 3; i++)
		add_worker(&s, 2000, 2048, 0, 2);
	s.w[1].state = KSCHED_WORKER_DRAINING;
	add_task(&s, 1, 0, 1500, 100, 1);
	add_task(&s, 2, 0, 1500, 100, 2);
	add_task(&s, 3, 0, 100, 100, 1);
	for (int round = 0; round < 500; round++) {
		sim_place(p, &s, 1 + (size_t)round % 6);
		check_valid(&s, 1 + (size_t)round % 6);
		placed += s.n;
	}
	assert_true(placed > 0); /* some good placements got through */
	ksched_policy_free(p);
}

/* ---- each built-in's defining property ------------------------------------------- */

static void
test_policy_round_robin_differs_by_at_most_one(void **state)
{
	size_t per[MAXW] = {0};
	struct sim s = {0};
	ksched_policy *p = load("round_robin");
	uint64_t id = 1;

	(void)state;
	for (int i = 0; i < 5; i++)
		add_worker(&s, 64000, 65536, 0, 64);
	/* One call with many tasks. */
	for (int i = 0; i < 13; i++)
		add_task(&s, id++, 0, 100, 10, 1);
	sim_place(p, &s, MAXO);
	assert_int_equal(s.n, 13);
	for (size_t i = 0; i < s.n; i++) {
		per[s.out[i].worker]++;
		assert_int_equal(s.out[i].worker, i % 5); /* in turn */
	}
	sim_apply(&s, p);
	/* Then calls of a few tasks, with events between: still in turn. */
	for (int round = 0; round < 20; round++) {
		size_t lo = SIZE_MAX, hi = 0;
		for (int i = 0; i < 1 + round % 3; i++)
			add_task(&s, id++, 0, 100, 10, 1);
		sim_place(p, &s, MAXO);
		for (size_t i = 0; i < s.n; i++)
			per[s.out[i].worker]++;
		sim_apply(&s, p);
		for (size_t w = 0; w < 5; w++) {
			lo = per[w] < lo ? per[w] : lo;
			hi = per[w] > hi ? per[w] : hi;
		}
		assert_true(hi - lo <= 1);
	}
	ksched_policy_free(p);
}

/* Whether t fits on some alive worker given placements before it. */
static bool
fits_somewhere(const struct sim *s, const struct ksched_resources *used,
	       const struct ksched_task_view *t)
{
	size_t ok = 0;

	for (size_t w = 0; w < s->nw; w++)
		ok += s->w[w].state == KSCHED_WORKER_ALIVE &&
		      ksched_resources_fit(&s->w[w].capacity, &used[w],
					   &t->need) &&
		      labels_ok(t, &s->w[w]);
	return ok >= (size_t)t->nodes;
}

static void
test_policy_priority_never_starts_lower_while_higher_fits(void **state)
{
	ksched_policy *p = load("priority");
	uint64_t seed = 9;

	(void)state;
	for (int round = 0; round < 300; round++) {
		struct sim s;
		random_sim(&s, &seed);
		sim_place(p, &s, MAXO);
		check_valid(&s, MAXO);
		/* An unplaced task did not fit when its turn came: given
		 * what was placed for tasks before it in priority order. */
		for (size_t i = 0; i < s.nq; i++) {
			const struct ksched_task_view *u = &s.q[i];
			struct ksched_resources used[MAXW];
			bool placed = false;
			for (size_t w = 0; w < s.nw; w++)
				used[w] = s.w[w].allocated;
			for (size_t j = 0; j < s.n; j++) {
				const struct ksched_task_view *t =
					queued(&s, s.out[j].task);
				placed |= t == u;
				if (t->priority > u->priority ||
				    (t->priority == u->priority &&
				     (t->submitted < u->submitted ||
				      (t->submitted == u->submitted &&
				       t->id < u->id)))) {
					used[s.out[j].worker].cpu_milli +=
						t->need.cpu_milli;
					used[s.out[j].worker].mem_mb +=
						t->need.mem_mb;
					used[s.out[j].worker].gpus +=
						t->need.gpus;
					used[s.out[j].worker].slots++;
				}
			}
			if (!placed && u->nodes == 1 &&
			    s.n + 1 <= MAXO && fits_somewhere(&s, used, u))
				fail_msg("round %d: task %llu (prio %d) fits "
					 "but was not placed",
					 round, (unsigned long long)u->id,
					 u->priority);
		}
		/* And the placements come out in priority order. */
		for (size_t j = 1; j < s.n; j++)
			assert_true(queued(&s, s.out[j - 1].task)->priority >=
				    queued(&s, s.out[j].task)->priority);
	}
	ksched_policy_free(p);
}

static void
test_policy_priority_ageing_prevents_starvation(void **state)
{
	struct sim s = {.now = 100000};
	ksched_policy *p;

	(void)state;
	add_worker(&s, 1000, 1000, 0, 1);
	add_task(&s, 1, 0, 100, 10, 1)->submitted = 100000 - 60000; /* old */
	add_task(&s, 2, 5, 100, 10, 1)->submitted = 100000;
	p = load("priority");
	sim_place(p, &s, 4);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.out[0].task, 2);
	ksched_policy_free(p);
	/* One level per 10 s: the old task is now at 0 + 6 > 5. */
	p = load("priority:ageing_ms=10000");
	sim_place(p, &s, 4);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.out[0].task, 1);
	ksched_policy_free(p);
}

static void
test_policy_binpack_fills_a_worker_first(void **state)
{
	struct sim s = {0};
	ksched_policy *p = load("binpack");

	(void)state;
	for (int i = 0; i < 3; i++)
		add_worker(&s, 4000, 8192, 0, 8);
	for (uint64_t i = 1; i <= 6; i++)
		add_task(&s, i, 0, 1000, 1024, 1);
	sim_place(p, &s, MAXO);
	assert_int_equal(count_on(&s, 0), 4);
	assert_int_equal(count_on(&s, 1), 2);
	assert_int_equal(count_on(&s, 2), 0);
	sim_apply(&s, p);
	/* Worker 1 (half full) before worker 2 (empty), even if lower
	 * indices would win a tie. */
	s.w[0].allocated = zero_res;
	for (uint64_t i = 7; i <= 8; i++)
		add_task(&s, i, 0, 1000, 1024, 1);
	sim_place(p, &s, MAXO);
	assert_int_equal(count_on(&s, 1), 2);
	ksched_policy_free(p);
}

static void
test_policy_spread_keeps_allocation_balanced(void **state)
{
	struct sim s = {0};
	ksched_policy *p = load("spread");

	(void)state;
	for (int i = 0; i < 4; i++)
		add_worker(&s, 8000, 8192, 0, 16);
	s.w[0].allocated = (struct ksched_resources){4000, 4096, 0, 4};
	for (uint64_t i = 1; i <= 12; i++)
		add_task(&s, i, 0, 1000, 1024, 1);
	sim_place(p, &s, MAXO);
	sim_apply(&s, p);
	assert_int_equal(s.n, 12);
	for (size_t i = 0; i < 4; i++) {
		assert_true(s.w[i].allocated.cpu_milli >= 4000);
		assert_true(s.w[i].allocated.cpu_milli <= 5000);
	}
	ksched_policy_free(p);
}

static void
test_policy_least_loaded_avoids_the_loaded_worker(void **state)
{
	struct sim s = {0};
	ksched_policy *p = load("least_loaded");

	(void)state;
	for (int i = 0; i < 3; i++)
		add_worker(&s, 8000, 8192, 0, 8);
	s.w[0].load = 7.5; /* busy with work we did not place */
	s.w[2].load = 0.5;
	for (uint64_t i = 1; i <= 4; i++)
		add_task(&s, i, 0, 1000, 1024, 1);
	sim_place(p, &s, MAXO);
	assert_int_equal(s.n, 4);
	assert_int_equal(count_on(&s, 0), 0);
	assert_true(count_on(&s, 1) >= count_on(&s, 2));
	ksched_policy_free(p);
}

/* User u's dominant share on the fake cluster. */
static double
dominant_share(const struct sim *s, const char *u)
{
	int64_t cpu = 0, mem = 0, tc = 0, tm = 0;

	for (size_t i = 0; i < s->nr; i++) {
		if (strcmp(s->r[i].user, u) == 0) {
			cpu += s->r[i].need.cpu_milli;
			mem += s->r[i].need.mem_mb;
		}
	}
	for (size_t i = 0; i < s->nw; i++) {
		tc += s->w[i].capacity.cpu_milli;
		tm += s->w[i].capacity.mem_mb;
	}
	return (double)cpu / (double)tc > (double)mem / (double)tm
		       ? (double)cpu / (double)tc
		       : (double)mem / (double)tm;
}

/*
 * The DRF paper's example: 9 CPUs and 18 GB; alice's tasks need <1 CPU,
 * 4 GB>, bob's <3 CPU, 1 GB>.  Both always have work queued, alice's
 * submitted long before bob's (so FIFO would serve only her).  Each
 * round: place, start, then the oldest running task ends.  Shares
 * converge to the DRF allocation (2/3 each).
 */
static void
test_policy_fair_converges_to_equal_dominant_shares(void **state)
{
	struct sim s = {0};
	ksched_policy *p = load("fair");
	uint64_t id = 1;
	double sum_a = 0, sum_b = 0;
	int counted = 0;

	(void)state;
	add_worker(&s, 4000, 9216, 0, 100);
	add_worker(&s, 5000, 9216, 0, 100);
	join_all(&s, p);
	for (int round = 0; round < 200; round++) {
		struct ksched_task_view *t;
		size_t na = 0, nb = 0;
		for (size_t i = 0; i < s.nq; i++)
			*(strcmp(s.q[i].user, "alice") == 0 ? &na : &nb) += 1;
		s.now = 1000 + round * 10;
		for (; na < 6; na++) {
			t = add_task(&s, id++, 0, 1000, 4096, 1);
			t->user = "alice";
			t->submitted = 0;
		}
		for (; nb < 6; nb++) {
			t = add_task(&s, id++, 0, 3000, 1024, 1);
			t->user = "bob";
			t->submitted = s.now;
		}
		sim_place(p, &s, MAXO);
		check_valid(&s, MAXO);
		sim_apply(&s, p);
		if (round >= 100) {
			sum_a += dominant_share(&s, "alice");
			sum_b += dominant_share(&s, "bob");
			counted++;
		}
		if (s.nr) {
			size_t oldest = 0;
			for (size_t i = 1; i < s.nr; i++)
				if (s.r[i].task < s.r[oldest].task)
					oldest = i;
			sim_finish(&s, p, oldest);
		}
	}
	sum_a /= counted;
	sum_b /= counted;
	print_message("fair: mean dominant shares alice %.3f bob %.3f\n",
		      sum_a, sum_b);
	assert_true(sum_a - sum_b < 0.12 && sum_b - sum_a < 0.12);
	assert_true(sum_a > 0.4 && sum_b > 0.4);
	ksched_policy_free(p);
}

/* ---- the examples, as plugins ---------------------------------------------------- */

static void
test_policy_example_sjf(void **state)
{
	struct sim s = {0};
	ksched_policy *p;
	char err[512];

	(void)state;
	need_plugins();
	if (load_plugin("sjf.so", "", &p, err, sizeof(err)) != KSCHED_OK)
		fail_msg("%s", err);
	add_worker(&s, 8000, 8192, 0, 3);
	add_task(&s, 1, 9, 100, 10, 1)->est_runtime_ms = 0; /* unknown */
	add_task(&s, 2, 0, 100, 10, 1)->est_runtime_ms = 500;
	add_task(&s, 3, 0, 100, 10, 1)->est_runtime_ms = 100;
	add_task(&s, 4, 0, 100, 10, 1)->est_runtime_ms = 300;
	sim_place(p, &s, MAXO);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.out[0].task, 3);
	assert_int_equal(s.out[1].task, 4);
	assert_int_equal(s.out[2].task, 2);
	ksched_policy_free(p);
}

/*
 * EASY: four 1-CPU workers, two busy until now+100.  The head needs three
 * workers: reserved at now+100 on workers 0, 1, 2.  A short task (ends by
 * then) may use a reserved worker; a long one only a free, unreserved one.
 */
static void
test_policy_example_easy_backfills(void **state)
{
	struct sim s = {.now = 1000};
	ksched_policy *p;
	char err[512];

	(void)state;
	need_plugins();
	if (load_plugin("easy.so", "", &p, err, sizeof(err)) != KSCHED_OK)
		fail_msg("%s", err);
	for (int i = 0; i < 4; i++)
		add_worker(&s, 1000, 1024, 0, 4);
	for (uint32_t w = 0; w < 2; w++) {
		s.w[w].allocated = (struct ksched_resources){1000, 512, 0, 1};
		s.r[s.nr++] = (struct ksched_running_view){
			50 + w, w, {1000, 512, 0, 1}, 900, 1100, ""};
	}
	add_task(&s, 1, 0, 1000, 100, 3);		      /* head */
	add_task(&s, 2, 0, 1000, 100, 1)->timeout_ms = 500;   /* long */
	add_task(&s, 3, 0, 1000, 100, 1)->timeout_ms = 50;    /* short */
	add_task(&s, 4, 0, 1000, 100, 1)->est_runtime_ms = 80; /* short */
	sim_place(p, &s, MAXO);
	check_valid(&s, MAXO);
	/* Long task 2 takes worker 3, the one the head does not need. */
	assert_int_equal(s.n, 2);
	assert_int_equal(s.out[0].task, 2);
	assert_int_equal(s.out[0].worker, 3);
	assert_int_equal(s.out[1].task, 3);
	assert_int_equal(s.out[1].worker, 2);
	ksched_policy_free(p);
	/* Without estimates task 4 would run "for ever"; with timeouts
	 * only, task 3 still backfills.  And a long task alone may not
	 * take a reserved worker. */
	if (load_plugin("easy.so", ":estimates=0", &p, err, sizeof(err)))
		fail_msg("%s", err);
	s.nq = 0;
	add_task(&s, 1, 0, 1000, 100, 3);
	add_task(&s, 5, 0, 1000, 100, 1)->timeout_ms = 500;
	add_task(&s, 6, 0, 1000, 100, 1)->timeout_ms = 500;
	add_task(&s, 4, 0, 1000, 100, 1)->est_runtime_ms = 80;
	sim_place(p, &s, MAXO);
	check_valid(&s, MAXO);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.out[0].task, 5);
	assert_int_equal(s.out[0].worker, 3);
	ksched_policy_free(p);
	assert_int_equal(load_plugin("easy.so", ":estimates=2", &p, err,
				     sizeof(err)),
			 KSCHED_EINVAL);
}

/* ---- bugs found by the benchmark --------------------------------------------- */

/* n empty workers of one size, for views larger than struct sim's. */
static struct ksched_worker_view *
big_cluster(size_t n)
{
	struct ksched_worker_view *w = calloc(n, sizeof(*w));

	assert_non_null(w);
	for (size_t i = 0; i < n; i++) {
		w[i].index = (uint32_t)i;
		w[i].id = "w";
		w[i].capacity = (struct ksched_resources){4000, 8192, 0, 4};
		w[i].state = KSCHED_WORKER_ALIVE;
	}
	return w;
}

/* Place the one task t on the workers ws[0..nw); the worker, or -1. */
static long
place_one_task(ksched_policy *p, const struct ksched_task_view *t,
	       const struct ksched_worker_view *ws, size_t nw)
{
	struct ksched_select_view v = {0, t, 1, ws, nw, NULL, 0};
	struct ksched_placement out[1];
	size_t n = 0;

	assert_int_equal(ksched_policy_place(p, &v, out, 1, &n), KSCHED_OK);
	return n ? (long)out[0].worker : -1;
}

/* Tell p that task t started on worker w (moves round_robin's cursor). */
static void
started_on(ksched_policy *p, const struct ksched_task_view *t,
	   const struct ksched_worker_view *w)
{
	struct ksched_policy_event ev = {KSCHED_EV_TASK_STARTED, 0, t, w,
					 false};

	ksched_policy_event(p, &ev);
}

static void
test_policy_round_robin_wraps_past_the_cursor(void **state)
{
	struct ksched_worker_view *ws = big_cluster(300);
	struct ksched_task_view t = {0};
	ksched_policy *p = load("round_robin");

	(void)state;
	t.kind = "k";
	t.user = "";
	t.need = (struct ksched_resources){100, 10, 0, 1};
	t.nodes = 1;
	/* Cursor at 150, workers 151..250 full: 251 is next, not 0. */
	t.id = 1;
	started_on(p, &t, &ws[150]);
	for (size_t i = 151; i <= 250; i++)
		ws[i].allocated.slots = ws[i].capacity.slots;
	t.id = 2;
	assert_int_equal(place_one_task(p, &t, ws, 300), 251);
	started_on(p, &t, &ws[251]);
	/* Far past the cursor too: 252..298 full, 299 next. */
	for (size_t i = 252; i <= 298; i++)
		ws[i].allocated.slots = ws[i].capacity.slots;
	t.id = 3;
	assert_int_equal(place_one_task(p, &t, ws, 300), 299);
	started_on(p, &t, &ws[299]);
	/* Wrapping: everything after 299 is before it; 0..59 full. */
	for (size_t i = 0; i < 60; i++)
		ws[i].allocated.slots = ws[i].capacity.slots;
	t.id = 4;
	assert_int_equal(place_one_task(p, &t, ws, 300), 60);
	started_on(p, &t, &ws[60]);
	/* From 60, three tasks in one call (no events between): 61, then
	 * 63 (62 is full), then 64. */
	{
		struct ksched_task_view q[3] = {t, t, t};
		struct ksched_select_view v = {0, q, 3, ws, 300, NULL, 0};
		struct ksched_placement out[3];
		size_t n = 0;
		q[0].id = 5, q[1].id = 6, q[2].id = 7;
		ws[62].allocated.slots = ws[62].capacity.slots;
		assert_int_equal(ksched_policy_place(p, &v, out, 3, &n),
				 KSCHED_OK);
		assert_int_equal(n, 3);
		assert_int_equal(out[0].worker, 61);
		assert_int_equal(out[1].worker, 63);
		assert_int_equal(out[2].worker, 64);
	}
	ksched_policy_free(p);
	free(ws);
}

static void
test_policy_binpack_keeps_gpus_for_gpu_tasks(void **state)
{
	struct sim s = {0};
	ksched_policy *p = load("binpack");

	(void)state;
	/* Worker 0 has gpus; a cpu-only task that fills a worker goes to
	 * worker 1, so the gpu task behind it still has somewhere to go. */
	add_worker(&s, 4000, 8192, 2, 4);
	add_worker(&s, 4000, 8192, 0, 4);
	add_task(&s, 1, 0, 4000, 1024, 1);
	add_task(&s, 2, 0, 4000, 1024, 1)->need.gpus = 1;
	sim_place(p, &s, MAXO);
	check_valid(&s, MAXO);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.out[0].task, 1);
	assert_int_equal(s.out[0].worker, 1);
	assert_int_equal(s.out[1].task, 2);
	assert_int_equal(s.out[1].worker, 0);
	ksched_policy_free(p);
	/* Scores tied (gpus weighed 0): a cpu-only task still prefers the
	 * worker without gpus over the lower index. */
	p = load("binpack:gpu_weight=0");
	s.nq = 0;
	add_task(&s, 1, 0, 1000, 1024, 1);
	sim_place(p, &s, MAXO);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.out[0].worker, 1);
	ksched_policy_free(p);
}

static void
test_policy_spread_balances_gpus(void **state)
{
	struct sim s = {0};
	ksched_policy *p = load("spread");

	(void)state;
	/* Same cpu, memory and slots; worker 0 has one of its two gpus in
	 * use: a gpu task goes to worker 1. */
	add_worker(&s, 8000, 8192, 2, 8);
	add_worker(&s, 8000, 8192, 2, 8);
	s.w[0].allocated.gpus = 1;
	add_task(&s, 1, 0, 1000, 1024, 1)->need.gpus = 1;
	sim_place(p, &s, MAXO);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.out[0].worker, 1);
	ksched_policy_free(p);
}

/* ---- sampling of large views ------------------------------------------------- */

static size_t count_scores;

static int
count_score(void *state, const struct ksched_task_view *t,
	    const struct ksched_worker_view *w)
{
	(void)state;
	(void)t;
	count_scores++;
	return w->index == 1999 ? 100 : 0; /* the global best */
}

static const struct ksched_policy_ops count_ops = {
	.abi = KSCHED_POLICY_ABI,
	.size = sizeof(struct ksched_policy_ops),
	.name = "testcount",
	.score = count_score,
};

static void
test_policy_large_views_are_sampled(void **state)
{
	struct ksched_worker_view *ws = big_cluster(2000);
	struct ksched_task_view t = {0};
	ksched_policy *p = load("testcount");
	char err[256];

	(void)state;
	t.kind = "k";
	t.user = "";
	t.need = (struct ksched_resources){100, 10, 0, 1};
	t.nodes = 1;
	/* 1,000 workers: every one scored, the global best (ties: lowest
	 * index) wins. */
	count_scores = 0;
	assert_int_equal(place_one_task(p, &t, ws, 1000), 0);
	assert_int_equal(count_scores, 1000);
	/* 2,000: p = 50 - 2000 / 125 = 34%, 680 feasible workers, each
	 * search starting where the last one stopped. */
	count_scores = 0;
	assert_int_equal(place_one_task(p, &t, ws, 2000), 0);
	assert_int_equal(count_scores, 680);
	assert_int_equal(place_one_task(p, &t, ws, 2000), 680);
	assert_int_equal(place_one_task(p, &t, ws, 2000), 1999);
	assert_int_equal(count_scores, 3 * 680);
	/* Unfeasible workers do not count: with only 1,990..1,999 free the
	 * search sees all of them and finds the best. */
	for (size_t i = 0; i < 1990; i++)
		ws[i].allocated.slots = ws[i].capacity.slots;
	count_scores = 0;
	assert_int_equal(place_one_task(p, &t, ws, 2000), 1999);
	assert_int_equal(count_scores, 10);
	ksched_policy_free(p);
	/* sample=0: every worker, every time. */
	for (size_t i = 0; i < 1990; i++)
		ws[i].allocated.slots = 0;
	log_reset();
	p = load("testcount:sample=0");
	count_scores = 0;
	assert_int_equal(place_one_task(p, &t, ws, 2000), 1999);
	assert_int_equal(place_one_task(p, &t, ws, 2000), 1999);
	assert_int_equal(count_scores, 4000);
	assert_null(strstr(logbuf, "option not used"));
	ksched_policy_free(p);
	ksched_log_set_sink(NULL, NULL, KSCHED_LOG_ERR);
	p = NULL;
	assert_int_equal(ksched_policy_load("binpack:sample=2", &p, err,
					    sizeof(err)),
			 KSCHED_EINVAL);
	assert_null(p);
	assert_non_null(strstr(err, "option 'sample' must be 0"));
	free(ws);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_abi_is_pinned),
		cmocka_unit_test(
			test_policy_register_refuses_duplicates_and_bad_tables),
		cmocka_unit_test(test_policy_load_builtins_and_errors),
		cmocka_unit_test(test_policy_config_reaches_create),
		cmocka_unit_test(test_policy_loader_refuses_broken_plugins),
		cmocka_unit_test(test_policy_good_plugin_loads_and_places),
		cmocka_unit_test(test_policy_alloc_failure_paths),
		cmocka_unit_test(test_policy_load_is_thread_safe),
		cmocka_unit_test(test_policy_gangs_are_all_or_nothing),
		cmocka_unit_test(test_policy_selector_labels_respected),
		cmocka_unit_test(test_policy_never_overcommits),
		cmocka_unit_test(test_policy_select_output_is_validated),
		cmocka_unit_test(test_policy_round_robin_differs_by_at_most_one),
		cmocka_unit_test(
			test_policy_priority_never_starts_lower_while_higher_fits),
		cmocka_unit_test(test_policy_priority_ageing_prevents_starvation),
		cmocka_unit_test(test_policy_binpack_fills_a_worker_first),
		cmocka_unit_test(test_policy_spread_keeps_allocation_balanced),
		cmocka_unit_test(test_policy_least_loaded_avoids_the_loaded_worker),
		cmocka_unit_test(
			test_policy_fair_converges_to_equal_dominant_shares),
		cmocka_unit_test(test_policy_example_sjf),
		cmocka_unit_test(test_policy_example_easy_backfills),
		cmocka_unit_test(test_policy_round_robin_wraps_past_the_cursor),
		cmocka_unit_test(test_policy_binpack_keeps_gpus_for_gpu_tasks),
		cmocka_unit_test(test_policy_spread_balances_gpus),
		cmocka_unit_test(test_policy_large_views_are_sampled),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
