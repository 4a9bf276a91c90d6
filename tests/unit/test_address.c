#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "check_main.h"

struct address_case {
	const char *address;
	const char *expected; /* NULL: must be rejected */
	const char *error_mentions;
};

static const struct address_case address_cases[] = {
	{":8081", "http://localhost:8081", NULL},
	{"host:8081", "http://host:8081", NULL},
	{"10.0.0.7:9000", "http://10.0.0.7:9000", NULL},
	{"host:8081/", "http://host:8081", NULL},
	{"[::1]:8081", "http://[::1]:8081", NULL},
	{"[fe80::1]:1", "http://[fe80::1]:1", NULL},
	{"http://host:8081", "http://host:8081", NULL},
	{"https://host:8443", "https://host:8443", NULL},
	{"http://host:8081/", "http://host:8081", NULL},
	{"http://host", "http://host", NULL},
	{"https://host/base", "https://host/base", NULL},
	{"", NULL, "empty"},
	{"   ", NULL, "whitespace"},
	{"host :8081", NULL, "whitespace"},
	{"host", NULL, "no port"},
	{"host:", NULL, "empty port"},
	{"host:0", NULL, "out of range"},
	{"host:65536", NULL, "out of range"},
	{"host:99999999", NULL, "out of range"},
	{"host:80a", NULL, "not a number"},
	{"host:-1", NULL, "not a number"},
	{"::1:8081", NULL, "more than one ':'"},
	{"[::1]", NULL, "no port"},
	{"[::1", NULL, "closing"},
	{"[]:80", NULL, "empty"},
	{"ftp://host:21", NULL, "scheme 'ftp'"},
	{"http://", NULL, "no host"},
	{"http:///x", NULL, "no host"},
	{"host:8081/path", NULL, "not a number"},
	{"/", NULL, "no host"},
};

START_TEST(test_build_agent_base_url_table)
{
	const struct address_case *c = &address_cases[_i];
	char err[256] = "";
	char *url = build_agent_base_url(c->address, err, sizeof(err));

	if (c->expected != NULL) {
		ck_assert_msg(url != NULL, "'%s' rejected: %s", c->address, err);
		ck_assert_str_eq(url, c->expected);
	} else {
		ck_assert_msg(url == NULL, "'%s' accepted as '%s'", c->address, url ? url : "");
		ck_assert_msg(strstr(err, c->error_mentions) != NULL, "'%s': error '%s' lacks '%s'",
			      c->address, err, c->error_mentions);
	}
	free(url);
}
END_TEST

START_TEST(test_build_agent_base_url_null_is_rejected)
{
	char err[64];
	ck_assert_ptr_null(build_agent_base_url(NULL, err, sizeof(err)));
	ck_assert_str_eq(err, "address is empty");
	ck_assert_ptr_null(build_agent_base_url(NULL, NULL, 0));
}
END_TEST

START_TEST(test_listen_address_accepts_port_zero_and_v6)
{
	char out[64], err[256];
	ck_assert_int_eq(listen_address_to_civetweb("127.0.0.1:0", out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_str_eq(out, "127.0.0.1:0");
	ck_assert_int_eq(listen_address_to_civetweb("[::1]:8080", out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_int_eq(listen_address_to_civetweb(":8080", out, sizeof(out), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no host"));
	ck_assert_int_eq(listen_address_to_civetweb("0.0.0.0:70000", out, sizeof(out), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	ck_assert_int_eq(listen_address_to_civetweb("0.0.0.0", out, sizeof(out), err, sizeof(err)), -1);
	ck_assert_int_eq(listen_address_to_civetweb("999.1.1.1:80", out, sizeof(out), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a valid IPv4 address"));
	ck_assert_int_eq(listen_address_to_civetweb("[::g]:80", out, sizeof(out), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a valid IPv6 address"));
	ck_assert_int_eq(listen_address_to_civetweb("localhost:80", out, sizeof(out), err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_parse_long_in_range)
{
	long v;
	ck_assert_int_eq(parse_long_in_range("42", 1, 100, &v), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(parse_long_in_range("0", 1, 100, &v), -1);
	ck_assert_int_eq(parse_long_in_range("101", 1, 100, &v), -1);
	ck_assert_int_eq(parse_long_in_range("", 1, 100, &v), -1);
	ck_assert_int_eq(parse_long_in_range(" 5", 1, 100, &v), -1);
	ck_assert_int_eq(parse_long_in_range("5x", 1, 100, &v), -1);
	ck_assert_int_eq(parse_long_in_range("99999999999999999999", 1, 100, &v), -1);
}
END_TEST

static Suite *address_suite(void)
{
	Suite *s = suite_create("address");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_build_agent_base_url_table, 0,
			    (int)(sizeof(address_cases) / sizeof(address_cases[0])));
	tcase_add_test(tc, test_build_agent_base_url_null_is_rejected);
	tcase_add_test(tc, test_listen_address_accepts_port_zero_and_v6);
	tcase_add_test(tc, test_parse_long_in_range);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(address_suite)
