#include "coordinator_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "clock.h"
#include "log.h"
#include "wire.h"

static struct coordinator_app *app_of(struct http_request *request)
{
	return request->app;
}

/* Fills job->reason for a QUEUED job: why it waits, in words a person understands. */
static void explain_wait(struct coordinator_app *app, struct job *job)
{
	char text[256];
	size_t matching = 0;
	enum scheduler_verdict verdict;

	if (job->status != JOB_QUEUED || job->reason != NULL)
		return;
	if (job->next_attempt_at > clock_wall_ms()) {
		char when[CLOCK_RFC3339_SIZE];
		clock_format_rfc3339(job->next_attempt_at, when, sizeof(when));
		snprintf(text, sizeof(text), "waiting for attempt %d of %d at %s (attempt %d did not "
			 "complete; see its attempts)",
			 job->attempt + 1, job->max_attempts, when, job->attempt);
		job->reason = strdup(text);
		return;
	}
	verdict = node_registry_explain(app->registry, job->type, &matching);
	if (verdict == SCHEDULER_PICKED)
		snprintf(text, sizeof(text), "waiting for its turn: a node that runs '%s' has room",
			 job->type);
	else if (verdict == SCHEDULER_ALL_FULL && matching == 1)
		snprintf(text, sizeof(text), "the only node that runs '%s' and takes jobs is full",
			 job->type);
	else if (verdict == SCHEDULER_ALL_FULL)
		snprintf(text, sizeof(text), "all %zu nodes that run '%s' are full", matching, job->type);
	else if (verdict == SCHEDULER_DRAINING)
		snprintf(text, sizeof(text),
			 "the healthy node%s that run%s '%s' %s draining (taking no new jobs)",
			 matching == 1 ? "" : "s", matching == 1 ? "s" : "", job->type,
			 matching == 1 ? "is" : "are");
	else
		scheduler_verdict_describe(verdict, job->type, text, sizeof(text));
	job->reason = strdup(text);
}

/*
 * explain_wait for every job of jobs[]. QUEUED jobs of one type that wait for
 * a node wait for the same reason: the registry is asked once per type (of
 * the last few seen), not once per job of a long list or batch. A job waiting
 * for a later attempt has a reason of its own and is neither copied nor
 * copied from.
 */
static void explain_waits(struct coordinator_app *app, struct job *jobs, size_t count)
{
	const struct job *seen[8]; /* jobs already explained as waiting for a node, one per type */
	size_t seen_count = 0;
	int64_t now = clock_wall_ms();

	for (size_t i = 0; i < count; i++) {
		struct job *job = &jobs[i];
		bool for_a_node =
			job->status == JOB_QUEUED && job->reason == NULL && job->next_attempt_at <= now;

		for (size_t k = 0; k < seen_count && for_a_node; k++) {
			if (strcmp(seen[k]->type, job->type) == 0) {
				job->reason = strdup(seen[k]->reason);
				break;
			}
		}
		explain_wait(app, job);
		if (for_a_node && job->reason != NULL && seen_count < sizeof(seen) / sizeof(seen[0]))
			seen[seen_count++] = job;
	}
}

static void reply_store_failure(struct http_request *request, enum job_store_result rc,
				const char *id)
{
	if (rc == JOB_STORE_NOT_FOUND)
		http_reply_error(request, 404, "no job with id '%s'", id);
	else if (rc == JOB_STORE_FULL)
		http_reply_error(request, 507, "the coordinator's disk is full: nothing was changed");
	else
		http_reply_error(request, 503, "the job store failed (result %d); nothing was changed; "
				 "see the coordinator's log", rc);
}

