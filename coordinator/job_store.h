/*
 * job_store: where the coordinator keeps its jobs, their attempts and the
 * node registry, behind a small interface so that the durable SQLite store
 * and the in-memory one are interchangeable for the HTTP handlers, the
 * dispatcher and the tests. A store is a table of operations plus its own
 * state; callers only use the job_store_* functions below.
 *
 * The store enforces the job life cycle, so no caller can record a job twice:
 *   QUEUED -> RUNNING                    job_store_mark_running (a new attempt)
 *   RUNNING -> COMPLETED | FAILED        job_store_finish (closes the attempt)
 *   RUNNING -> QUEUED                    job_store_retry (closes the attempt, next one later)
 *   RUNNING -> QUEUED                    job_store_requeue (the agent never ran it: attempt undone)
 *   QUEUED | RUNNING -> CANCELLED        job_store_cancel
 * Any other change is refused with JOB_STORE_CONFLICT and changes nothing.
 * COMPLETED, FAILED and CANCELLED are terminal.
 *
 * Attempts: mark_running appends attempt number job.attempt + 1 (status
 * RUNNING, on node_id, started now). finish/retry/cancel close the current
 * (last) attempt with the given attempt status and error. A closed LOST
 * attempt may later get its node's late result (job_store_note_late_result),
 * which makes it SUPERSEDED; the job's own result never changes for it.
 *
 * Threads: every operation is safe to call from any thread; each
 * implementation guards its state with its own lock and never calls out while
 * holding it. Ownership: jobs and nodes handed out are deep copies the caller
 * releases (job_clear, job_list_clear, node_clear); inputs are borrowed.
 */
#ifndef MESH_JOB_STORE_H
#define MESH_JOB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

enum job_store_result {
	JOB_STORE_OK = 0,
	JOB_STORE_NOT_FOUND,
	JOB_STORE_CONFLICT, /* the job is not in a state that allows the change */
	JOB_STORE_ERROR,    /* out of memory, I/O: the store is unchanged */
	JOB_STORE_FULL,     /* the disk (or the database's size limit) is full: unchanged */
};

#define JOB_STORE_LIST_MAX 10000
/* Jobs one job_store_create call may hold (a batch submission). */
#define JOB_STORE_BATCH_MAX 1000

struct job_filter {
	bool by_status;
	enum job_status status;
	const char *node_id; /* NULL: any */
	const char *type;    /* NULL: any */
	size_t limit;        /* 1..JOB_STORE_LIST_MAX */
};

struct job_list {
	struct job *items;
	size_t count;
};

/* One LOST attempt whose node has not been asked about it since. */
struct lost_attempt {
	char job_id[MESH_ID_SIZE];
	int number;
};

/*
 * One change of a batch (job_store_apply_changes): START is
 * job_store_mark_running (node_id; the attempt's number comes back in
 * attempt), FINISH is job_store_finish (status, result, error,
 * attempt_status). outcome receives what the single call would have returned.
 * finished (FINISH, may be NULL): a zeroed job the caller owns; if the
 * change is OK it holds the finished job as job_store_get would give it
 * right after (read in the same transaction), otherwise it stays zeroed
 * (it can also stay zeroed after OK if that read failed: get it then).
 * Release it with job_clear.
 */
enum job_change_kind { JOB_CHANGE_START, JOB_CHANGE_FINISH };

struct job_change {
	enum job_change_kind kind;
	const char *id;
	const char *node_id;                /* START */
	enum job_status status;             /* FINISH */
	const char *result;                 /* FINISH */
	const char *error;                  /* FINISH */
	enum attempt_status attempt_status; /* FINISH */
	int attempt;                        /* START: out */
	struct job *finished;               /* FINISH: out, optional (above) */
	enum job_store_result outcome;      /* out */
};

struct job_store_ops {
	enum job_store_result (*create)(void *state, const struct job *specs, size_t count,
					struct job *out, bool *existed);
	/* NULL: job_store_create_running makes a create and a mark_running call. */
	enum job_store_result (*create_running)(void *state, const struct job *spec,
						const char *node_id, struct job *out, int *attempt);
	enum job_store_result (*get)(void *state, const char *id, struct job *out);
	enum job_store_result (*list)(void *state, const struct job_filter *filter,
				      struct job_list *out);
	enum job_store_result (*list_page)(void *state, enum job_status status, uint64_t *cursor,
					   size_t limit, struct job_list *out);
	enum job_store_result (*mark_running)(void *state, const char *id, const char *node_id,
					      int *attempt);
	enum job_store_result (*finish)(void *state, const char *id, enum job_status status,
					const char *result, const char *error,
					enum attempt_status attempt_status);
	/* NULL: job_store_apply_changes makes the single calls one by one. */
	void (*apply_changes)(void *state, struct job_change *changes, size_t count);
	enum job_store_result (*retry)(void *state, const char *id, enum attempt_status attempt_status,
				       const char *error, int64_t next_attempt_at);
	enum job_store_result (*requeue)(void *state, const char *id);
	enum job_store_result (*cancel)(void *state, const char *id, const char *why,
					enum job_status *was, struct job *out);
	enum job_store_result (*note_late_result)(void *state, const char *id, int number, bool ok,
						  const char *result, const char *error);
	enum job_store_result (*list_lost_attempts)(void *state, const char *node_id,
						    struct lost_attempt **out, size_t *count);
	enum job_store_result (*prune)(void *state, int64_t finished_before, size_t limit,
				       size_t *deleted);
	void (*count_by_status)(void *state, size_t counts[JOB_STATUS_COUNT]);
	enum job_store_result (*put_node)(void *state, const struct node *node);
	enum job_store_result (*delete_node)(void *state, const char *id);
	enum job_store_result (*load_nodes)(void *state, struct node **out, size_t *count);
	void (*destroy)(void *state);
};

