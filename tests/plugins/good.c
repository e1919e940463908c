/*
 * Test plugin: a trivial valid policy, "testgood".  It prefers the highest
 * worker index (so a test sees the plugin, not the default, decide), logs
 * through the host, and refuses an option answer other than 42 (so a test
 * sees options reach config()).
 */
#include <stdlib.h>
#include <string.h>

#include "ksched/policy.h"

KSCHED_API const struct ksched_policy_ops *ksched_policy_entry(void);

struct good {
	const struct ksched_host *host;
	int events;
};

static int
good_create(const struct ksched_host *host, void **state)
{
	const char *answer = host->config(host->ctx, "answer");
	struct good *g;

	if (answer && strcmp(answer, "42") != 0) {
		host->log(host->ctx, 3, "answer must be 42");
		return -1;
	}
	if (!(g = calloc(1, sizeof(*g))))
		return -1;
	g->host = host;
	host->log(host->ctx, 6, "testgood created");
	*state = g;
	return 0;
}

static void
good_destroy(void *state)
{
	free(state);
}

static int
good_score(void *state, const struct ksched_task_view *task,
	   const struct ksched_worker_view *worker)
{
	(void)state;
	(void)task;
	return (int)(worker->index % (KSCHED_SCORE_MAX + 1));
}

static void
good_event(void *state, const struct ksched_policy_event *ev)
{
	(void)ev;
	((struct good *)state)->events++;
}

static const struct ksched_policy_ops good_ops = {
	.abi = KSCHED_POLICY_ABI,
	.size = sizeof(struct ksched_policy_ops),
	.name = "testgood",
	.create = good_create,
	.destroy = good_destroy,
	.score = good_score,
	.event = good_event,
};

const struct ksched_policy_ops *
ksched_policy_entry(void)
{
	return &good_ops;
}
