#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "model.h"

/* Parses text as JSON without duplicate keys; NULL with err set. */
static json_t *parse_body(const char *text, size_t len, const char *expected, char *err,
			  size_t err_size)
{
	json_error_t jerr;
	json_t *json;

	if (len == 0) {
		snprintf(err, err_size, "body is empty (expected %s)", expected);
		return NULL;
	}
	/* NULs are allowed through so that take_string() can name the field that has one. */
	json = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (json == NULL)
		snprintf(err, err_size, "body is not valid JSON: %s at line %d column %d", jerr.text,
			 jerr.line, jerr.column);
	return json;
}

json_t *wire_parse_object(const char *text, size_t len, char *err, size_t err_size)
{
	json_t *json = parse_body(text, len, "a JSON object", err, err_size);

	if (json != NULL && !json_is_object(json)) {
		snprintf(err, err_size, "body must be a JSON object");
		json_decref(json);
		return NULL;
	}
	return json;
}

json_t *wire_parse_object_or_array(const char *text, size_t len, char *err, size_t err_size)
{
	json_t *json = parse_body(text, len, "a JSON object", err, err_size);

	if (json != NULL && !json_is_object(json) && !json_is_array(json)) {
		snprintf(err, err_size, "body must be a JSON object (one job) or an array of them (a batch)");
		json_decref(json);
		return NULL;
	}
	return json;
}

char *wire_dump(json_t *json)
{
	char *text;
	if (json == NULL)
		return NULL;
	text = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(json);
	return text;
}

/* Length of the valid UTF-8 sequence at text, or 0 if it is not one. */
static size_t utf8_sequence_length(const unsigned char *text)
{
	size_t len;
	unsigned int code;

	if (text[0] < 0x80)
		return 1;
	if (text[0] >= 0xc2 && text[0] <= 0xdf)
		len = 2, code = text[0] & 0x1f;
	else if (text[0] >= 0xe0 && text[0] <= 0xef)
		len = 3, code = text[0] & 0x0f;
	else if (text[0] >= 0xf0 && text[0] <= 0xf4)
		len = 4, code = text[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((text[i] & 0xc0) != 0x80)
			return 0;
		code = (code << 6) | (text[i] & 0x3f);
	}
	if ((len == 3 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff))) ||
	    (len == 4 && (code < 0x10000 || code > 0x10ffff)))
		return 0;
	return len;
}

char *wire_utf8_sanitize(const char *text)
{
	size_t len = strlen(text), used = 0;
	char *out = malloc(len + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_sequence_length((const unsigned char *)text + i);
		if (n == 0) {
			out[used++] = '?';
			i++;
		} else {
			memcpy(out + used, text + i, n);
			used += n;
			i += n;
		}
	}
	out[used] = '\0';
	return out;
}

char *wire_error_body(const char *message)
{
	/* Messages quote client input, cut to fit: a cut can split a character. */
	char *clean = wire_utf8_sanitize(message);
	char *body;

	if (clean == NULL)
		return NULL;
	body = wire_dump(json_pack("{s:s}", "error", clean));
	free(clean);
	return body;
}

void wire_error_message(const char *body, size_t len, char *out, size_t out_size)
{
	json_t *json = json_loadb(body, len, 0, NULL);
	const char *message = json_string_value(json_object_get(json, "error"));

	if (message != NULL)
		snprintf(out, out_size, "%s", message);
	else
		snprintf(out, out_size, "%.*s", (int)(len < 200 ? len : 200), body);
	json_decref(json);
}

