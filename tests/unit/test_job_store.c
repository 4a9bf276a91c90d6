/*
 * job_store, through the job_store_* interface only. Every test runs once per
 * entry of store_factories[], so a second (durable) store is tested by adding
 * one row there: loop tests take the factory from _i (or from _i / case count
 * for the tables that are themselves loops). The SQLite-only tests (reopen,
 * the one-coordinator lock, errors at open) are at the end.
 *
 * Files: each test case (TCase) gets a fresh temporary directory, made and
 * removed by an unchecked fixture in the runner process; each test's files go
 * in it and a checked fixture deletes them when the test ends. A test that
 * crashes leaves its files to the directory's removal.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* Creates a job and returns its id in id (MESH_ID_SIZE). */
static void create_job(struct job_store *store, const char *type, const char *payload, char *id)
{
	struct job job;

	ck_assert_int_eq(job_store_create(store, type, payload, &job), JOB_STORE_OK);
	strcpy(id, job.id);
	job_clear(&job);
}

static void assert_counts(struct job_store *store, size_t queued, size_t running, size_t completed,
			  size_t failed)
{
	size_t counts[JOB_STATUS_COUNT];

	job_store_count_by_status(store, counts);
	ck_assert_msg(counts[JOB_QUEUED] == queued && counts[JOB_RUNNING] == running &&
			      counts[JOB_COMPLETED] == completed && counts[JOB_FAILED] == failed,
		      "counts Q/R/C/F are %zu/%zu/%zu/%zu, expected %zu/%zu/%zu/%zu",
		      counts[JOB_QUEUED], counts[JOB_RUNNING], counts[JOB_COMPLETED],
		      counts[JOB_FAILED], queued, running, completed, failed);
}

/* ---- create and get --------------------------------------------------------------- */

START_TEST(test_job_store_creates_a_queued_job_with_id_and_timestamps)
{
	struct job_store *store = open_store(_i);
	int64_t before = clock_wall_ms();
	struct job job, again;

	ck_assert_int_eq(job_store_create(store, "echo", "hello", &job), JOB_STORE_OK);
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

	ck_assert_int_eq(job_store_get(store, job.id, &again), JOB_STORE_OK);
	ck_assert_str_eq(again.id, job.id);
	ck_assert_str_eq(again.type, "echo");
	ck_assert_str_eq(again.payload, "hello");
	ck_assert_int_eq(again.status, JOB_QUEUED);
	ck_assert_int_eq(again.created_at, job.created_at);
	ck_assert_int_eq(again.updated_at, job.updated_at);
	assert_counts(store, 1, 0, 0, 0);
	job_clear(&again);
	job_clear(&job);
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
	char type[] = "echo", payload[] = "hello";
	struct job job, again;
	char id[MESH_ID_SIZE];

	ck_assert_int_eq(job_store_create(store, type, payload, &job), JOB_STORE_OK);
	strcpy(id, job.id);
	/* Scribble on the caller's inputs and on the copy handed out. */
	type[0] = 'X';
	payload[0] = 'X';
	job.type[0] = 'Y';
	job.payload[0] = 'Y';
	job.status = JOB_FAILED;
	job_clear(&job);

	ck_assert_int_eq(job_store_get(store, id, &again), JOB_STORE_OK);
	ck_assert_str_eq(again.type, "echo");
	ck_assert_str_eq(again.payload, "hello");
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
	/* A prefix of a real id is not that id. */
	id[8] = '\0';
	ck_assert_int_eq(job_store_get(store, id, &job), JOB_STORE_NOT_FOUND);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_changes_answer_not_found_for_an_unknown_id)
{
	struct job_store *store = open_store(_i);
	char id[MESH_ID_SIZE];

	create_job(store, "echo", "x", id);
	ck_assert_int_eq(job_store_mark_running(store, "j-000000000000", "n-1"), JOB_STORE_NOT_FOUND);
	ck_assert_int_eq(job_store_finish(store, "j-000000000000", JOB_COMPLETED, "r", NULL),
			 JOB_STORE_NOT_FOUND);
	ck_assert_int_eq(job_store_requeue(store, "j-000000000000"), JOB_STORE_NOT_FOUND);
	assert_counts(store, 1, 0, 0, 0);
	job_store_free(store);
}
END_TEST

