#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* Written once by log_init() before threads exist, read-only afterwards. */
static const char *log_component = "mesh";
static enum log_level log_min_level = LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_init(const char *component, enum log_level min_level)
{
	log_component = component;
	log_min_level = min_level;
}

int log_level_parse(const char *name, enum log_level *out)
{
	static const char *const lower[] = {"debug", "info", "warn", "error"};
	for (size_t i = 0; i < sizeof(lower) / sizeof(lower[0]); i++) {
		if (strcmp(name, lower[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char when[CLOCK_RFC3339_SIZE];
	char text[2048];

	if (level < log_min_level)
		return;
	clock_format_rfc3339(clock_wall_ms(), when, sizeof(when));
	vsnprintf(text, sizeof(text), fmt, ap);
	/* One fprintf per line: stdio's stream lock keeps lines whole across threads. */
	fprintf(stderr, "%s %-5s %s: %s\n", when, level_names[level], log_component, text);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
