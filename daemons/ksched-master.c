/*
 * ksched-master: the reference master daemon.  A thin main around
 * ksched_master_*: options, logging, a ready file, signals.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ksched.h>
#include <ksched/master.h>

static const char usage[] =
	"usage: ksched-master [options]\n"
	"  --data DIR                data directory (default "
	"$XDG_DATA_HOME/ksched\n"
	"                            or ~/.local/share/ksched)\n"
	"  --sync strict|none        fsync every commit (default strict)\n"
	"  --control URL             clients (default " KSCHED_CONTROL_URL ")\n"
	"  --dispatch URL            workers (default " KSCHED_DISPATCH_URL ")\n"
	"  --heartbeat URL           surveys (default " KSCHED_HEARTBEAT_URL
	")\n"
	"  --http HOST:PORT|none     metrics and JSON API (default "
	KSCHED_HTTP_ADDR ";\n"
	"                            port 0 picks one, see the ready file)\n"
	"  --heartbeat-interval MS   survey interval (default 1000)\n"
	"  --suspect-after N         missed surveys before suspect (2)\n"
	"  --dead-after N            missed surveys before dead (3)\n"
	"  --lease MS                lease of tasks without timeout (60000)\n"
	"  --seed N                  lease tokens and jitter (default: clock)\n"
	"  --policy NAME|PATH.so[:k=v,...]  who goes where (least_loaded);\n"
	"                            built-ins: round_robin priority least_loaded\n"
	"                            binpack spread fair fcfs sjf easy\n"
	"                            conservative\n"
	"  --log-level LEVEL         err|warn|notice|info|debug (notice)\n"
	"  --log-format text|json    key=value or JSON lines (text)\n"
	"  --ready-file PATH         written once listening\n"
	"  -c FILE                   read 'name = value' lines (same names)\n"
	"  --help                    this text\n";

struct opts {
	struct ksched_master_config cfg;
	enum ksched_log_level level;
	enum ksched_log_format format;
	const char *ready_file;
	char data_default[4200];
};

static int
bad(const char *what, const char *value)
{
	fprintf(stderr, "ksched-master: bad %s '%s'\n%s", what,
		value ? value : "", usage);
	return 2;
}

static int
parse_num(const char *s, long long min, long long max, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || end == s || *end || *out < min || *out > max ? -1 : 0;
}

/* Apply one option by name; 0, or 2 (usage) on a bad value. */
static int
apply(struct opts *o, const char *name, const char *v)
{
	struct ksched_master_config *c = &o->cfg;
	long long n;

	if (!strcmp(name, "data"))
		c->data_dir = v;
	else if (!strcmp(name, "sync")) {
		if (!strcmp(v, "strict"))
			c->sync = KSCHED_SYNC_STRICT;
		else if (!strcmp(v, "none"))
			c->sync = KSCHED_SYNC_NONE;
		else
			return bad("--sync", v);
	} else if (!strcmp(name, "control"))
		c->control_url = v;
	else if (!strcmp(name, "dispatch"))
		c->dispatch_url = v;
	else if (!strcmp(name, "heartbeat"))
		c->heartbeat_url = v;
	else if (!strcmp(name, "http")) {
		const char *colon = strrchr(v, ':');
		if (strcmp(v, "none") && (!colon || colon == v ||
					  parse_num(colon + 1, 0, 65535, &n)))
			return bad("--http (HOST:PORT or none)", v);
		c->http_addr = v;
	}
	else if (!strcmp(name, "heartbeat-interval")) {
		if (parse_num(v, 10, 3600000, &n))
			return bad("--heartbeat-interval", v);
		c->heartbeat_ms = n;
	} else if (!strcmp(name, "suspect-after")) {
		if (parse_num(v, 1, 1000, &n))
			return bad("--suspect-after", v);
		c->suspect_after = (int)n;
	} else if (!strcmp(name, "dead-after")) {
		if (parse_num(v, 2, 1000, &n))
			return bad("--dead-after", v);
		c->dead_after = (int)n;
	} else if (!strcmp(name, "lease")) {
		if (parse_num(v, 1, 86400000LL * 30, &n))
			return bad("--lease", v);
		c->lease_ms = n;
	} else if (!strcmp(name, "seed")) {
		if (parse_num(v, 1, INT64_MAX, &n))
			return bad("--seed", v);
		c->seed = (uint64_t)n;
	} else if (!strcmp(name, "policy")) {
		c->policy = v;
	} else if (!strcmp(name, "log-level")) {
		if (ksched_log_level_parse(v, &o->level))
			return bad("--log-level", v);
	} else if (!strcmp(name, "log-format")) {
		if (ksched_log_format_parse(v, &o->format))
			return bad("--log-format", v);
	} else if (!strcmp(name, "ready-file"))
		o->ready_file = v;
	else
		return bad("option", name);
	return 0;
}

