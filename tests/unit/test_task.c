/* Unit tests for the task model (libksched/task.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "ksched/task.h"
#include "alloc.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const good_argv[] = {"/bin/echo", "hello", "world"};

static ksched_task *
new_task(void)
{
	ksched_task *t = NULL;

	assert_int_equal(ksched_task_new(&t), KSCHED_OK);
	assert_non_null(t);
	return t;
}

/* A valid spec with every field set to a non-default value. */
static ksched_task *
full_task(void)
{
	ksched_task *t = new_task();
	static const uint8_t payload[] = {0, 1, 2, 0xff, 'x'};

	assert_int_equal(ksched_task_set_kind(t, "exec"), KSCHED_OK);
	assert_int_equal(ksched_task_set_payload(t, payload, sizeof(payload)),
			 KSCHED_OK);
	assert_int_equal(ksched_task_set_argv(t, 3, good_argv), KSCHED_OK);
	assert_int_equal(ksched_task_add_env(t, "PATH=/usr/bin"), KSCHED_OK);
	assert_int_equal(ksched_task_add_env(t, "HOME=/root"), KSCHED_OK);
	assert_int_equal(ksched_task_set_cwd(t, "/tmp"), KSCHED_OK);
	assert_int_equal(ksched_task_add_label(t, "team", "infra"), KSCHED_OK);
	assert_int_equal(ksched_task_add_label(t, "app.io/tier", "batch"),
			 KSCHED_OK);
	assert_int_equal(ksched_task_add_selector(t, "zone", "eu-1"),
			 KSCHED_OK);
	assert_int_equal(ksched_task_add_selector(t, "gpu.io/model", "a100"),
			 KSCHED_OK);
	assert_int_equal(ksched_task_set_user(t, "alice"), KSCHED_OK);
	assert_int_equal(ksched_task_set_salt(t, "v2"), KSCHED_OK);
	ksched_task_set_id(t, 0x1122334455667788ull);
	ksched_task_set_priority(t, -42);
	ksched_task_set_resources(t, 2500, 4096, 2);
	ksched_task_set_nodes(t, 3);
	ksched_task_set_timeout_ms(t, 90000);
	ksched_task_set_retry(t, 5, 200, 8000);
	ksched_task_set_cache(t, true, 3600000);
	ksched_task_set_not_before(t, 1700000000000LL);
	ksched_task_set_est_runtime_ms(t, 12345);
	return t;
}

static void
assert_tasks_equal(const ksched_task *a, const ksched_task *b)
{
	size_t la, lb;
	const void *pa = ksched_task_payload(a, &la);
	const void *pb = ksched_task_payload(b, &lb);

	assert_int_equal(ksched_task_id(a), ksched_task_id(b));
	assert_string_equal(ksched_task_kind(a), ksched_task_kind(b));
	assert_int_equal(la, lb);
	if (la)
		assert_memory_equal(pa, pb, la);
	assert_int_equal(ksched_task_argc(a), ksched_task_argc(b));
	for (size_t i = 0; i < ksched_task_argc(a); i++)
		assert_string_equal(ksched_task_arg(a, i),
				    ksched_task_arg(b, i));
	assert_int_equal(ksched_task_envc(a), ksched_task_envc(b));
	for (size_t i = 0; i < ksched_task_envc(a); i++)
		assert_string_equal(ksched_task_env(a, i),
				    ksched_task_env(b, i));
	if (ksched_task_cwd(a))
		assert_string_equal(ksched_task_cwd(a), ksched_task_cwd(b));
	else
		assert_null(ksched_task_cwd(b));
	assert_int_equal(ksched_task_labelc(a), ksched_task_labelc(b));
	for (size_t i = 0; i < ksched_task_labelc(a); i++) {
		assert_string_equal(ksched_task_label_key(a, i),
				    ksched_task_label_key(b, i));
		assert_string_equal(ksched_task_label_value(a, i),
				    ksched_task_label_value(b, i));
	}
	assert_int_equal(ksched_task_selectorc(a), ksched_task_selectorc(b));
	for (size_t i = 0; i < ksched_task_selectorc(a); i++) {
		assert_string_equal(ksched_task_selector_key(a, i),
				    ksched_task_selector_key(b, i));
		assert_string_equal(ksched_task_selector_value(a, i),
				    ksched_task_selector_value(b, i));
	}
	assert_string_equal(ksched_task_user(a), ksched_task_user(b));
	assert_string_equal(ksched_task_salt(a), ksched_task_salt(b));
	assert_int_equal(ksched_task_priority(a), ksched_task_priority(b));
	assert_int_equal(ksched_task_cpu_milli(a), ksched_task_cpu_milli(b));
	assert_int_equal(ksched_task_mem_mb(a), ksched_task_mem_mb(b));
	assert_int_equal(ksched_task_gpus(a), ksched_task_gpus(b));
	assert_int_equal(ksched_task_nodes(a), ksched_task_nodes(b));
	assert_int_equal(ksched_task_timeout_ms(a), ksched_task_timeout_ms(b));
	assert_int_equal(ksched_task_retries(a), ksched_task_retries(b));
	assert_int_equal(ksched_task_backoff_base_ms(a),
			 ksched_task_backoff_base_ms(b));
	assert_int_equal(ksched_task_backoff_max_ms(a),
			 ksched_task_backoff_max_ms(b));
	assert_int_equal(ksched_task_no_cache(a), ksched_task_no_cache(b));
	assert_int_equal(ksched_task_cache_ttl_ms(a),
			 ksched_task_cache_ttl_ms(b));
	assert_int_equal(ksched_task_not_before(a), ksched_task_not_before(b));
	assert_int_equal(ksched_task_est_runtime_ms(a),
			 ksched_task_est_runtime_ms(b));
}

/* --- lifecycle, setters, getters ------------------------------------------ */

static void
test_task_defaults(void **state)
{
	ksched_task *t = new_task();
	size_t len = 99;

	(void)state;
	assert_int_equal(ksched_task_id(t), 0);
	assert_string_equal(ksched_task_kind(t), "exec");
	assert_null(ksched_task_payload(t, &len));
	assert_int_equal(len, 0);
	assert_int_equal(ksched_task_argc(t), 0);
	assert_int_equal(ksched_task_envc(t), 0);
	assert_null(ksched_task_cwd(t));
	assert_int_equal(ksched_task_labelc(t), 0);
	assert_int_equal(ksched_task_selectorc(t), 0);
	assert_string_equal(ksched_task_user(t), "");
	assert_string_equal(ksched_task_salt(t), "");
	assert_int_equal(ksched_task_priority(t), 0);
	assert_int_equal(ksched_task_cpu_milli(t), 1000);
	assert_int_equal(ksched_task_mem_mb(t), 0);
	assert_int_equal(ksched_task_gpus(t), 0);
	assert_int_equal(ksched_task_nodes(t), 1);
	assert_int_equal(ksched_task_timeout_ms(t), 0);
	assert_int_equal(ksched_task_retries(t), 0);
	assert_int_equal(ksched_task_backoff_base_ms(t), 1000);
	assert_int_equal(ksched_task_backoff_max_ms(t), 60000);
	assert_false(ksched_task_no_cache(t));
	assert_int_equal(ksched_task_cache_ttl_ms(t), 0);
	assert_int_equal(ksched_task_not_before(t), 0);
	assert_int_equal(ksched_task_est_runtime_ms(t), 0);
	ksched_task_free(t);
	ksched_task_free(NULL);
}

