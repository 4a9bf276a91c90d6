/*
 * meshctl jobs [--status S] [--node ID] [--type T] [--limit N]
 *
 * GET /jobs?status=&node_id=&type=&limit= and a table of what comes back,
 * oldest first, as the coordinator sends them.
 */
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "cmd.h"
#include "display.h"
#include "options.h"
#include "table.h"

/* Appends "?name=value" or "&name=value" (value URL-encoded) to out. Returns 0 or -1. */
static int add_param(FILE *out, bool *first, const char *name, const char *value)
{
	char *escaped = api_escape(value);
	int n;

	if (escaped == NULL)
		return -1;
	n = fprintf(out, "%c%s=%s", *first ? '?' : '&', name, escaped);
	*first = false;
	free(escaped);
	return n < 0 ? -1 : 0;
}

char *cmd_jobs_path(const struct options *options)
{
	char *path = NULL;
	size_t size = 0;
	bool first = true, failed = false;
	char limit[32];
	FILE *out = open_memstream(&path, &size);

	if (out == NULL)
		return NULL;
	failed |= fputs("/jobs", out) == EOF;
	if (options->has_status)
		failed |= add_param(out, &first, "status", job_status_name(options->status)) != 0;
	if (options->node_id != NULL)
		failed |= add_param(out, &first, "node_id", options->node_id) != 0;
	if (options->type != NULL)
		failed |= add_param(out, &first, "type", options->type) != 0;
	if (options->limit > 0) {
		snprintf(limit, sizeof(limit), "%ld", options->limit);
		failed |= add_param(out, &first, "limit", limit) != 0;
	}
	failed |= fclose(out) != 0;
	if (failed) {
		free(path);
		return NULL;
	}
	return path;
}

/* Adds job's row: ID, TYPE, STATUS, NODE, CREATED, UPDATED, RESULT/ERROR. Returns 0 or -1. */
static int add_job_row(struct table *table, const struct job *job)
{
	char created[DISPLAY_TIME_SIZE], updated[DISPLAY_TIME_SIZE];
	/* Everything that came from the coordinator as text is made safe to print. */
	char *id = table_cell(job->id, MESH_ID_SIZE);
	char *type = table_cell(job->type, MESH_TYPE_MAX);
	char *node = table_cell(job->node_id[0] != '\0' ? job->node_id : "-", MESH_ID_SIZE);
	char *outcome = table_cell(display_job_outcome(job), DISPLAY_CELL_WIDTH);
	int rc = -1;

	display_time(job->created_at, created, sizeof(created));
	display_time(job->updated_at, updated, sizeof(updated));
	if (id != NULL && type != NULL && node != NULL && outcome != NULL) {
		const char *cells[] = {id, type, job_status_name(job->status), node, created, updated,
				       outcome};
		rc = table_add_row(table, cells);
	}
	free(id);
	free(type);
	free(node);
	free(outcome);
	return rc;
}

static int cmd_jobs_exec(struct cmd_context *ctx)
{
	static const char *const headers[] = {"ID", "TYPE", "STATUS", "NODE", "CREATED", "UPDATED",
					      "RESULT/ERROR"};
	struct api_reply reply = {0};
	struct table *table = NULL;
	struct job job = {0};
	char err[API_ERROR_SIZE], why[256];
	char *path = cmd_jobs_path(ctx->options);
	json_t *jobs, *item;
	size_t i;
	int rc = MESHCTL_EXIT_COORDINATOR;

	if (path == NULL) {
		cmd_error(ctx, "out of memory");
		goto out;
	}
	if (api_client_call(ctx->api, "GET", path, NULL, &reply, err, sizeof(err)) != 0) {
		cmd_error(ctx, "%s", err);
		goto out;
	}
	jobs = json_object_get(reply.json, "jobs");
	if (!json_is_array(jobs)) {
		cmd_error(ctx, "the coordinator's reply to GET %s%s has no \"jobs\" array",
			  api_client_base_url(ctx->api), path);
		goto out;
	}
	if (ctx->options->json) {
		display_json(ctx->out, reply.body, reply.len);
		rc = MESHCTL_EXIT_OK;
		goto out;
	}
	if (json_array_size(jobs) == 0) {
		fprintf(ctx->out, "no jobs\n");
		rc = MESHCTL_EXIT_OK;
		goto out;
	}
	table = table_new(headers, sizeof(headers) / sizeof(headers[0]));
	if (table == NULL) {
		cmd_error(ctx, "out of memory");
		goto out;
	}
	json_array_foreach(jobs, i, item) {
		if (job_from_json(item, &job, why, sizeof(why)) != 0) {
			cmd_error(ctx, "the coordinator's reply to GET %s%s: jobs[%zu] is not a job: %s",
				  api_client_base_url(ctx->api), path, i, why);
			goto out;
		}
		if (add_job_row(table, &job) != 0) {
			cmd_error(ctx, "out of memory");
			goto out;
		}
		job_clear(&job);
	}
	table_print(table, ctx->out);
	rc = MESHCTL_EXIT_OK;
out:
	job_clear(&job);
	table_free(table);
	api_reply_clear(&reply);
	free(path);
	return rc;
}

static const char *const jobs_args[] = {NULL};

const struct cmd_entry cmd_jobs_entry = {
	.name = "jobs",
	.arg_names = jobs_args,
	.usage = "[--status S] [--node ID] [--type T] [--limit N]",
	.summary = "list jobs, oldest first",
	.help = "Lists jobs, oldest first: id, type, status, node, when created and last\n"
		"updated, and the result of completed jobs or the error of failed ones (cut to\n"
		"40 characters; 'meshctl job ID' shows all of it). With --json, the coordinator's\n"
		"{\"jobs\": [...]} as it sent it.\n"
		"\n"
		"  --status S  only jobs in status S: QUEUED, RUNNING, COMPLETED or FAILED\n"
		"  --node ID   only jobs given to node ID\n"
		"  --type T    only jobs of type T\n"
		"  --limit N   at most N jobs, the oldest (1 to " OPTIONS_STR(OPTIONS_LIMIT_MAX) ")",
	.options = OPTION_STATUS | OPTION_NODE | OPTION_TYPE | OPTION_LIMIT,
	.exec = cmd_jobs_exec,
};
