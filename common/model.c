#include "model.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"

static const char *const job_status_names[JOB_STATUS_COUNT] = {"QUEUED", "RUNNING", "COMPLETED",
							       "FAILED", "CANCELLED"};
static const char *const job_priority_names[JOB_PRIORITY_COUNT] = {"normal", "high", "low"};
static const char *const attempt_status_names[ATTEMPT_STATUS_COUNT] = {
	"RUNNING", "COMPLETED", "FAILED", "DISPATCH_FAILED", "TIMED_OUT", "LOST", "CANCELLED", "SUPERSEDED"};
static const char *const node_state_names[NODE_STATE_COUNT] = {"HEALTHY", "UNHEALTHY", "DRAINING",
							       "DRAINED"};

/* Index of name in names[count], exact case, or -1. */
static int name_index(const char *const *names, int count, const char *name)
{
	for (int i = 0; name != NULL && i < count; i++) {
		if (strcmp(name, names[i]) == 0)
			return i;
	}
	return -1;
}

const char *job_status_name(enum job_status status)
{
	return (unsigned)status < JOB_STATUS_COUNT ? job_status_names[status] : "UNKNOWN";
}

int job_status_parse(const char *name, enum job_status *out)
{
	int i = name_index(job_status_names, JOB_STATUS_COUNT, name);
	if (i < 0)
		return -1;
	*out = (enum job_status)i;
	return 0;
}

bool job_status_is_terminal(enum job_status status)
{
	return status == JOB_COMPLETED || status == JOB_FAILED || status == JOB_CANCELLED;
}

const char *job_priority_name(enum job_priority priority)
{
	return (unsigned)priority < JOB_PRIORITY_COUNT ? job_priority_names[priority] : "unknown";
}

int job_priority_parse(const char *name, enum job_priority *out)
{
	int i = name_index(job_priority_names, JOB_PRIORITY_COUNT, name);
	if (i < 0)
		return -1;
	*out = (enum job_priority)i;
	return 0;
}

int job_priority_rank(enum job_priority priority)
{
	return priority == JOB_PRIORITY_HIGH ? 0 : priority == JOB_PRIORITY_LOW ? 2 : 1;
}

const char *attempt_status_name(enum attempt_status status)
{
	return (unsigned)status < ATTEMPT_STATUS_COUNT ? attempt_status_names[status] : "UNKNOWN";
}

int attempt_status_parse(const char *name, enum attempt_status *out)
{
	int i = name_index(attempt_status_names, ATTEMPT_STATUS_COUNT, name);
	if (i < 0)
		return -1;
	*out = (enum attempt_status)i;
	return 0;
}

const char *node_state_name(enum node_state state)
{
	return (unsigned)state < NODE_STATE_COUNT ? node_state_names[state] : "UNKNOWN";
}

int node_state_parse(const char *name, enum node_state *out)
{
	int i = name_index(node_state_names, NODE_STATE_COUNT, name);
	if (i < 0)
		return -1;
	*out = (enum node_state)i;
	return 0;
}

enum node_state node_shown_state(const struct node *node)
{
	if (node->state == NODE_HEALTHY && node->draining)
		return node->running > 0 ? NODE_DRAINING : NODE_DRAINED;
	return node->state;
}

int64_t job_backoff_ms(int64_t base_ms, int64_t cap_ms, int next)
{
	int64_t delay = base_ms;
	uint32_t noise = 0;

	for (int i = 2; i < next && delay < cap_ms; i++)
		delay *= 2;
	if (delay > cap_ms)
		delay = cap_ms;
	if (delay < 2)
		return delay;
	while (getrandom(&noise, sizeof(noise), 0) != (ssize_t)sizeof(noise))
		;
	return delay / 2 + (int64_t)(noise % (uint64_t)(delay / 2 + 1));
}

/*
 * The id counter: an atomic, so any thread may take the next value without a
 * lock. It starts at a random value (taken once, pthread_once) so that two
 * runs of the coordinator do not make the same ids in the same millisecond.
 */
static atomic_uint_fast32_t id_counter;
static pthread_once_t id_counter_once = PTHREAD_ONCE_INIT;

