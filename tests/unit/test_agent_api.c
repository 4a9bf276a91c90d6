/*
 * The agent's HTTP interface, through real HTTP on 127.0.0.1:0. Each test
 * starts its own agent server in its own (forked) process: a server started
 * in the parent would leave its threads' state in every forked test, which
 * LeakSanitizer then cannot suspend. mg_stop is slow, so a test covers a whole
 * table rather than one row.
 */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_api.h"
#include "check_main.h"
#include "clock.h"
#include "execution_record.h"
#include "executor.h"
#include "http_client.h"
#include "http_server.h"

/* One agent per (forked) test: the app the server's threads read lives here. */
static struct agent_api_app test_app;
/* A file the "count" handler appends one line to each time it runs. */
static char count_file[64];

/*
 * A capacity-1 agent with handlers upper, fail and count (appends a line to
 * count_file, then echoes). Returns its server; fills base_url.
 */
static struct http_server *start_agent(struct executor **ex, char *base_url, size_t base_url_size)
{
	struct http_server *server;
	char err[256], command[256];
	int fd;

	*ex = executor_new(1);
	ck_assert_ptr_nonnull(*ex);
	ck_assert_int_eq(executor_add_handler(*ex, "upper", "tr a-z A-Z", err, sizeof(err)), 0);
	ck_assert_int_eq(executor_add_handler(*ex, "fail", "sh -c 'echo oops >&2; exit 3'", err,
					      sizeof(err)),
			 0);
	snprintf(count_file, sizeof(count_file), "/tmp/mesh-test-count.XXXXXX");
	fd = mkstemp(count_file);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(command, sizeof(command), "sh -c 'echo ran >>%s; cat'", count_file);
	ck_assert_msg(executor_add_handler(*ex, "count", command, err, sizeof(err)) == 0, "%s", err);
	test_app.executor = *ex;
	test_app.executions = execution_record_new(100, 60 * 60 * 1000);
	ck_assert_ptr_nonnull(test_app.executions);
	server = agent_api_start(&test_app, "127.0.0.1:0", err, sizeof(err));
	ck_assert_msg(server != NULL, "%s", err);
	snprintf(base_url, base_url_size, "http://127.0.0.1:%d", http_server_port(server));
	return server;
}

/* Frees what start_agent made besides the server and the executor. */
static void free_agent_extras(void)
{
	execution_record_free(test_app.executions);
	test_app.executions = NULL;
	unlink(count_file);
}

static void stop_agent(struct executor *ex, struct http_server *server)
{
	executor_close(ex);
	executor_terminate(ex);
	http_server_stop(server);
	executor_free(ex);
	free_agent_extras();
}

/* How many times the count handler ran. */
static int count_runs(void)
{
	FILE *f = fopen(count_file, "r");
	int lines = 0, c;

	ck_assert_ptr_nonnull(f);
	while ((c = fgetc(f)) != EOF)
		lines += c == '\n';
	fclose(f);
	return lines;
}

