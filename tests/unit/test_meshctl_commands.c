/*
 * meshctl's commands end to end against a fake coordinator: a real HTTP
 * server (common/http_server) on an ephemeral port, in a process started once
 * per tcase; each test parses a command line as main() does and runs the
 * command with its output captured.
 *
 * The fake's jobs: "j-echo" COMPLETED, "j-fail" FAILED, "j-slow" forever
 * RUNNING; POST /jobs answers a QUEUED job "j-<type>". Under /empty it has no
 * jobs or nodes; under /broken its replies are not the documented shape.
 */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_client.h"
#include "check_main.h"
#include "cmd.h"
#include "http_server.h"
#include "model.h"
#include "options.h"
#include "wire.h"

/* 2026-11-23T15:30:00.123Z */
#define T0 1795447800123LL

static pid_t fake_pid;
static char fake_url[64];

static void fake_job(struct job *job, const char *id, enum job_status status)
{
	memset(job, 0, sizeof(*job));
	snprintf(job->id, sizeof(job->id), "%s", id);
	job->type = strdup(strcmp(id, "j-fail") == 0 ? "fail" : "echo");
	job->payload = strdup("line one\nline two");
	job->status = status;
	if (status != JOB_QUEUED)
		snprintf(job->node_id, sizeof(job->node_id), "n-0b7e5c1d9a2f");
	job->created_at = T0;
	job->updated_at = T0 + 2000;
	if (status == JOB_COMPLETED)
		job->result = strdup("hello from the agent, with a result that is too long for a table\n");
	if (status == JOB_FAILED)
		job->error = strdup("exit status 2: \x1b[31mboom");
}

static void reply_job(struct http_request *request, int status, const struct job *job,
		      const char *location)
{
	json_t *json = job_to_json(job);
	/* A field the coordinator may add later: meshctl must not mind. */
	json_object_set_new(json, "attempts", json_integer(1));
	http_reply_json(request, status, json, location);
}

static void handle_submit(struct http_request *request)
{
	struct job_submission submission;
	struct job job;
	char err[256], id[MESH_ID_SIZE], location[64];

	if (job_submission_decode(request->body, request->body_len, &submission, err, sizeof(err)) != 0) {
		http_reply_error(request, 400, "%s", err);
		return;
	}
	if (strcmp(submission.type, "reject") == 0) {
		http_reply_error(request, 503, "no healthy node takes type 'reject'");
		job_submission_clear(&submission);
		return;
	}
	snprintf(id, sizeof(id), "j-%.20s", submission.type);
	fake_job(&job, id, JOB_QUEUED);
	free(job.payload);
	job.payload = strdup(submission.payload);
	snprintf(location, sizeof(location), "/jobs/%s", id);
	reply_job(request, 201, &job, location);
	job_clear(&job);
	job_submission_clear(&submission);
}

static void handle_get_job(struct http_request *request)
{
	const char *id = request->params[0];
	struct job job;

	if (strcmp(id, "j-bad") == 0) {
		http_reply_text(request, 200, "{\"id\":\"j-bad\"}", 14, NULL);
		return;
	}
	if (strcmp(id, "j-html") == 0) {
		http_reply_text(request, 502, "<html>Bad Gateway</html>", 24, NULL);
		return;
	}
	if (strcmp(id, "j-echo") == 0)
		fake_job(&job, id, JOB_COMPLETED);
	else if (strcmp(id, "j-fail") == 0)
		fake_job(&job, id, JOB_FAILED);
	else if (strcmp(id, "j-slow") == 0)
		fake_job(&job, id, JOB_RUNNING);
	else {
		http_reply_error(request, 404, "job '%s' not found", id);
		return;
	}
	reply_job(request, 200, &job, NULL);
	job_clear(&job);
}

