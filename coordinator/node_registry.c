/*
 * Lock: node_registry.lock guards entries, view and count. Entries are
 * allocated one by one so that view[i].node can point into them while the
 * arrays grow.
 */
#include "node_registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "clock.h"
#include "log.h"

struct registry_entry {
	struct node node;
	int failed_probes;
	bool awaiting_first_probe; /* restored from the store, not heard from yet */
};

struct node_registry {
	pthread_mutex_t lock;
	struct registry_entry **entries; /* registration order; owned */
	struct scheduler_node *view;     /* view[i].node == &entries[i]->node */
	size_t count;
	size_t cap;
};

struct node_registry *node_registry_new(void)
{
	struct node_registry *registry = calloc(1, sizeof(*registry));
	if (registry == NULL)
		return NULL;
	pthread_mutex_init(&registry->lock, NULL);
	return registry;
}

void node_registry_free(struct node_registry *registry)
{
	if (registry == NULL)
		return;
	for (size_t i = 0; i < registry->count; i++) {
		node_clear(&registry->entries[i]->node);
		free(registry->entries[i]);
	}
	free(registry->entries);
	free(registry->view);
	pthread_mutex_destroy(&registry->lock);
	free(registry);
}

static long find_index(const struct node_registry *registry, const char *id)
{
	for (size_t i = 0; i < registry->count; i++) {
		if (strcmp(registry->entries[i]->node.id, id) == 0)
			return (long)i;
	}
	return -1;
}

static long find_by_name(const struct node_registry *registry, const char *name)
{
	for (size_t i = 0; i < registry->count; i++) {
		if (strcmp(registry->entries[i]->node.name, name) == 0)
			return (long)i;
	}
	return -1;
}

static char **copy_types(char *const *types, size_t count)
{
	char **copy = calloc(count, sizeof(char *));
	if (copy == NULL)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		copy[i] = strdup(types[i]);
		if (copy[i] == NULL) {
			while (i > 0)
				free(copy[--i]);
			free(copy);
			return NULL;
		}
	}
	return copy;
}

static void free_types(char **types, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(types[i]);
	free(types);
}

static int grow(struct node_registry *registry)
{
	size_t cap = registry->cap ? registry->cap * 2 : 16;
	struct registry_entry **entries = realloc(registry->entries, cap * sizeof(*entries));
	struct scheduler_node *view;

	if (entries == NULL)
		return -1;
	registry->entries = entries;
	view = realloc(registry->view, cap * sizeof(*view));
	if (view == NULL)
		return -1;
	registry->view = view;
	registry->cap = cap;
	return 0;
}

/* Appends entry (owned from now on) at the end of the registration order. Lock held. */
static int append_entry(struct node_registry *registry, struct registry_entry *entry)
{
	if (registry->count == registry->cap && grow(registry) != 0)
		return -1;
	registry->entries[registry->count] = entry;
	registry->view[registry->count].node = &entry->node;
	registry->view[registry->count].paused_until = 0;
	registry->count++;
	return 0;
}

