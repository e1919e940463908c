/*
 * libksched - the master: one event loop that owns the scheduling core and
 * serves clients (control socket), workers (dispatch socket) and watches
 * workers by heartbeat surveys.  See docs/protocol.md for the messages.
 *
 * A master runs on the thread that calls ksched_master_run(); every other
 * function but ksched_master_stop() must be called from that thread or
 * before run.
 */
#ifndef KSCHED_MASTER_H
#define KSCHED_MASTER_H

#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ksched_master ksched_master;

#define KSCHED_CONTROL_URL "tcp://127.0.0.1:7700"
#define KSCHED_DISPATCH_URL "tcp://127.0.0.1:7701"
#define KSCHED_HEARTBEAT_URL "tcp://127.0.0.1:7702"
/* The daemon's default HTTP address (metrics, JSON API). */
#define KSCHED_HTTP_ADDR "127.0.0.1:7780"

struct ksched_master_config {
	const char *data_dir;	   /* required */
	enum ksched_sync sync;	   /* default KSCHED_SYNC_STRICT */
	const char *control_url;   /* default KSCHED_CONTROL_URL */
	const char *dispatch_url;  /* default KSCHED_DISPATCH_URL */
	const char *heartbeat_url; /* default KSCHED_HEARTBEAT_URL */
	int64_t heartbeat_ms;	   /* survey interval, default 1000 */
	int suspect_after;	   /* missed surveys to suspect, default 2 */
	int dead_after;		   /* missed surveys to dead, default 3 */
	int64_t lease_ms;	   /* lease without timeout, default 60000 */
	int64_t max_wait_ms;	   /* longest long-poll held, default 30000 */
	uint64_t seed;		   /* lease tokens, jitter; 0 = from clock */
	/* "NAME[:k=v,...]" or "PATH.so[:k=v,...]"; NULL = least_loaded */
	const char *policy;
	/* HTTP server (/metrics, /api/v1/...): "HOST:PORT" (port 0 picks a
	 * free one: see ksched_master_http_addr()); NULL or "none" = off,
	 * the default for embedding programs. */
	const char *http_addr;
};

/* ksched_master_config_init: the defaults (data_dir NULL). */
KSCHED_API void ksched_master_config_init(struct ksched_master_config *cfg);

/*
 * ksched_master_new: open the data directory and listen on the sockets.
 * On failure a message is written into err.  The strings in cfg are copied.
 * The caller owns *out (ksched_master_free()).
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_master_new(const struct ksched_master_config *cfg, ksched_master **out,
		  char *err, size_t errlen);

/*
 * ksched_master_run: serve until ksched_master_stop(), or SIGTERM/SIGINT
 * when handle_signals is true.  On stop the current turn is finished and
 * committed and the sockets are closed.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_master_run(ksched_master *m,
							 bool handle_signals);

/*
 * ksched_master_http_addr: the "HOST:PORT" the HTTP server listens on (the
 * port picked when 0 was asked), or "" when HTTP is off.  Borrowed: valid
 * until ksched_master_free().
 */
KSCHED_API const char *ksched_master_http_addr(const ksched_master *m);

/* ksched_master_stop: ask run to return; safe from any thread. */
KSCHED_API void ksched_master_stop(ksched_master *m);

/*
 * ksched_master_free: NULL is a no-op.  Must not be running.  (If nng
 * fails to close a socket in time, a known nng 1.5.2 issue, the master's
 * memory is left allocated rather than freed under nng's feet.)
 */
KSCHED_API void ksched_master_free(ksched_master *m);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_MASTER_H */
