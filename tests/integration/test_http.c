/*
 * The master's and a worker's HTTP servers, for real: ksched-master with
 * --http 127.0.0.1:0 (the port read from its ready file) and two workers
 * on ipc:// sockets in a temp dir.  Every route is fetched with libevent's
 * HTTP client and its JSON checked with jansson; cursor paging must cover
 * every task exactly once; a task too big for every worker must say why
 * per worker (over HTTP and through the control socket's status); both
 * /metrics pages must pass `promtool check metrics` (skipped when promtool
 * is missing); malformed requests must not hurt the master.
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "../testutil.h"
#include "cluster.h"
#include "ksched.h"

#define NTASKS 5

struct fx {
	struct tc_cluster cl;
	pid_t master, workers[2];
	pid_t extra; /* another master a test started, or 0 */
	int port, wport;
	ksched_client *c;
	uint64_t ids[NTASKS], big;
};

static void
start_worker(struct fx *f, int i, const char *id, const char *cpu)
{
	char ready[TC_PATH + 64];
	const char *extra[] = {"--cpu", cpu, "--mem", "1024", "--slots", "2",
			       "--http", "127.0.0.1:0", NULL};

	tc_start_worker(&f->cl, id, extra, &f->workers[i]);
	tc_worker_path(&f->cl, id, "ready", ready, sizeof(ready));
	if (i == 0)
		f->wport = tc_ready_port(ready);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *extra[] = {"--http", "127.0.0.1:0", "--sync", "none",
			       "--heartbeat-interval", "200", "--log-level",
			       "info", NULL};

	tc_init(&f->cl, "http");
	tc_start_master(&f->cl, extra, &f->master);
	f->port = tc_ready_port(f->cl.ready);
	assert_true(f->port > 0);
	start_worker(f, 0, "w-small", "1000");
	start_worker(f, 1, "w-mid", "2000");
	assert_true(f->wport > 0);
	assert_int_equal(ksched_client_open(f->cl.ctl, &f->c), KSCHED_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	int rc;

	if (f->extra > 0)
		td_stop(f->extra, 10000 * tu_slow());
	rc = tc_down(&f->cl, f->c, f->master, f->workers, 2, 10000);

	free(f);
	return rc;
}

/* ---- an HTTP client on libevent ------------------------------------------- */

struct resp {
	struct event_base *base;
	int code;
	char *body;
	char ctype[128];
};

static void
done_cb(struct evhttp_request *req, void *arg)
{
	struct resp *r = arg;

	if (req) {
		struct evbuffer *b = evhttp_request_get_input_buffer(req);
		const char *ct = evhttp_find_header(
			evhttp_request_get_input_headers(req), "Content-Type");
		size_t n = evbuffer_get_length(b);
		r->code = evhttp_request_get_response_code(req);
		r->body = calloc(1, n + 1);
		evbuffer_remove(b, r->body, n);
		snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "");
	}
	event_base_loopbreak(r->base);
}

/* Fetch path with method cmd; the status and body (caller frees). */
static int
fetch(int port, enum evhttp_cmd_type cmd, const char *path, char **body)
{
	struct resp r = {0};
	struct evhttp_connection *cn;
	struct evhttp_request *req;

	r.base = event_base_new();
	assert_non_null(r.base);
	cn = evhttp_connection_base_new(r.base, NULL, "127.0.0.1",
					(unsigned short)port);
	assert_non_null(cn);
	evhttp_connection_set_timeout(cn, 10 * tu_slow());
	req = evhttp_request_new(done_cb, &r);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
			  "127.0.0.1");
	assert_int_equal(evhttp_make_request(cn, req, cmd, path), 0);
	event_base_dispatch(r.base);
	evhttp_connection_free(cn);
	event_base_free(r.base);
	if (r.code == 200 && strstr(path, "/metrics") == path)
		assert_string_equal(r.ctype, "text/plain; version=0.0.4");
	else if (r.code)
		assert_string_equal(r.ctype, "application/json");
	*body = r.body ? r.body : strdup("");
	return r.code;
}

/* GET path, expect status; the JSON body (caller decrefs). */
static json_t *
get_json(struct fx *f, const char *path, int status)
{
	json_error_t err;
	char *body;
	int code = fetch(f->port, EVHTTP_REQ_GET, path, &body);
	json_t *o;

	if (code != status)
		fail_msg("GET %s: status %d, wanted %d (%s)", path, code,
			 status, body);
	o = json_loads(body, 0, &err);
	if (!o)
		fail_msg("GET %s: not JSON: %s (%s)", path, err.text, body);
	free(body);
	return o;
}

