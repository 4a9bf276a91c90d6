/*
 * The agent's HTTP interface, through real HTTP on 127.0.0.1:0. Each test
 * starts its own agent server in its own (forked) process: a server started
 * in the parent would leave its threads' state in every forked test, which
 * LeakSanitizer then cannot suspend. mg_stop is slow, so a test covers a whole
 * table rather than one row.
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
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

/* sh, a background sleep and a foreground sleep: three processes in one group, for 30 s. */
#define FAMILY_COMMAND "sh -c 'sleep 30 & sleep 30; wait'"

/*
 * A capacity-1 agent with handlers upper, fail, count (appends a line to
 * count_file, then echoes) and family (FAMILY_COMMAND). Returns its server;
 * fills base_url.
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
	ck_assert_msg(executor_add_handler(*ex, "family", FAMILY_COMMAND, err, sizeof(err)) == 0, "%s",
		      err);
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
	executor_cancel_all(ex, "the test is over");
	ck_assert(executor_wait_idle(ex, 5000));
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
	 "{\"error\":\"unknown job type 'foo'; this agent runs: echo, sleep, upper, fail, count, family\"}"},
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
	ck_assert_int_eq(json_integer_value(json_object_get(json, "attempt")), 1);
	ck_assert_int_eq(json_object_size(json), 7);
	json_decref(json);
	json = get_execution(url, "j-fail", "finished");
	ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "failed");
	ck_assert_str_eq(json_string_value(json_object_get(json, "error")),
			 "handler 'fail' exited with status 3; stderr: oops");
	ck_assert_int_eq(json_integer_value(json_object_get(json, "http_status")), 422);
	ck_assert_ptr_null(json_object_get(json, "output"));
	ck_assert_int_eq(json_object_size(json), 8);
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

/* Each attempt of a job is its own record: a retry runs again, a repeat of an attempt does not. */
START_TEST(test_each_attempt_of_a_job_runs_once)
{
	struct executor *ex;
	char url[64];
	struct http_server *server = start_agent(&ex, url, sizeof(url));
	json_t *json;
	char *body, *first;

	first = request(url, "POST", "/execute", "{\"job_id\":\"j-att\",\"type\":\"count\",\"payload\":\"one\"}",
			200);
	ck_assert_int_eq(count_runs(), 1);
	/* attempt 1 is the default: the same attempt again is answered from the record. */
	body = request(url, "POST", "/execute",
		       "{\"job_id\":\"j-att\",\"type\":\"count\",\"payload\":\"x\",\"attempt\":1}", 200);
	ck_assert_str_eq(body, first);
	free(body);
	ck_assert_int_eq(count_runs(), 1);
	body = request(url, "POST", "/execute",
		       "{\"job_id\":\"j-att\",\"type\":\"count\",\"payload\":\"two\",\"attempt\":2}", 200);
	ck_assert_str_eq(body, "{\"output\":\"two\",\"status\":\"ok\"}");
	free(body);
	ck_assert_int_eq(count_runs(), 2);
	body = request(url, "POST", "/execute",
		       "{\"job_id\":\"j-att\",\"type\":\"count\",\"payload\":\"again\",\"attempt\":2}", 200);
	ck_assert_str_eq(body, "{\"output\":\"two\",\"status\":\"ok\"}");
	free(body);
	ck_assert_int_eq(count_runs(), 2);
	free(first);

	/* Without ?attempt: the newest; with it: that one. */
	json = get_execution(url, "j-att", "finished");
	ck_assert_int_eq(json_integer_value(json_object_get(json, "attempt")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json, "output")), "two");
	json_decref(json);
	body = request(url, "GET", "/executions/j-att?attempt=1", NULL, 200);
	ck_assert_msg(strstr(body, "\"attempt\":1,") != NULL && strstr(body, "\"output\":\"one\"") != NULL,
		      "%s", body);
	free(body);
	body = request(url, "POST", "/executions/j-att/cancel?attempt=1", NULL, 200);
	ck_assert_msg(strstr(body, "\"output\":\"one\"") != NULL, "%s", body);
	free(body);
	body = request(url, "GET", "/executions/j-att?attempt=3", NULL, 404);
	ck_assert_str_eq(body, "{\"error\":\"this agent has no record of attempt 3 of job j-att\"}");
	free(body);
	body = request(url, "POST", "/executions/j-att/cancel?attempt=3", NULL, 404);
	free(body);
	body = request(url, "GET", "/executions/j-att?attempt=0", NULL, 400);
	ck_assert_str_eq(body, "{\"error\":\"query parameter 'attempt' must be a whole number from 1 to 100\"}");
	free(body);
	body = request(url, "GET", "/executions/j-att?attempt=x", NULL, 400);
	free(body);
	body = request(url, "POST", "/executions/j-att/cancel?bogus=1", NULL, 400);
	ck_assert_str_eq(body, "{\"error\":\"unknown query parameter 'bogus' (allowed: attempt)\"}");
	free(body);
	body = request(url, "POST", "/execute",
		       "{\"job_id\":\"j-att\",\"type\":\"echo\",\"payload\":\"\",\"attempt\":0}", 400);
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