/* Sends one request and checks the status (any if expected_status < 0); returns the body (caller frees). */
static char *request(const char *base_url, const char *method, const char *path, const char *body,
		     long expected_status)
{
	struct http_client *client = http_client_new(1000, 20000, 4 * 1024 * 1024);
	struct http_response response;
	char url[256], err[512];
	char *text;

	ck_assert_ptr_nonnull(client);
	snprintf(url, sizeof(url), "%s%s", base_url, path);
	ck_assert_msg(http_client_request(client, method, url, body, &response, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_msg(expected_status < 0 || response.status == expected_status, "%s %s: HTTP %ld, expected %ld: %s", method,
		      path, response.status, expected_status, response.body);
	text = strdup(response.body);
	http_response_clear(&response);
	http_client_free(client);
	return text;
}

/* ---- serving ---------------------------------------------------------------------- */

static const struct {
	const char *body;
	long status;
	const char *answer; /* exact */
} execute_cases[] = {
	{"{\"job_id\":\"j-1\",\"type\":\"echo\",\"payload\":\"hello\"}", 200,
	 "{\"output\":\"hello\",\"status\":\"ok\"}"},
	{"{\"job_id\":\"j-2\",\"type\":\"sleep\",\"payload\":\"5\"}", 200,
	 "{\"output\":\"slept 5 ms\",\"status\":\"ok\"}"},
	{"{\"job_id\":\"j-3\",\"type\":\"upper\",\"payload\":\"hello\"}", 200,
	 "{\"output\":\"HELLO\",\"status\":\"ok\"}"},
	{"{\"job_id\":\"j-4\",\"type\":\"sleep\",\"payload\":\"soon\"}", 422,
	 "{\"error\":\"sleep payload must be whole milliseconds from 0 to 86400000 (got 'soon')\","
	 "\"status\":\"failed\"}"},
	{"{\"job_id\":\"j-5\",\"type\":\"fail\",\"payload\":\"\"}", 422,
	 "{\"error\":\"handler 'fail' exited with status 3; stderr: oops\",\"status\":\"failed\"}"},
	{"{\"job_id\":\"j-6\",\"type\":\"foo\",\"payload\":\"\"}", 400,
	 "{\"error\":\"unknown job type 'foo'; this agent runs: echo, sleep, upper, fail, count\"}"},
	{"{\"job_id\":\"j-7\",\"type\":\"echo\"}", 400, "{\"error\":\"field 'payload' is missing\"}"},
	{"{\"job_id\":\"j-8\",\"type\":\"echo\",\"payload\":\"x\",\"extra\":1}", 400,
	 "{\"error\":\"unknown field 'extra'\"}"},
	{"{\"job_id\":\"\",\"type\":\"echo\",\"payload\":\"x\"}", 400,
	 "{\"error\":\"field 'job_id' must be 1 to 31 characters\"}"},
	{"{\"job_id\":\"j-9\",\"type\":\"echo\"", 400,
	 "{\"error\":\"body is not valid JSON: '}' expected near end of file at line 1 column 29\"}"},
	{"[]", 400, "{\"error\":\"body must be a JSON object\"}"},
};

START_TEST(test_agent_answers_health_and_every_execute_outcome)
{
	struct executor *ex;
	char url[64];
	struct http_server *server = start_agent(&ex, url, sizeof(url));
	char *body;

	body = request(url, "GET", "/healthz", NULL, 200);
	ck_assert_str_eq(body, "{\"capacity\":1,\"running\":0,\"status\":\"ok\"}");
	free(body);
	for (size_t i = 0; i < sizeof(execute_cases) / sizeof(execute_cases[0]); i++) {
		body = request(url, "POST", "/execute", execute_cases[i].body, execute_cases[i].status);
		ck_assert_msg(strcmp(body, execute_cases[i].answer) == 0, "case %zu: got %s, expected %s",
			      i, body, execute_cases[i].answer);
		free(body);
	}
	body = request(url, "GET", "/execute", NULL, 405);
	ck_assert_str_eq(body, "{\"error\":\"method GET is not allowed on /execute (allowed: POST)\"}");
	free(body);
	body = request(url, "POST", "/healthz", "{}", 405);
	free(body);
	body = request(url, "GET", "/nope", NULL, 404);
	ck_assert_str_eq(body, "{\"error\":\"no such path: /nope\"}");
	free(body);
	stop_agent(ex, server);
}
END_TEST

struct background_request {
	const char *base_url;
	const char *body;
	long status;
	char *answer;
	pthread_t thread;
};

static void *background_request_main(void *arg)
{
	struct background_request *r = arg;
	r->answer = request(r->base_url, "POST", "/execute", r->body, r->status);
	return NULL;
}

/* Waits until /healthz says running == n. */
static void wait_for_running(const char *base_url, int n)
{
	char expected[96];
	int64_t deadline = clock_monotonic_ms() + 5000;

	snprintf(expected, sizeof(expected), "\"running\":%d,", n);
	for (;;) {
		char *body = request(base_url, "GET", "/healthz", NULL, 200);
		bool done = strstr(body, expected) != NULL;
		free(body);
		if (done)
			return;
		ck_assert_msg(clock_monotonic_ms() < deadline, "running never reached %d", n);
		clock_sleep_ms(10);
	}
}

START_TEST(test_execute_beyond_capacity_is_refused_with_429)
{
	struct executor *ex;
	char url[64];
	struct http_server *server = start_agent(&ex, url, sizeof(url));
	struct background_request slow = {
		.base_url = url,
		.body = "{\"job_id\":\"j-slow\",\"type\":\"sleep\",\"payload\":\"1000\"}",
		.status = 200,
	};
	char *body;

	ck_assert_int_eq(pthread_create(&slow.thread, NULL, background_request_main, &slow), 0);
	wait_for_running(url, 1);
	body = request(url, "POST", "/execute",
		       "{\"job_id\":\"j-2nd\",\"type\":\"sleep\",\"payload\":\"1000\"}", 429);
	ck_assert_str_eq(body, "{\"error\":\"agent is at capacity (1 of 1 slots busy)\"}");
	free(body);
	/* Refused for room: not recorded. */
	body = request(url, "GET", "/executions/j-2nd", NULL, 404);
	free(body);
	/* The running job asked again: 409, not 429, and not run twice. */
	body = request(url, "POST", "/execute", slow.body, 409);
	ck_assert_str_eq(body, "{\"error\":\"job j-slow is already running on this agent\","
			       "\"status\":\"running\"}");
	free(body);
	body = request(url, "GET", "/executions/j-slow", NULL, 200);
	ck_assert_msg(strstr(body, "\"state\":\"running\"") != NULL, "%s", body);
	ck_assert_msg(strstr(body, "\"started_at\":\"20") != NULL, "%s", body);
	ck_assert_msg(strstr(body, "finished_at") == NULL, "%s", body);
	free(body);
	/* An unknown type is still a 400, not a 429. */
	body = request(url, "POST", "/execute",
		       "{\"job_id\":\"j-3rd\",\"type\":\"foo\",\"payload\":\"\"}", 400);
	free(body);
	pthread_join(slow.thread, NULL);
	ck_assert_str_eq(slow.answer, "{\"output\":\"slept 1000 ms\",\"status\":\"ok\"}");
	free(slow.answer);
	body = request(url, "GET", "/executions/j-slow", NULL, 200);
	ck_assert_msg(strstr(body, "\"state\":\"finished\"") != NULL, "%s", body);
	free(body);
	wait_for_running(url, 0);
	body = request(url, "POST", "/execute",
		       "{\"job_id\":\"j-4th\",\"type\":\"echo\",\"payload\":\"again\"}", 200);
	free(body);
	stop_agent(ex, server);
}
END_TEST


/* ---- idempotence and GET /executions ------------------------------------------------ */

/* GET /executions/{id}, parsed; checks the fields every answer has. */
static json_t *get_execution(const char *base_url, const char *job_id, const char *state)
{
	char path[128];
	char *body;
	json_t *json;
	int64_t started, finished;

	snprintf(path, sizeof(path), "/executions/%s", job_id);
	body = request(base_url, "GET", path, NULL, 200);
	json = json_loads(body, 0, NULL);
	ck_assert_msg(json != NULL, "%s", body);
	free(body);
	ck_assert_str_eq(json_string_value(json_object_get(json, "job_id")), job_id);
	ck_assert_str_eq(json_string_value(json_object_get(json, "state")), state);
	ck_assert_int_eq(clock_parse_rfc3339(json_string_value(json_object_get(json, "started_at")),
					     &started),
			 0);
	ck_assert_int_le(started, clock_wall_ms());
	if (strcmp(state, "finished") == 0) {
		ck_assert_int_eq(clock_parse_rfc3339(json_string_value(json_object_get(json, "finished_at")),
						     &finished),
				 0);
		ck_assert_int_ge(finished, started);
	}
	return json;
}

static const struct {
	const char *body;
	long status;
	const char *answer; /* exact, the first time and every time after */
} replay_cases[] = {
	{"{\"job_id\":\"j-ok\",\"type\":\"count\",\"payload\":\"hello\"}", 200,
	 "{\"output\":\"hello\",\"status\":\"ok\"}"},
	{"{\"job_id\":\"j-fail\",\"type\":\"fail\",\"payload\":\"\"}", 422,
	 "{\"error\":\"handler 'fail' exited with status 3; stderr: oops\",\"status\":\"failed\"}"},
	{"{\"job_id\":\"j-bad\",\"type\":\"sleep\",\"payload\":\"soon\"}", 422,
	 "{\"error\":\"sleep payload must be whole milliseconds from 0 to 86400000 (got 'soon')\","
	 "\"status\":\"failed\"}"},
};

START_TEST(test_execute_answers_a_known_job_id_from_the_record)
{
	struct executor *ex;
	char url[64];
	struct http_server *server = start_agent(&ex, url, sizeof(url));
	size_t n = sizeof(replay_cases) / sizeof(replay_cases[0]);
	json_t *json;
	char *body;

	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < n; i++) {
			body = request(url, "POST", "/execute", replay_cases[i].body, replay_cases[i].status);
			ck_assert_msg(strcmp(body, replay_cases[i].answer) == 0,
				      "round %d case %zu: got %s, expected %s", round, i, body,
				      replay_cases[i].answer);
			free(body);
		}
	}
	ck_assert_int_eq(count_runs(), 1);
	/* The id decides, not the rest of the request. */
	body = request(url, "POST", "/execute", "{\"job_id\":\"j-fail\",\"type\":\"echo\",\"payload\":\"x\"}",
		       422);
	ck_assert_str_eq(body, replay_cases[1].answer);
	free(body);

	json = get_execution(url, "j-ok", "finished");
	ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "ok");
	ck_assert_str_eq(json_string_value(json_object_get(json, "output")), "hello");
	ck_assert_ptr_null(json_object_get(json, "error"));
	ck_assert_ptr_null(json_object_get(json, "http_status"));
	ck_assert_int_eq(json_object_size(json), 6);
	json_decref(json);
	json = get_execution(url, "j-fail", "finished");
	ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "failed");
	ck_assert_str_eq(json_string_value(json_object_get(json, "error")),
			 "handler 'fail' exited with status 3; stderr: oops");
	ck_assert_int_eq(json_integer_value(json_object_get(json, "http_status")), 422);
	ck_assert_ptr_null(json_object_get(json, "output"));
	ck_assert_int_eq(json_object_size(json), 7);
	json_decref(json);

	/* Requests refused as bad input are not recorded, and the id can run afterwards. */
	body = request(url, "POST", "/execute", "{\"job_id\":\"j-7\",\"type\":\"count\"}", 400);
	free(body);
	body = request(url, "POST", "/execute", "{\"job_id\":\"j-7\",\"type\":\"foo\",\"payload\":\"\"}", 400);
	free(body);
	body = request(url, "GET", "/executions/j-7", NULL, 404);
	ck_assert_str_eq(body, "{\"error\":\"this agent has no record of job j-7\"}");
	free(body);
	body = request(url, "POST", "/execute", "{\"job_id\":\"j-7\",\"type\":\"count\",\"payload\":\"y\"}",
		       200);
	free(body);
	ck_assert_int_eq(count_runs(), 2);

	body = request(url, "GET", "/executions/nope", NULL, 404);
	ck_assert_str_eq(body, "{\"error\":\"this agent has no record of job nope\"}");
	free(body);
	body = request(url, "GET", "/executions/", NULL, 404);
	free(body);
	body = request(url, "POST", "/executions/j-ok", "{}", 405);
	free(body);
	stop_agent(ex, server);
}
END_TEST

