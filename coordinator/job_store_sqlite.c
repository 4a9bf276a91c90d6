/*
 * The SQLite job store: the same interface and life cycle as the in-memory
 * store, kept in one database file so that jobs, their attempts and the
 * nodes survive a restart.
 *
 * Durability: journal_mode=WAL, synchronous=FULL. Every change runs inside a
 * transaction whose COMMIT fsyncs the WAL before it returns, and an operation
 * answers only after the COMMIT that holds it, so an operation that answered
 * JOB_STORE_OK is on disk (a 201 survives kill -9 and power loss). Both
 * connections open the file through store_vfs: a commit's WAL frames reach
 * the kernel in one write before that fsync (SQLite's own VFS makes two
 * writes per page); what reaches the disk, and when, is the same.
 *
 * Group commit (leader/follower). A writing operation fills a write_op on its
 * own stack (a batch of changes: an array of them) and appends it to the
 * queue (a batch: all of it at once, so that one commit takes it whole). If no thread is the leader, it
 * becomes the leader: it takes the whole queue, runs BEGIN IMMEDIATE, applies
 * each op in its own SAVEPOINT (an op that ends CONFLICT, NOT_FOUND or in an
 * error is rolled back to its savepoint alone), COMMITs once (one fsync for
 * the lot), publishes the counts, marks every op done and wakes the waiters.
 * Ops that arrive while a leader works wait; when it is done one of them
 * becomes the next leader and takes everything queued meanwhile. A lone
 * writer finds no leader and no queue and commits at once: nothing waits on
 * a timer. If the shared transaction fails as a whole (COMMIT fails, or
 * SQLite rolled it back after a disk-full or I/O error in one op), every op
 * of the batch is undone and each is run again alone in its own transaction,
 * so each gets its own answer and one op's failure never costs the others.
 * A batch create (count > 1) is one op: all of its rows or none.
 *
 * Reads (get, list, list_page, list_lost_attempts, load_nodes) use a second
 * connection, which WAL lets read the last committed state while the writer
 * commits: they never wait behind an fsync. A read sees every change whose
 * operation has returned.
 *
 * Locks and ownership:
 *   queue_lock (mutex) guards the queue, leader_active, each queued op's done
 *     flag and next pointer, and counts[]. Each submitting thread waits on a
 *     condition of its own (op->wake), signalled when its ops are done or when
 *     it is first in the queue as the leader steps down: a commit wakes the
 *     threads it answered and the next leader, not every waiting thread.
 *   The writer connection and all its statements (struct writer) belong to
 *     the thread that set leader_active, until it clears it; no mutex is held
 *     while the leader talks to SQLite.
 *   reader.lock (mutex) guards the reader connection and its statements.
 *   No thread holds two of these at once, and none is held while logging.
 *   A write_op and everything it points to belong to the calling thread; the
 *   leader writes its results while the caller waits for `done`, and the
 *   mutex hand-over orders those writes before the caller reads them.
 *   counts[] is loaded at open and changed only after a COMMIT succeeded, by
 *   the deltas each committed op recorded, so it stays exact.
 *
 * One coordinator per database: open takes flock(LOCK_EX | LOCK_NB) on
 * "<path>.lock" and writes its pid there; a second opener fails at once and
 * names that pid. The kernel drops the lock when the holder exits, however it
 * dies, so no stale lock is ever left. SQLite itself stays in NORMAL locking
 * mode, so an operator can still read the file with the sqlite3 shell.
 *
 * Schema: PRAGMA user_version is the schema version, PRAGMA application_id
 * marks the file as ours. migrate() applies schema_steps[v..] in one
 * transaction. Jobs are rows of `jobs`; seq (the rowid) is the submission
 * order, assigned by AUTOINCREMENT so it only grows, across restarts too.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "job_store.h"
#include "log.h"
#include "store_vfs.h"

#define BUSY_TIMEOUT_MS 250
#define APPLICATION_ID 0x4d455348 /* "MESH" */
#define ID_ATTEMPTS 100           /* fresh ids tried before create gives up */
#define WHY_SIZE 512

/*
 * Each step takes the schema from version i to i + 1. Append new steps;
 * never edit one that has shipped.
 */
static const char *const schema_steps[] = {
	/* 0 -> 1: jobs. The rowid (seq) orders every index by submission. */
	"CREATE TABLE jobs ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" id TEXT NOT NULL UNIQUE,"
	" type TEXT NOT NULL,"
	" payload TEXT NOT NULL,"
	" status TEXT NOT NULL,"           /* job_status_name() */
	" node_id TEXT NOT NULL DEFAULT '',"
	" created_at INTEGER NOT NULL,"    /* wall ms since the epoch */
	" updated_at INTEGER NOT NULL,"
	" result TEXT,"
	" error TEXT);"
	"CREATE INDEX jobs_by_status ON jobs(status);"
	"CREATE INDEX jobs_by_node ON jobs(node_id);"
	"CREATE INDEX jobs_by_type ON jobs(type);",

	/*
	 * 1 -> 2: submission options and progress, attempts, nodes. The defaults
	 * are what a v1 job was: normal priority, one attempt, no retries, no
	 * key. A v1 job that ran (RUNNING, COMPLETED, FAILED) gets attempt 1
	 * and its attempt row, so that every RUNNING job has its open attempt
	 * and job.attempt is the number of attempt rows; v1 did not record when
	 * a finished job started, so that attempt's started_at is 0 (unknown).
	 */
	/* priority: job_priority_name() */
	"ALTER TABLE jobs ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';"
	"ALTER TABLE jobs ADD COLUMN timeout_ms INTEGER NOT NULL DEFAULT 0;"   /* 0: the default */
	"ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE jobs ADD COLUMN retry_on_failure INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN backoff_base_ms INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN backoff_cap_ms INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;"
	"ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN next_attempt_at INTEGER NOT NULL DEFAULT 0;"
	"CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs(idempotency_key)"
	" WHERE idempotency_key IS NOT NULL;"
	/*
	 * prune walks this in age order and stops at its limit. Comparisons,
	 * not IN (...): SQLite evaluates a 3-value IN with a temporary table on
	 * every insert and update of a job.
	 */
	"CREATE INDEX jobs_finished_by_age ON jobs(updated_at)"
	" WHERE status = 'COMPLETED' OR status = 'FAILED' OR status = 'CANCELLED';"
	"CREATE TABLE attempts ("
	" job TEXT NOT NULL,"                /* jobs.id */
	" number INTEGER NOT NULL,"          /* 1, 2, ... */
	" node_id TEXT NOT NULL,"
	" started_at INTEGER NOT NULL,"      /* wall ms */
	" finished_at INTEGER NOT NULL DEFAULT 0,"
	" status TEXT NOT NULL,"             /* attempt_status_name() */
	" error TEXT,"
	" result TEXT,"                      /* a SUPERSEDED attempt's late output */
	" PRIMARY KEY (job, number));"
	"CREATE INDEX attempts_by_node_status ON attempts(node_id, status);"
	"CREATE TABLE nodes ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT," /* registration order */
	" id TEXT NOT NULL UNIQUE,"
	" name TEXT NOT NULL,"
	" address TEXT NOT NULL,"
	" capacity INTEGER NOT NULL,"
	" types TEXT NOT NULL,"              /* a JSON array of strings */
	" registered_at INTEGER NOT NULL,"
	" draining INTEGER NOT NULL DEFAULT 0);"
	"INSERT INTO attempts (job, number, node_id, started_at, finished_at, status, error)"
	" SELECT id, 1, node_id,"
	"  CASE status WHEN 'RUNNING' THEN updated_at ELSE 0 END,"
	"  CASE status WHEN 'RUNNING' THEN 0 ELSE updated_at END,"
	"  status, error"
	" FROM jobs WHERE status IN ('RUNNING', 'COMPLETED', 'FAILED') ORDER BY seq;"
	"UPDATE jobs SET attempt = 1 WHERE status IN ('RUNNING', 'COMPLETED', 'FAILED');",
};

#define SCHEMA_VERSION ((int)(sizeof(schema_steps) / sizeof(schema_steps[0])))

/* Word for word the WHERE of jobs_finished_by_age: only then does the planner use that index. */
#define PRUNABLE                                                                                \
	" FROM jobs WHERE (status = 'COMPLETED' OR status = 'FAILED' OR status = 'CANCELLED')" \
	" AND updated_at < ?1 ORDER BY updated_at, seq LIMIT ?2"

#define JOB_COLUMNS                                                                       \
	"id, type, payload, status, node_id, created_at, updated_at, result, error, priority," \
	" timeout_ms, max_attempts, retry_on_failure, backoff_base_ms, backoff_cap_ms,"      \
	" idempotency_key, attempt, next_attempt_at"

/* The columns of JOB_COLUMNS, in order; a list_page row has seq after them. */
enum job_column {
	JC_ID,
	JC_TYPE,
	JC_PAYLOAD,
	JC_STATUS,
	JC_NODE_ID,
	JC_CREATED_AT,
	JC_UPDATED_AT,
	JC_RESULT,
	JC_ERROR,
	JC_PRIORITY,
	JC_TIMEOUT_MS,
	JC_MAX_ATTEMPTS,
	JC_RETRY_ON_FAILURE,
	JC_BACKOFF_BASE_MS,
	JC_BACKOFF_CAP_MS,
	JC_IDEMPOTENCY_KEY,
	JC_ATTEMPT,
	JC_NEXT_ATTEMPT_AT,
	JC_SEQ,
};

#define ATTEMPT_COLUMNS "number, node_id, started_at, finished_at, status, error, result"

enum attempt_column {
	AC_NUMBER,
	AC_NODE_ID,
	AC_STARTED_AT,
	AC_FINISHED_AT,
	AC_STATUS,
	AC_ERROR,
	AC_RESULT
};

#define NODE_COLUMNS "id, name, address, capacity, types, registered_at, draining"

enum node_column {
	NC_ID,
	NC_NAME,
	NC_ADDRESS,
	NC_CAPACITY,
	NC_TYPES,
	NC_REGISTERED_AT,
	NC_DRAINING
};

/* list statements, one per combination of filters: bit 0 status, 1 node_id, 2 type. */
#define LIST_BY_STATUS 1
#define LIST_BY_NODE 2
#define LIST_BY_TYPE 4
#define LIST_VARIANTS 8

/* The writer connection: owned by the leader of the moment (see the top of the file). */
struct writer {
	sqlite3 *db;
	sqlite3_stmt *begin;       /* BEGIN IMMEDIATE */
	sqlite3_stmt *commit;
	sqlite3_stmt *rollback;
	sqlite3_stmt *savepoint;
	sqlite3_stmt *release;
	sqlite3_stmt *rollback_to; /* the savepoint */
	sqlite3_stmt *insert_job;
	sqlite3_stmt *job_by_id;
	sqlite3_stmt *job_by_key;
	sqlite3_stmt *status_of;
	sqlite3_stmt *attempts_of;
	sqlite3_stmt *attempt_of;  /* the job's attempt number, read after a transition */
	sqlite3_stmt *to_running;  /* transitions: no RETURNING, which costs a temporary table */
	sqlite3_stmt *to_finished;
	sqlite3_stmt *to_retry;
	sqlite3_stmt *to_requeue;
	sqlite3_stmt *to_cancelled;
	sqlite3_stmt *insert_attempt;
	sqlite3_stmt *close_attempt;
	sqlite3_stmt *delete_attempt;
	sqlite3_stmt *attempt_status;
	sqlite3_stmt *supersede;
	sqlite3_stmt *prune_counts;
	sqlite3_stmt *prune_attempts;
	sqlite3_stmt *prune_jobs;
	sqlite3_stmt *upsert_node;
	sqlite3_stmt *delete_node;
};

