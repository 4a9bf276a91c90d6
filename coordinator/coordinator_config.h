/*
 * coordinator_config: the coordinator's flags, their defaults and ranges.
 * Parsing is a pure function so that it can be tested without starting a
 * daemon. Defaults -> flags -> validation; a bad value names the flag and the
 * range.
 */
#ifndef MESH_COORDINATOR_CONFIG_H
#define MESH_COORDINATOR_CONFIG_H

#include <stddef.h>

#include "log.h"

enum coordinator_store { COORDINATOR_STORE_SQLITE, COORDINATOR_STORE_MEMORY };

struct coordinator_config {
	char listen[128];          /* civetweb form of --listen */
	long probe_interval_ms;
	long probe_timeout_ms;     /* 0 until parsed: then defaults to the interval */
	long unhealthy_after;
	long default_timeout_ms;   /* a job's timeout_ms when it gives none (--default-timeout-ms) */
	long timeout_grace_ms;     /* how much longer the coordinator waits before it times a job out itself */
	long default_max_attempts;
	long retry_base_ms;        /* default backoff_base_ms */
	long retry_cap_ms;         /* default backoff_cap_ms */
	long lost_after_ms;        /* how long jobs on an UNHEALTHY node wait for it before retry/FAILED */
	long priority_aging_ms;    /* a waiting job rises one priority level per this long */
	long retention_ms;         /* finished jobs are pruned this long after they finished */
	long connect_timeout_ms;
	long max_body_bytes;
	long http_threads;
	long max_waiting;          /* clients POST /jobs?wait= may hold at once; 0 until parsed */
	enum log_level log_level;
	enum coordinator_store store; /* --store, default sqlite */
	char data_dir[1024];          /* --data-dir, default ./mesh-data; the database is jobs.db in it */
};

enum config_outcome { CONFIG_RUN, CONFIG_HELP, CONFIG_VERSION, CONFIG_USAGE_ERROR };

/*
 * Parses argv into out. On CONFIG_USAGE_ERROR, err says which flag was wrong
 * and why. Uses getopt_long, so it resets optind itself.
 */
enum config_outcome coordinator_config_parse(int argc, char **argv, struct coordinator_config *out,
					     char *err, size_t err_size);

/* The --help text. */
extern const char coordinator_usage[];

#endif