#define RACERS 8

/* Many concurrent requests for one new id: it runs once, everyone gets its answer or a 409. */
START_TEST(test_concurrent_duplicates_run_a_job_once)
{
	struct executor *ex;
	char url[64];
	struct http_server *server = start_agent(&ex, url, sizeof(url));
	struct background_request racers[RACERS];
	int ok = 0, running = 0, full = 0;

	for (int i = 0; i < RACERS; i++) {
		racers[i] = (struct background_request){
			.base_url = url,
			.body = "{\"job_id\":\"j-race\",\"type\":\"count\",\"payload\":\"z\"}",
			.status = -1,
		};
		ck_assert_int_eq(pthread_create(&racers[i].thread, NULL, background_request_main,
						&racers[i]),
				 0);
	}
	for (int i = 0; i < RACERS; i++) {
		pthread_join(racers[i].thread, NULL);
		if (strcmp(racers[i].answer, "{\"output\":\"z\",\"status\":\"ok\"}") == 0)
			ok++;
		else if (strstr(racers[i].answer, "already running") != NULL)
			running++;
		/* Possible in the instant between the winner taking the slot and recording the id. */
		else if (strstr(racers[i].answer, "at capacity") != NULL)
			full++;
		free(racers[i].answer);
	}
	ck_assert_int_eq(ok + running + full, RACERS);
	ck_assert_int_ge(ok, 1);
	ck_assert_int_eq(count_runs(), 1);
	stop_agent(ex, server);
}
END_TEST

