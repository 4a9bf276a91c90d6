#include "cmd.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "clock.h"
#include "display.h"
#include "options.h"
#include "table.h"

#define POLL_FIRST_DELAY_MS 20
#define POLL_MAX_DELAY_MS 500

const struct cmd_entry *const cmd_table[] = {
	&cmd_submit_entry, &cmd_jobs_entry,  &cmd_job_entry, &cmd_cancel_entry,
	&cmd_nodes_entry,  &cmd_drain_entry, NULL,
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

char *cmd_item_path(const char *collection, const char *id, const char *suffix)
{
	char *escaped = api_escape(id);
	char *path = NULL;

	if (escaped != NULL && asprintf(&path, "/%s/%s%s", collection, escaped, suffix) < 0)
		path = NULL;
	free(escaped);
	return path;
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
	char *path = cmd_item_path("jobs", id, "");
	int rc = -1;

	memset(job, 0, sizeof(*job));
	if (path == NULL) {
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
	return rc;
}

int cmd_get_list(struct cmd_context *ctx, const char *path, const char *key,
		 struct api_reply *reply, json_t **items)
{
	char err[API_ERROR_SIZE];

	*items = NULL;
	if (api_client_call(ctx->api, "GET", path, NULL, reply, err, sizeof(err)) != 0) {
		cmd_error(ctx, "%s", err);
		return -1;
	}
	*items = json_object_get(reply->json, key);
	if (!json_is_array(*items)) {
		cmd_error(ctx, "the coordinator's reply to GET %s%s has no \"%s\" array",
			  api_client_base_url(ctx->api), path, key);
		*items = NULL;
		return -1;
	}
	return 0;
}

int cmd_print_list(struct cmd_context *ctx, const char *path, const struct cmd_list_kind *kind)
{
	struct api_reply reply = {0};
	struct table *table = NULL;
	char why[256];
	json_t *items, *item;
	size_t i;
	int rc = MESHCTL_EXIT_COORDINATOR;

	if (cmd_get_list(ctx, path, kind->key, &reply, &items) != 0)
		goto out;
	/* The array was checked first: --json never prints a reply of the wrong shape. */
	if (ctx->options->json) {
		display_json(ctx->out, reply.body, reply.len);
		rc = MESHCTL_EXIT_OK;
		goto out;
	}
	if (json_array_size(items) == 0) {
		fprintf(ctx->out, "%s\n", kind->empty);
		rc = MESHCTL_EXIT_OK;
		goto out;
	}
	table = table_new(kind->headers, kind->column_count);
	if (table == NULL) {
		cmd_error(ctx, "out of memory");
		goto out;
	}
	json_array_foreach(items, i, item) {
		int added = kind->add_row(table, item, why, sizeof(why));
		if (added == -1) {
			cmd_error(ctx, "the coordinator's reply to GET %s%s: %s[%zu] is not a %s: %s",
				  api_client_base_url(ctx->api), path, kind->key, i, kind->item, why);
			goto out;
		}
		if (added != 0) {
			cmd_error(ctx, "out of memory");
			goto out;
		}
	}
	table_print(table, ctx->out);
	rc = MESHCTL_EXIT_OK;
out:
	table_free(table);
	api_reply_clear(&reply);
	return rc;
}

long cmd_poll_next_delay_ms(long previous_ms)
{
	long next;

	if (previous_ms <= 0)
		return POLL_FIRST_DELAY_MS;
	next = previous_ms + previous_ms / 2;
	return next < POLL_MAX_DELAY_MS ? next : POLL_MAX_DELAY_MS;
}

bool cmd_wait_next(int64_t deadline, long *delay_ms)
{
	int64_t left = deadline - clock_monotonic_ms();

	if (left <= 0)
		return false;
	*delay_ms = cmd_poll_next_delay_ms(*delay_ms);
	clock_sleep_ms(*delay_ms < left ? *delay_ms : left);
	return true;
}

int cmd_poll(struct cmd_context *ctx, const char *path, struct api_reply *reply, bool *unreachable)
{
	struct api_reply fresh = {0};
	char err[API_ERROR_SIZE];

	if (api_client_call(ctx->api, "GET", path, NULL, &fresh, err, sizeof(err)) != 0) {
		int rc = -1;
		if (fresh.status == 0) { /* no HTTP answer at all */
			if (!*unreachable)
				cmd_error(ctx, "%s; still waiting", err);
			*unreachable = true;
			rc = 0;
		} else {
			cmd_error(ctx, "%s", err);
		}
		api_reply_clear(&fresh);
		return rc;
	}
	if (*unreachable)
		cmd_error(ctx, "the coordinator answers again");
	*unreachable = false;
	api_reply_clear(reply);
	*reply = fresh;
	return 1;
}
