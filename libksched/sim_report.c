/*
 * libksched - the simulator's figures and outputs: metrics (SWF and Batsim
 * conventions, see docs/simulation.md), Batsim's jobs.csv, the JSON report
 * and the human table.  Times are kept in integer milliseconds and printed
 * as seconds with three decimals from integers, doubles with fixed
 * formats, so the bytes depend on the inputs alone.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "sim_int.h"

/* Bounded slowdown's threshold (ms). */
#define BSLD_MIN_MS 10000

static bool
ran(const struct ksched_sim_job_result *j)
{
	return j->outcome == KSCHED_SIM_DONE || j->outcome == KSCHED_SIM_KILLED;
}

/* Slowdown (Batsim's stretch): turnaround / execution.  A job that ran 0 s
 * is counted as if it ran 1 s, and never below 1. */
static double
slowdown(int64_t tat, int64_t exec)
{
	double s;

	if (exec > 0)
		return (double)tat / (double)exec;
	s = (double)tat / 1000.0;
	return s < 1 ? 1 : s;
}

static double
bsld(int64_t tat, int64_t exec)
{
	double s =
	    (double)tat / (double)(exec > BSLD_MIN_MS ? exec : BSLD_MIN_MS);

	return s < 1 ? 1 : s;
}

struct ujob {
	const char *user;
	double bsld;
};

static int
ujob_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ujob *)a)->user,
		      ((const struct ujob *)b)->user);
}

/* Jain's index over users of their mean bounded slowdown; *nusers. */
static double
fairness(const struct ujob *u, size_t n, size_t *nusers)
{
	double sum = 0, sq = 0;
	size_t k = 0;

	for (size_t i = 0; i < n;) {
		double s = 0;
		size_t c = 0;
		const char *name = u[i].user;
		while (i < n && !strcmp(u[i].user, name)) {
			s += u[i++].bsld;
			c++;
		}
		s /= (double)c;
		sum += s;
		sq += s * s;
		k++;
	}
	*nusers = k;
	return k && sq > 0 ? sum * sum / ((double)k * sq) : 1.0;
}

void
ksched__sim_metrics(struct ksched_sim_result *r)
{
	struct ksched_sim_metrics *m = &r->m;
	int64_t first = INT64_MAX, last = INT64_MIN;
	double used = 0, cpu = 0, n = 0;
	struct ujob *u = ksched__calloc(r->njobs + 1, sizeof(*u));
	size_t nu = 0;

	m->jobs = r->njobs;
	for (size_t i = 0; i < r->njobs; i++) {
		const struct ksched_sim_job_result *j = &r->jobs[i];
		const struct ksched_sim_job *jb =
		    ksched_sim_workload_job(r->w, i);
		int64_t exec, wait, tat;
		double sd, bs;
		m->restarts += j->restarts;
		first = jb->submit_ms < first ? jb->submit_ms : first;
		m->done += j->outcome == KSCHED_SIM_DONE;
		m->killed += j->outcome == KSCHED_SIM_KILLED;
		m->rejected += j->outcome == KSCHED_SIM_REJECTED;
		m->unfinished += j->outcome == KSCHED_SIM_UNFINISHED;
		if (!ran(j))
			continue;
		exec = j->finish_ms - j->start_ms;
		wait = j->start_ms - jb->submit_ms;
		tat = j->finish_ms - jb->submit_ms;
		sd = slowdown(tat, exec);
		bs = bsld(tat, exec);
		last = j->finish_ms > last ? j->finish_ms : last;
		n++;
		m->mean_wait += (double)wait / 1000.0;
		if ((double)wait / 1000.0 > m->max_wait)
			m->max_wait = (double)wait / 1000.0;
		m->mean_slowdown += sd;
		if (sd > m->max_slowdown)
			m->max_slowdown = sd;
		m->mean_bsld += bs;
		m->mean_turnaround += (double)tat / 1000.0;
		if ((double)tat / 1000.0 > m->max_turnaround)
			m->max_turnaround = (double)tat / 1000.0;
		used += (double)exec * (double)jb->nodes;
		cpu += (double)exec * (double)jb->nodes *
		       (double)jb->need.cpu_milli;
		if (u) {
			u[nu].user = jb->user ? jb->user : "";
			u[nu++].bsld = bs;
		}
	}
	if (n > 0) {
		m->mean_wait /= n;
		m->mean_slowdown /= n;
		m->mean_bsld /= n;
		m->mean_turnaround /= n;
		m->makespan = (double)(last - first) / 1000.0;
	}
	if (m->makespan > 0) {
		double span = (double)(last - first);
		m->utilization = used / (span * (double)r->slots);
		if (r->cpu_milli > 0)
			m->cpu_utilization =
			    cpu / (span * (double)r->cpu_milli);
	}
	m->fairness = 1.0;
	if (u && nu) {
		qsort(u, nu, sizeof(*u), ujob_cmp);
		m->fairness = fairness(u, nu, &m->users);
	}
	ksched__free(u);
}

