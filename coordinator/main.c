/*
 * mesh-coordinator: start in a fixed order, wait for SIGTERM/SIGINT/SIGHUP, stop in
 * the reverse order. Startup errors exit non-zero with a message; once
 * serving, errors are logged and answered, never fatal.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "coordinator_api.h"
#include "coordinator_config.h"
#include "dispatcher.h"
#include "http_server.h"
#include "job_store.h"
#include "log.h"
#include "node_registry.h"
#include "prober.h"
#include "version.h"

/* Thousands of concurrent executions need thousands of sockets: lift the soft limit. */
static void raise_open_file_limit(void)
{
	struct rlimit limit;
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
		limit.rlim_cur = limit.rlim_max;
		setrlimit(RLIMIT_NOFILE, &limit);
	}
}

int main(int argc, char **argv)
{
	struct coordinator_config config;
	struct coordinator_app app = {0};
	struct http_server *server = NULL;
	struct prober *prober = NULL;
	sigset_t stop_signals;
	char err[512];
	int signal_number = 0;

	switch (coordinator_config_parse(argc, argv, &config, err, sizeof(err))) {
	case CONFIG_HELP:
		fputs(coordinator_usage, stdout);
		return 0;
	case CONFIG_VERSION:
		printf("mesh-coordinator %s\n", MESH_VERSION);
		return 0;
	case CONFIG_USAGE_ERROR:
		fprintf(stderr, "mesh-coordinator: %s\nRun 'mesh-coordinator --help' for the options.\n",
			err);
		return 2;
	case CONFIG_RUN:
		break;
	}
	log_init("coordinator", config.log_level);

	/* Before any thread exists, so that every thread inherits the mask. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP); /* a closed terminal: stop cleanly rather than die */
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_open_file_limit();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		log_fatal("could not initialise libcurl");

	app.store = job_store_memory_new();
	app.registry = node_registry_new();
	if (app.store == NULL || app.registry == NULL)
		log_fatal("out of memory");
	struct dispatcher_config dispatch = {
		.connect_timeout_ms = config.connect_timeout_ms,
		.execute_timeout_ms = config.execute_timeout_ms,
		.response_limit = 8 * 1024 * 1024,
	};
	app.dispatcher = dispatcher_start(app.store, app.registry, &dispatch, err, sizeof(err));
	if (app.dispatcher == NULL)
		log_fatal("%s", err);
	struct prober_config probe = {
		.interval_ms = config.probe_interval_ms,
		.timeout_ms = config.probe_timeout_ms,
		.unhealthy_after = (int)config.unhealthy_after,
	};
	prober = prober_start(app.registry, app.dispatcher, &probe, err, sizeof(err));
	if (prober == NULL)
		log_fatal("%s", err);
	struct http_server_config http = {
		.listen = config.listen,
		.routes = coordinator_routes,
		.route_count = coordinator_route_count,
		.app = &app,
		.body_limit = (size_t)config.max_body_bytes,
		.num_threads = (int)config.http_threads,
	};
	server = http_server_start(&http, err, sizeof(err));
	if (server == NULL)
		log_fatal("%s", err);
	{
		char host[128];
		snprintf(host, sizeof(host), "%s", config.listen);
		*strrchr(host, ':') = '\0';
		log_info("listening on %s:%d (probe every %ld ms, UNHEALTHY after %ld failures)", host,
			 http_server_port(server), config.probe_interval_ms, config.unhealthy_after);
	}

	sigwait(&stop_signals, &signal_number);
	log_info("received %s, stopping", strsignal(signal_number));

	http_server_stop(server);
	prober_stop(prober);
	dispatcher_stop(app.dispatcher);
	node_registry_free(app.registry);
	job_store_free(app.store);
	curl_global_cleanup();
	log_info("stopped");
	return 0;
}
