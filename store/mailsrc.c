/*
 * mailsrc.c - the store reads of relayguard's own mail (see mailsrc.h).
 * Owns the statement of one iterator; every other call prepares, runs and
 * finalizes its statements on the caller's handle. Every SQLite error is
 * translated with what was being read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "../common/xalloc.h"
#include "store_int.h"
#include "mailsrc.h"

struct ms_iter {
	sqlite3 *db;
	sqlite3_stmt *q;
	char err[512];
};

#define SPAM_COLS "m.id, m.first_seen, m.seq, m.host, m.queue_id, " \
	"m.client_ip, m.client_host, m.sasl_username, m.sender, " \
	"m.message_id, m.reject_stage, m.reject_text, m.held, v.source, " \
	"v.score, v.required, v.action, v.symbols FROM messages m LEFT JOIN " \
	"verdicts v ON v.message = m.id "

/* fail - the SQLite error of what was being read */
static int
fail(sqlite3 *db, const char *what, char *err, size_t errsz)
{
	snprintf(err, errsz, "%s: %s", what, sqlite3_errmsg(db));
	return -1;
}

/* col - a text column copy, NULL when NULL */
static char *
col(sqlite3_stmt *q, int i)
{
	const unsigned char *s = sqlite3_column_text(q, i);

	return s ? xstrdup((const char *)s) : NULL;
}

/* col0 - a text column copy, "" when NULL */
static char *
col0(sqlite3_stmt *q, int i)
{
	const unsigned char *s = sqlite3_column_text(q, i);

	return xstrdup(s ? (const char *)s : "");
}

/* ms_pos - a numeric meta value */
long long
ms_pos(rg_store *st, const char *key, long long def)
{
	sqlite3 *db = store_db(st);
	return db_meta_int(db, key, def);
}

/* ms_pos_put - store a numeric meta value */
int
ms_pos_put(rg_store *st, const char *key, long long v, char *err,
    size_t errsz)
{
	sqlite3 *db = store_db(st);
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	if (db_meta_put(db, key, buf) != 0)
		return fail(db, key, err, errsz);
	return 0;
}

/* ms_event_max - the newest event id */
long long
ms_event_max(rg_store *st, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	long long top = 0;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT COALESCE(max(id), 0) FROM events",
	    -1, &q, NULL) != SQLITE_OK)
		return fail(db, "reading the events", err, errsz);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		top = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW)
		return fail(db, "reading the events", err, errsz);
	return top;
}

/* ms_events - the events with id in [from, to] */
int
ms_events(rg_store *st, long long from, long long to, ms_event **v,
    size_t *n, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	int rc;

	*v = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(db, "SELECT id, ts, action, kind, user, "
	    "identity, rule, detail FROM events WHERE id >= ?1 AND id <= ?2 "
	    "ORDER BY id", -1, &q, NULL) != SQLITE_OK)
		return fail(db, "reading the events", err, errsz);
	sqlite3_bind_int64(q, 1, from);
	sqlite3_bind_int64(q, 2, to);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		ms_event e;

		e.id = sqlite3_column_int64(q, 0);
		e.ts = sqlite3_column_int64(q, 1);
		e.action = col0(q, 2);
		e.kind = col0(q, 3);
		e.user = col0(q, 4);
		e.identity = col0(q, 5);
		e.rule = col0(q, 6);
		e.detail = col0(q, 7);
		*v = xrealloc(*v, (*n + 1) * sizeof(ms_event));
		(*v)[(*n)++] = e;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		ms_events_free(*v, *n);
		*v = NULL;
		*n = 0;
		return fail(db, "reading the events", err, errsz);
	}
	return 0;
}

/* ms_event_clear - release one event's strings */
void
ms_event_clear(ms_event *e)
{
	free(e->action), free(e->kind), free(e->user);
	free(e->identity), free(e->rule), free(e->detail);
	memset(e, 0, sizeof(*e));
}

/* ms_events_free - release a list of events */
void
ms_events_free(ms_event *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ms_event_clear(&v[i]);
	free(v);
}

/* spam_row - one SPAM_COLS row into s */
static void
spam_row(sqlite3_stmt *q, ms_spam *s)
{
	memset(s, 0, sizeof(*s));
	s->id = sqlite3_column_int64(q, 0);
	s->first_seen = sqlite3_column_int64(q, 1);
	s->seq = sqlite3_column_int64(q, 2);
	s->host = col(q, 3);
	s->qid = col(q, 4);
	s->client_ip = col(q, 5);
	s->client_host = col(q, 6);
	s->sasl = col(q, 7);
	s->sender = col(q, 8);
	s->msgid = col(q, 9);
	s->stage = col(q, 10);
	s->rtext = col(q, 11);
	s->held = sqlite3_column_int(q, 12);
	s->vsource = col(q, 13);
	s->score = col(q, 14);
	s->required = col(q, 15);
	s->vaction = col(q, 16);
	s->symbols = col(q, 17);
}

