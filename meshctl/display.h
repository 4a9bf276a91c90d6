/*
 * display: how meshctl shows jobs and nodes to people, and the coordinator's
 * JSON to scripts. Text that came from jobs (payloads, results, errors) is
 * made safe for a terminal first: control characters never reach it raw.
 * Stateless; writes only to the FILE it is given.
 */
#ifndef MESHCTL_DISPLAY_H
#define MESHCTL_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"

/* Widest RESULT/ERROR and TYPES cells in tables, in columns. */
#define DISPLAY_CELL_WIDTH 40

/* Room for display_time(). */
#define DISPLAY_TIME_SIZE 24

/* Room for display_duration(). */
#define DISPLAY_DURATION_SIZE 32

/* "2026-11-23T15:30:00Z" (UTC, whole seconds), or "-" for 0 (never). */
void display_time(int64_t wall_ms, char *out, size_t out_size);

/*
 * A duration in the largest unit that states it exactly: "250 ms", "1500 ms",
 * "30 s", "90 s", "5 min", "2 h", "7 d".
 */
void display_duration(int64_t ms, char *out, size_t out_size);

/*
 * Multi-line text for a "label: value" field: lines stay lines, tabs stay,
 * CR before LF goes, trailing newlines go, and every other control character
 * (and every byte that is not UTF-8) becomes '?'. NULL gives "-".
 * Returns a new string (free()), or NULL if out of memory.
 */
char *display_block(const char *text);

/*
 * Writes "label:" and value pairs with the values in one column:
 *   id:      j-4f1c0a9b2e3d
 *   result:  line one
 *            line two
 * values[i] is already display_block() text. Returns 0, or -1 if writing failed.
 */
int display_fields(FILE *out, const char *const *labels, const char *const *values, size_t count);

/*
 * A job, one field a line. brief: id, status, node, why it waits, the
 * attempt if it may have several, and the result or the error (what submit
 * --wait and cancel print). Otherwise every field, its options (priority,
 * timeout, retries) and, when the coordinator sent them, a table of its
 * attempts (errors cut to DISPLAY_CELL_WIDTH). Returns 0, or -1 if out of
 * memory or writing failed.
 */
int display_job(FILE *out, const struct job *job, bool brief);

/*
 * What the RESULT/ERROR column shows: the result of a COMPLETED job, the
 * error of a FAILED or CANCELLED one, else NULL. Borrowed from job.
 */
const char *display_job_outcome(const struct job *job);

/* The coordinator's JSON as received, ending with a newline. Returns 0, or -1 if writing failed. */
int display_json(FILE *out, const char *body, size_t len);

#endif
