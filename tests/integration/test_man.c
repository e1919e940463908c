/*
 * The programs and their documentation: every program in BUILD/bin has a
 * man page naming every option its --help names (kschedctl's commands
 * too), and groff renders each page without a warning.  Then the terminal
 * side of kschedctl and the daemons' logs: `top` against a live master
 * with workers (a plain snapshot when stdout is not a terminal; on a
 * pseudo-terminal, q and SIGTERM quit at once and give the terminal back),
 * progress as plain lines when stderr is not a terminal, `list --newest`
 * paging newest first, and --log-format json giving JSON lines,
 * --log-level leaving out lower levels.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE /* TIOCSWINSZ, struct dirent d_type */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <jansson.h>

#include "../testutil.h"
#include "cluster.h"

#define OUT_MAX (1 << 20)

/* ---- helpers ---------------------------------------------------------- */

/* The source tree's docs/man, looked for above BUILD/bin. */
static const char *
man_dir(void)
{
	static char dir[PATH_MAX + 64];
	char up[PATH_MAX + 16];
	struct stat st;

	snprintf(up, sizeof(up), "%s", td_bindir());
	for (int i = 0; i < 5; i++) {
		snprintf(up + strlen(up), sizeof(up) - strlen(up), "/..");
		snprintf(dir, sizeof(dir), "%s/docs/man", up);
		if (!stat(dir, &st) && S_ISDIR(st.st_mode))
			return dir;
	}
	fail_msg("no docs/man above %s", td_bindir());
	return NULL;
}

/* The whole output (stdout and stderr) of a shell command; free() it. */
static char *
run(const char *fmt, ...)
{
	char cmd[4096], *out = calloc(1, OUT_MAX);
	size_t n = 0, r;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_non_null(out);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (n < OUT_MAX - 1 && (r = fread(out + n, 1, OUT_MAX - 1 - n, p)))
		n += r;
	pclose(p);
	out[n] = 0;
	return out;
}

/* A file's text, NUL terminated; NULL if it cannot be read. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = f ? calloc(1, OUT_MAX) : NULL;

	if (s)
		fread(s, 1, OUT_MAX - 1, f);
	if (f)
		fclose(f);
	return s;
}

/*
 * A man page's text as a reader sees the options: "\-" made "-", font
 * changes (\fB, \fR, ...) and "\&" dropped.
 */
static char *
man_text(const char *prog)
{
	char path[PATH_MAX + 128], *s, *d, *p;

	snprintf(path, sizeof(path), "%s/%s.1", man_dir(), prog);
	if (!(s = slurp(path)))
		return NULL;
	for (p = d = s; *p;) {
		if (p[0] == '\\' && p[1] == '-') {
			*d++ = '-';
			p += 2;
		} else if (p[0] == '\\' && p[1] == 'f' && p[2]) {
			p += 3;
		} else if (p[0] == '\\' && p[1] == '&') {
			p += 2;
		} else {
			*d++ = *p++;
		}
	}
	*d = 0;
	return s;
}

static bool
optchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

/* Whether opt appears in text as a whole token. */
static bool
has_token(const char *text, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *p = strstr(text, opt); p; p = strstr(p + 1, opt))
		if ((p == text || !optchar(p[-1])) && !optchar(p[n]))
			return true;
	return false;
}

/*
 * Each option token of a --help text (--long, -s) that the man page does
 * not have is printed and counted in *missing.  Returns how many options
 * were checked.
 */
static int
check_options(const char *prog, const char *help, const char *man, int *missing)
{
	int checked = 0;

	for (const char *p = help; *p; p++) {
		char opt[64];
		size_t n;

		if (*p != '-' || (p > help && optchar(p[-1])))
			continue;
		n = p[1] == '-' ? 2 : 1;
		if (!((p[n] >= 'a' && p[n] <= 'z') ||
		      (n == 1 && p[n] >= 'A' && p[n] <= 'Z')))
			continue;
		while (optchar(p[n]) && n < sizeof(opt) - 1)
			n++;
		if (n > 2 && p[1] != '-')
			continue; /* "-word": not a short option */
		snprintf(opt, sizeof(opt), "%.*s", (int)n, p);
		if (!has_token(man, opt) && ++*missing)
			print_error("%s: option %s is in --help but not in "
				    "%s.1\n",
				    prog, opt, prog);
		checked++;
		p += n - 1;
	}
	return checked;
}

