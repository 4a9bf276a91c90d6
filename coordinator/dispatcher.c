/*
 * Locks: inbox_lock guards the inbox (new jobs, lost nodes, stop) and the
 * published counters. Everything else in struct dispatcher is touched only by
 * the dispatcher thread, without a lock.
 */
#include "dispatcher.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http_client.h"
#include "log.h"
#include "wire.h"

/* How long a node that answered 429 is offered no jobs. */
#define FULL_NODE_PAUSE_MS 500
/* How often to ask an agent about a job it says it is already running. */
#define FOLLOW_INTERVAL_MS 500

struct waiting_job {
	struct waiting_job *next;
	uint64_t seq; /* submission order */
	char id[MESH_ID_SIZE];
	char *type;
	char *payload;
};

/* One FIFO per job type. */
struct type_queue {
	char *type;
	struct waiting_job *head, *tail;
	bool blocked; /* no node could take this type in the current round */
};

struct lost_node {
	struct lost_node *next;
	char node_id[MESH_ID_SIZE];
};

struct execution {
	struct execution *prev, *next; /* in dispatcher.executions */
	CURL *easy;
	struct waiting_job *job;       /* owned, kept to put it back on a 429 */
	char node_id[MESH_ID_SIZE];
	char *url;
	char *request_body;
	struct http_buffer response;
	char curl_error[CURL_ERROR_SIZE];
	int64_t started_ms;
	/*
	 * Following: the agent answered 409, it is already running this job (sent
	 * before a coordinator restart). Instead of running it again, the
	 * dispatcher asks GET /executions/{id} every FOLLOW_INTERVAL_MS until the
	 * agent has the outcome. The slot stays taken meanwhile.
	 */
	char *follow_url;  /* NULL unless following */
	int64_t follow_at; /* monotonic ms of the next question; 0 while one is in flight */
};

struct dispatcher {
	struct job_store *store;
	struct node_registry *registry;
	struct dispatcher_config config;
	pthread_t thread;
	CURLM *multi;
	struct curl_slist *json_headers;

	pthread_mutex_t inbox_lock;
	struct waiting_job *inbox_head, *inbox_tail;
	struct lost_node *lost;
	bool stopping;
	uint64_t next_seq;
	size_t published_waiting, published_in_flight;

	/* dispatcher thread only */
	struct type_queue *queues;
	size_t queue_count, queue_cap;
	size_t waiting;
	struct execution *executions;
	size_t in_flight;
	size_t following;
	CURL **idle_handles;
	size_t idle_count, idle_cap;
};

static void waiting_job_free(struct waiting_job *job)
{
	if (job == NULL)
		return;
	free(job->type);
	free(job->payload);
	free(job);
}

int dispatcher_enqueue(struct dispatcher *dispatcher, const struct job *job)
{
	struct waiting_job *entry = calloc(1, sizeof(*entry));
	if (entry == NULL)
		return -1;
	entry->type = strdup(job->type);
	entry->payload = strdup(job->payload);
	if (entry->type == NULL || entry->payload == NULL) {
		waiting_job_free(entry);
		return -1;
	}
	strcpy(entry->id, job->id);
	pthread_mutex_lock(&dispatcher->inbox_lock);
	entry->seq = dispatcher->next_seq++;
	if (dispatcher->inbox_tail != NULL)
		dispatcher->inbox_tail->next = entry;
	else
		dispatcher->inbox_head = entry;
	dispatcher->inbox_tail = entry;
	pthread_mutex_unlock(&dispatcher->inbox_lock);
	curl_multi_wakeup(dispatcher->multi);
	return 0;
}

void dispatcher_poke(struct dispatcher *dispatcher)
{
	curl_multi_wakeup(dispatcher->multi);
}

void dispatcher_node_lost(struct dispatcher *dispatcher, const char *node_id)
{
	struct lost_node *lost = calloc(1, sizeof(*lost));
	if (lost == NULL) {
		log_error("out of memory noting that node %s was lost", node_id);
		return;
	}
	snprintf(lost->node_id, sizeof(lost->node_id), "%s", node_id);
	pthread_mutex_lock(&dispatcher->inbox_lock);
	lost->next = dispatcher->lost;
	dispatcher->lost = lost;
	pthread_mutex_unlock(&dispatcher->inbox_lock);
	curl_multi_wakeup(dispatcher->multi);
}

