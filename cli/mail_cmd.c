/*
 * mail_cmd.c - `relayguard mail queue|send|retry|drop|test`: the outbox's
 * front end (the engine is reports/ and store/outbox.c), and the mail
 * hooks the analyzer commands use.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/rgtime.h"
#include "../common/strbuf.h"
#include "../reports/compose.h"
#include "../reports/mailq.h"
#include "../reports/smtp.h"
#include "../store/outbox.h"
#include "cli.h"

static rep_queue_ctx queue_ctx;

/* cli_mail_hook - queue the mail of the decisions in each commit of st */
void
cli_mail_hook(const rg_config *cfg, const rul_policy *pol, rg_store *st)
{
	queue_ctx.cfg = cfg;
	queue_ctx.pol = pol;
	store_set_hook(st, rep_queue, &queue_ctx);
}

/*
 * cli_mail_notices - queue the quarantine notices of what a command just
 * did (quarantine delete, retention) in one transaction of their own
 */
int
cli_mail_notices(const rg_config *cfg, const rul_policy *pol, rg_store *st)
{
	queue_ctx.cfg = cfg;
	queue_ctx.pol = pol;
	store_set_hook(st, rep_queue_notices, &queue_ctx);
	if (store_begin(st) != 0 || store_commit(st) != 0) {
		log_warnx("quarantine notices: %s", store_error(st));
		store_rollback(st);
		store_set_hook(st, NULL, NULL);
		return -1;
	}
	store_set_hook(st, NULL, NULL);
	return 0;
}

/* cli_mail_after - send what is due after an analyzer run (if wanted) */
void
cli_mail_after(const rg_config *cfg, rg_store *st)
{
	rep_send_result res;
	long long id;
	int n = 0;
	char err[1024];

	if (!cfg->send_after_analyze
	    || ob_due(st, rgt_now(), &id, 1, &n, err, sizeof(err))
	    != 0 || n == 0)
		return;
	if (rep_send(st, cfg, NULL, 0, NULL, &res, err,
	    sizeof(err)) != 0)
		log_warnx("mail send: %s", err);
	else if (*res.reason)
		log_warnx("mail send: %d sent, %d kept: %s", res.sent,
		    res.deferred, res.reason);
}

/* mail_usage - the command's help */
static void
mail_usage(FILE *out)
{
	fprintf(out, "usage: relayguard [-c CONFIG] mail queue [--all] [--json]\n"
	    "       relayguard [-c CONFIG] mail send\n"
	    "       relayguard [-c CONFIG] mail retry ID|--all\n"
	    "       relayguard [-c CONFIG] mail drop ID\n"
	    "       relayguard [-c CONFIG] mail test ADDRESS\n\n"
	    "The outbox of relayguard's own mail (lock alerts, abuse reports).\n"
	    "queue lists what is not sent yet (--all: sent mail too); send\n"
	    "delivers what is due to [mail] smtp_server; retry queues again at\n"
	    "once; drop deletes; test sends one mail to ADDRESS and prints\n"
	    "the SMTP dialogue (credentials not shown).\n");
}

/* fmt - a time for the table, "-" for none */
static const char *
fmt(long long t, char buf[64])
{
	if (t <= 0)
		return "-";
	rgt_format(buf, t);
	return buf;
}

