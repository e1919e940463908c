/*
 * End-to-end benchmark of a real cluster on loopback: ksched-master and four
 * ksched-worker processes running no-op tasks submitted by one client, in
 * --sync strict and --sync none, side by side with beanstalkd (1 producer,
 * 4 consumers doing put/reserve/delete on as many jobs) in three modes:
 * binlog fsync'd on every write (-f 0), binlog with its default fsync every
 * 50 ms, and no binlog.  Figures for docs/benchmarks.md.
 *
 *   bench_cluster                 the full run (about 80 s on 2 cores)
 *   bench_cluster --quick         a small smoke run (a few seconds)
 *   bench_cluster --tasks N --reps R --window W
 *
 * Every figure is the median of R runs, each on fresh daemons with fresh
 * data directories under $TMPDIR (or /tmp); the five configurations are run
 * in alternation, so a slow moment of the machine hits all of them.
 * Targets are reported as PASS or MISS lines; a miss does not fail the run.
 * A daemon that does not start, a task that does not succeed or a protocol
 * error does (exit 1).  Without beanstalkd, its half prints SKIP.
 */
#define _XOPEN_SOURCE 700
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "../testutil.h"
#include "bench.h"
#include "procs.h"
#include "ksched.h"
#include "ksched/client.h"

#define NWORKERS 4
#define NCONSUMERS 4
#define MAX_REPS 9
#define WORKER_CPU "100000" /* millicores offered by each worker */
#define WORKER_SLOTS "64"   /* tasks each worker runs at once */
#define TASK_CPU 10	    /* millicores each task asks for */
#define START_MS 10000	    /* bound on a daemon's start */
#define RUN_S 180	    /* bound on one run */
#define STAMP_LEN 20	    /* bytes of a beanstalkd job body */
#define NSERIAL 200	    /* ksched tasks submitted one at a time */

/* Targets (see docs/benchmarks.md). */
#define TARGET_STRICT 1.0 /* strict / beanstalkd default binlog */
#define TARGET_NONE 2.0	  /* none / beanstalkd without binlog */

enum { KS_STRICT, KS_NONE, KS_MODES };
enum { BS_FSYNC, BS_DEFAULT, BS_NOLOG, BS_MODES };

static const char *const ks_name[KS_MODES] = {"strict", "none"};
static const char *const bs_name[BS_MODES] = {
    "binlog fsync-every-write", "binlog default fsync", "no binlog"};

/*
 * One run: throughput and latency percentiles (ms) under that load; for
 * ksched also the latency of tasks submitted one at a time (ms).
 */
struct fig {
	double rate, p50, p99;
	double one50, one99;
};

static unsigned run_seq;

/* --- helpers ------------------------------------------------------------ */

/* A fresh directory under base_dir; free with run_done(). */
static char *
run_dir(void)
{
	char *p = malloc(600);

	if (!p)
		die("malloc", strerror(ENOMEM));
	snprintf(p, 600, "%s/run-%u", base_dir, ++run_seq);
	if (mkdir(p, 0700))
		die(p, strerror(errno));
	return p;
}

static void
run_done(char *dir)
{
	tu_rmtree(dir);
}

/* Nearest-rank percentile q (0..1) of v[0..n), which gets sorted. */
static double
percentile(double *v, size_t n, double q)
{
	size_t k = (size_t)(q * (double)n + 0.999999);

	qsort(v, n, sizeof(*v), cmp_double);
	return v[k ? k - 1 : 0];
}

/* The median of each field over reps runs. */
static struct fig
fig_median(const struct fig *runs, int reps)
{
	double r[MAX_REPS], a[MAX_REPS], b[MAX_REPS], c[MAX_REPS], d[MAX_REPS];
	struct fig m;

	for (int i = 0; i < reps; i++) {
		r[i] = runs[i].rate;
		a[i] = runs[i].p50;
		b[i] = runs[i].p99;
		c[i] = runs[i].one50;
		d[i] = runs[i].one99;
	}
	m.rate = median(r, reps);
	m.p50 = median(a, reps);
	m.p99 = median(b, reps);
	m.one50 = median(c, reps);
	m.one99 = median(d, reps);
	return m;
}

