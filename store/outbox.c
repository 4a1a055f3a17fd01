/*
 * outbox.c - the outbox table's SQL (see outbox.h). Owns no state: every
 * call prepares, runs and finalizes its statement on the caller's handle.
 * Errors are sqlite3_errmsg with what was being done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "../common/xalloc.h"
#include "store_int.h"
#include "outbox.h"

#define COLS "id, kind, ref, user, mail_from, rcpt, subject, message_id, " \
	"created, next_try, done, attempts, status, last_reply"

/* fail - the SQLite error of what was being done */
static int
fail(sqlite3 *db, const char *what, char *err, size_t errsz)
{
	snprintf(err, errsz, "outbox: %s: %s", what, sqlite3_errmsg(db));
	return -1;
}

/* dup_col - a text column, NULL when NULL */
static char *
dup_col(sqlite3_stmt *q, int i)
{
	const unsigned char *s = sqlite3_column_text(q, i);

	return s ? xstrdup((const char *)s) : NULL;
}

/* bind_opt - text or NULL */
static void
bind_opt(sqlite3_stmt *q, int i, const char *s)
{
	if (s != NULL)
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

/* row - the COLS of a row into m */
static void
row(sqlite3_stmt *q, ob_mail *m)
{
	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(q, 0);
	m->kind = dup_col(q, 1);
	m->ref = dup_col(q, 2);
	m->user = dup_col(q, 3);
	m->from = dup_col(q, 4);
	m->rcpt = dup_col(q, 5);
	m->subject = dup_col(q, 6);
	m->message_id = dup_col(q, 7);
	m->created = sqlite3_column_int64(q, 8);
	m->next_try = sqlite3_column_int64(q, 9);
	m->done = sqlite3_column_int64(q, 10);
	m->attempts = sqlite3_column_int(q, 11);
	m->status = dup_col(q, 12);
	m->last_reply = dup_col(q, 13);
}

/* ob_enqueue - insert one composed mail */
int
ob_enqueue(rg_store *st, const ob_mail *m, long long *id, char *err,
    size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT INTO outbox(kind, ref, user, "
	    "mail_from, rcpt, subject, message_id, body, created, next_try) "
	    "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10) ON CONFLICT(ref) DO "
	    "NOTHING", -1, &q, NULL) != SQLITE_OK)
		return fail(db, "queueing a mail", err, errsz);
	sqlite3_bind_text(q, 1, m->kind, -1, SQLITE_STATIC);
	bind_opt(q, 2, m->ref);
	bind_opt(q, 3, m->user);
	sqlite3_bind_text(q, 4, m->from, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, m->rcpt, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, m->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, m->message_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 8, m->body, (int)m->len, SQLITE_STATIC);
	sqlite3_bind_int64(q, 9, m->created);
	sqlite3_bind_int64(q, 10, m->next_try);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return fail(db, "queueing a mail", err, errsz);
	if (sqlite3_changes(db) == 0)
		return 1;
	if (id != NULL)
		*id = sqlite3_last_insert_rowid(db);
	return 0;
}

/* ob_ref_taken - does a mail with this ref exist (any status)? */
int
ob_ref_taken(rg_store *st, const char *ref, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM outbox WHERE ref = ?1", -1,
	    &q, NULL) != SQLITE_OK)
		return fail(db, "looking a mail up", err, errsz);
	sqlite3_bind_text(q, 1, ref, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(db, "looking a mail up", err, errsz);
	return rc == SQLITE_ROW;
}

/* ob_update - a queued, untried mail's new subject and body */
int
ob_update(rg_store *st, long long id, const char *subject, const char *body,
    size_t len, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "UPDATE outbox SET subject = ?2, body = ?3 "
	    "WHERE id = ?1 AND status = 'queued'", -1, &q, NULL) != SQLITE_OK)
		return fail(db, "updating a mail", err, errsz);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_text(q, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 3, body, (int)len, SQLITE_STATIC);
	if (db_run(q) != 0)
		return fail(db, "updating a mail", err, errsz);
	return 0;
}

/* ob_due - ids of queued mail whose time has come */
int
ob_due(rg_store *st, long long now, long long *ids, int max, int *n,
    char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;

	*n = 0;
	if (sqlite3_prepare_v2(db, "SELECT id FROM outbox WHERE status = "
	    "'queued' AND next_try <= ?1 ORDER BY next_try, id LIMIT ?2", -1,
	    &q, NULL) != SQLITE_OK)
		return fail(db, "reading due mail", err, errsz);
	sqlite3_bind_int64(q, 1, now);
	sqlite3_bind_int(q, 2, max);
	while (*n < max && sqlite3_step(q) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return 0;
}

/* ob_get - one mail with its body */
int
ob_get(rg_store *st, long long id, ob_mail *m, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT " COLS ", body FROM outbox WHERE "
	    "id = ?1", -1, &q, NULL) != SQLITE_OK)
		return fail(db, "reading a mail", err, errsz);
	sqlite3_bind_int64(q, 1, id);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		row(q, m);
		m->len = (size_t)sqlite3_column_bytes(q, 14);
		m->body = xmalloc(m->len + 1);
		if (m->len)
			memcpy(m->body, sqlite3_column_blob(q, 14), m->len);
		m->body[m->len] = '\0';
	}
	sqlite3_finalize(q);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW)
		return fail(db, "reading a mail", err, errsz);
	return 0;
}

