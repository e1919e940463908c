/*
 * libksched - the master's sockets.  nng completes aio on its own threads;
 * the callbacks here only move a received message into the inbox and make
 * the loop's wake-up event active.  All scheduler state is touched by the
 * loop thread alone (master.c).
 */
#include <stdio.h>
#include <string.h>

#include <event2/thread.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/survey0/survey.h>

#include "alloc.h"
#include "nngclose.h"
#include "log.h"
#include "master_int.h"

#define CONTROL_CTXS 64
#define DISPATCH_CTXS 512

static void
inbox_push(struct ksched_master *m, struct mctx *x)
{
	pthread_mutex_lock(&m->lock);
	x->next = NULL;
	if (m->inbox_tail)
		m->inbox_tail->next = x;
	else
		m->inbox = x;
	m->inbox_tail = x;
	pthread_mutex_unlock(&m->lock);
	event_active(m->wake, 0, 0);
}

struct mctx *
ksched__master_inbox_take(struct ksched_master *m)
{
	struct mctx *x;

	pthread_mutex_lock(&m->lock);
	x = m->inbox;
	m->inbox = m->inbox_tail = NULL;
	pthread_mutex_unlock(&m->lock);
	return x;
}

/* A heartbeat answer is copied into a fresh holder so the survey context
 * can go on receiving at once. */
static void
survey_got(struct ksched_master *m, nng_msg *msg)
{
	struct mctx *h = ksched__calloc(1, sizeof(*h));

	if (!h) {
		nng_msg_free(msg);
		return;
	}
	h->m = m;
	h->kind = MCTX_SURVEY;
	h->state = MCTX_LOOP;
	h->msg = msg;
	inbox_push(m, h);
}

static void
survey_cb(struct mctx *x, int rv)
{
	struct ksched_master *m = x->m;

	if (x->state == MCTX_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(x->aio));
			x->state = MCTX_DONE;
			return;
		}
		x->state = MCTX_RECV;
		nng_ctx_recv(x->ctx, x->aio);
		return;
	}
	if (rv == 0) {
		survey_got(m, nng_aio_get_msg(x->aio));
		nng_ctx_recv(x->ctx, x->aio);
		return;
	}
	/* NNG_ETIMEDOUT: the survey is over; NNG_ECLOSED: shutting down. */
	pthread_mutex_lock(&m->lock);
	x->state = MCTX_DONE;
	pthread_mutex_unlock(&m->lock);
}

static void
ctx_cb(void *arg)
{
	struct mctx *x = arg;
	int rv = nng_aio_result(x->aio);

	if (x->kind == MCTX_SURVEY) {
		survey_cb(x, rv);
		return;
	}
	if (x->state == MCTX_SEND) {
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(x->aio));
		if (rv == NNG_ECLOSED) {
			x->state = MCTX_DONE;
			return;
		}
		x->state = MCTX_RECV;
		nng_ctx_recv(x->ctx, x->aio);
		return;
	}
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		x->state = MCTX_DONE;
		return;
	}
	if (rv != 0) {
		nng_ctx_recv(x->ctx, x->aio);
		return;
	}
	x->msg = nng_aio_get_msg(x->aio);
	x->state = MCTX_LOOP;
	inbox_push(x->m, x);
}

void
ksched__master_rearm(struct mctx *x)
{
	if (x->msg)
		nng_msg_free(x->msg);
	x->msg = NULL;
	x->state = MCTX_RECV;
	nng_ctx_recv(x->ctx, x->aio);
}

static nng_msg *
pack_reply(const Ksched__Reply *rep)
{
	size_t len = protobuf_c_message_get_packed_size(&rep->base);
	nng_msg *msg;

	if (nng_msg_alloc(&msg, len) != 0) {
		KLOG(KSCHED_LOG_ERR, "msg=\"cannot allocate reply\" bytes=%zu",
		     len);
		return NULL;
	}
	protobuf_c_message_pack(&rep->base, nng_msg_body(msg));
	return msg;
}

void
ksched__master_reply(struct mctx *x, const Ksched__Reply *rep)
{
	struct ksched_master *m = x->m;

	if (x->msg) {
		nng_msg_free(x->msg);
		x->msg = NULL;
	}
	x->out = pack_reply(rep);
	x->state = MCTX_SEND;
	x->onext = NULL;
	if (m->outbox_tail)
		m->outbox_tail->onext = x;
	else
		m->outbox = x;
	m->outbox_tail = x;
}

void
ksched__master_flush(struct ksched_master *m, ksched_err commit_err)
{
	struct mctx *x = m->outbox, *next;

	m->outbox = m->outbox_tail = NULL;
	for (; x; x = next) {
		next = x->onext;
		if (commit_err && x->out) {
			Ksched__Reply rep = KSCHED__REPLY__INIT;
			rep.version = KSCHED_PROTO_VERSION;
			rep.err = (int32_t)commit_err;
			rep.msg = (char *)"the change could not be stored; "
					  "nothing was done";
			nng_msg_free(x->out);
			x->out = pack_reply(&rep);
		}
		if (!x->out) {
			ksched__master_rearm(x);
			continue;
		}
		nng_aio_set_msg(x->aio, x->out);
		x->out = NULL;
		nng_ctx_send(x->ctx, x->aio);
	}
}

