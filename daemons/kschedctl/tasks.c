/* kschedctl - status, result, wait, cancel, retry, drain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "ctl.h"

/* ---- waiting and results ------------------------------------------------ */

/*
 * Wait for ids (or all) for up to timeout_ms (< 0: no limit), in steps
 * short enough to keep a progress line moving.  *remaining: not final.
 * With all, the total is the most tasks seen not final at once.
 */
ksched_err
wait_loop(struct ctl *k, const uint64_t *ids, size_t n, bool all,
	  int64_t timeout_ms, uint64_t *remaining)
{
	int64_t end = ksched_now_ms() + timeout_ms, step = k->tty ? 500 : 5000;
	uint64_t total = n;
	struct progress p;
	ksched_err e;

	progress_start(&p, k, "done", n, false);
	for (;;) {
		int64_t left =
		    timeout_ms < 0 ? INT64_MAX : end - ksched_now_ms();

		left = left < 0 ? 0 : left;
		e = ksched_client_wait(k->c, ids, n, all,
				       left < step ? left : step, remaining);
		if (e || !*remaining || left <= step)
			break;
		total = *remaining > total ? *remaining : total;
		progress_update(&p, total - *remaining, total);
	}
	if (!e)
		p.done = total - (*remaining < total ? *remaining : total);
	progress_end(&p);
	return e;
}

/* Print the states of ids after a wait; 1 if any failed or is not final. */
static int
report_states(struct ctl *k, const uint64_t *ids, size_t n, uint64_t remaining)
{
	struct ksched_task_status *st = ksched__calloc(n + 1, sizeof(*st));
	size_t ok = 0, bad = 0;
	ksched_err e =
	    st ? ksched_client_status(k->c, ids, n, st) : KSCHED_ENOMEM;
	int rc;

	for (size_t i = 0; !e && i < n; i++) {
		ok += st[i].state == KSCHED_STATE_SUCCEEDED;
		bad += is_failed(st[i].state);
		if (is_failed(st[i].state) && !k->json)
			ctl_warn(k, "task %llu %s: %s",
				 (unsigned long long)st[i].id,
				 ksched_state_name(st[i].state),
				 st[i].last_error[0] ? st[i].last_error : "-");
	}
	if (e)
		rc = ctl_fail(k, e);
	else if (k->json)
		rc = emit_json(json_pack(
		    "{s:I,s:I,s:I,s:o}", "remaining", (json_int_t)remaining,
		    "succeeded", (json_int_t)ok, "failed", (json_int_t)bad,
		    "tasks", statuses_json(st, n)));
	else
		rc = printf("%zu succeeded, %zu failed, %llu not finished\n",
			    ok, bad, (unsigned long long)remaining) < 0;
	ksched__free(st);
	return rc ? rc : bad || remaining ? EX_FAIL : EX_OK;
}

/* One task's result: raw to stdout, or appended to the JSON array a. */
static int
print_result(struct ctl *k, uint64_t id, json_t *a)
{
	struct ksched_task_status st;
	void *buf;
	size_t len;
	ksched_err e = ksched_client_result(k->c, id, &st, &buf, &len);
	json_t *o, *r;

	if (e)
		return ctl_fail(k, e);
	if (a) {
		o = status_json(&st);
		r = buf ? json_stringn(buf, len) : NULL;
		if (buf) /* not UTF-8: only its size */
			json_object_set_new(o, r ? "result" : "result_bytes",
					    r ? r
					      : json_integer((json_int_t)len));
		json_array_append_new(a, o);
	} else if (buf) {
		fwrite(buf, 1, len, stdout);
	} else if (st.state != KSCHED_STATE_SUCCEEDED) {
		ctl_warn(k, "task %llu %s: %s", (unsigned long long)id,
			 ksched_state_name(st.state),
			 is_failed(st.state) ? st.last_error : "no result yet");
	}
	ksched_free(buf);
	return st.state == KSCHED_STATE_SUCCEEDED ? EX_OK : EX_FAIL;
}

/* The results of ids; with --json one array (one object if single). */
int
print_results(struct ctl *k, const uint64_t *ids, size_t n, bool single)
{
	json_t *a = k->json ? json_array() : NULL;
	int rc = EX_OK, r;

	for (size_t i = 0; i < n && rc <= EX_FAIL; i++)
		if ((r = print_result(k, ids[i], a)))
			rc = r;
	if (a && json_array_size(a) == n &&
	    emit_json(json_incref(single ? json_array_get(a, 0) : a)))
		rc = EX_FAIL;
	json_decref(a);
	return rc;
}

/* ---- status, result, wait, cancel --------------------------------------- */

int
cmd_status(struct ctl *k, int argc, char **argv)
{
	struct ksched_task_status *st = NULL;
	uint64_t *ids;
	size_t n;
	int rc = ids_args(k, argc, argv, 1, INT32_MAX, &ids, &n);
	ksched_err e;
	json_t *a;

	if (!rc && !(st = ksched__calloc(n, sizeof(*st))))
		rc = ctl_fail(k, KSCHED_ENOMEM);
	if (!rc && (e = ksched_client_status(k->c, ids, n, st)))
		rc = ctl_fail(k, e);
	if (!rc) {
		a = statuses_json(st, n);
		rc = emit(k, a, a, status_cols);
	}
	if (!rc && !k->json)
		print_reasons(st, n);
	ksched__free(st);
	ksched__free(ids);
	return rc;
}

