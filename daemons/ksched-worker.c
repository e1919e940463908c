/*
 * ksched-worker - the reference worker daemon: a thin main around
 * ksched_worker (include/ksched/worker.h) with two built-in handlers, `pi`
 * and `wordcount`.  See docs/man/ksched-worker.1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ksched/log.h"
#include "ksched/worker.h"
#include "worker_int.h" /* ksched__pi_estimate, shared with sim */

#define DISPATCH_PORT 7701
#define HEARTBEAT_PORT 7702
#define URL_MAX 512
#define LABELS_MAX KSCHED_LABELS_MAX

struct opts {
	char master[256];
	char dispatch[URL_MAX];
	char heartbeat[URL_MAX];
	char id[KSCHED_WORKER_ID_MAX + 1];
	char ready[URL_MAX];
	char http[256];
	struct ksched_resources cap;
	char *labels[LABELS_MAX];
	int nlabels;
	enum ksched_log_level level;
	enum ksched_log_format format;
	bool set[128]; /* options given on the command line, by OPT_* */
};

enum {
	OPT_MASTER = 'm',
	OPT_DISPATCH = 'd',
	OPT_HEARTBEAT = 'b',
	OPT_ID = 'i',
	OPT_CPU = 'C',
	OPT_MEM = 'M',
	OPT_GPUS = 'G',
	OPT_SLOTS = 'S',
	OPT_LABEL = 'l',
	OPT_LEVEL = 'L',
	OPT_FORMAT = 'F',
	OPT_READY = 'r',
	OPT_HTTP = 'H',
	OPT_CONFIG = 'c',
	OPT_HELP = 'h',
	OPT_VERSION = 'V',
};

