/*
 * kschedctl - the progress of long operations, on stderr (stdout keeps
 * what scripts read: ids, results, JSON).  On a terminal a bar redrawn in
 * place; otherwise plain lines, one every PLAIN_EVERY_MS at most, so a log
 * file shows that something moves without a wall of carriage returns.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

#define BAR_WIDTH 30
#define TTY_EVERY_MS 100
#define PLAIN_EVERY_MS 5000

static void
draw(struct progress *p)
{
	char bar[BAR_WIDTH + 1];
	size_t fill = p->total ? (size_t)(p->done * BAR_WIDTH / p->total) : 0;

	if (fill > BAR_WIDTH)
		fill = BAR_WIDTH;
	memset(bar, '#', fill);
	memset(bar + fill, '.', BAR_WIDTH - fill);
	bar[BAR_WIDTH] = 0;
	fprintf(stderr, "\r%s %llu/%llu [%s] %3d%%\033[K", p->what,
		(unsigned long long)p->done, (unsigned long long)p->total, bar,
		p->total ? (int)(p->done * 100 / p->total) : 0);
	fflush(stderr);
}

static void
plain(struct progress *p)
{
	fprintf(stderr, "kschedctl: %s: %s %llu/%llu\n", p->k->cmd, p->what,
		(unsigned long long)p->done, (unsigned long long)p->total);
}

void
progress_start(struct progress *p, const struct ctl *k, const char *what,
	       uint64_t total, bool long_op)
{
	memset(p, 0, sizeof(*p));
	p->k = k;
	p->what = what;
	p->total = total;
	p->long_op = long_op;
	p->last_ms = ksched_now_ms();
}

/* done of total so far (total 0: unchanged); redrawn when due. */
void
progress_update(struct progress *p, uint64_t done, uint64_t total)
{
	int64_t now = ksched_now_ms();

	p->total = total ? total : p->total;
	p->done = done;
	if (now - p->last_ms < (p->k->tty ? TTY_EVERY_MS : PLAIN_EVERY_MS))
		return;
	p->last_ms = now;
	p->shown = true;
	if (p->k->tty)
		draw(p);
	else
		plain(p);
}

/* The bar is erased; a plain last line if the operation showed any. */
void
progress_end(struct progress *p)
{
	if (p->k->tty && p->shown)
		fputs("\r\033[K", stderr);
	else if (!p->k->tty && (p->shown || p->long_op))
		plain(p);
	fflush(stderr);
}
