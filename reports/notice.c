/*
 * notice.c - quarantine notices for users with quarantine_response =
 * rejected: their spam is held (the client got 250), and the sender is
 * told, once, that the message waits for review; a second notice says so
 * when it is deleted (quarantine delete, or quarantine_retention).
 *
 * A notice is a delivery status notification (RFC 3464: multipart/report;
 * report-type=delivery-status, a human-readable part and a
 * message/delivery-status part) sent with a null reverse path (MAIL
 * FROM:<>), so nothing ever answers it. A held message is not a failure:
 * its Action is "delayed" (status 4.7.0: it may still be released and
 * delivered); a deleted one is "failed" (5.7.0).
 *
 * Who is told: the user's report_to, else the envelope sender only when
 * it is the user's own address (its SASL login, or an address in its
 * domain). A notice to whatever address a spammer put in the envelope
 * would be backscatter to an innocent third party; such mail gets none.
 *
 * Once: each notice has an outbox ref (notice:held:HOST:QID:TIME,
 * notice:deleted:...), queued inside the store hook's transaction with
 * the positions it read up to (meta 'notice_seq', 'notice_event'), so a
 * crash or a second run queues nothing twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/rgtime.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "../store/mailsrc.h"
#include "../store/outbox.h"
#include "compose.h"
#include "mailq.h"

enum notice_kind { N_HELD, N_DELETED };

/* dns_name_ok - a host name fit for Reporting-MTA: letters, digits, '.', '-' */
static int
dns_name_ok(const char *h)
{
	size_t n = strlen(h);

	return n > 0 && n < 254 && strspn(h, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == n;
}

/* notice_rcpt - who is told about s, NULL: nobody safe */
static const char *
notice_rcpt(const rul_user *u, const ms_spam *s)
{
	const char *at, *dom = NULL;

	if (*u->cfg->report_to)
		return u->cfg->report_to;
	if (s->sender == NULL || !rep_addr_safe(s->sender)
	    || (at = strrchr(s->sender, '@')) == NULL || at == s->sender
	    || at[1] == '\0' || u->type == RUL_IP)
		return NULL;
	/* its SASL login (the login made the message this user's) */
	if (s->sasl && strcasecmp(s->sender, s->sasl) == 0
	    && strcasecmp(s->sasl, u->name) == 0)
		return s->sender;
	if (u->type == RUL_DOMAIN)
		dom = u->name;
	else if ((dom = strrchr(u->name, '@')) != NULL)
		dom++;
	if (dom && *dom && strcasecmp(at + 1, dom) == 0)
		return s->sender;
	return NULL;
}

/* compose_notice - the RFC 3464 report of one message into m */
static void
compose_notice(const rg_config *cfg, const ms_spam *s, const char *user,
    const char *to, enum notice_kind kind, long long now, ob_mail *m)
{
	strbuf sb, text, clean, subj;
	char msgid[600], date[64], b[64], host[256], tb[64];
	int i, safe = 0;

	sb_init(&sb);
	sb_init(&text);
	sb_init(&clean);
	sb_init(&subj);
	rep_boundary(b, sizeof(b));
	rep_message_id(cfg, msgid, sizeof(msgid));
	if (cfg->hostname && *cfg->hostname)
		snprintf(host, sizeof(host), "%s", cfg->hostname);
	else
		rep_hostname(host, sizeof(host));
	if (kind == N_HELD)
		sb_printf(&subj, "Your message is held for review "
		    "(queue ID %s)", s->qid ? s->qid : "-");
	else
		sb_printf(&subj, "Your held message was deleted (queue ID %s)",
		    s->qid ? s->qid : "-");
	rep_headers(&sb, cfg, to, subj.s, msgid, now);
	sb_printf(&sb, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n boundary=\"%s\"\r\n\r\n"
	    "This is a delivery status notification (RFC 3464).\r\n\r\n"
	    "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", b, b);
	if (kind == N_HELD)
		sb_printf(&text, "This is the mail relay %s.\n\n"
		    "A message sent through this relay by the account %s "
		    "was accepted, but it\nhas NOT been delivered: the "
		    "content filter classified it as spam, and it is\nheld "
		    "in quarantine for an administrator to review. It has "
		    "not been refused\neither: if the administrator releases "
		    "it, it is delivered as it is. If it\nis deleted, you "
		    "will get another notice.\n\n"
		    "If this message was legitimate, please contact your mail "
		    "administrator.\nIf you did not send it, your account or "
		    "computer may be compromised.\n\n", host, user);
	else
		sb_printf(&text, "This is the mail relay %s.\n\n"
		    "A message sent through this relay by the account %s, held "
		    "in quarantine\nas spam, has been deleted without being "
		    "delivered. It will not be delivered.\n\n", host, user);
	rgt_format(tb, s->first_seen);
	sb_printf(&text, "  time:          %s\n", tb);
	sb_printf(&text, "  queue ID:      %s\n", s->qid ? s->qid : "-");
	sb_printf(&text, "  envelope from: <%s>\n", s->sender ? s->sender : "");
	for (i = 0; i < s->nrcpt; i++)
		sb_printf(&text, "  envelope to:   <%s>\n", s->rcpts[i]);
	if (s->msgid)
		sb_printf(&text, "  Message-ID:    %s\n", s->msgid);
	if (s->vsource)
		sb_printf(&text, "  filter:        %s score %s, symbols %s\n",
		    s->vsource, s->score ? s->score : "-", s->symbols
		    ? s->symbols : "-");
	sb_adds(&text, "\n-- \nrelayguard " RG_VERSION "\n");
	mail_clean(&clean, text.s, text.len, 1);
	rep_qp(&sb, clean.s, clean.len);
	/* the machine-readable part: ASCII only, safe values only */
	rep_date(date, sizeof(date), s->first_seen);
	sb_printf(&sb, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n"
	    "\r\nReporting-MTA: dns; %s\r\n", b, dns_name_ok(host) ? host
	    : "localhost");
	if (s->qid && strspn(s->qid, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz") == strlen(s->qid) && strlen(s->qid)
	    < 32)
		sb_printf(&sb, "X-Relayguard-Queue-ID: %s\r\n", s->qid);
	sb_printf(&sb, "Arrival-Date: %s\r\n", date);
	for (i = 0; i < s->nrcpt; i++) {
		if (!rep_addr_safe(s->rcpts[i]) || strchr(s->rcpts[i], '@')
		    == NULL)
			continue;
		sb_printf(&sb, "\r\nFinal-Recipient: rfc822; %s\r\n"
		    "Action: %s\r\nStatus: %s\r\n"
		    "Diagnostic-Code: X-relayguard; %s\r\n", s->rcpts[i],
		    kind == N_HELD ? "delayed" : "failed",
		    kind == N_HELD ? "4.7.0" : "5.7.0", kind == N_HELD
		    ? "held in quarantine for review (spam)"
		    : "deleted from quarantine (spam)");
		if (kind == N_HELD)
			sb_adds(&sb, "Will-Retry-Until: never (released by an "
			    "administrator, or deleted)\r\n");
		safe++;
	}
	if (safe == 0)	/* RFC 3464 wants one recipient block */
		sb_printf(&sb, "\r\nFinal-Recipient: rfc822; "
		    "unknown-recipient@invalid\r\nAction: %s\r\nStatus: %s\r\n",
		    kind == N_HELD ? "delayed" : "failed", kind == N_HELD
		    ? "4.7.0" : "5.7.0");
	sb_printf(&sb, "\r\n--%s--\r\n", b);
	/* the null reverse path for a notice: MAIL FROM:<> */
	rep_fill(m, "notice", "", to, subj.s, subj.len, msgid, &sb, now);
	sb_free(&text);
	sb_free(&clean);
	sb_free(&subj);
}

/* notice - queue one notice of s (once: its ref); 0 or -1 */
static int
notice(rg_store *st, rep_queue_ctx *qc, ms_spam *s, enum notice_kind kind,
    long long now, char *err, size_t errsz)
{
	const rul_user *u;
	const char *to;
	char ref[600];
	ob_mail m;
	int rc;

	u = rul_user_of(qc->pol, s->sasl, s->client_ip, s->sender);
	if (u == NULL || strcmp(u->cfg->quarantine_response, "rejected") != 0
	    || (to = notice_rcpt(u, s)) == NULL)
		return 0;
	snprintf(ref, sizeof(ref), "notice:%s:%s:%s:%lld", kind == N_HELD
	    ? "held" : "deleted", s->host ? s->host : "", s->qid ? s->qid : "",
	    s->first_seen);
	if ((rc = ob_ref_taken(st, ref, err, errsz)) != 0)
		return rc < 0 ? -1 : 0;
	if (s->nrcpt == 0 && ms_rcpts(st, s, 100, err, errsz) != 0)
		return -1;
	if (kind == N_HELD)
		rep_held_rcpts(qc->cfg, s);
	compose_notice(qc->cfg, s, u->name, to, kind, now, &m);
	m.ref = xstrdup(ref);
	m.user = xstrdup(u->name);
	rc = ob_enqueue(st, &m, NULL, err, errsz);
	ob_clear(&m);
	if (rc < 0)
		return -1;
	if (rc == 0)
		qc->queued++;
	return 0;
}

/* rep_notices - the notices of newly held and deleted messages */
int
rep_notices(rg_store *st, rep_queue_ctx *qc, long long now, char *err,
    size_t errsz)
{
	ms_iter *it;
	ms_spam s;
	ms_event *ev = NULL;
	size_t nev = 0, i;
	long long last, top, age, since;
	const char *p;
	int more, rc = -1;

	/* held: the messages stored since the last look (at first: since
	 * the abuse reports', so an upgrade tells nobody about old mail) */
	if ((last = ms_pos(st, "notice_seq", -1)) < 0)
		last = ms_pos(st, "mail_seq", 0);
	if ((it = ms_spam_since(st, last, 1, err, errsz)) == NULL)
		return -1;
	top = last;
	while ((more = ms_spam_next(it, &s)) == 1) {
		if (s.seq > top)
			top = s.seq;
		rc = notice(st, qc, &s, N_HELD, now, err, errsz);
		ms_spam_clear(&s);
		if (rc != 0)
			break;
	}
	if (more < 0)
		snprintf(err, errsz, "quarantine notices: %s", ms_strerror(it));
	ms_free(it);
	if (more != 0 || ms_pos_put(st, "notice_seq", top, err, errsz) != 0)
		return -1;
	/* deleted: the quarantine's delete and expire events */
	if ((last = ms_pos(st, "notice_event", -1)) < 0)
		last = ms_pos(st, "mail_event", 0);
	if ((top = ms_event_max(st, err, errsz)) < 0)
		return -1;
	if (top > last && ms_events(st, last + 1, top, &ev, &nev, err, errsz)
	    != 0)
		return -1;
	for (i = 0, rc = 0; i < nev && rc == 0; i++) {
		if (strcmp(ev[i].action, "quarantine") != 0
		    || (strcmp(ev[i].rule, "delete") != 0
		    && strcmp(ev[i].rule, "expire") != 0))
			continue;
		/* it arrived age= seconds before the event (postqueue's
		 * arrival time): a day's slack for the log's lag */
		age = (p = strstr(ev[i].detail, "age=")) != NULL
		    ? strtoll(p + 4, NULL, 10) : -1;
		since = age > 0 ? ev[i].ts - (age + 86400) * 1000000LL : 0;
		memset(&s, 0, sizeof(s));
		if ((rc = ms_spam_held(st, ev[i].identity, since, ev[i].ts
		    + 86400 * 1000000LL, &s, err, errsz)) == 1) {
			rc = 0;	/* held, but never stored: not known */
			continue;
		}
		if (rc == 0)
			rc = notice(st, qc, &s, N_DELETED, now, err, errsz);
		ms_spam_clear(&s);
	}
	ms_events_free(ev, nev);
	if (rc != 0)
		return -1;
	return ms_pos_put(st, "notice_event", top > last ? top : last, err,
	    errsz);
}

/* rep_queue_notices - a store hook of the notices only (the quarantine
 * commands, retention) */
int
rep_queue_notices(rg_store *st, void *arg, char *err, size_t errsz)
{
	return rep_notices(st, arg, rgt_now(), err, errsz);
}
