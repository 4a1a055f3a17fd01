/*
 * walbuf.c - the write-combining VFS of walbuf.h: a shim over SQLite's
 * default VFS. Owns, per WAL handle and per database file that a
 * checkpoint wrote through, one buffer (WALBUF_CAP bytes, taken at its
 * first held write) and, for the process, the list of the database
 * files open through it (under a mutex: connections are opened by
 * several threads). Fails as the wrapped VFS fails; a write held here
 * that cannot be written later is returned as that later call's error,
 * except at a checkpoint's end and in a barrier, where it stops the
 * process (wb_fatal; walbuf.h says why).
 *
 * How a WAL finds its database file: SQLite hands the VFS the name of a
 * database's WAL in the same allocation as the database's own name (the
 * pager's), so sqlite3_filename_database() of the WAL's name is the very
 * pointer the database file was opened with. Two connections to one
 * database (the writer and its checkpoints) have two such pointers.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "walbuf.h"

#define WALBUF_CAP	(512u << 10)
#define WRITE_MAX	((1u << 17) - 4096)	/* one write(2) (wb_flush) */
#define FRAME_HDR	24	/* a WAL frame's header: SQLite's WAL_FRAME_HDRSIZE */

enum { WB_OTHER, WB_MAIN, WB_WAL };

typedef struct wb_file wb_file;
struct wb_file {
	sqlite3_file base;	/* pMethods: ours */
	sqlite3_file *real;	/* the wrapped VFS's file, after this struct */
	int kind;
	/* a database file */
	const char *name;	/* the pointer SQLite opened it with */
	wb_file *wal;		/* its WAL, if held (same connection) */
	wb_file *next;		/* the list of database files */
	/* a WAL */
	wb_file *db;		/* its database file; NULL: pass through */
	char *buf;		/* held bytes, for file offset off */
	size_t len;
	sqlite3_int64 off;
	sqlite3_int64 end;	/* where this handle's last write ended */
	int commit_next;	/* the write after a commit frame's header */
	int in_ckpt;		/* a database file inside a checkpoint's copy */
};

static sqlite3_vfs wb_vfs;
static sqlite3_vfs *wb_base;
static pthread_mutex_t wb_mu = PTHREAD_MUTEX_INITIALIZER;
static wb_file *wb_dbs;
static long long wb_n_held, wb_n_writes;	/* walbuf_counts (atomic) */

#define REAL(f)	((f)->real)
#define RM(f)	((f)->real->pMethods)

/*
 * wb_flush - write what is held: SQLite's code, or OK. In pieces of
 * WRITE_MAX: the unix VFS writes at most 128 KiB - 1 per call (it masks
 * the length), and a write of a multiple of 128 KiB comes back as
 * SQLITE_FULL.
 */
static int
wb_flush(wb_file *f)
{
	size_t done = 0, n;
	int rc = SQLITE_OK;

	while (done < f->len && rc == SQLITE_OK) {
		__atomic_fetch_add(&wb_n_writes, 1, __ATOMIC_RELAXED);
		n = f->len - done < WRITE_MAX ? f->len - done : WRITE_MAX;
		rc = RM(f)->xWrite(REAL(f), f->buf + done, (int)n,
		    f->off + (sqlite3_int64)done);
		done += n;
	}
	f->len = 0;
	f->commit_next = 0;
	return rc;
}

/*
 * wb_fatal - what was held cannot be written, and SQLite is about to
 * publish it (a commit, or a checkpoint's progress) with no way to be
 * told: stop the process before it does, as a crash would (the WAL still
 * holds everything; the next run recovers). The one exit of the store.
 */
static void
wb_fatal(const wb_file *f, const char *what)
{
	fprintf(stderr, "relayguard: %s: cannot write %s (a full disk?); "
	    "stopping before SQLite counts on it, nothing is lost\n",
	    f->name != NULL ? f->name : "the database", what);
	_exit(75);			/* EX_TEMPFAIL */
}

/* wb_flush_db - in a barrier or lock of f's database: what f and its WAL
 * hold */
static void
wb_flush_db(wb_file *f)
{
	if (f->wal != NULL && f->wal->len > 0 && wb_flush(f->wal) != SQLITE_OK)
		wb_fatal(f, "the WAL's frames before a commit");
	if (f->len > 0 && wb_flush(f) != SQLITE_OK)
		wb_fatal(f, "the pages of a checkpoint");
}