static void
print_fig(const char *what, const char *unit, struct fig f)
{
	char a[32];

	printf("%-44s %9s %s  p50 %7.1f ms  p99 %7.1f ms\n", what,
	       fmt_count(f.rate, a, sizeof(a)), unit, f.p50, f.p99);
}

/* --- ports ------------------------------------------------------------- */

/* A TCP port on 127.0.0.1 that was free a moment ago. */
static int
free_port(void)
{
	struct sockaddr_in a = {0};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	if (port < 0)
		die("free_port", strerror(errno));
	return port;
}

/* A connected TCP socket to 127.0.0.1:port (TCP_NODELAY), or -1. */
static int
tcp_connect(int port)
{
	struct sockaddr_in a = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* --- ksched: master + 4 workers, one client ------------------------------ */

struct cluster {
	char *dir;
	char ctl[64], dsp[64], hbt[64];
	pid_t master, workers[NWORKERS];
};

static void
start_master(struct cluster *cl, const char *sync)
{
	char data[700], ready[700], log[700];
	const char *args[] = {"--http", "none", "--data", data,
			      "--control", cl->ctl, "--dispatch", cl->dsp,
			      "--heartbeat", cl->hbt, "--sync", sync,
			      "--ready-file", ready, "--log-level", "warn",
			      NULL};

	snprintf(data, sizeof(data), "%s/data", cl->dir);
	snprintf(ready, sizeof(ready), "%s/master.ready", cl->dir);
	snprintf(log, sizeof(log), "%s/master.log", cl->dir);
	/* A port picked free may be taken before the master binds it. */
	for (int try = 0; try < 3; try++) {
		snprintf(cl->ctl, sizeof(cl->ctl), "tcp://127.0.0.1:%d",
			 free_port());
		snprintf(cl->dsp, sizeof(cl->dsp), "tcp://127.0.0.1:%d",
			 free_port());
		snprintf(cl->hbt, sizeof(cl->hbt), "tcp://127.0.0.1:%d",
			 free_port());
		cl->master = spawn_bin("ksched-master", args, log);
		if (wait_file(ready, cl->master))
			return;
		stop_pid(cl->master);
		cl->master = 0;
	}
	dump_log(log);
	die("ksched-master", "did not start (log above)");
}

static void
start_worker(struct cluster *cl, int i)
{
	char id[16], ready[700], log[700];
	const char *args[] = {"--id", id, "--cpu", WORKER_CPU,
			      "--mem", "1024", "--slots", WORKER_SLOTS,
			      "--dispatch", cl->dsp, "--heartbeat", cl->hbt,
			      "--ready-file", ready, "--log-level", "warn",
			      NULL};

	snprintf(id, sizeof(id), "w%d", i);
	snprintf(ready, sizeof(ready), "%s/%s.ready", cl->dir, id);
	snprintf(log, sizeof(log), "%s/%s.log", cl->dir, id);
	cl->workers[i] = spawn_bin("ksched-worker", args, log);
	if (!wait_file(ready, cl->workers[i])) {
		dump_log(log);
		die("ksched-worker", "did not register (log above)");
	}
}

/* Stop the workers, then the master; false if one did not exit 0. */
static bool
stop_cluster(struct cluster *cl)
{
	bool ok = true;
	int st;

	for (int i = 0; i < NWORKERS; i++) {
		if (!cl->workers[i])
			continue;
		st = stop_pid(cl->workers[i]);
		if (st != 0) {
			fprintf(stderr,
				"bench_cluster: worker w%d: exit "
				"status %d on SIGTERM\n",
				i, st);
			ok = false;
		}
	}
	st = stop_pid(cl->master);
	if (st != 0) {
		fprintf(stderr,
			"bench_cluster: ksched-master: exit status "
			"%d on SIGTERM\n",
			st);
		ok = false;
	}
	return ok;
}

/* N distinct no-op tasks: kind sim, empty payload, no cache, own salt. */
static ksched_task **
make_tasks(size_t n, const char *prefix)
{
	ksched_task **ts = calloc(n, sizeof(*ts));
	char salt[32];

	if (!ts)
		die("calloc", strerror(ENOMEM));
	for (size_t i = 0; i < n; i++) {
		CHECK(ksched_task_new(&ts[i]));
		CHECK(ksched_task_set_kind(ts[i], KSCHED_KIND_SIM));
		snprintf(salt, sizeof(salt), "%s%zu", prefix, i);
		CHECK(ksched_task_set_salt(ts[i], salt));
		ksched_task_set_cache(ts[i], true, 0);
		ksched_task_set_resources(ts[i], TASK_CPU, 0, 0);
		CHECK(ksched_task_validate(ts[i], NULL, 0));
	}
	return ts;
}

static void
free_tasks(ksched_task **ts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ksched_task_free(ts[i]);
	free(ts);
}

/* Submit-to-result latencies (ms, master's clock) of every task. */
static void
ks_latencies(ksched_client *c, const uint64_t *ids, size_t n, double *lat)
{
	struct ksched_task_status *st =
	    calloc(KSCHED_CLIENT_CHUNK, sizeof(*st));

	if (!st)
		die("calloc", strerror(ENOMEM));
	for (size_t off = 0; off < n; off += KSCHED_CLIENT_CHUNK) {
		size_t k = n - off < KSCHED_CLIENT_CHUNK ? n - off
							 : KSCHED_CLIENT_CHUNK;
		ksched_err e = ksched_client_status(c, ids + off, k, st);

		if (e)
			die("ksched_client_status",
			    ksched_client_last_error(c));
		for (size_t i = 0; i < k; i++) {
			char msg[600];

			if (st[i].state != KSCHED_STATE_SUCCEEDED) {
				snprintf(msg, sizeof(msg),
					 "task %llu ended in state %d: %s",
					 (unsigned long long)st[i].id,
					 (int)st[i].state, st[i].last_error);
				die("ksched", msg);
			}
			lat[off + i] = (double)(st[i].due - st[i].submitted);
		}
	}
	free(st);
}

/* One client submits the n tasks, then waits for all of them. */
static struct fig
ks_drive(struct cluster *cl, ksched_task **ts, size_t n)
{
	uint64_t *ids = calloc(n, sizeof(*ids)), remaining = 1;
	double *lat = calloc(n, sizeof(*lat)), t0, t1, end;
	ksched_client *c;
	struct fig f = {0};

	if (!ids || !lat)
		die("calloc", strerror(ENOMEM));
	CHECK(ksched_client_open(cl->ctl, &c));
	t0 = mono();
	if (ksched_client_submit(c, (const ksched_task *const *)ts, n, ids,
				 NULL))
		die("ksched_client_submit", ksched_client_last_error(c));
	end = t0 + RUN_S;
	while (remaining && mono() < end)
		if (ksched_client_wait(c, NULL, 0, true, 10000, &remaining))
			die("ksched_client_wait", ksched_client_last_error(c));
	t1 = mono();
	if (remaining)
		die("ksched", "tasks not done within the time bound");
	ks_latencies(c, ids, n, lat);
	ksched_client_close(c);
	f.rate = (double)n / (t1 - t0);
	f.p50 = percentile(lat, n, 0.50);
	f.p99 = percentile(lat, n, 0.99);
	free(lat);
	free(ids);
	return f;
}

/* Submit n tasks one at a time, each waited for: the latencies, ms. */
static void
ks_serial(struct cluster *cl, ksched_task **ts, size_t n, struct fig *f)
{
	double lat[NSERIAL], master_lat[NSERIAL], t0;
	uint64_t ids[NSERIAL];
	ksched_client *c;

	CHECK(ksched_client_open(cl->ctl, &c));
	if (n > NSERIAL)
		n = NSERIAL;
	for (size_t i = 0; i < n; i++) {
		uint64_t remaining = 1;
		double end;

		t0 = mono();
		end = t0 + RUN_S;
		if (ksched_client_submit(c, (const ksched_task *const *)&ts[i],
					 1, &ids[i], NULL))
			die("ksched_client_submit",
			    ksched_client_last_error(c));
		while (remaining && mono() < end)
			if (ksched_client_wait(c, &ids[i], 1, false, 10000,
					       &remaining))
				die("ksched_client_wait",
				    ksched_client_last_error(c));
		if (remaining)
			die("ksched", "task not done within the time bound");
		lat[i] = (mono() - t0) * 1e3;
	}
	ks_latencies(c, ids, n, master_lat); /* each must have succeeded */
	ksched_client_close(c);
	f->one50 = percentile(lat, n, 0.50);
	f->one99 = percentile(lat, n, 0.99);
}

static struct fig
ks_run(int mode, ksched_task **ts, size_t n, ksched_task **one)
{
	struct cluster cl = {0};
	struct fig f;

	cl.dir = run_dir();
	start_master(&cl, ks_name[mode]);
	for (int i = 0; i < NWORKERS; i++)
		start_worker(&cl, i);
	f = ks_drive(&cl, ts, n);
	ks_serial(&cl, one, NSERIAL, &f);
	if (!stop_cluster(&cl))
		die("ksched", "a daemon did not stop cleanly");
	run_done(cl.dir);
	return f;
}

/* --- beanstalkd: 1 producer, 4 consumers, text protocol ------------------ */

/* A connection with a read buffer. */
struct bconn {
	int fd;
	size_t off, len;
	char buf[4096];
};

/* What the threads of one run share. */
struct bshared {
	size_t n;
	size_t window; /* puts sent before reading their replies */
	int port;
	struct bconn prod, cons[NCONSUMERS];
	double t0, t_end;   /* first put, last delete */
	double *lat;	    /* ms, by completion order */
	atomic_size_t done; /* jobs deleted */
	atomic_bool stop;   /* all done, or something broke */
	atomic_bool broken;
	char why[256];
	pthread_mutex_t lock;
};

static bool
bc_send(struct bconn *b, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(b->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static bool
bc_fill(struct bconn *b)
{
	ssize_t r;

	if (b->off > 0) {
		memmove(b->buf, b->buf + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len == sizeof(b->buf))
		return false;
	do
		r = recv(b->fd, b->buf + b->len, sizeof(b->buf) - b->len, 0);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return false;
	b->len += (size_t)r;
	return true;
}

/* One reply line into line (without CRLF); false on EOF or error. */
static bool
bc_line(struct bconn *b, char *line, size_t cap)
{
	for (;;) {
		char *s = b->buf + b->off;
		size_t avail = b->len - b->off;
		char *nl = memchr(s, '\n', avail);

		if (nl) {
			size_t k = (size_t)(nl - s);
			if (k > 0 && s[k - 1] == '\r')
				k--;
			if (k >= cap)
				k = cap - 1;
			memcpy(line, s, k);
			line[k] = 0;
			b->off += (size_t)(nl - s) + 1;
			return true;
		}
		if (!bc_fill(b))
			return false;
	}
}

/* Exactly n bytes into out; false on EOF or error. */
static bool
bc_read(struct bconn *b, char *out, size_t n)
{
	while (b->len - b->off < n)
		if (!bc_fill(b))
			return false;
	memcpy(out, b->buf + b->off, n);
	b->off += n;
	return true;
}

static void
bs_fail(struct bshared *s, const char *who, const char *what)
{
	pthread_mutex_lock(&s->lock);
	if (!atomic_load(&s->broken))
		snprintf(s->why, sizeof(s->why), "%s: %s", who, what);
	atomic_store(&s->broken, true);
	atomic_store(&s->stop, true);
	pthread_mutex_unlock(&s->lock);
}

/* The put of one job, its body the monotonic time now, in ns; its length. */
static size_t
bs_put_cmd(char *cmd, size_t len)
{
	long long ns = (long long)(mono() * 1e9);

	return (size_t)snprintf(cmd, len, "put 0 0 60 %d\r\n%0*lld\r\n",
				STAMP_LEN, STAMP_LEN, ns);
}

/*
 * put N jobs: send s->window puts (1: one at a time), then read their
 * replies.
 */
static void *
bs_producer(void *arg)
{
	struct bshared *s = arg;
	size_t cap = s->window * 64, len;
	char *cmds = malloc(cap), line[128];

	if (!cmds) {
		bs_fail(s, "producer", strerror(ENOMEM));
		return NULL;
	}
	s->t0 = mono();
	for (size_t i = 0; i < s->n && !atomic_load(&s->stop);) {
		size_t k = s->n - i < s->window ? s->n - i : s->window;

		len = 0;
		for (size_t j = 0; j < k; j++)
			len += bs_put_cmd(cmds + len, cap - len);
		if (!bc_send(&s->prod, cmds, len)) {
			bs_fail(s, "producer", "connection lost");
			break;
		}
		for (size_t j = 0; j < k; j++) {
			if (!bc_line(&s->prod, line, sizeof(line))) {
				bs_fail(s, "producer", "connection lost");
				break;
			}
			if (strncmp(line, "INSERTED ", 9) != 0) {
				bs_fail(s, "producer: put", line);
				break;
			}
		}
		i += k;
	}
	free(cmds);
	return NULL;
}

/* Handle one RESERVED reply: read the body, delete the job, count it. */
static bool
bs_consume(struct bshared *s, struct bconn *b, const char *line)
{
	unsigned long long id;
	char body[STAMP_LEN + 2 + 1] = "", cmd[64], rep[64];
	unsigned bytes;
	double now;
	size_t k;

	if (sscanf(line, "RESERVED %llu %u", &id, &bytes) != 2 ||
	    bytes != STAMP_LEN) {
		bs_fail(s, "consumer: reserve", line);
		return false;
	}
	if (!bc_read(b, body, STAMP_LEN + 2))
		return false;
	snprintf(cmd, sizeof(cmd), "delete %llu\r\n", id);
	if (!bc_send(b, cmd, strlen(cmd)) || !bc_line(b, rep, sizeof(rep)))
		return false;
	if (strcmp(rep, "DELETED") != 0) {
		bs_fail(s, "consumer: delete", rep);
		return false;
	}
	now = mono();
	body[STAMP_LEN] = 0;
	k = atomic_fetch_add(&s->done, 1);
	if (k < s->n)
		s->lat[k] = (now * 1e9 - strtod(body, NULL)) / 1e6;
	if (k + 1 == s->n) {
		s->t_end = now;
		atomic_store(&s->stop, true);
	}
	return true;
}

/* The consumer thread's argument: its connection and the shared state. */
struct barg {
	struct bshared *s;
	struct bconn *b;
};

/* reserve + delete until every job is done. */
static void *
bs_consumer(void *arg)
{
	struct barg *a = arg;
	struct bshared *s = a->s;
	struct bconn *b = a->b;
	static const char reserve[] = "reserve-with-timeout 1\r\n";
	char line[128];

	while (!atomic_load(&s->stop)) {
		if (!bc_send(b, reserve, sizeof(reserve) - 1) ||
		    !bc_line(b, line, sizeof(line)))
			goto lost;
		if (strcmp(line, "TIMED_OUT") == 0 ||
		    strcmp(line, "DEADLINE_SOON") == 0)
			continue;
		if (!bs_consume(s, b, line))
			goto lost;
	}
	return NULL;
lost:
	/* The end of the run shuts our socket down: that is no error. */
	if (!atomic_load(&s->stop))
		bs_fail(s, "consumer", "connection lost");
	return NULL;
}

/* Start beanstalkd on a free port; its PID, *port, and a connected *fd. */
static pid_t
bs_start(const char *bin, int mode, const char *dir, int *port, int *fd)
{
	char path[PATH_MAX], p[16], wal[700], log[700];
	char *argv[] = {path, "-l", "127.0.0.1", "-p", p,
			NULL, NULL, NULL,	 NULL, NULL};
	pid_t pid;

	snprintf(path, sizeof(path), "%s", bin);
	snprintf(wal, sizeof(wal), "%s/binlog", dir);
	snprintf(log, sizeof(log), "%s/beanstalkd.log", dir);
	if (mode != BS_NOLOG) {
		if (mkdir(wal, 0700))
			die(wal, strerror(errno));
		argv[5] = "-b";
		argv[6] = wal;
	}
	if (mode == BS_FSYNC) {
		argv[7] = "-f";
		argv[8] = "0";
	}
	/* A port picked free may be taken before beanstalkd binds it. */
	for (int try = 0; try < 3; try++) {
		double end = mono() + START_MS / 1000.0;

		*port = free_port();
		snprintf(p, sizeof(p), "%d", *port);
		pid = spawn(path, argv, log);
		while (mono() < end && !has_exited(pid)) {
			if ((*fd = tcp_connect(*port)) >= 0)
				return pid;
			td_sleep_ms(5);
		}
		stop_pid(pid);
	}
	dump_log(log);
	die("beanstalkd", "did not start (log above)");
	return -1;
}

/* One run of 1 producer and 4 consumers on a fresh beanstalkd. */
static struct fig
bs_run(const char *bin, int mode, size_t n, size_t window)
{
	struct bshared *s = calloc(1, sizeof(*s));
	struct barg args[NCONSUMERS];
	pthread_t prod, cons[NCONSUMERS];
	char *dir = run_dir(), log[700];
	double end;
	struct fig f;
	pid_t pid;
	int st;

	if (!s || !(s->lat = calloc(n, sizeof(*s->lat))))
		die("calloc", strerror(ENOMEM));
	s->n = n;
	s->window = window;
	pthread_mutex_init(&s->lock, NULL);
	pid = bs_start(bin, mode, dir, &s->port, &s->prod.fd);
	for (int i = 0; i < NCONSUMERS; i++) {
		s->cons[i].fd = tcp_connect(s->port);
		if (s->cons[i].fd < 0)
			die("beanstalkd: connect", strerror(errno));
		args[i].s = s;
		args[i].b = &s->cons[i];
	}
	for (int i = 0; i < NCONSUMERS; i++)
		if (pthread_create(&cons[i], NULL, bs_consumer, &args[i]))
			die("pthread_create", "failed");
	if (pthread_create(&prod, NULL, bs_producer, s))
		die("pthread_create", "failed");
	pthread_join(prod, NULL);
	end = s->t0 + RUN_S;
	while (!atomic_load(&s->stop) && mono() < end)
		td_sleep_ms(2);
	if (!atomic_load(&s->stop))
		bs_fail(s, "beanstalkd", "jobs not done within the time bound");
	/* Wake the consumers blocked in reserve. */
	for (int i = 0; i < NCONSUMERS; i++)
		shutdown(s->cons[i].fd, SHUT_RDWR);
	for (int i = 0; i < NCONSUMERS; i++)
		pthread_join(cons[i], NULL);
	for (int i = 0; i < NCONSUMERS; i++)
		close(s->cons[i].fd);
	close(s->prod.fd);
	st = stop_pid(pid);
	snprintf(log, sizeof(log), "%s/beanstalkd.log", dir);
	if (atomic_load(&s->broken)) {
		dump_log(log);
		die("beanstalkd run", s->why);
	}
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) &&
	    !(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM)) {
		dump_log(log);
		die("beanstalkd", "did not stop cleanly on SIGTERM");
	}
	f.rate = (double)n / (s->t_end - s->t0);
	f.p50 = percentile(s->lat, n, 0.50);
	f.p99 = percentile(s->lat, n, 0.99);
	pthread_mutex_destroy(&s->lock);
	free(s->lat);
	free(s);
	run_done(dir);
	return f;
}

/*
 * $BEANSTALKD if set, else beanstalkd on $PATH (or /usr/sbin, /usr/bin); NULL
 * if that is not an executable.
 */
static const char *
find_beanstalkd(void)
{
	static char found[PATH_MAX];
	const char *own = getenv("BEANSTALKD"), *path = getenv("PATH");
	size_t len = strlen(path ? path : "") + 32;
	char *dirs, *save, *d;

	if (own) {
		snprintf(found, sizeof(found), "%s", own);
		return own[0] && access(found, X_OK) == 0 ? found : NULL;
	}
	if (!(dirs = malloc(len)))
		die("malloc", strerror(ENOMEM));
	snprintf(dirs, len, "%s:/usr/sbin:/usr/bin", path ? path : "");
	for (d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(found, sizeof(found), "%s/beanstalkd", d);
		if (d[0] && access(found, X_OK) == 0) {
			free(dirs);
			return found;
		}
	}
	free(dirs);
	return NULL;
}

/* "beanstalkd 1.12" or so, from beanstalkd -v. */
static void
bs_version(const char *bin, char *out, size_t len)
{
	char cmd[PATH_MAX + 16];
	FILE *p;

	snprintf(out, len, "beanstalkd (version unknown)");
	snprintf(cmd, sizeof(cmd), "'%s' -v 2>&1", bin);
	fflush(NULL);
	p = popen(cmd, "r");
	if (p && fgets(out, (int)len, p))
		out[strcspn(out, "\r\n")] = 0;
	if (p)
		pclose(p);
}

/* --- main ---------------------------------------------------------------- */

static void
print_ratio(const char *ours, double a, const char *theirs, double b,
	    double target)
{
	char what[96];

	snprintf(what, sizeof(what), "ratio %s / beanstalkd %s:", ours, theirs);
	if (target > 0)
		printf("%-54s %5.2f (target >= %.1f) %s\n", what, a / b, target,
		       a / b >= target ? "PASS" : "MISS");
	else
		printf("%-54s %5.2f\n", what, a / b);
}

static int
usage(FILE *f, int rc)
{
	fprintf(f,
		"usage: bench_cluster [--quick] [--tasks N] [--reps R] "
		"[--window W]\n"
		"  --quick     a small smoke run (2,000 tasks, 1 run)\n"
		"  --tasks N   tasks (and beanstalkd jobs) per run "
		"(default 30000)\n"
		"  --reps R    runs of each configuration, median "
		"reported (1..%d, default 3)\n"
		"  --window W  beanstalkd producer: send W puts, then "
		"read their replies (default 1)\n"
		"beanstalkd is $BEANSTALKD, else the one on $PATH.\n",
		MAX_REPS);
	return rc;
}

struct opts {
	size_t n;      /* tasks, and jobs, per run */
	size_t window; /* beanstalkd puts in flight */
	int reps;
	const char *bin; /* beanstalkd, or NULL */
};

/* -1 to go on, else the exit code. */
static int
parse_args(int argc, char **argv, struct opts *o)
{
	o->n = 30000;
	o->window = 1;
	o->reps = 3;
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--quick") == 0) {
			o->n = 2000;
			o->reps = 1;
		} else if (strcmp(argv[i], "--tasks") == 0 && v) {
			o->n = strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--window") == 0 && v) {
			o->window = strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--reps") == 0 && v) {
			o->reps = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--help") == 0) {
			return usage(stdout, 0);
		} else {
			return usage(stderr, 2);
		}
	}
	if (o->n < 100 || o->n > 10000000 || o->reps < 1 ||
	    o->reps > MAX_REPS || o->window < 1 || o->window > 100000)
		return usage(stderr, 2);
	o->bin = find_beanstalkd();
	return -1;
}

