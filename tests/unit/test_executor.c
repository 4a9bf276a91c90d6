#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "clock.h"
#include "executor.h"

/* Takes a slot for job_id, runs the job to its end with timeout_ms, gives the slot back. */
static void run_in_slot(struct executor *ex, const char *job_id, const char *type,
			const char *payload, int64_t timeout_ms, struct executor_result *out)
{
	struct executor_job *job;

	ck_assert_int_eq(executor_try_acquire(ex, job_id, 1, &job), EXECUTOR_SLOT_TAKEN);
	ck_assert_ptr_nonnull(job);
	executor_run(ex, job, type, payload, timeout_ms, out);
	executor_release(ex, job);
	executor_answer_sent(ex);
}

/* Runs one job on a fresh executor with the given handler (type "h"); command may be NULL. */
static void run_job(const char *command, const char *type, const char *payload,
		    struct executor_result *out)
{
	struct executor *ex = executor_new(4);
	char err[512] = "";

	ck_assert_ptr_nonnull(ex);
	if (command != NULL)
		ck_assert_msg(executor_add_handler(ex, "h", command, err, sizeof(err)) == 0, "%s", err);
	run_in_slot(ex, "j-test", type, payload, 0, out);
	executor_free(ex);
}

/* True if no process is left in process group pgid (zombies count as left). */
static bool group_is_gone(pid_t pgid)
{
	return kill(-pgid, 0) == -1 && errno == ESRCH;
}

/* ---- built-in types ------------------------------------------------------ */

