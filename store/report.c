/*
 * report.c - the reports' reads from the store (see report.h). Owns the
 * prepared statements of one iterator; every SQLite error is translated
 * with what was being read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/xalloc.h"
#include "store_int.h"
#include "report.h"

struct rps_iter {
	sqlite3 *db;
	sqlite3_stmt *q;
	sqlite3_stmt *hq;		/* headers of one message */
	char err[512];
};

/* what makes a message a quarantine candidate */
#define SPAM_WHERE \
	" AND (m.held = 1 OR m.was_held" \
	" OR (COALESCE(m.spam, 0) = 1 AND (m.reject_stage IS NOT NULL" \
	" OR m.deleted = 1 OR m.discarded = 1)))"

#define MSG_FROM \
	" FROM messages m LEFT JOIN verdicts v ON v.message = m.id" \
	" WHERE m.first_seen >= ?1 AND m.first_seen < ?2" \
	" AND m.bounce_of IS NULL AND m.filtered_as IS NULL"

static const char msg_sql[] =
    "SELECT m.id, m.first_seen, m.last_seen, m.host, m.queue_id, m.kind, "
    "m.sasl_username, m.client_ip, m.sender, m.message_id, m.size, m.nrcpt, "
    "m.open, m.held, m.was_held, m.deleted, "
    "m.expired, m.discarded, m.reject_stage IS NOT NULL, "
    "COALESCE(m.spam, 0), v.source, v.spam, v.trusted, v.score, v.symbols, "
    "v.action, "
    "(SELECT count(*) FROM recipients r WHERE r.message = m.id), "
    "(SELECT sum(r.status = 'sent') FROM recipients r WHERE r.message = m.id), "
    "(SELECT sum(r.status IN ('bounced', 'expired', 'force-expired')) FROM "
    "recipients r WHERE r.message = m.id), "
    "(SELECT sum(r.status = 'deferred') FROM recipients r WHERE r.message = "
    "m.id), "
    "(SELECT sum(r.status = 'rejected') FROM recipients r WHERE r.message = "
    "m.id), "
    "(SELECT group_concat(r.address, ', ') FROM (SELECT address FROM "
    "recipients WHERE message = m.id ORDER BY idx) r), "
    "(SELECT h.value FROM headers h WHERE h.message = m.id AND h.name = "
    "'Subject' COLLATE NOCASE)";

/* fail - translate the SQLite error into err; NULL */
static rps_iter *
fail(rps_iter *it, sqlite3 *db, const char *what, char *err, size_t errsz)
{
	snprintf(err, errsz, "%s: %s", what, sqlite3_errmsg(db));
	rps_free(it);
	return NULL;
}

/* rps_messages - the messages of a period, by time */
rps_iter *
rps_messages(rg_store *st, long long since, long long until, int spam_only,
    char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	rps_iter *it = xcalloc(1, sizeof(*it));
	char sql[sizeof(msg_sql) + 512];

	it->db = db;
	snprintf(sql, sizeof(sql), "%s%s%s ORDER BY m.first_seen, m.id",
	    msg_sql, MSG_FROM, spam_only ? SPAM_WHERE : "");
	if (sqlite3_prepare_v2(db, sql, -1, &it->q, NULL) != SQLITE_OK)
		return fail(it, db, "reading the messages", err, errsz);
	if (sqlite3_prepare_v2(db, "SELECT name, value, cut FROM headers "
	    "WHERE message = ?1 ORDER BY name", -1, &it->hq, NULL) != SQLITE_OK)
		return fail(it, db, "reading the headers", err, errsz);
	sqlite3_bind_int64(it->q, 1, since);
	sqlite3_bind_int64(it->q, 2, until);
	return it;
}

/* text - column k as a string, NULL for NULL */
static const char *
text(sqlite3_stmt *q, int k)
{
	return (const char *)sqlite3_column_text(q, k);
}

