/*
 * node_registry: registration, reservation of slots, pauses and health.
 * Registrations are built from heap copies and released right after the
 * call, so every test also checks that the registry keeps its own copies.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "clock.h"
#include "node_registry.h"

/* Registers name at address with capacity and comma-separated types. */
static enum registry_result register_node(struct node_registry *registry, const char *name,
					  const char *address, int capacity, const char *types,
					  struct node *out, bool *created, char *err, size_t err_size)
{
	struct node_registration registration = {0};
	enum registry_result rc;

	registration.name = strdup(name);
	registration.address = strdup(address);
	registration.capacity = capacity;
	registration.types = calloc(16, sizeof(char *));
	ck_assert_ptr_nonnull(registration.types);
	for (const char *p = types; *p != '\0' && registration.type_count < 16;) {
		size_t n = strcspn(p, ",");
		registration.types[registration.type_count++] = strndup(p, n);
		p += n + (p[n] == ',');
	}
	rc = node_registry_register(registry, &registration, out, created, err, err_size);
	node_registration_clear(&registration);
	return rc;
}

/* Registers a node that must be accepted; returns its id in id (MESH_ID_SIZE). */
static void add_node(struct node_registry *registry, const char *name, const char *address,
		     int capacity, const char *types, char *id)
{
	struct node node;
	bool created = false;
	char err[256] = "";

	ck_assert_msg(register_node(registry, name, address, capacity, types, &node, &created, err,
				    sizeof(err)) == REGISTRY_OK,
		      "%s: %s", name, err);
	ck_assert(created);
	strcpy(id, node.id);
	node_clear(&node);
}

static int running_of(struct node_registry *registry, const char *id)
{
	struct node node;
	int running;

	ck_assert_int_eq(node_registry_get(registry, id, &node), REGISTRY_OK);
	running = node.running;
	node_clear(&node);
	return running;
}

static enum node_state state_of(struct node_registry *registry, const char *id)
{
	struct node node;
	enum node_state state;

	ck_assert_int_eq(node_registry_get(registry, id, &node), REGISTRY_OK);
	state = node.state;
	node_clear(&node);
	return state;
}

/* Reserves a slot for type; returns true and the node id in id, or false and *verdict. */
static bool reserve(struct node_registry *registry, const char *type, char *id,
		    enum scheduler_verdict *verdict)
{
	struct node_slot slot;
	bool ok = node_registry_reserve(registry, type, &slot, verdict);

	id[0] = '\0';
	if (ok) {
		ck_assert_ptr_nonnull(slot.base_url);
		strcpy(id, slot.node_id);
	}
	node_slot_clear(&slot);
	return ok;
}

/* ---- registration ------------------------------------------------------------------ */

