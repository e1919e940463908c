/*
 * libksched - the client of a master's control socket.
 *
 * One nng REQ socket, dialled without blocking so that opening never waits
 * for the master.  A call packs a Request, sends it, and waits for the
 * Reply; send and receive together are bounded by the call's timeout, and
 * the REQ resend timer is set past it so a slow answer (a long wait) is
 * never asked twice.  A request that nobody answers in time is
 * KSCHED_ENOTCONN.  Task specs from JSON (ksched_client_parse_task) are in
 * client_task.c.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "ksched/client.h"
#include "alloc.h"
#include "log.h"
#include "proto.h"

#define DURATION_MAX 2000000000LL /* ms: fits nng_duration (int32) */

struct ksched_client {
	nng_socket sock;
	char *url;
	int64_t timeout_ms;
	char err[512];
};

static void seterr(ksched_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
seterr(ksched_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static nng_duration
clamp_ms(int64_t ms)
{
	if (ms < 1)
		return 1;
	return (nng_duration)(ms > DURATION_MAX ? DURATION_MAX : ms);
}

static void
copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

/* ---- open / close ---------------------------------------------------- */

ksched_err
ksched_client_open(const char *url, ksched_client **out)
{
	ksched_client *c;
	int rv;

	*out = NULL;
	if (!url || !*url)
		url = getenv(KSCHED_CLIENT_URL_ENV);
	if (!url || !*url)
		url = KSCHED_CLIENT_DEFAULT_URL;
	if (!(c = ksched__calloc(1, sizeof(*c))))
		return KSCHED_ENOMEM;
	if (!(c->url = ksched__strdup(url))) {
		ksched__free(c);
		return KSCHED_ENOMEM;
	}
	c->timeout_ms = KSCHED_CLIENT_TIMEOUT_MS;
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		ksched__free(c->url);
		ksched__free(c);
		return rv == NNG_ENOMEM ? KSCHED_ENOMEM : KSCHED_EIO;
	}
	rv = nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		KLOG(KSCHED_LOG_WARN,
		     "msg=\"cannot dial\" url=\"%s\" "
		     "error=\"%s\"",
		     url, nng_strerror(rv));
		ksched_client_close(c);
		return rv == NNG_ENOMEM ? KSCHED_ENOMEM : KSCHED_EINVAL;
	}
	*out = c;
	return KSCHED_OK;
}

void
ksched_client_close(ksched_client *c)
{
	if (!c)
		return;
	nng_close(c->sock);
	ksched__free(c->url);
	ksched__free(c);
}

void
ksched_client_set_timeout(ksched_client *c, int64_t ms)
{
	c->timeout_ms = ms > 0 ? ms : KSCHED_CLIENT_TIMEOUT_MS;
	if (c->timeout_ms > DURATION_MAX)
		c->timeout_ms = DURATION_MAX;
}

const char *
ksched_client_last_error(const ksched_client *c)
{
	return c->err;
}

/* ---- one request, one reply --------------------------------------------- */

static ksched_err
nng_fail(ksched_client *c, int rv, const char *what, int64_t timeout)
{
	KLOG(KSCHED_LOG_DEBUG,
	     "msg=\"control %s failed\" url=\"%s\" "
	     "error=\"%s\"",
	     what, c->url, nng_strerror(rv));
	if (rv == NNG_ENOMEM || rv == NNG_ECLOSED) {
		seterr(c, "%s: %s", what, nng_strerror(rv));
		return rv == NNG_ENOMEM ? KSCHED_ENOMEM : KSCHED_ECLOSED;
	}
	if (rv == NNG_ETIMEDOUT)
		seterr(c,
		       "cannot reach the master at %s (no answer within "
		       "%lld ms)",
		       c->url, (long long)timeout);
	else
		seterr(c, "cannot reach the master at %s (%s: %s)", c->url,
		       what, nng_strerror(rv));
	return KSCHED_ENOTCONN;
}

/* Send buf and receive the answer (*rep, *replen: free with nng_free). */
static ksched_err
exchange(ksched_client *c, void *buf, size_t len, int64_t timeout, void **rep,
	 size_t *replen)
{
	int64_t start = mono_ms(), left;
	int rv;

	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
			  clamp_ms(timeout + 1000));
	nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, clamp_ms(timeout));
	if ((rv = nng_send(c->sock, buf, len, 0)) != 0)
		return nng_fail(c, rv, "send", timeout);
	left = timeout - (mono_ms() - start);
	nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, clamp_ms(left));
	if ((rv = nng_recv(c->sock, rep, replen, NNG_FLAG_ALLOC)) != 0)
		return nng_fail(c, rv, "receive", timeout);
	return KSCHED_OK;
}

