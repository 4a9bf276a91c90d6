/*
 * job_waiters: a waiter wakes when its job is notified, not for another
 * job's; a wait ends at its deadline; the cap refuses one waiter too many.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "clock.h"
#include "job_waiters.h"

struct notifier {
	struct job_waiters *waiters;
	const char *job_id;
	int64_t delay_ms;
};

static void *notify_later(void *arg)
{
	struct notifier *n = arg;
	clock_sleep_ms(n->delay_ms);
	job_waiters_notify(n->waiters, "j-other000000"); /* must not wake the waiter */
	clock_sleep_ms(n->delay_ms);
	job_waiters_notify(n->waiters, n->job_id);
	return NULL;
}

START_TEST(test_job_waiters_wake_on_their_job_only)
{
	struct job_waiters *waiters = job_waiters_new(4);
	struct job_waiter *waiter = job_waiters_add(waiters, "j-000000000001");
	struct notifier n = {waiters, "j-000000000001", 100};
	int64_t started = clock_monotonic_ms();
	pthread_t thread;

	ck_assert_ptr_nonnull(waiter);
	pthread_create(&thread, NULL, notify_later, &n);
	ck_assert(job_waiters_wait(waiters, waiter, started + 10000));
	/* Woken by its own job (after ~200 ms), not by the other one at ~100 ms. */
	ck_assert_int_ge(clock_monotonic_ms() - started, 190);
	ck_assert_int_lt(clock_monotonic_ms() - started, 5000);
	pthread_join(thread, NULL);
	job_waiters_remove(waiters, waiter);
	job_waiters_free(waiters);
}
END_TEST

START_TEST(test_job_waiters_time_out_and_notice_an_earlier_notify)
{
	struct job_waiters *waiters = job_waiters_new(4);
	struct job_waiter *waiter = job_waiters_add(waiters, "");
	int64_t started = clock_monotonic_ms();

	job_waiters_watch(waiters, waiter, "j-000000000002");
	ck_assert(!job_waiters_wait(waiters, waiter, started + 150));
	ck_assert_int_ge(clock_monotonic_ms() - started, 140);
	/* A notify that came before the wait is not lost. */
	job_waiters_notify(waiters, "j-000000000002");
	ck_assert(job_waiters_wait(waiters, waiter, clock_monotonic_ms() + 10000));
	job_waiters_remove(waiters, waiter);
	job_waiters_notify(NULL, "j-000000000002"); /* no registry: a no-op */
	job_waiters_free(waiters);
}
END_TEST

START_TEST(test_job_waiters_say_whether_a_job_ended_before_the_naming)
{
	struct job_waiters *waiters = job_waiters_new(4);
	struct job_waiter *quiet = job_waiters_add(waiters, "");
	struct job_waiter *late;

	/* Nothing ended between add and watch: no need to look first. */
	ck_assert(!job_waiters_watch(waiters, quiet, "j-000000000001"));
	/* A job ended in between (maybe this one, before it was named): look first. */
	late = job_waiters_add(waiters, "");
	job_waiters_notify(waiters, "j-000000000002");
	ck_assert(job_waiters_watch(waiters, late, "j-000000000002"));
	ck_assert(!job_waiters_wait(waiters, late, clock_monotonic_ms()));
	job_waiters_remove(waiters, quiet);
	job_waiters_remove(waiters, late);
	job_waiters_free(waiters);
}
END_TEST

/*
 * A finished job handed over with the notification goes to the waiters of
 * that job, each its own copy, once; a plain notification hands none.
 */
START_TEST(test_job_waiters_hand_over_the_finished_job)
{
	struct job_waiters *waiters = job_waiters_new(4);
	struct job_waiter *first = job_waiters_add(waiters, "j-000000000001");
	struct job_waiter *second = job_waiters_add(waiters, "j-000000000001");
	struct job_waiter *other = job_waiters_add(waiters, "j-000000000002");
	struct job_waiter *untaken = job_waiters_add(waiters, "j-000000000001");
	struct job finished = {.id = "j-000000000001", .status = JOB_COMPLETED}, taken;

	ck_assert(job_waiters_has(waiters, "j-000000000001"));
	ck_assert(!job_waiters_has(waiters, "j-000000000009"));
	finished.type = strdup("echo");
	finished.result = strdup("out");
	job_waiters_notify_finished(waiters, &finished);
	job_clear(&finished); /* the waiters hold copies of their own */

	ck_assert(job_waiters_wait(waiters, first, clock_monotonic_ms()));
	ck_assert(job_waiters_take_finished(waiters, first, &taken));
	ck_assert_str_eq(taken.id, "j-000000000001");
	ck_assert_int_eq(taken.status, JOB_COMPLETED);
	ck_assert_str_eq(taken.result, "out");
	job_clear(&taken);
	ck_assert(!job_waiters_take_finished(waiters, first, &taken)); /* once */
	ck_assert(job_waiters_take_finished(waiters, second, &taken));
	ck_assert_str_eq(taken.type, "echo");
	job_clear(&taken);
	ck_assert(!job_waiters_wait(waiters, other, clock_monotonic_ms()));
	ck_assert(!job_waiters_take_finished(waiters, other, &taken));

	job_waiters_notify(waiters, "j-000000000002"); /* plain: woken, nothing handed */
	ck_assert(job_waiters_wait(waiters, other, clock_monotonic_ms()));
	ck_assert(!job_waiters_take_finished(waiters, other, &taken));
	job_waiters_remove(waiters, first);
	job_waiters_remove(waiters, second);
	job_waiters_remove(waiters, other);
	job_waiters_remove(waiters, untaken); /* frees the copy it never took */
	job_waiters_free(waiters);
}
END_TEST

START_TEST(test_job_waiters_refuse_beyond_the_cap)
{
	struct job_waiters *waiters = job_waiters_new(2);
	struct job_waiter *a = job_waiters_add(waiters, "j-a");
	struct job_waiter *b = job_waiters_add(waiters, "j-b");
	size_t waiting, max_waiters;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(job_waiters_add(waiters, "j-c"));
	job_waiters_count(waiters, &waiting, &max_waiters);
	ck_assert_uint_eq(waiting, 2);
	ck_assert_uint_eq(max_waiters, 2);
	job_waiters_remove(waiters, a);
	a = job_waiters_add(waiters, "j-c");
	ck_assert_ptr_nonnull(a);
	job_waiters_remove(waiters, a);
	job_waiters_remove(waiters, b);
	job_waiters_count(waiters, &waiting, &max_waiters);
	ck_assert_uint_eq(waiting, 0);
	job_waiters_free(waiters);
}
END_TEST

static Suite *job_waiters_suite(void)
{
	Suite *s = suite_create("job_waiters");
	TCase *tc = tcase_create("wait");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_job_waiters_wake_on_their_job_only);
	tcase_add_test(tc, test_job_waiters_time_out_and_notice_an_earlier_notify);
	tcase_add_test(tc, test_job_waiters_say_whether_a_job_ended_before_the_naming);
	tcase_add_test(tc, test_job_waiters_refuse_beyond_the_cap);
	tcase_add_test(tc, test_job_waiters_hand_over_the_finished_job);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(job_waiters_suite)