enum registry_result node_registry_register(struct node_registry *registry,
					    const struct node_registration *registration,
					    struct node *out, bool *created, char *err,
					    size_t err_size)
{
	enum registry_result rc = REGISTRY_ERROR;
	char *base_url, *address = NULL, *name = NULL;
	char **types = NULL;
	struct registry_entry *entry = NULL;
	long index;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	base_url = build_agent_base_url(registration->address, err, err_size);
	if (base_url == NULL)
		return REGISTRY_INVALID;
	address = strdup(registration->address);
	name = strdup(registration->name);
	types = copy_types(registration->types, registration->type_count);
	if (address == NULL || name == NULL || types == NULL) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}

	pthread_mutex_lock(&registry->lock);
	index = find_by_name(registry, registration->name);
	if (index >= 0) {
		entry = registry->entries[index];
		/*
		 * A restarted agent usually comes back from where it was. Another
		 * address while the node still answers probes is more likely a second
		 * agent started under the same name: it takes the node over, so say so.
		 */
		if (entry->node.state == NODE_HEALTHY && strcmp(entry->node.address, address) != 0)
			log_warn("node %s '%s' registered again from %s while it was HEALTHY at %s: "
				 "if two agents share the name '%s', only the last one gets jobs",
				 entry->node.id, entry->node.name, address, entry->node.address,
				 entry->node.name);
		free(entry->node.address);
		free(entry->node.base_url);
		free_types(entry->node.types, entry->node.type_count);
		free(name);
		*created = false;
	} else {
		if (registry->count == registry->cap && grow(registry) != 0) {
			pthread_mutex_unlock(&registry->lock);
			snprintf(err, err_size, "out of memory");
			goto fail;
		}
		entry = calloc(1, sizeof(*entry));
		if (entry == NULL) {
			pthread_mutex_unlock(&registry->lock);
			snprintf(err, err_size, "out of memory");
			goto fail;
		}
		do
			mesh_new_id('n', entry->node.id, sizeof(entry->node.id));
		while (find_index(registry, entry->node.id) >= 0);
		entry->node.name = name;
		entry->node.registered_at = clock_wall_ms();
		append_entry(registry, entry); /* cannot fail: grown above */
		index = (long)registry->count - 1;
		*created = true;
	}
	entry->node.address = address;
	entry->node.base_url = base_url;
	entry->node.types = types;
	entry->node.type_count = registration->type_count;
	entry->node.capacity = registration->capacity;
	entry->node.state = NODE_HEALTHY;
	entry->node.draining = false;
	entry->node.last_seen = clock_wall_ms();
	entry->failed_probes = 0;
	entry->awaiting_first_probe = false;
	registry->view[index].paused_until = 0;
	rc = REGISTRY_OK;
	if (out != NULL && node_copy(out, &entry->node) != 0)
		rc = REGISTRY_ERROR; /* registered all the same; only the copy failed */
	pthread_mutex_unlock(&registry->lock);
	return rc;
fail:
	free(base_url);
	free(address);
	free(name);
	if (types != NULL)
		free_types(types, registration->type_count);
	return rc;
}

enum registry_result node_registry_restore(struct node_registry *registry,
					   const struct node *nodes, size_t count)
{
	enum registry_result rc = REGISTRY_OK;

	pthread_mutex_lock(&registry->lock);
	for (size_t i = 0; i < count && rc == REGISTRY_OK; i++) {
		struct registry_entry *entry;
		char err[256];
		if (find_by_name(registry, nodes[i].name) >= 0 || find_index(registry, nodes[i].id) >= 0)
			continue;
		entry = calloc(1, sizeof(*entry));
		if (entry == NULL || node_copy(&entry->node, &nodes[i]) != 0) {
			free(entry);
			rc = REGISTRY_ERROR;
			break;
		}
		/* The base URL is derived, not stored: work it out as registration does. */
		free(entry->node.base_url);
		entry->node.base_url = build_agent_base_url(entry->node.address, err, sizeof(err));
		if (entry->node.base_url == NULL) {
			log_warn("stored node %s '%s' has an unusable address (%s); forgetting it",
				 entry->node.id, entry->node.name, err);
			node_clear(&entry->node);
			free(entry);
			continue;
		}
		entry->node.state = NODE_UNHEALTHY;
		entry->node.running = 0;
		entry->node.last_seen = 0;
		entry->awaiting_first_probe = true;
		if (append_entry(registry, entry) != 0) {
			node_clear(&entry->node);
			free(entry);
			rc = REGISTRY_ERROR;
		}
	}
	pthread_mutex_unlock(&registry->lock);
	return rc;
}

enum registry_result node_registry_set_draining(struct node_registry *registry, const char *id,
						bool draining, struct node *out)
{
	enum registry_result rc = REGISTRY_NOT_FOUND;
	long index;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&registry->lock);
	index = find_index(registry, id);
	if (index >= 0) {
		registry->entries[index]->node.draining = draining;
		rc = REGISTRY_OK;
		if (out != NULL && node_copy(out, &registry->entries[index]->node) != 0)
			rc = REGISTRY_ERROR;
	}
	pthread_mutex_unlock(&registry->lock);
	return rc;
}

