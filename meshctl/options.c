#include "options.h"

#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "cmd.h"

/*
 * Every option, global and per command. The index is the value getopt_long
 * returns minus SPEC_BASE; spec_bits says which commands take it (0: all).
 */
enum spec {
	SPEC_COORDINATOR,
	SPEC_JSON,
	SPEC_HELP,
	SPEC_VERSION,
	SPEC_WAIT,
	SPEC_TIMEOUT,
	SPEC_STATUS,
	SPEC_NODE,
	SPEC_TYPE,
	SPEC_LIMIT,
	SPEC_PRIORITY,
	SPEC_JOB_TIMEOUT,
	SPEC_MAX_ATTEMPTS,
	SPEC_RETRY_ON_FAILURE,
	SPEC_BACKOFF_BASE,
	SPEC_BACKOFF_CAP,
	SPEC_IDEMPOTENCY_KEY,
	SPEC_COUNT
};

#define SPEC_BASE 256

/* In enum spec order: check_shape names an option by long_options[spec].name. */
static const struct option long_options[] = {
	{"coordinator", required_argument, NULL, SPEC_BASE + SPEC_COORDINATOR},
	{"json", no_argument, NULL, SPEC_BASE + SPEC_JSON},
	{"help", no_argument, NULL, SPEC_BASE + SPEC_HELP},
	{"version", no_argument, NULL, SPEC_BASE + SPEC_VERSION},
	{"wait", no_argument, NULL, SPEC_BASE + SPEC_WAIT},
	{"timeout", required_argument, NULL, SPEC_BASE + SPEC_TIMEOUT},
	{"status", required_argument, NULL, SPEC_BASE + SPEC_STATUS},
	{"node", required_argument, NULL, SPEC_BASE + SPEC_NODE},
	{"type", required_argument, NULL, SPEC_BASE + SPEC_TYPE},
	{"limit", required_argument, NULL, SPEC_BASE + SPEC_LIMIT},
	{"priority", required_argument, NULL, SPEC_BASE + SPEC_PRIORITY},
	{"job-timeout-ms", required_argument, NULL, SPEC_BASE + SPEC_JOB_TIMEOUT},
	{"max-attempts", required_argument, NULL, SPEC_BASE + SPEC_MAX_ATTEMPTS},
	{"retry-on-failure", no_argument, NULL, SPEC_BASE + SPEC_RETRY_ON_FAILURE},
	{"backoff-base-ms", required_argument, NULL, SPEC_BASE + SPEC_BACKOFF_BASE},
	{"backoff-cap-ms", required_argument, NULL, SPEC_BASE + SPEC_BACKOFF_CAP},
	{"idempotency-key", required_argument, NULL, SPEC_BASE + SPEC_IDEMPOTENCY_KEY},
	{NULL, 0, NULL, 0},
};

static const unsigned spec_bits[SPEC_COUNT] = {
	[SPEC_WAIT] = OPTION_WAIT,
	[SPEC_TIMEOUT] = OPTION_TIMEOUT,
	[SPEC_STATUS] = OPTION_STATUS,
	[SPEC_NODE] = OPTION_NODE,
	[SPEC_TYPE] = OPTION_TYPE,
	[SPEC_LIMIT] = OPTION_LIMIT,
	[SPEC_PRIORITY] = OPTION_PRIORITY,
	[SPEC_JOB_TIMEOUT] = OPTION_JOB_TIMEOUT,
	[SPEC_MAX_ATTEMPTS] = OPTION_MAX_ATTEMPTS,
	[SPEC_RETRY_ON_FAILURE] = OPTION_RETRY_ON_FAILURE,
	[SPEC_BACKOFF_BASE] = OPTION_BACKOFF_BASE,
	[SPEC_BACKOFF_CAP] = OPTION_BACKOFF_CAP,
	[SPEC_IDEMPOTENCY_KEY] = OPTION_IDEMPOTENCY_KEY,
};

