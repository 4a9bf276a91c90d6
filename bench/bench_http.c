#include "bench_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A listing of 10,000 jobs is a few MiB; anything larger is a bug worth an error. */
#define MAX_ANSWER (64u * 1024u * 1024u)

static size_t collect(char *data, size_t size, size_t nmemb, void *user)
{
	struct bench_http *h = user;
	size_t n = size * nmemb;

	if (h->len + n + 1 > MAX_ANSWER)
		return 0; /* makes curl fail the transfer: bounded, never unbounded growth */
	if (h->len + n + 1 > h->cap) {
		size_t cap = h->cap * 2;
		char *bigger;
		while (cap < h->len + n + 1)
			cap *= 2;
		bigger = realloc(h->body, cap);
		if (bigger == NULL)
			return 0;
		h->body = bigger;
		h->cap = cap;
	}
	memcpy(h->body + h->len, data, n);
	h->len += n;
	h->body[h->len] = '\0';
	return n;
}

int bench_http_init(struct bench_http *h, long timeout_ms)
{
	CURL *curl;

	memset(h, 0, sizeof(*h));
	h->cap = 4096;
	h->body = malloc(h->cap);
	curl = curl_easy_init();
	h->curl = curl;
	/* An empty "Expect:" stops curl from waiting for 100-continue on bodies over 1 KiB (batches). */
	h->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (h->headers != NULL) {
		struct curl_slist *more = curl_slist_append(h->headers, "Expect:");
		if (more == NULL) {
			curl_slist_free_all(h->headers);
			h->headers = NULL;
		}
	}
	if (h->body == NULL || curl == NULL || h->headers == NULL) {
		bench_http_cleanup(h);
		return -1;
	}
	h->body[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h->headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, h->error);
	return 0;
}

void bench_http_cleanup(struct bench_http *h)
{
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->headers);
	free(h->body);
	memset(h, 0, sizeof(*h));
}

void bench_http_set_timeout(struct bench_http *h, long timeout_ms)
{
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
}

int bench_http_request(struct bench_http *h, const char *url, const char *body, size_t body_len)
{
	CURL *curl = h->curl;
	long status = 0;
	CURLcode rc;

	h->len = 0;
	h->body[0] = '\0';
	h->error[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_URL, url);
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body_len);
	} else {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		if (h->error[0] == '\0')
			snprintf(h->error, sizeof(h->error), "%s", curl_easy_strerror(rc));
		return 0;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	return (int)status;
}