static ksched_err
reply_error(ksched_client *c, const Ksched__Reply *r)
{
	if (r->err < 0) {
		seterr(c, "master sent error code %d", (int)r->err);
		return KSCHED_EPROTO;
	}
	if (r->msg && *r->msg)
		copy_str(c->err, sizeof(c->err), r->msg);
	else
		copy_str(c->err, sizeof(c->err),
			 ksched_strerror((ksched_err)r->err));
	return (ksched_err)r->err;
}

/*
 * call: send req (version filled in here), wait up to timeout ms for the
 * reply, check it answers with body want.  On success *out is the reply
 * (ksched__proto_reply_free it); on failure c->err says why.
 */
static ksched_err
call(ksched_client *c, Ksched__Request *req, Ksched__Reply__BodyCase want,
     int64_t timeout, Ksched__Reply **out)
{
	char derr[256];
	void *buf, *rep = NULL;
	size_t len, replen = 0;
	Ksched__Reply *r;
	ksched_err e;

	*out = NULL;
	req->version = KSCHED_PROTO_VERSION;
	if (!(buf = ksched__proto_pack(&req->base, &len)))
		return KSCHED_ENOMEM;
	e = exchange(c, buf, len, timeout, &rep, &replen);
	ksched__free(buf);
	if (e)
		return e;
	r = ksched__proto_reply_decode(rep, replen, derr, sizeof(derr));
	nng_free(rep, replen);
	if (!r) {
		seterr(c, "bad reply from %s: %s", c->url, derr);
		return KSCHED_EPROTO;
	}
	if (r->err) {
		e = reply_error(c, r);
	} else if (r->body_case != (Ksched__Reply__BodyCase)want) {
		seterr(c, "reply of type %d to a request of type %d",
		       (int)r->body_case, (int)want);
		e = KSCHED_EPROTO;
	} else {
		*out = r;
		return KSCHED_OK;
	}
	ksched__proto_reply_free(r);
	return e;
}

static ksched_err
count_mismatch(ksched_client *c, Ksched__Reply *r, const char *what, size_t got,
	       size_t want)
{
	ksched__proto_reply_free(r);
	seterr(c, "%s reply with %zu entries for %zu asked", what, got, want);
	return KSCHED_EPROTO;
}

static void
status_from_pb(const Ksched__TaskStatus *p, struct ksched_task_status *s)
{
	memset(s, 0, sizeof(*s));
	s->id = p->id;
	s->state = (enum ksched_state)p->state;
	s->priority = p->priority;
	s->attempts = p->attempts;
	s->retries = p->retries;
	s->flags = p->flags;
	s->submitted = p->submitted;
	s->due = p->due;
	s->cached = p->cached || (p->flags & KSCHED_TASK_CACHED);
	copy_str(s->kind, sizeof(s->kind), p->kind);
	copy_str(s->worker, sizeof(s->worker), p->worker);
	copy_str(s->last_error, sizeof(s->last_error), p->last_error);
	copy_str(s->pending_reason, sizeof(s->pending_reason),
		 p->pending_reason);
}

static size_t
chunk_len(size_t n, size_t off)
{
	return n - off < KSCHED_CLIENT_CHUNK ? n - off : KSCHED_CLIENT_CHUNK;
}

/* ---- submit ------------------------------------------------------------- */

static ksched_err
validate_all(ksched_client *c, const ksched_task *const *tasks, size_t n)
{
	char msg[300];

	for (size_t i = 0; i < n; i++) {
		if (!tasks[i]) {
			seterr(c, "task %zu: NULL spec", i);
			return KSCHED_EINVAL;
		}
		if (ksched_task_validate(tasks[i], msg, sizeof(msg))) {
			seterr(c, "task %zu: %s", i, msg);
			return KSCHED_EINVAL;
		}
	}
	return KSCHED_OK;
}

/* The master numbers tasks in a request from 0: make "task N" global. */
static void
renumber_error(ksched_client *c, size_t off)
{
	char rest[sizeof(c->err)];
	unsigned long long i;
	int used = 0;

	if (!off || sscanf(c->err, "task %llu%n", &i, &used) != 1 || !used)
		return;
	copy_str(rest, sizeof(rest), c->err + used);
	seterr(c, "task %llu%s", i + off, rest);
}

