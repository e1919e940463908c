/*
 * kschedctl - command line client of a libksched master.
 *
 * Everything goes through the public client API (include/ksched/client.h):
 * what this program does, an application can do in C.  Every command
 * builds its answer as JSON: --json prints it, otherwise it is shown as an
 * aligned table.
 *
 * Exit codes: 0 ok, 1 a task failed or was not found (or another error),
 * 2 usage error, 3 the master cannot be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ksched/client.h"
#include "alloc.h"

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2, EX_CONN = 3 };

/* Everything the command line says, and the connection. */
struct ctl {
	const char *cmd;    /* the command, for messages */
	const char *url;    /* --control, or NULL */
	int64_t timeout_ms; /* --timeout, or 0 for the default */
	bool json, tty;	    /* --json; stderr is a terminal (progress) */
	bool all, wait;	    /* --all; submit --wait */
	const char *kind, *file, *payload, *pfile; /* --kind, submit --... */
	json_t *spec; /* submit: the task flags as a tasks-file line */
	enum ksched_state state; /* list --state, or KSCHED_STATE_COUNT */
	int64_t limit, cursor;	 /* list */
	int64_t wait_ms;	 /* wait --timeout-s, or -1 */
	ksched_client *c;
};

/* clang-format off */
static const char help_text[] =
"usage: kschedctl [--control URL] [--timeout MS] [--json] COMMAND ...\n"
"\n"
"  submit [--kind K] [--priority N] [--cpu MILLI] [--mem MB] [--gpus N]\n"
"         [--timeout S] [--retries N] [--backoff MS] [--ttl S | --no-cache]\n"
"         [--label K=V]... [--selector K=V]... [--env K=V]...\n"
"         [--payload STR | --payload-file F]\n"
"         [--wait] -- ARGV...       submit a task (kind exec with ARGV);\n"
"                                   --selector: only on workers labelled K=V\n"
"  submit --file FILE.jsonl [--wait]  submit one task per JSON line\n"
"  status ID...                       show tasks\n"
"  result ID                          write a task's result to stdout\n"
"  wait ID...|--all [--timeout-s N]   wait until the tasks are final\n"
"  cancel ID...                       cancel tasks (running ones are\n"
"                                     stopped by their worker)\n"
"  retry ID...                        re-queue dead tasks, fresh budget\n"
"  drain WORKER                       give a worker no new work\n"
"  list [--state S] [--limit N] [--cursor C]   list tasks (default: the\n"
"                                     pending, ready and leased ones)\n"
"  workers                            show the workers\n"
"  stats                              show the master's counters\n"
"  cache invalidate KEY|--kind K|--all   drop cached results\n"
"\n"
"  --control URL  the master's control socket (default $KSCHED_CONTROL,\n"
"                 else " KSCHED_CLIENT_DEFAULT_URL ")\n"
"  --timeout MS   how long to wait for the master (default 10000)\n"
"  --json         print one JSON document\n"
"\n"
"Exit status: 0 ok, 1 a task failed or was not found, 2 usage error,\n"
"3 cannot reach the master.  See kschedctl(1).\n";
/* clang-format on */

/* ---- messages and exit codes ------------------------------------------- */

