/*
 * smtp.c - the outbox through libesmtp (see smtp.h). Owns one libesmtp
 * session and one SSL_CTX per batch; a failure of either is a reason on
 * the mails, never a loss. SQLite errors are returned.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <auth-client.h>
#include <libesmtp.h>

#include "../common/log.h"
#include "../common/rgtime.h"
#include "../common/strbuf.h"
#include "../common/xalloc.h"
#include "../store/outbox.h"
#include "compose.h"
#include "smtp.h"

#define BATCH 200		/* mails per connection */

typedef struct sess {
	const rg_config *cfg;
	rg_store *st;
	FILE *dialogue;
	ob_mail *mails;
	int n;
	char *password;
	int in_auth, auth_ok, auth_failed;
	char auth_reply[512];
	char tls_reason[256];
	char last_reply[256];	/* the server's last line */
	rep_send_result *res;
	char *err;
	size_t errsz;
	int dbfail;
} sess;

static volatile sig_atomic_t alarmed;

/* on_alarm - interrupt a hanging connect(); again each second after */
static void
on_alarm(int sig)
{
	(void)sig;
	alarmed = 1;
	alarm(1);
}

/* msg_cb - hand libesmtp one mail's bytes */
static const char *
msg_cb(void **ctx, int *len, void *arg)
{
	ob_mail *m = arg;
	int *state;

	if (*ctx == NULL)
		*ctx = xcalloc(1, sizeof(int));
	state = *ctx;
	if (len == NULL) {
		*state = 0;
		return NULL;
	}
	if (*state) {
		*len = 0;
		return NULL;
	}
	*state = 1;
	*len = (int)m->len;
	return m->body;
}

/* one_line - a reply text without CR/LF, cut to fit */
static void
one_line(char *out, size_t sz, const char *s, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 1 < sz; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			if (i + 1 < n && o + 3 < sz && s[i] == '\r'
			    && s[i + 1] == '\n' && i + 2 < n) {
				out[o++] = ' ';
				out[o++] = '/';
				out[o++] = ' ';
				i++;
			}
			continue;
		}
		out[o++] = (unsigned char)s[i] < 32 ? '?' : s[i];
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/* monitor - the dialogue: printed for `mail test`, AUTH's fate noted */
static void
monitor(const char *buf, int len, int writing, void *arg)
{
	sess *s = arg;

	if (writing == SMTP_CB_HEADERS)
		return;
	if (writing) {
		if (len >= 5 && strncasecmp(buf, "AUTH ", 5) == 0) {
			s->in_auth = 1;
			if (s->dialogue)
				fprintf(s->dialogue, "C: AUTH %.*s (credentials "
				    "not shown)\n", (int)strcspn(buf + 5, " \r\n"),
				    buf + 5);
			return;
		}
		if (s->in_auth) {
			if (s->dialogue)
				fprintf(s->dialogue, "C: (credentials not "
				    "shown)\n");
			return;
		}
		if (s->dialogue)
			fprintf(s->dialogue, "C: %.*s", len, buf);
		return;
	}
	if (s->dialogue)
		fprintf(s->dialogue, "S: %.*s", len, buf);
	one_line(s->last_reply, sizeof(s->last_reply), buf, (size_t)len);
	if (s->in_auth && len >= 3) {
		if (buf[0] == '2') {
			s->auth_ok = 1;
			s->in_auth = 0;
		} else if (buf[0] == '4' || buf[0] == '5') {
			s->auth_failed = 1;
			s->in_auth = 0;
			snprintf(s->auth_reply, sizeof(s->auth_reply),
			    "authentication as %s refused: %s",
			    s->cfg->auth_user, s->last_reply);
		}
	}
}

