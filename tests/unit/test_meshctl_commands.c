/*
 * meshctl's commands end to end against a fake coordinator: a real HTTP
 * server (common/http_server) on an ephemeral port, in a process started once
 * per tcase; each test parses a command line as main() does and runs the
 * command with its output captured.
 *
 * The fake's jobs: "j-echo" COMPLETED, "j-fail" FAILED, "j-slow" forever
 * RUNNING, "j-cancelled" CANCELLED, "j-retry" QUEUED waiting for its second
 * attempt (with the list of attempts), "j-cancelling" that is CANCELLED when
 * asked. POST /jobs answers a QUEUED job "j-<type>", or for an idempotency
 * key "seen" the existing "j-seen" (200), "done" the COMPLETED "j-echo"
 * (200), "other" a 409. POST /jobs/{id}/cancel cancels j-slow, and answers
 * 409 with the job for finished ones. Its nodes: agent-1 (HEALTHY, 1 job),
 * agent-\xc3\xbc (UNHEALTHY), agent-3 (DRAINING; its one job ends on the third
 * poll after a drain), and two named "twin", one DRAINED. Under /empty it has
 * no jobs or nodes; under /broken its replies are not the documented shape.
 *
 * Every request it gets (but GET /_requests) is logged as "METHOD TARGET",
 * plus " [BODY]" for routes that read one; GET /_requests returns the log and
 * empties it, so that tests can check exactly what meshctl sent.
 */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
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

/* The fake's request log and drain progress, shared by its handler threads. */
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *fake_log;        /* array of strings */
static int fake_drain_polls;    /* GET /nodes/n-2d3e4f5a6b7c since its drain */
static unsigned fake_drained;   /* bit i: node i was drained (GET /nodes/{id} says so) */

static void record(const struct http_request *request, bool has_body)
{
	char *line = NULL;

	if (asprintf(&line, "%s %s%s%s%s%s%s", request->method, request->path,
		     request->query ? "?" : "", request->query ? request->query : "",
		     has_body ? " [" : "", has_body && request->body ? request->body : "",
		     has_body ? "]" : "") < 0)
		return;
	pthread_mutex_lock(&fake_lock);
	if (fake_log == NULL)
		fake_log = json_array();
	json_array_append_new(fake_log, json_string(line));
	pthread_mutex_unlock(&fake_lock);
	free(line);
}

static void handle_requests(struct http_request *request)
{
	json_t *log;

	pthread_mutex_lock(&fake_lock);
	log = fake_log != NULL ? fake_log : json_array();
	fake_log = NULL;
	pthread_mutex_unlock(&fake_lock);
	http_reply_json(request, 200, json_pack("{s:o}", "requests", log), NULL);
}

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
	if (status == JOB_CANCELLED)
		job->error = strdup("cancelled by request");
	/* The coordinator's defaults for a job submitted without options. */
	job->priority = JOB_PRIORITY_NORMAL;
	job->timeout_ms = 3600000;
	job->max_attempts = 1;
	job->attempt = status == JOB_QUEUED ? 0 : 1;
	job->backoff_base_ms = 1000;
	job->backoff_cap_ms = 60000;
}

/* j-retry: its first attempt failed; the second may start a minute later. */
static void fake_retry_job(struct job *job)
{
	fake_job(job, "j-retry", JOB_QUEUED);
	job->priority = JOB_PRIORITY_LOW;
	job->timeout_ms = 90000;
	job->max_attempts = 3;
	job->retry_on_failure = true;
	job->attempt = 1;
	job->next_attempt_at = T0 + 61000;
	job->reason = strdup("waiting for attempt 2 of 3 at 2026-11-23T15:31:01.123Z (attempt 1: handler failed)");
	job->idempotency_key = strdup("nightly-7");
	job->attempts = calloc(1, sizeof(*job->attempts));
	job->attempt_count = 1;
	job->has_attempts = true;
	job->attempts[0].number = 1;
	snprintf(job->attempts[0].node_id, sizeof(job->attempts[0].node_id), "n-0b7e5c1d9a2f");
	job->attempts[0].started_at = T0;
	job->attempts[0].finished_at = T0 + 1000;
	job->attempts[0].status = ATTEMPT_FAILED;
	job->attempts[0].error = strdup("node n-0b7e5c1d9a2f answered HTTP 422: handler 'echo' exited with status 1");
}

static void reply_job(struct http_request *request, int status, const struct job *job,
		      const char *location)
{
	json_t *json = job_to_json(job);
	/* A field the coordinator may add later: meshctl must not mind. */
	json_object_set_new(json, "future_field", json_integer(1));
	http_reply_json(request, status, json, location);
}

