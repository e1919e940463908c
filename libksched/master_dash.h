/*
 * Internal: the dashboard page.  The Makefile turns
 * libksched/dashboard/index.html into BUILD/gen/dashboard.c (the bytes of the
 * page, compiled into the library); master_dash.c serves it.
 */
#ifndef KSCHED_MASTER_DASH_H
#define KSCHED_MASTER_DASH_H

#include <stddef.h>

struct evhttp_request;
struct ksched_master;

/* The page, not NUL-terminated; in BUILD/gen/dashboard.c. */
extern const unsigned char ksched__dash_html[];
extern const size_t ksched__dash_html_len;

/*
 * The handler for "/" and "/index.html" in master_http.c's route table (m,
 * rest and query are unused: the page is the same for every master and
 * asks the API itself).  GET and HEAD answer the page with headers that
 * keep it from loading anything from elsewhere; any other method gets 405.
 */
void ksched__master_dash(struct ksched_master *m, struct evhttp_request *req,
			 const char *rest, const char *query);

#endif
