/*
 * kschedctl top - what one screen shows: fetched from the master through
 * the client API, laid out as at most rows lines of at most cols columns.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "top.h"

/* Full rescans of the dead tasks up to this many; past it, new ids only. */
#define SCAN_MAX 10000

/* Keep the FAILS_MAX dead tasks of highest id, in id order. */
static void
keep_fail(struct top *t, const struct ksched_task_status *s)
{
	if (t->nfails == FAILS_MAX) {
		memmove(t->fails, t->fails + 1,
			(FAILS_MAX - 1) * sizeof(*t->fails));
		t->nfails--;
	}
	t->fails[t->nfails++] = *s;
}

/*
 * A master without newest-first listing: up to SCAN_MAX dead tasks are
 * rescanned each time, so an old task that dies shows up; past that only
 * ids after the last one seen are read.
 */
static ksched_err
fetch_fails_scan(struct top *t, uint64_t ndead)
{
	struct ksched_task_status *page = t->page;
	uint64_t cursor = ndead <= SCAN_MAX ? 0 : t->dead_cursor, next;
	ksched_err e = KSCHED_OK;
	size_t n;

	if (cursor == 0)
		t->nfails = 0;
	for (int i = 0; i < SCAN_MAX / SCAN_PAGE; i++) {
		e = ksched_client_list(t->k->c, KSCHED_STATE_DEAD, cursor,
				       SCAN_PAGE, page, &n, &next);
		if (e)
			break;
		for (size_t j = 0; j < n; j++)
			keep_fail(t, &page[j]);
		if (n)
			t->dead_cursor = page[n - 1].id;
		if (!next)
			break;
		cursor = next;
	}
	return e;
}

/*
 * The recent failures: the FAILS_MAX dead tasks of highest id (a task
 * records no time of death), in one newest-first request; kept in id order.
 */
static ksched_err
fetch_fails(struct top *t, uint64_t ndead)
{
	struct ksched_task_status *page = t->page;
	size_t n;
	ksched_err e = ksched_client_list_desc(t->k->c, KSCHED_STATE_DEAD, 0,
					       FAILS_MAX, page, &n, NULL);

	if (e == KSCHED_EPROTO)
		return fetch_fails_scan(t, ndead);
	if (e)
		return e;
	t->nfails = 0;
	while (n)
		t->fails[t->nfails++] = page[--n];
	return KSCHED_OK;
}

/* One refresh: stats, rates since the last one, workers, failures. */
ksched_err
top_fetch(struct top *t)
{
	struct ksched_stats s;
	int64_t now = ksched_now_ms();
	ksched_err e = ksched_client_stats(t->k->c, &s);
	double dt;

	if (!e) {
		dt = (double)(now - t->prev_ms) / 1000;
		if (t->have_prev && dt > 0) {
			uint64_t d = s.counts[KSCHED_STATE_SUCCEEDED],
				 x = s.counts[KSCHED_STATE_DEAD],
				 pd = t->stats.counts[KSCHED_STATE_SUCCEEDED],
				 px = t->stats.counts[KSCHED_STATE_DEAD];

			t->done_rate = d > pd ? (double)(d - pd) / dt : 0;
			t->dead_rate = x > px ? (double)(x - px) / dt : 0;
		}
		t->stats = s;
		t->prev_ms = now;
		t->have_prev = true;
		ksched_free(t->workers);
		t->workers = NULL;
		t->nworkers = 0;
		e = ksched_client_workers(t->k->c, &t->workers, &t->nworkers);
	}
	if (!e)
		e = fetch_fails(t, s.counts[KSCHED_STATE_DEAD]);
	snprintf(t->error, sizeof(t->error), "%s",
		 e ? ksched_client_last_error(t->k->c) : "");
	if (e && !t->error[0])
		snprintf(t->error, sizeof(t->error), "%s", ksched_strerror(e));
	return e;
}

/* ---- layout ----------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s of a printable code point
 * (U+00A0 and up: not a C1 control), 0 if there is none. */
static size_t
utf8_printable(const unsigned char *s)
{
	uint32_t cp;
	size_t n;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	/* overlong, surrogates, past U+10FFFF, C1 controls */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp < 0xa0)
		return 0;
	return n;
}

/*
 * src as it may go to a terminal: what a worker or the master sent
 * (worker ids, kinds, errors) must not move the cursor or change the
 * terminal, so C0 controls, DEL, C1 controls (0x9b is a CSI on many
 * terminals) and bytes that are not valid UTF-8 become '?'.  dst has
 * len bytes (> 0) and is always terminated.
 */
const char *
top_clean(char *dst, size_t len, const char *src)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t k = 0, n;

	while (*p && k + 1 < len) {
		n = *p >= 0x80 ? utf8_printable(p) : 0;
		if (n && k + n >= len)
			break; /* no room for the whole character */
		if (n) {
			memcpy(dst + k, p, n);
			k += n;
			p += n;
		} else {
			dst[k++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
			p++;
		}
	}
	dst[k] = 0;
	return dst;
}

