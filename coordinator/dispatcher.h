/*
 * dispatcher: moves QUEUED jobs to agents and records how each attempt ended.
 *
 * One thread drives every execution through libcurl's multi interface, so a
 * running job holds a socket, not a thread: thousands of jobs can run at once
 * on one coordinator thread. Connections to each agent are kept alive in the
 * multi handle's connection cache and easy handles are pooled and reused.
 *
 * Order: jobs wait in one FIFO per (type, priority). Whenever a slot may have
 * freed up, the dispatcher takes, of all the types some node can take now,
 * the job with the best effective priority, and of those the one submitted
 * first. Effective priority = the job's priority raised one level for every
 * priority_aging_ms it has waited since submission, so a stream of high jobs
 * delays a low one by at most two aging periods, never forever. A job waiting
 * for its next attempt (next_attempt_at in the future) is held aside until then.
 *
 * Outcomes of one attempt (POST /execute, then GET /executions/{id} when the
 * answer is in doubt):
 *   200 ok                          -> COMPLETED with the agent's output
 *   handler failed                  -> FAILED, retried only if retry_on_failure
 *   timed out (agent or here)       -> TIMED_OUT, retried while attempts remain
 *   4xx refusal, unknown host       -> DISPATCH_FAILED, retried while attempts remain
 *   429 / 503 (full, draining)      -> back in the queue; not an attempt (if the store
 *                                      cannot put it back: followed, as if adopted)
 *   409, broken connection, refused -> followed on the agent (GET /executions) until it ends
 *     connect (libcurl resends a request whose kept-alive connection died on
 *     a new connection, so a refused connect does not prove it never arrived)
 *   node UNHEALTHY past lost_after  -> LOST, retried elsewhere while attempts remain
 * A retry waits job_backoff_ms(); the last attempt's failure FAILS the job.
 * When a node that lost attempts comes back, it is told to cancel them and
 * what it says is kept as each attempt's SUPERSEDED late result.
 *
 * Threads: every dispatcher_* function but start/stop may be called from any
 * thread: they append an event to the inbox under inbox_lock and wake the
 * dispatcher thread (curl_multi_wakeup). Everything else (queues, executions,
 * the curl handles) belongs to the dispatcher thread alone.
 */
#ifndef MESH_DISPATCHER_H
#define MESH_DISPATCHER_H

#include <stdbool.h>
#include <stddef.h>

#include "job_store.h"
#include "job_waiters.h"
#include "node_registry.h"

struct dispatcher_config {
	long connect_timeout_ms;  /* to open a connection to an agent */
	long default_timeout_ms;  /* for a stored job whose timeout_ms is 0 (older schema) */
	long timeout_grace_ms;    /* waited beyond a job's timeout before timing it out here */
	long retry_base_ms;       /* for a stored job whose backoff is 0 */
	long retry_cap_ms;
	long lost_after_ms;       /* grace for jobs on a node that turned UNHEALTHY */
	long priority_aging_ms;
	size_t response_limit;    /* bytes of an agent's answer; larger answers fail the job */
	struct job_waiters *waiters; /* told of every job that ends (may be NULL); borrowed */
};

struct dispatcher;

/*
 * Starts the dispatcher thread. store and registry are borrowed and must
 * outlive it. The thread takes up the QUEUED jobs already in the store
 * itself, in submission order, a page at a time (dispatcher_reading_store):
 * the caller need not hand them over, and may serve at once.
 */
struct dispatcher *dispatcher_start(struct job_store *store, struct node_registry *registry,
				    const struct dispatcher_config *config, char *err,
				    size_t err_size);

/*
 * Stops the thread: jobs still waiting stay QUEUED in the store; running ones
 * stay RUNNING in the store, for the next start to take up again. NULL is a no-op.
 */
void dispatcher_stop(struct dispatcher *dispatcher);

/*
 * Hands a QUEUED job to the dispatcher (copied). A job of the store
 * (store_seq set) that the dispatcher read from the store already, or will,
 * is not taken twice. Returns 0, or -1 if out of memory.
 */
int dispatcher_enqueue(struct dispatcher *dispatcher, const struct job *job);

/*
 * Sends a job that the caller has just stored RUNNING on slot's node
 * (job_store_create_running, attempt its number) to that node, as if this
 * dispatcher had started it: the slot, taken with node_registry_reserve,
 * moves into the dispatcher (slot is zeroed) and is given back when the job
 * ends. Returns 0, or -1 if out of memory (the slot is then still the
 * caller's to release).
 */
int dispatcher_run(struct dispatcher *dispatcher, const struct job *job, struct node_slot *slot,
		   int attempt);

/*
 * Takes up a job found RUNNING at start: its node is asked how it stands
 * (GET /executions/{id}) and it is followed to its end there; a node that
 * does not know it, or is gone, makes the attempt LOST. Returns 0 or -1.
 */
int dispatcher_adopt(struct dispatcher *dispatcher, const struct job *job);

/*
 * The store has just cancelled job_id (job_store_cancel): drop it from the
 * queue, or tell its node to kill it. Returns 0 or -1.
 */
int dispatcher_cancel(struct dispatcher *dispatcher, const char *job_id);

/* Something in the registry changed: look at the waiting jobs again. */
void dispatcher_poke(struct dispatcher *dispatcher);

/* The node became UNHEALTHY: its jobs wait lost_after_ms for it, then are retried or FAILED. */
void dispatcher_node_lost(struct dispatcher *dispatcher, const char *node_id);

/* The node is HEALTHY again: follow its jobs, and reclaim the attempts it lost. */
void dispatcher_node_back(struct dispatcher *dispatcher, const char *node_id);

/* Jobs waiting (for a node or for their next attempt), and jobs in flight. */
void dispatcher_counts(struct dispatcher *dispatcher, size_t *waiting, size_t *in_flight);

/*
 * Whether the dispatcher is still reading the QUEUED jobs the store held at
 * start: until it is done, the store may hold waiting jobs that
 * dispatcher_counts does not count yet.
 */
bool dispatcher_reading_store(struct dispatcher *dispatcher);

#endif
