#include "http_server.h"

#include <civetweb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "wire.h"

struct http_server {
	struct mg_context *ctx;
	struct http_server_config config; /* copied; routes and app are borrowed */
	int port;
};

/* An answer up to this size goes out in one write (status line, headers and body). */
#define ONE_WRITE_MAX 16384

/*
 * header_name/header_value: one more header (Allow, Retry-After), or NULL.
 *
 * The answer is written by hand in one buffer rather than through civetweb's
 * header API, which sends each header line with its own send(): with
 * TCP_NODELAY that is 8 segments per answer, and it was the largest single
 * cost of both daemons under load (docs/performance.md). Two kinds of
 * answer still go through the header API, as before: one that says
 * "Connection: close" (after a body over the limit, which civetweb closes
 * the connection on because the body was never read), and any answer to an
 * HTTP/1.0 client, whose keep-alive header civetweb writes for it.
 */
static size_t format_head(struct mg_connection *conn, char *buffer, size_t size, int status,
			  size_t len, const char *location, const char *header_name,
			  const char *header_value)
{
	bool extra = header_name != NULL && header_value != NULL;
	char date[64];
	time_t now = time(NULL);
	struct tm utc;
	int n;

	if (gmtime_r(&now, &utc) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &utc) == 0)
		return 0;
	n = snprintf(buffer, size,
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nDate: %s\r\n%s%s%s%s%s%s%s\r\n",
			 status, mg_get_response_code_text(conn, status), len, date,
			 location != NULL ? "Location: " : "", location != NULL ? location : "",
			 location != NULL ? "\r\n" : "", extra ? header_name : "", extra ? ": " : "",
			 extra ? header_value : "", extra ? "\r\n" : "");
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static void reply_raw(struct mg_connection *conn, int status, const char *text, size_t len,
		      const char *location, const char *header_name, const char *header_value,
		      bool close_connection)
{
	char length[32];
	char buffer[ONE_WRITE_MAX];
	const struct mg_request_info *info = mg_get_request_info(conn);
	/*
	 * HTTP/1.1 keeps the connection by default, so the answer needs no
	 * Connection header; an HTTP/1.0 client gets civetweb's own handling.
	 */
	bool one_write = !close_connection && info != NULL && info->http_version != NULL &&
			 strcmp(info->http_version, "1.1") == 0;
	size_t head = one_write ? format_head(conn, buffer, sizeof(buffer), status, len, location,
					      header_name, header_value)
				: 0;

	if (head > 0) {
		if (len <= sizeof(buffer) - head) {
			memcpy(buffer + head, text, len);
			mg_write(conn, buffer, head + len);
		} else {
			mg_write(conn, buffer, head);
			mg_write(conn, text, len);
		}
		return;
	}
	snprintf(length, sizeof(length), "%zu", len);
	mg_response_header_start(conn, status);
	mg_response_header_add(conn, "Content-Type", "application/json", -1);
	mg_response_header_add(conn, "Content-Length", length, -1);
	mg_response_header_add(conn, "Cache-Control", "no-store", -1);
	if (location != NULL)
		mg_response_header_add(conn, "Location", location, -1);
	if (header_name != NULL)
		mg_response_header_add(conn, header_name, header_value, -1);
	if (close_connection)
		mg_response_header_add(conn, "Connection", "close", -1);
	mg_response_header_send(conn);
	if (len > 0)
		mg_write(conn, text, len);
}

static void reply_error_raw(struct mg_connection *conn, int status, const char *message,
			    const char *header_name, const char *header_value,
			    bool close_connection)
{
	char *body = wire_error_body(message);
	if (body == NULL) {
		reply_raw(conn, 500, "{\"error\":\"out of memory\"}", 25, NULL, NULL, NULL, true);
		return;
	}
	reply_raw(conn, status, body, strlen(body), NULL, header_name, header_value,
		  close_connection);
	free(body);
}

void http_reply_text(struct http_request *request, int status, const char *json_text, size_t len,
		     const char *location)
{
	reply_raw(request->conn, status, json_text, len, location, NULL, NULL, false);
}

