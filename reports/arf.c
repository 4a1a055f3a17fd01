/*
 * arf.c - abuse reports (ARF, RFC 5965) to admin_contact: one for every
 * message of an outgoing user that was refused (milter reject,
 * header_checks reject) or held, read from the stored records newer than
 * meta 'mail_seq'. Per user, abuse_reports = each (up to [mail]
 * abuse_reports_per_hour, the rest in one plain summary), summary, or off.
 * A message is reported once, ever (table mail_reported).
 *
 * A held message is attached as message/rfc822 exactly as `postcat -bh -q
 * QID` prints it (with CRLF line ends on the wire); otherwise there is no
 * third part and what the log said is in the text part, labelled as
 * logged. Every value is attacker-controlled: header fields and the
 * feedback-report fields are ASCII, built by compose.c's rules; a value
 * that cannot be placed safely is left out there and shown in the text.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/rgtime.h"
#include "../common/proc.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "../store/mailsrc.h"
#include "../store/outbox.h"
#include "compose.h"
#include "mailq.h"

#define POSTCAT "/usr/sbin/postcat"
#define POSTCAT_TIMEOUT_MS 10000
#define MAX_ATTACH (20 * 1024 * 1024)

typedef ms_spam spam;

/*
 * capture - run argv through the common runner (common/proc.c), its
 * standard output into out: at most MAX_ATTACH bytes, within
 * POSTCAT_TIMEOUT_MS; 0, or -1 (failed, timed out or too large)
 */
static int
capture(char *const argv[], strbuf *out)
{
	proc_req rq;
	proc_res rs;
	size_t len0 = out->len;
	int rc;

	memset(&rq, 0, sizeof(rq));
	memset(&rs, 0, sizeof(rs));
	rq.argv = argv;
	rq.outmax = MAX_ATTACH + 1;
	rq.timeout_ms = POSTCAT_TIMEOUT_MS;
	rs.out = out;
	rc = proc_run(&rq, &rs);
	if (!proc_ok(rc, &rs) || out->len - len0 > MAX_ATTACH)
		return -1;
	return 0;
}

/* ascii_ok - may v be a feedback-report field value as it is? */
static int
ascii_ok(const char *v, size_t max)
{
	size_t n = 0;

	if (v == NULL || *v == '\0')
		return 0;
	for (; *v; v++, n++)
		if (*v < 0x20 || *v > 0x7e || n >= max)
			return 0;
	return 1;
}

/* ip_ok - an IPv4 or IPv6 address's characters */
static int
ip_ok(const char *v)
{
	if (v == NULL || *v == '\0' || strlen(v) > 45)
		return 0;
	return strspn(v, "0123456789abcdefABCDEF:.") == strlen(v);
}

/* what_done - how Postfix stopped it */
static const char *
what_done(const spam *s)
{
	if (s->held)
		return "held";
	if (s->stage && strcmp(s->stage, "END-OF-MESSAGE") == 0)
		return "refused by the content filter (milter)";
	return "refused by header_checks";
}

/* text_part - the human-readable part: what the log said, labelled */
static void
text_part(strbuf *t, const spam *s, const char *user, const char *identity,
    int attached)
{
	char tb[64];
	int i;

	sb_printf(t, "This is an abuse report (ARF, RFC 5965) from relayguard.\n\n"
	    "A message that the outgoing user %s tried to send through the "
	    "relay %s was %s as spam.\n", user, s->host, what_done(s));
	sb_adds(t, "\nAs logged by Postfix and the content filter:\n");
	rgt_format(tb, s->first_seen);
	sb_printf(t, "  time:           %s\n", tb);
	sb_printf(t, "  queue ID:       %s\n", s->qid ? s->qid : "-");
	sb_printf(t, "  client:         %s [%s]\n", s->client_host
	    ? s->client_host : "-", s->client_ip ? s->client_ip : "-");
	if (s->sasl)
		sb_printf(t, "  SASL login:     %s\n", s->sasl);
	sb_printf(t, "  envelope from:  <%s>\n", s->sender ? s->sender : "");
	for (i = 0; i < s->nrcpt; i++)
		sb_printf(t, "  envelope to:    <%s>\n", s->rcpts[i]);
	if (s->nrcpt == 0)
		sb_adds(t, "  envelope to:    (not logged)\n");
	if (s->msgid)
		sb_printf(t, "  Message-ID:     %s\n", s->msgid);
	if (identity)
		sb_printf(t, "  identity:       %s\n", identity);
	if (s->vsource)
		sb_printf(t, "  verdict:        %s score %s/%s, action %s, "
		    "symbols %s\n", s->vsource, s->score ? s->score : "-",
		    s->required ? s->required : "-", s->vaction ? s->vaction
		    : "-", s->symbols ? s->symbols : "-");
	if (s->rtext)
		sb_printf(t, "  refused with:   %s\n", s->rtext);
	sb_printf(t, "\n%s\n", attached ? "The message itself, as it waits "
	    "in the hold queue, is attached." : "Postfix does not have the "
	    "message any more: only the logged facts above are known.");
	sb_adds(t, "\n-- \nrelayguard " RG_VERSION "\n");
}