enum registry_result node_registry_remove(struct node_registry *registry, const char *id,
					  struct node *out)
{
	enum registry_result rc = REGISTRY_NOT_FOUND;
	struct registry_entry *entry;
	long index;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&registry->lock);
	index = find_index(registry, id);
	if (index < 0)
		goto out;
	entry = registry->entries[index];
	if (entry->node.running > 0) {
		rc = REGISTRY_BUSY;
		if (out != NULL && node_copy(out, &entry->node) != 0)
			rc = REGISTRY_ERROR;
		goto out;
	}
	if (out != NULL && node_copy(out, &entry->node) != 0) {
		rc = REGISTRY_ERROR;
		goto out;
	}
	node_clear(&entry->node);
	free(entry);
	/* Keep the registration order of the others; view[] points into entries, so rebuild it. */
	memmove(&registry->entries[index], &registry->entries[index + 1],
		(registry->count - (size_t)index - 1) * sizeof(registry->entries[0]));
	memmove(&registry->view[index], &registry->view[index + 1],
		(registry->count - (size_t)index - 1) * sizeof(registry->view[0]));
	registry->count--;
	rc = REGISTRY_OK;
out:
	pthread_mutex_unlock(&registry->lock);
	return rc;
}

enum registry_result node_registry_occupy(struct node_registry *registry, const char *id,
					  struct node_slot *out)
{
	enum registry_result rc = REGISTRY_NOT_FOUND;
	long index;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&registry->lock);
	index = find_index(registry, id);
	if (index >= 0) {
		struct node *node = &registry->entries[index]->node;
		out->base_url = strdup(node->base_url);
		rc = REGISTRY_ERROR;
		if (out->base_url != NULL) {
			strcpy(out->node_id, node->id);
			node->running++;
			rc = REGISTRY_OK;
		}
	}
	pthread_mutex_unlock(&registry->lock);
	return rc;
}

enum registry_result node_registry_get(struct node_registry *registry, const char *id,
				       struct node *out)
{
	enum registry_result rc = REGISTRY_NOT_FOUND;
	long index;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&registry->lock);
	index = find_index(registry, id);
	if (index >= 0)
		rc = node_copy(out, &registry->entries[index]->node) == 0 ? REGISTRY_OK : REGISTRY_ERROR;
	pthread_mutex_unlock(&registry->lock);
	return rc;
}

bool node_registry_is_reachable_at(struct node_registry *registry, const char *id,
				   const char *base_url)
{
	bool reachable = false;
	long index;

	pthread_mutex_lock(&registry->lock);
	index = find_index(registry, id);
	if (index >= 0) {
		const struct node *node = &registry->entries[index]->node;
		reachable = node->state == NODE_HEALTHY && node->base_url != NULL &&
			    strcmp(node->base_url, base_url) == 0;
	}
	pthread_mutex_unlock(&registry->lock);
	return reachable;
}

enum registry_result node_registry_list(struct node_registry *registry, struct node **out,
					size_t *count)
{
	enum registry_result rc = REGISTRY_OK;
	struct node *nodes;
	size_t n = 0;

	*out = NULL;
	*count = 0;
	pthread_mutex_lock(&registry->lock);
	nodes = calloc(registry->count ? registry->count : 1, sizeof(*nodes));
	if (nodes == NULL)
		rc = REGISTRY_ERROR;
	for (; rc == REGISTRY_OK && n < registry->count; n++) {
		if (node_copy(&nodes[n], &registry->entries[n]->node) != 0)
			rc = REGISTRY_ERROR;
	}
	pthread_mutex_unlock(&registry->lock);
	if (rc != REGISTRY_OK) {
		node_list_free(nodes, n);
		return rc;
	}
	*out = nodes;
	*count = n;
	return rc;
}

void node_list_free(struct node *nodes, size_t count)
{
	for (size_t i = 0; nodes != NULL && i < count; i++)
		node_clear(&nodes[i]);
	free(nodes);
}

void node_registry_count(struct node_registry *registry, size_t *total, size_t *healthy)
{
	pthread_mutex_lock(&registry->lock);
	*total = registry->count;
	*healthy = 0;
	for (size_t i = 0; i < registry->count; i++)
		*healthy += registry->entries[i]->node.state == NODE_HEALTHY;
	pthread_mutex_unlock(&registry->lock);
}

bool node_registry_reserve(struct node_registry *registry, const char *type,
			   struct node_slot *out, enum scheduler_verdict *verdict)
{
	bool reserved = false;
	long index;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&registry->lock);
	index = scheduler_pick(registry->view, registry->count, type, clock_monotonic_ms(), verdict);
	if (index >= 0) {
		struct node *node = &registry->entries[index]->node;
		out->base_url = strdup(node->base_url);
		if (out->base_url != NULL) {
			strcpy(out->node_id, node->id);
			node->running++;
			reserved = true;
		}
	}
	pthread_mutex_unlock(&registry->lock);
	return reserved;
}

