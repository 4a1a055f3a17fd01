/*
 * aindex.c - the analyzer's index of the rows its rules count (see
 * aindex.h), and the reads of it the rules make. Owns its prepared
 * statements and per-run arrays; the tables live in the store's database
 * (schema version 3, store/schema.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store_int.h"
#include "db.h"
#include "../common/hash.h"
#include "../common/log.h"
#include "../common/rgtime.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "aindex.h"

/* the connection and the statements kept for the run */
struct aix_stm {
	sqlite3 *db;
	sqlite3_stmt *uid, *newuid;	/* ana_users by name; a new one */
	sqlite3_stmt *spam;		/* aix_spam */
	sqlite3_stmt *sess_n, *sess_t;	/* aix_sessions, aix_session_at */
	sqlite3_stmt *rcpt, *inv;	/* aix_recipients, aix_invalid */
	sqlite3_stmt *nrcpt;		/* aix_recipient_count */
};

/* fail - an SQLite error into err */
static int
fail(aix *x, char *err, size_t errsz, const char *what)
{
	snprintf(err, errsz, "%s: %s", what, sqlite3_errmsg(x->stm->db));
	return -1;
}

/*
 * headers - the stored headers of a message, through hq ("SELECT name,
 * value, cut FROM headers WHERE message = ?1"); copies, freed with
 * headers_free
 */
static int
headers(sqlite3_stmt *hq, long long message, rul_header *hs, int max)
{
	int nh = 0;

	sqlite3_bind_int64(hq, 1, message);
	while (nh < max && sqlite3_step(hq) == SQLITE_ROW) {
		hs[nh].name = xstrdup((const char *)sqlite3_column_text(hq, 0));
		hs[nh].value = xstrdup((const char *)sqlite3_column_text(hq, 1));
		hs[nh].cut = sqlite3_column_int(hq, 2);
		nh++;
	}
	sqlite3_reset(hq);
	return nh;
}

/* headers_free - release what headers copied */
static void
headers_free(rul_header *hs, int nh)
{
	while (nh-- > 0) {
		free((char *)hs[nh].name);
		free((char *)hs[nh].value);
	}
}

/* conn_window - the longest connection window of a user in use, seconds */
static long long
conn_window(const rg_user_cfg *uc)
{
	if (!uc->connection_limits)
		return 0;
	if (uc->limit_per_month > 0)
		return 30 * 86400;
	if (uc->limit_per_week > 0)
		return 7 * 86400;
	if (uc->limit_per_hour > 0)
		return 3600;
	if (uc->limit_per_minute > 0)
		return 60;
	return 0;
}

/* spam_counted - does a spam verdict count for this user at all */
static int
spam_counted(const rg_user_cfg *uc)
{
	return uc->auto_lock || uc->lock_identities;
}

/* msg_window - the longest message window of a user in use, seconds */
static long long
msg_window(const rg_user_cfg *uc)
{
	long long w = 0;

	if (spam_counted(uc))
		w = uc->spam_lock_window + uc->lock_timeout;
	if (uc->max_recipients_per_day > 0 && w < 86400)
		w = 86400;
	if (uc->invalid_recipient_limit > 0 && w < uc->invalid_recipient_window)
		w = uc->invalid_recipient_window;
	return w;
}

/* add_list - a list into the fingerprint text */
static void
add_list(strbuf *sb, const cfg_list *l)
{
	int i;

	for (i = 0; i < l->n; i++) {
		sb_adds(sb, l->v[i]);
		sb_addc(sb, ',');
	}
	sb_addc(sb, ';');
}

/* hash_text - the text of sb into an FNV-1a hash, and sb emptied */
static uint64_t
hash_text(uint64_t h, strbuf *sb)
{
	h = rg_hash64_more(h, sb->s, sb->len);
	sb_reset(sb);
	return h;
}

/*
 * fingerprint - of what shapes the index: who is who (users, their
 * addresses, identification), which rows count for whom (trusted sources,
 * the rules in use) and how far back (the horizons, retention). A changed
 * threshold or limit does not change the index (the configuration file's
 * own hash has every user decided again, file_hash).
 */