void dispatcher_counts(struct dispatcher *dispatcher, size_t *waiting, size_t *in_flight)
{
	pthread_mutex_lock(&dispatcher->inbox_lock);
	*waiting = dispatcher->published_waiting;
	*in_flight = dispatcher->published_in_flight;
	pthread_mutex_unlock(&dispatcher->inbox_lock);
}

/* ---- queues (dispatcher thread) ------------------------------------------ */

static struct type_queue *queue_for(struct dispatcher *dispatcher, const char *type)
{
	struct type_queue *queue;

	for (size_t i = 0; i < dispatcher->queue_count; i++) {
		if (strcmp(dispatcher->queues[i].type, type) == 0)
			return &dispatcher->queues[i];
	}
	if (dispatcher->queue_count == dispatcher->queue_cap) {
		size_t cap = dispatcher->queue_cap ? dispatcher->queue_cap * 2 : 8;
		struct type_queue *bigger = realloc(dispatcher->queues, cap * sizeof(*bigger));
		if (bigger == NULL)
			return NULL;
		dispatcher->queues = bigger;
		dispatcher->queue_cap = cap;
	}
	queue = &dispatcher->queues[dispatcher->queue_count];
	memset(queue, 0, sizeof(*queue));
	queue->type = strdup(type);
	if (queue->type == NULL)
		return NULL;
	dispatcher->queue_count++;
	return queue;
}

/* Puts job into its type's queue at its place by submission order. */
static int queue_insert(struct dispatcher *dispatcher, struct waiting_job *job)
{
	struct type_queue *queue = queue_for(dispatcher, job->type);
	struct waiting_job **link;

	if (queue == NULL)
		return -1;
	job->next = NULL;
	if (queue->tail == NULL || queue->tail->seq < job->seq) {
		if (queue->tail != NULL)
			queue->tail->next = job;
		else
			queue->head = job;
		queue->tail = job;
	} else {
		/* A job put back after a 429: it belongs near the front. */
		for (link = &queue->head; *link != NULL && (*link)->seq < job->seq; link = &(*link)->next)
			;
		job->next = *link;
		*link = job;
	}
	dispatcher->waiting++;
	return 0;
}

static struct waiting_job *queue_pop(struct dispatcher *dispatcher, struct type_queue *queue)
{
	struct waiting_job *job = queue->head;
	queue->head = job->next;
	if (queue->head == NULL)
		queue->tail = NULL;
	job->next = NULL;
	dispatcher->waiting--;
	return job;
}

/* ---- executions (dispatcher thread) -------------------------------------- */

static CURL *take_handle(struct dispatcher *dispatcher)
{
	if (dispatcher->idle_count > 0) {
		CURL *easy = dispatcher->idle_handles[--dispatcher->idle_count];
		curl_easy_reset(easy);
		return easy;
	}
	return curl_easy_init();
}

static void return_handle(struct dispatcher *dispatcher, CURL *easy)
{
	if (dispatcher->idle_count == dispatcher->idle_cap) {
		size_t cap = dispatcher->idle_cap ? dispatcher->idle_cap * 2 : 64;
		CURL **bigger = realloc(dispatcher->idle_handles, cap * sizeof(*bigger));
		if (bigger == NULL) {
			curl_easy_cleanup(easy);
			return;
		}
		dispatcher->idle_handles = bigger;
		dispatcher->idle_cap = cap;
	}
	dispatcher->idle_handles[dispatcher->idle_count++] = easy;
}

