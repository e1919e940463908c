/*
 * libksched - the task model.
 *
 * A ksched_task is an opaque task spec: what to run (kind, payload, argv,
 * env, cwd), what it needs (CPU, memory, GPUs, nodes), and how to treat it
 * (priority, timeout, retries, caching, labels, not-before time, user), and
 * where it may run (a selector: worker labels it requires).
 *
 * Setters copy their inputs.  Setters never validate ranges: call
 * ksched_task_validate() before handing a spec to a queue (the queue calls
 * it too).  Getters return borrowed values, valid until the next setter call
 * on, or the free of, the task.
 */
#ifndef KSCHED_TASK_H
#define KSCHED_TASK_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ksched_task ksched_task;

/* Documented limits, checked by ksched_task_validate(). */
#define KSCHED_KIND_MAX 64		/* bytes in a kind name */
#define KSCHED_PAYLOAD_MAX (1u << 20)	/* payload bytes */
#define KSCHED_ARGV_MAX 1024		/* argv entries */
#define KSCHED_ENV_MAX 256		/* env entries */
#define KSCHED_STRINGS_MAX (256u << 10) /* bytes of argv + env + cwd */
#define KSCHED_LABELS_MAX 32		/* labels; also selector entries */
#define KSCHED_LABEL_LEN_MAX 63		/* bytes in a label key or value */
#define KSCHED_USER_MAX 64		/* bytes in a user name */
#define KSCHED_SALT_MAX 64		/* bytes in a cache salt */
#define KSCHED_PRIORITY_MIN (-1000000)
#define KSCHED_PRIORITY_MAX 1000000
#define KSCHED_CPU_MAX 1000000u		/* millicores (1000 cores) */
#define KSCHED_MEM_MAX (16u << 20)	/* MB (16 TB) */
#define KSCHED_GPUS_MAX 64u
#define KSCHED_NODES_MAX 4096u
#define KSCHED_RETRIES_MAX 100u
#define KSCHED_DURATION_MAX (30LL * 24 * 3600 * 1000) /* 30 days, in ms */

/* Kinds the reference worker knows; any other valid name is a handler. */
#define KSCHED_KIND_EXEC "exec"
#define KSCHED_KIND_SIM "sim"

/* Version salt mixed into every cache key; bumped when results change. */
#define KSCHED_CACHE_KEY_VERSION 1u

/* A 128-bit cache key (XXH3-128 of the task's canonical encoding). */
struct ksched_key {
	uint8_t bytes[16];
};

/*
 * ksched_task_new: a new spec with defaults: kind "exec", priority 0,
 * cpu 1000 millicores, mem 0, gpus 0, nodes 1, no timeout, 0 retries,
 * backoff base 1000 ms and max 60000 ms, caching on with no TTL, not-before
 * 0 (now).  The caller owns *out and frees it with ksched_task_free().
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_task_new(ksched_task **out);

/* ksched_task_free: free a spec; NULL is a no-op. */
KSCHED_API void ksched_task_free(ksched_task *t);

/* ksched_task_dup: deep copy; the caller owns *out. */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_task_dup(const ksched_task *t,
						       ksched_task **out);

/* --- setters (inputs are copied) --- */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_task_set_kind(ksched_task *t,
							    const char *kind);
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_task_set_payload(ksched_task *t, const void *data, size_t len);
/* argv: argc strings; replaces any previous argv. */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_task_set_argv(ksched_task *t, size_t argc, const char *const *argv);
/* env entries are "NAME=VALUE"; appended in order. */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_task_add_env(ksched_task *t,
							   const char *entry);
KSCHED_API KSCHED_NODISCARD ksched_err ksched_task_set_cwd(ksched_task *t,
							   const char *cwd);
KSCHED_API KSCHED_NODISCARD ksched_err ksched_task_add_label(ksched_task *t,
							     const char *key,
							     const char *value);
/*
 * ksched_task_add_selector: require the worker label key=value (appended;
 * a task is placed only on workers whose labels hold every selector entry
 * with an equal value).  Keys follow the label rules (ksched_task_validate()
 * checks them and rejects a key given twice).
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_task_add_selector(ksched_task *t, const char *key, const char *value);
KSCHED_API KSCHED_NODISCARD ksched_err ksched_task_set_user(ksched_task *t,
							    const char *user);
KSCHED_API KSCHED_NODISCARD ksched_err ksched_task_set_salt(ksched_task *t,
							    const char *salt);
KSCHED_API void ksched_task_set_id(ksched_task *t, uint64_t id);
KSCHED_API void ksched_task_set_priority(ksched_task *t, int32_t priority);
KSCHED_API void ksched_task_set_resources(ksched_task *t, int64_t cpu_milli,
					  int64_t mem_mb, int64_t gpus);
KSCHED_API void ksched_task_set_nodes(ksched_task *t, int64_t nodes);
KSCHED_API void ksched_task_set_timeout_ms(ksched_task *t, int64_t ms);
KSCHED_API void ksched_task_set_retry(ksched_task *t, int64_t retries,
				      int64_t backoff_base_ms,
				      int64_t backoff_max_ms);
/* ttl_ms 0 = cached without expiry; no_cache = never read nor write cache. */
KSCHED_API void ksched_task_set_cache(ksched_task *t, bool no_cache,
				      int64_t ttl_ms);
