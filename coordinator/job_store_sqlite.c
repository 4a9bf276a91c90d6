/*
 * The SQLite job store: the same interface and life cycle as the in-memory
 * store, kept in one database file so that jobs survive a restart.
 *
 * Durability: journal_mode=WAL, synchronous=FULL. Every operation is one
 * autocommit statement (one transaction), and SQLite fsyncs the WAL before
 * the commit returns, so an operation that answered JOB_STORE_OK is on disk
 * (a 201 survives kill -9 and power loss). Group commit comes later.
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
 *
 * Lock: sqlite_store.lock (a mutex) guards the connection, every prepared
 * statement and counts[]. The connection is opened SQLITE_OPEN_NOMUTEX because
 * that mutex already serialises it. The lock is never held while calling out
 * of this file (errors are logged after unlocking). counts[] is computed at
 * open with GROUP BY status and then kept up to date by each change.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "job_store.h"
#include "log.h"

#define BUSY_TIMEOUT_MS 250
#define APPLICATION_ID 0x4d455348 /* "MESH" */
#define ID_ATTEMPTS 100           /* fresh ids tried before create gives up */
#define WHY_SIZE 256

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
};

#define SCHEMA_VERSION ((int)(sizeof(schema_steps) / sizeof(schema_steps[0])))

#define JOB_COLUMNS "id, type, payload, status, node_id, created_at, updated_at, result, error"

/* list statements, one per combination of filters: bit 0 status, 1 node_id, 2 type. */
#define LIST_BY_STATUS 1
#define LIST_BY_NODE 2
#define LIST_BY_TYPE 4
#define LIST_VARIANTS 8