/* event - TLS decisions and the connect alarm */
static void
event(smtp_session_t session, int ev, void *arg, ...)
{
	sess *s = arg;
	va_list ap;
	int *ok;

	(void)session;
	va_start(ap, arg);
	switch (ev) {
	case SMTP_EV_CONNECT:
		alarm(0);
		break;
	case SMTP_EV_INVALID_PEER_CERTIFICATE: {
		long r = va_arg(ap, long);

		ok = va_arg(ap, int *);
		*ok = !s->cfg->tls_verify;
		if (!*ok)
			snprintf(s->tls_reason, sizeof(s->tls_reason), "TLS: the "
			    "server's certificate is not trusted: %s",
			    X509_verify_cert_error_string(r));
		break;
	}
	case SMTP_EV_NO_PEER_CERTIFICATE:
	case SMTP_EV_WRONG_PEER_CERTIFICATE:
	case SMTP_EV_WEAK_CIPHER:
		if (ev == SMTP_EV_WEAK_CIPHER)
			(void)va_arg(ap, int);
		ok = va_arg(ap, int *);
		*ok = !s->cfg->tls_verify;
		if (!*ok)
			snprintf(s->tls_reason, sizeof(s->tls_reason), "TLS: %s "
			    "(tls_verify needs smtp_server to be the host name "
			    "in the certificate)", ev == SMTP_EV_WEAK_CIPHER
			    ? "weak cipher" : ev == SMTP_EV_NO_PEER_CERTIFICATE
			    ? "the server sent no certificate"
			    : "the certificate does not name the server");
		break;
	case SMTP_EV_EXTNA_STARTTLS:
		snprintf(s->tls_reason, sizeof(s->tls_reason), "the server "
		    "offers no STARTTLS (starttls = required): nothing sent");
		break;
	case SMTP_EV_STARTTLS_OK:
		if (s->dialogue)
			fprintf(s->dialogue, "-- TLS started\n");
		break;
	default:
		break;
	}
	va_end(ap);
}

/* interact - the SASL login's user and password */
static int
interact(auth_client_request_t req, char **result, int fields, void *arg)
{
	sess *s = arg;
	int i;

	for (i = 0; i < fields; i++) {
		if (req[i].flags & AUTH_USER)
			result[i] = s->cfg->auth_user;
		else if (req[i].flags & AUTH_PASS)
			result[i] = s->password;
		else
			result[i] = NULL;
		if (result[i] == NULL)
			return 0;
	}
	return 1;
}

