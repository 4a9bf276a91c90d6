/*
 * cmd: meshctl's commands, laid out as tmux lays out its own: one file per
 * command (cmd_submit.c defines cmd_submit_entry and cmd_submit_*), and one
 * table, cmd_table[] in cmd.c, that lists them. Adding a command is one file
 * and one row.
 *
 * Exit statuses, the same for every command (and printed by --help):
 *   0  success
 *   1  the job FAILED (submit --wait)
 *   2  the wait timed out (submit --wait); the job is printed as it stands
 *   3  usage error: unknown command or option, missing or extra argument,
 *      bad value; the message says which, followed by the usage line
 *   4  the coordinator could not be reached, answered with an error, or sent
 *      a reply meshctl could not read; the message has the URL, and the
 *      coordinator's error text and HTTP status when it answered. Also used
 *      for the rare local failures (out of memory, stdout not writable).
 */
#ifndef MESHCTL_CMD_H
#define MESHCTL_CMD_H

#include <stddef.h>
#include <stdio.h>

#include "model.h"

enum meshctl_exit {
	MESHCTL_EXIT_OK = 0,
	MESHCTL_EXIT_JOB_FAILED = 1,
	MESHCTL_EXIT_TIMEOUT = 2,
	MESHCTL_EXIT_USAGE = 3,
	MESHCTL_EXIT_COORDINATOR = 4,
};

struct options;
struct api_client;

/* What a command runs with. Everything is borrowed from main(). */
struct cmd_context {
	const struct options *options;
	struct api_client *api;
	FILE *out; /* results: tables, ids, JSON */
	FILE *err; /* "meshctl: ..." messages */
};

struct cmd_entry {
	const char *name;
	const char *const *arg_names; /* its positional arguments, all required, NULL-ended */
	const char *usage;            /* what follows "meshctl NAME" in a usage line */
	const char *summary;          /* one line for meshctl --help */
	const char *help;             /* more lines for meshctl NAME --help */
	unsigned options;             /* OPTION_* bits (options.h) it takes besides the global ones */
	int (*exec)(struct cmd_context *ctx); /* returns an enum meshctl_exit */
};

extern const struct cmd_entry cmd_submit_entry;
extern const struct cmd_entry cmd_jobs_entry;
extern const struct cmd_entry cmd_job_entry;
extern const struct cmd_entry cmd_nodes_entry;

/* Every command, in the order --help lists them, NULL-ended. */
extern const struct cmd_entry *const cmd_table[];

/* The command called name, or NULL. */
const struct cmd_entry *cmd_find(const char *name);

/* Number of entries in arg_names. */
size_t cmd_arg_count(const struct cmd_entry *entry);

struct api_reply;

/*
 * Decodes reply->json, the answer to method path, as a job (job_from_json:
 * unknown fields are ignored). Returns 0, or -1 after printing what was
 * wrong with it. job is the caller's to job_clear either way.
 */
int cmd_decode_job(struct cmd_context *ctx, const char *method, const char *path,
		   const struct api_reply *reply, struct job *job);

/*
 * GET /jobs/{id} (id URL-encoded) into reply and job. Returns 0, or -1 after
 * printing the error (the coordinator's 404 included). reply must not hold a
 * previous reply; reply and job are the caller's to api_reply_clear and
 * job_clear either way.
 */
int cmd_get_job(struct cmd_context *ctx, const char *id, struct api_reply *reply, struct job *job);

/* Writes "meshctl: <message>\n" to ctx->err. */
void cmd_error(struct cmd_context *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * GET /jobs?... for the filters in options, query values URL-encoded.
 * Returns a new string (free()), or NULL if out of memory.
 */
char *cmd_jobs_path(const struct options *options);

/*
 * How long submit --wait sleeps before its next poll: 20 ms first (previous
 * 0), then 1.5 times the previous delay, at most 500 ms.
 */
long cmd_submit_next_delay_ms(long previous_ms);

#endif
