/*
 * db.c - SQLite open, identity check and migrations. Owns the connection
 * it returns (db_close). Never creates tables in a database that is not
 * empty and not ours.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "walbuf.h"

#define DB_APP "relayguard"

/* db_exec - run SQL without results; -1 with a message on error */
int
db_exec(sqlite3 *db, const char *sql, char *err, size_t errsz)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errsz, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * db_run - step a prepared statement that returns no rows to its end and
 * finalize it: 0, or -1 (the error stays on the connection:
 * sqlite3_errmsg)
 */
int
db_run(sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* db_meta_int - an integer of table meta, def if absent */
long long
db_meta_int(sqlite3 *db, const char *key, long long def)
{
	sqlite3_stmt *q;
	long long v = def;

	if (sqlite3_prepare_v2(db, "SELECT CAST(value AS INTEGER) FROM meta "
	    "WHERE key = ?1", -1, &q, NULL) != SQLITE_OK)
		return def;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* db_meta_text - a text of table meta into buf, "" if absent */
void
db_meta_text(sqlite3 *db, const char *key, char *buf, size_t sz)
{
	sqlite3_stmt *q;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1,
	    &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		snprintf(buf, sz, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
}

/* db_meta_put - set a key of table meta; -1 (sqlite3_errmsg) on error */
int
db_meta_put(sqlite3 *db, const char *key, const char *value)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value) "
	    "VALUES (?1, ?2)", -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
	return db_run(q);
}

/* db_begin - BEGIN IMMEDIATE: take the write lock now, not at the first write */
int
db_begin(sqlite3 *db, char *err, size_t errsz)
{
	return db_exec(db, "BEGIN IMMEDIATE", err, errsz);
}

/* db_commit - COMMIT */
int
db_commit(sqlite3 *db, char *err, size_t errsz)
{
	return db_exec(db, "COMMIT", err, errsz);
}

/* db_rollback - ROLLBACK, ignoring "no transaction" */
void
db_rollback(sqlite3 *db)
{
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* int_query - the first column of a one-row query, or -1 */
static long long
int_query(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* is_ours - 1 ours, 0 empty, -1 another application's */
static int
is_ours(sqlite3 *db)
{
	sqlite3_stmt *st;
	int ours = -1;

	if (int_query(db, "SELECT count(*) FROM sqlite_master") == 0)
		return 0;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = "
	    "'application'", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);

		if (v != NULL && strcmp((const char *)v, DB_APP) == 0)
			ours = 1;
	}
	sqlite3_finalize(st);
	return ours;
}

/* sys_err - the SQLite error with the system's reason, if it gave one */
static void
sys_err(sqlite3 *db, char *buf, size_t sz)
{
	int e = sqlite3_system_errno(db);

	if (e != 0)
		snprintf(buf, sz, "%s: %s", sqlite3_errmsg(db), strerror(e));
	else
		snprintf(buf, sz, "%s", sqlite3_errmsg(db));
}

/* new_id - a random database id, 32 hex digits */
static void
new_id(char *buf, size_t sz)
{
	unsigned char r[16];
	size_t i;

	sqlite3_randomness((int)sizeof(r), r);
	buf[0] = '\0';
	for (i = 0; i < sizeof(r) && 2 * i + 2 < sz; i++)
		snprintf(buf + 2 * i, sz - 2 * i, "%02x", r[i]);
}

/* db_open - open, check and migrate the database at path */
sqlite3 *
db_open(const char *path, int flags, const db_migration *migs, int nmigs,
    char *err, size_t errsz)
{
	sqlite3 *db = NULL;
	char buf[512];
	struct stat st;
	long long ver;
	int i, rc, ours, readonly = (flags & DB_READONLY) != 0;

	if (!(flags & DB_CREATE) && stat(path, &st) != 0) {
		int e = errno;

		if (e == ENOENT)
			snprintf(err, errsz, "%s: no such database (only "
			    "`relayguard init` or `collect` creates one; is its "
			    "volume mounted?)", path);
		else
			snprintf(err, errsz, "%s: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	/* a writer's WAL frames gathered into one write a commit
	 * (walbuf.h); SQLite's own VFS if that cannot be registered */
	rc = sqlite3_open_v2(path, &db, readonly ? SQLITE_OPEN_READONLY
	    : (flags & DB_CREATE) ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
	    : SQLITE_OPEN_READWRITE,
	    !readonly && walbuf_register() == 0 ? WALBUF_VFS : NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path, db ? sqlite3_errmsg(db)
		    : sqlite3_errstr(rc));
		sqlite3_close(db);
		errno = EIO;
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	sqlite3_extended_result_codes(db, 1);
	/* touch the file: a non-database fails here, before any write */
	if (int_query(db, "SELECT count(*) FROM sqlite_master") < 0) {
		/* only SQLITE_NOTADB says what the file is; anything else
		 * (permissions, a full disk, an I/O error) is said as it is */
		sys_err(db, buf, sizeof(buf));
		if ((sqlite3_extended_errcode(db) & 0xff) == SQLITE_NOTADB)
			snprintf(err, errsz, "%s: not a relayguard database (%s); "
			    "refusing to touch it", path, buf);
		else
			snprintf(err, errsz, "%s: cannot read the database: %s",
			    path, buf);
		sqlite3_close(db);
		errno = EIO;
		return NULL;
	}
	if ((ours = is_ours(db)) < 0) {
		snprintf(err, errsz, "%s: an SQLite database of another "
		    "application; refusing to touch it", path);
		sqlite3_close(db);
		errno = EIO;
		return NULL;
	}
	if (ours == 0 && !(flags & DB_CREATE) && !readonly) {
		snprintf(err, errsz, "%s: an empty file, not yet a relayguard "
		    "database (only `relayguard init` or `collect` creates "
		    "one)", path);
		sqlite3_close(db);
		errno = ENOENT;
		return NULL;
	}
	ver = int_query(db, "PRAGMA user_version");
	if (nmigs > 0 && ver > migs[nmigs - 1].version) {
		snprintf(err, errsz, "%s: schema version %lld is newer than this "
		    "relayguard knows (%d); refusing to touch it", path, ver,
		    migs[nmigs - 1].version);
		sqlite3_close(db);
		errno = EIO;
		return NULL;
	}
	if (readonly) {
		if (ours == 0) {
			snprintf(err, errsz, "%s: empty database (run collect "
			    "first)", path);
			sqlite3_close(db);
			errno = EIO;
			return NULL;
		}
		return db;
	}
	/*
	 * a new database: 8 KiB pages (SQLite's default is 4). The WAL
	 * writes a page in two pwrite(2) calls and a checkpoint copies it
	 * with two more: half as many for the same bytes, 7% of collect's
	 * CPU on a VM whose system calls are dear (16 KiB: no less CPU, 9%
	 * more instructions in SQLite; bench/README.md). An existing
	 * database keeps its pages.
	 */
	if (ours == 0 && db_exec(db, "PRAGMA page_size = 8192", buf,
	    sizeof(buf)) != 0) {
		snprintf(err, errsz, "%s: %s", path, buf);
		sqlite3_close(db);
		errno = EIO;
		return NULL;
	}
	if (db_exec(db, "PRAGMA journal_mode = WAL", buf, sizeof(buf)) != 0
	    || db_exec(db, "PRAGMA synchronous = NORMAL", buf, sizeof(buf)) != 0
	    /* off: the store keeps its children consistent itself, and
	     * enforcement makes every write statement journal */
	    || db_exec(db, "PRAGMA foreign_keys = OFF", buf, sizeof(buf)) != 0
	    || db_exec(db, "PRAGMA cache_size = -65536", buf, sizeof(buf)) != 0
	    /* statement journals in memory, not a temporary file */
	    || db_exec(db, "PRAGMA temp_store = MEMORY", buf, sizeof(buf)) != 0) {
		snprintf(err, errsz, "%s: %s", path, buf);
		sqlite3_close(db);
		errno = EIO;
		return NULL;
	}
	for (i = 0; i < nmigs; i++) {
		if (migs[i].version <= ver)
			continue;
		if (db_begin(db, buf, sizeof(buf)) != 0
		    || db_exec(db, migs[i].sql, buf, sizeof(buf)) != 0) {
			db_rollback(db);
			snprintf(err, errsz, "%s: migration to version %d: %s",
			    path, migs[i].version, buf);
			sqlite3_close(db);
			errno = EIO;
			return NULL;
		}
		snprintf(buf, sizeof(buf), "PRAGMA user_version = %d; "
		    "INSERT OR REPLACE INTO meta(key, value) VALUES "
		    "('application', '" DB_APP "')", migs[i].version);
		if (db_exec(db, buf, buf, sizeof(buf)) != 0
		    || db_commit(db, buf, sizeof(buf)) != 0) {
			db_rollback(db);
			snprintf(err, errsz, "%s: migration to version %d: %s",
			    path, migs[i].version, buf);
			sqlite3_close(db);
			errno = EIO;
			return NULL;
		}
	}
	/* the id the maps are marked with (analyzer/mapowner.c) */
	db_meta_text(db, "database_id", buf, sizeof(buf));
	if (buf[0] == '\0') {
		new_id(buf, sizeof(buf));
		if (db_meta_put(db, "database_id", buf) != 0) {
			snprintf(err, errsz, "%s: storing the database id: %s",
			    path, sqlite3_errmsg(db));
			sqlite3_close(db);
			errno = EIO;
			return NULL;
		}
	}
	return db;
}

/* db_close - close; NULL is a no-op */
void
db_close(sqlite3 *db)
{
	if (db != NULL)
		sqlite3_close(db);
}
