/*
 * libksched - the worker runtime: public API and configuration, the
 * executor pool (threads that take leased jobs and run them) and the
 * lifecycle that starts and stops every thread.  The network side, the
 * dispatch and heartbeat threads, is in worker_net.c; the executors
 * themselves are in worker_exec.c.  Everything shared between threads is
 * under w->mu.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "proto.h"
#include "worker_int.h"

#define STOP_GRACE_MS 5000 /* running tasks, then killed */

static void
cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

void
ksched__worker_wait(ksched_worker *w, pthread_cond_t *cv, int64_t until)
{
	struct timespec ts = {(time_t)(until / 1000),
			      (long)(until % 1000) * 1000000};

	pthread_cond_timedwait(cv, &w->mu, &ts);
}

/* --- configuration ---------------------------------------------------- */

static bool
name_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == '"' || c == '\\' || c >= 127)
			return false;
	}
	return true;
}

static void
default_capacity(struct ksched_resources *cap)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	if (cpus < 1)
		cpus = 1;
	cap->cpu_milli = (int64_t)cpus * 1000;
	cap->mem_mb = pages > 0 && psz > 0
			  ? (int64_t)((uint64_t)pages * (uint64_t)psz >> 20)
			  : 0;
	cap->gpus = 0;
	cap->slots =
	    cpus > KSCHED_WORKER_SLOTS_MAX ? KSCHED_WORKER_SLOTS_MAX : cpus;
}

ksched_err
ksched_worker_new(const char *id, ksched_worker **out)
{
	ksched_worker *w;

	*out = NULL;
	if (!name_ok(id, KSCHED_WORKER_ID_MAX))
		return KSCHED_EINVAL;
	if (!(w = ksched__calloc(1, sizeof(*w))))
		return KSCHED_ENOMEM;
	w->id = ksched__strdup(id);
	w->dispatch_url = ksched__strdup(KSCHED_WORKER_DISPATCH_URL);
	w->heartbeat_url = ksched__strdup(KSCHED_WORKER_HEARTBEAT_URL);
	if (!w->id || !w->dispatch_url || !w->heartbeat_url) {
		ksched__free(w->id);
		ksched__free(w->dispatch_url);
		ksched__free(w->heartbeat_url);
		ksched__free(w);
		return KSCHED_ENOMEM;
	}
	default_capacity(&w->cap);
	pthread_mutex_init(&w->mu, NULL);
	cond_init_mono(&w->cv_disp);
	cond_init_mono(&w->cv_idle);
	pthread_cond_init(&w->cv_exec, NULL);
	*out = w;
	return KSCHED_OK;
}

void
ksched_worker_free(ksched_worker *w)
{
	if (!w)
		return;
	if (w->running && ksched_worker_stop(w) != KSCHED_OK)
		KLOG(KSCHED_LOG_ERR, "msg=\"stop failed\" worker=%s", w->id);
	for (size_t i = 0; i < w->nlabels; i++) {
		ksched__free(w->labels[i].key);
		ksched__free(w->labels[i].value);
	}
	for (size_t i = 0; i < w->nhandlers; i++)
		ksched__free(w->handlers[i].kind);
	ksched__free(w->labels);
	ksched__free(w->handlers);
	ksched__free(w->id);
	ksched__free(w->dispatch_url);
	ksched__free(w->heartbeat_url);
	ksched__free(w->http_addr);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv_disp);
	pthread_cond_destroy(&w->cv_exec);
	pthread_cond_destroy(&w->cv_idle);
	ksched__free(w);
}

ksched_err
ksched_worker_set_master(ksched_worker *w, const char *dispatch_url,
			 const char *heartbeat_url)
{
	char *d = dispatch_url ? ksched__strdup(dispatch_url) : NULL;
	char *h = heartbeat_url ? ksched__strdup(heartbeat_url) : NULL;
	ksched_err e = KSCHED_OK;

	if (w->running)
		e = KSCHED_ESTATE;
	else if ((dispatch_url && !*dispatch_url) ||
		 (heartbeat_url && !*heartbeat_url))
		e = KSCHED_EINVAL;
	else if ((dispatch_url && !d) || (heartbeat_url && !h))
		e = KSCHED_ENOMEM;
	if (e != KSCHED_OK) {
		ksched__free(d);
		ksched__free(h);
		return e;
	}
	if (d) {
		ksched__free(w->dispatch_url);
		w->dispatch_url = d;
	}
	if (h) {
		ksched__free(w->heartbeat_url);
		w->heartbeat_url = h;
	}
	return KSCHED_OK;
}

