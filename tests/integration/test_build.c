/*
 * Build-level tests: the shared library exports only ksched_* symbols and
 * has the right soname; `make install` into a temporary prefix gives a
 * libksched.pc with which an example compiles, links and runs out of tree.
 *
 * The source tree is found from this binary's path (BUILD/tests/NAME) or
 * from $KSCHED_SRCDIR.
 */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <limits.h>
#include <sys/wait.h>

#include "../testutil.h"

static char srcdir[PATH_MAX];
static char builddir[PATH_MAX];

static int
find_dirs(void **state)
{
	char exe[PATH_MAX], tmp[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *env = getenv("KSCHED_SRCDIR");

	(void)state;
	if (n <= 0)
		return -1;
	exe[n] = 0;
	/* BUILD/tests/test_build -> BUILD */
	snprintf(tmp, sizeof(tmp), "%s", exe);
	snprintf(builddir, sizeof(builddir), "%s", dirname(dirname(tmp)));
	if (env) {
		snprintf(srcdir, sizeof(srcdir), "%s", env);
	} else {
		snprintf(tmp, sizeof(tmp), "%s", builddir);
		snprintf(srcdir, sizeof(srcdir), "%s", dirname(tmp));
	}
	snprintf(tmp, sizeof(tmp), "%s/Makefile", srcdir);
	return access(tmp, R_OK) == 0 ? 0 : -1;
}

/* Run a shell command; its output goes to out (may be NULL). */
static int
run(char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	FILE *p;
	size_t len = 0;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (out) {
		size_t r;
		while (len + 1 < outlen &&
		       (r = fread(out + len, 1, outlen - 1 - len, p)) > 0)
			len += r;
		out[len] = 0;
	}
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_build_exports_only_ksched(void **state)
{
	static char out[1 << 20];
	char *line, *save = NULL;
	int n = 0;

	(void)state;
	assert_int_equal(run(out, sizeof(out),
			     "nm -D --defined-only %s/libksched.so.0 | "
			     "awk '{print $3}'",
			     builddir),
			 0);
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "ksched_", 7) != 0 ||
		    strncmp(line, "ksched__", 8) == 0)
			fail_msg("exported symbol outside the API: %s", line);
		n++;
	}
	print_message("%d exported symbols, all ksched_*\n", n);
	assert_true(n > 50);
	assert_int_equal(run(out, sizeof(out),
			     "objdump -p %s/libksched.so.0 | grep SONAME",
			     builddir),
			 0);
	assert_non_null(strstr(out, "libksched.so.0"));
}

static void
test_build_install_and_pkg_config(void **state)
{
	char *prefix = tu_tmpdir("install");
	char out[8192];

	(void)state;
	if (run(out, sizeof(out),
		"make -s -C %s B=%s install PREFIX=%s/usr 2>&1", srcdir,
		builddir, prefix) != 0)
		fail_msg("make install failed:\n%s", out);
	/* Shared: the default link. */
	if (run(out, sizeof(out),
		"cd %s && PKG_CONFIG_PATH=%s/usr/lib/pkgconfig cc -std=c11 "
		"-Wall -Werror %s/examples/queue_demo.c -o demo $(PKG_CONFIG_PATH="
		"%s/usr/lib/pkgconfig pkg-config --cflags --libs libksched) "
		"2>&1 && LD_LIBRARY_PATH=%s/usr/lib ./demo %s/data 30 2>&1",
		prefix, prefix, srcdir, prefix, prefix, prefix) != 0)
		fail_msg("shared build or run failed:\n%s", out);
	assert_non_null(strstr(out, "tasks succeeded   30"));
	/* The demo binary really uses the installed shared library. */
	assert_int_equal(run(out, sizeof(out),
			     "cd %s && LD_LIBRARY_PATH=%s/usr/lib ldd ./demo",
			     prefix, prefix),
			 0);
	assert_non_null(strstr(out, "/usr/lib/libksched.so.0"));
	/* Static. */
	if (run(out, sizeof(out),
		"cd %s && cc -std=c11 %s/examples/queue_demo.c -o sdemo "
		"$(PKG_CONFIG_PATH=%s/usr/lib/pkgconfig pkg-config --static "
		"--cflags --libs libksched | sed 's/-lksched/-l:libksched.a/') "
		"2>&1 && ./sdemo %s/sdata 20 2>&1",
		prefix, srcdir, prefix, prefix) != 0)
		fail_msg("static build or run failed:\n%s", out);
	assert_non_null(strstr(out, "tasks succeeded   20"));
	tu_rmtree(prefix);
}

/* Every public header compiles on its own, in C11 and in C++. */
static void
test_build_headers_self_contained(void **state)
{
	char out[8192];

	(void)state;
	if (run(out, sizeof(out),
		"cd %s/include && for h in ksched.h ksched/*.h; do "
		"printf '#include <%%s>\\n' $h | cc -std=c11 -Wall -Wextra "
		"-Werror -pedantic -fsyntax-only -I. -x c - || exit 1; done 2>&1",
		srcdir) != 0)
		fail_msg("a header does not compile alone:\n%s", out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_exports_only_ksched),
		cmocka_unit_test(test_build_install_and_pkg_config),
		cmocka_unit_test(test_build_headers_self_contained),
	};
	return cmocka_run_group_tests(tests, find_dirs, NULL);
}