/* ---- timeouts and cancel -------------------------------------------------------------- */

/* True if no process is left in process group pgid (zombies count as left). */
static bool group_is_gone(pid_t pgid)
{
	return kill(-pgid, 0) == -1 && errno == ESRCH;
}

/* How many processes are in process group pgid (zombies included). */
static int group_size(pid_t pgid)
{
	FILE *ps = popen("ps -e -o pgid=", "r");
	char line[64];
	int count = 0;

	ck_assert_ptr_nonnull(ps);
	while (fgets(line, sizeof(line), ps) != NULL)
		count += atoi(line) == (int)pgid;
	pclose(ps);
	return count;
}

/* Waits for the one running handler's process group to have all three processes of FAMILY_COMMAND. */
static pid_t wait_for_family(struct executor *ex)
{
	int64_t deadline = clock_monotonic_ms() + 5000;
	pid_t pgid = 0;

	while (executor_process_groups(ex, &pgid, 1) < 1) {
		ck_assert_msg(clock_monotonic_ms() < deadline, "the handler did not start");
		clock_sleep_ms(5);
	}
	while (group_size(pgid) < 3) {
		ck_assert_msg(clock_monotonic_ms() < deadline, "sh did not start its children");
		clock_sleep_ms(5);
	}
	return pgid;
}

/* Waits until every process of group pgid is gone; false after timeout_ms. */
static bool wait_group_gone(pid_t pgid, int timeout_ms)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;

	while (!group_is_gone(pgid)) {
		if (clock_monotonic_ms() >= deadline)
			return false;
		clock_sleep_ms(5);
	}
	return true;
}

/* Waits until n jobs are inside executor_run: a slot taken is not enough, the job may not have started. */
static void wait_for_started(struct executor *ex, int n)
{
	int64_t deadline = clock_monotonic_ms() + 5000;

	while (executor_started(ex) < n) {
		ck_assert_msg(clock_monotonic_ms() < deadline, "jobs did not start");
		clock_sleep_ms(2);
	}
}

/* Parses an answer body; fails the test if it is not JSON. */
static json_t *parse(const char *body)
{
	json_t *json = json_loads(body, 0, NULL);
	ck_assert_msg(json != NULL, "not JSON: %s", body);
	return json;
}

