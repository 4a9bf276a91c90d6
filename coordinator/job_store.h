/*
 * job_store: where the coordinator keeps its jobs, behind a small interface
 * so that a durable store can replace the in-memory one without touching the
 * HTTP handlers or the dispatcher. A store is a table of operations plus its
 * own state; callers only use the job_store_* functions below.
 *
 * The store enforces the job life cycle, so no caller can record a job twice:
 *   QUEUED -> RUNNING              job_store_mark_running
 *   RUNNING -> COMPLETED | FAILED  job_store_finish
 *   RUNNING -> QUEUED              job_store_requeue (the agent never ran it)
 * Any other change is refused with JOB_STORE_CONFLICT and changes nothing.
 *
 * Threads: every operation is safe to call from any thread; each
 * implementation guards its state with its own lock and never calls out while
 * holding it. Ownership: jobs handed out are deep copies the caller releases
 * (job_clear, job_list_clear); inputs are borrowed for the call.
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
};

#define JOB_STORE_LIST_MAX 10000

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

struct job_store_ops {
	enum job_store_result (*create)(void *state, const char *type, const char *payload,
					struct job *out);
	enum job_store_result (*get)(void *state, const char *id, struct job *out);
	enum job_store_result (*list)(void *state, const struct job_filter *filter,
				      struct job_list *out);
	enum job_store_result (*mark_running)(void *state, const char *id, const char *node_id);
	enum job_store_result (*finish)(void *state, const char *id, enum job_status status,
					const char *result, const char *error);
	enum job_store_result (*requeue)(void *state, const char *id);
	void (*count_by_status)(void *state, size_t counts[JOB_STATUS_COUNT]);
	void (*destroy)(void *state);
	enum job_store_result (*list_page)(void *state, enum job_status status, uint64_t *cursor,
					   size_t limit, struct job_list *out);
};

struct job_store {
	const struct job_store_ops *ops;
	void *state;
};

/* The in-memory store. Returns a new store (job_store_free), or NULL if out of memory. */
struct job_store *job_store_memory_new(void);

/*
 * The SQLite store (job_store_sqlite.c): the jobs live in the database file at
 * path, created with its schema if missing; an older schema is migrated
 * forward, a newer one or another application's file is refused. The journal
 * is a write-ahead log with synchronous=FULL: when a change returns
 * JOB_STORE_OK it is on disk, and survives a crash of the process or the
 * machine. Jobs, their order and the counts are as they were after a reopen.
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

/* Destroys the store and everything in it. NULL is a no-op. */
void job_store_free(struct job_store *store);

/* Stores a new QUEUED job with a fresh id and timestamps; out receives a copy. */
enum job_store_result job_store_create(struct job_store *store, const char *type,
				       const char *payload, struct job *out);

enum job_store_result job_store_get(struct job_store *store, const char *id, struct job *out);

/* Jobs that match filter, oldest submission first, at most filter->limit. */
enum job_store_result job_store_list(struct job_store *store, const struct job_filter *filter,
				     struct job_list *out);
void job_list_clear(struct job_list *list);

/* QUEUED -> RUNNING on node_id. */
enum job_store_result job_store_mark_running(struct job_store *store, const char *id,
					     const char *node_id);

/*
 * RUNNING -> COMPLETED (result kept) or FAILED (error kept). status must be
 * terminal. Finishing a job twice is a CONFLICT: a result is recorded once.
 */
enum job_store_result job_store_finish(struct job_store *store, const char *id,
				       enum job_status status, const char *result,
				       const char *error);

/* RUNNING -> QUEUED, clearing node_id: for a job the agent refused before running it. */
enum job_store_result job_store_requeue(struct job_store *store, const char *id);

/* How many jobs are in each status, indexed by enum job_status. */
void job_store_count_by_status(struct job_store *store, size_t counts[JOB_STATUS_COUNT]);

/*
 * Pages through every job in status, oldest submission first, with no cap on
 * the total (job_store_list stops at JOB_STORE_LIST_MAX). Start with
 * *cursor = 0 and call again with the cursor it leaves until a page comes
 * back empty. Each call fills out with a new list (job_list_clear) of at most
 * limit (1..JOB_STORE_LIST_MAX) jobs in status submitted after *cursor, and
 * moves *cursor past the last of them. The cursor is the store's submission
 * order, opaque to the caller. On error out is empty, *cursor is unchanged,
 * and the result is JOB_STORE_ERROR (also for a limit outside its range).
 * (Inline here because job_store.c, which holds the other forwarders, was not
 * part of this change; it can move there.)
 */
static inline enum job_store_result job_store_list_page(struct job_store *store,
							 enum job_status status, uint64_t *cursor,
							 size_t limit, struct job_list *out)
{
	out->items = NULL;
	out->count = 0;
	if (limit == 0 || limit > JOB_STORE_LIST_MAX)
		return JOB_STORE_ERROR;
	return store->ops->list_page(store->state, status, cursor, limit, out);
}

#endif
