/*
 * The registration thread against a fake coordinator (common/http_server on
 * 127.0.0.1:0, started inside each test) whose answers the test steers.
 */
#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "clock.h"
#include "http_server.h"
#include "model.h"
#include "registration.h"

/* The fake coordinator. Its lock guards every field: handlers run on civetweb threads. */
static struct fake {
	pthread_mutex_t lock;
	int fail_next;        /* answer this many registrations with 503 first */
	bool reject;          /* answer registrations with 400 */
	int registrations;    /* POST /nodes/register received */
	int checks;           /* GET /nodes/{id} received */
	int next_id;
	char known_id[MESH_ID_SIZE]; /* "" once it "restarted" */
	char last_body[512];
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void fake_register(struct http_request *request)
{
	char id[MESH_ID_SIZE];

	pthread_mutex_lock(&fake.lock);
	fake.registrations++;
	snprintf(fake.last_body, sizeof(fake.last_body), "%s", request->body);
	if (fake.reject) {
		pthread_mutex_unlock(&fake.lock);
		http_reply_error(request, 400, "field 'capacity' must be a whole number from 1 to 1024");
		return;
	}
	if (fake.fail_next > 0) {
		fake.fail_next--;
		pthread_mutex_unlock(&fake.lock);
		http_reply_error(request, 503, "coordinator is starting");
		return;
	}
	snprintf(id, sizeof(id), "n-%012d", ++fake.next_id);
	snprintf(fake.known_id, sizeof(fake.known_id), "%s", id);
	pthread_mutex_unlock(&fake.lock);
	http_reply_json(request, 201, json_pack("{s:s, s:s, s:s}", "id", id, "node_id", id, "state", "HEALTHY"),
			NULL);
}

static void fake_get_node(struct http_request *request)
{
	bool known;

	pthread_mutex_lock(&fake.lock);
	fake.checks++;
	known = fake.known_id[0] != '\0' && strcmp(request->params[0], fake.known_id) == 0;
	pthread_mutex_unlock(&fake.lock);
	if (known)
		http_reply_json(request, 200, json_pack("{s:s}", "id", request->params[0]), NULL);
	else
		http_reply_error(request, 404, "no node with id %s", request->params[0]);
}

static const struct http_route fake_routes[] = {
	{"POST", "/nodes/register", fake_register, true},
	{"GET", "/nodes/*", fake_get_node, false},
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
	struct http_server *server = http_server_start(&config, err, sizeof(err));

	ck_assert_msg(server != NULL, "%s", err);
	snprintf(url, url_size, "http://127.0.0.1:%d/", http_server_port(server));
	return server;
}

static const char *const agent_types[] = {"echo", "sleep", "upper"};

static struct registration *start_registration(const char *url, int poll_ms, int backoff_start_ms,
					       int backoff_cap_ms)
{
	struct registration_config config = {
		.coordinator_url = url,
		.name = "agent-1",
		.address = "127.0.0.1:9999",
		.capacity = 2,
		.types = agent_types,
		.type_count = 3,
		.poll_interval_ms = poll_ms,
		.backoff_start_ms = backoff_start_ms,
		.backoff_cap_ms = backoff_cap_ms,
	};
	char err[256];
	struct registration *reg = registration_start(&config, err, sizeof(err));

	ck_assert_msg(reg != NULL, "%s", err);
	return reg;
}

/* Waits up to timeout_ms for the node id to become something other than not_this; returns it in out. */
static void wait_for_node_id(struct registration *reg, const char *not_this, int timeout_ms, char *out)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;

	for (;;) {
		registration_node_id(reg, out, MESH_ID_SIZE);
		if (out[0] != '\0' && strcmp(out, not_this) != 0)
			return;
		ck_assert_msg(clock_monotonic_ms() < deadline, "no new node id within %d ms", timeout_ms);
		clock_sleep_ms(10);
	}
}

static int fake_count(const int *field)
{
	int n;
	pthread_mutex_lock(&fake.lock);
	n = *field;
	pthread_mutex_unlock(&fake.lock);
	return n;
}

