#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_config.h"
#include "check_main.h"

#define MAX_ARGS 20

struct parse_case {
	const char *args[MAX_ARGS]; /* after argv[0]; NULL-ended */
	enum agent_config_action action;
	const char *mentions; /* in err (usage) or out (success); NULL: nothing to check */
};

#define COORD "--coordinator", "http://127.0.0.1:8080"

static const struct parse_case parse_cases[] = {
	{{COORD, NULL}, AGENT_CONFIG_RUN, NULL},
	{{"--help", NULL}, AGENT_CONFIG_EXIT_SUCCESS, "--handler TYPE=COMMAND"},
	{{"--version", NULL}, AGENT_CONFIG_EXIT_SUCCESS, "mesh-agent " AGENT_VERSION},
	{{NULL}, AGENT_CONFIG_EXIT_USAGE, "--coordinator URL is required"},
	{{"--coordinator", "ftp://x:1", NULL}, AGENT_CONFIG_EXIT_USAGE, "http:// or https://"},
	{{"--coordinator", "127.0.0.1:8080", NULL}, AGENT_CONFIG_EXIT_USAGE, "http:// or https://"},
	{{"--coordinator", "http://", NULL}, AGENT_CONFIG_EXIT_USAGE, "--coordinator: URL 'http://' has no host"},
	{{"--coordinator", NULL}, AGENT_CONFIG_EXIT_USAGE, "--coordinator needs a value"},
	{{COORD, "--listen", "8081", NULL}, AGENT_CONFIG_EXIT_USAGE, "--listen: "},
	{{COORD, "--listen", "0.0.0.0:65536", NULL}, AGENT_CONFIG_EXIT_USAGE, "port 0-65535"},
	{{COORD, "--advertise", "host:0", NULL}, AGENT_CONFIG_EXIT_USAGE, "--advertise: "},
	{{COORD, "--advertise", "ftp://h:1", NULL}, AGENT_CONFIG_EXIT_USAGE, "--advertise: "},
	{{COORD, "--name", "has space", NULL}, AGENT_CONFIG_EXIT_USAGE, "--name 'has space' must be 1 to 128"},
	{{COORD, "--capacity", "0", NULL}, AGENT_CONFIG_EXIT_USAGE, "--capacity must be a whole number from 1 to 1024"},
	{{COORD, "--capacity", "1025", NULL}, AGENT_CONFIG_EXIT_USAGE, "from 1 to 1024 (got '1025')"},
	{{COORD, "--capacity", "4x", NULL}, AGENT_CONFIG_EXIT_USAGE, "--capacity"},
	{{COORD, "--log-level", "loud", NULL}, AGENT_CONFIG_EXIT_USAGE, "--log-level must be debug, info, warn or error"},
	{{COORD, "--handler", "cat", NULL}, AGENT_CONFIG_EXIT_USAGE, "--handler 'cat' must be TYPE=COMMAND"},
	{{COORD, "--handler", "=cat", NULL}, AGENT_CONFIG_EXIT_USAGE, "must be TYPE=COMMAND"},
	{{COORD, "--handler", "echo=cat", NULL}, AGENT_CONFIG_EXIT_USAGE, "--handler: job type 'echo' is built in"},
	{{COORD, "--handler", "up per=cat", NULL}, AGENT_CONFIG_EXIT_USAGE, "--handler: job type 'up per' must be"},
	{{COORD, "--handler", "x=", NULL}, AGENT_CONFIG_EXIT_USAGE, "--handler: command of 'x': command is empty"},
	{{COORD, "--handler", "x=no-such-program-here", NULL}, AGENT_CONFIG_EXIT_USAGE, "was not found in PATH"},
	{{COORD, "--handler", "x=cat", "--handler", "x=tac", NULL}, AGENT_CONFIG_EXIT_USAGE, "job type 'x' is defined twice"},
	{{COORD, "--drain-grace-ms", "0", NULL}, AGENT_CONFIG_RUN, NULL},
	{{COORD, "--drain-grace-ms", "86400000", NULL}, AGENT_CONFIG_RUN, NULL},
	{{COORD, "--drain-grace-ms", "-1", NULL}, AGENT_CONFIG_EXIT_USAGE,
	 "--drain-grace-ms must be a whole number of milliseconds from 0 to 86400000 (got '-1')"},
	{{COORD, "--drain-grace-ms", "86400001", NULL}, AGENT_CONFIG_EXIT_USAGE, "(got '86400001')"},
	{{COORD, "--drain-grace-ms", "5s", NULL}, AGENT_CONFIG_EXIT_USAGE, "--drain-grace-ms must be"},
	{{COORD, "--drain-grace-ms", "", NULL}, AGENT_CONFIG_EXIT_USAGE, "--drain-grace-ms must be"},
	{{COORD, "--drain-grace-ms", NULL}, AGENT_CONFIG_EXIT_USAGE, "--drain-grace-ms needs a value"},
	{{COORD, "--bogus", NULL}, AGENT_CONFIG_EXIT_USAGE, "unknown option '--bogus'"},
	{{COORD, "extra", NULL}, AGENT_CONFIG_EXIT_USAGE, "unexpected argument 'extra'"},
};