/* Detaches ex from the multi handle and the list, gives back its slot, and frees it. */
static void execution_end(struct dispatcher *dispatcher, struct execution *ex)
{
	curl_multi_remove_handle(dispatcher->multi, ex->easy);
	return_handle(dispatcher, ex->easy);
	if (ex->prev != NULL)
		ex->prev->next = ex->next;
	else
		dispatcher->executions = ex->next;
	if (ex->next != NULL)
		ex->next->prev = ex->prev;
	dispatcher->in_flight--;
	if (ex->follow_url != NULL)
		dispatcher->following--;
	node_registry_release(dispatcher->registry, ex->node_id);
	waiting_job_free(ex->job);
	free(ex->follow_url);
	free(ex->url);
	free(ex->request_body);
	http_buffer_free(&ex->response);
	free(ex);
}

static void record_outcome(struct dispatcher *dispatcher, const char *job_id, const char *node_id,
			   enum job_status status, const char *result, const char *error)
{
	/* Errors quote agents' messages cut to fit, and a cut can split a character. */
	char *clean_error = error != NULL ? wire_utf8_sanitize(error) : NULL;
	enum job_store_result rc = job_store_finish(dispatcher->store, job_id, status, result,
						    clean_error != NULL ? clean_error : error);
	free(clean_error);
	if (rc != JOB_STORE_OK) {
		log_error("could not record job %s as %s (store result %d)", job_id,
			  job_status_name(status), rc);
		return;
	}
	if (status == JOB_COMPLETED)
		log_info("job %s completed on node %s", job_id, node_id);
	else
		log_warn("job %s failed on node %s: %s", job_id, node_id, error);
}

static void start_execution(struct dispatcher *dispatcher, struct waiting_job *job,
			    struct node_slot *slot)
{
	struct execution *ex = calloc(1, sizeof(*ex));
	enum job_store_result rc;
	char error[512];

	rc = job_store_mark_running(dispatcher->store, job->id, slot->node_id);
	if (rc != JOB_STORE_OK) {
		/* Nothing else moves a QUEUED job, so this is a bug or out of memory: say so. */
		log_error("job %s could not be marked RUNNING (store result %d); dropped from the queue",
			  job->id, rc);
		node_registry_release(dispatcher->registry, slot->node_id);
		waiting_job_free(job);
		free(ex);
		return;
	}
	if (ex == NULL || (ex->easy = take_handle(dispatcher)) == NULL ||
	    asprintf(&ex->url, "%s/execute", slot->base_url) < 0 ||
	    (ex->request_body = execute_request_encode(job->id, job->type, job->payload)) == NULL) {
		snprintf(error, sizeof(error), "the coordinator ran out of memory sending the job to node %s",
			 slot->node_id);
		record_outcome(dispatcher, job->id, slot->node_id, JOB_FAILED, NULL, error);
		node_registry_release(dispatcher->registry, slot->node_id);
		if (ex != NULL) {
			if (ex->easy != NULL)
				return_handle(dispatcher, ex->easy);
			free(ex->url);
			free(ex);
		}
		waiting_job_free(job);
		return;
	}
	ex->job = job;
	strcpy(ex->node_id, slot->node_id);
	ex->started_ms = clock_monotonic_ms();
	http_buffer_reset(&ex->response, dispatcher->config.response_limit);

