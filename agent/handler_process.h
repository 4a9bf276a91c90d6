/*
 * handler_process: runs one operator handler command to its end.
 *
 *   - posix_spawnp (no fork: civetweb's threads exist, and only
 *     async-signal-safe code may run between fork and exec) in a new process
 *     group, with no signal blocked, every signal at its default, and no file
 *     descriptor but 0, 1 and 2;
 *   - the payload is written to stdin, which is then closed; stdout is kept up
 *     to HANDLER_PROCESS_OUTPUT_LIMIT bytes and read and dropped past it;
 *     the last HANDLER_PROCESS_STDERR_TAIL bytes of stderr are kept; one
 *     poll() loop moves all three, so a large payload and a large output
 *     cannot deadlock;
 *   - when the main process ends, whatever is left of its group is killed
 *     with SIGKILL and every process of the group that is our child is
 *     reaped: a finished handler leaves nothing behind.
 *
 * Process-wide needs: no other thread may reap children with waitpid(-1) or
 * wait(). For orphans of the group to be reaped (rather than left to an init
 * that may not reap), the process should be a child subreaper (executor_new
 * makes it one). SIGPIPE is blocked in the calling thread while the payload
 * is written, so the process need not ignore it.
 *
 * Threads: handler_process_run keeps no shared state; any number may run at
 * once.
 */
#ifndef MESH_AGENT_HANDLER_PROCESS_H
#define MESH_AGENT_HANDLER_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HANDLER_PROCESS_OUTPUT_LIMIT (1024 * 1024)
#define HANDLER_PROCESS_STDERR_TAIL 2048

struct handler_process_result {
	int spawn_error;     /* errno value when the program could not be started; then nothing else is set */
	bool exited;         /* true: it called exit(status); false: a signal killed it */
	int status;          /* the exit status, or the signal number */
	char *out;           /* owned, NUL-ended: the first HANDLER_PROCESS_OUTPUT_LIMIT bytes of stdout */
	size_t out_len;      /* bytes in out (stdout may contain NULs) */
	size_t out_total;    /* bytes the handler wrote to stdout, kept or not */
	char err_tail[HANDLER_PROCESS_STDERR_TAIL]; /* the end of stderr; not NUL-ended */
	size_t err_tail_len;
	bool err_tail_cut;   /* stderr was longer than err_tail */
};

/*
 * Called on the thread running the handler: started right after the process
 * group exists (before any I/O; pgid is the main process's pid), ended once
 * the group is gone and reaped. Either may be NULL.
 */
struct handler_process_hooks {
	void (*started)(pid_t pgid, void *ctx);
	void (*ended)(pid_t pgid, void *ctx);
	void *ctx;
};

/*
 * Runs argv (argv[0] searched in PATH; NULL-ended) with payload on stdin and
 * fills result. Returns 0 when the handler ran, whatever its end, or could not
 * be started (result->spawn_error); -1 with err set when the agent itself
 * failed (pipes, memory). Release result with handler_process_result_clear
 * either way.
 */
int handler_process_run(char *const argv[], const char *payload,
			const struct handler_process_hooks *hooks,
			struct handler_process_result *result, char *err, size_t err_size);

void handler_process_result_clear(struct handler_process_result *result);

#endif
