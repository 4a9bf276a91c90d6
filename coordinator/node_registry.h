/*
 * node_registry: the nodes the coordinator knows, in registration order, with
 * their health and how many jobs the coordinator has running on each.
 *
 * Threads: all functions are safe from any thread. One mutex guards the whole
 * registry; it is held only for in-memory work, never across network I/O.
 * Ownership: nodes and strings handed out are copies the caller releases.
 */
#ifndef MESH_NODE_REGISTRY_H
#define MESH_NODE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "scheduler.h"
#include "wire.h"

enum registry_result {
	REGISTRY_OK = 0,
	REGISTRY_NOT_FOUND,
	REGISTRY_INVALID, /* the registration is unusable (its address); err says why */
	REGISTRY_ERROR,   /* out of memory; nothing changed */
	REGISTRY_BUSY,    /* the node still has jobs in flight */
};

enum node_state_change { NODE_UNCHANGED, NODE_BECAME_HEALTHY, NODE_BECAME_UNHEALTHY };

struct node_registry;

/* What the dispatcher needs to send a job to the node it reserved. base_url is owned. */
struct node_slot {
	char node_id[MESH_ID_SIZE];
	char *base_url;
};

/* What the prober needs for one node. base_url is owned. */
struct probe_target {
	char node_id[MESH_ID_SIZE];
	char *base_url;
};

struct node_registry *node_registry_new(void);
void node_registry_free(struct node_registry *registry);

/*
 * Adds a node, or, if one with the same name exists, keeps its id and running
 * count and updates its address, capacity and types. Either way the node is
 * HEALTHY and not draining afterwards: it has just (re)started and talked to
 * us. *created says which happened; out (may be NULL) receives a copy.
 */
enum registry_result node_registry_register(struct node_registry *registry,
					    const struct node_registration *registration,
					    struct node *out, bool *created, char *err,
					    size_t err_size);

/*
 * Adds nodes remembered from before a restart (job_store_load_nodes), with
 * their ids. They count as UNHEALTHY and take no jobs until a probe answers;
 * if none does, the unhealthy_after-th failed probe reports
 * NODE_BECAME_UNHEALTHY as for a node that was healthy, so that jobs still
 * RUNNING on them are handled as on any lost node. Names already present are skipped.
 */
enum registry_result node_registry_restore(struct node_registry *registry,
					   const struct node *nodes, size_t count);

/* Marks the node draining (no new jobs) or not; out (may be NULL) receives a copy. */
enum registry_result node_registry_set_draining(struct node_registry *registry, const char *id,
						bool draining, struct node *out);

/* Removes a node that has no job in flight (REGISTRY_BUSY otherwise); out (may be NULL) gets it. */
enum registry_result node_registry_remove(struct node_registry *registry, const char *id,
					  struct node *out);

/*
 * Takes a slot on the node id whatever its state or capacity: for a job the
 * coordinator finds RUNNING there after a restart. out as for reserve.
 */
enum registry_result node_registry_occupy(struct node_registry *registry, const char *id,
					  struct node_slot *out);

enum registry_result node_registry_get(struct node_registry *registry, const char *id,
				       struct node *out);

/*
 * Whether node id is known, HEALTHY and still at base_url (it has not
 * registered again elsewhere): a slot taken on it may be used. No copy.
 */
bool node_registry_is_reachable_at(struct node_registry *registry, const char *id,
				   const char *base_url);

/* Copies of all nodes in registration order; release with node_list_free. */
enum registry_result node_registry_list(struct node_registry *registry, struct node **out,
					size_t *count);
void node_list_free(struct node *nodes, size_t count);

/* Counts nodes, and healthy ones. */
void node_registry_count(struct node_registry *registry, size_t *total, size_t *healthy);

/*
 * Chooses a node for a job of type (scheduler_pick) and takes one of its
 * slots. Returns true with out filled (node_slot_clear it), or false with
 * *verdict saying why no node could take it.
 */
bool node_registry_reserve(struct node_registry *registry, const char *type,
			   struct node_slot *out, enum scheduler_verdict *verdict);
/*
 * Why a job of type would wait right now, as scheduler_pick sees the
 * registry, without taking anything: SCHEDULER_PICKED means a node has room
 * (the job is next in line, behind older jobs). *matching counts the nodes
 * the verdict is about: for ALL_FULL the healthy, not draining nodes with the
 * type; for DRAINING the healthy ones; otherwise every node with the type.
 */
enum scheduler_verdict node_registry_explain(struct node_registry *registry, const char *type,
					     size_t *matching);
/* Gives back a slot taken by node_registry_reserve. */
void node_registry_release(struct node_registry *registry, const char *node_id);
/* Offers the node no job for pause_ms (it said it was full). */
void node_registry_pause(struct node_registry *registry, const char *node_id, int64_t pause_ms);
void node_slot_clear(struct node_slot *slot);

/* Snapshot of every node's id and URL, for one round of health probes. */
enum registry_result node_registry_probe_targets(struct node_registry *registry,
						 struct probe_target **out, size_t *count);
void probe_targets_free(struct probe_target *targets, size_t count);

/*
 * Records one probe: a success makes the node HEALTHY and updates last_seen;
 * the unhealthy_after-th failure in a row makes it UNHEALTHY.
 */
enum node_state_change node_registry_record_probe(struct node_registry *registry,
						  const char *node_id, bool ok,
						  int unhealthy_after);

#endif
