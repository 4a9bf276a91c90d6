/*
 * Locks: stop_lock guards stopping (and pairs with the multi handle's wakeup).
 * The curl handles belong to the prober thread.
 */
#include "prober.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http_client.h"
#include "log.h"

struct probe {
	CURL *easy;
	struct probe_target *target; /* borrowed from the round's target list */
	char *url;
	struct http_buffer response;
	char curl_error[CURL_ERROR_SIZE];
	bool done;
};

struct prober {
	struct node_registry *registry;
	struct dispatcher *dispatcher;
	struct prober_config config;
	pthread_t thread;
	CURLM *multi;
	pthread_mutex_t stop_lock;
	bool stopping;
};

static bool is_stopping(struct prober *prober)
{
	bool stopping;
	pthread_mutex_lock(&prober->stop_lock);
	stopping = prober->stopping;
	pthread_mutex_unlock(&prober->stop_lock);
	return stopping;
}

static void record(struct prober *prober, struct probe *probe, bool ok, const char *why)
{
	enum node_state_change change = node_registry_record_probe(
		prober->registry, probe->target->node_id, ok, prober->config.unhealthy_after);

	if (!ok)
		log_debug("probe of node %s (%s) failed: %s", probe->target->node_id, probe->url, why);
	if (change == NODE_BECAME_UNHEALTHY) {
		log_warn("node %s (%s) is UNHEALTHY after %d failed probes: %s", probe->target->node_id,
			 probe->target->base_url, prober->config.unhealthy_after, why);
		dispatcher_node_lost(prober->dispatcher, probe->target->node_id);
	} else if (change == NODE_BECAME_HEALTHY) {
		log_info("node %s (%s) is HEALTHY again", probe->target->node_id, probe->target->base_url);
		dispatcher_node_back(prober->dispatcher, probe->target->node_id);
		dispatcher_poke(prober->dispatcher);
	}
}

static void finish_probe(struct prober *prober, struct probe *probe, CURLcode result)
{
	char why[CURL_ERROR_SIZE + 64];
	long status = 0;

	probe->done = true;
	if (result != CURLE_OK) {
		snprintf(why, sizeof(why), "%s",
			 probe->curl_error[0] ? probe->curl_error : curl_easy_strerror(result));
		record(prober, probe, false, why);
		return;
	}
	curl_easy_getinfo(probe->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		snprintf(why, sizeof(why), "GET /healthz answered HTTP %ld", status);
		record(prober, probe, false, why);
		return;
	}
	record(prober, probe, true, NULL);
}

/* Probes every node once, all at the same time; returns when all have answered or timed out. */
static void probe_round(struct prober *prober, CURL ***handles, size_t *handle_count)
{
	struct probe_target *targets = NULL;
	struct probe *probes = NULL;
	size_t count = 0, pending = 0;

	if (node_registry_probe_targets(prober->registry, &targets, &count) != REGISTRY_OK || count == 0)
		goto out;
	probes = calloc(count, sizeof(*probes));
	if (probes == NULL)
		goto out;
	/* One easy handle per node, kept from round to round so each probe reuses its connection. */
	if (*handle_count < count) {
		CURL **bigger = realloc(*handles, count * sizeof(CURL *));
		if (bigger == NULL)
			goto out;
		for (size_t i = *handle_count; i < count; i++)
			bigger[i] = curl_easy_init();
		*handles = bigger;
		*handle_count = count;
	}
	for (size_t i = 0; i < count; i++) {
		struct probe *probe = &probes[i];
		probe->target = &targets[i];
		probe->easy = (*handles)[i];
		if (probe->easy == NULL || asprintf(&probe->url, "%s/healthz", targets[i].base_url) < 0) {
			probe->url = NULL;
			probe->done = true;
			continue;
		}
		http_buffer_reset(&probe->response, 64 * 1024);
		curl_easy_reset(probe->easy);
		curl_easy_setopt(probe->easy, CURLOPT_URL, probe->url);
		curl_easy_setopt(probe->easy, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(probe->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(probe->easy, CURLOPT_TIMEOUT_MS, prober->config.timeout_ms);
		curl_easy_setopt(probe->easy, CURLOPT_CONNECTTIMEOUT_MS, prober->config.timeout_ms);
		curl_easy_setopt(probe->easy, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(probe->easy, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(probe->easy, CURLOPT_WRITEFUNCTION, http_buffer_write);
		curl_easy_setopt(probe->easy, CURLOPT_WRITEDATA, &probe->response);
		curl_easy_setopt(probe->easy, CURLOPT_ERRORBUFFER, probe->curl_error);
		curl_easy_setopt(probe->easy, CURLOPT_PRIVATE, probe);
		curl_multi_add_handle(prober->multi, probe->easy);
		pending++;
	}
	while (pending > 0 && !is_stopping(prober)) {
		CURLMsg *msg;
		int running, left;
		curl_multi_perform(prober->multi, &running);
		while ((msg = curl_multi_info_read(prober->multi, &left)) != NULL) {
			struct probe *probe = NULL;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&probe);
			curl_multi_remove_handle(prober->multi, probe->easy);
			finish_probe(prober, probe, msg->data.result);
			pending--;
		}
		if (pending > 0)
			curl_multi_poll(prober->multi, NULL, 0, 100, NULL);
	}
out:
	for (size_t i = 0; probes != NULL && i < count; i++) {
		if (!probes[i].done && probes[i].easy != NULL)
			curl_multi_remove_handle(prober->multi, probes[i].easy);
		free(probes[i].url);
		http_buffer_free(&probes[i].response);
	}
	free(probes);
	probe_targets_free(targets, count);
}

static void *prober_main(void *arg)
{
	struct prober *prober = arg;
	CURL **handles = NULL;
	size_t handle_count = 0;
	int64_t next_round = clock_monotonic_ms();

	while (!is_stopping(prober)) {
		int64_t now = clock_monotonic_ms();
		if (now < next_round) {
			curl_multi_poll(prober->multi, NULL, 0, (int)(next_round - now), NULL);
			continue;
		}
		next_round = now + prober->config.interval_ms;
		probe_round(prober, &handles, &handle_count);
	}
	for (size_t i = 0; i < handle_count; i++) {
		if (handles[i] != NULL)
			curl_easy_cleanup(handles[i]);
	}
	free(handles);
	return NULL;
}

struct prober *prober_start(struct node_registry *registry, struct dispatcher *dispatcher,
			    const struct prober_config *config, char *err, size_t err_size)
{
	struct prober *prober = calloc(1, sizeof(*prober));
	if (prober == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	prober->registry = registry;
	prober->dispatcher = dispatcher;
	prober->config = *config;
	pthread_mutex_init(&prober->stop_lock, NULL);
	prober->multi = curl_multi_init();
	if (prober->multi == NULL ||
	    pthread_create(&prober->thread, NULL, prober_main, prober) != 0) {
		snprintf(err, err_size, "could not start the health prober");
		if (prober->multi != NULL)
			curl_multi_cleanup(prober->multi);
		pthread_mutex_destroy(&prober->stop_lock);
		free(prober);
		return NULL;
	}
	return prober;
}

void prober_stop(struct prober *prober)
{
	if (prober == NULL)
		return;
	pthread_mutex_lock(&prober->stop_lock);
	prober->stopping = true;
	pthread_mutex_unlock(&prober->stop_lock);
	curl_multi_wakeup(prober->multi);
	pthread_join(prober->thread, NULL);
	curl_multi_cleanup(prober->multi);
	pthread_mutex_destroy(&prober->stop_lock);
	free(prober);
}
