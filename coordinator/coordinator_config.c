#include "coordinator_config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "address.h"

const char coordinator_usage[] =
	"Usage: mesh-coordinator [OPTIONS]\n"
	"\n"
	"Keeps the registry of Planetary Mesh nodes and the store of jobs, and sends\n"
	"each job to the first healthy node that can take it.\n"
	"\n"
	"Options:\n"
	"  --listen HOST:PORT          address to serve the HTTP API on (default 0.0.0.0:8080;\n"
	"                              [V6]:PORT for IPv6; port 0 picks a free port)\n"
	"  --probe-interval-ms N       how often every node's /healthz is probed\n"
	"                              (default 1000; 50..600000)\n"
	"  --probe-timeout-ms N        how long one probe may take (default: the probe\n"
	"                              interval; 50..600000)\n"
	"  --unhealthy-after N         failed probes in a row that make a node UNHEALTHY\n"
	"                              (default 3; 1..1000)\n"
	"  --default-timeout-ms N      timeout_ms of a job that does not give one: the agent\n"
	"                              kills it after that long (default 3600000 = 1 hour;\n"
	"                              100..604800000). --execute-timeout-ms is an old name\n"
	"  --timeout-grace-ms N        how much longer than a job's timeout the coordinator\n"
	"                              waits for the agent's answer before it times the job\n"
	"                              out itself (default 5000; 0..600000)\n"
	"  --default-max-attempts N    max_attempts of a job that does not give it\n"
	"                              (default 1; 1..100)\n"
	"  --retry-base-ms N           backoff_base_ms default: delay before attempt 2\n"
	"                              (default 1000; 1..86400000)\n"
	"  --retry-cap-ms N            backoff_cap_ms default: longest delay between attempts\n"
	"                              (default 60000, or the base if that is larger;\n"
	"                              1..86400000; at least --retry-base-ms)\n"
	"  --lost-after-ms N           how long jobs on a node that turned UNHEALTHY wait for\n"
	"                              it to come back before they are retried elsewhere or\n"
	"                              FAILED (default 5000; 0..86400000)\n"
	"  --priority-aging-ms N       a waiting job rises one priority level per N ms, so\n"
	"                              low jobs are never starved (default 30000; 100..86400000)\n"
	"  --retention DURATION        how long finished jobs stay queryable before they are\n"
	"                              pruned: a number with s, m, h or d (default 7d;\n"
	"                              1s..3650d)\n"
	"  --connect-timeout-ms N      longest to wait for a connection to an agent\n"
	"                              (default 3000; 10..600000)\n"
	"  --max-body-bytes N          largest request body accepted; larger ones get 413\n"
	"                              (default 1048576 = 1 MiB; 1024..8388608)\n"
	"  --http-threads N            HTTP worker threads = connections served at once\n"
	"                              (default 512; 4..4096)\n"
	"  --max-waiting N             clients that may wait in POST /jobs?wait= at once;\n"
	"                              one more gets 503 with Retry-After (default: 3/4 of\n"
	"                              --http-threads, so that the rest serve everyone else;\n"
	"                              0..4095, below --http-threads)\n"
	"  --store sqlite|memory       where jobs are kept (default sqlite). sqlite: in\n"
	"                              DIR/jobs.db, so queued jobs survive a restart; memory:\n"
	"                              lost when the coordinator stops (tests and demos)\n"
	"  --data-dir DIR              directory of the sqlite store (default ./mesh-data;\n"
	"                              created with mode 0700 if missing). One coordinator\n"
	"                              per directory: a second one on it exits with an error\n"
	"  --log-level LEVEL           debug, info, warn or error (default info)\n"
	"  -h, --help                  show this help and exit\n"
	"  --version                   print the version and exit\n"
	"\n"
	"Durability: the sqlite store runs in WAL mode with synchronous=FULL, so the\n"
	"201 that accepts a job is sent only after the job is on disk: it survives a\n"
	"kill -9 (or a power cut) the instant after. That costs one fsync per change;\n"
	"concurrent changes share one commit (group commit). On start, jobs still\n"
	"QUEUED are dispatched again in submission order, and each job that was\n"
	"RUNNING is asked of the node that runs it (GET /executions/{id}): its real\n"
	"result is recorded, or it is followed to its end; a job its node does not\n"
	"know goes back to the queue, and one whose node never answers is LOST after\n"
	"--lost-after-ms (then retried or FAILED).\n"
	"\n"
	"SIGTERM, SIGINT or SIGHUP stop it cleanly. Exit status: 0 after a clean stop,\n"
	"1 if it could not start (e.g. the port is taken, the data directory cannot be\n"
	"created or written, or another coordinator uses it), 2 for a usage error.\n";

