/*
 * libksched - the master's loop: a turn drains the inbox inside one store
 * batch (group commit), lets parked lease requests take the tasks that
 * became ready, commits, and only then sends the replies.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/thread.h>

#include "alloc.h"
#include "log.h"
#include "master_int.h"
#include "master_ops.h"

void
ksched_master_config_init(struct ksched_master_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->sync = KSCHED_SYNC_STRICT;
	cfg->control_url = KSCHED_CONTROL_URL;
	cfg->dispatch_url = KSCHED_DISPATCH_URL;
	cfg->heartbeat_url = KSCHED_HEARTBEAT_URL;
	cfg->heartbeat_ms = 1000;
	cfg->suspect_after = 2;
	cfg->dead_after = 3;
	cfg->lease_ms = 60000;
	cfg->max_wait_ms = 30000;
}

/* ---- the turn ------------------------------------------------------------ */

static void
handle(struct ksched_master *m, struct mctx *x, int64_t now)
{
	char err[256] = "";
	Ksched__Request *req;

	if (x->kind == MCTX_SURVEY) {
		ksched__master_heartbeat(m, x->msg, now);
		nng_msg_free(x->msg);
		ksched__free(x);
		return;
	}
	req = ksched__proto_request_decode(nng_msg_body(x->msg),
					   nng_msg_len(x->msg), err,
					   sizeof(err));
	if (!req) {
		m->bad_messages++;
		KLOG(KSCHED_LOG_WARN, "msg=\"bad request\" reason=\"%s\"", err);
		ksched__master_reply_err(x, KSCHED_EPROTO, err);
		return;
	}
	if (ksched__master_op(m, x, req, now) == MASTER_PARKED)
		return; /* x keeps req */
	ksched__proto_request_free(req);
}

/* Replies wait until the batch is committed: collect them here. */
static void
commit_turn(struct ksched_master *m)
{
	double t0 = ksched__master_mono();
	ksched_err e = ksched_store_commit(m->store);

	ksched__master_obs_commit(m, ksched__master_mono() - t0);

	if (e) {
		KLOG(KSCHED_LOG_ERR, "msg=\"commit failed\" error=\"%s\"",
		     ksched_strerror(e));
		ksched__master_fail_turn(m, e);
	}
	ksched__master_flush(m, e);
}

void
ksched__master_turn(struct ksched_master *m)
{
	struct mctx *x = ksched__master_inbox_take(m);
	int64_t now = ksched_now_ms();
	ksched_err e;

	e = ksched_store_begin(m->store);
	if (e) {
		KLOG(KSCHED_LOG_ERR, "msg=\"cannot begin\" error=\"%s\"",
		     ksched_strerror(e));
		while (x) {
			struct mctx *next = x->next;
			if (x->kind == MCTX_SURVEY) {
				nng_msg_free(x->msg);
				ksched__free(x);
			} else {
				ksched__master_reply_err(x, e, NULL);
			}
			x = next;
		}
		ksched__master_flush(m, KSCHED_OK);
		return;
	}
	while (x) {
		struct mctx *next = x->next;
		handle(m, x, now);
		x = next;
	}
	ksched__master_housekeeping(m, now);
	commit_turn(m);
}

/* ---- events ------------------------------------------------------------- */

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ksched__master_turn(arg);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ksched_master *m = arg;

	(void)fd;
	(void)what;
	KLOG(KSCHED_LOG_NOTICE, "msg=\"master stopping\"");
	event_base_loopbreak(m->base);
}

static void
hb_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ksched__master_survey(arg);
}

static void
housekeeping_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ksched__master_turn(arg);
}

static ksched_err
events_new(struct ksched_master *m)
{
	struct timeval hb = {m->cfg.heartbeat_ms / 1000,
			     (m->cfg.heartbeat_ms % 1000) * 1000};
	struct timeval hk = {0, 100 * 1000};

	m->base = event_base_new();
	if (!m->base)
		return KSCHED_ENOMEM;
	m->wake = event_new(m->base, -1, 0, wake_cb, m);
	m->stop_ev = event_new(m->base, -1, 0, stop_cb, m);
	m->hb_timer = event_new(m->base, -1, EV_PERSIST, hb_cb, m);
	m->housekeeping = event_new(m->base, -1, EV_PERSIST, housekeeping_cb,
				    m);
	m->death_timer = evtimer_new(m->base, housekeeping_cb, m);
	if (!m->wake || !m->stop_ev || !m->hb_timer || !m->housekeeping ||
	    !m->death_timer)
		return KSCHED_ENOMEM;
	event_add(m->hb_timer, &hb);
	event_add(m->housekeeping, &hk);
	return KSCHED_OK;
}

/* ---- life cycle ---------------------------------------------------------- */

static ksched_err
copy_cfg(struct ksched_master *m, const struct ksched_master_config *cfg)
{
	const char **src[6] = {&m->cfg.data_dir, &m->cfg.control_url,
			       &m->cfg.dispatch_url, &m->cfg.heartbeat_url,
			       &m->cfg.policy, &m->cfg.http_addr};

	m->cfg = *cfg;
	if (!m->cfg.policy)
		m->cfg.policy = "least_loaded";
	if (!m->cfg.http_addr)
		m->cfg.http_addr = "none";
	for (int i = 0; i < 6; i++) {
		if (!*src[i])
			return KSCHED_EINVAL;
		m->strs[i] = ksched__strdup(*src[i]);
		if (!m->strs[i])
			return KSCHED_ENOMEM;
		*src[i] = m->strs[i];
	}
	if (m->cfg.heartbeat_ms < 10 || m->cfg.suspect_after < 1 ||
	    m->cfg.dead_after <= m->cfg.suspect_after ||
	    m->cfg.lease_ms <= 0 || m->cfg.max_wait_ms <= 0)
		return KSCHED_EINVAL;
	if (!m->cfg.seed)
		m->cfg.seed = (uint64_t)ksched_now_ms();
	return KSCHED_OK;
}