static void
test_task_setters_getters_round_trip(void **state)
{
	ksched_task *t = full_task();
	size_t len;
	const uint8_t *p = ksched_task_payload(t, &len);

	(void)state;
	assert_int_equal(ksched_task_id(t), 0x1122334455667788ull);
	assert_string_equal(ksched_task_kind(t), "exec");
	assert_int_equal(len, 5);
	assert_memory_equal(p, "\0\1\2\xffx", 5);
	assert_int_equal(ksched_task_argc(t), 3);
	assert_string_equal(ksched_task_arg(t, 0), "/bin/echo");
	assert_string_equal(ksched_task_arg(t, 2), "world");
	assert_int_equal(ksched_task_envc(t), 2);
	assert_string_equal(ksched_task_env(t, 0), "PATH=/usr/bin");
	assert_string_equal(ksched_task_env(t, 1), "HOME=/root");
	assert_string_equal(ksched_task_cwd(t), "/tmp");
	assert_int_equal(ksched_task_labelc(t), 2);
	assert_string_equal(ksched_task_label_key(t, 1), "app.io/tier");
	assert_string_equal(ksched_task_label_value(t, 1), "batch");
	assert_string_equal(ksched_task_label(t, "team"), "infra");
	assert_null(ksched_task_label(t, "nope"));
	assert_int_equal(ksched_task_selectorc(t), 2);
	assert_string_equal(ksched_task_selector_key(t, 0), "zone");
	assert_string_equal(ksched_task_selector_value(t, 0), "eu-1");
	assert_string_equal(ksched_task_selector_key(t, 1), "gpu.io/model");
	assert_string_equal(ksched_task_selector_value(t, 1), "a100");
	assert_string_equal(ksched_task_user(t), "alice");
	assert_string_equal(ksched_task_salt(t), "v2");
	assert_int_equal(ksched_task_priority(t), -42);
	assert_int_equal(ksched_task_cpu_milli(t), 2500);
	assert_int_equal(ksched_task_mem_mb(t), 4096);
	assert_int_equal(ksched_task_gpus(t), 2);
	assert_int_equal(ksched_task_nodes(t), 3);
	assert_int_equal(ksched_task_timeout_ms(t), 90000);
	assert_int_equal(ksched_task_retries(t), 5);
	assert_int_equal(ksched_task_backoff_base_ms(t), 200);
	assert_int_equal(ksched_task_backoff_max_ms(t), 8000);
	assert_true(ksched_task_no_cache(t));
	assert_int_equal(ksched_task_cache_ttl_ms(t), 3600000);
	assert_int_equal(ksched_task_not_before(t), 1700000000000LL);
	assert_int_equal(ksched_task_est_runtime_ms(t), 12345);
	ksched_task_free(t);
}

static void
test_task_setters_copy_and_replace(void **state)
{
	ksched_task *t = new_task();
	char buf[16] = "mutable";
	const char *argv[] = {buf};
	size_t len;

	(void)state;
	assert_int_equal(ksched_task_set_kind(t, buf), KSCHED_OK);
	assert_int_equal(ksched_task_set_argv(t, 1, argv), KSCHED_OK);
	assert_int_equal(ksched_task_set_cwd(t, buf), KSCHED_OK);
	assert_int_equal(ksched_task_set_payload(t, buf, 4), KSCHED_OK);
	assert_int_equal(ksched_task_add_selector(t, buf, buf), KSCHED_OK);
	strcpy(buf, "changed");
	assert_string_equal(ksched_task_selector_key(t, 0), "mutable");
	assert_string_equal(ksched_task_selector_value(t, 0), "mutable");
	assert_string_equal(ksched_task_kind(t), "mutable");
	assert_string_equal(ksched_task_arg(t, 0), "mutable");
	assert_string_equal(ksched_task_cwd(t), "mutable");
	assert_memory_equal(ksched_task_payload(t, &len), "muta", 4);
	/* replacing and clearing */
	assert_int_equal(ksched_task_set_argv(t, 3, good_argv), KSCHED_OK);
	assert_int_equal(ksched_task_argc(t), 3);
	assert_int_equal(ksched_task_set_argv(t, 0, NULL), KSCHED_OK);
	assert_int_equal(ksched_task_argc(t), 0);
	assert_int_equal(ksched_task_set_cwd(t, NULL), KSCHED_OK);
	assert_null(ksched_task_cwd(t));
	assert_int_equal(ksched_task_set_user(t, "bob"), KSCHED_OK);
	assert_int_equal(ksched_task_set_user(t, NULL), KSCHED_OK);
	assert_string_equal(ksched_task_user(t), "");
	assert_int_equal(ksched_task_set_payload(t, NULL, 0), KSCHED_OK);
	assert_null(ksched_task_payload(t, &len));
	assert_int_equal(len, 0);
	/* a setter may be given the task's own value */
	assert_int_equal(ksched_task_set_kind(t, ksched_task_kind(t)),
			 KSCHED_OK);
	assert_string_equal(ksched_task_kind(t), "mutable");
	ksched_task_free(t);
}

static void
test_task_setters_reject_null(void **state)
{
	ksched_task *t = new_task();
	const char *argv[] = {"a", NULL};

	(void)state;
	assert_int_equal(ksched_task_new(NULL), KSCHED_EINVAL);
	assert_int_equal(ksched_task_set_kind(t, NULL), KSCHED_EINVAL);
	assert_int_equal(ksched_task_set_kind(NULL, "x"), KSCHED_EINVAL);
	assert_int_equal(ksched_task_set_payload(t, NULL, 3), KSCHED_EINVAL);
	assert_int_equal(ksched_task_set_argv(t, 2, argv), KSCHED_EINVAL);
	assert_int_equal(ksched_task_set_argv(t, 1, NULL), KSCHED_EINVAL);
	assert_int_equal(ksched_task_add_env(t, NULL), KSCHED_EINVAL);
	assert_int_equal(ksched_task_add_label(t, "k", NULL), KSCHED_EINVAL);
	assert_int_equal(ksched_task_add_label(t, NULL, "v"), KSCHED_EINVAL);
	assert_int_equal(ksched_task_add_selector(t, "k", NULL), KSCHED_EINVAL);
	assert_int_equal(ksched_task_add_selector(t, NULL, "v"), KSCHED_EINVAL);
	assert_int_equal(ksched_task_add_selector(NULL, "k", "v"),
			 KSCHED_EINVAL);
	assert_int_equal(ksched_task_selectorc(t), 0);
	assert_string_equal(ksched_task_kind(t), "exec");
	assert_int_equal(ksched_task_argc(t), 0);
	assert_int_equal(ksched_task_labelc(t), 0);
	ksched_task_free(t);
}

static void
test_task_index_getters_out_of_range(void **state)
{
	ksched_task *t = full_task();

	(void)state;
	assert_null(ksched_task_arg(t, 3));
	assert_null(ksched_task_arg(t, SIZE_MAX));
	assert_null(ksched_task_env(t, 2));
	assert_null(ksched_task_label_key(t, 2));
	assert_null(ksched_task_label_value(t, 2));
	assert_null(ksched_task_label(t, NULL));
	assert_null(ksched_task_selector_key(t, 2));
	assert_null(ksched_task_selector_value(t, 2));
	assert_null(ksched_task_selector_key(t, SIZE_MAX));
	ksched_task_free(t);
}

