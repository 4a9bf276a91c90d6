/*
 * coordinator_config_parse: defaults, each ranged flag at and beyond its
 * bounds, --listen, and the outcomes other than running.
 */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "coordinator_config.h"

#define MAX_ARGS 16

/* Parses the NULL-ended arguments after the program name. */
static enum config_outcome parse(struct coordinator_config *config, char *err, size_t err_size,
				 const char *const *args)
{
	char *argv[MAX_ARGS + 2];
	char copies[MAX_ARGS + 1][1024];
	int argc = 0;

	snprintf(copies[0], sizeof(copies[0]), "mesh-coordinator");
	argv[argc] = copies[argc];
	argc++;
	for (; args[argc - 1] != NULL; argc++) {
		ck_assert_int_le(argc, MAX_ARGS);
		snprintf(copies[argc], sizeof(copies[argc]), "%s", args[argc - 1]);
		argv[argc] = copies[argc];
	}
	argv[argc] = NULL;
	err[0] = '\0';
	return coordinator_config_parse(argc, argv, config, err, err_size);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NO_ARGS ((const char *const[]){NULL})

START_TEST(test_coordinator_config_defaults)
{
	struct coordinator_config config;
	char err[512];

	ck_assert_int_eq(parse(&config, err, sizeof(err), NO_ARGS), CONFIG_RUN);
	ck_assert_str_eq(config.listen, "0.0.0.0:8080");
	ck_assert_int_eq(config.probe_interval_ms, 1000);
	ck_assert_int_eq(config.probe_timeout_ms, 1000);
	ck_assert_int_eq(config.unhealthy_after, 3);
	ck_assert_int_eq(config.default_timeout_ms, 3600000);
	ck_assert_int_eq(config.timeout_grace_ms, 5000);
	ck_assert_int_eq(config.default_max_attempts, 1);
	ck_assert_int_eq(config.retry_base_ms, 1000);
	ck_assert_int_eq(config.retry_cap_ms, 60000);
	ck_assert_int_eq(config.lost_after_ms, 5000);
	ck_assert_int_eq(config.priority_aging_ms, 30000);
	ck_assert_int_eq(config.retention_ms, 7L * 24 * 3600 * 1000);
	ck_assert_int_eq(config.connect_timeout_ms, 3000);
	ck_assert_int_eq(config.max_body_bytes, 1048576);
	ck_assert_int_eq(config.http_threads, 512);
	ck_assert_int_eq(config.max_waiting, 384);
	ck_assert_int_eq(config.log_level, LOG_INFO);
	ck_assert_int_eq(config.store, COORDINATOR_STORE_SQLITE);
	ck_assert_str_eq(config.data_dir, "./mesh-data");
}
END_TEST

START_TEST(test_coordinator_config_probe_timeout_defaults_to_the_interval)
{
	struct coordinator_config config;
	char err[512];

	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--probe-interval-ms", "250")), CONFIG_RUN);
	ck_assert_int_eq(config.probe_interval_ms, 250);
	ck_assert_int_eq(config.probe_timeout_ms, 250);
	ck_assert_int_eq(parse(&config, err, sizeof(err),
			       ARGS("--probe-interval-ms", "250", "--probe-timeout-ms", "100")),
			 CONFIG_RUN);
	ck_assert_int_eq(config.probe_timeout_ms, 100);
	/* The order of the flags does not matter. */
	ck_assert_int_eq(parse(&config, err, sizeof(err),
			       ARGS("--probe-timeout-ms", "100", "--probe-interval-ms", "250")),
			 CONFIG_RUN);
	ck_assert_int_eq(config.probe_interval_ms, 250);
	ck_assert_int_eq(config.probe_timeout_ms, 100);
}
END_TEST

struct ranged_flag {
	const char *flag;
	long min, max;
	size_t offset;
};

static const struct ranged_flag ranged_flags[] = {
	{"--probe-interval-ms", 50, 600000, offsetof(struct coordinator_config, probe_interval_ms)},
	{"--probe-timeout-ms", 50, 600000, offsetof(struct coordinator_config, probe_timeout_ms)},
	{"--unhealthy-after", 1, 1000, offsetof(struct coordinator_config, unhealthy_after)},
	{"--default-timeout-ms", 100, 604800000, offsetof(struct coordinator_config, default_timeout_ms)},
	{"--timeout-grace-ms", 0, 600000, offsetof(struct coordinator_config, timeout_grace_ms)},
	{"--default-max-attempts", 1, 100, offsetof(struct coordinator_config, default_max_attempts)},
	{"--retry-base-ms", 1, 86400000, offsetof(struct coordinator_config, retry_base_ms)},
	{"--retry-cap-ms", 1, 86400000, offsetof(struct coordinator_config, retry_cap_ms)},
	{"--lost-after-ms", 0, 86400000, offsetof(struct coordinator_config, lost_after_ms)},
	{"--priority-aging-ms", 100, 86400000, offsetof(struct coordinator_config, priority_aging_ms)},
	{"--connect-timeout-ms", 10, 600000, offsetof(struct coordinator_config, connect_timeout_ms)},
	/* At most the agent's fixed 8 MiB body limit: a larger job could never be executed. */
	{"--max-body-bytes", 1024, 8388608, offsetof(struct coordinator_config, max_body_bytes)},
	{"--http-threads", 4, 4096, offsetof(struct coordinator_config, http_threads)},
};

#define RANGED_COUNT ((int)(sizeof(ranged_flags) / sizeof(ranged_flags[0])))

static long field(const struct coordinator_config *config, size_t offset)
{
	long value;
	memcpy(&value, (const char *)config + offset, sizeof(value));
	return value;
}

START_TEST(test_coordinator_config_accepts_each_ranged_flag_at_its_bounds)
{
	const struct ranged_flag *f = &ranged_flags[_i];
	struct coordinator_config config;
	char err[512], value[32], with_equals[96];

	snprintf(value, sizeof(value), "%ld", f->min);
	ck_assert_msg(parse(&config, err, sizeof(err), ARGS(f->flag, value)) == CONFIG_RUN, "%s %s: %s",
		      f->flag, value, err);
	ck_assert_int_eq(field(&config, f->offset), f->min);
	snprintf(value, sizeof(value), "%ld", f->max);
	ck_assert_msg(parse(&config, err, sizeof(err), ARGS(f->flag, value)) == CONFIG_RUN, "%s %s: %s",
		      f->flag, value, err);
	ck_assert_int_eq(field(&config, f->offset), f->max);
	snprintf(with_equals, sizeof(with_equals), "%s=%ld", f->flag, f->min + 1);
	ck_assert_msg(parse(&config, err, sizeof(err), ARGS(with_equals)) == CONFIG_RUN, "%s: %s",
		      with_equals, err);
	ck_assert_int_eq(field(&config, f->offset), f->min + 1);
}
END_TEST

static const char *const bad_value_kinds[] = {"below", "above", "word", "empty", "sign", "space",
					      "fraction", "huge"};
#define BAD_KIND_COUNT ((int)(sizeof(bad_value_kinds) / sizeof(bad_value_kinds[0])))

START_TEST(test_coordinator_config_refuses_each_ranged_flag_out_of_range_naming_it)
{
	const struct ranged_flag *f = &ranged_flags[_i / BAD_KIND_COUNT];
	const char *kind = bad_value_kinds[_i % BAD_KIND_COUNT];
	struct coordinator_config config;
	char err[512], value[64], range[64];

	if (strcmp(kind, "below") == 0)
		snprintf(value, sizeof(value), "%ld", f->min - 1);
	else if (strcmp(kind, "above") == 0)
		snprintf(value, sizeof(value), "%ld", f->max + 1);
	else if (strcmp(kind, "word") == 0)
		snprintf(value, sizeof(value), "lots");
	else if (strcmp(kind, "empty") == 0)
		value[0] = '\0';
	else if (strcmp(kind, "sign") == 0)
		snprintf(value, sizeof(value), "-%ld", f->min);
	else if (strcmp(kind, "space") == 0)
		snprintf(value, sizeof(value), " %ld", f->min);
	else if (strcmp(kind, "fraction") == 0)
		snprintf(value, sizeof(value), "%ld.5", f->min);
	else
		snprintf(value, sizeof(value), "99999999999999999999999");

	ck_assert_msg(parse(&config, err, sizeof(err), ARGS(f->flag, value)) == CONFIG_USAGE_ERROR,
		      "%s '%s' accepted", f->flag, value);
	ck_assert_msg(strstr(err, f->flag) != NULL, "%s '%s': error '%s' does not name the flag",
		      f->flag, value, err);
	snprintf(range, sizeof(range), "%ld to %ld", f->min, f->max);
	ck_assert_msg(strstr(err, range) != NULL, "%s '%s': error '%s' does not give the range '%s'",
		      f->flag, value, err, range);
}
END_TEST

START_TEST(test_coordinator_config_help_gives_each_flag_the_range_the_parser_enforces)
{
	const struct ranged_flag *f = &ranged_flags[_i];
	const char *line = strstr(coordinator_usage, f->flag);
	const char *next;
	char range[64];

	ck_assert_msg(line != NULL, "usage lacks %s", f->flag);
	/* The range is in this flag's entry: before the next "  --". */
	next = strstr(line + 1, "  --");
	snprintf(range, sizeof(range), "%ld..%ld", f->min, f->max);
	line = strstr(line, range);
	ck_assert_msg(line != NULL && (next == NULL || line < next),
		      "the help for %s does not give the range %s", f->flag, range);
}
END_TEST

START_TEST(test_coordinator_config_takes_a_listen_address)
{
	static const struct {
		const char *listen, *civetweb;
	} cases[] = {
		{"127.0.0.1:0", "127.0.0.1:0"},
		{"0.0.0.0:9090", "0.0.0.0:9090"},
		{"[::1]:8080", NULL},
	};
	struct coordinator_config config;
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(parse(&config, err, sizeof(err), ARGS("--listen", cases[i].listen)) ==
				      CONFIG_RUN,
			      "%s: %s", cases[i].listen, err);
		if (cases[i].civetweb != NULL)
			ck_assert_str_eq(config.listen, cases[i].civetweb);
		else
			ck_assert_str_ne(config.listen, "");
	}
}
END_TEST