void
ksched__master_reply_err(struct mctx *x, ksched_err e, const char *msg)
{
	Ksched__Reply rep = KSCHED__REPLY__INIT;

	rep.version = KSCHED_PROTO_VERSION;
	rep.err = (int32_t)e;
	rep.msg = (char *)(msg ? msg : ksched_strerror(e));
	ksched__master_reply(x, &rep);
}

void
ksched__master_survey(struct ksched_master *m)
{
	Ksched__Survey sv = KSCHED__SURVEY__INIT;
	struct mctx *x = &m->survey_ctx;
	nng_msg *msg;
	size_t len;

	pthread_mutex_lock(&m->lock);
	if (x->state != MCTX_DONE || m->stopping) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	x->state = MCTX_SEND;
	pthread_mutex_unlock(&m->lock);
	sv.version = KSCHED_PROTO_VERSION;
	sv.seq = ++m->survey_seq;
	sv.cancel = m->cancel_buf;
	sv.n_cancel = ksched_sched_cancels(m->s, m->cancel_buf,
					   MASTER_CANCELS_MAX);
	len = ksched__survey__get_packed_size(&sv);
	if (nng_msg_alloc(&msg, len) != 0) {
		x->state = MCTX_DONE;
		return;
	}
	ksched__survey__pack(&sv, nng_msg_body(msg));
	nng_aio_set_msg(x->aio, msg);
	nng_ctx_send(x->ctx, x->aio);
}

static int
listen_on(nng_socket *s, int (*open)(nng_socket *), const char *url,
	  char *err, size_t errlen)
{
	int rv = open(s);

	if (!rv)
		rv = nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ,
					 KSCHED_PROTO_MSG_MAX);
	if (!rv)
		rv = nng_listen(*s, url, NULL, 0);
	if (rv && err)
		snprintf(err, errlen, "cannot listen on %s: %s", url,
			 nng_strerror(rv));
	return rv;
}

static int
ctx_start(struct ksched_master *m, struct mctx *x, nng_socket s,
	  enum mctx_kind kind)
{
	int rv;

	x->m = m;
	x->kind = kind;
	rv = nng_aio_alloc(&x->aio, ctx_cb, x);
	if (!rv)
		rv = nng_ctx_open(&x->ctx, s);
	if (rv)
		return rv;
	if (kind == MCTX_SURVEY) {
		x->state = MCTX_DONE;
		return nng_ctx_set_ms(x->ctx, NNG_OPT_SURVEYOR_SURVEYTIME,
				      (nng_duration)(m->cfg.heartbeat_ms * 4 /
						     5));
	}
	x->state = MCTX_RECV;
	nng_ctx_recv(x->ctx, x->aio);
	return 0;
}

ksched_err
ksched__master_net_open(struct ksched_master *m, char *err, size_t errlen)
{
	int rv;

	m->nctxs = CONTROL_CTXS + DISPATCH_CTXS;
	m->ctxs = ksched__calloc(m->nctxs, sizeof(*m->ctxs));
	if (!m->ctxs)
		return KSCHED_ENOMEM;
	rv = listen_on(&m->control, nng_rep0_open, m->cfg.control_url, err,
		       errlen);
	if (!rv)
		rv = listen_on(&m->dispatch, nng_rep0_open,
			       m->cfg.dispatch_url, err, errlen);
	if (!rv)
		rv = listen_on(&m->survey, nng_surveyor0_open,
			       m->cfg.heartbeat_url, err, errlen);
	for (size_t i = 0; i < m->nctxs && !rv; i++)
		rv = ctx_start(m, &m->ctxs[i],
			       i < CONTROL_CTXS ? m->control : m->dispatch,
			       i < CONTROL_CTXS ? MCTX_CONTROL
						: MCTX_DISPATCH);
	if (!rv)
		rv = ctx_start(m, &m->survey_ctx, m->survey, MCTX_SURVEY);
	if (rv && err && !err[0])
		snprintf(err, errlen, "cannot set up sockets: %s",
			 nng_strerror(rv));
	return rv ? KSCHED_EIO : KSCHED_OK;
}

void
ksched__master_net_close(struct ksched_master *m)
{
	struct mctx *x;

	nng_socket socks[3] = {m->control, m->dispatch, m->survey};

	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_mutex_unlock(&m->lock);
	/* Everything is committed and answered by now.  If a close hangs
	 * (nng 1.5.2), its contexts and aios must be left alone too. */
	if (!ksched__nng_close_bounded(socks, 3)) {
		m->ctxs = NULL; /* left behind with the sockets, on purpose */
		m->abandoned = true;
		return;
	}
	for (size_t i = 0; m->ctxs && i < m->nctxs; i++) {
		if (m->ctxs[i].aio) {
			nng_aio_stop(m->ctxs[i].aio);
			nng_aio_free(m->ctxs[i].aio);
		}
		if (m->ctxs[i].msg)
			nng_msg_free(m->ctxs[i].msg);
		if (m->ctxs[i].out)
			nng_msg_free(m->ctxs[i].out);
		ksched__proto_request_free(m->ctxs[i].req);
	}
	if (m->survey_ctx.aio) {
		nng_aio_stop(m->survey_ctx.aio);
		nng_aio_free(m->survey_ctx.aio);
	}
	/* Heartbeats still in the inbox are ours to free. */
	while ((x = ksched__master_inbox_take(m))) {
		while (x) {
			struct mctx *next = x->next;
			if (x->kind == MCTX_SURVEY) {
				nng_msg_free(x->msg);
				ksched__free(x);
			}
			x = next;
		}
	}
	ksched__free(m->ctxs);
	m->ctxs = NULL;
}
