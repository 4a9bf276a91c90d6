/*
 * executor: runs the agent's jobs, owns its slots, and stops jobs early
 * (timeout, cancel, drain).
 *
 * Job types:
 *   echo   output = payload.
 *   sleep  payload = whole milliseconds 0..EXECUTOR_SLEEP_MAX_MS of simulated
 *          work; output "slept N ms".
 *   TYPE   from --handler TYPE=COMMAND: COMMAND (split by command_line.h, no
 *          shell) is started with posix_spawnp in a process group of its own,
 *          with the payload on stdin. Exit status 0 is success with output =
 *          stdout (the first EXECUTOR_OUTPUT_LIMIT bytes); anything else is a
 *          failure whose error gives the exit status or signal and the last
 *          EXECUTOR_STDERR_TAIL bytes of stderr. When the handler's main
 *          process ends, whatever else is left in its process group is killed:
 *          a finished job leaves no processes behind.
 *
 * Jobs and slots: executor_try_acquire takes a slot for one job id and
 * returns its struct executor_job, which executor_run runs and
 * executor_release gives back. The job is known to the executor (to
 * executor_cancel, to executor_cancel_all) from executor_try_acquire to
 * executor_release, so a cancel that arrives before the job has started
 * stops it before it starts.
 *
 * Stopping a job early: a job stops when its timeout_ms has passed (counted
 * from the start of executor_run; a watchdog thread of the executor enforces
 * it), on executor_cancel, or on executor_cancel_all. A stopped handler's
 * whole process group gets SIGKILL at once, children and grandchildren
 * included (a process that left the group with setsid/setpgid escapes: the
 * group is all the agent can name); a sleep ends at once. Its outcome is EXECUTOR_TIMED_OUT or
 * EXECUTOR_CANCELLED -- unless the handler had exited on its own first, in
 * which case its own outcome stands.
 *
 * Draining: executor_close makes executor_try_acquire refuse; running jobs
 * go on. executor_wait_drained waits for them, for at most a grace period
 * that executor_hurry ends early (a second stop signal); executor_cancel_all
 * stops what is left, and executor_wait_idle waits for their answers.
 *
 * Process-wide effects: executor_new makes the process a child subreaper
 * (Linux prctl PR_SET_CHILD_SUBREAPER) so that processes orphaned by a
 * handler are re-parented to the agent instead of to an init that may never
 * reap them (a container's PID 1 often does not). The agent reaps those that
 * are in a handler's process group; one that left the group stays a zombie
 * until the agent exits (a known limitation, docs/architecture.md). It
 * also starts the watchdog thread (joined by executor_free).
 * Handlers run through handler_process.h, whose needs apply: no other thread
 * may reap children with waitpid(-1, ...); SIGPIPE need not be ignored.
 *
 * Threads: every function but executor_new, executor_free and
 * executor_add_handler may be called from any thread at once. Handlers are
 * added with executor_add_handler before any of those calls; the handler
 * table is read-only afterwards. A struct executor_job belongs to the
 * thread that acquired it; other threads reach it only through the
 * executor, by job id.
 *
 * Ownership: a struct executor_job is owned by the executor; the caller
 * borrows it from executor_try_acquire until executor_release.
 */
#ifndef MESH_AGENT_EXECUTOR_H
#define MESH_AGENT_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "handler_process.h"

#define EXECUTOR_OUTPUT_LIMIT HANDLER_PROCESS_OUTPUT_LIMIT /* bytes of stdout kept; the rest is read and dropped */
#define EXECUTOR_STDERR_TAIL HANDLER_PROCESS_STDERR_TAIL   /* bytes of stderr kept, from the end */
#define EXECUTOR_SLEEP_MAX_MS 86400000L     /* one day */
#define EXECUTOR_STOP_WHY_SIZE 256          /* the reason a job was cancelled, as kept in its error */

enum executor_outcome {
	EXECUTOR_OK,          /* output is set */
	EXECUTOR_FAILED,      /* the job failed (exit status, signal, bad payload, cannot start): error */
	EXECUTOR_TIMED_OUT,   /* its timeout_ms passed and it was stopped: error */
	EXECUTOR_CANCELLED,   /* executor_cancel or executor_cancel_all stopped it: error */
	EXECUTOR_INTERNAL,    /* the agent itself failed (pipes, memory): error */
};

struct executor_result {
	enum executor_outcome outcome;
	char *output;          /* owned; NULL unless EXECUTOR_OK */
	char *error;           /* owned; NULL if EXECUTOR_OK; valid UTF-8 */
	bool output_truncated; /* stdout was longer than EXECUTOR_OUTPUT_LIMIT */
};

enum executor_slot {
	EXECUTOR_SLOT_TAKEN,  /* *job is set: the caller must call executor_release when the job is done */
	EXECUTOR_SLOT_FULL,   /* running == capacity */
	EXECUTOR_SLOT_CLOSED, /* executor_close (or executor_cancel_all) was called */
	EXECUTOR_SLOT_NOMEM,  /* out of memory */
};

/* How executor_wait_drained ended. */
enum executor_drain {
	EXECUTOR_DRAINED,       /* no job runs and no answer is being sent */
	EXECUTOR_GRACE_OVER,    /* timeout_ms passed with jobs still running or answering */
	EXECUTOR_HURRIED,       /* executor_hurry was called */
};

