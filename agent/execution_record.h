/*
 * execution_record: what this agent remembers of the jobs it ran, so that a
 * coordinator that lost an answer (its own restart, a broken connection) can
 * learn the outcome without running the job twice.
 *
 * A record is one attempt of a job: (job id, attempt), attempt >= 1. Each is
 * RUNNING from the moment the attempt takes its slot until it ends, then
 * FINISHED with the exact answer the agent sent to POST /execute (HTTP status
 * and body), and the wall-clock times it started and finished. A new attempt
 * of a job is a new record: a retry runs again, a repeat of one attempt does
 * not. Lookups that take attempt 0 mean the newest attempt of the job this
 * record knows.
 *
 * Bounds: FINISHED records are kept for at most max_age_ms after they finished
 * and at most max_finished of them; past either bound the oldest finished are
 * dropped first. RUNNING records are never dropped (their number is bounded by
 * the executor's slots). Expired records are dropped lazily, on every call
 * that takes a now_ms.
 *
 * Time: every call that needs the time takes now_ms (wall-clock milliseconds
 * since the epoch, clock_wall_ms() in the daemon), so tests can drive age
 * explicitly. Records are aged in the order they finished: if the wall clock
 * steps back, records finished later are not dropped before older ones.
 *
 * Threads: every function may be called from any thread at once, except
 * execution_record_free. One mutex inside the record guards the whole table
 * (the hash index, the finish-order list and the counts); it is never held
 * while calling out of this module, and callers get copies. A condition
 * variable, broadcast whenever a record finishes, lets
 * execution_record_wait_finished wait for one job.
 *
 * Ownership: job ids and bodies passed in are copied. Entries handed out are
 * copies owned by the caller (release with execution_record_entry_clear).
 */
#ifndef MESH_AGENT_EXECUTION_RECORD_H
#define MESH_AGENT_EXECUTION_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define EXECUTION_RECORD_MAX_FINISHED 10000          /* the daemon's count bound */
#define EXECUTION_RECORD_MAX_AGE_MS (60 * 60 * 1000) /* the daemon's age bound: one hour */

enum execution_state {
	EXECUTION_RUNNING,
	EXECUTION_FINISHED,
};

/* A copy of one record. */
struct execution_record_entry {
	char job_id[MESH_ID_SIZE];
	int attempt;         /* >= 1 */
	enum execution_state state;
	int64_t started_ms;  /* wall clock, ms since the epoch */
	int64_t finished_ms; /* FINISHED only, else 0 */
	int http_status;     /* FINISHED only: the status POST /execute answered (200, 422, 500, 503) */
	char *body;          /* FINISHED only: owned; the exact body answered. NULL if the agent ran
				out of memory recording it (http_status is then 500) */
};

enum execution_record_begin {
	EXECUTION_RECORD_BEGUN, /* the attempt is now RUNNING: the caller runs it, then calls execution_record_finish */
	EXECUTION_RECORD_KNOWN, /* the attempt was already recorded; *existing holds a copy; nothing changed */
	EXECUTION_RECORD_NOMEM, /* out of memory; nothing changed */
};

struct execution_record;

/*
 * Returns a new, empty record keeping at most max_finished (>= 1) finished
 * records for at most max_age_ms (>= 1) each (a record is dropped once now_ms - finished_ms >= max_age_ms), or NULL on bad bounds or out of
 * memory.
 */
struct execution_record *execution_record_new(size_t max_finished, int64_t max_age_ms);

/* Frees rec and every record in it. No other thread may be using it. NULL is a no-op. */
void execution_record_free(struct execution_record *rec);

/*
 * Records attempt (>= 1) of job_id as RUNNING since now_ms, unless it is
 * already known (RUNNING or FINISHED, not expired): then fills *existing with
 * a copy and changes nothing. The check and the insert are one step under the
 * lock, so of two concurrent calls for one attempt exactly one gets
 * EXECUTION_RECORD_BEGUN. existing may be NULL when the caller does not need
 * the copy. job_id must be 1 to MESH_ID_SIZE - 1 bytes and attempt >= 1; a
 * call that breaks this gets EXECUTION_RECORD_NOMEM (the wire decoder never
 * lets one through).
 */
enum execution_record_begin execution_record_begin(struct execution_record *rec, const char *job_id,
						   int attempt, int64_t now_ms,
						   struct execution_record_entry *existing);

/*
 * Marks attempt of job_id, which must be RUNNING, FINISHED at now_ms with the answer
 * (http_status, body; body is copied). If the copy fails for lack of memory,
 * the record still becomes FINISHED, with http_status 500 and body NULL: a
 * finished job must never look RUNNING forever. Then drops finished records
 * past the bounds. Returns 0, or -1 if job_id is not RUNNING (nothing changed).
 */
int execution_record_finish(struct execution_record *rec, const char *job_id, int attempt,
			    int64_t now_ms, int http_status, const char *body);

/*
 * Drops expired records, then copies the record of attempt of job_id (0: its
 * newest attempt) into *out. Returns true if found; false (out zeroed) if
 * this record does not know it, or out of memory copying the body.
 */
bool execution_record_get(struct execution_record *rec, const char *job_id, int attempt,
			  int64_t now_ms, struct execution_record_entry *out);

/*
 * Waits until attempt (>= 1) of job_id is not RUNNING any more (FINISHED, or
 * unknown), or timeout_ms have passed (measured on the monotonic clock).
 * Returns true if it is not RUNNING. Read the record afterwards with
 * execution_record_get.
 */
bool execution_record_wait_finished(struct execution_record *rec, const char *job_id, int attempt,
				    long timeout_ms);

/* Drops expired records, then counts. Either pointer may be NULL. For tests and diagnostics. */
void execution_record_counts(struct execution_record *rec, int64_t now_ms, size_t *running,
			     size_t *finished);

/* Frees entry->body and zeroes entry. */
void execution_record_entry_clear(struct execution_record_entry *entry);

#endif
