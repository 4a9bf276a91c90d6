#include "command_line.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Characters that a shell would act on when unquoted, and that we therefore refuse. */
#define SHELL_SPECIAL "|&;<>()$`"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* Appends the word in buf[0..len) to cmd. Returns 0, or -1 when out of memory. */
static int add_word(struct command_line *cmd, const char *buf, size_t len)
{
	char **bigger;
	char *word = strndup(buf, len);

	if (word == NULL)
		return -1;
	bigger = realloc(cmd->argv, (cmd->argc + 2) * sizeof(*cmd->argv));
	if (bigger == NULL) {
		free(word);
		return -1;
	}
	cmd->argv = bigger;
	cmd->argv[cmd->argc++] = word;
	cmd->argv[cmd->argc] = NULL;
	return 0;
}

int command_line_split(const char *text, struct command_line *out, char *err, size_t err_size)
{
	/* A word is never longer than the text, so one buffer of that size holds any word. */
	size_t text_len = text != NULL ? strlen(text) : 0;
	char *word = malloc(text_len + 1);
	size_t len = 0;
	bool in_word = false; /* true once a word has started, even if it is empty ('') */
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (word == NULL) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < text_len; i++) {
		char c = text[i];

		if (is_blank(c)) {
			if (in_word && add_word(out, word, len) != 0) {
				snprintf(err, err_size, "out of memory");
				goto out;
			}
			in_word = false;
			len = 0;
			continue;
		}
		in_word = true;
		if (c == '\'') {
			const char *close = strchr(text + i + 1, '\'');
			if (close == NULL) {
				snprintf(err, err_size, "unterminated single quote (opened at character %zu)",
					 i + 1);
				goto out;
			}
			memcpy(word + len, text + i + 1, (size_t)(close - text) - i - 1);
			len += (size_t)(close - text) - i - 1;
			i = (size_t)(close - text);
		} else if (c == '"') {
			size_t open = i;
			for (i++; i < text_len && text[i] != '"'; i++) {
				if (text[i] == '\\' && i + 1 < text_len && strchr("\"\\$`", text[i + 1]) != NULL)
					i++;
				word[len++] = text[i];
			}
			if (i == text_len) {
				snprintf(err, err_size, "unterminated double quote (opened at character %zu)",
					 open + 1);
				goto out;
			}
		} else if (c == '\\') {
			if (i + 1 == text_len) {
				snprintf(err, err_size, "command ends with a lone backslash");
				goto out;
			}
			word[len++] = text[++i];
		} else if (strchr(SHELL_SPECIAL, c) != NULL) {
			snprintf(err, err_size,
				 "unquoted '%c' at character %zu: no shell runs the command, so quote it, "
				 "or write sh -c '...' for pipes, redirections and variables",
				 c, i + 1);
			goto out;
		} else {
			word[len++] = c;
		}
	}
	if (in_word && add_word(out, word, len) != 0) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	if (out->argc == 0) {
		snprintf(err, err_size, "command is empty");
		goto out;
	}
	rc = 0;
out:
	free(word);
	if (rc != 0)
		command_line_clear(out);
	return rc;
}

void command_line_clear(struct command_line *cmd)
{
	for (size_t i = 0; i < cmd->argc; i++)
		free(cmd->argv[i]);
	free(cmd->argv);
	memset(cmd, 0, sizeof(*cmd));
}
