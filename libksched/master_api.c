/*
 * libksched - the master's JSON API (docs/http-api.md): /api/v1/stats,
 * /workers, /tasks (paged by an opaque cursor), /tasks/ID (with its
 * attempts and, when ready but not placed, why, per worker), /history.
 * Runs on the loop thread between turns (master_http.c), so it reads the
 * core, the queue and the worker table directly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "alloc.h"
#include "http_util.h"
#include "master_int.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define WHY_MAX 64 /* workers listed in a pending explanation */

static json_t *
jint(int64_t v)
{
	return json_integer((json_int_t)v);
}

/* Send o (a new reference, dropped here) with status 200. */
static void
reply(struct evhttp_request *req, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!s) {
		ksched__http_error(req, 500, "out of memory");
		return;
	}
	ksched__http_json(req, 200, s);
}

/* ---- stats ------------------------------------------------------------------ */

static json_t *
resources_json(const struct ksched_resources *r, bool slots)
{
	json_t *o = json_object();

	json_object_set_new(o, "cpu_milli", jint(r->cpu_milli));
	json_object_set_new(o, "mem_mb", jint(r->mem_mb));
	json_object_set_new(o, "gpus", jint(r->gpus));
	if (slots)
		json_object_set_new(o, "slots", jint(r->slots));
	return o;
}

static json_t *
pair(int64_t allocated, int64_t total)
{
	json_t *o = json_object();

	json_object_set_new(o, "allocated", jint(allocated));
	json_object_set_new(o, "total", jint(total));
	return o;
}

static void
api_stats(struct ksched_master *m, struct evhttp_request *req)
{
	ksched_members *mem = ksched_sched_members(m->s);
	struct ksched_resources al = {0, 0, 0, 0}, tot = {0, 0, 0, 0};
	struct ksched_worker_status st;
	struct ksched_sched_stats ss;
	struct ksched_cache_stats cs;
	uint64_t c[KSCHED_STATE_COUNT], per[4] = {0};
	int64_t now = ksched_now_ms();
	json_t *o = json_object(), *t = json_object(), *w = json_object(),
	       *k = json_object(), *r = json_object();

	ksched_queue_counts(m->q, c);
	ksched_sched_stats(m->s, &ss);
	ksched_cache_stats(m->c, &cs);
	for (uint32_t i = 0; i < ksched_members_capacity(mem); i++) {
		if (ksched_members_status(mem, i, &st))
			continue;
		if ((unsigned)st.state < 4)
			per[st.state]++;
		al.cpu_milli += st.allocated.cpu_milli;
		al.mem_mb += st.allocated.mem_mb;
		al.gpus += st.allocated.gpus;
		tot.cpu_milli += st.capacity.cpu_milli;
		tot.mem_mb += st.capacity.mem_mb;
		tot.gpus += st.capacity.gpus;
	}
	for (int s = 0; s < KSCHED_STATE_COUNT; s++)
		json_object_set_new(t, ksched_state_name((enum ksched_state)s),
				    jint((int64_t)c[s]));
	for (int s = 0; s < 4; s++)
		json_object_set_new(
			w,
			ksched_worker_state_name((enum ksched_worker_state)s),
			jint((int64_t)per[s]));
	json_object_set_new(k, "submitted", jint((int64_t)ss.submitted));
	json_object_set_new(k, "completed", jint((int64_t)ss.completed));
	json_object_set_new(k, "failed", jint((int64_t)ss.failed));
	json_object_set_new(k, "retried", jint((int64_t)ss.retried));
	json_object_set_new(k, "dead", jint((int64_t)ss.dead));
	json_object_set_new(k, "canceled", jint((int64_t)ss.canceled));
	json_object_set_new(k, "cache_hits", jint((int64_t)cs.hits));
	json_object_set_new(k, "cache_misses", jint((int64_t)cs.misses));
	json_object_set_new(k, "reassigned", jint((int64_t)ss.reassigned));
	json_object_set_new(k, "bad_messages", jint((int64_t)m->bad_messages));
	json_object_set_new(r, "cpu_milli", pair(al.cpu_milli, tot.cpu_milli));
	json_object_set_new(r, "mem_mb", pair(al.mem_mb, tot.mem_mb));
	json_object_set_new(r, "gpus", pair(al.gpus, tot.gpus));
	json_object_set_new(o, "now_ms", jint(now));
	json_object_set_new(o, "uptime_ms", jint(now - m->started));
	json_object_set_new(o, "tasks", t);
	json_object_set_new(o, "workers", w);
	json_object_set_new(o, "counters", k);
	json_object_set_new(o, "resources", r);
	json_object_set_new(o, "policy",
			    ksched__json_str(ksched_policy_name(m->policy)));
	reply(req, o);
}

