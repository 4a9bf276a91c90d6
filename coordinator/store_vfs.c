/*
 * store_vfs: holds a WAL file's consecutive writes and hands them to the
 * real file as one, over SQLite's default VFS; see the header for when it
 * flushes and why that keeps SQLite's promises.
 *
 * Memory: each open file (database or WAL) is a struct store_file followed
 * by the wrapped VFS's own file object (szOsFile covers both); SQLite owns
 * that memory. A WAL file's buffer is allocated on its first write and
 * freed when it closes.
 * A database file and its WAL file of the same connection point at each
 * other (db_file->wal, wal->db_file) so that a barrier on the database can
 * flush the WAL; each unlinks itself when it closes.
 */
#include "store_vfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "clock.h"
#include "log.h"

/*
 * A round trip's commit (~8 frames, 9 KB with 1 KB pages) fits in one write. A bigger
 * commit (a dispatch pass of tens of jobs) goes out in several 64 KiB writes:
 * a 1 MiB buffer, which wrote such a commit at once, gave longer POST tails
 * under the e2e load in six interleaved pairs out of six (not explained).
 */
#define WAL_BUFFER_BYTES (64 * 1024)
/*
 * Slow syncs: every commit waits for its sync, so a disk that stalls shows
 * as slow answers; the log says so (note_sync_time). slow_syncs.lock guards
 * the struct; syncs of every connection report to it.
 */
static struct {
	pthread_mutex_t lock;
	int64_t threshold_ms;    /* a sync at least this long is slow */
	int64_t interval_ms;     /* at most one warning per interval */
	int64_t last_warning_ms; /* monotonic; 0: none yet */
	long unreported;         /* slow syncs since the last warning, not logged */
} slow_syncs = {PTHREAD_MUTEX_INITIALIZER, 50, 60000, 0, 0};

/* The WAL format (sqlite.org/fileformat.html#walformat). */
#define WAL_HEADER_BYTES 32
#define WAL_FRAME_HEADER_BYTES 24

struct store_file {
	sqlite3_file base; /* first: SQLite sees this */
	sqlite3_file *real; /* the wrapped VFS's file, in the memory after this struct */
	bool is_wal;
	struct store_file *wal; /* on a database file: its connection's open WAL file */
	struct store_file *db_file; /* on a WAL file: the database file it belongs to */
	unsigned char *pending; /* held writes, pending_len bytes from pending_offset */
	size_t pending_len;
	sqlite3_int64 pending_offset;
	bool commit_page_next; /* the last write was a commit frame's header */
	int lost_write; /* SQLITE_OK, or why held bytes could not be written where no caller hears it */
};

static sqlite3_vfs vfs_object;
static sqlite3_vfs *parent_vfs;
/* One table per I/O methods version, so that SQLite sees the real file's. */
static sqlite3_io_methods io_methods[4];
static const char *registered_name;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;

static sqlite3_file *real_of(sqlite3_file *file)
{
	return ((struct store_file *)file)->real;
}

static bool is_ours(const sqlite3_file *file)
{
	return file->pMethods >= &io_methods[0] && file->pMethods <= &io_methods[3];
}

/*
 * Hands the held writes to the real file; the error of that write, if any.
 * Once held bytes were lost where no caller could be told (lost_write),
 * every later flush fails: the connection must not go on over a hole.
 */
static int flush_pending(struct store_file *f)
{
	int rc;

	if (f->lost_write != SQLITE_OK)
		return f->lost_write;
	if (f->pending_len == 0)
		return SQLITE_OK;
	rc = f->real->pMethods->xWrite(f->real, f->pending, (int)f->pending_len,
				       f->pending_offset);
	f->pending_len = 0;
	return rc;
}

/* A WAL frame header whose "database size after commit" is set ends a transaction. */
static bool is_commit_frame_header(const void *data, int amount, sqlite3_int64 offset)
{
	const unsigned char *header = data;

	return amount == WAL_FRAME_HEADER_BYTES && offset >= WAL_HEADER_BYTES &&
	       (header[4] | header[5] | header[6] | header[7]) != 0;
}

