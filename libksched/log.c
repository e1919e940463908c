/* libksched - levelled key=value logging to a host-provided sink. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

int ksched__log_max = -1;
static ksched_log_fn log_fn;
static void *log_arg;

void
ksched_log_set_sink(ksched_log_fn fn, void *arg, enum ksched_log_level max)
{
	log_fn = fn;
	log_arg = arg;
	ksched__log_max = fn ? (int)max : -1;
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

void
ksched_log_stderr(void *arg, enum ksched_log_level level, const char *line)
{
	(void)arg;
	(void)level;
	fprintf(stderr, "%s\n", line);
}

void
ksched__logf(enum ksched_log_level level, const char *fmt, ...)
{
	char line[1024];
	int n;
	va_list ap;

	if (!log_fn)
		return;
	n = snprintf(line, sizeof(line), "level=%s ",
		     ksched_log_level_name(level));
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	log_fn(log_arg, level, line);
}