static int usage(const struct ctl *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void warnx(const struct ctl *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
usage(const struct ctl *k, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kschedctl: %s%s", k->cmd ? k->cmd : "",
		k->cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: kschedctl [OPTIONS] COMMAND ...; "
			"'kschedctl --help' lists them\n");
	return EX_USAGE;
}

static void
warnx(const struct ctl *k, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kschedctl: %s: ", k->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Report a failed call; the exit code that goes with its error. */
static int
fail(const struct ctl *k, ksched_err e)
{
	const char *msg = k->c ? ksched_client_last_error(k->c) : "";

	warnx(k, "%s", *msg ? msg : ksched_strerror(e));
	if (e == KSCHED_ENOTCONN)
		return EX_CONN;
	return e == KSCHED_EINVAL ? EX_USAGE : EX_FAIL;
}

/* ---- options ------------------------------------------------------------ */

/*
 * A number in min..max into *out: an integer, or with secs a number of
 * seconds (may have a fraction) made ms.  Prints a usage message if bad.
 */
static bool
parse_num(const struct ctl *k, const char *what, const char *s, bool secs,
	  int64_t min, int64_t max, int64_t *out)
{
	char *end;
	double d = 0;
	long long v;

	errno = 0;
	v = secs ? 0 : strtoll(s, &end, 10);
	d = secs ? strtod(s, &end) * 1000 : (double)v;
	if (!*s || *end || errno || !(d >= (double)min && d <= (double)max)) {
		usage(k, "%s: bad number '%s'%s", what, s,
		      secs ? " (want seconds)" : "");
		return false;
	}
	*out = secs ? (int64_t)llround(d) : v;
	return true;
}

/*
 * One table for every option of every command: each command lists the
 * ones it takes (see cmds[]); --control, --json, --timeout and --help go
 * anywhere.  After "submit", --timeout is the task's timeout in seconds.
 */
/* clang-format off */
static const struct option opts[] = {
	{"control", 1, NULL, 'C'}, {"json", 0, NULL, 'J'},
	{"timeout", 1, NULL, 'T'}, {"help", 0, NULL, 'h'},
	{"priority", 1, NULL, 'p'}, {"cpu", 1, NULL, 'c'},
	{"mem", 1, NULL, 'm'}, {"gpus", 1, NULL, 'g'},
	{"retries", 1, NULL, 'r'}, {"backoff", 1, NULL, 'b'},
	{"ttl", 1, NULL, 'L'}, {"no-cache", 0, NULL, 'N'},
	{"kind", 1, NULL, 'k'}, {"label", 1, NULL, 'l'}, {"env", 1, NULL, 'e'},
	{"selector", 1, NULL, 'y'},
	{"payload", 1, NULL, 'P'}, {"payload-file", 1, NULL, 'F'},
	{"file", 1, NULL, 'f'}, {"wait", 0, NULL, 'w'}, {"all", 0, NULL, 'a'},
	{"timeout-s", 1, NULL, 's'}, {"state", 1, NULL, 'S'},
	{"limit", 1, NULL, 'n'}, {"cursor", 1, NULL, 'u'}, {NULL, 0, NULL, 0}};

/* Numbers: submit's set the tasks-file field key; seconds are made ms. */
#define SECS_MAX 1000000000000 /* ms */
static const struct numopt {
	char o;
	const char *key;
	bool secs;
	int64_t min, max;
} numopts[] = {
	{'p', "priority", false, INT32_MIN, INT32_MAX},
	{'c', "cpu", false, INT32_MIN, INT32_MAX},
	{'m', "mem", false, INT32_MIN, INT32_MAX},
	{'g', "gpus", false, INT32_MIN, INT32_MAX},
	{'r', "retries", false, INT32_MIN, INT32_MAX},
	{'b', "backoff", false, INT32_MIN, INT32_MAX},
	{'T', "timeout", true, 0, SECS_MAX}, {'L', "ttl", true, 0, SECS_MAX},
	{'n', NULL, false, 1, KSCHED_CLIENT_LIST_MAX}, /* list --limit */
	{'u', NULL, false, 0, INT64_MAX},	       /* list --cursor */
	{'s', NULL, true, 0, SECS_MAX}};	       /* wait --timeout-s */
/* clang-format on */

/*
 * --label K=V into {"labels": {K: V}}, --selector K=V into {"selector":
 * {K: V}}, --env K=V into {"env": {K: V}}.
 */
static int
submit_pair(const struct ctl *k, json_t *spec, int o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	const char *key = o == 'l' ? "labels" : o == 'y' ? "selector" : "env";
	json_t *x = json_object_get(spec, key);
	char name[256];

	if (!eq || eq == arg || eq - arg >= (int)sizeof(name))
		return usage(k, "--%s: want K=V, got '%s'",
			     o == 'l' ? "label" : key, arg);
	snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
	if (!x)
		json_object_set_new(spec, key, x = json_object());
	if (json_object_set_new(x, name, json_string(eq + 1)))
		return usage(k, "--%s: not UTF-8: '%s'", key, arg);
	return EX_OK;
}

/* Take option o, named name, and its argument; EX_OK or an exit code. */
static int
take_opt(struct ctl *k, int o, const char *name, const char *arg)
{
	const struct numopt *no = numopts;
	char what[32];
	int64_t v;

	snprintf(what, sizeof(what), "--%s", name);
	if (o == 'T' && !(k->cmd && !strcmp(k->cmd, "submit")))
		return parse_num(k, what, arg, false, 1, INT32_MAX,
				 &k->timeout_ms)
			   ? EX_OK
			   : EX_USAGE;
	while (no < numopts + sizeof(numopts) / sizeof(*no) && no->o != o)
		no++;
	if (no < numopts + sizeof(numopts) / sizeof(*no)) {
		if (!parse_num(k, what, arg, no->secs, no->min, no->max, &v))
			return EX_USAGE;
		if (no->key)
			json_object_set_new(k->spec, no->key,
					    no->secs
						? json_real((double)v / 1000)
						: json_integer(v));
		else
			*(o == 'n'   ? &k->limit
			  : o == 'u' ? &k->cursor
				     : &k->wait_ms) = v;
	} else if (o == 'l' || o == 'e' || o == 'y') {
		return submit_pair(k, k->spec, o, arg);
	} else if (o == 'S' && ksched_state_parse(arg, &k->state)) {
		return usage(k, "--state: unknown state '%s'", arg);
	}
	k->url = o == 'C' ? arg : k->url;
	k->json = k->json || o == 'J';
	k->kind = o == 'k' ? arg : k->kind;
	k->file = o == 'f' ? arg : k->file;
	k->payload = o == 'P' ? arg : k->payload;
	k->pfile = o == 'F' ? arg : k->pfile;
	k->wait = k->wait || o == 'w';
	k->all = k->all || o == 'a';
	if (o == 'N')
		json_object_set_new(k->spec, "no_cache", json_true());
	if (o == 'h') {
		fputs(help_text, stdout);
		exit(EX_OK);
	}
	return EX_OK;
}

/*
 * Options up to the first argument that is not one (so "+" first), or
 * all of them (GNU order); allowed: the options the command takes.
 */
static int
parse_opts(struct ctl *k, int argc, char **argv, const char *so,
	   const char *allowed)
{
	int o, li, rc;

	opterr = 0;
	while ((li = -1, o = getopt_long(argc, argv, so, opts, &li)) != -1) {
		if (o == ':' || o == '?')
			return usage(k,
				     o == ':' ? "option '%s' needs an argument"
					      : "unknown option '%s'",
				     argv[optind - 1]);
		if (!strchr("CJTh", o) && !strchr(allowed, o))
			return usage(k, "option '--%s' does not apply",
				     opts[li].name);
		if ((rc = take_opt(k, o, li >= 0 ? opts[li].name : "help",
				   optarg)))
			return rc;
	}
	return EX_OK;
}

static int
connect_master(struct ctl *k)
{
	ksched_err e = ksched_client_open(k->url, &k->c);

	if (e == KSCHED_EINVAL)
		return usage(k, "cannot use control URL '%s'",
			     k->url ? k->url : getenv(KSCHED_CLIENT_URL_ENV));
	if (e)
		return fail(k, e);
	ksched_client_set_timeout(k->c, k->timeout_ms);
	return EX_OK;
}

/* Between min and max task ids from args into *ids; then connects. */
static int
ids_args(struct ctl *k, int argc, char **argv, int min, int max, uint64_t **ids,
	 size_t *n)
{
	int64_t v;

	*ids = NULL;
	*n = 0;
	if (argc < min)
		return usage(k, "missing task id");
	if (argc > max)
		return usage(k, "unexpected argument '%s'", argv[max]);
	if (!(*ids = ksched__calloc((size_t)argc + 1, sizeof(**ids))))
		return fail(k, KSCHED_ENOMEM);
	for (int i = 0; i < argc; i++) {
		if (!parse_num(k, "task id", argv[i], false, 1, INT64_MAX, &v))
			return EX_USAGE;
		(*ids)[(*n)++] = (uint64_t)v;
	}
	return connect_master(k);
}

/* No arguments (but options), then connects. */
static int
no_args(struct ctl *k, int argc, char **argv)
{
	return argc ? usage(k, "unexpected argument '%s'", argv[0])
		    : connect_master(k);
}

/* ---- output ------------------------------------------------------------- */

static int
emit_json(json_t *j)
{
	int rc = j && !json_dumpf(j, stdout, JSON_INDENT(2)) ? EX_OK : EX_FAIL;

	if (rc)
		fputs("kschedctl: cannot write JSON\n", stderr);
	else
		putchar('\n');
	json_decref(j);
	return rc;
}

/*
 * A table column: header, key in each row object, and how to show it:
 * 't' a time in ms, 'a' an age from a time in ms.  "a/b" shows both keys,
 * "a|b" the first one that is not empty.
 */
struct col {
	const char *head, *key;
	char fmt;
};

static void
cell(const json_t *o, const char *key, char fmt, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, key);
	json_int_t i = json_integer_value(v);
	time_t s = (time_t)(i / 1000);
	struct tm tm;

	if (json_is_string(v) && *json_string_value(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.2f", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else if (fmt == 't' && i > 0 && localtime_r(&s, &tm))
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	else if (fmt == 'a' && i > 0)
		snprintf(buf, len, "%llds ago",
			 (long long)(ksched_now_ms() - i) / 1000);
	else if (json_is_integer(v) && !fmt)
		snprintf(buf, len, "%lld", (long long)i);
	else
		snprintf(buf, len, "-");
}

static void
render(const json_t *o, const char *key, char fmt, char *buf, size_t len)
{
	const char *sep = strpbrk(key, "/|");
	char first[32], rest[128];

	if (!sep) {
		cell(o, key, fmt, buf, len);
		return;
	}
	snprintf(first, sizeof(first), "%.*s", (int)(sep - key), key);
	cell(o, first, fmt, buf, len);
	if (*sep == '|' && strcmp(buf, "-"))
		return;
	render(o, sep + 1, fmt, rest, sizeof(rest));
	if (*sep == '|')
		snprintf(buf, len, "%s", rest);
	else
		snprintf(buf + strlen(buf), len - strlen(buf), "/%s", rest);
}

/* Print the objects of array rows in aligned columns. */
static void
print_rows(const json_t *rows, const struct col *cols)
{
	size_t w[16] = {0}, nc, i, c;
	char buf[300];
	json_t *o;

	for (nc = 0; cols[nc].head; nc++)
		w[nc] = strlen(cols[nc].head);
	for (int pass = 0; pass < 2; pass++) {
		for (c = 0; pass && c < nc; c++)
			printf("%-*s%s", c + 1 < nc ? (int)w[c] : 0,
			       cols[c].head, c + 1 < nc ? "  " : "\n");
		json_array_foreach(rows, i, o) for (c = 0; c < nc; c++)
		{
			render(o, cols[c].key, cols[c].fmt, buf, sizeof(buf));
			if (!pass && strlen(buf) > w[c])
				w[c] = strlen(buf);
			else if (pass)
				printf("%-*s%s", c + 1 < nc ? (int)w[c] : 0,
				       buf, c + 1 < nc ? "  " : "\n");
		}
	}
}

/* Print --json output, or rows as a table; consumes j. */
static int
emit(const struct ctl *k, json_t *j, const json_t *rows, const struct col *cols)
{
	if (k->json)
		return emit_json(j);
	print_rows(rows, cols);
	json_decref(j);
	return EX_OK;
}

/* clang-format off */
static const struct col status_cols[] = {
	{"ID", "id", 0}, {"STATE", "state", 0}, {"KIND", "kind", 0},
	{"PRIO", "priority", 0}, {"TRIES", "attempts", 0},
	{"WORKER", "worker", 0}, {"SUBMITTED", "submitted", 't'},
	{"INFO", "last_error|pending_reason", 0}, {NULL, NULL, 0}};
/* clang-format on */

static json_t *
status_json(const struct ksched_task_status *s)
{
	return json_pack(
	    "{s:I,s:s,s:s,s:i,s:i,s:i,s:I,s:I,s:b,s:s,s:s,s:s,"
	    "s:i}",
	    "id", (json_int_t)s->id, "state", ksched_state_name(s->state),
	    "kind", s->kind, "priority", (int)s->priority, "attempts",
	    (int)s->attempts, "retries", (int)s->retries, "submitted",
	    (json_int_t)s->submitted, "due", (json_int_t)s->due, "cached",
	    (int)s->cached, "worker", s->worker, "last_error", s->last_error,
	    "pending_reason", s->pending_reason, "flags", (int)s->flags);
}

static json_t *
statuses_json(const struct ksched_task_status *s, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, status_json(&s[i]));
	return a;
}

static bool
is_failed(enum ksched_state st)
{
	return st == KSCHED_STATE_DEAD || st == KSCHED_STATE_CANCELED;
}

static void
progress(const struct ctl *k, const char *what, uint64_t done, uint64_t total)
{
	char bar[31];
	size_t fill = total ? (size_t)(done * 30 / total) : 30;

	if (!k->tty)
		return;
	memset(bar, '#', fill);
	memset(bar + fill, '.', 30 - fill);
	bar[30] = 0;
	fprintf(stderr, "\r%s %llu/%llu [%s]", what, (unsigned long long)done,
		(unsigned long long)total, bar);
	fflush(stderr);
}

static void
progress_end(const struct ctl *k)
{
	if (k->tty)
		fputs("\r\033[K", stderr);
}

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
		return usage(k, "--file %s: %s", path, strerror(errno));
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		err[0] = 0;
		if (strspn(line, " \t\r\n") == strlen(line) ||
		    task_from_line(tmpl, line, ts, err, sizeof(err)))
			continue;
		if (++bad <= 20)
			warnx(k, "%s:%zu: %s", path, lineno, err);
	}
	free(line); /* getline's buffer is the C library's */
	if (f != stdin)
		fclose(f);
	if (bad)
		return usage(k, "%zu bad lines in %s: nothing submitted", bad,
			     path);
	return ts->n ? EX_OK : usage(k, "no tasks in %s", path);
}