START_TEST(test_node_registry_registers_a_new_node_as_healthy)
{
	struct node_registry *registry = node_registry_new();
	int64_t before = clock_wall_ms();
	struct node node, again;
	bool created = false;
	char err[256] = "";

	ck_assert_int_eq(register_node(registry, "alpha", ":8081", 4, "echo,sleep", &node, &created, err,
				       sizeof(err)),
			 REGISTRY_OK);
	ck_assert(created);
	ck_assert_msg(strncmp(node.id, "n-", 2) == 0 && strlen(node.id) == 14, "id '%s'", node.id);
	ck_assert_str_eq(node.name, "alpha");
	ck_assert_str_eq(node.address, ":8081");
	ck_assert_str_eq(node.base_url, "http://localhost:8081");
	ck_assert_int_eq(node.state, NODE_HEALTHY);
	ck_assert_int_eq(node.capacity, 4);
	ck_assert_int_eq(node.running, 0);
	ck_assert_uint_eq(node.type_count, 2);
	ck_assert_str_eq(node.types[0], "echo");
	ck_assert_str_eq(node.types[1], "sleep");
	ck_assert_int_ge(node.registered_at, before);
	ck_assert_int_ge(node.last_seen, before);

	ck_assert_int_eq(node_registry_get(registry, node.id, &again), REGISTRY_OK);
	ck_assert_str_eq(again.name, "alpha");
	ck_assert_str_eq(again.base_url, "http://localhost:8081");
	ck_assert_uint_eq(again.type_count, 2);
	ck_assert_int_eq(again.registered_at, node.registered_at);
	node_clear(&again);
	node_clear(&node);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_says_whether_a_node_is_reachable_at_an_address)
{
	struct node_registry *registry = node_registry_new();
	struct node node, moved;
	bool created;
	char err[256] = "";

	ck_assert_int_eq(register_node(registry, "alpha", ":8081", 1, "echo", &node, &created, err,
				       sizeof(err)),
			 REGISTRY_OK);
	ck_assert(node_registry_is_reachable_at(registry, node.id, "http://localhost:8081"));
	ck_assert(!node_registry_is_reachable_at(registry, node.id, "http://localhost:9999"));
	ck_assert(!node_registry_is_reachable_at(registry, "n-000000000000", "http://localhost:8081"));
	/* Registered again elsewhere: not at the old address any more. */
	ck_assert_int_eq(register_node(registry, "alpha", ":8082", 1, "echo", &moved, &created, err,
				       sizeof(err)),
			 REGISTRY_OK);
	ck_assert(!node_registry_is_reachable_at(registry, node.id, "http://localhost:8081"));
	ck_assert(node_registry_is_reachable_at(registry, node.id, "http://localhost:8082"));
	/* UNHEALTHY: not reachable. */
	ck_assert_int_eq(node_registry_record_probe(registry, node.id, false, 1), NODE_BECAME_UNHEALTHY);
	ck_assert(!node_registry_is_reachable_at(registry, node.id, "http://localhost:8082"));
	node_clear(&moved);
	node_clear(&node);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_builds_the_base_url_from_the_address)
{
	static const struct {
		const char *address, *base_url;
	} cases[] = {
		{":8081", "http://localhost:8081"},
		{"10.0.0.7:9000", "http://10.0.0.7:9000"},
		{"[::1]:8081", "http://[::1]:8081"},
		{"https://agent.example:8443/", "https://agent.example:8443"},
	};
	struct node_registry *registry = node_registry_new();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct node node;
		bool created;
		char name[16], err[256] = "";
		snprintf(name, sizeof(name), "node-%zu", i);
		ck_assert_msg(register_node(registry, name, cases[i].address, 1, "echo", &node, &created,
					    err, sizeof(err)) == REGISTRY_OK,
			      "%s: %s", cases[i].address, err);
		ck_assert_str_eq(node.address, cases[i].address);
		ck_assert_str_eq(node.base_url, cases[i].base_url);
		node_clear(&node);
	}
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_updates_a_node_that_registers_again_by_name)
{
	struct node_registry *registry = node_registry_new();
	char id[MESH_ID_SIZE], reserved[MESH_ID_SIZE], err[256] = "";
	struct node first, node;
	bool created = true;
	size_t total, healthy;

	ck_assert_int_eq(register_node(registry, "alpha", ":8081", 2, "echo", &first, &created, err,
				       sizeof(err)),
			 REGISTRY_OK);
	strcpy(id, first.id);
	ck_assert(reserve(registry, "echo", reserved, NULL));
	ck_assert_str_eq(reserved, id);
	clock_sleep_ms(3);

	ck_assert_int_eq(register_node(registry, "alpha", "otherhost:9090", 8, "upper,sleep", &node,
				       &created, err, sizeof(err)),
			 REGISTRY_OK);
	ck_assert(!created);
	ck_assert_str_eq(node.id, id);
	ck_assert_str_eq(node.address, "otherhost:9090");
	ck_assert_str_eq(node.base_url, "http://otherhost:9090");
	ck_assert_int_eq(node.capacity, 8);
	ck_assert_int_eq(node.running, 1); /* the slot taken before is still taken */
	ck_assert_uint_eq(node.type_count, 2);
	ck_assert_str_eq(node.types[0], "upper");
	ck_assert_str_eq(node.types[1], "sleep");
	ck_assert_int_eq(node.registered_at, first.registered_at);
	ck_assert_int_ge(node.last_seen, first.last_seen);
	node_clear(&node);
	node_clear(&first);

	node_registry_count(registry, &total, &healthy);
	ck_assert_uint_eq(total, 1);
	/* The old type is gone, the new ones are there. */
	{
		enum scheduler_verdict verdict;
		char got[MESH_ID_SIZE];
		ck_assert(!reserve(registry, "echo", got, &verdict));
		ck_assert_int_eq(verdict, SCHEDULER_NO_TYPE);
		ck_assert(reserve(registry, "sleep", got, NULL));
		ck_assert_str_eq(got, id);
	}
	ck_assert_int_eq(running_of(registry, id), 2);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_refuses_an_invalid_address_and_adds_nothing)
{
	static const char *const addresses[] = {"", "nohost", "host:0", "host:99999", "ftp://h:21",
						"host :80"};
	struct node_registry *registry = node_registry_new();
	size_t total, healthy, count;
	struct node *nodes;

	for (size_t i = 0; i < sizeof(addresses) / sizeof(addresses[0]); i++) {
		struct node node;
		bool created = false;
		char err[256] = "";
		ck_assert_msg(register_node(registry, "alpha", addresses[i], 1, "echo", &node, &created,
					    err, sizeof(err)) == REGISTRY_INVALID,
			      "'%s' accepted", addresses[i]);
		ck_assert_msg(err[0] != '\0', "'%s': no message", addresses[i]);
		ck_assert_str_eq(node.id, ""); /* out is zeroed, nothing to free */
		ck_assert_ptr_null(node.name);
	}
	node_registry_count(registry, &total, &healthy);
	ck_assert_uint_eq(total, 0);
	ck_assert_int_eq(node_registry_list(registry, &nodes, &count), REGISTRY_OK);
	ck_assert_uint_eq(count, 0);
	node_list_free(nodes, count);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_keeps_the_old_address_when_a_new_one_is_invalid)
{
	struct node_registry *registry = node_registry_new();
	char id[MESH_ID_SIZE], err[256] = "";
	struct node node;
	bool created;

	add_node(registry, "alpha", ":8081", 2, "echo", id);
	ck_assert_int_eq(register_node(registry, "alpha", "bad address", 9, "upper", &node, &created,
				       err, sizeof(err)),
			 REGISTRY_INVALID);
	ck_assert_ptr_nonnull(strstr(err, "whitespace"));
	ck_assert_int_eq(node_registry_get(registry, id, &node), REGISTRY_OK);
	ck_assert_str_eq(node.address, ":8081");
	ck_assert_str_eq(node.base_url, "http://localhost:8081");
	ck_assert_int_eq(node.capacity, 2);
	ck_assert_str_eq(node.types[0], "echo");
	node_clear(&node);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_accepts_a_null_out)
{
	struct node_registry *registry = node_registry_new();
	bool created = false;
	char err[256] = "";
	size_t total, healthy;

	ck_assert_int_eq(register_node(registry, "alpha", ":8081", 1, "echo", NULL, &created, err,
				       sizeof(err)),
			 REGISTRY_OK);
	ck_assert(created);
	node_registry_count(registry, &total, &healthy);
	ck_assert_uint_eq(total, 1);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_lists_nodes_in_registration_order)
{
	static const char *const names[] = {"zulu", "alpha", "mike", "bravo"};
	struct node_registry *registry = node_registry_new();
	char ids[4][MESH_ID_SIZE], again[MESH_ID_SIZE];
	struct node *nodes;
	size_t count;

	ck_assert_int_eq(node_registry_list(registry, &nodes, &count), REGISTRY_OK);
	ck_assert_uint_eq(count, 0);
	node_list_free(nodes, count);
	for (int i = 0; i < 4; i++) {
		char address[32];
		snprintf(address, sizeof(address), ":%d", 8081 + i);
		add_node(registry, names[i], address, 1, "echo", ids[i]);
	}
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(ids[i], ids[j]);
	/* Registering again does not move a node to the end. */
	{
		struct node node;
		bool created;
		char err[256];
		ck_assert_int_eq(register_node(registry, "alpha", ":9999", 1, "echo", &node, &created, err,
					       sizeof(err)),
				 REGISTRY_OK);
		strcpy(again, node.id);
		node_clear(&node);
	}
	ck_assert_str_eq(again, ids[1]);
	ck_assert_int_eq(node_registry_list(registry, &nodes, &count), REGISTRY_OK);
	ck_assert_uint_eq(count, 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_str_eq(nodes[i].id, ids[i]);
		ck_assert_str_eq(nodes[i].name, names[i]);
	}
	ck_assert_str_eq(nodes[1].address, ":9999");
	node_list_free(nodes, count);
	node_list_free(NULL, 0);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_answers_not_found_for_an_unknown_id)
{
	struct node_registry *registry = node_registry_new();
	char id[MESH_ID_SIZE];
	struct node node;

	ck_assert_int_eq(node_registry_get(registry, "n-000000000000", &node), REGISTRY_NOT_FOUND);
	add_node(registry, "alpha", ":8081", 1, "echo", id);
	ck_assert_int_eq(node_registry_get(registry, "n-000000000000", &node), REGISTRY_NOT_FOUND);
	ck_assert_int_eq(node_registry_get(registry, "alpha", &node), REGISTRY_NOT_FOUND);
	ck_assert_int_eq(node_registry_get(registry, "", &node), REGISTRY_NOT_FOUND);
	/* Unknown ids are ignored by the other calls. */
	node_registry_release(registry, "n-000000000000");
	node_registry_pause(registry, "n-000000000000", 1000);
	ck_assert_int_eq(node_registry_record_probe(registry, "n-000000000000", false, 1),
			 NODE_UNCHANGED);
	ck_assert_int_eq(state_of(registry, id), NODE_HEALTHY);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_counts_nodes_and_healthy_nodes)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE], b[MESH_ID_SIZE], c[MESH_ID_SIZE];
	size_t total = 99, healthy = 99;

	node_registry_count(registry, &total, &healthy);
	ck_assert_uint_eq(total, 0);
	ck_assert_uint_eq(healthy, 0);
	add_node(registry, "a", ":8081", 1, "echo", a);
	add_node(registry, "b", ":8082", 1, "echo", b);
	add_node(registry, "c", ":8083", 1, "echo", c);
	node_registry_count(registry, &total, &healthy);
	ck_assert_uint_eq(total, 3);
	ck_assert_uint_eq(healthy, 3);
	ck_assert_int_eq(node_registry_record_probe(registry, b, false, 1), NODE_BECAME_UNHEALTHY);
	node_registry_count(registry, &total, &healthy);
	ck_assert_uint_eq(total, 3);
	ck_assert_uint_eq(healthy, 2);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_gives_probe_targets_in_order)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE], b[MESH_ID_SIZE];
	struct probe_target *targets;
	size_t count;

	ck_assert_int_eq(node_registry_probe_targets(registry, &targets, &count), REGISTRY_OK);
	ck_assert_uint_eq(count, 0);
	probe_targets_free(targets, count);
	add_node(registry, "a", ":8081", 1, "echo", a);
	add_node(registry, "b", "http://10.1.1.1:9000/", 1, "echo", b);
	ck_assert_int_eq(node_registry_probe_targets(registry, &targets, &count), REGISTRY_OK);
	ck_assert_uint_eq(count, 2);
	ck_assert_str_eq(targets[0].node_id, a);
	ck_assert_str_eq(targets[0].base_url, "http://localhost:8081");
	ck_assert_str_eq(targets[1].node_id, b);
	ck_assert_str_eq(targets[1].base_url, "http://10.1.1.1:9000");
	probe_targets_free(targets, count);
	node_registry_free(registry);
}
END_TEST

