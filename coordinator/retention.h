/*
 * retention: prunes finished jobs (COMPLETED, FAILED, CANCELLED) once they
 * are older than the retention (--retention), on a thread of its own.
 *
 * Each pass deletes in bounded batches (job_store_prune) and yields between
 * them, so that a large history is pruned without holding the store for
 * long: the API and the dispatcher keep their latency while it runs.
 *
 * Threads: retention_start spawns the thread; retention_stop wakes it and
 * joins it. The pruner's lock guards only its stop flag.
 */
#ifndef MESH_RETENTION_H
#define MESH_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "job_store.h"

struct retention;

/*
 * Starts pruning jobs finished more than retention_ms ago, every interval_ms
 * (the first pass right away). store is borrowed and must outlive the pruner.
 * Returns NULL if the thread cannot be started.
 */
struct retention *retention_start(struct job_store *store, int64_t retention_ms,
				  int64_t interval_ms);

/* Stops and frees the pruner; a pass in progress ends after its current batch. NULL is a no-op. */
void retention_stop(struct retention *retention);

/*
 * One pass, synchronously: deletes every job finished before now_ms -
 * retention_ms, batch_size at a time. Returns how many were deleted; stops
 * early (and logs) if the store fails.
 */
size_t retention_prune_once(struct job_store *store, int64_t retention_ms, int64_t now_ms,
			    size_t batch_size);

#endif