/* ---- waiting and results ------------------------------------------------ */

/*
 * Wait for ids (or all) for up to timeout_ms (< 0: no limit), in steps
 * short enough to keep a progress line moving.  *remaining: not final.
 */
static ksched_err
wait_loop(struct ctl *k, const uint64_t *ids, size_t n, bool all,
	  int64_t timeout_ms, uint64_t *remaining)
{
	int64_t end = ksched_now_ms() + timeout_ms, step = k->tty ? 500 : 30000;
	ksched_err e;

	for (;;) {
		int64_t left =
		    timeout_ms < 0 ? INT64_MAX : end - ksched_now_ms();

		left = left < 0 ? 0 : left;
		e = ksched_client_wait(k->c, ids, n, all,
				       left < step ? left : step, remaining);
		if (e || !*remaining || left <= step)
			break;
		if (k->tty && all)
			fprintf(stderr, "\rnot final: %llu\033[K",
				(unsigned long long)*remaining);
		else
			progress(k, "done", n - *remaining, n);
	}
	progress_end(k);
	return e;
}

/* Print the states of ids after a wait; 1 if any failed or is not final. */
static int
report_states(struct ctl *k, const uint64_t *ids, size_t n, uint64_t remaining)
{
	struct ksched_task_status *st = ksched__calloc(n + 1, sizeof(*st));
	size_t ok = 0, bad = 0;
	ksched_err e =
	    st ? ksched_client_status(k->c, ids, n, st) : KSCHED_ENOMEM;
	int rc;

	for (size_t i = 0; !e && i < n; i++) {
		ok += st[i].state == KSCHED_STATE_SUCCEEDED;
		bad += is_failed(st[i].state);
		if (is_failed(st[i].state) && !k->json)
			warnx(k, "task %llu %s: %s",
			      (unsigned long long)st[i].id,
			      ksched_state_name(st[i].state),
			      st[i].last_error[0] ? st[i].last_error : "-");
	}
	if (e)
		rc = fail(k, e);
	else if (k->json)
		rc = emit_json(json_pack(
		    "{s:I,s:I,s:I,s:o}", "remaining", (json_int_t)remaining,
		    "succeeded", (json_int_t)ok, "failed", (json_int_t)bad,
		    "tasks", statuses_json(st, n)));
	else
		rc = printf("%zu succeeded, %zu failed, %llu not finished\n",
			    ok, bad, (unsigned long long)remaining) < 0;
	ksched__free(st);
	return rc ? rc : bad || remaining ? EX_FAIL : EX_OK;
}

