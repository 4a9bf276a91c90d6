#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "command_line.h"

#define MAX_WORDS 6

struct split_case {
	const char *text;
	const char *words[MAX_WORDS]; /* NULL-ended; unused when error_mentions is set */
	const char *error_mentions;   /* NULL: must split */
};

static const struct split_case split_cases[] = {
	/* words and blanks */
	{"cat", {"cat", NULL}, NULL},
	{"tr a-z A-Z", {"tr", "a-z", "A-Z", NULL}, NULL},
	{"  tr \t a-z\nA-Z  ", {"tr", "a-z", "A-Z", NULL}, NULL},
	/* single quotes are literal, backslashes and double quotes included */
	{"sh -c 'echo oops >&2; exit 3'", {"sh", "-c", "echo oops >&2; exit 3", NULL}, NULL},
	{"printf '%s\\n' x", {"printf", "%s\\n", "x", NULL}, NULL},
	{"echo 'a \"b\" c'", {"echo", "a \"b\" c", NULL}, NULL},
	/* double quotes: \" \\ \$ \` are escapes, other backslashes stay */
	{"echo \"a b\"", {"echo", "a b", NULL}, NULL},
	{"echo \"say \\\"hi\\\"\"", {"echo", "say \"hi\"", NULL}, NULL},
	{"echo \"\\\\ \\$HOME \\`x\\`\"", {"echo", "\\ $HOME `x`", NULL}, NULL},
	{"echo \"a\\nb\"", {"echo", "a\\nb", NULL}, NULL},
	{"echo \"it's\"", {"echo", "it's", NULL}, NULL},
	/* a backslash outside quotes makes the next character literal */
	{"echo a\\ b", {"echo", "a b", NULL}, NULL},
	{"echo \\'x\\'", {"echo", "'x'", NULL}, NULL},
	{"echo \\|", {"echo", "|", NULL}, NULL},
	/* quotes join with what touches them; empty quotes make empty words */
	{"echo a'b c'\"d\"e", {"echo", "ab cde", NULL}, NULL},
	{"echo '' \"\"", {"echo", "", "", NULL}, NULL},
	/* nothing is expanded */
	{"ls *.txt ~ #x", {"ls", "*.txt", "~", "#x", NULL}, NULL},
	{"echo '$HOME'", {"echo", "$HOME", NULL}, NULL},
	/* errors */
	{"", {NULL}, "empty"},
	{"   \t\n", {NULL}, "empty"},
	{"sh -c 'echo", {NULL}, "unterminated single quote (opened at character 7)"},
	{"echo \"abc", {NULL}, "unterminated double quote"},
	{"echo \"abc\\\"", {NULL}, "unterminated double quote"},
	{"echo abc\\", {NULL}, "lone backslash"},
	{"grep x | wc -l", {NULL}, "unquoted '|'"},
	{"echo $HOME", {NULL}, "unquoted '$'"},
	{"echo hi > out", {NULL}, "unquoted '>'"},
	{"true; rm x", {NULL}, "unquoted ';'"},
	{"sleep 1 &", {NULL}, "unquoted '&'"},
	{"echo `id`", {NULL}, "unquoted '`'"},
};

START_TEST(test_command_line_splits_like_a_shell)
{
	const struct split_case *c = &split_cases[_i];
	struct command_line cmd;
	char err[256] = "";
	int rc = command_line_split(c->text, &cmd, err, sizeof(err));

	if (c->error_mentions != NULL) {
		ck_assert_msg(rc == -1, "'%s' was accepted", c->text);
		ck_assert_ptr_null(cmd.argv);
		ck_assert_uint_eq(cmd.argc, 0);
		ck_assert_msg(strstr(err, c->error_mentions) != NULL, "'%s': error '%s' lacks '%s'",
			      c->text, err, c->error_mentions);
		return;
	}
	ck_assert_msg(rc == 0, "'%s' rejected: %s", c->text, err);
	for (size_t i = 0; i < MAX_WORDS; i++) {
		if (c->words[i] == NULL) {
			ck_assert_uint_eq(cmd.argc, i);
			ck_assert_ptr_null(cmd.argv[i]);
			break;
		}
		ck_assert_msg(i < cmd.argc, "'%s': only %zu words", c->text, cmd.argc);
		ck_assert_str_eq(cmd.argv[i], c->words[i]);
	}
	command_line_clear(&cmd);
}
END_TEST

START_TEST(test_command_line_clear_of_an_empty_command_is_a_no_op)
{
	struct command_line cmd = {NULL, 0};
	command_line_clear(&cmd);
	command_line_clear(&cmd);
	ck_assert_ptr_null(cmd.argv);
}
END_TEST

START_TEST(test_command_line_null_text_is_an_empty_command)
{
	struct command_line cmd;
	char err[64];
	ck_assert_int_eq(command_line_split(NULL, &cmd, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "command is empty");
}
END_TEST

static Suite *command_line_suite(void)
{
	Suite *s = suite_create("command_line");
	TCase *tc = tcase_create("split");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_command_line_splits_like_a_shell, 0,
			    (int)(sizeof(split_cases) / sizeof(split_cases[0])));
	tcase_add_test(tc, test_command_line_clear_of_an_empty_command_is_a_no_op);
	tcase_add_test(tc, test_command_line_null_text_is_an_empty_command);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(command_line_suite)
