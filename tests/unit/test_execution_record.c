/*
 * execution_record: the state machine RUNNING -> FINISHED, the bounds by
 * count and by age (time is passed in, so age is driven explicitly), that
 * RUNNING records are never dropped, and concurrent use.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "clock.h"
#include "execution_record.h"

#define T0 1795000000000LL /* some wall-clock ms */
#define HOUR_MS (60 * 60 * 1000)

/* ---- state machine ---------------------------------------------------------------- */

START_TEST(test_execution_record_new_job_is_running_then_finished)
{
	struct execution_record *rec = execution_record_new(10, HOUR_MS);
	struct execution_record_entry e;

	ck_assert_ptr_nonnull(rec);
	ck_assert(!execution_record_get(rec, "j-1", 1, T0, &e));
	ck_assert_int_eq(execution_record_begin(rec, "j-1", 1, T0, NULL), EXECUTION_RECORD_BEGUN);
	ck_assert(execution_record_get(rec, "j-1", 1, T0 + 1, &e));
	ck_assert_str_eq(e.job_id, "j-1");
	ck_assert_int_eq(e.state, EXECUTION_RUNNING);
	ck_assert_int_eq(e.started_ms, T0);
	ck_assert_int_eq(e.finished_ms, 0);
	ck_assert_ptr_null(e.body);
	execution_record_entry_clear(&e);

	ck_assert_int_eq(execution_record_finish(rec, "j-1", 1, T0 + 50, 200, "{\"output\":\"x\",\"status\":\"ok\"}"), 0);
	ck_assert(execution_record_get(rec, "j-1", 1, T0 + 60, &e));
	ck_assert_int_eq(e.state, EXECUTION_FINISHED);
	ck_assert_int_eq(e.started_ms, T0);
	ck_assert_int_eq(e.finished_ms, T0 + 50);
	ck_assert_int_eq(e.http_status, 200);
	ck_assert_str_eq(e.body, "{\"output\":\"x\",\"status\":\"ok\"}");
	execution_record_entry_clear(&e);
	ck_assert_ptr_null(e.body);
	execution_record_free(rec);
}
END_TEST

START_TEST(test_execution_record_known_id_is_not_begun_again)
{
	struct execution_record *rec = execution_record_new(10, HOUR_MS);
	struct execution_record_entry e;
	size_t running, finished;

	ck_assert_int_eq(execution_record_begin(rec, "j-1", 1, T0, NULL), EXECUTION_RECORD_BEGUN);
	ck_assert_int_eq(execution_record_begin(rec, "j-1", 1, T0 + 1, &e), EXECUTION_RECORD_KNOWN);
	ck_assert_int_eq(e.state, EXECUTION_RUNNING);
	ck_assert_int_eq(e.started_ms, T0); /* unchanged */
	execution_record_entry_clear(&e);

	ck_assert_int_eq(execution_record_finish(rec, "j-1", 1, T0 + 2, 422,
						 "{\"error\":\"boom\",\"status\":\"failed\"}"),
			 0);
	ck_assert_int_eq(execution_record_begin(rec, "j-1", 1, T0 + 3, &e), EXECUTION_RECORD_KNOWN);
	ck_assert_int_eq(e.state, EXECUTION_FINISHED);
	ck_assert_int_eq(e.http_status, 422);
	ck_assert_str_eq(e.body, "{\"error\":\"boom\",\"status\":\"failed\"}");
	execution_record_entry_clear(&e);
	execution_record_counts(rec, T0 + 3, &running, &finished);
	ck_assert_uint_eq(running, 0);
	ck_assert_uint_eq(finished, 1);
	execution_record_free(rec);
}
END_TEST

START_TEST(test_execution_record_finish_needs_a_running_job)
{
	struct execution_record *rec = execution_record_new(10, HOUR_MS);
	struct execution_record_entry e;

	ck_assert_int_eq(execution_record_finish(rec, "j-none", 1, T0, 200, "{}"), -1);
	ck_assert_int_eq(execution_record_begin(rec, "j-1", 1, T0, NULL), EXECUTION_RECORD_BEGUN);
	ck_assert_int_eq(execution_record_finish(rec, "j-1", 1, T0 + 1, 503, "{\"a\":1}"), 0);
	/* A second finish changes nothing. */
	ck_assert_int_eq(execution_record_finish(rec, "j-1", 1, T0 + 2, 200, "{\"b\":2}"), -1);
	ck_assert(execution_record_get(rec, "j-1", 1, T0 + 3, &e));
	ck_assert_int_eq(e.http_status, 503);
	ck_assert_int_eq(e.finished_ms, T0 + 1);
	ck_assert_str_eq(e.body, "{\"a\":1}");
	execution_record_entry_clear(&e);
	execution_record_free(rec);
}
END_TEST

