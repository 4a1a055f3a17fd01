/*
 * query_cmd.c - `relayguard messages` and `relayguard stats`: what the
 * collector stored, by configured user (the [user NAME] a message belongs
 * to, as rul_user_of() decides it for the analyzer), with the raw SASL
 * login or client IP beside it. Read-only: the database is opened
 * read-only (the reads are in store/query.c), and everything printed came
 * from logs, so it is escaped (JSON) or quoted. The relay of a message is
 * the host name of the log lines that told it (--relay, stats --by-relay):
 * as attacker-controlled as the rest.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../store/store.h"
#include "../common/hash.h"
#include "../common/log.h"
#include "../common/rgtime.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "../store/query.h"
#include "cli.h"

/* open_ro - the configuration, its users, and the database read-only */
static rg_store *
open_ro(const cli_ctx *cx, rg_config **cfgp, rul_policy **polp, int *rc)
{
	char err[1024];
	rg_store *st;

	*polp = NULL;
	if ((*cfgp = cli_load_config(cx, rc)) == NULL)
		return NULL;
	if ((*polp = rul_new(*cfgp, err, sizeof(err))) == NULL) {
		log_fatalx("%s", err);
		cfg_free(*cfgp);
		*cfgp = NULL;
		*rc = EX_CONFIG_;
		return NULL;
	}
	if ((st = store_open((*cfgp)->database, STORE_READONLY, err,
	    sizeof(err))) == NULL) {
		log_fatalx("%s", err);
		rul_free(*polp);
		cfg_free(*cfgp);
		*polp = NULL;
		*cfgp = NULL;
		*rc = EX_NOINPUT_;
	}
	return st;
}

/* close_ro - release what open_ro opened */
static void
close_ro(rg_config *cfg, rul_policy *pol, rg_store *st)
{
	store_close(st);
	rul_free(pol);
	cfg_free(cfg);
}

/* time_arg - parse --since/--until; -1 on bad syntax */
static int
time_arg(const char *opt, const char *v, long long *out)
{
	rg_usec t;

	if (rgt_parse_time(v, &t) != 0) {
		log_fatalx("%s: '%s' is not a time (YYYY-MM-DD[THH:MM[:SS]][Z], "
		    "@EPOCH, or a duration ago: 1h, 2d)", opt, v);
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

/* raw_key - the raw sender key of a message: SASL login, else client IP */
static const char *
raw_key(const char *sasl, const char *client_ip)
{
	return sasl != NULL ? sasl : client_ip != NULL ? client_ip : "(local)";
}

/*
 * user_filter - does a message belong to --user U: U is a configured user
 * (the message is that user's, as the analyzer assigns it), else a raw
 * SASL login or client IP
 */
static int
user_filter(const rul_policy *pol, const rul_user *want, const char *name,
    const char *sasl, const char *client_ip, const char *sender)
{
	if (want != NULL)
		return rul_user_of(pol, sasl, client_ip, sender) == want;
	return (sasl != NULL && strcmp(sasl, name) == 0)
	    || (client_ip != NULL && strcmp(client_ip, name) == 0);
}

/* relay_filter - does host match --relay R (NULL: every relay) */
static int
relay_filter(const char *want, const char *host)
{
	return want == NULL || (host != NULL && strcasecmp(host, want) == 0);
}

/* cmd_messages - list stored messages */
int
cmd_messages(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "sender", required_argument, NULL, 's' },
		{ "relay", required_argument, NULL, 'r' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "json", no_argument, NULL, 'j' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL, *sender = NULL, *relay = NULL;
	long long since = 0, until = (1LL << 62), limit = -1, n = 0;
	int ch, json = 0, rc;
	char err[1024];
	const rul_user *want = NULL;
	rg_config *cfg;
	rul_policy *pol;
	rg_store *st;
	stq_iter *it;
	stq_msg m;
	strbuf sb;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': user = optarg; break;
		case 's': sender = optarg; break;
		case 'r': relay = optarg; break;
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
			    "[--sender S] [--relay HOST]\n"
			    "                  [--since T] [--until T] [--limit N] "
			    "[--json]\n\n"
			    "Lists stored messages (and NOQUEUE rejects) by time. "
			    "The user is the\nconfigured [user NAME] the message "
			    "belongs to, as analyze and users count it\n(\"-\": "
			    "none), the login/IP column the SASL login or else "
			    "the client IP.\n--user U: the messages of the "
			    "configured user U; if U is no configured user,\n"
			    "those whose SASL login or client IP is U. --relay "
			    "HOST: the messages that\nrelay logged (the host "
			    "name of its log lines, any case).\nTimes are "
			    "YYYY-MM-DD[THH:MM[:SS]][Z] (local without Z), @EPOCH, "
			    "or a\nduration ago (1h, 2d). --json writes the "
			    "records as `parse` does, sorted,\nso that two "
			    "databases can be compared.\n");
			return EX_OK_;
		default:
			return EX_USAGE_;
		}
	}
	if ((st = open_ro(cx, &cfg, &pol, &rc)) == NULL)
		return rc;
	if (user != NULL)
		want = rul_user_named(pol, user);
	if ((it = stq_messages(st, since, until, sender, json, err,
	    sizeof(err))) == NULL) {
		log_fatalx("%s: %s", cfg->database, err);
		close_ro(cfg, pol, st);
		return EX_SOFTWARE_;
	}
	sb_init(&sb);
	if (!json)
		printf("%-20s %-8s %-12s %-24s %-24s %-24s %5s %s\n",
		    "first seen (UTC)", "host", "queue id", "user", "login/ip",
		    "sender", "rcpts", "status");
	while ((limit < 0 || n < limit) && (rc = stq_msg_next(it, &m)) == 1) {
		const rul_user *u;
		char t[64];
		size_t mark;

		if (user != NULL && !user_filter(pol, want, user, m.sasl,
		    m.client_ip, m.sender))
			continue;
		if (!relay_filter(relay, m.host))
			continue;
		n++;
		if (json) {
			fwrite(m.json, 1, m.json_len, stdout);
			putchar('\n');
			continue;
		}
		u = rul_user_of(pol, m.sasl, m.client_ip, m.sender);
		rgt_format(t, m.first_seen);
		t[19] = '\0';
		t[10] = ' ';
		sb_reset(&sb);
		sb_printf(&sb, "%-20s ", t);
		mark = sb.len;
		safe(&sb, m.host);
		pad(&sb, mark, 8);
		mark = sb.len;
		safe(&sb, m.queue_id ? m.queue_id : "NOQUEUE");
		pad(&sb, mark, 12);
		mark = sb.len;
		safe(&sb, u != NULL ? u->name : "-");
		pad(&sb, mark, 24);
		mark = sb.len;
		safe(&sb, raw_key(m.sasl, m.client_ip));
		pad(&sb, mark, 24);
		mark = sb.len;
		safe(&sb, m.sender);
		pad(&sb, mark, 24);
		sb_printf(&sb, "%5lld ", m.nrcpt);
		safe(&sb, m.statuses);
		if (m.reject_dsn != NULL) {
			sb_adds(&sb, " refused ");
			safe(&sb, m.reject_dsn);
		}
		if (m.held)
			sb_adds(&sb, " HELD");
		if (m.spam)
			sb_adds(&sb, " SPAM");
		if (!m.complete)
			sb_adds(&sb, " (open)");
		puts(sb.s);
	}
	sb_free(&sb);
	if (rc < 0)
		log_fatalx("%s: %s", cfg->database, stq_strerror(it));
	stq_free(it);
	close_ro(cfg, pol, st);
	return rc < 0 ? EX_SOFTWARE_ : EX_OK_;
}