/* Keeps a write in the buffer, after what it continues; or writes it (and the buffer) now. */
static int hold_write(struct store_file *f, const void *data, size_t size, sqlite3_int64 offset)
{
	int rc;

	if (f->pending_len > 0 && offset == f->pending_offset + (sqlite3_int64)f->pending_len &&
	    f->pending_len + size <= WAL_BUFFER_BYTES) {
		memcpy(f->pending + f->pending_len, data, size);
		f->pending_len += size;
		return SQLITE_OK;
	}
	rc = flush_pending(f);
	if (rc != SQLITE_OK)
		return rc;
	if (f->pending == NULL && size <= WAL_BUFFER_BYTES)
		f->pending = sqlite3_malloc(WAL_BUFFER_BYTES);
	if (f->pending == NULL || size > WAL_BUFFER_BYTES)
		return f->real->pMethods->xWrite(f->real, data, (int)size, offset);
	memcpy(f->pending, data, size);
	f->pending_len = size;
	f->pending_offset = offset;
	return SQLITE_OK;
}

/* What is still held here was never committed (see the header): its error changes nothing. */
static int file_close(sqlite3_file *file)
{
	struct store_file *f = (struct store_file *)file;
	int flushed = flush_pending(f);
	int rc;

	if (f->wal != NULL)
		f->wal->db_file = NULL;
	if (f->db_file != NULL)
		f->db_file->wal = NULL;
	sqlite3_free(f->pending);
	f->pending = NULL;
	rc = f->real->pMethods->xClose(f->real);
	return flushed != SQLITE_OK ? flushed : rc;
}

static int file_read(sqlite3_file *file, void *out, int amount, sqlite3_int64 offset)
{
	int rc = flush_pending((struct store_file *)file);

	if (rc != SQLITE_OK)
		return rc;
	return real_of(file)->pMethods->xRead(real_of(file), out, amount, offset);
}

/*
 * A WAL write is held, except that a commit frame (its header, then its
 * page) is handed over with everything before it as soon as its page is
 * in: an error then fails the commit, whatever the synchronous mode.
 */
static int file_write(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset)
{
	struct store_file *f = (struct store_file *)file;
	bool ends_commit;
	int rc;

	if (!f->is_wal)
		return f->real->pMethods->xWrite(f->real, data, amount, offset);
	if (f->lost_write != SQLITE_OK)
		return f->lost_write;
	ends_commit = f->commit_page_next;
	f->commit_page_next = is_commit_frame_header(data, amount, offset);
	rc = hold_write(f, data, (size_t)amount, offset);
	if (rc == SQLITE_OK && ends_commit)
		rc = flush_pending(f);
	return rc;
}

static int file_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	int rc = flush_pending((struct store_file *)file);

	if (rc != SQLITE_OK)
		return rc;
	return real_of(file)->pMethods->xTruncate(real_of(file), size);
}

void store_vfs_set_slow_sync_warning(int64_t threshold_ms, int64_t interval_ms)
{
	pthread_mutex_lock(&slow_syncs.lock);
	slow_syncs.threshold_ms = threshold_ms;
	slow_syncs.interval_ms = interval_ms;
	slow_syncs.last_warning_ms = 0;
	pthread_mutex_unlock(&slow_syncs.lock);
}

/* Logs a slow sync, at most once per interval; the ones in between are counted. */
static void note_sync_time(bool is_wal, int64_t took_ms)
{
	int64_t now = clock_monotonic_ms(), threshold;
	long unreported;

	pthread_mutex_lock(&slow_syncs.lock);
	threshold = slow_syncs.threshold_ms;
	if (took_ms < slow_syncs.threshold_ms) {
		pthread_mutex_unlock(&slow_syncs.lock);
		return;
	}
	if (slow_syncs.last_warning_ms != 0 &&
	    now - slow_syncs.last_warning_ms < slow_syncs.interval_ms) {
		slow_syncs.unreported++;
		pthread_mutex_unlock(&slow_syncs.lock);
		return;
	}
	unreported = slow_syncs.unreported;
	slow_syncs.unreported = 0;
	slow_syncs.last_warning_ms = now;
	pthread_mutex_unlock(&slow_syncs.lock);
	if (unreported > 0)
		log_warn("the disk took %lld ms to sync the job store's %s; commits waited for it "
			 "(and %ld other sync(s) took %lld ms or more since the last such warning)",
			 (long long)took_ms, is_wal ? "write-ahead log" : "database file",
			 unreported, (long long)threshold);
	else
		log_warn("the disk took %lld ms to sync the job store's %s; commits waited for it",
			 (long long)took_ms, is_wal ? "write-ahead log" : "database file");
}

