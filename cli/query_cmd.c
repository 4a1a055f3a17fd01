/*
 * query_cmd.c - `relayguard messages` and `relayguard stats`: what the
 * collector stored. Read-only: the database is opened read-only, and
 * everything printed came from logs, so it is escaped (JSON) or quoted.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/store.h"
#include "../common/log.h"
#include "../common/rgtime.h"
#include "../common/strbuf.h"
#include "cli.h"

/* open_ro - the configured database, read-only */
static rg_store *
open_ro(const cli_ctx *cx, rg_config **cfgp, int *rc)
{
	char err[1024];
	rg_store *st;

	if ((*cfgp = cli_load_config(cx, rc)) == NULL)
		return NULL;
	if ((st = store_open((*cfgp)->database, STORE_READONLY, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s", err);
		cfg_free(*cfgp);
		*cfgp = NULL;
		*rc = EX_NOINPUT_;
	}
	return st;
}

/* time_arg - parse --since/--until; -1 on bad syntax */
static int
time_arg(const char *opt, const char *v, long long *out)
{
	rg_usec t;

	if (rgt_parse_time(v, &t) != 0) {
		log_warnx("%s: '%s' is not a time (YYYY-MM-DD[THH:MM[:SS]][Z], "
		    "or @EPOCH)", opt, v);
		return -1;
	}
	*out = t;
	return 0;
}

/* safe - a log string for a terminal: plain, or JSON-quoted if odd */
static void
safe(strbuf *sb, const char *s)
{
	const char *p;

	if (s == NULL) {
		sb_adds(sb, "-");
		return;
	}
	for (p = s; *p; p++)
		if (*p <= ' ' || *p >= 127 || *p == '"' || *p == '\\')
			break;
	if (*p == '\0' && *s)
		sb_adds(sb, s);
	else
		sb_json_str(sb, s, strlen(s));
}

/* pad - pad the buffer with spaces to width from mark, then one space */
static void
pad(strbuf *sb, size_t mark, size_t width)
{
	while (sb->len - mark < width)
		sb_addc(sb, ' ');
	sb_addc(sb, ' ');
}

/* cmd_messages - list stored messages */
int
cmd_messages(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "sender", required_argument, NULL, 's' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "json", no_argument, NULL, 'j' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL, *sender = NULL;
	long long since = 0, until = (1LL << 62), limit = -1;
	int ch, json = 0, rc;
	rg_config *cfg;
	rg_store *st;
	sqlite3_stmt *q;
	strbuf sb;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': user = optarg; break;
		case 's': sender = optarg; break;
		case 'S':
			if (time_arg("--since", optarg, &since) != 0)
				return EX_USAGE_;
			break;
		case 'U':
			if (time_arg("--until", optarg, &until) != 0)
				return EX_USAGE_;
			break;
		case 'j': json = 1; break;
		case 'l': limit = atoll(optarg); break;
		case 'h':
			printf("usage: relayguard [-c CONFIG] messages [--user U] "
			    "[--sender S] [--since T]\n"
			    "                  [--until T] [--limit N] [--json]\n\n"
			    "Lists stored messages (and NOQUEUE rejects) by time. "
			    "--user matches the SASL\nlogin or the client IP; "
			    "times are YYYY-MM-DD[THH:MM[:SS]][Z] (local without "
			    "Z)\nor @EPOCH. --json writes the records as `parse` "
			    "does, sorted, so that two\ndatabases can be compared.\n");
			return EX_OK_;
		default:
			return EX_USAGE_;
		}
	}
	if ((st = open_ro(cx, &cfg, &rc)) == NULL)
		return rc;
	if (sqlite3_prepare_v2(store_db(st),
	    "SELECT json, first_seen, host, queue_id, sasl_username, client_ip, "
	    "sender, (SELECT count(*) FROM recipients WHERE message = id), "
	    "(SELECT group_concat(status, ',') FROM (SELECT DISTINCT status FROM "
	    "recipients WHERE message = id)), spam, complete, reject_dsn, held, "
	    "COALESCE(rec, (SELECT state FROM open_msgs o WHERE o.id = "
	    "messages.id)) FROM messages WHERE first_seen >= ?1 AND first_seen < ?2 "
	    "AND (?3 IS NULL OR sasl_username = ?3 OR client_ip = ?3) "
	    "AND (?4 IS NULL OR sender = ?4) "
	    "ORDER BY first_seen, host, queue_id, id LIMIT ?5", -1, &q, NULL)
	    != SQLITE_OK) {
		log_warnx("%s: %s", cfg->database, sqlite3_errmsg(store_db(st)));
		store_close(st);
		cfg_free(cfg);
		return EX_SOFTWARE_;
	}
	sqlite3_bind_int64(q, 1, since);
	sqlite3_bind_int64(q, 2, until);
	if (user)
		sqlite3_bind_text(q, 3, user, -1, SQLITE_STATIC);
	if (sender)
		sqlite3_bind_text(q, 4, sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, limit);
	sb_init(&sb);
	if (!json)
		printf("%-20s %-8s %-12s %-28s %-28s %5s %s\n", "first seen (UTC)",
		    "host", "queue id", "user", "sender", "rcpts", "status");
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		char t[64];

		if (json) {
			sb_reset(&sb);
			if (store_message_json(st, sqlite3_column_blob(q, 13),
			    (size_t)sqlite3_column_bytes(q, 13), (const char *)
			    sqlite3_column_text(q, 0), (size_t)sqlite3_column_bytes(q,
			    0), &sb) == 0)
				puts(sb.s);
			continue;
		}
		rgt_format(t, sqlite3_column_int64(q, 1));
		t[19] = '\0';
		t[10] = ' ';
		sb_reset(&sb);
		sb_printf(&sb, "%-20s ", t);
		{
			size_t mark = sb.len;

			safe(&sb, (const char *)sqlite3_column_text(q, 2));
			pad(&sb, mark, 8);
			mark = sb.len;
			safe(&sb, (const char *)(sqlite3_column_text(q, 3)
			    ? sqlite3_column_text(q, 3)
			    : (const unsigned char *)"NOQUEUE"));
			pad(&sb, mark, 12);
			mark = sb.len;
			safe(&sb, (const char *)(sqlite3_column_text(q, 4)
			    ? sqlite3_column_text(q, 4) : sqlite3_column_text(q, 5)));
			pad(&sb, mark, 28);
			mark = sb.len;
			safe(&sb, (const char *)sqlite3_column_text(q, 6));
			pad(&sb, mark, 28);
		}
		sb_printf(&sb, "%5d ", sqlite3_column_int(q, 7));
		safe(&sb, (const char *)sqlite3_column_text(q, 8));
		if (sqlite3_column_type(q, 11) != SQLITE_NULL) {
			sb_adds(&sb, " refused ");
			safe(&sb, (const char *)sqlite3_column_text(q, 11));
		}
		if (sqlite3_column_int(q, 12))
			sb_adds(&sb, " HELD");
		if (sqlite3_column_int(q, 9))
			sb_adds(&sb, " SPAM");
		if (!sqlite3_column_int(q, 10))
			sb_adds(&sb, " (open)");
		puts(sb.s);
	}
	sb_free(&sb);
	if (rc != SQLITE_DONE)
		log_warnx("%s: %s", cfg->database, sqlite3_errmsg(store_db(st)));
	sqlite3_finalize(q);
	store_close(st);
	cfg_free(cfg);
	return rc == SQLITE_DONE ? EX_OK_ : EX_SOFTWARE_;
}