/* The reader connection: guarded by lock. */
struct reader {
	pthread_mutex_t lock;
	sqlite3 *db;
	sqlite3_stmt *begin; /* a deferred transaction: one snapshot for a job and its attempts */
	sqlite3_stmt *commit;
	sqlite3_stmt *get;
	sqlite3_stmt *attempts_of;
	sqlite3_stmt *list[LIST_VARIANTS];
	sqlite3_stmt *list_page; /* JOB_COLUMNS, then seq */
	sqlite3_stmt *lost;
	sqlite3_stmt *nodes;
};

enum op_kind {
	OP_CREATE,
	OP_MARK_RUNNING,
	OP_FINISH,
	OP_RETRY,
	OP_REQUEUE,
	OP_CANCEL,
	OP_NOTE_LATE_RESULT,
	OP_PRUNE,
	OP_PUT_NODE,
	OP_DELETE_NODE,
	OP_LIMIT_PAGES,
};

/* One writing operation waiting for (or in) a commit. Owned by its caller (its stack, or a batch's array). */
struct write_op {
	enum op_kind kind;
	union {
		struct {
			const struct job *specs;
			size_t count;
			struct job *out;
			bool *existed;
			const char *start_on; /* create_running: the node of attempt 1 (count 1) */
			int *attempt;
		} create;
		struct {
			const char *id;
			const char *node_id;
			int *attempt;
		} mark_running;
		struct {
			const char *id;
			enum job_status status;
			const char *result;
			const char *error;
			enum attempt_status attempt_status;
			struct job *out; /* optional: the job after it */
		} finish;
		struct {
			const char *id;
			enum attempt_status attempt_status;
			const char *error;
			int64_t next_attempt_at;
		} retry;
		struct {
			const char *id;
		} requeue;
		struct {
			const char *id;
			const char *why;
			enum job_status *was;
			struct job *out;
		} cancel;
		struct {
			const char *id;
			int number;
			bool ok;
			const char *result;
			const char *error;
		} late;
		struct {
			int64_t finished_before;
			size_t limit;
			size_t *deleted;
		} prune;
		struct {
			const struct node *node;
			const char *types_json;
		} put_node;
		struct {
			const char *id;
		} delete_node;
		struct {
			int pages;
			int *limit;
		} limit_pages;
	} u;
	/* Written by the leader. */
	enum job_store_result result;
	long delta[JOB_STATUS_COUNT]; /* what it does to counts[], applied once committed */
	char why[WHY_SIZE];           /* what failed, logged by the caller's thread */
	/* Guarded by queue_lock. */
	bool done;
	struct write_op *next;
	pthread_cond_t *wake; /* the submitting thread's condition */
};

struct sqlite_store {
	pthread_mutex_t queue_lock;
	struct write_op *queue_head;
	struct write_op *queue_tail;
	bool leader_active;
	size_t counts[JOB_STATUS_COUNT];
	struct writer w;
	struct reader r;
	bool locks_made; /* the mutexes and condition exist (for close_store) */
	int lock_fd;     /* holds the flock on "<path>.lock" until destroy */
	char *path;
};

