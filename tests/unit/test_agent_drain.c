/*
 * The agent's drain (drain.h) end to end in one process: the real agent_api
 * on 127.0.0.1:0, a real registration thread, and a fake coordinator
 * (common/http_server, also on 127.0.0.1:0) whose answers the test steers and
 * whose requests it counts. Each test runs in its own forked process and
 * starts its own servers.
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_api.h"
#include "check_main.h"
#include "clock.h"
#include "drain.h"
#include "execution_record.h"
#include "executor.h"
#include "http_client.h"
#include "http_server.h"
#include "model.h"
#include "registration.h"

/* ---- the fake coordinator ------------------------------------------------------------- */

/* fake_lock guards every field of fake: handlers run on civetweb threads. */
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake {
	int registrations;        /* POST /nodes/register received */
	int drains;               /* POST /nodes/{id}/drain received */
	int deletes;              /* DELETE /nodes/{id} received */
	int conflicts_left;       /* answer this many DELETEs with 409 first */
	bool forget;              /* answer drain and DELETE with 404, as after a restart */
	char known_id[MESH_ID_SIZE];
	char drained_id[MESH_ID_SIZE];
	char deleted_id[MESH_ID_SIZE];
	int64_t first_drain_ms;   /* monotonic */
	int64_t first_delete_ms;  /* monotonic */
} fake;

static void fake_register(struct http_request *request)
{
	char id[MESH_ID_SIZE];

	pthread_mutex_lock(&fake_lock);
	fake.registrations++;
	snprintf(id, sizeof(id), "n-%012d", fake.registrations);
	snprintf(fake.known_id, sizeof(fake.known_id), "%s", id);
	pthread_mutex_unlock(&fake_lock);
	http_reply_json(request, 201, json_pack("{s:s, s:s}", "node_id", id, "state", "HEALTHY"), NULL);
}

static void fake_get_node(struct http_request *request)
{
	bool known;

	pthread_mutex_lock(&fake_lock);
	known = fake.known_id[0] != '\0' && strcmp(request->params[0], fake.known_id) == 0;
	pthread_mutex_unlock(&fake_lock);
	if (known)
		http_reply_json(request, 200, json_pack("{s:s}", "node_id", request->params[0]), NULL);
	else
		http_reply_error(request, 404, "no node with id %s", request->params[0]);
}

static void fake_drain(struct http_request *request)
{
	bool forget;

	pthread_mutex_lock(&fake_lock);
	fake.drains++;
	if (fake.first_drain_ms == 0)
		fake.first_drain_ms = clock_monotonic_ms();
	snprintf(fake.drained_id, sizeof(fake.drained_id), "%s", request->params[0]);
	forget = fake.forget;
	pthread_mutex_unlock(&fake_lock);
	if (forget)
		http_reply_error(request, 404, "no node with id %s", request->params[0]);
	else
		http_reply_json(request, 200,
				json_pack("{s:s, s:b}", "node_id", request->params[0], "draining", 1), NULL);
}

static void fake_delete(struct http_request *request)
{
	bool conflict, forget;

	pthread_mutex_lock(&fake_lock);
	fake.deletes++;
	if (fake.first_delete_ms == 0)
		fake.first_delete_ms = clock_monotonic_ms();
	snprintf(fake.deleted_id, sizeof(fake.deleted_id), "%s", request->params[0]);
	conflict = fake.conflicts_left != 0;
	if (fake.conflicts_left > 0)
		fake.conflicts_left--;
	forget = fake.forget;
	pthread_mutex_unlock(&fake_lock);
	if (forget)
		http_reply_error(request, 404, "no node with id %s", request->params[0]);
	else if (conflict)
		http_reply_error(request, 409, "node %s still has 1 job in flight", request->params[0]);
	else
		http_reply_json(request, 200, json_pack("{s:s}", "node_id", request->params[0]), NULL);
}