static void handle_submit(struct http_request *request)
{
	struct job_submission submission;
	struct job job;
	const char *key;
	char err[256], id[MESH_ID_SIZE], location[64];
	int status = 201;

	record(request, true);
	if (job_submission_decode(request->body, request->body_len, &submission, err, sizeof(err)) != 0) {
		http_reply_error(request, 400, "%s", err);
		return;
	}
	key = submission.idempotency_key != NULL ? submission.idempotency_key : "";
	if (strcmp(submission.type, "reject") == 0) {
		http_reply_error(request, 503, "no healthy node takes type 'reject'");
		goto out;
	}
	if (strcmp(submission.type, "full") == 0) {
		http_reply_error(request, 507, "the coordinator's disk is full; the job was not stored");
		goto out;
	}
	if (strcmp(key, "other") == 0) {
		http_reply_error(request, 409, "idempotency_key 'other' was used for another job (j-other)");
		goto out;
	}
	if (strcmp(key, "done") == 0) {
		fake_job(&job, "j-echo", JOB_COMPLETED);
		status = 200;
	} else {
		snprintf(id, sizeof(id), "j-%.20s", strcmp(key, "seen") == 0 ? "seen" : submission.type);
		fake_job(&job, id, JOB_QUEUED);
		status = strcmp(key, "seen") == 0 ? 200 : 201;
		free(job.payload);
		job.payload = strdup(submission.payload);
		/* The options come back as they were asked for. */
		if (submission.has_priority)
			job.priority = submission.priority;
		if (submission.max_attempts > 0)
			job.max_attempts = submission.max_attempts;
		if (submission.idempotency_key != NULL)
			job.idempotency_key = strdup(submission.idempotency_key);
	}
	snprintf(location, sizeof(location), "/jobs/%s", job.id);
	reply_job(request, status, &job, location);
	job_clear(&job);
out:
	job_submission_clear(&submission);
}

/* The job with that id, into job. Returns false if there is none. */
static bool find_job(const char *id, struct job *job)
{
	if (strcmp(id, "j-echo") == 0)
		fake_job(job, id, JOB_COMPLETED);
	else if (strcmp(id, "j-fail") == 0)
		fake_job(job, id, JOB_FAILED);
	else if (strcmp(id, "j-slow") == 0)
		fake_job(job, id, JOB_RUNNING);
	else if (strcmp(id, "j-cancelled") == 0 || strcmp(id, "j-cancelling") == 0)
		fake_job(job, id, JOB_CANCELLED);
	else if (strcmp(id, "j-retry") == 0)
		fake_retry_job(job);
	else
		return false;
	return true;
}

static void handle_get_job(struct http_request *request)
{
	const char *id = request->params[0];
	struct job job;

	record(request, false);
	if (strcmp(id, "j-bad") == 0) {
		http_reply_text(request, 200, "{\"id\":\"j-bad\"}", 14, NULL);
		return;
	}
	if (strcmp(id, "j-html") == 0) {
		http_reply_text(request, 502, "<html>Bad Gateway</html>", 24, NULL);
		return;
	}
	if (!find_job(id, &job)) {
		http_reply_error(request, 404, "job '%s' not found", id);
		return;
	}
	reply_job(request, 200, &job, NULL);
	job_clear(&job);
}

static void handle_cancel_job(struct http_request *request)
{
	const char *id = request->params[0];
	struct job job;

	record(request, true);
	if (strcmp(id, "j-conflict") == 0) {
		http_reply_error(request, 409, "job j-conflict cannot be cancelled now");
		return;
	}
	if (!find_job(id, &job)) {
		http_reply_error(request, 404, "no job with id '%s'", id);
		return;
	}
	if (job_status_is_terminal(job.status)) {
		char message[128];
		snprintf(message, sizeof(message), "job %s is already %s; nothing to cancel", job.id,
			 job_status_name(job.status));
		http_reply_json(request, 409,
				json_pack("{s:s, s:o}", "error", message, "job", job_to_json(&job)), NULL);
		job_clear(&job);
		return;
	}
	job.status = JOB_CANCELLED;
	job.error = strdup("cancelled by request");
	reply_job(request, 200, &job, NULL);
	job_clear(&job);
}

static void handle_list_jobs(struct http_request *request)
{
	static const char *const allowed[] = {"status", "node_id", "type", "limit", NULL};
	static const char *const ids[] = {"j-echo", "j-fail", "j-slow", "j-cancelled"};
	static const enum job_status statuses[] = {JOB_COMPLETED, JOB_FAILED, JOB_RUNNING,
						   JOB_CANCELLED};
	char value[64], scratch[64];
	const char *unknown = http_query_unknown_param(request, allowed, scratch, sizeof(scratch));
	enum job_status wanted = JOB_QUEUED;
	bool by_status = false;
	long limit = 4;
	json_t *jobs = json_array();

	record(request, false);
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
	for (size_t i = 0; i < 4 && (long)json_array_size(jobs) < limit; i++) {
		struct job job;
		if (by_status && statuses[i] != wanted)
			continue;
		fake_job(&job, ids[i], statuses[i]);
		json_array_append_new(jobs, job_to_json(&job));
		job_clear(&job);
	}
	http_reply_json(request, 200, json_pack("{s:o}", "jobs", jobs), NULL);
}