static void line(struct top *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append one line, cut to the width of the screen. */
static void
line(struct top *t, const char *fmt, ...)
{
	char *l;
	va_list ap;

	if (t->nlines >= t->rows || t->nlines >= LINES_MAX)
		return;
	l = t->lines[t->nlines++];
	va_start(ap, fmt);
	vsnprintf(l, LINE_MAX_CHARS, fmt, ap);
	va_end(ap);
	if (t->cols < LINE_MAX_CHARS && strlen(l) > (size_t)t->cols)
		l[t->cols] = 0;
}

static void
view_header(struct top *t)
{
	const struct ksched_stats *s = &t->stats;
	int64_t up = s->uptime_ms / 1000;
	time_t now = time(NULL);
	char clock[16] = "", err[sizeof(t->error)];
	struct tm tm;

	if (localtime_r(&now, &tm))
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	line(t,
	     "kschedctl top  %s  up %lldd%02lldh%02lldm  every %.1fs  q quits",
	     clock, (long long)(up / 86400), (long long)(up / 3600 % 24),
	     (long long)(up / 60 % 60), (double)t->k->interval_ms / 1000);
	line(t,
	     "tasks: pending %llu  ready %llu  leased %llu  succeeded %llu"
	     "  dead %llu  canceled %llu",
	     (unsigned long long)s->counts[KSCHED_STATE_PENDING],
	     (unsigned long long)s->counts[KSCHED_STATE_READY],
	     (unsigned long long)s->counts[KSCHED_STATE_LEASED],
	     (unsigned long long)s->counts[KSCHED_STATE_SUCCEEDED],
	     (unsigned long long)s->counts[KSCHED_STATE_DEAD],
	     (unsigned long long)s->counts[KSCHED_STATE_CANCELED]);
	line(t,
	     "rate:  %.1f done/s  %.1f dead/s   cache: %llu hits %llu misses"
	     "  workers: %llu",
	     t->done_rate, t->dead_rate, (unsigned long long)s->cache_hits,
	     (unsigned long long)s->cache_misses,
	     (unsigned long long)s->workers);
	if (t->error[0])
		line(t, "error: %s", top_clean(err, sizeof(err), t->error));
}

static void
view_workers(struct top *t, int room)
{
	int shown = 0;

	line(t, "%s", "");
	line(t, "%-20s %-9s %9s %13s %15s %5s", "WORKER", "STATE", "RUN/SLOTS",
	     "CPU(m)", "MEM(MB)", "LOAD");
	for (size_t i = 0; i < t->nworkers; i++) {
		const struct ksched_worker_status *w = &t->workers[i];
		char run[32], cpu[48], mem[48], id[KSCHED_WORKER_ID_MAX + 1];

		if (shown == room - 1 && i + 1 < t->nworkers) {
			line(t, "... and %zu more", t->nworkers - i);
			break;
		}
		snprintf(run, sizeof(run), "%u/%lld", w->running,
			 (long long)w->capacity.slots);
		snprintf(cpu, sizeof(cpu), "%lld/%lld",
			 (long long)w->allocated.cpu_milli,
			 (long long)w->capacity.cpu_milli);
		snprintf(mem, sizeof(mem), "%lld/%lld",
			 (long long)w->allocated.mem_mb,
			 (long long)w->capacity.mem_mb);
		line(t, "%-20.20s %-9s %9s %13s %15s %5.2f",
		     top_clean(id, sizeof(id), w->id),
		     ksched_worker_state_name(w->state), run, cpu, mem,
		     w->load);
		shown++;
	}
	if (!t->nworkers)
		line(t, "(no workers)");
}

static void
view_fails(struct top *t)
{
	size_t room = (size_t)(t->rows - t->nlines - 2), first;

	if (t->rows - t->nlines < 3)
		return;
	line(t, "%s", "");
	line(t, "RECENT FAILURES (dead)  %-8s %-10s %s", "ID", "KIND", "ERROR");
	first = t->nfails > room ? t->nfails - room : 0;
	for (size_t i = t->nfails; i > first; i--) {
		const struct ksched_task_status *s = &t->fails[i - 1];
		char kind[sizeof(s->kind)], err[sizeof(s->last_error)];

		line(t, "%24s%-8llu %-10.10s %s", "", (unsigned long long)s->id,
		     top_clean(kind, sizeof(kind), s->kind),
		     s->last_error[0]
			 ? top_clean(err, sizeof(err), s->last_error)
			 : "-");
	}
	if (!t->nfails)
		line(t, "%24s(none)", "");
}

/* Lay the screen out into t->lines: workers get what failures leave. */
void
top_view(struct top *t)
{
	int fails = (int)(t->nfails ? t->nfails : 1) + 2, room;

	t->nlines = 0;
	view_header(t);
	room = t->rows - t->nlines - 2 - fails;
	if (room < 2)
		room = 2;
	view_workers(t, room);
	view_fails(t);
}
