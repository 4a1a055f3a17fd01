/*
 * alert.c - lock alerts to admin_contact. Reads the analyzer's events
 * (table events) that are new since the last alert, and queues one
 * text/plain mail for them: one decision, or a digest of all decisions
 * within [mail] alert_interval (a wave that locks 200 users is one mail).
 * Runs inside the analyzer's transaction (rep_queue); fails only on
 * SQLite errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rgtime.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "../store/mailsrc.h"
#include "../store/outbox.h"
#include "compose.h"
#include "mailq.h"

#define MAX_LISTED 20		/* messages shown per decision */

typedef ms_event ev;

/* worth - does the administrator get mail for this decision? */
static int
worth(const char *action, const char *rule)
{
	if (strcmp(action, "lock") == 0 || strcmp(action, "block") == 0
	    || strcmp(action, "alert") == 0)
		return 1;
	return strcmp(action, "unlock") == 0 && strcmp(rule, "manual") == 0;
}

/* kv - the value of key in a "k=v k=v" detail, "" if absent */
static void
kv(const char *detail, const char *key, char *out, size_t sz)
{
	const char *p = detail;
	size_t kl = strlen(key), n;

	*out = '\0';
	while (p != NULL && *p) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			p += kl + 1;
			if (*p == '"') {
				p++;
				n = strcspn(p, "\"");
			} else {
				n = strcspn(p, " ");
			}
			snprintf(out, sz, "%.*s", (int)n, p);
			return;
		}
		p = strchr(p, ' ');
		if (p)
			p++;
	}
}