static int file_sync(sqlite3_file *file, int flags)
{
	struct store_file *f = (struct store_file *)file;
	int rc = flush_pending(f);
	int64_t started, took;

	if (rc != SQLITE_OK)
		return rc;
	started = clock_monotonic_ms();
	rc = real_of(file)->pMethods->xSync(real_of(file), flags);
	took = clock_monotonic_ms() - started;
	note_sync_time(f->is_wal, took);
	return rc;
}

static int file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	int rc = flush_pending((struct store_file *)file);

	if (rc != SQLITE_OK)
		return rc;
	return real_of(file)->pMethods->xFileSize(real_of(file), size);
}

static int file_lock(sqlite3_file *file, int level)
{
	return real_of(file)->pMethods->xLock(real_of(file), level);
}

static int file_unlock(sqlite3_file *file, int level)
{
	return real_of(file)->pMethods->xUnlock(real_of(file), level);
}

static int file_check_reserved_lock(sqlite3_file *file, int *reserved)
{
	return real_of(file)->pMethods->xCheckReservedLock(real_of(file), reserved);
}

static int file_control(sqlite3_file *file, int op, void *arg)
{
	int rc = flush_pending((struct store_file *)file);

	if (rc != SQLITE_OK)
		return rc;
	return real_of(file)->pMethods->xFileControl(real_of(file), op, arg);
}

static int file_sector_size(sqlite3_file *file)
{
	return real_of(file)->pMethods->xSectorSize(real_of(file));
}

static int file_device_characteristics(sqlite3_file *file)
{
	return real_of(file)->pMethods->xDeviceCharacteristics(real_of(file));
}

static int file_shm_map(sqlite3_file *file, int page, int page_size, int extend,
			void volatile **out)
{
	return real_of(file)->pMethods->xShmMap(real_of(file), page, page_size, extend, out);
}

static int file_shm_lock(sqlite3_file *file, int offset, int count, int flags)
{
	return real_of(file)->pMethods->xShmLock(real_of(file), offset, count, flags);
}

/*
 * The shared-memory calls come on the database file. SQLite takes this
 * barrier between writing the two copies of the WAL-index header that
 * publish a commit. The commit frame went out with its page; what can
 * still be held here is a commit's rewritten frame headers (SQLite rewrites
 * the checksums of frames it overwrote within the transaction, after the
 * commit frame), which must reach the file before the commit is published.
 * A barrier cannot answer an error, so a failed write here makes the file
 * refuse every later call instead.
 */
static void file_shm_barrier(sqlite3_file *file)
{
	struct store_file *f = (struct store_file *)file;

	if (f->wal != NULL && flush_pending(f->wal) != SQLITE_OK &&
	    f->wal->lost_write == SQLITE_OK)
		f->wal->lost_write = SQLITE_IOERR_WRITE;
	real_of(file)->pMethods->xShmBarrier(real_of(file));
}

static int file_shm_unmap(sqlite3_file *file, int delete_flag)
{
	return real_of(file)->pMethods->xShmUnmap(real_of(file), delete_flag);
}

static int file_fetch(sqlite3_file *file, sqlite3_int64 offset, int amount, void **out)
{
	int rc = flush_pending((struct store_file *)file);

	if (rc != SQLITE_OK)
		return rc;
	return real_of(file)->pMethods->xFetch(real_of(file), offset, amount, out);
}

static int file_unfetch(sqlite3_file *file, sqlite3_int64 offset, void *page)
{
	return real_of(file)->pMethods->xUnfetch(real_of(file), offset, page);
}

