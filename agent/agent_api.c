#include "agent_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "wire.h"

/* The error of a finished record whose answer could not be kept (out of memory). */
#define LOST_ANSWER_ERROR "the agent ran out of memory recording this job's answer"

static void handle_healthz(struct http_request *request)
{
	const struct agent_api_app *app = request->app;
	struct executor *ex = app->executor;

	if (executor_is_closed(ex)) {
		http_reply_error(request, 503, "agent is shutting down");
		return;
	}
	http_reply_json(request, 200,
			json_pack("{s:s, s:i, s:i}", "status", "ok", "running", executor_running(ex),
				  "capacity", executor_capacity(ex)),
			NULL);
}

/* The HTTP status that answers an executor outcome. */
static int outcome_status(enum executor_outcome outcome)
{
	switch (outcome) {
	case EXECUTOR_OK:
		return 200;
	case EXECUTOR_FAILED:
		return 422;
	case EXECUTOR_INTERRUPTED:
		return 503;
	case EXECUTOR_INTERNAL:
		break;
	}
	return 500;
}

/*
 * Answers a POST /execute for a job this agent already knows, without running
 * it again: 409 while it runs, else the answer it gave the first time.
 */
static void reply_known(struct http_request *request, const struct execution_record_entry *known)
{
	char *body = NULL;

	if (known->state == EXECUTION_RUNNING) {
		log_info("job %s asked again while it runs; answering 409", known->job_id);
		http_reply_json(request, 409,
				json_pack("{s:s++, s:s}", "error", "job ", known->job_id,
					  " is already running on this agent", "status", "running"),
				NULL);
		return;
	}
	log_info("job %s asked again after it finished; answering its recorded HTTP %d",
		 known->job_id, known->http_status);
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
	struct executor_result result = {0};
	struct execution_record_entry known = {0};
	char err[WIRE_ERROR_SIZE];
	char *body = NULL;
	int64_t start, elapsed;
	int status;

	if (execute_request_decode(request->body, request->body_len, &job, err, sizeof(err)) != 0) {
		http_reply_error(request, 400, "%s", err);
		return;
	}
	/* Known ids never run again, whether or not there is room or the agent is stopping. */
	if (execution_record_get(app->executions, job.job_id, clock_wall_ms(), &known)) {
		reply_known(request, &known);
		goto out;
	}
	if (!executor_has_type(ex, job.type)) {
		char types[1024];
		executor_type_list(ex, types, sizeof(types));
		http_reply_error(request, 400, "unknown job type '%s'; this agent runs: %s", job.type, types);
		goto out;
	}
	switch (executor_try_acquire(ex)) {
	case EXECUTOR_SLOT_TAKEN:
		break;
	case EXECUTOR_SLOT_FULL:
		/* A concurrent request for this id may have taken the last slot since we looked. */
		if (execution_record_get(app->executions, job.job_id, clock_wall_ms(), &known)) {
			reply_known(request, &known);
			goto out;
		}
		log_info("job %s (%s) refused: all %d slots are busy", job.job_id, job.type,
			 executor_capacity(ex));
		http_reply_error(request, 429, "agent is at capacity (%d of %d slots busy)",
				 executor_capacity(ex), executor_capacity(ex));
		goto out;
	case EXECUTOR_SLOT_CLOSED:
		http_reply_error(request, 503, "agent is shutting down");
		goto out;
	}
	/* Insert-if-absent under the record's lock: of two concurrent requests for one id, one runs it. */
	switch (execution_record_begin(app->executions, job.job_id, clock_wall_ms(), &known)) {
	case EXECUTION_RECORD_BEGUN:
		break;
	case EXECUTION_RECORD_KNOWN:
		executor_release(ex);
		reply_known(request, &known);
		executor_answer_sent(ex);
		goto out;
	case EXECUTION_RECORD_NOMEM:
		executor_release(ex);
		log_error("job %s (%s) refused: out of memory recording it", job.job_id, job.type);
		http_reply_error(request, 500, "the agent is out of memory");
		executor_answer_sent(ex);
		goto out;
	}

	log_info("job %s (%s) started (%d of %d slots busy)", job.job_id, job.type,
		 executor_running(ex), executor_capacity(ex));
	start = clock_monotonic_ms();
	executor_run(ex, job.job_id, job.type, job.payload, &result);
	elapsed = clock_monotonic_ms() - start;
	executor_release(ex);

	status = outcome_status(result.outcome);
	switch (result.outcome) {
	case EXECUTOR_OK:
		log_info("job %s (%s) completed in %lld ms (%zu bytes of output%s)", job.job_id,
			 job.type, (long long)elapsed, strlen(result.output),
			 result.output_truncated ? ", cut at the cap" : "");
		body = execute_response_encode_ok(result.output);
		break;
	case EXECUTOR_FAILED:
		log_info("job %s (%s) failed in %lld ms: %s", job.job_id, job.type, (long long)elapsed,
			 result.error);
		break;
	case EXECUTOR_INTERRUPTED:
		log_warn("job %s (%s) cut short after %lld ms: %s", job.job_id, job.type,
			 (long long)elapsed, result.error);
		break;
	case EXECUTOR_INTERNAL:
		log_error("job %s (%s) could not run (%lld ms): %s", job.job_id, job.type,
			  (long long)elapsed, result.error ? result.error : "out of memory");
		break;
	}
	if (result.outcome != EXECUTOR_OK)
		body = execute_response_encode_failed(result.error ? result.error : "out of memory");
	if (body == NULL) {
		status = 500;
		body = execute_response_encode_failed("could not encode the response");
	}
	/* Recorded before the answer goes out: whoever hears the answer and asks again finds it. */
	execution_record_finish(app->executions, job.job_id, clock_wall_ms(), status, body);
	if (body == NULL)
		http_reply_error(request, 500, "could not encode the response");
	else
		http_reply_text(request, status, body, strlen(body), NULL);
	/* Only now: at shutdown, main waits for this so that the answer goes out first. */
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
	}
	body = execution_status_encode(&status);
	json_decref(answer);
	return body;
}

static void handle_execution(struct http_request *request)
{
	const struct agent_api_app *app = request->app;
	const char *job_id = request->params[0];
	struct execution_record_entry entry;
	char *body;

	if (!execution_record_get(app->executions, job_id, clock_wall_ms(), &entry)) {
		http_reply_error(request, 404, "this agent has no record of job %s", job_id);
		return;
	}
	body = execution_body(&entry);
	if (body == NULL)
		http_reply_error(request, 500, "the agent is out of memory");
	else
		http_reply_text(request, 200, body, strlen(body), NULL);
	free(body);
	execution_record_entry_clear(&entry);
}

static const struct http_route routes[] = {
	{"GET", "/healthz", handle_healthz, false},
	{"POST", "/execute", handle_execute, true},
	{"GET", "/executions/*", handle_execution, false},
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
