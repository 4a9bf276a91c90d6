/*
 * agent_api: the agent's HTTP interface, one route table over an executor.
 *
 *   GET  /healthz  200 {"capacity":N,"running":N,"status":"ok"}
 *                  200 {"capacity":N,"running":N,"status":"draining"} once the executor
 *                  is closed: still 200, or the coordinator's prober would turn the
 *                  node UNHEALTHY and fail the jobs it is letting finish
 *   POST /execute  body {"job_id","type","payload"[,"timeout_ms"][,"attempt"]} (wire.h
 *                  execute_request; attempt 1 when not given)
 *                  Idempotent per (job_id, attempt): an attempt this agent has a
 *                  record of (execution_record.h) is never run again, whatever
 *                  the type, room or draining:
 *                  409 {"error":"job J[ (attempt N)] is already running on this agent","status":"running"}
 *                  or, once it finished, the status and body it answered then
 *                  (200, 422 or 500 below), byte for byte. A new attempt of a
 *                  known job runs again.
 *                  A new attempt takes a slot (and so becomes cancellable), is
 *                  recorded RUNNING, and is recorded FINISHED, with its
 *                  answer, just before the answer is sent; 400, 429, 503 are
 *                  not recorded.
 *                  200 {"output":...,"status":"ok"}         the job succeeded
 *                  400 {"error":...}                        bad body, or a type this agent does not run
 *                  422 {"error":...,"status":"failed"}      the job failed (exit status, signal, bad payload, cannot start)
 *                  422 {"error":"timed out after N ms (timeout_ms T): ...","status":"failed","timed_out":true}
 *                                                           timeout_ms passed; a handler's process group was killed
 *                  422 {"cancelled":true,"error":"cancelled after N ms (WHY): ...","status":"failed"}
 *                                                           POST /executions/J/cancel, or the drain grace ran out
 *                  429 {"error":"agent is at capacity (N of N slots busy)"}
 *                  503 {"error":AGENT_API_DRAINING_ERROR}   not started: the node is draining
 *                  500 {"error":...,"status":"failed"}      the agent could not run it (pipes, memory)
 *                  413 {"error":...}                        body over AGENT_API_BODY_LIMIT (http_server)
 *   GET  /executions/{job_id}[?attempt=N]   the newest attempt when N is not given
 *                  200 {"attempt":N,"job_id":J,"started_at":T,"state":"running"}
 *                  200 {"attempt":N,"finished_at":T,"job_id":J,"output":...,"started_at":T,
 *                       "state":"finished","status":"ok"}
 *                  200 {"attempt":N,"error":...,"finished_at":T,"http_status":S,"job_id":J,"started_at":T,
 *                       "state":"finished","status":"failed"[,"timed_out":true][,"cancelled":true]}
 *                       S: what POST /execute answered (422/500)
 *                  400 {"error":...}  a job id longer than MESH_ID_SIZE - 1 characters, a bad
 *                                     attempt, or another query parameter
 *                  404 {"error":"this agent has no record of job J"}  never ran here, or forgotten
 *                      ("... of attempt N of job J" when ?attempt was given)
 *                  Times are RFC 3339 UTC with milliseconds. Finished records are
 *                  kept EXECUTION_RECORD_MAX_AGE_MS, at most EXECUTION_RECORD_MAX_FINISHED.
 *   POST /executions/{job_id}/cancel[?attempt=N]   (a body is read and ignored)
 *                  running: its process group is killed (a sleep ends), the
 *                  end is awaited up to AGENT_API_CANCEL_WAIT_MS, then
 *                  200 with GET /executions' finished body ("cancelled":true);
 *                  its pending POST /execute answers 422 "cancelled":true.
 *                  202 with the running body if it has not ended by then.
 *                  finished: 200 with its record unchanged (it had finished).
 *                  400 / 404 as GET /executions/{job_id}.
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
/* The 503 error of a new job while the node drains; the coordinator puts the job back in its queue. */
#define AGENT_API_DRAINING_ERROR "node is draining: this agent takes no new jobs while it stops"
/* How long POST /executions/{id}/cancel waits for the cancelled job to end (its group is SIGKILLed). */
#define AGENT_API_CANCEL_WAIT_MS 5000
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