/* The job as the submitter asked for it, with the coordinator's defaults filled in. */
static int job_spec_from_submission(const struct coordinator_app *app,
				    const struct job_submission *submission, struct job *spec,
				    char *err, size_t err_size)
{
	memset(spec, 0, sizeof(*spec));
	spec->type = submission->type;
	spec->payload = submission->payload;
	spec->priority = submission->has_priority ? submission->priority : JOB_PRIORITY_NORMAL;
	spec->timeout_ms = submission->timeout_ms > 0 ? submission->timeout_ms : app->defaults.timeout_ms;
	spec->max_attempts = submission->max_attempts > 0 ? submission->max_attempts
							  : app->defaults.max_attempts;
	spec->retry_on_failure = submission->has_retry_on_failure && submission->retry_on_failure;
	spec->backoff_base_ms = submission->backoff_base_ms > 0 ? submission->backoff_base_ms
								: app->defaults.backoff_base_ms;
	spec->backoff_cap_ms = submission->backoff_cap_ms > 0 ? submission->backoff_cap_ms
							      : app->defaults.backoff_cap_ms;
	spec->idempotency_key = submission->idempotency_key;
	if (spec->backoff_base_ms > spec->backoff_cap_ms) {
		if (submission->backoff_base_ms > 0)
			snprintf(err, err_size,
				 "field 'backoff_base_ms' (%lld ms) must not exceed the coordinator's "
				 "default backoff cap (%lld ms); give backoff_cap_ms too",
				 (long long)spec->backoff_base_ms, (long long)spec->backoff_cap_ms);
		else
			snprintf(err, err_size,
				 "field 'backoff_cap_ms' (%lld ms) must not be below the coordinator's "
				 "default backoff base (%lld ms); give backoff_base_ms too",
				 (long long)spec->backoff_cap_ms, (long long)spec->backoff_base_ms);
		return -1;
	}
	return 0;
}

/* Reads ?wait=SECONDS into *wait_s (0 if absent). Returns 0, or -1 after answering 400. */
static int read_wait_param(struct http_request *request, long *wait_s)
{
	static const char *const allowed[] = {"wait", NULL};
	char value[32], scratch[64];
	const char *unknown = http_query_unknown_param(request, allowed, scratch, sizeof(scratch));
	int found;

	*wait_s = 0;
	if (unknown != NULL) {
		http_reply_error(request, 400, "unknown query parameter '%s' (known: wait)", unknown);
		return -1;
	}
	found = http_query_param(request, "wait", value, sizeof(value));
	if (found != 0 && (found < 0 || parse_long_in_range(value, 0, COORDINATOR_WAIT_MAX_S,
							    wait_s) != 0)) {
		http_reply_error(request, 400,
				 "query parameter 'wait' must be a whole number of seconds from 0 to %d",
				 COORDINATOR_WAIT_MAX_S);
		return -1;
	}
	return 0;
}

/*
 * Decodes the submissions of a body (one object, or an array of 1 to
 * JOB_STORE_BATCH_MAX objects) into specs[] (their strings borrowed from
 * submissions[], which the caller clears). Returns the count, or 0 after
 * answering 400 naming the element and the field.
 */
static size_t decode_submissions(struct http_request *request, const struct coordinator_app *app,
				 json_t *json, struct job_submission *submissions,
				 struct job *specs)
{
	bool batch = json_is_array(json);
	size_t count = batch ? json_array_size(json) : 1;
	char err[WIRE_ERROR_SIZE];

	if (count == 0 || count > JOB_STORE_BATCH_MAX) {
		http_reply_error(request, 400, "a batch must hold 1 to %d jobs (got %zu)",
				 JOB_STORE_BATCH_MAX, count);
		return 0;
	}
	for (size_t i = 0; i < count; i++) {
		json_t *element = batch ? json_array_get(json, i) : json;
		if (job_submission_from_json(element, &submissions[i], err, sizeof(err)) != 0 ||
		    job_spec_from_submission(app, &submissions[i], &specs[i], err, sizeof(err)) != 0) {
			if (batch)
				http_reply_error(request, 400, "jobs[%zu]: %s", i, err);
			else
				http_reply_error(request, 400, "%s", err);
			return 0;
		}
	}
	return count;
}

/*
 * Waits (POST /jobs?wait=) until job finishes or wait_s seconds pass, then
 * answers: the finished job with finished_status, or the job as it stands
 * with 202. waiter was registered before and watches job; it is removed here.
 * look_first: the job may have changed since the caller had it and its end
 * may not have been notified to waiter (it existed already, or some job was
 * notified before waiter was named: job_waiters_watch). Otherwise the job was
 * watched before anyone could end it, so its end is notified, and the first
 * look is skipped.
 */
