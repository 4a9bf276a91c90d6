#include "agent_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "clock.h"
#include "log.h"
#include "model.h"
#include "wire.h"

/* The error of a finished record whose answer could not be kept (out of memory). */
#define LOST_ANSWER_ERROR "the agent ran out of memory recording this job's answer"

/*
 * A draining agent still answers 200: the coordinator's prober would
 * otherwise turn the node UNHEALTHY and fail the jobs still running here.
 */
static void handle_healthz(struct http_request *request)
{
	const struct agent_api_app *app = request->app;
	struct executor *ex = app->executor;

	http_reply_json(request, 200,
			json_pack("{s:s, s:i, s:i}", "status",
				  executor_is_closed(ex) ? "draining" : "ok", "running",
				  executor_running(ex), "capacity", executor_capacity(ex)),
			NULL);
}

/* The HTTP status that answers an executor outcome. */
static int outcome_status(enum executor_outcome outcome)
{
	switch (outcome) {
	case EXECUTOR_OK:
		return 200;
	case EXECUTOR_FAILED:
	case EXECUTOR_TIMED_OUT:
	case EXECUTOR_CANCELLED:
		return 422;
	case EXECUTOR_INTERNAL:
		break;
	}
	return 500;
}

/*
 * Checks a job id taken from the path. Returns true, or false after answering
 * 400. (The route gives at most 255 bytes; a job id has at most MESH_ID_SIZE - 1.)
 */
static bool job_id_is_valid(struct http_request *request, const char *job_id)
{
	if (strlen(job_id) < MESH_ID_SIZE)
		return true;
	http_reply_error(request, 400, "job id '%.40s...' is longer than %d characters", job_id,
			 MESH_ID_SIZE - 1);
	return false;
}

/* " (attempt N)" for a retry, "" for a first attempt, so that first attempts read as before. */
static void attempt_note(int attempt, char *out, size_t out_size)
{
	if (attempt > 1)
		snprintf(out, out_size, " (attempt %d)", attempt);
	else if (out_size > 0)
		out[0] = '\0';
}

/*
 * Answers a POST /execute for an attempt this agent already knows, without
 * running it again: 409 while it runs, else the answer it gave the first time.
 */
static void reply_known(struct http_request *request, const struct execution_record_entry *known)
{
	char *body = NULL;
	char note[32];

	attempt_note(known->attempt, note, sizeof(note));
	if (known->state == EXECUTION_RUNNING) {
		log_info("job %s%s asked again while it runs; answering 409", known->job_id, note);
		http_reply_json(request, 409,
				json_pack("{s:s+++, s:s}", "error", "job ", known->job_id, note,
					  " is already running on this agent", "status", "running"),
				NULL);
		return;
	}
	log_info("job %s%s asked again after it finished; answering its recorded HTTP %d",
		 known->job_id, note, known->http_status);
	if (known->body != NULL) {
		http_reply_text(request, known->http_status, known->body, strlen(known->body), NULL);
		return;
	}
	body = execute_response_encode_failed(LOST_ANSWER_ERROR);
	if (body == NULL)
		http_reply_error(request, 500, LOST_ANSWER_ERROR);
	else
		http_reply_text(request, 500, body, strlen(body), NULL);
	free(body);
}

