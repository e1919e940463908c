/*
 * libksched - UTF-8 for text from outside (task stderr, worker ids, query
 * strings): jansson refuses invalid UTF-8 with a NULL, so the API turns it
 * into U+FFFD first, and cuts text only at character boundaries.
 */
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

size_t
ksched__utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xbf; /* the second byte's range */

	if (n == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* past U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

bool
ksched__utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	while (n) {
		size_t k = ksched__utf8_seq(p, n);
		if (!k)
			return false;
		p += k;
		n -= k;
	}
	return true;
}

void
ksched__utf8_trim(char *s)
{
	size_t n = strlen(s), i = n;

	/* Back to the start of the last character (at most 3 steps). */
	while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i > 0 && ((unsigned char)s[i - 1] & 0x80) &&
	    ksched__utf8_seq((unsigned char *)s + i - 1, n - i + 1) !=
		    n - i + 1)
		s[i - 1] = 0;
}

char *
ksched__utf8_lossy(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), k = 0;
	char *out = malloc(3 * n + 1); /* each bad byte grows to 3 */

	if (!out)
		return NULL;
	while (n) {
		size_t l = ksched__utf8_seq(p, n);
		if (l) {
			memcpy(out + k, p, l);
			k += l;
		} else {
			memcpy(out + k, "\xef\xbf\xbd", 3);
			k += 3;
			l = 1;
		}
		p += l;
		n -= l;
	}
	out[k] = 0;
	return out;
}
