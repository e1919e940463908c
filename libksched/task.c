/*
 * libksched - the task model: an opaque task spec, its validation, its
 * cache key and its protobuf encoding.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "ksched/task.h"
#include "alloc.h"
#include "ksched.pb-c.h"

struct ksched_label {
	char *key;
	char *value;
};

struct ksched_task {
	uint64_t id;
	char *kind;
	void *payload; /* NULL when payload_len is 0 */
	size_t payload_len;
	char **argv;
	size_t argc;
	char **env;
	size_t *env_order; /* indices into env, stably sorted by name */
	size_t envc;
	char *cwd;  /* NULL = unset */
	char *user; /* NULL = unset, reads as "" */
	char *salt; /* NULL = unset, reads as "" */
	struct ksched_label *labels;
	size_t labelc;
	int32_t priority;
	int64_t cpu_milli;
	int64_t mem_mb;
	int64_t gpus;
	int64_t nodes;
	int64_t timeout_ms;
	int64_t retries;
	int64_t backoff_base_ms;
	int64_t backoff_max_ms;
	bool no_cache;
	int64_t cache_ttl_ms;
	int64_t not_before;
	int64_t est_runtime_ms;
};

/* --- string vector helpers ---------------------------------------------- */

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ksched__free(v[i]);
	ksched__free(v);
}

/* strv_dup: copy n strings into *out (NULL when n is 0); all or nothing. */
static ksched_err
strv_dup(const char *const *src, size_t n, char ***out)
{
	char **v;

	*out = NULL;
	if (n == 0)
		return KSCHED_OK;
	v = ksched__calloc(n, sizeof(*v));
	if (!v)
		return KSCHED_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = ksched__strdup(src[i]);
		if (!v[i]) {
			strv_free(v, i);
			return KSCHED_ENOMEM;
		}
	}
	*out = v;
	return KSCHED_OK;
}

static void
labels_free(struct ksched_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ksched__free(l[i].key);
		ksched__free(l[i].value);
	}
	ksched__free(l);
}

/* The length of an env entry's name: the bytes before the first '='. */
static size_t
env_name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

static int
env_name_cmp(const char *a, const char *b)
{
	size_t la = env_name_len(a), lb = env_name_len(b);
	int c = memcmp(a, b, la < lb ? la : lb);

	if (c != 0)
		return c;
	return la < lb ? -1 : la > lb;
}

/* --- lifecycle ---------------------------------------------------------- */

ksched_err
ksched_task_new(ksched_task **out)
{
	ksched_task *t;

	if (!out)
		return KSCHED_EINVAL;
	*out = NULL;
	t = ksched__calloc(1, sizeof(*t));
	if (!t)
		return KSCHED_ENOMEM;
	t->kind = ksched__strdup(KSCHED_KIND_EXEC);
	if (!t->kind) {
		ksched__free(t);
		return KSCHED_ENOMEM;
	}
	t->cpu_milli = 1000;
	t->nodes = 1;
	t->backoff_base_ms = 1000;
	t->backoff_max_ms = 60000;
	*out = t;
	return KSCHED_OK;
}

void
ksched_task_free(ksched_task *t)
{
	if (!t)
		return;
	ksched__free(t->kind);
	ksched__free(t->payload);
	strv_free(t->argv, t->argc);
	strv_free(t->env, t->envc);
	ksched__free(t->env_order);
	ksched__free(t->cwd);
	ksched__free(t->user);
	ksched__free(t->salt);
	labels_free(t->labels, t->labelc);
	ksched__free(t);
}

/* dup_heap: copy t's owned parts into c, which has none, via the setters. */
static ksched_err
dup_heap(const ksched_task *t, ksched_task *c)
{
	ksched_err rc;

	if ((rc = ksched_task_set_kind(c, t->kind)) ||
	    (rc = ksched_task_set_payload(c, t->payload, t->payload_len)) ||
	    (rc = ksched_task_set_argv(c, t->argc,
				       (const char *const *)t->argv)) ||
	    (rc = ksched_task_set_cwd(c, t->cwd)) ||
	    (rc = ksched_task_set_user(c, t->user)) ||
	    (rc = ksched_task_set_salt(c, t->salt)))
		return rc;
	for (size_t i = 0; i < t->envc; i++)
		if ((rc = ksched_task_add_env(c, t->env[i])))
			return rc;
	for (size_t i = 0; i < t->labelc; i++)
		if ((rc = ksched_task_add_label(c, t->labels[i].key,
						t->labels[i].value)))
			return rc;
	return KSCHED_OK;
}