static void
test_task_dup_is_independent(void **state)
{
	ksched_task *t = full_task(), *d = NULL;

	(void)state;
	assert_int_equal(ksched_task_dup(t, &d), KSCHED_OK);
	assert_non_null(d);
	assert_tasks_equal(t, d);
	assert_int_equal(ksched_task_set_kind(t, "sim"), KSCHED_OK);
	assert_int_equal(ksched_task_set_argv(t, 1, good_argv), KSCHED_OK);
	assert_int_equal(ksched_task_add_env(t, "X=1"), KSCHED_OK);
	assert_int_equal(ksched_task_add_label(t, "more", "x"), KSCHED_OK);
	assert_int_equal(ksched_task_add_selector(t, "more", "x"), KSCHED_OK);
	assert_int_equal(ksched_task_set_cwd(t, NULL), KSCHED_OK);
	ksched_task_set_resources(t, 1, 1, 1);
	ksched_task_free(t);
	/* d is untouched by changes to, and the free of, t */
	assert_string_equal(ksched_task_kind(d), "exec");
	assert_int_equal(ksched_task_argc(d), 3);
	assert_string_equal(ksched_task_arg(d, 1), "hello");
	assert_int_equal(ksched_task_envc(d), 2);
	assert_int_equal(ksched_task_labelc(d), 2);
	assert_int_equal(ksched_task_selectorc(d), 2);
	assert_string_equal(ksched_task_selector_value(d, 1), "a100");
	assert_string_equal(ksched_task_cwd(d), "/tmp");
	assert_int_equal(ksched_task_cpu_milli(d), 2500);
	ksched_task_free(d);
	assert_int_equal(ksched_task_dup(NULL, &d), KSCHED_EINVAL);
	assert_null(d);
}

static ksched_err
op_kind(ksched_task *t)
{
	return ksched_task_set_kind(t, "other");
}

static ksched_err
op_payload(ksched_task *t)
{
	return ksched_task_set_payload(t, "abc", 3);
}

static ksched_err
op_argv(ksched_task *t)
{
	return ksched_task_set_argv(t, 2, good_argv);
}

static ksched_err
op_env(ksched_task *t)
{
	return ksched_task_add_env(t, "NEW=1");
}

static ksched_err
op_label(ksched_task *t)
{
	return ksched_task_add_label(t, "new", "1");
}

static ksched_err
op_selector(ksched_task *t)
{
	return ksched_task_add_selector(t, "new", "1");
}

static ksched_err
op_cwd(ksched_task *t)
{
	return ksched_task_set_cwd(t, "/other");
}

static ksched_err
op_user(ksched_task *t)
{
	return ksched_task_set_user(t, "eve");
}

static ksched_err
op_salt(ksched_task *t)
{
	return ksched_task_set_salt(t, "pepper");
}

/* Every setter that allocates leaves the task unchanged on ENOMEM. */
static void
test_task_setter_failure_keeps_task(void **state)
{
	static ksched_err (*const ops[])(ksched_task *) = {
	    op_kind,  op_payload, op_argv,     op_env,
	    op_label, op_cwd,	  op_selector, op_user, op_salt,
	};
	ksched_task *t = full_task();

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
		long n;

		for (n = 0;; n++) {
			ksched_task *w = NULL;
			ksched_err rc;

			assert_int_equal(ksched_task_dup(t, &w), KSCHED_OK);
			ksched__alloc_fail_after(n);
			rc = ops[i](w);
			ksched__alloc_fail_after(-1);
			if (rc == KSCHED_ENOMEM)
				assert_tasks_equal(w, t);
			ksched_task_free(w);
			if (rc == KSCHED_OK)
				break;
			assert_int_equal(rc, KSCHED_ENOMEM);
		}
		assert_true(n >= 1); /* each op allocates at least once */
	}
	ksched_task_free(t);
}

/* --- validation ----------------------------------------------------------- */

/* Expect EINVAL with a message naming field and containing got. */
static void
expect_invalid(const ksched_task *t, const char *field, const char *got)
{
	char err[256], name[64];

	memset(err, 'x', sizeof(err));
	assert_int_equal(ksched_task_validate(t, err, sizeof(err)),
			 KSCHED_EINVAL);
	snprintf(name, sizeof(name), "task spec: field '%s' ", field);
	if (!strstr(err, name) || !strstr(err, got))
		fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err, name,
			 got);
}

static void
expect_message(const ksched_task *t, const char *msg)
{
	char err[256];

	assert_int_equal(ksched_task_validate(t, err, sizeof(err)),
			 KSCHED_EINVAL);
	assert_string_equal(err, msg);
}

static void
expect_valid(const ksched_task *t)
{
	char err[256] = "unset";

	assert_int_equal(ksched_task_validate(t, err, sizeof(err)), KSCHED_OK);
	assert_string_equal(err, "");
}

static void
test_task_validate_accepts_good_spec(void **state)
{
	ksched_task *t = full_task();
	const char *argv[] = {"x"};

	(void)state;
	expect_valid(t);
	assert_int_equal(ksched_task_validate(t, NULL, 0), KSCHED_OK);
	ksched_task_free(t);
	/* a handler kind needs no argv */
	t = new_task();
	assert_int_equal(ksched_task_set_kind(t, "sim"), KSCHED_OK);
	expect_valid(t);
	assert_int_equal(ksched_task_set_kind(t, "my-handler_2.v1"), KSCHED_OK);
	expect_valid(t);
	assert_int_equal(ksched_task_set_kind(t, "exec"), KSCHED_OK);
	assert_int_equal(ksched_task_set_argv(t, 1, argv), KSCHED_OK);
	expect_valid(t);
	ksched_task_free(t);
}

static void
test_task_validate_kind(void **state)
{
	ksched_task *t = full_task();
	char kind[KSCHED_KIND_MAX + 2];

	(void)state;
	assert_int_equal(ksched_task_set_kind(t, "Bad Kind"), KSCHED_OK);
	expect_message(t, "task spec: field 'kind' must match "
			  "[a-z][a-z0-9_.-]* (got \"Bad Kind\")");
	assert_int_equal(ksched_task_set_kind(t, ""), KSCHED_OK);
	expect_invalid(t, "kind", "must not be empty");
	assert_int_equal(ksched_task_set_kind(t, "9lives"), KSCHED_OK);
	expect_invalid(t, "kind", "(got \"9lives\")");
	assert_int_equal(ksched_task_set_kind(t, "a\"\n"), KSCHED_OK);
	expect_invalid(t, "kind", "(got \"a\\\"\\x0a\")");
	memset(kind, 'k', sizeof(kind) - 1);
	kind[KSCHED_KIND_MAX] = '\0';
	assert_int_equal(ksched_task_set_kind(t, kind), KSCHED_OK);
	assert_int_equal(ksched_task_set_argv(t, 0, NULL), KSCHED_OK);
	expect_valid(t); /* exactly the maximum */
	kind[KSCHED_KIND_MAX] = 'k';
	kind[KSCHED_KIND_MAX + 1] = '\0';
	assert_int_equal(ksched_task_set_kind(t, kind), KSCHED_OK);
	expect_message(t, "task spec: field 'kind' must be at most 64 bytes "
			  "(got 65)");
	ksched_task_free(t);
}

static void
test_task_validate_payload(void **state)
{
	ksched_task *t = full_task();
	size_t n = KSCHED_PAYLOAD_MAX + 1;
	char *p = calloc(1, n), got[64];

	(void)state;
	assert_non_null(p);
	assert_int_equal(ksched_task_set_payload(t, p, n - 1), KSCHED_OK);
	expect_valid(t);
	assert_int_equal(ksched_task_set_payload(t, p, n), KSCHED_OK);
	snprintf(got, sizeof(got), "(got %zu)", n);
	expect_invalid(t, "payload", got);
	free(p);
	ksched_task_free(t);
}

