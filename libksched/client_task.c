/*
 * libksched - task specs from JSON for the client (ksched_client_parse_task):
 * one object, a line of a kschedctl tasks file, onto a ksched_task.  jansson
 * parses; each field has a small setter that says what was wrong with it.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ksched/client.h"
#include "alloc.h"

enum jfield {
	JF_KIND,
	JF_PAYLOAD,
	JF_CWD,
	JF_USER,
	JF_SALT, /* strings */
	JF_PRIORITY,
	JF_CPU,
	JF_MEM,
	JF_GPUS,
	JF_NODES,
	JF_RETRIES,
	JF_BACKOFF, /* integers */
	JF_TIMEOUT,
	JF_TTL, /* seconds */
	JF_NO_CACHE,
	JF_ARGV,
	JF_ENV,
	JF_LABELS
};

static const struct {
	const char *name;
	enum jfield f;
} jfields[] = {
    {"kind", JF_KIND},	     {"payload", JF_PAYLOAD}, {"cwd", JF_CWD},
    {"user", JF_USER},	     {"salt", JF_SALT},	      {"priority", JF_PRIORITY},
    {"cpu", JF_CPU},	     {"mem", JF_MEM},	      {"gpus", JF_GPUS},
    {"nodes", JF_NODES},     {"retries", JF_RETRIES}, {"backoff", JF_BACKOFF},
    {"timeout", JF_TIMEOUT}, {"ttl", JF_TTL},	      {"no_cache", JF_NO_CACHE},
    {"argv", JF_ARGV},	     {"env", JF_ENV},	      {"labels", JF_LABELS},
};

static bool jerr(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
jerr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return false;
}

static void
set_int(ksched_task *t, enum jfield f, int64_t v)
{
	int64_t cpu = ksched_task_cpu_milli(t), mem = ksched_task_mem_mb(t);
	int64_t gpus = ksched_task_gpus(t), r = ksched_task_retries(t);
	int64_t base = ksched_task_backoff_base_ms(t);
	int64_t max = ksched_task_backoff_max_ms(t);

	if (f == JF_PRIORITY)
		ksched_task_set_priority(t, (int32_t)v);
	else if (f == JF_CPU || f == JF_MEM || f == JF_GPUS)
		ksched_task_set_resources(t, f == JF_CPU ? v : cpu,
					  f == JF_MEM ? v : mem,
					  f == JF_GPUS ? v : gpus);
	else if (f == JF_NODES)
		ksched_task_set_nodes(t, v);
	else if (f == JF_RETRIES || f == JF_BACKOFF)
		ksched_task_set_retry(t, f == JF_RETRIES ? v : r,
				      f == JF_BACKOFF ? v : base,
				      f == JF_BACKOFF && v > max ? v : max);
	else if (f == JF_TIMEOUT)
		ksched_task_set_timeout_ms(t, v);
	else if (f == JF_TTL)
		ksched_task_set_cache(t, false, v);
}

static bool
j_number(ksched_task *t, const char *key, enum jfield f, json_t *v, char *err,
	 size_t len)
{
	bool secs = f == JF_TIMEOUT || f == JF_TTL;
	double d = json_number_value(v);
	int64_t i;

	if (secs ? !json_is_number(v) : !json_is_integer(v))
		return jerr(err, len, "field '%s' must be %s", key,
			    secs ? "a number of seconds" : "an integer");
	i = secs ? (int64_t)(d * 1000 + (d < 0 ? -0.5 : 0.5))
		 : json_integer_value(v);
	if (!(d > -1e12 && d < 1e12) ||
	    (f == JF_PRIORITY && (i < INT32_MIN || i > INT32_MAX)))
		return jerr(err, len, "field '%s' out of range", key);
	set_int(t, f, i);
	return true;
}

static bool
j_string(ksched_task *t, const char *key, enum jfield f, json_t *v, char *err,
	 size_t len)
{
	const char *s = json_string_value(v);
	ksched_err e;

	if (!s)
		return jerr(err, len, "field '%s' must be a string", key);
	if (f == JF_PAYLOAD)
		e = ksched_task_set_payload(t, s, json_string_length(v));
	else if (memchr(s, 0, json_string_length(v)))
		return jerr(err, len, "field '%s' holds a NUL byte", key);
	else if (f == JF_KIND)
		e = ksched_task_set_kind(t, s);
	else if (f == JF_CWD)
		e = ksched_task_set_cwd(t, s);
	else if (f == JF_USER)
		e = ksched_task_set_user(t, s);
	else
		e = ksched_task_set_salt(t, s);
	return e ? jerr(err, len, "field '%s': %s", key, ksched_strerror(e))
		 : true;
}

