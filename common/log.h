/*
 * log: one line per event on standard error:
 *   2026-11-23T15:30:00.123Z INFO  coordinator: job j-1a2b3c completed on node n-4d5e6f
 *
 * The component and the level are set once in main() before any thread starts
 * and only read afterwards, so they need no lock. Each line is written with a
 * single fprintf, which stdio serialises, so lines from threads never interleave.
 */
#ifndef MESH_LOG_H
#define MESH_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Call before any thread starts. component is borrowed: it must outlive the process (a literal). */
void log_init(const char *component, enum log_level min_level);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 for anything else. */
int log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Startup errors only: logs at ERROR and exits with status 1. */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
