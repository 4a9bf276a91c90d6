/*
 * The coordinator's HTTP routes, through real HTTP on 127.0.0.1:0: a real
 * http_server with coordinator_routes over the memory store, a registry and a
 * running dispatcher. Each test starts and stops its own coordinator inside
 * its (forked) process, so that nothing runs in the parent and LeakSanitizer
 * sees everything stopped. mg_stop is slow (~2 s), so a test covers a whole
 * area rather than one request.
 *
 * No node ever advertises the job types used here, so submitted jobs stay
 * QUEUED and the counts are deterministic.
 */
#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "dispatcher_for_tests.h"
#include "clock.h"
#include "coordinator_api.h"
#include "log.h"

#define BODY_LIMIT 4096

struct coordinator {
	struct coordinator_app app;
	struct http_server *server;
	char base_url[64];
};

static void coordinator_start(struct coordinator *c)
{
	struct dispatcher_config dispatch = dispatcher_config_for_tests();
	struct http_server_config http = {
		.listen = "127.0.0.1:0",
		.routes = coordinator_routes,
		.route_count = coordinator_route_count,
		.app = &c->app,
		.body_limit = BODY_LIMIT,
		.num_threads = 16,
	};
	char err[256] = "";

	memset(c, 0, sizeof(*c));
	c->app.defaults = (struct job_defaults){
		.timeout_ms = 60000, .max_attempts = 1, .backoff_base_ms = 1000, .backoff_cap_ms = 60000};
	c->app.store = job_store_memory_new();
	c->app.registry = node_registry_new();
	c->app.waiters = job_waiters_new(1);
	dispatch.waiters = c->app.waiters;
	ck_assert_ptr_nonnull(c->app.store);
	ck_assert_ptr_nonnull(c->app.registry);
	c->app.dispatcher = dispatcher_start(c->app.store, c->app.registry, &dispatch, err, sizeof(err));
	ck_assert_msg(c->app.dispatcher != NULL, "%s", err);
	http.app = &c->app;
	c->server = http_server_start(&http, err, sizeof(err));
	ck_assert_msg(c->server != NULL, "%s", err);
	snprintf(c->base_url, sizeof(c->base_url), "http://127.0.0.1:%d", http_server_port(c->server));
}

/* main()'s stop order. */
static void coordinator_stop(struct coordinator *c)
{
	http_server_stop(c->server);
	dispatcher_stop(c->app.dispatcher);
	node_registry_free(c->app.registry);
	job_waiters_free(c->app.waiters);
	job_store_free(c->app.store);
}

/* ---- a small HTTP client ----------------------------------------------------------------- */

struct reply {
	long status;
	char *body; /* NUL-ended */
	size_t len;
	char location[256];
	char allow[128];
	char content_type[128];
	char retry_after[32];
	json_t *json; /* the body parsed, or NULL */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t n = size * nmemb;
	char *bigger = realloc(r->body, r->len + n + 1);

	if (bigger == NULL)
		return 0;
	r->body = bigger;
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* Copies the value of header name (if this line is it) into out. */
static void take_header(const char *line, size_t len, const char *name, char *out, size_t out_size)
{
	size_t name_len = strlen(name);
	if (len > name_len + 1 && strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
		const char *value = line + name_len + 1;
		size_t value_len = len - name_len - 1;
		while (value_len > 0 && *value == ' ')
			value++, value_len--;
		while (value_len > 0 && (value[value_len - 1] == '\r' || value[value_len - 1] == '\n'))
			value_len--;
		snprintf(out, out_size, "%.*s", (int)value_len, value);
	}
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t len = size * nmemb;

	take_header(line, len, "Location", r->location, sizeof(r->location));
	take_header(line, len, "Allow", r->allow, sizeof(r->allow));
	take_header(line, len, "Content-Type", r->content_type, sizeof(r->content_type));
	take_header(line, len, "Retry-After", r->retry_after, sizeof(r->retry_after));
	return len;
}

static void reply_clear(struct reply *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/*
 * Sends one request (body may be NULL; body_len bytes of it are sent; header
 * is one more request header or NULL) and fills out. Returns 0, or a CURLcode
 * if no answer came. Safe from any thread: it asserts nothing.
 */
static int send_request(CURL *curl, const char *base_url, const char *method, const char *path,
			const char *body, size_t body_len, const char *header, struct reply *out)
{
	struct curl_slist *headers = NULL;
	char url[512];
	CURLcode rc;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s%s", base_url, path);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");
	if (header != NULL)
		headers = curl_slist_append(headers, header);
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(curl);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK)
		return (int)rc;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
	if (out->body == NULL)
		out->body = strdup("");
	out->json = json_loadb(out->body, out->len, 0, NULL);
	return 0;
}

/* Sends a request and checks its status; the caller reply_clears out. */
static void call(CURL *curl, const struct coordinator *c, const char *method, const char *path,
		 const char *body, long expected_status, struct reply *out)
{
	int rc = send_request(curl, c->base_url, method, path, body, body ? strlen(body) : 0, NULL, out);

	ck_assert_msg(rc == 0, "%s %s: %s", method, path, curl_easy_strerror((CURLcode)rc));
	ck_assert_msg(out->status == expected_status, "%s %s: HTTP %ld, expected %ld: %s", method, path,
		      out->status, expected_status, out->body);
	ck_assert_msg(strncmp(out->content_type, "application/json", 16) == 0,
		      "%s %s: Content-Type '%s'", method, path, out->content_type);
	ck_assert_msg(out->json != NULL, "%s %s: body is not JSON: %s", method, path, out->body);
}

/* The "error" member of an error reply; fails if there is none. */
static const char *error_of(const struct reply *r)
{
	const char *message = json_string_value(json_object_get(r->json, "error"));
	ck_assert_msg(message != NULL && message[0] != '\0', "no error message in %s", r->body);
	return message;
}

