/*
 * The dashboard against a live cluster: ksched-master with --http on
 * 127.0.0.1 (port 0: the bound one is read from the ready file) and three
 * ksched-worker processes on ipc:// sockets in a temp dir, with tasks that
 * succeed, one that fails until it is dead, one that cannot be placed and
 * one that runs for a while.  Then:
 *   - GET / answers the page with its Content-Security-Policy (plain C);
 *   - the JSON API has every field the page reads, as the page reads it;
 *   - tests/browser/dashboard.mjs drives the page in Debian's headless
 *     chromium (playwright-core): the live workers and the tasks are shown
 *     (the newest first, past 200 canceled ones), the state filter and a
 *     task's detail work.  Skipped, saying why, when
 *     node, chromium or tests/browser/node_modules is missing.
 * KSCHED_DASH_SCREENSHOT=FILE.png keeps the browser's screenshot.
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <jansson.h>

#include "../testutil.h"
#include "cluster.h"
#include "ksched.h"
#include "ksched/client.h"

#define NWORKERS 3
#define NOK 6
#define NBUSY 30 /* short sleeps: something for the charts to show */
/* Canceled before they could run, submitted after the busy ones and before
 * the rest: more than a page, so that a list that is not newest first
 * (every state, ascending, as the page once read it) misses the newest. */
#define NOLD 200

struct fx {
	struct tc_cluster cl;
	char http[128]; /* "127.0.0.1:PORT" */
	pid_t master, workers[NWORKERS];
	ksched_client *c;
	uint64_t ok[NOK], dead, big, slow;
};

static struct fx *fx;

/* ---- a plain HTTP/1.0 client: one request, the whole answer -------------- */

struct answer {
	char *raw;	  /* status line, headers, body; NUL-terminated */
	const char *body; /* into raw */
	int code;
};

static void
http_ask(const char *addr, const char *method, const char *path,
	 struct answer *a)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {10 * tu_slow(), 0};
	const char *colon = strrchr(addr, ':');
	char req[1024];
	size_t len = 0, cap = 65536;
	ssize_t n;
	int fd;

	assert_non_null(colon);
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fail_msg("connect to %s failed", addr);
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: %s\r\n\r\n",
		 method, path, addr);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	a->raw = malloc(cap);
	while ((n = read(fd, a->raw + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 1024)
			a->raw = realloc(a->raw, cap *= 2);
	}
	close(fd);
	a->raw[len] = 0;
	a->code = 0;
	sscanf(a->raw, "HTTP/1.%*d %d", &a->code);
	a->body = strstr(a->raw, "\r\n\r\n");
	if (!a->body)
		fail_msg("%s %s: no complete answer", method, path);
	a->body += 4;
}

/* The value of header name (case-insensitive) into out; "" if absent. */
static void
http_header(const struct answer *a, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);

	out[0] = 0;
	for (const char *p = strstr(a->raw, "\r\n"); p && p + 2 < a->body;
	     p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, nl) || p[2 + nl] != ':')
			continue;
		p += 3 + nl;
		while (*p == ' ')
			p++;
		snprintf(out, len, "%.*s", (int)strcspn(p, "\r\n"), p);
		return;
	}
}

/* GET path as JSON (status 200 asserted); the caller drops it. */
static json_t *
get_json(const char *path)
{
	struct answer a;
	json_error_t je;
	json_t *j;

	http_ask(fx->http, "GET", path, &a);
	if (a.code != 200)
		fail_msg("GET %s: %d: %s", path, a.code, a.body);
	j = json_loads(a.body, 0, &je);
	if (!j)
		fail_msg("GET %s: not JSON: %s", path, je.text);
	free(a.raw);
	return j;
}

/* ---- the cluster --------------------------------------------------------- */

static void
start_worker(struct fx *f, int i)
{
	char id[32];
	const char *extra[] = {"--cpu", "2000", "--mem", "2048", "--slots", "2",
			       "--label", i ? "zone=b" : "zone=a",
			       "--log-level", "info", NULL};

	snprintf(id, sizeof(id), "w%d", i);
	tc_start_worker(&f->cl, id, extra, &f->workers[i]);
}