struct sqlite_store {
	pthread_mutex_t lock;
	sqlite3 *db;
	sqlite3_stmt *insert;
	sqlite3_stmt *get;
	sqlite3_stmt *status_of;
	sqlite3_stmt *mark_running;
	sqlite3_stmt *finish;
	sqlite3_stmt *requeue;
	sqlite3_stmt *list[LIST_VARIANTS];
	sqlite3_stmt *list_page; /* JOB_COLUMNS, then seq */
	size_t counts[JOB_STATUS_COUNT];
	int lock_fd; /* holds the flock on "<path>.lock" until destroy */
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

/* Resets st and drops its bindings (they point at the caller's strings). */
static void finish_stmt(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Notes SQLite's last error on the connection, for logging once unlocked. */
static void note_error(struct sqlite_store *ss, const char *what, char *why)
{
	snprintf(why, WHY_SIZE, "%s: %s", what, sqlite3_errmsg(ss->db));
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

/* Reads a row of JOB_COLUMNS into out (a deep copy). Returns 0, or -1 (out cleared). */
static int read_job(sqlite3_stmt *st, struct job *out)
{
	const char *status = (const char *)sqlite3_column_text(st, 3);
	bool failed = false;

	memset(out, 0, sizeof(*out));
	if (!column_copy_fixed(st, 0, out->id, sizeof(out->id)) ||
	    !column_copy_fixed(st, 4, out->node_id, sizeof(out->node_id)) || status == NULL ||
	    job_status_parse(status, &out->status) != 0)
		failed = true;
	out->created_at = sqlite3_column_int64(st, 5);
	out->updated_at = sqlite3_column_int64(st, 6);
	out->type = column_dup(st, 1, &failed);
	out->payload = column_dup(st, 2, &failed);
	out->result = column_dup(st, 7, &failed);
	out->error = column_dup(st, 8, &failed);
	if (failed || out->type == NULL || out->payload == NULL) {
		job_clear(out);
		return -1;
	}
	return 0;
}

/* ---- operations ---------------------------------------------------------------------- */

static enum job_store_result sqlite_create(void *state, const char *type, const char *payload,
					   struct job *out)
{
	struct sqlite_store *ss = state;
	enum job_store_result rc = JOB_STORE_ERROR;
	char why[WHY_SIZE] = "";
	struct job job = {0};

	memset(out, 0, sizeof(*out));
	job.type = strdup(type);
	job.payload = strdup(payload);
	if (job.type == NULL || job.payload == NULL) {
		job_clear(&job);
		return JOB_STORE_ERROR;
	}
	job.status = JOB_QUEUED;

	pthread_mutex_lock(&ss->lock);
	job.created_at = job.updated_at = clock_wall_ms();
	for (int attempt = 0; attempt < ID_ATTEMPTS; attempt++) {
		sqlite3_stmt *st = ss->insert;
		int step;

		/* 48 random bits: a collision is unlikely, but the UNIQUE id refuses it. */
		mesh_new_id('j', job.id, sizeof(job.id));
		if (bind_text(st, 1, job.id) != SQLITE_OK || bind_text(st, 2, type) != SQLITE_OK ||
		    bind_text(st, 3, payload) != SQLITE_OK ||
		    bind_text(st, 4, job_status_name(JOB_QUEUED)) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 5, job.created_at) != SQLITE_OK) {
			note_error(ss, "could not store a new job", why);
			finish_stmt(st);
			break;
		}
		step = sqlite3_step(st);
		finish_stmt(st);
		if (step == SQLITE_DONE) {
			ss->counts[JOB_QUEUED]++;
			rc = JOB_STORE_OK;
			break;
		}
		if (step != SQLITE_CONSTRAINT_UNIQUE) {
			note_error(ss, "could not store a new job", why);
			break;
		}
	}
	if (rc != JOB_STORE_OK && why[0] == '\0')
		snprintf(why, sizeof(why), "could not store a new job: no free id after %d tries",
			 ID_ATTEMPTS);
	pthread_mutex_unlock(&ss->lock);

	if (rc == JOB_STORE_OK) {
		*out = job; /* the caller takes the strings */
	} else {
		log_error("job store: %s", why);
		job_clear(&job);
	}
	return rc;
}

static enum job_store_result sqlite_get(void *state, const char *id, struct job *out)
{
	struct sqlite_store *ss = state;
	enum job_store_result rc = JOB_STORE_ERROR;
	sqlite3_stmt *st = ss->get;
	char why[WHY_SIZE] = "";
	int step;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&ss->lock);
	if (bind_text(st, 1, id) != SQLITE_OK) {
		note_error(ss, "could not read a job", why);
	} else if ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_job(st, out) == 0)
			rc = JOB_STORE_OK;
		else
			snprintf(why, sizeof(why), "could not read job %s (out of memory or a bad row)",
				 id);
	} else if (step == SQLITE_DONE) {
		rc = JOB_STORE_NOT_FOUND;
	} else {
		note_error(ss, "could not read a job", why);
	}
	finish_stmt(st);
	pthread_mutex_unlock(&ss->lock);
	if (rc == JOB_STORE_ERROR)
		log_error("job store: %s", why);
	return rc;
}

static enum job_store_result sqlite_list(void *state, const struct job_filter *filter,
					 struct job_list *out)
{
	struct sqlite_store *ss = state;
	enum job_store_result rc = JOB_STORE_OK;
	int variant = (filter->by_status ? LIST_BY_STATUS : 0) |
		      (filter->node_id != NULL ? LIST_BY_NODE : 0) |
		      (filter->type != NULL ? LIST_BY_TYPE : 0);
	sqlite3_stmt *st = ss->list[variant];
	char why[WHY_SIZE] = "";
	size_t cap = 0;
	int step = SQLITE_DONE;

