#include "handler_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

extern char **environ;

/* How often the pump looks whether the main process has ended while its pipes are open. */
#define EXIT_CHECK_MS 100
/* How long the pipes may stay open after the main process ended and the group was killed. */
#define DRAIN_AFTER_EXIT_MS 1000
/* How long to wait for the processes of a killed group to be reaped. */
#define REAP_GROUP_MS 2000
#define IO_CHUNK 16384

/* Stdout kept up to a limit, counted past it. */
struct capture {
	char *data;
	size_t len;
	size_t cap;
	size_t total; /* bytes read, kept or not */
};

/* Returns 0, or -1 when out of memory. */
static int capture_add(struct capture *c, const char *buf, size_t n)
{
	size_t keep = c->len < HANDLER_PROCESS_OUTPUT_LIMIT ? HANDLER_PROCESS_OUTPUT_LIMIT - c->len : 0;

	c->total += n;
	if (keep > n)
		keep = n;
	if (keep == 0)
		return 0;
	if (c->len + keep + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		char *bigger;
		while (cap < c->len + keep + 1)
			cap *= 2;
		if (cap > HANDLER_PROCESS_OUTPUT_LIMIT + 1)
			cap = HANDLER_PROCESS_OUTPUT_LIMIT + 1;
		bigger = realloc(c->data, cap);
		if (bigger == NULL)
			return -1;
		c->data = bigger;
		c->cap = cap;
	}
	memcpy(c->data + c->len, buf, keep);
	c->len += keep;
	c->data[c->len] = '\0';
	return 0;
}

/* The last HANDLER_PROCESS_STDERR_TAIL bytes of stderr. */
struct tail {
	char data[HANDLER_PROCESS_STDERR_TAIL];
	size_t len;
	bool cut; /* earlier bytes were dropped */
};

static void tail_add(struct tail *t, const char *buf, size_t n)
{
	if (n >= sizeof(t->data)) {
		t->cut = t->cut || t->len > 0 || n > sizeof(t->data);
		memcpy(t->data, buf + n - sizeof(t->data), sizeof(t->data));
		t->len = sizeof(t->data);
		return;
	}
	if (t->len + n > sizeof(t->data)) {
		size_t drop = t->len + n - sizeof(t->data);
		memmove(t->data, t->data + drop, t->len - drop);
		t->len -= drop;
		t->cut = true;
	}
	memcpy(t->data + t->len, buf, n);
	t->len += n;
}

/* The job's side of its pipes, -1 once closed. */
struct job_io {
	int in;
	int out;
	int err;
	const char *payload;
	size_t payload_len;
	size_t written;
	struct capture stdout_capture;
	struct tail stderr_tail;
	bool out_of_memory;
};

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* Reads what is ready on *fd into io; closes *fd at end of file or on error. */
static void pump_read(struct job_io *io, int *fd, bool is_stdout)
{
	char buf[IO_CHUNK];
	ssize_t n = read(*fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close_fd(fd);
		return;
	}
	if (!is_stdout)
		tail_add(&io->stderr_tail, buf, (size_t)n);
	else if (capture_add(&io->stdout_capture, buf, (size_t)n) != 0)
		io->out_of_memory = true;
}

/*
 * Writes what the pipe takes of the rest of the payload. Closes stdin when it
 * is all written -- the handler sees end of file -- or when the handler
 * closed its end (EPIPE: it need not read its input).
 */
static void pump_write(struct job_io *io)
{
	size_t rest = io->payload_len - io->written;
	ssize_t n;

	if (rest == 0) {
		close_fd(&io->in);
		return;
	}
	n = write(io->in, io->payload + io->written, rest < IO_CHUNK * 4 ? rest : IO_CHUNK * 4);
	if (n > 0)
		io->written += (size_t)n;
	else if (n < 0 && errno != EINTR && errno != EAGAIN)
		close_fd(&io->in);
	if (io->written == io->payload_len)
		close_fd(&io->in);
}

/* True once the process pid has ended; it is left a zombie (not reaped) so its pid and group stay reserved. */
static bool has_exited(pid_t pid)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
		return errno == ECHILD;
	return info.si_pid == pid;
}

/*
 * Moves the payload in and the output out with poll(), so that neither side
 * can fill a pipe and wait for the other. Returns when every pipe is closed:
 * normally when the handler has exited and its output has been read.
 */