/* One task's result: raw to stdout, or appended to the JSON array a. */
static int
print_result(struct ctl *k, uint64_t id, json_t *a)
{
	struct ksched_task_status st;
	void *buf;
	size_t len;
	ksched_err e = ksched_client_result(k->c, id, &st, &buf, &len);
	json_t *o, *r;

	if (e)
		return fail(k, e);
	if (a) {
		o = status_json(&st);
		r = buf ? json_stringn(buf, len) : NULL;
		if (buf) /* not UTF-8: only its size */
			json_object_set_new(o, r ? "result" : "result_bytes",
					    r ? r
					      : json_integer((json_int_t)len));
		json_array_append_new(a, o);
	} else if (buf) {
		fwrite(buf, 1, len, stdout);
	} else if (st.state != KSCHED_STATE_SUCCEEDED) {
		warnx(k, "task %llu %s: %s", (unsigned long long)id,
		      ksched_state_name(st.state),
		      is_failed(st.state) ? st.last_error : "no result yet");
	}
	ksched_free(buf);
	return st.state == KSCHED_STATE_SUCCEEDED ? EX_OK : EX_FAIL;
}

/* The results of ids; with --json one array (one object if single). */
static int
print_results(struct ctl *k, const uint64_t *ids, size_t n, bool single)
{
	json_t *a = k->json ? json_array() : NULL;
	int rc = EX_OK, r;

	for (size_t i = 0; i < n && rc <= EX_FAIL; i++)
		if ((r = print_result(k, ids[i], a)))
			rc = r;
	if (a && json_array_size(a) == n &&
	    emit_json(json_incref(single ? json_array_get(a, 0) : a)))
		rc = EX_FAIL;
	json_decref(a);
	return rc;
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
		rc = usage(k, "--payload-file %s: %s", path,
			   f ? "cannot read it" : strerror(errno));
	else if (n > KSCHED_PAYLOAD_MAX)
		rc = usage(k, "--payload-file %s: more than %u bytes", path,
			   KSCHED_PAYLOAD_MAX);
	else if (ksched_task_set_payload(t, buf, n))
		rc = fail(k, KSCHED_ENOMEM);
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
		return usage(k, "ARGV or --kind is not UTF-8");
	}
	if (argc)
		json_object_set_new(k->spec, "argv", a);
	else
		json_decref(a);
	if (json_object_get(k->spec, "ttl") &&
	    json_object_get(k->spec, "no_cache"))
		return usage(k, "give --ttl or --no-cache, not both");
	if (k->payload && k->pfile)
		return usage(k, "give --payload or --payload-file, not both");
	if (!(js = json_dumps(k->spec, JSON_COMPACT)))
		return fail(k, KSCHED_ENOMEM);
	e = ksched_client_parse_task(js, strlen(js), NULL, t, err, sizeof(err));
	free(js); /* jansson's allocation */
	if (e)
		return usage(k, "%s", err);
	if (k->payload &&
	    ksched_task_set_payload(*t, k->payload, strlen(k->payload)))
		return fail(k, KSCHED_ENOMEM);
	return k->pfile ? read_payload(k, *t, k->pfile) : EX_OK;
}