static int
wb_close(sqlite3_file *pf)
{
	wb_file *f = (wb_file *)pf, **pp;
	int rc = SQLITE_OK, rc2;

	if (f->kind == WB_WAL) {
		rc = wb_flush(f);
		pthread_mutex_lock(&wb_mu);
		if (f->db != NULL)
			f->db->wal = NULL;
		pthread_mutex_unlock(&wb_mu);
		free(f->buf);
	} else if (f->kind == WB_MAIN) {
		pthread_mutex_lock(&wb_mu);
		for (pp = &wb_dbs; *pp != NULL; pp = &(*pp)->next)
			if (*pp == f) {
				*pp = f->next;
				break;
			}
		if (f->wal != NULL) {
			wb_flush_db(f);
			f->wal->db = NULL;
		}
		pthread_mutex_unlock(&wb_mu);
		rc = wb_flush(f);
		free(f->buf);
	}
	rc2 = RM(f)->xClose(REAL(f));
	return rc != SQLITE_OK ? rc : rc2;
}

static int
wb_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 off)
{
	wb_file *f = (wb_file *)pf;
	int rc = wb_flush(f);

	return rc != SQLITE_OK ? rc : RM(f)->xRead(REAL(f), p, n, off);
}

/*
 * wb_write - hold a WAL's write if it starts where this handle's last
 * write ended, a database file's inside a checkpoint's copy if it follows
 * what is held (or nothing is); otherwise write what is held, then this
 */
static int
wb_write(sqlite3_file *pf, const void *p, int n, sqlite3_int64 off)
{
	wb_file *f = (wb_file *)pf;
	int rc;

	if (!(f->kind == WB_WAL ? f->db != NULL : f->in_ckpt) || n <= 0)
		goto through;
	if ((off == f->end || (f->in_ckpt && f->len == 0))
	    && (size_t)n <= WALBUF_CAP) {
		if (f->len + (size_t)n > WALBUF_CAP
		    && (rc = wb_flush(f)) != SQLITE_OK)
			return rc;
		if (f->buf == NULL && (f->buf = malloc(WALBUF_CAP)) == NULL)
			goto through;
		if (f->len == 0)
			f->off = off;
		memcpy(f->buf + f->len, p, (size_t)n);
		f->len += (size_t)n;
		__atomic_fetch_add(&wb_n_held, 1, __ATOMIC_RELAXED);
		f->end = off + n;
		if (f->commit_next)
			return wb_flush(f);	/* the commit frame's page */
		if (n == FRAME_HDR && f->kind == WB_WAL) {
			const unsigned char *h = p;

			/* bytes 4-7: the database's size after a commit */
			f->commit_next = (h[4] | h[5] | h[6] | h[7]) != 0;
		}
		return SQLITE_OK;
	}
through:
	if ((rc = wb_flush(f)) != SQLITE_OK)
		return rc;
	f->end = off + n;
	return RM(f)->xWrite(REAL(f), p, n, off);
}

static int
wb_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	wb_file *f = (wb_file *)pf;
	int rc = wb_flush(f);

	if (rc != SQLITE_OK)
		return rc;
	f->end = size;
	return RM(f)->xTruncate(REAL(f), size);
}

static int
wb_sync(sqlite3_file *pf, int flags)
{
	wb_file *f = (wb_file *)pf;
	int rc = wb_flush(f);

	return rc != SQLITE_OK ? rc : RM(f)->xSync(REAL(f), flags);
}

static int
wb_size(sqlite3_file *pf, sqlite3_int64 *size)
{
	wb_file *f = (wb_file *)pf;
	int rc = wb_flush(f);

	return rc != SQLITE_OK ? rc : RM(f)->xFileSize(REAL(f), size);
}

static int
wb_lock(sqlite3_file *pf, int lock)
{
	wb_file *f = (wb_file *)pf;
	int rc = wb_flush(f);

	return rc != SQLITE_OK ? rc : RM(f)->xLock(REAL(f), lock);
}

static int
wb_unlock(sqlite3_file *pf, int lock)
{
	wb_file *f = (wb_file *)pf;
	int rc = wb_flush(f);

	return rc != SQLITE_OK ? rc : RM(f)->xUnlock(REAL(f), lock);
}

