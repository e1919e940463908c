/*
 * libksched - the master's HTTP server: libevent's evhttp on the master's
 * own event_base, so every handler runs on the loop thread and reads the
 * core directly, between turns.  Serves /metrics (Prometheus text) and the
 * JSON API under /api/v1/ (master_api.c).  Only GET (and HEAD) is served;
 * errors are JSON: {"error": "..."} with the HTTP status.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "alloc.h"
#include "http_util.h"
#include "log.h"
#include "master_dash.h"
#include "master_int.h"

/* Requests are small: refuse big headers and bodies, and slow peers. */
#define HTTP_MAX_HEADERS 8192
#define HTTP_MAX_BODY 4096
#define HTTP_TIMEOUT_S 10

static const char *
reason_of(int status)
{
	return status == 200   ? "OK"
	       : status == 400 ? "Bad Request"
	       : status == 404 ? "Not Found"
	       : status == 405 ? "Method Not Allowed"
			       : "Internal Server Error";
}

void
ksched__http_json(struct evhttp_request *req, int status, char *body)
{
	/* When the body could not be made, say so in JSON all the same. */
	static const char oom[] = "{\"error\":\"internal error: cannot "
				  "format the reply\"}";
	struct evbuffer *b = evbuffer_new();
	const char *text = body ? body : oom;

	if (!body)
		status = 500;
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "application/json");
	if (b) {
		evbuffer_add(b, text, strlen(text));
		evbuffer_add(b, "\n", 1);
	}
	ksched__http_send(req, status, reason_of(status), b);
	if (b)
		evbuffer_free(b);
	free(body); /* jansson's json_dumps allocates with malloc */
}

void
ksched__http_error(struct evhttp_request *req, int status, const char *fmt,
		   ...)
{
	char msg[512];
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The message may quote the request: bytes that are not UTF-8. */
	o = json_object();
	if (o)
		json_object_set_new(o, "error", ksched__json_str(msg));
	ksched__http_json(req, status,
			  o && json_object_size(o) ? json_dumps(o, JSON_COMPACT)
						   : NULL);
	json_decref(o);
}

/* ---- routes -------------------------------------------------------------- */

static void
route_metrics(struct ksched_master *m, struct evhttp_request *req,
	      const char *rest, const char *query)
{
	struct evbuffer *b;
	char *text;
	size_t len;

	(void)rest;
	(void)query;
	if (ksched__master_obs_scrape(m, ksched_now_ms(), &text, &len)) {
		ksched__http_error(req, 500, "out of memory");
		return;
	}
	b = evbuffer_new();
	if (!b) {
		ksched_free(text);
		ksched__http_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(b, text, len);
	ksched_free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "text/plain; version=0.0.4");
	ksched__http_send(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
route_api(struct ksched_master *m, struct evhttp_request *req,
	  const char *rest, const char *query)
{
	ksched__master_api(m, req, rest, query);
}

/*
 * The route table: a path, or a prefix when it ends in '/', and its
 * handler, which gets what follows the prefix.  First match wins.  Add a
 * page here with one line (the dashboard's "/" goes last: exact match).
 */
typedef void (*route_fn)(struct ksched_master *m, struct evhttp_request *req,
			 const char *rest, const char *query);
static const struct route {
	const char *path;
	route_fn fn;
} routes[] = {
	{"/metrics", route_metrics},
	{"/api/v1/", route_api},
	{"/api/v1", route_api},
	{"/", ksched__master_dash},
	{"/index.html", ksched__master_dash},
};

static void
dispatch_cb(struct evhttp_request *req, void *arg)
{
	struct ksched_master *m = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;

	if (!path || !*path)
		path = "/";
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *p = routes[i].path;
		size_t n = strlen(p);
		bool prefix = p[n - 1] == '/' && n > 1;
		if (prefix ? strncmp(path, p, n) != 0 : strcmp(path, p) != 0)
			continue;
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
			evhttp_add_header(evhttp_request_get_output_headers(req),
					  "Allow", "GET, HEAD");
			ksched__http_error(req, 405,
					   "method not allowed: use GET");
			return;
		}
		routes[i].fn(m, req, prefix ? path + n - 1 : "", query);
		return;
	}
	ksched__http_error(req, 404, "no such path: %s", path);
}

/* ---- life cycle ---------------------------------------------------------- */

ksched_err
ksched__master_http_open(struct ksched_master *m, char *err, size_t errlen)
{
	const char *addr = m->cfg.http_addr;
	struct evhttp_bound_socket *bs;
	char host[256];
	uint16_t port;

	if (!addr || !strcmp(addr, "none") || !*addr)
		return KSCHED_OK;
	if (ksched__http_split_addr(addr, host, sizeof(host), &port)) {
		snprintf(err, errlen,
			 "http: bad address '%s': give HOST:PORT, e.g. "
			 "127.0.0.1:7780, or none",
			 addr);
		return KSCHED_EINVAL;
	}
	ksched__http_log_libevent();
	m->http = evhttp_new(m->base);
	if (!m->http)
		return KSCHED_ENOMEM;
	evhttp_set_max_headers_size(m->http, HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, HTTP_MAX_BODY);
	evhttp_set_timeout(m->http, HTTP_TIMEOUT_S);
	/* Let every method reach dispatch_cb, which answers 405 in JSON. */
	evhttp_set_allowed_methods(
		m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
				 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
				 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(m->http, dispatch_cb, m);
	bs = evhttp_bind_socket_with_handle(m->http, host, port);
	if (!bs) {
		snprintf(err, errlen,
			 "http: cannot listen on %s (in use, or not an "
			 "address of this host)",
			 addr);
		evhttp_free(m->http);
		m->http = NULL;
		return KSCHED_EINVAL;
	}
	ksched__http_guard(bs);
	ksched__http_bound_name(evhttp_bound_socket_get_fd(bs), m->http_bound,
				sizeof(m->http_bound));
	return KSCHED_OK;
}

void
ksched__master_http_close(struct ksched_master *m)
{
	if (m->http)
		evhttp_free(m->http);
	m->http = NULL;
}