/* Fails with a message naming the first key of obj that is not in allowed (NULL-ended). */
static int reject_unknown_keys(json_t *obj, const char *const *allowed, char *err, size_t err_size)
{
	const char *key;
	json_t *value;

	json_object_foreach(obj, key, value) {
		bool known = false;
		(void)value;
		for (size_t i = 0; allowed[i] != NULL && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (!known) {
			snprintf(err, err_size, "unknown field '%s'", key);
			return -1;
		}
	}
	return 0;
}

/* Copies the string member key of obj into *out. Returns 0, or -1 with err naming the field. */
static int take_string(json_t *obj, const char *key, char **out, char *err, size_t err_size)
{
	json_t *value = json_object_get(obj, key);
	if (value == NULL) {
		snprintf(err, err_size, "field '%s' is missing", key);
		return -1;
	}
	if (!json_is_string(value)) {
		snprintf(err, err_size, "field '%s' must be a string", key);
		return -1;
	}
	*out = strndup(json_string_value(value), json_string_length(value));
	if (*out == NULL) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if (strlen(*out) != json_string_length(value)) {
		snprintf(err, err_size, "field '%s' must not contain NUL characters", key);
		return -1;
	}
	return 0;
}

static int check_type(const char *key, const char *type, char *err, size_t err_size)
{
	if (mesh_type_is_valid(type))
		return 0;
	snprintf(err, err_size,
		 "field '%s' must be 1 to %d characters of letters, digits, '_', '.' or '-' (got '%.80s')",
		 key, MESH_TYPE_MAX, type);
	return -1;
}

/* Reads the optional whole-number member key into *out if present: 0, or -1 naming the field. */
static int take_optional_number(json_t *obj, const char *key, int64_t min, int64_t max,
				int64_t *out, char *err, size_t err_size)
{
	json_t *value = json_object_get(obj, key);
	if (value == NULL)
		return 0;
	if (!json_is_integer(value) || json_integer_value(value) < min ||
	    json_integer_value(value) > max) {
		snprintf(err, err_size, "field '%s' must be a whole number from %lld to %lld", key,
			 (long long)min, (long long)max);
		return -1;
	}
	*out = json_integer_value(value);
	return 0;
}

static int take_submission_options(json_t *json, struct job_submission *out, char *err,
				   size_t err_size)
{
	json_t *value;
	int64_t max_attempts = 0;

	if ((value = json_object_get(json, "priority")) != NULL) {
		if (!json_is_string(value) ||
		    job_priority_parse(json_string_value(value), &out->priority) != 0) {
			snprintf(err, err_size,
				 "field 'priority' must be \"high\", \"normal\" or \"low\"");
			return -1;
		}
		out->has_priority = true;
	}
	if (take_optional_number(json, "timeout_ms", 1, MESH_TIMEOUT_MAX_MS, &out->timeout_ms, err,
				 err_size) ||
	    take_optional_number(json, "max_attempts", 1, MESH_ATTEMPTS_MAX, &max_attempts, err,
				 err_size) ||
	    take_optional_number(json, "backoff_base_ms", 1, MESH_BACKOFF_MAX_MS,
				 &out->backoff_base_ms, err, err_size) ||
	    take_optional_number(json, "backoff_cap_ms", 1, MESH_BACKOFF_MAX_MS, &out->backoff_cap_ms,
				 err, err_size))
		return -1;
	out->max_attempts = (int)max_attempts;
	if (out->backoff_base_ms > 0 && out->backoff_cap_ms > 0 &&
	    out->backoff_base_ms > out->backoff_cap_ms) {
		snprintf(err, err_size, "field 'backoff_base_ms' (%lld) must not exceed 'backoff_cap_ms' (%lld)",
			 (long long)out->backoff_base_ms, (long long)out->backoff_cap_ms);
		return -1;
	}
	if ((value = json_object_get(json, "retry_on_failure")) != NULL) {
		if (!json_is_boolean(value)) {
			snprintf(err, err_size, "field 'retry_on_failure' must be true or false");
			return -1;
		}
		out->has_retry_on_failure = true;
		out->retry_on_failure = json_is_true(value);
	}
	if (json_object_get(json, "idempotency_key") != NULL) {
		size_t len;
		if (take_string(json, "idempotency_key", &out->idempotency_key, err, err_size) != 0)
			return -1;
		len = strlen(out->idempotency_key);
		if (len == 0 || len > MESH_IDEMPOTENCY_KEY_MAX) {
			snprintf(err, err_size, "field 'idempotency_key' must be 1 to %d bytes (got %zu)",
				 MESH_IDEMPOTENCY_KEY_MAX, len);
			return -1;
		}
		for (size_t i = 0; i < len; i++) {
			if ((unsigned char)out->idempotency_key[i] < 0x20 || out->idempotency_key[i] == 0x7f) {
				snprintf(err, err_size,
					 "field 'idempotency_key' must not contain control characters");
				return -1;
			}
		}
	}
	return 0;
}

int job_submission_from_json(json_t *json, struct job_submission *out, char *err, size_t err_size)
{
	static const char *const allowed[] = {"type", "payload", "priority", "timeout_ms",
					      "max_attempts", "retry_on_failure", "backoff_base_ms",
					      "backoff_cap_ms", "idempotency_key", NULL};

	memset(out, 0, sizeof(*out));
	if (!json_is_object(json)) {
		snprintf(err, err_size, "a job must be a JSON object");
		return -1;
	}
	if (reject_unknown_keys(json, allowed, err, err_size) ||
	    take_string(json, "type", &out->type, err, err_size) ||
	    check_type("type", out->type, err, err_size) ||
	    take_string(json, "payload", &out->payload, err, err_size) ||
	    take_submission_options(json, out, err, err_size)) {
		job_submission_clear(out);
		return -1;
	}
	return 0;
}

int job_submission_decode(const char *body, size_t len, struct job_submission *out, char *err,
			  size_t err_size)
{
	json_t *json;
	int rc;

	memset(out, 0, sizeof(*out));
	json = wire_parse_object(body, len, err, err_size);
	if (json == NULL)
		return -1;
	rc = job_submission_from_json(json, out, err, err_size);
	json_decref(json);
	return rc;
}

void job_submission_clear(struct job_submission *submission)
{
	free(submission->type);
	free(submission->payload);
	free(submission->idempotency_key);
	memset(submission, 0, sizeof(*submission));
}

char *job_submission_encode(const struct job_submission *submission)
{
	json_t *payload = json_string(submission->payload);
	json_t *json;

	if (payload == NULL)
		return NULL;
	json = json_pack("{s:s, s:o}", "type", submission->type, "payload", payload);
	if (json == NULL)
		return NULL;
	if (submission->has_priority)
		json_object_set_new(json, "priority",
				    json_string(job_priority_name(submission->priority)));
	if (submission->timeout_ms > 0)
		json_object_set_new(json, "timeout_ms", json_integer(submission->timeout_ms));
	if (submission->max_attempts > 0)
		json_object_set_new(json, "max_attempts", json_integer(submission->max_attempts));
	if (submission->has_retry_on_failure)
		json_object_set_new(json, "retry_on_failure",
				    json_boolean(submission->retry_on_failure));
	if (submission->backoff_base_ms > 0)
		json_object_set_new(json, "backoff_base_ms", json_integer(submission->backoff_base_ms));
	if (submission->backoff_cap_ms > 0)
		json_object_set_new(json, "backoff_cap_ms", json_integer(submission->backoff_cap_ms));
	if (submission->idempotency_key != NULL)
		json_object_set_new(json, "idempotency_key", json_string(submission->idempotency_key));
	return wire_dump(json);
}

int node_registration_decode(const char *body, size_t len, struct node_registration *out, char *err,
			     size_t err_size)
{
	static const char *const allowed[] = {"name", "address", "capacity", "types", NULL};
	json_t *json, *capacity, *types;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	json = wire_parse_object(body, len, err, err_size);
	if (json == NULL)
		return -1;
	if (reject_unknown_keys(json, allowed, err, err_size) ||
	    take_string(json, "name", &out->name, err, err_size) ||
	    take_string(json, "address", &out->address, err, err_size))
		goto out;
	if (!mesh_name_is_valid(out->name)) {
		snprintf(err, err_size,
			 "field 'name' must be 1 to %d characters of letters, digits, '_', '.' or '-'",
			 MESH_NAME_MAX);
		goto out;
	}
	if (strlen(out->address) > MESH_ADDRESS_MAX) {
		snprintf(err, err_size, "field 'address' is longer than %d bytes", MESH_ADDRESS_MAX);
		goto out;
	}
	capacity = json_object_get(json, "capacity");
	if (capacity == NULL) {
		snprintf(err, err_size, "field 'capacity' is missing");
		goto out;
	}
	if (!json_is_integer(capacity) || json_integer_value(capacity) < 1 ||
	    json_integer_value(capacity) > MESH_CAPACITY_MAX) {
		snprintf(err, err_size, "field 'capacity' must be a whole number from 1 to %d",
			 MESH_CAPACITY_MAX);
		goto out;
	}
	out->capacity = (int)json_integer_value(capacity);
	types = json_object_get(json, "types");
	if (types == NULL) {
		snprintf(err, err_size, "field 'types' is missing");
		goto out;
	}
	if (!json_is_array(types) || json_array_size(types) == 0 ||
	    json_array_size(types) > MESH_TYPES_MAX) {
		snprintf(err, err_size, "field 'types' must be an array of 1 to %d type names",
			 MESH_TYPES_MAX);
		goto out;
	}
	out->types = calloc(json_array_size(types), sizeof(char *));
	if (out->types == NULL) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(types); i++) {
		json_t *element = json_array_get(types, i);
		const char *type = json_string_value(element);
		char key[32];
		snprintf(key, sizeof(key), "types[%zu]", i);
		if (type == NULL) {
			snprintf(err, err_size, "field '%s' must be a string", key);
			goto out;
		}
		if (strlen(type) != json_string_length(element)) {
			snprintf(err, err_size, "field '%s' must not contain NUL characters", key);
			goto out;
		}
		if (check_type(key, type, err, err_size) != 0)
			goto out;
		for (size_t j = 0; j < out->type_count; j++) {
			if (strcmp(out->types[j], type) == 0) {
				snprintf(err, err_size, "field '%s' repeats type '%s'", key, type);
				goto out;
			}
		}
		out->types[out->type_count] = strdup(type);
		if (out->types[out->type_count] == NULL) {
			snprintf(err, err_size, "out of memory");
			goto out;
		}
		out->type_count++;
	}
	rc = 0;
out:
	json_decref(json);
	if (rc != 0)
		node_registration_clear(out);
	return rc;
}

