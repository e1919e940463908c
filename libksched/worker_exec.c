/*
 * libksched - worker executors: exec (a process) and sim (a simulated
 * computation); the threads that run them, and handlers, are in worker.c.
 *
 * exec uses posix_spawn (the worker is multi-threaded: nothing runs between
 * fork and exec but what the C library does) with the child in its own
 * process group, and one poll() loop that feeds stdin, reads stdout and
 * stderr, reaps the child and enforces the timeout.  When argv[0] exits,
 * whatever it left in its process group is killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "alloc.h"
#include "log.h"
#include "proto.h"
#include "utf8.h"
#include "worker_int.h"

extern char **environ;

#define CANCELED_MSG "canceled: worker stopping"

static bool
canceled(const atomic_bool *c)
{
	return c && atomic_load(c);
}

int64_t
ksched__mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- results -------------------------------------------------------------- */

void
ksched__result_clear(struct ksched__result *r)
{
	ksched__free(r->out);
	ksched__free(r->error);
	memset(r, 0, sizeof(*r));
}

void
ksched__result_fail(struct ksched__result *r, int32_t st, const char *fmt, ...)
{
	va_list ap;
	int n;

	ksched__result_clear(r);
	r->exit_status = st;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(r->error = ksched__malloc((size_t)n + 1)))
		return;
	va_start(ap, fmt);
	vsnprintf(r->error, (size_t)n + 1, fmt, ap);
	va_end(ap);
}

static void
result_text(struct ksched__result *r, const char *text)
{
	size_t n = strlen(text);

	ksched__result_clear(r);
	r->out = ksched__memdup(text, n);
	if (!r->out) {
		ksched__result_fail(r, -1, "out of memory");
		return;
	}
	r->ok = true;
	r->len = n;
}

void
ksched__job_free(struct ksched__job *j)
{
	if (!j)
		return;
	ksched_task_free(j->task);
	ksched__free(j->bad);
	ksched__result_clear(&j->r);
	ksched__free(j);
}

/* --- exec: argv, environment, spawn ------------------------------------- */

static size_t
env_name_len(const char *e)
{
	const char *eq = strchr(e, '=');

	return eq ? (size_t)(eq - e) : strlen(e);
}

static bool
same_name(const char *a, const char *b)
{
	size_t n = env_name_len(a);

	return n == env_name_len(b) && memcmp(a, b, n) == 0;
}

/* Whether task entry i is overridden by a later one or e by any. */
static bool
env_shadowed(const ksched_task *t, const char *e, size_t from)
{
	for (size_t i = from; i < ksched_task_envc(t); i++)
		if (same_name(e, ksched_task_env(t, i)))
			return true;
	return false;
}

/* The worker's environment plus the task's entries (the task's win). */
static char **
build_envp(const ksched_task *t)
{
	size_t ne = 0, nt = ksched_task_envc(t), k = 0;
	char **envp;

	while (environ && environ[ne])
		ne++;
	envp = ksched__calloc(ne + nt + 1, sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < ne; i++)
		if (!env_shadowed(t, environ[i], 0))
			envp[k++] = environ[i];
	for (size_t i = 0; i < nt; i++)
		if (!env_shadowed(t, ksched_task_env(t, i), i + 1))
			envp[k++] = (char *)ksched_task_env(t, i);
	envp[k] = NULL;
	return envp;
}

static char **
build_argv(const ksched_task *t)
{
	size_t n = ksched_task_argc(t);
	char **argv = ksched__calloc(n + 1, sizeof(*argv));

	for (size_t i = 0; argv && i < n; i++)
		argv[i] = (char *)ksched_task_arg(t, i);
	return argv;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A close-on-exec pipe whose ends are not 0, 1 or 2. */
static int
pipe_hi(int p[2])
{
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		int fd = p[i] > 2 ? p[i] : fcntl(p[i], F_DUPFD_CLOEXEC, 3);

		if (fd < 0) {
			close_fd(&p[0]);
			close_fd(&p[1]);
			return -1;
		}
		if (fd != p[i])
			close(p[i]);
		p[i] = fd;
	}
	return 0;
}