static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
		    int *out_flags)
{
	struct store_file *f = (struct store_file *)file;
	int rc, version;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	rc = parent_vfs->xOpen(parent_vfs, name, f->real, flags, out_flags);
	if (f->real->pMethods == NULL) {
		f->base.pMethods = NULL;
		return rc;
	}
	version = f->real->pMethods->iVersion;
	f->base.pMethods = &io_methods[version < 0 ? 0 : version > 3 ? 3 : version];
	f->is_wal = (flags & SQLITE_OPEN_WAL) != 0 && rc == SQLITE_OK;
	if (f->is_wal && name != NULL) {
		sqlite3_file *db_file = sqlite3_database_file_object(name);

		if (db_file != NULL && is_ours(db_file)) {
			f->db_file = (struct store_file *)db_file;
			f->db_file->wal = f;
		}
	}
	return rc;
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	return parent_vfs->xDelete(parent_vfs, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *result)
{
	(void)vfs;
	return parent_vfs->xAccess(parent_vfs, name, flags, result);
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out)
{
	(void)vfs;
	return parent_vfs->xFullPathname(parent_vfs, name, size, out);
}

static void *vfs_dl_open(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return parent_vfs->xDlOpen(parent_vfs, name);
}

static void vfs_dl_error(sqlite3_vfs *vfs, int size, char *out)
{
	(void)vfs;
	parent_vfs->xDlError(parent_vfs, size, out);
}

static void (*vfs_dl_sym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void)
{
	(void)vfs;
	return parent_vfs->xDlSym(parent_vfs, handle, symbol);
}

static void vfs_dl_close(sqlite3_vfs *vfs, void *handle)
{
	(void)vfs;
	parent_vfs->xDlClose(parent_vfs, handle);
}

static int vfs_randomness(sqlite3_vfs *vfs, int size, char *out)
{
	(void)vfs;
	return parent_vfs->xRandomness(parent_vfs, size, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int microseconds)
{
	(void)vfs;
	return parent_vfs->xSleep(parent_vfs, microseconds);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return parent_vfs->xCurrentTime(parent_vfs, out);
}

static int vfs_get_last_error(sqlite3_vfs *vfs, int size, char *out)
{
	(void)vfs;
	return parent_vfs->xGetLastError(parent_vfs, size, out);
}

static int vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	return parent_vfs->xCurrentTimeInt64(parent_vfs, out);
}

static void register_vfs(void)
{
	sqlite3_vfs *parent = sqlite3_vfs_find(NULL);
	int version;

	if (parent == NULL || parent->iVersion < 2 || parent->xCurrentTimeInt64 == NULL)
		return;
	parent_vfs = parent;
	for (version = 0; version <= 3; version++) {
		io_methods[version] = (sqlite3_io_methods){
			.iVersion = version,
			.xClose = file_close,
			.xRead = file_read,
			.xWrite = file_write,
			.xTruncate = file_truncate,
			.xSync = file_sync,
			.xFileSize = file_size,
			.xLock = file_lock,
			.xUnlock = file_unlock,
			.xCheckReservedLock = file_check_reserved_lock,
			.xFileControl = file_control,
			.xSectorSize = file_sector_size,
			.xDeviceCharacteristics = file_device_characteristics,
			.xShmMap = version >= 2 ? file_shm_map : NULL,
			.xShmLock = version >= 2 ? file_shm_lock : NULL,
			.xShmBarrier = version >= 2 ? file_shm_barrier : NULL,
			.xShmUnmap = version >= 2 ? file_shm_unmap : NULL,
			.xFetch = version >= 3 ? file_fetch : NULL,
			.xUnfetch = version >= 3 ? file_unfetch : NULL,
		};
	}
	vfs_object = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct store_file) + parent->szOsFile,
		.mxPathname = parent->mxPathname,
		.zName = "mesh-store",
		.xOpen = vfs_open,
		.xDelete = vfs_delete,
		.xAccess = vfs_access,
		.xFullPathname = vfs_full_pathname,
		.xDlOpen = vfs_dl_open,
		.xDlError = vfs_dl_error,
		.xDlSym = vfs_dl_sym,
		.xDlClose = vfs_dl_close,
		.xRandomness = vfs_randomness,
		.xSleep = vfs_sleep,
		.xCurrentTime = vfs_current_time,
		.xGetLastError = vfs_get_last_error,
		.xCurrentTimeInt64 = vfs_current_time_int64,
	};
	if (sqlite3_vfs_register(&vfs_object, 0) == SQLITE_OK)
		registered_name = vfs_object.zName;
}

const char *store_vfs_name(void)
{
	pthread_once(&register_once, register_vfs);
	return registered_name;
}
