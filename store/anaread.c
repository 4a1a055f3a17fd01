/*
 * anaread.c - the analyzer's reads of the collector's records (see
 * anaread.h). Owns no state between calls but the queue reader's and the
 * cursor's statements; every read is one prepared statement on the
 * store's connection. Errors: sqlite3_errmsg with what was being read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store_int.h"
#include "db.h"
#include "../common/xalloc.h"
#include "anaread.h"

/* text - a text column, NULL when NULL */
static const char *
text(sqlite3_stmt *q, int i)
{
	return (const char *)sqlite3_column_text(q, i);
}

/* fail - the SQLite error of what was being read */
static int
fail(rg_store *st, const char *what, char *err, size_t errsz)
{
	if (what != NULL)
		snprintf(err, errsz, "%s: %s", what,
		    sqlite3_errmsg(store_db(st)));
	else
		snprintf(err, errsz, "%s", sqlite3_errmsg(store_db(st)));
	return -1;
}

/* window - prepare sql and bind (since, until] as ?1, ?2 */
static sqlite3_stmt *
window(rg_store *st, const char *sql, long long since, long long until)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(q, 1, since);
	sqlite3_bind_int64(q, 2, until);
	return q;
}

/* ard_loss_mark - up to when log losses were reported (-1: never) */
long long
ard_loss_mark(rg_store *st)
{
	return db_meta_int(store_db(st), "ana_loss", -1);
}

/* ard_set_loss_mark - reported up to now */
int
ard_set_loss_mark(rg_store *st, long long now, char *err, size_t errsz)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", now);
	if (db_meta_put(store_db(st), "ana_loss", buf) != 0)
		return fail(st, "noting log losses", err, errsz);
	return 0;
}

/* ard_losses - the log losses in (since, until], by time */
int
ard_losses(rg_store *st, long long since, long long until,
    int (*fn)(void *arg, const char *source, long long ts, long long count,
    const char *text), void *arg, char *err, size_t errsz)
{
	sqlite3_stmt *q;
	int rc = 0;

	if ((q = window(st, "SELECT source, ts, count, text FROM log_loss WHERE "
	    "ts > ?1 AND ts <= ?2 ORDER BY ts, id", since, until)) == NULL)
		return fail(st, "reading log losses", err, errsz);
	while (rc == 0 && sqlite3_step(q) == SQLITE_ROW)
		rc = fn(arg, text(q, 0), sqlite3_column_int64(q, 1),
		    sqlite3_column_int64(q, 2), text(q, 3));
	sqlite3_finalize(q);
	return rc;
}

/* ard_header_values - every distinct uncut value of a header */
int
ard_header_values(rg_store *st, const char *name,
    void (*fn)(void *arg, const char *value), void *arg)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(store_db(st), "SELECT DISTINCT value FROM "
	    "headers WHERE lower(name) = lower(?1) AND cut = 0", -1, &q, NULL)
	    != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	while (sqlite3_step(q) == SQLITE_ROW)
		fn(arg, text(q, 0));
	sqlite3_finalize(q);
	return 0;
}

struct ard_queue {
	sqlite3_stmt *q;
};

/* ard_queue_new - the reader of queued messages' senders */
ard_queue *
ard_queue_new(rg_store *st, char *err, size_t errsz)
{
	ard_queue *aq = xcalloc(1, sizeof(*aq));

	if (sqlite3_prepare_v2(store_db(st), "SELECT sasl_username, client_ip "
	    "FROM messages WHERE queue_id = ?1 AND kind = 'message' ORDER BY "
	    "open DESC, last_seen DESC LIMIT 1", -1, &aq->q, NULL)
	    != SQLITE_OK) {
		fail(st, NULL, err, errsz);
		free(aq);
		return NULL;
	}
	return aq;
}

/* ard_queue_owner - login and client address of queue id qid */
int
ard_queue_owner(ard_queue *aq, const char *qid, char **sasl, char **ip)
{
	int found = 0;

	*sasl = *ip = NULL;
	sqlite3_bind_text(aq->q, 1, qid, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(aq->q) == SQLITE_ROW) {
		if (text(aq->q, 0) != NULL)
			*sasl = xstrdup(text(aq->q, 0));
		if (text(aq->q, 1) != NULL)
			*ip = xstrdup(text(aq->q, 1));
		found = 1;
	}
	sqlite3_reset(aq->q);
	return found;
}

/* ard_queue_free - release; NULL is a no-op */
void
ard_queue_free(ard_queue *aq)
{
	if (aq == NULL)
		return;
	sqlite3_finalize(aq->q);
	free(aq);
}

/* ard_spam_in - messages with a spam verdict in (since, until] */
int
ard_spam_in(rg_store *st, long long since, long long until,
    void (*fn)(void *arg, const ard_msg *m), void *arg)
{
	sqlite3_stmt *q;
	ard_msg m;

	if ((q = window(st, "SELECT m.first_seen, m.sasl_username, "
	    "m.client_ip, m.sender, v.source FROM messages m JOIN verdicts v ON "
	    "v.message = m.id WHERE v.spam = 1 AND m.first_seen > ?1 AND "
	    "m.first_seen <= ?2", since, until)) == NULL)
		return -1;
	memset(&m, 0, sizeof(m));
	while (sqlite3_step(q) == SQLITE_ROW) {
		m.t = sqlite3_column_int64(q, 0);
		m.sasl = text(q, 1);
		m.ip = text(q, 2);
		m.sender = text(q, 3);
		m.source = text(q, 4);
		fn(arg, &m);
	}
	sqlite3_finalize(q);
	return 0;
}