/* rps_msg_next - the next message */
int
rps_msg_next(rps_iter *it, rps_msg *m)
{
	sqlite3_stmt *q = it->q;
	int rc;

	if ((rc = sqlite3_step(q)) == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW) {
		snprintf(it->err, sizeof(it->err), "reading the messages: %s",
		    sqlite3_errmsg(it->db));
		return -1;
	}
	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(q, 0);
	m->first_seen = sqlite3_column_int64(q, 1);
	m->last_seen = sqlite3_column_int64(q, 2);
	m->host = text(q, 3);
	m->queue_id = text(q, 4);
	m->noqueue = text(q, 5) != NULL && strcmp(text(q, 5), "noqueue") == 0;
	m->sasl = text(q, 6);
	m->client_ip = text(q, 7);
	m->sender = text(q, 8);
	m->message_id = text(q, 9);
	m->size = sqlite3_column_type(q, 10) == SQLITE_NULL ? -1
	    : sqlite3_column_int64(q, 10);
	m->nrcpt = sqlite3_column_int64(q, 11);
	m->open = sqlite3_column_int(q, 12);
	m->was_held = sqlite3_column_int(q, 13) || sqlite3_column_int(q, 14);
	if (sqlite3_column_int(q, 15))
		m->state = RPS_DELETED;
	else if (sqlite3_column_int(q, 16))
		m->state = RPS_EXPIRED;
	else if (sqlite3_column_int(q, 13))
		m->state = RPS_HELD;
	else if (sqlite3_column_int(q, 14))
		m->state = RPS_RELEASED;
	else if (sqlite3_column_int(q, 17))
		m->state = RPS_DISCARDED;
	else if (sqlite3_column_int(q, 18) || m->noqueue)
		m->state = RPS_REFUSED;
	else
		m->state = RPS_DELIVERED;
	m->spam = sqlite3_column_int(q, 19);
	m->has_verdict = sqlite3_column_type(q, 20) != SQLITE_NULL;
	m->v_source = text(q, 20);
	m->v_spam = sqlite3_column_int(q, 21);
	m->v_trusted = sqlite3_column_int(q, 22);
	m->v_score = text(q, 23);
	m->v_symbols = text(q, 24);
	m->v_action = text(q, 25);
	m->rcpts = sqlite3_column_int64(q, 26);
	m->sent = sqlite3_column_int64(q, 27);
	m->bounced = sqlite3_column_int64(q, 28);
	m->deferred = sqlite3_column_int64(q, 29);
	m->rejected = sqlite3_column_int64(q, 30);
	m->recipients = text(q, 31);
	m->subject = text(q, 32);
	return 1;
}

/* rps_msg_headers - the logged headers of one message */
int
rps_msg_headers(rps_iter *it, long long id, rps_header *h, int max)
{
	int n = 0;

	/* the strings must outlive the statement's next step: copied */
	sqlite3_reset(it->hq);
	sqlite3_bind_int64(it->hq, 1, id);
	while (n < max && sqlite3_step(it->hq) == SQLITE_ROW) {
		h[n].name = xstrdup(text(it->hq, 0));
		h[n].value = xstrdup(text(it->hq, 1));
		h[n].cut = sqlite3_column_int(it->hq, 2);
		n++;
	}
	sqlite3_reset(it->hq);
	return n;
}

/* rps_events - the analyzer's decisions of a period */
rps_iter *
rps_events(rg_store *st, long long since, long long until, char *err,
    size_t errsz)
{
	sqlite3 *db = store_db(st);
	rps_iter *it = xcalloc(1, sizeof(*it));

	it->db = db;
	if (sqlite3_prepare_v2(db, "SELECT id, ts, action, kind, user, "
	    "identity, rule, detail FROM events WHERE ts >= ?1 AND ts < ?2 "
	    "ORDER BY ts, id", -1, &it->q, NULL) != SQLITE_OK)
		return fail(it, db, "reading the events", err, errsz);
	sqlite3_bind_int64(it->q, 1, since);
	sqlite3_bind_int64(it->q, 2, until);
	return it;
}

/* rps_event_next - the next event */
int
rps_event_next(rps_iter *it, rps_event *e)
{
	sqlite3_stmt *q = it->q;
	int rc;

	if ((rc = sqlite3_step(q)) == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW) {
		snprintf(it->err, sizeof(it->err), "reading the events: %s",
		    sqlite3_errmsg(it->db));
		return -1;
	}
	e->id = sqlite3_column_int64(q, 0);
	e->ts = sqlite3_column_int64(q, 1);
	e->action = text(q, 2);
	e->kind = text(q, 3);
	e->user = text(q, 4);
	e->identity = text(q, 5);
	e->rule = text(q, 6);
	e->detail = text(q, 7);
	return 1;
}

