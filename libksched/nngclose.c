/* libksched - closing nng sockets with a bound on the wait. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "nngclose.h"

#define CLOSE_MAX 8

struct closer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	nng_socket socks[CLOSE_MAX];
	size_t n;
	bool done, abandoned;
};

static void
closer_free(struct closer *c)
{
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	ksched__free(c);
}

static void *
closer_main(void *arg)
{
	struct closer *c = arg;
	bool abandoned;

	for (size_t i = 0; i < c->n; i++)
		nng_close(c->socks[i]);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	abandoned = c->abandoned;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (abandoned)
		closer_free(c);
	return NULL;
}

bool
ksched__nng_close_bounded(const nng_socket *socks, size_t n)
{
	struct closer *c = n <= CLOSE_MAX ? ksched__calloc(1, sizeof(*c)) : NULL;
	struct timespec until;
	pthread_t th;
	bool done;

	if (c) {
		pthread_mutex_init(&c->mu, NULL);
		pthread_cond_init(&c->cv, NULL);
		memcpy(c->socks, socks, n * sizeof(*socks));
		c->n = n;
	}
	if (!c || pthread_create(&th, NULL, closer_main, c) != 0) {
		/* No thread: close here and hope. */
		if (c)
			closer_free(c);
		for (size_t i = 0; i < n; i++)
			nng_close(socks[i]);
		return true;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += KSCHED_CLOSE_WAIT_MS / 1000;
	pthread_mutex_lock(&c->mu);
	while (!c->done &&
	       pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
		;
	done = c->done;
	if (!done)
		c->abandoned = true;
	pthread_mutex_unlock(&c->mu);
	if (!done) {
		KLOG(KSCHED_LOG_WARN,
		     "msg=\"socket close hangs (nng); left behind\" wait_ms=%d",
		     KSCHED_CLOSE_WAIT_MS);
		pthread_detach(th);
		return false;
	}
	pthread_join(th, NULL);
	closer_free(c);
	return true;
}
