/*
 * dispatcher: moves QUEUED jobs to agents and records how they ended.
 *
 * One thread drives every execution through libcurl's multi interface, so a
 * running job holds a socket, not a thread: thousands of jobs can run at once
 * on one coordinator thread. Connections to each agent are kept alive in the
 * multi handle's connection cache and easy handles are pooled and reused.
 *
 * Order: jobs wait in one FIFO per type. Whenever a slot may have freed up
 * (a job finished, a node registered or came back), the dispatcher takes, of
 * all the types some node can take now, the job submitted first. So jobs start
 * in submission order, and a job no node can take does not hold up others.
 *
 * Outcomes (ADR 0004): HTTP 200 -> COMPLETED with the agent's output; any
 * other answer or a transport error -> FAILED with an error naming the node,
 * the URL and what happened. One exception: HTTP 429 (the agent is full, so
 * it did not run the job) puts the job back at its place in the queue.
 * When a node becomes UNHEALTHY, its running jobs fail at once with an error
 * naming the node, so no job stays RUNNING on a node that is gone.
 *
 * Threads: dispatcher_enqueue, dispatcher_poke and dispatcher_node_lost may
 * be called from any thread: they append to an inbox under inbox_lock and wake
 * the dispatcher thread (curl_multi_wakeup). Everything else (queues,
 * executions, the curl handles) belongs to the dispatcher thread alone.
 */
#ifndef MESH_DISPATCHER_H
#define MESH_DISPATCHER_H

#include <stddef.h>

#include "job_store.h"
#include "node_registry.h"

struct dispatcher_config {
	long connect_timeout_ms;  /* to open a connection to an agent */
	long execute_timeout_ms;  /* the longest a job may run before it FAILS as timed out */
	size_t response_limit;    /* bytes of an agent's answer; larger answers fail the job */
};

struct dispatcher;

/* Starts the dispatcher thread. store and registry are borrowed and must outlive it. */
struct dispatcher *dispatcher_start(struct job_store *store, struct node_registry *registry,
				    const struct dispatcher_config *config, char *err,
				    size_t err_size);

/*
 * Stops the thread: jobs still waiting stay QUEUED in the store; running ones
 * stay RUNNING in the store, for the next start to take up again. NULL is a no-op.
 */
void dispatcher_stop(struct dispatcher *dispatcher);

/* Hands a QUEUED job to the dispatcher. Returns 0, or -1 if out of memory. */
int dispatcher_enqueue(struct dispatcher *dispatcher, const struct job *job);

/* Something in the registry changed: look at the waiting jobs again. */
void dispatcher_poke(struct dispatcher *dispatcher);

/* The node became UNHEALTHY: fail the jobs running on it. */
void dispatcher_node_lost(struct dispatcher *dispatcher, const char *node_id);

/* Jobs waiting for a node, and jobs in flight, as last seen by the dispatcher thread. */
void dispatcher_counts(struct dispatcher *dispatcher, size_t *waiting, size_t *in_flight);

#endif