static void set_err(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

/* ---- statements -------------------------------------------------------------------- */

static int bind_text(sqlite3_stmt *st, int index, const char *text)
{
	if (text == NULL)
		return sqlite3_bind_null(st, index);
	/* Bindings are cleared before each operation returns, so STATIC is safe. */
	return sqlite3_bind_text64(st, index, text, strlen(text), SQLITE_STATIC, SQLITE_UTF8);
}

static int bind_text_named(sqlite3_stmt *st, const char *name, const char *text)
{
	int index = sqlite3_bind_parameter_index(st, name);
	return index > 0 ? bind_text(st, index, text) : SQLITE_OK;
}

/* A node id cut to what struct job holds, as the memory store does. */
static int bind_node_id(sqlite3_stmt *st, int index, const char *node_id)
{
	return sqlite3_bind_text(st, index, node_id, (int)strnlen(node_id, MESH_ID_SIZE - 1),
				 SQLITE_STATIC);
}

static sqlite3_int64 clamp_to_int64(size_t n)
{
	return n > (size_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)n;
}

/* Resets st and drops its bindings (they point at the caller's strings). */
static void finish_stmt(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static char *column_dup(sqlite3_stmt *st, int col, bool *failed)
{
	const unsigned char *text;
	size_t len;
	char *copy;

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	text = sqlite3_column_text(st, col); /* before column_bytes, as documented */
	len = (size_t)sqlite3_column_bytes(st, col);
	copy = text != NULL ? malloc(len + 1) : NULL;
	if (copy == NULL) {
		*failed = true;
		return NULL;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	return copy;
}

/* Copies the text of col into a fixed buffer; false if it is NULL or too long. */
static bool column_copy_fixed(sqlite3_stmt *st, int col, char *out, size_t out_size)
{
	const unsigned char *text = sqlite3_column_text(st, col);
	size_t len = (size_t)sqlite3_column_bytes(st, col);

	if (text == NULL || len >= out_size)
		return false;
	memcpy(out, text, len);
	out[len] = '\0';
	return true;
}

/* Reads a row of JOB_COLUMNS into out (deep copy, no attempts). Returns 0, or -1 (out cleared). */
static int read_job(sqlite3_stmt *st, struct job *out)
{
	const char *status = (const char *)sqlite3_column_text(st, JC_STATUS);
	const char *priority = (const char *)sqlite3_column_text(st, JC_PRIORITY);
	bool failed = false;

	memset(out, 0, sizeof(*out));
	if (!column_copy_fixed(st, JC_ID, out->id, sizeof(out->id)) ||
	    !column_copy_fixed(st, JC_NODE_ID, out->node_id, sizeof(out->node_id)) ||
	    status == NULL || job_status_parse(status, &out->status) != 0 || priority == NULL ||
	    job_priority_parse(priority, &out->priority) != 0)
		failed = true;
	out->created_at = sqlite3_column_int64(st, JC_CREATED_AT);
	out->updated_at = sqlite3_column_int64(st, JC_UPDATED_AT);
	out->timeout_ms = sqlite3_column_int64(st, JC_TIMEOUT_MS);
	out->max_attempts = sqlite3_column_int(st, JC_MAX_ATTEMPTS);
	out->retry_on_failure = sqlite3_column_int(st, JC_RETRY_ON_FAILURE) != 0;
	out->backoff_base_ms = sqlite3_column_int64(st, JC_BACKOFF_BASE_MS);
	out->backoff_cap_ms = sqlite3_column_int64(st, JC_BACKOFF_CAP_MS);
	out->attempt = sqlite3_column_int(st, JC_ATTEMPT);
	out->next_attempt_at = sqlite3_column_int64(st, JC_NEXT_ATTEMPT_AT);
	out->type = column_dup(st, JC_TYPE, &failed);
	out->payload = column_dup(st, JC_PAYLOAD, &failed);
	out->result = column_dup(st, JC_RESULT, &failed);
	out->error = column_dup(st, JC_ERROR, &failed);
	out->idempotency_key = column_dup(st, JC_IDEMPOTENCY_KEY, &failed);
	if (failed || out->type == NULL || out->payload == NULL) {
		job_clear(out);
		return -1;
	}
	return 0;
}

/* Reads a row of ATTEMPT_COLUMNS into out. Returns 0, or -1 (out cleared). */
static int read_attempt(sqlite3_stmt *st, struct job_attempt *out)
{
	const char *status = (const char *)sqlite3_column_text(st, AC_STATUS);
	bool failed = false;

	memset(out, 0, sizeof(*out));
	if (!column_copy_fixed(st, AC_NODE_ID, out->node_id, sizeof(out->node_id)) ||
	    status == NULL || attempt_status_parse(status, &out->status) != 0)
		failed = true;
	out->number = sqlite3_column_int(st, AC_NUMBER);
	out->started_at = sqlite3_column_int64(st, AC_STARTED_AT);
	out->finished_at = sqlite3_column_int64(st, AC_FINISHED_AT);
	out->error = column_dup(st, AC_ERROR, &failed);
	out->result = column_dup(st, AC_RESULT, &failed);
	if (failed) {
		job_attempt_clear(out);
		return -1;
	}
	return 0;
}

/*
 * Reads job id with every attempt through job_st and attempts_st (one
 * connection's statements; the caller holds it and, for one snapshot, a
 * transaction). Returns SQLITE_DONE if there is no such job, SQLITE_ROW with
 * out filled, or an error code (SQLITE_NOMEM for memory or a bad row).
 */
static int read_full_job(sqlite3_stmt *job_st, sqlite3_stmt *attempts_st, const char *id,
			 struct job *out)
{
	size_t cap = 0;
	int step;

	memset(out, 0, sizeof(*out));
	if ((step = bind_text(job_st, 1, id)) != SQLITE_OK) {
		finish_stmt(job_st);
		return step;
	}
	step = sqlite3_step(job_st);
	if (step == SQLITE_ROW && read_job(job_st, out) != 0)
		step = SQLITE_NOMEM;
	finish_stmt(job_st);
	if (step != SQLITE_ROW)
		return step;
	out->has_attempts = true;
	if ((step = bind_text(attempts_st, 1, id)) != SQLITE_OK)
		goto out;
	while ((step = sqlite3_step(attempts_st)) == SQLITE_ROW) {
		if (out->attempt_count == cap) {
			size_t bigger_cap = cap ? cap * 2 : 4;
			struct job_attempt *bigger =
				realloc(out->attempts, bigger_cap * sizeof(*bigger));
			if (bigger == NULL) {
				step = SQLITE_NOMEM;
				break;
			}
			out->attempts = bigger;
			cap = bigger_cap;
		}
		if (read_attempt(attempts_st, &out->attempts[out->attempt_count]) != 0) {
			step = SQLITE_NOMEM;
			break;
		}
		out->attempt_count++;
	}
	if (step == SQLITE_DONE)
		step = SQLITE_ROW;
out:
	finish_stmt(attempts_st);
	if (step != SQLITE_ROW)
		job_clear(out);
	return step;
}

/* ---- writing: the work of each op, run by the leader inside a transaction ------------------- */

/* Records a failure of op from SQLite's code and the writer's message. */
static void op_failed(struct sqlite_store *ss, struct write_op *op, int code, const char *what)
{
	op->result = (code & 0xff) == SQLITE_FULL ? JOB_STORE_FULL : JOB_STORE_ERROR;
	if (code == SQLITE_NOMEM)
		snprintf(op->why, sizeof(op->why), "%s: out of memory or a bad row", what);
	else
		snprintf(op->why, sizeof(op->why), "%s: %s", what, sqlite3_errmsg(ss->w.db));
}

/* Steps a statement that returns no rows (or whose rows do not matter) and resets it. */
static int run_stmt(sqlite3_stmt *st)
{
	int step = sqlite3_step(st);
	finish_stmt(st);
	return step == SQLITE_ROW ? SQLITE_DONE : step;
}

/*
 * For the binds of a writing statement: bind_failure is true if one failed.
 * Then the statement is reset, op fails with what, and the result is true.
 */
static bool bind_failed(struct sqlite_store *ss, struct write_op *op, sqlite3_stmt *st,
			bool bind_failure, const char *what)
{
	if (bind_failure) {
		finish_stmt(st);
		op_failed(ss, op, SQLITE_ERROR, what);
	}
	return bind_failure;
}

/* Runs the bound statement st; false (op failed with what) if it did not finish. */
static bool ran(struct sqlite_store *ss, struct write_op *op, sqlite3_stmt *st, const char *what)
{
	int step = run_stmt(st);

	if (step != SQLITE_DONE)
		op_failed(ss, op, step, what);
	return step == SQLITE_DONE;
}

/*
 * The result for a transition whose UPDATE matched no row: NOT_FOUND if the
 * job is missing, else CONFLICT (it is in another status).
 */
static void no_transition(struct sqlite_store *ss, struct write_op *op, const char *id)
{
	sqlite3_stmt *st = ss->w.status_of;
	int step = bind_text(st, 1, id);

	if (step == SQLITE_OK)
		step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		op->result = JOB_STORE_CONFLICT;
	else if (step == SQLITE_DONE)
		op->result = JOB_STORE_NOT_FOUND;
	else
		op_failed(ss, op, step, "could not read a job");
	finish_stmt(st);
}

/* Closes attempt `number` of job id if it is still RUNNING. Returns an SQLite code. */
static int close_attempt(struct sqlite_store *ss, const char *id, int number,
			 enum attempt_status status, const char *error, int64_t now)
{
	sqlite3_stmt *st = ss->w.close_attempt;

	if (bind_text(st, 1, id) != SQLITE_OK || sqlite3_bind_int(st, 2, number) != SQLITE_OK ||
	    bind_text(st, 3, attempt_status_name(status)) != SQLITE_OK ||
	    bind_text(st, 4, error) != SQLITE_OK || sqlite3_bind_int64(st, 5, now) != SQLITE_OK) {
		finish_stmt(st);
		return SQLITE_MISUSE;
	}
	return run_stmt(st);
}

static bool same_content(const struct job *a, const struct job *b)
{
	return strcmp(a->type, b->type) == 0 && strcmp(a->payload, b->payload) == 0;
}

/* Inserts specs as a new QUEUED job at now and fills out with it. */
static void create_one(struct sqlite_store *ss, struct write_op *op, const struct job *spec,
		       int64_t now, struct job *out)
{
	sqlite3_stmt *st = ss->w.insert_job;
	struct job made;
	int step = SQLITE_ERROR;

	memset(&made, 0, sizeof(made));
	for (int tries = 0; tries < ID_ATTEMPTS; tries++) {
		/* A clash with an older id is rare, but the UNIQUE id refuses it: try another. */
		mesh_new_id('j', made.id, sizeof(made.id));
		if (bind_failed(ss, op, st,
				bind_text(st, 1, made.id) != SQLITE_OK ||
				    bind_text(st, 2, spec->type) != SQLITE_OK ||
				    bind_text(st, 3, spec->payload) != SQLITE_OK ||
				    sqlite3_bind_int64(st, 4, now) != SQLITE_OK ||
				    bind_text(st, 5, job_priority_name(spec->priority)) != SQLITE_OK ||
				    sqlite3_bind_int64(st, 6, spec->timeout_ms) != SQLITE_OK ||
				    sqlite3_bind_int(st, 7, spec->max_attempts) != SQLITE_OK ||
				    sqlite3_bind_int(st, 8, spec->retry_on_failure ? 1 : 0) != SQLITE_OK ||
				    sqlite3_bind_int64(st, 9, spec->backoff_base_ms) != SQLITE_OK ||
				    sqlite3_bind_int64(st, 10, spec->backoff_cap_ms) != SQLITE_OK ||
				    bind_text(st, 11, spec->idempotency_key) != SQLITE_OK,
				"could not store a new job"))
			return;
		step = sqlite3_step(st);
		if (step != SQLITE_DONE && step != SQLITE_CONSTRAINT_UNIQUE)
			op_failed(ss, op, step, "could not store a new job");
		finish_stmt(st);
		/* The key was looked up first in this transaction: a UNIQUE refusal is the id. */
		if (step != SQLITE_CONSTRAINT_UNIQUE)
			break;
	}
	if (step == SQLITE_CONSTRAINT_UNIQUE) {
		op->result = JOB_STORE_ERROR;
		snprintf(op->why, sizeof(op->why),
			 "could not store a new job: no free id after %d tries", ID_ATTEMPTS);
	}
	if (step != SQLITE_DONE)
		return;

	made.store_seq = (uint64_t)sqlite3_last_insert_rowid(ss->w.db);
	/* What was stored, from the spec: only these fields of it are stored. */
	made.type = (char *)spec->type; /* borrowed for job_copy only */
	made.payload = (char *)spec->payload;
	made.idempotency_key = (char *)spec->idempotency_key;
	made.status = JOB_QUEUED;
	made.created_at = made.updated_at = now;
	made.priority = spec->priority;
	made.timeout_ms = spec->timeout_ms;
	made.max_attempts = spec->max_attempts;
	made.retry_on_failure = spec->retry_on_failure;
	made.backoff_base_ms = spec->backoff_base_ms;
	made.backoff_cap_ms = spec->backoff_cap_ms;
	if (job_copy(out, &made) != 0) {
		op_failed(ss, op, SQLITE_NOMEM, "could not store a new job");
		return;
	}
	op->delta[JOB_QUEUED]++;
	op->result = JOB_STORE_OK;
}

/* Every out[] but keep zeroed; existed[] false but for keep. */
static void zero_create_outputs(struct write_op *op, size_t keep)
{
	for (size_t i = 0; i < op->u.create.count; i++) {
		if (i == keep)
			continue;
		job_clear(&op->u.create.out[i]);
		op->u.create.existed[i] = false;
	}
}

/*
 * The idempotency rules of job_store.h, in the order the memory store
 * applies them: a key already stored decides first (an earlier element with
 * a stored key has that job in its out[]), then an earlier new element of the
 * same batch. The lookup and the inserts share one IMMEDIATE transaction, so
 * no other writer can slip a job with the key in between.
 */
static bool start_attempt(struct sqlite_store *ss, struct write_op *op, const char *id,
			  const char *node_id, int *number);

static void apply_create(struct sqlite_store *ss, struct write_op *op)
{
	const struct job *specs = op->u.create.specs;
	struct job *out = op->u.create.out;
	bool *existed = op->u.create.existed;
	int64_t now = clock_wall_ms();

	for (size_t i = 0; i < op->u.create.count; i++) {
		const char *key = specs[i].idempotency_key;
		size_t earlier = i;
		int step;

		if (key != NULL) {
			for (size_t j = 0; j < i && earlier == i; j++) {
				if (specs[j].idempotency_key != NULL &&
				    strcmp(specs[j].idempotency_key, key) == 0)
					earlier = j;
			}
		}
		if (earlier != i) {
			/* out[earlier]: the stored job if existed[earlier], else the new one. */
			if (!same_content(&out[earlier], &specs[i])) {
				bool stored = existed[earlier];
				op->result = JOB_STORE_CONFLICT;
				if (stored && job_copy(&out[i], &out[earlier]) != 0) {
					op_failed(ss, op, SQLITE_NOMEM, "could not read a job");
					zero_create_outputs(op, SIZE_MAX);
					return;
				}
				existed[i] = stored;
				zero_create_outputs(op, stored ? i : SIZE_MAX);
				return;
			}
			if (job_copy(&out[i], &out[earlier]) != 0) {
				op_failed(ss, op, SQLITE_NOMEM, "could not read a job");
				return;
			}
			existed[i] = true;
			continue;
		}
		if (key != NULL) {
			sqlite3_stmt *st = ss->w.job_by_key;
			step = bind_text(st, 1, key);
			if (step == SQLITE_OK)
				step = sqlite3_step(st);
			if (step == SQLITE_ROW && read_job(st, &out[i]) != 0)
				step = SQLITE_NOMEM;
			if (step != SQLITE_ROW && step != SQLITE_DONE)
				op_failed(ss, op, step, "could not look up an idempotency key");
			finish_stmt(st);
			if (step != SQLITE_ROW && step != SQLITE_DONE)
				return;
			if (step == SQLITE_ROW) {
				existed[i] = true;
				if (!same_content(&out[i], &specs[i])) {
					op->result = JOB_STORE_CONFLICT;
					zero_create_outputs(op, i);
					return;
				}
				continue;
			}
		}
		op->result = JOB_STORE_ERROR;
		create_one(ss, op, &specs[i], now, &out[i]);
		if (op->result != JOB_STORE_OK)
			return;
	}
	if (op->u.create.start_on != NULL) {
		/* create_running: one new job (no key), started in the same transaction. */
		struct job *job = &out[0];
		int number = 0;
		if (!start_attempt(ss, op, job->id, op->u.create.start_on, &number)) {
			/* All undone: not a CONFLICT or NOT_FOUND with a job to show (FULL stays FULL). */
			if (op->result == JOB_STORE_CONFLICT || op->result == JOB_STORE_NOT_FOUND)
				op->result = JOB_STORE_ERROR;
			return;
		}
		job->status = JOB_RUNNING;
		job->attempt = number;
		snprintf(job->node_id, sizeof(job->node_id), "%s", op->u.create.start_on);
		*op->u.create.attempt = number;
	}
	op->result = JOB_STORE_OK;
}

/*
 * Steps a transition UPDATE ... WHERE id = ?1 AND <from> (bound) and says
 * whether it changed the job; if so, *number is the job's attempt number
 * after it. Returns an SQLite code (SQLITE_DONE if all went well).
 */
static int run_transition(struct sqlite_store *ss, sqlite3_stmt *st, const char *id, int *number,
			  bool *changed)
{
	int step = run_stmt(st);

	*changed = false;
	if (step != SQLITE_DONE || sqlite3_changes(ss->w.db) != 1)
		return step;
	*changed = true;
	st = ss->w.attempt_of;
	step = bind_text(st, 1, id);
	if (step == SQLITE_OK)
		step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		*number = sqlite3_column_int(st, 0);
		step = SQLITE_DONE;
	} else if (step == SQLITE_DONE) {
		step = SQLITE_NOTFOUND; /* cannot happen: the transaction holds the write lock */
	}
	finish_stmt(st);
	return step;
}

/*
 * QUEUED -> RUNNING on node_id with a new attempt (its number in *number),
 * inside op's transaction. Returns false with op's result set if it failed.
 */
static bool start_attempt(struct sqlite_store *ss, struct write_op *op, const char *id,
			  const char *node_id, int *number)
{
	sqlite3_stmt *st = ss->w.to_running;
	int64_t now = clock_wall_ms();
	int step;
	bool changed;

	if (bind_failed(ss, op, st,
			bind_text(st, 1, id) != SQLITE_OK ||
			    bind_node_id(st, 2, node_id) != SQLITE_OK ||
			    sqlite3_bind_int64(st, 3, now) != SQLITE_OK,
			"could not mark a job running"))
		return false;
	if ((step = run_transition(ss, st, id, number, &changed)) != SQLITE_DONE) {
		op_failed(ss, op, step, "could not mark a job running");
		return false;
	}
	if (!changed) {
		no_transition(ss, op, id);
		return false;
	}
	st = ss->w.insert_attempt;
	if (bind_failed(ss, op, st,
			bind_text(st, 1, id) != SQLITE_OK ||
			    sqlite3_bind_int(st, 2, *number) != SQLITE_OK ||
			    bind_node_id(st, 3, node_id) != SQLITE_OK ||
			    sqlite3_bind_int64(st, 4, now) != SQLITE_OK,
			"could not record an attempt"))
		return false;
	if (!ran(ss, op, st, "could not record an attempt"))
		return false;
	op->delta[JOB_QUEUED]--;
	op->delta[JOB_RUNNING]++;
	return true;
}

static void apply_mark_running(struct sqlite_store *ss, struct write_op *op)
{
	int number = 0;

	if (!start_attempt(ss, op, op->u.mark_running.id, op->u.mark_running.node_id, &number))
		return;
	*op->u.mark_running.attempt = number;
	op->result = JOB_STORE_OK;
}

/*
 * The common end of finish and retry: runs the bound transition st (RUNNING
 * -> to) on id, closes its current attempt, and counts the move. what says
 * what failed, for the log.
 */
static void move_and_close_attempt(struct sqlite_store *ss, struct write_op *op, sqlite3_stmt *st,
				   const char *id, enum job_status to,
				   enum attempt_status attempt_status, const char *error,
				   int64_t now, const char *what)
{
	int number = 0, step;
	bool changed;

	if ((step = run_transition(ss, st, id, &number, &changed)) != SQLITE_DONE) {
		op_failed(ss, op, step, what);
		return;
	}
	if (!changed) {
		no_transition(ss, op, id);
		return;
	}
	step = close_attempt(ss, id, number, attempt_status, error, now);
	if (step != SQLITE_DONE) {
		op_failed(ss, op, step, "could not close an attempt");
		return;
	}
	op->delta[JOB_RUNNING]--;
	op->delta[to]++;
	op->result = JOB_STORE_OK;
}

static void apply_finish(struct sqlite_store *ss, struct write_op *op)
{
	const char *id = op->u.finish.id;
	sqlite3_stmt *st = ss->w.to_finished;
	int64_t now = clock_wall_ms();

	if (bind_failed(ss, op, st,
			bind_text(st, 1, id) != SQLITE_OK ||
			    bind_text(st, 2, job_status_name(op->u.finish.status)) != SQLITE_OK ||
			    bind_text(st, 3, op->u.finish.result) != SQLITE_OK ||
			    bind_text(st, 4, op->u.finish.error) != SQLITE_OK ||
			    sqlite3_bind_int64(st, 5, now) != SQLITE_OK,
			"could not record a job's outcome"))
		return;
	move_and_close_attempt(ss, op, st, id, op->u.finish.status, op->u.finish.attempt_status,
			       op->u.finish.error, now, "could not record a job's outcome");
	/*
	 * The finished job, from this transaction's own pages (still in the
	 * writer's cache): a waiting client gets it without a read after the
	 * commit. If the read fails, out stays empty and the caller reads.
	 */
	if (op->result == JOB_STORE_OK && op->u.finish.out != NULL &&
	    read_full_job(ss->w.job_by_id, ss->w.attempts_of, id, op->u.finish.out) != SQLITE_ROW)
		job_clear(op->u.finish.out);
}

static void apply_retry(struct sqlite_store *ss, struct write_op *op)
{
	const char *id = op->u.retry.id;
	sqlite3_stmt *st = ss->w.to_retry;
	int64_t now = clock_wall_ms();

	if (bind_failed(ss, op, st,
			bind_text(st, 1, id) != SQLITE_OK ||
			    sqlite3_bind_int64(st, 2, op->u.retry.next_attempt_at) != SQLITE_OK ||
			    sqlite3_bind_int64(st, 3, now) != SQLITE_OK,
			"could not queue a job for a retry"))
		return;
	move_and_close_attempt(ss, op, st, id, JOB_QUEUED, op->u.retry.attempt_status,
			       op->u.retry.error, now, "could not queue a job for a retry");
}

static void apply_requeue(struct sqlite_store *ss, struct write_op *op)
{
	const char *id = op->u.requeue.id;
	sqlite3_stmt *st = ss->w.to_requeue;
	int number = 0, step;
	bool changed;

	if (bind_failed(ss, op, st,
			bind_text(st, 1, id) != SQLITE_OK ||
			    sqlite3_bind_int64(st, 2, clock_wall_ms()) != SQLITE_OK,
			"could not requeue a job"))
		return;
	if ((step = run_transition(ss, st, id, &number, &changed)) != SQLITE_DONE) {
		op_failed(ss, op, step, "could not requeue a job");
		return;
	}
	if (!changed) {
		no_transition(ss, op, id);
		return;
	}
	/* The agent never ran it: the attempt (one past the job's number now) did not happen. */
	number++;
	st = ss->w.delete_attempt;
	if (bind_failed(ss, op, st,
			bind_text(st, 1, id) != SQLITE_OK ||
			    sqlite3_bind_int(st, 2, number) != SQLITE_OK,
			"could not undo an attempt"))
		return;
	if (!ran(ss, op, st, "could not undo an attempt"))
		return;
	op->delta[JOB_RUNNING]--;
	op->delta[JOB_QUEUED]++;
	op->result = JOB_STORE_OK;
}

static void apply_cancel(struct sqlite_store *ss, struct write_op *op)
{
	const char *id = op->u.cancel.id;
	struct job *out = op->u.cancel.out;
	sqlite3_stmt *st = ss->w.to_cancelled;
	int64_t now = clock_wall_ms();
	enum job_status was;
	int number = 0, step;
	bool changed;

	step = read_full_job(ss->w.job_by_id, ss->w.attempts_of, id, out);
	if (step == SQLITE_DONE) {
		op->result = JOB_STORE_NOT_FOUND;
		return;
	}
	if (step != SQLITE_ROW) {
		op_failed(ss, op, step, "could not read a job");
		return;
	}
	was = out->status;
	*op->u.cancel.was = was;
	if (job_status_is_terminal(was)) {
		op->result = JOB_STORE_CONFLICT; /* out holds it unchanged */
		return;
	}
	job_clear(out);
	if (bind_failed(ss, op, st,
			bind_text(st, 1, id) != SQLITE_OK ||
			    bind_text(st, 2, op->u.cancel.why) != SQLITE_OK ||
			    sqlite3_bind_int64(st, 3, now) != SQLITE_OK,
			"could not cancel a job"))
		return;
	if ((step = run_transition(ss, st, id, &number, &changed)) != SQLITE_DONE) {
		op_failed(ss, op, step, "could not cancel a job");
		return;
	}
	if (!changed) { /* cannot happen: the transaction holds the write lock since the read */
		op->result = JOB_STORE_ERROR;
		snprintf(op->why, sizeof(op->why), "could not cancel job %s: it changed meanwhile",
			 id);
		return;
	}
	if (was == JOB_RUNNING &&
	    (step = close_attempt(ss, id, number, ATTEMPT_CANCELLED, op->u.cancel.why, now)) !=
		    SQLITE_DONE) {
		op_failed(ss, op, step, "could not close an attempt");
		return;
	}
	step = read_full_job(ss->w.job_by_id, ss->w.attempts_of, id, out);
	if (step != SQLITE_ROW) {
		op_failed(ss, op, step == SQLITE_DONE ? SQLITE_ERROR : step,
			  "could not read a job");
		return;
	}
	op->delta[was]--;
	op->delta[JOB_CANCELLED]++;
	op->result = JOB_STORE_OK;
}

static void apply_note_late_result(struct sqlite_store *ss, struct write_op *op)
{
	sqlite3_stmt *st = ss->w.attempt_status;
	const char *status;
	int step;

	if (bind_failed(ss, op, st,
			bind_text(st, 1, op->u.late.id) != SQLITE_OK ||
			    sqlite3_bind_int(st, 2, op->u.late.number) != SQLITE_OK,
			"could not read an attempt"))
		return;
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		status = (const char *)sqlite3_column_text(st, 0);
		op->result =
			status != NULL && strcmp(status, attempt_status_name(ATTEMPT_LOST)) == 0
				? JOB_STORE_OK
				: JOB_STORE_CONFLICT;
	} else if (step == SQLITE_DONE) {
		op->result = JOB_STORE_NOT_FOUND;
	} else {
		op_failed(ss, op, step, "could not read an attempt");
	}
	finish_stmt(st);
	if (op->result != JOB_STORE_OK)
		return;
	st = ss->w.supersede;
	if (bind_failed(ss, op, st,
			bind_text(st, 1, op->u.late.id) != SQLITE_OK ||
			    sqlite3_bind_int(st, 2, op->u.late.number) != SQLITE_OK ||
			    bind_text(st, 3, op->u.late.ok ? op->u.late.result : NULL) != SQLITE_OK ||
			    bind_text(st, 4, op->u.late.ok ? NULL : op->u.late.error) != SQLITE_OK,
			"could not record a late result"))
		return;
	(void)ran(ss, op, st, "could not record a late result");
}

/*
 * Three statements over the same oldest-first selection (deterministic: ties
 * in updated_at go by seq), all in this op's transaction: count the victims
 * by status, delete their attempts, delete them.
 */
static void apply_prune(struct sqlite_store *ss, struct write_op *op)
{
	sqlite3_stmt *statements[] = {ss->w.prune_counts, ss->w.prune_attempts, ss->w.prune_jobs};
	size_t deleted = 0;

	for (size_t s = 0; s < sizeof(statements) / sizeof(statements[0]); s++) {
		sqlite3_stmt *st = statements[s];
		int step;

		if (bind_failed(ss, op, st,
				sqlite3_bind_int64(st, 1, op->u.prune.finished_before) != SQLITE_OK ||
				    sqlite3_bind_int64(st, 2, clamp_to_int64(op->u.prune.limit)) != SQLITE_OK,
				"could not prune jobs"))
			return;
		while ((step = sqlite3_step(st)) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(st, 0);
			enum job_status status;
			long n = (long)sqlite3_column_int64(st, 1);
			if (st != ss->w.prune_counts || job_status_parse(name, &status) != 0)
				continue;
			op->delta[status] -= n;
			deleted += (size_t)n;
		}
		if (step != SQLITE_DONE)
			op_failed(ss, op, step, "could not prune jobs");
		finish_stmt(st);
		if (step != SQLITE_DONE)
			return;
	}
	*op->u.prune.deleted = deleted;
	op->result = JOB_STORE_OK;
}

static void apply_put_node(struct sqlite_store *ss, struct write_op *op)
{
	const struct node *node = op->u.put_node.node;
	sqlite3_stmt *st = ss->w.upsert_node;

	if (bind_failed(ss, op, st,
			bind_text(st, 1, node->id) != SQLITE_OK ||
			    bind_text(st, 2, node->name) != SQLITE_OK ||
			    bind_text(st, 3, node->address) != SQLITE_OK ||
			    sqlite3_bind_int(st, 4, node->capacity) != SQLITE_OK ||
			    bind_text(st, 5, op->u.put_node.types_json) != SQLITE_OK ||
			    sqlite3_bind_int64(st, 6, node->registered_at) != SQLITE_OK ||
			    sqlite3_bind_int(st, 7, node->draining ? 1 : 0) != SQLITE_OK,
			"could not store a node"))
		return;
	if (!ran(ss, op, st, "could not store a node"))
		return;
	op->result = JOB_STORE_OK;
}

static void apply_delete_node(struct sqlite_store *ss, struct write_op *op)
{
	sqlite3_stmt *st = ss->w.delete_node;

	if (bind_failed(ss, op, st,
			bind_text(st, 1, op->u.delete_node.id) != SQLITE_OK,
			"could not delete a node"))
		return;
	if (!ran(ss, op, st, "could not delete a node"))
		return;
	op->result = sqlite3_changes(ss->w.db) == 1 ? JOB_STORE_OK : JOB_STORE_NOT_FOUND;
}

static void apply_limit_pages(struct sqlite_store *ss, struct write_op *op)
{
	char sql[64];
	sqlite3_stmt *st = NULL;
	int step;

	/* An integer of ours, not input: pragmas take no bound parameters. */
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %d", op->u.limit_pages.pages);
	step = sqlite3_prepare_v2(ss->w.db, sql, -1, &st, NULL);
	if (step == SQLITE_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
		*op->u.limit_pages.limit = sqlite3_column_int(st, 0);
		op->result = JOB_STORE_OK;
	} else {
		op_failed(ss, op, step, "could not limit the database's size");
	}
	sqlite3_finalize(st);
}

static void apply(struct sqlite_store *ss, struct write_op *op)
{
	op->result = JOB_STORE_ERROR;
	switch (op->kind) {
	case OP_CREATE:
		apply_create(ss, op);
		break;
	case OP_MARK_RUNNING:
		apply_mark_running(ss, op);
		break;
	case OP_FINISH:
		apply_finish(ss, op);
		break;
	case OP_RETRY:
		apply_retry(ss, op);
		break;
	case OP_REQUEUE:
		apply_requeue(ss, op);
		break;
	case OP_CANCEL:
		apply_cancel(ss, op);
		break;
	case OP_NOTE_LATE_RESULT:
		apply_note_late_result(ss, op);
		break;
	case OP_PRUNE:
		apply_prune(ss, op);
		break;
	case OP_PUT_NODE:
		apply_put_node(ss, op);
		break;
	case OP_DELETE_NODE:
		apply_delete_node(ss, op);
		break;
	case OP_LIMIT_PAGES:
		apply_limit_pages(ss, op);
		break;
	}
}

/*
 * Takes back what op wrote for its caller. keep_answer: the op's own answer
 * (CONFLICT with the job in the way, NOT_FOUND) stays; otherwise every output
 * is emptied, as after an error.
 */
static void undo_outputs(struct write_op *op, bool keep_answer)
{
	memset(op->delta, 0, sizeof(op->delta));
	if (keep_answer)
		return;
	switch (op->kind) {
	case OP_CREATE:
		zero_create_outputs(op, SIZE_MAX);
		break;
	case OP_MARK_RUNNING:
		*op->u.mark_running.attempt = 0;
		break;
	case OP_CANCEL:
		job_clear(op->u.cancel.out);
		break;
	case OP_FINISH:
		if (op->u.finish.out != NULL)
			job_clear(op->u.finish.out);
		break;
	case OP_PRUNE:
		*op->u.prune.deleted = 0;
		break;
	default:
		break;
	}
}

/* The answer of an op whose transaction as a whole failed: code at what. */
static void transaction_failed(struct sqlite_store *ss, struct write_op *op, int code,
			       const char *what)
{
	op_failed(ss, op, code, what);
	undo_outputs(op, false);
}

static void rollback_if_open(struct sqlite_store *ss)
{
	/* SQLite may have rolled back already (after SQLITE_FULL or an I/O error). */
	if (!sqlite3_get_autocommit(ss->w.db))
		run_stmt(ss->w.rollback);
}

/* Runs op in a transaction of its own. */
static void run_alone(struct sqlite_store *ss, struct write_op *op)
{
	int step = run_stmt(ss->w.begin);

	memset(op->delta, 0, sizeof(op->delta));
	op->why[0] = '\0';
	if (step != SQLITE_DONE) {
		transaction_failed(ss, op, step, "could not begin a transaction");
		return;
	}
	apply(ss, op);
	if (op->result != JOB_STORE_OK) {
		rollback_if_open(ss);
		undo_outputs(op,
			     op->result == JOB_STORE_CONFLICT || op->result == JOB_STORE_NOT_FOUND);
		return;
	}
	if ((step = run_stmt(ss->w.commit)) != SQLITE_DONE) {
		transaction_failed(ss, op, step, "could not commit");
		rollback_if_open(ss);
	}
}

/*
 * Runs every op of batch in one transaction, each in a savepoint. Returns
 * true if it committed (every op has its final answer), or false if the
 * transaction failed as a whole: then nothing of it is stored, every op's
 * outputs are undone, and the caller runs them again one by one.
 */
static bool run_together(struct sqlite_store *ss, struct write_op *batch)
{
	if (run_stmt(ss->w.begin) != SQLITE_DONE)
		return false;
	for (struct write_op *op = batch; op != NULL; op = op->next) {
		memset(op->delta, 0, sizeof(op->delta));
		op->why[0] = '\0';
		if (run_stmt(ss->w.savepoint) != SQLITE_DONE)
			goto abandon;
		apply(ss, op);
		if (op->result == JOB_STORE_OK) {
			if (run_stmt(ss->w.release) != SQLITE_DONE)
				goto abandon;
			continue;
		}
		/* This op alone is undone, unless SQLite already undid the whole transaction. */
		if (sqlite3_get_autocommit(ss->w.db) ||
		    run_stmt(ss->w.rollback_to) != SQLITE_DONE ||
		    run_stmt(ss->w.release) != SQLITE_DONE)
			goto abandon;
		undo_outputs(op,
			     op->result == JOB_STORE_CONFLICT || op->result == JOB_STORE_NOT_FOUND);
	}
	if (run_stmt(ss->w.commit) == SQLITE_DONE)
		return true;
abandon:
	rollback_if_open(ss);
	for (struct write_op *op = batch; op != NULL; op = op->next)
		undo_outputs(op, false);
	return false;
}

/* The leader's work: everything queued, committed together when it can be. */
static void run_batch(struct sqlite_store *ss, struct write_op *batch)
{
	if (batch->next != NULL && run_together(ss, batch))
		return;
	for (struct write_op *op = batch; op != NULL; op = op->next)
		run_alone(ss, op);
}

static bool all_done(const struct write_op *ops, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (!ops[i].done)
			return false;
	}
	return true;
}