static void seed_id_counter(void)
{
	uint32_t seed = 0;

	while (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		;
	atomic_store(&id_counter, seed);
}

void mesh_new_id(char kind, char *out, size_t out_size)
{
	uint64_t now = (uint64_t)clock_wall_ms();
	uint32_t count;

	pthread_once(&id_counter_once, seed_id_counter);
	count = (uint32_t)atomic_fetch_add(&id_counter, 1);
	/*
	 * The first 6 hex digits are the wall clock's milliseconds (modulo 2^24,
	 * about 4.7 hours), so that ids made close together sort close together:
	 * a new job's id then lands at one spot of the store's id indexes instead
	 * of a random page each, and a commit of many jobs writes a few pages
	 * instead of one per job. The last 6 are the counter (modulo 2^24), so
	 * that one process never makes the same id twice in one millisecond; an
	 * id may still meet an old one 4.7 hours later, so the stores check.
	 */
	snprintf(out, out_size, "%c-%06x%06x", kind, (unsigned)(now & 0xffffff),
		 (unsigned)(count & 0xffffff));
}

static bool is_token(const char *text, size_t max)
{
	size_t len = 0;
	if (text == NULL)
		return false;
	for (; text[len] != '\0'; len++) {
		char c = text[len];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '.' || c == '-';
		if (!ok || len >= max)
			return false;
	}
	return len > 0;
}

bool mesh_type_is_valid(const char *text)
{
	return is_token(text, MESH_TYPE_MAX);
}

bool mesh_name_is_valid(const char *text)
{
	return is_token(text, MESH_NAME_MAX);
}

/* strdup that keeps NULL as NULL; sets *failed on allocation failure. */
static char *dup_or_null(const char *text, bool *failed)
{
	char *copy;
	if (text == NULL)
		return NULL;
	copy = strdup(text);
	if (copy == NULL)
		*failed = true;
	return copy;
}

void job_attempt_clear(struct job_attempt *attempt)
{
	free(attempt->error);
	free(attempt->result);
	memset(attempt, 0, sizeof(*attempt));
}

void job_clear(struct job *job)
{
	free(job->type);
	free(job->payload);
	free(job->result);
	free(job->error);
	free(job->reason);
	free(job->idempotency_key);
	for (size_t i = 0; i < job->attempt_count; i++)
		job_attempt_clear(&job->attempts[i]);
	free(job->attempts);
	memset(job, 0, sizeof(*job));
}

int job_copy(struct job *dst, const struct job *src)
{
	bool failed = false;

	*dst = *src;
	dst->type = dup_or_null(src->type, &failed);
	dst->payload = dup_or_null(src->payload, &failed);
	dst->result = dup_or_null(src->result, &failed);
	dst->error = dup_or_null(src->error, &failed);
	dst->reason = dup_or_null(src->reason, &failed);
	dst->idempotency_key = dup_or_null(src->idempotency_key, &failed);
	dst->attempts = NULL;
	dst->attempt_count = 0;
	if (src->attempt_count > 0) {
		dst->attempts = calloc(src->attempt_count, sizeof(*dst->attempts));
		if (dst->attempts == NULL) {
			failed = true;
		} else {
			dst->attempt_count = src->attempt_count;
			for (size_t i = 0; i < src->attempt_count; i++) {
				dst->attempts[i] = src->attempts[i];
				dst->attempts[i].error = dup_or_null(src->attempts[i].error, &failed);
				dst->attempts[i].result = dup_or_null(src->attempts[i].result, &failed);
			}
		}
	}
	if (failed) {
		job_clear(dst);
		return -1;
	}
	return 0;
}

/* json_string() is NULL for invalid UTF-8 (agent output can be anything): say so instead. */
static json_t *string_or_placeholder(const char *text)
{
	json_t *value;
	if (text == NULL)
		return json_null();
	value = json_string(text);
	return value != NULL ? value : json_string("(output is not valid UTF-8)");
}

static json_t *timestamp_json(int64_t wall_ms)
{
	char text[CLOCK_RFC3339_SIZE];
	if (wall_ms == 0)
		return json_null();
	clock_format_rfc3339(wall_ms, text, sizeof(text));
	return json_string(text);
}

static json_t *attempt_to_json(const struct job_attempt *attempt)
{
	json_t *json = json_pack("{s:i, s:s, s:o, s:o, s:s, s:o}", "number", attempt->number, "node_id",
				 attempt->node_id, "started_at", timestamp_json(attempt->started_at),
				 "finished_at", timestamp_json(attempt->finished_at), "status",
				 attempt_status_name(attempt->status), "error",
				 string_or_placeholder(attempt->error));
	if (json != NULL && attempt->status == ATTEMPT_SUPERSEDED)
		json_object_set_new(json, "result", string_or_placeholder(attempt->result));
	return json;
}

json_t *job_to_json(const struct job *job)
{
	json_t *json = json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "id", job->id, "type",
			 job->type, "payload", string_or_placeholder(job->payload), "status",
			 job_status_name(job->status), "node_id",
			 job->node_id[0] != '\0' ? json_string(job->node_id) : json_null(),
			 "created_at", timestamp_json(job->created_at), "updated_at",
			 timestamp_json(job->updated_at), "result", string_or_placeholder(job->result),
			 "error", string_or_placeholder(job->error));
	json_t *options;

	if (json == NULL)
		return NULL;
	options = json_pack("{s:s, s:I, s:i, s:b, s:I, s:I, s:o, s:i, s:o}", "priority",
			    job_priority_name(job->priority), "timeout_ms", (json_int_t)job->timeout_ms,
			    "max_attempts", job->max_attempts, "retry_on_failure", job->retry_on_failure,
			    "backoff_base_ms", (json_int_t)job->backoff_base_ms, "backoff_cap_ms",
			    (json_int_t)job->backoff_cap_ms, "idempotency_key",
			    string_or_placeholder(job->idempotency_key), "attempt", job->attempt,
			    /* Only a job still waiting for it has a next attempt. */
			    "next_attempt_at",
			    timestamp_json(job->status == JOB_QUEUED ? job->next_attempt_at : 0));
	if (options == NULL || json_object_update(json, options) != 0) {
		json_decref(options);
		json_decref(json);
		return NULL;
	}
	json_decref(options);
	/* Only a QUEUED job for which someone worked out why it waits has a reason. */
	if (job->reason != NULL)
		json_object_set_new(json, "reason", string_or_placeholder(job->reason));
	if (job->has_attempts) {
		json_t *attempts = json_array();
		for (size_t i = 0; attempts != NULL && i < job->attempt_count; i++)
			json_array_append_new(attempts, attempt_to_json(&job->attempts[i]));
		json_object_set_new(json, "attempts", attempts != NULL ? attempts : json_null());
	}
	return json;
}