static void handle_list_jobs(struct http_request *request)
{
	static const char *const allowed[] = {"status", "node_id", "type", "limit", NULL};
	static const char *const ids[] = {"j-echo", "j-fail", "j-slow"};
	static const enum job_status statuses[] = {JOB_COMPLETED, JOB_FAILED, JOB_RUNNING};
	char value[64], scratch[64];
	const char *unknown = http_query_unknown_param(request, allowed, scratch, sizeof(scratch));
	enum job_status wanted = JOB_QUEUED;
	bool by_status = false;
	long limit = 3;
	json_t *jobs = json_array();

	if (unknown != NULL) {
		http_reply_error(request, 400, "unknown filter '%s'", unknown);
		json_decref(jobs);
		return;
	}
	if (http_query_param(request, "status", value, sizeof(value)) == 1) {
		if (job_status_parse(value, &wanted) != 0) {
			http_reply_error(request, 400, "unknown status '%s'", value);
			json_decref(jobs);
			return;
		}
		by_status = true;
	}
	if (http_query_param(request, "limit", value, sizeof(value)) == 1)
		limit = strtol(value, NULL, 10);
	/* The node filter must arrive decoded as it was given. */
	if (http_query_param(request, "node_id", value, sizeof(value)) == 1 &&
	    strcmp(value, "n-0b7e5c1d9a2f") != 0)
		limit = 0;
	for (size_t i = 0; i < 3 && (long)json_array_size(jobs) < limit; i++) {
		struct job job;
		if (by_status && statuses[i] != wanted)
			continue;
		fake_job(&job, ids[i], statuses[i]);
		json_array_append_new(jobs, job_to_json(&job));
		job_clear(&job);
	}
	http_reply_json(request, 200, json_pack("{s:o}", "jobs", jobs), NULL);
}

static void handle_list_nodes(struct http_request *request)
{
	static const char *const types[] = {"echo", "sleep", "fail"};
	struct node node = {
		.id = "n-0b7e5c1d9a2f",
		.name = "agent-1",
		.address = "127.0.0.1:8081",
		.base_url = "http://127.0.0.1:8081",
		.state = NODE_HEALTHY,
		.capacity = 4,
		.running = 1,
		.types = (char **)types,
		.type_count = 3,
		.last_seen = T0,
	};
	json_t *nodes = json_array();

	json_array_append_new(nodes, node_to_json(&node));
	snprintf(node.id, sizeof(node.id), "n-1c2d3e4f5a6b");
	node.name = "agent-\xc3\xbc";
	node.address = ":8082";
	node.state = NODE_UNHEALTHY;
	node.running = 0;
	node.type_count = 1;
	node.last_seen = 0;
	json_array_append_new(nodes, node_to_json(&node));
	http_reply_json(request, 200, json_pack("{s:o}", "nodes", nodes), NULL);
}

static void handle_empty_jobs(struct http_request *request)
{
	http_reply_text(request, 200, "{\"jobs\":[]}", 11, NULL);
}

static void handle_empty_nodes(struct http_request *request)
{
	http_reply_text(request, 200, "{\"nodes\":[]}", 12, NULL);
}

static void handle_broken_jobs(struct http_request *request)
{
	http_reply_text(request, 200, "{\"jobs\":5}", 10, NULL);
}

static void handle_broken_nodes(struct http_request *request)
{
	http_reply_text(request, 200, "{\"nodes\":[{\"id\":\"n-1\"}]}", 24, NULL);
}

static const struct http_route fake_routes[] = {
	{"POST", "/jobs", handle_submit, true},
	{"GET", "/jobs", handle_list_jobs, false},
	{"GET", "/jobs/*", handle_get_job, false},
	{"GET", "/nodes", handle_list_nodes, false},
	{"GET", "/empty/jobs", handle_empty_jobs, false},
	{"GET", "/empty/nodes", handle_empty_nodes, false},
	{"GET", "/broken/jobs", handle_broken_jobs, false},
	{"GET", "/broken/nodes", handle_broken_nodes, false},
};

/*
 * The fake runs in a child process of its own, so that this process (whose
 * tests fork) never has server threads: forked tests then start with one
 * thread, and LeakSanitizer sees only the test's own memory.
 */