ksched_err
ksched_worker_set_capacity(ksched_worker *w, const struct ksched_resources *cap)
{
	if (w->running)
		return KSCHED_ESTATE;
	if (cap->cpu_milli < 0 || cap->mem_mb < 0 || cap->gpus < 0 ||
	    cap->slots < 1 || cap->slots > KSCHED_WORKER_SLOTS_MAX) {
		KLOG(KSCHED_LOG_ERR,
		     "msg=\"bad capacity: cpu, mem and gpus must be >= 0, "
		     "slots 1..%d\" slots=%" PRId64,
		     KSCHED_WORKER_SLOTS_MAX, cap->slots);
		return KSCHED_EINVAL;
	}
	w->cap = *cap;
	return KSCHED_OK;
}

ksched_err
ksched_worker_add_label(ksched_worker *w, const char *key, const char *value)
{
	struct ksched__label *l;
	char *v;

	if (w->running)
		return KSCHED_ESTATE;
	if (!name_ok(key, KSCHED_LABEL_LEN_MAX) || !value || !*value ||
	    strlen(value) > KSCHED_LABEL_LEN_MAX)
		return KSCHED_EINVAL;
	if (!(v = ksched__strdup(value)))
		return KSCHED_ENOMEM;
	for (size_t i = 0; i < w->nlabels; i++) {
		if (strcmp(w->labels[i].key, key) == 0) {
			ksched__free(w->labels[i].value);
			w->labels[i].value = v;
			return KSCHED_OK;
		}
	}
	if (w->nlabels == KSCHED_LABELS_MAX ||
	    !(l = ksched__realloc(w->labels, (w->nlabels + 1) * sizeof(*l)))) {
		ksched__free(v);
		return w->nlabels == KSCHED_LABELS_MAX ? KSCHED_EINVAL
						       : KSCHED_ENOMEM;
	}
	w->labels = l;
	l[w->nlabels].value = v;
	if (!(l[w->nlabels].key = ksched__strdup(key))) {
		ksched__free(v);
		return KSCHED_ENOMEM;
	}
	w->nlabels++;
	return KSCHED_OK;
}

ksched_err
ksched_worker_handle(ksched_worker *w, const char *kind, ksched_handler_fn fn,
		     void *arg)
{
	struct ksched__handler *h;

	if (w->running)
		return KSCHED_ESTATE;
	if (!fn || !name_ok(kind, KSCHED_KIND_MAX) ||
	    !strcmp(kind, KSCHED_KIND_EXEC) || !strcmp(kind, KSCHED_KIND_SIM))
		return KSCHED_EINVAL;
	for (size_t i = 0; i < w->nhandlers; i++) {
		if (strcmp(w->handlers[i].kind, kind) == 0) {
			w->handlers[i].fn = fn;
			w->handlers[i].arg = arg;
			return KSCHED_OK;
		}
	}
	h = ksched__realloc(w->handlers, (w->nhandlers + 1) * sizeof(*h));
	if (!h)
		return KSCHED_ENOMEM;
	w->handlers = h;
	h += w->nhandlers;
	if (!(h->kind = ksched__strdup(kind)))
		return KSCHED_ENOMEM;
	h->fn = fn;
	h->arg = arg;
	w->nhandlers++;
	return KSCHED_OK;
}

void
ksched_worker_stats(ksched_worker *w, struct ksched_worker_stats *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->st;
	out->registered = w->registered;
	pthread_mutex_unlock(&w->mu);
}

/* --- the executor pool --------------------------------------------------- */

static void
handler_run(const struct ksched__handler *h, const ksched_task *t,
	    struct ksched__result *r)
{
	char err[1024] = "";
	void *out = NULL;
	size_t len = 0;
	ksched_err e = h->fn(h->arg, t, &out, &len, err, sizeof(err));

	if (e == KSCHED_OK) {
		r->ok = true;
		r->out = out;
		r->len = out ? len : 0;
		return;
	}
	free(out); /* the handler's malloc() */
	err[sizeof(err) - 1] = 0;
	ksched__result_fail(r, -1, "%s", err[0] ? err : ksched_strerror(e));
}

