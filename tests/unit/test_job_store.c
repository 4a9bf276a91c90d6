/*
 * job_store, through the job_store_* interface only. Every test runs once per
 * entry of store_factories[], so a second (durable) store is tested by adding
 * one row there: loop tests take the factory from _i (or from _i / 4 for the
 * paging test, which also loops over page sizes). The life-cycle and list
 * tables run every case inside one test per store: each forked test costs a
 * leak check at its exit (about 50 ms under ASan), which one test per case
 * multiplied into most of the run time. The SQLite-only tests (reopen, crash,
 * group commit, migration, a full disk, the one-coordinator lock, errors at
 * open) are at the end.
 *
 * Files: each test case (TCase) gets a fresh temporary directory, made and
 * removed by an unchecked fixture in the runner process; each test's files go
 * in it and a checked fixture deletes them when the test ends. A test that
 * crashes leaves its files to the directory's removal.
 *
 * Threads: Check's asserts belong to the test's main thread, so worker
 * threads record what they saw and the main thread asserts it.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "clock.h"
#include "job_store.h"

/* ---- temporary files ------------------------------------------------------------------ */

static char temp_dir[PATH_MAX]; /* set by make_temp_dir before the tests of a TCase */

static void make_temp_dir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(temp_dir, sizeof(temp_dir), "%s/mesh-test-job-store-XXXXXX",
		 base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(temp_dir) == NULL) {
		fprintf(stderr, "test_job_store: mkdtemp %s: %s\n", temp_dir, strerror(errno));
		exit(EXIT_FAILURE);
	}
}

/* Deletes everything in temp_dir (files and empty directories), not the directory itself. */
static void empty_temp_dir(void)
{
	DIR *dir = opendir(temp_dir);
	struct dirent *entry;

	if (dir == NULL)
		return;
	while ((entry = readdir(dir)) != NULL) {
		char path[PATH_MAX + 256];
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", temp_dir, entry->d_name);
		if (unlink(path) != 0)
			rmdir(path);
	}
	closedir(dir);
}

static void remove_temp_dir(void)
{
	empty_temp_dir();
	rmdir(temp_dir);
}

/* A path in temp_dir no test has used: "<temp_dir>/<name>-<pid>-<n>.db". */
static void temp_path(const char *name, char *out, size_t out_size)
{
	static int made;
	snprintf(out, out_size, "%s/%s-%ld-%d.db", temp_dir, name, (long)getpid(), made++);
}

/* ---- the stores under test --------------------------------------------------------------- */

static struct job_store *make_sqlite_store(void)
{
	char path[PATH_MAX + 64], err[512];
	struct job_store *store;

	temp_path("store", path, sizeof(path));
	store = job_store_sqlite_open(path, err, sizeof(err));
	ck_assert_msg(store != NULL, "sqlite store at %s: %s", path, err);
	return store;
}

struct store_factory {
	const char *name;
	struct job_store *(*make)(void);
};

static const struct store_factory store_factories[] = {
	{"memory", job_store_memory_new},
	{"sqlite", make_sqlite_store},
};

#define FACTORY_COUNT ((int)(sizeof(store_factories) / sizeof(store_factories[0])))

static struct job_store *open_store(int factory)
{
	struct job_store *store;

	ck_assert_int_lt(factory, FACTORY_COUNT);
	store = store_factories[factory].make();
	ck_assert_msg(store != NULL, "store '%s' could not be made", store_factories[factory].name);
	return store;
}

static struct job_store *open_sqlite_at(const char *path)
{
	char err[512];
	struct job_store *store = job_store_sqlite_open(path, err, sizeof(err));

	ck_assert_msg(store != NULL, "sqlite store at %s: %s", path, err);
	return store;
}

static const struct job_filter all_jobs = {.limit = JOB_STORE_LIST_MAX};

/* True if id is "j-" and 12 lowercase hex digits. */
static bool is_job_id(const char *id)
{
	if (strlen(id) != 14 || id[0] != 'j' || id[1] != '-')
		return false;
	for (size_t i = 2; i < 14; i++) {
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	}
	return true;
}

static bool same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* A submission as the coordinator makes it for a plain job: strings borrowed. */
static struct job spec_of(const char *type, const char *payload)
{
	struct job spec;

	memset(&spec, 0, sizeof(spec));
	spec.type = (char *)type;
	spec.payload = (char *)payload;
	spec.priority = JOB_PRIORITY_NORMAL;
	spec.max_attempts = 1;
	return spec;
}

static enum job_store_result create_one(struct job_store *store, const char *type,
					const char *payload, struct job *out)
{
	struct job spec = spec_of(type, payload);
	bool existed = true;
	enum job_store_result rc = job_store_create(store, &spec, 1, out, &existed);

	/* No ck_assert here: worker threads call this. A job without a key is always new. */
	return rc == JOB_STORE_OK && existed ? JOB_STORE_ERROR : rc;
}

static enum job_store_result create_keyed(struct job_store *store, const char *type,
					  const char *payload, const char *key, struct job *out,
					  bool *existed)
{
	struct job spec = spec_of(type, payload);

	spec.idempotency_key = (char *)key;
	return job_store_create(store, &spec, 1, out, existed);
}

/* Creates a job and returns its id in id (MESH_ID_SIZE). */
static void create_job(struct job_store *store, const char *type, const char *payload, char *id)
{
	struct job job;

	ck_assert_int_eq(create_one(store, type, payload, &job), JOB_STORE_OK);
	strcpy(id, job.id);
	job_clear(&job);
}

static void get_job(struct job_store *store, const char *id, struct job *out)
{
	ck_assert_msg(job_store_get(store, id, out) == JOB_STORE_OK, "job %s not found", id);
}

static void run_on(struct job_store *store, const char *id, const char *node_id)
{
	ck_assert_int_eq(job_store_mark_running(store, id, node_id, NULL), JOB_STORE_OK);
}

static void complete(struct job_store *store, const char *id, const char *result)
{
	ck_assert_int_eq(
		job_store_finish(store, id, JOB_COMPLETED, result, NULL, ATTEMPT_COMPLETED),
		JOB_STORE_OK);
}

static void fail_job(struct job_store *store, const char *id, const char *error)
{
	ck_assert_int_eq(job_store_finish(store, id, JOB_FAILED, NULL, error, ATTEMPT_FAILED),
			 JOB_STORE_OK);
}

static void assert_all_counts(struct job_store *store, size_t queued, size_t running,
			      size_t completed, size_t failed, size_t cancelled)
{
	size_t counts[JOB_STATUS_COUNT];

	job_store_count_by_status(store, counts);
	ck_assert_msg(counts[JOB_QUEUED] == queued && counts[JOB_RUNNING] == running &&
			      counts[JOB_COMPLETED] == completed && counts[JOB_FAILED] == failed &&
			      counts[JOB_CANCELLED] == cancelled,
		      "counts Q/R/C/F/X are %zu/%zu/%zu/%zu/%zu, expected %zu/%zu/%zu/%zu/%zu",
		      counts[JOB_QUEUED], counts[JOB_RUNNING], counts[JOB_COMPLETED],
		      counts[JOB_FAILED], counts[JOB_CANCELLED], queued, running, completed, failed,
		      cancelled);
}

static void assert_counts(struct job_store *store, size_t queued, size_t running, size_t completed,
			  size_t failed)
{
	assert_all_counts(store, queued, running, completed, failed, 0);
}

/* Every status's count equals the number of jobs list finds in it. */
static void assert_counts_match_the_list(struct job_store *store)
{
	size_t counts[JOB_STATUS_COUNT];

	job_store_count_by_status(store, counts);
	for (int s = 0; s < JOB_STATUS_COUNT; s++) {
		struct job_filter filter = {.by_status = true, .status = (enum job_status)s,
					    .limit = JOB_STORE_LIST_MAX};
		struct job_list list;
		ck_assert_int_eq(job_store_list(store, &filter, &list), JOB_STORE_OK);
		ck_assert_msg(counts[s] == list.count, "%s: count %zu, list %zu",
			      job_status_name((enum job_status)s), counts[s], list.count);
		job_list_clear(&list);
	}
}

static bool is_zeroed(const struct job *job)
{
	static const struct job zero;
	return memcmp(job, &zero, sizeof(zero)) == 0;
}

/* ---- create and get --------------------------------------------------------------- */

START_TEST(test_job_store_creates_a_queued_job_with_id_and_timestamps)
{
	struct job_store *store = open_store(_i);
	int64_t before = clock_wall_ms();
	struct job job, again;

	ck_assert_int_eq(create_one(store, "echo", "hello", &job), JOB_STORE_OK);
	ck_assert_msg(is_job_id(job.id), "id '%s' is not j-<12 hex>", job.id);
	ck_assert_str_eq(job.type, "echo");
	ck_assert_str_eq(job.payload, "hello");
	ck_assert_int_eq(job.status, JOB_QUEUED);
	ck_assert_str_eq(job.node_id, "");
	ck_assert_ptr_null(job.result);
	ck_assert_ptr_null(job.error);
	ck_assert_int_ge(job.created_at, before);
	ck_assert_int_le(job.created_at, clock_wall_ms());
	ck_assert_int_eq(job.updated_at, job.created_at);
	ck_assert_int_eq(job.attempt, 0);
	ck_assert(!job.has_attempts);

	ck_assert_int_eq(job_store_get(store, job.id, &again), JOB_STORE_OK);
	ck_assert_str_eq(again.id, job.id);
	ck_assert_str_eq(again.type, "echo");
	ck_assert_str_eq(again.payload, "hello");
	ck_assert_int_eq(again.status, JOB_QUEUED);
	ck_assert_int_eq(again.created_at, job.created_at);
	ck_assert_int_eq(again.updated_at, job.updated_at);
	ck_assert(again.has_attempts);
	ck_assert_uint_eq(again.attempt_count, 0);
	assert_counts(store, 1, 0, 0, 0);
	job_clear(&again);
	job_clear(&job);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_keeps_every_field_of_the_spec)
{
	struct job_store *store = open_store(_i);
	struct job spec = spec_of("render", "frame 7"), job, again;
	struct job_list list;
	bool existed = true;

	spec.priority = JOB_PRIORITY_HIGH;
	spec.timeout_ms = 5000;
	spec.max_attempts = 3;
	spec.retry_on_failure = true;
	spec.backoff_base_ms = 100;
	spec.backoff_cap_ms = 2000;
	spec.idempotency_key = "order-17";
	/* What the store assigns itself is not taken from the spec. */
	spec.attempt = 9;
	spec.next_attempt_at = 12345;
	spec.status = JOB_FAILED;
	strcpy(spec.node_id, "n-bogus");

	ck_assert_int_eq(job_store_create(store, &spec, 1, &job, &existed), JOB_STORE_OK);
	ck_assert(!existed);
	for (int round = 0; round < 3; round++) {
		const struct job *j = &job;
		if (round == 1) {
			get_job(store, job.id, &again);
			j = &again;
		} else if (round == 2) {
			ck_assert_int_eq(job_store_list(store, &all_jobs, &list), JOB_STORE_OK);
			ck_assert_uint_eq(list.count, 1);
			j = &list.items[0];
		}
		ck_assert_str_eq(j->type, "render");
		ck_assert_str_eq(j->payload, "frame 7");
		ck_assert_int_eq(j->priority, JOB_PRIORITY_HIGH);
		ck_assert_int_eq(j->timeout_ms, 5000);
		ck_assert_int_eq(j->max_attempts, 3);
		ck_assert(j->retry_on_failure);
		ck_assert_int_eq(j->backoff_base_ms, 100);
		ck_assert_int_eq(j->backoff_cap_ms, 2000);
		ck_assert_str_eq(j->idempotency_key, "order-17");
		ck_assert_int_eq(j->attempt, 0);
		ck_assert_int_eq(j->next_attempt_at, 0);
		ck_assert_int_eq(j->status, JOB_QUEUED);
		ck_assert_str_eq(j->node_id, "");
		/* Only get hands out attempts. */
		ck_assert(j->has_attempts == (round == 1));
		ck_assert_uint_eq(j->attempt_count, 0);
	}
	job_clear(&again);
	job_list_clear(&list);
	job_clear(&job);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_keeps_zero_timeout_and_backoff_and_each_priority_as_given)
{
	struct job_store *store = open_store(_i);
	static const enum job_priority priorities[] = {JOB_PRIORITY_HIGH, JOB_PRIORITY_NORMAL,
						       JOB_PRIORITY_LOW};
	struct job specs[3], out[3], again;
	bool existed[3];

	for (int i = 0; i < 3; i++) {
		specs[i] = spec_of("echo", "x");
		specs[i].priority = priorities[i];
		specs[i].retry_on_failure = i == 1;
		specs[i].max_attempts = i + 1;
	}
	ck_assert_int_eq(job_store_create(store, specs, 3, out, existed), JOB_STORE_OK);
	for (int i = 0; i < 3; i++) {
		get_job(store, out[i].id, &again);
		ck_assert_int_eq(again.priority, priorities[i]);
		ck_assert_int_eq(again.timeout_ms, 0); /* 0: the coordinator's default */
		ck_assert_int_eq(again.backoff_base_ms, 0);
		ck_assert_int_eq(again.backoff_cap_ms, 0);
		ck_assert_int_eq(again.max_attempts, i + 1);
		ck_assert(again.retry_on_failure == (i == 1));
		ck_assert_ptr_null(again.idempotency_key);
		job_clear(&again);
		job_clear(&out[i]);
	}
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_gives_each_job_its_own_id)
{
	struct job_store *store = open_store(_i);
	char a[MESH_ID_SIZE], b[MESH_ID_SIZE], c[MESH_ID_SIZE];

	create_job(store, "echo", "same", a);
	create_job(store, "echo", "same", b);
	create_job(store, "echo", "same", c);
	ck_assert_str_ne(a, b);
	ck_assert_str_ne(a, c);
	ck_assert_str_ne(b, c);
	assert_counts(store, 3, 0, 0, 0);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_keeps_copies_of_inputs_and_hands_out_copies)
{
	struct job_store *store = open_store(_i);
	char type[] = "echo", payload[] = "hello", key[] = "k";
	struct job spec = spec_of(type, payload), job, again;
	char id[MESH_ID_SIZE];
	bool existed;

	spec.idempotency_key = key;
	ck_assert_int_eq(job_store_create(store, &spec, 1, &job, &existed), JOB_STORE_OK);
	strcpy(id, job.id);
	/* Scribble on the caller's inputs and on the copy handed out. */
	type[0] = 'X';
	payload[0] = 'X';
	key[0] = 'X';
	job.type[0] = 'Y';
	job.payload[0] = 'Y';
	job.idempotency_key[0] = 'Y';
	job.status = JOB_FAILED;
	job_clear(&job);

	ck_assert_int_eq(job_store_get(store, id, &again), JOB_STORE_OK);
	ck_assert_str_eq(again.type, "echo");
	ck_assert_str_eq(again.payload, "hello");
	ck_assert_str_eq(again.idempotency_key, "k");
	ck_assert_int_eq(again.status, JOB_QUEUED);
	again.payload[0] = 'Z';
	job_clear(&again);
	ck_assert_int_eq(job_store_get(store, id, &again), JOB_STORE_OK);
	ck_assert_str_eq(again.payload, "hello");
	job_clear(&again);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_keeps_an_empty_payload_as_empty)
{
	struct job_store *store = open_store(_i);
	char id[MESH_ID_SIZE];
	struct job job;

	create_job(store, "echo", "", id);
	ck_assert_int_eq(job_store_get(store, id, &job), JOB_STORE_OK);
	ck_assert_ptr_nonnull(job.payload);
	ck_assert_str_eq(job.payload, "");
	job_clear(&job);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_answers_not_found_for_an_unknown_id)
{
	struct job_store *store = open_store(_i);
	char id[MESH_ID_SIZE];
	struct job job;

	ck_assert_int_eq(job_store_get(store, "j-000000000000", &job), JOB_STORE_NOT_FOUND);
	create_job(store, "echo", "x", id);
	ck_assert_int_eq(job_store_get(store, "j-000000000000", &job), JOB_STORE_NOT_FOUND);
	ck_assert_int_eq(job_store_get(store, "", &job), JOB_STORE_NOT_FOUND);
	ck_assert_int_eq(job_store_get(store, "no such job", &job), JOB_STORE_NOT_FOUND);
	ck_assert(is_zeroed(&job));
	/* A prefix of a real id is not that id. */
	id[8] = '\0';
	ck_assert_int_eq(job_store_get(store, id, &job), JOB_STORE_NOT_FOUND);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_changes_answer_not_found_for_an_unknown_id)
{
	struct job_store *store = open_store(_i);
	const char *nobody = "j-000000000000";
	char id[MESH_ID_SIZE];
	enum job_status was = JOB_FAILED;
	struct job out;
	int attempt = 7;

	create_job(store, "echo", "x", id);
	ck_assert_int_eq(job_store_mark_running(store, nobody, "n-1", &attempt),
			 JOB_STORE_NOT_FOUND);
	ck_assert_int_eq(attempt, 0);
	ck_assert_int_eq(
		job_store_finish(store, nobody, JOB_COMPLETED, "r", NULL, ATTEMPT_COMPLETED),
		JOB_STORE_NOT_FOUND);
	ck_assert_int_eq(job_store_retry(store, nobody, ATTEMPT_FAILED, "e", 0),
			 JOB_STORE_NOT_FOUND);
	ck_assert_int_eq(job_store_requeue(store, nobody), JOB_STORE_NOT_FOUND);
	ck_assert_int_eq(job_store_cancel(store, nobody, "why", &was, &out), JOB_STORE_NOT_FOUND);
	ck_assert(is_zeroed(&out));
	ck_assert_int_eq(was, JOB_FAILED); /* untouched */
	ck_assert_int_eq(job_store_note_late_result(store, nobody, 1, true, "r", NULL),
			 JOB_STORE_NOT_FOUND);
	assert_counts(store, 1, 0, 0, 0);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_free_of_null_is_a_no_op)
{
	job_store_free(NULL);
}
END_TEST

/* ---- batches ------------------------------------------------------------------------------ */

START_TEST(test_job_store_creates_a_batch_in_order_with_one_timestamp)
{
	enum { N = 5 };
	struct job_store *store = open_store(_i);
	struct job specs[N], out[N];
	bool existed[N];
	char payloads[N][16];
	struct job_list list;

	for (int i = 0; i < N; i++) {
		snprintf(payloads[i], sizeof(payloads[i]), "b%d", i);
		specs[i] = spec_of(i % 2 ? "echo" : "sleep", payloads[i]);
	}
	ck_assert_int_eq(job_store_create(store, specs, N, out, existed), JOB_STORE_OK);
	ck_assert_int_eq(job_store_list(store, &all_jobs, &list), JOB_STORE_OK);
	ck_assert_uint_eq(list.count, N);
	for (int i = 0; i < N; i++) {
		ck_assert(!existed[i]);
		ck_assert(is_job_id(out[i].id));
		ck_assert_str_eq(out[i].payload, payloads[i]);
		ck_assert_str_eq(list.items[i].id, out[i].id);
		ck_assert_int_eq(out[i].created_at, out[0].created_at);
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(out[i].id, out[j].id);
	}
	assert_counts(store, N, 0, 0, 0);
	job_list_clear(&list);
	for (int i = 0; i < N; i++)
		job_clear(&out[i]);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_refuses_a_batch_outside_its_range_and_a_bad_spec)
{
	struct job_store *store = open_store(_i);
	struct job *specs = calloc(JOB_STORE_BATCH_MAX + 1, sizeof(*specs));
	struct job *out = calloc(JOB_STORE_BATCH_MAX + 1, sizeof(*out));
	bool *existed = calloc(JOB_STORE_BATCH_MAX + 1, sizeof(*existed));
	struct job one;

	ck_assert_ptr_nonnull(specs);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(existed);
	for (int i = 0; i <= JOB_STORE_BATCH_MAX; i++)
		specs[i] = spec_of("echo", "many");
	ck_assert_int_eq(job_store_create(store, specs, 0, out, existed), JOB_STORE_ERROR);
	ck_assert_int_eq(job_store_create(store, specs, JOB_STORE_BATCH_MAX + 1, out, existed),
			 JOB_STORE_ERROR);
	ck_assert(is_zeroed(&out[0]));
	assert_counts(store, 0, 0, 0, 0);

	/* A NULL type, a NULL payload or an unknown priority stores nothing of the batch. */
	specs[3].type = NULL;
	ck_assert_int_eq(job_store_create(store, specs, 5, out, existed), JOB_STORE_ERROR);
	specs[3] = spec_of("echo", NULL);
	ck_assert_int_eq(job_store_create(store, specs, 5, out, existed), JOB_STORE_ERROR);
	specs[3] = spec_of("echo", "x");
	specs[3].priority = (enum job_priority)JOB_PRIORITY_COUNT;
	ck_assert_int_eq(job_store_create(store, specs, 5, out, existed), JOB_STORE_ERROR);
	for (int i = 0; i < 5; i++)
		ck_assert(is_zeroed(&out[i]) && !existed[i]);
	assert_counts(store, 0, 0, 0, 0);
	specs[3] = spec_of("echo", "many");

	/* The largest batch is one call; existed may be NULL. */
	ck_assert_int_eq(job_store_create(store, specs, JOB_STORE_BATCH_MAX, out, NULL),
			 JOB_STORE_OK);
	assert_counts(store, JOB_STORE_BATCH_MAX, 0, 0, 0);
	for (int i = 0; i < JOB_STORE_BATCH_MAX; i++)
		job_clear(&out[i]);
	ck_assert_int_eq(create_one(store, "echo", "one more", &one), JOB_STORE_OK);
	job_clear(&one);
	free(existed);
	free(out);
	free(specs);
	job_store_free(store);
}
END_TEST

