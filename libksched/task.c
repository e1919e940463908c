/*
 * libksched - the task model: an opaque task spec, its setters and getters.
 * Validation is in task_check.c, the cache key and encoding in task_codec.c.
 */
#include <string.h>

#include "alloc.h"
#include "task_int.h"

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
size_t
ksched__env_name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

static int
env_name_cmp(const char *a, const char *b)
{
	size_t la = ksched__env_name_len(a), lb = ksched__env_name_len(b);
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
	labels_free(t->selector, t->selectorc);
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
	for (size_t i = 0; i < t->selectorc; i++)
		if ((rc = ksched_task_add_selector(c, t->selector[i].key,
						   t->selector[i].value)))
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
	c->labels = c->selector = NULL;
	c->payload_len = c->argc = c->envc = c->labelc = c->selectorc = 0;
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

/* label_add: append a copy of key=value to *v (*n entries); all or nothing. */
static ksched_err
label_add(struct ksched_label **v, size_t *n, const char *key,
	  const char *value)
{
	struct ksched_label *l;
	char *k, *val;

	if (!key || !value)
		return KSCHED_EINVAL;
	k = ksched__strdup(key);
	val = ksched__strdup(value);
	if (!k || !val || !(l = ksched__realloc(*v, (*n + 1) * sizeof(*l)))) {
		ksched__free(k);
		ksched__free(val);
		return KSCHED_ENOMEM;
	}
	l[*n].key = k;
	l[*n].value = val;
	*v = l;
	++*n;
	return KSCHED_OK;
}

ksched_err
ksched_task_add_label(ksched_task *t, const char *key, const char *value)
{
	return t ? label_add(&t->labels, &t->labelc, key, value)
		 : KSCHED_EINVAL;
}

ksched_err
ksched_task_add_selector(ksched_task *t, const char *key, const char *value)
{
	return t ? label_add(&t->selector, &t->selectorc, key, value)
		 : KSCHED_EINVAL;
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

size_t
ksched_task_selectorc(const ksched_task *t)
{
	return t->selectorc;
}

const char *
ksched_task_selector_key(const ksched_task *t, size_t i)
{
	return i < t->selectorc ? t->selector[i].key : NULL;
}

const char *
ksched_task_selector_value(const ksched_task *t, size_t i)
{
	return i < t->selectorc ? t->selector[i].value : NULL;
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