/* ---- workers ---------------------------------------------------------------- */

static void
api_workers(struct ksched_master *m, struct evhttp_request *req)
{
	ksched_members *mem = ksched_sched_members(m->s);
	struct ksched_worker_status st;
	json_t *o = json_object(), *a = json_array();

	for (uint32_t i = 0; i < ksched_members_capacity(mem); i++) {
		const char *const *k, *const *v;
		size_t nl;
		json_t *w, *l;
		if (ksched_members_status(mem, i, &st))
			continue;
		w = json_object();
		l = json_object();
		nl = ksched_members_labels(mem, i, &k, &v);
		for (size_t j = 0; j < nl; j++)
			json_object_set_new(l, k[j], ksched__json_str(v[j]));
		json_object_set_new(w, "index", jint(i));
		json_object_set_new(w, "id", ksched__json_str(st.id));
		json_object_set_new(w, "state", ksched__json_str(
				    ksched_worker_state_name(st.state)));
		json_object_set_new(w, "capacity",
				    resources_json(&st.capacity, true));
		json_object_set_new(w, "allocated",
				    resources_json(&st.allocated, true));
		json_object_set_new(w, "running", jint(st.running));
		json_object_set_new(w, "load", json_real(st.load));
		json_object_set_new(w, "labels", l);
		json_object_set_new(w, "last_seen_ms", jint(st.last_seen));
		json_object_set_new(w, "completed", jint((int64_t)st.completed));
		json_object_set_new(w, "failed", jint((int64_t)st.failed));
		json_array_append_new(a, w);
	}
	json_object_set_new(o, "workers", a);
	reply(req, o);
}

/* ---- tasks ------------------------------------------------------------------ */

static json_t *
str_or_null(const char *s)
{
	return s && *s ? ksched__json_str(s) : json_null();
}

static const char *
outcome_name(const struct master_attempt *a,
	     const struct ksched_task_info *info, bool last)
{
	static const char *names[] = {"running", "ok",	 "failed",
				      "expired", "lost", "released"};

	if (a->outcome != MO_RUNNING)
		return names[a->outcome];
	/* Still marked running, but the task moved on: the lease ran out
	 * (the core says so in the error) or the attempt was lost. */
	if (last && info->state == KSCHED_STATE_LEASED &&
	    info->attempts == a->attempt)
		return "running";
	if (info->state == KSCHED_STATE_CANCELED && last)
		return "canceled";
	if (last && !strcmp(info->last_error, "lease expired"))
		return "expired";
	return "lost";
}

/* The JSON of task id: the list's fields, and with detail its attempts
 * and why it waits. */
