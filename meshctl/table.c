#include "table.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define TABLE_GAP 2 /* spaces between columns */

struct table {
	size_t column_count;
	char **headers;   /* column_count strings */
	char ***rows;     /* row_count arrays of column_count strings */
	size_t row_count;
	size_t row_cap;
};

static void free_cells(char **cells, size_t count)
{
	if (cells == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(cells[i]);
	free(cells);
}

/* A new array of count copies of cells (NULL cells become ""), or NULL if out of memory. */
static char **copy_cells(const char *const *cells, size_t count)
{
	char **copy = calloc(count, sizeof(char *));
	if (copy == NULL)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		copy[i] = strdup(cells[i] != NULL ? cells[i] : "");
		if (copy[i] == NULL) {
			free_cells(copy, count);
			return NULL;
		}
	}
	return copy;
}

struct table *table_new(const char *const *headers, size_t column_count)
{
	struct table *table;

	if (column_count == 0)
		return NULL;
	table = calloc(1, sizeof(*table));
	if (table == NULL)
		return NULL;
	table->column_count = column_count;
	table->headers = copy_cells(headers, column_count);
	if (table->headers == NULL) {
		free(table);
		return NULL;
	}
	return table;
}

void table_free(struct table *table)
{
	if (table == NULL)
		return;
	free_cells(table->headers, table->column_count);
	for (size_t i = 0; i < table->row_count; i++)
		free_cells(table->rows[i], table->column_count);
	free(table->rows);
	free(table);
}

int table_add_row(struct table *table, const char *const *cells)
{
	char **row;

	if (table->row_count == table->row_cap) {
		size_t cap = table->row_cap ? table->row_cap * 2 : 16;
		char ***bigger = realloc(table->rows, cap * sizeof(*bigger));
		if (bigger == NULL)
			return -1;
		table->rows = bigger;
		table->row_cap = cap;
	}
	row = copy_cells(cells, table->column_count);
	if (row == NULL)
		return -1;
	table->rows[table->row_count++] = row;
	return 0;
}

size_t table_row_count(const struct table *table)
{
	return table->row_count;
}

/* Writes one line: cells padded to widths, nothing after the last non-empty cell. */
static int print_line(char *const *cells, const size_t *widths, size_t column_count, FILE *out)
{
	size_t last = 0;

	for (size_t i = 0; i < column_count; i++) {
		if (cells[i][0] != '\0')
			last = i;
	}
	for (size_t i = 0; i <= last; i++) {
		if (fputs(cells[i], out) == EOF)
			return -1;
		if (i == last)
			break;
		for (size_t pad = widths[i] - utf8_width(cells[i]) + TABLE_GAP; pad > 0; pad--) {
			if (putc(' ', out) == EOF)
				return -1;
		}
	}
	return putc('\n', out) == EOF ? -1 : 0;
}

int table_print(const struct table *table, FILE *out)
{
	size_t *widths = calloc(table->column_count, sizeof(size_t));
	int rc = -1;

	if (widths == NULL)
		goto out;
	for (size_t c = 0; c < table->column_count; c++) {
		widths[c] = utf8_width(table->headers[c]);
		for (size_t r = 0; r < table->row_count; r++) {
			size_t width = utf8_width(table->rows[r][c]);
			if (width > widths[c])
				widths[c] = width;
		}
	}
	if (print_line(table->headers, widths, table->column_count, out) != 0)
		goto out;
	for (size_t r = 0; r < table->row_count; r++) {
		if (print_line(table->rows[r], widths, table->column_count, out) != 0)
			goto out;
	}
	rc = 0;
out:
	free(widths);
	return rc;
}

char *table_cell(const char *text, size_t max_width)
{
	const char *p = text != NULL ? text : "";
	/* Controls and bad bytes only shrink the text; the ellipsis may need 3 more bytes. */
	char *out = malloc(strlen(p) + sizeof(TABLE_ELLIPSIS));
	size_t len = 0, keep;
	bool in_control = false;

	if (out == NULL)
		return NULL;
	while (*p != '\0') {
		size_t n = utf8_sequence_length(p);
		if (n != 0 && utf8_is_control(p, n)) {
			in_control = true;
			p += n;
			continue;
		}
		/* A run of controls is one space, unless a blank is next to it already. */
		if (in_control && len > 0 && out[len - 1] != ' ' && *p != ' ')
			out[len++] = ' ';
		in_control = false;
		if (n == 0) {
			out[len++] = '?'; /* not UTF-8: one '?' per bad byte */
			n = 1;
		} else if (!(len == 0 && *p == ' ')) { /* leading blanks go */
			memcpy(out + len, p, n);
			len += n;
		}
		p += n;
	}
	while (len > 0 && out[len - 1] == ' ')
		len--;
	out[len] = '\0';
	if (utf8_width(out) <= max_width)
		return out;

	/* Keep max_width - 1 columns and end with the ellipsis, with no blank before it. */
	keep = max_width > 0 ? max_width - 1 : 0;
	len = 0;
	for (size_t columns = 0; columns < keep; columns++) {
		do
			len++;
		while (((unsigned char)out[len] & 0xC0) == 0x80);
	}
	while (len > 0 && out[len - 1] == ' ')
		len--;
	memcpy(out + len, TABLE_ELLIPSIS, sizeof(TABLE_ELLIPSIS));
	return out;
}
