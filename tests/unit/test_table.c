#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "table.h"
#include "utf8.h"

/* Prints table into a new string (free()). */
static char *print_to_string(const struct table *table)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(table_print(table, out), 0);
	ck_assert_int_eq(fclose(out), 0);
	return text;
}

START_TEST(test_table_pads_columns_to_the_widest_cell)
{
	static const char *const headers[] = {"ID", "TYPE", "STATUS"};
	struct table *table = table_new(headers, 3);
	char *text;

	ck_assert_int_eq(table_add_row(table, (const char *const[]){"j-1", "echo", "QUEUED"}), 0);
	ck_assert_int_eq(table_add_row(table, (const char *const[]){"j-22", "a-long-type", "FAILED"}), 0);
	ck_assert_uint_eq(table_row_count(table), 2);
	text = print_to_string(table);
	ck_assert_str_eq(text, "ID    TYPE         STATUS\n"
			       "j-1   echo         QUEUED\n"
			       "j-22  a-long-type  FAILED\n");
	free(text);
	table_free(table);
}
END_TEST

START_TEST(test_table_empty_table_prints_only_the_header)
{
	static const char *const headers[] = {"ID", "NAME"};
	struct table *table = table_new(headers, 2);
	char *text = print_to_string(table);

	ck_assert_uint_eq(table_row_count(table), 0);
	ck_assert_str_eq(text, "ID  NAME\n");
	free(text);
	table_free(table);
}
END_TEST

START_TEST(test_table_lines_never_end_in_blanks)
{
	static const char *const headers[] = {"A", "B", "RESULT"};
	struct table *table = table_new(headers, 3);
	char *text;

	table_add_row(table, (const char *const[]){"x", "long-cell", ""});
	table_add_row(table, (const char *const[]){"y", NULL, NULL}); /* NULL prints as "" */
	table_add_row(table, (const char *const[]){"z", "", "done"});
	text = print_to_string(table);
	ck_assert_str_eq(text, "A  B          RESULT\n"
			       "x  long-cell\n"
			       "y\n"
			       "z             done\n");
	free(text);
	table_free(table);
}
END_TEST

START_TEST(test_table_counts_utf8_code_points_not_bytes)
{
	static const char *const headers[] = {"NAME", "X"};
	struct table *table = table_new(headers, 2);
	char *text;

	/* "überlong…" is 9 columns but 12 bytes. */
	table_add_row(table, (const char *const[]){"\xc3\xbc" "berlong" TABLE_ELLIPSIS, "1"});
	table_add_row(table, (const char *const[]){"plain", "2"});
	text = print_to_string(table);
	ck_assert_str_eq(text, "NAME       X\n"
			       "\xc3\xbc" "berlong" TABLE_ELLIPSIS "  1\n"
			       "plain      2\n");
	free(text);
	table_free(table);
}
END_TEST

START_TEST(test_table_copies_its_cells)
{
	static const char *const headers[] = {"A"};
	char cell[8] = "before";
	struct table *table = table_new(headers, 1);
	char *text;

	table_add_row(table, (const char *const[]){cell});
	strcpy(cell, "after");
	text = print_to_string(table);
	ck_assert_str_eq(text, "A\nbefore\n");
	free(text);
	table_free(table);
}
END_TEST

START_TEST(test_table_grows_past_its_first_allocation)
{
	static const char *const headers[] = {"N"};
	struct table *table = table_new(headers, 1);
	char *text;

	for (int i = 0; i < 100; i++) {
		char cell[16];
		snprintf(cell, sizeof(cell), "%d", i);
		ck_assert_int_eq(table_add_row(table, (const char *const[]){cell}), 0);
	}
	ck_assert_uint_eq(table_row_count(table), 100);
	text = print_to_string(table);
	ck_assert_ptr_nonnull(strstr(text, "\n99\n"));
	ck_assert_int_eq(strncmp(text, "N\n0\n1\n", 6), 0); /* one column: never padded */
	free(text);
	table_free(table);
	table_free(NULL);
}
END_TEST

struct cell_case {
	const char *text;
	size_t max_width;
	const char *expected;
};

