/*
 * db.h - opening relayguard's SQLite database safely.
 *
 * db_open() opens the database (creates it only with DB_CREATE: a missing
 * file is otherwise refused with errno ENOENT) in WAL mode with a busy
 * timeout and foreign keys on, and brings its schema up to date with the
 * caller's migrations, one transaction each, counted by PRAGMA
 * user_version. A file that is not an SQLite database, or an SQLite
 * database of another application (tables but no relayguard mark), or a
 * schema newer than this program, is refused with a clear message and
 * never written to.
 *
 * A writable open gives the database a random id (meta 'database_id') if
 * it has none. A first query that fails for another reason than "not a
 * database" (permissions, disk full, I/O) is reported with SQLite's and
 * the system's words.
 *
 * Errors are returned as -1/NULL with the message in the caller's buffer
 * (sqlite3_errmsg translated, with the file name).
 */
#ifndef RG_DB_H
#define RG_DB_H

#include <sqlite3.h>
#include <stddef.h>

typedef struct db_migration {
	int version;		/* user_version after it */
	const char *sql;
} db_migration;

#define DB_READONLY	1	/* open read-only (must exist) */
#define DB_CREATE	2	/* create a missing file (else: refused, ENOENT) */

sqlite3 *db_open(const char *path, int flags, const db_migration *migs,
    int nmigs, char *err, size_t errsz);
int db_exec(sqlite3 *db, const char *sql, char *err, size_t errsz);
int db_run(sqlite3_stmt *q);
long long db_meta_int(sqlite3 *db, const char *key, long long def);
void db_meta_text(sqlite3 *db, const char *key, char *buf, size_t sz);
int db_meta_put(sqlite3 *db, const char *key, const char *value);
int db_begin(sqlite3 *db, char *err, size_t errsz);
int db_commit(sqlite3 *db, char *err, size_t errsz);
void db_rollback(sqlite3 *db);
void db_close(sqlite3 *db);

#endif
