/*
 * agent_config: the agent's flags. Defaults, then flags, then validation;
 * every bad value stops the agent with a message naming the flag and what it
 * accepts. Not thread-safe (getopt_long): main() calls it before any thread.
 */
#ifndef MESH_AGENT_CONFIG_H
#define MESH_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"

#define AGENT_VERSION "0.1.0"
#define AGENT_DEFAULT_LISTEN "0.0.0.0:8081"

/* Exit statuses, as --help documents them. */
#define AGENT_EXIT_OK 0
#define AGENT_EXIT_FAILURE 1 /* could not start (cannot listen, ...) */
#define AGENT_EXIT_USAGE 2   /* bad flags or handlers */

struct agent_handler_flag {
	char *type;    /* owned */
	char *command; /* owned */
};

struct agent_config {
	char *listen;             /* --listen as given: HOST:PORT or [V6]:PORT */
	char *listen_civetweb;    /* the same in civetweb's listening_ports form */
	char *listen_host;        /* HOST of --listen, brackets kept */
	char *coordinator_url;    /* --coordinator, normalised (no trailing '/') */
	char *advertise;          /* --advertise, or NULL: see agent_config_advertise */
	char *name;               /* --name, or the host name */
	int capacity;             /* --capacity, or the number of online CPUs */
	struct agent_handler_flag *handlers;
	size_t handler_count;
	enum log_level log_level;
	long drain_grace_ms;      /* --drain-grace-ms: how long a stop waits for running jobs (0..DRAIN_MAX_GRACE_MS) */
	bool check_only;          /* -n/--check: validate and exit */
};

enum agent_config_action {
	AGENT_CONFIG_RUN,          /* cfg is filled: start the agent */
	AGENT_CONFIG_EXIT_SUCCESS, /* --help or --version was printed: exit 0 */
	AGENT_CONFIG_EXIT_USAGE,   /* an error was printed to err: exit AGENT_EXIT_USAGE */
};

/*
 * Parses argv into cfg (which the caller releases with agent_config_clear
 * whatever the answer). --help and --version print to out; errors, each
 * naming the flag, print to err. Handlers are checked with
 * executor_check_handler, so a handler whose program is missing is a usage
 * error.
 */
enum agent_config_action agent_config_parse(int argc, char **argv, struct agent_config *cfg,
					    FILE *out, FILE *err);

void agent_config_clear(struct agent_config *cfg);

/*
 * The address the agent advertises to the coordinator: --advertise as given,
 * else HOST:port where HOST is the --listen host, or this machine's host name
 * when listening on every address (0.0.0.0 or [::]). port is the port actually
 * bound. Returns a new string (free()), or NULL with err set when the result
 * is not an address build_agent_base_url accepts.
 */
char *agent_config_advertise(const struct agent_config *cfg, int port, char *err, size_t err_size);

/* Writes the --help text to out. */
void agent_config_usage(FILE *out);

#endif