static void
free_chunk(ProtobufCBinaryData *bin, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ksched_free(bin[i].data);
}

static ksched_err
encode_chunk(const ksched_task *const *tasks, size_t n,
	     ProtobufCBinaryData *bin)
{
	for (size_t i = 0; i < n; i++) {
		void *p;
		size_t len;
		ksched_err e = ksched_task_encode(tasks[i], &p, &len);

		if (e) {
			free_chunk(bin, i);
			return e;
		}
		bin[i].data = p;
		bin[i].len = len;
	}
	return KSCHED_OK;
}

static ksched_err
submit_rep(ksched_client *c, Ksched__Reply *r, size_t n, uint64_t *ids,
	   bool *cached)
{
	Ksched__SubmitRep *s = r->submit;

	if (s->n_ids != n)
		return count_mismatch(c, r, "submit", s->n_ids, n);
	if (s->n_cached != 0 && s->n_cached != n)
		return count_mismatch(c, r, "submit", s->n_cached, n);
	for (size_t i = 0; i < n; i++) {
		ids[i] = s->ids[i];
		if (cached)
			cached[i] = s->n_cached ? s->cached[i] : false;
	}
	ksched__proto_reply_free(r);
	return KSCHED_OK;
}

static ksched_err
submit_chunk(ksched_client *c, const ksched_task *const *tasks, size_t n,
	     ProtobufCBinaryData *bin, uint64_t *ids, bool *cached)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__SubmitReq sub = KSCHED__SUBMIT_REQ__INIT;
	Ksched__Reply *r;
	ksched_err e;

	if ((e = encode_chunk(tasks, n, bin)))
		return e;
	sub.n_tasks = n;
	sub.tasks = bin;
	req.body_case = KSCHED__REQUEST__BODY_SUBMIT;
	req.submit = &sub;
	e = call(c, &req, KSCHED__REPLY__BODY_SUBMIT, c->timeout_ms, &r);
	free_chunk(bin, n);
	return e ? e : submit_rep(c, r, n, ids, cached);
}

ksched_err
ksched_client_submit(ksched_client *c, const ksched_task *const *tasks,
		     size_t n, uint64_t *ids, bool *cached)
{
	ProtobufCBinaryData *bin;
	ksched_err e;

	c->err[0] = 0;
	if (n == 0 || !tasks || !ids) {
		seterr(c, "submit: no tasks");
		return KSCHED_EINVAL;
	}
	memset(ids, 0, n * sizeof(*ids));
	if ((e = validate_all(c, tasks, n)))
		return e;
	if (!(bin = ksched__calloc(chunk_len(n, 0), sizeof(*bin))))
		return KSCHED_ENOMEM;
	for (size_t off = 0; off < n; off += KSCHED_CLIENT_CHUNK) {
		e = submit_chunk(c, tasks + off, chunk_len(n, off), bin,
				 ids + off, cached ? cached + off : NULL);
		if (e) {
			if (e == KSCHED_EINVAL)
				renumber_error(c, off);
			break;
		}
	}
	ksched__free(bin);
	return e;
}

/* ---- status and result -------------------------------------------------- */

static ksched_err
status_chunk(ksched_client *c, const uint64_t *ids, size_t n,
	     struct ksched_task_status *out)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__StatusReq sr = KSCHED__STATUS_REQ__INIT;
	Ksched__Reply *r;
	ksched_err e;

	sr.n_ids = n;
	sr.ids = (uint64_t *)ids;
	req.body_case = KSCHED__REQUEST__BODY_STATUS;
	req.status = &sr;
	if ((e = call(c, &req, KSCHED__REPLY__BODY_STATUS, c->timeout_ms, &r)))
		return e;
	if (r->status->n_tasks != n)
		return count_mismatch(c, r, "status", r->status->n_tasks, n);
	for (size_t i = 0; i < n; i++) {
		if (r->status->tasks[i]->id != ids[i]) {
			seterr(c,
			       "status reply: entry %zu is task %llu, "
			       "asked %llu",
			       i, (unsigned long long)r->status->tasks[i]->id,
			       (unsigned long long)ids[i]);
			ksched__proto_reply_free(r);
			return KSCHED_EPROTO;
		}
		status_from_pb(r->status->tasks[i], &out[i]);
	}
	ksched__proto_reply_free(r);
	return KSCHED_OK;
}

ksched_err
ksched_client_status(ksched_client *c, const uint64_t *ids, size_t n,
		     struct ksched_task_status *out)
{
	ksched_err e = KSCHED_OK;

