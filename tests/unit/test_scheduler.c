/*
 * scheduler_pick as a table: each row is a registry snapshot (nodes in
 * registration order), a job type, and the index and verdict it must give.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "scheduler.h"

#define NOW 100000
#define MAX_NODES 5

struct node_spec {
	const char *types; /* comma-separated; NULL ends the list of nodes */
	enum node_state state;
	int capacity;
	int running;
	int64_t paused_until;
};

#define HEALTHY NODE_HEALTHY
#define UNHEALTHY NODE_UNHEALTHY
#define DRAINING NODE_DRAINING /* healthy, draining */

struct pick_case {
	const char *name;
	struct node_spec nodes[MAX_NODES + 1];
	const char *type;
	long index;
	enum scheduler_verdict verdict;
};

static const struct pick_case pick_cases[] = {
	{"an empty registry has no nodes", {{NULL}}, "echo", -1, SCHEDULER_NO_NODES},
	{"a type nobody has",
	 {{"sleep", HEALTHY, 1, 0, 0}, {"upper,sleep", HEALTHY, 1, 0, 0}, {NULL}},
	 "echo", -1, SCHEDULER_NO_TYPE},
	{"a type is matched exactly, not by prefix",
	 {{"echo2,ech", HEALTHY, 1, 0, 0}, {NULL}},
	 "echo", -1, SCHEDULER_NO_TYPE},
	{"a type is matched with its case",
	 {{"Echo", HEALTHY, 1, 0, 0}, {NULL}},
	 "echo", -1, SCHEDULER_NO_TYPE},
	{"nodes with the type are all unhealthy",
	 {{"echo", UNHEALTHY, 4, 0, 0}, {"sleep", HEALTHY, 4, 0, 0}, {"echo", UNHEALTHY, 4, 0, 0}, {NULL}},
	 "echo", -1, SCHEDULER_NO_HEALTHY},
	{"nodes with the type are all full",
	 {{"echo", HEALTHY, 1, 1, 0}, {"echo,sleep", HEALTHY, 2, 2, 0}, {NULL}},
	 "echo", -1, SCHEDULER_ALL_FULL},
	{"full beats unhealthy when both are there",
	 {{"echo", UNHEALTHY, 1, 0, 0}, {"echo", HEALTHY, 1, 1, 0}, {NULL}},
	 "echo", -1, SCHEDULER_ALL_FULL},
	{"nodes with the type are all paused",
	 {{"echo", HEALTHY, 4, 0, NOW + 1}, {"echo", HEALTHY, 4, 0, NOW + 5000}, {NULL}},
	 "echo", -1, SCHEDULER_ALL_FULL},
	{"a node with capacity 0 is full",
	 {{"echo", HEALTHY, 0, 0, 0}, {NULL}},
	 "echo", -1, SCHEDULER_ALL_FULL},
	{"a node running more than its capacity is full",
	 {{"echo", HEALTHY, 2, 5, 0}, {NULL}},
	 "echo", -1, SCHEDULER_ALL_FULL},
	{"the only eligible node", {{"echo", HEALTHY, 1, 0, 0}, {NULL}}, "echo", 0, SCHEDULER_PICKED},
	{"the first of several eligible nodes",
	 {{"echo", HEALTHY, 1, 0, 0}, {"echo", HEALTHY, 8, 0, 0}, {NULL}},
	 "echo", 0, SCHEDULER_PICKED},
	{"not the least loaded, the first",
	 {{"echo", HEALTHY, 10, 9, 0}, {"echo", HEALTHY, 10, 0, 0}, {NULL}},
	 "echo", 0, SCHEDULER_PICKED},
	{"skips a node without the type",
	 {{"sleep", HEALTHY, 1, 0, 0}, {"upper,echo", HEALTHY, 1, 0, 0}, {NULL}},
	 "echo", 1, SCHEDULER_PICKED},
	{"skips an unhealthy node",
	 {{"echo", UNHEALTHY, 1, 0, 0}, {"echo", HEALTHY, 1, 0, 0}, {NULL}},
	 "echo", 1, SCHEDULER_PICKED},
	{"skips a full node",
	 {{"echo", HEALTHY, 2, 2, 0}, {"echo", HEALTHY, 1, 0, 0}, {NULL}},
	 "echo", 1, SCHEDULER_PICKED},
	{"skips a paused node",
	 {{"echo", HEALTHY, 4, 0, NOW + 1}, {"echo", HEALTHY, 1, 0, 0}, {NULL}},
	 "echo", 1, SCHEDULER_PICKED},
	{"a pause that ends now is over",
	 {{"echo", HEALTHY, 4, 0, NOW}, {"echo", HEALTHY, 1, 0, 0}, {NULL}},
	 "echo", 0, SCHEDULER_PICKED},
	{"a pause in the past is over",
	 {{"echo", HEALTHY, 4, 0, NOW - 1}, {NULL}},
	 "echo", 0, SCHEDULER_PICKED},
	{"skips every kind of ineligible node to the last",
	 {{"sleep", HEALTHY, 1, 0, 0},
	  {"echo", UNHEALTHY, 1, 0, 0},
	  {"echo", HEALTHY, 3, 3, 0},
	  {"echo", HEALTHY, 3, 0, NOW + 100},
	  {"sleep,echo", HEALTHY, 3, 2, 0},
	  {NULL}},
	 "echo", 4, SCHEDULER_PICKED},
	{"healthy nodes with the type are all draining",
	 {{"echo", DRAINING, 4, 0, 0}, {"echo", UNHEALTHY, 4, 0, 0}, {"sleep", HEALTHY, 4, 0, 0}, {NULL}},
	 "echo", -1, SCHEDULER_DRAINING},
	{"draining beats full: the full node is not draining",
	 {{"echo", DRAINING, 4, 0, 0}, {"echo", HEALTHY, 1, 1, 0}, {NULL}},
	 "echo", -1, SCHEDULER_ALL_FULL},
	{"skips a draining node",
	 {{"echo", DRAINING, 4, 0, 0}, {"echo", HEALTHY, 1, 0, 0}, {NULL}},
	 "echo", 1, SCHEDULER_PICKED},
	{"a node with a free slot among many types",
	 {{"a,b,c,d,echo", HEALTHY, 3, 2, 0}, {NULL}},
	 "echo", 0, SCHEDULER_PICKED},
};

