/*
 * Locking: ex->lock guards running, answering, closed, hurried,
 * watchdog_stopping, the jobs list and every field of every job marked
 * "lock" below. ex->changed is broadcast whenever a job is stopped (sleeps
 * wake up), a slot is released or an answer sent (executor_wait_idle,
 * executor_wait_drained), and on executor_hurry. ex->watchdog_wake is
 * signalled when a job with a deadline starts and when the watchdog must stop.
 * The handler table, the capacity and everything else in struct executor are
 * written before concurrent use and only read afterwards. No lock is held
 * while a job runs, spawns or waits; kill() is the only system call made
 * under the lock (so that a process group cannot end and be reaped between
 * looking it up and signalling it).
 *
 * Memory: jobs are allocated by executor_try_acquire and freed by
 * executor_release; the list links them while they exist.
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

/* Why a job was stopped before its end. */
enum stop_reason {
	STOP_NONE,
	STOP_TIMEOUT,
	STOP_CANCEL,
};

struct executor_job {
	struct executor_job *next;    /* lock: the executor's list */
	char job_id[MESH_ID_SIZE];    /* fixed at acquire */
	int attempt;                  /* fixed at acquire */
	int64_t started_ms;           /* lock: monotonic; 0 until executor_run starts it */
	int64_t timeout_ms;           /* lock: 0 = none */
	int64_t deadline_ms;          /* lock: started_ms + timeout_ms; 0 = none */
	pid_t pgid;                   /* lock: the handler's process group while it exists, else 0 */
	enum stop_reason stop;        /* lock */
	int64_t stopped_ms;           /* lock: monotonic time stop was set */
	char stop_why[EXECUTOR_STOP_WHY_SIZE]; /* lock: STOP_CANCEL's reason */
};

struct executor {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	pthread_cond_t watchdog_wake;
	pthread_t watchdog;
	int running;                 /* lock: slots taken */
	int answering;               /* lock: jobs ended whose answer is being sent */
	bool closed;                 /* lock */
	bool hurried;                /* lock: executor_hurry was called */
	bool watchdog_stopping;      /* lock */
	struct executor_job *jobs;   /* lock: every acquired job */
	int capacity;
	struct handler *handlers;
	size_t handler_count;
};

static void *watchdog_main(void *arg);

struct executor *executor_new(int capacity)
{
	struct executor *ex;

	if (capacity < 1 || capacity > MESH_CAPACITY_MAX)
		return NULL;
	ex = calloc(1, sizeof(*ex));
	if (ex == NULL)
		return NULL;
	if (pthread_mutex_init(&ex->lock, NULL) != 0)
		goto fail_free;
	if (deadline_cond_init(&ex->changed) != 0)
		goto fail_mutex;
	if (deadline_cond_init(&ex->watchdog_wake) != 0)
		goto fail_changed;
	ex->capacity = capacity;
	if (pthread_create(&ex->watchdog, NULL, watchdog_main, ex) != 0)
		goto fail_wake;
	/* See the header: orphans of a handler must come to us to be reaped. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L) != 0)
		log_warn("executor: cannot become a child subreaper (%s): processes a handler "
			 "orphans are left to init",
			 strerror(errno));
	return ex;
fail_wake:
	pthread_cond_destroy(&ex->watchdog_wake);
fail_changed:
	pthread_cond_destroy(&ex->changed);
fail_mutex:
	pthread_mutex_destroy(&ex->lock);
fail_free:
	free(ex);
	return NULL;
}

void executor_free(struct executor *ex)
{
	if (ex == NULL)
		return;
	pthread_mutex_lock(&ex->lock);
	ex->watchdog_stopping = true;
	pthread_cond_signal(&ex->watchdog_wake);
	pthread_mutex_unlock(&ex->lock);
	pthread_join(ex->watchdog, NULL);
	for (size_t i = 0; i < ex->handler_count; i++) {
		free(ex->handlers[i].type);
		free(ex->handlers[i].command);
		command_line_clear(&ex->handlers[i].cmd);
	}
	free(ex->handlers);
	pthread_cond_destroy(&ex->watchdog_wake);
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

/* ---- slots, stopping and draining ------------------------------------------ */

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

enum executor_slot executor_try_acquire(struct executor *ex, const char *job_id, int attempt,
					struct executor_job **job)
{
	/* Allocated outside the lock; freed unused when there is no slot. */
	struct executor_job *fresh = calloc(1, sizeof(*fresh));
	enum executor_slot slot = EXECUTOR_SLOT_TAKEN;