	c->err[0] = 0;
	for (size_t off = 0; off < n && !e; off += KSCHED_CLIENT_CHUNK)
		e = status_chunk(c, ids + off, chunk_len(n, off), out + off);
	return e;
}

static ksched_err
result_rep(ksched_client *c, Ksched__ResultRep *rr, uint64_t id,
	   struct ksched_task_status *st, void **out, size_t *len)
{
	if (!rr->status || rr->status->id != id) {
		seterr(c, "result reply without the status of task %llu",
		       (unsigned long long)id);
		return KSCHED_EPROTO;
	}
	if (st)
		status_from_pb(rr->status, st);
	if (!out || !rr->has_result)
		return KSCHED_OK;
	if (!(*out = ksched__malloc(rr->result.len ? rr->result.len : 1)))
		return KSCHED_ENOMEM;
	if (rr->result.len)
		memcpy(*out, rr->result.data, rr->result.len);
	if (len)
		*len = rr->result.len;
	return KSCHED_OK;
}

ksched_err
ksched_client_result(ksched_client *c, uint64_t id,
		     struct ksched_task_status *st, void **out, size_t *len)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__ResultReq rq = KSCHED__RESULT_REQ__INIT;
	Ksched__Reply *r;
	ksched_err e;

	c->err[0] = 0;
	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	rq.id = id;
	req.body_case = KSCHED__REQUEST__BODY_RESULT;
	req.result = &rq;
	if ((e = call(c, &req, KSCHED__REPLY__BODY_RESULT, c->timeout_ms, &r)))
		return e;
	e = result_rep(c, r->result, id, st, out, len);
	ksched__proto_reply_free(r);
	return e;
}

/* ---- wait and cancel ------------------------------------------------------
 */

static ksched_err
wait_one(ksched_client *c, const uint64_t *ids, size_t n, bool all,
	 int64_t timeout, uint64_t *remaining)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__WaitReq wr = KSCHED__WAIT_REQ__INIT;
	Ksched__Reply *r;
	ksched_err e;

	wr.n_ids = all ? 0 : n;
	wr.ids = all ? NULL : (uint64_t *)ids;
	wr.all = all;
	wr.timeout_ms = timeout;
	req.body_case = KSCHED__REQUEST__BODY_WAIT;
	req.wait = &wr;
	e = call(c, &req, KSCHED__REPLY__BODY_WAIT,
		 timeout + KSCHED_CLIENT_WAIT_GRACE_MS, &r);
	if (e)
		return e;
	if (!all && r->wait->remaining > n) {
		seterr(c, "wait reply: %llu remaining of %zu",
		       (unsigned long long)r->wait->remaining, n);
		e = KSCHED_EPROTO;
	}
	*remaining = r->wait->remaining;
	ksched__proto_reply_free(r);
	return e;
}

/*
 * Chunks are waited for in turn against one deadline: once it has passed,
 * the rest are only asked (timeout 0), so *remaining stays exact.
 */
ksched_err
ksched_client_wait(ksched_client *c, const uint64_t *ids, size_t n, bool all,
		   int64_t timeout_ms, uint64_t *remaining)
{
	int64_t deadline;
	uint64_t sum = 0, rem = 0;
	ksched_err e = KSCHED_OK;

	c->err[0] = 0;
	if (timeout_ms < 0 || (!all && n && !ids)) {
		seterr(c, "wait: bad arguments");
		return KSCHED_EINVAL;
	}
	if (timeout_ms > DURATION_MAX - KSCHED_CLIENT_WAIT_GRACE_MS)
		timeout_ms = DURATION_MAX - KSCHED_CLIENT_WAIT_GRACE_MS;
	deadline = mono_ms() + timeout_ms;
	if (all)
		e = wait_one(c, NULL, 0, true, timeout_ms, &sum);
	for (size_t off = 0; !all && off < n && !e;
	     off += KSCHED_CLIENT_CHUNK) {
		int64_t left = deadline - mono_ms();

		e = wait_one(c, ids + off, chunk_len(n, off), false,
			     left > 0 ? left : 0, &rem);
		sum += rem;
	}
	if (remaining)
		*remaining = e ? 0 : sum;
	return e;
}