KSCHED_API void ksched_task_set_not_before(ksched_task *t, int64_t ms);
KSCHED_API void ksched_task_set_est_runtime_ms(ksched_task *t, int64_t ms);

/* --- getters (borrowed results, see the header comment) --- */
KSCHED_API uint64_t ksched_task_id(const ksched_task *t);
KSCHED_API const char *ksched_task_kind(const ksched_task *t);
KSCHED_API const void *ksched_task_payload(const ksched_task *t, size_t *len);
KSCHED_API size_t ksched_task_argc(const ksched_task *t);
KSCHED_API const char *ksched_task_arg(const ksched_task *t, size_t i);
KSCHED_API size_t ksched_task_envc(const ksched_task *t);
KSCHED_API const char *ksched_task_env(const ksched_task *t, size_t i);
KSCHED_API const char *ksched_task_cwd(const ksched_task *t); /* or NULL */
KSCHED_API size_t ksched_task_labelc(const ksched_task *t);
KSCHED_API const char *ksched_task_label_key(const ksched_task *t, size_t i);
KSCHED_API const char *ksched_task_label_value(const ksched_task *t,
					       size_t i);
/* ksched_task_label: the value of label key, or NULL. */
KSCHED_API const char *ksched_task_label(const ksched_task *t,
					 const char *key);
/* The selector entries in order; key and value are NULL out of range. */
KSCHED_API size_t ksched_task_selectorc(const ksched_task *t);
KSCHED_API const char *ksched_task_selector_key(const ksched_task *t,
						size_t i);
KSCHED_API const char *ksched_task_selector_value(const ksched_task *t,
						  size_t i);
KSCHED_API const char *ksched_task_user(const ksched_task *t); /* or "" */
KSCHED_API const char *ksched_task_salt(const ksched_task *t); /* or "" */
KSCHED_API int32_t ksched_task_priority(const ksched_task *t);
KSCHED_API int64_t ksched_task_cpu_milli(const ksched_task *t);
KSCHED_API int64_t ksched_task_mem_mb(const ksched_task *t);
KSCHED_API int64_t ksched_task_gpus(const ksched_task *t);
KSCHED_API int64_t ksched_task_nodes(const ksched_task *t);
KSCHED_API int64_t ksched_task_timeout_ms(const ksched_task *t);
KSCHED_API int64_t ksched_task_retries(const ksched_task *t);
KSCHED_API int64_t ksched_task_backoff_base_ms(const ksched_task *t);
KSCHED_API int64_t ksched_task_backoff_max_ms(const ksched_task *t);
KSCHED_API bool ksched_task_no_cache(const ksched_task *t);
KSCHED_API int64_t ksched_task_cache_ttl_ms(const ksched_task *t);
KSCHED_API int64_t ksched_task_not_before(const ksched_task *t);
KSCHED_API int64_t ksched_task_est_runtime_ms(const ksched_task *t);

/*
 * ksched_task_validate: check every field against the documented limits.
 * On failure returns KSCHED_EINVAL and, if err is not NULL, writes a message
 * naming the field, the rule and the value, e.g.
 *   task spec: field 'cpu' must be <= 1000000 (got 5000000)
 * into err (always NUL terminated, truncated to errlen).
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_task_validate(
	const ksched_task *t, char *err, size_t errlen);

/*
 * ksched_task_cache_key: XXH3-128 of a canonical encoding of what decides
 * the result: KSCHED_CACHE_KEY_VERSION, kind, payload, argv, env (sorted by
 * name), cwd and salt.  Never the id, priority, resources, labels,
 * selector or user (where a task runs does not change its result).
 */
KSCHED_API void ksched_task_cache_key(const ksched_task *t,
				      struct ksched_key *out);

/*
 * ksched_key_to_hex: write 32 lowercase hex digits and a NUL into hex.
 * ksched_key_from_hex: parse them back; KSCHED_EINVAL on a bad string.
 */
KSCHED_API void ksched_key_to_hex(const struct ksched_key *key, char hex[33]);
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_key_from_hex(const char *hex, struct ksched_key *out);

/*
 * ksched_task_encode: serialise the whole spec (protobuf, message TaskSpec
 * of libksched/proto/ksched.proto).  *buf is the caller's, free it with
 * ksched_free().
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_task_encode(const ksched_task *t, void **buf, size_t *len);

/*
 * ksched_task_decode: parse what ksched_task_encode() produced.  Strict:
 * malformed bytes give KSCHED_EPROTO; a decoded spec is not validated (call
 * ksched_task_validate()).  The caller owns *out.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_task_decode(const void *buf, size_t len, ksched_task **out);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_TASK_H */