START_TEST(test_coordinator_config_refuses_a_bad_listen_address)
{
	static const char *const bad[] = {":8080", "0.0.0.0", "0.0.0.0:70000", "", "host:port",
					  "0.0.0.0:-1", "[::1"};
	struct coordinator_config config;
	char err[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(&config, err, sizeof(err), ARGS("--listen", bad[i])) ==
				      CONFIG_USAGE_ERROR,
			      "--listen '%s' accepted", bad[i]);
		ck_assert_msg(strncmp(err, "--listen", 8) == 0 && strlen(err) > 12,
			      "--listen '%s': error '%s'", bad[i], err);
	}
	/* Longer than the config keeps: refused, not cut short. */
	{
		char listen[300];
		memset(listen, 'h', 200);
		snprintf(listen + 200, sizeof(listen) - 200, ":8080");
		ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--listen", listen)),
				 CONFIG_USAGE_ERROR);
		ck_assert_msg(strstr(err, "--listen") != NULL && strstr(err, "too long") != NULL,
			      "error '%s'", err);
	}
}
END_TEST

START_TEST(test_coordinator_config_takes_a_log_level)
{
	static const struct {
		const char *name;
		enum log_level level;
	} cases[] = {
		{"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN}, {"error", LOG_ERROR}};
	struct coordinator_config config;
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--log-level", cases[i].name)),
				 CONFIG_RUN);
		ck_assert_int_eq(config.log_level, cases[i].level);
	}
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--log-level", "DEBUG")),
			 CONFIG_USAGE_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "--log-level"));
	ck_assert_ptr_nonnull(strstr(err, "DEBUG"));
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--log-level", "verbose")),
			 CONFIG_USAGE_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "--log-level"));
}
END_TEST

