/*
 * UTF-8 for text from outside: what is valid, where a cut may fall, and
 * the U+FFFD copy that jansson accepts (ksched__json_str).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http_util.h"
#include "utf8.h"

static void
test_utf8_valid(void **state)
{
	static const char *good[] = {"", "plain", "caf\xc3\xa9",
				     "\xe2\x82\xac", "\xf0\x9f\x98\x80",
				     "\xef\xbf\xbd"};
	static const char *bad[] = {
		"\xff",		    "\xe9\xe9",		/* Latin-1 */
		"\xc3",		    "a\xe2\x82",	/* cut short */
		"\x80",		    "\xc0\xaf",		/* stray, overlong */
		"\xe0\x80\xaf",	    "\xed\xa0\x80",	/* overlong, surrogate */
		"\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", /* > U+10FFFF */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(ksched__utf8_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(ksched__utf8_valid(bad[i]));
}

static void
test_utf8_trim_cuts_between_characters(void **state)
{
	char a[] = "ab\xc3", b[] = "ab\xe2\x82", c[] = "ab\xc3\xa9",
	     d[] = "ab\xf0\x9f\x98", e[] = "";

	(void)state;
	ksched__utf8_trim(a);
	ksched__utf8_trim(b);
	ksched__utf8_trim(c);
	ksched__utf8_trim(d);
	ksched__utf8_trim(e);
	assert_string_equal(a, "ab");
	assert_string_equal(b, "ab");
	assert_string_equal(c, "ab\xc3\xa9");
	assert_string_equal(d, "ab");
	assert_string_equal(e, "");
}

static void
test_utf8_lossy_and_json(void **state)
{
	char *s = ksched__utf8_lossy("a\xe9\xe9z\xc3\xa9");
	json_t *j;
	char *dump;

	(void)state;
	assert_non_null(s);
	assert_string_equal(s, "a\xef\xbf\xbd\xef\xbf\xbdz\xc3\xa9");
	free(s);
	/* jansson refuses the raw bytes; the helper does not. */
	assert_null(json_string("\xe9\xe9"));
	j = ksched__json_str("\xe9\xe9");
	assert_non_null(j);
	assert_string_equal(json_string_value(j), "\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(j);
	j = ksched__json_str(NULL);
	assert_true(json_is_null(j));
	json_decref(j);
	j = json_pack("{s:o}", "error", ksched__json_str("bad \xff byte"));
	assert_non_null(j);
	dump = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	assert_string_equal(dump, "{\"error\":\"bad \\uFFFD byte\"}");
	free(dump);
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_trim_cuts_between_characters),
		cmocka_unit_test(test_utf8_lossy_and_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
