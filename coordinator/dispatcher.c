/*
 * Locks: inbox_lock guards the inbox (events from other threads) and the
 * published counters. Everything else in struct dispatcher is touched only by
 * the dispatcher thread, without a lock.
 *
 * Ownership: a held_job is owned by exactly one place at a time: the inbox,
 * one pending start, one execution (ex->held), or the unplaced list (no
 * memory to make it a waiting_job yet); a job that waits is a
 * waiting_job instead, owned by one queue or the delayed list
 * (hold_waiting makes one of a held_job and frees that; a dispatch pass
 * makes a held_job of one). Moving a job between them moves the ownership;
 * whoever holds it last frees it.
 *
 * Store writes: the jobs a dispatch pass starts (QUEUED -> RUNNING) and the
 * outcomes recorded since the last commit (RUNNING -> COMPLETED/FAILED) wait
 * in `starts` and `outcomes` and go to the store in one batch
 * (commit_pending): one commit for all of them instead of one each, which is
 * what bounded throughput when every job paid two fsyncs of its own on this
 * thread. The promises stay: a job is RUNNING on disk before its /execute is
 * sent, and nobody hears of an outcome (waiting clients, GET, the node's
 * running count: an execution whose outcome waits hands its slot to the
 * outcome, given back after the commit) before it is on disk. Retries,
 * requeues and late results stay single calls: they are rare.
 *
 * The QUEUED jobs the store holds at start are read by this thread, a page
 * per turn of its loop (read_stored_queue), not before the coordinator
 * serves: a backlog of a million jobs would otherwise keep it from answering
 * for seconds. Until the last page, a job submitted meanwhile is left to the
 * pages (they show it, in its place in submission order); afterwards an
 * ENQUEUE of a job the pages showed already is dropped (stored_job_was_read).
 * A job this thread puts back in the queue meanwhile (a retry of an adopted
 * job, say) is left to the pages too if they have not reached it yet
 * (hold_waiting). These decisions rest on the store's promise about
 * store_seq (job_store.h).
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

/* How long a node that answered 429 or 503 is offered no jobs. */
#define FULL_NODE_PAUSE_MS 500
/* How often to ask an agent about a job whose outcome is in doubt. */
#define FOLLOW_INTERVAL_MS 500
/* Tries of POST /executions/{id}/cancel before giving up on telling the node. */
#define CANCEL_TRIES 3
/* A job the store could not mark RUNNING (disk full?) is tried again after this long. */
#define STORE_RETRY_MS 1000
/* QUEUED jobs read from the store per turn of the loop while taking up the backlog. */
#define STORED_QUEUE_PAGE 1000

struct held_job {
	struct held_job *next;
	uint64_t seq; /* submission order, as this dispatcher saw it */
	struct job job; /* a copy without attempts */
};

/*
 * A job waiting in a queue or in the delayed list: what sending it needs
 * and no more, in one allocation with its payload, because a backlog of a
 * million jobs is held here (about 160 bytes each with a short payload,
 * against 320 as a held_job). It becomes a held_job again when it is sent.
 */
struct waiting_job {
	struct waiting_job *next;
	uint64_t seq;       /* as in held_job */
	uint64_t store_seq;
	int64_t created_at, next_attempt_at, timeout_ms, backoff_base_ms, backoff_cap_ms;
	const char *type;   /* its queue's (job_queue.type): borrowed */
	int attempt, max_attempts;
	enum job_priority priority;
	bool retry_on_failure;
	bool has_payload;
	char id[MESH_ID_SIZE];
	char payload[]; /* "" unless has_payload */
};

/* One FIFO per (type, priority). */
struct job_queue {
	char *type;
	enum job_priority priority;
	struct waiting_job *head, *tail;
	bool blocked; /* no node could take this type in the current round */
};

enum event_kind {
	EVENT_ENQUEUE,
	EVENT_RUN,
	EVENT_ADOPT,
	EVENT_CANCEL,
	EVENT_NODE_LOST,
	EVENT_NODE_BACK,
};

struct event {
	struct event *next;
	enum event_kind kind;
	struct held_job *held; /* ENQUEUE, RUN, ADOPT */
	char id[MESH_ID_SIZE]; /* CANCEL: job id; NODE_*: node id */
	struct node_slot slot; /* RUN: owned */
	int attempt;           /* RUN */
};

enum execution_mode {
	MODE_EXECUTE, /* POST /execute in flight */
	MODE_FOLLOW,  /* asking GET /executions/{id} until the outcome is known */
	MODE_CANCEL,  /* telling the node to kill it (POST /executions/{id}/cancel) */
	MODE_RECLAIM, /* a node that came back: cancel a LOST attempt, keep its late result */
};

struct execution {
	struct execution *prev, *next; /* in dispatcher.executions */
	CURL *easy;
	bool in_multi;
	enum execution_mode mode;
	struct held_job *held; /* owned while EXECUTE/FOLLOW; NULL afterwards */
	char job_id[MESH_ID_SIZE];
	char node_id[MESH_ID_SIZE];
	char *base_url;
	char *url; /* of the request in flight */
	char *request_body;
	struct http_buffer response;
	char curl_error[CURL_ERROR_SIZE];
	bool holds_slot;     /* a node_registry slot to give back at the end */
	int attempt;         /* EXECUTE/FOLLOW: the attempt's number; RECLAIM: the lost one's */
	int64_t started_ms;  /* monotonic */
	int64_t deadline_ms; /* monotonic: timeout + grace; past it, it is timed out here */
	int64_t next_request_ms; /* FOLLOW/CANCEL: when to ask; 0 while a request is in flight */
	int64_t lost_since;  /* monotonic ms its node turned UNHEALTHY; 0 while it is healthy */
	int cancel_tries;
	bool adopted;        /* the send may never have happened (found RUNNING at start,
	                        or refused when the store could not put it back) */
	/* The outcome record_final queued (outcomes[outcome_index] while commit_count is outcome_commit). */
	long outcome_index;  /* -1: none queued */
	uint64_t outcome_commit;
};

/* A job given a slot by this dispatch pass, waiting for its RUNNING commit. */
struct pending_start {
	struct held_job *held; /* owned */
	struct node_slot slot; /* owned: node_slot_clear */
};

/* A final outcome waiting for its commit. result and error are owned. */
struct pending_outcome {
	char job_id[MESH_ID_SIZE];
	char node_id[MESH_ID_SIZE];
	enum job_status status;
	char *result;
	char *error;
	enum attempt_status attempt_status;
	bool holds_slot; /* its execution ended: give the node's slot back once this is on disk */
	struct job finished; /* the job as committed, when a client waits for it; else zeroed */
};

/* Starts one commit takes at most: bounds the memory and the wait of the first one. */
#define PENDING_STARTS_MAX 512
/* Cancels of jobs not held here that are remembered (cancelled_unheld). */
#define CANCELLED_UNHELD_MAX 64

struct dispatcher {
	struct job_store *store;
	struct node_registry *registry;
	struct dispatcher_config config;
	pthread_t thread;
	CURLM *multi;
	struct curl_slist *json_headers;

	pthread_mutex_t inbox_lock;
	struct event *inbox_head, *inbox_tail;
	bool stopping;
	uint64_t next_seq;
	size_t published_waiting, published_in_flight;
	size_t inbox_jobs; /* ENQUEUE events posted and not yet in published_waiting */
	bool published_reading_store;

	/* dispatcher thread only */
	struct job_queue *queues;
	size_t queue_count, queue_cap;
	struct waiting_job *delayed; /* waiting for next_attempt_at, soonest first */
	size_t waiting;           /* in queues + delayed + unplaced */
	struct execution *executions;
	size_t in_flight;         /* executions that hold a job (EXECUTE/FOLLOW) */
	CURL **idle_handles;
	size_t idle_count, idle_cap;
	struct pending_start *starts; /* PENDING_STARTS_MAX of them */
	size_t start_count;
	struct pending_outcome *outcomes;
	size_t outcome_count, outcome_cap;
	struct job_change *changes; /* commit_pending's scratch, changes_cap long */
	size_t changes_cap;
	uint64_t commit_count;      /* commit_pending calls that wrote something */
	/* The store's QUEUED jobs at start, read a page at a time (read_stored_queue). */
	bool reading_store;         /* pages remain */
	uint64_t read_cursor;       /* job_store_list_page's cursor past the last page read */
	size_t read_count;          /* jobs the pages gave */
	int64_t next_read_ms;       /* monotonic: not before (after a failed read) */
	/*
	 * Jobs put back in the queue that there was no memory to hold as
	 * waiting_jobs (hold_waiting): placed again each turn. Counted in waiting.
	 */
	struct held_job *unplaced;
	bool look_again;            /* a commit gave slots back: dispatch again without sleeping */
	size_t taken_jobs;          /* ENQUEUE events taken since the last publish_counts */
	/*
	 * Jobs cancelled while this dispatcher did not hold them (cancel_job found
	 * nothing): one a request stored RUNNING may still come as EVENT_RUN, and
	 * must then not be sent. A ring: the oldest is forgotten first.
	 */
	char cancelled_unheld[CANCELLED_UNHELD_MAX][MESH_ID_SIZE];
	size_t cancelled_next;
};

static void held_job_free(struct held_job *held)
{
	if (held == NULL)
		return;
	job_clear(&held->job);
	free(held);
}

