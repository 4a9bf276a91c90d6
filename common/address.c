#include "address.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_error(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

int parse_long_in_range(const char *text, long min, long max, long *out)
{
	char *end;
	long value;

	if (text == NULL || *text == '\0' || isspace((unsigned char)*text) || *text == '+')
		return -1;
	/* "-0" is a number, but nobody means it for a count or a duration. */
	if (*text == '-' && min >= 0)
		return -1;
	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0' || value < min || value > max)
		return -1;
	*out = value;
	return 0;
}

/*
 * Splits "host:port" or "[v6]:port" (text of length len, not NUL-terminated)
 * into host and port parts. The brackets stay on the host so it can go into a
 * URL as it is. Returns 0 or -1 with err set.
 */
static int split_host_port(const char *text, size_t len, const char **host, size_t *host_len,
			   const char **port, size_t *port_len, char *err, size_t err_size)
{
	const char *colon;

	if (len > 0 && text[0] == '[') {
		const char *close = memchr(text, ']', len);
		if (close == NULL) {
			set_error(err, err_size, "IPv6 address '%.*s' has no closing ']'", (int)len, text);
			return -1;
		}
		if (close == text + 1) {
			set_error(err, err_size, "IPv6 address in '%.*s' is empty", (int)len, text);
			return -1;
		}
		*host = text;
		*host_len = (size_t)(close - text) + 1;
		if (*host_len == len || close[1] != ':') {
			set_error(err, err_size, "address '%.*s' has no port (expected [V6]:PORT)", (int)len,
				  text);
			return -1;
		}
		*port = close + 2;
		*port_len = len - *host_len - 1;
		return 0;
	}
	colon = memchr(text, ':', len);
	if (colon == NULL) {
		set_error(err, err_size, "address '%.*s' has no port (expected HOST:PORT)", (int)len, text);
		return -1;
	}
	if (memchr(colon + 1, ':', len - (size_t)(colon + 1 - text)) != NULL) {
		set_error(err, err_size,
			  "address '%.*s' has more than one ':' (write IPv6 addresses as [V6]:PORT)",
			  (int)len, text);
		return -1;
	}
	*host = text;
	*host_len = (size_t)(colon - text);
	*port = colon + 1;
	*port_len = len - *host_len - 1;
	return 0;
}

static int check_port(const char *port, size_t port_len, long min, const char *whole, size_t whole_len,
		      char *err, size_t err_size)
{
	char digits[8];
	long value;

	if (port_len == 0) {
		set_error(err, err_size, "address '%.*s' has an empty port", (int)whole_len, whole);
		return -1;
	}
	for (size_t i = 0; i < port_len; i++) {
		if (!isdigit((unsigned char)port[i])) {
			set_error(err, err_size, "port '%.*s' in '%.*s' is not a number", (int)port_len,
				  port, (int)whole_len, whole);
			return -1;
		}
	}
	if (port_len >= sizeof(digits)) {
		set_error(err, err_size, "port %.*s in '%.*s' is out of range (%ld-65535)", (int)port_len,
			  port, (int)whole_len, whole, min);
		return -1;
	}
	memcpy(digits, port, port_len);
	digits[port_len] = '\0';
	if (parse_long_in_range(digits, min, 65535, &value) != 0) {
		set_error(err, err_size, "port %s in '%.*s' is out of range (%ld-65535)", digits,
			  (int)whole_len, whole, min);
		return -1;
	}
	return 0;
}

char *build_agent_base_url(const char *address, char *err, size_t err_size)
{
	const char *host, *port, *scheme_end;
	size_t len, host_len, port_len;
	char *url;

	if (address == NULL || *address == '\0') {
		set_error(err, err_size, "address is empty");
		return NULL;
	}
	len = strlen(address);
	for (size_t i = 0; i < len; i++) {
		if (isspace((unsigned char)address[i])) {
			set_error(err, err_size, "address '%s' contains whitespace", address);
			return NULL;
		}
	}
	if (address[len - 1] == '/')
		len--;
	if (len == 0) {
		set_error(err, err_size, "address '%s' has no host", address);
		return NULL;
	}

	scheme_end = strstr(address, "://");
	if (scheme_end != NULL) {
		size_t scheme_len = (size_t)(scheme_end - address);
		if (!((scheme_len == 4 && strncmp(address, "http", 4) == 0) ||
		      (scheme_len == 5 && strncmp(address, "https", 5) == 0))) {
			set_error(err, err_size, "address '%s' has scheme '%.*s' (only http and https)",
				  address, (int)scheme_len, address);
			return NULL;
		}
		if (len <= scheme_len + 3 || address[scheme_len + 3] == '/') {
			set_error(err, err_size, "URL '%s' has no host", address);
			return NULL;
		}
		return strndup(address, len);
	}

	if (split_host_port(address, len, &host, &host_len, &port, &port_len, err, err_size) != 0)
		return NULL;
	if (check_port(port, port_len, 1, address, len, err, err_size) != 0)
		return NULL;
	if (host_len == 0) {
		host = "localhost";
		host_len = strlen(host);
	}
	for (size_t i = 0; i < host_len; i++) {
		if (host[i] == '/' || host[i] == '@' || host[i] == '?' || host[i] == '#') {
			set_error(err, err_size, "host '%.*s' in '%s' has a '%c'", (int)host_len, host, address,
				  host[i]);
			return NULL;
		}
	}
	if (asprintf(&url, "http://%.*s:%.*s", (int)host_len, host, (int)port_len, port) < 0) {
		set_error(err, err_size, "out of memory");
		return NULL;
	}
	return url;
}

int listen_address_to_civetweb(const char *listen, char *out, size_t out_size, char *err,
			       size_t err_size)
{
	const char *host, *port;
	size_t len, host_len, port_len;

	if (listen == NULL || *listen == '\0') {
		set_error(err, err_size, "listen address is empty");
		return -1;
	}
	len = strlen(listen);
	for (size_t i = 0; i < len; i++) {
		if (isspace((unsigned char)listen[i])) {
			set_error(err, err_size, "listen address '%s' contains whitespace", listen);
			return -1;
		}
	}
	if (split_host_port(listen, len, &host, &host_len, &port, &port_len, err, err_size) != 0)
		return -1;
	if (check_port(port, port_len, 0, listen, len, err, err_size) != 0)
		return -1;
	if (host_len == 0) {
		set_error(err, err_size, "listen address '%s' has no host (use 0.0.0.0:PORT for all)",
			  listen);
		return -1;
	}
	if (strspn(host, "0123456789.") == host_len || host[0] == '[') {
		/* A numeric host must be an address: civetweb would take "999.1.1.1" modulo 256. */
		char literal[64];
		struct in6_addr scratch;
		bool v6 = host[0] == '[';
		size_t literal_len = v6 ? host_len - 2 : host_len;
		if (literal_len >= sizeof(literal) ||
		    (memcpy(literal, host + v6, literal_len), literal[literal_len] = '\0',
		     inet_pton(v6 ? AF_INET6 : AF_INET, literal, &scratch) != 1)) {
			set_error(err, err_size, "'%.*s' in listen address '%s' is not a valid IPv%c address",
				  (int)host_len, host, listen, v6 ? '6' : '4');
			return -1;
		}
	}
	/* civetweb takes "1.2.3.4:80", "[::1]:80" and "name:80" (resolved once, at start) as they are. */
	if ((size_t)snprintf(out, out_size, "%s", listen) >= out_size) {
		set_error(err, err_size, "listen address '%s' is too long", listen);
		return -1;
	}
	return 0;
}