	out->items = NULL;
	out->count = 0;
	pthread_mutex_lock(&ss->lock);
	if (bind_text_named(st, ":status",
			    filter->by_status ? job_status_name(filter->status) : NULL) != SQLITE_OK ||
	    bind_text_named(st, ":node_id", filter->node_id) != SQLITE_OK ||
	    bind_text_named(st, ":type", filter->type) != SQLITE_OK ||
	    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":limit"),
			       (sqlite3_int64)filter->limit) != SQLITE_OK) {
		note_error(ss, "could not list jobs", why);
		rc = JOB_STORE_ERROR;
	}
	while (rc == JOB_STORE_OK && out->count < filter->limit &&
	       (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->count == cap) {
			size_t bigger_cap = cap ? cap * 2 : 64;
			struct job *bigger;
			if (bigger_cap > filter->limit)
				bigger_cap = filter->limit;
			bigger = realloc(out->items, bigger_cap * sizeof(*bigger));
			if (bigger == NULL) {
				snprintf(why, sizeof(why), "could not list jobs: out of memory");
				rc = JOB_STORE_ERROR;
				break;
			}
			out->items = bigger;
			cap = bigger_cap;
		}
		if (read_job(st, &out->items[out->count]) != 0) {
			snprintf(why, sizeof(why), "could not list jobs: out of memory or a bad row");
			rc = JOB_STORE_ERROR;
			break;
		}
		out->count++;
	}
	if (rc == JOB_STORE_OK && out->count < filter->limit && step != SQLITE_DONE) {
		note_error(ss, "could not list jobs", why);
		rc = JOB_STORE_ERROR;
	}
	finish_stmt(st);
	pthread_mutex_unlock(&ss->lock);
	if (rc != JOB_STORE_OK) {
		log_error("job store: %s", why);
		job_list_clear(out);
	}
	return rc;
}

/*
 * Runs st, an UPDATE ... WHERE id = ? AND status = <from> already bound, and
 * answers whether it changed the job; if not, whether the job exists at all.
 * Keeps counts[] in step. Caller holds the lock; st is reset here.
 */
static enum job_store_result run_transition(struct sqlite_store *ss, sqlite3_stmt *st,
					    const char *id, enum job_status from,
					    enum job_status to, char *why)
{
	enum job_store_result rc;
	int step = sqlite3_step(st);

	if (step != SQLITE_DONE) {
		note_error(ss, "could not change a job", why);
		finish_stmt(st);
		return JOB_STORE_ERROR;
	}
	finish_stmt(st);
	if (sqlite3_changes(ss->db) == 1) {
		ss->counts[from]--;
		ss->counts[to]++;
		return JOB_STORE_OK;
	}
	/* Nothing changed: the job is missing or in another status. */
	if (bind_text(ss->status_of, 1, id) != SQLITE_OK) {
		note_error(ss, "could not read a job", why);
		rc = JOB_STORE_ERROR;
	} else {
		step = sqlite3_step(ss->status_of);
		if (step == SQLITE_ROW) {
			rc = JOB_STORE_CONFLICT;
		} else if (step == SQLITE_DONE) {
			rc = JOB_STORE_NOT_FOUND;
		} else {
			note_error(ss, "could not read a job", why);
			rc = JOB_STORE_ERROR;
		}
	}
	finish_stmt(ss->status_of);
	return rc;
}

static enum job_store_result sqlite_mark_running(void *state, const char *id, const char *node_id)
{
	struct sqlite_store *ss = state;
	sqlite3_stmt *st = ss->mark_running;
	enum job_store_result rc = JOB_STORE_ERROR;
	char why[WHY_SIZE] = "";
	/* As in the memory store, a node id is cut to what struct job holds. */
	size_t node_len = node_id != NULL ? strnlen(node_id, MESH_ID_SIZE - 1) : 0;

	pthread_mutex_lock(&ss->lock);
	if (node_id == NULL ||
	    sqlite3_bind_text(st, 1, job_status_name(JOB_RUNNING), -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, node_id, (int)node_len, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, clock_wall_ms()) != SQLITE_OK || bind_text(st, 4, id) != SQLITE_OK ||
	    bind_text(st, 5, job_status_name(JOB_QUEUED)) != SQLITE_OK) {
		snprintf(why, sizeof(why), "could not mark job %s running: bad arguments", id);
		finish_stmt(st);
	} else {
		rc = run_transition(ss, st, id, JOB_QUEUED, JOB_RUNNING, why);
	}
	pthread_mutex_unlock(&ss->lock);
	if (rc == JOB_STORE_ERROR)
		log_error("job store: %s", why);
	return rc;
}