ksched_err
ksched_task_dup(const ksched_task *t, ksched_task **out)
{
	ksched_task *c;

	if (!out)
		return KSCHED_EINVAL;
	*out = NULL;
	if (!t)
		return KSCHED_EINVAL;
	c = ksched__malloc(sizeof(*c));
	if (!c)
		return KSCHED_ENOMEM;
	*c = *t; /* the scalars; the owned parts are copied by dup_heap() */
	c->kind = c->cwd = c->user = c->salt = NULL;
	c->payload = NULL;
	c->argv = c->env = NULL;
	c->env_order = NULL;
	c->labels = NULL;
	c->payload_len = c->argc = c->envc = c->labelc = 0;
	if (dup_heap(t, c) != KSCHED_OK) {
		ksched_task_free(c);
		return KSCHED_ENOMEM;
	}
	*out = c;
	return KSCHED_OK;
}

/* --- setters: copy first, then swap, so a failure changes nothing ------ */

/* replace_str: set *slot to a copy of s (NULL allowed iff nullable). */
static ksched_err
replace_str(char **slot, const char *s, bool nullable)
{
	char *c = NULL;

	if (!s && !nullable)
		return KSCHED_EINVAL;
	if (s && !(c = ksched__strdup(s)))
		return KSCHED_ENOMEM;
	ksched__free(*slot);
	*slot = c;
	return KSCHED_OK;
}

ksched_err
ksched_task_set_kind(ksched_task *t, const char *kind)
{
	return t ? replace_str(&t->kind, kind, false) : KSCHED_EINVAL;
}

ksched_err
ksched_task_set_cwd(ksched_task *t, const char *cwd)
{
	return t ? replace_str(&t->cwd, cwd, true) : KSCHED_EINVAL;
}

ksched_err
ksched_task_set_user(ksched_task *t, const char *user)
{
	return t ? replace_str(&t->user, user, true) : KSCHED_EINVAL;
}

ksched_err
ksched_task_set_salt(ksched_task *t, const char *salt)
{
	return t ? replace_str(&t->salt, salt, true) : KSCHED_EINVAL;
}

ksched_err
ksched_task_set_payload(ksched_task *t, const void *data, size_t len)
{
	void *c = NULL;

	if (!t || (!data && len))
		return KSCHED_EINVAL;
	if (len && !(c = ksched__memdup(data, len)))
		return KSCHED_ENOMEM;
	ksched__free(t->payload);
	t->payload = c;
	t->payload_len = len;
	return KSCHED_OK;
}

ksched_err
ksched_task_set_argv(ksched_task *t, size_t argc, const char *const *argv)
{
	char **v;
	ksched_err rc;

	if (!t || (argc && !argv))
		return KSCHED_EINVAL;
	for (size_t i = 0; i < argc; i++)
		if (!argv[i])
			return KSCHED_EINVAL;
	rc = strv_dup(argv, argc, &v);
	if (rc != KSCHED_OK)
		return rc;
	strv_free(t->argv, t->argc);
	t->argv = v;
	t->argc = argc;
	return KSCHED_OK;
}