/* The tasks to submit: the spec, or one per line of --file. */
static int
submit_tasks(struct ctl *k, int argc, char **argv, struct tasks *ts)
{
	ksched_task *t = NULL;
	char err[300];
	int rc = k->file && argc ? usage(k, "give --file or an ARGV, not both")
				 : submit_spec(k, argc, argv, &t);

	if (!rc && k->file)
		rc = read_tasks(k, k->file, t, ts);
	else if (!rc && ksched_task_validate(t, err, sizeof(err)))
		rc = usage(k, "%s", err);
	else if (!rc && tasks_add(ts, t))
		t = NULL;
	else if (!rc)
		rc = fail(k, KSCHED_ENOMEM);
	ksched_task_free(t);
	return rc;
}

/* Submit in chunks of a request each, with a progress bar. */
static int
submit_send(struct ctl *k, struct tasks *ts, uint64_t *ids, bool *cached)
{
	ksched_err e = KSCHED_OK;
	size_t m;

	for (size_t off = 0; off < ts->n && !e; off += m) {
		m = ts->n - off < KSCHED_CLIENT_CHUNK ? ts->n - off
						      : KSCHED_CLIENT_CHUNK;
		if (ts->n > m)
			progress(k, "submitted", off, ts->n);
		e = ksched_client_submit(
		    k->c, (const ksched_task *const *)ts->v + off, m, ids + off,
		    cached + off);
	}
	if (ts->n > KSCHED_CLIENT_CHUNK)
		progress_end(k);
	if (e && ids[0])
		warnx(k, "the tasks before the failing one were submitted");
	return e ? fail(k, e) : EX_OK;
}