static struct held_job *held_job_new(const struct job *job)
{
	struct held_job *held = calloc(1, sizeof(*held));
	if (held == NULL)
		return NULL;
	if (job_copy(&held->job, job) != 0) {
		free(held);
		return NULL;
	}
	/* The dispatcher never needs the attempts, and they can be many. */
	for (size_t i = 0; i < held->job.attempt_count; i++)
		job_attempt_clear(&held->job.attempts[i]);
	free(held->job.attempts);
	held->job.attempts = NULL;
	held->job.attempt_count = 0;
	free(held->job.reason);
	held->job.reason = NULL;
	return held;
}

/* ---- the inbox (any thread) ----------------------------------------------- */

/* Appends event (filled in) to the inbox and wakes the dispatcher if it has to be. */
static void append_event(struct dispatcher *dispatcher, struct event *event)
{
	bool was_empty;

	pthread_mutex_lock(&dispatcher->inbox_lock);
	if (event->held != NULL)
		event->held->seq = dispatcher->next_seq++;
	if (event->kind == EVENT_ENQUEUE)
		dispatcher->inbox_jobs++;
	was_empty = dispatcher->inbox_head == NULL;
	if (dispatcher->inbox_tail != NULL)
		dispatcher->inbox_tail->next = event;
	else
		dispatcher->inbox_head = event;
	dispatcher->inbox_tail = event;
	pthread_mutex_unlock(&dispatcher->inbox_lock);
	/*
	 * One wake-up per inbox the dispatcher has not taken yet: whoever found
	 * it empty wakes the dispatcher, which then takes everything posted
	 * since. Under load this saves the dispatcher a wake-up per job.
	 */
	if (was_empty)
		curl_multi_wakeup(dispatcher->multi);
}

static int post_event(struct dispatcher *dispatcher, enum event_kind kind, const struct job *job,
		      const char *id)
{
	struct event *event = calloc(1, sizeof(*event));

	if (event == NULL)
		return -1;
	event->kind = kind;
	if (job != NULL && (event->held = held_job_new(job)) == NULL) {
		free(event);
		return -1;
	}
	if (id != NULL)
		snprintf(event->id, sizeof(event->id), "%s", id);
	append_event(dispatcher, event);
	return 0;
}

int dispatcher_enqueue(struct dispatcher *dispatcher, const struct job *job)
{
	return post_event(dispatcher, EVENT_ENQUEUE, job, NULL);
}

int dispatcher_run(struct dispatcher *dispatcher, const struct job *job, struct node_slot *slot,
		   int attempt)
{
	struct event *event = calloc(1, sizeof(*event));

	if (event == NULL || (event->held = held_job_new(job)) == NULL) {
		free(event);
		return -1;
	}
	event->kind = EVENT_RUN;
	event->slot = *slot; /* the slot's strings move into the event */
	memset(slot, 0, sizeof(*slot));
	event->attempt = attempt;
	append_event(dispatcher, event);
	return 0;
}

int dispatcher_adopt(struct dispatcher *dispatcher, const struct job *job)
{
	return post_event(dispatcher, EVENT_ADOPT, job, NULL);
}

int dispatcher_cancel(struct dispatcher *dispatcher, const char *job_id)
{
	return post_event(dispatcher, EVENT_CANCEL, NULL, job_id);
}

void dispatcher_poke(struct dispatcher *dispatcher)
{
	curl_multi_wakeup(dispatcher->multi);
}

void dispatcher_node_lost(struct dispatcher *dispatcher, const char *node_id)
{
	if (post_event(dispatcher, EVENT_NODE_LOST, NULL, node_id) != 0)
		log_error("out of memory noting that node %s was lost", node_id);
}

void dispatcher_node_back(struct dispatcher *dispatcher, const char *node_id)
{
	if (post_event(dispatcher, EVENT_NODE_BACK, NULL, node_id) != 0)
		log_error("out of memory noting that node %s came back", node_id);
}

void dispatcher_counts(struct dispatcher *dispatcher, size_t *waiting, size_t *in_flight)
{
	pthread_mutex_lock(&dispatcher->inbox_lock);
	*waiting = dispatcher->published_waiting + dispatcher->inbox_jobs;
	*in_flight = dispatcher->published_in_flight;
	pthread_mutex_unlock(&dispatcher->inbox_lock);
}

bool dispatcher_reading_store(struct dispatcher *dispatcher)
{
	bool reading;

	pthread_mutex_lock(&dispatcher->inbox_lock);
	reading = dispatcher->published_reading_store;
	pthread_mutex_unlock(&dispatcher->inbox_lock);
	return reading;
}

/* ---- queues (dispatcher thread) ------------------------------------------ */

static struct job_queue *queue_for(struct dispatcher *dispatcher, const char *type,
				   enum job_priority priority)
{
	struct job_queue *queue;

	for (size_t i = 0; i < dispatcher->queue_count; i++) {
		queue = &dispatcher->queues[i];
		if (queue->priority == priority && strcmp(queue->type, type) == 0)
			return queue;
	}
	if (dispatcher->queue_count == dispatcher->queue_cap) {
		size_t cap = dispatcher->queue_cap ? dispatcher->queue_cap * 2 : 8;
		struct job_queue *bigger = realloc(dispatcher->queues, cap * sizeof(*bigger));
		if (bigger == NULL)
			return NULL;
		dispatcher->queues = bigger;
		dispatcher->queue_cap = cap;
	}
	queue = &dispatcher->queues[dispatcher->queue_count];
	memset(queue, 0, sizeof(*queue));
	queue->type = strdup(type);
	queue->priority = priority;
	if (queue->type == NULL)
		return NULL;
	dispatcher->queue_count++;
	return queue;
}

/* Puts waiting into its queue at its place by submission order. */
static void queue_insert(struct dispatcher *dispatcher, struct waiting_job *waiting)
{
	struct job_queue *queue = queue_for(dispatcher, waiting->type, waiting->priority);
	struct waiting_job **link;

	waiting->next = NULL;
	if (queue->tail == NULL || queue->tail->seq < waiting->seq) {
		if (queue->tail != NULL)
			queue->tail->next = waiting;
		else
			queue->head = waiting;
		queue->tail = waiting;
	} else {
		/* A job put back (429, a retry): it belongs nearer the front. */
		for (link = &queue->head; *link != NULL && (*link)->seq < waiting->seq;
		     link = &(*link)->next)
			;
		waiting->next = *link;
		*link = waiting;
		if (waiting->next == NULL)
			queue->tail = waiting;
	}
	dispatcher->waiting++;
}

static struct waiting_job *queue_pop(struct dispatcher *dispatcher, struct job_queue *queue)
{
	struct waiting_job *waiting = queue->head;
	queue->head = waiting->next;
	if (queue->head == NULL)
		queue->tail = NULL;
	waiting->next = NULL;
	dispatcher->waiting--;
	return waiting;
}

/* Holds waiting aside until its next_attempt_at (wall ms). */
static void delay_insert(struct dispatcher *dispatcher, struct waiting_job *waiting)
{
	struct waiting_job **link = &dispatcher->delayed;

	while (*link != NULL && (*link)->next_attempt_at <= waiting->next_attempt_at)
		link = &(*link)->next;
	waiting->next = *link;
	*link = waiting;
	dispatcher->waiting++;
}

/* Queues waiting now, or holds it until its next attempt is due. */
static void place_waiting(struct dispatcher *dispatcher, struct waiting_job *waiting)
{
	if (waiting->next_attempt_at > clock_wall_ms())
		delay_insert(dispatcher, waiting);
	else
		queue_insert(dispatcher, waiting);
}

/*
 * The waiting form of job (seq its submission order here), or NULL if out
 * of memory. Its type is its queue's, which is made if it is new.
 */
static struct waiting_job *waiting_job_new(struct dispatcher *dispatcher, const struct job *job,
					   uint64_t seq)
{
	struct job_queue *queue = queue_for(dispatcher, job->type, job->priority);
	size_t payload_size = job->payload != NULL ? strlen(job->payload) + 1 : 1;
	struct waiting_job *waiting;

	if (queue == NULL || (waiting = malloc(sizeof(*waiting) + payload_size)) == NULL)
		return NULL;
	*waiting = (struct waiting_job){
		.seq = seq,
		.store_seq = job->store_seq,
		.created_at = job->created_at,
		.next_attempt_at = job->next_attempt_at,
		.timeout_ms = job->timeout_ms,
		.backoff_base_ms = job->backoff_base_ms,
		.backoff_cap_ms = job->backoff_cap_ms,
		.type = queue->type,
		.attempt = job->attempt,
		.max_attempts = job->max_attempts,
		.priority = job->priority,
		.retry_on_failure = job->retry_on_failure,
		.has_payload = job->payload != NULL,
	};
	snprintf(waiting->id, sizeof(waiting->id), "%s", job->id);
	memcpy(waiting->payload, job->payload != NULL ? job->payload : "", payload_size);
	return waiting;
}

/* The held_job that sends waiting, which is left as it was; NULL if out of memory. */
static struct held_job *held_job_from_waiting(const struct waiting_job *waiting)
{
	struct held_job *held = calloc(1, sizeof(*held));