START_TEST(test_registration_registers_and_then_keeps_checking)
{
	char url[64], node_id[MESH_ID_SIZE];
	struct http_server *server = start_fake(url, sizeof(url));
	struct registration *reg = start_registration(url, 50, 50, 1000);
	int64_t deadline;

	wait_for_node_id(reg, "", 3000, node_id);
	ck_assert_str_eq(node_id, "n-000000000001");
	pthread_mutex_lock(&fake.lock);
	ck_assert_str_eq(fake.last_body, "{\"address\":\"127.0.0.1:9999\",\"capacity\":2,\"name\":\"agent-1\","
					 "\"types\":[\"echo\",\"sleep\",\"upper\"]}");
	pthread_mutex_unlock(&fake.lock);
	deadline = clock_monotonic_ms() + 3000;
	while (fake_count(&fake.checks) < 3) {
		ck_assert_msg(clock_monotonic_ms() < deadline, "the agent does not check its registration");
		clock_sleep_ms(10);
	}
	ck_assert_int_eq(fake_count(&fake.registrations), 1);
	registration_stop(reg);
	http_server_stop(server);
}
END_TEST

START_TEST(test_registration_registers_again_when_the_coordinator_forgets_the_node)
{
	char url[64], first[MESH_ID_SIZE], second[MESH_ID_SIZE];
	struct http_server *server = start_fake(url, sizeof(url));
	struct registration *reg = start_registration(url, 100, 50, 1000);

	wait_for_node_id(reg, "", 3000, first);
	/* What a restarted coordinator looks like: it knows no node. */
	pthread_mutex_lock(&fake.lock);
	fake.known_id[0] = '\0';
	pthread_mutex_unlock(&fake.lock);
	wait_for_node_id(reg, first, 2000, second);
	ck_assert_str_eq(second, "n-000000000002");
	ck_assert_int_eq(fake_count(&fake.registrations), 2);
	registration_stop(reg);
	http_server_stop(server);
}
END_TEST

START_TEST(test_registration_retries_until_the_coordinator_answers_201)
{
	char url[64], node_id[MESH_ID_SIZE];
	struct http_server *server = start_fake(url, sizeof(url));
	struct registration *reg;

	fake.fail_next = 3;
	reg = start_registration(url, 1000, 20, 100);
	wait_for_node_id(reg, "", 3000, node_id);
	ck_assert_int_eq(fake_count(&fake.registrations), 4);
	registration_stop(reg);
	http_server_stop(server);
}
END_TEST

START_TEST(test_registration_rejected_with_4xx_is_retried_at_the_cap)
{
	char url[64], node_id[MESH_ID_SIZE];
	struct http_server *server = start_fake(url, sizeof(url));
	struct registration *reg;
	int64_t start;

	fake.reject = true;
	reg = start_registration(url, 1000, 10, 300);
	start = clock_monotonic_ms();
	while (fake_count(&fake.registrations) < 3)
		clock_sleep_ms(10);
	/* Two waits at the cap (300 ms), not at the 10 ms start of the backoff. */
	ck_assert_int_ge(clock_monotonic_ms() - start, 2 * 300 - 50);
	registration_node_id(reg, node_id, sizeof(node_id));
	ck_assert_str_eq(node_id, "");
	pthread_mutex_lock(&fake.lock);
	fake.reject = false;
	pthread_mutex_unlock(&fake.lock);
	wait_for_node_id(reg, "", 3000, node_id);
	registration_stop(reg);
	http_server_stop(server);
}
END_TEST

START_TEST(test_registration_stops_promptly_while_waiting)
{
	/* Nothing listens on port 1: every attempt fails, then the thread waits 5 s. */
	struct registration *reg = start_registration("http://127.0.0.1:1", 2000, 5000, 5000);
	char node_id[MESH_ID_SIZE];
	int64_t start;

	clock_sleep_ms(200);
	registration_node_id(reg, node_id, sizeof(node_id));
	ck_assert_str_eq(node_id, "");
	start = clock_monotonic_ms();
	registration_stop(reg);
	ck_assert_int_lt(clock_monotonic_ms() - start, 500);
}
END_TEST

static Suite *agent_registration_suite(void)
{
	Suite *s = suite_create("agent_registration");
	TCase *tc = tcase_create("core");

	/* Once, before the tests fork: curl_global_init is not thread-safe. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_registration_registers_and_then_keeps_checking);
	tcase_add_test(tc, test_registration_registers_again_when_the_coordinator_forgets_the_node);
	tcase_add_test(tc, test_registration_retries_until_the_coordinator_answers_201);
	tcase_add_test(tc, test_registration_rejected_with_4xx_is_retried_at_the_cap);
	tcase_add_test(tc, test_registration_stops_promptly_while_waiting);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(agent_registration_suite)
