/*
 * kschedctl - what the command files share: the parsed command line, exit
 * codes, messages, output and the progress line.  The program is
 * daemons/kschedctl.c (main and the command table) plus daemons/kschedctl/.
 */
#ifndef KSCHEDCTL_CTL_H
#define KSCHEDCTL_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "ksched/client.h"

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2, EX_CONN = 3 };

/* Everything the command line says, and the connection. */
struct ctl {
	const char *cmd;    /* the command, for messages */
	const char *url;    /* --control, or NULL */
	int64_t timeout_ms; /* --timeout, or 0 for the default */
	bool json, tty;	    /* --json; stderr is a terminal (progress) */
	bool all, wait;	    /* --all; submit --wait */
	bool once;	    /* top --once */
	const char *kind, *file, *payload, *pfile; /* --kind, submit --... */
	json_t *spec; /* submit: the task flags as a tasks-file line */
	enum ksched_state state; /* list --state, or KSCHED_STATE_COUNT */
	int64_t limit, cursor;	 /* list */
	int64_t wait_ms;	 /* wait --timeout-s, or -1 */
	int64_t interval_ms;	 /* top --interval */
	ksched_client *c;
};

/* --help's text (kschedctl.c). */
extern const char ctl_help[];

/* ---- messages and options (opts.c) ---- */

/* A usage error: message on stderr, returns EX_USAGE. */
int ctl_usage(const struct ctl *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "kschedctl: CMD: message" on stderr. */
void ctl_warn(const struct ctl *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Report a failed call (the client's message); the matching exit code. */
int ctl_fail(const struct ctl *k, ksched_err e);

bool parse_num(const struct ctl *k, const char *what, const char *s, bool secs,
	       int64_t min, int64_t max, int64_t *out);
int parse_opts(struct ctl *k, int argc, char **argv, const char *so,
	       const char *allowed);
int connect_master(struct ctl *k);
int ids_args(struct ctl *k, int argc, char **argv, int min, int max,
	     uint64_t **ids, size_t *n);
int no_args(struct ctl *k, int argc, char **argv);

/* ---- output (out.c) ---- */

/*
 * A table column: header, key in each row object, and how to show it:
 * 't' a time in ms, 'a' an age from a time in ms.  "a/b" shows both keys,
 * "a|b" the first one that is not empty.
 */
struct col {
	const char *head, *key;
	char fmt;
};

extern const struct col status_cols[];

int emit_json(json_t *j);
int emit(const struct ctl *k, json_t *j, const json_t *rows,
	 const struct col *cols);
void print_rows(const json_t *rows, const struct col *cols);
json_t *status_json(const struct ksched_task_status *s);
json_t *statuses_json(const struct ksched_task_status *s, size_t n);
bool is_failed(enum ksched_state st);
/* Below a status table: the reasons too long for its INFO column. */
void print_reasons(const struct ksched_task_status *s, size_t n);

/* ---- progress (progress.c) ---- */

/*
 * A long operation's progress on stderr: a bar redrawn in place when
 * stderr is a terminal, else a plain line now and then (and a last one if
 * any was printed, or always with long set).
 */
struct progress {
	const struct ctl *k;
	const char *what; /* "submitted", "done" */
	uint64_t total;	  /* 0 while unknown */
	uint64_t done;
	bool long_op, shown;
	int64_t last_ms;
};

void progress_start(struct progress *p, const struct ctl *k, const char *what,
		    uint64_t total, bool long_op);
void progress_update(struct progress *p, uint64_t done, uint64_t total);
void progress_end(struct progress *p);

/* ---- waiting (tasks.c) ---- */

ksched_err wait_loop(struct ctl *k, const uint64_t *ids, size_t n, bool all,
		     int64_t timeout_ms, uint64_t *remaining);
int print_results(struct ctl *k, const uint64_t *ids, size_t n, bool single);

/* ---- the commands ---- */

int cmd_submit(struct ctl *k, int argc, char **argv);
int cmd_status(struct ctl *k, int argc, char **argv);
int cmd_result(struct ctl *k, int argc, char **argv);
int cmd_wait(struct ctl *k, int argc, char **argv);
int cmd_cancel(struct ctl *k, int argc, char **argv);
int cmd_retry(struct ctl *k, int argc, char **argv);
int cmd_drain(struct ctl *k, int argc, char **argv);
int cmd_list(struct ctl *k, int argc, char **argv);
int cmd_workers(struct ctl *k, int argc, char **argv);
int cmd_stats(struct ctl *k, int argc, char **argv);
int cmd_cache(struct ctl *k, int argc, char **argv);
int cmd_top(struct ctl *k, int argc, char **argv);

#endif
