/*
 * Internal: what the simulator's trace readers share - the workload
 * container, its string arena, an error formatter and a line reader over
 * plain or gzip files.
 */
#ifndef KSCHED_SIM_TRACE_INT_H
#define KSCHED_SIM_TRACE_INT_H

#include <stdio.h>

#include "ksched/policy.h"
#include "ksched/sim.h"
#include "u64map.h"

/* Strings live in chunks that never move, so job pointers stay valid. */
struct sim_chunk {
	struct sim_chunk *next;
	size_t used, cap;
	char data[];
};

struct sim_strings {
	struct sim_chunk *chunks;
	const char **tab; /* interned strings, open addressing */
	size_t tabcap, tabn;
};

struct ksched_sim_workload {
	const char *name;
	int64_t machines;
	size_t dropped;
	struct ksched_sim_job *jobs;
	size_t n, cap;
	struct sim_strings str;
	/* Ids for ksched_sim_workload_add, built on its first call: key id
	 * + 1 (0 marks an empty slot), so UINT64_MAX has its own flag. */
	struct u64map ids;
	bool ids_built, max_id_taken;
};

/* ksched__sim_err: format "fmt ..." into err (NUL terminated); returns
 * KSCHED_EINVAL so readers can write `return ksched__sim_err(...)`. */
__attribute__((format(printf, 3, 4))) ksched_err
ksched__sim_err(char *err, size_t errlen, const char *fmt, ...);

/* A copy of s in the arena (NULL: ""); NULL on ENOMEM. */
const char *ksched__sim_strdup(struct sim_strings *s, const char *str,
			       size_t len);
/* The one shared copy of str (users, kinds); NULL on ENOMEM. */
const char *ksched__sim_intern(struct sim_strings *s, const char *str);
void ksched__sim_strings_free(struct sim_strings *s);

/*
 * ksched__sim_put: append job to w without keeping the order (readers sort
 * once at the end with ksched__sim_finish).  Strings are copied (user and
 * kind interned); spec is taken over on success only.  KSCHED_EINVAL for
 * nodes < 1 or run_ms < 0 (with err).
 */
ksched_err ksched__sim_put(ksched_sim_workload *w,
			   const struct ksched_sim_job *job, ksched_task *spec,
			   char *err, size_t errlen);

/* ksched__sim_finish: sort by (submit, id) and refuse duplicate ids. */
ksched_err ksched__sim_finish(ksched_sim_workload *w, char *err, size_t errlen);

/* ---- reading files ------------------------------------------------------- */

struct sim_lines {
	void *gz; /* gzFile */
	char *buf;
	size_t cap;
	size_t lineno;	 /* of the line last returned, from 1 */
	ksched_err fail; /* why lines_next returned -1 */
	const char *why;
};

ksched_err ksched__sim_lines_open(struct sim_lines *l, const char *path,
				  char *err, size_t errlen);
/* The next line, without its end of line (and '\r'), in *line (borrowed,
 * valid until the next call); 1, 0 at the end, -1 on a read error. */
int ksched__sim_lines_next(struct sim_lines *l, char **line, size_t *len);
void ksched__sim_lines_close(struct sim_lines *l);
/* After lines_next returned -1: the error, with "line N: why" in err. */
ksched_err ksched__sim_lines_error(const struct sim_lines *l, char *err,
				   size_t errlen);

/* The whole file (decompressed), NUL terminated; caller frees with
 * ksched__free.  KSCHED_ETOOBIG past max bytes. */
ksched_err ksched__sim_slurp(const char *path, size_t max, char **out,
			     size_t *len, char *err, size_t errlen);

/* Numbers: the whole of s (after trimming blanks) as a double or an
 * integer; false when it is not one. */
bool ksched__sim_num(const char *s, double *out);
bool ksched__sim_int(const char *s, int64_t *out);

/* Seconds (a double) to milliseconds, rounded; false out of range. */
bool ksched__sim_sec_to_ms(double s, int64_t *ms);

/* The number of seconds >= 0 at key of the JSON object o, as ms in *ms
 * (0 when absent and not required); false when it is missing but
 * required, not a number, negative or out of range. */
struct json_t;
bool ksched__sim_json_ms(struct json_t *o, const char *key, bool required,
			 int64_t *ms);

/* A record a reader cannot simulate (why says what is wrong): counted
 * and skipped with drop_bad (KSCHED_OK), else an error naming the line. */
ksched_err ksched__sim_bad_record(ksched_sim_workload *w, bool drop_bad,
				  size_t lineno, const char *why, char *err,
				  size_t errlen);

/* The readers, called by ksched_sim_workload_load on a new workload. */
ksched_err ksched__sim_read_swf(ksched_sim_workload *w, const char *path,
				const struct ksched_sim_load_opts *o, char *err,
				size_t errlen);
ksched_err ksched__sim_read_batsim(ksched_sim_workload *w, const char *path,
				   const struct ksched_sim_load_opts *o,
				   char *err, size_t errlen);
ksched_err ksched__sim_read_openb(ksched_sim_workload *w, const char *path,
				  const struct ksched_sim_load_opts *o,
				  char *err, size_t errlen);
ksched_err ksched__sim_read_jsonl(ksched_sim_workload *w, const char *path,
				  const struct ksched_sim_load_opts *o,
				  char *err, size_t errlen);

/* CSV: split line in place at commas (no quoting: the openb files have
 * none) into at most max fields; returns the count. */
size_t ksched__sim_csv_split(char *line, char **f, size_t max);

#endif
