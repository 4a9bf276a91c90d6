/*
 * agent_api: the agent's HTTP interface, one route table over an executor.
 *
 *   GET  /healthz  200 {"capacity":N,"running":N,"status":"ok"}
 *                  503 {"error":"agent is shutting down"} once the executor is closed
 *   POST /execute  body {"job_id","type","payload"} (wire.h execute_request)
 *                  200 {"output":...,"status":"ok"}         the job succeeded
 *                  400 {"error":...}                        bad body, or a type this agent does not run
 *                  422 {"error":...,"status":"failed"}      the job failed (exit status, signal, bad payload, cannot start)
 *                  429 {"error":"agent is at capacity (N of N slots busy)"}
 *                  503 {"error":"agent is shutting down"}   not started: the agent is stopping
 *                  503 {"error":...,"status":"failed"}      started, then cut short by the agent stopping
 *                  500 {"error":...,"status":"failed"}      the agent could not run it (pipes, memory)
 *                  413 {"error":...}                        body over AGENT_API_BODY_LIMIT (http_server)
 * Unknown paths get 404 and wrong methods 405 (http_server).
 *
 * Threads: handlers run on civetweb's threads; all shared state is the
 * executor's, behind its own lock.
 */
#ifndef MESH_AGENT_API_H
#define MESH_AGENT_API_H

#include <stddef.h>

#include "executor.h"
#include "http_server.h"

/* Largest /execute body accepted: a payload of a few MiB, JSON-escaped. */
/* Well above the coordinator's largest --max-body-bytes (8 MiB): JSON escaping can grow a payload. */
#define AGENT_API_BODY_LIMIT (64 * 1024 * 1024)
/* civetweb threads beyond one per slot: health checks and refused requests must get through when every slot is busy. */
#define AGENT_API_SPARE_THREADS 16

/* The route table; the server's app must be the struct executor. Borrowed, static. */
const struct http_route *agent_api_routes(size_t *count);

/*
 * Starts the agent's HTTP server on listen (civetweb form, see
 * listen_address_to_civetweb) with executor_capacity + AGENT_API_SPARE_THREADS
 * threads. executor is borrowed and must outlive the server. Returns a new
 * server (stop with http_server_stop), or NULL with err set.
 */
struct http_server *agent_api_start(struct executor *executor, const char *listen, char *err,
				    size_t err_size);

#endif
