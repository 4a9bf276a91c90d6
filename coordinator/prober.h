/*
 * prober: checks every node's GET /healthz once per interval.
 *
 * All probes of a round run at once on one thread through libcurl's multi
 * interface, each bounded by the probe timeout, so a dead node's timeout never
 * delays the others. After unhealthy_after failures in a row a node becomes
 * UNHEALTHY (and the dispatcher fails what it was running); one success makes
 * it HEALTHY again (and the dispatcher looks at waiting jobs).
 *
 * Threads: the prober owns its thread and curl handles; it talks to the
 * registry and the dispatcher only through their thread-safe functions.
 */
#ifndef MESH_PROBER_H
#define MESH_PROBER_H

#include "dispatcher.h"
#include "node_registry.h"

struct prober_config {
	long interval_ms;
	long timeout_ms;
	int unhealthy_after;
};

struct prober;

/* registry and dispatcher are borrowed and must outlive the prober. */
struct prober *prober_start(struct node_registry *registry, struct dispatcher *dispatcher,
			    const struct prober_config *config, char *err, size_t err_size);
/* Stops and joins the thread (at most one probe timeout). NULL is a no-op. */
void prober_stop(struct prober *prober);

#endif
