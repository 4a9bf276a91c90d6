/*
 * The agent's HTTP interface, through real HTTP on 127.0.0.1:0. Each test
 * starts its own agent server in its own (forked) process: a server started
 * in the parent would leave its threads' state in every forked test, which
 * LeakSanitizer then cannot suspend. mg_stop is slow, so a test covers a whole
 * table rather than one row.
 */
#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_api.h"
#include "check_main.h"
#include "clock.h"
#include "executor.h"
#include "http_client.h"
#include "http_server.h"

/* A capacity-1 agent with handlers upper and fail. Returns its server; fills base_url. */
static struct http_server *start_agent(struct executor **ex, char *base_url, size_t base_url_size)
{
	struct http_server *server;
	char err[256];

	*ex = executor_new(1);
	ck_assert_ptr_nonnull(*ex);
	ck_assert_int_eq(executor_add_handler(*ex, "upper", "tr a-z A-Z", err, sizeof(err)), 0);
	ck_assert_int_eq(executor_add_handler(*ex, "fail", "sh -c 'echo oops >&2; exit 3'", err,
					      sizeof(err)),
			 0);
	server = agent_api_start(*ex, "127.0.0.1:0", err, sizeof(err));
	ck_assert_msg(server != NULL, "%s", err);
	snprintf(base_url, base_url_size, "http://127.0.0.1:%d", http_server_port(server));
	return server;
}

static void stop_agent(struct executor *ex, struct http_server *server)
{
	executor_close(ex);
	executor_terminate(ex);
	http_server_stop(server);
	executor_free(ex);
}

/* Sends one request and checks the status; returns the body (caller frees). */
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
	ck_assert_msg(response.status == expected_status, "%s %s: HTTP %ld, expected %ld: %s", method,
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
	 "{\"error\":\"unknown job type 'foo'; this agent runs: echo, sleep, upper, fail\"}"},
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
	/* An unknown type is still a 400, not a 429. */
	body = request(url, "POST", "/execute",
		       "{\"job_id\":\"j-3rd\",\"type\":\"foo\",\"payload\":\"\"}", 400);
	free(body);
	pthread_join(slow.thread, NULL);
	ck_assert_str_eq(slow.answer, "{\"output\":\"slept 1000 ms\",\"status\":\"ok\"}");
	free(slow.answer);
	wait_for_running(url, 0);
	body = request(url, "POST", "/execute",
		       "{\"job_id\":\"j-4th\",\"type\":\"echo\",\"payload\":\"again\"}", 200);
	free(body);
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
	executor_close(ex);
	body = request(url, "POST", "/execute", "{\"job_id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\"}",
		       503);
	ck_assert_str_eq(body, "{\"error\":\"agent is shutting down\"}");
	free(body);
	body = request(url, "GET", "/healthz", NULL, 503);
	ck_assert_str_eq(body, "{\"error\":\"agent is shutting down\"}");
	free(body);
	http_server_stop(server);
	executor_free(ex);
}
END_TEST

START_TEST(test_job_cut_short_by_shutdown_answers_503)
{
	struct executor *ex;
	char url[64];
	struct http_server *server;
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
	http_server_stop(server);
	pthread_join(slow.thread, NULL);
	ck_assert_msg(strstr(slow.answer, "\"status\":\"failed\"") != NULL, "%s", slow.answer);
	ck_assert_msg(strstr(slow.answer, "the agent is shutting down: sleep of 60000 ms stopped") != NULL,
		      "%s", slow.answer);
	free(slow.answer);
	executor_free(ex);
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

	tc = tcase_create("stopping");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_closed_agent_answers_503);
	tcase_add_test(tc, test_job_cut_short_by_shutdown_answers_503);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(agent_api_suite)
