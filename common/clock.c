#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t timespec_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_wall_ms(void)
{
	return timespec_ms(CLOCK_REALTIME);
}

int64_t clock_monotonic_ms(void)
{
	return timespec_ms(CLOCK_MONOTONIC);
}

void clock_format_rfc3339(int64_t wall_ms, char *out, size_t out_size)
{
	time_t seconds = (time_t)(wall_ms / 1000);
	struct tm tm;
	char date[32];

	gmtime_r(&seconds, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, out_size, "%s.%03dZ", date, (int)(wall_ms % 1000));
}

int clock_parse_rfc3339(const char *text, int64_t *wall_ms)
{
	struct tm tm;
	const char *rest;
	int millis = 0;

	memset(&tm, 0, sizeof(tm));
	rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL)
		return -1;
	if (*rest == '.') {
		int digits = 0;
		rest++;
		while (*rest >= '0' && *rest <= '9') {
			if (digits < 3)
				millis = millis * 10 + (*rest - '0');
			digits++;
			rest++;
		}
		if (digits == 0)
			return -1;
		for (; digits < 3; digits++)
			millis *= 10;
	}
	if (strcmp(rest, "Z") != 0)
		return -1;
	*wall_ms = (int64_t)timegm(&tm) * 1000 + millis;
	return 0;
}

void clock_sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}
