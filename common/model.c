#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"

static const char *const job_status_names[JOB_STATUS_COUNT] = {"QUEUED", "RUNNING", "COMPLETED",
							       "FAILED"};
static const char *const node_state_names[] = {"HEALTHY", "UNHEALTHY"};

const char *job_status_name(enum job_status status)
{
	return (unsigned)status < JOB_STATUS_COUNT ? job_status_names[status] : "UNKNOWN";
}

int job_status_parse(const char *name, enum job_status *out)
{
	for (int i = 0; i < JOB_STATUS_COUNT; i++) {
		if (strcmp(name, job_status_names[i]) == 0) {
			*out = (enum job_status)i;
			return 0;
		}
	}
	return -1;
}

bool job_status_is_terminal(enum job_status status)
{
	return status == JOB_COMPLETED || status == JOB_FAILED;
}

const char *node_state_name(enum node_state state)
{
	return state == NODE_HEALTHY ? node_state_names[0] : node_state_names[1];
}

int node_state_parse(const char *name, enum node_state *out)
{
	for (int i = 0; i < 2; i++) {
		if (strcmp(name, node_state_names[i]) == 0) {
			*out = (enum node_state)i;
			return 0;
		}
	}
	return -1;
}

void mesh_new_id(char kind, char *out, size_t out_size)
{
	unsigned char bytes[6];
	size_t got = 0;

	while (got < sizeof(bytes)) {
		ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	snprintf(out, out_size, "%c-%02x%02x%02x%02x%02x%02x", kind, bytes[0], bytes[1], bytes[2],
		 bytes[3], bytes[4], bytes[5]);
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

void job_clear(struct job *job)
{
	free(job->type);
	free(job->payload);
	free(job->result);
	free(job->error);
	free(job->reason);
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

json_t *job_to_json(const struct job *job)
{
	json_t *json = json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "id", job->id, "type",
			 job->type, "payload", string_or_placeholder(job->payload), "status",
			 job_status_name(job->status), "node_id",
			 job->node_id[0] != '\0' ? json_string(job->node_id) : json_null(),
			 "created_at", timestamp_json(job->created_at), "updated_at",
			 timestamp_json(job->updated_at), "result", string_or_placeholder(job->result),
			 "error", string_or_placeholder(job->error));
	/* Only a QUEUED job for which someone worked out why it waits has a reason. */
	if (json != NULL && job->reason != NULL)
		json_object_set_new(json, "reason", string_or_placeholder(job->reason));
	return json;
}

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
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:o, s:o}", "id", node->id, "name",
			 node->name, "address", node->address, "base_url", node->base_url, "state",
			 node_state_name(node->state), "capacity", node->capacity, "running",
			 node->running, "types", types, "last_seen", timestamp_json(node->last_seen));
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
