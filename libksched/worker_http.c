/*
 * libksched - the worker's optional HTTP server: GET /metrics in the
 * Prometheus text format.  The worker has no event loop of its own (its
 * threads block on nng and on condition variables), so evhttp runs on a
 * small thread with its own event_base.  The metrics are read and the run
 * time histogram observed under w->mu.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

#include "alloc.h"
#include "http_util.h"
#include "log.h"
#include "worker_int.h"

#include "ksched/metrics.h"

enum { W_RUN, W_OK, W_FAILED, W_HB, W_REG, W_COUNT };

struct ksched__whttp {
	struct event_base *base;
	struct evhttp *http;
	pthread_t th;
	bool started;
	ksched_metrics *reg; /* under w->mu */
	ksched_metric *c[W_COUNT], *running, *slots, *queued, *registered,
		*run_s;
};

static const struct {
	const char *name, *help;
} wcounters[W_COUNT] = {
	{"ksched_worker_tasks_run_total", "Tasks run to an end."},
	{"ksched_worker_tasks_succeeded_total", "Tasks that succeeded."},
	{"ksched_worker_tasks_failed_total", "Tasks that failed."},
	{"ksched_worker_heartbeats_total", "Heartbeat surveys answered."},
	{"ksched_worker_registrations_total",
	 "Registrations with the master."},
};

/* Seconds, milliseconds to an hour. */
static const double run_b[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5,
			       5,     10,    30,   60,   300, 1800, 3600};

static ksched_err
registry(struct ksched__whttp *h)
{
	ksched_err e = ksched_metrics_new(&h->reg);
	static const struct {
		const char *name, *help;
		size_t off;
	} g[] = {
		{"ksched_worker_running", "Tasks running now.",
		 offsetof(struct ksched__whttp, running)},
		{"ksched_worker_slots", "Tasks it runs at once.",
		 offsetof(struct ksched__whttp, slots)},
		{"ksched_worker_queued", "Tasks leased, not started yet.",
		 offsetof(struct ksched__whttp, queued)},
		{"ksched_worker_registered",
		 "1 while it holds a session with the master.",
		 offsetof(struct ksched__whttp, registered)},
	};

	for (int i = 0; i < W_COUNT && !e; i++)
		e = ksched_metrics_add(h->reg, KSCHED_METRIC_COUNTER,
				       wcounters[i].name, wcounters[i].help,
				       NULL, &h->c[i]);
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]) && !e; i++)
		e = ksched_metrics_add(
			h->reg, KSCHED_METRIC_GAUGE, g[i].name, g[i].help,
			NULL, (ksched_metric **)((char *)h + g[i].off));
	if (!e)
		e = ksched_metrics_add_histogram(
			h->reg, "ksched_worker_run_seconds",
			"Run time of a task, start to end.", run_b,
			sizeof(run_b) / sizeof(run_b[0]), &h->run_s);
	return e;
}

/* The text, under w->mu. */
static ksched_err
scrape(ksched_worker *w, char **out, size_t *len)
{
	struct ksched__whttp *h = w->wh;
	const uint64_t v[W_COUNT] = {w->st.executed, w->st.succeeded,
				     w->st.failed, w->st.heartbeats,
				     w->st.registrations};
	ksched_err e = KSCHED_OK;

	for (int i = 0; i < W_COUNT && !e; i++)
		e = ksched_metric_set(h->c[i], NULL, (double)v[i]);
	if (!e)
		e = ksched_metric_set(h->running, NULL, (double)w->busy);
	if (!e)
		e = ksched_metric_set(h->slots, NULL, (double)w->nslots);
	if (!e)
		e = ksched_metric_set(h->queued, NULL, (double)w->queued);
	if (!e)
		e = ksched_metric_set(h->registered, NULL,
				      w->registered ? 1 : 0);
	if (!e)
		e = ksched_metrics_write(h->reg, out, len);
	return e;
}

static void
send_text(struct evhttp_request *req, int code, const char *reason,
	  const char *type, const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", type);
	if (b)
		evbuffer_add(b, body, len);
	ksched__http_send(req, b ? code : 500,
			  b ? reason : "Internal Server Error", b);
	if (b)
		evbuffer_free(b);
}