/* Programs in BUILD/bin (regular executable files), into names. */
static int
programs(char names[][256], int max)
{
	DIR *d = opendir(td_bindir());
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) && n < max) {
		char path[PATH_MAX + 300];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", td_bindir(), e->d_name);
		if (e->d_name[0] == '.' || stat(path, &st) ||
		    !S_ISREG(st.st_mode) || !(st.st_mode & S_IXUSR))
			continue;
		snprintf(names[n++], 256, "%s", e->d_name);
	}
	closedir(d);
	return n;
}

/* ---- man pages -------------------------------------------------------- */

static void
test_man_every_program_has_page(void **state)
{
	char names[32][256];
	int n = programs(names, 32);

	(void)state;
	assert_true(n >= 3); /* master, worker, kschedctl at least */
	for (int i = 0; i < n; i++) {
		char *man = man_text(names[i]);

		if (!man)
			fail_msg("%s has no docs/man/%s.1", names[i], names[i]);
		free(man);
	}
}

/* kschedctl's commands: the help lines "  NAME ..." at two spaces. */
static int
ctl_commands(const char *help, char cmds[][32], int max)
{
	int n = 0;

	for (const char *l = help; l && *l && n < max;
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		size_t len;

		if (strncmp(l, "  ", 2) || !(l[2] >= 'a' && l[2] <= 'z'))
			continue;
		len = strspn(l + 2, "abcdefghijklmnopqrstuvwxyz");
		if (len < sizeof(cmds[0]))
			snprintf(cmds[n++], sizeof(cmds[0]), "%.*s", (int)len,
				 l + 2);
	}
	return n;
}

static void
test_man_every_option_documented(void **state)
{
	char names[32][256], cmds[32][32];
	int n = programs(names, 32), total = 0, missing = 0;

	(void)state;
	for (int i = 0; i < n; i++) {
		char *man = man_text(names[i]);
		char *help = run("'%s/%s' --help 2>&1", td_bindir(), names[i]);

		assert_non_null(man);
		if (!strstr(help, "--"))
			fail_msg("%s --help names no option:\n%s", names[i],
				 help);
		total += check_options(names[i], help, man, &missing);
		if (!strcmp(names[i], "kschedctl")) {
			int nc = ctl_commands(help, cmds, 32);

			assert_true(nc >= 10);
			for (int c = 0; c < nc; c++) {
				char *h = run("'%s/kschedctl' %s --help 2>&1",
					      td_bindir(), cmds[c]);

				if (!has_token(man, cmds[c]) && ++missing)
					print_error("kschedctl: command %s is "
						    "not in kschedctl.1\n",
						    cmds[c]);
				total += check_options("kschedctl", h, man,
						       &missing);
				free(h);
			}
		}
		free(help);
		free(man);
	}
	assert_true(total > 30);
	assert_int_equal(missing, 0);
}

static void
test_man_renders_without_warnings(void **state)
{
	char names[32][256];
	int n = programs(names, 32);
	char *have = run("command -v groff");

	(void)state;
	if (!*have) {
		free(have);
		print_message("groff not installed: rendering not checked\n");
		skip();
	}
	free(have);
	for (int i = 0; i < n; i++) {
		char *out = run("groff -man -Tutf8 -ww -z '%s/%s.1' 2>&1",
				man_dir(), names[i]);

		if (*out)
			fail_msg("%s.1: groff says:\n%s", names[i], out);
		free(out);
	}
}

/* ---- a live master with two workers ------------------------------------ */

struct fx {
	struct tc_cluster cl;
	pid_t master, workers[2];
};