static ksched_task *
exec_task(const char *a0, const char *a1, const char *a2)
{
	ksched_task *t = tc_exec_task(a0, a1, a2, 500, 64);

	ksched_task_set_cache(t, true, 0);
	return t;
}

/* Poll (bounded) until task id is in state want. */
static void
await_state(struct fx *f, uint64_t id, enum ksched_state want)
{
	int64_t end = td_now_ms() + 30000 * tu_slow();
	struct ksched_task_status st;

	do {
		assert_int_equal(ksched_client_status(f->c, &id, 1, &st),
				 KSCHED_OK);
		if (st.state == want)
			return;
		td_sleep_ms(50);
	} while (td_now_ms() < end);
	fail_msg("task %llu: state %s, want %s", (unsigned long long)id,
		 ksched_state_name(st.state), ksched_state_name(want));
}

static void
submit_canceled(struct fx *f)
{
	ksched_task *t[NOLD];
	uint64_t ids[NOLD];
	char arg[24];

	for (int i = 0; i < NOLD; i++) {
		snprintf(arg, sizeof(arg), "old %d", i);
		t[i] = exec_task("/bin/echo", arg, NULL);
		ksched_task_set_not_before(t[i], td_now_ms() + 3600 * 1000);
	}
	assert_int_equal(ksched_client_submit(f->c,
					      (const ksched_task *const *)t,
					      NOLD, ids, NULL),
			 KSCHED_OK);
	for (int i = 0; i < NOLD; i++)
		ksched_task_free(t[i]);
	assert_int_equal(ksched_client_cancel(f->c, ids, NOLD, NULL),
			 KSCHED_OK);
}

