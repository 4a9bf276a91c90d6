/*
 * mesh-agent: runs jobs for the coordinator. main() does a fixed start order
 * and the reverse stop order:
 *
 *   start: flags -> logging -> signals (SIGINT/SIGTERM/SIGHUP blocked, SIGPIPE
 *          ignored; before any thread, so every thread inherits it) ->
 *          curl_global_init -> executor with handlers -> execution record ->
 *          HTTP server ->
 *          "listening on HOST:PORT" -> registration thread -> sigwait
 *   stop:  the drain (drain.h: refuse new jobs, halt registration, tell the
 *          coordinator, wait up to --drain-grace-ms, cancel the rest, wait for
 *          their answers, deregister), with a thread that turns a second
 *          signal into executor_hurry -> HTTP server -> that thread ->
 *          registration -> execution record -> executor -> curl -> flags
 *
 * Threads of main.c's own: the second-signal watcher, from the first signal
 * until the HTTP server has stopped. Its lock guards only its done flag.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_api.h"
#include "agent_config.h"
#include "drain.h"
#include "execution_record.h"
#include "executor.h"
#include "http_server.h"
#include "log.h"
#include "registration.h"

/* How long jobs cancelled because the agent could not start get to answer. */
#define STARTUP_FAILURE_ANSWER_MS 3000

/*
 * Waits for stop signals while main drains, so that a second one cuts the
 * drain grace short. A thread because main is busy draining and cannot sit
 * in sigwait meanwhile.
 */
struct signal_watcher {
	pthread_t thread;
	pthread_mutex_t lock;
	bool done;                 /* lock: main is past the drain; the next signal is its own wake-up */
	const sigset_t *signals;   /* borrowed: main's stop signals, blocked in every thread */
	struct executor *executor; /* borrowed */
};

static void *signal_watcher_main(void *arg)
{
	struct signal_watcher *watcher = arg;

	for (;;) {
		int sig = 0;
		bool done;

		if (sigwait(watcher->signals, &sig) != 0)
			continue;
		pthread_mutex_lock(&watcher->lock);
		done = watcher->done;
		pthread_mutex_unlock(&watcher->lock);
		if (done)
			break;
		log_warn("received %s again while draining: the drain grace is cut short (jobs still running are cancelled at once)",
			 strsignal(sig));
		executor_hurry(watcher->executor);
	}
	return NULL;
}

/* Ends the watcher: a thread-directed SIGTERM, which its sigwait takes (SIGTERM is blocked everywhere). */
static void signal_watcher_stop(struct signal_watcher *watcher)
{
	pthread_mutex_lock(&watcher->lock);
	watcher->done = true;
	pthread_mutex_unlock(&watcher->lock);
	pthread_kill(watcher->thread, SIGTERM);
	pthread_join(watcher->thread, NULL);
}