/* ---- idempotency keys -------------------------------------------------------------------- */

START_TEST(test_job_store_answers_the_same_job_for_a_key_with_the_same_content)
{
	struct job_store *store = open_store(_i);
	struct job first, again, other;
	bool existed = true;

	ck_assert_int_eq(create_keyed(store, "echo", "hi", "key-1", &first, &existed),
			 JOB_STORE_OK);
	ck_assert(!existed);
	ck_assert_int_eq(create_keyed(store, "echo", "hi", "key-1", &again, &existed),
			 JOB_STORE_OK);
	ck_assert(existed);
	ck_assert_str_eq(again.id, first.id);
	ck_assert_str_eq(again.idempotency_key, "key-1");
	ck_assert_int_eq(again.created_at, first.created_at);
	job_clear(&again);
	assert_counts(store, 1, 0, 0, 0);

	/* Still the same job once it has moved on: the answer is the job as it is now. */
	run_on(store, first.id, "n-1");
	complete(store, first.id, "done");
	ck_assert_int_eq(create_keyed(store, "echo", "hi", "key-1", &again, &existed),
			 JOB_STORE_OK);
	ck_assert(existed);
	ck_assert_str_eq(again.id, first.id);
	ck_assert_int_eq(again.status, JOB_COMPLETED);
	ck_assert_str_eq(again.result, "done");
	job_clear(&again);

	/* Another key, or none, makes another job. */
	ck_assert_int_eq(create_keyed(store, "echo", "hi", "key-2", &other, &existed),
			 JOB_STORE_OK);
	ck_assert(!existed);
	ck_assert_str_ne(other.id, first.id);
	job_clear(&other);
	ck_assert_int_eq(create_keyed(store, "echo", "hi", NULL, &other, &existed), JOB_STORE_OK);
	ck_assert(!existed);
	job_clear(&other);
	ck_assert_int_eq(create_keyed(store, "echo", "hi", NULL, &other, &existed), JOB_STORE_OK);
	ck_assert(!existed);
	job_clear(&other);
	assert_counts(store, 3, 0, 1, 0);
	job_clear(&first);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_refuses_a_key_with_another_type_or_payload_and_stores_nothing)
{
	struct job_store *store = open_store(_i);
	struct job first, specs[3], out[3];
	bool existed[3];
	struct job_list list;

	ck_assert_int_eq(create_keyed(store, "echo", "hi", "key-1", &first, existed), JOB_STORE_OK);
	for (int variant = 0; variant < 2; variant++) {
		/* A good job, a good keyed job, then the clash: none of them is stored. */
		specs[0] = spec_of("echo", "fresh");
		specs[1] = spec_of("echo", "also fresh");
		specs[1].idempotency_key = "key-2";
		specs[2] = variant == 0 ? spec_of("sleep", "hi") : spec_of("echo", "bye");
		specs[2].idempotency_key = "key-1";
		ck_assert_int_eq(job_store_create(store, specs, 3, out, existed),
				 JOB_STORE_CONFLICT);
		ck_assert(!existed[0] && !existed[1] && existed[2]);
		ck_assert(is_zeroed(&out[0]) && is_zeroed(&out[1]));
		ck_assert_str_eq(out[2].id, first.id);
		ck_assert_str_eq(out[2].type, "echo");
		ck_assert_str_eq(out[2].payload, "hi");
		job_clear(&out[2]);
		assert_counts(store, 1, 0, 0, 0);
	}
	ck_assert_int_eq(job_store_list(store, &all_jobs, &list), JOB_STORE_OK);
	ck_assert_uint_eq(list.count, 1);
	job_list_clear(&list);
	/* key-2 was not taken by the refused call. */
	ck_assert_int_eq(create_keyed(store, "sleep", "10", "key-2", &out[0], existed),
			 JOB_STORE_OK);
	ck_assert(!existed[0]);
	job_clear(&out[0]);
	job_clear(&first);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_applies_keys_within_one_batch)
{
	struct job_store *store = open_store(_i);
	struct job specs[4], out[4];
	bool existed[4];

	/* Same key, same content, in one batch: one job, the later element points at it. */
	specs[0] = spec_of("echo", "a");
	specs[0].idempotency_key = "batch-key";
	specs[1] = spec_of("echo", "b");
	specs[2] = spec_of("echo", "a");
	specs[2].idempotency_key = "batch-key";
	ck_assert_int_eq(job_store_create(store, specs, 3, out, existed), JOB_STORE_OK);
	ck_assert(!existed[0] && !existed[1] && existed[2]);
	ck_assert_str_eq(out[2].id, out[0].id);
	ck_assert_str_ne(out[1].id, out[0].id);
	assert_counts(store, 2, 0, 0, 0);
	for (int i = 0; i < 3; i++)
		job_clear(&out[i]);

	/*
	 * Same key, other content, in one batch: CONFLICT, nothing stored. There
	 * is no stored job in the way, so no out[] holds one and no existed[] is set.
	 */
	specs[0] = spec_of("echo", "c");
	specs[0].idempotency_key = "clash";
	specs[1] = spec_of("echo", "d");
	specs[1].idempotency_key = "clash";
	ck_assert_int_eq(job_store_create(store, specs, 2, out, existed), JOB_STORE_CONFLICT);
	ck_assert(!existed[0] && !existed[1]);
	ck_assert(is_zeroed(&out[0]) && is_zeroed(&out[1]));
	assert_counts(store, 2, 0, 0, 0);

	/* A stored key repeated in a batch: both elements answer the stored job. */
	specs[0] = spec_of("echo", "x");
	specs[1] = spec_of("echo", "a");
	specs[1].idempotency_key = "batch-key";
	specs[2] = spec_of("echo", "a");
	specs[2].idempotency_key = "batch-key";
	specs[3] = spec_of("echo", "y");
	ck_assert_int_eq(job_store_create(store, specs, 4, out, existed), JOB_STORE_OK);
	ck_assert(!existed[0] && existed[1] && existed[2] && !existed[3]);
	ck_assert_str_eq(out[1].id, out[2].id);
	assert_counts(store, 4, 0, 0, 0);
	for (int i = 0; i < 4; i++)
		job_clear(&out[i]);

	/* ... and a stored key repeated with other content is the stored job's conflict. */
	specs[2] = spec_of("echo", "not a");
	specs[2].idempotency_key = "batch-key";
	ck_assert_int_eq(job_store_create(store, specs, 4, out, existed), JOB_STORE_CONFLICT);
	ck_assert(!existed[0] && !existed[1] && existed[2] && !existed[3]);
	ck_assert(is_zeroed(&out[0]) && is_zeroed(&out[1]) && is_zeroed(&out[3]));
	ck_assert_str_eq(out[2].payload, "a");
	job_clear(&out[2]);
	assert_counts(store, 4, 0, 0, 0);
	job_store_free(store);
}
END_TEST

#define THREADS 8

struct keyed_racer {
	struct job_store *store;
	const char *key;
	pthread_barrier_t *start;
	enum job_store_result result;
	bool existed;
	char id[MESH_ID_SIZE];
};

static void *keyed_racer_main(void *arg)
{
	struct keyed_racer *r = arg;
	struct job job;

	pthread_barrier_wait(r->start);
	r->result = create_keyed(r->store, "echo", "same", r->key, &job, &r->existed);
	strcpy(r->id, job.id);
	job_clear(&job);
	return NULL;
}

START_TEST(test_job_store_makes_one_job_for_a_key_racing_threads_submit)
{
	enum { ROUNDS = 10 };
	struct job_store *store = open_store(_i);
	struct keyed_racer racers[THREADS];
	pthread_t threads[THREADS];
	pthread_barrier_t start;
	char key[32];

	for (int round = 0; round < ROUNDS; round++) {
		int made = 0;
		snprintf(key, sizeof(key), "race-%d", round);
		ck_assert_int_eq(pthread_barrier_init(&start, NULL, THREADS), 0);
		for (int t = 0; t < THREADS; t++) {
			racers[t] =
				(struct keyed_racer){.store = store, .key = key, .start = &start};
			ck_assert_int_eq(
				pthread_create(&threads[t], NULL, keyed_racer_main, &racers[t]), 0);
		}
		for (int t = 0; t < THREADS; t++)
			pthread_join(threads[t], NULL);
		pthread_barrier_destroy(&start);
		for (int t = 0; t < THREADS; t++) {
			ck_assert_int_eq(racers[t].result, JOB_STORE_OK);
			ck_assert_str_eq(racers[t].id, racers[0].id);
			made += !racers[t].existed;
		}
		ck_assert_msg(made == 1, "round %d: %d threads made a job", round, made);
	}
	assert_counts(store, ROUNDS, 0, 0, 0);
	job_store_free(store);
}
END_TEST

/* ---- the life cycle, as a table ------------------------------------------------------ */

enum step_op {
	STEP_END = 0,
	RUN_ON_N1,          /* mark_running(node "n-1") */
	RUN_ON_N2,          /* mark_running(node "n-2") */
	COMPLETE_FIRST,     /* finish(COMPLETED, result "first") */
	COMPLETE_SECOND,    /* finish(COMPLETED, result "second") */
	FAIL_FIRST,         /* finish(FAILED, error "boom") */
	FINISH_QUEUED,      /* finish(QUEUED, ...): not COMPLETED or FAILED */
	FINISH_RUNNING,     /* finish(RUNNING, ...): not COMPLETED or FAILED */
	FINISH_CANCELLED,   /* finish(CANCELLED, ...): not COMPLETED or FAILED */
	FINISH_AS_RUNNING,  /* finish(COMPLETED) closing the attempt as RUNNING */
	FINISH_SUPERSEDED,  /* finish(COMPLETED) closing the attempt as SUPERSEDED */
	REQUEUE,
	RETRY_TIMED_OUT,    /* retry(TIMED_OUT, error "slow") */
	RETRY_AS_RUNNING,   /* retry closing the attempt as RUNNING */
	CANCEL,             /* cancel(why "stop") */
};

struct step {
	enum step_op op;
	enum job_store_result expect;
};

struct lifecycle_case {
	const char *name;
	struct step steps[6];
	enum job_status status; /* afterwards */
	const char *node_id;
	const char *result; /* NULL: must be NULL */
	const char *error;  /* NULL: must be NULL */
	int attempts;       /* how many attempts the job has, all but the last closed */
	enum attempt_status last; /* the last attempt's status, if any */
};

#define OK JOB_STORE_OK
#define CONFLICT JOB_STORE_CONFLICT
#define NONE ATTEMPT_RUNNING /* unchecked: no attempt */

static const struct lifecycle_case lifecycle_cases[] = {
	{"a queued job can be marked running",
	 {{RUN_ON_N1, OK}},
	 JOB_RUNNING,
	 "n-1",
	 NULL,
	 NULL,
	 1,
	 ATTEMPT_RUNNING},
	{"a running job can complete",
	 {{RUN_ON_N1, OK}, {COMPLETE_FIRST, OK}},
	 JOB_COMPLETED,
	 "n-1",
	 "first",
	 NULL,
	 1,
	 ATTEMPT_COMPLETED},
	{"a running job can fail",
	 {{RUN_ON_N1, OK}, {FAIL_FIRST, OK}},
	 JOB_FAILED,
	 "n-1",
	 NULL,
	 "boom",
	 1,
	 ATTEMPT_FAILED},
	{"finishing twice is a conflict and the first result stays",
	 {{RUN_ON_N1, OK}, {COMPLETE_FIRST, OK}, {COMPLETE_SECOND, CONFLICT}},
	 JOB_COMPLETED,
	 "n-1",
	 "first",
	 NULL,
	 1,
	 ATTEMPT_COMPLETED},
	{"failing a completed job is a conflict",
	 {{RUN_ON_N1, OK}, {COMPLETE_FIRST, OK}, {FAIL_FIRST, CONFLICT}},
	 JOB_COMPLETED,
	 "n-1",
	 "first",
	 NULL,
	 1,
	 ATTEMPT_COMPLETED},
	{"completing a failed job is a conflict",
	 {{RUN_ON_N1, OK}, {FAIL_FIRST, OK}, {COMPLETE_FIRST, CONFLICT}},
	 JOB_FAILED,
	 "n-1",
	 NULL,
	 "boom",
	 1,
	 ATTEMPT_FAILED},
	{"finishing a queued job is a conflict",
	 {{COMPLETE_FIRST, CONFLICT}},
	 JOB_QUEUED,
	 "",
	 NULL,
	 NULL,
	 0,
	 NONE},
	{"failing a queued job is a conflict",
	 {{FAIL_FIRST, CONFLICT}},
	 JOB_QUEUED,
	 "",
	 NULL,
	 NULL,
	 0,
	 NONE},
	{"marking a job running twice is a conflict and the first node stays",
	 {{RUN_ON_N1, OK}, {RUN_ON_N2, CONFLICT}},
	 JOB_RUNNING,
	 "n-1",
	 NULL,
	 NULL,
	 1,
	 ATTEMPT_RUNNING},
	{"marking a completed job running is a conflict",
	 {{RUN_ON_N1, OK}, {COMPLETE_FIRST, OK}, {RUN_ON_N2, CONFLICT}},
	 JOB_COMPLETED,
	 "n-1",
	 "first",
	 NULL,
	 1,
	 ATTEMPT_COMPLETED},
	{"requeueing a running job makes it queued without a node and undoes the attempt",
	 {{RUN_ON_N1, OK}, {REQUEUE, OK}},
	 JOB_QUEUED,
	 "",
	 NULL,
	 NULL,
	 0,
	 NONE},
	{"a requeued job can run again elsewhere and complete",
	 {{RUN_ON_N1, OK}, {REQUEUE, OK}, {RUN_ON_N2, OK}, {COMPLETE_FIRST, OK}},
	 JOB_COMPLETED,
	 "n-2",
	 "first",
	 NULL,
	 1,
	 ATTEMPT_COMPLETED},
	{"requeueing a queued job is a conflict",
	 {{REQUEUE, CONFLICT}},
	 JOB_QUEUED,
	 "",
	 NULL,
	 NULL,
	 0,
	 NONE},
	{"requeueing twice is a conflict",
	 {{RUN_ON_N1, OK}, {REQUEUE, OK}, {REQUEUE, CONFLICT}},
	 JOB_QUEUED,
	 "",
	 NULL,
	 NULL,
	 0,
	 NONE},
	{"requeueing a completed job is a conflict",
	 {{RUN_ON_N1, OK}, {COMPLETE_FIRST, OK}, {REQUEUE, CONFLICT}},
	 JOB_COMPLETED,
	 "n-1",
	 "first",
	 NULL,
	 1,
	 ATTEMPT_COMPLETED},
	{"requeueing a failed job is a conflict",
	 {{RUN_ON_N1, OK}, {FAIL_FIRST, OK}, {REQUEUE, CONFLICT}},
	 JOB_FAILED,
	 "n-1",
	 NULL,
	 "boom",
	 1,
	 ATTEMPT_FAILED},
	{"finishing with status QUEUED is a conflict",
	 {{RUN_ON_N1, OK}, {FINISH_QUEUED, CONFLICT}},
	 JOB_RUNNING,
	 "n-1",
	 NULL,
	 NULL,
	 1,
	 ATTEMPT_RUNNING},
	{"finishing with status RUNNING is a conflict",
	 {{RUN_ON_N1, OK}, {FINISH_RUNNING, CONFLICT}},
	 JOB_RUNNING,
	 "n-1",
	 NULL,
	 NULL,
	 1,
	 ATTEMPT_RUNNING},
	{"finishing a queued job with a non-terminal status is a conflict",
	 {{FINISH_RUNNING, CONFLICT}},
	 JOB_QUEUED,
	 "",
	 NULL,
	 NULL,
	 0,
	 NONE},
	{"finishing with status CANCELLED is a conflict",
	 {{RUN_ON_N1, OK}, {FINISH_CANCELLED, CONFLICT}},
	 JOB_RUNNING,
	 "n-1",
	 NULL,
	 NULL,
	 1,
	 ATTEMPT_RUNNING},
	{"closing an attempt as RUNNING is a conflict",
	 {{RUN_ON_N1, OK}, {FINISH_AS_RUNNING, CONFLICT}, {RETRY_AS_RUNNING, CONFLICT}},
	 JOB_RUNNING,
	 "n-1",
	 NULL,
	 NULL,
	 1,
	 ATTEMPT_RUNNING},
	{"closing an attempt as SUPERSEDED is a conflict",
	 {{RUN_ON_N1, OK}, {FINISH_SUPERSEDED, CONFLICT}},
	 JOB_RUNNING,
	 "n-1",
	 NULL,
	 NULL,
	 1,
	 ATTEMPT_RUNNING},
	{"a retry queues the job without a node and closes the attempt",
	 {{RUN_ON_N1, OK}, {RETRY_TIMED_OUT, OK}},
	 JOB_QUEUED,
	 "",
	 NULL,
	 NULL,
	 1,
	 ATTEMPT_TIMED_OUT},
	{"a retried job runs again as attempt 2",
	 {{RUN_ON_N1, OK}, {RETRY_TIMED_OUT, OK}, {RUN_ON_N2, OK}, {COMPLETE_FIRST, OK}},
	 JOB_COMPLETED,
	 "n-2",
	 "first",
	 NULL,
	 2,
	 ATTEMPT_COMPLETED},
	{"retrying a queued job is a conflict",
	 {{RETRY_TIMED_OUT, CONFLICT}},
	 JOB_QUEUED,
	 "",
	 NULL,
	 NULL,
	 0,
	 NONE},
	{"retrying a completed job is a conflict",
	 {{RUN_ON_N1, OK}, {COMPLETE_FIRST, OK}, {RETRY_TIMED_OUT, CONFLICT}},
	 JOB_COMPLETED,
	 "n-1",
	 "first",
	 NULL,
	 1,
	 ATTEMPT_COMPLETED},
	{"a queued job can be cancelled", {{CANCEL, OK}}, JOB_CANCELLED, "", NULL, "stop", 0, NONE},
	{"a running job can be cancelled, its node kept and its attempt closed",
	 {{RUN_ON_N1, OK}, {CANCEL, OK}},
	 JOB_CANCELLED,
	 "n-1",
	 NULL,
	 "stop",
	 1,
	 ATTEMPT_CANCELLED},
	{"cancelling a completed job is a conflict",
	 {{RUN_ON_N1, OK}, {COMPLETE_FIRST, OK}, {CANCEL, CONFLICT}},
	 JOB_COMPLETED,
	 "n-1",
	 "first",
	 NULL,
	 1,
	 ATTEMPT_COMPLETED},
	{"cancelling a failed job is a conflict",
	 {{RUN_ON_N1, OK}, {FAIL_FIRST, OK}, {CANCEL, CONFLICT}},
	 JOB_FAILED,
	 "n-1",
	 NULL,
	 "boom",
	 1,
	 ATTEMPT_FAILED},
	{"cancelling twice is a conflict",
	 {{CANCEL, OK}, {CANCEL, CONFLICT}},
	 JOB_CANCELLED,
	 "",
	 NULL,
	 "stop",
	 0,
	 NONE},
	{"a cancelled job cannot run, finish, retry or requeue",
	 {{RUN_ON_N1, OK},
	  {CANCEL, OK},
	  {RUN_ON_N2, CONFLICT},
	  {COMPLETE_FIRST, CONFLICT},
	  {RETRY_TIMED_OUT, CONFLICT},
	  {REQUEUE, CONFLICT}},
	 JOB_CANCELLED,
	 "n-1",
	 NULL,
	 "stop",
	 1,
	 ATTEMPT_CANCELLED},
};

#undef OK
#undef CONFLICT
#undef NONE

#define LIFECYCLE_CASE_COUNT ((int)(sizeof(lifecycle_cases) / sizeof(lifecycle_cases[0])))

static enum job_store_result apply_step(struct job_store *store, const char *id, enum step_op op)
{
	enum job_status was;