static void
print_header(const struct opts *o)
{
	const char *env = getenv("BEANSTALKD");
	char a[32], ver[128];

	printf("bench_cluster: libksched %s, %d workers on 127.0.0.1 TCP\n",
	       ksched_version(), NWORKERS);
	printf("ksched: %s tasks per run: kind sim, empty payload (no-op), "
	       "no cache, distinct salts;\n"
	       "        workers --cpu %s --slots %s, tasks ask %d "
	       "millicores; one client submits all, then waits;\n"
	       "        then %d more tasks, one at a time\n",
	       fmt_count((double)o->n, a, sizeof(a)), WORKER_CPU, WORKER_SLOTS,
	       TASK_CPU, NSERIAL);
	if (o->bin) {
		bs_version(o->bin, ver, sizeof(ver));
		printf("%s: %s jobs per run, 1 producer (put), %d consumers "
		       "(reserve-with-timeout, delete),\n"
		       "        %d-byte bodies, ",
		       ver, a, NCONSUMERS, STAMP_LEN);
		if (o->window == 1)
			printf("one command at a time per connection\n");
		else
			printf("the producer sends %zu puts before reading "
			       "their replies\n",
			       o->window);
	} else {
		printf("SKIP beanstalkd comparison: no beanstalkd %s%s "
		       "(apt-get install beanstalkd)\n",
		       env ? "at $BEANSTALKD = "
			   : "on $PATH, /usr/sbin or /usr/bin",
		       env ? env : "");
	}
	printf("each figure: median of %d run%s, fresh daemons and "
	       "directories each\n\n",
	       o->reps, o->reps > 1 ? "s" : "");
	fflush(stdout);
}