/* ---- jobs.csv ------------------------------------------------------------ */

/* ms as seconds, three decimals, from integers only. */
static void
secs(char *buf, size_t len, int64_t ms)
{
	if (ms < 0)
		snprintf(buf, len, "-1");
	else
		snprintf(buf, len, "%lld.%03lld", (long long)(ms / 1000),
			 (long long)(ms % 1000));
}

static int
put_csv_str(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n\r"))
		return fputs(s, f) < 0 ? -1 : 0;
	if (fputc('"', f) == EOF)
		return -1;
	for (; *s; s++)
		if ((*s == '"' && fputc('"', f) == EOF) || fputc(*s, f) == EOF)
			return -1;
	return fputc('"', f) == EOF ? -1 : 0;
}

static int
u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Machine ids as Batsim writes them: sorted, runs as "a-b", spaces. */
static int
put_ranges(FILE *f, const uint32_t *nodes, size_t n)
{
	uint32_t buf[64], *v = n <= 64 ? buf : ksched__calloc(n, sizeof(*v));
	int rc = 0;

	if (!v)
		return -1;
	memcpy(v, nodes, n * sizeof(*v));
	qsort(v, n, sizeof(*v), u32_cmp);
	for (size_t i = 0; i < n && rc >= 0;) {
		size_t k = i;
		while (k + 1 < n && v[k + 1] == v[k] + 1)
			k++;
		if (k > i)
			rc = fprintf(f, "%s%u-%u", i ? " " : "", v[i], v[k]);
		else
			rc = fprintf(f, "%s%u", i ? " " : "", v[i]);
		i = k + 1;
	}
	if (v != buf)
		ksched__free(v);
	return rc < 0 ? -1 : 0;
}

static int
csv_row(const struct ksched_sim_result *r, size_t i, FILE *f)
{
	const struct ksched_sim_job_result *j = &r->jobs[i];
	const struct ksched_sim_job *jb = ksched_sim_workload_job(r->w, i);
	bool ok = ran(j);
	char sub[32], req[32], st[32], ex[32], fin[32], wt[32], tat[32];
	char sd[48] = "-1";

	secs(sub, sizeof(sub), jb->submit_ms);
	secs(req, sizeof(req), jb->walltime_ms > 0 ? jb->walltime_ms : -1);
	secs(st, sizeof(st), ok ? j->start_ms : -1);
	secs(ex, sizeof(ex), ok ? j->finish_ms - j->start_ms : -1);
	secs(fin, sizeof(fin), ok ? j->finish_ms : -1);
	secs(wt, sizeof(wt), ok ? j->start_ms - jb->submit_ms : -1);
	secs(tat, sizeof(tat), ok ? j->finish_ms - jb->submit_ms : -1);
	if (ok)
		snprintf(sd, sizeof(sd), "%.6f",
			 slowdown(j->finish_ms - jb->submit_ms,
				  j->finish_ms - j->start_ms));
	if (put_csv_str(f, jb->name ? jb->name : "") || fputc(',', f) == EOF ||
	    put_csv_str(f, ksched_sim_workload_name(r->w)) ||
	    fprintf(f, ",%s,%lld,%s,%d,%s,%s,%s,%s,%s,%s,", sub,
		    (long long)jb->nodes, req,
		    j->outcome == KSCHED_SIM_DONE ? 1 : 0, st, ex, fin, wt, tat,
		    sd) < 0 ||
	    (ok && put_ranges(f, j->nodes, (size_t)jb->nodes)) ||
	    fputc('\n', f) == EOF)
		return -1;
	return 0;
}