static void answer_after_wait(struct http_request *request, struct coordinator_app *app,
			      struct job_waiter *waiter, struct job *job, long wait_s,
			      int finished_status, const char *location, bool look_first)
{
	int64_t deadline = clock_monotonic_ms() + wait_s * 1000;
	bool look = look_first;
	struct job current;

	/*
	 * Watched before each look, so an end in between is not missed. A look
	 * takes the finished job the dispatcher handed over with its
	 * notification, if it did, and reads the store otherwise.
	 */
	while (!look || job_waiters_take_finished(app->waiters, waiter, &current) ||
	       job_store_get(app->store, job->id, &current) == JOB_STORE_OK) {
		if (look) {
			job_clear(job);
			*job = current;
		}
		look = true;
		if (job_status_is_terminal(job->status) || clock_monotonic_ms() >= deadline ||
		    !job_waiters_wait(app->waiters, waiter, deadline))
			break;
	}
	job_waiters_remove(app->waiters, waiter);
	if (job_status_is_terminal(job->status)) {
		http_reply_json(request, finished_status, job_to_json(job), location);
		return;
	}
	/* One more look: the wait may have ended as the job did. */
	if (job_store_get(app->store, job->id, &current) == JOB_STORE_OK) {
		job_clear(job);
		*job = current;
	}
	explain_wait(app, job);
	http_reply_json(request, job_status_is_terminal(job->status) ? finished_status : 202,
			job_to_json(job), location);
}

/*
 * The fast way for a waiting client's job (POST /jobs?wait, no
 * idempotency_key): when no job waits for a node and one has room now, the
 * job is stored already RUNNING there (one commit and one fsync, instead of
 * one to store it and one to start it) and handed to the dispatcher to send.
 * Returns false if it did not apply (the caller stores the job as usual);
 * true with *rc: OK (job holds the stored job, waiter watches it, and
 * *look_first says whether it may have ended before it was watched), or the
 * store's failure, nothing stored.
 */
static bool submit_running(struct coordinator_app *app, const struct job *spec, struct job *job,
			   struct job_waiter *waiter, enum job_store_result *rc, bool *look_first)
{
	size_t waiting, in_flight;
	struct node_slot slot;
	enum scheduler_verdict verdict;
	enum job_store_result requeued;
	int attempt;

	if (spec->idempotency_key != NULL)
		return false; /* the key's check belongs to job_store_create */
	dispatcher_counts(app->dispatcher, &waiting, &in_flight);
	if (waiting > 0 || dispatcher_reading_store(app->dispatcher) ||
	    !node_registry_reserve(app->registry, spec->type, &slot, &verdict))
		return false; /* jobs wait ahead of it, or no node has room */
	*rc = job_store_create_running(app->store, spec, slot.node_id, job, &attempt);
	if (*rc != JOB_STORE_OK && *rc != JOB_STORE_CONFLICT) {
		node_registry_release(app->registry, slot.node_id);
		node_slot_clear(&slot);
		return true;
	}
	*look_first = job_waiters_watch(app->waiters, waiter, job->id); /* before the dispatcher has it */
	if (*rc == JOB_STORE_OK) {
		log_info("job %s (%s) submitted and stored RUNNING on node %s at once (no job waits "
			 "ahead of it)",
			 job->id, job->type, job->node_id);
		if (dispatcher_run(app->dispatcher, job, &slot, attempt) == 0)
			return true;
	}
	/* Stored but not started (a cancel came first), or no memory to send it: queue it as usual. */
	*look_first = true;
	node_registry_release(app->registry, slot.node_id);
	node_slot_clear(&slot);
	requeued = *rc == JOB_STORE_OK ? job_store_requeue(app->store, job->id) : JOB_STORE_OK;
	*rc = JOB_STORE_OK;
	if (requeued == JOB_STORE_CONFLICT || requeued == JOB_STORE_NOT_FOUND)
		return true; /* cancelled meanwhile: nothing to send */
	if (requeued != JOB_STORE_OK) {
		/* Its node is asked of it (it does not know it) and it is queued again. */
		if (dispatcher_adopt(app->dispatcher, job) != 0)
			log_error("job %s stays RUNNING on node %s without having been sent there; "
				  "the next start takes it up",
				  job->id, job->node_id);
		return true;
	}
	job->status = JOB_QUEUED;
	job->node_id[0] = '\0';
	job->attempt = 0;
	log_info("job %s was stored but not sent at once; it is queued instead", job->id);
	if (dispatcher_enqueue(app->dispatcher, job) != 0)
		log_error("job %s is stored but could not be queued for dispatch (out of memory); "
			  "the next start dispatches it",
			  job->id);
	return true;
}

