/*
 * utf8: the little UTF-8 knowledge meshctl's output needs: display width as
 * code points, sequence lengths, and which code points are controls (which a
 * terminal could take as commands, so job output never reaches it raw).
 * Stateless and thread-safe.
 */
#ifndef MESHCTL_UTF8_H
#define MESHCTL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Display columns of a NUL-ended UTF-8 string, counted as code points (bytes
 * that do not start one are not counted). Wide East Asian characters and
 * combining marks count as one column each.
 */
size_t utf8_width(const char *text);

/*
 * Length in bytes (1..4) of the well-formed UTF-8 sequence at text, or 0 if
 * text does not start one: a stray continuation byte, a bad lead byte, or a
 * sequence cut short (by the terminating NUL too). Overlong 3- and 4-byte
 * forms are not detected.
 */
size_t utf8_sequence_length(const char *text);

/* True if the len-byte sequence at text is a C0 control, DEL, or a C1 control (U+0080..U+009F). */
bool utf8_is_control(const char *text, size_t len);

#endif