static int
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
		rc = fail(k, KSCHED_ENOMEM);
	if (!rc && !(rc = connect_master(k)))
		rc = submit_send(k, &ts, ids, cached);
	if (!rc && k->wait) {
		e = wait_loop(k, ids, ts.n, false, -1, &remaining);
		rc = e ? fail(k, e) : print_results(k, ids, ts.n, false);
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

/* ---- status, result, wait, cancel --------------------------------------- */

static int
cmd_status(struct ctl *k, int argc, char **argv)
{
	struct ksched_task_status *st = NULL;
	uint64_t *ids;
	size_t n;
	int rc = ids_args(k, argc, argv, 1, INT32_MAX, &ids, &n);
	ksched_err e;
	json_t *a;

	if (!rc && !(st = ksched__calloc(n, sizeof(*st))))
		rc = fail(k, KSCHED_ENOMEM);
	if (!rc && (e = ksched_client_status(k->c, ids, n, st)))
		rc = fail(k, e);
	if (!rc) {
		a = statuses_json(st, n);
		rc = emit(k, a, a, status_cols);
	}
	ksched__free(st);
	ksched__free(ids);
	return rc;
}

static int
cmd_result(struct ctl *k, int argc, char **argv)
{
	uint64_t *ids;
	size_t n;
	int rc = ids_args(k, argc, argv, 1, 1, &ids, &n);

	rc = rc ? rc : print_results(k, ids, 1, true);
	ksched__free(ids);
	return rc;
}

static int
cmd_wait(struct ctl *k, int argc, char **argv)
{
	uint64_t *ids = NULL, remaining = 0;
	size_t n = 0;
	int rc = k->all == (argc > 0) ? usage(k, "give task ids or --all")
		 : k->all	      ? connect_master(k)
			  : ids_args(k, argc, argv, 1, INT32_MAX, &ids, &n);
	ksched_err e;

	if (!rc && (e = wait_loop(k, ids, n, k->all, k->wait_ms, &remaining)))
		rc = fail(k, e);
	if (!rc && remaining)
		warnx(k, "timed out: %llu tasks not final",
		      (unsigned long long)remaining);
	if (!rc && !k->all)
		rc = report_states(k, ids, n, remaining);
	else if (!rc && k->json)
		rc = emit_json(
		    json_pack("{s:I}", "remaining", (json_int_t)remaining));
	ksched__free(ids);
	return rc ? rc : remaining ? EX_FAIL : EX_OK;
}

#define NOT_ANSWERED ((ksched_err)-1)

/* cancel and retry: ids in, a verdict per id out. */
static int
ids_cmd(struct ctl *k, int argc, char **argv, bool retry)
{
	ksched_err *errs = NULL, e = KSCHED_OK;
	uint64_t *ids;
	size_t n;
	int rc = ids_args(k, argc, argv, 1, INT32_MAX, &ids, &n);
	json_t *a = json_array();

	if (!rc && !(errs = ksched__calloc(n, sizeof(*errs))))
		rc = fail(k, KSCHED_ENOMEM);
	for (size_t i = 0; !rc && i < n; i++)
		errs[i] = NOT_ANSWERED;
	if (!rc)
		e = retry ? ksched_client_retry(k->c, ids, n, errs)
			  : ksched_client_cancel(k->c, ids, n, errs);
	if (!rc && errs[n - 1] == NOT_ANSWERED) /* the call itself failed */
		rc = fail(k, e);
	for (size_t i = 0; !rc && i < n; i++) {
		const char *done = retry ? "retried" : "canceled";
		const char *why = errs[i] == KSCHED_ESTATE
					  ? (retry ? "not dead" : "already ended")
				  : errs[i] ? ksched_strerror(errs[i])
					    : "";

		json_array_append_new(
		    a, json_pack("{s:I,s:b,s:s}", "id", (json_int_t)ids[i],
				 done, !errs[i], "error", why));
		if (errs[i] && !k->json)
			warnx(k, "task %llu: %s", (unsigned long long)ids[i],
			      why);
		else if (!k->json)
			printf("%llu %s\n", (unsigned long long)ids[i], done);
	}
	if (!rc && k->json)
		rc = emit_json(json_incref(a));
	json_decref(a);
	rc = rc ? rc : e ? EX_FAIL : EX_OK;
	ksched__free(errs);
	ksched__free(ids);
	return rc;
}

static int
cmd_cancel(struct ctl *k, int argc, char **argv)
{
	return ids_cmd(k, argc, argv, false);
}

static int
cmd_retry(struct ctl *k, int argc, char **argv)
{
	return ids_cmd(k, argc, argv, true);
}

static int
cmd_drain(struct ctl *k, int argc, char **argv)
{
	uint32_t running = 0;
	ksched_err e;
	int rc;

	if (argc != 1)
		return usage(k, argc ? "unexpected argument '%s'"
				     : "missing worker id%s",
			     argc ? argv[1] : "");
	rc = connect_master(k);
	if (rc)
		return rc;
	e = ksched_client_drain(k->c, argv[0], &running);
	if (e)
		return fail(k, e);
	if (k->json)
		return emit_json(json_pack("{s:s,s:b,s:I}", "worker", argv[0],
					   "draining", 1, "running",
					   (json_int_t)running));
	printf("%s draining, %u task%s still running\n", argv[0], running,
	       running == 1 ? "" : "s");
	return EX_OK;
}

/* ---- list, workers, stats, cache ---------------------------------------- */

static int
cmd_list(struct ctl *k, int argc, char **argv)
{
	bool any = k->state == KSCHED_STATE_COUNT; /* each state not final */
	struct ksched_task_status *out = NULL;
	size_t total = 0, n;
	uint64_t next = 0;
	int rc = argc ? usage(k, "unexpected argument '%s'", argv[0]) : EX_OK;
	ksched_err e = KSCHED_OK;
	json_t *a;

	if (!rc && any && k->cursor)
		rc = usage(k, "--cursor needs --state");
	if (!rc && !(out = ksched__calloc((size_t)k->limit * 3, sizeof(*out))))
		rc = fail(k, KSCHED_ENOMEM);
	if (!rc)
		rc = connect_master(k);
	for (int s = 0; !rc && !e && s <= (any ? KSCHED_STATE_LEASED : 0);
	     s++) {
		e = ksched_client_list(k->c,
				       any ? (enum ksched_state)s : k->state,
				       (uint64_t)k->cursor, (size_t)k->limit,
				       out + total, &n, &next);
		total += n;
	}
	if (!rc && e)
		rc = fail(k, e);
	if (!rc && next && !any && !k->json)
		fprintf(stderr,
			"more: kschedctl list --state %s --cursor %llu\n",
			ksched_state_name(k->state), (unsigned long long)next);
	if (!rc) {
		a = statuses_json(out, total);
		rc = emit(k,
			  json_pack("{s:O,s:I}", "tasks", a, "next",
				    (json_int_t)(any ? 0 : next)),
			  a, status_cols);
		json_decref(a);
	}
	ksched__free(out);
	return rc;
}

/* clang-format off */
static const struct col worker_cols[] = {
	{"ID", "id", 0}, {"STATE", "state", 0}, {"RUN", "running/slots", 0},
	{"CPU", "cpu_used/cpu", 0}, {"MEM", "mem_used/mem", 0},
	{"GPUS", "gpus_used/gpus", 0}, {"LOAD", "load", 0},
	{"SEEN", "last_seen", 'a'}, {"DONE", "completed", 0},
	{"FAILED", "failed", 0}, {NULL, NULL, 0}};
/* clang-format on */

static json_t *
worker_json(const struct ksched_worker_status *w)
{
	const struct ksched_resources *c = &w->capacity, *u = &w->allocated;

	return json_pack(
	    "{s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,"
	    "s:I,s:I,s:I}",
	    "id", w->id, "state", ksched_worker_state_name(w->state), "running",
	    (int)w->running, "slots", (json_int_t)c->slots, "slots_used",
	    (json_int_t)u->slots, "cpu", (json_int_t)c->cpu_milli, "cpu_used",
	    (json_int_t)u->cpu_milli, "mem", (json_int_t)c->mem_mb, "mem_used",
	    (json_int_t)u->mem_mb, "gpus", (json_int_t)c->gpus, "gpus_used",
	    (json_int_t)u->gpus, "load", w->load, "last_seen",
	    (json_int_t)w->last_seen, "completed", (json_int_t)w->completed,
	    "failed", (json_int_t)w->failed);
}

static int
cmd_workers(struct ctl *k, int argc, char **argv)
{
	struct ksched_worker_status *w = NULL;
	size_t n;
	int rc = no_args(k, argc, argv);
	ksched_err e;
	json_t *a = json_array();

	if (!rc && (e = ksched_client_workers(k->c, &w, &n)))
		rc = fail(k, e);
	for (size_t i = 0; !rc && i < n; i++)
		json_array_append_new(a, worker_json(&w[i]));
	if (!rc)
		rc = emit(k, json_incref(a), a, worker_cols);
	json_decref(a);
	ksched_free(w);
	return rc;
}

/* "name value" lines of the counters (those in counts first). */
static void
print_counters(const json_t *o)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v)
	{
		if (json_is_object(v))
			print_counters(v);
		else
			printf("%-14s %lld\n", key,
			       (long long)json_integer_value(v));
	}
}

