/*
 * meshctl submit TYPE PAYLOAD [--wait] [--timeout SECONDS]
 *
 * POST /jobs, then with --wait poll GET /jobs/{id} (20 ms, then 1.5 times
 * longer each time, at most 500 ms apart) until the job is COMPLETED or
 * FAILED or the timeout runs out.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "clock.h"
#include "cmd.h"
#include "display.h"
#include "options.h"
#include "wire.h"

#define SUBMIT_FIRST_DELAY_MS 20
#define SUBMIT_MAX_DELAY_MS 500

long cmd_submit_next_delay_ms(long previous_ms)
{
	long next;

	if (previous_ms <= 0)
		return SUBMIT_FIRST_DELAY_MS;
	next = previous_ms + previous_ms / 2;
	return next < SUBMIT_MAX_DELAY_MS ? next : SUBMIT_MAX_DELAY_MS;
}

/* The job as it stands: its JSON with --json, else its fields. */
static void print_job(struct cmd_context *ctx, const struct api_reply *reply, const struct job *job,
		      bool brief)
{
	if (ctx->options->json)
		display_json(ctx->out, reply->body, reply->len);
	else
		display_job(ctx->out, job, brief);
}

/*
 * Polls job (which reply/job hold on entry and on return) until it finishes
 * or the deadline passes. Returns the exit status.
 */
/*
 * One poll of GET /jobs/{id}. A coordinator that does not answer at all (it
 * is restarting, the network hiccups) is not a reason to give up before the
 * timeout: reply and job then keep the last state seen, and a note goes to
 * stderr once. Any HTTP answer that is an error (say 404) is final.
 * Returns 0 to go on waiting, -1 to stop with MESHCTL_EXIT_COORDINATOR.
 */
static int poll_job(struct cmd_context *ctx, const char *id, struct api_reply *reply,
		    struct job *job, bool *unreachable)
{
	struct api_reply fresh = {0};
	struct job fresh_job = {0};
	char err[API_ERROR_SIZE], path[MESH_ID_SIZE * 3 + 8];
	char *escaped = api_escape(id);
	int rc = -1;

	if (escaped == NULL) {
		cmd_error(ctx, "out of memory");
		return -1;
	}
	snprintf(path, sizeof(path), "/jobs/%s", escaped);
	free(escaped);
	if (api_client_call(ctx->api, "GET", path, NULL, &fresh, err, sizeof(err)) != 0) {
		if (fresh.status == 0) {
			if (!*unreachable)
				fprintf(stderr, "meshctl: %s; still waiting\n", err);
			*unreachable = true;
			rc = 0;
		} else {
			cmd_error(ctx, "%s", err);
		}
		goto out;
	}
	if (cmd_decode_job(ctx, "GET", path, &fresh, &fresh_job) != 0)
		goto out;
	if (*unreachable)
		fprintf(stderr, "meshctl: the coordinator answers again\n");
	*unreachable = false;
	api_reply_clear(reply);
	job_clear(job);
	*reply = fresh;
	*job = fresh_job;
	memset(&fresh, 0, sizeof(fresh));
	rc = 0;
out:
	api_reply_clear(&fresh);
	return rc;
}

static int wait_for_job(struct cmd_context *ctx, struct api_reply *reply, struct job *job)
{
	bool unreachable = false;
	const struct options *options = ctx->options;
	int64_t deadline = clock_monotonic_ms() + options->timeout_ms;
	char id[MESH_ID_SIZE];
	long delay = 0;

	snprintf(id, sizeof(id), "%s", job->id);
	while (!job_status_is_terminal(job->status)) {
		int64_t left = deadline - clock_monotonic_ms();
		if (left <= 0) {
			print_job(ctx, reply, job, true);
			cmd_error(ctx, "timed out after %.10g s waiting for job %s, which is %s",
				  (double)options->timeout_ms / 1000.0, id, job_status_name(job->status));
			return MESHCTL_EXIT_TIMEOUT;
		}
		delay = cmd_submit_next_delay_ms(delay);
		clock_sleep_ms(delay < left ? delay : left);
		if (poll_job(ctx, id, reply, job, &unreachable) != 0)
			return MESHCTL_EXIT_COORDINATOR;
	}
	print_job(ctx, reply, job, true);
	return job->status == JOB_COMPLETED ? MESHCTL_EXIT_OK : MESHCTL_EXIT_JOB_FAILED;
}

static int cmd_submit_exec(struct cmd_context *ctx)
{
	const struct options *options = ctx->options;
	struct api_reply reply = {0};
	struct job job = {0};
	char err[API_ERROR_SIZE];
	char *body;
	int rc = MESHCTL_EXIT_COORDINATOR;

	/* options_parse checked TYPE and that PAYLOAD is UTF-8: NULL here is out of memory. */
	body = job_submission_encode(options->args[0], options->args[1]);
	if (body == NULL) {
		cmd_error(ctx, "out of memory");
		goto out;
	}
	if (api_client_call(ctx->api, "POST", "/jobs", body, &reply, err, sizeof(err)) != 0) {
		cmd_error(ctx, "%s", err);
		goto out;
	}
	if (cmd_decode_job(ctx, "POST", "/jobs", &reply, &job) != 0)
		goto out;
	if (!options->wait) {
		if (options->json)
			display_json(ctx->out, reply.body, reply.len);
		else
			fprintf(ctx->out, "%s\n", job.id);
		rc = MESHCTL_EXIT_OK;
		goto out;
	}
	rc = wait_for_job(ctx, &reply, &job);
out:
	job_clear(&job);
	api_reply_clear(&reply);
	free(body);
	return rc;
}

static const char *const submit_args[] = {"TYPE", "PAYLOAD", NULL};

const struct cmd_entry cmd_submit_entry = {
	.name = "submit",
	.arg_names = submit_args,
	.usage = "TYPE PAYLOAD [--wait] [--timeout SECONDS]",
	.summary = "submit a job and print its id",
	.help = "Submits a job of type TYPE whose payload is PAYLOAD (one argument: quote it) and\n"
		"prints the job's id, or with --json the job as the coordinator returned it.\n"
		"\n"
		"  --wait             then wait until the job is COMPLETED or FAILED and print\n"
		"                     its id, status, node and result or error (--json: the job);\n"
		"                     exit status 0 if it COMPLETED, 1 if it FAILED\n"
		"  --timeout SECONDS  with --wait: stop waiting after SECONDS (default "
		OPTIONS_STR(OPTIONS_TIMEOUT_DEFAULT_S) ", at most\n"
		"                     " OPTIONS_STR(OPTIONS_TIMEOUT_MAX_S)
		", fractions allowed), print the job as it stands and\n"
		"                     exit with status 2; the job itself carries on",
	.options = OPTION_WAIT | OPTION_TIMEOUT,
	.exec = cmd_submit_exec,
};