/* Cancel and retry share a shape: ids in, one ksched_err per id out. */
static ksched_err
ids_chunk(ksched_client *c, bool retry, const uint64_t *ids, size_t n,
	  ksched_err *errs)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__CancelReq cr = KSCHED__CANCEL_REQ__INIT;
	Ksched__RetryReq rr = KSCHED__RETRY_REQ__INIT;
	const char *what = retry ? "retry" : "cancel";
	Ksched__Reply *r;
	size_t got;
	int32_t *v;
	ksched_err e;

	cr.n_ids = rr.n_ids = n;
	cr.ids = rr.ids = (uint64_t *)ids;
	if (retry) {
		req.body_case = KSCHED__REQUEST__BODY_RETRY;
		req.retry = &rr;
	} else {
		req.body_case = KSCHED__REQUEST__BODY_CANCEL;
		req.cancel = &cr;
	}
	e = call(c, &req,
		 retry ? KSCHED__REPLY__BODY_RETRY : KSCHED__REPLY__BODY_CANCEL,
		 c->timeout_ms, &r);
	if (e)
		return e;
	got = retry ? r->retry->n_errs : r->cancel->n_errs;
	v = retry ? r->retry->errs : r->cancel->errs;
	if (got != n)
		return count_mismatch(c, r, what, got, n);
	for (size_t i = 0; i < n; i++)
		errs[i] = v[i] < 0 ? KSCHED_EPROTO : (ksched_err)v[i];
	ksched__proto_reply_free(r);
	return KSCHED_OK;
}

static ksched_err
ids_op(ksched_client *c, bool retry, const uint64_t *ids, size_t n,
       ksched_err *errs)
{
	ksched_err e = KSCHED_OK, *own = NULL;

	c->err[0] = 0;
	if (!errs && n && !(errs = own = ksched__calloc(n, sizeof(*own))))
		return KSCHED_ENOMEM;
	for (size_t off = 0; off < n && !e; off += KSCHED_CLIENT_CHUNK)
		e = ids_chunk(c, retry, ids + off, chunk_len(n, off),
			      errs + off);
	for (size_t i = 0; i < n && !e; i++) {
		if ((e = errs[i]))
			seterr(c, "task %llu: %s", (unsigned long long)ids[i],
			       ksched_strerror(e));
	}
	ksched__free(own);
	return e;
}

ksched_err
ksched_client_cancel(ksched_client *c, const uint64_t *ids, size_t n,
		     ksched_err *errs)
{
	return ids_op(c, false, ids, n, errs);
}

ksched_err
ksched_client_retry(ksched_client *c, const uint64_t *ids, size_t n,
		    ksched_err *errs)
{
	return ids_op(c, true, ids, n, errs);
}

ksched_err
ksched_client_drain(ksched_client *c, const char *worker, uint32_t *running)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__DrainReq dr = KSCHED__DRAIN_REQ__INIT;
	Ksched__Reply *r;
	ksched_err e;

	c->err[0] = 0;
	if (!worker || !*worker)
		return KSCHED_EINVAL;
	dr.worker = (char *)worker;
	req.body_case = KSCHED__REQUEST__BODY_DRAIN;
	req.drain = &dr;
	e = call(c, &req, KSCHED__REPLY__BODY_DRAIN, c->timeout_ms, &r);
	if (e)
		return e;
	if (running)
		*running = r->drain->running;
	ksched__proto_reply_free(r);
	return KSCHED_OK;
}

/* ---- list, workers, stats, cache ---------------------------------------- */

ksched_err
ksched_client_list(ksched_client *c, enum ksched_state st, uint64_t cursor,
		   size_t limit, struct ksched_task_status *out, size_t *n,
		   uint64_t *next)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__ListReq lr = KSCHED__LIST_REQ__INIT;
	Ksched__Reply *r;
	ksched_err e;

	c->err[0] = 0;
	*n = 0;
	if (next)
		*next = 0;
	if ((unsigned)st >= KSCHED_STATE_COUNT || limit == 0 ||
	    limit > KSCHED_CLIENT_LIST_MAX) {
		seterr(c, "list: state must be known and limit 1..%d",
		       KSCHED_CLIENT_LIST_MAX);
		return KSCHED_EINVAL;
	}
	lr.state = (uint32_t)st;
	lr.cursor = cursor;
	lr.limit = (uint32_t)limit;
	req.body_case = KSCHED__REQUEST__BODY_LIST;
	req.list = &lr;
	if ((e = call(c, &req, KSCHED__REPLY__BODY_LIST, c->timeout_ms, &r)))
		return e;
	if (r->list->n_tasks > limit)
		return count_mismatch(c, r, "list", r->list->n_tasks, limit);
	for (size_t i = 0; i < r->list->n_tasks; i++)
		status_from_pb(r->list->tasks[i], &out[i]);
	*n = r->list->n_tasks;
	if (next)
		*next = r->list->next;
	ksched__proto_reply_free(r);
	return KSCHED_OK;
}