#define FAKE_NODE_COUNT 5

/* The fake's nodes, in the order they registered. Returns false past the last. */
static bool fake_node(size_t index, struct node *node)
{
	static const char *const types[] = {"echo", "sleep", "fail"};
	static const struct {
		const char *id, *name, *address;
		enum node_state state;
		bool draining;
		int running;
		size_t type_count;
		int64_t last_seen;
	} nodes[FAKE_NODE_COUNT] = {
		{"n-0b7e5c1d9a2f", "agent-1", "127.0.0.1:8081", NODE_HEALTHY, false, 1, 3, T0},
		{"n-1c2d3e4f5a6b", "agent-\xc3\xbc", ":8082", NODE_UNHEALTHY, false, 0, 1, 0},
		{"n-2d3e4f5a6b7c", "agent-3", "127.0.0.1:8083", NODE_HEALTHY, true, 1, 1, T0},
		{"n-3e4f5a6b7c8d", "twin", "127.0.0.1:8084", NODE_HEALTHY, true, 0, 1, T0},
		{"n-4f5a6b7c8d9e", "twin", "127.0.0.1:8085", NODE_HEALTHY, false, 0, 1, T0},
	};

	if (index >= FAKE_NODE_COUNT)
		return false;
	memset(node, 0, sizeof(*node));
	snprintf(node->id, sizeof(node->id), "%s", nodes[index].id);
	node->name = (char *)nodes[index].name;
	node->address = (char *)nodes[index].address;
	node->base_url = "http://127.0.0.1:8081";
	node->state = nodes[index].state;
	node->draining = nodes[index].draining;
	node->capacity = 4;
	node->running = nodes[index].running;
	node->types = (char **)types;
	node->type_count = nodes[index].type_count;
	node->last_seen = nodes[index].last_seen;
	return true;
}

/* The index of the fake node with that id, or -1. */
static int find_node(const char *id)
{
	struct node node;

	for (size_t i = 0; fake_node(i, &node); i++) {
		if (strcmp(node.id, id) == 0)
			return (int)i;
	}
	return -1;
}

static void handle_list_nodes(struct http_request *request)
{
	json_t *nodes = json_array();
	struct node node;

	record(request, false);
	for (size_t i = 0; fake_node(i, &node); i++)
		json_array_append_new(nodes, node_to_json(&node));
	http_reply_json(request, 200, json_pack("{s:o}", "nodes", nodes), NULL);
}

static void handle_get_node(struct http_request *request)
{
	int index = find_node(request->params[0]);
	struct node node;

	record(request, false);
	if (index < 0) {
		http_reply_error(request, 404, "no node with id '%s'", request->params[0]);
		return;
	}
	fake_node((size_t)index, &node);
	pthread_mutex_lock(&fake_lock);
	node.draining |= (fake_drained & (1u << index)) != 0;
	/* agent-3's last job ends on the third poll after its drain. */
	if (strcmp(node.id, "n-2d3e4f5a6b7c") == 0 && ++fake_drain_polls >= 3)
		node.running = 0;
	pthread_mutex_unlock(&fake_lock);
	http_reply_json(request, 200, node_to_json(&node), NULL);
}

static void handle_drain_node(struct http_request *request)
{
	int index = find_node(request->params[0]);
	struct node node;

	record(request, true);
	if (index < 0) {
		http_reply_error(request, 404, "no node with id '%s'", request->params[0]);
		return;
	}
	fake_node((size_t)index, &node);
	node.draining = true;
	pthread_mutex_lock(&fake_lock);
	fake_drained |= 1u << index;
	fake_drain_polls = 0;
	pthread_mutex_unlock(&fake_lock);
	http_reply_json(request, 200, node_to_json(&node), NULL);
}

static void handle_empty_jobs(struct http_request *request)
{
	record(request, false);
	http_reply_text(request, 200, "{\"jobs\":[]}", 11, NULL);
}

static void handle_empty_nodes(struct http_request *request)
{
	record(request, false);
	http_reply_text(request, 200, "{\"nodes\":[]}", 12, NULL);
}

static void handle_broken_jobs(struct http_request *request)
{
	record(request, false);
	http_reply_text(request, 200, "{\"jobs\":5}", 10, NULL);
}