static void
test_task_validate_argv(void **state)
{
	ksched_task *t = full_task();
	const char *empty[] = {""};
	const char **many = calloc(KSCHED_ARGV_MAX + 1, sizeof(*many));

	(void)state;
	assert_int_equal(ksched_task_set_argv(t, 0, NULL), KSCHED_OK);
	expect_message(t, "task spec: field 'argv' must not be empty for "
			  "kind \"exec\"");
	assert_int_equal(ksched_task_set_argv(t, 1, empty), KSCHED_OK);
	expect_invalid(t, "argv", "non-empty");
	assert_non_null(many);
	for (size_t i = 0; i <= KSCHED_ARGV_MAX; i++)
		many[i] = "a";
	assert_int_equal(ksched_task_set_argv(t, KSCHED_ARGV_MAX, many),
			 KSCHED_OK);
	expect_valid(t);
	assert_int_equal(ksched_task_set_argv(t, KSCHED_ARGV_MAX + 1, many),
			 KSCHED_OK);
	expect_invalid(t, "argv", "at most 1024 entries (got 1025)");
	free(many);
	ksched_task_free(t);
}

static void
test_task_validate_env(void **state)
{
	static const char *const bad[] = {"NOEQUALS", "=value", ""};
	ksched_task *t;
	char got[64];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		t = full_task();
		assert_int_equal(ksched_task_add_env(t, bad[i]), KSCHED_OK);
		snprintf(got, sizeof(got),
			 "entry 2 must be NAME=VALUE with a "
			 "non-empty NAME (got \"%s\")",
			 bad[i]);
		expect_invalid(t, "env", got);
		ksched_task_free(t);
	}
	t = new_task();
	assert_int_equal(ksched_task_set_kind(t, "sim"), KSCHED_OK);
	for (int i = 0; i < KSCHED_ENV_MAX; i++)
		assert_int_equal(ksched_task_add_env(t, "A="), KSCHED_OK);
	expect_valid(t); /* an empty value is fine */
	assert_int_equal(ksched_task_add_env(t, "A=b"), KSCHED_OK);
	expect_invalid(t, "env", "(got 257)");
	ksched_task_free(t);
}

static void
test_task_validate_strings_total(void **state)
{
	ksched_task *t = full_task();
	size_t big = KSCHED_STRINGS_MAX / 2;
	char *s = malloc(big + 1), got[64];
	const char *argv[1];

	(void)state;
	assert_non_null(s);
	memset(s, 'a', big);
	s[big] = '\0';
	argv[0] = s;
	assert_int_equal(ksched_task_set_argv(t, 1, argv), KSCHED_OK);
	assert_int_equal(ksched_task_set_cwd(t, s), KSCHED_OK);
	/* 2 * big plus the two env entries of full_task() */
	snprintf(got, sizeof(got), "(got %zu)", 2 * big + 23);
	expect_invalid(t, "argv", got);
	expect_invalid(t, "argv", "'env' + 'cwd'");
	assert_int_equal(ksched_task_set_cwd(t, "/"), KSCHED_OK);
	expect_valid(t);
	free(s);
	ksched_task_free(t);
}

static void
test_task_validate_labels(void **state)
{
	ksched_task *t = full_task();
	char long_s[KSCHED_LABEL_LEN_MAX + 2], key[16];

	(void)state;
	assert_int_equal(ksched_task_add_label(t, "team", "dup"), KSCHED_OK);
	expect_invalid(t, "labels", "unique (got \"team\" twice)");
	ksched_task_free(t);

	t = full_task();
	assert_int_equal(ksched_task_add_label(t, "", "v"), KSCHED_OK);
	expect_invalid(t, "labels", "entry 2 key must not be empty");
	ksched_task_free(t);

	t = full_task();
	assert_int_equal(ksched_task_add_label(t, "bad key", "v"), KSCHED_OK);
	expect_invalid(t, "labels", "(got \"bad key\")");
	ksched_task_free(t);

	memset(long_s, 'v', sizeof(long_s) - 1);
	long_s[sizeof(long_s) - 1] = '\0';
	t = full_task();
	assert_int_equal(ksched_task_add_label(t, "k", long_s), KSCHED_OK);
	expect_invalid(t, "labels", "value must be at most 63 bytes (got 64)");
	ksched_task_free(t);

	t = full_task();
	assert_int_equal(ksched_task_add_label(t, long_s, "v"), KSCHED_OK);
	expect_invalid(t, "labels", "key must be at most 63 bytes (got 64)");
	long_s[KSCHED_LABEL_LEN_MAX] = '\0'; /* exactly the maximum */
	ksched_task_free(t);

	t = new_task();
	assert_int_equal(ksched_task_set_kind(t, "sim"), KSCHED_OK);
	assert_int_equal(ksched_task_add_label(t, long_s, long_s), KSCHED_OK);
	for (int i = 1; i < KSCHED_LABELS_MAX; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(ksched_task_add_label(t, key, ""), KSCHED_OK);
	}
	expect_valid(t);
	assert_int_equal(ksched_task_add_label(t, "last", ""), KSCHED_OK);
	expect_invalid(t, "labels", "at most 32 entries (got 33)");
	ksched_task_free(t);
}

static void
test_task_validate_selector(void **state)
{
	ksched_task *t = full_task();
	char long_s[KSCHED_LABEL_LEN_MAX + 2], key[16];

	(void)state;
	/* the same key as a label is fine: they are separate lists */
	assert_int_equal(ksched_task_add_selector(t, "team", "infra"),
			 KSCHED_OK);
	expect_valid(t);
	assert_int_equal(ksched_task_add_selector(t, "zone", "eu-2"),
			 KSCHED_OK);
	expect_message(t, "task spec: field 'selector' keys must be unique "
			  "(got \"zone\" twice)");
	ksched_task_free(t);

	t = full_task();
	assert_int_equal(ksched_task_add_selector(t, "", "v"), KSCHED_OK);
	expect_invalid(t, "selector", "entry 2 key must not be empty");
	ksched_task_free(t);

	t = full_task();
	assert_int_equal(ksched_task_add_selector(t, "bad=key", "v"),
			 KSCHED_OK);
	expect_invalid(t, "selector",
		       "entry 2 key must match [A-Za-z0-9_./-]+ "
		       "(got \"bad=key\")");
	ksched_task_free(t);

	memset(long_s, 'v', sizeof(long_s) - 1);
	long_s[sizeof(long_s) - 1] = '\0';
	t = full_task();
	assert_int_equal(ksched_task_add_selector(t, "k", long_s), KSCHED_OK);
	expect_invalid(t, "selector",
		       "value must be at most 63 bytes (got 64)");
	ksched_task_free(t);

	t = full_task();
	assert_int_equal(ksched_task_add_selector(t, long_s, "v"), KSCHED_OK);
	expect_invalid(t, "selector", "key must be at most 63 bytes (got 64)");
	long_s[KSCHED_LABEL_LEN_MAX] = '\0'; /* exactly the maximum */
	ksched_task_free(t);

	/* labels are checked first; a bad label is named, not the selector */
	t = full_task();
	assert_int_equal(ksched_task_add_label(t, "", "v"), KSCHED_OK);
	assert_int_equal(ksched_task_add_selector(t, "", "v"), KSCHED_OK);
	expect_invalid(t, "labels", "entry 2 key must not be empty");
	ksched_task_free(t);

	t = new_task();
	assert_int_equal(ksched_task_set_kind(t, "sim"), KSCHED_OK);
	assert_int_equal(ksched_task_add_selector(t, long_s, long_s),
			 KSCHED_OK);
	for (int i = 1; i < KSCHED_LABELS_MAX; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(ksched_task_add_selector(t, key, ""),
				 KSCHED_OK);
		assert_int_equal(ksched_task_add_label(t, key, ""), KSCHED_OK);
	}
	expect_valid(t); /* the limit is per list */
	assert_int_equal(ksched_task_add_selector(t, "last", ""), KSCHED_OK);
	expect_invalid(t, "selector", "at most 32 entries (got 33)");
	ksched_task_free(t);
}

