#include "http_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_client {
	CURL *easy;
	struct curl_slist *headers;
	char error_buffer[CURL_ERROR_SIZE]; /* must live as long as the handle */
	bool keep_alive;
	long connect_timeout_ms;
	long total_timeout_ms;
	size_t response_limit;
};

size_t http_buffer_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_buffer *buffer = userdata;
	size_t n = size * nmemb;

	if (buffer->len + n > buffer->limit) {
		buffer->overflow = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (buffer->len + n + 1 > buffer->cap) {
		size_t cap = buffer->cap ? buffer->cap : 1024;
		char *bigger;
		while (cap < buffer->len + n + 1)
			cap *= 2;
		bigger = realloc(buffer->data, cap);
		if (bigger == NULL)
			return 0;
		buffer->data = bigger;
		buffer->cap = cap;
	}
	memcpy(buffer->data + buffer->len, ptr, n);
	buffer->len += n;
	buffer->data[buffer->len] = '\0';
	return n;
}

void http_buffer_reset(struct http_buffer *buffer, size_t limit)
{
	buffer->len = 0;
	buffer->limit = limit;
	buffer->overflow = false;
	if (buffer->data != NULL)
		buffer->data[0] = '\0';
}

void http_buffer_free(struct http_buffer *buffer)
{
	free(buffer->data);
	memset(buffer, 0, sizeof(*buffer));
}

void http_response_clear(struct http_response *response)
{
	free(response->body);
	memset(response, 0, sizeof(*response));
}

void http_client_set_timeout(struct http_client *client, long total_timeout_ms)
{
	client->total_timeout_ms = total_timeout_ms;
}

struct http_client *http_client_new(long connect_timeout_ms, long total_timeout_ms,
				    size_t response_limit)
{
	struct http_client *client = calloc(1, sizeof(*client));
	if (client == NULL)
		return NULL;
	client->easy = curl_easy_init();
	client->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (client->easy == NULL || client->headers == NULL) {
		http_client_free(client);
		return NULL;
	}
	client->keep_alive = true;
	client->connect_timeout_ms = connect_timeout_ms;
	client->total_timeout_ms = total_timeout_ms;
	client->response_limit = response_limit;
	return client;
}

void http_client_free(struct http_client *client)
{
	if (client == NULL)
		return;
	if (client->easy != NULL)
		curl_easy_cleanup(client->easy);
	curl_slist_free_all(client->headers);
	free(client);
}

void http_client_set_keep_alive(struct http_client *client, bool keep_alive)
{
	client->keep_alive = keep_alive;
}

int http_client_request(struct http_client *client, const char *method, const char *url,
			const char *body, struct http_response *out, char *err, size_t err_size)
{
	struct http_buffer buffer = {0};
	CURL *easy = client->easy;
	CURLcode rc;

	memset(out, 0, sizeof(*out));
	http_buffer_reset(&buffer, client->response_limit);
	/* Reset keeps the connection cache and so the keep-alive connection. */
	curl_easy_reset(easy);
	client->error_buffer[0] = '\0';
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, client->connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, client->total_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, client->error_buffer);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, http_buffer_write);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &buffer);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, client->keep_alive ? 0L : 1L);
	if (body != NULL) {
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, client->headers);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	}

	rc = curl_easy_perform(easy);
	if (rc != CURLE_OK) {
		if (buffer.overflow)
			snprintf(err, err_size, "response from %s is larger than %zu bytes", url,
				 client->response_limit);
		else if (rc == CURLE_OPERATION_TIMEDOUT)
			snprintf(err, err_size, "request to %s timed out: %s", url,
				 client->error_buffer[0] ? client->error_buffer : curl_easy_strerror(rc));
		else
			snprintf(err, err_size, "request to %s failed: %s", url,
				 client->error_buffer[0] ? client->error_buffer : curl_easy_strerror(rc));
		http_buffer_free(&buffer);
		return -1;
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &out->status);
	if (buffer.data == NULL)
		buffer.data = strdup("");
	out->body = buffer.data;
	out->len = buffer.len;
	return 0;
}