#define STATS_LOGINS 8		/* distinct raw logins/IPs kept per row */

/* one row of `stats`: a configured user, or an unassigned raw login/IP */
typedef struct stats_row {
	const rul_user *user;		/* NULL: unassigned */
	char *key;			/* the user's name, or the raw key */
	char *relay;			/* --by-relay: the relay, else NULL */
	const char *kind;
	long long messages, rcpts, sent, bounced, deferred, rejected, spam,
	    held, sessions;
	char *logins[STATS_LOGINS];	/* the raw logins/IPs seen */
	int nlogins, more_logins;
} stats_row;

typedef struct stats_tab {
	rg_htab h;
	stats_row **rows;
	size_t n, cap;
} stats_tab;

/*
 * stats_row_of - the row of a message's configured user or raw key (and
 * with --by-relay, of its relay: relay not NULL)
 */
static stats_row *
stats_row_of(stats_tab *t, const rul_user *u, const char *sasl,
    const char *client_ip, const char *relay)
{
	const char *key = u != NULL ? u->name : raw_key(sasl, client_ip);
	uint32_t h = rg_hash_more(rg_hash(key, strlen(key)), u ? "u" : "r", 1);
	size_t i;
	stats_row *r;

	if (relay != NULL)
		h = rg_hash_more(rg_hash_more(h, "@", 1), relay, strlen(relay));
	i = rg_htab_start(&t->h, h);
	while ((r = rg_htab_next(&t->h, h, &i)) != NULL)
		if ((r->user != NULL) == (u != NULL) && strcmp(r->key, key) == 0
		    && (relay == NULL ? r->relay == NULL : r->relay != NULL
		    && strcmp(r->relay, relay) == 0))
			return r;
	r = xcalloc(1, sizeof(*r));
	r->user = u;
	r->key = xstrdup(key);
	r->relay = relay != NULL ? xstrdup(relay) : NULL;
	r->kind = u != NULL ? u->cfg->type : sasl != NULL ? "sasl"
	    : client_ip != NULL ? "ip" : "local";
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->rows = xrealloc(t->rows, t->cap * sizeof(*t->rows));
	}
	t->rows[t->n++] = r;
	rg_htab_insert(&t->h, h, r);
	return r;
}