static ksched_err
task_json(struct ksched_master *m, uint64_t id, bool detail, json_t **out)
{
	struct ksched_task_info info;
	struct ksched_worker_status ws;
	const struct master_attempt *at;
	ksched_task *spec = NULL;
	int64_t w, sub, start = -1;
	size_t na;
	json_t *o;
	ksched_err e = ksched_queue_get(m->q, id, &info, &spec);

	if (e)
		return e;
	na = ksched__master_attempts(m, id, &at);
	o = json_object();
	json_object_set_new(o, "id", jint((int64_t)id));
	json_object_set_new(o, "state", ksched__json_str(ksched_state_name(info.state)));
	json_object_set_new(o, "kind", ksched__json_str(ksched_task_kind(spec)));
	json_object_set_new(o, "priority", jint(info.priority));
	json_object_set_new(o, "user", ksched__json_str(ksched_task_user(spec)));
	json_object_set_new(o, "attempts", jint(info.attempts));
	json_object_set_new(o, "submitted_ms", jint(info.submitted));
	ksched_task_free(spec);
	if (!ksched_sched_task_times(m->s, id, &sub, &start) && na)
		start = at[na - 1].started;
	json_object_set_new(o, "started_ms",
			    start >= 0 ? jint(start) : json_null());
	json_object_set_new(o, "ended_ms", ksched_state_is_final(info.state)
						   ? jint(info.due)
						   : json_null());
	/* Its worker: the one running it, else the last one that did. */
	w = ksched_sched_worker_of(m->s, id);
	if (w >= 0 && !ksched_members_status(ksched_sched_members(m->s),
					     (uint32_t)w, &ws))
		json_object_set_new(o, "worker", ksched__json_str(ws.id));
	else
		json_object_set_new(o, "worker",
				    str_or_null(na ? at[na - 1].worker : NULL));
	json_object_set_new(o, "error", str_or_null(info.last_error));
	json_object_set_new(o, "cached",
			    json_boolean(info.flags & KSCHED_TASK_CACHED));
	if (detail) {
		json_t *log = json_array();
		for (size_t i = 0; i < na; i++) {
			json_t *a = json_object();
			json_object_set_new(a, "attempt", jint(at[i].attempt));
			json_object_set_new(a, "worker",
					    ksched__json_str(at[i].worker));
			json_object_set_new(a, "started_ms",
					    jint(at[i].started));
			json_object_set_new(a, "ended_ms",
					    at[i].ended ? jint(at[i].ended)
							: json_null());
			json_object_set_new(
				a, "outcome",
				ksched__json_str(outcome_name(&at[i], &info,
							 i + 1 == na)));
			json_object_set_new(a, "error",
					    str_or_null(at[i].error));
			json_array_append_new(log, a);
		}
		json_object_set_new(o, "attempt_log", log);
	}
	*out = o;
	return KSCHED_OK;
}

/* "pending": why ready task id is not placed, per worker. */
static json_t *
pending_json(struct ksched_master *m, uint64_t id)
{
	struct ksched_pending_why *why = ksched__calloc(WHY_MAX, sizeof(*why));
	char reason[256];
	size_t n = 0, total = 0;
	json_t *o, *a;

	if (!why)
		return json_null();
	if (ksched_sched_explain(m->s, id, reason, sizeof(reason), why,
				 WHY_MAX, &n, &total)) {
		snprintf(reason, sizeof(reason),
			 "not looked at by a dispatch yet");
		n = total = 0;
	} else if (!reason[0]) {
		snprintf(reason, sizeof(reason), "no worker asked for work");
	}
	o = json_object();
	a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *w = json_object();
		json_object_set_new(w, "worker", ksched__json_str(why[i].worker));
		json_object_set_new(w, "why", ksched__json_str(why[i].why));
		json_array_append_new(a, w);
	}
	json_object_set_new(o, "reason", ksched__json_str(reason));
	json_object_set_new(o, "workers", a);
	json_object_set_new(o, "workers_total", jint((int64_t)total));
	ksched__free(why);
	return o;
}

/* A decimal id with nothing else; -1 if it is not one. */
static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static void
api_task(struct ksched_master *m, struct evhttp_request *req, const char *sid)
{
	struct ksched_task_info info;
	uint64_t id;
	json_t *o;
	ksched_err e;

	if (parse_u64(sid, &id) || id == 0) {
		ksched__http_error(req, 400, "task id must be a number, got '%s'",
				   sid);
		return;
	}
	e = task_json(m, id, true, &o);
	if (e == KSCHED_ENOENT) {
		ksched__http_error(req, 404, "no task %llu",
				   (unsigned long long)id);
		return;
	}
	if (e) {
		ksched__http_error(req, 500, "task %llu: %s",
				   (unsigned long long)id, ksched_strerror(e));
		return;
	}
	json_object_set_new(o, "pending",
			    !ksched_queue_get(m->q, id, &info, NULL) &&
					    info.state == KSCHED_STATE_READY
				    ? pending_json(m, id)
				    : json_null());
	reply(req, o);
}

