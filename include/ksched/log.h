/*
 * libksched - logging.
 *
 * The library is silent unless the host sets a sink.  Levels follow syslog.
 * Lines are key=value: level=warn msg="worker lost" worker=w3 tasks=2
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

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_LOG_H */