struct job_store {
	const struct job_store_ops *ops;
	void *state;
};

/* The in-memory store. Returns a new store (job_store_free), or NULL if out of memory. */
struct job_store *job_store_memory_new(void);

/*
 * The SQLite store (job_store_sqlite.c): the jobs, their attempts and the
 * nodes live in the database file at path, created with its schema if
 * missing; an older schema is migrated forward in one transaction (every job
 * kept; a v1 job takes the defaults of a plain job: priority normal, one
 * attempt, no retries, no key, timeout and backoff 0; a v1 job that ran has
 * attempt 1 and that attempt's row, with started_at 0 if it had finished:
 * v1 did not record it), a newer one or another application's
 * file is refused. The journal is a write-ahead log with synchronous=FULL:
 * when a change returns JOB_STORE_OK it is committed and fsynced, and
 * survives a crash of the process or the machine. Writers that arrive
 * together share one commit (group commit; a lone writer never waits), each
 * keeping its own answer; reads use a second connection and never wait
 * behind a commit's fsync. A full disk (or size limit) is JOB_STORE_FULL,
 * any other failure JOB_STORE_ERROR, both logged with the path; the store
 * stays usable. Jobs, attempts, nodes, their order and the counts are as
 * they were after a reopen.
 *
 * While open, the store holds an exclusive flock on "<path>.lock" (which holds
 * the owner's pid), so one database has one coordinator; the lock ends with
 * job_store_free or the process. The file and its "-wal", "-shm" and ".lock"
 * companions must stay together in one writable directory.
 *
 * Returns a new store (job_store_free), or NULL with one sentence in err
 * (err_size bytes, may be 0) naming the path and the cause: the directory is
 * missing or not writable, the file is not a database, its schema is newer,
 * or another coordinator has it open (its pid is named). Never exits.
 */
struct job_store *job_store_sqlite_open(const char *path, char *err, size_t err_size);
/* Tests only: PRAGMA max_page_count on the SQLite store's writer; the limit now, or -1. */
int job_store_sqlite_limit_pages(struct job_store *store, int pages);

/* Destroys the store and everything in it. NULL is a no-op. */
void job_store_free(struct job_store *store);

/*
 * Stores count (1..JOB_STORE_BATCH_MAX) new QUEUED jobs, all in one
 * transaction: either every one is stored (and on disk, for a durable store)
 * or none is. Each specs[i] gives type, payload, priority, timeout_ms,
 * max_attempts, retry_on_failure, backoff_base_ms, backoff_cap_ms and
 * idempotency_key (NULL: none); the store assigns id, status, attempt 0 and
 * timestamps. out[i] receives a copy of the stored job, with its store_seq
 * when it is new (an existing one's may be 0).
 *
 * idempotency_key: if a job with the same key exists already (or earlier in
 * the same batch) and has the same type and payload, out[i] is that job, no
 * new one is made for it, and existed[i] is true. The check and the insert
 * are one atomic step, so two concurrent submissions with one key make one
 * job. If the existing job has another type or payload, the call returns
 * CONFLICT and stores nothing: out[i] of the first such i holds the existing
 * job with existed[i] true, every other out[] is zeroed.
 * On any result but OK and CONFLICT, every out[] is zeroed.
 */
enum job_store_result job_store_create(struct job_store *store, const struct job *specs,
				       size_t count, struct job *out, bool *existed);

/*
 * Stores one new job, as job_store_create would (spec->idempotency_key must
 * be NULL), and starts its first attempt on node_id, as job_store_mark_running
 * would: out receives the job RUNNING on node_id, *attempt its attempt's
 * number (1). A durable store does both in one transaction, one fsync, so
 * the job is never on disk QUEUED: for a caller that already holds a slot on
 * node_id and will send the job there (POST /jobs?wait when no job waits).
 * Returns OK; CONFLICT if the job was stored but could not be started (a
 * store without the combined operation: cancelled in between), out then
 * holding it as stored; or an error with nothing stored and out zeroed.
 */
enum job_store_result job_store_create_running(struct job_store *store, const struct job *spec,
					       const char *node_id, struct job *out, int *attempt);