static void
submit_tasks(struct fx *f)
{
	char arg[NOK][16];
	ksched_task *t;

	for (int i = 0; i < NBUSY; i++)
		(void)tc_submit(f->c, exec_task("/bin/sleep", "0.3", NULL));
	submit_canceled(f);
	for (int i = 0; i < NOK; i++) {
		snprintf(arg[i], sizeof(arg[i]), "ok %d", i);
		f->ok[i] = tc_submit(f->c,
				     exec_task("/bin/echo", arg[i], NULL));
	}
	/* Fails twice (one retry), then is dead. */
	t = exec_task("/bin/sh", "-c", "echo no >&2; exit 3");
	ksched_task_set_retry(t, 1, 50, 50);
	f->dead = tc_submit(f->c, t);
	/* No worker has 64 cores: it stays ready, and says why. */
	t = exec_task("/bin/echo", "big", NULL);
	ksched_task_set_resources(t, 64000, 64, 0);
	f->big = tc_submit(f->c, t);
	/* Runs while the browser looks (the worker stops it at teardown). */
	t = exec_task("/bin/sleep", "120", NULL);
	ksched_task_set_timeout_ms(t, 300000);
	f->slow = tc_submit(f->c, t);
	for (int i = 0; i < NOK; i++)
		await_state(f, f->ok[i], KSCHED_STATE_SUCCEEDED);
	await_state(f, f->dead, KSCHED_STATE_DEAD);
	await_state(f, f->slow, KSCHED_STATE_LEASED);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *extra[] = {"--http", "127.0.0.1:0",
			       "--heartbeat-interval", "200", "--suspect-after",
			       "10", "--dead-after", "25", "--sync", "none",
			       "--log-level", "info", NULL};

	fx = f;
	tc_init(&f->cl, "dash");
	tc_start_master(&f->cl, extra, &f->master);
	if (tc_ready_http(f->cl.ready, f->http, sizeof(f->http)))
		fail_msg("no http= line in %s", f->cl.ready);
	for (int i = 0; i < NWORKERS; i++)
		start_worker(f, i);
	assert_int_equal(ksched_client_open(f->cl.ctl, &f->c), KSCHED_OK);
	submit_tasks(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state ? *state : fx;
	int rc;

	if (!f)
		return 0;
	/* The slow task would move from each stopping worker to the next:
	 * cancel it, and stop the workers all at once. */
	if (f->c && f->slow &&
	    ksched_client_cancel(f->c, &f->slow, 1, NULL) != KSCHED_OK)
		fprintf(stderr, "cancel %llu: %s\n",
			(unsigned long long)f->slow,
			ksched_client_last_error(f->c));
	ksched_client_close(f->c);
	for (int i = 0; i < NWORKERS; i++)
		if (f->workers[i] > 0)
			kill(f->workers[i], SIGTERM);
	rc = tc_stop(f->master, f->workers, NWORKERS, 10000);
	tc_remove(&f->cl);
	free(f);
	fx = NULL;
	return rc;
}

/* ---- the page over plain HTTP -------------------------------------------- */

static void
test_dashboard_get_root_serves_page(void **state)
{
	struct fx *f = *state;
	const char *paths[] = {"/", "/index.html"};
	char v[512], want[32];
	struct answer a;

	for (size_t i = 0; i < 2; i++) {
		http_ask(f->http, "GET", paths[i], &a);
		assert_int_equal(a.code, 200);
		http_header(&a, "Content-Type", v, sizeof(v));
		assert_string_equal(v, "text/html; charset=utf-8");
		http_header(&a, "Cache-Control", v, sizeof(v));
		assert_string_equal(v, "no-cache");
		http_header(&a, "Content-Security-Policy", v, sizeof(v));
		assert_non_null(strstr(v, "default-src 'self'"));
		assert_non_null(strstr(v, "script-src 'unsafe-inline'"));
		http_header(&a, "Content-Length", v, sizeof(v));
		snprintf(want, sizeof(want), "%zu", strlen(a.body));
		assert_string_equal(v, want);
		assert_non_null(
			strstr(a.body, "<title>ksched dashboard</title>"));
		assert_non_null(strstr(a.body, "</html>"));
		free(a.raw);
	}
	/* The page is read, never written. */
	http_ask(f->http, "POST", "/", &a);
	assert_int_equal(a.code, 405);
	http_header(&a, "Allow", v, sizeof(v));
	assert_string_equal(v, "GET, HEAD");
	free(a.raw);
}

/* ---- the API as the page reads it ---------------------------------------- */

static void
want_int(json_t *o, const char *key)
{
	if (!json_is_integer(json_object_get(o, key)))
		fail_msg("field \"%s\" is not an integer", key);
}

static void
want_str(json_t *o, const char *key)
{
	if (!json_is_string(json_object_get(o, key)))
		fail_msg("field \"%s\" is not a string", key);
}

static void
want_ints(json_t *o, const char *obj, const char *const *keys)
{
	json_t *x = json_object_get(o, obj);

	if (!json_is_object(x))
		fail_msg("field \"%s\" is not an object", obj);
	for (; *keys; keys++)
		want_int(x, *keys);
}

static void
test_dashboard_api_has_what_page_reads(void **state)
{
	static const char *const tstates[] = {"pending", "ready", "leased",
					      "succeeded", "dead", "canceled",
					      NULL};
	static const char *const wstates[] = {"alive", "suspect", "dead",
					      "draining", NULL};
	static const char *const res[] = {"cpu_milli", "mem_mb", "gpus",
					  "slots", NULL};
	static const char *const pair[] = {"allocated", "total", NULL};
	struct fx *f = *state;
	char path[128];
	json_t *j, *a, *x;
	size_t i;

	j = get_json("/api/v1/stats");
	want_int(j, "now_ms");
	want_int(j, "uptime_ms");
	want_str(j, "policy");
	want_ints(j, "tasks", tstates);
	want_ints(j, "workers", wstates);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(j, "workers"), "alive")),
			 NWORKERS);
	for (i = 0; i < 3; i++)
		want_ints(json_object_get(j, "resources"), res[i], pair);
	json_decref(j);

	j = get_json("/api/v1/workers");
	a = json_object_get(j, "workers");
	assert_int_equal(json_array_size(a), NWORKERS);
	json_array_foreach(a, i, x) {
		want_str(x, "id");
		want_str(x, "state");
		want_ints(x, "capacity", res);
		want_ints(x, "allocated", res);
		want_int(x, "running");
		assert_true(json_is_number(json_object_get(x, "load")));
		want_int(x, "last_seen_ms");
		assert_true(json_is_object(json_object_get(x, "labels")));
	}
	json_decref(j);

	j = get_json("/api/v1/tasks?limit=500");
	a = json_object_get(j, "tasks");
	assert_int_equal(json_array_size(a), NBUSY + NOLD + NOK + 3);
	json_array_foreach(a, i, x) {
		want_int(x, "id");
		want_str(x, "state");
		want_str(x, "kind");
		want_int(x, "attempts");
		want_int(x, "submitted_ms");
	}
	json_decref(j);

	/* What the table asks for: the newest of every state, newest first
	 * (the slow task was submitted last), with more to come. */
	j = get_json("/api/v1/tasks?order=desc&limit=100");
	a = json_object_get(j, "tasks");
	assert_int_equal(json_array_size(a), 100);
	json_array_foreach(a, i, x) {
		json_int_t id = json_integer_value(json_object_get(x, "id"));
		if (i == 0)
			assert_int_equal(id, f->slow);
		else
			assert_true(id < json_integer_value(json_object_get(
					      json_array_get(a, i - 1), "id")));
	}
	want_str(j, "next_cursor");
	json_decref(j);

	/* The dead task: two attempts, both failed, with timings. */
	snprintf(path, sizeof(path), "/api/v1/tasks/%llu",
		 (unsigned long long)f->dead);
	j = get_json(path);
	assert_string_equal(json_string_value(json_object_get(j, "state")),
			    "dead");
	want_int(j, "started_ms");
	want_int(j, "ended_ms");
	a = json_object_get(j, "attempt_log");
	assert_int_equal(json_array_size(a), 2);
	json_array_foreach(a, i, x) {
		want_int(x, "attempt");
		want_str(x, "worker");
		want_int(x, "started_ms");
		want_int(x, "ended_ms");
		assert_string_equal(
			json_string_value(json_object_get(x, "outcome")),
			"failed");
	}
	json_decref(j);

	/* The task no worker fits: why, per worker. */
	snprintf(path, sizeof(path), "/api/v1/tasks/%llu",
		 (unsigned long long)f->big);
	j = get_json(path);
	x = json_object_get(j, "pending");
	want_str(x, "reason");
	a = json_object_get(x, "workers");
	assert_true(json_array_size(a) > 0);
	want_str(json_array_get(a, 0), "worker");
	want_str(json_array_get(a, 0), "why");
	json_decref(j);

	/* A sample a second: wait (bounded) for two. */
	for (int64_t end = td_now_ms() + 10000 * tu_slow();;) {
		j = get_json("/api/v1/history");
		a = json_object_get(j, "samples");
		if (json_array_size(a) >= 2 || td_now_ms() > end)
			break;
		json_decref(j);
		td_sleep_ms(200);
	}
	want_int(j, "interval_ms");
	assert_true(json_array_size(a) >= 2);
	json_array_foreach(a, i, x) {
		want_int(x, "t_ms");
		want_int(x, "ready");
		want_int(x, "leased");
		want_int(x, "pending");
		want_int(x, "completed");
		want_int(x, "failed");
	}
	json_decref(j);
}