static void
fingerprint(const aix *x, char out[17])
{
	const rg_config *cfg = x->cfg;
	strbuf sb;
	uint64_t h = RG_HASH64_INIT;
	int k;

	sb_init(&sb);
	/* v2: rcpt holds a message's number of recipients, not 1 */
	sb_adds(&sb, "v2;");
	/* identities are folded as Postfix's lookup folds: a change of
	 * smtputf8_enable changes who is one identity */
	sb_printf(&sb, "fold=%s;", rul_fold_utf8(x->pol) ? "utf8" : "ascii");
	add_list(&sb, &cfg->trusted_verdicts);
	sb_printf(&sb, "%lld;%lld;%lld;", x->sess_horizon, x->msg_horizon,
	    cfg->retention);
	for (k = 0; k < cfg->nidheaders; k++) {
		sb_printf(&sb, "[h %s]%s;", cfg->idheaders[k].name,
		    cfg->idheaders[k].regex ? cfg->idheaders[k].regex : "");
	}
	for (k = 0; k < rul_nusers(x->pol); k++) {
		const rg_user_cfg *uc = rul_user_at(x->pol, k)->cfg;

		sb_printf(&sb, "[u %s]%s;%s;", uc->name, uc->type,
		    uc->identification);
		add_list(&sb, &uc->addresses);
		add_list(&sb, &uc->identity_headers);
		sb_printf(&sb, "%lld;%d;%d;%d;%d;%d;", uc->match_sender_domain,
		    spam_counted(uc), uc->lock_identities != 0,
		    conn_window(uc) > 0, uc->max_recipients_per_day > 0,
		    uc->invalid_recipient_limit > 0);
		/* hashed a user at a time: no text of every user at once */
		h = hash_text(h, &sb);
	}
	h = hash_text(h, &sb);
	sb_free(&sb);
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* aix_uid - the index's number of policy user k; 0: it has no rows */
long long
aix_uid(aix *x, int k)
{
	if (x->uid[k] > 0)
		return x->uid[k];
	sqlite3_bind_text(x->stm->uid, 1, rul_user_at(x->pol, k)->name, -1,
	    SQLITE_STATIC);
	if (sqlite3_step(x->stm->uid) == SQLITE_ROW)
		x->uid[k] = sqlite3_column_int64(x->stm->uid, 0);
	sqlite3_reset(x->stm->uid);
	return x->uid[k];
}

/* uid_of - the ana_users id of policy user k, made at first sight */
static long long
uid_of(aix *x, int k)
{
	const char *name = rul_user_at(x->pol, k)->name;

	if (aix_uid(x, k) > 0)
		return x->uid[k];
	sqlite3_bind_text(x->stm->newuid, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(x->stm->newuid) == SQLITE_DONE)
		x->uid[k] = sqlite3_last_insert_rowid(x->stm->db);
	sqlite3_reset(x->stm->newuid);
	return x->uid[k];
}

/* aix_touch - decide user k in this run too */
void
aix_touch(aix *x, int k)
{
	if (k >= 0 && k < x->nusers && !x->touched[k]) {
		x->touched[k] = 1;
		x->ntouched++;
	}
}

/* write_row - run w (an insert or a delete) for the row id, bound as ?1 */
static int
write_row(aix *x, sqlite3_stmt *w, long long id, const char *what, char *err,
    size_t errsz)
{
	int rc;

	sqlite3_bind_int64(w, 1, id);
	rc = sqlite3_step(w);
	sqlite3_reset(w);
	sqlite3_clear_bindings(w);
	if (rc != SQLITE_DONE) {
		snprintf(err, errsz, "analyzer index: %s: %s", what,
		    sqlite3_errmsg(x->stm->db));
		return -1;
	}
	x->indexed++;
	return 0;
}

/*
 * index_sessions - (re)index the sessions q yields: id, time, SASL login,
 * client address, messages queued. incremental: a row that no longer
 * counts is removed.
 */
static int
index_sessions(aix *x, sqlite3_stmt *q, long long cutoff, int incremental,
    char *err, size_t errsz)
{
	sqlite3_stmt *put = NULL, *del = NULL;
	int rc = 0, st;

	if (sqlite3_prepare_v2(x->stm->db, "INSERT OR REPLACE INTO ana_sessions("
	    "session, user, t) VALUES (?1, ?2, ?3)", -1, &put, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(x->stm->db, "DELETE FROM ana_sessions WHERE "
	    "session = ?1", -1, &del, NULL) != SQLITE_OK) {
		rc = fail(x, err, errsz, "analyzer index: sessions");
		goto out;
	}
	while ((st = sqlite3_step(q)) == SQLITE_ROW) {
		long long id = sqlite3_column_int64(q, 0);
		long long t = sqlite3_column_int64(q, 1);
		const rul_user *u = rul_user_of(x->pol, (const char *)
		    sqlite3_column_text(q, 2), (const char *)
		    sqlite3_column_text(q, 3), NULL);
		sqlite3_stmt *w;

		if (u != NULL && sqlite3_column_int(q, 4) > 0
		    && conn_window(u->cfg) > 0 && t > cutoff) {
			int k = rul_user_index(x->pol, u);

			w = put;
			sqlite3_bind_int64(put, 2, uid_of(x, k));
			sqlite3_bind_int64(put, 3, t);
			aix_touch(x, k);
		} else if (incremental) {
			w = del;
		} else {
			continue;
		}
		if ((rc = write_row(x, w, id, "sessions", err, errsz)) != 0)
			break;
	}
	if (rc == 0 && st != SQLITE_DONE)
		rc = fail(x, err, errsz, "analyzer index: reading sessions");
out:
	sqlite3_finalize(put);
	sqlite3_finalize(del);
	return rc;
}

/*
 * index_messages - (re)index the messages q yields: id, first seen, SASL
 * login, client address, sender, kind, neither bounce nor re-injection,
 * verdict spam, verdict source, invalid recipients, recipients
 */
static int
index_messages(aix *x, sqlite3_stmt *q, long long cutoff, int incremental,
    char *err, size_t errsz)
{
	sqlite3_stmt *put = NULL, *del = NULL, *hq = NULL;
	int rc = 0, st;

	if (sqlite3_prepare_v2(x->stm->db, "INSERT OR REPLACE INTO ana_messages("
	    "message, user, t, spam, identity, method, header, rcpt, invalid) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", -1, &put, NULL)
	    != SQLITE_OK
	    || sqlite3_prepare_v2(x->stm->db, "DELETE FROM ana_messages WHERE "
	    "message = ?1", -1, &del, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(x->stm->db, "SELECT name, value, cut FROM headers "
	    "WHERE message = ?1", -1, &hq, NULL) != SQLITE_OK) {
		rc = fail(x, err, errsz, "analyzer index: messages");
		goto out;
	}
	while ((st = sqlite3_step(q)) == SQLITE_ROW) {
		long long id = sqlite3_column_int64(q, 0);
		long long t = sqlite3_column_int64(q, 1);
		const char *sasl = (const char *)sqlite3_column_text(q, 2);
		const char *sender = (const char *)sqlite3_column_text(q, 4);
		const char *kind = (const char *)sqlite3_column_text(q, 5);
		int own = sqlite3_column_int(q, 6);
		const rul_user *u = rul_user_of(x->pol, sasl, (const char *)
		    sqlite3_column_text(q, 3), sender);
		const rg_user_cfg *uc = u ? u->cfg : NULL;
		int spam = 0, rcpt = 0, inv = 0, nh = 0;
		rul_header hs[16];
		char ident[512];
		const char *hname = NULL;
		sqlite3_stmt *w;

		if (uc != NULL && t > cutoff) {
			spam = own && sqlite3_column_int(q, 7) == 1
			    && rul_trusted(x->pol, (const char *)
			    sqlite3_column_text(q, 8)) && spam_counted(uc);
			/* how many: the daily limit's count needs no join */
			rcpt = own && kind && strcmp(kind, "message") == 0
			    && uc->max_recipients_per_day > 0
			    ? sqlite3_column_int(q, 10) : 0;
			inv = uc->invalid_recipient_limit > 0
			    ? sqlite3_column_int(q, 9) : 0;
		}
		if (spam || rcpt || inv > 0) {
			int k = rul_user_index(x->pol, u);

			w = put;
			sqlite3_bind_int64(put, 2, uid_of(x, k));
			sqlite3_bind_int64(put, 3, t);
			sqlite3_bind_int(put, 4, spam);
			sqlite3_bind_null(put, 5);
			sqlite3_bind_null(put, 6);
			sqlite3_bind_null(put, 7);
			if (spam && uc->lock_identities) {
				if (strcmp(uc->identification, "header") == 0)
					nh = headers(hq, id, hs, 16);
				if (rul_identity(x->pol, u, sender, sasl, hs, nh,
				    ident, sizeof(ident), &hname)) {
					sqlite3_bind_text(put, 5, ident, -1,
					    SQLITE_TRANSIENT);
					sqlite3_bind_text(put, 6,
					    uc->identification, -1,
					    SQLITE_TRANSIENT);
					if (hname != NULL)
						sqlite3_bind_text(put, 7, hname,
						    -1, SQLITE_TRANSIENT);
				}
				headers_free(hs, nh);
			}
			sqlite3_bind_int(put, 8, rcpt);
			sqlite3_bind_int(put, 9, inv);
			aix_touch(x, k);
		} else if (incremental) {
			w = del;
		} else {
			continue;
		}
		if ((rc = write_row(x, w, id, "messages", err, errsz)) != 0)
			break;
	}
	if (rc == 0 && st != SQLITE_DONE)
		rc = fail(x, err, errsz, "analyzer index: reading messages");
out:
	sqlite3_finalize(put);
	sqlite3_finalize(del);
	sqlite3_finalize(hq);
	return rc;
}

/*
 * index_hvalues - the logged values of identity headers q yields (name,
 * value, time), each under its identity: a lock of a header identity
 * names every value logged for it (analyze.c, header_values)
 */
static int
index_hvalues(aix *x, const char *sql, long long a1, char *err, size_t errsz)
{
	sqlite3_stmt *q = NULL, *put = NULL;
	int rc = 0, st;

	if (sqlite3_prepare_v2(x->stm->db, sql, -1, &q, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(x->stm->db, "INSERT INTO ana_hvalues(header, "
	    "identity, value, t) VALUES (lower(?1), ?2, ?3, ?4) ON CONFLICT DO "
	    "UPDATE SET t = max(t, excluded.t)", -1, &put, NULL) != SQLITE_OK) {
		rc = fail(x, err, errsz, "analyzer index: header values");
		goto out;
	}
	sqlite3_bind_int64(q, 1, a1);
	while ((st = sqlite3_step(q)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(q, 0);
		const char *value = (const char *)sqlite3_column_text(q, 1);
		char ident[512];

		if (name == NULL || value == NULL || !rul_header_identity(x->pol,
		    name, value, ident, sizeof(ident)))
			continue;
		sqlite3_bind_text(put, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(put, 2, ident, -1, SQLITE_STATIC);
		sqlite3_bind_text(put, 3, value, -1, SQLITE_STATIC);
		sqlite3_bind_int64(put, 4, sqlite3_column_int64(q, 2));
		if (sqlite3_step(put) != SQLITE_DONE) {
			rc = fail(x, err, errsz, "analyzer index: header values");
			sqlite3_reset(put);
			break;
		}
		sqlite3_reset(put);
	}
	if (rc == 0 && st != SQLITE_DONE)
		rc = fail(x, err, errsz, "analyzer index: reading headers");
out:
	sqlite3_finalize(q);
	sqlite3_finalize(put);
	return rc;
}

/* the message columns index_messages reads; WHERE follows */
#define MSG_COLS \
	"SELECT m.id, m.first_seen, m.sasl_username, m.client_ip, m.sender, " \
	"m.kind, m.bounce_of IS NULL AND m.filtered_as IS NULL, v.spam, " \
	"v.source, (SELECT count(*) FROM recipients r WHERE r.message = m.id " \
	"AND r.dsn LIKE '5.1.%' AND r.status IN ('bounced', 'rejected')), " \
	"(SELECT count(*) FROM recipients r WHERE r.message = m.id) " \
	"FROM messages m LEFT JOIN verdicts v ON v.message = m.id "
#define SESS_COLS \
	"SELECT id, COALESCE(connect, last_seen), sasl_username, client_ip, " \
	"messages FROM sessions "

/* run_index - prepare sql, bind a1 (and a2 if >= 0), index its rows */
static int
run_index(aix *x, int sessions, const char *sql, long long a1,
    long long cutoff, int incremental, char *err, size_t errsz)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(x->stm->db, sql, -1, &q, NULL) != SQLITE_OK)
		return fail(x, err, errsz, "analyzer index");
	sqlite3_bind_int64(q, 1, a1);
	rc = sessions ? index_sessions(x, q, cutoff, incremental, err, errsz)
	    : index_messages(x, q, cutoff, incremental, err, errsz);
	sqlite3_finalize(q);
	return rc;
}

/* shifted - touch the users of rows that time brought into the windows */
static int
shifted(aix *x, const char *sql, long long from, char *err, size_t errsz)
{
	sqlite3_stmt *q;
	int st;

	if (sqlite3_prepare_v2(x->stm->db, sql, -1, &q, NULL) != SQLITE_OK)
		return fail(x, err, errsz, "analyzer index");
	sqlite3_bind_int64(q, 1, from);
	sqlite3_bind_int64(q, 2, x->now);
	while ((st = sqlite3_step(q)) == SQLITE_ROW) {
		const rul_user *u = rul_user_named(x->pol, (const char *)
		    sqlite3_column_text(q, 1));

		if (u != NULL) {
			x->uid[rul_user_index(x->pol, u)] = sqlite3_column_int64(q, 0);
			aix_touch(x, rul_user_index(x->pol, u));
		}
	}
	sqlite3_finalize(q);
	return st == SQLITE_DONE ? 0 : fail(x, err, errsz, "analyzer index");
}

/* pending - touch the users the last run left pending, and forget them */
static int
pending(aix *x, char *err, size_t errsz)
{
	sqlite3_stmt *q;
	int st;

	if (sqlite3_prepare_v2(x->stm->db, "SELECT user FROM ana_pending", -1, &q,
	    NULL) != SQLITE_OK)
		return fail(x, err, errsz, "analyzer index");
	while ((st = sqlite3_step(q)) == SQLITE_ROW) {
		const rul_user *u = rul_user_named(x->pol, (const char *)
		    sqlite3_column_text(q, 0));

		if (u != NULL)
			aix_touch(x, rul_user_index(x->pol, u));
	}
	sqlite3_finalize(q);
	if (st != SQLITE_DONE)
		return fail(x, err, errsz, "analyzer index");
	return db_exec(x->stm->db, "DELETE FROM ana_pending", err, errsz);
}

/* prune - rows older than every window that counts them */
static int
prune(aix *x, char *err, size_t errsz)
{
	static const char *sql[3] = {
		"DELETE FROM ana_sessions WHERE t <= ?1",
		"DELETE FROM ana_messages WHERE t <= ?1",
		"DELETE FROM ana_hvalues WHERE t <= ?1",
	};
	/* header values: as long as the collector keeps their messages */
	long long cut[3] = { x->now - x->sess_horizon * RG_USEC,
	    x->now - x->msg_horizon * RG_USEC, x->cfg->retention > 0
	    ? x->now - x->cfg->retention * RG_USEC : 0 };
	sqlite3_stmt *q;
	int i;

	for (i = 0; i < 3; i++) {
		if (sqlite3_prepare_v2(x->stm->db, sql[i], -1, &q, NULL) != SQLITE_OK)
			return fail(x, err, errsz, "analyzer index: pruning");
		sqlite3_bind_int64(q, 1, cut[i]);
		if (db_run(q) != 0)
			return fail(x, err, errsz, "analyzer index: pruning");
	}
	return 0;
}

/* aix_update - see aindex.h */
int
aix_update(aix *x, rg_store *st, const rg_config *cfg, const rul_policy *pol,
    long long now, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	char old_fp[40];
	long long last_seq, last_now, sess_cut, msg_cut;
	int k, rebuild;

	memset(x, 0, sizeof(*x));
	x->st = st;
	x->stm = xcalloc(1, sizeof(*x->stm));
	x->stm->db = db;
	x->cfg = cfg;
	x->pol = pol;
	x->now = now;
	x->nusers = rul_nusers(pol);
	x->uid = xcalloc((size_t)x->nusers + 1, sizeof(long long));
	x->touched = xcalloc((size_t)x->nusers + 1, 1);
	for (k = 0; k < x->nusers; k++) {
		const rg_user_cfg *uc = rul_user_at(pol, k)->cfg;

		if (conn_window(uc) > x->sess_horizon)
			x->sess_horizon = conn_window(uc);
		if (msg_window(uc) > x->msg_horizon)
			x->msg_horizon = msg_window(uc);
	}
	/* rows the collector has pruned are not counted either */
	if (cfg->retention > 0 && x->sess_horizon > cfg->retention)
		x->sess_horizon = cfg->retention;
	if (cfg->retention > 0 && x->msg_horizon > cfg->retention)
		x->msg_horizon = cfg->retention;
	sess_cut = now - x->sess_horizon * RG_USEC;
	msg_cut = now - x->msg_horizon * RG_USEC;
	if (sqlite3_prepare_v2(db, "SELECT id FROM ana_users WHERE name = ?1",
	    -1, &x->stm->uid, NULL) != SQLITE_OK
	    || sqlite3_prepare_v2(db, "INSERT INTO ana_users(name) VALUES (?1)",
	    -1, &x->stm->newuid, NULL) != SQLITE_OK)
		return fail(x, err, errsz, "analyzer index");

	x->seq = db_meta_int(db, "seq", 0);
	last_seq = db_meta_int(db, "ana_seq", -1);
	last_now = db_meta_int(db, "ana_now", -1);
	fingerprint(x, x->fp);
	db_meta_text(db, "ana_fp", old_fp, sizeof(old_fp));
	rebuild = last_seq < 0 || last_seq > x->seq || last_now < 0
	    || now < last_now || strcmp(x->fp, old_fp) != 0;
	/* any change of the configuration (a threshold, never_lock, the
	 * safety valve...): every user is decided again, as a full run would */
	snprintf(x->cfp, sizeof(x->cfp), "%016llx", cfg_hash(cfg));
	db_meta_text(db, "ana_config", old_fp, sizeof(old_fp));
	if (rebuild || strcmp(x->cfp, old_fp) != 0) {
		for (k = 0; k < x->nusers; k++)
			aix_touch(x, k);
	}
	if (rebuild) {
		log_debug("analyzer index: rebuilding (%s)", last_seq < 0
		    ? "first run" : strcmp(x->fp, old_fp) != 0 ? "the rules changed"
		    : now < last_now ? "--now before the last run's"
		    : "the database was replaced");
		x->rebuilt = 1;
		if (db_exec(db, "DELETE FROM ana_sessions; DELETE FROM ana_messages; "
		    "DELETE FROM ana_pending; DELETE FROM ana_hvalues", err,
		    errsz) != 0)
			return -1;
		/* every value stored: a lock names them all */
		if (index_hvalues(x, "SELECT h.name, h.value, max(m.first_seen) "
		    "FROM headers h JOIN messages m ON m.id = h.message WHERE "
		    "h.cut = 0 AND ?1 = ?1 GROUP BY lower(h.name), h.value", 0,
		    err, errsz) != 0)
			return -1;
		if (x->sess_horizon > 0 && (run_index(x, 1, SESS_COLS
		    "WHERE connect > ?1 AND messages > 0", sess_cut, sess_cut,
		    0, err, errsz) != 0 || run_index(x, 1, SESS_COLS
		    "WHERE connect IS NULL AND last_seen > ?1 AND messages > 0",
		    sess_cut, sess_cut, 0, err, errsz) != 0))
			return -1;
		if (x->msg_horizon > 0 && run_index(x, 0, MSG_COLS
		    "WHERE m.first_seen > ?1", msg_cut, msg_cut, 0, err, errsz)
		    != 0)
			return -1;
		return 0;
	}
	if (prune(x, err, errsz) != 0
	    || run_index(x, 1, SESS_COLS "WHERE seq > ?1", last_seq, sess_cut,
	    1, err, errsz) != 0
	    || run_index(x, 0, MSG_COLS "WHERE m.seq > ?1", last_seq, msg_cut,
	    1, err, errsz) != 0
	    || index_hvalues(x, "SELECT h.name, h.value, m.first_seen FROM "
	    "messages m JOIN headers h ON h.message = m.id WHERE m.seq > ?1 "
	    "AND h.cut = 0", last_seq, err, errsz) != 0)
		return -1;
	/* rows stored before the last run with times after its now */
	if (now > last_now && (shifted(x, "SELECT DISTINCT u.id, u.name FROM "
	    "ana_sessions s JOIN ana_users u ON u.id = s.user WHERE s.t > ?1 "
	    "AND s.t <= ?2", last_now, err, errsz) != 0 || shifted(x,
	    "SELECT DISTINCT u.id, u.name FROM ana_messages m JOIN ana_users u "
	    "ON u.id = m.user WHERE m.t > ?1 AND m.t <= ?2", last_now, err,
	    errsz) != 0))
		return -1;
	return pending(x, err, errsz);
}

/* aix_pend - decide this user again in the next run */
int
aix_pend(rg_store *st, const char *user, char *err, size_t errsz)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO ana_pending(user) "
	    "VALUES (?1)", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
		if (db_run(q) == 0)
			return 0;
	}
	snprintf(err, errsz, "analyzer index: %s", sqlite3_errmsg(db));
	return -1;
}

/* aix_finish - remember what this run saw */
int
aix_finish(aix *x, char *err, size_t errsz)
{
	char seq[32], now[32];

	snprintf(seq, sizeof(seq), "%lld", x->seq);
	snprintf(now, sizeof(now), "%lld", x->now);
	if (db_meta_put(x->stm->db, "ana_seq", seq) != 0
	    || db_meta_put(x->stm->db, "ana_now", now) != 0
	    || db_meta_put(x->stm->db, "ana_fp", x->fp) != 0
	    || db_meta_put(x->stm->db, "ana_config", x->cfp) != 0)
		return fail(x, err, errsz, "analyzer index");
	return 0;
}

/* aix_free - release the per-run state */
void
aix_free(aix *x)
{
	if (x->stm != NULL) {
		sqlite3_finalize(x->stm->uid);
		sqlite3_finalize(x->stm->newuid);
		sqlite3_finalize(x->stm->spam);
		sqlite3_finalize(x->stm->sess_n);
		sqlite3_finalize(x->stm->sess_t);
		sqlite3_finalize(x->stm->rcpt);
		sqlite3_finalize(x->stm->inv);
		sqlite3_finalize(x->stm->nrcpt);
		free(x->stm);
	}
	free(x->uid);
	free(x->touched);
	memset(x, 0, sizeof(*x));
}

/* ---- the rules' reads of the index ---- */

/* prep - a kept statement, prepared at its first use */
static int
prep(aix *x, sqlite3_stmt **q, const char *sql, const char *what, char *err,
    size_t errsz)
{
	if (*q == NULL && sqlite3_prepare_v2(x->stm->db, sql, -1, q, NULL)
	    != SQLITE_OK)
		return fail(x, err, errsz, what);
	return 0;
}

/* bind3 - the user and the window (since, until] */
static void
bind3(sqlite3_stmt *q, long long uid, long long since, long long until)
{
	sqlite3_bind_int64(q, 1, uid);
	sqlite3_bind_int64(q, 2, since);
	sqlite3_bind_int64(q, 3, until);
}

/* aix_spam - a user's trusted spam in (since, until], by time */
int
aix_spam(aix *x, long long uid, long long since, long long until,
    aix_spam_fn fn, void *arg, char *err, size_t errsz)
{
	sqlite3_stmt *q;

	if (prep(x, &x->stm->spam, "SELECT t, identity, method, header FROM "
	    "ana_messages WHERE user = ?1 AND spam = 1 AND t > ?2 AND t <= ?3 "
	    "ORDER BY t", "reading spam verdicts", err, errsz) != 0)
		return -1;
	q = x->stm->spam;
	bind3(q, uid, since, until);
	while (sqlite3_step(q) == SQLITE_ROW)
		fn(arg, sqlite3_column_int64(q, 0), sqlite3_column_type(q, 1)
		    == SQLITE_NULL ? NULL : (const char *)sqlite3_column_text(q,
		    1), (const char *)sqlite3_column_text(q, 2),
		    (const char *)sqlite3_column_text(q, 3));
	sqlite3_reset(q);
	return 0;
}

/* aix_sessions - how many sessions of a user in (since, until] */
int
aix_sessions(aix *x, long long uid, long long since, long long until,
    long long *n, char *err, size_t errsz)
{
	sqlite3_stmt *q;

	*n = 0;
	if (prep(x, &x->stm->sess_n, "SELECT count(*) FROM ana_sessions WHERE "
	    "user = ?1 AND t > ?2 AND t <= ?3", "reading sessions", err,
	    errsz) != 0)
		return -1;
	q = x->stm->sess_n;
	bind3(q, uid, since, until);
	if (sqlite3_step(q) == SQLITE_ROW)
		*n = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return 0;
}

/* aix_session_at - the time of the (skip+1)-th latest such session */
int
aix_session_at(aix *x, long long uid, long long since, long long until,
    long long skip, long long *t, char *err, size_t errsz)
{
	sqlite3_stmt *q;

	*t = 0;
	if (prep(x, &x->stm->sess_t, "SELECT t FROM ana_sessions WHERE user = "
	    "?1 AND t > ?2 AND t <= ?3 ORDER BY t DESC LIMIT 1 OFFSET ?4",
	    "reading sessions", err, errsz) != 0)
		return -1;
	q = x->stm->sess_t;
	bind3(q, uid, since, until);
	sqlite3_bind_int64(q, 4, skip);
	if (sqlite3_step(q) == SQLITE_ROW)
		*t = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return 0;
}

/* aix_recipients - the counted recipients of a user's mail in the window */
int
aix_recipients(aix *x, long long uid, long long since, long long until,
    aix_rcpt_fn fn, void *arg, char *err, size_t errsz)
{
	sqlite3_stmt *q;

	if (prep(x, &x->stm->rcpt, "SELECT m.t, r.address FROM ana_messages "
	    "m JOIN recipients r ON r.message = m.message WHERE m.user = ?1 AND "
	    "m.rcpt > 0 AND m.t > ?2 AND m.t <= ?3", "reading recipients", err,
	    errsz) != 0)
		return -1;
	q = x->stm->rcpt;
	bind3(q, uid, since, until);
	while (sqlite3_step(q) == SQLITE_ROW)
		fn(arg, sqlite3_column_int64(q, 0),
		    (const char *)sqlite3_column_text(q, 1));
	sqlite3_reset(q);
	return 0;
}

/* aix_recipient_count - how many rows aix_recipients would yield */
int
aix_recipient_count(aix *x, long long uid, long long since, long long until,
    long long *n, char *err, size_t errsz)
{
	sqlite3_stmt *q;

	*n = 0;
	/* each indexed message keeps its number of recipients (rcpt) */
	if (prep(x, &x->stm->nrcpt, "SELECT total(rcpt) FROM ana_messages "
	    "WHERE user = ?1 AND rcpt > 0 AND t > ?2 AND t <= ?3",
	    "reading recipients", err, errsz) != 0)
		return -1;
	q = x->stm->nrcpt;
	bind3(q, uid, since, until);
	if (sqlite3_step(q) == SQLITE_ROW)
		*n = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return 0;
}

/* aix_invalid - a user's messages with invalid recipients, by time */
int
aix_invalid(aix *x, long long uid, long long since, long long until,
    aix_invalid_fn fn, void *arg, char *err, size_t errsz)
{
	sqlite3_stmt *q;

	if (prep(x, &x->stm->inv, "SELECT t, invalid FROM ana_messages "
	    "WHERE user = ?1 AND invalid > 0 AND t > ?2 AND t <= ?3 ORDER BY t",
	    "reading invalid recipients", err, errsz) != 0)
		return -1;
	q = x->stm->inv;
	bind3(q, uid, since, until);
	while (sqlite3_step(q) == SQLITE_ROW)
		fn(arg, sqlite3_column_int64(q, 0), sqlite3_column_int(q, 1));
	sqlite3_reset(q);
	return 0;
}

/* aix_header_values - the indexed values of a header with identity id */
int
aix_header_values(rg_store *st, const char *header, const char *id,
    void (*fn)(void *arg, const char *value), void *arg)
{
	sqlite3_stmt *q;
	int found = 0;

	if (sqlite3_prepare_v2(store_db(st), "SELECT value FROM ana_hvalues "
	    "WHERE header = lower(?1) AND identity = ?2", -1, &q, NULL)
	    != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, header, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
	while (sqlite3_step(q) == SQLITE_ROW) {
		fn(arg, (const char *)sqlite3_column_text(q, 0));
		found++;
	}
	sqlite3_finalize(q);
	return found;
}
