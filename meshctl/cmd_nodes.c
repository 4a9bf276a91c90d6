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

static const char *const node_headers[] = {"ID",      "NAME",  "ADDRESS",  "STATE",
					   "RUNNING", "TYPES", "LAST SEEN"};
#define NODE_COLUMNS (sizeof(node_headers) / sizeof(node_headers[0]))

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
		/* DRAINING or DRAINED for a healthy node that takes no new jobs. */
		const char *cells[] = {id,      name,  address,  node_state_name(node_shown_state(node)),
				       running, types, last_seen};
		rc = table_add_row(table, cells);
	}
	free(id);
	free(name);
	free(address);
	free(types);
	return rc;
}

/* cmd_list_kind.add_row for nodes. */
static int add_node_item(struct table *table, const json_t *item, char *why, size_t why_size)
{
	struct node node;
	int rc;

	if (node_from_json(item, &node, why, why_size) != 0)
		return -1;
	rc = add_node_row(table, &node) == 0 ? 0 : -2;
	node_clear(&node);
	return rc;
}

int cmd_print_node(struct cmd_context *ctx, const struct node *node)
{
	struct table *table = table_new(node_headers, NODE_COLUMNS);
	int rc = -1;

	if (table == NULL || add_node_row(table, node) != 0) {
		cmd_error(ctx, "out of memory");
	} else {
		table_print(table, ctx->out); /* main() reports a standard output that fails */
		rc = 0;
	}
	table_free(table);
	return rc;
}

static int cmd_nodes_exec(struct cmd_context *ctx)
{
	static const struct cmd_list_kind nodes = {
		.key = "nodes",
		.item = "node",
		.empty = "no nodes registered",
		.headers = node_headers,
		.column_count = NODE_COLUMNS,
		.add_row = add_node_item,
	};

	return cmd_print_list(ctx, "/nodes", &nodes);
}

static const char *const nodes_args[] = {NULL};

const struct cmd_entry cmd_nodes_entry = {
	.name = "nodes",
	.arg_names = nodes_args,
	.usage = "",
	.summary = "list the registered nodes",
	.help = "Lists the nodes in the order they registered: id, name, the address they\n"
		"advertised, their state, jobs running out of their capacity, the job types\n"
		"they take, and when the coordinator last reached them. With --json, the\n"
		"coordinator's {\"nodes\": [...]} as it sent it.\n"
		"\n"
		"States: HEALTHY; UNHEALTHY (its health probes fail: it gets no jobs); DRAINING\n"
		"(drained: takes no new jobs, some still running); DRAINED (drained, none\n"
		"running). See 'meshctl drain'.",
	.options = 0,
	.exec = cmd_nodes_exec,
};