/* ---- the page in a real browser ------------------------------------------ */

/* Whether prog is an executable in $PATH. */
static bool
in_path(const char *prog)
{
	const char *p = getenv("PATH");
	char buf[PATH_MAX];

	while (p && *p) {
		size_t n = strcspn(p, ":");
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
		if (n && access(buf, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

/* The source tree's tests/browser: $KSCHED_SRCDIR, the current directory
 * (make check runs there) or the build directory's parent. */
static bool
browser_dir(char *out, size_t len)
{
	char up[PATH_MAX], probe[PATH_MAX + 64];
	const char *cand[3] = {getenv("KSCHED_SRCDIR"), ".", up};

	snprintf(up, sizeof(up), "%.4000s/../..", td_bindir());
	for (int i = 0; i < 3; i++) {
		if (!cand[i] || !cand[i][0])
			continue;
		snprintf(probe, sizeof(probe),
			 "%.4000s/tests/browser/dashboard.mjs", cand[i]);
		if (access(probe, R_OK) == 0) {
			snprintf(out, len, "%.3900s/tests/browser", cand[i]);
			return true;
		}
	}
	return false;
}

/*
 * Run argv (node and its script) in its own process group, output to log;
 * wait at most timeout_ms, then SIGTERM (playwright closes its browser on
 * it), then SIGKILL.  The exit status, or -1 if it had to be stopped.
 */
static int
run_bounded(const char *const *argv, const char *log, int timeout_ms)
{
	pid_t pid = fork();
	int64_t end = td_now_ms() + timeout_ms;
	int status;

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		setpgid(0, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_true(pid > 0);
	while (td_now_ms() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		td_sleep_ms(50);
	}
	fprintf(stderr, "%s: no answer in %d ms, stopping it\n", argv[0],
		timeout_ms);
	if (td_stop(pid, 10000) == -1)
		kill(-pid, SIGKILL); /* what it left in its group */
	return -1;
}

static void
print_file(const char *path)
{
	char line[1024];
	FILE *fp = fopen(path, "r");

	while (fp && fgets(line, sizeof(line), fp))
		fprintf(stderr, "    | %s", line);
	if (fp)
		fclose(fp);
}

static void
test_dashboard_in_browser(void **state)
{
	struct fx *f = *state;
	const char *chromium = getenv("CHROMIUM") ? getenv("CHROMIUM")
						  : "/usr/bin/chromium";
	const char *keep = getenv("KSCHED_DASH_SCREENSHOT");
	char dir[PATH_MAX], script[2 * PATH_MAX], mods[2 * PATH_MAX];
	char url[160], png[700], log[700], dead[24], big[24], timeout[24];
	char workers[64] = "", ntasks[16];
	unsigned char magic[8] = {0};
	FILE *fp;
	int rc;

	if (!in_path("node")) {
		print_message("skip: node is not installed (make deps)\n");
		skip();
	}
	if (access(chromium, X_OK) != 0) {
		print_message("skip: no chromium at %s (apt-get install "
			      "chromium, or set CHROMIUM)\n",
			      chromium);
		skip();
	}
	if (!browser_dir(dir, sizeof(dir))) {
		print_message("skip: tests/browser not found (run from the "
			      "source tree or set KSCHED_SRCDIR)\n");
		skip();
	}
	snprintf(mods, sizeof(mods), "%s/node_modules/playwright-core", dir);
	if (access(mods, R_OK) != 0) {
		print_message("skip: %s is missing (npm ci in tests/browser; "
			      "make check does it)\n",
			      mods);
		skip();
	}
	snprintf(script, sizeof(script), "%s/dashboard.mjs", dir);
	snprintf(url, sizeof(url), "http://%s/", f->http);
	snprintf(png, sizeof(png), "%s", keep ? keep : "");
	if (!keep)
		snprintf(png, sizeof(png), "%s/dashboard.png", f->cl.dir);
	snprintf(log, sizeof(log), "%s/browser.log", f->cl.dir);
	for (int i = 0; i < NWORKERS; i++)
		snprintf(workers + strlen(workers),
			 sizeof(workers) - strlen(workers), "%sw%d",
			 i ? "," : "", i);
	snprintf(ntasks, sizeof(ntasks), "%d", NBUSY + NOK + 3);
	snprintf(dead, sizeof(dead), "%llu", (unsigned long long)f->dead);
	snprintf(big, sizeof(big), "%llu", (unsigned long long)f->big);
	snprintf(timeout, sizeof(timeout), "%d", 60000 * tu_slow());
	{
		const char *argv[] = {"node", script, url, png,
				      "--workers", workers, "--tasks", ntasks,
				      "--dead", dead, "--attempts", "2",
				      "--pending", big, "--timeout-ms",
				      timeout, NULL};
		rc = run_bounded(argv, log, 120000 * tu_slow());
	}
	if (rc != 0) {
		print_file(log);
		fail_msg("dashboard.mjs failed (%d); its log is above", rc);
	}
	/* A screenshot, and a PNG. */
	fp = fopen(png, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(magic, 1, 8, fp), 8);
	fclose(fp);
	assert_memory_equal(magic, "\x89PNG\r\n\x1a\n", 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dashboard_get_root_serves_page),
		cmocka_unit_test(test_dashboard_api_has_what_page_reads),
		cmocka_unit_test(test_dashboard_in_browser),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