void node_registration_clear(struct node_registration *registration)
{
	free(registration->name);
	free(registration->address);
	for (size_t i = 0; i < registration->type_count; i++)
		free(registration->types[i]);
	free(registration->types);
	memset(registration, 0, sizeof(*registration));
}

char *node_registration_encode(const struct node_registration *registration)
{
	json_t *types = json_array();
	for (size_t i = 0; i < registration->type_count; i++)
		json_array_append_new(types, json_string(registration->types[i]));
	return wire_dump(json_pack("{s:s, s:s, s:i, s:o}", "name", registration->name, "address",
				   registration->address, "capacity", registration->capacity, "types",
				   types));
}

int execute_request_decode(const char *body, size_t len, struct execute_request *out, char *err,
			   size_t err_size)
{
	static const char *const allowed[] = {"job_id", "type", "payload", "timeout_ms", "attempt",
					      NULL};
	int64_t attempt = 1;
	json_t *json;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	json = wire_parse_object(body, len, err, err_size);
	if (json == NULL)
		return -1;
	if (reject_unknown_keys(json, allowed, err, err_size) ||
	    take_string(json, "job_id", &out->job_id, err, err_size) ||
	    take_string(json, "type", &out->type, err, err_size) ||
	    take_string(json, "payload", &out->payload, err, err_size) ||
	    take_optional_number(json, "timeout_ms", 1, MESH_TIMEOUT_MAX_MS, &out->timeout_ms, err,
				 err_size) ||
	    take_optional_number(json, "attempt", 1, MESH_ATTEMPTS_MAX, &attempt, err, err_size))
		goto out;
	out->attempt = (int)attempt;
	if (out->job_id[0] == '\0' || strlen(out->job_id) >= MESH_ID_SIZE) {
		snprintf(err, err_size, "field 'job_id' must be 1 to %d characters", MESH_ID_SIZE - 1);
		goto out;
	}
	if (check_type("type", out->type, err, err_size) != 0)
		goto out;
	rc = 0;
out:
	json_decref(json);
	if (rc != 0)
		execute_request_clear(out);
	return rc;
}