/*
 * Queues the count ops (in one go, so that one commit takes them all) and
 * returns once a commit holds them (or they failed): the caller either waits
 * for the leader of the moment or becomes the leader itself. Logs each op's
 * failure, if any, from the caller's thread.
 */
static void submit_many(struct sqlite_store *ss, struct write_op *ops, size_t count)
{
	pthread_cond_t wake;

	pthread_cond_init(&wake, NULL);
	pthread_mutex_lock(&ss->queue_lock);
	for (size_t i = 0; i < count; i++) {
		struct write_op *op = &ops[i];
		op->done = false;
		op->next = NULL;
		op->wake = &wake;
		op->why[0] = '\0';
		if (ss->queue_tail != NULL)
			ss->queue_tail->next = op;
		else
			ss->queue_head = op;
		ss->queue_tail = op;
	}
	while (!all_done(ops, count)) {
		struct write_op *batch, *next;

		if (ss->leader_active) {
			pthread_cond_wait(&wake, &ss->queue_lock);
			continue;
		}
		/*
		 * Lead: take everything queued (ours among it, all of it: ops are
		 * queued in one go) and commit it.
		 */
		batch = ss->queue_head;
		ss->queue_head = ss->queue_tail = NULL;
		ss->leader_active = true;
		pthread_mutex_unlock(&ss->queue_lock);
		run_batch(ss, batch);
		pthread_mutex_lock(&ss->queue_lock);
		for (struct write_op *o = batch; o != NULL; o = next) {
			next = o->next; /* o belongs to its caller again once done */
			for (int s = 0; o->result == JOB_STORE_OK && s < JOB_STATUS_COUNT; s++)
				ss->counts[s] = (size_t)((long)ss->counts[s] + o->delta[s]);
			o->done = true;
			if (o->wake != &wake)
				pthread_cond_signal(o->wake);
		}
		ss->leader_active = false;
		/* Whoever queued meanwhile leads next (unless a newcomer takes the lead first). */
		if (ss->queue_head != NULL)
			pthread_cond_signal(ss->queue_head->wake);
	}
	pthread_mutex_unlock(&ss->queue_lock);
	pthread_cond_destroy(&wake);
	for (size_t i = 0; i < count; i++) {
		const struct write_op *op = &ops[i];
		if (op->why[0] == '\0')
			continue;
		if (op->result == JOB_STORE_FULL)
			log_error(
				"job store %s: %s (the disk or the database's size limit is full)",
				ss->path, op->why);
		else if (op->result == JOB_STORE_ERROR)
			log_error("job store %s: %s", ss->path, op->why);
	}
}

