/*
 * meshctl submit TYPE PAYLOAD [--wait] [--timeout SECONDS] [JOB OPTIONS]
 *
 * POST /jobs with the job options given. With --wait the POST itself waits
 * (POST /jobs?wait=SECONDS, at most 60 s, answered when the job has ended);
 * only when it answers 202 (still running) with time left, or the
 * coordinator holds too many waiting clients (503), does meshctl poll GET
 * /jobs/{id} (20 ms, then 1.5 times longer each time, at most 500 ms apart)
 * until the job is COMPLETED, FAILED or CANCELLED, or the timeout runs out.
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

/* The most POST /jobs?wait= holds a request (the coordinator's limit). */
#define SUBMIT_WAIT_MAX_S 60

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
 * Polls the job that reply and job hold (on entry and on return) until it
 * is terminal or deadline (monotonic ms: --timeout from the start of the
 * command, which the POST ?wait= has used part of) passes. Returns the exit
 * status.
 */
static int wait_for_job(struct cmd_context *ctx, struct api_reply *reply, struct job *job,
			int64_t deadline)
{
	const struct options *options = ctx->options;
	bool unreachable = false;
	char *path = cmd_item_path("jobs", job->id, "");
	long delay = 0;
	int rc = MESHCTL_EXIT_COORDINATOR;

	if (path == NULL) {
		cmd_error(ctx, "out of memory");
		return rc;
	}
	while (!job_status_is_terminal(job->status)) {
		if (!cmd_wait_next(deadline, &delay)) {
			print_job(ctx, reply, job, true);
			cmd_error(ctx, "timed out after %.10g s waiting for job %s, which is %s",
				  (double)options->timeout_ms / 1000.0, job->id,
				  job_status_name(job->status));
			rc = MESHCTL_EXIT_TIMEOUT;
			goto out;
		}
		switch (cmd_poll(ctx, path, reply, &unreachable)) {
		case -1:
			goto out;
		case 0:
			continue; /* no answer: the last state seen stands */
		}
		job_clear(job);
		if (cmd_decode_job(ctx, "GET", path, reply, job) != 0)
			goto out;
	}
	print_job(ctx, reply, job, true);
	/* CANCELLED did not complete either: a script waiting for the work must not go on. */
	rc = job->status == JOB_COMPLETED ? MESHCTL_EXIT_OK : MESHCTL_EXIT_NOT_COMPLETED;
out:
	free(path);
	return rc;
}

static int cmd_submit_exec(struct cmd_context *ctx)
{
	const struct options *options = ctx->options;
	struct api_reply reply = {0};
	struct job job = {0};
	char err[API_ERROR_SIZE];
	char *body;
	int rc = MESHCTL_EXIT_COORDINATOR;
	int64_t deadline = clock_monotonic_ms() + options->timeout_ms;

	/* options_parse checked every value: NULL here is out of memory. */
	body = job_submission_encode(&options->submission);
	if (body == NULL) {
		cmd_error(ctx, "out of memory");
		goto out;
	}
	if (options->wait) {
		/* Whole seconds the server may hold the request: the wait, but at most its limit. */
		long wait_s = (long)(options->timeout_ms / 1000);
		char path[32];
		if (wait_s > SUBMIT_WAIT_MAX_S)
			wait_s = SUBMIT_WAIT_MAX_S;
		snprintf(path, sizeof(path), "/jobs?wait=%ld", wait_s);
		api_client_allow_wait(ctx->api, wait_s * 1000);
		if (api_client_call(ctx->api, "POST", path, body, &reply, err, sizeof(err)) != 0) {
			/* 503: too many clients wait already, and nothing was stored: submit, then poll. */
			if (reply.status != 503) {
				cmd_error(ctx, "%s", err);
				goto out;
			}
			api_reply_clear(&reply);
		}
		api_client_allow_wait(ctx->api, 0);
	}
	if (reply.status == 0 &&
	    api_client_call(ctx->api, "POST", "/jobs", body, &reply, err, sizeof(err)) != 0) {
		cmd_error(ctx, "%s", err);
		goto out;
	}
	/* 202: the job was stored; the wait ran out before it ended. */
	if (reply.status == 202)
		reply.status = 201;
	if (cmd_decode_job(ctx, "POST", "/jobs", &reply, &job) != 0)
		goto out;
	/* 200, not 201: the idempotency key was used before, for this same job. */
	if (reply.status == 200)
		cmd_error(ctx, "job %s already existed for --idempotency-key '%s'; nothing new was submitted",
			  job.id,
			  options->submission.idempotency_key != NULL ? options->submission.idempotency_key
								      : "");
	if (!options->wait) {
		if (options->json)
			display_json(ctx->out, reply.body, reply.len);
		else
			fprintf(ctx->out, "%s\n", job.id);
		rc = MESHCTL_EXIT_OK;
		goto out;
	}
	rc = wait_for_job(ctx, &reply, &job, deadline);
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
	.usage = "TYPE PAYLOAD [--wait] [--timeout SECONDS] [JOB OPTIONS]",
	.summary = "submit a job and print its id",
	.help = "Submits a job of type TYPE whose payload is PAYLOAD (one argument: quote it) and\n"
		"prints the job's id, or with --json the job as the coordinator returned it.\n"
		"\n"
		"  --wait               then wait until the job is COMPLETED, FAILED or CANCELLED\n"
		"                       and print its id, status, node and result or error\n"
		"                       (--json: the job); exit status 0 if it COMPLETED, 1 if\n"
		"                       it FAILED or was CANCELLED\n"
		"  --timeout SECONDS    with --wait: stop waiting after SECONDS (default "
		OPTIONS_STR(OPTIONS_TIMEOUT_DEFAULT_S) ", at\n"
		"                       most " OPTIONS_STR(OPTIONS_TIMEOUT_MAX_S)
		", fractions allowed), print the job as it\n"
		"                       stands and exit with status 2; the job carries on\n"
		"\n"
		"Job options (the coordinator's defaults apply to those not given):\n"
		"  --priority high|normal|low\n"
		"                       queued jobs of higher priority are dispatched first\n"
		"  --job-timeout-ms N   longest one attempt may run, 1 to 604800000 (7 days)\n"
		"  --max-attempts N     try the job at most N times in all, 1 to 100: an\n"
		"                       attempt that cannot be dispatched, times out or whose\n"
		"                       node is lost is followed by another\n"
		"  --retry-on-failure   also try again when the handler itself fails\n"
		"  --backoff-base-ms N  wait before attempt 2, doubled for each later one\n"
		"                       (1 to 86400000)\n"
		"  --backoff-cap-ms N   longest wait between attempts (1 to 86400000, at least\n"
		"                       --backoff-base-ms)\n"
		"  --idempotency-key KEY\n"
		"                       submitting again with the same KEY, TYPE and PAYLOAD\n"
		"                       gives back the first job instead of a new one (1 to 128\n"
		"                       bytes, no control characters); the same KEY with another\n"
		"                       TYPE or PAYLOAD is refused",
	.options = OPTION_WAIT | OPTION_TIMEOUT | OPTION_PRIORITY | OPTION_JOB_TIMEOUT |
		   OPTION_MAX_ATTEMPTS | OPTION_RETRY_ON_FAILURE | OPTION_BACKOFF_BASE |
		   OPTION_BACKOFF_CAP | OPTION_IDEMPOTENCY_KEY,
	.exec = cmd_submit_exec,
};
