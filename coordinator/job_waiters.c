/*
 * Lock: job_waiters.lock guards the list, each waiter's notified flag and
 * finished job, and the count. Waiters sleep on their own condition variable with that lock;
 * notify signals only the waiters of its job. The list is short (at most the
 * cap, a few hundred), so a linear scan under the lock costs less than a
 * hash table would save.
 */
#include "job_waiters.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "deadline.h"
#include "model.h"

struct job_waiter {
	struct job_waiter *prev, *next;
	char job_id[MESH_ID_SIZE];
	pthread_cond_t wake;
	bool notified;
	bool has_finished;
	struct job finished; /* handed over by job_waiters_notify_finished */
	uint64_t notifications_at_add; /* job_waiters.notifications when it was added */
};

struct job_waiters {
	pthread_mutex_t lock;
	struct job_waiter *head;
	size_t count;
	size_t max_waiters;
	uint64_t notifications; /* job_waiters_notify calls so far */
};

struct job_waiters *job_waiters_new(size_t max_waiters)
{
	struct job_waiters *waiters = calloc(1, sizeof(*waiters));
	if (waiters == NULL)
		return NULL;
	pthread_mutex_init(&waiters->lock, NULL);
	waiters->max_waiters = max_waiters;
	return waiters;
}

void job_waiters_free(struct job_waiters *waiters)
{
	if (waiters == NULL)
		return;
	pthread_mutex_destroy(&waiters->lock);
	free(waiters);
}

struct job_waiter *job_waiters_add(struct job_waiters *waiters, const char *job_id)
{
	struct job_waiter *waiter = calloc(1, sizeof(*waiter));

	if (waiter == NULL)
		return NULL;
	strncpy(waiter->job_id, job_id, sizeof(waiter->job_id) - 1);
	if (deadline_cond_init(&waiter->wake) != 0) {
		free(waiter);
		return NULL;
	}
	pthread_mutex_lock(&waiters->lock);
	if (waiters->count >= waiters->max_waiters) {
		pthread_mutex_unlock(&waiters->lock);
		pthread_cond_destroy(&waiter->wake);
		free(waiter);
		return NULL;
	}
	waiter->notifications_at_add = waiters->notifications;
	waiter->next = waiters->head;
	if (waiter->next != NULL)
		waiter->next->prev = waiter;
	waiters->head = waiter;
	waiters->count++;
	pthread_mutex_unlock(&waiters->lock);
	return waiter;
}

bool job_waiters_watch(struct job_waiters *waiters, struct job_waiter *waiter, const char *job_id)
{
	bool any_since;

	pthread_mutex_lock(&waiters->lock);
	strncpy(waiter->job_id, job_id, sizeof(waiter->job_id) - 1);
	any_since = waiters->notifications != waiter->notifications_at_add;
	pthread_mutex_unlock(&waiters->lock);
	return any_since;
}

bool job_waiters_wait(struct job_waiters *waiters, struct job_waiter *waiter, int64_t deadline_ms)
{
	bool notified;

	pthread_mutex_lock(&waiters->lock);
	while (!waiter->notified && !deadline_cond_wait(&waiter->wake, &waiters->lock, deadline_ms))
		;
	notified = waiter->notified;
	pthread_mutex_unlock(&waiters->lock);
	return notified;
}

void job_waiters_remove(struct job_waiters *waiters, struct job_waiter *waiter)
{
	if (waiter == NULL)
		return;
	pthread_mutex_lock(&waiters->lock);
	if (waiter->prev != NULL)
		waiter->prev->next = waiter->next;
	else
		waiters->head = waiter->next;
	if (waiter->next != NULL)
		waiter->next->prev = waiter->prev;
	waiters->count--;
	pthread_mutex_unlock(&waiters->lock);
	pthread_cond_destroy(&waiter->wake);
	if (waiter->has_finished)
		job_clear(&waiter->finished);
	free(waiter);
}

/* Wakes job_id's waiters; those without a finished job yet get a copy of finished (may be NULL). */
static void notify(struct job_waiters *waiters, const char *job_id, const struct job *finished)
{
	if (waiters == NULL)
		return;
	pthread_mutex_lock(&waiters->lock);
	waiters->notifications++;
	for (struct job_waiter *waiter = waiters->head; waiter != NULL; waiter = waiter->next) {
		if (strcmp(waiter->job_id, job_id) == 0) {
			if (finished != NULL && !waiter->has_finished)
				waiter->has_finished = job_copy(&waiter->finished, finished) == 0;
			waiter->notified = true;
			pthread_cond_signal(&waiter->wake);
		}
	}
	pthread_mutex_unlock(&waiters->lock);
}

void job_waiters_notify(struct job_waiters *waiters, const char *job_id)
{
	notify(waiters, job_id, NULL);
}

void job_waiters_notify_finished(struct job_waiters *waiters, const struct job *finished)
{
	notify(waiters, finished->id, finished);
}

bool job_waiters_has(struct job_waiters *waiters, const char *job_id)
{
	bool found = false;

	if (waiters == NULL)
		return false;
	pthread_mutex_lock(&waiters->lock);
	for (struct job_waiter *waiter = waiters->head; waiter != NULL && !found;
	     waiter = waiter->next)
		found = strcmp(waiter->job_id, job_id) == 0;
	pthread_mutex_unlock(&waiters->lock);
	return found;
}

bool job_waiters_take_finished(struct job_waiters *waiters, struct job_waiter *waiter,
			       struct job *out)
{
	bool taken;

	pthread_mutex_lock(&waiters->lock);
	taken = waiter->has_finished;
	if (taken) {
		*out = waiter->finished;
		memset(&waiter->finished, 0, sizeof(waiter->finished));
		waiter->has_finished = false;
	}
	pthread_mutex_unlock(&waiters->lock);
	return taken;
}

void job_waiters_count(struct job_waiters *waiters, size_t *waiting, size_t *max_waiters)
{
	pthread_mutex_lock(&waiters->lock);
	*waiting = waiters->count;
	*max_waiters = waiters->max_waiters;
	pthread_mutex_unlock(&waiters->lock);
}