static enum job_store_result submit(struct sqlite_store *ss, struct write_op *op)
{
	submit_many(ss, op, 1);
	return op->result;
}

/* ---- writing operations ------------------------------------------------------------------ */

static enum job_store_result sqlite_create(void *state, const struct job *specs, size_t count,
					   struct job *out, bool *existed)
{
	struct write_op op = {.kind = OP_CREATE};

	op.u.create.specs = specs;
	op.u.create.count = count;
	op.u.create.out = out;
	op.u.create.existed = existed;
	return submit(state, &op);
}

static enum job_store_result sqlite_create_running(void *state, const struct job *spec,
						   const char *node_id, struct job *out, int *attempt)
{
	struct write_op op = {.kind = OP_CREATE};
	bool existed = false;

	op.u.create.specs = spec;
	op.u.create.count = 1;
	op.u.create.out = out;
	op.u.create.existed = &existed;
	op.u.create.start_on = node_id;
	op.u.create.attempt = attempt;
	return submit(state, &op);
}

static enum job_store_result sqlite_mark_running(void *state, const char *id, const char *node_id,
						 int *attempt)
{
	struct write_op op = {.kind = OP_MARK_RUNNING};

	op.u.mark_running.id = id;
	op.u.mark_running.node_id = node_id;
	op.u.mark_running.attempt = attempt;
	return submit(state, &op);
}

static enum job_store_result sqlite_finish(void *state, const char *id, enum job_status status,
					   const char *result, const char *error,
					   enum attempt_status attempt_status)
{
	struct write_op op = {.kind = OP_FINISH};

	op.u.finish.id = id;
	op.u.finish.status = status;
	op.u.finish.result = result;
	op.u.finish.error = error;
	op.u.finish.attempt_status = attempt_status;
	return submit(state, &op);
}

static void change_to_op(struct job_change *c, struct write_op *op)
{
	memset(op, 0, sizeof(*op));
	if (c->kind == JOB_CHANGE_START) {
		op->kind = OP_MARK_RUNNING;
		op->u.mark_running.id = c->id;
		op->u.mark_running.node_id = c->node_id;
		op->u.mark_running.attempt = &c->attempt;
	} else {
		op->kind = OP_FINISH;
		op->u.finish.id = c->id;
		op->u.finish.status = c->status;
		op->u.finish.result = c->result;
		op->u.finish.error = c->error;
		op->u.finish.attempt_status = c->attempt_status;
		op->u.finish.out = c->finished;
	}
}

