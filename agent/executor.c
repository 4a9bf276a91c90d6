/*
 * Locking: ex->lock guards running, closed, terminating and the groups list;
 * ex->changed is broadcast when terminating becomes true (sleeps wake up),
 * when a handler's process group leaves the list (executor_terminate waits for
 * that) and when a slot is released (executor_wait_idle). The handler table,
 * the capacity and everything else in struct executor are written before
 * concurrent use and only read afterwards. No lock is held while a job runs,
 * spawns or waits.
 */
#include "executor.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "clock.h"
#include "command_line.h"
#include "deadline.h"
#include "handler_process.h"
#include "log.h"
#include "model.h"

static const char *const builtin_types[] = {"echo", "sleep"};
#define BUILTIN_COUNT (sizeof(builtin_types) / sizeof(builtin_types[0]))

struct handler {
	char *type;
	char *command;
	struct command_line cmd;
};

/* A running handler's process group; lives on the stack of the executor_run that started it. */
struct group_entry {
	pid_t pgid;
	struct group_entry *next;
};

struct executor {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int running;                 /* lock */
	int answering;               /* lock: jobs ended whose answer is being sent */
	bool closed;                 /* lock */
	bool terminating;            /* lock */
	struct group_entry *groups;  /* lock */
	size_t group_count;          /* lock */
	int capacity;
	struct handler *handlers;
	size_t handler_count;
};

struct executor *executor_new(int capacity)
{
	struct executor *ex;

	if (capacity < 1 || capacity > MESH_CAPACITY_MAX)
		return NULL;
	ex = calloc(1, sizeof(*ex));
	if (ex == NULL)
		return NULL;
	if (pthread_mutex_init(&ex->lock, NULL) != 0) {
		free(ex);
		return NULL;
	}
	if (deadline_cond_init(&ex->changed) != 0) {
		pthread_mutex_destroy(&ex->lock);
		free(ex);
		return NULL;
	}
	ex->capacity = capacity;
	/* See the header: orphans of a handler must come to us to be reaped. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L) != 0)
		log_warn("executor: cannot become a child subreaper (%s): processes a handler "
			 "orphans are left to init",
			 strerror(errno));
	return ex;
}

void executor_free(struct executor *ex)
{
	if (ex == NULL)
		return;
	for (size_t i = 0; i < ex->handler_count; i++) {
		free(ex->handlers[i].type);
		free(ex->handlers[i].command);
		command_line_clear(&ex->handlers[i].cmd);
	}
	free(ex->handlers);
	pthread_cond_destroy(&ex->changed);
	pthread_mutex_destroy(&ex->lock);
	free(ex);
}

/* ---- handler table ------------------------------------------------------ */

/* Returns 0 if path is an executable regular file, else an errno value saying why not. */
static int executable_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? EISDIR : EACCES;
	return access(path, X_OK) == 0 ? 0 : errno;
}

/* Finds program the way posix_spawnp will. Returns 0, or -1 with err set. */
static int find_program(const char *program, char *err, size_t err_size)
{
	const char *path = getenv("PATH");
	const char *dir;
	int why;

	if (strchr(program, '/') != NULL) {
		why = executable_file(program);
		if (why == 0)
			return 0;
		snprintf(err, err_size, "program '%s' cannot be run: %s", program, strerror(why));
		return -1;
	}
	if (path == NULL || *path == '\0')
		path = "/bin:/usr/bin"; /* glibc's posix_spawnp default without PATH */
	for (dir = path;; dir += strcspn(dir, ":") + 1) {
		size_t dir_len = strcspn(dir, ":");
		char candidate[4096];
		int n;

		/* An empty PATH entry means the current directory. */
		if (dir_len == 0)
			n = snprintf(candidate, sizeof(candidate), "./%s", program);
		else
			n = snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)dir_len, dir, program);
		if (n > 0 && (size_t)n < sizeof(candidate) && executable_file(candidate) == 0)
			return 0;
		if (dir[dir_len] == '\0')
			break;
	}
	snprintf(err, err_size, "program '%s' was not found in PATH (%.200s)", program, path);
	return -1;
}

static bool is_builtin(const char *type)
{
	for (size_t i = 0; i < BUILTIN_COUNT; i++)
		if (strcmp(type, builtin_types[i]) == 0)
			return true;
	return false;
}