START_TEST(test_execution_record_rejects_bad_ids_and_bounds)
{
	struct execution_record *rec;
	char long_id[64];

	ck_assert_ptr_null(execution_record_new(0, HOUR_MS));
	ck_assert_ptr_null(execution_record_new(10, 0));
	ck_assert_ptr_null(execution_record_new(10, -5));
	rec = execution_record_new(1, 1);
	ck_assert_ptr_nonnull(rec);
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	ck_assert_int_eq(execution_record_begin(rec, "", 1, T0, NULL), EXECUTION_RECORD_NOMEM);
	ck_assert_int_eq(execution_record_begin(rec, long_id, 1, T0, NULL), EXECUTION_RECORD_NOMEM);
	long_id[MESH_ID_SIZE - 1] = '\0'; /* the longest id that fits */
	ck_assert_int_eq(execution_record_begin(rec, long_id, 1, T0, NULL), EXECUTION_RECORD_BEGUN);
	execution_record_free(rec);
	execution_record_free(NULL);
}
END_TEST

/* ---- bounds ------------------------------------------------------------------------- */

static void run_one(struct execution_record *rec, const char *id, int64_t start, int64_t end)
{
	ck_assert_int_eq(execution_record_begin(rec, id, 1, start, NULL), EXECUTION_RECORD_BEGUN);
	ck_assert_int_eq(execution_record_finish(rec, id, 1, end, 200, id), 0);
}

static bool known(struct execution_record *rec, const char *id, int64_t now)
{
	struct execution_record_entry e;
	bool found = execution_record_get(rec, id, 1, now, &e);
	execution_record_entry_clear(&e);
	return found;
}

START_TEST(test_execution_record_drops_oldest_finished_past_the_count)
{
	struct execution_record *rec = execution_record_new(3, HOUR_MS);
	size_t finished;
	char id[16];

	/* Finish order, not start order, decides: j-0 starts first but finishes last. */
	ck_assert_int_eq(execution_record_begin(rec, "j-0", 1, T0, NULL), EXECUTION_RECORD_BEGUN);
	for (int i = 1; i <= 3; i++) {
		snprintf(id, sizeof(id), "j-%d", i);
		run_one(rec, id, T0 + i, T0 + i);
	}
	ck_assert_int_eq(execution_record_finish(rec, "j-0", 1, T0 + 10, 200, "late"), 0);
	execution_record_counts(rec, T0 + 10, NULL, &finished);
	ck_assert_uint_eq(finished, 3);
	ck_assert(!known(rec, "j-1", T0 + 10));
	ck_assert(known(rec, "j-2", T0 + 10));
	ck_assert(known(rec, "j-3", T0 + 10));
	ck_assert(known(rec, "j-0", T0 + 10));
	for (int i = 4; i <= 100; i++) {
		snprintf(id, sizeof(id), "j-%d", i);
		run_one(rec, id, T0 + i, T0 + 10 + i);
	}
	execution_record_counts(rec, T0 + 200, NULL, &finished);
	ck_assert_uint_eq(finished, 3);
	ck_assert(known(rec, "j-98", T0 + 200));
	ck_assert(known(rec, "j-100", T0 + 200));
	ck_assert(!known(rec, "j-97", T0 + 200));
	/* A dropped id is new again. */
	ck_assert_int_eq(execution_record_begin(rec, "j-1", 1, T0 + 300, NULL), EXECUTION_RECORD_BEGUN);
	execution_record_free(rec);
}
END_TEST

START_TEST(test_execution_record_drops_finished_past_the_age)
{
	struct execution_record *rec = execution_record_new(10000, HOUR_MS);
	size_t finished;

	run_one(rec, "j-a", T0, T0 + 1000);
	run_one(rec, "j-b", T0, T0 + 2000);
	ck_assert(known(rec, "j-a", T0 + 1000 + HOUR_MS - 1));
	ck_assert(!known(rec, "j-a", T0 + 1000 + HOUR_MS));
	ck_assert(known(rec, "j-b", T0 + 1000 + HOUR_MS));
	execution_record_counts(rec, T0 + 2000 + HOUR_MS, NULL, &finished);
	ck_assert_uint_eq(finished, 0);
	execution_record_free(rec);
}
END_TEST

