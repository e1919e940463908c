/*
 * libksched - a simulator run (include/ksched/sim.h): options, the setup
 * of the engine's state and of the real core over a private LMDB store in
 * a temporary directory, the teardown, and the result's accessors.  The
 * event loop itself is in sim.c.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "sim_int.h"

void
ksched__sim_set_err(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->err || !r->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
}

/* ---- setup --------------------------------------------------------------- */

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Placement-only built-ins look at a window of the queue; anything else
 * (fcfs, sjf, backfilling, plugins) sees it whole. */
static bool
wants_whole_queue(const char *name)
{
	static const char *const partial[] = {
	    "binpack",	   "spread",   "least_loaded",
	    "round_robin", "priority", "fair",
	};

	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++)
		if (!strcmp(name, partial[i]))
			return false;
	return true;
}

static ksched_err
setup_caps(struct run *r)
{
	r->caps = ksched__calloc(r->nnodes, sizeof(*r->caps));
	if (!r->caps)
		return KSCHED_ENOMEM;
	for (size_t i = 0; i < r->nnodes; i++) {
		const struct ksched_resources *c =
		    &ksched_sim_cluster_node(r->c, i)->cap;
		size_t k = 0;
		while (k < r->ncaps && memcmp(&r->caps[k].cap, c, sizeof(*c)))
			k++;
		if (k == r->ncaps)
			r->caps[r->ncaps++].cap = *c;
		r->caps[k].count++;
		/* The loaders bound each node; still, a sum that would
		 * overflow is a clear error, not undefined behaviour. */
		if (c->slots < 0 || c->cpu_milli < 0 ||
		    c->slots > INT64_MAX - r->res->slots ||
		    c->cpu_milli > INT64_MAX - r->res->cpu_milli) {
			ksched__sim_set_err(r,
					    "simulator: node %zu: slots or "
					    "cpu_milli out of range",
					    i);
			return KSCHED_EINVAL;
		}
		r->res->slots += c->slots;
		r->res->cpu_milli += c->cpu_milli;
	}
	return KSCHED_OK;
}

static ksched_err
setup_arrays(struct run *r)
{
	struct ksched_sim_result *s = r->res;
	size_t parts = 0;

	for (size_t j = 0; j < r->njobs; j++)
		parts += (size_t)ksched_sim_workload_job(r->w, j)->nodes;
	r->outcap = (size_t)s->slots;
	r->jobs = ksched__calloc(r->njobs + 1, sizeof(*r->jobs));
	r->running = ksched__calloc(r->njobs + 1, sizeof(*r->running));
	r->nodes = ksched__calloc(r->nnodes, sizeof(*r->nodes));
	r->freebits = ksched__calloc((r->nnodes + 63) / 64, sizeof(uint64_t));
	r->wk = ksched__calloc(r->nnodes, sizeof(*r->wk));
	r->mx = ksched__calloc(r->nnodes, sizeof(*r->mx));
	r->out = ksched__calloc(r->outcap + 1, sizeof(*r->out));
	r->sub = ksched__calloc(SIM_SUBMIT_MAX, sizeof(*r->sub));
	r->subjob = ksched__calloc(SIM_SUBMIT_MAX, sizeof(*r->subjob));
	r->subids = ksched__calloc(SIM_SUBMIT_MAX, sizeof(*r->subids));
	s->jobs = ksched__calloc(r->njobs + 1, sizeof(*s->jobs));
	s->parts = ksched__calloc(parts + 1, sizeof(*s->parts));
	if (!r->jobs || !r->running || !r->nodes || !r->freebits || !r->wk ||
	    !r->mx || !r->out || !r->sub || !r->subjob || !r->subids ||
	    !s->jobs || !s->parts)
		return KSCHED_ENOMEM;
	parts = 0;
	for (size_t j = 0; j < r->njobs; j++) {
		s->jobs[j].start_ms = -1;
		s->jobs[j].finish_ms = -1;
		s->jobs[j].outcome = KSCHED_SIM_UNFINISHED;
		s->jobs[j].nodes = s->parts + parts;
		parts += (size_t)ksched_sim_workload_job(r->w, j)->nodes;
	}
	for (size_t i = 0; i < r->nnodes; i++)
		r->nodes[i].member = -1;
	return KSCHED_OK;
}

