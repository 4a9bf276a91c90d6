/*
 * api_client: meshctl's requests to the coordinator's HTTP API, over
 * http_client (libcurl): connect timeout 3 s, 10 s per request, replies of
 * at most 64 MiB. Every failure comes back as one sentence that says what was
 * asked of which URL and what came of it, ready to follow "meshctl: ":
 *
 *   job 'j-1' not found (HTTP 404 from GET http://localhost:8080/jobs/j-1)
 *   cannot reach the coordinator: request to http://localhost:8080/jobs failed: ...
 *
 * curl_global_init must have been called. One thread at a time per client.
 */
#ifndef MESHCTL_API_CLIENT_H
#define MESHCTL_API_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#define API_CONNECT_TIMEOUT_MS 3000
#define API_REQUEST_TIMEOUT_MS 10000
#define API_RESPONSE_LIMIT ((size_t)64 * 1024 * 1024)

/* Room for any message this module writes. */
#define API_ERROR_SIZE 1024

struct api_reply {
	long status;  /* HTTP status */
	char *body;   /* owned: the body as received, NUL-ended */
	size_t len;
	json_t *json; /* new reference: the body parsed (a JSON object) */
};

/* Frees what reply holds and zeroes it. Safe on a zeroed or already cleared reply. */
void api_reply_clear(struct api_reply *reply);

struct api_client;

/*
 * A new client for the coordinator at base_url (copied; no trailing '/'), or
 * NULL if out of memory.
 */
struct api_client *api_client_new(const char *base_url);

/* NULL is a no-op. */
void api_client_free(struct api_client *client);

/* Borrowed: valid while client lives. */
const char *api_client_base_url(const struct api_client *client);

/* Lets the next calls take up to extra_ms longer than API_REQUEST_TIMEOUT_MS (0: back to it). */
void api_client_allow_wait(struct api_client *client, long extra_ms);

/*
 * Sends method to base_url + path (path starts with '/' and is already
 * URL-encoded), with body as JSON (NULL: no body; "" for an empty body sent
 * with Content-Length: 0, as POSTs without a body should be). Returns 0 if
 * the coordinator answered 2xx with a JSON object (reply filled), or -1 with
 * err set: unreachable, timed out, reply too large, a 4xx/5xx (err has the
 * coordinator's "error" text, the status and the URL), or a body that is not
 * a JSON object. After any HTTP answer, reply->status and reply->body hold
 * it (reply->json only on success), so that a caller can read what came
 * with an error (cancel's 409 carries the job); reply->status is 0 if there
 * was no answer at all. reply must be released with api_reply_clear either
 * way.
 */
int api_client_call(struct api_client *client, const char *method, const char *path,
		    const char *body, struct api_reply *reply, char *err, size_t err_size);

/*
 * Builds the message for an HTTP error reply (status >= 400 or otherwise not
 * wanted): the "error" member of body, or its text made one line, or a note
 * that it was empty, then "(HTTP <status> from <method> <url>)". Pure.
 */
void api_error_message(long status, const char *body, size_t len, const char *method,
		       const char *url, char *err, size_t err_size);

/*
 * Percent-encodes text for one path segment or query value (curl_easy_escape:
 * everything but letters, digits and "-._~"). Returns a new string (free()),
 * or NULL if out of memory.
 */
char *api_escape(const char *text);

#endif