static int
wb_reserved(sqlite3_file *pf, int *out)
{
	wb_file *f = (wb_file *)pf;

	return RM(f)->xCheckReservedLock(REAL(f), out);
}

static int
wb_fcntl(sqlite3_file *pf, int op, void *arg)
{
	wb_file *f = (wb_file *)pf;
	int rc;

	/*
	 * a checkpoint's copy, on its database file: the pages it writes,
	 * in the order of their numbers, are held and go out in runs. At
	 * its end SQLite ignores what this returns and counts the pages
	 * copied: a failure to write them stops the process (wb_fatal).
	 * Only inside this window: with a rollback journal, a write to the
	 * database file must not wait past the journal's deletion.
	 */
	if (f->kind == WB_MAIN && op == SQLITE_FCNTL_CKPT_DONE) {
		if (wb_flush(f) != SQLITE_OK)
			wb_fatal(f, "the pages of a checkpoint");
		f->in_ckpt = 0;
		return RM(f)->xFileControl(REAL(f), op, arg);
	}
	if ((rc = wb_flush(f)) != SQLITE_OK)
		return rc;
	if (f->kind == WB_MAIN && op == SQLITE_FCNTL_CKPT_START)
		f->in_ckpt = 1;
	if (op == SQLITE_FCNTL_VFSNAME) {
		/* say this shim in front of the wrapped VFS's name */
		int rc2 = RM(f)->xFileControl(REAL(f), op, arg);

		if (rc2 == SQLITE_OK && *(char **)arg != NULL) {
			char *s = sqlite3_mprintf("%s/%z", WALBUF_VFS,
			    *(char **)arg);

			*(char **)arg = s;
		}
		return rc2;
	}
	return RM(f)->xFileControl(REAL(f), op, arg);
}

static int
wb_sector(sqlite3_file *pf)
{
	wb_file *f = (wb_file *)pf;

	return RM(f)->xSectorSize(REAL(f));
}

static int
wb_devchar(sqlite3_file *pf)
{
	wb_file *f = (wb_file *)pf;

	return RM(f)->xDeviceCharacteristics(REAL(f));
}

static int
wb_shm_map(sqlite3_file *pf, int pg, int sz, int extend, void volatile **pp)
{
	wb_file *f = (wb_file *)pf;

	return RM(f)->xShmMap(REAL(f), pg, sz, extend, pp);
}

static int
wb_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
	wb_file *f = (wb_file *)pf;

	wb_flush_db(f);
	return RM(f)->xShmLock(REAL(f), offset, n, flags);
}

static void
wb_shm_barrier(sqlite3_file *pf)
{
	wb_file *f = (wb_file *)pf;

	wb_flush_db(f);
	RM(f)->xShmBarrier(REAL(f));
}

static int
wb_shm_unmap(sqlite3_file *pf, int del)
{
	wb_file *f = (wb_file *)pf;

	return RM(f)->xShmUnmap(REAL(f), del);
}

static int
wb_fetch(sqlite3_file *pf, sqlite3_int64 off, int n, void **pp)
{
	wb_file *f = (wb_file *)pf;
	int rc = wb_flush(f);

	return rc != SQLITE_OK ? rc : RM(f)->xFetch(REAL(f), off, n, pp);
}

static int
wb_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
	wb_file *f = (wb_file *)pf;

	return RM(f)->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods wb_methods = {
	3, wb_close, wb_read, wb_write, wb_truncate, wb_sync, wb_size,
	wb_lock, wb_unlock, wb_reserved, wb_fcntl, wb_sector, wb_devchar,
	wb_shm_map, wb_shm_lock, wb_shm_barrier, wb_shm_unmap, wb_fetch,
	wb_unfetch
};

/* wb_open - open through the wrapped VFS; remember a database, find a
 * WAL's database */