static void handle_submit_job(struct http_request *request)
{
	struct coordinator_app *app = app_of(request);
	struct job_submission *submissions = NULL;
	struct job *specs = NULL, *jobs = NULL;
	bool *existed = NULL;
	char err[WIRE_ERROR_SIZE], location[64];
	struct job_waiter *waiter = NULL;
	size_t count = 0, capacity, created = 0;
	enum job_store_result rc;
	json_t *json, *answer;
	long wait_s;
	bool batch, look_first = true;

	if (read_wait_param(request, &wait_s) != 0)
		return;
	json = wire_parse_object_or_array(request->body, request->body_len, err, sizeof(err));
	if (json == NULL) {
		http_reply_error(request, 400, "%s", err);
		return;
	}
	batch = json_is_array(json);
	if (batch && wait_s > 0) {
		json_decref(json);
		http_reply_error(request, 400, "query parameter 'wait' is for one job, not a batch");
		return;
	}
	capacity = batch ? json_array_size(json) : 1;
	if (capacity == 0 || capacity > JOB_STORE_BATCH_MAX)
		capacity = 1; /* decode_submissions answers the error */
	submissions = calloc(capacity, sizeof(*submissions));
	specs = calloc(capacity, sizeof(*specs));
	jobs = calloc(capacity, sizeof(*jobs));
	existed = calloc(capacity, sizeof(*existed));
	if (submissions == NULL || specs == NULL || jobs == NULL || existed == NULL) {
		http_reply_error(request, 500, "out of memory");
		goto out;
	}
	count = decode_submissions(request, app, json, submissions, specs);
	if (count == 0)
		goto out;
	/* A slot for the waiting client before anything is stored: a 503 then changes nothing. */
	if (wait_s > 0 && (waiter = job_waiters_add(app->waiters, "")) == NULL) {
		size_t waiting, max_waiters;
		job_waiters_count(app->waiters, &waiting, &max_waiters);
		http_reply_retry_later(request, 1,
				       "%zu client%s already waiting for %s job%s (the most the "
				       "coordinator holds); nothing was stored: retry later, or submit "
				       "without ?wait and poll GET /jobs/{id}",
				       max_waiters, max_waiters == 1 ? " is" : "s are",
				       max_waiters == 1 ? "its" : "their", max_waiters == 1 ? "" : "s");
		goto out;
	}
	if (waiter == NULL || !submit_running(app, &specs[0], &jobs[0], waiter, &rc, &look_first)) {
		rc = job_store_create(app->store, specs, count, jobs, existed);
		if (rc == JOB_STORE_OK && waiter != NULL) /* before the dispatcher has it */
			look_first = job_waiters_watch(app->waiters, waiter, jobs[0].id) || existed[0];
		for (size_t i = 0; rc == JOB_STORE_OK && i < count; i++) {
			if (!existed[i] && dispatcher_enqueue(app->dispatcher, &jobs[i]) != 0)
				log_error("job %s is stored but could not be queued for dispatch (out "
					  "of memory); the next start dispatches it",
					  jobs[i].id);
		}
	}
	if (rc == JOB_STORE_CONFLICT) {
		size_t i = 0;
		while (i < count && !existed[i])
			i++;
		if (i == count) {
			http_reply_error(request, 409,
					 "two jobs of the batch share an idempotency_key but differ in "
					 "type or payload; nothing was stored");
		} else {
			char where[32] = "";
			if (batch)
				snprintf(where, sizeof(where), "jobs[%zu]: ", i);
			http_reply_error(request, 409,
					 "%sidempotency_key '%s' was already used for job %s, which has "
					 "another type or payload; nothing was stored",
					 where, jobs[i].idempotency_key != NULL ? jobs[i].idempotency_key : "",
					 jobs[i].id);
		}
		goto out;
	}
	if (rc != JOB_STORE_OK) {
		reply_store_failure(request, rc, "");
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		if (existed[i])
			log_info("job %s (%s) submitted again with its idempotency_key; not stored twice",
				 jobs[i].id, jobs[i].type);
		else
			created++;
	}
	if (batch) {
		log_info("%zu job(s) submitted in one batch (%zu new)", count, created);
		answer = json_array();
		explain_waits(app, jobs, count);
		for (size_t i = 0; i < count; i++) {
			jobs[i].has_attempts = !existed[i] || jobs[i].has_attempts;
			json_array_append_new(answer, job_to_json(&jobs[i]));
		}
		http_reply_json(request, created > 0 ? 201 : 200, answer, NULL);
		goto out;
	}
	if (existed[0]) {
		struct job current;
		/* Answer as GET /jobs/{id} would: with its attempts so far. */
		if (job_store_get(app->store, jobs[0].id, &current) == JOB_STORE_OK) {
			job_clear(&jobs[0]);
			jobs[0] = current;
		}
	} else if (jobs[0].status != JOB_RUNNING) { /* submit_running logged its own */
		log_info("job %s (%s) submitted", jobs[0].id, jobs[0].type);
		jobs[0].has_attempts = true; /* none yet */
	}
	snprintf(location, sizeof(location), "/jobs/%s", jobs[0].id);
	if (waiter != NULL) {
		answer_after_wait(request, app, waiter, &jobs[0], wait_s, existed[0] ? 200 : 201,
				  location, look_first);
		waiter = NULL;
		goto out;
	}
	explain_wait(app, &jobs[0]);
	http_reply_json(request, existed[0] ? 200 : 201, job_to_json(&jobs[0]), location);
out:
	if (waiter != NULL)
		job_waiters_remove(app->waiters, waiter);
	/* Every element, also those a failed decode left half filled (zeroed ones are no-ops). */
	for (size_t i = 0; submissions != NULL && jobs != NULL && i < capacity; i++) {
		job_submission_clear(&submissions[i]);
		job_clear(&jobs[i]);
	}
	free(submissions);
	free(specs);
	free(jobs);
	free(existed);
	json_decref(json);
}