void http_reply_json(struct http_request *request, int status, json_t *body, const char *location)
{
	char *text = wire_dump(body);
	if (text == NULL) {
		http_reply_error(request, 500, "could not encode the response");
		return;
	}
	http_reply_text(request, status, text, strlen(text), location);
	free(text);
}

void http_reply_error(struct http_request *request, int status, const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	reply_error_raw(request->conn, status, message, NULL, NULL, false);
}

void http_reply_retry_later(struct http_request *request, int retry_after_s, const char *fmt, ...)
{
	char message[1024], seconds[16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	snprintf(seconds, sizeof(seconds), "%d", retry_after_s);
	reply_error_raw(request->conn, 503, message, "Retry-After", seconds, false);
}

int http_query_param(const struct http_request *request, const char *name, char *out,
		     size_t out_size)
{
	int n;
	if (request->query == NULL)
		return 0;
	n = mg_get_var(request->query, strlen(request->query), name, out, out_size);
	if (n == -1)
		return 0;
	if (n < 0 || strlen(out) != (size_t)n)
		return -1; /* too long, or an encoded NUL ("%00") that would cut the value short */
	return 1;
}

const char *http_query_unknown_param(const struct http_request *request, const char *const *allowed,
				     char *scratch, size_t scratch_size)
{
	const char *p = request->query;

	while (p != NULL && *p != '\0') {
		size_t name_len = strcspn(p, "=&");
		bool known = false;
		for (size_t i = 0; allowed[i] != NULL && !known; i++)
			known = strlen(allowed[i]) == name_len && strncmp(p, allowed[i], name_len) == 0;
		if (!known && name_len > 0) {
			snprintf(scratch, scratch_size, "%.*s", (int)name_len, p);
			return scratch;
		}
		p += strcspn(p, "&");
		if (*p == '&')
			p++;
	}
	return NULL;
}

/*
 * Matches path against pattern segment by segment; '*' takes one non-empty
 * segment and is recorded in params. Returns true on a match.
 */
static bool route_matches(const char *pattern, const char *path, const char **params,
			  char segments[HTTP_MAX_PARAMS][256])
{
	size_t param_count = 0;

	while (*pattern != '\0' && *path != '\0') {
		if (*pattern != '/' || *path != '/')
			return false;
		pattern++;
		path++;
		size_t pattern_len = strcspn(pattern, "/");
		size_t path_len = strcspn(path, "/");
		if (pattern_len == 1 && pattern[0] == '*') {
			if (path_len == 0 || path_len >= 256 || param_count == HTTP_MAX_PARAMS)
				return false;
			memcpy(segments[param_count], path, path_len);
			segments[param_count][path_len] = '\0';
			params[param_count] = segments[param_count];
			param_count++;
		} else if (pattern_len != path_len || strncmp(pattern, path, path_len) != 0) {
			return false;
		}
		pattern += pattern_len;
		path += path_len;
	}
	return *pattern == '\0' && *path == '\0';
}

/* Reads the whole body into request. Returns 0, or the HTTP status to answer with. */
static int read_body(struct http_request *request, size_t limit, char *err, size_t err_size)
{
	const struct mg_request_info *info = mg_get_request_info(request->conn);
	size_t cap, len = 0;
	char *buf;

	if (info->content_length > (long long)limit) {
		snprintf(err, err_size, "body of %lld bytes is over the limit of %zu bytes",
			 info->content_length, limit);
		return 413;
	}
	cap = info->content_length >= 0 ? (size_t)info->content_length + 1 : 4096;
	buf = malloc(cap);
	if (buf == NULL) {
		snprintf(err, err_size, "out of memory");
		return 500;
	}
	for (;;) {
		int n;
		if (len + 1 >= cap) {
			char *bigger;
			if (cap > limit + 1) {
				free(buf);
				snprintf(err, err_size, "body is over the limit of %zu bytes", limit);
				return 413;
			}
			cap *= 2;
			bigger = realloc(buf, cap);
			if (bigger == NULL) {
				free(buf);
				snprintf(err, err_size, "out of memory");
				return 500;
			}
			buf = bigger;
		}
		n = mg_read(request->conn, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len > limit) {
			free(buf);
			snprintf(err, err_size, "body is over the limit of %zu bytes", limit);
			return 413;
		}
	}
	buf[len] = '\0';
	request->body = buf;
	request->body_len = len;
	return 0;
}

static int begin_request(struct mg_connection *conn)
{
	const struct mg_request_info *info = mg_get_request_info(conn);
	struct http_server *server = mg_get_user_data(mg_get_context(conn));
	char segments[HTTP_MAX_PARAMS][256];
	char allow[128] = "";
	struct http_request request;
	const struct http_route *route = NULL;

	memset(&request, 0, sizeof(request));
	request.conn = conn;
	request.method = info->request_method;
	request.path = info->local_uri != NULL ? info->local_uri : "/";
	request.query = info->query_string;
	request.app = server->config.app;

	for (size_t i = 0; i < server->config.route_count; i++) {
		const struct http_route *candidate = &server->config.routes[i];
		const char *params[HTTP_MAX_PARAMS] = {0};
		if (!route_matches(candidate->pattern, request.path, params, segments))
			continue;
		if (strcmp(candidate->method, request.method) == 0) {
			route = candidate;
			memcpy(request.params, params, sizeof(params));
			break;
		}
		if (strstr(allow, candidate->method) == NULL) {
			size_t used = strlen(allow);
			snprintf(allow + used, sizeof(allow) - used, "%s%s", used ? ", " : "",
				 candidate->method);
		}
	}
	if (route == NULL) {
		char message[512];
		if (allow[0] != '\0') {
			snprintf(message, sizeof(message), "method %s is not allowed on %.300s (allowed: %s)",
				 request.method, request.path, allow);
			reply_error_raw(conn, 405, message, "Allow", allow, false);
			return 405;
		}
		snprintf(message, sizeof(message), "no such path: %.400s", request.path);
		reply_error_raw(conn, 404, message, NULL, NULL, false);
		return 404;
	}
	if (route->reads_body) {
		char err[256];
		int status = read_body(&request, server->config.body_limit, err, sizeof(err));
		if (status != 0) {
			/* The unread rest of the body would be taken as the next request: close. */
			reply_error_raw(conn, status, err, NULL, NULL, true);
			return status;
		}
	}
	route->handler(&request);
	free(request.body);
	return 1;
}

static int log_civetweb_message(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	log_warn("http: %s", message);
	return 1;
}

struct http_server *http_server_start(const struct http_server_config *config, char *err,
				      size_t err_size)
{
	struct mg_callbacks callbacks;
	struct mg_server_port ports[4];
	struct http_server *server;
	char threads[16], keep_alive[16];
	const char *options[] = {
		"listening_ports", config->listen,
		"num_threads", threads,
		"enable_keep_alive", "yes",
		"keep_alive_timeout_ms", keep_alive,
		"request_timeout_ms", "10000",
		"tcp_nodelay", "1",
		"listen_backlog", "512",
		NULL,
	};
	int n;

	server = calloc(1, sizeof(*server));
	if (server == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	server->config = *config;
	snprintf(threads, sizeof(threads), "%d", config->num_threads);
	snprintf(keep_alive, sizeof(keep_alive), "%d", config->keep_alive_ms > 0 ? config->keep_alive_ms : 2000);
	memset(&callbacks, 0, sizeof(callbacks));
	callbacks.begin_request = begin_request;
	callbacks.log_message = log_civetweb_message;

	server->ctx = mg_start(&callbacks, server, options);
	if (server->ctx == NULL) {
		snprintf(err, err_size,
			 "could not listen on %s (port in use, address not on this machine, or host "
			 "name not resolvable?)",
			 config->listen);
		free(server);
		return NULL;
	}
	n = mg_get_server_ports(server->ctx, 4, ports);
	server->port = n > 0 ? ports[0].port : 0;
	return server;
}

int http_server_port(const struct http_server *server)
{
	return server->port;
}

void http_server_stop(struct http_server *server)
{
	if (server == NULL)
		return;
	mg_stop(server->ctx);
	free(server);
}