enum {
	OPT_LISTEN = 1000,
	OPT_PROBE_INTERVAL,
	OPT_PROBE_TIMEOUT,
	OPT_UNHEALTHY_AFTER,
	OPT_DEFAULT_TIMEOUT,
	OPT_TIMEOUT_GRACE,
	OPT_DEFAULT_MAX_ATTEMPTS,
	OPT_RETRY_BASE,
	OPT_RETRY_CAP,
	OPT_LOST_AFTER,
	OPT_PRIORITY_AGING,
	OPT_RETENTION,
	OPT_CONNECT_TIMEOUT,
	OPT_MAX_BODY,
	OPT_HTTP_THREADS,
	OPT_MAX_WAITING,
	OPT_LOG_LEVEL,
	OPT_STORE,
	OPT_DATA_DIR,
	OPT_VERSION,
};

struct ranged_flag {
	int option;
	const char *name;
	long min, max;
	size_t offset;
};

static const struct ranged_flag ranged_flags[] = {
	{OPT_PROBE_INTERVAL, "--probe-interval-ms", 50, 600000,
	 offsetof(struct coordinator_config, probe_interval_ms)},
	{OPT_PROBE_TIMEOUT, "--probe-timeout-ms", 50, 600000,
	 offsetof(struct coordinator_config, probe_timeout_ms)},
	{OPT_UNHEALTHY_AFTER, "--unhealthy-after", 1, 1000,
	 offsetof(struct coordinator_config, unhealthy_after)},
	{OPT_DEFAULT_TIMEOUT, "--default-timeout-ms", 100, 604800000,
	 offsetof(struct coordinator_config, default_timeout_ms)},
	{OPT_TIMEOUT_GRACE, "--timeout-grace-ms", 0, 600000,
	 offsetof(struct coordinator_config, timeout_grace_ms)},
	{OPT_DEFAULT_MAX_ATTEMPTS, "--default-max-attempts", 1, 100,
	 offsetof(struct coordinator_config, default_max_attempts)},
	{OPT_RETRY_BASE, "--retry-base-ms", 1, 86400000,
	 offsetof(struct coordinator_config, retry_base_ms)},
	{OPT_RETRY_CAP, "--retry-cap-ms", 1, 86400000, offsetof(struct coordinator_config, retry_cap_ms)},
	{OPT_LOST_AFTER, "--lost-after-ms", 0, 86400000,
	 offsetof(struct coordinator_config, lost_after_ms)},
	{OPT_PRIORITY_AGING, "--priority-aging-ms", 100, 86400000,
	 offsetof(struct coordinator_config, priority_aging_ms)},
	{OPT_CONNECT_TIMEOUT, "--connect-timeout-ms", 10, 600000,
	 offsetof(struct coordinator_config, connect_timeout_ms)},
	{OPT_MAX_BODY, "--max-body-bytes", 1024, 8388608,
	 offsetof(struct coordinator_config, max_body_bytes)},
	{OPT_HTTP_THREADS, "--http-threads", 4, 4096, offsetof(struct coordinator_config, http_threads)},
	{OPT_MAX_WAITING, "--max-waiting", 0, 4095, offsetof(struct coordinator_config, max_waiting)},
};

