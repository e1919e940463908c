/*
 * libksched - what the master's and the worker's HTTP servers share:
 * replies that respect HEAD, listen addresses, a listener that survives
 * running out of descriptors, and JSON strings safe from bad UTF-8.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "http_util.h"
#include "log.h"
#include "utf8.h"

/* How long a listener rests after accept() failed (fds ran out). */
#define ACCEPT_PAUSE_MS 100

void
ksched__http_send(struct evhttp_request *req, int code, const char *reason,
		  struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char len[32];

	/* evhttp adds the length only for HTTP/1.1 GETs: say it always. */
	snprintf(len, sizeof(len), "%zu", body ? evbuffer_get_length(body) : 0);
	evhttp_remove_header(h, "Content-Length");
	evhttp_add_header(h, "Content-Length", len);
	evhttp_send_reply(req, code, reason,
			  evhttp_request_get_command(req) == EVHTTP_REQ_HEAD
				  ? NULL
				  : body);
}

int
ksched__http_split_addr(const char *addr, char *host, size_t hostlen,
			uint16_t *port)
{
	const char *colon = strrchr(addr, ':');
	const char *h = addr;
	size_t hl;
	char *end;
	long p;

	if (!colon || colon == addr)
		return -1;
	hl = (size_t)(colon - addr);
	if (*h == '[' && colon[-1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hostlen)
		return -1;
	memcpy(host, h, hl);
	host[hl] = 0;
	p = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || p < 0 || p > 65535)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

void
ksched__http_bound_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[64] = "?";

	out[0] = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(out, len, "%s:%u", host, (unsigned)ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(out, len, "[%s]:%u", host,
			 (unsigned)ntohs(a->sin6_port));
	}
}

/* ---- accept() failures ----------------------------------------------------- */

/* Rate limit for the warning: one per second at most, from any thread. */
static _Atomic int64_t last_warn_ms;

static bool
warn_due(void)
{
	int64_t now = ksched_now_ms(), last = atomic_load(&last_warn_ms);

	return now - last >= 1000 &&
	       atomic_compare_exchange_strong(&last_warn_ms, &last, now);
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

/*
 * libevent retries a failed accept() on the next loop turn, which with
 * EMFILE is at once and forever: the loop spins and the log fills.  Rest
 * the listener instead; the connections waiting in the backlog stay there.
 */
static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};

	(void)arg;
	if (warn_due())
		KLOG(KSCHED_LOG_WARN,
		     "msg=\"http: accept failed, pausing\" error=\"%s\" "
		     "pause_ms=%d",
		     evutil_socket_error_to_string(err), ACCEPT_PAUSE_MS);
	evconnlistener_disable(lev);
	/* event_base_once frees its event after it runs. */
	if (event_base_once(evconnlistener_get_base(lev), -1, EV_TIMEOUT,
			    resume_cb, lev, &tv) != 0)
		evconnlistener_enable(lev);
}

int
ksched__http_guard(struct evhttp_bound_socket *bs)
{
	struct evconnlistener *lev = evhttp_bound_socket_get_listener(bs);

	if (!lev)
		return -1;
	evconnlistener_set_error_cb(lev, accept_error_cb);
	return 0;
}

/* ---- libevent's log -------------------------------------------------------- */

static void
libevent_log_cb(int severity, const char *msg)
{
	enum ksched_log_level level = severity >= EVENT_LOG_ERR ? KSCHED_LOG_ERR
				      : severity >= EVENT_LOG_WARN
					      ? KSCHED_LOG_WARN
					      : KSCHED_LOG_DEBUG;
	char clean[256];

	/* Warnings repeat (one per failed call): one a second at most. */
	if ((int)level > ksched__log_max ||
	    (level != KSCHED_LOG_DEBUG && !warn_due()))
		return;
	/* The text may carry quotes: keep the line parseable. */
	snprintf(clean, sizeof(clean), "%s", msg);
	for (char *p = clean; *p; p++)
		if (*p == '"' || *p == '\n' || *p == '\\')
			*p = '\'';
	ksched__logf(level, "msg=\"libevent\" detail=\"%s\"", clean);
}

void
ksched__http_log_libevent(void)
{
	event_set_log_callback(libevent_log_cb);
}

/* ---- JSON ------------------------------------------------------------------ */

json_t *
ksched__json_str(const char *s)
{
	json_t *j;
	char *fixed;

	if (!s)
		return json_null();
	if (ksched__utf8_valid(s))
		return json_string(s);
	fixed = ksched__utf8_lossy(s);
	j = fixed ? json_string(fixed) : NULL;
	free(fixed);
	return j;
}