START_TEST(test_execution_record_never_drops_running)
{
	struct execution_record *rec = execution_record_new(2, 1000);
	struct execution_record_entry e;
	size_t running, finished;
	char id[16];

	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "r-%d", i);
		ck_assert_int_eq(execution_record_begin(rec, id, 1, T0, NULL), EXECUTION_RECORD_BEGUN);
	}
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "f-%d", i);
		run_one(rec, id, T0, T0 + i);
	}
	/* Far past the age bound and the count bound. */
	execution_record_counts(rec, T0 + 10 * HOUR_MS, &running, &finished);
	ck_assert_uint_eq(running, 50);
	ck_assert_uint_eq(finished, 0);
	ck_assert(execution_record_get(rec, "r-0", 1, T0 + 10 * HOUR_MS, &e));
	ck_assert_int_eq(e.state, EXECUTION_RUNNING);
	execution_record_entry_clear(&e);
	/* The age counts from the finish, not the start. */
	ck_assert_int_eq(execution_record_finish(rec, "r-0", 1, T0 + 10 * HOUR_MS, 200, "done"), 0);
	ck_assert(known(rec, "r-0", T0 + 10 * HOUR_MS + 999));
	ck_assert(!known(rec, "r-0", T0 + 10 * HOUR_MS + 1000));
	execution_record_free(rec);
}
END_TEST

/* ---- threads ------------------------------------------------------------------------ */

#define THREADS 8
#define IDS 500

struct worker {
	struct execution_record *rec;
	pthread_t thread;
	int begun;
};

/* Every worker tries every id; the one that begins it finishes it. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct execution_record_entry e;
	char id[16];

	for (int i = 0; i < IDS; i++) {
		snprintf(id, sizeof(id), "j-%d", i);
		switch (execution_record_begin(w->rec, id, 1, T0 + i, &e)) {
		case EXECUTION_RECORD_BEGUN:
			w->begun++;
			execution_record_finish(w->rec, id, 1, T0 + i, 200, id);
			break;
		case EXECUTION_RECORD_KNOWN:
			execution_record_entry_clear(&e);
			break;
		case EXECUTION_RECORD_NOMEM:
			return (void *)1;
		}
		if (execution_record_get(w->rec, id, 1, T0 + i, &e))
			execution_record_entry_clear(&e);
	}
	return NULL;
}

START_TEST(test_execution_record_keeps_its_count_bound_across_threads)
{
	struct execution_record *rec = execution_record_new(IDS / 2, HOUR_MS);
	struct worker workers[THREADS];
	size_t running, finished;
	int begun = 0;

	for (int t = 0; t < THREADS; t++) {
		workers[t] = (struct worker){.rec = rec};
		ck_assert_int_eq(pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		void *failed;
		pthread_join(workers[t].thread, &failed);
		ck_assert_ptr_null(failed);
		begun += workers[t].begun;
	}
	/* A slow thread may begin an id again once the count bound dropped it: at least once each. */
	ck_assert_int_ge(begun, IDS);
	execution_record_counts(rec, T0 + IDS, &running, &finished);
	ck_assert_uint_eq(running, 0);
	ck_assert_uint_eq(finished, IDS / 2);
	execution_record_free(rec);
}
END_TEST