/*
 * The list's query: state, limit, order and cursor.  A cursor is opaque to
 * users and says which listing it continues: "S.ID" ascending, in state S
 * after ID; "dS.ID" descending, in state S below ID; "d.ID" descending over
 * every state, below ID.  -1 with a message for a bad query.
 */
struct list_q {
	int state; /* -1 = every state */
	size_t limit;
	bool desc;
	bool cursor; /* one was given */
	bool cdesc;  /* it continues a descending listing */
	int cstate;  /* its state, -1 for "d.ID" */
	uint64_t cid;
};

static int
parse_cursor(const char *v, struct list_q *q)
{
	const char *p = v;

	q->cdesc = *p == 'd';
	if (q->cdesc)
		p++;
	if (*p >= '0' && *p < '0' + KSCHED_STATE_COUNT)
		q->cstate = *p++ - '0';
	else if (!q->cdesc)
		return -1;
	/* The queue lists from the id after this one: the last id has none. */
	if (*p != '.' || parse_u64(p + 1, &q->cid) || q->cid == UINT64_MAX)
		return -1;
	/* A descending cursor is the last id given, never 0. */
	if (q->cdesc && q->cid == 0)
		return -1;
	q->cursor = true;
	return 0;
}

/* After the whole query is read: does the cursor fit the listing? */
static int
check_cursor(const struct list_q *q, char *msg, size_t len)
{
	if (!q->cursor)
		return 0;
	if (q->cdesc != q->desc) {
		snprintf(msg, len,
			 "cursor: continues a listing in the other order "
			 "(order=%s)",
			 q->cdesc ? "desc" : "asc");
		return -1;
	}
	if (q->state >= 0 ? q->cstate != q->state : q->desc && q->cstate >= 0) {
		snprintf(msg, len, "cursor: belongs to another state filter");
		return -1;
	}
	return 0;
}

static int
parse_list_q(const char *query, struct list_q *q, char *msg, size_t len)
{
	struct evkeyvalq kv;
	struct evkeyval *p;
	int rc = 0;

	memset(q, 0, sizeof(*q));
	q->state = q->cstate = -1;
	q->limit = LIST_DEFAULT;
	/*
	 * A %00 decodes to the end of the value: "state=%00" would read as
	 * no filter.  No parameter takes a NUL, so refuse the query.
	 */
	if (query && strstr(query, "%00")) {
		snprintf(msg, len, "query: a NUL byte (%%00) in a value");
		return -1;
	}
	/* evhttp_parse_query_str() makes kv; an empty one when no query. */
	if (evhttp_parse_query_str(query ? query : "", &kv) != 0) {
		evhttp_clear_headers(&kv);
		snprintf(msg, len, "malformed query string");
		return -1;
	}
	for (p = kv.tqh_first; p; p = p->next.tqe_next) {
		enum ksched_state st;
		uint64_t n;
		if (!strcmp(p->key, "state")) {
			if (!*p->value)
				continue;
			if (ksched_state_parse(p->value, &st)) {
				snprintf(msg, len,
					 "state: unknown '%.40s' (pending, "
					 "ready, leased, succeeded, dead, "
					 "canceled)",
					 p->value);
				rc = -1;
			}
			q->state = (int)st;
		} else if (!strcmp(p->key, "limit")) {
			if (parse_u64(p->value, &n) || n < 1 || n > LIST_MAX) {
				snprintf(msg, len,
					 "limit: a number from 1 to %d (got "
					 "'%.40s')",
					 LIST_MAX, p->value);
				rc = -1;
			}
			q->limit = (size_t)n;
		} else if (!strcmp(p->key, "order")) {
			q->desc = !strcmp(p->value, "desc");
			if (!q->desc && *p->value && strcmp(p->value, "asc")) {
				snprintf(msg, len,
					 "order: asc or desc (got '%.40s')",
					 p->value);
				rc = -1;
			}
		} else if (!strcmp(p->key, "cursor")) {
			if (!*p->value)
				continue;
			if (parse_cursor(p->value, q)) {
				snprintf(msg, len,
					 "cursor: not one this server gave "
					 "(got '%.40s')",
					 p->value);
				rc = -1;
			}
		} else {
			snprintf(msg, len,
				 "unknown parameter '%.40s' (state, limit, "
				 "order, cursor)",
				 p->key);
			rc = -1;
		}
		if (rc)
			break;
	}
	evhttp_clear_headers(&kv);
	return rc ? rc : check_cursor(q, msg, len);
}