static void
start_cluster(struct fx *f, const char *tag, const char *format,
	      const char *level)
{
	const char *margs[] = {"--log-level", level, "--log-format", format,
			       "--http", "none", NULL};
	const char *wargs[] = {"--slots", "2", "--log-level", level,
			       "--log-format", format, NULL};

	tc_init(&f->cl, tag);
	tc_start_master(&f->cl, margs, &f->master);
	tc_start_worker(&f->cl, "topw1", wargs, &f->workers[0]);
	tc_start_worker(&f->cl, "topw2", wargs, &f->workers[1]);
}

/* Both workers, then the master: each must exit cleanly. */
static void
stop_cluster(struct fx *f)
{
	assert_int_equal(tc_stop(f->master, f->workers, 2, 10000), 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	start_cluster(f, "man", "text", "info");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	stop_cluster(f);
	tc_remove(&f->cl);
	free(f);
	return 0;
}

/*
 * kschedctl with the cluster's control URL, what args redirect; stopped by
 * timeout(1) after 120 s (scaled) whatever it waits for.
 */
static char *
ctl(const struct fx *f, const char *args)
{
	return run("timeout -k 5 %d '%s/kschedctl' --control '%s' %s",
		   120 * tu_slow(), td_bindir(), f->cl.ctl, args);
}

/* `kschedctl --json list ARGS`: the ids into ids[0..*n), its next. */
static uint64_t
list_ids(const struct fx *f, const char *args, uint64_t *ids, size_t *n,
	 size_t cap)
{
	char *out = ctl(f, args);
	json_t *j = json_loads(out, 0, NULL), *t;
	uint64_t next;
	size_t i;

	if (!json_is_array(json_object_get(j, "tasks")))
		fail_msg("kschedctl %s: %s", args, out);
	json_array_foreach(json_object_get(j, "tasks"), i, t) {
		assert_true(*n < cap);
		ids[(*n)++] = (uint64_t)json_integer_value(
		    json_object_get(t, "id"));
	}
	next = (uint64_t)json_integer_value(json_object_get(j, "next"));
	json_decref(j);
	free(out);
	return next;
}

/* list --newest pages a state newest first: the ascending list reversed. */
static void
test_list_newest(void **state)
{
	struct fx *f = *state;
	uint64_t asc[64], desc[64], next = 0;
	size_t na = 0, nd = 0, per;
	char args[160];

	for (int i = 0; i < 5; i++) {
		snprintf(args, sizeof(args),
			 "submit --wait -- /bin/echo newest-%d >/dev/null", i);
		free(ctl(f, args));
	}
	(void)list_ids(f, "--json list --state succeeded --limit 64", asc,
		       &na, 64);
	assert_true(na >= 5 && na < 64);
	per = na / 3 + 1;
	for (int page = 0; page < 8; page++) {
		size_t before = nd;
		snprintf(args, sizeof(args),
			 "--json list --state succeeded --newest --limit %zu "
			 "--cursor %llu",
			 per, (unsigned long long)next);
		next = list_ids(f, args, desc, &nd, 64);
		assert_true(nd - before <= per);
		if (!next)
			break;
		assert_int_equal(next, desc[nd - 1]);
	}
	assert_int_equal(next, 0);
	assert_int_equal(nd, na);
	for (size_t i = 0; i < nd; i++)
		assert_int_equal(desc[i], asc[na - 1 - i]);
}

/* Wait (bounded) until the master counts a dead task. */
static void
one_dead_task(const struct fx *f)
{
	char *out = ctl(f, "submit --retries 0 --wait -- /bin/false 2>&1");

	assert_non_null(strstr(out, "exit status 1"));
	free(out);
}

static void
test_top_plain_snapshot(void **state)
{
	struct fx *f = *state;
	char *out;
	int lines = 0;

	one_dead_task(f);
	out = ctl(f, "top --once");
	assert_non_null(strstr(out, "topw1"));
	assert_non_null(strstr(out, "topw2"));
	assert_non_null(strstr(out, "dead 1"));
	assert_non_null(strstr(out, "exit status 1"));
	assert_null(strchr(out, '\033')); /* plain: no escapes */
	for (char *l = out, *nl; *l; l = nl + 1, lines++) {
		nl = strchr(l, '\n');
		assert_non_null(nl);
		assert_true(nl - l <= 80);
	}
	assert_true(lines <= 25); /* 24 rows and the blank line after */
	free(out);
}

/*
 * A task's error is what its stderr said: the worker already turns ESC
 * into '?', but newlines, C1 controls (0x9b is a CSI on many terminals,
 * raw or as UTF-8) must not reach the terminal raw from top either.
 */
static void
test_top_escapes_filtered(void **state)
{
	struct fx *f = *state;
	char *out = ctl(f, "submit --retries 0 --wait -- /bin/sh -c "
			   "'printf \"\\303\\251\\233[2J\\302\\233X"
			   "\\033[31m\\nok\" >&2; exit 3' 2>&1");

	assert_non_null(strstr(out, "exit status 3"));
	free(out);
	out = ctl(f, "top --once");
	if (!strstr(out, "exit status 3: \303\251?[2J??X?[31m?ok\n"))
		fail_msg("the error is not shown filtered:\n%s", out);
	assert_null(strchr(out, '\033'));
	assert_null(strchr(out, '\233'));
	free(out);
}

/*
 * The first full frame (between cursor home and clear to the end) has at
 * most 24 rows (23 newlines: one more would scroll) of at most 80 columns
 * of text, escapes aside.
 */
static void
frame_fits(const char *out)
{
	const char *p = strstr(out, "\033[H"), *end;
	int rows = 1, col = 0;

	assert_non_null(p);
	end = strstr(p, "\033[J");
	assert_non_null(end);
	for (p += 3; p < end; p++) {
		if (*p == '\033') {
			p += strspn(p + 2, "0123456789;?") + 2;
			continue;
		}
		if (*p == '\n') {
			rows++;
			col = 0;
		} else if (*p != '\r' && ++col > 80) {
			fail_msg("a row of top is wider than 80 columns");
		}
	}
	assert_true(rows <= 24);
}

/* A pseudo-terminal of 80x24: its master, the slave's name in *slave;
 * skips the test (freeing out) when there are none. */
static int
open_pty(const char **slave, char *out)
{
	struct winsize ws = {.ws_row = 24, .ws_col = 80};
	int m = posix_openpt(O_RDWR | O_NOCTTY);

	if (m < 0 || grantpt(m) || unlockpt(m) || !(*slave = ptsname(m))) {
		print_message("no pseudo-terminals here: not tested\n");
		if (m >= 0)
			close(m);
		free(out);
		skip();
	}
	ioctl(m, TIOCSWINSZ, &ws);
	return m;
}

/*
 * kschedctl top on a pseudo-terminal of 80x24: once it shows the workers,
 * press q (or send signal sig when not 0): it must exit 0 within 5 s and
 * leave the alternate screen (the terminal given back).
 */
static void
top_on_pty(const struct fx *f, int sig)
{
	int m, status = -1;
	char path[PATH_MAX + 32], *out = calloc(1, OUT_MAX);
	const char *slave;
	size_t n = 0;
	int64_t end;
	pid_t pid;

	m = open_pty(&slave, out);
	snprintf(path, sizeof(path), "%s/kschedctl", td_bindir());
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int s;

		setsid();
		s = open(slave, O_RDWR); /* our controlling terminal now */
		if (s < 0)
			_exit(126);
		dup2(s, 0);
		dup2(s, 1);
		dup2(s, 2);
		close(m);
		execl(path, path, "--control", f->cl.ctl, "top", "--interval",
		      "200", (char *)NULL);
		_exit(127);
	}
	end = td_now_ms() + 15000 * tu_slow();
	for (bool asked = false; td_now_ms() < end;) {
		struct pollfd p = {m, POLLIN, 0};
		ssize_t r;

		if (poll(&p, 1, 50) > 0 &&
		    (r = read(m, out + n, OUT_MAX - 1 - n)) > 0)
			n += (size_t)r;
		out[n] = 0;
		if (!asked && strstr(out, "topw2")) {
			asked = true;
			if (sig)
				kill(pid, sig);
			else
				assert_int_equal(write(m, "q", 1), 1);
			end = td_now_ms() + 5000 * tu_slow();
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (n >=
		    OUT_MAX - 1) /* keep draining: the child must not block */
			n = 0;
	}
	if (!WIFEXITED(status)) {
		td_kill(pid);
		fail_msg("top did not quit on %s; output:\n%s",
			 sig ? strsignal(sig) : "q", out);
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(out, "\033[?1049h")); /* alternate screen */
	assert_non_null(strstr(out, "\033[?1049l")); /* and back */
	frame_fits(out);
	close(m);
	free(out);
}

static void
test_top_q_quits_on_a_terminal(void **state)
{
	top_on_pty(*state, 0);
}

static void
test_top_sigterm_restores_the_terminal(void **state)
{
	top_on_pty(*state, SIGTERM);
}

/* The state letter of /proc/PID/stat ('T' when stopped), 0 if unknown. */
static char
proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(fp = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Read what the pty has into out (n bytes kept), for up to ms; stop early
 * when want (if not NULL) appears after offset from. */
static void
pty_pump(int m, char *out, size_t *n, int ms, const char *want, size_t from)
{
	int64_t end = td_now_ms() + (int64_t)ms * tu_slow();

	while (td_now_ms() < end) {
		struct pollfd p = {m, POLLIN, 0};
		ssize_t r;

		if (poll(&p, 1, 50) > 0 &&
		    (r = read(m, out + *n, OUT_MAX - 1 - *n)) > 0)
			*n += (size_t)r;
		out[*n] = 0;
		if (want && strstr(out + from, want))
			return;
		if (*n >= OUT_MAX - 1)
			fail_msg("too much output from top");
	}
}

/* The "shell" of the Ctrl-Z test: a session leader on the pty that runs
 * top in a foreground process group of its own, tells its pid on fd, and
 * exits with top's status. */
static void
job_shell(const struct fx *f, const char *slave, int fd)
{
	char path[PATH_MAX + 32];
	int s, status = 0;
	pid_t c;

	snprintf(path, sizeof(path), "%s/kschedctl", td_bindir());
	setsid();
	if ((s = open(slave, O_RDWR)) < 0) /* the controlling terminal */
		_exit(126);
	dup2(s, 0);
	dup2(s, 1);
	dup2(s, 2);
	if ((c = fork()) == 0) {
		signal(SIGTTOU, SIG_IGN); /* tcsetpgrp from the background */
		setpgid(0, 0);
		tcsetpgrp(0, getpid());
		signal(SIGTTOU, SIG_DFL);
		execl(path, path, "--control", f->cl.ctl, "top", "--interval",
		      "200", (char *)NULL);
		_exit(127);
	}
	if (c < 0 || write(fd, &c, sizeof(c)) != sizeof(c))
		_exit(125);
	while (waitpid(c, &status, 0) < 0) /* stops are not reported */
		;
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 124);
}

/*
 * Ctrl-Z on the terminal, as under a job-control shell (top's group is not
 * orphaned, so the stop is real).  While stopped top must have left the
 * alternate screen with echo and line mode back; continued, it takes the
 * screen again; q then quits with status 0.
 */
static void
test_top_ctrl_z_gives_the_terminal_back(void **state)
{
	int m, status = -1, fds[2], s;
	char *out = calloc(1, OUT_MAX), st = 0;
	const char *slave, *why = NULL;
	struct termios tio;
	size_t n = 0, mark;
	pid_t shell, top = 0;

	m = open_pty(&slave, out);
	assert_int_equal(pipe(fds), 0);
	shell = fork();
	assert_true(shell >= 0);
	if (shell == 0) {
		close(m);
		close(fds[0]);
		job_shell(*state, slave, fds[1]);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &top, sizeof(top)), sizeof(top));
	close(fds[0]);
	pty_pump(m, out, &n, 15000, "topw2", 0);
	assert_non_null(strstr(out, "topw2"));
	mark = n;
	assert_int_equal(write(m, "\032", 1), 1); /* Ctrl-Z */
	for (int i = 0; i < 100 && (st = proc_state(top)) != 'T'; i++)
		pty_pump(m, out, &n, 50, NULL, 0);
	if (st != 'T')
		why = "top did not stop on Ctrl-Z";
	pty_pump(m, out, &n, 200, NULL, 0);
	if (!why && !strstr(out + mark, "\033[?1049l"))
		why = "stopped on the alternate screen";
	tio.c_lflag = 0;
	if (!why && (s = open(slave, O_RDWR | O_NOCTTY)) >= 0) {
		if (tcgetattr(s, &tio))
			tio.c_lflag = 0;
		close(s);
	}
	if (!why && (!(tio.c_lflag & ECHO) || !(tio.c_lflag & ICANON)))
		why = "stopped with the terminal raw";
	mark = n;
	kill(top, SIGCONT);
	pty_pump(m, out, &n, 5000, "topw2", mark);
	if (!why && !strstr(out + mark, "\033[?1049h"))
		why = "the alternate screen not taken again";
	if (!why && write(m, "q", 1) != 1)
		why = "cannot press q";
	for (int i = 0; !why && i < 100 &&
			waitpid(shell, &status, WNOHANG) != shell;
	     i++)
		pty_pump(m, out, &n, 50, NULL, 0);
	if (!why && !WIFEXITED(status))
		why = "top did not quit after Ctrl-Z and SIGCONT";
	if (why) {
		td_kill(top); /* stopped or not */
		td_kill(shell);
		fail_msg("%s; output:\n%s", why, out);
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	close(m);
	free(out);
}

/* Ctrl-\ (SIGQUIT) must not leave the terminal raw on the alternate
 * screen either. */
static void
test_top_sigquit_restores_the_terminal(void **state)
{
	top_on_pty(*state, SIGQUIT);
}

/* submit --file of more tasks than one request holds, stderr a pipe. */
static void
test_progress_plain_when_not_a_tty(void **state)
{
	struct fx *f = *state;
	char path[700], args[800], *out;
	FILE *t;

	snprintf(path, sizeof(path), "%s/tasks.jsonl", f->cl.dir);
	t = fopen(path, "w");
	assert_non_null(t);
	for (int i = 0; i < 2500; i++)
		fprintf(t,
			"{\"kind\":\"sim\",\"payload\":\"{}\",\"salt\":"
			"\"%d\"}\n",
			i);
	fclose(t);
	snprintf(args, sizeof(args), "submit --file '%s' 2>&1 >/dev/null",
		 path);
	out = ctl(f, args);
	assert_non_null(strstr(out, "kschedctl: submit: submitted 2500/2500"));
	assert_null(strchr(out, '\r'));
	assert_null(strchr(out, '\033'));
	free(out);
	out = ctl(f, "wait --all --timeout-s 60 2>&1");
	assert_null(strchr(out, '\r'));
	assert_null(strchr(out, '\033'));
	free(out);
}

/* ---- logs --------------------------------------------------------------- */

/*
 * Every line of path is a JSON object with ts, level (one of levels, a
 * space separated list) and msg; how many there are.
 */
static int
json_lines(const char *path, const char *levels)
{
	char *s = slurp(path), *save = NULL;
	int n = 0;

	assert_non_null(s);
	for (char *l = strtok_r(s, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save), n++) {
		json_error_t err;
		json_t *o = json_loads(l, 0, &err);

		if (!o || !json_is_object(o))
			fail_msg("%s: not a JSON object: %s (%s)", path, l,
				 err.text);
		assert_true(json_is_string(json_object_get(o, "ts")));
		assert_true(json_is_string(json_object_get(o, "level")));
		if (!strstr(levels,
			    json_string_value(json_object_get(o, "level"))))
			fail_msg("%s: level not in '%s': %s", path, levels, l);
		assert_true(json_is_string(json_object_get(o, "msg")));
		json_decref(o);
	}
	free(s);
	return n;
}

#define ALL_LEVELS "err warn notice info debug"

static void
test_log_format_json(void **state)
{
	struct fx f = {0};
	char path[700], *out;

	(void)state;
	start_cluster(&f, "logjson", "json", "debug");
	out = ctl(&f, "submit --kind sim --wait 2>&1");
	free(out);
	stop_cluster(&f);
	/* queue opened, master ready, worker joined, ... */
	assert_true(json_lines(f.cl.log, ALL_LEVELS) >= 4);
	tc_worker_path(&f.cl, "topw1", "log", path, sizeof(path));
	assert_true(json_lines(path, ALL_LEVELS) >= 2); /* registered, ... */
	tc_remove(&f.cl);
}

/* --log-level warn: nothing below warn on either daemon. */
static void
test_log_level_filters(void **state)
{
	struct fx f = {0};
	char path[700], *out;

	(void)state;
	start_cluster(&f, "loglevel", "json", "warn");
	out = ctl(&f, "submit --kind sim --wait 2>&1");
	free(out);
	stop_cluster(&f);
	json_lines(f.cl.log, "err warn");
	tc_worker_path(&f.cl, "topw1", "log", path, sizeof(path));
	json_lines(path, "err warn");
	tc_remove(&f.cl);
}

static void
test_log_format_bad_value(void **state)
{
	char *out = run("'%s/ksched-master' --log-format xml 2>&1; echo rc=$?",
			td_bindir());

	(void)state;
	assert_non_null(strstr(out, "--log-format"));
	assert_non_null(strstr(out, "rc=2"));
	free(out);
	out = run("'%s/ksched-worker' --log-format xml 2>&1; echo rc=$?",
		  td_bindir());
	assert_non_null(strstr(out, "--log-format"));
	assert_non_null(strstr(out, "rc=2"));
	free(out);
}

/* top with nobody listening: a clear error and exit status 3, no frame. */
static void
test_top_no_master(void **state)
{
	char *dir = tu_tmpdir("nomaster");
	char *out = run("timeout -k 5 60 '%s/kschedctl' --control "
			"'ipc://%s/none.ipc' --timeout 300 top --once 2>&1; "
			"echo rc=$?",
			td_bindir(), dir);

	(void)state;
	assert_non_null(strstr(out, "cannot reach the master"));
	assert_non_null(strstr(out, "rc=3"));
	assert_null(strstr(out, "WORKER"));
	free(out);
	tu_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest man[] = {
	    cmocka_unit_test(test_man_every_program_has_page),
	    cmocka_unit_test(test_man_every_option_documented),
	    cmocka_unit_test(test_man_renders_without_warnings),
	    cmocka_unit_test(test_log_format_bad_value),
	    cmocka_unit_test(test_log_format_json),
	    cmocka_unit_test(test_log_level_filters),
	    cmocka_unit_test(test_top_no_master),
	};
	const struct CMUnitTest live[] = {
	    cmocka_unit_test(test_list_newest),
	    cmocka_unit_test(test_top_plain_snapshot),
	    cmocka_unit_test(test_top_q_quits_on_a_terminal),
	    cmocka_unit_test(test_top_sigterm_restores_the_terminal),
	    cmocka_unit_test(test_top_sigquit_restores_the_terminal),
	    cmocka_unit_test(test_top_ctrl_z_gives_the_terminal_back),
	    cmocka_unit_test(test_top_escapes_filtered),
	    cmocka_unit_test(test_progress_plain_when_not_a_tty),
	};
	int rc = cmocka_run_group_tests(man, NULL, NULL);

	return rc + cmocka_run_group_tests(live, setup, teardown);
}