/* ms_spam_since - refused or held messages stored after seq */
ms_iter *
ms_spam_since(rg_store *st, long long seq, int held_only, char *err,
    size_t errsz)
{
	sqlite3 *db = store_db(st);
	ms_iter *it = xcalloc(1, sizeof(*it));

	it->db = db;
	if (sqlite3_prepare_v2(db, "SELECT " SPAM_COLS "WHERE m.seq > ?1 AND "
	    "m.kind = 'message' AND m.bounce_of IS NULL AND (m.held = 1 OR "
	    "(?2 = 0 AND m.reject_stage IN ('END-OF-MESSAGE', 'header', "
	    "'body'))) ORDER BY m.seq, m.id", -1, &it->q, NULL) != SQLITE_OK) {
		fail(db, "reading the spam messages", err, errsz);
		ms_free(it);
		return NULL;
	}
	sqlite3_bind_int64(it->q, 1, seq);
	sqlite3_bind_int(it->q, 2, held_only);
	return it;
}

/* ms_spam_next - the next message */
int
ms_spam_next(ms_iter *it, ms_spam *s)
{
	int rc = sqlite3_step(it->q);

	if (rc == SQLITE_ROW) {
		spam_row(it->q, s);
		return 1;
	}
	if (rc == SQLITE_DONE)
		return 0;
	snprintf(it->err, sizeof(it->err), "reading the spam messages: %s",
	    sqlite3_errmsg(it->db));
	return -1;
}

/* ms_spam_held - the newest held message of a queue ID */
int
ms_spam_held(rg_store *st, const char *qid, long long since, long long until,
    ms_spam *s, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT " SPAM_COLS "WHERE m.first_seen >= "
	    "?2 AND m.first_seen <= ?3 AND m.queue_id = ?1 AND m.kind = "
	    "'message' AND m.held = 1 ORDER BY m.first_seen DESC, m.id DESC "
	    "LIMIT 1", -1, &q, NULL) != SQLITE_OK)
		return fail(db, "reading a held message", err, errsz);
	sqlite3_bind_text(q, 1, qid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, since);
	sqlite3_bind_int64(q, 3, until);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		spam_row(q, s);
	sqlite3_finalize(q);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW)
		return fail(db, "reading a held message", err, errsz);
	return 0;
}

/* ms_rcpts - the logged envelope recipients of s */
int
ms_rcpts(rg_store *st, ms_spam *s, int max, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT address FROM recipients WHERE "
	    "message = ?1 ORDER BY idx", -1, &q, NULL) != SQLITE_OK)
		return fail(db, "reading the recipients", err, errsz);
	sqlite3_bind_int64(q, 1, s->id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && s->nrcpt < max) {
		s->rcpts = xrealloc(s->rcpts, (size_t)(s->nrcpt + 1)
		    * sizeof(char *));
		s->rcpts[s->nrcpt++] = col0(q, 0);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return fail(db, "reading the recipients", err, errsz);
	return 0;
}

/* ms_spam_clear - release one message's strings */
void
ms_spam_clear(ms_spam *s)
{
	int i;

	free(s->host), free(s->qid), free(s->client_ip), free(s->client_host);
	free(s->sasl), free(s->sender), free(s->msgid), free(s->stage);
	free(s->rtext), free(s->vsource), free(s->score), free(s->required);
	free(s->vaction), free(s->symbols);
	for (i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	memset(s, 0, sizeof(*s));
}

/* ms_strerror - the iterator's last error */
const char *
ms_strerror(const ms_iter *it)
{
	return it->err;
}

/* ms_free - release an iterator */
void
ms_free(ms_iter *it)
{
	if (it == NULL)
		return;
	sqlite3_finalize(it->q);
	free(it);
}

/* ms_lock_messages - the spam behind a spam lock */
int
ms_lock_messages(rg_store *st, const char *user, const char *identity,
    long long since, long long until, int max, ms_lockmsg **v, int *n,
    long long *total, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	int rc;

	*v = NULL;
	*n = 0;
	*total = 0;
	if (sqlite3_prepare_v2(db, "SELECT m.first_seen, m.queue_id, "
	    "am.identity, v.score, v.symbols, (SELECT group_concat(address, "
	    "', ') FROM (SELECT address FROM recipients WHERE message = m.id "
	    "ORDER BY idx)), count(*) OVER () FROM ana_messages am JOIN "
	    "ana_users au ON au.id = am.user JOIN messages m ON m.id = "
	    "am.message LEFT JOIN verdicts v ON v.message = m.id WHERE au.name "
	    "= ?1 AND am.spam = 1 AND am.t > ?2 AND am.t <= ?3 AND (?4 = '' OR "
	    "am.identity = ?4) ORDER BY am.t DESC LIMIT ?5", -1, &q, NULL)
	    != SQLITE_OK)
		return fail(db, "reading the messages behind a lock", err,
		    errsz);
	sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, since);
	sqlite3_bind_int64(q, 3, until);
	sqlite3_bind_text(q, 4, identity, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 5, max);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		ms_lockmsg m;

		m.first_seen = sqlite3_column_int64(q, 0);
		m.qid = col(q, 1);
		m.identity = col(q, 2);
		m.score = col(q, 3);
		m.symbols = col(q, 4);
		m.rcpts = col0(q, 5);
		*total = sqlite3_column_int64(q, 6);
		*v = xrealloc(*v, (size_t)(*n + 1) * sizeof(ms_lockmsg));
		(*v)[(*n)++] = m;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		ms_lock_messages_free(*v, *n);
		*v = NULL;
		*n = 0;
		return fail(db, "reading the messages behind a lock", err,
		    errsz);
	}
	return 0;
}

/* ms_lock_messages_free - release */
void
ms_lock_messages_free(ms_lockmsg *v, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free(v[i].qid), free(v[i].identity), free(v[i].score);
		free(v[i].symbols), free(v[i].rcpts);
	}
	free(v);
}