static enum job_store_result sqlite_finish(void *state, const char *id, enum job_status status,
					   const char *result, const char *error)
{
	struct sqlite_store *ss = state;
	sqlite3_stmt *st = ss->finish;
	enum job_store_result rc = JOB_STORE_ERROR;
	char why[WHY_SIZE] = "";

	pthread_mutex_lock(&ss->lock);
	if (bind_text(st, 1, job_status_name(status)) != SQLITE_OK ||
	    bind_text(st, 2, result) != SQLITE_OK || bind_text(st, 3, error) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, clock_wall_ms()) != SQLITE_OK || bind_text(st, 5, id) != SQLITE_OK ||
	    bind_text(st, 6, job_status_name(JOB_RUNNING)) != SQLITE_OK) {
		note_error(ss, "could not record a job's outcome", why);
		finish_stmt(st);
	} else {
		rc = run_transition(ss, st, id, JOB_RUNNING, status, why);
	}
	pthread_mutex_unlock(&ss->lock);
	if (rc == JOB_STORE_ERROR)
		log_error("job store: %s", why);
	return rc;
}

static enum job_store_result sqlite_requeue(void *state, const char *id)
{
	struct sqlite_store *ss = state;
	sqlite3_stmt *st = ss->requeue;
	enum job_store_result rc = JOB_STORE_ERROR;
	char why[WHY_SIZE] = "";

	pthread_mutex_lock(&ss->lock);
	if (bind_text(st, 1, job_status_name(JOB_QUEUED)) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, clock_wall_ms()) != SQLITE_OK || bind_text(st, 3, id) != SQLITE_OK ||
	    bind_text(st, 4, job_status_name(JOB_RUNNING)) != SQLITE_OK) {
		note_error(ss, "could not requeue a job", why);
		finish_stmt(st);
	} else {
		rc = run_transition(ss, st, id, JOB_RUNNING, JOB_QUEUED, why);
	}
	pthread_mutex_unlock(&ss->lock);
	if (rc == JOB_STORE_ERROR)
		log_error("job store: %s", why);
	return rc;
}

/* The cursor is the seq (rowid) of the last job handed out; AUTOINCREMENT never reuses one. */
static enum job_store_result sqlite_list_page(void *state, enum job_status status,
					      uint64_t *cursor, size_t limit, struct job_list *out)
{
	struct sqlite_store *ss = state;
	sqlite3_stmt *st = ss->list_page;
	enum job_store_result rc = JOB_STORE_OK;
	char why[WHY_SIZE] = "";
	sqlite3_int64 last = (sqlite3_int64)*cursor;
	int step = SQLITE_DONE;

	out->items = calloc(limit, sizeof(struct job));
	if (out->items == NULL)
		return JOB_STORE_ERROR;
	pthread_mutex_lock(&ss->lock);
	if (bind_text(st, 1, job_status_name(status)) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, last) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit) != SQLITE_OK) {
		note_error(ss, "could not list jobs", why);
		rc = JOB_STORE_ERROR;
	}
	while (rc == JOB_STORE_OK && out->count < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_job(st, &out->items[out->count]) != 0) {
			snprintf(why, sizeof(why), "could not list jobs: out of memory or a bad row");
			rc = JOB_STORE_ERROR;
			break;
		}
		last = sqlite3_column_int64(st, 9);
		out->count++;
	}
	if (rc == JOB_STORE_OK && out->count < limit && step != SQLITE_DONE) {
		note_error(ss, "could not list jobs", why);
		rc = JOB_STORE_ERROR;
	}
	finish_stmt(st);
	pthread_mutex_unlock(&ss->lock);
	if (rc != JOB_STORE_OK) {
		log_error("job store: %s", why);
		job_list_clear(out);
	} else {
		*cursor = (uint64_t)last;
	}
	return rc;
}