static void assert_error_mentions(const struct reply *r, const char *what, const char *mention)
{
	const char *message = error_of(r);
	ck_assert_msg(strstr(message, mention) != NULL, "%s: error '%s' lacks '%s'", what, message,
		      mention);
}

/* How many jobs GET /jobs?limit=10000 lists. */
static size_t job_count(CURL *curl, const struct coordinator *c)
{
	struct reply r;
	size_t n;

	call(curl, c, "GET", "/jobs?limit=10000", NULL, 200, &r);
	ck_assert(json_is_array(json_object_get(r.json, "jobs")));
	n = json_array_size(json_object_get(r.json, "jobs"));
	reply_clear(&r);
	return n;
}

static const char *string_member(const struct reply *r, const char *key)
{
	const char *value = json_string_value(json_object_get(r->json, key));
	ck_assert_msg(value != NULL, "no string '%s' in %s", key, r->body);
	return value;
}

/* ---- jobs -------------------------------------------------------------------------------- */

/*
 * The 400 messages of docs/api.md (POST /jobs), which says they are sent
 * exactly so; where error is NULL, the message must at least mention.
 */
static const struct {
	const char *body; /* NULL: the empty body */
	const char *error;
	const char *mentions;
} bad_submissions[] = {
	{NULL, "body is empty (expected a JSON object)", NULL},
	{"{\"type\":\"echo\"",
	 "body is not valid JSON: '}' expected near end of file at line 1 column 14", NULL},
	{"\"x\"", "body is not valid JSON: '[' or '{' expected near '\"x\"' at line 1 column 3", NULL},
	{"[1,2]", "jobs[0]: a job must be a JSON object", NULL},
	{"{\"type\":\"echo\",\"payload\":\"\xff\"}",
	 "body is not valid JSON: unable to decode byte 0xff near '\"' at line 1 column 26", NULL},
	{"{\"type\":\"echo\",\"type\":\"echo\",\"payload\":\"x\"}",
	 "body is not valid JSON: duplicate object key near '\"type\"' at line 1 column 21", NULL},
	/* A NUL names the field (wire.h: every error names the field). */
	{"{\"type\":\"echo\",\"payload\":\"a\\u0000b\"}", NULL, "'payload'"},
	{"{\"type\":\"ec\\u0000ho\",\"payload\":\"x\"}", NULL, "'type'"},
	{"{\"type\":\"echo\",\"payload\":\"x\",\"extra\":1}", "unknown field 'extra'", NULL},
	{"{\"payload\":\"x\"}", "field 'type' is missing", NULL},
	{"{\"type\":\"echo\"}", "field 'payload' is missing", NULL},
	{"{\"type\":5,\"payload\":\"x\"}", "field 'type' must be a string", NULL},
	{"{\"type\":[\"echo\"],\"payload\":\"x\"}", "field 'type' must be a string", NULL},
	{"{\"type\":\"echo\",\"payload\":5}", "field 'payload' must be a string", NULL},
	{"{\"type\":\"echo\",\"payload\":null}", "field 'payload' must be a string", NULL},
	{"{\"type\":\"bad type\",\"payload\":\"x\"}",
	 "field 'type' must be 1 to 64 characters of letters, digits, '_', '.' or '-' (got 'bad type')", NULL},
	{"{\"type\":\"\",\"payload\":\"x\"}",
	 "field 'type' must be 1 to 64 characters of letters, digits, '_', '.' or '-' (got '')", NULL},
};

START_TEST(test_coordinator_api_submits_gets_and_refuses_jobs)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	struct reply r, got;
	char id[MESH_ID_SIZE], path[128];
	const char *location;

	ck_assert_ptr_nonnull(curl);
	coordinator_start(&c);

	call(curl, &c, "GET", "/jobs", NULL, 200, &r);
	ck_assert_str_eq(r.body, "{\"jobs\":[]}");
	reply_clear(&r);

	/* A valid submission: 201, Location, QUEUED. */
	call(curl, &c, "POST", "/jobs", "{\"type\":\"echo\",\"payload\":\"hello \\\"world\\\"\"}", 201,
	     &r);
	snprintf(id, sizeof(id), "%s", string_member(&r, "id"));
	ck_assert_msg(strncmp(id, "j-", 2) == 0 && strlen(id) == 14, "id '%s'", id);
	snprintf(path, sizeof(path), "/jobs/%s", id);
	ck_assert_str_eq(r.location, path);
	ck_assert_str_eq(string_member(&r, "status"), "QUEUED");
	ck_assert_str_eq(string_member(&r, "type"), "echo");
	ck_assert_str_eq(string_member(&r, "payload"), "hello \"world\"");
	ck_assert(json_is_null(json_object_get(r.json, "node_id")));
	ck_assert(json_is_null(json_object_get(r.json, "result")));
	ck_assert(json_is_null(json_object_get(r.json, "error")));
	ck_assert_ptr_nonnull(json_string_value(json_object_get(r.json, "created_at")));

	/* GET on the Location gives the same job. */
	location = r.location;
	call(curl, &c, "GET", location, NULL, 200, &got);
	ck_assert_str_eq(got.body, r.body);
	reply_clear(&got);
	reply_clear(&r);

	/* Bad submissions: 400 naming the field, and nothing stored. */
	for (size_t i = 0; i < sizeof(bad_submissions) / sizeof(bad_submissions[0]); i++) {
		char what[64];
		snprintf(what, sizeof(what), "bad submission %zu", i);
		call(curl, &c, "POST", "/jobs", bad_submissions[i].body ? bad_submissions[i].body : "",
		     400, &r);
		if (bad_submissions[i].error != NULL)
			ck_assert_msg(strcmp(error_of(&r), bad_submissions[i].error) == 0,
				      "%s: error '%s', expected '%s'", what, error_of(&r),
				      bad_submissions[i].error);
		else
			assert_error_mentions(&r, what, bad_submissions[i].mentions);
		ck_assert_str_eq(r.location, "");
		reply_clear(&r);
	}
	ck_assert_uint_eq(job_count(curl, &c), 1);

	/* Unknown ids. */
	call(curl, &c, "GET", "/jobs/j-000000000000", NULL, 404, &r);
	assert_error_mentions(&r, "unknown job", "j-000000000000");
	reply_clear(&r);
	call(curl, &c, "GET", "/jobs/nonsense", NULL, 404, &r);
	reply_clear(&r);

	curl_easy_cleanup(curl);
	coordinator_stop(&c);
}
END_TEST

