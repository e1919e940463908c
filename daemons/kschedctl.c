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
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/* clang-format off */
const char ctl_help[] =
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
"  top [--interval MS] [--once]       live view: workers, queue, rates,\n"
"                                     recent failures; q quits\n"
"\n"
"  --control URL  the master's control socket (default $KSCHED_CONTROL,\n"
"                 else " KSCHED_CLIENT_DEFAULT_URL ")\n"
"  --timeout MS   how long to wait for the master (default 10000)\n"
"  --json         print one JSON document\n"
"\n"
"Exit status: 0 ok, 1 a task failed or was not found, 2 usage error,\n"
"3 cannot reach the master.  See kschedctl(1).\n";
/* clang-format on */


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
	{"cache", cmd_cache, "ka"}, {"top", cmd_top, "iO"}};
/* clang-format on */

int
main(int argc, char **argv)
{
	struct ctl k = {.tty = isatty(STDERR_FILENO),
			.spec = json_object(),
			.state = KSCHED_STATE_COUNT,
			.limit = 100,
			.wait_ms = -1,
			.interval_ms = 1000};
	size_t i = 0, n = sizeof(cmds) / sizeof(cmds[0]);
	int rc = k.spec ? parse_opts(&k, argc, argv, "+:h", "") : EX_FAIL;

	if (!rc && optind >= argc)
		rc = ctl_usage(&k, "missing command");
	while (!rc && i < n && strcmp(argv[optind], cmds[i].name))
		i++;
	if (!rc && i == n)
		rc = ctl_usage(&k, "unknown command '%s'", argv[optind]);
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

