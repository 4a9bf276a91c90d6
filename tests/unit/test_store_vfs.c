#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "store_vfs.h"

/* Rows of this size take a page each, so a commit writes about one frame per row. */
#define ROW_BYTES 3000

static char dir[64];
static char path[128];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/mesh-store-vfs-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/test.db", dir);
}

static void remove_dir(void)
{
	char file[160];
	const char *suffixes[] = {"", "-wal", "-shm"};

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
		unlink(file);
	}
	rmdir(dir);
}

/* A connection in the store's mode: WAL, synchronous FULL. vfs NULL: SQLite's default. */
static sqlite3 *open_db(const char *vfs)
{
	sqlite3 *db = NULL;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
				      "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
				      "CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, v BLOB)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	return db;
}

/*
 * Inserts rows first..first+count-1 in one transaction; false if any step
 * failed. It asserts nothing itself: Check writes to its pipe at each
 * assertion, which would count as write system calls in the measurement.
 */
static bool try_insert_rows(sqlite3 *db, int first, int count)
{
	sqlite3_stmt *st = NULL;
	bool ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK &&
		  sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, zeroblob(?))", -1, &st, NULL) ==
			  SQLITE_OK;

	for (int n = first; ok && n < first + count; n++) {
		sqlite3_bind_int(st, 1, n);
		sqlite3_bind_int(st, 2, ROW_BYTES);
		ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
}

static void insert_rows(sqlite3 *db, int first, int count)
{
	ck_assert(try_insert_rows(db, first, count));
}

static int count_rows(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int count;

	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	count = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return count;
}

/* write(2)-family system calls this process has made so far (/proc/self/io); -1 if unknown. */
static long write_syscalls(void)
{
	FILE *io = fopen("/proc/self/io", "r");
	char line[128];
	long count = -1;

	while (io != NULL && fgets(line, sizeof(line), io) != NULL)
		if (sscanf(line, "syscw: %ld", &count) == 1)
			break;
	if (io != NULL)
		fclose(io);
	return count;
}

/* The write system calls one commit of `rows` page-sized rows costs. */
static long writes_of_one_commit(const char *vfs, int rows)
{
	sqlite3 *db = open_db(vfs);
	long before, writes;
	bool ok;

	insert_rows(db, 0, 1); /* the WAL exists and has its header */
	before = write_syscalls();
	ok = try_insert_rows(db, 1000, rows);
	writes = write_syscalls() - before;
	ck_assert_int_ge(before, 0);
	ck_assert(ok);
	sqlite3_close(db);
	return writes;
}

START_TEST(test_store_vfs_registers_once_under_one_name)
{
	const char *name = store_vfs_name();

	ck_assert_ptr_nonnull(name);
	ck_assert_ptr_eq(store_vfs_name(), name);
	ck_assert_ptr_nonnull(sqlite3_vfs_find(name));
	/* It wraps the default VFS without replacing it. */
	ck_assert_ptr_ne(sqlite3_vfs_find(NULL), sqlite3_vfs_find(name));
}
END_TEST

START_TEST(test_store_vfs_writes_a_commit_in_few_system_calls)
{
	long plain, coalesced;

	make_dir();
	plain = writes_of_one_commit(NULL, 8);
	remove_dir();
	make_dir();
	coalesced = writes_of_one_commit(store_vfs_name(), 8);
	remove_dir();
	/* The plain VFS writes each frame's header and page apart: 16 and more. */
	ck_assert_msg(plain >= 16, "the plain VFS took %ld writes", plain);
	ck_assert_msg(coalesced <= 3, "one commit of 8 pages took %ld writes", coalesced);
}
END_TEST

/*
 * Also without a sync at commit (synchronous NORMAL): the frames must be in
 * the file before SQLite publishes the commit to other connections.
 */