START_TEST(test_coordinator_config_takes_a_store_and_a_data_dir)
{
	struct coordinator_config config;
	char err[512];

	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--store", "memory")), CONFIG_RUN);
	ck_assert_int_eq(config.store, COORDINATOR_STORE_MEMORY);
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--store=sqlite")), CONFIG_RUN);
	ck_assert_int_eq(config.store, COORDINATOR_STORE_SQLITE);
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--data-dir", "/var/lib/mesh")),
			 CONFIG_RUN);
	ck_assert_str_eq(config.data_dir, "/var/lib/mesh");
	ck_assert_int_eq(config.store, COORDINATOR_STORE_SQLITE);
	ck_assert_int_eq(parse(&config, err, sizeof(err),
			       ARGS("--data-dir=rel/dir", "--store", "memory")),
			 CONFIG_RUN);
	ck_assert_str_eq(config.data_dir, "rel/dir");
	ck_assert_int_eq(config.store, COORDINATOR_STORE_MEMORY);
}
END_TEST

START_TEST(test_coordinator_config_refuses_a_bad_store_or_data_dir)
{
	static const char *const bad_stores[] = {"disk", "SQLITE", "", "memory ", "sqlite3"};
	struct coordinator_config config;
	char err[512], long_dir[1012];

	for (size_t i = 0; i < sizeof(bad_stores) / sizeof(bad_stores[0]); i++) {
		ck_assert_msg(parse(&config, err, sizeof(err), ARGS("--store", bad_stores[i])) ==
				      CONFIG_USAGE_ERROR,
			      "--store '%s' accepted", bad_stores[i]);
		ck_assert_msg(strstr(err, "--store") != NULL && strstr(err, "sqlite or memory") != NULL,
			      "--store '%s': error '%s'", bad_stores[i], err);
	}
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--store")), CONFIG_USAGE_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "needs a value"));
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--data-dir", "")), CONFIG_USAGE_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "--data-dir"));
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--data-dir")), CONFIG_USAGE_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "needs a value"));
	/* Longer than the config keeps (with room for "/jobs.db.lock"): refused, not cut short. */
	memset(long_dir, 'd', sizeof(long_dir) - 1);
	long_dir[sizeof(long_dir) - 1] = '\0';
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--data-dir", long_dir)),
			 CONFIG_USAGE_ERROR);
	ck_assert_msg(strstr(err, "--data-dir") != NULL && strstr(err, "1010 bytes") != NULL,
		      "error '%s'", err);
	long_dir[1010] = '\0';
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--data-dir", long_dir)), CONFIG_RUN);
	ck_assert_uint_eq(strlen(config.data_dir), 1010);
}
END_TEST