	switch (op) {
	case RUN_ON_N1:
		return job_store_mark_running(store, id, "n-1", NULL);
	case RUN_ON_N2:
		return job_store_mark_running(store, id, "n-2", NULL);
	case COMPLETE_FIRST:
		return job_store_finish(store, id, JOB_COMPLETED, "first", NULL, ATTEMPT_COMPLETED);
	case COMPLETE_SECOND:
		return job_store_finish(store, id, JOB_COMPLETED, "second", NULL,
					ATTEMPT_COMPLETED);
	case FAIL_FIRST:
		return job_store_finish(store, id, JOB_FAILED, NULL, "boom", ATTEMPT_FAILED);
	case FINISH_QUEUED:
		return job_store_finish(store, id, JOB_QUEUED, "r", NULL, ATTEMPT_COMPLETED);
	case FINISH_RUNNING:
		return job_store_finish(store, id, JOB_RUNNING, "r", NULL, ATTEMPT_COMPLETED);
	case FINISH_CANCELLED:
		return job_store_finish(store, id, JOB_CANCELLED, NULL, "x", ATTEMPT_CANCELLED);
	case FINISH_AS_RUNNING:
		return job_store_finish(store, id, JOB_COMPLETED, "r", NULL, ATTEMPT_RUNNING);
	case FINISH_SUPERSEDED:
		return job_store_finish(store, id, JOB_COMPLETED, "r", NULL, ATTEMPT_SUPERSEDED);
	case REQUEUE:
		return job_store_requeue(store, id);
	case RETRY_TIMED_OUT:
		return job_store_retry(store, id, ATTEMPT_TIMED_OUT, "slow", 0);
	case RETRY_AS_RUNNING:
		return job_store_retry(store, id, ATTEMPT_RUNNING, "slow", 0);
	case CANCEL:
		return job_store_cancel(store, id, "stop", &was, NULL);
	case STEP_END:
		break;
	}
	ck_abort_msg("bad step %d", (int)op);
	return JOB_STORE_ERROR;
}

/*
 * One case of the table on a job of its own (and a bystander job) in store,
 * which may hold other cases' jobs: counts are checked as differences.
 */
static void run_lifecycle_case(struct job_store *store, const struct lifecycle_case *c)
{
	size_t counts[JOB_STATUS_COUNT], before[JOB_STATUS_COUNT];
	char id[MESH_ID_SIZE], other[MESH_ID_SIZE];
	struct job created, job, bystander;

	job_store_count_by_status(store, before);
	ck_assert_int_eq(create_one(store, "echo", "x", &created), JOB_STORE_OK);
	strcpy(id, created.id);
	create_job(store, "echo", "bystander", other);
	for (size_t s = 0; s < 6 && c->steps[s].op != STEP_END; s++) {
		enum job_store_result rc = apply_step(store, id, c->steps[s].op);
		ck_assert_msg(rc == c->steps[s].expect, "%s: step %zu gave result %d, expected %d",
			      c->name, s + 1, (int)rc, (int)c->steps[s].expect);
	}

	ck_assert_int_eq(job_store_get(store, id, &job), JOB_STORE_OK);
	ck_assert_msg(job.status == c->status, "%s: status %s, expected %s", c->name,
		      job_status_name(job.status), job_status_name(c->status));
	ck_assert_msg(strcmp(job.node_id, c->node_id) == 0, "%s: node_id '%s', expected '%s'",
		      c->name, job.node_id, c->node_id);
	if (c->result == NULL)
		ck_assert_msg(job.result == NULL, "%s: result '%s', expected NULL", c->name,
			      job.result);
	else
		ck_assert_msg(job.result != NULL && strcmp(job.result, c->result) == 0,
			      "%s: result '%s', expected '%s'", c->name,
			      job.result ? job.result : "(null)", c->result);
	if (c->error == NULL)
		ck_assert_msg(job.error == NULL, "%s: error '%s', expected NULL", c->name,
			      job.error);
	else
		ck_assert_msg(job.error != NULL && strcmp(job.error, c->error) == 0,
			      "%s: error '%s', expected '%s'", c->name,
			      job.error ? job.error : "(null)", c->error);
	ck_assert_str_eq(job.type, "echo");
	ck_assert_str_eq(job.payload, "x");
	ck_assert_int_eq(job.created_at, created.created_at);
	ck_assert_int_ge(job.updated_at, job.created_at);

	/* The attempts: numbered 1.., all closed but the last, which is as expected. */
	ck_assert(job.has_attempts);
	ck_assert_msg((int)job.attempt_count == c->attempts && job.attempt == c->attempts,
		      "%s: %zu attempts (job.attempt %d), expected %d", c->name, job.attempt_count,
		      job.attempt, c->attempts);
	for (size_t a = 0; a < job.attempt_count; a++) {
		const struct job_attempt *at = &job.attempts[a];
		bool last = a + 1 == job.attempt_count;
		ck_assert_int_eq(at->number, (int)a + 1);
		ck_assert_int_gt(at->started_at, 0);
		if (last)
			ck_assert_msg(at->status == c->last, "%s: last attempt %s, expected %s",
				      c->name, attempt_status_name(at->status),
				      attempt_status_name(c->last));
		ck_assert_msg((at->status == ATTEMPT_RUNNING) == (at->finished_at == 0),
			      "%s: attempt %d is %s with finished_at %lld", c->name, at->number,
			      attempt_status_name(at->status), (long long)at->finished_at);
		ck_assert(last || at->status != ATTEMPT_RUNNING);
	}

	/* The counts follow, and the other job was not touched. */
	job_store_count_by_status(store, counts);
	for (int s = 0; s < JOB_STATUS_COUNT; s++) {
		size_t expected = before[s] + (s == (int)c->status) + (s == JOB_QUEUED);
		ck_assert_msg(counts[s] == expected, "%s: %zu jobs %s, expected %zu", c->name,
			      counts[s], job_status_name((enum job_status)s), expected);
	}
	ck_assert_int_eq(job_store_get(store, other, &bystander), JOB_STORE_OK);
	ck_assert_int_eq(bystander.status, JOB_QUEUED);
	ck_assert_str_eq(bystander.node_id, "");
	ck_assert_ptr_null(bystander.result);
	ck_assert_uint_eq(bystander.attempt_count, 0);

	job_clear(&bystander);
	job_clear(&job);
	job_clear(&created);
}

/*
 * Every case in one store (cases use jobs of their own): one forked test per
 * store, not per case, because each forked test costs a leak check at exit.
 * Failures name the case.
 */
START_TEST(test_job_store_follows_the_life_cycle_table)
{
	struct job_store *store = open_store(_i);

	for (int k = 0; k < LIFECYCLE_CASE_COUNT; k++)
		run_lifecycle_case(store, &lifecycle_cases[k]);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_moves_updated_at_on_each_change_but_not_created_at)
{
	struct job_store *store = open_store(_i);
	struct job created, job;
	enum job_status was;
	int64_t last;

	ck_assert_int_eq(create_one(store, "echo", "x", &created), JOB_STORE_OK);
	last = created.updated_at;
	for (int step = 0; step < 6; step++) {
		enum job_store_result rc = JOB_STORE_ERROR;
		clock_sleep_ms(3);
		switch (step) {
		case 0:
		case 2:
		case 4:
			rc = job_store_mark_running(store, created.id, "n-1", NULL);
			break;
		case 1:
			rc = job_store_retry(store, created.id, ATTEMPT_FAILED, "e", 0);
			break;
		case 3:
			rc = job_store_requeue(store, created.id);
			break;
		case 5:
			rc = job_store_finish(store, created.id, JOB_COMPLETED, "out", NULL,
					      ATTEMPT_COMPLETED);
			break;
		}
		ck_assert_int_eq(rc, JOB_STORE_OK);
		get_job(store, created.id, &job);
		ck_assert_msg(job.updated_at > last, "step %d did not move updated_at", step);
		ck_assert_int_eq(job.created_at, created.created_at);
		last = job.updated_at;
		job_clear(&job);
	}
	/* A refused change changes nothing, not even updated_at. */
	clock_sleep_ms(3);
	ck_assert_int_eq(
		job_store_finish(store, created.id, JOB_FAILED, NULL, "late", ATTEMPT_FAILED),
		JOB_STORE_CONFLICT);
	ck_assert_int_eq(job_store_cancel(store, created.id, "late", &was, NULL),
			 JOB_STORE_CONFLICT);
	get_job(store, created.id, &job);
	ck_assert_int_eq(job.updated_at, last);
	job_clear(&job);
	/* A cancel moves it too. */
	clock_sleep_ms(3);
	job_clear(&created);
	ck_assert_int_eq(create_one(store, "echo", "y", &created), JOB_STORE_OK);
	clock_sleep_ms(3);
	ck_assert_int_eq(job_store_cancel(store, created.id, "no", &was, &job), JOB_STORE_OK);
	ck_assert_int_gt(job.updated_at, created.updated_at);
	job_clear(&job);
	job_clear(&created);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_keeps_a_long_result_whole)
{
	struct job_store *store = open_store(_i);
	size_t len = 1024 * 1024;
	char *result = malloc(len + 1);
	char id[MESH_ID_SIZE];
	struct job job;

	ck_assert_ptr_nonnull(result);
	for (size_t i = 0; i < len; i++)
		result[i] = (char)('a' + i % 26);
	result[len] = '\0';
	create_job(store, "echo", "x", id);
	run_on(store, id, "n-1");
	complete(store, id, result);
	ck_assert_int_eq(job_store_get(store, id, &job), JOB_STORE_OK);
	ck_assert_uint_eq(strlen(job.result), len);
	ck_assert_int_eq(memcmp(job.result, result, len), 0);
	job_clear(&job);
	free(result);
	job_store_free(store);
}
END_TEST

/* ---- attempts ---------------------------------------------------------------------------- */

START_TEST(test_job_store_creates_a_job_already_running_on_a_node)
{
	struct job_store *store = open_store(_i);
	int64_t before = clock_wall_ms();
	struct job spec = spec_of("echo", "straight to a node"), out, job;
	int attempt = -1;

	ck_assert_int_eq(job_store_create_running(store, &spec, "n-1", &out, &attempt),
			 JOB_STORE_OK);
	ck_assert_int_eq(attempt, 1);
	ck_assert_str_ne(out.id, "");
	ck_assert_int_eq(out.status, JOB_RUNNING);
	ck_assert_str_eq(out.node_id, "n-1");
	ck_assert_int_eq(out.attempt, 1);
	get_job(store, out.id, &job);
	ck_assert_int_eq(job.status, JOB_RUNNING);
	ck_assert_str_eq(job.node_id, "n-1");
	ck_assert_str_eq(job.payload, "straight to a node");
	ck_assert_int_ge(job.created_at, before);
	ck_assert_uint_eq(job.attempt_count, 1);
	ck_assert_int_eq(job.attempts[0].number, 1);
	ck_assert_str_eq(job.attempts[0].node_id, "n-1");
	ck_assert_int_eq(job.attempts[0].status, ATTEMPT_RUNNING);
	ck_assert_int_ge(job.attempts[0].started_at, before);
	job_clear(&job);
	assert_counts(store, 0, 1, 0, 0);
	assert_counts_match_the_list(store);

	/* It goes on like any started job. */
	ck_assert_int_eq(job_store_finish(store, out.id, JOB_COMPLETED, "done", NULL,
					  ATTEMPT_COMPLETED),
			 JOB_STORE_OK);
	assert_counts(store, 0, 0, 1, 0);
	job_clear(&out);

	/* A key, no node, or a bad spec: refused, nothing stored, out zeroed. */
	spec.idempotency_key = "k-1";
	ck_assert_int_eq(job_store_create_running(store, &spec, "n-1", &out, &attempt),
			 JOB_STORE_ERROR);
	ck_assert(is_zeroed(&out));
	ck_assert_int_eq(attempt, 0);
	spec.idempotency_key = NULL;
	ck_assert_int_eq(job_store_create_running(store, &spec, "", &out, &attempt),
			 JOB_STORE_ERROR);
	ck_assert_int_eq(job_store_create_running(store, &spec, NULL, &out, &attempt),
			 JOB_STORE_ERROR);
	spec.type = NULL;
	ck_assert_int_eq(job_store_create_running(store, &spec, "n-1", &out, &attempt),
			 JOB_STORE_ERROR);
	assert_counts(store, 0, 0, 1, 0);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_numbers_attempts_across_retry_requeue_and_finish)
{
	struct job_store *store = open_store(_i);
	int64_t before = clock_wall_ms(), retry_at = before + 60000;
	char id[MESH_ID_SIZE];
	struct job job;
	struct job_list list;
	uint64_t cursor = 0;
	int attempt = -1;

	create_job(store, "echo", "x", id);
	ck_assert_int_eq(job_store_mark_running(store, id, "n-1", &attempt), JOB_STORE_OK);
	ck_assert_int_eq(attempt, 1);
	get_job(store, id, &job);
	ck_assert_int_eq(job.attempt, 1);
	ck_assert_uint_eq(job.attempt_count, 1);
	ck_assert_int_eq(job.attempts[0].number, 1);
	ck_assert_str_eq(job.attempts[0].node_id, "n-1");
	ck_assert_int_eq(job.attempts[0].status, ATTEMPT_RUNNING);
	ck_assert_int_ge(job.attempts[0].started_at, before);
	ck_assert_int_le(job.attempts[0].started_at, clock_wall_ms());
	ck_assert_int_eq(job.attempts[0].finished_at, 0);
	ck_assert_ptr_null(job.attempts[0].error);
	job_clear(&job);

	/* A retry closes attempt 1 and keeps next_attempt_at until the next start. */
	ck_assert_int_eq(job_store_retry(store, id, ATTEMPT_FAILED, "boom", retry_at),
			 JOB_STORE_OK);
	get_job(store, id, &job);
	ck_assert_int_eq(job.status, JOB_QUEUED);
	ck_assert_str_eq(job.node_id, "");
	ck_assert_int_eq(job.next_attempt_at, retry_at);
	ck_assert_ptr_null(job.error);
	ck_assert_int_eq(job.attempts[0].status, ATTEMPT_FAILED);
	ck_assert_str_eq(job.attempts[0].error, "boom");
	ck_assert_int_ge(job.attempts[0].finished_at, job.attempts[0].started_at);
	job_clear(&job);

	ck_assert_int_eq(job_store_mark_running(store, id, "n-2", &attempt), JOB_STORE_OK);
	ck_assert_int_eq(attempt, 2);
	get_job(store, id, &job);
	ck_assert_int_eq(job.next_attempt_at, 0);
	ck_assert_uint_eq(job.attempt_count, 2);
	ck_assert_str_eq(job.attempts[1].node_id, "n-2");
	ck_assert_int_eq(job.attempts[1].status, ATTEMPT_RUNNING);
	job_clear(&job);

	/* A requeue undoes attempt 2: the next start is attempt 2 again. */
	ck_assert_int_eq(job_store_requeue(store, id), JOB_STORE_OK);
	get_job(store, id, &job);
	ck_assert_int_eq(job.attempt, 1);
	ck_assert_uint_eq(job.attempt_count, 1);
	job_clear(&job);
	ck_assert_int_eq(job_store_mark_running(store, id, "n-3", &attempt), JOB_STORE_OK);
	ck_assert_int_eq(attempt, 2);
	ck_assert_int_eq(job_store_retry(store, id, ATTEMPT_TIMED_OUT, "slow", 0), JOB_STORE_OK);
	ck_assert_int_eq(job_store_mark_running(store, id, "n-1", &attempt), JOB_STORE_OK);
	ck_assert_int_eq(attempt, 3);
	ck_assert_int_eq(job_store_finish(store, id, JOB_COMPLETED, "out", NULL, ATTEMPT_COMPLETED),
			 JOB_STORE_OK);

	get_job(store, id, &job);
	ck_assert_int_eq(job.status, JOB_COMPLETED);
	ck_assert_str_eq(job.result, "out");
	ck_assert_int_eq(job.attempt, 3);
	ck_assert_uint_eq(job.attempt_count, 3);
	ck_assert_int_eq(job.attempts[0].status, ATTEMPT_FAILED);
	ck_assert_int_eq(job.attempts[1].status, ATTEMPT_TIMED_OUT);
	ck_assert_str_eq(job.attempts[1].node_id, "n-3");
	ck_assert_str_eq(job.attempts[1].error, "slow");
	ck_assert_int_eq(job.attempts[2].status, ATTEMPT_COMPLETED);
	ck_assert_str_eq(job.attempts[2].node_id, "n-1");
	ck_assert_ptr_null(job.attempts[2].error);
	for (size_t a = 0; a < 3; a++) {
		ck_assert_int_eq(job.attempts[a].number, (int)a + 1);
		ck_assert_ptr_null(job.attempts[a].result);
		ck_assert_int_gt(job.attempts[a].finished_at, 0);
	}
	job_clear(&job);

	/* list and list_page say how many attempts, but carry none. */
	ck_assert_int_eq(job_store_list(store, &all_jobs, &list), JOB_STORE_OK);
	ck_assert_int_eq(list.items[0].attempt, 3);
	ck_assert(!list.items[0].has_attempts);
	ck_assert_uint_eq(list.items[0].attempt_count, 0);
	ck_assert_ptr_null(list.items[0].attempts);
	job_list_clear(&list);
	ck_assert_int_eq(job_store_list_page(store, JOB_COMPLETED, &cursor, 5, &list),
			 JOB_STORE_OK);
	ck_assert_uint_eq(list.count, 1);
	ck_assert(!list.items[0].has_attempts);
	ck_assert_ptr_null(list.items[0].attempts);
	job_list_clear(&list);
	job_store_free(store);
}
END_TEST

static struct job_change start_change(const char *id, const char *node_id)
{
	return (struct job_change){.kind = JOB_CHANGE_START, .id = id, .node_id = node_id};
}

static struct job_change finish_change(const char *id, enum job_status status, const char *result,
				       const char *error, enum attempt_status attempt_status)
{
	return (struct job_change){.kind = JOB_CHANGE_FINISH,
				   .id = id,
				   .status = status,
				   .result = result,
				   .error = error,
				   .attempt_status = attempt_status};
}

/*
 * A batch of changes (what the dispatcher writes per pass): each change gets
 * the outcome its single call would have had, in the order given, and one
 * refused change leaves the others applied.
 */
/* The same job as JSON, keys sorted: two reads of it compare as strings. */
static char *job_text(const struct job *job)
{
	json_t *json = job_to_json(job);
	char *text = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(json);
	ck_assert_ptr_nonnull(text);
	return text;
}

/*
 * A finish in a batch can hand back the finished job (for a waiting
 * client): the very answer a read right after gives; a refused one leaves
 * it empty.
 */
START_TEST(test_job_store_a_finish_in_a_batch_hands_back_the_finished_job)
{
	struct job_store *store = open_store(_i);
	char a[MESH_ID_SIZE], b[MESH_ID_SIZE];
	struct job finished_a = {0}, finished_b = {0}, read;
	struct job_change changes[2];
	char *handed, *got;

	create_job(store, "echo", "a", a);
	create_job(store, "echo", "b", b);
	run_on(store, a, "n-1");
	changes[0] = finish_change(a, JOB_COMPLETED, "out", NULL, ATTEMPT_COMPLETED);
	changes[0].finished = &finished_a;
	changes[1] = finish_change(b, JOB_COMPLETED, "x", NULL, ATTEMPT_COMPLETED); /* QUEUED */
	changes[1].finished = &finished_b;
	job_store_apply_changes(store, changes, 2);

	ck_assert_int_eq(changes[0].outcome, JOB_STORE_OK);
	ck_assert_int_eq(changes[1].outcome, JOB_STORE_CONFLICT);
	ck_assert_str_eq(finished_a.id, a);
	ck_assert_int_eq(finished_a.status, JOB_COMPLETED);
	ck_assert_str_eq(finished_a.result, "out");
	ck_assert_uint_eq(finished_a.attempt_count, 1);
	ck_assert_int_eq(finished_a.attempts[0].status, ATTEMPT_COMPLETED);
	get_job(store, a, &read);
	handed = job_text(&finished_a);
	got = job_text(&read);
	ck_assert_str_eq(handed, got);
	free(handed);
	free(got);
	ck_assert_str_eq(finished_b.id, ""); /* refused: nothing handed back */
	ck_assert_ptr_null(finished_b.type);
	job_clear(&read);
	job_clear(&finished_a);
	job_clear(&finished_b);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_applies_a_batch_of_changes_each_with_its_own_outcome)
{
	struct job_store *store = open_store(_i);
	char a[MESH_ID_SIZE], b[MESH_ID_SIZE], c[MESH_ID_SIZE], d[MESH_ID_SIZE];
	struct job_change changes[10];
	struct job job;

	create_job(store, "echo", "a", a);
	create_job(store, "echo", "b", b);
	create_job(store, "echo", "c", c);
	create_job(store, "echo", "d", d);
	run_on(store, b, "n-1");
	run_on(store, c, "n-2");

	changes[0] = start_change(a, "n-3");
	changes[1] = finish_change(b, JOB_COMPLETED, "ok", NULL, ATTEMPT_COMPLETED);
	changes[2] = finish_change(c, JOB_FAILED, NULL, "boom", ATTEMPT_FAILED);
	changes[3] = finish_change(d, JOB_COMPLETED, "x", NULL, ATTEMPT_COMPLETED); /* QUEUED */
	changes[4] = start_change(b, "n-3"); /* finished by changes[1] just before */
	changes[5] = start_change("j-000000000000", "n-3");
	changes[6] = finish_change(a, JOB_RUNNING, NULL, NULL, ATTEMPT_COMPLETED); /* no such move */
	changes[7] = start_change(NULL, "n-3");
	changes[8] = start_change(d, NULL);
	changes[9] = finish_change(a, JOB_COMPLETED, "done", NULL, ATTEMPT_COMPLETED);
	for (size_t k = 0; k < 10; k++) {
		changes[k].attempt = -1;
		changes[k].outcome = JOB_STORE_ERROR;
	}
	job_store_apply_changes(store, changes, 10);

	ck_assert_int_eq(changes[0].outcome, JOB_STORE_OK);
	ck_assert_int_eq(changes[0].attempt, 1);
	ck_assert_int_eq(changes[1].outcome, JOB_STORE_OK);
	ck_assert_int_eq(changes[2].outcome, JOB_STORE_OK);
	ck_assert_int_eq(changes[3].outcome, JOB_STORE_CONFLICT);
	ck_assert_int_eq(changes[4].outcome, JOB_STORE_CONFLICT);
	ck_assert_int_eq(changes[4].attempt, 0);
	ck_assert_int_eq(changes[5].outcome, JOB_STORE_NOT_FOUND);
	ck_assert_int_eq(changes[6].outcome, JOB_STORE_CONFLICT);
	ck_assert_int_eq(changes[7].outcome, JOB_STORE_NOT_FOUND);
	ck_assert_int_eq(changes[8].outcome, JOB_STORE_ERROR);
	ck_assert_int_eq(changes[9].outcome, JOB_STORE_OK); /* started by changes[0] */

	get_job(store, a, &job);
	ck_assert_int_eq(job.status, JOB_COMPLETED);
	ck_assert_str_eq(job.result, "done");
	ck_assert_str_eq(job.node_id, "n-3");
	ck_assert_uint_eq(job.attempt_count, 1);
	ck_assert_int_eq(job.attempts[0].status, ATTEMPT_COMPLETED);
	job_clear(&job);
	get_job(store, b, &job);
	ck_assert_int_eq(job.status, JOB_COMPLETED);
	ck_assert_str_eq(job.result, "ok");
	ck_assert_str_eq(job.node_id, "n-1");
	ck_assert_uint_eq(job.attempt_count, 1);
	job_clear(&job);
	get_job(store, c, &job);
	ck_assert_int_eq(job.status, JOB_FAILED);
	ck_assert_str_eq(job.error, "boom");
	ck_assert_int_eq(job.attempts[0].status, ATTEMPT_FAILED);
	job_clear(&job);
	get_job(store, d, &job);
	ck_assert_int_eq(job.status, JOB_QUEUED);
	ck_assert_uint_eq(job.attempt_count, 0);
	job_clear(&job);
	assert_counts(store, 1, 0, 2, 1);
	assert_counts_match_the_list(store);

	job_store_apply_changes(store, changes, 0); /* nothing to do, nothing done */
	assert_counts(store, 1, 0, 2, 1);
	job_store_free(store);
}
END_TEST

