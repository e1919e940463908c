/*
 * ksched-sim - replay a workload trace on a described cluster in virtual
 * time, with the scheduling core and policies the master uses, and report
 * how it did (include/ksched/sim.h, docs/simulation.md).
 *
 * Exit codes: 0 ok, 1 a bad trace, cluster or run (the reader's message),
 * 2 a bad command line.
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

#include "ksched/policy.h"
#include "ksched/sim.h"

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2 };

#define MAX_RUNS 16
#define MAX_FAILS 1024

/* clang-format off */
static const char help_text[] =
"usage: ksched-sim --trace FILE [--format auto|swf|batsim|openb|jsonl]\n"
"                  [--cluster SPEC | --nodes FILE]\n"
"                  [--policy NAME|PATH.so[:k=v,...] | --compare P1,P2,...]\n"
"                  [--report F.json] [--jobs F.csv] [--plot F.svg]\n"
"\n"
"  --cluster SPEC   e.g. 32x(cpu=1) or 120x(cpu=2,mem=1024)+4x(cpu=8,gpus=1);\n"
"                   default: the trace's machine count as Nx(cpu=1)\n"
"  --nodes FILE     an openb node list CSV, or lines of cluster specs\n"
"  --policy P       fcfs (default), sjf, easy, conservative, binpack, spread,\n"
"                   least_loaded, round_robin, priority, fair, or a plugin\n"
"  --compare LIST   run each policy on the same input, one table; --jobs\n"
"                   and --plot then get the policy name before the suffix\n"
"  --report F       metrics as JSON      --jobs F   Batsim jobs.csv\n"
"  --plot F         queue length and utilization over time (SVG)\n"
"trace: --size allocated|requested|max   --estimate requested|batsim|exact\n"
"       --keep-bad (a bad SWF record is an error)  --batsim-delay\n"
"       --max-jobs N\n"
"run:   --no-kill (let a job overrun its walltime)  --scan N (tasks the\n"
"       policy sees per dispatch; default: the whole queue for fcfs, sjf,\n"
"       easy, conservative and plugins)\n"
"failures: --fail AT:NODE (seconds, node index or name; repeatable)\n"
"       --fail-rate R (deaths per hour, at most 3600000)  --repair S\n"
"       --seed N  --max-restarts N (starts a job may lose before it is\n"
"       given up as unfinished; default 100)\n"
"       --quiet (no table, no progress)  --help\n"
"\n"
"Exit status: 0 ok, 1 bad trace, cluster or run, 2 bad command line.\n"
"See ksched-sim(1) and docs/simulation.md.\n";
/* clang-format on */

struct cli {
	const char *trace, *cluster, *nodes, *report, *jobs, *plot;
	const char *policies[MAX_RUNS];
	size_t npolicies;
	char *compare; /* owned copy of --compare, split in place */
	struct ksched_sim_load_opts load;
	struct ksched_sim_opts run;
	struct {
		double at;
		const char *node;
	} fails[MAX_FAILS];
	size_t nfails;
	bool quiet, tty;
};

static int usage_err(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("ksched-sim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see ksched-sim --help)\n", stderr);
	return EX_USAGE;
}

/* A number of seconds >= 0 (fractions allowed) as ms. */
static bool
parse_secs(const char *s, int64_t *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 9.2e15)
		return false;
	*ms = (int64_t)llround(v * 1000.0);
	return true;
}

static bool
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s == '-')
		return false;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

static int
set_enum(const char *flag, const char *v, const char *const *names, size_t n,
	 int *out)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v, names[i])) {
			*out = (int)i;
			return EX_OK;
		}
	return usage_err("%s: unknown value '%s'", flag, v);
}

static int
opt_format(struct cli *c, const char *v)
{
	static const char *const n[] = {"auto", "swf", "batsim", "openb",
					"jsonl"};
	int x = (int)c->load.format, rc = set_enum("--format", v, n, 5, &x);

	c->load.format = (enum ksched_sim_format)x;
	return rc;
}