/* ard_spam_newest - the newest messages with a spam verdict */
int
ard_spam_newest(rg_store *st, int max,
    int (*fn)(void *arg, const ard_msg *m), void *arg)
{
	sqlite3_stmt *q;
	ard_msg m;
	int rc = 0;

	if (sqlite3_prepare_v2(store_db(st), "SELECT m.first_seen, m.host, "
	    "COALESCE(m.queue_id, 'NOQUEUE'), m.sasl_username, m.client_ip, "
	    "m.sender, v.source, v.score FROM messages m JOIN verdicts v ON "
	    "v.message = m.id WHERE v.spam = 1 ORDER BY m.first_seen DESC "
	    "LIMIT ?1", -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int(q, 1, max);
	memset(&m, 0, sizeof(m));
	while (rc == 0 && sqlite3_step(q) == SQLITE_ROW) {
		m.t = sqlite3_column_int64(q, 0);
		m.host = text(q, 1);
		m.queue_id = text(q, 2);
		m.sasl = text(q, 3);
		m.ip = text(q, 4);
		m.sender = text(q, 5);
		m.source = text(q, 6);
		m.score = text(q, 7);
		rc = fn(arg, &m);
	}
	sqlite3_finalize(q);
	return 0;
}

/* ard_sessions_in - sessions that queued mail in (since, until] */
int
ard_sessions_in(rg_store *st, long long since, long long until,
    void (*fn)(void *arg, long long t, const char *sasl, const char *ip),
    void *arg)
{
	sqlite3_stmt *q;

	if ((q = window(st, "SELECT COALESCE(connect, last_seen), "
	    "sasl_username, client_ip FROM sessions WHERE messages > 0 AND "
	    "COALESCE(connect, last_seen) > ?1 AND COALESCE(connect, last_seen) "
	    "<= ?2", since, until)) == NULL)
		return -1;
	while (sqlite3_step(q) == SQLITE_ROW)
		fn(arg, sqlite3_column_int64(q, 0), text(q, 1), text(q, 2));
	sqlite3_finalize(q);
	return 0;
}

/* ard_recipients_in - recipients of the mail first seen in the window */
int
ard_recipients_in(rg_store *st, long long since, long long until,
    void (*fn)(void *arg, const ard_rcpt *r), void *arg)
{
	sqlite3_stmt *q;
	ard_rcpt r;

	if ((q = window(st, "SELECT m.first_seen, m.sasl_username, "
	    "m.client_ip, m.sender, r.address, r.dsn, r.status, m.kind FROM "
	    "recipients r JOIN messages m ON r.message = m.id WHERE "
	    "m.first_seen > ?1 AND m.first_seen <= ?2 AND m.bounce_of IS NULL",
	    since, until)) == NULL)
		return -1;
	while (sqlite3_step(q) == SQLITE_ROW) {
		r.t = sqlite3_column_int64(q, 0);
		r.sasl = text(q, 1);
		r.ip = text(q, 2);
		r.sender = text(q, 3);
		r.address = text(q, 4);
		r.dsn = text(q, 5);
		r.status = text(q, 6);
		r.kind = text(q, 7);
		fn(arg, &r);
	}
	sqlite3_finalize(q);
	return 0;
}

struct ard_cursor {
	sqlite3_stmt *hq;	/* the headers of a message */
	long long id;		/* the current message */
};

/* ard_outgoing_since - the users' own messages since, with the cursor */
int
ard_outgoing_since(rg_store *st, long long since,
    void (*fn)(void *arg, ard_cursor *cur, const ard_msg *m), void *arg,
    char *err, size_t errsz)
{
	sqlite3_stmt *q = NULL;
	ard_cursor cur;
	ard_msg m;

	memset(&cur, 0, sizeof(cur));
	if (sqlite3_prepare_v2(store_db(st), "SELECT m.id, m.sasl_username, "
	    "m.client_ip, m.sender, (SELECT v.source FROM verdicts v WHERE "
	    "v.message = m.id AND v.spam = 1) FROM messages m WHERE "
	    "m.first_seen >= ?1 AND m.kind = 'message' AND m.bounce_of IS NULL "
	    "AND m.filtered_as IS NULL", -1, &q, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(store_db(st), "SELECT name, value, cut FROM "
	    "headers WHERE message = ?1", -1, &cur.hq, NULL) != SQLITE_OK) {
		fail(st, NULL, err, errsz);
		sqlite3_finalize(q);
		return -1;
	}
	sqlite3_bind_int64(q, 1, since);
	memset(&m, 0, sizeof(m));
	while (sqlite3_step(q) == SQLITE_ROW) {
		m.id = cur.id = sqlite3_column_int64(q, 0);
		m.sasl = text(q, 1);
		m.ip = text(q, 2);
		m.sender = text(q, 3);
		m.source = text(q, 4);
		fn(arg, &cur, &m);
	}
	sqlite3_finalize(q);
	sqlite3_finalize(cur.hq);
	return 0;
}

/* ard_cursor_headers - the current message's stored headers, copied */
int
ard_cursor_headers(ard_cursor *cur, rul_header *hs, int max)
{
	int nh = 0;

	sqlite3_bind_int64(cur->hq, 1, cur->id);
	while (nh < max && sqlite3_step(cur->hq) == SQLITE_ROW) {
		hs[nh].name = xstrdup(text(cur->hq, 0));
		hs[nh].value = xstrdup(text(cur->hq, 1));
		hs[nh].cut = sqlite3_column_int(cur->hq, 2);
		nh++;
	}
	sqlite3_reset(cur->hq);
	return nh;
}

/* ard_headers_free - release what ard_cursor_headers copied */
void
ard_headers_free(rul_header *hs, int nh)
{
	while (nh-- > 0) {
		free((char *)hs[nh].name);
		free((char *)hs[nh].value);
	}
}
