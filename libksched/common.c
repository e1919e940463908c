/* libksched - error strings, memory wrapper, version, clock. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ksched/common.h"
#include "alloc.h"

static const char *const errstr[] = {
	[KSCHED_OK] = "success",
	[KSCHED_ENOMEM] = "out of memory",
	[KSCHED_EINVAL] = "invalid argument",
	[KSCHED_ENOENT] = "not found",
	[KSCHED_ESTALE] = "stale or unknown lease token",
	[KSCHED_ESTATE] = "operation not allowed in the current state",
	[KSCHED_ENOSPC] = "storage full",
	[KSCHED_EIO] = "storage I/O error",
	[KSCHED_ECORRUPT] = "stored data is corrupt or not a libksched store",
	[KSCHED_EVERSION] = "stored data has an unsupported format version",
	[KSCHED_EEXIST] = "already exists",
	[KSCHED_EBUSY] = "busy",
	[KSCHED_ETIMEDOUT] = "timed out",
	[KSCHED_ECLOSED] = "closed",
	[KSCHED_EPROTO] = "malformed or unexpected message",
	[KSCHED_ETOOBIG] = "value too large",
	[KSCHED_EAGAIN] = "batch undone (storage map grown); retry it",
	[KSCHED_ENOTCONN] = "cannot reach the master",
};

const char *
ksched_strerror(ksched_err err)
{
	if ((unsigned)err < sizeof(errstr) / sizeof(errstr[0]) && errstr[err])
		return errstr[err];
	return "unknown error";
}

const char *
ksched_version(void)
{
#define KS_STR2(x) #x
#define KS_STR(x) KS_STR2(x)
	return KS_STR(KSCHED_VERSION_MAJOR) "." KS_STR(
		KSCHED_VERSION_MINOR) "." KS_STR(KSCHED_VERSION_PATCH);
}

int64_t
ksched_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long fail_after = -1;

static int
alloc_should_fail(void)
{
	if (fail_after < 0)
		return 0;
	if (fail_after == 0)
		return 1;
	fail_after--;
	return 0;
}

void
ksched__alloc_fail_after(long n)
{
	fail_after = n;
}

void *
ksched__malloc(size_t n)
{
	return alloc_should_fail() ? NULL : malloc(n ? n : 1);
}

void *
ksched__calloc(size_t nmemb, size_t size)
{
	return alloc_should_fail() ? NULL : calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *
ksched__realloc(void *p, size_t n)
{
	return alloc_should_fail() ? NULL : realloc(p, n ? n : 1);
}

void *
ksched__memdup(const void *p, size_t n)
{
	void *q = ksched__malloc(n);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

char *
ksched__strdup(const char *s)
{
	return ksched__memdup(s, strlen(s) + 1);
}

void
ksched__free(void *p)
{
	free(p);
}

void
ksched_free(void *p)
{
	free(p);
}