/* ---- stopping ------------------------------------------------------------------------ */

START_TEST(test_closed_agent_answers_503)
{
	struct executor *ex;
	char url[64];
	struct http_server *server;
	char *body;

	server = start_agent(&ex, url, sizeof(url));
	body = request(url, "POST", "/execute", "{\"job_id\":\"j-0\",\"type\":\"echo\",\"payload\":\"x\"}",
		       200);
	free(body);
	executor_close(ex);
	body = request(url, "POST", "/execute", "{\"job_id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\"}",
		       503);
	ck_assert_str_eq(body, "{\"error\":\"agent is shutting down\"}");
	free(body);
	/* Refused before it started: not recorded. */
	body = request(url, "GET", "/executions/j-1", NULL, 404);
	free(body);
	/* A job that finished before is still answered from the record. */
	body = request(url, "POST", "/execute", "{\"job_id\":\"j-0\",\"type\":\"echo\",\"payload\":\"x\"}",
		       200);
	ck_assert_str_eq(body, "{\"output\":\"x\",\"status\":\"ok\"}");
	free(body);
	body = request(url, "GET", "/healthz", NULL, 503);
	ck_assert_str_eq(body, "{\"error\":\"agent is shutting down\"}");
	free(body);
	http_server_stop(server);
	executor_free(ex);
	free_agent_extras();
}
END_TEST