/* The medians of every configuration, the ratios and the targets. */
static void
report(const struct opts *o, struct fig ks[][MAX_REPS],
       struct fig bs[][MAX_REPS])
{
	struct fig ksm[KS_MODES], bsm[BS_MODES];
	char what[96];

	printf("\n");
	for (int m = 0; m < KS_MODES; m++) {
		ksm[m] = fig_median(ks[m], o->reps);
		snprintf(what, sizeof(what), "ksched %s:", ks_name[m]);
		print_fig(what, "tasks/s", ksm[m]);
	}
	for (int m = 0; o->bin && m < BS_MODES; m++) {
		bsm[m] = fig_median(bs[m], o->reps);
		snprintf(what, sizeof(what), "beanstalkd %s:", bs_name[m]);
		print_fig(what, "jobs/s ", bsm[m]);
	}
	for (int m = 0; m < KS_MODES; m++) {
		snprintf(what, sizeof(what),
			 "ksched %s, one task at a time:", ks_name[m]);
		printf("%-44s %17s  p50 %7.1f ms  p99 %7.1f ms\n", what, "",
		       ksm[m].one50, ksm[m].one99);
	}
	printf("\n");
	if (!o->bin) {
		printf("SKIP ratios to beanstalkd and their targets: no "
		       "beanstalkd\n");
		return;
	}
	for (int m = 0; m < BS_MODES; m++)
		print_ratio("strict", ksm[KS_STRICT].rate, bs_name[m],
			    bsm[m].rate, m == BS_DEFAULT ? TARGET_STRICT : 0);
	for (int m = 0; m < BS_MODES; m++)
		print_ratio("none", ksm[KS_NONE].rate, bs_name[m], bsm[m].rate,
			    m == BS_NOLOG ? TARGET_NONE : 0);
}

