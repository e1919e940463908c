/* kschedctl top - shared by top.c (terminal, loop) and top_view.c. */
#ifndef KSCHEDCTL_TOP_H
#define KSCHEDCTL_TOP_H

#include "ctl.h"

#define FAILS_MAX 8
#define LINES_MAX 200
#define LINE_MAX_CHARS 512
#define SCAN_PAGE 1000 /* dead tasks listed per request */

struct top {
	struct ctl *k;
	int rows, cols; /* the screen */
	/* the last refresh */
	struct ksched_stats stats;
	bool have_prev;
	int64_t prev_ms;
	double done_rate, dead_rate; /* per second, since the one before */
	struct ksched_worker_status *workers;
	size_t nworkers;
	struct ksched_task_status fails[FAILS_MAX]; /* highest ids last */
	size_t nfails;
	uint64_t dead_cursor;
	struct ksched_task_status *page; /* list buffer */
	char error[300]; /* why the last refresh failed; "" if it did not */
	/* the screen laid out */
	char lines[LINES_MAX][LINE_MAX_CHARS];
	int nlines;
};

/* Refresh t from the master; its error is also kept in t->error. */
ksched_err top_fetch(struct top *t);
/* Lay t out into t->lines for t->rows x t->cols. */
void top_view(struct top *t);
/* src with control characters and invalid UTF-8 as '?', into dst (len
 * bytes, len > 0); returns dst. */
const char *top_clean(char *dst, size_t len, const char *src);

#endif