/* rps_count - how many rows rps_messages would give */
long long
rps_count(rg_store *st, long long since, long long until, int spam_only)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	char sql[512];
	long long n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*)%s%s", MSG_FROM,
	    spam_only ? SPAM_WHERE : "");
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(q, 1, since);
	sqlite3_bind_int64(q, 2, until);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

/* rps_strerror - the last error of an iterator */
const char *
rps_strerror(const rps_iter *it)
{
	return it->err;
}

/* rps_state_name - a state as the reports and commands name it */
const char *
rps_state_name(enum rps_state s)
{
	static const char *names[] = { "delivered", "refused", "held",
	    "released", "deleted", "expired", "discarded" };

	return names[s];
}

/* rps_free - finish an iterator; NULL is a no-op */
void
rps_free(rps_iter *it)
{
	if (it == NULL)
		return;
	sqlite3_finalize(it->q);
	sqlite3_finalize(it->hq);
	free(it);
}

/*
 * rps_queue_id - the messages (held ever) with this queue ID, newest
 * first: the same rows as rps_messages
 */
rps_iter *
rps_queue_id(rg_store *st, const char *queue_id, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	rps_iter *it = xcalloc(1, sizeof(*it));
	char sql[sizeof(msg_sql) + 512];

	it->db = db;
	snprintf(sql, sizeof(sql), "%s FROM messages m LEFT JOIN verdicts v "
	    "ON v.message = m.id WHERE m.queue_id = ?1 AND m.kind = 'message' "
	    "ORDER BY m.first_seen DESC, m.id DESC", msg_sql);
	if (sqlite3_prepare_v2(db, sql, -1, &it->q, NULL) != SQLITE_OK)
		return fail(it, db, "reading a message", err, errsz);
	if (sqlite3_prepare_v2(db, "SELECT name, value, cut FROM headers "
	    "WHERE message = ?1 ORDER BY name", -1, &it->hq, NULL) != SQLITE_OK)
		return fail(it, db, "reading the headers", err, errsz);
	sqlite3_bind_text(it->q, 1, queue_id, -1, SQLITE_TRANSIENT);
	return it;
}

/* rps_held - every message ever held, first seen since `since`, by time */
rps_iter *
rps_held(rg_store *st, long long since, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	rps_iter *it = xcalloc(1, sizeof(*it));
	char sql[sizeof(msg_sql) + 512];

	it->db = db;
	snprintf(sql, sizeof(sql), "%s FROM messages m LEFT JOIN verdicts v "
	    "ON v.message = m.id WHERE m.first_seen >= ?1 AND m.kind = "
	    "'message' AND (m.held = 1 OR m.was_held = 1) ORDER BY m.first_seen, m.id", msg_sql);
	if (sqlite3_prepare_v2(db, sql, -1, &it->q, NULL) != SQLITE_OK)
		return fail(it, db, "reading the held messages", err, errsz);
	if (sqlite3_prepare_v2(db, "SELECT name, value, cut FROM headers "
	    "WHERE message = ?1 ORDER BY name", -1, &it->hq, NULL) != SQLITE_OK)
		return fail(it, db, "reading the headers", err, errsz);
	sqlite3_bind_int64(it->q, 1, since);
	return it;
}

/* rps_quarantine_event - the rule of the last quarantine event of a QID */
int
rps_quarantine_event(rg_store *st, const char *queue_id, char *out,
    size_t outsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	int rc = 0;

	*out = '\0';
	if (sqlite3_prepare_v2(db, "SELECT rule FROM events WHERE action = "
	    "'quarantine' AND identity = ?1 ORDER BY ts DESC, id DESC LIMIT 1",
	    -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, queue_id, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0)) {
		snprintf(out, outsz, "%s", sqlite3_column_text(q, 0));
		rc = 1;
	}
	sqlite3_finalize(q);
	return rc;
}

/* rps_put_event - one row of the events table */
int
rps_put_event(rg_store *st, long long ts, const char *action,
    const char *kind, const char *user, const char *identity,
    const char *rule, const char *detail, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT INTO events(ts, action, kind, "
	    "user, identity, rule, detail) VALUES (?1,?2,?3,?4,?5,?6,?7)", -1,
	    &q, NULL) != SQLITE_OK) {
		snprintf(err, errsz, "recording an event: %s",
		    sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_int64(q, 1, ts);
	sqlite3_bind_text(q, 2, action, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 3, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 4, user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 5, identity, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 6, rule, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 7, detail, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		snprintf(err, errsz, "recording an event: %s",
		    sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}