/* stats_login - remember a raw login/IP of a configured user's row */
static void
stats_login(stats_row *r, const char *sasl, const char *client_ip)
{
	const char *k = raw_key(sasl, client_ip);
	int i;

	for (i = 0; i < r->nlogins; i++)
		if (strcmp(r->logins[i], k) == 0)
			return;
	if (r->nlogins == STATS_LOGINS) {
		r->more_logins = 1;
		return;
	}
	r->logins[r->nlogins++] = xstrdup(k);
}

/* cmp_rows - by relay (--by-relay), then most messages, then by name */
static int
cmp_rows(const void *a, const void *b)
{
	const stats_row *x = *(stats_row *const *)a, *y = *(stats_row *const *)b;
	int c;

	if (x->relay != NULL && y->relay != NULL
	    && (c = strcmp(x->relay, y->relay)) != 0)
		return c;
	if (x->messages != y->messages)
		return x->messages > y->messages ? -1 : 1;
	if ((x->user == NULL) != (y->user == NULL))
		return x->user == NULL ? 1 : -1;
	return strcmp(x->key, y->key);
}

/* stats_print - one row, as text or JSON */
static void
stats_print(const stats_row *r, int json)
{
	strbuf sb, lg;
	int i;

	sb_init(&sb);
	sb_init(&lg);
	if (json) {
		int first = 1;

		sb_addc(&sb, '{');
		if (r->relay != NULL)
			sb_json_kv_str(&sb, &first, "relay", r->relay,
			    strlen(r->relay));
		if (r->user != NULL)
			sb_json_kv_str(&sb, &first, "user", r->key,
			    strlen(r->key));
		else {
			sb_json_key(&sb, &first, "user");
			sb_adds(&sb, "null");
		}
		sb_json_kv_str(&sb, &first, "kind", r->kind, strlen(r->kind));
		sb_json_kv_int(&sb, &first, "messages", r->messages);
		sb_json_kv_int(&sb, &first, "recipients", r->rcpts);
		sb_json_kv_int(&sb, &first, "sent", r->sent);
		sb_json_kv_int(&sb, &first, "bounced", r->bounced);
		sb_json_kv_int(&sb, &first, "deferred", r->deferred);
		sb_json_kv_int(&sb, &first, "rejected", r->rejected);
		sb_json_kv_int(&sb, &first, "spam", r->spam);
		sb_json_kv_int(&sb, &first, "held", r->held);
		sb_json_kv_int(&sb, &first, "sessions", r->sessions);
		sb_json_key(&sb, &first, "logins");
		sb_addc(&sb, '[');
		for (i = 0; i < r->nlogins; i++) {
			if (i)
				sb_addc(&sb, ',');
			sb_json_str(&sb, r->logins[i], strlen(r->logins[i]));
		}
		sb_addc(&sb, ']');
		if (r->more_logins) {
			sb_json_key(&sb, &first, "more_logins");
			sb_adds(&sb, "true");
		}
		sb_addc(&sb, '}');
		puts(sb.s);
	} else {
		size_t mark;

		if (r->relay != NULL) {
			safe(&sb, r->relay);
			pad(&sb, 0, 16);
		}
		mark = sb.len;
		safe(&sb, r->user != NULL ? r->key : "-");
		pad(&sb, mark, 32);
		if (r->nlogins > 0)
			safe(&lg, r->logins[0]);
		if (r->nlogins > 1 || r->more_logins)
			sb_printf(&lg, " +%d%s", r->nlogins - 1, r->more_logins
			    ? " or more" : "");
		printf("%s%-6s %8lld %6lld %6lld %7lld %8lld %8lld %5lld "
		    "%5lld %8lld  %s\n", sb.s, r->kind, r->messages, r->rcpts,
		    r->sent, r->bounced, r->deferred, r->rejected, r->spam,
		    r->held, r->sessions, lg.s);
	}
	sb_free(&sb);
	sb_free(&lg);
}