START_TEST(test_coordinator_api_routes_answer_404_405_and_413)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	struct reply r;
	char *big;

	ck_assert_ptr_nonnull(curl);
	coordinator_start(&c);

	/* Unknown paths. */
	static const char *const unknown[] = {"/", "/nope", "/jobs/a/b", "/jobs/", "/job",
					      "/nodes/register/x", "/healthz/x", "/JOBS"};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		call(curl, &c, "GET", unknown[i], NULL, 404, &r);
		error_of(&r);
		reply_clear(&r);
	}

	/* Known paths, wrong methods: 405 with Allow. */
	static const struct {
		const char *method, *path, *allow[2];
	} wrong[] = {
		{"DELETE", "/jobs", {"GET", "POST"}},
		{"PUT", "/jobs", {"GET", "POST"}},
		{"POST", "/jobs/j-000000000000", {"GET", NULL}},
		{"DELETE", "/jobs/j-000000000000", {"GET", NULL}},
		{"GET", "/nodes/register", {NULL, NULL}}, /* matches GET /nodes/ * instead: 404 below */
		{"POST", "/nodes", {"GET", NULL}},
		{"PUT", "/nodes/register", {"POST", "GET"}},
		{"POST", "/healthz", {"GET", NULL}},
	};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		if (wrong[i].allow[0] == NULL)
			continue;
		call(curl, &c, wrong[i].method, wrong[i].path, wrong[i].method[0] == 'P' ? "{}" : NULL,
		     405, &r);
		for (int a = 0; a < 2; a++)
			if (wrong[i].allow[a] != NULL)
				ck_assert_msg(strstr(r.allow, wrong[i].allow[a]) != NULL,
					      "%s %s: Allow '%s' lacks %s", wrong[i].method, wrong[i].path,
					      r.allow, wrong[i].allow[a]);
		ck_assert_msg(strstr(r.allow, wrong[i].method) == NULL, "%s %s: Allow '%s' allows it",
			      wrong[i].method, wrong[i].path, r.allow);
		assert_error_mentions(&r, wrong[i].path, wrong[i].method);
		reply_clear(&r);
	}
	/* /nodes/register is also a node id for GET /nodes/ *: there is no such node. */
	call(curl, &c, "GET", "/nodes/register", NULL, 404, &r);
	reply_clear(&r);

	/* A body over the limit: 413, nothing stored, and the server still answers. */
	big = malloc(BODY_LIMIT + 1001);
	ck_assert_ptr_nonnull(big);
	memset(big, ' ', BODY_LIMIT + 1000);
	memcpy(big, "{\"type\":\"echo\",\"payload\":\"", 26);
	memcpy(big + BODY_LIMIT + 1000 - 2, "\"}", 2);
	big[BODY_LIMIT + 1000] = '\0';
	call(curl, &c, "POST", "/jobs", big, 413, &r);
	ck_assert_str_eq(error_of(&r), "body of 5096 bytes is over the limit of 4096 bytes");
	reply_clear(&r);
	call(curl, &c, "POST", "/nodes/register", big, 413, &r);
	reply_clear(&r);
	/* Exactly at the limit is not over it (and is a valid job). */
	memset(big, ' ', BODY_LIMIT);
	memcpy(big, "{\"type\":\"echo\",\"payload\":\"", 26);
	memcpy(big + BODY_LIMIT - 2, "\"}", 2);
	big[BODY_LIMIT] = '\0';
	call(curl, &c, "POST", "/jobs", big, 201, &r);
	reply_clear(&r);
	ck_assert_uint_eq(job_count(curl, &c), 1);

	/* Without a Content-Length (chunked), the limit holds all the same. */
	ck_assert_int_eq(send_request(curl, c.base_url, "POST", "/jobs", big, BODY_LIMIT,
				      "Transfer-Encoding: chunked", &r),
			 0);
	ck_assert_msg(r.status == 201, "chunked body at the limit: HTTP %ld: %s", r.status, r.body);
	reply_clear(&r);
	memset(big, ' ', BODY_LIMIT + 1000);
	memcpy(big, "{\"type\":\"echo\",\"payload\":\"", 26);
	memcpy(big + BODY_LIMIT + 1000 - 2, "\"}", 2);
	ck_assert_int_eq(send_request(curl, c.base_url, "POST", "/jobs", big, BODY_LIMIT + 1000,
				      "Transfer-Encoding: chunked", &r),
			 0);
	ck_assert_msg(r.status == 413, "chunked body over the limit: HTTP %ld: %s", r.status, r.body);
	ck_assert_str_eq(r.body, "{\"error\":\"body is over the limit of 4096 bytes\"}");
	reply_clear(&r);
	free(big);
	ck_assert_uint_eq(job_count(curl, &c), 2);

	curl_easy_cleanup(curl);
	coordinator_stop(&c);
}
END_TEST

static const struct {
	const char *query;
	const char *mentions;
} bad_queries[] = {
	{"?status=BOGUS", "BOGUS"},
	{"?status=queued", "queued"},
	{"?status=", "status"},
	{"?limit=0", "'limit'"},
	{"?limit=10001", "'limit'"},
	{"?limit=abc", "'limit'"},
	{"?limit=-1", "'limit'"},
	{"?limit=", "'limit'"},
	{"?limit=99999999999999999999999", "'limit'"},
	{"?foo=1", "'foo'"},
	{"?status=QUEUED&foo=1", "'foo'"},
	{"?type=not%20valid", "'type'"},
	{"?type=", "'type'"},
	{"?node_id=", "'node_id'"},
};

