/* Internal: the task struct, shared by task.c, task_check.c, task_codec.c. */
#ifndef KSCHED_TASK_INT_H
#define KSCHED_TASK_INT_H

#include "ksched/task.h"

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
	struct ksched_label *selector; /* worker labels required */
	size_t selectorc;
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

/* The length of an env entry's name: the bytes before the first '='. */
size_t ksched__env_name_len(const char *entry);

/*
 * Pack t (protobuf TaskSpec) into the buffer fn(arg, size) returns; *len
 * gets the size.  KSCHED_ENOMEM when fn returns NULL.
 */
ksched_err ksched__task_pack(const ksched_task *t,
			     void *(*fn)(void *arg, size_t len), void *arg,
			     size_t *len);

#endif
