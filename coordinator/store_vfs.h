/*
 * wal_write_vfs: an SQLite VFS that writes a commit's WAL frames to the
 * file with one system call instead of two per page.
 *
 * SQLite's unix VFS writes each WAL frame as two pwrite(2) calls (its 24-byte
 * header, then the page), so a commit of eight pages costs sixteen system
 * calls before its fsync; on a paravirtualised VM a system call is dear, and
 * these sit on the path of every durable answer (docs/performance.md,
 * finding 8). This VFS wraps the default one and, for WAL files only, holds
 * writes that continue one another in a buffer, handing them to the real
 * file as one write just before anything that needs them there: a sync, a
 * read, a truncate, the file's size, a file control, a write elsewhere in
 * the file, a full buffer, closing the file, and the memory barrier SQLite
 * takes on its database file before it publishes a commit to other
 * connections. So the bytes reach the disk in the same order as before and
 * before the same fsync, and no other connection can be told of frames that
 * are not yet in the file: durability and what readers see are SQLite's own.
 * Every other file (the database, its shared memory) passes straight through.
 *
 * An error of a held write is answered by the call that flushes it (the
 * commit's sync, normally), which SQLite then handles as a failed write:
 * the transaction fails and rolls back, as with the plain VFS.
 *
 * Threads: registration is once and safe from any thread. A file's buffer
 * belongs to the connection that opened the file, which SQLite uses from
 * one thread at a time; nothing is shared between connections.
 */
#ifndef MESH_WAL_WRITE_VFS_H
#define MESH_WAL_WRITE_VFS_H

/*
 * Registers the VFS (not as the default) on the first call and returns its
 * name for sqlite3_open_v2; NULL if SQLite has no default VFS to wrap or is
 * out of memory, in which case the caller opens with the default VFS.
 */
const char *wal_write_vfs_name(void);

#endif