/* ---- reserve, release, pause ----------------------------------------------------------- */

START_TEST(test_node_registry_reserve_with_no_nodes_says_so)
{
	struct node_registry *registry = node_registry_new();
	enum scheduler_verdict verdict = SCHEDULER_PICKED;
	char got[MESH_ID_SIZE];

	ck_assert(!reserve(registry, "echo", got, &verdict));
	ck_assert_int_eq(verdict, SCHEDULER_NO_NODES);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_reserves_the_first_eligible_node_up_to_capacity)
{
	struct node_registry *registry = node_registry_new();
	char sleeper[MESH_ID_SIZE], a[MESH_ID_SIZE], b[MESH_ID_SIZE], got[MESH_ID_SIZE];
	enum scheduler_verdict verdict = SCHEDULER_PICKED;
	struct node_slot slot;

	add_node(registry, "sleeper", ":8080", 5, "sleep", sleeper);
	add_node(registry, "a", ":8081", 1, "echo", a);
	add_node(registry, "b", ":8082", 2, "echo,sleep", b);

	ck_assert(node_registry_reserve(registry, "echo", &slot, &verdict));
	ck_assert_int_eq(verdict, SCHEDULER_PICKED);
	ck_assert_str_eq(slot.node_id, a);
	ck_assert_str_eq(slot.base_url, "http://localhost:8081");
	node_slot_clear(&slot);
	ck_assert_ptr_null(slot.base_url);
	ck_assert_int_eq(running_of(registry, a), 1);

	ck_assert(reserve(registry, "echo", got, &verdict));
	ck_assert_str_eq(got, b);
	ck_assert(reserve(registry, "echo", got, &verdict));
	ck_assert_str_eq(got, b);
	ck_assert_int_eq(running_of(registry, b), 2);

	ck_assert(!reserve(registry, "echo", got, &verdict));
	ck_assert_int_eq(verdict, SCHEDULER_ALL_FULL);
	ck_assert_str_eq(got, "");
	/* A refused reservation takes nothing. */
	ck_assert_int_eq(running_of(registry, a), 1);
	ck_assert_int_eq(running_of(registry, b), 2);
	ck_assert_int_eq(running_of(registry, sleeper), 0);

	/* The type nobody has, and a free slot for another type. */
	ck_assert(!reserve(registry, "upper", got, &verdict));
	ck_assert_int_eq(verdict, SCHEDULER_NO_TYPE);
	ck_assert(reserve(registry, "sleep", got, &verdict));
	ck_assert_str_eq(got, sleeper);

	/* Release gives the slot back; the first node is preferred again. */
	node_registry_release(registry, a);
	ck_assert_int_eq(running_of(registry, a), 0);
	ck_assert(reserve(registry, "echo", got, NULL));
	ck_assert_str_eq(got, a);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_release_never_goes_below_zero)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE], got[MESH_ID_SIZE];

	add_node(registry, "a", ":8081", 1, "echo", a);
	node_registry_release(registry, a);
	ck_assert_int_eq(running_of(registry, a), 0);
	ck_assert(reserve(registry, "echo", got, NULL));
	node_registry_release(registry, a);
	node_registry_release(registry, a);
	ck_assert_int_eq(running_of(registry, a), 0);
	/* And capacity is still exactly one slot. */
	ck_assert(reserve(registry, "echo", got, NULL));
	ck_assert(!reserve(registry, "echo", got, NULL));
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_skips_a_paused_node_until_the_pause_ends)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE], b[MESH_ID_SIZE], got[MESH_ID_SIZE];
	enum scheduler_verdict verdict;

	add_node(registry, "a", ":8081", 4, "echo", a);
	add_node(registry, "b", ":8082", 4, "echo", b);
	node_registry_pause(registry, a, 60000);
	ck_assert(reserve(registry, "echo", got, NULL));
	ck_assert_str_eq(got, b);
	node_registry_pause(registry, b, 60000);
	ck_assert(!reserve(registry, "echo", got, &verdict));
	ck_assert_int_eq(verdict, SCHEDULER_ALL_FULL);
	/* A short pause ends by itself. */
	node_registry_pause(registry, a, 50);
	ck_assert(!reserve(registry, "echo", got, NULL));
	clock_sleep_ms(120);
	ck_assert(reserve(registry, "echo", got, NULL));
	ck_assert_str_eq(got, a);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_registering_again_ends_a_pause)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE], got[MESH_ID_SIZE];

	add_node(registry, "a", ":8081", 4, "echo", a);
	node_registry_pause(registry, a, 60000);
	ck_assert(!reserve(registry, "echo", got, NULL));
	{
		struct node node;
		bool created;
		char err[256];
		ck_assert_int_eq(register_node(registry, "a", ":8081", 4, "echo", &node, &created, err,
					       sizeof(err)),
				 REGISTRY_OK);
		node_clear(&node);
	}
	ck_assert(reserve(registry, "echo", got, NULL));
	ck_assert_str_eq(got, a);
	node_registry_free(registry);
}
END_TEST

