/*
 * mesh-coordinator: start in a fixed order, wait for SIGTERM/SIGINT/SIGHUP, stop in
 * the reverse order. Startup errors exit non-zero with a message; once
 * serving, errors are logged and answered, never fatal.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator_api.h"
#include "coordinator_config.h"
#include "dispatcher.h"
#include "http_server.h"
#include "job_store.h"
#include "log.h"
#include "node_registry.h"
#include "prober.h"
#include "retention.h"
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

/*
 * Makes dir (and any missing parent, like mkdir -p) with mode 0700 and checks
 * that it is a directory we can write. Returns 0, or -1 with err naming the
 * directory and the reason.
 */
static int prepare_data_dir(const char *dir, char *err, size_t err_size)
{
	char path[sizeof(((struct coordinator_config *)0)->data_dir)];
	struct stat st;

	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			snprintf(err, err_size, "cannot create the data directory %s: %s: %s", dir, path,
				 strerror(errno));
			return -1;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, err_size, "cannot create the data directory %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, err_size, "the data directory %s is not a directory", dir);
		return -1;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		snprintf(err, err_size, "the data directory %s is not writable: %s", dir,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* Opens the store that --store names; exits (log_fatal) if it cannot. */
static struct job_store *open_store(const struct coordinator_config *config)
{
	char path[sizeof(config->data_dir) + 16], err[3 * sizeof(config->data_dir)];
	struct job_store *store;

	if (config->store == COORDINATOR_STORE_MEMORY) {
		store = job_store_memory_new();
		if (store == NULL)
			log_fatal("out of memory");
		log_info("job store: in memory (jobs are lost when the coordinator stops)");
		return store;
	}
	if (prepare_data_dir(config->data_dir, err, sizeof(err)) != 0)
		log_fatal("%s", err);
	snprintf(path, sizeof(path), "%s/jobs.db", config->data_dir);
	store = job_store_sqlite_open(path, err, sizeof(err));
	if (store == NULL)
		log_fatal("%s", err);
	log_info("job store: sqlite %s (WAL, synchronous=FULL, group commit)", path);
	return store;
}

#define RECOVERY_PAGE 1000

/* The nodes known before the restart keep their ids; they take jobs once a probe answers. */
static void restore_nodes(struct job_store *store, struct node_registry *registry)
{
	struct node *nodes = NULL;
	size_t count = 0;

	if (job_store_load_nodes(store, &nodes, &count) != JOB_STORE_OK)
		log_fatal("could not read the nodes from the job store");
	if (node_registry_restore(registry, nodes, count) != REGISTRY_OK)
		log_fatal("out of memory restoring the nodes");
	if (count > 0)
		log_info("restored %zu node(s) from the store; each takes jobs again once it answers a "
			 "health probe",
			 count);
	node_list_free(nodes, count);
}

/*
 * Restart recovery, before serving: each job RUNNING when the last
 * coordinator stopped is taken up with the node that runs it (asked, then
 * followed to its end; a node that does not know it makes the attempt LOST).
 * The QUEUED ones the dispatcher reads from the store itself, while the
 * coordinator serves. Exits if the store fails.
 */
/*
 * The dispatcher reads QUEUED pages meanwhile, but cannot start any of them
 * before this is done: restored nodes are UNHEALTHY until probed, and the
 * prober and the HTTP server (registrations) start after it. A job started
 * from a page could otherwise be adopted here as well.
 */
static void recover_jobs(struct job_store *store, struct dispatcher *dispatcher)
{
	struct job_list page = {0};
	uint64_t cursor = 0;
	size_t adopted = 0, counts[JOB_STATUS_COUNT];

	for (;;) {
		if (job_store_list_page(store, JOB_RUNNING, &cursor, RECOVERY_PAGE, &page) !=
		    JOB_STORE_OK)
			log_fatal("could not read the RUNNING jobs from the job store");
		if (page.count == 0)
			break;
		for (size_t i = 0; i < page.count; i++) {
			if (dispatcher_adopt(dispatcher, &page.items[i]) != 0)
				log_fatal("out of memory taking up the running jobs");
			adopted++;
		}
		job_list_clear(&page);
	}
	job_list_clear(&page);
	job_store_count_by_status(store, counts);
	if (counts[JOB_QUEUED] + adopted > 0)
		log_info("recovered %zu QUEUED job(s) and %zu RUNNING job(s) from the store",
			 counts[JOB_QUEUED], adopted);
}

int main(int argc, char **argv)
{
	struct coordinator_config config;
	struct coordinator_app app = {0};
	struct http_server *server = NULL;
	struct prober *prober = NULL;
	struct retention *retention = NULL;
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

	app.store = open_store(&config);
	app.registry = node_registry_new();
	if (app.registry == NULL)
		log_fatal("out of memory");
	app.defaults = (struct job_defaults){
		.timeout_ms = config.default_timeout_ms,
		.max_attempts = (int)config.default_max_attempts,
		.backoff_base_ms = config.retry_base_ms,
		.backoff_cap_ms = config.retry_cap_ms,
	};
	app.waiters = job_waiters_new((size_t)config.max_waiting);
	if (app.waiters == NULL)
		log_fatal("out of memory");
	restore_nodes(app.store, app.registry);
	struct dispatcher_config dispatch = {
		.connect_timeout_ms = config.connect_timeout_ms,
		.default_timeout_ms = config.default_timeout_ms,
		.timeout_grace_ms = config.timeout_grace_ms,
		.retry_base_ms = config.retry_base_ms,
		.retry_cap_ms = config.retry_cap_ms,
		.lost_after_ms = config.lost_after_ms,
		.priority_aging_ms = config.priority_aging_ms,
		.response_limit = 8 * 1024 * 1024,
		.waiters = app.waiters,
	};
	app.dispatcher = dispatcher_start(app.store, app.registry, &dispatch, err, sizeof(err));
	if (app.dispatcher == NULL)
		log_fatal("%s", err);
	recover_jobs(app.store, app.dispatcher);
	/* Often enough that a short retention is honoured closely; at most once a minute. */
	retention = retention_start(app.store, config.retention_ms,
				    config.retention_ms / 10 < 60000 ? config.retention_ms / 10 : 60000);
	if (retention == NULL)
		log_fatal("could not start the retention pruner");
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
	retention_stop(retention);
	dispatcher_stop(app.dispatcher);
	node_registry_free(app.registry);
	job_waiters_free(app.waiters);
	job_store_free(app.store);
	curl_global_cleanup();
	log_info("stopped");
	return 0;
}
