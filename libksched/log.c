/* libksched - levelled key=value logging to a host-provided sink. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "log.h"

int ksched__log_max = -1;
static ksched_log_fn log_fn;
static void *log_arg;
static enum ksched_log_format log_format = KSCHED_LOG_TEXT;

void
ksched_log_set_sink(ksched_log_fn fn, void *arg, enum ksched_log_level max)
{
	log_fn = fn;
	log_arg = arg;
	ksched__log_max = fn ? (int)max : -1;
}

ksched_err
ksched_log_set_format(enum ksched_log_format format)
{
	if (format != KSCHED_LOG_TEXT && format != KSCHED_LOG_JSON)
		return KSCHED_EINVAL;
	log_format = format;
	return KSCHED_OK;
}

ksched_err
ksched_log_format_parse(const char *s, enum ksched_log_format *out)
{
	if (s && !strcmp(s, "text"))
		*out = KSCHED_LOG_TEXT;
	else if (s && !strcmp(s, "json"))
		*out = KSCHED_LOG_JSON;
	else
		return KSCHED_EINVAL;
	return KSCHED_OK;
}

const char *
ksched_log_level_name(enum ksched_log_level level)
{
	switch (level) {
	case KSCHED_LOG_ERR:
		return "err";
	case KSCHED_LOG_WARN:
		return "warn";
	case KSCHED_LOG_NOTICE:
		return "notice";
	case KSCHED_LOG_INFO:
		return "info";
	case KSCHED_LOG_DEBUG:
		return "debug";
	}
	return "unknown";
}

ksched_err
ksched_log_level_parse(const char *s, enum ksched_log_level *out)
{
	for (int l = KSCHED_LOG_ERR; s && l <= KSCHED_LOG_DEBUG; l++) {
		if (!strcmp(s,
			    ksched_log_level_name((enum ksched_log_level)l))) {
			*out = (enum ksched_log_level)l;
			return KSCHED_OK;
		}
	}
	return KSCHED_EINVAL;
}

void
ksched_log_stderr(void *arg, enum ksched_log_level level, const char *line)
{
	(void)arg;
	(void)level;
	fprintf(stderr, "%s\n", line);
}

/* ---- JSON lines ------------------------------------------------------- */

/*
 * A JSON string of n bytes of s; bytes that are not valid UTF-8 (a value
 * logged from a peer, say) become '?' rather than losing the field.
 */
static json_t *
json_str(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	char *copy;

	if (j || !(copy = malloc(n + 1)))
		return j;
	for (size_t i = 0; i < n; i++)
		copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	j = json_stringn(copy, n);
	free(copy);
	return j;
}

/* A value that is a plain JSON integer (no sign games, no leading 0). */
static json_t *
json_value(const char *s, size_t n)
{
	size_t i = s[0] == '-';

	if (n > i && n - i < 19 && (s[i] != '0' || n - i == 1) &&
	    strspn(s + i, "0123456789") >= n - i)
		return json_integer(strtoll(s, NULL, 10));
	return json_str(s, n);
}

/* Whether p is the end of the line or " key=" (a next field). */
static bool
field_next(const char *p)
{
	size_t n;

	if (!*p)
		return true;
	if (*p != ' ')
		return false;
	p += strspn(p, " ");
	n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789_.-");
	return !*p || (n && p[n] == '=');
}

/*
 * The value starting at p: "quoted" (with \" and \\ escapes; a quote ends
 * it only before the end or the next key=, so an unescaped quote inside a
 * message stays in it) or bare up to the next space.  Unquoted into buf;
 * returns where the value ends in p.
 */
static const char *
kv_value(const char *p, char *buf, size_t *n)
{
	*n = 0;
	if (*p != '"') {
		while (*p && *p != ' ')
			buf[(*n)++] = *p++;
		return p;
	}
	for (p++; *p; p++) {
		if (*p == '"' && field_next(p + 1))
			return p + 1;
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		buf[(*n)++] = *p;
	}
	return p;
}

/*
 * ksched__log_json: the key=value line kv as one JSON object: "ts" (UTC,
 * ISO 8601 with ms, from now_ms) first, then "level" and "msg", then the
 * other fields in their order.  Integers become numbers, the rest strings;
 * text that is not key=value goes into "text".  The caller free()s the
 * result; NULL when out of memory.
 */
char *
ksched__log_json(const char *kv, int64_t now_ms)
{
	json_t *o = json_object(), *rest = json_object();
	char *buf = malloc(strlen(kv) + 1), name[128], ts[64], *out = NULL;
	time_t secs = (time_t)(now_ms / 1000);
	const char *p = kv, *eq;
	struct tm tm;
	json_t *into;
	size_t n;

	if (!o || !rest || !buf || !gmtime_r(&secs, &tm))
		goto done;
	n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int)(now_ms % 1000));
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "level", json_null());
	json_object_set_new(o, "msg", json_null());
	for (;;) {
		while (*p == ' ')
			p++;
		eq = p + strcspn(p, "= ");
		if (!*p || *eq != '=' || eq == p) {
			/* not key=value: keep the rest of the line as text */
			if (*p)
				json_object_set_new(rest, "text",
						    json_str(p, strlen(p)));
			break;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(eq - p), p);
		p = kv_value(eq + 1, buf, &n);
		buf[n] = 0;
		into = json_is_null(json_object_get(o, name)) ? o : rest;
		json_object_set_new(into, name,
				    into == o ? json_str(buf, n)
					      : json_value(buf, n));
	}
	if (json_is_null(json_object_get(o, "msg")))
		json_object_del(o, "msg");
	json_object_update(o, rest);
	out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
				JSON_ENSURE_ASCII);
done:
	json_decref(o);
	json_decref(rest);
	free(buf);
	return out;
}

/* Hand one key=value line to the sink, made JSON if asked for. */
static void
log_emit(enum ksched_log_level level, const char *line)
{
	char *js;

	if (log_format != KSCHED_LOG_JSON) {
		log_fn(log_arg, level, line);
		return;
	}
	js = ksched__log_json(line, ksched_now_ms());
	log_fn(log_arg, level, js ? js : line);
	free(js);
}

static void
log_vf(enum ksched_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (!log_fn)
		return;
	n = snprintf(line, sizeof(line), "level=%s ",
		     ksched_log_level_name(level));
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	log_emit(level, line);
}

void
ksched__logf(enum ksched_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vf(level, fmt, ap);
	va_end(ap);
}

void
ksched_log_write(enum ksched_log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > ksched__log_max)
		return;
	va_start(ap, fmt);
	log_vf(level, fmt, ap);
	va_end(ap);
}