/* posix_spawnp with stdio on fds io[], in a new process group. */
static int
spawn(pid_t *pid, const char *cwd, char **argv, char **envp, const int io[3])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		return rc;
	if ((rc = posix_spawnattr_init(&at)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	for (int i = 0; i < 3 && !rc; i++)
		rc = posix_spawn_file_actions_adddup2(&fa, io[i], i);
	if (!rc && cwd)
		rc = posix_spawn_file_actions_addchdir_np(&fa, cwd);
	if (!rc)
		rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
						       POSIX_SPAWN_SETSIGMASK |
						       POSIX_SPAWN_SETSIGDEF);
	if (!rc)
		rc = posix_spawnattr_setpgroup(&at, 0);
	if (!rc)
		rc = posix_spawnattr_setsigmask(&at, &none);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(&at, &all);
	if (!rc)
		rc = posix_spawnp(pid, argv[0], &fa, &at, argv, envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* --- exec: the process loop --------------------------------------------- */

struct proc {
	pid_t pid;
	int fd[3]; /* stdin (we write), stdout, stderr (we read); -1 closed */
	const unsigned char *in;
	size_t inlen, inoff;
	unsigned char *out;
	size_t outlen, outcap;
	char tail[KSCHED__EXEC_ERR_TAIL];
	size_t taillen;
	int status;
	bool reaped, lost, nomem, epipe, timed_out, canceled;
	int64_t term_at;     /* timeout: SIGTERM at (0 = none) */
	int64_t kill_at;     /* SIGKILL at (0 = none) */
	int64_t drain_until; /* after the exit: stop waiting for EOF */
};

static void
proc_write(struct proc *p)
{
	while (p->inoff < p->inlen) {
		size_t n = p->inlen - p->inoff;
		ssize_t w =
		    write(p->fd[0], p->in + p->inoff, n > 65536 ? 65536 : n);

		if (w > 0) {
			p->inoff += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0 && errno == EPIPE)
			p->epipe = true;
		break;
	}
	close_fd(&p->fd[0]);
}

static void
keep_out(struct proc *p, const unsigned char *b, size_t n)
{
	size_t room = KSCHED__EXEC_OUT_MAX - p->outlen;

	if (n > room)
		n = room; /* past the cap: drained and dropped */
	if (!n || p->nomem)
		return;
	if (p->outlen + n > p->outcap) {
		size_t cap = p->outcap ? p->outcap * 2 : 16384;
		void *q;

		while (cap < p->outlen + n)
			cap *= 2;
		if (cap > KSCHED__EXEC_OUT_MAX)
			cap = KSCHED__EXEC_OUT_MAX;
		if (!(q = ksched__realloc(p->out, cap))) {
			p->nomem = true;
			return;
		}
		p->out = q;
		p->outcap = cap;
	}
	memcpy(p->out + p->outlen, b, n);
	p->outlen += n;
}

static void
keep_tail(struct proc *p, const unsigned char *b, size_t n)
{
	size_t cap = sizeof(p->tail) - 1; /* and room for the NUL */

	if (n >= cap) {
		memcpy(p->tail, b + n - cap, cap);
		p->taillen = cap;
		return;
	}
	if (p->taillen + n > cap) {
		size_t drop = p->taillen + n - cap;

		memmove(p->tail, p->tail + drop, p->taillen - drop);
		p->taillen -= drop;
	}
	memcpy(p->tail + p->taillen, b, n);
	p->taillen += n;
}

static void
proc_read(struct proc *p, int i)
{
	unsigned char buf[16384];

	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(p->fd[i], buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close_fd(&p->fd[i]);
			return;
		}
		if (i == 1)
			keep_out(p, buf, (size_t)n);
		else
			keep_tail(p, buf, (size_t)n);
	}
}

static void
proc_reap(struct proc *p, int64_t now)
{
	pid_t r;
	int st = 0;

	if (p->reaped)
		return;
	do
		r = waitpid(p->pid, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return;
	p->reaped = true;
	p->lost = r < 0; /* someone else reaped it (ECHILD) */
	p->status = st;
	kill(-p->pid, SIGKILL); /* what it left in its group */
	close_fd(&p->fd[0]);
	p->drain_until = now + KSCHED__EXEC_DRAIN_MS;
}

static void
proc_timers(struct proc *p, const atomic_bool *cancel, int64_t now)
{
	if (p->reaped)
		return;
	if (!p->canceled && canceled(cancel)) {
		p->canceled = true;
		kill(-p->pid, SIGKILL);
	}
	if (p->term_at && now >= p->term_at && !p->timed_out) {
		p->timed_out = true;
		kill(-p->pid, SIGTERM);
		p->kill_at = now + KSCHED__EXEC_KILL_GRACE_MS;
	}
	if (p->kill_at && now >= p->kill_at) {
		kill(-p->pid, SIGKILL);
		p->kill_at = 0;
	}
}

/* How long poll() may sleep: up to 100 ms, less if a timer is due. */
static int
proc_wait_ms(const struct proc *p, int64_t now, int idle)
{
	int64_t t = idle;
	int64_t due[3] = {p->term_at && !p->timed_out ? p->term_at : 0,
			  p->kill_at, p->reaped ? p->drain_until : 0};

	for (int i = 0; i < 3; i++)
		if (due[i] && due[i] - now < t)
			t = due[i] - now;
	return t < 0 ? 0 : (int)t;
}

static void
proc_loop(struct proc *p, const atomic_bool *cancel)
{
	int idle = 1;

	for (;;) {
		int64_t now = ksched__mono_ms();
		struct pollfd pf[3];
		int which[3];
		nfds_t n = 0;

		proc_reap(p, now);
		proc_timers(p, cancel, now);
		if (p->reaped &&
		    ((p->fd[1] < 0 && p->fd[2] < 0) || now >= p->drain_until))
			break;
		for (int i = 0; i < 3; i++) {
			if (p->fd[i] < 0)
				continue;
			pf[n].fd = p->fd[i];
			pf[n].events = i ? POLLIN : POLLOUT;
			pf[n].revents = 0;
			which[n++] = i;
		}
		/* no pipe left: poll the exit with a growing interval */
		idle = n ? 100 : (idle < 50 ? idle * 2 : 50);
		if (poll(pf, n, proc_wait_ms(p, now, idle)) <= 0)
			continue;
		for (nfds_t i = 0; i < n; i++) {
			if (!pf[i].revents)
				continue;
			if (which[i] == 0)
				proc_write(p);
			else
				proc_read(p, which[i]);
		}
	}
}

/* --- exec: the outcome ------------------------------------------------- */

/* Make the stderr tail printable UTF-8 without a trailing newline. */
static const char *
tail_text(struct proc *p)
{
	size_t n = p->taillen, i = 0, k = 0;
	char *s = p->tail;

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80)
		i++; /* cut in the middle of a character */
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t l = ksched__utf8_seq((unsigned char *)s + i, n - i);

		if (l > 1) { /* a whole character: keep it */
			memmove(s + k, s + i, l);
			k += l;
			i += l;
			continue;
		}
		/* Control characters, and bytes that are not UTF-8. */
		if (!l || (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			c = '?';
		s[k++] = (char)c;
		i++;
	}
	s[k] = 0; /* k < sizeof(p->tail): keep_tail leaves room */
	return s;
}

static void
proc_result(struct proc *p, const ksched_task *t, struct ksched__result *r)
{
	int st = p->status;
	int32_t code = WIFEXITED(st)	 ? WEXITSTATUS(st)
		       : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
					 : -1;
	const char *tail = tail_text(p);

	if (p->canceled)
		ksched__result_fail(r, code, CANCELED_MSG);
	else if (p->timed_out)
		ksched__result_fail(r, code, "timed out after %" PRId64 " ms",
				    ksched_task_timeout_ms(t));
	else if (p->lost)
		ksched__result_fail(r, -1, "exit status of pid %d lost",
				    (int)p->pid);
	else if (WIFEXITED(st) && code == 0 && p->nomem)
		ksched__result_fail(r, -1, "out of memory keeping the output");
	else if (WIFEXITED(st) && code == 0) {
		r->ok = true;
		r->out = p->out;
		r->len = p->outlen;
		p->out = NULL;
	} else if (WIFEXITED(st))
		ksched__result_fail(r, code, "exit status %d%s%s", (int)code,
				    tail[0] ? ": " : "", tail);
	else
		ksched__result_fail(r, code, "killed by signal %d",
				    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static bool
check_cwd(const char *cwd, struct ksched__result *r)
{
	struct stat sb;

	if (stat(cwd, &sb) != 0) {
		ksched__result_fail(r, -1,
				    "cannot change directory to '%s': %s", cwd,
				    strerror(errno));
		return false;
	}
	if (!S_ISDIR(sb.st_mode)) {
		ksched__result_fail(r, -1,
				    "cannot change directory to '%s': "
				    "Not a directory",
				    cwd);
		return false;
	}
	return true;
}

static void
proc_start(struct proc *p, const ksched_task *t)
{
	size_t len;

	for (int i = 0; i < 3; i++)
		fcntl(p->fd[i], F_SETFL, fcntl(p->fd[i], F_GETFL) | O_NONBLOCK);
	p->in = ksched_task_payload(t, &len);
	p->inlen = len;
	if (!len)
		close_fd(&p->fd[0]);
	if (ksched_task_timeout_ms(t) > 0)
		p->term_at = ksched__mono_ms() + ksched_task_timeout_ms(t);
}

/* Spawn and run; *epipe tells whether a write raised SIGPIPE. */
static void
exec_task(const ksched_task *t, const atomic_bool *cancel,
	  struct ksched__result *r, bool *epipe)
{
	struct proc p = {.fd = {-1, -1, -1}};
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
	const char *cwd = ksched_task_cwd(t);
	char **argv = NULL, **envp = NULL;
	int rc;

	if (ksched_task_argc(t) == 0) {
		ksched__result_fail(r, -1, "exec: the task has no argv");
		return;
	}
	if (cwd && !check_cwd(cwd, r))
		return;
	argv = build_argv(t);
	envp = build_envp(t);
	if (!argv || !envp) {
		ksched__result_fail(r, -1, "exec: out of memory");
	} else if (pipe_hi(pin) || pipe_hi(pout) || pipe_hi(perr)) {
		ksched__result_fail(r, -1, "exec: cannot create a pipe: %s",
				    strerror(errno));
	} else {
		int io[3] = {pin[0], pout[1], perr[1]};

		rc = spawn(&p.pid, cwd, argv, envp, io);
		close_fd(&pin[0]);
		close_fd(&pout[1]);
		close_fd(&perr[1]);
		p.fd[0] = pin[1];
		p.fd[1] = pout[0];
		p.fd[2] = perr[0];
		pin[1] = pout[0] = perr[0] = -1;
		if (rc) {
			ksched__result_fail(r, 127, "cannot execute '%s': %s",
					    argv[0], strerror(rc));
		} else {
			proc_start(&p, t);
			proc_loop(&p, cancel);
			proc_result(&p, t, r);
		}
	}
	for (int i = 0; i < 3; i++)
		close_fd(&p.fd[i]);
	for (int i = 0; i < 2; i++) {
		close_fd(&pin[i]);
		close_fd(&pout[i]);
		close_fd(&perr[i]);
	}
	if (p.pid > 0 && !p.reaped) { /* the loop never ends so; be safe */
		kill(-p.pid, SIGKILL);
		while (waitpid(p.pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	ksched__free(p.out);
	ksched__free(argv);
	ksched__free(envp);
	*epipe = p.epipe;
}

void
ksched__exec_run(const ksched_task *t, const atomic_bool *cancel,
		 struct ksched__result *r)
{
	sigset_t pipe_set, old;
	bool epipe = false;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	exec_task(t, cancel, r, &epipe);
	if (epipe) { /* swallow the SIGPIPE our write raised */
		struct timespec zero = {0, 0};

		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 &&
		       errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* --- sim ------------------------------------------------------------------ */

struct sim_args {
	json_int_t cpu_ms, mem_mb, sleep_ms, pi_samples, exit_code;
	uint64_t seed;
	bool fail;
	bool timed_out; /* the task's timeout cut the work short */
};

static bool
sim_int(json_t *o, const char *key, json_int_t max, json_int_t *v,
	struct ksched__result *r)
{
	json_t *j = json_object_get(o, key);

	if (!j)
		return true;
	if (!json_is_integer(j) || json_integer_value(j) < 0 ||
	    json_integer_value(j) > max) {
		ksched__result_fail(r, -1,
				    "sim: bad payload: '%s' must be an integer "
				    "from 0 to %lld",
				    key, (long long)max);
		return false;
	}
	*v = json_integer_value(j);
	return true;
}

static bool
sim_flags(json_t *o, struct sim_args *a, struct ksched__result *r)
{
	json_t *seed = json_object_get(o, "seed");
	json_t *fail = json_object_get(o, "fail");

	if (seed && !json_is_integer(seed)) {
		ksched__result_fail(r, -1,
				    "sim: bad payload: 'seed' must be "
				    "an integer");
		return false;
	}
	if (fail && !json_is_boolean(fail)) {
		ksched__result_fail(r, -1,
				    "sim: bad payload: 'fail' must be "
				    "true or false");
		return false;
	}
	a->seed = seed ? (uint64_t)json_integer_value(seed) : 0;
	a->fail = fail && json_is_true(fail);
	return true;
}

static bool
sim_parse(const void *pl, size_t len, struct sim_args *a,
	  struct ksched__result *r)
{
	json_error_t je;
	json_t *o = json_loadb(pl, len, 0, &je);
	bool ok;

	if (!o) {
		ksched__result_fail(r, -1, "sim: bad payload: %s", je.text);
		return false;
	}
	ok = json_is_object(o);
	if (!ok)
		ksched__result_fail(r, -1,
				    "sim: bad payload: not a JSON "
				    "object");
	ok = ok && sim_int(o, "cpu_ms", KSCHED_DURATION_MAX, &a->cpu_ms, r) &&
	     sim_int(o, "mem_mb", KSCHED_MEM_MAX, &a->mem_mb, r) &&
	     sim_int(o, "sleep_ms", KSCHED_DURATION_MAX, &a->sleep_ms, r) &&
	     sim_int(o, "pi_samples", 1LL << 50, &a->pi_samples, r) &&
	     sim_int(o, "exit", 255, &a->exit_code, r) && sim_flags(o, a, r);
	json_decref(o);
	return ok;
}

static int64_t
thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool
sim_cpu(json_int_t ms, const atomic_bool *cancel)
{
	int64_t start = thread_cpu_us();
	volatile uint64_t x = 0;

	while (thread_cpu_us() - start < (int64_t)ms * 1000) {
		for (uint64_t i = 0; i < 20000; i++)
			x = x + i * 2654435761u;
		if (canceled(cancel))
			return false;
	}
	return true;
}

static bool
sim_sleep(json_int_t ms, const atomic_bool *cancel)
{
	int64_t end = ksched__mono_ms() + ms;

	for (int64_t now; (now = ksched__mono_ms()) < end;) {
		int64_t d = end - now > 20 ? 20 : end - now;
		struct timespec ts = {0, (long)d * 1000000};

		if (canceled(cancel))
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

/* splitmix64: a deterministic PRNG, so a seed gives one answer. */
static uint64_t
sm64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

bool
ksched__pi_estimate(uint64_t seed, uint64_t samples, const atomic_bool *cancel,
		    double *pi)
{
	uint64_t s = seed, in = 0;

	for (uint64_t i = 0; i < samples; i++) {
		double x = (double)(sm64(&s) >> 11) * 0x1.0p-53;
		double y = (double)(sm64(&s) >> 11) * 0x1.0p-53;

		in += x * x + y * y < 1.0;
		if ((i & 0xfffff) == 0xfffff && canceled(cancel))
			return false;
	}
	*pi = samples ? 4.0 * (double)in / (double)samples : 0;
	return true;
}

static void
sim_result(const struct sim_args *a, double pi, struct ksched__result *r)
{
	char buf[128];

	if (a->fail) {
		ksched__result_fail(r, -1, "simulated failure");
	} else if (a->exit_code) {
		ksched__result_fail(r, (int32_t)a->exit_code, "exit status %d",
				    (int)a->exit_code);
	} else if (a->pi_samples) {
		snprintf(buf, sizeof(buf), "{\"pi\":%.6f,\"samples\":%lld}", pi,
			 (long long)a->pi_samples);
		result_text(r, buf);
	} else {
		result_text(r, "{\"ok\":true}");
	}
}

/*
 * The task's timeout bounds the simulated work: *ms is cut to what is left
 * of it after `used` ms (and the cut noted); returns the new *ms.
 */
static json_int_t
sim_budget(const ksched_task *t, json_int_t *ms, json_int_t used,
	      bool *timed_out)
{
	int64_t limit = ksched_task_timeout_ms(t);

	if (limit > 0 && used + *ms > limit) {
		*ms = limit > used ? limit - used : 0;
		*timed_out = true;
	}
	return *ms;
}

void
ksched__sim_run(const ksched_task *t, const atomic_bool *cancel,
		struct ksched__result *r)
{
	struct sim_args a = {0};
	size_t len, mlen;
	const void *pl = ksched_task_payload(t, &len);
	unsigned char *mem = NULL;
	double pi = 0;

	if (len == 0) {
		result_text(r, "{\"ok\":true}");
		return;
	}
	if (!sim_parse(pl, len, &a, r))
		return;
	mlen = (size_t)a.mem_mb << 20;
	if (mlen && !(mem = ksched__malloc(mlen))) {
		ksched__result_fail(r, -1, "sim: cannot allocate %lld MB",
				    (long long)a.mem_mb);
		return;
	}
	for (size_t i = 0; i < mlen; i += 4096)
		mem[i] = (unsigned char)i; /* touch every page */
	if (!sim_cpu(sim_budget(t, &a.cpu_ms, 0, &a.timed_out), cancel) ||
	    !sim_sleep(sim_budget(t, &a.sleep_ms, a.cpu_ms, &a.timed_out),
		       cancel) ||
	    !ksched__pi_estimate(a.seed, (uint64_t)a.pi_samples, cancel, &pi))
		ksched__result_fail(r, -1, CANCELED_MSG);
	else if (a.timed_out)
		ksched__result_fail(r, 128 + 15, "timed out after %lld ms",
				    (long long)ksched_task_timeout_ms(t));
	else
		sim_result(&a, pi, r);
	ksched__free(mem);
}