#undef HEALTHY
#undef UNHEALTHY
#undef DRAINING

#define PICK_CASE_COUNT ((int)(sizeof(pick_cases) / sizeof(pick_cases[0])))

/* Builds the nodes of a case; returns how many. */
static size_t build_nodes(const struct node_spec *specs, struct node *nodes,
			  struct scheduler_node *view)
{
	size_t count = 0;

	for (; specs[count].types != NULL; count++) {
		const struct node_spec *spec = &specs[count];
		struct node *node = &nodes[count];

		memset(node, 0, sizeof(*node));
		snprintf(node->id, sizeof(node->id), "n-%zu", count);
		node->state = spec->state == NODE_DRAINING ? NODE_HEALTHY : spec->state;
		node->draining = spec->state == NODE_DRAINING;
		node->capacity = spec->capacity;
		node->running = spec->running;
		node->types = calloc(8, sizeof(char *));
		ck_assert_ptr_nonnull(node->types);
		for (const char *p = spec->types; *p != '\0' && node->type_count < 8;) {
			size_t n = strcspn(p, ",");
			node->types[node->type_count++] = strndup(p, n);
			p += n + (p[n] == ',');
		}
		view[count].node = node;
		view[count].paused_until = spec->paused_until;
	}
	return count;
}

START_TEST(test_scheduler_picks_by_the_table)
{
	const struct pick_case *c = &pick_cases[_i];
	struct node nodes[MAX_NODES];
	struct scheduler_node view[MAX_NODES];
	/* Start from a wrong answer, so that a verdict left unwritten shows. */
	enum scheduler_verdict verdict =
		c->verdict == SCHEDULER_PICKED ? SCHEDULER_NO_NODES : SCHEDULER_PICKED;
	size_t count = build_nodes(c->nodes, nodes, view);
	long index;

	index = scheduler_pick(count ? view : NULL, count, c->type, NOW, &verdict);
	ck_assert_msg(index == c->index, "%s: picked %ld, expected %ld", c->name, index, c->index);
	ck_assert_msg(verdict == c->verdict, "%s: verdict %d, expected %d", c->name, (int)verdict,
		      (int)c->verdict);

	/* The verdict pointer may be NULL: same choice. */
	index = scheduler_pick(count ? view : NULL, count, c->type, NOW, NULL);
	ck_assert_msg(index == c->index, "%s (NULL verdict): picked %ld, expected %ld", c->name, index,
		      c->index);

	/* A pure function: the snapshot is not changed. */
	for (size_t i = 0; i < count; i++) {
		ck_assert_int_eq(nodes[i].running, c->nodes[i].running);
		ck_assert_int_eq(view[i].paused_until, c->nodes[i].paused_until);
		node_clear(&nodes[i]);
	}
}
END_TEST

