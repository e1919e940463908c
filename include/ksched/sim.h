/*
 * libksched - the simulator: the scheduling core (sched) and its policies
 * driven in virtual time by simulated workers, over a workload read from a
 * trace.  What it predicts is what the master would do with the same
 * policy.  See docs/simulation.md.
 *
 * Two halves:
 *   workload  a list of jobs (arrival, run time, estimate, size, needs)
 *             read from SWF, Batsim JSON, Alibaba openb CSV or ksched JSON
 *             lines, and a cluster (nodes with capacities) parsed from a
 *             spec such as "32x(cpu=1)" or read from a nodes file;
 *   run       the discrete-event engine and its report.
 *
 * Time is virtual, in milliseconds.  Nothing here reads a clock.
 */
#ifndef KSCHED_SIM_H
#define KSCHED_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "membership.h"
#include "policy.h" /* struct ksched_label_view */
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- workloads ---------------------------------------------------------- */

enum ksched_sim_format {
	KSCHED_SIM_FORMAT_AUTO = 0, /* from the name and the first bytes */
	KSCHED_SIM_FORMAT_SWF,	    /* .swf or .swf.gz */
	KSCHED_SIM_FORMAT_BATSIM,   /* Batsim JSON workload */
	KSCHED_SIM_FORMAT_OPENB,    /* Alibaba openb pod list CSV */
	KSCHED_SIM_FORMAT_JSONL,    /* ksched task specs, one per line */
};

/* SWF: which field gives a job's size. */
enum ksched_swf_size {
	KSCHED_SWF_SIZE_ALLOCATED = 0, /* field 5 (Batsim's choice) */
	KSCHED_SWF_SIZE_REQUESTED,     /* field 8 */
	KSCHED_SWF_SIZE_MAX,	       /* the larger of both */
};

/* SWF: the walltime estimate backfilling plans with. */
enum ksched_swf_estimate {
	/* The requested time (field 9); the run time where that is missing
	 * or below the run time. */
	KSCHED_SWF_EST_REQUESTED = 0,
	/* max(2 x run time, requested time): Batsim's converter. */
	KSCHED_SWF_EST_BATSIM,
	/* The run time itself (a perfect estimate). */
	KSCHED_SWF_EST_EXACT,
};

struct ksched_sim_load_opts {
	enum ksched_sim_format format;
	enum ksched_swf_size swf_size;
	enum ksched_swf_estimate swf_estimate;
	/* SWF: drop jobs with run time <= 0, size <= 0, submit < 0 (and
	 * walltime <= run with the Batsim estimate); otherwise such a record
	 * is an error naming its line.  Default true. */
	bool drop_bad;
	/* SWF: run time rounded up to floor(run) + 1 s, as Batsim's
	 * converter does.  Default false. */
	bool batsim_delay;
	/* Read at most this many jobs; 0 for all. */
	size_t max_jobs;
};

/* One job of a workload.  Strings and spec are owned by the workload. */
struct ksched_sim_job {
	uint64_t id;	     /* unique in a workload (the trace's, if numeric,
				else the record's position from 1) */
	const char *name;    /* the trace's job id as text (jobs.csv job_id) */
	int64_t submit_ms;   /* arrival */
	int64_t run_ms;	     /* the real run time (>= 0) */
	int64_t walltime_ms; /* the estimate backfilling plans with; 0 none */
	int64_t nodes;	     /* parts on distinct workers (a gang), >= 1 */
	struct ksched_resources need; /* per part; slots is 1 */
	int32_t priority;
	const char *user;  /* "" if none */
	const char *kind;  /* "" if none */
	const ksched_task *spec; /* JSON lines: the full spec; else NULL */
};

typedef struct ksched_sim_workload ksched_sim_workload;

/* ksched_sim_load_opts_init: the defaults (auto format, allocated size,
 * requested estimate, drop_bad). */
KSCHED_API void ksched_sim_load_opts_init(struct ksched_sim_load_opts *o);

/*
 * ksched_sim_workload_load: read a trace file (plain or gzip).  opts may be
 * NULL for the defaults.  On a malformed file: KSCHED_EINVAL (or
 * KSCHED_ECORRUPT) with err naming the line (or JSON position) and the
 * field.  Jobs are sorted by (submit, id).  The caller owns *out.
 */
KSCHED_API KSCHED_NODISCARD ksched_err ksched_sim_workload_load(
	const char *path, const struct ksched_sim_load_opts *opts,
	ksched_sim_workload **out, char *err, size_t errlen);

/*
 * ksched_sim_workload_new / _add: build a workload in memory (generated
 * workloads, tests).  _add copies job (its strings, and spec with
 * ksched_task_dup()); a job whose id is taken, or with nodes < 1 or
 * run_ms < 0, is KSCHED_EINVAL.  _add keeps jobs sorted by (submit, id).
 * machines may be 0.  The caller owns *out.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sim_workload_new(const char *name, int64_t machines,
			ksched_sim_workload **out);
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sim_workload_add(ksched_sim_workload *w,
			const struct ksched_sim_job *job);

/* ksched_sim_workload_free: NULL is a no-op. */
KSCHED_API void ksched_sim_workload_free(ksched_sim_workload *w);

