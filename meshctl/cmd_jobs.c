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

/* cmd_list_kind.add_row for jobs. */
static int add_job_item(struct table *table, const json_t *item, char *why, size_t why_size)
{
	struct job job;
	int rc;

	if (job_from_json(item, &job, why, why_size) != 0)
		return -1;
	rc = add_job_row(table, &job) == 0 ? 0 : -2;
	job_clear(&job);
	return rc;
}

static int cmd_jobs_exec(struct cmd_context *ctx)
{
	static const char *const headers[] = {"ID", "TYPE", "STATUS", "NODE", "CREATED", "UPDATED",
					      "RESULT/ERROR"};
	static const struct cmd_list_kind jobs = {
		.key = "jobs",
		.item = "job",
		.empty = "no jobs",
		.headers = headers,
		.column_count = sizeof(headers) / sizeof(headers[0]),
		.add_row = add_job_item,
	};
	char *path = cmd_jobs_path(ctx->options);
	int rc;

	if (path == NULL) {
		cmd_error(ctx, "out of memory");
		return MESHCTL_EXIT_COORDINATOR;
	}
	rc = cmd_print_list(ctx, path, &jobs);
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
		"updated, and the result of completed jobs or the error of failed and cancelled\n"
		"ones (cut to 40 characters; 'meshctl job ID' shows all of it). With --json, the\n"
		"coordinator's {\"jobs\": [...]} as it sent it.\n"
		"\n"
		"  --status S  only jobs in status S: QUEUED, RUNNING, COMPLETED, FAILED or\n"
		"              CANCELLED\n"
		"  --node ID   only jobs given to node ID\n"
		"  --type T    only jobs of type T\n"
		"  --limit N   at most N jobs, the oldest (1 to " OPTIONS_STR(OPTIONS_LIMIT_MAX) ")",
	.options = OPTION_STATUS | OPTION_NODE | OPTION_TYPE | OPTION_LIMIT,
	.exec = cmd_jobs_exec,
};