/* mail_queue - list the outbox */
static int
mail_queue(rg_store *st, int all, int json)
{
	ob_mail *v;
	size_t n, i;
	char err[512], a[64];

	if (ob_list(st, all, &v, &n, err, sizeof(err)) != 0) {
		log_fatalx("mail queue: %s", err);
		return EX_UNAVAILABLE_;
	}
	if (!json)
		printf("%-6s %-7s %-8s %-20s %s\n", "ID", "STATUS", "ATTEMPTS",
		    "NEXT TRY", "TO / SUBJECT / LAST REPLY");
	for (i = 0; i < n; i++) {
		ob_mail *m = &v[i];

		if (json) {
			strbuf sb;
			int first = 1;

			sb_init(&sb);
			sb_addc(&sb, '{');
			sb_json_kv_int(&sb, &first, "id", m->id);
			sb_json_kv_str(&sb, &first, "kind", m->kind,
			    strlen(m->kind));
			sb_json_kv_str(&sb, &first, "status", m->status,
			    strlen(m->status));
			sb_json_kv_str(&sb, &first, "to", m->rcpt,
			    strlen(m->rcpt));
			sb_json_kv_str(&sb, &first, "subject", m->subject,
			    strlen(m->subject));
			sb_json_kv_str(&sb, &first, "message_id", m->message_id,
			    strlen(m->message_id));
			sb_json_kv_int(&sb, &first, "attempts", m->attempts);
			sb_json_kv_str(&sb, &first, "created", fmt(m->created, a),
			    strlen(fmt(m->created, a)));
			sb_json_kv_str(&sb, &first, "next_try",
			    fmt(m->next_try, a), strlen(fmt(m->next_try, a)));
			if (m->last_reply)
				sb_json_kv_str(&sb, &first, "last_reply",
				    m->last_reply, strlen(m->last_reply));
			sb_addc(&sb, '}');
			printf("%s\n", sb.s);
			sb_free(&sb);
		} else {
			printf("%-6lld %-7s %-8d %-20s %s\n", m->id, m->status,
			    m->attempts, strcmp(m->status, "queued") == 0
			    ? fmt(m->next_try, a) : "-", m->rcpt);
			printf("%37s%s\n", "", m->subject);
			if (m->last_reply)
				printf("%37s%s\n", "", m->last_reply);
		}
	}
	ob_free(v, n);
	return EX_OK_;
}

/* mail_send - deliver what is due */
static int
mail_send(const rg_config *cfg, rg_store *st, const long long *ids, int n,
    FILE *dialogue)
{
	rep_send_result res;
	char err[1024];

	if (rep_send(st, cfg, ids, n, dialogue, &res, err,
	    sizeof(err)) != 0) {
		log_fatalx("mail send: %s", err);
		return EX_UNAVAILABLE_;
	}
	if (*res.reason)
		fprintf(stderr, "relayguard: mail send: %s\n", res.reason);
	if (res.sent + res.deferred + res.failed > 0)
		printf("mail send: %d sent, %d kept for later, %d failed\n",
		    res.sent, res.deferred, res.failed);
	return res.deferred > 0 ? EX_TEMPFAIL_ : res.failed > 0
	    ? EX_UNAVAILABLE_ : EX_OK_;
}

/* mail_test - queue one mail to ADDRESS and send it, showing the dialogue */
static int
mail_test(const rg_config *cfg, rg_store *st, const char *to)
{
	ob_mail m;
	strbuf text;
	long long id;
	char err[1024], host[256], srv[600];
	int rc;

	if (!rep_addr_safe(to)) {
		log_fatalx("mail test: '%s' is not an address relayguard can "
		    "send to (ASCII, no spaces or specials)", to);
		return EX_USAGE_;
	}
	rep_hostname(host, sizeof(host));
	snprintf(srv, sizeof(srv), "%s", cfg->smtp_server);
	sb_init(&text);
	sb_printf(&text, "This is a test mail from relayguard " RG_VERSION
	    " on %s,\nsent through %s (starttls = %s, tls_verify = %s, "
	    "auth_user = %s).\n\nIf it arrived, lock alerts and abuse "
	    "reports will arrive too.\n", host, srv, cfg->starttls,
	    cfg->tls_verify ? "yes" : "no", *cfg->auth_user ? cfg->auth_user
	    : "(none)");
	rep_text_mail(cfg, "test", to, "[relayguard] test mail", text.s,
	    rgt_now(), &m);
	sb_free(&text);
	if (ob_enqueue(st, &m, &id, err, sizeof(err)) != 0) {
		ob_clear(&m);
		log_fatalx("mail test: %s", err);
		return EX_UNAVAILABLE_;
	}
	ob_clear(&m);
	printf("-- connecting to %s\n", srv);
	rc = mail_send(cfg, st, &id, 1, stdout);
	printf("-- %s\n", rc == EX_OK_ ? "sent" : "not sent (kept in the "
	    "outbox: relayguard mail queue)");
	return rc;
}

