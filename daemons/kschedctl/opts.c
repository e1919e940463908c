/*
 * kschedctl - messages, exit codes and options: one getopt table for every
 * command, each command taking the options it lists.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "ctl.h"

/* ---- messages and exit codes ------------------------------------------- */

int
ctl_usage(const struct ctl *k, const char *fmt, ...)
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

void
ctl_warn(const struct ctl *k, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kschedctl: %s: ", k->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Report a failed call; the exit code that goes with its error. */
int
ctl_fail(const struct ctl *k, ksched_err e)
{
	const char *msg = k->c ? ksched_client_last_error(k->c) : "";

	ctl_warn(k, "%s", *msg ? msg : ksched_strerror(e));
	if (e == KSCHED_ENOTCONN)
		return EX_CONN;
	return e == KSCHED_EINVAL ? EX_USAGE : EX_FAIL;
}

/* ---- options ------------------------------------------------------------ */

/*
 * A number in min..max into *out: an integer, or with secs a number of
 * seconds (may have a fraction) made ms.  Prints a usage message if bad.
 */
bool
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
		ctl_usage(k, "%s: bad number '%s'%s", what, s,
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
	{"limit", 1, NULL, 'n'}, {"cursor", 1, NULL, 'u'},
	{"interval", 1, NULL, 'i'}, {"once", 0, NULL, 'O'}, {NULL, 0, NULL, 0}};

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
	{'s', NULL, true, 0, SECS_MAX},	       /* wait --timeout-s */
	{'i', NULL, false, 100, 3600000}};     /* top --interval */
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
		return ctl_usage(k, "--%s: want K=V, got '%s'",
				 o == 'l' ? "label" : key, arg);
	snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
	if (!x)
		json_object_set_new(spec, key, x = json_object());
	if (json_object_set_new(x, name, json_string(eq + 1)))
		return ctl_usage(k, "--%s: not UTF-8: '%s'", key, arg);
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
			  : o == 'i' ? &k->interval_ms
				     : &k->wait_ms) = v;
	} else if (o == 'l' || o == 'e' || o == 'y') {
		return submit_pair(k, k->spec, o, arg);
	} else if (o == 'S' && ksched_state_parse(arg, &k->state)) {
		return ctl_usage(k, "--state: unknown state '%s'", arg);
	}
	k->url = o == 'C' ? arg : k->url;
	k->json = k->json || o == 'J';
	k->kind = o == 'k' ? arg : k->kind;
	k->file = o == 'f' ? arg : k->file;
	k->payload = o == 'P' ? arg : k->payload;
	k->pfile = o == 'F' ? arg : k->pfile;
	k->wait = k->wait || o == 'w';
	k->all = k->all || o == 'a';
	k->once = k->once || o == 'O';
	if (o == 'N')
		json_object_set_new(k->spec, "no_cache", json_true());
	if (o == 'h') {
		fputs(ctl_help, stdout);
		exit(EX_OK);
	}
	return EX_OK;
}

/*
 * Options up to the first argument that is not one (so "+" first), or
 * all of them (GNU order); allowed: the options the command takes.
 */
int
parse_opts(struct ctl *k, int argc, char **argv, const char *so,
	   const char *allowed)
{
	int o, li, rc;

	opterr = 0;
	while ((li = -1, o = getopt_long(argc, argv, so, opts, &li)) != -1) {
		if (o == ':' || o == '?')
			return ctl_usage(k,
					 o == ':'
					     ? "option '%s' needs an argument"
					     : "unknown option '%s'",
					 argv[optind - 1]);
		if (!strchr("CJTh", o) && !strchr(allowed, o))
			return ctl_usage(k, "option '--%s' does not apply",
					 opts[li].name);
		if ((rc = take_opt(k, o, li >= 0 ? opts[li].name : "help",
				   optarg)))
			return rc;
	}
	return EX_OK;
}

int
connect_master(struct ctl *k)
{
	ksched_err e = ksched_client_open(k->url, &k->c);

	if (e == KSCHED_EINVAL)
		return ctl_usage(k, "cannot use control URL '%s'",
				 k->url ? k->url
					: getenv(KSCHED_CLIENT_URL_ENV));
	if (e)
		return ctl_fail(k, e);
	ksched_client_set_timeout(k->c, k->timeout_ms);
	return EX_OK;
}

/* Between min and max task ids from args into *ids; then connects. */
int
ids_args(struct ctl *k, int argc, char **argv, int min, int max, uint64_t **ids,
	 size_t *n)
{
	int64_t v;

	*ids = NULL;
	*n = 0;
	if (argc < min)
		return ctl_usage(k, "missing task id");
	if (argc > max)
		return ctl_usage(k, "unexpected argument '%s'", argv[max]);
	if (!(*ids = ksched__calloc((size_t)argc + 1, sizeof(**ids))))
		return ctl_fail(k, KSCHED_ENOMEM);
	for (int i = 0; i < argc; i++) {
		if (!parse_num(k, "task id", argv[i], false, 1, INT64_MAX, &v))
			return EX_USAGE;
		(*ids)[(*n)++] = (uint64_t)v;
	}
	return connect_master(k);
}

/* No arguments (but options), then connects. */
int
no_args(struct ctl *k, int argc, char **argv)
{
	return argc ? ctl_usage(k, "unexpected argument '%s'", argv[0])
		    : connect_master(k);
}
