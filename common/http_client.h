/*
 * http_client: blocking HTTP requests over libcurl, for the callers that make
 * one request at a time (the agent's registration loop, meshctl). The
 * coordinator's concurrent calls use libcurl's multi interface directly and
 * share http_buffer from here.
 *
 * Threads: a struct http_client owns one easy handle, reused across requests
 * so that connections stay alive; it must be used by one thread at a time.
 * curl_global_init must have been called once in main().
 */
#ifndef MESH_HTTP_CLIENT_H
#define MESH_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

/* A response body being received, bounded by limit. */
struct http_buffer {
	char *data; /* NUL-ended; owned */
	size_t len;
	size_t cap;
	size_t limit;
	bool overflow; /* more than limit bytes arrived; the transfer was aborted */
};

/* libcurl CURLOPT_WRITEFUNCTION for a struct http_buffer (CURLOPT_WRITEDATA). */
size_t http_buffer_write(char *ptr, size_t size, size_t nmemb, void *userdata);
void http_buffer_reset(struct http_buffer *buffer, size_t limit);
void http_buffer_free(struct http_buffer *buffer);

struct http_response {
	long status;
	char *body; /* NUL-ended, owned; "" when there was none */
	size_t len;
};

void http_response_clear(struct http_response *response);

struct http_client;

/* Returns a new client or NULL. timeouts in ms; response_limit in bytes. */
struct http_client *http_client_new(long connect_timeout_ms, long total_timeout_ms,
				    size_t response_limit);
void http_client_free(struct http_client *client);

/*
 * Whether to keep the connection open between requests (the default). A
 * client that calls rarely should not: an idle keep-alive connection holds one
 * of the server's civetweb threads until the server's keep-alive timeout.
 */
void http_client_set_keep_alive(struct http_client *client, bool keep_alive);

/* The longest a whole request may take from now on (e.g. a request that waits on the server). */
void http_client_set_timeout(struct http_client *client, long total_timeout_ms);

/*
 * Sends method url with body (NULL for none; sent as application/json).
 * Returns 0 if an HTTP response arrived (whatever its status: check
 * out->status), or -1 with err saying what failed ("connection refused to
 * http://h:1/x", "timed out after 2000 ms ..."). out must be released with
 * http_response_clear either way.
 */
int http_client_request(struct http_client *client, const char *method, const char *url,
			const char *body, struct http_response *out, char *err, size_t err_size);

#endif
