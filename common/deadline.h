/*
 * deadline: condition variables that wait until a point on the monotonic
 * clock (clock_monotonic_ms), so that a stop request wakes a waiting thread at
 * once and a change of the wall clock cannot stretch or cut a wait.
 * Stateless and thread-safe. Used by the agent's executor, execution records
 * and registration, and the coordinator's waiting clients and pruner.
 */
#ifndef MESH_DEADLINE_H
#define MESH_DEADLINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Initialises cond to measure timed waits on CLOCK_MONOTONIC. Returns 0 or an errno value. */
int deadline_cond_init(pthread_cond_t *cond);

/*
 * Waits on cond (mutex held by the caller, as for pthread_cond_wait) until it
 * is signalled or clock_monotonic_ms() reaches deadline_ms. Spurious wake-ups
 * are possible: callers re-check their predicate. Returns true if the
 * deadline has passed.
 */
bool deadline_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex, int64_t deadline_ms);

#endif
