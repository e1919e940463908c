/*
 * libksched - the ksched JSON lines workload reader:
 *
 *   {"at": 12.5, "run": 30, "walltime": 60, "task": {"kind": "render",
 *    "cpu": 2000, "mem": 512, "nodes": 1, "priority": 5, "user": "ann"}}
 *
 * "at" (arrival), "run" (real run time) and "walltime" (estimate) are
 * seconds; "task" is what `kschedctl submit --file` takes, so a workload
 * can be replayed on a real master too.  "id" (integer) and "name" may
 * be given; otherwise a job's id is its record's position from 1.  A
 * line without "task" is a bare job: one part of one CPU, no spec.  A
 * task's kind defaults to "sim" (simulated work), not "exec": a trace
 * says how long a job ran, not what command it ran.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "ksched/client.h"
#include "sim_trace_int.h"

struct jl_ctx {
	ksched_sim_workload *w;
	ksched_task *defaults;
	size_t lineno, pos;
	char *err;
	size_t errlen;
};

static ksched_err
jl_seconds(struct jl_ctx *c, json_t *o, const char *key, bool required,
	   int64_t *ms)
{
	if (ksched__sim_json_ms(o, key, required, ms))
		return KSCHED_OK;
	return ksched__sim_err(c->err, c->errlen,
			       "line %zu: field '%s' must be a number of "
			       "seconds >= 0",
			       c->lineno, key);
}

/* The task spec of the line, parsed and validated; *out NULL if none. */
static ksched_err
jl_task(struct jl_ctx *c, json_t *v, ksched_task **out)
{
	char msg[384], *s;
	ksched_err e;

	*out = NULL;
	if (!v)
		return KSCHED_OK;
	if (!json_is_object(v))
		return ksched__sim_err(c->err, c->errlen,
				       "line %zu: field 'task' must be an "
				       "object",
				       c->lineno);
	s = json_dumps(v, JSON_COMPACT);
	if (!s)
		return KSCHED_ENOMEM;
	msg[0] = '\0';
	e = ksched_client_parse_task(s, strlen(s), c->defaults, out, msg,
				     sizeof(msg));
	free(s);
	if (e == KSCHED_OK)
		e = ksched_task_validate(*out, msg, sizeof(msg));
	if (e == KSCHED_OK)
		return KSCHED_OK;
	ksched_task_free(*out);
	*out = NULL;
	if (e == KSCHED_ENOMEM)
		return e;
	return ksched__sim_err(c->err, c->errlen, "line %zu: task: %s",
			       c->lineno, msg);
}

/* Refuse fields this format does not have (a typo would go unseen). */
static ksched_err
jl_keys(struct jl_ctx *c, json_t *o)
{
	static const char *const keys[] = {"at",   "run", "walltime",
					   "task", "id",  "name"};
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v)
	{
		size_t i = 0;

		while (i < sizeof(keys) / sizeof(*keys) && strcmp(k, keys[i]))
			i++;
		if (i == sizeof(keys) / sizeof(*keys))
			return ksched__sim_err(c->err, c->errlen,
					       "line %zu: unknown field "
					       "'%.32s' (fields: at, run, "
					       "walltime, task, id, name)",
					       c->lineno, k);
	}
	return KSCHED_OK;
}

static ksched_err
jl_ident(struct jl_ctx *c, json_t *o, struct ksched_sim_job *j)
{
	json_t *id = json_object_get(o, "id"),
	       *name = json_object_get(o, "name");

	j->id = c->pos;
	if (id && (!json_is_integer(id) || json_integer_value(id) < 0))
		return ksched__sim_err(c->err, c->errlen,
				       "line %zu: field 'id' must be an "
				       "integer >= 0",
				       c->lineno);
	if (id)
		j->id = (uint64_t)json_integer_value(id);
	if (name && (!json_is_string(name) || strlen(json_string_value(name)) !=
						  json_string_length(name)))
		return ksched__sim_err(c->err, c->errlen,
				       "line %zu: field 'name' must be a "
				       "string",
				       c->lineno);
	j->name = name ? json_string_value(name) : NULL;
	return KSCHED_OK;
}

