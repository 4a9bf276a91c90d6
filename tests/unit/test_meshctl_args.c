#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "cmd.h"
#include "options.h"

#define ARGS_MAX 24

/* Runs options_parse on "meshctl" followed by args (NULL-ended). */
static enum options_result parse(const char *env, const char *const *args, struct options *out,
				 char *err, size_t err_size)
{
	char *argv[ARGS_MAX + 2];
	int argc = 0;

	argv[argc++] = "meshctl";
	for (size_t i = 0; args[i] != NULL; i++) {
		ck_assert_int_lt(argc, ARGS_MAX);
		argv[argc++] = (char *)args[i];
	}
	argv[argc] = NULL;
	return options_parse(argc, argv, env, out, err, err_size);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

struct usage_case {
	const char *args[ARGS_MAX];
	const char *error_mentions;
	const char *command; /* the command named in the usage that follows, or NULL */
};

static const struct usage_case usage_cases[] = {
	{{NULL}, "no command given", NULL},
	{{"--json"}, "no command given", NULL},
	{{"frob"}, "unknown command 'frob'", NULL},
	{{"Jobs"}, "unknown command 'Jobs'", NULL},
	{{"--bogus", "jobs"}, "unknown option '--bogus'", "jobs"},
	{{"jobs", "--bogus=1"}, "unknown option '--bogus'", "jobs"},
	{{"-x", "nodes"}, "unknown option '-x'", "nodes"},
	{{"jobs", "--t", "x"}, "option '--t' is ambiguous (--timeout, --type)", "jobs"},
	{{"--json=yes", "nodes"}, "option '--json' does not take a value", "nodes"},
	{{"submit", "echo", "x", "--wait=1"}, "option '--wait' does not take a value", "submit"},
	{{"jobs", "--limit"}, "option '--limit' needs a value: --limit N", "jobs"},
	{{"nodes", "--coordinator"}, "option '--coordinator' needs a value: --coordinator URL", "nodes"},
	{{"submit"}, "'submit' needs TYPE and PAYLOAD", "submit"},
	{{"submit", "echo"}, "'submit' needs PAYLOAD", "submit"},
	{{"submit", "echo", "hello", "world"}, "unexpected argument 'world': 'submit' takes only TYPE and PAYLOAD", "submit"},
	{{"submit", "echo", "a", "b", "c"}, "unexpected argument 'b'", "submit"},
	{{"job"}, "'job' needs ID", "job"},
	{{"job", "j-1", "j-2"}, "unexpected argument 'j-2': 'job' takes only ID", "job"},
	{{"nodes", "extra"}, "unexpected argument 'extra': 'nodes' takes none", "nodes"},
	{{"jobs", "queued"}, "unexpected argument 'queued': 'jobs' takes none", "jobs"},
	{{"nodes", "--wait"}, "option '--wait' does not apply to 'nodes'", "nodes"},
	{{"jobs", "--timeout", "5"}, "option '--timeout' does not apply to 'jobs'", "jobs"},
	{{"--status", "QUEUED", "submit", "echo", "x"}, "option '--status' does not apply to 'submit'", "submit"},
	{{"job", "j-1", "--limit", "3"}, "option '--limit' does not apply to 'job'", "job"},
	{{"submit", "echo", "x", "--timeout", "5"}, "'--timeout' only applies with --wait", "submit"},
	{{"submit", "echo", "x", "--wait", "--timeout", "0"}, "--timeout '0' must be a number of seconds", "submit"},
	{{"submit", "echo", "x", "--wait", "--timeout", "-1"}, "--timeout '-1'", "submit"},
	{{"submit", "echo", "x", "--wait", "--timeout", "86401"}, "at most 86400", "submit"},
	{{"submit", "echo", "x", "--wait", "--timeout", "1e3"}, "--timeout '1e3'", "submit"},
	{{"submit", "echo", "x", "--wait", "--timeout", "abc"}, "--timeout 'abc'", "submit"},
	{{"submit", "bad type", "x"}, "TYPE 'bad type' is not valid", "submit"},
	{{"submit", "", "x"}, "TYPE '' is not valid", "submit"},
	{{"submit", "echo", "\xff\xfe"}, "PAYLOAD is not valid UTF-8", "submit"},
	{{"job", ""}, "ID is empty", "job"},
	{{"jobs", "--status", "done"}, "--status 'done' is not a job status (QUEUED, RUNNING, COMPLETED, FAILED or CANCELLED)", "jobs"},
	{{"jobs", "--status", ""}, "--status '' is not a job status", "jobs"},
	{{"jobs", "--status", "QUEUEDQUEUEDQUEUEDQUEUED"}, "is not a job status", "jobs"},
	{{"jobs", "--node", ""}, "--node is empty", "jobs"},
	{{"jobs", "--type", "a/b"}, "--type 'a/b' is not valid", "jobs"},
	{{"jobs", "--limit", "0"}, "--limit '0' must be a whole number from 1 to 10000", "jobs"},
	{{"jobs", "--limit", "10001"}, "--limit '10001'", "jobs"},
	{{"jobs", "--limit", "5x"}, "--limit '5x'", "jobs"},
	{{"jobs", "--limit", " 5"}, "--limit ' 5'", "jobs"},
	{{"jobs", "--coordinator", "ftp://h:1"}, "--coordinator 'ftp://h:1' is not a coordinator URL", "jobs"},
	{{"jobs", "--coordinator", "host"}, "no port", "jobs"},
	{{"jobs", "--coordinator", ""}, "--coordinator '' is not a coordinator URL", "jobs"},
	{{"frob"}, "unknown command 'frob' (commands: submit, jobs, job, cancel, nodes, drain)", NULL},
	/* submit's job options */
	{{"submit", "echo", "x", "--timeout", "5"}, "(it limits the wait; --job-timeout-ms limits the job)", "submit"},
	{{"submit", "echo", "x", "--priority", "urgent"}, "--priority 'urgent' must be high, normal or low", "submit"},
	{{"submit", "echo", "x", "--priority", ""}, "--priority '' must be high, normal or low", "submit"},
	{{"submit", "echo", "x", "--priority", "highhighhighhighhigh"}, "--priority 'highhighhighhighhigh'", "submit"},
	{{"submit", "echo", "x", "--priority"}, "option '--priority' needs a value: --priority high|normal|low", "submit"},
	{{"submit", "echo", "x", "--job-timeout-ms", "0"}, "--job-timeout-ms '0' must be a whole number of milliseconds from 1 to 604800000", "submit"},
	{{"submit", "echo", "x", "--job-timeout-ms", "604800001"}, "--job-timeout-ms '604800001'", "submit"},
	{{"submit", "echo", "x", "--job-timeout-ms", "1.5"}, "--job-timeout-ms '1.5'", "submit"},
	{{"submit", "echo", "x", "--job-timeout-ms", "-5"}, "--job-timeout-ms '-5'", "submit"},
	{{"submit", "echo", "x", "--max-attempts", "0"}, "--max-attempts '0' must be a whole number from 1 to 100", "submit"},
	{{"submit", "echo", "x", "--max-attempts", "101"}, "--max-attempts '101'", "submit"},
	{{"submit", "echo", "x", "--max-attempts", "three"}, "--max-attempts 'three'", "submit"},
	{{"submit", "echo", "x", "--retry-on-failure=yes"}, "option '--retry-on-failure' does not take a value", "submit"},
	{{"submit", "echo", "x", "--backoff-base-ms", "0"}, "--backoff-base-ms '0' must be a whole number of milliseconds from 1 to 86400000", "submit"},
	{{"submit", "echo", "x", "--backoff-cap-ms", "86400001"}, "--backoff-cap-ms '86400001' must be a whole number of milliseconds from 1 to 86400000", "submit"},
	{{"submit", "echo", "x", "--backoff-base-ms", "5000", "--backoff-cap-ms", "1000"}, "--backoff-base-ms 5000 must not be more than --backoff-cap-ms 1000", "submit"},
	{{"submit", "echo", "x", "--backoff", "5"}, "option '--backoff' is ambiguous (--backoff-base-ms, --backoff-cap-ms)", "submit"},
	{{"submit", "echo", "x", "--idempotency-key", ""}, "--idempotency-key must be 1 to 128 bytes (got 0)", "submit"},
	{{"submit", "echo", "x", "--idempotency-key", "k\tey"}, "--idempotency-key must not contain control characters (byte 2 is 0x09)", "submit"},
	{{"submit", "echo", "x", "--idempotency-key", "key\x7f"}, "must not contain control characters (byte 4 is 0x7f)", "submit"},
	{{"submit", "echo", "x", "--idempotency-key", "\xff"}, "--idempotency-key is not valid UTF-8 text", "submit"},
	{{"jobs", "--priority", "high"}, "option '--priority' does not apply to 'jobs'", "jobs"},
	{{"drain", "n-1", "--max-attempts", "2"}, "option '--max-attempts' does not apply to 'drain'", "drain"},
	{{"cancel", "j-1", "--retry-on-failure"}, "option '--retry-on-failure' does not apply to 'cancel'", "cancel"},
	/* cancel and drain */
	{{"cancel"}, "'cancel' needs ID", "cancel"},
	{{"cancel", ""}, "ID is empty", "cancel"},
	{{"cancel", "j-1", "j-2"}, "unexpected argument 'j-2': 'cancel' takes only ID", "cancel"},
	{{"cancel", "j-1", "--wait"}, "option '--wait' does not apply to 'cancel'", "cancel"},
	{{"drain"}, "'drain' needs NODE", "drain"},
	{{"drain", ""}, "NODE is empty", "drain"},
	{{"drain", "a", "b"}, "unexpected argument 'b': 'drain' takes only NODE", "drain"},
	{{"drain", "a", "--timeout", "5"}, "option '--timeout' only applies with --wait", "drain"},
	{{"drain", "a", "--wait", "--timeout", "0"}, "--timeout '0' must be a number of seconds", "drain"},
	{{"drain", "a", "--status", "QUEUED"}, "option '--status' does not apply to 'drain'", "drain"},
};

START_TEST(test_meshctl_args_usage_errors_table)
{
	const struct usage_case *c = &usage_cases[_i];
	struct options options;
	char err[512] = "";
	enum options_result result = parse(NULL, c->args, &options, err, sizeof(err));

	ck_assert_msg(result == OPTIONS_USAGE, "case %d: result %d, want OPTIONS_USAGE", _i, result);
	ck_assert_msg(strstr(err, c->error_mentions) != NULL, "case %d: error '%s' lacks '%s'", _i, err,
		      c->error_mentions);
	if (c->command == NULL)
		ck_assert_ptr_null(options.command);
	else
		ck_assert_msg(options.command != NULL && strcmp(options.command->name, c->command) == 0,
			      "case %d: usage should be for '%s'", _i, c->command);
}
END_TEST

START_TEST(test_meshctl_args_submit_with_defaults)
{
	struct options o;
	char err[256];

	ck_assert_int_eq(parse(NULL, ARGS("submit", "echo", "hello world"), &o, err, sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_ptr_eq(o.command, &cmd_submit_entry);
	ck_assert_uint_eq(o.arg_count, 2);
	ck_assert_str_eq(o.args[0], "echo");
	ck_assert_str_eq(o.args[1], "hello world");
	ck_assert(!o.wait);
	ck_assert(!o.json);
	ck_assert_int_eq(o.timeout_ms, 60000);
	ck_assert_str_eq(o.coordinator, "http://localhost:8080");
}
END_TEST

START_TEST(test_meshctl_args_submit_sends_no_job_option_not_given)
{
	struct options o;
	char err[256];
	const struct job_submission *s = &o.submission;

	ck_assert_int_eq(parse(NULL, ARGS("submit", "echo", "hi"), &o, err, sizeof(err)), OPTIONS_RUN);
	ck_assert_str_eq(s->type, "echo");
	ck_assert_str_eq(s->payload, "hi");
	ck_assert(!s->has_priority);
	ck_assert_int_eq(s->timeout_ms, 0);
	ck_assert_int_eq(s->max_attempts, 0);
	ck_assert(!s->has_retry_on_failure);
	ck_assert_int_eq(s->backoff_base_ms, 0);
	ck_assert_int_eq(s->backoff_cap_ms, 0);
	ck_assert_ptr_null(s->idempotency_key);
}
END_TEST

START_TEST(test_meshctl_args_submit_job_options)
{
	struct options o;
	char err[256];
	const struct job_submission *s = &o.submission;

	ck_assert_int_eq(parse(NULL,
			       ARGS("submit", "--priority", "HIGH", "echo", "hi", "--job-timeout-ms",
				    "604800000", "--max-attempts=100", "--retry-on-failure",
				    "--backoff-base-ms", "1000", "--backoff-cap-ms", "1000",
				    "--idempotency-key", "order 42/\xc3\xa9", "--wait", "--timeout", "9"),
			       &o, err, sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_str_eq(s->type, "echo");
	ck_assert_str_eq(s->payload, "hi");
	ck_assert(s->has_priority);
	ck_assert_int_eq(s->priority, JOB_PRIORITY_HIGH);
	ck_assert_int_eq(s->timeout_ms, 604800000);
	ck_assert_int_eq(s->max_attempts, 100);
	ck_assert(s->has_retry_on_failure && s->retry_on_failure);
	ck_assert_int_eq(s->backoff_base_ms, 1000);
	ck_assert_int_eq(s->backoff_cap_ms, 1000);
	ck_assert_str_eq(s->idempotency_key, "order 42/\xc3\xa9");
	ck_assert(o.wait);
	ck_assert_int_eq(o.timeout_ms, 9000);

	/* The limits themselves are accepted; a base alone or a cap alone too. */
	ck_assert_int_eq(parse(NULL,
			       ARGS("submit", "echo", "hi", "--priority", "low", "--job-timeout-ms", "1",
				    "--max-attempts", "1", "--backoff-cap-ms", "86400000"),
			       &o, err, sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_int_eq(s->priority, JOB_PRIORITY_LOW);
	ck_assert_int_eq(s->timeout_ms, 1);
	ck_assert_int_eq(s->max_attempts, 1);
	ck_assert_int_eq(s->backoff_base_ms, 0);
	ck_assert_int_eq(s->backoff_cap_ms, 86400000);
	ck_assert(!s->has_retry_on_failure);

	/* A key of exactly 128 bytes is the longest there is. */
	char key[130];
	memset(key, 'k', 128);
	key[128] = '\0';
	ck_assert_int_eq(parse(NULL, ARGS("submit", "echo", "hi", "--idempotency-key", key), &o, err,
			       sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_uint_eq(strlen(s->idempotency_key), 128);
	key[128] = 'k';
	key[129] = '\0';
	ck_assert_int_eq(parse(NULL, ARGS("submit", "echo", "hi", "--idempotency-key", key), &o, err,
			       sizeof(err)),
			 OPTIONS_USAGE);
	ck_assert_str_eq(err, "--idempotency-key must be 1 to 128 bytes (got 129)");
}
END_TEST

START_TEST(test_meshctl_args_cancel_and_drain)
{
	struct options o;
	char err[256];

	ck_assert_int_eq(parse(NULL, ARGS("cancel", "j-4f1c0a9b2e3d", "--json"), &o, err, sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_ptr_eq(o.command, &cmd_cancel_entry);
	ck_assert_str_eq(o.args[0], "j-4f1c0a9b2e3d");
	ck_assert(o.json);

	ck_assert_int_eq(parse(NULL, ARGS("drain", "agent-1"), &o, err, sizeof(err)), OPTIONS_RUN);
	ck_assert_ptr_eq(o.command, &cmd_drain_entry);
	ck_assert_str_eq(o.args[0], "agent-1");
	ck_assert(!o.wait);
	ck_assert_int_eq(o.timeout_ms, 60000);

	ck_assert_int_eq(parse(NULL, ARGS("drain", "--wait", "n-0b7e5c1d9a2f", "--timeout", "0.25"), &o,
			       err, sizeof(err)),
			 OPTIONS_RUN);
	ck_assert(o.wait);
	ck_assert_int_eq(o.timeout_ms, 250);
}
END_TEST

START_TEST(test_meshctl_args_options_go_before_or_after_the_command)
{
	struct options o;
	char err[256];

	ck_assert_int_eq(parse(NULL,
			       ARGS("--json", "submit", "--timeout", "2.5", "echo", "--wait", "hi",
				    "--coordinator", "http://127.0.0.1:9/"),
			       &o, err, sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_ptr_eq(o.command, &cmd_submit_entry);
	ck_assert_str_eq(o.args[0], "echo");
	ck_assert_str_eq(o.args[1], "hi");
	ck_assert(o.json);
	ck_assert(o.wait);
	ck_assert_int_eq(o.timeout_ms, 2500);
	ck_assert_str_eq(o.coordinator, "http://127.0.0.1:9");
}
END_TEST

START_TEST(test_meshctl_args_double_dash_lets_payload_start_with_dash)
{
	struct options o;
	char err[256];

	ck_assert_int_eq(parse(NULL, ARGS("submit", "--wait", "echo", "--", "-n"), &o, err, sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_str_eq(o.args[1], "-n");
	ck_assert(o.wait);
	ck_assert_int_eq(parse(NULL, ARGS("submit", "echo", "--", "--wait"), &o, err, sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_str_eq(o.args[1], "--wait");
	ck_assert(!o.wait);
	/* A lone "-" is an argument, not an option. */
	ck_assert_int_eq(parse(NULL, ARGS("submit", "echo", "-"), &o, err, sizeof(err)), OPTIONS_RUN);
	ck_assert_str_eq(o.args[1], "-");
	ck_assert_int_eq(parse(NULL, ARGS("submit", "echo", "-n"), &o, err, sizeof(err)), OPTIONS_USAGE);
	ck_assert_str_eq(err, "unknown option '-n'");
}
END_TEST

START_TEST(test_meshctl_args_argv_is_not_reordered)
{
	char *argv[] = {"meshctl", "submit", "echo", "--wait", "x", NULL};
	char *copy[6];
	struct options o;
	char err[256];

	memcpy(copy, argv, sizeof(argv));
	ck_assert_int_eq(options_parse(5, argv, NULL, &o, err, sizeof(err)), OPTIONS_RUN);
	for (int i = 0; i < 6; i++)
		ck_assert_ptr_eq(argv[i], copy[i]);
}
END_TEST

START_TEST(test_meshctl_args_jobs_filters)
{
	struct options o;
	char err[256];

	ck_assert_int_eq(parse(NULL,
			       ARGS("jobs", "--status", "completed", "--node", "n-0b7e5c1d9a2f",
				    "--type", "echo", "--limit=25"),
			       &o, err, sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_ptr_eq(o.command, &cmd_jobs_entry);
	ck_assert(o.has_status);
	ck_assert_int_eq(o.status, JOB_COMPLETED);
	ck_assert_str_eq(o.node_id, "n-0b7e5c1d9a2f");
	ck_assert_str_eq(o.type, "echo");
	ck_assert_int_eq(o.limit, 25);

	ck_assert_int_eq(parse(NULL, ARGS("jobs"), &o, err, sizeof(err)), OPTIONS_RUN);
	ck_assert(!o.has_status);
	ck_assert_ptr_null(o.node_id);
	ck_assert_ptr_null(o.type);
	ck_assert_int_eq(o.limit, 0);

	/* The last of a repeated option wins; case does not matter for --status. */
	ck_assert_int_eq(parse(NULL, ARGS("jobs", "--status", "queued", "--status", "FaIlEd"), &o, err,
			       sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_int_eq(o.status, JOB_FAILED);
}
END_TEST

START_TEST(test_meshctl_args_job_and_nodes)
{
	struct options o;
	char err[256];

	ck_assert_int_eq(parse(NULL, ARGS("job", "j-4f1c0a9b2e3d", "--json"), &o, err, sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_ptr_eq(o.command, &cmd_job_entry);
	ck_assert_str_eq(o.args[0], "j-4f1c0a9b2e3d");
	ck_assert(o.json);
	ck_assert_int_eq(parse(NULL, ARGS("nodes"), &o, err, sizeof(err)), OPTIONS_RUN);
	ck_assert_ptr_eq(o.command, &cmd_nodes_entry);
	ck_assert_uint_eq(o.arg_count, 0);
}
END_TEST

START_TEST(test_meshctl_args_coordinator_flag_beats_env_beats_default)
{
	struct options o;
	char err[256];

	ck_assert_int_eq(parse("http://env:1", ARGS("nodes"), &o, err, sizeof(err)), OPTIONS_RUN);
	ck_assert_str_eq(o.coordinator, "http://env:1");
	ck_assert_int_eq(parse("http://env:1", ARGS("nodes", "--coordinator", "flag:2"), &o, err,
			       sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_str_eq(o.coordinator, "http://flag:2");
	/* An empty variable counts as unset. */
	ck_assert_int_eq(parse("", ARGS("nodes"), &o, err, sizeof(err)), OPTIONS_RUN);
	ck_assert_str_eq(o.coordinator, "http://localhost:8080");
	ck_assert_int_eq(parse(NULL, ARGS("nodes", "--coordinator", "https://mesh.example/api/"), &o, err,
			       sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_str_eq(o.coordinator, "https://mesh.example/api");
	/* A bad variable is named as such; a good flag hides it. */
	ck_assert_int_eq(parse("nonsense", ARGS("nodes"), &o, err, sizeof(err)), OPTIONS_USAGE);
	ck_assert_ptr_nonnull(strstr(err, "MESH_COORDINATOR 'nonsense' is not a coordinator URL"));
	ck_assert_int_eq(parse("nonsense", ARGS("nodes", "--coordinator", ":8080"), &o, err, sizeof(err)),
			 OPTIONS_RUN);
	ck_assert_str_eq(o.coordinator, "http://localhost:8080");
}
END_TEST

START_TEST(test_meshctl_args_help_and_version_win)
{
	struct options o;
	char err[256];

	ck_assert_int_eq(parse(NULL, ARGS("--help"), &o, err, sizeof(err)), OPTIONS_HELP);
	ck_assert_ptr_null(o.command);
	ck_assert_int_eq(parse(NULL, ARGS("-h"), &o, err, sizeof(err)), OPTIONS_HELP);
	ck_assert_int_eq(parse(NULL, ARGS("submit", "--help"), &o, err, sizeof(err)), OPTIONS_HELP);
	ck_assert_ptr_eq(o.command, &cmd_submit_entry);
	ck_assert_int_eq(parse(NULL, ARGS("--bogus", "nodes", "x", "--help"), &o, err, sizeof(err)),
			 OPTIONS_HELP);
	ck_assert_int_eq(parse(NULL, ARGS("frob", "--help"), &o, err, sizeof(err)), OPTIONS_HELP);
	ck_assert_ptr_null(o.command);
	ck_assert_int_eq(parse(NULL, ARGS("--version"), &o, err, sizeof(err)), OPTIONS_VERSION);
	ck_assert_int_eq(parse(NULL, ARGS("--version", "--help"), &o, err, sizeof(err)), OPTIONS_HELP);
	ck_assert_int_eq(parse(NULL, ARGS("jobs", "--limit", "0", "--version"), &o, err, sizeof(err)),
			 OPTIONS_VERSION);
}
END_TEST

START_TEST(test_meshctl_args_can_be_parsed_again)
{
	struct options o;
	char err[256];

	/* getopt keeps state between calls: each parse must start afresh. */
	ck_assert_int_eq(parse(NULL, ARGS("jobs", "--bogus"), &o, err, sizeof(err)), OPTIONS_USAGE);
	ck_assert_int_eq(parse(NULL, ARGS("jobs", "--limit", "3"), &o, err, sizeof(err)), OPTIONS_RUN);
	ck_assert_int_eq(o.limit, 3);
	ck_assert_int_eq(parse(NULL, ARGS("job", "j-1"), &o, err, sizeof(err)), OPTIONS_RUN);
	ck_assert_str_eq(o.args[0], "j-1");
}
END_TEST

struct seconds_case {
	const char *text;
	int64_t ms; /* -1: rejected */
};

static const struct seconds_case seconds_cases[] = {
	{"60", 60000},    {"1", 1000},        {"0.5", 500},         {".25", 250},
	{"2.", 2000},     {"0.001", 1},       {"0.0001", 1},        {"1.0005", 1001},
	{"1.5000", 1500}, {"86400", 86400000}, {"86400.0", 86400000}, {"007", 7000},
	{"0", -1},        {"0.0", -1},        {"0.0000", -1},       {"86400.001", -1},
	{"86401", -1},    {"99999999999999999999", -1},             {"", -1},
	{".", -1},        {"-1", -1},         {"+1", -1},           {" 1", -1},
	{"1 ", -1},       {"1e3", -1},        {"0x10", -1},         {"inf", -1},
	{"nan", -1},      {"1,5", -1},        {"1.2.3", -1},
};

START_TEST(test_meshctl_args_timeout_seconds_table)
{
	const struct seconds_case *c = &seconds_cases[_i];
	int64_t ms = -1;
	int rc = options_parse_seconds(c->text, &ms);

	if (c->ms < 0) {
		ck_assert_msg(rc == -1, "'%s' accepted as %lld ms", c->text, (long long)ms);
	} else {
		ck_assert_msg(rc == 0, "'%s' rejected", c->text);
		ck_assert_msg(ms == c->ms, "'%s' = %lld ms, want %lld", c->text, (long long)ms,
			      (long long)c->ms);
	}
}
END_TEST

/* Prints with fn into a new string (free()). */
static char *capture_help(void (*fn)(FILE *, const struct cmd_entry *), const struct cmd_entry *cmd)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	ck_assert_ptr_nonnull(out);
	fn(out, cmd);
	ck_assert_int_eq(fclose(out), 0);
	return text;
}

START_TEST(test_meshctl_args_help_lists_commands_and_exit_statuses)
{
	char *help = capture_help(options_print_help, NULL);

	for (size_t i = 0; cmd_table[i] != NULL; i++)
		ck_assert_ptr_nonnull(strstr(help, cmd_table[i]->usage));
	ck_assert_ptr_nonnull(strstr(help, "--coordinator URL"));
	ck_assert_ptr_nonnull(strstr(help, "$MESH_COORDINATOR"));
	ck_assert_ptr_nonnull(strstr(help, "--json"));
	ck_assert_ptr_nonnull(strstr(help, "  0  success"));
	ck_assert_ptr_nonnull(strstr(help, "  1  the job FAILED or was CANCELLED (submit --wait); the job had already\n"
					   "     finished, so nothing was cancelled (cancel)"));
	ck_assert_ptr_nonnull(strstr(help, "  2  the wait timed out (submit --wait, drain --wait)"));
	ck_assert_ptr_nonnull(strstr(help, "  3  usage error"));
	ck_assert_ptr_nonnull(strstr(help, "  4  the coordinator could not be reached"));
	free(help);

	help = capture_help(options_print_help, &cmd_jobs_entry);
	ck_assert_ptr_nonnull(strstr(help, "Usage: meshctl jobs [--status S]"));
	ck_assert_ptr_nonnull(strstr(help, "--limit N"));
	ck_assert_ptr_nonnull(strstr(help, "COMPLETED, FAILED or\n              CANCELLED"));
	free(help);

	/* Every option a command takes is in its help. */
	help = capture_help(options_print_help, &cmd_submit_entry);
	static const char *const submit_options[] = {
		"--wait", "--timeout SECONDS", "--priority high|normal|low", "--job-timeout-ms N",
		"--max-attempts N", "--retry-on-failure", "--backoff-base-ms N", "--backoff-cap-ms N",
		"--idempotency-key KEY", "1 if\n                       it FAILED or was CANCELLED"};
	for (size_t i = 0; i < sizeof(submit_options) / sizeof(submit_options[0]); i++)
		ck_assert_msg(strstr(help, submit_options[i]) != NULL, "submit help lacks %s",
			      submit_options[i]);
	free(help);

	help = capture_help(options_print_help, &cmd_drain_entry);
	ck_assert_ptr_nonnull(strstr(help, "Usage: meshctl drain NODE [--wait] [--timeout SECONDS]"));
	ck_assert_ptr_nonnull(strstr(help, "DRAINED"));
	free(help);

	help = capture_help(options_print_help, &cmd_cancel_entry);
	ck_assert_ptr_nonnull(strstr(help, "Usage: meshctl cancel ID"));
	ck_assert_ptr_nonnull(strstr(help, "1 if it had already finished"));
	free(help);
}
END_TEST

START_TEST(test_meshctl_args_usage_names_the_command)
{
	char *usage = capture_help(options_print_usage, &cmd_job_entry);

	ck_assert_str_eq(usage, "Usage: meshctl job ID\nRun 'meshctl job --help' for details.\n");
	free(usage);
	usage = capture_help(options_print_usage, &cmd_nodes_entry);
	ck_assert_str_eq(usage, "Usage: meshctl nodes\nRun 'meshctl nodes --help' for details.\n");
	free(usage);
	usage = capture_help(options_print_usage, NULL);
	for (size_t i = 0; cmd_table[i] != NULL; i++)
		ck_assert_ptr_nonnull(strstr(usage, cmd_table[i]->name));
	free(usage);
}
END_TEST

START_TEST(test_meshctl_args_every_command_is_in_the_table)
{
	ck_assert_ptr_eq(cmd_find("submit"), &cmd_submit_entry);
	ck_assert_ptr_eq(cmd_find("jobs"), &cmd_jobs_entry);
	ck_assert_ptr_eq(cmd_find("job"), &cmd_job_entry);
	ck_assert_ptr_eq(cmd_find("nodes"), &cmd_nodes_entry);
	ck_assert_ptr_eq(cmd_find("cancel"), &cmd_cancel_entry);
	ck_assert_ptr_eq(cmd_find("drain"), &cmd_drain_entry);
	ck_assert_uint_eq(cmd_arg_count(&cmd_cancel_entry), 1);
	ck_assert_uint_eq(cmd_arg_count(&cmd_drain_entry), 1);
	ck_assert_ptr_null(cmd_find("node"));
	ck_assert_ptr_null(cmd_find(""));
	ck_assert_uint_eq(cmd_arg_count(&cmd_submit_entry), 2);
	ck_assert_uint_eq(cmd_arg_count(&cmd_nodes_entry), 0);
	for (size_t i = 0; cmd_table[i] != NULL; i++) {
		ck_assert_ptr_nonnull(cmd_table[i]->exec);
		ck_assert_uint_le(cmd_arg_count(cmd_table[i]), OPTIONS_ARGS_MAX);
	}
}
END_TEST

static Suite *meshctl_args_suite(void)
{
	Suite *s = suite_create("meshctl_args");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_meshctl_args_usage_errors_table, 0,
			    (int)(sizeof(usage_cases) / sizeof(usage_cases[0])));
	tcase_add_test(tc, test_meshctl_args_submit_with_defaults);
	tcase_add_test(tc, test_meshctl_args_submit_sends_no_job_option_not_given);
	tcase_add_test(tc, test_meshctl_args_submit_job_options);
	tcase_add_test(tc, test_meshctl_args_cancel_and_drain);
	tcase_add_test(tc, test_meshctl_args_options_go_before_or_after_the_command);
	tcase_add_test(tc, test_meshctl_args_double_dash_lets_payload_start_with_dash);
	tcase_add_test(tc, test_meshctl_args_argv_is_not_reordered);
	tcase_add_test(tc, test_meshctl_args_jobs_filters);
	tcase_add_test(tc, test_meshctl_args_job_and_nodes);
	tcase_add_test(tc, test_meshctl_args_coordinator_flag_beats_env_beats_default);
	tcase_add_test(tc, test_meshctl_args_help_and_version_win);
	tcase_add_test(tc, test_meshctl_args_can_be_parsed_again);
	tcase_add_loop_test(tc, test_meshctl_args_timeout_seconds_table, 0,
			    (int)(sizeof(seconds_cases) / sizeof(seconds_cases[0])));
	tcase_add_test(tc, test_meshctl_args_help_lists_commands_and_exit_statuses);
	tcase_add_test(tc, test_meshctl_args_usage_names_the_command);
	tcase_add_test(tc, test_meshctl_args_every_command_is_in_the_table);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(meshctl_args_suite)