static void handle_execute(struct http_request *request)
{
	const struct agent_api_app *app = request->app;
	struct executor *ex = app->executor;
	struct execute_request job;
	struct executor_job *slot = NULL;
	struct executor_result result = {0};
	struct execution_record_entry known = {0};
	char err[WIRE_ERROR_SIZE], timeout[48] = "", note[32];
	char *body = NULL;
	int64_t start, elapsed;
	int status;

	if (execute_request_decode(request->body, request->body_len, &job, err, sizeof(err)) != 0) {
		http_reply_error(request, 400, "%s", err);
		return;
	}
	attempt_note(job.attempt, note, sizeof(note));
	/* Known attempts never run again, whether or not there is room or the agent is draining. */
	if (execution_record_get(app->executions, job.job_id, job.attempt, clock_wall_ms(), &known)) {
		reply_known(request, &known);
		goto out;
	}
	if (!executor_has_type(ex, job.type)) {
		char types[1024];
		executor_type_list(ex, types, sizeof(types));
		http_reply_error(request, 400, "unknown job type '%s'; this agent runs: %s", job.type, types);
		goto out;
	}
	switch (executor_try_acquire(ex, job.job_id, job.attempt, &slot)) {
	case EXECUTOR_SLOT_TAKEN:
		break;
	case EXECUTOR_SLOT_FULL:
		/* A concurrent request for this id may have taken the last slot since we looked. */
		if (execution_record_get(app->executions, job.job_id, job.attempt, clock_wall_ms(),
					 &known)) {
			reply_known(request, &known);
			goto out;
		}
		log_info("job %s%s (%s) refused: all %d slots are busy", job.job_id, note, job.type,
			 executor_capacity(ex));
		http_reply_error(request, 429, "agent is at capacity (%d of %d slots busy)",
				 executor_capacity(ex), executor_capacity(ex));
		goto out;
	case EXECUTOR_SLOT_CLOSED:
		log_info("job %s%s (%s) refused: the node is draining", job.job_id, note, job.type);
		http_reply_error(request, 503, "%s", AGENT_API_DRAINING_ERROR);
		goto out;
	case EXECUTOR_SLOT_NOMEM:
		log_error("job %s%s (%s) refused: out of memory taking a slot", job.job_id, note,
			  job.type);
		http_reply_error(request, 500, "the agent is out of memory");
		goto out;
	}
	/*
	 * Insert-if-absent under the record's lock: of two concurrent requests for
	 * one attempt, one runs it. After the slot, so that an attempt the record
	 * calls RUNNING is always one the executor can cancel.
	 */
	switch (execution_record_begin(app->executions, job.job_id, job.attempt, clock_wall_ms(),
				       &known)) {
	case EXECUTION_RECORD_BEGUN:
		break;
	case EXECUTION_RECORD_KNOWN:
		executor_release(ex, slot);
		reply_known(request, &known);
		executor_answer_sent(ex);
		goto out;
	case EXECUTION_RECORD_NOMEM:
		executor_release(ex, slot);
		log_error("job %s%s (%s) refused: out of memory recording it", job.job_id, note,
			  job.type);
		http_reply_error(request, 500, "the agent is out of memory");
		executor_answer_sent(ex);
		goto out;
	}

	if (job.timeout_ms > 0)
		snprintf(timeout, sizeof(timeout), ", timeout %lld ms", (long long)job.timeout_ms);
	log_info("job %s%s (%s) started (%d of %d slots busy%s)", job.job_id, note, job.type,
		 executor_running(ex), executor_capacity(ex), timeout);
	start = clock_monotonic_ms();
	executor_run(ex, slot, job.type, job.payload, job.timeout_ms, &result);
	elapsed = clock_monotonic_ms() - start;
	executor_release(ex, slot);

	status = outcome_status(result.outcome);
	switch (result.outcome) {
	case EXECUTOR_OK:
		log_info("job %s%s (%s) completed in %lld ms (%zu bytes of output%s)", job.job_id,
			 note, job.type, (long long)elapsed, strlen(result.output),
			 result.output_truncated ? ", cut at the cap" : "");
		body = execute_response_encode_ok(result.output);
		break;
	case EXECUTOR_FAILED:
		log_info("job %s%s (%s) failed in %lld ms: %s", job.job_id, note, job.type,
			 (long long)elapsed, result.error);
		break;
	case EXECUTOR_TIMED_OUT:
	case EXECUTOR_CANCELLED:
		log_warn("job %s%s (%s) %s", job.job_id, note, job.type, result.error);
		break;
	case EXECUTOR_INTERNAL:
		log_error("job %s%s (%s) could not run (%lld ms): %s", job.job_id, note, job.type,
			  (long long)elapsed, result.error ? result.error : "out of memory");
		break;
	}
	if (result.outcome != EXECUTOR_OK)
		body = execute_response_encode_stopped(result.error ? result.error : "out of memory",
						       result.outcome == EXECUTOR_TIMED_OUT,
						       result.outcome == EXECUTOR_CANCELLED);
	if (body == NULL) {
		status = 500;
		body = execute_response_encode_failed("could not encode the response");
	}
	/* Recorded before the answer goes out: whoever hears the answer and asks again finds it. */
	execution_record_finish(app->executions, job.job_id, job.attempt, clock_wall_ms(), status,
				body);
	if (body == NULL)
		http_reply_error(request, 500, "could not encode the response");
	else
		http_reply_text(request, status, body, strlen(body), NULL);
	/* Only now: a draining agent waits for this so that the answer goes out first. */
	executor_answer_sent(ex);
out:
	free(body);
	executor_result_clear(&result);
	execution_record_entry_clear(&known);
	execute_request_clear(&job);
}