struct executor;
struct executor_job;

/*
 * Returns a new executor with capacity slots (1..MESH_CAPACITY_MAX), or NULL
 * on bad capacity, out of memory, or when its watchdog thread cannot start.
 */
struct executor *executor_new(int capacity);

/* Stops the watchdog, frees ex and its handler table. No job may be acquired. NULL is a no-op. */
void executor_free(struct executor *ex);

/*
 * Checks one operator handler without adding it: type must be a valid job
 * type (mesh_type_is_valid) and not built in, command must split
 * (command_line_split), and its program must exist and be executable (a path
 * with a '/' as it is, otherwise searched in PATH). Returns 0, or -1 with a
 * sentence in err.
 */
int executor_check_handler(const char *type, const char *command, char *err, size_t err_size);

/*
 * Adds handler type running command, after executor_check_handler and a
 * check that type is not already defined. Returns 0, or -1 with err set and
 * nothing added. Strings are copied.
 */
int executor_add_handler(struct executor *ex, const char *type, const char *command, char *err,
			 size_t err_size);

bool executor_has_type(const struct executor *ex, const char *type);
/* Number of types, built-ins first, then handlers in the order added. */
size_t executor_type_count(const struct executor *ex);
/* The i-th type; borrowed, valid while ex lives. */
const char *executor_type(const struct executor *ex, size_t i);
/* Writes "echo, sleep, upper" into out (cut to fit). */
void executor_type_list(const struct executor *ex, char *out, size_t out_size);

int executor_capacity(const struct executor *ex);
/* Slots taken right now. */
int executor_running(struct executor *ex);

/*
 * Takes a slot for attempt of job_id (copied; at most MESH_ID_SIZE - 1 bytes
 * are kept), the key executor_cancel finds it by, and on EXECUTOR_SLOT_TAKEN
 * sets *job (borrowed until executor_release). Otherwise *job is NULL and
 * nothing changed.
 */
enum executor_slot executor_try_acquire(struct executor *ex, const char *job_id, int attempt,
					struct executor_job **job);
/*
 * Gives the slot of job back and forgets job, as soon as the job has ended,
 * before its answer is sent: a coordinator that hears the answer may send the
 * next job at once, and must not be told 429. The answer itself is still
 * counted until executor_answer_sent, so that draining waits for it.
 */
void executor_release(struct executor *ex, struct executor_job *job);
void executor_answer_sent(struct executor *ex);
/*
 * Waits until no slot is taken and no answer is being sent, or timeout_ms
 * have passed. Returns true if idle.
 */
bool executor_wait_idle(struct executor *ex, long timeout_ms);

/*
 * Runs job (from executor_try_acquire) to its end and fills out (always:
 * release it with executor_result_clear). timeout_ms > 0 stops it after that
 * long (EXECUTOR_TIMED_OUT); 0 means no timeout. Blocks for as long as the job
 * runs. Call it at most once per job. Returns 0 if out->outcome is
 * EXECUTOR_OK, else -1.
 */
int executor_run(struct executor *ex, struct executor_job *job, const char *type,
		 const char *payload, int64_t timeout_ms, struct executor_result *out);

void executor_result_clear(struct executor_result *result);

/*
 * Stops the job(s) acquired under (job_id, attempt) (killing a handler's
 * process group with SIGKILL, ending a sleep), which then end as
 * EXECUTOR_CANCELLED with an error that quotes why ("cancelled after N ms
 * (WHY): ..."; why is copied, cut to EXECUTOR_STOP_WHY_SIZE). Does not wait
 * for the job to end. A job already stopped keeps its first reason. Returns
 * true if such a job was known, false if none is acquired under that key.
 */
bool executor_cancel(struct executor *ex, const char *job_id, int attempt, const char *why);

/* From now on executor_try_acquire answers EXECUTOR_SLOT_CLOSED. Running jobs go on. */
void executor_close(struct executor *ex);
/* True once executor_close or executor_cancel_all was called. */
bool executor_is_closed(struct executor *ex);

/*
 * Waits until no job is acquired and no answer is being sent
 * (EXECUTOR_DRAINED), timeout_ms have passed (EXECUTOR_GRACE_OVER; 0 does not
 * wait), or executor_hurry is or was called (EXECUTOR_HURRIED).
 */
enum executor_drain executor_wait_drained(struct executor *ex, long timeout_ms);
/* Ends executor_wait_drained at once, now and for every later call. */
void executor_hurry(struct executor *ex);

/*
 * Closes ex and stops every acquired job as executor_cancel does, with why.
 * Does not wait: executor_wait_idle does. Returns the number of jobs it
 * stopped.
 */
size_t executor_cancel_all(struct executor *ex, const char *why);

/* Jobs that executor_run has started and that still hold their slot. For tests and diagnostics. */
int executor_started(struct executor *ex);

/*
 * Copies the process-group ids of the handlers running now into out (at most
 * max). Returns how many there are (which may be more than max). For tests and
 * diagnostics.
 */
size_t executor_process_groups(struct executor *ex, pid_t *out, size_t max);

#endif
