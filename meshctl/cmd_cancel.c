/*
 * meshctl cancel ID
 *
 * POST /jobs/{id}/cancel. A job that had already finished is not an error of
 * the coordinator's but an answer (409 with the job): meshctl shows that job
 * and exits 1, so that a script can tell "too late" from "no such job" (4).
 */
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "cmd.h"
#include "display.h"
#include "options.h"
#include "wire.h"

/*
 * After a 409 (its error already printed): prints the job the coordinator
 * sent along, as it stands, if it sent one that reads.
 */
static void print_finished_job(struct cmd_context *ctx, const char *path,
			       const struct api_reply *reply)
{
	char why[256];
	struct job job = {0};
	json_t *body = wire_parse_object(reply->body, reply->len, why, sizeof(why));
	json_t *member = json_object_get(body, "job");
	char *text = NULL;

	if (member == NULL)
		goto out;
	if (job_from_json(member, &job, why, sizeof(why)) != 0) {
		cmd_error(ctx, "the coordinator's reply to POST %s%s has a \"job\" that is not a job: %s",
			  api_client_base_url(ctx->api), path, why);
		goto out;
	}
	if (!ctx->options->json) {
		display_job(ctx->out, &job, true);
		goto out;
	}
	/* The job alone, as 'meshctl job ID --json' would print it (compact, keys sorted). */
	text = wire_dump(json_incref(member));
	if (text == NULL)
		cmd_error(ctx, "out of memory");
	else
		display_json(ctx->out, text, strlen(text));
out:
	free(text);
	job_clear(&job);
	json_decref(body);
}

static int cmd_cancel_exec(struct cmd_context *ctx)
{
	struct api_reply reply = {0};
	struct job job = {0};
	char err[API_ERROR_SIZE];
	char *path = cmd_item_path("jobs", ctx->options->args[0], "/cancel");
	int rc = MESHCTL_EXIT_COORDINATOR;

	if (path == NULL) {
		cmd_error(ctx, "out of memory");
		goto out;
	}
	/* An empty body, sent with Content-Length: 0, as the API asks. */
	if (api_client_call(ctx->api, "POST", path, "", &reply, err, sizeof(err)) != 0) {
		cmd_error(ctx, "%s", err);
		if (reply.status == 409) {
			print_finished_job(ctx, path, &reply);
			rc = MESHCTL_EXIT_NOT_COMPLETED;
		}
		goto out;
	}
	if (cmd_decode_job(ctx, "POST", path, &reply, &job) != 0)
		goto out;
	if (ctx->options->json)
		display_json(ctx->out, reply.body, reply.len);
	else
		display_job(ctx->out, &job, true);
	rc = MESHCTL_EXIT_OK;
out:
	job_clear(&job);
	api_reply_clear(&reply);
	free(path);
	return rc;
}

static const char *const cancel_args[] = {"ID", NULL};

const struct cmd_entry cmd_cancel_entry = {
	.name = "cancel",
	.arg_names = cancel_args,
	.usage = "ID",
	.summary = "cancel a job that has not finished",
	.help = "Cancels job ID if it has not finished yet (it is QUEUED or RUNNING). Prints\n"
		"the job's id, status (CANCELLED) and node, or with --json the job as the\n"
		"coordinator returned it.\n"
		"\n"
		"Exit status 0 if the job was cancelled; 1 if it had already finished\n"
		"(COMPLETED, FAILED or CANCELLED): nothing was cancelled, and the job is printed\n"
		"as it stands; 4 if there is no job ID.",
	.options = 0,
	.exec = cmd_cancel_exec,
};
