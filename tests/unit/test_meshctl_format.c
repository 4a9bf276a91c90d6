#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "check_main.h"
#include "cmd.h"
#include "display.h"
#include "options.h"

/* 2026-11-23T15:30:00.123Z */
#define T0 1795447800123LL

/* Output written to a memory stream: capture_start, write to .out, capture_end. */
struct capture {
	FILE *out;
	char *text;
	size_t size;
};

static void capture_start(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	c->out = open_memstream(&c->text, &c->size);
	ck_assert_ptr_nonnull(c->out);
}

static char *capture_end(struct capture *c)
{
	ck_assert_int_eq(fclose(c->out), 0);
	return c->text;
}

struct duration_case {
	int64_t ms;
	const char *text;
};

static const struct duration_case duration_cases[] = {
	{0, "0 ms"},          {1, "1 ms"},          {250, "250 ms"},          {1500, "1500 ms"},
	{1000, "1 s"},        {30000, "30 s"},      {90000, "90 s"},          {60000, "1 min"},
	{300000, "5 min"},    {3600000, "1 h"},     {5400000, "90 min"},      {7200000, "2 h"},
	{86400000, "1 d"},    {604800000, "7 d"},   {604799999, "604799999 ms"}, {90000000, "25 h"},
};

START_TEST(test_meshctl_format_duration_table)
{
	const struct duration_case *c = &duration_cases[_i];
	char text[DISPLAY_DURATION_SIZE];

	display_duration(c->ms, text, sizeof(text));
	ck_assert_msg(strcmp(text, c->text) == 0, "%lld ms: got \"%s\", want \"%s\"",
		      (long long)c->ms, text, c->text);
}
END_TEST

START_TEST(test_meshctl_format_time)
{
	char text[DISPLAY_TIME_SIZE];

	display_time(T0, text, sizeof(text));
	ck_assert_str_eq(text, "2026-11-23T15:30:00Z");
	display_time(0, text, sizeof(text));
	ck_assert_str_eq(text, "-");
}
END_TEST

struct block_case {
	const char *text;
	const char *expected;
};

static const struct block_case block_cases[] = {
	{NULL, "-"},
	{"", ""},
	{"hello\n", "hello"},
	{"a\nb\n\n\n", "a\nb"},
	{"a\r\nb\r\n", "a\nb"},
	{"col1\tcol2", "col1\tcol2"},
	{"lone\rcr", "lone?cr"},
	{"esc \x1b[2J", "esc ?[2J"},
	{"c1 \xc2\x9b", "c1 ?"},
	{"bad \xff", "bad ?"},
	{"\xc3\xa9t\xc3\xa9 " "\xe2\x80\xa6", "\xc3\xa9t\xc3\xa9 " "\xe2\x80\xa6"},
};

START_TEST(test_meshctl_format_block_table)
{
	const struct block_case *c = &block_cases[_i];
	char *block = display_block(c->text);

	ck_assert_ptr_nonnull(block);
	ck_assert_msg(strcmp(block, c->expected) == 0, "case %d: got \"%s\", want \"%s\"", _i, block,
		      c->expected);
	free(block);
}
END_TEST

START_TEST(test_meshctl_format_fields_align_values_and_indent_lines)
{
	static const char *const labels[] = {"id", "payload", "error"};
	static const char *const values[] = {"j-1", "line one\nline two\n\nline four", ""};
	struct capture c;

	capture_start(&c);
	ck_assert_int_eq(display_fields(c.out, labels, values, 3), 0);
	ck_assert_str_eq(capture_end(&c), "id:       j-1\n"
					  "payload:  line one\n"
					  "          line two\n"
					  "\n"
					  "          line four\n"
					  "error:\n");
	free(c.text);
}
END_TEST

/* A finished job with every field set. */
static void sample_job(struct job *job, enum job_status status)
{
	memset(job, 0, sizeof(*job));
	snprintf(job->id, sizeof(job->id), "j-4f1c0a9b2e3d");
	job->type = strdup("echo");
	job->payload = strdup("hello\nworld");
	job->status = status;
	snprintf(job->node_id, sizeof(job->node_id), "n-0b7e5c1d9a2f");
	job->created_at = T0;
	job->updated_at = T0 + 1500;
	if (status == JOB_COMPLETED)
		job->result = strdup("hello world\n");
	if (status == JOB_FAILED)
		job->error = strdup("exit status 2");
	/* What the coordinator fills in for a job submitted without options. */
	job->priority = JOB_PRIORITY_NORMAL;
	job->timeout_ms = 3600000;
	job->max_attempts = 1;
	job->attempt = status == JOB_QUEUED ? 0 : 1;
	job->backoff_base_ms = 1000;
	job->backoff_cap_ms = 60000;
}