/* An error reply: the status, and a JSON {"error": "..."} naming what. */
static void
expect_error(struct fx *f, const char *path, int status, const char *says)
{
	json_t *o = get_json(f, path, status);
	const char *e = json_string_value(json_object_get(o, "error"));

	assert_non_null(e);
	if (!strstr(e, says))
		fail_msg("GET %s: error '%s' does not say '%s'", path, e, says);
	json_decref(o);
}

static int64_t
num(json_t *o, const char *path)
{
	char buf[128];
	json_t *v = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok(buf, "."); k && v; k = strtok(NULL, "."))
		v = json_object_get(v, k);
	if (!json_is_integer(v))
		fail_msg("%s: not an integer", path);
	return json_integer_value(v);
}

/* ---- the work ------------------------------------------------------------- */

static ksched_task *
exec_task(const char *arg, int64_t cpu)
{
	return tc_exec_task("/bin/echo", arg, NULL, cpu, 16);
}

/* NTASKS tasks that run, then one too big for every worker. */
static void
submit_work(struct fx *f)
{
	const ksched_task *ts[NTASKS];
	ksched_task *t[NTASKS];
	char arg[32];

	for (int i = 0; i < NTASKS; i++) {
		snprintf(arg, sizeof(arg), "http-%d", i);
		ts[i] = t[i] = exec_task(arg, 500);
	}
	assert_int_equal(ksched_client_submit(f->c, ts, NTASKS, f->ids, NULL),
			 0);
	for (int i = 0; i < NTASKS; i++)
		ksched_task_free(t[i]);
	tc_wait_all(f->c, f->ids, NTASKS, 20000);
	f->big = tc_submit(f->c, exec_task("big", 8000));
}

/* Until a dispatch has looked at the big task (bounded). */
static void
wait_explained(struct fx *f)
{
	struct ksched_task_status st;
	int64_t end = td_now_ms() + 10000 * tu_slow();

	do {
		assert_int_equal(ksched_client_status(f->c, &f->big, 1, &st), 0);
		if (st.pending_reason[0])
			return;
		td_sleep_ms(50);
	} while (td_now_ms() < end);
	fail_msg("the big task got no pending reason");
}

static void
test_http_stats_workers_history(void **state)
{
	struct fx *f = *state;
	json_t *o, *ws;
	int64_t end = td_now_ms() + 5000 * tu_slow();

	submit_work(f);
	o = get_json(f, "/api/v1/stats", 200);
	assert_int_equal(num(o, "tasks.succeeded"), NTASKS);
	assert_int_equal(num(o, "tasks.ready"), 1);
	assert_int_equal(num(o, "tasks.pending"), 0);
	assert_int_equal(num(o, "workers.alive"), 2);
	assert_int_equal(num(o, "counters.submitted"), NTASKS + 1);
	assert_int_equal(num(o, "counters.completed"), NTASKS);
	assert_int_equal(num(o, "counters.failed"), 0);
	assert_int_equal(num(o, "resources.cpu_milli.total"), 3000);
	assert_int_equal(num(o, "resources.mem_mb.total"), 2048);
	assert_true(num(o, "uptime_ms") > 0);
	assert_true(num(o, "now_ms") > 0);
	assert_string_equal(json_string_value(json_object_get(o, "policy")),
			    "least_loaded");
	json_decref(o);

	o = get_json(f, "/api/v1/workers", 200);
	ws = json_object_get(o, "workers");
	assert_int_equal(json_array_size(ws), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *w = json_array_get(ws, i);
		const char *id = json_string_value(json_object_get(w, "id"));
		assert_non_null(id);
		assert_int_equal(num(w, "capacity.cpu_milli"),
				 strcmp(id, "w-small") ? 2000 : 1000);
		assert_int_equal(num(w, "capacity.slots"), 2);
		assert_int_equal(num(w, "allocated.cpu_milli"), 0);
		assert_string_equal(
			json_string_value(json_object_get(w, "state")), "alive");
		assert_true(json_is_object(json_object_get(w, "labels")));
		assert_true(num(w, "last_seen_ms") > 0);
	}
	json_decref(o);

	/* A sample a second: wait (bounded) for one after the tasks ran. */
	for (;;) {
		json_t *s;
		o = get_json(f, "/api/v1/history", 200);
		assert_int_equal(num(o, "interval_ms"), 1000);
		s = json_object_get(o, "samples");
		assert_true(json_is_array(s));
		if (json_array_size(s) > 0) {
			json_t *last = json_array_get(s, json_array_size(s) - 1);
			int64_t done = 0;
			for (size_t i = 0; i < json_array_size(s); i++)
				done += num(json_array_get(s, i), "completed");
			assert_true(num(last, "t_ms") > 0);
			if (done == NTASKS && num(last, "ready") == 1) {
				json_decref(o);
				break;
			}
		}
		json_decref(o);
		if (td_now_ms() > end)
			fail_msg("history never showed the finished tasks");
		td_sleep_ms(200);
	}
}

