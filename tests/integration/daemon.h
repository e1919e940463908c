/*
 * Helpers for integration tests: find the built programs, start a daemon,
 * wait for its ready file (bounded), stop it by PID (SIGTERM, a bounded
 * wait, then SIGKILL).  Header-only; include after testutil.h.
 */
#ifndef KSCHED_TEST_DAEMON_H
#define KSCHED_TEST_DAEMON_H

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* BUILD/bin, from this test's own path (BUILD/tests/NAME). */
static inline const char *
td_bindir(void)
{
	static char dir[PATH_MAX + 8];
	char exe[PATH_MAX];
	ssize_t n;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		abort();
	exe[n] = 0;
	snprintf(dir, sizeof(dir), "%s/bin", dirname(dirname(exe)));
	return dir;
}

static inline int64_t
td_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void
td_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/*
 * Start BUILD/bin/prog with the NULL-terminated args; stderr goes to
 * logpath (or /dev/null).  Returns the PID.
 */
static inline pid_t
td_start(const char *prog, const char *logpath, const char *const *args)
{
	char path[PATH_MAX + 64];
	const char *argv[64];
	pid_t pid;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", td_bindir(), prog);
	argv[n++] = path;
	while (args && args[n - 1] && n < 63) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int fd = open(logpath ? logpath : "/dev/null",
			      O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDWR);
		if (fd >= 0)
			dup2(fd, 2);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		execv(path, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Wait (bounded) for path to exist; 0 when it does, -1 on timeout or if
 * pid died first. */
static inline int
td_wait_file(const char *path, pid_t pid, int timeout_ms)
{
	int64_t end = td_now_ms() + timeout_ms;
	struct stat st;
	int status;

	while (td_now_ms() < end) {
		if (stat(path, &st) == 0 && st.st_size > 0)
			return 0;
		if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid)
			return -1;
		td_sleep_ms(10);
	}
	return -1;
}

/*
 * Stop pid: SIGTERM, wait up to timeout_ms, then SIGKILL.  Returns the exit
 * status as waitpid gives it, or -1 if it had to be killed.
 */
static inline int
td_stop(pid_t pid, int timeout_ms)
{
	int64_t end = td_now_ms() + timeout_ms;
	int status = 0;

	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	while (td_now_ms() < end) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0 && errno == ECHILD)
			return status;
		td_sleep_ms(5);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Kill pid at once (SIGKILL) and reap it. */
static inline void
td_kill(pid_t pid)
{
	int status;

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/* Whether pid is still running (not reaped, not a zombie we reaped). */
static inline int
td_alive(pid_t pid)
{
	int status;

	return waitpid(pid, &status, WNOHANG) == 0;
}

#endif
