/*
 * query.c - the reads of `messages` and `stats` (see query.h). Owns the
 * prepared statement of one iterator; every SQLite error is translated with
 * what was being read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "query.h"
#include "store_int.h"

struct stq_iter {
	rg_store *st;
	sqlite3 *db;
	strbuf json;			/* the message's JSON, rebuilt */
	int want_json;			/* ... only if asked for */
	sqlite3_stmt *q;
	const char *what;
	char err[512];
};

/* stq_open - prepare sql and bind the period; NULL with err on failure */
static stq_iter *
stq_open(rg_store *st, const char *what, const char *sql, long long since,
    long long until, char *err, size_t errsz)
{
	stq_iter *it = xcalloc(1, sizeof(*it));
	sqlite3 *db = store_db(st);

	it->st = st;
	it->db = db;
	sb_init(&it->json);
	it->what = what;
	if (sqlite3_prepare_v2(db, sql, -1, &it->q, NULL) != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", what, sqlite3_errmsg(db));
		stq_free(it);
		return NULL;
	}
	sqlite3_bind_int64(it->q, 1, since);
	sqlite3_bind_int64(it->q, 2, until);
	return it;
}

/* stq_step - 1 for a row, 0 at the end, -1 with the error kept */
static int
stq_step(stq_iter *it)
{
	int rc = sqlite3_step(it->q);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	snprintf(it->err, sizeof(it->err), "%s: %s", it->what,
	    sqlite3_errmsg(it->db));
	return -1;
}

/* col - a text column, NULL if NULL */
static const char *
col(sqlite3_stmt *q, int i)
{
	return (const char *)sqlite3_column_text(q, i);
}

/* stq_messages - the messages of a period, by time */
stq_iter *
stq_messages(rg_store *st, long long since, long long until,
    const char *sender, int want_json, char *err, size_t errsz)
{
	stq_iter *it = stq_open(st, "reading the messages",
	    "SELECT json, first_seen, host, queue_id, sasl_username, client_ip, "
	    "sender, (SELECT count(*) FROM recipients WHERE message = id), "
	    "(SELECT group_concat(status, ',') FROM (SELECT DISTINCT status FROM "
	    "recipients WHERE message = id)), COALESCE(spam, 0), complete, "
	    "reject_dsn, held, COALESCE(rec, (SELECT state FROM open_msgs o "
	    "WHERE o.id = messages.id)), id FROM messages WHERE first_seen >= ?1 "
	    "AND first_seen < ?2 AND (?3 IS NULL OR sender = ?3) "
	    "ORDER BY first_seen, host, queue_id, id", since, until, err,
	    errsz);

	if (it != NULL)
		it->want_json = want_json;
	if (it != NULL && sender != NULL)
		sqlite3_bind_text(it->q, 3, sender, -1, SQLITE_TRANSIENT);
	return it;
}

/* stq_msg_next - the next message */
int
stq_msg_next(stq_iter *it, stq_msg *m)
{
	sqlite3_stmt *q = it->q;
	int r;

	if ((r = stq_step(it)) != 1)
		return r;
	memset(m, 0, sizeof(*m));
	/* the JSON rebuilt from the record (or a row of schema 5) */
	if (it->want_json) {
		sb_reset(&it->json);
		if (store_message_json(it->st, sqlite3_column_int64(q, 14),
		    sqlite3_column_blob(q, 13),
		    (size_t)sqlite3_column_bytes(q, 13), col(q, 0),
		    (size_t)sqlite3_column_bytes(q, 0), &it->json) != 0) {
			snprintf(it->err, sizeof(it->err), "%s: a damaged "
			    "message record in the database", it->what);
			return -1;
		}
		m->json = it->json.s;
		m->json_len = it->json.len;
	}
	m->first_seen = sqlite3_column_int64(q, 1);
	m->host = col(q, 2);
	m->queue_id = col(q, 3);
	m->sasl = col(q, 4);
	m->client_ip = col(q, 5);
	m->sender = col(q, 6);
	m->nrcpt = sqlite3_column_int64(q, 7);
	m->statuses = col(q, 8);
	m->spam = sqlite3_column_int(q, 9);
	m->complete = sqlite3_column_int(q, 10);
	m->reject_dsn = col(q, 11);
	m->held = sqlite3_column_int(q, 12);
	return 1;
}

/* stq_totals - each counted message of a period and its recipients */
stq_iter *
stq_totals(rg_store *st, long long since, long long until, char *err,
    size_t errsz)
{
	return stq_open(st, "adding up the messages",
	    "SELECT m.sasl_username, m.client_ip, m.sender, "
	    "count(r.message), COALESCE(sum(r.status = 'sent'), 0), "
	    "COALESCE(sum(r.status IN ('bounced', 'expired')), 0), "
	    "COALESCE(sum(r.status = 'deferred'), 0), "
	    "COALESCE(sum(r.status = 'rejected'), 0), "
	    "m.reject_stage IS NOT NULL AND count(r.message) = 0, "
	    "COALESCE(m.spam, 0), COALESCE(m.held, 0), m.host "
	    "FROM messages m LEFT JOIN recipients r ON r.message = m.id "
	    "WHERE m.bounce_of IS NULL AND m.filtered_as IS NULL "
	    "AND m.first_seen >= ?1 AND m.first_seen < ?2 GROUP BY m.id",
	    since, until, err, errsz);
}

/* stq_total_next - the next message's totals */
int
stq_total_next(stq_iter *it, stq_total *t)
{
	sqlite3_stmt *q = it->q;
	int r;

	if ((r = stq_step(it)) != 1)
		return r;
	t->sasl = col(q, 0);
	t->client_ip = col(q, 1);
	t->sender = col(q, 2);
	t->rcpts = sqlite3_column_int64(q, 3);
	t->sent = sqlite3_column_int64(q, 4);
	t->bounced = sqlite3_column_int64(q, 5);
	t->deferred = sqlite3_column_int64(q, 6);
	t->rejected = sqlite3_column_int64(q, 7);
	t->refused = sqlite3_column_int(q, 8);
	t->spam = sqlite3_column_int(q, 9);
	t->held = sqlite3_column_int(q, 10);
	t->host = col(q, 11);
	return 1;
}

/* stq_sessions - the sessions that began in a period */
stq_iter *
stq_sessions(rg_store *st, long long since, long long until, char *err,
    size_t errsz)
{
	return stq_open(st, "reading the sessions",
	    "SELECT sasl_username, client_ip, host FROM sessions WHERE "
	    "COALESCE(connect, last_seen) >= ?1 AND COALESCE(connect, "
	    "last_seen) < ?2", since, until, err, errsz);
}

/* stq_session_next - the next session */
int
stq_session_next(stq_iter *it, stq_session *s)
{
	int r;

	if ((r = stq_step(it)) != 1)
		return r;
	s->sasl = col(it->q, 0);
	s->client_ip = col(it->q, 1);
	s->host = col(it->q, 2);
	return 1;
}

/* stq_strerror - what the last failed step said */
const char *
stq_strerror(const stq_iter *it)
{
	return it->err;
}

/* stq_free - finish the statement; NULL is a no-op */
void
stq_free(stq_iter *it)
{
	if (it == NULL)
		return;
	sqlite3_finalize(it->q);
	if (it->json.s != NULL)
		sb_free(&it->json);
	free(it);
}