/* Appends an attempt to job (and says the coordinator sent the list). */
static void add_attempt(struct job *job, const char *node_id, int64_t started, int64_t finished,
			enum attempt_status status, const char *error, const char *result)
{
	struct job_attempt *attempt;

	job->attempts = realloc(job->attempts, (job->attempt_count + 1) * sizeof(*job->attempts));
	ck_assert_ptr_nonnull(job->attempts);
	attempt = &job->attempts[job->attempt_count++];
	memset(attempt, 0, sizeof(*attempt));
	attempt->number = (int)job->attempt_count;
	snprintf(attempt->node_id, sizeof(attempt->node_id), "%s", node_id);
	attempt->started_at = started;
	attempt->finished_at = finished;
	attempt->status = status;
	attempt->error = error != NULL ? strdup(error) : NULL;
	attempt->result = result != NULL ? strdup(result) : NULL;
	job->has_attempts = true;
}

START_TEST(test_meshctl_format_job_shows_every_field)
{
	struct job job;
	struct capture c;

	sample_job(&job, JOB_COMPLETED);
	capture_start(&c);
	ck_assert_int_eq(display_job(c.out, &job, false), 0);
	ck_assert_str_eq(capture_end(&c), "id:       j-4f1c0a9b2e3d\n"
					  "type:     echo\n"
					  "status:   COMPLETED\n"
					  "node:     n-0b7e5c1d9a2f\n"
					  "attempt:  1 of 1\n"
					  "options:  priority normal, timeout 1 h\n"
					  "created:  2026-11-23T15:30:00.123Z\n"
					  "updated:  2026-11-23T15:30:01.623Z\n"
					  "payload:  hello\n"
					  "          world\n"
					  "result:   hello world\n"
					  "error:    -\n");
	free(c.text);
	job_clear(&job);
}
END_TEST

START_TEST(test_meshctl_format_job_waiting_to_retry_shows_its_attempts)
{
	struct job job;
	struct capture c;

	sample_job(&job, JOB_QUEUED);
	job.node_id[0] = '\0';
	job.priority = JOB_PRIORITY_HIGH;
	job.timeout_ms = 30000;
	job.max_attempts = 3;
	job.retry_on_failure = true;
	job.attempt = 2;
	job.next_attempt_at = T0 + 60000;
	job.reason = strdup("waiting for attempt 3 of 3 at 2026-11-23T15:31:00.123Z (attempt 2: lost)");
	job.idempotency_key = strdup("order-42");
	add_attempt(&job, "n-0b7e5c1d9a2f", T0, T0 + 1000, ATTEMPT_FAILED,
		    "handler 'echo' exited with status 1; stderr: \x1b[31mno route to the\nbackend at all", NULL);
	add_attempt(&job, "n-1c2d3e4f5a6b", T0 + 2000, T0 + 9000, ATTEMPT_SUPERSEDED, NULL, "late\nanswer");
	capture_start(&c);
	ck_assert_int_eq(display_job(c.out, &job, false), 0);
	ck_assert_str_eq(capture_end(&c),
			 "id:       j-4f1c0a9b2e3d\n"
			 "type:     echo\n"
			 "status:   QUEUED\n"
			 "node:     -\n"
			 "waiting:  waiting for attempt 3 of 3 at 2026-11-23T15:31:00.123Z (attempt 2: lost)\n"
			 "attempt:  2 of 3, next not before 2026-11-23T15:31:00.123Z\n"
			 "options:  priority high, timeout 30 s, retry on failure, backoff 1 s to 1 min\n"
			 "key:      order-42\n"
			 "created:  2026-11-23T15:30:00.123Z\n"
			 "updated:  2026-11-23T15:30:01.623Z\n"
			 "payload:  hello\n"
			 "          world\n"
			 "result:   -\n"
			 "error:    -\n"
			 "\n"
			 "ATTEMPT  NODE            STARTED               FINISHED              STATUS      ERROR\n"
			 "1        n-0b7e5c1d9a2f  2026-11-23T15:30:00Z  2026-11-23T15:30:01Z  FAILED      handler 'echo' exited with status 1; st\xe2\x80\xa6\n"
			 "2        n-1c2d3e4f5a6b  2026-11-23T15:30:02Z  2026-11-23T15:30:09Z  SUPERSEDED  late result: late answer\n");
	free(c.text);
	job_clear(&job);
}
END_TEST

