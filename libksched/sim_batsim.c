/*
 * libksched - the Batsim JSON workload reader.
 *
 *   {"nb_res": 32,
 *    "jobs": [{"id": 1, "subtime": 4.7, "res": 2, "walltime": 399,
 *              "profile": "delay_ft.C.2"}, ...],
 *    "profiles": {"delay_ft.C.2": {"type": "delay", "delay": 62.08}, ...}}
 *
 * Times are seconds.  A job asking res machines is a gang of res one-CPU
 * parts; its run time is its delay profile's delay.  Only delay profiles
 * say how long a job runs without simulating its code, so any other
 * profile type is refused by name.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "sim_trace_int.h"

/* A Batsim file is read whole; this is far past any real one. */
#define BATSIM_MAX_BYTES (1u << 30)

struct bs_ctx {
	json_t *profiles;
	size_t i; /* the job's index in "jobs" */
	char *err;
	size_t errlen;
};

/* A number of seconds >= 0 at key of o, as ms; absent is 0 if allowed. */
static ksched_err
bs_seconds(struct bs_ctx *c, json_t *o, const char *key, bool required,
	   int64_t *ms)
{
	if (ksched__sim_json_ms(o, key, required, ms))
		return KSCHED_OK;
	return ksched__sim_err(c->err, c->errlen,
			       "jobs[%zu]: field '%s' must be a number of "
			       "seconds >= 0",
			       c->i, key);
}

/* The job's id and name: a number, or a string ("w0!3") whose id is the
 * number it spells, else the job's position from 1. */
static ksched_err
bs_id(struct bs_ctx *c, json_t *v, struct ksched_sim_job *j, char *buf,
      size_t bufsz)
{
	int64_t n;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		j->id = (uint64_t)json_integer_value(v);
		snprintf(buf, bufsz, "%" PRIu64, j->id);
		j->name = buf;
		return KSCHED_OK;
	}
	if (json_is_string(v) && json_string_length(v) > 0 &&
	    strlen(json_string_value(v)) == json_string_length(v)) {
		j->name = json_string_value(v);
		j->id = ksched__sim_int(j->name, &n) && n >= 0 ? (uint64_t)n
							       : c->i + 1;
		return KSCHED_OK;
	}
	return ksched__sim_err(c->err, c->errlen,
			       "jobs[%zu]: field 'id' must be an integer >= 0 "
			       "or a non-empty string",
			       c->i);
}

/* The run time of the job's profile, which must be a delay. */
static ksched_err
bs_profile(struct bs_ctx *c, json_t *job, int64_t *run_ms)
{
	json_t *name = json_object_get(job, "profile"), *p, *type, *delay;

	if (!json_is_string(name))
		return ksched__sim_err(c->err, c->errlen,
				       "jobs[%zu]: field 'profile' must be a "
				       "string",
				       c->i);
	p = json_object_get(c->profiles, json_string_value(name));
	if (!json_is_object(p))
		return ksched__sim_err(c->err, c->errlen,
				       "jobs[%zu]: no profile \"%.64s\" in "
				       "'profiles'",
				       c->i, json_string_value(name));
	type = json_object_get(p, "type");
	if (!json_is_string(type) ||
	    strcmp(json_string_value(type), "delay") != 0)
		return ksched__sim_err(
		    c->err, c->errlen,
		    "jobs[%zu]: profile \"%.64s\" has type "
		    "\"%.32s\": only \"delay\" profiles can "
		    "be simulated",
		    c->i, json_string_value(name),
		    json_is_string(type) ? json_string_value(type) : "(none)");
	delay = json_object_get(p, "delay");
	if (!json_is_number(delay) || json_number_value(delay) < 0 ||
	    !ksched__sim_sec_to_ms(json_number_value(delay), run_ms))
		return ksched__sim_err(c->err, c->errlen,
				       "jobs[%zu]: profile \"%.64s\": field "
				       "'delay' must be a number of seconds "
				       ">= 0",
				       c->i, json_string_value(name));
	return KSCHED_OK;
}

static ksched_err
bs_job(struct bs_ctx *c, ksched_sim_workload *w, json_t *job)
{
	struct ksched_sim_job j;
	char idbuf[32];
	json_t *res;
	ksched_err e;

	if (!json_is_object(job))
		return ksched__sim_err(c->err, c->errlen,
				       "jobs[%zu]: not an object", c->i);
	memset(&j, 0, sizeof(j));
	e = bs_id(c, json_object_get(job, "id"), &j, idbuf, sizeof(idbuf));
	if (e == KSCHED_OK)
		e = bs_seconds(c, job, "subtime", true, &j.submit_ms);
	if (e != KSCHED_OK)
		return e;
	/* Batsim writes -1 for "no walltime". */
	if (json_is_number(json_object_get(job, "walltime")) &&
	    json_number_value(json_object_get(job, "walltime")) == -1)
		j.walltime_ms = 0;
	else if ((e = bs_seconds(c, job, "walltime", false, &j.walltime_ms)))
		return e;
	res = json_object_get(job, "res");
	if (!json_is_integer(res) || json_integer_value(res) < 1 ||
	    json_integer_value(res) > INT32_MAX)
		return ksched__sim_err(c->err, c->errlen,
				       "jobs[%zu]: field 'res' must be an "
				       "integer >= 1",
				       c->i);
	j.nodes = json_integer_value(res);
	e = bs_profile(c, job, &j.run_ms);
	if (e != KSCHED_OK)
		return e;
	j.need.cpu_milli = 1000;
	j.need.slots = 1;
	return ksched__sim_put(w, &j, NULL, c->err, c->errlen);
}

ksched_err
ksched__sim_read_batsim(ksched_sim_workload *w, const char *path,
			const struct ksched_sim_load_opts *o, char *err,
			size_t errlen)
{
	struct bs_ctx c = {NULL, 0, err, errlen};
	json_error_t je;
	json_t *root, *jobs, *nb;
	char *buf;
	size_t len;
	ksched_err e;

	e = ksched__sim_slurp(path, BATSIM_MAX_BYTES, &buf, &len, err, errlen);
	if (e != KSCHED_OK)
		return e;
	root = json_loadb(buf, len, 0, &je);
	ksched__free(buf);
	if (!root)
		return ksched__sim_err(err, errlen,
				       "line %d, column %d: bad JSON: %s",
				       je.line, je.column, je.text);
	jobs = json_object_get(root, "jobs");
	nb = json_object_get(root, "nb_res");
	c.profiles = json_object_get(root, "profiles");
	if (!json_is_object(root) || !json_is_array(jobs))
		e = ksched__sim_err(err, errlen,
				    "not a Batsim workload: no 'jobs' array");
	else if (nb && (!json_is_integer(nb) || json_integer_value(nb) < 0))
		e = ksched__sim_err(err, errlen,
				    "field 'nb_res' must be an integer >= 0");
	else if (json_array_size(jobs) && !json_is_object(c.profiles))
		e = ksched__sim_err(err, errlen,
				    "field 'profiles' must be an object");
	if (e == KSCHED_OK && nb)
		w->machines = json_integer_value(nb);
	for (c.i = 0; e == KSCHED_OK && c.i < json_array_size(jobs); c.i++) {
		if (o->max_jobs && w->n == o->max_jobs)
			break;
		e = bs_job(&c, w, json_array_get(jobs, c.i));
	}
	json_decref(root);
	return e;
}
