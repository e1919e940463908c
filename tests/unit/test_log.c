/*
 * log: key=value lines, the JSON form of them (--log-format json), level
 * and format names, and the host's own lines through ksched_log_write().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"

/* 2026-01-02T03:04:05.678Z */
#define T0 1767323045678LL

static json_t *
as_json(const char *kv)
{
	char *s = ksched__log_json(kv, T0);
	json_error_t err;
	json_t *o;

	assert_non_null(s);
	o = json_loads(s, 0, &err);
	if (!o)
		fail_msg("not JSON: %s (%s)", s, err.text);
	free(s);
	return o;
}

static void
test_log_json_fields_in_order(void **state)
{
	char *s = ksched__log_json("level=warn msg=\"worker lost\" worker=w3 "
				   "tasks=2",
				   T0);

	(void)state;
	assert_string_equal(s, "{\"ts\":\"2026-01-02T03:04:05.678Z\","
			       "\"level\":\"warn\",\"msg\":\"worker lost\","
			       "\"worker\":\"w3\",\"tasks\":2}");
	free(s);
}

static void
test_log_json_quotes_and_escapes(void **state)
{
	json_t *o = as_json("level=err msg=\"say \\\"hi\\\" to a\\\\b\" "
			    "reason=\"it \"broke\" here\" empty=\"\"");

	(void)state;
	assert_string_equal(json_string_value(json_object_get(o, "msg")),
			    "say \"hi\" to a\\b");
	/* an unescaped quote inside a value stays in it */
	assert_string_equal(json_string_value(json_object_get(o, "reason")),
			    "it \"broke\" here");
	assert_string_equal(json_string_value(json_object_get(o, "empty")), "");
	json_decref(o);
}

static void
test_log_json_numbers_only_plain_integers(void **state)
{
	json_t *o = as_json("level=info msg=x a=12 b=-3 c=007 d=1.5 e=12ab "
			    "f=99999999999999999999");

	(void)state;
	assert_int_equal(json_integer_value(json_object_get(o, "a")), 12);
	assert_int_equal(json_integer_value(json_object_get(o, "b")), -3);
	assert_true(json_is_string(json_object_get(o, "c")));
	assert_true(json_is_string(json_object_get(o, "d")));
	assert_true(json_is_string(json_object_get(o, "e")));
	assert_true(json_is_string(json_object_get(o, "f"))); /* too big */
	json_decref(o);
}

static void
test_log_json_bad_utf8_and_plain_text(void **state)
{
	json_t *o = as_json("level=notice msg=\"caf\xe9\" peer=\xff\xfe "
			    "then some words");

	(void)state;
	assert_string_equal(json_string_value(json_object_get(o, "msg")),
			    "caf?");
	assert_string_equal(json_string_value(json_object_get(o, "peer")),
			    "??");
	assert_string_equal(json_string_value(json_object_get(o, "text")),
			    "then some words");
	json_decref(o);
	o = as_json("no key value here");
	assert_true(json_is_string(json_object_get(o, "text")));
	assert_null(json_object_get(o, "msg"));
	json_decref(o);
}

static void
test_log_names_parse(void **state)
{
	enum ksched_log_level l = KSCHED_LOG_ERR;
	enum ksched_log_format f = KSCHED_LOG_TEXT;

	(void)state;
	assert_int_equal(ksched_log_level_parse("debug", &l), KSCHED_OK);
	assert_int_equal(l, KSCHED_LOG_DEBUG);
	assert_int_equal(ksched_log_level_parse("loud", &l), KSCHED_EINVAL);
	assert_int_equal(l, KSCHED_LOG_DEBUG); /* untouched */
	assert_int_equal(ksched_log_format_parse("json", &f), KSCHED_OK);
	assert_int_equal(f, KSCHED_LOG_JSON);
	assert_int_equal(ksched_log_format_parse("xml", &f), KSCHED_EINVAL);
	assert_int_equal(ksched_log_format_parse(NULL, &f), KSCHED_EINVAL);
	assert_int_equal(ksched_log_set_format((enum ksched_log_format)7),
			 KSCHED_EINVAL);
}

static char got[2048];
static int ngot;

static void
capture(void *arg, enum ksched_log_level level, const char *line)
{
	(void)arg;
	(void)level;
	snprintf(got, sizeof(got), "%s", line);
	ngot++;
}

static void
test_log_write_through_sink_and_format(void **state)
{
	json_t *o;

	(void)state;
	ksched_log_set_sink(capture, NULL, KSCHED_LOG_NOTICE);
	assert_int_equal(ksched_log_set_format(KSCHED_LOG_TEXT), KSCHED_OK);
	ksched_log_write(KSCHED_LOG_NOTICE, "msg=\"stopping\" why=%s", "TERM");
	assert_string_equal(got, "level=notice msg=\"stopping\" why=TERM");
	ksched_log_write(KSCHED_LOG_DEBUG, "msg=hidden");
	assert_int_equal(ngot, 1); /* above the level: nothing */
	assert_int_equal(ksched_log_set_format(KSCHED_LOG_JSON), KSCHED_OK);
	KLOG(KSCHED_LOG_WARN, "msg=\"from the library\" n=%d", 5);
	assert_int_equal(ngot, 2);
	o = json_loads(got, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "level")),
			    "warn");
	assert_int_equal(json_integer_value(json_object_get(o, "n")), 5);
	json_decref(o);
	assert_int_equal(ksched_log_set_format(KSCHED_LOG_TEXT), KSCHED_OK);
	ksched_log_set_sink(NULL, NULL, KSCHED_LOG_ERR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_log_json_fields_in_order),
	    cmocka_unit_test(test_log_json_quotes_and_escapes),
	    cmocka_unit_test(test_log_json_numbers_only_plain_integers),
	    cmocka_unit_test(test_log_json_bad_utf8_and_plain_text),
	    cmocka_unit_test(test_log_names_parse),
	    cmocka_unit_test(test_log_write_through_sink_and_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