static void
request_cb(struct evhttp_request *req, void *arg)
{
	static const char nf[] = "{\"error\":\"no such path: try /metrics\"}\n";
	static const char na[] = "{\"error\":\"method not allowed: use GET\"}\n";
	ksched_worker *w = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char *text = NULL;
	size_t len = 0;
	ksched_err e;

	if (!path || strcmp(path, "/metrics")) {
		send_text(req, 404, "Not Found", "application/json", nf,
			  sizeof(nf) - 1);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		send_text(req, 405, "Method Not Allowed", "application/json",
			  na, sizeof(na) - 1);
		return;
	}
	pthread_mutex_lock(&w->mu);
	e = scrape(w, &text, &len);
	pthread_mutex_unlock(&w->mu);
	if (e) {
		send_text(req, 500, "Internal Server Error", "text/plain",
			  "out of memory\n", 14);
		return;
	}
	send_text(req, 200, "OK", "text/plain; version=0.0.4", text, len);
	ksched_free(text);
}

static void *
http_main(void *arg)
{
	ksched_worker *w = arg;

	event_base_dispatch(w->wh->base);
	return NULL;
}

static void
whttp_free(struct ksched__whttp *h)
{
	if (!h)
		return;
	if (h->http)
		evhttp_free(h->http);
	if (h->base)
		event_base_free(h->base);
	ksched_metrics_free(h->reg);
	ksched__free(h);
}

/* "HOST:PORT" (HOST may be [v6]); the bound one into w->http_bound. */
static ksched_err
listen_on(ksched_worker *w, struct ksched__whttp *h)
{
	struct evhttp_bound_socket *bs;
	char host[256];
	uint16_t port;

	if (ksched__http_split_addr(w->http_addr, host, sizeof(host), &port))
		return KSCHED_EINVAL;
	bs = evhttp_bind_socket_with_handle(h->http, host, port);
	if (!bs)
		return KSCHED_EIO;
	ksched__http_guard(bs);
	ksched__http_bound_name(evhttp_bound_socket_get_fd(bs), w->http_bound,
				sizeof(w->http_bound));
	return KSCHED_OK;
}

ksched_err
ksched__worker_http_start(ksched_worker *w)
{
	struct ksched__whttp *h;
	ksched_err e;

	if (!w->http_addr)
		return KSCHED_OK;
	if (evthread_use_pthreads() != 0 || !(h = ksched__calloc(1, sizeof(*h))))
		return KSCHED_ENOMEM;
	ksched__http_log_libevent();
	e = registry(h);
	if (!e && (!(h->base = event_base_new()) ||
		   !(h->http = evhttp_new(h->base))))
		e = KSCHED_ENOMEM;
	if (!e) {
		evhttp_set_max_headers_size(h->http, 8192);
		evhttp_set_max_body_size(h->http, 4096);
		evhttp_set_timeout(h->http, 10);
		evhttp_set_allowed_methods(
			h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
					 EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
					 EVHTTP_REQ_DELETE);
		evhttp_set_gencb(h->http, request_cb, w);
		e = listen_on(w, h);
		if (e)
			KLOG(KSCHED_LOG_ERR,
			     "msg=\"cannot serve http\" addr=\"%s\"",
			     w->http_addr);
	}
	if (!e) {
		w->wh = h;
		h->started = !pthread_create(&h->th, NULL, http_main, w);
		if (!h->started)
			e = KSCHED_ENOMEM;
	}
	if (e) {
		w->wh = NULL;
		whttp_free(h);
		return e;
	}
	KLOG(KSCHED_LOG_NOTICE, "msg=\"worker http\" worker=%s addr=%s", w->id,
	     w->http_bound);
	return KSCHED_OK;
}

void
ksched__worker_http_stop(ksched_worker *w)
{
	struct ksched__whttp *h = w->wh;

	if (!h)
		return;
	event_base_loopbreak(h->base);
	if (h->started)
		pthread_join(h->th, NULL);
	pthread_mutex_lock(&w->mu);
	w->wh = NULL;
	pthread_mutex_unlock(&w->mu);
	whttp_free(h);
	w->http_bound[0] = 0;
}

void
ksched__worker_http_observe(ksched_worker *w, int64_t run_ms)
{
	if (w->wh)
		ksched_metric_observe(w->wh->run_s, (double)run_ms / 1000);
}

ksched_err
ksched_worker_set_http(ksched_worker *w, const char *addr)
{
	char *copy = NULL;

	if (w->running)
		return KSCHED_ESTATE;
	if (addr && strcmp(addr, "none")) {
		const char *colon = strrchr(addr, ':');
		if (!colon || colon == addr || !colon[1])
			return KSCHED_EINVAL;
		if (!(copy = ksched__strdup(addr)))
			return KSCHED_ENOMEM;
	}
	ksched__free(w->http_addr);
	w->http_addr = copy;
	return KSCHED_OK;
}

const char *
ksched_worker_http_addr(const ksched_worker *w)
{
	return w->http_bound;
}