START_TEST(test_store_vfs_commits_are_seen_by_another_connection_at_once)
{
	const char *modes[] = {"PRAGMA synchronous = FULL", "PRAGMA synchronous = NORMAL"};
	sqlite3 *writer, *reader;

	make_dir();
	writer = open_db(store_vfs_name());
	reader = open_db(store_vfs_name());
	ck_assert_int_eq(sqlite3_exec(writer, modes[_i], NULL, NULL, NULL), SQLITE_OK);
	for (int round = 0; round < 5; round++) {
		insert_rows(writer, round * 10, 10);
		ck_assert_int_eq(count_rows(reader), (round + 1) * 10);
	}
	sqlite3_close(reader);
	sqlite3_close(writer);
	remove_dir();
}
END_TEST

START_TEST(test_store_vfs_keeps_a_commit_larger_than_its_buffer)
{
	sqlite3 *db;

	make_dir();
	db = open_db(store_vfs_name());
	insert_rows(db, 0, 200); /* ~200 frames, more than the buffer holds */
	sqlite3_close(db);
	db = open_db(NULL);
	ck_assert_int_eq(count_rows(db), 200);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA integrity_check", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	remove_dir();
}
END_TEST

START_TEST(test_store_vfs_a_commit_survives_the_process_dying_at_once)
{
	sqlite3 *db;
	pid_t child;
	int status = 0;

	make_dir();
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		db = open_db(store_vfs_name());
		insert_rows(db, 0, 30);
		_exit(0); /* no close, no checkpoint: only what the commit wrote */
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	db = open_db(NULL);
	ck_assert_int_eq(count_rows(db), 30);
	sqlite3_close(db);
	remove_dir();
}
END_TEST

START_TEST(test_store_vfs_survives_checkpoints_and_wal_restarts)
{
	sqlite3 *db, *other;

	make_dir();
	db = open_db(store_vfs_name());
	other = open_db(store_vfs_name());
	/* Past the 1,000-page autocheckpoint several times: the WAL starts over from its header. */
	for (int round = 0; round < 40; round++) {
		insert_rows(db, round * 100, 100);
		if (round % 10 == 9)
			ck_assert_int_eq(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_RESTART,
								   NULL, NULL),
					 SQLITE_OK);
		ck_assert_int_eq(count_rows(other), (round + 1) * 100);
	}
	sqlite3_close(other);
	sqlite3_close(db);
	db = open_db(NULL);
	ck_assert_int_eq(count_rows(db), 4000);
	sqlite3_close(db);
	remove_dir();
}
END_TEST

/* The first column of the first row of sql, as text ("" if none). */
static void query_text(sqlite3 *db, const char *sql, char *out, size_t out_size)
{
	sqlite3_stmt *st = NULL;

	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	out[0] = '\0';
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		snprintf(out, out_size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/*
 * From now on no file of this process may grow past the WAL's size
 * (RLIMIT_FSIZE; such a write fails with EFBIG, SIGXFSZ ignored); *before
 * gets the limit to put back with setrlimit. Assert nothing until then:
 * Check's own files could not grow either.
 */
static void stop_the_wal_growing(struct rlimit *before)
{
	char wal_path[160];
	struct rlimit limited;
	struct stat wal;

	snprintf(wal_path, sizeof(wal_path), "%s-wal", path);
	ck_assert_int_eq(stat(wal_path, &wal), 0);
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, before), 0);
	limited = *before;
	limited.rlim_cur = (rlim_t)wal.st_size;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limited), 0);
}

/*
 * A commit whose WAL write fails (here: the file may not grow, RLIMIT_FSIZE)
 * fails, in both modes, instead of being published over a hole; the reader
 * sees the state before it, and the next commit works.
 */
