/*
 * libksched - reading workload traces: plain or gzip files line by line
 * (zlib reads both), whole files, numbers, JSON times and CSV fields.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "alloc.h"
#include "sim_trace_int.h"

/* A longer line is not a trace line: refuse it rather than eat memory. */
#define LINE_MAX_BYTES (16u << 20)

ksched_err
ksched__sim_lines_open(struct sim_lines *l, const char *path, char *err,
		       size_t errlen)
{
	memset(l, 0, sizeof(*l));
	errno = 0;
	l->gz = gzopen(path, "rb");
	if (!l->gz) {
		ksched__sim_err(err, errlen, "%s: cannot open: %s", path,
				errno ? strerror(errno) : "out of memory");
		return errno == ENOENT ? KSCHED_ENOENT : KSCHED_EIO;
	}
	gzbuffer(l->gz, 128u << 10);
	l->cap = 4096;
	l->buf = ksched__malloc(l->cap);
	if (!l->buf) {
		gzclose(l->gz);
		return KSCHED_ENOMEM;
	}
	return KSCHED_OK;
}

void
ksched__sim_lines_close(struct sim_lines *l)
{
	if (l->gz)
		gzclose(l->gz);
	ksched__free(l->buf);
	memset(l, 0, sizeof(*l));
}

/* Record why reading stopped; -1 for lines_next to return. */
static int
lines_fail(struct sim_lines *l, ksched_err e, const char *why)
{
	l->fail = e;
	l->why = why;
	return -1;
}

int
ksched__sim_lines_next(struct sim_lines *l, char **line, size_t *len)
{
	size_t n = 0, k;
	int zerr;

	for (;;) {
		if (l->cap - n < 2) {
			char *b;

			if (l->cap >= LINE_MAX_BYTES)
				return lines_fail(l, KSCHED_EINVAL,
						  "line longer than 16 MB");
			b = ksched__realloc(l->buf, l->cap * 2);
			if (!b)
				return lines_fail(l, KSCHED_ENOMEM,
						  "out of memory");
			l->buf = b;
			l->cap *= 2;
		}
		if (!gzgets(l->gz, l->buf + n, (int)(l->cap - n)))
			break;
		k = strlen(l->buf + n);
		n += k;
		if (n && l->buf[n - 1] == '\n')
			break;
		if (gzeof(l->gz))
			break;
		/* gzgets stops at a newline, a full buffer or the end: short
		 * of all three, the text held a NUL byte. */
		if (n < l->cap - 1)
			return lines_fail(l, KSCHED_EINVAL,
					  "a NUL byte: not a text file");
	}
	gzerror(l->gz, &zerr);
	if (zerr != Z_OK && zerr != Z_STREAM_END)
		return lines_fail(l, KSCHED_ECORRUPT,
				  zerr == Z_MEM_ERROR
				      ? "out of memory"
				      : "read error or corrupt gzip data");
	if (n == 0 && gzeof(l->gz))
		return 0;
	while (n && (l->buf[n - 1] == '\n' || l->buf[n - 1] == '\r'))
		n--;
	l->buf[n] = '\0';
	l->lineno++;
	*line = l->buf;
	*len = n;
	return 1;
}

ksched_err
ksched__sim_lines_error(const struct sim_lines *l, char *err, size_t errlen)
{
	ksched__sim_err(err, errlen, "line %zu: %s", l->lineno + 1, l->why);
	return l->fail;
}

ksched_err
ksched__sim_slurp(const char *path, size_t max, char **out, size_t *len,
		  char *err, size_t errlen)
{
	struct sim_lines l;
	size_t n = 0;
	ksched_err e;
	int got, zerr;

	*out = NULL;
	e = ksched__sim_lines_open(&l, path, err, errlen);
	if (e != KSCHED_OK)
		return e;
	for (;;) {
		if (l.cap - n < 2) {
			char *b = NULL;

			if (l.cap < max)
				b = ksched__realloc(l.buf, l.cap * 2);
			if (!b) {
				ksched__sim_lines_close(&l);
				ksched__sim_err(err, errlen,
						"%s: larger than %zu bytes",
						path, max);
				return l.cap < max ? KSCHED_ENOMEM
						   : KSCHED_ETOOBIG;
			}
			l.buf = b;
			l.cap *= 2;
		}
		got = gzread(l.gz, l.buf + n, (unsigned)(l.cap - n - 1));
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	gzerror(l.gz, &zerr);
	if (got < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
		ksched__sim_lines_close(&l);
		ksched__sim_err(err, errlen, "%s: read error or corrupt gzip",
				path);
		return KSCHED_ECORRUPT;
	}
	l.buf[n] = '\0';
	*out = l.buf;
	*len = n;
	l.buf = NULL;
	ksched__sim_lines_close(&l);
	return KSCHED_OK;
}

/* ---- numbers ------------------------------------------------------------- */

bool
ksched__sim_num(const char *s, double *out)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return false;
	errno = 0;
	*out = strtod(s, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	return *end == '\0' && errno != ERANGE && isfinite(*out);
}

bool
ksched__sim_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end != '\0' || errno == ERANGE)
		return false;
	*out = v;
	return true;
}

bool
ksched__sim_sec_to_ms(double s, int64_t *ms)
{
	/* Past 2^53 ms (285,000 years) a double no longer holds whole ms. */
	if (!isfinite(s) || fabs(s) * 1000 > 9007199254740992.0)
		return false;
	*ms = (int64_t)llround(s * 1000);
	return true;
}

bool
ksched__sim_json_ms(json_t *o, const char *key, bool required, int64_t *ms)
{
	json_t *v = json_object_get(o, key);

	*ms = 0;
	if (!v)
		return !required;
	return json_is_number(v) && json_number_value(v) >= 0 &&
	       ksched__sim_sec_to_ms(json_number_value(v), ms);
}

ksched_err
ksched__sim_bad_record(ksched_sim_workload *w, bool drop_bad, size_t lineno,
		       const char *why, char *err, size_t errlen)
{
	if (!drop_bad)
		return ksched__sim_err(err, errlen, "line %zu: %s", lineno,
				       why);
	w->dropped++;
	return KSCHED_OK;
}

size_t
ksched__sim_csv_split(char *line, char **f, size_t max)
{
	size_t n = 0;

	if (max == 0)
		return 0;
	f[n++] = line;
	for (char *p = line; *p; p++) {
		if (*p != ',')
			continue;
		*p = '\0';
		if (n == max)
			return n + 1; /* tells the caller there are too many */
		f[n++] = p + 1;
	}
	return n;
}