void
ksched__worker_run(ksched_worker *w, const ksched_task *t,
		   const atomic_bool *cancel, struct ksched__result *r)
{
	const char *kind = ksched_task_kind(t);

	for (size_t i = 0; i < w->nhandlers; i++) {
		if (strcmp(w->handlers[i].kind, kind) == 0) {
			handler_run(&w->handlers[i], t, r);
			return;
		}
	}
	if (strcmp(kind, KSCHED_KIND_EXEC) == 0)
		ksched__exec_run(t, cancel, r);
	else if (strcmp(kind, KSCHED_KIND_SIM) == 0)
		ksched__sim_run(t, cancel, r);
	else
		ksched__result_fail(r, -1, "no handler for kind '%s'", kind);
}

static void
run_job(ksched_worker *w, struct ksched__slot *s, struct ksched__job *j)
{
	int64_t t0 = ksched__mono_ms();

	if (!j->task)
		ksched__result_fail(&j->r, -1, "bad task spec: %s",
				    j->bad ? j->bad : "out of memory");
	else
		ksched__worker_run(w, j->task, &s->cancel, &j->r);
	j->run_ms = ksched__mono_ms() - t0;
	if (j->r.ok && j->r.len > KSCHED_PROTO_RESULT_MAX)
		ksched__result_fail(&j->r, -1,
				    "result of %zu bytes is over the limit "
				    "of %u",
				    j->r.len, KSCHED_PROTO_RESULT_MAX);
	KLOG(KSCHED_LOG_DEBUG,
	     "msg=\"task done\" task=%" PRIu64 " ok=%d run_ms=%" PRId64, j->id,
	     (int)j->r.ok, j->run_ms);
	ksched_task_free(j->task);
	j->task = NULL;
}

/*
 * The body of an executor thread (arg is its struct ksched__slot): takes
 * jobs from w's queue, runs them and appends their completions to
 * w->pending until w->exec_quit.
 */
static void *
exec_main(void *arg)
{
	struct ksched__slot *s = arg;
	ksched_worker *w = s->w;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct ksched__job *j;

		while (!w->exec_quit && !w->qhead)
			pthread_cond_wait(&w->cv_exec, &w->mu);
		if (w->exec_quit || w->handback) /* the rest is handed back */
			break;
		j = w->qhead;
		w->qhead = j->next;
		if (!w->qhead)
			w->qtail = NULL;
		w->queued--;
		j->next = NULL;
		s->job = j;
		atomic_store(&s->cancel, false);
		w->st.running = ++w->busy;
		pthread_mutex_unlock(&w->mu);
		run_job(w, s, j);
		pthread_mutex_lock(&w->mu);
		s->job = NULL;
		/* Cut short by a stop: hand it back, it was no attempt. */
		if (w->handback && atomic_load(&s->cancel) && !j->r.ok)
			j->r.released = true;
		w->st.running = --w->busy;
		ksched__worker_http_observe(w, j->run_ms);
		w->st.executed++;
		if (j->r.ok)
			w->st.succeeded++;
		else
			w->st.failed++;
		if (w->pending_tail)
			w->pending_tail->next = j;
		else
			w->pending = j;
		w->pending_tail = j;
		pthread_cond_signal(&w->cv_disp);
		pthread_cond_broadcast(&w->cv_idle);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* --- start and stop ------------------------------------------------------- */

/* Threads start with every signal blocked: the host handles signals. */
static ksched_err
threads_start(ksched_worker *w)
{
	sigset_t all, old;
	ksched_err e = KSCHED_OK;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (size_t i = 0; i < w->nslots && !e; i++) {
		struct ksched__slot *s = &w->slots[i];

		s->started = !pthread_create(&s->th, NULL, exec_main, s);
		e = s->started ? KSCHED_OK : KSCHED_EIO;
	}
	if (!e)
		w->disp_started = !pthread_create(
		    &w->disp_th, NULL, ksched__worker_dispatch_main, w);
	if (!e && w->disp_started)
		w->hb_started =
		    !pthread_create(&w->hb_th, NULL, ksched__worker_hb_main, w);
	if (!e && !w->hb_started)
		e = KSCHED_EIO;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}

/* Wait up to the grace for tasks to end, then cancel those left. */
static void
wait_idle(ksched_worker *w)
{
	int64_t until = ksched__mono_ms() + STOP_GRACE_MS;

	while ((w->busy || w->queued) && ksched__mono_ms() < until)
		ksched__worker_wait(w, &w->cv_idle, until);
	if (!w->busy)
		return;
	KLOG(KSCHED_LOG_NOTICE,
	     "msg=\"stopping: ending running tasks\" "
	     "tasks=%zu",
	     w->busy);
	w->handback = true;
	for (size_t i = 0; i < w->nslots; i++)
		atomic_store(&w->slots[i].cancel, true);
}

static void
threads_stop(ksched_worker *w)
{
	struct ksched__job *j;

	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->cv_disp);
	wait_idle(w);
	w->exec_quit = true;
	pthread_cond_broadcast(&w->cv_exec);
	pthread_mutex_unlock(&w->mu);
	for (size_t i = 0; i < w->nslots; i++)
		if (w->slots[i].started)
			pthread_join(w->slots[i].th, NULL);
	pthread_mutex_lock(&w->mu);
	while ((j = w->qhead) != NULL) { /* leased, never started */
		w->qhead = j->next;
		/* Hand it back at once rather than let its lease run out. */
		ksched_task_free(j->task);
		j->task = NULL;
		j->r.released = true;
		j->next = NULL;
		if (w->pending_tail)
			w->pending_tail->next = j;
		else
			w->pending = j;
		w->pending_tail = j;
	}
	w->qtail = NULL;
	w->queued = 0;
	w->exec_done = true;
	ksched__worker_net_flush(w);
	pthread_cond_signal(&w->cv_disp);
	pthread_mutex_unlock(&w->mu);
	if (w->disp_started)
		pthread_join(w->disp_th, NULL);
	atomic_store(&w->quit, true);
	if (w->hb_started)
		pthread_join(w->hb_th, NULL);
}

