#include "deadline.h"

#include <time.h>

#include "clock.h"

int deadline_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int rc = pthread_condattr_init(&attr);

	if (rc != 0)
		return rc;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return rc;
}

bool deadline_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex, int64_t deadline_ms)
{
	struct timespec until;

	if (clock_monotonic_ms() >= deadline_ms)
		return true;
	/* clock_monotonic_ms() reads CLOCK_MONOTONIC, the clock deadline_cond_init chose. */
	until.tv_sec = (time_t)(deadline_ms / 1000);
	until.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
	pthread_cond_timedwait(cond, mutex, &until);
	return clock_monotonic_ms() >= deadline_ms;
}
