/*
 * locks_sqlite.c - the lock state in the store's SQLite database (tables
 * locks, unlocks, events: schema in collector/store.c), behind locks.h's
 * table of functions. Owns no statement between calls: each call
 * prepares, runs and finalizes its own on the store's connection, inside
 * whatever transaction the caller holds. Errors: sqlite3_errmsg with what
 * was being done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store_int.h"
#include "db.h"
#include "../common/xalloc.h"
#include "locks.h"

/* fail - the SQLite error of what was being done */
static int
fail(sqlite3 *db, const char *what, char *err, size_t errsz)
{
	snprintf(err, errsz, "%s: %s", what, sqlite3_errmsg(db));
	return -1;
}

/* text - a text column, NULL when NULL */
static const char *
text(sqlite3_stmt *q, int i)
{
	return (const char *)sqlite3_column_text(q, i);
}

/* bind_opt - text, or NULL when s is */
static void
bind_opt(sqlite3_stmt *q, int i, const char *s)
{
	if (s != NULL)
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
}

/* sq_each - the locks, in the order asked */
static int
sq_each(void *h, const char *user, lk_order order, lk_lock_fn fn, void *arg,
    char *err, size_t errsz)
{
	static const char *const orders[] = {
		[LK_STORED] = "",
		[LK_MAPS] = " ORDER BY kind, user, identity, until IS NOT NULL, "
		    "until DESC, reason",
		[LK_SHOWN] = " ORDER BY kind DESC, identity, reason",
	};
	sqlite3 *db = h;
	sqlite3_stmt *q;
	char sql[400];

	snprintf(sql, sizeof(sql), "SELECT kind, user, identity, method, "
	    "header, reason, detail, since, COALESCE(until, 0), automatic FROM "
	    "locks%s%s", user != NULL ? " WHERE user = ?1" : "", orders[order]);
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return fail(db, "reading locks", err, errsz);
	bind_opt(q, 1, user);
	while (sqlite3_step(q) == SQLITE_ROW) {
		lk_lock l;

		l.kind = text(q, 0);
		l.user = text(q, 1);
		l.identity = text(q, 2);
		l.method = text(q, 3);
		l.header = text(q, 4);
		l.reason = text(q, 5);
		l.detail = text(q, 6);
		l.since = sqlite3_column_int64(q, 7);
		l.until = sqlite3_column_int64(q, 8);
		l.automatic = sqlite3_column_int(q, 9);
		fn(arg, &l);
	}
	sqlite3_finalize(q);
	return 0;
}

/* sq_longest - a user's longest-lasting user lock */
static int
sq_longest(void *h, const char *user, char *reason, size_t rsz,
    long long *until)
{
	sqlite3_stmt *q;
	int found = 0;

	if (sqlite3_prepare_v2(h, "SELECT reason, COALESCE(until, 0) FROM "
	    "locks WHERE kind = 'user' AND user = ?1 ORDER BY until IS NOT "
	    "NULL, until DESC LIMIT 1", -1, &q, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		snprintf(reason, rsz, "%s", text(q, 0));
		*until = sqlite3_column_int64(q, 1);
		found = 1;
	}
	sqlite3_finalize(q);
	return found;
}

/* sq_find - a lock on kind/user/identity, any reason */
static int
sq_find(void *h, const char *kind, const char *user, const char *identity,
    long long *until)
{
	sqlite3_stmt *q;
	int found = 0;

	*until = 0;
	if (sqlite3_prepare_v2(h, "SELECT COALESCE(until, 0) FROM locks WHERE "
	    "kind = ?1 AND user = ?2 AND identity = ?3", -1, &q, NULL)
	    != SQLITE_OK)
		return 0;
	sqlite3_bind_text(q, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, identity ? identity : "", -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		*until = sqlite3_column_int64(q, 0);
		found = 1;
	}
	sqlite3_finalize(q);
	return found;
}

/* sq_put - insert or replace a lock row */
static int
sq_put(void *h, const lk_lock *l, char *err, size_t errsz)
{
	sqlite3 *db = h;
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO locks(kind, user, "
	    "identity, method, header, reason, detail, since, until, automatic) "
	    "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)", -1, &q, NULL)
	    != SQLITE_OK)
		return fail(db, "storing a lock", err, errsz);
	sqlite3_bind_text(q, 1, l->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, l->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, l->identity ? l->identity : "", -1,
	    SQLITE_STATIC);
	bind_opt(q, 4, l->method);
	bind_opt(q, 5, l->header);
	sqlite3_bind_text(q, 6, l->reason, -1, SQLITE_STATIC);
	bind_opt(q, 7, l->detail);
	sqlite3_bind_int64(q, 8, l->since);
	if (l->until > 0)
		sqlite3_bind_int64(q, 9, l->until);
	sqlite3_bind_int(q, 10, l->automatic);
	if (db_run(q) != 0)
		return fail(db, "storing a lock", err, errsz);
	return 0;
}

/* sq_del - end one lock */
static int
sq_del(void *h, const char *kind, const char *user, const char *identity,
    const char *reason, char *err, size_t errsz)
{
	sqlite3 *db = h;
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "DELETE FROM locks WHERE kind = ?1 AND "
	    "user = ?2 AND identity = ?3 AND reason = ?4", -1, &q, NULL)
	    != SQLITE_OK)
		return fail(db, "ending a lock", err, errsz);
	sqlite3_bind_text(q, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, identity ? identity : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, reason, -1, SQLITE_STATIC);
	if (db_run(q) != 0)
		return fail(db, "ending a lock", err, errsz);
	return 0;
}

