/*
 * options: meshctl's command line, parsed into a struct options by a pure
 * function (no output, no network, no exit) so that tests can drive it.
 *
 * Options may come before or after the command; "--" ends them, so that a
 * PAYLOAD may start with '-'. The coordinator URL is --coordinator, else
 * $MESH_COORDINATOR (if set and not empty), else OPTIONS_DEFAULT_COORDINATOR;
 * "HOST:PORT" is accepted for "http://HOST:PORT" (see build_agent_base_url).
 */
#ifndef MESHCTL_OPTIONS_H
#define MESHCTL_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"
#include "wire.h"

#define MESHCTL_VERSION "0.1.0"
#define OPTIONS_DEFAULT_COORDINATOR "http://localhost:8080"
#define OPTIONS_URL_MAX 1024
#define OPTIONS_ARGS_MAX 2

#define OPTIONS_TIMEOUT_DEFAULT_S 60
#define OPTIONS_TIMEOUT_MAX_S 86400
/* The coordinator's JOB_STORE_LIST_MAX: GET /jobs answers at most this many. */
#define OPTIONS_LIMIT_MAX 10000

/* OPTIONS_STR(OPTIONS_LIMIT_MAX) is "10000": for help texts. */
#define OPTIONS_STR_(x) #x
#define OPTIONS_STR(x) OPTIONS_STR_(x)

/* Command-specific options, for struct cmd_entry's options mask. */
enum {
	OPTION_WAIT = 1u << 0,
	OPTION_TIMEOUT = 1u << 1,
	OPTION_STATUS = 1u << 2,
	OPTION_NODE = 1u << 3,
	OPTION_TYPE = 1u << 4,
	OPTION_LIMIT = 1u << 5,
	/* submit's job options, sent in POST /jobs */
	OPTION_PRIORITY = 1u << 6,
	OPTION_JOB_TIMEOUT = 1u << 7,
	OPTION_MAX_ATTEMPTS = 1u << 8,
	OPTION_RETRY_ON_FAILURE = 1u << 9,
	OPTION_BACKOFF_BASE = 1u << 10,
	OPTION_BACKOFF_CAP = 1u << 11,
	OPTION_IDEMPOTENCY_KEY = 1u << 12,
};

enum options_result {
	OPTIONS_RUN,     /* run options.command */
	OPTIONS_HELP,    /* print help (for options.command if set) to stdout, exit 0 */
	OPTIONS_VERSION, /* print the version, exit 0 */
	OPTIONS_USAGE,   /* err says what is wrong: print it and the usage of options.command
			    (of every command if NULL), exit 3 */
};

struct cmd_entry;

struct options {
	char coordinator[OPTIONS_URL_MAX]; /* base URL, no trailing '/' */
	bool json;
	const struct cmd_entry *command; /* NULL until a command is named */
	const char *args[OPTIONS_ARGS_MAX]; /* the command's arguments, borrowed from argv */
	size_t arg_count;

	/* submit and drain */
	bool wait;
	int64_t timeout_ms; /* OPTIONS_TIMEOUT_DEFAULT_S * 1000 unless --timeout */

	/*
	 * submit: TYPE, PAYLOAD and the job options given, checked against the
	 * API's limits, ready for job_submission_encode. Its strings are borrowed
	 * from argv: never job_submission_clear it.
	 */
	struct job_submission submission;

	/* jobs: filters; unset ones are not sent */
	bool has_status;
	enum job_status status;
	const char *node_id; /* borrowed from argv, or NULL */
	const char *type;    /* borrowed from argv, or NULL */
	long limit;          /* 0: not sent */
};

/*
 * Parses argv (argv[0] is the program name; argv is not modified).
 * env_coordinator is $MESH_COORDINATOR or NULL. Fills out (its strings are
 * borrowed from argv) and returns what to do. --help beats --version, which
 * beats any usage error. On OPTIONS_USAGE, err holds one sentence naming the
 * argument, option or value at fault; out->command is set if the command was
 * recognised, so that its usage line can follow.
 *
 * Uses getopt_long: not thread-safe, and resets getopt's state (optind = 0).
 */
enum options_result options_parse(int argc, char *const argv[], const char *env_coordinator,
				  struct options *out, char *err, size_t err_size);

/*
 * Parses a --timeout value: decimal seconds with an optional fraction ("30",
 * "0.5", ".25"), more than 0 and at most OPTIONS_TIMEOUT_MAX_S, rounded up to
 * whole milliseconds. Returns 0, or -1 (no signs, exponents, hex or blanks).
 */
int options_parse_seconds(const char *text, int64_t *ms);

/* Full help: usage, commands, options, exit statuses; or one command's help if command is set. */
void options_print_help(FILE *out, const struct cmd_entry *command);

/*
 * After a usage error: the usage line of command (of every command if NULL)
 * and where to find more (--help).
 */
void options_print_usage(FILE *out, const struct cmd_entry *command);

#endif