START_TEST(test_meshctl_format_job_running_attempt_has_no_finish)
{
	struct job job;
	struct capture c;
	char *text;

	sample_job(&job, JOB_RUNNING);
	job.max_attempts = 2;
	job.timeout_ms = 0; /* a coordinator that did not send one */
	job.backoff_base_ms = 0;
	add_attempt(&job, "n-0b7e5c1d9a2f", T0, 0, ATTEMPT_RUNNING, NULL, NULL);
	capture_start(&c);
	ck_assert_int_eq(display_job(c.out, &job, false), 0);
	text = capture_end(&c);
	ck_assert_ptr_nonnull(strstr(text, "attempt:  1 of 2\n"
					   "options:  priority normal, no retry on failure\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n\nATTEMPT  NODE            STARTED               FINISHED  STATUS   ERROR\n"
					   "1        n-0b7e5c1d9a2f  2026-11-23T15:30:00Z  -         RUNNING\n"));
	free(text);

	/* An empty list: no table at all. */
	for (size_t i = 0; i < job.attempt_count; i++)
		job_attempt_clear(&job.attempts[i]);
	job.attempt_count = 0;
	capture_start(&c);
	ck_assert_int_eq(display_job(c.out, &job, false), 0);
	text = capture_end(&c);
	ck_assert_ptr_null(strstr(text, "ATTEMPT"));
	ck_assert_ptr_nonnull(strstr(text, "error:    -\n"));
	free(text);
	job_clear(&job);
}
END_TEST

START_TEST(test_meshctl_format_job_brief_has_the_outcome)
{
	struct job job;
	struct capture c;

	sample_job(&job, JOB_FAILED);
	capture_start(&c);
	ck_assert_int_eq(display_job(c.out, &job, true), 0);
	ck_assert_str_eq(capture_end(&c), "id:      j-4f1c0a9b2e3d\n"
					  "status:  FAILED\n"
					  "node:    n-0b7e5c1d9a2f\n"
					  "error:   exit status 2\n");
	free(c.text);

	/* A job that may have several attempts says which one it is at. */
	job.max_attempts = 3;
	job.attempt = 3;
	capture_start(&c);
	ck_assert_int_eq(display_job(c.out, &job, true), 0);
	ck_assert_str_eq(capture_end(&c), "id:       j-4f1c0a9b2e3d\n"
					  "status:   FAILED\n"
					  "node:     n-0b7e5c1d9a2f\n"
					  "attempt:  3 of 3\n"
					  "error:    exit status 2\n");
	free(c.text);
	job_clear(&job);

	/* A cancelled job: its error if it has one. */
	sample_job(&job, JOB_CANCELLED);
	capture_start(&c);
	ck_assert_int_eq(display_job(c.out, &job, true), 0);
	ck_assert_str_eq(capture_end(&c), "id:      j-4f1c0a9b2e3d\n"
					  "status:  CANCELLED\n"
					  "node:    n-0b7e5c1d9a2f\n");
	free(c.text);
	job.error = strdup("cancelled by request");
	capture_start(&c);
	ck_assert_int_eq(display_job(c.out, &job, true), 0);
	ck_assert_str_eq(capture_end(&c), "id:      j-4f1c0a9b2e3d\n"
					  "status:  CANCELLED\n"
					  "node:    n-0b7e5c1d9a2f\n"
					  "error:   cancelled by request\n");
	free(c.text);
	job_clear(&job);

	/* A queued job: no node yet, no outcome. */
	sample_job(&job, JOB_QUEUED);
	job.node_id[0] = '\0';
	capture_start(&c);
	ck_assert_int_eq(display_job(c.out, &job, true), 0);
	ck_assert_str_eq(capture_end(&c), "id:      j-4f1c0a9b2e3d\n"
					  "status:  QUEUED\n"
					  "node:    -\n");
	free(c.text);
	job_clear(&job);
}
END_TEST

START_TEST(test_meshctl_format_outcome_follows_status)
{
	struct job job;

	sample_job(&job, JOB_COMPLETED);
	ck_assert_str_eq(display_job_outcome(&job), "hello world\n");
	job.status = JOB_RUNNING;
	ck_assert_ptr_null(display_job_outcome(&job));
	job_clear(&job);
	sample_job(&job, JOB_FAILED);
	ck_assert_str_eq(display_job_outcome(&job), "exit status 2");
	job_clear(&job);
	sample_job(&job, JOB_CANCELLED);
	ck_assert_ptr_null(display_job_outcome(&job));
	job.error = strdup("cancelled by request");
	ck_assert_str_eq(display_job_outcome(&job), "cancelled by request");
	job_clear(&job);
}
END_TEST

START_TEST(test_meshctl_format_json_ends_with_a_newline)
{
	struct capture c;

	capture_start(&c);
	ck_assert_int_eq(display_json(c.out, "{\"a\":1}", 7), 0);
	ck_assert_int_eq(display_json(c.out, "{\"b\":2}\n", 8), 0);
	ck_assert_str_eq(capture_end(&c), "{\"a\":1}\n{\"b\":2}\n");
	free(c.text);
}
END_TEST

