/*
 * command_line: splitting an operator's handler COMMAND (--handler
 * TYPE=COMMAND) into an argv the way a POSIX shell splits words, without ever
 * starting a shell:
 *   - unquoted blanks (space, tab, newline) separate words;
 *   - '...' is literal, backslashes included;
 *   - "..." is literal except that \" \\ \$ \` stand for the second character
 *     (any other backslash stays as it is, as in sh);
 *   - outside quotes a backslash makes the next character literal;
 *   - '' and "" make an empty word.
 * Nothing is expanded: no variables, globs, '~' or command substitution. The
 * characters the shell would treat as operators or expansions -- | & ; < > ( )
 * $ ` -- are refused when unquoted, because running the command literally
 * would do something other than what the operator wrote; they mean what they
 * say inside quotes, and an operator who wants a shell writes one:
 * sh -c 'grep x | wc -l'.
 *
 * Stateless and thread-safe.
 */
#ifndef MESH_AGENT_COMMAND_LINE_H
#define MESH_AGENT_COMMAND_LINE_H

#include <stddef.h>

struct command_line {
	char **argv; /* argc words then NULL; each word and the array are owned */
	size_t argc; /* >= 1 after a successful split */
};

/*
 * Splits text into out. Returns 0, or -1 with a sentence in err saying what is
 * wrong (empty command, unterminated quote, trailing backslash, unquoted shell
 * operator) and out left empty ({NULL, 0}). out must be released with
 * command_line_clear after success.
 */
int command_line_split(const char *text, struct command_line *out, char *err, size_t err_size);

/* Frees every word and leaves cmd empty. An empty cmd is a no-op. */
void command_line_clear(struct command_line *cmd);

#endif