/* The GET /executions/{job_id} body of one record: a new string, or NULL if out of memory. */
static char *execution_body(const struct execution_record_entry *entry)
{
	struct execution_status status = {
		.job_id = (char *)entry->job_id, /* borrowed: only read by the encoder */
		.attempt = entry->attempt,
		.finished = entry->state != EXECUTION_RUNNING,
		.started_ms = entry->started_ms,
		.finished_ms = entry->finished_ms,
		.http_status = entry->http_status,
	};
	json_t *answer = NULL;
	char *body;

	if (status.finished) {
		/* The answer the agent wrote itself: valid JSON, valid UTF-8. */
		if (entry->body != NULL)
			answer = json_loads(entry->body, 0, NULL);
		status.output = (char *)json_string_value(json_object_get(answer, "output"));
		status.error = (char *)json_string_value(json_object_get(answer, "error"));
		status.ok = entry->http_status == 200 && status.output != NULL;
		if (!status.ok && status.error == NULL)
			status.error = (char *)LOST_ANSWER_ERROR;
		status.timed_out = !status.ok && json_is_true(json_object_get(answer, "timed_out"));
		status.cancelled = !status.ok && json_is_true(json_object_get(answer, "cancelled"));
	}
	body = execution_status_encode(&status);
	json_decref(answer);
	return body;
}

/*
 * Reads the optional ?attempt=N of GET /executions/{job_id} and its cancel
 * into *attempt (0 when not given: the newest attempt). Returns true, or
 * false after answering 400 (a bad value, or another query parameter).
 */
static bool query_attempt(struct http_request *request, int *attempt)
{
	static const char *const allowed[] = {"attempt", NULL};
	char value[32], scratch[64];
	const char *unknown = http_query_unknown_param(request, allowed, scratch, sizeof(scratch));
	long number;
	int found;

	*attempt = 0;
	if (unknown != NULL) {
		http_reply_error(request, 400, "unknown query parameter '%s' (allowed: attempt)", unknown);
		return false;
	}
	found = http_query_param(request, "attempt", value, sizeof(value));
	if (found == 0)
		return true;
	if (found < 0 || parse_long_in_range(value, 1, MESH_ATTEMPTS_MAX, &number) != 0) {
		http_reply_error(request, 400, "query parameter 'attempt' must be a whole number from 1 to %d",
				 MESH_ATTEMPTS_MAX);
		return false;
	}
	*attempt = (int)number;
	return true;
}

/* 404 for a job (attempt 0) or one attempt of it that this agent has no record of. */
static void reply_no_record(struct http_request *request, const char *job_id, int attempt)
{
	if (attempt > 0)
		http_reply_error(request, 404, "this agent has no record of attempt %d of job %s", attempt,
				 job_id);
	else
		http_reply_error(request, 404, "this agent has no record of job %s", job_id);
}

/* Answers 200 with the record in entry. */
static void reply_execution(struct http_request *request, const struct execution_record_entry *entry)
{
	char *body = execution_body(entry);

	if (body == NULL)
		http_reply_error(request, 500, "the agent is out of memory");
	else
		http_reply_text(request, 200, body, strlen(body), NULL);
	free(body);
}