/* parse_id - a mail's id */
static int
parse_id(const char *s, long long *id)
{
	char *end;

	*id = strtoll(s, &end, 10);
	return end != s && *end == '\0' && *id > 0 ? 0 : -1;
}

/* cmd_mail - relayguard mail SUBCOMMAND */
int
cmd_mail(const cli_ctx *cx, int argc, char **argv)
{
	rg_config *cfg;
	rul_policy *pol = NULL;
	rg_store *st;
	const char *sub;
	char err[1024];
	int rc, i, json = 0, all = 0, changed;
	long long id = -1;

	if (argc < 2 || strcmp(argv[1], "--help") == 0
	    || strcmp(argv[1], "-h") == 0) {
		mail_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE_ : EX_OK_;
	}
	sub = argv[1];
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && strcmp(sub, "queue") == 0)
			json = 1;
		else if (strcmp(argv[i], "--all") == 0 && (strcmp(sub, "queue")
		    == 0 || strcmp(sub, "retry") == 0))
			all = 1;
		else if (i == 2 && (strcmp(sub, "retry") == 0
		    || strcmp(sub, "drop") == 0) && parse_id(argv[i], &id) == 0)
			;
		else if (i == 2 && strcmp(sub, "test") == 0)
			;
		else {
			mail_usage(stderr);
			return EX_USAGE_;
		}
	}
	if ((strcmp(sub, "retry") == 0 && id < 0 && !all)
	    || (strcmp(sub, "drop") == 0 && id < 0)
	    || (strcmp(sub, "test") == 0 && argc != 3)
	    || (strcmp(sub, "queue") != 0 && strcmp(sub, "send") != 0
	    && strcmp(sub, "retry") != 0 && strcmp(sub, "drop") != 0
	    && strcmp(sub, "test") != 0)) {
		mail_usage(stderr);
		return EX_USAGE_;
	}
	if ((cfg = cli_load_config(cx, &rc)) == NULL)
		return rc;
	if ((st = store_open(cfg->database, 0, err, sizeof(err))) == NULL) {
		log_fatalx("%s", err);
		cfg_free(cfg);
		return EX_UNAVAILABLE_;
	}
	if (strcmp(sub, "queue") == 0)
		rc = mail_queue(st, all, json);
	else if (strcmp(sub, "send") == 0)
		rc = mail_send(cfg, st, NULL, 0, NULL);
	else if (strcmp(sub, "test") == 0)
		rc = mail_test(cfg, st, argv[2]);
	else if (strcmp(sub, "retry") == 0) {
		if (ob_retry(st, all ? -1 : id, rgt_now(), &changed,
		    err, sizeof(err)) != 0) {
			log_warnx("mail retry: %s", err);
			rc = EX_UNAVAILABLE_;
		} else {
			printf("%d mail%s queued again\n", changed,
			    changed == 1 ? "" : "s");
			rc = changed > 0 || all ? EX_OK_ : EX_DATAERR_;
		}
	} else {
		if (ob_drop(st, id, &changed, err, sizeof(err)) != 0) {
			log_warnx("mail drop: %s", err);
			rc = EX_UNAVAILABLE_;
		} else if (changed == 0) {
			log_warnx("mail drop: no mail %lld", id);
			rc = EX_DATAERR_;
		} else {
			printf("mail %lld dropped\n", id);
			rc = EX_OK_;
		}
	}
	(void)pol;
	store_close(st);
	cfg_free(cfg);
	return rc;
}