static const struct http_route fake_routes[] = {
	{"POST", "/nodes/register", fake_register, true},
	{"GET", "/nodes/*", fake_get_node, false},
	{"DELETE", "/nodes/*", fake_delete, false},
	{"POST", "/nodes/*/drain", fake_drain, true},
};

static struct http_server *start_fake(char *url, size_t url_size)
{
	struct http_server_config config = {
		.listen = "127.0.0.1:0",
		.routes = fake_routes,
		.route_count = sizeof(fake_routes) / sizeof(fake_routes[0]),
		.body_limit = 4096,
		.num_threads = 8,
	};
	char err[256];
	struct http_server *server;

	/* Fresh counts, also when the tests run in one process (CK_FORK=no). */
	pthread_mutex_lock(&fake_lock);
	memset(&fake, 0, sizeof(fake));
	pthread_mutex_unlock(&fake_lock);
	server = http_server_start(&config, err, sizeof(err));
	ck_assert_msg(server != NULL, "%s", err);
	snprintf(url, url_size, "http://127.0.0.1:%d/", http_server_port(server));
	return server;
}

static int fake_read(const int *field)
{
	int n;
	pthread_mutex_lock(&fake_lock);
	n = *field;
	pthread_mutex_unlock(&fake_lock);
	return n;
}

/* ---- the agent ------------------------------------------------------------------------- */

/* The agent under test; what its server's threads read lives here (one per forked test). */
static struct agent {
	struct agent_api_app app;
	struct http_server *server;
	struct registration *registration;
	char url[64];
} agent;

static const char *const agent_types[] = {"echo", "sleep", "family"};

/*
 * Starts a capacity-2 agent with a "family" handler (sh and two sleeps in one
 * group) and, if coordinator_url is not NULL, its registration, and waits
 * until it is registered (when wait_registered).
 */
static void start_agent(const char *coordinator_url, bool wait_registered)
{
	struct registration_config config = {
		.coordinator_url = coordinator_url,
		.name = "agent-1",
		.address = "127.0.0.1:9999",
		.capacity = 2,
		.types = agent_types,
		.type_count = 3,
		.poll_interval_ms = 50,
		.backoff_start_ms = 50,
		.backoff_cap_ms = 200,
	};
	char err[256], node_id[MESH_ID_SIZE] = "";
	int64_t deadline = clock_monotonic_ms() + 3000;

	agent.app.executor = executor_new(2);
	ck_assert_ptr_nonnull(agent.app.executor);
	ck_assert_int_eq(executor_add_handler(agent.app.executor, "family",
					      "sh -c 'sleep 30 & sleep 30; wait'", err, sizeof(err)),
			 0);
	agent.app.executions = execution_record_new(100, 60 * 60 * 1000);
	ck_assert_ptr_nonnull(agent.app.executions);
	agent.server = agent_api_start(&agent.app, "127.0.0.1:0", err, sizeof(err));
	ck_assert_msg(agent.server != NULL, "%s", err);
	snprintf(agent.url, sizeof(agent.url), "http://127.0.0.1:%d", http_server_port(agent.server));
	if (coordinator_url == NULL)
		return;
	agent.registration = registration_start(&config, err, sizeof(err));
	ck_assert_msg(agent.registration != NULL, "%s", err);
	while (wait_registered && node_id[0] == '\0') {
		ck_assert_msg(clock_monotonic_ms() < deadline, "the agent did not register");
		clock_sleep_ms(5);
		registration_node_id(agent.registration, node_id, sizeof(node_id));
	}
}

static void stop_agent(void)
{
	executor_cancel_all(agent.app.executor, "the test is over");
	ck_assert(executor_wait_idle(agent.app.executor, 5000));
	http_server_stop(agent.server);
	registration_stop(agent.registration);
	execution_record_free(agent.app.executions);
	executor_free(agent.app.executor);
	memset(&agent, 0, sizeof(agent));
}