/* ---- the life cycle, as a table ------------------------------------------------------ */

enum step_op {
	STEP_END = 0,
	RUN_ON_N1,       /* mark_running(node "n-1") */
	RUN_ON_N2,       /* mark_running(node "n-2") */
	COMPLETE_FIRST,  /* finish(COMPLETED, result "first") */
	COMPLETE_SECOND, /* finish(COMPLETED, result "second") */
	FAIL_FIRST,      /* finish(FAILED, error "boom") */
	FINISH_QUEUED,   /* finish(QUEUED, ...): not a terminal status */
	FINISH_RUNNING,  /* finish(RUNNING, ...): not a terminal status */
	REQUEUE,
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
};

#define OK JOB_STORE_OK
#define CONFLICT JOB_STORE_CONFLICT

static const struct lifecycle_case lifecycle_cases[] = {
	{"a queued job can be marked running", {{RUN_ON_N1, OK}}, JOB_RUNNING, "n-1", NULL, NULL},
	{"a running job can complete",
	 {{RUN_ON_N1, OK}, {COMPLETE_FIRST, OK}},
	 JOB_COMPLETED, "n-1", "first", NULL},
	{"a running job can fail", {{RUN_ON_N1, OK}, {FAIL_FIRST, OK}}, JOB_FAILED, "n-1", NULL, "boom"},
	{"finishing twice is a conflict and the first result stays",
	 {{RUN_ON_N1, OK}, {COMPLETE_FIRST, OK}, {COMPLETE_SECOND, CONFLICT}},
	 JOB_COMPLETED, "n-1", "first", NULL},
	{"failing a completed job is a conflict",
	 {{RUN_ON_N1, OK}, {COMPLETE_FIRST, OK}, {FAIL_FIRST, CONFLICT}},
	 JOB_COMPLETED, "n-1", "first", NULL},
	{"completing a failed job is a conflict",
	 {{RUN_ON_N1, OK}, {FAIL_FIRST, OK}, {COMPLETE_FIRST, CONFLICT}},
	 JOB_FAILED, "n-1", NULL, "boom"},
	{"finishing a queued job is a conflict", {{COMPLETE_FIRST, CONFLICT}}, JOB_QUEUED, "", NULL, NULL},
	{"failing a queued job is a conflict", {{FAIL_FIRST, CONFLICT}}, JOB_QUEUED, "", NULL, NULL},
	{"marking a job running twice is a conflict and the first node stays",
	 {{RUN_ON_N1, OK}, {RUN_ON_N2, CONFLICT}},
	 JOB_RUNNING, "n-1", NULL, NULL},
	{"marking a completed job running is a conflict",
	 {{RUN_ON_N1, OK}, {COMPLETE_FIRST, OK}, {RUN_ON_N2, CONFLICT}},
	 JOB_COMPLETED, "n-1", "first", NULL},
	{"requeueing a running job makes it queued without a node",
	 {{RUN_ON_N1, OK}, {REQUEUE, OK}},
	 JOB_QUEUED, "", NULL, NULL},
	{"a requeued job can run again elsewhere and complete",
	 {{RUN_ON_N1, OK}, {REQUEUE, OK}, {RUN_ON_N2, OK}, {COMPLETE_FIRST, OK}},
	 JOB_COMPLETED, "n-2", "first", NULL},
	{"requeueing a queued job is a conflict", {{REQUEUE, CONFLICT}}, JOB_QUEUED, "", NULL, NULL},
	{"requeueing twice is a conflict",
	 {{RUN_ON_N1, OK}, {REQUEUE, OK}, {REQUEUE, CONFLICT}},
	 JOB_QUEUED, "", NULL, NULL},
	{"requeueing a completed job is a conflict",
	 {{RUN_ON_N1, OK}, {COMPLETE_FIRST, OK}, {REQUEUE, CONFLICT}},
	 JOB_COMPLETED, "n-1", "first", NULL},
	{"requeueing a failed job is a conflict",
	 {{RUN_ON_N1, OK}, {FAIL_FIRST, OK}, {REQUEUE, CONFLICT}},
	 JOB_FAILED, "n-1", NULL, "boom"},
	{"finishing with status QUEUED is a conflict",
	 {{RUN_ON_N1, OK}, {FINISH_QUEUED, CONFLICT}},
	 JOB_RUNNING, "n-1", NULL, NULL},
	{"finishing with status RUNNING is a conflict",
	 {{RUN_ON_N1, OK}, {FINISH_RUNNING, CONFLICT}},
	 JOB_RUNNING, "n-1", NULL, NULL},
	{"finishing a queued job with a non-terminal status is a conflict",
	 {{FINISH_RUNNING, CONFLICT}},
	 JOB_QUEUED, "", NULL, NULL},
};