	*job = NULL;
	if (fresh == NULL)
		return EXECUTOR_SLOT_NOMEM;
	snprintf(fresh->job_id, sizeof(fresh->job_id), "%s", job_id);
	fresh->attempt = attempt;
	pthread_mutex_lock(&ex->lock);
	if (ex->closed) {
		slot = EXECUTOR_SLOT_CLOSED;
	} else if (ex->running >= ex->capacity) {
		slot = EXECUTOR_SLOT_FULL;
	} else {
		ex->running++;
		fresh->next = ex->jobs;
		ex->jobs = fresh;
		*job = fresh;
		fresh = NULL;
	}
	pthread_mutex_unlock(&ex->lock);
	free(fresh);
	return slot;
}

void executor_release(struct executor *ex, struct executor_job *job)
{
	pthread_mutex_lock(&ex->lock);
	for (struct executor_job **p = &ex->jobs; *p != NULL; p = &(*p)->next) {
		if (*p == job) {
			*p = job->next;
			break;
		}
	}
	if (ex->running > 0)
		ex->running--;
	ex->answering++;
	pthread_cond_broadcast(&ex->changed);
	pthread_mutex_unlock(&ex->lock);
	free(job);
}

void executor_answer_sent(struct executor *ex)
{
	pthread_mutex_lock(&ex->lock);
	if (ex->answering > 0)
		ex->answering--;
	pthread_cond_broadcast(&ex->changed);
	pthread_mutex_unlock(&ex->lock);
}

/* No slot taken and no answer being sent. Lock held. */
static bool idle_locked(const struct executor *ex)
{
	return ex->running == 0 && ex->answering == 0;
}

bool executor_wait_idle(struct executor *ex, long timeout_ms)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	bool idle;

	pthread_mutex_lock(&ex->lock);
	while (!idle_locked(ex) && !deadline_cond_wait(&ex->changed, &ex->lock, deadline))
		;
	idle = idle_locked(ex);
	pthread_mutex_unlock(&ex->lock);
	return idle;
}

enum executor_drain executor_wait_drained(struct executor *ex, long timeout_ms)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	enum executor_drain result;

	pthread_mutex_lock(&ex->lock);
	while (!idle_locked(ex) && !ex->hurried &&
	       !deadline_cond_wait(&ex->changed, &ex->lock, deadline))
		;
	result = idle_locked(ex) ? EXECUTOR_DRAINED
		 : ex->hurried	 ? EXECUTOR_HURRIED
				 : EXECUTOR_GRACE_OVER;
	pthread_mutex_unlock(&ex->lock);
	return result;
}

void executor_hurry(struct executor *ex)
{
	pthread_mutex_lock(&ex->lock);
	ex->hurried = true;
	pthread_cond_broadcast(&ex->changed);
	pthread_mutex_unlock(&ex->lock);
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

/*
 * Marks job stopped for reason (why: STOP_CANCEL's text) unless it already
 * is, and kills its handler's process group if it has one. Lock held.
 * Returns true if this call stopped it.
 */
static bool stop_job_locked(struct executor *ex, struct executor_job *job, enum stop_reason reason,
			    const char *why)
{
	if (job->stop != STOP_NONE)
		return false;
	job->stop = reason;
	job->stopped_ms = clock_monotonic_ms();
	if (why != NULL)
		snprintf(job->stop_why, sizeof(job->stop_why), "%s", why);
	/*
	 * SIGKILL, not SIGTERM first: a timeout or a cancel must end the job now,
	 * and a signal that cannot be caught leaves nothing of the group behind.
	 * handler_ended clears pgid under this lock right after the group is
	 * reaped, so a stale id could only be signalled in that instant, far too
	 * soon for the kernel to hand the id out again (it cycles through pid_max).
	 */
	if (job->pgid > 0)
		kill(-job->pgid, SIGKILL);
	pthread_cond_broadcast(&ex->changed);
	return true;
}

bool executor_cancel(struct executor *ex, const char *job_id, int attempt, const char *why)
{
	bool known = false;

	pthread_mutex_lock(&ex->lock);
	/* A duplicate request may hold a second entry for the key for an instant: stop both. */
	for (struct executor_job *job = ex->jobs; job != NULL; job = job->next) {
		if (job->attempt == attempt && strcmp(job->job_id, job_id) == 0) {
			stop_job_locked(ex, job, STOP_CANCEL, why);
			known = true;
		}
	}
	pthread_mutex_unlock(&ex->lock);
	return known;
}

size_t executor_cancel_all(struct executor *ex, const char *why)
{
	size_t stopped = 0;

	pthread_mutex_lock(&ex->lock);
	ex->closed = true;
	for (struct executor_job *job = ex->jobs; job != NULL; job = job->next)
		stopped += stop_job_locked(ex, job, STOP_CANCEL, why);
	pthread_mutex_unlock(&ex->lock);
	return stopped;
}

int executor_started(struct executor *ex)
{
	int started = 0;

	pthread_mutex_lock(&ex->lock);
	for (struct executor_job *job = ex->jobs; job != NULL; job = job->next)
		started += job->started_ms > 0;
	pthread_mutex_unlock(&ex->lock);
	return started;
}

size_t executor_process_groups(struct executor *ex, pid_t *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&ex->lock);
	for (struct executor_job *job = ex->jobs; job != NULL; job = job->next) {
		if (job->pgid <= 0)
			continue;
		if (n < max)
			out[n] = job->pgid;
		n++;
	}
	pthread_mutex_unlock(&ex->lock);
	return n;
}

