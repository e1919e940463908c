/*
 * libksched - common definitions: export marker, error codes, memory.
 *
 * Every public function returns a ksched_err (0 on success) unless it is a
 * getter or a destructor.  Error values are explicit and only ever appended.
 */
#ifndef KSCHED_COMMON_H
#define KSCHED_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KSCHED_API __attribute__((visibility("default")))
#define KSCHED_NODISCARD __attribute__((warn_unused_result))
#else
#define KSCHED_API
#define KSCHED_NODISCARD
#endif

#define KSCHED_VERSION_MAJOR 0
#define KSCHED_VERSION_MINOR 1
#define KSCHED_VERSION_PATCH 0

typedef enum ksched_err {
	KSCHED_OK = 0,
	KSCHED_ENOMEM = 1,    /* out of memory */
	KSCHED_EINVAL = 2,    /* invalid argument or task spec */
	KSCHED_ENOENT = 3,    /* no such task, key or entry */
	KSCHED_ESTALE = 4,    /* stale or unknown lease token */
	KSCHED_ESTATE = 5,    /* operation not allowed in the current state */
	KSCHED_ENOSPC = 6,    /* storage full (map limit or disk) */
	KSCHED_EIO = 7,       /* I/O error from the storage layer */
	KSCHED_ECORRUPT = 8,  /* stored data is corrupt or not ours */
	KSCHED_EVERSION = 9,  /* stored data has an unknown format version */
	KSCHED_EEXIST = 10,   /* already exists */
	KSCHED_EBUSY = 11,    /* resource busy (e.g. a batch is open) */
	KSCHED_ETIMEDOUT = 12, /* timed out */
	KSCHED_ECLOSED = 13,  /* object or connection closed */
	KSCHED_EPROTO = 14,   /* malformed or unexpected message */
	KSCHED_ETOOBIG = 15,  /* value larger than the allowed maximum */
	KSCHED_EAGAIN = 16,   /* batch undone for a passing reason: retry */
	KSCHED_ENOTCONN = 17, /* cannot reach the peer (master) */
} ksched_err;

/*
 * ksched_strerror: a static, human readable string for every error value
 * (and "unknown error" for values this version does not know).  The string
 * is owned by the library and must not be freed.
 */
KSCHED_API const char *ksched_strerror(ksched_err err);

/*
 * ksched_free: release memory that a libksched function handed to the caller
 * (documented as "free with ksched_free").  ksched_free(NULL) is a no-op.
 */
KSCHED_API void ksched_free(void *p);

/*
 * ksched_version: the library version as "MAJOR.MINOR.PATCH"; static string.
 */
KSCHED_API const char *ksched_version(void);

/*
 * ksched_now_ms: wall-clock milliseconds since the Unix epoch.  The library's
 * state machines never call it themselves: callers pass time in.
 */
KSCHED_API int64_t ksched_now_ms(void);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_COMMON_H */
