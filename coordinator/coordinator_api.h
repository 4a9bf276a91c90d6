/*
 * coordinator_api: the coordinator's HTTP routes (docs/api.md is their
 * reference). Handlers validate input completely before changing anything,
 * so a bad request changes nothing.
 *
 * Threads: handlers run on civetweb's worker threads and only use the
 * thread-safe store, registry and dispatcher functions.
 */
#ifndef MESH_COORDINATOR_API_H
#define MESH_COORDINATOR_API_H

#include <stddef.h>
#include <stdint.h>

#include "dispatcher.h"
#include "http_server.h"
#include "job_store.h"
#include "job_waiters.h"
#include "node_registry.h"

/* What a submitted job gets for each option it does not give (the coordinator's flags). */
struct job_defaults {
	int64_t timeout_ms;
	int max_attempts;
	int64_t backoff_base_ms;
	int64_t backoff_cap_ms;
};

/* What every handler needs; borrowed by the server for its lifetime. */
struct coordinator_app {
	struct job_store *store;
	struct node_registry *registry;
	struct dispatcher *dispatcher;
	struct job_waiters *waiters; /* POST /jobs?wait=: clients waiting for their job */
	struct job_defaults defaults;
};

/* POST /jobs?wait= waits at most this many seconds. */
#define COORDINATOR_WAIT_MAX_S 60

/* The route table, and its length. */
extern const struct http_route coordinator_routes[];
extern const size_t coordinator_route_count;

/* GET /jobs answers at most this many jobs unless ?limit= says otherwise. */
#define COORDINATOR_LIST_DEFAULT 100

#endif