START_TEST(test_coordinator_config_help_and_version)
{
	struct coordinator_config config;
	char err[512];

	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--help")), CONFIG_HELP);
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("-h")), CONFIG_HELP);
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--version")), CONFIG_VERSION);
	/* --help wins over what comes after it. */
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--help", "--listen", "nonsense")),
			 CONFIG_HELP);
	ck_assert_ptr_nonnull(strstr(coordinator_usage, "Usage: mesh-coordinator"));
	/* The help text documents every flag. */
	for (int i = 0; i < RANGED_COUNT; i++)
		ck_assert_msg(strstr(coordinator_usage, ranged_flags[i].flag) != NULL,
			      "usage lacks %s", ranged_flags[i].flag);
	ck_assert_ptr_nonnull(strstr(coordinator_usage, "--listen"));
	ck_assert_ptr_nonnull(strstr(coordinator_usage, "--log-level"));
	ck_assert_ptr_nonnull(strstr(coordinator_usage, "--version"));
	ck_assert_ptr_nonnull(strstr(coordinator_usage, "--store sqlite|memory"));
	ck_assert_ptr_nonnull(strstr(coordinator_usage, "--data-dir DIR"));
	ck_assert_ptr_nonnull(strstr(coordinator_usage, "./mesh-data"));
	/* The durability promise and the mode that keeps it. */
	ck_assert_ptr_nonnull(strstr(coordinator_usage, "synchronous=FULL"));
	ck_assert_ptr_nonnull(strstr(coordinator_usage, "kill -9"));
}
END_TEST