static void
test_task_validate_user_salt(void **state)
{
	ksched_task *t = full_task();
	char s[KSCHED_USER_MAX + 2];

	(void)state;
	memset(s, 'u', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	assert_int_equal(ksched_task_set_user(t, s), KSCHED_OK);
	expect_message(t, "task spec: field 'user' must be at most 64 bytes "
			  "(got 65)");
	assert_int_equal(ksched_task_set_user(t, NULL), KSCHED_OK);
	assert_int_equal(ksched_task_set_salt(t, s), KSCHED_OK);
	expect_invalid(t, "salt", "(got 65)");
	s[KSCHED_SALT_MAX] = '\0';
	assert_int_equal(ksched_task_set_salt(t, s), KSCHED_OK);
	expect_valid(t);
	ksched_task_free(t);
}

static void
set_priority(ksched_task *t, int64_t v)
{
	ksched_task_set_priority(t, (int32_t)v);
}

static void
set_cpu(ksched_task *t, int64_t v)
{
	ksched_task_set_resources(t, v, 0, 0);
}

static void
set_mem(ksched_task *t, int64_t v)
{
	ksched_task_set_resources(t, 1000, v, 0);
}

static void
set_gpus(ksched_task *t, int64_t v)
{
	ksched_task_set_resources(t, 1000, 0, v);
}

static void
set_retries(ksched_task *t, int64_t v)
{
	ksched_task_set_retry(t, v, 0, 0);
}

static void
set_backoff_base(ksched_task *t, int64_t v)
{
	ksched_task_set_retry(t, 0, v, KSCHED_DURATION_MAX);
}

static void
set_backoff_max(ksched_task *t, int64_t v)
{
	ksched_task_set_retry(t, 0, 0, v);
}

static void
set_cache_ttl(ksched_task *t, int64_t v)
{
	ksched_task_set_cache(t, false, v);
}

static void
test_task_validate_numbers(void **state)
{
	const int64_t dmax = KSCHED_DURATION_MAX;
	const struct {
		const char *field;
		void (*set)(ksched_task *, int64_t);
		int64_t lo, hi;
	} r[] = {
	    {"priority", set_priority, KSCHED_PRIORITY_MIN,
	     KSCHED_PRIORITY_MAX},
	    {"cpu", set_cpu, 0, KSCHED_CPU_MAX},
	    {"mem", set_mem, 0, KSCHED_MEM_MAX},
	    {"gpus", set_gpus, 0, KSCHED_GPUS_MAX},
	    {"nodes", ksched_task_set_nodes, 1, KSCHED_NODES_MAX},
	    {"timeout", ksched_task_set_timeout_ms, 0, dmax},
	    {"retries", set_retries, 0, KSCHED_RETRIES_MAX},
	    {"backoff_base", set_backoff_base, 0, dmax},
	    {"backoff_max", set_backoff_max, 0, dmax},
	    {"cache_ttl", set_cache_ttl, 0, dmax},
	    {"not_before", ksched_task_set_not_before, 0, INT64_MAX},
	    {"est_runtime", ksched_task_set_est_runtime_ms, 0, dmax},
	};
	char got[96];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(r); i++) {
		ksched_task *t = full_task();

		r[i].set(t, r[i].lo);
		expect_valid(t);
		r[i].set(t, r[i].hi);
		expect_valid(t);
		r[i].set(t, r[i].lo - 1);
		snprintf(got, sizeof(got), "must be >= %lld (got %lld)",
			 (long long)r[i].lo, (long long)r[i].lo - 1);
		expect_invalid(t, r[i].field, got);
		if (r[i].hi < INT64_MAX) {
			r[i].set(t, r[i].hi + 1);
			snprintf(got, sizeof(got), "must be <= %lld (got %lld)",
				 (long long)r[i].hi, (long long)r[i].hi + 1);
			expect_invalid(t, r[i].field, got);
		}
		ksched_task_free(t);
	}
}

static void
test_task_validate_exact_messages(void **state)
{
	ksched_task *t = full_task();

	(void)state;
	ksched_task_set_resources(t, 5000000, 0, 0);
	expect_message(t, "task spec: field 'cpu' must be <= 1000000 "
			  "(got 5000000)");
	ksched_task_set_resources(t, -5, 0, 0);
	expect_message(t, "task spec: field 'cpu' must be >= 0 (got -5)");
	ksched_task_set_resources(t, 1000, 0, 0);
	ksched_task_set_nodes(t, 0);
	expect_message(t, "task spec: field 'nodes' must be >= 1 (got 0)");
	ksched_task_set_nodes(t, 1);
	ksched_task_set_retry(t, 1, 5000, 2000);
	expect_message(t, "task spec: field 'backoff_base' must be <= "
			  "backoff_max (2000) (got 5000)");
	ksched_task_set_retry(t, 1, 2000, 2000);
	expect_valid(t);
	ksched_task_free(t);
}

static void
test_task_validate_err_truncation(void **state)
{
	ksched_task *t = full_task();
	char err[16];

	(void)state;
	ksched_task_set_resources(t, 5000000, 0, 0);
	assert_int_equal(ksched_task_validate(t, NULL, 0), KSCHED_EINVAL);
	assert_int_equal(ksched_task_validate(t, NULL, 100), KSCHED_EINVAL);
	err[0] = 'x';
	assert_int_equal(ksched_task_validate(t, err, 0), KSCHED_EINVAL);
	assert_int_equal(err[0], 'x'); /* errlen 0: nothing written */
	memset(err, 'x', sizeof(err));
	assert_int_equal(ksched_task_validate(t, err, sizeof(err)),
			 KSCHED_EINVAL);
	assert_string_equal(err, "task spec: fiel");
	assert_int_equal(ksched_task_validate(t, err, 1), KSCHED_EINVAL);
	assert_string_equal(err, "");
	assert_int_equal(ksched_task_validate(NULL, err, sizeof(err)),
			 KSCHED_EINVAL);
	ksched_task_free(t);
}

/* --- cache key ------------------------------------------------------------ */

static struct ksched_key
key_of(const ksched_task *t)
{
	struct ksched_key k;

	memset(&k, 0, sizeof(k));
	ksched_task_cache_key(t, &k);
	return k;
}

static bool
keys_equal(const ksched_task *a, const ksched_task *b)
{
	struct ksched_key ka = key_of(a), kb = key_of(b);

	return memcmp(ka.bytes, kb.bytes, sizeof(ka.bytes)) == 0;
}

static void
test_task_cache_key_equal_specs(void **state)
{
	ksched_task *a = full_task(), *b = full_task(), *d = NULL;

	(void)state;
	assert_true(keys_equal(a, b));
	assert_int_equal(ksched_task_dup(a, &d), KSCHED_OK);
	assert_true(keys_equal(a, d));
	ksched_task_free(a);
	ksched_task_free(b);
	ksched_task_free(d);
}

static void
test_task_cache_key_ignores_non_result_fields(void **state)
{
	ksched_task *a = full_task(), *b = full_task();

	(void)state;
	ksched_task_set_id(b, 7);
	ksched_task_set_priority(b, 999);
	ksched_task_set_resources(b, 1, 2, 3);
	ksched_task_set_nodes(b, 64);
	ksched_task_set_timeout_ms(b, 1);
	ksched_task_set_retry(b, 9, 1, 2);
	ksched_task_set_cache(b, false, 5);
	ksched_task_set_not_before(b, 42);
	ksched_task_set_est_runtime_ms(b, 7);
	assert_int_equal(ksched_task_add_label(b, "extra", "label"), KSCHED_OK);
	assert_int_equal(ksched_task_set_user(b, "mallory"), KSCHED_OK);
	assert_true(keys_equal(a, b));
	ksched_task_free(a);
	ksched_task_free(b);
}