START_TEST(test_execute_with_timeout_kills_the_whole_group_and_answers_timed_out)
{
	struct executor *ex;
	char url[64];
	struct http_server *server = start_agent(&ex, url, sizeof(url));
	struct background_request slow = {
		.base_url = url,
		.body = "{\"job_id\":\"j-to\",\"type\":\"family\",\"payload\":\"\",\"timeout_ms\":400}",
		.status = 422,
	};
	json_t *json;
	char *body;
	pid_t pgid;

	ck_assert_int_eq(pthread_create(&slow.thread, NULL, background_request_main, &slow), 0);
	pgid = wait_for_family(ex);
	pthread_join(slow.thread, NULL);
	ck_assert_msg(wait_group_gone(pgid, 2000), "process group %d still has processes", (int)pgid);
	json = parse(slow.answer);
	ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "failed");
	ck_assert(json_is_true(json_object_get(json, "timed_out")));
	ck_assert_ptr_null(json_object_get(json, "cancelled"));
	ck_assert_msg(strncmp(json_string_value(json_object_get(json, "error")), "timed out after 4", 17) == 0,
		      "%s", slow.answer);
	ck_assert_msg(strstr(slow.answer, "(timeout_ms 400): handler 'family' and every process of its "
					  "group were killed") != NULL,
		      "%s", slow.answer);
	json_decref(json);

	/* The record: finished, failed, timed out; asking again replays the answer. */
	json = get_execution(url, "j-to", "finished");
	ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "failed");
	ck_assert(json_is_true(json_object_get(json, "timed_out")));
	ck_assert_ptr_null(json_object_get(json, "cancelled"));
	ck_assert_int_eq(json_integer_value(json_object_get(json, "http_status")), 422);
	json_decref(json);
	body = request(url, "POST", "/execute", slow.body, 422);
	ck_assert_str_eq(body, slow.answer);
	free(body);
	free(slow.answer);

	/* The built-in sleep honours it too. */
	body = request(url, "POST", "/execute",
		       "{\"job_id\":\"j-nap\",\"type\":\"sleep\",\"payload\":\"60000\",\"timeout_ms\":150}", 422);
	json = parse(body);
	ck_assert(json_is_true(json_object_get(json, "timed_out")));
	ck_assert_msg(strstr(body, "(timeout_ms 150): sleep of 60000 ms stopped") != NULL, "%s", body);
	json_decref(json);
	free(body);
	/* A job that ends in time is not touched; a bad timeout is a 400. */
	body = request(url, "POST", "/execute",
		       "{\"job_id\":\"j-ok\",\"type\":\"upper\",\"payload\":\"in time\",\"timeout_ms\":5000}", 200);
	ck_assert_str_eq(body, "{\"output\":\"IN TIME\",\"status\":\"ok\"}");
	free(body);
	body = request(url, "POST", "/execute",
		       "{\"job_id\":\"j-bad\",\"type\":\"echo\",\"payload\":\"\",\"timeout_ms\":0}", 400);
	ck_assert_msg(strstr(body, "timeout_ms") != NULL, "%s", body);
	free(body);
	stop_agent(ex, server);
}
END_TEST

