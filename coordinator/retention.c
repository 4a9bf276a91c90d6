/*
 * Lock: retention.lock guards stopping; wake is signalled under it. store is
 * thread-safe on its own. The struct is owned by whoever called start.
 */
#include "retention.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>

#include "clock.h"
#include "deadline.h"
#include "log.h"

/* Jobs deleted per store call: small enough that one call is a few milliseconds. */
#define PRUNE_BATCH 500

struct retention {
	struct job_store *store;
	int64_t retention_ms;
	int64_t interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
};

size_t retention_prune_once(struct job_store *store, int64_t retention_ms, int64_t now_ms,
			    size_t batch_size)
{
	size_t total = 0;

	for (;;) {
		size_t deleted = 0;
		enum job_store_result rc =
			job_store_prune(store, now_ms - retention_ms, batch_size, &deleted);
		if (rc != JOB_STORE_OK) {
			log_error("pruning finished jobs failed (store result %d); trying again later", rc);
			break;
		}
		total += deleted;
		if (deleted < batch_size)
			break;
		sched_yield(); /* let waiting writers have the store between batches */
	}
	return total;
}

/* Waits ms, or less if stopped; returns whether it is stopping. */
static bool wait_or_stop(struct retention *retention, int64_t ms)
{
	int64_t deadline = clock_monotonic_ms() + ms;
	bool stopping;

	pthread_mutex_lock(&retention->lock);
	while (!retention->stopping && !deadline_cond_wait(&retention->wake, &retention->lock, deadline))
		;
	stopping = retention->stopping;
	pthread_mutex_unlock(&retention->lock);
	return stopping;
}

static void *retention_main(void *arg)
{
	struct retention *retention = arg;

	do {
		size_t deleted = retention_prune_once(retention->store, retention->retention_ms,
						      clock_wall_ms(), PRUNE_BATCH);
		if (deleted > 0)
			log_info("pruned %zu finished job(s) older than the retention of %lld ms", deleted,
				 (long long)retention->retention_ms);
	} while (!wait_or_stop(retention, retention->interval_ms));
	return NULL;
}

struct retention *retention_start(struct job_store *store, int64_t retention_ms,
				  int64_t interval_ms)
{
	struct retention *retention = calloc(1, sizeof(*retention));

	if (retention == NULL)
		return NULL;
	retention->store = store;
	retention->retention_ms = retention_ms;
	retention->interval_ms = interval_ms > 0 ? interval_ms : 1000;
	pthread_mutex_init(&retention->lock, NULL);
	deadline_cond_init(&retention->wake);
	if (pthread_create(&retention->thread, NULL, retention_main, retention) != 0) {
		pthread_cond_destroy(&retention->wake);
		pthread_mutex_destroy(&retention->lock);
		free(retention);
		return NULL;
	}
	return retention;
}

void retention_stop(struct retention *retention)
{
	if (retention == NULL)
		return;
	pthread_mutex_lock(&retention->lock);
	retention->stopping = true;
	pthread_cond_signal(&retention->wake);
	pthread_mutex_unlock(&retention->lock);
	pthread_join(retention->thread, NULL);
	pthread_cond_destroy(&retention->wake);
	pthread_mutex_destroy(&retention->lock);
	free(retention);
}