static void sqlite_apply_changes(void *state, struct job_change *changes, size_t count)
{
	struct write_op *ops = calloc(count, sizeof(*ops));

	if (ops == NULL) {
		/* No memory for the batch: one commit per change, as the single calls do. */
		for (size_t i = 0; i < count; i++) {
			struct write_op op;
			change_to_op(&changes[i], &op);
			changes[i].outcome = submit(state, &op);
		}
		return;
	}
	for (size_t i = 0; i < count; i++)
		change_to_op(&changes[i], &ops[i]);
	submit_many(state, ops, count);
	for (size_t i = 0; i < count; i++)
		changes[i].outcome = ops[i].result;
	free(ops);
}

static enum job_store_result sqlite_retry(void *state, const char *id,
					  enum attempt_status attempt_status, const char *error,
					  int64_t next_attempt_at)
{
	struct write_op op = {.kind = OP_RETRY};

	op.u.retry.id = id;
	op.u.retry.attempt_status = attempt_status;
	op.u.retry.error = error;
	op.u.retry.next_attempt_at = next_attempt_at;
	return submit(state, &op);
}

static enum job_store_result sqlite_requeue(void *state, const char *id)
{
	struct write_op op = {.kind = OP_REQUEUE};

	op.u.requeue.id = id;
	return submit(state, &op);
}

static enum job_store_result sqlite_cancel(void *state, const char *id, const char *why,
					   enum job_status *was, struct job *out)
{
	struct write_op op = {.kind = OP_CANCEL};

	memset(out, 0, sizeof(*out));
	op.u.cancel.id = id;
	op.u.cancel.why = why;
	op.u.cancel.was = was;
	op.u.cancel.out = out;
	return submit(state, &op);
}

static enum job_store_result sqlite_note_late_result(void *state, const char *id, int number,
						     bool ok, const char *result, const char *error)
{
	struct write_op op = {.kind = OP_NOTE_LATE_RESULT};

	op.u.late.id = id;
	op.u.late.number = number;
	op.u.late.ok = ok;
	op.u.late.result = result;
	op.u.late.error = error;
	return submit(state, &op);
}

static enum job_store_result sqlite_prune(void *state, int64_t finished_before, size_t limit,
					  size_t *deleted)
{
	struct write_op op = {.kind = OP_PRUNE};

	op.u.prune.finished_before = finished_before;
	op.u.prune.limit = limit;
	op.u.prune.deleted = deleted;
	return submit(state, &op);
}

/* node->types as a compact JSON array (a new string, free()), or NULL if out of memory. */
static char *types_to_json(const struct node *node)
{
	json_t *array = json_array();
	char *text = NULL;

	if (array == NULL)
		return NULL;
	for (size_t i = 0; i < node->type_count; i++) {
		/* json_string refuses invalid UTF-8: such a type cannot be stored. */
		if (json_array_append_new(array, json_string(node->types[i])) != 0)
			goto out;
	}
	text = json_dumps(array, JSON_COMPACT);
out:
	json_decref(array);
	return text;
}

static enum job_store_result sqlite_put_node(void *state, const struct node *node)
{
	struct sqlite_store *ss = state;
	struct write_op op = {.kind = OP_PUT_NODE};
	enum job_store_result rc;
	char *types_json = types_to_json(node); /* here, not in the leader's critical path */

	if (types_json == NULL) {
		log_error(
			"job store %s: could not store node %s: its types are not valid UTF-8, or "
			"out of memory",
			ss->path, node->id);
		return JOB_STORE_ERROR;
	}
	op.u.put_node.node = node;
	op.u.put_node.types_json = types_json;
	rc = submit(ss, &op);
	free(types_json);
	return rc;
}

static enum job_store_result sqlite_delete_node(void *state, const char *id)
{
	struct write_op op = {.kind = OP_DELETE_NODE};

	op.u.delete_node.id = id;
	return submit(state, &op);
}

/* ---- reading ------------------------------------------------------------------------------ */

/* Logs a failed read with the path and SQLite's message (or "out of memory"). */
static void read_failed(struct sqlite_store *ss, const char *what, int code, const char *message)
{
	log_error("job store %s: %s: %s", ss->path, what,
		  code == SQLITE_NOMEM ? "out of memory or a bad row" : message);
}

static enum job_store_result sqlite_get(void *state, const char *id, struct job *out)
{
	struct sqlite_store *ss = state;
	struct reader *r = &ss->r;
	char message[WHY_SIZE] = "";
	int step;

	pthread_mutex_lock(&r->lock);
	/* One snapshot for the job and its attempts. */
	step = run_stmt(r->begin);
	if (step == SQLITE_DONE)
		step = read_full_job(r->get, r->attempts_of, id, out);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		snprintf(message, sizeof(message), "%s", sqlite3_errmsg(r->db));
	if (!sqlite3_get_autocommit(r->db))
		run_stmt(r->commit);
	pthread_mutex_unlock(&r->lock);
	if (step == SQLITE_ROW)
		return JOB_STORE_OK;
	if (step == SQLITE_DONE)
		return JOB_STORE_NOT_FOUND;
	read_failed(ss, "could not read a job", step, message);
	return JOB_STORE_ERROR;
}

/* Steps st (bound), appending rows to out, at most limit; *last_seq: the last one's seq. */
static int read_jobs(sqlite3_stmt *st, size_t limit, struct job_list *out, uint64_t *last_seq)
{
	size_t cap = 0;
	int step = SQLITE_DONE;

	while (out->count < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->count == cap) {
			size_t bigger_cap = cap ? cap * 2 : 64;
			struct job *bigger;
			if (bigger_cap > limit)
				bigger_cap = limit;
			bigger = realloc(out->items, bigger_cap * sizeof(*bigger));
			if (bigger == NULL)
				return SQLITE_NOMEM;
			out->items = bigger;
			cap = bigger_cap;
		}
		if (read_job(st, &out->items[out->count]) != 0)
			return SQLITE_NOMEM;
		if (last_seq != NULL) {
			*last_seq = (uint64_t)sqlite3_column_int64(st, JC_SEQ);
			out->items[out->count].store_seq = *last_seq;
		}
		out->count++;
	}
	return step == SQLITE_ROW ? SQLITE_DONE : step;
}

static enum job_store_result sqlite_list(void *state, const struct job_filter *filter,
					 struct job_list *out)
{
	struct sqlite_store *ss = state;
	struct reader *r = &ss->r;
	int variant = (filter->by_status ? LIST_BY_STATUS : 0) |
		      (filter->node_id != NULL ? LIST_BY_NODE : 0) |
		      (filter->type != NULL ? LIST_BY_TYPE : 0);
	sqlite3_stmt *st = r->list[variant];
	char message[WHY_SIZE] = "";
	int step;

	pthread_mutex_lock(&r->lock);
	if (bind_text_named(st, ":status",
			    filter->by_status ? job_status_name(filter->status) : NULL) !=
		    SQLITE_OK ||
	    bind_text_named(st, ":node_id", filter->node_id) != SQLITE_OK ||
	    bind_text_named(st, ":type", filter->type) != SQLITE_OK ||
	    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":limit"),
			       clamp_to_int64(filter->limit)) != SQLITE_OK)
		step = SQLITE_MISUSE;
	else
		step = read_jobs(st, filter->limit, out, NULL);
	if (step != SQLITE_DONE)
		snprintf(message, sizeof(message), "%s", sqlite3_errmsg(r->db));
	finish_stmt(st);
	pthread_mutex_unlock(&r->lock);
	if (step == SQLITE_DONE)
		return JOB_STORE_OK;
	read_failed(ss, "could not list jobs", step, message);
	job_list_clear(out);
	return JOB_STORE_ERROR;
}

/* The cursor is the seq (rowid) of the last job handed out; AUTOINCREMENT never reuses one. */
static enum job_store_result sqlite_list_page(void *state, enum job_status status,
					      uint64_t *cursor, size_t limit, struct job_list *out)
{
	struct sqlite_store *ss = state;
	struct reader *r = &ss->r;
	sqlite3_stmt *st = r->list_page;
	char message[WHY_SIZE] = "";
	uint64_t last = *cursor;
	int step;

	pthread_mutex_lock(&r->lock);
	if (bind_text(st, 1, job_status_name(status)) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (sqlite3_int64)*cursor) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, clamp_to_int64(limit)) != SQLITE_OK)
		step = SQLITE_MISUSE;
	else
		step = read_jobs(st, limit, out, &last);
	if (step != SQLITE_DONE)
		snprintf(message, sizeof(message), "%s", sqlite3_errmsg(r->db));
	finish_stmt(st);
	pthread_mutex_unlock(&r->lock);
	if (step == SQLITE_DONE) {
		*cursor = last;
		return JOB_STORE_OK;
	}
	read_failed(ss, "could not list jobs", step, message);
	job_list_clear(out);
	return JOB_STORE_ERROR;
}

static enum job_store_result sqlite_list_lost_attempts(void *state, const char *node_id,
						       struct lost_attempt **out, size_t *count)
{
	struct sqlite_store *ss = state;
	struct reader *r = &ss->r;
	sqlite3_stmt *st = r->lost;
	struct lost_attempt *lost = NULL;
	char message[WHY_SIZE] = "";
	size_t n = 0, cap = 0;
	int step;

	pthread_mutex_lock(&r->lock);
	step = bind_text(st, 1, node_id);
	while (step == SQLITE_OK || step == SQLITE_ROW) {
		if ((step = sqlite3_step(st)) != SQLITE_ROW)
			break;
		if (n == cap) {
			size_t bigger_cap = cap ? cap * 2 : 16;
			struct lost_attempt *bigger = realloc(lost, bigger_cap * sizeof(*bigger));
			if (bigger == NULL) {
				step = SQLITE_NOMEM;
				break;
			}
			lost = bigger;
			cap = bigger_cap;
		}
		memset(&lost[n], 0, sizeof(lost[n]));
		if (!column_copy_fixed(st, 0, lost[n].job_id, sizeof(lost[n].job_id))) {
			step = SQLITE_NOMEM;
			break;
		}
		lost[n].number = sqlite3_column_int(st, 1);
		n++;
	}
	if (step != SQLITE_DONE)
		snprintf(message, sizeof(message), "%s", sqlite3_errmsg(r->db));
	finish_stmt(st);
	pthread_mutex_unlock(&r->lock);
	if (step != SQLITE_DONE) {
		read_failed(ss, "could not list lost attempts", step, message);
		free(lost);
		return JOB_STORE_ERROR;
	}
	*out = lost;
	*count = n;
	return JOB_STORE_OK;
}

/* Reads a row of NODE_COLUMNS into out. Returns 0, or -1 (out cleared). */
static int read_node(sqlite3_stmt *st, struct node *out)
{
	const char *types_text = (const char *)sqlite3_column_text(st, NC_TYPES);
	json_t *types = types_text != NULL ? json_loads(types_text, 0, NULL) : NULL;
	bool failed =
		!column_copy_fixed(st, NC_ID, out->id, sizeof(out->id)) || !json_is_array(types);

	out->name = column_dup(st, NC_NAME, &failed);
	out->address = column_dup(st, NC_ADDRESS, &failed);
	out->capacity = sqlite3_column_int(st, NC_CAPACITY);
	out->registered_at = sqlite3_column_int64(st, NC_REGISTERED_AT);
	out->draining = sqlite3_column_int(st, NC_DRAINING) != 0;
	if (!failed && json_array_size(types) > 0) {
		out->types = calloc(json_array_size(types), sizeof(*out->types));
		failed = out->types == NULL;
		for (size_t i = 0; !failed && i < json_array_size(types); i++) {
			const char *type = json_string_value(json_array_get(types, i));
			out->types[i] = type != NULL ? strdup(type) : NULL;
			failed = out->types[i] == NULL;
			out->type_count = i + 1;
		}
	}
	json_decref(types);
	if (failed || out->name == NULL || out->address == NULL) {
		node_clear(out);
		return -1;
	}
	return 0;
}