void execute_request_clear(struct execute_request *request)
{
	free(request->job_id);
	free(request->type);
	free(request->payload);
	memset(request, 0, sizeof(*request));
}

char *execute_request_encode(const char *job_id, const char *type, const char *payload,
			     int64_t timeout_ms, int attempt)
{
	json_t *payload_json = json_string(payload);
	json_t *json;
	if (payload_json == NULL)
		return NULL;
	json = json_pack("{s:s, s:s, s:o}", "job_id", job_id, "type", type, "payload", payload_json);
	if (json != NULL && timeout_ms > 0)
		json_object_set_new(json, "timeout_ms", json_integer(timeout_ms));
	if (json != NULL && attempt > 0)
		json_object_set_new(json, "attempt", json_integer(attempt));
	return wire_dump(json);
}

int execute_response_decode(const char *body, size_t len, struct execute_response *out, char *err,
			    size_t err_size)
{
	json_t *json;
	const char *status;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	json = wire_parse_object(body, len, err, err_size);
	if (json == NULL)
		return -1;
	status = json_string_value(json_object_get(json, "status"));
	if (status == NULL) {
		snprintf(err, err_size, "field 'status' is missing or not a string");
		goto out;
	}
	if (strcmp(status, "ok") == 0) {
		out->ok = true;
		if (take_string(json, "output", &out->output, err, err_size) != 0)
			goto out;
	} else if (strcmp(status, "failed") == 0) {
		out->ok = false;
		if (take_string(json, "error", &out->error, err, err_size) != 0)
			goto out;
		out->timed_out = json_is_true(json_object_get(json, "timed_out"));
		out->cancelled = json_is_true(json_object_get(json, "cancelled"));
	} else {
		snprintf(err, err_size, "field 'status' has unknown value '%.40s'", status);
		goto out;
	}
	rc = 0;
out:
	json_decref(json);
	if (rc != 0)
		execute_response_clear(out);
	return rc;
}

