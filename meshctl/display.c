#include "display.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "table.h"
#include "utf8.h"

void display_time(int64_t wall_ms, char *out, size_t out_size)
{
	char full[CLOCK_RFC3339_SIZE];

	if (wall_ms == 0) {
		snprintf(out, out_size, "-");
		return;
	}
	clock_format_rfc3339(wall_ms, full, sizeof(full));
	/* "2026-11-23T15:30:00.123Z" -> "2026-11-23T15:30:00Z" */
	snprintf(out, out_size, "%.19sZ", full);
}

void display_duration(int64_t ms, char *out, size_t out_size)
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = {{24LL * 3600 * 1000, "d"}, {3600 * 1000, "h"}, {60 * 1000, "min"}, {1000, "s"}};

	for (size_t i = 0; ms != 0 && i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms % units[i].ms == 0) {
			snprintf(out, out_size, "%lld %s", (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	}
	snprintf(out, out_size, "%lld ms", (long long)ms);
}

char *display_block(const char *text)
{
	char *out;
	size_t len = 0;

	if (text == NULL)
		return strdup("-");
	out = malloc(strlen(text) + 1); /* every change keeps or shrinks the length */
	if (out == NULL)
		return NULL;
	for (const char *p = text; *p != '\0';) {
		size_t n = utf8_sequence_length(p);
		if (n == 0) {
			out[len++] = '?';
			n = 1;
		} else if (*p == '\n' || *p == '\t') {
			out[len++] = *p;
		} else if (*p == '\r' && p[1] == '\n') {
			/* CRLF: the LF is enough */
		} else if (utf8_is_control(p, n)) {
			out[len++] = '?';
		} else {
			memcpy(out + len, p, n);
			len += n;
		}
		p += n;
	}
	while (len > 0 && out[len - 1] == '\n')
		len--;
	out[len] = '\0';
	return out;
}

int display_fields(FILE *out, const char *const *labels, const char *const *values, size_t count)
{
	size_t column = 0;

	for (size_t i = 0; i < count; i++) {
		size_t width = utf8_width(labels[i]) + 1; /* the ':' */
		if (width > column)
			column = width;
	}
	column += 2;
	for (size_t i = 0; i < count; i++) {
		const char *line = values[i];
		int pad = (int)(column - utf8_width(labels[i]) - 1);

		if (fprintf(out, "%s:", labels[i]) < 0)
			return -1;
		/* The first line follows the label; later lines start in the value column. */
		for (;;) {
			size_t line_len = strcspn(line, "\n");
			if (line_len > 0 && fprintf(out, "%*s%.*s", pad, "", (int)line_len, line) < 0)
				return -1;
			if (putc('\n', out) == EOF)
				return -1;
			if (line[line_len] == '\0')
				break;
			line += line_len + 1;
			pad = (int)column;
		}
	}
	return 0;
}

const char *display_job_outcome(const struct job *job)
{
	if (job->status == JOB_COMPLETED)
		return job->result;
	if (job->status == JOB_FAILED || job->status == JOB_CANCELLED)
		return job->error;
	return NULL;
}

/* The fields display_job() shows, as display_block() text. */
#define DISPLAY_MAX_FIELDS 16

struct fields {
	const char *labels[DISPLAY_MAX_FIELDS];
	char *values[DISPLAY_MAX_FIELDS];
	size_t count;
	bool failed;
};

static void add_field(struct fields *fields, const char *label, const char *text)
{
	if (fields->count == DISPLAY_MAX_FIELDS) {
		fields->failed = true; /* a programming error: more fields than room */
		return;
	}
	fields->labels[fields->count] = label;
	fields->values[fields->count] = display_block(text);
	fields->failed |= fields->values[fields->count] == NULL;
	fields->count++;
}

/* "2 of 3", and when the job waits to retry, when the next attempt may start. */
static char *attempt_text(const struct job *job)
{
	char next[CLOCK_RFC3339_SIZE];
	char *text = NULL;
	int n;

	if (job->status == JOB_QUEUED && job->next_attempt_at != 0) {
		clock_format_rfc3339(job->next_attempt_at, next, sizeof(next));
		n = asprintf(&text, "%d of %d, next not before %s", job->attempt, job->max_attempts, next);
	} else {
		n = asprintf(&text, "%d of %d", job->attempt, job->max_attempts);
	}
	return n < 0 ? NULL : text;
}

/*
 * "priority high, timeout 30 s, retry on failure, backoff 1 s to 1 min":
 * what was asked for the job. Retries are left out of a job that has one
 * attempt only, and a timeout or backoff the coordinator did not send.
 */
static char *options_text(const struct job *job)
{
	char timeout[DISPLAY_DURATION_SIZE], base[DISPLAY_DURATION_SIZE], cap[DISPLAY_DURATION_SIZE];
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	if (out == NULL)
		return NULL;
	fprintf(out, "priority %s", job_priority_name(job->priority));
	if (job->timeout_ms > 0) {
		display_duration(job->timeout_ms, timeout, sizeof(timeout));
		fprintf(out, ", timeout %s", timeout);
	}
	if (job->max_attempts > 1) {
		fprintf(out, ", %s", job->retry_on_failure ? "retry on failure" : "no retry on failure");
		if (job->backoff_base_ms > 0) {
			display_duration(job->backoff_base_ms, base, sizeof(base));
			display_duration(job->backoff_cap_ms, cap, sizeof(cap));
			if (job->backoff_cap_ms > job->backoff_base_ms)
				fprintf(out, ", backoff %s to %s", base, cap);
			else
				fprintf(out, ", backoff %s", base);
		}
	}
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Adds an attempt's row: ATTEMPT, NODE, STARTED, FINISHED, STATUS, ERROR. Returns 0 or -1. */
static int add_attempt_row(struct table *table, const struct job_attempt *attempt)
{
	char number[16], started[DISPLAY_TIME_SIZE], finished[DISPLAY_TIME_SIZE];
	char *late = NULL;
	const char *why = attempt->error;
	char *node = table_cell(attempt->node_id[0] != '\0' ? attempt->node_id : "-", MESH_ID_SIZE);
	char *error;
	int rc = -1;

	/* A SUPERSEDED attempt's late output is worth a glance when nothing else explains it. */
	if (why == NULL && attempt->result != NULL) {
		if (asprintf(&late, "late result: %s", attempt->result) >= 0)
			why = late;
		else
			late = NULL; /* asprintf leaves it undefined */
	}
	error = table_cell(why, DISPLAY_CELL_WIDTH);
	snprintf(number, sizeof(number), "%d", attempt->number);
	display_time(attempt->started_at, started, sizeof(started));
	display_time(attempt->finished_at, finished, sizeof(finished));
	if (node != NULL && error != NULL) {
		const char *cells[] = {number,   node, started,
				       finished, attempt_status_name(attempt->status), error};
		rc = table_add_row(table, cells);
	}
	free(late);
	free(node);
	free(error);
	return rc;
}

/* The job's attempts as a table, after a blank line. Returns 0 or -1. */
static int print_attempts(FILE *out, const struct job *job)
{
	static const char *const headers[] = {"ATTEMPT", "NODE", "STARTED", "FINISHED", "STATUS", "ERROR"};
	struct table *table = table_new(headers, sizeof(headers) / sizeof(headers[0]));
	int rc = -1;

	if (table == NULL)
		return -1;
	for (size_t i = 0; i < job->attempt_count; i++) {
		if (add_attempt_row(table, &job->attempts[i]) != 0)
			goto out;
	}
	if (putc('\n', out) == EOF)
		goto out;
	rc = table_print(table, out);
out:
	table_free(table);
	return rc;
}

int display_job(FILE *out, const struct job *job, bool brief)
{
	struct fields fields = {0};
	char created[CLOCK_RFC3339_SIZE], updated[CLOCK_RFC3339_SIZE];
	char *attempt = NULL, *options = NULL;
	int rc = -1;

	clock_format_rfc3339(job->created_at, created, sizeof(created));
	clock_format_rfc3339(job->updated_at, updated, sizeof(updated));
	add_field(&fields, "id", job->id);
	if (!brief)
		add_field(&fields, "type", job->type);
	add_field(&fields, "status", job_status_name(job->status));
	add_field(&fields, "node", job->node_id[0] != '\0' ? job->node_id : NULL);
	if (job->reason != NULL)
		add_field(&fields, "waiting", job->reason);
	/*
	 * Labels stay within the 7 characters of "payload", so that the values
	 * start in the same column as before these fields existed.
	 */
	if (!brief || job->max_attempts > 1) {
		attempt = attempt_text(job);
		fields.failed |= attempt == NULL;
		add_field(&fields, "attempt", attempt);
	}
	if (brief) {
		if (job->status == JOB_FAILED ||
		    (job->status == JOB_CANCELLED && job->error != NULL))
			add_field(&fields, "error", job->error);
		else if (job->status == JOB_COMPLETED)
			add_field(&fields, "result", job->result);
	} else {
		options = options_text(job);
		fields.failed |= options == NULL;
		add_field(&fields, "options", options);
		if (job->idempotency_key != NULL)
			add_field(&fields, "key", job->idempotency_key);
		add_field(&fields, "created", job->created_at != 0 ? created : NULL);
		add_field(&fields, "updated", job->updated_at != 0 ? updated : NULL);
		add_field(&fields, "payload", job->payload);
		add_field(&fields, "result", job->result);
		add_field(&fields, "error", job->error);
	}
	if (!fields.failed)
		rc = display_fields(out, fields.labels, (const char *const *)fields.values, fields.count);
	if (rc == 0 && !brief && job->attempt_count > 0)
		rc = print_attempts(out, job);
	for (size_t i = 0; i < fields.count; i++)
		free(fields.values[i]);
	free(attempt);
	free(options);
	return rc;
}

int display_json(FILE *out, const char *body, size_t len)
{
	if (len > 0 && fwrite(body, 1, len, out) != len)
		return -1;
	if ((len == 0 || body[len - 1] != '\n') && putc('\n', out) == EOF)
		return -1;
	return 0;
}
