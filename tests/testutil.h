/*
 * Shared helpers for libksched tests: temporary directories, fixed-seed
 * random numbers.  Header-only; include after the system headers.
 */
#ifndef KSCHED_TESTUTIL_H
#define KSCHED_TESTUTIL_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
tu_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fresh directory under $TMPDIR (or /tmp); the caller frees the string. */
static inline char *
tu_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *p = malloc(512);

	snprintf(p, 512, "%s/ksched-%s-XXXXXX", base ? base : "/tmp", tag);
	if (!mkdtemp(p)) {
		perror("mkdtemp");
		abort();
	}
	return p;
}

/* Remove dir and everything in it, then free the string. */
static inline void
tu_rmtree(char *dir)
{
	if (dir)
		nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* splitmix64: a small deterministic PRNG for tests. */
static inline uint64_t
tu_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Timeouts scale for sanitizer builds (KSCHED_TEST_SLOW set by run.sh). */
static inline int
tu_slow(void)
{
	return getenv("KSCHED_TEST_SLOW") ? 4 : 1;
}

#endif
