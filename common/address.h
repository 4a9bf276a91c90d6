/*
 * address: turning what a node advertises into the base URL the coordinator calls,
 * and checking the HOST:PORT values of --listen flags. Stateless and thread-safe.
 */
#ifndef MESH_ADDRESS_H
#define MESH_ADDRESS_H

#include <stddef.h>

/*
 * ADR 0004's buildAgentBaseURL, with stricter checks:
 *   ":8081"            -> "http://localhost:8081"
 *   "host:8081"        -> "http://host:8081"
 *   "[::1]:8081"       -> "http://[::1]:8081"
 *   "http://h:1/", "https://h" -> used as they are, one trailing '/' dropped
 * Rejected: empty or whitespace-only input, embedded whitespace, a missing or
 * non-numeric port, a port outside 1..65535, an empty host, an unbracketed
 * IPv6 address, and any scheme other than http and https.
 *
 * Returns a new string (caller frees with free()), or NULL with a sentence
 * saying what is wrong written to err (which may be NULL).
 */
char *build_agent_base_url(const char *address, char *err, size_t err_size);

/*
 * Checks a --listen value, "HOST:PORT" or "[V6]:PORT" (port 0 means "any free
 * port"), and writes the form civetweb's listening_ports option takes.
 * Returns 0, or -1 with a sentence in err.
 */
int listen_address_to_civetweb(const char *listen, char *out, size_t out_size, char *err,
			       size_t err_size);

/*
 * Parses a whole decimal integer within [min, max]. Returns 0, or -1 if text is
 * empty, has other characters, or is out of range.
 */
int parse_long_in_range(const char *text, long min, long max, long *out);

#endif