int
main(int argc, char **argv)
{
	static struct fig ks[KS_MODES][MAX_REPS], bs[BS_MODES][MAX_REPS];
	ksched_task **ts, **one;
	struct opts o;
	char what[96];
	int rc = parse_args(argc, argv, &o);

	if (rc >= 0)
		return rc;
	procs_init("bench_cluster", "bench-cluster", START_MS);
	print_header(&o);
	ts = make_tasks(o.n, "n");
	one = make_tasks(NSERIAL, "s");
	for (int r = 0; r < o.reps; r++) {
		for (int m = 0; m < KS_MODES; m++) {
			ks[m][r] = ks_run(m, ts, o.n, one);
			snprintf(what, sizeof(what),
				 "  run %d ksched %s:", r + 1, ks_name[m]);
			print_fig(what, "tasks/s", ks[m][r]);
			fflush(stdout);
		}
		for (int m = 0; o.bin && m < BS_MODES; m++) {
			bs[m][r] = bs_run(o.bin, m, o.n, o.window);
			snprintf(what, sizeof(what),
				 "  run %d beanstalkd %s:", r + 1, bs_name[m]);
			print_fig(what, "jobs/s ", bs[m][r]);
			fflush(stdout);
		}
	}
	report(&o, ks, bs);
	free_tasks(ts, o.n);
	free_tasks(one, NSERIAL);
	cleanup();
	return 0;
}