/*
 * The watchdog: stops every job whose deadline has passed, then sleeps until
 * the next deadline (or until a job with a deadline starts). A thread of its
 * own because a handler's thread may be blocked in handler_process_run
 * waiting for a process that never ends by itself.
 */
static void *watchdog_main(void *arg)
{
	struct executor *ex = arg;

	pthread_mutex_lock(&ex->lock);
	while (!ex->watchdog_stopping) {
		int64_t now = clock_monotonic_ms(), next = 0;

		for (struct executor_job *job = ex->jobs; job != NULL; job = job->next) {
			if (job->deadline_ms == 0 || job->stop != STOP_NONE)
				continue;
			if (now >= job->deadline_ms)
				stop_job_locked(ex, job, STOP_TIMEOUT, NULL);
			else if (next == 0 || job->deadline_ms < next)
				next = job->deadline_ms;
		}
		if (next == 0)
			pthread_cond_wait(&ex->watchdog_wake, &ex->lock);
		else
			deadline_cond_wait(&ex->watchdog_wake, &ex->lock, next);
	}
	pthread_mutex_unlock(&ex->lock);
	return NULL;
}

/* Marks job started now, with its deadline, and wakes the watchdog if it has one. */
static void start_job(struct executor *ex, struct executor_job *job, int64_t timeout_ms)
{
	pthread_mutex_lock(&ex->lock);
	job->started_ms = clock_monotonic_ms();
	job->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	job->deadline_ms = timeout_ms > 0 ? job->started_ms + timeout_ms : 0;
	if (job->deadline_ms != 0)
		pthread_cond_signal(&ex->watchdog_wake);
	pthread_mutex_unlock(&ex->lock);
}

