/*
 * model: job and node records, their JSON form, status names, ids and the
 * rules for type and node names. JSON is compared as compact, key-sorted text.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "clock.h"
#include "model.h"

/* 2023-11-14T22:13:20.123Z and a bit later. */
#define T0 1700000000123LL
#define T1 1700000060005LL

static char *dump(json_t *json)
{
	char *text;

	ck_assert_ptr_nonnull(json);
	text = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(json);
	ck_assert_ptr_nonnull(text);
	return text;
}

/* A job with every field set; the caller job_clears it. */
static void full_job(struct job *job)
{
	memset(job, 0, sizeof(*job));
	strcpy(job->id, "j-0123456789ab");
	job->type = strdup("resize.image_v2-x");
	job->payload = strdup("{\"w\": 10}\n\ttab \"quoted\" \\ \xc3\xa9");
	job->status = JOB_COMPLETED;
	strcpy(job->node_id, "n-ba9876543210");
	job->created_at = T0;
	job->updated_at = T1;
	job->result = strdup("done: \xe2\x9c\x93");
	job->error = NULL;
}

static bool is_rfc3339_ms_utc(const char *text)
{
	static const char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	if (strlen(text) != sizeof(pattern) - 1)
		return false;
	for (size_t i = 0; pattern[i] != '\0'; i++) {
		if (pattern[i] == 'd' ? !(text[i] >= '0' && text[i] <= '9') : text[i] != pattern[i])
			return false;
	}
	return true;
}

/* ---- jobs as JSON ------------------------------------------------------------------ */

START_TEST(test_model_encodes_a_full_job_with_every_field)
{
	struct job job;
	char *text;

	full_job(&job);
	text = dump(job_to_json(&job));
	ck_assert_str_eq(text, "{\"attempt\":0,\"backoff_base_ms\":0,\"backoff_cap_ms\":0,"
			       "\"created_at\":\"2023-11-14T22:13:20.123Z\",\"error\":null,"
			       "\"id\":\"j-0123456789ab\",\"idempotency_key\":null,\"max_attempts\":0,"
			       "\"next_attempt_at\":null,\"node_id\":\"n-ba9876543210\","
			       "\"payload\":\"{\\\"w\\\": 10}\\n\\ttab \\\"quoted\\\" \\\\ \xc3\xa9\","
			       "\"priority\":\"normal\",\"result\":\"done: \xe2\x9c\x93\","
			       "\"retry_on_failure\":false,\"status\":\"COMPLETED\",\"timeout_ms\":0,"
			       "\"type\":\"resize.image_v2-x\",\"updated_at\":\"2023-11-14T22:14:20.005Z\"}");
	free(text);
	job_clear(&job);
}
END_TEST

START_TEST(test_model_carries_a_queued_jobs_reason_through_json)
{
	struct job job = {0}, back;
	char err[256];
	json_t *json;

	strcpy(job.id, "j-000000000002");
	job.type = strdup("echo");
	job.payload = strdup("");
	job.status = JOB_QUEUED;
	job.created_at = job.updated_at = T0;
	json = job_to_json(&job);
	ck_assert_ptr_null(json_object_get(json, "reason"));
	json_decref(json);
	job.reason = strdup("no node is registered");
	json = job_to_json(&job);
	ck_assert_str_eq(json_string_value(json_object_get(json, "reason")), "no node is registered");
	ck_assert_int_eq(job_from_json(json, &back, err, sizeof(err)), 0);
	ck_assert_str_eq(back.reason, "no node is registered");
	job_clear(&back);
	json_decref(json);
	job_clear(&job);
}
END_TEST

START_TEST(test_model_encodes_absent_node_result_and_error_as_null)
{
	struct job job = {0};
	char *text;

	strcpy(job.id, "j-000000000001");
	job.type = strdup("echo");
	job.payload = strdup("");
	job.status = JOB_QUEUED;
	job.created_at = job.updated_at = T0;
	text = dump(job_to_json(&job));
	ck_assert_str_eq(text, "{\"attempt\":0,\"backoff_base_ms\":0,\"backoff_cap_ms\":0,"
			       "\"created_at\":\"2023-11-14T22:13:20.123Z\",\"error\":null,"
			       "\"id\":\"j-000000000001\",\"idempotency_key\":null,\"max_attempts\":0,"
			       "\"next_attempt_at\":null,\"node_id\":null,\"payload\":\"\","
			       "\"priority\":\"normal\",\"result\":null,\"retry_on_failure\":false,"
			       "\"status\":\"QUEUED\",\"timeout_ms\":0,\"type\":\"echo\","
			       "\"updated_at\":\"2023-11-14T22:13:20.123Z\"}");
	free(text);
	job_clear(&job);
}
END_TEST