/* "90s", "15m", "36h", "7d" -> ms. Returns 0, or -1 if malformed or outside 1s..3650d. */
static int parse_duration_ms(const char *text, long *out)
{
	static const struct {
		char unit;
		long ms;
	} units[] = {{'s', 1000L}, {'m', 60000L}, {'h', 3600000L}, {'d', 86400000L}};
	size_t len = strlen(text);
	char number[32];
	long count;

	if (len < 2 || len >= sizeof(number))
		return -1;
	memcpy(number, text, len - 1);
	number[len - 1] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (text[len - 1] != units[i].unit)
			continue;
		if (parse_long_in_range(number, 1, 3650L * 86400000L / units[i].ms, &count) != 0)
			return -1;
		*out = count * units[i].ms;
		return 0;
	}
	return -1;
}

enum config_outcome coordinator_config_parse(int argc, char **argv, struct coordinator_config *out,
					     char *err, size_t err_size)
{
	static const struct option options[] = {
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"probe-interval-ms", required_argument, NULL, OPT_PROBE_INTERVAL},
		{"probe-timeout-ms", required_argument, NULL, OPT_PROBE_TIMEOUT},
		{"unhealthy-after", required_argument, NULL, OPT_UNHEALTHY_AFTER},
		{"default-timeout-ms", required_argument, NULL, OPT_DEFAULT_TIMEOUT},
		{"execute-timeout-ms", required_argument, NULL, OPT_DEFAULT_TIMEOUT},
		{"timeout-grace-ms", required_argument, NULL, OPT_TIMEOUT_GRACE},
		{"default-max-attempts", required_argument, NULL, OPT_DEFAULT_MAX_ATTEMPTS},
		{"retry-base-ms", required_argument, NULL, OPT_RETRY_BASE},
		{"retry-cap-ms", required_argument, NULL, OPT_RETRY_CAP},
		{"lost-after-ms", required_argument, NULL, OPT_LOST_AFTER},
		{"priority-aging-ms", required_argument, NULL, OPT_PRIORITY_AGING},
		{"retention", required_argument, NULL, OPT_RETENTION},
		{"connect-timeout-ms", required_argument, NULL, OPT_CONNECT_TIMEOUT},
		{"max-body-bytes", required_argument, NULL, OPT_MAX_BODY},
		{"http-threads", required_argument, NULL, OPT_HTTP_THREADS},
		{"max-waiting", required_argument, NULL, OPT_MAX_WAITING},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"store", required_argument, NULL, OPT_STORE},
		{"data-dir", required_argument, NULL, OPT_DATA_DIR},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	const char *listen = "0.0.0.0:8080";
	bool base_given = false, cap_given = false;
	int opt;

	memset(out, 0, sizeof(*out));
	out->probe_interval_ms = 1000;
	out->unhealthy_after = 3;
	out->default_timeout_ms = 3600000;
	out->timeout_grace_ms = 5000;
	out->default_max_attempts = 1;
	out->retry_base_ms = 1000;
	out->retry_cap_ms = 60000;
	out->lost_after_ms = 5000;
	out->priority_aging_ms = 30000;
	out->retention_ms = 7L * 24 * 3600 * 1000;
	out->connect_timeout_ms = 3000;
	out->max_body_bytes = 1048576;
	out->http_threads = 512;
	out->max_waiting = -1; /* 3/4 of --http-threads unless given */
	out->log_level = LOG_INFO;
	out->store = COORDINATOR_STORE_SQLITE;
	snprintf(out->data_dir, sizeof(out->data_dir), "%s", "./mesh-data");

	optind = 0; /* full re-initialisation, so that tests can parse many times */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		bool handled = false;
		for (size_t i = 0; i < sizeof(ranged_flags) / sizeof(ranged_flags[0]); i++) {
			const struct ranged_flag *flag = &ranged_flags[i];
			if (flag->option != opt)
				continue;
			base_given |= opt == OPT_RETRY_BASE;
			cap_given |= opt == OPT_RETRY_CAP;
			if (parse_long_in_range(optarg, flag->min, flag->max,
						(long *)((char *)out + flag->offset)) != 0) {
				snprintf(err, err_size, "%s must be a whole number from %ld to %ld (got '%s')",
					 flag->name, flag->min, flag->max, optarg);
				return CONFIG_USAGE_ERROR;
			}
			handled = true;
		}
		if (handled)
			continue;
		switch (opt) {
		case OPT_LISTEN:
			listen = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &out->log_level) != 0) {
				snprintf(err, err_size,
					 "--log-level must be debug, info, warn or error (got '%s')", optarg);
				return CONFIG_USAGE_ERROR;
			}
			break;
		case OPT_STORE:
			if (strcmp(optarg, "sqlite") == 0) {
				out->store = COORDINATOR_STORE_SQLITE;
			} else if (strcmp(optarg, "memory") == 0) {
				out->store = COORDINATOR_STORE_MEMORY;
			} else {
				snprintf(err, err_size, "--store must be sqlite or memory (got '%s')",
					 optarg);
				return CONFIG_USAGE_ERROR;
			}
			break;
		case OPT_RETENTION:
			if (parse_duration_ms(optarg, &out->retention_ms) != 0) {
				snprintf(err, err_size,
					 "--retention must be a whole number followed by s, m, h or d, "
					 "from 1s to 3650d (got '%s')",
					 optarg);
				return CONFIG_USAGE_ERROR;
			}
			break;
		case OPT_DATA_DIR:
			/* Room for "/jobs.db.lock" after it, which the store needs. */
			if (optarg[0] == '\0' ||
			    strlen(optarg) + sizeof("/jobs.db.lock") > sizeof(out->data_dir)) {
				snprintf(err, err_size,
					 "--data-dir must be a directory path of 1 to %zu bytes",
					 sizeof(out->data_dir) - sizeof("/jobs.db.lock"));
				return CONFIG_USAGE_ERROR;
			}
			snprintf(out->data_dir, sizeof(out->data_dir), "%s", optarg);
			break;
		case 'h':
			return CONFIG_HELP;
		case OPT_VERSION:
			return CONFIG_VERSION;
		case ':':
			snprintf(err, err_size, "%s needs a value", argv[optind - 1]);
			return CONFIG_USAGE_ERROR;
		default:
			snprintf(err, err_size, "unknown option '%s'", argv[optind - 1]);
			return CONFIG_USAGE_ERROR;
		}
	}
	if (optind < argc) {
		snprintf(err, err_size, "unexpected argument '%s' (mesh-coordinator takes only options)",
			 argv[optind]);
		return CONFIG_USAGE_ERROR;
	}
	if (listen_address_to_civetweb(listen, out->listen, sizeof(out->listen), err, err_size) != 0) {
		char detail[256];
		snprintf(detail, sizeof(detail), "%s", err);
		snprintf(err, err_size, "--listen: %s", detail);
		return CONFIG_USAGE_ERROR;
	}
	if (out->retry_base_ms > out->retry_cap_ms) {
		/* Only both given can contradict; one given moves the other's default out of its way. */
		if (base_given && cap_given) {
			snprintf(err, err_size, "--retry-base-ms (%ld) must not exceed --retry-cap-ms (%ld)",
				 out->retry_base_ms, out->retry_cap_ms);
			return CONFIG_USAGE_ERROR;
		}
		if (base_given)
			out->retry_cap_ms = out->retry_base_ms;
		else
			out->retry_base_ms = out->retry_cap_ms;
	}
	if (out->max_waiting < 0)
		out->max_waiting = out->http_threads * 3 / 4;
	if (out->max_waiting >= out->http_threads) {
		snprintf(err, err_size,
			 "--max-waiting (%ld) must be below --http-threads (%ld): waiting clients "
			 "must leave threads for everyone else",
			 out->max_waiting, out->http_threads);
		return CONFIG_USAGE_ERROR;
	}
	if (out->probe_timeout_ms == 0)
		out->probe_timeout_ms = out->probe_interval_ms;
	return CONFIG_RUN;
}