/* mark - one state change of one mail */
static int
mark(sqlite3 *db, const char *sql, long long id, long long t,
    const char *reply, char *err, size_t errsz)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return fail(db, "recording an attempt", err, errsz);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, t);
	bind_opt(q, 3, reply);
	if (db_run(q) != 0)
		return fail(db, "recording an attempt", err, errsz);
	return 0;
}

/* ob_mark_sent - the server took it (250) */
int
ob_mark_sent(rg_store *st, long long id, long long now, const char *reply,
    char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	return mark(db, "UPDATE outbox SET status = 'sent', done = ?2, "
	    "attempts = attempts + 1, last_reply = ?3 WHERE id = ?1", id, now,
	    reply, err, errsz);
}

/* ob_mark_retry - not this time: try again at next_try */
int
ob_mark_retry(rg_store *st, long long id, long long next_try,
    const char *reply, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	return mark(db, "UPDATE outbox SET next_try = ?2, attempts = "
	    "attempts + 1, last_reply = ?3 WHERE id = ?1 AND status = 'queued'",
	    id, next_try, reply, err, errsz);
}

/* ob_mark_failed - refused for good, or too old: kept, not retried */
int
ob_mark_failed(rg_store *st, long long id, long long now, const char *reply,
    char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	return mark(db, "UPDATE outbox SET status = 'failed', done = ?2, "
	    "attempts = attempts + 1, last_reply = ?3 WHERE id = ?1", id, now,
	    reply, err, errsz);
}

/* ob_list - the mail that is not sent (or all of it), oldest first */
int
ob_list(rg_store *st, int all, ob_mail **v, size_t *n, char *err,
    size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	size_t cap = 0;

	*v = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(db, all ? "SELECT " COLS " FROM outbox ORDER BY "
	    "id" : "SELECT " COLS " FROM outbox WHERE status <> 'sent' ORDER BY "
	    "id", -1, &q, NULL) != SQLITE_OK)
		return fail(db, "listing mail", err, errsz);
	while (sqlite3_step(q) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*v = xrealloc(*v, cap * sizeof(ob_mail));
		}
		row(q, &(*v)[(*n)++]);
	}
	sqlite3_finalize(q);
	return 0;
}

/* ob_retry - queue again at once (id < 0: all that are not sent) */
int
ob_retry(rg_store *st, long long id, long long now, int *changed, char *err,
    size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "UPDATE outbox SET status = 'queued', "
	    "next_try = ?2, attempts = 0, done = NULL WHERE status <> 'sent' "
	    "AND (?1 < 0 OR id = ?1)", -1, &q, NULL) != SQLITE_OK)
		return fail(db, "requeueing", err, errsz);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, now);
	if (db_run(q) != 0)
		return fail(db, "requeueing", err, errsz);
	*changed = sqlite3_changes(db);
	return 0;
}

/* ob_drop - delete one mail */
int
ob_drop(rg_store *st, long long id, int *changed, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "DELETE FROM outbox WHERE id = ?1", -1, &q,
	    NULL) != SQLITE_OK)
		return fail(db, "dropping", err, errsz);
	sqlite3_bind_int64(q, 1, id);
	if (db_run(q) != 0)
		return fail(db, "dropping", err, errsz);
	*changed = sqlite3_changes(db);
	return 0;
}

/* ob_last - the newest mail of a kind */
int
ob_last(rg_store *st, const char *kind, ob_mail *m, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT " COLS " FROM outbox WHERE kind = "
	    "?1 ORDER BY id DESC LIMIT 1", -1, &q, NULL) != SQLITE_OK)
		return fail(db, "reading the last mail", err, errsz);
	sqlite3_bind_text(q, 1, kind, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		row(q, m);
	sqlite3_finalize(q);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW)
		return fail(db, "reading the last mail", err, errsz);
	return 0;
}

/* ob_count_since - how many mails of a kind about a user since t */
long long
ob_count_since(rg_store *st, const char *kind, const char *user,
    long long since)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	long long n = 0;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM outbox WHERE kind = "
	    "?1 AND user = ?2 AND created >= ?3", -1, &q, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(q, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, since);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

/* ob_reported - remember a reported message; 0 if it was already */
int
ob_reported(rg_store *st, const char *ref, long long now, char *err,
    size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO mail_reported(ref, "
	    "ts) VALUES (?1, ?2)", -1, &q, NULL) != SQLITE_OK)
		return fail(db, "noting a report", err, errsz);
	sqlite3_bind_text(q, 1, ref, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	if (db_run(q) != 0)
		return fail(db, "noting a report", err, errsz);
	return sqlite3_changes(db) > 0;
}

/* ob_clear - release one mail's strings */
void
ob_clear(ob_mail *m)
{
	if (m == NULL)
		return;
	free(m->kind);
	free(m->ref);
	free(m->user);
	free(m->from);
	free(m->rcpt);
	free(m->subject);
	free(m->message_id);
	free(m->body);
	free(m->status);
	free(m->last_reply);
	memset(m, 0, sizeof(*m));
}

/* ob_free - release a list */
void
ob_free(ob_mail *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		ob_clear(&v[i]);
	free(v);
}