/* Page through /api/v1/tasks; every id of want[] seen exactly once. */
static void
page_all(struct fx *f, const char *filter, const uint64_t *want, size_t n)
{
	char path[256], cursor[64] = "";
	int seen[NTASKS + 1] = {0};
	size_t total = 0;

	for (int page = 0; page < 20; page++) {
		json_t *o, *ts, *next;
		snprintf(path, sizeof(path), "/api/v1/tasks?limit=2%s%s%s",
			 filter, cursor[0] ? "&cursor=" : "", cursor);
		o = get_json(f, path, 200);
		ts = json_object_get(o, "tasks");
		assert_true(json_array_size(ts) <= 2);
		for (size_t i = 0; i < json_array_size(ts); i++) {
			json_t *t = json_array_get(ts, i);
			uint64_t id = (uint64_t)num(t, "id");
			size_t k = 0;
			while (k < n && want[k] != id)
				k++;
			if (k == n)
				fail_msg("task %llu not expected",
					 (unsigned long long)id);
			seen[k]++;
			total++;
			assert_non_null(json_object_get(t, "state"));
			assert_string_equal(
				json_string_value(json_object_get(t, "kind")),
				"exec");
			assert_true(num(t, "submitted_ms") > 0);
		}
		next = json_object_get(o, "next_cursor");
		if (json_is_null(next)) {
			json_decref(o);
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
		json_decref(o);
	}
	assert_int_equal(total, n);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(seen[k], 1);
}

static void
test_http_tasks_and_pending_reason(void **state)
{
	struct fx *f = *state;
	uint64_t all[NTASKS + 1];
	struct ksched_task_status st;
	char path[128];
	json_t *o, *p, *ws, *log;

	submit_work(f);
	memcpy(all, f->ids, sizeof(f->ids));
	all[NTASKS] = f->big;
	page_all(f, "&state=succeeded", f->ids, NTASKS);
	page_all(f, "", all, NTASKS + 1);
	page_all(f, "&state=ready", &f->big, 1);

	/* A task that ran: its attempt, its worker, its times. */
	snprintf(path, sizeof(path), "/api/v1/tasks/%llu",
		 (unsigned long long)f->ids[0]);
	o = get_json(f, path, 200);
	assert_string_equal(json_string_value(json_object_get(o, "state")),
			    "succeeded");
	assert_int_equal(num(o, "attempts"), 1);
	assert_true(num(o, "ended_ms") >= num(o, "started_ms"));
	assert_true(json_is_null(json_object_get(o, "pending")));
	log = json_object_get(o, "attempt_log");
	assert_int_equal(json_array_size(log), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(log, 0), "outcome")),
			    "ok");
	assert_int_equal(num(json_array_get(log, 0), "attempt"), 1);
	assert_non_null(json_string_value(
		json_object_get(json_array_get(log, 0), "worker")));
	json_decref(o);

	/* The big one: why, per worker, naming the resource. */
	wait_explained(f);
	snprintf(path, sizeof(path), "/api/v1/tasks/%llu",
		 (unsigned long long)f->big);
	o = get_json(f, path, 200);
	assert_string_equal(json_string_value(json_object_get(o, "state")),
			    "ready");
	assert_true(json_is_null(json_object_get(o, "started_ms")));
	p = json_object_get(o, "pending");
	assert_true(json_is_object(p));
	assert_non_null(strstr(json_string_value(json_object_get(p, "reason")),
			       "no worker is large enough"));
	ws = json_object_get(p, "workers");
	assert_int_equal(json_array_size(ws), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *w = json_array_get(ws, i);
		const char *id = json_string_value(json_object_get(w, "worker"));
		const char *why = json_string_value(json_object_get(w, "why"));
		assert_non_null(id);
		assert_non_null(why);
		assert_string_equal(why, strcmp(id, "w-small")
						 ? "cpu: needs 8000, has 2000"
						 : "cpu: needs 8000, has 1000");
	}
	json_decref(o);

	/* The control socket's status (kschedctl status) says the same. */
	assert_int_equal(ksched_client_status(f->c, &f->big, 1, &st), 0);
	assert_non_null(strstr(st.pending_reason, "no worker is large enough"));
	assert_non_null(strstr(st.pending_reason,
			       "w-small: cpu: needs 8000, has 1000"));
	assert_non_null(strstr(st.pending_reason,
			       "w-mid: cpu: needs 8000, has 2000"));
}

/* GET a page of /api/v1/tasks?order=desc: its ids (strictly decreasing)
 * appended to out[*n..cap), and its next_cursor into cursor ("" if null). */