START_TEST(test_coordinator_config_refuses_unknown_options_and_stray_arguments)
{
	static const struct {
		const char *args[4];
		const char *mentions[2];
	} cases[] = {
		{{"--bogus", NULL}, {"unknown option", "--bogus"}},
		{{"--listen", NULL}, {"--listen", "needs a value"}},
		{{"--unhealthy-after", NULL}, {"--unhealthy-after", "needs a value"}},
		{{"--help=yes", NULL}, {"--help", NULL}},
		{{"serve", NULL}, {"unexpected argument", "serve"}},
		{{"--unhealthy-after", "5", "extra", NULL}, {"unexpected argument", "extra"}},
		{{"extra", "--unhealthy-after", "5", NULL}, {"unexpected argument", "extra"}},
		{{"-x", NULL}, {"unknown option", "-x"}},
	};
	struct coordinator_config config;
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(parse(&config, err, sizeof(err), cases[i].args) == CONFIG_USAGE_ERROR,
			      "case %zu (%s) accepted", i, cases[i].args[0]);
		for (int m = 0; m < 2; m++)
			if (cases[i].mentions[m] != NULL)
				ck_assert_msg(strstr(err, cases[i].mentions[m]) != NULL,
					      "case %zu: error '%s' lacks '%s'", i, err,
					      cases[i].mentions[m]);
	}
}
END_TEST

START_TEST(test_coordinator_config_parses_again_from_a_clean_slate)
{
	struct coordinator_config config;
	char err[512];

	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--bogus")), CONFIG_USAGE_ERROR);
	ck_assert_int_eq(parse(&config, err, sizeof(err),
			       ARGS("--http-threads", "8", "--listen", "127.0.0.1:0")),
			 CONFIG_RUN);
	ck_assert_int_eq(config.http_threads, 8);
	/* A second parse starts from the defaults, not from the last one. */
	ck_assert_int_eq(parse(&config, err, sizeof(err), NO_ARGS), CONFIG_RUN);
	ck_assert_int_eq(config.http_threads, 512);
	ck_assert_int_eq(config.max_waiting, 384);
	ck_assert_str_eq(config.listen, "0.0.0.0:8080");
}
END_TEST

START_TEST(test_coordinator_config_last_of_a_repeated_flag_wins)
{
	struct coordinator_config config;
	char err[512];

	ck_assert_int_eq(parse(&config, err, sizeof(err),
			       ARGS("--unhealthy-after", "5", "--unhealthy-after", "7")),
			 CONFIG_RUN);
	ck_assert_int_eq(config.unhealthy_after, 7);
}
END_TEST