START_TEST(test_store_vfs_a_failed_wal_write_fails_its_commit)
{
	const char *modes[] = {"PRAGMA synchronous = FULL", "PRAGMA synchronous = NORMAL"};
	char check[64];
	struct rlimit before;
	sqlite3 *writer, *reader;
	bool ok;

	make_dir();
	writer = open_db(store_vfs_name());
	reader = open_db(store_vfs_name());
	ck_assert_int_eq(sqlite3_exec(writer, modes[_i], NULL, NULL, NULL), SQLITE_OK);
	/* No checkpoint: the WAL only grows, so the next commit must extend it. */
	ck_assert_int_eq(sqlite3_exec(writer, "PRAGMA wal_autocheckpoint = 0", NULL, NULL, NULL),
			 SQLITE_OK);
	insert_rows(writer, 0, 10);
	ck_assert_int_eq(count_rows(reader), 10);

	stop_the_wal_growing(&before);
	ok = try_insert_rows(writer, 100, 5); /* asserts nothing while files may not grow */
	setrlimit(RLIMIT_FSIZE, &before);
	ck_assert_msg(!ok, "a commit whose WAL write failed was reported done");
	sqlite3_exec(writer, "ROLLBACK", NULL, NULL, NULL); /* if the failure left it open */
	ck_assert_int_eq(count_rows(reader), 10);

	insert_rows(writer, 200, 5);
	ck_assert_int_eq(count_rows(reader), 15);
	sqlite3_close(reader);
	sqlite3_close(writer);
	writer = open_db(NULL);
	ck_assert_int_eq(count_rows(writer), 15);
	query_text(writer, "PRAGMA integrity_check", check, sizeof(check));
	ck_assert_str_eq(check, "ok");
	sqlite3_close(writer);
	remove_dir();
}
END_TEST

/*
 * A transaction that spilled frames and is rolled back while the WAL may
 * not grow leaves no lock behind: another connection writes at once.
 */
