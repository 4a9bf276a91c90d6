#include "agent_config.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "drain.h"
#include "executor.h"
#include "model.h"

void agent_config_usage(FILE *out)
{
	fprintf(out,
		"Usage: mesh-agent --coordinator URL [OPTION]...\n"
		"Runs jobs that the Planetary Mesh coordinator sends to POST /execute, and keeps\n"
		"this agent registered with the coordinator.\n"
		"\n"
		"Options:\n"
		"  --coordinator URL     the coordinator, http:// or https:// (required)\n"
		"  --listen HOST:PORT    address to serve on, HOST:PORT or [V6]:PORT; port 0 takes\n"
		"                        any free port (default %s)\n"
		"  --advertise ADDRESS   what the coordinator should call: HOST:PORT, [V6]:PORT,\n"
		"                        :PORT or an http(s):// URL (default: the --listen host and\n"
		"                        the port bound; the host name when listening on 0.0.0.0/[::])\n"
		"  --name NAME           node name, 1 to %d of letters, digits, '_', '.', '-'\n"
		"                        (default: the host name)\n"
		"  --capacity N          jobs run at once, 1 to %d (default: online CPUs)\n"
		"  --handler TYPE=COMMAND\n"
		"                        run jobs of TYPE with COMMAND (repeatable). COMMAND is split\n"
		"                        into words like a shell does ('...', \"...\", \\) but no shell\n"
		"                        runs it: write sh -c '...' for pipes or variables. The payload\n"
		"                        is its stdin; exit status 0 = success with stdout (first\n"
		"                        %d bytes) as the output; otherwise the job fails with the\n"
		"                        status and the end of stderr. TYPE is 1 to %d of letters,\n"
		"                        digits, '_', '.', '-'; echo and sleep cannot be redefined.\n"
		"  --drain-grace-ms MS   on SIGTERM, SIGINT or SIGHUP, how long running jobs may go\n"
		"                        on before they are cancelled, 0 to %ld; 0 cancels them\n"
		"                        at once (default %ld)\n"
		"  --log-level LEVEL     debug, info, warn or error (default info)\n"
		"  -n, --check           check the flags and handlers, print \"configuration OK\", exit\n"
		"  -h, --help            print this help and exit\n"
		"  --version             print the version and exit\n"
		"\n"
		"Job types:\n"
		"  echo                  the output is the payload\n"
		"  sleep                 the payload is whole milliseconds, 0 to %ld, of simulated\n"
		"                        work; the output is \"slept N ms\"\n"
		"  TYPE                  each --handler\n"
		"\n"
		"A job sent with timeout_ms is stopped after that long: a handler's whole process\n"
		"group is killed (SIGKILL), and the job fails with \"timed_out\": true.\n"
		"\n"
		"SIGTERM, SIGINT or SIGHUP drains the agent, then it exits: it refuses new jobs\n"
		"(503), tells the coordinator (POST /nodes/ID/drain), waits up to --drain-grace-ms\n"
		"for running jobs to end, cancels those still running (their process groups are\n"
		"killed; the jobs fail with \"cancelled\": true), waits up to 5 s for their answers\n"
		"to go out, and deregisters (DELETE /nodes/ID). A second signal during the wait\n"
		"cancels the running jobs at once.\n"
		"\n"
		"Exit status: %d stopped by a signal, %d could not start (e.g. cannot listen),\n"
		"%d bad flags or handlers.\n",
		AGENT_DEFAULT_LISTEN, MESH_NAME_MAX, MESH_CAPACITY_MAX, EXECUTOR_OUTPUT_LIMIT,
		MESH_TYPE_MAX, DRAIN_MAX_GRACE_MS, DRAIN_DEFAULT_GRACE_MS, EXECUTOR_SLEEP_MAX_MS,
		AGENT_EXIT_OK, AGENT_EXIT_FAILURE, AGENT_EXIT_USAGE);
}