/* The job's needs from its spec, or one CPU for a bare job. */
static void
jl_needs(struct ksched_sim_job *j, const ksched_task *t)
{
	j->nodes = 1;
	j->need.cpu_milli = 1000;
	j->need.slots = 1;
	if (!t)
		return;
	j->nodes = ksched_task_nodes(t);
	j->need.cpu_milli = ksched_task_cpu_milli(t);
	j->need.mem_mb = ksched_task_mem_mb(t);
	j->need.gpus = ksched_task_gpus(t);
	j->priority = ksched_task_priority(t);
	j->user = ksched_task_user(t);
	j->kind = ksched_task_kind(t);
	/* No "walltime": the task's timeout is the limit it asked for. */
	if (!j->walltime_ms && ksched_task_timeout_ms(t) > 0)
		j->walltime_ms = ksched_task_timeout_ms(t);
}

static ksched_err
jl_line(struct jl_ctx *c, const char *line, size_t len)
{
	struct ksched_sim_job j;
	ksched_task *t = NULL;
	json_error_t je;
	json_t *o;
	ksched_err e;

	o = json_loadb(line, len, 0, &je);
	if (!o)
		return ksched__sim_err(c->err, c->errlen,
				       "line %zu, column %d: bad JSON: %s",
				       c->lineno, je.column, je.text);
	memset(&j, 0, sizeof(j));
	c->pos++;
	if (!json_is_object(o))
		e = ksched__sim_err(c->err, c->errlen,
				    "line %zu: not a JSON object", c->lineno);
	else
		e = jl_keys(c, o);
	if (e == KSCHED_OK)
		e = jl_ident(c, o, &j);
	if (e == KSCHED_OK)
		e = jl_seconds(c, o, "at", true, &j.submit_ms);
	if (e == KSCHED_OK)
		e = jl_seconds(c, o, "run", true, &j.run_ms);
	if (e == KSCHED_OK)
		e = jl_seconds(c, o, "walltime", false, &j.walltime_ms);
	if (e == KSCHED_OK)
		e = jl_task(c, json_object_get(o, "task"), &t);
	if (e == KSCHED_OK) {
		jl_needs(&j, t);
		e = ksched__sim_put(c->w, &j, t, c->err, c->errlen);
		if (e != KSCHED_OK)
			ksched_task_free(t);
	}
	json_decref(o);
	return e;
}

ksched_err
ksched__sim_read_jsonl(ksched_sim_workload *w, const char *path,
		       const struct ksched_sim_load_opts *o, char *err,
		       size_t errlen)
{
	struct jl_ctx c = {w, NULL, 0, 0, err, errlen};
	struct sim_lines l;
	char *line;
	size_t len;
	ksched_err e;
	int r = 0;

	e = ksched_task_new(&c.defaults);
	if (e == KSCHED_OK)
		e = ksched_task_set_kind(c.defaults, KSCHED_KIND_SIM);
	if (e == KSCHED_OK)
		e = ksched__sim_lines_open(&l, path, err, errlen);
	if (e != KSCHED_OK) {
		ksched_task_free(c.defaults);
		return e;
	}
	while (e == KSCHED_OK &&
	       (r = ksched__sim_lines_next(&l, &line, &len)) == 1) {
		c.lineno = l.lineno;
		if (strspn(line, " \t") == len)
			continue;
		if (o->max_jobs && w->n == o->max_jobs)
			break;
		e = jl_line(&c, line, len);
	}
	if (e == KSCHED_OK && r < 0)
		e = ksched__sim_lines_error(&l, err, errlen);
	ksched__sim_lines_close(&l);
	ksched_task_free(c.defaults);
	return e;
}
