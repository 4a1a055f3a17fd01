/*
 * classes.c - the ana_classes table's SQL (see classes.h). Owns no state;
 * every call prepares, runs and finalizes its statement on the store's
 * connection. Errors are sqlite3_errmsg with what was being done.
 */
#include <stdio.h>

#include <sqlite3.h>

#include "store_int.h"
#include "classes.h"

/* cls_each - every stored assignment, by class */
int
cls_each(rg_store *st, void (*fn)(void *arg, int cls, const char *user),
    void *arg, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "SELECT class, user FROM ana_classes "
	    "ORDER BY class", -1, &q, NULL) != SQLITE_OK) {
		snprintf(err, errsz, "reading the identity lock classes: %s",
		    sqlite3_errmsg(db));
		return -1;
	}
	while (sqlite3_step(q) == SQLITE_ROW)
		fn(arg, sqlite3_column_int(q, 0),
		    (const char *)sqlite3_column_text(q, 1));
	sqlite3_finalize(q);
	return 0;
}

/* cls_replace - the stored assignments become v */
int
cls_replace(rg_store *st, const cls_row *v, int n, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q = NULL;
	int i, rc = -1;

	if (sqlite3_exec(db, "SAVEPOINT icl; DELETE FROM ana_classes", NULL,
	    NULL, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(db, "INSERT INTO ana_classes(class, user) "
	    "VALUES (?1, ?2)", -1, &q, NULL) != SQLITE_OK)
		goto end;
	for (i = 0; i < n; i++) {
		sqlite3_bind_int(q, 1, v[i].cls);
		sqlite3_bind_text(q, 2, v[i].user, -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE)
			goto end;
		sqlite3_reset(q);
	}
	rc = 0;
end:
	if (rc != 0)
		snprintf(err, errsz, "storing the identity lock classes: %s",
		    sqlite3_errmsg(db));
	sqlite3_finalize(q);
	if (rc != 0)
		sqlite3_exec(db, "ROLLBACK TO icl", NULL, NULL, NULL);
	sqlite3_exec(db, "RELEASE icl", NULL, NULL, NULL);
	return rc;
}

/* cls_of - a user's class, -1: none (or a database error) */
int
cls_of(rg_store *st, const char *user)
{
	sqlite3_stmt *q;
	int c = -1;

	if (sqlite3_prepare_v2(store_db(st), "SELECT class FROM ana_classes "
	    "WHERE user = ?1", -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		c = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return c;
}