/* boundary - a MIME boundary that does not occur in att */
static void
boundary(char *b, size_t sz, const strbuf *att)
{
	do {
		unsigned long long r = 0;
		int fd = open("/dev/urandom", O_RDONLY);

		if (fd >= 0) {
			if (read(fd, &r, sizeof(r)) < 0)
				r = 0;
			close(fd);
		}
		r ^= (unsigned long long)rgt_now();
		snprintf(b, sz, "=_rg_%016llx", r);
	} while (att->s != NULL && memmem(att->s, att->len, b, strlen(b)));
}

/* compose_arf - the whole report of one message into m */
static void
compose_arf(const rg_config *cfg, const spam *s, const char *user,
    const char *identity, long long incidents, const strbuf *att,
    long long now, ob_mail *m)
{
	strbuf sb, text, clean, subj;
	char msgid[600], from[512], date[64], b[64];
	const char *at;
	size_t i;
	int k;

	sb_init(&sb);
	sb_init(&text);
	sb_init(&clean);
	sb_init(&subj);
	boundary(b, sizeof(b), att);
	rep_message_id(cfg, msgid, sizeof(msgid));
	rep_from(cfg, from, sizeof(from));
	sb_printf(&subj, "[relayguard] abuse report: spam from %s (%s %s)",
	    user, s->held ? "held" : "refused", s->qid ? s->qid : "");
	rep_headers(&sb, cfg, cfg->admin_contact, subj.s, msgid, now);
	sb_printf(&sb, "Content-Type: multipart/report; "
	    "report-type=feedback-report;\r\n boundary=\"%s\"\r\n\r\n"
	    "This is an abuse report in the Abuse Reporting Format (RFC 5965)."
	    "\r\n\r\n--%s\r\n", b, b);
	sb_adds(&sb, "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	text_part(&text, s, user, identity, att->len > 0);
	mail_clean(&clean, text.s, text.len, 1);
	rep_qp(&sb, clean.s, clean.len);
	/* the machine-readable part: ASCII fields only */
	sb_printf(&sb, "\r\n--%s\r\nContent-Type: message/feedback-report\r\n"
	    "\r\nFeedback-Type: abuse\r\nUser-Agent: relayguard/" RG_VERSION
	    "\r\nVersion: 1\r\n", b);
	if (s->sender == NULL || *s->sender == '\0')
		sb_adds(&sb, "Original-Mail-From: <>\r\n");
	else if (rep_addr_safe(s->sender))
		sb_printf(&sb, "Original-Mail-From: <%s>\r\n", s->sender);
	for (k = 0; k < s->nrcpt; k++)
		if (rep_addr_safe(s->rcpts[k]))
			sb_printf(&sb, "Original-Rcpt-To: <%s>\r\n", s->rcpts[k]);
	rep_date(date, sizeof(date), s->first_seen);
	sb_printf(&sb, "Arrival-Date: %s\r\n", date);
	if (ip_ok(s->client_ip))
		sb_printf(&sb, "Source-IP: %s\r\n", s->client_ip);
	if (s->sender && rep_addr_safe(s->sender)
	    && (at = strrchr(s->sender, '@')) != NULL)
		sb_printf(&sb, "Reported-Domain: %s\r\n", at + 1);
	if (incidents > 1)
		sb_printf(&sb, "Incidents: %lld\r\n", incidents);
	if (ascii_ok(user, 200))
		sb_printf(&sb, "X-Relayguard-User: %s\r\n", user);
	if (identity && ascii_ok(identity, 200))
		sb_printf(&sb, "X-Relayguard-Identity: %s\r\n", identity);
	if (s->qid && ascii_ok(s->qid, 64))
		sb_printf(&sb, "X-Relayguard-Queue-ID: %s\r\n", s->qid);
	sb_printf(&sb, "X-Relayguard-Action: %s\r\n", s->held ? "hold"
	    : s->stage && strcmp(s->stage, "END-OF-MESSAGE") == 0
	    ? "milter-reject" : "header-reject");
	if (s->vsource && ascii_ok(s->vsource, 32))
		sb_printf(&sb, "X-Relayguard-Verdict: source=%s score=%s "
		    "required=%s\r\n", s->vsource, ascii_ok(s->score, 32)
		    ? s->score : "-", ascii_ok(s->required, 32) ? s->required
		    : "-");
	if (s->symbols && ascii_ok(s->symbols, 900))
		sb_printf(&sb, "X-Relayguard-Symbols: %s\r\n", s->symbols);
	if (att->len > 0) {
		int eight = 0;

		for (i = 0; i < att->len && !eight; i++)
			eight = (unsigned char)att->s[i] >= 0x80;
		sb_printf(&sb, "\r\n--%s\r\nContent-Type: message/rfc822\r\n"
		    "Content-Disposition: inline\r\n%s\r\n", b, eight
		    ? "Content-Transfer-Encoding: 8bit\r\n" : "");
		/* postcat's LF lines, CRLF on the wire */
		for (i = 0; i < att->len; i++) {
			if (att->s[i] == '\n' && (i == 0 || att->s[i - 1] != '\r'))
				sb_addc(&sb, '\r');
			sb_addc(&sb, att->s[i]);
		}
		if (att->s[att->len - 1] != '\n')
			sb_adds(&sb, "\r\n");
	}
	sb_printf(&sb, "\r\n--%s--\r\n", b);
	rep_fill(m, "arf", from, cfg->admin_contact, subj.s, subj.len, msgid,
	    &sb, now);
	sb_free(&text);
	sb_free(&clean);
	sb_free(&subj);
}

/* held_copy - the held message as postcat prints it, "" if gone */
static void
held_copy(const rg_config *cfg, const spam *s, strbuf *att)
{
	char *argv[8];
	int i = 0;

	if (!s->held || s->qid == NULL || strspn(s->qid,
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZbcdfghjklmnpqrstvwxyz")
	    != strlen(s->qid))
		return;
	argv[i++] = (char *)POSTCAT;
	argv[i++] = (char *)"-c";
	argv[i++] = cfg->postfix_config_directory;
	argv[i++] = (char *)"-bh";
	argv[i++] = (char *)"-q";
	argv[i++] = s->qid;
	argv[i] = NULL;
	if (capture(argv, att) != 0)
		sb_reset(att);
}

/* rep_held_rcpts - a held message's envelope recipients (postcat -e) */
void
rep_held_rcpts(const rg_config *cfg, ms_spam *s)
{
	strbuf env;
	char *argv[8], *p, *nl;
	int i = 0;

	if (!s->held || s->qid == NULL || s->nrcpt > 0)
		return;
	argv[i++] = (char *)POSTCAT;
	argv[i++] = (char *)"-c";
	argv[i++] = cfg->postfix_config_directory;
	argv[i++] = (char *)"-e";
	argv[i++] = (char *)"-q";
	argv[i++] = s->qid;
	argv[i] = NULL;
	sb_init(&env);
	if (capture(argv, &env) == 0 && env.s != NULL) {
		for (p = env.s; p && *p && s->nrcpt < 1000; p = nl) {
			if ((nl = strchr(p, '\n')) != NULL)
				*nl++ = '\0';
			if (strncmp(p, "recipient: ", 11) == 0) {
				s->rcpts = xrealloc(s->rcpts, (size_t)(s->nrcpt
				    + 1) * sizeof(char *));
				s->rcpts[s->nrcpt++] = xstrdup(p + 11);
			}
		}
	}
	sb_free(&env);
}

/* summary - the plain mail for one user's reports past the cap */
static int
summary(rg_store *st, rep_queue_ctx *qc, const char *user, strbuf *list,
    int n, long long now, char *err, size_t errsz)
{
	ob_mail m;
	strbuf subj, text;
	int rc;

	sb_init(&subj);
	sb_init(&text);
	sb_printf(&subj, "[relayguard] %d more spam message%s of %s (summary, "
	    "no ARF)", n, n == 1 ? "" : "s", user);
	sb_printf(&text, "The outgoing user %s had %d more messages refused or "
	    "held as spam.\nThey are listed here instead of one abuse report "
	    "each (abuse_reports = summary,\nor more than [mail] "
	    "abuse_reports_per_hour = %lld reports in the last hour).\n\n%s\n"
	    "-- \nrelayguard " RG_VERSION "\n", user, n,
	    qc->cfg->abuse_reports_per_hour, list->s ? list->s : "");
	rep_text_mail(qc->cfg, "summary", qc->cfg->admin_contact, subj.s,
	    text.s, now, &m);
	m.user = xstrdup(user);
	rc = ob_enqueue(st, &m, NULL, err, errsz) < 0 ? -1 : 0;
	if (rc == 0)
		qc->queued++;
	ob_clear(&m);
	sb_free(&subj);
	sb_free(&text);
	return rc;
}

/* rep_arf - queue the reports of newly stored refused or held spam */
int
rep_arf(rg_store *st, rep_queue_ctx *qc, long long now, char *err,
    size_t errsz)
{
	const rg_config *cfg = qc->cfg;
	ms_iter *it;
	spam s;
	long long last, top = 0;
	/* per user: what goes into this run's summary */
	struct pend { const char *user; strbuf list; int n; } *pend = NULL;
	int npend = 0, i, rc = -1, more;

	last = ms_pos(st, "mail_seq", 0);
	if ((it = ms_spam_since(st, last, 0, err, errsz)) == NULL)
		return -1;
	top = last;
	while ((more = ms_spam_next(it, &s)) == 1) {
		const rul_user *u;
		char ref[600], ident[512];
		const char *idp = NULL, *hname = NULL;
		int fresh;

		if (s.seq > top)
			top = s.seq;
		u = rul_user_of(qc->pol, s.sasl, s.client_ip, s.sender);
		if (u == NULL || strcmp(u->cfg->abuse_reports, "off") == 0
		    || cfg->admin_contact == NULL || *cfg->admin_contact == '\0') {
			ms_spam_clear(&s);
			continue;
		}
		snprintf(ref, sizeof(ref), "arf:%s:%s:%lld", s.host, s.qid
		    ? s.qid : "", s.first_seen);
		if ((fresh = ob_reported(st, ref, now, err, errsz)) < 0) {
			ms_spam_clear(&s);
			goto out;
		}
		if (!fresh) {
			ms_spam_clear(&s);
			continue;
		}
		if (ms_rcpts(st, &s, 1000, err, errsz) != 0) {
			ms_spam_clear(&s);
			goto out;
		}
		if (rul_identity(qc->pol, u, s.sender, s.sasl, NULL, 0, ident,
		    sizeof(ident), &hname) == 1)
			idp = ident;
		if (strcmp(u->cfg->abuse_reports, "each") == 0
		    && ob_count_since(st, "arf", u->name, now - 3600000000LL)
		    < cfg->abuse_reports_per_hour) {
			strbuf att;
			ob_mail m;
			long long inc = ob_count_since(st, "arf", u->name,
			    now - 86400000000LL) + 1;

			sb_init(&att);
			held_copy(cfg, &s, &att);
			rep_held_rcpts(cfg, &s);
			compose_arf(cfg, &s, u->name, idp, inc, &att, now, &m);
			m.user = xstrdup(u->name);
			m.ref = xstrdup(ref);
			sb_free(&att);
			if (ob_enqueue(st, &m, NULL, err, errsz) < 0) {
				ob_clear(&m);
				ms_spam_clear(&s);
				goto out;
			}
			qc->queued++;
			ob_clear(&m);
		} else {
			char tb[64];

			for (i = 0; i < npend && strcmp(pend[i].user, u->name);
			    i++)
				;
			if (i == npend) {
				pend = xrealloc(pend, (size_t)(npend + 1)
				    * sizeof(*pend));
				pend[npend].user = u->name;
				sb_init(&pend[npend].list);
				pend[npend++].n = 0;
			}
			rgt_format(tb, s.first_seen);
			sb_printf(&pend[i].list, "  %s  %s  queue ID %s  from <%s>"
			    "  %s\n", tb, s.held ? "held   " : "refused", s.qid
			    ? s.qid : "-", s.sender ? s.sender : "", s.symbols
			    ? s.symbols : "");
			pend[i].n++;
		}
		ms_spam_clear(&s);
	}
	if (more < 0) {
		snprintf(err, errsz, "abuse reports: %s", ms_strerror(it));
		goto out;
	}
	for (i = 0; i < npend; i++)
		if (summary(st, qc, pend[i].user, &pend[i].list, pend[i].n, now,
		    err, errsz) != 0)
			goto out;
	if (ms_pos_put(st, "mail_seq", top, err, errsz) != 0)
		goto out;
	rc = 0;
out:
	ms_free(it);
	for (i = 0; i < npend; i++)
		sb_free(&pend[i].list);
	free(pend);
	return rc;
}