/* Checks a handler and, on success, leaves its split command in cmd. */
static int check_handler(const char *type, const char *command, struct command_line *cmd, char *err,
			 size_t err_size)
{
	char why[512];

	memset(cmd, 0, sizeof(*cmd));
	if (!mesh_type_is_valid(type)) {
		snprintf(err, err_size,
			 "job type '%.80s' must be 1 to %d characters of letters, digits, '_', '.' or '-'",
			 type, MESH_TYPE_MAX);
		return -1;
	}
	if (is_builtin(type)) {
		snprintf(err, err_size, "job type '%s' is built in and cannot be redefined", type);
		return -1;
	}
	if (command_line_split(command, cmd, why, sizeof(why)) != 0) {
		snprintf(err, err_size, "command of '%s': %s", type, why);
		return -1;
	}
	if (find_program(cmd->argv[0], why, sizeof(why)) != 0) {
		snprintf(err, err_size, "command of '%s': %s", type, why);
		command_line_clear(cmd);
		return -1;
	}
	return 0;
}

int executor_check_handler(const char *type, const char *command, char *err, size_t err_size)
{
	struct command_line cmd;

	if (check_handler(type, command, &cmd, err, err_size) != 0)
		return -1;
	command_line_clear(&cmd);
	return 0;
}

static const struct handler *find_handler(const struct executor *ex, const char *type)
{
	for (size_t i = 0; i < ex->handler_count; i++)
		if (strcmp(ex->handlers[i].type, type) == 0)
			return &ex->handlers[i];
	return NULL;
}

