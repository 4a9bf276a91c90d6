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

/* Per-job limits the API enforces (see docs/api.md). */
#define MESH_TIMEOUT_MAX_MS (7LL * 24 * 3600 * 1000) /* a job may run at most 7 days */
#define MESH_ATTEMPTS_MAX 100
#define MESH_BACKOFF_MAX_MS (24LL * 3600 * 1000)
#define MESH_IDEMPOTENCY_KEY_MAX 128 /* bytes */

/* CANCELLED, COMPLETED and FAILED are terminal: nothing moves a job out of them. */
enum job_status { JOB_QUEUED, JOB_RUNNING, JOB_COMPLETED, JOB_FAILED, JOB_CANCELLED };
#define JOB_STATUS_COUNT 5

/* NORMAL is 0 so that a zeroed job is a normal one; job_priority_rank orders them. */
enum job_priority { JOB_PRIORITY_NORMAL, JOB_PRIORITY_HIGH, JOB_PRIORITY_LOW };
#define JOB_PRIORITY_COUNT 3

/*
 * How one attempt (one dispatch to one node) ended. RUNNING while it runs;
 * SUPERSEDED is a LOST attempt whose node came back later with a result,
 * which is kept on the attempt, never as the job's.
 */
enum attempt_status {
	ATTEMPT_RUNNING,
	ATTEMPT_COMPLETED,
	ATTEMPT_FAILED,          /* the handler failed, or the node answered an error */
	ATTEMPT_DISPATCH_FAILED, /* the job never started: the node refused it (4xx) */
	ATTEMPT_TIMED_OUT,
	ATTEMPT_LOST,            /* the node stopped answering for longer than the grace */
	ATTEMPT_CANCELLED,
	ATTEMPT_SUPERSEDED,
};
#define ATTEMPT_STATUS_COUNT 8

/* Health comes from probes; DRAINING/DRAINED are a healthy node that takes no new jobs. */
enum node_state { NODE_HEALTHY, NODE_UNHEALTHY, NODE_DRAINING, NODE_DRAINED };
#define NODE_STATE_COUNT 4

struct job_attempt {
	int number;                 /* 1, 2, ... */
	char node_id[MESH_ID_SIZE];
	int64_t started_at;         /* wall ms */
	int64_t finished_at;        /* wall ms; 0 while RUNNING */
	enum attempt_status status;
	char *error;                /* why it did not complete; NULL if it did */
	char *result;               /* only a SUPERSEDED attempt's late output */
};

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

	/* What the submitter asked for (defaults filled in by the coordinator). */
	enum job_priority priority;
	int64_t timeout_ms;         /* > 0 */
	int max_attempts;           /* >= 1 */
	bool retry_on_failure;      /* retry when the handler itself fails */
	int64_t backoff_base_ms;    /* delay before attempt 2; doubles each time ... */
	int64_t backoff_cap_ms;     /* ... up to this */
	char *idempotency_key;      /* NULL if none */

	/* Progress. */
	int attempt;                /* attempts started so far (0 until first dispatch) */
	int64_t next_attempt_at;    /* wall ms the next attempt may start; 0 = now */
	struct job_attempt *attempts; /* every attempt, oldest first; only job_store_get */
	size_t attempt_count;       /* fills it, and then has_attempts is true */
	bool has_attempts;

	/*
	 * The coordinator's store: the job's place in submission order, which is
	 * the cursor job_store_list_page leaves just past it. Filled in by
	 * job_store_create and job_store_list_page; 0 when not known. Never sent.
	 */
	uint64_t store_seq;
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
	bool draining;         /* takes no new jobs (POST /nodes/{id}/drain) */
};

const char *job_status_name(enum job_status status);
/* Returns 0, or -1 if name is not a status name (QUEUED ... CANCELLED, exact case). */
int job_status_parse(const char *name, enum job_status *out);
bool job_status_is_terminal(enum job_status status);

/* "high", "normal", "low". */
const char *job_priority_name(enum job_priority priority);
int job_priority_parse(const char *name, enum job_priority *out);
/* 0 for high, 1 for normal, 2 for low: the order in which jobs are taken. */
int job_priority_rank(enum job_priority priority);

/* "RUNNING", "COMPLETED", ..., "SUPERSEDED". */
const char *attempt_status_name(enum attempt_status status);
int attempt_status_parse(const char *name, enum attempt_status *out);

const char *node_state_name(enum node_state state);
int node_state_parse(const char *name, enum node_state *out);
/* The state a person sees: DRAINING/DRAINED for a healthy draining node, else its health. */
enum node_state node_shown_state(const struct node *node);

/*
 * Delay before attempt `next` (2, 3, ...) of a job: base * 2^(next - 2),
 * capped at cap, then "equal jitter": half of it fixed, the other half
 * random, so that retries of many jobs spread out but never come at once.
 */
int64_t job_backoff_ms(int64_t base_ms, int64_t cap_ms, int next);

/*
 * Fills out with a new id "<kind>-<12 hex>": 6 hex of the wall clock's
 * milliseconds (ids made together sort together), then 6 of a per-process
 * counter that starts at a random value. Never the same twice within 2^24
 * ids of one process; across hours or processes unique with high probability
 * only, so the stores check. Thread-safe. out_size >= MESH_ID_SIZE.
 */
void mesh_new_id(char kind, char *out, size_t out_size);

/* True if text is a valid job type: 1..MESH_TYPE_MAX of [A-Za-z0-9_.-]. */
bool mesh_type_is_valid(const char *text);
/* True if text is a valid node name: 1..MESH_NAME_MAX of [A-Za-z0-9_.-]. */
bool mesh_name_is_valid(const char *text);

void job_attempt_clear(struct job_attempt *attempt);
void job_clear(struct job *job);
/* Deep copy; returns 0 or -1 on allocation failure (dst is then cleared). */
int job_copy(struct job *dst, const struct job *src);
/* "attempts" is included only if job->has_attempts. */
json_t *job_to_json(const struct job *job);
/* Decodes the API's job JSON. Returns 0, or -1 with a sentence in err; out is cleared on error. */
int job_from_json(const json_t *json, struct job *out, char *err, size_t err_size);

void node_clear(struct node *node);
int node_copy(struct node *dst, const struct node *src);
bool node_has_type(const struct node *node, const char *type);
json_t *node_to_json(const struct node *node);
int node_from_json(const json_t *json, struct node *out, char *err, size_t err_size);

#endif