/* -c FILE: 'name = value' lines, '#' comments.  Strings are kept. */
static int
read_config(struct opts *o, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int rc = 0, lineno = 0;

	if (!f) {
		fprintf(stderr, "ksched-master: %s: %s\n", path,
			strerror(errno));
		return 2;
	}
	while (!rc && fgets(line, sizeof(line), f)) {
		char *eq, *k = line, *v, *end;
		lineno++;
		while (*k == ' ' || *k == '\t')
			k++;
		if (*k == '#' || *k == '\n' || !*k)
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			fprintf(stderr, "ksched-master: %s:%d: no '='\n", path,
				lineno);
			rc = 2;
			break;
		}
		for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t');)
			*--end = 0;
		*eq = 0;
		for (v = eq + 1; *v == ' ' || *v == '\t'; v++)
			;
		v[strcspn(v, "\r\n")] = 0;
		rc = apply(o, k, strdup(v)); /* kept for the process' life */
	}
	fclose(f);
	return rc;
}

static const char *
default_data(struct opts *o)
{
	const char *x = getenv("XDG_DATA_HOME"), *h = getenv("HOME");
	char parent[4096];

	if (x && *x)
		snprintf(parent, sizeof(parent), "%s", x);
	else
		snprintf(parent, sizeof(parent), "%s/.local/share",
			 h ? h : ".");
	snprintf(o->data_default, sizeof(o->data_default), "%s/ksched",
		 parent);
	/* Create the parents the way mkdir -p would. */
	for (char *p = parent + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			mkdir(parent, 0700);
			*p = '/';
		}
	}
	mkdir(parent, 0700);
	return o->data_default;
}

static int
parse_args(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{"data", 1, 0, 0},	    {"sync", 1, 0, 0},
		{"control", 1, 0, 0},	    {"dispatch", 1, 0, 0},
		{"heartbeat", 1, 0, 0},	    {"heartbeat-interval", 1, 0, 0},
		{"http", 1, 0, 0},
		{"suspect-after", 1, 0, 0}, {"dead-after", 1, 0, 0},
		{"lease", 1, 0, 0},	    {"seed", 1, 0, 0},
		{"policy", 1, 0, 0},
		{"log-level", 1, 0, 0},	    {"log-format", 1, 0, 0},
		{"ready-file", 1, 0, 0},
		{"help", 0, 0, 'h'},	    {0, 0, 0, 0}};
	int c, idx, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:h", lo, &idx)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			exit(0);
		}
		if (c == 'c')
			rc = read_config(o, optarg);
		else if (c == 0)
			rc = apply(o, lo[idx].name, optarg);
		else if (c == ':')
			rc = bad("missing value for", argv[optind - 1]);
		else
			rc = bad("option", argv[optind - 1]);
		if (rc)
			return rc;
	}
	if (optind < argc)
		return bad("argument", argv[optind]);
	return 0;
}

/*
 * The ready file: the PID, then "http=HOST:PORT" when HTTP is on (the port
 * bound, also when 0 was asked).  Written aside and renamed, so a reader
 * never sees half of it.
 */
static void
write_ready(const char *path, const char *http)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%ld\n", (long)getpid());
	if (http[0])
		fprintf(f, "http=%s\n", http);
	if (fclose(f) == 0)
		rename(tmp, path);
}

int
main(int argc, char **argv)
{
	struct opts o;
	ksched_master *m;
	char err[512];
	ksched_err e;
	int rc;

	memset(&o, 0, sizeof(o));
	ksched_master_config_init(&o.cfg);
	o.cfg.http_addr = KSCHED_HTTP_ADDR;
	o.level = KSCHED_LOG_NOTICE;
	rc = parse_args(&o, argc, argv);
	if (rc)
		return rc;
	if (!o.cfg.data_dir)
		o.cfg.data_dir = default_data(&o);
	ksched_log_set_sink(ksched_log_stderr, NULL, o.level);
	if (ksched_log_set_format(o.format))
		return 2; /* cannot happen: parsed */
	e = ksched_master_new(&o.cfg, &m, err, sizeof(err));
	if (e) {
		fprintf(stderr, "ksched-master: %s\n",
			err[0] ? err : ksched_strerror(e));
		return 1;
	}
	if (o.ready_file)
		write_ready(o.ready_file, ksched_master_http_addr(m));
	e = ksched_master_run(m, true);
	ksched_master_free(m);
	if (e) {
		fprintf(stderr, "ksched-master: %s\n", ksched_strerror(e));
		return 1;
	}
	return 0;
}