static void fake_serve(int port_fd, pid_t parent)
{
	struct http_server_config config = {
		.listen = "127.0.0.1:0",
		.routes = fake_routes,
		.route_count = sizeof(fake_routes) / sizeof(fake_routes[0]),
		.body_limit = 1 << 20,
		.num_threads = 8,
	};
	struct http_server *server;
	sigset_t set;
	char err[256];
	int port = -1, sig;

	/* Stop with the test process, however it ends; SIGTERM is taken by sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	server = http_server_start(&config, err, sizeof(err));
	if (server != NULL)
		port = http_server_port(server);
	else
		fprintf(stderr, "fake coordinator: %s\n", err);
	if (write(port_fd, &port, sizeof(port)) != (ssize_t)sizeof(port) || server == NULL)
		_exit(1);
	close(port_fd);
	sigwait(&set, &sig);
	/* No http_server_stop: mg_stop takes seconds, and the process is going anyway. */
	_exit(0);
}

static void fake_start(void)
{
	pid_t parent = getpid();
	int fds[2], port = -1;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	fake_pid = fork();
	ck_assert_int_ge(fake_pid, 0);
	if (fake_pid == 0) {
		close(fds[0]);
		fake_serve(fds[1], parent);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &port, sizeof(port)), (ssize_t)sizeof(port));
	close(fds[0]);
	ck_assert_int_gt(port, 0);
	snprintf(fake_url, sizeof(fake_url), "http://127.0.0.1:%d", port);
}

static void fake_stop(void)
{
	if (fake_pid > 0) {
		kill(fake_pid, SIGTERM);
		waitpid(fake_pid, NULL, 0);
		fake_pid = 0;
	}
	curl_global_cleanup();
}

struct run {
	int rc;
	char *out;
	char *err;
};

static void run_clear(struct run *run)
{
	free(run->out);
	free(run->err);
}

/*
 * Runs "meshctl ARGS... --coordinator URL" as main() would, where URL is
 * fake_url + suffix, or coordinator itself if it is not NULL.
 */