static int
wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags,
    int *out)
{
	wb_file *f = (wb_file *)pf;
	int rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	rc = wb_base->xOpen(wb_base, name, f->real, flags, out);
	if (rc != SQLITE_OK || f->real->pMethods == NULL) {
		/* SQLite calls no method of a file whose open failed */
		pf->pMethods = NULL;
		return rc;
	}
	if (f->real->pMethods->iVersion < 3) {
		f->kind = WB_OTHER;	/* no shared memory: not WAL's way */
	} else if ((flags & SQLITE_OPEN_MAIN_DB) && name != NULL) {
		f->kind = WB_MAIN;
		f->name = name;
		pthread_mutex_lock(&wb_mu);
		f->next = wb_dbs;
		wb_dbs = f;
		pthread_mutex_unlock(&wb_mu);
	} else if ((flags & SQLITE_OPEN_WAL) && name != NULL) {
		const char *dbname = sqlite3_filename_database(name);
		wb_file *d;

		f->kind = WB_WAL;
		pthread_mutex_lock(&wb_mu);
		for (d = wb_dbs; d != NULL; d = d->next)
			if (d->name == dbname && d->wal == NULL) {
				d->wal = f;
				f->db = d;
				break;
			}
		pthread_mutex_unlock(&wb_mu);
	}
	pf->pMethods = &wb_methods;
	return SQLITE_OK;
}

/* the rest of the VFS: the wrapped one's */
static int
wb_delete(sqlite3_vfs *v, const char *name, int sync)
{
	(void)v;
	return wb_base->xDelete(wb_base, name, sync);
}

static int
wb_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	(void)v;
	return wb_base->xAccess(wb_base, name, flags, out);
}

static int
wb_fullpath(sqlite3_vfs *v, const char *name, int n, char *out)
{
	(void)v;
	return wb_base->xFullPathname(wb_base, name, n, out);
}

static void *
wb_dlopen(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return wb_base->xDlOpen(wb_base, name);
}

static void
wb_dlerror(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	wb_base->xDlError(wb_base, n, out);
}

static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return wb_base->xDlSym(wb_base, h, sym);
}

static void
wb_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	wb_base->xDlClose(wb_base, h);
}

static int
wb_random(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return wb_base->xRandomness(wb_base, n, out);
}

static int
wb_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return wb_base->xSleep(wb_base, us);
}

static int
wb_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return wb_base->xCurrentTime(wb_base, out);
}

static int
wb_lasterr(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return wb_base->xGetLastError ? wb_base->xGetLastError(wb_base, n,
	    out) : 0;
}

static int
wb_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	return wb_base->xCurrentTimeInt64(wb_base, out);
}

static pthread_once_t wb_once = PTHREAD_ONCE_INIT;
static int wb_ok;

/* wb_init - build the VFS over the default one and register it */
static void
wb_init(void)
{
	sqlite3_vfs *base = sqlite3_vfs_find(NULL);

	if (base == NULL || base->iVersion < 2
	    || base->xCurrentTimeInt64 == NULL)
		return;
	wb_base = base;
	wb_vfs.iVersion = 2;
	wb_vfs.szOsFile = (int)sizeof(wb_file) + base->szOsFile;
	wb_vfs.mxPathname = base->mxPathname;
	wb_vfs.zName = WALBUF_VFS;
	wb_vfs.xOpen = wb_open;
	wb_vfs.xDelete = wb_delete;
	wb_vfs.xAccess = wb_access;
	wb_vfs.xFullPathname = wb_fullpath;
	wb_vfs.xDlOpen = wb_dlopen;
	wb_vfs.xDlError = wb_dlerror;
	wb_vfs.xDlSym = wb_dlsym;
	wb_vfs.xDlClose = wb_dlclose;
	wb_vfs.xRandomness = wb_random;
	wb_vfs.xSleep = wb_sleep;
	wb_vfs.xCurrentTime = wb_time;
	wb_vfs.xGetLastError = wb_lasterr;
	wb_vfs.xCurrentTimeInt64 = wb_time64;
	wb_ok = sqlite3_vfs_register(&wb_vfs, 0) == SQLITE_OK;
}

/* walbuf_register - register the VFS (once; not the default): 0, or -1 */
int
walbuf_register(void)
{
	pthread_once(&wb_once, wb_init);
	return wb_ok ? 0 : -1;
}

/* walbuf_counts - the writes held, and the calls that wrote them */
void
walbuf_counts(long long *held, long long *writes)
{
	*held = __atomic_load_n(&wb_n_held, __ATOMIC_RELAXED);
	*writes = __atomic_load_n(&wb_n_writes, __ATOMIC_RELAXED);
}
