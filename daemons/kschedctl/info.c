/* kschedctl - list, workers, stats, cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "ctl.h"

/* ---- list, workers, stats, cache ---------------------------------------- */

int
cmd_list(struct ctl *k, int argc, char **argv)
{
	bool any = k->state == KSCHED_STATE_COUNT; /* each state not final */
	struct ksched_task_status *out = NULL;
	size_t total = 0, n;
	uint64_t next = 0;
	int rc =
	    argc ? ctl_usage(k, "unexpected argument '%s'", argv[0]) : EX_OK;
	ksched_err e = KSCHED_OK;
	json_t *a;

	if (!rc && any && k->cursor)
		rc = ctl_usage(k, "--cursor needs --state");
	if (!rc && !(out = ksched__calloc((size_t)k->limit * 3, sizeof(*out))))
		rc = ctl_fail(k, KSCHED_ENOMEM);
	if (!rc)
		rc = connect_master(k);
	for (int s = 0; !rc && !e && s <= (any ? KSCHED_STATE_LEASED : 0);
	     s++) {
		e = ksched_client_list(k->c,
				       any ? (enum ksched_state)s : k->state,
				       (uint64_t)k->cursor, (size_t)k->limit,
				       out + total, &n, &next);
		total += n;
	}
	if (!rc && e)
		rc = ctl_fail(k, e);
	if (!rc && next && !any && !k->json)
		fprintf(stderr,
			"more: kschedctl list --state %s --cursor %llu\n",
			ksched_state_name(k->state), (unsigned long long)next);
	if (!rc) {
		a = statuses_json(out, total);
		rc = emit(k,
			  json_pack("{s:O,s:I}", "tasks", a, "next",
				    (json_int_t)(any ? 0 : next)),
			  a, status_cols);
		json_decref(a);
	}
	ksched__free(out);
	return rc;
}

/* clang-format off */
static const struct col worker_cols[] = {
	{"ID", "id", 0}, {"STATE", "state", 0}, {"RUN", "running/slots", 0},
	{"CPU", "cpu_used/cpu", 0}, {"MEM", "mem_used/mem", 0},
	{"GPUS", "gpus_used/gpus", 0}, {"LOAD", "load", 0},
	{"SEEN", "last_seen", 'a'}, {"DONE", "completed", 0},
	{"FAILED", "failed", 0}, {NULL, NULL, 0}};
/* clang-format on */

static json_t *
worker_json(const struct ksched_worker_status *w)
{
	const struct ksched_resources *c = &w->capacity, *u = &w->allocated;

	return json_pack(
	    "{s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,"
	    "s:I,s:I,s:I}",
	    "id", w->id, "state", ksched_worker_state_name(w->state), "running",
	    (int)w->running, "slots", (json_int_t)c->slots, "slots_used",
	    (json_int_t)u->slots, "cpu", (json_int_t)c->cpu_milli, "cpu_used",
	    (json_int_t)u->cpu_milli, "mem", (json_int_t)c->mem_mb, "mem_used",
	    (json_int_t)u->mem_mb, "gpus", (json_int_t)c->gpus, "gpus_used",
	    (json_int_t)u->gpus, "load", w->load, "last_seen",
	    (json_int_t)w->last_seen, "completed", (json_int_t)w->completed,
	    "failed", (json_int_t)w->failed);
}

int
cmd_workers(struct ctl *k, int argc, char **argv)
{
	struct ksched_worker_status *w = NULL;
	size_t n;
	int rc = no_args(k, argc, argv);
	ksched_err e;
	json_t *a = json_array();

	if (!rc && (e = ksched_client_workers(k->c, &w, &n)))
		rc = ctl_fail(k, e);
	for (size_t i = 0; !rc && i < n; i++)
		json_array_append_new(a, worker_json(&w[i]));
	if (!rc)
		rc = emit(k, json_incref(a), a, worker_cols);
	json_decref(a);
	ksched_free(w);
	return rc;
}

/* "name value" lines of the counters (those in counts first). */
static void
print_counters(const json_t *o)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v)
	{
		if (json_is_object(v))
			print_counters(v);
		else
			printf("%-14s %lld\n", key,
			       (long long)json_integer_value(v));
	}
}

int
cmd_stats(struct ctl *k, int argc, char **argv)
{
	struct ksched_stats s;
	int rc = no_args(k, argc, argv);
	ksched_err e = rc ? KSCHED_OK : ksched_client_stats(k->c, &s);
	json_t *o;

	if (rc || e)
		return rc ? rc : ctl_fail(k, e);
	o = json_pack("{s:{},s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "counts",
		      "cache_hits", (json_int_t)s.cache_hits, "cache_misses",
		      (json_int_t)s.cache_misses, "cache_entries",
		      (json_int_t)s.cache_entries, "workers",
		      (json_int_t)s.workers, "attached", (json_int_t)s.attached,
		      "bad_messages", (json_int_t)s.bad_messages, "uptime_ms",
		      (json_int_t)s.uptime_ms);
	for (int i = 0; i < KSCHED_STATE_COUNT; i++)
		json_object_set_new(json_object_get(o, "counts"),
				    ksched_state_name((enum ksched_state)i),
				    json_integer((json_int_t)s.counts[i]));
	if (k->json)
		return emit_json(o);
	print_counters(o);
	json_decref(o);
	return EX_OK;
}

int
cmd_cache(struct ctl *k, int argc, char **argv)
{
	struct ksched_key key;
	bool has_key = argc == 2;
	uint64_t removed = 0;
	int rc = EX_OK;
	ksched_err e;

	if (argc < 1 || strcmp(argv[0], "invalidate"))
		return ctl_usage(k, "the only action is 'invalidate'");
	if (argc > 2 || has_key + !!k->kind + k->all != 1)
		return ctl_usage(k, "give one of KEY, --kind K or --all");
	if (has_key && ksched_key_from_hex(argv[1], &key))
		return ctl_usage(k, "bad key '%s' (want 32 hex digits)",
				 argv[1]);
	if (!(rc = connect_master(k)) &&
	    (e = ksched_client_cache_invalidate(k->c, has_key ? &key : NULL,
						k->kind, k->all, &removed)))
		rc = ctl_fail(k, e);
	if (!rc && k->json)
		rc = emit_json(
		    json_pack("{s:I}", "removed", (json_int_t)removed));
	else if (!rc)
		printf("removed %llu\n", (unsigned long long)removed);
	return rc;
}