/* read_password - the first line of auth_password_file */
static char *
read_password(const char *path, char *why, size_t whysz)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (fp == NULL) {
		snprintf(why, whysz, "auth_password_file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	n = getline(&line, &cap, fp);
	fclose(fp);
	if (n < 0) {
		free(line);
		snprintf(why, whysz, "auth_password_file %s is empty", path);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

/* next_try - when to try again after `attempts` tries */
static long long
next_try(const rg_config *cfg, int attempts, long long now)
{
	long long d = 60;
	int i = attempts - 1;

	if (cfg->retry.n > 0) {
		if (i >= cfg->retry.n)
			i = cfg->retry.n - 1;
		if (i < 0)
			i = 0;
		rgt_parse_duration(cfg->retry.v[i], &d);
	}
	return now + d * 1000000LL;
}

/* keep - a temporary failure: retry later, or fail at give_up_after */
static void
keep(sess *s, ob_mail *m, const char *reason)
{
	long long now = rgt_now();
	int rc;

	if (now - m->created >= s->cfg->give_up_after * 1000000LL) {
		char why[600];

		snprintf(why, sizeof(why), "gave up after %llds: %s",
		    s->cfg->give_up_after, reason);
		rc = ob_mark_failed(s->st, m->id, now, why, s->err, s->errsz);
		s->res->failed++;
		log_warnx("mail %lld to %s failed: %s", m->id, m->rcpt, why);
	} else {
		rc = ob_mark_retry(s->st, m->id, next_try(s->cfg, m->attempts
		    + 1, now), reason, s->err, s->errsz);
		s->res->deferred++;
	}
	if (rc != 0)
		s->dbfail = 1;
}

/* status_text - "550 5.1.1 text" of a libesmtp status */
static void
status_text(char *buf, size_t sz, const smtp_status_t *st)
{
	char t[256];

	one_line(t, sizeof(t), st->text ? st->text : "",
	    st->text ? strlen(st->text) : 0);
	/* the enhanced code, unless libesmtp left it in the text */
	if (st->enh_class > 0 && !(t[0] >= '2' && t[0] <= '5' && t[1] == '.'))
		snprintf(buf, sz, "%d %d.%d.%d %s", st->code, st->enh_class,
		    st->enh_subject, st->enh_detail, t);
	else
		snprintf(buf, sz, "%d %s", st->code, t);
}

/* settle - one mail's fate after the session */
static void
settle(sess *s, smtp_message_t msg, ob_mail *m, const char *session_reason)
{
	const smtp_status_t *ts = smtp_message_transfer_status(msg);
	const smtp_status_t *ms = smtp_reverse_path_status(msg);
	char reply[320];
	int code = 0;

	if (m->status != NULL && strcmp(m->status, "sent") == 0)
		return;		/* marked at MESSAGESENT */
	/* which answer decided: DATA's, else the recipient's, else MAIL's */
	if (ts != NULL && ts->code != 0) {
		code = ts->code;
		status_text(reply, sizeof(reply), ts);
	}
	if (code / 100 != 2 && code / 100 != 4 && code / 100 != 5)
		code = 0;	/* no final answer: the session's reason */
	if (code == 0 && ms != NULL && ms->code / 100 >= 4) {
		code = ms->code;
		status_text(reply, sizeof(reply), ms);
	}
	if (code / 100 == 2) {
		if (ob_mark_sent(s->st, m->id, rgt_now(), reply, s->err,
		    s->errsz) != 0)
			s->dbfail = 1;
		s->res->sent++;
		return;
	}
	if (code / 100 == 5 && !s->auth_failed && !(*s->cfg->auth_user
	    && !s->auth_ok)) {
		if (ob_mark_failed(s->st, m->id, rgt_now(), reply, s->err,
		    s->errsz) != 0)
			s->dbfail = 1;
		s->res->failed++;
		log_warnx("mail %lld to %s refused: %s", m->id, m->rcpt, reply);
		return;
	}
	if (s->auth_failed)
		keep(s, m, s->auth_reply);
	else if (*s->cfg->auth_user && !s->auth_ok && code != 0)
		keep(s, m, "the server did not take AUTH (auth_user is set)");
	else if (code != 0)
		keep(s, m, reply);
	else
		keep(s, m, session_reason);
	if (*s->res->reason == '\0')
		/* cut to fit: a reason is a summary */
		rg_strlcpy(s->res->reason, s->auth_failed ? s->auth_reply
		    : code != 0 ? reply : session_reason,
		    sizeof(s->res->reason));
}

/* rcpt_cb - a recipient's status into the message's decision */
static void
rcpt_cb(smtp_recipient_t r, const char *mailbox, void *arg)
{
	const smtp_status_t *st = smtp_recipient_status(r);
	smtp_status_t *worst = arg;

	(void)mailbox;
	if (st != NULL && st->code != 0 && (worst->code == 0
	    || st->code > worst->code))
		*worst = *st;
}

/* on_sent - SMTP_EV_MESSAGESENT: a 250 is marked at once */
static void
on_sent(sess *s, smtp_message_t msg)
{
	const smtp_status_t *ts = smtp_message_transfer_status(msg);
	ob_mail *m = smtp_message_get_application_data(msg);
	char reply[320];

	if (m == NULL || ts == NULL || ts->code / 100 != 2)
		return;
	status_text(reply, sizeof(reply), ts);
	if (ob_mark_sent(s->st, m->id, rgt_now(), reply, s->err, s->errsz)
	    != 0)
		s->dbfail = 1;
	free(m->status);
	m->status = xstrdup("sent");
	s->res->sent++;
}

/* event_all - event() plus the MESSAGESENT mark */
static void
event_all(smtp_session_t session, int ev, void *arg, ...)
{
	va_list ap;

	va_start(ap, arg);
	if (ev == SMTP_EV_MESSAGESENT) {
		smtp_message_t msg = va_arg(ap, smtp_message_t);

		on_sent(arg, msg);
	} else if (ev == SMTP_EV_INVALID_PEER_CERTIFICATE) {
		long r = va_arg(ap, long);
		int *ok = va_arg(ap, int *);

		event(session, ev, arg, r, ok);
	} else if (ev == SMTP_EV_WEAK_CIPHER) {
		int bits = va_arg(ap, int);
		int *ok = va_arg(ap, int *);

		event(session, ev, arg, bits, ok);
	} else if (ev == SMTP_EV_NO_PEER_CERTIFICATE
	    || ev == SMTP_EV_WRONG_PEER_CERTIFICATE) {
		int *ok = va_arg(ap, int *);

		event(session, ev, arg, ok);
	} else {
		event(session, ev, arg);
	}
	va_end(ap);
}

/* server_arg - HOST:PORT for libesmtp (its default port is 587) */
static void
server_arg(const char *srv, char *buf, size_t sz)
{
	const char *colon = strrchr(srv, ':');

	if (colon != NULL && strchr(colon, ']') == NULL && colon[1])
		snprintf(buf, sz, "%s", srv);
	else
		snprintf(buf, sz, "%s:25", srv);
}

/* one_session - one connection for mails s->mails[0..n) */
static int
one_session(sess *s)
{
	smtp_session_t ss;
	smtp_message_t *msgs;
	auth_context_t actx = NULL;
	SSL_CTX *ctx = NULL;
	static int inited;	/* auth_client_init() called */
	struct sigaction sa, old, oldpipe;
	char server[600], helo[256], reason[1024];
	long ms = s->cfg->mail_timeout * 1000L;
	long long t0;
	int i, ok;

	*reason = '\0';
	msgs = xcalloc((size_t)s->n, sizeof(*msgs));
	if ((ss = smtp_create_session()) == NULL) {
		char eb[256] = "";

		/* no memory, or no libesmtp (esmtp_dl.c warned) */
		smtp_strerror(smtp_errno(), eb, sizeof(eb));
		snprintf(reason, sizeof(reason), "cannot create an SMTP "
		    "session: %s", eb);
		goto settle;
	}
	server_arg(s->cfg->smtp_server, server, sizeof(server));
	smtp_set_server(ss, server);
	if (s->cfg->helo && *s->cfg->helo)
		snprintf(helo, sizeof(helo), "%s", s->cfg->helo);
	else
		rep_hostname(helo, sizeof(helo));
	smtp_set_hostname(ss, helo);
	smtp_set_timeout(ss, Timeout_GREETING | Timeout_OVERRIDE_RFC2822_MINIMUM,
	    ms);
	smtp_set_timeout(ss, Timeout_ENVELOPE | Timeout_OVERRIDE_RFC2822_MINIMUM,
	    ms);
	smtp_set_timeout(ss, Timeout_DATA | Timeout_OVERRIDE_RFC2822_MINIMUM,
	    ms);
	smtp_set_timeout(ss, Timeout_TRANSFER | Timeout_OVERRIDE_RFC2822_MINIMUM,
	    ms);
	smtp_set_timeout(ss, Timeout_DATA2 | Timeout_OVERRIDE_RFC2822_MINIMUM,
	    ms);
	smtp_set_eventcb(ss, event_all, s);
	smtp_set_monitorcb(ss, monitor, s, 0);
	if (strcmp(s->cfg->starttls, "no") != 0) {
		ctx = SSL_CTX_new(TLS_client_method());
		if (ctx == NULL || (*s->cfg->tls_ca_file
		    ? SSL_CTX_load_verify_locations(ctx, s->cfg->tls_ca_file,
		    NULL) : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
			snprintf(reason, sizeof(reason), "TLS: cannot load the "
			    "CA certificates %s: %s", *s->cfg->tls_ca_file
			    ? s->cfg->tls_ca_file : "(system)",
			    ERR_reason_error_string(ERR_get_error()));
			goto settle;
		}
		/*
		 * TLS 1.2 at most: libesmtp 1.1.0 reads a TLS 1.3 session
		 * ticket that arrives after the handshake as a read error
		 * (about every second session dropped after STARTTLS;
		 * SSL_OP_NO_TICKET does not help)
		 */
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
		smtp_starttls_set_ctx(ss, ctx);
		smtp_starttls_enable(ss, strcmp(s->cfg->starttls, "required")
		    == 0 ? Starttls_REQUIRED : Starttls_ENABLED);
	}
	if (*s->cfg->auth_user) {
		if (s->password == NULL) {
			if ((s->password = read_password(
			    s->cfg->auth_password_file, reason, sizeof(reason)))
			    == NULL)
				goto settle;
		}
		/* not in rep_send: a run with nothing due loads no libesmtp */
		if (!inited) {
			auth_client_init();
			inited = 1;
		}
		actx = auth_create_context();
		auth_set_mechanism_flags(actx, AUTH_PLUGIN_PLAIN, 0);
		auth_set_interact_cb(actx, interact, s);
		smtp_auth_set_context(ss, actx);
	}
	for (i = 0; i < s->n; i++) {
		ob_mail *m = &s->mails[i];

		msgs[i] = smtp_add_message(ss);
		smtp_set_reverse_path(msgs[i], m->from);
		smtp_add_recipient(msgs[i], m->rcpt);
		smtp_set_messagecb(msgs[i], msg_cb, m);
		smtp_message_set_application_data_release(msgs[i], m, NULL);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: connect() gives EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	/* a server that closes mid-DATA is an EPIPE, not the end of us */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &oldpipe);
	alarmed = 0;
	alarm((unsigned)s->cfg->mail_timeout);
	t0 = rgt_now();
	ok = smtp_start_session(ss);
	t0 = rgt_now() - t0;
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	sigaction(SIGPIPE, &oldpipe, NULL);
	{
		char eb[256];
		int e = smtp_errno();

		if (e == SMTP_ERR_DROPPED_CONNECTION && t0 >= ms * 1000LL
		    - 100000)
			snprintf(eb, sizeof(eb), "no answer within %llds "
			    "(timeout)", s->cfg->mail_timeout);
		else
			smtp_strerror(e, eb, sizeof(eb));
		/* a long last reply is cut: the reason is a summary */
		if ((!ok || e != 0) && snprintf(reason, sizeof(reason),
		    "%s: %s (last reply: %s)", server, alarmed && !ok
		    ? "connect timed out" : eb, *s->last_reply
		    ? s->last_reply : "none") >= (int)sizeof(reason))
			memcpy(reason + sizeof(reason) - 4, "...", 4);
	}
	if (*s->tls_reason)
		snprintf(reason, sizeof(reason), "%s", s->tls_reason);
	else if (*reason == '\0' && s->auth_failed)
		snprintf(reason, sizeof(reason), "%s", s->auth_reply);
	else if (*reason == '\0')
		snprintf(reason, sizeof(reason), "%s: the connection ended "
		    "before the mail was sent (last reply: %s)", server,
		    *s->last_reply ? s->last_reply : "none");
settle:
	for (i = 0; i < s->n; i++) {
		if (msgs[i] != NULL) {
			smtp_status_t worst;

			memset(&worst, 0, sizeof(worst));
			smtp_enumerate_recipients(msgs[i], rcpt_cb, &worst);
			if (worst.code / 100 == 5 || worst.code / 100 == 4) {
				/* the recipient's answer decides */
				ob_mail *m = &s->mails[i];
				char reply[320];

				if (m->status && strcmp(m->status, "sent") == 0)
					continue;
				status_text(reply, sizeof(reply), &worst);
				if (worst.code / 100 == 5 && !s->auth_failed
				    && (!*s->cfg->auth_user || s->auth_ok)) {
					if (ob_mark_failed(s->st, m->id, rgt_now(),
					    reply, s->err, s->errsz) != 0)
						s->dbfail = 1;
					s->res->failed++;
					log_warnx("mail %lld to %s refused: %s",
					    m->id, m->rcpt, reply);
				} else {
					const char *why = s->auth_failed
					    ? s->auth_reply : reply;

					keep(s, m, why);
					if (!*s->res->reason)
						snprintf(s->res->reason,
						    sizeof(s->res->reason), "%s",
						    why);
				}
				continue;
			}
			settle(s, msgs[i], &s->mails[i], reason);
		} else {
			keep(s, &s->mails[i], reason);
			if (!*s->res->reason)
				rg_strlcpy(s->res->reason, reason,
				    sizeof(s->res->reason));
		}
	}
	if (ss != NULL)
		smtp_destroy_session(ss);
	if (actx != NULL)
		auth_destroy_context(actx);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	free(msgs);
	return s->dbfail ? -1 : 0;
}

/* rep_send - send the given or the due mail */
int
rep_send(rg_store *st, const rg_config *cfg, const long long *ids, int nids,
    FILE *dialogue, rep_send_result *res, char *err, size_t errsz)
{
	long long batch[BATCH];
	sess s;
	int n, i, rc = 0, done = 0;

	memset(res, 0, sizeof(*res));
	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.st = st;
	s.dialogue = dialogue;
	s.res = res;
	s.err = err;
	s.errsz = errsz;
	for (;;) {
		if (ids != NULL) {
			n = nids - done < BATCH ? nids - done : BATCH;
			memcpy(batch, ids + done, (size_t)n * sizeof(long long));
			done += n;
		} else if (ob_due(st, rgt_now(), batch, BATCH, &n, err, errsz)
		    != 0) {
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		s.mails = xcalloc((size_t)n, sizeof(ob_mail));
		for (i = s.n = 0; i < n; i++) {
			int g = ob_get(st, batch[i], &s.mails[s.n], err, errsz);

			if (g < 0) {
				rc = -1;
				break;
			}
			if (g == 0 && strcmp(s.mails[s.n].status, "queued") == 0)
				s.n++;
			else if (g == 0)
				ob_clear(&s.mails[s.n]);
		}
		s.in_auth = s.auth_ok = s.auth_failed = 0;
		*s.tls_reason = *s.auth_reply = *s.last_reply = '\0';
		if (rc == 0 && s.n > 0 && one_session(&s) != 0)
			rc = -1;
		ob_free(s.mails, (size_t)s.n);
		s.mails = NULL;
		/* a connection that failed: no point in the next batch now */
		if (rc != 0 || *res->reason || (ids != NULL && done >= nids))
			break;
	}
	if (s.password != NULL) {
		explicit_bzero(s.password, strlen(s.password));
		free(s.password);
	}
	return rc;
}
