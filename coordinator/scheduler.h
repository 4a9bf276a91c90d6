/*
 * scheduler: the coordinator's choice of node for a job, as a pure function
 * over a snapshot of the registry, so that it can be tested on its own.
 *
 * Rule (ADR 0004, plus capacity): the first node in registration order that
 * is HEALTHY, is not draining, advertises the job's type and has a free slot
 * (running < capacity). When there is none, the verdict says why, for logs and for
 * telling users why a job waits.
 */
#ifndef MESH_SCHEDULER_H
#define MESH_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

enum scheduler_verdict {
	SCHEDULER_PICKED,
	SCHEDULER_NO_NODES,       /* no node is registered */
	SCHEDULER_NO_TYPE,        /* no registered node advertises the type */
	SCHEDULER_NO_HEALTHY,     /* nodes have the type, but none of them is HEALTHY */
	SCHEDULER_DRAINING,       /* the healthy nodes that have the type are all draining */
	SCHEDULER_ALL_FULL,       /* healthy nodes have the type, every slot is taken */
};

/*
 * One node as the scheduler sees it. paused_until: a node that has just
 * answered "full" (HTTP 429) is not offered jobs before this monotonic time.
 */
struct scheduler_node {
	const struct node *node;
	int64_t paused_until;
};

/*
 * Returns the index of the chosen node in nodes, or -1; *verdict says which
 * (it may be NULL). now is clock_monotonic_ms().
 */
long scheduler_pick(const struct scheduler_node *nodes, size_t count, const char *type, int64_t now,
		    enum scheduler_verdict *verdict);

/* A short sentence for a verdict ("no healthy node has type 'x'"), written to out. */
void scheduler_verdict_describe(enum scheduler_verdict verdict, const char *type, char *out,
				size_t out_size);

#endif