static enum job_store_result sqlite_load_nodes(void *state, struct node **out, size_t *count)
{
	struct sqlite_store *ss = state;
	struct reader *r = &ss->r;
	sqlite3_stmt *st = r->nodes;
	struct node *nodes = NULL;
	char message[WHY_SIZE] = "";
	size_t n = 0, cap = 0;
	int step;

	pthread_mutex_lock(&r->lock);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t bigger_cap = cap ? cap * 2 : 16;
			struct node *bigger = realloc(nodes, bigger_cap * sizeof(*bigger));
			if (bigger == NULL) {
				step = SQLITE_NOMEM;
				break;
			}
			nodes = bigger;
			cap = bigger_cap;
		}
		memset(&nodes[n], 0, sizeof(nodes[n]));
		if (read_node(st, &nodes[n]) != 0) {
			step = SQLITE_NOMEM;
			break;
		}
		n++;
	}
	if (step != SQLITE_DONE)
		snprintf(message, sizeof(message), "%s", sqlite3_errmsg(r->db));
	finish_stmt(st);
	pthread_mutex_unlock(&r->lock);
	if (step != SQLITE_DONE) {
		read_failed(ss, "could not load the nodes", step, message);
		for (size_t i = 0; i < n; i++)
			node_clear(&nodes[i]);
		free(nodes);
		return JOB_STORE_ERROR;
	}
	*out = nodes;
	*count = n;
	return JOB_STORE_OK;
}

static void sqlite_count_by_status(void *state, size_t counts[JOB_STATUS_COUNT])
{
	struct sqlite_store *ss = state;
	pthread_mutex_lock(&ss->queue_lock);
	memcpy(counts, ss->counts, sizeof(ss->counts));
	pthread_mutex_unlock(&ss->queue_lock);
}

/* ---- close ------------------------------------------------------------------------------ */

static void finalize_all(sqlite3_stmt **first, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		sqlite3_finalize(first[i]);
		first[i] = NULL;
	}
}

/* Closes whatever open got to; also the failure path of open. */
static void close_store(struct sqlite_store *ss)
{
	struct writer *w = &ss->w;
	struct reader *r = &ss->r;
	sqlite3_stmt *reader_statements[] = {r->begin, r->commit, r->get, r->attempts_of,
					     r->list_page, r->lost, r->nodes};
	sqlite3_stmt *writer_statements[] = {
		w->begin,          w->commit,         w->rollback,      w->savepoint,
		w->release,        w->rollback_to,    w->insert_job,    w->job_by_id,
		w->job_by_key,     w->status_of,      w->attempts_of,   w->attempt_of,
		w->to_running,     w->to_finished,    w->to_retry,      w->to_requeue,
		w->to_cancelled,   w->insert_attempt, w->close_attempt, w->delete_attempt,
		w->attempt_status, w->supersede,      w->prune_counts,  w->prune_attempts,
		w->prune_jobs,     w->upsert_node,    w->delete_node,
	};

	finalize_all(reader_statements, sizeof(reader_statements) / sizeof(reader_statements[0]));
	finalize_all(r->list, LIST_VARIANTS);
	finalize_all(writer_statements, sizeof(writer_statements) / sizeof(writer_statements[0]));
	if (r->db != NULL && sqlite3_close(r->db) != SQLITE_OK)
		log_error("job store %s: closing the reader: %s", ss->path, sqlite3_errmsg(r->db));
	/* The last connection to close checkpoints the WAL; then the next coordinator may lock. */
	if (w->db != NULL && sqlite3_close(w->db) != SQLITE_OK)
		log_error("job store %s: closing: %s", ss->path, sqlite3_errmsg(w->db));
	if (ss->lock_fd >= 0)
		close(ss->lock_fd); /* releases the flock; the file stays (unlinking it would race) */
	if (ss->locks_made) {
		pthread_mutex_destroy(&r->lock);
		pthread_mutex_destroy(&ss->queue_lock);
	}
	free(ss->path);
	free(ss);
}

static void sqlite_destroy(void *state)
{
	close_store(state);
}

static const struct job_store_ops sqlite_ops = {
	.create = sqlite_create,
	.create_running = sqlite_create_running,
	.get = sqlite_get,
	.list = sqlite_list,
	.list_page = sqlite_list_page,
	.mark_running = sqlite_mark_running,
	.finish = sqlite_finish,
	.apply_changes = sqlite_apply_changes,
	.retry = sqlite_retry,
	.requeue = sqlite_requeue,
	.cancel = sqlite_cancel,
	.note_late_result = sqlite_note_late_result,
	.list_lost_attempts = sqlite_list_lost_attempts,
	.prune = sqlite_prune,
	.count_by_status = sqlite_count_by_status,
	.put_node = sqlite_put_node,
	.delete_node = sqlite_delete_node,
	.load_nodes = sqlite_load_nodes,
	.destroy = sqlite_destroy,
};

int job_store_sqlite_limit_pages(struct job_store *store, int pages)
{
	struct write_op op = {.kind = OP_LIMIT_PAGES};
	int limit = -1;

	if (store == NULL || store->ops != &sqlite_ops)
		return -1;
	op.u.limit_pages.pages = pages;
	op.u.limit_pages.limit = &limit;
	return submit(store->state, &op) == JOB_STORE_OK ? limit : -1;
}

/* ---- open ------------------------------------------------------------------------------ */

/* Takes the exclusive claim on "<path>.lock" and writes our pid into it. */
static int take_claim(struct sqlite_store *ss, char *err, size_t err_size)
{
	size_t lock_path_size = strlen(ss->path) + sizeof(".lock");
	char *lock_path = malloc(lock_path_size);
	char pid_text[32];
	int rc = -1;

	if (lock_path == NULL) {
		set_err(err, err_size, "cannot open the database %s: out of memory", ss->path);
		return -1;
	}
	snprintf(lock_path, lock_path_size, "%s.lock", ss->path);
	ss->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (ss->lock_fd < 0) {
		set_err(err, err_size,
			"cannot open the database %s: cannot create its lock file %s: %s "
			"(is the directory there and writable?)",
			ss->path, lock_path, strerror(errno));
		goto out;
	}
	if (flock(ss->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			ssize_t n = pread(ss->lock_fd, pid_text, sizeof(pid_text) - 1, 0);
			long pid = 0;
			pid_text[n > 0 ? n : 0] = '\0';
			if (sscanf(pid_text, "%ld", &pid) == 1 && pid > 0)
				set_err(err, err_size,
					"the database %s is in use by another coordinator (pid %ld "
					"holds %s); two coordinators cannot share one database",
					ss->path, pid, lock_path);
			else
				set_err(err, err_size,
					"the database %s is in use by another coordinator (pid "
					"unknown; "
					"it holds %s); two coordinators cannot share one database",
					ss->path, lock_path);
		} else {
			set_err(err, err_size, "cannot open the database %s: cannot lock %s: %s",
				ss->path, lock_path, strerror(errno));
		}
		goto out;
	}
	/* Who holds it, for the error of the next opener; best effort. */
	snprintf(pid_text, sizeof(pid_text), "%ld\n", (long)getpid());
	if (ftruncate(ss->lock_fd, 0) != 0 ||
	    pwrite(ss->lock_fd, pid_text, strlen(pid_text), 0) != (ssize_t)strlen(pid_text))
		log_warn("job store: could not write the pid into %s: %s", lock_path,
			 strerror(errno));
	rc = 0;
out:
	free(lock_path);
	return rc;
}

/* Runs one SQL text that returns at most one row; its first column as an integer. */
static int query_int(sqlite3 *db, const char *sql, sqlite3_int64 *out)
{
	sqlite3_stmt *st;
	int step;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	step = sqlite3_step(st);
	*out = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -1;
}

/* Brings the schema from whatever version the file has up to SCHEMA_VERSION. */
static int migrate(sqlite3 *db, const char *path, char *err, size_t err_size)
{
	sqlite3_int64 version, app_id, objects;
	char sql[96];

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto sql_error;
	if (query_int(db, "PRAGMA user_version", &version) != 0 ||
	    query_int(db, "PRAGMA application_id", &app_id) != 0 ||
	    query_int(db, "SELECT COUNT(*) FROM sqlite_schema", &objects) != 0)
		goto sql_error;
	if ((app_id != 0 && app_id != APPLICATION_ID) || (app_id == 0 && objects > 0)) {
		set_err(err, err_size,
			"the database %s belongs to another application (it is not a Planetary "
			"Mesh "
			"job database)",
			path);
		goto rollback;
	}
	if (version > SCHEMA_VERSION) {
		set_err(err, err_size,
			"the database %s has schema version %lld, newer than this coordinator "
			"knows "
			"(%d): use a newer mesh-coordinator",
			path, (long long)version, SCHEMA_VERSION);
		goto rollback;
	}
	if (version == SCHEMA_VERSION) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return 0;
	}
	for (sqlite3_int64 v = version < 0 ? 0 : version; v < SCHEMA_VERSION; v++) {
		if (sqlite3_exec(db, schema_steps[v], NULL, NULL, NULL) != SQLITE_OK)
			goto sql_error;
	}
	/* Our own constants, not input: pragmas take no bound parameters. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d",
		 SCHEMA_VERSION, APPLICATION_ID);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto sql_error;
	if (version > 0)
		log_info("job store %s: schema migrated from version %lld to %d", path,
			 (long long)version, SCHEMA_VERSION);
	return 0;

sql_error:
	set_err(err, err_size, "cannot set up the schema of the database %s: %s", path,
		sqlite3_errmsg(db));
rollback:
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
	return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
}

struct statement_text {
	sqlite3_stmt **stmt;
	const char *sql;
};

static int prepare_table(sqlite3 *db, const struct statement_text *table, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (prepare(db, table[i].sql, table[i].stmt) != SQLITE_OK)
			return -1;
	}
	return 0;
}

/*
 * OR FAIL on the statements that change one row: SQLite checks every
 * constraint of a row before it writes any of it, so a one-row statement
 * that fails has changed nothing, and FAIL spares SQLite the statement
 * journal it otherwise opens for each statement inside a transaction
 * (measured under ASan: 246 us a job in a batch create with it, 39 without).
 * A disk-full or I/O error in such a statement makes SQLite roll back the
 * whole transaction; run_together() sees that and reruns each op alone.
 */