START_TEST(test_coordinator_api_lists_jobs_with_filters_and_refuses_bad_queries)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	char ids[4][MESH_ID_SIZE];
	struct reply r;
	json_t *jobs;

	ck_assert_ptr_nonnull(curl);
	coordinator_start(&c);
	for (int i = 0; i < 4; i++) {
		char body[128];
		snprintf(body, sizeof(body), "{\"type\":\"%s\",\"payload\":\"%d\"}", i % 2 ? "sleep" : "echo",
			 i);
		call(curl, &c, "POST", "/jobs", body, 201, &r);
		snprintf(ids[i], sizeof(ids[i]), "%s", string_member(&r, "id"));
		reply_clear(&r);
	}

	/* Submission order, filters, limit. */
	call(curl, &c, "GET", "/jobs", NULL, 200, &r);
	jobs = json_object_get(r.json, "jobs");
	ck_assert_uint_eq(json_array_size(jobs), 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, i), "id")), ids[i]);
	reply_clear(&r);
	call(curl, &c, "GET", "/jobs?type=sleep", NULL, 200, &r);
	jobs = json_object_get(r.json, "jobs");
	ck_assert_uint_eq(json_array_size(jobs), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, 0), "id")), ids[1]);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, 1), "id")), ids[3]);
	reply_clear(&r);
	call(curl, &c, "GET", "/jobs?status=QUEUED&limit=3", NULL, 200, &r);
	jobs = json_object_get(r.json, "jobs");
	ck_assert_uint_eq(json_array_size(jobs), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, 0), "id")), ids[0]);
	reply_clear(&r);
	call(curl, &c, "GET", "/jobs?status=RUNNING", NULL, 200, &r);
	ck_assert_str_eq(r.body, "{\"jobs\":[]}");
	reply_clear(&r);
	call(curl, &c, "GET", "/jobs?node_id=n-000000000000&type=echo&limit=1", NULL, 200, &r);
	ck_assert_str_eq(r.body, "{\"jobs\":[]}");
	reply_clear(&r);
	call(curl, &c, "GET", "/jobs?limit=1", NULL, 200, &r);
	jobs = json_object_get(r.json, "jobs");
	ck_assert_uint_eq(json_array_size(jobs), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, 0), "id")), ids[0]);
	reply_clear(&r);

	for (size_t i = 0; i < sizeof(bad_queries) / sizeof(bad_queries[0]); i++) {
		char path[128];
		snprintf(path, sizeof(path), "/jobs%s", bad_queries[i].query);
		call(curl, &c, "GET", path, NULL, 400, &r);
		assert_error_mentions(&r, path, bad_queries[i].mentions);
		reply_clear(&r);
	}

	curl_easy_cleanup(curl);
	coordinator_stop(&c);
}
END_TEST

#define SUBMITTERS 6
#define SUBMISSIONS 20

struct submitter {
	const char *base_url;
	int created, other;
};

static void *submitter_main(void *arg)
{
	struct submitter *s = arg;
	CURL *curl = curl_easy_init();
	const char *body = "{\"type\":\"echo\",\"payload\":\"concurrent\"}";

	for (int i = 0; curl != NULL && i < SUBMISSIONS; i++) {
		struct reply r;
		if (send_request(curl, s->base_url, "POST", "/jobs", body, strlen(body), NULL, &r) == 0 &&
		    r.status == 201)
			s->created++;
		else
			s->other++;
		reply_clear(&r);
	}
	curl_easy_cleanup(curl);
	return NULL;
}

START_TEST(test_coordinator_api_concurrent_submissions_are_all_stored)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	struct submitter submitters[SUBMITTERS];
	pthread_t threads[SUBMITTERS];
	struct reply r;

	ck_assert_ptr_nonnull(curl);
	coordinator_start(&c);
	for (int t = 0; t < SUBMITTERS; t++) {
		submitters[t] = (struct submitter){.base_url = c.base_url};
		ck_assert_int_eq(pthread_create(&threads[t], NULL, submitter_main, &submitters[t]), 0);
	}
	for (int t = 0; t < SUBMITTERS; t++) {
		pthread_join(threads[t], NULL);
		ck_assert_int_eq(submitters[t].created, SUBMISSIONS);
		ck_assert_int_eq(submitters[t].other, 0);
	}
	ck_assert_uint_eq(job_count(curl, &c), SUBMITTERS * SUBMISSIONS);
	/* Without ?limit=, GET /jobs answers the oldest COORDINATOR_LIST_DEFAULT. */
	ck_assert_int_gt(SUBMITTERS * SUBMISSIONS, COORDINATOR_LIST_DEFAULT);
	call(curl, &c, "GET", "/jobs", NULL, 200, &r);
	ck_assert_uint_eq(json_array_size(json_object_get(r.json, "jobs")), COORDINATOR_LIST_DEFAULT);
	reply_clear(&r);
	call(curl, &c, "GET", "/healthz", NULL, 200, &r);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "jobs"), "QUEUED")),
			 SUBMITTERS * SUBMISSIONS);
	reply_clear(&r);
	curl_easy_cleanup(curl);
	coordinator_stop(&c);
}
END_TEST

/*
 * Found while writing these tests: an error message that was not valid UTF-8
 * (a long non-ASCII type cut mid-character in the message, or a query value
 * or path segment that decodes to invalid UTF-8 and is echoed) was replaced
 * as a whole by "(error message is not valid UTF-8)", so the client was not
 * told which field or value was wrong.
 */