/* What an option's value stands for, in "needs a value" messages. */
static const char *const spec_metavar[SPEC_COUNT] = {
	[SPEC_COORDINATOR] = "URL",
	[SPEC_TIMEOUT] = "SECONDS",
	[SPEC_STATUS] = "STATUS",
	[SPEC_NODE] = "NODE_ID",
	[SPEC_TYPE] = "TYPE",
	[SPEC_LIMIT] = "N",
	[SPEC_PRIORITY] = "high|normal|low",
	[SPEC_JOB_TIMEOUT] = "MILLISECONDS",
	[SPEC_MAX_ATTEMPTS] = "N",
	[SPEC_BACKOFF_BASE] = "MILLISECONDS",
	[SPEC_BACKOFF_CAP] = "MILLISECONDS",
	[SPEC_IDEMPOTENCY_KEY] = "KEY",
};

/*
 * '-': each argument that is not an option comes back in order as option 1,
 * so options and arguments mix without getopt permuting argv (also under
 * POSIXLY_CORRECT); ':': a missing value comes back as ':', not '?'.
 */
#define OPTSTRING "-:h"

/* What the getopt_long loop collected, before any of it is checked. */
struct raw_args {
	const char *values[SPEC_COUNT]; /* last value of each option taking one */
	bool seen[SPEC_COUNT];
	const char *command;
	const char *args[OPTIONS_ARGS_MAX];
	size_t arg_count;
	const char *extra; /* the first argument beyond OPTIONS_ARGS_MAX */
};

static void set_error(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

static void add_argument(struct raw_args *raw, const char *arg)
{
	if (raw->command == NULL)
		raw->command = arg;
	else if (raw->arg_count < OPTIONS_ARGS_MAX)
		raw->args[raw->arg_count++] = arg;
	else if (raw->extra == NULL)
		raw->extra = arg;
}

/* "--name=value" -> "--name", into buf. */
static const char *option_text(const char *arg, char *buf, size_t buf_size)
{
	size_t len = strcspn(arg, "=");
	snprintf(buf, buf_size, "%.*s", (int)len, arg);
	return buf;
}

/*
 * "unknown option '--x'", or for an abbreviation of several options:
 * "option '--t' is ambiguous (--timeout, --type)".
 */
static void unknown_option(const char *option, char *err, size_t err_size)
{
	const char *prefix = option + strspn(option, "-");
	size_t len = strlen(prefix), used, matches = 0;

	for (size_t i = 0; len > 0 && long_options[i].name != NULL; i++)
		matches += strncmp(long_options[i].name, prefix, len) == 0;
	if (matches < 2) {
		set_error(err, err_size, "unknown option '%s'", option);
		return;
	}
	set_error(err, err_size, "option '%s' is ambiguous (", option);
	for (size_t i = 0, n = 0; long_options[i].name != NULL; i++) {
		if (strncmp(long_options[i].name, prefix, len) != 0)
			continue;
		used = strlen(err);
		snprintf(err + used, err_size - used, "%s--%s", n++ > 0 ? ", " : "", long_options[i].name);
	}
	used = strlen(err);
	snprintf(err + used, err_size - used, ")");
}

/*
 * Runs getopt_long over argv into raw. Returns 0, or -1 with err set for an
 * unknown option, a missing value or a value given to a flag.
 */
static int collect(int argc, char *const argv[], struct raw_args *raw, char *err, size_t err_size)
{
	char name[64];
	int c, rc = 0;

	optind = 0; /* glibc: full re-initialisation, so the parser can run more than once */
	opterr = 0;
	while ((c = getopt_long(argc, argv, OPTSTRING, long_options, NULL)) != -1) {
		if (c == 1) {
			add_argument(raw, optarg);
		} else if (c == 'h') {
			raw->seen[SPEC_HELP] = true;
		} else if (c >= SPEC_BASE && c < SPEC_BASE + SPEC_COUNT) {
			raw->seen[c - SPEC_BASE] = true;
			raw->values[c - SPEC_BASE] = optarg;
		} else if (rc == 0 && c == ':') {
			int spec = optopt - SPEC_BASE;
			const char *metavar = spec >= 0 && spec < SPEC_COUNT ? spec_metavar[spec] : NULL;
			option_text(argv[optind - 1], name, sizeof(name));
			set_error(err, err_size, "option '%s' needs a value: %s %s", name, name,
				  metavar != NULL ? metavar : "VALUE");
			rc = -1;
		} else if (rc == 0 && c == '?') {
			if (optopt >= SPEC_BASE)
				set_error(err, err_size, "option '%s' does not take a value",
					  option_text(argv[optind - 1], name, sizeof(name)));
			else if (optopt != 0)
				set_error(err, err_size, "unknown option '-%c'", optopt);
			else
				unknown_option(option_text(argv[optind - 1], name, sizeof(name)), err,
					       err_size);
			rc = -1;
		}
	}
	for (; optind < argc; optind++) /* after "--" */
		add_argument(raw, argv[optind]);
	return rc;
}

int options_parse_seconds(const char *text, int64_t *ms)
{
	int64_t seconds = 0, millis = 0;
	int int_digits = 0, frac_digits = 0;
	bool round_up = false;
	const char *p = text;

	for (; isdigit((unsigned char)*p); p++, int_digits++) {
		if (seconds > OPTIONS_TIMEOUT_MAX_S)
			return -1; /* already too large; stops overflow */
		seconds = seconds * 10 + (*p - '0');
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, frac_digits++) {
			if (frac_digits < 3)
				millis = millis * 10 + (*p - '0');
			else if (*p != '0')
				round_up = true;
		}
	}
	if (*p != '\0' || int_digits + frac_digits == 0)
		return -1;
	for (int i = frac_digits; i < 3; i++)
		millis *= 10;
	millis += seconds * 1000 + (round_up ? 1 : 0);
	if (millis <= 0 || millis > (int64_t)OPTIONS_TIMEOUT_MAX_S * 1000)
		return -1;
	*ms = millis;
	return 0;
}