static int prepare_writer(struct writer *w)
{
	const struct statement_text table[] = {
		{&w->begin, "BEGIN IMMEDIATE"},
		{&w->commit, "COMMIT"},
		{&w->rollback, "ROLLBACK"},
		{&w->savepoint, "SAVEPOINT op"},
		{&w->release, "RELEASE op"},
		{&w->rollback_to, "ROLLBACK TO op"},
		{&w->insert_job,
		 "INSERT OR FAIL INTO jobs (id, type, payload, status, node_id, created_at, "
		 "updated_at,"
		 " priority, timeout_ms, max_attempts, retry_on_failure, backoff_base_ms,"
		 " backoff_cap_ms, idempotency_key, attempt, next_attempt_at)"
		 " VALUES (?1, ?2, ?3, 'QUEUED', '', ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, 0)"},
		{&w->job_by_id, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?1"},
		{&w->job_by_key, "SELECT " JOB_COLUMNS " FROM jobs WHERE idempotency_key = ?1"},
		{&w->status_of, "SELECT status FROM jobs WHERE id = ?1"},
		{&w->attempts_of,
		 "SELECT " ATTEMPT_COLUMNS " FROM attempts WHERE job = ?1 ORDER BY number"},
		{&w->attempt_of, "SELECT attempt FROM jobs WHERE id = ?1"},
		{&w->to_running,
		 "UPDATE OR FAIL jobs SET status = 'RUNNING', node_id = ?2, updated_at = ?3,"
		 " attempt = attempt + 1, next_attempt_at = 0"
		 " WHERE id = ?1 AND status = 'QUEUED'"},
		{&w->to_finished,
		 "UPDATE OR FAIL jobs SET status = ?2, result = ?3, error = ?4, updated_at = ?5"
		 " WHERE id = ?1 AND status = 'RUNNING'"},
		{&w->to_retry,
		 "UPDATE OR FAIL jobs SET status = 'QUEUED', node_id = '', next_attempt_at = ?2,"
		 " updated_at = ?3 WHERE id = ?1 AND status = 'RUNNING'"},
		{&w->to_requeue,
		 "UPDATE OR FAIL jobs SET status = 'QUEUED', node_id = '', updated_at = ?2,"
		 " attempt = max(attempt - 1, 0) WHERE id = ?1 AND status = 'RUNNING'"},
		{&w->to_cancelled,
		 "UPDATE OR FAIL jobs SET status = 'CANCELLED', error = ?2, updated_at = ?3"
		 " WHERE id = ?1 AND (status = 'QUEUED' OR status = 'RUNNING')"},
		{&w->insert_attempt, "INSERT OR FAIL INTO attempts (job, number, node_id, "
				     "started_at, finished_at, status)"
				     " VALUES (?1, ?2, ?3, ?4, 0, 'RUNNING')"},
		{&w->close_attempt,
		 "UPDATE OR FAIL attempts SET status = ?3, error = ?4, finished_at = ?5"
		 " WHERE job = ?1 AND number = ?2 AND status = 'RUNNING'"},
		{&w->delete_attempt,
		 "DELETE FROM attempts WHERE job = ?1 AND number = ?2 AND status = 'RUNNING'"},
		{&w->attempt_status, "SELECT status FROM attempts WHERE job = ?1 AND number = ?2"},
		{&w->supersede,
		 "UPDATE OR FAIL attempts SET status = 'SUPERSEDED', result = ?3, error = ?4"
		 " WHERE job = ?1 AND number = ?2"},
		{&w->prune_counts,
		 "SELECT status, COUNT(*) FROM (SELECT status" PRUNABLE ") GROUP BY status"},
		{&w->prune_attempts, "DELETE FROM attempts WHERE job IN (SELECT id" PRUNABLE ")"},
		{&w->prune_jobs, "DELETE FROM jobs WHERE seq IN (SELECT seq" PRUNABLE ")"},
		{&w->upsert_node,
		 "INSERT INTO nodes (id, name, address, capacity, types, registered_at, draining)"
		 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET"
		 " name = excluded.name, address = excluded.address, capacity = excluded.capacity,"
		 " types = excluded.types, registered_at = excluded.registered_at,"
		 " draining = excluded.draining"},
		{&w->delete_node, "DELETE FROM nodes WHERE id = ?1"},
	};
	return prepare_table(w->db, table, sizeof(table) / sizeof(table[0]));
}

static int prepare_reader(struct reader *r)
{
	static const char *const conditions[] = {"status = :status", "node_id = :node_id",
						 "type = :type"};
	const struct statement_text table[] = {
		{&r->begin, "BEGIN"},
		{&r->commit, "COMMIT"},
		{&r->get, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?1"},
		{&r->attempts_of,
		 "SELECT " ATTEMPT_COLUMNS " FROM attempts WHERE job = ?1 ORDER BY number"},
		{&r->list_page,
		 "SELECT " JOB_COLUMNS ", seq FROM jobs WHERE status = ?1 AND seq > ?2"
		 " ORDER BY seq LIMIT ?3"},
		/* Oldest first: by start, submission order, then number (as the memory store). */
		{&r->lost, "SELECT a.job, a.number FROM attempts a JOIN jobs j ON j.id = a.job"
			   " WHERE a.node_id = ?1 AND a.status = 'LOST'"
			   " ORDER BY a.started_at, j.seq, a.number"},
		{&r->nodes, "SELECT " NODE_COLUMNS " FROM nodes ORDER BY seq"},
	};

	if (prepare_table(r->db, table, sizeof(table) / sizeof(table[0])) != 0)
		return -1;
	for (int variant = 0; variant < LIST_VARIANTS; variant++) {
		char sql[512];
		const char *sep = " WHERE ";
		size_t len = (size_t)snprintf(sql, sizeof(sql), "SELECT " JOB_COLUMNS " FROM jobs");
		for (int bit = 0; bit < 3; bit++) {
			if (variant & (1 << bit)) {
				len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s%s", sep,
							conditions[bit]);
				sep = " AND ";
			}
		}
		snprintf(sql + len, sizeof(sql) - len, " ORDER BY seq LIMIT :limit");
		if (prepare(r->db, sql, &r->list[variant]) != SQLITE_OK)
			return -1;
	}
	return 0;
}

static int load_counts(struct sqlite_store *ss, char *err, size_t err_size)
{
	sqlite3_stmt *st;
	int step;

	if (sqlite3_prepare_v2(ss->w.db, "SELECT status, COUNT(*) FROM jobs GROUP BY status", -1,
			       &st, NULL) != SQLITE_OK) {
		set_err(err, err_size, "cannot read the database %s: %s", ss->path,
			sqlite3_errmsg(ss->w.db));
		return -1;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		enum job_status status;
		if (name == NULL || job_status_parse(name, &status) != 0) {
			set_err(err, err_size,
				"the database %s has jobs with an unknown status '%s'", ss->path,
				name ? name : "(null)");
			sqlite3_finalize(st);
			return -1;
		}
		ss->counts[status] = (size_t)sqlite3_column_int64(st, 1);
	}
	if (step != SQLITE_DONE)
		set_err(err, err_size, "cannot read the database %s: %s", ss->path,
			sqlite3_errmsg(ss->w.db));
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : -1;
}

/*
 * The page size of a database this store creates. A commit writes every page
 * it touched whole, and a job touches about ten (its row, five indexes, its
 * attempt): with SQLite's default of 4096 bytes that was 65-100 KB written
 * per job at 1,000 jobs/s, with 1024 it is 21-34 KB, and fewer bytes per
 * fdatasync kept the disk from stalling the commits (docs/performance.md,
 * fifth round). An existing database keeps its own size.
 */
#define NEW_DATABASE_PAGE_SIZE "1024"

/* Opens the writer connection: WAL, synchronous FULL, a short busy timeout. */
static int open_writer(struct sqlite_store *ss, char *err, size_t err_size)
{
	sqlite3 **db = &ss->w.db;
	sqlite3_stmt *st = NULL;
	bool wal = false;

	if (sqlite3_open_v2(ss->path, db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    store_vfs_name()) != SQLITE_OK) {
		set_err(err, err_size, "cannot open the database %s: %s", ss->path,
			*db != NULL ? sqlite3_errmsg(*db) : "out of memory");
		return -1;
	}
	sqlite3_extended_result_codes(*db, 1);
	sqlite3_busy_timeout(*db, BUSY_TIMEOUT_MS);
	if (sqlite3_db_readonly(*db, "main") == 1) {
		set_err(err, err_size, "cannot open the database %s: it is read-only", ss->path);
		return -1;
	}
	/*
	 * Before anything writes: it only takes on a database that is still
	 * empty, and a file that is not a database fails at the next statement.
	 */
	sqlite3_exec(*db, "PRAGMA page_size = " NEW_DATABASE_PAGE_SIZE, NULL, NULL, NULL);
	/* The first statement reads the file: this is where "not a database" shows. */
	if (sqlite3_prepare_v2(*db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(st, 0);
		wal = mode != NULL && strcmp(mode, "wal") == 0;
	}
	if (!wal) {
		set_err(err, err_size, "cannot open the database %s: %s", ss->path,
			sqlite3_errcode(*db) != SQLITE_OK && sqlite3_errcode(*db) != SQLITE_ROW
				? sqlite3_errmsg(*db)
				: "it cannot use a write-ahead log (WAL) here");
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	if (sqlite3_exec(*db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
		set_err(err, err_size, "cannot open the database %s: %s", ss->path,
			sqlite3_errmsg(*db));
		return -1;
	}
	return 0;
}

/* Opens the reader connection, once the schema is in place: it never writes. */
static int open_reader(struct sqlite_store *ss, char *err, size_t err_size)
{
	sqlite3 **db = &ss->r.db;

	if (sqlite3_open_v2(ss->path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    store_vfs_name()) !=
		    SQLITE_OK ||
	    sqlite3_extended_result_codes(*db, 1) != SQLITE_OK ||
	    sqlite3_busy_timeout(*db, BUSY_TIMEOUT_MS) != SQLITE_OK ||
	    sqlite3_exec(*db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
		set_err(err, err_size, "cannot open the database %s for reading: %s", ss->path,
			*db != NULL ? sqlite3_errmsg(*db) : "out of memory");
		return -1;
	}
	return 0;
}

struct job_store *job_store_sqlite_open(const char *path, char *err, size_t err_size)
{
	struct job_store *store = NULL;
	struct sqlite_store *ss;
	struct stat st;

	set_err(err, err_size, "%s", "");
	if (path == NULL || path[0] == '\0' || strcmp(path, ":memory:") == 0) {
		set_err(err, err_size, "the job database needs the path of a file");
		return NULL;
	}
	if (sqlite3_threadsafe() == 0) {
		set_err(err, err_size, "this SQLite library was built without thread support");
		return NULL;
	}
	ss = calloc(1, sizeof(*ss));
	if (ss == NULL || (ss->path = strdup(path)) == NULL) {
		set_err(err, err_size, "cannot open the database %s: out of memory", path);
		free(ss);
		return NULL;
	}
	ss->lock_fd = -1;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		set_err(err, err_size, "cannot open the database %s: it is a directory", path);
		goto fail;
	}
	if (take_claim(ss, err, err_size) != 0 || open_writer(ss, err, err_size) != 0 ||
	    migrate(ss->w.db, ss->path, err, err_size) != 0)
		goto fail;
	if (prepare_writer(&ss->w) != 0) {
		set_err(err, err_size, "cannot prepare the statements for the database %s: %s",
			ss->path, sqlite3_errmsg(ss->w.db));
		goto fail;
	}
	if (load_counts(ss, err, err_size) != 0 || open_reader(ss, err, err_size) != 0)
		goto fail;
	if (prepare_reader(&ss->r) != 0) {
		set_err(err, err_size, "cannot prepare the statements for the database %s: %s",
			ss->path, sqlite3_errmsg(ss->r.db));
		goto fail;
	}
	store = calloc(1, sizeof(*store));
	if (store == NULL) {
		set_err(err, err_size, "cannot open the database %s: out of memory", path);
		goto fail;
	}
	pthread_mutex_init(&ss->queue_lock, NULL);
	pthread_mutex_init(&ss->r.lock, NULL);
	ss->locks_made = true;
	store->ops = &sqlite_ops;
	store->state = ss;
	return store;
fail:
	close_store(ss);
	return NULL;
}