START_TEST(test_store_vfs_a_rolled_back_spill_leaves_the_wal_unlocked)
{
	struct rlimit before;
	sqlite3 *first, *second;

	make_dir();
	first = open_db(store_vfs_name());
	second = open_db(store_vfs_name());
	insert_rows(first, 0, 20);
	ck_assert_int_eq(sqlite3_wal_checkpoint_v2(first, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
						   NULL),
			 SQLITE_OK);
	/* A tiny page cache: the updates spill frames to the WAL before any commit. */
	ck_assert_int_eq(sqlite3_exec(first, "PRAGMA cache_size = 2; BEGIN IMMEDIATE;"
					     "UPDATE t SET v = zeroblob(3001) WHERE n < 20",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	stop_the_wal_growing(&before);
	sqlite3_exec(first, "ROLLBACK", NULL, NULL, NULL);
	setrlimit(RLIMIT_FSIZE, &before);

	ck_assert(try_insert_rows(second, 100, 3));
	ck_assert_int_eq(count_rows(first), 23);
	sqlite3_close(second);
	sqlite3_close(first);
	remove_dir();
}
END_TEST

/*
 * What the sqlite3 CLI (deploy/install-deps.sh installs it), another
 * process, prints for `SELECT count(*) FROM t`, or its error; false if it
 * failed. Exec'd: a forked child alone would share SQLite's in-memory table
 * of the locks its parent holds.
 */
static bool read_in_another_process(char *out, size_t out_size)
{
	char out_path[160];
	pid_t child;
	int status = 0;
	FILE *file;

	snprintf(out_path, sizeof(out_path), "%s/cli.out", dir);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execlp("sqlite3", "sqlite3", path, "SELECT count(*) FROM t", (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) != 127, "the sqlite3 CLI is not installed");
	out[0] = '\0';
	file = fopen(out_path, "r");
	if (file != NULL) {
		size_t n = fread(out, 1, out_size - 1, file);

		while (n > 0 && out[n - 1] == '\n')
			n--;
		out[n] = '\0';
		fclose(file);
	}
	unlink(out_path);
	return WEXITSTATUS(status) == 0;
}

/* An operator can read a live store (the sqlite3 CLI, an online .backup). */
START_TEST(test_store_vfs_lets_another_process_read_the_database)
{
	char out[256];
	sqlite3 *db, *second;

	make_dir();
	db = open_db(store_vfs_name());
	second = open_db(store_vfs_name());
	insert_rows(db, 0, 3);
	ck_assert_int_eq(count_rows(second), 3);
	ck_assert_msg(read_in_another_process(out, sizeof(out)), "the CLI said: %s", out);
	ck_assert_str_eq(out, "3");
	insert_rows(db, 10, 2); /* and the store goes on writing after it */
	ck_assert(read_in_another_process(out, sizeof(out)));
	ck_assert_str_eq(out, "5");
	sqlite3_close(second);
	sqlite3_close(db);
	remove_dir();
}
END_TEST

/* Runs count one-row commits on the store's VFS, stderr in a file; what was logged into out. */
static void commits_logging_to(int count, int first_row, char *out, size_t out_size)
{
	char log_path[160];
	int saved = dup(STDERR_FILENO), fd;
	sqlite3 *db;
	ssize_t got;

	snprintf(log_path, sizeof(log_path), "%s/stderr.txt", dir);
	fd = open(log_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(saved, 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	db = open_db(store_vfs_name());
	for (int i = 0; i < count; i++)
		insert_rows(db, first_row + i, 1);
	sqlite3_close(db);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	got = pread(fd, out, out_size - 1, 0);
	close(fd);
	unlink(log_path);
	out[got > 0 ? got : 0] = '\0';
}

static int count_of(const char *text, const char *part)
{
	int n = 0;
	for (const char *at = strstr(text, part); at != NULL; at = strstr(at + 1, part))
		n++;
	return n;
}

START_TEST(test_store_vfs_logs_slow_syncs_at_most_once_an_interval)
{
	char log[8192];
	/* Its write-ahead log, or its database file when a commit checkpoints. */
	const char *line = "ms to sync the job store's ";

	make_dir();
	/* Every sync counts as slow: three commits, one line within the interval. */
	store_vfs_set_slow_sync_warning(0, 60000);
	commits_logging_to(3, 1, log, sizeof(log));
	ck_assert_msg(count_of(log, line) == 1, "logged:\n%s", log);
	ck_assert_ptr_null(strstr(log, "other sync(s)"));
	/* Once the interval is over, the next line counts the ones not logged. */
	store_vfs_set_slow_sync_warning(0, 0);
	commits_logging_to(1, 10, log, sizeof(log));
	ck_assert_msg(strstr(log, "other sync(s) took 0 ms or more since the last such warning") !=
			      NULL,
		      "logged:\n%s", log);
	/* A sync under the threshold is not logged. */
	store_vfs_set_slow_sync_warning(60000, 0);
	commits_logging_to(2, 20, log, sizeof(log));
	ck_assert_msg(count_of(log, line) == 0, "logged:\n%s", log);
	store_vfs_set_slow_sync_warning(50, 60000);
	remove_dir();
}
END_TEST

static Suite *store_vfs_suite(void)
{
	Suite *s = suite_create("store_vfs");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_store_vfs_registers_once_under_one_name);
	tcase_add_test(tc, test_store_vfs_writes_a_commit_in_few_system_calls);
	tcase_add_loop_test(tc, test_store_vfs_commits_are_seen_by_another_connection_at_once, 0,
			    2);
	tcase_add_test(tc, test_store_vfs_keeps_a_commit_larger_than_its_buffer);
	tcase_add_test(tc, test_store_vfs_a_commit_survives_the_process_dying_at_once);
	tcase_add_test(tc, test_store_vfs_survives_checkpoints_and_wal_restarts);
	tcase_add_test(tc, test_store_vfs_lets_another_process_read_the_database);
	tcase_add_loop_test(tc, test_store_vfs_a_failed_wal_write_fails_its_commit, 0, 2);
	tcase_add_test(tc, test_store_vfs_a_rolled_back_spill_leaves_the_wal_unlocked);
	tcase_add_test(tc, test_store_vfs_logs_slow_syncs_at_most_once_an_interval);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(store_vfs_suite)