/* ksched_sim_workload_count: jobs in w.  ksched_sim_workload_job: job i
 * (borrowed, valid while w lives). */
KSCHED_API size_t ksched_sim_workload_count(const ksched_sim_workload *w);
KSCHED_API const struct ksched_sim_job *
ksched_sim_workload_job(const ksched_sim_workload *w, size_t i);

/* ksched_sim_workload_name: the workload's name (the file's base name
 * without extensions; Batsim's workload_name column).  Owned by w. */
KSCHED_API const char *ksched_sim_workload_name(const ksched_sim_workload *w);

/* ksched_sim_workload_dropped: records skipped by drop_bad. */
KSCHED_API size_t ksched_sim_workload_dropped(const ksched_sim_workload *w);

/* ksched_sim_workload_machines: the machine count the trace declares
 * (SWF MaxProcs, else MaxNodes; Batsim nb_res), 0 if none. */
KSCHED_API int64_t ksched_sim_workload_machines(const ksched_sim_workload *w);

/* ---- clusters ----------------------------------------------------------- */

/* The most nodes a cluster may have. */
#define KSCHED_SIM_NODES_MAX (1u << 20)

/* One simulated worker. */
struct ksched_sim_node {
	char *id;			  /* owned by the cluster */
	struct ksched_resources cap;	  /* slots >= 1 */
	struct ksched_label_view *labels; /* owned by the cluster */
	size_t nlabels;
};

typedef struct ksched_sim_cluster ksched_sim_cluster;

/*
 * ksched_sim_cluster_parse: a cluster spec: groups separated by '+', each
 * COUNTx(key=value,...), keys cpu (cores, may have a fraction), cpu_milli,
 * mem (MB), gpus, slots, and label.K=V; e.g. "32x(cpu=1)",
 * "120x(cpu=2,mem=1024)+4x(cpu=8,gpus=1)".  Nodes are named n0, n1, ...
 * in order.  A missing slots is 1 when cpu is at most one core, else the
 * core count.  KSCHED_EINVAL with err saying what is wrong.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sim_cluster_parse(const char *spec, ksched_sim_cluster **out,
			 char *err, size_t errlen);

/*
 * ksched_sim_cluster_load: a nodes file: an Alibaba openb node list CSV, or
 * lines holding cluster specs (as above; '#' starts a comment).
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sim_cluster_load(const char *path, ksched_sim_cluster **out, char *err,
			size_t errlen);

/* ksched_sim_cluster_free: NULL is a no-op. */
KSCHED_API void ksched_sim_cluster_free(ksched_sim_cluster *c);

/* ksched_sim_cluster_count / _node: the nodes (borrowed). */
KSCHED_API size_t ksched_sim_cluster_count(const ksched_sim_cluster *c);
KSCHED_API const struct ksched_sim_node *
ksched_sim_cluster_node(const ksched_sim_cluster *c, size_t i);

/* ---- runs: see the engine's part below ---------------------------------- */

#include <stdio.h> /* FILE, for the outputs below */

/*
 * A run replays a workload on a cluster with one policy, in virtual time:
 * events at the same time form one batch (job ends, then worker deaths and
 * repairs, then arrivals; ties by job or node id), and the scheduling core
 * (include/ksched/sched.h) is driven once per batch: completions, submits,
 * tick, then one dispatch over every worker with a free slot.  The core
 * keeps its state in a private LMDB store in a temporary directory,
 * removed at the end.  The result is a function of the inputs only.
 */

/* A worker death at a given virtual time. */
struct ksched_sim_failure {
	int64_t at_ms;
	uint32_t node; /* index in the cluster */
};

struct ksched_sim_opts {
	/* "NAME[:k=v,...]" or "PATH.so[:k=v,...]" (ksched_policy_load()).
	 * NULL: "fcfs". */
	const char *policy;
	/* Kill a job whose run time exceeds its walltime at start +
	 * walltime (success 0), as Batsim does.  Default true. */
	bool kill_at_walltime;
	/* Ready tasks the policy sees per dispatch: 0 decides from the
	 * policy (the whole queue for fcfs, sjf, easy, conservative and
	 * plugins; 64 + 8 per free slot for the placement built-ins);
	 * otherwise at least this many (ksched_sched_config.scan_min). */
	size_t scan;
	/* Worker deaths at given times (copied by the run). */
	const struct ksched_sim_failure *failures;
	size_t nfailures;
	/* Random worker deaths: this many per hour over the cluster (a
	 * Poisson process; the node is drawn uniformly among the live ones),
	 * from seed.  0: none; at most KSCHED_SIM_FAIL_RATE_MAX. */
	double fail_rate;
	uint64_t seed;
	/* A dead worker joins again after this long; 0: never. */
	int64_t repair_ms;
	/* Keep the queue length and busy slots after each batch, for
	 * ksched_sim_plot_svg().  Default false. */
	bool timeline;
	/* Directory for the run's temporary store; NULL: $TMPDIR or /tmp. */
	const char *tmpdir;
	/* Called every few thousand batches with the jobs ended so far
	 * (for a progress line); may be NULL. */
	void (*progress)(void *arg, size_t ended, size_t total);
	void *progress_arg;
	/* A job whose start is lost to worker deaths this many times is
	 * given up (canceled in the core, outcome KSCHED_SIM_UNFINISHED),
	 * so that a run ends even when deaths outpace the jobs.  0: the
	 * default, KSCHED_SIM_RESTARTS_DEFAULT. */
	uint32_t max_restarts;
};