/*
 * names (NULL-ended) joined into out: "A", "A<last>B", "A<sep>B<last>C";
 * cut short if out is too small.
 */
static void join_names(const char *const *names, const char *sep, const char *last, char *out,
		       size_t out_size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; names[i] != NULL && used < out_size; i++) {
		const char *before = i == 0 ? "" : names[i + 1] == NULL ? last : sep;
		int n = snprintf(out + used, out_size - used, "%s%s", before, names[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/*
 * Copies text into out (out_size bytes) in upper case (upper) or lower case.
 * Returns 0, or -1 if it does not fit: no status or priority name is that long.
 */
static int change_case(const char *text, bool upper, char *out, size_t out_size)
{
	size_t len = strlen(text);

	if (len >= out_size)
		return -1;
	for (size_t i = 0; i <= len; i++)
		out[i] = (char)(upper ? toupper((unsigned char)text[i]) : tolower((unsigned char)text[i]));
	return 0;
}

/* Parses a --status value, in any case. Returns 0 or -1. */
static int parse_status(const char *text, enum job_status *out)
{
	char upper[16];

	return change_case(text, true, upper, sizeof(upper)) == 0 ? job_status_parse(upper, out) : -1;
}

/* Parses a --priority value, in any case. Returns 0 or -1. */
static int parse_priority(const char *text, enum job_priority *out)
{
	char lower[16];

	return change_case(text, false, lower, sizeof(lower)) == 0 ? job_priority_parse(lower, out) : -1;
}

/* "QUEUED, RUNNING, COMPLETED, FAILED or CANCELLED", from the model's list. */
static void list_statuses(char *out, size_t out_size)
{
	const char *names[JOB_STATUS_COUNT + 1];

	for (int i = 0; i < JOB_STATUS_COUNT; i++)
		names[i] = job_status_name((enum job_status)i);
	names[JOB_STATUS_COUNT] = NULL;
	join_names(names, ", ", " or ", out, out_size);
}

static int set_coordinator(const char *flag, const char *env, struct options *out, char *err,
			   size_t err_size)
{
	const char *text = OPTIONS_DEFAULT_COORDINATOR, *source = "default";
	char why[256];
	char *url;
	int rc = -1;

	if (flag != NULL) {
		text = flag;
		source = "--coordinator";
	} else if (env != NULL && *env != '\0') {
		text = env;
		source = "MESH_COORDINATOR";
	}
	url = build_agent_base_url(text, why, sizeof(why));
	if (url == NULL) {
		set_error(err, err_size, "%s '%s' is not a coordinator URL: %s", source, text, why);
		return -1;
	}
	if (strlen(url) >= sizeof(out->coordinator)) {
		set_error(err, err_size, "%s is longer than %zu characters", source,
			  sizeof(out->coordinator) - 1);
		goto out;
	}
	memcpy(out->coordinator, url, strlen(url) + 1);
	rc = 0;
out:
	free(url);
	return rc;
}

/* Checks that the command exists, takes the options given, and has its arguments. */
static int check_shape(const struct raw_args *raw, struct options *out, char *err, size_t err_size)
{
	const struct cmd_entry *command;
	const char *command_names[16];
	const size_t names_max = sizeof(command_names) / sizeof(command_names[0]) - 1;
	char names[128];
	size_t wanted, count = 0;

	if (raw->command == NULL) {
		set_error(err, err_size, "no command given");
		return -1;
	}
	command = cmd_find(raw->command);
	if (command == NULL) {
		for (; cmd_table[count] != NULL && count < names_max; count++)
			command_names[count] = cmd_table[count]->name;
		command_names[count] = NULL;
		join_names(command_names, ", ", ", ", names, sizeof(names));
		set_error(err, err_size, "unknown command '%s' (commands: %s)", raw->command, names);
		return -1;
	}
	out->command = command;
	for (int spec = 0; spec < SPEC_COUNT; spec++) {
		if (raw->seen[spec] && spec_bits[spec] != 0 && !(command->options & spec_bits[spec])) {
			set_error(err, err_size, "option '--%s' does not apply to '%s'",
				  long_options[spec].name, command->name);
			return -1;
		}
	}
	wanted = cmd_arg_count(command);
	if (raw->arg_count < wanted) {
		join_names(command->arg_names + raw->arg_count, ", ", " and ", names, sizeof(names));
		set_error(err, err_size, "'%s' needs %s", command->name, names);
		return -1;
	}
	if (raw->arg_count > wanted || raw->extra != NULL) {
		const char *arg = raw->arg_count > wanted ? raw->args[wanted] : raw->extra;
		if (wanted == 0) {
			set_error(err, err_size, "unexpected argument '%s': '%s' takes none", arg,
				  command->name);
		} else {
			join_names(command->arg_names, ", ", " and ", names, sizeof(names));
			set_error(err, err_size, "unexpected argument '%s': '%s' takes only %s%s", arg,
				  command->name, names,
				  wanted > 1 ? " (quote a value that has spaces)" : "");
		}
		return -1;
	}
	for (size_t i = 0; i < wanted; i++)
		out->args[i] = raw->args[i];
	out->arg_count = wanted;
	return 0;
}

/* Checks the command's arguments: TYPE and PAYLOAD of submit, the ID or NODE of the others. */
static int check_arguments(struct options *out, char *err, size_t err_size)
{
	json_t *payload;

	if (out->command == &cmd_submit_entry) {
		if (!mesh_type_is_valid(out->args[0])) {
			set_error(err, err_size,
				  "TYPE '%.80s' is not valid: use 1 to %d letters, digits, '_', '.' or '-'",
				  out->args[0], MESH_TYPE_MAX);
			return -1;
		}
		payload = json_string(out->args[1]);
		if (payload == NULL) {
			set_error(err, err_size, "PAYLOAD is not valid UTF-8 text");
			return -1;
		}
		json_decref(payload);
		/* Borrowed from argv, which outlives the options (see options.h). */
		out->submission.type = (char *)out->args[0];
		out->submission.payload = (char *)out->args[1];
		return 0;
	}
	if (out->arg_count == 1 && out->args[0][0] == '\0') {
		set_error(err, err_size, "%s is empty", out->command->arg_names[0]);
		return -1;
	}
	return 0;
}

/* Checks --wait and --timeout. */
static int check_wait(const struct raw_args *raw, struct options *out, char *err, size_t err_size)
{
	const char *timeout = raw->values[SPEC_TIMEOUT];

	out->wait = raw->seen[SPEC_WAIT];
	if (timeout == NULL)
		return 0;
	if (!out->wait) {
		/* On submit, --timeout is easily taken for the job's own time limit. */
		set_error(err, err_size, "option '--timeout' only applies with --wait%s",
			  out->command == &cmd_submit_entry
				  ? " (it limits the wait; --job-timeout-ms limits the job)"
				  : "");
		return -1;
	}
	if (options_parse_seconds(timeout, &out->timeout_ms) != 0) {
		set_error(err, err_size,
			  "--timeout '%.40s' must be a number of seconds above 0 and at most %d "
			  "(fractions allowed)",
			  timeout, OPTIONS_TIMEOUT_MAX_S);
		return -1;
	}
	return 0;
}

/*
 * Parses the value of option spec, if given, as a whole number from 1 to max
 * into *out, naming unit ("milliseconds") in the error. Returns 0 or -1.
 */
static int take_number(const struct raw_args *raw, enum spec spec, long max, const char *unit,
		       long *out, char *err, size_t err_size)
{
	const char *text = raw->values[spec];

	if (text == NULL)
		return 0;
	if (parse_long_in_range(text, 1, max, out) == 0)
		return 0;
	set_error(err, err_size, "--%s '%.40s' must be a whole number%s%s from 1 to %ld",
		  long_options[spec].name, text, unit[0] ? " of " : "", unit, max);
	return -1;
}

/*
 * Checks --idempotency-key as POST /jobs will: 1 to MESH_IDEMPOTENCY_KEY_MAX
 * bytes of UTF-8 text without control characters.
 */
static int check_idempotency_key(const char *key, char *err, size_t err_size)
{
	size_t len = strlen(key);
	json_t *text;

	if (len == 0 || len > MESH_IDEMPOTENCY_KEY_MAX) {
		set_error(err, err_size, "--idempotency-key must be 1 to %d bytes (got %zu)",
			  MESH_IDEMPOTENCY_KEY_MAX, len);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f) {
			set_error(err, err_size,
				  "--idempotency-key must not contain control characters (byte %zu is 0x%02x)",
				  i + 1, (unsigned char)key[i]);
			return -1;
		}
	}
	text = json_string(key);
	if (text == NULL) {
		set_error(err, err_size, "--idempotency-key is not valid UTF-8 text");
		return -1;
	}
	json_decref(text);
	return 0;
}

/* Checks submit's job options against the limits POST /jobs enforces, into out->submission. */
static int check_job_options(const struct raw_args *raw, struct options *out, char *err,
			     size_t err_size)
{
	const char *const *v = raw->values;
	struct job_submission *submission = &out->submission;
	long timeout = 0, attempts = 0, base = 0, cap = 0;

	if (v[SPEC_PRIORITY] != NULL) {
		if (parse_priority(v[SPEC_PRIORITY], &submission->priority) != 0) {
			set_error(err, err_size, "--priority '%.40s' must be high, normal or low",
				  v[SPEC_PRIORITY]);
			return -1;
		}
		submission->has_priority = true;
	}
	if (take_number(raw, SPEC_JOB_TIMEOUT, (long)MESH_TIMEOUT_MAX_MS, "milliseconds", &timeout, err,
			err_size) != 0 ||
	    take_number(raw, SPEC_MAX_ATTEMPTS, MESH_ATTEMPTS_MAX, "", &attempts, err, err_size) != 0 ||
	    take_number(raw, SPEC_BACKOFF_BASE, (long)MESH_BACKOFF_MAX_MS, "milliseconds", &base, err,
			err_size) != 0 ||
	    take_number(raw, SPEC_BACKOFF_CAP, (long)MESH_BACKOFF_MAX_MS, "milliseconds", &cap, err,
			err_size) != 0)
		return -1;
	if (base > 0 && cap > 0 && base > cap) {
		set_error(err, err_size, "--backoff-base-ms %ld must not be more than --backoff-cap-ms %ld",
			  base, cap);
		return -1;
	}
	submission->timeout_ms = timeout;
	submission->max_attempts = (int)attempts;
	submission->backoff_base_ms = base;
	submission->backoff_cap_ms = cap;
	if (raw->seen[SPEC_RETRY_ON_FAILURE]) {
		submission->has_retry_on_failure = true;
		submission->retry_on_failure = true;
	}
	if (v[SPEC_IDEMPOTENCY_KEY] != NULL) {
		if (check_idempotency_key(v[SPEC_IDEMPOTENCY_KEY], err, err_size) != 0)
			return -1;
		submission->idempotency_key = (char *)v[SPEC_IDEMPOTENCY_KEY]; /* borrowed from argv */
	}
	return 0;
}

/* Checks the filters of 'jobs'. */
static int check_filters(const struct raw_args *raw, struct options *out, char *err,
			 size_t err_size)
{
	const char *const *v = raw->values;
	char statuses[128];

	if (v[SPEC_STATUS] != NULL) {
		if (parse_status(v[SPEC_STATUS], &out->status) != 0) {
			list_statuses(statuses, sizeof(statuses));
			set_error(err, err_size, "--status '%.40s' is not a job status (%s)",
				  v[SPEC_STATUS], statuses);
			return -1;
		}
		out->has_status = true;
	}
	if (v[SPEC_NODE] != NULL) {
		if (v[SPEC_NODE][0] == '\0') {
			set_error(err, err_size, "--node is empty (expected a node id)");
			return -1;
		}
		out->node_id = v[SPEC_NODE];
	}
	if (v[SPEC_TYPE] != NULL) {
		if (!mesh_type_is_valid(v[SPEC_TYPE])) {
			set_error(err, err_size,
				  "--type '%.80s' is not valid: use 1 to %d letters, digits, '_', '.' or '-'",
				  v[SPEC_TYPE], MESH_TYPE_MAX);
			return -1;
		}
		out->type = v[SPEC_TYPE];
	}
	return take_number(raw, SPEC_LIMIT, OPTIONS_LIMIT_MAX, "", &out->limit, err, err_size);
}

/* Checks the values: the command's arguments, then the options. */
static int check_values(const struct raw_args *raw, struct options *out, char *err, size_t err_size)
{
	if (check_arguments(out, err, err_size) != 0 || check_wait(raw, out, err, err_size) != 0 ||
	    check_job_options(raw, out, err, err_size) != 0 ||
	    check_filters(raw, out, err, err_size) != 0)
		return -1;
	return 0;
}

enum options_result options_parse(int argc, char *const argv[], const char *env_coordinator,
				  struct options *out, char *err, size_t err_size)
{
	struct raw_args raw;
	int collected;

	memset(out, 0, sizeof(*out));
	memset(&raw, 0, sizeof(raw));
	out->timeout_ms = (int64_t)OPTIONS_TIMEOUT_DEFAULT_S * 1000;
	if (err_size > 0)
		err[0] = '\0';

	collected = collect(argc, argv, &raw, err, err_size);
	if (raw.seen[SPEC_HELP]) {
		out->command = raw.command != NULL ? cmd_find(raw.command) : NULL;
		return OPTIONS_HELP;
	}
	if (raw.seen[SPEC_VERSION])
		return OPTIONS_VERSION;
	if (collected != 0) {
		if (raw.command != NULL)
			out->command = cmd_find(raw.command);
		return OPTIONS_USAGE;
	}
	out->json = raw.seen[SPEC_JSON];
	if (check_shape(&raw, out, err, err_size) != 0 || check_values(&raw, out, err, err_size) != 0 ||
	    set_coordinator(raw.values[SPEC_COORDINATOR], env_coordinator, out, err, err_size) != 0)
		return OPTIONS_USAGE;
	return OPTIONS_RUN;
}

/* "  submit TYPE PAYLOAD ..." then the summary in a column, or on the next line if it is long. */
static void print_command_line(FILE *out, const struct cmd_entry *command)
{
	enum { SUMMARY_COLUMN = 24 };
	int width = fprintf(out, "  %s%s%s", command->name, command->usage[0] ? " " : "",
			    command->usage);

	if (width < 0)
		return;
	if (width > SUMMARY_COLUMN - 2)
		fprintf(out, "\n%*s%s\n", SUMMARY_COLUMN, "", command->summary);
	else
		fprintf(out, "%*s%s\n", SUMMARY_COLUMN - width, "", command->summary);
}

void options_print_help(FILE *out, const struct cmd_entry *command)
{
	if (command != NULL) {
		fprintf(out, "Usage: meshctl %s%s%s\n\n%s\n", command->name,
			command->usage[0] ? " " : "", command->usage, command->help);
		fprintf(out, "\nGlobal options (see 'meshctl --help'): --coordinator URL, --json.\n");
		return;
	}
	fprintf(out, "Usage: meshctl [OPTIONS] COMMAND [ARGS]\n"
		     "\n"
		     "Submits and cancels jobs on a Planetary Mesh coordinator, drains nodes, and\n"
		     "shows jobs and nodes.\n"
		     "\n"
		     "Commands:\n");
	for (size_t i = 0; cmd_table[i] != NULL; i++)
		print_command_line(out, cmd_table[i]);
	fprintf(out,
		"\n"
		"Options:\n"
		"  --coordinator URL     coordinator to talk to (default: $MESH_COORDINATOR,\n"
		"                        else " OPTIONS_DEFAULT_COORDINATOR "); HOST:PORT also works\n"
		"  --json                print the coordinator's JSON instead of tables\n"
		"  -h, --help            show this help; 'meshctl COMMAND --help' shows one command's\n"
		"  --version             print the version\n"
		"Options may come before or after the command. Put '--' before an argument that\n"
		"starts with '-'.\n"
		"\n"
		"Exit status:\n"
		"  0  success\n"
		"  1  the job FAILED or was CANCELLED (submit --wait); the job had already\n"
		"     finished, so nothing was cancelled (cancel)\n"
		"  2  the wait timed out (submit --wait, drain --wait)\n"
		"  3  usage error: unknown command or option, missing or extra argument, bad value\n"
		"  4  the coordinator could not be reached or answered with an error (an unknown\n"
		"     job or node included)\n");
}

void options_print_usage(FILE *out, const struct cmd_entry *command)
{
	if (command != NULL) {
		fprintf(out, "Usage: meshctl %s%s%s\nRun 'meshctl %s --help' for details.\n",
			command->name, command->usage[0] ? " " : "", command->usage, command->name);
		return;
	}
	fprintf(out, "Usage: meshctl [OPTIONS] COMMAND [ARGS]\n");
	for (size_t i = 0; cmd_table[i] != NULL; i++)
		fprintf(out, "       meshctl %s%s%s\n", cmd_table[i]->name,
			cmd_table[i]->usage[0] ? " " : "", cmd_table[i]->usage);
	fprintf(out, "Run 'meshctl --help' for the options and exit statuses.\n");
}
