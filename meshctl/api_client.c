#include "api_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "table.h"
#include "wire.h"

/* How much of an error reply's text goes into a message. */
#define API_MESSAGE_WIDTH 300

struct api_client {
	struct http_client *http;
	char *base_url;
};

void api_reply_clear(struct api_reply *reply)
{
	free(reply->body);
	json_decref(reply->json);
	memset(reply, 0, sizeof(*reply));
}

struct api_client *api_client_new(const char *base_url)
{
	struct api_client *client = calloc(1, sizeof(*client));

	if (client == NULL)
		return NULL;
	client->http = http_client_new(API_CONNECT_TIMEOUT_MS, API_REQUEST_TIMEOUT_MS, API_RESPONSE_LIMIT);
	client->base_url = strdup(base_url);
	if (client->http == NULL || client->base_url == NULL) {
		api_client_free(client);
		return NULL;
	}
	return client;
}

void api_client_free(struct api_client *client)
{
	if (client == NULL)
		return;
	http_client_free(client->http);
	free(client->base_url);
	free(client);
}

const char *api_client_base_url(const struct api_client *client)
{
	return client->base_url;
}

void api_client_allow_wait(struct api_client *client, long extra_ms)
{
	http_client_set_timeout(client->http, API_REQUEST_TIMEOUT_MS + extra_ms);
}

void api_error_message(long status, const char *body, size_t len, const char *method,
		       const char *url, char *err, size_t err_size)
{
	char raw[API_MESSAGE_WIDTH * 4];
	char *message = NULL;

	if (body != NULL && len > 0) {
		wire_error_message(body, len, raw, sizeof(raw));
		/* The text is the coordinator's, or a proxy's HTML: one line, no terminal escapes. */
		message = table_cell(raw, API_MESSAGE_WIDTH);
	}
	if (message != NULL && message[0] != '\0')
		snprintf(err, err_size, "%s (HTTP %ld from %s %s)", message, status, method, url);
	else
		snprintf(err, err_size, "the coordinator answered HTTP %ld without a message (%s %s)",
			 status, method, url);
	free(message);
}

int api_client_call(struct api_client *client, const char *method, const char *path,
		    const char *body, struct api_reply *reply, char *err, size_t err_size)
{
	struct http_response response = {0};
	char why[512];
	char *url = NULL;
	int rc = -1;

	memset(reply, 0, sizeof(*reply));
	if (asprintf(&url, "%s%s", client->base_url, path) < 0) {
		url = NULL;
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	if (http_client_request(client->http, method, url, body, &response, why, sizeof(why)) != 0) {
		snprintf(err, err_size,
			 "cannot reach the coordinator: %s (is mesh-coordinator running there? "
			 "see --coordinator and MESH_COORDINATOR)",
			 why);
		goto out;
	}
	reply->status = response.status;
	reply->body = response.body;
	reply->len = response.len;
	response.body = NULL; /* now owned by reply */
	if (reply->status < 200 || reply->status > 299) {
		api_error_message(reply->status, reply->body, reply->len, method, url, err, err_size);
		goto out;
	}
	reply->json = wire_parse_object(reply->body, reply->len, why, sizeof(why));
	if (reply->json == NULL) {
		snprintf(err, err_size, "the coordinator's reply to %s %s (HTTP %ld) is unusable: %s",
			 method, url, reply->status, why);
		goto out;
	}
	rc = 0;
out:
	http_response_clear(&response);
	free(url);
	return rc;
}

char *api_escape(const char *text)
{
	/* libcurl >= 7.82 ignores the handle argument. */
	char *escaped = curl_easy_escape(NULL, text, 0);
	char *copy;

	if (escaped == NULL)
		return NULL;
	copy = strdup(escaped); /* curl_free() memory, handed out as free() memory */
	curl_free(escaped);
	return copy;
}