static void handle_execution(struct http_request *request)
{
	const struct agent_api_app *app = request->app;
	const char *job_id = request->params[0];
	struct execution_record_entry entry;
	int attempt;

	if (!job_id_is_valid(request, job_id) || !query_attempt(request, &attempt))
		return;
	if (!execution_record_get(app->executions, job_id, attempt, clock_wall_ms(), &entry)) {
		reply_no_record(request, job_id, attempt);
		return;
	}
	reply_execution(request, &entry);
	execution_record_entry_clear(&entry);
}

/*
 * POST /executions/{job_id}/cancel[?attempt=N]. A running attempt is stopped
 * and its end awaited here (bounded), so that the answer is its final record;
 * a finished one's record is answered unchanged, so the caller sees that it
 * had finished. Without ?attempt, the newest attempt. The body, if any, is
 * ignored.
 */
static void handle_cancel(struct http_request *request)
{
	const struct agent_api_app *app = request->app;
	const char *job_id = request->params[0];
	struct execution_record_entry entry = {0};
	char why[EXECUTOR_STOP_WHY_SIZE], note[32];
	int64_t start;
	int attempt;

	if (!job_id_is_valid(request, job_id) || !query_attempt(request, &attempt))
		return;
	if (!execution_record_get(app->executions, job_id, attempt, clock_wall_ms(), &entry)) {
		reply_no_record(request, job_id, attempt);
		return;
	}
	/* From here on, the attempt the record is of (the newest one when none was asked for). */
	attempt = entry.attempt;
	attempt_note(attempt, note, sizeof(note));
	if (entry.state != EXECUTION_RUNNING) {
		log_info("job %s%s: cancel asked after it finished; answering its record unchanged",
			 job_id, note);
		reply_execution(request, &entry);
		goto out;
	}
	snprintf(why, sizeof(why), "POST /executions/%s/cancel", job_id);
	start = clock_monotonic_ms();
	/* Not found: it ended an instant ago and its record is being written; the wait sees it. */
	if (executor_cancel(app->executor, job_id, attempt, why))
		log_info("job %s%s: cancel asked; stopping it", job_id, note);
	if (!execution_record_wait_finished(app->executions, job_id, attempt, AGENT_API_CANCEL_WAIT_MS))
		log_warn("job %s%s: still running %d ms after it was cancelled", job_id, note,
			 AGENT_API_CANCEL_WAIT_MS);
	execution_record_entry_clear(&entry);
	if (!execution_record_get(app->executions, job_id, attempt, clock_wall_ms(), &entry)) {
		/* Finished and already dropped by the bounds: nothing left to show. */
		reply_no_record(request, job_id, attempt);
		return;
	}
	if (entry.state == EXECUTION_RUNNING) {
		char *body = execution_body(&entry);
		/* 202: the stop is under way but not over; GET /executions/{job_id} tells the end. */
		if (body == NULL)
			http_reply_error(request, 500, "the agent is out of memory");
		else
			http_reply_text(request, 202, body, strlen(body), NULL);
		free(body);
		goto out;
	}
	log_info("job %s%s: cancel answered after %lld ms", job_id, note,
		 (long long)(clock_monotonic_ms() - start));
	reply_execution(request, &entry);
out:
	execution_record_entry_clear(&entry);
}

static const struct http_route routes[] = {
	{"GET", "/healthz", handle_healthz, false},
	{"POST", "/execute", handle_execute, true},
	{"GET", "/executions/*", handle_execution, false},
	/* Reads (and ignores) a body, so that one left unread cannot be taken for the next request. */
	{"POST", "/executions/*/cancel", handle_cancel, true},
};

const struct http_route *agent_api_routes(size_t *count)
{
	*count = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

struct http_server *agent_api_start(const struct agent_api_app *app, const char *listen, char *err,
				    size_t err_size)
{
	struct http_server_config config;

	memset(&config, 0, sizeof(config));
	config.listen = listen;
	config.routes = agent_api_routes(&config.route_count);
	config.app = (void *)app; /* handlers only read it */
	config.body_limit = AGENT_API_BODY_LIMIT;
	config.num_threads = executor_capacity(app->executor) + AGENT_API_SPARE_THREADS;
	return http_server_start(&config, err, err_size);
}