enum scheduler_verdict node_registry_explain(struct node_registry *registry, const char *type,
					     size_t *matching)
{
	enum scheduler_verdict verdict;

	pthread_mutex_lock(&registry->lock);
	scheduler_pick(registry->view, registry->count, type, clock_monotonic_ms(), &verdict);
	*matching = 0;
	for (size_t i = 0; i < registry->count; i++) {
		const struct node *node = &registry->entries[i]->node;
		if (!node_has_type(node, type))
			continue;
		/* Count the nodes the verdict is about: "all 2 nodes ... are full" must be true. */
		if (verdict == SCHEDULER_ALL_FULL)
			*matching += node->state == NODE_HEALTHY && !node->draining;
		else if (verdict == SCHEDULER_DRAINING)
			*matching += node->state == NODE_HEALTHY;
		else
			(*matching)++;
	}
	pthread_mutex_unlock(&registry->lock);
	return verdict;
}

void node_registry_release(struct node_registry *registry, const char *node_id)
{
	long index;
	pthread_mutex_lock(&registry->lock);
	index = find_index(registry, node_id);
	if (index >= 0 && registry->entries[index]->node.running > 0)
		registry->entries[index]->node.running--;
	pthread_mutex_unlock(&registry->lock);
}

void node_registry_pause(struct node_registry *registry, const char *node_id, int64_t pause_ms)
{
	long index;
	pthread_mutex_lock(&registry->lock);
	index = find_index(registry, node_id);
	if (index >= 0)
		registry->view[index].paused_until = clock_monotonic_ms() + pause_ms;
	pthread_mutex_unlock(&registry->lock);
}

void node_slot_clear(struct node_slot *slot)
{
	free(slot->base_url);
	memset(slot, 0, sizeof(*slot));
}

enum registry_result node_registry_probe_targets(struct node_registry *registry,
						 struct probe_target **out, size_t *count)
{
	enum registry_result rc = REGISTRY_OK;
	struct probe_target *targets;
	size_t n = 0;

	*out = NULL;
	*count = 0;
	pthread_mutex_lock(&registry->lock);
	targets = calloc(registry->count ? registry->count : 1, sizeof(*targets));
	if (targets == NULL)
		rc = REGISTRY_ERROR;
	for (; rc == REGISTRY_OK && n < registry->count; n++) {
		strcpy(targets[n].node_id, registry->entries[n]->node.id);
		targets[n].base_url = strdup(registry->entries[n]->node.base_url);
		if (targets[n].base_url == NULL)
			rc = REGISTRY_ERROR;
	}
	pthread_mutex_unlock(&registry->lock);
	if (rc != REGISTRY_OK) {
		probe_targets_free(targets, n);
		return rc;
	}
	*out = targets;
	*count = n;
	return rc;
}

void probe_targets_free(struct probe_target *targets, size_t count)
{
	for (size_t i = 0; targets != NULL && i < count; i++)
		free(targets[i].base_url);
	free(targets);
}

enum node_state_change node_registry_record_probe(struct node_registry *registry,
						  const char *node_id, bool ok,
						  int unhealthy_after)
{
	enum node_state_change change = NODE_UNCHANGED;
	struct registry_entry *entry;
	long index;

	pthread_mutex_lock(&registry->lock);
	index = find_index(registry, node_id);
	if (index < 0)
		goto out;
	entry = registry->entries[index];
	if (ok) {
		entry->failed_probes = 0;
		entry->node.last_seen = clock_wall_ms();
		if (entry->node.state != NODE_HEALTHY) {
			entry->node.state = NODE_HEALTHY;
			change = NODE_BECAME_HEALTHY;
		}
		entry->awaiting_first_probe = false;
	} else if (++entry->failed_probes >= unhealthy_after &&
		   (entry->node.state == NODE_HEALTHY || entry->awaiting_first_probe)) {
		entry->node.state = NODE_UNHEALTHY;
		entry->awaiting_first_probe = false;
		change = NODE_BECAME_UNHEALTHY;
	}
out:
	pthread_mutex_unlock(&registry->lock);
	return change;
}