static bool
j_argv(ksched_task *t, json_t *v, char *err, size_t len)
{
	size_t n = json_array_size(v), i;
	const char **argv;
	json_t *x;
	ksched_err e;

	if (!json_is_array(v))
		return jerr(err, len, "field 'argv' must be an array");
	if (!(argv = ksched__calloc(n ? n : 1, sizeof(*argv))))
		return jerr(err, len, "out of memory");
	json_array_foreach(v, i, x)
	{
		if (!(argv[i] = json_string_value(x))) {
			ksched__free(argv);
			return jerr(err, len,
				    "field 'argv': entry %zu must "
				    "be a string",
				    i);
		}
	}
	e = ksched_task_set_argv(t, n, argv);
	ksched__free(argv);
	return e ? jerr(err, len, "field 'argv': %s", ksched_strerror(e))
		 : true;
}

/* env: {"K": "V"} or ["K=V"]; labels: {"K": "V"}. */
static bool
j_pairs(ksched_task *t, const char *key, bool env, json_t *v, char *err,
	size_t len)
{
	const char *name;
	json_t *x;
	size_t i;
	char kv[4096];

	if (env && json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			if (!json_is_string(x) ||
			    !strchr(json_string_value(x), '=') ||
			    ksched_task_add_env(t, json_string_value(x)))
				return jerr(err, len,
					    "field 'env': entry %zu "
					    "must be \"K=V\"",
					    i);
		}
		return true;
	}
	if (!json_is_object(v))
		return jerr(err, len, "field '%s' must be an object", key);
	json_object_foreach(v, name, x)
	{
		const char *s = json_string_value(x);

		if (!s || (env && snprintf(kv, sizeof(kv), "%s=%s", name, s) >=
				      (int)sizeof(kv)))
			return jerr(err, len,
				    "field '%s': '%s' must be a "
				    "short string",
				    key, name);
		if (env ? ksched_task_add_env(t, kv)
			: ksched_task_add_label(t, name, s))
			return jerr(err, len, "field '%s': cannot add '%s'",
				    key, name);
	}
	return true;
}

static bool
j_field(ksched_task *t, const char *key, json_t *v, char *err, size_t len)
{
	size_t i, n = sizeof(jfields) / sizeof(jfields[0]);
	enum jfield f;

	for (i = 0; i < n && strcmp(jfields[i].name, key); i++)
		;
	if (i == n)
		return jerr(err, len, "unknown field '%s'", key);
	f = jfields[i].f;
	if (f <= JF_SALT)
		return j_string(t, key, f, v, err, len);
	if (f <= JF_TTL)
		return j_number(t, key, f, v, err, len);
	if (f == JF_ARGV)
		return j_argv(t, v, err, len);
	if (f != JF_NO_CACHE)
		return j_pairs(t, key, f == JF_ENV, v, err, len);
	if (!json_is_boolean(v))
		return jerr(err, len, "field 'no_cache' must be true or false");
	ksched_task_set_cache(t, json_is_true(v), ksched_task_cache_ttl_ms(t));
	return true;
}

ksched_err
ksched_client_parse_task(const char *json, size_t len,
			 const ksched_task *defaults, ksched_task **out,
			 char *err, size_t errlen)
{
	json_error_t je;
	json_t *o, *v;
	const char *key;
	ksched_err e;

	*out = NULL;
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!o) {
		jerr(err, errlen, "bad JSON at column %d: %s", je.column,
		     je.text);
		return KSCHED_EINVAL;
	}
	e = defaults ? ksched_task_dup(defaults, out) : ksched_task_new(out);
	if (e) {
		jerr(err, errlen, "%s", ksched_strerror(e));
	} else if (!json_is_object(o)) {
		jerr(err, errlen, "not a JSON object");
		e = KSCHED_EINVAL;
	}
	json_object_foreach(o, key, v)
	{
		const char *sk;
		json_t *sv;

		if (e)
			break;
		if (strcmp(key, "selector") != 0) {
			e = j_field(*out, key, v, err, errlen) ? 0
							       : KSCHED_EINVAL;
			continue;
		}
		if (!json_is_object(v)) { /* "selector": {"K": "V"} */
			jerr(err, errlen, "field 'selector' must be an object");
			e = KSCHED_EINVAL;
		}
		json_object_foreach(v, sk, sv)
		{
			if (e)
				break;
			if (!json_is_string(sv))
				jerr(err, errlen,
				     "field 'selector': '%s' must be a string",
				     sk);
			else if (ksched_task_add_selector(
					 *out, sk, json_string_value(sv)))
				jerr(err, errlen,
				     "field 'selector': cannot add '%s'", sk);
			else
				continue;
			e = KSCHED_EINVAL;
		}
	}
	json_decref(o);
	if (e) {
		ksched_task_free(*out);
		*out = NULL;
	}
	return e;
}