static void
desc_page(struct fx *f, const char *query, uint64_t *out, size_t *n,
	  size_t cap, char *cursor, size_t curlen)
{
	char path[256];
	json_t *o, *ts, *next;

	snprintf(path, sizeof(path), "/api/v1/tasks?order=desc%s%s%s", query,
		 cursor[0] ? "&cursor=" : "", cursor);
	o = get_json(f, path, 200);
	ts = json_object_get(o, "tasks");
	for (size_t i = 0; i < json_array_size(ts); i++) {
		uint64_t id = (uint64_t)num(json_array_get(ts, i), "id");
		if (*n && id >= out[*n - 1])
			fail_msg("GET %s: id %llu after %llu", path,
				 (unsigned long long)id,
				 (unsigned long long)out[*n - 1]);
		if (*n == cap)
			fail_msg("GET %s: more tasks than exist", path);
		out[(*n)++] = id;
	}
	next = json_object_get(o, "next_cursor");
	snprintf(cursor, curlen, "%s",
		 json_is_null(next) ? "" : json_string_value(next));
	json_decref(o);
}

/* Every page of a descending listing: want[0..nwant), newest first. */
static void
desc_all(struct fx *f, const char *filter, int per, const uint64_t *want,
	 size_t nwant)
{
	char query[96], cursor[64] = "";
	uint64_t got[16];
	size_t n = 0;

	snprintf(query, sizeof(query), "&limit=%d%s", per, filter);
	for (int page = 0; page < 20; page++) {
		size_t before = n;
		desc_page(f, query, got, &n, 16, cursor, sizeof(cursor));
		assert_true(n - before <= (size_t)per);
		if (!cursor[0])
			break;
		assert_int_equal(n - before, per);
	}
	assert_false(cursor[0]);
	if (n != nwant)
		fail_msg("order=desc%s: %zu tasks, wanted %zu", query, n, nwant);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
}

static int
cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

static void
test_http_tasks_newest_first(void **state)
{
	struct fx *f = *state;
	const ksched_task *ts[4];
	ksched_task *t[4];
	uint64_t more[4], all[NTASKS + 5], succ[NTASKS], got[16];
	uint64_t ready[3], canceled[2];
	char cursor[64] = "", path[160];
	size_t n = 0;

	/* Ids interleave states: succeeded, then big ones that stay ready,
	 * of which the second and fourth are canceled.  Each differs, or it
	 * would wait on the first (single flight) as a leased task. */
	submit_work(f);
	for (int i = 0; i < 4; i++) {
		char arg[32];
		snprintf(arg, sizeof(arg), "big-%d", i);
		ts[i] = t[i] = exec_task(arg, 8000);
	}
	assert_int_equal(ksched_client_submit(f->c, ts, 4, more, NULL), 0);
	for (int i = 0; i < 4; i++)
		ksched_task_free(t[i]);
	canceled[0] = more[3];
	canceled[1] = more[1];
	assert_int_equal(ksched_client_cancel(f->c, canceled, 2, NULL), 0);
	memcpy(all, f->ids, sizeof(f->ids));
	all[NTASKS] = f->big;
	memcpy(all + NTASKS + 1, more, sizeof(more));
	qsort(all, NTASKS + 5, sizeof(all[0]), cmp_desc);
	memcpy(succ, f->ids, sizeof(succ));
	qsort(succ, NTASKS, sizeof(succ[0]), cmp_desc);
	ready[0] = more[2];
	ready[1] = more[0];
	ready[2] = f->big;

	for (int per = 1; per <= 10; per++)
		desc_all(f, "", per, all, NTASKS + 5);
	for (int per = 1; per <= 3; per++) {
		desc_all(f, "&state=ready", per, ready, 3);
		desc_all(f, "&state=succeeded", per, succ, NTASKS);
		desc_all(f, "&state=canceled", per, canceled, 2);
	}
	desc_all(f, "&state=dead", 2, NULL, 0);

	/* A cursor belongs to its order and its filter. */
	desc_page(f, "&limit=3", got, &n, 16, cursor, sizeof(cursor));
	assert_true(cursor[0]);
	snprintf(path, sizeof(path), "/api/v1/tasks?cursor=%s", cursor);
	expect_error(f, path, 400, "other order");
	snprintf(path, sizeof(path),
		 "/api/v1/tasks?order=desc&state=ready&cursor=%s", cursor);
	expect_error(f, path, 400, "another state filter");
	expect_error(f, "/api/v1/tasks?order=desc&cursor=5.1", 400,
		     "other order");
	expect_error(f, "/api/v1/tasks?order=desc&cursor=d3.9", 400,
		     "another state filter");
	expect_error(f, "/api/v1/tasks?order=desc&cursor=d.0", 400, "cursor");

	/* A task that changes state between pages is listed once: cancel
	 * the oldest big one (ready, below the cursor), then go on. */
	assert_int_equal(n, 3);
	assert_int_equal(ksched_client_cancel(f->c, &more[0], 1, NULL), 0);
	for (int page = 0; page < 20 && cursor[0]; page++)
		desc_page(f, "&limit=3", got, &n, 16, cursor, sizeof(cursor));
	assert_false(cursor[0]);
	assert_int_equal(n, NTASKS + 5);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], all[i]);
}

