/*
 * job_waiters: lets HTTP handlers wait for a job to finish (POST
 * /jobs?wait=SECONDS) without polling the store.
 *
 * A handler registers its interest (job_waiters_add, job_waiters_watch)
 * before it looks at the job's status one last time, or, for a job it has
 * just created, before it hands the job to the dispatcher; then it sleeps in
 * job_waiters_wait. Whoever finishes a job (the dispatcher, a cancel) calls
 * job_waiters_notify after the store has the outcome. Registering first means
 * a job that finishes in between is not missed: a notification is kept until
 * the waiter is removed, and job_waiters_watch says whether any job was
 * notified between job_waiters_add and the naming (the job may have ended,
 * been cancelled say, in that gap, so the caller then looks before it sleeps).
 *
 * The number of waiting clients is capped (each holds one of civetweb's
 * connection threads): job_waiters_add refuses beyond the cap, and the
 * handler answers 503 with Retry-After rather than starving other requests.
 *
 * Threads: every function is safe from any thread. One mutex guards the list
 * of waiters; each waiter has its own condition variable on that mutex.
 * Ownership: a struct job_waiter is owned by the handler that added it, until
 * job_waiters_remove; a finished job handed to it belongs to it until
 * taken (job_waiters_take_finished) or removed.
 */
#ifndef MESH_JOB_WAITERS_H
#define MESH_JOB_WAITERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct job_waiters;
struct job_waiter;

/* A registry that admits at most max_waiters at once. NULL if out of memory. */
struct job_waiters *job_waiters_new(size_t max_waiters);
void job_waiters_free(struct job_waiters *waiters);

/*
 * Registers interest in job_id ("" to take a place first and name the job
 * later with job_waiters_watch); NULL if the cap is reached (or out of memory).
 */
struct job_waiter *job_waiters_add(struct job_waiters *waiters, const char *job_id);

/*
 * Names the job a waiter added with "" waits for. Returns true if any job
 * was notified since the waiter was added: this one may have ended before
 * it was named, so the caller looks at it before it sleeps.
 */
bool job_waiters_watch(struct job_waiters *waiters, struct job_waiter *waiter, const char *job_id);

/*
 * Sleeps until job_id is notified or deadline_ms (clock_monotonic_ms) passes.
 * Returns true if it was notified.
 */
bool job_waiters_wait(struct job_waiters *waiters, struct job_waiter *waiter, int64_t deadline_ms);

/* Unregisters and frees waiter. */
void job_waiters_remove(struct job_waiters *waiters, struct job_waiter *waiter);

/* Wakes every waiter of job_id (the job reached a terminal status). */
void job_waiters_notify(struct job_waiters *waiters, const char *job_id);

/*
 * Whether any waiter watches job_id now: whoever finishes the job can then
 * fetch the finished job for it (see job_waiters_notify_finished).
 */
bool job_waiters_has(struct job_waiters *waiters, const char *job_id);

/*
 * job_waiters_notify, handing each waiter of finished->id its own copy of
 * the finished job, as the store holds it once the caller's commit is done
 * (borrowed: copied here). Without memory for a copy, that waiter is only
 * woken, and reads the job itself.
 */
void job_waiters_notify_finished(struct job_waiters *waiters, const struct job *finished);

/*
 * Moves the finished job handed to waiter, if any, into *out (new: the
 * caller releases it with job_clear) and returns true; false if none was.
 */
bool job_waiters_take_finished(struct job_waiters *waiters, struct job_waiter *waiter,
			       struct job *out);

/* How many are waiting now, and the cap. */
void job_waiters_count(struct job_waiters *waiters, size_t *waiting, size_t *max_waiters);

#endif
