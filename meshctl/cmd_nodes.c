/*
 * meshctl nodes
 *
 * GET /nodes and a table of the nodes, in the order they registered.
 */
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "cmd.h"
#include "display.h"
#include "options.h"
#include "table.h"

/* "echo,sleep" made to fit a cell. Returns a new string, or NULL if out of memory. */
static char *join_types(const struct node *node)
{
	char *joined = NULL, *cell;
	size_t size = 0;
	FILE *out = open_memstream(&joined, &size);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < node->type_count; i++)
		fprintf(out, "%s%s", i > 0 ? "," : "", node->types[i]);
	if (fclose(out) != 0) {
		free(joined);
		return NULL;
	}
	cell = table_cell(joined, DISPLAY_CELL_WIDTH);
	free(joined);
	return cell;
}

/* Adds node's row: ID, NAME, ADDRESS, STATE, RUNNING, TYPES, LAST SEEN. Returns 0 or -1. */
static int add_node_row(struct table *table, const struct node *node)
{
	char running[32], last_seen[DISPLAY_TIME_SIZE];
	/* Everything that came from the coordinator as text is made safe to print. */
	char *id = table_cell(node->id, MESH_ID_SIZE);
	char *name = table_cell(node->name, MESH_NAME_MAX);
	char *address = table_cell(node->address, MESH_ADDRESS_MAX);
	char *types = join_types(node);
	int rc = -1;

	snprintf(running, sizeof(running), "%d/%d", node->running, node->capacity);
	if (node->last_seen != 0)
		display_time(node->last_seen, last_seen, sizeof(last_seen));
	else
		snprintf(last_seen, sizeof(last_seen), "never");
	if (id != NULL && name != NULL && address != NULL && types != NULL) {
		const char *cells[] = {id, name, address, node_state_name(node->state), running, types,
				       last_seen};
		rc = table_add_row(table, cells);
	}
	free(id);
	free(name);
	free(address);
	free(types);
	return rc;
}

static int cmd_nodes_exec(struct cmd_context *ctx)
{
	static const char *const headers[] = {"ID", "NAME", "ADDRESS", "STATE", "RUNNING", "TYPES",
					      "LAST SEEN"};
	struct api_reply reply = {0};
	struct table *table = NULL;
	struct node node = {0};
	char err[API_ERROR_SIZE], why[256];
	json_t *nodes, *item;
	size_t i;
	int rc = MESHCTL_EXIT_COORDINATOR;

	if (api_client_call(ctx->api, "GET", "/nodes", NULL, &reply, err, sizeof(err)) != 0) {
		cmd_error(ctx, "%s", err);
		goto out;
	}
	nodes = json_object_get(reply.json, "nodes");
	if (!json_is_array(nodes)) {
		cmd_error(ctx, "the coordinator's reply to GET %s/nodes has no \"nodes\" array",
			  api_client_base_url(ctx->api));
		goto out;
	}
	if (ctx->options->json) {
		display_json(ctx->out, reply.body, reply.len);
		rc = MESHCTL_EXIT_OK;
		goto out;
	}
	if (json_array_size(nodes) == 0) {
		fprintf(ctx->out, "no nodes registered\n");
		rc = MESHCTL_EXIT_OK;
		goto out;
	}
	table = table_new(headers, sizeof(headers) / sizeof(headers[0]));
	if (table == NULL) {
		cmd_error(ctx, "out of memory");
		goto out;
	}
	json_array_foreach(nodes, i, item) {
		if (node_from_json(item, &node, why, sizeof(why)) != 0) {
			cmd_error(ctx, "the coordinator's reply to GET %s/nodes: nodes[%zu] is not a node: %s",
				  api_client_base_url(ctx->api), i, why);
			goto out;
		}
		if (add_node_row(table, &node) != 0) {
			cmd_error(ctx, "out of memory");
			goto out;
		}
		node_clear(&node);
	}
	table_print(table, ctx->out);
	rc = MESHCTL_EXIT_OK;
out:
	node_clear(&node);
	table_free(table);
	api_reply_clear(&reply);
	return rc;
}

static const char *const nodes_args[] = {NULL};

const struct cmd_entry cmd_nodes_entry = {
	.name = "nodes",
	.arg_names = nodes_args,
	.usage = "",
	.summary = "list the registered nodes",
	.help = "Lists the nodes in the order they registered: id, name, the address they\n"
		"advertised, HEALTHY or UNHEALTHY, jobs running out of their capacity, the job\n"
		"types they take, and when the coordinator last reached them. With --json, the\n"
		"coordinator's {\"nodes\": [...]} as it sent it.",
	.options = 0,
	.exec = cmd_nodes_exec,
};