static void
test_http_errors(void **state)
{
	struct fx *f = *state;
	char *body;
	json_t *o;

	expect_error(f, "/nope", 404, "no such path");
	expect_error(f, "/api/v1/nope", 404, "no such path");
	expect_error(f, "/api/v1/tasks/999999", 404, "no task 999999");
	expect_error(f, "/api/v1/tasks/abc", 400, "must be a number");
	expect_error(f, "/api/v1/tasks?limit=0", 400, "limit");
	expect_error(f, "/api/v1/tasks?limit=1001", 400, "limit");
	expect_error(f, "/api/v1/tasks?limit=x", 400, "limit");
	expect_error(f, "/api/v1/tasks?state=bogus", 400, "state");
	expect_error(f, "/api/v1/tasks?cursor=zz", 400, "cursor");
	expect_error(f, "/api/v1/tasks?cursor=9.1", 400, "cursor");
	expect_error(f, "/api/v1/tasks?state=ready&cursor=3.1", 400, "cursor");
	expect_error(f, "/api/v1/tasks?order=newest", 400, "order: asc or desc");
	expect_error(f, "/api/v1/tasks?cursor=d.5", 400, "other order");
	expect_error(f, "/api/v1/tasks?color=red", 400, "unknown parameter");
	expect_error(f, "/api/v1/stats?x=1", 400, "no parameters");
	assert_int_equal(fetch(f->port, EVHTTP_REQ_POST, "/api/v1/tasks",
			       &body),
			 405);
	o = json_loads(body, 0, NULL);
	assert_non_null(json_string_value(json_object_get(o, "error")));
	json_decref(o);
	free(body);
	assert_int_equal(fetch(f->port, EVHTTP_REQ_DELETE, "/metrics", &body),
			 405);
	free(body);
	assert_int_equal(fetch(f->wport, EVHTTP_REQ_GET, "/nope", &body), 404);
	free(body);
	/* An empty list is a list. */
	o = get_json(f, "/api/v1/tasks?state=dead", 200);
	assert_int_equal(json_array_size(json_object_get(o, "tasks")), 0);
	assert_true(json_is_null(json_object_get(o, "next_cursor")));
	json_decref(o);
}

/* Pipe text to `promtool check metrics`; its exit status. */
static int
promtool(const char *text, const char *dir, const char *name)
{
	char cmd[1400], path[700];
	FILE *p;

	snprintf(path, sizeof(path), "%s/%s.txt", dir, name);
	snprintf(cmd, sizeof(cmd), "promtool check metrics >'%s' 2>&1", path);
	p = popen(cmd, "w");
	assert_non_null(p);
	fputs(text, p);
	return pclose(p);
}

static void
test_http_metrics_pass_promtool(void **state)
{
	struct fx *f = *state;
	char *m, *w;

	submit_work(f);
	assert_int_equal(fetch(f->port, EVHTTP_REQ_GET, "/metrics", &m), 200);
	assert_int_equal(fetch(f->wport, EVHTTP_REQ_GET, "/metrics", &w), 200);
	/* The figures are the ones of the run. */
	assert_non_null(strstr(m, "\nksched_tasks_submitted_total 6\n"));
	assert_non_null(strstr(m, "\nksched_tasks_completed_total 5\n"));
	assert_non_null(strstr(m, "\nksched_tasks{state=\"ready\"} 1\n"));
	assert_non_null(strstr(m, "\nksched_workers{state=\"alive\"} 2\n"));
	assert_non_null(strstr(
		m, "\nksched_resources_capacity{resource=\"cpu_milli\"} 3000\n"));
	assert_non_null(strstr(m, "\nksched_queue_wait_seconds_count 5\n"));
	assert_non_null(strstr(m, "\nksched_run_seconds_count 5\n"));
	assert_non_null(strstr(m, "ksched_store_commit_seconds_bucket{le=\"+Inf\"}"));
	assert_non_null(strstr(m, "ksched_dispatch_seconds_count"));
	assert_non_null(strstr(w, "ksched_worker_tasks_run_total"));
	assert_non_null(strstr(w, "ksched_worker_slots 2\n"));
	assert_non_null(strstr(w, "ksched_worker_heartbeats_total"));
	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		free(m);
		free(w);
		fprintf(stderr, "promtool not found (Debian package "
				"prometheus): not checking the format\n");
		skip();
	}
	if (promtool(m, f->cl.dir, "master-promtool") != 0)
		fail_msg("promtool rejects the master's /metrics (see %s)",
			 f->cl.dir);
	if (promtool(w, f->cl.dir, "worker-promtool") != 0)
		fail_msg("promtool rejects the worker's /metrics (see %s)",
			 f->cl.dir);
	free(m);
	free(w);
}