	curl_easy_setopt(ex->easy, CURLOPT_URL, ex->url);
	curl_easy_setopt(ex->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(ex->easy, CURLOPT_POSTFIELDS, ex->request_body);
	curl_easy_setopt(ex->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(ex->request_body));
	curl_easy_setopt(ex->easy, CURLOPT_HTTPHEADER, dispatcher->json_headers);
	curl_easy_setopt(ex->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(ex->easy, CURLOPT_CONNECTTIMEOUT_MS, dispatcher->config.connect_timeout_ms);
	curl_easy_setopt(ex->easy, CURLOPT_TIMEOUT_MS, dispatcher->config.execute_timeout_ms);
	/* A job can run for long in silence: keepalive notices a peer that vanished. */
	curl_easy_setopt(ex->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(ex->easy, CURLOPT_TCP_KEEPIDLE, 10L);
	curl_easy_setopt(ex->easy, CURLOPT_TCP_KEEPINTVL, 5L);
	curl_easy_setopt(ex->easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(ex->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(ex->easy, CURLOPT_WRITEFUNCTION, http_buffer_write);
	curl_easy_setopt(ex->easy, CURLOPT_WRITEDATA, &ex->response);
	curl_easy_setopt(ex->easy, CURLOPT_ERRORBUFFER, ex->curl_error);
	curl_easy_setopt(ex->easy, CURLOPT_PRIVATE, ex);

	ex->next = dispatcher->executions;
	if (ex->next != NULL)
		ex->next->prev = ex;
	dispatcher->executions = ex;
	dispatcher->in_flight++;
	curl_multi_add_handle(dispatcher->multi, ex->easy);
	log_info("job %s (%s) dispatched to node %s at %s", job->id, job->type, slot->node_id,
		 slot->base_url);
}

/* Starts every waiting job that some node can take now, oldest submission first. */
static void dispatch_waiting(struct dispatcher *dispatcher)
{
	for (size_t i = 0; i < dispatcher->queue_count; i++)
		dispatcher->queues[i].blocked = false;
	for (;;) {
		struct type_queue *oldest = NULL;
		struct node_slot slot;
		enum scheduler_verdict verdict;

		for (size_t i = 0; i < dispatcher->queue_count; i++) {
			struct type_queue *queue = &dispatcher->queues[i];
			if (queue->head != NULL && !queue->blocked &&
			    (oldest == NULL || queue->head->seq < oldest->head->seq))
				oldest = queue;
		}
		if (oldest == NULL)
			return;
		if (!node_registry_reserve(dispatcher->registry, oldest->type, &slot, &verdict)) {
			oldest->blocked = true;
			continue;
		}
		start_execution(dispatcher, queue_pop(dispatcher, oldest), &slot);
		node_slot_clear(&slot);
	}
}

/* Says what went wrong with an execution in words for the job's error. */
static void describe_failure(const struct execution *ex, CURLcode result, long status, char *out,
			     size_t out_size)
{
	if (result == CURLE_OK) {
		char message[400];
		wire_error_message(ex->response.data ? ex->response.data : "", ex->response.len, message,
				   sizeof(message));
		snprintf(out, out_size, "node %s (%s) answered HTTP %ld: %s", ex->node_id, ex->url,
			 status, message);
	} else if (ex->response.overflow) {
		snprintf(out, out_size, "node %s (%s) answered with more than %zu bytes", ex->node_id,
			 ex->url, ex->response.limit);
	} else if (result == CURLE_COULDNT_CONNECT) {
		/* Also what a dropped keep-alive connection looks like: curl reconnects once. */
		snprintf(out, out_size, "could not connect to node %s at %s (%lld ms after dispatch): %s",
			 ex->node_id, ex->url, (long long)(clock_monotonic_ms() - ex->started_ms),
			 ex->curl_error[0] ? ex->curl_error : curl_easy_strerror(result));
	} else if (result == CURLE_OPERATION_TIMEDOUT) {
		snprintf(out, out_size, "timed out after %lld ms waiting for node %s (%s): %s",
			 (long long)(clock_monotonic_ms() - ex->started_ms), ex->node_id, ex->url,
			 ex->curl_error[0] ? ex->curl_error : curl_easy_strerror(result));
	} else {
		snprintf(out, out_size, "request to node %s (%s) failed: %s", ex->node_id, ex->url,
			 ex->curl_error[0] ? ex->curl_error : curl_easy_strerror(result));
	}
}

/* Asks the agent about a followed job again in FOLLOW_INTERVAL_MS. */
static void follow_later(struct dispatcher *dispatcher, struct execution *ex)
{
	curl_multi_remove_handle(dispatcher->multi, ex->easy);
	ex->follow_at = clock_monotonic_ms() + FOLLOW_INTERVAL_MS;
}

/* Starts following ex (the agent answered 409: the job already runs there). Returns 0 or -1. */
static int start_following(struct dispatcher *dispatcher, struct execution *ex)
{
	size_t base_len = strlen(ex->url) - strlen("/execute");
	if (asprintf(&ex->follow_url, "%.*s/executions/%s", (int)base_len, ex->url, ex->job->id) < 0) {
		ex->follow_url = NULL;
		return -1;
	}
	dispatcher->following++;
	log_warn("node %s is already running job %s (sent before a restart?); following it there "
		 "instead of running it again",
		 ex->node_id, ex->job->id);
	follow_later(dispatcher, ex);
	return 0;
}

/* Sends the due GET /executions/{id} questions of followed jobs. */
static void ask_followed(struct dispatcher *dispatcher)
{
	int64_t now = clock_monotonic_ms();

	for (struct execution *ex = dispatcher->executions; ex != NULL; ex = ex->next) {
		if (ex->follow_url == NULL || ex->follow_at == 0 || ex->follow_at > now)
			continue;
		ex->follow_at = 0;
		http_buffer_reset(&ex->response, dispatcher->config.response_limit);
		ex->curl_error[0] = '\0';
		curl_easy_setopt(ex->easy, CURLOPT_URL, ex->follow_url);
		curl_easy_setopt(ex->easy, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(ex->easy, CURLOPT_TIMEOUT_MS, dispatcher->config.connect_timeout_ms * 2);
		curl_multi_add_handle(dispatcher->multi, ex->easy);
	}
}

/*
 * The answer to GET /executions/{id} for a followed job: records the outcome
 * once the agent has it, or asks again later.
 */
static void finish_follow_up(struct dispatcher *dispatcher, struct execution *ex, CURLcode result)
{
	char error[1024], decode_error[WIRE_ERROR_SIZE];
	struct execution_status record;
	long status = 0;

	if (clock_monotonic_ms() - ex->started_ms > dispatcher->config.execute_timeout_ms) {
		snprintf(error, sizeof(error),
			 "timed out after %lld ms waiting for node %s (%s) to finish the job",
			 (long long)(clock_monotonic_ms() - ex->started_ms), ex->node_id, ex->follow_url);
		record_outcome(dispatcher, ex->job->id, ex->node_id, JOB_FAILED, NULL, error);
		execution_end(dispatcher, ex);
		return;
	}
	if (result == CURLE_OK)
		curl_easy_getinfo(ex->easy, CURLINFO_RESPONSE_CODE, &status);
	if (result == CURLE_OK && status == 404) {
		snprintf(error, sizeof(error),
			 "node %s said the job was running there, then forgot it (%s answered 404): "
			 "the agent may have restarted",
			 ex->node_id, ex->follow_url);
		record_outcome(dispatcher, ex->job->id, ex->node_id, JOB_FAILED, NULL, error);
		execution_end(dispatcher, ex);
		return;
	}
	if (result == CURLE_OK && status == 200 &&
	    execution_status_decode(ex->response.data ? ex->response.data : "", ex->response.len,
				    &record, decode_error, sizeof(decode_error)) == 0) {
		if (record.finished) {
			if (record.ok) {
				record_outcome(dispatcher, ex->job->id, ex->node_id, JOB_COMPLETED,
					       record.output, NULL);
			} else {
				snprintf(error, sizeof(error), "node %s (%s) answered HTTP %ld: %s",
					 ex->node_id, ex->url, record.http_status, record.error);
				record_outcome(dispatcher, ex->job->id, ex->node_id, JOB_FAILED, NULL,
					       error);
			}
			execution_status_clear(&record);
			execution_end(dispatcher, ex);
			return;
		}
		execution_status_clear(&record);
	}
	/* Still running, or no clear answer this time: a lost node is failed by the prober's path. */
	follow_later(dispatcher, ex);
}

static void finish_execution(struct dispatcher *dispatcher, struct execution *ex, CURLcode result)
{
	long status = 0;
	char error[1024];

	if (ex->follow_url != NULL) {
		finish_follow_up(dispatcher, ex, result);
		return;
	}
	if (result == CURLE_OK)
		curl_easy_getinfo(ex->easy, CURLINFO_RESPONSE_CODE, &status);

	if (result == CURLE_OK && status == 409 && start_following(dispatcher, ex) == 0)
		return;

	if (result == CURLE_OK && status == 429) {
		/* The agent did not run it: put it back where it was, and let the node breathe. */
		if (job_store_requeue(dispatcher->store, ex->job->id) == JOB_STORE_OK &&
		    queue_insert(dispatcher, ex->job) == 0) {
			log_warn("node %s is full (HTTP 429); job %s goes back to the queue", ex->node_id,
				 ex->job->id);
			ex->job = NULL;
			node_registry_pause(dispatcher->registry, ex->node_id, FULL_NODE_PAUSE_MS);
			execution_end(dispatcher, ex);
			return;
		}
	}
	if (result == CURLE_OK && status == 200) {
		struct execute_response answer;
		char decode_error[WIRE_ERROR_SIZE];
		if (execute_response_decode(ex->response.data ? ex->response.data : "", ex->response.len,
					    &answer, decode_error, sizeof(decode_error)) == 0) {
			if (answer.ok)
				record_outcome(dispatcher, ex->job->id, ex->node_id, JOB_COMPLETED,
					       answer.output, NULL);
			else
				record_outcome(dispatcher, ex->job->id, ex->node_id, JOB_FAILED, NULL,
					       answer.error);
			execute_response_clear(&answer);
		} else {
			snprintf(error, sizeof(error), "node %s (%s) answered HTTP 200 with an unreadable body: %s",
				 ex->node_id, ex->url, decode_error);
			record_outcome(dispatcher, ex->job->id, ex->node_id, JOB_FAILED, NULL, error);
		}
	} else {
		describe_failure(ex, result, status, error, sizeof(error));
		record_outcome(dispatcher, ex->job->id, ex->node_id, JOB_FAILED, NULL, error);
	}
	execution_end(dispatcher, ex);
}

static void collect_finished(struct dispatcher *dispatcher)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(dispatcher->multi, &left)) != NULL) {
		struct execution *ex = NULL;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&ex);
		finish_execution(dispatcher, ex, msg->data.result);
	}
}

/* Fails every execution on node_id with an error that starts with why. */
static void abandon_executions(struct dispatcher *dispatcher, const char *node_id, const char *why)
{
	struct execution *ex = dispatcher->executions;

	while (ex != NULL) {
		struct execution *next = ex->next;
		if (strcmp(ex->node_id, node_id) == 0) {
			char error[512];
			snprintf(error, sizeof(error),
				 "%s node %s (%s) %lld ms after it was sent the job; the job may or may "
				 "not have run there",
				 why, ex->node_id, ex->url,
				 (long long)(clock_monotonic_ms() - ex->started_ms));
			record_outcome(dispatcher, ex->job->id, ex->node_id, JOB_FAILED, NULL, error);
			execution_end(dispatcher, ex);
		}
		ex = next;
	}
}

/* Takes the inbox: queues new jobs, handles lost nodes. Returns false once stopping. */
static bool drain_inbox(struct dispatcher *dispatcher)
{
	struct waiting_job *jobs;
	struct lost_node *lost;
	bool stopping;

	pthread_mutex_lock(&dispatcher->inbox_lock);
	jobs = dispatcher->inbox_head;
	dispatcher->inbox_head = dispatcher->inbox_tail = NULL;
	lost = dispatcher->lost;
	dispatcher->lost = NULL;
	stopping = dispatcher->stopping;
	pthread_mutex_unlock(&dispatcher->inbox_lock);

	while (jobs != NULL) {
		struct waiting_job *next = jobs->next;
		if (queue_insert(dispatcher, jobs) != 0) {
			log_error("out of memory queueing job %s; it stays QUEUED in the store", jobs->id);
			waiting_job_free(jobs);
		}
		jobs = next;
	}
	while (lost != NULL) {
		struct lost_node *next = lost->next;
		abandon_executions(dispatcher, lost->node_id,
				   "lost contact (it stopped answering health probes) with");
		free(lost);
		lost = next;
	}
	return !stopping;
}

static void publish_counts(struct dispatcher *dispatcher)
{
	pthread_mutex_lock(&dispatcher->inbox_lock);
	dispatcher->published_waiting = dispatcher->waiting;
	dispatcher->published_in_flight = dispatcher->in_flight;
	pthread_mutex_unlock(&dispatcher->inbox_lock);
}

static void *dispatcher_main(void *arg)
{
	struct dispatcher *dispatcher = arg;
	int running = 0;

	while (drain_inbox(dispatcher)) {
		dispatch_waiting(dispatcher);
		ask_followed(dispatcher);
		curl_multi_perform(dispatcher->multi, &running);
		collect_finished(dispatcher);
		dispatch_waiting(dispatcher);
		publish_counts(dispatcher);
		/*
		 * Sleeps until a socket is ready or someone calls curl_multi_wakeup. The
		 * timeout only bounds how late a job waiting on a paused node starts.
		 */
		curl_multi_poll(dispatcher->multi, NULL, 0,
				dispatcher->waiting > 0 || dispatcher->following > 0 ? 100 : 1000, NULL);
	}
	/*
	 * Stopping: jobs in flight stay RUNNING in the store. The next start sends
	 * them again; an agent that still runs or already ran one answers from its
	 * record (409 and following, or the recorded answer) instead of running it twice.
	 */
	while (dispatcher->executions != NULL) {
		log_info("job %s stays RUNNING on node %s: the next start takes it up again",
			 dispatcher->executions->job->id, dispatcher->executions->node_id);
		execution_end(dispatcher, dispatcher->executions);
	}
	publish_counts(dispatcher);
	return NULL;
}

struct dispatcher *dispatcher_start(struct job_store *store, struct node_registry *registry,
				    const struct dispatcher_config *config, char *err,
				    size_t err_size)
{
	struct dispatcher *dispatcher = calloc(1, sizeof(*dispatcher));

	if (dispatcher == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	dispatcher->store = store;
	dispatcher->registry = registry;
	dispatcher->config = *config;
	pthread_mutex_init(&dispatcher->inbox_lock, NULL);
	dispatcher->multi = curl_multi_init();
	dispatcher->json_headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (dispatcher->multi == NULL || dispatcher->json_headers == NULL) {
		snprintf(err, err_size, "could not set up libcurl");
		goto fail;
	}
	/* Keep a connection per busy slot alive across jobs instead of reconnecting. */
	curl_multi_setopt(dispatcher->multi, CURLMOPT_MAXCONNECTS, 4096L);
	if (pthread_create(&dispatcher->thread, NULL, dispatcher_main, dispatcher) != 0) {
		snprintf(err, err_size, "could not start the dispatcher thread");
		goto fail;
	}
	return dispatcher;
fail:
	if (dispatcher->multi != NULL)
		curl_multi_cleanup(dispatcher->multi);
	curl_slist_free_all(dispatcher->json_headers);
	pthread_mutex_destroy(&dispatcher->inbox_lock);
	free(dispatcher);
	return NULL;
}

void dispatcher_stop(struct dispatcher *dispatcher)
{
	struct waiting_job *job;

	if (dispatcher == NULL)
		return;
	pthread_mutex_lock(&dispatcher->inbox_lock);
	dispatcher->stopping = true;
	pthread_mutex_unlock(&dispatcher->inbox_lock);
	curl_multi_wakeup(dispatcher->multi);
	pthread_join(dispatcher->thread, NULL);

	for (size_t i = 0; i < dispatcher->queue_count; i++) {
		job = dispatcher->queues[i].head;
		while (job != NULL) {
			struct waiting_job *next = job->next;
			waiting_job_free(job);
			job = next;
		}
		free(dispatcher->queues[i].type);
	}
	free(dispatcher->queues);
	for (job = dispatcher->inbox_head; job != NULL;) {
		struct waiting_job *next = job->next;
		waiting_job_free(job);
		job = next;
	}
	while (dispatcher->lost != NULL) {
		struct lost_node *next = dispatcher->lost->next;
		free(dispatcher->lost);
		dispatcher->lost = next;
	}
	for (size_t i = 0; i < dispatcher->idle_count; i++)
		curl_easy_cleanup(dispatcher->idle_handles[i]);
	free(dispatcher->idle_handles);
	curl_multi_cleanup(dispatcher->multi);
	curl_slist_free_all(dispatcher->json_headers);
	pthread_mutex_destroy(&dispatcher->inbox_lock);
	free(dispatcher);
}