START_TEST(test_job_cut_short_by_shutdown_answers_503)
{
	struct executor *ex;
	char url[64];
	struct http_server *server;
	char *body;
	struct background_request slow = {
		.body = "{\"job_id\":\"j-slow\",\"type\":\"sleep\",\"payload\":\"60000\"}",
		.status = 503,
	};

	server = start_agent(&ex, url, sizeof(url));
	slow.base_url = url;
	ck_assert_int_eq(pthread_create(&slow.thread, NULL, background_request_main, &slow), 0);
	wait_for_running(url, 1);
	/* main()'s stop order. */
	executor_close(ex);
	executor_terminate(ex);
	ck_assert(executor_wait_idle(ex, 3000));
	pthread_join(slow.thread, NULL);
	ck_assert_msg(strstr(slow.answer, "\"status\":\"failed\"") != NULL, "%s", slow.answer);
	ck_assert_msg(strstr(slow.answer, "the agent is shutting down: sleep of 60000 ms stopped") != NULL,
		      "%s", slow.answer);
	/* Recorded with the 503 it answered; asking again replays it. */
	body = request(url, "GET", "/executions/j-slow", NULL, 200);
	ck_assert_msg(strstr(body, "\"http_status\":503") != NULL, "%s", body);
	ck_assert_msg(strstr(body, "\"status\":\"failed\"") != NULL, "%s", body);
	free(body);
	body = request(url, "POST", "/execute", slow.body, 503);
	ck_assert_str_eq(body, slow.answer);
	free(body);
	http_server_stop(server);
	free(slow.answer);
	executor_free(ex);
	free_agent_extras();
	curl_global_cleanup();
}
END_TEST

static Suite *agent_api_suite(void)
{
	Suite *s = suite_create("agent_api");
	TCase *tc;

	/* Once, before the tests fork: curl_global_init is not thread-safe. */
	curl_global_init(CURL_GLOBAL_DEFAULT);

	tc = tcase_create("serving");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_agent_answers_health_and_every_execute_outcome);
	tcase_add_test(tc, test_execute_beyond_capacity_is_refused_with_429);
	suite_add_tcase(s, tc);

	tc = tcase_create("idempotence");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_execute_answers_a_known_job_id_from_the_record);
	tcase_add_test(tc, test_concurrent_duplicates_run_a_job_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("stopping");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_closed_agent_answers_503);
	tcase_add_test(tc, test_job_cut_short_by_shutdown_answers_503);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(agent_api_suite)