static bool is_stopped(struct executor *ex, struct executor_job *job)
{
	bool stopped;
	pthread_mutex_lock(&ex->lock);
	stopped = job->stop != STOP_NONE;
	pthread_mutex_unlock(&ex->lock);
	return stopped;
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

/*
 * Sets out to the end of a job that was stopped early: what says what was
 * stopped ("sleep of 60000 ms stopped", "handler 'slow' and every process of
 * its group were killed"). Returns -1.
 */
static int set_stopped(struct executor *ex, struct executor_job *job, const char *what,
		       struct executor_result *out)
{
	enum stop_reason reason;
	int64_t ran_ms, timeout_ms;
	char why[EXECUTOR_STOP_WHY_SIZE];

	pthread_mutex_lock(&ex->lock);
	reason = job->stop;
	/* Stopped before it started (a cancel between acquire and run): it ran 0 ms. */
	ran_ms = job->started_ms > 0 && job->stopped_ms > job->started_ms
			 ? job->stopped_ms - job->started_ms
			 : 0;
	timeout_ms = job->timeout_ms;
	memcpy(why, job->stop_why, sizeof(why));
	pthread_mutex_unlock(&ex->lock);
	if (reason == STOP_TIMEOUT)
		return set_error(out, EXECUTOR_TIMED_OUT, "timed out after %lld ms (timeout_ms %lld): %s",
				 (long long)ran_ms, (long long)timeout_ms, what);
	return set_error(out, EXECUTOR_CANCELLED, "cancelled after %lld ms (%s): %s", (long long)ran_ms,
			 why, what);
}

/* ---- built-in types ------------------------------------------------------------ */

static int run_sleep(struct executor *ex, struct executor_job *job, const char *payload,
		     struct executor_result *out)
{
	int64_t start = clock_monotonic_ms(), end, wake_at;
	bool stopped;
	char what[96];
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
	end = start + ms;
	pthread_mutex_lock(&ex->lock);
	/* Wakes at its end, at its own deadline, or when stopped (broadcast on ex->changed). */
	wake_at = job->deadline_ms != 0 && job->deadline_ms < end ? job->deadline_ms : end;
	while (job->stop == STOP_NONE && !deadline_cond_wait(&ex->changed, &ex->lock, wake_at))
		;
	/* Not waiting for the watchdog: the deadline is known here, to the millisecond. */
	if (job->stop == STOP_NONE && clock_monotonic_ms() < end)
		stop_job_locked(ex, job, STOP_TIMEOUT, NULL);
	/* A stop that came as the sleep ended does not undo a finished sleep. */
	stopped = job->stop != STOP_NONE && job->stopped_ms < end;
	pthread_mutex_unlock(&ex->lock);
	if (stopped) {
		snprintf(what, sizeof(what), "sleep of %ld ms stopped", ms);
		return set_stopped(ex, job, what, out);
	}
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
static int handler_failed(const struct handler *handler, const struct handler_process_result *process,
			  struct executor_result *out)
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
	if (len > start)
		set_error(out, EXECUTOR_FAILED, "handler '%s' %s; stderr: %s%s", handler->type, end, dots,
			  text);
	else
		set_error(out, EXECUTOR_FAILED, "handler '%s' %s (stderr was empty)", handler->type, end);
	free(text);
	return -1;
}

/* The executor's side of a running handler, for the process hooks. */
struct running_handler {
	struct executor *ex;
	struct executor_job *job;
};

/* The group exists: from now on a stop kills it. If the job was stopped before, it dies at once. */
static void handler_started(pid_t pgid, void *ctx)
{
	struct running_handler *running = ctx;
	struct executor *ex = running->ex;

	pthread_mutex_lock(&ex->lock);
	running->job->pgid = pgid;
	if (running->job->stop != STOP_NONE)
		kill(-pgid, SIGKILL);
	pthread_mutex_unlock(&ex->lock);
}

/* The group is gone and reaped: its id may be reused, so nobody may signal it any more. */
static void handler_ended(pid_t pgid, void *ctx)
{
	struct running_handler *running = ctx;
	struct executor *ex = running->ex;

	(void)pgid;
	pthread_mutex_lock(&ex->lock);
	running->job->pgid = 0;
	pthread_mutex_unlock(&ex->lock);
}

static int run_handler(struct executor *ex, struct executor_job *job, const struct handler *handler,
		       const char *payload, struct executor_result *out)
{
	struct running_handler running = {.ex = ex, .job = job};
	const struct handler_process_hooks hooks = {handler_started, handler_ended, &running};
	struct handler_process_result process;
	char err[256], what[128];
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
	/* Killed by a signal after a stop: that was us. Had it exited by itself, its own end stands. */
	if (!process.exited && is_stopped(ex, job)) {
		snprintf(what, sizeof(what), "handler '%s' and every process of its group were killed",
			 handler->type);
		set_stopped(ex, job, what, out);
		goto out;
	}
	if (process.out_total > EXECUTOR_OUTPUT_LIMIT) {
		log_warn("executor: job %s: handler '%s' wrote %zu bytes to stdout; kept the first %d "
			 "(the cap) and dropped the rest",
			 job->job_id, handler->type, process.out_total, EXECUTOR_OUTPUT_LIMIT);
		out->output_truncated = true;
	}
	if (!process.exited || process.status != 0) {
		handler_failed(handler, &process, out);
		goto out;
	}
	if (memchr(process.out, '\0', process.out_len) != NULL)
		log_warn("executor: job %s: handler '%s' wrote a NUL byte to stdout; the output ends there",
			 job->job_id, handler->type);
	/* A cut at the cap may split a UTF-8 character, which would make the whole output invalid. */
	if (set_output(out, process.out,
		       out->output_truncated ? utf8_cut(process.out, process.out_len) : process.out_len) != 0)
		goto out;
	rc = 0;
out:
	handler_process_result_clear(&process);
	return rc;
}

int executor_run(struct executor *ex, struct executor_job *job, const char *type,
		 const char *payload, int64_t timeout_ms, struct executor_result *out)
{
	const struct handler *handler;

	memset(out, 0, sizeof(*out));
	start_job(ex, job, timeout_ms);
	/* Cancelled between acquire and now (or the agent is draining it away): do not start. */
	if (is_stopped(ex, job))
		return set_stopped(ex, job, "it had not started", out);
	if (strcmp(type, "echo") == 0)
		return set_output(out, payload, strlen(payload));
	if (strcmp(type, "sleep") == 0)
		return run_sleep(ex, job, payload, out);
	handler = find_handler(ex, type);
	if (handler == NULL)
		return set_error(out, EXECUTOR_FAILED, "unknown job type '%.80s'", type);
	return run_handler(ex, job, handler, payload, out);
}