START_TEST(test_meshctl_format_jobs_path_encodes_filters)
{
	struct options o;
	char *path;

	memset(&o, 0, sizeof(o));
	path = cmd_jobs_path(&o);
	ck_assert_str_eq(path, "/jobs");
	free(path);

	o.has_status = true;
	o.status = JOB_RUNNING;
	path = cmd_jobs_path(&o);
	ck_assert_str_eq(path, "/jobs?status=RUNNING");
	free(path);

	o.node_id = "n-1 &x=y/?";
	o.type = "echo.v2";
	o.limit = 25;
	path = cmd_jobs_path(&o);
	ck_assert_str_eq(path, "/jobs?status=RUNNING&node_id=n-1%20%26x%3Dy%2F%3F&type=echo.v2&limit=25");
	free(path);

	o.has_status = false;
	o.type = NULL;
	o.limit = 0;
	path = cmd_jobs_path(&o);
	ck_assert_str_eq(path, "/jobs?node_id=n-1%20%26x%3Dy%2F%3F");
	free(path);
}
END_TEST

START_TEST(test_meshctl_format_escape)
{
	char *escaped = api_escape("j-1/../nodes?x=\xc3\xbc");

	ck_assert_str_eq(escaped, "j-1%2F..%2Fnodes%3Fx%3D%C3%BC");
	free(escaped);
}
END_TEST

START_TEST(test_meshctl_format_poll_delay_backs_off_to_half_a_second)
{
	static const long expected[] = {20, 30, 45, 67, 100, 150, 225, 337, 500, 500};
	long delay = 0;

	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		delay = cmd_poll_next_delay_ms(delay);
		ck_assert_int_eq(delay, expected[i]);
	}
}
END_TEST

START_TEST(test_meshctl_format_api_error_message)
{
	char err[API_ERROR_SIZE];
	const char *body = "{\"error\":\"job 'j-x' not found\"}";

	api_error_message(404, body, strlen(body), "GET", "http://h:1/jobs/j-x", err, sizeof(err));
	ck_assert_str_eq(err, "job 'j-x' not found (HTTP 404 from GET http://h:1/jobs/j-x)");

	body = "<html>\n<body>\x1b[1mBad Gateway</body>\n</html>\n";
	api_error_message(502, body, strlen(body), "POST", "http://h:1/jobs", err, sizeof(err));
	ck_assert_str_eq(err, "<html> <body> [1mBad Gateway</body> </html> (HTTP 502 from POST http://h:1/jobs)");

	api_error_message(500, "", 0, "GET", "http://h:1/nodes", err, sizeof(err));
	ck_assert_str_eq(err, "the coordinator answered HTTP 500 without a message (GET http://h:1/nodes)");

	body = "{\"message\":\"not our shape\"}";
	api_error_message(400, body, strlen(body), "GET", "http://h:1/jobs", err, sizeof(err));
	ck_assert_str_eq(err, "{\"message\":\"not our shape\"} (HTTP 400 from GET http://h:1/jobs)");
}
END_TEST

static Suite *meshctl_format_suite(void)
{
	Suite *s = suite_create("meshctl_format");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_meshctl_format_time);
	tcase_add_loop_test(tc, test_meshctl_format_duration_table, 0,
			    (int)(sizeof(duration_cases) / sizeof(duration_cases[0])));
	tcase_add_loop_test(tc, test_meshctl_format_block_table, 0,
			    (int)(sizeof(block_cases) / sizeof(block_cases[0])));
	tcase_add_test(tc, test_meshctl_format_fields_align_values_and_indent_lines);
	tcase_add_test(tc, test_meshctl_format_job_shows_every_field);
	tcase_add_test(tc, test_meshctl_format_job_waiting_to_retry_shows_its_attempts);
	tcase_add_test(tc, test_meshctl_format_job_running_attempt_has_no_finish);
	tcase_add_test(tc, test_meshctl_format_job_brief_has_the_outcome);
	tcase_add_test(tc, test_meshctl_format_outcome_follows_status);
	tcase_add_test(tc, test_meshctl_format_json_ends_with_a_newline);
	tcase_add_test(tc, test_meshctl_format_jobs_path_encodes_filters);
	tcase_add_test(tc, test_meshctl_format_escape);
	tcase_add_test(tc, test_meshctl_format_poll_delay_backs_off_to_half_a_second);
	tcase_add_test(tc, test_meshctl_format_api_error_message);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(meshctl_format_suite)
