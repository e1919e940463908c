/*
 * libksched - the Standard Workload Format reader (Parallel Workloads
 * Archive logs, plain or gzip).
 *
 * One job per line, 18 whitespace-separated numbers, -1 for unknown;
 * header lines start with ';' and the machine size is in "MaxProcs:" (or
 * "MaxNodes:").  A job of size k becomes a gang of k one-CPU parts.  The
 * choices that change results (size field, estimate, what is a bad
 * record) are options, with Batsim's converter among them; see
 * docs/simulation-formats.md.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_trace_int.h"

#define SWF_FIELDS 18

static const char *const swf_names[SWF_FIELDS] = {
    "job number",
    "submit time",
    "wait time",
    "run time",
    "allocated processors",
    "average CPU time",
    "used memory",
    "requested processors",
    "requested time",
    "requested memory",
    "status",
    "user",
    "group",
    "executable",
    "queue",
    "partition",
    "preceding job",
    "think time",
};

enum {
	F_JOB = 0,
	F_SUBMIT = 1,
	F_RUN = 3,
	F_ALLOC = 4,
	F_REQPROCS = 7,
	F_REQTIME = 8,
	F_USER = 11,
};

/* A "; MaxProcs: 128" header line; MaxProcs wins over MaxNodes. */
static void
swf_header(const char *line, int64_t *procs, int64_t *nodes)
{
	int64_t v;

	line += strspn(line, "; \t");
	if (strncmp(line, "MaxProcs:", 9) == 0 &&
	    ksched__sim_int(line + 9, &v) && v > 0)
		*procs = v;
	else if (strncmp(line, "MaxNodes:", 9) == 0 &&
		 ksched__sim_int(line + 9, &v) && v > 0)
		*nodes = v;
}

/* The job's size by the chosen field, falling back on the other when
 * the chosen one is unknown (-1). */
static double
swf_size(const double *f, enum ksched_swf_size how)
{
	double alloc = f[F_ALLOC], req = f[F_REQPROCS];

	switch (how) {
	case KSCHED_SWF_SIZE_REQUESTED:
		return req > 0 ? req : alloc;
	case KSCHED_SWF_SIZE_MAX:
		return alloc > req ? alloc : req;
	case KSCHED_SWF_SIZE_ALLOCATED:
	default:
		return alloc > 0 ? alloc : req;
	}
}

/* The walltime estimate in seconds, from the run time actually used. */
static double
swf_estimate(const double *f, double run, enum ksched_swf_estimate how)
{
	double req = f[F_REQTIME];

	switch (how) {
	case KSCHED_SWF_EST_BATSIM:
		return 2 * f[F_RUN] > req ? 2 * f[F_RUN] : req;
	case KSCHED_SWF_EST_EXACT:
		return run;
	case KSCHED_SWF_EST_REQUESTED:
	default:
		return req >= run ? req : run;
	}
}

struct swf_ctx {
	ksched_sim_workload *w;
	const struct ksched_sim_load_opts *o;
	size_t lineno;
	char *err;
	size_t errlen;
};

/* Why a record cannot be simulated, or NULL.  A zero run time is bad
 * only with drop_bad: loaded, it is a job that ends as it starts. */
static const char *
swf_bad(const double *f, double size, bool drop_bad)
{
	if (f[F_RUN] < 0)
		return "field 4 (run time): unknown (-1)";
	if (f[F_RUN] == 0 && drop_bad)
		return "field 4 (run time): zero";
	if (size <= 0)
		return "fields 5 and 8 (processors): no size";
	if (f[F_SUBMIT] < 0)
		return "field 2 (submit time): negative";
	return NULL;
}

