#include "display.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
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
	if (job->status == JOB_FAILED)
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

int display_job(FILE *out, const struct job *job, bool brief)
{
	struct fields fields = {0};
	char created[CLOCK_RFC3339_SIZE], updated[CLOCK_RFC3339_SIZE];
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
	if (brief) {
		if (job->status == JOB_FAILED)
			add_field(&fields, "error", job->error);
		else if (job->status == JOB_COMPLETED)
			add_field(&fields, "result", job->result);
	} else {
		add_field(&fields, "created", job->created_at != 0 ? created : NULL);
		add_field(&fields, "updated", job->updated_at != 0 ? updated : NULL);
		add_field(&fields, "payload", job->payload);
		add_field(&fields, "result", job->result);
		add_field(&fields, "error", job->error);
	}
	if (!fields.failed)
		rc = display_fields(out, fields.labels, (const char *const *)fields.values, fields.count);
	for (size_t i = 0; i < fields.count; i++)
		free(fields.values[i]);
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
