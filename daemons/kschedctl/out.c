/* kschedctl - output: JSON documents and aligned tables. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

/* ---- output ------------------------------------------------------------- */

int
emit_json(json_t *j)
{
	int rc = j && !json_dumpf(j, stdout, JSON_INDENT(2)) ? EX_OK : EX_FAIL;

	if (rc)
		fputs("kschedctl: cannot write JSON\n", stderr);
	else
		putchar('\n');
	json_decref(j);
	return rc;
}

static void
cell(const json_t *o, const char *key, char fmt, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, key);
	json_int_t i = json_integer_value(v);
	time_t s = (time_t)(i / 1000);
	struct tm tm;

	if (json_is_string(v) && *json_string_value(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.2f", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else if (fmt == 't' && i > 0 && localtime_r(&s, &tm))
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	else if (fmt == 'a' && i > 0)
		snprintf(buf, len, "%llds ago",
			 (long long)(ksched_now_ms() - i) / 1000);
	else if (json_is_integer(v) && !fmt)
		snprintf(buf, len, "%lld", (long long)i);
	else
		snprintf(buf, len, "-");
}

/*
 * A long text ('w' columns: errors, why pending) is cut to INFO_WIDTH in
 * the table, its line breaks made spaces; print_reasons() shows it whole.
 */
#define INFO_WIDTH 40

static void
cap(char *buf)
{
	for (char *p = buf; *p; p++)
		*p = *p == '\n' || *p == '\t' ? ' ' : *p;
	if (strlen(buf) > INFO_WIDTH)
		memcpy(buf + INFO_WIDTH - 3, "...", 4);
}

static void
render(const json_t *o, const char *key, char fmt, char *buf, size_t len)
{
	const char *sep = strpbrk(key, "/|");
	char first[32], rest[600];

	if (!sep) {
		cell(o, key, fmt, buf, len);
		return;
	}
	snprintf(first, sizeof(first), "%.*s", (int)(sep - key), key);
	cell(o, first, fmt, buf, len);
	if (*sep == '|' && strcmp(buf, "-"))
		return;
	render(o, sep + 1, fmt, rest, sizeof(rest));
	if (*sep == '|')
		snprintf(buf, len, "%s", rest);
	else
		snprintf(buf + strlen(buf), len - strlen(buf), "/%s", rest);
}

/* Print the objects of array rows in aligned columns. */
void
print_rows(const json_t *rows, const struct col *cols)
{
	size_t w[16] = {0}, nc, i, c;
	char buf[600];
	json_t *o;

	for (nc = 0; cols[nc].head; nc++)
		w[nc] = strlen(cols[nc].head);
	for (int pass = 0; pass < 2; pass++) {
		for (c = 0; pass && c < nc; c++)
			printf("%-*s%s", c + 1 < nc ? (int)w[c] : 0,
			       cols[c].head, c + 1 < nc ? "  " : "\n");
		json_array_foreach(rows, i, o) for (c = 0; c < nc; c++)
		{
			render(o, cols[c].key, cols[c].fmt, buf, sizeof(buf));
			if (cols[c].fmt == 'w')
				cap(buf);
			if (!pass && strlen(buf) > w[c])
				w[c] = strlen(buf);
			else if (pass)
				printf("%-*s%s", c + 1 < nc ? (int)w[c] : 0,
				       buf, c + 1 < nc ? "  " : "\n");
		}
	}
}

/* Print --json output, or rows as a table; consumes j. */
int
emit(const struct ctl *k, json_t *j, const json_t *rows, const struct col *cols)
{
	if (k->json)
		return emit_json(j);
	print_rows(rows, cols);
	json_decref(j);
	return EX_OK;
}

/* clang-format off */
const struct col status_cols[] = {
	{"ID", "id", 0}, {"STATE", "state", 0}, {"KIND", "kind", 0},
	{"PRIO", "priority", 0}, {"TRIES", "attempts", 0},
	{"WORKER", "worker", 0}, {"SUBMITTED", "submitted", 't'},
	{"INFO", "last_error|pending_reason", 'w'}, {NULL, NULL, 0}};
/* clang-format on */

json_t *
status_json(const struct ksched_task_status *s)
{
	return json_pack(
	    "{s:I,s:s,s:s,s:i,s:i,s:i,s:I,s:I,s:b,s:s,s:s,s:s,"
	    "s:i}",
	    "id", (json_int_t)s->id, "state", ksched_state_name(s->state),
	    "kind", s->kind, "priority", (int)s->priority, "attempts",
	    (int)s->attempts, "retries", (int)s->retries, "submitted",
	    (json_int_t)s->submitted, "due", (json_int_t)s->due, "cached",
	    (int)s->cached, "worker", s->worker, "last_error", s->last_error,
	    "pending_reason", s->pending_reason, "flags", (int)s->flags);
}

json_t *
statuses_json(const struct ksched_task_status *s, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, status_json(&s[i]));
	return a;
}

/* Print text from column 2, broken at spaces (and at its own '\n'). */
static void
wrap(const char *text, int col, int width)
{
	const char *p = text;

	while (*p) {
		size_t room = (size_t)(width - col), n = strcspn(p, "\n");

		if (n > room) {
			n = room;
			while (n > room / 2 && p[n] != ' ')
				n--;
			if (p[n] != ' ')
				n = room; /* one long word: cut it */
		}
		printf("%.*s\n", (int)n, p);
		p += n;
		p += strspn(p, " \n");
		if (*p)
			printf("  ");
		col = 2;
	}
}

void
print_reasons(const struct ksched_task_status *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *why =
		    s[i].last_error[0] ? s[i].last_error : s[i].pending_reason;
		const char *what = s[i].last_error[0] ? "error" : "why pending";
		int col;

		if (strlen(why) <= INFO_WIDTH && !strchr(why, '\n'))
			continue;
		col = printf("\ntask %llu %s: ", (unsigned long long)s[i].id,
			     what) -
		      1;
		wrap(why, col, 79);
	}
}

bool
is_failed(enum ksched_state st)
{
	return st == KSCHED_STATE_DEAD || st == KSCHED_STATE_CANCELED;
}