static int read_int(const json_t *obj, const char *key, int *out, char *err, size_t err_size);

/* Field readers for decoding. Each returns 0, or -1 with err naming the field. */
static int read_string(const json_t *obj, const char *key, bool nullable, const char **out, char *err,
		       size_t err_size)
{
	json_t *value = json_object_get(obj, key);
	if (value == NULL) {
		snprintf(err, err_size, "field '%s' is missing", key);
		return -1;
	}
	if (nullable && json_is_null(value)) {
		*out = NULL;
		return 0;
	}
	if (!json_is_string(value)) {
		snprintf(err, err_size, "field '%s' must be a string%s", key, nullable ? " or null" : "");
		return -1;
	}
	*out = json_string_value(value);
	return 0;
}

static int read_timestamp(const json_t *obj, const char *key, int64_t *out, char *err, size_t err_size)
{
	const char *text;
	if (read_string(obj, key, true, &text, err, err_size) != 0)
		return -1;
	*out = 0;
	if (text != NULL && clock_parse_rfc3339(text, out) != 0) {
		snprintf(err, err_size, "field '%s' is not an RFC 3339 UTC time: '%s'", key, text);
		return -1;
	}
	return 0;
}

static int copy_id(char *dst, const char *src, const char *key, char *err, size_t err_size)
{
	if (src == NULL) {
		dst[0] = '\0';
		return 0;
	}
	if (strlen(src) >= MESH_ID_SIZE) {
		snprintf(err, err_size, "field '%s' is too long", key);
		return -1;
	}
	strcpy(dst, src);
	return 0;
}

/*
 * The submission options and progress of a job. Optional when decoding, so
 * that a job record from an older coordinator still reads: missing ones take
 * the defaults of a plain job.
 */