	if (held == NULL)
		return NULL;
	held->seq = waiting->seq;
	snprintf(held->job.id, sizeof(held->job.id), "%s", waiting->id);
	held->job.status = JOB_QUEUED;
	held->job.type = strdup(waiting->type);
	held->job.payload = waiting->has_payload ? strdup(waiting->payload) : NULL;
	held->job.created_at = held->job.updated_at = waiting->created_at;
	held->job.priority = waiting->priority;
	held->job.timeout_ms = waiting->timeout_ms;
	held->job.max_attempts = waiting->max_attempts;
	held->job.retry_on_failure = waiting->retry_on_failure;
	held->job.backoff_base_ms = waiting->backoff_base_ms;
	held->job.backoff_cap_ms = waiting->backoff_cap_ms;
	held->job.attempt = waiting->attempt;
	held->job.next_attempt_at = waiting->next_attempt_at;
	held->job.store_seq = waiting->store_seq;
	if (held->job.type == NULL || (waiting->has_payload && held->job.payload == NULL)) {
		held_job_free(held);
		return NULL;
	}
	return held;
}

/*
 * Queues a job that is QUEUED in the store (a new one, or one put back:
 * retried, refused by a full node, not sent), now or once its next attempt
 * is due; held is taken over. While the store's pages are read, a job that
 * lies past the pages read so far is left to them: a page shows it later,
 * and it must not wait here twice. Without memory for its waiting form it
 * waits in `unplaced` and is placed again each turn (place_unplaced).
 */
static void hold_waiting(struct dispatcher *dispatcher, struct held_job *held)
{
	struct waiting_job *waiting;

	if (dispatcher->reading_store && held->job.store_seq > dispatcher->read_cursor) {
		held_job_free(held);
		return;
	}
	waiting = waiting_job_new(dispatcher, &held->job, held->seq);
	if (waiting == NULL) {
		log_error("out of memory queueing job %s; trying again", held->job.id);
		held->next = dispatcher->unplaced;
		dispatcher->unplaced = held;
		dispatcher->waiting++;
		return;
	}
	place_waiting(dispatcher, waiting);
	held_job_free(held);
}

/* Tries again to queue the jobs hold_waiting had no memory for. */
static void place_unplaced(struct dispatcher *dispatcher)
{
	struct held_job *held = dispatcher->unplaced;

	dispatcher->unplaced = NULL;
	while (held != NULL) {
		struct held_job *next = held->next;
		struct waiting_job *waiting = waiting_job_new(dispatcher, &held->job, held->seq);
		if (waiting == NULL) {
			held->next = dispatcher->unplaced;
			dispatcher->unplaced = held;
		} else {
			dispatcher->waiting--;
			place_waiting(dispatcher, waiting);
			held_job_free(held);
		}
		held = next;
	}
}

/* Moves every delayed job whose next attempt is due into its queue. */
static void release_due(struct dispatcher *dispatcher)
{
	int64_t now = clock_wall_ms();

	while (dispatcher->delayed != NULL && dispatcher->delayed->next_attempt_at <= now) {
		struct waiting_job *waiting = dispatcher->delayed;
		dispatcher->delayed = waiting->next;
		dispatcher->waiting--;
		waiting->next_attempt_at = 0;
		queue_insert(dispatcher, waiting);
	}
}

/* Removes job_id from the queues and the delayed list; true if it was there. */
static bool drop_waiting(struct dispatcher *dispatcher, const char *job_id)
{
	struct waiting_job **link;

	for (link = &dispatcher->delayed; *link != NULL; link = &(*link)->next) {
		if (strcmp((*link)->id, job_id) == 0) {
			struct waiting_job *waiting = *link;
			*link = waiting->next;
			dispatcher->waiting--;
			free(waiting);
			return true;
		}
	}
	for (size_t i = 0; i < dispatcher->queue_count; i++) {
		struct job_queue *queue = &dispatcher->queues[i];
		struct waiting_job *prev = NULL;
		for (struct waiting_job *waiting = queue->head; waiting != NULL;
		     prev = waiting, waiting = waiting->next) {
			if (strcmp(waiting->id, job_id) != 0)
				continue;
			if (prev != NULL)
				prev->next = waiting->next;
			else
				queue->head = waiting->next;
			if (queue->tail == waiting)
				queue->tail = prev;
			dispatcher->waiting--;
			free(waiting);
			return true;
		}
	}
	return false;
}

/* ---- curl handles and executions (dispatcher thread) ---------------------- */

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

static void detach(struct dispatcher *dispatcher, struct execution *ex)
{
	if (ex->in_multi) {
		curl_multi_remove_handle(dispatcher->multi, ex->easy);
		ex->in_multi = false;
	}
}

/* Gives back ex's job slot (if it holds one) and stops counting it as in flight. */
/*
 * Gives back ex's slot on its node, unless ex's outcome is still waiting for
 * its commit: then the slot goes with the outcome and comes back once the
 * outcome is on disk, so that a node never looks idle (DRAINED, removable)
 * while a job it ran is RUNNING on disk.
 */
static void let_go_of_job(struct dispatcher *dispatcher, struct execution *ex)
{
	if (!ex->holds_slot)
		return;
	if (ex->outcome_index >= 0 && ex->outcome_commit == dispatcher->commit_count)
		dispatcher->outcomes[ex->outcome_index].holds_slot = true;
	else
		node_registry_release(dispatcher->registry, ex->node_id);
	ex->holds_slot = false;
	dispatcher->in_flight--;
}

/* Detaches ex from the multi handle and the list, gives back its slot, and frees it. */
static void execution_end(struct dispatcher *dispatcher, struct execution *ex)
{
	detach(dispatcher, ex);
	return_handle(dispatcher, ex->easy);
	if (ex->prev != NULL)
		ex->prev->next = ex->next;
	else
		dispatcher->executions = ex->next;
	if (ex->next != NULL)
		ex->next->prev = ex->prev;
	let_go_of_job(dispatcher, ex);
	held_job_free(ex->held);
	free(ex->base_url);
	free(ex->url);
	free(ex->request_body);
	http_buffer_free(&ex->response);
	free(ex);
}

/* A new execution linked into the list; NULL if out of memory. */
static struct execution *execution_new(struct dispatcher *dispatcher, const char *job_id,
				       const char *node_id, const char *base_url)
{
	struct execution *ex = calloc(1, sizeof(*ex));

	if (ex == NULL)
		return NULL;
	ex->base_url = strdup(base_url);
	ex->easy = take_handle(dispatcher);
	if (ex->base_url == NULL || ex->easy == NULL) {
		if (ex->easy != NULL)
			return_handle(dispatcher, ex->easy);
		free(ex->base_url);
		free(ex);
		return NULL;
	}
	snprintf(ex->job_id, sizeof(ex->job_id), "%s", job_id);
	snprintf(ex->node_id, sizeof(ex->node_id), "%s", node_id);
	ex->outcome_index = -1;
	ex->started_ms = clock_monotonic_ms();
	ex->next = dispatcher->executions;
	if (ex->next != NULL)
		ex->next->prev = ex;
	dispatcher->executions = ex;
	return ex;
}

static struct execution *find_execution(struct dispatcher *dispatcher, const char *job_id)
{
	for (struct execution *ex = dispatcher->executions; ex != NULL; ex = ex->next) {
		if (ex->held != NULL && strcmp(ex->job_id, job_id) == 0)
			return ex;
	}
	return NULL;
}

/*
 * Sends one request for ex: POST body to path (GET if body is NULL), under
 * base_url, with timeout_ms for the whole exchange. Returns 0, or -1 if out
 * of memory (nothing sent).
 */