START_TEST(test_coordinator_api_error_messages_survive_non_utf8_input)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	char type[128], body[256];
	struct reply r;
	bool names_type, names_status;
	char type_error[512], status_error[512];

	ck_assert_ptr_nonnull(curl);
	coordinator_start(&c);
	memset(type, 'a', 79);
	strcpy(type + 79, "\xc3\xa9");
	snprintf(body, sizeof(body), "{\"type\":\"%s\",\"payload\":\"x\"}", type);
	call(curl, &c, "POST", "/jobs", body, 400, &r);
	names_type = strstr(error_of(&r), "'type'") != NULL;
	snprintf(type_error, sizeof(type_error), "%s", r.body);
	reply_clear(&r);
	call(curl, &c, "GET", "/jobs?status=%FF", NULL, 400, &r);
	names_status = strstr(error_of(&r), "status") != NULL;
	snprintf(status_error, sizeof(status_error), "%s", r.body);
	reply_clear(&r);
	ck_assert_uint_eq(job_count(curl, &c), 0);
	curl_easy_cleanup(curl);
	coordinator_stop(&c);

	ck_assert_msg(names_type, "a 79-byte type + 'é' is refused with %s", type_error);
	ck_assert_msg(names_status, "?status=%%FF is refused with %s", status_error);
}
END_TEST

/* ---- nodes and health ----------------------------------------------------------------------- */

#define REGISTRATION(capacity)                                                                 \
	"{\"name\":\"worker-1\",\"address\":\"127.0.0.1:1\",\"capacity\":" #capacity              \
	",\"types\":[\"resize\"]}"

START_TEST(test_coordinator_api_registers_lists_and_reports_nodes)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	struct reply r;
	char id[MESH_ID_SIZE], path[128];
	json_t *nodes, *jobs;

	ck_assert_ptr_nonnull(curl);
	coordinator_start(&c);

	call(curl, &c, "GET", "/nodes", NULL, 200, &r);
	ck_assert_str_eq(r.body, "{\"nodes\":[]}");
	reply_clear(&r);
	call(curl, &c, "GET", "/healthz", NULL, 200, &r);
	ck_assert_str_eq(string_member(&r, "status"), "ok");
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "nodes")), 0);
	reply_clear(&r);

	/* First registration: 201, Location, node_id. */
	call(curl, &c, "POST", "/nodes/register", REGISTRATION(2), 201, &r);
	snprintf(id, sizeof(id), "%s", string_member(&r, "node_id"));
	ck_assert_msg(strncmp(id, "n-", 2) == 0 && strlen(id) == 14, "node_id '%s'", id);
	ck_assert_str_eq(string_member(&r, "id"), id);
	snprintf(path, sizeof(path), "/nodes/%s", id);
	ck_assert_str_eq(r.location, path);
	ck_assert_str_eq(string_member(&r, "state"), "HEALTHY");
	ck_assert_str_eq(string_member(&r, "base_url"), "http://127.0.0.1:1");
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "capacity")), 2);
	reply_clear(&r);

	/* The same name again: 200, same id, new capacity. */
	call(curl, &c, "POST", "/nodes/register", REGISTRATION(5), 200, &r);
	ck_assert_str_eq(string_member(&r, "node_id"), id);
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "capacity")), 5);
	reply_clear(&r);

	/* Refused registrations name the field and add nothing. */
	call(curl, &c, "POST", "/nodes/register",
	     "{\"name\":\"worker-2\",\"address\":\"no-port\",\"capacity\":1,\"types\":[\"resize\"]}", 400,
	     &r);
	assert_error_mentions(&r, "address without a port", "'address'");
	reply_clear(&r);
	call(curl, &c, "POST", "/nodes/register",
	     "{\"name\":\"worker-2\",\"address\":\"ftp://h:21\",\"capacity\":1,\"types\":[\"resize\"]}",
	     400, &r);
	assert_error_mentions(&r, "ftp address", "'address'");
	reply_clear(&r);
	call(curl, &c, "POST", "/nodes/register", REGISTRATION(0), 400, &r);
	assert_error_mentions(&r, "capacity 0", "'capacity'");
	reply_clear(&r);
	call(curl, &c, "POST", "/nodes/register",
	     "{\"name\":\"worker-2\",\"address\":\":8081\",\"capacity\":1,\"types\":[]}", 400, &r);
	assert_error_mentions(&r, "no types", "'types'");
	reply_clear(&r);
	call(curl, &c, "POST", "/nodes/register",
	     "{\"name\":\"bad name\",\"address\":\":8081\",\"capacity\":1,\"types\":[\"a\"]}", 400, &r);
	assert_error_mentions(&r, "bad name", "'name'");
	reply_clear(&r);
	call(curl, &c, "POST", "/nodes/register", "", 400, &r);
	reply_clear(&r);

	/* GET /nodes lists the one node; GET /nodes/<id> gives it. */
	call(curl, &c, "GET", "/nodes", NULL, 200, &r);
	nodes = json_object_get(r.json, "nodes");
	ck_assert_uint_eq(json_array_size(nodes), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(nodes, 0), "id")), id);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(nodes, 0), "name")),
			 "worker-1");
	reply_clear(&r);
	call(curl, &c, "GET", path, NULL, 200, &r);
	ck_assert_str_eq(string_member(&r, "id"), id);
	ck_assert_str_eq(string_member(&r, "address"), "127.0.0.1:1");
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "capacity")), 5);
	reply_clear(&r);
	call(curl, &c, "GET", "/nodes/n-000000000000", NULL, 404, &r);
	assert_error_mentions(&r, "unknown node", "n-000000000000");
	reply_clear(&r);

	/* /healthz counts nodes and jobs. */
	call(curl, &c, "POST", "/jobs", "{\"type\":\"echo\",\"payload\":\"x\"}", 201, &r);
	reply_clear(&r);
	call(curl, &c, "GET", "/healthz", NULL, 200, &r);
	ck_assert_str_eq(string_member(&r, "status"), "ok");
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "nodes")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "healthy_nodes")), 1);
	jobs = json_object_get(r.json, "jobs");
	ck_assert(json_is_object(jobs));
	ck_assert_int_eq(json_integer_value(json_object_get(jobs, "QUEUED")), 1);
	ck_assert_ptr_nonnull(json_object_get(jobs, "RUNNING"));
	ck_assert_int_eq(json_integer_value(json_object_get(jobs, "RUNNING")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(jobs, "COMPLETED")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(jobs, "FAILED")), 0);
	reply_clear(&r);

	curl_easy_cleanup(curl);
	coordinator_stop(&c);
}
END_TEST


