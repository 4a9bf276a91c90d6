/*
 * meshctl drain NODE [--wait] [--timeout SECONDS]
 *
 * POST /nodes/{id}/drain: the node takes no new jobs, and the ones it runs
 * finish. NODE is a node id or a node name, which GET /nodes turns into the
 * id. With --wait, poll GET /nodes/{id} (as submit --wait polls a job) until
 * no job runs on it any more.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "clock.h"
#include "cmd.h"
#include "display.h"
#include "options.h"

/*
 * True if text has the shape of the ids the coordinator makes, "n-" and 12
 * lowercase hex digits: then it is used as it is, without GET /nodes. (A
 * node could be *named* like that; its id is then the way to drain it.)
 */
static bool looks_like_node_id(const char *text)
{
	if (strncmp(text, "n-", 2) != 0 || strlen(text) != 14)
		return false;
	for (const char *p = text + 2; *p != '\0'; p++) {
		if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
			return false;
	}
	return true;
}

/*
 * Finds the node whose id or name is wanted in GET /nodes and copies its id
 * into id (MESH_ID_SIZE bytes). An id beats a name. Returns 0, or -1 after
 * printing why: no such node, a name several nodes share, or the
 * coordinator's error.
 */
static int resolve_node(struct cmd_context *ctx, const char *wanted, char *id)
{
	struct api_reply reply = {0};
	struct node node = {0};
	char why[256], first[MESH_ID_SIZE] = "", second[MESH_ID_SIZE] = "";
	json_t *nodes, *item;
	size_t i, named = 0;
	int rc = -1;

	if (cmd_get_list(ctx, "/nodes", "nodes", &reply, &nodes) != 0)
		goto out;
	json_array_foreach(nodes, i, item) {
		if (node_from_json(item, &node, why, sizeof(why)) != 0) {
			cmd_error(ctx, "the coordinator's reply to GET %s/nodes: nodes[%zu] is not a node: %s",
				  api_client_base_url(ctx->api), i, why);
			goto out;
		}
		if (strcmp(node.id, wanted) == 0) {
			snprintf(id, MESH_ID_SIZE, "%s", node.id);
			rc = 0;
			goto out;
		}
		if (strcmp(node.name, wanted) == 0 && named++ < 2)
			snprintf(named == 1 ? first : second, MESH_ID_SIZE, "%s", node.id);
		node_clear(&node);
	}
	if (named == 1) {
		snprintf(id, MESH_ID_SIZE, "%s", first);
		rc = 0;
	} else if (named > 1) {
		cmd_error(ctx, "%zu nodes are named '%s' (%s, %s%s): give the id of the one to drain",
			  named, wanted, first, second, named > 2 ? ", ..." : "");
	} else {
		cmd_error(ctx, "no node has the id or name '%s' (%zu registered at %s; see 'meshctl nodes')",
			  wanted, json_array_size(nodes), api_client_base_url(ctx->api));
	}
out:
	node_clear(&node);
	api_reply_clear(&reply);
	return rc;
}

/*
 * Decodes reply->json, the answer to method path, as a node. Returns 0, or
 * -1 after printing why.
 */
static int decode_node(struct cmd_context *ctx, const char *method, const char *path,
		       const struct api_reply *reply, struct node *node)
{
	char why[256];

	if (node_from_json(reply->json, node, why, sizeof(why)) == 0)
		return 0;
	cmd_error(ctx, "the coordinator's reply to %s %s%s is not a node: %s", method,
		  api_client_base_url(ctx->api), path, why);
	return -1;
}

/* The node as it stands: its JSON with --json, else the row 'meshctl nodes' shows. */
static int print_node(struct cmd_context *ctx, const struct api_reply *reply,
		      const struct node *node)
{
	if (ctx->options->json)
		return display_json(ctx->out, reply->body, reply->len) == 0 ? 0 : -1;
	return cmd_print_node(ctx, node);
}

/* Drained: it takes no new jobs and none of its jobs runs any more. */
static bool is_drained(const struct node *node)
{
	return node->draining && node->running == 0;
}

/*
 * Polls the node that reply and node hold (on entry and on return) until it
 * is drained or the deadline passes. Returns the exit status.
 */