static ksched_err
setup_core(struct run *r)
{
	struct ksched_sched_config cfg;
	const char *tmp = r->o.tmpdir ? r->o.tmpdir : getenv("TMPDIR");
	char why[512] = "";
	ksched_err e;

	snprintf(r->dir, sizeof(r->dir), "%s/ksched-sim-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(r->dir)) {
		r->dir[0] = 0;
		ksched__sim_set_err(
		    r, "simulator: cannot make a temporary directory in %s",
		    tmp && *tmp ? tmp : "/tmp");
		return KSCHED_EIO;
	}
	e = ksched_store_open(r->dir, KSCHED_SYNC_NONE, &r->st, why,
			      sizeof(why));
	if (e) {
		ksched__sim_set_err(r, "simulator: store: %s", why);
		return e;
	}
	if (!(e = ksched_queue_open(r->st, 1, &r->q)))
		e = ksched_cache_open(r->st, &r->ca);
	if (!e &&
	    (e = ksched_policy_load(r->o.policy, &r->pol, why, sizeof(why))))
		ksched__sim_set_err(r, "simulator: policy %s: %s", r->o.policy,
				    why);
	if (e)
		return e;
	ksched_sched_config_init(&cfg);
	cfg.lease_ms = SIM_LEASE_MS;
	cfg.lease_grace_ms = SIM_LEASE_MS;
	cfg.policy = r->pol;
	r->scan_all =
	    r->o.scan == 0 && wants_whole_queue(ksched_policy_name(r->pol));
	if (r->scan_all || r->o.scan > cfg.scan_max) {
		size_t n = r->scan_all ? r->njobs : r->o.scan;
		cfg.scan_max = n > cfg.scan_max ? n : cfg.scan_max;
	}
	cfg.scan_min = r->scan_all ? cfg.scan_max : r->o.scan;
	r->scan_max = cfg.scan_max;
	return ksched_sched_new(r->q, r->ca, &cfg, 0, &r->s);
}