/* Batches from one thread share commits with other threads' creates; nothing is lost or mixed up. */
#define BATCH_CREATORS 3
#define BATCH_ROUNDS 30
#define BATCH_SIZE 20

struct batch_creator {
	struct job_store *store;
	int made;
	int failures;
};

static void *batch_creator_main(void *arg)
{
	struct batch_creator *c = arg;

	for (int i = 0; i < BATCH_ROUNDS * 2; i++) {
		struct job job;
		if (create_one(c->store, "other", "x", &job) != JOB_STORE_OK)
			c->failures++;
		else
			c->made++;
		job_clear(&job);
	}
	return NULL;
}

START_TEST(test_job_store_applies_batches_while_other_threads_create)
{
	struct job_store *store = open_store(_i);
	struct batch_creator creators[BATCH_CREATORS] = {{0}};
	pthread_t threads[BATCH_CREATORS];
	char ids[BATCH_SIZE][MESH_ID_SIZE], results[BATCH_SIZE][32];
	struct job_change changes[BATCH_SIZE];
	int made = 0;

	for (int t = 0; t < BATCH_CREATORS; t++) {
		creators[t].store = store;
		ck_assert_int_eq(pthread_create(&threads[t], NULL, batch_creator_main, &creators[t]),
				 0);
	}
	for (int round = 0; round < BATCH_ROUNDS; round++) {
		for (int k = 0; k < BATCH_SIZE; k++) {
			create_job(store, "echo", "x", ids[k]);
			changes[k] = start_change(ids[k], "n-1");
		}
		job_store_apply_changes(store, changes, BATCH_SIZE);
		for (int k = 0; k < BATCH_SIZE; k++) {
			ck_assert_int_eq(changes[k].outcome, JOB_STORE_OK);
			ck_assert_int_eq(changes[k].attempt, 1);
			snprintf(results[k], sizeof(results[k]), "r%d-%d", round, k);
			changes[k] = finish_change(ids[k], JOB_COMPLETED, results[k], NULL,
						   ATTEMPT_COMPLETED);
		}
		job_store_apply_changes(store, changes, BATCH_SIZE);
		for (int k = 0; k < BATCH_SIZE; k++) {
			struct job job;
			ck_assert_int_eq(changes[k].outcome, JOB_STORE_OK);
			get_job(store, ids[k], &job);
			ck_assert_int_eq(job.status, JOB_COMPLETED);
			ck_assert_str_eq(job.result, results[k]);
			job_clear(&job);
		}
	}
	for (int t = 0; t < BATCH_CREATORS; t++) {
		pthread_join(threads[t], NULL);
		ck_assert_int_eq(creators[t].failures, 0);
		made += creators[t].made;
	}
	assert_counts(store, (size_t)made, 0, BATCH_ROUNDS * BATCH_SIZE, 0);
	assert_counts_match_the_list(store);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_cancels_queued_and_running_jobs_and_refuses_terminal_ones)
{
	struct job_store *store = open_store(_i);
	char queued[MESH_ID_SIZE], running[MESH_ID_SIZE], done[MESH_ID_SIZE];
	enum job_status was = JOB_FAILED;
	struct job out, before;

	create_job(store, "echo", "q", queued);
	create_job(store, "echo", "r", running);
	create_job(store, "echo", "d", done);
	run_on(store, running, "n-1");
	run_on(store, done, "n-2");
	complete(store, done, "result");

	ck_assert_int_eq(job_store_cancel(store, queued, "no longer needed", &was, &out),
			 JOB_STORE_OK);
	ck_assert_int_eq(was, JOB_QUEUED);
	ck_assert_str_eq(out.id, queued);
	ck_assert_int_eq(out.status, JOB_CANCELLED);
	ck_assert_str_eq(out.error, "no longer needed");
	ck_assert_str_eq(out.node_id, "");
	ck_assert(out.has_attempts);
	ck_assert_uint_eq(out.attempt_count, 0);
	job_clear(&out);

	ck_assert_int_eq(job_store_cancel(store, running, "stop it", &was, &out), JOB_STORE_OK);
	ck_assert_int_eq(was, JOB_RUNNING);
	ck_assert_int_eq(out.status, JOB_CANCELLED);
	ck_assert_str_eq(out.node_id, "n-1"); /* whom to tell */
	ck_assert_uint_eq(out.attempt_count, 1);
	ck_assert_int_eq(out.attempts[0].status, ATTEMPT_CANCELLED);
	ck_assert_str_eq(out.attempts[0].error, "stop it");
	ck_assert_int_gt(out.attempts[0].finished_at, 0);
	job_clear(&out);
	/* What cancel handed out is what get says. */
	get_job(store, running, &out);
	ck_assert_int_eq(out.status, JOB_CANCELLED);
	ck_assert_int_eq(out.attempts[0].status, ATTEMPT_CANCELLED);
	job_clear(&out);

	/* Terminal: CONFLICT, and out is the job as it was. */
	get_job(store, done, &before);
	ck_assert_int_eq(job_store_cancel(store, done, "too late", &was, &out), JOB_STORE_CONFLICT);
	ck_assert_int_eq(was, JOB_COMPLETED);
	ck_assert_str_eq(out.id, done);
	ck_assert_int_eq(out.status, JOB_COMPLETED);
	ck_assert_str_eq(out.result, "result");
	ck_assert_ptr_null(out.error);
	ck_assert_int_eq(out.updated_at, before.updated_at);
	ck_assert_int_eq(out.attempts[0].status, ATTEMPT_COMPLETED);
	job_clear(&out);
	job_clear(&before);
	ck_assert_int_eq(job_store_cancel(store, queued, "again", &was, &out), JOB_STORE_CONFLICT);
	ck_assert_int_eq(was, JOB_CANCELLED);
	ck_assert_str_eq(out.error, "no longer needed");
	job_clear(&out);

	/* was and out may be NULL; a NULL why leaves no error. */
	create_job(store, "echo", "n", queued);
	ck_assert_int_eq(job_store_cancel(store, queued, NULL, NULL, NULL), JOB_STORE_OK);
	get_job(store, queued, &out);
	ck_assert_int_eq(out.status, JOB_CANCELLED);
	ck_assert_ptr_null(out.error);
	job_clear(&out);
	assert_all_counts(store, 0, 0, 1, 0, 3);
	assert_counts_match_the_list(store);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_keeps_a_lost_attempts_late_result_apart_from_the_job)
{
	struct job_store *store = open_store(_i);
	char a[MESH_ID_SIZE], b[MESH_ID_SIZE];
	struct lost_attempt *lost;
	size_t count;
	struct job job;

	/* a: lost on n-1, then completed on n-2. b: failed because n-1 was lost. */
	create_job(store, "echo", "a", a);
	create_job(store, "echo", "b", b);
	run_on(store, a, "n-1");
	ck_assert_int_eq(job_store_retry(store, a, ATTEMPT_LOST, "node n-1 lost", 0), JOB_STORE_OK);
	clock_sleep_ms(2);
	run_on(store, b, "n-1");
	ck_assert_int_eq(job_store_finish(store, b, JOB_FAILED, NULL, "lost", ATTEMPT_LOST),
			 JOB_STORE_OK);
	run_on(store, a, "n-2");
	complete(store, a, "real");

	ck_assert_int_eq(job_store_list_lost_attempts(store, "n-1", &lost, &count), JOB_STORE_OK);
	ck_assert_uint_eq(count, 2);
	ck_assert_str_eq(lost[0].job_id, a);
	ck_assert_int_eq(lost[0].number, 1);
	ck_assert_str_eq(lost[1].job_id, b);
	ck_assert_int_eq(lost[1].number, 1);
	free(lost);
	ck_assert_int_eq(job_store_list_lost_attempts(store, "n-2", &lost, &count), JOB_STORE_OK);
	ck_assert_uint_eq(count, 0);
	free(lost);

	/* a's node is back with its output: attempt 1 is SUPERSEDED, the job keeps its result. */
	ck_assert_int_eq(job_store_note_late_result(store, a, 1, true, "late out", "ignored"),
			 JOB_STORE_OK);
	get_job(store, a, &job);
	ck_assert_int_eq(job.status, JOB_COMPLETED);
	ck_assert_str_eq(job.result, "real");
	ck_assert_int_eq(job.attempts[0].status, ATTEMPT_SUPERSEDED);
	ck_assert_str_eq(job.attempts[0].result, "late out");
	ck_assert_ptr_null(job.attempts[0].error);
	ck_assert_int_eq(job.attempts[1].status, ATTEMPT_COMPLETED);
	job_clear(&job);
	ck_assert_int_eq(job_store_note_late_result(store, a, 1, true, "again", NULL),
			 JOB_STORE_CONFLICT);
	ck_assert_int_eq(job_store_note_late_result(store, a, 2, true, "x", NULL),
			 JOB_STORE_CONFLICT);
	ck_assert_int_eq(job_store_note_late_result(store, a, 3, true, "x", NULL),
			 JOB_STORE_NOT_FOUND);
	ck_assert_int_eq(job_store_note_late_result(store, a, 0, true, "x", NULL),
			 JOB_STORE_NOT_FOUND);

	/* b's node says it failed: the error is kept on the attempt, the job stays FAILED. */
	ck_assert_int_eq(job_store_note_late_result(store, b, 1, false, "ignored", "exit 3"),
			 JOB_STORE_OK);
	get_job(store, b, &job);
	ck_assert_int_eq(job.status, JOB_FAILED);
	ck_assert_str_eq(job.error, "lost");
	ck_assert_int_eq(job.attempts[0].status, ATTEMPT_SUPERSEDED);
	ck_assert_str_eq(job.attempts[0].error, "exit 3");
	ck_assert_ptr_null(job.attempts[0].result);
	job_clear(&job);

	ck_assert_int_eq(job_store_list_lost_attempts(store, "n-1", &lost, &count), JOB_STORE_OK);
	ck_assert_uint_eq(count, 0);
	free(lost);
	assert_counts(store, 0, 0, 1, 1);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_lists_lost_attempts_oldest_first)
{
	enum { N = 4 };
	struct job_store *store = open_store(_i);
	char ids[N][MESH_ID_SIZE];
	struct lost_attempt *lost;
	size_t count;

	for (int i = 0; i < N; i++)
		create_job(store, "echo", "x", ids[i]);
	/* Started in the order 2, 0, 3, 1; job 3 is lost twice. */
	static const int order[N] = {2, 0, 3, 1};
	for (int k = 0; k < N; k++) {
		run_on(store, ids[order[k]], "n-9");
		clock_sleep_ms(2);
	}
	for (int k = N - 1; k >= 0; k--)
		ck_assert_int_eq(job_store_retry(store, ids[order[k]], ATTEMPT_LOST, "gone", 0),
				 JOB_STORE_OK);
	run_on(store, ids[3], "n-9");
	ck_assert_int_eq(job_store_retry(store, ids[3], ATTEMPT_LOST, "gone", 0), JOB_STORE_OK);
	ck_assert_int_eq(job_store_list_lost_attempts(store, "n-9", &lost, &count), JOB_STORE_OK);
	ck_assert_uint_eq(count, N + 1);
	for (int k = 0; k < N; k++) {
		ck_assert_str_eq(lost[k].job_id, ids[order[k]]);
		ck_assert_int_eq(lost[k].number, 1);
	}
	ck_assert_str_eq(lost[N].job_id, ids[3]);
	ck_assert_int_eq(lost[N].number, 2);
	free(lost);
	job_store_free(store);
}
END_TEST

/* ---- prune --------------------------------------------------------------------------------- */

START_TEST(test_job_store_prunes_only_old_terminal_jobs_with_their_attempts)
{
	enum { N = 7 };
	struct job_store *store = open_store(_i);
	char ids[N][MESH_ID_SIZE];
	struct lost_attempt *lost;
	struct job job;
	size_t count, deleted = 99;
	int64_t cutoff;

	/* 0 COMPLETED, 1 FAILED, 2 CANCELLED, 3 QUEUED, 4 RUNNING, 5 COMPLETED after a LOST one. */
	for (int i = 0; i < N; i++)
		create_job(store, "echo", "x", ids[i]);
	run_on(store, ids[0], "n-1");
	complete(store, ids[0], "r");
	run_on(store, ids[1], "n-1");
	fail_job(store, ids[1], "e");
	ck_assert_int_eq(job_store_cancel(store, ids[2], "no", NULL, NULL), JOB_STORE_OK);
	run_on(store, ids[4], "n-1");
	run_on(store, ids[5], "n-1");
	ck_assert_int_eq(job_store_retry(store, ids[5], ATTEMPT_LOST, "gone", 0), JOB_STORE_OK);
	run_on(store, ids[5], "n-2");
	complete(store, ids[5], "r");
	clock_sleep_ms(3);
	cutoff = clock_wall_ms();
	clock_sleep_ms(3);
	/* 6: finished after the cutoff. */
	run_on(store, ids[6], "n-1");
	complete(store, ids[6], "r");

	ck_assert_int_eq(job_store_prune(store, cutoff, 100, &deleted), JOB_STORE_OK);
	ck_assert_uint_eq(deleted, 4);
	for (int i = 0; i < N; i++) {
		bool gone = i <= 2 || i == 5;
		ck_assert_int_eq(job_store_get(store, ids[i], &job),
				 gone ? JOB_STORE_NOT_FOUND : JOB_STORE_OK);
		job_clear(&job);
	}
	ck_assert_int_eq(job_store_list_lost_attempts(store, "n-1", &lost, &count), JOB_STORE_OK);
	ck_assert_uint_eq(count, 0);
	free(lost);
	ck_assert_int_eq(job_store_note_late_result(store, ids[5], 1, true, "late", NULL),
			 JOB_STORE_NOT_FOUND);
	assert_all_counts(store, 1, 1, 1, 0, 0);
	assert_counts_match_the_list(store);
	ck_assert_int_eq(job_store_prune(store, cutoff, 100, &deleted), JOB_STORE_OK);
	ck_assert_uint_eq(deleted, 0);
	/* limit 0 prunes nothing; deleted may be NULL. */
	ck_assert_int_eq(job_store_prune(store, clock_wall_ms() + 1000, 0, &deleted), JOB_STORE_OK);
	ck_assert_uint_eq(deleted, 0);
	ck_assert_int_eq(job_store_prune(store, clock_wall_ms() + 1000, 10, NULL), JOB_STORE_OK);
	assert_all_counts(store, 1, 1, 0, 0, 0);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_prunes_the_oldest_first_at_most_limit_at_a_time)
{
	enum { N = 5 };
	struct job_store *store = open_store(_i);
	char ids[N][MESH_ID_SIZE], queued[MESH_ID_SIZE];
	size_t deleted;
	struct job job;

	for (int i = 0; i < N; i++) {
		create_job(store, "echo", "x", ids[i]);
		run_on(store, ids[i], "n-1");
	}
	create_job(store, "echo", "stays", queued);
	/* Finished in the order 4, 3, 2, 1, 0: age is updated_at, not submission. */
	for (int i = N - 1; i >= 0; i--) {
		complete(store, ids[i], "r");
		clock_sleep_ms(2);
	}
	static const size_t expect[] = {2, 2, 1, 0};
	int gone = 0;
	for (size_t round = 0; round < 4; round++) {
		ck_assert_int_eq(job_store_prune(store, clock_wall_ms() + 1, 2, &deleted),
				 JOB_STORE_OK);
		ck_assert_uint_eq(deleted, expect[round]);
		gone += (int)deleted;
		for (int i = 0; i < N; i++) {
			bool should_be_gone = i >= N - gone;
			ck_assert_int_eq(job_store_get(store, ids[i], &job),
					 should_be_gone ? JOB_STORE_NOT_FOUND : JOB_STORE_OK);
			job_clear(&job);
		}
	}
	get_job(store, queued, &job);
	job_clear(&job);
	assert_counts(store, 1, 0, 0, 0);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_frees_a_pruned_jobs_key_and_keeps_paging)
{
	enum { N = 10 };
	struct job_store *store = open_store(_i);
	char ids[N][MESH_ID_SIZE];
	struct job keyed, again;
	struct job_list page;
	uint64_t cursor = 0;
	size_t deleted;
	bool existed;

	ck_assert_int_eq(create_keyed(store, "echo", "v1", "reused", &keyed, &existed),
			 JOB_STORE_OK);
	for (int i = 0; i < N; i++)
		create_job(store, "echo", "p", ids[i]);
	for (int i = 0; i < 5; i++) {
		run_on(store, ids[i], "n-1");
		complete(store, ids[i], "r");
	}
	run_on(store, keyed.id, "n-1");
	complete(store, keyed.id, "r");
	/* A pass over QUEUED jobs, interrupted by a prune of jobs before its cursor. */
	ck_assert_int_eq(job_store_list_page(store, JOB_QUEUED, &cursor, 2, &page), JOB_STORE_OK);
	ck_assert_uint_eq(page.count, 2);
	ck_assert_str_eq(page.items[0].id, ids[5]);
	ck_assert_str_eq(page.items[1].id, ids[6]);
	job_list_clear(&page);
	clock_sleep_ms(2);
	ck_assert_int_eq(job_store_prune(store, clock_wall_ms(), 100, &deleted), JOB_STORE_OK);
	ck_assert_uint_eq(deleted, 6);
	ck_assert_int_eq(job_store_list_page(store, JOB_QUEUED, &cursor, 2, &page), JOB_STORE_OK);
	ck_assert_uint_eq(page.count, 2);
	ck_assert_str_eq(page.items[0].id, ids[7]);
	ck_assert_str_eq(page.items[1].id, ids[8]);
	job_list_clear(&page);

	/* The key is free again: other content makes a new job, no CONFLICT. */
	ck_assert_int_eq(create_keyed(store, "echo", "v2", "reused", &again, &existed),
			 JOB_STORE_OK);
	ck_assert(!existed);
	ck_assert_str_ne(again.id, keyed.id);
	job_clear(&again);
	job_clear(&keyed);
	assert_counts(store, 6, 0, 0, 0);
	job_store_free(store);
}
END_TEST

/* ---- nodes ---------------------------------------------------------------------------------- */

/* A node as the registry has it, live fields included (they are not stored). */
static struct node node_of(const char *id, const char *name, int capacity, char **types,
			   size_t type_count)
{
	struct node node;

	memset(&node, 0, sizeof(node));
	snprintf(node.id, sizeof(node.id), "%s", id);
	node.name = (char *)name;
	node.address = (char *)"10.0.0.7:8081";
	node.base_url = (char *)"http://10.0.0.7:8081";
	node.state = NODE_UNHEALTHY;
	node.capacity = capacity;
	node.running = 3;
	node.types = types;
	node.type_count = type_count;
	node.last_seen = 424242;
	node.registered_at = 1700000000000 + capacity;
	return node;
}

