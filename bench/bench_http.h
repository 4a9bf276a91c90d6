/*
 * bench_http: one blocking libcurl easy handle, reused request after request
 * so that the connection stays alive (what a real keep-alive client does, and
 * what the issue asks the load generator to do).
 *
 * Threads: a struct bench_http belongs to one thread; each load generator
 * thread has its own. curl_global_init must have been called before.
 */
#ifndef BENCH_HTTP_H
#define BENCH_HTTP_H

#include <stddef.h>

struct bench_http {
	void *curl;                 /* CURL *, kept opaque so callers need no curl header */
	struct curl_slist *headers; /* Content-Type, and no "Expect: 100-continue" */
	char *body;                 /* the last answer's body, NUL-ended; owned */
	size_t len, cap;
	char error[256];            /* curl's error text of the last failed request */
};

/*
 * Sets up h with a total timeout per request of timeout_ms. Returns 0, or -1
 * when out of memory (h is then cleaned up).
 */
int bench_http_init(struct bench_http *h, long timeout_ms);
void bench_http_cleanup(struct bench_http *h);

/* Changes the total timeout per request (for long polls such as ?wait=). */
void bench_http_set_timeout(struct bench_http *h, long timeout_ms);

/*
 * Sends one request: a POST of body (body_len bytes) if body is not NULL,
 * else a GET. Returns the HTTP status, or 0 if the request failed on the way
 * (connection refused, timeout, answer over 64 MiB); h->error says why. The
 * answer's body is in h->body (borrowed until the next request).
 */
int bench_http_request(struct bench_http *h, const char *url, const char *body, size_t body_len);

#endif