static int
opt_compare(struct cli *c, const char *v)
{
	char *save = NULL;

	free(c->compare);
	if (!(c->compare = strdup(v)))
		return usage_err("out of memory");
	c->npolicies = 0;
	for (char *p = strtok_r(c->compare, ",", &save); p;
	     p = strtok_r(NULL, ",", &save)) {
		if (c->npolicies == MAX_RUNS)
			return usage_err("--compare: at most %d policies",
					 MAX_RUNS);
		c->policies[c->npolicies++] = p;
	}
	if (!c->npolicies)
		return usage_err("--compare: no policy named");
	return EX_OK;
}

static int
opt_fail(struct cli *c, const char *v)
{
	const char *colon = strchr(v, ':');
	char at[64];
	int64_t ms;

	if (c->nfails == MAX_FAILS)
		return usage_err("--fail: at most %d", MAX_FAILS);
	if (!colon || colon == v || !colon[1] ||
	    (size_t)(colon - v) >= sizeof(at))
		return usage_err("--fail: expected AT:NODE (got '%s')", v);
	memcpy(at, v, (size_t)(colon - v));
	at[colon - v] = 0;
	if (!parse_secs(at, &ms))
		return usage_err("--fail: '%s' is not a time in seconds", at);
	c->fails[c->nfails].at = (double)ms;
	c->fails[c->nfails++].node = colon + 1;
	return EX_OK;
}

enum {
	O_TRACE = 256,
	O_FORMAT,
	O_CLUSTER,
	O_NODES,
	O_POLICY,
	O_COMPARE,
	O_REPORT,
	O_JOBS,
	O_PLOT,
	O_SIZE,
	O_ESTIMATE,
	O_KEEPBAD,
	O_DELAY,
	O_MAXJOBS,
	O_NOKILL,
	O_SCAN,
	O_FAIL,
	O_RATE,
	O_REPAIR,
	O_SEED,
	O_RESTARTS,
	O_QUIET,
	O_HELP
};