static int send_request(struct dispatcher *dispatcher, struct execution *ex, const char *path,
			char *body, long timeout_ms)
{
	char *url;

	if (asprintf(&url, "%s%s", ex->base_url, path) < 0)
		return -1;
	detach(dispatcher, ex);
	free(ex->url);
	ex->url = url;
	free(ex->request_body);
	ex->request_body = body;
	http_buffer_reset(&ex->response, dispatcher->config.response_limit);
	ex->curl_error[0] = '\0';
	ex->next_request_ms = 0;

	curl_easy_reset(ex->easy);
	curl_easy_setopt(ex->easy, CURLOPT_URL, ex->url);
	if (body != NULL) {
		curl_easy_setopt(ex->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(ex->easy, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(ex->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else {
		curl_easy_setopt(ex->easy, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(ex->easy, CURLOPT_HTTPHEADER, dispatcher->json_headers);
	curl_easy_setopt(ex->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(ex->easy, CURLOPT_CONNECTTIMEOUT_MS, dispatcher->config.connect_timeout_ms);
	curl_easy_setopt(ex->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
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
	curl_multi_add_handle(dispatcher->multi, ex->easy);
	ex->in_multi = true;
	return 0;
}

/* ---- recording outcomes (dispatcher thread) ------------------------------- */

static int64_t job_timeout_ms(const struct dispatcher *dispatcher, const struct job *job)
{
	return job->timeout_ms > 0 ? job->timeout_ms : dispatcher->config.default_timeout_ms;
}

/* Copy of error with invalid UTF-8 replaced (agents' messages are cut to fit). */
static char *clean_text(const char *error)
{
	return error != NULL ? wire_utf8_sanitize(error) : NULL;
}

/* What the log says once an outcome is on disk (or could not be written). */
static void outcome_recorded(struct dispatcher *dispatcher, const struct pending_outcome *outcome,
			     enum job_store_result rc)
{
	if (rc == JOB_STORE_CONFLICT) {
		/* Only a cancel moves a RUNNING job behind the dispatcher's back. */
		log_info("job %s was cancelled meanwhile; what node %s said of it is not recorded",
			 outcome->job_id, outcome->node_id);
	} else if (rc != JOB_STORE_OK) {
		log_error("could not record job %s as %s (store result %d); it stays RUNNING until the "
			  "next start asks node %s again",
			  outcome->job_id, job_status_name(outcome->status), rc, outcome->node_id);
	} else if (outcome->status == JOB_COMPLETED) {
		log_info("job %s completed on node %s", outcome->job_id, outcome->node_id);
	} else {
		log_warn("job %s failed on node %s: %s", outcome->job_id, outcome->node_id,
			 outcome->error != NULL ? outcome->error : "");
	}
	if (rc != JOB_STORE_OK)
		return;
	if (outcome->finished.id[0] != '\0')
		job_waiters_notify_finished(dispatcher->config.waiters, &outcome->finished);
	else
		job_waiters_notify(dispatcher->config.waiters, outcome->job_id);
}

/*
 * Queues job_id's final outcome for the next commit_pending and returns its
 * index in outcomes[]. If there is no memory to queue it, it is written at
 * once instead (an outcome is never dropped), and the result is -1.
 */
static long queue_outcome(struct dispatcher *dispatcher, const char *job_id, const char *node_id,
			  enum job_status status, const char *result, const char *error,
			  enum attempt_status attempt_status)
{
	struct pending_outcome outcome = {.status = status, .attempt_status = attempt_status};

	snprintf(outcome.job_id, sizeof(outcome.job_id), "%s", job_id);
	snprintf(outcome.node_id, sizeof(outcome.node_id), "%s", node_id);
	outcome.result = result != NULL ? strdup(result) : NULL;
	outcome.error = clean_text(error);
	if (dispatcher->outcome_count == dispatcher->outcome_cap &&
	    (result == NULL || outcome.result != NULL) && (error == NULL || outcome.error != NULL)) {
		size_t cap = dispatcher->outcome_cap ? dispatcher->outcome_cap * 2 : 64;
		struct pending_outcome *grown =
			realloc(dispatcher->outcomes, cap * sizeof(*grown));
		if (grown != NULL) {
			dispatcher->outcomes = grown;
			dispatcher->outcome_cap = cap;
		}
	}
	if (dispatcher->outcome_count < dispatcher->outcome_cap &&
	    (result == NULL || outcome.result != NULL) && (error == NULL || outcome.error != NULL)) {
		dispatcher->outcomes[dispatcher->outcome_count] = outcome;
		return (long)dispatcher->outcome_count++;
	}
	outcome_recorded(dispatcher, &outcome,
			 job_store_finish(dispatcher->store, job_id, status, result,
					  outcome.error != NULL ? outcome.error : error, attempt_status));
	free(outcome.result);
	free(outcome.error);
	return -1;
}

/*
 * Queues the job's final outcome (its last attempt) for the next commit. ex
 * keeps its slot until execution_end, which hands it to the outcome if that
 * is still waiting for its commit.
 */
static void record_final(struct dispatcher *dispatcher, struct execution *ex, enum job_status status,
			 const char *result, const char *error, enum attempt_status attempt_status)
{
	ex->outcome_index = queue_outcome(dispatcher, ex->job_id, ex->node_id, status, result, error,
					  attempt_status);
	ex->outcome_commit = dispatcher->commit_count;
	held_job_free(ex->held);
	ex->held = NULL;
}

/*
 * The attempt ended without a result. If retryable and attempts remain, the
 * job goes back to QUEUED for attempt n+1 after a backoff; otherwise it FAILS
 * with error. Either way ex no longer holds the job.
 */
static void attempt_failed(struct dispatcher *dispatcher, struct execution *ex,
			   enum attempt_status attempt_status, const char *error, bool retryable)
{
	struct held_job *held = ex->held;
	struct job *job = &held->job;
	char *clean = clean_text(error);
	const char *text = clean != NULL ? clean : error;

	if (retryable && ex->attempt < job->max_attempts) {
		int64_t base = job->backoff_base_ms > 0 ? job->backoff_base_ms : dispatcher->config.retry_base_ms;
		int64_t cap = job->backoff_cap_ms > 0 ? job->backoff_cap_ms : dispatcher->config.retry_cap_ms;
		int64_t delay = job_backoff_ms(base, cap < base ? base : cap, ex->attempt + 1);
		int64_t at = clock_wall_ms() + delay;
		enum job_store_result rc =
			job_store_retry(dispatcher->store, ex->job_id, attempt_status, text, at);
		if (rc == JOB_STORE_OK) {
			log_warn("job %s attempt %d of %d on node %s: %s: %s; attempt %d in %lld ms",
				 ex->job_id, ex->attempt, job->max_attempts, ex->node_id,
				 attempt_status_name(attempt_status), text, ex->attempt + 1,
				 (long long)delay);
			job->attempt = ex->attempt;
			job->next_attempt_at = at;
			job->node_id[0] = '\0';
			ex->held = NULL;
			hold_waiting(dispatcher, held);
		} else if (rc == JOB_STORE_CONFLICT) {
			log_info("job %s was cancelled meanwhile; not retried", ex->job_id);
			held_job_free(held);
			ex->held = NULL;
		} else {
			log_error("could not queue job %s for attempt %d (store result %d); it stays "
				  "RUNNING until the next start",
				  ex->job_id, ex->attempt + 1, rc);
			held_job_free(held);
			ex->held = NULL;
		}
		free(clean);
		return;
	}
	if (job->max_attempts > 1) {
		char *full = NULL;
		if (asprintf(&full, "attempt %d of %d: %s", ex->attempt, job->max_attempts, text) < 0)
			full = NULL;
		record_final(dispatcher, ex, JOB_FAILED, NULL, full != NULL ? full : text,
			     attempt_status);
		free(full);
	} else {
		record_final(dispatcher, ex, JOB_FAILED, NULL, text, attempt_status);
	}
	free(clean);
}

/* ---- starting and following (dispatcher thread) --------------------------- */

static void start_following(struct dispatcher *dispatcher, struct execution *ex, const char *why)
{
	detach(dispatcher, ex);
	ex->mode = MODE_FOLLOW;
	ex->next_request_ms = clock_monotonic_ms();
	log_warn("job %s on node %s: %s; asking the node how it stands instead of running it again",
		 ex->job_id, ex->node_id, why);
}

/* Tells ex's node to kill its job; ex no longer holds the job, and ends when the node answered. */
static void start_cancelling(struct dispatcher *dispatcher, struct execution *ex)
{
	detach(dispatcher, ex);
	ex->mode = MODE_CANCEL;
	ex->cancel_tries = 0;
	ex->next_request_ms = clock_monotonic_ms();
}

/* The rest of a start once the store has answered its RUNNING mark (rc, attempt). */
static void start_marked(struct dispatcher *dispatcher, struct held_job *held,
			 const struct node_slot *slot, enum job_store_result rc, int attempt)
{
	struct execution *ex;
	char *body, path[] = "/execute";
	int64_t timeout;

	if (rc == JOB_STORE_CONFLICT || rc == JOB_STORE_NOT_FOUND) {
		/* Cancelled (or pruned) while it waited: nothing to run. */
		node_registry_release(dispatcher->registry, slot->node_id);
		held_job_free(held);
		return;
	}
	if (rc != JOB_STORE_OK) {
		log_error("job %s could not be marked RUNNING (store result %d); trying again in %d ms",
			  held->job.id, rc, STORE_RETRY_MS);
		node_registry_release(dispatcher->registry, slot->node_id);
		held->job.next_attempt_at = clock_wall_ms() + STORE_RETRY_MS;
		hold_waiting(dispatcher, held);
		return;
	}
	timeout = job_timeout_ms(dispatcher, &held->job);
	ex = execution_new(dispatcher, held->job.id, slot->node_id, slot->base_url);
	body = ex != NULL ? execute_request_encode(held->job.id, held->job.type, held->job.payload,
						   timeout, attempt)
			  : NULL;
	if (ex == NULL || body == NULL) {
		char error[256];
		snprintf(error, sizeof(error),
			 "the coordinator ran out of memory sending the job to node %s", slot->node_id);
		node_registry_release(dispatcher->registry, slot->node_id);
		(void)queue_outcome(dispatcher, held->job.id, slot->node_id, JOB_FAILED, NULL, error,
				    ATTEMPT_DISPATCH_FAILED);
		held_job_free(held);
		if (ex != NULL) {
			ex->holds_slot = false;
			execution_end(dispatcher, ex);
		}
		return;
	}
	ex->held = held;
	ex->holds_slot = true;
	dispatcher->in_flight++;
	ex->attempt = attempt;
	ex->mode = MODE_EXECUTE;
	ex->deadline_ms = ex->started_ms + timeout + dispatcher->config.timeout_grace_ms;
	if (send_request(dispatcher, ex, path, body, (long)(timeout + dispatcher->config.timeout_grace_ms)) != 0) {
		free(body);
		attempt_failed(dispatcher, ex, ATTEMPT_DISPATCH_FAILED,
			       "the coordinator ran out of memory sending the job", true);
		execution_end(dispatcher, ex);
		return;
	}
	log_info("job %s (%s) attempt %d dispatched to node %s at %s", held->job.id, held->job.type,
		 attempt, slot->node_id, slot->base_url);
}

/*
 * Writes every pending outcome and start in one store call, then acts on
 * what the store said: waiting clients hear of outcomes, started jobs are
 * sent to their nodes.
 */
static void commit_pending(struct dispatcher *dispatcher)
{
	size_t outcomes = dispatcher->outcome_count, starts = dispatcher->start_count;
	size_t total = outcomes + starts;
	struct job_change *changes = NULL; /* NULL: no memory for a batch, one call each */

	if (total == 0)
		return;
	if (total > dispatcher->changes_cap) {
		struct job_change *grown = realloc(dispatcher->changes, total * sizeof(*grown));
		if (grown != NULL) {
			dispatcher->changes = grown;
			dispatcher->changes_cap = total;
		}
	}
	if (total <= dispatcher->changes_cap) {
		changes = dispatcher->changes;
		for (size_t i = 0; i < outcomes; i++) {
			struct pending_outcome *o = &dispatcher->outcomes[i];
			/* A waiting client gets the job as committed, without reading it back. */
			bool waited_for = job_waiters_has(dispatcher->config.waiters, o->job_id);

			changes[i] = (struct job_change){.kind = JOB_CHANGE_FINISH,
							 .id = o->job_id,
							 .status = o->status,
							 .result = o->result,
							 .error = o->error,
							 .attempt_status = o->attempt_status,
							 .finished = waited_for ? &o->finished : NULL};
		}
		for (size_t i = 0; i < starts; i++) {
			const struct pending_start *p = &dispatcher->starts[i];
			changes[outcomes + i] =
				(struct job_change){.kind = JOB_CHANGE_START,
						    .id = p->held->job.id,
						    .node_id = p->slot.node_id};
		}
		job_store_apply_changes(dispatcher->store, changes, total);
	}
	for (size_t i = 0; i < outcomes; i++) {
		struct pending_outcome *o = &dispatcher->outcomes[i];
		enum job_store_result rc =
			changes != NULL ? changes[i].outcome
					: job_store_finish(dispatcher->store, o->job_id, o->status,
							   o->result, o->error, o->attempt_status);
		outcome_recorded(dispatcher, o, rc);
		if (o->holds_slot) {
			node_registry_release(dispatcher->registry, o->node_id);
			dispatcher->look_again = true;
		}
		free(o->result);
		free(o->error);
		job_clear(&o->finished);
	}
	/*
	 * Starting may queue new outcomes (a send that fails): they wait for the
	 * next commit. Executions whose outcome was in this one now give their
	 * slot back themselves (commit_count moved on).
	 */
	dispatcher->outcome_count = 0;
	dispatcher->start_count = 0;
	dispatcher->commit_count++;
	for (size_t i = 0; i < starts; i++) {
		struct pending_start *p = &dispatcher->starts[i];
		int attempt = 0;
		enum job_store_result rc;

		if (changes != NULL) {
			rc = changes[outcomes + i].outcome;
			attempt = changes[outcomes + i].attempt;
		} else {
			rc = job_store_mark_running(dispatcher->store, p->held->job.id,
						    p->slot.node_id, &attempt);
		}
		start_marked(dispatcher, p->held, &p->slot, rc, attempt);
		node_slot_clear(&p->slot);
	}
}

/* Effective priority rank (0 = high) of a waiting job after aging. */
static int effective_rank(const struct dispatcher *dispatcher, const struct waiting_job *job,
			  int64_t now)
{
	int64_t levels = (now - job->created_at) / dispatcher->config.priority_aging_ms;
	int rank = job_priority_rank(job->priority);
	return levels >= rank ? 0 : rank - (int)levels;
}

/*
 * Starts every waiting job that some node can take now, best effective
 * priority first, with one commit for all of them (and for the outcomes
 * recorded since the last one).
 */
static void dispatch_waiting(struct dispatcher *dispatcher)
{
	int64_t now = clock_wall_ms();

	for (size_t i = 0; i < dispatcher->queue_count; i++)
		dispatcher->queues[i].blocked = false;
	for (;;) {
		struct job_queue *best = NULL;
		int best_rank = 0;
		struct node_slot slot;
		enum scheduler_verdict verdict;
		struct held_job *held;

		for (size_t i = 0; i < dispatcher->queue_count; i++) {
			struct job_queue *queue = &dispatcher->queues[i];
			int rank;
			if (queue->head == NULL || queue->blocked)
				continue;
			rank = effective_rank(dispatcher, queue->head, now);
			if (best == NULL || rank < best_rank ||
			    (rank == best_rank && queue->head->seq < best->head->seq)) {
				best = queue;
				best_rank = rank;
			}
		}
		if (best == NULL)
			break;
		if (!node_registry_reserve(dispatcher->registry, best->type, &slot, &verdict)) {
			/* No node takes this type now: none of its priorities can go either. */
			for (size_t i = 0; i < dispatcher->queue_count; i++) {
				if (strcmp(dispatcher->queues[i].type, best->type) == 0)
					dispatcher->queues[i].blocked = true;
			}
			continue;
		}
		held = held_job_from_waiting(best->head);
		if (held == NULL) {
			/* It stays first in its queue for the next round. */
			log_error("out of memory sending job %s", best->head->id);
			node_registry_release(dispatcher->registry, slot.node_id);
			node_slot_clear(&slot);
			break;
		}
		free(queue_pop(dispatcher, best));
		dispatcher->starts[dispatcher->start_count].held = held;
		dispatcher->starts[dispatcher->start_count].slot = slot;
		if (++dispatcher->start_count == PENDING_STARTS_MAX)
			commit_pending(dispatcher);
	}
	commit_pending(dispatcher);
}

/* ---- answers (dispatcher thread) ------------------------------------------ */

/* Says what went wrong with a request in words. */
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
		snprintf(out, out_size, "could not connect to node %s at %s (%lld ms after dispatch): %s",
			 ex->node_id, ex->url, (long long)(clock_monotonic_ms() - ex->started_ms),
			 ex->curl_error[0] ? ex->curl_error : curl_easy_strerror(result));
	} else {
		snprintf(out, out_size, "request to node %s (%s) failed: %s", ex->node_id, ex->url,
			 ex->curl_error[0] ? ex->curl_error : curl_easy_strerror(result));
	}
}

/*
 * The node's word on a finished execution (from POST /execute or GET
 * /executions): records it as this attempt's outcome.
 */
static void settle(struct dispatcher *dispatcher, struct execution *ex, bool ok, const char *output,
		   const char *agent_error, bool timed_out, bool cancelled, long http_status)
{
	char error[1024];

	if (ok) {
		record_final(dispatcher, ex, JOB_COMPLETED, output, NULL, ATTEMPT_COMPLETED);
		return;
	}
	/* http_status is what POST /execute answered, also when learnt from GET /executions. */
	snprintf(error, sizeof(error), "node %s (%s/execute) answered HTTP %ld: %s", ex->node_id,
		 ex->base_url, http_status, agent_error != NULL ? agent_error : "(no error given)");
	if (timed_out) {
		attempt_failed(dispatcher, ex, ATTEMPT_TIMED_OUT, error, true);
	} else if (cancelled) {
		/* Not our cancel (that one leaves the job already CANCELLED): the node stopped. */
		snprintf(error, sizeof(error), "node %s cancelled the job (the agent was stopping): %s",
			 ex->node_id, agent_error != NULL ? agent_error : "");
		attempt_failed(dispatcher, ex, ATTEMPT_CANCELLED, error, true);
	} else {
		attempt_failed(dispatcher, ex, ATTEMPT_FAILED, error, ex->held->job.retry_on_failure);
	}
}

/* Times ex's attempt out here (the agent did not answer in time) and tells the node to stop it. */
static void time_out_here(struct dispatcher *dispatcher, struct execution *ex)
{
	char error[512];
	int64_t timeout = job_timeout_ms(dispatcher, &ex->held->job);

	snprintf(error, sizeof(error),
		 "timed out after %lld ms (timeout_ms %lld + grace %ld ms): node %s (%s) had not "
		 "answered; it was told to cancel the job",
		 (long long)(clock_monotonic_ms() - ex->started_ms), (long long)timeout,
		 dispatcher->config.timeout_grace_ms, ex->node_id, ex->base_url);
	attempt_failed(dispatcher, ex, ATTEMPT_TIMED_OUT, error, true);
	start_cancelling(dispatcher, ex);
}

static void execute_answered(struct dispatcher *dispatcher, struct execution *ex, CURLcode result)
{
	long status = 0;
	char error[1024];

	if (result == CURLE_OK)
		curl_easy_getinfo(ex->easy, CURLINFO_RESPONSE_CODE, &status);

	if (result == CURLE_OK && status == 409) {
		start_following(dispatcher, ex, "the node is already running it (sent before a restart?)");
		return;
	}
	if (result == CURLE_OK && (status == 429 || status == 503)) {
		/* The agent did not run it (full, or draining): put it back, let the node breathe. */
		enum job_store_result rc = job_store_requeue(dispatcher->store, ex->job_id);
		node_registry_pause(dispatcher->registry, ex->node_id, FULL_NODE_PAUSE_MS);
		if (rc == JOB_STORE_OK) {
			log_warn("node %s did not take job %s (HTTP %ld); it goes back to the queue",
				 ex->node_id, ex->job_id, status);
			ex->held->job.node_id[0] = '\0';
			hold_waiting(dispatcher, ex->held);
			ex->held = NULL;
		} else if (rc == JOB_STORE_CONFLICT || rc == JOB_STORE_NOT_FOUND) {
			held_job_free(ex->held); /* cancelled (or pruned) meanwhile */
			ex->held = NULL;
		} else {
			/*
			 * It stays RUNNING in the store: follow it like a job found
			 * RUNNING at start, so that the node's 404 (it never took it)
			 * puts it back then, rather than nobody ever.
			 */
			ex->adopted = true;
			snprintf(error, sizeof(error),
				 "node %s did not take it (HTTP %ld) and the store could not put it "
				 "back in the queue (store result %d)",
				 ex->node_id, status, rc);
			start_following(dispatcher, ex, error);
			return;
		}
		execution_end(dispatcher, ex);
		return;
	}
	if (result == CURLE_OK && (status == 200 || status == 422)) {
		struct execute_response answer;
		char decode_error[WIRE_ERROR_SIZE];
		if (execute_response_decode(ex->response.data ? ex->response.data : "", ex->response.len,
					    &answer, decode_error, sizeof(decode_error)) == 0) {
			settle(dispatcher, ex, answer.ok, answer.output, answer.error, answer.timed_out,
			       answer.cancelled, status);
			execute_response_clear(&answer);
		} else {
			snprintf(error, sizeof(error),
				 "node %s (%s) answered HTTP %ld with an unreadable body: %s", ex->node_id,
				 ex->url, status, decode_error);
			attempt_failed(dispatcher, ex, ATTEMPT_FAILED, error,
				       ex->held->job.retry_on_failure);
		}
		execution_end(dispatcher, ex);
		return;
	}
	describe_failure(ex, result, status, error, sizeof(error));
	if (result == CURLE_OK && status >= 400 && status < 500) {
		/* The agent refused the request: the job did not start there. */
		attempt_failed(dispatcher, ex, ATTEMPT_DISPATCH_FAILED, error, true);
	} else if (result == CURLE_OK || ex->response.overflow) {
		attempt_failed(dispatcher, ex, ATTEMPT_FAILED, error, ex->held->job.retry_on_failure);
	} else if (result == CURLE_COULDNT_RESOLVE_HOST) {
		attempt_failed(dispatcher, ex, ATTEMPT_DISPATCH_FAILED, error, true);
	} else if (result == CURLE_OPERATION_TIMEDOUT) {
		time_out_here(dispatcher, ex);
		return;
	} else {
		/*
		 * The connection broke while the job may be running: ask instead of
		 * guessing. "Could not connect" is no proof either: when a kept-alive
		 * connection dies under a request, libcurl sends it again on a new one,
		 * and that connect fails although the agent got (and runs) the job.
		 */
		start_following(dispatcher, ex, error);
		return;
	}
	execution_end(dispatcher, ex);
}

static void follow_answered(struct dispatcher *dispatcher, struct execution *ex, CURLcode result)
{
	char error[1024], decode_error[WIRE_ERROR_SIZE];
	struct execution_status record;
	long status = 0;

	detach(dispatcher, ex);
	if (result == CURLE_OK)
		curl_easy_getinfo(ex->easy, CURLINFO_RESPONSE_CODE, &status);
	if (result == CURLE_OK && status == 404 && ex->adopted &&
	    job_store_requeue(dispatcher->store, ex->job_id) == JOB_STORE_OK) {
		/*
		 * The last coordinator marked it RUNNING and died before (or while)
		 * sending it, or the agent restarted and took the run with it: either
		 * way it is not running anywhere, so it goes back to the queue
		 * without costing an attempt.
		 */
		log_warn("node %s does not know job %s (found RUNNING at start, or refused and "
			 "not put back then): it goes back to the queue",
			 ex->node_id, ex->job_id);
		ex->held->job.node_id[0] = '\0';
		hold_waiting(dispatcher, ex->held);
		ex->held = NULL;
		execution_end(dispatcher, ex);
		return;
	}
	if (result == CURLE_OK && status == 404) {
		snprintf(error, sizeof(error),
			 "node %s does not know the job (%s answered 404): the agent may have "
			 "restarted, or never received it",
			 ex->node_id, ex->url);
		attempt_failed(dispatcher, ex, ATTEMPT_LOST, error, true);
		execution_end(dispatcher, ex);
		return;
	}
	if (result == CURLE_OK && status == 200 &&
	    execution_status_decode(ex->response.data ? ex->response.data : "", ex->response.len,
				    &record, decode_error, sizeof(decode_error)) == 0) {
		if (record.finished) {
			settle(dispatcher, ex, record.ok, record.output, record.error, record.timed_out,
			       record.cancelled, record.http_status);
			execution_status_clear(&record);
			execution_end(dispatcher, ex);
			return;
		}
		/*
		 * The node has it: from now on a 404 means it forgot a job it ran
		 * (it restarted), which costs the attempt like any lost one.
		 */
		if (ex->adopted)
			log_info("node %s is still running job %s (attempt %d); following it there",
				 ex->node_id, ex->job_id, ex->attempt);
		ex->adopted = false;
		execution_status_clear(&record);
	}
	/* Still running, or no clear answer this time (the node may be lost: the grace decides). */
	ex->next_request_ms = clock_monotonic_ms() + FOLLOW_INTERVAL_MS;
}

static void cancel_answered(struct dispatcher *dispatcher, struct execution *ex, CURLcode result)
{
	long status = 0;

	detach(dispatcher, ex);
	if (result == CURLE_OK)
		curl_easy_getinfo(ex->easy, CURLINFO_RESPONSE_CODE, &status);
	if (result == CURLE_OK && (status == 200 || status == 404)) {
		log_info("node %s %s job %s", ex->node_id,
			 status == 200 ? "stopped" : "no longer knew", ex->job_id);
		execution_end(dispatcher, ex);
		return;
	}
	if (++ex->cancel_tries >= CANCEL_TRIES) {
		char error[512];
		describe_failure(ex, result, status, error, sizeof(error));
		log_warn("could not tell node %s to cancel job %s after %d tries: %s; if it comes back "
			 "with it, its result is not recorded",
			 ex->node_id, ex->job_id, CANCEL_TRIES, error);
		execution_end(dispatcher, ex);
		return;
	}
	ex->next_request_ms = clock_monotonic_ms() + FOLLOW_INTERVAL_MS;
}

static void reclaim_answered(struct dispatcher *dispatcher, struct execution *ex, CURLcode result)
{
	char decode_error[WIRE_ERROR_SIZE], note[512];
	struct execution_status record;
	long status = 0;
	enum job_store_result rc = JOB_STORE_OK;

	if (result == CURLE_OK)
		curl_easy_getinfo(ex->easy, CURLINFO_RESPONSE_CODE, &status);
	if (result == CURLE_OK && status == 200 &&
	    execution_status_decode(ex->response.data ? ex->response.data : "", ex->response.len,
				    &record, decode_error, sizeof(decode_error)) == 0) {
		if (record.ok) {
			rc = job_store_note_late_result(dispatcher->store, ex->job_id, ex->attempt, true,
							record.output, NULL);
		} else {
			snprintf(note, sizeof(note), "late, after the attempt was given up: %s",
				 record.error != NULL ? record.error : "failed");
			rc = job_store_note_late_result(dispatcher->store, ex->job_id, ex->attempt, false,
							NULL, note);
		}
		log_info("node %s came back with job %s (attempt %d, given up as LOST): kept as a "
			 "superseded result, not the job's",
			 ex->node_id, ex->job_id, ex->attempt);
		execution_status_clear(&record);
	} else if (result == CURLE_OK && status == 404) {
		snprintf(note, sizeof(note), "node %s no longer knew this execution when it came back",
			 ex->node_id);
		rc = job_store_note_late_result(dispatcher->store, ex->job_id, ex->attempt, false, NULL,
						note);
	} else {
		log_warn("could not ask node %s about job %s (attempt %d, LOST); asking again when it "
			 "next comes back",
			 ex->node_id, ex->job_id, ex->attempt);
	}
	if (rc != JOB_STORE_OK && rc != JOB_STORE_CONFLICT && rc != JOB_STORE_NOT_FOUND)
		log_error("could not record the late result of job %s (store result %d)", ex->job_id, rc);
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
		switch (ex->mode) {
		case MODE_EXECUTE:
			execute_answered(dispatcher, ex, msg->data.result);
			break;
		case MODE_FOLLOW:
			follow_answered(dispatcher, ex, msg->data.result);
			break;
		case MODE_CANCEL:
			cancel_answered(dispatcher, ex, msg->data.result);
			break;
		case MODE_RECLAIM:
			reclaim_answered(dispatcher, ex, msg->data.result);
			break;
		}
	}
}

/* ---- timers (dispatcher thread) ------------------------------------------- */

/* Sends due follow-up and cancel requests; times out and gives up lost attempts. */
static void tick_executions(struct dispatcher *dispatcher)
{
	int64_t now = clock_monotonic_ms();
	struct execution *ex = dispatcher->executions;

	while (ex != NULL) {
		struct execution *next = ex->next;
		char path[96], error[768];

		if (ex->held != NULL && ex->lost_since != 0 &&
		    now - ex->lost_since >= dispatcher->config.lost_after_ms) {
			snprintf(error, sizeof(error),
				 "lost contact with node %s (%s): UNHEALTHY for %lld ms, longer than the "
				 "grace of %ld ms (--lost-after-ms); the job may or may not have run there",
				 ex->node_id, ex->base_url, (long long)(now - ex->lost_since),
				 dispatcher->config.lost_after_ms);
			detach(dispatcher, ex);
			attempt_failed(dispatcher, ex, ATTEMPT_LOST, error, true);
			execution_end(dispatcher, ex);
		} else if (ex->mode == MODE_FOLLOW && now > ex->deadline_ms) {
			time_out_here(dispatcher, ex);
		} else if ((ex->mode == MODE_FOLLOW || ex->mode == MODE_CANCEL) &&
			   ex->next_request_ms != 0 && ex->next_request_ms <= now) {
			int rc;
			if (ex->mode == MODE_FOLLOW) {
				snprintf(path, sizeof(path), "/executions/%s?attempt=%d", ex->job_id,
					 ex->attempt);
				rc = send_request(dispatcher, ex, path, NULL,
						  dispatcher->config.connect_timeout_ms * 2);
			} else {
				snprintf(path, sizeof(path), "/executions/%s/cancel?attempt=%d", ex->job_id,
					 ex->attempt);
				rc = send_request(dispatcher, ex, path, strdup("{}"),
						  dispatcher->config.connect_timeout_ms * 2);
			}
			if (rc != 0)
				ex->next_request_ms = now + FOLLOW_INTERVAL_MS;
		}
		ex = next;
	}
}

/* ---- events (dispatcher thread) ------------------------------------------- */

static void adopt(struct dispatcher *dispatcher, struct held_job *held)
{
	struct node_slot slot;
	struct execution *ex;
	int64_t timeout, ran_for;

	if (node_registry_occupy(dispatcher->registry, held->job.node_id, &slot) != REGISTRY_OK) {
		/* Nobody to ask: the attempt is lost, as on a node that never came back. */
		struct execution gone = {0};
		char error[256];
		snprintf(gone.job_id, sizeof(gone.job_id), "%s", held->job.id);
		snprintf(gone.node_id, sizeof(gone.node_id), "%s", held->job.node_id);
		gone.held = held;
		gone.attempt = held->job.attempt;
		snprintf(error, sizeof(error),
			 "node %s, which was running the job, is no longer registered after the "
			 "coordinator restarted",
			 held->job.node_id);
		attempt_failed(dispatcher, &gone, ATTEMPT_LOST, error, true);
		return;
	}
	ex = execution_new(dispatcher, held->job.id, slot.node_id, slot.base_url);
	if (ex == NULL) {
		node_registry_release(dispatcher->registry, slot.node_id);
		node_slot_clear(&slot);
		log_error("out of memory taking up job %s; it stays RUNNING until the next start",
			  held->job.id);
		held_job_free(held);
		return;
	}
	node_slot_clear(&slot);
	ex->held = held;
	ex->holds_slot = true;
	dispatcher->in_flight++;
	ex->attempt = held->job.attempt;
	timeout = job_timeout_ms(dispatcher, &held->job);
	ran_for = clock_wall_ms() - held->job.updated_at;
	ex->deadline_ms = ex->started_ms - (ran_for > 0 ? ran_for : 0) + timeout +
			  dispatcher->config.timeout_grace_ms;
	ex->mode = MODE_FOLLOW;
	ex->adopted = true;
	ex->next_request_ms = ex->started_ms;
	log_info("job %s was RUNNING on node %s (attempt %d) when the coordinator stopped; asking "
		 "the node how it stands",
		 ex->job_id, ex->node_id, ex->attempt);
}

static void cancel_job(struct dispatcher *dispatcher, const char *job_id)
{
	struct execution *ex;

	if (drop_waiting(dispatcher, job_id))
		return;
	ex = find_execution(dispatcher, job_id);
	if (ex == NULL) {
		/* It ended meanwhile (the store has it), or its EVENT_RUN is yet to come. */
		snprintf(dispatcher->cancelled_unheld[dispatcher->cancelled_next],
			 sizeof(dispatcher->cancelled_unheld[0]), "%s", job_id);
		dispatcher->cancelled_next = (dispatcher->cancelled_next + 1) % CANCELLED_UNHELD_MAX;
		return;
	}
	log_info("job %s was cancelled; telling node %s to kill it", job_id, ex->node_id);
	held_job_free(ex->held);
	ex->held = NULL;
	start_cancelling(dispatcher, ex);
}

/* Whether job_id was cancelled while not held here; forgets it if so. */
static bool forget_cancelled_unheld(struct dispatcher *dispatcher, const char *job_id)
{
	for (size_t i = 0; i < CANCELLED_UNHELD_MAX; i++) {
		if (strcmp(dispatcher->cancelled_unheld[i], job_id) == 0) {
			dispatcher->cancelled_unheld[i][0] = '\0';
			return true;
		}
	}
	return false;
}

/*
 * EVENT_RUN: a job a request stored RUNNING on slot's node (dispatcher_run)
 * is sent there, unless something came first. Events are handled in the
 * order they were posted, so a cancel or a lost node that came between the
 * request's commit and its event found no execution here: a job cancelled
 * meanwhile is not sent (its slot is given back); one whose node turned
 * UNHEALTHY, or registered again at another address, has its attempt undone
 * (job_store_requeue) and waits for a node like any other.
 */
static void run_stored(struct dispatcher *dispatcher, struct held_job *held,
		       const struct node_slot *slot, int attempt)
{
	enum job_store_result rc;

	if (forget_cancelled_unheld(dispatcher, held->job.id)) {
		log_info("job %s was cancelled before it was sent to node %s", held->job.id,
			 slot->node_id);
		node_registry_release(dispatcher->registry, slot->node_id);
		held_job_free(held);
		return;
	}
	if (node_registry_is_reachable_at(dispatcher->registry, slot->node_id, slot->base_url)) {
		start_marked(dispatcher, held, slot, JOB_STORE_OK, attempt);
		return;
	}
	node_registry_release(dispatcher->registry, slot->node_id);
	rc = job_store_requeue(dispatcher->store, held->job.id);
	if (rc == JOB_STORE_OK) {
		log_info("job %s: node %s went away before the job was sent there; it waits for "
			 "another node",
			 held->job.id, slot->node_id);
		held->job.status = JOB_QUEUED;
		held->job.node_id[0] = '\0';
		held->job.attempt = attempt - 1;
		hold_waiting(dispatcher, held);
		return;
	}
	if (rc == JOB_STORE_CONFLICT || rc == JOB_STORE_NOT_FOUND) {
		held_job_free(held); /* cancelled meanwhile */
		return;
	}
	/* It stays RUNNING on that node: follow it there as after a restart (never sent: requeued). */
	log_error("job %s could not be put back in the queue (store result %d) after node %s "
		  "went away; it is followed up on that node instead",
		  held->job.id, rc, slot->node_id);
	adopt(dispatcher, held);
}

static void node_lost(struct dispatcher *dispatcher, const char *node_id)
{
	int64_t now = clock_monotonic_ms();
	size_t count = 0;

	for (struct execution *ex = dispatcher->executions; ex != NULL; ex = ex->next) {
		if (ex->held != NULL && ex->lost_since == 0 && strcmp(ex->node_id, node_id) == 0) {
			ex->lost_since = now;
			count++;
		}
	}
	if (count > 0)
		log_warn("node %s is UNHEALTHY with %zu job(s) on it; they wait %ld ms for it "
			 "(--lost-after-ms), then are retried or FAILED",
			 node_id, count, dispatcher->config.lost_after_ms);
}

static void node_back(struct dispatcher *dispatcher, const char *node_id)
{
	struct lost_attempt *lost = NULL;
	size_t count = 0;
	struct node node;

	if (node_registry_get(dispatcher->registry, node_id, &node) != REGISTRY_OK)
		return;
	for (struct execution *ex = dispatcher->executions; ex != NULL; ex = ex->next) {
		char *base_url;
		if (strcmp(ex->node_id, node_id) != 0)
			continue;
		/* A restarted agent may listen elsewhere now: ask it there. */
		if (strcmp(ex->base_url, node.base_url) != 0 && (base_url = strdup(node.base_url)) != NULL) {
			free(ex->base_url);
			ex->base_url = base_url;
		}
		ex->lost_since = 0;
		if (ex->mode == MODE_FOLLOW && ex->next_request_ms != 0)
			ex->next_request_ms = clock_monotonic_ms();
	}
	if (job_store_list_lost_attempts(dispatcher->store, node_id, &lost, &count) != JOB_STORE_OK ||
	    count == 0) {
		free(lost);
		node_clear(&node);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		struct execution *ex;
		char path[96];
		bool asking = false;
		for (ex = dispatcher->executions; ex != NULL && !asking; ex = ex->next)
			asking = ex->mode == MODE_RECLAIM && ex->attempt == lost[i].number &&
				 strcmp(ex->job_id, lost[i].job_id) == 0;
		if (asking)
			continue;
		ex = execution_new(dispatcher, lost[i].job_id, node_id, node.base_url);
		if (ex == NULL)
			break;
		ex->mode = MODE_RECLAIM;
		ex->attempt = lost[i].number;
		snprintf(path, sizeof(path), "/executions/%s/cancel?attempt=%d", lost[i].job_id,
			 lost[i].number);
		log_info("node %s is back: telling it to cancel job %s (attempt %d was given up as LOST "
			 "and handed elsewhere)",
			 node_id, lost[i].job_id, lost[i].number);
		if (send_request(dispatcher, ex, path, strdup("{}"),
				 dispatcher->config.connect_timeout_ms * 2) != 0)
			execution_end(dispatcher, ex);
	}
	node_clear(&node);
	free(lost);
}

/*
 * Whether the store's pages gave held's job already, or will: then the
 * ENQUEUE that brings it too is a second copy. A job is posted only once it
 * is stored, so a page read after that shows it; one read before it shows
 * it if it lies before the cursor (store_seq). A job without a store_seq
 * (never in a page) is always taken.
 */
static bool stored_job_was_read(const struct dispatcher *dispatcher, const struct held_job *held)
{
	uint64_t seq = held->job.store_seq;
	return seq != 0 && (dispatcher->reading_store || seq <= dispatcher->read_cursor);
}

/*
 * Takes up the next page of the QUEUED jobs of the store, in
 * submission order. A page that fails is read again after STORE_RETRY_MS;
 * a job there is no memory for ends the page early and is read again with
 * the next one.
 */
static void read_stored_queue(struct dispatcher *dispatcher)
{
	struct job_list page = {0};
	uint64_t cursor = dispatcher->read_cursor;
	size_t taken = 0;
	uint64_t first_seq;

	if (!dispatcher->reading_store || clock_monotonic_ms() < dispatcher->next_read_ms)
		return;
	/* Before the read: jobs queued later here must come after the page's. */
	pthread_mutex_lock(&dispatcher->inbox_lock);
	first_seq = dispatcher->next_seq;
	dispatcher->next_seq += STORED_QUEUE_PAGE;
	pthread_mutex_unlock(&dispatcher->inbox_lock);
	if (job_store_list_page(dispatcher->store, JOB_QUEUED, &cursor, STORED_QUEUE_PAGE,
				&page) != JOB_STORE_OK) {
		log_error("could not read the QUEUED jobs from the store; trying again in %d ms",
			  STORE_RETRY_MS);
		dispatcher->next_read_ms = clock_monotonic_ms() + STORE_RETRY_MS;
		return;
	}
	dispatcher->next_read_ms = 0;
	for (; taken < page.count; taken++) {
		const struct job *job = &page.items[taken];
		struct waiting_job *waiting = waiting_job_new(dispatcher, job, first_seq + taken);
		if (waiting == NULL) {
			log_error("out of memory taking up the QUEUED jobs; trying again in %d ms",
				  STORE_RETRY_MS);
			dispatcher->next_read_ms = clock_monotonic_ms() + STORE_RETRY_MS;
			break;
		}
		dispatcher->read_cursor = job->store_seq;
		place_waiting(dispatcher, waiting);
	}
	dispatcher->read_count += taken;
	if (taken == page.count && page.count < STORED_QUEUE_PAGE) {
		dispatcher->reading_store = false;
		dispatcher->read_cursor = cursor;
		if (dispatcher->read_count > 0)
			log_info("took up the %zu QUEUED job(s) of the store (those it held at start, "
				 "and those submitted while they were read)",
				 dispatcher->read_count);
	}
	job_list_clear(&page);
}

/* Takes the inbox and handles its events. Returns false once stopping. */
static bool take_inbox(struct dispatcher *dispatcher)
{
	struct event *events;
	bool stopping;

	pthread_mutex_lock(&dispatcher->inbox_lock);
	events = dispatcher->inbox_head;
	dispatcher->inbox_head = dispatcher->inbox_tail = NULL;
	stopping = dispatcher->stopping;
	pthread_mutex_unlock(&dispatcher->inbox_lock);

	while (events != NULL) {
		struct event *next = events->next;
		switch (events->kind) {
		case EVENT_ENQUEUE:
			if (stored_job_was_read(dispatcher, events->held))
				held_job_free(events->held);
			else
				hold_waiting(dispatcher, events->held);
			dispatcher->taken_jobs++;
			break;
		case EVENT_RUN:
			run_stored(dispatcher, events->held, &events->slot, events->attempt);
			node_slot_clear(&events->slot);
			break;
		case EVENT_ADOPT:
			adopt(dispatcher, events->held);
			break;
		case EVENT_CANCEL:
			cancel_job(dispatcher, events->id);
			break;
		case EVENT_NODE_LOST:
			node_lost(dispatcher, events->id);
			break;
		case EVENT_NODE_BACK:
			node_back(dispatcher, events->id);
			break;
		}
		free(events);
		events = next;
	}
	return !stopping;
}

static void publish_counts(struct dispatcher *dispatcher)
{
	pthread_mutex_lock(&dispatcher->inbox_lock);
	dispatcher->published_waiting = dispatcher->waiting;
	dispatcher->published_in_flight = dispatcher->in_flight;
	dispatcher->published_reading_store = dispatcher->reading_store;
	dispatcher->inbox_jobs -= dispatcher->taken_jobs; /* counted in waiting from now on */
	pthread_mutex_unlock(&dispatcher->inbox_lock);
	dispatcher->taken_jobs = 0;
}

static void *dispatcher_main(void *arg)
{
	struct dispatcher *dispatcher = arg;
	int running = 0;

	while (take_inbox(dispatcher)) {
		place_unplaced(dispatcher);
		read_stored_queue(dispatcher);
		release_due(dispatcher);
		dispatch_waiting(dispatcher);
		tick_executions(dispatcher);
		curl_multi_perform(dispatcher->multi, &running);
		collect_finished(dispatcher);
		dispatch_waiting(dispatcher); /* commits what collect_finished recorded, too */
		commit_pending(dispatcher);   /* what starting recorded (a send that failed) */
		publish_counts(dispatcher);
		/*
		 * Sleeps until a socket is ready or someone calls curl_multi_wakeup. The
		 * timeout bounds how late a timer (a retry falling due, a follow-up, a
		 * paused node) is noticed.
		 */
		curl_multi_poll(dispatcher->multi, NULL, 0,
				(dispatcher->look_again && dispatcher->waiting > 0) ||
						(dispatcher->reading_store &&
						 dispatcher->next_read_ms == 0)
					? 0
				: dispatcher->waiting > 0 || dispatcher->executions != NULL ||
						dispatcher->reading_store
					? 100
					: 1000,
				NULL);
		dispatcher->look_again = false;
	}
	/* Outcomes the last events recorded (a cancel, a lost node) are written before stopping. */
	commit_pending(dispatcher);
	/*
	 * Stopping: jobs in flight stay RUNNING in the store. The next start asks
	 * their nodes about them instead of running them again.
	 */
	while (dispatcher->executions != NULL) {
		struct execution *ex = dispatcher->executions;
		if (ex->held != NULL)
			log_info("job %s stays RUNNING on node %s: the next start takes it up again",
				 ex->job_id, ex->node_id);
		execution_end(dispatcher, ex);
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
	dispatcher->reading_store = dispatcher->published_reading_store = true;
	if (dispatcher->config.priority_aging_ms <= 0)
		dispatcher->config.priority_aging_ms = 30000;
	pthread_mutex_init(&dispatcher->inbox_lock, NULL);
	dispatcher->multi = curl_multi_init();
	dispatcher->json_headers = curl_slist_append(NULL, "Content-Type: application/json");
	dispatcher->starts = calloc(PENDING_STARTS_MAX, sizeof(*dispatcher->starts));
	if (dispatcher->multi == NULL || dispatcher->json_headers == NULL ||
	    dispatcher->starts == NULL) {
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
	free(dispatcher->starts);
	pthread_mutex_destroy(&dispatcher->inbox_lock);
	free(dispatcher);
	return NULL;
}

static void free_waiting_list(struct waiting_job *waiting)
{
	while (waiting != NULL) {
		struct waiting_job *next = waiting->next;
		free(waiting);
		waiting = next;
	}
}

void dispatcher_stop(struct dispatcher *dispatcher)
{
	if (dispatcher == NULL)
		return;
	pthread_mutex_lock(&dispatcher->inbox_lock);
	dispatcher->stopping = true;
	pthread_mutex_unlock(&dispatcher->inbox_lock);
	curl_multi_wakeup(dispatcher->multi);
	pthread_join(dispatcher->thread, NULL);

	for (size_t i = 0; i < dispatcher->queue_count; i++) {
		free_waiting_list(dispatcher->queues[i].head);
		free(dispatcher->queues[i].type);
	}
	free(dispatcher->queues);
	free_waiting_list(dispatcher->delayed);
	while (dispatcher->inbox_head != NULL) {
		struct event *next = dispatcher->inbox_head->next;
		held_job_free(dispatcher->inbox_head->held);
		node_slot_clear(&dispatcher->inbox_head->slot);
		free(dispatcher->inbox_head);
		dispatcher->inbox_head = next;
	}
	for (size_t i = 0; i < dispatcher->idle_count; i++)
		curl_easy_cleanup(dispatcher->idle_handles[i]);
	free(dispatcher->idle_handles);
	curl_multi_cleanup(dispatcher->multi);
	curl_slist_free_all(dispatcher->json_headers);
	free(dispatcher->starts);
	free(dispatcher->outcomes);
	free(dispatcher->changes);
	while (dispatcher->unplaced != NULL) {
		struct held_job *next = dispatcher->unplaced->next;
		held_job_free(dispatcher->unplaced);
		dispatcher->unplaced = next;
	}
	pthread_mutex_destroy(&dispatcher->inbox_lock);
	free(dispatcher);
}
