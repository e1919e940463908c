/*
 * embed: libksched inside one program.  A master runs on a thread, a worker
 * runs in-process with a handler of its own ("shout": upper-cases its
 * payload), and the program submits tasks to them through the client API
 * and prints the results.  Everything talks over ipc:// sockets in a
 * temporary directory, exactly as separate machines would over tcp://.
 *
 * Build out of tree:
 *   cc embed.c -o embed $(pkg-config --cflags --libs libksched) -lpthread
 */
#define _XOPEN_SOURCE 700
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ksched.h>
#include <ksched/client.h>
#include <ksched/worker.h>

#define CHECK(what, call)                                                     \
	do {                                                                  \
		ksched_err e_ = (call);                                       \
		if (e_) {                                                     \
			fprintf(stderr, "embed: %s: %s\n", what,              \
				ksched_strerror(e_));                         \
			exit(1);                                              \
		}                                                             \
	} while (0)

/* The handler: runs on the worker's executor threads. */
static ksched_err
shout(void *arg, const ksched_task *task, void **out, size_t *len, char *err,
      size_t errlen)
{
	size_t n;
	const char *in = ksched_task_payload(task, &n);
	char *up = malloc(n ? n : 1);

	(void)arg;
	if (!up) {
		snprintf(err, errlen, "out of memory");
		return KSCHED_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		up[i] = (char)toupper((unsigned char)in[i]);
	*out = up;
	*len = n;
	return KSCHED_OK;
}

static void *
master_thread(void *arg)
{
	ksched_err e = ksched_master_run(arg, false);

	if (e)
		fprintf(stderr, "embed: master: %s\n", ksched_strerror(e));
	return NULL;
}

int
main(void)
{
	static const char *words[] = {"alpha", "beta", "gamma", "delta",
				      "alpha", "beta"};
	char dir[] = "/tmp/ksched-embed-XXXXXX", data[64], ctl[64], dsp[64],
	     hbt[64], err[256];
	struct ksched_master_config cfg;
	struct ksched_resources cap = {2000, 512, 0, 2};
	ksched_task *ts[6];
	uint64_t ids[6], remaining = 1;
	ksched_master *m;
	ksched_worker *w;
	ksched_client *c;
	pthread_t mt;

	if (!mkdtemp(dir))
		return 1;
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(ctl, sizeof(ctl), "ipc://%s/c", dir);
	snprintf(dsp, sizeof(dsp), "ipc://%s/d", dir);
	snprintf(hbt, sizeof(hbt), "ipc://%s/h", dir);

	ksched_master_config_init(&cfg);
	cfg.data_dir = data;
	cfg.sync = KSCHED_SYNC_NONE;
	cfg.control_url = ctl;
	cfg.dispatch_url = dsp;
	cfg.heartbeat_url = hbt;
	if (ksched_master_new(&cfg, &m, err, sizeof(err))) {
		fprintf(stderr, "embed: master: %s\n", err);
		return 1;
	}
	pthread_create(&mt, NULL, master_thread, m);

	CHECK("worker", ksched_worker_new("embedded", &w));
	CHECK("worker", ksched_worker_set_master(w, dsp, hbt));
	CHECK("worker", ksched_worker_set_capacity(w, &cap));
	CHECK("worker", ksched_worker_handle(w, "shout", shout, NULL));
	CHECK("worker", ksched_worker_start(w));

	CHECK("client", ksched_client_open(ctl, &c));
	for (int i = 0; i < 6; i++) {
		CHECK("task", ksched_task_new(&ts[i]));
		CHECK("task", ksched_task_set_kind(ts[i], "shout"));
		CHECK("task", ksched_task_set_payload(ts[i], words[i],
						      strlen(words[i])));
	}
	CHECK("submit", ksched_client_submit(c, (const ksched_task *const *)ts,
					     6, ids, NULL));
	while (remaining)
		CHECK("wait", ksched_client_wait(c, ids, 6, false, 1000,
						 &remaining));
	for (int i = 0; i < 6; i++) {
		struct ksched_task_status st;
		void *res;
		size_t len;
		CHECK("result", ksched_client_result(c, ids[i], &st, &res,
						     &len));
		printf("task %llu %-6s -> %.*s%s\n", (unsigned long long)ids[i],
		       words[i], (int)len, (const char *)res,
		       st.cached ? "  (from the cache)" : "");
		ksched_free(res);
		ksched_task_free(ts[i]);
	}

	ksched_client_close(c);
	CHECK("worker", ksched_worker_stop(w));
	ksched_worker_free(w);
	ksched_master_stop(m);
	pthread_join(mt, NULL);
	ksched_master_free(m);
	snprintf(err, sizeof(err), "rm -rf '%s'", dir);
	return system(err) == 0 ? 0 : 1;
}
