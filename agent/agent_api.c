#include "agent_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "wire.h"

static void handle_healthz(struct http_request *request)
{
	struct executor *ex = request->app;

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

static void handle_execute(struct http_request *request)
{
	struct executor *ex = request->app;
	struct execute_request job;
	struct executor_result result = {0};
	char err[WIRE_ERROR_SIZE];
	char *body = NULL;
	int64_t start, elapsed;
	int status;

	if (execute_request_decode(request->body, request->body_len, &job, err, sizeof(err)) != 0) {
		http_reply_error(request, 400, "%s", err);
		return;
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
		log_info("job %s (%s) refused: all %d slots are busy", job.job_id, job.type,
			 executor_capacity(ex));
		http_reply_error(request, 429, "agent is at capacity (%d of %d slots busy)",
				 executor_capacity(ex), executor_capacity(ex));
		goto out;
	case EXECUTOR_SLOT_CLOSED:
		http_reply_error(request, 503, "agent is shutting down");
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
	if (body == NULL)
		http_reply_error(request, 500, "could not encode the response");
	else
		http_reply_text(request, status, body, strlen(body), NULL);
	/* Only now: at shutdown, main waits for this so that the answer goes out first. */
	executor_answer_sent(ex);
out:
	free(body);
	executor_result_clear(&result);
	execute_request_clear(&job);
}

static const struct http_route routes[] = {
	{"GET", "/healthz", handle_healthz, false},
	{"POST", "/execute", handle_execute, true},
};

const struct http_route *agent_api_routes(size_t *count)
{
	*count = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

struct http_server *agent_api_start(struct executor *executor, const char *listen, char *err,
				    size_t err_size)
{
	struct http_server_config config;

	memset(&config, 0, sizeof(config));
	config.listen = listen;
	config.routes = agent_api_routes(&config.route_count);
	config.app = executor;
	config.body_limit = AGENT_API_BODY_LIMIT;
	config.num_threads = executor_capacity(executor) + AGENT_API_SPARE_THREADS;
	return http_server_start(&config, err, err_size);
}
