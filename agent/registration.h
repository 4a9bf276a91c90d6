/*
 * registration: one thread that keeps this agent registered with the
 * coordinator.
 *
 *   1. POST {coordinator}/nodes/register with node_registration_encode's body
 *      until the coordinator answers 201 (new) or 200 (known) with a node that has a "node_id" (or
 *      "id"). Between attempts it waits with capped exponential backoff
 *      (backoff_start_ms, doubling, up to backoff_cap_ms, +-10% jitter),
 *      logging each failed attempt at WARN with the reason. A 4xx answer means
 *      our registration is invalid: logged at ERROR and retried at the cap.
 *   2. Then every poll_interval_ms, GET {coordinator}/nodes/{node_id}:
 *      200 is fine; 404 means the coordinator forgot us (it restarted): back to
 *      1 at once; no answer is logged once when the coordinator becomes
 *      unreachable and once when it is back.
 *
 * Threads: registration_start starts the thread; registration_node_id may be
 * called from any thread; registration_halt and then registration_stop from
 * one thread.
 * Locking: reg->lock guards node_id and stopping; reg->wake is signalled by
 * registration_stop so that the thread's timed waits end at once. No lock is
 * held during a request; a request in flight when registration_stop is called
 * is bounded by the client timeouts (REGISTRATION_CONNECT_TIMEOUT_MS and
 * REGISTRATION_TOTAL_TIMEOUT_MS).
 */
#ifndef MESH_AGENT_REGISTRATION_H
#define MESH_AGENT_REGISTRATION_H

#include <stddef.h>

#define REGISTRATION_CONNECT_TIMEOUT_MS 1000
#define REGISTRATION_TOTAL_TIMEOUT_MS 3000
#define REGISTRATION_RESPONSE_LIMIT (64 * 1024)

struct registration_config {
	const char *coordinator_url; /* "http://host:port", no trailing '/' needed */
	const char *name;
	const char *address;         /* what the coordinator should call (build_agent_base_url form) */
	int capacity;
	const char *const *types;
	size_t type_count;
	/* 0 means the default in parentheses; tests shorten them. */
	int poll_interval_ms;        /* (2000) */
	int backoff_start_ms;        /* (200) */
	int backoff_cap_ms;          /* (5000) */
};

struct registration;

/*
 * Copies config (strings included) and starts the thread. Returns a new
 * registration, or NULL with err set (out of memory, thread creation). Needs
 * curl_global_init to have been called.
 */
struct registration *registration_start(const struct registration_config *config, char *err,
					size_t err_size);

/*
 * Wakes the thread and waits for it to end, but keeps reg: from now on the
 * agent neither registers nor polls (a draining agent must not register
 * again), and registration_node_id tells the last node id for good. A
 * request in flight ends within REGISTRATION_TOTAL_TIMEOUT_MS. A second call
 * does nothing.
 */
void registration_halt(struct registration *reg);

/* registration_halt, then frees everything. NULL is a no-op. */
void registration_stop(struct registration *reg);

/*
 * Copies the node id the coordinator gave us into out ("" while not
 * registered). out_size should be MESH_ID_SIZE. Thread-safe.
 */
void registration_node_id(struct registration *reg, char *out, size_t out_size);

#endif
