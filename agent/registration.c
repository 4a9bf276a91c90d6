/*
 * Locking: reg->lock guards reg->node_id and reg->stopping; reg->wake is
 * signalled when stopping becomes true. Everything else in struct
 * registration is written before the thread starts, or used by the thread
 * alone (the http client, the jitter seed), except joined, which belongs to
 * the one thread that calls registration_halt and registration_stop.
 */
#include "registration.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "deadline.h"
#include "http_client.h"
#include "log.h"
#include "model.h"
#include "wire.h"

#define DEFAULT_POLL_INTERVAL_MS 2000
#define DEFAULT_BACKOFF_START_MS 200
#define DEFAULT_BACKOFF_CAP_MS 5000

struct registration {
	pthread_t thread;
	bool joined;                /* the caller's: registration_halt has joined the thread */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;              /* lock */
	char node_id[MESH_ID_SIZE]; /* lock */
	char *coordinator_url;      /* without a trailing '/' */
	char *register_url;
	char *body;                 /* the registration, encoded once */
	struct http_client *client; /* the thread's */
	unsigned int seed;          /* the thread's */
	int poll_interval_ms;
	int backoff_start_ms;
	int backoff_cap_ms;
};

enum register_attempt { REGISTER_OK, REGISTER_FAILED, REGISTER_REJECTED };

/* Waits ms or until registration_stop. Returns true if the thread must stop. */
static bool wait_or_stop(struct registration *reg, int ms)
{
	int64_t deadline = clock_monotonic_ms() + ms;
	bool stopping;

	pthread_mutex_lock(&reg->lock);
	while (!reg->stopping && !deadline_cond_wait(&reg->wake, &reg->lock, deadline))
		;
	stopping = reg->stopping;
	pthread_mutex_unlock(&reg->lock);
	return stopping;
}

static void set_node_id(struct registration *reg, const char *node_id)
{
	pthread_mutex_lock(&reg->lock);
	snprintf(reg->node_id, sizeof(reg->node_id), "%s", node_id);
	pthread_mutex_unlock(&reg->lock);
}

void registration_node_id(struct registration *reg, char *out, size_t out_size)
{
	pthread_mutex_lock(&reg->lock);
	snprintf(out, out_size, "%s", reg->node_id);
	pthread_mutex_unlock(&reg->lock);
}

/* delay +-10%, so that agents started together do not retry in step. */
static int with_jitter(struct registration *reg, int delay)
{
	int spread = delay / 10;
	if (spread == 0)
		return delay;
	return delay - spread + rand_r(&reg->seed) % (2 * spread + 1);
}

/*
 * Takes the node id out of a 201 (new node) or 200 (known node, updated) answer into node_id. Returns 0, or -1 with
 * err saying what is wrong with the answer.
 */
static int parse_node_id(const struct http_response *response, char *node_id, size_t node_id_size,
			 char *err, size_t err_size)
{
	json_t *json = wire_parse_object(response->body, response->len, err, err_size);
	const char *id;
	int rc = -1;

	if (json == NULL)
		return -1;
	id = json_string_value(json_object_get(json, "node_id"));
	if (id == NULL)
		id = json_string_value(json_object_get(json, "id"));
	if (id == NULL) {
		snprintf(err, err_size, "the answer has no string 'node_id' or 'id'");
		goto out;
	}
	/* It goes into a URL path: letters, digits, '_', '.', '-' only. */
	if (!mesh_name_is_valid(id) || strlen(id) >= node_id_size) {
		snprintf(err, err_size, "the node id '%.60s' is not a valid id", id);
		goto out;
	}
	snprintf(node_id, node_id_size, "%s", id);
	rc = 0;
out:
	json_decref(json);
	return rc;
}

/* One registration attempt; logs its failure. */
static enum register_attempt try_register(struct registration *reg, char *node_id,
					  size_t node_id_size, int retry_ms)
{
	struct http_response response;
	char err[512], message[256];
	enum register_attempt result = REGISTER_FAILED;

	if (http_client_request(reg->client, "POST", reg->register_url, reg->body, &response, err,
				sizeof(err)) != 0) {
		log_warn("registration failed: %s; retrying in %d ms", err, retry_ms);
		goto out;
	}
	if (response.status == 201 || response.status == 200) {
		if (parse_node_id(&response, node_id, node_id_size, message, sizeof(message)) == 0) {
			result = REGISTER_OK;
			goto out;
		}
		log_warn("registration failed: coordinator answered HTTP %ld but %s; retrying in %d ms",
			 response.status, message, retry_ms);
		goto out;
	}
	wire_error_message(response.body, response.len, message, sizeof(message));
	if (response.status >= 400 && response.status < 500) {
		result = REGISTER_REJECTED;
		log_error("registration rejected by %s: HTTP %ld: %s; retrying in %d ms",
			  reg->register_url, response.status, message, reg->backoff_cap_ms);
		goto out;
	}
	log_warn("registration failed: %s answered HTTP %ld: %s; retrying in %d ms", reg->register_url,
		 response.status, message, retry_ms);
out:
	http_response_clear(&response);
	return result;
}

enum check { CHECK_KNOWN, CHECK_FORGOTTEN, CHECK_TROUBLE };