static void handle_cancel_job(struct http_request *request)
{
	struct coordinator_app *app = app_of(request);
	const char *id = request->params[0];
	enum job_status was = JOB_QUEUED;
	struct job job;
	enum job_store_result rc;

	rc = job_store_cancel(app->store, id, "cancelled by request (POST /jobs/{id}/cancel)", &was,
			      &job);
	if (rc == JOB_STORE_CONFLICT) {
		char message[160];
		json_t *body;
		snprintf(message, sizeof(message), "job %s is already %s; nothing to cancel", id,
			 job_status_name(job.status));
		body = json_pack("{s:s, s:o}", "error", message, "job", job_to_json(&job));
		http_reply_json(request, 409, body, NULL);
		job_clear(&job);
		return;
	}
	if (rc != JOB_STORE_OK) {
		reply_store_failure(request, rc, id);
		return;
	}
	if (dispatcher_cancel(app->dispatcher, id) != 0)
		log_error("job %s is CANCELLED but the dispatcher could not be told (out of memory)", id);
	job_waiters_notify(app->waiters, id);
	log_info("job %s cancelled (it was %s%s%s)", id, job_status_name(was),
		 was == JOB_RUNNING ? " on node " : "", was == JOB_RUNNING ? job.node_id : "");
	http_reply_json(request, 200, job_to_json(&job), NULL);
	job_clear(&job);
}

