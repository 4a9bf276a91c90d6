/*
 * ceiling: the raw request ceiling of this machine for scenario 1 of
 * `make bench`. A bare civetweb server, configured like the daemons'
 * (common/http_server.c: keep-alive, tcp_nodelay, the same thread count and
 * timeouts), that reads a small JSON POST body, parses it with jansson
 * (duplicate keys rejected, as the coordinator does), checks it is an object
 * with a string "type", and answers a small JSON object with 201, the
 * Content-Type, Content-Length and Cache-Control headers the coordinator
 * sends. No store, no logging: what is left is the cost of HTTP and JSON
 * that every mesh request pays, and every other figure is compared with it.
 *
 * Usage: ceiling [--listen 127.0.0.1:0] [--threads N] [--one-write]
 * --one-write answers with one mg_write of the status line, headers and body
 * (one TCP segment) instead of civetweb's header API, which the daemons use
 * and which sends each header line on its own.
 * Prints "listening on HOST:PORT" on stderr once it serves; stops on
 * SIGTERM or SIGINT.
 *
 * Threads: civetweb's workers run begin_request; it touches no shared state.
 */
#include <civetweb.h>
#include <pthread.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_LIMIT 65536

/* --one-write: the whole answer in one buffer and one mg_write, instead of civetweb's header API. */
static int one_write;

static void reply(struct mg_connection *conn, int status, const char *text)
{
	char length[32];

	if (one_write) {
		/*
		 * mg_response_header_send sends every header line with its own
		 * send(), and with tcp_nodelay each one is a TCP segment of its own:
		 * 8 per answer. One buffer is one segment: this is what that costs.
		 */
		char head[512];
		int n = snprintf(head, sizeof(head),
				 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
				 "Content-Length: %zu\r\nCache-Control: no-store\r\n"
				 "Connection: keep-alive\r\n\r\n%s",
				 status, mg_get_response_code_text(conn, status), strlen(text), text);
		if (n > 0 && (size_t)n < sizeof(head)) {
			mg_write(conn, head, (size_t)n);
			return;
		}
	}
	snprintf(length, sizeof(length), "%zu", strlen(text));
	mg_response_header_start(conn, status);
	mg_response_header_add(conn, "Content-Type", "application/json", -1);
	mg_response_header_add(conn, "Content-Length", length, -1);
	mg_response_header_add(conn, "Cache-Control", "no-store", -1);
	mg_response_header_send(conn);
	mg_write(conn, text, strlen(text));
}

static int begin_request(struct mg_connection *conn)
{
	const struct mg_request_info *info = mg_get_request_info(conn);
	char body[BODY_LIMIT + 1];
	size_t len = 0;
	json_t *root, *answer;
	json_error_t error;
	char *text;

	if (strcmp(info->request_method, "GET") == 0) {
		reply(conn, 200, "{\"status\":\"ok\"}");
		return 200;
	}
	/* Short reads are normal: loop, bounded by the body limit. */
	for (int reads = 0; reads < BODY_LIMIT && len < BODY_LIMIT; reads++) {
		int n = mg_read(conn, body + len, BODY_LIMIT - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	body[len] = '\0';
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
	if (!json_is_object(root) || !json_is_string(json_object_get(root, "type"))) {
		json_decref(root);
		reply(conn, 400, "{\"error\":\"body must be a JSON object with a string 'type'\"}");
		return 400;
	}
	answer = json_pack("{s:s, s:O, s:s}", "id", "j-000000000001", "type",
			   json_object_get(root, "type"), "status", "QUEUED");
	text = answer != NULL ? json_dumps(answer, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (text == NULL)
		reply(conn, 500, "{\"error\":\"out of memory\"}");
	else
		reply(conn, 201, text);
	free(text);
	json_decref(answer);
	json_decref(root);
	return 201;
}

int main(int argc, char **argv)
{
	const char *listen = "127.0.0.1:0", *threads = "64";
	struct mg_callbacks callbacks;
	struct mg_server_port ports[4];
	struct mg_context *ctx;
	sigset_t stop;
	int sig, n;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--one-write") == 0) {
			one_write = 1;
		} else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			listen = argv[++i];
		} else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
			threads = argv[++i];
		} else {
			fprintf(stderr, "Usage: ceiling [--listen HOST:PORT] [--threads N] [--one-write]\n");
			return 2;
		}
	}
	/* Blocked before civetweb starts its threads, so that only sigwait sees them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	const char *options[] = {
		"listening_ports", listen,
		"num_threads", threads,
		"enable_keep_alive", "yes",
		"keep_alive_timeout_ms", "2000",
		"request_timeout_ms", "10000",
		"tcp_nodelay", "1",
		"listen_backlog", "512",
		NULL,
	};
	memset(&callbacks, 0, sizeof(callbacks));
	callbacks.begin_request = begin_request;
	ctx = mg_start(&callbacks, NULL, options);
	if (ctx == NULL) {
		fprintf(stderr, "ceiling: could not listen on %s\n", listen);
		return 1;
	}
	n = mg_get_server_ports(ctx, 4, ports);
	fprintf(stderr, "ceiling: listening on 127.0.0.1:%d\n", n > 0 ? ports[0].port : 0);
	fflush(stderr);
	sigwait(&stop, &sig);
	mg_stop(ctx);
	return 0;
}
