/*
 * cmd: meshctl's commands, laid out as tmux lays out its own: one file per
 * command (cmd_submit.c defines cmd_submit_entry and cmd_submit_*), and one
 * table, cmd_table[] in cmd.c, that lists them. Adding a command is one file
 * and one row.
 *
 * Exit statuses, the same for every command (and printed by --help):
 *   0  success
 *   1  the job did not complete: it FAILED or was CANCELLED (submit --wait), or
 *      it had already finished, so nothing was cancelled (cancel)
 *   2  the wait timed out (submit --wait, drain --wait); the job or node is
 *      printed as it stands
 *   3  usage error: unknown command or option, missing or extra argument,
 *      bad value; the message says which, followed by the usage line
 *   4  the coordinator could not be reached, answered with an error, or sent
 *      a reply meshctl could not read; the message has the URL, and the
 *      coordinator's error text and HTTP status when it answered; an unknown
 *      job or node (404) is one of these. Also used for the rare local
 *      failures (out of memory, stdout not writable).
 */
#ifndef MESHCTL_CMD_H
#define MESHCTL_CMD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"

enum meshctl_exit {
	MESHCTL_EXIT_OK = 0,
	MESHCTL_EXIT_NOT_COMPLETED = 1, /* FAILED or CANCELLED; or finished before a cancel */
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
extern const struct cmd_entry cmd_cancel_entry;
extern const struct cmd_entry cmd_drain_entry;

/* Every command, in the order --help lists them, NULL-ended. */
extern const struct cmd_entry *const cmd_table[];

/* The command called name, or NULL. */
const struct cmd_entry *cmd_find(const char *name);

/* Number of entries in arg_names. */
size_t cmd_arg_count(const struct cmd_entry *entry);

struct api_reply;
struct table;

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
 * "/<collection>/<id><suffix>" with id URL-encoded ("/jobs/j-1/cancel").
 * Returns a new string (free()), or NULL if out of memory.
 */
char *cmd_item_path(const char *collection, const char *id, const char *suffix);

/*
 * GET path, whose answer is {"<key>": [...]}. Returns 0 with *items the
 * array (borrowed from reply->json), or -1 after printing what was wrong.
 * reply is the caller's to api_reply_clear either way.
 */
int cmd_get_list(struct cmd_context *ctx, const char *path, const char *key,
		 struct api_reply *reply, json_t **items);

/* A list the coordinator answers as {"<key>": [...]} and meshctl shows as a table. */
struct cmd_list_kind {
	const char *key;            /* "jobs": the member that holds the array */
	const char *item;           /* "job": for "jobs[2] is not a job: ..." */
	const char *empty;          /* printed instead of a table when the array is empty */
	const char *const *headers; /* the table's column headers */
	size_t column_count;
	/*
	 * Decodes item and adds its row to table. Returns 0; -1 with why set if
	 * item is not one; -2 if out of memory.
	 */
	int (*add_row)(struct table *table, const json_t *item, char *why, size_t why_size);
};

/*
 * GET path and print what came: the body as it is with --json, else a table
 * of kind's rows, or kind->empty. Returns an enum meshctl_exit.
 */
int cmd_print_list(struct cmd_context *ctx, const char *path, const struct cmd_list_kind *kind);

/*
 * GET /jobs?... for the filters in options, query values URL-encoded.
 * Returns a new string (free()), or NULL if out of memory.
 */
char *cmd_jobs_path(const struct options *options);

/*
 * The table 'meshctl nodes' prints, with one row: node. Returns 0, or -1
 * after printing an error (out of memory).
 */
int cmd_print_node(struct cmd_context *ctx, const struct node *node);

/*
 * How long a --wait loop sleeps before its next poll: 20 ms first (previous
 * 0), then 1.5 times the previous delay, at most 500 ms.
 */
long cmd_poll_next_delay_ms(long previous_ms);

/*
 * For a --wait loop: sleeps until the next poll (*delay_ms becomes the next
 * delay; the sleep never passes deadline, in clock_monotonic_ms). Returns
 * false, without sleeping, once deadline has come.
 */
bool cmd_wait_next(int64_t deadline, long *delay_ms);

/*
 * One poll of GET path in a --wait loop. A coordinator that does not answer
 * at all (it restarts, the network hiccups) is no reason to give up before
 * the timeout: that returns 0, reply untouched, with a note on ctx->err the
 * first time (*unreachable tracks it, and "answers again" follows). Returns
 * 1 with reply replaced by the fresh answer, or -1 after printing an HTTP
 * error, which ends the wait (a 404, say).
 */
int cmd_poll(struct cmd_context *ctx, const char *path, struct api_reply *reply, bool *unreachable);

#endif