static void handle_list_jobs(struct http_request *request)
{
	static const char *const allowed[] = {"status", "node_id", "type", "limit", NULL};
	struct coordinator_app *app = app_of(request);
	struct job_filter filter = {.limit = COORDINATOR_LIST_DEFAULT};
	char status[32], node_id[MESH_ID_SIZE], type[MESH_TYPE_MAX + 1], limit[32], scratch[64];
	const char *unknown;
	struct job_list list;
	json_t *jobs;
	int found;

	unknown = http_query_unknown_param(request, allowed, scratch, sizeof(scratch));
	if (unknown != NULL) {
		http_reply_error(request, 400,
				 "unknown query parameter '%s' (known: status, node_id, type, limit)",
				 unknown);
		return;
	}
	found = http_query_param(request, "status", status, sizeof(status));
	if (found != 0) {
		if (found < 0 || job_status_parse(status, &filter.status) != 0) {
			http_reply_error(request, 400,
					 "unknown status '%s' (expected QUEUED, RUNNING, COMPLETED, FAILED "
					 "or CANCELLED)",
					 found < 0 ? "(too long or holding a NUL)" : status);
			return;
		}
		filter.by_status = true;
	}
	found = http_query_param(request, "node_id", node_id, sizeof(node_id));
	if (found < 0 || (found > 0 && node_id[0] == '\0')) {
		http_reply_error(request, 400, "query parameter 'node_id' must be a node id");
		return;
	}
	if (found > 0)
		filter.node_id = node_id;
	found = http_query_param(request, "type", type, sizeof(type));
	if (found < 0 || (found > 0 && !mesh_type_is_valid(type))) {
		http_reply_error(request, 400,
				 "query parameter 'type' must be 1 to %d characters of letters, digits, "
				 "'_', '.' or '-'",
				 MESH_TYPE_MAX);
		return;
	}
	if (found > 0)
		filter.type = type;
	found = http_query_param(request, "limit", limit, sizeof(limit));
	if (found != 0) {
		long value;
		if (found < 0 || parse_long_in_range(limit, 1, JOB_STORE_LIST_MAX, &value) != 0) {
			http_reply_error(request, 400,
					 "query parameter 'limit' must be a whole number from 1 to %d",
					 JOB_STORE_LIST_MAX);
			return;
		}
		filter.limit = (size_t)value;
	}

	if (job_store_list(app->store, &filter, &list) != JOB_STORE_OK) {
		http_reply_error(request, 503, "could not list jobs: the job store failed");
		return;
	}
	jobs = json_array();
	explain_waits(app, list.items, list.count);
	for (size_t i = 0; i < list.count; i++)
		json_array_append_new(jobs, job_to_json(&list.items[i]));
	job_list_clear(&list);
	http_reply_json(request, 200, json_pack("{s:o}", "jobs", jobs), NULL);
}

static void handle_get_job(struct http_request *request)
{
	struct job job;
	enum job_store_result rc = job_store_get(app_of(request)->store, request->params[0], &job);

	if (rc != JOB_STORE_OK) {
		reply_store_failure(request, rc, request->params[0]);
		return;
	}
	explain_wait(app_of(request), &job);
	http_reply_json(request, 200, job_to_json(&job), NULL);
	job_clear(&job);
}

static void handle_register_node(struct http_request *request)
{
	struct coordinator_app *app = app_of(request);
	struct node_registration registration;
	char err[WIRE_ERROR_SIZE], location[64];
	struct node node;
	bool created = false;
	enum registry_result rc;
	json_t *body;

	if (node_registration_decode(request->body, request->body_len, &registration, err,
				     sizeof(err)) != 0) {
		http_reply_error(request, 400, "%s", err);
		return;
	}
	rc = node_registry_register(app->registry, &registration, &node, &created, err, sizeof(err));
	node_registration_clear(&registration);
	if (rc == REGISTRY_INVALID) {
		http_reply_error(request, 400, "field 'address' is not usable: %s", err);
		return;
	}
	if (rc != REGISTRY_OK) {
		http_reply_error(request, 500, "could not register the node: %s", err);
		return;
	}
	log_info("node %s '%s' %s at %s (capacity %d)", node.id, node.name,
		 created ? "registered" : "registered again", node.base_url, node.capacity);
	/* Kept so that the node keeps its id, and its jobs can be asked about, after a restart. */
	if (job_store_put_node(app->store, &node) != JOB_STORE_OK)
		log_warn("node %s could not be saved in the store; after a restart it registers anew",
			 node.id);
	/*
	 * A known node registering again has restarted: ask it about the jobs it
	 * had, and tell it to cancel the attempts given up as LOST meanwhile.
	 */
	if (!created)
		dispatcher_node_back(app->dispatcher, node.id);
	dispatcher_poke(app->dispatcher);
	body = node_to_json(&node);
	json_object_set_new(body, "node_id", json_string(node.id));
	snprintf(location, sizeof(location), "/nodes/%s", node.id);
	http_reply_json(request, created ? 201 : 200, body, location);
	node_clear(&node);
}

static void handle_list_nodes(struct http_request *request)
{
	struct node *nodes;
	size_t count;
	json_t *array;

	if (node_registry_list(app_of(request)->registry, &nodes, &count) != REGISTRY_OK) {
		http_reply_error(request, 500, "could not list nodes");
		return;
	}
	array = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(array, node_to_json(&nodes[i]));
	node_list_free(nodes, count);
	http_reply_json(request, 200, json_pack("{s:o}", "nodes", array), NULL);
}