void agent_config_clear(struct agent_config *cfg)
{
	free(cfg->listen);
	free(cfg->listen_civetweb);
	free(cfg->listen_host);
	free(cfg->coordinator_url);
	free(cfg->advertise);
	free(cfg->name);
	for (size_t i = 0; i < cfg->handler_count; i++) {
		free(cfg->handlers[i].type);
		free(cfg->handlers[i].command);
	}
	free(cfg->handlers);
	memset(cfg, 0, sizeof(*cfg));
}

/* Replaces *slot with a copy of value. Returns 0, or -1 when out of memory. */
static int set_string(char **slot, const char *value)
{
	char *copy = strdup(value);
	if (copy == NULL)
		return -1;
	free(*slot);
	*slot = copy;
	return 0;
}

static int check_listen(struct agent_config *cfg, const char *value, FILE *err)
{
	char civetweb[600], why[512];
	size_t host_len;

	if (listen_address_to_civetweb(value, civetweb, sizeof(civetweb), why, sizeof(why)) != 0) {
		fprintf(err, "mesh-agent: --listen: %s; allowed: HOST:PORT or [V6]:PORT, port 0-65535\n",
			why);
		return -1;
	}
	/* listen_address_to_civetweb accepted it, so the port follows the last ':'. */
	host_len = (size_t)(strrchr(value, ':') - value);
	free(cfg->listen_host);
	cfg->listen_host = strndup(value, host_len);
	if (cfg->listen_host == NULL || set_string(&cfg->listen, value) != 0 ||
	    set_string(&cfg->listen_civetweb, civetweb) != 0) {
		fprintf(err, "mesh-agent: out of memory\n");
		return -1;
	}
	return 0;
}

static int check_coordinator(struct agent_config *cfg, const char *value, FILE *err)
{
	char why[512];
	char *url;

	if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
		fprintf(err, "mesh-agent: --coordinator '%s' must be an http:// or https:// URL\n",
			value);
		return -1;
	}
	url = build_agent_base_url(value, why, sizeof(why));
	if (url == NULL) {
		fprintf(err, "mesh-agent: --coordinator: %s\n", why);
		return -1;
	}
	free(cfg->coordinator_url);
	cfg->coordinator_url = url;
	return 0;
}

static int check_advertise(struct agent_config *cfg, const char *value, FILE *err)
{
	char why[512];
	char *url = build_agent_base_url(value, why, sizeof(why));

	if (url == NULL) {
		fprintf(err,
			"mesh-agent: --advertise: %s; allowed: HOST:PORT, [V6]:PORT, :PORT or an "
			"http(s):// URL, port 1-65535\n",
			why);
		return -1;
	}
	free(url);
	if (strlen(value) > MESH_ADDRESS_MAX) {
		fprintf(err, "mesh-agent: --advertise is longer than %d bytes\n", MESH_ADDRESS_MAX);
		return -1;
	}
	if (set_string(&cfg->advertise, value) != 0) {
		fprintf(err, "mesh-agent: out of memory\n");
		return -1;
	}
	return 0;
}