static int read_job_options(const json_t *json, struct job *out, char *err, size_t err_size)
{
	json_t *value;
	const char *text;

	out->priority = JOB_PRIORITY_NORMAL;
	out->max_attempts = 1;
	value = json_object_get(json, "priority");
	if (value != NULL && (!json_is_string(value) ||
			      job_priority_parse(json_string_value(value), &out->priority) != 0)) {
		snprintf(err, err_size, "field 'priority' must be \"high\", \"normal\" or \"low\"");
		return -1;
	}
	struct {
		const char *key;
		int64_t *target;
	} numbers[] = {{"timeout_ms", &out->timeout_ms},
		       {"backoff_base_ms", &out->backoff_base_ms},
		       {"backoff_cap_ms", &out->backoff_cap_ms}};
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		value = json_object_get(json, numbers[i].key);
		if (value == NULL)
			continue;
		if (!json_is_integer(value) || json_integer_value(value) < 0) {
			snprintf(err, err_size, "field '%s' must be a whole number >= 0", numbers[i].key);
			return -1;
		}
		*numbers[i].target = json_integer_value(value);
	}
	if ((value = json_object_get(json, "max_attempts")) != NULL &&
	    read_int(json, "max_attempts", &out->max_attempts, err, err_size) != 0)
		return -1;
	if ((value = json_object_get(json, "attempt")) != NULL &&
	    read_int(json, "attempt", &out->attempt, err, err_size) != 0)
		return -1;
	value = json_object_get(json, "retry_on_failure");
	if (value != NULL) {
		if (!json_is_boolean(value)) {
			snprintf(err, err_size, "field 'retry_on_failure' must be true or false");
			return -1;
		}
		out->retry_on_failure = json_is_true(value);
	}
	if (json_object_get(json, "next_attempt_at") != NULL &&
	    read_timestamp(json, "next_attempt_at", &out->next_attempt_at, err, err_size) != 0)
		return -1;
	if (json_object_get(json, "idempotency_key") != NULL) {
		if (read_string(json, "idempotency_key", true, &text, err, err_size) != 0)
			return -1;
		if (text != NULL && (out->idempotency_key = strdup(text)) == NULL) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int read_attempts(const json_t *json, struct job *out, char *err, size_t err_size)
{
	json_t *list = json_object_get(json, "attempts");
	bool failed = false;

	if (list == NULL)
		return 0;
	if (!json_is_array(list)) {
		snprintf(err, err_size, "field 'attempts' must be an array");
		return -1;
	}
	out->has_attempts = true;
	if (json_array_size(list) == 0)
		return 0;
	out->attempts = calloc(json_array_size(list), sizeof(*out->attempts));
	if (out->attempts == NULL) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *item = json_array_get(list, i);
		struct job_attempt *attempt = &out->attempts[i];
		const char *node_id, *status, *error, *result = NULL;

		out->attempt_count = i + 1;
		if (!json_is_object(item) ||
		    read_int(item, "number", &attempt->number, err, err_size) ||
		    read_string(item, "node_id", false, &node_id, err, err_size) ||
		    read_string(item, "status", false, &status, err, err_size) ||
		    read_string(item, "error", true, &error, err, err_size) ||
		    read_timestamp(item, "started_at", &attempt->started_at, err, err_size) ||
		    read_timestamp(item, "finished_at", &attempt->finished_at, err, err_size) ||
		    copy_id(attempt->node_id, node_id, "node_id", err, err_size)) {
			if (!json_is_object(item))
				snprintf(err, err_size, "field 'attempts' must hold objects");
			return -1;
		}
		if (attempt_status_parse(status, &attempt->status) != 0) {
			snprintf(err, err_size, "field 'status' of an attempt has unknown value '%.40s'",
				 status);
			return -1;
		}
		if (json_object_get(item, "result") != NULL &&
		    read_string(item, "result", true, &result, err, err_size) != 0)
			return -1;
		attempt->error = dup_or_null(error, &failed);
		attempt->result = dup_or_null(result, &failed);
		if (failed) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
	}
	return 0;
}

int job_from_json(const json_t *json, struct job *out, char *err, size_t err_size)
{
	const char *id, *type, *payload, *status, *node_id, *result, *error;
	bool failed = false;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(json)) {
		snprintf(err, err_size, "a job must be a JSON object");
		return -1;
	}
	if (read_string(json, "id", false, &id, err, err_size) ||
	    read_string(json, "type", false, &type, err, err_size) ||
	    read_string(json, "payload", true, &payload, err, err_size) ||
	    read_string(json, "status", false, &status, err, err_size) ||
	    read_string(json, "node_id", true, &node_id, err, err_size) ||
	    read_string(json, "result", true, &result, err, err_size) ||
	    read_string(json, "error", true, &error, err, err_size) ||
	    read_timestamp(json, "created_at", &out->created_at, err, err_size) ||
	    read_timestamp(json, "updated_at", &out->updated_at, err, err_size) ||
	    copy_id(out->id, id, "id", err, err_size) ||
	    copy_id(out->node_id, node_id, "node_id", err, err_size))
		goto fail;
	if (job_status_parse(status, &out->status) != 0) {
		snprintf(err, err_size, "field 'status' has unknown value '%s'", status);
		goto fail;
	}
	out->type = dup_or_null(type, &failed);
	out->payload = dup_or_null(payload, &failed);
	out->result = dup_or_null(result, &failed);
	out->error = dup_or_null(error, &failed);
	/* Optional: present only on QUEUED jobs. */
	out->reason = dup_or_null(json_string_value(json_object_get(json, "reason")), &failed);
	if (failed) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	if (read_job_options(json, out, err, err_size) != 0 ||
	    read_attempts(json, out, err, err_size) != 0)
		goto fail;
	return 0;