START_TEST(test_execution_record_begins_each_id_exactly_once_across_threads)
{
	struct execution_record *rec = execution_record_new(IDS, HOUR_MS);
	struct worker workers[THREADS];
	int begun = 0;

	for (int t = 0; t < THREADS; t++) {
		workers[t] = (struct worker){.rec = rec};
		ck_assert_int_eq(pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(workers[t].thread, NULL);
		begun += workers[t].begun;
	}
	ck_assert_int_eq(begun, IDS);
	execution_record_free(rec);
}
END_TEST

START_TEST(test_execution_record_keeps_one_record_per_attempt)
{
	struct execution_record *rec = execution_record_new(10, HOUR_MS);
	struct execution_record_entry e;

	ck_assert_int_eq(execution_record_begin(rec, "j-1", 1, T0, NULL), EXECUTION_RECORD_BEGUN);
	ck_assert_int_eq(execution_record_finish(rec, "j-1", 1, T0 + 1, 422, "{\"first\":1}"), 0);
	/* A repeat of attempt 1 is known; attempt 2 is new and runs. */
	ck_assert_int_eq(execution_record_begin(rec, "j-1", 1, T0 + 2, NULL), EXECUTION_RECORD_KNOWN);
	ck_assert_int_eq(execution_record_begin(rec, "j-1", 2, T0 + 3, &e), EXECUTION_RECORD_BEGUN);
	/* Attempt 0 is the newest attempt. */
	ck_assert(execution_record_get(rec, "j-1", 0, T0 + 4, &e));
	ck_assert_int_eq(e.attempt, 2);
	ck_assert_int_eq(e.state, EXECUTION_RUNNING);
	execution_record_entry_clear(&e);
	ck_assert(execution_record_get(rec, "j-1", 1, T0 + 4, &e));
	ck_assert_int_eq(e.attempt, 1);
	ck_assert_str_eq(e.body, "{\"first\":1}");
	execution_record_entry_clear(&e);
	ck_assert(!execution_record_get(rec, "j-1", 3, T0 + 4, &e));
	/* Finishing wants the exact attempt. */
	ck_assert_int_eq(execution_record_finish(rec, "j-1", 0, T0 + 5, 200, "{}"), -1);
	ck_assert_int_eq(execution_record_finish(rec, "j-1", 3, T0 + 5, 200, "{}"), -1);
	ck_assert(execution_record_wait_finished(rec, "j-1", 1, 0));
	ck_assert(!execution_record_wait_finished(rec, "j-1", 2, 0));
	ck_assert_int_eq(execution_record_finish(rec, "j-1", 2, T0 + 5, 200, "{\"second\":2}"), 0);
	ck_assert(execution_record_get(rec, "j-1", 0, T0 + 6, &e));
	ck_assert_int_eq(e.attempt, 2);
	ck_assert_str_eq(e.body, "{\"second\":2}");
	execution_record_entry_clear(&e);
	/* Attempt 0 or below never begins. */
	ck_assert_int_eq(execution_record_begin(rec, "j-2", 0, T0, NULL), EXECUTION_RECORD_NOMEM);
	execution_record_free(rec);
}
END_TEST

struct finisher {
	struct execution_record *rec;
	int delay_ms;
	pthread_t thread;
};

static void *finisher_main(void *arg)
{
	struct finisher *f = arg;
	clock_sleep_ms(f->delay_ms);
	execution_record_finish(f->rec, "j-1", 1, T0 + 5, 422, "{\"error\":\"x\",\"status\":\"failed\"}");
	return NULL;
}

START_TEST(test_execution_record_wait_finished_wakes_when_the_job_finishes)
{
	struct execution_record *rec = execution_record_new(10, HOUR_MS);
	struct finisher f = {.rec = rec, .delay_ms = 50};
	int64_t start;

	/* Unknown: nothing to wait for. */
	ck_assert(execution_record_wait_finished(rec, "j-nope", 1, 1000));
	ck_assert_int_eq(execution_record_begin(rec, "j-1", 1, T0, NULL), EXECUTION_RECORD_BEGUN);
	start = clock_monotonic_ms();
	ck_assert(!execution_record_wait_finished(rec, "j-1", 1, 50));
	ck_assert_int_ge(clock_monotonic_ms() - start, 50);
	ck_assert_int_eq(pthread_create(&f.thread, NULL, finisher_main, &f), 0);
	start = clock_monotonic_ms();
	ck_assert(execution_record_wait_finished(rec, "j-1", 1, 5000));
	ck_assert_int_lt(clock_monotonic_ms() - start, 2000);
	pthread_join(f.thread, NULL);
	/* Finished: at once. */
	ck_assert(execution_record_wait_finished(rec, "j-1", 1, 0));
	execution_record_free(rec);
}
END_TEST

static Suite *execution_record_suite(void)
{
	Suite *s = suite_create("execution_record");
	TCase *tc;

	tc = tcase_create("state");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_execution_record_new_job_is_running_then_finished);
	tcase_add_test(tc, test_execution_record_known_id_is_not_begun_again);
	tcase_add_test(tc, test_execution_record_finish_needs_a_running_job);
	tcase_add_test(tc, test_execution_record_keeps_one_record_per_attempt);
	tcase_add_test(tc, test_execution_record_rejects_bad_ids_and_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounds");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_execution_record_drops_oldest_finished_past_the_count);
	tcase_add_test(tc, test_execution_record_drops_finished_past_the_age);
	tcase_add_test(tc, test_execution_record_never_drops_running);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_execution_record_keeps_its_count_bound_across_threads);
	tcase_add_test(tc, test_execution_record_begins_each_id_exactly_once_across_threads);
	tcase_add_test(tc, test_execution_record_wait_finished_wakes_when_the_job_finishes);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(execution_record_suite)
