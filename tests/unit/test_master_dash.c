/*
 * The dashboard handler on a real evhttp server on 127.0.0.1 (port 0),
 * asked by libevent's own HTTP client in the same loop: the page and its
 * headers for GET / and /index.html, headers only for HEAD, 405 for other
 * methods; and the embedded page loads nothing from elsewhere.
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "../testutil.h"
#include "master_dash.h"

struct fx {
	struct event_base *base;
	struct evhttp *http;
	uint16_t port;
};

/* What one request got back. */
struct answer {
	struct fx *f;
	int code;
	char ctype[128], csp[512], cache[64], allow[64], clen[32];
	unsigned char *body;
	size_t len;
	bool done;
};

/* The handler as master_http.c's route table calls it. */
static void
serve(struct evhttp_request *req, void *arg)
{
	(void)arg;
	ksched__master_dash(NULL, req, "", NULL);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	f->base = event_base_new();
	f->http = evhttp_new(f->base);
	assert_non_null(f->http);
	evhttp_set_allowed_methods(f->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
						EVHTTP_REQ_POST |
						EVHTTP_REQ_PUT);
	assert_int_equal(evhttp_set_cb(f->http, "/", serve, NULL), 0);
	assert_int_equal(evhttp_set_cb(f->http, "/index.html", serve, NULL), 0);
	bs = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
	assert_non_null(bs);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
				     (struct sockaddr *)&sa, &sl),
			 0);
	f->port = ntohs(sa.sin_port);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	evhttp_free(f->http);
	event_base_free(f->base);
	free(f);
	return 0;
}

static void
copy_header(struct evkeyvalq *h, const char *name, char *dst, size_t n)
{
	const char *v = evhttp_find_header(h, name);

	snprintf(dst, n, "%s", v ? v : "");
}

static void
on_answer(struct evhttp_request *req, void *arg)
{
	struct answer *a = arg;
	struct evkeyvalq *h;
	struct evbuffer *b;

	a->done = true;
	event_base_loopexit(a->f->base, NULL);
	if (!req)
		return; /* connection failed: code stays 0 */
	a->code = evhttp_request_get_response_code(req);
	h = evhttp_request_get_input_headers(req);
	copy_header(h, "Content-Type", a->ctype, sizeof(a->ctype));
	copy_header(h, "Content-Security-Policy", a->csp, sizeof(a->csp));
	copy_header(h, "Cache-Control", a->cache, sizeof(a->cache));
	copy_header(h, "Allow", a->allow, sizeof(a->allow));
	copy_header(h, "Content-Length", a->clen, sizeof(a->clen));
	b = evhttp_request_get_input_buffer(req);
	a->len = evbuffer_get_length(b);
	a->body = malloc(a->len + 1);
	evbuffer_remove(b, a->body, a->len);
	a->body[a->len] = 0;
}

/* One request, the loop run until it is answered (at most 5 s). */
static void
ask(struct fx *f, enum evhttp_cmd_type cmd, const char *path, struct answer *a)
{
	struct evhttp_connection *c;
	struct evhttp_request *req;
	struct timeval limit = {5 * tu_slow(), 0};

	memset(a, 0, sizeof(*a));
	a->f = f;
	c = evhttp_connection_base_new(f->base, NULL, "127.0.0.1", f->port);
	assert_non_null(c);
	req = evhttp_request_new(on_answer, a);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
			  "127.0.0.1");
	assert_int_equal(evhttp_make_request(c, req, cmd, path), 0);
	event_base_loopexit(f->base, &limit);
	event_base_dispatch(f->base);
	evhttp_connection_free(c);
	if (!a->done)
		fail_msg("no answer to %s in time", path);
}

static void
check_page(struct fx *f, const char *path)
{
	struct answer a;

	ask(f, EVHTTP_REQ_GET, path, &a);
	assert_int_equal(a.code, 200);
	assert_string_equal(a.ctype, "text/html; charset=utf-8");
	assert_string_equal(a.cache, "no-cache");
	assert_non_null(strstr(a.csp, "default-src 'self'"));
	assert_non_null(strstr(a.csp, "script-src 'unsafe-inline'"));
	assert_non_null(strstr(a.csp, "style-src 'unsafe-inline'"));
	assert_int_equal(a.len, ksched__dash_html_len);
	assert_memory_equal(a.body, ksched__dash_html, a.len);
	free(a.body);
}

static void
test_master_dash_get_serves_page(void **state)
{
	struct fx *f = *state;

	check_page(f, "/");
	check_page(f, "/index.html");
	/* A query string does not change the route. */
	check_page(f, "/?state=dead");
}

static void
test_master_dash_head_has_no_body(void **state)
{
	struct fx *f = *state;
	struct answer a;
	char want[32];

	ask(f, EVHTTP_REQ_HEAD, "/", &a);
	assert_int_equal(a.code, 200);
	assert_string_equal(a.ctype, "text/html; charset=utf-8");
	assert_non_null(strstr(a.csp, "default-src 'self'"));
	snprintf(want, sizeof(want), "%zu", ksched__dash_html_len);
	assert_string_equal(a.clen, want);
	assert_int_equal(a.len, 0);
	free(a.body);
}

static void
test_master_dash_other_methods_refused(void **state)
{
	struct fx *f = *state;
	enum evhttp_cmd_type cmds[] = {EVHTTP_REQ_POST, EVHTTP_REQ_PUT};
	struct answer a;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		ask(f, cmds[i], "/", &a);
		assert_int_equal(a.code, 405);
		assert_string_equal(a.allow, "GET, HEAD");
		assert_null(strstr((char *)a.body, "<script"));
		free(a.body);
	}
}

/*
 * The page is one complete document, and every "http" in it is the SVG
 * namespace name (an identifier, never fetched): no script, style, font or
 * image comes from elsewhere, so it works offline.
 */
static void
test_master_dash_page_self_contained(void **state)
{
	const char *ns = "http://www.w3.org/2000/svg";
	char *page = malloc(ksched__dash_html_len + 1);
	const char *p;
	int nns = 0;

	(void)state;
	memcpy(page, ksched__dash_html, ksched__dash_html_len);
	page[ksched__dash_html_len] = 0;
	assert_int_equal(strlen(page), ksched__dash_html_len);
	assert_true(strncmp(page, "<!doctype html>", 15) == 0);
	assert_non_null(strstr(page, "</html>"));
	assert_non_null(strstr(page, "<meta charset=\"utf-8\">"));
	for (p = page; (p = strstr(p, "http")) != NULL; p += 4) {
		if (strncmp(p, ns, strlen(ns)) != 0)
			fail_msg("external reference in the page: %.60s", p);
		nns++;
	}
	assert_int_equal(nns, 1);
	assert_null(strstr(page, "src=\"//"));
	assert_null(strstr(page, "href=\"//"));
	assert_null(strstr(page, "@import"));
	/* The API is asked by relative paths, so a prefix proxy works. */
	assert_non_null(strstr(page, "\"api/v1/stats\""));
	assert_null(strstr(page, "\"/api/v1/"));
	free(page);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_master_dash_get_serves_page,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_master_dash_head_has_no_body,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_master_dash_other_methods_refused, setup, teardown),
	    cmocka_unit_test(test_master_dash_page_self_contained),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
