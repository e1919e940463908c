/*
 * libksched - logging.
 *
 * The library is silent unless the host sets a sink.  Levels follow syslog.
 * Lines are key=value: level=warn msg="worker lost" worker=w3 tasks=2
 * or, with ksched_log_set_format(KSCHED_LOG_JSON), one JSON object each:
 * {"ts":"2026-01-02T03:04:05.678Z","level":"warn","msg":"worker lost",
 *  "worker":"w3","tasks":2}  (ts in UTC; integer values become numbers).
 */
#ifndef KSCHED_LOG_H
#define KSCHED_LOG_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ksched_log_level {
	KSCHED_LOG_ERR = 3,
	KSCHED_LOG_WARN = 4,
	KSCHED_LOG_NOTICE = 5,
	KSCHED_LOG_INFO = 6,
	KSCHED_LOG_DEBUG = 7,
};

enum ksched_log_format {
	KSCHED_LOG_TEXT = 0, /* key=value (the default) */
	KSCHED_LOG_JSON = 1, /* JSON lines */
};

/*
 * A log sink receives one formatted line (no trailing newline).  The line is
 * borrowed: valid only during the call.
 */
typedef void (*ksched_log_fn)(void *arg, enum ksched_log_level level,
			      const char *line);

/*
 * ksched_log_set_sink: route library log lines with level <= max_level to
 * fn(arg, ...).  fn == NULL silences the library (the default).  Not thread
 * safe with respect to concurrent logging: call it before starting work.
 */
KSCHED_API void ksched_log_set_sink(ksched_log_fn fn, void *arg,
				    enum ksched_log_level max_level);

/* ksched_log_stderr: a ready-made sink that writes lines to stderr. */
KSCHED_API void ksched_log_stderr(void *arg, enum ksched_log_level level,
				  const char *line);

/* ksched_log_level_name: "err", "warn", ... ; static string. */
KSCHED_API const char *ksched_log_level_name(enum ksched_log_level level);

/*
 * ksched_log_level_parse: "err", "warn", "notice", "info" or "debug" into
 * *out; KSCHED_EINVAL (and *out untouched) for anything else.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_log_level_parse(const char *s, enum ksched_log_level *out);

/*
 * ksched_log_set_format: the form of the lines the sink receives from now
 * on: KSCHED_LOG_TEXT (key=value, the default) or KSCHED_LOG_JSON (one JSON
 * object per line: "ts", "level", "msg", then each key=value field as a
 * member).  KSCHED_EINVAL for another value.  Set it before starting work,
 * as with ksched_log_set_sink().
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_log_set_format(enum ksched_log_format format);

/* ksched_log_format_parse: "text" or "json" into *out, else KSCHED_EINVAL. */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_log_format_parse(const char *s, enum ksched_log_format *out);

/*
 * ksched_log_write: log one line through the library's sink and format, so
 * that a host's own lines look like the library's.  fmt gives key=value
 * fields after the level (e.g. "msg=\"stopping\" why=%s"); values with
 * spaces go in double quotes.  Nothing is formatted above the sink's level.
 */
KSCHED_API void ksched_log_write(enum ksched_log_level level, const char *fmt,
				 ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_LOG_H */