/* Where a task may run does not change its result: same key. */
static void
test_task_cache_key_ignores_selector(void **state)
{
	ksched_task *a = full_task(), *b = full_task(), *c = new_task();
	ksched_task *d = new_task();

	(void)state;
	assert_int_equal(ksched_task_add_selector(b, "zone", "us-2"),
			 KSCHED_OK);
	assert_int_equal(ksched_task_add_selector(b, "extra", "x"), KSCHED_OK);
	assert_true(keys_equal(a, b));
	/* with no selector at all versus one */
	assert_int_equal(ksched_task_add_selector(d, "zone", "eu-1"),
			 KSCHED_OK);
	assert_true(keys_equal(c, d));
	ksched_task_free(a);
	ksched_task_free(b);
	ksched_task_free(c);
	ksched_task_free(d);
}

static ksched_err
mut_kind(ksched_task *t)
{
	return ksched_task_set_kind(t, "sim");
}

static ksched_err
mut_payload(ksched_task *t)
{
	return ksched_task_set_payload(t, "\0\1\2\xffy", 5);
}

static ksched_err
mut_no_payload(ksched_task *t)
{
	return ksched_task_set_payload(t, NULL, 0);
}

static ksched_err
mut_argv(ksched_task *t)
{
	const char *argv[] = {"/bin/echo", "hello", "World"};

	return ksched_task_set_argv(t, 3, argv);
}

static ksched_err
mut_argc(ksched_task *t)
{
	return ksched_task_set_argv(t, 2, good_argv);
}

static ksched_err
mut_env_extra(ksched_task *t)
{
	return ksched_task_add_env(t, "LANG=C");
}

static ksched_err
mut_cwd(ksched_task *t)
{
	return ksched_task_set_cwd(t, "/var");
}

static ksched_err
mut_no_cwd(ksched_task *t)
{
	return ksched_task_set_cwd(t, NULL);
}

static ksched_err
mut_empty_cwd(ksched_task *t)
{
	return ksched_task_set_cwd(t, "");
}

static ksched_err
mut_salt(ksched_task *t)
{
	return ksched_task_set_salt(t, "v3");
}

static ksched_err
mut_no_salt(ksched_task *t)
{
	return ksched_task_set_salt(t, NULL);
}

static void
test_task_cache_key_changes_with_inputs(void **state)
{
	static ksched_err (*const muts[])(ksched_task *) = {
	    mut_kind,	   mut_payload,	  mut_no_payload, mut_argv,
	    mut_argc,	   mut_env_extra, mut_cwd,	  mut_no_cwd,
	    mut_empty_cwd, mut_salt,	  mut_no_salt,
	};
	ksched_task *base = full_task();

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(muts); i++) {
		ksched_task *t = full_task();

		assert_int_equal(muts[i](t), KSCHED_OK);
		if (keys_equal(base, t))
			fail_msg("mutation %zu did not change the key", i);
		ksched_task_free(t);
	}
	ksched_task_free(base);
}

static ksched_task *
task_with(size_t argc, const char *const *argv, size_t envc,
	  const char *const *env)
{
	ksched_task *t = new_task();

	assert_int_equal(ksched_task_set_argv(t, argc, argv), KSCHED_OK);
	for (size_t i = 0; i < envc; i++)
		assert_int_equal(ksched_task_add_env(t, env[i]), KSCHED_OK);
	return t;
}

static void
test_task_cache_key_argv_split(void **state)
{
	const char *ab_c[] = {"ab", "c"}, *a_bc[] = {"a", "bc"};
	const char *abc[] = {"abc"}, *abc_[] = {"abc", ""};
	ksched_task *t1 = task_with(2, ab_c, 0, NULL);
	ksched_task *t2 = task_with(2, a_bc, 0, NULL);
	ksched_task *t3 = task_with(1, abc, 0, NULL);
	ksched_task *t4 = task_with(2, abc_, 0, NULL);

	(void)state;
	assert_false(keys_equal(t1, t2));
	assert_false(keys_equal(t1, t3));
	assert_false(keys_equal(t2, t3));
	assert_false(keys_equal(t3, t4));
	ksched_task_free(t1);
	ksched_task_free(t2);
	ksched_task_free(t3);
	ksched_task_free(t4);
}

static void
test_task_cache_key_env(void **state)
{
	const char *argv[] = {"run"};
	const char *e1[] = {"B=2", "A=1", "C=3"};
	const char *e2[] = {"C=3", "A=1", "B=2"};
	const char *e3[] = {"A=1", "B=2", "C=4"};
	const char *e4[] = {"A=1", "B=2"};
	const char *e5[] = {"A=1", "B=2=", "C=3"};
	/* same name twice: their relative order is kept, and matters */
	const char *d1[] = {"X=1", "A=0", "X=2"};
	const char *d2[] = {"X=2", "A=0", "X=1"};
	const char *d3[] = {"A=0", "X=1", "X=2"};
	ksched_task *t[8] = {
	    task_with(1, argv, 3, e1), task_with(1, argv, 3, e2),
	    task_with(1, argv, 3, e3), task_with(1, argv, 2, e4),
	    task_with(1, argv, 3, e5), task_with(1, argv, 3, d1),
	    task_with(1, argv, 3, d2), task_with(1, argv, 3, d3),
	};

	(void)state;
	assert_true(keys_equal(t[0], t[1]));  /* order does not matter */
	assert_false(keys_equal(t[0], t[2])); /* a value does */
	assert_false(keys_equal(t[0], t[3])); /* so does the count */
	assert_false(keys_equal(t[0], t[4]));
	assert_false(keys_equal(t[5], t[6]));
	assert_true(keys_equal(t[5], t[7]));
	/* getters keep insertion order */
	assert_string_equal(ksched_task_env(t[0], 0), "B=2");
	assert_string_equal(ksched_task_env(t[0], 2), "C=3");
	for (size_t i = 0; i < ARRAY_LEN(t); i++)
		ksched_task_free(t[i]);
}

/* A byte string builder for the independent encoding below. */
struct bytes {
	uint8_t b[512];
	size_t n;
};

static void
b_uint(struct bytes *b, uint64_t v, size_t width)
{
	for (size_t i = 0; i < width; i++)
		b->b[b->n++] = (uint8_t)(v >> (8 * i));
}

static void
b_str(struct bytes *b, const void *s, size_t len)
{
	b_uint(b, len, 8);
	memcpy(b->b + b->n, s, len);
	b->n += len;
}

/* The key is XXH3-128 of exactly the documented canonical encoding. */
static void
test_task_cache_key_canonical_encoding(void **state)
{
	const char *argv[] = {"ab", "c"};
	/* sorted by name, not by the whole entry ('.' < '='), and stable */
	const char *env[] = {"ZED=1", "A.B=3", "AB=2", "ZED=0", "A=4"};
	ksched_task *t = task_with(2, argv, ARRAY_LEN(env), env);
	struct bytes b = {.n = 0};
	XXH128_canonical_t canon;
	struct ksched_key k;

	(void)state;
	assert_int_equal(ksched_task_set_payload(t, "\x01\x00", 2), KSCHED_OK);
	assert_int_equal(ksched_task_set_cwd(t, "/w"), KSCHED_OK);
	assert_int_equal(ksched_task_set_salt(t, "s"), KSCHED_OK);
	k = key_of(t);
	b_str(&b, "ksched-cache-key", 16);
	b_uint(&b, KSCHED_CACHE_KEY_VERSION, 4);
	b_str(&b, "exec", 4);
	b_str(&b, "\x01\x00", 2);
	b_uint(&b, 2, 8);
	b_str(&b, "ab", 2);
	b_str(&b, "c", 1);
	b_uint(&b, 5, 8);
	b_str(&b, "A=4", 3);
	b_str(&b, "A.B=3", 5);
	b_str(&b, "AB=2", 4);
	b_str(&b, "ZED=1", 5);
	b_str(&b, "ZED=0", 5);
	b_uint(&b, 1, 1);
	b_str(&b, "/w", 2);
	b_str(&b, "s", 1);
	XXH128_canonicalFromHash(&canon, XXH3_128bits(b.b, b.n));
	assert_memory_equal(k.bytes, canon.digest, 16);
	ksched_task_free(t);
}

