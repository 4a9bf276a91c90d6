/*
 * executor: runs the agent's jobs and owns its slots.
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
 * Slots: executor_try_acquire/executor_release count running jobs against the
 * capacity; executor_run itself does not look at them, so the HTTP layer
 * decides what "full" means and tests can run jobs directly.
 *
 * Stopping: executor_close makes executor_try_acquire refuse; then
 * executor_terminate cuts sleeps short and sends SIGTERM to every running
 * handler's process group, SIGKILL EXECUTOR_KILL_GRACE_MS later to those
 * still there, and returns when none is left.
 *
 * Process-wide effects: executor_new makes the process a child subreaper
 * (Linux prctl PR_SET_CHILD_SUBREAPER) so that processes orphaned by a
 * handler are re-parented to the agent, which reaps them, instead of to an
 * init that may never reap them (a container's PID 1 often does not).
 * Handlers run through handler_process.h, whose needs apply: no other thread
 * may reap children with waitpid(-1, ...); SIGPIPE need not be ignored.
 *
 * Threads: executor_run, executor_try_acquire, executor_release,
 * executor_running, executor_wait_idle, executor_close, executor_is_closed,
 * executor_terminate and executor_process_groups may be called from any
 * thread at once. Handlers are added with executor_add_handler before any
 * of those calls; the handler table is read-only afterwards.
 */
#ifndef MESH_AGENT_EXECUTOR_H
#define MESH_AGENT_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "handler_process.h"

#define EXECUTOR_OUTPUT_LIMIT HANDLER_PROCESS_OUTPUT_LIMIT /* bytes of stdout kept; the rest is read and dropped */
#define EXECUTOR_STDERR_TAIL HANDLER_PROCESS_STDERR_TAIL   /* bytes of stderr kept, from the end */
#define EXECUTOR_KILL_GRACE_MS 2000         /* SIGTERM .. SIGKILL at shutdown */
#define EXECUTOR_SLEEP_MAX_MS 86400000L     /* one day */

enum executor_outcome {
	EXECUTOR_OK,          /* output is set */
	EXECUTOR_FAILED,      /* the job failed (exit status, signal, bad payload, cannot start): error */
	EXECUTOR_INTERRUPTED, /* executor_terminate cut the job short: error */
	EXECUTOR_INTERNAL,    /* the agent itself failed (pipes, memory): error */
};

struct executor_result {
	enum executor_outcome outcome;
	char *output;          /* owned; NULL unless EXECUTOR_OK */
	char *error;           /* owned; NULL if EXECUTOR_OK; valid UTF-8 */
	bool output_truncated; /* stdout was longer than EXECUTOR_OUTPUT_LIMIT */
};

enum executor_slot {
	EXECUTOR_SLOT_TAKEN,  /* the caller must call executor_release when the job is done */
	EXECUTOR_SLOT_FULL,   /* running == capacity */
	EXECUTOR_SLOT_CLOSED, /* executor_close was called */
};

struct executor;

/* Returns a new executor with capacity slots (1..MESH_CAPACITY_MAX), or NULL on bad capacity or out of memory. */
struct executor *executor_new(int capacity);

/* Frees ex and its handler table. No job may be running. NULL is a no-op. */
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

enum executor_slot executor_try_acquire(struct executor *ex);
/*
 * Gives the slot back as soon as the job has ended, before its answer is
 * sent: a coordinator that hears the answer may send the next job at once,
 * and must not be told 429. The answer itself is still counted until
 * executor_answer_sent, so that shutdown waits for it.
 */
void executor_release(struct executor *ex);
void executor_answer_sent(struct executor *ex);
/*
 * Waits until no slot is taken and no answer is being sent, or timeout_ms
 * have passed. Returns true if idle. Used at shutdown, after
 * executor_terminate, so that the answers of the interrupted jobs go out
 * before the HTTP server stops.
 */
bool executor_wait_idle(struct executor *ex, int timeout_ms);

/*
 * Runs one job to its end and fills out (always: release it with
 * executor_result_clear). job_id is used in log lines only. Blocks for as
 * long as the job runs. Returns 0 if out->outcome is EXECUTOR_OK, else -1.
 */
int executor_run(struct executor *ex, const char *job_id, const char *type, const char *payload,
		 struct executor_result *out);

void executor_result_clear(struct executor_result *result);

/* From now on executor_try_acquire answers EXECUTOR_SLOT_CLOSED. Running jobs go on. */
void executor_close(struct executor *ex);
/* True once executor_close or executor_terminate was called. */
bool executor_is_closed(struct executor *ex);

/*
 * Closes ex, ends running sleeps at once (EXECUTOR_INTERRUPTED), sends SIGTERM
 * to every running handler's process group and SIGKILL to those still there
 * after EXECUTOR_KILL_GRACE_MS, and returns when the jobs' processes are gone
 * (or, if something cannot be killed, after a further EXECUTOR_KILL_GRACE_MS).
 * Handlers started later are killed as soon as they start.
 */
void executor_terminate(struct executor *ex);

/*
 * Copies the process-group ids of the handlers running now into out (at most
 * max). Returns how many there are (which may be more than max). For tests and
 * diagnostics.
 */
size_t executor_process_groups(struct executor *ex, pid_t *out, size_t max);

#endif