/* Sends one request to the agent and checks the status (any if < 0); returns the body (caller frees). */
static char *request(const char *method, const char *path, const char *body, long expected_status)
{
	struct http_client *client = http_client_new(1000, 20000, 1024 * 1024);
	struct http_response response;
	char url[256], err[512];
	char *text;

	ck_assert_ptr_nonnull(client);
	snprintf(url, sizeof(url), "%s%s", agent.url, path);
	ck_assert_msg(http_client_request(client, method, url, body, &response, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_msg(expected_status < 0 || response.status == expected_status,
		      "%s %s: HTTP %ld, expected %ld: %s", method, path, response.status,
		      expected_status, response.body);
	text = strdup(response.body);
	http_response_clear(&response);
	http_client_free(client);
	return text;
}

/* A POST /execute held open in a thread of its own, as the coordinator's. */
struct job_request {
	const char *body;
	long status;
	char *answer;
	pthread_t thread;
};

static void *job_request_main(void *arg)
{
	struct job_request *job = arg;
	job->answer = request("POST", "/execute", job->body, job->status);
	return NULL;
}

static void send_job(struct job_request *job)
{
	ck_assert_int_eq(pthread_create(&job->thread, NULL, job_request_main, job), 0);
}

/* Waits until n jobs are inside executor_run (a slot taken is not enough: it may not have started). */
static void wait_for_started(int n)
{
	int64_t deadline = clock_monotonic_ms() + 5000;

	while (executor_started(agent.app.executor) < n) {
		ck_assert_msg(clock_monotonic_ms() < deadline, "running never reached %d", n);
		clock_sleep_ms(2);
	}
}

/* drain_run in a thread, so that the test can act while it drains. */
struct drain_thread {
	struct drain_config config;
	struct drain_report report;
	int64_t took_ms;
	pthread_t thread;
};

static void *drain_thread_main(void *arg)
{
	struct drain_thread *d = arg;
	int64_t start = clock_monotonic_ms();

	drain_run(&d->config, &d->report);
	d->took_ms = clock_monotonic_ms() - start;
	return NULL;
}

static void drain_config_init(struct drain_config *config, const char *coordinator_url, long grace_ms)
{
	memset(config, 0, sizeof(*config));
	config->executor = agent.app.executor;
	config->registration = agent.registration;
	config->coordinator_url = coordinator_url;
	config->grace_ms = grace_ms;
	config->deregister_retry_ms = 50;
	config->deregister_for_ms = 1000;
	config->request_timeout_ms = 1000;
}

static bool group_is_gone(pid_t pgid)
{
	return kill(-pgid, 0) == -1 && errno == ESRCH;
}

/* ---- tests ---------------------------------------------------------------------------- */

START_TEST(test_drain_with_no_job_tells_the_coordinator_and_deregisters_at_once)
{
	char url[64], node_id[MESH_ID_SIZE];
	struct http_server *coordinator = start_fake(url, sizeof(url));
	struct drain_config config;
	struct drain_report report;
	int64_t start;
	char *body;

	start_agent(url, true);
	registration_node_id(agent.registration, node_id, sizeof(node_id));
	drain_config_init(&config, url, 30000);
	start = clock_monotonic_ms();
	drain_run(&config, &report);
	ck_assert_int_lt(clock_monotonic_ms() - start, 2000);
	ck_assert_int_eq(report.jobs, EXECUTOR_DRAINED);
	ck_assert_uint_eq(report.cancelled, 0);
	ck_assert(report.answers_sent);
	ck_assert_int_eq(report.drain_status, 200);
	ck_assert_int_eq(report.deregister_status, 200);
	ck_assert_int_eq(report.deregister_attempts, 1);
	ck_assert_int_eq(fake_read(&fake.drains), 1);
	ck_assert_int_eq(fake_read(&fake.deletes), 1);
	pthread_mutex_lock(&fake_lock);
	ck_assert_str_eq(fake.drained_id, node_id);
	ck_assert_str_eq(fake.deleted_id, node_id);
	ck_assert_int_le(fake.first_drain_ms, fake.first_delete_ms);
	pthread_mutex_unlock(&fake_lock);
	/* After the drain, the server (until main stops it) refuses jobs. */
	body = request("POST", "/execute", "{\"job_id\":\"j-late\",\"type\":\"echo\",\"payload\":\"\"}", 503);
	ck_assert_msg(strstr(body, "draining") != NULL, "%s", body);
	free(body);
	stop_agent();
	http_server_stop(coordinator);
}
END_TEST

START_TEST(test_drain_waits_for_jobs_that_end_within_the_grace_and_does_not_register_again)
{
	char url[64];
	struct http_server *coordinator = start_fake(url, sizeof(url));
	struct drain_thread d;
	struct job_request job = {
		.body = "{\"job_id\":\"j-short\",\"type\":\"sleep\",\"payload\":\"600\"}",
		.status = 200,
	};
	char *body;

	start_agent(url, true);
	send_job(&job);
	wait_for_started(1);
	drain_config_init(&d.config, url, 10000);
	ck_assert_int_eq(pthread_create(&d.thread, NULL, drain_thread_main, &d), 0);
	while (!executor_is_closed(agent.app.executor))
		clock_sleep_ms(2);
	/* While it drains: no new job; the running one is still known (409). */
	body = request("POST", "/execute", "{\"job_id\":\"j-new\",\"type\":\"echo\",\"payload\":\"\"}", 503);
	free(body);
	body = request("POST", "/execute", job.body, 409);
	free(body);
	/* What a coordinator restart looks like: the agent must not register again while it drains. */
	pthread_mutex_lock(&fake_lock);
	fake.known_id[0] = '\0';
	pthread_mutex_unlock(&fake_lock);
	pthread_join(d.thread, NULL);
	pthread_join(job.thread, NULL);
	ck_assert_str_eq(job.answer, "{\"output\":\"slept 600 ms\",\"status\":\"ok\"}");
	free(job.answer);
	ck_assert_int_eq(d.report.jobs, EXECUTOR_DRAINED);
	ck_assert_uint_eq(d.report.cancelled, 0);
	ck_assert_int_lt(d.took_ms, 5000);
	ck_assert_int_eq(fake_read(&fake.registrations), 1);
	ck_assert_int_eq(fake_read(&fake.drains), 1);
	ck_assert_int_eq(fake_read(&fake.deletes), 1);
	stop_agent();
	http_server_stop(coordinator);
}
END_TEST

START_TEST(test_drain_grace_expiry_cancels_running_jobs_and_deregister_retries_409)
{
	char url[64];
	struct http_server *coordinator = start_fake(url, sizeof(url));
	struct drain_thread d;
	struct job_request sleeper = {
		.body = "{\"job_id\":\"j-sleep\",\"type\":\"sleep\",\"payload\":\"60000\"}",
		.status = 422,
	};
	struct job_request family = {
		.body = "{\"job_id\":\"j-family\",\"type\":\"family\",\"payload\":\"\"}",
		.status = 422,
	};
	pid_t pgid = 0;
	int64_t deadline;
	char *body;

	start_agent(url, true);
	pthread_mutex_lock(&fake_lock);
	fake.conflicts_left = 2;
	pthread_mutex_unlock(&fake_lock);
	send_job(&sleeper);
	send_job(&family);
	wait_for_started(2);
	deadline = clock_monotonic_ms() + 5000;
	while (executor_process_groups(agent.app.executor, &pgid, 1) < 1) {
		ck_assert(clock_monotonic_ms() < deadline);
		clock_sleep_ms(2);
	}
	drain_config_init(&d.config, url, 300);
	ck_assert_int_eq(pthread_create(&d.thread, NULL, drain_thread_main, &d), 0);
	pthread_join(d.thread, NULL);
	pthread_join(sleeper.thread, NULL);
	pthread_join(family.thread, NULL);

	ck_assert_int_eq(d.report.jobs, EXECUTOR_GRACE_OVER);
	ck_assert_uint_eq(d.report.cancelled, 2);
	ck_assert(d.report.answers_sent);
	ck_assert_int_ge(d.took_ms, 300);
	ck_assert_int_lt(d.took_ms, 5000);
	ck_assert(group_is_gone(pgid));
	ck_assert_msg(strstr(sleeper.answer, "\"cancelled\":true") != NULL, "%s", sleeper.answer);
	ck_assert_msg(strstr(sleeper.answer, "(the agent was stopped and cancelled the job after its "
					     "drain grace of 300 ms): sleep of 60000 ms stopped") != NULL,
		      "%s", sleeper.answer);
	ck_assert_msg(strstr(family.answer, "\"cancelled\":true") != NULL, "%s", family.answer);
	ck_assert_msg(strstr(family.answer, "after its drain grace of 300 ms): handler 'family' and "
					    "every process of its group were killed") != NULL,
		      "%s", family.answer);
	free(sleeper.answer);
	free(family.answer);
	body = request("GET", "/executions/j-family", NULL, 200);
	ck_assert_msg(strstr(body, "\"cancelled\":true") != NULL, "%s", body);
	ck_assert_msg(strstr(body, "\"state\":\"finished\"") != NULL, "%s", body);
	free(body);
	/* 409, 409, then 200. */
	ck_assert_int_eq(d.report.deregister_attempts, 3);
	ck_assert_int_eq(d.report.deregister_status, 200);
	ck_assert_int_eq(fake_read(&fake.deletes), 3);
	stop_agent();
	http_server_stop(coordinator);
}
END_TEST

START_TEST(test_second_signal_cuts_the_drain_grace_short)
{
	char url[64];
	struct http_server *coordinator = start_fake(url, sizeof(url));
	struct drain_thread d;
	struct job_request sleeper = {
		.body = "{\"job_id\":\"j-sleep\",\"type\":\"sleep\",\"payload\":\"60000\"}",
		.status = 422,
	};
	int64_t hurried_at;

	start_agent(url, true);
	send_job(&sleeper);
	wait_for_started(1);
	drain_config_init(&d.config, url, 60000);
	ck_assert_int_eq(pthread_create(&d.thread, NULL, drain_thread_main, &d), 0);
	/* Hurried once the coordinator has been told, i.e. while (c) waits. */
	while (fake_read(&fake.drains) < 1)
		clock_sleep_ms(2);
	hurried_at = clock_monotonic_ms();
	executor_hurry(agent.app.executor);
	pthread_join(d.thread, NULL);
	pthread_join(sleeper.thread, NULL);
	ck_assert_int_lt(clock_monotonic_ms() - hurried_at, 3000);
	ck_assert_int_eq(d.report.jobs, EXECUTOR_HURRIED);
	ck_assert_uint_eq(d.report.cancelled, 1);
	ck_assert_msg(strstr(sleeper.answer, "\"cancelled\":true") != NULL, "%s", sleeper.answer);
	ck_assert_msg(strstr(sleeper.answer, "on a second stop signal, before its drain grace of 60000 "
					     "ms was over") != NULL,
		      "%s", sleeper.answer);
	free(sleeper.answer);
	stop_agent();
	http_server_stop(coordinator);
}
END_TEST

START_TEST(test_zero_grace_cancels_at_once)
{
	struct drain_config config;
	struct drain_report report;
	struct job_request sleeper = {
		.body = "{\"job_id\":\"j-sleep\",\"type\":\"sleep\",\"payload\":\"60000\"}",
		.status = 422,
	};
	int64_t start;

	start_agent(NULL, false);
	send_job(&sleeper);
	wait_for_started(1);
	drain_config_init(&config, NULL, 0);
	start = clock_monotonic_ms();
	drain_run(&config, &report);
	ck_assert_int_lt(clock_monotonic_ms() - start, 2000);
	pthread_join(sleeper.thread, NULL);
	ck_assert_int_eq(report.jobs, EXECUTOR_GRACE_OVER);
	ck_assert_uint_eq(report.cancelled, 1);
	ck_assert_msg(strstr(sleeper.answer, "cancelled the job at once: its drain grace is 0 ms") != NULL,
		      "%s", sleeper.answer);
	free(sleeper.answer);
	/* No coordinator: nothing sent. */
	ck_assert_int_eq(report.drain_status, 0);
	ck_assert_int_eq(report.deregister_attempts, 0);
	stop_agent();
}
END_TEST

START_TEST(test_drain_completes_locally_when_the_coordinator_is_gone_or_forgot_the_node)
{
	char url[64];
	struct http_server *coordinator = start_fake(url, sizeof(url));
	struct drain_config config;
	struct drain_report report;
	int64_t start;

	/* Forgot the node (it restarted): 404 to both calls, which end them. */
	start_agent(url, true);
	pthread_mutex_lock(&fake_lock);
	fake.forget = true;
	pthread_mutex_unlock(&fake_lock);
	drain_config_init(&config, url, 1000);
	drain_run(&config, &report);
	ck_assert_int_eq(report.drain_status, 404);
	ck_assert_int_eq(report.deregister_status, 404);
	ck_assert_int_eq(report.deregister_attempts, 1);
	stop_agent();

	/* Gone altogether: no answer; the drain still ends, quickly. */
	pthread_mutex_lock(&fake_lock);
	fake.forget = false;
	pthread_mutex_unlock(&fake_lock);
	start_agent(url, true);
	http_server_stop(coordinator);
	drain_config_init(&config, url, 1000);
	start = clock_monotonic_ms();
	drain_run(&config, &report);
	ck_assert_int_lt(clock_monotonic_ms() - start, 3000);
	ck_assert_int_eq(report.jobs, EXECUTOR_DRAINED);
	ck_assert_int_eq(report.drain_status, 0);
	ck_assert_int_eq(report.deregister_status, 0);
	ck_assert_int_eq(report.deregister_attempts, 1);
	stop_agent();
}
END_TEST

START_TEST(test_deregister_gives_up_when_the_coordinator_keeps_answering_409)
{
	char url[64];
	struct http_server *coordinator = start_fake(url, sizeof(url));
	struct drain_config config;
	struct drain_report report;
	int64_t start;

	start_agent(url, true);
	pthread_mutex_lock(&fake_lock);
	fake.conflicts_left = -1; /* for ever */
	pthread_mutex_unlock(&fake_lock);
	drain_config_init(&config, url, 1000);
	config.deregister_for_ms = 300;
	start = clock_monotonic_ms();
	drain_run(&config, &report);
	ck_assert_int_lt(clock_monotonic_ms() - start, 2000);
	ck_assert_int_eq(report.deregister_status, 409);
	ck_assert_int_ge(report.deregister_attempts, 3);
	ck_assert_int_le(report.deregister_attempts, 8);
	stop_agent();
	http_server_stop(coordinator);
}
END_TEST

static Suite *agent_drain_suite(void)
{
	Suite *s = suite_create("agent_drain");
	TCase *tc;

	/* Once, before the tests fork: curl_global_init is not thread-safe. */
	curl_global_init(CURL_GLOBAL_DEFAULT);

	tc = tcase_create("drain");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_drain_with_no_job_tells_the_coordinator_and_deregisters_at_once);
	tcase_add_test(tc, test_drain_waits_for_jobs_that_end_within_the_grace_and_does_not_register_again);
	tcase_add_test(tc, test_drain_grace_expiry_cancels_running_jobs_and_deregister_retries_409);
	tcase_add_test(tc, test_second_signal_cuts_the_drain_grace_short);
	tcase_add_test(tc, test_zero_grace_cancels_at_once);
	tcase_add_test(tc, test_drain_completes_locally_when_the_coordinator_is_gone_or_forgot_the_node);
	tcase_add_test(tc, test_deregister_gives_up_when_the_coordinator_keeps_answering_409);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(agent_drain_suite)