fail:
	job_clear(out);
	return -1;
}

void node_clear(struct node *node)
{
	free(node->name);
	free(node->address);
	free(node->base_url);
	for (size_t i = 0; i < node->type_count; i++)
		free(node->types[i]);
	free(node->types);
	memset(node, 0, sizeof(*node));
}

int node_copy(struct node *dst, const struct node *src)
{
	bool failed = false;

	*dst = *src;
	dst->name = dup_or_null(src->name, &failed);
	dst->address = dup_or_null(src->address, &failed);
	dst->base_url = dup_or_null(src->base_url, &failed);
	dst->types = NULL;
	dst->type_count = 0;
	if (src->type_count > 0) {
		dst->types = calloc(src->type_count, sizeof(char *));
		if (dst->types == NULL) {
			failed = true;
		} else {
			dst->type_count = src->type_count;
			for (size_t i = 0; i < src->type_count; i++)
				dst->types[i] = dup_or_null(src->types[i], &failed);
		}
	}
	if (failed) {
		node_clear(dst);
		return -1;
	}
	return 0;
}

bool node_has_type(const struct node *node, const char *type)
{
	for (size_t i = 0; i < node->type_count; i++) {
		if (strcmp(node->types[i], type) == 0)
			return true;
	}
	return false;
}

json_t *node_to_json(const struct node *node)
{
	json_t *types = json_array();
	for (size_t i = 0; i < node->type_count; i++)
		json_array_append_new(types, json_string(node->types[i]));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:i, s:i, s:o, s:o}", "id", node->id,
			 "name", node->name, "address", node->address, "base_url", node->base_url,
			 "state", node_state_name(node_shown_state(node)), "draining", node->draining,
			 "capacity", node->capacity, "running", node->running, "types", types,
			 "last_seen", timestamp_json(node->last_seen));
}

static int read_int(const json_t *obj, const char *key, int *out, char *err, size_t err_size)
{
	json_t *value = json_object_get(obj, key);
	if (value == NULL) {
		snprintf(err, err_size, "field '%s' is missing", key);
		return -1;
	}
	if (!json_is_integer(value) || json_integer_value(value) < 0 ||
	    json_integer_value(value) > 1000000) {
		snprintf(err, err_size, "field '%s' must be a whole number from 0 to 1000000", key);
		return -1;
	}
	*out = (int)json_integer_value(value);
	return 0;
}

int node_from_json(const json_t *json, struct node *out, char *err, size_t err_size)
{
	const char *id, *name, *address, *base_url, *state;
	json_t *types;
	bool failed = false;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(json)) {
		snprintf(err, err_size, "a node must be a JSON object");
		return -1;
	}
	if (read_string(json, "id", false, &id, err, err_size) ||
	    read_string(json, "name", false, &name, err, err_size) ||
	    read_string(json, "address", false, &address, err, err_size) ||
	    read_string(json, "base_url", false, &base_url, err, err_size) ||
	    read_string(json, "state", false, &state, err, err_size) ||
	    read_int(json, "capacity", &out->capacity, err, err_size) ||
	    read_int(json, "running", &out->running, err, err_size) ||
	    read_timestamp(json, "last_seen", &out->last_seen, err, err_size) ||
	    copy_id(out->id, id, "id", err, err_size))
		goto fail;
	if (node_state_parse(state, &out->state) != 0) {
		snprintf(err, err_size, "field 'state' has unknown value '%s'", state);
		goto fail;
	}
	out->draining = json_is_true(json_object_get(json, "draining"));
	if (out->state == NODE_DRAINING || out->state == NODE_DRAINED) {
		/* The shown state of a healthy node that drains: keep both facts. */
		out->state = NODE_HEALTHY;
		out->draining = true;
	}
	types = json_object_get(json, "types");
	if (!json_is_array(types)) {
		snprintf(err, err_size, "field 'types' must be an array of strings");
		goto fail;
	}
	out->name = dup_or_null(name, &failed);
	out->address = dup_or_null(address, &failed);
	out->base_url = dup_or_null(base_url, &failed);
	if (json_array_size(types) > 0) {
		out->types = calloc(json_array_size(types), sizeof(char *));
		failed |= out->types == NULL;
	}
	for (size_t i = 0; out->types != NULL && i < json_array_size(types); i++) {
		const char *type = json_string_value(json_array_get(types, i));
		if (type == NULL) {
			snprintf(err, err_size, "field 'types' must be an array of strings");
			goto fail;
		}
		out->types[out->type_count++] = dup_or_null(type, &failed);
	}
	if (failed) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	return 0;
fail:
	node_clear(out);
	return -1;
}