static void run_meshctl(struct run *run, const char *coordinator, const char *suffix,
			const char *const *args)
{
	char url[128];
	char *argv[24];
	int argc = 0;
	struct options options;
	struct cmd_context ctx = {.options = &options};
	size_t out_size = 0, err_size = 0;
	char err[512];

	memset(run, 0, sizeof(*run));
	snprintf(url, sizeof(url), "%s%s", coordinator ? coordinator : fake_url, suffix ? suffix : "");
	argv[argc++] = "meshctl";
	for (size_t i = 0; args[i] != NULL; i++)
		argv[argc++] = (char *)args[i];
	argv[argc++] = "--coordinator";
	argv[argc++] = url;
	argv[argc] = NULL;

	ctx.out = open_memstream(&run->out, &out_size);
	ctx.err = open_memstream(&run->err, &err_size);
	ck_assert_int_eq(options_parse(argc, argv, NULL, &options, err, sizeof(err)), OPTIONS_RUN);
	ctx.api = api_client_new(options.coordinator);
	ck_assert_ptr_nonnull(ctx.api);
	run->rc = options.command->exec(&ctx);
	api_client_free(ctx.api);
	fclose(ctx.out);
	fclose(ctx.err);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Asserts that text parses as one JSON object and returns it (new reference). */
static json_t *parse_json(const char *text)
{
	json_error_t jerr;
	json_t *json = json_loads(text, 0, &jerr);
	ck_assert_msg(json_is_object(json), "not a JSON object (%s): %s", jerr.text, text);
	return json;
}

START_TEST(test_meshctl_submit_prints_the_id)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("submit", "echo", "hello world"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out, "j-echo\n");
	ck_assert_str_eq(run.err, "");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_submit_json_prints_the_job)
{
	struct run run;
	json_t *json;

	run_meshctl(&run, NULL, NULL, ARGS("--json", "submit", "echo", "caf\xc3\xa9 \"quoted\"\n"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	json = parse_json(run.out);
	ck_assert_str_eq(json_string_value(json_object_get(json, "id")), "j-echo");
	ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "QUEUED");
	/* The payload went out and came back intact. */
	ck_assert_str_eq(json_string_value(json_object_get(json, "payload")), "caf\xc3\xa9 \"quoted\"\n");
	json_decref(json);
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_submit_wait_completed_exits_0)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("submit", "echo", "x", "--wait"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out, "id:      j-echo\n"
				  "status:  COMPLETED\n"
				  "node:    n-0b7e5c1d9a2f\n"
				  "result:  hello from the agent, with a result that is too long for a table\n");
	ck_assert_str_eq(run.err, "");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_submit_wait_failed_exits_1)
{
	struct run run;
	json_t *json;

	run_meshctl(&run, NULL, NULL, ARGS("submit", "fail", "x", "--wait"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_JOB_FAILED);
	ck_assert_ptr_nonnull(strstr(run.out, "status:  FAILED\n"));
	/* The escape character never reaches the terminal. */
	ck_assert_ptr_nonnull(strstr(run.out, "error:   exit status 2: ?[31mboom\n"));
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("submit", "fail", "x", "--wait", "--json"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_JOB_FAILED);
	json = parse_json(run.out);
	ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "FAILED");
	json_decref(json);
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_submit_wait_times_out_with_2)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("submit", "slow", "x", "--wait", "--timeout", "0.3"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_TIMEOUT);
	ck_assert_ptr_nonnull(strstr(run.out, "id:      j-slow\nstatus:  RUNNING\n"));
	ck_assert_str_eq(run.err, "meshctl: timed out after 0.3 s waiting for job j-slow, which is RUNNING\n");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_submit_error_reply_exits_4)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("submit", "reject", "x"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_str_eq(run.out, "");
	ck_assert_ptr_nonnull(strstr(run.err, "meshctl: no healthy node takes type 'reject' (HTTP 503 from POST http://127.0.0.1:"));
	ck_assert_ptr_nonnull(strstr(run.err, "/jobs)\n"));
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_jobs_table)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("jobs"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out,
			 "ID      TYPE  STATUS     NODE            CREATED               UPDATED               RESULT/ERROR\n"
			 "j-echo  echo  COMPLETED  n-0b7e5c1d9a2f  2026-11-23T15:30:00Z  2026-11-23T15:30:02Z  hello from the agent, with a result tha\xe2\x80\xa6\n"
			 "j-fail  fail  FAILED     n-0b7e5c1d9a2f  2026-11-23T15:30:00Z  2026-11-23T15:30:02Z  exit status 2: [31mboom\n"
			 "j-slow  echo  RUNNING    n-0b7e5c1d9a2f  2026-11-23T15:30:00Z  2026-11-23T15:30:02Z\n");
	ck_assert_str_eq(run.err, "");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_jobs_filters_reach_the_coordinator)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("jobs", "--status", "failed", "--node", "n-0b7e5c1d9a2f"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_ptr_nonnull(strstr(run.out, "\nj-fail "));
	ck_assert_ptr_null(strstr(run.out, "j-echo"));
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("jobs", "--limit", "1", "--type", "echo"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_ptr_nonnull(strstr(run.out, "\nj-echo "));
	ck_assert_ptr_null(strstr(run.out, "j-fail"));
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("jobs", "--node", "n-other one"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out, "no jobs\n");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_jobs_json_and_empty)
{
	struct run run;
	json_t *json;

	run_meshctl(&run, NULL, NULL, ARGS("jobs", "--json"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	json = parse_json(run.out);
	ck_assert_uint_eq(json_array_size(json_object_get(json, "jobs")), 3);
	json_decref(json);
	run_clear(&run);

	run_meshctl(&run, NULL, "/empty", ARGS("jobs"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out, "no jobs\n");
	run_clear(&run);

	run_meshctl(&run, NULL, "/empty", ARGS("jobs", "--json"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out, "{\"jobs\":[]}\n");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_job_shows_every_field)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("job", "j-fail"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out, "id:       j-fail\n"
				  "type:     fail\n"
				  "status:   FAILED\n"
				  "node:     n-0b7e5c1d9a2f\n"
				  "created:  2026-11-23T15:30:00.123Z\n"
				  "updated:  2026-11-23T15:30:02.123Z\n"
				  "payload:  line one\n"
				  "          line two\n"
				  "result:   -\n"
				  "error:    exit status 2: ?[31mboom\n");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_job_not_found_exits_4_with_the_coordinators_words)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("job", "j-nope"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_str_eq(run.out, "");
	ck_assert_ptr_nonnull(strstr(run.err, "meshctl: job 'j-nope' not found (HTTP 404 from GET "));
	ck_assert_ptr_nonnull(strstr(run.err, fake_url));
	run_clear(&run);

	/* The id goes into the path encoded, and the coordinator sees it decoded. */
	run_meshctl(&run, NULL, NULL, ARGS("job", "j x?y"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_ptr_nonnull(strstr(run.err, "job 'j x?y' not found (HTTP 404 from GET "));
	ck_assert_ptr_nonnull(strstr(run.err, "/jobs/j%20x%3Fy)"));
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_unusable_replies_exit_4)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("job", "j-bad"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_ptr_nonnull(strstr(run.err, "/jobs/j-bad is not a job: field 'type' is missing"));
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("job", "j-html"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_ptr_nonnull(strstr(run.err, "meshctl: <html>Bad Gateway</html> (HTTP 502 from GET "));
	run_clear(&run);

	run_meshctl(&run, NULL, "/broken", ARGS("jobs", "--json"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_str_eq(run.out, ""); /* never half-valid JSON on stdout */
	ck_assert_ptr_nonnull(strstr(run.err, "has no \"jobs\" array"));
	run_clear(&run);

	run_meshctl(&run, NULL, "/broken", ARGS("nodes"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_ptr_nonnull(strstr(run.err, "nodes[0] is not a node: field 'name' is missing"));
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_nodes_table)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("nodes"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out,
			 "ID              NAME     ADDRESS         STATE      RUNNING  TYPES            LAST SEEN\n"
			 "n-0b7e5c1d9a2f  agent-1  127.0.0.1:8081  HEALTHY    1/4      echo,sleep,fail  2026-11-23T15:30:00Z\n"
			 "n-1c2d3e4f5a6b  agent-\xc3\xbc  :8082           UNHEALTHY  0/4      echo             never\n");
	run_clear(&run);

	run_meshctl(&run, NULL, "/empty", ARGS("nodes"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out, "no nodes registered\n");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_nodes_json)
{
	struct run run;
	json_t *json, *first;

	run_meshctl(&run, NULL, NULL, ARGS("--json", "nodes"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	json = parse_json(run.out);
	first = json_array_get(json_object_get(json, "nodes"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(first, "name")), "agent-1");
	json_decref(json);
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_unreachable_coordinator_exits_4_naming_the_url)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	char url[64];
	struct run run;
	/* A port that is bound but not listening refuses connections. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(addr.sin_port));

	run_meshctl(&run, url, NULL, ARGS("nodes"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_str_eq(run.out, "");
	ck_assert_ptr_nonnull(strstr(run.err, "meshctl: cannot reach the coordinator: "));
	ck_assert_ptr_nonnull(strstr(run.err, url));
	run_clear(&run);
	close(fd);
}
END_TEST

static Suite *meshctl_commands_suite(void)
{
	Suite *s = suite_create("meshctl_commands");
	TCase *tc = tcase_create("fake_coordinator");

	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, fake_start, fake_stop);
	tcase_add_test(tc, test_meshctl_submit_prints_the_id);
	tcase_add_test(tc, test_meshctl_submit_json_prints_the_job);
	tcase_add_test(tc, test_meshctl_submit_wait_completed_exits_0);
	tcase_add_test(tc, test_meshctl_submit_wait_failed_exits_1);
	tcase_add_test(tc, test_meshctl_submit_wait_times_out_with_2);
	tcase_add_test(tc, test_meshctl_submit_error_reply_exits_4);
	tcase_add_test(tc, test_meshctl_jobs_table);
	tcase_add_test(tc, test_meshctl_jobs_filters_reach_the_coordinator);
	tcase_add_test(tc, test_meshctl_jobs_json_and_empty);
	tcase_add_test(tc, test_meshctl_job_shows_every_field);
	tcase_add_test(tc, test_meshctl_job_not_found_exits_4_with_the_coordinators_words);
	tcase_add_test(tc, test_meshctl_unusable_replies_exit_4);
	tcase_add_test(tc, test_meshctl_nodes_table);
	tcase_add_test(tc, test_meshctl_nodes_json);
	tcase_add_test(tc, test_meshctl_unreachable_coordinator_exits_4_naming_the_url);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(meshctl_commands_suite)