/* Raw bytes to the HTTP port; the connection is then closed. */
static void
raw_send(int port, const char *bytes, size_t n, bool read_reply)
{
	struct sockaddr_in sa = {0};
	struct timeval tv = {2, 0};
	char buf[512];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (write(fd, bytes, n) < 0)
		fprintf(stderr, "write: closed early (fine)\n");
	if (read_reply)
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	close(fd);
}

static void
test_http_malformed_requests(void **state)
{
	struct fx *f = *state;
	static const char *junk[] = {
		"GARBAGE\r\n\r\n",
		"GET\r\n\r\n",
		"GET /api/v1/stats HTTP/9.9\r\n\r\n",
		"GET /api/v1/tasks?limit=%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /api/v1/tasks/%00 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /api/v1/tasks?cursor=0.18446744073709551616 HTTP/1.1\r\n"
		"Host: x\r\n\r\n",
		"POST /metrics HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\n", /* never ends */
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* TLS hello */
	};
	uint64_t seed = 7;
	char *big = malloc(64 * 1024);
	json_t *o;

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		raw_send(f->port, junk[i], strlen(junk[i]), i != 7);
	/* Headers far past the limit, and random bytes. */
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memset(big + 19, 'a', 64 * 1024 - 19);
	raw_send(f->port, big, 64 * 1024, true);
	for (int i = 0; i < 20; i++) {
		size_t n = 1 + tu_rand(&seed) % 2000;
		for (size_t k = 0; k < n; k++)
			big[k] = (char)tu_rand(&seed);
		raw_send(f->port, big, n, false);
		raw_send(f->wport, big, n, false);
	}
	free(big);
	/* Still serving, and still scheduling. */
	o = get_json(f, "/api/v1/stats", 200);
	assert_int_equal(num(o, "workers.alive"), 2);
	json_decref(o);
	submit_work(f);
	assert_true(td_alive(f->master));
	assert_true(td_alive(f->workers[0]));
}

