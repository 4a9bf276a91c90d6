/*
 * agent_api: the agent's HTTP interface, one route table over an executor.
 *
 *   GET  /healthz  200 {"capacity":N,"running":N,"status":"ok"}
 *                  503 {"error":"agent is shutting down"} once the executor is closed
 *   POST /execute  body {"job_id","type","payload"} (wire.h execute_request)
 *                  Idempotent per job_id: a job_id this agent has a record of
 *                  (execution_record.h) is never run again, whatever the
 *                  type, room or shutdown:
 *                  409 {"error":"job J is already running on this agent","status":"running"}
 *                  or, once it finished, the status and body it answered then
 *                  (200, 422, 500 or 503 below), byte for byte.
 *                  A new job_id is recorded RUNNING when it takes its slot and
 *                  FINISHED, with its answer, just before the answer is sent;
 *                  400, 429 and the 503 before start are not recorded.
 *                  200 {"output":...,"status":"ok"}         the job succeeded
 *                  400 {"error":...}                        bad body, or a type this agent does not run
 *                  422 {"error":...,"status":"failed"}      the job failed (exit status, signal, bad payload, cannot start)
 *                  429 {"error":"agent is at capacity (N of N slots busy)"}
 *                  503 {"error":"agent is shutting down"}   not started: the agent is stopping
 *                  503 {"error":...,"status":"failed"}      started, then cut short by the agent stopping
 *                  500 {"error":...,"status":"failed"}      the agent could not run it (pipes, memory)
 *                  413 {"error":...}                        body over AGENT_API_BODY_LIMIT (http_server)
 *   GET  /executions/{job_id}
 *                  200 {"job_id":J,"started_at":T,"state":"running"}
 *                  200 {"finished_at":T,"job_id":J,"output":...,"started_at":T,"state":"finished","status":"ok"}
 *                  200 {"error":...,"finished_at":T,"http_status":N,"job_id":J,"started_at":T,
 *                       "state":"finished","status":"failed"}  N: what POST /execute answered (422/500/503)
 *                  404 {"error":"this agent has no record of job J"}  never ran here, or forgotten
 *                  Times are RFC 3339 UTC with milliseconds. Finished records are
 *                  kept EXECUTION_RECORD_MAX_AGE_MS, at most EXECUTION_RECORD_MAX_FINISHED.
 * Unknown paths get 404 and wrong methods 405 (http_server).
 *
 * Threads: handlers run on civetweb's threads; all shared state is the
 * executor's and the execution record's, each behind its own lock.
 */
#ifndef MESH_AGENT_API_H
#define MESH_AGENT_API_H

#include <stddef.h>

#include "execution_record.h"
#include "executor.h"
#include "http_server.h"

/* What the handlers work on. Both borrowed; they must outlive the server. */
struct agent_api_app {
	struct executor *executor;
	struct execution_record *executions;
};

/* Largest /execute body accepted: a payload of a few MiB, JSON-escaped. */
/* Well above the coordinator's largest --max-body-bytes (8 MiB): JSON escaping can grow a payload. */
#define AGENT_API_BODY_LIMIT (64 * 1024 * 1024)
/* civetweb threads beyond one per slot: health checks and refused requests must get through when every slot is busy. */
#define AGENT_API_SPARE_THREADS 16

/* The route table; the server's app must be a struct agent_api_app. Borrowed, static. */
const struct http_route *agent_api_routes(size_t *count);

/*
 * Starts the agent's HTTP server on listen (civetweb form, see
 * listen_address_to_civetweb) with executor_capacity + AGENT_API_SPARE_THREADS
 * threads. app (and what it points to) is borrowed and must outlive the
 * server. Returns a new server (stop with http_server_stop), or NULL with err set.
 */
struct http_server *agent_api_start(const struct agent_api_app *app, const char *listen, char *err,
				    size_t err_size);

#endif
