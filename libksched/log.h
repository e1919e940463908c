/* Internal logging entry point. */
#ifndef KSCHED_LOG_INTERNAL_H
#define KSCHED_LOG_INTERNAL_H

#include "ksched/log.h"

extern int ksched__log_max; /* -1 when no sink is set */

void ksched__logf(enum ksched_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The key=value line kv as a JSON object (see log.c); free() it. */
char *ksched__log_json(const char *kv, int64_t now_ms);

/* The level is checked before anything is formatted. */
#define KLOG(level, ...)                                                      \
	do {                                                                  \
		if ((int)(level) <= ksched__log_max)                          \
			ksched__logf((level), __VA_ARGS__);                   \
	} while (0)

#endif