static const struct option longopts[] = {
    {"master", required_argument, NULL, OPT_MASTER},
    {"dispatch", required_argument, NULL, OPT_DISPATCH},
    {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
    {"id", required_argument, NULL, OPT_ID},
    {"cpu", required_argument, NULL, OPT_CPU},
    {"mem", required_argument, NULL, OPT_MEM},
    {"gpus", required_argument, NULL, OPT_GPUS},
    {"slots", required_argument, NULL, OPT_SLOTS},
    {"label", required_argument, NULL, OPT_LABEL},
    {"log-level", required_argument, NULL, OPT_LEVEL},
    {"log-format", required_argument, NULL, OPT_FORMAT},
    {"ready-file", required_argument, NULL, OPT_READY},
    {"http", required_argument, NULL, OPT_HTTP},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void
usage(FILE *f)
{
	fputs("usage: ksched-worker [OPTION]...\n"
	      "Run tasks for a ksched master.\n\n"
	      "  --master HOST      master host: tcp://HOST:7701 and :7702\n"
	      "  --dispatch URL     dispatch URL (default "
	      "tcp://127.0.0.1:7701)\n"
	      "  --heartbeat URL    heartbeat URL (default "
	      "tcp://127.0.0.1:7702)\n"
	      "  --id NAME          worker id (default HOSTNAME-PID)\n"
	      "  --cpu MILLI        CPU offered, millicores (default "
	      "CPUs*1000)\n"
	      "  --mem MB           memory offered (default physical "
	      "memory)\n"
	      "  --gpus N           GPUs offered (default 0)\n"
	      "  --slots N          tasks run at once (default CPUs)\n"
	      "  --label K=V        a label tasks may ask for (repeatable)\n"
	      "  --log-level LEVEL  err|warn|notice|info|debug (default "
	      "notice)\n"
	      "  --log-format F     text (key=value) or json lines "
	      "(default text)\n"
	      "  --ready-file PATH  written once registered with the master\n"
	      "  --http HOST:PORT   serve /metrics there (default none)\n"
	      "  -c, --config FILE  key = value lines with the names above\n"
	      "  --help, --version\n\n"
	      "Built-in kinds: exec, sim, pi (\"samples=N seed=S\"), "
	      "wordcount.\n"
	      "SIGTERM or SIGINT stops it cleanly.\n",
	      f);
}

/* Through the library's log, so --log-format applies to these too. */
static void
say(enum ksched_log_level lv, const char *msg, const char *detail)
{
	ksched_log_write(lv, "msg=\"%s\"%s%s%s", msg,
			 detail ? " detail=\"" : "", detail ? detail : "",
			 detail ? "\"" : "");
}

/* --- options ----------------------------------------------------------------
 */

static bool
parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
copy(char *dst, size_t n, const char *src)
{
	if (!*src || strlen(src) >= n)
		return false;
	memcpy(dst, src, strlen(src) + 1);
	return true;
}

/* Apply option c = v; false (and a message) if v is bad. */
static bool
apply(struct opts *o, int c, const char *v)
{
	bool ok = true;

	switch (c) {
	case OPT_MASTER:
		ok = copy(o->master, sizeof(o->master), v);
		break;
	case OPT_DISPATCH:
		ok = copy(o->dispatch, sizeof(o->dispatch), v);
		break;
	case OPT_HEARTBEAT:
		ok = copy(o->heartbeat, sizeof(o->heartbeat), v);
		break;
	case OPT_ID:
		ok = copy(o->id, sizeof(o->id), v) && !strpbrk(v, " \t\"\\");
		break;
	case OPT_READY:
		ok = copy(o->ready, sizeof(o->ready), v);
		break;
	case OPT_HTTP:
		ok = copy(o->http, sizeof(o->http), v) &&
		     (!strcmp(v, "none") || strrchr(v, ':'));
		break;
	case OPT_CPU:
		ok = parse_int(v, 0, KSCHED_CPU_MAX, &o->cap.cpu_milli);
		break;
	case OPT_MEM:
		ok = parse_int(v, 0, KSCHED_MEM_MAX, &o->cap.mem_mb);
		break;
	case OPT_GPUS:
		ok = parse_int(v, 0, KSCHED_GPUS_MAX, &o->cap.gpus);
		break;
	case OPT_SLOTS:
		ok = parse_int(v, 1, KSCHED_WORKER_SLOTS_MAX, &o->cap.slots);
		break;
	case OPT_LEVEL:
		ok = !ksched_log_level_parse(v, &o->level);
		break;
	case OPT_FORMAT:
		ok = !ksched_log_format_parse(v, &o->format);
		break;
	case OPT_LABEL:
		ok = strchr(v, '=') && v[0] != '=' && strchr(v, '=')[1] &&
		     o->nlabels < LABELS_MAX &&
		     (o->labels[o->nlabels] = strdup(v)) != NULL;
		o->nlabels += ok;
		break;
	default:
		ok = false;
	}
	return ok;
}

static int
key_code(const char *key)
{
	for (const struct option *lo = longopts; lo->name; lo++)
		if (lo->has_arg && lo->val != OPT_CONFIG &&
		    strcmp(lo->name, key) == 0)
			return lo->val;
	return 0;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]))
		*--e = 0;
	return s;
}

/* -c FILE: `key = value` lines; the command line wins over them. */
static bool
load_config(struct opts *o, const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f) {
		fprintf(stderr, "ksched-worker: %s: %s\n", path,
			strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		char *eq, *k = trim(line), *v;
		int c;

		n++;
		if (!*k || *k == '#')
			continue;
		eq = strchr(k, '=');
		if (eq)
			*eq = 0;
		v = eq ? trim(eq + 1) : NULL;
		c = eq ? key_code(trim(k)) : 0;
		if (!c || ((!o->set[c] || c == OPT_LABEL) && !apply(o, c, v))) {
			fprintf(stderr,
				"ksched-worker: %s:%d: bad line "
				"(want key = value with a known key "
				"and a valid value)\n",
				path, n);
			fclose(f);
			return false;
		}
	}
	fclose(f);
	return true;
}

static void
defaults(struct opts *o)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	char host[256] = "";

	memset(o, 0, sizeof(*o));
	if (cpus < 1)
		cpus = 1;
	o->cap.cpu_milli = (int64_t)cpus * 1000;
	o->cap.mem_mb = pages > 0 && psz > 0
			    ? (int64_t)((uint64_t)pages * (uint64_t)psz >> 20)
			    : 0;
	o->cap.slots =
	    cpus > KSCHED_WORKER_SLOTS_MAX ? KSCHED_WORKER_SLOTS_MAX : cpus;
	o->level = KSCHED_LOG_NOTICE;
	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		strcpy(host, "worker");
	for (char *p = host; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '\\' || *p >= 127)
			*p = '-';
	snprintf(o->id, sizeof(o->id), "%.50s-%ld", host, (long)getpid());
}