/* env_insert_order: record index t->envc in the sorted order (stable). */
static void
env_insert_order(ksched_task *t, const char *entry)
{
	size_t lo = 0, hi = t->envc;

	while (lo < hi) { /* first position whose name sorts after entry */
		size_t mid = lo + (hi - lo) / 2;

		if (env_name_cmp(t->env[t->env_order[mid]], entry) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&t->env_order[lo + 1], &t->env_order[lo],
		(t->envc - lo) * sizeof(size_t));
	t->env_order[lo] = t->envc;
}

ksched_err
ksched_task_add_env(ksched_task *t, const char *entry)
{
	char *c, **env;
	size_t *order, n;

	if (!t || !entry)
		return KSCHED_EINVAL;
	n = t->envc + 1;
	if (!(c = ksched__strdup(entry)))
		return KSCHED_ENOMEM;
	/* Growing the arrays without bumping envc leaves t unchanged. */
	if (!(env = ksched__realloc(t->env, n * sizeof(*env))))
		goto nomem;
	t->env = env;
	if (!(order = ksched__realloc(t->env_order, n * sizeof(*order))))
		goto nomem;
	t->env_order = order;
	env_insert_order(t, c);
	t->env[t->envc++] = c;
	return KSCHED_OK;
nomem:
	ksched__free(c);
	return KSCHED_ENOMEM;
}

ksched_err
ksched_task_add_label(ksched_task *t, const char *key, const char *value)
{
	struct ksched_label *l;
	char *k, *v;
	size_t n;

	if (!t || !key || !value)
		return KSCHED_EINVAL;
	n = t->labelc + 1;
	k = ksched__strdup(key);
	v = ksched__strdup(value);
	if (!k || !v || !(l = ksched__realloc(t->labels, n * sizeof(*l)))) {
		ksched__free(k);
		ksched__free(v);
		return KSCHED_ENOMEM;
	}
	l[t->labelc].key = k;
	l[t->labelc].value = v;
	t->labels = l;
	t->labelc = n;
	return KSCHED_OK;
}

void
ksched_task_set_id(ksched_task *t, uint64_t id)
{
	t->id = id;
}

void
ksched_task_set_priority(ksched_task *t, int32_t priority)
{
	t->priority = priority;
}

void
ksched_task_set_resources(ksched_task *t, int64_t cpu_milli, int64_t mem_mb,
			  int64_t gpus)
{
	t->cpu_milli = cpu_milli;
	t->mem_mb = mem_mb;
	t->gpus = gpus;
}

void
ksched_task_set_nodes(ksched_task *t, int64_t nodes)
{
	t->nodes = nodes;
}

void
ksched_task_set_timeout_ms(ksched_task *t, int64_t ms)
{
	t->timeout_ms = ms;
}

void
ksched_task_set_retry(ksched_task *t, int64_t retries, int64_t backoff_base_ms,
		      int64_t backoff_max_ms)
{
	t->retries = retries;
	t->backoff_base_ms = backoff_base_ms;
	t->backoff_max_ms = backoff_max_ms;
}

void
ksched_task_set_cache(ksched_task *t, bool no_cache, int64_t ttl_ms)
{
	t->no_cache = no_cache;
	t->cache_ttl_ms = ttl_ms;
}

void
ksched_task_set_not_before(ksched_task *t, int64_t ms)
{
	t->not_before = ms;
}

void
ksched_task_set_est_runtime_ms(ksched_task *t, int64_t ms)
{
	t->est_runtime_ms = ms;
}

/* --- getters ------------------------------------------------------------ */

uint64_t
ksched_task_id(const ksched_task *t)
{
	return t->id;
}

const char *
ksched_task_kind(const ksched_task *t)
{
	return t->kind;
}

const void *
ksched_task_payload(const ksched_task *t, size_t *len)
{
	if (len)
		*len = t->payload_len;
	return t->payload;
}

size_t
ksched_task_argc(const ksched_task *t)
{
	return t->argc;
}

const char *
ksched_task_arg(const ksched_task *t, size_t i)
{
	return i < t->argc ? t->argv[i] : NULL;
}

size_t
ksched_task_envc(const ksched_task *t)
{
	return t->envc;
}

const char *
ksched_task_env(const ksched_task *t, size_t i)
{
	return i < t->envc ? t->env[i] : NULL;
}

const char *
ksched_task_cwd(const ksched_task *t)
{
	return t->cwd;
}

size_t
ksched_task_labelc(const ksched_task *t)
{
	return t->labelc;
}

const char *
ksched_task_label_key(const ksched_task *t, size_t i)
{
	return i < t->labelc ? t->labels[i].key : NULL;
}

const char *
ksched_task_label_value(const ksched_task *t, size_t i)
{
	return i < t->labelc ? t->labels[i].value : NULL;
}

const char *
ksched_task_label(const ksched_task *t, const char *key)
{
	for (size_t i = 0; key && i < t->labelc; i++)
		if (strcmp(t->labels[i].key, key) == 0)
			return t->labels[i].value;
	return NULL;
}

const char *
ksched_task_user(const ksched_task *t)
{
	return t->user ? t->user : "";
}

const char *
ksched_task_salt(const ksched_task *t)
{
	return t->salt ? t->salt : "";
}

int32_t
ksched_task_priority(const ksched_task *t)
{
	return t->priority;
}

int64_t
ksched_task_cpu_milli(const ksched_task *t)
{
	return t->cpu_milli;
}

int64_t
ksched_task_mem_mb(const ksched_task *t)
{
	return t->mem_mb;
}

int64_t
ksched_task_gpus(const ksched_task *t)
{
	return t->gpus;
}

int64_t
ksched_task_nodes(const ksched_task *t)
{
	return t->nodes;
}

int64_t
ksched_task_timeout_ms(const ksched_task *t)
{
	return t->timeout_ms;
}

int64_t
ksched_task_retries(const ksched_task *t)
{
	return t->retries;
}

int64_t
ksched_task_backoff_base_ms(const ksched_task *t)
{
	return t->backoff_base_ms;
}

int64_t
ksched_task_backoff_max_ms(const ksched_task *t)
{
	return t->backoff_max_ms;
}

bool
ksched_task_no_cache(const ksched_task *t)
{
	return t->no_cache;
}

int64_t
ksched_task_cache_ttl_ms(const ksched_task *t)
{
	return t->cache_ttl_ms;
}

int64_t
ksched_task_not_before(const ksched_task *t)
{
	return t->not_before;
}

int64_t
ksched_task_est_runtime_ms(const ksched_task *t)
{
	return t->est_runtime_ms;
}

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
		if (env_name_len(t->env[i]) == 0 || !strchr(t->env[i], '='))
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

static ksched_err
check_label(const ksched_task *t, size_t i, struct errbuf *e)
{
	const struct ksched_label *l = &t->labels[i];
	char q[QUOTE_MAX];
	size_t klen = strlen(l->key), vlen = strlen(l->value);

	if (klen == 0)
		return fail(e,
			    "field 'labels' entry %zu key must not be empty "
			    "(got \"\")",
			    i);
	if (klen > KSCHED_LABEL_LEN_MAX)
		return fail(e,
			    "field 'labels' entry %zu key must be at most %d "
			    "bytes (got %zu)",
			    i, KSCHED_LABEL_LEN_MAX, klen);
	if (vlen > KSCHED_LABEL_LEN_MAX)
		return fail(e,
			    "field 'labels' entry %zu value must be at most "
			    "%d bytes (got %zu)",
			    i, KSCHED_LABEL_LEN_MAX, vlen);
	for (const char *p = l->key; *p; p++)
		if (!is_label_key_char(*p))
			return fail(e,
				    "field 'labels' entry %zu key must "
				    "match [A-Za-z0-9_./-]+ (got %s)",
				    i, quote(q, l->key));
	for (size_t j = 0; j < i; j++)
		if (strcmp(t->labels[j].key, l->key) == 0)
			return fail(e,
				    "field 'labels' keys must be unique "
				    "(got %s twice)",
				    quote(q, l->key));
	return KSCHED_OK;
}

static ksched_err
check_labels_user_salt(const ksched_task *t, struct errbuf *e)
{
	if (t->labelc > KSCHED_LABELS_MAX)
		return fail(e,
			    "field 'labels' must have at most %d entries "
			    "(got %zu)",
			    KSCHED_LABELS_MAX, t->labelc);
	for (size_t i = 0; i < t->labelc; i++)
		if (check_label(t, i, e))
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

/* --- cache key ---------------------------------------------------------- */

/*
 * The canonical encoding, every integer little-endian and every variable
 * length item prefixed by its length as a u64:
 *   "ksched-cache-key"  u32 version  kind  payload
 *   u64 argc  argv[0..]  u64 envc  env sorted by name (stable)
 *   u8 has_cwd [cwd]  salt
 */
static void
put_uint(XXH3_state_t *st, uint64_t v, size_t nbytes)
{
	uint8_t b[8];

	for (size_t i = 0; i < nbytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	XXH3_128bits_update(st, b, nbytes);
}

static void
put_bytes(XXH3_state_t *st, const void *p, size_t len)
{
	put_uint(st, len, 8);
	if (len)
		XXH3_128bits_update(st, p, len);
}

static void
put_str(XXH3_state_t *st, const char *s)
{
	put_bytes(st, s, strlen(s));
}

void
ksched_task_cache_key(const ksched_task *t, struct ksched_key *out)
{
	XXH3_state_t st;
	XXH128_canonical_t canon;

	XXH3_INITSTATE(&st);
	XXH3_128bits_reset(&st);
	put_str(&st, "ksched-cache-key");
	put_uint(&st, KSCHED_CACHE_KEY_VERSION, 4);
	put_str(&st, t->kind);
	put_bytes(&st, t->payload, t->payload_len);
	put_uint(&st, t->argc, 8);
	for (size_t i = 0; i < t->argc; i++)
		put_str(&st, t->argv[i]);
	put_uint(&st, t->envc, 8);
	for (size_t i = 0; i < t->envc; i++)
		put_str(&st, t->env[t->env_order[i]]);
	put_uint(&st, t->cwd != NULL, 1);
	if (t->cwd)
		put_str(&st, t->cwd);
	put_str(&st, ksched_task_salt(t));
	XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(&st));
	memcpy(out->bytes, canon.digest, sizeof(out->bytes));
}

void
ksched_key_to_hex(const struct ksched_key *key, char hex[33])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < sizeof(key->bytes); i++) {
		hex[2 * i] = digits[key->bytes[i] >> 4];
		hex[2 * i + 1] = digits[key->bytes[i] & 15];
	}
	hex[32] = '\0';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ksched_err
ksched_key_from_hex(const char *hex, struct ksched_key *out)
{
	struct ksched_key k;

	if (!hex || !out)
		return KSCHED_EINVAL;
	for (size_t i = 0; i < sizeof(k.bytes); i++) {
		int hi = hex_value(hex[2 * i]);
		int lo = hi < 0 ? -1 : hex_value(hex[2 * i + 1]);

		if (lo < 0) /* also stops at a NUL before digit 32 */
			return KSCHED_EINVAL;
		k.bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hex[32] != '\0')
		return KSCHED_EINVAL;
	*out = k;
	return KSCHED_OK;
}

/* --- protobuf encoding -------------------------------------------------- */

ksched_err
ksched_task_encode(const ksched_task *t, void **buf, size_t *len)
{
	Ksched__TaskSpec s = KSCHED__TASK_SPEC__INIT;
	Ksched__Label *lv = NULL, **lp = NULL;
	uint8_t *b;

	if (!t || !buf || !len)
		return KSCHED_EINVAL;
	if (t->labelc && (!(lv = ksched__calloc(t->labelc, sizeof(*lv))) ||
			  !(lp = ksched__calloc(t->labelc, sizeof(*lp))))) {
		ksched__free(lv);
		return KSCHED_ENOMEM;
	}
	for (size_t i = 0; i < t->labelc; i++) {
		ksched__label__init(&lv[i]);
		lv[i].key = t->labels[i].key;
		lv[i].value = t->labels[i].value;
		lp[i] = &lv[i];
	}
	s.id = t->id;
	s.kind = t->kind;
	s.payload.data = t->payload;
	s.payload.len = t->payload_len;
	s.n_argv = t->argc;
	s.argv = t->argv;
	s.n_env = t->envc;
	s.env = t->env;
	s.has_cwd = t->cwd != NULL;
	s.cwd = t->cwd ? t->cwd : (char *)"";
	s.priority = t->priority;
	s.cpu_milli = t->cpu_milli;
	s.mem_mb = t->mem_mb;
	s.gpus = t->gpus;
	s.nodes = t->nodes;
	s.timeout_ms = t->timeout_ms;
	s.retries = t->retries;
	s.backoff_base_ms = t->backoff_base_ms;
	s.backoff_max_ms = t->backoff_max_ms;
	s.no_cache = t->no_cache;
	s.cache_ttl_ms = t->cache_ttl_ms;
	s.n_labels = t->labelc;
	s.labels = lp;
	s.not_before = t->not_before;
	s.user = t->user ? t->user : (char *)"";
	s.salt = t->salt ? t->salt : (char *)"";
	s.est_runtime_ms = t->est_runtime_ms;
	*len = ksched__task_spec__get_packed_size(&s);
	b = ksched__malloc(*len);
	if (b)
		ksched__task_spec__pack(&s, b);
	ksched__free(lp);
	ksched__free(lv);
	*buf = b;
	if (!b)
		*len = 0;
	return b ? KSCHED_OK : KSCHED_ENOMEM;
}

/* from_spec_heap: copy the owned parts of s into t. */
static ksched_err
from_spec_heap(const Ksched__TaskSpec *s, ksched_task *t)
{
	ksched_err rc;

	if ((rc = ksched_task_set_kind(t, s->kind)) ||
	    (rc =
		 ksched_task_set_payload(t, s->payload.data, s->payload.len)) ||
	    (rc = ksched_task_set_argv(t, s->n_argv,
				       (const char *const *)s->argv)) ||
	    (rc = ksched_task_set_cwd(t, s->has_cwd ? s->cwd : NULL)) ||
	    (rc = ksched_task_set_user(t, s->user[0] ? s->user : NULL)) ||
	    (rc = ksched_task_set_salt(t, s->salt[0] ? s->salt : NULL)))
		return rc;
	for (size_t i = 0; i < s->n_env; i++)
		if ((rc = ksched_task_add_env(t, s->env[i])))
			return rc;
	for (size_t i = 0; i < s->n_labels; i++)
		if ((rc = ksched_task_add_label(t, s->labels[i]->key,
						s->labels[i]->value)))
			return rc;
	return KSCHED_OK;
}

static void
from_spec_scalars(const Ksched__TaskSpec *s, ksched_task *t)
{
	t->id = s->id;
	t->priority = s->priority;
	ksched_task_set_resources(t, s->cpu_milli, s->mem_mb, s->gpus);
	t->nodes = s->nodes;
	t->timeout_ms = s->timeout_ms;
	ksched_task_set_retry(t, s->retries, s->backoff_base_ms,
			      s->backoff_max_ms);
	ksched_task_set_cache(t, s->no_cache, s->cache_ttl_ms);
	t->not_before = s->not_before;
	t->est_runtime_ms = s->est_runtime_ms;
}

/* protobuf-c allocates through our wrapper too, noting when it failed. */
static void *
pb_alloc(void *oom, size_t n)
{
	void *p = ksched__malloc(n);

	if (!p)
		*(bool *)oom = true;
	return p;
}

static void
pb_free(void *oom, void *p)
{
	(void)oom;
	ksched__free(p);
}

ksched_err
ksched_task_decode(const void *buf, size_t len, ksched_task **out)
{
	bool oom = false;
	ProtobufCAllocator pa = {pb_alloc, pb_free, &oom};
	Ksched__TaskSpec *s;
	ksched_task *t = NULL;
	ksched_err rc = KSCHED_EPROTO;

	if (!out)
		return KSCHED_EINVAL;
	*out = NULL;
	if (!buf)
		return KSCHED_EPROTO;
	s = ksched__task_spec__unpack(&pa, len, buf);
	if (!s)
		return oom ? KSCHED_ENOMEM : KSCHED_EPROTO;
	if (!s->has_cwd && s->cwd[0]) /* a cwd without its presence flag */
		goto out;
	for (size_t i = 0; i < s->n_labels; i++)
		if (!s->labels[i])
			goto out;
	if ((rc = ksched_task_new(&t)) || (rc = from_spec_heap(s, t)))
		goto out;
	from_spec_scalars(s, t);
	*out = t;
	t = NULL;
out:
	ksched_task_free(t);
	ksched__task_spec__free_unpacked(s, &pa);
	return rc;
}