static ksched_err
open_core(struct ksched_master *m, char *err, size_t errlen)
{
	struct ksched_sched_config sc;
	int64_t now = ksched_now_ms();
	ksched_err e;

	e = ksched_store_open(m->cfg.data_dir, m->cfg.sync, &m->store, err,
			      errlen);
	if (!e)
		e = ksched_queue_open(m->store, m->cfg.seed, &m->q);
	if (!e)
		e = ksched_cache_open(m->store, &m->c);
	if (!e)
		e = ksched_policy_load(m->cfg.policy, &m->policy, err, errlen);
	ksched_sched_config_init(&sc);
	sc.lease_ms = m->cfg.lease_ms;
	sc.policy = m->policy;
	sc.adopt_window_ms = ksched__master_adopt_window(m);
	if (!e)
		e = ksched_sched_new(m->q, m->c, &sc, now, &m->s);
	if (!e) {
		uint64_t c[KSCHED_STATE_COUNT];
		ksched_queue_counts(m->q, c);
		KLOG(KSCHED_LOG_NOTICE,
		     "msg=\"recovered\" pending=%llu ready=%llu leased=%llu "
		     "succeeded=%llu dead=%llu canceled=%llu open_ms=%lld",
		     (unsigned long long)c[KSCHED_STATE_PENDING],
		     (unsigned long long)c[KSCHED_STATE_READY],
		     (unsigned long long)c[KSCHED_STATE_LEASED],
		     (unsigned long long)c[KSCHED_STATE_SUCCEEDED],
		     (unsigned long long)c[KSCHED_STATE_DEAD],
		     (unsigned long long)c[KSCHED_STATE_CANCELED],
		     (long long)(ksched_now_ms() - now));
	}
	if (e && err && !err[0])
		snprintf(err, errlen, "%s: %s", m->cfg.data_dir,
			 ksched_strerror(e));
	return e;
}

ksched_err
ksched_master_new(const struct ksched_master_config *cfg, ksched_master **out,
		  char *err, size_t errlen)
{
	struct ksched_master *m;
	ksched_err e;

	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	m = ksched__calloc(1, sizeof(*m));
	if (!m)
		return KSCHED_ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->started = ksched_now_ms();
	e = copy_cfg(m, cfg);
	if (e == KSCHED_EINVAL && err)
		snprintf(err, errlen, "bad master configuration");
	if (!e && evthread_use_pthreads() != 0)
		e = KSCHED_ENOMEM;
	if (!e)
		e = events_new(m);
	if (!e)
		e = open_core(m, err, errlen);
	if (!e)
		e = ksched__master_obs_new(m);
	if (!e)
		e = ksched__master_net_open(m, err, errlen);
	if (!e)
		e = ksched__master_http_open(m, err, errlen);
	if (e) {
		ksched_master_free(m);
		return e;
	}
	KLOG(KSCHED_LOG_NOTICE,
	     "msg=\"master ready\" data=%s control=%s dispatch=%s "
	     "heartbeat=%s policy=%s http=%s",
	     m->cfg.data_dir, m->cfg.control_url, m->cfg.dispatch_url,
	     m->cfg.heartbeat_url, ksched_policy_name(m->policy),
	     m->http_bound[0] ? m->http_bound : "none");
	*out = m;
	return KSCHED_OK;
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	ksched_master_stop(arg);
}

ksched_err
ksched_master_run(ksched_master *m, bool handle_signals)
{
	if (handle_signals) {
		m->sigterm = evsignal_new(m->base, SIGTERM, signal_cb, m);
		m->sigint = evsignal_new(m->base, SIGINT, signal_cb, m);
		if (!m->sigterm || !m->sigint)
			return KSCHED_ENOMEM;
		evsignal_add(m->sigterm, NULL);
		evsignal_add(m->sigint, NULL);
	}
	if (event_base_dispatch(m->base) < 0)
		return KSCHED_EIO;
	/* Finish: what arrived meanwhile is handled and committed. */
	ksched__master_turn(m);
	return m->run_err;
}

const char *
ksched_master_http_addr(const ksched_master *m)
{
	return m->http_bound;
}

void
ksched_master_stop(ksched_master *m)
{
	event_active(m->stop_ev, 0, 0);
}

void
ksched_master_free(ksched_master *m)
{
	if (!m)
		return;
	ksched__master_drop_parked(m);
	if (m->ctxs)
		ksched__master_net_close(m);
	ksched_sched_free(m->s);
	ksched_policy_free(m->policy);
	ksched_cache_close(m->c);
	ksched_queue_close(m->q);
	ksched_store_close(m->store);
	if (m->abandoned)
		return; /* nng callbacks may still reach m: leave it */
	ksched__master_http_close(m);
	ksched__master_obs_free(m);
	if (m->sigterm)
		event_free(m->sigterm);
	if (m->sigint)
		event_free(m->sigint);
	if (m->wake)
		event_free(m->wake);
	if (m->stop_ev)
		event_free(m->stop_ev);
	if (m->hb_timer)
		event_free(m->hb_timer);
	if (m->housekeeping)
		event_free(m->housekeeping);
	if (m->death_timer)
		event_free(m->death_timer);
	if (m->base)
		event_base_free(m->base);
	for (int i = 0; i < 6; i++)
		ksched__free(m->strs[i]);
	ksched__free(m->sessions);
	pthread_mutex_destroy(&m->lock);
	ksched__free(m);
}
