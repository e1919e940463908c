/*
 * libksched - the dashboard: GET / answers one self-contained page (inline
 * CSS and script) that reads the JSON API.  The page is compiled into the
 * library, so a master serves it with no files to install, and it works
 * with no network but the one to the master.
 */
#include <stdio.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http_util.h"
#include "log.h"
#include "master_dash.h"

/*
 * The page may talk only to the master it came from: everything it runs is
 * inline, so nothing else needs loading, and a task's error text or a
 * worker's label cannot make it fetch anything (the page also puts them in
 * as text only).
 */
#define DASH_CSP                                                               \
	"default-src 'self'; script-src 'unsafe-inline'; "                     \
	"style-src 'unsafe-inline'; img-src 'self' data:; "                    \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static void
dash_headers(struct evkeyvalq *h)
{
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	/* The page changes with the binary: never serve a stale one. */
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "Content-Security-Policy", DASH_CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

/* 405 with an Allow header (evhttp_send_error would drop the headers). */
static void
dash_refuse(struct evhttp_request *req)
{
	static const char msg[] = "the dashboard is read with GET or HEAD\n";
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(h, "Allow", "GET, HEAD");
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	if (body)
		evbuffer_add(body, msg, sizeof(msg) - 1);
	evhttp_send_reply(req, 405, "Method Not Allowed", body);
	if (body)
		evbuffer_free(body);
}

void
ksched__master_dash(struct ksched_master *m, struct evhttp_request *req,
		    const char *rest, const char *query)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *body;

	(void)m;
	(void)rest;
	(void)query;
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		dash_refuse(req);
		return;
	}
	body = evbuffer_new();
	/* The page is static: lend it to the buffer rather than copy it. */
	if (!body ||
	    evbuffer_add_reference(body, ksched__dash_html,
				   ksched__dash_html_len, NULL, NULL) != 0) {
		KLOG(KSCHED_LOG_ERR, "msg=\"dashboard: out of memory\"");
		if (body)
			evbuffer_free(body);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	dash_headers(evhttp_request_get_output_headers(req));
	ksched__http_send(req, 200, "OK", body);
	evbuffer_free(body);
}