/* One record, fields already split; *kept tells whether it was kept. */
static ksched_err
swf_record(struct swf_ctx *c, char **tok, bool *kept)
{
	struct ksched_sim_job j;
	double f[SWF_FIELDS], size, run;
	const char *bad;

	*kept = false;
	for (int i = 0; i < SWF_FIELDS; i++)
		if (!ksched__sim_num(tok[i], &f[i]))
			return ksched__sim_err(c->err, c->errlen,
					       "line %zu: field %d (%s): not a "
					       "number (\"%.32s\")",
					       c->lineno, i + 1, swf_names[i],
					       tok[i]);
	if (f[F_JOB] < 0 || f[F_JOB] != floor(f[F_JOB]) || f[F_JOB] > 1e18)
		return ksched__sim_err(c->err, c->errlen,
				       "line %zu: field 1 (job number): not a "
				       "whole number >= 0 (\"%.32s\")",
				       c->lineno, tok[F_JOB]);
	size = floor(swf_size(f, c->o->swf_size));
	bad = swf_bad(f, size, c->o->drop_bad);
	if (bad)
		return ksched__sim_bad_record(c->w, c->o->drop_bad, c->lineno,
					      bad, c->err, c->errlen);
	if (size > INT32_MAX)
		return ksched__sim_err(c->err, c->errlen,
				       "line %zu: fields 5 and 8 (processors): "
				       "too large",
				       c->lineno);
	run = c->o->batsim_delay ? floor(f[F_RUN]) + 1 : f[F_RUN];
	memset(&j, 0, sizeof(j));
	j.id = (uint64_t)f[F_JOB];
	j.name = tok[F_JOB];
	j.nodes = (int64_t)size;
	j.need.cpu_milli = 1000;
	j.need.slots = 1;
	j.user = strcmp(tok[F_USER], "-1") == 0 ? "" : tok[F_USER];
	if (!ksched__sim_sec_to_ms(f[F_SUBMIT], &j.submit_ms) ||
	    !ksched__sim_sec_to_ms(run, &j.run_ms) ||
	    !ksched__sim_sec_to_ms(swf_estimate(f, run, c->o->swf_estimate),
				   &j.walltime_ms))
		return ksched__sim_err(c->err, c->errlen,
				       "line %zu: a time out of range",
				       c->lineno);
	*kept = true;
	return ksched__sim_put(c->w, &j, NULL, c->err, c->errlen);
}

/* Split line at blanks into tok; the count (SWF_FIELDS + 1 if more). */
static int
swf_split(char *line, char **tok)
{
	int n = 0;
	char *p = line;

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			return n;
		if (n == SWF_FIELDS)
			return n + 1;
		tok[n++] = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
}

ksched_err
ksched__sim_read_swf(ksched_sim_workload *w, const char *path,
		     const struct ksched_sim_load_opts *o, char *err,
		     size_t errlen)
{
	struct swf_ctx c = {w, o, 0, err, errlen};
	struct sim_lines l;
	int64_t procs = 0, nodes = 0;
	size_t kept = 0, len;
	char *line, *tok[SWF_FIELDS];
	ksched_err e;
	int r, n;

	e = ksched__sim_lines_open(&l, path, err, errlen);
	if (e != KSCHED_OK)
		return e;
	while ((r = ksched__sim_lines_next(&l, &line, &len)) == 1) {
		bool k;

		c.lineno = l.lineno;
		line += strspn(line, " \t");
		if (*line == ';') {
			swf_header(line, &procs, &nodes);
			continue;
		}
		n = swf_split(line, tok);
		if (n == 0)
			continue;
		if (n != SWF_FIELDS) {
			e = ksched__sim_err(err, errlen,
					    "line %zu: %s%d fields (SWF has "
					    "18)",
					    l.lineno,
					    n > SWF_FIELDS ? "over " : "",
					    n > SWF_FIELDS ? SWF_FIELDS : n);
			break;
		}
		e = swf_record(&c, tok, &k);
		if (e != KSCHED_OK)
			break;
		kept += k;
		if (o->max_jobs && kept == o->max_jobs)
			break;
	}
	if (e == KSCHED_OK && r < 0)
		e = ksched__sim_lines_error(&l, err, errlen);
	ksched__sim_lines_close(&l);
	w->machines = procs ? procs : nodes;
	return e;
}
