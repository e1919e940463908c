/*
 * Internal: the one allocation wrapper every module uses, so tests can make
 * the N-th allocation fail and walk the error paths.
 */
#ifndef KSCHED_ALLOC_H
#define KSCHED_ALLOC_H

#include <stddef.h>

void *ksched__malloc(size_t n);
void *ksched__calloc(size_t nmemb, size_t size);
void *ksched__realloc(void *p, size_t n);
char *ksched__strdup(const char *s);
void *ksched__memdup(const void *p, size_t n);
void ksched__free(void *p);

/*
 * Test hook: after `n` more successful allocations, every allocation fails
 * (n < 0 disables failure injection, the default).
 */
void ksched__alloc_fail_after(long n);

#endif