/* Parses the case's arguments; returns the action and what was printed to out and err. */
static enum agent_config_action parse(const char *const *args, struct agent_config *cfg, char **out_text,
				      char **err_text)
{
	char *argv[MAX_ARGS + 2] = {"mesh-agent"};
	size_t out_len, err_len;
	FILE *out = open_memstream(out_text, &out_len);
	FILE *err = open_memstream(err_text, &err_len);
	int argc = 1;
	enum agent_config_action action;

	for (; args[argc - 1] != NULL; argc++)
		argv[argc] = (char *)args[argc - 1];
	action = agent_config_parse(argc, argv, cfg, out, err);
	fclose(out);
	fclose(err);
	return action;
}

START_TEST(test_agent_config_parses_or_refuses_each_flag)
{
	const struct parse_case *c = &parse_cases[_i];
	struct agent_config cfg;
	char *out = NULL, *err = NULL;
	enum agent_config_action action = parse(c->args, &cfg, &out, &err);

	ck_assert_msg(action == c->action, "case %d: action %d, expected %d; err: %s", _i, action,
		      c->action, err);
	if (c->mentions != NULL) {
		const char *text = action == AGENT_CONFIG_EXIT_USAGE ? err : out;
		ck_assert_msg(strstr(text, c->mentions) != NULL, "case %d: '%s' lacks '%s'", _i, text,
			      c->mentions);
	}
	if (action == AGENT_CONFIG_EXIT_USAGE)
		ck_assert_ptr_nonnull(strstr(err, "Try 'mesh-agent --help'."));
	agent_config_clear(&cfg);
	free(out);
	free(err);
}
END_TEST

START_TEST(test_agent_config_defaults)
{
	const char *args[] = {"--coordinator", "http://coord:8080/", NULL};
	struct agent_config cfg;
	char *out = NULL, *err = NULL;
	char host[256];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	ck_assert_int_eq(parse(args, &cfg, &out, &err), AGENT_CONFIG_RUN);
	ck_assert_str_eq(cfg.coordinator_url, "http://coord:8080");
	ck_assert_str_eq(cfg.listen, "0.0.0.0:8081");
	ck_assert_str_eq(cfg.listen_host, "0.0.0.0");
	ck_assert_ptr_null(cfg.advertise);
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	ck_assert_str_eq(cfg.name, host);
	ck_assert_int_eq(cfg.capacity, cpus > 1024 ? 1024 : (int)cpus);
	ck_assert_int_eq(cfg.log_level, LOG_INFO);
	ck_assert_int_eq(cfg.drain_grace_ms, 30000);
	ck_assert_uint_eq(cfg.handler_count, 0);
	ck_assert(!cfg.check_only);
	agent_config_clear(&cfg);
	free(out);
	free(err);
}
END_TEST

