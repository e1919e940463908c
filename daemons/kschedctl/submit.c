/* kschedctl - submit: task flags or a tasks file (JSON lines). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "ctl.h"

/* ---- tasks files -------------------------------------------------------- */

struct tasks {
	ksched_task **v;
	size_t n, cap;
};

static void
tasks_free(struct tasks *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		ksched_task_free(ts->v[i]);
	ksched__free(ts->v);
}

static bool
tasks_add(struct tasks *ts, ksched_task *t)
{
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 64;
		ksched_task **p = ksched__realloc(ts->v, cap * sizeof(*p));

		if (!p)
			return false;
		ts->v = p;
		ts->cap = cap;
	}
	ts->v[ts->n++] = t;
	return true;
}

/* One line: tmpl plus the line's fields, validated; false and err if bad. */
static bool
task_from_line(const ksched_task *tmpl, const char *line, struct tasks *ts,
	       char *err, size_t len)
{
	ksched_task *t;

	if (ksched_client_parse_task(line, strlen(line), tmpl, &t, err, len))
		return false;
	if (!ksched_task_validate(t, err, len) && tasks_add(ts, t))
		return true;
	if (!*err)
		snprintf(err, len, "out of memory");
	ksched_task_free(t);
	return false;
}

/* Every line of path ("-": stdin) but blank ones; bad lines reported. */
static int
read_tasks(const struct ctl *k, const char *path, const ksched_task *tmpl,
	   struct tasks *ts)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char *line = NULL, err[512];
	size_t cap = 0, lineno = 0, bad = 0;

	if (!f)
		return ctl_usage(k, "--file %s: %s", path, strerror(errno));
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		err[0] = 0;
		if (strspn(line, " \t\r\n") == strlen(line) ||
		    task_from_line(tmpl, line, ts, err, sizeof(err)))
			continue;
		if (++bad <= 20)
			ctl_warn(k, "%s:%zu: %s", path, lineno, err);
	}
	free(line); /* getline's buffer is the C library's */
	if (f != stdin)
		fclose(f);
	if (bad)
		return ctl_usage(k, "%zu bad lines in %s: nothing submitted",
				 bad, path);
	return ts->n ? EX_OK : ctl_usage(k, "no tasks in %s", path);
}

/* ---- submit ------------------------------------------------------------- */

static int
read_payload(const struct ctl *k, ksched_task *t, const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *buf = f ? ksched__malloc(KSCHED_PAYLOAD_MAX + 1) : NULL;
	size_t n = buf ? fread(buf, 1, KSCHED_PAYLOAD_MAX + 1, f) : 0;
	int rc = EX_OK;

	if (!f || !buf || ferror(f))
		rc = ctl_usage(k, "--payload-file %s: %s", path,
			       f ? "cannot read it" : strerror(errno));
	else if (n > KSCHED_PAYLOAD_MAX)
		rc = ctl_usage(k, "--payload-file %s: more than %u bytes", path,
			       KSCHED_PAYLOAD_MAX);
	else if (ksched_task_set_payload(t, buf, n))
		rc = ctl_fail(k, KSCHED_ENOMEM);
	ksched__free(buf);
	if (f && f != stdin)
		fclose(f);
	return rc;
}

/*
 * The task flags, made a tasks-file line and parsed like one, give the
 * task: the one to submit, or the defaults of every line of --file.
 */