#undef OK
#undef CONFLICT

#define LIFECYCLE_CASE_COUNT ((int)(sizeof(lifecycle_cases) / sizeof(lifecycle_cases[0])))

static enum job_store_result apply_step(struct job_store *store, const char *id, enum step_op op)
{
	switch (op) {
	case RUN_ON_N1:
		return job_store_mark_running(store, id, "n-1");
	case RUN_ON_N2:
		return job_store_mark_running(store, id, "n-2");
	case COMPLETE_FIRST:
		return job_store_finish(store, id, JOB_COMPLETED, "first", NULL);
	case COMPLETE_SECOND:
		return job_store_finish(store, id, JOB_COMPLETED, "second", NULL);
	case FAIL_FIRST:
		return job_store_finish(store, id, JOB_FAILED, NULL, "boom");
	case FINISH_QUEUED:
		return job_store_finish(store, id, JOB_QUEUED, "r", NULL);
	case FINISH_RUNNING:
		return job_store_finish(store, id, JOB_RUNNING, "r", NULL);
	case REQUEUE:
		return job_store_requeue(store, id);
	case STEP_END:
		break;
	}
	ck_abort_msg("bad step %d", (int)op);
	return JOB_STORE_ERROR;
}

START_TEST(test_job_store_follows_the_life_cycle_table)
{
	const struct lifecycle_case *c = &lifecycle_cases[_i % LIFECYCLE_CASE_COUNT];
	struct job_store *store = open_store(_i / LIFECYCLE_CASE_COUNT);
	size_t counts[JOB_STATUS_COUNT];
	char id[MESH_ID_SIZE], other[MESH_ID_SIZE];
	struct job created, job, bystander;

	ck_assert_int_eq(job_store_create(store, "echo", "x", &created), JOB_STORE_OK);
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
		ck_assert_msg(job.result == NULL, "%s: result '%s', expected NULL", c->name, job.result);
	else
		ck_assert_msg(job.result != NULL && strcmp(job.result, c->result) == 0,
			      "%s: result '%s', expected '%s'", c->name,
			      job.result ? job.result : "(null)", c->result);
	if (c->error == NULL)
		ck_assert_msg(job.error == NULL, "%s: error '%s', expected NULL", c->name, job.error);
	else
		ck_assert_msg(job.error != NULL && strcmp(job.error, c->error) == 0,
			      "%s: error '%s', expected '%s'", c->name,
			      job.error ? job.error : "(null)", c->error);
	ck_assert_str_eq(job.type, "echo");
	ck_assert_str_eq(job.payload, "x");
	ck_assert_int_eq(job.created_at, created.created_at);
	ck_assert_int_ge(job.updated_at, job.created_at);

	/* The counts follow, and the other job was not touched. */
	job_store_count_by_status(store, counts);
	for (int s = 0; s < JOB_STATUS_COUNT; s++) {
		size_t expected = (s == (int)c->status) + (s == JOB_QUEUED);
		ck_assert_msg(counts[s] == expected, "%s: %zu jobs %s, expected %zu", c->name, counts[s],
			      job_status_name((enum job_status)s), expected);
	}
	ck_assert_int_eq(job_store_get(store, other, &bystander), JOB_STORE_OK);
	ck_assert_int_eq(bystander.status, JOB_QUEUED);
	ck_assert_str_eq(bystander.node_id, "");
	ck_assert_ptr_null(bystander.result);

	job_clear(&bystander);
	job_clear(&job);
	job_clear(&created);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_moves_updated_at_on_each_change_but_not_created_at)
{
	struct job_store *store = open_store(_i);
	struct job created, job;
	int64_t last;

	ck_assert_int_eq(job_store_create(store, "echo", "x", &created), JOB_STORE_OK);
	last = created.updated_at;
	clock_sleep_ms(5);
	ck_assert_int_eq(job_store_mark_running(store, created.id, "n-1"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_get(store, created.id, &job), JOB_STORE_OK);
	ck_assert_int_gt(job.updated_at, last);
	ck_assert_int_eq(job.created_at, created.created_at);
	last = job.updated_at;
	job_clear(&job);
	clock_sleep_ms(5);
	ck_assert_int_eq(job_store_finish(store, created.id, JOB_COMPLETED, "out", NULL), JOB_STORE_OK);
	ck_assert_int_eq(job_store_get(store, created.id, &job), JOB_STORE_OK);
	ck_assert_int_gt(job.updated_at, last);
	ck_assert_int_eq(job.created_at, created.created_at);
	last = job.updated_at;
	job_clear(&job);
	/* A refused change changes nothing, not even updated_at. */
	clock_sleep_ms(5);
	ck_assert_int_eq(job_store_finish(store, created.id, JOB_FAILED, NULL, "late"), JOB_STORE_CONFLICT);
	ck_assert_int_eq(job_store_get(store, created.id, &job), JOB_STORE_OK);
	ck_assert_int_eq(job.updated_at, last);
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
	ck_assert_int_eq(job_store_mark_running(store, id, "n-1"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_finish(store, id, JOB_COMPLETED, result, NULL), JOB_STORE_OK);
	ck_assert_int_eq(job_store_get(store, id, &job), JOB_STORE_OK);
	ck_assert_uint_eq(strlen(job.result), len);
	ck_assert_int_eq(memcmp(job.result, result, len), 0);
	job_clear(&job);
	free(result);
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
	ck_assert_int_eq(job_store_mark_running(store, ids[1], "n-1"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_mark_running(store, ids[2], "n-1"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_mark_running(store, ids[3], "n-1"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_finish(store, ids[3], JOB_COMPLETED, "r3", NULL), JOB_STORE_OK);
	ck_assert_int_eq(job_store_mark_running(store, ids[4], "n-2"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_finish(store, ids[4], JOB_COMPLETED, "r4", NULL), JOB_STORE_OK);
	ck_assert_int_eq(job_store_mark_running(store, ids[5], "n-1"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_requeue(store, ids[5]), JOB_STORE_OK);
	ck_assert_int_eq(job_store_mark_running(store, ids[6], "n-2"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_finish(store, ids[6], JOB_FAILED, NULL, "e6"), JOB_STORE_OK);
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

START_TEST(test_job_store_lists_by_filter_in_submission_order)
{
	const struct list_case *c = &list_cases[_i % LIST_CASE_COUNT];
	struct job_store *store = open_store(_i / LIST_CASE_COUNT);
	char ids[LIST_JOBS][MESH_ID_SIZE];
	struct job_filter filter = {.node_id = c->node_id, .type = c->type, .limit = c->limit};
	struct job_list list;
	size_t expected_count = 0;

	make_list_fixture(store, ids);
	if (c->by_status >= 0) {
		filter.by_status = true;
		filter.status = (enum job_status)c->by_status;
	}
	ck_assert_int_eq(job_store_list(store, &filter, &list), JOB_STORE_OK);
	while (c->expected[expected_count] >= 0)
		expected_count++;
	ck_assert_msg(list.count == expected_count, "%s: %zu jobs, expected %zu", c->name, list.count,
		      expected_count);
	for (size_t i = 0; i < list.count; i++) {
		int want = c->expected[i];
		ck_assert_msg(strcmp(list.items[i].id, ids[want]) == 0,
			      "%s: item %zu is %s (%s), expected job %d", c->name, i, list.items[i].id,
			      list.items[i].payload, want);
		ck_assert_msg(!filter.by_status || list.items[i].status == filter.status, "%s", c->name);
	}
	job_list_clear(&list);
	ck_assert_ptr_null(list.items);
	ck_assert_uint_eq(list.count, 0);
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
			ck_assert_int_eq(job_store_mark_running(store, ids[i], "n-1"), JOB_STORE_OK);
			break;
		case 2:
			ck_assert_int_eq(job_store_mark_running(store, ids[i], "n-1"), JOB_STORE_OK);
			ck_assert_int_eq(job_store_finish(store, ids[i], JOB_COMPLETED, "r", NULL), JOB_STORE_OK);
			ck_assert_int_eq(job_store_finish(store, ids[i], JOB_FAILED, NULL, "e"),
					 JOB_STORE_CONFLICT);
			break;
		case 3:
			ck_assert_int_eq(job_store_mark_running(store, ids[i], "n-2"), JOB_STORE_OK);
			ck_assert_int_eq(job_store_finish(store, ids[i], JOB_FAILED, NULL, "e"), JOB_STORE_OK);
			break;
		case 4:
			ck_assert_int_eq(job_store_mark_running(store, ids[i], "n-2"), JOB_STORE_OK);
			ck_assert_int_eq(job_store_requeue(store, ids[i]), JOB_STORE_OK);
			ck_assert_int_eq(job_store_requeue(store, ids[i]), JOB_STORE_CONFLICT);
			break;
		case 5:
			ck_assert_int_eq(job_store_finish(store, ids[i], JOB_COMPLETED, "r", NULL),
					 JOB_STORE_CONFLICT);
			break;
		case 6:
			ck_assert_int_eq(job_store_mark_running(store, ids[i], "n-1"), JOB_STORE_OK);
			ck_assert_int_eq(job_store_mark_running(store, ids[i], "n-2"), JOB_STORE_CONFLICT);
			ck_assert_int_eq(job_store_finish(store, ids[i], JOB_RUNNING, "r", NULL),
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

/* ---- many jobs ------------------------------------------------------------------------- */

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
		ck_assert_int_eq(job_store_list_page(store, status, &cursor, limit, &page), JOB_STORE_OK);
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
			ck_assert_int_eq(job_store_mark_running(store, ids[i], "n-1"), JOB_STORE_OK);
		if (i % 3 != 0 && i % 5 == 0)
			ck_assert_int_eq(job_store_finish(store, ids[i], JOB_COMPLETED, "r", NULL),
					 JOB_STORE_OK);
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
	ck_assert_int_eq(job_store_mark_running(store, id, "n-7"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_list_page(store, JOB_RUNNING, &cursor, 10, &page), JOB_STORE_OK);
	ck_assert_uint_eq(page.count, 1);
	ck_assert_str_eq(page.items[0].id, id);
	ck_assert_str_eq(page.items[0].type, "upper");
	ck_assert_str_eq(page.items[0].payload, "hello");
	ck_assert_str_eq(page.items[0].node_id, "n-7");
	ck_assert_int_gt(page.items[0].created_at, 0);
	ck_assert_ptr_null(page.items[0].result);
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
	ck_assert_int_eq(job_store_list_page(store, JOB_QUEUED, &cursor, 0, &page), JOB_STORE_ERROR);
	ck_assert_uint_eq(page.count, 0);
	ck_assert_ptr_null(page.items);
	ck_assert_int_eq(job_store_list_page(store, JOB_QUEUED, &cursor, JOB_STORE_LIST_MAX + 1, &page),
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

static int compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

START_TEST(test_job_store_keeps_20000_jobs_unique_and_findable)
{
	enum { N = 20000 };
	struct job_store *store = open_store(_i);
	char(*ids)[MESH_ID_SIZE] = calloc(N, MESH_ID_SIZE);
	char(*sorted)[MESH_ID_SIZE] = calloc(N, MESH_ID_SIZE);
	struct job_filter first_page = {.limit = JOB_STORE_LIST_MAX};
	struct job_list list;

	ck_assert_ptr_nonnull(ids);
	ck_assert_ptr_nonnull(sorted);
	/*
	 * Plain checks in the loops: each passing ck_assert costs a write to the
	 * Check parent, which would make this test take seconds.
	 */
	for (int i = 0; i < N; i++) {
		char payload[16];
		struct job job;
		snprintf(payload, sizeof(payload), "%d", i);
		if (job_store_create(store, "echo", payload, &job) != JOB_STORE_OK)
			ck_abort_msg("job %d was not created", i);
		strcpy(ids[i], job.id);
		job_clear(&job);
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
			ck_abort_msg("get(%s) gave job %s with payload %s, expected payload %s", ids[i],
				     job.id, job.payload, payload);
		job_clear(&job);
	}
	/* The list is in submission order across every growth of the store. */
	ck_assert_int_eq(job_store_list(store, &first_page, &list), JOB_STORE_OK);
	ck_assert_uint_eq(list.count, JOB_STORE_LIST_MAX);
	for (size_t i = 0; i < list.count; i++)
		if (strcmp(list.items[i].id, ids[i]) != 0)
			ck_abort_msg("list item %zu is %s, expected %s", i, list.items[i].id, ids[i]);
	job_list_clear(&list);
	/* Changes after growth still find the right job. */
	ck_assert_int_eq(job_store_mark_running(store, ids[N - 1], "n-1"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_mark_running(store, ids[0], "n-1"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_finish(store, ids[0], JOB_COMPLETED, "r", NULL), JOB_STORE_OK);
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
	free(sorted);
	free(ids);
	job_store_free(store);
}
END_TEST

/* ---- threads ---------------------------------------------------------------------------- */

#define THREADS 8
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
		if (job_store_create(c->store, "echo", payload, &job) != JOB_STORE_OK ||
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
		creators[t] = (struct creator){.store = store, .index = t, .ids = &ids[t * PER_THREAD]};
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
				ck_abort_msg("job %s (%s) not found", ids[t * PER_THREAD + i], payload);
			if (strcmp(job.payload, payload) != 0)
				ck_abort_msg("job %s has payload %s, expected %s", job.id, job.payload,
					     payload);
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
	r->run = job_store_mark_running(r->store, r->id, node);
	pthread_barrier_wait(r->start);
	r->finish = job_store_finish(r->store, r->id, JOB_COMPLETED, result, NULL);
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
			racers[t] = (struct racer){.store = store, .id = id, .index = t, .start = &start};
			ck_assert_int_eq(pthread_create(&threads[t], NULL, racer_main, &racers[t]), 0);
		}
		ran = finished = -1;
		for (int t = 0; t < THREADS; t++) {
			pthread_join(threads[t], NULL);
			if (racers[t].run == JOB_STORE_OK) {
				ck_assert_msg(ran < 0, "threads %d and %d both marked it running", ran, t);
				ran = t;
			} else {
				ck_assert_int_eq(racers[t].run, JOB_STORE_CONFLICT);
			}
			if (racers[t].finish == JOB_STORE_OK) {
				ck_assert_msg(finished < 0, "threads %d and %d both finished it", finished, t);
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
		job_clear(&job);
	}
	assert_counts(store, 0, 0, 20, 0);
	job_store_free(store);
}
END_TEST

START_TEST(test_job_store_free_of_null_is_a_no_op)
{
	job_store_free(NULL);
}
END_TEST

/* ---- SQLite only: reopen, crash, one coordinator per file, errors at open ------------------- */

static struct job_store *open_sqlite_at(const char *path)
{
	char err[512];
	struct job_store *store = job_store_sqlite_open(path, err, sizeof(err));

	ck_assert_msg(store != NULL, "sqlite store at %s: %s", path, err);
	return store;
}

static bool same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void assert_same_job(const struct job *want, const struct job *got, size_t i)
{
	ck_assert_msg(strcmp(want->id, got->id) == 0, "item %zu: id %s, expected %s", i, got->id,
		      want->id);
	ck_assert_msg(same_text(want->type, got->type) && same_text(want->payload, got->payload) &&
			      want->status == got->status &&
			      strcmp(want->node_id, got->node_id) == 0 &&
			      want->created_at == got->created_at &&
			      want->updated_at == got->updated_at && same_text(want->result, got->result) &&
			      same_text(want->error, got->error),
		      "job %s (item %zu) changed across the reopen", want->id, i);
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
	ck_assert_int_eq(job_store_mark_running(store, ids[0], "n-3"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_finish(store, ids[1], JOB_COMPLETED, "late", NULL), JOB_STORE_OK);
	ck_assert_int_eq(job_store_requeue(store, ids[2]), JOB_STORE_OK);
	ck_assert_int_eq(job_store_finish(store, ids[3], JOB_FAILED, NULL, "again"),
			 JOB_STORE_CONFLICT);
	ck_assert_int_eq(job_store_mark_running(store, ids[6], "n-3"), JOB_STORE_CONFLICT);
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

#define CRASH_JOBS 50

/* In a child: stores CRASH_JOBS jobs, reports each id once its changes returned, dies by SIGKILL. */
START_TEST(test_sqlite_store_pages_the_same_jobs_in_the_same_order_after_a_reopen)
{
	enum { N = 7 };
	char path[PATH_MAX + 64], ids[N][MESH_ID_SIZE], got[N][MESH_ID_SIZE];
	struct job_store *store;

	temp_path("reopen-pages", path, sizeof(path));
	store = open_sqlite_at(path);
	for (int i = 0; i < N; i++)
		create_job(store, "echo", "p", ids[i]);
	ck_assert_int_eq(job_store_mark_running(store, ids[2], "n-1"), JOB_STORE_OK);
	ck_assert_int_eq(job_store_mark_running(store, ids[5], "n-1"), JOB_STORE_OK);
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

static void crash_child(const char *path, int report_fd)
{
	struct job_store *store = job_store_sqlite_open(path, NULL, 0);

	if (store == NULL)
		_exit(2);
	for (int i = 0; i < CRASH_JOBS; i++) {
		struct job job;
		if (job_store_create(store, "echo", "acknowledged", &job) != JOB_STORE_OK)
			_exit(3);
		if (i % 4 != 0 && i % 4 != 2 &&
		    job_store_mark_running(store, job.id, "n-1") != JOB_STORE_OK)
			_exit(4);
		if (i % 4 == 3 && job_store_finish(store, job.id, JOB_COMPLETED, "done", NULL) != JOB_STORE_OK)
			_exit(5);
		if (write(report_fd, job.id, MESH_ID_SIZE) != MESH_ID_SIZE)
			_exit(6);
		job_clear(&job);
	}
	raise(SIGKILL); /* no job_store_free: like kill -9 the instant after the last answer */
	_exit(7);
}

START_TEST(test_sqlite_store_keeps_what_it_acknowledged_through_a_kill_9)
{
	char path[PATH_MAX + 64], ids[CRASH_JOBS][MESH_ID_SIZE];
	struct job_store *store;
	int fds[2], status, got = 0;
	pid_t pid;

	temp_path("crash", path, sizeof(path));
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		crash_child(path, fds[1]);
	}
	close(fds[1]);
	while (got < CRASH_JOBS && read(fds[0], ids[got], MESH_ID_SIZE) == MESH_ID_SIZE)
		got++;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "the child did not die by SIGKILL (status %d)", status);
	ck_assert_int_eq(got, CRASH_JOBS);

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
	const char *paths[] = {"/proc/mesh-no-such-dir/jobs.db", "/proc/jobs.db", missing, dir_path};

	snprintf(missing, sizeof(missing), "%s/no/such/dir/jobs.db", temp_dir);
	temp_path("a-directory", dir_path, sizeof(dir_path));
	ck_assert_int_eq(mkdir(dir_path, 0700), 0);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		strcpy(err, "untouched");
		ck_assert_msg(job_store_sqlite_open(paths[i], err, sizeof(err)) == NULL,
			      "%s opened", paths[i]);
		ck_assert_msg(strstr(err, paths[i]) != NULL, "err does not name %s: %s", paths[i], err);
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

/* Runs sql on the file at path with plain SQLite; the first column of its row, or -1. */
static long long raw_query(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long value = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) == SQLITE_OK &&
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
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, out_size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

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
	ck_assert_int_eq(raw_query(foreign, "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'jobs'"),
			 0);
}
END_TEST

START_TEST(test_sqlite_store_writes_a_wal_database_at_schema_version_1)
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
	ck_assert_int_eq(raw_query(path, "PRAGMA user_version"), 1);
	/* Opening at the current version changes nothing. */
	store = open_sqlite_at(path);
	assert_counts(store, 1, 0, 0, 0);
	job_store_free(store);
	ck_assert_int_eq(raw_query(path, "PRAGMA user_version"), 1);
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
	tcase_add_loop_test(tc, test_job_store_gives_each_job_its_own_id, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_keeps_copies_of_inputs_and_hands_out_copies, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_keeps_an_empty_payload_as_empty, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_answers_not_found_for_an_unknown_id, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_changes_answer_not_found_for_an_unknown_id, 0,
			    FACTORY_COUNT);
	tcase_add_test(tc, test_job_store_free_of_null_is_a_no_op);
	suite_add_tcase(s, tc);

	tc = store_tcase("life_cycle", 10);
	tcase_add_loop_test(tc, test_job_store_follows_the_life_cycle_table, 0,
			    FACTORY_COUNT * LIFECYCLE_CASE_COUNT);
	tcase_add_loop_test(tc, test_job_store_moves_updated_at_on_each_change_but_not_created_at, 0,
			    FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_keeps_a_long_result_whole, 0, FACTORY_COUNT);
	suite_add_tcase(s, tc);

	tc = store_tcase("list_and_count", 10);
	tcase_add_loop_test(tc, test_job_store_lists_by_filter_in_submission_order, 0,
			    FACTORY_COUNT * LIST_CASE_COUNT);
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
	tcase_add_loop_test(tc, test_job_store_keeps_20000_jobs_unique_and_findable, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_concurrent_creates_make_distinct_jobs, 0, FACTORY_COUNT);
	tcase_add_loop_test(tc, test_job_store_lets_exactly_one_of_racing_threads_run_and_finish_a_job,
			    0, FACTORY_COUNT);
	suite_add_tcase(s, tc);

	tc = store_tcase("sqlite_file", 30);
	tcase_add_test(tc, test_sqlite_store_keeps_everything_across_a_reopen);
	tcase_add_test(tc, test_sqlite_store_pages_the_same_jobs_in_the_same_order_after_a_reopen);
	tcase_add_test(tc, test_sqlite_store_keeps_what_it_acknowledged_through_a_kill_9);
	tcase_add_test(tc, test_sqlite_store_refuses_a_second_coordinator_on_the_same_file);
	tcase_add_test(tc, test_sqlite_store_fails_cleanly_where_it_cannot_write);
	tcase_add_test(tc, test_sqlite_store_refuses_a_file_that_is_not_a_database);
	tcase_add_test(tc, test_sqlite_store_refuses_a_newer_schema_and_other_applications_files);
	tcase_add_test(tc, test_sqlite_store_writes_a_wal_database_at_schema_version_1);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(job_store_suite)