START_TEST(test_coordinator_config_takes_retention_and_retry_bounds)
{
	static const struct {
		const char *value;
		long ms;
	} good[] = {{"1s", 1000L}, {"90s", 90000L}, {"15m", 900000L}, {"36h", 129600000L},
		    {"7d", 604800000L}, {"3650d", 3650L * 86400000L}};
	static const char *const bad[] = {"", "7", "d", "0s", "-1d", "3651d", "1.5h", "7 d", "7w", "h7"};
	struct coordinator_config config;
	char err[512];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(parse(&config, err, sizeof(err), ARGS("--retention", good[i].value)) ==
				      CONFIG_RUN,
			      "--retention %s: %s", good[i].value, err);
		ck_assert_int_eq(config.retention_ms, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(&config, err, sizeof(err), ARGS("--retention", bad[i])) ==
				      CONFIG_USAGE_ERROR,
			      "--retention '%s' accepted", bad[i]);
		ck_assert_msg(strstr(err, "--retention") != NULL, "error '%s'", err);
	}
	/* --max-waiting: 3/4 of the threads unless given; always below them. */
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--http-threads", "100")), CONFIG_RUN);
	ck_assert_int_eq(config.max_waiting, 75);
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--max-waiting", "0")), CONFIG_RUN);
	ck_assert_int_eq(config.max_waiting, 0);
	ck_assert_int_eq(parse(&config, err, sizeof(err),
			       ARGS("--http-threads", "8", "--max-waiting", "8")),
			 CONFIG_USAGE_ERROR);
	ck_assert_msg(strstr(err, "--max-waiting") != NULL, "error '%s'", err);
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--max-waiting", "-1")),
			 CONFIG_USAGE_ERROR);
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--max-waiting", "4096")),
			 CONFIG_USAGE_ERROR);
	/* The old name of --default-timeout-ms still works. */
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--execute-timeout-ms", "5000")), CONFIG_RUN);
	ck_assert_int_eq(config.default_timeout_ms, 5000);
	/* One retry bound given moves the other's default; both given must agree. */
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--retry-base-ms", "120000")), CONFIG_RUN);
	ck_assert_int_eq(config.retry_cap_ms, 120000);
	ck_assert_int_eq(parse(&config, err, sizeof(err), ARGS("--retry-cap-ms", "10")), CONFIG_RUN);
	ck_assert_int_eq(config.retry_base_ms, 10);
	ck_assert_int_eq(parse(&config, err, sizeof(err),
			       ARGS("--retry-base-ms", "500", "--retry-cap-ms", "100")),
			 CONFIG_USAGE_ERROR);
	ck_assert_msg(strstr(err, "--retry-base-ms") != NULL && strstr(err, "--retry-cap-ms") != NULL,
		      "error '%s'", err);
}
END_TEST

static Suite *coordinator_config_suite(void)
{
	Suite *s = suite_create("coordinator_config");
	TCase *tc;

	tc = tcase_create("defaults_and_ranges");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_coordinator_config_defaults);
	tcase_add_test(tc, test_coordinator_config_probe_timeout_defaults_to_the_interval);
	tcase_add_loop_test(tc, test_coordinator_config_accepts_each_ranged_flag_at_its_bounds, 0,
			    RANGED_COUNT);
	tcase_add_loop_test(tc, test_coordinator_config_refuses_each_ranged_flag_out_of_range_naming_it,
			    0, RANGED_COUNT * BAD_KIND_COUNT);
	tcase_add_test(tc, test_coordinator_config_last_of_a_repeated_flag_wins);
	tcase_add_loop_test(tc, test_coordinator_config_help_gives_each_flag_the_range_the_parser_enforces,
			    0, RANGED_COUNT);
	suite_add_tcase(s, tc);

	tc = tcase_create("other_flags");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_coordinator_config_takes_a_listen_address);
	tcase_add_test(tc, test_coordinator_config_takes_retention_and_retry_bounds);
	tcase_add_test(tc, test_coordinator_config_refuses_a_bad_listen_address);
	tcase_add_test(tc, test_coordinator_config_takes_a_log_level);
	tcase_add_test(tc, test_coordinator_config_takes_a_store_and_a_data_dir);
	tcase_add_test(tc, test_coordinator_config_refuses_a_bad_store_or_data_dir);
	tcase_add_test(tc, test_coordinator_config_help_and_version);
	tcase_add_test(tc, test_coordinator_config_refuses_unknown_options_and_stray_arguments);
	tcase_add_test(tc, test_coordinator_config_parses_again_from_a_clean_slate);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(coordinator_config_suite)