/* Ascending: one state after another (every state, or the one asked),
 * each in id order, from where the cursor left off. */
static ksched_err
list_asc(struct ksched_master *m, const struct list_q *q, uint64_t *ids,
	 size_t *got, char *cur, size_t curlen)
{
	uint64_t next = 0;
	ksched_err e = KSCHED_OK;
	int s = q->cursor ? q->cstate : q->state >= 0 ? q->state : 0;

	for (; s < KSCHED_STATE_COUNT && *got < q->limit && !e; s++) {
		uint64_t from = q->cursor && s == q->cstate ? q->cid : 0;
		size_t n = 0;
		e = ksched_queue_list(m->q, (enum ksched_state)s, from,
				      q->limit - *got, ids + *got, &n, &next);
		*got += n;
		if (next)
			snprintf(cur, curlen, "%d.%llu", s,
				 (unsigned long long)next);
		else if (*got == q->limit && q->state < 0 &&
			 s + 1 < KSCHED_STATE_COUNT)
			snprintf(cur, curlen, "%d.0", s + 1);
		if (next || q->state >= 0)
			break;
	}
	return e;
}

static int
id_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * Descending over every state: ids are global and grow with submission, so
 * the newest limit tasks below the cursor are among the newest limit of
 * each state.  Take those (the loop thread is the only writer, so no task
 * moves between the reads), sort and keep limit.  There is more when a state
 * had more or some were not kept; the cursor is then the last id kept, and
 * a task that changes state between pages is still listed once.
 */
static ksched_err
list_desc_all(struct ksched_master *m, const struct list_q *q, uint64_t *ids,
	      size_t *got, char *cur, size_t curlen)
{
	uint64_t *all, next, from = q->cursor ? q->cid : 0;
	size_t total = 0, n;
	bool more = false;
	ksched_err e = KSCHED_OK;

	all = ksched__calloc((size_t)KSCHED_STATE_COUNT * q->limit,
			     sizeof(*all));
	if (!all)
		return KSCHED_ENOMEM;
	for (int s = 0; s < KSCHED_STATE_COUNT && !e; s++) {
		e = ksched_queue_list_desc(m->q, (enum ksched_state)s, from,
					   q->limit, all + total, &n, &next);
		total += n;
		more |= next != 0;
	}
	if (!e) {
		qsort(all, total, sizeof(*all), id_desc);
		*got = total < q->limit ? total : q->limit;
		memcpy(ids, all, *got * sizeof(*ids));
		if (more || total > *got)
			snprintf(cur, curlen, "d.%llu",
				 (unsigned long long)ids[*got - 1]);
	}
	ksched__free(all);
	return e;
}

static ksched_err
list_desc(struct ksched_master *m, const struct list_q *q, uint64_t *ids,
	  size_t *got, char *cur, size_t curlen)
{
	uint64_t next = 0;
	ksched_err e;

	if (q->state < 0)
		return list_desc_all(m, q, ids, got, cur, curlen);
	e = ksched_queue_list_desc(m->q, (enum ksched_state)q->state,
				   q->cursor ? q->cid : 0, q->limit, ids, got,
				   &next);
	if (!e && next)
		snprintf(cur, curlen, "d%d.%llu", q->state,
			 (unsigned long long)next);
	return e;
}