static int add_handler(struct agent_config *cfg, const char *value, FILE *err)
{
	const char *equals = strchr(value, '=');
	struct agent_handler_flag flag = {0};
	struct agent_handler_flag *bigger;
	char why[1024];

	if (equals == NULL || equals == value) {
		fprintf(err, "mesh-agent: --handler '%s' must be TYPE=COMMAND\n", value);
		return -1;
	}
	flag.type = strndup(value, (size_t)(equals - value));
	flag.command = strdup(equals + 1);
	if (flag.type == NULL || flag.command == NULL) {
		fprintf(err, "mesh-agent: out of memory\n");
		goto fail;
	}
	for (size_t i = 0; i < cfg->handler_count; i++) {
		if (strcmp(cfg->handlers[i].type, flag.type) == 0) {
			fprintf(err, "mesh-agent: --handler: job type '%s' is defined twice\n", flag.type);
			goto fail;
		}
	}
	if (cfg->handler_count + 2 >= MESH_TYPES_MAX) {
		fprintf(err, "mesh-agent: --handler: at most %d handlers\n", MESH_TYPES_MAX - 2);
		goto fail;
	}
	if (executor_check_handler(flag.type, flag.command, why, sizeof(why)) != 0) {
		fprintf(err, "mesh-agent: --handler: %s\n", why);
		goto fail;
	}
	bigger = realloc(cfg->handlers, (cfg->handler_count + 1) * sizeof(*cfg->handlers));
	if (bigger == NULL) {
		fprintf(err, "mesh-agent: out of memory\n");
		goto fail;
	}
	cfg->handlers = bigger;
	cfg->handlers[cfg->handler_count++] = flag;
	return 0;
fail:
	free(flag.type);
	free(flag.command);
	return -1;
}

/* The host name, or NULL with a message on err. */
static char *host_name(FILE *err)
{
	char name[HOST_NAME_MAX + 1];

	if (gethostname(name, sizeof(name)) != 0) {
		fprintf(err, "mesh-agent: cannot read the host name; pass --name and --advertise\n");
		return NULL;
	}
	name[sizeof(name) - 1] = '\0';
	return strdup(name);
}

/* Sets the defaults that are not constants. Returns 0 or -1 with a message on err. */
static int set_defaults(struct agent_config *cfg, FILE *err)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	cfg->capacity = cpus < 1 ? 1 : cpus > MESH_CAPACITY_MAX ? MESH_CAPACITY_MAX : (int)cpus;
	cfg->log_level = LOG_INFO;
	cfg->drain_grace_ms = DRAIN_DEFAULT_GRACE_MS;
	return check_listen(cfg, AGENT_DEFAULT_LISTEN, err);
}