/* ucfg - a configured user's settings, NULL if gone */
static const rg_user_cfg *
ucfg(const rg_config *cfg, const char *name)
{
	int i;

	for (i = 0; i < cfg->nusers; i++)
		if (strcmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	return NULL;
}

/* shq - a shell word for the commands the admin copies */
static void
shq(strbuf *sb, const char *s)
{
	const char *p;

	for (p = s; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z')
		    && !(*p >= '0' && *p <= '9') && !strchr("@._-+/=:", *p))
			break;
	if (*p == '\0' && *s) {
		sb_adds(sb, s);
		return;
	}
	sb_addc(sb, '\'');
	for (p = s; *p; p++) {
		if (*p == '\'')
			sb_adds(sb, "'\\''");
		else
			sb_addc(sb, *p);
	}
	sb_addc(sb, '\'');
}

/* window_secs - a detail's window= ("10m", or "600s" before 0.1.0) in seconds */
static long long
window_secs(const char *w)
{
	long long s;

	return rgt_parse_duration(w, &s) == 0 ? s : 0;
}

/* window_text - "10 minutes" of seconds */
static void
window_text(char *buf, size_t sz, long long s)
{
	if (s % 86400 == 0 && s >= 86400)
		snprintf(buf, sz, "%lld day%s", s / 86400, s == 86400 ? "" : "s");
	else if (s % 3600 == 0 && s >= 3600)
		snprintf(buf, sz, "%lld hour%s", s / 3600, s == 3600 ? "" : "s");
	else if (s % 60 == 0 && s >= 60)
		snprintf(buf, sz, "%lld minute%s", s / 60, s == 60 ? "" : "s");
	else
		snprintf(buf, sz, "%lld seconds", s);
}

/* subject_of - the one-line summary of a decision */
static void
subject_of(strbuf *sb, const ev *e)
{
	char cnt[64], win[64], w[64], until[64], lost[64];
	strbuf whob;
	const char *who;

	sb_init(&whob);
	if (*e->identity)
		sb_printf(&whob, "identity %s of %s", e->identity, e->user);
	else
		sb_adds(&whob, e->user);
	who = whob.s;

	kv(e->detail, "count", cnt, sizeof(cnt));
	kv(e->detail, "window", win, sizeof(win));
	kv(e->detail, "until", until, sizeof(until));
	window_text(w, sizeof(w), window_secs(win));
	if (strcmp(e->action, "lock") == 0 && strcmp(e->rule, "manual") == 0)
		sb_printf(sb, "locked %s by hand", who);
	else if (strcmp(e->action, "unlock") == 0)
		sb_printf(sb, "unlocked %s by hand", who);
	else if (strcmp(e->action, "lock") == 0)
		sb_printf(sb, "locked %s%s: %s %s in %s", who,
		    strcmp(until, "unlock") == 0 ? " until unlocked" : "",
		    cnt, strcmp(e->rule, "spam") == 0 ? "spam"
		    : "invalid recipients", w);
	else if (strcmp(e->action, "block") == 0)
		sb_printf(sb, "blocked %s: %s limit reached", who, e->rule);
	else if (strcmp(e->rule, "safety_valve") == 0)
		sb_printf(sb, "safety valve: lock of %s held back", who);
	else if (strcmp(e->rule, "source_unreadable") == 0)
		sb_printf(sb, "source %s cannot be read: its verdicts or "
		    "lines are missing", e->user);
	else if (strcmp(e->rule, "log_loss") == 0) {
		kv(e->detail, "lost", lost, sizeof(lost));
		sb_printf(sb, "%s log lines lost in source %s", lost, e->user);
	} else
		sb_printf(sb, "%s %s: %s", e->action, who, e->rule);
	sb_free(&whob);
}

/* messages_behind - the spam a spam lock counted (what explain shows) */
static int
messages_behind(rg_store *st, strbuf *sb, const ev *e, long long win)
{
	ms_lockmsg *v;
	long long total;
	char err[256];
	int n, i;

	if (ms_lock_messages(st, e->user, e->identity, e->ts - win * 1000000LL,
	    e->ts, MAX_LISTED, &v, &n, &total, err, sizeof(err)) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		char t[64];

		if (i == 0)
			sb_adds(sb, "\nThe messages behind it:\n");
		rgt_format(t, v[i].first_seen);
		sb_printf(sb, "  %s  queue ID %s", t, v[i].qid ? v[i].qid : "-");
		if (v[i].identity)
			sb_printf(sb, "  identity %s", v[i].identity);
		sb_printf(sb, "\n    to: %s", *v[i].rcpts ? v[i].rcpts
		    : "(not logged)");
		sb_printf(sb, "\n    score %s, symbols %s\n", v[i].score
		    ? v[i].score : "-", v[i].symbols ? v[i].symbols : "-");
	}
	if (total > n)
		sb_printf(sb, "  ... %d of %lld shown\n", n, total);
	ms_lock_messages_free(v, n);
	return 0;
}

/* describe - one decision in full, with the commands to act */
static void
describe(rg_store *st, const rg_config *cfg, strbuf *sb, const ev *e)
{
	const rg_user_cfg *u = ucfg(cfg, e->user);
	char t[64], v[128], w[64];
	int manual = strcmp(e->rule, "manual") == 0;

	subject_of(sb, e);
	sb_adds(sb, "\n");
	rgt_format(t, e->ts);
	sb_printf(sb, "  decision: %s%s, rule %s, at %s\n", e->action,
	    manual ? " (done by hand)" : strcmp(e->action, "alert") == 0 ? ""
	    : " (automatic)", e->rule, t);
	sb_printf(sb, "  %s: %s\n", strcmp(e->kind, "source") == 0 ? "source"
	    : "user", e->user);
	if (*e->identity)
		sb_printf(sb, "  identity: %s\n", e->identity);
	kv(e->detail, "count", v, sizeof(v));
	if (*v) {
		kv(e->detail, "window", w, sizeof(w));
		sb_printf(sb, "  count: %s within %s\n", v, w);
	}
	kv(e->detail, "reason", v, sizeof(v));
	if (*v)
		sb_printf(sb, "  reason: %s\n", v);
	if (strcmp(e->action, "lock") == 0 || strcmp(e->action, "block") == 0) {
		sb_printf(sb, "  since: %s\n", t);
		kv(e->detail, "until", v, sizeof(v));
		sb_printf(sb, "  until: %s\n", *v == '\0' || strcmp(v, "unlock")
		    == 0 ? "unlocked by hand" : v);
	}
	kv(e->detail, "unlocks_used", v, sizeof(v));
	if (*v && u != NULL)
		sb_printf(sb, "  automatic unlocks used: %s of %lld (%lld left)\n",
		    v, u->max_unlocks_by_timeout, u->max_unlocks_by_timeout
		    - atoll(v) > 0 ? u->max_unlocks_by_timeout - atoll(v) : 0);
	sb_printf(sb, "  detail: %s\n", e->detail);
	if (strcmp(e->action, "lock") == 0 && strcmp(e->rule, "spam") == 0) {
		kv(e->detail, "window", w, sizeof(w));
		messages_behind(st, sb, e, window_secs(w));
	}
	if (strcmp(e->kind, "source") != 0) {
		strbuf name;

		sb_init(&name);
		sb_adds(&name, e->user);
		if (*e->identity) {
			sb_addc(&name, '/');
			sb_adds(&name, e->identity);
		}
		sb_adds(sb, "\nTo act:\n");
		if (strcmp(e->action, "lock") == 0
		    || strcmp(e->action, "block") == 0) {
			sb_printf(sb, "  relayguard unlock %s ", *e->identity
			    ? "identity" : "user");
			shq(sb, name.s);
			sb_adds(sb, "\n");
		}
		sb_printf(sb, "  relayguard explain %s ", *e->identity
		    ? "identity" : "user");
		shq(sb, name.s);
		sb_adds(sb, "\n");
		sb_free(&name);
	}
	sb_adds(sb, "\n");
}

/* load - the mail-worthy events with id in [from, to] */
static int
load(rg_store *st, long long from, long long to, ev **v, size_t *n,
    char *err, size_t errsz)
{
	size_t i, k = 0;

	if (ms_events(st, from, to, v, n, err, errsz) != 0)
		return -1;
	for (i = 0; i < *n; i++) {
		if (worth((*v)[i].action, (*v)[i].rule))
			(*v)[k++] = (*v)[i];
		else
			ms_event_clear(&(*v)[i]);
	}
	*n = k;
	return 0;
}

/* compose - subject and text of the alert for events v */
static void
compose(rg_store *st, const rg_config *cfg, const ev *v, size_t n,
    strbuf *subj, strbuf *text)
{
	size_t i, same;

	sb_adds(subj, "[relayguard] ");
	for (same = 1; same < n && strcmp(v[same].user, v[0].user) == 0;
	    same++)
		;
	if (n == 1 || same == n) {
		/* one user (and its identities): say who and why */
		subject_of(subj, &v[0]);
		if (n > 1)
			sb_printf(subj, " (and %zu more decision%s)", n - 1,
			    n == 2 ? "" : "s");
	}
	if (n > 1) {
		int lk = 0, bl = 0, al = 0, ul = 0;

		for (i = 0; i < n; i++) {
			if (strcmp(v[i].action, "lock") == 0)
				lk++;
			else if (strcmp(v[i].action, "block") == 0)
				bl++;
			else if (strcmp(v[i].action, "unlock") == 0)
				ul++;
			else
				al++;
		}
		if (same < n)
			sb_printf(subj, "%zu decisions: %d locked, %d blocked, "
			    "%d unlocked, %d alerts", n, lk, bl, ul, al);
		sb_printf(text, "%zu decisions since the last alert:\n\n", n);
		for (i = 0; i < n; i++) {
			sb_adds(text, "  - ");
			subject_of(text, &v[i]);
			sb_adds(text, "\n");
		}
		sb_adds(text, "\nEach in full:\n\n");
	}
	for (i = 0; i < n; i++)
		describe(st, cfg, text, &v[i]);
	sb_adds(text, "-- \nrelayguard " RG_VERSION "\n");
}

/* rep_alerts - queue the alert of the new decisions */
int
rep_alerts(rg_store *st, rep_queue_ctx *qc, long long now, char *err,
    size_t errsz)
{
	const rg_config *cfg = qc->cfg;
	long long last, top, first;
	ob_mail prev, m;
	ev *v = NULL;
	size_t n = 0;
	strbuf subj, text;
	char buf[32];
	int rc = -1, have_prev, append = 0;

	if ((top = ms_event_max(st, err, errsz)) < 0)
		return -1;
	last = ms_pos(st, "mail_event", -1);
	if (last < 0)
		last = 0;
	if (last >= top)
		goto mark;
	if (cfg->admin_contact == NULL || *cfg->admin_contact == '\0')
		goto mark;
	memset(&prev, 0, sizeof(prev));
	have_prev = ob_last(st, "alert", &prev, err, errsz);
	if (have_prev < 0)
		return -1;
	have_prev = have_prev == 0;
	/* a digest still waiting for its turn takes the new decisions too */
	first = last + 1;
	if (have_prev && strcmp(prev.status, "queued") == 0 && prev.attempts == 0
	    && prev.next_try > now && prev.ref != NULL
	    && strncmp(prev.ref, "alert:", 6) == 0) {
		first = atoll(prev.ref + 6);
		append = 1;
	}
	if (load(st, first, top, &v, &n, err, errsz) != 0) {
		ob_clear(&prev);
		return -1;
	}
	if (n == 0) {
		free(v);	/* decisions not worth a mail: cleared by load */
		ob_clear(&prev);
		goto mark;
	}
	sb_init(&subj);
	sb_init(&text);
	compose(st, cfg, v, n, &subj, &text);
	rep_text_mail(cfg, "alert", cfg->admin_contact, subj.s, text.s, now, &m);
	if (append) {
		/* the same Message-ID: rebuild the bytes with the old one */
		ob_clear(&m);
		{
			strbuf sb, clean;

			sb_init(&sb);
			sb_init(&clean);
			rep_headers(&sb, cfg, cfg->admin_contact, subj.s,
			    prev.message_id, prev.created);
			sb_adds(&sb, "Content-Type: text/plain; charset=utf-8\r\n"
			    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
			mail_clean(&clean, text.s, text.len, 1);
			rep_qp(&sb, clean.s, clean.len);
			rc = ob_update(st, prev.id, subj.s, sb.s, sb.len, err,
			    errsz);
			sb_free(&sb);
			sb_free(&clean);
		}
	} else {
		snprintf(buf, sizeof(buf), "alert:%lld", v[0].id);
		m.ref = xstrdup(buf);
		/* at most one alert per alert_interval: later ones wait */
		if (have_prev && prev.next_try + cfg->alert_interval * 1000000LL
		    > now)
			m.next_try = prev.next_try + cfg->alert_interval
			    * 1000000LL;
		rc = ob_enqueue(st, &m, NULL, err, errsz) < 0 ? -1 : 0;
		if (rc == 0)
			qc->queued++;
		ob_clear(&m);
	}
	ob_clear(&prev);
	sb_free(&subj);
	sb_free(&text);
	ms_events_free(v, n);
	if (rc != 0)
		return -1;
mark:
	return ms_pos_put(st, "mail_event", top, err, errsz);
}

/* rep_queue - the store hook: quarantine notices, alerts, ARF reports */
int
rep_queue(rg_store *st, void *arg, char *err, size_t errsz)
{
	rep_queue_ctx *qc = arg;
	long long now = rgt_now();

	/* first: the notices start where the alerts and reports are */
	if (rep_notices(st, qc, now, err, errsz) != 0)
		return -1;
	if (rep_alerts(st, qc, now, err, errsz) != 0)
		return -1;
	return rep_arf(st, qc, now, err, errsz);
}