START_TEST(test_model_writes_timestamps_as_rfc3339_utc_with_milliseconds)
{
	static const struct {
		int64_t ms;
		const char *text;
	} cases[] = {
		{T0, "2023-11-14T22:13:20.123Z"},
		{1000, "1970-01-01T00:00:01.000Z"},
		{1700000000001LL, "2023-11-14T22:13:20.001Z"},
		{1709251199999LL, "2024-02-29T23:59:59.999Z"},
	};
	struct job job = {0};

	strcpy(job.id, "j-1");
	job.type = strdup("echo");
	job.payload = strdup("x");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *json;
		job.created_at = cases[i].ms;
		job.updated_at = clock_wall_ms();
		json = job_to_json(&job);
		ck_assert_ptr_nonnull(json);
		ck_assert_str_eq(json_string_value(json_object_get(json, "created_at")), cases[i].text);
		ck_assert_msg(is_rfc3339_ms_utc(json_string_value(json_object_get(json, "updated_at"))),
			      "now is written as '%s'",
			      json_string_value(json_object_get(json, "updated_at")));
		json_decref(json);
	}
	job_clear(&job);
}
END_TEST

START_TEST(test_model_round_trips_a_job_through_json)
{
	static const struct {
		enum job_status status;
		const char *node_id, *result, *error;
	} cases[] = {
		{JOB_QUEUED, "", NULL, NULL},
		{JOB_RUNNING, "n-ba9876543210", NULL, NULL},
		{JOB_COMPLETED, "n-ba9876543210", "out\nput \xf0\x9f\x9a\x80", NULL},
		{JOB_COMPLETED, "n-ba9876543210", "", NULL},
		{JOB_FAILED, "n-ba9876543210", NULL, "node n-1 (http://h:1) answered HTTP 500"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct job job, back;
		char err[256] = "";
		json_t *json;

		full_job(&job);
		job.status = cases[i].status;
		strcpy(job.node_id, cases[i].node_id);
		free(job.result);
		job.result = cases[i].result ? strdup(cases[i].result) : NULL;
		job.error = cases[i].error ? strdup(cases[i].error) : NULL;
		json = job_to_json(&job);
		ck_assert_ptr_nonnull(json);
		ck_assert_msg(job_from_json(json, &back, err, sizeof(err)) == 0, "case %zu: %s", i, err);
		json_decref(json);

		ck_assert_str_eq(back.id, job.id);
		ck_assert_str_eq(back.type, job.type);
		ck_assert_str_eq(back.payload, job.payload);
		ck_assert_int_eq(back.status, job.status);
		ck_assert_str_eq(back.node_id, job.node_id);
		ck_assert_int_eq(back.created_at, job.created_at);
		ck_assert_int_eq(back.updated_at, job.updated_at);
		if (job.result == NULL)
			ck_assert_ptr_null(back.result);
		else
			ck_assert_str_eq(back.result, job.result);
		if (job.error == NULL)
			ck_assert_ptr_null(back.error);
		else
			ck_assert_str_eq(back.error, job.error);
		job_clear(&back);
		job_clear(&job);
	}
}
END_TEST

START_TEST(test_model_encodes_invalid_utf8_output_as_a_placeholder)
{
	static const char *const bad[] = {"\xff\xfe", "ok then \xc3", "\xed\xa0\x80 surrogate",
					  "overlong \xc0\xaf"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct job job;
		json_t *json;
		const char *text;

		full_job(&job);
		job.status = JOB_FAILED;
		free(job.result);
		free(job.payload);
		job.result = strdup(bad[i]);
		job.error = strdup(bad[i]);
		job.payload = strdup(bad[i]);
		json = job_to_json(&job);
		ck_assert_msg(json != NULL, "case %zu: job_to_json gave NULL", i);
		for (int f = 0; f < 3; f++) {
			const char *field = f == 0 ? "result" : f == 1 ? "error" : "payload";
			text = json_string_value(json_object_get(json, field));
			ck_assert_msg(text != NULL && text[0] != '\0', "case %zu: %s is not a string", i,
				      field);
			ck_assert_msg(strstr(text, "UTF-8") != NULL, "case %zu: %s is '%s'", i, field, text);
		}
		/* The rest of the job is all there. */
		ck_assert_str_eq(json_string_value(json_object_get(json, "id")), "j-0123456789ab");
		json_decref(json);
		job_clear(&job);
	}
}
END_TEST

static const struct {
	const char *json;
	const char *error_mentions;
} job_decode_errors[] = {
	{"[]", "object"},
	{"\"job\"", "object"},
	{"{\"type\":\"echo\",\"payload\":\"x\",\"status\":\"QUEUED\",\"node_id\":null,\"result\":null,"
	 "\"error\":null,\"created_at\":null,\"updated_at\":null}",
	 "'id'"},
	{"{\"id\":\"j-1\",\"payload\":\"x\",\"status\":\"QUEUED\",\"node_id\":null,\"result\":null,"
	 "\"error\":null,\"created_at\":null,\"updated_at\":null}",
	 "'type'"},
	{"{\"id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\",\"node_id\":null,\"result\":null,"
	 "\"error\":null,\"created_at\":null,\"updated_at\":null}",
	 "'status'"},
	{"{\"id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\",\"status\":\"QUEUED\",\"result\":null,"
	 "\"error\":null,\"created_at\":null,\"updated_at\":null}",
	 "'node_id'"},
	{"{\"id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\",\"status\":\"QUEUED\",\"node_id\":null,"
	 "\"result\":null,\"error\":null,\"updated_at\":null}",
	 "'created_at'"},
	{"{\"id\":7,\"type\":\"echo\",\"payload\":\"x\",\"status\":\"QUEUED\",\"node_id\":null,"
	 "\"result\":null,\"error\":null,\"created_at\":null,\"updated_at\":null}",
	 "'id'"},
	{"{\"id\":\"j-1\",\"type\":null,\"payload\":\"x\",\"status\":\"QUEUED\",\"node_id\":null,"
	 "\"result\":null,\"error\":null,\"created_at\":null,\"updated_at\":null}",
	 "'type'"},
	{"{\"id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\",\"status\":\"queued\",\"node_id\":null,"
	 "\"result\":null,\"error\":null,\"created_at\":null,\"updated_at\":null}",
	 "'status'"},
	{"{\"id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\",\"status\":\"DONE\",\"node_id\":null,"
	 "\"result\":null,\"error\":null,\"created_at\":null,\"updated_at\":null}",
	 "DONE"},
	{"{\"id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\",\"status\":\"QUEUED\",\"node_id\":null,"
	 "\"result\":5,\"error\":null,\"created_at\":null,\"updated_at\":null}",
	 "'result'"},
	{"{\"id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\",\"status\":\"QUEUED\",\"node_id\":null,"
	 "\"result\":null,\"error\":null,\"created_at\":\"yesterday\",\"updated_at\":null}",
	 "'created_at'"},
	{"{\"id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\",\"status\":\"QUEUED\",\"node_id\":null,"
	 "\"result\":null,\"error\":null,\"created_at\":null,\"updated_at\":\"2023-11-14T22:13:20.123\"}",
	 "'updated_at'"},
	{"{\"id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\",\"status\":\"QUEUED\",\"node_id\":null,"
	 "\"result\":null,\"error\":null,\"created_at\":null,\"updated_at\":\"2023-11-14T22:13:20+01:00\"}",
	 "'updated_at'"},
	{"{\"id\":\"j-0123456789abcdef0123456789abcdef\",\"type\":\"echo\",\"payload\":\"x\","
	 "\"status\":\"QUEUED\",\"node_id\":null,\"result\":null,\"error\":null,\"created_at\":null,"
	 "\"updated_at\":null}",
	 "'id'"},
	{"{\"id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\",\"status\":\"RUNNING\","
	 "\"node_id\":\"n-0123456789abcdef0123456789abcdef\",\"result\":null,\"error\":null,"
	 "\"created_at\":null,\"updated_at\":null}",
	 "'node_id'"},
};

START_TEST(test_model_job_from_json_names_what_is_wrong)
{
	json_error_t jerr;
	json_t *json = json_loads(job_decode_errors[_i].json, JSON_DECODE_ANY, &jerr);
	struct job job;
	char err[256] = "";

	ck_assert_msg(json != NULL, "case %d is not JSON: %s", _i, jerr.text);
	ck_assert_int_eq(job_from_json(json, &job, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, job_decode_errors[_i].error_mentions) != NULL,
		      "case %d: error '%s' lacks '%s'", _i, err, job_decode_errors[_i].error_mentions);
	/* out is cleared: nothing to free, nothing half-filled. */
	ck_assert_ptr_null(job.type);
	ck_assert_ptr_null(job.payload);
	ck_assert_str_eq(job.id, "");
	json_decref(json);
}
END_TEST

START_TEST(test_model_job_from_json_reads_a_minimal_job)
{
	json_t *json = json_loads("{\"id\":\"j-1\",\"type\":\"echo\",\"payload\":null,\"status\":\"FAILED\","
				  "\"node_id\":null,\"result\":null,\"error\":\"e\",\"created_at\":"
				  "\"2023-11-14T22:13:20Z\",\"updated_at\":null}",
				  0, NULL);
	struct job job;
	char err[256] = "";

	ck_assert_ptr_nonnull(json);
	ck_assert_msg(job_from_json(json, &job, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(job.id, "j-1");
	ck_assert_ptr_null(job.payload);
	ck_assert_int_eq(job.status, JOB_FAILED);
	ck_assert_str_eq(job.node_id, "");
	ck_assert_int_eq(job.created_at, 1700000000000LL);
	ck_assert_int_eq(job.updated_at, 0);
	ck_assert_str_eq(job.error, "e");
	job_clear(&job);
	json_decref(json);
}
END_TEST

/* ---- status names -------------------------------------------------------------------- */

static const struct {
	const char *name;
	int status; /* -1: must be refused */
} status_cases[] = {
	{"QUEUED", JOB_QUEUED},
	{"RUNNING", JOB_RUNNING},
	{"COMPLETED", JOB_COMPLETED},
	{"FAILED", JOB_FAILED},
	{"queued", -1},
	{"Running", -1},
	{"", -1},
	{"QUEUED ", -1},
	{" QUEUED", -1},
	{"QUEUE", -1},
	{"QUEUEDX", -1},
	{"DONE", -1},
	{"UNKNOWN", -1},
	{"HEALTHY", -1},
};

START_TEST(test_model_job_status_parse_follows_the_table)
{
	enum job_status status = JOB_FAILED;
	int rc = job_status_parse(status_cases[_i].name, &status);

	if (status_cases[_i].status < 0) {
		ck_assert_msg(rc == -1, "'%s' accepted", status_cases[_i].name);
	} else {
		ck_assert_msg(rc == 0, "'%s' refused", status_cases[_i].name);
		ck_assert_int_eq(status, status_cases[_i].status);
		ck_assert_str_eq(job_status_name(status), status_cases[_i].name);
	}
}
END_TEST

START_TEST(test_model_job_status_names_and_terminal_states)
{
	static const struct {
		enum job_status status;
		const char *name;
		bool terminal;
	} cases[] = {
		{JOB_QUEUED, "QUEUED", false},
		{JOB_RUNNING, "RUNNING", false},
		{JOB_COMPLETED, "COMPLETED", true},
		{JOB_FAILED, "FAILED", true},
		{JOB_CANCELLED, "CANCELLED", true},
	};

	ck_assert_int_eq(JOB_STATUS_COUNT, 5);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_str_eq(job_status_name(cases[i].status), cases[i].name);
		ck_assert_int_eq(job_status_is_terminal(cases[i].status), cases[i].terminal);
	}
	ck_assert_str_eq(job_status_name((enum job_status)JOB_STATUS_COUNT), "UNKNOWN");
	ck_assert_str_eq(job_status_name((enum job_status)1000), "UNKNOWN");
}
END_TEST

START_TEST(test_model_node_state_names_parse_exactly)
{
	enum node_state state = NODE_UNHEALTHY;

	ck_assert_str_eq(node_state_name(NODE_HEALTHY), "HEALTHY");
	ck_assert_str_eq(node_state_name(NODE_UNHEALTHY), "UNHEALTHY");
	ck_assert_int_eq(node_state_parse("HEALTHY", &state), 0);
	ck_assert_int_eq(state, NODE_HEALTHY);
	ck_assert_int_eq(node_state_parse("UNHEALTHY", &state), 0);
	ck_assert_int_eq(state, NODE_UNHEALTHY);
	ck_assert_int_eq(node_state_parse("healthy", &state), -1);
	ck_assert_int_eq(node_state_parse("", &state), -1);
	ck_assert_int_eq(node_state_parse("SICK", &state), -1);
}
END_TEST

/* ---- names and ids ---------------------------------------------------------------------- */

static char long_text[200];

/* n characters of 'a', valid for types and names alike. */
static const char *repeat_a(size_t n)
{
	memset(long_text, 'a', n);
	long_text[n] = '\0';
	return long_text;
}

static const struct {
	const char *text; /* NULL: use repeat_a(length) */
	size_t length;
	bool type_ok, name_ok;
} token_cases[] = {
	{"echo", 0, true, true},
	{"a", 0, true, true},
	{"A-Z_a.z-0.9", 0, true, true},
	{"resize.image_v2", 0, true, true},
	{"-", 0, true, true},
	{"", 0, false, false},
	{"has space", 0, false, false},
	{" echo", 0, false, false},
	{"echo\n", 0, false, false},
	{"a/b", 0, false, false},
	{"a:b", 0, false, false},
	{"a,b", 0, false, false},
	{"caf\xc3\xa9", 0, false, false},
	{"\"quoted\"", 0, false, false},
	{"semi;colon", 0, false, false},
	{NULL, 63, true, true},
	{NULL, 64, true, true},
	{NULL, 65, false, true},
	{NULL, 127, false, true},
	{NULL, 128, false, true},
	{NULL, 129, false, false},
	{NULL, 199, false, false},
};

START_TEST(test_model_type_and_name_rules_follow_the_table)
{
	const char *text = token_cases[_i].text ? token_cases[_i].text : repeat_a(token_cases[_i].length);
	size_t shown = strlen(text);

	ck_assert_msg(mesh_type_is_valid(text) == token_cases[_i].type_ok, "type '%s' (%zu bytes): %s",
		      text, shown, token_cases[_i].type_ok ? "refused" : "accepted");
	ck_assert_msg(mesh_name_is_valid(text) == token_cases[_i].name_ok, "name '%s' (%zu bytes): %s",
		      text, shown, token_cases[_i].name_ok ? "refused" : "accepted");
}
END_TEST

START_TEST(test_model_null_is_neither_a_type_nor_a_name)
{
	ck_assert(!mesh_type_is_valid(NULL));
	ck_assert(!mesh_name_is_valid(NULL));
}
END_TEST

/* The 6 hex digits after "<kind>-": the clock's milliseconds modulo 2^24. */
static unsigned long id_clock_part(const char *id)
{
	char digits[7];

	memcpy(digits, id + 2, 6);
	digits[6] = '\0';
	return strtoul(digits, NULL, 16);
}

START_TEST(test_model_new_ids_are_kind_dash_twelve_hex_digits)
{
	static char ids[1000][MESH_ID_SIZE];

	for (int i = 0; i < 1000; i++) {
		char kind = i % 2 ? 'j' : 'n';
		mesh_new_id(kind, ids[i], sizeof(ids[i]));
		ck_assert_msg(strlen(ids[i]) == 14, "'%s'", ids[i]);
		ck_assert_int_eq(ids[i][0], kind);
		ck_assert_int_eq(ids[i][1], '-');
		for (int d = 2; d < 14; d++)
			ck_assert_msg((ids[i][d] >= '0' && ids[i][d] <= '9') ||
					      (ids[i][d] >= 'a' && ids[i][d] <= 'f'),
				      "'%s' has a non-hex digit", ids[i]);
		/* A plain loop: each passing ck_assert costs a write to the Check parent. */
		for (int j = 0; j < i; j++)
			if (strcmp(ids[i] + 2, ids[j] + 2) == 0)
				ck_abort_msg("'%s' came twice", ids[i]);
	}
	/* The first 6 digits are the clock's milliseconds: ids made together sort together. */
	ck_assert_msg(((id_clock_part(ids[999]) - id_clock_part(ids[0])) & 0xffffff) < 5000,
		      "%s .. %s", ids[0], ids[999]);
	ck_assert_msg((((unsigned long)clock_wall_ms() - id_clock_part(ids[999])) & 0xffffff) < 5000,
		      "%s was made long before now", ids[999]);
}
END_TEST

/* ---- copies ------------------------------------------------------------------------------ */

START_TEST(test_model_job_copy_is_deep)
{
	struct job job, copy;

	full_job(&job);
	job.error = strdup("e");
	ck_assert_int_eq(job_copy(&copy, &job), 0);
	ck_assert_ptr_ne(copy.type, job.type);
	ck_assert_ptr_ne(copy.payload, job.payload);
	ck_assert_ptr_ne(copy.result, job.result);
	ck_assert_ptr_ne(copy.error, job.error);
	ck_assert_str_eq(copy.type, job.type);
	ck_assert_str_eq(copy.payload, job.payload);
	ck_assert_str_eq(copy.result, job.result);
	ck_assert_str_eq(copy.error, "e");
	ck_assert_str_eq(copy.id, job.id);
	ck_assert_str_eq(copy.node_id, job.node_id);
	ck_assert_int_eq(copy.created_at, job.created_at);
	job_clear(&job);
	ck_assert_ptr_null(job.type);
	ck_assert_str_eq(job.id, "");
	ck_assert_str_eq(copy.type, "resize.image_v2-x");
	job_clear(&copy);

	/* NULL strings stay NULL. */
	memset(&job, 0, sizeof(job));
	ck_assert_int_eq(job_copy(&copy, &job), 0);
	ck_assert_ptr_null(copy.type);
	ck_assert_ptr_null(copy.result);
	job_clear(&copy);
}
END_TEST

/* A node with every field set; the caller node_clears it. */
static void full_node(struct node *node, size_t type_count)
{
	static const char *const types[] = {"echo", "sleep", "resize.image"};

	memset(node, 0, sizeof(*node));
	strcpy(node->id, "n-0123456789ab");
	node->name = strdup("worker-1.eu");
	node->address = strdup(":8081");
	node->base_url = strdup("http://localhost:8081");
	node->state = NODE_UNHEALTHY;
	node->capacity = 16;
	node->running = 3;
	node->types = type_count ? calloc(type_count, sizeof(char *)) : NULL;
	for (size_t i = 0; i < type_count; i++)
		node->types[i] = strdup(types[i]);
	node->type_count = type_count;
	node->last_seen = T1;
	node->registered_at = T0;
}

START_TEST(test_model_encodes_a_node_with_every_field)
{
	struct node node;
	char *text;

	full_node(&node, 3);
	text = dump(node_to_json(&node));
	ck_assert_str_eq(text, "{\"address\":\":8081\",\"base_url\":\"http://localhost:8081\","
			       "\"capacity\":16,\"draining\":false,\"id\":\"n-0123456789ab\","
			       "\"last_seen\":\"2023-11-14T22:14:20.005Z\",\"name\":\"worker-1.eu\","
			       "\"running\":3,\"state\":\"UNHEALTHY\","
			       "\"types\":[\"echo\",\"sleep\",\"resize.image\"]}");
	free(text);
	node.last_seen = 0;
	text = dump(node_to_json(&node));
	ck_assert_ptr_nonnull(strstr(text, "\"last_seen\":null"));
	free(text);
	node_clear(&node);
}
END_TEST

START_TEST(test_model_round_trips_a_node_through_json)
{
	for (size_t type_count = 0; type_count <= 3; type_count++) {
		struct node node, back;
		char err[256] = "";
		json_t *json;

		full_node(&node, type_count);
		if (type_count == 2) {
			node.state = NODE_HEALTHY;
			node.last_seen = 0;
		}
		json = node_to_json(&node);
		ck_assert_ptr_nonnull(json);
		ck_assert_msg(node_from_json(json, &back, err, sizeof(err)) == 0, "%zu types: %s",
			      type_count, err);
		json_decref(json);
		ck_assert_str_eq(back.id, node.id);
		ck_assert_str_eq(back.name, node.name);
		ck_assert_str_eq(back.address, node.address);
		ck_assert_str_eq(back.base_url, node.base_url);
		ck_assert_int_eq(back.state, node.state);
		ck_assert_int_eq(back.capacity, node.capacity);
		ck_assert_int_eq(back.running, node.running);
		ck_assert_int_eq(back.last_seen, node.last_seen);
		ck_assert_uint_eq(back.type_count, node.type_count);
		for (size_t i = 0; i < type_count; i++)
			ck_assert_str_eq(back.types[i], node.types[i]);
		/* registered_at is not part of the node's JSON. */
		node_clear(&back);
		node_clear(&node);
	}
}
END_TEST

static const struct {
	const char *json;
	const char *error_mentions;
} node_decode_errors[] = {
	{"[]", "object"},
	{"{\"name\":\"a\",\"address\":\":1\",\"base_url\":\"http://localhost:1\",\"state\":\"HEALTHY\","
	 "\"capacity\":1,\"running\":0,\"types\":[],\"last_seen\":null}",
	 "'id'"},
	{"{\"id\":\"n-1\",\"name\":\"a\",\"address\":\":1\",\"base_url\":\"http://localhost:1\","
	 "\"state\":\"SICK\",\"capacity\":1,\"running\":0,\"types\":[],\"last_seen\":null}",
	 "'state'"},
	{"{\"id\":\"n-1\",\"name\":\"a\",\"address\":\":1\",\"base_url\":\"http://localhost:1\","
	 "\"state\":\"HEALTHY\",\"capacity\":-1,\"running\":0,\"types\":[],\"last_seen\":null}",
	 "'capacity'"},
	{"{\"id\":\"n-1\",\"name\":\"a\",\"address\":\":1\",\"base_url\":\"http://localhost:1\","
	 "\"state\":\"HEALTHY\",\"capacity\":\"2\",\"running\":0,\"types\":[],\"last_seen\":null}",
	 "'capacity'"},
	{"{\"id\":\"n-1\",\"name\":\"a\",\"address\":\":1\",\"base_url\":\"http://localhost:1\","
	 "\"state\":\"HEALTHY\",\"capacity\":1,\"types\":[],\"last_seen\":null}",
	 "'running'"},
	{"{\"id\":\"n-1\",\"name\":\"a\",\"address\":\":1\",\"base_url\":\"http://localhost:1\","
	 "\"state\":\"HEALTHY\",\"capacity\":1,\"running\":0,\"last_seen\":null}",
	 "'types'"},
	{"{\"id\":\"n-1\",\"name\":\"a\",\"address\":\":1\",\"base_url\":\"http://localhost:1\","
	 "\"state\":\"HEALTHY\",\"capacity\":1,\"running\":0,\"types\":\"echo\",\"last_seen\":null}",
	 "'types'"},
	{"{\"id\":\"n-1\",\"name\":\"a\",\"address\":\":1\",\"base_url\":\"http://localhost:1\","
	 "\"state\":\"HEALTHY\",\"capacity\":1,\"running\":0,\"types\":[\"echo\",3],\"last_seen\":null}",
	 "'types'"},
	{"{\"id\":\"n-1\",\"name\":\"a\",\"address\":\":1\",\"base_url\":\"http://localhost:1\","
	 "\"state\":\"HEALTHY\",\"capacity\":1,\"running\":0,\"types\":[],\"last_seen\":\"now\"}",
	 "'last_seen'"},
};

START_TEST(test_model_node_from_json_names_what_is_wrong)
{
	json_t *json = json_loads(node_decode_errors[_i].json, 0, NULL);
	struct node node;
	char err[256] = "";

	ck_assert_msg(json != NULL, "case %d is not JSON", _i);
	ck_assert_int_eq(node_from_json(json, &node, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, node_decode_errors[_i].error_mentions) != NULL,
		      "case %d: error '%s' lacks '%s'", _i, err, node_decode_errors[_i].error_mentions);
	ck_assert_ptr_null(node.name);
	ck_assert_ptr_null(node.types);
	ck_assert_uint_eq(node.type_count, 0);
	json_decref(json);
}
END_TEST

START_TEST(test_model_node_copy_is_deep_and_has_type_matches_exactly)
{
	struct node node, copy;

	full_node(&node, 3);
	ck_assert_int_eq(node_copy(&copy, &node), 0);
	ck_assert_ptr_ne(copy.types, node.types);
	ck_assert_ptr_ne(copy.types[0], node.types[0]);
	ck_assert_ptr_ne(copy.name, node.name);
	node_clear(&node);
	ck_assert_ptr_null(node.types);
	ck_assert_uint_eq(node.type_count, 0);
	ck_assert_str_eq(copy.name, "worker-1.eu");
	ck_assert_uint_eq(copy.type_count, 3);
	ck_assert(node_has_type(&copy, "echo"));
	ck_assert(node_has_type(&copy, "resize.image"));
	ck_assert(!node_has_type(&copy, "resize"));
	ck_assert(!node_has_type(&copy, "ECHO"));
	ck_assert(!node_has_type(&copy, ""));
	node_clear(&copy);

	full_node(&node, 0);
	ck_assert_int_eq(node_copy(&copy, &node), 0);
	ck_assert_ptr_null(copy.types);
	ck_assert(!node_has_type(&copy, "echo"));
	node_clear(&copy);
	node_clear(&node);
}
END_TEST


START_TEST(test_model_round_trips_options_and_attempts)
{
	struct job job = {0}, back;
	struct job_attempt attempts[2] = {
		{.number = 1, .node_id = "n-aaaaaaaaaaaa", .started_at = 1700000000000,
		 .finished_at = 1700000001000, .status = ATTEMPT_LOST, .error = "lost contact",
		 .result = "late output"},
		{.number = 2, .node_id = "n-bbbbbbbbbbbb", .started_at = 1700000002000,
		 .status = ATTEMPT_RUNNING},
	};
	char err[256] = "";
	json_t *json;

	strcpy(job.id, "j-0123456789ab");
	job.type = "echo";
	job.payload = "p";
	job.status = JOB_QUEUED; /* only a QUEUED job shows next_attempt_at */
	job.priority = JOB_PRIORITY_LOW;
	job.timeout_ms = 2500;
	job.max_attempts = 3;
	job.retry_on_failure = true;
	job.backoff_base_ms = 100;
	job.backoff_cap_ms = 800;
	job.idempotency_key = "key";
	job.attempt = 2;
	job.next_attempt_at = 1700000003000;
	job.attempts = attempts;
	job.attempt_count = 2;
	job.has_attempts = true;
	attempts[0].status = ATTEMPT_SUPERSEDED;

	json = job_to_json(&job);
	ck_assert_ptr_nonnull(json);
	ck_assert_str_eq(json_string_value(json_object_get(json, "priority")), "low");
	ck_assert_int_eq(json_array_size(json_object_get(json, "attempts")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(json, "attempts"), 0), "result")),
			 "late output");
	/* Only a SUPERSEDED attempt carries a result. */
	ck_assert_ptr_null(json_object_get(json_array_get(json_object_get(json, "attempts"), 1), "result"));
	ck_assert_int_eq(job_from_json(json, &back, err, sizeof(err)), 0);
	ck_assert_int_eq(back.priority, JOB_PRIORITY_LOW);
	ck_assert_int_eq(back.timeout_ms, 2500);
	ck_assert_int_eq(back.max_attempts, 3);
	ck_assert(back.retry_on_failure);
	ck_assert_int_eq(back.backoff_cap_ms, 800);
	ck_assert_str_eq(back.idempotency_key, "key");
	ck_assert_int_eq(back.attempt, 2);
	ck_assert_int_eq(back.next_attempt_at, 1700000003000);
	ck_assert(back.has_attempts);
	ck_assert_uint_eq(back.attempt_count, 2);
	ck_assert_int_eq(back.attempts[0].status, ATTEMPT_SUPERSEDED);
	ck_assert_str_eq(back.attempts[0].result, "late output");
	ck_assert_int_eq(back.attempts[1].finished_at, 0);
	{
		struct job copy;
		ck_assert_int_eq(job_copy(&copy, &back), 0);
		ck_assert_ptr_ne(copy.attempts, back.attempts);
		ck_assert_str_eq(copy.attempts[0].error, "lost contact");
		job_clear(&copy);
	}
	job_clear(&back);
	json_decref(json);

	/* Without attempts, no "attempts" member; a job that is not QUEUED has no next attempt. */
	job.has_attempts = false;
	job.status = JOB_CANCELLED;
	json = job_to_json(&job);
	ck_assert_ptr_null(json_object_get(json, "attempts"));
	ck_assert(json_is_null(json_object_get(json, "next_attempt_at")));
	json_decref(json);
}
END_TEST