ksched_err
ksched_sim_jobs_csv(const ksched_sim_result *r, FILE *f)
{
	if (fputs("job_id,workload_name,submission_time,"
		  "requested_number_of_resources,requested_time,success,"
		  "starting_time,execution_time,finish_time,waiting_time,"
		  "turnaround_time,stretch,allocated_resources\n",
		  f) < 0)
		return KSCHED_EIO;
	for (size_t i = 0; i < r->njobs; i++)
		if (csv_row(r, i, f))
			return KSCHED_EIO;
	return fflush(f) ? KSCHED_EIO : KSCHED_OK;
}

/* ---- JSON report --------------------------------------------------------- */

static int
set_num(json_t *o, const char *k, double v)
{
	return json_object_set_new(o, k, json_real(v));
}

static int
set_int(json_t *o, const char *k, size_t v)
{
	return json_object_set_new(o, k, json_integer((json_int_t)v));
}

static json_t *
run_json(const ksched_sim_result *r)
{
	const struct ksched_sim_metrics *m = &r->m;
	json_t *o = json_object();

	if (!o || json_object_set_new(o, "policy", json_string(r->policy)) ||
	    set_int(o, "jobs", m->jobs) || set_int(o, "done", m->done) ||
	    set_int(o, "killed", m->killed) ||
	    set_int(o, "rejected", m->rejected) ||
	    set_int(o, "unfinished", m->unfinished) ||
	    set_int(o, "restarts", m->restarts) ||
	    set_int(o, "batches", m->batches) ||
	    set_num(o, "makespan", m->makespan) ||
	    set_num(o, "mean_waiting_time", m->mean_wait) ||
	    set_num(o, "max_waiting_time", m->max_wait) ||
	    set_num(o, "mean_slowdown", m->mean_slowdown) ||
	    set_num(o, "max_slowdown", m->max_slowdown) ||
	    set_num(o, "mean_bounded_slowdown", m->mean_bsld) ||
	    set_num(o, "mean_turnaround_time", m->mean_turnaround) ||
	    set_num(o, "max_turnaround_time", m->max_turnaround) ||
	    set_num(o, "utilization", m->utilization) ||
	    set_num(o, "cpu_utilization", m->cpu_utilization) ||
	    set_num(o, "fairness", m->fairness) ||
	    set_int(o, "users", m->users)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

ksched_err
ksched_sim_report_json(const ksched_sim_result *const *rs, size_t n, FILE *f)
{
	json_t *doc = json_object(), *runs = json_array();
	int bad = !doc || !runs;

	if (!bad && n) {
		const ksched_sim_result *r = rs[0];
		bad = json_object_set_new(
			  doc, "workload",
			  json_string(ksched_sim_workload_name(r->w))) ||
		      set_int(doc, "jobs", r->njobs) ||
		      set_int(doc, "dropped",
			      ksched_sim_workload_dropped(r->w)) ||
		      set_int(doc, "nodes", r->nodes) ||
		      set_int(doc, "slots", (size_t)r->slots);
	}
	for (size_t i = 0; i < n && !bad; i++) {
		json_t *o = run_json(rs[i]);
		bad = !o || json_array_append_new(runs, o);
	}
	if (!bad) {
		bad = json_object_set_new(doc, "runs", runs);
		runs = NULL;
	}
	if (!bad)
		bad = json_dumpf(doc, f,
				 JSON_INDENT(2) | JSON_REAL_PRECISION(10)) ||
		      fputc('\n', f) == EOF || fflush(f);
	json_decref(runs);
	json_decref(doc);
	return bad ? KSCHED_EIO : KSCHED_OK;
}

/* ---- the human table ----------------------------------------------------- */

enum col { C_INT, C_SEC, C_NUM, C_PCT };

struct row {
	const char *name;
	enum col kind;
	size_t off; /* in struct ksched_sim_metrics */
};

#define M(f) offsetof(struct ksched_sim_metrics, f)

static const struct row rows[] = {
    {"jobs done", C_INT, M(done)},
    {"killed at walltime", C_INT, M(killed)},
    {"rejected (too big)", C_INT, M(rejected)},
    {"never ended", C_INT, M(unfinished)},
    {"restarts (failures)", C_INT, M(restarts)},
    {"makespan (s)", C_SEC, M(makespan)},
    {"mean wait (s)", C_SEC, M(mean_wait)},
    {"max wait (s)", C_SEC, M(max_wait)},
    {"mean slowdown", C_NUM, M(mean_slowdown)},
    {"max slowdown", C_NUM, M(max_slowdown)},
    {"mean bounded sld", C_NUM, M(mean_bsld)},
    {"mean turnaround (s)", C_SEC, M(mean_turnaround)},
    {"utilization", C_PCT, M(utilization)},
    {"cpu utilization", C_PCT, M(cpu_utilization)},
    {"fairness (Jain)", C_NUM, M(fairness)},
};

/* One cell, w wide (each column is as wide as its longest label). */
static int
cell(FILE *f, int w, const struct row *row,
     const struct ksched_sim_metrics *m)
{
	const char *p = (const char *)m + row->off;
	double d;

	if (row->kind == C_INT) {
		size_t v;
		memcpy(&v, p, sizeof(v));
		return fprintf(f, " %*zu", w, v);
	}
	memcpy(&d, p, sizeof(d));
	if (row->kind == C_PCT)
		return fprintf(f, " %*.2f%%", w - 1, d * 100);
	return fprintf(f, " %*.*f", w, row->kind == C_SEC ? 1 : 3, d);
}

ksched_err
ksched_sim_table(const ksched_sim_result *const *rs, size_t n,
		 const double *jobs_per_s, FILE *f)
{
	int rc, w[16], *wp = n <= 16 ? w : ksched__calloc(n, sizeof(int));

	if (!n)
		return KSCHED_OK;
	if (!wp)
		return KSCHED_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(rs[i]->policy);
		wp[i] = len > 14 ? (len < 64 ? (int)len : 64) : 14;
	}
	rc = fprintf(f,
		     "workload %s: %zu jobs (%zu bad records dropped) on %zu "
		     "nodes (%lld slots)\n",
		     ksched_sim_workload_name(rs[0]->w), rs[0]->njobs,
		     ksched_sim_workload_dropped(rs[0]->w), rs[0]->nodes,
		     (long long)rs[0]->slots);
	rc = rc < 0 ? rc : fprintf(f, "%-20s", "policy");
	for (size_t i = 0; i < n && rc >= 0; i++)
		rc = fprintf(f, " %*.*s", wp[i], wp[i], rs[i]->policy);
	rc = rc < 0 ? rc : fprintf(f, "\n");
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]) && rc >= 0; k++) {
		rc = fprintf(f, "%-20s", rows[k].name);
		for (size_t i = 0; i < n && rc >= 0; i++)
			rc = cell(f, wp[i], &rows[k], &rs[i]->m);
		rc = rc < 0 ? rc : fprintf(f, "\n");
	}
	if (jobs_per_s && rc >= 0) {
		rc = fprintf(f, "%-20s", "jobs/s simulated");
		for (size_t i = 0; i < n && rc >= 0; i++)
			rc = fprintf(f, " %*.0f", wp[i], jobs_per_s[i]);
		rc = rc < 0 ? rc : fprintf(f, "\n");
	}
	if (wp != w)
		ksched__free(wp);
	return rc < 0 || fflush(f) ? KSCHED_EIO : KSCHED_OK;
}