static void
api_tasks(struct ksched_master *m, struct evhttp_request *req,
	  const char *query)
{
	struct list_q q;
	char msg[160], cur[48] = "";
	uint64_t *ids;
	size_t got = 0;
	json_t *o, *a;
	ksched_err e;

	if (parse_list_q(query, &q, msg, sizeof(msg))) {
		ksched__http_error(req, 400, "%s", msg);
		return;
	}
	ids = ksched__calloc(q.limit, sizeof(*ids));
	if (!ids) {
		ksched__http_error(req, 500, "out of memory");
		return;
	}
	e = q.desc ? list_desc(m, &q, ids, &got, cur, sizeof(cur))
		   : list_asc(m, &q, ids, &got, cur, sizeof(cur));
	if (e) {
		ksched__free(ids);
		ksched__http_error(req, 500, "list: %s", ksched_strerror(e));
		return;
	}
	o = json_object();
	a = json_array();
	for (size_t i = 0; i < got; i++) {
		json_t *t;
		if (task_json(m, ids[i], false, &t) == KSCHED_OK)
			json_array_append_new(a, t);
	}
	ksched__free(ids);
	json_object_set_new(o, "tasks", a);
	json_object_set_new(o, "next_cursor", str_or_null(cur));
	reply(req, o);
}

/* ---- history ---------------------------------------------------------------- */

static void
api_history(struct ksched_master *m, struct evhttp_request *req)
{
	struct master_sample *s = ksched__calloc(MASTER_HISTORY_N, sizeof(*s));
	size_t n;
	json_t *o, *a;

	if (!s) {
		ksched__http_error(req, 500, "out of memory");
		return;
	}
	n = ksched__master_history(m, s, MASTER_HISTORY_N);
	o = json_object();
	a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_object();
		json_object_set_new(x, "t_ms", jint(s[i].t_ms));
		json_object_set_new(x, "ready", jint((int64_t)s[i].ready));
		json_object_set_new(x, "leased", jint((int64_t)s[i].leased));
		json_object_set_new(x, "pending", jint((int64_t)s[i].pending));
		json_object_set_new(x, "completed",
				    jint((int64_t)s[i].completed));
		json_object_set_new(x, "failed", jint((int64_t)s[i].failed));
		json_array_append_new(a, x);
	}
	ksched__free(s);
	json_object_set_new(o, "interval_ms", jint(MASTER_HISTORY_MS));
	json_object_set_new(o, "samples", a);
	reply(req, o);
}

/* ---- routes ------------------------------------------------------------------ */

/* Only /tasks takes parameters; elsewhere a query is a mistake. */
static bool
no_query(struct evhttp_request *req, const char *query)
{
	if (query && *query) {
		ksched__http_error(req, 400, "this path takes no parameters");
		return false;
	}
	return true;
}

void
ksched__master_api(struct ksched_master *m, struct evhttp_request *req,
		   const char *path, const char *query)
{
	if (!strcmp(path, "/tasks") || !strcmp(path, "/tasks/"))
		api_tasks(m, req, query);
	else if (!strncmp(path, "/tasks/", 7) && no_query(req, query))
		api_task(m, req, path + 7);
	else if (!strcmp(path, "/stats") && no_query(req, query))
		api_stats(m, req);
	else if (!strcmp(path, "/workers") && no_query(req, query))
		api_workers(m, req);
	else if (!strcmp(path, "/history") && no_query(req, query))
		api_history(m, req);
	else if (strncmp(path, "/tasks/", 7) && strcmp(path, "/stats") &&
		 strcmp(path, "/workers") && strcmp(path, "/history"))
		ksched__http_error(req, 404, "no such path: /api/v1%s", path);
}