static void assert_nodes(struct job_store *store, const char *const *names, size_t count)
{
	struct node *nodes;
	size_t n;

	ck_assert_int_eq(job_store_load_nodes(store, &nodes, &n), JOB_STORE_OK);
	ck_assert_uint_eq(n, count);
	for (size_t i = 0; i < n; i++) {
		ck_assert_str_eq(nodes[i].name, names[i]);
		node_clear(&nodes[i]);
	}
	free(nodes);
}

START_TEST(test_job_store_keeps_nodes_in_registration_order)
{
	struct job_store *store = open_store(_i);
	char *types_a[] = {"echo", "sleep"}, *types_b2[] = {"upper"};
	struct node a = node_of("n-a", "alpha", 4, types_a, 2);
	struct node b = node_of("n-b", "beta", 2, NULL, 0);
	struct node c = node_of("n-c", "gamma", 1, types_b2, 1);
	struct node *nodes;
	size_t n;

	assert_nodes(store, NULL, 0);
	ck_assert_int_eq(job_store_put_node(store, &a), JOB_STORE_OK);
	ck_assert_int_eq(job_store_put_node(store, &b), JOB_STORE_OK);
	ck_assert_int_eq(job_store_put_node(store, &c), JOB_STORE_OK);

	ck_assert_int_eq(job_store_load_nodes(store, &nodes, &n), JOB_STORE_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(nodes[0].id, "n-a");
	ck_assert_str_eq(nodes[0].name, "alpha");
	ck_assert_str_eq(nodes[0].address, "10.0.0.7:8081");
	ck_assert_int_eq(nodes[0].capacity, 4);
	ck_assert_uint_eq(nodes[0].type_count, 2);
	ck_assert_str_eq(nodes[0].types[0], "echo");
	ck_assert_str_eq(nodes[0].types[1], "sleep");
	ck_assert_int_eq(nodes[0].registered_at, a.registered_at);
	ck_assert(!nodes[0].draining);
	/* The live half is not stored. */
	ck_assert_ptr_null(nodes[0].base_url);
	ck_assert_int_eq(nodes[0].state, NODE_HEALTHY);
	ck_assert_int_eq(nodes[0].running, 0);
	ck_assert_int_eq(nodes[0].last_seen, 0);
	ck_assert_uint_eq(nodes[1].type_count, 0);
	for (size_t i = 0; i < n; i++)
		node_clear(&nodes[i]);
	free(nodes);

	/* Replaced by id, in place. */
	b.name = "beta-2";
	b.draining = true;
	b.capacity = 9;
	b.types = types_b2;
	b.type_count = 1;
	ck_assert_int_eq(job_store_put_node(store, &b), JOB_STORE_OK);
	ck_assert_int_eq(job_store_load_nodes(store, &nodes, &n), JOB_STORE_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(nodes[1].id, "n-b");
	ck_assert_str_eq(nodes[1].name, "beta-2");
	ck_assert(nodes[1].draining);
	ck_assert_int_eq(nodes[1].capacity, 9);
	ck_assert_uint_eq(nodes[1].type_count, 1);
	ck_assert_str_eq(nodes[1].types[0], "upper");
	for (size_t i = 0; i < n; i++)
		node_clear(&nodes[i]);
	free(nodes);

	/* Deleted, then back: at the end. */
	ck_assert_int_eq(job_store_delete_node(store, "n-a"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_delete_node(store, "n-a"), JOB_STORE_NOT_FOUND);
	ck_assert_int_eq(job_store_delete_node(store, "n-zzz"), JOB_STORE_NOT_FOUND);
	assert_nodes(store, (const char *const[]){"beta-2", "gamma"}, 2);
	ck_assert_int_eq(job_store_put_node(store, &a), JOB_STORE_OK);
	assert_nodes(store, (const char *const[]){"beta-2", "gamma", "alpha"}, 3);

	/* A node without an id or name is refused. */
	a.id[0] = '\0';
	ck_assert_int_eq(job_store_put_node(store, &a), JOB_STORE_ERROR);
	c.name = NULL;
	ck_assert_int_eq(job_store_put_node(store, &c), JOB_STORE_ERROR);
	assert_nodes(store, (const char *const[]){"beta-2", "gamma", "alpha"}, 3);
	job_store_free(store);
}
END_TEST

/* ---- list ------------------------------------------------------------------------------ */

/*
 * The fixture for the list tests: eight jobs, submitted in this order.
 *   0 echo QUEUED          4 echo COMPLETED on n-2
 *   1 echo RUNNING on n-1  5 sleep QUEUED (requeued from n-1)
 *   2 sleep RUNNING on n-1 6 sleep FAILED on n-2
 *   3 echo COMPLETED n-1   7 upper QUEUED
 */
#define LIST_JOBS 8

static void make_list_fixture(struct job_store *store, char ids[LIST_JOBS][MESH_ID_SIZE])
{
	static const char *const types[LIST_JOBS] = {"echo", "echo",  "sleep", "echo",
						     "echo", "sleep", "sleep", "upper"};
	for (int i = 0; i < LIST_JOBS; i++) {
		char payload[16];
		snprintf(payload, sizeof(payload), "p%d", i);
		create_job(store, types[i], payload, ids[i]);
	}
	run_on(store, ids[1], "n-1");
	run_on(store, ids[2], "n-1");
	run_on(store, ids[3], "n-1");
	complete(store, ids[3], "r3");
	run_on(store, ids[4], "n-2");
	complete(store, ids[4], "r4");
	run_on(store, ids[5], "n-1");
	ck_assert_int_eq(job_store_requeue(store, ids[5]), JOB_STORE_OK);
	run_on(store, ids[6], "n-2");
	fail_job(store, ids[6], "e6");
}

struct list_case {
	const char *name;
	int by_status; /* -1: any */
	const char *node_id;
	const char *type;
	size_t limit;
	int expected[LIST_JOBS + 1]; /* fixture indexes in order, ended by -1 */
};

static const struct list_case list_cases[] = {
	{"everything", -1, NULL, NULL, 100, {0, 1, 2, 3, 4, 5, 6, 7, -1}},
	{"queued", JOB_QUEUED, NULL, NULL, 100, {0, 5, 7, -1}},
	{"running", JOB_RUNNING, NULL, NULL, 100, {1, 2, -1}},
	{"completed", JOB_COMPLETED, NULL, NULL, 100, {3, 4, -1}},
	{"failed", JOB_FAILED, NULL, NULL, 100, {6, -1}},
	{"cancelled", JOB_CANCELLED, NULL, NULL, 100, {-1}},
	{"node n-1 (not the requeued job)", -1, "n-1", NULL, 100, {1, 2, 3, -1}},
	{"node n-2", -1, "n-2", NULL, 100, {4, 6, -1}},
	{"node nobody has", -1, "n-3", NULL, 100, {-1}},
	{"type echo", -1, NULL, "echo", 100, {0, 1, 3, 4, -1}},
	{"type sleep", -1, NULL, "sleep", 100, {2, 5, 6, -1}},
	{"type nobody submitted", -1, NULL, "nope", 100, {-1}},
	{"type is exact, not a prefix", -1, NULL, "ech", 100, {-1}},
	{"running on n-1", JOB_RUNNING, "n-1", NULL, 100, {1, 2, -1}},
	{"completed on n-1", JOB_COMPLETED, "n-1", NULL, 100, {3, -1}},
	{"echo on n-1", -1, "n-1", "echo", 100, {1, 3, -1}},
	{"completed echo on n-2", JOB_COMPLETED, "n-2", "echo", 100, {4, -1}},
	{"queued sleep", JOB_QUEUED, NULL, "sleep", 100, {5, -1}},
	{"failed echo", JOB_FAILED, NULL, "echo", 100, {-1}},
	{"limit 1 takes the oldest", -1, NULL, NULL, 1, {0, -1}},
	{"limit 3", -1, NULL, NULL, 3, {0, 1, 2, -1}},
	{"limit applies after the filter", JOB_QUEUED, NULL, NULL, 2, {0, 5, -1}},
	{"limit equal to the matches", -1, NULL, "sleep", 3, {2, 5, 6, -1}},
	{"largest limit", -1, NULL, NULL, JOB_STORE_LIST_MAX, {0, 1, 2, 3, 4, 5, 6, 7, -1}},
};

#define LIST_CASE_COUNT ((int)(sizeof(list_cases) / sizeof(list_cases[0])))

static void run_list_case(struct job_store *store, char ids[LIST_JOBS][MESH_ID_SIZE],
			  const struct list_case *c)
{
	struct job_filter filter = {.node_id = c->node_id, .type = c->type, .limit = c->limit};
	struct job_list list;
	size_t expected_count = 0;

	if (c->by_status >= 0) {
		filter.by_status = true;
		filter.status = (enum job_status)c->by_status;
	}
	ck_assert_int_eq(job_store_list(store, &filter, &list), JOB_STORE_OK);
	while (c->expected[expected_count] >= 0)
		expected_count++;
	ck_assert_msg(list.count == expected_count, "%s: %zu jobs, expected %zu", c->name,
		      list.count, expected_count);
	for (size_t i = 0; i < list.count; i++) {
		int want = c->expected[i];
		ck_assert_msg(strcmp(list.items[i].id, ids[want]) == 0,
			      "%s: item %zu is %s (%s), expected job %d", c->name, i,
			      list.items[i].id, list.items[i].payload, want);
		ck_assert_msg(!filter.by_status || list.items[i].status == filter.status, "%s",
			      c->name);
	}
	job_list_clear(&list);
	ck_assert_ptr_null(list.items);
	ck_assert_uint_eq(list.count, 0);
}

/* Every case against one fixture per store (listing changes nothing); failures name the case. */
START_TEST(test_job_store_lists_by_filter_in_submission_order)
{
	struct job_store *store = open_store(_i);
	char ids[LIST_JOBS][MESH_ID_SIZE];

	make_list_fixture(store, ids);
	for (int k = 0; k < LIST_CASE_COUNT; k++)
		run_list_case(store, ids, &list_cases[k]);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_lists_nothing_from_an_empty_store)
{
	struct job_store *store = open_store(_i);
	struct job_list list;

	ck_assert_int_eq(job_store_list(store, &all_jobs, &list), JOB_STORE_OK);
	ck_assert_uint_eq(list.count, 0);
	job_list_clear(&list);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_refuses_a_limit_outside_its_range)
{
	struct job_store *store = open_store(_i);
	struct job_filter filter = {.limit = 0};
	char id[MESH_ID_SIZE];
	struct job_list list;

	create_job(store, "echo", "x", id);
	ck_assert_int_ne(job_store_list(store, &filter, &list), JOB_STORE_OK);
	ck_assert_uint_eq(list.count, 0);
	ck_assert_ptr_null(list.items);
	filter.limit = JOB_STORE_LIST_MAX + 1;
	ck_assert_int_ne(job_store_list(store, &filter, &list), JOB_STORE_OK);
	ck_assert_uint_eq(list.count, 0);
	ck_assert_ptr_null(list.items);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_lists_full_copies_of_each_job)
{
	struct job_store *store = open_store(_i);
	char ids[LIST_JOBS][MESH_ID_SIZE];
	struct job_list list;
	struct job job;

	make_list_fixture(store, ids);
	ck_assert_int_eq(job_store_list(store, &all_jobs, &list), JOB_STORE_OK);
	ck_assert_uint_eq(list.count, LIST_JOBS);
	for (size_t i = 0; i < list.count; i++) {
		ck_assert_int_eq(job_store_get(store, list.items[i].id, &job), JOB_STORE_OK);
		ck_assert_str_eq(list.items[i].type, job.type);
		ck_assert_str_eq(list.items[i].payload, job.payload);
		ck_assert_int_eq(list.items[i].status, job.status);
		ck_assert_str_eq(list.items[i].node_id, job.node_id);
		ck_assert_int_eq(list.items[i].created_at, job.created_at);
		ck_assert_int_eq(list.items[i].updated_at, job.updated_at);
		ck_assert_int_eq(list.items[i].attempt, job.attempt);
		job_clear(&job);
	}
	ck_assert_str_eq(list.items[3].result, "r3");
	ck_assert_str_eq(list.items[6].error, "e6");
	/* Scribbling on the copies changes nothing in the store. */
	list.items[3].result[0] = 'X';
	job_list_clear(&list);
	ck_assert_int_eq(job_store_get(store, ids[3], &job), JOB_STORE_OK);
	ck_assert_str_eq(job.result, "r3");
	job_clear(&job);
	job_store_free(store);
}
END_TEST

/* ---- counts ------------------------------------------------------------------------------ */

START_TEST(test_job_store_counts_agree_with_the_list_after_many_changes)
{
	struct job_store *store = open_store(_i);
	enum { N = 300 };
	static char ids[N][MESH_ID_SIZE];
	size_t counts[JOB_STATUS_COUNT], total = 0;

	assert_counts(store, 0, 0, 0, 0);
	for (int i = 0; i < N; i++) {
		create_job(store, i % 2 ? "echo" : "sleep", "x", ids[i]);
		/* A mix of outcomes, refused changes included. */
		switch (i % 7) {
		case 0:
			break;
		case 1:
			run_on(store, ids[i], "n-1");
			break;
		case 2:
			run_on(store, ids[i], "n-1");
			complete(store, ids[i], "r");
			ck_assert_int_eq(job_store_finish(store, ids[i], JOB_FAILED, NULL, "e",
							  ATTEMPT_FAILED),
					 JOB_STORE_CONFLICT);
			break;
		case 3:
			run_on(store, ids[i], "n-2");
			fail_job(store, ids[i], "e");
			break;
		case 4:
			run_on(store, ids[i], "n-2");
			ck_assert_int_eq(job_store_requeue(store, ids[i]), JOB_STORE_OK);
			ck_assert_int_eq(job_store_requeue(store, ids[i]), JOB_STORE_CONFLICT);
			break;
		case 5:
			ck_assert_int_eq(job_store_finish(store, ids[i], JOB_COMPLETED, "r", NULL,
							  ATTEMPT_COMPLETED),
					 JOB_STORE_CONFLICT);
			break;
		case 6:
			run_on(store, ids[i], "n-1");
			ck_assert_int_eq(job_store_mark_running(store, ids[i], "n-2", NULL),
					 JOB_STORE_CONFLICT);
			ck_assert_int_eq(job_store_finish(store, ids[i], JOB_RUNNING, "r", NULL,
							  ATTEMPT_COMPLETED),
					 JOB_STORE_CONFLICT);
			break;
		}
	}
	job_store_count_by_status(store, counts);
	for (int s = 0; s < JOB_STATUS_COUNT; s++) {
		struct job_filter filter = {.by_status = true, .status = (enum job_status)s,
					    .limit = JOB_STORE_LIST_MAX};
		struct job_list list;
		ck_assert_int_eq(job_store_list(store, &filter, &list), JOB_STORE_OK);
		ck_assert_msg(counts[s] == list.count, "%s: count %zu, list %zu",
			      job_status_name((enum job_status)s), counts[s], list.count);
		total += counts[s];
		job_list_clear(&list);
	}
	ck_assert_uint_eq(total, N);
	/* i%7 in {0,4,5} queued, {1,6} running, {2} completed, {3} failed; 300 = 42*7 + 6. */
	assert_counts(store, 43 + 43 + 43, 43 + 42, 43, 43);
	job_store_free(store);
}
END_TEST

/* ---- paging by status ------------------------------------------------------------------------ */

/*
 * Pages through status with pages of limit jobs and writes the ids, in the
 * order given, into out (at most max). Returns how many; checks each page.
 */
static size_t page_all(struct job_store *store, enum job_status status, size_t limit,
		       char (*out)[MESH_ID_SIZE], size_t max)
{
	struct job_list page;
	uint64_t cursor = 0;
	size_t n = 0;

	for (int round = 0; round < 1000; round++) {
		ck_assert_int_eq(job_store_list_page(store, status, &cursor, limit, &page),
				 JOB_STORE_OK);
		ck_assert_uint_le(page.count, limit);
		if (page.count == 0) {
			job_list_clear(&page);
			return n;
		}
		for (size_t i = 0; i < page.count; i++) {
			ck_assert_int_eq(page.items[i].status, status);
			ck_assert_uint_lt(n, max);
			strcpy(out[n++], page.items[i].id);
		}
		job_list_clear(&page);
	}
	ck_abort_msg("paging did not end");
	return n;
}

START_TEST(test_job_store_pages_through_one_status_in_submission_order)
{
	enum { N = 23 };
	struct job_store *store = open_store(_i / 4);
	static const size_t limits[] = {1, 4, 5, JOB_STORE_LIST_MAX};
	size_t limit = limits[_i % 4];
	char ids[N][MESH_ID_SIZE], got[N][MESH_ID_SIZE], want[N][MESH_ID_SIZE];
	size_t want_queued = 0, want_running = 0, n;

	/* Every third job RUNNING, every fifth of the rest COMPLETED, the others QUEUED. */
	for (int i = 0; i < N; i++)
		create_job(store, "echo", "p", ids[i]);
	for (int i = 0; i < N; i++) {
		if (i % 3 == 0 || i % 5 == 0)
			run_on(store, ids[i], "n-1");
		if (i % 3 != 0 && i % 5 == 0)
			complete(store, ids[i], "r");
	}
	for (int i = 0; i < N; i++)
		if (i % 3 != 0 && i % 5 != 0)
			strcpy(want[want_queued++], ids[i]);
	n = page_all(store, JOB_QUEUED, limit, got, N);
	ck_assert_uint_eq(n, want_queued);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(got[i], want[i]);

	for (int i = 0; i < N; i++)
		if (i % 3 == 0)
			strcpy(want[want_running++], ids[i]);
	n = page_all(store, JOB_RUNNING, limit, got, N);
	ck_assert_uint_eq(n, want_running);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(got[i], want[i]);
	ck_assert_uint_eq(page_all(store, JOB_FAILED, limit, got, N), 0);

	/* A job requeued after the cursor passed it is not seen again by that pass. */
	{
		struct job_list page;
		uint64_t cursor = 0;
		ck_assert_int_eq(job_store_list_page(store, JOB_RUNNING, &cursor, 1, &page),
				 JOB_STORE_OK);
		ck_assert_uint_eq(page.count, 1);
		ck_assert_str_eq(page.items[0].id, ids[0]);
		job_list_clear(&page);
		ck_assert_int_eq(job_store_requeue(store, ids[0]), JOB_STORE_OK);
		ck_assert_int_eq(job_store_list_page(store, JOB_RUNNING, &cursor, 1, &page),
				 JOB_STORE_OK);
		ck_assert_uint_eq(page.count, 1);
		ck_assert_str_eq(page.items[0].id, ids[3]);
		job_list_clear(&page);
	}
	/* ... and the requeued job is the first QUEUED one again. */
	n = page_all(store, JOB_QUEUED, limit, got, N);
	ck_assert_uint_eq(n, want_queued + 1);
	ck_assert_str_eq(got[0], ids[0]);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_pages_hand_out_full_copies)
{
	struct job_store *store = open_store(_i);
	struct job_list page;
	uint64_t cursor = 0;
	char id[MESH_ID_SIZE];

	create_job(store, "upper", "hello", id);
	run_on(store, id, "n-7");
	ck_assert_int_eq(job_store_list_page(store, JOB_RUNNING, &cursor, 10, &page), JOB_STORE_OK);
	ck_assert_uint_eq(page.count, 1);
	ck_assert_str_eq(page.items[0].id, id);
	ck_assert_str_eq(page.items[0].type, "upper");
	ck_assert_str_eq(page.items[0].payload, "hello");
	ck_assert_str_eq(page.items[0].node_id, "n-7");
	ck_assert_int_gt(page.items[0].created_at, 0);
	ck_assert_ptr_null(page.items[0].result);
	ck_assert_int_eq(page.items[0].attempt, 1);
	job_list_clear(&page);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_pages_refuse_a_limit_outside_its_range)
{
	struct job_store *store = open_store(_i);
	struct job_list page;
	uint64_t cursor = 0;
	char id[MESH_ID_SIZE];

	ck_assert_int_eq(job_store_list_page(store, JOB_QUEUED, &cursor, 10, &page), JOB_STORE_OK);
	ck_assert_uint_eq(page.count, 0);
	job_list_clear(&page);
	create_job(store, "echo", "p", id);
	ck_assert_int_eq(job_store_list_page(store, JOB_QUEUED, &cursor, 0, &page),
			 JOB_STORE_ERROR);
	ck_assert_uint_eq(page.count, 0);
	ck_assert_ptr_null(page.items);
	ck_assert_int_eq(
		job_store_list_page(store, JOB_QUEUED, &cursor, JOB_STORE_LIST_MAX + 1, &page),
		JOB_STORE_ERROR);
	ck_assert_uint_eq(page.count, 0);
	ck_assert_uint_eq(cursor, 0);
	/* The empty page before the job existed did not move the cursor past it. */
	ck_assert_int_eq(job_store_list_page(store, JOB_QUEUED, &cursor, 10, &page), JOB_STORE_OK);
	ck_assert_uint_eq(page.count, 1);
	ck_assert_str_eq(page.items[0].id, id);
	job_list_clear(&page);
	job_store_free(store);
}
END_TEST

/* ---- many jobs ------------------------------------------------------------------------- */

static int compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

START_TEST(test_job_store_keeps_20000_jobs_unique_and_findable)
{
	enum { N = 20000, BATCH = 500 };
	struct job_store *store = open_store(_i);
	char(*ids)[MESH_ID_SIZE] = calloc(N, MESH_ID_SIZE);
	char(*sorted)[MESH_ID_SIZE] = calloc(N, MESH_ID_SIZE);
	char(*payloads)[16] = calloc(BATCH, 16);
	struct job *specs = calloc(BATCH, sizeof(*specs)), *out = calloc(BATCH, sizeof(*out));
	struct job_filter first_page = {.limit = JOB_STORE_LIST_MAX};
	struct job_list list;

	ck_assert_ptr_nonnull(ids);
	ck_assert_ptr_nonnull(sorted);
	ck_assert_ptr_nonnull(payloads);
	ck_assert_ptr_nonnull(specs);
	ck_assert_ptr_nonnull(out);
	/*
	 * Plain checks in the loops: each passing ck_assert costs a write to the
	 * Check parent, which would make this test take seconds. Batches of BATCH
	 * keep the durable store to one commit per batch.
	 */
	for (int b = 0; b < N / BATCH; b++) {
		for (int k = 0; k < BATCH; k++) {
			snprintf(payloads[k], 16, "%d", b * BATCH + k);
			specs[k] = spec_of("echo", payloads[k]);
		}
		if (job_store_create(store, specs, BATCH, out, NULL) != JOB_STORE_OK)
			ck_abort_msg("batch %d was not created", b);
		for (int k = 0; k < BATCH; k++) {
			strcpy(ids[b * BATCH + k], out[k].id);
			job_clear(&out[k]);
		}
	}
	memcpy(sorted, ids, (size_t)N * MESH_ID_SIZE);
	qsort(sorted, N, MESH_ID_SIZE, compare_ids);
	for (int i = 1; i < N; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			ck_abort_msg("id %s given twice", sorted[i]);
	for (int i = 0; i < N; i++) {
		struct job job;
		char payload[16];
		snprintf(payload, sizeof(payload), "%d", i);
		if (job_store_get(store, ids[i], &job) != JOB_STORE_OK)
			ck_abort_msg("job %d (%s) not found", i, ids[i]);
		if (strcmp(job.id, ids[i]) != 0 || strcmp(job.payload, payload) != 0)
			ck_abort_msg("get(%s) gave job %s with payload %s, expected payload %s",
				     ids[i], job.id, job.payload, payload);
		job_clear(&job);
	}
	/* The list is in submission order across every growth of the store. */
	ck_assert_int_eq(job_store_list(store, &first_page, &list), JOB_STORE_OK);
	ck_assert_uint_eq(list.count, JOB_STORE_LIST_MAX);
	for (size_t i = 0; i < list.count; i++)
		if (strcmp(list.items[i].id, ids[i]) != 0)
			ck_abort_msg("list item %zu is %s, expected %s", i, list.items[i].id,
				     ids[i]);
	job_list_clear(&list);
	/* Changes after growth still find the right job. */
	run_on(store, ids[N - 1], "n-1");
	run_on(store, ids[0], "n-1");
	complete(store, ids[0], "r");
	assert_counts(store, N - 2, 1, 1, 0);
	/* Paging passes JOB_STORE_LIST_MAX: every QUEUED job, in order, then an empty page. */
	{
		uint64_t cursor = 0;
		size_t seen = 0, pages = 0;
		for (;;) {
			ck_assert_int_eq(job_store_list_page(store, JOB_QUEUED, &cursor,
							     JOB_STORE_LIST_MAX, &list),
					 JOB_STORE_OK);
			if (list.count == 0)
				break;
			pages++;
			for (size_t i = 0; i < list.count; i++, seen++)
				if (strcmp(list.items[i].id, ids[seen + 1]) != 0)
					ck_abort_msg("queued job %zu is %s, expected %s", seen,
						     list.items[i].id, ids[seen + 1]);
			job_list_clear(&list);
		}
		job_list_clear(&list);
		ck_assert_uint_eq(seen, N - 2);
		ck_assert_uint_eq(pages, 2);
	}
	free(out);
	free(specs);
	free(payloads);
	free(sorted);
	free(ids);
	job_store_free(store);
}
END_TEST

/* ---- threads ---------------------------------------------------------------------------- */

#define PER_THREAD 500

struct creator {
	struct job_store *store;
	int index;
	char (*ids)[MESH_ID_SIZE];
	int failures; /* asserted in the main thread: Check asserts belong there */
};

static void *creator_main(void *arg)
{
	struct creator *c = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		char payload[32];
		struct job job;
		snprintf(payload, sizeof(payload), "t%d-%d", c->index, i);
		if (create_one(c->store, "echo", payload, &job) != JOB_STORE_OK ||
		    strcmp(job.payload, payload) != 0) {
			c->failures++;
		} else {
			strcpy(c->ids[i], job.id);
		}
		job_clear(&job);
	}
	return NULL;
}

START_TEST(test_job_store_concurrent_creates_make_distinct_jobs)
{
	struct job_store *store = open_store(_i);
	static char ids[THREADS * PER_THREAD][MESH_ID_SIZE];
	static char sorted[THREADS * PER_THREAD][MESH_ID_SIZE];
	struct creator creators[THREADS];
	pthread_t threads[THREADS];

	for (int t = 0; t < THREADS; t++) {
		creators[t] =
			(struct creator){.store = store, .index = t, .ids = &ids[t * PER_THREAD]};
		ck_assert_int_eq(pthread_create(&threads[t], NULL, creator_main, &creators[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(threads[t], NULL);
		ck_assert_int_eq(creators[t].failures, 0);
	}
	assert_counts(store, THREADS * PER_THREAD, 0, 0, 0);
	memcpy(sorted, ids, sizeof(ids));
	qsort(sorted, THREADS * PER_THREAD, MESH_ID_SIZE, compare_ids);
	for (int i = 1; i < THREADS * PER_THREAD; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			ck_abort_msg("id %s given twice", sorted[i]);
	for (int t = 0; t < THREADS; t++) {
		for (int i = 0; i < PER_THREAD; i++) {
			struct job job;
			char payload[32];
			snprintf(payload, sizeof(payload), "t%d-%d", t, i);
			if (job_store_get(store, ids[t * PER_THREAD + i], &job) != JOB_STORE_OK)
				ck_abort_msg("job %s (%s) not found", ids[t * PER_THREAD + i],
					     payload);
			if (strcmp(job.payload, payload) != 0)
				ck_abort_msg("job %s has payload %s, expected %s", job.id,
					     job.payload, payload);
			job_clear(&job);
		}
	}
	job_store_free(store);
}
END_TEST

struct racer {
	struct job_store *store;
	const char *id;
	int index;
	pthread_barrier_t *start;
	enum job_store_result run, finish;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	char node[16], result[16];

	snprintf(node, sizeof(node), "n-%d", r->index);
	snprintf(result, sizeof(result), "r-%d", r->index);
	pthread_barrier_wait(r->start);
	r->run = job_store_mark_running(r->store, r->id, node, NULL);
	pthread_barrier_wait(r->start);
	r->finish =
		job_store_finish(r->store, r->id, JOB_COMPLETED, result, NULL, ATTEMPT_COMPLETED);
	return NULL;
}

START_TEST(test_job_store_lets_exactly_one_of_racing_threads_run_and_finish_a_job)
{
	struct job_store *store = open_store(_i);
	struct racer racers[THREADS];
	pthread_t threads[THREADS];
	pthread_barrier_t start;
	char id[MESH_ID_SIZE], node[16], result[16];
	int ran = -1, finished = -1;
	struct job job;

	for (int round = 0; round < 20; round++) {
		create_job(store, "echo", "x", id);
		ck_assert_int_eq(pthread_barrier_init(&start, NULL, THREADS), 0);
		for (int t = 0; t < THREADS; t++) {
			racers[t] = (struct racer){
				.store = store, .id = id, .index = t, .start = &start};
			ck_assert_int_eq(pthread_create(&threads[t], NULL, racer_main, &racers[t]),
					 0);
		}
		ran = finished = -1;
		for (int t = 0; t < THREADS; t++) {
			pthread_join(threads[t], NULL);
			if (racers[t].run == JOB_STORE_OK) {
				ck_assert_msg(ran < 0, "threads %d and %d both marked it running",
					      ran, t);
				ran = t;
			} else {
				ck_assert_int_eq(racers[t].run, JOB_STORE_CONFLICT);
			}
			if (racers[t].finish == JOB_STORE_OK) {
				ck_assert_msg(finished < 0, "threads %d and %d both finished it",
					      finished, t);
				finished = t;
			} else {
				ck_assert_int_eq(racers[t].finish, JOB_STORE_CONFLICT);
			}
		}
		pthread_barrier_destroy(&start);
		ck_assert_int_ge(ran, 0);
		ck_assert_int_ge(finished, 0);
		ck_assert_int_eq(job_store_get(store, id, &job), JOB_STORE_OK);
		snprintf(node, sizeof(node), "n-%d", ran);
		snprintf(result, sizeof(result), "r-%d", finished);
		ck_assert_str_eq(job.node_id, node);
		ck_assert_str_eq(job.result, result);
		ck_assert_int_eq(job.status, JOB_COMPLETED);
		ck_assert_uint_eq(job.attempt_count, 1);
		job_clear(&job);
	}
	assert_counts(store, 0, 0, 20, 0);
	job_store_free(store);
}
END_TEST

/* ---- SQLite only: reopen, crash, group commit, migration, full, one owner, open errors ---- */

static void assert_same_job(const struct job *want, const struct job *got, size_t i)
{
	ck_assert_msg(strcmp(want->id, got->id) == 0, "item %zu: id %s, expected %s", i, got->id,
		      want->id);
	ck_assert_msg(
		same_text(want->type, got->type) && same_text(want->payload, got->payload) &&
			want->status == got->status && strcmp(want->node_id, got->node_id) == 0 &&
			want->created_at == got->created_at &&
			want->updated_at == got->updated_at &&
			same_text(want->result, got->result) &&
			same_text(want->error, got->error) && want->priority == got->priority &&
			want->timeout_ms == got->timeout_ms &&
			want->max_attempts == got->max_attempts &&
			want->retry_on_failure == got->retry_on_failure &&
			want->backoff_base_ms == got->backoff_base_ms &&
			want->backoff_cap_ms == got->backoff_cap_ms &&
			same_text(want->idempotency_key, got->idempotency_key) &&
			want->attempt == got->attempt &&
			want->next_attempt_at == got->next_attempt_at,
		"job %s (item %zu) changed across the reopen", want->id, i);
	ck_assert_uint_eq(want->attempt_count, got->attempt_count);
	for (size_t a = 0; a < want->attempt_count; a++) {
		const struct job_attempt *x = &want->attempts[a], *y = &got->attempts[a];
		ck_assert_msg(x->number == y->number && strcmp(x->node_id, y->node_id) == 0 &&
				      x->started_at == y->started_at &&
				      x->finished_at == y->finished_at && x->status == y->status &&
				      same_text(x->error, y->error) &&
				      same_text(x->result, y->result),
			      "attempt %zu of job %s changed across the reopen", a, want->id);
	}
}

START_TEST(test_sqlite_store_keeps_everything_across_a_reopen)
{
	char path[PATH_MAX + 64], ids[LIST_JOBS][MESH_ID_SIZE], late[MESH_ID_SIZE];
	struct job_filter queued = {.by_status = true, .status = JOB_QUEUED, .limit = 100};
	struct job_list before, after;
	struct job_store *store;
	struct job job;

	temp_path("reopen", path, sizeof(path));
	store = open_sqlite_at(path);
	make_list_fixture(store, ids);
	ck_assert_int_eq(job_store_list(store, &all_jobs, &before), JOB_STORE_OK);
	ck_assert_uint_eq(before.count, LIST_JOBS);
	job_store_free(store);

	/* Every job, field for field, in submission order, and the counts. */
	store = open_sqlite_at(path);
	ck_assert_int_eq(job_store_list(store, &all_jobs, &after), JOB_STORE_OK);
	ck_assert_uint_eq(after.count, LIST_JOBS);
	for (size_t i = 0; i < LIST_JOBS; i++) {
		ck_assert_str_eq(before.items[i].id, ids[i]);
		assert_same_job(&before.items[i], &after.items[i], i);
	}
	job_list_clear(&after);
	assert_counts(store, 3, 2, 2, 1);
	ck_assert_int_eq(job_store_list(store, &queued, &after), JOB_STORE_OK);
	ck_assert_uint_eq(after.count, 3);
	ck_assert_str_eq(after.items[0].id, ids[0]);
	ck_assert_str_eq(after.items[1].id, ids[5]);
	ck_assert_str_eq(after.items[2].id, ids[7]);
	job_list_clear(&after);

	/* The life cycle carries on where it was, refusals included. */
	run_on(store, ids[0], "n-3");
	complete(store, ids[1], "late");
	ck_assert_int_eq(job_store_requeue(store, ids[2]), JOB_STORE_OK);
	ck_assert_int_eq(job_store_finish(store, ids[3], JOB_FAILED, NULL, "again", ATTEMPT_FAILED),
			 JOB_STORE_CONFLICT);
	ck_assert_int_eq(job_store_mark_running(store, ids[6], "n-3", NULL), JOB_STORE_CONFLICT);
	/* A job submitted after the reopen comes after every older one. */
	create_job(store, "echo", "after the reopen", late);
	job_store_free(store);

	store = open_sqlite_at(path);
	assert_counts(store, 4, 1, 3, 1);
	ck_assert_int_eq(job_store_list(store, &all_jobs, &after), JOB_STORE_OK);
	ck_assert_uint_eq(after.count, LIST_JOBS + 1);
	for (size_t i = 0; i < LIST_JOBS; i++)
		ck_assert_str_eq(after.items[i].id, ids[i]);
	ck_assert_str_eq(after.items[LIST_JOBS].id, late);
	ck_assert_str_eq(after.items[LIST_JOBS].payload, "after the reopen");
	job_list_clear(&after);
	ck_assert_int_eq(job_store_get(store, ids[1], &job), JOB_STORE_OK);
	ck_assert_int_eq(job.status, JOB_COMPLETED);
	ck_assert_str_eq(job.node_id, "n-1");
	ck_assert_str_eq(job.result, "late");
	job_clear(&job);
	ck_assert_int_eq(job_store_get(store, ids[2], &job), JOB_STORE_OK);
	ck_assert_int_eq(job.status, JOB_QUEUED);
	ck_assert_str_eq(job.node_id, "");
	job_clear(&job);
	job_list_clear(&before);
	job_store_free(store);
}
END_TEST

START_TEST(test_sqlite_store_keeps_attempts_keys_and_nodes_across_a_reopen)
{
	char path[PATH_MAX + 64], plain[MESH_ID_SIZE], *types[] = {"echo", "upper"};
	struct job spec = spec_of("echo", "keyed"), keyed, before[2], after[2];
	struct node a = node_of("n-a", "alpha", 4, types, 2),
		    b = node_of("n-b", "beta", 1, NULL, 0);
	struct job_store *store;
	struct lost_attempt *lost;
	struct node *nodes;
	size_t count;
	bool existed;

	temp_path("reopen-more", path, sizeof(path));
	store = open_sqlite_at(path);
	spec.idempotency_key = "k-1";
	spec.priority = JOB_PRIORITY_LOW;
	spec.timeout_ms = 1234;
	spec.max_attempts = 4;
	spec.retry_on_failure = true;
	spec.backoff_base_ms = 10;
	spec.backoff_cap_ms = 80;
	ck_assert_int_eq(job_store_create(store, &spec, 1, &keyed, &existed), JOB_STORE_OK);
	create_job(store, "echo", "plain", plain);
	run_on(store, keyed.id, "n-a");
	ck_assert_int_eq(job_store_retry(store, keyed.id, ATTEMPT_LOST, "gone", 987654),
			 JOB_STORE_OK);
	run_on(store, keyed.id, "n-b");
	run_on(store, plain, "n-a");
	ck_assert_int_eq(job_store_cancel(store, plain, "stop", NULL, NULL), JOB_STORE_OK);
	ck_assert_int_eq(job_store_put_node(store, &a), JOB_STORE_OK);
	ck_assert_int_eq(job_store_put_node(store, &b), JOB_STORE_OK);
	b.draining = true;
	ck_assert_int_eq(job_store_put_node(store, &b), JOB_STORE_OK);
	get_job(store, keyed.id, &before[0]);
	get_job(store, plain, &before[1]);
	job_store_free(store);

	store = open_sqlite_at(path);
	get_job(store, keyed.id, &after[0]);
	get_job(store, plain, &after[1]);
	for (size_t i = 0; i < 2; i++) {
		assert_same_job(&before[i], &after[i], i);
		job_clear(&before[i]);
		job_clear(&after[i]);
	}
	assert_all_counts(store, 0, 1, 0, 0, 1);
	ck_assert_int_eq(job_store_list_lost_attempts(store, "n-a", &lost, &count), JOB_STORE_OK);
	ck_assert_uint_eq(count, 1);
	ck_assert_str_eq(lost[0].job_id, keyed.id);
	free(lost);
	ck_assert_int_eq(job_store_load_nodes(store, &nodes, &count), JOB_STORE_OK);
	ck_assert_uint_eq(count, 2);
	ck_assert_str_eq(nodes[0].name, "alpha");
	ck_assert_uint_eq(nodes[0].type_count, 2);
	ck_assert_str_eq(nodes[0].types[1], "upper");
	ck_assert_str_eq(nodes[1].name, "beta");
	ck_assert(nodes[1].draining);
	for (size_t i = 0; i < count; i++)
		node_clear(&nodes[i]);
	free(nodes);
	/* The key still answers the same job. */
	job_clear(&after[0]);
	ck_assert_int_eq(job_store_create(store, &spec, 1, &after[0], &existed), JOB_STORE_OK);
	ck_assert(existed);
	ck_assert_str_eq(after[0].id, keyed.id);
	job_clear(&after[0]);
	job_clear(&keyed);
	job_store_free(store);
}
END_TEST

#define CRASH_JOBS 50

START_TEST(test_sqlite_store_pages_the_same_jobs_in_the_same_order_after_a_reopen)
{
	enum { N = 7 };
	char path[PATH_MAX + 64], ids[N][MESH_ID_SIZE], got[N][MESH_ID_SIZE];
	struct job_store *store;

	temp_path("reopen-pages", path, sizeof(path));
	store = open_sqlite_at(path);
	for (int i = 0; i < N; i++)
		create_job(store, "echo", "p", ids[i]);
	run_on(store, ids[2], "n-1");
	run_on(store, ids[5], "n-1");
	job_store_free(store);

	store = open_sqlite_at(path);
	ck_assert_uint_eq(page_all(store, JOB_RUNNING, 1, got, N), 2);
	ck_assert_str_eq(got[0], ids[2]);
	ck_assert_str_eq(got[1], ids[5]);
	ck_assert_uint_eq(page_all(store, JOB_QUEUED, 2, got, N), N - 2);
	for (int i = 0, g = 0; i < N; i++)
		if (i != 2 && i != 5)
			ck_assert_str_eq(got[g++], ids[i]);
	job_store_free(store);
}
END_TEST

/* In a child: stores CRASH_JOBS jobs, reports each id once its changes returned, dies by SIGKILL. */
static void crash_child(const char *path, int report_fd)
{
	struct job_store *store = job_store_sqlite_open(path, NULL, 0);

	if (store == NULL)
		_exit(2);
	for (int i = 0; i < CRASH_JOBS; i++) {
		struct job spec = spec_of("echo", "acknowledged"), job;
		if (job_store_create(store, &spec, 1, &job, NULL) != JOB_STORE_OK)
			_exit(3);
		if (i % 4 != 0 && i % 4 != 2 &&
		    job_store_mark_running(store, job.id, "n-1", NULL) != JOB_STORE_OK)
			_exit(4);
		if (i % 4 == 3 && job_store_finish(store, job.id, JOB_COMPLETED, "done", NULL,
						   ATTEMPT_COMPLETED) != JOB_STORE_OK)
			_exit(5);
		if (write(report_fd, job.id, MESH_ID_SIZE) != MESH_ID_SIZE)
			_exit(6);
		job_clear(&job);
	}
	raise(SIGKILL); /* no job_store_free: like kill -9 the instant after the last answer */
	_exit(7);
}

/*
 * Runs child(path, report_fd) in a forked process that reports CRASH_JOBS ids
 * on report_fd and then kills itself with SIGKILL; fills ids with what it
 * reported and checks that it did die that way after reporting them all.
 */
static void run_crash_child(void (*child)(const char *path, int report_fd), const char *path,
			    char ids[CRASH_JOBS][MESH_ID_SIZE])
{
	int fds[2], status, got = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		child(path, fds[1]);
	}
	close(fds[1]);
	while (got < CRASH_JOBS && read(fds[0], ids[got], MESH_ID_SIZE) == MESH_ID_SIZE)
		got++;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "the child did not die by SIGKILL (status %d)", status);
	ck_assert_int_eq(got, CRASH_JOBS);
}

START_TEST(test_sqlite_store_keeps_what_it_acknowledged_through_a_kill_9)
{
	char path[PATH_MAX + 64], ids[CRASH_JOBS][MESH_ID_SIZE];
	struct job_store *store;

	temp_path("crash", path, sizeof(path));
	run_crash_child(crash_child, path, ids);

	/* The dead holder's lock is gone with it, and every acknowledged change is there. */
	store = open_sqlite_at(path);
	for (int i = 0; i < CRASH_JOBS; i++) {
		enum job_status want = i % 4 == 3 ? JOB_COMPLETED
				       : i % 2 == 1 ? JOB_RUNNING
						    : JOB_QUEUED;
		struct job job;
		ck_assert_int_eq(job_store_get(store, ids[i], &job), JOB_STORE_OK);
		ck_assert_msg(job.status == want, "job %d is %s, expected %s", i,
			      job_status_name(job.status), job_status_name(want));
		ck_assert(same_text(job.result, want == JOB_COMPLETED ? "done" : NULL));
		job_clear(&job);
	}
	assert_counts(store, 25, 13, 12, 0);
	job_store_free(store);
}
END_TEST

/* In a child: jobs stored RUNNING at once, each id reported once its call returned; then SIGKILL. */
static void create_running_crash_child(const char *path, int report_fd)
{
	struct job_store *store = job_store_sqlite_open(path, NULL, 0);

	if (store == NULL)
		_exit(2);
	for (int i = 0; i < CRASH_JOBS; i++) {
		struct job spec = spec_of("echo", "acknowledged"), job;
		int attempt;
		if (job_store_create_running(store, &spec, "n-2", &job, &attempt) != JOB_STORE_OK ||
		    attempt != 1)
			_exit(3);
		if (write(report_fd, job.id, MESH_ID_SIZE) != MESH_ID_SIZE)
			_exit(4);
		job_clear(&job);
	}
	raise(SIGKILL);
	_exit(5);
}

START_TEST(test_sqlite_store_keeps_jobs_stored_running_through_a_kill_9)
{
	char path[PATH_MAX + 64], ids[CRASH_JOBS][MESH_ID_SIZE];
	struct job_store *store;

	temp_path("crash-running", path, sizeof(path));
	run_crash_child(create_running_crash_child, path, ids);

	store = open_sqlite_at(path);
	for (int i = 0; i < CRASH_JOBS; i++) {
		struct job job;
		ck_assert_int_eq(job_store_get(store, ids[i], &job), JOB_STORE_OK);
		ck_assert_int_eq(job.status, JOB_RUNNING);
		ck_assert_str_eq(job.node_id, "n-2");
		ck_assert_uint_eq(job.attempt_count, 1);
		ck_assert_int_eq(job.attempts[0].status, ATTEMPT_RUNNING);
		job_clear(&job);
	}
	assert_counts(store, 0, CRASH_JOBS, 0, 0);
	job_store_free(store);
}
END_TEST

/* In a child: jobs started and finished in batches, each id reported once its batch returned; then SIGKILL. */
static void batch_crash_child(const char *path, int report_fd)
{
	struct job_store *store = job_store_sqlite_open(path, NULL, 0);
	struct job_change changes[CRASH_JOBS];
	struct job jobs[CRASH_JOBS];

	if (store == NULL)
		_exit(2);
	for (int i = 0; i < CRASH_JOBS; i++) {
		struct job spec = spec_of("echo", "acknowledged");
		if (job_store_create(store, &spec, 1, &jobs[i], NULL) != JOB_STORE_OK)
			_exit(3);
		changes[i] = start_change(jobs[i].id, "n-1");
	}
	job_store_apply_changes(store, changes, CRASH_JOBS);
	for (int i = 0; i < CRASH_JOBS; i++) {
		if (changes[i].outcome != JOB_STORE_OK)
			_exit(4);
		changes[i] = finish_change(jobs[i].id, JOB_COMPLETED, "done", NULL, ATTEMPT_COMPLETED);
	}
	/* The first half is finished; the second half stays RUNNING. */
	job_store_apply_changes(store, changes, CRASH_JOBS / 2);
	for (int i = 0; i < CRASH_JOBS; i++) {
		if (i < CRASH_JOBS / 2 && changes[i].outcome != JOB_STORE_OK)
			_exit(5);
		if (write(report_fd, jobs[i].id, MESH_ID_SIZE) != MESH_ID_SIZE)
			_exit(6);
	}
	raise(SIGKILL);
	_exit(7);
}

START_TEST(test_sqlite_store_keeps_batches_of_changes_through_a_kill_9)
{
	char path[PATH_MAX + 64], ids[CRASH_JOBS][MESH_ID_SIZE];
	struct job_store *store;

	temp_path("batch-crash", path, sizeof(path));
	run_crash_child(batch_crash_child, path, ids);

	store = open_sqlite_at(path);
	for (int i = 0; i < CRASH_JOBS; i++) {
		enum job_status want = i < CRASH_JOBS / 2 ? JOB_COMPLETED : JOB_RUNNING;
		struct job job;
		ck_assert_int_eq(job_store_get(store, ids[i], &job), JOB_STORE_OK);
		ck_assert_msg(job.status == want, "job %d is %s, expected %s", i,
			      job_status_name(job.status), job_status_name(want));
		ck_assert_uint_eq(job.attempt_count, 1);
		ck_assert_str_eq(job.node_id, "n-1");
		job_clear(&job);
	}
	assert_counts(store, 0, CRASH_JOBS - CRASH_JOBS / 2, CRASH_JOBS / 2, 0);
	job_store_free(store);
}
END_TEST

/*
 * Group commit. Each writer thread runs a mix of ops, some of which fail on
 * purpose (a CONFLICT on a shared key, a NOT_FOUND, a finish twice), so that
 * shared commits hold failing ops next to good ones; it records what was
 * acknowledged, and after a reopen every acknowledged change must be there.
 */
#define GROUP_WRITERS 8
#define GROUP_ROUNDS 40

struct group_writer {
	struct job_store *store;
	int index;
	char made[GROUP_ROUNDS][2][MESH_ID_SIZE]; /* a batch of two per round */
	int wrong;                                /* ops that answered unexpectedly */
	int shared_conflicts;
	char first_failure[128];
};

static void group_expect(struct group_writer *w, bool ok, const char *what, int round)
{
	if (ok)
		return;
	if (w->wrong++ == 0)
		snprintf(w->first_failure, sizeof(w->first_failure), "writer %d round %d: %s",
			 w->index, round, what);
}

static void *group_writer_main(void *arg)
{
	struct group_writer *w = arg;
	char payloads[2][32], own[16];

	snprintf(own, sizeof(own), "w%d", w->index);
	for (int round = 0; round < GROUP_ROUNDS; round++) {
		struct job specs[2], out[2], shared;
		bool existed[2], shared_existed;
		enum job_store_result rc;

		for (int k = 0; k < 2; k++) {
			snprintf(payloads[k], sizeof(payloads[k]), "w%d-r%d-%d", w->index, round,
				 k);
			specs[k] = spec_of("echo", payloads[k]);
		}
		rc = job_store_create(w->store, specs, 2, out, existed);
		group_expect(w, rc == JOB_STORE_OK, "batch create", round);
		for (int k = 0; k < 2; k++) {
			strcpy(w->made[round][k], out[k].id);
			job_clear(&out[k]);
		}
		group_expect(w, job_store_mark_running(w->store, w->made[round][0], own, NULL) ==
					JOB_STORE_OK,
			     "mark running", round);
		group_expect(w,
			     job_store_finish(w->store, w->made[round][0], JOB_COMPLETED, own, NULL,
					      ATTEMPT_COMPLETED) == JOB_STORE_OK,
			     "finish", round);
		group_expect(w,
			     job_store_finish(w->store, w->made[round][0], JOB_COMPLETED, "twice",
					      NULL, ATTEMPT_COMPLETED) == JOB_STORE_CONFLICT,
			     "finish twice", round);
		group_expect(w,
			     job_store_requeue(w->store, "j-000000000000") == JOB_STORE_NOT_FOUND,
			     "requeue of nothing", round);
		/* One writer's payload wins the shared key; the others' are refused. */
		rc = create_keyed(w->store, "echo", own, "shared", &shared, &shared_existed);
		group_expect(w, rc == JOB_STORE_OK || (rc == JOB_STORE_CONFLICT && shared_existed),
			     "shared key", round);
		w->shared_conflicts += rc == JOB_STORE_CONFLICT;
		job_clear(&shared);
	}
	return NULL;
}

START_TEST(test_sqlite_store_group_commit_keeps_every_acknowledged_change_after_a_reopen)
{
	static struct group_writer writers[GROUP_WRITERS];
	char path[PATH_MAX + 64];
	pthread_t threads[GROUP_WRITERS];
	struct job_store *store;
	int conflicts = 0;

	temp_path("group", path, sizeof(path));
	store = open_sqlite_at(path);
	for (int t = 0; t < GROUP_WRITERS; t++) {
		memset(&writers[t], 0, sizeof(writers[t]));
		writers[t].store = store;
		writers[t].index = t;
		ck_assert_int_eq(pthread_create(&threads[t], NULL, group_writer_main, &writers[t]),
				 0);
	}
	for (int t = 0; t < GROUP_WRITERS; t++) {
		pthread_join(threads[t], NULL);
		ck_assert_msg(writers[t].wrong == 0, "%d wrong answers, first: %s",
			      writers[t].wrong, writers[t].first_failure);
		conflicts += writers[t].shared_conflicts;
	}
	/* Every round of every writer but the shared key's owner was one refusal. */
	ck_assert_int_ge(conflicts, (GROUP_WRITERS - 1) * GROUP_ROUNDS);
	job_store_free(store);

	store = open_sqlite_at(path);
	for (int t = 0; t < GROUP_WRITERS; t++) {
		char own[16];
		snprintf(own, sizeof(own), "w%d", t);
		for (int round = 0; round < GROUP_ROUNDS; round++) {
			struct job job;
			for (int k = 0; k < 2; k++) {
				if (job_store_get(store, writers[t].made[round][k], &job) !=
				    JOB_STORE_OK)
					ck_abort_msg("writer %d round %d job %d is missing", t,
						     round, k);
				if (job.status != (k == 0 ? JOB_COMPLETED : JOB_QUEUED) ||
				    (k == 0 &&
				     (strcmp(job.result, own) != 0 ||
				      strcmp(job.node_id, own) != 0 || job.attempt_count != 1)))
					ck_abort_msg("writer %d round %d job %d is %s", t, round, k,
						     job_status_name(job.status));
				job_clear(&job);
			}
		}
	}
	/* Exactly the acknowledged jobs, plus the one shared-key job. */
	assert_counts(store, GROUP_WRITERS * GROUP_ROUNDS + 1, 0, GROUP_WRITERS * GROUP_ROUNDS, 0);
	assert_counts_match_the_list(store);
	job_store_free(store);
}
END_TEST

#define KILL_WRITERS 6
#define KILL_AFTER 200

/* A writer in the child: creates jobs until killed, reporting each id once acknowledged. */
struct kill_writer {
	struct job_store *store;
	int report_fd;
};

static void *kill_writer_main(void *arg)
{
	struct kill_writer *w = arg;

	for (int i = 0; i < 5000; i++) {
		struct job spec = spec_of("echo", "acknowledged"), job;
		if (job_store_create(w->store, &spec, 1, &job, NULL) != JOB_STORE_OK)
			_exit(3);
		if (write(w->report_fd, job.id, MESH_ID_SIZE) != MESH_ID_SIZE)
			_exit(6);
		job_clear(&job);
	}
	return NULL;
}

START_TEST(test_sqlite_store_keeps_what_concurrent_writers_were_told_through_a_kill_9)
{
	enum { MAX_IDS = KILL_WRITERS * 5000 };
	char path[PATH_MAX + 64];
	char(*ids)[MESH_ID_SIZE] = calloc(MAX_IDS, MESH_ID_SIZE);
	struct job_store *store;
	int fds[2], status, got = 0;
	pid_t pid;

	ck_assert_ptr_nonnull(ids);
	temp_path("crash-group", path, sizeof(path));
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct kill_writer writers[KILL_WRITERS];
		pthread_t threads[KILL_WRITERS];
		close(fds[0]);
		writers[0].store = job_store_sqlite_open(path, NULL, 0);
		if (writers[0].store == NULL)
			_exit(2);
		for (int t = 0; t < KILL_WRITERS; t++) {
			writers[t] = (struct kill_writer){writers[0].store, fds[1]};
			if (pthread_create(&threads[t], NULL, kill_writer_main, &writers[t]) != 0)
				_exit(8);
		}
		for (int t = 0; t < KILL_WRITERS; t++)
			pthread_join(threads[t], NULL);
		_exit(0);
	}
	close(fds[1]);
	while (got < KILL_AFTER && read(fds[0], ids[got], MESH_ID_SIZE) == MESH_ID_SIZE)
		got++;
	/* Mid-stream: writers are between a commit and their report, or inside a commit. */
	kill(pid, SIGKILL);
	while (got < MAX_IDS && read(fds[0], ids[got], MESH_ID_SIZE) == MESH_ID_SIZE)
		got++;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_ge(got, KILL_AFTER);

	store = open_sqlite_at(path);
	for (int i = 0; i < got; i++) {
		struct job job;
		if (job_store_get(store, ids[i], &job) != JOB_STORE_OK)
			ck_abort_msg("acknowledged job %d (%s) is missing", i, ids[i]);
		job_clear(&job);
	}
	assert_counts_match_the_list(store);
	job_store_free(store);
	free(ids);
}
END_TEST

/* Runs sql (any number of statements) on the file at path with plain SQLite; 0 or -1. */
static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ==
		    SQLITE_OK &&
	    sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		rc = 0;
	sqlite3_close(db);
	return rc;
}

/* Runs sql on the file at path with plain SQLite; the first column of its row, or -1. */
static long long raw_query(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long value = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ==
		    SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW)
			value = sqlite3_column_type(st, 0) == SQLITE_TEXT
					? (long long)sqlite3_column_bytes(st, 0)
					: sqlite3_column_int64(st, 0);
		else if (step == SQLITE_DONE)
			value = 0;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return value;
}

static void raw_text(const char *path, const char *sql, char *out, size_t out_size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	snprintf(out, out_size, "(none)");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, out_size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* The database a v1 coordinator left: its schema word for word, four jobs, WAL. */
static const char v1_database[] =
	"PRAGMA journal_mode = WAL;"
	"CREATE TABLE jobs ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" id TEXT NOT NULL UNIQUE,"
	" type TEXT NOT NULL,"
	" payload TEXT NOT NULL,"
	" status TEXT NOT NULL,"
	" node_id TEXT NOT NULL DEFAULT '',"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" result TEXT,"
	" error TEXT);"
	"CREATE INDEX jobs_by_status ON jobs(status);"
	"CREATE INDEX jobs_by_node ON jobs(node_id);"
	"CREATE INDEX jobs_by_type ON jobs(type);"
	"PRAGMA user_version = 1; PRAGMA application_id = 1296388936;"
	"INSERT INTO jobs (id, type, payload, status, node_id, created_at, updated_at, result, "
	"error)"
	" VALUES ('j-00000000000a', 'echo', 'queued', 'QUEUED', '', 1000, 1000, NULL, NULL),"
	" ('j-00000000000b', 'sleep', '5', 'RUNNING', 'n-1', 1100, 1150, NULL, NULL),"
	" ('j-00000000000c', 'echo', 'done', 'COMPLETED', 'n-1', 1200, 1260, 'out', NULL),"
	" ('j-00000000000d', 'upper', 'bad', 'FAILED', 'n-2', 1300, 1370, NULL, 'exit 1');";

START_TEST(test_sqlite_store_makes_a_new_database_with_1024_byte_pages)
{
	char path[PATH_MAX + 64], id[MESH_ID_SIZE];
	struct job_store *store;
	struct job job;

	temp_path("pages", path, sizeof(path));
	store = open_sqlite_at(path);
	create_job(store, "echo", "small pages", id);
	/* A commit writes whole pages: small ones write less per job. */
	ck_assert_int_eq(raw_query(path, "PRAGMA page_size"), 1024);
	job_store_free(store);
	store = open_sqlite_at(path);
	get_job(store, id, &job);
	ck_assert_str_eq(job.payload, "small pages");
	job_clear(&job);
	job_store_free(store);
}
END_TEST

START_TEST(test_sqlite_store_migrates_a_v1_database_keeping_every_job)
{
	static const char *const ids[] = {"j-00000000000a", "j-00000000000b", "j-00000000000c",
					  "j-00000000000d"};
	static const enum job_status statuses[] = {JOB_QUEUED, JOB_RUNNING, JOB_COMPLETED,
						   JOB_FAILED};
	char path[PATH_MAX + 64];
	struct job_store *store;
	struct job_list list;
	struct job job;
	int attempt;

	temp_path("v1", path, sizeof(path));
	ck_assert_int_eq(raw_exec(path, v1_database), 0);
	store = open_sqlite_at(path);
	ck_assert_int_eq(raw_query(path, "PRAGMA user_version"), 2);
	/* It keeps the page size it was made with (SQLite's default then). */
	ck_assert_int_eq(raw_query(path, "PRAGMA page_size"), 4096);
	assert_counts(store, 1, 1, 1, 1);
	ck_assert_int_eq(job_store_list(store, &all_jobs, &list), JOB_STORE_OK);
	ck_assert_uint_eq(list.count, 4);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_str_eq(list.items[i].id, ids[i]); /* submission order kept */
		get_job(store, ids[i], &job);
		ck_assert_int_eq(job.status, statuses[i]);
		ck_assert_int_eq(job.created_at, 1000 + 100 * (int64_t)i);
		/* The defaults of a plain job. */
		ck_assert_int_eq(job.priority, JOB_PRIORITY_NORMAL);
		ck_assert_int_eq(job.max_attempts, 1);
		ck_assert_int_eq(job.timeout_ms, 0);
		ck_assert(!job.retry_on_failure);
		ck_assert_int_eq(job.backoff_base_ms, 0);
		ck_assert_int_eq(job.backoff_cap_ms, 0);
		ck_assert_ptr_null(job.idempotency_key);
		ck_assert_int_eq(job.next_attempt_at, 0);
		/* A job that ran has attempt 1, and its attempt. */
		ck_assert_int_eq(job.attempt, i == 0 ? 0 : 1);
		ck_assert_uint_eq(job.attempt_count, i == 0 ? 0 : 1);
		if (i > 0) {
			const struct job_attempt *a = &job.attempts[0];
			ck_assert_int_eq(a->number, 1);
			ck_assert_str_eq(a->node_id, job.node_id);
			ck_assert_int_eq(a->status, i == 1   ? ATTEMPT_RUNNING
						    : i == 2 ? ATTEMPT_COMPLETED
							     : ATTEMPT_FAILED);
			ck_assert_int_eq(a->started_at, i == 1 ? job.updated_at : 0);
			ck_assert_int_eq(a->finished_at, i == 1 ? 0 : job.updated_at);
			ck_assert(same_text(a->error, i == 3 ? "exit 1" : NULL));
		}
		job_clear(&job);
	}
	job_list_clear(&list);

	/* The life cycle carries on: the v1 RUNNING job finishes its attempt 1. */
	ck_assert_int_eq(job_store_finish(store, ids[1], JOB_COMPLETED, "slept", NULL,
					  ATTEMPT_COMPLETED),
			 JOB_STORE_OK);
	get_job(store, ids[1], &job);
	ck_assert_int_eq(job.attempts[0].status, ATTEMPT_COMPLETED);
	job_clear(&job);
	ck_assert_int_eq(job_store_mark_running(store, ids[0], "n-3", &attempt), JOB_STORE_OK);
	ck_assert_int_eq(attempt, 1);
	job_store_free(store);

	/* Opening again migrates nothing more. */
	store = open_sqlite_at(path);
	assert_counts(store, 0, 1, 2, 1);
	job_store_free(store);
	ck_assert_int_eq(raw_query(path, "PRAGMA user_version"), 2);
}
END_TEST

START_TEST(test_sqlite_store_answers_full_changes_nothing_and_stays_usable)
{
	enum { BATCH = 10 };
	char path[PATH_MAX + 64], big[8192], id[MESH_ID_SIZE];
	struct job specs[BATCH], out[BATCH];
	size_t before[JOB_STATUS_COUNT], after[JOB_STATUS_COUNT];
	struct job_store *store, *memory;
	struct job_list list;
	enum job_store_result rc = JOB_STORE_OK;
	int pages, rounds = 0;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	temp_path("full", path, sizeof(path));
	store = open_sqlite_at(path);
	create_job(store, "echo", "small", id);
	memory = job_store_memory_new();
	ck_assert_int_eq(job_store_sqlite_limit_pages(memory, 1), -1); /* not an SQLite store */
	job_store_free(memory);
	pages = job_store_sqlite_limit_pages(store, 1); /* cannot shrink: says the size now */
	ck_assert_int_gt(pages, 0);
	ck_assert_int_eq(job_store_sqlite_limit_pages(store, pages + 100), pages + 100);

	for (int k = 0; k < BATCH; k++)
		specs[k] = spec_of("big", big);
	while (rounds++ < 100) {
		job_store_count_by_status(store, before);
		rc = job_store_create(store, specs, BATCH, out, NULL);
		if (rc != JOB_STORE_OK)
			break;
		for (int k = 0; k < BATCH; k++)
			job_clear(&out[k]);
	}
	ck_assert_int_eq(rc, JOB_STORE_FULL);
	ck_assert_int_gt(rounds, 1); /* some batches fitted first */
	for (int k = 0; k < BATCH; k++)
		ck_assert(is_zeroed(&out[k]));
	/* Nothing of the refused batch is stored. */
	job_store_count_by_status(store, after);
	ck_assert_int_eq(memcmp(before, after, sizeof(before)), 0);
	ck_assert_int_eq(job_store_list(store, &all_jobs, &list), JOB_STORE_OK);
	ck_assert_uint_eq(list.count, after[JOB_QUEUED]);
	ck_assert_uint_eq((list.count - 1) % BATCH, 0);
	job_list_clear(&list);
	/* Jobs stored RUNNING at once, until there is no room: FULL (the insert or the attempt), nothing stored. */
	for (int k = 0; k < 1000; k++) {
		struct job small = spec_of("small", "y"), started;
		int attempt;
		job_store_count_by_status(store, before);
		rc = job_store_create_running(store, &small, "n-1", &started, &attempt);
		if (rc != JOB_STORE_OK)
			break;
		job_clear(&started);
	}
	ck_assert_int_eq(rc, JOB_STORE_FULL);
	job_store_count_by_status(store, after);
	ck_assert_int_eq(memcmp(before, after, sizeof(before)), 0);
	/* Reads and changes that need no room still work. */
	run_on(store, id, "n-1");

	/* With room again, the same batch goes in. */
	ck_assert_int_eq(job_store_sqlite_limit_pages(store, 1000000), 1000000);
	ck_assert_int_eq(job_store_create(store, specs, BATCH, out, NULL), JOB_STORE_OK);
	for (int k = 0; k < BATCH; k++)
		job_clear(&out[k]);
	assert_counts(store, after[JOB_QUEUED] - 1 + BATCH, after[JOB_RUNNING] + 1, 0, 0);
	job_store_free(store);

	store = open_sqlite_at(path);
	assert_counts(store, after[JOB_QUEUED] - 1 + BATCH, after[JOB_RUNNING] + 1, 0, 0);
	assert_counts_match_the_list(store);
	job_store_free(store);
}
END_TEST

/*
 * FULL with writers sharing commits: a batch that runs out of room makes
 * SQLite roll back the shared transaction, and the store reruns each op
 * alone. Each create is answered OK (all of it stored) or FULL (none of it).
 */
#define FULL_WRITERS 4
#define FULL_ROUNDS 12

struct full_writer {
	struct job_store *store;
	int index;
	enum job_store_result results[FULL_ROUNDS];
};

static void big_payload(char *out, size_t size, int writer, int round, int k)
{
	int n = snprintf(out, size, "w%d-r%d-k%d|", writer, round, k);
	memset(out + n, 'y', size - (size_t)n - 1);
	out[size - 1] = '\0';
}

static void *full_writer_main(void *arg)
{
	struct full_writer *w = arg;
	static const size_t size = 6000;
	char *payloads[2] = {malloc(size), malloc(size)};

	for (int round = 0; round < FULL_ROUNDS; round++) {
		struct job specs[2], out[2];
		w->results[round] = JOB_STORE_ERROR;
		if (payloads[0] == NULL || payloads[1] == NULL)
			break;
		for (int k = 0; k < 2; k++) {
			big_payload(payloads[k], size, w->index, round, k);
			specs[k] = spec_of("big", payloads[k]);
		}
		w->results[round] = job_store_create(w->store, specs, 2, out, NULL);
		for (int k = 0; k < 2; k++)
			job_clear(&out[k]);
	}
	free(payloads[0]);
	free(payloads[1]);
	return NULL;
}

START_TEST(test_sqlite_store_answers_full_per_op_when_writers_share_commits)
{
	static struct full_writer writers[FULL_WRITERS];
	pthread_t threads[FULL_WRITERS];
	bool stored[FULL_WRITERS][FULL_ROUNDS][2];
	char path[PATH_MAX + 64];
	struct job_store *store;
	struct job_list list;
	int ok = 0, full = 0, pages;

	temp_path("full-group", path, sizeof(path));
	store = open_sqlite_at(path);
	pages = job_store_sqlite_limit_pages(store, 1);
	ck_assert_int_eq(job_store_sqlite_limit_pages(store, pages + 60), pages + 60);
	for (int t = 0; t < FULL_WRITERS; t++) {
		writers[t] = (struct full_writer){.store = store, .index = t};
		ck_assert_int_eq(pthread_create(&threads[t], NULL, full_writer_main, &writers[t]),
				 0);
	}
	for (int t = 0; t < FULL_WRITERS; t++)
		pthread_join(threads[t], NULL);
	for (int t = 0; t < FULL_WRITERS; t++) {
		for (int round = 0; round < FULL_ROUNDS; round++) {
			enum job_store_result rc = writers[t].results[round];
			ck_assert_msg(rc == JOB_STORE_OK || rc == JOB_STORE_FULL,
				      "writer %d round %d: result %d", t, round, (int)rc);
			ok += rc == JOB_STORE_OK;
			full += rc == JOB_STORE_FULL;
		}
	}
	ck_assert_int_gt(ok, 0);
	ck_assert_int_gt(full, 0);
	job_store_free(store);

	/* After a reopen: both jobs of every OK batch, nothing of a FULL one. */
	memset(stored, 0, sizeof(stored));
	store = open_sqlite_at(path);
	ck_assert_int_eq(job_store_list(store, &all_jobs, &list), JOB_STORE_OK);
	ck_assert_uint_eq(list.count, (size_t)ok * 2);
	for (size_t i = 0; i < list.count; i++) {
		int t, round, k;
		ck_assert_int_eq(sscanf(list.items[i].payload, "w%d-r%d-k%d|", &t, &round, &k), 3);
		ck_assert(t >= 0 && t < FULL_WRITERS && round >= 0 && round < FULL_ROUNDS &&
			  k >= 0 && k < 2);
		stored[t][round][k] = true;
	}
	job_list_clear(&list);
	for (int t = 0; t < FULL_WRITERS; t++)
		for (int round = 0; round < FULL_ROUNDS; round++)
			for (int k = 0; k < 2; k++)
				ck_assert_msg(stored[t][round][k] ==
						      (writers[t].results[round] == JOB_STORE_OK),
					      "writer %d round %d job %d", t, round, k);
	assert_counts(store, (size_t)ok * 2, 0, 0, 0);
	job_store_free(store);
}
END_TEST

/*
 * Reads use their own connection: they go on while another connection
 * (an operator's sqlite3 shell, say) holds the write lock. Writes meanwhile
 * fail with ERROR after the busy timeout, change nothing, and work again
 * once the lock is gone.
 */
START_TEST(test_sqlite_store_reads_while_the_write_lock_is_held_and_writes_fail_cleanly)
{
	char path[PATH_MAX + 64], id[MESH_ID_SIZE], other[MESH_ID_SIZE];
	struct job_store *store;
	struct job_list list;
	sqlite3 *holder = NULL;
	struct job job;
	int64_t start;

	temp_path("held", path, sizeof(path));
	store = open_sqlite_at(path);
	create_job(store, "echo", "x", id);
	ck_assert_int_eq(sqlite3_open_v2(path, &holder, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	start = clock_monotonic_ms();
	get_job(store, id, &job);
	job_clear(&job);
	ck_assert_int_eq(job_store_list(store, &all_jobs, &list), JOB_STORE_OK);
	ck_assert_uint_eq(list.count, 1);
	job_list_clear(&list);
	assert_counts(store, 1, 0, 0, 0);
	ck_assert_int_lt(clock_monotonic_ms() - start, 200);

	ck_assert_int_eq(job_store_mark_running(store, id, "n-1", NULL), JOB_STORE_ERROR);
	ck_assert_int_eq(create_one(store, "echo", "y", &job), JOB_STORE_ERROR);
	ck_assert(is_zeroed(&job));
	assert_counts(store, 1, 0, 0, 0);

	ck_assert_int_eq(sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(holder);
	run_on(store, id, "n-1");
	create_job(store, "echo", "y", other);
	assert_counts(store, 1, 1, 0, 0);
	assert_counts_match_the_list(store);
	job_store_free(store);
}
END_TEST

START_TEST(test_sqlite_store_refuses_a_second_coordinator_on_the_same_file)
{
	char path[PATH_MAX + 64], err[512], pid_text[32], id[MESH_ID_SIZE];
	struct job_store *first, *second;
	int status;
	pid_t pid;

	temp_path("claimed", path, sizeof(path));
	first = open_sqlite_at(path);
	create_job(first, "echo", "x", id);

	/* Another opener in this process: flock is per open file, so it is refused too. */
	second = job_store_sqlite_open(path, err, sizeof(err));
	ck_assert_ptr_null(second);
	ck_assert_msg(strstr(err, "is in use by another coordinator") != NULL, "err: %s", err);
	ck_assert_msg(strstr(err, path) != NULL, "err does not name the file: %s", err);
	snprintf(pid_text, sizeof(pid_text), "pid %ld", (long)getpid());
	ck_assert_msg(strstr(err, pid_text) != NULL, "err does not name %s: %s", pid_text, err);

	/* Another process is refused, and at once (no waiting on the lock). */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char child_err[512];
		int64_t start = clock_monotonic_ms();
		struct job_store *third = job_store_sqlite_open(path, child_err, sizeof(child_err));
		_exit(third == NULL && strstr(child_err, "in use by another coordinator") != NULL &&
				      clock_monotonic_ms() - start < 1000
			      ? 0
			      : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "a second process was not refused at once (status %d)", status);

	/* The refusals changed nothing for the holder. */
	create_job(first, "echo", "y", id);
	assert_counts(first, 2, 0, 0, 0);
	job_store_free(first);

	/* Closed, the file is free for the next coordinator. */
	second = open_sqlite_at(path);
	assert_counts(second, 2, 0, 0, 0);
	job_store_free(second);
}
END_TEST

START_TEST(test_sqlite_store_fails_cleanly_where_it_cannot_write)
{
	char dir_path[PATH_MAX + 64], missing[PATH_MAX + 64], err[512], small[8];
	const char *paths[] = {"/proc/mesh-no-such-dir/jobs.db", "/proc/jobs.db", missing,
			       dir_path};

	snprintf(missing, sizeof(missing), "%s/no/such/dir/jobs.db", temp_dir);
	temp_path("a-directory", dir_path, sizeof(dir_path));
	ck_assert_int_eq(mkdir(dir_path, 0700), 0);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		strcpy(err, "untouched");
		ck_assert_msg(job_store_sqlite_open(paths[i], err, sizeof(err)) == NULL,
			      "%s opened", paths[i]);
		ck_assert_msg(strstr(err, paths[i]) != NULL, "err does not name %s: %s", paths[i],
			      err);
		/* No error output at all, and a short buffer, are fine too. */
		ck_assert_ptr_null(job_store_sqlite_open(paths[i], NULL, 0));
		memset(small, 'x', sizeof(small));
		ck_assert_ptr_null(job_store_sqlite_open(paths[i], small, sizeof(small)));
		ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	}
	ck_assert_ptr_null(job_store_sqlite_open("", err, sizeof(err)));
	ck_assert_str_ne(err, "");
	ck_assert_ptr_null(job_store_sqlite_open(NULL, err, sizeof(err)));
	ck_assert_ptr_null(job_store_sqlite_open(":memory:", err, sizeof(err)));
	ck_assert_str_ne(err, "");
}
END_TEST

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_sqlite_store_refuses_a_file_that_is_not_a_database)
{
	static const char text[] = "These are not the jobs you are looking for.\n"
				   "They are not even a database, and must stay as they are.\n";
	char path[PATH_MAX + 64], err[512], back[sizeof(text) + 16];
	struct job_store *store;
	FILE *f;
	size_t n;

	temp_path("text", path, sizeof(path));
	write_file(path, text);
	ck_assert_ptr_null(job_store_sqlite_open(path, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a database") != NULL && strstr(err, path) != NULL, "err: %s",
		      err);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(back, 1, sizeof(back), f);
	fclose(f);
	ck_assert_uint_eq(n, sizeof(text) - 1);
	ck_assert_int_eq(memcmp(back, text, n), 0);

	/* The failed open let go of the lock: an empty file there now opens as a new store. */
	write_file(path, "");
	store = open_sqlite_at(path);
	assert_counts(store, 0, 0, 0, 0);
	job_store_free(store);
}
END_TEST

START_TEST(test_sqlite_store_refuses_a_newer_schema_and_other_applications_files)
{
	char newer[PATH_MAX + 64], foreign[PATH_MAX + 64], err[512];

	temp_path("newer", newer, sizeof(newer));
	ck_assert_int_eq(raw_query(newer, "PRAGMA user_version = 999"), 0);
	ck_assert_ptr_null(job_store_sqlite_open(newer, err, sizeof(err)));
	ck_assert_msg(strstr(err, "schema version 999") != NULL && strstr(err, "newer") != NULL,
		      "err: %s", err);
	ck_assert_int_eq(raw_query(newer, "PRAGMA user_version"), 999);

	temp_path("foreign", foreign, sizeof(foreign));
	ck_assert_int_eq(raw_query(foreign, "CREATE TABLE photos (name TEXT)"), 0);
	ck_assert_ptr_null(job_store_sqlite_open(foreign, err, sizeof(err)));
	ck_assert_msg(strstr(err, "another application") != NULL, "err: %s", err);
	ck_assert_int_eq(
		raw_query(foreign, "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'jobs'"), 0);
}
END_TEST

START_TEST(test_sqlite_store_writes_a_wal_database_at_the_current_schema_version)
{
	char path[PATH_MAX + 64], id[MESH_ID_SIZE], mode[16];
	struct job_store *store;
	int fd;

	/* An existing empty file is a database at version 0: the schema is made in it. */
	temp_path("wal", path, sizeof(path));
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	store = open_sqlite_at(path);
	create_job(store, "echo", "x", id);
	/* While the store is open, an operator can still read the file. */
	ck_assert_int_eq(raw_query(path, "SELECT COUNT(*) FROM jobs"), 1);
	job_store_free(store);
	raw_text(path, "PRAGMA journal_mode", mode, sizeof(mode));
	ck_assert_str_eq(mode, "wal");
	ck_assert_int_eq(raw_query(path, "PRAGMA user_version"), 2);
	ck_assert_int_eq(raw_query(path, "SELECT COUNT(*) FROM sqlite_schema WHERE name IN"
					 " ('attempts', 'nodes', 'jobs_by_idempotency_key',"
					 " 'jobs_finished_by_age', 'attempts_by_node_status')"),
			 5);
	/* Opening at the current version changes nothing. */
	store = open_sqlite_at(path);
	assert_counts(store, 1, 0, 0, 0);
	job_store_free(store);
	ck_assert_int_eq(raw_query(path, "PRAGMA user_version"), 2);
}
END_TEST

/* A test case whose tests get a fresh temporary directory (see the top of the file). */
static TCase *store_tcase(const char *name, double timeout)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout);
	tcase_add_unchecked_fixture(tc, make_temp_dir, remove_temp_dir);
	tcase_add_checked_fixture(tc, NULL, empty_temp_dir);
	return tc;
}

static Suite *job_store_suite(void)
{
	Suite *s = suite_create("job_store");
	TCase *tc;

	tc = store_tcase("create_and_get", 10);
	tcase_add_loop_test(tc, test_job_store_creates_a_queued_job_with_id_and_timestamps, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_keeps_every_field_of_the_spec, 0, FACTORY_COUNT);
	tcase_add_loop_test(
		tc, test_job_store_keeps_zero_timeout_and_backoff_and_each_priority_as_given, 0,
		FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_gives_each_job_its_own_id, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_keeps_copies_of_inputs_and_hands_out_copies, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_keeps_an_empty_payload_as_empty, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_answers_not_found_for_an_unknown_id, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_changes_answer_not_found_for_an_unknown_id, 0,
			    FACTORY_COUNT);
	tcase_add_test(tc, test_job_store_free_of_null_is_a_no_op);
	suite_add_tcase(s, tc);

	tc = store_tcase("batches_and_keys", 20);
	tcase_add_loop_test(tc, test_job_store_creates_a_batch_in_order_with_one_timestamp, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_refuses_a_batch_outside_its_range_and_a_bad_spec, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_answers_the_same_job_for_a_key_with_the_same_content,
			    0, FACTORY_COUNT);
	tcase_add_loop_test(
		tc, test_job_store_refuses_a_key_with_another_type_or_payload_and_stores_nothing, 0,
		FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_applies_keys_within_one_batch, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_makes_one_job_for_a_key_racing_threads_submit, 0,
			    FACTORY_COUNT);
	suite_add_tcase(s, tc);

	tc = store_tcase("life_cycle", 10);
	tcase_add_loop_test(tc, test_job_store_follows_the_life_cycle_table, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_moves_updated_at_on_each_change_but_not_created_at,
			    0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_keeps_a_long_result_whole, 0, FACTORY_COUNT);
	suite_add_tcase(s, tc);

	tc = store_tcase("attempts", 10);
	tcase_add_loop_test(tc, test_job_store_creates_a_job_already_running_on_a_node, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_numbers_attempts_across_retry_requeue_and_finish, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_a_finish_in_a_batch_hands_back_the_finished_job, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_applies_a_batch_of_changes_each_with_its_own_outcome,
			    0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_applies_batches_while_other_threads_create, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(
		tc, test_job_store_cancels_queued_and_running_jobs_and_refuses_terminal_ones, 0,
		FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_keeps_a_lost_attempts_late_result_apart_from_the_job,
			    0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_lists_lost_attempts_oldest_first, 0, FACTORY_COUNT);
	suite_add_tcase(s, tc);

	tc = store_tcase("prune_and_nodes", 10);
	tcase_add_loop_test(tc, test_job_store_prunes_only_old_terminal_jobs_with_their_attempts, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_prunes_the_oldest_first_at_most_limit_at_a_time, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_frees_a_pruned_jobs_key_and_keeps_paging, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_keeps_nodes_in_registration_order, 0, FACTORY_COUNT);
	suite_add_tcase(s, tc);

	tc = store_tcase("list_and_count", 10);
	tcase_add_loop_test(tc, test_job_store_lists_by_filter_in_submission_order, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_lists_nothing_from_an_empty_store, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_refuses_a_limit_outside_its_range, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_lists_full_copies_of_each_job, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_counts_agree_with_the_list_after_many_changes, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_pages_through_one_status_in_submission_order, 0,
			    FACTORY_COUNT * 4);
	tcase_add_loop_test(tc, test_job_store_pages_hand_out_full_copies, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_pages_refuse_a_limit_outside_its_range, 0,
			    FACTORY_COUNT);
	suite_add_tcase(s, tc);

	tc = store_tcase("scale_and_threads", 60);
	tcase_add_loop_test(tc, test_job_store_keeps_20000_jobs_unique_and_findable, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_concurrent_creates_make_distinct_jobs, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc,
			    test_job_store_lets_exactly_one_of_racing_threads_run_and_finish_a_job,
			    0, FACTORY_COUNT);
	suite_add_tcase(s, tc);

	tc = store_tcase("sqlite_file", 30);
	tcase_add_test(tc, test_sqlite_store_keeps_everything_across_a_reopen);
	tcase_add_test(tc, test_sqlite_store_keeps_attempts_keys_and_nodes_across_a_reopen);
	tcase_add_test(tc, test_sqlite_store_pages_the_same_jobs_in_the_same_order_after_a_reopen);
	tcase_add_test(tc, test_sqlite_store_keeps_what_it_acknowledged_through_a_kill_9);
	tcase_add_test(tc, test_sqlite_store_keeps_batches_of_changes_through_a_kill_9);
	tcase_add_test(tc, test_sqlite_store_keeps_jobs_stored_running_through_a_kill_9);
	tcase_add_test(
		tc, test_sqlite_store_group_commit_keeps_every_acknowledged_change_after_a_reopen);
	tcase_add_test(tc,
		       test_sqlite_store_keeps_what_concurrent_writers_were_told_through_a_kill_9);
	tcase_add_test(tc, test_sqlite_store_makes_a_new_database_with_1024_byte_pages);
	tcase_add_test(tc, test_sqlite_store_migrates_a_v1_database_keeping_every_job);
	tcase_add_test(tc, test_sqlite_store_answers_full_changes_nothing_and_stays_usable);
	tcase_add_test(tc, test_sqlite_store_answers_full_per_op_when_writers_share_commits);
	tcase_add_test(
		tc, test_sqlite_store_reads_while_the_write_lock_is_held_and_writes_fail_cleanly);
	tcase_add_test(tc, test_sqlite_store_refuses_a_second_coordinator_on_the_same_file);
	tcase_add_test(tc, test_sqlite_store_fails_cleanly_where_it_cannot_write);
	tcase_add_test(tc, test_sqlite_store_refuses_a_file_that_is_not_a_database);
	tcase_add_test(tc, test_sqlite_store_refuses_a_newer_schema_and_other_applications_files);
	tcase_add_test(tc, test_sqlite_store_writes_a_wal_database_at_the_current_schema_version);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(job_store_suite)
