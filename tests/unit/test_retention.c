/*
 * retention: finished jobs older than the retention are pruned, in batches,
 * and nothing else is; the background pruner does it by itself and stops
 * promptly.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "clock.h"
#include "job_store.h"
#include "log.h"
#include "retention.h"

/* Stores one job of type and moves it to status (QUEUED, RUNNING, or a terminal one). */
static void add_job(struct job_store *store, enum job_status status, char *id)
{
	struct job spec = {.type = "echo", .payload = "x", .timeout_ms = 1000, .max_attempts = 1,
			   .backoff_base_ms = 1, .backoff_cap_ms = 1};
	struct job job;
	bool existed = false;
	int attempt = 0;

	ck_assert_int_eq(job_store_create(store, &spec, 1, &job, &existed), JOB_STORE_OK);
	strcpy(id, job.id);
	job_clear(&job);
	if (status == JOB_QUEUED)
		return;
	if (status == JOB_CANCELLED) {
		ck_assert_int_eq(job_store_cancel(store, id, "test", NULL, NULL), JOB_STORE_OK);
		return;
	}
	ck_assert_int_eq(job_store_mark_running(store, id, "n-000000000001", &attempt), JOB_STORE_OK);
	if (status == JOB_RUNNING)
		return;
	ck_assert_int_eq(job_store_finish(store, id, status, status == JOB_COMPLETED ? "out" : NULL,
					  status == JOB_FAILED ? "bad" : NULL,
					  status == JOB_COMPLETED ? ATTEMPT_COMPLETED : ATTEMPT_FAILED),
			 JOB_STORE_OK);
}

static bool exists(struct job_store *store, const char *id)
{
	struct job job;
	enum job_store_result rc = job_store_get(store, id, &job);
	if (rc == JOB_STORE_OK)
		job_clear(&job);
	return rc == JOB_STORE_OK;
}

START_TEST(test_retention_prunes_only_old_finished_jobs)
{
	struct job_store *store = job_store_memory_new();
	char queued[MESH_ID_SIZE], running[MESH_ID_SIZE], finished[25][MESH_ID_SIZE];
	enum job_status kinds[] = {JOB_COMPLETED, JOB_FAILED, JOB_CANCELLED};

	add_job(store, JOB_QUEUED, queued);
	add_job(store, JOB_RUNNING, running);
	for (int i = 0; i < 25; i++)
		add_job(store, kinds[i % 3], finished[i]);
	/* A retention of an hour: nothing is that old yet. */
	ck_assert_uint_eq(retention_prune_once(store, 3600000, clock_wall_ms(), 4), 0);
	for (int i = 0; i < 25; i++)
		ck_assert(exists(store, finished[i]));
	/* An hour later, in batches of 4: every finished job goes, the others stay. */
	ck_assert_uint_eq(retention_prune_once(store, 3600000, clock_wall_ms() + 3600001, 4), 25);
	for (int i = 0; i < 25; i++)
		ck_assert(!exists(store, finished[i]));
	ck_assert(exists(store, queued));
	ck_assert(exists(store, running));
	job_store_free(store);
}
END_TEST

static bool all_gone(struct job_store *store, char ids[][MESH_ID_SIZE], int count)
{
	for (int i = 0; i < count; i++) {
		if (exists(store, ids[i]))
			return false;
	}
	return true;
}

START_TEST(test_retention_thread_prunes_on_its_own_and_stops)
{
	struct job_store *store = job_store_memory_new();
	char done[3][MESH_ID_SIZE], queued[MESH_ID_SIZE];
	struct retention *retention;
	int64_t deadline, started;

	for (int i = 0; i < 3; i++)
		add_job(store, JOB_COMPLETED, done[i]);
	add_job(store, JOB_QUEUED, queued);
	retention = retention_start(store, 200, 50);
	ck_assert_ptr_nonnull(retention);
	deadline = clock_monotonic_ms() + 5000;
	while (!all_gone(store, done, 3) && clock_monotonic_ms() < deadline)
		clock_sleep_ms(20);
	ck_assert(all_gone(store, done, 3));
	ck_assert(exists(store, queued));
	/* Stopping wakes it from its wait: far sooner than an interval of an hour would. */
	started = clock_monotonic_ms();
	retention_stop(retention);
	retention = retention_start(store, 200, 3600000);
	ck_assert_ptr_nonnull(retention);
	started = clock_monotonic_ms();
	retention_stop(retention);
	ck_assert_int_lt(clock_monotonic_ms() - started, 2000);
	retention_stop(NULL);
	job_store_free(store);
}
END_TEST

static Suite *retention_suite(void)
{
	Suite *s = suite_create("retention");
	TCase *tc = tcase_create("prune");

	log_init("test", LOG_WARN);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_retention_prunes_only_old_finished_jobs);
	tcase_add_test(tc, test_retention_thread_prunes_on_its_own_and_stops);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(retention_suite)