int executor_add_handler(struct executor *ex, const char *type, const char *command, char *err,
			 size_t err_size)
{
	struct handler handler = {0};
	struct handler *bigger;

	if (ex->handler_count + BUILTIN_COUNT >= MESH_TYPES_MAX) {
		snprintf(err, err_size, "an agent runs at most %d job types", MESH_TYPES_MAX);
		return -1;
	}
	if (check_handler(type, command, &handler.cmd, err, err_size) != 0)
		return -1;
	if (find_handler(ex, type) != NULL) {
		snprintf(err, err_size, "job type '%s' is defined twice", type);
		command_line_clear(&handler.cmd);
		return -1;
	}
	handler.type = strdup(type);
	handler.command = strdup(command);
	bigger = realloc(ex->handlers, (ex->handler_count + 1) * sizeof(*ex->handlers));
	if (handler.type == NULL || handler.command == NULL || bigger == NULL) {
		if (bigger != NULL)
			ex->handlers = bigger;
		free(handler.type);
		free(handler.command);
		command_line_clear(&handler.cmd);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	ex->handlers = bigger;
	ex->handlers[ex->handler_count++] = handler;
	return 0;
}

bool executor_has_type(const struct executor *ex, const char *type)
{
	return is_builtin(type) || find_handler(ex, type) != NULL;
}

size_t executor_type_count(const struct executor *ex)
{
	return BUILTIN_COUNT + ex->handler_count;
}

const char *executor_type(const struct executor *ex, size_t i)
{
	if (i < BUILTIN_COUNT)
		return builtin_types[i];
	if (i - BUILTIN_COUNT < ex->handler_count)
		return ex->handlers[i - BUILTIN_COUNT].type;
	return NULL;
}

void executor_type_list(const struct executor *ex, char *out, size_t out_size)
{
	size_t used = 0;

	if (out_size == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < executor_type_count(ex) && used < out_size; i++) {
		int n = snprintf(out + used, out_size - used, "%s%s", i ? ", " : "", executor_type(ex, i));
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* ---- slots and stopping ---------------------------------------------------- */

int executor_capacity(const struct executor *ex)
{
	return ex->capacity;
}

int executor_running(struct executor *ex)
{
	int running;
	pthread_mutex_lock(&ex->lock);
	running = ex->running;
	pthread_mutex_unlock(&ex->lock);
	return running;
}

enum executor_slot executor_try_acquire(struct executor *ex)
{
	enum executor_slot slot = EXECUTOR_SLOT_TAKEN;

	pthread_mutex_lock(&ex->lock);
	if (ex->closed)
		slot = EXECUTOR_SLOT_CLOSED;
	else if (ex->running >= ex->capacity)
		slot = EXECUTOR_SLOT_FULL;
	else
		ex->running++;
	pthread_mutex_unlock(&ex->lock);
	return slot;
}

void executor_release(struct executor *ex)
{
	pthread_mutex_lock(&ex->lock);
	if (ex->running > 0)
		ex->running--;
	ex->answering++;
	pthread_cond_broadcast(&ex->changed);
	pthread_mutex_unlock(&ex->lock);
}

void executor_answer_sent(struct executor *ex)
{
	pthread_mutex_lock(&ex->lock);
	if (ex->answering > 0)
		ex->answering--;
	pthread_cond_broadcast(&ex->changed);
	pthread_mutex_unlock(&ex->lock);
}

bool executor_wait_idle(struct executor *ex, int timeout_ms)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	bool idle;

	pthread_mutex_lock(&ex->lock);
	while ((ex->running > 0 || ex->answering > 0) &&
	       !deadline_cond_wait(&ex->changed, &ex->lock, deadline))
		;
	idle = ex->running == 0 && ex->answering == 0;
	pthread_mutex_unlock(&ex->lock);
	return idle;
}

void executor_close(struct executor *ex)
{
	pthread_mutex_lock(&ex->lock);
	ex->closed = true;
	pthread_mutex_unlock(&ex->lock);
}

bool executor_is_closed(struct executor *ex)
{
	bool closed;
	pthread_mutex_lock(&ex->lock);
	closed = ex->closed;
	pthread_mutex_unlock(&ex->lock);
	return closed;
}

/* Sends sig to every registered group. Caller holds ex->lock. */
static void signal_groups_locked(struct executor *ex, int sig)
{
	for (struct group_entry *g = ex->groups; g != NULL; g = g->next)
		kill(-g->pgid, sig);
}

void executor_terminate(struct executor *ex)
{
	int64_t deadline = clock_monotonic_ms() + EXECUTOR_KILL_GRACE_MS;

	pthread_mutex_lock(&ex->lock);
	ex->closed = true;
	ex->terminating = true;
	pthread_cond_broadcast(&ex->changed);
	if (ex->group_count > 0)
		log_info("executor: sending SIGTERM to %zu running handler(s)", ex->group_count);
	signal_groups_locked(ex, SIGTERM);
	while (ex->group_count > 0 && !deadline_cond_wait(&ex->changed, &ex->lock, deadline))
		;
	if (ex->group_count > 0) {
		log_warn("executor: %zu handler(s) still running %d ms after SIGTERM: sending SIGKILL",
			 ex->group_count, EXECUTOR_KILL_GRACE_MS);
		signal_groups_locked(ex, SIGKILL);
		deadline = clock_monotonic_ms() + EXECUTOR_KILL_GRACE_MS;
		while (ex->group_count > 0 && !deadline_cond_wait(&ex->changed, &ex->lock, deadline))
			;
		if (ex->group_count > 0)
			log_error("executor: %zu handler process group(s) survived SIGKILL",
				  ex->group_count);
	}
	pthread_mutex_unlock(&ex->lock);
}

size_t executor_process_groups(struct executor *ex, pid_t *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&ex->lock);
	for (struct group_entry *g = ex->groups; g != NULL; g = g->next, n++)
		if (n < max)
			out[n] = g->pgid;
	pthread_mutex_unlock(&ex->lock);
	return n;
}

/* Adds entry to the running list; kills the group at once if the executor is terminating. */
static void register_group(struct executor *ex, struct group_entry *entry)
{
	pthread_mutex_lock(&ex->lock);
	entry->next = ex->groups;
	ex->groups = entry;
	ex->group_count++;
	/* executor_terminate may have signalled the list already: this one would be missed. */
	if (ex->terminating)
		kill(-entry->pgid, SIGKILL);
	pthread_mutex_unlock(&ex->lock);
}

static void unregister_group(struct executor *ex, struct group_entry *entry)
{
	pthread_mutex_lock(&ex->lock);
	for (struct group_entry **p = &ex->groups; *p != NULL; p = &(*p)->next) {
		if (*p == entry) {
			*p = entry->next;
			ex->group_count--;
			break;
		}
	}
	pthread_cond_broadcast(&ex->changed);
	pthread_mutex_unlock(&ex->lock);
}

static bool is_terminating(struct executor *ex)
{
	bool terminating;
	pthread_mutex_lock(&ex->lock);
	terminating = ex->terminating;
	pthread_mutex_unlock(&ex->lock);
	return terminating;
}

/* ---- results ---------------------------------------------------------------- */

void executor_result_clear(struct executor_result *result)
{
	free(result->output);
	free(result->error);
	memset(result, 0, sizeof(*result));
}

static int set_output(struct executor_result *out, const char *output, size_t len)
{
	out->outcome = EXECUTOR_OK;
	out->output = strndup(output, len);
	if (out->output == NULL) {
		out->outcome = EXECUTOR_INTERNAL;
		out->error = strdup("out of memory");
		return -1;
	}
	return 0;
}

static int set_error(struct executor_result *out, enum executor_outcome outcome, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_error(struct executor_result *out, enum executor_outcome outcome, const char *fmt, ...)
{
	va_list ap;

	free(out->output);
	out->output = NULL;
	out->outcome = outcome;
	va_start(ap, fmt);
	if (vasprintf(&out->error, fmt, ap) < 0) {
		out->error = NULL;
		out->outcome = EXECUTOR_INTERNAL;
	}
	va_end(ap);
	return -1;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 if there is none. */
static size_t utf8_sequence(const unsigned char *s, size_t len)
{
	size_t need;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		need = 2;
		cp = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		need = 3;
		cp = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		need = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return need;
}

/*
 * Copies text into a new string that is valid UTF-8 without NULs, for error
 * messages: invalid bytes and NULs become '?'. (An error that is not valid
 * UTF-8 would be replaced as a whole by the wire encoder.)
 */
static char *sanitize_text(const char *text, size_t len)
{
	char *copy = malloc(len + 1);
	size_t i = 0;

	if (copy == NULL)
		return NULL;
	while (i < len) {
		size_t n = text[i] == '\0' ? 0 : utf8_sequence((const unsigned char *)text + i, len - i);
		if (n == 0) {
			copy[i++] = '?';
			continue;
		}
		memcpy(copy + i, text + i, n);
		i += n;
	}
	copy[len] = '\0';
	return copy;
}

/*
 * Returns how much of data[0..len) to keep so that a cut at len does not split
 * a UTF-8 sequence: an incomplete sequence at the very end is dropped.
 */
static size_t utf8_cut(const char *data, size_t len)
{
	size_t back = 0;

	/* A sequence is at most 4 bytes: look at most 3 continuation bytes back for its lead. */
	while (back < 3 && back < len && ((unsigned char)data[len - 1 - back] & 0xC0) == 0x80)
		back++;
	if (back < len) {
		unsigned char lead = (unsigned char)data[len - 1 - back];
		size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
		if (need > back + 1)
			return len - 1 - back;
	}
	return len;
}

/* ---- built-in types ------------------------------------------------------------ */

static int run_sleep(struct executor *ex, const char *payload, struct executor_result *out)
{
	int64_t start = clock_monotonic_ms();
	bool interrupted;
	long ms;

	if (parse_long_in_range(payload, 0, EXECUTOR_SLEEP_MAX_MS, &ms) != 0) {
		/* The payload is quoted in the error, which must stay valid UTF-8. */
		size_t len = strnlen(payload, 41);
		char *quoted = sanitize_text(payload, len > 40 ? utf8_cut(payload, 40) : len);
		if (quoted == NULL)
			return set_error(out, EXECUTOR_INTERNAL, "out of memory");
		set_error(out, EXECUTOR_FAILED,
			  "sleep payload must be whole milliseconds from 0 to %ld (got '%s%s')",
			  EXECUTOR_SLEEP_MAX_MS, quoted, len > 40 ? "..." : "");
		free(quoted);
		return -1;
	}
	pthread_mutex_lock(&ex->lock);
	/* A timed wait rather than a sleep, so that executor_terminate ends it at once. */
	while (!ex->terminating && !deadline_cond_wait(&ex->changed, &ex->lock, start + ms))
		;
	interrupted = ex->terminating && clock_monotonic_ms() < start + ms;
	pthread_mutex_unlock(&ex->lock);
	if (interrupted)
		return set_error(out, EXECUTOR_INTERRUPTED,
				 "the agent is shutting down: sleep of %ld ms stopped after %lld ms", ms,
				 (long long)(clock_monotonic_ms() - start));
	out->outcome = EXECUTOR_OK;
	if (asprintf(&out->output, "slept %ld ms", ms) < 0) {
		out->output = NULL;
		return set_error(out, EXECUTOR_INTERNAL, "out of memory");
	}
	return 0;
}

/* ---- handlers ----------------------------------------------------------------- */

/* "exited with status 3" or "killed by signal 9 (SIGKILL)". */
static void describe_end(const struct handler_process_result *process, char *out, size_t out_size)
{
	if (process->exited) {
		snprintf(out, out_size, "exited with status %d", process->status);
	} else {
		const char *name = sigabbrev_np(process->status);
		snprintf(out, out_size, "killed by signal %d%s%s%s", process->status,
			 name ? " (SIG" : "", name ? name : "", name ? ")" : "");
	}
}

/* Sets out to the failure of a handler that ended as process says. */
static int handler_failed(struct executor *ex, const struct handler *handler,
			  const struct handler_process_result *process, struct executor_result *out)
{
	const char *tail = process->err_tail;
	size_t start = 0, len = process->err_tail_len;
	const char *dots = process->err_tail_cut ? "..." : "";
	char end[64];
	char *text;

	describe_end(process, end, sizeof(end));
	/* A cut tail may begin inside a UTF-8 sequence; trailing newlines say nothing. */
	while (process->err_tail_cut && start < len && ((unsigned char)tail[start] & 0xC0) == 0x80)
		start++;
	while (len > start && (tail[len - 1] == '\n' || tail[len - 1] == '\r' || tail[len - 1] == ' '))
		len--;
	text = sanitize_text(tail + start, len - start);
	if (text == NULL)
		return set_error(out, EXECUTOR_INTERNAL, "out of memory");
	if (is_terminating(ex))
		set_error(out, EXECUTOR_INTERRUPTED, "the agent is shutting down: handler '%s' %s%s%s%s",
			  handler->type, end, len > start ? "; stderr: " : "", dots, text);
	else if (len > start)
		set_error(out, EXECUTOR_FAILED, "handler '%s' %s; stderr: %s%s", handler->type, end, dots,
			  text);
	else
		set_error(out, EXECUTOR_FAILED, "handler '%s' %s (stderr was empty)", handler->type, end);
	free(text);
	return -1;
}

/* The executor's side of a running handler: its entry in the list executor_terminate signals. */
struct running_handler {
	struct executor *ex;
	struct group_entry entry;
};

static void handler_started(pid_t pgid, void *ctx)
{
	struct running_handler *running = ctx;
	running->entry.pgid = pgid;
	register_group(running->ex, &running->entry);
}

static void handler_ended(pid_t pgid, void *ctx)
{
	struct running_handler *running = ctx;
	(void)pgid;
	unregister_group(running->ex, &running->entry);
}

static int run_handler(struct executor *ex, const struct handler *handler, const char *job_id,
		       const char *payload, struct executor_result *out)
{
	struct running_handler running = {.ex = ex};
	const struct handler_process_hooks hooks = {handler_started, handler_ended, &running};
	struct handler_process_result process;
	char err[256];
	int rc = -1;

	if (handler_process_run(handler->cmd.argv, payload, &hooks, &process, err, sizeof(err)) != 0) {
		set_error(out, EXECUTOR_INTERNAL, "handler '%s': %s", handler->type, err);
		goto out;
	}
	if (process.spawn_error != 0) {
		set_error(out, EXECUTOR_FAILED, "handler '%s' could not start '%s': %s", handler->type,
			  handler->cmd.argv[0], strerror(process.spawn_error));
		goto out;
	}
	if (process.out_total > EXECUTOR_OUTPUT_LIMIT) {
		log_warn("executor: job %s: handler '%s' wrote %zu bytes to stdout; kept the first %d "
			 "(the cap) and dropped the rest",
			 job_id, handler->type, process.out_total, EXECUTOR_OUTPUT_LIMIT);
		out->output_truncated = true;
	}
	if (!process.exited || process.status != 0) {
		handler_failed(ex, handler, &process, out);
		goto out;
	}
	if (memchr(process.out, '\0', process.out_len) != NULL)
		log_warn("executor: job %s: handler '%s' wrote a NUL byte to stdout; the output ends there",
			 job_id, handler->type);
	/* A cut at the cap may split a UTF-8 character, which would make the whole output invalid. */
	if (set_output(out, process.out,
		       out->output_truncated ? utf8_cut(process.out, process.out_len) : process.out_len) != 0)
		goto out;
	rc = 0;
out:
	handler_process_result_clear(&process);
	return rc;
}

int executor_run(struct executor *ex, const char *job_id, const char *type, const char *payload,
		 struct executor_result *out)
{
	const struct handler *handler;

	memset(out, 0, sizeof(*out));
	if (strcmp(type, "echo") == 0)
		return set_output(out, payload, strlen(payload));
	if (strcmp(type, "sleep") == 0)
		return run_sleep(ex, payload, out);
	handler = find_handler(ex, type);
	if (handler == NULL)
		return set_error(out, EXECUTOR_FAILED, "unknown job type '%.80s'", type);
	return run_handler(ex, handler, job_id, payload, out);
}