static const char *
opt_name(int c)
{
	for (const struct option *lo = longopts; lo->name; lo++)
		if (lo->val == c)
			return lo->name;
	return "?";
}

static int
parse_args(struct opts *o, int argc, char **argv, const char **config)
{
	int c;

	while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		if (c == OPT_HELP) {
			usage(stdout);
			exit(0);
		}
		if (c == OPT_VERSION) {
			printf("ksched-worker %s\n", ksched_version());
			exit(0);
		}
		if (c == OPT_CONFIG) {
			*config = optarg;
			continue;
		}
		if (c == '?' || c == ':') {
			usage(stderr);
			return 2;
		}
		if (!apply(o, c, optarg)) {
			fprintf(stderr,
				"ksched-worker: bad value for --%s: "
				"'%s'\n",
				opt_name(c), optarg);
			usage(stderr);
			return 2;
		}
		o->set[c] = true;
	}
	if (optind < argc) {
		fprintf(stderr, "ksched-worker: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	return 0;
}

static void
resolve_urls(struct opts *o)
{
	if (o->master[0] && !o->dispatch[0])
		snprintf(o->dispatch, sizeof(o->dispatch), "tcp://%s:%d",
			 o->master, DISPATCH_PORT);
	if (o->master[0] && !o->heartbeat[0])
		snprintf(o->heartbeat, sizeof(o->heartbeat), "tcp://%s:%d",
			 o->master, HEARTBEAT_PORT);
}

/* --- built-in handlers ------------------------------------------------ */

/* A handler result: a malloc()ed copy of s. */
static ksched_err
text_out(const char *s, void **out, size_t *len)
{
	if (!(*out = strdup(s)))
		return KSCHED_ENOMEM;
	*len = strlen(s);
	return KSCHED_OK;
}

/* pi: payload "samples=N seed=S" (both optional); result "%.6f". */
static ksched_err
h_pi(void *arg, const ksched_task *t, void **out, size_t *len, char *err,
     size_t errlen)
{
	size_t n;
	const char *p = ksched_task_payload(t, &n);
	int64_t samples = 1000000, seed = 1;
	char buf[256], *save = NULL;
	double pi = 0;

	(void)arg;
	if (n >= sizeof(buf)) {
		snprintf(err, errlen, "pi: payload of %zu bytes is too long",
			 n);
		return KSCHED_EINVAL;
	}
	memcpy(buf, p, n);
	buf[n] = 0;
	for (char *tok = strtok_r(buf, " \t\r\n", &save); tok;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		if ((!strncmp(tok, "samples=", 8) &&
		     parse_int(tok + 8, 1, 1000000000000LL, &samples)) ||
		    (!strncmp(tok, "seed=", 5) &&
		     parse_int(tok + 5, INT64_MIN, INT64_MAX, &seed)))
			continue;
		snprintf(err, errlen,
			 "pi: bad payload '%s' (want "
			 "\"samples=N seed=S\")",
			 tok);
		return KSCHED_EINVAL;
	}
	(void)ksched__pi_estimate((uint64_t)seed, (uint64_t)samples, NULL, &pi);
	snprintf(buf, sizeof(buf), "%.6f", pi);
	return text_out(buf, out, len);
}

/* wordcount: the number of whitespace-separated words in the payload. */
static ksched_err
h_wordcount(void *arg, const ksched_task *t, void **out, size_t *len, char *err,
	    size_t errlen)
{
	size_t n, words = 0;
	const char *p = ksched_task_payload(t, &n);
	bool in = false;
	char num[32];

	(void)arg;
	(void)err;
	(void)errlen;
	for (size_t i = 0; i < n; i++) {
		bool sp = strchr(" \t\n\r\v\f", p[i]) != NULL || !p[i];

		words += !sp && !in;
		in = !sp;
	}
	snprintf(num, sizeof(num), "%zu", words);
	return text_out(num, out, len);
}

/* --- running ----------------------------------------------------------------
 */

static ksched_err
add_labels(ksched_worker *w, const struct opts *o)
{
	for (int i = 0; i < o->nlabels; i++) {
		char *eq = strchr(o->labels[i], '=');
		ksched_err e;

		*eq = 0;
		e = ksched_worker_add_label(w, o->labels[i], eq + 1);
		*eq = '=';
		if (e != KSCHED_OK) {
			say(KSCHED_LOG_ERR, "bad label", o->labels[i]);
			return e;
		}
	}
	return KSCHED_OK;
}

static ksched_err
setup(ksched_worker **wp, const struct opts *o)
{
	ksched_worker *w;
	ksched_err e = ksched_worker_new(o->id, &w);

	if (e != KSCHED_OK) {
		say(KSCHED_LOG_ERR, "bad worker id", o->id);
		return e;
	}
	*wp = w;
	e = ksched_worker_set_master(w, o->dispatch[0] ? o->dispatch : NULL,
				     o->heartbeat[0] ? o->heartbeat : NULL);
	if (e == KSCHED_OK)
		e = ksched_worker_set_capacity(w, &o->cap);
	if (e == KSCHED_OK)
		e = add_labels(w, o);
	if (e == KSCHED_OK)
		e = ksched_worker_handle(w, "pi", h_pi, NULL);
	if (e == KSCHED_OK)
		e = ksched_worker_handle(w, "wordcount", h_wordcount, NULL);
	if (e == KSCHED_OK && o->http[0])
		e = ksched_worker_set_http(w, o->http);
	if (e == KSCHED_OK)
		e = ksched_worker_start(w);
	if (e != KSCHED_OK)
		say(KSCHED_LOG_ERR, "cannot start the worker",
		    o->http[0] && e == KSCHED_EIO
			    ? "cannot listen on the --http address"
			    : ksched_strerror(e));
	return e;
}

static void
write_ready(const char *path, const char *id, const char *http)
{
	char tmp[URL_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "w"))) {
		say(KSCHED_LOG_ERR, "cannot write the ready file", path);
		return;
	}
	fprintf(f, "id=%s pid=%ld%s%s\n", id, (long)getpid(),
		http[0] ? " http=" : "", http);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		say(KSCHED_LOG_ERR, "cannot write the ready file", path);
}