static int
submit_spec(struct ctl *k, int argc, char **argv, ksched_task **t)
{
	json_t *a = json_array();
	char *js, err[300];
	ksched_err e;

	for (int i = 0; i < argc; i++)
		json_array_append_new(a, json_string(argv[i]));
	if (json_array_size(a) != (size_t)argc ||
	    (k->kind &&
	     json_object_set_new(k->spec, "kind", json_string(k->kind)))) {
		json_decref(a);
		return ctl_usage(k, "ARGV or --kind is not UTF-8");
	}
	if (argc)
		json_object_set_new(k->spec, "argv", a);
	else
		json_decref(a);
	if (json_object_get(k->spec, "ttl") &&
	    json_object_get(k->spec, "no_cache"))
		return ctl_usage(k, "give --ttl or --no-cache, not both");
	if (k->payload && k->pfile)
		return ctl_usage(k,
				 "give --payload or --payload-file, not both");
	if (!(js = json_dumps(k->spec, JSON_COMPACT)))
		return ctl_fail(k, KSCHED_ENOMEM);
	e = ksched_client_parse_task(js, strlen(js), NULL, t, err, sizeof(err));
	free(js); /* jansson's allocation */
	if (e)
		return ctl_usage(k, "%s", err);
	if (k->payload &&
	    ksched_task_set_payload(*t, k->payload, strlen(k->payload)))
		return ctl_fail(k, KSCHED_ENOMEM);
	return k->pfile ? read_payload(k, *t, k->pfile) : EX_OK;
}

/* The tasks to submit: the spec, or one per line of --file. */
static int
submit_tasks(struct ctl *k, int argc, char **argv, struct tasks *ts)
{
	ksched_task *t = NULL;
	char err[300];
	int rc = k->file && argc
		     ? ctl_usage(k, "give --file or an ARGV, not both")
		     : submit_spec(k, argc, argv, &t);

	if (!rc && k->file)
		rc = read_tasks(k, k->file, t, ts);
	else if (!rc && ksched_task_validate(t, err, sizeof(err)))
		rc = ctl_usage(k, "%s", err);
	else if (!rc && tasks_add(ts, t))
		t = NULL;
	else if (!rc)
		rc = ctl_fail(k, KSCHED_ENOMEM);
	ksched_task_free(t);
	return rc;
}

/*
 * Submit in chunks of a request each; more than one chunk is a long
 * operation, with a progress bar.
 */
static int
submit_send(struct ctl *k, struct tasks *ts, uint64_t *ids, bool *cached)
{
	ksched_err e = KSCHED_OK;
	struct progress p;
	size_t m, off;

	progress_start(&p, k, "submitted", ts->n, ts->n > KSCHED_CLIENT_CHUNK);
	for (off = 0; off < ts->n && !e; off += m) {
		m = ts->n - off < KSCHED_CLIENT_CHUNK ? ts->n - off
						      : KSCHED_CLIENT_CHUNK;
		e = ksched_client_submit(
		    k->c, (const ksched_task *const *)ts->v + off, m, ids + off,
		    cached + off);
		if (!e)
			progress_update(&p, off + m, 0);
	}
	progress_end(&p);
	if (e && ids[0])
		ctl_warn(k, "the tasks before the failing one were submitted");
	return e ? ctl_fail(k, e) : EX_OK;
}

int
cmd_submit(struct ctl *k, int argc, char **argv)
{
	struct tasks ts = {NULL, 0, 0};
	uint64_t *ids = NULL, remaining = 0;
	bool *cached = NULL;
	int rc = submit_tasks(k, argc, argv, &ts);
	json_t *a = json_array();
	ksched_err e;

	if (!rc && (!(ids = ksched__calloc(ts.n, sizeof(*ids))) ||
		    !(cached = ksched__calloc(ts.n, sizeof(*cached)))))
		rc = ctl_fail(k, KSCHED_ENOMEM);
	if (!rc && !(rc = connect_master(k)))
		rc = submit_send(k, &ts, ids, cached);
	if (!rc && k->wait) {
		e = wait_loop(k, ids, ts.n, false, -1, &remaining);
		rc = e ? ctl_fail(k, e) : print_results(k, ids, ts.n, false);
	}
	for (size_t i = 0; !rc && !k->wait && i < ts.n; i++) {
		if (!k->json)
			printf("%llu\n", (unsigned long long)ids[i]);
		json_array_append_new(a, json_pack("{s:I,s:b}", "id",
						   (json_int_t)ids[i], "cached",
						   (int)cached[i]));
	}
	rc = !rc && !k->wait && k->json ? emit_json(json_incref(a)) : rc;
	json_decref(a);
	ksched__free(ids);
	ksched__free(cached);
	tasks_free(&ts);
	return rc;
}