static void pump(struct job_io *io, pid_t pid)
{
	bool exited = false;
	int64_t drain_deadline = 0;

	while (io->in >= 0 || io->out >= 0 || io->err >= 0) {
		struct pollfd fds[3];
		int *which[3];
		nfds_t count = 0;
		int ready;

		if (io->in >= 0) {
			fds[count] = (struct pollfd){.fd = io->in, .events = POLLOUT};
			which[count++] = &io->in;
		}
		if (io->out >= 0) {
			fds[count] = (struct pollfd){.fd = io->out, .events = POLLIN};
			which[count++] = &io->out;
		}
		if (io->err >= 0) {
			fds[count] = (struct pollfd){.fd = io->err, .events = POLLIN};
			which[count++] = &io->err;
		}
		ready = poll(fds, count, EXIT_CHECK_MS);
		if (ready < 0 && errno != EINTR) {
			log_error("handler_process: poll failed: %s", strerror(errno));
			break;
		}
		for (nfds_t i = 0; ready > 0 && i < count; i++) {
			if (fds[i].revents == 0)
				continue;
			if (which[i] == &io->in)
				pump_write(io);
			else
				pump_read(io, which[i], which[i] == &io->out);
		}
		if (!exited && has_exited(pid)) {
			/*
			 * The main process is done. Whatever else of its group still holds
			 * the pipes would keep the job open forever: the job is over, so
			 * they go. Its zombie keeps the group id reserved meanwhile.
			 */
			exited = true;
			kill(-pid, SIGKILL);
			close_fd(&io->in);
			drain_deadline = clock_monotonic_ms() + DRAIN_AFTER_EXIT_MS;
		}
		if (exited && clock_monotonic_ms() > drain_deadline) {
			log_warn("handler_process: process %d exited but its output pipes stay open "
				 "(a process left its group?); not reading them any further",
				 (int)pid);
			break;
		}
	}
	close_fd(&io->in);
	close_fd(&io->out);
	close_fd(&io->err);
}

/*
 * Waits for the main process pid (leader of group pid) to end, kills what is
 * left of its group, and reaps every process of the group that is our child
 * -- the main process and, being a subreaper, its orphans. Fills info with
 * the main process's end.
 */
static void reap_group(pid_t pid, siginfo_t *leader)
{
	int64_t deadline;
	bool leader_reaped = false;

	memset(leader, 0, sizeof(*leader));
	/* Wait without reaping, so that the group id cannot be reused while we kill the group. */
	while (waitid(P_PID, (id_t)pid, leader, WEXITED | WNOWAIT) != 0 && errno == EINTR)
		;
	kill(-pid, SIGKILL);
	deadline = clock_monotonic_ms() + REAP_GROUP_MS;
	for (;;) {
		siginfo_t info;

		memset(&info, 0, sizeof(info));
		if (waitid(P_PGID, (id_t)pid, &info, WEXITED | WNOHANG) == 0 && info.si_pid != 0) {
			if (info.si_pid == pid) {
				*leader = info;
				leader_reaped = true;
			}
			continue;
		}
		/* Zombies count as members: ESRCH means everything of the group is gone and reaped. */
		if (kill(-pid, 0) != 0 && errno == ESRCH)
			break;
		if (clock_monotonic_ms() > deadline) {
			log_warn("handler_process: processes of group %d are still there %d ms after SIGKILL",
				 (int)pid, REAP_GROUP_MS);
			break;
		}
		/* An orphan is being re-parented to us, or is still dying: look again soon. */
		clock_sleep_ms(5);
	}
	if (!leader_reaped) {
		siginfo_t info;
		memset(&info, 0, sizeof(info));
		if (waitid(P_PID, (id_t)pid, &info, WEXITED) == 0)
			*leader = info;
	}
}


void handler_process_result_clear(struct handler_process_result *result)
{
	free(result->out);
	memset(result, 0, sizeof(*result));
}

/* Writes payload to the handler on io->in while reading io->out and io->err, with SIGPIPE kept off this thread. */
static void pump_blocking_sigpipe(struct job_io *io, pid_t pid)
{
	sigset_t pipe_set, old_mask;

	/* A handler that exits before reading its input makes write() raise SIGPIPE. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
	pump(io, pid);
	if (!sigismember(&old_mask, SIGPIPE)) {
		const struct timespec zero = {0, 0};
		/* Consume the SIGPIPE left pending for this thread, if any. */
		while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
}

