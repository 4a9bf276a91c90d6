/*
 * http_server: civetweb with one route table per daemon. A daemon lists its
 * routes once ({method, pattern, handler}); unknown paths get 404, a known path
 * with the wrong method gets 405 with an Allow header, and bodies over the
 * limit get 413, all from here rather than from each handler. Every error reply
 * is JSON: {"error": "..."}.
 *
 * Threads: civetweb calls handlers on its worker threads (one per connection),
 * so handlers must be thread-safe. The server itself keeps no mutable state
 * after http_server_start returns.
 */
#ifndef MESH_HTTP_SERVER_H
#define MESH_HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct mg_connection;

#define HTTP_MAX_PARAMS 4

struct http_request {
	struct mg_connection *conn;
	const char *method;
	const char *path;                     /* without the query string */
	const char *query;                    /* NULL if none */
	const char *params[HTTP_MAX_PARAMS];  /* the '*' segments of the pattern, in order */
	char *body;                           /* NUL-ended; NULL unless the route reads a body */
	size_t body_len;
	void *app;                            /* the daemon's context, from the config */
};

typedef void (*http_handler_fn)(struct http_request *request);

struct http_route {
	const char *method;     /* "GET", "POST", ... */
	const char *pattern;    /* "/jobs/ *" (no space): '*' is one non-empty path segment */
	http_handler_fn handler;
	bool reads_body;        /* read the body (bounded) before calling the handler */
};

struct http_server_config {
	const char *listen;       /* civetweb form, see listen_address_to_civetweb() */
	const struct http_route *routes;
	size_t route_count;
	void *app;
	size_t body_limit;        /* bytes; larger bodies get 413 */
	int num_threads;          /* civetweb worker threads = concurrent connections served */
	int keep_alive_ms;        /* how long an idle connection may hold its thread; 0: 2000 */
};

struct http_server;

/* Returns a running server, or NULL with err set (port in use, bad address, ...). */
struct http_server *http_server_start(const struct http_server_config *config, char *err,
				      size_t err_size);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *server);
/* Stops accepting, waits for handlers to return, frees. NULL is a no-op. */
void http_server_stop(struct http_server *server);

/*
 * Replies. json/text is sent with Content-Type application/json,
 * Content-Length, Cache-Control: no-store and Date, status line, headers and
 * body in one write where it fits (16 KiB). http_reply_json steals body.
 * location may be NULL.
 */
void http_reply_json(struct http_request *request, int status, json_t *body, const char *location);
void http_reply_text(struct http_request *request, int status, const char *json_text, size_t len,
		     const char *location);
void http_reply_error(struct http_request *request, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* 503 with Retry-After: retry_after_s and the error message: the server is busy, not broken. */
void http_reply_retry_later(struct http_request *request, int retry_after_s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Copies query parameter name into out (URL-decoded). Returns 1 if present,
 * 0 if absent, -1 if present but longer than out_size - 1 or holding a NUL.
 */
int http_query_param(const struct http_request *request, const char *name, char *out,
		     size_t out_size);

/*
 * Checks that every query parameter of the request is one of allowed
 * (NULL-ended). Returns NULL if so, else the first unknown name (copied into
 * scratch). An unknown filter should be an error, not silently ignored.
 */
const char *http_query_unknown_param(const struct http_request *request, const char *const *allowed,
				     char *scratch, size_t scratch_size);

#endif
