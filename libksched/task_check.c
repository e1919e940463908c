/* libksched - task spec validation against the documented limits. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "task_int.h"

/* --- validation --------------------------------------------------------- */

struct errbuf {
	char *s;
	size_t n;
};

__attribute__((format(printf, 2, 3))) static ksched_err
fail(struct errbuf *e, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!e->s || e->n == 0)
		return KSCHED_EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(e->s, e->n, "task spec: %s", msg);
	return KSCHED_EINVAL;
}

#define QUOTE_MAX 80

/* quote: s as a C-style quoted string for messages, cut short with "...". */
static const char *
quote(char buf[QUOTE_MAX], const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	buf[o++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (o + 10 > QUOTE_MAX) { /* room for 3 dots, quote and NUL */
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c > 0x7e) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static bool
is_kind_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '.' || c == '-';
}

static bool
is_label_key_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
	       c == '/';
}

static ksched_err
check_len(struct errbuf *e, const char *field, const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len > max)
		return fail(e, "field '%s' must be at most %zu bytes (got %zu)",
			    field, max, len);
	return KSCHED_OK;
}

static ksched_err
check_kind_payload(const ksched_task *t, struct errbuf *e)
{
	char q[QUOTE_MAX];
	const char *k = t->kind;

	if (!k[0])
		return fail(e, "field 'kind' must not be empty (got \"\")");
	if (check_len(e, "kind", k, KSCHED_KIND_MAX))
		return KSCHED_EINVAL;
	for (const char *p = k; *p; p++)
		if (!is_kind_char(*p) || (p == k && !(*p >= 'a' && *p <= 'z')))
			return fail(e,
				    "field 'kind' must match "
				    "[a-z][a-z0-9_.-]* (got %s)",
				    quote(q, k));
	if (t->payload_len > KSCHED_PAYLOAD_MAX)
		return fail(e,
			    "field 'payload' must be at most %u bytes "
			    "(got %zu)",
			    KSCHED_PAYLOAD_MAX, t->payload_len);
	return KSCHED_OK;
}

static ksched_err
check_argv_env(const ksched_task *t, struct errbuf *e)
{
	char q[QUOTE_MAX];

	if (strcmp(t->kind, KSCHED_KIND_EXEC) == 0 && t->argc == 0)
		return fail(e, "field 'argv' must not be empty for kind \"%s\"",
			    KSCHED_KIND_EXEC);
	if (strcmp(t->kind, KSCHED_KIND_EXEC) == 0 && !t->argv[0][0])
		return fail(e,
			    "field 'argv' must have a non-empty first entry "
			    "for kind \"%s\" (got \"\")",
			    KSCHED_KIND_EXEC);
	if (t->argc > KSCHED_ARGV_MAX)
		return fail(e,
			    "field 'argv' must have at most %d entries "
			    "(got %zu)",
			    KSCHED_ARGV_MAX, t->argc);
	if (t->envc > KSCHED_ENV_MAX)
		return fail(e,
			    "field 'env' must have at most %d entries "
			    "(got %zu)",
			    KSCHED_ENV_MAX, t->envc);
	for (size_t i = 0; i < t->envc; i++)
		if (ksched__env_name_len(t->env[i]) == 0 || !strchr(t->env[i], '='))
			return fail(e,
				    "field 'env' entry %zu must be "
				    "NAME=VALUE with a non-empty NAME "
				    "(got %s)",
				    i, quote(q, t->env[i]));
	return KSCHED_OK;
}

static ksched_err
check_strings(const ksched_task *t, struct errbuf *e)
{
	size_t total = t->cwd ? strlen(t->cwd) : 0;

	for (size_t i = 0; i < t->argc; i++)
		total += strlen(t->argv[i]);
	for (size_t i = 0; i < t->envc; i++)
		total += strlen(t->env[i]);
	if (total > KSCHED_STRINGS_MAX)
		return fail(e,
			    "field 'argv' + 'env' + 'cwd' must be at most "
			    "%u bytes in total (got %zu)",
			    KSCHED_STRINGS_MAX, total);
	return KSCHED_OK;
}

/* check_pair: entry i of the key=value list field (labels or selector). */
static ksched_err
check_pair(const char *field, const struct ksched_label *v, size_t i,
	   struct errbuf *e)
{
	const struct ksched_label *l = &v[i];
	char q[QUOTE_MAX];
	size_t klen = strlen(l->key), vlen = strlen(l->value);

