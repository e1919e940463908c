/*
 * The daemons a benchmark starts (bench_cluster, bench_recovery): a table of
 * the children running now, so that every one is stopped by its PID on any
 * way out (normal end, die(), SIGINT/SIGTERM), bounded waits, and the run's
 * directory under $TMPDIR (or /tmp), removed at the end.  Built on the
 * integration tests' daemon.h, plus the table the signal handler needs.
 *
 * Header of static functions, one user per program; define _XOPEN_SOURCE
 * 700 before the system headers, include after them, and call procs_init()
 * first thing in main().  CHECK() wants "ksched.h".
 */
#ifndef KSCHED_BENCH_PROCS_H
#define KSCHED_BENCH_PROCS_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../testutil.h"
#include "../integration/daemon.h"

#define PROCS_MAX 16	    /* daemons running at once */
#define PROCS_STOP_MS 10000 /* bound on a daemon's clean stop */
#define PROCS_MAX_ARGS 40   /* argv entries of spawn_bin(), NULL included */

static const char *procs_prog; /* this program's name, for messages */
static int procs_start_ms;     /* bound on a daemon's start (wait_file) */
static char *base_dir;	       /* every file of the run lives under it */
static pid_t kids[PROCS_MAX];  /* daemons running now, 0 = free slot */

static inline double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double
mono_ms(void)
{
	return mono() * 1e3;
}

/* Forget pid (reaped, or about to be); false if it was not ours. */
static inline bool
forget_pid(pid_t pid)
{
	for (size_t i = 0; i < PROCS_MAX; i++) {
		if (kids[i] == pid && pid > 0) {
			kids[i] = 0;
			return true;
		}
	}
	return false;
}

/*
 * Stop pid: SIGTERM, a bounded wait, SIGKILL.  The wait status, or -1 if it
 * had to be killed; 0 if it was reaped already.
 */
static inline int
stop_pid(pid_t pid)
{
	return forget_pid(pid) ? td_stop(pid, PROCS_STOP_MS) : 0;
}

/* SIGKILL and reap. */
static inline void
kill_pid(pid_t pid)
{
	if (forget_pid(pid))
		td_kill(pid);
}

/* Stop every daemon still running and remove the run's directory. */
static inline void
cleanup(void)
{
	for (size_t i = 0; i < PROCS_MAX; i++)
		if (kids[i] > 0)
			stop_pid(kids[i]);
	tu_rmtree(base_dir);
	base_dir = NULL;
}

/*
 * SIGINT/SIGTERM: kill what we started, by PID, reap it, remove the files
 * (by an rm child: nftw is not async-signal-safe), and go.
 */
static inline void
on_signal(int sig)
{
	static const char msg[] = ": interrupted\n";
	char *rm_argv[] = {"/bin/rm", "-rf", base_dir, NULL}, *envp[] = {NULL};
	pid_t rm = -1;

	for (size_t i = 0; i < PROCS_MAX; i++) {
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
	}
	if (base_dir && (rm = fork()) == 0) {
		execve(rm_argv[0], rm_argv, envp);
		_exit(127);
	}
	if (rm > 0)
		waitpid(rm, NULL, 0);
	if (write(2, procs_prog, strlen(procs_prog)) > 0)
		(void)!write(2, msg, sizeof(msg) - 1);
	_exit(128 + sig);
}

static inline void
die(const char *what, const char *why)
{
	fprintf(stderr, "%s: %s: %s\n", procs_prog, what, why);
	cleanup();
	exit(1);
}

#define CHECK(call)                                                            \
	do {                                                                   \
		ksched_err e_ = (call);                                        \
		if (e_)                                                        \
			die(#call, ksched_strerror(e_));                       \
	} while (0)

/* Copy a daemon's log to stderr (on failure, before the dir goes). */
static inline void
dump_log(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];

	fprintf(stderr, "--- %s\n", path);
	while (f && fgets(line, sizeof(line), f))
		fputs(line, stderr);
	if (f)
		fclose(f);
}

/*
 * Set up a run: prog names this program in messages, tag the run's
 * directory; start_ms bounds the wait for a daemon's start.  Catches
 * SIGINT/SIGTERM and ignores SIGPIPE.
 */
static inline void
procs_init(const char *prog, const char *tag, int start_ms)
{
	procs_prog = prog;
	procs_start_ms = start_ms;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	base_dir = tu_tmpdir(tag);
}

/* Start path with argv (argv[0] included), stderr to log; the PID. */
static inline pid_t
spawn(const char *path, char *const *argv, const char *log)
{
	pid_t parent = getpid(), pid;
	size_t i;

	for (i = 0; i < PROCS_MAX && kids[i]; i++)
		;
	if (i == PROCS_MAX)
		die("spawn", "too many daemons");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDWR);

		/* Die with us, whatever kills us. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (fd >= 0)
			dup2(fd, 2);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		execv(path, argv);
		/* Only async-signal-safe calls here: nng has threads. */
		if (write(2, "cannot execute ", 15) > 0 &&
		    write(2, path, strlen(path)) > 0)
			(void)!write(2, "\n", 1);
		_exit(127);
	}
	kids[i] = pid;
	return pid;
}

/*
 * Start BUILD/bin/prog (td_bindir(): this program is BUILD/bench/NAME) with
 * the NULL-terminated args (no argv[0]).
 */
static inline pid_t
spawn_bin(const char *prog, const char *const *args, const char *log)
{
	char path[PATH_MAX + 64];
	const char *argv[PROCS_MAX_ARGS];
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", td_bindir(), prog);
	argv[n++] = path;
	while (args[n - 1] && n < PROCS_MAX_ARGS - 1) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	return spawn(path, (char *const *)argv, log);
}

/* Whether pid has exited (then it is reaped and forgotten). */
static inline bool
has_exited(pid_t pid)
{
	if (waitpid(pid, NULL, WNOHANG) != pid)
		return false;
	forget_pid(pid);
	return true;
}

/* Wait (bounded) for a non-empty file; false on timeout or if pid died. */
static inline bool
wait_file(const char *path, pid_t pid)
{
	double end = mono_ms() + procs_start_ms;
	struct stat st;

	while (mono_ms() < end) {
		if (stat(path, &st) == 0 && st.st_size > 0)
			return true;
		if (pid > 0 && has_exited(pid))
			return false;
		td_sleep_ms(2);
	}
	return false;
}

#endif