/* A raw connection to 127.0.0.1:port, reads time out after 5 s. */
static int
raw_connect(int port)
{
	struct sockaddr_in sa = {0};
	struct timeval tv = {5, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send req on fd and read to EOF (bounded by buf); the bytes read. */
static size_t
raw_exchange(int fd, const char *req, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	assert_true(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	while (got + 1 < len && (n = read(fd, buf + got, len - got - 1)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	return got;
}

/*
 * HEAD then GET of path on one keep-alive connection: the HEAD's reply
 * is headers only, with the Content-Length of the GET's body.
 */
static void
head_then_get(int port, const char *path)
{
	char req[512], head[8192], *get = malloc(256 * 1024);
	const char *cl, *body, *end;
	size_t got = 0;
	ssize_t n;
	int fd = raw_connect(port);

	assert_true(fd >= 0);
	snprintf(req, sizeof(req), "HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	assert_true(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	head[0] = 0;
	while (!strstr(head, "\r\n\r\n") && got + 1 < sizeof(head) &&
	       (n = read(fd, head + got, sizeof(head) - got - 1)) > 0) {
		got += (size_t)n;
		head[got] = 0;
	}
	end = strstr(head, "\r\n\r\n");
	assert_non_null(end);
	if ((size_t)(end + 4 - head) != got)
		fail_msg("HEAD %s: %zu bytes after the headers", path,
			 got - (size_t)(end + 4 - head));
	cl = strstr(head, "Content-Length: ");
	assert_non_null(cl);
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		 path);
	raw_exchange(fd, req, get, 256 * 1024);
	close(fd);
	if (memcmp(get, "HTTP/1.1 ", 9) != 0)
		fail_msg("GET %s after HEAD: reply starts '%.20s'", path, get);
	body = strstr(get, "\r\n\r\n");
	assert_non_null(body);
	assert_int_equal(strtoul(cl + 16, NULL, 10), strlen(body + 4));
	free(get);
}

static void
test_http_head_has_no_body(void **state)
{
	struct fx *f = *state;

	head_then_get(f->port, "/");
	head_then_get(f->port, "/nope");
	head_then_get(f->port, "/api/v1/tasks?limit=x");
	head_then_get(f->port, "/api/v1/tasks/999999");
	head_then_get(f->wport, "/nope");
}

/* Run the shell script as a task to its end; GET /api/v1/tasks/ID. */
static json_t *
failed_task(struct fx *f, const char *script, uint64_t *id)
{
	char path[64];

	*id = tc_submit(f->c, tc_exec_task("/bin/sh", "-c", script, 500, 16));
	tc_wait_all(f->c, id, 1, 20000);
	snprintf(path, sizeof(path), "/api/v1/tasks/%llu",
		 (unsigned long long)*id);
	return get_json(f, path, 200);
}

/* Bytes that are not UTF-8, from a request or a task, stay JSON. */
static void
test_http_invalid_utf8(void **state)
{
	struct fx *f = *state;
	char buf[8192], *body;
	const char *e;
	uint64_t id;
	json_t *o;
	int fd;

	expect_error(f, "/api/v1/tasks?state=%FF", 400, "state");
	/* The %.40s cut falls inside the U+00E9. */
	expect_error(f,
		     "/api/v1/tasks?state=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		     "aa%C3%A9",
		     400, "state");
	expect_error(f, "/api/v1/tasks?xx%FF=1", 400, "unknown parameter");
	/* A raw 0xff in the path. */
	fd = raw_connect(f->port);
	assert_true(fd >= 0);
	raw_exchange(fd,
		     "GET /a\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		     buf, sizeof(buf));
	close(fd);
	if (strncmp(buf, "HTTP/1.1 404 Not Found", 22) &&
	    strncmp(buf, "HTTP/1.1 400 Bad Request", 24))
		fail_msg("raw 0xff path: '%.60s'", buf);
	if (!strncmp(buf, "HTTP/1.1 404", 12)) {
		o = json_loads(strstr(buf, "\r\n\r\n") + 4, 0, NULL);
		assert_non_null(json_string_value(json_object_get(o, "error")));
		json_decref(o);
	}
	/* A task whose stderr is not UTF-8 still has its error. */
	o = failed_task(f, "printf '\\351\\351' >&2; exit 3", &id);
	e = json_string_value(json_object_get(o, "error"));
	if (!e || !strstr(e, "exit status 3"))
		fail_msg("task %llu: error '%s'", (unsigned long long)id,
			 e ? e : "(none)");
	json_decref(o);
	/*
	 * An attempt's error is kept to 95 bytes: "exit status 3: " and 79
	 * 'x' are 94, so the cut falls inside the U+00E9 that follows.
	 */
	o = failed_task(f,
			"head -c 79 /dev/zero | tr '\\0' x >&2; "
			"printf '\\303\\251\\303\\251' >&2; exit 3",
			&id);
	e = json_string_value(json_object_get(
		json_array_get(json_object_get(o, "attempt_log"), 0), "error"));
	if (!e || strlen(e) != 94 || strncmp(e, "exit status 3: xxx", 18))
		fail_msg("task %llu: attempt error '%s'",
			 (unsigned long long)id, e ? e : "(none)");
	json_decref(o);
	/* And the list of tasks shows it too. */
	assert_int_equal(fetch(f->port, EVHTTP_REQ_GET, "/api/v1/tasks?state=dead",
			       &body),
			 200);
	assert_non_null(strstr(body, "exit status 3"));
	free(body);
}

/* Cursors and filters that parse but cannot be meant: 400. */
static void
test_http_bad_cursor_and_nul(void **state)
{
	struct fx *f = *state;

	expect_error(f, "/api/v1/tasks?cursor=0.18446744073709551615", 400,
		     "cursor");
	expect_error(f, "/api/v1/tasks?state=%00", 400, "NUL");
	expect_error(f, "/api/v1/tasks?limit=%00", 400, "NUL");
	/* An empty state is still no filter. */
	json_decref(get_json(f, "/api/v1/tasks?state=", 200));
}

/* Lines in the file at path. */
static size_t
count_lines(const char *path)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;
	int c;

	if (!fp)
		return 0;
	while ((c = getc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

/* ksched-master with RLIMIT_NOFILE at nofile; its PID. */
static pid_t
start_master_nofile(const char *dir, const char *log, const char *ready,
		    rlim_t nofile)
{
	char exe[PATH_MAX + 64], data[700], ctl[700], dsp[700], hbt[700];
	const char *argv[] = {exe,	     "--data",	     data,
			      "--control",   ctl,	     "--dispatch",
			      dsp,	     "--heartbeat",  hbt,
			      "--ready-file", ready,	     "--http",
			      "127.0.0.1:0", "--log-level", "info",
			      "--sync",	     "none",	     NULL};
	pid_t pid;

	snprintf(exe, sizeof(exe), "%s/ksched-master", td_bindir());
	snprintf(data, sizeof(data), "%s/data-nofile", dir);
	snprintf(ctl, sizeof(ctl), "ipc://%s/c-nofile.ipc", dir);
	snprintf(dsp, sizeof(dsp), "ipc://%s/d-nofile.ipc", dir);
	snprintf(hbt, sizeof(hbt), "ipc://%s/h-nofile.ipc", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {nofile, nofile};
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDWR);
		if (fd >= 0)
			dup2(fd, 2);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			_exit(126);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/*
 * Out of descriptors: 100 connections held open against a master allowed
 * 64 fds.  Its log stays small (no accept() retried in a loop), and once
 * they close the API answers again.
 */
static void
test_http_fd_exhaustion(void **state)
{
	struct fx *f = *state;
	enum { NCONN = 100 };
	char log[700], ready[700], *body = NULL;
	int fds[NCONN], port, code = 0;
	size_t before, after;
	pid_t pid;
	int64_t end;

	snprintf(log, sizeof(log), "%s/nofile.log", f->cl.dir);
	snprintf(ready, sizeof(ready), "%s/nofile.ready", f->cl.dir);
	pid = f->extra = start_master_nofile(f->cl.dir, log, ready, 64);
	if (td_wait_file(ready, pid, 10000 * tu_slow()))
		fail_msg("master with 64 fds did not start (log %s)", log);
	port = tc_ready_port(ready);
	assert_true(port > 0);
	before = count_lines(log);
	for (int i = 0; i < NCONN; i++) {
		fds[i] = raw_connect(port);
		assert_true(fds[i] >= 0);
	}
	/* Long enough for a spinning accept() to write a great many lines. */
	td_sleep_ms(1500);
	after = count_lines(log);
	assert_true(td_alive(pid));
	if (after - before > 20)
		fail_msg("%zu log lines while out of fds (see %s)",
			 after - before, log);
	for (int i = 0; i < NCONN; i++)
		close(fds[i]);
	end = td_now_ms() + 10000 * tu_slow();
	while (code != 200 && td_now_ms() < end) {
		free(body);
		code = fetch(port, EVHTTP_REQ_GET, "/api/v1/stats", &body);
		if (code != 200)
			td_sleep_ms(100);
	}
	free(body);
	assert_int_equal(code, 200);
	f->extra = 0;
	assert_int_equal(td_stop(pid, 10000 * tu_slow()), 0);
}

/* Whether file path contains s. */
static bool
file_has(const char *path, const char *s)
{
	char buf[4096] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return strstr(buf, s) != NULL;
}

/* A bad --http, or a port in use, stops the master at start, saying so. */
static void
test_http_bad_address_is_a_startup_error(void **state)
{
	struct fx *f = *state;
	static const char *bad[] = {"nonsense", "127.0.0.1:99999", ":80",
				    "127.0.0.1:x", NULL};
	char data[640], log[640], taken[64];
	const char *args[] = {"--http", NULL, "--data", data, "--control",
			      "ipc:///nonexistent-ksched/c", NULL};
	int status;

	snprintf(data, sizeof(data), "%s/data2", f->cl.dir);
	snprintf(log, sizeof(log), "%s/bad.log", f->cl.dir);
	snprintf(taken, sizeof(taken), "127.0.0.1:%d", f->port);
	/* The control URL would fail too: the address is checked first. */
	for (int i = 0; bad[i]; i++) {
		pid_t p;
		args[1] = bad[i];
		p = td_start("ksched-master", log, args);
		assert_int_equal(waitpid(p, &status, 0), p);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	}
	assert_true(file_has(log, "--http"));
	/* The running master's port: taken. */
	snprintf(data, sizeof(data), "%s/data3", f->cl.dir);
	snprintf(log, sizeof(log), "%s/taken.log", f->cl.dir);
	{
		char ctl[640], dsp[640], hbt[640];
		const char *a2[] = {"--http", taken, "--data", data,
				    "--control", ctl, "--dispatch", dsp,
				    "--heartbeat", hbt, NULL};
		pid_t p;
		snprintf(ctl, sizeof(ctl), "ipc://%s/c2.ipc", f->cl.dir);
		snprintf(dsp, sizeof(dsp), "ipc://%s/d2.ipc", f->cl.dir);
		snprintf(hbt, sizeof(hbt), "ipc://%s/h2.ipc", f->cl.dir);
		p = td_start("ksched-master", log, a2);
		assert_int_equal(waitpid(p, &status, 0), p);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	}
	assert_true(file_has(log, "http: cannot listen on"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_http_stats_workers_history),
		T(test_http_tasks_and_pending_reason),
		T(test_http_tasks_newest_first),
		T(test_http_errors),
		T(test_http_metrics_pass_promtool),
		T(test_http_malformed_requests),
		T(test_http_bad_address_is_a_startup_error),
		T(test_http_head_has_no_body),
		T(test_http_invalid_utf8),
		T(test_http_bad_cursor_and_nul),
		T(test_http_fd_exhaustion),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