START_TEST(test_model_backoff_doubles_to_the_cap_with_jitter)
{
	for (int round = 0; round < 200; round++) {
		int64_t second = job_backoff_ms(1000, 60000, 2);
		int64_t third = job_backoff_ms(1000, 60000, 3);
		int64_t late = job_backoff_ms(1000, 60000, 40);
		ck_assert(second >= 500 && second <= 1000);
		ck_assert(third >= 1000 && third <= 2000);
		ck_assert(late >= 30000 && late <= 60000);
	}
	ck_assert_int_eq(job_backoff_ms(1, 1, 2), 1);
	ck_assert_str_eq(job_status_name(JOB_CANCELLED), "CANCELLED");
	ck_assert(job_status_is_terminal(JOB_CANCELLED));
	ck_assert_str_eq(attempt_status_name(ATTEMPT_DISPATCH_FAILED), "DISPATCH_FAILED");
	ck_assert_str_eq(job_priority_name(JOB_PRIORITY_HIGH), "high");
	{
		enum job_priority priority;
		ck_assert_int_eq(job_priority_parse("High", &priority), -1);
		ck_assert_int_eq(job_priority_parse("low", &priority), 0);
		ck_assert_int_eq(priority, JOB_PRIORITY_LOW);
	}
}
END_TEST

