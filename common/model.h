/*
 * model: the job and node records shared by the coordinator, the agent and
 * meshctl, and their JSON encoding. This module is the one home of every field
 * name and status string on the wire (with wire.h for request bodies).
 *
 * Ownership: a struct job / struct node owns all its strings (heap, NUL-ended);
 * *_clear frees them and leaves the struct zeroed, *_copy makes a deep copy.
 * *_to_json returns a new reference. Nothing here keeps state: thread-safe.
 */
#ifndef MESH_MODEL_H
#define MESH_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ids are a one-letter kind, a '-', and 12 hex digits: "j-4f1c0a9b2e3d", "n-0b7e5c1d9a2f". */
#define MESH_ID_SIZE 32

/* Limits on what clients and agents may send; the API reference documents them. */
#define MESH_TYPE_MAX 64        /* bytes in a job type */
#define MESH_NAME_MAX 128       /* bytes in a node name */
#define MESH_ADDRESS_MAX 512    /* bytes in a node address */
#define MESH_CAPACITY_MAX 1024  /* slots one node may advertise */
#define MESH_TYPES_MAX 64       /* types one node may advertise */

enum job_status { JOB_QUEUED, JOB_RUNNING, JOB_COMPLETED, JOB_FAILED };
#define JOB_STATUS_COUNT 4

enum node_state { NODE_HEALTHY, NODE_UNHEALTHY };

struct job {
	char id[MESH_ID_SIZE];
	char *type;
	char *payload;
	enum job_status status;
	char node_id[MESH_ID_SIZE]; /* "" until a node takes the job */
	int64_t created_at;         /* wall-clock ms since the epoch */
	int64_t updated_at;
	char *result;               /* the agent's output; NULL until COMPLETED */
	char *error;                /* why it failed, in words; NULL unless FAILED */
	char *reason;               /* why a QUEUED job waits, in words; not stored: the
	                               coordinator works it out when it answers */
};

struct node {
	char id[MESH_ID_SIZE];
	char *name;
	char *address;  /* as the agent advertised it */
	char *base_url; /* build_agent_base_url(address) */
	enum node_state state;
	int capacity;
	int running; /* jobs the coordinator has in flight on it */
	char **types;
	size_t type_count;
	int64_t last_seen;     /* wall ms of the last successful contact; 0 = never */
	int64_t registered_at; /* wall ms of the first registration */
};

const char *job_status_name(enum job_status status);
/* Returns 0, or -1 if name is not one of QUEUED, RUNNING, COMPLETED, FAILED (exact case). */
int job_status_parse(const char *name, enum job_status *out);
bool job_status_is_terminal(enum job_status status);

const char *node_state_name(enum node_state state);
int node_state_parse(const char *name, enum node_state *out);

/* Fills out with a new random id "<kind>-<12 hex>". out_size >= MESH_ID_SIZE. */
void mesh_new_id(char kind, char *out, size_t out_size);

/* True if text is a valid job type: 1..MESH_TYPE_MAX of [A-Za-z0-9_.-]. */
bool mesh_type_is_valid(const char *text);
/* True if text is a valid node name: 1..MESH_NAME_MAX of [A-Za-z0-9_.-]. */
bool mesh_name_is_valid(const char *text);

void job_clear(struct job *job);
/* Deep copy; returns 0 or -1 on allocation failure (dst is then cleared). */
int job_copy(struct job *dst, const struct job *src);
json_t *job_to_json(const struct job *job);
/* Decodes the API's job JSON. Returns 0, or -1 with a sentence in err; out is cleared on error. */
int job_from_json(const json_t *json, struct job *out, char *err, size_t err_size);

void node_clear(struct node *node);
int node_copy(struct node *dst, const struct node *src);
bool node_has_type(const struct node *node, const char *type);
json_t *node_to_json(const struct node *node);
int node_from_json(const json_t *json, struct node *out, char *err, size_t err_size);

#endif