static const struct option longopts[] = {
    {"trace", 1, NULL, O_TRACE},
    {"format", 1, NULL, O_FORMAT},
    {"cluster", 1, NULL, O_CLUSTER},
    {"nodes", 1, NULL, O_NODES},
    {"policy", 1, NULL, O_POLICY},
    {"compare", 1, NULL, O_COMPARE},
    {"report", 1, NULL, O_REPORT},
    {"jobs", 1, NULL, O_JOBS},
    {"plot", 1, NULL, O_PLOT},
    {"size", 1, NULL, O_SIZE},
    {"estimate", 1, NULL, O_ESTIMATE},
    {"keep-bad", 0, NULL, O_KEEPBAD},
    {"batsim-delay", 0, NULL, O_DELAY},
    {"max-jobs", 1, NULL, O_MAXJOBS},
    {"no-kill", 0, NULL, O_NOKILL},
    {"scan", 1, NULL, O_SCAN},
    {"fail", 1, NULL, O_FAIL},
    {"fail-rate", 1, NULL, O_RATE},
    {"repair", 1, NULL, O_REPAIR},
    {"seed", 1, NULL, O_SEED},
    {"max-restarts", 1, NULL, O_RESTARTS},
    {"quiet", 0, NULL, O_QUIET},
    {"help", 0, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static int
apply(struct cli *c, int o, const char *v)
{
	static const char *const sizes[] = {"allocated", "requested", "max"};
	static const char *const ests[] = {"requested", "batsim", "exact"};
	uint64_t u;
	int64_t ms;
	int x = 0, rc = EX_OK;
	char *end;

	switch (o) {
	case O_TRACE:
		c->trace = v;
		break;
	case O_FORMAT:
		return opt_format(c, v);
	case O_CLUSTER:
		c->cluster = v;
		break;
	case O_NODES:
		c->nodes = v;
		break;
	case O_POLICY:
		c->policies[0] = v;
		c->npolicies = 1;
		break;
	case O_COMPARE:
		return opt_compare(c, v);
	case O_REPORT:
		c->report = v;
		break;
	case O_JOBS:
		c->jobs = v;
		break;
	case O_PLOT:
		c->plot = v;
		break;
	case O_SIZE:
		x = (int)c->load.swf_size;
		rc = set_enum("--size", v, sizes, 3, &x);
		c->load.swf_size = (enum ksched_swf_size)x;
		break;
	case O_ESTIMATE:
		x = (int)c->load.swf_estimate;
		rc = set_enum("--estimate", v, ests, 3, &x);
		c->load.swf_estimate = (enum ksched_swf_estimate)x;
		break;
	case O_KEEPBAD:
		c->load.drop_bad = false;
		break;
	case O_DELAY:
		c->load.batsim_delay = true;
		break;
	case O_MAXJOBS:
		if (!parse_u64(v, &u) || !u)
			return usage_err("--max-jobs: expected a count >= 1 "
					 "(got '%s')",
					 v);
		c->load.max_jobs = (size_t)u;
		break;
	case O_NOKILL:
		c->run.kill_at_walltime = false;
		break;
	case O_SCAN:
		if (!parse_u64(v, &u) || !u || u > 100000000)
			return usage_err("--scan: expected 1..100000000 (got "
					 "'%s')",
					 v);
		c->run.scan = (size_t)u;
		break;
	case O_FAIL:
		return opt_fail(c, v);
	case O_RATE:
		errno = 0;
		c->run.fail_rate = strtod(v, &end);
		if (errno || end == v || *end || !isfinite(c->run.fail_rate) ||
		    c->run.fail_rate < 0)
			return usage_err("--fail-rate: expected deaths per "
					 "hour >= 0 (got '%s')",
					 v);
		/* The clock counts milliseconds: more than one death per
		 * virtual ms cannot be simulated. */
		if (c->run.fail_rate > KSCHED_SIM_FAIL_RATE_MAX)
			return usage_err("--fail-rate: at most %.0f deaths per "
					 "hour, one per virtual millisecond "
					 "(got '%s')",
					 KSCHED_SIM_FAIL_RATE_MAX, v);
		break;
	case O_REPAIR:
		if (!parse_secs(v, &ms))
			return usage_err("--repair: expected seconds >= 0 "
					 "(got '%s')",
					 v);
		c->run.repair_ms = ms;
		break;
	case O_SEED:
		if (!parse_u64(v, &u))
			return usage_err("--seed: expected an unsigned integer "
					 "(got '%s')",
					 v);
		c->run.seed = u;
		break;
	case O_RESTARTS:
		if (!parse_u64(v, &u) || !u || u > 1000000)
			return usage_err("--max-restarts: expected 1..1000000 "
					 "(got '%s')",
					 v);
		c->run.max_restarts = (uint32_t)u;
		break;
	case O_QUIET:
		c->quiet = true;
		break;
	default:
		return usage_err("unknown option");
	}
	return rc;
}

/* A policy that cannot be loaded is a bad flag: say so before reading a
 * large trace. */
static int
check_policies(const struct cli *c)
{
	for (size_t i = 0; i < c->npolicies; i++) {
		ksched_policy *p;
		char err[512];
		if (ksched_policy_load(c->policies[i], &p, err, sizeof(err)))
			return usage_err("--policy %s: %s", c->policies[i],
					 err);
		ksched_policy_free(p);
	}
	return EX_OK;
}

static int
parse_args(struct cli *c, int argc, char **argv)
{
	int o, rc;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (o == O_HELP) {
			fputs(help_text, stdout);
			return -1;
		}
		if (o == '?' || o == ':')
			return usage_err("unknown option or missing value: %s",
					 argv[optind - 1]);
		if ((rc = apply(c, o, optarg)))
			return rc;
	}
	if (optind < argc)
		return usage_err("unexpected argument '%s'", argv[optind]);
	if (!c->trace)
		return usage_err("--trace FILE is required");
	if (c->cluster && c->nodes)
		return usage_err("give --cluster or --nodes, not both");
	return check_policies(c);
}

/* ---- running ------------------------------------------------------------- */

static void
progress(void *arg, size_t ended, size_t total)
{
	(void)arg;
	fprintf(stderr, "\rksched-sim: %zu/%zu jobs ended", ended, total);
}

static double
wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
load_cluster(const struct cli *c, const ksched_sim_workload *w,
	     ksched_sim_cluster **out)
{
	char err[512], spec[64];
	ksched_err e;

	if (c->nodes)
		e = ksched_sim_cluster_load(c->nodes, out, err, sizeof(err));
	else if (c->cluster)
		e = ksched_sim_cluster_parse(c->cluster, out, err, sizeof(err));
	else if (ksched_sim_workload_machines(w) > KSCHED_SIM_NODES_MAX) {
		/* The default cluster: speak of the trace, not of a spec
		 * the user never wrote. */
		fprintf(stderr,
			"ksched-sim: %s declares %lld machines, more than "
			"the %u nodes a simulated cluster may have: give "
			"--cluster or --nodes\n",
			c->trace, (long long)ksched_sim_workload_machines(w),
			KSCHED_SIM_NODES_MAX);
		return EX_USAGE;
	} else if (ksched_sim_workload_machines(w) > 0) {
		snprintf(spec, sizeof(spec), "%lldx(cpu=1)",
			 (long long)ksched_sim_workload_machines(w));
		e = ksched_sim_cluster_parse(spec, out, err, sizeof(err));
	} else {
		fprintf(stderr,
			"ksched-sim: %s declares no machine count: "
			"give --cluster or --nodes\n",
			c->trace);
		return EX_USAGE;
	}
	if (e) {
		fprintf(stderr, "ksched-sim: %s\n", err);
		return c->cluster ? EX_USAGE : EX_FAIL;
	}
	return EX_OK;
}

/* --fail AT:NODE: the node by index or by name. */
static int
resolve_fails(struct cli *c, const ksched_sim_cluster *cl,
	      struct ksched_sim_failure *f)
{
	size_t n = ksched_sim_cluster_count(cl);

	for (size_t i = 0; i < c->nfails; i++) {
		uint64_t k;
		size_t j = 0;
		if (parse_u64(c->fails[i].node, &k)) {
			j = (size_t)k;
		} else {
			while (j < n &&
			       strcmp(ksched_sim_cluster_node(cl, j)->id,
				      c->fails[i].node))
				j++;
		}
		if (j >= n)
			return usage_err("--fail: no node '%s' (the cluster "
					 "has %zu)",
					 c->fails[i].node, n);
		f[i].at_ms = (int64_t)c->fails[i].at;
		f[i].node = (uint32_t)j;
	}
	c->run.failures = f;
	c->run.nfailures = c->nfails;
	return EX_OK;
}

/* FILE with ".NAME" before its suffix (or at the end). */
static void
per_policy(char *buf, size_t len, const char *file, const char *name, bool many)
{
	const char *dot = strrchr(file, '.'), *slash = strrchr(file, '/');

	char tag[256];
	size_t k = 0;

	/* Options hold ':', '=' and ',', a plugin's name '/': keep them out
	 * of file names ("easy:reserve=count" -> "easy_reserve-count"). */
	for (; name[k] && k + 1 < sizeof(tag); k++)
		tag[k] = name[k] == '=' ? '-'
			 : strchr("/,: ", name[k]) ? '_'
						  : name[k];
	tag[k] = 0;
	name = tag;
	if (!many)
		snprintf(buf, len, "%s", file);
	else if (dot && (!slash || dot > slash))
		snprintf(buf, len, "%.*s.%s%s", (int)(dot - file), file, name,
			 dot);
	else
		snprintf(buf, len, "%s.%s", file, name);
}

/* Write one output file with fn; EX_FAIL and a message on error. */
static int
write_out(const char *path, const ksched_sim_result *r,
	  ksched_err (*fn)(const ksched_sim_result *, FILE *))
{
	FILE *f = fopen(path, "w");
	ksched_err e;

	if (!f) {
		fprintf(stderr, "ksched-sim: cannot write %s: %s\n", path,
			strerror(errno));
		return EX_FAIL;
	}
	e = fn(r, f);
	if (fclose(f) || e) {
		fprintf(stderr, "ksched-sim: cannot write %s\n", path);
		return EX_FAIL;
	}
	return EX_OK;
}

static int
outputs(const struct cli *c, ksched_sim_result **rs, const double *jps)
{
	const ksched_sim_result *const *crs =
	    (const ksched_sim_result *const *)rs;
	char path[4096];
	int rc = EX_OK;
	bool many = c->npolicies > 1;

	for (size_t i = 0; i < c->npolicies && !rc; i++) {
		const char *name = ksched_sim_result_policy(rs[i]);
		if (c->jobs) {
			per_policy(path, sizeof(path), c->jobs, name, many);
			rc = write_out(path, rs[i], ksched_sim_jobs_csv);
		}
		if (!rc && c->plot) {
			per_policy(path, sizeof(path), c->plot, name, many);
			rc = write_out(path, rs[i], ksched_sim_plot_svg);
		}
	}
	if (!rc && c->report) {
		FILE *f = fopen(c->report, "w");
		ksched_err e = f ? ksched_sim_report_json(crs, c->npolicies, f)
				 : KSCHED_EIO;
		if (!f || fclose(f) || e) {
			fprintf(stderr, "ksched-sim: cannot write %s\n",
				c->report);
			rc = EX_FAIL;
		}
	}
	if (!rc && !c->quiet &&
	    ksched_sim_table(crs, c->npolicies, jps, stdout))
		rc = EX_FAIL;
	return rc;
}

static int
simulate(struct cli *c, const ksched_sim_workload *w,
	 const ksched_sim_cluster *cl)
{
	ksched_sim_result *rs[MAX_RUNS] = {NULL};
	double jps[MAX_RUNS];
	char err[1024];
	int rc = EX_OK;

	c->run.timeline = c->plot != NULL;
	if (c->tty) {
		c->run.progress = progress;
		c->run.progress_arg = NULL;
	}
	for (size_t i = 0; i < c->npolicies && !rc; i++) {
		double t0 = wall_s(), dt;
		c->run.policy = c->policies[i];
		if (ksched_sim_run(w, cl, &c->run, &rs[i], err, sizeof(err))) {
			fprintf(stderr, "%sksched-sim: %s\n",
				c->tty ? "\n" : "", err);
			rc = EX_FAIL;
			break;
		}
		dt = wall_s() - t0;
		jps[i] = dt > 0 ? (double)ksched_sim_workload_count(w) / dt : 0;
		if (c->tty)
			fputs("\r\033[K", stderr);
	}
	if (!rc)
		rc = outputs(c, rs, jps);
	for (size_t i = 0; i < c->npolicies; i++)
		ksched_sim_result_free(rs[i]);
	return rc;
}

int
main(int argc, char **argv)
{
	static struct cli c;
	static struct ksched_sim_failure fails[MAX_FAILS];
	ksched_sim_workload *w = NULL;
	ksched_sim_cluster *cl = NULL;
	char err[1024];
	int rc;

	ksched_sim_load_opts_init(&c.load);
	ksched_sim_opts_init(&c.run);
	c.policies[0] = "fcfs";
	c.npolicies = 1;
	rc = parse_args(&c, argc, argv);
	if (rc) {
		free(c.compare);
		return rc < 0 ? EX_OK : rc;
	}
	c.tty = !c.quiet && isatty(STDERR_FILENO);
	if (ksched_sim_workload_load(c.trace, &c.load, &w, err, sizeof(err))) {
		fprintf(stderr, "ksched-sim: %s\n", err);
		free(c.compare);
		return EX_FAIL;
	}
	rc = load_cluster(&c, w, &cl);
	if (!rc)
		rc = resolve_fails(&c, cl, fails);
	if (!rc)
		rc = simulate(&c, w, cl);
	ksched_sim_cluster_free(cl);
	ksched_sim_workload_free(w);
	free(c.compare);
	return rc;
}