static int
cmd_stats(struct ctl *k, int argc, char **argv)
{
	struct ksched_stats s;
	int rc = no_args(k, argc, argv);
	ksched_err e = rc ? KSCHED_OK : ksched_client_stats(k->c, &s);
	json_t *o;

	if (rc || e)
		return rc ? rc : fail(k, e);
	o = json_pack("{s:{},s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "counts",
		      "cache_hits", (json_int_t)s.cache_hits, "cache_misses",
		      (json_int_t)s.cache_misses, "cache_entries",
		      (json_int_t)s.cache_entries, "workers",
		      (json_int_t)s.workers, "attached", (json_int_t)s.attached,
		      "bad_messages", (json_int_t)s.bad_messages, "uptime_ms",
		      (json_int_t)s.uptime_ms);
	for (int i = 0; i < KSCHED_STATE_COUNT; i++)
		json_object_set_new(json_object_get(o, "counts"),
				    ksched_state_name((enum ksched_state)i),
				    json_integer((json_int_t)s.counts[i]));
	if (k->json)
		return emit_json(o);
	print_counters(o);
	json_decref(o);
	return EX_OK;
}

static int
cmd_cache(struct ctl *k, int argc, char **argv)
{
	struct ksched_key key;
	bool has_key = argc == 2;
	uint64_t removed = 0;
	int rc = EX_OK;
	ksched_err e;

	if (argc < 1 || strcmp(argv[0], "invalidate"))
		return usage(k, "the only action is 'invalidate'");
	if (argc > 2 || has_key + !!k->kind + k->all != 1)
		return usage(k, "give one of KEY, --kind K or --all");
	if (has_key && ksched_key_from_hex(argv[1], &key))
		return usage(k, "bad key '%s' (want 32 hex digits)", argv[1]);
	if (!(rc = connect_master(k)) &&
	    (e = ksched_client_cache_invalidate(k->c, has_key ? &key : NULL,
						k->kind, k->all, &removed)))
		rc = fail(k, e);
	if (!rc && k->json)
		rc = emit_json(
		    json_pack("{s:I}", "removed", (json_int_t)removed));
	else if (!rc)
		printf("removed %llu\n", (unsigned long long)removed);
	return rc;
}