static int wait_for_node(struct cmd_context *ctx, struct api_reply *reply, struct node *node)
{
	const struct options *options = ctx->options;
	int64_t deadline = clock_monotonic_ms() + options->timeout_ms;
	bool unreachable = false;
	char *path = cmd_item_path("nodes", node->id, "");
	long delay = 0;
	int rc = MESHCTL_EXIT_COORDINATOR;

	if (path == NULL) {
		cmd_error(ctx, "out of memory");
		return rc;
	}
	while (!is_drained(node)) {
		if (!cmd_wait_next(deadline, &delay)) {
			if (print_node(ctx, reply, node) != 0)
				goto out;
			cmd_error(ctx,
				  "timed out after %.10g s waiting for node %s to drain: it is %s with %d "
				  "job(s) still running",
				  (double)options->timeout_ms / 1000.0, node->id,
				  node_state_name(node_shown_state(node)), node->running);
			rc = MESHCTL_EXIT_TIMEOUT;
			goto out;
		}
		switch (cmd_poll(ctx, path, reply, &unreachable)) {
		case -1:
			goto out;
		case 0:
			continue; /* no answer: the last state seen stands */
		}
		node_clear(node);
		if (decode_node(ctx, "GET", path, reply, node) != 0)
			goto out;
	}
	if (print_node(ctx, reply, node) == 0)
		rc = MESHCTL_EXIT_OK;
out:
	free(path);
	return rc;
}

static int cmd_drain_exec(struct cmd_context *ctx)
{
	const char *wanted = ctx->options->args[0];
	struct api_reply reply = {0};
	struct node node = {0};
	char err[API_ERROR_SIZE], id[MESH_ID_SIZE];
	char *path = NULL;
	int rc = MESHCTL_EXIT_COORDINATOR;

	if (looks_like_node_id(wanted))
		snprintf(id, sizeof(id), "%s", wanted);
	else if (resolve_node(ctx, wanted, id) != 0)
		goto out;
	path = cmd_item_path("nodes", id, "/drain");
	if (path == NULL) {
		cmd_error(ctx, "out of memory");
		goto out;
	}
	/* An empty body, sent with Content-Length: 0, as the API asks. */
	if (api_client_call(ctx->api, "POST", path, "", &reply, err, sizeof(err)) != 0) {
		cmd_error(ctx, "%s", err);
		goto out;
	}
	if (decode_node(ctx, "POST", path, &reply, &node) != 0)
		goto out;
	if (ctx->options->wait)
		rc = wait_for_node(ctx, &reply, &node);
	else if (print_node(ctx, &reply, &node) == 0)
		rc = MESHCTL_EXIT_OK;
out:
	node_clear(&node);
	api_reply_clear(&reply);
	free(path);
	return rc;
}

static const char *const drain_args[] = {"NODE", NULL};

const struct cmd_entry cmd_drain_entry = {
	.name = "drain",
	.arg_names = drain_args,
	.usage = "NODE [--wait] [--timeout SECONDS]",
	.summary = "stop giving jobs to a node; its running jobs finish",
	.help = "Drains node NODE (a node id, or a node name): the coordinator gives it no new\n"
		"jobs, and the jobs it runs finish there. Prints the node as 'meshctl nodes'\n"
		"does, DRAINING while jobs still run on it and DRAINED when none do, or with\n"
		"--json the node as the coordinator returned it.\n"
		"\n"
		"  --wait             then wait until no job runs on the node (DRAINED) and\n"
		"                     print it; exit status 0 then\n"
		"  --timeout SECONDS  with --wait: stop waiting after SECONDS (default "
		OPTIONS_STR(OPTIONS_TIMEOUT_DEFAULT_S) ", at most\n"
		"                     " OPTIONS_STR(OPTIONS_TIMEOUT_MAX_S)
		", fractions allowed), print the node as it stands and\n"
		"                     exit with status 2; the drain itself carries on\n"
		"\n"
		"A NODE of the form n- and 12 hex digits is taken as an id; any other is looked\n"
		"up with GET /nodes, by id or by name. Exit status 4 if there is no such node.",
	.options = OPTION_WAIT | OPTION_TIMEOUT,
	.exec = cmd_drain_exec,
};