/* ---- options, idempotency, cancel -------------------------------------------------------- */

START_TEST(test_coordinator_api_fills_defaults_and_keeps_options)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	struct reply r;

	coordinator_start(&c);
	call(curl, &c, "POST", "/jobs", "{\"type\":\"nothing-runs-this\",\"payload\":\"x\"}", 201, &r);
	ck_assert_str_eq(string_member(&r, "priority"), "normal");
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "timeout_ms")), 60000);
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "max_attempts")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "backoff_base_ms")), 1000);
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "backoff_cap_ms")), 60000);
	ck_assert(json_is_false(json_object_get(r.json, "retry_on_failure")));
	ck_assert(json_is_null(json_object_get(r.json, "idempotency_key")));
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "attempt")), 0);
	ck_assert(json_is_null(json_object_get(r.json, "next_attempt_at")));
	reply_clear(&r);

	call(curl, &c, "POST", "/jobs",
	     "{\"type\":\"nothing-runs-this\",\"payload\":\"x\",\"priority\":\"high\",\"timeout_ms\":1500,"
	     "\"max_attempts\":4,\"retry_on_failure\":true,\"backoff_base_ms\":50,\"backoff_cap_ms\":400}",
	     201, &r);
	ck_assert_str_eq(string_member(&r, "priority"), "high");
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "timeout_ms")), 1500);
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "max_attempts")), 4);
	ck_assert(json_is_true(json_object_get(r.json, "retry_on_failure")));
	ck_assert_int_eq(json_integer_value(json_object_get(r.json, "backoff_cap_ms")), 400);
	reply_clear(&r);

	/* A base above the default cap names the field; nothing is stored. */
	call(curl, &c, "POST", "/jobs",
	     "{\"type\":\"nothing-runs-this\",\"payload\":\"x\",\"backoff_base_ms\":120000}", 400, &r);
	assert_error_mentions(&r, "base above default cap", "backoff_base_ms");
	reply_clear(&r);
	call(curl, &c, "POST", "/jobs",
	     "{\"type\":\"nothing-runs-this\",\"payload\":\"x\",\"priority\":\"urgent\"}", 400, &r);
	assert_error_mentions(&r, "bad priority", "'priority'");
	reply_clear(&r);
	ck_assert_uint_eq(job_count(curl, &c), 2);

	call(curl, &c, "GET", "/jobs?status=CANCELLED", NULL, 200, &r);
	ck_assert_uint_eq(json_array_size(json_object_get(r.json, "jobs")), 0);
	reply_clear(&r);

	curl_easy_cleanup(curl);
	coordinator_stop(&c);
}
END_TEST

START_TEST(test_coordinator_api_idempotency_key_makes_one_job)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	struct reply first, again;
	const char *body = "{\"type\":\"nothing-runs-this\",\"payload\":\"p\",\"idempotency_key\":\"k-1\"}";

	coordinator_start(&c);
	call(curl, &c, "POST", "/jobs", body, 201, &first);
	call(curl, &c, "POST", "/jobs", body, 200, &again);
	ck_assert_str_eq(string_member(&again, "id"), string_member(&first, "id"));
	ck_assert_str_eq(string_member(&again, "idempotency_key"), "k-1");
	ck_assert_str_eq(again.location, first.location);
	reply_clear(&again);

	/* The same key for another job: 409 naming the job, nothing stored. */
	call(curl, &c, "POST", "/jobs",
	     "{\"type\":\"nothing-runs-this\",\"payload\":\"other\",\"idempotency_key\":\"k-1\"}", 409,
	     &again);
	assert_error_mentions(&again, "key reused", string_member(&first, "id"));
	reply_clear(&again);
	ck_assert_uint_eq(job_count(curl, &c), 1);
	reply_clear(&first);

	curl_easy_cleanup(curl);
	coordinator_stop(&c);
}
END_TEST

START_TEST(test_coordinator_api_cancels_queued_jobs_once)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	struct reply r;
	char path[128], id[MESH_ID_SIZE];

	coordinator_start(&c);
	call(curl, &c, "POST", "/jobs", "{\"type\":\"nothing-runs-this\",\"payload\":\"x\"}", 201, &r);
	snprintf(id, sizeof(id), "%s", string_member(&r, "id"));
	reply_clear(&r);

	snprintf(path, sizeof(path), "/jobs/%s/cancel", id);
	call(curl, &c, "POST", path, "", 200, &r);
	ck_assert_str_eq(string_member(&r, "status"), "CANCELLED");
	ck_assert_ptr_nonnull(strstr(string_member(&r, "error"), "cancelled"));
	reply_clear(&r);

	/* Again: 409, the job unchanged in the answer. */
	call(curl, &c, "POST", path, "", 409, &r);
	assert_error_mentions(&r, "cancel twice", "already CANCELLED");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "job"), "status")),
			 "CANCELLED");
	reply_clear(&r);

	call(curl, &c, "POST", "/jobs/j-000000000000/cancel", "", 404, &r);
	assert_error_mentions(&r, "cancel unknown", "j-000000000000");
	reply_clear(&r);
	call(curl, &c, "GET", "/jobs/j-000000000000/cancel", NULL, 405, &r);
	reply_clear(&r);

	call(curl, &c, "GET", "/jobs?status=CANCELLED", NULL, 200, &r);
	ck_assert_uint_eq(json_array_size(json_object_get(r.json, "jobs")), 1);
	reply_clear(&r);
	call(curl, &c, "GET", "/healthz", NULL, 200, &r);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "jobs"), "CANCELLED")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "jobs"), "QUEUED")), 0);
	reply_clear(&r);

	curl_easy_cleanup(curl);
	coordinator_stop(&c);
}
END_TEST

