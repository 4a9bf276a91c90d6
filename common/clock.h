/*
 * clock: wall-clock and monotonic milliseconds, and RFC 3339 timestamps.
 * Stateless and thread-safe.
 */
#ifndef MESH_CLOCK_H
#define MESH_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* "2026-11-23T15:30:00.123Z" plus the terminating NUL. */
#define CLOCK_RFC3339_SIZE 25

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): for timestamps people read. */
int64_t clock_wall_ms(void);

/* Milliseconds from an arbitrary origin (CLOCK_MONOTONIC): for deadlines and intervals. */
int64_t clock_monotonic_ms(void);

/* Writes ms since the epoch as UTC RFC 3339 with milliseconds. out_size must be >= CLOCK_RFC3339_SIZE. */
void clock_format_rfc3339(int64_t wall_ms, char *out, size_t out_size);

/*
 * Parses an RFC 3339 UTC timestamp of the form clock_format_rfc3339 writes
 * (fraction optional, 'Z' required). Returns 0, or -1 if text is not one.
 */
int clock_parse_rfc3339(const char *text, int64_t *wall_ms);

/* Sleeps for ms milliseconds, resuming after signals. */
void clock_sleep_ms(int64_t ms);

#endif
