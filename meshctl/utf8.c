#include "utf8.h"

size_t utf8_width(const char *text)
{
	size_t width = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
		if ((*p & 0xC0) != 0x80)
			width++;
	}
	return width;
}

size_t utf8_sequence_length(const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		len = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		len = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		len = 4;
	else
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0; /* also stops at the NUL */
	}
	return len;
}

bool utf8_is_control(const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;

	if (len == 1)
		return p[0] < 0x20 || p[0] == 0x7F;
	return len == 2 && p[0] == 0xC2 && p[1] <= 0x9F;
}