/* ---- health ---------------------------------------------------------------------------- */

START_TEST(test_node_registry_marks_a_node_unhealthy_after_n_failed_probes_in_a_row)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE];

	add_node(registry, "a", ":8081", 1, "echo", a);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 3), NODE_UNCHANGED);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 3), NODE_UNCHANGED);
	ck_assert_int_eq(state_of(registry, a), NODE_HEALTHY);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 3), NODE_BECAME_UNHEALTHY);
	ck_assert_int_eq(state_of(registry, a), NODE_UNHEALTHY);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 3), NODE_UNCHANGED);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 3), NODE_UNCHANGED);
	ck_assert_int_eq(state_of(registry, a), NODE_UNHEALTHY);
	ck_assert_int_eq(node_registry_record_probe(registry, a, true, 3), NODE_BECAME_HEALTHY);
	ck_assert_int_eq(state_of(registry, a), NODE_HEALTHY);
	ck_assert_int_eq(node_registry_record_probe(registry, a, true, 3), NODE_UNCHANGED);
	/* The count starts again after a recovery. */
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 3), NODE_UNCHANGED);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 3), NODE_UNCHANGED);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 3), NODE_BECAME_UNHEALTHY);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_one_good_probe_resets_the_failure_count)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE];

	add_node(registry, "a", ":8081", 1, "echo", a);
	for (int round = 0; round < 5; round++) {
		ck_assert_int_eq(node_registry_record_probe(registry, a, false, 3), NODE_UNCHANGED);
		ck_assert_int_eq(node_registry_record_probe(registry, a, false, 3), NODE_UNCHANGED);
		ck_assert_int_eq(node_registry_record_probe(registry, a, true, 3), NODE_UNCHANGED);
	}
	ck_assert_int_eq(state_of(registry, a), NODE_HEALTHY);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_unhealthy_after_one_means_the_first_failure)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE];

	add_node(registry, "a", ":8081", 1, "echo", a);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 1), NODE_BECAME_UNHEALTHY);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 1), NODE_UNCHANGED);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_a_good_probe_updates_last_seen)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE];
	struct node before, after;

	add_node(registry, "a", ":8081", 1, "echo", a);
	ck_assert_int_eq(node_registry_get(registry, a, &before), REGISTRY_OK);
	clock_sleep_ms(5);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 3), NODE_UNCHANGED);
	ck_assert_int_eq(node_registry_get(registry, a, &after), REGISTRY_OK);
	ck_assert_int_eq(after.last_seen, before.last_seen);
	node_clear(&after);
	ck_assert_int_eq(node_registry_record_probe(registry, a, true, 3), NODE_UNCHANGED);
	ck_assert_int_eq(node_registry_get(registry, a, &after), REGISTRY_OK);
	ck_assert_int_gt(after.last_seen, before.last_seen);
	node_clear(&after);
	node_clear(&before);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_does_not_reserve_an_unhealthy_node)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE], b[MESH_ID_SIZE], got[MESH_ID_SIZE];
	enum scheduler_verdict verdict;

	add_node(registry, "a", ":8081", 4, "echo", a);
	add_node(registry, "b", ":8082", 4, "echo", b);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 1), NODE_BECAME_UNHEALTHY);
	ck_assert(reserve(registry, "echo", got, NULL));
	ck_assert_str_eq(got, b);
	ck_assert_int_eq(node_registry_record_probe(registry, b, false, 1), NODE_BECAME_UNHEALTHY);
	ck_assert(!reserve(registry, "echo", got, &verdict));
	ck_assert_int_eq(verdict, SCHEDULER_NO_HEALTHY);
	ck_assert_int_eq(node_registry_record_probe(registry, a, true, 1), NODE_BECAME_HEALTHY);
	ck_assert(reserve(registry, "echo", got, NULL));
	ck_assert_str_eq(got, a);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_registering_again_makes_an_unhealthy_node_healthy)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE], got[MESH_ID_SIZE], err[256];
	struct node node;
	bool created;

	add_node(registry, "a", ":8081", 1, "echo", a);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 2), NODE_UNCHANGED);
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 2), NODE_BECAME_UNHEALTHY);
	ck_assert_int_eq(register_node(registry, "a", ":8081", 1, "echo", &node, &created, err,
				       sizeof(err)),
			 REGISTRY_OK);
	ck_assert_int_eq(node.state, NODE_HEALTHY);
	node_clear(&node);
	ck_assert_int_eq(state_of(registry, a), NODE_HEALTHY);
	ck_assert(reserve(registry, "echo", got, NULL));
	/* Its failure count started again too. */
	ck_assert_int_eq(node_registry_record_probe(registry, a, false, 2), NODE_UNCHANGED);
	ck_assert_int_eq(state_of(registry, a), NODE_HEALTHY);
	node_registry_free(registry);
}
END_TEST