/* Asks the coordinator whether it still knows node_id. On CHECK_TROUBLE, why says what happened. */
static enum check check_node(struct registration *reg, const char *node_id, char *why,
			     size_t why_size)
{
	struct http_response response;
	char url[1024], err[512], message[256];
	enum check result = CHECK_TROUBLE;

	snprintf(url, sizeof(url), "%s/nodes/%s", reg->coordinator_url, node_id);
	if (http_client_request(reg->client, "GET", url, NULL, &response, err, sizeof(err)) != 0) {
		snprintf(why, why_size, "%s", err);
	} else if (response.status == 200) {
		result = CHECK_KNOWN;
	} else if (response.status == 404) {
		result = CHECK_FORGOTTEN;
	} else {
		wire_error_message(response.body, response.len, message, sizeof(message));
		snprintf(why, why_size, "GET %.300s answered HTTP %ld: %s", url, response.status, message);
	}
	http_response_clear(&response);
	return result;
}

static void *registration_main(void *arg)
{
	struct registration *reg = arg;
	char node_id[MESH_ID_SIZE] = "";
	int backoff = reg->backoff_start_ms;
	bool in_trouble = false; /* the last check got no good answer (logged once) */

	for (;;) {
		int delay;

		if (node_id[0] == '\0') {
			delay = with_jitter(reg, backoff);
			switch (try_register(reg, node_id, sizeof(node_id), delay)) {
			case REGISTER_OK:
				set_node_id(reg, node_id);
				log_info("registered with %s as node %s", reg->coordinator_url, node_id);
				backoff = reg->backoff_start_ms;
				in_trouble = false;
				delay = reg->poll_interval_ms;
				break;
			case REGISTER_REJECTED:
				delay = reg->backoff_cap_ms;
				break;
			case REGISTER_FAILED:
				backoff = backoff * 2 < reg->backoff_cap_ms ? backoff * 2 : reg->backoff_cap_ms;
				break;
			}
		} else {
			char why[768];
			switch (check_node(reg, node_id, why, sizeof(why))) {
			case CHECK_KNOWN:
				if (in_trouble)
					log_info("coordinator %s is back; node %s is still registered",
						 reg->coordinator_url, node_id);
				in_trouble = false;
				break;
			case CHECK_FORGOTTEN:
				log_warn("coordinator %s does not know node %s any more (did it restart?); "
					 "registering again",
					 reg->coordinator_url, node_id);
				node_id[0] = '\0';
				set_node_id(reg, "");
				continue; /* at once: until then no job reaches us */
			case CHECK_TROUBLE:
				if (!in_trouble)
					log_warn("coordinator %s is unreachable: %s; checking every %d ms",
						 reg->coordinator_url, why, reg->poll_interval_ms);
				in_trouble = true;
				break;
			}
			delay = reg->poll_interval_ms;
		}
		if (wait_or_stop(reg, delay))
			break;
	}
	return NULL;
}

static void free_registration(struct registration *reg)
{
	http_client_free(reg->client);
	free(reg->coordinator_url);
	free(reg->register_url);
	free(reg->body);
	pthread_cond_destroy(&reg->wake);
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

struct registration *registration_start(const struct registration_config *config, char *err,
					size_t err_size)
{
	struct node_registration body = {0};
	struct registration *reg = calloc(1, sizeof(*reg));
	size_t url_len;
	int rc;

	if (reg == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	if (pthread_mutex_init(&reg->lock, NULL) != 0 || deadline_cond_init(&reg->wake) != 0) {
		snprintf(err, err_size, "cannot create a lock");
		free(reg);
		return NULL;
	}
	reg->poll_interval_ms = config->poll_interval_ms > 0 ? config->poll_interval_ms
							     : DEFAULT_POLL_INTERVAL_MS;
	reg->backoff_start_ms = config->backoff_start_ms > 0 ? config->backoff_start_ms
							     : DEFAULT_BACKOFF_START_MS;
	reg->backoff_cap_ms = config->backoff_cap_ms > 0 ? config->backoff_cap_ms : DEFAULT_BACKOFF_CAP_MS;
	reg->seed = (unsigned int)clock_wall_ms() ^ (unsigned int)getpid();

	url_len = strlen(config->coordinator_url);
	while (url_len > 0 && config->coordinator_url[url_len - 1] == '/')
		url_len--;
	reg->coordinator_url = strndup(config->coordinator_url, url_len);
	if (reg->coordinator_url == NULL ||
	    asprintf(&reg->register_url, "%s/nodes/register", reg->coordinator_url) < 0) {
		reg->register_url = NULL;
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	/* The encoder only reads: borrowing the caller's strings is fine. */
	body.name = (char *)config->name;
	body.address = (char *)config->address;
	body.capacity = config->capacity;
	body.types = (char **)config->types;
	body.type_count = config->type_count;
	reg->body = node_registration_encode(&body);
	reg->client = http_client_new(REGISTRATION_CONNECT_TIMEOUT_MS, REGISTRATION_TOTAL_TIMEOUT_MS,
				      REGISTRATION_RESPONSE_LIMIT);
	/* One request every few seconds: a kept-alive connection would pin a coordinator thread. */
	if (reg->client != NULL)
		http_client_set_keep_alive(reg->client, false);
	if (reg->body == NULL || reg->client == NULL) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	rc = pthread_create(&reg->thread, NULL, registration_main, reg);
	if (rc != 0) {
		snprintf(err, err_size, "cannot start the registration thread: %s", strerror(rc));
		goto fail;
	}
	return reg;
fail:
	free_registration(reg);
	return NULL;
}

void registration_halt(struct registration *reg)
{
	if (reg->joined)
		return;
	pthread_mutex_lock(&reg->lock);
	reg->stopping = true;
	pthread_cond_broadcast(&reg->wake);
	pthread_mutex_unlock(&reg->lock);
	pthread_join(reg->thread, NULL);
	reg->joined = true;
}

void registration_stop(struct registration *reg)
{
	if (reg == NULL)
		return;
	registration_halt(reg);
	free_registration(reg);
}