/* ---- main ------------------------------------------------------------------
 */

/* clang-format off */
static const struct {
	const char *name;
	int (*fn)(struct ctl *k, int argc, char **argv);
	const char *opts; /* the options it takes, as in opts[] */
} cmds[] = {
	{"submit", cmd_submit, "pcmgrbTLNklyePFfw"}, {"status", cmd_status, ""},
	{"result", cmd_result, ""}, {"wait", cmd_wait, "as"},
	{"cancel", cmd_cancel, ""}, {"retry", cmd_retry, ""},
	{"drain", cmd_drain, ""}, {"list", cmd_list, "Snu"},
	{"workers", cmd_workers, ""}, {"stats", cmd_stats, ""},
	{"cache", cmd_cache, "ka"}};
/* clang-format on */

int
main(int argc, char **argv)
{
	struct ctl k = {.tty = isatty(STDERR_FILENO),
			.spec = json_object(),
			.state = KSCHED_STATE_COUNT,
			.limit = 100,
			.wait_ms = -1};
	size_t i = 0, n = sizeof(cmds) / sizeof(cmds[0]);
	int rc = k.spec ? parse_opts(&k, argc, argv, "+:h", "") : EX_FAIL;

	if (!rc && optind >= argc)
		rc = usage(&k, "missing command");
	while (!rc && i < n && strcmp(argv[optind], cmds[i].name))
		i++;
	if (!rc && i == n)
		rc = usage(&k, "unknown command '%s'", argv[optind]);
	if (!rc) {
		k.cmd = cmds[i].name;
		argc -= optind;
		argv += optind;
		optind = 0; /* glibc: start over on the command's argv */
		/* submit stops at ARGV; the others take options anywhere */
		rc = parse_opts(&k, argc, argv, i ? ":h" : "+:h", cmds[i].opts);
	}
	if (!rc)
		rc = cmds[i].fn(&k, argc - optind, argv + optind);
	ksched_client_close(k.c);
	json_decref(k.spec);
	return fflush(stdout) && !rc ? EX_FAIL : rc;
}
