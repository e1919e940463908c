/* libksched - the task cache key (XXH3-128) and protobuf encoding. */
#include <stdio.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "alloc.h"
#include "ksched.pb-c.h"
#include "task_int.h"

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

/* Protobuf views of a label list: on the stack up to the documented limit. */
struct pb_labels {
	Ksched__Label v[KSCHED_LABELS_MAX], *p[KSCHED_LABELS_MAX];
	Ksched__Label *hv, **hp; /* heap arrays for longer lists, or NULL */
};

/* pb_labels_fill: point b at the n labels l (no copies); NULL on ENOMEM. */
static Ksched__Label **
pb_labels_fill(struct pb_labels *b, const struct ksched_label *l, size_t n)
{
	Ksched__Label *v = b->v, **p = b->p;

	b->hv = NULL;
	b->hp = NULL;
	if (n > KSCHED_LABELS_MAX) {
		b->hv = v = ksched__calloc(n, sizeof(*v));
		b->hp = p = ksched__calloc(n, sizeof(*p));
		if (!v || !p)
			return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		ksched__label__init(&v[i]);
		v[i].key = l[i].key;
		v[i].value = l[i].value;
		p[i] = &v[i];
	}
	return p;
}

static void
pb_labels_done(struct pb_labels *b)
{
	ksched__free(b->hv);
	ksched__free(b->hp);
}

/* Point s at t's scalar and string fields (no copies). */
static void
to_spec(const ksched_task *t, Ksched__TaskSpec *s)
{
	s->id = t->id;
	s->kind = t->kind;
	s->payload.data = t->payload;
	s->payload.len = t->payload_len;
	s->n_argv = t->argc;
	s->argv = t->argv;
	s->n_env = t->envc;
	s->env = t->env;
	s->has_cwd = t->cwd != NULL;
	s->cwd = t->cwd ? t->cwd : (char *)"";
	s->priority = t->priority;
	s->cpu_milli = t->cpu_milli;
	s->mem_mb = t->mem_mb;
	s->gpus = t->gpus;
	s->nodes = t->nodes;
	s->timeout_ms = t->timeout_ms;
	s->retries = t->retries;
	s->backoff_base_ms = t->backoff_base_ms;
	s->backoff_max_ms = t->backoff_max_ms;
	s->no_cache = t->no_cache;
	s->cache_ttl_ms = t->cache_ttl_ms;
	s->not_before = t->not_before;
	s->user = t->user ? t->user : (char *)"";
	s->salt = t->salt ? t->salt : (char *)"";
	s->est_runtime_ms = t->est_runtime_ms;
}

/*
 * Pack t with fn(arg, size) giving the buffer (or NULL): no allocation for
 * tasks within the documented label and selector limits.
 */
ksched_err
ksched__task_pack(const ksched_task *t, void *(*fn)(void *, size_t),
		  void *arg, size_t *len)
{
	Ksched__TaskSpec s = KSCHED__TASK_SPEC__INIT;
	struct pb_labels lb, sb;
	Ksched__Label **lp, **sp;
	uint8_t *b = NULL;

	lp = pb_labels_fill(&lb, t->labels, t->labelc);
	sp = pb_labels_fill(&sb, t->selector, t->selectorc);
	if (lp && sp) {
		to_spec(t, &s);
		s.n_labels = t->labelc;
		s.labels = lp;
		s.n_selector = t->selectorc;
		s.selector = sp;
		*len = ksched__task_spec__get_packed_size(&s);
		b = fn(arg, *len);
		if (b)
			ksched__task_spec__pack(&s, b);
	}
	pb_labels_done(&lb);
	pb_labels_done(&sb);
	return b ? KSCHED_OK : KSCHED_ENOMEM;
}

static void *
heap_buf(void *arg, size_t len)
{
	return *(void **)arg = ksched__malloc(len);
}

ksched_err
ksched_task_encode(const ksched_task *t, void **buf, size_t *len)
{
	ksched_err e;

	if (!t || !buf || !len)
		return KSCHED_EINVAL;
	*buf = NULL;
	e = ksched__task_pack(t, heap_buf, buf, len);
	if (e) {
		*buf = NULL;
		*len = 0;
	}
	return e;
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
	for (size_t i = 0; i < s->n_selector; i++)
		if ((rc = ksched_task_add_selector(t, s->selector[i]->key,
						   s->selector[i]->value)))
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
	for (size_t i = 0; i < s->n_selector; i++)
		if (!s->selector[i])
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

