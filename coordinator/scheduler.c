#include "scheduler.h"

#include <stdbool.h>
#include <stdio.h>

long scheduler_pick(const struct scheduler_node *nodes, size_t count, const char *type, int64_t now,
		    enum scheduler_verdict *verdict)
{
	bool any_type = false, any_healthy = false, any_open = false;
	enum scheduler_verdict local;

	if (verdict == NULL)
		verdict = &local;
	for (size_t i = 0; i < count; i++) {
		const struct node *node = nodes[i].node;
		if (!node_has_type(node, type))
			continue;
		any_type = true;
		if (node->state != NODE_HEALTHY)
			continue;
		any_healthy = true;
		if (node->draining)
			continue;
		any_open = true;
		if (node->running < node->capacity && nodes[i].paused_until <= now) {
			*verdict = SCHEDULER_PICKED;
			return (long)i;
		}
	}
	if (count == 0)
		*verdict = SCHEDULER_NO_NODES;
	else if (!any_type)
		*verdict = SCHEDULER_NO_TYPE;
	else if (!any_healthy)
		*verdict = SCHEDULER_NO_HEALTHY;
	else if (!any_open)
		*verdict = SCHEDULER_DRAINING;
	else
		*verdict = SCHEDULER_ALL_FULL;
	return -1;
}

void scheduler_verdict_describe(enum scheduler_verdict verdict, const char *type, char *out,
				size_t out_size)
{
	switch (verdict) {
	case SCHEDULER_PICKED:
		snprintf(out, out_size, "a node was chosen");
		break;
	case SCHEDULER_NO_NODES:
		snprintf(out, out_size, "no node is registered");
		break;
	case SCHEDULER_NO_TYPE:
		snprintf(out, out_size, "no registered node runs jobs of type '%s'", type);
		break;
	case SCHEDULER_NO_HEALTHY:
		snprintf(out, out_size, "no healthy node runs jobs of type '%s'", type);
		break;
	case SCHEDULER_DRAINING:
		snprintf(out, out_size, "every healthy node that runs '%s' is draining", type);
		break;
	case SCHEDULER_ALL_FULL:
		snprintf(out, out_size, "every healthy node that runs '%s' is at capacity", type);
		break;
	}
}