static const struct cell_case cell_cases[] = {
	{"hello", 40, "hello"},
	{NULL, 40, ""},
	{"", 40, ""},
	{"exactly-ten", 11, "exactly-ten"},
	{"exactly-ten", 10, "exactly-t" TABLE_ELLIPSIS},
	{"abcdef", 1, TABLE_ELLIPSIS},
	{"line one\nline two", 40, "line one line two"},
	{"a\r\n\r\nb", 40, "a b"},
	{"tab\there", 40, "tab here"},
	{"  padded  \n", 40, "padded"},
	{"\n\nleading", 40, "leading"},
	{"red \x1b[31malert", 40, "red [31malert"},
	{"c1 \xc2\x9b" "31m", 40, "c1 31m"},
	{"bad \xff byte", 40, "bad ? byte"},
	{"cut \xe2\x80", 40, "cut ??"},
	{"\xc3\xa9t\xc3\xa9 \xc3\xa0 Paris", 6, "\xc3\xa9t\xc3\xa9 \xc3\xa0" TABLE_ELLIPSIS},
	{"word word word", 6, "word" TABLE_ELLIPSIS}, /* no blank before the ellipsis */
	{"\xe2\x80\xa6\xe2\x80\xa6\xe2\x80\xa6", 3, "\xe2\x80\xa6\xe2\x80\xa6\xe2\x80\xa6"},
};

START_TEST(test_table_cell_table)
{
	const struct cell_case *c = &cell_cases[_i];
	char *cell = table_cell(c->text, c->max_width);

	ck_assert_ptr_nonnull(cell);
	ck_assert_msg(strcmp(cell, c->expected) == 0, "table_cell(\"%s\", %zu) = \"%s\", want \"%s\"",
		      c->text ? c->text : "(null)", c->max_width, cell, c->expected);
	ck_assert_uint_le(utf8_width(cell), c->max_width);
	free(cell);
}
END_TEST

START_TEST(test_table_cell_cuts_long_text_to_forty_columns)
{
	char text[200];
	char *cell;

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	cell = table_cell(text, 40);
	ck_assert_uint_eq(utf8_width(cell), 40);
	ck_assert_uint_eq(strlen(cell), 39 + strlen(TABLE_ELLIPSIS));
	ck_assert_str_eq(cell + 39, TABLE_ELLIPSIS);
	free(cell);
}
END_TEST

START_TEST(test_utf8_width_and_sequences)
{
	ck_assert_uint_eq(utf8_width(""), 0);
	ck_assert_uint_eq(utf8_width("abc"), 3);
	ck_assert_uint_eq(utf8_width("\xc3\xbc"), 1);
	ck_assert_uint_eq(utf8_width(TABLE_ELLIPSIS), 1);
	ck_assert_uint_eq(utf8_width("\xf0\x9f\x9a\x80!"), 2);
	ck_assert_uint_eq(utf8_sequence_length("a"), 1);
	ck_assert_uint_eq(utf8_sequence_length("\xc3\xbc"), 2);
	ck_assert_uint_eq(utf8_sequence_length(TABLE_ELLIPSIS), 3);
	ck_assert_uint_eq(utf8_sequence_length("\xf0\x9f\x9a\x80"), 4);
	ck_assert_uint_eq(utf8_sequence_length("\x80"), 0);
	ck_assert_uint_eq(utf8_sequence_length("\xc0\xaf"), 0);
	ck_assert_uint_eq(utf8_sequence_length("\xe2\x80"), 0);
	ck_assert(utf8_is_control("\n", 1));
	ck_assert(utf8_is_control("\x7f", 1));
	ck_assert(utf8_is_control("\xc2\x85", 2));
	ck_assert(!utf8_is_control("\xc2\xa0", 2));
	ck_assert(!utf8_is_control("a", 1));
}
END_TEST

static Suite *table_suite(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_table_pads_columns_to_the_widest_cell);
	tcase_add_test(tc, test_table_empty_table_prints_only_the_header);
	tcase_add_test(tc, test_table_lines_never_end_in_blanks);
	tcase_add_test(tc, test_table_counts_utf8_code_points_not_bytes);
	tcase_add_test(tc, test_table_copies_its_cells);
	tcase_add_test(tc, test_table_grows_past_its_first_allocation);
	tcase_add_loop_test(tc, test_table_cell_table, 0,
			    (int)(sizeof(cell_cases) / sizeof(cell_cases[0])));
	tcase_add_test(tc, test_table_cell_cuts_long_text_to_forty_columns);
	tcase_add_test(tc, test_utf8_width_and_sequences);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(table_suite)