START_TEST(test_echo_outputs_the_payload)
{
	struct executor_result r;
	run_job(NULL, "echo", "hello, wörld", &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert_str_eq(r.output, "hello, wörld");
	ck_assert_ptr_null(r.error);
	executor_result_clear(&r);
}
END_TEST

static const struct {
	const char *payload;
	const char *output;
} sleep_ok_cases[] = {
	{"0", "slept 0 ms"},
	{"1", "slept 1 ms"},
	{"120", "slept 120 ms"},
};

START_TEST(test_sleep_with_whole_milliseconds_sleeps_that_long)
{
	struct executor_result r;
	int64_t start = clock_monotonic_ms();
	long ms = strtol(sleep_ok_cases[_i].payload, NULL, 10);

	run_job(NULL, "sleep", sleep_ok_cases[_i].payload, &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert_str_eq(r.output, sleep_ok_cases[_i].output);
	ck_assert_int_ge(clock_monotonic_ms() - start, ms);
	executor_result_clear(&r);
}
END_TEST

static const char *const sleep_bad_payloads[] = {
	"", "abc", "-1", "86400001", "99999999999999999999", " 5", "5 ", "5ms", "1.5", "0x10",
};

START_TEST(test_sleep_with_a_bad_payload_fails_saying_so)
{
	struct executor_result r;
	run_job(NULL, "sleep", sleep_bad_payloads[_i], &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_FAILED);
	ck_assert_ptr_null(r.output);
	ck_assert_msg(strstr(r.error, "whole milliseconds from 0 to 86400000") != NULL, "%s", r.error);
	executor_result_clear(&r);
}
END_TEST

START_TEST(test_sleep_quotes_a_long_or_binary_payload_as_valid_utf8)
{
	struct executor_result r;
	run_job(NULL, "sleep", "\xff\xfe not a number, and quite a long payload at that, really", &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_FAILED);
	ck_assert_str_eq(r.error, "sleep payload must be whole milliseconds from 0 to 86400000 "
				  "(got '?? not a number, and quite a long payloa...')");
	executor_result_clear(&r);
}
END_TEST

START_TEST(test_unknown_type_fails)
{
	struct executor_result r;
	run_job(NULL, "nope", "", &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_FAILED);
	ck_assert_ptr_nonnull(strstr(r.error, "unknown job type 'nope'"));
	executor_result_clear(&r);
}
END_TEST

/* ---- handlers -------------------------------------------------------------- */

START_TEST(test_handler_cat_echoes_stdin)
{
	struct executor_result r;
	run_job("cat", "h", "line one\nline two\n", &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert_str_eq(r.output, "line one\nline two\n");
	ck_assert(!r.output_truncated);
	executor_result_clear(&r);
}
END_TEST

START_TEST(test_handler_with_empty_payload_sees_end_of_file)
{
	struct executor_result r;
	run_job("wc -c", "h", "", &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert_int_eq(atoi(r.output), 0);
	executor_result_clear(&r);
}
END_TEST

START_TEST(test_handler_exiting_non_zero_fails_with_status_and_stderr)
{
	struct executor_result r;
	run_job("sh -c 'echo partial; echo oops >&2; exit 3'", "h", "", &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_FAILED);
	ck_assert_ptr_null(r.output);
	ck_assert_msg(strstr(r.error, "exited with status 3") != NULL, "%s", r.error);
	ck_assert_msg(strstr(r.error, "oops") != NULL, "%s", r.error);
	ck_assert_str_eq(r.error, "handler 'h' exited with status 3; stderr: oops");
	executor_result_clear(&r);
}
END_TEST

START_TEST(test_handler_killed_by_a_signal_fails_naming_the_signal)
{
	struct executor_result r;
	run_job("sh -c 'kill -9 $$'", "h", "", &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_FAILED);
	ck_assert_msg(strstr(r.error, "killed by signal 9 (SIGKILL)") != NULL, "%s", r.error);
	ck_assert_msg(strstr(r.error, "stderr was empty") != NULL, "%s", r.error);
	executor_result_clear(&r);
}
END_TEST

START_TEST(test_handler_stderr_keeps_only_the_tail)
{
	struct executor_result r;
	run_job("sh -c 'yes early | head -c 10000 >&2; echo LAST >&2; exit 1'", "h", "", &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_FAILED);
	ck_assert_msg(strstr(r.error, "stderr: ...") != NULL, "%s", r.error);
	ck_assert_msg(strstr(r.error, "LAST") != NULL, "%s", r.error);
	ck_assert_uint_le(strlen(r.error), EXECUTOR_STDERR_TAIL + 100);
	executor_result_clear(&r);
}
END_TEST

START_TEST(test_handler_stderr_that_is_not_utf8_is_cleaned)
{
	struct executor_result r;
	run_job("sh -c 'printf \"\\377bad\\303\" >&2; exit 1'", "h", "", &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_FAILED);
	ck_assert_msg(strstr(r.error, "stderr: ?bad?") != NULL, "%s", r.error);
	executor_result_clear(&r);
}
END_TEST

START_TEST(test_handler_output_over_1_mib_is_capped)
{
	struct executor_result r;
	run_job("sh -c 'yes 0123456789 | head -c 3000000'", "h", "", &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert(r.output_truncated);
	ck_assert_uint_eq(strlen(r.output), EXECUTOR_OUTPUT_LIMIT);
	ck_assert(strncmp(r.output, "0123456789\n0123456789\n", 22) == 0);
	executor_result_clear(&r);
}
END_TEST

START_TEST(test_handler_output_cut_at_the_cap_keeps_whole_utf8_characters)
{
	struct executor_result r;
	/* "é\\n" is 3 bytes and 3 divides the cap - 1: the last byte kept is the first of an "é". */
	run_job("sh -c 'yes é | head -c 2000000'", "h", "", &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert(r.output_truncated);
	ck_assert_uint_eq(strlen(r.output), EXECUTOR_OUTPUT_LIMIT - 1);
	executor_result_clear(&r);
}
END_TEST

START_TEST(test_handler_large_payload_into_cat_does_not_deadlock)
{
	const size_t size = 2 * 1024 * 1024;
	char *payload = malloc(size + 1);
	struct executor_result r;

	ck_assert_ptr_nonnull(payload);
	for (size_t i = 0; i < size; i++)
		payload[i] = (char)('a' + i % 26);
	payload[size] = '\0';
	/* cat writes as it reads: both pipes fill unless the executor moves both at once. */
	run_job("cat", "h", payload, &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert(r.output_truncated);
	ck_assert_uint_eq(strlen(r.output), EXECUTOR_OUTPUT_LIMIT);
	ck_assert(memcmp(r.output, payload, EXECUTOR_OUTPUT_LIMIT) == 0);
	executor_result_clear(&r);

	run_job("wc -c", "h", payload, &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert_int_eq(atol(r.output), (long)size);
	executor_result_clear(&r);
	free(payload);
}
END_TEST

START_TEST(test_handler_that_ignores_its_input_succeeds)
{
	/* The handler exits without reading: writing the rest must not kill us with SIGPIPE. */
	const size_t size = 1024 * 1024;
	char *payload = malloc(size + 1);
	struct executor_result r;

	ck_assert_ptr_nonnull(payload);
	memset(payload, 'x', size);
	payload[size] = '\0';
	run_job("echo ignored", "h", payload, &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert_str_eq(r.output, "ignored\n");
	executor_result_clear(&r);
	free(payload);
}
END_TEST

START_TEST(test_handler_leaves_no_processes_behind_when_it_exits)
{
	struct executor *ex = executor_new(1);
	struct executor_result r;
	int64_t start = clock_monotonic_ms();
	char err[256];
	pid_t pgid;

	ck_assert_ptr_nonnull(ex);
	/* The background sleep keeps stdout open and would outlive the job. */
	ck_assert_int_eq(executor_add_handler(ex, "h", "sh -c 'sleep 30 & echo $$'", err, sizeof(err)), 0);
	run_in_slot(ex, "j-bg", "h", "", 0, &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert_int_lt(clock_monotonic_ms() - start, 5000);
	pgid = (pid_t)atoi(r.output);
	ck_assert_int_gt(pgid, 1);
	ck_assert_msg(group_is_gone(pgid), "process group %d still has processes", (int)pgid);
	ck_assert_uint_eq(executor_process_groups(ex, NULL, 0), 0);
	executor_result_clear(&r);
	executor_free(ex);
}
END_TEST

START_TEST(test_handler_whose_program_vanished_fails_to_start)
{
	char dir[] = "/tmp/mesh-executor-XXXXXX";
	char path[128], err[256];
	struct executor *ex = executor_new(1);
	struct executor_result r;
	FILE *script;

	ck_assert_ptr_nonnull(ex);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/handler.sh", dir);
	script = fopen(path, "w");
	ck_assert_ptr_nonnull(script);
	fputs("#!/bin/sh\necho from script\n", script);
	fclose(script);
	ck_assert_int_eq(chmod(path, 0755), 0);
	ck_assert_msg(executor_add_handler(ex, "h", path, err, sizeof(err)) == 0, "%s", err);

	run_in_slot(ex, "j-1", "h", "", 0, &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert_str_eq(r.output, "from script\n");
	executor_result_clear(&r);

	unlink(path);
	rmdir(dir);
	run_in_slot(ex, "j-2", "h", "", 0, &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_FAILED);
	ck_assert_msg(strstr(r.error, "could not start") != NULL, "%s", r.error);
	ck_assert_msg(strstr(r.error, "No such file or directory") != NULL, "%s", r.error);
	executor_result_clear(&r);
	executor_free(ex);
}
END_TEST

/* ---- the handler table ------------------------------------------------------ */

static const struct {
	const char *type;
	const char *command;
	const char *error_mentions; /* NULL: accepted */
} handler_cases[] = {
	{"upper", "tr a-z A-Z", NULL},
	{"shell", "sh -c 'echo $1' arg", NULL},
	{"abs", "/bin/cat", NULL},
	{"a.b_c-1", "cat", NULL},
	{"echo", "cat", "built in"},
	{"sleep", "cat", "built in"},
	{"bad type", "cat", "job type 'bad type' must be"},
	{"", "cat", "must be 1 to 64"},
	{"x", "", "command is empty"},
	{"x", "sh -c 'oops", "unterminated single quote"},
	{"x", "no-such-program-here", "'no-such-program-here' was not found in PATH"},
	{"x", "/no/such/program", "No such file or directory"},
	{"x", "/etc/passwd", "cannot be run"},
	{"x", "/tmp", "Is a directory"},
	{"x", "grep a | wc", "unquoted '|'"},
};

START_TEST(test_handlers_are_checked_before_they_are_added)
{
	struct executor *ex = executor_new(1);
	char err[512] = "";
	int rc;

	ck_assert_ptr_nonnull(ex);
	rc = executor_add_handler(ex, handler_cases[_i].type, handler_cases[_i].command, err,
				  sizeof(err));
	if (handler_cases[_i].error_mentions == NULL) {
		ck_assert_msg(rc == 0, "%s", err);
		ck_assert(executor_has_type(ex, handler_cases[_i].type));
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_msg(strstr(err, handler_cases[_i].error_mentions) != NULL,
			      "'%s=%s': '%s' lacks '%s'", handler_cases[_i].type, handler_cases[_i].command,
			      err, handler_cases[_i].error_mentions);
		ck_assert_uint_eq(executor_type_count(ex), 2);
		ck_assert_int_eq(executor_check_handler(handler_cases[_i].type, handler_cases[_i].command,
							err, sizeof(err)),
				 -1);
	}
	executor_free(ex);
}
END_TEST

START_TEST(test_handler_type_defined_twice_is_refused)
{
	struct executor *ex = executor_new(1);
	char err[256];

	ck_assert_int_eq(executor_add_handler(ex, "upper", "tr a-z A-Z", err, sizeof(err)), 0);
	ck_assert_int_eq(executor_add_handler(ex, "upper", "cat", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "job type 'upper' is defined twice");
	executor_free(ex);
}
END_TEST

START_TEST(test_type_list_names_builtins_then_handlers)
{
	struct executor *ex = executor_new(1);
	char err[256], list[128];

	ck_assert_int_eq(executor_add_handler(ex, "upper", "tr a-z A-Z", err, sizeof(err)), 0);
	ck_assert_int_eq(executor_add_handler(ex, "count", "wc -c", err, sizeof(err)), 0);
	executor_type_list(ex, list, sizeof(list));
	ck_assert_str_eq(list, "echo, sleep, upper, count");
	ck_assert_uint_eq(executor_type_count(ex), 4);
	ck_assert_str_eq(executor_type(ex, 2), "upper");
	ck_assert_ptr_null(executor_type(ex, 4));
	ck_assert(executor_has_type(ex, "echo"));
	ck_assert(!executor_has_type(ex, "nope"));
	executor_free(ex);
}
END_TEST

/* ---- slots ------------------------------------------------------------------ */

START_TEST(test_acquire_beyond_capacity_fails)
{
	struct executor *ex = executor_new(2);
	struct executor_job *a, *b, *c;

	ck_assert_int_eq(executor_capacity(ex), 2);
	ck_assert_int_eq(executor_try_acquire(ex, "j-a", 1, &a), EXECUTOR_SLOT_TAKEN);
	ck_assert_int_eq(executor_try_acquire(ex, "j-b", 1, &b), EXECUTOR_SLOT_TAKEN);
	ck_assert_int_eq(executor_running(ex), 2);
	ck_assert_int_eq(executor_try_acquire(ex, "j-c", 1, &c), EXECUTOR_SLOT_FULL);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(executor_running(ex), 2);
	executor_release(ex, a);
	ck_assert_int_eq(executor_try_acquire(ex, "j-c", 1, &c), EXECUTOR_SLOT_TAKEN);
	executor_release(ex, b);
	executor_release(ex, c);
	ck_assert_int_eq(executor_running(ex), 0);
	/* Slots are free at once, but draining still waits for the three answers. */
	ck_assert(!executor_wait_idle(ex, 0));
	executor_answer_sent(ex);
	executor_answer_sent(ex);
	ck_assert(!executor_wait_idle(ex, 0));
	executor_answer_sent(ex);
	ck_assert(executor_wait_idle(ex, 0));
	executor_free(ex);
}
END_TEST

START_TEST(test_acquire_after_close_is_refused)
{
	struct executor *ex = executor_new(2);
	struct executor_job *job;

	ck_assert(!executor_is_closed(ex));
	executor_close(ex);
	ck_assert(executor_is_closed(ex));
	ck_assert_int_eq(executor_try_acquire(ex, "j-1", 1, &job), EXECUTOR_SLOT_CLOSED);
	ck_assert_ptr_null(job);
	ck_assert_int_eq(executor_running(ex), 0);
	executor_free(ex);
}
END_TEST

START_TEST(test_capacity_outside_1_to_1024_is_refused)
{
	ck_assert_ptr_null(executor_new(0));
	ck_assert_ptr_null(executor_new(-1));
	ck_assert_ptr_null(executor_new(1025));
	executor_free(executor_new(1024));
	executor_free(NULL);
}
END_TEST

START_TEST(test_wait_idle_times_out_while_a_slot_is_taken)
{
	struct executor *ex = executor_new(1);
	struct executor_job *job;
	int64_t start = clock_monotonic_ms();

	ck_assert_int_eq(executor_try_acquire(ex, "j-1", 1, &job), EXECUTOR_SLOT_TAKEN);
	ck_assert(!executor_wait_idle(ex, 100));
	ck_assert_int_ge(clock_monotonic_ms() - start, 100);
	executor_release(ex, job);
	executor_free(ex);
}
END_TEST

/* ---- timeouts, cancel and drain ----------------------------------------------- */

/* A job run on its own thread, as an HTTP worker would. */
struct job_thread {
	struct executor *ex;
	const char *job_id;
	const char *type;
	const char *payload;
	int64_t timeout_ms;
	struct executor_result result;
	int64_t took_ms;
	pthread_t thread;
};

static void *job_thread_main(void *arg)
{
	struct job_thread *job = arg;
	int64_t start = clock_monotonic_ms();

	run_in_slot(job->ex, job->job_id, job->type, job->payload ? job->payload : "", job->timeout_ms,
		    &job->result);
	job->took_ms = clock_monotonic_ms() - start;
	return NULL;
}

static void start_job_thread(struct job_thread *job)
{
	ck_assert_int_eq(pthread_create(&job->thread, NULL, job_thread_main, job), 0);
}

/* Waits until n jobs are inside executor_run (a slot alone is not enough: it may not have started). */
static void wait_for_started(struct executor *ex, int n)
{
	int64_t deadline = clock_monotonic_ms() + 5000;
	while (executor_started(ex) < n) {
		ck_assert_msg(clock_monotonic_ms() < deadline, "jobs did not start");
		clock_sleep_ms(2);
	}
}

/* Waits until n handler process groups are running; returns them in out. */
static void wait_for_groups(struct executor *ex, pid_t *out, size_t n)
{
	int64_t deadline = clock_monotonic_ms() + 5000;
	while (executor_process_groups(ex, out, n) < n) {
		ck_assert_msg(clock_monotonic_ms() < deadline, "handlers did not start");
		clock_sleep_ms(5);
	}
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

/* Waits until process group pgid has n processes or more, so that sh has started its children. */
static void wait_for_group_size(pid_t pgid, int n)
{
	int64_t deadline = clock_monotonic_ms() + 5000;

	while (group_size(pgid) < n) {
		ck_assert_msg(clock_monotonic_ms() < deadline, "group %d never had %d processes", (int)pgid, n);
		clock_sleep_ms(5);
	}
}

/* Waits until every process of group pgid is gone (zombies count as there). */
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

/* sh, a background sleep and a foreground sleep: three processes in one group. */
#define FAMILY_COMMAND "sh -c 'sleep 30 & sleep 30; wait'"

START_TEST(test_timeout_kills_the_whole_process_group)
{
	struct executor *ex = executor_new(1);
	struct job_thread job = {.ex = ex, .job_id = "j-slow", .type = "h", .timeout_ms = 300};
	char err[256];
	pid_t pgid;

	ck_assert_int_eq(executor_add_handler(ex, "h", FAMILY_COMMAND, err, sizeof(err)), 0);
	start_job_thread(&job);
	wait_for_groups(ex, &pgid, 1);
	wait_for_group_size(pgid, 3);
	pthread_join(job.thread, NULL);
	ck_assert_msg(wait_group_gone(pgid, 2000), "process group %d still has processes", (int)pgid);
	ck_assert_int_eq(job.result.outcome, EXECUTOR_TIMED_OUT);
	ck_assert_ptr_null(job.result.output);
	ck_assert_msg(strstr(job.result.error, "timed out after 3") != NULL, "%s", job.result.error);
	ck_assert_msg(strstr(job.result.error, "(timeout_ms 300): handler 'h' and every process of its "
					       "group were killed") != NULL,
		      "%s", job.result.error);
	ck_assert_int_ge(job.took_ms, 300);
	ck_assert_int_lt(job.took_ms, 3000);
	ck_assert_uint_eq(executor_process_groups(ex, NULL, 0), 0);
	executor_result_clear(&job.result);
	executor_free(ex);
}
END_TEST

START_TEST(test_timeout_ends_a_handler_that_closed_its_pipes)
{
	/* Nothing left to read: only the watchdog can end this one. */
	struct executor *ex = executor_new(1);
	struct executor_result r;
	char err[256];
	int64_t start = clock_monotonic_ms();

	ck_assert_int_eq(executor_add_handler(ex, "h", "sh -c 'exec >&- 2>&- <&-; sleep 30'", err,
					      sizeof(err)),
			 0);
	run_in_slot(ex, "j-quiet", "h", "", 200, &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_TIMED_OUT);
	ck_assert_int_lt(clock_monotonic_ms() - start, 3000);
	executor_result_clear(&r);
	executor_free(ex);
}
END_TEST

START_TEST(test_timeout_ends_a_sleep)
{
	struct executor *ex = executor_new(1);
	struct executor_result r;
	int64_t start = clock_monotonic_ms(), took;

	run_in_slot(ex, "j-nap", "sleep", "60000", 150, &r);
	took = clock_monotonic_ms() - start;
	ck_assert_int_eq(r.outcome, EXECUTOR_TIMED_OUT);
	ck_assert_int_ge(took, 150);
	ck_assert_int_lt(took, 2000);
	ck_assert_msg(strstr(r.error, "(timeout_ms 150): sleep of 60000 ms stopped") != NULL, "%s",
		      r.error);
	ck_assert_msg(strncmp(r.error, "timed out after 15", 18) == 0, "%s", r.error);
	executor_result_clear(&r);
	executor_free(ex);
}
END_TEST

START_TEST(test_job_that_ends_before_its_timeout_is_not_stopped)
{
	struct executor *ex = executor_new(1);
	struct executor_result r;
	char err[256];

	ck_assert_int_eq(executor_add_handler(ex, "h", "tr a-z A-Z", err, sizeof(err)), 0);
	run_in_slot(ex, "j-1", "sleep", "20", 500, &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert_str_eq(r.output, "slept 20 ms");
	executor_result_clear(&r);
	run_in_slot(ex, "j-2", "h", "quick", 500, &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert_str_eq(r.output, "QUICK");
	executor_result_clear(&r);
	run_in_slot(ex, "j-3", "echo", "hi", 500, &r);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert_str_eq(r.output, "hi");
	executor_result_clear(&r);
	executor_free(ex);
}
END_TEST

START_TEST(test_cancel_kills_a_running_handler_group)
{
	struct executor *ex = executor_new(2);
	struct job_thread job = {.ex = ex, .job_id = "j-victim", .type = "h"};
	char err[256];
	pid_t pgid;

	ck_assert_int_eq(executor_add_handler(ex, "h", FAMILY_COMMAND, err, sizeof(err)), 0);
	start_job_thread(&job);
	wait_for_groups(ex, &pgid, 1);
	wait_for_group_size(pgid, 3);
	ck_assert(!executor_cancel(ex, "j-other", 1, "by test"));
	/* Another attempt of the job is another job. */
	ck_assert(!executor_cancel(ex, "j-victim", 2, "by test"));
	ck_assert(executor_cancel(ex, "j-victim", 1, "by test"));
	pthread_join(job.thread, NULL);
	ck_assert_msg(wait_group_gone(pgid, 2000), "process group %d still has processes", (int)pgid);
	ck_assert_int_eq(job.result.outcome, EXECUTOR_CANCELLED);
	ck_assert_msg(strncmp(job.result.error, "cancelled after ", 16) == 0, "%s", job.result.error);
	ck_assert_msg(strstr(job.result.error, " ms (by test): handler 'h' and every process of its "
					       "group were killed") != NULL,
		      "%s", job.result.error);
	ck_assert_int_lt(job.took_ms, 3000);
	/* The executor stays open: a cancel is about one job. */
	ck_assert(!executor_is_closed(ex));
	executor_result_clear(&job.result);
	executor_free(ex);
}
END_TEST

START_TEST(test_cancel_ends_a_sleep_and_a_job_not_started_yet)
{
	struct executor *ex = executor_new(2);
	struct job_thread job = {.ex = ex, .job_id = "j-nap", .type = "sleep", .payload = "60000"};
	struct executor_job *early;
	struct executor_result r;

	start_job_thread(&job);
	wait_for_started(ex, 1);
	ck_assert(executor_cancel(ex, "j-nap", 1, "by test"));
	pthread_join(job.thread, NULL);
	ck_assert_int_eq(job.result.outcome, EXECUTOR_CANCELLED);
	ck_assert_msg(strstr(job.result.error, "(by test): sleep of 60000 ms stopped") != NULL, "%s",
		      job.result.error);
	ck_assert_int_lt(job.took_ms, 2000);
	executor_result_clear(&job.result);

	/* Cancelled between taking its slot and running: it does not start at all. */
	ck_assert_int_eq(executor_try_acquire(ex, "j-early", 1, &early), EXECUTOR_SLOT_TAKEN);
	ck_assert(executor_cancel(ex, "j-early", 1, "by test"));
	executor_run(ex, early, "echo", "never", 0, &r);
	executor_release(ex, early);
	executor_answer_sent(ex);
	ck_assert_int_eq(r.outcome, EXECUTOR_CANCELLED);
	ck_assert_str_eq(r.error, "cancelled after 0 ms (by test): it had not started");
	executor_result_clear(&r);
	executor_free(ex);
}
END_TEST

START_TEST(test_handler_that_exits_by_itself_keeps_its_outcome_after_a_late_cancel)
{
	struct executor *ex = executor_new(1);
	struct executor_job *job;
	struct executor_result r;
	char err[256];

	ck_assert_int_eq(executor_add_handler(ex, "h", "tr a-z A-Z", err, sizeof(err)), 0);
	ck_assert_int_eq(executor_try_acquire(ex, "j-1", 1, &job), EXECUTOR_SLOT_TAKEN);
	executor_run(ex, job, "h", "done", 0, &r);
	/* It ended; the slot is not released yet: a cancel now changes nothing. */
	ck_assert(executor_cancel(ex, "j-1", 1, "too late"));
	executor_release(ex, job);
	executor_answer_sent(ex);
	ck_assert_int_eq(r.outcome, EXECUTOR_OK);
	ck_assert_str_eq(r.output, "DONE");
	executor_result_clear(&r);
	ck_assert(!executor_cancel(ex, "j-1", 1, "gone"));
	executor_free(ex);
}
END_TEST

START_TEST(test_wait_drained_ends_when_jobs_end_or_the_grace_is_over_or_hurried)
{
	struct executor *ex = executor_new(2);
	struct job_thread job = {.ex = ex, .job_id = "j-1", .type = "sleep", .payload = "100"};
	int64_t start;

	/* Nothing runs: drained at once. */
	ck_assert_int_eq(executor_wait_drained(ex, 0), EXECUTOR_DRAINED);
	start_job_thread(&job);
	while (executor_running(ex) < 1)
		clock_sleep_ms(2);
	executor_close(ex);
	/* 0: no grace. */
	ck_assert_int_eq(executor_wait_drained(ex, 0), EXECUTOR_GRACE_OVER);
	start = clock_monotonic_ms();
	ck_assert_int_eq(executor_wait_drained(ex, 5000), EXECUTOR_DRAINED);
	ck_assert_int_lt(clock_monotonic_ms() - start, 2000);
	pthread_join(job.thread, NULL);
	ck_assert_int_eq(job.result.outcome, EXECUTOR_OK);
	executor_result_clear(&job.result);
	executor_free(ex);

	ex = executor_new(1);
	job = (struct job_thread){.ex = ex, .job_id = "j-2", .type = "sleep", .payload = "60000"};
	start_job_thread(&job);
	wait_for_started(ex, 1);
	start = clock_monotonic_ms();
	ck_assert_int_eq(executor_wait_drained(ex, 100), EXECUTOR_GRACE_OVER);
	ck_assert_int_ge(clock_monotonic_ms() - start, 100);
	executor_hurry(ex);
	start = clock_monotonic_ms();
	ck_assert_int_eq(executor_wait_drained(ex, 60000), EXECUTOR_HURRIED);
	ck_assert_int_lt(clock_monotonic_ms() - start, 1000);
	ck_assert_uint_eq(executor_cancel_all(ex, "by test"), 1);
	ck_assert(executor_wait_idle(ex, 3000));
	pthread_join(job.thread, NULL);
	ck_assert_int_eq(job.result.outcome, EXECUTOR_CANCELLED);
	executor_result_clear(&job.result);
	executor_free(ex);
}
END_TEST

START_TEST(test_cancel_all_closes_and_stops_every_job)
{
	struct executor *ex = executor_new(3);
	struct job_thread jobs[3] = {
		{.ex = ex, .job_id = "j-a", .type = "h"},
		{.ex = ex, .job_id = "j-b", .type = "h"},
		{.ex = ex, .job_id = "j-c", .type = "sleep", .payload = "60000"},
	};
	struct executor_job *late;
	char err[256];
	pid_t pgids[2];

	/* sh ignores SIGTERM here: only a SIGKILL ends it. */
	ck_assert_int_eq(executor_add_handler(ex, "h", "sh -c 'trap \"\" TERM; sleep 30 & sleep 30; wait'",
					      err, sizeof(err)),
			 0);
	for (int i = 0; i < 3; i++)
		start_job_thread(&jobs[i]);
	wait_for_groups(ex, pgids, 2);
	wait_for_started(ex, 3);
	ck_assert_uint_eq(executor_cancel_all(ex, "drained"), 3);
	ck_assert(executor_is_closed(ex));
	ck_assert_int_eq(executor_try_acquire(ex, "j-late", 1, &late), EXECUTOR_SLOT_CLOSED);
	ck_assert(executor_wait_idle(ex, 5000));
	for (int i = 0; i < 3; i++) {
		pthread_join(jobs[i].thread, NULL);
		ck_assert_int_eq(jobs[i].result.outcome, EXECUTOR_CANCELLED);
		ck_assert_msg(strstr(jobs[i].result.error, "(drained)") != NULL, "%s", jobs[i].result.error);
		ck_assert_int_lt(jobs[i].took_ms, 3000);
		executor_result_clear(&jobs[i].result);
	}
	ck_assert(wait_group_gone(pgids[0], 2000));
	ck_assert(wait_group_gone(pgids[1], 2000));
	/* Already stopped: a second cancel_all stops nothing. */
	ck_assert_uint_eq(executor_cancel_all(ex, "again"), 0);
	executor_free(ex);
}
END_TEST

static Suite *executor_suite(void)
{
	Suite *s = suite_create("executor");
	TCase *tc;

	tc = tcase_create("builtins");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_echo_outputs_the_payload);
	tcase_add_loop_test(tc, test_sleep_with_whole_milliseconds_sleeps_that_long, 0,
			    (int)(sizeof(sleep_ok_cases) / sizeof(sleep_ok_cases[0])));
	tcase_add_loop_test(tc, test_sleep_with_a_bad_payload_fails_saying_so, 0,
			    (int)(sizeof(sleep_bad_payloads) / sizeof(sleep_bad_payloads[0])));
	tcase_add_test(tc, test_sleep_quotes_a_long_or_binary_payload_as_valid_utf8);
	tcase_add_test(tc, test_unknown_type_fails);
	suite_add_tcase(s, tc);

	tc = tcase_create("handlers");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_handler_cat_echoes_stdin);
	tcase_add_test(tc, test_handler_with_empty_payload_sees_end_of_file);
	tcase_add_test(tc, test_handler_exiting_non_zero_fails_with_status_and_stderr);
	tcase_add_test(tc, test_handler_killed_by_a_signal_fails_naming_the_signal);
	tcase_add_test(tc, test_handler_stderr_keeps_only_the_tail);
	tcase_add_test(tc, test_handler_stderr_that_is_not_utf8_is_cleaned);
	tcase_add_test(tc, test_handler_output_over_1_mib_is_capped);
	tcase_add_test(tc, test_handler_output_cut_at_the_cap_keeps_whole_utf8_characters);
	tcase_add_test(tc, test_handler_large_payload_into_cat_does_not_deadlock);
	tcase_add_test(tc, test_handler_that_ignores_its_input_succeeds);
	tcase_add_test(tc, test_handler_leaves_no_processes_behind_when_it_exits);
	tcase_add_test(tc, test_handler_whose_program_vanished_fails_to_start);
	suite_add_tcase(s, tc);

	tc = tcase_create("handler table");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_handlers_are_checked_before_they_are_added, 0,
			    (int)(sizeof(handler_cases) / sizeof(handler_cases[0])));
	tcase_add_test(tc, test_handler_type_defined_twice_is_refused);
	tcase_add_test(tc, test_type_list_names_builtins_then_handlers);
	suite_add_tcase(s, tc);

	tc = tcase_create("slots");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_acquire_beyond_capacity_fails);
	tcase_add_test(tc, test_acquire_after_close_is_refused);
	tcase_add_test(tc, test_capacity_outside_1_to_1024_is_refused);
	tcase_add_test(tc, test_wait_idle_times_out_while_a_slot_is_taken);
	suite_add_tcase(s, tc);

	tc = tcase_create("stopping");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_timeout_kills_the_whole_process_group);
	tcase_add_test(tc, test_timeout_ends_a_handler_that_closed_its_pipes);
	tcase_add_test(tc, test_timeout_ends_a_sleep);
	tcase_add_test(tc, test_job_that_ends_before_its_timeout_is_not_stopped);
	tcase_add_test(tc, test_cancel_kills_a_running_handler_group);
	tcase_add_test(tc, test_cancel_ends_a_sleep_and_a_job_not_started_yet);
	tcase_add_test(tc, test_handler_that_exits_by_itself_keeps_its_outcome_after_a_late_cancel);
	tcase_add_test(tc, test_wait_drained_ends_when_jobs_end_or_the_grace_is_over_or_hurried);
	tcase_add_test(tc, test_cancel_all_closes_and_stops_every_job);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(executor_suite)