/* --- hex ------------------------------------------------------------------ */

static void
test_task_key_hex_round_trip(void **state)
{
	struct ksched_key k, back;
	char hex[33], upper[33];

	(void)state;
	for (int i = 0; i < 16; i++)
		k.bytes[i] = (uint8_t)(i * 17 + 0x0a);
	ksched_key_to_hex(&k, hex);
	assert_string_equal(hex, "0a1b2c3d4e5f708192a3b4c5d6e7f809");
	assert_int_equal(ksched_key_from_hex(hex, &back), KSCHED_OK);
	assert_memory_equal(k.bytes, back.bytes, 16);
	for (int i = 0; i < 33; i++)
		upper[i] =
		    (char)((hex[i] >= 'a' && hex[i] <= 'f') ? hex[i] - 'a' + 'A'
							    : hex[i]);
	memset(&back, 0, sizeof(back));
	assert_int_equal(ksched_key_from_hex(upper, &back), KSCHED_OK);
	assert_memory_equal(k.bytes, back.bytes, 16);
}

static void
test_task_key_hex_rejects_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "0a1b2c3d4e5f708192a3b4c5d6e7f80",	 /* 31 */
	    "0a1b2c3d4e5f708192a3b4c5d6e7f8090", /* 33 */
	    "0a1b2c3d4e5f708192a3b4c5d6e7f80g",
	    "0a1b2c3d4e5f708192a3b4c5d6e7f80 ",
	    " 0a1b2c3d4e5f708192a3b4c5d6e7f80",
	    "0x1b2c3d4e5f708192a3b4c5d6e7f809",
	    "0a1b2c3d4e5f708192a3b4c5d6e7f8\n9",
	};
	struct ksched_key k;

	(void)state;
	memset(&k, 0x5a, sizeof(k));
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		assert_int_equal(ksched_key_from_hex(bad[i], &k),
				 KSCHED_EINVAL);
	assert_int_equal(ksched_key_from_hex(NULL, &k), KSCHED_EINVAL);
	for (int i = 0; i < 16; i++)
		assert_int_equal(k.bytes[i], 0x5a); /* untouched on error */
}

/* --- encoding ------------------------------------------------------------- */

static void
round_trip(const ksched_task *t)
{
	void *buf = NULL;
	size_t len = 0;
	ksched_task *back = NULL;

	assert_int_equal(ksched_task_encode(t, &buf, &len), KSCHED_OK);
	assert_non_null(buf);
	assert_int_equal(ksched_task_decode(buf, len, &back), KSCHED_OK);
	assert_non_null(back);
	assert_tasks_equal(t, back);
	assert_true(keys_equal(t, back));
	ksched_free(buf);
	ksched_task_free(back);
}

static void
test_task_encode_decode_round_trip(void **state)
{
	ksched_task *t = full_task();

	(void)state;
	round_trip(t);
	ksched_task_set_priority(t, INT32_MIN);
	ksched_task_set_resources(t, INT64_MIN, INT64_MAX, -1);
	ksched_task_set_id(t, UINT64_MAX);
	assert_int_equal(ksched_task_set_cwd(t, ""), KSCHED_OK);
	round_trip(t); /* an empty but present cwd stays present */
	ksched_task_free(t);
	t = new_task();
	round_trip(t); /* defaults: no cwd, no payload, no argv */
	assert_int_equal(ksched_task_set_kind(t, ""), KSCHED_OK);
	ksched_task_set_nodes(t, 0);
	ksched_task_set_resources(t, 0, 0, 0);
	ksched_task_set_retry(t, 0, 0, 0);
	round_trip(t); /* all zero: encodes to nothing at all */
	ksched_task_free(t);
}

/* Selector entries survive encoding, in order, apart from the labels. */
static void
test_task_encode_decode_selector(void **state)
{
	ksched_task *t = new_task(), *back = NULL;
	char key[16], val[16];
	void *buf = NULL;
	size_t len;

	(void)state;
	assert_int_equal(ksched_task_add_selector(t, "zone", "eu-1"),
			 KSCHED_OK);
	assert_int_equal(ksched_task_add_selector(t, "empty", ""), KSCHED_OK);
	assert_int_equal(ksched_task_encode(t, &buf, &len), KSCHED_OK);
	assert_int_equal(ksched_task_decode(buf, len, &back), KSCHED_OK);
	ksched_free(buf);
	assert_int_equal(ksched_task_selectorc(back), 2);
	assert_int_equal(ksched_task_labelc(back), 0);
	assert_string_equal(ksched_task_selector_key(back, 0), "zone");
	assert_string_equal(ksched_task_selector_value(back, 0), "eu-1");
	assert_string_equal(ksched_task_selector_key(back, 1), "empty");
	assert_string_equal(ksched_task_selector_value(back, 1), "");
	ksched_task_free(back);
	/* past the documented limit the views go on the heap */
	for (int i = 0; i < 2 * KSCHED_LABELS_MAX; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		assert_int_equal(ksched_task_add_selector(t, key, val),
				 KSCHED_OK);
		if (i % 2)
			assert_int_equal(ksched_task_add_label(t, key, val),
					 KSCHED_OK);
	}
	round_trip(t);
	for (long n = 0;; n++) {
		ksched__alloc_fail_after(n);
		ksched_err rc = ksched_task_encode(t, &buf, &len);
		ksched__alloc_fail_after(-1);
		if (rc == KSCHED_OK) {
			assert_true(n >= 3); /* 2 view arrays and the buffer */
			ksched_free(buf);
			break;
		}
		assert_int_equal(rc, KSCHED_ENOMEM);
		assert_null(buf);
	}
	ksched_task_free(t);
}

/* A selector entry of field 24 with no key nor value decodes as "" = "". */
static void
test_task_decode_selector_wire(void **state)
{
	static const uint8_t empty_entry[] = {0xc2, 0x01, 0x00};
	static const uint8_t one[] = {0xc2, 0x01, 0x06, 0x0a, 0x01,
				      'z',  0x12, 0x01, 'e'};
	static const uint8_t bad[] = {0xc2, 0x01, 0x03, 0x0a, 0x05, 'z'};
	ksched_task *t = NULL;

	(void)state;
	assert_int_equal(ksched_task_decode(empty_entry, sizeof(empty_entry),
					    &t),
			 KSCHED_OK);
	assert_int_equal(ksched_task_selectorc(t), 1);
	assert_string_equal(ksched_task_selector_key(t, 0), "");
	ksched_task_free(t);
	assert_int_equal(ksched_task_decode(one, sizeof(one), &t), KSCHED_OK);
	assert_int_equal(ksched_task_selectorc(t), 1);
	assert_string_equal(ksched_task_selector_key(t, 0), "z");
	assert_string_equal(ksched_task_selector_value(t, 0), "e");
	ksched_task_free(t);
	assert_int_equal(ksched_task_decode(bad, sizeof(bad), &t),
			 KSCHED_EPROTO);
	assert_null(t);
}

