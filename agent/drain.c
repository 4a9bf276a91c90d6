/*
 * drain: no state of its own and no lock. The executor and the registration
 * are borrowed and used through their thread-safe functions; the http client
 * is made, used and freed by drain_run on the calling thread.
 */
#include "drain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http_client.h"
#include "log.h"
#include "model.h"
#include "wire.h"

#define DEFAULT_ANSWER_WAIT_MS 5000
#define DEFAULT_DEREGISTER_RETRY_MS 200
#define DEFAULT_DEREGISTER_FOR_MS 5000
#define DEFAULT_REQUEST_TIMEOUT_MS 2000
#define CONNECT_TIMEOUT_MAX_MS 1000
#define RESPONSE_LIMIT (64 * 1024)

/* The settings with their defaults filled in. */
struct drain_settings {
	int answer_wait_ms;
	int deregister_retry_ms;
	int deregister_for_ms;
	int request_timeout_ms;
};

static int or_default(int value, int fallback)
{
	return value > 0 ? value : fallback;
}

/* POST {base}/nodes/{node_id}/drain: step (b). Returns the HTTP status, or 0 with no answer. */
static long tell_coordinator(struct http_client *client, const char *base, const char *node_id)
{
	struct http_response response;
	char url[1024], err[512], message[256];
	long status = 0;

	snprintf(url, sizeof(url), "%s/nodes/%s/drain", base, node_id);
	/* An empty body, sent with Content-Length: 0: the endpoint takes none. */
	if (http_client_request(client, "POST", url, "", &response, err, sizeof(err)) != 0) {
		log_warn("drain (b): could not tell the coordinator that node %s drains: %s; draining "
			 "locally",
			 node_id, err);
		goto out;
	}
	status = response.status;
	if (status == 200) {
		log_info("drain (b): told the coordinator that node %s drains (POST %s: HTTP 200)",
			 node_id, url);
	} else if (status == 404) {
		log_info("drain (b): the coordinator does not know node %s (POST %s: HTTP 404); "
			 "draining locally",
			 node_id, url);
	} else {
		wire_error_message(response.body, response.len, message, sizeof(message));
		log_warn("drain (b): POST %s answered HTTP %ld: %s; draining locally", url, status,
			 message);
	}
out:
	http_response_clear(&response);
	return status;
}

/*
 * DELETE {base}/nodes/{node_id}: step (f). 409 means the coordinator still
 * counts jobs in flight on the node (their answers may be on the way to it):
 * asked again until the budget is spent. Fills the report's deregister fields.
 */
static void deregister(struct http_client *client, const char *base, const char *node_id,
		       const struct drain_settings *settings, struct drain_report *report)
{
	char url[1024], err[512], message[256];
	int64_t start = clock_monotonic_ms(), give_up_at = 0;

	snprintf(url, sizeof(url), "%s/nodes/%s", base, node_id);
	for (;;) {
		struct http_response response;
		long status;

		report->deregister_attempts++;
		if (http_client_request(client, "DELETE", url, NULL, &response, err, sizeof(err)) != 0) {
			http_response_clear(&response);
			report->deregister_status = 0;
			log_warn("drain (f): could not deregister node %s: %s; stopping without it",
				 node_id, err);
			return;
		}
		status = response.status;
		wire_error_message(response.body, response.len, message, sizeof(message));
		http_response_clear(&response);
		report->deregister_status = status;
		if (status == 200) {
			log_info("drain (f): deregistered node %s (DELETE %s: HTTP 200, %d attempt(s), "
				 "%lld ms)",
				 node_id, url, report->deregister_attempts,
				 (long long)(clock_monotonic_ms() - start));
			return;
		}
		if (status == 404) {
			log_info("drain (f): the coordinator no longer knows node %s (DELETE %s: HTTP 404)",
				 node_id, url);
			return;
		}
		if (status != 409) {
			log_warn("drain (f): DELETE %s answered HTTP %ld: %s; stopping without "
				 "deregistering",
				 url, status, message);
			return;
		}
		if (give_up_at == 0)
			give_up_at = clock_monotonic_ms() + settings->deregister_for_ms;
		if (clock_monotonic_ms() + settings->deregister_retry_ms > give_up_at) {
			log_warn("drain (f): the coordinator still counts jobs in flight on node %s after "
				 "%d attempt(s) over %lld ms (HTTP 409: %s); stopping without deregistering",
				 node_id, report->deregister_attempts,
				 (long long)(clock_monotonic_ms() - start), message);
			return;
		}
		clock_sleep_ms(settings->deregister_retry_ms);
	}
}

