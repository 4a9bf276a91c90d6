#include <check.h>
#include <string.h>

#include "check_main.h"
#include "clock.h"

START_TEST(test_clock_formats_utc_with_milliseconds)
{
	char text[CLOCK_RFC3339_SIZE];
	clock_format_rfc3339(1795879800123LL, text, sizeof(text));
	ck_assert_str_eq(text, "2026-11-28T15:30:00.123Z");
	clock_format_rfc3339(5, text, sizeof(text));
	ck_assert_str_eq(text, "1970-01-01T00:00:00.005Z");
}
END_TEST

START_TEST(test_clock_parse_is_the_inverse_of_format)
{
	int64_t now = clock_wall_ms(), parsed = 0;
	char text[CLOCK_RFC3339_SIZE];
	clock_format_rfc3339(now, text, sizeof(text));
	ck_assert_int_eq(clock_parse_rfc3339(text, &parsed), 0);
	ck_assert_int_eq(parsed, now);
}
END_TEST

struct parse_case {
	const char *text;
	int rc;
	int64_t ms;
};

static const struct parse_case parse_cases[] = {
	{"2026-11-28T15:30:00Z", 0, 1795879800000LL},
	{"2026-11-28T15:30:00.1Z", 0, 1795879800100LL},
	{"2026-11-28T15:30:00.12Z", 0, 1795879800120LL},
	{"2026-11-28T15:30:00.1239Z", 0, 1795879800123LL},
	{"2026-11-28T15:30:00", -1, 0},
	{"2026-11-28T15:30:00.Z", -1, 0},
	{"2026-11-28T15:30:00+01:00", -1, 0},
	{"2026-11-28 15:30:00Z", -1, 0},
	{"yesterday", -1, 0},
	{"", -1, 0},
};

START_TEST(test_clock_parse_table)
{
	const struct parse_case *c = &parse_cases[_i];
	int64_t ms = 0;
	ck_assert_msg(clock_parse_rfc3339(c->text, &ms) == c->rc, "'%s'", c->text);
	if (c->rc == 0)
		ck_assert_int_eq(ms, c->ms);
}
END_TEST

START_TEST(test_clock_monotonic_moves_forward_across_a_sleep)
{
	int64_t before = clock_monotonic_ms();
	clock_sleep_ms(20);
	ck_assert_int_ge(clock_monotonic_ms() - before, 20);
}
END_TEST

static Suite *clock_suite(void)
{
	Suite *s = suite_create("clock");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_clock_formats_utc_with_milliseconds);
	tcase_add_test(tc, test_clock_parse_is_the_inverse_of_format);
	tcase_add_loop_test(tc, test_clock_parse_table, 0, (int)(sizeof(parse_cases) / sizeof(parse_cases[0])));
	tcase_add_test(tc, test_clock_monotonic_moves_forward_across_a_sleep);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(clock_suite)
