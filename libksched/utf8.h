/* UTF-8 checks for text that came from users, workers or requests. */
#ifndef KSCHED_UTF8_H
#define KSCHED_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The length of the valid UTF-8 sequence at s (1 to 4 bytes, at most n),
 * or 0 when the bytes there are not one (overlong, surrogate, past
 * U+10FFFF, cut short, or a stray continuation byte).
 */
size_t ksched__utf8_seq(const unsigned char *s, size_t n);

/* Is the NUL-terminated s valid UTF-8? */
bool ksched__utf8_valid(const char *s);

/*
 * Cut the NUL-terminated s so it does not end inside a character: for a
 * buffer that snprintf() may have cut at a byte count.
 */
void ksched__utf8_trim(char *s);

/*
 * A copy of s (malloc'd; free() it) with every invalid byte replaced by
 * U+FFFD; NULL when out of memory.
 */
char *ksched__utf8_lossy(const char *s);

#endif