/*
 * Wait for SIGTERM or SIGINT (blocked in main), or for a drain to finish
 * (the master said so and nothing runs), then stop.
 */
static int
run(ksched_worker *w, const struct opts *o, const sigset_t *sigs)
{
	bool ready = !o->ready[0];
	const char *why = "drained";
	int sig;

	for (;;) {
		struct timespec ts = {0, 100 * 1000000};
		struct ksched_worker_stats st;

		sig = sigtimedwait(sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			why = sig == SIGTERM ? "SIGTERM" : "SIGINT";
			break;
		}
		ksched_worker_stats(w, &st);
		if (!ready && st.registered) {
			write_ready(o->ready, o->id,
				    ksched_worker_http_addr(w));
			ready = true;
		}
		if (st.draining && st.running == 0)
			break;
	}
	say(KSCHED_LOG_NOTICE, "stopping", why);
	return ksched_worker_stop(w) == KSCHED_OK ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct opts o;
	const char *config = NULL;
	ksched_worker *w = NULL;
	sigset_t sigs;
	int rc;

	defaults(&o);
	if ((rc = parse_args(&o, argc, argv, &config)) != 0)
		return rc;
	if (config && !load_config(&o, config))
		return 2;
	resolve_urls(&o);
	ksched_log_set_sink(ksched_log_stderr, NULL, o.level);
	if (ksched_log_set_format(o.format))
		return 2; /* cannot happen: parsed */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	rc = setup(&w, &o) == KSCHED_OK ? run(w, &o, &sigs) : 1;
	ksched_worker_free(w);
	for (int i = 0; i < o.nlabels; i++)
		free(o.labels[i]);
	return rc;
}
