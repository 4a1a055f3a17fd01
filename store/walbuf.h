/*
 * walbuf.h - an SQLite VFS that gathers a transaction's WAL frames into one
 * write(2).
 *
 * SQLite writes each WAL frame with two pwrite(2) calls (its 24-byte
 * header, then the page): 24,000 calls for 10^6 log lines collected. On a
 * virtual machine whose system calls are dear (about 1 us for a null call
 * here, 2.5 to 4 us for a pwrite of a page) that is a fifth of the
 * collector's writer thread. This VFS wraps the default one and holds the
 * frames a connection appends to its WAL in a buffer of its own, written
 * with one call (or a few: at most 124 KiB a call):
 *
 *   - when the page of a commit frame (a frame header whose "database size
 *     after commit" is not 0) has been added: inside that xWrite, so that a
 *     failure (a full disk) is the commit's error, as without the buffer;
 *   - before anything else touches the file through this handle (a read, a
 *     sync, a truncation, its size, a lock, a file control, the close),
 *     and when the buffer is full or a write is not the next byte after it;
 *   - and, as a second guard, in the database file's xShmBarrier and
 *     xShmLock: SQLite publishes a commit (the wal-index header) across a
 *     barrier, so no other connection or process can be told of a frame
 *     that is still here. Nothing is left to write there in practice.
 *
 * Only writes that start where the handle's last write ended are held.
 * SQLite's rewrites of earlier frames (a page written again in its
 * transaction, checksums rewritten at its commit) and a WAL that starts
 * again at its beginning go straight to the file, after what is held.
 * What reaches the file, and in what order relative to every read, sync
 * and commit of the connection, is what SQLite wrote: a kill -9 at any
 * moment loses at most the frames of a transaction that had not
 * committed, as without the buffer.
 *
 * The database file's writes are held only inside a checkpoint's copy
 * (between SQLite's SQLITE_FCNTL_CKPT_START and _DONE): the pages go in
 * the order of their numbers, 8,000 pwrite(2) calls become 1,800 over
 * 10^6 lines. At CKPT_DONE SQLite ignores what the VFS returns and goes
 * on to count the pages copied; so there, and in a barrier, a failure to
 * write what is held (a full disk) stops the process with exit 75 before
 * SQLite counts on it: as a crash, which the WAL recovers from. The
 * rollback journal and temporary files pass through untouched.
 *
 * A WAL is held only if its database file was opened through this VFS by
 * the same connection (found by SQLite's file name pointer, see walbuf.c);
 * otherwise it passes through too.
 */
#ifndef RG_WALBUF_H
#define RG_WALBUF_H

#define WALBUF_VFS "relayguard-walbuf"

/* walbuf_register - register the VFS (once; not the default): 0, or -1 */
int walbuf_register(void);
/* walbuf_counts - since the process started: the writes SQLite made that
 * were held (WAL frames' headers and pages, a checkpoint's pages), and
 * the write calls that wrote them */
void walbuf_counts(long long *held, long long *writes);

#endif