/* cmd_stats - per-user totals */
int
cmd_stats(const cli_ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "relay", required_argument, NULL, 'r' },
		{ "by-relay", no_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long long since = 0, until = (1LL << 62);
	const char *relay = NULL;
	int ch, json = 0, by_relay = 0, rc = 0, ret = EX_OK_;
	char err[1024];
	rg_config *cfg;
	rul_policy *pol;
	rg_store *st;
	stq_iter *it;
	stq_total m;
	stq_session ss;
	stats_tab t;
	size_t i;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'S':
			if (time_arg("--since", optarg, &since) != 0)
				return EX_USAGE_;
			break;
		case 'U':
			if (time_arg("--until", optarg, &until) != 0)
				return EX_USAGE_;
			break;
		case 'r': relay = optarg; break;
		case 'b': by_relay = 1; break;
		case 'j': json = 1; break;
		case 'h':
			printf("usage: relayguard [-c CONFIG] stats [--since T] "
			    "[--until T] [--relay HOST]\n"
			    "                  [--by-relay] [--json]\n\n"
			    "Per-user totals of the "
			    "stored messages, in the columns of parse --summary:"
			    "\nmessages, recipients, sent, bounced, deferred, "
			    "rejected, spam (trusted\nverdicts), held, then SMTP "
			    "sessions and the logins. The user is the configured\n"
			    "[user NAME] (as analyze and users count it: an IP "
			    "user's CIDR is one row);\nthe last column is its "
			    "SASL login or client IP (\"+N\": N more). Mail of\n"
			    "no configured user is one row per login or IP, user "
			    "\"-\". Postfix's own\nnotifications and the first "
			    "queue ID of a content-filtered message are not\n"
			    "counted. Times as for messages (1h: an hour ago).\n"
			    "--relay HOST: only what that relay logged (the host "
			    "name of its log lines,\nany case). --by-relay: one "
			    "row per relay and user, the relay first (JSON:\n"
			    "\"relay\"), by relay, then most messages.\n");
			return EX_OK_;
		default:
			return EX_USAGE_;
		}
	}
	if ((st = open_ro(cx, &cfg, &pol, &rc)) == NULL)
		return rc;
	memset(&t, 0, sizeof(t));
	rg_htab_init(&t.h, 64);
	if ((it = stq_totals(st, since, until, err, sizeof(err)))
	    == NULL) {
		log_fatalx("%s: %s", cfg->database, err);
		ret = EX_SOFTWARE_;
		goto end;
	}
	while ((rc = stq_total_next(it, &m)) == 1) {
		const rul_user *u;
		stats_row *r;

		if (!relay_filter(relay, m.host))
			continue;
		u = rul_user_of(pol, m.sasl, m.client_ip, m.sender);
		r = stats_row_of(&t, u, m.sasl, m.client_ip, !by_relay ? NULL
		    : m.host != NULL ? m.host : "");
		stats_login(r, m.sasl, m.client_ip);
		r->messages++;
		r->rcpts += m.rcpts;
		r->sent += m.sent;
		r->bounced += m.bounced;
		r->deferred += m.deferred;
		r->rejected += m.rejected + m.refused;
		r->spam += m.spam;
		r->held += m.held;
	}
	if (rc < 0) {
		log_fatalx("%s: %s", cfg->database, stq_strerror(it));
		ret = EX_SOFTWARE_;
		goto end;
	}
	stq_free(it);
	if ((it = stq_sessions(st, since, until, err, sizeof(err)))
	    == NULL) {
		log_fatalx("%s: %s", cfg->database, err);
		ret = EX_SOFTWARE_;
		goto end;
	}
	while ((rc = stq_session_next(it, &ss)) == 1) {
		const rul_user *u = rul_user_of(pol, ss.sasl, ss.client_ip,
		    NULL);
		stats_row *r;

		if (u == NULL && ss.sasl == NULL && ss.client_ip == NULL)
			continue;
		if (!relay_filter(relay, ss.host))
			continue;
		r = stats_row_of(&t, u, ss.sasl, ss.client_ip, !by_relay ? NULL
		    : ss.host != NULL ? ss.host : "");
		stats_login(r, ss.sasl, ss.client_ip);
		r->sessions++;
	}
	if (rc < 0) {
		log_fatalx("%s: %s", cfg->database, stq_strerror(it));
		ret = EX_SOFTWARE_;
		goto end;
	}
	if (t.n > 0)	/* qsort(NULL, 0) is undefined */
		qsort(t.rows, t.n, sizeof(*t.rows), cmp_rows);
	if (!json && by_relay)
		printf("%-16s ", "relay");
	if (!json)
		printf("%-32s %-6s %8s %6s %6s %7s %8s %8s %5s %5s %8s  %s\n",
		    "user", "kind", "messages", "rcpts", "sent", "bounced",
		    "deferred", "rejected", "spam", "held", "sessions",
		    "login/ip");
	for (i = 0; i < t.n; i++)
		stats_print(t.rows[i], json);
end:
	stq_free(it);
	for (i = 0; i < t.n; i++) {
		int k;

		for (k = 0; k < t.rows[i]->nlogins; k++)
			free(t.rows[i]->logins[k]);
		free(t.rows[i]->key);
		free(t.rows[i]->relay);
		free(t.rows[i]);
	}
	free(t.rows);
	rg_htab_free(&t.h);
	close_ro(cfg, pol, st);
	return ret;
}
