/*
 * store_vfs: the SQLite VFS the job store opens its database with. It wraps
 * SQLite's own "unix-excl" VFS and spares two kinds of system calls that sit
 * on the path of every durable answer (docs/performance.md, finding 8); on
 * a paravirtualised VM a system call is dear.
 *
 * WAL writes. SQLite writes each WAL frame as two pwrite(2) calls (its
 * 24-byte header, then the page), so a commit of eight pages costs sixteen
 * system calls before its fsync. For WAL files this VFS holds writes that
 * continue one another in a buffer and hands them to the real file as one
 * write just before anything that needs them there: a sync, a read, a
 * truncate, the file's size, a file control, a write elsewhere in the file,
 * a full buffer, closing the file, and the shared-memory lock and barrier
 * calls SQLite makes on the database file around publishing a commit to
 * other connections. So the bytes reach the disk in the same order as
 * before and before the same fsync, and no other connection can be told of
 * frames that are not yet in the file: durability and what readers see are
 * SQLite's own. An error of a held write is answered by the call that
 * flushes it (the commit's sync, normally), which SQLite handles as a failed
 * write: the transaction fails and rolls back, as with the plain VFS.
 *
 * WAL locks. Under "unix-excl" the first connection takes an exclusive lock
 * on the database file for the whole process, and the WAL index lives in
 * the heap instead of a shared "-shm" file, so the WAL's read and write
 * locks between the store's two connections are taken in memory, not with
 * fcntl(2) (14 calls per round trip before). Other connections of the same
 * process work as usual; another process cannot open the database while
 * the coordinator has it (the store already allows one coordinator per
 * database; inspect a live store through the HTTP API, or copy it).
 *
 * Threads: registration is once and safe from any thread. A file's buffer
 * belongs to the connection that opened the file, which SQLite uses from
 * one thread at a time; nothing is shared between connections.
 */
#ifndef MESH_STORE_VFS_H
#define MESH_STORE_VFS_H

/*
 * Registers the VFS (not as the default) on the first call and returns its
 * name for sqlite3_open_v2; NULL if SQLite has no "unix-excl" VFS to wrap,
 * in which case the caller opens with the default VFS.
 */
const char *store_vfs_name(void);

#endif