static void
res_from_pb(const Ksched__Resources *p, struct ksched_resources *r)
{
	if (!p)
		return;
	r->cpu_milli = p->cpu_milli;
	r->mem_mb = p->mem_mb;
	r->gpus = p->gpus;
	r->slots = p->slots;
}

static void
worker_from_pb(const Ksched__WorkerStatus *p, struct ksched_worker_status *w)
{
	memset(w, 0, sizeof(*w));
	copy_str(w->id, sizeof(w->id), p->id);
	res_from_pb(p->capacity, &w->capacity);
	res_from_pb(p->allocated, &w->allocated);
	w->state = (enum ksched_worker_state)p->state;
	w->running = p->running;
	w->load = p->load;
	w->last_seen = p->last_seen;
	w->completed = p->completed;
	w->failed = p->failed;
}

ksched_err
ksched_client_workers(ksched_client *c, struct ksched_worker_status **out,
		      size_t *n)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__WorkersReq wr = KSCHED__WORKERS_REQ__INIT;
	Ksched__Reply *r;
	ksched_err e;
	size_t k;

	c->err[0] = 0;
	*out = NULL;
	*n = 0;
	req.body_case = KSCHED__REQUEST__BODY_WORKERS;
	req.workers = &wr;
	e = call(c, &req, KSCHED__REPLY__BODY_WORKERS, c->timeout_ms, &r);
	if (e)
		return e;
	k = r->workers->n_workers;
	if (k && !(*out = ksched__calloc(k, sizeof(**out)))) {
		ksched__proto_reply_free(r);
		return KSCHED_ENOMEM;
	}
	for (size_t i = 0; i < k; i++)
		worker_from_pb(r->workers->workers[i], &(*out)[i]);
	*n = k;
	ksched__proto_reply_free(r);
	return KSCHED_OK;
}

ksched_err
ksched_client_stats(ksched_client *c, struct ksched_stats *out)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__StatsReq sr = KSCHED__STATS_REQ__INIT;
	Ksched__StatsRep *s;
	Ksched__Reply *r;
	ksched_err e;

	c->err[0] = 0;
	memset(out, 0, sizeof(*out));
	req.body_case = KSCHED__REQUEST__BODY_STATS;
	req.stats = &sr;
	if ((e = call(c, &req, KSCHED__REPLY__BODY_STATS, c->timeout_ms, &r)))
		return e;
	s = r->stats;
	/* A newer master may count states this version does not know. */
	for (size_t i = 0; i < s->n_counts && i < KSCHED_STATE_COUNT; i++)
		out->counts[i] = s->counts[i];
	out->cache_hits = s->cache_hits;
	out->cache_misses = s->cache_misses;
	out->cache_entries = s->cache_entries;
	out->workers = s->workers;
	out->attached = s->attached;
	out->bad_messages = s->bad_messages;
	out->uptime_ms = s->uptime_ms;
	ksched__proto_reply_free(r);
	return KSCHED_OK;
}

ksched_err
ksched_client_cache_invalidate(ksched_client *c, const struct ksched_key *key,
			       const char *kind, bool all, uint64_t *removed)
{
	Ksched__Request req = KSCHED__REQUEST__INIT;
	Ksched__CacheReq cr = KSCHED__CACHE_REQ__INIT;
	Ksched__Reply *r;
	ksched_err e;
	struct ksched_key k;

	c->err[0] = 0;
	if (removed)
		*removed = 0;
	if ((key != NULL) + (kind != NULL && *kind) + all != 1) {
		seterr(c, "cache invalidate: give exactly one of a key, a "
			  "kind or all");
		return KSCHED_EINVAL;
	}
	if (key) {
		k = *key;
		cr.key.data = k.bytes;
		cr.key.len = sizeof(k.bytes);
	}
	cr.kind = kind && *kind ? (char *)kind : cr.kind;
	cr.all = all;
	req.body_case = KSCHED__REQUEST__BODY_CACHE;
	req.cache = &cr;
	if ((e = call(c, &req, KSCHED__REPLY__BODY_CACHE, c->timeout_ms, &r)))
		return e;
	if (removed)
		*removed = r->cache->removed;
	ksched__proto_reply_free(r);
	return KSCHED_OK;
}