/* The job with every attempt (out->has_attempts is true). */
enum job_store_result job_store_get(struct job_store *store, const char *id, struct job *out);

/* Jobs that match filter, oldest submission first, at most filter->limit; no attempts. */
enum job_store_result job_store_list(struct job_store *store, const struct job_filter *filter,
				     struct job_list *out);
void job_list_clear(struct job_list *list);

/*
 * Pages through every job in status, oldest submission first, with no cap on
 * the total (job_store_list stops at JOB_STORE_LIST_MAX). Start with
 * *cursor = 0 and call again with the cursor it leaves until a page comes
 * back empty. Each call fills out with a new list (job_list_clear) of at most
 * limit (1..JOB_STORE_LIST_MAX) jobs in status submitted after *cursor, and
 * moves *cursor past the last of them. The cursor is the store's submission
 * order: each job's store_seq is the cursor just past it. A job created
 * after another has a larger store_seq, and a page that shows a job shows
 * every job created before it that was in status then (the dispatcher reads
 * the QUEUED backlog by this). On error out is empty, *cursor is unchanged,
 * and the result is JOB_STORE_ERROR (also for a limit outside its range).
 */
enum job_store_result job_store_list_page(struct job_store *store, enum job_status status,
					  uint64_t *cursor, size_t limit, struct job_list *out);

/* QUEUED -> RUNNING on node_id, starting attempt job.attempt + 1 (its number in *attempt). */
enum job_store_result job_store_mark_running(struct job_store *store, const char *id,
					     const char *node_id, int *attempt);

/*
 * RUNNING -> COMPLETED (result kept) or FAILED (error kept); the current
 * attempt is closed as attempt_status with error. status must be COMPLETED or
 * FAILED. Finishing a job twice is a CONFLICT: a result is recorded once.
 */
enum job_store_result job_store_finish(struct job_store *store, const char *id,
				       enum job_status status, const char *result,
				       const char *error, enum attempt_status attempt_status);

/*
 * Applies count changes, each one as its single call would (its own
 * outcome; one change refused or failed leaves the others as they are), in
 * the order given, and returns once all are done. A durable store commits
 * them together (one fsync for the lot, shared with any other writer of the
 * moment), so that a caller with many changes at hand, the dispatcher, pays
 * one commit for them instead of one each.
 */
void job_store_apply_changes(struct job_store *store, struct job_change *changes, size_t count);

/*
 * RUNNING -> QUEUED for another attempt: the current attempt is closed as
 * attempt_status with error, node_id is cleared and next_attempt_at (wall
 * ms) is kept until the next mark_running.
 */
enum job_store_result job_store_retry(struct job_store *store, const char *id,
				      enum attempt_status attempt_status, const char *error,
				      int64_t next_attempt_at);

/* RUNNING -> QUEUED, undoing the current attempt: for a job the agent refused before running it. */
enum job_store_result job_store_requeue(struct job_store *store, const char *id);

/*
 * QUEUED or RUNNING -> CANCELLED, error = why; a RUNNING attempt is closed
 * as CANCELLED. *was receives the status before, out the job after (node_id
 * kept, so the caller knows whom to tell). A terminal job is a CONFLICT and
 * out receives it unchanged. out may be NULL.
 */
enum job_store_result job_store_cancel(struct job_store *store, const char *id, const char *why,
				       enum job_status *was, struct job *out);

/*
 * A LOST attempt's node came back: the attempt becomes SUPERSEDED with what
 * the node said (result if ok, else error). CONFLICT if attempt `number` of
 * the job is not LOST; NOT_FOUND if there is no such job or attempt.
 */
enum job_store_result job_store_note_late_result(struct job_store *store, const char *id,
						 int number, bool ok, const char *result,
						 const char *error);

/* The LOST attempts on node_id, oldest first: *out is a new array (free()). */
enum job_store_result job_store_list_lost_attempts(struct job_store *store, const char *node_id,
						   struct lost_attempt **out, size_t *count);

/*
 * Deletes at most limit terminal jobs (with their attempts) last updated
 * before finished_before (wall ms), oldest first; *deleted says how many.
 * Bounded so that pruning a large history never holds the store for long.
 */
enum job_store_result job_store_prune(struct job_store *store, int64_t finished_before,
				      size_t limit, size_t *deleted);

/* How many jobs are in each status, indexed by enum job_status. */
void job_store_count_by_status(struct job_store *store, size_t counts[JOB_STATUS_COUNT]);

/*
 * The node registry's durable half: id, name, address, capacity, types,
 * registered_at and draining of each node (not health, running or last_seen,
 * which are the live half). put_node inserts or replaces by id.
 */
enum job_store_result job_store_put_node(struct job_store *store, const struct node *node);
enum job_store_result job_store_delete_node(struct job_store *store, const char *id);
/* Every stored node, in registration order: *out is a new array of count nodes (node_clear each, free). */
enum job_store_result job_store_load_nodes(struct job_store *store, struct node **out,
					   size_t *count);

#endif
