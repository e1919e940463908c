/*
 * libksched - the Alibaba openb pod list reader (cluster-trace-gpu-v2023:
 * name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos,
 * pod_phase, creation_time, deletion_time, scheduled_time).
 *
 * Columns are found by their header names.  Times are seconds from the
 * start of the trace.  A pod arrives at creation_time and runs from
 * scheduled_time (creation_time if it never was) to deletion_time; a pod
 * with no deletion_time has no known end and is a bad record.  GPU
 * sharing (gpu_milli) is not modelled: a pod takes num_gpu whole GPUs.
 */
#include <inttypes.h>
#include <string.h>

#include "sim_trace_int.h"

enum { P_NAME, P_CPU, P_MEM, P_GPU, P_CREATE, P_DELETE, P_SCHED, P_NCOLS };

static const char *const pod_cols[P_NCOLS] = {
    "name",	     "cpu_milli",     "memory_mib",    "num_gpu",
    "creation_time", "deletion_time", "scheduled_time"};

#define POD_FIELDS_MAX 32

struct pod_ctx {
	ksched_sim_workload *w;
	const struct ksched_sim_load_opts *o;
	int col[P_NCOLS];
	size_t lineno, pos;
	char *err;
	size_t errlen;
};

static ksched_err
pod_header(struct pod_ctx *c, char *line)
{
	char *f[POD_FIELDS_MAX];
	size_t nf = ksched__sim_csv_split(line, f, POD_FIELDS_MAX);

	for (int k = 0; k < P_NCOLS; k++) {
		c->col[k] = -1;
		for (size_t i = 0; i < nf && i < POD_FIELDS_MAX; i++)
			if (strcmp(f[i], pod_cols[k]) == 0)
				c->col[k] = (int)i;
		if (c->col[k] < 0)
			return ksched__sim_err(
			    c->err, c->errlen,
			    "line %zu: no column '%s' in the "
			    "header of an openb pod list",
			    c->lineno, pod_cols[k]);
	}
	return KSCHED_OK;
}

/* Column k of the row as an integer >= 0; empty is -1 when it may be. */
static ksched_err
pod_int(struct pod_ctx *c, char **f, int k, bool may_be_empty, int64_t *v)
{
	const char *s = f[c->col[k]];

	if (may_be_empty && !*s) {
		*v = -1;
		return KSCHED_OK;
	}
	if (!ksched__sim_int(s, v) || *v < 0)
		return ksched__sim_err(c->err, c->errlen,
				       "line %zu: field '%s': not an integer "
				       ">= 0 (\"%.32s\")",
				       c->lineno, pod_cols[k], s);
	return KSCHED_OK;
}

static ksched_err
pod_row(struct pod_ctx *c, char *line)
{
	char *f[POD_FIELDS_MAX];
	size_t nf = ksched__sim_csv_split(line, f, POD_FIELDS_MAX);
	struct ksched_sim_job j;
	int64_t t[P_NCOLS], start;
	const char *bad = NULL;
	ksched_err e = KSCHED_OK;

	for (int k = 0; k < P_NCOLS; k++)
		if ((size_t)c->col[k] >= nf)
			return ksched__sim_err(c->err, c->errlen,
					       "line %zu: %zu fields, no '%s'",
					       c->lineno, nf, pod_cols[k]);
	c->pos++;
	for (int k = P_CPU; e == KSCHED_OK && k < P_NCOLS; k++)
		e = pod_int(c, f, k, k >= P_DELETE, &t[k]);
	if (e != KSCHED_OK)
		return e;
	start = t[P_SCHED] >= 0 ? t[P_SCHED] : t[P_CREATE];
	if (t[P_DELETE] < 0)
		bad = "no deletion_time (the pod never ended in the trace)";
	else if (t[P_DELETE] < start)
		bad = "deletion_time before its start";
	if (bad)
		return ksched__sim_bad_record(c->w, c->o->drop_bad, c->lineno,
					      bad, c->err, c->errlen);
	memset(&j, 0, sizeof(j));
	j.id = c->pos;
	j.name = f[c->col[P_NAME]];
	j.nodes = 1;
	j.need.cpu_milli = t[P_CPU];
	j.need.mem_mb = t[P_MEM];
	j.need.gpus = t[P_GPU];
	j.need.slots = 1;
	if (!ksched__sim_sec_to_ms((double)t[P_CREATE], &j.submit_ms) ||
	    !ksched__sim_sec_to_ms((double)(t[P_DELETE] - start), &j.run_ms))
		return ksched__sim_err(c->err, c->errlen,
				       "line %zu: a time out of range",
				       c->lineno);
	return ksched__sim_put(c->w, &j, NULL, c->err, c->errlen);
}

ksched_err
ksched__sim_read_openb(ksched_sim_workload *w, const char *path,
		       const struct ksched_sim_load_opts *o, char *err,
		       size_t errlen)
{
	struct pod_ctx c = {.w = w, .o = o, .err = err, .errlen = errlen};
	struct sim_lines l;
	bool header = true;
	char *line;
	size_t len;
	ksched_err e;
	int r = 0;

	e = ksched__sim_lines_open(&l, path, err, errlen);
	if (e != KSCHED_OK)
		return e;
	while (e == KSCHED_OK &&
	       (r = ksched__sim_lines_next(&l, &line, &len)) == 1) {
		c.lineno = l.lineno;
		if (len == 0)
			continue;
		if (header) {
			e = pod_header(&c, line);
			header = false;
			continue;
		}
		if (o->max_jobs && w->n == o->max_jobs)
			break;
		e = pod_row(&c, line);
	}
	if (e == KSCHED_OK && r < 0)
		e = ksched__sim_lines_error(&l, err, errlen);
	if (e == KSCHED_OK && header)
		e = ksched__sim_err(err, errlen, "empty file: no header");
	ksched__sim_lines_close(&l);
	return e;
}