static void
test_task_decode_rejects_garbage(void **state)
{
	static const uint8_t bad_tag[] = {0xff};
	static const uint8_t short_str[] = {0x12, 0x05, 'a'};
	static const uint8_t cwd_no_flag[] = {0x32, 0x01, 'x'};
	static const uint8_t zero_tag[] = {0x00, 0x01};
	ksched_task *sentinel = new_task(), *t = sentinel;

	(void)state;
	assert_int_equal(ksched_task_decode(NULL, 0, &t), KSCHED_EPROTO);
	assert_null(t); /* *out is cleared on failure */
	ksched_task_free(sentinel);
	assert_int_equal(ksched_task_decode(bad_tag, 1, &t), KSCHED_EPROTO);
	assert_int_equal(ksched_task_decode(short_str, 3, &t), KSCHED_EPROTO);
	assert_int_equal(ksched_task_decode(cwd_no_flag, 3, &t), KSCHED_EPROTO);
	assert_int_equal(ksched_task_decode(zero_tag, 2, &t), KSCHED_EPROTO);
	assert_null(t);
	assert_int_equal(ksched_task_decode(bad_tag, 1, NULL), KSCHED_EINVAL);
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Decode must return OK or EPROTO; what decodes must be usable. */
static void
decode_any(const void *buf, size_t len)
{
	ksched_task *t = NULL;
	ksched_err rc = ksched_task_decode(buf, len, &t);
	char err[128];
	void *out;
	size_t outlen;

	if (rc != KSCHED_OK) {
		assert_int_equal(rc, KSCHED_EPROTO);
		assert_null(t);
		return;
	}
	rc = ksched_task_validate(t, err, sizeof(err));
	assert_true(rc == KSCHED_OK || rc == KSCHED_EINVAL);
	(void)key_of(t);
	assert_int_equal(ksched_task_encode(t, &out, &outlen), KSCHED_OK);
	ksched_free(out);
	ksched_task_free(t);
}

static void
test_task_decode_random_bytes(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint8_t buf[300];

	(void)state;
	for (int i = 0; i < 2000; i++) {
		size_t len = xorshift(&seed) % sizeof(buf);

		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)xorshift(&seed);
		decode_any(buf, len);
	}
}

static void
test_task_decode_truncated_and_mutated(void **state)
{
	ksched_task *t = full_task();
	uint64_t seed = 12345;
	uint8_t *buf, *m;
	size_t len;

	(void)state;
	assert_int_equal(ksched_task_encode(t, (void **)&buf, &len), KSCHED_OK);
	m = malloc(len);
	assert_non_null(m);
	for (size_t n = 0; n <= len; n++) {
		memcpy(m, buf, n); /* a fresh, exactly sized copy for ASan */
		decode_any(m, n);
	}
	for (int i = 0; i < 2000; i++) {
		memcpy(m, buf, len);
		for (int flips = 1 + (int)(xorshift(&seed) % 4); flips; flips--)
			m[xorshift(&seed) % len] = (uint8_t)xorshift(&seed);
		decode_any(m, len);
	}
	free(m);
	ksched_free(buf);
	ksched_task_free(t);
}

/* --- allocation failure --------------------------------------------------- */

/* build: the whole life of a spec; on failure frees everything. */
static ksched_err
build(ksched_task **orig, ksched_task **copy, ksched_task **dec)
{
	ksched_task *t = NULL, *d = NULL, *x = NULL;
	void *buf = NULL;
	size_t len;
	ksched_err rc;

	if ((rc = ksched_task_new(&t)) ||
	    (rc = ksched_task_set_kind(t, "exec")) ||
	    (rc = ksched_task_set_argv(t, 3, good_argv)) ||
	    (rc = ksched_task_add_env(t, "B=2")) ||
	    (rc = ksched_task_add_env(t, "A=1")) ||
	    (rc = ksched_task_add_label(t, "team", "infra")) ||
	    (rc = ksched_task_add_label(t, "tier", "batch")) ||
	    (rc = ksched_task_add_selector(t, "zone", "eu-1")) ||
	    (rc = ksched_task_add_selector(t, "disk", "ssd")) ||
	    (rc = ksched_task_set_payload(t, "payload", 7)) ||
	    (rc = ksched_task_set_cwd(t, "/tmp")) ||
	    (rc = ksched_task_set_user(t, "alice")) ||
	    (rc = ksched_task_set_salt(t, "salt")) ||
	    (rc = ksched_task_dup(t, &d)) ||
	    (rc = ksched_task_encode(d, &buf, &len)) ||
	    (rc = ksched_task_decode(buf, len, &x))) {
		assert_null(x);
		ksched_free(buf);
		ksched_task_free(d);
		ksched_task_free(t);
		return rc;
	}
	ksched_free(buf);
	*orig = t;
	*copy = d;
	*dec = x;
	return KSCHED_OK;
}

static void
test_task_alloc_failure_walk(void **state)
{
	ksched_task *t = NULL, *d = NULL, *x = NULL;
	ksched_err rc;
	long n;

	(void)state;
	for (n = 0;; n++) {
		ksched__alloc_fail_after(n);
		rc = build(&t, &d, &x);
		ksched__alloc_fail_after(-1);
		if (rc == KSCHED_OK)
			break;
		assert_int_equal(rc, KSCHED_ENOMEM);
		assert_null(t);
		assert_true(n < 10000);
	}
	assert_true(n > 20); /* the walk really went through every step */
	assert_tasks_equal(t, d);
	assert_tasks_equal(t, x);
	ksched_task_free(t);
	ksched_task_free(d);
	ksched_task_free(x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_task_defaults),
	    cmocka_unit_test(test_task_setters_getters_round_trip),
	    cmocka_unit_test(test_task_setters_copy_and_replace),
	    cmocka_unit_test(test_task_setters_reject_null),
	    cmocka_unit_test(test_task_index_getters_out_of_range),
	    cmocka_unit_test(test_task_dup_is_independent),
	    cmocka_unit_test(test_task_setter_failure_keeps_task),
	    cmocka_unit_test(test_task_validate_accepts_good_spec),
	    cmocka_unit_test(test_task_validate_kind),
	    cmocka_unit_test(test_task_validate_payload),
	    cmocka_unit_test(test_task_validate_argv),
	    cmocka_unit_test(test_task_validate_env),
	    cmocka_unit_test(test_task_validate_strings_total),
	    cmocka_unit_test(test_task_validate_labels),
	    cmocka_unit_test(test_task_validate_selector),
	    cmocka_unit_test(test_task_validate_user_salt),
	    cmocka_unit_test(test_task_validate_numbers),
	    cmocka_unit_test(test_task_validate_exact_messages),
	    cmocka_unit_test(test_task_validate_err_truncation),
	    cmocka_unit_test(test_task_cache_key_equal_specs),
	    cmocka_unit_test(test_task_cache_key_ignores_non_result_fields),
	    cmocka_unit_test(test_task_cache_key_ignores_selector),
	    cmocka_unit_test(test_task_cache_key_changes_with_inputs),
	    cmocka_unit_test(test_task_cache_key_argv_split),
	    cmocka_unit_test(test_task_cache_key_env),
	    cmocka_unit_test(test_task_cache_key_canonical_encoding),
	    cmocka_unit_test(test_task_key_hex_round_trip),
	    cmocka_unit_test(test_task_key_hex_rejects_bad),
	    cmocka_unit_test(test_task_encode_decode_round_trip),
	    cmocka_unit_test(test_task_encode_decode_selector),
	    cmocka_unit_test(test_task_decode_selector_wire),
	    cmocka_unit_test(test_task_decode_rejects_garbage),
	    cmocka_unit_test(test_task_decode_random_bytes),
	    cmocka_unit_test(test_task_decode_truncated_and_mutated),
	    cmocka_unit_test(test_task_alloc_failure_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