START_TEST(test_cancel_of_a_running_job_kills_its_group_and_both_answers_say_cancelled)
{
	struct executor *ex;
	char url[64];
	struct http_server *server = start_agent(&ex, url, sizeof(url));
	struct background_request victim = {
		.base_url = url,
		.body = "{\"job_id\":\"j-victim\",\"type\":\"family\",\"payload\":\"\"}",
		.status = 422,
	};
	int64_t start;
	json_t *json;
	char *body, *first;
	pid_t pgid;

	ck_assert_int_eq(pthread_create(&victim.thread, NULL, background_request_main, &victim), 0);
	pgid = wait_for_family(ex);
	start = clock_monotonic_ms();
	/* A body is allowed and ignored. */
	first = request(url, "POST", "/executions/j-victim/cancel", "{\"why\":\"test\"}", 200);
	ck_assert_int_lt(clock_monotonic_ms() - start, 3000);
	ck_assert_msg(group_is_gone(pgid), "process group %d still has processes", (int)pgid);
	json = parse(first);
	ck_assert_str_eq(json_string_value(json_object_get(json, "state")), "finished");
	ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "failed");
	ck_assert(json_is_true(json_object_get(json, "cancelled")));
	ck_assert_ptr_null(json_object_get(json, "timed_out"));
	ck_assert_int_eq(json_integer_value(json_object_get(json, "http_status")), 422);
	ck_assert_msg(strstr(json_string_value(json_object_get(json, "error")),
			     "(POST /executions/j-victim/cancel): handler 'family' and every process "
			     "of its group were killed") != NULL,
		      "%s", first);
	json_decref(json);

	pthread_join(victim.thread, NULL);
	json = parse(victim.answer);
	ck_assert(json_is_true(json_object_get(json, "cancelled")));
	ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "failed");
	ck_assert_msg(strncmp(json_string_value(json_object_get(json, "error")), "cancelled after ", 16) == 0,
		      "%s", victim.answer);
	json_decref(json);
	free(victim.answer);

	/* Cancelled again: it has finished; its record, unchanged. */
	body = request(url, "POST", "/executions/j-victim/cancel", NULL, 200);
	ck_assert_str_eq(body, first);
	free(body);
	body = request(url, "GET", "/executions/j-victim", NULL, 200);
	ck_assert_str_eq(body, first);
	free(body);
	free(first);
	/* The slot is free again, and the agent open. */
	wait_for_running(url, 0);
	body = request(url, "POST", "/execute", "{\"job_id\":\"j-next\",\"type\":\"echo\",\"payload\":\"x\"}",
		       200);
	free(body);

	/* A sleep is cancelled the same way. */
	victim = (struct background_request){
		.base_url = url,
		.body = "{\"job_id\":\"j-nap\",\"type\":\"sleep\",\"payload\":\"60000\"}",
		.status = 422,
	};
	ck_assert_int_eq(pthread_create(&victim.thread, NULL, background_request_main, &victim), 0);
	wait_for_started(ex, 1);
	body = request(url, "POST", "/executions/j-nap/cancel", "", 200);
	ck_assert_msg(strstr(body, "\"cancelled\":true") != NULL, "%s", body);
	ck_assert_msg(strstr(body, "sleep of 60000 ms stopped") != NULL, "%s", body);
	free(body);
	pthread_join(victim.thread, NULL);
	ck_assert_msg(strstr(victim.answer, "\"cancelled\":true") != NULL, "%s", victim.answer);
	free(victim.answer);
	stop_agent(ex, server);
}
END_TEST

START_TEST(test_cancel_of_a_finished_unknown_or_bad_job_id)
{
	struct executor *ex;
	char url[64];
	struct http_server *server = start_agent(&ex, url, sizeof(url));
	char *body, *record;

	body = request(url, "POST", "/execute", "{\"job_id\":\"j-done\",\"type\":\"upper\",\"payload\":\"a\"}",
		       200);
	free(body);
	record = request(url, "GET", "/executions/j-done", NULL, 200);
	body = request(url, "POST", "/executions/j-done/cancel", NULL, 200);
	ck_assert_str_eq(body, record);
	ck_assert_msg(strstr(body, "\"status\":\"ok\"") != NULL, "%s", body);
	ck_assert_msg(strstr(body, "cancelled") == NULL, "%s", body);
	free(body);
	free(record);
	/* A failed one too. */
	body = request(url, "POST", "/execute", "{\"job_id\":\"j-failed\",\"type\":\"fail\",\"payload\":\"\"}",
		       422);
	free(body);
	record = request(url, "GET", "/executions/j-failed", NULL, 200);
	body = request(url, "POST", "/executions/j-failed/cancel", NULL, 200);
	ck_assert_str_eq(body, record);
	free(body);
	free(record);

	body = request(url, "POST", "/executions/j-nope/cancel", NULL, 404);
	ck_assert_str_eq(body, "{\"error\":\"this agent has no record of job j-nope\"}");
	free(body);
	body = request(url, "POST", "/executions/j-0123456789012345678901234567890123/cancel", NULL, 400);
	ck_assert_str_eq(body, "{\"error\":\"job id 'j-0123456789012345678901234567890123...' is longer "
			       "than 31 characters\"}");
	free(body);
	body = request(url, "GET", "/executions/j-0123456789012345678901234567890123", NULL, 400);
	ck_assert_msg(strstr(body, "is longer than 31 characters") != NULL, "%s", body);
	free(body);
	body = request(url, "GET", "/executions/j-done/cancel", NULL, 405);
	ck_assert_str_eq(body, "{\"error\":\"method GET is not allowed on /executions/j-done/cancel "
			       "(allowed: POST)\"}");
	free(body);
	stop_agent(ex, server);
}
END_TEST

