/*
 * drain: the agent's graceful stop, run once by main() on the first SIGTERM,
 * SIGINT or SIGHUP, before it stops the HTTP server. One log line per step:
 *
 *   (a) stop taking jobs: the executor is closed, so a new POST /execute
 *       answers 503 (agent_api.h); a job already known still gets its 409 or
 *       recorded answer. The registration thread is halted, so the agent
 *       cannot register again while it drains, and its node id is read.
 *   (b) tell the coordinator: POST {coordinator}/nodes/{node_id}/drain, once,
 *       best effort (200 with the node, or 404, are both fine; no answer is
 *       logged and the drain goes on).
 *   (c) wait until no job runs and every answer is sent, at most grace_ms
 *       (0: not at all); executor_hurry (a second stop signal) ends the wait
 *       at once.
 *   (d) cancel what still runs (executor_cancel_all): those jobs' POST
 *       /execute answer 422 with "cancelled": true and an error saying that
 *       the agent was stopped and cancelled the job after its drain grace.
 *   (e) wait, at most answer_wait_ms, until every pending answer is sent.
 *   (f) deregister: DELETE {coordinator}/nodes/{node_id}. 200 and 404 end it;
 *       409 (the coordinator still counts jobs in flight on the node) is tried
 *       again every deregister_retry_ms for at most deregister_for_ms; no
 *       answer or any other status is logged and given up.
 *
 * Without a node id (never registered, or no registration) (b) and (f) are
 * skipped; a coordinator that does not answer costs at most one request
 * timeout per call. Either way the drain completes locally.
 *
 * Threads: drain_run blocks the calling thread for the whole drain and makes
 * its requests with a libcurl client of its own (curl_global_init must have
 * been called). Other threads may call executor_hurry meanwhile. Stateless
 * between calls.
 */
#ifndef MESH_AGENT_DRAIN_H
#define MESH_AGENT_DRAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "executor.h"
#include "registration.h"

#define DRAIN_DEFAULT_GRACE_MS 30000L
#define DRAIN_MAX_GRACE_MS 86400000L /* one day, the longest built-in sleep */

struct drain_config {
	struct executor *executor;         /* borrowed */
	struct registration *registration; /* borrowed; NULL: no coordinator to tell */
	const char *coordinator_url;       /* http(s)://host:port; trailing '/' ignored; NULL with no registration */
	long grace_ms;                     /* (c): 0..DRAIN_MAX_GRACE_MS */
	/* 0 means the default in parentheses; tests shorten them. */
	int answer_wait_ms;                /* (e) (5000) */
	int deregister_retry_ms;           /* (f) between 409s (200) */
	int deregister_for_ms;             /* (f) at most, from the first 409 (5000) */
	int request_timeout_ms;            /* each coordinator request, in all (2000; connect: 1000 at most) */
};

/* What the drain did, for main's exit line and for tests. */
struct drain_report {
	enum executor_drain jobs;  /* how (c) ended */
	size_t cancelled;          /* jobs (d) stopped */
	bool answers_sent;         /* (e) ended with every answer sent */
	long drain_status;         /* the HTTP status of (b); 0: not sent or no answer */
	long deregister_status;    /* the last HTTP status of (f); 0: not sent or no answer */
	int deregister_attempts;   /* DELETE requests sent */
};

/* Runs (a) to (f) as above and fills report. Never fails: every problem is logged. */
void drain_run(const struct drain_config *config, struct drain_report *report);

#endif