static void sqlite_count_by_status(void *state, size_t counts[JOB_STATUS_COUNT])
{
	struct sqlite_store *ss = state;
	pthread_mutex_lock(&ss->lock);
	memcpy(counts, ss->counts, sizeof(ss->counts));
	pthread_mutex_unlock(&ss->lock);
}

/* Closes whatever open_store got to; also the failure path of open. */
static void close_store(struct sqlite_store *ss)
{
	sqlite3_finalize(ss->insert);
	sqlite3_finalize(ss->get);
	sqlite3_finalize(ss->status_of);
	sqlite3_finalize(ss->mark_running);
	sqlite3_finalize(ss->finish);
	sqlite3_finalize(ss->requeue);
	for (int i = 0; i < LIST_VARIANTS; i++)
		sqlite3_finalize(ss->list[i]);
	sqlite3_finalize(ss->list_page);
	/* Closing checkpoints the WAL; only then may the next coordinator take the lock. */
	if (ss->db != NULL && sqlite3_close(ss->db) != SQLITE_OK)
		log_error("job store: closing %s: %s", ss->path, sqlite3_errmsg(ss->db));
	if (ss->lock_fd >= 0)
		close(ss->lock_fd); /* releases the flock; the file stays (unlinking it would race) */
	free(ss->path);
	free(ss);
}

static void sqlite_destroy(void *state)
{
	struct sqlite_store *ss = state;
	pthread_mutex_destroy(&ss->lock);
	close_store(ss);
}