START_TEST(test_coordinator_api_drains_and_removes_nodes)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	struct reply r;
	char path[128], job_path[128], id[MESH_ID_SIZE];

	coordinator_start(&c);
	call(curl, &c, "POST", "/nodes/register",
	     "{\"name\":\"n1\",\"address\":\"127.0.0.1:9\",\"capacity\":2,\"types\":[\"slow\"]}", 201, &r);
	snprintf(id, sizeof(id), "%s", string_member(&r, "id"));
	ck_assert(json_is_false(json_object_get(r.json, "draining")));
	reply_clear(&r);

	snprintf(path, sizeof(path), "/nodes/%s/drain", id);
	call(curl, &c, "POST", path, "", 200, &r);
	ck_assert_str_eq(string_member(&r, "state"), "DRAINED"); /* nothing runs on it */
	ck_assert(json_is_true(json_object_get(r.json, "draining")));
	reply_clear(&r);

	/* A job of its type waits, and says why. */
	call(curl, &c, "POST", "/jobs", "{\"type\":\"slow\",\"payload\":\"x\",\"timeout_ms\":300}", 201, &r);
	ck_assert_msg(strstr(string_member(&r, "reason"), "draining") != NULL, "reason '%s'",
		      string_member(&r, "reason"));
	snprintf(job_path, sizeof(job_path), "/jobs/%s", string_member(&r, "id"));
	reply_clear(&r);

	call(curl, &c, "POST", "/nodes/n-000000000000/drain", "", 404, &r);
	reply_clear(&r);

	/* Registering again (the agent restarted) ends the drain. */
	call(curl, &c, "POST", "/nodes/register",
	     "{\"name\":\"n1\",\"address\":\"127.0.0.1:9\",\"capacity\":2,\"types\":[\"slow\"]}", 200, &r);
	ck_assert(json_is_false(json_object_get(r.json, "draining")));
	reply_clear(&r);

	/*
	 * The waiting job now goes to the node (whose address refuses it): wait
	 * until it has been started there and the node runs nothing. (Before it
	 * starts, the node also runs nothing: that alone is no sign of the end.)
	 */
	snprintf(path, sizeof(path), "/nodes/%s", id);
	for (int64_t deadline = clock_monotonic_ms() + 10000;; clock_sleep_ms(20)) {
		long running, attempt;
		call(curl, &c, "GET", job_path, NULL, 200, &r);
		attempt = (long)json_integer_value(json_object_get(r.json, "attempt"));
		reply_clear(&r);
		call(curl, &c, "GET", path, NULL, 200, &r);
		running = (long)json_integer_value(json_object_get(r.json, "running"));
		reply_clear(&r);
		if (attempt >= 1 && running == 0)
			break;
		ck_assert_msg(clock_monotonic_ms() < deadline,
			      "after 10 s the job has %ld attempts and the node runs %ld", attempt,
			      running);
	}
	call(curl, &c, "DELETE", path, NULL, 200, &r);
	ck_assert_str_eq(string_member(&r, "id"), id);
	reply_clear(&r);
	call(curl, &c, "GET", path, NULL, 404, &r);
	reply_clear(&r);
	call(curl, &c, "DELETE", path, NULL, 404, &r);
	reply_clear(&r);

	curl_easy_cleanup(curl);
	coordinator_stop(&c);
}
END_TEST


/* In a list, a job waiting for its next attempt keeps its own reason; its neighbours do not take it. */
START_TEST(test_coordinator_api_lists_each_queued_jobs_own_reason)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	struct job spec = {.type = "nothing-runs-this", .payload = "r", .max_attempts = 2};
	struct job made;
	struct reply r;
	json_t *jobs;

	coordinator_start(&c);
	/* Attempt 1 of the first job ended; attempt 2 is due in a minute. */
	ck_assert_int_eq(job_store_create(c.app.store, &spec, 1, &made, NULL), JOB_STORE_OK);
	ck_assert_int_eq(job_store_mark_running(c.app.store, made.id, "n-1", NULL), JOB_STORE_OK);
	ck_assert_int_eq(job_store_retry(c.app.store, made.id, ATTEMPT_FAILED, "boom",
					 clock_wall_ms() + 60000),
			 JOB_STORE_OK);
	job_clear(&made);
	call(curl, &c, "POST", "/jobs", "{\"type\":\"nothing-runs-this\",\"payload\":\"p\"}", 201,
	     &r);
	reply_clear(&r);
	call(curl, &c, "GET", "/jobs?status=QUEUED", NULL, 200, &r);
	jobs = json_object_get(r.json, "jobs");
	ck_assert_uint_eq(json_array_size(jobs), 2);
	ck_assert_msg(strstr(json_string_value(json_object_get(json_array_get(jobs, 0), "reason")),
			     "waiting for attempt 2 of 2") != NULL,
		      "first: %s", json_string_value(json_object_get(json_array_get(jobs, 0), "reason")));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, 1), "reason")),
			 "no node is registered");
	reply_clear(&r);
	curl_easy_cleanup(curl);
	coordinator_stop(&c);
}
END_TEST

/* ---- batches and waiting ----------------------------------------------------------------- */

