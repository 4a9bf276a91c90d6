/*
 * meshctl job ID
 *
 * GET /jobs/{id}: every field of one job, one a line, then its attempts.
 */
#include "api_client.h"
#include "cmd.h"
#include "display.h"
#include "options.h"

static int cmd_job_exec(struct cmd_context *ctx)
{
	struct api_reply reply = {0};
	struct job job = {0};
	int rc = MESHCTL_EXIT_COORDINATOR;

	if (cmd_get_job(ctx, ctx->options->args[0], &reply, &job) != 0)
		goto out;
	if (ctx->options->json)
		display_json(ctx->out, reply.body, reply.len);
	else
		display_job(ctx->out, &job, false);
	rc = MESHCTL_EXIT_OK;
out:
	job_clear(&job);
	api_reply_clear(&reply);
	return rc;
}

static const char *const job_args[] = {"ID", NULL};

const struct cmd_entry cmd_job_entry = {
	.name = "job",
	.arg_names = job_args,
	.usage = "ID",
	.summary = "show one job",
	.help = "Shows every field of job ID, one a line, with the whole payload, result and\n"
		"error: why it waits if it is QUEUED, its attempt (\"2 of 3\", and when the\n"
		"next one may start if it waits to retry), its options (priority, timeout,\n"
		"retries), then a table of its attempts: node, when each started and finished,\n"
		"how it ended, and its error (cut to 40 characters; --json has all of it).\n"
		"With --json, the job as the coordinator sent it.",
	.options = 0,
	.exec = cmd_job_exec,
};