void execute_response_clear(struct execute_response *response)
{
	free(response->output);
	free(response->error);
	memset(response, 0, sizeof(*response));
}

char *execute_response_encode_ok(const char *output)
{
	json_t *value = json_string(output);
	if (value == NULL)
		value = json_string("(output is not valid UTF-8)");
	return wire_dump(json_pack("{s:s, s:o}", "status", "ok", "output", value));
}

char *execute_response_encode_failed(const char *error)
{
	return execute_response_encode_stopped(error, false, false);
}

char *execute_response_encode_stopped(const char *error, bool timed_out, bool cancelled)
{
	json_t *value = json_string(error);
	json_t *json;
	if (value == NULL)
		value = json_string("(error is not valid UTF-8)");
	json = json_pack("{s:s, s:o}", "status", "failed", "error", value);
	if (json != NULL && timed_out)
		json_object_set_new(json, "timed_out", json_true());
	if (json != NULL && cancelled)
		json_object_set_new(json, "cancelled", json_true());
	return wire_dump(json);
}

char *execution_status_encode(const struct execution_status *status)
{
	char started[CLOCK_RFC3339_SIZE], finished[CLOCK_RFC3339_SIZE];
	json_t *json;

	clock_format_rfc3339(status->started_ms, started, sizeof(started));
	if (!status->finished)
		return wire_dump(json_pack("{s:s, s:i, s:s, s:s}", "job_id", status->job_id, "attempt",
					   status->attempt > 0 ? status->attempt : 1, "state",
					   "running", "started_at", started));
	clock_format_rfc3339(status->finished_ms, finished, sizeof(finished));
	json = json_pack("{s:s, s:i, s:s, s:s, s:s}", "job_id", status->job_id, "attempt",
			 status->attempt > 0 ? status->attempt : 1, "state", "finished", "started_at",
			 started, "finished_at", finished);
	if (json == NULL)
		return NULL;
	if (status->ok) {
		json_object_set_new(json, "status", json_string("ok"));
		json_object_set_new(json, "output", json_string(status->output ? status->output : ""));
	} else {
		json_object_set_new(json, "status", json_string("failed"));
		json_object_set_new(json, "error", json_string(status->error ? status->error : ""));
		json_object_set_new(json, "http_status", json_integer(status->http_status));
		if (status->timed_out)
			json_object_set_new(json, "timed_out", json_true());
		if (status->cancelled)
			json_object_set_new(json, "cancelled", json_true());
	}
	return wire_dump(json);
}

int execution_status_decode(const char *body, size_t len, struct execution_status *out, char *err,
			    size_t err_size)
{
	json_t *json;
	const char *state, *outcome;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	json = wire_parse_object(body, len, err, err_size);
	if (json == NULL)
		return -1;
	if (take_string(json, "job_id", &out->job_id, err, err_size) != 0)
		goto out;
	out->attempt = json_is_integer(json_object_get(json, "attempt"))
			       ? (int)json_integer_value(json_object_get(json, "attempt"))
			       : 1;
	state = json_string_value(json_object_get(json, "state"));
	if (state == NULL || (strcmp(state, "running") != 0 && strcmp(state, "finished") != 0)) {
		snprintf(err, err_size, "field 'state' must be \"running\" or \"finished\"");
		goto out;
	}
	out->finished = strcmp(state, "finished") == 0;
	if (!out->finished) {
		rc = 0;
		goto out;
	}
	outcome = json_string_value(json_object_get(json, "status"));
	if (outcome != NULL && strcmp(outcome, "ok") == 0) {
		out->ok = true;
		if (take_string(json, "output", &out->output, err, err_size) != 0)
			goto out;
	} else if (outcome != NULL && strcmp(outcome, "failed") == 0) {
		if (take_string(json, "error", &out->error, err, err_size) != 0)
			goto out;
		out->http_status = (long)json_integer_value(json_object_get(json, "http_status"));
		out->timed_out = json_is_true(json_object_get(json, "timed_out"));
		out->cancelled = json_is_true(json_object_get(json, "cancelled"));
	} else {
		snprintf(err, err_size, "field 'status' must be \"ok\" or \"failed\"");
		goto out;
	}
	rc = 0;
out:
	json_decref(json);
	if (rc != 0)
		execution_status_clear(out);
	return rc;
}

void execution_status_clear(struct execution_status *status)
{
	free(status->job_id);
	free(status->output);
	free(status->error);
	memset(status, 0, sizeof(*status));
}