int
cmd_result(struct ctl *k, int argc, char **argv)
{
	uint64_t *ids;
	size_t n;
	int rc = ids_args(k, argc, argv, 1, 1, &ids, &n);

	rc = rc ? rc : print_results(k, ids, 1, true);
	ksched__free(ids);
	return rc;
}

int
cmd_wait(struct ctl *k, int argc, char **argv)
{
	uint64_t *ids = NULL, remaining = 0;
	size_t n = 0;
	int rc = k->all == (argc > 0) ? ctl_usage(k, "give task ids or --all")
		 : k->all	      ? connect_master(k)
			  : ids_args(k, argc, argv, 1, INT32_MAX, &ids, &n);
	ksched_err e;

	if (!rc && (e = wait_loop(k, ids, n, k->all, k->wait_ms, &remaining)))
		rc = ctl_fail(k, e);
	if (!rc && remaining)
		ctl_warn(k, "timed out: %llu tasks not final",
			 (unsigned long long)remaining);
	if (!rc && !k->all)
		rc = report_states(k, ids, n, remaining);
	else if (!rc && k->json)
		rc = emit_json(
		    json_pack("{s:I}", "remaining", (json_int_t)remaining));
	ksched__free(ids);
	return rc ? rc : remaining ? EX_FAIL : EX_OK;
}

#define NOT_ANSWERED ((ksched_err)-1)

/*
 * Cancel or retry ids, a request of KSCHED_CLIENT_CHUNK ids at a time (a
 * long operation past one).  Stops at a request nothing answered: *lost
 * gets that call's error, and the ids from there on stay NOT_ANSWERED.
 * Returns the first id's error.
 */
static ksched_err
ids_send(struct ctl *k, const uint64_t *ids, size_t n, ksched_err *errs,
	 bool retry, ksched_err *lost)
{
	ksched_err e = KSCHED_OK, r;
	struct progress p;
	size_t m;

	*lost = KSCHED_OK;
	progress_start(&p, k, "done", n, n > KSCHED_CLIENT_CHUNK);
	for (size_t off = 0; off < n; off += m) {
		m = n - off < KSCHED_CLIENT_CHUNK ? n - off
						  : KSCHED_CLIENT_CHUNK;
		r = retry
			? ksched_client_retry(k->c, ids + off, m, errs + off)
			: ksched_client_cancel(k->c, ids + off, m, errs + off);
		if (errs[off + m - 1] == NOT_ANSWERED) { /* the call failed */
			*lost = r;
			break;
		}
		e = e ? e : r;
		progress_update(&p, off + m, 0);
	}
	progress_end(&p);
	return e;
}

/* cancel and retry: ids in, a verdict per id out. */
static int
ids_cmd(struct ctl *k, int argc, char **argv, bool retry)
{
	ksched_err *errs = NULL, e = KSCHED_OK, lost = KSCHED_OK;
	uint64_t *ids;
	size_t n;
	int rc = ids_args(k, argc, argv, 1, INT32_MAX, &ids, &n);
	json_t *a = json_array();

	if (!rc && !(errs = ksched__calloc(n, sizeof(*errs))))
		rc = ctl_fail(k, KSCHED_ENOMEM);
	for (size_t i = 0; !rc && i < n; i++)
		errs[i] = NOT_ANSWERED;
	if (!rc)
		e = ids_send(k, ids, n, errs, retry, &lost);
	for (size_t i = 0; !rc && i < n && errs[i] != NOT_ANSWERED; i++) {
		const char *done = retry ? "retried" : "canceled";
		const char *why = errs[i] == KSCHED_ESTATE
				      ? (retry ? "not dead" : "already ended")
				  : errs[i] ? ksched_strerror(errs[i])
					    : "";

		json_array_append_new(a, json_pack("{s:I,s:b,s:s}", "id",
						   (json_int_t)ids[i], done,
						   !errs[i], "error", why));
		if (errs[i] && !k->json)
			ctl_warn(k, "task %llu: %s", (unsigned long long)ids[i],
				 why);
		else if (!k->json)
			printf("%llu %s\n", (unsigned long long)ids[i], done);
	}
	if (!rc && lost)
		rc = ctl_fail(k, lost);
	if (!rc && k->json)
		rc = emit_json(json_incref(a));
	json_decref(a);
	rc = rc ? rc : e ? EX_FAIL : EX_OK;
	ksched__free(errs);
	ksched__free(ids);
	return rc;
}

int
cmd_cancel(struct ctl *k, int argc, char **argv)
{
	return ids_cmd(k, argc, argv, false);
}

int
cmd_retry(struct ctl *k, int argc, char **argv)
{
	return ids_cmd(k, argc, argv, true);
}

int
cmd_drain(struct ctl *k, int argc, char **argv)
{
	uint32_t running = 0;
	ksched_err e;
	int rc;

	if (argc != 1)
		return ctl_usage(k,
				 argc ? "unexpected argument '%s'"
				      : "missing worker id%s",
				 argc ? argv[1] : "");
	rc = connect_master(k);
	if (rc)
		return rc;
	e = ksched_client_drain(k->c, argv[0], &running);
	if (e)
		return ctl_fail(k, e);
	if (k->json)
		return emit_json(json_pack("{s:s,s:b,s:I}", "worker", argv[0],
					   "draining", 1, "running",
					   (json_int_t)running));
	printf("%s draining, %u task%s still running\n", argv[0], running,
	       running == 1 ? "" : "s");
	return EX_OK;
}