static void handle_broken_nodes(struct http_request *request)
{
	record(request, false);
	http_reply_text(request, 200, "{\"nodes\":[{\"id\":\"n-1\"}]}", 24, NULL);
}

static void handle_broken_drain(struct http_request *request)
{
	record(request, true);
	http_reply_text(request, 200, "{\"id\":\"n-1\"}", 12, NULL);
}

static const struct http_route fake_routes[] = {
	{"POST", "/jobs", handle_submit, true},
	{"GET", "/jobs", handle_list_jobs, false},
	{"GET", "/jobs/*", handle_get_job, false},
	{"POST", "/jobs/*/cancel", handle_cancel_job, true},
	{"GET", "/nodes", handle_list_nodes, false},
	{"GET", "/nodes/*", handle_get_node, false},
	{"POST", "/nodes/*/drain", handle_drain_node, true},
	{"GET", "/_requests", handle_requests, false},
	{"GET", "/empty/jobs", handle_empty_jobs, false},
	{"GET", "/empty/nodes", handle_empty_nodes, false},
	{"GET", "/broken/jobs", handle_broken_jobs, false},
	{"GET", "/broken/nodes", handle_broken_nodes, false},
	{"POST", "/broken/nodes/*/drain", handle_broken_drain, true},
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

/*
 * The requests the fake got since the last call, one a line ("GET /nodes\n"
 * "POST /nodes/n-1/drain []\n"). Returns a new string (free()).
 */
static char *fake_requests(void)
{
	struct api_client *api = api_client_new(fake_url);
	struct api_reply reply = {0};
	char err[API_ERROR_SIZE];
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	json_t *line;
	size_t i;

	ck_assert_ptr_nonnull(api);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(api_client_call(api, "GET", "/_requests", NULL, &reply, err, sizeof(err)) == 0,
		      "%s", err);
	json_array_foreach(json_object_get(reply.json, "requests"), i, line)
		fprintf(out, "%s\n", json_string_value(line));
	ck_assert_int_eq(fclose(out), 0);
	api_reply_clear(&reply);
	api_client_free(api);
	return text;
}

/* Asserts that the fake got exactly the requests expected since the last call. */
#define ck_assert_requests(expected)                      \
	do {                                              \
		char *requests_ = fake_requests();        \
		ck_assert_str_eq(requests_, expected);    \
		free(requests_);                          \
	} while (0)

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
	char *argv[32];
	int argc = 0;
	struct options options;
	struct cmd_context ctx = {.options = &options};
	size_t out_size = 0, err_size = 0;
	char err[512];

	memset(run, 0, sizeof(*run));
	free(fake_requests()); /* what earlier tests sent is not this run's */
	snprintf(url, sizeof(url), "%s%s", coordinator ? coordinator : fake_url, suffix ? suffix : "");
	argv[argc++] = "meshctl";
	for (size_t i = 0; args[i] != NULL; i++) {
		ck_assert_int_lt(argc, (int)(sizeof(argv) / sizeof(argv[0])) - 3);
		argv[argc++] = (char *)args[i];
	}
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
	/* No option given, none sent: the coordinator's defaults apply. */
	ck_assert_requests("POST /jobs [{\"payload\":\"hello world\",\"type\":\"echo\"}]\n");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_submit_sends_every_job_option_given)
{
	struct run run;
	json_t *json;

	run_meshctl(&run, NULL, NULL,
		    ARGS("submit", "echo", "hi", "--priority", "High", "--job-timeout-ms", "30000",
			 "--max-attempts", "3", "--retry-on-failure", "--backoff-base-ms", "500",
			 "--backoff-cap-ms", "8000", "--idempotency-key", "nightly-7"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out, "j-echo\n");
	ck_assert_str_eq(run.err, "");
	ck_assert_requests("POST /jobs [{\"backoff_base_ms\":500,\"backoff_cap_ms\":8000,"
			   "\"idempotency_key\":\"nightly-7\",\"max_attempts\":3,\"payload\":\"hi\","
			   "\"priority\":\"high\",\"retry_on_failure\":true,\"timeout_ms\":30000,"
			   "\"type\":\"echo\"}]\n");
	run_clear(&run);

	/* Some of them: only those. */
	run_meshctl(&run, NULL, NULL,
		    ARGS("--json", "submit", "echo", "hi", "--priority", "low", "--max-attempts", "2"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_requests("POST /jobs [{\"max_attempts\":2,\"payload\":\"hi\",\"priority\":\"low\","
			   "\"type\":\"echo\"}]\n");
	json = parse_json(run.out);
	ck_assert_str_eq(json_string_value(json_object_get(json, "priority")), "low");
	ck_assert_int_eq(json_integer_value(json_object_get(json, "max_attempts")), 2);
	json_decref(json);
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_submit_existing_job_for_the_key_says_so)
{
	struct run run;

	/* 200, not 201: the job was there already; it is printed as a new one would be. */
	run_meshctl(&run, NULL, NULL, ARGS("submit", "echo", "hi", "--idempotency-key", "seen"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out, "j-seen\n");
	ck_assert_str_eq(run.err, "meshctl: job j-seen already existed for --idempotency-key 'seen'; "
				  "nothing new was submitted\n");
	run_clear(&run);

	/* With --wait, an existing job that has finished needs no polling. */
	run_meshctl(&run, NULL, NULL,
		    ARGS("submit", "echo", "hi", "--idempotency-key", "done", "--wait"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out, "id:      j-echo\n"
				  "status:  COMPLETED\n"
				  "node:    n-0b7e5c1d9a2f\n"
				  "result:  hello from the agent, with a result that is too long for a table\n");
	ck_assert_str_eq(run.err, "meshctl: job j-echo already existed for --idempotency-key 'done'; "
				  "nothing new was submitted\n");
	ck_assert_requests("POST /jobs?wait=60 [{\"idempotency_key\":\"done\",\"payload\":\"hi\",\"type\":\"echo\"}]\n");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_submit_key_of_another_job_and_full_disk_exit_4)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("submit", "echo", "hi", "--idempotency-key", "other"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_str_eq(run.out, "");
	ck_assert_ptr_nonnull(strstr(run.err, "meshctl: idempotency_key 'other' was used for another job "
					      "(j-other) (HTTP 409 from POST http://127.0.0.1:"));
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("submit", "full", "x", "--wait"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_str_eq(run.out, "");
	ck_assert_ptr_nonnull(strstr(run.err, "meshctl: the coordinator's disk is full; the job was not "
					      "stored (HTTP 507 from POST "));
	ck_assert_requests("POST /jobs?wait=60 [{\"payload\":\"x\",\"type\":\"full\"}]\n");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_submit_wait_cancelled_exits_1)
{
	struct run run;
	json_t *json;

	run_meshctl(&run, NULL, NULL, ARGS("submit", "cancelling", "x", "--wait"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_NOT_COMPLETED);
	ck_assert_str_eq(run.out, "id:      j-cancelling\n"
				  "status:  CANCELLED\n"
				  "node:    n-0b7e5c1d9a2f\n"
				  "error:   cancelled by request\n");
	ck_assert_str_eq(run.err, "");
	/* The fake ignores ?wait (it answers at once, QUEUED): meshctl then polls. */
	ck_assert_requests("POST /jobs?wait=60 [{\"payload\":\"x\",\"type\":\"cancelling\"}]\n"
			   "GET /jobs/j-cancelling\n");
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("submit", "cancelling", "x", "--wait", "--json"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_NOT_COMPLETED);
	json = parse_json(run.out);
	ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "CANCELLED");
	json_decref(json);
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
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_NOT_COMPLETED);
	ck_assert_ptr_nonnull(strstr(run.out, "status:  FAILED\n"));
	/* The escape character never reaches the terminal. */
	ck_assert_ptr_nonnull(strstr(run.out, "error:   exit status 2: ?[31mboom\n"));
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("submit", "fail", "x", "--wait", "--json"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_NOT_COMPLETED);
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
			 "ID           TYPE  STATUS     NODE            CREATED               UPDATED               RESULT/ERROR\n"
			 "j-echo       echo  COMPLETED  n-0b7e5c1d9a2f  2026-11-23T15:30:00Z  2026-11-23T15:30:02Z  hello from the agent, with a result tha\xe2\x80\xa6\n"
			 "j-fail       fail  FAILED     n-0b7e5c1d9a2f  2026-11-23T15:30:00Z  2026-11-23T15:30:02Z  exit status 2: [31mboom\n"
			 "j-slow       echo  RUNNING    n-0b7e5c1d9a2f  2026-11-23T15:30:00Z  2026-11-23T15:30:02Z\n"
			 "j-cancelled  echo  CANCELLED  n-0b7e5c1d9a2f  2026-11-23T15:30:00Z  2026-11-23T15:30:02Z  cancelled by request\n");
	ck_assert_str_eq(run.err, "");
	ck_assert_requests("GET /jobs\n");
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
	ck_assert_requests("GET /jobs?node_id=n-other%20one\n");
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("jobs", "--status", "cancelled"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out,
			 "ID           TYPE  STATUS     NODE            CREATED               UPDATED               RESULT/ERROR\n"
			 "j-cancelled  echo  CANCELLED  n-0b7e5c1d9a2f  2026-11-23T15:30:00Z  2026-11-23T15:30:02Z  cancelled by request\n");
	ck_assert_requests("GET /jobs?status=CANCELLED\n");
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
	ck_assert_uint_eq(json_array_size(json_object_get(json, "jobs")), 4);
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
				  "attempt:  1 of 1\n"
				  "options:  priority normal, timeout 1 h\n"
				  "created:  2026-11-23T15:30:00.123Z\n"
				  "updated:  2026-11-23T15:30:02.123Z\n"
				  "payload:  line one\n"
				  "          line two\n"
				  "result:   -\n"
				  "error:    exit status 2: ?[31mboom\n");
	ck_assert_requests("GET /jobs/j-fail\n");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_job_waiting_to_retry_shows_its_attempts)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("job", "j-retry"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out,
			 "id:       j-retry\n"
			 "type:     echo\n"
			 "status:   QUEUED\n"
			 "node:     -\n"
			 "waiting:  waiting for attempt 2 of 3 at 2026-11-23T15:31:01.123Z (attempt 1: handler failed)\n"
			 "attempt:  1 of 3, next not before 2026-11-23T15:31:01.123Z\n"
			 "options:  priority low, timeout 90 s, retry on failure, backoff 1 s to 1 min\n"
			 "key:      nightly-7\n"
			 "created:  2026-11-23T15:30:00.123Z\n"
			 "updated:  2026-11-23T15:30:02.123Z\n"
			 "payload:  line one\n"
			 "          line two\n"
			 "result:   -\n"
			 "error:    -\n"
			 "\n"
			 "ATTEMPT  NODE            STARTED               FINISHED              STATUS  ERROR\n"
			 "1        n-0b7e5c1d9a2f  2026-11-23T15:30:00Z  2026-11-23T15:30:01Z  FAILED  node n-0b7e5c1d9a2f answered HTTP 422:\xe2\x80\xa6\n");
	ck_assert_str_eq(run.err, "");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_cancel_prints_the_cancelled_job)
{
	struct run run;
	json_t *json;

	run_meshctl(&run, NULL, NULL, ARGS("cancel", "j-slow"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out, "id:      j-slow\n"
				  "status:  CANCELLED\n"
				  "node:    n-0b7e5c1d9a2f\n"
				  "error:   cancelled by request\n");
	ck_assert_str_eq(run.err, "");
	/* An empty body: Content-Length 0, nothing in it. */
	ck_assert_requests("POST /jobs/j-slow/cancel []\n");
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("cancel", "j-slow", "--json"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	json = parse_json(run.out);
	ck_assert_str_eq(json_string_value(json_object_get(json, "id")), "j-slow");
	ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "CANCELLED");
	json_decref(json);
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_cancel_of_a_finished_job_exits_1)
{
	struct run run;
	json_t *json;

	run_meshctl(&run, NULL, NULL, ARGS("cancel", "j-echo"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_NOT_COMPLETED);
	/* The job as it stands on stdout, the coordinator's words on stderr. */
	ck_assert_str_eq(run.out, "id:      j-echo\n"
				  "status:  COMPLETED\n"
				  "node:    n-0b7e5c1d9a2f\n"
				  "result:  hello from the agent, with a result that is too long for a table\n");
	ck_assert_ptr_nonnull(strstr(run.err, "meshctl: job j-echo is already COMPLETED; nothing to cancel "
					      "(HTTP 409 from POST http://127.0.0.1:"));
	ck_assert_ptr_nonnull(strstr(run.err, "/jobs/j-echo/cancel)\n"));
	ck_assert_requests("POST /jobs/j-echo/cancel []\n");
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("--json", "cancel", "j-cancelled"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_NOT_COMPLETED);
	json = parse_json(run.out); /* the job alone, not the error body */
	ck_assert_str_eq(json_string_value(json_object_get(json, "id")), "j-cancelled");
	ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "CANCELLED");
	ck_assert_ptr_null(json_object_get(json, "job"));
	json_decref(json);
	ck_assert_ptr_nonnull(strstr(run.err, "job j-cancelled is already CANCELLED; nothing to cancel"));
	run_clear(&run);

	/* A 409 without the job: still "not cancelled". */
	run_meshctl(&run, NULL, NULL, ARGS("cancel", "j-conflict"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_NOT_COMPLETED);
	ck_assert_str_eq(run.out, "");
	ck_assert_ptr_nonnull(strstr(run.err, "meshctl: job j-conflict cannot be cancelled now (HTTP 409"));
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_cancel_of_an_unknown_job_exits_4)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("cancel", "j-nope"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_str_eq(run.out, "");
	ck_assert_ptr_nonnull(strstr(run.err, "meshctl: no job with id 'j-nope' (HTTP 404 from POST "));
	run_clear(&run);

	/* The id is encoded in the path. */
	run_meshctl(&run, NULL, NULL, ARGS("cancel", "j x?y"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_ptr_nonnull(strstr(run.err, "no job with id 'j x?y' (HTTP 404 from POST "));
	ck_assert_ptr_nonnull(strstr(run.err, "/jobs/j%20x%3Fy/cancel)"));
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_drain_by_id_sends_one_request)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("drain", "n-0b7e5c1d9a2f"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out,
			 "ID              NAME     ADDRESS         STATE     RUNNING  TYPES            LAST SEEN\n"
			 "n-0b7e5c1d9a2f  agent-1  127.0.0.1:8081  DRAINING  1/4      echo,sleep,fail  2026-11-23T15:30:00Z\n");
	ck_assert_str_eq(run.err, "");
	ck_assert_requests("POST /nodes/n-0b7e5c1d9a2f/drain []\n");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_drain_by_name_looks_the_id_up)
{
	struct run run;
	json_t *json;

	run_meshctl(&run, NULL, NULL, ARGS("drain", "agent-3"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_str_eq(run.out,
			 "ID              NAME     ADDRESS         STATE     RUNNING  TYPES  LAST SEEN\n"
			 "n-2d3e4f5a6b7c  agent-3  127.0.0.1:8083  DRAINING  1/4      echo   2026-11-23T15:30:00Z\n");
	ck_assert_requests("GET /nodes\nPOST /nodes/n-2d3e4f5a6b7c/drain []\n");
	run_clear(&run);

	/* A name that is not an id's shape may still be an id. */
	run_meshctl(&run, NULL, NULL, ARGS("--json", "drain", "n-1c2d3e4f5a6b"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	json = parse_json(run.out);
	ck_assert_str_eq(json_string_value(json_object_get(json, "id")), "n-1c2d3e4f5a6b");
	ck_assert(json_is_true(json_object_get(json, "draining")));
	json_decref(json);
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("--json", "drain", "agent-1"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	json = parse_json(run.out);
	ck_assert_str_eq(json_string_value(json_object_get(json, "state")), "DRAINING");
	json_decref(json);
	ck_assert_requests("GET /nodes\nPOST /nodes/n-0b7e5c1d9a2f/drain []\n");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_drain_of_an_unknown_or_ambiguous_node_exits_4)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("drain", "nobody"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_str_eq(run.out, "");
	ck_assert_ptr_nonnull(strstr(run.err, "meshctl: no node has the id or name 'nobody' (5 registered at http://127.0.0.1:"));
	ck_assert_ptr_nonnull(strstr(run.err, "; see 'meshctl nodes')\n"));
	ck_assert_requests("GET /nodes\n"); /* nothing drained */
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("drain", "twin"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_str_eq(run.err, "meshctl: 2 nodes are named 'twin' (n-3e4f5a6b7c8d, n-4f5a6b7c8d9e): "
				  "give the id of the one to drain\n");
	ck_assert_requests("GET /nodes\n");
	run_clear(&run);

	run_meshctl(&run, NULL, NULL, ARGS("drain", "n-999999999999"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_str_eq(run.out, "");
	ck_assert_ptr_nonnull(strstr(run.err, "meshctl: no node with id 'n-999999999999' (HTTP 404 from POST "));
	ck_assert_requests("POST /nodes/n-999999999999/drain []\n");
	run_clear(&run);

	run_meshctl(&run, NULL, "/empty", ARGS("drain", "agent-1"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_ptr_nonnull(strstr(run.err, "no node has the id or name 'agent-1' (0 registered"));
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_drain_wait_polls_until_drained)
{
	struct run run;

	run_meshctl(&run, NULL, NULL, ARGS("drain", "agent-3", "--wait"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	/* Only the end state is printed, as submit --wait does. */
	ck_assert_str_eq(run.out,
			 "ID              NAME     ADDRESS         STATE    RUNNING  TYPES  LAST SEEN\n"
			 "n-2d3e4f5a6b7c  agent-3  127.0.0.1:8083  DRAINED  0/4      echo   2026-11-23T15:30:00Z\n");
	ck_assert_str_eq(run.err, "");
	ck_assert_requests("GET /nodes\n"
			   "POST /nodes/n-2d3e4f5a6b7c/drain []\n"
			   "GET /nodes/n-2d3e4f5a6b7c\n"
			   "GET /nodes/n-2d3e4f5a6b7c\n"
			   "GET /nodes/n-2d3e4f5a6b7c\n");
	run_clear(&run);

	/* Drained already: nothing to poll. */
	run_meshctl(&run, NULL, NULL, ARGS("drain", "n-3e4f5a6b7c8d", "--wait"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_OK);
	ck_assert_ptr_nonnull(strstr(run.out, "\nn-3e4f5a6b7c8d  twin  127.0.0.1:8084  DRAINED  0/4 "));
	ck_assert_requests("POST /nodes/n-3e4f5a6b7c8d/drain []\n");
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_drain_wait_times_out_with_2)
{
	struct run run;
	json_t *json;

	run_meshctl(&run, NULL, NULL, ARGS("drain", "n-0b7e5c1d9a2f", "--wait", "--timeout", "0.3"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_TIMEOUT);
	ck_assert_ptr_nonnull(strstr(run.out, "\nn-0b7e5c1d9a2f  agent-1  127.0.0.1:8081  DRAINING  1/4 "));
	ck_assert_str_eq(run.err, "meshctl: timed out after 0.3 s waiting for node n-0b7e5c1d9a2f to drain: "
				  "it is DRAINING with 1 job(s) still running\n");
	run_clear(&run);

	run_meshctl(&run, NULL, NULL,
		    ARGS("--json", "drain", "n-0b7e5c1d9a2f", "--wait", "--timeout", "0.1"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_TIMEOUT);
	json = parse_json(run.out);
	ck_assert_int_eq(json_integer_value(json_object_get(json, "running")), 1);
	json_decref(json);
	run_clear(&run);
}
END_TEST

START_TEST(test_meshctl_drain_unusable_replies_exit_4)
{
	struct run run;

	run_meshctl(&run, NULL, "/broken", ARGS("drain", "n-0b7e5c1d9a2f"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_str_eq(run.out, "");
	ck_assert_ptr_nonnull(strstr(run.err, "/nodes/n-0b7e5c1d9a2f/drain is not a node: field 'name' is missing"));
	run_clear(&run);

	run_meshctl(&run, NULL, "/broken", ARGS("drain", "agent-1"));
	ck_assert_int_eq(run.rc, MESHCTL_EXIT_COORDINATOR);
	ck_assert_ptr_nonnull(strstr(run.err, "nodes[0] is not a node: field 'name' is missing"));
	ck_assert_requests("GET /broken/nodes\n");
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
			 "n-1c2d3e4f5a6b  agent-\xc3\xbc  :8082           UNHEALTHY  0/4      echo             never\n"
			 "n-2d3e4f5a6b7c  agent-3  127.0.0.1:8083  DRAINING   1/4      echo             2026-11-23T15:30:00Z\n"
			 "n-3e4f5a6b7c8d  twin     127.0.0.1:8084  DRAINED    0/4      echo             2026-11-23T15:30:00Z\n"
			 "n-4f5a6b7c8d9e  twin     127.0.0.1:8085  HEALTHY    0/4      echo             2026-11-23T15:30:00Z\n");
	ck_assert_requests("GET /nodes\n");
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
	tcase_add_test(tc, test_meshctl_submit_sends_every_job_option_given);
	tcase_add_test(tc, test_meshctl_submit_existing_job_for_the_key_says_so);
	tcase_add_test(tc, test_meshctl_submit_key_of_another_job_and_full_disk_exit_4);
	tcase_add_test(tc, test_meshctl_submit_wait_cancelled_exits_1);
	tcase_add_test(tc, test_meshctl_jobs_table);
	tcase_add_test(tc, test_meshctl_jobs_filters_reach_the_coordinator);
	tcase_add_test(tc, test_meshctl_jobs_json_and_empty);
	tcase_add_test(tc, test_meshctl_job_shows_every_field);
	tcase_add_test(tc, test_meshctl_job_not_found_exits_4_with_the_coordinators_words);
	tcase_add_test(tc, test_meshctl_job_waiting_to_retry_shows_its_attempts);
	tcase_add_test(tc, test_meshctl_cancel_prints_the_cancelled_job);
	tcase_add_test(tc, test_meshctl_cancel_of_a_finished_job_exits_1);
	tcase_add_test(tc, test_meshctl_cancel_of_an_unknown_job_exits_4);
	tcase_add_test(tc, test_meshctl_drain_by_id_sends_one_request);
	tcase_add_test(tc, test_meshctl_drain_by_name_looks_the_id_up);
	tcase_add_test(tc, test_meshctl_drain_of_an_unknown_or_ambiguous_node_exits_4);
	tcase_add_test(tc, test_meshctl_drain_wait_polls_until_drained);
	tcase_add_test(tc, test_meshctl_drain_wait_times_out_with_2);
	tcase_add_test(tc, test_meshctl_drain_unusable_replies_exit_4);
	tcase_add_test(tc, test_meshctl_unusable_replies_exit_4);
	tcase_add_test(tc, test_meshctl_nodes_table);
	tcase_add_test(tc, test_meshctl_nodes_json);
	tcase_add_test(tc, test_meshctl_unreachable_coordinator_exits_4_naming_the_url);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(meshctl_commands_suite)