/* Why (d) cancels, as quoted in each cancelled job's error. */
static void cancel_reason(enum executor_drain how, long grace_ms, char *out, size_t out_size)
{
	if (how == EXECUTOR_HURRIED)
		snprintf(out, out_size,
			 "the agent was stopped and cancelled the job on a second stop signal, before "
			 "its drain grace of %ld ms was over",
			 grace_ms);
	else if (grace_ms == 0)
		snprintf(out, out_size,
			 "the agent was stopped and cancelled the job at once: its drain grace is 0 ms");
	else
		snprintf(out, out_size,
			 "the agent was stopped and cancelled the job after its drain grace of %ld ms",
			 grace_ms);
}

void drain_run(const struct drain_config *config, struct drain_report *report)
{
	const struct drain_settings settings = {
		.answer_wait_ms = or_default(config->answer_wait_ms, DEFAULT_ANSWER_WAIT_MS),
		.deregister_retry_ms = or_default(config->deregister_retry_ms, DEFAULT_DEREGISTER_RETRY_MS),
		.deregister_for_ms = or_default(config->deregister_for_ms, DEFAULT_DEREGISTER_FOR_MS),
		.request_timeout_ms = or_default(config->request_timeout_ms, DEFAULT_REQUEST_TIMEOUT_MS),
	};
	struct executor *ex = config->executor;
	struct http_client *client = NULL;
	char node_id[MESH_ID_SIZE] = "", why[EXECUTOR_STOP_WHY_SIZE];
	char *base = NULL;
	int64_t start = clock_monotonic_ms();
	int running;

	memset(report, 0, sizeof(*report));

	/* (a) Before anything that may take time: from now on new jobs are refused. */
	executor_close(ex);
	running = executor_running(ex);
	if (config->registration != NULL) {
		registration_halt(config->registration);
		registration_node_id(config->registration, node_id, sizeof(node_id));
	}
	log_info("drain (a): new jobs are refused (503); %d job(s) running; node id %s", running,
		 node_id[0] != '\0' ? node_id : "none (not registered)");

	if (node_id[0] != '\0') {
		size_t len = strlen(config->coordinator_url);
		while (len > 0 && config->coordinator_url[len - 1] == '/')
			len--;
		base = strndup(config->coordinator_url, len);
		client = http_client_new(settings.request_timeout_ms < CONNECT_TIMEOUT_MAX_MS
						 ? settings.request_timeout_ms
						 : CONNECT_TIMEOUT_MAX_MS,
					 settings.request_timeout_ms, RESPONSE_LIMIT);
		/* Two requests a few seconds apart: a kept-alive connection would only pin a coordinator thread. */
		if (client != NULL)
			http_client_set_keep_alive(client, false);
		if (base == NULL || client == NULL)
			log_error("drain: out of memory; the coordinator will not be told");
	}

	/* (b) */
	if (base != NULL && client != NULL)
		report->drain_status = tell_coordinator(client, base, node_id);
	else
		log_info("drain (b): no coordinator to tell");

	/* (c) */
	if (config->grace_ms > 0 && !executor_wait_idle(ex, 0))
		log_info("drain (c): waiting up to %ld ms for the running job(s) to end "
			 "(another stop signal cancels them at once)",
			 config->grace_ms);
	report->jobs = executor_wait_drained(ex, config->grace_ms);
	switch (report->jobs) {
	case EXECUTOR_DRAINED:
		log_info("drain (c): no job runs (%lld ms)", (long long)(clock_monotonic_ms() - start));
		break;
	case EXECUTOR_GRACE_OVER:
		log_warn("drain (c): the drain grace of %ld ms is over with %d job(s) still running",
			 config->grace_ms, executor_running(ex));
		break;
	case EXECUTOR_HURRIED:
		log_warn("drain (c): a second stop signal ends the wait with %d job(s) still running",
			 executor_running(ex));
		break;
	}

	/* (d) */
	if (report->jobs != EXECUTOR_DRAINED) {
		cancel_reason(report->jobs, config->grace_ms, why, sizeof(why));
		report->cancelled = executor_cancel_all(ex, why);
		log_warn("drain (d): cancelled %zu running job(s); handlers' process groups are killed",
			 report->cancelled);
	} else {
		log_info("drain (d): nothing to cancel");
	}

	/* (e) */
	report->answers_sent = executor_wait_idle(ex, settings.answer_wait_ms);
	if (report->answers_sent)
		log_info("drain (e): every answer is sent");
	else
		log_warn("drain (e): answers still pending after %d ms; stopping anyway",
			 settings.answer_wait_ms);

	/* (f) */
	if (base != NULL && client != NULL)
		deregister(client, base, node_id, &settings, report);
	else
		log_info("drain (f): no coordinator to deregister from");

	log_info("drained in %lld ms", (long long)(clock_monotonic_ms() - start));
	http_client_free(client);
	free(base);
}