static const struct {
	enum scheduler_verdict verdict;
	bool mentions_type;
} describe_cases[] = {
	{SCHEDULER_PICKED, false},
	{SCHEDULER_NO_NODES, false},
	{SCHEDULER_NO_TYPE, true},
	{SCHEDULER_NO_HEALTHY, true},
	{SCHEDULER_ALL_FULL, true},
	{SCHEDULER_DRAINING, true},
};

#define DESCRIBE_CASE_COUNT ((int)(sizeof(describe_cases) / sizeof(describe_cases[0])))

START_TEST(test_scheduler_describes_each_verdict_in_words)
{
	char text[256];

	memset(text, 0, sizeof(text));
	scheduler_verdict_describe(describe_cases[_i].verdict, "resize-image", text, sizeof(text));
	ck_assert_msg(strlen(text) > 5, "verdict %d: '%s'", (int)describe_cases[_i].verdict, text);
	if (describe_cases[_i].mentions_type)
		ck_assert_msg(strstr(text, "resize-image") != NULL, "verdict %d: '%s' lacks the type",
			      (int)describe_cases[_i].verdict, text);
}
END_TEST

START_TEST(test_scheduler_verdict_descriptions_differ)
{
	char texts[DESCRIBE_CASE_COUNT][256];

	for (int i = 0; i < DESCRIBE_CASE_COUNT; i++) {
		scheduler_verdict_describe(describe_cases[i].verdict, "echo", texts[i], sizeof(texts[i]));
		for (int j = 0; j < i; j++)
			ck_assert_msg(strcmp(texts[i], texts[j]) != 0, "verdicts %d and %d both say '%s'", i,
				      j, texts[i]);
	}
}
END_TEST

START_TEST(test_scheduler_description_fits_a_small_buffer)
{
	char text[16];

	memset(text, 'X', sizeof(text));
	scheduler_verdict_describe(SCHEDULER_ALL_FULL, "a-very-long-type-name-indeed", text, sizeof(text));
	ck_assert_uint_eq(strlen(text), sizeof(text) - 1);
}
END_TEST

static Suite *scheduler_suite(void)
{
	Suite *s = suite_create("scheduler");
	TCase *tc = tcase_create("pick");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_scheduler_picks_by_the_table, 0, PICK_CASE_COUNT);
	suite_add_tcase(s, tc);

	tc = tcase_create("describe");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_scheduler_describes_each_verdict_in_words, 0,
			    (int)(sizeof(describe_cases) / sizeof(describe_cases[0])));
	tcase_add_test(tc, test_scheduler_verdict_descriptions_differ);
	tcase_add_test(tc, test_scheduler_description_fits_a_small_buffer);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(scheduler_suite)