/* After the threads: close the sockets, free what is left of the run. */
static void
run_free(ksched_worker *w)
{
	size_t lost = 0;

	ksched__worker_net_close(w);
	while (w->pending) {
		struct ksched__job *j = w->pending;

		w->pending = j->next;
		ksched__job_free(j);
		lost++;
	}
	w->pending_tail = NULL;
	if (lost)
		KLOG(KSCHED_LOG_WARN,
		     "msg=\"completions not delivered\" "
		     "count=%zu",
		     lost);
	ksched__free(w->slots);
	w->slots = NULL;
	w->nslots = 0;
}

ksched_err
ksched_worker_start(ksched_worker *w)
{
	ksched_err e;

	if (w->running)
		return KSCHED_ESTATE;
	w->stopping = w->exec_quit = w->exec_done = false;
	w->handback = w->draining = w->st.draining = false;
	w->disp_started = w->hb_started = false;
	atomic_store(&w->quit, false);
	w->registered = false;
	w->session = w->gen = 0;
	w->busy = w->queued = 0;
	w->nslots = (size_t)w->cap.slots;
	if (!(w->slots = ksched__calloc(w->nslots, sizeof(*w->slots))))
		return KSCHED_ENOMEM;
	for (size_t i = 0; i < w->nslots; i++) {
		w->slots[i].w = w;
		atomic_init(&w->slots[i].cancel, false);
	}
	e = ksched__worker_http_start(w);
	if (e == KSCHED_OK)
		e = ksched__worker_net_open(w);
	if (e == KSCHED_OK)
		e = threads_start(w);
	if (e != KSCHED_OK) {
		threads_stop(w);
		run_free(w);
		ksched__worker_http_stop(w);
		return e;
	}
	w->running = true;
	KLOG(KSCHED_LOG_INFO,
	     "msg=\"worker started\" worker=%s dispatch=\"%s\" "
	     "heartbeat=\"%s\" slots=%zu",
	     w->id, w->dispatch_url, w->heartbeat_url, w->nslots);
	return KSCHED_OK;
}

ksched_err
ksched_worker_stop(ksched_worker *w)
{
	if (!w || !w->running)
		return KSCHED_ESTATE;
	threads_stop(w);
	run_free(w);
	ksched__worker_http_stop(w);
	pthread_mutex_lock(&w->mu);
	w->registered = false;
	w->st.running = 0;
	pthread_mutex_unlock(&w->mu);
	w->running = false;
	KLOG(KSCHED_LOG_INFO, "msg=\"worker stopped\" worker=%s", w->id);
	return KSCHED_OK;
}
