/*
 * store_vfs: the SQLite VFS the job store opens its database with. It wraps
 * SQLite's default VFS and spares system calls that sit on the path of
 * every durable answer (docs/performance.md, finding 8); on a
 * paravirtualised VM a system call is dear.
 *
 * WAL writes. SQLite writes each WAL frame as two pwrite(2) calls (its
 * 24-byte header, then the page), so a commit of eight pages costs sixteen
 * system calls before its fsync. For WAL files this VFS holds writes that
 * continue one another in a buffer and hands them to the real file as one
 * write: as soon as a commit frame (the frame whose header carries the
 * database size) is in, with everything before it, so that an error of
 * that write fails the commit in any synchronous mode; and before anything
 * that needs the bytes in the file: a sync, a read, a truncate, the file's
 * size, a file control, a write elsewhere in the file, a full buffer,
 * closing the file. SQLite may rewrite frame headers after the commit frame
 * (new checksums for frames the transaction overwrote); those go out at the
 * latest at the memory barrier SQLite takes on the database file before it
 * publishes the commit to other connections. A barrier cannot return an
 * error, so a write that fails there makes the WAL file refuse every later
 * call: the connection fails rather than going on over a hole. (The store
 * runs synchronous=FULL, where the commit's sync comes first anyway.)
 * Bytes still held when the file closes belong to a transaction that was
 * never committed. So the bytes reach the disk in the same order as before
 * and before the same fsync, and no other connection is told of frames that
 * are not in the file.
 *
 * Slow syncs. Every commit waits for its sync, so a disk that stalls shows
 * as slow answers. A sync that takes 50 ms or more is logged as a warning
 * ("the disk took N ms to sync the job store's write-ahead log"), at most
 * one line a minute; the next line counts the slow syncs it did not log.
 *
 * Threads: registration is once and safe from any thread. A file's buffer
 * belongs to the connection that opened the file, which SQLite uses from
 * one thread at a time. The slow-sync count is shared, under its own lock.
 */
#ifndef MESH_STORE_VFS_H
#define MESH_STORE_VFS_H

#include <stdint.h>

/*
 * Registers the VFS (not as the default) on the first call and returns its
 * name for sqlite3_open_v2; NULL if SQLite has no default VFS to wrap, in
 * which case the caller opens with the default VFS.
 */
const char *store_vfs_name(void);

/*
 * Sets what counts as a slow sync (threshold_ms) and how often one is logged
 * (interval_ms), and forgets when the last was; the defaults are 50 ms and
 * one minute. For tests: any thread, any time.
 */
void store_vfs_set_slow_sync_warning(int64_t threshold_ms, int64_t interval_ms);

#endif