/* cmd_stats - per-user totals */
int
cmd_stats(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long long since = 0;
	int ch, json = 0, rc;
	rg_config *cfg;
	rg_store *st;
	sqlite3_stmt *q;
	strbuf sb;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'S':
			if (time_arg("--since", optarg, &since) != 0)
				return EX_USAGE_;
			break;
		case 'j': json = 1; break;
		case 'h':
			printf("usage: relayguard [-c CONFIG] stats [--since T] "
			    "[--json]\n\nPer-user totals of the stored messages: "
			    "messages, recipients, sent, bounced,\ndeferred, "
			    "rejected, spam (trusted verdicts), SMTP sessions. "
			    "The user is the SASL\nlogin, else the client IP. "
			    "Postfix's own notifications and the first queue ID\n"
			    "of a content-filtered message are not counted.\n");
			return EX_OK_;
		default:
			return EX_USAGE_;
		}
	}
	if ((st = open_ro(cx, &cfg, &rc)) == NULL)
		return rc;
	if (sqlite3_prepare_v2(store_db(st),
	    "WITH m AS (SELECT id, COALESCE(sasl_username, client_ip, "
	    "'(local)') AS user, CASE WHEN sasl_username IS NOT NULL THEN "
	    "'sasl' WHEN client_ip IS NOT NULL THEN 'ip' ELSE 'local' END AS "
	    "kind, COALESCE(spam, 0) AS spam, (reject_stage IS NOT NULL AND NOT "
	    "EXISTS (SELECT 1 FROM recipients WHERE message = messages.id)) AS "
	    "rej FROM messages WHERE bounce_of IS "
	    "NULL AND filtered_as IS NULL AND first_seen >= ?1), "
	    "r AS (SELECT m.user AS user, count(*) AS rcpts, "
	    "sum(status = 'sent') AS sent, sum(status IN ('bounced', "
	    "'expired')) AS bounced, sum(status = 'deferred') AS deferred, "
	    "sum(status = 'rejected') AS rejected FROM recipients JOIN m ON "
	    "recipients.message = m.id GROUP BY m.user), "
	    "s AS (SELECT COALESCE(sasl_username, client_ip) AS user, count(*) "
	    "AS n FROM sessions WHERE COALESCE(connect, last_seen) >= ?1 GROUP "
	    "BY 1), "
	    "t AS (SELECT user, min(kind) AS kind, count(*) AS messages, "
	    "sum(spam) AS spam, sum(rej) AS rej FROM m GROUP BY user) "
	    "SELECT t.user, t.kind, t.messages, COALESCE(r.rcpts, 0), "
	    "COALESCE(r.sent, 0), COALESCE(r.bounced, 0), COALESCE(r.deferred, "
	    "0), COALESCE(r.rejected, 0) + t.rej, t.spam, COALESCE(s.n, 0) FROM t "
	    "LEFT JOIN r USING (user) LEFT JOIN s USING (user) "
	    "ORDER BY t.messages DESC, t.user", -1, &q, NULL) != SQLITE_OK) {
		log_warnx("%s: %s", cfg->database, sqlite3_errmsg(store_db(st)));
		store_close(st);
		cfg_free(cfg);
		return EX_SOFTWARE_;
	}
	sqlite3_bind_int64(q, 1, since);
	sb_init(&sb);
	if (!json)
		printf("%-32s %-5s %8s %6s %6s %7s %8s %8s %5s %8s\n", "user",
		    "kind", "messages", "rcpts", "sent", "bounced", "deferred",
		    "rejected", "spam", "sessions");
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *u = (const char *)sqlite3_column_text(q, 0);
		int first = 1;

		sb_reset(&sb);
		if (json) {
			static const char *keys[] = { "user", "kind", "messages",
			    "recipients", "sent", "bounced", "deferred",
			    "rejected", "spam", "sessions" };
			int k;

			sb_addc(&sb, '{');
			for (k = 0; k < 10; k++) {
				if (k < 2)
					sb_json_kv_str(&sb, &first, keys[k],
					    (const char *)sqlite3_column_text(q, k),
					    (size_t)sqlite3_column_bytes(q, k));
				else
					sb_json_kv_int(&sb, &first, keys[k],
					    sqlite3_column_int64(q, k));
			}
			sb_addc(&sb, '}');
			puts(sb.s);
			continue;
		}
		safe(&sb, u);
		printf("%-32s %-5s %8lld %6lld %6lld %7lld %8lld %8lld %5lld "
		    "%8lld\n", sb.s, sqlite3_column_text(q, 1),
		    sqlite3_column_int64(q, 2), sqlite3_column_int64(q, 3),
		    sqlite3_column_int64(q, 4), sqlite3_column_int64(q, 5),
		    sqlite3_column_int64(q, 6), sqlite3_column_int64(q, 7),
		    sqlite3_column_int64(q, 8), sqlite3_column_int64(q, 9));
	}
	sb_free(&sb);
	if (rc != SQLITE_DONE)
		log_warnx("%s: %s", cfg->database, sqlite3_errmsg(store_db(st)));
	sqlite3_finalize(q);
	store_close(st);
	cfg_free(cfg);
	return rc == SQLITE_DONE ? EX_OK_ : EX_SOFTWARE_;
}