static const struct job_store_ops sqlite_ops = {
	.create = sqlite_create,
	.get = sqlite_get,
	.list = sqlite_list,
	.mark_running = sqlite_mark_running,
	.finish = sqlite_finish,
	.requeue = sqlite_requeue,
	.count_by_status = sqlite_count_by_status,
	.destroy = sqlite_destroy,
	.list_page = sqlite_list_page,
};

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
					"the database %s is in use by another coordinator (pid unknown; "
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
		log_warn("job store: could not write the pid into %s: %s", lock_path, strerror(errno));
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
			"the database %s belongs to another application (it is not a Planetary Mesh "
			"job database)",
			path);
		goto rollback;
	}
	if (version > SCHEMA_VERSION) {
		set_err(err, err_size,
			"the database %s has schema version %lld, newer than this coordinator knows "
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

static int prepare_all(struct sqlite_store *ss)
{
	static const char *const conditions[] = {"status = :status", "node_id = :node_id",
						 "type = :type"};
	sqlite3 *db = ss->db;

	if (prepare(db,
		    "INSERT INTO jobs (id, type, payload, status, node_id, created_at, updated_at)"
		    " VALUES (?1, ?2, ?3, ?4, '', ?5, ?5)",
		    &ss->insert) != SQLITE_OK ||
	    prepare(db, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?1", &ss->get) != SQLITE_OK ||
	    prepare(db, "SELECT status FROM jobs WHERE id = ?1", &ss->status_of) != SQLITE_OK ||
	    prepare(db,
		    "UPDATE jobs SET status = ?1, node_id = ?2, updated_at = ?3"
		    " WHERE id = ?4 AND status = ?5",
		    &ss->mark_running) != SQLITE_OK ||
	    prepare(db,
		    "UPDATE jobs SET status = ?1, result = ?2, error = ?3, updated_at = ?4"
		    " WHERE id = ?5 AND status = ?6",
		    &ss->finish) != SQLITE_OK ||
	    prepare(db,
		    "UPDATE jobs SET status = ?1, node_id = '', updated_at = ?2"
		    " WHERE id = ?3 AND status = ?4",
		    &ss->requeue) != SQLITE_OK ||
	    prepare(db,
		    "SELECT " JOB_COLUMNS ", seq FROM jobs WHERE status = ?1 AND seq > ?2"
		    " ORDER BY seq LIMIT ?3",
		    &ss->list_page) != SQLITE_OK)
		return -1;
	for (int variant = 0; variant < LIST_VARIANTS; variant++) {
		char sql[256];
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
		if (prepare(db, sql, &ss->list[variant]) != SQLITE_OK)
			return -1;
	}
	return 0;
}

static int load_counts(struct sqlite_store *ss, char *err, size_t err_size)
{
	sqlite3_stmt *st;
	int step;

	if (sqlite3_prepare_v2(ss->db, "SELECT status, COUNT(*) FROM jobs GROUP BY status", -1, &st,
			       NULL) != SQLITE_OK) {
		set_err(err, err_size, "cannot read the database %s: %s", ss->path,
			sqlite3_errmsg(ss->db));
		return -1;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		enum job_status status;
		if (name == NULL || job_status_parse(name, &status) != 0) {
			set_err(err, err_size, "the database %s has jobs with an unknown status '%s'",
				ss->path, name ? name : "(null)");
			sqlite3_finalize(st);
			return -1;
		}
		ss->counts[status] = (size_t)sqlite3_column_int64(st, 1);
	}
	if (step != SQLITE_DONE)
		set_err(err, err_size, "cannot read the database %s: %s", ss->path,
			sqlite3_errmsg(ss->db));
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : -1;
}

/* Opens the connection: WAL, synchronous FULL, a short busy timeout. */
static int open_database(struct sqlite_store *ss, char *err, size_t err_size)
{
	sqlite3_stmt *st = NULL;
	bool wal = false;

	if (sqlite3_open_v2(ss->path, &ss->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		set_err(err, err_size, "cannot open the database %s: %s", ss->path,
			ss->db != NULL ? sqlite3_errmsg(ss->db) : "out of memory");
		return -1;
	}
	sqlite3_extended_result_codes(ss->db, 1);
	sqlite3_busy_timeout(ss->db, BUSY_TIMEOUT_MS);
	if (sqlite3_db_readonly(ss->db, "main") == 1) {
		set_err(err, err_size, "cannot open the database %s: it is read-only", ss->path);
		return -1;
	}
	/* The first statement reads the file: this is where "not a database" shows. */
	if (sqlite3_prepare_v2(ss->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(st, 0);
		wal = mode != NULL && strcmp(mode, "wal") == 0;
	}
	if (!wal) {
		set_err(err, err_size, "cannot open the database %s: %s", ss->path,
			sqlite3_errcode(ss->db) != SQLITE_OK && sqlite3_errcode(ss->db) != SQLITE_ROW
				? sqlite3_errmsg(ss->db)
				: "it cannot use a write-ahead log (WAL) here");
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	if (sqlite3_exec(ss->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
		set_err(err, err_size, "cannot open the database %s: %s", ss->path,
			sqlite3_errmsg(ss->db));
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
	if (take_claim(ss, err, err_size) != 0 || open_database(ss, err, err_size) != 0 ||
	    migrate(ss->db, ss->path, err, err_size) != 0)
		goto fail;
	if (prepare_all(ss) != 0) {
		set_err(err, err_size, "cannot prepare the statements for the database %s: %s",
			ss->path, sqlite3_errmsg(ss->db));
		goto fail;
	}
	if (load_counts(ss, err, err_size) != 0)
		goto fail;
	store = calloc(1, sizeof(*store));
	if (store == NULL) {
		set_err(err, err_size, "cannot open the database %s: out of memory", path);
		goto fail;
	}
	pthread_mutex_init(&ss->lock, NULL);
	store->ops = &sqlite_ops;
	store->state = ss;
	return store;
fail:
	close_store(ss);
	return NULL;
}