int main(int argc, char **argv)
{
	struct agent_config cfg;
	struct executor *executor = NULL;
	struct execution_record *executions = NULL;
	struct agent_api_app app;
	struct http_server *server = NULL;
	struct registration *registration = NULL;
	struct registration_config reg_config;
	struct drain_config drain_config;
	struct drain_report drain_report;
	struct signal_watcher watcher = {.lock = PTHREAD_MUTEX_INITIALIZER};
	bool watching = false;
	const char **types = NULL;
	char *advertise = NULL;
	char err[1024];
	sigset_t stop_signals;
	int status = AGENT_EXIT_FAILURE, sig = 0;
	size_t type_count;

	switch (agent_config_parse(argc, argv, &cfg, stdout, stderr)) {
	case AGENT_CONFIG_RUN:
		break;
	case AGENT_CONFIG_EXIT_SUCCESS:
		agent_config_clear(&cfg);
		return AGENT_EXIT_OK;
	case AGENT_CONFIG_EXIT_USAGE:
		agent_config_clear(&cfg);
		return AGENT_EXIT_USAGE;
	}
	if (cfg.check_only) {
		printf("configuration OK\n");
		agent_config_clear(&cfg);
		return AGENT_EXIT_OK;
	}
	log_init("agent", cfg.log_level);

	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP); /* a closed terminal: stop cleanly rather than die */
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("cannot initialise libcurl");
		goto out_config;
	}

	executor = executor_new(cfg.capacity);
	if (executor == NULL) {
		log_error("cannot create the executor (out of memory?)");
		goto out_curl;
	}
	for (size_t i = 0; i < cfg.handler_count; i++) {
		/* agent_config_parse checked them; this fails only if a program vanished meanwhile. */
		if (executor_add_handler(executor, cfg.handlers[i].type, cfg.handlers[i].command, err,
					 sizeof(err)) != 0) {
			log_error("--handler %s: %s", cfg.handlers[i].type, err);
			goto out_executor;
		}
	}

	executions = execution_record_new(EXECUTION_RECORD_MAX_FINISHED, EXECUTION_RECORD_MAX_AGE_MS);
	if (executions == NULL) {
		log_error("cannot create the execution record (out of memory?)");
		goto out_executor;
	}

	app.executor = executor;
	app.executions = executions;
	server = agent_api_start(&app, cfg.listen_civetweb, err, sizeof(err));
	if (server == NULL) {
		log_error("cannot serve: %s", err);
		goto out_executions;
	}
	log_info("listening on %s:%d", cfg.listen_host, http_server_port(server));

	advertise = agent_config_advertise(&cfg, http_server_port(server), err, sizeof(err));
	if (advertise == NULL) {
		log_error("cannot build the address to advertise: %s", err);
		goto out_server;
	}
	type_count = executor_type_count(executor);
	types = calloc(type_count, sizeof(*types));
	if (types == NULL) {
		log_error("out of memory");
		goto out_server;
	}
	for (size_t i = 0; i < type_count; i++)
		types[i] = executor_type(executor, i);
	memset(&reg_config, 0, sizeof(reg_config));
	reg_config.coordinator_url = cfg.coordinator_url;
	reg_config.name = cfg.name;
	reg_config.address = advertise;
	reg_config.capacity = cfg.capacity;
	reg_config.types = types;
	reg_config.type_count = type_count;
	executor_type_list(executor, err, sizeof(err));
	log_info("node %s advertises %s with %d slot(s) and types %s; coordinator %s", cfg.name,
		 advertise, cfg.capacity, err, cfg.coordinator_url);
	registration = registration_start(&reg_config, err, sizeof(err));
	if (registration == NULL) {
		log_error("cannot start registration: %s", err);
		goto out_server;
	}

	while (sigwait(&stop_signals, &sig) != 0)
		;
	log_info("received %s; draining (grace %ld ms; another stop signal cancels running jobs at "
		 "once)",
		 strsignal(sig), cfg.drain_grace_ms);
	status = AGENT_EXIT_OK;

	watcher.signals = &stop_signals;
	watcher.executor = executor;
	watching = pthread_create(&watcher.thread, NULL, signal_watcher_main, &watcher) == 0;
	if (!watching)
		log_warn("cannot start the signal watcher: a second stop signal will not cut the drain short");
	memset(&drain_config, 0, sizeof(drain_config));
	drain_config.executor = executor;
	drain_config.registration = registration;
	drain_config.coordinator_url = cfg.coordinator_url;
	drain_config.grace_ms = cfg.drain_grace_ms;
	drain_run(&drain_config, &drain_report);
out_server:
	/* Only on a failed start: the drain has stopped every job already. */
	if (executor_cancel_all(executor, "the agent could not start and stopped") > 0 &&
	    !executor_wait_idle(executor, STARTUP_FAILURE_ANSWER_MS))
		log_warn("jobs still answering after %d ms; stopping the server anyway",
			 STARTUP_FAILURE_ANSWER_MS);
	log_info("stopping the HTTP server");
	/* mg_stop waits for the handlers to answer; it may take seconds (it polls in 2 s slices). */
	http_server_stop(server);
	if (watching)
		signal_watcher_stop(&watcher);
	registration_stop(registration);
out_executions:
	execution_record_free(executions);
out_executor:
	executor_free(executor);
out_curl:
	curl_global_cleanup();
out_config:
	free(types);
	free(advertise);
	agent_config_clear(&cfg);
	if (status == AGENT_EXIT_OK)
		log_info("stopped");
	return status;
}
