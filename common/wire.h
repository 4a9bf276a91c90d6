/*
 * wire: the request and response bodies that cross HTTP, other than the job and
 * node records themselves (model.h). Decoders of what clients send are strict:
 * the body must be a JSON object without duplicate or unknown keys, and every error names the
 * field and what was wrong with it, so that the HTTP layer can pass it on.
 *
 * Ownership: decoders fill caller-provided structs whose strings are heap
 * copies, released by the matching *_clear. Encoders return a new string
 * (free()). Stateless: thread-safe.
 */
#ifndef MESH_WIRE_H
#define MESH_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define WIRE_ERROR_SIZE 256

/*
 * POST /jobs. Only type and payload are required; an option that was not
 * given is 0 / NULL / false in has_* and the coordinator fills in its default.
 */
struct job_submission {
	char *type;
	char *payload;
	bool has_priority;
	enum job_priority priority;
	int64_t timeout_ms;       /* 0: not given; else 1..MESH_TIMEOUT_MAX_MS */
	int max_attempts;         /* 0: not given; else 1..MESH_ATTEMPTS_MAX */
	bool has_retry_on_failure;
	bool retry_on_failure;
	int64_t backoff_base_ms;  /* 0: not given; else 1..MESH_BACKOFF_MAX_MS */
	int64_t backoff_cap_ms;   /* 0: not given; else 1..MESH_BACKOFF_MAX_MS */
	char *idempotency_key;    /* NULL: not given; else 1..MESH_IDEMPOTENCY_KEY_MAX bytes */
};

/* POST /nodes/register */
struct node_registration {
	char *name;
	char *address;
	int capacity;
	char **types;
	size_t type_count;
};

/* POST /execute (coordinator -> agent) */
struct execute_request {
	char *job_id;
	char *type;
	char *payload;
	int64_t timeout_ms; /* 0: none given; the agent kills the handler after this long */
	int attempt;        /* which attempt of the job this is (1, 2, ...); 1 if not given */
};

/*
 * The agent's answer to /execute: {"status":"ok","output":...} or
 * {"status":"failed","error":...}, the latter with "timed_out": true when the
 * agent killed the handler at its timeout, or "cancelled": true when it was
 * cancelled (POST /executions/{id}/cancel or the agent draining).
 */
struct execute_response {
	bool ok;
	char *output; /* when ok */
	char *error;  /* when not ok */
	bool timed_out;
	bool cancelled;
};

/*
 * Parses text as one JSON object, rejecting duplicate keys. Returns a new
 * reference, or NULL with err set ("body is not valid JSON: ... at line 1 column 7").
 */
json_t *wire_parse_object(const char *text, size_t len, char *err, size_t err_size);

/*
 * Like wire_parse_object, but a JSON array (of anything) is accepted too: for
 * POST /jobs, which takes one job or a batch.
 */
json_t *wire_parse_object_or_array(const char *text, size_t len, char *err, size_t err_size);

/* Compact, key-sorted dump of json. Steals the reference. Returns a new string or NULL. */
char *wire_dump(json_t *json);

/*
 * A copy of text (new, free()) in which every byte that does not begin a valid
 * UTF-8 sequence is replaced by '?'. NULL if out of memory.
 */
char *wire_utf8_sanitize(const char *text);

/* {"error": message}, as a new string; invalid UTF-8 in message becomes '?'. */
char *wire_error_body(const char *message);
/* The "error" member of a JSON error body, copied into out; or the raw text, cut to fit. */
void wire_error_message(const char *body, size_t len, char *out, size_t out_size);

int job_submission_decode(const char *body, size_t len, struct job_submission *out, char *err,
			  size_t err_size);
/* Checks one decoded object (for batches, whose elements are decoded one by one). */
int job_submission_from_json(json_t *json, struct job_submission *out, char *err, size_t err_size);
void job_submission_clear(struct job_submission *submission);
/* Encodes type, payload and the options that were given. */
char *job_submission_encode(const struct job_submission *submission);

int node_registration_decode(const char *body, size_t len, struct node_registration *out, char *err,
			     size_t err_size);
void node_registration_clear(struct node_registration *registration);
char *node_registration_encode(const struct node_registration *registration);

int execute_request_decode(const char *body, size_t len, struct execute_request *out, char *err,
			   size_t err_size);
void execute_request_clear(struct execute_request *request);
/*
 * timeout_ms 0 leaves the field out. An agent keeps one record per (job_id,
 * attempt): a repeat of the same attempt is answered from the record, a new
 * attempt of the job runs anew.
 */
char *execute_request_encode(const char *job_id, const char *type, const char *payload,
			     int64_t timeout_ms, int attempt);

/*
 * A body that is not the documented shape is an error (-1, err set). Unlike
 * the request decoders it ignores members it does not know, so that a newer
 * agent can add some during a rolling upgrade.
 */
int execute_response_decode(const char *body, size_t len, struct execute_response *out, char *err,
			    size_t err_size);
void execute_response_clear(struct execute_response *response);
/* output may hold invalid UTF-8: it is then replaced by a note saying so. */
char *execute_response_encode_ok(const char *output);
char *execute_response_encode_failed(const char *error);
/* A failure with "timed_out": true or "cancelled": true set as given. */
char *execute_response_encode_stopped(const char *error, bool timed_out, bool cancelled);

/*
 * GET /executions/{job_id} (agent -> coordinator): what an agent knows of a
 * job it ran. Strings are owned (execution_status_clear).
 */
struct execution_status {
	char *job_id;
	int attempt;        /* the attempt the record is of (1 if the agent did not say) */
	bool finished;      /* false: still running */
	int64_t started_ms; /* wall ms */
	int64_t finished_ms;
	bool ok;            /* when finished */
	char *output;       /* when finished and ok */
	char *error;        /* when finished and not ok */
	long http_status;   /* when finished and not ok: what POST /execute answered */
	bool timed_out;     /* when finished and not ok: killed at its timeout */
	bool cancelled;     /* when finished and not ok: killed on request */
};

char *execution_status_encode(const struct execution_status *status);
/* Like execute_response_decode, ignores members it does not know. */
int execution_status_decode(const char *body, size_t len, struct execution_status *out, char *err,
			    size_t err_size);
void execution_status_clear(struct execution_status *status);

#endif