/* One death per virtual millisecond on average: the clock's resolution. */
#define KSCHED_SIM_FAIL_RATE_MAX 3600000.0
#define KSCHED_SIM_RESTARTS_DEFAULT 100u

/* How one job fared. */
enum ksched_sim_outcome {
	KSCHED_SIM_DONE = 0,	   /* ran to its end */
	KSCHED_SIM_KILLED = 1,	   /* killed at its walltime */
	KSCHED_SIM_REJECTED = 2,   /* can never fit the cluster, or invalid */
	KSCHED_SIM_UNFINISHED = 3, /* never ran or never ended (workers dead,
				      or max_restarts starts lost) */
};

struct ksched_sim_job_result {
	enum ksched_sim_outcome outcome;
	int64_t start_ms;      /* -1 if it never started */
	int64_t finish_ms;     /* -1 if it never ended */
	uint32_t restarts;     /* starts lost to worker deaths */
	const uint32_t *nodes; /* the cluster nodes of its last start, by
				  rank (job->nodes of them); NULL if none */
	const char *reason;    /* REJECTED: why; else NULL */
};

/* Summary figures (times in seconds); see docs/simulation.md. */
struct ksched_sim_metrics {
	size_t jobs, done, killed, rejected, unfinished, restarts;
	size_t batches;
	double makespan;
	double mean_wait, max_wait;
	double mean_slowdown, max_slowdown;
	double mean_bsld; /* bounded slowdown, threshold 10 s */
	double mean_turnaround, max_turnaround;
	double utilization;	/* slot-time used / offered over makespan */
	double cpu_utilization; /* cpu-time used / offered over makespan */
	double fairness;	/* Jain's index over users' mean bounded
				   slowdown; 1 is perfectly fair */
	size_t users;
};

typedef struct ksched_sim_result ksched_sim_result;

/* ksched_sim_opts_init: the defaults (fcfs, kill at walltime, no
 * failures, automatic scan). */
KSCHED_API void ksched_sim_opts_init(struct ksched_sim_opts *o);

/*
 * ksched_sim_run: replay w on c with opts (NULL for the defaults).
 * w and c are borrowed for the call and for the life of *out (the result
 * points into w for job names).  On failure err says why (an unknown
 * policy, a cluster with no nodes, a failure naming a node that does not
 * exist, the store).  The caller owns *out.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sim_run(const ksched_sim_workload *w, const ksched_sim_cluster *c,
	       const struct ksched_sim_opts *opts, ksched_sim_result **out,
	       char *err, size_t errlen);

/* ksched_sim_result_free: NULL is a no-op. */
KSCHED_API void ksched_sim_result_free(ksched_sim_result *r);

/* ksched_sim_result_policy: the policy's name, with the options it was
 * given if any ("easy:reserve=2"); owned by r. */
KSCHED_API const char *ksched_sim_result_policy(const ksched_sim_result *r);

/* ksched_sim_result_metrics: the summary of r. */
KSCHED_API void ksched_sim_result_metrics(const ksched_sim_result *r,
					  struct ksched_sim_metrics *out);

/* ksched_sim_result_job: how job i of the workload fared (borrowed, valid
 * while r lives). */
KSCHED_API const struct ksched_sim_job_result *
ksched_sim_result_job(const ksched_sim_result *r, size_t i);

/*
 * Outputs.  Nothing written depends on anything but the inputs, so two
 * runs give the same bytes.  Each returns KSCHED_EIO if writing fails
 * (KSCHED_ENOMEM if memory runs out).
 *
 * ksched_sim_jobs_csv: Batsim's jobs.csv (one line per job, times in
 * seconds, allocated_resources as node ranges "0-3 7").
 * ksched_sim_report_json: the metrics of the n runs of rs (same
 * workload, say different policies) as one JSON document.
 * ksched_sim_plot_svg: queue length and utilization over time (needs
 * opts.timeline).
 * ksched_sim_table: the human table, one column per run; jobs_per_s[i]
 * (may be NULL) adds the measured simulation speed of each run.
 */
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sim_jobs_csv(const ksched_sim_result *r, FILE *f);
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sim_report_json(const ksched_sim_result *const *rs, size_t n, FILE *f);
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sim_plot_svg(const ksched_sim_result *r, FILE *f);
KSCHED_API KSCHED_NODISCARD ksched_err
ksched_sim_table(const ksched_sim_result *const *rs, size_t n,
		 const double *jobs_per_s, FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* KSCHED_SIM_H */