int handler_process_run(char *const argv[], const char *payload,
			const struct handler_process_hooks *hooks,
			struct handler_process_result *result, char *err, size_t err_size)
{
	int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attr;
	bool actions_ready = false, attr_ready = false;
	struct job_io io;
	sigset_t mask;
	siginfo_t end;
	pid_t pid = -1;
	int rc = -1, spawn_rc;

	memset(result, 0, sizeof(*result));
	memset(&io, 0, sizeof(io));
	io.in = io.out = io.err = -1;
	/* O_CLOEXEC: a handler started at the same time by another thread must not inherit our ends. */
	if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
	    pipe2(err_pipe, O_CLOEXEC) != 0) {
		snprintf(err, err_size, "cannot create pipes: %s", strerror(errno));
		goto out;
	}
	if (posix_spawn_file_actions_init(&actions) != 0) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	actions_ready = true;
	if (posix_spawnattr_init(&attr) != 0) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	attr_ready = true;
	/*
	 * The child starts clean: no signals blocked (the agent's main blocks
	 * SIGTERM, which a handler must receive), every signal at its default (the
	 * agent ignores SIGPIPE, which pipelines in a handler rely on), no fds but
	 * 0-2, and a process group of its own so that it can be killed whole.
	 */
	sigemptyset(&mask);
	if (posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO) != 0 ||
	    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO) != 0 ||
	    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO) != 0 ||
	    posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1) != 0 ||
	    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						   POSIX_SPAWN_SETSIGDEF) != 0 ||
	    posix_spawnattr_setpgroup(&attr, 0) != 0 || posix_spawnattr_setsigmask(&attr, &mask) != 0) {
		snprintf(err, err_size, "cannot prepare posix_spawn attributes");
		goto out;
	}
	sigfillset(&mask);
	posix_spawnattr_setsigdefault(&attr, &mask);

	spawn_rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv, environ);
	close_fd(&in_pipe[0]);
	close_fd(&out_pipe[1]);
	close_fd(&err_pipe[1]);
	if (spawn_rc != 0) {
		result->spawn_error = spawn_rc;
		rc = 0;
		goto out;
	}
	if (hooks != NULL && hooks->started != NULL)
		hooks->started(pid, hooks->ctx);

	io.in = in_pipe[1];
	io.out = out_pipe[0];
	io.err = err_pipe[0];
	in_pipe[1] = out_pipe[0] = err_pipe[0] = -1;
	io.payload = payload;
	io.payload_len = strlen(payload);
	/* The write end must not block: poll() says writable, not how much fits. */
	fcntl(io.in, F_SETFL, fcntl(io.in, F_GETFL) | O_NONBLOCK);
	pump_blocking_sigpipe(&io, pid);
	reap_group(pid, &end);
	if (hooks != NULL && hooks->ended != NULL)
		hooks->ended(pid, hooks->ctx);

	if (io.out_of_memory) {
		snprintf(err, err_size, "out of memory while reading the handler's output");
		goto out;
	}
	result->exited = end.si_code == CLD_EXITED;
	result->status = end.si_status;
	result->out = io.stdout_capture.data != NULL ? io.stdout_capture.data : strdup("");
	io.stdout_capture.data = NULL;
	if (result->out == NULL) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	result->out_len = io.stdout_capture.len;
	result->out_total = io.stdout_capture.total;
	memcpy(result->err_tail, io.stderr_tail.data, io.stderr_tail.len);
	result->err_tail_len = io.stderr_tail.len;
	result->err_tail_cut = io.stderr_tail.cut;
	rc = 0;
out:
	/* Every path from a successful spawn has reaped the group by now. */
	close_fd(&in_pipe[0]);
	close_fd(&in_pipe[1]);
	close_fd(&out_pipe[0]);
	close_fd(&out_pipe[1]);
	close_fd(&err_pipe[0]);
	close_fd(&err_pipe[1]);
	close_fd(&io.in);
	close_fd(&io.out);
	close_fd(&io.err);
	free(io.stdout_capture.data);
	if (actions_ready)
		posix_spawn_file_actions_destroy(&actions);
	if (attr_ready)
		posix_spawnattr_destroy(&attr);
	return rc;
}
