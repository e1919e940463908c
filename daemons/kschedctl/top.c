/*
 * kschedctl top - a live view of the master, refreshed every --interval ms
 * (1000).  On a terminal: the alternate screen, keys read unbuffered, q
 * (or Ctrl-C) quits and the terminal is given back as it was on every way
 * out, signals included (SIGQUIT too); Ctrl-Z gives it back while stopped
 * and takes it again on SIGCONT.  Not on a terminal: one plain snapshot per
 * interval (or just one with --once), so scripts and tests can read it.
 * No curses: the few ANSI sequences any terminal emulator knows.
 */
#define _DEFAULT_SOURCE /* TIOCGWINSZ, SIGWINCH */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "alloc.h"
#include "top.h"

#define ALT_SCREEN_ON "\033[?1049h\033[?25l"
#define ALT_SCREEN_OFF "\033[?25h\033[?1049l"
#define HOME "\033[H"
#define CLEAR_EOL "\033[K"
#define CLEAR_EOS "\033[J"

static volatile sig_atomic_t stop_sig, resized, suspended;

/* The terminal as it was, for restore_tty(), which may run from atexit. */
static struct termios saved_tio;
static bool tty_raw;

static void
on_signal(int sig)
{
	if (sig == SIGWINCH)
		resized = 1;
	else if (sig == SIGTSTP)
		suspended = 1;
	else
		stop_sig = sig;
}

static void
restore_tty(void)
{
	if (!tty_raw)
		return;
	tty_raw = false;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	fputs(ALT_SCREEN_OFF, stdout);
	fflush(stdout);
}

/*
 * Keys one at a time, no echo; signals stay on, so Ctrl-C is a SIGINT that
 * ends the loop like q does.
 */
static bool
raw_tty(void)
{
	static bool registered;
	struct termios tio;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio))
		return false;
	tio = saved_tio;
	tio.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio))
		return false;
	tty_raw = true;
	if (!registered)
		atexit(restore_tty);
	registered = true;
	fputs(ALT_SCREEN_ON, stdout);
	return true;
}

static void
catch_signal(int sig, void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler; /* no SA_RESTART: poll() must wake up */
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* Every signal that would end the program ends the loop instead, so
 * that restore_tty() runs (Ctrl-\ too); Ctrl-Z: see suspend(). */
static void
catch_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		catch_signal(sigs[i], on_signal);
}

/*
 * Ctrl-Z: give the terminal back (main screen, modes as they were), stop
 * for real with the default action, and on SIGCONT take it again, as a
 * full-screen program must, so the shell is usable while we are stopped.
 * False if the terminal cannot be taken again (then no more keys).
 */
static bool
suspend(void)
{
	suspended = 0;
	restore_tty();
	catch_signal(SIGTSTP, SIG_DFL);
	raise(SIGTSTP); /* returns after SIGCONT */
	catch_signal(SIGTSTP, on_signal);
	if (raw_tty())
		return true;
	catch_signal(SIGTSTP, SIG_DFL);
	return false;
}

/* The screen's size; 80x24 when it cannot be known. */
static void
screen_size(struct top *t, bool tty)
{
	struct winsize ws;

	t->rows = 24;
	t->cols = 80;
	if (tty && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row &&
	    ws.ws_col) {
		t->rows = ws.ws_row < LINES_MAX ? ws.ws_row : LINES_MAX;
		t->cols = ws.ws_col;
	}
}

static void
draw(struct top *t, bool tty)
{
	/* On the terminal no newline after the last row: it would scroll. */
	if (tty)
		fputs(HOME, stdout);
	for (int i = 0; i < t->nlines; i++)
		printf("%s%s%s", i && tty ? "\n" : "", t->lines[i],
		       tty ? CLEAR_EOL : "\n");
	if (tty)
		fputs(CLEAR_EOS, stdout);
	else
		putchar('\n'); /* snapshots apart */
	fflush(stdout);
}

/*
 * Until the next refresh: wait for a key (when keys are read), a signal,
 * or the interval.  True to go on, false to quit.
 */
static bool
pause_for_keys(struct top *t, bool keys)
{
	int64_t end = ksched_now_ms() + t->k->interval_ms, left;
	struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
	char c;

	while (!stop_sig && !resized && !suspended &&
	       (left = end - ksched_now_ms()) > 0) {
		int r = poll(&pfd, keys ? 1 : 0, (int)left);

		if (r < 0 && errno != EINTR)
			return false;
		if (r <= 0)
			continue;
		if (read(STDIN_FILENO, &c, 1) != 1)
			keys = false; /* end of input: only time goes on */
		else if (c == 'q' || c == 'Q' || c == 3 /* ^C */)
			return false;
		else if (c == ' ' || c == 'r')
			return true; /* refresh now */
	}
	return !stop_sig;
}

int
cmd_top(struct ctl *k, int argc, char **argv)
{
	bool tty = isatty(STDOUT_FILENO) && !k->once, keys = false;
	struct top *t = NULL;
	int rc = no_args(k, argc, argv);
	ksched_err e;

	if (!rc && !(t = ksched__calloc(1, sizeof(*t))))
		rc = ctl_fail(k, KSCHED_ENOMEM);
	if (!rc && !(t->page = ksched__calloc(SCAN_PAGE, sizeof(*t->page))))
		rc = ctl_fail(k, KSCHED_ENOMEM);
	if (rc) {
		ksched__free(t);
		return rc;
	}
	if (!k->timeout_ms) /* q must not wait 10 s for a master gone */
		ksched_client_set_timeout(k->c, 2000);
	t->k = k;
	catch_signals();
	keys = tty && raw_tty();
	if (keys) /* only while the terminal is ours */
		catch_signal(SIGTSTP, on_signal);
	do {
		if (suspended && keys)
			keys = suspend();
		resized = 0;
		screen_size(t, tty);
		e = top_fetch(t);
		if (stop_sig)
			break;
		/* plain output: no master at all is an error, not a frame */
		if (!tty && e && !t->have_prev) {
			rc = ctl_fail(k, e);
			break;
		}
		top_view(t);
		draw(t, tty);
		if (k->once)
			rc = e ? ctl_fail(k, e) : EX_OK;
	} while (!k->once && !rc && pause_for_keys(t, keys));
	restore_tty();
	ksched_free(t->workers);
	ksched__free(t->page);
	ksched__free(t);
	return rc;
}