	if (klen == 0)
		return fail(e,
			    "field '%s' entry %zu key must not be empty "
			    "(got \"\")",
			    field, i);
	if (klen > KSCHED_LABEL_LEN_MAX)
		return fail(e,
			    "field '%s' entry %zu key must be at most %d "
			    "bytes (got %zu)",
			    field, i, KSCHED_LABEL_LEN_MAX, klen);
	if (vlen > KSCHED_LABEL_LEN_MAX)
		return fail(e,
			    "field '%s' entry %zu value must be at most "
			    "%d bytes (got %zu)",
			    field, i, KSCHED_LABEL_LEN_MAX, vlen);
	for (const char *p = l->key; *p; p++)
		if (!is_label_key_char(*p))
			return fail(e,
				    "field '%s' entry %zu key must "
				    "match [A-Za-z0-9_./-]+ (got %s)",
				    field, i, quote(q, l->key));
	for (size_t j = 0; j < i; j++)
		if (strcmp(v[j].key, l->key) == 0)
			return fail(e,
				    "field '%s' keys must be unique "
				    "(got %s twice)",
				    field, quote(q, l->key));
	return KSCHED_OK;
}

/* check_pairs: the n entries of the key=value list field. */
static ksched_err
check_pairs(const char *field, const struct ksched_label *v, size_t n,
	    struct errbuf *e)
{
	if (n > KSCHED_LABELS_MAX)
		return fail(e,
			    "field '%s' must have at most %d entries "
			    "(got %zu)",
			    field, KSCHED_LABELS_MAX, n);
	for (size_t i = 0; i < n; i++)
		if (check_pair(field, v, i, e))
			return KSCHED_EINVAL;
	return KSCHED_OK;
}

static ksched_err
check_labels_user_salt(const ksched_task *t, struct errbuf *e)
{
	if (check_pairs("labels", t->labels, t->labelc, e) ||
	    check_pairs("selector", t->selector, t->selectorc, e))
		return KSCHED_EINVAL;
	if (t->user && check_len(e, "user", t->user, KSCHED_USER_MAX))
		return KSCHED_EINVAL;
	if (t->salt && check_len(e, "salt", t->salt, KSCHED_SALT_MAX))
		return KSCHED_EINVAL;
	return KSCHED_OK;
}

static ksched_err
check_numbers(const ksched_task *t, struct errbuf *e)
{
	const int64_t dmax = KSCHED_DURATION_MAX;
	const struct {
		const char *name;
		int64_t v, lo, hi;
	} r[] = {
	    {"priority", t->priority, KSCHED_PRIORITY_MIN, KSCHED_PRIORITY_MAX},
	    {"cpu", t->cpu_milli, 0, KSCHED_CPU_MAX},
	    {"mem", t->mem_mb, 0, KSCHED_MEM_MAX},
	    {"gpus", t->gpus, 0, KSCHED_GPUS_MAX},
	    {"nodes", t->nodes, 1, KSCHED_NODES_MAX},
	    {"timeout", t->timeout_ms, 0, dmax},
	    {"retries", t->retries, 0, KSCHED_RETRIES_MAX},
	    {"backoff_base", t->backoff_base_ms, 0, dmax},
	    {"backoff_max", t->backoff_max_ms, 0, dmax},
	    {"cache_ttl", t->cache_ttl_ms, 0, dmax},
	    {"not_before", t->not_before, 0, INT64_MAX},
	    {"est_runtime", t->est_runtime_ms, 0, dmax},
	};

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		if (r[i].v < r[i].lo)
			return fail(e,
				    "field '%s' must be >= %" PRId64
				    " (got %" PRId64 ")",
				    r[i].name, r[i].lo, r[i].v);
		if (r[i].v > r[i].hi)
			return fail(e,
				    "field '%s' must be <= %" PRId64
				    " (got %" PRId64 ")",
				    r[i].name, r[i].hi, r[i].v);
	}
	if (t->backoff_base_ms > t->backoff_max_ms)
		return fail(e,
			    "field 'backoff_base' must be <= backoff_max "
			    "(%" PRId64 ") (got %" PRId64 ")",
			    t->backoff_max_ms, t->backoff_base_ms);
	return KSCHED_OK;
}

ksched_err
ksched_task_validate(const ksched_task *t, char *err, size_t errlen)
{
	static ksched_err (*const checks[])(const ksched_task *,
					    struct errbuf *) = {
	    check_kind_payload,	    check_argv_env, check_strings,
	    check_labels_user_salt, check_numbers,
	};
	struct errbuf e = {err, errlen};

	if (err && errlen)
		err[0] = '\0';
	if (!t)
		return fail(&e, "no task given");
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if (checks[i](t, &e) != KSCHED_OK)
			return KSCHED_EINVAL;
	return KSCHED_OK;
}