static Suite *model_suite(void)
{
	Suite *s = suite_create("model");
	TCase *tc;

	tc = tcase_create("jobs");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_model_encodes_a_full_job_with_every_field);
	tcase_add_test(tc, test_model_encodes_absent_node_result_and_error_as_null);
	tcase_add_test(tc, test_model_carries_a_queued_jobs_reason_through_json);
	tcase_add_test(tc, test_model_writes_timestamps_as_rfc3339_utc_with_milliseconds);
	tcase_add_test(tc, test_model_round_trips_a_job_through_json);
	tcase_add_test(tc, test_model_encodes_invalid_utf8_output_as_a_placeholder);
	tcase_add_loop_test(tc, test_model_job_from_json_names_what_is_wrong, 0,
			    (int)(sizeof(job_decode_errors) / sizeof(job_decode_errors[0])));
	tcase_add_test(tc, test_model_job_from_json_reads_a_minimal_job);
	tcase_add_test(tc, test_model_job_copy_is_deep);
	tcase_add_test(tc, test_model_round_trips_options_and_attempts);
	tcase_add_test(tc, test_model_backoff_doubles_to_the_cap_with_jitter);
	suite_add_tcase(s, tc);

	tc = tcase_create("statuses");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_model_job_status_parse_follows_the_table, 0,
			    (int)(sizeof(status_cases) / sizeof(status_cases[0])));
	tcase_add_test(tc, test_model_job_status_names_and_terminal_states);
	tcase_add_test(tc, test_model_node_state_names_parse_exactly);
	suite_add_tcase(s, tc);

	tc = tcase_create("names_and_ids");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_model_type_and_name_rules_follow_the_table, 0,
			    (int)(sizeof(token_cases) / sizeof(token_cases[0])));
	tcase_add_test(tc, test_model_null_is_neither_a_type_nor_a_name);
	tcase_add_test(tc, test_model_new_ids_are_kind_dash_twelve_hex_digits);
	suite_add_tcase(s, tc);

	tc = tcase_create("nodes");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_model_encodes_a_node_with_every_field);
	tcase_add_test(tc, test_model_round_trips_a_node_through_json);
	tcase_add_loop_test(tc, test_model_node_from_json_names_what_is_wrong, 0,
			    (int)(sizeof(node_decode_errors) / sizeof(node_decode_errors[0])));
	tcase_add_test(tc, test_model_node_copy_is_deep_and_has_type_matches_exactly);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(model_suite)