/* sq_del_any - end the locks on identity or alt, any reason */
static int
sq_del_any(void *h, const char *kind, const char *user, const char *identity,
    const char *alt, char *err, size_t errsz)
{
	sqlite3 *db = h;
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "DELETE FROM locks WHERE kind = ?1 AND "
	    "user = ?2 AND identity IN (?3, ?4)", -1, &q, NULL) != SQLITE_OK)
		return fail(db, "unlocking", err, errsz);
	sqlite3_bind_text(q, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, identity ? identity : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, alt ? alt : identity ? identity : "", -1,
	    SQLITE_STATIC);
	if (db_run(q) != 0)
		return fail(db, "unlocking", err, errsz);
	return 0;
}

/* sq_unlocks - the automatic-unlock counter (0, 0 if none or unreadable) */
static void
sq_unlocks(void *h, const char *kind, const char *user, const char *identity,
    long long *count, long long *last_since)
{
	sqlite3_stmt *q;

	*count = 0;
	*last_since = 0;
	if (sqlite3_prepare_v2(h, "SELECT count, last_since FROM unlocks "
	    "WHERE kind = ?1 AND user = ?2 AND identity = ?3", -1, &q, NULL)
	    != SQLITE_OK)
		return;
	sqlite3_bind_text(q, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, identity ? identity : "", -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		*count = sqlite3_column_int64(q, 0);
		*last_since = sqlite3_column_int64(q, 1);
	}
	sqlite3_finalize(q);
}

/* sq_set_unlocks - store the counter and the last lock's start */
static int
sq_set_unlocks(void *h, const char *kind, const char *user,
    const char *identity, long long count, long long last_since, char *err,
    size_t errsz)
{
	sqlite3 *db = h;
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO unlocks(kind, "
	    "user, identity, count, last_since) VALUES (?1,?2,?3,?4,?5)", -1,
	    &q, NULL) != SQLITE_OK)
		return fail(db, "counting unlocks", err, errsz);
	sqlite3_bind_text(q, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, identity ? identity : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, count);
	sqlite3_bind_int64(q, 5, last_since);
	if (db_run(q) != 0)
		return fail(db, "counting unlocks", err, errsz);
	return 0;
}

/* sq_event - one decision into events */
static int
sq_event(void *h, const lk_event *e, char *err, size_t errsz)
{
	sqlite3 *db = h;
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "INSERT INTO events(ts, action, kind, "
	    "user, identity, rule, detail) VALUES (?1,?2,?3,?4,?5,?6,?7)", -1,
	    &q, NULL) != SQLITE_OK)
		return fail(db, "recording an event", err, errsz);
	sqlite3_bind_int64(q, 1, e->ts);
	sqlite3_bind_text(q, 2, e->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, e->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, e->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, e->identity ? e->identity : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(q, 6, e->rule, -1, SQLITE_STATIC);
	bind_opt(q, 7, e->detail);
	if (db_run(q) != 0)
		return fail(db, "recording an event", err, errsz);
	return 0;
}

/* sq_recent_locked - users locked automatically in (since, until] */
static int
sq_recent_locked(void *h, long long since, long long until)
{
	sqlite3_stmt *q;
	int n = 0;

	if (sqlite3_prepare_v2(h, "SELECT count(DISTINCT user) FROM events "
	    "WHERE action = 'lock' AND rule IN ('spam', 'invalid') AND ts > ?1 "
	    "AND ts <= ?2", -1, &q, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(q, 1, since);
	sqlite3_bind_int64(q, 2, until);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return n;
}

/* sq_events_each - a user's newest decisions */
static int
sq_events_each(void *h, const char *user, int max, lk_event_fn fn, void *arg)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(h, "SELECT ts, action, kind, identity, rule, "
	    "COALESCE(detail, '') FROM events WHERE user = ?1 ORDER BY ts DESC, "
	    "id DESC LIMIT ?2", -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, max);
	while (sqlite3_step(q) == SQLITE_ROW) {
		lk_event e;

		e.ts = sqlite3_column_int64(q, 0);
		e.action = text(q, 1);
		e.kind = text(q, 2);
		e.user = user;
		e.identity = text(q, 3);
		e.rule = text(q, 4);
		e.detail = text(q, 5);
		fn(arg, &e);
	}
	sqlite3_finalize(q);
	return 0;
}

/* sq_close - nothing of its own: the connection is the store's */
static void
sq_close(void *h)
{
	(void)h;
}

static const lk_backend sqlite_backend = {
	"sqlite", sq_each, sq_longest, sq_find, sq_put, sq_del, sq_del_any,
	sq_unlocks, sq_set_unlocks, sq_event, sq_recent_locked, sq_events_each,
	sq_close,
};

/* lk_open_sqlite - the locks in the store's own database */
lk_store *
lk_open_sqlite(rg_store *st)
{
	lk_store *lk = xcalloc(1, sizeof(*lk));

	lk->be = &sqlite_backend;
	lk->h = store_db(st);
	return lk;
}