enum agent_config_action agent_config_parse(int argc, char **argv, struct agent_config *cfg,
					    FILE *out, FILE *err)
{
	enum { OPT_LISTEN = 256, OPT_COORDINATOR, OPT_ADVERTISE, OPT_NAME, OPT_CAPACITY, OPT_HANDLER,
	       OPT_LOG_LEVEL, OPT_DRAIN_GRACE, OPT_HELP, OPT_VERSION };
	static const struct option options[] = {
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"coordinator", required_argument, NULL, OPT_COORDINATOR},
		{"advertise", required_argument, NULL, OPT_ADVERTISE},
		{"name", required_argument, NULL, OPT_NAME},
		{"capacity", required_argument, NULL, OPT_CAPACITY},
		{"handler", required_argument, NULL, OPT_HANDLER},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"drain-grace-ms", required_argument, NULL, OPT_DRAIN_GRACE},
		{"check", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, OPT_HELP},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	int opt;

	memset(cfg, 0, sizeof(*cfg));
	if (set_defaults(cfg, err) != 0)
		return AGENT_CONFIG_EXIT_USAGE;
	opterr = 0; /* our messages, not getopt's */
	optind = 0; /* GNU: start afresh, so that tests may parse more than once */
	while ((opt = getopt_long(argc, argv, ":nh", options, NULL)) != -1) {
		const char *value = optarg;
		long number;
		int rc = 0;

		switch (opt) {
		case OPT_LISTEN:
			rc = check_listen(cfg, value, err);
			break;
		case OPT_COORDINATOR:
			rc = check_coordinator(cfg, value, err);
			break;
		case OPT_ADVERTISE:
			rc = check_advertise(cfg, value, err);
			break;
		case OPT_NAME:
			if (!mesh_name_is_valid(value)) {
				fprintf(err,
					"mesh-agent: --name '%.200s' must be 1 to %d characters of letters, "
					"digits, '_', '.' or '-'\n",
					value, MESH_NAME_MAX);
				rc = -1;
			} else if (set_string(&cfg->name, value) != 0) {
				fprintf(err, "mesh-agent: out of memory\n");
				rc = -1;
			}
			break;
		case OPT_CAPACITY:
			if (parse_long_in_range(value, 1, MESH_CAPACITY_MAX, &number) != 0) {
				fprintf(err, "mesh-agent: --capacity must be a whole number from 1 to %d (got '%.40s')\n",
					MESH_CAPACITY_MAX, value);
				rc = -1;
			} else {
				cfg->capacity = (int)number;
			}
			break;
		case OPT_HANDLER:
			rc = add_handler(cfg, value, err);
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(value, &cfg->log_level) != 0) {
				fprintf(err, "mesh-agent: --log-level must be debug, info, warn or error (got '%.40s')\n",
					value);
				rc = -1;
			}
			break;
		case OPT_DRAIN_GRACE:
			if (parse_long_in_range(value, 0, DRAIN_MAX_GRACE_MS, &number) != 0) {
				fprintf(err,
					"mesh-agent: --drain-grace-ms must be a whole number of milliseconds "
					"from 0 to %ld (got '%.40s')\n",
					DRAIN_MAX_GRACE_MS, value);
				rc = -1;
			} else {
				cfg->drain_grace_ms = number;
			}
			break;
		case 'n':
			cfg->check_only = true;
			break;
		case 'h':
		case OPT_HELP:
			agent_config_usage(out);
			return AGENT_CONFIG_EXIT_SUCCESS;
		case OPT_VERSION:
			fprintf(out, "mesh-agent %s\n", AGENT_VERSION);
			return AGENT_CONFIG_EXIT_SUCCESS;
		case ':':
			fprintf(err, "mesh-agent: %s needs a value\n", argv[optind - 1]);
			rc = -1;
			break;
		default:
			fprintf(err, "mesh-agent: unknown option '%s'\n", argv[optind - 1]);
			rc = -1;
			break;
		}
		if (rc != 0)
			goto usage;
	}
	if (optind < argc) {
		fprintf(err, "mesh-agent: unexpected argument '%s'\n", argv[optind]);
		goto usage;
	}
	if (cfg->coordinator_url == NULL) {
		fprintf(err, "mesh-agent: --coordinator URL is required\n");
		goto usage;
	}
	if (cfg->name == NULL) {
		cfg->name = host_name(err);
		if (cfg->name == NULL)
			goto usage;
		if (!mesh_name_is_valid(cfg->name)) {
			fprintf(err,
				"mesh-agent: the host name '%.200s' is not a valid node name; pass --name "
				"(1 to %d characters of letters, digits, '_', '.' or '-')\n",
				cfg->name, MESH_NAME_MAX);
			goto usage;
		}
	}
	return AGENT_CONFIG_RUN;
usage:
	fprintf(err, "Try 'mesh-agent --help'.\n");
	return AGENT_CONFIG_EXIT_USAGE;
}

char *agent_config_advertise(const struct agent_config *cfg, int port, char *err, size_t err_size)
{
	char *address = NULL, *url;
	const char *host = cfg->listen_host;
	char name[HOST_NAME_MAX + 1];

	if (cfg->advertise != NULL) {
		address = strdup(cfg->advertise);
		if (address == NULL)
			snprintf(err, err_size, "out of memory");
		return address;
	}
	/* Listening everywhere says nothing about how others reach us: the host name does. */
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0 || strcmp(host, "[::0]") == 0) {
		if (gethostname(name, sizeof(name)) != 0) {
			snprintf(err, err_size, "cannot read the host name: pass --advertise");
			return NULL;
		}
		name[sizeof(name) - 1] = '\0';
		host = name;
	}
	if (asprintf(&address, "%s:%d", host, port) < 0) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	url = build_agent_base_url(address, err, err_size);
	if (url == NULL) {
		free(address);
		return NULL;
	}
	free(url);
	return address;
}
