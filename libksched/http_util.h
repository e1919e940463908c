/* Pieces both HTTP servers (master_http.c, worker_http.c) share. */
#ifndef KSCHED_HTTP_UTIL_H
#define KSCHED_HTTP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct evhttp_request;
struct evhttp_bound_socket;
struct evbuffer;

/*
 * Send the reply with a Content-Length: body (borrowed; may be NULL) for
 * GET, and for HEAD the same headers and no body (libevent 2.1.12 would
 * send the body after a HEAD's headers).
 */
void ksched__http_send(struct evhttp_request *req, int code,
		       const char *reason, struct evbuffer *body);

/* "HOST:PORT" (HOST may be [v6]) into host and port; -1 if malformed. */
int ksched__http_split_addr(const char *addr, char *host, size_t hostlen,
			    uint16_t *port);

/* The address the socket got, as "host:port" or "[v6]:port". */
void ksched__http_bound_name(int fd, char *out, size_t len);

/*
 * Guard the listener of bs against running out of descriptors: on an
 * accept() error it is paused for a moment instead of retried at once.
 * 0, or -1 when bs has no listener.
 */
int ksched__http_guard(struct evhttp_bound_socket *bs);

/* Route libevent's own messages into our log, as key=value lines. */
void ksched__http_log_libevent(void);

/* A JSON string of s (NULL gives null) with bad UTF-8 as U+FFFD. */
json_t *ksched__json_str(const char *s);

#endif
