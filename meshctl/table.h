/*
 * table: an aligned text table for meshctl's human output.
 *
 *   ID              TYPE  STATUS
 *   j-4f1c0a9b2e3d  echo  COMPLETED
 *
 * Columns are padded to their widest cell and separated by two spaces; the
 * last column is not padded, so no line ends in blanks. Widths are
 * utf8_width(): code points, not bytes, so "…" is one column.
 *
 * Cells are copied as they are: pass text through table_cell() first if it
 * may hold newlines, control characters or be too long.
 *
 * Ownership: a struct table owns copies of every string given to it.
 * Not thread-safe (one table per caller).
 */
#ifndef MESHCTL_TABLE_H
#define MESHCTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

/* What table_cell() appends to text it cut. */
#define TABLE_ELLIPSIS "\xe2\x80\xa6" /* U+2026 "…" */

struct table;

/*
 * Returns a new table (table_free) with the given column headers (copied;
 * column_count >= 1), or NULL if out of memory.
 */
struct table *table_new(const char *const *headers, size_t column_count);

/* Frees the table and its cells. NULL is a no-op. */
void table_free(struct table *table);

/*
 * Appends a row of column_count cells (copied; a NULL cell prints as "").
 * Returns 0, or -1 if out of memory (the table is then unchanged).
 */
int table_add_row(struct table *table, const char *const *cells);

/* Rows added so far, not counting the header. */
size_t table_row_count(const struct table *table);

/* Writes the header and the rows to out. Returns 0, or -1 if writing failed. */
int table_print(const struct table *table, FILE *out);

/*
 * Makes text fit on one line of at most max_width columns (max_width >= 1):
 * every run of control characters (newlines, tabs, escapes, C1 controls)
 * becomes one space (none if a blank is next to it already), leading and
 * trailing blanks go, bytes that are not UTF-8 become '?', and text wider
 * than max_width is cut at a code point boundary and ends with
 * TABLE_ELLIPSIS. NULL text gives "". Returns a new string (free()), or
 * NULL if out of memory.
 */
char *table_cell(const char *text, size_t max_width);

#endif
