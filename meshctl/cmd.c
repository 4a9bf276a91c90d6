#include "cmd.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"

const struct cmd_entry *const cmd_table[] = {
	&cmd_submit_entry,
	&cmd_jobs_entry,
	&cmd_job_entry,
	&cmd_nodes_entry,
	NULL,
};

const struct cmd_entry *cmd_find(const char *name)
{
	for (size_t i = 0; cmd_table[i] != NULL; i++) {
		if (strcmp(cmd_table[i]->name, name) == 0)
			return cmd_table[i];
	}
	return NULL;
}

size_t cmd_arg_count(const struct cmd_entry *entry)
{
	size_t count = 0;
	while (entry->arg_names[count] != NULL)
		count++;
	return count;
}

void cmd_error(struct cmd_context *ctx, const char *fmt, ...)
{
	va_list ap;

	fputs("meshctl: ", ctx->err);
	va_start(ap, fmt);
	vfprintf(ctx->err, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->err);
}

int cmd_decode_job(struct cmd_context *ctx, const char *method, const char *path,
		   const struct api_reply *reply, struct job *job)
{
	char why[256];

	if (job_from_json(reply->json, job, why, sizeof(why)) == 0)
		return 0;
	cmd_error(ctx, "the coordinator's reply to %s %s%s is not a job: %s", method,
		  api_client_base_url(ctx->api), path, why);
	return -1;
}

int cmd_get_job(struct cmd_context *ctx, const char *id, struct api_reply *reply, struct job *job)
{
	char err[API_ERROR_SIZE];
	char *escaped = api_escape(id);
	char *path = NULL;
	int rc = -1;

	memset(job, 0, sizeof(*job));
	if (escaped == NULL || asprintf(&path, "/jobs/%s", escaped) < 0) {
		path = NULL;
		cmd_error(ctx, "out of memory");
		goto out;
	}
	if (api_client_call(ctx->api, "GET", path, NULL, reply, err, sizeof(err)) != 0) {
		cmd_error(ctx, "%s", err);
		goto out;
	}
	rc = cmd_decode_job(ctx, "GET", path, reply, job);
out:
	free(path);
	free(escaped);
	return rc;
}