/* ---- many nodes, threads --------------------------------------------------------------- */

START_TEST(test_node_registry_grows_past_its_first_allocation)
{
	enum { N = 100 };
	struct node_registry *registry = node_registry_new();
	static char ids[N][MESH_ID_SIZE];
	char got[MESH_ID_SIZE];
	struct node *nodes;
	size_t count;

	for (int i = 0; i < N; i++) {
		char name[32], address[32];
		snprintf(name, sizeof(name), "node-%d", i);
		snprintf(address, sizeof(address), ":%d", 10000 + i);
		add_node(registry, name, address, 1, i == N - 1 ? "last" : "echo", ids[i]);
	}
	/* The scheduler's view follows the growth: the last node is found by type. */
	ck_assert(reserve(registry, "last", got, NULL));
	ck_assert_str_eq(got, ids[N - 1]);
	for (int i = 0; i < N - 1; i++) {
		ck_assert(reserve(registry, "echo", got, NULL));
		ck_assert_str_eq(got, ids[i]);
	}
	ck_assert(!reserve(registry, "echo", got, NULL));
	ck_assert_int_eq(node_registry_list(registry, &nodes, &count), REGISTRY_OK);
	ck_assert_uint_eq(count, N);
	for (int i = 0; i < N; i++) {
		ck_assert_str_eq(nodes[i].id, ids[i]);
		ck_assert_int_eq(nodes[i].running, 1);
	}
	node_list_free(nodes, count);
	node_registry_free(registry);
}
END_TEST