START_TEST(test_agent_config_takes_every_flag)
{
	const char *args[] = {"--coordinator=https://c.example:443", "--listen", "[::1]:0",
			      "--advertise", "agent.example:9000", "--name", "a-1", "--capacity", "7",
			      "--handler", "upper=tr a-z A-Z", "--handler", "shout=sh -c 'tr a-z A-Z'",
			      "--log-level", "debug", "--drain-grace-ms=1500", "-n", NULL};
	struct agent_config cfg;
	char *out = NULL, *err = NULL;

	ck_assert_int_eq(parse(args, &cfg, &out, &err), AGENT_CONFIG_RUN);
	ck_assert_str_eq(cfg.coordinator_url, "https://c.example:443");
	ck_assert_str_eq(cfg.listen, "[::1]:0");
	ck_assert_str_eq(cfg.listen_host, "[::1]");
	ck_assert_str_eq(cfg.listen_civetweb, "[::1]:0");
	ck_assert_str_eq(cfg.advertise, "agent.example:9000");
	ck_assert_str_eq(cfg.name, "a-1");
	ck_assert_int_eq(cfg.capacity, 7);
	ck_assert_uint_eq(cfg.handler_count, 2);
	ck_assert_str_eq(cfg.handlers[0].type, "upper");
	ck_assert_str_eq(cfg.handlers[0].command, "tr a-z A-Z");
	ck_assert_str_eq(cfg.handlers[1].type, "shout");
	ck_assert_str_eq(cfg.handlers[1].command, "sh -c 'tr a-z A-Z'");
	ck_assert_int_eq(cfg.log_level, LOG_DEBUG);
	ck_assert_int_eq(cfg.drain_grace_ms, 1500);
	ck_assert(cfg.check_only);
	agent_config_clear(&cfg);
	free(out);
	free(err);
}
END_TEST

static const struct {
	const char *listen;
	const char *advertise; /* NULL: the default */
	int port;
	const char *expected; /* NULL: the host name and port */
} advertise_cases[] = {
	{"127.0.0.1:0", NULL, 40001, "127.0.0.1:40001"},
	{"[::1]:0", NULL, 40002, "[::1]:40002"},
	{"0.0.0.0:8081", NULL, 8081, NULL},
	{"[::]:8081", NULL, 8081, NULL},
	{"127.0.0.1:0", "http://agent:1/", 40003, "http://agent:1/"},
};

START_TEST(test_agent_config_advertises_the_listen_host_or_the_host_name)
{
	struct agent_config cfg;
	char *out = NULL, *err = NULL, *address;
	char expected[300], message[256];
	const char *args[] = {COORD, "--listen", advertise_cases[_i].listen,
			      advertise_cases[_i].advertise ? "--advertise" : NULL,
			      advertise_cases[_i].advertise, NULL};

	ck_assert_int_eq(parse(args, &cfg, &out, &err), AGENT_CONFIG_RUN);
	address = agent_config_advertise(&cfg, advertise_cases[_i].port, message, sizeof(message));
	ck_assert_msg(address != NULL, "%s", message);
	if (advertise_cases[_i].expected != NULL) {
		snprintf(expected, sizeof(expected), "%s", advertise_cases[_i].expected);
	} else {
		char host[256];
		gethostname(host, sizeof(host));
		snprintf(expected, sizeof(expected), "%s:%d", host, advertise_cases[_i].port);
	}
	ck_assert_str_eq(address, expected);
	free(address);
	agent_config_clear(&cfg);
	free(out);
	free(err);
}
END_TEST

START_TEST(test_agent_config_help_documents_every_flag_and_the_exit_status)
{
	static const char *const words[] = {"--coordinator", "--listen", "--advertise", "--name",
					    "--capacity", "--handler", "--log-level", "--check",
					    "--drain-grace-ms", "SIGTERM", "timeout_ms",
					    "--help", "--version", "echo", "sleep", "Exit status", NULL};
	char *text = NULL;
	size_t len;
	FILE *out = open_memstream(&text, &len);

	agent_config_usage(out);
	fclose(out);
	for (size_t i = 0; words[i] != NULL; i++)
		ck_assert_msg(strstr(text, words[i]) != NULL, "help lacks %s", words[i]);
	free(text);
}
END_TEST

static Suite *agent_config_suite(void)
{
	Suite *s = suite_create("agent_config");
	TCase *tc = tcase_create("flags");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_agent_config_parses_or_refuses_each_flag, 0,
			    (int)(sizeof(parse_cases) / sizeof(parse_cases[0])));
	tcase_add_test(tc, test_agent_config_defaults);
	tcase_add_test(tc, test_agent_config_takes_every_flag);
	tcase_add_loop_test(tc, test_agent_config_advertises_the_listen_host_or_the_host_name, 0,
			    (int)(sizeof(advertise_cases) / sizeof(advertise_cases[0])));
	tcase_add_test(tc, test_agent_config_help_documents_every_flag_and_the_exit_status);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(agent_config_suite)
