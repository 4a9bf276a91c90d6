/*
 * http_server: a real server on a free port, driven with libcurl. What a
 * client sees of an answer (status, headers, body), keep-alive across
 * answers, the routing errors (404, 405 with Allow, 413), and an HTTP/1.0
 * client. Each test starts and stops its own server (one per forked test).
 */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "http_server.h"

#define BIG_BODY 40000 /* more than one write's buffer in http_server.c */

static void handle_small(struct http_request *request)
{
	http_reply_text(request, 200, "{\"ok\":true}", 11, NULL);
}

static void handle_created(struct http_request *request)
{
	http_reply_text(request, 201, "{\"id\":\"x\"}", 10, "/things/x");
}

static void handle_busy(struct http_request *request)
{
	http_reply_retry_later(request, 3, "too many waiting clients (%d)", 2);
}

static void handle_big(struct http_request *request)
{
	char *text = malloc(BIG_BODY + 1);

	memset(text, 'a', BIG_BODY);
	text[0] = '"';
	text[BIG_BODY - 1] = '"';
	text[BIG_BODY] = '\0';
	http_reply_text(request, 200, text, BIG_BODY, NULL);
	free(text);
}

static void handle_echo(struct http_request *request)
{
	http_reply_text(request, 200, request->body, request->body_len, NULL);
}

static const struct http_route routes[] = {
	{"GET", "/small", handle_small, false},
	{"POST", "/things", handle_created, true},
	{"GET", "/busy", handle_busy, false},
	{"GET", "/big", handle_big, false},
	{"POST", "/echo", handle_echo, true},
};

static struct http_server *server;
static char base_url[64];

static void start_server(void)
{
	struct http_server_config config = {
		.listen = "127.0.0.1:0",
		.routes = routes,
		.route_count = sizeof(routes) / sizeof(routes[0]),
		.body_limit = 1024,
		.num_threads = 4,
	};
	char err[256];

	server = http_server_start(&config, err, sizeof(err));
	ck_assert_msg(server != NULL, "server did not start: %s", err);
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", http_server_port(server));
}

static void stop_server(void)
{
	http_server_stop(server);
	server = NULL;
}

struct answer {
	long status;
	char *headers; /* every header line, as received */
	size_t headers_len;
	char *body;
	size_t body_len;
	long new_connections;
};

static size_t append(char **buffer, size_t *len, const char *data, size_t n)
{
	char *bigger = realloc(*buffer, *len + n + 1);

	if (bigger == NULL)
		return 0;
	memcpy(bigger + *len, data, n);
	*len += n;
	bigger[*len] = '\0';
	*buffer = bigger;
	return n;
}

static size_t on_header(char *data, size_t size, size_t count, void *arg)
{
	struct answer *a = arg;
	return append(&a->headers, &a->headers_len, data, size * count);
}

static size_t on_body(char *data, size_t size, size_t count, void *arg)
{
	struct answer *a = arg;
	return append(&a->body, &a->body_len, data, size * count);
}

/* One request on easy (kept across calls, so that its connection can be reused). */
static void request(CURL *easy, const char *method, const char *path, const char *body,
		    long http_version, struct answer *out)
{
	char url[128];

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s%s", base_url, path);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	if (body != NULL) {
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else {
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, http_version);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
	ck_assert_int_eq(curl_easy_perform(easy), CURLE_OK);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &out->status);
	curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &out->new_connections);
}

static void answer_clear(struct answer *a)
{
	free(a->headers);
	free(a->body);
}

static bool has_header(const struct answer *a, const char *line)
{
	return a->headers != NULL && strstr(a->headers, line) != NULL;
}