#define THREADS 8
#define ROUNDS 2000

struct worker {
	struct node_registry *registry;
	int reserved, refused;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < ROUNDS; i++) {
		struct node_slot slot;
		if (node_registry_reserve(w->registry, "echo", &slot, NULL)) {
			w->reserved++;
			node_registry_release(w->registry, slot.node_id);
		} else {
			w->refused++;
		}
		node_slot_clear(&slot);
	}
	return NULL;
}

START_TEST(test_node_registry_concurrent_reserve_and_release_balance)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE], b[MESH_ID_SIZE];
	struct worker workers[THREADS];
	pthread_t threads[THREADS];
	int reserved = 0;

	add_node(registry, "a", ":8081", 2, "echo", a);
	add_node(registry, "b", ":8082", 3, "echo", b);
	for (int t = 0; t < THREADS; t++) {
		workers[t] = (struct worker){.registry = registry};
		ck_assert_int_eq(pthread_create(&threads[t], NULL, worker_main, &workers[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(threads[t], NULL);
		ck_assert_int_eq(workers[t].reserved + workers[t].refused, ROUNDS);
		reserved += workers[t].reserved;
	}
	ck_assert_int_gt(reserved, 0);
	ck_assert_int_eq(running_of(registry, a), 0);
	ck_assert_int_eq(running_of(registry, b), 0);
	node_registry_free(registry);
}
END_TEST

struct registrant {
	struct node_registry *registry;
	pthread_barrier_t *start;
	enum registry_result rc;
	bool created;
	char id[MESH_ID_SIZE];
};

static void *registrant_main(void *arg)
{
	struct registrant *r = arg;
	struct node_registration registration = {0};
	char *types[] = {"echo"};
	char name[] = "alpha", address[] = ":8081";
	struct node node;
	char err[256];

	registration.name = name;
	registration.address = address;
	registration.capacity = 1;
	registration.types = types;
	registration.type_count = 1;
	pthread_barrier_wait(r->start);
	r->rc = node_registry_register(r->registry, &registration, &node, &r->created, err, sizeof(err));
	strcpy(r->id, node.id);
	node_clear(&node);
	return NULL;
}

START_TEST(test_node_registry_concurrent_registrations_of_one_name_make_one_node)
{
	struct node_registry *registry = node_registry_new();
	struct registrant registrants[THREADS];
	pthread_t threads[THREADS];
	pthread_barrier_t start;
	size_t total, healthy;
	int created = 0;

	ck_assert_int_eq(pthread_barrier_init(&start, NULL, THREADS), 0);
	for (int t = 0; t < THREADS; t++) {
		registrants[t] = (struct registrant){.registry = registry, .start = &start};
		ck_assert_int_eq(pthread_create(&threads[t], NULL, registrant_main, &registrants[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(threads[t], NULL);
		ck_assert_int_eq(registrants[t].rc, REGISTRY_OK);
		created += registrants[t].created;
		ck_assert_str_eq(registrants[t].id, registrants[0].id);
	}
	pthread_barrier_destroy(&start);
	ck_assert_int_eq(created, 1);
	node_registry_count(registry, &total, &healthy);
	ck_assert_uint_eq(total, 1);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_free_of_null_is_a_no_op)
{
	node_registry_free(NULL);
}
END_TEST


/* ---- drain, removal, restore, occupy ----------------------------------------------- */

START_TEST(test_node_registry_a_draining_node_takes_no_new_jobs)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE], b[MESH_ID_SIZE], got[MESH_ID_SIZE];
	enum scheduler_verdict verdict;
	struct node node;

	add_node(registry, "a", "127.0.0.1:7001", 2, "echo", a);
	add_node(registry, "b", "127.0.0.1:7002", 2, "echo", b);
	ck_assert(reserve(registry, "echo", got, &verdict));
	ck_assert_str_eq(got, a);
	ck_assert_int_eq(node_registry_set_draining(registry, a, true, &node), REGISTRY_OK);
	ck_assert(node.draining);
	ck_assert_int_eq(node_shown_state(&node), NODE_DRAINING); /* one still runs */
	node_clear(&node);
	ck_assert(reserve(registry, "echo", got, &verdict));
	ck_assert_str_eq(got, b);
	node_registry_release(registry, a);
	ck_assert_int_eq(node_registry_get(registry, a, &node), REGISTRY_OK);
	ck_assert_int_eq(node_shown_state(&node), NODE_DRAINED);
	node_clear(&node);
	ck_assert_int_eq(node_registry_set_draining(registry, b, true, NULL), REGISTRY_OK);
	ck_assert(!reserve(registry, "echo", got, &verdict));
	ck_assert_int_eq(verdict, SCHEDULER_DRAINING);
	ck_assert_int_eq(node_registry_set_draining(registry, "n-000000000000", true, NULL),
			 REGISTRY_NOT_FOUND);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_removes_only_an_idle_node)
{
	struct node_registry *registry = node_registry_new();
	char a[MESH_ID_SIZE], b[MESH_ID_SIZE], c[MESH_ID_SIZE], got[MESH_ID_SIZE];
	enum scheduler_verdict verdict;
	struct node *nodes;
	struct node node;
	size_t count;

	add_node(registry, "a", "127.0.0.1:7001", 1, "echo", a);
	add_node(registry, "b", "127.0.0.1:7002", 1, "sleep", b);
	add_node(registry, "c", "127.0.0.1:7003", 1, "echo", c);
	ck_assert(reserve(registry, "echo", got, &verdict));
	ck_assert_int_eq(node_registry_remove(registry, a, &node), REGISTRY_BUSY);
	ck_assert_int_eq(node.running, 1);
	node_clear(&node);
	node_registry_release(registry, a);
	ck_assert_int_eq(node_registry_remove(registry, a, &node), REGISTRY_OK);
	ck_assert_str_eq(node.name, "a");
	node_clear(&node);
	ck_assert_int_eq(node_registry_remove(registry, a, NULL), REGISTRY_NOT_FOUND);
	/* The others keep their order and their scheduling. */
	ck_assert_int_eq(node_registry_list(registry, &nodes, &count), REGISTRY_OK);
	ck_assert_uint_eq(count, 2);
	ck_assert_str_eq(nodes[0].id, b);
	ck_assert_str_eq(nodes[1].id, c);
	node_list_free(nodes, count);
	ck_assert(reserve(registry, "echo", got, &verdict));
	ck_assert_str_eq(got, c);
	node_registry_free(registry);
}
END_TEST

START_TEST(test_node_registry_restored_nodes_wait_for_a_probe)
{
	struct node_registry *registry = node_registry_new();
	struct node stored[2];
	char *types[] = {"echo"};
	char got[MESH_ID_SIZE];
	enum scheduler_verdict verdict;
	struct node_slot slot;

	memset(stored, 0, sizeof(stored));
	for (int i = 0; i < 2; i++) {
		snprintf(stored[i].id, sizeof(stored[i].id), "n-00000000000%d", i);
		stored[i].name = i == 0 ? "alpha" : "beta";
		stored[i].address = i == 0 ? "127.0.0.1:7001" : "127.0.0.1:7002";
		stored[i].capacity = 1;
		stored[i].types = types;
		stored[i].type_count = 1;
	}
	ck_assert_int_eq(node_registry_restore(registry, stored, 2), REGISTRY_OK);
	ck_assert_int_eq(state_of(registry, "n-000000000000"), NODE_UNHEALTHY);
	ck_assert(!reserve(registry, "echo", got, &verdict));
	ck_assert_int_eq(verdict, SCHEDULER_NO_HEALTHY);
	/* One answer makes it HEALTHY (and says so); the other never answers and is reported lost. */
	ck_assert_int_eq(node_registry_record_probe(registry, "n-000000000000", true, 2),
			 NODE_BECAME_HEALTHY);
	ck_assert(reserve(registry, "echo", got, &verdict));
	ck_assert_str_eq(got, "n-000000000000");
	ck_assert_int_eq(node_registry_record_probe(registry, "n-000000000001", false, 2),
			 NODE_UNCHANGED);
	ck_assert_int_eq(node_registry_record_probe(registry, "n-000000000001", false, 2),
			 NODE_BECAME_UNHEALTHY);
	ck_assert_int_eq(node_registry_record_probe(registry, "n-000000000001", false, 2),
			 NODE_UNCHANGED);
	/* occupy takes a slot whatever the state and capacity. */
	ck_assert_int_eq(node_registry_occupy(registry, "n-000000000001", &slot), REGISTRY_OK);
	ck_assert_str_eq(slot.base_url, "http://127.0.0.1:7002");
	node_slot_clear(&slot);
	ck_assert_int_eq(running_of(registry, "n-000000000001"), 1);
	ck_assert_int_eq(node_registry_occupy(registry, "n-000000000009", &slot), REGISTRY_NOT_FOUND);
	/* Restoring a name that registered meanwhile keeps the live one. */
	ck_assert_int_eq(node_registry_restore(registry, stored, 2), REGISTRY_OK);
	{
		struct node *nodes;
		size_t count;
		ck_assert_int_eq(node_registry_list(registry, &nodes, &count), REGISTRY_OK);
		ck_assert_uint_eq(count, 2);
		node_list_free(nodes, count);
	}
	node_registry_free(registry);
}
END_TEST

static Suite *node_registry_suite(void)
{
	Suite *s = suite_create("node_registry");
	TCase *tc;

	tc = tcase_create("register");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_node_registry_registers_a_new_node_as_healthy);
	tcase_add_test(tc, test_node_registry_says_whether_a_node_is_reachable_at_an_address);
	tcase_add_test(tc, test_node_registry_a_draining_node_takes_no_new_jobs);
	tcase_add_test(tc, test_node_registry_removes_only_an_idle_node);
	tcase_add_test(tc, test_node_registry_restored_nodes_wait_for_a_probe);
	tcase_add_test(tc, test_node_registry_builds_the_base_url_from_the_address);
	tcase_add_test(tc, test_node_registry_updates_a_node_that_registers_again_by_name);
	tcase_add_test(tc, test_node_registry_refuses_an_invalid_address_and_adds_nothing);
	tcase_add_test(tc, test_node_registry_keeps_the_old_address_when_a_new_one_is_invalid);
	tcase_add_test(tc, test_node_registry_accepts_a_null_out);
	tcase_add_test(tc, test_node_registry_lists_nodes_in_registration_order);
	tcase_add_test(tc, test_node_registry_answers_not_found_for_an_unknown_id);
	tcase_add_test(tc, test_node_registry_counts_nodes_and_healthy_nodes);
	tcase_add_test(tc, test_node_registry_gives_probe_targets_in_order);
	tcase_add_test(tc, test_node_registry_free_of_null_is_a_no_op);
	suite_add_tcase(s, tc);

	tc = tcase_create("reserve");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_node_registry_reserve_with_no_nodes_says_so);
	tcase_add_test(tc, test_node_registry_reserves_the_first_eligible_node_up_to_capacity);
	tcase_add_test(tc, test_node_registry_release_never_goes_below_zero);
	tcase_add_test(tc, test_node_registry_skips_a_paused_node_until_the_pause_ends);
	tcase_add_test(tc, test_node_registry_registering_again_ends_a_pause);
	suite_add_tcase(s, tc);

	tc = tcase_create("health");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_node_registry_marks_a_node_unhealthy_after_n_failed_probes_in_a_row);
	tcase_add_test(tc, test_node_registry_one_good_probe_resets_the_failure_count);
	tcase_add_test(tc, test_node_registry_unhealthy_after_one_means_the_first_failure);
	tcase_add_test(tc, test_node_registry_a_good_probe_updates_last_seen);
	tcase_add_test(tc, test_node_registry_does_not_reserve_an_unhealthy_node);
	tcase_add_test(tc, test_node_registry_registering_again_makes_an_unhealthy_node_healthy);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale_and_threads");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_node_registry_grows_past_its_first_allocation);
	tcase_add_test(tc, test_node_registry_concurrent_reserve_and_release_balance);
	tcase_add_test(tc, test_node_registry_concurrent_registrations_of_one_name_make_one_node);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(node_registry_suite)