START_TEST(test_coordinator_api_takes_a_batch_in_one_piece)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	struct reply r;

	coordinator_start(&c);
	call(curl, &c, "POST", "/jobs",
	     "[{\"type\":\"nothing-runs-this\",\"payload\":\"1\"},"
	     "{\"type\":\"nothing-runs-this\",\"payload\":\"2\",\"priority\":\"high\"},"
	     "{\"type\":\"nothing-runs-this\",\"payload\":\"3\",\"idempotency_key\":\"b-3\"}]",
	     201, &r);
	ck_assert(json_is_array(r.json));
	ck_assert_uint_eq(json_array_size(r.json), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.json, 1), "priority")), "high");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.json, 2), "status")), "QUEUED");
	/* Each QUEUED element says why it waits, as a single job's answer does. */
	for (size_t i = 0; i < 3; i++) {
		const char *reason =
			json_string_value(json_object_get(json_array_get(r.json, i), "reason"));
		ck_assert_msg(reason != NULL && strcmp(reason, "no node is registered") == 0,
			      "element %zu: reason '%s'", i, reason != NULL ? reason : "(none)");
	}
	reply_clear(&r);
	ck_assert_uint_eq(job_count(curl, &c), 3);

	/* One bad element rejects the batch, naming its index; nothing is stored. */
	call(curl, &c, "POST", "/jobs",
	     "[{\"type\":\"nothing-runs-this\",\"payload\":\"4\"},{\"payload\":\"5\"}]", 400, &r);
	ck_assert_str_eq(error_of(&r), "jobs[1]: field 'type' is missing");
	reply_clear(&r);
	call(curl, &c, "POST", "/jobs", "[{\"type\":\"nothing-runs-this\",\"payload\":\"4\"},7]", 400, &r);
	ck_assert_str_eq(error_of(&r), "jobs[1]: a job must be a JSON object");
	reply_clear(&r);
	call(curl, &c, "POST", "/jobs", "[]", 400, &r);
	assert_error_mentions(&r, "empty batch", "1 to 1000 jobs");
	reply_clear(&r);
	/* A key used before with other content: 409 naming the element; nothing stored. */
	call(curl, &c, "POST", "/jobs",
	     "[{\"type\":\"nothing-runs-this\",\"payload\":\"6\"},"
	     "{\"type\":\"nothing-runs-this\",\"payload\":\"other\",\"idempotency_key\":\"b-3\"}]",
	     409, &r);
	assert_error_mentions(&r, "batch key reused", "jobs[1]: idempotency_key 'b-3'");
	reply_clear(&r);
	call(curl, &c, "POST", "/jobs?wait=5", "[{\"type\":\"nothing-runs-this\",\"payload\":\"7\"}]",
	     400, &r);
	assert_error_mentions(&r, "batch with wait", "not a batch");
	reply_clear(&r);
	ck_assert_uint_eq(job_count(curl, &c), 3);

	curl_easy_cleanup(curl);
	coordinator_stop(&c);
}
END_TEST

START_TEST(test_coordinator_api_waits_for_a_job_and_says_when_it_did_not_end)
{
	struct coordinator c;
	CURL *curl = curl_easy_init();
	struct reply r;
	struct job_waiter *taken;
	int64_t started;

	coordinator_start(&c);
	started = clock_monotonic_ms();
	call(curl, &c, "POST", "/jobs?wait=1", "{\"type\":\"nothing-runs-this\",\"payload\":\"x\"}", 202, &r);
	ck_assert_int_ge(clock_monotonic_ms() - started, 950);
	ck_assert_str_eq(string_member(&r, "status"), "QUEUED");
	ck_assert_ptr_nonnull(json_object_get(r.json, "reason"));
	ck_assert_str_ne(r.location, "");
	reply_clear(&r);
	/* wait=0 is no wait: 201 at once. */
	call(curl, &c, "POST", "/jobs?wait=0", "{\"type\":\"nothing-runs-this\",\"payload\":\"x\"}", 201, &r);
	reply_clear(&r);

	static const char *const bad[] = {"/jobs?wait=61", "/jobs?wait=-1", "/jobs?wait=abc",
					  "/jobs?wait=", "/jobs?wait=1.5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call(curl, &c, "POST", bad[i], "{\"type\":\"nothing-runs-this\",\"payload\":\"x\"}", 400, &r);
		assert_error_mentions(&r, bad[i], "query parameter 'wait' must be a whole number of seconds from 0 to 60");
		reply_clear(&r);
	}
	call(curl, &c, "POST", "/jobs?wiat=1", "{\"type\":\"nothing-runs-this\",\"payload\":\"x\"}", 400, &r);
	assert_error_mentions(&r, "typo", "unknown query parameter 'wiat'");
	reply_clear(&r);

	/* The one waiting place is taken: 503 with Retry-After, and nothing is stored. */
	taken = job_waiters_add(c.app.waiters, "j-000000000000");
	ck_assert_ptr_nonnull(taken);
	call(curl, &c, "POST", "/jobs?wait=5", "{\"type\":\"nothing-runs-this\",\"payload\":\"x\"}", 503, &r);
	ck_assert_str_eq(r.retry_after, "1");
	assert_error_mentions(&r, "too many waiters", "nothing was stored");
	reply_clear(&r);
	job_waiters_remove(c.app.waiters, taken);
	ck_assert_uint_eq(job_count(curl, &c), 2);

	curl_easy_cleanup(curl);
	coordinator_stop(&c);
}
END_TEST

static Suite *coordinator_api_suite(void)
{
	Suite *s = suite_create("coordinator_api");
	TCase *tc;

	/* Once, before the tests fork: curl_global_init is not thread-safe. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	log_init("test", LOG_WARN);

	tc = tcase_create("jobs");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_coordinator_api_submits_gets_and_refuses_jobs);
	tcase_add_test(tc, test_coordinator_api_routes_answer_404_405_and_413);
	tcase_add_test(tc, test_coordinator_api_lists_jobs_with_filters_and_refuses_bad_queries);
	tcase_add_test(tc, test_coordinator_api_concurrent_submissions_are_all_stored);
	tcase_add_test(tc, test_coordinator_api_error_messages_survive_non_utf8_input);
	tcase_add_test(tc, test_coordinator_api_lists_each_queued_jobs_own_reason);
	tcase_add_test(tc, test_coordinator_api_takes_a_batch_in_one_piece);
	tcase_add_test(tc, test_coordinator_api_waits_for_a_job_and_says_when_it_did_not_end);
	suite_add_tcase(s, tc);

	tc = tcase_create("nodes");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_coordinator_api_registers_lists_and_reports_nodes);
	tcase_add_test(tc, test_coordinator_api_fills_defaults_and_keeps_options);
	tcase_add_test(tc, test_coordinator_api_idempotency_key_makes_one_job);
	tcase_add_test(tc, test_coordinator_api_cancels_queued_jobs_once);
	tcase_add_test(tc, test_coordinator_api_drains_and_removes_nodes);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(coordinator_api_suite)