/* ---- draining ------------------------------------------------------------------------ */

START_TEST(test_draining_agent_refuses_new_jobs_with_503_and_still_knows_its_jobs)
{
	struct executor *ex;
	char url[64];
	struct http_server *server = start_agent(&ex, url, sizeof(url));
	struct background_request running = {
		.base_url = url,
		.body = "{\"job_id\":\"j-run\",\"type\":\"sleep\",\"payload\":\"60000\"}",
		.status = 422,
	};
	char *body;

	body = request(url, "POST", "/execute", "{\"job_id\":\"j-0\",\"type\":\"echo\",\"payload\":\"x\"}",
		       200);
	free(body);
	ck_assert_int_eq(pthread_create(&running.thread, NULL, background_request_main, &running), 0);
	wait_for_started(ex, 1);
	executor_close(ex);
	body = request(url, "POST", "/execute", "{\"job_id\":\"j-1\",\"type\":\"echo\",\"payload\":\"x\"}",
		       503);
	ck_assert_str_eq(body, "{\"error\":\"" AGENT_API_DRAINING_ERROR "\"}");
	ck_assert_msg(strstr(body, "draining") != NULL, "%s", body);
	free(body);
	/* Refused before it started: not recorded. */
	body = request(url, "GET", "/executions/j-1", NULL, 404);
	free(body);
	/* A job that finished before is still answered from the record, a running one with 409. */
	body = request(url, "POST", "/execute", "{\"job_id\":\"j-0\",\"type\":\"echo\",\"payload\":\"x\"}",
		       200);
	ck_assert_str_eq(body, "{\"output\":\"x\",\"status\":\"ok\"}");
	free(body);
	body = request(url, "POST", "/execute", running.body, 409);
	free(body);
	/* Health stays 200, so that the coordinator does not fail the jobs left to finish. */
	body = request(url, "GET", "/healthz", NULL, 200);
	ck_assert_str_eq(body, "{\"capacity\":1,\"running\":1,\"status\":\"draining\"}");
	free(body);

	/* What the drain does when its grace is over. */
	ck_assert_uint_eq(executor_cancel_all(ex, "the agent was stopped and cancelled the job after "
						  "its drain grace of 100 ms"),
			  1);
	ck_assert(executor_wait_idle(ex, 5000));
	pthread_join(running.thread, NULL);
	ck_assert_msg(strstr(running.answer, "\"cancelled\":true") != NULL, "%s", running.answer);
	ck_assert_msg(strstr(running.answer, "(the agent was stopped and cancelled the job after its "
					     "drain grace of 100 ms): sleep of 60000 ms stopped") != NULL,
		      "%s", running.answer);
	body = request(url, "POST", "/execute", running.body, 422);
	ck_assert_str_eq(body, running.answer);
	free(body);
	free(running.answer);
	http_server_stop(server);
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
	tcase_add_test(tc, test_each_attempt_of_a_job_runs_once);
	tcase_add_test(tc, test_concurrent_duplicates_run_a_job_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("timeouts and cancel");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_execute_with_timeout_kills_the_whole_group_and_answers_timed_out);
	tcase_add_test(tc, test_cancel_of_a_running_job_kills_its_group_and_both_answers_say_cancelled);
	tcase_add_test(tc, test_cancel_of_a_finished_unknown_or_bad_job_id);
	suite_add_tcase(s, tc);

	tc = tcase_create("draining");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_draining_agent_refuses_new_jobs_with_503_and_still_knows_its_jobs);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(agent_api_suite)