START_TEST(test_http_server_answers_with_status_headers_and_body)
{
	CURL *easy = curl_easy_init();
	struct answer a;
	char length[64];

	start_server();
	request(easy, "GET", "/small", NULL, CURL_HTTP_VERSION_1_1, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert(strncmp(a.headers, "HTTP/1.1 200 OK\r\n", 17) == 0);
	ck_assert(has_header(&a, "\r\nContent-Type: application/json\r\n"));
	ck_assert(has_header(&a, "\r\nContent-Length: 11\r\n"));
	ck_assert(has_header(&a, "\r\nCache-Control: no-store\r\n"));
	ck_assert(has_header(&a, "\r\nDate: "));
	ck_assert(has_header(&a, " GMT\r\n"));
	ck_assert_str_eq(a.body, "{\"ok\":true}");
	answer_clear(&a);

	request(easy, "POST", "/things", "{}", CURL_HTTP_VERSION_1_1, &a);
	ck_assert_int_eq(a.status, 201);
	ck_assert(strncmp(a.headers, "HTTP/1.1 201 Created\r\n", 22) == 0);
	ck_assert(has_header(&a, "\r\nLocation: /things/x\r\n"));
	ck_assert_str_eq(a.body, "{\"id\":\"x\"}");
	answer_clear(&a);

	request(easy, "GET", "/busy", NULL, CURL_HTTP_VERSION_1_1, &a);
	ck_assert_int_eq(a.status, 503);
	ck_assert(has_header(&a, "\r\nRetry-After: 3\r\n"));
	ck_assert_str_eq(a.body, "{\"error\":\"too many waiting clients (2)\"}");
	answer_clear(&a);

	/* An answer bigger than one write's buffer comes whole. */
	request(easy, "GET", "/big", NULL, CURL_HTTP_VERSION_1_1, &a);
	ck_assert_int_eq(a.status, 200);
	snprintf(length, sizeof(length), "\r\nContent-Length: %d\r\n", BIG_BODY);
	ck_assert(has_header(&a, length));
	ck_assert_uint_eq(a.body_len, BIG_BODY);
	ck_assert_int_eq(a.body[BIG_BODY - 1], '"');
	answer_clear(&a);

	curl_easy_cleanup(easy);
	stop_server();
}
END_TEST

START_TEST(test_http_server_keeps_the_connection_across_answers)
{
	CURL *easy = curl_easy_init();
	struct answer a;

	start_server();
	request(easy, "GET", "/small", NULL, CURL_HTTP_VERSION_1_1, &a);
	ck_assert_int_eq(a.new_connections, 1);
	answer_clear(&a);
	for (int i = 0; i < 20; i++) {
		const char *path = i % 3 == 0 ? "/small" : i % 3 == 1 ? "/busy" : "/big";
		request(easy, "GET", path, NULL, CURL_HTTP_VERSION_1_1, &a);
		ck_assert_msg(a.new_connections == 0, "request %d (%s) needed a new connection", i,
			      path);
		answer_clear(&a);
	}
	/* Errors made here (404, 405) keep it too. */
	request(easy, "GET", "/nowhere", NULL, CURL_HTTP_VERSION_1_1, &a);
	ck_assert_int_eq(a.status, 404);
	ck_assert_int_eq(a.new_connections, 0);
	answer_clear(&a);
	request(easy, "DELETE", "/small", NULL, CURL_HTTP_VERSION_1_1, &a);
	ck_assert_int_eq(a.status, 405);
	ck_assert(has_header(&a, "\r\nAllow: GET\r\n"));
	ck_assert_int_eq(a.new_connections, 0);
	answer_clear(&a);
	request(easy, "GET", "/small", NULL, CURL_HTTP_VERSION_1_1, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_int_eq(a.new_connections, 0);
	answer_clear(&a);
	curl_easy_cleanup(easy);
	stop_server();
}
END_TEST

START_TEST(test_http_server_answers_a_too_big_body_and_closes)
{
	CURL *easy = curl_easy_init();
	char *big = malloc(4097);
	struct answer a;

	memset(big, 'x', 4096);
	big[4096] = '\0';
	start_server();
	request(easy, "POST", "/echo", big, CURL_HTTP_VERSION_1_1, &a);
	ck_assert_int_eq(a.status, 413);
	ck_assert(has_header(&a, "\r\nConnection: close\r\n"));
	answer_clear(&a);
	/* The next request goes on a new connection and is answered normally. */
	request(easy, "POST", "/echo", "{\"a\":1}", CURL_HTTP_VERSION_1_1, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_int_eq(a.new_connections, 1);
	ck_assert_str_eq(a.body, "{\"a\":1}");
	answer_clear(&a);
	free(big);
	curl_easy_cleanup(easy);
	stop_server();
}
END_TEST

START_TEST(test_http_server_answers_an_http_1_0_client)
{
	CURL *easy = curl_easy_init();
	struct answer a;

	start_server();
	for (int i = 0; i < 3; i++) {
		request(easy, "POST", "/things", "{}", CURL_HTTP_VERSION_1_0, &a);
		ck_assert_int_eq(a.status, 201);
		ck_assert(has_header(&a, "\r\nLocation: /things/x\r\n"));
		ck_assert(has_header(&a, "\r\nContent-Length: 10\r\n"));
		ck_assert_str_eq(a.body, "{\"id\":\"x\"}");
		answer_clear(&a);
	}
	curl_easy_cleanup(easy);
	stop_server();
}
END_TEST

static Suite *http_server_suite(void)
{
	Suite *s = suite_create("http_server");
	TCase *tc = tcase_create("answers");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_http_server_answers_with_status_headers_and_body);
	tcase_add_test(tc, test_http_server_keeps_the_connection_across_answers);
	tcase_add_test(tc, test_http_server_answers_a_too_big_body_and_closes);
	tcase_add_test(tc, test_http_server_answers_an_http_1_0_client);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(http_server_suite)