static void handle_get_node(struct http_request *request)
{
	struct node node;
	enum registry_result rc = node_registry_get(app_of(request)->registry, request->params[0], &node);

	if (rc == REGISTRY_NOT_FOUND) {
		http_reply_error(request, 404, "no node with id '%s'", request->params[0]);
		return;
	}
	if (rc != REGISTRY_OK) {
		http_reply_error(request, 500, "could not read the node");
		return;
	}
	http_reply_json(request, 200, node_to_json(&node), NULL);
	node_clear(&node);
}

static void handle_drain_node(struct http_request *request)
{
	struct coordinator_app *app = app_of(request);
	const char *id = request->params[0];
	struct node node;
	enum registry_result rc = node_registry_set_draining(app->registry, id, true, &node);

	if (rc == REGISTRY_NOT_FOUND) {
		http_reply_error(request, 404, "no node with id '%s'", id);
		return;
	}
	if (rc != REGISTRY_OK) {
		http_reply_error(request, 500, "could not drain the node");
		return;
	}
	if (job_store_put_node(app->store, &node) != JOB_STORE_OK)
		log_warn("node %s: draining could not be saved in the store", id);
	log_info("node %s '%s' is draining: no new jobs; %d still running", node.id, node.name,
		 node.running);
	dispatcher_poke(app->dispatcher);
	http_reply_json(request, 200, node_to_json(&node), NULL);
	node_clear(&node);
}

static void handle_delete_node(struct http_request *request)
{
	struct coordinator_app *app = app_of(request);
	const char *id = request->params[0];
	struct node node;
	enum registry_result rc = node_registry_remove(app->registry, id, &node);

	if (rc == REGISTRY_NOT_FOUND) {
		http_reply_error(request, 404, "no node with id '%s'", id);
		return;
	}
	if (rc == REGISTRY_BUSY) {
		http_reply_error(request, 409,
				 "node %s still has %d job(s) in flight; drain it and wait until it is "
				 "DRAINED",
				 id, node.running);
		node_clear(&node);
		return;
	}
	if (rc != REGISTRY_OK) {
		http_reply_error(request, 500, "could not remove the node");
		return;
	}
	if (job_store_delete_node(app->store, id) != JOB_STORE_OK)
		log_warn("node %s could not be removed from the store; it comes back after a restart", id);
	log_info("node %s '%s' deregistered", node.id, node.name);
	http_reply_json(request, 200, node_to_json(&node), NULL);
	node_clear(&node);
}

static void handle_healthz(struct http_request *request)
{
	struct coordinator_app *app = app_of(request);
	size_t counts[JOB_STATUS_COUNT], nodes, healthy, waiting, in_flight;
	json_t *jobs = json_object();

	job_store_count_by_status(app->store, counts);
	node_registry_count(app->registry, &nodes, &healthy);
	dispatcher_counts(app->dispatcher, &waiting, &in_flight);
	if (dispatcher_reading_store(app->dispatcher))
		waiting = counts[JOB_QUEUED]; /* some are only in the store yet */
	for (int i = 0; i < JOB_STATUS_COUNT; i++)
		json_object_set_new(jobs, job_status_name((enum job_status)i),
				    json_integer((json_int_t)counts[i]));
	http_reply_json(request, 200,
			json_pack("{s:s, s:I, s:I, s:o, s:I, s:I}", "status", "ok", "nodes",
				  (json_int_t)nodes, "healthy_nodes", (json_int_t)healthy, "jobs", jobs,
				  "waiting_for_a_node", (json_int_t)waiting, "in_flight",
				  (json_int_t)in_flight),
			NULL);
}

const struct http_route coordinator_routes[] = {
	{"POST", "/jobs", handle_submit_job, true},
	{"GET", "/jobs", handle_list_jobs, false},
	{"GET", "/jobs/*", handle_get_job, false},
	{"POST", "/jobs/*/cancel", handle_cancel_job, true},
	{"POST", "/nodes/register", handle_register_node, true},
	{"GET", "/nodes", handle_list_nodes, false},
	{"GET", "/nodes/*", handle_get_node, false},
	{"DELETE", "/nodes/*", handle_delete_node, false},
	{"POST", "/nodes/*/drain", handle_drain_node, true},
	{"GET", "/healthz", handle_healthz, false},
};

const size_t coordinator_route_count = sizeof(coordinator_routes) / sizeof(coordinator_routes[0]);