static void
teardown(struct run *r)
{
	if (r->st && ksched_store_in_batch(r->st))
		ksched_store_abort(r->st);
	ksched_sched_free(r->s);
	ksched_policy_free(r->pol);
	ksched_cache_close(r->ca);
	ksched_queue_close(r->q);
	ksched_store_close(r->st);
	if (r->dir[0])
		nftw(r->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	ksched__u64map_free(&r->tid2job);
	ksched__free(r->jobs);
	ksched__free(r->running);
	ksched__free(r->nodes);
	ksched__free(r->m2n);
	ksched__free(r->freebits);
	ksched__free(r->wk);
	ksched__free(r->mx);
	ksched__free(r->out);
	ksched__free(r->caps);
	ksched__free(r->heap);
	ksched__free(r->sub);
	ksched__free(r->subjob);
	ksched__free(r->subids);
}

/* ---- API ----------------------------------------------------------------- */

void
ksched_sim_opts_init(struct ksched_sim_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->policy = "fcfs";
	o->kill_at_walltime = true;
}

static ksched_err
check_opts(struct run *r)
{
	if (!r->nnodes) {
		ksched__sim_set_err(r, "simulator: the cluster has no nodes");
		return KSCHED_EINVAL;
	}
	for (size_t i = 0; i < r->o.nfailures; i++) {
		if (r->o.failures[i].node < r->nnodes &&
		    r->o.failures[i].at_ms >= 0)
			continue;
		ksched__sim_set_err(
		    r,
		    "simulator: failure of node %u at %lld ms: the "
		    "cluster has nodes 0..%zu and times start at 0",
		    r->o.failures[i].node, (long long)r->o.failures[i].at_ms,
		    r->nnodes - 1);
		return KSCHED_EINVAL;
	}
	if (r->o.fail_rate < 0 || r->o.repair_ms < 0 ||
	    !isfinite(r->o.fail_rate)) {
		ksched__sim_set_err(
		    r, "simulator: fail rate and repair time must be "
		       ">= 0");
		return KSCHED_EINVAL;
	}
	if (r->o.fail_rate > KSCHED_SIM_FAIL_RATE_MAX) {
		ksched__sim_set_err(r,
				    "simulator: fail rate %g per hour is more "
				    "than %.0f (one death per virtual ms)",
				    r->o.fail_rate, KSCHED_SIM_FAIL_RATE_MAX);
		return KSCHED_EINVAL;
	}
	if (!r->o.max_restarts)
		r->o.max_restarts = KSCHED_SIM_RESTARTS_DEFAULT;
	return KSCHED_OK;
}

/* The policy's name and the options it was given ("easy:reserve=2"), so
 * two runs of one policy with different options can be told apart. */
static char *
policy_label(const struct run *r)
{
	const char *name = ksched_policy_name(r->pol);
	const char *opt = strchr(r->o.policy, ':');
	size_t n = strlen(name), m = opt ? strlen(opt) : 0;
	char *s = ksched__malloc(n + m + 1);

	if (s) {
		memcpy(s, name, n);
		memcpy(s + n, opt ? opt : "", m + 1);
	}
	return s;
}

ksched_err
ksched_sim_run(const ksched_sim_workload *w, const ksched_sim_cluster *c,
	       const struct ksched_sim_opts *opts, ksched_sim_result **out,
	       char *err, size_t errlen)
{
	struct run r;
	ksched_err e;

	memset(&r, 0, sizeof(r));
	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (opts)
		r.o = *opts;
	else
		ksched_sim_opts_init(&r.o);
	if (!r.o.policy)
		r.o.policy = "fcfs";
	r.w = w;
	r.c = c;
	r.err = err;
	r.errlen = errlen;
	r.njobs = ksched_sim_workload_count(w);
	r.nnodes = ksched_sim_cluster_count(c);
	r.rng = r.o.seed;
	ksched__u64map_init(&r.tid2job);
	if ((e = check_opts(&r)))
		return e;
	if (!(r.res = ksched__calloc(1, sizeof(*r.res)))) {
		ksched__sim_set_err(&r, "simulator: %s",
				    ksched_strerror(KSCHED_ENOMEM));
		return KSCHED_ENOMEM;
	}
	r.res->w = w;
	r.res->njobs = r.njobs;
	r.res->nodes = r.nnodes;
	e = setup_caps(&r);
	if (!e)
		e = setup_arrays(&r);
	if (!e)
		e = setup_core(&r);
	if (!e && (e = ksched_store_begin(r.st)) == KSCHED_OK)
		e = ksched__sim_simulate(&r);
	if (!e && !(r.res->policy = policy_label(&r)))
		e = KSCHED_ENOMEM;
	if (e && err && errlen && !err[0])
		snprintf(err, errlen, "simulator: %s", ksched_strerror(e));
	teardown(&r);
	if (e) {
		ksched_sim_result_free(r.res);
		return e;
	}
	ksched__sim_metrics(r.res);
	*out = r.res;
	return KSCHED_OK;
}

void
ksched_sim_result_free(ksched_sim_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nreasons; i++)
		ksched__free(r->reasons[i]);
	ksched__free(r->reasons);
	ksched__free(r->policy);
	ksched__free(r->jobs);
	ksched__free(r->parts);
	ksched__free(r->tl_t);
	ksched__free(r->tl_queue);
	ksched__free(r->tl_busy);
	ksched__free(r);
}

const char *
ksched_sim_result_policy(const ksched_sim_result *r)
{
	return r->policy;
}

void
ksched_sim_result_metrics(const ksched_sim_result *r,
			  struct ksched_sim_metrics *out)
{
	*out = r->m;
}

const struct ksched_sim_job_result *
ksched_sim_result_job(const ksched_sim_result *r, size_t i)
{
	return i < r->njobs ? &r->jobs[i] : NULL;
}
